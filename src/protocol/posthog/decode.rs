//! Inbound PostHog requests → payload → records → canonical events.
//!
//! Every dialect the official SDKs send (PostHog's capture API,
//! <https://posthog.com/docs/api/capture>) is read:
//!
//! - a JSON body: `{"api_key", "batch": [...], "sent_at", "historical_migration"}`
//!   (posthog-python, posthog-node, posthog-js), a bare JSON array (older posthog-js), or a
//!   single event object (`/capture`, `/e` with `api_key` inside the event);
//! - gzip recognised by its magic bytes `1f 8b` whatever the headers say (posthog-js sends
//!   gzip as `text/plain` with no `Content-Encoding`), `Content-Encoding: gzip | deflate`,
//!   and `?compression=gzip | gzip-js | base64 | lz64` (lz64 is LZ-String's
//!   `compressToBase64`, decoded by [`lz_string_base64`]);
//! - a form body `data=<JSON, base64 or lz64>` (the beacon fallback), and `data` in the query
//!   of a GET;
//! - the key as `api_key`, `token` or `$token` of the body, or in each event (`api_key`,
//!   `token`, `$token` at its top, `properties.token` from posthog-js): all of them must be
//!   the same ([`RequestError::InconsistentKeys`] otherwise), and all are taken out of the
//!   event.
//!
//! Clock skew is corrected once, at receipt, as PostHog does
//! (<https://posthog.com/docs/data/timestamps>): with both an event `timestamp` and the
//! request's `sent_at` (or `?_=` in ms), and no `$ignore_sent_at`, the event time is
//! `receipt + (timestamp - sent_at)`; an `offset` (ms before sending) without a timestamp
//! gives `receipt - offset`; a time more than 23 hours ahead of receipt becomes the receipt
//! time.
//!
//! Request-level problems (bad compression, a bomb, not JSON, a body that is no PostHog
//! payload such as Amplitude's `{api_key, events}` on the shared `/batch` path) fail the
//! request. Record-level problems (no name, no `distinct_id`, wrong types, caps) fail only
//! that record.

use std::borrow::Cow;

use base64::Engine;
use serde_json::{Map, Value};

use crate::event::{Caps, Context, Envelope, Event, EventTime, GroupRef, Kind, RecordError, Reject, SubjectIds};
use crate::incident::time::days_from_civil;
use crate::protocol::wire::{decompress, form_decode, form_pairs, json_value, percent_decode};
use crate::protocol::{RequestError, RequestLimits};
use crate::vendor::Vendor;

/// PostHog moves an event more than this far in the future back to the receipt time.
pub const MAX_FUTURE_MS: i64 = 23 * 3_600_000;

/// How the body says it is compressed (`?compression=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No parameter: `Content-Encoding`, then gzip magic bytes, then plain.
    Auto,
    /// `gzip` or `gzip-js`: the body is gzip, whatever `Content-Encoding` says.
    Gzip,
    /// Base64 of the JSON (posthog-js beacons without compression).
    Base64,
    /// LZ-String `compressToBase64` (old posthog-js).
    Lz64,
}

/// The query and form parameters the decoder and the answer need.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub compression: Compression,
    /// `beacon=1`: posthog-js's `sendBeacon`; answered 204.
    pub beacon: bool,
    /// `_=<ms>`: the send time, when the body has no `sent_at`.
    pub sent_at_ms: Option<i64>,
    /// `v=` of a feature-flag request (digits only).
    pub version: Option<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            compression: Compression::Auto,
            beacon: false,
            sent_at_ms: None,
            version: None,
        }
    }
}

fn apply_param(p: &mut Params, key: &str, value: &str) {
    match key {
        "compression" => {
            p.compression = match value.to_ascii_lowercase().as_str() {
                "gzip" | "gzip-js" => Compression::Gzip,
                "base64" => Compression::Base64,
                "lz64" | "lz-string" => Compression::Lz64,
                _ => Compression::Auto,
            }
        }
        "beacon" => p.beacon = value == "1" || value.eq_ignore_ascii_case("true"),
        "_" => p.sent_at_ms = value.trim().parse::<i64>().ok().filter(|ms| *ms > 0),
        "v" if !value.is_empty() && value.len() <= 3 && value.bytes().all(|b| b.is_ascii_digit()) => {
            p.version = Some(value.to_owned());
        }
        _ => {}
    }
}

/// The parameters of a query string.
pub fn query_params(query: &str) -> Params {
    let mut p = Params::default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        apply_param(&mut p, &k, &v);
    }
    p
}

/// The parts of an HTTP request the decoder reads.
#[derive(Debug, Clone, Copy)]
pub struct RawRequest<'a> {
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub body: &'a [u8],
}

