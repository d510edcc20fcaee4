//! The canonical event model every protocol adapter decodes into and encodes from.
//!
//! One [`Event`] is one thing an SDK asked a vendor to record: a tracked event, a profile
//! update or a group update. The model lifts what every vendor has in some form — who it is
//! about ([`SubjectIds`]), when ([`EventTime`]), the idempotency key, the client's address —
//! out of the vendor's property bag, so later stages (classification, policy, ledger) can
//! work without knowing the wire format. Everything else stays in `properties` (events) or
//! `operations` (profile and group updates) exactly as received, so encoding back to the same
//! protocol loses nothing.
//!
//! How the four vendors map onto it:
//!
//! | model            | Mixpanel                          | Segment               | PostHog                | Amplitude            |
//! |------------------|-----------------------------------|-----------------------|------------------------|----------------------|
//! | `Kind::Track`    | `/track`, `/import` event         | track, page, screen   | capture                | event                |
//! | `Kind::Profile`  | `/engage` record                  | identify              | `$set` / `$identify`   | `$identify`          |
//! | `Kind::Group`    | `/groups` record                  | group                 | `$groupidentify`       | `$groupidentify`     |
//! | `distinct_id`    | `distinct_id` / `$distinct_id`    | `userId`/`anonymousId`| `distinct_id`          | `user_id`/`device_id`|
//! | `insert_id`      | `$insert_id`                      | `messageId`           | `uuid`                 | `insert_id`          |
//! | `time`           | `time` / `$time` (s or ms)        | `timestamp` (ISO)     | `timestamp` (ISO)      | `time` (ms)          |
//! | `operations`     | `$set`, `$set_once`, `$add`, …    | `traits` as `$set`    | `$set`, `$set_once`    | `user_properties` ops|

use serde_json::{Map, Number, Value};

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Something that happened (Mixpanel `/track` and `/import`).
    Track,
    /// An update of a person's profile (Mixpanel `/engage`).
    Profile,
    /// An update of a group's profile (Mixpanel `/groups`).
    Group,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Track, Kind::Profile, Kind::Group];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Track => "track",
            Kind::Profile => "profile",
            Kind::Group => "group",
        }
    }

    pub fn code(self) -> i64 {
        match self {
            Kind::Track => 0,
            Kind::Profile => 1,
            Kind::Group => 2,
        }
    }

    pub fn from_code(code: i64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// The identifiers that say whom an event is about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubjectIds {
    /// The vendor's primary subject id (Mixpanel `distinct_id`).
    pub distinct_id: Option<String>,
    /// An anonymous device id (Mixpanel `$device_id`, Segment `anonymousId`).
    pub device_id: Option<String>,
    /// The app's own user id once known (Mixpanel `$user_id`, Segment `userId`).
    pub user_id: Option<String>,
    /// For group updates: the group key (`company`) and id (`acme`).
    pub group: Option<GroupRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupRef {
    pub key: String,
    pub id: Value,
}

/// An event time as the SDK sent it. The original number is kept so re-encoding is byte for
/// byte (vendors deduplicate on it); [`EventTime::millis`] interprets it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTime(pub Number);

impl EventTime {
    pub fn from_millis(ms: i64) -> Self {
        EventTime(Number::from(ms))
    }

    /// Milliseconds since the epoch. Mixpanel takes seconds or milliseconds; a value past
    /// year 5138 in seconds is read as milliseconds, as Mixpanel does.
    pub fn millis(&self) -> Option<i64> {
        let v = self.0.as_f64()?;
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        let ms = if v >= 1e11 { v } else { v * 1000.0 };
        (ms < 1e15).then_some(ms as i64)
    }
}

/// What the gateway knows about the request an event came in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// An IP address the SDK put into the event for geolocation (Mixpanel `ip`, `$ip`).
    pub ip: Option<Value>,
    /// The connecting client's address, if the SDK asked the vendor to geolocate from it
    /// (Mixpanel `ip=1`). The policy decides whether any of it is forwarded.
    pub client_ip: Option<std::net::IpAddr>,
}

/// One canonical event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: Kind,
    /// Event name (tracked events only).
    pub name: Option<String>,
    pub ids: SubjectIds,
    pub time: Option<EventTime>,
    /// The vendor's idempotency key, kept byte for byte.
    pub insert_id: Option<String>,
    /// Event properties; for profile and group updates, the vendor's other top-level fields.
    pub properties: Map<String, Value>,
    /// Profile and group operations in arrival order (`$set` → object, `$unset` → list …).
    pub operations: Vec<(String, Value)>,
    pub context: Context,
    /// The source vendor's fields the model does not lift, kept for a destination of the
    /// same vendor and lifted into canonical properties for any other.
    pub envelope: Option<Envelope>,
}

/// The envelope of a source vendor's record: the fields the canonical model does not lift
/// (Segment `context`, `integrations`; Amplitude `platform`, `os_name`, `session_id`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub vendor: crate::vendor::Vendor,
    pub fields: Map<String, Value>,
}

