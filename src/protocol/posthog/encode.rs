//! Canonical events → PostHog records, the `/batch/` request, the `/flags` request.
//!
//! A record is `{"event", "distinct_id", "properties", "timestamp", "uuid"}` plus, for an
//! event that came from PostHog, the top-level fields of its envelope
//! (<https://posthog.com/docs/api/capture>):
//!
//! | canonical                      | PostHog record                                                   |
//! |--------------------------------|------------------------------------------------------------------|
//! | `name`                         | `event` (a profile update of another vendor: `$set`)             |
//! | `ids.distinct_id`              | `distinct_id` (fallbacks: see [`into_record`])                   |
//! | `ids.device_id`                | `properties.$device_id` (unless already there)                   |
//! | `ids.user_id` ≠ distinct id    | `properties.$user_id` (unless already there)                     |
//! | `ids.group`                    | `properties.$group_type`, `properties.$group_key`                |
//! | `time`                         | `timestamp`, ISO 8601 UTC with milliseconds                      |
//! | `insert_id`                    | `uuid` (see [`uuid_for`])                                        |
//! | `context.ip` / `client_ip`     | `properties.$ip`                                                 |
//! | profile `$set`/`$set_once`/`$unset` | `properties.$set`/`$set_once`/`$unset`                      |
//! | group `$set` (and `$set_once`) | `properties.$group_set` of a `$groupidentify` event              |
//! | other operations (`$add`, …)   | `properties.<operation>`: PostHog has none, it keeps them as event properties |
//!
//! Events of another vendor arrive lifted to canonical property names, which are PostHog's
//! own (`$current_url`, `$os`, `$screen_width`, `$groups`, …): they stay properties.
//!
//! [`finish_record`] then makes the record one PostHog takes, since one bad event makes it
//! refuse a whole batch: a name, a non-empty `distinct_id`, and `$geoip_disable: true` unless
//! a `$ip` survived the policy (PostHog must never geolocate vendorwall's own address).

use serde_json::{Map, Value};
use sha2::Digest;

use crate::event::{Event, Kind};
use crate::incident::time::civil_from_days;

/// An event name for a record whose name the policy removed (never seen from the SDKs: every
/// vendor's events carry one).
pub const UNNAMED: &str = "$unnamed_event";

/// Encodes one event as a PostHog record.
///
/// `distinct_id` when the event has none: a group update's `$<type>_<id>` (as posthog-node
/// names a group's own person), else the device id, else the user id; failing all, the
/// record's `uuid`, with `$process_person_profile: false` so PostHog creates no person for it
/// (see [`finish_record`]).
pub fn into_record(event: Event) -> Value {
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
    let ip = context
        .ip
        .or_else(|| context.client_ip.map(|ip| Value::String(ip.to_string())));
    let name = match kind {
        Kind::Track => name.unwrap_or_else(|| UNNAMED.to_owned()),
        Kind::Profile => match name.as_deref() {
            Some("$identify" | "$set" | "$set_once") => name.unwrap_or_default(),
            _ => "$set".to_owned(),
        },
        Kind::Group => "$groupidentify".to_owned(),
    };
    let mut group_set: Option<Map<String, Value>> = None;
    if let Some(g) = &ids.group {
        properties.insert("$group_type".into(), Value::String(g.key.clone()));
        properties.insert("$group_key".into(), g.id.clone());
    }
    for (op, value) in operations {
        match (kind, op.as_str(), value) {
            (Kind::Group, "$set" | "$set_once", Value::Object(m)) => {
                let set = group_set.get_or_insert_with(Map::new);
                for (k, v) in m {
                    if op == "$set" || !set.contains_key(&k) {
                        set.insert(k, v);
                    }
                }
            }
            (_, _, value) => merge_into(&mut properties, op, value),
        }
    }
    if let Some(set) = group_set {
        properties.insert("$group_set".into(), Value::Object(set));
    }
    if let Some(ip) = ip
        && !properties.contains_key("$ip")
    {
        properties.insert("$ip".into(), ip);
    }
    if let Some(d) = &ids.device_id
        && !properties.contains_key("$device_id")
    {
        properties.insert("$device_id".into(), Value::String(d.clone()));
    }
    if let Some(u) = &ids.user_id
        && ids.distinct_id.as_ref() != Some(u)
        && !properties.contains_key("$user_id")
    {
        properties.insert("$user_id".into(), Value::String(u.clone()));
    }
    let distinct_id = ids
        .distinct_id
        .filter(|d| !d.is_empty())
        .or_else(|| {
            ids.group.as_ref().map(|g| match &g.id {
                Value::String(s) => format!("${}_{s}", g.key),
                other => format!("${}_{other}", g.key),
            })
        })
        .or(ids.device_id)
        .or(ids.user_id);
    let mut rec = Map::with_capacity(5 + envelope.as_ref().map_or(0, |e| e.fields.len()));
    rec.insert("event".into(), Value::String(name));
    if let Some(d) = distinct_id {
        rec.insert("distinct_id".into(), Value::String(d));
    }
    rec.insert("properties".into(), Value::Object(properties));
    if let Some(ms) = time.as_ref().and_then(crate::event::EventTime::millis) {
        rec.insert("timestamp".into(), Value::String(iso_ms(ms)));
    }
    if let Some(id) = insert_id {
        rec.insert("uuid".into(), Value::String(uuid_for(&id)));
    }
    if let Some(env) = envelope
        && env.vendor == crate::vendor::Vendor::PostHog
    {
        for (k, v) in env.fields {
            if !rec.contains_key(&k) {
                rec.insert(k, v);
            }
        }
    }
    Value::Object(rec)
}

