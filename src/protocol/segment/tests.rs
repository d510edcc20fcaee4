//! Tests across the Segment files: every real SDK capture (`tests/sdk/wire/segment_*.http`)
//! decoded, encoded back, classified and filtered; answers per route; the key never leaving;
//! envelopes lifted; the emulator's rules; bad input.

use std::io::Write;
use std::net::IpAddr;

use base64::Engine;
use serde_json::{Map, Value, json};

use super::decode::{MessageType, parse_time};
use super::encode::{format_time, into_message};
use super::{Segment, emulator, lift};
use crate::classify::classify_record;
use crate::config::Secret;
use crate::event::{Caps, Event, EventTime, GroupRef, Kind, Reject};
use crate::policy::keys::PseudonymKey;
use crate::policy::{Context as PolicyContext, Policy, Verdict};
use crate::protocol::{
    Auth, BasicAuth, EmulatedProject, HttpRequest, Inbound, Method, Outcome, Protocol, RequestError, RequestLimits,
    Route, Special, Target, Vendor, routes_for,
};

const APP_KEY: &str = "seg-write-key-123";
const REAL_KEY: &str = "real-segment-write-key";
/// A public address (documentation ranges are never reported as IPs).
const CLIENT: &str = "81.2.69.142";

fn caps() -> Caps {
    (&crate::config::Limits::default()).into()
}

fn limits() -> RequestLimits {
    RequestLimits::new(1 << 20, 2000, 255)
}

/// One `.http` capture: request line, headers and body (decoded from base64 where the
/// index says so).
struct Capture {
    file: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    decoded: Value,
    count: usize,
}

impl Capture {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn route(&self) -> Route {
        routes_for(&self.path)
            .into_iter()
            .find(|(v, _)| *v == Vendor::Segment)
            .map(|(_, r)| r)
            .unwrap_or_else(|| panic!("{}: no Segment route for {}", self.file, self.path))
    }

    fn request(&self, received_at_ms: i64) -> HttpRequest<'_> {
        HttpRequest {
            method: if self.method == "GET" {
                Method::Get
            } else {
                Method::Post
            },
            path: &self.path,
            query: "",
            content_type: self.header("content-type"),
            content_encoding: self.header("content-encoding"),
            authorization: self.header("authorization"),
            body: &self.body,
            client_ip: Some(CLIENT.parse().unwrap()),
            received_at_ms,
        }
    }

    /// The messages as the SDK sent them.
    fn messages(&self) -> Vec<Value> {
        match self.decoded.get("batch") {
            Some(Value::Array(items)) => items.clone(),
            _ => vec![self.decoded.clone()],
        }
    }

    /// The `sentAt` of a message (its own, else the batch's).
    fn sent_at(&self, message: &Value) -> Option<i64> {
        message
            .get("sentAt")
            .or_else(|| self.decoded.get("sentAt"))
            .and_then(Value::as_str)
            .and_then(parse_time)
    }
}

fn captures() -> Vec<Capture> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/wire");
    let index: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut out = Vec::new();
    for entry in index
        .iter()
        .filter(|e| e["vendor"] == "segment" && e["method"] == "POST")
    {
        let file = entry["file"].as_str().unwrap().to_owned();
        let raw = std::fs::read(dir.join(&file)).unwrap();
        let split = raw.windows(2).position(|w| w == b"\n\n").unwrap();
        let head = std::str::from_utf8(&raw[..split]).unwrap();
        let mut body = raw[split + 2..].to_vec();
        if entry["file_body"] == "base64" {
            body = base64::engine::general_purpose::STANDARD
                .decode(body.trim_ascii())
                .unwrap();
        }
        let mut lines = head.lines();
        let request_line = lines.next().unwrap();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap().to_owned();
        let target = parts.next().unwrap();
        let path = target.split('?').next().unwrap().to_owned();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        out.push(Capture {
            file,
            method,
            path,
            headers,
            body,
            decoded: entry["decoded"].clone(),
            count: entry["count"].as_u64().unwrap() as usize,
        });
    }
    assert!(
        out.len() >= 10,
        "the Segment SDK captures under tests/sdk/wire are missing"
    );
    out
}

fn decode(c: &Capture, received_at_ms: i64) -> Inbound {
    Segment
        .decode(c.route(), &c.request(received_at_ms), &limits(), &caps())
        .unwrap_or_else(|e| panic!("{}: {e}", c.file))
}

fn all_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| all_strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            all_strings(x, out);
        }),
        _ => {}
    }
}

fn contains_string(v: &Value, needle: &str) -> bool {
    let mut all = Vec::new();
    all_strings(v, &mut all);
    all.iter().any(|s| s.contains(needle))
}

#[test]
fn every_capture_decodes() {
    let received = parse_time("2026-12-07T16:13:00.000Z").unwrap();
    for c in captures() {
        let inbound = decode(&c, received);
        assert_eq!(inbound.auth, Auth::Key(Some(APP_KEY.into())), "{}", c.file);
        assert!(inbound.special.is_none());
        assert_eq!(inbound.records.len(), c.count, "{}", c.file);
        let browser = c.path.len() <= 5 || c.path == "/v1/b";
        for (record, sent) in inbound.records.iter().zip(c.messages()) {
            let what = format!("{} {}", c.file, sent["messageId"]);
            let record = record.as_ref().unwrap_or_else(|e| panic!("{what}: {e:?}"));
            // analytics.js puts the write key in every message: taken out into the record's key
            assert_eq!(
                record.key.as_deref(),
                sent.get("writeKey").and_then(Value::as_str),
                "{what}"
            );
            let e = &record.event;
            let ty = MessageType::parse(sent["type"].as_str().unwrap()).unwrap();
            assert_eq!(e.kind, ty.kind(), "{what}");
            // the idempotency key byte for byte
            assert_eq!(e.insert_id.as_deref(), sent["messageId"].as_str(), "{what}");
            // clock skew corrected once, at receipt
            let ts = parse_time(sent["timestamp"].as_str().unwrap()).unwrap();
            let sent_at = c.sent_at(&sent).unwrap();
            assert_eq!(
                e.time.as_ref().and_then(EventTime::millis),
                Some(ts + received - sent_at),
                "{what}"
            );
            let user = sent.get("userId").and_then(Value::as_str);
            let anon = sent.get("anonymousId").and_then(Value::as_str);
            match ty {
                MessageType::Alias => {
                    assert_eq!(e.name.as_deref(), Some("$create_alias"));
                    assert_eq!(e.ids.distinct_id.as_deref(), sent["previousId"].as_str());
                    assert_eq!(e.properties["alias"], sent["userId"]);
                }
                _ => {
                    assert_eq!(e.ids.user_id.as_deref(), user, "{what}");
                    assert_eq!(e.ids.device_id.as_deref(), anon, "{what}");
                    assert_eq!(e.ids.distinct_id.as_deref(), user.or(anon), "{what}");
                }
            }
            match ty {
                MessageType::Track => {
                    assert_eq!(e.name.as_deref(), sent["event"].as_str());
                    assert_eq!(Value::Object(e.properties.clone()), sent["properties"]);
                }
                MessageType::Page => assert_eq!(e.name.as_deref(), Some("$pageview")),
                MessageType::Screen => assert_eq!(e.name.as_deref(), Some("$screen")),
                MessageType::Identify => {
                    assert_eq!(e.operations, vec![("$set".to_owned(), sent["traits"].clone())]);
                }
                MessageType::Group => {
                    assert_eq!(
                        e.ids.group,
                        Some(GroupRef {
                            key: "group".into(),
                            id: sent["groupId"].clone()
                        })
                    );
                    assert_eq!(e.operations, vec![("$set".to_owned(), sent["traits"].clone())]);
                }
                MessageType::Alias => {}
            }
            // IP: the SDK's own in context.ip; analytics.js's connection otherwise
            let sdk_ip = sent.pointer("/context/ip").cloned();
            assert_eq!(e.context.ip, sdk_ip, "{what}");
            let want_client: Option<IpAddr> = (browser && sdk_ip.is_none()).then(|| CLIENT.parse().unwrap());
            assert_eq!(e.context.client_ip, want_client, "{what}");
            // the envelope keeps the rest; no key anywhere in the event
            let env = e.envelope.as_ref().unwrap();
            assert_eq!(env.vendor, Vendor::Segment);
            assert_eq!(env.fields["type"], sent["type"]);
            for f in ["integrations", "_metadata", "name", "category"] {
                assert_eq!(env.fields.get(f), sent.get(f), "{what} {f}");
            }
            assert!(env.fields.get("context").is_some_and(|ctx| ctx.get("ip").is_none()));
            let as_json = json!({"p": e.properties, "o": e.operations, "e": env.fields});
            assert!(!contains_string(&as_json, APP_KEY), "{what}");
            assert!(env.fields.get("sentAt").is_none() && env.fields.get("writeKey").is_none());
        }
    }
}

