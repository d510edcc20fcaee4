//! PostHog behind the seam: the real SDK captures of `tests/sdk/wire/` through
//! [`Protocol::decode`], answers per route, key replacement, envelopes, bad input.

use base64::Engine;
use serde_json::{Value, json};

use super::*;
use crate::config::Secret;
use crate::protocol::{Method, routes_for};

const APP_KEY: &str = "phc_testkey123";
const REAL_KEY: &str = "phc_real_destination_key";

fn caps() -> Caps {
    (&crate::config::Limits::default()).into()
}

const LIMITS: RequestLimits = RequestLimits::new(4 << 20, 1000, 255);

/// One capture of `tests/sdk/wire/`: head and body as received.
struct Capture {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    index: Value,
}

impl Capture {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn request(&self, received_at_ms: i64) -> HttpRequest<'_> {
        HttpRequest {
            method: if self.method == "GET" {
                Method::Get
            } else {
                Method::Post
            },
            path: &self.path,
            query: &self.query,
            content_type: self.header("content-type"),
            content_encoding: self.header("content-encoding"),
            authorization: self.header("authorization"),
            body: &self.body,
            client_ip: Some("198.51.100.7".parse().unwrap()),
            received_at_ms,
        }
    }
}

fn captures(prefix: &str) -> Vec<Capture> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/wire");
    let index: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index
        .into_iter()
        .filter(|e| e["file"].as_str().is_some_and(|f| f.starts_with(prefix)))
        .map(|e| {
            let bytes = std::fs::read(dir.join(e["file"].as_str().unwrap())).unwrap();
            let split = bytes.windows(2).position(|w| w == b"\n\n").unwrap();
            let head = String::from_utf8(bytes[..split].to_vec()).unwrap();
            let mut body = bytes[split + 2..].to_vec();
            if e["file_body"] == "base64" {
                body = base64::engine::general_purpose::STANDARD
                    .decode(body.trim_ascii())
                    .unwrap();
            }
            let mut lines = head.lines();
            let first = lines.next().unwrap();
            let mut parts = first.split(' ');
            let method = parts.next().unwrap().to_owned();
            let target = parts.next().unwrap();
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let headers = lines
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            Capture {
                method,
                path: path.to_owned(),
                query: query.to_owned(),
                headers,
                body,
                index: e,
            }
        })
        .collect()
}

fn posthog_route(path: &str) -> Option<Route> {
    routes_for(path)
        .into_iter()
        .find(|(v, _)| *v == Vendor::PostHog)
        .map(|(_, r)| r)
}

fn target() -> Target {
    Target {
        endpoint: "http://posthog.test".into(),
        key: Secret::new(REAL_KEY),
        secret: None,
        project_id: None,
        use_batch: false,
    }
}

/// Encodes and finishes a record as the pipeline does (without a policy).
fn deliver(event: Event) -> Value {
    let kind = event.kind;
    let mut rec = PostHog.encode(event);
    PostHog.finish(&mut rec, kind, &target());
    rec
}

