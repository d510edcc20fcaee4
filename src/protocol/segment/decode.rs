//! Inbound Segment requests → messages → canonical events.
//!
//! Every dialect the official SDKs send is accepted
//! (<https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/>):
//!
//! - `/v1/batch` (segment-analytics-python, @segment/analytics-node) and `/v1/b`
//!   (analytics.js with `deliveryStrategy: batching`): `{"batch": [...], "sentAt", "writeKey",
//!   "context"?, "integrations"?}`. A batch-level `context` and `integrations` are merged
//!   into every message first, key by key, the message's own keys winning.
//! - `/v1/<type>` (the HTTP API) and `/v1/<first letter of type>` (analytics.js standard
//!   delivery): one message; the path names its type, which wins over a `type` in the body.
//! - The body is JSON whatever the `Content-Type` says (analytics.js labels it
//!   `text/plain`), possibly gzip (`Content-Encoding: gzip`, python's `gzip=True`, or
//!   recognised by its magic bytes), inflated with a ceiling.
//! - The write key: `Authorization: Basic base64(writeKey:)`, a `writeKey` in the body (the
//!   batch's, or analytics.js's inside every message), or both (every SDK sends both; they
//!   must agree). A `Bearer` token (server SDKs' OAuth) is Segment's business and ignored:
//!   the body's `writeKey` names the source then. A message's own `writeKey` is taken out of
//!   it into [`InboundRecord::key`].
//! - JSON nulls (python keeps `"anonymousId": null`) are absent values.
//!
//! Clock skew (<https://segment.com/docs/connections/spec/common/#timestamps>): Segment
//! computes `timestamp = receivedAt - (sentAt - originalTimestamp)`. vendorwall corrects once,
//! at receipt, with its own clock: `time = timestamp + (received_at - sentAt)` when the
//! message has both a `timestamp` and a `sentAt` (its own, as analytics.js sends it one by
//! one, else the batch's). The message's `sentAt` is consumed here; delivery sends a fresh
//! batch `sentAt` taken from the same clock as the corrected time, so Segment's own
//! correction then only adds the network delay. An `originalTimestamp` the client sent is
//! kept verbatim in the envelope and never invented.
//!
//! Request-level problems (bad compression, a bomb, not JSON, no `batch` array, keys that
//! disagree, too many messages) fail the request; a bad message fails alone.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::event::{Caps, Context, Envelope, Event, EventTime, GroupRef, Kind, RecordError, Reject, SubjectIds};
use crate::incident::time::days_from_civil;
use crate::protocol::wire::{decompress, json_value};
use crate::protocol::{BasicAuth, InboundRecord, Refused, RequestError, RequestLimits};
use crate::vendor::Vendor;

/// Segment's six message types
/// (<https://segment.com/docs/connections/spec/>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
}

impl MessageType {
    pub const ALL: [MessageType; 6] = [
        MessageType::Identify,
        MessageType::Track,
        MessageType::Page,
        MessageType::Screen,
        MessageType::Group,
        MessageType::Alias,
    ];

    /// The `type` field's value (and the HTTP API's path segment).
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Identify => "identify",
            MessageType::Track => "track",
            MessageType::Page => "page",
            MessageType::Screen => "screen",
            MessageType::Group => "group",
            MessageType::Alias => "alias",
        }
    }

    pub fn parse(name: &str) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The canonical kind of a message of this type.
    pub fn kind(self) -> Kind {
        match self {
            MessageType::Identify => Kind::Profile,
            MessageType::Group => Kind::Group,
            MessageType::Track | MessageType::Page | MessageType::Screen | MessageType::Alias => Kind::Track,
        }
    }
}

/// The canonical event names of the message types that are events of their own.
pub const PAGEVIEW: &str = "$pageview";
pub const SCREEN: &str = "$screen";
pub const CREATE_ALIAS: &str = "$create_alias";

/// The group key of a `group` message: Segment groups have no type, so every group is a
/// `"group"` unless its traits name one in [`GROUP_TYPE_TRAIT`].
pub const DEFAULT_GROUP_KEY: &str = "group";
/// The trait that names a group's type (a convention of vendorwall's: Segment has none).
pub const GROUP_TYPE_TRAIT: &str = "group_type";

/// The earliest `timestamp` taken: [`EventTime`] reads a smaller number as seconds (as
/// Mixpanel does), so an earlier time in milliseconds would be misread by every encoder.
pub const EARLIEST_MS: i64 = 100_000_000_000;

