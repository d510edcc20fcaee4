//! Canonical events → Segment messages, and the `/v1/batch` request that delivers them
//! (<https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#batch>).
//!
//! A message decoded from a Segment SDK comes back field for field: [`into_message`] is the
//! inverse of [`decode_message`](super::decode::decode_message) for the same `type` (its
//! envelope says which), except that `timestamp` is rewritten in the canonical
//! `YYYY-MM-DDTHH:MM:SS.mmmZ` form from the corrected time, a numeric id becomes its text,
//! and `sentAt`/`writeKey` are the batch's, not the message's.
//!
//! An event from another vendor (no envelope, its own already lifted into canonical
//! properties by that vendor) becomes the message its kind and name call for:
//!
//! | canonical event                       | Segment message                                         |
//! |---------------------------------------|---------------------------------------------------------|
//! | `Track` `$pageview`                   | `page`, `name`/`category` from those properties if strings (left in place too) |
//! | `Track` `$screen`                     | `screen`, `name` = the `$screen_name` property (taken out) |
//! | `Track` `$create_alias`               | `alias`, `previousId` = `distinct_id`, `userId` = the `alias` property (taken out) |
//! | other `Track`                         | `track`, `event` = its name                             |
//! | `Profile`                             | `identify`, `traits` = `$set`, then the `$set_once` keys `$set` lacks |
//! | `Group`                               | `group`, `groupId` = the group id, `traits` as for a profile, and `group_type` = the group key unless it is `"group"` |
//!
//! Segment has no `$set_once`: its keys are sent as plain traits, so Segment overwrites
//! where the source would not. The operations Segment cannot express (`$unset`, `$add`,
//! `$append`, `$remove`, `$union`, `$delete`) are never dropped: they travel as the trait
//! `segment_unsupported_ops` (`{"$add": {…}, …}`), where the policy classifies them like
//! any trait. Segment groups have no type: a group key other than `"group"` travels as the
//! trait `group_type`. Each of these stand-ins (every operation but `$set`, a group type) is
//! counted as untranslated ([`untranslatable`]).
//!
//! Ids: `userId` = the user id, else the `distinct_id` when it is not the device id (nor a
//! Mixpanel `$device:` id); `anonymousId` = the device id, else such an anonymous
//! `distinct_id`. A group update without a person (Mixpanel `/groups`) has neither, and
//! Segment drops it.
//!
//! Canonical properties with a place in Segment's `context`
//! (<https://segment.com/docs/connections/spec/common/#context>) move there: `$current_url`,
//! `$referrer`, `$pathname`, `$search`, `$title` → `context.page`; `$user_agent` →
//! `userAgent`; `$locale`, `$timezone`; `$lib`/`$lib_version` → `library`; `$os`/`$os_version`
//! → `os`; `$device`, `$device_model`, `$manufacturer` → `device`; `$screen_width`/
//! `$screen_height` → `screen`; `$app_version`/`$app_build` → `app`; `$city`, `$region`,
//! `$country_code`, `$latitude`, `$longitude` → `location`; `$carrier` → `network`;
//! `utm_*` → `campaign`. Everything else stays in `properties` (for an identify or group,
//! a `properties` object Segment ignores).
//!
//! IP: `context.ip` is the IP the SDK put in the event, else the connecting client's when
//! the SDK asked for geolocation (and the policy kept it). Without one the message has no
//! `context.ip`, and `/v1/batch` is an HTTP API (server-side) call, for which Segment does
//! not collect the connection's address (vendorwall's), and `context.direct` is never sent.

use serde_json::{Map, Value};

use super::decode::{CREATE_ALIAS, DEFAULT_GROUP_KEY, GROUP_TYPE_TRAIT, MessageType, PAGEVIEW, SCREEN};
use crate::event::{Event, Kind};
use crate::incident::time::civil_from_days;
use crate::protocol::{BasicAuth, OutboundRequest, Target, wire};
use crate::vendor::Vendor;

/// Where each canonical property goes in `context`: (property, context object or `""` for
/// `context` itself, field).
pub const CONTEXT_PLACES: &[(&str, &str, &str)] = &[
    ("$current_url", "page", "url"),
    ("$referrer", "page", "referrer"),
    ("$pathname", "page", "path"),
    ("$search", "page", "search"),
    ("$title", "page", "title"),
    ("$user_agent", "", "userAgent"),
    ("$locale", "", "locale"),
    ("$timezone", "", "timezone"),
    ("$lib", "library", "name"),
    ("$lib_version", "library", "version"),
    ("$os", "os", "name"),
    ("$os_version", "os", "version"),
    ("$device", "device", "type"),
    ("$device_model", "device", "model"),
    ("$manufacturer", "device", "manufacturer"),
    ("$screen_width", "screen", "width"),
    ("$screen_height", "screen", "height"),
    ("$app_version", "app", "version"),
    ("$app_build", "app", "build"),
    ("$city", "location", "city"),
    ("$region", "location", "region"),
    ("$country_code", "location", "country"),
    ("$latitude", "location", "latitude"),
    ("$longitude", "location", "longitude"),
    ("$carrier", "network", "carrier"),
    ("utm_source", "campaign", "source"),
    ("utm_medium", "campaign", "medium"),
    ("utm_campaign", "campaign", "name"),
    ("utm_term", "campaign", "term"),
    ("utm_content", "campaign", "content"),
];