#[test]
fn every_sdk_capture_decodes() {
    let all = captures("posthog_");
    assert!(
        all.len() >= 12,
        "the PostHog SDK captures under tests/sdk/wire are missing"
    );
    let mut events = 0;
    for cap in &all {
        let file = cap.index["file"].as_str().unwrap();
        let route = posthog_route(&cap.path).unwrap_or_else(|| panic!("{file}: {} not served", cap.path));
        let now = 1_796_659_990_000;
        let inbound = PostHog
            .decode(route, &cap.request(now), &LIMITS, &caps())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        if file.contains("remote_config") {
            assert_eq!(inbound.special, Some(Special::Config));
            assert_eq!(inbound.auth, Auth::Key(Some(APP_KEY.into())));
            let a = PostHog.answer(
                &inbound.reply,
                &Outcome::Accepted {
                    accepted: 0,
                    failed: vec![],
                },
            );
            let v: Value = serde_json::from_slice(&a.body).unwrap();
            assert_eq!((a.status, &v["hasFeatureFlags"]), (200, &json!(true)));
            continue;
        }
        if file.contains("flags") {
            let Some(Special::Flags { record }) = &inbound.special else {
                panic!("{file}: not a flag request")
            };
            assert_eq!(inbound.auth, Auth::Key(Some(APP_KEY.into())), "{file}");
            let decoded = &cap.index["decoded"];
            assert_eq!(record["distinct_id"], decoded["distinct_id"], "{file}");
            assert_eq!(record["properties"]["$groups"], decoded["groups"], "{file}");
            assert_eq!(record["properties"]["$set"], decoded["person_properties"], "{file}");
            assert_eq!(record[decode::FLAGS_VERSION], "4", "{file}");
            assert!(!record.to_string().contains(APP_KEY), "{file}");
            // forwarded with the destination's key, the rest as sent
            let req = PostHog.flags_request(&target(), record).unwrap();
            assert_eq!(req.url, "http://posthog.test/flags/?v=4");
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            assert_eq!(body["token"], REAL_KEY);
            assert_eq!(body["person_properties"], decoded["person_properties"]);
            assert_eq!(body["group_properties"], decoded["group_properties"]);
            assert!(!String::from_utf8_lossy(&req.body).contains(APP_KEY));
            continue;
        }
        let decoded = &cap.index["decoded"];
        let batch = decoded["batch"].as_array().unwrap();
        assert_eq!(inbound.records.len(), batch.len(), "{file}");
        assert_eq!(cap.index["count"].as_u64(), Some(batch.len() as u64), "{file}");
        assert!(inbound.special.is_none(), "{file}");
        assert_eq!(inbound.auth, Auth::Key(Some(APP_KEY.into())), "{file}");
        for (r, sent) in inbound.records.iter().zip(batch) {
            let r = r.as_ref().unwrap_or_else(|e| panic!("{file}: {e:?}"));
            let e = &r.event;
            events += 1;
            // the idempotency key byte for byte, and back in the record
            assert_eq!(e.insert_id.as_deref(), sent["uuid"].as_str(), "{file}");
            let name = sent["event"].as_str().unwrap();
            assert_eq!(e.name.as_deref(), Some(name));
            let want_kind = match name {
                "$identify" | "$set" | "$set_once" => Kind::Profile,
                "$groupidentify" => Kind::Group,
                _ => Kind::Track,
            };
            assert_eq!(e.kind, want_kind, "{file} {name}");
            let distinct = sent
                .get("distinct_id")
                .or_else(|| sent["properties"].get("distinct_id"))
                .and_then(Value::as_str);
            assert_eq!(e.ids.distinct_id.as_deref(), distinct, "{file}");
            assert!(e.time.is_some(), "{file}: every SDK sends a timestamp");
            // posthog-js asks for geolocation from the connection; the server SDKs do not
            let web = sent["properties"]["$lib"] == "web";
            assert_eq!(e.context.client_ip.is_some(), web, "{file} {name}");
            assert_eq!(e.context.ip, sent["properties"].get("$ip").cloned(), "{file} {name}");
            let rec = deliver(e.clone());
            assert_eq!(rec["uuid"], sent["uuid"], "{file}");
            assert_eq!(rec["event"], sent["event"]);
            assert_eq!(rec["distinct_id"].as_str(), distinct);
            assert!(
                !rec.to_string().contains(APP_KEY),
                "{file}: the app's key left vendorwall"
            );
            // the same person properties, wherever the SDK put them
            for op in ["$set", "$set_once"] {
                let want = sent.get(op).or_else(|| sent["properties"].get(op));
                if want_kind == Kind::Profile {
                    assert_eq!(rec["properties"].get(op), want, "{file} {op}");
                }
            }
            if want_kind == Kind::Group {
                assert_eq!(rec["properties"]["$group_set"], sent["properties"]["$group_set"]);
                assert_eq!(rec["properties"]["$group_key"], sent["properties"]["$group_key"]);
            }
        }
    }
    assert!(events >= 40, "{events}");
}

#[test]
fn clock_skew_of_a_capture() {
    let cap = captures("posthog_browser_e_gzip").pop().unwrap();
    let sent_at = decode::parse_iso_ms(cap.index["decoded"]["sent_at"].as_str().unwrap()).unwrap();
    let ts = decode::parse_iso_ms(cap.index["decoded"]["batch"][0]["timestamp"].as_str().unwrap()).unwrap();
    // received an hour after the client's clock said it sent
    let now = sent_at + 3_600_000;
    let inbound = PostHog
        .decode(posthog_route("/e/").unwrap(), &cap.request(now), &LIMITS, &caps())
        .unwrap();
    let e = &inbound.records[0].as_ref().unwrap().event;
    assert_eq!(e.time.as_ref().unwrap().millis(), Some(now + ts - sent_at));
}

