//! Canonical events → Amplitude events, delivery requests, and the envelope lifted for
//! other vendors.
//!
//! [`into_record`] is the inverse of [`decode_event`](super::decode::decode_event): an event
//! decoded from an Amplitude SDK encodes back field for field (key order aside): ids, `time`
//! and `insert_id` byte for byte, operations under Amplitude's names, plain
//! `user_properties` plain again, the envelope verbatim. Two deliberate exceptions:
//! `ip: "$remote"` becomes the client's own address (or nothing, if the policy dropped it),
//! never `$remote`, which would make Amplitude geolocate vendorwall; and `$unset` values are
//! always `"-"` (Amplitude ignores them).
//!
//! Events of another vendor (their envelope already lifted into canonical properties) are
//! written the way Amplitude's own SDKs would have sent them:
//!
//! - ids: `user_id` = the event's `user_id`, else its `distinct_id` unless that is the device
//!   id (or Mixpanel's `$device:<device id>`); `device_id` = the device id;
//! - `time` in integer milliseconds; `insert_id` byte for byte;
//! - canonical device and location properties move to Amplitude's top-level fields
//!   ([`TOP_LEVEL`]: `$os` → `os_name`, `$city` → `city`, `$latitude` → `location_lat`, …;
//!   `$lib` and `$lib_version` → `library` = `lib/version`; `$groups` → `groups`) when their
//!   type is the one Amplitude takes; page properties take the browser SDK's names
//!   (`$current_url` → `[Amplitude] Page Location`, `$title` → `[Amplitude] Page Title`,
//!   `$pathname` → `[Amplitude] Page Path`, `$screen_name` → `[Amplitude] Screen Name`);
//!   everything else stays in `event_properties`;
//! - `$pageview` is sent as `[Amplitude] Page Viewed` and `$screen` as
//!   `[Amplitude] Screen Viewed`, the browser and mobile SDKs' names, so Amplitude's page and
//!   screen charts count them;
//! - profile updates become `$identify` with `user_properties` operations, group updates
//!   `$groupidentify` with `groups` and `group_properties`; operation names go back to
//!   Amplitude's (`$set_once` → `$setOnce`, `$union` → `$postInsert`, `$unset [names]` →
//!   `$unset {name: "-"}`); an operation Amplitude has no counterpart for (Mixpanel's
//!   `$delete`) is not applied: it is kept under its own name in the event's
//!   `event_properties`, and counted as untranslated ([`untranslatable`]);
//! - Amplitude's HTTP API has no alias call: `$create_alias` is sent as an ordinary event of
//!   that name (its `alias` property kept), and counted as untranslated; an ordinary event
//!   named `$identify` or `$groupidentify` (Mixpanel's identity-merge event) would be read as
//!   a profile update, so it is renamed `[vendorwall] $identify` (…) and counted too.
//!
//! The IP: only an address the policy left in place is written (`ip`); otherwise `ip` is
//! absent, so Amplitude does not geolocate the gateway (it reads the connecting address only
//! for `$remote`, which is never sent).

use serde_json::{Map, Number, Value};

use super::decode::PLAIN_PROPERTIES;
use crate::event::{Event, Kind};
use crate::vendor::Vendor;

/// Canonical properties (of events from other vendors) and the top-level field Amplitude
/// reads them from, with the JSON type it takes.
pub const TOP_LEVEL: [(&str, &str, Type); 14] = [
    ("$os", "os_name", Type::String),
    ("$os_version", "os_version", Type::String),
    ("$device_model", "device_model", Type::String),
    ("$manufacturer", "device_manufacturer", Type::String),
    ("$carrier", "carrier", Type::String),
    ("$city", "city", Type::String),
    ("$region", "region", Type::String),
    ("$country_code", "country", Type::String),
    ("$language", "language", Type::String),
    ("$app_version", "app_version", Type::String),
    ("$user_agent", "user_agent", Type::String),
    ("$session_id", "session_id", Type::Integer),
    ("$latitude", "location_lat", Type::Number),
    ("$longitude", "location_lng", Type::Number),
];