/// The message as Segment should receive it from vendorwall: no `writeKey` or `sentAt`
/// (the batch has them), no null ids, the timestamp in the canonical form.
fn normalised(sent: &Value, time_ms: i64) -> Value {
    let mut m = sent.as_object().unwrap().clone();
    m.shift_remove("writeKey");
    m.shift_remove("sentAt");
    for id in ["userId", "anonymousId"] {
        if m.get(id) == Some(&Value::Null) {
            m.shift_remove(id);
        }
    }
    m.insert("timestamp".into(), Value::String(format_time(time_ms)));
    Value::Object(m)
}

#[test]
fn every_capture_encodes_back_to_the_same_message() {
    for c in captures() {
        for (i, sent) in c.messages().into_iter().enumerate() {
            // received when sent: no correction, so the timestamp is the SDK's
            let sent_at = c.sent_at(&sent).unwrap();
            let inbound = decode(&c, sent_at);
            let mut event = inbound.records.into_iter().nth(i).unwrap().unwrap().event;
            // what the connecting address adds is tested above
            event.context.client_ip = None;
            let ts = parse_time(sent["timestamp"].as_str().unwrap()).unwrap();
            let mut out = Segment.encode(event);
            Segment.finish(&mut out, Kind::Track, &target());
            assert_eq!(out, normalised(&sent, ts), "{} #{i}", c.file);
        }
    }
}

fn target() -> Target {
    Target {
        endpoint: "http://segment.test".into(),
        key: Secret::new(REAL_KEY),
        secret: None,
        project_id: None,
        use_batch: false,
    }
}

#[test]
fn delivery_carries_the_real_key_and_no_app_key() {
    let received = parse_time("2026-12-07T16:13:00.000Z").unwrap();
    let mut records = Vec::new();
    for c in captures() {
        for r in decode(&c, received).records {
            let mut out = Segment.encode(r.unwrap().event);
            Segment.finish(&mut out, Kind::Track, &target());
            records.push(serde_json::to_vec(&out).unwrap());
        }
    }
    let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let now = parse_time("2026-12-07T16:14:00.123Z").unwrap();
    let req = Segment.request(&target(), Segment.endpoint(Kind::Track, &target()), &slices, now);
    assert_eq!(req.url, "http://segment.test/v1/batch");
    let header = |n: &str| req.headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
    assert_eq!(header("Authorization"), Some(BasicAuth::header(REAL_KEY, "")));
    assert_eq!(header("Content-Encoding").as_deref(), Some("gzip"));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&req.body[..]), &mut text).unwrap();
    assert!(!text.contains(APP_KEY));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["sentAt"], "2026-12-07T16:14:00.123Z");
    assert_eq!(body["batch"].as_array().unwrap().len(), records.len());
    // the emulated vendor takes every message, and finds no app-side key anywhere
    let project = EmulatedProject {
        key: REAL_KEY.into(),
        secret: None,
        now_ms: now,
    };
    let auth = header("Authorization").unwrap();
    let http = HttpRequest {
        method: Method::Post,
        path: "/v1/batch",
        query: "",
        content_type: Some("application/json"),
        content_encoding: Some("gzip"),
        authorization: Some(&auth),
        body: &req.body,
        client_ip: None,
        received_at_ms: now,
    };
    let got = Segment.emulate(&project, &http);
    assert_eq!(got.answer.status, 200);
    assert_eq!((got.accepted.len(), got.rejected), (records.len(), 0));
    assert!(got.accepted.iter().all(|m| !contains_string(m, APP_KEY)));
    // a wrong key is refused
    let wrong = BasicAuth::header(APP_KEY, "");
    let refused = Segment.emulate(
        &project,
        &HttpRequest {
            authorization: Some(&wrong),
            ..http
        },
    );
    assert_eq!((refused.answer.status, refused.accepted.len()), (401, 0));
}

#[test]
fn the_recommended_policy_pseudonymises_ids_and_redacts_emails() {
    let key = PseudonymKey::from_bytes(1, &[7; 32]);
    let policy = Policy::recommended();
    let received = parse_time("2026-12-07T16:13:00.000Z").unwrap();
    let mut seen = 0;
    for c in captures() {
        for r in decode(&c, received).records {
            let mut event = r.unwrap().event;
            if event.context.ip.is_some() {
                // the SDKs' 203.0.113.7 is a documentation address, which is not reported
                event.context.ip = Some(json!("81.2.69.160"));
            }
            let kind = event.kind;
            let shape = Segment.shape(kind);
            let record = Segment.encode(event);
            let findings = classify_record(&record, shape);
            if std::env::var("VW_SHOW_FINDINGS").is_ok() {
                for f in &findings {
                    eprintln!("{} {:?} {} {} {}", c.file, kind, f.pointer, f.category, f.detector);
                }
            }
            let ctx = PolicyContext {
                source: "web",
                event: None,
                key: Some(&key),
            };
            let Verdict::Send { record: out, .. } = policy.apply(&record, shape, &findings, &ctx) else {
                panic!("{}: blocked", c.file);
            };
            for id in ["userId", "anonymousId", "previousId"] {
                if let Some(before) = record.get(id).and_then(Value::as_str) {
                    let after = out[id].as_str().unwrap();
                    assert_eq!(after, key.pseudonym(before), "{} {id}", c.file);
                }
            }
            // structure stays: type, messageId, timestamp, the SDK's name, a group's id
            for f in ["type", "messageId", "timestamp", "groupId", "event", "integrations"] {
                assert_eq!(out.get(f), record.get(f), "{} {f}", c.file);
            }
            assert_eq!(out.pointer("/context/library"), record.pointer("/context/library"));
            assert!(!out.to_string().contains("@example.com"), "{}: {out}", c.file);
            assert!(!out.to_string().contains("@acme.test"), "{}: {out}", c.file);
            assert!(out.pointer("/context/ip").is_none(), "{}: IPs are dropped", c.file);
            if record.pointer("/traits/name").is_some() && kind == Kind::Profile {
                assert!(
                    out.pointer("/traits/name").is_none(),
                    "{}: a person's name is dropped",
                    c.file
                );
            }
            if kind == Kind::Group {
                assert_eq!(
                    out.pointer("/traits/name"),
                    record.pointer("/traits/name"),
                    "a company's name stays"
                );
            }
            seen += 1;
        }
    }
    assert!(seen > 40);
}

