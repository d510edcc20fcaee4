//! Amplitude through the seam: the official SDKs' captured requests (`tests/sdk/wire/`),
//! every transport variant, answers, delivery requests and the emulator together.

use serde_json::{Value, json};

use super::*;
use crate::config::Secret;
use crate::protocol::{FailedRecord, Method, routes_for};

fn caps() -> Caps {
    (&crate::config::Limits::default()).into()
}

const LIMITS: RequestLimits = RequestLimits::new(1 << 20, 2000, 255);

const APP_KEY: &str = "amp-api-key-123";

/// A capture: its path, headers and body (see `tests/sdk/wire/README.md`).
struct Capture {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Capture {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn request(&self) -> HttpRequest<'_> {
        HttpRequest {
            method: Method::Post,
            path: &self.path,
            query: "",
            content_type: self.header("content-type"),
            content_encoding: self.header("content-encoding"),
            authorization: None,
            body: &self.body,
            client_ip: Some("198.51.100.4".parse().unwrap()),
            received_at_ms: 1_800_000_000_000,
        }
    }
}

fn capture(name: &str) -> Capture {
    let path = format!("{}/tests/sdk/wire/{name}.http", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let split = bytes.windows(2).position(|w| w == b"\n\n").unwrap();
    let head = std::str::from_utf8(&bytes[..split]).unwrap();
    let mut lines = head.lines();
    let target = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Capture {
        path: target.split('?').next().unwrap().to_owned(),
        headers,
        body: bytes[split + 2..].to_vec(),
    }
}

fn route(path: &str) -> Route {
    routes_for(path)
        .into_iter()
        .find(|(v, _)| *v == Vendor::Amplitude)
        .map(|(_, r)| r)
        .unwrap()
}

fn decode_capture(c: &Capture) -> Inbound {
    Amplitude
        .decode(route(&c.path), &c.request(), &LIMITS, &caps())
        .unwrap()
}

const CAPTURES: [&str; 6] = [
    "amplitude_python_httpapi",
    "amplitude_python_batch",
    "amplitude_node_httpapi",
    "amplitude_node_batch",
    "amplitude_browser_httpapi",
    "amplitude_browser_batch",
];

#[test]
fn every_sdk_capture_decodes_and_round_trips() {
    for name in CAPTURES {
        let c = capture(name);
        let raw: Value = serde_json::from_slice(&c.body).unwrap();
        let events = raw["events"].as_array().unwrap();
        let inbound = decode_capture(&c);
        assert_eq!(inbound.auth, Auth::Key(Some(APP_KEY.into())), "{name}");
        assert_eq!(inbound.records.len(), events.len(), "{name}");
        let browser = name.contains("browser");
        for (rec, original) in inbound.records.into_iter().zip(events) {
            let rec = rec.unwrap_or_else(|e| panic!("{name}: {e:?} {original}"));
            assert_eq!(rec.key, None);
            let e = &rec.event;
            // ids and the idempotency key byte for byte
            assert_eq!(e.insert_id.as_deref(), original["insert_id"].as_str(), "{name}");
            assert_eq!(e.ids.user_id.as_deref(), original["user_id"].as_str());
            assert_eq!(e.ids.device_id.as_deref(), original["device_id"].as_str());
            assert_eq!(
                e.ids.distinct_id.as_deref(),
                original["user_id"].as_str().or(original["device_id"].as_str())
            );
            assert_eq!(
                e.time.as_ref().map(|t| Value::Number(t.0.clone())),
                Some(original["time"].clone())
            );
            let kind = match original["event_type"].as_str() {
                Some("$identify") => Kind::Profile,
                Some("$groupidentify") => Kind::Group,
                _ => Kind::Track,
            };
            assert_eq!(e.kind, kind);
            // the browser asks Amplitude to geolocate the connection: that is the client's
            assert_eq!(original["ip"] == "$remote", browser);
            if browser {
                assert_eq!(e.context.client_ip, Some("198.51.100.4".parse().unwrap()));
            }
            // encode gives the SDK's event back, except `$remote`, which became the address
            let mut want = original.clone();
            if browser {
                want["ip"] = json!("198.51.100.4");
            }
            assert_eq!(Amplitude.encode(rec.event), want, "{name}");
        }
    }
}

#[test]
fn identify_and_group_captures_map_to_profiles_and_groups() {
    let c = capture("amplitude_node_httpapi");
    let inbound = decode_capture(&c);
    let events: Vec<Event> = inbound.records.into_iter().map(|r| r.unwrap().event).collect();
    let identify = events.iter().find(|e| e.kind == Kind::Profile).unwrap();
    let ops: Vec<&str> = identify.operations.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(ops, ["$set", "$set_once", "$add"]);
    assert_eq!(identify.operations[2].1, json!({"logins": 1, "credits": -2.5}));
    let group = events.iter().find(|e| e.kind == Kind::Group).unwrap();
    assert_eq!(group.ids.group.as_ref().unwrap().key, "company");
    assert_eq!(group.ids.group.as_ref().unwrap().id, json!("acme-wire-amplitude_node"));
    assert_eq!(group.operations[0].0, "$set");
    // the browser's attribution identify: $setOnce and $unset
    let c = capture("amplitude_browser_httpapi");
    let first = decode_capture(&c).records.remove(0).unwrap().event;
    assert_eq!(first.kind, Kind::Profile);
    assert_eq!(first.operations[1].0, "$unset");
    assert!(first.operations[1].1.as_array().unwrap().contains(&json!("utm_source")));
}

#[test]
fn gzip_and_beacon_variants_decode_the_same() {
    let c = capture("amplitude_browser_httpapi");
    let plain: Vec<Event> = decode_capture(&c)
        .records
        .into_iter()
        .map(|r| r.unwrap().event)
        .collect();
    let gz = wire::gzip(&c.body);
    let variants: Vec<(Option<&str>, Option<&str>, &[u8])> = vec![
        // the browser SDK towards Amplitude's hosts
        (Some("application/json"), Some("gzip"), &gz),
        // gzip without a header, recognised by its magic bytes
        (Some("application/json"), None, &gz),
        // the beacon transport: uncompressed JSON labelled text/plain
        (Some("text/plain;charset=UTF-8"), None, &c.body),
    ];
    for (ct, ce, body) in variants {
        let mut req = c.request();
        req.content_type = ct;
        req.content_encoding = ce;
        req.body = body;
        let inbound = Amplitude.decode(route("/2/httpapi/"), &req, &LIMITS, &caps()).unwrap();
        let got: Vec<Event> = inbound.records.into_iter().map(|r| r.unwrap().event).collect();
        assert_eq!(got, plain, "{ct:?} {ce:?}");
    }
}

#[test]
fn posthog_bodies_on_the_shared_batch_path_are_not_amplitude() {
    let body = br#"{"api_key":"phc_testkey123","batch":[{"event":"e","distinct_id":"d","properties":{}}],"historical_migration":false,"sent_at":"2026-01-01T00:00:00Z"}"#;
    let req = HttpRequest {
        method: Method::Post,
        path: "/batch/",
        query: "",
        content_type: Some("application/json"),
        content_encoding: None,
        authorization: None,
        body,
        client_ip: None,
        received_at_ms: 0,
    };
    assert!(Amplitude.decode(route("/batch/"), &req, &LIMITS, &caps()).is_err());
    // and a bare array (older posthog-js)
    let req = HttpRequest {
        body: b"[{\"event\":\"e\"}]",
        ..req
    };
    assert!(Amplitude.decode(route("/batch"), &req, &LIMITS, &caps()).is_err());
    assert!(routes_for("/batch").iter().any(|(v, _)| *v == Vendor::Amplitude));
    assert!(routes_for("/2/httpapi/").iter().any(|(v, _)| *v == Vendor::Amplitude));
}

fn post(body: &[u8]) -> HttpRequest<'_> {
    HttpRequest {
        method: Method::Post,
        path: "/2/httpapi",
        query: "",
        content_type: Some("application/json"),
        content_encoding: None,
        authorization: None,
        body,
        client_ip: None,
        received_at_ms: 1_800_000_000_000,
    }
}

