//! Inbound Amplitude requests → canonical events.
//!
//! Every SDK posts the same body to `/2/httpapi` (HTTP V2 API) or `/batch` (Batch Event
//! Upload), <https://amplitude.com/docs/apis/analytics/http-v2> and
//! <https://amplitude.com/docs/apis/analytics/batch-event-upload>:
//!
//! ```json
//! {"api_key": "…", "events": [{…}, …], "options": {"min_id_length": 5},
//!  "client_upload_time": "…", "request_metadata": {…}}
//! ```
//!
//! JSON, `Content-Encoding: gzip` (the browser SDK towards Amplitude's own hosts) or gzip
//! recognised by its magic bytes, labelled `application/json` or — from the browser's beacon
//! transport — `text/plain`. The `api_key` becomes [`Auth::Key`](crate::protocol::Auth::Key)
//! and never travels further.
//!
//! Request-level problems (not JSON, no `events` list, a bomb) fail the request. Each event is
//! validated the way Amplitude validates it, and fails alone:
//!
//! - `event_type` is a non-empty string;
//! - `user_id` or `device_id` (strings; at least one) of at least `options.min_id_length`
//!   characters (5 by default), and none of the placeholder values Amplitude refuses
//!   ([`INVALID_IDS`]);
//! - `time` an integer number of milliseconds (an ISO string is refused as
//!   [`Reject::BadTime`]);
//! - `insert_id` a string; `event_properties`, `user_properties`, `group_properties`,
//!   `groups` objects; `ip` a string;
//! - sizes within the gateway's [`Caps`].
//!
//! Mapping (see the folder's `mod.rs` for the table): `$identify` is a
//! [`Kind::Profile`] whose operations come from `user_properties`, `$groupidentify` a
//! [`Kind::Group`] whose group is the one entry of `groups` and whose operations come from
//! `group_properties`; every other event is a [`Kind::Track`]. What the model does not lift
//! (device and app fields, `session_id`, `event_id`, `groups` and `user_properties` of
//! ordinary events, …) stays in the [`Envelope`], in arrival order.

use serde_json::{Map, Value};

use crate::event::{Caps, Context, Envelope, Event, EventTime, GroupRef, Kind, RecordError, Reject, SubjectIds};
use crate::protocol::wire::{decompress, json_value};
use crate::protocol::{HttpRequest, RequestError, RequestLimits};
use crate::vendor::Vendor;

/// Amplitude's default minimum length of `user_id` and `device_id`.
pub const DEFAULT_MIN_ID_LENGTH: usize = 5;

/// Ids Amplitude refuses (compared case-insensitively), from the HTTP V2 API reference
/// ("device IDs and user IDs … invalid values").
pub const INVALID_IDS: &[&str] = &[
    "anonymous",
    "null",
    "none",
    "nil",
    "undefined",
    "unknown",
    "0",
    "-1",
    "lmy47d",
    "00000000-0000-0000-0000-000000000000",
    "[]",
    "{}",
];

/// The message of an id shorter than the request's minimum id length: answered under
/// `events_with_invalid_id_lengths`, not `events_with_invalid_fields`.
pub const ID_TOO_SHORT: &str = "shorter than the minimum id length";

/// An envelope field that is not Amplitude's: set when `user_properties` (or
/// `group_properties`) held plain properties rather than operations, so the record is
/// written back the same way. Never sent, never lifted.
pub const PLAIN_PROPERTIES: &str = "\u{0}vendorwall_plain_properties";

/// Amplitude's user and group property operations
/// (<https://amplitude.com/docs/apis/analytics/identify>).
pub const OPERATIONS: [&str; 10] = [
    "$set",
    "$setOnce",
    "$add",
    "$append",
    "$prepend",
    "$preInsert",
    "$postInsert",
    "$remove",
    "$unset",
    "$clearAll",
];

/// The fields of an event the canonical model lifts out of it (the rest is envelope).
const LIFTED: [&str; 7] = [
    "event_type",
    "user_id",
    "device_id",
    "time",
    "insert_id",
    "event_properties",
    "ip",
];

/// A decoded request body.
#[derive(Debug)]
pub struct Body {
    /// The app-side key, `None` when missing or empty.
    pub api_key: Option<String>,
    pub events: Vec<Value>,
    pub min_id_length: usize,
    /// Uncompressed bytes, for `payload_size_bytes`.
    pub size: usize,
}