#[test]
fn answers_are_the_same_on_every_route() {
    for route in Segment.routes() {
        let reply = Segment.early_reply(*route, &request("", b""));
        let ok = Segment.answer(
            &reply,
            &Outcome::Accepted {
                accepted: 1,
                failed: vec![],
            },
        );
        assert_eq!(
            (ok.status, ok.body.as_slice()),
            (200, &br#"{"success":true}"#[..]),
            "{}",
            route.path
        );
        let bad = Segment.answer(&reply, &Outcome::Malformed(RequestError::BadJson));
        assert_eq!(bad.status, 400);
        assert_eq!(Segment.answer(&reply, &Outcome::Unauthorized).status, 401);
        let busy = Segment.answer(&reply, &Outcome::Busy);
        assert_eq!((busy.status, busy.retry_after_secs), (503, Some(5)));
    }
}

fn request<'a>(path: &'a str, body: &'a [u8]) -> HttpRequest<'a> {
    HttpRequest {
        method: Method::Post,
        path,
        query: "",
        content_type: Some("text/plain"),
        content_encoding: None,
        authorization: None,
        body,
        client_ip: Some(CLIENT.parse().unwrap()),
        received_at_ms: 1_800_000_000_000,
    }
}

fn route(path: &str) -> Route {
    *Segment.routes().iter().find(|r| r.path == path).unwrap()
}

fn decode_at(path: &str, body: &[u8], auth: Option<&str>, encoding: Option<&str>) -> Result<Inbound, RequestError> {
    let mut req = request(path, body);
    req.authorization = auth;
    req.content_encoding = encoding;
    Segment.decode(route(path), &req, &limits(), &caps())
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

#[test]
fn every_route_decodes_its_dialect() {
    let track = json!({"type": "track", "event": "E", "userId": "u", "messageId": "m", "writeKey": APP_KEY});
    let basic = BasicAuth::header(APP_KEY, "");
    for r in Segment.routes() {
        let path = r.path;
        if path == "/v1/m" {
            let inb = decode_at(path, b"{\"series\":[]}", None, None).unwrap();
            assert_eq!(inb.special, Some(Special::SdkTelemetry));
            assert!(inb.records.is_empty());
            continue;
        }
        let batch = path.ends_with("/batch") || path.ends_with("/b");
        let body = if batch {
            json!({"batch": [track], "writeKey": APP_KEY}).to_string()
        } else {
            track.to_string()
        };
        for (auth, enc) in [(None, None), (Some(basic.as_str()), Some("gzip"))] {
            let bytes = if enc.is_some() {
                gzip(body.as_bytes())
            } else {
                body.clone().into_bytes()
            };
            let inb = decode_at(path, &bytes, auth, enc).unwrap();
            assert_eq!(inb.auth, Auth::Key(Some(APP_KEY.into())), "{path}");
            assert_eq!(inb.records.len(), 1);
            // single-message routes: the path names the type
            let want = match path.trim_start_matches("/v1/") {
                "batch" | "b" | "track" | "t" => MessageType::Track,
                "identify" | "i" => MessageType::Identify,
                "page" | "p" => MessageType::Page,
                "screen" | "s" => MessageType::Screen,
                "group" | "g" => MessageType::Group,
                "alias" | "a" => MessageType::Alias,
                other => panic!("{other}"),
            };
            if matches!(want, MessageType::Group | MessageType::Alias) {
                // no groupId / previousId: refused alone
                assert!(inb.records[0].is_err(), "{path}");
                continue;
            }
            let rec = inb.records[0].as_ref().unwrap();
            assert_eq!(
                rec.event.envelope.as_ref().unwrap().fields["type"],
                want.name(),
                "{path}"
            );
            let client_side = path.len() <= 5;
            assert_eq!(rec.event.context.client_ip.is_some(), client_side, "{path}");
        }
    }
}

#[test]
fn batch_level_context_and_integrations_are_merged_into_each_message() {
    let body = json!({
        "writeKey": APP_KEY, "sentAt": "2027-01-15T08:00:01.000Z",
        "context": {"ip": "203.0.113.5", "library": {"name": "curl"}, "locale": "fr"},
        "integrations": {"All": false},
        "batch": [
            {"type": "track", "event": "a", "userId": "u", "timestamp": "2027-01-15T08:00:00.000Z",
             "context": {"locale": "de"}},
            {"type": "track", "event": "b", "userId": "u", "integrations": {"All": true}, "context": null},
        ]
    });
    let mut req = request("/v1/batch", body.to_string().as_bytes().to_vec().leak());
    req.received_at_ms = parse_time("2027-01-15T08:00:11.000Z").unwrap();
    let inb = Segment.decode(route("/v1/batch"), &req, &limits(), &caps()).unwrap();
    let a = &inb.records[0].as_ref().unwrap().event;
    let b = &inb.records[1].as_ref().unwrap().event;
    assert_eq!(a.context.ip, Some(json!("203.0.113.5")));
    assert_eq!(
        a.envelope.as_ref().unwrap().fields["context"],
        json!({"locale": "de", "library": {"name": "curl"}})
    );
    assert_eq!(
        a.envelope.as_ref().unwrap().fields["integrations"],
        json!({"All": false})
    );
    assert_eq!(
        b.envelope.as_ref().unwrap().fields["integrations"],
        json!({"All": true})
    );
    // the batch's sentAt corrects 10 s of skew
    assert_eq!(
        a.time.as_ref().and_then(EventTime::millis),
        parse_time("2027-01-15T08:00:10.000Z")
    );
    // a server batch: no client IP
    assert!(b.context.client_ip.is_none());
}

#[test]
fn request_level_errors() {
    let basic = BasicAuth::header("other-key", "");
    let bomb = gzip(&vec![b' '; 4 << 20]);
    type Case<'a> = (&'a str, Vec<u8>, Option<&'a str>, Option<&'a str>, RequestError);
    let cases: Vec<Case> = vec![
        ("/v1/batch", b"".to_vec(), None, None, RequestError::MissingData),
        ("/v1/batch", b"{nope".to_vec(), None, None, RequestError::BadJson),
        ("/v1/batch", b"[1,2]".to_vec(), None, None, RequestError::WrongType),
        (
            "/v1/batch",
            b"{\"writeKey\":\"k\"}".to_vec(),
            None,
            None,
            RequestError::MissingData,
        ),
        (
            "/v1/batch",
            b"{\"batch\":{}}".to_vec(),
            None,
            None,
            RequestError::WrongType,
        ),
        (
            "/v1/batch",
            b"{\"batch\":[],\"writeKey\":5}".to_vec(),
            None,
            None,
            RequestError::WrongType,
        ),
        (
            "/v1/batch",
            format!("{{\"batch\":[],\"writeKey\":\"{APP_KEY}\"}}").into_bytes(),
            Some(basic.as_str()),
            None,
            RequestError::InconsistentKeys,
        ),
        ("/v1/t", b"\xff\xfe".to_vec(), None, None, RequestError::BadJson),
        ("/v1/t", b"\"str\"".to_vec(), None, None, RequestError::WrongType),
        (
            "/v1/t",
            b"\x1f\x8bgarbage".to_vec(),
            None,
            Some("gzip"),
            RequestError::BadCompression("gzip"),
        ),
        (
            "/v1/t",
            b"{}".to_vec(),
            None,
            Some("br"),
            RequestError::UnsupportedEncoding,
        ),
        (
            "/v1/batch",
            bomb,
            None,
            Some("gzip"),
            RequestError::DecompressedTooLarge,
        ),
        (
            "/v1/batch",
            format!("{{\"batch\":[{}]}}", vec!["{}"; 2001].join(",")).into_bytes(),
            None,
            None,
            RequestError::TooManyRecords,
        ),
    ];
    for (path, body, auth, enc, want) in cases {
        assert_eq!(decode_at(path, &body, auth, enc).unwrap_err(), want, "{path} {want:?}");
    }
    // a Bearer token is Segment's OAuth: the body's key names the source
    let body = json!({"batch": [], "writeKey": APP_KEY}).to_string();
    let inb = decode_at("/v1/batch", body.as_bytes(), Some("Bearer eyJhbGciOi"), None).unwrap();
    assert_eq!(inb.auth, Auth::Key(Some(APP_KEY.into())));
    // no key at all: the pipeline answers 401
    let inb = decode_at("/v1/batch", b"{\"batch\":[]}", None, None).unwrap();
    assert_eq!(inb.auth, Auth::Key(None));
}

#[test]
fn bad_messages_fail_alone_naming_the_field_not_the_value() {
    let secret = "secret@example.com";
    let cases: Vec<(Value, Reject, &str)> = vec![
        (json!("nope"), Reject::WrongType, "message"),
        (json!({"event": "e", "userId": "u"}), Reject::MissingField, "type"),
        (json!({"type": secret, "userId": "u"}), Reject::WrongType, "type"),
        (json!({"type": 5, "userId": "u"}), Reject::WrongType, "type"),
        (json!({"type": "track", "event": "e"}), Reject::MissingField, "userId"),
        (
            json!({"type": "track", "event": "e", "userId": "", "anonymousId": null}),
            Reject::MissingField,
            "userId",
        ),
        (
            json!({"type": "track", "event": "e", "userId": {"a": secret}}),
            Reject::WrongType,
            "userId",
        ),
        (
            json!({"type": "track", "event": "e", "anonymousId": [secret]}),
            Reject::WrongType,
            "anonymousId",
        ),
        (json!({"type": "track", "userId": "u"}), Reject::MissingField, "event"),
        (
            json!({"type": "track", "event": "", "userId": "u"}),
            Reject::MissingField,
            "event",
        ),
        (
            json!({"type": "track", "event": 7, "userId": "u"}),
            Reject::WrongType,
            "event",
        ),
        (
            json!({"type": "track", "event": "e", "userId": "u", "properties": [secret]}),
            Reject::WrongType,
            "properties",
        ),
        (
            json!({"type": "track", "event": "e", "userId": "u", "context": secret}),
            Reject::WrongType,
            "context",
        ),
        (
            json!({"type": "track", "event": "e", "userId": "u", "messageId": 5}),
            Reject::BadInsertId,
            "messageId",
        ),
        (
            json!({"type": "track", "event": "e", "userId": "u", "timestamp": secret}),
            Reject::BadTime,
            "timestamp",
        ),
        (
            json!({"type": "track", "event": "e", "userId": "u", "timestamp": 1_700_000_000}),
            Reject::BadTime,
            "timestamp",
        ),
        (
            json!({"type": "track", "event": "e", "userId": "u", "timestamp": "1969-12-31T23:59:59Z"}),
            Reject::BadTime,
            "timestamp",
        ),
        (
            json!({"type": "track", "event": "e", "userId": "u", "timestamp": "1973-03-03T09:46:39.999Z"}),
            Reject::BadTime,
            "timestamp",
        ),
        (
            json!({"type": "track", "event": "e", "userId": "u", "writeKey": 5}),
            Reject::WrongType,
            "writeKey",
        ),
        (
            json!({"type": "identify", "userId": "u", "traits": secret}),
            Reject::WrongType,
            "traits",
        ),
        (json!({"type": "group", "userId": "u"}), Reject::MissingField, "groupId"),
        (
            json!({"type": "group", "userId": "u", "groupId": {"x": 1}}),
            Reject::WrongType,
            "groupId",
        ),
        (
            json!({"type": "alias", "userId": "u"}),
            Reject::MissingField,
            "previousId",
        ),
        (
            json!({"type": "alias", "previousId": "p", "anonymousId": "a"}),
            Reject::MissingField,
            "userId",
        ),
        (
            json!({"type": "track", "event": "e", "userId": "u", "properties": {"deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": {"l": {"m": {"n": {"o": {"p": {"q": 1}}}}}}}}}}}}}}}}}}}),
            Reject::TooDeep,
            "properties",
        ),
        (
            json!({"type": "track", "event": "e", "userId": "u", "context": {"x": "a".repeat(300 << 10)}}),
            Reject::StringTooLong,
            "message",
        ),
    ];
    for (msg, reason, field) in cases {
        let text = msg.to_string();
        let got = Segment.decode_sample(msg, &caps()).unwrap_err();
        assert_eq!(
            (got.reason, got.field),
            (reason, field),
            "{}",
            &text[..text.len().min(120)]
        );
        assert!(!got.to_string().contains(secret));
    }
    // one bad message beside good ones: only it fails, with its messageId
    let body = json!({"writeKey": APP_KEY, "batch": [
        {"type": "track", "event": "a", "userId": "u", "messageId": "m1"},
        {"type": "track", "userId": "u", "messageId": "m2"},
        {"type": "identify", "anonymousId": "x", "messageId": "m3"},
    ]})
    .to_string();
    let inb = decode_at("/v1/batch", body.as_bytes(), None, None).unwrap();
    assert!(inb.records[0].is_ok() && inb.records[2].is_ok());
    let refused = inb.records[1].as_ref().unwrap_err();
    assert_eq!(refused.insert_id.as_deref(), Some("m2"));
}