/// Puts an operation's value into the properties: objects of the same operation merge
/// (a later `$set` wins), anything else replaces.
fn merge_into(properties: &mut Map<String, Value>, op: String, value: Value) {
    match (properties.get_mut(&op), value) {
        (Some(Value::Object(existing)), Value::Object(m)) => existing.extend(m),
        (_, value) => {
            properties.insert(op, value);
        }
    }
}

/// Makes a record the policy let through one PostHog accepts (one refused event fails the
/// whole batch): an event name, a non-empty string `distinct_id` (the `uuid` with
/// `$process_person_profile: false` if the policy removed it), and `$geoip_disable: true`
/// unless a `$ip` survived the policy. The key is the batch's (see [`batch_body`]), never a
/// record's: any app-side key left in a record is removed.
pub fn finish_record(record: &mut Value) {
    let Some(rec) = record.as_object_mut() else { return };
    if rec.get("event").and_then(Value::as_str).is_none_or(str::is_empty) {
        rec.insert("event".into(), Value::String(UNNAMED.into()));
    }
    rec.remove("api_key");
    rec.remove("token");
    rec.remove("$token");
    let has_id = match rec.get("distinct_id") {
        Some(Value::String(s)) => !s.trim().is_empty(),
        _ => false,
    };
    if !rec.get("properties").is_some_and(Value::is_object) {
        rec.insert("properties".into(), Value::Object(Map::new()));
    }
    let fallback = (!has_id).then(|| {
        rec.get("uuid")
            .and_then(Value::as_str)
            .map_or_else(|| "vendorwall-anonymous".to_owned(), str::to_owned)
    });
    if let Some(id) = &fallback {
        rec.insert("distinct_id".into(), Value::String(id.clone()));
    }
    let Some(Value::Object(props)) = rec.get_mut("properties") else {
        return;
    };
    props.remove("token");
    if fallback.is_some() {
        props.insert("$process_person_profile".into(), Value::Bool(false));
    }
    let has_ip = props
        .get("$ip")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty());
    if !has_ip {
        props.remove("$ip");
        props.insert("$geoip_disable".into(), Value::Bool(true));
    }
}