#[test]
fn amplitude_bodies_on_the_shared_batch_path_fail_cleanly() {
    let route = posthog_route("/batch").unwrap();
    let amplitude = captures("amplitude_");
    assert!(!amplitude.is_empty());
    for cap in &amplitude {
        if cap.body.is_empty() {
            continue;
        }
        let got = PostHog.decode(route, &cap.request(0), &LIMITS, &caps());
        assert!(
            matches!(
                &got,
                Err(RequestError::WrongType) | Err(RequestError::BadJson) | Err(RequestError::BadEncoding)
            ),
            "{}: {got:?}",
            cap.index["file"]
        );
    }
    // `/batch` is PostHog's (and Amplitude's, once its protocol serves it)
    let both: Vec<Vendor> = routes_for("/batch/").into_iter().map(|(v, _)| v).collect();
    assert!(both.contains(&Vendor::PostHog));
    assert!(routes_for("/track").iter().all(|(v, _)| *v != Vendor::PostHog));
    assert!(routes_for("/engage").iter().all(|(v, _)| *v != Vendor::PostHog));
}

fn request<'a>(path: &'a str, query: &'a str, body: &'a [u8]) -> HttpRequest<'a> {
    HttpRequest {
        method: Method::Post,
        path,
        query,
        content_type: Some("application/json"),
        content_encoding: None,
        authorization: None,
        body,
        client_ip: None,
        received_at_ms: 1_800_000_000_000,
    }
}

fn decode(path: &str, query: &str, body: &Value) -> Result<Inbound, RequestError> {
    let text = body.to_string();
    PostHog.decode(
        posthog_route(path).unwrap(),
        &request(path, query, text.as_bytes()),
        &LIMITS,
        &caps(),
    )
}

#[test]
fn keys_per_request_and_per_record() {
    // the body's key
    let i = decode(
        "/batch/",
        "",
        &json!({"api_key": "k", "batch": [{"event": "a", "distinct_id": "d"}]}),
    )
    .unwrap();
    assert_eq!(i.auth, Auth::Key(Some("k".into())));
    // posthog-js without a body key: each event's properties.token
    let i = decode(
        "/e/",
        "",
        &json!([{"event": "a", "properties": {"token": "k", "distinct_id": "d"}}, {"event": "b", "distinct_id": "d"}]),
    )
    .unwrap();
    assert_eq!(i.auth, Auth::Key(None));
    assert_eq!(i.records[0].as_ref().unwrap().key.as_deref(), Some("k"));
    assert_eq!(i.records[1].as_ref().unwrap().key, None);
    // keys that disagree anywhere in a request
    for body in [
        json!({"api_key": "k", "batch": [{"event": "a", "distinct_id": "d", "properties": {"token": "other"}}]}),
        json!([{"event": "a", "distinct_id": "d", "api_key": "k"}, {"event": "a", "distinct_id": "d", "properties": {"token": "j"}}]),
    ] {
        assert_eq!(
            decode("/batch/", "", &body).unwrap_err(),
            RequestError::InconsistentKeys,
            "{body}"
        );
    }
    assert_eq!(
        PostHog
            .answer(&Reply::default(), &Outcome::Malformed(RequestError::InconsistentKeys))
            .status,
        400
    );
}

#[test]
fn replay_is_taken_counted_and_never_forwarded() {
    let snap = json!({"event": "$snapshot", "distinct_id": "d", "properties": {"$snapshot_data": []}});
    let i = decode(
        "/s/",
        "",
        &json!({"api_key": "k", "batch": [snap.clone(), snap.clone()]}),
    )
    .unwrap();
    assert_eq!(i.special, Some(Special::Replay { records: 2 }));
    assert!(i.records.is_empty());
    let i = decode("/e/", "", &json!([snap.clone()])).unwrap();
    assert_eq!(i.special, Some(Special::Replay { records: 1 }));
    // mixed: the snapshot is refused alone, the event goes on
    let i = decode("/e/", "", &json!([snap, {"event": "a", "distinct_id": "d"}])).unwrap();
    assert!(i.special.is_none());
    assert_eq!(i.records[0].as_ref().unwrap_err().error.reason, Reject::WrongType);
    assert!(i.records[1].is_ok());
    let a = PostHog.answer(
        &i.reply,
        &Outcome::Accepted {
            accepted: 1,
            failed: vec![],
        },
    );
    assert_eq!(a.status, 200);
}