#[test]
fn messages_map_onto_the_canonical_model() {
    let d = |m: Value| Segment.decode_sample(m, &caps()).unwrap();
    // python keeps nulls: an absent id
    let r = d(
        json!({"type": "track", "event": "E", "userId": null, "anonymousId": "a", "timestamp": "2027-01-15T09:00:00.5+01:00"}),
    );
    assert_eq!(r.event.ids.distinct_id.as_deref(), Some("a"));
    assert_eq!(r.event.ids.user_id, None);
    assert_eq!(r.event.time.unwrap().millis(), parse_time("2027-01-15T08:00:00.500Z"));
    // numbers as ids become their text
    let r = d(json!({"type": "identify", "userId": 42, "traits": {"plan": "pro"}}));
    assert_eq!(r.event.ids.user_id.as_deref(), Some("42"));
    assert_eq!(r.event.operations, vec![("$set".to_owned(), json!({"plan": "pro"}))]);
    // identify without traits still sets (nothing)
    let r = d(json!({"type": "identify", "userId": "u"}));
    assert_eq!(r.event.operations, vec![("$set".to_owned(), json!({}))]);
    // a group's type from its traits
    let r = d(json!({"type": "group", "anonymousId": "a", "groupId": 7, "traits": {"group_type": "company"}}));
    assert_eq!(
        r.event.ids.group,
        Some(GroupRef {
            key: "company".into(),
            id: json!(7)
        })
    );
    // context.direct: the connection's address, which a sample has none of
    let r = d(json!({"type": "track", "event": "E", "userId": "u", "context": {"direct": true, "ip": null}}));
    assert_eq!(r.event.envelope.unwrap().fields["context"], json!({}));
    assert!(r.event.context.ip.is_none());
    // an unknown field travels in the envelope
    let r = d(json!({"type": "page", "userId": "u", "name": "Home", "originalTimestamp": "x", "channel": "server"}));
    let f = r.event.envelope.unwrap().fields;
    assert_eq!(
        (f["name"].clone(), f["channel"].clone()),
        (json!("Home"), json!("server"))
    );
    assert_eq!(f["originalTimestamp"], json!("x"));
    // Segment's own messages are never counted as untranslated
    let r = d(json!({"type": "group", "userId": "u", "groupId": "g", "traits": {"group_type": "company"}}));
    assert_eq!(Segment.untranslatable(&r.event), 0);
    // a track literally named $pageview stays a track
    let r = d(json!({"type": "track", "event": "$pageview", "userId": "u"}));
    assert_eq!(into_message(r.event)["type"], "track");
}