/// Canonical page and screen properties and the names Amplitude's SDKs give them.
pub const PAGE_PROPERTIES: [(&str, &str); 4] = [
    ("$current_url", "[Amplitude] Page Location"),
    ("$title", "[Amplitude] Page Title"),
    ("$pathname", "[Amplitude] Page Path"),
    ("$screen_name", "[Amplitude] Screen Name"),
];

/// Canonical event names and Amplitude's.
pub const EVENT_NAMES: [(&str, &str); 2] = [
    ("$pageview", "[Amplitude] Page Viewed"),
    ("$screen", "[Amplitude] Screen Viewed"),
];

/// The JSON type a top-level field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Integer,
    Number,
}

impl Type {
    fn fits(self, v: &Value) -> bool {
        match self {
            Type::String => v.is_string(),
            Type::Integer => v.is_i64(),
            Type::Number => v.is_number(),
        }
    }
}

/// Canonical operations and Amplitude's names; the canonical `$unset` is a list of names.
const OPERATION_NAMES: [(&str, &str); 10] = [
    ("$set", "$set"),
    ("$set_once", "$setOnce"),
    ("$add", "$add"),
    ("$append", "$append"),
    ("$prepend", "$prepend"),
    ("$preInsert", "$preInsert"),
    ("$union", "$postInsert"),
    ("$remove", "$remove"),
    ("$unset", "$unset"),
    ("$clearAll", "$clearAll"),
];

/// Event names Amplitude reserves for profile and group updates: an ordinary event of
/// another vendor with one of them is renamed.
const RESERVED_NAMES: [&str; 2] = ["$identify", "$groupidentify"];
const RENAMED_PREFIX: &str = "[vendorwall] ";

fn amplitude_operation(op: &str) -> Option<&'static str> {
    OPERATION_NAMES.iter().find(|(c, _)| *c == op).map(|(_, a)| *a)
}

/// How many parts of `event` (of another vendor, already lifted) Amplitude has no place for:
/// operations it lacks, an alias, a renamed reserved name. 0 for Amplitude's own events.
pub fn untranslatable(event: &Event) -> usize {
    if event.envelope.as_ref().is_some_and(|e| e.vendor == Vendor::Amplitude) {
        return 0;
    }
    let ops = match event.kind {
        Kind::Track => 0,
        Kind::Profile | Kind::Group => event
            .operations
            .iter()
            .filter(|(op, _)| amplitude_operation(op).is_none())
            .count(),
    };
    let name = match (event.kind, event.name.as_deref()) {
        (Kind::Track, Some(n)) if n == "$create_alias" || RESERVED_NAMES.contains(&n) => 1,
        _ => 0,
    };
    ops + name
}

