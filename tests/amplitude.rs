//! Amplitude end to end: `vendorwall serve` with an Amplitude source and Amplitude
//! destinations pointed at the emulated Amplitude. The captured requests of every official
//! SDK (tests/sdk/wire/) in every transport, bad input, a Mixpanel source translated for
//! Amplitude, and the official SDKs themselves (tests/sdk/amplitude_*, after
//! `scripts/install-test-deps`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use vendorwall::emulator::{Emulator, EmulatorConfig, ReceivedRecord};
use vendorwall::protocol::Vendor;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);
/// The key the apps put in the Amplitude SDKs (the captures' key).
const AMP_APP_KEY: &str = "amp-api-key-123";
/// The destination's real Amplitude key.
const AMP_REAL_KEY: &str = "real-amplitude-key-789";

async fn amplitude() -> Emulator {
    Emulator::start(EmulatorConfig::new(Vendor::Amplitude, AMP_REAL_KEY))
        .await
        .expect("start emulator")
}

/// One Amplitude destination: its name, emulator URL, policy and whether it uses `/batch`.
struct Dest<'a> {
    name: &'a str,
    url: String,
    policy: &'a str,
    use_batch: bool,
}

/// `vendorwall.toml` with an Amplitude source `amp`, a Mixpanel source `web`, and the given
/// Amplitude destinations fed by both.
fn amplitude_config(dir: &Path, dests: &[Dest<'_>], extra: &str) -> PathBuf {
    let mut text = format!(
        r#"version = 1
[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[store]
path = "store"
{extra}
[[sources]]
name = "amp"
protocol = "amplitude"
tokens = ["{AMP_APP_KEY}"]

[[sources]]
name = "web"
protocol = "mixpanel"
tokens = ["{APP_TOKEN}"]
"#
    );
    for d in dests {
        text.push_str(&format!(
            r#"
[[destinations]]
name = "{name}"
type = "amplitude"
endpoint = "{url}"
api_key = "{AMP_REAL_KEY}"
use_batch = {batch}
sources = ["amp", "web"]
request_timeout_secs = 5
retry_initial_backoff_ms = 50
retry_max_backoff_secs = 1
policy = "{policy}"
"#,
            name = d.name,
            url = d.url,
            batch = d.use_batch,
            policy = d.policy,
        ));
    }
    let path = dir.join("vendorwall.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The body of a capture in tests/sdk/wire/ (all Amplitude captures are raw JSON).
fn capture_body(name: &str) -> Vec<u8> {
    let bytes = std::fs::read(repo().join(format!("tests/sdk/wire/{name}.http"))).expect("capture");
    let split = bytes.windows(2).position(|w| w == b"\n\n").expect("head");
    bytes[split + 2..].to_vec()
}

async fn post(url: &str, content_type: &str, gzip: bool, body: Vec<u8>) -> (u16, Value) {
    let mut req = client().post(url).header("Content-Type", content_type);
    let body = if gzip {
        req = req.header("Content-Encoding", "gzip");
        vendorwall::protocol::wire::gzip(&body)
    } else {
        body
    };
    let r = req.body(body).send().await.expect("post");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn by_insert_id<'a>(got: &'a [ReceivedRecord], id: &str) -> Option<&'a ReceivedRecord> {
    got.iter().find(|r| r.record["insert_id"] == id)
}

async fn wait_for(vendor: &Emulator, n: usize, server: &Server) {
    assert!(
        vendor.wait_for_records(n, WAIT).await,
        "vendor got {} of {n}; gateway log:\n{}",
        vendor.received().len(),
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sdk_dialect_reaches_amplitude_with_the_real_key() {
    let plain = amplitude().await;
    let safe = amplitude().await;
    let dir = TempDir::new("amp-dialects");
    let cfg = amplitude_config(
        dir.path(),
        &[
            Dest {
                name: "amplitude",
                url: plain.base_url(),
                policy: "passthrough",
                use_batch: false,
            },
            Dest {
                name: "amplitude_safe",
                url: safe.base_url(),
                policy: "recommended",
                use_batch: true,
            },
        ],
        "",
    );
    let server = Server::start(&cfg);
    let base = &server.base_url;

    // (capture, path, content type, gzip): every SDK, both endpoints, gzip and the beacon
    let sends = [
        (
            "amplitude_python_httpapi",
            "/2/httpapi",
            "application/json; charset=UTF-8",
            false,
        ),
        ("amplitude_node_batch", "/batch", "application/json", false),
        ("amplitude_node_httpapi", "/2/httpapi", "application/json", true),
        ("amplitude_browser_httpapi", "/2/httpapi/", "application/json", true),
        ("amplitude_browser_batch", "/batch/", "text/plain;charset=UTF-8", false),
    ];
    let mut originals: Vec<(Value, bool)> = Vec::new();
    for (name, path, ct, gzip) in sends {
        let body = capture_body(name);
        let events = serde_json::from_slice::<Value>(&body).unwrap()["events"]
            .as_array()
            .unwrap()
            .clone();
        let (status, answer) = post(&format!("{base}{path}"), ct, gzip, body).await;
        assert_eq!(status, 200, "{name}: {answer}");
        assert_eq!(answer["code"], 200);
        assert_eq!(answer["events_ingested"], events.len());
        assert!(answer["server_upload_time"].as_i64().unwrap() > 1_700_000_000_000);
        originals.extend(events.into_iter().map(|e| (e, name.contains("browser"))));
    }
    // an event with a public address, which the recommended policy drops
    let public = json!({"event_type": "Geo", "user_id": "user-public-ip", "insert_id": "public-ip-1",
        "time": 1_700_000_000_000i64, "ip": "81.6.40.1", "event_properties": {"email": "ada@example.com"}});
    let (status, _) = post(
        &format!("{base}/2/httpapi"),
        "application/json",
        false,
        json!({"api_key": AMP_APP_KEY, "events": [public.clone()]})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    originals.push((public, false));

    wait_for(&plain, originals.len(), &server).await;
    wait_for(&safe, originals.len(), &server).await;
    let got = plain.received();
    assert_eq!(got.len(), originals.len());
    // passthrough: every event as the SDK sent it, except `$remote`, which is the client's
    // own address now; insert_id byte for byte
    for (original, browser) in &originals {
        let id = original["insert_id"].as_str().unwrap();
        let r = by_insert_id(&got, id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(r.endpoint, "httpapi");
        let mut want = original.clone();
        if *browser {
            assert_eq!(want["ip"], "$remote");
            want["ip"] = json!("127.0.0.1");
        }
        assert_eq!(r.record, want);
    }
    let safe_got = safe.received();
    assert_eq!(safe_got.len(), originals.len());
    assert!(safe_got.iter().all(|r| r.endpoint == "batch"));
    // recommended: ids pseudonymised, emails redacted, the public address dropped
    for (original, _) in &originals {
        let id = original["insert_id"].as_str().unwrap();
        let r = by_insert_id(&safe_got, id).unwrap_or_else(|| panic!("{id} missing"));
        for field in ["user_id", "device_id"] {
            if let Some(raw) = original[field].as_str() {
                let p = r.record[field].as_str().unwrap();
                assert!(p.len() == 32 && p != raw, "{field} not pseudonymised: {}", r.record);
            }
        }
        assert_eq!(r.record["event_type"], original["event_type"]);
        assert_eq!(r.record["time"], original["time"]);
    }
    let geo = by_insert_id(&safe_got, "public-ip-1").unwrap();
    assert!(geo.record.get("ip").is_none(), "{}", geo.record);
    // the same person has the same pseudonym in every event of this destination
    let ids: std::collections::HashSet<&str> = safe_got
        .iter()
        .filter(|r| r.record["event_type"] != "Geo")
        .filter_map(|r| r.record["user_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 5, "one user per capture: {ids:?}");
    for (vendor, what) in [(&plain, "passthrough"), (&safe, "recommended")] {
        let text = serde_json::to_string(&vendor.received().iter().map(|r| &r.record).collect::<Vec<_>>()).unwrap();
        assert!(!text.contains(AMP_APP_KEY), "{what}: the app's key reached the vendor");
        assert!(!text.contains("$remote"), "{what}: $remote reached the vendor");
        assert!(
            vendor
                .requests()
                .iter()
                .all(|r| r.ip_param.is_none() && r.status == 200)
        );
        if what == "recommended" {
            assert!(!text.contains("@example.com"), "an email reached the vendor: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_answered_as_the_sdks_expect_and_counted() {
    let vendor = amplitude().await;
    let dir = TempDir::new("amp-bad");
    let cfg = amplitude_config(
        dir.path(),
        &[Dest {
            name: "amplitude",
            url: vendor.base_url(),
            policy: "recommended",
            use_batch: false,
        }],
        "[limits]\nmax_records_per_request = 50\n",
    );
    let server = Server::start(&cfg);
    let url = format!("{}/2/httpapi", server.base_url);
    let ev = |t: &str, id: &str| json!({"event_type": t, "user_id": id, "insert_id": format!("bad-{t}")});
    let bomb = {
        let mut v = br#"{"api_key":""#.to_vec();
        v.extend_from_slice(AMP_APP_KEY.as_bytes());
        v.extend_from_slice(br#"","events":[{"event_type":"a","user_id":"user-1","event_properties":{"x":""#);
        v.extend(std::iter::repeat_n(b'a', 21 << 20));
        v.extend_from_slice(br#""}}]}"#);
        vendorwall::protocol::wire::gzip(&v)
    };
    let cases: Vec<(Vec<u8>, bool, u16, Value)> = vec![
        (
            b"{nope".to_vec(),
            false,
            400,
            json!({"code": 400, "error": "Invalid JSON request body"}),
        ),
        (
            json!({"events": [ev("a", "user-1")]}).to_string().into_bytes(),
            false,
            400,
            json!({"code": 400, "error": "Request missing required field", "missing_field": "api_key"}),
        ),
        (
            json!({"api_key": "someone-elses", "events": [ev("a", "user-1")]})
                .to_string()
                .into_bytes(),
            false,
            400,
            json!({"code": 400, "error": "Invalid API key: not a key vendorwall knows"}),
        ),
        (
            json!({"api_key": AMP_APP_KEY}).to_string().into_bytes(),
            false,
            400,
            json!({"code": 400, "error": "Request missing required field", "missing_field": "events"}),
        ),
        (
            json!({"api_key": AMP_APP_KEY, "events": [ev("bad_short", "abc"), {"user_id": "user-1"}]})
                .to_string()
                .into_bytes(),
            false,
            400,
            json!({"code": 400, "error": "Invalid field values on some events", "events_with_invalid_fields": {},
                   "events_with_missing_fields": {"event_type": [1]}, "events_with_invalid_id_lengths": {"user_id": [0]}}),
        ),
        (
            json!({"api_key": AMP_APP_KEY, "events": vec![ev("a", "user-1"); 51]})
                .to_string()
                .into_bytes(),
            false,
            413,
            json!({"code": 413, "error": "Payload too large"}),
        ),
        (bomb, true, 413, json!({"code": 413, "error": "Payload too large"})),
    ];
    for (body, gzip, status, want) in cases {
        let (s, answer) = if gzip {
            let r = client()
                .post(&url)
                .header("Content-Type", "application/json")
                .header("Content-Encoding", "gzip")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        } else {
            post(&url, "application/json", false, body).await
        };
        assert_eq!((s, &answer), (status, &want));
    }
    // one bad event among good ones: 200, the good ones counted, the bad one never sent
    let mixed = json!({"api_key": AMP_APP_KEY, "events": [
        ev("good1", "user-1"),
        {"event_type": "iso", "user_id": "user-1", "time": "2024-01-01T00:00:00Z", "insert_id": "bad-iso"},
        ev("good2", "user-2")]});
    let (s, answer) = post(&url, "application/json", false, mixed.to_string().into_bytes()).await;
    assert_eq!(
        (s, answer["code"].clone(), answer["events_ingested"].clone()),
        (200, json!(200), json!(2))
    );
    // GET is not an upload; a preflight is answered for the browser
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 400);
    let r = client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "http://app.test")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "http://app.test");
    // a PostHog body on the shared /batch path is not an Amplitude upload
    let (s, answer) = post(
        &format!("{}/batch", server.base_url),
        "application/json",
        false,
        json!({"api_key": AMP_APP_KEY, "batch": [{"event": "e", "distinct_id": "d"}]})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!((s, answer["code"].clone()), (400, json!(400)));

    wait_for(&vendor, 2, &server).await;
    // The queue is empty once every leased batch is recorded: nothing more will be sent.
    wait_until_delivered(&cfg, "amplitude", 0, WAIT).await;
    let got = vendor.received();
    let names: Vec<&str> = got.iter().filter_map(|r| r.event_name()).collect();
    assert_eq!(names, ["good1", "good2"]);
    let m = server.metrics().await;
    for line in [
        "vendorwall_ingest_rejected_requests_total{reason=\"bad_json\"} 1",
        "vendorwall_ingest_rejected_requests_total{reason=\"unauthorized\"} 2",
        "vendorwall_ingest_rejected_requests_total{reason=\"missing_data\"} 3",
        "vendorwall_ingest_rejected_requests_total{reason=\"too_many_records\"} 1",
        "vendorwall_ingest_rejected_requests_total{reason=\"decompressed_too_large\"} 1",
        "vendorwall_ingest_rejected_records_total{reason=\"bad_time\"} 1",
        "vendorwall_ingest_rejected_records_total{reason=\"missing_field\"} 1",
        "vendorwall_ingest_rejected_records_total{reason=\"wrong_type\"} 1",
        "vendorwall_delivery_delivered_records_total{destination=\"amplitude\"} 2",
    ] {
        assert!(m.contains(line), "missing `{line}` in\n{m}");
    }
    assert!(!m.contains(AMP_APP_KEY) && !m.contains("someone-elses"));
    assert!(!server.log().contains(AMP_APP_KEY));
}

/// A Mixpanel source feeding an Amplitude destination: events translated (`$create_alias`
/// counted as untranslated), and an id Amplitude refuses is dead-lettered alone while the
/// rest of its batch is sent again and delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_vendors_events_are_translated_and_refusals_dead_lettered() {
    let vendor = amplitude().await;
    let dir = TempDir::new("amp-translate");
    let cfg = amplitude_config(
        dir.path(),
        &[Dest {
            name: "amplitude",
            url: vendor.base_url(),
            policy: "passthrough",
            use_batch: false,
        }],
        "",
    );
    let server = Server::start(&cfg);
    let batch = json!([
        {"event": "Signup", "properties": {"token": APP_TOKEN, "distinct_id": "user-1", "$insert_id": "mp-1",
         "time": 1_764_000_000.5, "$os": "Mac OS X", "$current_url": "https://a.test/p", "plan": "pro"}},
        {"event": "Refused", "properties": {"token": APP_TOKEN, "distinct_id": "null", "$insert_id": "mp-2"}},
        {"event": "$create_alias", "properties": {"token": APP_TOKEN, "distinct_id": "user-1", "alias": "user-one",
         "$insert_id": "mp-3"}}
    ]);
    let r = client()
        .post(format!("{}/track?verbose=1", server.base_url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("data={}", form_encode(&b64(&batch))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), r#"{"status":1,"error":null}"#);
    wait_for(&vendor, 2, &server).await;
    let got = vendor.received();
    let signup = by_insert_id(&got, "mp-1").unwrap();
    assert_eq!(
        signup.record,
        json!({"event_type": "Signup", "user_id": "user-1", "time": 1_764_000_000_500i64, "insert_id": "mp-1",
               "os_name": "Mac OS X", "event_properties": {"plan": "pro", "[Amplitude] Page Location": "https://a.test/p"}})
    );
    let alias = by_insert_id(&got, "mp-3").unwrap();
    assert_eq!(alias.record["event_type"], "$create_alias");
    assert_eq!(alias.record["event_properties"]["alias"], "user-one");
    assert!(by_insert_id(&got, "mp-2").is_none());
    // the first attempt was refused whole (400 naming event 1), the second delivered
    let statuses: Vec<u16> = vendor.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.first(), Some(&400));
    assert_eq!(statuses.last(), Some(&200));
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let m = server.metrics().await;
        if m.contains("vendorwall_delivery_dead_lettered_records_total{destination=\"amplitude\"} 1") {
            assert!(
                m.contains("vendorwall_pipeline_untranslated_fields_total{destination=\"amplitude\"} 1"),
                "{m}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no dead letter:\n{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- the official SDKs

fn run_script(program: &str, script: &str, env: &[(&str, String)]) -> SdkRun {
    run_sdk_script(program, script, env, 10)
}

/// Objects compare by the expected keys only; numbers by value.
fn contains(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Null, _) => true,
        (Value::Number(a), Value::Number(b)) => {
            (a.as_f64().unwrap_or(f64::NAN) - b.as_f64().unwrap_or(f64::NAN)).abs() < 1e-6
        }
        (Value::Object(a), Value::Object(b)) => a.iter().all(|(k, v)| b.get(k).is_some_and(|w| contains(v, w))),
        _ => expected == actual,
    }
}

/// Whether `item` (as a driver reported it) arrived as `r`, under a passthrough policy.
fn arrived(item: &Value, r: &ReceivedRecord) -> bool {
    let rec = &r.record;
    let Some(id) = item["insert_id"].as_str() else {
        return false;
    };
    rec["insert_id"] == id
        && rec["event_type"] == item["event"]
        && (item["user_id"].is_null() || rec["user_id"] == item["user_id"])
        && (item["device_id"].is_null() || rec["device_id"] == item["device_id"])
        && (item["time"].is_null() || contains(&item["time"], &rec["time"]))
        && ["event_properties", "user_properties", "groups", "group_properties"]
            .iter()
            .all(|k| contains(&item[*k], &rec[*k]))
}

async fn assert_all_arrived(vendor: &Emulator, run: &SdkRun, what: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = vendor.received();
        let missing: Vec<&Value> = run
            .sent
            .iter()
            .filter(|item| !got.iter().any(|r| arrived(item, r)))
            .collect();
        if missing.is_empty() {
            let text = serde_json::to_string(&got.iter().map(|r| &r.record).collect::<Vec<_>>()).unwrap();
            assert!(!text.contains(AMP_APP_KEY) && !text.contains("$remote"), "{what}");
            assert!(
                vendor.requests().iter().all(|r| r.ip_param.is_none()),
                "{what}: $remote forwarded"
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

async fn sdk_run(script: &'static str, program: &'static str, use_batch: bool, browser: bool) {
    let vendor = amplitude().await;
    let dir = TempDir::new("amp-sdk");
    let cfg = amplitude_config(
        dir.path(),
        &[Dest {
            name: "amplitude",
            url: vendor.base_url(),
            policy: "passthrough",
            use_batch,
        }],
        "",
    );
    let server = Server::start(&cfg);
    let mut env = vec![
        ("VW_RUN_ID", format!("amp{}", rand_u64() % 100_000)),
        ("VW_KEY", AMP_APP_KEY.to_owned()),
        ("VW_HOST", server.base_url.clone()),
    ];
    if use_batch {
        env.push(("VW_USE_BATCH", "1".to_owned()));
    }
    if browser {
        env.push(("VW_PAGE_ORIGIN", "http://app.test".to_owned()));
    }
    let run = tokio::task::spawn_blocking(move || run_script(program, script, &env))
        .await
        .unwrap();
    assert_all_arrived(&vendor, &run, script).await;
    if browser {
        // the browser asked Amplitude to geolocate its connection: the client's address
        // travels instead of `$remote`
        let got = vendor.received();
        assert!(!got.is_empty() && got.iter().all(|r| r.record["ip"] == "127.0.0.1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplitude_python_sdk() {
    sdk_run("amplitude_python.py", "python3", false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplitude_python_sdk_batch_api() {
    sdk_run("amplitude_python.py", "python3", true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplitude_node_sdk() {
    sdk_run("amplitude_node.js", "node", false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplitude_node_sdk_batch_api() {
    sdk_run("amplitude_node.js", "node", true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplitude_browser_sdk_in_chromium() {
    sdk_run("amplitude_browser.js", "node", false, true).await;
}