#[test]
fn context_direct_and_client_side_routes_use_the_connection() {
    let direct =
        json!({"type": "track", "event": "E", "userId": "u", "writeKey": APP_KEY, "context": {"direct": true}});
    let inb = decode_at("/v1/track", direct.to_string().as_bytes(), None, None).unwrap();
    let e = &inb.records[0].as_ref().unwrap().event;
    assert_eq!(e.context.client_ip, Some(CLIENT.parse().unwrap()));
    // encoded: the user's address in context.ip, never `direct` (it would be vendorwall's)
    let out = into_message(e.clone());
    assert_eq!(out["context"], json!({"ip": CLIENT}));
    // an SDK-given IP wins over the connection on analytics.js's routes
    let with_ip = json!({"type": "track", "event": "E", "userId": "u", "context": {"ip": "203.0.113.9"}});
    let inb = decode_at("/v1/t", with_ip.to_string().as_bytes(), None, None).unwrap();
    let e = &inb.records[0].as_ref().unwrap().event;
    assert_eq!(
        (e.context.ip.clone(), e.context.client_ip),
        (Some(json!("203.0.113.9")), None)
    );
}

#[test]
fn times_parse_and_format() {
    let cases: Vec<(&str, Option<i64>)> = vec![
        ("1970-01-01T00:00:00Z", Some(0)),
        ("2026-12-07T16:12:41.073+00:00", Some(1_796_659_961_073)),
        ("2026-12-07T16:12:41.573578+00:00", Some(1_796_659_961_573)),
        ("2026-12-07T17:12:41.5+01:00", Some(1_796_659_961_500)),
        ("2026-12-07T11:12:41-0500", Some(1_796_659_961_000)),
        ("2026-12-07T16:12:41", Some(1_796_659_961_000)),
        ("2026-12-07 16:12", Some(1_796_659_920_000)),
        ("2026-12-07", Some(1_796_601_600_000)),
        ("2024-02-29T00:00:00Z", Some(1_709_164_800_000)),
        ("2023-02-29T00:00:00Z", None),
        ("2026-13-01T00:00:00Z", None),
        ("2026-12-07T24:00:00Z", None),
        ("2026-12-07T16:12:41.Z", None),
        ("2026-12-07T16:12:41Zjunk", None),
        ("1969-12-31T23:59:59Z", None),
        ("yesterday", None),
        ("", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_time(text), want, "{text}");
    }
    for ms in [0, 1_796_659_961_073, 951_782_400_999, 4_102_444_800_000] {
        let text = format_time(ms);
        assert_eq!(parse_time(&text), Some(ms), "{text}");
    }
    assert_eq!(format_time(1_796_659_961_073), "2026-12-07T16:12:41.073Z");
}

/// Another vendor's events, as Segment messages.
#[test]
fn foreign_events_encode_as_the_message_their_kind_calls_for() {
    let mut page = Event::new(Kind::Track);
    page.name = Some("$pageview".into());
    page.ids.distinct_id = Some("$device:abc".into());
    page.ids.device_id = Some("abc".into());
    page.insert_id = Some("ins-1".into());
    page.time = Some(EventTime(serde_json::Number::from_f64(1_700_000_000.5).unwrap()));
    page.context.ip = Some(json!("203.0.113.1"));
    for (k, v) in [
        ("$current_url", json!("https://a.test/p?q=1")),
        ("$os", json!("Linux")),
        ("utm_source", json!("news")),
        ("$browser", json!("Chrome")),
        ("name", json!("Pricing")),
        ("plan", json!("pro")),
    ] {
        page.properties.insert(k.into(), v);
    }
    assert_eq!(
        into_message(page),
        json!({"type": "page", "name": "Pricing", "anonymousId": "abc", "messageId": "ins-1",
               "timestamp": "2023-11-14T22:13:20.500Z",
               "properties": {"$browser": "Chrome", "name": "Pricing", "plan": "pro"},
               "context": {"page": {"url": "https://a.test/p?q=1"}, "os": {"name": "Linux"},
                           "campaign": {"source": "news"}, "ip": "203.0.113.1"}})
    );

    let mut alias = Event::new(Kind::Track);
    alias.name = Some("$create_alias".into());
    alias.ids.distinct_id = Some("old".into());
    alias.properties.insert("alias".into(), json!("new"));
    assert_eq!(
        into_message(alias),
        json!({"type": "alias", "previousId": "old", "userId": "new"})
    );

    let mut screen = Event::new(Kind::Track);
    screen.name = Some("$screen".into());
    screen.ids.user_id = Some("u".into());
    screen.ids.distinct_id = Some("u".into());
    screen.properties.insert("$screen_name".into(), json!("Settings"));
    assert_eq!(
        into_message(screen),
        json!({"type": "screen", "name": "Settings", "userId": "u", "properties": {}})
    );

    let mut profile = Event::new(Kind::Profile);
    profile.ids.distinct_id = Some("u1".into());
    profile.operations = vec![
        ("$set".into(), json!({"plan": "pro", "email": "a@b.test"})),
        ("$set_once".into(), json!({"plan": "free", "first_seen": "2024"})),
        ("$unset".into(), json!(["old"])),
        ("$add".into(), json!({"logins": 1})),
    ];
    profile.properties.insert("$ignore_time".into(), json!(true));
    // $set_once, $unset and $add have no place in Segment: counted
    assert_eq!(Segment.untranslatable(&profile), 3);
    assert_eq!(crate::protocol::translate(&mut profile.clone(), Vendor::Segment), 3);
    assert_eq!(
        into_message(profile),
        json!({"type": "identify", "userId": "u1",
               "traits": {"plan": "pro", "email": "a@b.test", "first_seen": "2024",
                          "segment_unsupported_ops": {"$unset": ["old"], "$add": {"logins": 1}}},
               "properties": {"$ignore_time": true}})
    );

    let mut group = Event::new(Kind::Group);
    group.ids.group = Some(GroupRef {
        key: "company".into(),
        id: json!("acme"),
    });
    group.operations = vec![("$set".into(), json!({"name": "Acme"}))];
    assert_eq!(Segment.untranslatable(&group), 1, "the group type is a stand-in");
    assert_eq!(
        into_message(group),
        json!({"type": "group", "groupId": "acme", "traits": {"name": "Acme", "group_type": "company"}})
    );

    let mut track = Event::new(Kind::Track);
    track.name = Some("Signup".into());
    track.ids.distinct_id = Some("u".into());
    track.context.client_ip = Some("198.51.100.1".parse().unwrap());
    assert_eq!(
        into_message(track),
        json!({"type": "track", "event": "Signup", "userId": "u", "properties": {}, "context": {"ip": "198.51.100.1"}})
    );
}