/// The trait that carries profile operations Segment cannot express.
pub const UNSUPPORTED_OPS_TRAIT: &str = "segment_unsupported_ops";

/// Encodes one canonical event as a Segment message (without a write key: the batch
/// carries it).
pub fn into_message(event: Event) -> Value {
    let Event {
        kind,
        name,
        ids,
        time,
        insert_id,
        mut properties,
        operations,
        context,
        envelope,
    } = event;
    let native = envelope.filter(|e| e.vendor == Vendor::Segment).map(|e| e.fields);
    let ty = message_type(kind, name.as_deref(), native.as_ref());
    let ip = context
        .ip
        .or_else(|| context.client_ip.map(|ip| Value::String(ip.to_string())));

    let mut msg = Map::with_capacity(12);
    msg.insert("type".into(), Value::String(ty.name().to_owned()));
    let foreign = native.is_none();
    let mut envelope_fields = native.unwrap_or_default();
    envelope_fields.shift_remove("type");
    let mut ctx = match envelope_fields.shift_remove("context") {
        Some(Value::Object(c)) => Some(c),
        _ => None,
    };
    if foreign {
        let mut moved = Map::new();
        for (prop, object, field) in CONTEXT_PLACES {
            if let Some(v) = properties.shift_remove(*prop) {
                let target = if object.is_empty() {
                    &mut moved
                } else {
                    match moved
                        .entry((*object).to_owned())
                        .or_insert_with(|| Value::Object(Map::new()))
                    {
                        Value::Object(m) => m,
                        _ => continue,
                    }
                };
                target.insert((*field).to_owned(), v);
            }
        }
        if !moved.is_empty() {
            ctx = Some(moved);
        }
    }

    let (user_id, anonymous_id) = person_ids(&ids);
    match ty {
        MessageType::Track => {
            msg.insert("event".into(), Value::String(name.unwrap_or_default()));
        }
        MessageType::Page if foreign => {
            for field in ["name", "category"] {
                if let Some(v @ Value::String(_)) = properties.get(field) {
                    msg.insert(field.into(), v.clone());
                }
            }
        }
        MessageType::Screen if foreign => {
            if let Some(v) = properties.shift_remove("$screen_name") {
                msg.insert("name".into(), v);
            }
        }
        _ => {}
    }
    if ty == MessageType::Alias {
        if let Some(previous) = ids.distinct_id {
            msg.insert("previousId".into(), Value::String(previous));
        }
        let new_id = match properties.shift_remove("alias") {
            Some(Value::Number(n)) => Some(Value::String(n.to_string())),
            Some(v @ Value::String(_)) => Some(v),
            _ => ids.user_id.map(Value::String),
        };
        if let Some(v) = new_id {
            msg.insert("userId".into(), v);
        }
        if let Some(a) = ids.device_id {
            msg.insert("anonymousId".into(), Value::String(a));
        }
    } else {
        if let Some(u) = user_id {
            msg.insert("userId".into(), Value::String(u));
        }
        if let Some(a) = anonymous_id {
            msg.insert("anonymousId".into(), Value::String(a));
        }
    }
    if ty == MessageType::Group
        && let Some(g) = &ids.group
    {
        msg.insert("groupId".into(), g.id.clone());
    }
    if let Some(id) = insert_id {
        msg.insert("messageId".into(), Value::String(id));
    }
    if let Some(ms) = time.as_ref().and_then(crate::event::EventTime::millis) {
        msg.insert("timestamp".into(), Value::String(format_time(ms)));
    }
    match kind {
        Kind::Track => {
            if ty != MessageType::Alias || !properties.is_empty() {
                msg.insert("properties".into(), Value::Object(properties));
            }
        }
        Kind::Profile | Kind::Group => {
            let mut traits = traits_of(operations);
            if let Some(g) = &ids.group
                && g.key != DEFAULT_GROUP_KEY
                && !traits.contains_key(GROUP_TYPE_TRAIT)
            {
                traits.insert(GROUP_TYPE_TRAIT.into(), Value::String(g.key.clone()));
            }
            msg.insert("traits".into(), Value::Object(traits));
            if !properties.is_empty() {
                msg.insert("properties".into(), Value::Object(properties));
            }
        }
    }
    if let Some(ip) = ip {
        ctx.get_or_insert_with(Map::new).insert("ip".into(), ip);
    }
    if let Some(c) = ctx {
        msg.insert("context".into(), Value::Object(c));
    }
    for (k, v) in envelope_fields {
        msg.entry(k).or_insert(v);
    }
    Value::Object(msg)
}