/// Where a message came from and when, for the fields that depend on the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Receipt {
    /// When vendorwall received the request; `None` for a sample line (no clock correction).
    pub received_at_ms: Option<i64>,
    /// The batch's `sentAt`, for messages without their own.
    pub batch_sent_at_ms: Option<i64>,
    /// The connecting client, for sources Segment would geolocate from the connection
    /// (analytics.js routes, or a message with `context.direct: true`).
    pub client_ip: Option<IpAddr>,
    /// Whether the route is a client-side one (analytics.js): its connection is the user's.
    pub client_side: bool,
}

/// How a request to one route is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// The message type a single-message route implies; `None` for a batch.
    pub single: Option<MessageType>,
    /// analytics.js's routes (`/v1/t` …, `/v1/b`): the connecting address is the user's.
    pub client_side: bool,
}

/// A decoded request: the request's write key and one result per message.
#[derive(Debug)]
pub struct Decoded {
    pub key: Option<String>,
    pub records: Vec<Result<InboundRecord, Refused>>,
}

/// The parts of a request the decoder reads.
#[derive(Debug, Clone, Copy)]
pub struct RawRequest<'a> {
    pub content_encoding: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
    pub client_ip: Option<IpAddr>,
    pub received_at_ms: i64,
}

/// Decodes one request in `dialect` into its write key and messages.
pub fn decode_request(
    dialect: Dialect,
    req: RawRequest<'_>,
    limits: RequestLimits,
    caps: &Caps,
) -> Result<Decoded, RequestError> {
    let body = decompress(req.body, req.content_encoding, limits.max_decompressed_bytes)?;
    let body = body.trim_ascii();
    if body.is_empty() {
        return Err(RequestError::MissingData);
    }
    let value = json_value(body, &limits)?;
    let Value::Object(mut top) = value else {
        return Err(RequestError::WrongType);
    };
    let basic = req
        .authorization
        .and_then(BasicAuth::parse)
        .map(|b| b.user)
        .filter(|u| !u.is_empty());
    let body_key = match top.get("writeKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(RequestError::WrongType),
    };
    if let (Some(a), Some(b)) = (&basic, &body_key)
        && a != b
    {
        return Err(RequestError::InconsistentKeys);
    }
    let key = basic.or(body_key);
    let mut receipt = Receipt {
        received_at_ms: Some(req.received_at_ms),
        batch_sent_at_ms: None,
        client_ip: req.client_ip,
        client_side: dialect.client_side,
    };
    let records = match dialect.single {
        Some(ty) => vec![decode_message(Value::Object(top), Some(ty), &receipt, caps)],
        None => {
            let items = match top.shift_remove("batch") {
                Some(Value::Array(items)) => items,
                None | Some(Value::Null) => return Err(RequestError::MissingData),
                Some(_) => return Err(RequestError::WrongType),
            };
            if items.len() > limits.max_records {
                return Err(RequestError::TooManyRecords);
            }
            receipt.batch_sent_at_ms = top.get("sentAt").and_then(Value::as_str).and_then(parse_time);
            let shared: Vec<(&str, &Map<String, Value>)> = ["context", "integrations"]
                .into_iter()
                .filter_map(|k| Some((k, top.get(k)?.as_object()?)))
                .filter(|(_, m)| !m.is_empty())
                .collect();
            items
                .into_iter()
                .map(|mut item| {
                    if let Value::Object(msg) = &mut item {
                        for (field, batch_level) in &shared {
                            merge_batch_level(msg, field, batch_level);
                        }
                    }
                    decode_message(item, None, &receipt, caps)
                })
                .collect()
        }
    };
    Ok(Decoded { key, records })
}

/// Merges a batch-level `context` or `integrations` into one message: keys the message
/// lacks are added, its own keys win (one level deep, as the HTTP API documents the merge).
fn merge_batch_level(msg: &mut Map<String, Value>, field: &str, batch_level: &Map<String, Value>) {
    match msg.get_mut(field) {
        Some(Value::Object(own)) => {
            for (k, v) in batch_level {
                if !own.contains_key(k) {
                    own.insert(k.clone(), v.clone());
                }
            }
        }
        None | Some(Value::Null) => {
            msg.insert(field.to_owned(), Value::Object(batch_level.clone()));
        }
        // A message whose field is not an object is refused for it later.
        Some(_) => {}
    }
}

fn refuse(reason: Reject, field: &'static str, message: &'static str) -> RecordError {
    RecordError::new(reason, field, message)
}

/// An id: a non-empty string, or a number (read as its decimal text). `null` and `""` are
/// absent.
fn id_field(v: Option<Value>, field: &'static str) -> Result<Option<String>, RecordError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(refuse(Reject::WrongType, field, "must be a string or a number")),
    }
}

fn object_field(v: Option<Value>, field: &'static str) -> Result<Map<String, Value>, RecordError> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(refuse(Reject::WrongType, field, "must be an object")),
    }
}