/// Reads the request body: decompression with a ceiling, JSON, `api_key`, `events`,
/// `options.min_id_length`.
pub fn decode_body(req: &HttpRequest<'_>, limits: &RequestLimits) -> Result<Body, RequestError> {
    let raw = decompress(req.body, req.content_encoding, limits.max_decompressed_bytes)?;
    let text = raw.trim_ascii();
    if text.is_empty() {
        return Err(RequestError::MissingData);
    }
    let Value::Object(mut obj) = json_value(text, limits)? else {
        return Err(RequestError::WrongType);
    };
    let events = match obj.shift_remove("events") {
        Some(Value::Array(events)) => events,
        None | Some(Value::Null) => return Err(RequestError::MissingData),
        Some(_) => return Err(RequestError::WrongType),
    };
    if events.len() > limits.max_records {
        return Err(RequestError::TooManyRecords);
    }
    let api_key = match obj.shift_remove("api_key") {
        Some(Value::String(k)) if !k.is_empty() => Some(k),
        _ => None,
    };
    let min_id_length = obj
        .get("options")
        .and_then(|o| o.get("min_id_length"))
        .and_then(Value::as_u64)
        .map_or(DEFAULT_MIN_ID_LENGTH, |n| n.clamp(1, 1024) as usize);
    Ok(Body {
        api_key,
        events,
        min_id_length,
        size: raw.len(),
    })
}

/// What decoding one event needs to know about its request.
#[derive(Debug, Clone, Copy)]
pub struct EventContext {
    pub min_id_length: usize,
    /// The connecting client, for `ip: "$remote"`.
    pub client_ip: Option<std::net::IpAddr>,
}

impl Default for EventContext {
    fn default() -> Self {
        EventContext {
            min_id_length: DEFAULT_MIN_ID_LENGTH,
            client_ip: None,
        }
    }
}

fn err(reason: Reject, field: &'static str, message: &'static str) -> RecordError {
    RecordError::new(reason, field, message)
}

/// The `insert_id` of a raw event, if it has one: named in a refusal.
pub fn insert_id_of(event: &Value) -> Option<String> {
    event.get("insert_id").and_then(Value::as_str).map(str::to_owned)
}

/// Whether Amplitude refuses `id` as a user or device id.
pub fn is_invalid_id(id: &str) -> bool {
    INVALID_IDS.iter().any(|bad| bad.eq_ignore_ascii_case(id))
}

fn id_field(v: Option<Value>, field: &'static str, min: usize) -> Result<Option<String>, RecordError> {
    let id = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => s,
        Some(_) => return Err(err(Reject::WrongType, field, "must be a string")),
    };
    if is_invalid_id(&id) {
        return Err(err(
            Reject::WrongType,
            field,
            "is a placeholder value Amplitude refuses",
        ));
    }
    if id.chars().count() < min {
        return Err(err(Reject::WrongType, field, ID_TOO_SHORT));
    }
    Ok(Some(id))
}

fn object(v: Option<Value>, field: &'static str, caps: &Caps) -> Result<Option<Map<String, Value>>, RecordError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            caps.check(field, &m)?;
            Ok(Some(m))
        }
        Some(_) => Err(err(Reject::WrongType, field, "must be an object")),
    }
}