/// Reads a request's JSON payload, whatever its compression and encoding; also returns the
/// parameters (the form body's `compression` counts too).
pub fn read_payload(req: RawRequest<'_>, limits: &RequestLimits) -> Result<(Params, Value), RequestError> {
    let max = limits.max_decompressed_bytes;
    let mut params = Params::default();
    let mut query_data: Option<String> = None;
    for (k, v) in form_urlencoded::parse(req.query.as_bytes()) {
        if k == "data" {
            query_data = Some(v.into_owned());
        } else {
            apply_param(&mut params, &k, &v);
        }
    }
    let body: Cow<'_, [u8]> = if req.body.trim_ascii().is_empty() {
        match query_data {
            Some(d) => Cow::Owned(d.into_bytes()),
            None => return Err(RequestError::MissingData),
        }
    } else if params.compression == Compression::Gzip {
        decompress(req.body, Some("gzip"), max)?
    } else {
        decompress(req.body, req.content_encoding, max)?
    };
    let body = body.trim_ascii();
    let is_form = req
        .content_type
        .is_some_and(|c| c.to_ascii_lowercase().contains("x-www-form-urlencoded"))
        || body.starts_with(b"data=");
    let data: Cow<'_, [u8]> = if is_form && !body.starts_with(b"{") && !body.starts_with(b"[") {
        let mut last = None;
        for (k, v) in form_pairs(body) {
            let k = form_decode(k);
            if k == "data" {
                last = Some(v);
            } else {
                apply_param(&mut params, &k, &form_decode(v));
            }
        }
        match last {
            Some(v) => Cow::Owned(percent_decode(v).into_owned()),
            None => return Err(RequestError::MissingData),
        }
    } else {
        Cow::Borrowed(body)
    };
    let value = parse_data(data.trim_ascii(), params.compression, limits)?;
    Ok((params, value))
}

/// `data` is JSON, base64 of JSON, or LZ-String base64 of JSON.
fn parse_data(data: &[u8], compression: Compression, limits: &RequestLimits) -> Result<Value, RequestError> {
    let max = limits.max_decompressed_bytes;
    if data.is_empty() {
        return Err(RequestError::MissingData);
    }
    let looks_json = data[0] == b'{' || data[0] == b'[';
    let text: Cow<'_, [u8]> = match compression {
        Compression::Lz64 if !looks_json => {
            let text = std::str::from_utf8(data).map_err(|_| RequestError::BadCompression("lz64"))?;
            Cow::Owned(
                lz_string_base64(text, max)?
                    .ok_or(RequestError::BadCompression("lz64"))?
                    .into_bytes(),
            )
        }
        _ if looks_json => Cow::Borrowed(data),
        _ => Cow::Owned(base64_text(data).ok_or(RequestError::BadEncoding)?),
    };
    let text = text.trim_ascii();
    if !(text.starts_with(b"{") || text.starts_with(b"[")) {
        return Err(RequestError::BadEncoding);
    }
    json_value(text, limits)
}

/// Base64 (standard or URL-safe, padded or not; a `+` that became a space is put back).
fn base64_text(data: &[u8]) -> Option<Vec<u8>> {
    let cleaned: Vec<u8> = data
        .iter()
        .filter(|b| !matches!(b, b'\n' | b'\r'))
        .map(|&b| if b == b' ' { b'+' } else { b })
        .collect();
    let end = cleaned.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let cleaned = &cleaned[..end];
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(cleaned)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cleaned))
        .ok()
}

/// LZ-String's `decompressFromBase64` (<https://github.com/pieroxio/lz-string>), producing
/// at most `max` UTF-16 units (decompression bombs). `Ok(None)`: not valid LZ-String.
pub fn lz_string_base64(input: &str, max: usize) -> Result<Option<String>, RequestError> {
    const ALPHABET: &[u8; 65] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    let mut values = Vec::with_capacity(input.len());
    for b in input.bytes() {
        // A `+` that became a space in a form.
        let b = if b == b' ' { b'+' } else { b };
        match ALPHABET.iter().position(|&a| a == b) {
            Some(i) => values.push(i as u32),
            None if b.is_ascii_whitespace() => {}
            None => return Ok(None),
        }
    }
    if values.is_empty() {
        return Ok(None);
    }
    struct Bits<'a> {
        values: &'a [u32],
        val: u32,
        position: u32,
        index: usize,
    }
    impl Bits<'_> {
        const RESET: u32 = 32;
        fn read(&mut self, n: u32) -> u32 {
            let mut bits = 0;
            for i in 0..n {
                let bit = self.val & self.position;
                self.position >>= 1;
                if self.position == 0 {
                    self.position = Self::RESET;
                    self.val = self.values.get(self.index).copied().unwrap_or(0);
                    self.index += 1;
                }
                if bit > 0 {
                    bits |= 1 << i;
                }
            }
            bits
        }
    }
    let mut data = Bits {
        values: &values,
        val: values[0],
        position: Bits::RESET,
        index: 1,
    };
    let mut dictionary: Vec<Vec<u16>> = vec![Vec::new(), Vec::new(), Vec::new()];
    let mut enlarge_in: u32 = 4;
    let mut num_bits: u32 = 3;
    let mut out: Vec<u16> = Vec::new();
    let first = match data.read(2) {
        0 => data.read(8) as u16,
        1 => data.read(16) as u16,
        _ => return Ok(Some(String::new())),
    };
    dictionary.push(vec![first]);
    let mut w = vec![first];
    out.push(first);
    loop {
        if data.index > values.len() {
            return Ok(None);
        }
        let mut c = data.read(num_bits) as usize;
        match c {
            0 | 1 => {
                let unit = data.read(if c == 0 { 8 } else { 16 }) as u16;
                dictionary.push(vec![unit]);
                c = dictionary.len() - 1;
                enlarge_in = enlarge_in.saturating_sub(1);
            }
            2 => return Ok(Some(String::from_utf16_lossy(&out))),
            _ => {}
        }
        if enlarge_in == 0 {
            enlarge_in = 1 << num_bits.min(30);
            num_bits += 1;
            if num_bits > 31 {
                return Ok(None);
            }
        }
        let entry = if c < dictionary.len() {
            dictionary[c].clone()
        } else if c == dictionary.len() {
            let mut e = w.clone();
            e.push(w[0]);
            e
        } else {
            return Ok(None);
        };
        if out.len() + entry.len() > max {
            return Err(RequestError::DecompressedTooLarge);
        }
        out.extend_from_slice(&entry);
        let mut next = w;
        next.push(entry[0]);
        dictionary.push(next);
        enlarge_in = enlarge_in.saturating_sub(1);
        w = entry;
        if enlarge_in == 0 {
            enlarge_in = 1 << num_bits.min(30);
            num_bits += 1;
            if num_bits > 31 {
                return Ok(None);
            }
        }
    }
}