#[test]
fn answers_per_route() {
    let ok = Outcome::Accepted {
        accepted: 1,
        failed: vec![],
    };
    for r in ROUTES {
        let early = PostHog.early_reply(*r, &request(r.path, "", b""));
        assert_eq!(PostHog.answer(&early, &ok).status, 200, "{}", r.path);
        let beacon = PostHog.early_reply(*r, &request(r.path, "beacon=1", b""));
        let want = if r.code == route::CONFIG { 200 } else { 204 };
        assert_eq!(PostHog.answer(&beacon, &ok).status, want, "{}", r.path);
        assert_eq!(PostHog.answer(&early, &Outcome::Busy).status, 503);
        assert_eq!(PostHog.answer(&early, &Outcome::Unauthorized).status, 401);
        assert_eq!(
            PostHog
                .answer(&early, &Outcome::Malformed(RequestError::BodyTooLarge))
                .status,
            413
        );
    }
    let i = decode("/e/", "beacon=1&compression=gzip-js", &json!([])).unwrap_err();
    assert_eq!(i, RequestError::BadCompression("gzip"));
    let i = decode("/e/", "beacon=1", &json!([{"event": "a", "distinct_id": "d"}])).unwrap();
    assert_eq!(PostHog.answer(&i.reply, &ok).status, 204);
    let f = decode("/flags/", "v=4", &json!({"token": "k", "distinct_id": "d"})).unwrap();
    assert_eq!(
        PostHog.answer(&f.reply, &Outcome::Flags(PostHog.no_flags())).status,
        200
    );
    let f = decode("/decide/", "", &json!({"api_key": "k", "distinct_id": "d"})).unwrap();
    let Some(Special::Flags { record }) = f.special else {
        panic!()
    };
    assert_eq!(
        PostHog.flags_request(&target(), &record).unwrap().url,
        "http://posthog.test/decide/?v=3"
    );
}

#[test]
fn no_flags_is_read_as_no_flags() {
    let v = PostHog.no_flags();
    assert_eq!(v["flags"], json!({}));
    assert_eq!(v["featureFlags"], json!({}));
    assert_eq!(v["errorsWhileComputingFlags"], json!(false));
}

#[test]
fn the_real_key_replaces_the_apps_and_travels_once_per_batch() {
    let i = decode(
        "/batch/",
        "",
        &json!({"api_key": APP_KEY, "batch": [{"event": "a", "distinct_id": "d", "api_key": APP_KEY, "properties": {"token": APP_KEY}}]}),
    )
    .unwrap();
    let rec = deliver(i.records.into_iter().next().unwrap().unwrap().event);
    let bytes = serde_json::to_vec(&rec).unwrap();
    let req = PostHog.request(&target(), BATCH_ENDPOINT, &[&bytes], 1_800_000_000_000);
    assert_eq!(req.url, "http://posthog.test/batch/");
    let mut body = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&req.body[..]), &mut body).unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["api_key"], REAL_KEY);
    assert_eq!(v["batch"][0]["distinct_id"], "d");
    assert_eq!(v["batch"][0]["properties"]["$geoip_disable"], true);
    assert!(!body.contains(APP_KEY));
}

#[test]
fn envelopes_lift_for_other_vendors() {
    let i = decode(
        "/batch/",
        "",
        &json!({"api_key": "k", "batch": [{"event": "a", "distinct_id": "d", "$lib": "x", "type": "capture", "$set": {"p": 1}, "properties": {"keep": 1}}]}),
    )
    .unwrap();
    let mut e = i.records.into_iter().next().unwrap().unwrap().event;
    let mut same = e.clone();
    assert_eq!(crate::protocol::translate(&mut same, Vendor::PostHog), 0);
    assert!(same.envelope.is_some());
    assert_eq!(crate::protocol::translate(&mut e, Vendor::Mixpanel), 2);
    assert!(e.envelope.is_none());
    assert_eq!(
        Value::Object(e.properties),
        json!({"keep": 1, "$lib": "x", "posthog_type": "capture", "posthog_$set": {"p": 1}})
    );
    // another vendor's envelope is not PostHog's to lift
    let mut other = Event::new(Kind::Track);
    other.envelope = Some(crate::event::Envelope {
        vendor: Vendor::Segment,
        fields: serde_json::Map::new(),
    });
    assert_eq!(PostHog.lift_envelope(&mut other), 0);
    assert!(other.envelope.is_some());
}