/// How many parts of another vendor's event Segment has no place for and carries under a
/// stand-in: each profile or group operation but `$set` (`$set_once` becomes plain traits,
/// the others [`UNSUPPORTED_OPS_TRAIT`]), and a group type (the `group_type` trait). 0 for
/// Segment's own messages.
pub fn untranslatable(event: &Event) -> usize {
    if event.envelope.as_ref().is_some_and(|e| e.vendor == Vendor::Segment) {
        return 0;
    }
    let ops = match event.kind {
        Kind::Track => 0,
        Kind::Profile | Kind::Group => event.operations.iter().filter(|(op, _)| op != "$set").count(),
    };
    let group_type = event.ids.group.as_ref().is_some_and(|g| g.key != DEFAULT_GROUP_KEY);
    ops + usize::from(group_type)
}

/// The message type of an event: its envelope's `type` when it came from Segment (an
/// event named `$pageview` stays a `track`), else its kind and name.
fn message_type(kind: Kind, name: Option<&str>, native: Option<&Map<String, Value>>) -> MessageType {
    if let Some(t) = native
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str)
        .and_then(MessageType::parse)
        && t.kind() == kind
    {
        return t;
    }
    match (kind, name) {
        (Kind::Profile, _) => MessageType::Identify,
        (Kind::Group, _) => MessageType::Group,
        (Kind::Track, Some(PAGEVIEW)) => MessageType::Page,
        (Kind::Track, Some(SCREEN)) => MessageType::Screen,
        (Kind::Track, Some(CREATE_ALIAS)) => MessageType::Alias,
        (Kind::Track, _) => MessageType::Track,
    }
}

/// `(userId, anonymousId)` of an event's ids (see the module documentation).
fn person_ids(ids: &crate::event::SubjectIds) -> (Option<String>, Option<String>) {
    let anonymous_distinct = |d: &String| Some(d) == ids.device_id.as_ref() || d.starts_with("$device:");
    let user = ids
        .user_id
        .clone()
        .or_else(|| ids.distinct_id.clone().filter(|d| !anonymous_distinct(d)));
    let anonymous = ids.device_id.clone().or_else(|| {
        ids.distinct_id
            .clone()
            .filter(|d| d.starts_with("$device:") && ids.user_id.is_none())
    });
    (user, anonymous)
}

/// Traits from profile or group operations: `$set`, then the `$set_once` keys `$set`
/// lacks, then every other operation under [`UNSUPPORTED_OPS_TRAIT`].
fn traits_of(operations: Vec<(String, Value)>) -> Map<String, Value> {
    let mut traits = Map::new();
    let mut once = Vec::new();
    let mut other = Map::new();
    for (op, v) in operations {
        match (op.as_str(), v) {
            ("$set", Value::Object(m)) => traits.extend(m),
            ("$set_once", Value::Object(m)) => once.push(m),
            (_, v) => {
                other.insert(op, v);
            }
        }
    }
    for m in once {
        for (k, v) in m {
            traits.entry(k).or_insert(v);
        }
    }
    if !other.is_empty() {
        traits.insert(UNSUPPORTED_OPS_TRAIT.into(), Value::Object(other));
    }
    traits
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of milliseconds since the epoch (years 1970–9999; later
/// ones print with more digits).
pub fn format_time(ms: i64) -> String {
    let (y, mo, d) = civil_from_days(ms.div_euclid(86_400_000));
    let t = ms.rem_euclid(86_400_000);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        t / 3_600_000,
        t / 60_000 % 60,
        t / 1000 % 60,
        t % 1000
    )
}

/// Takes any `writeKey` out of a message the policy let through: the destination's key
/// travels once, for the whole batch.
pub fn finish_message(record: &mut Value) {
    if let Some(m) = record.as_object_mut() {
        m.shift_remove("writeKey");
    }
}

/// `POST {endpoint}/v1/batch` with `Authorization: Basic base64(write_key:)` and a gzipped
/// `{"batch":[…],"sentAt":"<now>"}`: the records are queued JSON and are copied, not parsed.
pub fn batch_request(dest: &Target, records: &[&[u8]], now_ms: i64) -> OutboundRequest {
    let sent_at = format_time(now_ms);
    let len = records.iter().map(|r| r.len() + 1).sum::<usize>() + sent_at.len() + 32;
    let mut body = Vec::with_capacity(len);
    body.extend_from_slice(b"{\"batch\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(r);
    }
    body.extend_from_slice(b"],\"sentAt\":\"");
    body.extend_from_slice(sent_at.as_bytes());
    body.extend_from_slice(b"\"}");
    OutboundRequest {
        url: format!("{}/v1/batch", dest.endpoint),
        headers: vec![
            ("Content-Type", "application/json".to_owned()),
            ("Content-Encoding", "gzip".to_owned()),
            ("Authorization", BasicAuth::header(dest.key.expose(), "")),
        ],
        body: wire::gzip(&body),
    }
}