/// A payload split into its events and its request-level fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub events: Vec<Value>,
    /// The body's `api_key`, `token` or `$token` (a single event's own, taken out of it).
    pub key: Option<String>,
    /// `sent_at` of the body.
    pub sent_at_ms: Option<i64>,
}

/// The payload's events: a `{batch: [...]}` wrapper, a bare array, or one event. Anything
/// else (Amplitude's `{api_key, events}` on the shared `/batch` path) is no PostHog payload.
pub fn split_payload(value: Value, limits: &RequestLimits) -> Result<Payload, RequestError> {
    let payload = match value {
        Value::Array(events) => Payload {
            events,
            key: None,
            sent_at_ms: None,
        },
        Value::Object(mut obj) => {
            if let Some(batch) = obj.remove("batch") {
                let Value::Array(events) = batch else {
                    return Err(RequestError::WrongType);
                };
                Payload {
                    events,
                    key: take_key(&mut obj).map_err(|_| RequestError::WrongType)?,
                    sent_at_ms: obj.get("sent_at").and_then(Value::as_str).and_then(parse_iso_ms),
                }
            } else if obj.contains_key("event") {
                let key = take_key(&mut obj).map_err(|_| RequestError::WrongType)?;
                Payload {
                    events: vec![Value::Object(obj)],
                    key,
                    sent_at_ms: None,
                }
            } else {
                return Err(RequestError::WrongType);
            }
        }
        _ => return Err(RequestError::WrongType),
    };
    if payload.events.len() > limits.max_records {
        return Err(RequestError::TooManyRecords);
    }
    Ok(payload)
}

/// Takes `api_key`, `token` and `$token` out of an object: the one key they agree on.
/// `Err(())` for a key that is not a string, or keys that disagree.
fn take_key(obj: &mut Map<String, Value>) -> Result<Option<String>, ()> {
    let mut key: Option<String> = None;
    for field in ["api_key", "token", "$token"] {
        match obj.remove(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => match &key {
                Some(k) if *k != s => return Err(()),
                _ => key = Some(s),
            },
            Some(_) => return Err(()),
        }
    }
    Ok(key)
}

/// What the decoder knows about the request around each event.
#[derive(Debug, Clone, Copy)]
pub struct Receipt {
    /// When vendorwall received the request (ms).
    pub received_at_ms: i64,
    /// The request's send time (body `sent_at`, else `?_=`).
    pub sent_at_ms: Option<i64>,
    /// The connecting client, for posthog-js events that ask for geolocation.
    pub client_ip: Option<std::net::IpAddr>,
}

/// One decoded event and the key it carried.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub key: Option<String>,
    pub event: Event,
}

fn missing(field: &'static str, message: &'static str) -> RecordError {
    RecordError::new(Reject::MissingField, field, message)
}

fn wrong(field: &'static str, message: &'static str) -> RecordError {
    RecordError::new(Reject::WrongType, field, message)
}

/// The session-replay event posthog-js sends to `/s`: never forwarded.
pub const SNAPSHOT: &str = "$snapshot";

/// Person-update operations PostHog reads from an event (top level or properties).
pub const PERSON_OPERATIONS: [&str; 3] = ["$set", "$set_once", "$unset"];

/// A distinct id: a non-empty string, or a number (PostHog stores it as text).
fn distinct_id(v: Value, field: &'static str) -> Result<String, RecordError> {
    match v {
        Value::String(s) if s.trim().is_empty() => Err(missing(field, "distinct_id must not be empty")),
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Err(missing(field, "distinct_id is required")),
        _ => Err(wrong(field, "distinct_id must be a string")),
    }
}

