//! Segment end to end: `vendorwall serve` with a Segment source and a Segment destination
//! pointed at the Segment emulator. Every dialect in (the official SDKs' captured requests
//! replayed byte for byte, the HTTP API, a header-less beacon, gzip without a header), the
//! emulated `api.segment.io` out: every message, its `messageId` byte for byte, the real
//! write key and no app-side key anywhere; the recommended policy; bad input answered and
//! counted; vendor faults; a Mixpanel destination fed by a Segment source; and the official
//! SDKs themselves (python, node, analytics.js in Chromium).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use vendorwall::emulator::{Emulator, EmulatorConfig, Fault, ReceivedRecord};
use vendorwall::protocol::Vendor;
use vendorwall::protocol::segment::decode::parse_time;

use crate::support::*;

/// The write key in the captures (and the one the SDK scripts get).
const APP_KEY: &str = "seg-write-key-123";
/// The destination's real write key: the only key Segment may see.
const REAL_KEY: &str = "real-segment-write-key";
const WAIT: Duration = Duration::from_secs(20);

async fn segment_emulator() -> Emulator {
    Emulator::start(EmulatorConfig::new(Vendor::Segment, REAL_KEY))
        .await
        .expect("start the Segment emulator")
}

/// Options for a Segment gateway configuration.
struct Seg {
    policy: &'static str,
    limits: &'static str,
    max_queue_records: u64,
    cors: &'static str,
    /// Extra TOML appended (another destination).
    extra: String,
}

impl Default for Seg {
    fn default() -> Self {
        Seg {
            policy: "\"passthrough\"",
            limits: "",
            max_queue_records: 1_000_000,
            cors: "",
            extra: String::new(),
        }
    }
}