/// Whether `s` is a UUID in its text form (8-4-4-4-12 hex digits), as PostHog requires of
/// `uuid`.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The `uuid` for an idempotency key: a UUID byte for byte (PostHog → PostHog); 32 hex
/// digits (vendorwall's derived ids, Mixpanel python's `uuid4().hex`) hyphenated 8-4-4-4-12;
/// anything else (Segment `messageId`s, Amplitude `insert_id`s) a name-based UUID, version 5
/// style, from SHA-256 of the id: stable, so a redelivery keeps its `uuid`.
pub fn uuid_for(id: &str) -> String {
    if is_uuid(id) {
        return id.to_owned();
    }
    let hex: String = if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        id.to_ascii_lowercase()
    } else {
        let mut h = sha2::Sha256::new();
        h.update(b"vendorwall posthog uuid v1\0");
        h.update(id.as_bytes());
        let mut bytes: [u8; 16] = [0; 16];
        bytes.copy_from_slice(&h.finalize()[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x50;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso_ms(ms: i64) -> String {
    let (y, mo, d) = civil_from_days(ms.div_euclid(86_400_000));
    let rem = ms.rem_euclid(86_400_000);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// The `/batch/` body: `{"api_key": <the destination's key>, "batch": [records],
/// "sent_at": <now>}`. `sent_at` is the real send time: the records' timestamps were
/// corrected for the client's clock at receipt, and PostHog corrects them again by
/// `receipt - sent_at`, which is then only the network delay.
pub fn batch_body(key: &str, records: &[&[u8]], now_ms: i64) -> Vec<u8> {
    let key = Value::String(key.to_owned()).to_string();
    let len = records.iter().map(|r| r.len() + 1).sum::<usize>() + key.len() + 64;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"{\"api_key\":");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b",\"batch\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r);
    }
    out.extend_from_slice(b"],\"sent_at\":\"");
    out.extend_from_slice(iso_ms(now_ms).as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

/// The body of a feature-flag request from its record (see
/// [`super::decode::flags_record`]) after the policy: `token` is the destination's key,
/// `distinct_id` the (pseudonymised) one, `properties.$set` goes back to
/// `person_properties`, `$groups` to `groups`, `$group_properties` to `group_properties`.
/// Returns the body and the path (`/flags/?v=2` unless the SDK asked another version,
/// `/decide/?v=…` for `/decide`).
pub fn flags_body(key: &str, record: &Value) -> (String, Vec<u8>) {
    use super::decode::{FLAGS_ROUTE, FLAGS_VERSION};
    let route = match record.get(FLAGS_ROUTE).and_then(Value::as_str) {
        Some("decide") => "decide",
        _ => "flags",
    };
    let version = record
        .get(FLAGS_VERSION)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty() && v.len() <= 3 && v.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(if route == "decide" { "3" } else { "2" });
    let mut body = Map::new();
    body.insert("token".into(), Value::String(key.to_owned()));
    if let Some(d) = record.get("distinct_id") {
        body.insert("distinct_id".into(), d.clone());
    }
    if let Some(Value::Object(props)) = record.get("properties") {
        for (k, v) in props {
            let name = match k.as_str() {
                "$set" => "person_properties",
                "$groups" => "groups",
                "$group_properties" => "group_properties",
                "token" | "api_key" | "$token" => continue,
                other => other,
            };
            body.insert(name.to_owned(), v.clone());
        }
    }
    (
        format!("/{route}/?v={version}"),
        Value::Object(body).to_string().into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Caps, EventTime, GroupRef};
    use crate::protocol::posthog::decode::{Receipt, decode_event};
    use serde_json::json;

    fn caps() -> Caps {
        (&crate::config::Limits::default()).into()
    }

    const RECEIPT: Receipt = Receipt {
        received_at_ms: 1_800_000_000_000,
        sent_at_ms: None,
        client_ip: None,
    };

    fn round_trip(rec: Value) -> Value {
        into_record(decode_event(rec, &RECEIPT, &caps()).unwrap().event)
    }

    #[test]
    fn round_trips_each_kind() {
        let cases = vec![
            json!({"event": "Signed Up", "distinct_id": "u", "properties": {"$device_id": "d", "$ip": "203.0.113.7", "plan": "pro",
                   "nested": {"a": [1, {"b": null}]}, "$set": {"x": 1}}, "timestamp": "2026-12-07T16:12:47.713Z",
                   "uuid": "01a25147-8371-7d11-acd4-06e89f962da4", "type": "capture"}),
            json!({"event": "$identify", "distinct_id": "u", "properties": {"$set": {"email": "a@b.c"}, "$set_once": {"f": 1},
                   "$unset": ["old"], "$anon_distinct_id": "anon"}, "uuid": "01a25147-78e0-7401-b11f-fe7311faa418"}),
            json!({"event": "$groupidentify", "distinct_id": "u", "properties": {"$group_type": "company", "$group_key": "acme",
                   "$group_set": {"name": "Acme"}, "$lib": "posthog-node"}, "timestamp": "2026-12-07T16:12:47.000Z"}),
            json!({"event": "$create_alias", "distinct_id": "a", "properties": {"distinct_id": "a", "alias": "b"}}),
        ];
        for rec in cases {
            assert_eq!(round_trip(rec.clone()), rec);
        }
        // posthog-js: distinct_id and token in the properties; the record has it at the top
        assert_eq!(
            round_trip(json!({"event": "a", "properties": {"distinct_id": "u", "token": "app", "x": 1}})),
            json!({"event": "a", "distinct_id": "u", "properties": {"x": 1}})
        );
        // python: $set at the top goes into the properties, where PostHog reads it too
        assert_eq!(
            round_trip(json!({"event": "$set", "distinct_id": "u", "$set": {"a": 1}, "properties": {}})),
            json!({"event": "$set", "distinct_id": "u", "properties": {"$set": {"a": 1}}})
        );
    }

    #[test]
    fn events_of_other_vendors() {
        let mut e = Event::new(Kind::Profile);
        e.ids.distinct_id = Some("u".into());
        e.ids.device_id = Some("dev".into());
        e.ids.user_id = Some("u".into());
        e.time = Some(EventTime::from_millis(1_700_000_000_123));
        e.insert_id = Some("4b95404f39e996dd3bde1222a7d5bcdf".into());
        e.operations = vec![
            ("$set".into(), json!({"email": "a@b.c"})),
            ("$add".into(), json!({"n": 1})),
            ("$set".into(), json!({"plan": "pro"})),
        ];
        e.context.client_ip = Some("198.51.100.7".parse().unwrap());
        assert_eq!(
            into_record(e),
            json!({"event": "$set", "distinct_id": "u", "properties": {"$set": {"email": "a@b.c", "plan": "pro"}, "$add": {"n": 1},
                   "$ip": "198.51.100.7", "$device_id": "dev"},
                   "timestamp": "2023-11-14T22:13:20.123Z", "uuid": "4b95404f-39e9-96dd-3bde-1222a7d5bcdf"})
        );
        // a Mixpanel group update: no distinct_id, $set_once merged under $set
        let mut g = Event::new(Kind::Group);
        g.ids.group = Some(GroupRef {
            key: "company".into(),
            id: json!(7),
        });
        g.operations = vec![
            ("$set_once".into(), json!({"a": 1, "b": 1})),
            ("$set".into(), json!({"a": 2})),
        ];
        g.insert_id = Some("ajs-next-1700000000000-abc".into());
        let rec = into_record(g);
        assert_eq!(rec["event"], "$groupidentify");
        assert_eq!(rec["distinct_id"], "$company_7");
        assert_eq!(rec["properties"]["$group_set"], json!({"a": 2, "b": 1}));
        assert_eq!(rec["properties"]["$group_key"], json!(7));
        assert!(is_uuid(rec["uuid"].as_str().unwrap()));
        // an envelope of another vendor never reaches a PostHog record
        let mut t = Event::new(Kind::Track);
        t.name = Some("$pageview".into());
        t.envelope = Some(crate::event::Envelope {
            vendor: crate::vendor::Vendor::Segment,
            fields: json!({"context": {}}).as_object().unwrap().clone(),
        });
        assert_eq!(into_record(t), json!({"event": "$pageview", "properties": {}}));
    }

    #[test]
    fn uuids() {
        let id = "01a25147-8371-7d11-acd4-06e89f962da4";
        assert_eq!(uuid_for(id), id);
        assert_eq!(
            uuid_for("01A25147-8371-7D11-ACD4-06E89F962DA4"),
            "01A25147-8371-7D11-ACD4-06E89F962DA4"
        );
        assert_eq!(
            uuid_for("4B95404F39E996DD3BDE1222A7D5BCDF"),
            "4b95404f-39e9-96dd-3bde-1222a7d5bcdf"
        );
        let a = uuid_for("node-next-1700000000000-5d5f");
        assert!(is_uuid(&a));
        assert_eq!(&a[14..15], "5");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(a, uuid_for("node-next-1700000000000-5d5f"));
        assert_ne!(a, uuid_for("node-next-1700000000000-5d60"));
        assert!(!is_uuid("01a25147-8371-7d11-acd4-06e89f962da"));
        assert!(!is_uuid("01a25147x8371-7d11-acd4-06e89f962da4"));
    }

    #[test]
    fn finish_makes_every_record_acceptable() {
        let mut r = json!({"event": "", "properties": {"token": "app", "$ip": ""}, "uuid": "u-1", "api_key": "app"});
        finish_record(&mut r);
        assert_eq!(
            r,
            json!({"event": UNNAMED, "properties": {"$process_person_profile": false, "$geoip_disable": true}, "uuid": "u-1", "distinct_id": "u-1"})
        );
        let mut r =
            json!({"event": "a", "distinct_id": "x", "properties": {"$ip": "203.0.113.7", "$geoip_disable": false}});
        finish_record(&mut r);
        assert_eq!(r["properties"]["$geoip_disable"], json!(false));
        let mut r = json!({"event": "a", "distinct_id": "x"});
        finish_record(&mut r);
        assert_eq!(r["properties"], json!({"$geoip_disable": true}));
    }

    #[test]
    fn bodies() {
        let body = batch_body("real\"key", &[b"{\"a\":1}", b"{}"], 1_700_000_000_123);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"api_key": "real\"key", "batch": [{"a": 1}, {}], "sent_at": "2023-11-14T22:13:20.123Z"})
        );
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
        let (path, body) = flags_body(
            "real",
            &json!({"event": "x", "distinct_id": "h", "properties": {"$set": {"plan": "pro"}, "$groups": {"c": "a"},
                    "$group_properties": {"c": {}}, "$anon_distinct_id": "h2", "token": "app"},
                    "$vendorwall_flags_route": "flags", "$vendorwall_flags_version": "4"}),
        );
        assert_eq!(path, "/flags/?v=4");
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"token": "real", "distinct_id": "h", "person_properties": {"plan": "pro"}, "groups": {"c": "a"},
                   "group_properties": {"c": {}}, "$anon_distinct_id": "h2"})
        );
        let (path, _) = flags_body(
            "k",
            &json!({"$vendorwall_flags_route": "decide", "$vendorwall_flags_version": "x/y"}),
        );
        assert_eq!(path, "/decide/?v=3");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::event::Caps;
    use crate::protocol::posthog::decode::{Receipt, decode_event};
    use proptest::prelude::*;
    use serde_json::json;

    fn caps() -> Caps {
        (&crate::config::Limits::default()).into()
    }

    use crate::protocol::arbitrary::value;

    /// Custom properties: any names except the ones the model lifts out.
    fn props() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map("[a-zA-Z$_ ]{1,12}", value(), 0..8).prop_map(|m| {
            m.into_iter()
                .filter(|(k, _)| {
                    ![
                        "token",
                        "distinct_id",
                        "$ip",
                        "$set",
                        "$set_once",
                        "$unset",
                        "$group_type",
                        "$group_key",
                        "$group_set",
                        "$device_id",
                    ]
                    .contains(&k.as_str())
                })
                .collect()
        })
    }

    fn uuid() -> impl Strategy<Value = String> {
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    }

    fn event() -> impl Strategy<Value = Value> {
        (
            "\\PC{1,20}",
            "[a-z0-9]\\PC{0,19}",
            props(),
            proptest::option::of(uuid()),
            proptest::option::of(100_000_000_000i64..1_800_000_000_000),
            proptest::option::of("[0-9a-f.:]{3,20}"),
            proptest::option::of(props()),
            proptest::option::of("[a-z]{1,10}"),
        )
            .prop_map(|(name, distinct, mut p, uuid, time, ip, set, device)| {
                if let Some(ip) = ip {
                    p.insert("$ip".into(), json!(ip));
                }
                if let Some(d) = device {
                    p.insert("$device_id".into(), json!(d));
                }
                let name = if matches!(name.as_str(), "$identify" | "$set" | "$set_once" | "$groupidentify") {
                    format!("{name}!")
                } else {
                    name
                };
                let mut r = json!({"event": name, "distinct_id": distinct, "properties": p});
                if let Some(s) = set {
                    r["properties"]["$set"] = Value::Object(s);
                }
                if let Some(u) = uuid {
                    r["uuid"] = json!(u);
                }
                if let Some(t) = time {
                    r["timestamp"] = json!(iso_ms(t));
                }
                r
            })
    }

    fn identify() -> impl Strategy<Value = Value> {
        (
            "[a-z0-9]\\PC{0,19}",
            props(),
            props(),
            prop::collection::vec("[a-z]{1,6}", 0..3),
        )
            .prop_map(|(id, set, once, unset)| {
                let mut p = Map::new();
                p.insert("$set".into(), Value::Object(set));
                p.insert("$set_once".into(), Value::Object(once));
                if !unset.is_empty() {
                    p.insert("$unset".into(), json!(unset));
                }
                json!({"event": "$identify", "distinct_id": id, "properties": p})
            })
    }

    const RECEIPT: Receipt = Receipt {
        received_at_ms: 1_800_000_000_000,
        sent_at_ms: None,
        client_ip: None,
    };

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// decode → canonical → encode gives back every field of an event, its `uuid` byte
        /// for byte.
        #[test]
        fn events_round_trip(rec in event()) {
            let d = decode_event(rec.clone(), &RECEIPT, &caps()).unwrap();
            prop_assert_eq!(d.event.insert_id.as_deref(), rec.get("uuid").and_then(Value::as_str));
            prop_assert_eq!(into_record(d.event), rec);
        }

        #[test]
        fn identifies_round_trip(rec in identify()) {
            let d = decode_event(rec.clone(), &RECEIPT, &caps()).unwrap();
            prop_assert_eq!(d.event.kind, Kind::Profile);
            prop_assert_eq!(into_record(d.event), rec);
        }

        /// Any idempotency key becomes a valid, stable UUID.
        #[test]
        fn any_insert_id_becomes_a_stable_uuid(id in "\\PC{1,64}") {
            let u = uuid_for(&id);
            prop_assert!(is_uuid(&u));
            prop_assert_eq!(u, uuid_for(&id));
        }

        /// Any JSON value as an event is decoded or refused, never a panic; what decodes
        /// encodes and finishes into a record PostHog takes.
        #[test]
        fn arbitrary_events_never_panic(v in value(), p in value()) {
            for rec in [v.clone(), json!({"event": "x", "distinct_id": v.clone(), "properties": p.clone()}),
                        json!({"event": "$groupidentify", "distinct_id": "d", "properties": p.clone()}),
                        json!({"event": "$set", "distinct_id": "d", "$set": v.clone(), "properties": p.clone()})] {
                if let Ok(d) = decode_event(rec, &RECEIPT, &caps()) {
                    let mut r = into_record(d.event);
                    finish_record(&mut r);
                    prop_assert!(r["event"].as_str().is_some_and(|s| !s.is_empty()));
                    prop_assert!(r["distinct_id"].as_str().is_some_and(|s| !s.is_empty()));
                }
            }
        }
    }
}