/// Decodes one event of a request.
pub fn decode_event(record: Value, receipt: &Receipt, caps: &Caps) -> Result<Decoded, RecordError> {
    let Value::Object(mut obj) = record else {
        return Err(wrong("event", "each event must be a JSON object"));
    };
    let name = match obj.remove("event") {
        Some(Value::String(s)) if !s.is_empty() => s,
        None | Some(Value::Null) | Some(Value::String(_)) => return Err(missing("event", "event name is required")),
        Some(_) => return Err(wrong("event", "event name must be a string")),
    };
    let mut props = match obj.remove("properties") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(wrong("properties", "properties must be an object")),
    };
    let mut key = take_key(&mut obj).map_err(|()| wrong("api_key", "keys must be strings and agree"))?;
    match props.remove("token") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => match &key {
            Some(k) if *k != s => return Err(wrong("properties.token", "keys must agree")),
            _ => key = Some(s),
        },
        Some(_) => return Err(wrong("properties.token", "token must be a string")),
    }
    let distinct = match obj.remove("distinct_id") {
        Some(v) if !v.is_null() => distinct_id(v, "distinct_id")?,
        _ => match props.remove("distinct_id") {
            Some(v) => distinct_id(v, "properties.distinct_id")?,
            None => return Err(missing("distinct_id", "distinct_id is required")),
        },
    };
    if distinct.len() > caps.max_string_bytes || name.len() > caps.max_string_bytes {
        return Err(RecordError::new(
            Reject::StringTooLong,
            "event",
            "event name or distinct_id too long",
        ));
    }
    let insert_id = match obj.remove("uuid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(_) => {
            return Err(RecordError::new(
                Reject::BadInsertId,
                "uuid",
                "uuid must be a non-empty string",
            ));
        }
    };
    let timestamp = match obj.remove("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            parse_iso_ms(&s)
                .ok_or_else(|| RecordError::new(Reject::BadTime, "timestamp", "timestamp must be ISO 8601"))?,
        ),
        Some(Value::Number(n)) => Some(
            EventTime(n)
                .millis()
                .ok_or_else(|| RecordError::new(Reject::BadTime, "timestamp", "timestamp out of range"))?,
        ),
        Some(_) => {
            return Err(RecordError::new(
                Reject::BadTime,
                "timestamp",
                "timestamp must be ISO 8601",
            ));
        }
    };
    let offset = match obj.remove("offset") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as i64),
        Some(_) => return Err(RecordError::new(Reject::BadTime, "offset", "offset must be a number")),
    };
    let ignore_sent_at = props.get("$ignore_sent_at").and_then(Value::as_bool) == Some(true);
    let time = event_time(timestamp, offset, receipt, ignore_sent_at).map(EventTime::from_millis);

    let device_id = match props.get("$device_id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let ip = props.remove("$ip").filter(|v| !v.is_null());
    let geoip_disabled = props.get("$geoip_disable").and_then(Value::as_bool) == Some(true);
    let from_web = props.get("$lib").and_then(Value::as_str) == Some("web");
    let client_ip = if ip.is_none() && !geoip_disabled && from_web {
        receipt.client_ip
    } else {
        None
    };

    let mut kind = Kind::Track;
    let mut group = None;
    let mut operations = Vec::new();
    let has_op = |m: &Map<String, Value>| {
        PERSON_OPERATIONS
            .iter()
            .any(|op| m.get(*op).is_some_and(|v| !v.is_null()))
    };
    if matches!(name.as_str(), "$identify" | "$set" | "$set_once") && (has_op(&obj) || has_op(&props)) {
        kind = Kind::Profile;
        for source in [&mut obj, &mut props] {
            for op in PERSON_OPERATIONS {
                match source.remove(op) {
                    None | Some(Value::Null) => {}
                    Some(v @ Value::Array(_)) if op == "$unset" => {
                        caps.check_value("operation", &v, 1)?;
                        operations.push((op.to_owned(), v));
                    }
                    Some(Value::Object(m)) if op != "$unset" => {
                        caps.check("operation", &m)?;
                        operations.push((op.to_owned(), Value::Object(m)));
                    }
                    Some(_) => {
                        return Err(wrong(
                            "operation",
                            "$set and $set_once take an object; $unset takes a list of names",
                        ));
                    }
                }
            }
        }
    } else if name == "$groupidentify" {
        kind = Kind::Group;
        let key = match props.remove("$group_type") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => return Err(missing("properties.$group_type", "$group_type must be a string")),
        };
        let id = match props.remove("$group_key") {
            Some(Value::String(s)) if !s.is_empty() => Value::String(s),
            Some(v @ Value::Number(_)) => v,
            _ => {
                return Err(missing(
                    "properties.$group_key",
                    "$group_key must be a string or a number",
                ));
            }
        };
        match props.remove("$group_set") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                caps.check("operation", &m)?;
                operations.push(("$set".to_owned(), Value::Object(m)));
            }
            Some(_) => return Err(wrong("properties.$group_set", "$group_set must be an object")),
        }
        group = Some(GroupRef { key, id });
    }
    caps.check("properties", &props)?;
    let envelope = if obj.is_empty() {
        None
    } else {
        caps.check("event", &obj)?;
        Some(Envelope {
            vendor: Vendor::PostHog,
            fields: obj,
        })
    };
    Ok(Decoded {
        key,
        event: Event {
            kind,
            name: Some(name),
            ids: SubjectIds {
                distinct_id: Some(distinct),
                device_id,
                user_id: None,
                group,
            },
            time,
            insert_id,
            properties: props,
            operations,
            context: Context { ip, client_ip },
            envelope,
        },
    })
}

/// The event time at receipt (see the module documentation); `None` when the SDK sent none.
pub fn event_time(timestamp: Option<i64>, offset: Option<i64>, receipt: &Receipt, ignore_sent_at: bool) -> Option<i64> {
    let now = receipt.received_at_ms;
    let t = match (timestamp, offset) {
        (Some(ts), _) => match receipt.sent_at_ms {
            Some(sent) if !ignore_sent_at => now.saturating_add(ts.saturating_sub(sent)),
            _ => ts,
        },
        (None, Some(offset)) => now.saturating_sub(offset),
        (None, None) => return None,
    };
    Some(if t > now.saturating_add(MAX_FUTURE_MS) {
        now
    } else {
        t.max(0)
    })
}