/// Encodes one event as an Amplitude event (without the destination's key: the key is the
/// request's, see [`request_body`]).
pub fn into_record(e: Event) -> Value {
    let own = e.envelope.as_ref().is_some_and(|env| env.vendor == Vendor::Amplitude);
    let mut rec = Map::with_capacity(12);
    let name = match e.kind {
        Kind::Profile => "$identify".to_owned(),
        Kind::Group => "$groupidentify".to_owned(),
        Kind::Track => {
            let name = e.name.unwrap_or_default();
            if own {
                name
            } else if let Some((_, amp)) = EVENT_NAMES.iter().find(|(c, _)| *c == name) {
                (*amp).to_owned()
            } else if RESERVED_NAMES.contains(&name.as_str()) {
                format!("{RENAMED_PREFIX}{name}")
            } else {
                name
            }
        }
    };
    rec.insert("event_type".into(), Value::String(name));

    let ids = e.ids;
    let user_id = if own {
        ids.user_id
    } else {
        ids.user_id.or_else(|| {
            ids.distinct_id.clone().filter(|d| match ids.device_id.as_deref() {
                Some(dev) => d != dev && d.strip_prefix("$device:") != Some(dev),
                None => true,
            })
        })
    };
    if let Some(u) = user_id {
        rec.insert("user_id".into(), Value::String(u));
    }
    if let Some(d) = ids.device_id {
        rec.insert("device_id".into(), Value::String(d));
    }
    if let Some(t) = e.time {
        let n = if own {
            t.0
        } else {
            match t.millis() {
                Some(ms) => Number::from(ms),
                None => t.0,
            }
        };
        rec.insert("time".into(), Value::Number(n));
    }
    if let Some(i) = e.insert_id {
        rec.insert("insert_id".into(), Value::String(i));
    }
    // Only a real address: never `$remote`, never Mixpanel's "0" (no geolocation).
    let ip = e
        .context
        .ip
        .and_then(|v| match v {
            Value::String(s) if s.parse::<std::net::IpAddr>().is_ok() => Some(s),
            _ => None,
        })
        .or_else(|| e.context.client_ip.map(|ip| ip.to_string()));
    if let Some(ip) = ip {
        rec.insert("ip".into(), Value::String(ip));
    }

    let mut props = e.properties;
    if !own {
        for (canonical, field, ty) in TOP_LEVEL {
            if props.get(canonical).is_some_and(|v| ty.fits(v))
                && let Some(v) = props.shift_remove(canonical)
            {
                rec.insert(field.into(), v);
            }
        }
        if props.get("$lib").is_some_and(Value::is_string) {
            let lib = props.shift_remove("$lib").and_then(|v| v.as_str().map(str::to_owned));
            let version = match props.get("$lib_version") {
                Some(Value::String(_)) => props
                    .shift_remove("$lib_version")
                    .and_then(|v| v.as_str().map(str::to_owned)),
                _ => None,
            };
            let library = match (lib, version) {
                (Some(l), Some(v)) => format!("{l}/{v}"),
                (Some(l), None) => l,
                (None, _) => String::new(),
            };
            rec.insert("library".into(), Value::String(library));
        }
        if e.kind != Kind::Group
            && props.get("$groups").is_some_and(Value::is_object)
            && let Some(g) = props.shift_remove("$groups")
        {
            rec.insert("groups".into(), g);
        }
        for (canonical, amp) in PAGE_PROPERTIES {
            if !props.contains_key(amp)
                && let Some(v) = props.shift_remove(canonical)
            {
                props.insert(amp.to_owned(), v);
            }
        }
    }

    let mut envelope = e.envelope.map(|env| env.fields).unwrap_or_default();
    let plain = envelope.shift_remove(PLAIN_PROPERTIES).is_some();
    match e.kind {
        Kind::Track => {
            if !props.is_empty() {
                rec.insert("event_properties".into(), Value::Object(props));
            }
        }
        Kind::Profile | Kind::Group => {
            let (ops, untranslated) = operations(e.operations, plain && own);
            props.extend(untranslated);
            if !props.is_empty() {
                rec.insert("event_properties".into(), Value::Object(props));
            }
            if let Some(g) = ids.group {
                let mut groups = Map::with_capacity(1);
                groups.insert(g.key, g.id);
                rec.insert("groups".into(), Value::Object(groups));
            }
            let container = if e.kind == Kind::Profile {
                "user_properties"
            } else {
                "group_properties"
            };
            rec.insert(container.into(), Value::Object(ops));
        }
    }
    for (k, v) in envelope {
        rec.entry(k).or_insert(v);
    }
    Value::Object(rec)
}

/// Canonical operations → Amplitude's `user_properties`/`group_properties`, and the
/// operations Amplitude has no counterpart for (under their own names).
fn operations(ops: Vec<(String, Value)>, plain: bool) -> (Map<String, Value>, Map<String, Value>) {
    let mut out = Map::with_capacity(ops.len());
    let mut untranslated = Map::new();
    if plain && ops.len() == 1 && ops[0].0 == "$set" {
        if let Some((_, Value::Object(m))) = ops.into_iter().next() {
            return (m, untranslated);
        }
        return (out, untranslated);
    }
    for (op, v) in ops {
        let Some(name) = amplitude_operation(&op) else {
            untranslated.insert(op, v);
            continue;
        };
        let v = match (name, v) {
            ("$unset", Value::Array(names)) => Value::Object(
                names
                    .into_iter()
                    .filter_map(|n| match n {
                        Value::String(s) => Some((s, Value::String("-".into()))),
                        _ => None,
                    })
                    .collect(),
            ),
            (_, v) => v,
        };
        match (out.get_mut(name), v) {
            (Some(Value::Object(existing)), Value::Object(m)) => existing.extend(m),
            (_, v) => {
                out.insert(name.to_owned(), v);
            }
        }
    }
    (out, untranslated)
}