impl Event {
    pub fn new(kind: Kind) -> Self {
        Event {
            kind,
            name: None,
            ids: SubjectIds::default(),
            time: None,
            insert_id: None,
            properties: Map::new(),
            operations: Vec::new(),
            context: Context::default(),
            envelope: None,
        }
    }
}

/// Why a record was refused. The set is closed so it can label a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    BadEncoding,
    BadJson,
    WrongType,
    MissingField,
    TooDeep,
    TooManyProperties,
    StringTooLong,
    MissingToken,
    UnknownToken,
    BadInsertId,
    BadTime,
}

impl Reject {
    pub const ALL: [Reject; 11] = [
        Reject::BadEncoding,
        Reject::BadJson,
        Reject::WrongType,
        Reject::MissingField,
        Reject::TooDeep,
        Reject::TooManyProperties,
        Reject::StringTooLong,
        Reject::MissingToken,
        Reject::UnknownToken,
        Reject::BadInsertId,
        Reject::BadTime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reject::BadEncoding => "bad_encoding",
            Reject::BadJson => "bad_json",
            Reject::WrongType => "wrong_type",
            Reject::MissingField => "missing_field",
            Reject::TooDeep => "too_deep",
            Reject::TooManyProperties => "too_many_properties",
            Reject::StringTooLong => "string_too_long",
            Reject::MissingToken => "missing_token",
            Reject::UnknownToken => "unknown_token",
            Reject::BadInsertId => "bad_insert_id",
            Reject::BadTime => "bad_time",
        }
    }
}

/// A refused record: the reason, the field it concerns and a fixed message. Never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RecordError {
    pub reason: Reject,
    pub field: &'static str,
    pub message: &'static str,
}

impl RecordError {
    pub fn new(reason: Reject, field: &'static str, message: &'static str) -> Self {
        RecordError { reason, field, message }
    }
}

/// Size caps every decoded value must respect.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub max_depth: usize,
    pub max_properties: usize,
    pub max_string_bytes: usize,
}

impl From<&crate::config::Limits> for Caps {
    fn from(l: &crate::config::Limits) -> Self {
        Caps {
            max_depth: l.max_depth,
            max_properties: l.max_properties,
            max_string_bytes: l.max_string_bytes,
        }
    }
}

impl Caps {
    /// Checks a property bag: its key count, and the depth and string sizes of every value.
    pub fn check(&self, field: &'static str, map: &Map<String, Value>) -> Result<(), RecordError> {
        if map.len() > self.max_properties {
            return Err(RecordError::new(
                Reject::TooManyProperties,
                field,
                "too many properties",
            ));
        }
        for (k, v) in map {
            if k.len() > self.max_string_bytes {
                return Err(RecordError::new(Reject::StringTooLong, field, "property name too long"));
            }
            self.check_value(field, v, 1)?;
        }
        Ok(())
    }

    pub fn check_value(&self, field: &'static str, v: &Value, depth: usize) -> Result<(), RecordError> {
        if depth > self.max_depth {
            return Err(RecordError::new(Reject::TooDeep, field, "value nested too deeply"));
        }
        match v {
            Value::String(s) if s.len() > self.max_string_bytes => {
                Err(RecordError::new(Reject::StringTooLong, field, "string value too long"))
            }
            Value::Array(items) => {
                if items.len() > self.max_properties.max(2000) {
                    return Err(RecordError::new(Reject::TooManyProperties, field, "list too long"));
                }
                items.iter().try_for_each(|i| self.check_value(field, i, depth + 1))
            }
            Value::Object(m) => {
                if m.len() > self.max_properties {
                    return Err(RecordError::new(
                        Reject::TooManyProperties,
                        field,
                        "too many properties",
                    ));
                }
                m.values().try_for_each(|i| self.check_value(field, i, depth + 1))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_time_reads_seconds_and_millis() {
        let t = |v: Value| EventTime(v.as_number().unwrap().clone()).millis();
        assert_eq!(t(json!(1700000000.123)), Some(1_700_000_000_123));
        assert_eq!(t(json!(1700000000123i64)), Some(1_700_000_000_123));
        assert_eq!(t(json!(-5)), None);
    }

    #[test]
    fn caps_reject_deep_wide_and_long_values() {
        let caps = Caps {
            max_depth: 3,
            max_properties: 2,
            max_string_bytes: 4,
        };
        let deep = json!({"a": {"b": {"c": {"d": 1}}}});
        assert_eq!(
            caps.check("properties", deep.as_object().unwrap()).unwrap_err().reason,
            Reject::TooDeep
        );
        let wide = json!({"a": 1, "b": 2, "c": 3});
        assert_eq!(
            caps.check("properties", wide.as_object().unwrap()).unwrap_err().reason,
            Reject::TooManyProperties
        );
        let long = json!({"a": "12345"});
        assert_eq!(
            caps.check("properties", long.as_object().unwrap()).unwrap_err().reason,
            Reject::StringTooLong
        );
        let ok = json!({"a": {"b": "1234"}, "c": [1, 2]});
        assert!(caps.check("properties", ok.as_object().unwrap()).is_ok());
    }
}