/// The request of a feature-flag call (`/flags`, `/decide`) in the shape of an event record,
/// so the destination's policy treats its ids and person properties like an event's:
/// `distinct_id` at the top, `person_properties` as `properties.$set`, `groups` as
/// `properties.$groups`, `group_properties` as `properties.$group_properties`, every other
/// field under `properties` by its own name; the key is taken out. `route` and `version`
/// say where [`super::encode::flags_request`] sends it.
pub fn flags_record(value: Value, route: &str, version: &str) -> Result<(Option<String>, Value), RequestError> {
    let Value::Object(mut obj) = value else {
        return Err(RequestError::WrongType);
    };
    let key = take_key(&mut obj).map_err(|()| RequestError::InconsistentKeys)?;
    let distinct = obj.remove("distinct_id");
    let mut props = Map::with_capacity(obj.len());
    for (k, v) in obj {
        let name = match k.as_str() {
            "person_properties" => "$set".to_owned(),
            "groups" => "$groups".to_owned(),
            "group_properties" => "$group_properties".to_owned(),
            _ => k,
        };
        props.insert(name, v);
    }
    let mut rec = Map::with_capacity(5);
    rec.insert("event".into(), Value::String(FLAGS_EVENT.into()));
    if let Some(d) = distinct {
        rec.insert("distinct_id".into(), d);
    }
    rec.insert("properties".into(), Value::Object(props));
    rec.insert(FLAGS_ROUTE.into(), Value::String(route.into()));
    rec.insert(FLAGS_VERSION.into(), Value::String(version.into()));
    Ok((key, Value::Object(rec)))
}

/// The name of a feature-flag request record.
pub const FLAGS_EVENT: &str = "$feature_flags_request";
/// A flag record's route (`flags` or `decide`).
pub const FLAGS_ROUTE: &str = "$vendorwall_flags_route";
/// A flag record's API version (`v=`).
pub const FLAGS_VERSION: &str = "$vendorwall_flags_version";