#[test]
fn bad_input_table() {
    let gz_bomb = crate::protocol::wire::gzip(&vec![b' '; 8 << 20]);
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, RequestError);
    let cases: Vec<Case> = vec![
        (
            "/e/",
            "",
            Some("application/json"),
            b"{not json".to_vec(),
            RequestError::BadJson,
        ),
        (
            "/e/",
            "",
            Some("text/plain"),
            b"%%%".to_vec(),
            RequestError::BadEncoding,
        ),
        ("/e/", "", None, b"".to_vec(), RequestError::MissingData),
        ("/e/", "", None, gz_bomb, RequestError::DecompressedTooLarge),
        (
            "/batch/",
            "",
            None,
            br#"{"api_key":"k","events":[]}"#.to_vec(),
            RequestError::WrongType,
        ),
        (
            "/batch/",
            "",
            None,
            br#"{"batch":"x"}"#.to_vec(),
            RequestError::WrongType,
        ),
        ("/e/", "", None, b"42".to_vec(), RequestError::BadEncoding),
        ("/flags/", "", None, b"[1]".to_vec(), RequestError::WrongType),
        (
            "/e/",
            "",
            None,
            format!("[{}]", vec![r#"{"event":"a","distinct_id":"d"}"#; 1001].join(",")).into_bytes(),
            RequestError::TooManyRecords,
        ),
    ];
    for (path, query, ct, body, want) in cases {
        let mut req = request(path, query, &body);
        req.content_type = ct;
        let got = PostHog
            .decode(posthog_route(path).unwrap(), &req, &LIMITS, &caps())
            .unwrap_err();
        assert_eq!(
            got,
            want,
            "{path} {}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
        let a = PostHog.answer(
            &PostHog.early_reply(posthog_route(path).unwrap(), &req),
            &Outcome::Malformed(got),
        );
        assert!(a.status == 400 || a.status == 413);
        let text = String::from_utf8_lossy(&a.body);
        assert!(text.contains("validation_error"), "{text}");
    }
    // one bad record among good ones: refused alone, by field, without its value
    let i = decode(
        "/batch/",
        "",
        &json!({"api_key": "k", "batch": [{"event": "a", "distinct_id": "d"}, {"event": "a", "properties": {"email": "secret@x.com"}},
               {"event": "", "distinct_id": "secret@x.com"}, {"event": "b", "distinct_id": "d", "uuid": "01a25147-8371-7d11-acd4-06e89f962da4"}]}),
    )
    .unwrap();
    let reasons: Vec<Option<Reject>> = i
        .records
        .iter()
        .map(|r| r.as_ref().err().map(|e| e.error.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![None, Some(Reject::MissingField), Some(Reject::MissingField), None]
    );
    for r in i.records.iter().filter_map(|r| r.as_ref().err()) {
        assert!(!r.error.to_string().contains("secret@x.com"));
    }
}

#[test]
fn vendor_ids_endpoints_and_limits() {
    let rec = json!({"event": "a", "distinct_id": "hashed"});
    assert_eq!(PostHog.vendor_id(&rec, Kind::Track).as_deref(), Some("hashed"));
    assert_eq!(PostHog.vendor_id(&json!({"distinct_id": ""}), Kind::Profile), None);
    for k in Kind::ALL {
        assert_eq!(PostHog.endpoint(k, &target()), BATCH_ENDPOINT);
        assert_eq!(PostHog.shape(k).layout.id, 2);
    }
    let spec = PostHog.destination_spec();
    assert_eq!(
        (spec.key_name, spec.secret_name, spec.options),
        ("api_key", None, &["flags"][..])
    );
    let limits = PostHog.batch_limits();
    assert!(limits.default_bytes <= limits.max_bytes && limits.max_bytes <= 20 << 20);
    let del = PostHog.deletion_request();
    assert_eq!((del.ids_field, del.max_ids_per_call), ("distinct_ids", 1000));
    assert_eq!(PostHog.emulator_endpoint("/batch/"), Some("batch"));
    assert_eq!(PostHog.emulator_endpoint("/track"), None);
    // decode_sample reads the kind from the record and keeps its time
    let s = PostHog
        .decode_sample(
            json!({"event": "$groupidentify", "distinct_id": "d", "timestamp": "2026-01-01T00:00:00Z",
                              "properties": {"$group_type": "company", "$group_key": "acme"}}),
            &caps(),
        )
        .unwrap();
    assert_eq!(s.event.kind, Kind::Group);
    assert_eq!(s.event.time.unwrap().millis(), Some(1_767_225_600_000));
}