/// Lifts an Amplitude envelope into canonical properties for a destination of another
/// vendor (see the folder's `mod.rs` for the table); returns how many fields had no
/// canonical name. Those keep Amplitude's name prefixed with `amplitude_` (`platform` →
/// `amplitude_platform`, `idfa` → `amplitude_idfa`); a country that is not a two-letter code
/// becomes `$country` (no vendor has a canonical name for a country's name), also counted.
/// A property the app set itself is never overwritten: the envelope's value then takes the
/// prefixed name. The browser SDK's page properties take their canonical names
/// (`[Amplitude] Page Location` → `$current_url`, …) where those are free.
pub fn lift_envelope(event: &mut Event) -> usize {
    let Some(env) = event.envelope.take_if(|e| e.vendor == Vendor::Amplitude) else {
        return 0;
    };
    let props = &mut event.properties;
    let mut untranslated = 0;
    for (k, v) in env.fields {
        if k == PLAIN_PROPERTIES {
            continue;
        }
        let mut put = |name: String, v: Value, counted: bool, props: &mut Map<String, Value>| {
            if props.contains_key(&name) {
                untranslated += 1;
                let prefixed = format!("amplitude_{k}");
                props.entry(prefixed).or_insert(v);
            } else {
                untranslated += usize::from(counted);
                props.insert(name, v);
            }
        };
        let canonical = match k.as_str() {
            "library" => {
                if let Value::String(s) = &v
                    && let Some((lib, version)) = s.rsplit_once('/')
                    && !props.contains_key("$lib")
                    && !props.contains_key("$lib_version")
                {
                    props.insert("$lib".into(), Value::String(lib.to_owned()));
                    props.insert("$lib_version".into(), Value::String(version.to_owned()));
                    continue;
                }
                Some("$lib")
            }
            "country" => {
                let code = v
                    .as_str()
                    .is_some_and(|s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()));
                if !code {
                    put("$country".into(), v, true, props);
                    continue;
                }
                Some("$country_code")
            }
            "groups" => Some("$groups"),
            other => TOP_LEVEL.iter().find(|(_, f, _)| *f == other).map(|(c, _, _)| *c),
        };
        match canonical {
            Some(c) => put(c.to_owned(), v, false, props),
            None => put(format!("amplitude_{k}"), v, true, props),
        }
    }
    for (canonical, amp) in PAGE_PROPERTIES {
        if !props.contains_key(canonical)
            && let Some(v) = props.shift_remove(amp)
        {
            props.insert(canonical.to_owned(), v);
        }
    }
    untranslated
}