/// An ISO 8601 / RFC 3339 time (`2026-12-07T16:12:47.713318+00:00`, `…Z`, a space for the
/// `T`, no zone meaning UTC, a date alone meaning midnight) as ms since the epoch.
pub fn parse_iso_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    let mut ms = days.checked_mul(86_400_000)?;
    if b.len() == 10 {
        return Some(ms);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    let (hour, minute) = (num(11..13)?, num(14..16)?);
    let mut i = 16;
    let mut second = 0;
    if b.get(i) == Some(&b':') {
        second = num(17..19)?;
        i = 19;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    ms += (hour * 3600 + minute * 60 + second) * 1000;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1;
        let start = i;
        let mut frac_ms = 0i64;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                frac_ms = frac_ms * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..3 {
            frac_ms *= 10;
        }
        ms += frac_ms;
    }
    match b.get(i) {
        None => Some(ms),
        Some(b'Z' | b'z') if i + 1 == b.len() => Some(ms),
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &b[i + 1..];
            let (h, m) = match rest.len() {
                2 => (num(i + 1..i + 3)?, 0),
                4 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?),
                5 if rest[2] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?),
                _ => return None,
            };
            let offset = (h * 60 + m) * 60_000;
            Some(if sign == b'+' { ms - offset } else { ms + offset })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    const LIMITS: RequestLimits = RequestLimits::new(1 << 20, 1000, 255);

    fn caps() -> Caps {
        (&crate::config::Limits::default()).into()
    }

    fn raw<'a>(query: &'a str, ct: Option<&'a str>, body: &'a [u8]) -> RawRequest<'a> {
        RawRequest {
            query,
            content_type: ct,
            content_encoding: None,
            body,
        }
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b).unwrap();
        gz.finish().unwrap()
    }

    const RECEIPT: Receipt = Receipt {
        received_at_ms: 1_800_000_000_000,
        sent_at_ms: None,
        client_ip: None,
    };

    #[test]
    fn iso_times() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2026-12-07T16:12:47.713318+00:00", Some(1_796_659_967_713)),
            ("2026-12-07T16:12:47.713Z", Some(1_796_659_967_713)),
            ("2026-12-07T17:12:47.7+01:00", Some(1_796_659_967_700)),
            ("2026-12-07T15:12:47.713-0100", Some(1_796_659_967_713)),
            ("2026-12-07 16:12:47", Some(1_796_659_967_000)),
            ("2026-12-07T16:12", Some(1_796_659_920_000)),
            ("2026-12-07", Some(1_796_601_600_000)),
            ("2026-13-07T16:12:47Z", None),
            ("2026-12-07T16:12:47.Z", None),
            ("2026-12-07T16:12:47Zjunk", None),
            ("yesterday", None),
            ("", None),
            ("2026-12-07T25:00:00Z", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_iso_ms(s), want, "{s}");
        }
    }

    #[test]
    fn clock_skew_is_corrected_at_receipt() {
        let now = 1_800_000_000_000;
        let r = |sent| Receipt {
            received_at_ms: now,
            sent_at_ms: sent,
            client_ip: None,
        };
        // the client's clock is 10 s behind: its event 2 s before sending happened 2 s ago
        assert_eq!(
            event_time(Some(now - 12_000), None, &r(Some(now - 10_000)), false),
            Some(now - 2_000)
        );
        assert_eq!(
            event_time(Some(now - 12_000), None, &r(Some(now - 10_000)), true),
            Some(now - 12_000)
        );
        assert_eq!(
            event_time(Some(now - 12_000), None, &r(None), false),
            Some(now - 12_000)
        );
        assert_eq!(event_time(None, Some(500), &r(None), false), Some(now - 500));
        assert_eq!(event_time(None, None, &r(None), false), None);
        // more than 23 h ahead: the receipt time
        assert_eq!(event_time(Some(now + 24 * 3_600_000), None, &r(None), false), Some(now));
        assert_eq!(
            event_time(Some(now + 3_600_000), None, &r(None), false),
            Some(now + 3_600_000)
        );
    }

    #[test]
    fn every_body_dialect_reads_the_same_payload() {
        let payload =
            json!({"api_key": "k", "batch": [{"event": "a", "distinct_id": "d", "properties": {"x": "Zürich ✓ +/="}}]});
        let text = payload.to_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&text);
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let gz = gzip(text.as_bytes());
        let form_b64 = format!("data={}", enc(&b64));
        let form_json = format!("data={}", enc(&text));
        let get_query = format!("data={}&compression=base64", enc(&b64));
        type Case<'a> = (String, Option<&'a str>, Option<&'a str>, Vec<u8>);
        let cases: Vec<Case> = vec![
            (String::new(), Some("application/json"), None, text.clone().into_bytes()),
            // posthog-js: gzip bytes as text/plain, no header, no parameter
            (String::new(), Some("text/plain"), None, gz.clone()),
            ("compression=gzip-js".into(), Some("text/plain"), None, gz.clone()),
            (String::new(), Some("application/json"), Some("gzip"), gz.clone()),
            (
                "compression=base64".into(),
                Some("text/plain"),
                None,
                b64.clone().into_bytes(),
            ),
            (
                "compression=base64".into(),
                Some("application/x-www-form-urlencoded"),
                None,
                form_b64.clone().into_bytes(),
            ),
            (
                String::new(),
                Some("application/x-www-form-urlencoded"),
                None,
                form_json.clone().into_bytes(),
            ),
            (String::new(), Some("text/plain"), None, form_b64.into_bytes()),
            (get_query, None, None, Vec::new()),
        ];
        for (q, ct, ce, body) in cases {
            let mut r = raw(&q, ct, &body);
            r.content_encoding = ce;
            let (_, v) = read_payload(r, &LIMITS).unwrap_or_else(|e| panic!("{q} {ct:?}: {e}"));
            assert_eq!(v, payload, "{q} {ct:?} {ce:?}");
        }
        let (p, _) = read_payload(
            raw("compression=gzip-js&beacon=1&_=1700000000000&ver=1.2", None, &gz),
            &LIMITS,
        )
        .unwrap();
        assert!(p.beacon);
        assert_eq!(p.sent_at_ms, Some(1_700_000_000_000));
        assert_eq!(p.compression, Compression::Gzip);
    }

    /// `LZString.compressToBase64` of a short and a longer text (a transcription of
    /// lz-string's `_compress` produced them).
    #[test]
    fn lz64_bodies_decode() {
        let v = lz_string_base64("N4IgpgbmB2AuIC4QEMQBoQBMCWBnW20AxrAPraaJYgC+QA==", 1 << 20).unwrap();
        assert_eq!(v.as_deref(), Some(r#"{"event":"a","distinct_id":"d"}"#));
        let (_, payload) = read_payload(
            raw(
                "compression=lz64",
                Some("application/x-www-form-urlencoded"),
                b"data=N4IgpgbmB2AuIC4QEMQBoQBMCWBnW20AxrAPraaJYgC%2BQA%3D%3D",
            ),
            &LIMITS,
        )
        .unwrap();
        assert_eq!(payload, json!({"event": "a", "distinct_id": "d"}));
        let long = lz_string_base64("NobwRApgbhB2AuYBcYBaAfgTgSwMYAsACQZHJCB7Aa3KsuurABowATbAZ3m1l3gH1tmyFsxGix4sYzAAHTGWkRMnCG2TgAHkICGO3Xv0HDR3WAC+pgLpA===", 1 << 20).unwrap();
        assert_eq!(
            long.as_deref(),
            Some(
                r#"[{"event":"Zürich ✓ ok ok ok ok ok","distinct_id":"dddddddddddddddddddd","properties":{"x":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}]"#
            )
        );
        // not LZ-String, an unknown character, a bomb ceiling
        assert_eq!(lz_string_base64("!!!", 1 << 20).unwrap(), None);
        assert_eq!(
            lz_string_base64("N4IgpgbmB2AuIC4QEMQBoQBMCWBnW20AxrAPraaJYgC+QA==", 4).unwrap_err(),
            RequestError::DecompressedTooLarge
        );
    }

    #[test]
    fn request_level_errors() {
        let bomb = gzip(&vec![b' '; 4 << 20]);
        let many = format!("[{}]", vec![r#"{"event":"a"}"#; 1001].join(","));
        let cases: Vec<(&str, Option<&str>, Vec<u8>, RequestError)> = vec![
            ("", None, b"".to_vec(), RequestError::MissingData),
            ("", Some("application/json"), b"{nope".to_vec(), RequestError::BadJson),
            (
                "",
                Some("text/plain"),
                b"!!!notbase64".to_vec(),
                RequestError::BadEncoding,
            ),
            (
                "compression=gzip",
                None,
                b"not gzip".to_vec(),
                RequestError::BadCompression("gzip"),
            ),
            ("", None, bomb, RequestError::DecompressedTooLarge),
            (
                "",
                Some("application/x-www-form-urlencoded"),
                b"x=1".to_vec(),
                RequestError::MissingData,
            ),
            (
                "compression=lz64",
                None,
                b"data=%21%21".to_vec(),
                RequestError::BadCompression("lz64"),
            ),
        ];
        for (q, ct, body, want) in cases {
            assert_eq!(
                read_payload(raw(q, ct, &body), &LIMITS).unwrap_err(),
                want,
                "{q} {ct:?}"
            );
        }
        let split = |v: Value| split_payload(v, &LIMITS);
        // Amplitude's body on the shared /batch path is no PostHog payload
        assert_eq!(
            split(json!({"api_key": "k", "events": [{"event_type": "a"}]})).unwrap_err(),
            RequestError::WrongType
        );
        assert_eq!(split(json!("str")).unwrap_err(), RequestError::WrongType);
        assert_eq!(split(json!({"batch": {}})).unwrap_err(), RequestError::WrongType);
        assert_eq!(
            split(json!({"batch": [], "api_key": "a", "token": "b"})).unwrap_err(),
            RequestError::WrongType
        );
        assert_eq!(
            split(serde_json::from_str(&many).unwrap()).unwrap_err(),
            RequestError::TooManyRecords
        );
    }

    #[test]
    fn payload_shapes() {
        let p = split_payload(
            json!({"api_key": "k", "batch": [{"event": "a"}], "sent_at": "2026-12-07T16:12:47.713Z", "historical_migration": false}),
            &LIMITS,
        )
        .unwrap();
        assert_eq!(p.key.as_deref(), Some("k"));
        assert_eq!(p.sent_at_ms, Some(1_796_659_967_713));
        assert_eq!(p.events.len(), 1);
        let p = split_payload(json!({"api_key": "k", "event": "a", "distinct_id": "d"}), &LIMITS).unwrap();
        assert_eq!(p.key.as_deref(), Some("k"));
        assert_eq!(p.events, vec![json!({"event": "a", "distinct_id": "d"})]);
        let p = split_payload(json!([{"event": "a"}, 1]), &LIMITS).unwrap();
        assert_eq!((p.key, p.events.len()), (None, 2));
    }

    #[test]
    fn events_lift_ids_time_key_ip_and_kinds() {
        let receipt = Receipt {
            received_at_ms: 1_796_659_970_000,
            sent_at_ms: Some(1_796_659_969_000),
            client_ip: Some("198.51.100.7".parse().unwrap()),
        };
        // posthog-js: key and distinct_id in the properties, connecting address for geo
        let d = decode_event(
            json!({"uuid": "01a25147-8371-7d11-acd4-06e89f962da4", "event": "$pageview", "timestamp": "2026-12-07T16:12:48.929Z",
                   "properties": {"token": "phc", "distinct_id": "u1", "$device_id": "dev", "$lib": "web", "$insert_id": "x1", "$set": {"a": 1}}}),
            &receipt,
            &caps(),
        )
        .unwrap();
        assert_eq!(d.key.as_deref(), Some("phc"));
        let e = d.event;
        assert_eq!(e.kind, Kind::Track);
        assert_eq!(e.ids.distinct_id.as_deref(), Some("u1"));
        assert_eq!(e.ids.device_id.as_deref(), Some("dev"));
        assert_eq!(e.insert_id.as_deref(), Some("01a25147-8371-7d11-acd4-06e89f962da4"));
        // sent 1 s after the event, received at 1_796_659_970_000
        assert_eq!(e.time.unwrap().millis(), Some(1_796_659_969_929));
        assert_eq!(e.context.client_ip, receipt.client_ip);
        assert!(e.properties.contains_key("$device_id") && e.properties.contains_key("$set"));
        assert!(!e.properties.contains_key("token") && !e.properties.contains_key("distinct_id"));

        // server SDK: $geoip_disable and an explicit $ip
        let d = decode_event(
            json!({"event": "Item Purchased", "distinct_id": 42, "properties": {"$ip": "203.0.113.7", "$geoip_disable": true, "$lib": "posthog-node"}}),
            &receipt,
            &caps(),
        )
        .unwrap();
        assert_eq!(d.key, None);
        assert_eq!(d.event.ids.distinct_id.as_deref(), Some("42"));
        assert_eq!(d.event.context.ip, Some(json!("203.0.113.7")));
        assert_eq!(d.event.context.client_ip, None);
        assert_eq!(d.event.time, None);

        // python $set: the operation at the top level
        let d = decode_event(
            json!({"event": "$set", "distinct_id": "u", "$set": {"email": "a@b.c"}, "properties": {"$lib": "posthog-python"}}),
            &receipt,
            &caps(),
        )
        .unwrap();
        assert_eq!(d.event.kind, Kind::Profile);
        assert_eq!(d.event.operations, vec![("$set".to_owned(), json!({"email": "a@b.c"}))]);
        assert!(d.event.envelope.is_none());

        // node $identify: operations in the properties, $anon_distinct_id kept
        let d = decode_event(
            json!({"event": "$identify", "distinct_id": "u", "properties": {"$set": {"a": 1}, "$set_once": {}, "$anon_distinct_id": "anon"}}),
            &receipt,
            &caps(),
        )
        .unwrap();
        assert_eq!(d.event.kind, Kind::Profile);
        assert_eq!(d.event.name.as_deref(), Some("$identify"));
        assert_eq!(d.event.operations.len(), 2);
        assert_eq!(
            d.event.properties,
            json!({"$anon_distinct_id": "anon"}).as_object().unwrap().clone()
        );

        // $identify without operations stays an event
        let d = decode_event(
            json!({"event": "$identify", "distinct_id": "u", "properties": {"$anon_distinct_id": "a"}}),
            &receipt,
            &caps(),
        )
        .unwrap();
        assert_eq!(d.event.kind, Kind::Track);

        // $groupidentify
        let d = decode_event(
            json!({"event": "$groupidentify", "distinct_id": "u", "properties": {"$group_type": "company", "$group_key": "acme", "$group_set": {"name": "Acme"}, "$lib": "x"}}),
            &receipt,
            &caps(),
        )
        .unwrap();
        assert_eq!(d.event.kind, Kind::Group);
        assert_eq!(
            d.event.ids.group,
            Some(GroupRef {
                key: "company".into(),
                id: json!("acme")
            })
        );
        assert_eq!(d.event.operations, vec![("$set".to_owned(), json!({"name": "Acme"}))]);
        assert_eq!(d.event.properties, json!({"$lib": "x"}).as_object().unwrap().clone());

        // top-level extras go in the envelope; the key comes out of every place
        let d = decode_event(
            json!({"event": "a", "distinct_id": "u", "api_key": "k", "type": "capture", "$set": {"p": 1}}),
            &receipt,
            &caps(),
        )
        .unwrap();
        assert_eq!(d.key.as_deref(), Some("k"));
        assert_eq!(
            d.event.envelope.unwrap().fields,
            json!({"type": "capture", "$set": {"p": 1}})
                .as_object()
                .unwrap()
                .clone()
        );
    }

    #[test]
    fn record_errors_name_the_field_not_the_value() {
        let mut deep = json!({"secret@x.com": 1});
        for _ in 0..64 {
            deep = json!({"a": deep});
        }
        let cases = vec![
            (json!("nope"), Reject::WrongType),
            (json!({"distinct_id": "d"}), Reject::MissingField),
            (json!({"event": "", "distinct_id": "d"}), Reject::MissingField),
            (json!({"event": 5, "distinct_id": "d"}), Reject::WrongType),
            (json!({"event": "a"}), Reject::MissingField),
            (json!({"event": "a", "distinct_id": ""}), Reject::MissingField),
            (
                json!({"event": "a", "distinct_id": {"secret@x.com": 1}}),
                Reject::WrongType,
            ),
            (
                json!({"event": "a", "distinct_id": "d", "properties": []}),
                Reject::WrongType,
            ),
            (
                json!({"event": "a", "distinct_id": "d", "uuid": 5}),
                Reject::BadInsertId,
            ),
            (
                json!({"event": "a", "distinct_id": "d", "timestamp": "secret@x.com"}),
                Reject::BadTime,
            ),
            (
                json!({"event": "a", "distinct_id": "d", "offset": "x"}),
                Reject::BadTime,
            ),
            (
                json!({"event": "a", "distinct_id": "d", "properties": {"token": 5}}),
                Reject::WrongType,
            ),
            (
                json!({"event": "a", "distinct_id": "d", "api_key": "k", "properties": {"token": "secret@x.com"}}),
                Reject::WrongType,
            ),
            (
                json!({"event": "$set", "distinct_id": "d", "$set": ["secret@x.com"]}),
                Reject::WrongType,
            ),
            (
                json!({"event": "$identify", "distinct_id": "d", "properties": {"$unset": {"a": 1}}}),
                Reject::WrongType,
            ),
            (
                json!({"event": "$groupidentify", "distinct_id": "d", "properties": {"$group_key": "g"}}),
                Reject::MissingField,
            ),
            (
                json!({"event": "$groupidentify", "distinct_id": "d", "properties": {"$group_type": "c"}}),
                Reject::MissingField,
            ),
            (
                json!({"event": "$groupidentify", "distinct_id": "d", "properties": {"$group_type": "c", "$group_key": "g", "$group_set": 1}}),
                Reject::WrongType,
            ),
            (
                json!({"event": "a", "distinct_id": "d", "properties": {"deep": deep}}),
                Reject::TooDeep,
            ),
        ];
        for (rec, want) in cases {
            let text = rec.to_string();
            let err = decode_event(rec, &RECEIPT, &caps()).unwrap_err();
            assert_eq!(err.reason, want, "{text}");
            assert!(!err.to_string().contains("secret@x.com"), "{err}");
        }
    }

    #[test]
    fn flags_requests_become_event_shaped_records() {
        let (key, rec) = flags_record(
            json!({"token": "phc", "distinct_id": "u", "groups": {"company": "acme"}, "$anon_distinct_id": "a",
                   "person_properties": {"email": "x@y.z"}, "group_properties": {"company": {"name": "Acme"}}, "timezone": "UTC"}),
            "flags",
            "4",
        )
        .unwrap();
        assert_eq!(key.as_deref(), Some("phc"));
        assert_eq!(
            rec,
            json!({"event": FLAGS_EVENT, "distinct_id": "u", "properties": {"$groups": {"company": "acme"}, "$anon_distinct_id": "a",
                   "$set": {"email": "x@y.z"}, "$group_properties": {"company": {"name": "Acme"}}, "timezone": "UTC"},
                   FLAGS_ROUTE: "flags", FLAGS_VERSION: "4"})
        );
        assert_eq!(
            flags_record(json!([1]), "flags", "2").unwrap_err(),
            RequestError::WrongType
        );
        assert_eq!(
            flags_record(json!({"token": "a", "api_key": "b"}), "flags", "2").unwrap_err(),
            RequestError::InconsistentKeys
        );
    }
}