#[test]
fn envelopes_lift_into_canonical_properties() {
    let sent = json!({
        "type": "page", "userId": "u", "name": "Pricing", "category": "Docs",
        "properties": {"path": "/pricing", "category": "Other"},
        "context": {
            "page": {"url": "https://a.test/pricing", "referrer": "", "title": "T", "hash": "#x"},
            "userAgent": "UA/1.0", "locale": "de-CH", "timezone": "Europe/Zurich",
            "library": {"name": "analytics.js", "version": "next-1.84.3"},
            "location": {"country": "Switzerland", "city": "Zürich"},
            "campaign": {"source": "news", "name": "spring"},
            "device": {"id": "dev-1", "model": "Pixel"},
            "groupId": "acme",
            "userAgentData": {"mobile": false},
            "ip": "203.0.113.1"
        },
        "integrations": {"Segment.io": true},
        "_metadata": {"bundled": ["Segment.io"]},
        "originalTimestamp": "2027-01-01T00:00:00Z",
        "channel": "browser"
    });
    let mut e = Segment.decode_sample(sent, &caps()).unwrap().event;
    let n = lift(&mut e);
    assert!(e.envelope.is_none());
    assert_eq!(
        Value::Object(e.properties.clone()),
        json!({
            "path": "/pricing", "category": "Other",
            "$current_url": "https://a.test/pricing", "$title": "T",
            "$user_agent": "UA/1.0", "$locale": "de-CH", "$timezone": "Europe/Zurich",
            "$lib": "analytics.js", "$lib_version": "next-1.84.3",
            "$device_model": "Pixel", "$city": "Zürich",
            "utm_source": "news", "utm_campaign": "spring",
            "$groups": {"group": "acme"},
            "segment_context_page": {"hash": "#x"},
            "segment_context_location": {"country": "Switzerland"},
            "segment_context_device": {"id": "dev-1"},
            "segment_context_userAgentData": {"mobile": false},
            "name": "Pricing",
            "segment_category": "Docs",
            "segment_integrations": {"Segment.io": true},
            "segment_metadata": {"bundled": ["Segment.io"]},
            "segment_originalTimestamp": "2027-01-01T00:00:00Z",
            "segment_channel": "browser"
        })
    );
    // page.hash, location.country (not a code), device.id, userAgentData.mobile, the
    // category that differs, integrations, _metadata, originalTimestamp, channel
    assert_eq!(n, 9);
    // the IP stays where every encoder reads it
    assert_eq!(e.context.ip, Some(json!("203.0.113.1")));

    // screens: name → $screen_name; a two-letter country is a code
    let mut s = Segment
        .decode_sample(
            json!({"type": "screen", "userId": "u", "name": "Home", "context": {"location": {"country": "CH"}}}),
            &caps(),
        )
        .unwrap()
        .event;
    assert_eq!(lift(&mut s), 0);
    assert_eq!(
        Value::Object(s.properties),
        json!({"$country_code": "CH", "$screen_name": "Home"})
    );

    // through the seam: a Mixpanel destination gets the lifted properties
    let mut t = Segment
        .decode_sample(
            json!({"type": "track", "event": "E", "userId": "u", "integrations": {}}),
            &caps(),
        )
        .unwrap()
        .event;
    assert_eq!(crate::protocol::translate(&mut t, Vendor::Mixpanel), 0);
    assert!(t.envelope.is_none() && t.properties.is_empty());
    // and a Segment destination keeps the envelope
    let mut t2 = Segment
        .decode_sample(
            json!({"type": "track", "event": "E", "userId": "u", "_metadata": {"a": 1}}),
            &caps(),
        )
        .unwrap()
        .event;
    assert_eq!(crate::protocol::translate(&mut t2, Vendor::Segment), 0);
    assert!(t2.envelope.is_some());
}

/// Other vendors' events, lifted by their own protocol and encoded here, are messages the
/// emulated Segment takes, with their canonical device fields in `context`.
#[test]
fn other_vendors_events_are_messages_segment_takes() {
    let amplitude = json!({"event_type": "Signup", "user_id": "user-1", "device_id": "device-1",
        "time": 1_790_000_000_000i64, "insert_id": "amp-1", "os_name": "iOS", "ip": "81.2.69.160",
        "event_properties": {"plan": "pro"}});
    let mixpanel = json!({"event": "$create_alias", "properties": {"token": "t", "distinct_id": "old", "alias": "new",
        "time": 1_790_000_000, "$insert_id": "mp-1"}});
    let profile = json!({"$token": "t", "$distinct_id": "user-2", "$set": {"plan": "pro"}, "$set_once": {"first": 1}});
    let posthog = json!({"event": "$pageview", "distinct_id": "ph-user", "uuid": "0190b3c4-0000-7000-8000-000000000001",
        "timestamp": "2026-09-21T10:00:00.000Z", "properties": {"$current_url": "https://a.test/p", "$os": "Mac OS X", "plan": "pro"}});
    for (vendor, record) in [
        (Vendor::PostHog, posthog),
        (Vendor::Amplitude, amplitude),
        (Vendor::Mixpanel, mixpanel),
        (Vendor::Mixpanel, profile),
    ] {
        let mut event = vendor.protocol().decode_sample(record.clone(), &caps()).unwrap().event;
        crate::protocol::translate(&mut event, Vendor::Segment);
        let mut out = Segment.encode(event);
        Segment.finish(&mut out, Kind::Track, &target());
        assert_eq!(emulator::validate(&out, None, REAL_KEY), Ok(()), "{out}");
        match vendor {
            Vendor::Amplitude => {
                assert_eq!(out["userId"], "user-1");
                assert_eq!(out["anonymousId"], "device-1");
                assert_eq!(out["messageId"], "amp-1");
                assert_eq!(out.pointer("/context/os/name"), Some(&json!("iOS")));
                assert_eq!(out.pointer("/context/ip"), Some(&json!("81.2.69.160")));
                assert_eq!(out["timestamp"], format_time(1_790_000_000_000));
            }
            Vendor::PostHog => {
                assert_eq!(out["type"], "page");
                assert_eq!(out["userId"], "ph-user");
                assert_eq!(out["messageId"], "0190b3c4-0000-7000-8000-000000000001");
                assert_eq!(out.pointer("/context/page/url"), Some(&json!("https://a.test/p")));
                assert_eq!(out.pointer("/context/os/name"), Some(&json!("Mac OS X")));
                assert_eq!(out.pointer("/properties/plan"), Some(&json!("pro")));
            }
            _ if out["type"] == "alias" => {
                assert_eq!(
                    (out["previousId"].clone(), out["userId"].clone()),
                    (json!("old"), json!("new"))
                );
                assert_eq!(out["messageId"], "mp-1");
            }
            _ => {
                assert_eq!(out["type"], "identify");
                assert_eq!(out["traits"], json!({"plan": "pro", "first": 1}));
            }
        }
    }
}