/// Decodes one event of a request into a canonical event.
pub fn decode_event(event: Value, cx: EventContext, caps: &Caps) -> Result<Event, RecordError> {
    let Value::Object(mut obj) = event else {
        return Err(err(Reject::WrongType, "event", "each event must be a JSON object"));
    };
    let name = match obj.shift_remove("event_type") {
        Some(Value::String(s)) if !s.is_empty() => s,
        None | Some(Value::Null) => return Err(err(Reject::MissingField, "event_type", "event_type is required")),
        Some(Value::String(_)) => return Err(err(Reject::MissingField, "event_type", "event_type is empty")),
        Some(_) => return Err(err(Reject::WrongType, "event_type", "must be a string")),
    };
    let user_id = id_field(obj.shift_remove("user_id"), "user_id", cx.min_id_length)?;
    let device_id = id_field(obj.shift_remove("device_id"), "device_id", cx.min_id_length)?;
    if user_id.is_none() && device_id.is_none() {
        return Err(err(Reject::MissingField, "user_id", "user_id or device_id is required"));
    }
    let time = match obj.shift_remove("time") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => Some(EventTime(n)),
        Some(_) => {
            return Err(err(
                Reject::BadTime,
                "time",
                "must be an integer number of milliseconds since the epoch",
            ));
        }
    };
    let insert_id = match obj.shift_remove("insert_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(err(Reject::BadInsertId, "insert_id", "must be a string")),
    };
    let properties = object(obj.shift_remove("event_properties"), "event_properties", caps)?.unwrap_or_default();
    let mut context = Context::default();
    match obj.shift_remove("ip") {
        None | Some(Value::Null) => {}
        // "Use the connecting address": the client's, never vendorwall's.
        Some(Value::String(s)) if s == "$remote" => context.client_ip = cx.client_ip,
        Some(Value::String(s)) if s.is_empty() => {}
        Some(v @ Value::String(_)) => context.ip = Some(v),
        Some(_) => return Err(err(Reject::WrongType, "ip", "must be a string")),
    }

    let kind = match name.as_str() {
        "$identify" => Kind::Profile,
        "$groupidentify" => Kind::Group,
        _ => Kind::Track,
    };
    let mut ids = SubjectIds {
        distinct_id: user_id.clone().or_else(|| device_id.clone()),
        device_id,
        user_id,
        group: None,
    };
    let mut operations = Vec::new();
    let mut plain = false;
    match kind {
        Kind::Track => {}
        Kind::Profile => {
            let props = object(obj.shift_remove("user_properties"), "user_properties", caps)?.ok_or(err(
                Reject::MissingField,
                "user_properties",
                "$identify needs user_properties",
            ))?;
            (operations, plain) = decode_operations(props, "user_properties")?;
        }
        Kind::Group => {
            let groups = object(obj.shift_remove("groups"), "groups", caps)?.unwrap_or_default();
            if groups.len() != 1 {
                return Err(err(
                    Reject::MissingField,
                    "groups",
                    "$groupidentify names exactly one group",
                ));
            }
            let Some((key, id)) = groups.into_iter().next() else {
                return Err(err(
                    Reject::MissingField,
                    "groups",
                    "$groupidentify names exactly one group",
                ));
            };
            if !matches!(&id, Value::String(s) if !s.is_empty()) && !id.is_number() {
                return Err(err(Reject::WrongType, "groups", "the group's name must be a string"));
            }
            ids.group = Some(GroupRef { key, id });
            let props = object(obj.shift_remove("group_properties"), "group_properties", caps)?.ok_or(err(
                Reject::MissingField,
                "group_properties",
                "$groupidentify needs group_properties",
            ))?;
            (operations, plain) = decode_operations(props, "group_properties")?;
        }
    }
    // The rest is envelope, in arrival order; containers keep Amplitude's types.
    for (field, key) in [
        ("user_properties", "user_properties"),
        ("group_properties", "group_properties"),
        ("groups", "groups"),
    ] {
        if let Some(v) = obj.get(key)
            && !v.is_object()
            && !v.is_null()
        {
            return Err(err(Reject::WrongType, field, "must be an object"));
        }
    }
    if obj.len() > caps.max_properties {
        return Err(err(Reject::TooManyProperties, "event", "too many fields"));
    }
    for v in obj.values() {
        caps.check_value("event", v, 1)?;
    }
    debug_assert!(LIFTED.iter().all(|k| !obj.contains_key(*k)));
    if plain {
        obj.insert(PLAIN_PROPERTIES.to_owned(), Value::Bool(true));
    }
    Ok(Event {
        kind,
        name: (kind == Kind::Track).then_some(name),
        ids,
        time,
        insert_id,
        properties,
        operations,
        context,
        envelope: Some(Envelope {
            vendor: Vendor::Amplitude,
            fields: obj,
        }),
    })
}

