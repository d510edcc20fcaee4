//! Canonical events → Mixpanel records and request bodies.
//!
//! [`encode_record`] is the inverse of [`decode_record`](super::decode::decode_record): with
//! the same token, `encode(decode(r))` equals `r` field for field (numeric ids become strings,
//! as Mixpanel itself stores them). The token is always the destination's real project token.

use serde_json::{Map, Value};

use super::Endpoint;
use crate::event::{Event, Kind};

/// The endpoint a record of this kind is delivered to.
pub fn endpoint_for(kind: Kind, use_import: bool) -> Endpoint {
    match kind {
        Kind::Track if use_import => Endpoint::Import,
        Kind::Track => Endpoint::Track,
        Kind::Profile => Endpoint::Engage,
        Kind::Group => Endpoint::Groups,
    }
}

/// Encodes one event as the Mixpanel record for its endpoint.
pub fn encode_record(event: &Event, token: &str) -> Value {
    into_record(event.clone(), token)
}

/// [`encode_record`] for an event the caller no longer needs: its strings and properties
/// move into the record instead of being copied. The result is the same, key order included.
pub fn into_record(event: Event, token: &str) -> Value {
    match event.kind {
        Kind::Track => into_track(event, token),
        Kind::Profile | Kind::Group => into_update(event, token),
    }
}

/// The fields the canonical event lifted out of the properties go back after the ones it
/// left there, so the parsed map moves into the record instead of being rebuilt.
fn into_track(e: Event, token: &str) -> Value {
    let ip = ip_value(&e);
    let mut props = e.properties;
    props.insert("token".into(), Value::String(token.to_owned()));
    if let Some(t) = e.time {
        props.insert("time".into(), Value::Number(t.0));
    }
    if let Some(d) = e.ids.distinct_id {
        props.insert("distinct_id".into(), Value::String(d));
    }
    if let Some(d) = e.ids.device_id {
        props.insert("$device_id".into(), Value::String(d));
    }
    if let Some(u) = e.ids.user_id {
        props.insert("$user_id".into(), Value::String(u));
    }
    if let Some(i) = e.insert_id {
        props.insert("$insert_id".into(), Value::String(mixpanel_insert_id(i)));
    }
    if let Some(ip) = ip {
        props.insert("ip".into(), ip);
    }
    let mut rec = Map::with_capacity(2);
    rec.insert("event".into(), Value::String(e.name.unwrap_or_default()));
    rec.insert("properties".into(), Value::Object(props));
    Value::Object(rec)
}

fn into_update(e: Event, token: &str) -> Value {
    let ip = ip_value(&e);
    let mut rec = Map::with_capacity(e.properties.len() + e.operations.len() + 6);
    rec.insert("$token".into(), Value::String(token.to_owned()));
    if let Some(g) = e.ids.group {
        rec.insert("$group_key".into(), Value::String(g.key));
        rec.insert("$group_id".into(), g.id);
    }
    if let Some(d) = e.ids.distinct_id {
        rec.insert("$distinct_id".into(), Value::String(d));
    }
    if let Some(d) = e.ids.device_id {
        rec.insert("$device_id".into(), Value::String(d));
    }
    if let Some(u) = e.ids.user_id {
        rec.insert("$user_id".into(), Value::String(u));
    }
    if let Some(t) = e.time {
        rec.insert("$time".into(), Value::Number(t.0));
    }
    if let Some(ip) = ip {
        rec.insert("$ip".into(), ip);
    }
    for (k, v) in e.properties {
        rec.insert(k, v);
    }
    for (op, v) in e.operations {
        rec.insert(op, v);
    }
    Value::Object(rec)
}

/// The IP the vendor may geolocate from: one the SDK put in the record, else the connecting
/// client's address when the SDK asked for geolocation (and the policy kept it).
pub(crate) fn ip_value(e: &Event) -> Option<Value> {
    e.context
        .ip
        .clone()
        .or_else(|| e.context.client_ip.map(|ip| Value::String(ip.to_string())))
}