#[test]
fn emulator_rules() {
    let project = EmulatedProject {
        key: REAL_KEY.into(),
        secret: None,
        now_ms: 1_800_000_000_000,
    };
    let basic = BasicAuth::header(REAL_KEY, "");
    let emulate = |path: &str, method: Method, body: &[u8], auth: Option<&str>| {
        let req = HttpRequest {
            method,
            path,
            query: "",
            content_type: Some("application/json"),
            content_encoding: None,
            authorization: auth,
            body,
            client_ip: None,
            received_at_ms: project.now_ms,
        };
        let e = Segment.emulate(&project, &req);
        (e.answer.status, e.endpoint, e.accepted.len(), e.rejected)
    };
    let good = json!({"type": "track", "event": "E", "userId": "u", "messageId": "m"});
    let batch = |items: Vec<Value>| json!({"batch": items, "sentAt": "2027-01-01T00:00:00Z"}).to_string();
    let ok = batch(vec![good.clone()]);
    let big = "x".repeat(40 * 1024);
    let wrong = BasicAuth::header("wrong", "");
    /// (status, endpoint, accepted, rejected)
    type Got<'a> = (u16, Option<&'a str>, usize, usize);
    type Case<'a> = (&'a str, Method, Vec<u8>, Option<&'a str>, Got<'a>);
    let cases: Vec<Case> = vec![
        (
            "/v1/batch",
            Method::Post,
            ok.clone().into_bytes(),
            Some(&basic),
            (200, Some("batch"), 1, 0),
        ),
        (
            "/v1/batch/",
            Method::Post,
            ok.clone().into_bytes(),
            Some(&basic),
            (200, Some("batch"), 1, 0),
        ),
        (
            "/v1/b",
            Method::Post,
            ok.clone().into_bytes(),
            Some(&basic),
            (200, Some("b"), 1, 0),
        ),
        // the key in the body instead
        (
            "/v1/batch",
            Method::Post,
            json!({"batch": [good.clone()], "writeKey": REAL_KEY})
                .to_string()
                .into_bytes(),
            None,
            (200, Some("batch"), 1, 0),
        ),
        (
            "/v1/batch",
            Method::Post,
            ok.clone().into_bytes(),
            None,
            (401, Some("batch"), 0, 0),
        ),
        (
            "/v1/batch",
            Method::Post,
            ok.clone().into_bytes(),
            Some(&wrong),
            (401, Some("batch"), 0, 0),
        ),
        (
            "/v1/batch",
            Method::Post,
            json!({"batch": [good.clone()], "writeKey": "wrong"})
                .to_string()
                .into_bytes(),
            Some(&basic),
            (401, Some("batch"), 0, 0),
        ),
        (
            "/v1/batch",
            Method::Get,
            Vec::new(),
            Some(&basic),
            (405, Some("batch"), 0, 0),
        ),
        (
            "/v1/batch",
            Method::Post,
            b"{nope".to_vec(),
            Some(&basic),
            (400, Some("batch"), 0, 0),
        ),
        (
            "/v1/batch",
            Method::Post,
            b"{}".to_vec(),
            Some(&basic),
            (400, Some("batch"), 0, 0),
        ),
        (
            "/v1/batch",
            Method::Post,
            batch(vec![
                json!({"type": "track", "event": "E", "userId": "u", "p": "x".repeat(600 * 1024)}),
            ])
            .into_bytes(),
            Some(&basic),
            (400, Some("batch"), 0, 0),
        ),
        (
            "/v1/nope",
            Method::Post,
            ok.clone().into_bytes(),
            Some(&basic),
            (404, None, 0, 0),
        ),
        // every message rule; valid ones beside them are ingested, and the answer is 200
        (
            "/v1/batch",
            Method::Post,
            batch(vec![
                good.clone(),
                json!({"event": "E", "userId": "u"}),
                json!({"type": "nope", "userId": "u"}),
                json!({"type": "track", "event": "E"}),
                json!({"type": "track", "userId": "u"}),
                json!({"type": "group", "userId": "u"}),
                json!({"type": "alias", "userId": "u"}),
                json!({"type": "alias", "previousId": "p", "anonymousId": "a"}),
                json!({"type": "track", "event": "E", "userId": "u", "timestamp": "yesterday"}),
                json!({"type": "track", "event": "E", "userId": "u", "writeKey": "app"}),
                json!({"type": "track", "event": "E", "userId": "u", "properties": {"big": big}}),
                json!({"type": "identify", "anonymousId": "a", "traits": {}}),
                json!({"type": "group", "anonymousId": "a", "groupId": 5}),
                json!({"type": "alias", "previousId": "p", "userId": "u"}),
                json!({"type": "page", "userId": "u"}),
                json!({"type": "screen", "userId": 5}),
            ])
            .into_bytes(),
            Some(&basic),
            (200, Some("batch"), 6, 10),
        ),
        // over 2500: 200, and nothing ingested
        (
            "/v1/batch",
            Method::Post,
            batch(vec![good.clone(); 2501]).into_bytes(),
            Some(&basic),
            (200, Some("batch"), 0, 2501),
        ),
        // single-message routes: the path names the type
        (
            "/v1/t",
            Method::Post,
            json!({"event": "E", "userId": "u", "writeKey": REAL_KEY})
                .to_string()
                .into_bytes(),
            None,
            (200, Some("t"), 1, 0),
        ),
        (
            "/v1/group",
            Method::Post,
            json!({"userId": "u"}).to_string().into_bytes(),
            Some(&basic),
            (200, Some("group"), 0, 1),
        ),
    ];
    for (path, method, body, auth, want) in cases {
        assert_eq!(
            emulate(path, method, &body, auth),
            want,
            "{path} {}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
    }
    // gzip bodies are inflated; the record is the message as received
    let gz = gzip(ok.as_bytes());
    let req = HttpRequest {
        method: Method::Post,
        path: "/v1/batch",
        query: "",
        content_type: Some("application/json"),
        content_encoding: Some("gzip"),
        authorization: Some(&basic),
        body: &gz,
        client_ip: None,
        received_at_ms: project.now_ms,
    };
    let e = Segment.emulate(&project, &req);
    assert_eq!(e.accepted, vec![good]);
    assert_eq!(emulator::endpoint("/v1/m"), None);
}

#[test]
fn vendor_ids_limits_and_deletion() {
    assert_eq!(
        Segment.vendor_id(&json!({"userId": "u", "anonymousId": "a"}), Kind::Track),
        Some("u".into())
    );
    assert_eq!(
        Segment.vendor_id(&json!({"userId": "", "anonymousId": "a"}), Kind::Profile),
        Some("a".into())
    );
    assert_eq!(Segment.vendor_id(&json!({"groupId": "g"}), Kind::Group), None);
    let limits = Segment.batch_limits();
    assert_eq!(
        (limits.max_records, limits.max_bytes, limits.default_bytes),
        (2500, 500_000, 475_000)
    );
    let spec = Segment.destination_spec();
    assert_eq!(
        (spec.default_endpoint, spec.key_name, spec.secret_name),
        ("https://api.segment.io", "write_key", None)
    );
    let d = Segment.deletion_request();
    assert_eq!(
        d.fields,
        json!({"regulationType": "SUPPRESS_WITH_DELETE", "subjectType": "USER_ID"})
    );
    assert_eq!((d.ids_field, d.max_ids_per_call), ("subjectIds", 5000));
    assert!(d.api.contains("https://api.segmentapis.com/regulations"));
    // finish never leaves a write key in a message
    let mut m = json!({"type": "track", "writeKey": APP_KEY});
    Segment.finish(&mut m, Kind::Track, &target());
    assert_eq!(m, json!({"type": "track"}));
    assert_eq!(Segment.emulator_endpoint("/v1/t/"), Some("t"));
}