/// Bad input, request by request: the outcome the decoder reaches, and the answer the SDK
/// gets for it.
#[test]
fn bad_input_table() {
    let bomb = {
        let mut v =
            br#"{"api_key":"k","events":[{"event_type":"a","user_id":"user-1","event_properties":{"x":""#.to_vec();
        v.extend(std::iter::repeat_n(b'a', 2 << 20));
        v.extend_from_slice(br#""}}]}"#);
        wire::gzip(&v)
    };
    let many = format!(
        r#"{{"api_key":"k","events":[{}]}}"#,
        vec![r#"{"event_type":"a","user_id":"user-1"}"#; 2001].join(",")
    );
    let cases: Vec<(&[u8], Option<&str>, u16, Value)> = vec![
        (
            b"{nope",
            None,
            400,
            json!({"code": 400, "error": "Invalid JSON request body"}),
        ),
        (
            b"\x1f\x8bgarbage",
            Some("gzip"),
            400,
            json!({"code": 400, "error": "Invalid JSON request body"}),
        ),
        (
            b"{}",
            Some("br"),
            400,
            json!({"code": 400, "error": "Invalid JSON request body"}),
        ),
        (
            b"[]",
            None,
            400,
            json!({"code": 400, "error": "Invalid JSON request body"}),
        ),
        (
            br#"{"api_key":"k"}"#,
            None,
            400,
            json!({"code": 400, "error": "Request missing required field", "missing_field": "events"}),
        ),
        (
            &bomb,
            Some("gzip"),
            413,
            json!({"code": 413, "error": "Payload too large"}),
        ),
        (
            many.as_bytes(),
            None,
            413,
            json!({"code": 413, "error": "Payload too large"}),
        ),
    ];
    for (body, ce, status, want) in cases {
        let mut req = post(body);
        req.content_encoding = ce;
        let err = Amplitude
            .decode(route("/2/httpapi"), &req, &LIMITS, &caps())
            .unwrap_err();
        let reply = Amplitude.early_reply(route("/2/httpapi"), &post(b""));
        let a = Amplitude.answer(&reply, &Outcome::Malformed(err.clone()));
        assert_eq!(
            (a.status, serde_json::from_slice::<Value>(&a.body).unwrap()),
            (status, want),
            "{err:?}"
        );
    }

    // a missing key is remembered for the answer; an empty events list is fine
    let inbound = Amplitude
        .decode(route("/2/httpapi"), &post(br#"{"events":[]}"#), &LIMITS, &caps())
        .unwrap();
    assert_eq!(inbound.auth, Auth::Key(None));
    let a = Amplitude.answer(&inbound.reply, &Outcome::Unauthorized);
    assert_eq!(
        serde_json::from_slice::<Value>(&a.body).unwrap(),
        json!({"code": 400, "error": "Request missing required field", "missing_field": "api_key"})
    );

    // one bad event among good ones fails alone, named with its insert_id
    let body = br#"{"api_key":"k","events":[{"event_type":"a","user_id":"user-1"},{"event_type":"b","user_id":"user-1","time":"2024-01-01","insert_id":"i-2"},{"event_type":"c","device_id":"dev-1"}]}"#;
    let inbound = Amplitude
        .decode(route("/2/httpapi"), &post(body), &LIMITS, &caps())
        .unwrap();
    assert!(inbound.records[0].is_ok() && inbound.records[2].is_ok());
    let refused = inbound.records[1].as_ref().unwrap_err();
    assert_eq!(refused.error.field, "time");
    assert_eq!(refused.insert_id.as_deref(), Some("i-2"));
    // answered 200 with the accepted count, payload size and receipt time
    let a = Amplitude.answer(
        &inbound.reply,
        &Outcome::Accepted {
            accepted: 2,
            failed: vec![FailedRecord {
                index: 1,
                insert_id: Some("i-2".into()),
                error: refused.error.clone(),
            }],
        },
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&a.body).unwrap(),
        json!({"code": 200, "events_ingested": 2, "payload_size_bytes": body.len(), "server_upload_time": 1_800_000_000_000i64})
    );
}

fn target(use_batch: bool) -> Target {
    Target {
        endpoint: "http://127.0.0.1:9".into(),
        key: Secret::new("real-key"),
        secret: Some(Secret::new("secret")),
        project_id: None,
        use_batch,
    }
}

fn project() -> EmulatedProject {
    EmulatedProject {
        key: "real-key".into(),
        secret: None,
        now_ms: 1_800_000_000_000,
    }
}

/// Every SDK capture, decoded, encoded, finished and sent as vendorwall delivers it: the
/// emulated Amplitude accepts every event with the real key, and nothing of the app's key
/// or `$remote` is in what it receives.
#[test]
fn deliveries_of_captured_events_reach_the_emulator_with_the_real_key() {
    for name in CAPTURES {
        let c = capture(name);
        let inbound = decode_capture(&c);
        let records: Vec<Vec<u8>> = inbound
            .records
            .into_iter()
            .map(|r| {
                let e = r.unwrap().event;
                let kind = e.kind;
                let mut rec = Amplitude.encode(e);
                Amplitude.finish(&mut rec, kind, &target(false));
                serde_json::to_vec(&rec).unwrap()
            })
            .collect();
        let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        for use_batch in [false, true] {
            let t = target(use_batch);
            let ep = Amplitude.endpoint(Kind::Track, &t);
            assert_eq!(ep, Amplitude.endpoint(Kind::Profile, &t));
            let out = Amplitude.request(&t, ep, &slices, 0);
            let path = out.url.strip_prefix("http://127.0.0.1:9").unwrap();
            assert_eq!(path, if use_batch { "/batch" } else { "/2/httpapi" });
            assert!(out.headers.contains(&("Content-Encoding", "gzip".to_owned())));
            let req = HttpRequest {
                method: Method::Post,
                path,
                query: "",
                content_type: Some("application/json"),
                content_encoding: Some("gzip"),
                authorization: None,
                body: &out.body,
                client_ip: None,
                received_at_ms: 0,
            };
            let emulated = Amplitude.emulate(&project(), &req);
            assert_eq!(
                emulated.answer.status,
                200,
                "{name}: {}",
                String::from_utf8_lossy(&emulated.answer.body)
            );
            assert_eq!(emulated.accepted.len(), slices.len());
            assert_eq!(emulated.ip_param, None, "{name}: $remote was forwarded");
            let text = serde_json::to_string(&emulated.accepted).unwrap();
            assert!(!text.contains(APP_KEY) && !text.contains("$remote"), "{name}");
            let answer = VendorAnswer {
                status: emulated.answer.status,
                retry_after: None,
                body: &emulated.answer.body,
            };
            assert_eq!(Amplitude.verdict(ep, &answer, slices.len()), VendorVerdict::Delivered);
        }
    }
}

/// An emulated 400 that names events becomes a verdict naming the same indices.
#[test]
fn emulator_refusals_become_retry_except() {
    let records: Vec<Vec<u8>> = [
        json!({"event_type": "ok", "user_id": "user-1"}),
        json!({"event_type": "bad", "user_id": "null"}),
        json!({"event_type": "ok2", "device_id": "dev-12"}),
    ]
    .iter()
    .map(|r| serde_json::to_vec(r).unwrap())
    .collect();
    let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let t = target(false);
    let ep = Amplitude.endpoint(Kind::Track, &t);
    let out = Amplitude.request(&t, ep, &slices, 0);
    let req = HttpRequest {
        method: Method::Post,
        path: "/2/httpapi",
        query: "",
        content_type: Some("application/json"),
        content_encoding: Some("gzip"),
        authorization: None,
        body: &out.body,
        client_ip: None,
        received_at_ms: 0,
    };
    let emulated = Amplitude.emulate(&project(), &req);
    assert_eq!((emulated.answer.status, emulated.accepted.len()), (400, 0));
    let answer = VendorAnswer {
        status: 400,
        retry_after: None,
        body: &emulated.answer.body,
    };
    assert_eq!(
        Amplitude.verdict(ep, &answer, 3),
        VendorVerdict::RetryExcept {
            failed: vec![(1, "user_id: invalid".into())],
            after: None
        }
    );
    // the app's key is refused by the emulated vendor as a key problem
    let body = encode::request_body(APP_KEY, &slices[..1]);
    let emulated = Amplitude.emulate(&project(), &post(&body));
    let answer = VendorAnswer {
        status: emulated.answer.status,
        retry_after: None,
        body: &emulated.answer.body,
    };
    assert!(matches!(
        Amplitude.verdict(ep, &answer, 1),
        VendorVerdict::Misconfigured { .. }
    ));
}

#[test]
fn specs_limits_and_deletion() {
    let spec = Amplitude.destination_spec();
    assert_eq!(
        (spec.default_endpoint, spec.key_name, spec.secret_name, spec.options),
        (
            "https://api2.amplitude.com",
            "api_key",
            Some("secret_key"),
            &["use_batch"][..]
        )
    );
    let l = Amplitude.batch_limits();
    assert!(l.max_records < 2000 && l.max_bytes < 1_000_000 && l.default_bytes <= l.max_bytes);
    let d = Amplitude.deletion_request();
    assert_eq!((d.ids_field, d.max_ids_per_call), ("user_ids", 100));
    assert!(d.api.contains("does not block future tracking"));
    assert_eq!(d.fields["ignore_invalid_id"], "True");
    assert_eq!(Amplitude.emulator_endpoint("/2/httpapi/"), Some("httpapi"));
    assert_eq!(Amplitude.emulator_endpoint("/batch"), Some("batch"));
    assert_eq!(Amplitude.emulator_endpoint("/track"), None);
    assert_eq!(
        Amplitude
            .vendor_id(&json!({"user_id": "u", "device_id": "d"}), Kind::Group)
            .as_deref(),
        Some("u")
    );
    let sample = Amplitude
        .decode_sample(
            json!({"event_type": "$identify", "user_id": "user-1", "user_properties": {"a": 1}}),
            &caps(),
        )
        .unwrap();
    assert_eq!(sample.event.kind, Kind::Profile);
}

/// Events of other vendors: translated through the seam, counted, and accepted by the
/// emulated Amplitude.
#[test]
fn translated_events_are_counted_and_accepted() {
    let mixpanel = crate::protocol::mixpanel::Mixpanel;
    let records = [
        json!({"event": "$create_alias", "properties": {"token": "t", "distinct_id": "user-1", "alias": "user-2", "time": 1_700_000_000}}),
        json!({"event": "Signup", "properties": {"token": "t", "distinct_id": "u1", "$os": "Mac OS X", "time": 1_700_000_000.5, "$insert_id": "abc"}}),
    ];
    let mut encoded = Vec::new();
    for (r, counted) in records.into_iter().zip([1, 0]) {
        let mut e = mixpanel.decode_sample(r, &caps()).unwrap().event;
        assert_eq!(crate::protocol::translate(&mut e, Vendor::Amplitude), counted);
        encoded.push(serde_json::to_vec(&Amplitude.encode(e)).unwrap());
    }
    let v: Value = serde_json::from_slice(&encoded[1]).unwrap();
    assert_eq!(
        v,
        json!({"event_type": "Signup", "user_id": "u1", "time": 1_700_000_000_500i64, "insert_id": "abc", "os_name": "Mac OS X"})
    );
    let slices: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let out = Amplitude.request(
        &target(false),
        Amplitude.endpoint(Kind::Track, &target(false)),
        &slices,
        0,
    );
    let mut req = post(&out.body);
    req.content_encoding = Some("gzip");
    // "u1" is shorter than Amplitude's default minimum: the request says so
    let emulated = Amplitude.emulate(&project(), &req);
    assert_eq!(
        emulated.answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&emulated.answer.body)
    );
    // and an Amplitude event lifted for Mixpanel counts what has no canonical name
    let c = capture("amplitude_browser_httpapi");
    let mut e = decode_capture(&c).records.remove(2).unwrap().event;
    assert_eq!(e.name.as_deref(), Some("[Amplitude] Page Viewed"));
    // platform and event_id have no canonical names
    assert_eq!(crate::protocol::translate(&mut e, Vendor::Mixpanel), 2);
    assert!(e.envelope.is_none());
    assert_eq!(e.properties["$current_url"], "http://app.test/");
    assert_eq!(e.properties["$session_id"], 1_796_659_976_891i64);
    assert_eq!(e.properties["$lib"], "amplitude-ts");
    assert_eq!(e.properties["amplitude_platform"], "Web");
    assert_eq!(e.context.client_ip, Some("198.51.100.4".parse().unwrap()));
}