/// Decodes one message. `path_type` is the type a single-message route implies (it wins
/// over the body's); a batch item names its own.
pub fn decode_message(
    message: Value,
    path_type: Option<MessageType>,
    receipt: &Receipt,
    caps: &Caps,
) -> Result<InboundRecord, Refused> {
    let hint = message.get("messageId").and_then(Value::as_str).map(str::to_owned);
    let Value::Object(obj) = message else {
        return Err(Refused {
            error: refuse(Reject::WrongType, "message", "message must be a JSON object"),
            insert_id: None,
        });
    };
    decode_object(obj, path_type, receipt, caps).map_err(|error| Refused { error, insert_id: hint })
}

fn decode_object(
    mut obj: Map<String, Value>,
    path_type: Option<MessageType>,
    receipt: &Receipt,
    caps: &Caps,
) -> Result<InboundRecord, RecordError> {
    let ty = match (path_type, obj.shift_remove("type")) {
        (Some(t), _) => t,
        (None, Some(Value::String(s))) => MessageType::parse(&s).ok_or_else(|| {
            refuse(
                Reject::WrongType,
                "type",
                "must be track, identify, page, screen, group or alias",
            )
        })?,
        (None, None | Some(Value::Null)) => return Err(refuse(Reject::MissingField, "type", "type is required")),
        (None, Some(_)) => return Err(refuse(Reject::WrongType, "type", "must be a string")),
    };
    let key = match obj.shift_remove("writeKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(refuse(Reject::WrongType, "writeKey", "must be a string")),
    };
    let insert_id = match obj.shift_remove("messageId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s.len() > caps.max_string_bytes => {
            return Err(refuse(Reject::StringTooLong, "messageId", "messageId is too long"));
        }
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(refuse(Reject::BadInsertId, "messageId", "must be a string")),
    };
    // A `sentAt` that cannot be read only disables the correction: it is metadata.
    let sent_at = obj
        .shift_remove("sentAt")
        .as_ref()
        .and_then(Value::as_str)
        .and_then(parse_time)
        .or(receipt.batch_sent_at_ms);
    let timestamp = match obj.shift_remove("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_time(&s).filter(|t| *t >= EARLIEST_MS).ok_or_else(|| {
            refuse(
                Reject::BadTime,
                "timestamp",
                "must be an ISO 8601 time after 1973-03-03",
            )
        })?),
        Some(_) => {
            return Err(refuse(Reject::BadTime, "timestamp", "must be an ISO 8601 string"));
        }
    };
    let time = timestamp.map(|t| {
        let corrected = match (receipt.received_at_ms, sent_at) {
            (Some(received), Some(sent)) => t.saturating_add(received.saturating_sub(sent)),
            _ => t,
        };
        EventTime::from_millis(if corrected >= EARLIEST_MS { corrected } else { t })
    });
    let user_id = id_field(obj.shift_remove("userId"), "userId")?;
    let anonymous_id = id_field(obj.shift_remove("anonymousId"), "anonymousId")?;

    // The context stays in the envelope, but for its IP (and `direct`, see below).
    let mut context = match obj.shift_remove("context") {
        None => None,
        Some(Value::Null) => Some(Map::new()),
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err(refuse(Reject::WrongType, "context", "must be an object")),
    };
    let ip = context
        .as_mut()
        .and_then(|c| c.shift_remove("ip"))
        .filter(|ip| !ip.is_null());
    // `context.direct: true` asks Segment to take the IP from the connection
    // (<https://segment.com/docs/connections/spec/common/#context-fields-automatically-collected>):
    // the connection is vendorwall's, so it is read here and never forwarded.
    let direct = context
        .as_mut()
        .and_then(|c| c.shift_remove("direct"))
        .is_some_and(|d| d == Value::Bool(true));
    let client_ip = if ip.is_none() && (receipt.client_side || direct) {
        receipt.client_ip
    } else {
        None
    };

    let kind = ty.kind();
    let mut event = Event::new(kind);
    event.time = time;
    event.insert_id = insert_id;
    event.context = Context { ip, client_ip };
    event.ids = SubjectIds {
        distinct_id: user_id.clone().or_else(|| anonymous_id.clone()),
        device_id: anonymous_id,
        user_id,
        group: None,
    };
    match ty {
        MessageType::Track => {
            event.name = Some(match obj.shift_remove("event") {
                Some(Value::String(s)) if !s.is_empty() => s,
                None | Some(Value::Null) | Some(Value::String(_)) => {
                    return Err(refuse(Reject::MissingField, "event", "event name is required"));
                }
                Some(_) => return Err(refuse(Reject::WrongType, "event", "must be a string")),
            });
            event.properties = object_field(obj.shift_remove("properties"), "properties")?;
        }
        MessageType::Page | MessageType::Screen => {
            event.name = Some(if ty == MessageType::Page { PAGEVIEW } else { SCREEN }.to_owned());
            event.properties = object_field(obj.shift_remove("properties"), "properties")?;
        }
        MessageType::Alias => {
            let previous = id_field(obj.shift_remove("previousId"), "previousId")?
                .ok_or_else(|| refuse(Reject::MissingField, "previousId", "alias needs previousId"))?;
            let new_id = event
                .ids
                .user_id
                .take()
                .ok_or_else(|| refuse(Reject::MissingField, "userId", "alias needs userId"))?;
            event.name = Some(CREATE_ALIAS.to_owned());
            event.ids.distinct_id = Some(previous);
            event.properties.insert("alias".into(), Value::String(new_id));
        }
        MessageType::Identify | MessageType::Group => {
            let traits = object_field(obj.shift_remove("traits"), "traits")?;
            caps.check("traits", &traits)?;
            if ty == MessageType::Group {
                let id = match obj.shift_remove("groupId") {
                    Some(Value::String(s)) if !s.is_empty() => Value::String(s),
                    Some(n @ Value::Number(_)) => n,
                    None | Some(Value::Null) | Some(Value::String(_)) => {
                        return Err(refuse(Reject::MissingField, "groupId", "groupId is required"));
                    }
                    Some(_) => return Err(refuse(Reject::WrongType, "groupId", "must be a string or a number")),
                };
                let key = traits
                    .get(GROUP_TYPE_TRAIT)
                    .and_then(Value::as_str)
                    .filter(|k| !k.is_empty())
                    .unwrap_or(DEFAULT_GROUP_KEY)
                    .to_owned();
                event.ids.group = Some(GroupRef { key, id });
            }
            event.operations.push(("$set".into(), Value::Object(traits)));
        }
    }
    if event.ids.distinct_id.is_none() {
        return Err(refuse(
            Reject::MissingField,
            "userId",
            "userId or anonymousId is required",
        ));
    }
    caps.check("properties", &event.properties)?;

    // Everything else is the envelope: `type` (so an event named `$pageview` stays a
    // `track`), `context`, `integrations`, `_metadata`, `originalTimestamp`, a page's or
    // screen's `name` and `category`, and any field Segment may add.
    let mut fields = Map::with_capacity(obj.len() + 2);
    fields.insert("type".into(), Value::String(ty.name().to_owned()));
    if let Some(c) = context {
        fields.insert("context".into(), Value::Object(c));
    }
    fields.extend(obj);
    caps.check("message", &fields)?;
    event.envelope = Some(Envelope {
        vendor: Vendor::Segment,
        fields,
    });
    Ok(InboundRecord { event, key })
}