#[test]
fn roles() {
    use super::roles::{LAYOUT, role_of};
    use crate::classify::roles::Level;
    use crate::classify::taxonomy as t;
    let cat = |level, key| role_of(level, key).map(|r| r.category);
    let cases: Vec<(Level, &str, Option<&str>)> = vec![
        (Level::EventTop, "userId", Some(t::UNIQUE_ID)),
        (Level::EventTop, "anonymousId", Some(t::UNIQUE_ID)),
        (Level::EventTop, "previousId", Some(t::UNIQUE_ID)),
        (Level::ProfileTop, "userId", Some(t::UNIQUE_ID)),
        (Level::GroupTop, "groupId", None),
        (Level::EventTop, "messageId", None),
        (Level::Context, "ip", Some(t::IP_ADDRESS)),
        (Level::Context, "url", Some(t::BROWSING_HISTORY)),
        (Level::Context, "referrer", Some(t::BROWSING_HISTORY)),
        (Level::Context, "userAgent", Some(t::DEVICE)),
        (Level::Context, "city", Some(t::COARSE_LOCATION)),
        (Level::Context, "latitude", Some(t::PRECISE_LOCATION)),
        (Level::Context, "advertisingId", Some(t::DEVICE_ID)),
        (Level::Context, "name", None),
        (Level::EventProperties, "url", Some(t::BROWSING_HISTORY)),
        (Level::EventProperties, "$current_url", Some(t::BROWSING_HISTORY)),
        (Level::EventProperties, "$os", Some(t::DEVICE)),
        (Level::EventProperties, "$city", Some(t::COARSE_LOCATION)),
        (Level::EventProperties, "$latitude", Some(t::PRECISE_LOCATION)),
        (Level::EventProperties, "alias", Some(t::UNIQUE_ID)),
        (Level::EventProperties, "plan", None),
        (Level::PeopleProperties, "email", Some(t::EMAIL)),
        (Level::PeopleProperties, "phone", Some(t::PHONE)),
        (Level::PeopleProperties, "firstName", Some(t::NAME)),
        (Level::PeopleProperties, "$email", Some(t::EMAIL)),
        (Level::PeopleProperties, "id", Some(t::UNIQUE_ID)),
        (Level::PeopleProperties, "city", Some(t::COARSE_LOCATION)),
        (Level::PeopleProperties, "postalCode", Some(t::POSTAL_CODE)),
        (Level::PeopleProperties, "birthday", Some(t::DATE_OF_BIRTH)),
        (Level::GroupProperties, "name", None),
        (Level::GroupProperties, "email", None),
        (Level::GroupProperties, "city", Some(t::COARSE_LOCATION)),
    ];
    for (level, key, want) in cases {
        assert_eq!(cat(level, key), want, "{level:?} {key}");
    }
    assert!((LAYOUT.is_project_key)(Level::EventTop, "writeKey"));
    assert!(!(LAYOUT.is_project_key)(Level::EventProperties, "writeKey"));
    assert_eq!(LAYOUT.id, 1);
    assert_eq!(LAYOUT.detector, "role.segment");
    let rec = json!({"type": "identify", "userId": "u", "traits": {"email": "a@b.test", "a/b": 1},
                     "context": {"library": {"name": "x"}, "ip": "1.2.3.4"}});
    assert_eq!(
        (LAYOUT.property_pointers)(&rec, Level::ProfileTop),
        vec!["/traits/email", "/traits/a~1b", "/context/ip"]
    );
    let page = json!({"type": "page", "properties": {"url": "u"}, "context": {"location": {"country": "CH"}}});
    assert_eq!(
        (LAYOUT.property_pointers)(&page, Level::EventTop),
        vec!["/properties/url", "/context/location"]
    );
    assert_eq!((LAYOUT.country_code)(&page, Level::EventTop), Some(&json!("CH")));
    // the classifier finds ids by role, and names them by the layout's detector
    let f = classify_record(
        &json!({"type": "track", "userId": "u-1", "context": {"ip": "81.2.69.160"}}),
        Segment.shape(Kind::Track),
    );
    assert!(
        f.iter()
            .any(|f| f.pointer == "/userId" && f.detector == "role.segment" && f.category == t::UNIQUE_ID)
    );
    assert!(
        f.iter()
            .any(|f| f.pointer == "/context/ip" && f.category == t::IP_ADDRESS)
    );
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    use crate::protocol::arbitrary::value;

    fn bag() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map("[a-zA-Z$_ ]{1,12}", value(), 0..6).prop_map(|m| m.into_iter().collect())
    }

    /// `context` without `ip` at its top (lifted) and without `direct` (read at receipt).
    fn context() -> impl Strategy<Value = Map<String, Value>> {
        bag().prop_map(|mut m| {
            m.shift_remove("ip");
            m.shift_remove("direct");
            m
        })
    }

    fn id() -> impl Strategy<Value = String> {
        "[A-Za-z0-9@._:-]{1,24}"
    }

    /// A message as an SDK sends it, in canonical form (ISO ms timestamp, no nulls for ids).
    fn message() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(MessageType::ALL.to_vec()),
            proptest::option::of(id()),
            proptest::option::of(id()),
            id(),
            "\\PC{1,20}",
            bag(),
            proptest::option::of(context()),
            proptest::option::of(prop::collection::btree_map("[A-Za-z.]{1,10}", any::<bool>(), 0..3)),
            proptest::option::of(100_000_000_000i64..4_102_444_800_000),
            proptest::option::of("[0-9.:]{7,15}"),
            "[a-z0-9-]{1,40}",
        )
            .prop_map(
                |(ty, user, anon, other_id, name, bag, ctx, integrations, time, ip, message_id)| {
                    let mut m = Map::new();
                    m.insert("type".into(), json!(ty.name()));
                    let (user, anon) = match (ty, user, anon) {
                        (MessageType::Alias, None, a) => (Some(other_id.clone()), a),
                        (_, None, None) => (None, Some(other_id.clone())),
                        (_, u, a) => (u, a),
                    };
                    if let Some(u) = user {
                        m.insert("userId".into(), json!(u));
                    }
                    if let Some(a) = anon {
                        m.insert("anonymousId".into(), json!(a));
                    }
                    m.insert("messageId".into(), json!(message_id));
                    if let Some(t) = time {
                        m.insert("timestamp".into(), json!(format_time(t)));
                    }
                    match ty {
                        MessageType::Track => {
                            m.insert("event".into(), json!(name));
                            m.insert("properties".into(), Value::Object(bag));
                        }
                        MessageType::Page | MessageType::Screen => {
                            m.insert("name".into(), json!(name));
                            m.insert("properties".into(), Value::Object(bag));
                        }
                        MessageType::Identify => {
                            m.insert("traits".into(), Value::Object(bag));
                        }
                        MessageType::Group => {
                            m.insert("groupId".into(), json!(other_id));
                            let mut traits = bag;
                            traits.shift_remove("group_type");
                            m.insert("traits".into(), Value::Object(traits));
                        }
                        MessageType::Alias => {
                            m.insert("previousId".into(), json!(other_id));
                        }
                    }
                    let mut ctx = ctx;
                    if let Some(ip) = ip {
                        ctx.get_or_insert_with(Map::new).insert("ip".into(), json!(ip));
                    }
                    if let Some(c) = ctx {
                        m.insert("context".into(), Value::Object(c));
                    }
                    if let Some(i) = integrations {
                        m.insert("integrations".into(), json!(i));
                    }
                    Value::Object(m)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// decode → canonical → encode gives back every field of a message, the
        /// idempotency key byte for byte.
        #[test]
        fn messages_round_trip(msg in message()) {
            let decoded = Segment.decode_sample(msg.clone(), &caps()).unwrap();
            prop_assert_eq!(decoded.event.insert_id.as_deref(), msg["messageId"].as_str());
            prop_assert_eq!(into_message(decoded.event), msg);
        }

        /// The same messages in an analytics.js batch, gzipped, with the key in every
        /// message: decoded unchanged but for the key, which never stays in an event.
        #[test]
        fn browser_batches_decode_losslessly(msgs in prop::collection::vec(message(), 1..5)) {
            let items: Vec<Value> = msgs.iter().map(|m| {
                let mut m = m.clone();
                m["writeKey"] = json!(APP_KEY);
                m
            }).collect();
            let body = gzip(json!({"writeKey": APP_KEY, "batch": items}).to_string().as_bytes());
            let inb = decode_at("/v1/b", &body, None, None).unwrap();
            for (r, m) in inb.records.into_iter().zip(msgs) {
                let r = r.unwrap();
                prop_assert_eq!(r.key.as_deref(), Some(APP_KEY));
                let mut e = r.event;
                e.context.client_ip = None;
                prop_assert_eq!(into_message(e), m);
            }
        }

        /// Arbitrary bytes and headers never panic the decoder.
        #[test]
        fn malformed_requests_never_panic(
            body in prop::collection::vec(any::<u8>(), 0..512),
            path in prop::sample::select(vec!["/v1/batch", "/v1/b", "/v1/t", "/v1/identify", "/v1/m"]),
            ce in proptest::option::of(prop_oneof![Just("gzip"), Just("deflate"), Just("br")]),
            auth in proptest::option::of("\\PC{0,40}"),
        ) {
            let _ = decode_at(path, &body, auth.as_deref(), ce);
        }

        /// Any JSON value as a message, in a batch or alone, is decoded or refused, never a
        /// panic; and whatever decodes encodes, and is answered by the emulator.
        #[test]
        fn arbitrary_messages_never_panic(v in value(), ty in prop::sample::select(vec!["track", "identify", "page", "screen", "group", "alias"])) {
            for m in [v.clone(), json!({"type": ty, "userId": "u", "event": "e", "groupId": "g", "previousId": "p", "properties": v.clone(), "traits": v.clone(), "context": v.clone()})] {
                if let Ok(r) = Segment.decode_sample(m.clone(), &caps()) {
                    let _ = into_message(r.event.clone());
                    let mut e = r.event;
                    let _ = lift(&mut e);
                }
                let _ = emulator::validate(&m, None, "k");
            }
        }
    }
}