/// `user_properties` or `group_properties` → canonical operations, in order, and whether
/// they were plain properties (which Amplitude reads as `$set`).
///
/// Amplitude's names map to the canonical (Mixpanel-style) ones where the meaning is the
/// same: `$setOnce` → `$set_once`, `$postInsert` (append what is not there yet) → `$union`,
/// `$unset {name: "-"}` → `$unset [name]`. `$add`, `$append`, `$remove` keep their names;
/// `$prepend`, `$preInsert` and `$clearAll` have no canonical counterpart and keep
/// Amplitude's. Plain keys beside operations join the `$set`.
pub fn decode_operations(
    props: Map<String, Value>,
    field: &'static str,
) -> Result<(Vec<(String, Value)>, bool), RecordError> {
    if !props.keys().any(|k| OPERATIONS.contains(&k.as_str())) {
        if props.is_empty() {
            return Ok((Vec::new(), false));
        }
        return Ok((vec![("$set".to_owned(), Value::Object(props))], true));
    }
    let mut ops: Vec<(String, Value)> = Vec::with_capacity(props.len());
    let mut loose = Map::new();
    for (k, v) in props {
        let canonical = match k.as_str() {
            "$setOnce" => "$set_once",
            "$postInsert" => "$union",
            "$unset" => {
                let names: Vec<Value> = match v {
                    Value::Object(m) => m.into_iter().map(|(k, _)| Value::String(k)).collect(),
                    Value::Array(items) if items.iter().all(Value::is_string) => items,
                    _ => return Err(err(Reject::WrongType, field, "$unset takes an object of names")),
                };
                ops.push(("$unset".to_owned(), Value::Array(names)));
                continue;
            }
            "$clearAll" => {
                ops.push((k, v));
                continue;
            }
            op if OPERATIONS.contains(&op) => op,
            _ => {
                loose.insert(k, v);
                continue;
            }
        };
        let Value::Object(m) = v else {
            return Err(err(Reject::WrongType, field, "an operation takes an object"));
        };
        let canonical = canonical.to_owned();
        match ops.iter_mut().find(|(op, _)| *op == canonical) {
            Some((_, Value::Object(existing))) => existing.extend(m),
            _ => ops.push((canonical, Value::Object(m))),
        }
    }
    if !loose.is_empty() {
        match ops.iter_mut().find(|(op, _)| op == "$set") {
            Some((_, Value::Object(set))) => set.extend(loose),
            _ => ops.push(("$set".to_owned(), Value::Object(loose))),
        }
    }
    Ok((ops, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Method;
    use serde_json::json;

    fn caps() -> Caps {
        (&crate::config::Limits::default()).into()
    }

    const LIMITS: RequestLimits = RequestLimits::new(1 << 20, 2000, 255);

    fn req(body: &[u8]) -> HttpRequest<'_> {
        HttpRequest {
            method: Method::Post,
            path: "/2/httpapi",
            query: "",
            content_type: Some("application/json"),
            content_encoding: None,
            authorization: None,
            body,
            client_ip: Some("198.51.100.4".parse().unwrap()),
            received_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn body_reads_key_events_and_options() {
        let b = decode_body(
            &req(br#"{"api_key":"k","events":[{}],"options":{"min_id_length":2},"client_upload_time":"x"}"#),
            &LIMITS,
        )
        .unwrap();
        assert_eq!(
            (b.api_key.as_deref(), b.events.len(), b.min_id_length),
            (Some("k"), 1, 2)
        );
        let b = decode_body(&req(br#"{"events":[]}"#), &LIMITS).unwrap();
        assert_eq!((b.api_key, b.min_id_length), (None, DEFAULT_MIN_ID_LENGTH));
        let b = decode_body(&req(br#"{"api_key":"","events":[],"options":{}}"#), &LIMITS).unwrap();
        assert_eq!(b.api_key, None);
    }

    #[test]
    fn request_level_errors() {
        let many = format!(r#"{{"api_key":"k","events":[{}]}}"#, vec!["{}"; 2001].join(","));
        let cases: Vec<(&[u8], RequestError)> = vec![
            (b"", RequestError::MissingData),
            (b"   ", RequestError::MissingData),
            (b"{nope", RequestError::BadJson),
            (b"[1,2]", RequestError::WrongType),
            (br#"{"api_key":"k"}"#, RequestError::MissingData),
            (br#"{"api_key":"k","events":{}}"#, RequestError::WrongType),
            // PostHog's batch body on the shared `/batch` path
            (
                br#"{"api_key":"phc_x","batch":[{"event":"e","distinct_id":"d"}],"sent_at":"2024-01-01T00:00:00Z"}"#,
                RequestError::MissingData,
            ),
            (many.as_bytes(), RequestError::TooManyRecords),
        ];
        for (body, want) in cases {
            assert_eq!(
                decode_body(&req(body), &LIMITS).unwrap_err(),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn ids_times_and_ip() {
        let cx = EventContext {
            client_ip: Some("198.51.100.4".parse().unwrap()),
            ..EventContext::default()
        };
        let e = decode_event(
            json!({"event_type": "Signup", "user_id": "user-1", "device_id": "dev-12", "time": 1_700_000_000_123i64,
                   "insert_id": "ins-1", "ip": "$remote", "event_properties": {"plan": "pro"},
                   "platform": "Web", "session_id": 1_700_000_000_000i64}),
            cx,
            &caps(),
        )
        .unwrap();
        assert_eq!(e.kind, Kind::Track);
        assert_eq!(e.name.as_deref(), Some("Signup"));
        assert_eq!(e.ids.distinct_id.as_deref(), Some("user-1"));
        assert_eq!(e.ids.user_id.as_deref(), Some("user-1"));
        assert_eq!(e.ids.device_id.as_deref(), Some("dev-12"));
        assert_eq!(e.time.unwrap().millis(), Some(1_700_000_000_123));
        assert_eq!(e.insert_id.as_deref(), Some("ins-1"));
        assert_eq!(e.context.client_ip, cx.client_ip);
        assert_eq!(e.context.ip, None);
        let env = e.envelope.unwrap();
        assert_eq!(env.vendor, Vendor::Amplitude);
        assert_eq!(
            Value::Object(env.fields),
            json!({"platform": "Web", "session_id": 1_700_000_000_000i64})
        );
        // device only: the device id is the subject
        let e = decode_event(
            json!({"event_type": "a", "device_id": "dev-12", "ip": "203.0.113.7"}),
            cx,
            &caps(),
        )
        .unwrap();
        assert_eq!(e.ids.distinct_id.as_deref(), Some("dev-12"));
        assert_eq!(e.ids.user_id, None);
        assert_eq!(e.context.ip, Some(json!("203.0.113.7")));
        assert_eq!(e.context.client_ip, None);
    }

    #[test]
    fn identify_and_group_identify() {
        let e = decode_event(
            json!({"event_type": "$identify", "user_id": "user-1", "user_properties": {
                "$set": {"plan": "pro"}, "$setOnce": {"first": "a"}, "$add": {"n": 1}, "$postInsert": {"tags": ["x"]},
                "$prepend": {"l": 1}, "$unset": {"old": "-"}, "$clearAll": "-"}, "groups": {"company": "acme"}}),
            EventContext::default(),
            &caps(),
        )
        .unwrap();
        assert_eq!(e.kind, Kind::Profile);
        assert_eq!(e.name, None);
        let ops: Vec<&str> = e.operations.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            ops,
            ["$set", "$set_once", "$add", "$union", "$prepend", "$unset", "$clearAll"]
        );
        assert_eq!(e.operations[5].1, json!(["old"]));
        assert_eq!(
            e.envelope.unwrap().fields.get("groups"),
            Some(&json!({"company": "acme"}))
        );

        let g = decode_event(
            json!({"event_type": "$groupidentify", "device_id": "dev-12", "groups": {"company": "acme"},
                   "group_properties": {"$set": {"employees": 250}}}),
            EventContext::default(),
            &caps(),
        )
        .unwrap();
        assert_eq!(g.kind, Kind::Group);
        assert_eq!(
            g.ids.group,
            Some(GroupRef {
                key: "company".into(),
                id: json!("acme")
            })
        );
        assert_eq!(g.operations, vec![("$set".to_owned(), json!({"employees": 250}))]);

        // plain user properties mean $set, and remember they were plain
        let p = decode_event(
            json!({"event_type": "$identify", "user_id": "user-1", "user_properties": {"plan": "pro"}}),
            EventContext::default(),
            &caps(),
        )
        .unwrap();
        assert_eq!(p.operations, vec![("$set".to_owned(), json!({"plan": "pro"}))]);
        assert_eq!(
            p.envelope.unwrap().fields.get(PLAIN_PROPERTIES),
            Some(&Value::Bool(true))
        );
    }

    #[test]
    fn record_errors_name_the_field_not_the_value() {
        let cx = EventContext::default();
        let deep = (0..caps().max_depth + 1).fold(json!(1), |v, _| json!({ "a": v }));
        let wide: Map<String, Value> = (0..=caps().max_properties)
            .map(|i| (format!("p{i}"), json!(i)))
            .collect();
        let long = "x".repeat(caps().max_string_bytes + 1);
        let cases: Vec<(Value, Reject, &str)> = vec![
            (json!("nope"), Reject::WrongType, "event"),
            (json!({"user_id": "user-1"}), Reject::MissingField, "event_type"),
            (
                json!({"event_type": "", "user_id": "user-1"}),
                Reject::MissingField,
                "event_type",
            ),
            (
                json!({"event_type": 5, "user_id": "user-1"}),
                Reject::WrongType,
                "event_type",
            ),
            (json!({"event_type": "a"}), Reject::MissingField, "user_id"),
            (
                json!({"event_type": "a", "user_id": "abc"}),
                Reject::WrongType,
                "user_id",
            ),
            (
                json!({"event_type": "a", "device_id": "lmy47d"}),
                Reject::WrongType,
                "device_id",
            ),
            (
                json!({"event_type": "a", "user_id": "Anonymous"}),
                Reject::WrongType,
                "user_id",
            ),
            (
                json!({"event_type": "a", "user_id": "-1"}),
                Reject::WrongType,
                "user_id",
            ),
            (
                json!({"event_type": "a", "device_id": "00000000-0000-0000-0000-000000000000"}),
                Reject::WrongType,
                "device_id",
            ),
            (
                json!({"event_type": "a", "user_id": 12345}),
                Reject::WrongType,
                "user_id",
            ),
            (
                json!({"event_type": "a", "user_id": "user-1", "time": "2024-01-01T00:00:00Z"}),
                Reject::BadTime,
                "time",
            ),
            (
                json!({"event_type": "a", "user_id": "user-1", "time": 1.5}),
                Reject::BadTime,
                "time",
            ),
            (
                json!({"event_type": "a", "user_id": "user-1", "time": -1}),
                Reject::BadTime,
                "time",
            ),
            (
                json!({"event_type": "a", "user_id": "user-1", "insert_id": 7}),
                Reject::BadInsertId,
                "insert_id",
            ),
            (
                json!({"event_type": "a", "user_id": "user-1", "event_properties": [1]}),
                Reject::WrongType,
                "event_properties",
            ),
            (
                json!({"event_type": "a", "user_id": "user-1", "ip": 1}),
                Reject::WrongType,
                "ip",
            ),
            (
                json!({"event_type": "a", "user_id": "user-1", "user_properties": "x"}),
                Reject::WrongType,
                "user_properties",
            ),
            (
                json!({"event_type": "$identify", "user_id": "user-1"}),
                Reject::MissingField,
                "user_properties",
            ),
            (
                json!({"event_type": "$identify", "user_id": "user-1", "user_properties": {"$set": 1}}),
                Reject::WrongType,
                "user_properties",
            ),
            (
                json!({"event_type": "$groupidentify", "user_id": "user-1", "group_properties": {"$set": {}}}),
                Reject::MissingField,
                "groups",
            ),
            (
                json!({"event_type": "$groupidentify", "user_id": "user-1", "groups": {"a": "x", "b": "y"},
                       "group_properties": {"$set": {}}}),
                Reject::MissingField,
                "groups",
            ),
            (
                json!({"event_type": "$groupidentify", "user_id": "user-1", "groups": {"a": "x"}}),
                Reject::MissingField,
                "group_properties",
            ),
            (
                json!({"event_type": "a", "user_id": "user-1", "event_properties": {"deep": deep.clone()}}),
                Reject::TooDeep,
                "event_properties",
            ),
            (
                json!({"event_type": "a", "user_id": "user-1", "event_properties": wide}),
                Reject::TooManyProperties,
                "event_properties",
            ),
            (
                json!({"event_type": "a", "user_id": "user-1", "library": long}),
                Reject::StringTooLong,
                "event",
            ),
            (
                json!({"event_type": "$identify", "user_id": "user-1", "user_properties": {"$set": {"a": deep}}}),
                Reject::TooDeep,
                "user_properties",
            ),
        ];
        for (event, reason, field) in cases {
            let text = event.to_string();
            let e = decode_event(event, cx, &caps()).unwrap_err();
            assert_eq!((e.reason, e.field), (reason, field), "{text}");
        }
        // min_id_length from the request's options
        let short = EventContext {
            min_id_length: 2,
            client_ip: None,
        };
        assert!(decode_event(json!({"event_type": "a", "user_id": "ab"}), short, &caps()).is_ok());
        let e = decode_event(json!({"event_type": "a", "user_id": "abcd"}), cx, &caps()).unwrap_err();
        assert_eq!(e.message, ID_TOO_SHORT);
        // an error never carries the value
        let e = decode_event(
            json!({"event_type": "a", "user_id": "secret@example.com", "time": "secret@example.com"}),
            cx,
            &caps(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("secret"));
    }
}