/// An idempotency key as Mixpanel takes it (at most 36 bytes of `[A-Za-z0-9-]`): a valid
/// one byte for byte; another vendor's that is not (analytics.js `ajs-next-<ms>-<uuid>`, 45
/// characters) as the first 32 hex digits of its SHA-256 — stable, so every retry and every
/// copy of the event carries the same one.
pub fn mixpanel_insert_id(id: String) -> String {
    use sha2::Digest as _;
    if super::decode::valid_insert_id(&id) {
        return id;
    }
    let digest = sha2::Sha256::digest(id.as_bytes());
    let mut out = String::with_capacity(32);
    for b in &digest[..16] {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// Puts the destination's real project token into a record the policy let through, and an
/// empty `distinct_id` where `/import` needs one and the event had none.
pub fn finish_record(record: &mut Value, kind: Kind, token: &str, uses_import: bool) {
    let target = match kind {
        Kind::Track => record.get_mut("properties").and_then(Value::as_object_mut),
        Kind::Profile | Kind::Group => record.as_object_mut(),
    };
    let Some(map) = target else { return };
    match kind {
        Kind::Track => {
            map.insert("token".into(), Value::String(token.to_owned()));
            if uses_import && !map.contains_key("distinct_id") {
                map.insert("distinct_id".into(), Value::String(String::new()));
            }
        }
        Kind::Profile | Kind::Group => {
            map.insert("$token".into(), Value::String(token.to_owned()));
        }
    }
}

/// A JSON array of already-encoded records.
pub fn json_array(records: &[&[u8]]) -> Vec<u8> {
    let len = records.iter().map(|r| r.len() + 1).sum::<usize>() + 2;
    let mut out = Vec::with_capacity(len);
    out.push(b'[');
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r);
    }
    out.push(b']');
    out
}