/// The subject id Amplitude knows: `user_id`, else `device_id`.
pub fn vendor_id(record: &Value) -> Option<String> {
    ["user_id", "device_id"]
        .iter()
        .find_map(|k| record.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .map(str::to_owned)
}

/// The shortest `user_id` or `device_id` among encoded records, if shorter than Amplitude's
/// default minimum (ids vendorwall accepted from a source whose `options.min_id_length`
/// allowed them, or another vendor's short ids): the request then says so, as the SDKs do.
fn shortest_id(records: &[&[u8]]) -> Option<usize> {
    #[derive(serde::Deserialize)]
    struct Ids {
        user_id: Option<String>,
        device_id: Option<String>,
    }
    records
        .iter()
        .filter_map(|r| serde_json::from_slice::<Ids>(r).ok())
        .flat_map(|ids| [ids.user_id, ids.device_id])
        .flatten()
        .filter(|id| !id.is_empty())
        .map(|id| id.chars().count())
        .min()
        .filter(|&n| n < super::decode::DEFAULT_MIN_ID_LENGTH)
}

/// The JSON body of a delivery: `{"api_key": <the destination's key>, "events": [...]}`,
/// with `options.min_id_length` when an id is shorter than Amplitude's default.
pub fn request_body(api_key: &str, records: &[&[u8]]) -> Vec<u8> {
    let len = records.iter().map(|r| r.len() + 1).sum::<usize>() + api_key.len() + 64;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"{\"api_key\":");
    out.extend_from_slice(Value::String(api_key.to_owned()).to_string().as_bytes());
    out.extend_from_slice(b",\"events\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r);
    }
    out.push(b']');
    if let Some(n) = shortest_id(records) {
        out.extend_from_slice(format!(",\"options\":{{\"min_id_length\":{n}}}").as_bytes());
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Caps, EventTime, GroupRef};
    use crate::protocol::amplitude::decode::{EventContext, decode_event};
    use serde_json::json;

    fn caps() -> Caps {
        (&crate::config::Limits::default()).into()
    }

    fn decode(v: Value) -> Event {
        decode_event(v, EventContext::default(), &caps()).unwrap()
    }

    #[test]
    fn round_trips_each_kind() {
        let cases = vec![
            json!({"event_type": "Signup", "user_id": "user-1", "device_id": "dev-12", "time": 1_700_000_000_123i64,
                   "insert_id": "4a5e887c-8b60-48fe-92c6-bcabd3033fe3", "ip": "203.0.113.7",
                   "event_properties": {"plan": "pro", "nested": {"a": [1, {"b": null}]}, "$os": "kept"},
                   "platform": "Web", "os_name": "Linux", "session_id": 1_700_000_000_000i64, "event_id": 3,
                   "library": "amplitude-ts/2.48.1", "groups": {"company": "acme"},
                   "user_properties": {"$set": {"a": 1}}, "price": 1.5}),
            json!({"event_type": "$identify", "device_id": "dev-12", "time": 1_700_000_000_123i64,
                   "user_properties": {"$set": {"plan": "pro"}, "$setOnce": {"x": 1}, "$add": {"n": -2.5},
                   "$append": {"l": 1}, "$prepend": {"l": 0}, "$preInsert": {"t": "a"}, "$postInsert": {"t": "b"},
                   "$remove": {"t": "c"}, "$unset": {"old": "-"}, "$clearAll": "-"},
                   "groups": {"company": "acme"}}),
            json!({"event_type": "$identify", "user_id": "user-1", "user_properties": {"plan": "pro", "n": 1}}),
            json!({"event_type": "$groupidentify", "user_id": "user-1", "groups": {"company": "acme"},
                   "group_properties": {"$set": {"employees": 250}}, "library": "amplitude-python/1.3.0"}),
            json!({"event_type": "$groupidentify", "user_id": "user-1", "groups": {"org": 7},
                   "group_properties": {"name": "Acme"}}),
        ];
        for rec in cases {
            let back = into_record(decode(rec.clone()));
            assert_eq!(back, rec);
        }
    }

    #[test]
    fn remote_ip_is_never_forwarded() {
        let cx = EventContext {
            client_ip: Some("198.51.100.4".parse().unwrap()),
            ..EventContext::default()
        };
        let e = decode_event(
            json!({"event_type": "a", "device_id": "dev-12", "ip": "$remote"}),
            cx,
            &caps(),
        )
        .unwrap();
        assert_eq!(into_record(e.clone())["ip"], "198.51.100.4");
        let mut dropped = e;
        dropped.context.client_ip = None;
        assert!(into_record(dropped).get("ip").is_none());
        // a non-address ip (Mixpanel's "0") is not an address
        let mut other = Event::new(Kind::Track);
        other.name = Some("x".into());
        other.context.ip = Some(json!("0"));
        assert!(into_record(other).get("ip").is_none());
    }

    #[test]
    fn events_of_other_vendors() {
        let mut e = Event::new(Kind::Track);
        e.name = Some("$pageview".into());
        e.ids.distinct_id = Some("$device:dev-12".into());
        e.ids.device_id = Some("dev-12".into());
        e.time = Some(EventTime(Number::from_f64(1_700_000_000.5).unwrap()));
        e.insert_id = Some("abc".into());
        for (k, v) in [
            ("$os", json!("Mac OS X")),
            ("$current_url", json!("https://a.test/x")),
            ("$latitude", json!(47.37)),
            ("$session_id", json!("not a number")),
            ("$lib", json!("web")),
            ("$lib_version", json!("2.83.0")),
            ("$browser", json!("Chrome")),
            ("$groups", json!({"company": "acme"})),
        ] {
            e.properties.insert(k.into(), v);
        }
        assert_eq!(untranslatable(&e), 0);
        let r = into_record(e);
        assert_eq!(
            r,
            json!({"event_type": "[Amplitude] Page Viewed", "device_id": "dev-12", "time": 1_700_000_000_500i64,
                   "insert_id": "abc", "os_name": "Mac OS X", "location_lat": 47.37, "library": "web/2.83.0",
                   "groups": {"company": "acme"},
                   "event_properties": {"$session_id": "not a number", "$browser": "Chrome",
                                        "[Amplitude] Page Location": "https://a.test/x"}})
        );

        let mut p = Event::new(Kind::Profile);
        p.ids.distinct_id = Some("user-1".into());
        p.operations = vec![
            ("$set".into(), json!({"a": 1})),
            ("$set_once".into(), json!({"b": 2})),
            ("$unset".into(), json!(["c"])),
            ("$union".into(), json!({"t": ["x"]})),
            ("$delete".into(), json!("")),
        ];
        p.properties.insert("$ignore_time".into(), json!(true));
        assert_eq!(untranslatable(&p), 1);
        assert_eq!(
            into_record(p),
            json!({"event_type": "$identify", "user_id": "user-1",
                   "event_properties": {"$ignore_time": true, "$delete": ""},
                   "user_properties": {"$set": {"a": 1}, "$setOnce": {"b": 2}, "$unset": {"c": "-"}, "$postInsert": {"t": ["x"]}}})
        );

        let mut g = Event::new(Kind::Group);
        g.ids.group = Some(GroupRef {
            key: "company".into(),
            id: json!("acme"),
        });
        g.operations = vec![("$set".into(), json!({"size": 10}))];
        assert_eq!(
            into_record(g),
            json!({"event_type": "$groupidentify", "groups": {"company": "acme"}, "group_properties": {"$set": {"size": 10}}})
        );

        for (name, want, counted) in [
            ("$create_alias", "$create_alias", 1),
            ("$identify", "[vendorwall] $identify", 1),
            ("$screen", "[Amplitude] Screen Viewed", 0),
            ("Signup", "Signup", 0),
        ] {
            let mut t = Event::new(Kind::Track);
            t.name = Some(name.into());
            t.ids.distinct_id = Some("user-1".into());
            assert_eq!(untranslatable(&t), counted, "{name}");
            let r = into_record(t);
            assert_eq!(r["event_type"], want);
            assert_eq!(r["user_id"], "user-1");
        }
    }

    #[test]
    fn envelope_lifts_to_canonical_names() {
        let mut e = decode(json!({
            "event_type": "Feature Used", "user_id": "user-1", "device_id": "dev-12", "platform": "Web",
            "os_name": "Linux", "os_version": "6", "device_model": "X1", "device_manufacturer": "Lenovo",
            "device_brand": "Lenovo", "carrier": "Swisscom", "city": "Zürich", "region": "ZH", "country": "Switzerland",
            "dma": "x", "language": "en-US", "app_version": "1.2", "library": "amplitude-ts/2.48.1",
            "user_agent": "Mozilla/5.0", "session_id": 17, "event_id": 9, "location_lat": 47.3, "location_lng": 8.5,
            "idfa": "AAAA", "groups": {"company": "acme"}, "user_properties": {"$set": {"a": 1}},
            "event_properties": {"[Amplitude] Page Location": "http://app.test/", "[Amplitude] Page Title": "t",
                                 "plan": "pro", "$os": "app's own"}}));
        let n = lift_envelope(&mut e);
        assert!(e.envelope.is_none());
        let p = Value::Object(e.properties);
        for (k, v) in [
            ("$os_version", json!("6")),
            ("$device_model", json!("X1")),
            ("$manufacturer", json!("Lenovo")),
            ("$carrier", json!("Swisscom")),
            ("$city", json!("Zürich")),
            ("$region", json!("ZH")),
            ("$country", json!("Switzerland")),
            ("$language", json!("en-US")),
            ("$app_version", json!("1.2")),
            ("$lib", json!("amplitude-ts")),
            ("$lib_version", json!("2.48.1")),
            ("$user_agent", json!("Mozilla/5.0")),
            ("$session_id", json!(17)),
            ("$latitude", json!(47.3)),
            ("$longitude", json!(8.5)),
            ("$groups", json!({"company": "acme"})),
            ("$current_url", json!("http://app.test/")),
            ("$title", json!("t")),
            ("plan", json!("pro")),
            // the app's own $os stays; the envelope's goes under the prefixed name
            ("$os", json!("app's own")),
            ("amplitude_os_name", json!("Linux")),
            ("amplitude_platform", json!("Web")),
            ("amplitude_device_brand", json!("Lenovo")),
            ("amplitude_dma", json!("x")),
            ("amplitude_event_id", json!(9)),
            ("amplitude_idfa", json!("AAAA")),
            ("amplitude_user_properties", json!({"$set": {"a": 1}})),
        ] {
            assert_eq!(p.get(k), Some(&v), "{k} in {p}");
        }
        // platform, device_brand, dma, event_id, idfa, user_properties, os_name (clash), country name
        assert_eq!(n, 8);
        // a country code is canonical
        let mut c = decode(json!({"event_type": "a", "user_id": "user-1", "country": "CH", "library": "x"}));
        assert_eq!(lift_envelope(&mut c), 0);
        assert_eq!(c.properties.get("$country_code"), Some(&json!("CH")));
        assert_eq!(c.properties.get("$lib"), Some(&json!("x")));
        // a plain-properties marker never surfaces
        let mut p = decode(json!({"event_type": "$identify", "user_id": "user-1", "user_properties": {"a": 1}}));
        assert_eq!(lift_envelope(&mut p), 0);
        assert!(p.properties.is_empty());
    }

    #[test]
    fn request_bodies() {
        let body = request_body(
            "real-key",
            &[
                br#"{"event_type":"a","user_id":"user-1"}"#,
                br#"{"event_type":"b","device_id":"dev-12"}"#,
            ],
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"api_key": "real-key", "events": [{"event_type": "a", "user_id": "user-1"}, {"event_type": "b", "device_id": "dev-12"}]})
        );
        let body = request_body("k\"", &[br#"{"event_type":"a","user_id":"ab"}"#]);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"api_key": "k\"", "events": [{"event_type": "a", "user_id": "ab"}], "options": {"min_id_length": 2}})
        );
        assert_eq!(
            vendor_id(&json!({"user_id": "u", "device_id": "d"})).as_deref(),
            Some("u")
        );
        assert_eq!(vendor_id(&json!({"device_id": "d"})).as_deref(), Some("d"));
        assert_eq!(vendor_id(&json!({})), None);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::event::Caps;
    use crate::protocol::amplitude::decode::{EventContext, decode_event};
    use proptest::prelude::*;
    use serde_json::json;

    fn caps() -> Caps {
        (&crate::config::Limits::default()).into()
    }

    use crate::protocol::arbitrary::{leaf, value};

    fn props() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map("[a-zA-Z$_ \\[\\]]{1,12}", value(), 0..6).prop_map(|m| m.into_iter().collect())
    }

    fn id() -> impl Strategy<Value = String> {
        "[A-Za-z0-9@._-]{5,24}".prop_filter("placeholder", |s| !crate::protocol::amplitude::decode::is_invalid_id(s))
    }

    /// Envelope fields: Amplitude's device and app fields, any value.
    fn envelope() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map(
            prop_oneof![
                Just("platform"),
                Just("os_name"),
                Just("country"),
                Just("session_id"),
                Just("event_id"),
                Just("library"),
                Just("idfa"),
                Just("plan"),
                Just("location_lat"),
            ],
            leaf(),
            0..5,
        )
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn ops() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map(
            prop_oneof![
                Just("$set"),
                Just("$setOnce"),
                Just("$add"),
                Just("$append"),
                Just("$prepend"),
                Just("$preInsert"),
                Just("$postInsert"),
                Just("$remove"),
            ],
            props(),
            1..4,
        )
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), Value::Object(v))).collect())
    }

    fn event() -> impl Strategy<Value = Value> {
        (
            "\\PC{1,20}",
            proptest::option::of(id()),
            id(),
            proptest::option::of(0u64..4_000_000_000_000),
            proptest::option::of("[0-9a-f-]{1,36}"),
            props(),
            envelope(),
            prop_oneof![Just(0u8), Just(1), Just(2)],
            ops(),
            proptest::option::of(prop::collection::vec("[a-z]{1,6}", 1..3)),
        )
            .prop_map(|(name, user, device, time, insert, props, env, kind, ops, unset)| {
                let mut r = Map::new();
                let name = match kind {
                    1 => "$identify".to_owned(),
                    2 => "$groupidentify".to_owned(),
                    _ => name.trim_start_matches('$').to_owned() + "x",
                };
                r.insert("event_type".into(), json!(name));
                if let Some(u) = user {
                    r.insert("user_id".into(), json!(u));
                }
                r.insert("device_id".into(), json!(device));
                if let Some(t) = time {
                    r.insert("time".into(), json!(t));
                }
                if let Some(i) = insert {
                    r.insert("insert_id".into(), json!(i));
                }
                if !props.is_empty() {
                    r.insert("event_properties".into(), Value::Object(props));
                }
                let mut ops = ops;
                if let Some(names) = unset {
                    ops.insert(
                        "$unset".into(),
                        Value::Object(names.into_iter().map(|n| (n, json!("-"))).collect()),
                    );
                }
                match kind {
                    1 => {
                        r.insert("user_properties".into(), Value::Object(ops));
                    }
                    2 => {
                        r.insert("groups".into(), json!({"company": "acme"}));
                        r.insert("group_properties".into(), Value::Object(ops));
                    }
                    _ => {}
                }
                for (k, v) in env {
                    r.insert(k, v);
                }
                Value::Object(r)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// decode → canonical → encode gives back every field of an Amplitude event, and
        /// the insert_id byte for byte.
        #[test]
        fn amplitude_events_round_trip(rec in event()) {
            let e = decode_event(rec.clone(), EventContext::default(), &caps()).unwrap();
            prop_assert_eq!(untranslatable(&e), 0);
            let back = into_record(e);
            prop_assert_eq!(back.get("insert_id"), rec.get("insert_id"));
            prop_assert_eq!(back, rec);
        }

        /// Any JSON value as an event is decoded or refused, never a panic; whatever decodes
        /// encodes and lifts without panicking.
        #[test]
        fn arbitrary_events_never_panic(v in value(), env in envelope()) {
            let _ = decode_event(v.clone(), EventContext::default(), &caps());
            let mut m = env;
            m.insert("event_type".into(), json!("x"));
            m.insert("device_id".into(), json!("dev-12"));
            m.insert("event_properties".into(), v.clone());
            m.insert("user_properties".into(), v);
            if let Ok(mut e) = decode_event(Value::Object(m), EventContext::default(), &caps()) {
                let _ = into_record(e.clone());
                let _ = lift_envelope(&mut e);
            }
        }
    }
}