/// `vendorwall.toml` with a Segment source `web` (key [`APP_KEY`]) and a Segment
/// destination `segment` delivering to `url` with [`REAL_KEY`].
fn segment_config(dir: &Path, url: &str, o: &Seg) -> PathBuf {
    let text = format!(
        r#"version = 1
[server]
listen = "127.0.0.1:0"
cors_allowed_origins = [{cors}]
[admin]
listen = "127.0.0.1:0"
[store]
path = "store"
{limits}
[[sources]]
name = "web"
protocol = "segment"
tokens = ["{APP_KEY}"]

[[destinations]]
name = "segment"
type = "segment"
endpoint = "{url}"
write_key = "{REAL_KEY}"
sources = ["web"]
request_timeout_secs = 10
retry_initial_backoff_ms = 50
retry_max_backoff_secs = 1
batch_linger_ms = 20
max_queue_records = {maxq}
policy = {policy}
{extra}
"#,
        cors = o.cors,
        limits = o.limits,
        maxq = o.max_queue_records,
        policy = o.policy,
        extra = o.extra,
    );
    let path = dir.join("vendorwall.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// One captured SDK request (`tests/sdk/wire/segment_*.http`).
struct Capture {
    file: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    messages: Vec<Value>,
}

fn captures() -> Vec<Capture> {
    use base64::Engine;
    let dir = repo().join("tests/sdk/wire");
    let index: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut out = Vec::new();
    for entry in index
        .iter()
        .filter(|e| e["vendor"] == "segment" && e["method"] == "POST")
    {
        let file = entry["file"].as_str().unwrap().to_owned();
        let raw = std::fs::read(dir.join(&file)).unwrap();
        let split = raw.windows(2).position(|w| w == b"\n\n").unwrap();
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let mut body = raw[split + 2..].to_vec();
        if entry["file_body"] == "base64" {
            body = base64::engine::general_purpose::STANDARD
                .decode(body.trim_ascii())
                .unwrap();
        }
        let mut lines = head.lines();
        let target = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect();
        let decoded = &entry["decoded"];
        let messages = match decoded.get("batch") {
            Some(Value::Array(items)) => items.clone(),
            _ => vec![decoded.clone()],
        };
        out.push(Capture {
            file,
            path: target.to_owned(),
            headers,
            body,
            messages,
        });
    }
    assert!(out.len() >= 10, "the Segment captures are missing");
    out
}

/// Replays a capture: the same path, body and the headers that matter.
async fn replay(base: &str, c: &Capture) -> (u16, String) {
    let mut req = client().post(format!("{base}{}", c.path));
    for (k, v) in &c.headers {
        if matches!(
            k.as_str(),
            "content-type" | "content-encoding" | "authorization" | "origin"
        ) {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let r = req.body(c.body.clone()).send().await.expect("post");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

async fn post(url: &str, auth: Option<&str>, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    let mut req = client().post(url).header("Content-Type", content_type);
    if let Some(key) = auth {
        req = req.basic_auth(key, Some(""));
    }
    req.body(body).send().await.expect("post")
}

fn message_ids(records: &[ReceivedRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r.record["messageId"].as_str().map(str::to_owned))
        .collect()
}

fn mentions(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.contains(needle),
        Value::Array(a) => a.iter().any(|x| mentions(x, needle)),
        Value::Object(m) => m.iter().any(|(k, x)| k.contains(needle) || mentions(x, needle)),
        _ => false,
    }
}

async fn wait_for(vendor: &Emulator, n: usize, cfg: &Path, server: &Server) {
    assert!(
        vendor.wait_for_records(n, WAIT).await,
        "the vendor got {} of {n}: {:?}\noutbox: {}\nlog: {}",
        vendor.received().len(),
        message_ids(&vendor.received()),
        cli(&["outbox", "list", "--config", cfg.to_str().unwrap()]).1,
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dialect_reaches_segment_with_the_real_key() {
    let vendor = segment_emulator().await;
    let dir = TempDir::new("seg-dialects");
    let cfg = segment_config(
        dir.path(),
        &vendor.base_url(),
        &Seg {
            cors: "\"http://app.test\"",
            ..Seg::default()
        },
    );
    let server = Server::start(&cfg);
    let base = &server.base_url;

    // the official SDKs' requests, byte for byte
    let mut expected: Vec<String> = Vec::new();
    let mut skew: Vec<(String, i64)> = Vec::new();
    for c in captures() {
        let sent_at_ms = now_ms();
        let (status, body) = replay(base, &c).await;
        assert_eq!((status, body.as_str()), (200, r#"{"success":true}"#), "{}", c.file);
        for m in &c.messages {
            let id = m["messageId"].as_str().unwrap().to_owned();
            let ts = parse_time(m["timestamp"].as_str().unwrap()).unwrap();
            let client_sent = m
                .get("sentAt")
                .and_then(Value::as_str)
                .and_then(parse_time)
                .or_else(|| batch_sent_at_ms(&c))
                .unwrap();
            skew.push((id.clone(), ts + (sent_at_ms - client_sent)));
            expected.push(id);
        }
    }

    // the HTTP API: /v1/<type>, Basic auth or the key in the body, a trailing slash
    let api = [
        (
            "/v1/track",
            json!({"userId": "api-user", "event": "API Event", "messageId": "api-1", "properties": {"n": 1}}),
        ),
        (
            "/v1/identify/",
            json!({"userId": "api-user", "messageId": "api-2", "traits": {"plan": "pro"}, "writeKey": APP_KEY}),
        ),
        (
            "/v1/page",
            json!({"anonymousId": "api-anon", "name": "Home", "messageId": "api-3"}),
        ),
        (
            "/v1/screen",
            json!({"userId": "api-user", "name": "Settings", "messageId": "api-4"}),
        ),
        (
            "/v1/group",
            json!({"userId": "api-user", "groupId": "acme", "messageId": "api-5", "traits": {"size": 3}}),
        ),
        (
            "/v1/alias",
            json!({"previousId": "api-anon", "userId": "api-user", "messageId": "api-6"}),
        ),
    ];
    for (path, body) in &api {
        let auth = (body.get("writeKey").is_none()).then_some(APP_KEY);
        let r = post(&format!("{base}{path}"), auth, "application/json", body.to_string()).await;
        assert_eq!(r.status(), 200, "{path}");
        expected.push(body["messageId"].as_str().unwrap().to_owned());
    }
    // a beacon-like request: text/plain, no Authorization header, the key in the body
    let beacon = json!({"type": "track", "event": "Beacon", "anonymousId": "b-anon", "messageId": "beacon-1", "writeKey": APP_KEY});
    let r = post(
        &format!("{base}/v1/t"),
        None,
        "text/plain;charset=UTF-8",
        beacon.to_string(),
    )
    .await;
    assert_eq!(r.status(), 200);
    expected.push("beacon-1".into());
    // gzip recognised by its magic bytes, without Content-Encoding
    let gz = vendorwall::protocol::wire::gzip(
        json!({"writeKey": APP_KEY, "batch": [
            {"type": "track", "event": "Gz", "userId": "gz-user", "messageId": "gz-1"},
            {"type": "track", "event": "Gz", "userId": "gz-user", "messageId": "gz-2", "context": {"ip": "81.2.69.160"}}
        ]})
        .to_string()
        .as_bytes(),
    );
    let r = post(&format!("{base}/v1/batch"), None, "application/json", gz).await;
    assert_eq!(r.status(), 200);
    expected.extend(["gz-1".to_owned(), "gz-2".to_owned()]);
    // analytics.js's usage metrics are answered and dropped
    let r = post(&format!("{base}/v1/m"), None, "text/plain", r#"{"series":[]}"#).await;
    assert_eq!(r.status(), 200);
    // a CORS preflight, as analytics.js sends before every path
    let r = client()
        .request(reqwest::Method::OPTIONS, format!("{base}/v1/t"))
        .header("Origin", "http://app.test")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "http://app.test");

    wait_for(&vendor, expected.len(), &cfg, &server).await;
    // The queue is empty once every leased batch is recorded: nothing more will be sent.
    wait_until_delivered(&cfg, "segment", 0, WAIT).await;
    let got = vendor.received();
    let ids = message_ids(&got);
    // every message, its messageId byte for byte (a retry after a timed-out request may
    // repeat one: Segment deduplicates on it)
    assert_eq!(
        ids.iter().collect::<HashSet<_>>(),
        expected.iter().collect::<HashSet<_>>()
    );
    // the real key on every request, the app's nowhere
    for req in vendor.requests() {
        assert_eq!(req.basic_user.as_deref(), Some(REAL_KEY), "{req:?}");
        assert!(req.gzip && req.path == "/v1/batch" && req.status == 200, "{req:?}");
    }
    for r in &got {
        assert!(!mentions(&r.record, APP_KEY), "{}", r.record);
        assert!(r.record.get("writeKey").is_none() && r.record.get("sentAt").is_none());
    }
    let by_id = |id: &str| &got.iter().find(|r| r.record["messageId"] == id).unwrap().record;
    // passthrough: ids, names, properties as sent
    assert_eq!(
        by_id("api-1"),
        &json!({"type": "track", "event": "API Event", "userId": "api-user", "messageId": "api-1",
                "timestamp": by_id("api-1")["timestamp"], "properties": {"n": 1}})
    );
    assert_eq!(by_id("api-6")["previousId"], "api-anon");
    assert_eq!(by_id("api-5")["groupId"], "acme");
    assert_eq!(by_id("api-3")["type"], "page");
    // IPs: the SDK's own; analytics.js's connection (the test's loopback); none for servers
    assert_eq!(by_id("gz-2")["context"]["ip"], "81.2.69.160");
    assert!(by_id("gz-1").get("context").is_none());
    assert_eq!(by_id("beacon-1")["context"]["ip"], "127.0.0.1");
    assert!(by_id("api-1").get("context").is_none());
    for c in captures() {
        let browser = c.path.len() <= 5;
        for m in &c.messages {
            let rec = by_id(m["messageId"].as_str().unwrap());
            let want = m
                .pointer("/context/ip")
                .cloned()
                .or_else(|| browser.then(|| json!("127.0.0.1")));
            assert_eq!(rec.pointer("/context/ip").cloned(), want, "{}", c.file);
            assert_eq!(rec["type"], m["type"]);
            assert_eq!(rec.get("integrations"), m.get("integrations"));
        }
    }
    // clock skew corrected once: the client's timestamp moved by (receipt - sentAt)
    for (id, want) in skew {
        let ts = parse_time(by_id(&id)["timestamp"].as_str().unwrap()).unwrap();
        assert!((ts - want).abs() < 5_000, "{id}: {ts} vs {want}");
    }
    let m = server.metrics().await;
    let accepted = format!("vendorwall_ingest_accepted_records_total {}", expected.len());
    assert!(m.contains(&accepted), "{m}");
    assert!(!m.contains(APP_KEY) && !m.contains(REAL_KEY));
}

/// The `sentAt` of a captured batch (analytics.js's single messages carry their own).
fn batch_sent_at_ms(c: &Capture) -> Option<i64> {
    let body = if c.headers.iter().any(|(k, v)| k == "content-encoding" && v == "gzip") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&c.body[..]), &mut s).ok()?;
        s
    } else {
        String::from_utf8(c.body.clone()).ok()?
    };
    let v: Value = serde_json::from_str(&body).ok()?;
    parse_time(v["sentAt"].as_str()?)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recommended_policy_pseudonymises_ids_and_redacts_emails() {
    let vendor = segment_emulator().await;
    let dir = TempDir::new("seg-recommended");
    let cfg = segment_config(
        dir.path(),
        &vendor.base_url(),
        &Seg {
            policy: "\"recommended\"",
            ..Seg::default()
        },
    );
    let server = Server::start(&cfg);
    let mut sent = Vec::new();
    for c in captures() {
        assert_eq!(replay(&server.base_url, &c).await.0, 200);
        sent.extend(c.messages);
    }
    wait_for(&vendor, sent.len(), &cfg, &server).await;
    let got = vendor.received();
    assert_eq!(got.len(), sent.len());
    for m in &sent {
        let id = m["messageId"].as_str().unwrap();
        let rec = &got.iter().find(|r| r.record["messageId"] == id).unwrap().record;
        for field in ["userId", "anonymousId", "previousId"] {
            if let Some(raw) = m.get(field).and_then(Value::as_str) {
                let out = rec[field].as_str().unwrap_or_else(|| panic!("{id} {field}: {rec}"));
                assert_ne!(out, raw, "{id} {field} was not pseudonymised");
                assert_eq!(out.len(), 32, "{id} {field}: {out}");
            }
        }
        assert!(!mentions(rec, "@example.com") && !mentions(rec, "@acme.test"), "{rec}");
        // the SDKs' 203.0.113.7 and the test's loopback are not personal data and pass
        let ip = rec.pointer("/context/ip").and_then(Value::as_str);
        assert!(matches!(ip, None | Some("203.0.113.7" | "127.0.0.1")), "{rec}");
        assert_eq!(rec["type"], m["type"]);
        assert_eq!(rec.get("groupId"), m.get("groupId"));
        if m["type"] == "identify" {
            assert!(
                rec.pointer("/traits/name").is_none(),
                "a person's name is dropped: {rec}"
            );
            assert_eq!(rec.pointer("/traits/plan"), m.pointer("/traits/plan"));
        }
    }
    let ids: HashSet<&str> = got.iter().filter_map(|r| r.record["userId"].as_str()).collect();
    assert!(ids.len() <= 4, "one pseudonym per person: {ids:?}");
    // a public IP, in the message or from analytics.js's connection, is dropped
    let public = json!({"writeKey": APP_KEY, "batch": [
        {"type": "track", "event": "e", "userId": "u", "messageId": "ip-1", "context": {"ip": "81.2.69.160", "locale": "de"}}
    ]});
    let r = post(
        &format!("{}/v1/batch", server.base_url),
        Some(APP_KEY),
        "application/json",
        public.to_string(),
    )
    .await;
    assert_eq!(r.status(), 200);
    wait_for(&vendor, sent.len() + 1, &cfg, &server).await;
    let rec = vendor
        .received()
        .into_iter()
        .find(|r| r.record["messageId"] == "ip-1")
        .unwrap()
        .record;
    assert_eq!(rec["context"], json!({"locale": "de"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_answered_as_the_sdks_expect_and_counted() {
    let vendor = segment_emulator().await;
    let dir = TempDir::new("seg-bad");
    let cfg = segment_config(
        dir.path(),
        &vendor.base_url(),
        &Seg {
            limits: "[limits]\nmax_body_bytes = 200000\nmax_decompressed_bytes = 1000000",
            ..Seg::default()
        },
    );
    let server = Server::start(&cfg);
    let base = &server.base_url;
    let batch = format!("{base}/v1/batch");
    let json_of = |r: &str| serde_json::from_str::<Value>(r).unwrap_or(Value::Null);

    // request-level: 400 {"code","message"}, dropped by every SDK
    let cases: Vec<(Vec<u8>, Option<&str>, &str)> = vec![
        (b"{nope".to_vec(), Some(APP_KEY), "bad_json"),
        (b"[]".to_vec(), Some(APP_KEY), "wrong_type"),
        (b"{\"batch\": 5}".to_vec(), Some(APP_KEY), "wrong_type"),
        (vec![b'x'; 300_000], Some(APP_KEY), "body_too_large"),
        (
            json!({"writeKey": APP_KEY, "batch": []}).to_string().into_bytes(),
            Some("someone-else"),
            "inconsistent_keys",
        ),
    ];
    for (body, auth, code) in cases {
        let r = post(&batch, auth, "application/json", body).await;
        assert_eq!(r.status(), 400, "{code}");
        let v = json_of(&r.text().await.unwrap());
        assert_eq!(v["code"], code);
        assert!(v["message"].is_string());
    }
    let bomb = vendorwall::protocol::wire::gzip(&vec![b' '; 2_000_000]);
    let r = client()
        .post(&batch)
        .basic_auth(APP_KEY, Some(""))
        .header("Content-Encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // no key, or one no source has: 401, never retried forever
    let empty = json!({"batch": [{"type": "track", "event": "x", "userId": "u"}]}).to_string();
    for auth in [None, Some("unknown-key")] {
        let r = post(&batch, auth, "application/json", empty.clone()).await;
        assert_eq!(r.status(), 401);
        assert_eq!(json_of(&r.text().await.unwrap())["code"], "unauthorized");
    }
    // bad messages beside a good one: 200 as Segment answers, the good one delivered
    let mixed = json!({"writeKey": APP_KEY, "batch": [
        {"type": "track", "event": "good", "userId": "u", "messageId": "good-1"},
        {"type": "track", "userId": "u", "messageId": "no-event"},
        {"type": "track", "event": "anon"},
        {"type": "nope", "userId": "u"},
        {"type": "track", "event": "deep", "userId": "u", "properties": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": {"l": {"m": {"n": {"o": {"p": {"q": 1}}}}}}}}}}}}}}}}}},
        {"type": "track", "event": "someone else's", "userId": "u", "writeKey": "other-key"}
    ]});
    let r = post(&batch, Some(APP_KEY), "text/plain", mixed.to_string()).await;
    assert_eq!(
        (r.status(), r.text().await.unwrap()),
        (reqwest::StatusCode::OK, r#"{"success":true}"#.to_owned())
    );
    // not GET or POST
    let r = client().delete(&batch).send().await.unwrap();
    assert_eq!(r.status(), 405);

    wait_for(&vendor, 1, &cfg, &server).await;
    wait_until_delivered(&cfg, "segment", 0, WAIT).await;
    assert_eq!(message_ids(&vendor.received()), vec!["good-1"]);
    let m = server.metrics().await;
    for line in [
        "vendorwall_ingest_rejected_requests_total{reason=\"bad_json\"} 1",
        "vendorwall_ingest_rejected_requests_total{reason=\"wrong_type\"} 2",
        "vendorwall_ingest_rejected_requests_total{reason=\"body_too_large\"} 1",
        "vendorwall_ingest_rejected_requests_total{reason=\"decompressed_too_large\"} 1",
        "vendorwall_ingest_rejected_requests_total{reason=\"inconsistent_keys\"} 1",
        "vendorwall_ingest_rejected_requests_total{reason=\"unauthorized\"} 2",
        "vendorwall_ingest_rejected_requests_total{reason=\"method_not_allowed\"} 1",
        "vendorwall_ingest_rejected_records_total{reason=\"missing_field\"} 2",
        "vendorwall_ingest_rejected_records_total{reason=\"wrong_type\"} 1",
        "vendorwall_ingest_rejected_records_total{reason=\"too_deep\"} 1",
        "vendorwall_ingest_rejected_records_total{reason=\"unknown_token\"} 1",
        "vendorwall_ingest_accepted_records_total 1",
    ] {
        assert!(m.contains(line), "missing `{line}` in\n{m}");
    }
    for s in [APP_KEY, REAL_KEY, "unknown-key", "other-key"] {
        assert!(!m.contains(s), "{s} in the metrics");
        assert!(!server.log().contains(s), "{s} in the log:\n{}", server.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_faults_are_retried_with_the_same_message_ids_and_backpressure_is_a_503() {
    let vendor = segment_emulator().await;
    let dir = TempDir::new("seg-faults");
    let cfg = segment_config(
        dir.path(),
        &vendor.base_url(),
        &Seg {
            max_queue_records: 6,
            ..Seg::default()
        },
    );
    let server = Server::start(&cfg);
    let base = &server.base_url;
    let batch = |ids: &[&str]| {
        json!({"writeKey": APP_KEY, "batch": ids.iter().map(|id| json!({"type": "track", "event": "e", "userId": "u", "messageId": id})).collect::<Vec<_>>()})
            .to_string()
    };
    // a 400 for the whole batch (bisected), then 503 and 500 (retried; a 500 may have been
    // applied, and the retry keeps the messageIds, which Segment deduplicates on)
    vendor.fail_next(1, Fault::Status(400));
    vendor.fail_next(1, Fault::Status(503));
    vendor.fail_next(1, Fault::Status(500));
    let r = post(
        &format!("{base}/v1/batch"),
        Some(APP_KEY),
        "application/json",
        batch(&["f-1", "f-2", "f-3", "f-4"]),
    )
    .await;
    assert_eq!(r.status(), 200);
    wait_for(&vendor, 4, &cfg, &server).await;
    let mut ids = message_ids(&vendor.received());
    ids.sort();
    ids.dedup();
    let log: Vec<(u64, u16, usize)> = vendor.requests().iter().map(|r| (r.seq, r.status, r.records)).collect();
    assert_eq!(ids, ["f-1", "f-2", "f-3", "f-4"], "{log:?}\n{}", server.log());
    let statuses: Vec<u16> = vendor.requests().iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..3], &[400, 503, 500], "{statuses:?}");

    // the vendor unreachable: the queue fills to its bound, then the SDKs get a 503 with
    // Retry-After, which every Segment SDK retries
    vendor.set_fault(Fault::Unreachable).await;
    let mut busy = None;
    for i in 0..10 {
        let ids = [format!("q-{i}-a"), format!("q-{i}-b"), format!("q-{i}-c")];
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let r = post(
            &format!("{base}/v1/batch"),
            Some(APP_KEY),
            "application/json",
            batch(&refs),
        )
        .await;
        if r.status() == 503 {
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            busy = Some((retry, r.text().await.unwrap()));
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let (retry, body) = busy.expect("backpressure never answered 503");
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], "unavailable");
    vendor.set_fault(Fault::None).await;
    // the accepted ones all arrive
    assert!(
        eventually(WAIT, || message_ids(&vendor.received())
            .iter()
            .filter(|i| i.starts_with("q-"))
            .count()
            >= 6)
        .await
    );
    assert!(
        server
            .metrics()
            .await
            .contains("vendorwall_ingest_rejected_requests_total{reason=\"backpressure\"} 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_source_feeds_a_mixpanel_destination() {
    let segment = segment_emulator().await;
    let mixpanel = emulator().await;
    let dir = TempDir::new("seg-to-mp");
    let cfg = segment_config(
        dir.path(),
        &segment.base_url(),
        &Seg {
            extra: format!(
                r#"
[[destinations]]
name = "mixpanel"
type = "mixpanel"
endpoint = "{}"
project_token = "{PROJECT_TOKEN}"
sources = ["web"]
retry_initial_backoff_ms = 50
retry_max_backoff_secs = 1
policy = "passthrough"
"#,
                mixpanel.base_url()
            ),
            ..Seg::default()
        },
    );
    let server = Server::start(&cfg);
    let caps = captures();
    let page = caps.iter().find(|c| c.file == "segment_browser_page.http").unwrap();
    let node = caps.iter().find(|c| c.file == "segment_node_batch.http").unwrap();
    for c in [page, node] {
        assert_eq!(replay(&server.base_url, c).await.0, 200);
    }
    wait_for(&segment, 16, &cfg, &server).await;
    assert!(mixpanel.wait_for_records(16, WAIT).await, "{}", server.log());
    let got = mixpanel.received();
    let pageview = got
        .iter()
        .find(|r| r.record["event"] == "$pageview" && r.record["properties"]["$lib"] == "analytics.js")
        .map(|r| &r.record["properties"])
        .unwrap();
    assert_eq!(pageview["token"], PROJECT_TOKEN);
    assert_eq!(pageview["$current_url"], "http://app.test/");
    assert_eq!(pageview["name"], "Pricing");
    assert_eq!(pageview["distinct_id"], "br-user-wire-segment_browser");
    // analytics.js's messageId is longer than Mixpanel takes: a stable valid one instead.
    let message_id = page.messages[0]["messageId"].as_str().unwrap().to_owned();
    assert_eq!(
        pageview["$insert_id"],
        vendorwall::protocol::mixpanel::encode::mixpanel_insert_id(message_id)
    );
    assert_eq!(pageview["ip"], "127.0.0.1");
    let profile = got.iter().find(|r| r.endpoint == "engage").unwrap();
    assert_eq!(profile.record["$set"]["plan"], "pro");
    let alias = got.iter().find(|r| r.record["event"] == "$create_alias").unwrap();
    assert_eq!(alias.record["properties"]["alias"], "node-user-wire-segment_node");
    assert_eq!(alias.record["properties"]["distinct_id"], "node-anon-wire-segment_node");
    assert!(got.iter().all(|r| !mentions(&r.record, APP_KEY)));
    let m = server.metrics().await;
    assert!(
        m.lines().any(
            |l| l.starts_with("vendorwall_pipeline_untranslated_fields_total{destination=\"mixpanel\"}")
                && !l.ends_with(" 0")
        ),
        "{m}"
    );
    assert!(
        m.contains("vendorwall_pipeline_untranslated_fields_total{destination=\"segment\"} 0"),
        "{m}"
    );
}

// ---- the official SDKs

fn run_script(program: &str, script: &str, env: &[(&str, String)]) -> SdkRun {
    run_sdk_script(program, script, env, 10)
}

/// Whether `item` (as the script reported it) arrived as `record`: found by its
/// `messageId`, byte for byte, with its type, ids and what the app passed.
fn arrived(item: &Value, record: &Value) -> bool {
    if record["messageId"] != item["message_id"] || record["type"] != item["type"] {
        return false;
    }
    let same = |field: &str, key: &str| item[key].is_null() || record[field] == item[key];
    let mut ok = same("event", "event")
        && same("groupId", "group_id")
        && same("previousId", "previous_id")
        && same("name", "name")
        && same("category", "category")
        && (item["properties"].is_null() || matches(&item["properties"], &record["properties"]))
        && (item["traits"].is_null() || matches(&item["traits"], &record["traits"]));
    if item["type"] == "alias" {
        ok &= same("userId", "user_id");
    } else {
        ok &= same("userId", "user_id") && same("anonymousId", "anonymous_id");
    }
    ok && !mentions(record, APP_KEY)
}

async fn assert_all_arrived(vendor: &Emulator, run: &SdkRun, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = vendor.received();
        let missing: Vec<&Value> = run
            .sent
            .iter()
            .filter(|item| !got.iter().any(|r| arrived(item, &r.record)))
            .collect();
        if missing.is_empty() {
            assert!(
                vendor
                    .requests()
                    .iter()
                    .all(|r| r.basic_user.as_deref() == Some(REAL_KEY))
            );
            return;
        }
        if std::time::Instant::now() > deadline {
            let seen: Vec<String> = got.iter().map(|r| r.record.to_string()).collect();
            panic!(
                "{what}: {} of {} items never arrived: {missing:#?}\nvendor has: {seen:#?}",
                missing.len(),
                run.sent.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sdk_run(script: &'static str, program: &'static str, browser: bool) {
    let vendor = segment_emulator().await;
    let dir = TempDir::new("seg-sdk");
    let cfg = segment_config(
        dir.path(),
        &vendor.base_url(),
        &Seg {
            cors: if browser { "\"http://app.test\"" } else { "" },
            ..Seg::default()
        },
    );
    let server = Server::start(&cfg);
    let mut env = vec![
        ("VW_RUN_ID", format!("seg{}", rand_u64() % 100_000)),
        ("VW_KEY", APP_KEY.to_owned()),
        ("VW_HOST", server.base_url.clone()),
    ];
    if browser {
        env.push(("VW_PAGE_ORIGIN", "http://app.test".to_owned()));
    }
    let run = tokio::task::spawn_blocking(move || run_script(program, script, &env))
        .await
        .unwrap();
    assert_all_arrived(&vendor, &run, script).await;
    let log = server.log();
    assert!(!log.contains(APP_KEY) && !log.contains(REAL_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk() {
    sdk_run("segment_python.py", "python3", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_sdk() {
    sdk_run("segment_node.js", "node", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sdk_in_chromium() {
    sdk_run("segment_browser.js", "node", true).await;
}