/// A `data=` form body (for `/track`, `/engage`, `/groups`) with `verbose=1` so the answer
/// says whether the records were taken, and `ip=0` so Mixpanel does not geolocate
/// vendorwall's own address.
pub fn form_body(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() * 3 / 2 + 24);
    out.extend_from_slice(b"data=");
    out.extend(form_urlencoded::byte_serialize(json).flat_map(str::bytes));
    out.extend_from_slice(b"&verbose=1&ip=0");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Caps;
    use crate::protocol::mixpanel::decode::decode_record;
    use serde_json::json;

    fn caps() -> Caps {
        (&crate::config::Limits::default()).into()
    }

    #[test]
    fn foreign_insert_ids_become_stable_valid_ones() {
        let own = "1a2b3c4d5e6f7g8h".to_owned();
        assert_eq!(mixpanel_insert_id(own.clone()), own);
        let segment = "ajs-next-1765000000000-0f8e2b7c-3a5d-4e1f-9b2a-6c7d8e9f0a1b".to_owned();
        let mapped = mixpanel_insert_id(segment.clone());
        assert!(crate::protocol::mixpanel::decode::valid_insert_id(&mapped), "{mapped}");
        assert_eq!(mapped.len(), 32);
        assert_eq!(mapped, mixpanel_insert_id(segment));
        assert_ne!(mapped, mixpanel_insert_id("node-next-1-x".into()));
    }

    #[test]
    fn round_trips_each_kind() {
        let cases = vec![
            (
                Endpoint::Track,
                json!({"event": "Signup", "properties": {"token": "t", "distinct_id": "u", "$device_id": "d",
                "time": 1700000000.123, "$insert_id": "a-1", "ip": "1.2.3.4", "nested": {"a": [1, {"b": null}]}, "s": "Zürich"}}),
            ),
            (
                Endpoint::Engage,
                json!({"$token": "t", "$distinct_id": "u", "$time": 17e11, "$ip": "0", "$ignore_time": true,
                "$set": {"plan": "pro"}, "$unset": ["a"], "$delete": "u"}),
            ),
            (
                Endpoint::Groups,
                json!({"$token": "t", "$group_key": "company", "$group_id": "acme", "$set_once": {"n": 1}}),
            ),
        ];
        for (ep, rec) in cases {
            let d = decode_record(ep, rec.clone(), &caps()).unwrap();
            assert_eq!(encode_record(&d.event, "t"), rec);
        }
    }

    #[test]
    fn replaces_the_token_and_forwards_a_kept_client_ip() {
        let mut d = decode_record(
            Endpoint::Track,
            json!({"event": "a", "properties": {"token": "app"}}),
            &caps(),
        )
        .unwrap();
        d.event.context.client_ip = Some("203.0.113.9".parse().unwrap());
        assert_eq!(
            encode_record(&d.event, "real"),
            json!({"event": "a", "properties": {"token": "real", "ip": "203.0.113.9"}})
        );
    }

    #[test]
    fn bodies() {
        assert_eq!(json_array(&[b"{}", b"[1]"]), b"[{},[1]]");
        assert_eq!(json_array(&[]), b"[]");
        let form = String::from_utf8(form_body(br#"[{"a":"b c&"}]"#)).unwrap();
        let parsed: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes()).into_owned().collect();
        assert_eq!(parsed[0], ("data".into(), r#"[{"a":"b c&"}]"#.into()));
        assert_eq!(parsed[1], ("verbose".into(), "1".into()));
        assert_eq!(parsed[2], ("ip".into(), "0".into()));
        let gz = crate::protocol::wire::gzip(b"hello");
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out).unwrap();
        assert_eq!(out, "hello");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::event::Caps;
    use crate::protocol::mixpanel::decode::{RawRequest, RequestLimits, decode_record, decode_request};
    use base64::Engine;
    use proptest::prelude::*;
    use serde_json::{Map, json};

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
                        "$device_id",
                        "$user_id",
                        "time",
                        "$insert_id",
                        "ip",
                    ]
                    .contains(&k.as_str())
                })
                .collect()
        })
    }

    fn track() -> impl Strategy<Value = Value> {
        (
            "\\PC{1,20}",
            props(),
            proptest::option::of("\\PC{1,20}"),
            proptest::option::of("[A-Za-z0-9-]{1,36}"),
            proptest::option::of(1_000_000_000u64..2_000_000_000_000),
            proptest::option::of("[0-9a-f.:]{3,20}"),
        )
            .prop_map(|(name, mut p, distinct, insert, time, ip)| {
                p.insert("token".into(), json!("tok"));
                if let Some(d) = distinct {
                    p.insert("distinct_id".into(), json!(d));
                }
                if let Some(i) = insert {
                    p.insert("$insert_id".into(), json!(i));
                }
                if let Some(t) = time {
                    p.insert("time".into(), json!(t));
                }
                if let Some(ip) = ip {
                    p.insert("ip".into(), json!(ip));
                }
                json!({"event": name, "properties": p})
            })
    }

    fn engage() -> impl Strategy<Value = Value> {
        (
            "\\PC{1,20}",
            props(),
            prop::collection::vec("[a-z]{1,6}", 0..3),
            any::<bool>(),
        )
            .prop_map(|(id, set, unset, delete)| {
                let mut r = json!({"$token": "tok", "$distinct_id": id, "$set": set});
                if !unset.is_empty() {
                    r["$unset"] = json!(unset);
                }
                if delete {
                    r["$delete"] = json!("");
                }
                r
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// decode → canonical → encode gives back every field of an event.
        #[test]
        fn track_round_trips(rec in track()) {
            let d = decode_record(Endpoint::Track, rec.clone(), &caps()).unwrap();
            prop_assert_eq!(encode_record(&d.event, "tok"), rec);
        }

        #[test]
        fn engage_round_trips(rec in engage()) {
            let d = decode_record(Endpoint::Engage, rec.clone(), &caps()).unwrap();
            prop_assert_eq!(encode_record(&d.event, "tok"), rec);
        }

        /// The same batch through the base64 form body the browser sends decodes unchanged.
        #[test]
        fn browser_batches_decode_losslessly(recs in prop::collection::vec(track(), 1..5)) {
            let data = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&recs).unwrap());
            let body = format!("data={}", form_urlencoded::byte_serialize(data.as_bytes()).collect::<String>());
            let raw = RawRequest { query: "verbose=1", content_type: Some("application/x-www-form-urlencoded"), content_encoding: None, body: body.as_bytes() };
            let inbound = decode_request(raw, RequestLimits::new(1 << 20, 2000, 255)).unwrap();
            let back: Vec<Value> = inbound.records.into_iter().map(|r| r.unwrap()).collect();
            prop_assert_eq!(back, recs);
        }

        /// Arbitrary bytes, queries and headers never panic the decoder.
        #[test]
        fn malformed_requests_never_panic(
            query in "\\PC{0,64}",
            body in prop::collection::vec(any::<u8>(), 0..512),
            ct in proptest::option::of(prop_oneof![Just("application/json"), Just("text/plain"), Just("application/x-www-form-urlencoded")]),
            ce in proptest::option::of(prop_oneof![Just("gzip"), Just("deflate"), Just("br")]),
        ) {
            let raw = RawRequest { query: &query, content_type: ct, content_encoding: ce, body: &body };
            if let Ok(inbound) = decode_request(raw, RequestLimits::new(1 << 16, 100, 255)) {
                for r in inbound.records.into_iter().flatten() {
                    for ep in [Endpoint::Track, Endpoint::Engage, Endpoint::Groups, Endpoint::Import] {
                        let _ = decode_record(ep, r.clone(), &caps());
                    }
                }
            }
        }

        /// Any JSON value as a record is either decoded or refused, never a panic.
        #[test]
        fn arbitrary_records_never_panic(v in value()) {
            for ep in [Endpoint::Track, Endpoint::Engage, Endpoint::Groups, Endpoint::Import] {
                let _ = decode_record(ep, v.clone(), &caps());
                let _ = decode_record(ep, json!({"event": "x", "properties": v.clone()}), &caps());
            }
        }
    }
}