/// Milliseconds since the epoch of an ISO 8601 / RFC 3339 time: `YYYY-MM-DD`, optionally
/// `T` (or a space) and `HH:MM[:SS[.fraction]]`, then `Z`, `±HH:MM`, `±HHMM`, `±HH` or
/// nothing (UTC). Fractions past milliseconds are truncated. `None` for anything else, or a
/// time before 1970.
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&month) {
        return None;
    }
    // Four-digit years, two-digit months and days: in range for `jiff`'s calendar.
    if jiff::civil::Date::new(year as i16, month as i8, day as i8).is_err() {
        return None;
    }
    let mut ms = days_from_civil(year, month as u32, day as u32) * 86_400_000;
    let mut i = 10;
    if matches!(b.get(i), Some(b'T' | b't' | b' ')) && b.len() > i + 1 {
        let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
        if b.get(i + 3) != Some(&b':') || h > 23 || m > 59 {
            return None;
        }
        ms += (h * 3600 + m * 60) * 1000;
        i += 6;
        if b.get(i) == Some(&b':') {
            let sec = num(i + 1..i + 3)?;
            if sec > 60 {
                return None;
            }
            ms += sec * 1000;
            i += 3;
            if matches!(b.get(i), Some(b'.' | b',')) {
                let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return None;
                }
                let frac = &b[i + 1..i + 1 + digits.min(3)];
                let mut f = frac.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
                for _ in frac.len()..3 {
                    f *= 10;
                }
                ms += f;
                i += 1 + digits;
            }
        }
    }
    let offset_ms = match &b[i.min(b.len())..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2] => (num_pair(*h1, *h2)?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (num_pair(*h1, *h2)?, num_pair(*m1, *m2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let off = (h * 60 + m) * 60_000;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let ms = ms - offset_ms;
    (ms >= 0).then_some(ms)
}

fn num_pair(a: u8, b: u8) -> Option<i64> {
    (a.is_ascii_digit() && b.is_ascii_digit()).then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
}
