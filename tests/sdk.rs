//! The official Mixpanel SDKs, unchanged, against `vendorwall serve` and the vendor
//! emulator: PyPI `mixpanel`, npm `mixpanel`, and npm `mixpanel-browser` in Debian's
//! Chromium. Each driver script (tests/sdk/) reports what the app asked the SDK to send;
//! every item must reach the vendor with the real token, its ids, times and properties.
//!
//! Needs `scripts/install-test-deps` (the README's test command runs it).

use std::time::Duration;

use serde_json::{Value, json};
use vendorwall::emulator::{Emulator, ReceivedRecord};

use crate::support::*;

fn run_script(program: &str, script: &str, env: &[(&str, String)]) -> SdkRun {
    run_sdk_script(program, script, env, 10)
}

fn marker(v: &Value) -> Option<&Value> {
    v.get("vw_seq")
}

/// Whether `item` (as the script reported it) arrived in `record`.
fn arrived(item: &Value, r: &ReceivedRecord) -> bool {
    let rec = &r.record;
    match item["endpoint"].as_str() {
        Some("track" | "import") => {
            let Some(props) = rec.get("properties") else {
                return false;
            };
            if rec["event"] != item["event"] || props["token"] != PROJECT_TOKEN {
                return false;
            }
            if let Some(m) = marker(&item["properties"])
                && props.get("vw_seq") != Some(m)
            {
                return false;
            }
            let id_ok = item["distinct_id"].is_null() || props["distinct_id"] == item["distinct_id"];
            let time_ok = item["time"].is_null() || matches(&item["time"], &props["time"]);
            let ids_present = props["$insert_id"].as_str().is_some_and(|s| !s.is_empty()) && props["time"].is_number();
            id_ok && time_ok && ids_present && matches(&item["properties"], props)
        }
        Some("engage") => {
            let op = item["op"].as_str().unwrap_or("");
            r.endpoint == "engage"
                && rec["$token"] == PROJECT_TOKEN
                && rec["$distinct_id"] == item["distinct_id"]
                && rec
                    .get(op)
                    .is_some_and(|v| op == "$delete" || matches(&item["value"], v))
        }
        Some("groups") => {
            let op = item["op"].as_str().unwrap_or("");
            r.endpoint == "groups"
                && rec["$token"] == PROJECT_TOKEN
                && rec["$group_key"] == item["group_key"]
                && rec["$group_id"] == item["group_id"]
                && rec
                    .get(op)
                    .is_some_and(|v| op == "$delete" || matches(&item["value"], v))
        }
        _ => false,
    }
}

async fn assert_all_arrived(vendor: &Emulator, run: &SdkRun, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = vendor.received();
        let missing: Vec<&Value> = run
            .sent
            .iter()
            .filter(|item| !got.iter().any(|r| arrived(item, r)))
            .collect();
        if missing.is_empty() {
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

fn common_env(run_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("VW_RUN_ID", run_id.to_owned()),
        ("VW_TOKEN", APP_TOKEN.to_owned()),
        ("VW_IMPORT_SECRET", IMPORT_SECRET.to_owned()),
    ]
}

/// The emulator and a gateway serving HTTPS with a self-signed certificate (its path, for
/// the SDK's CA setting), in a fresh directory kept alive by the returned `TempDir`.
async fn tls_gateway(name: &str) -> (Emulator, TempDir, std::path::PathBuf, Server) {
    let vendor = emulator().await;
    let dir = TempDir::new(name);
    let (cert, key) = self_signed_cert(dir.path());
    let cfg = write_config(
        dir.path(),
        &vendor.base_url(),
        &Options {
            tls: Some((cert.clone(), key)),
            ..Options::default()
        },
    );
    let server = Server::start(&cfg);
    (vendor, dir, cert, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_over_tls() {
    let (vendor, _dir, cert, server) = tls_gateway("sdk-python").await;
    assert!(server.base_url.starts_with("https://"));
    let mut env = common_env(&format!("py{}", rand_u64() % 100_000));
    env.push(("VW_API_HOST", format!("127.0.0.1:{}", server.port())));
    env.push(("REQUESTS_CA_BUNDLE", cert.display().to_string()));
    let run = tokio::task::spawn_blocking(move || run_script("python3", "mixpanel_python.py", &env))
        .await
        .unwrap();
    assert!(
        run.sent.iter().any(|i| i["endpoint"] == "import"),
        "python should exercise /import"
    );
    assert_all_arrived(&vendor, &run, "python").await;
}

/// Slow loris beside a real app: 400 connections that never finish their request (nothing
/// sent, so not even the TLS handshake starts) are held open while the Python SDK runs with a
/// 3-second request timeout, so any call the gateway answers late is an SDK error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_is_answered_beside_400_stalled_connections() {
    let (vendor, _dir, cert, server) = tls_gateway("sdk-python-loris").await;
    let mut stalled = Vec::new();
    for _ in 0..400 {
        stalled.push(
            tokio::net::TcpStream::connect(("127.0.0.1", server.port()))
                .await
                .unwrap(),
        );
    }
    let held = eventually_async(Duration::from_secs(10), || async {
        series_value(&server.metrics().await, "vendorwall_server_open_connections") >= 400.0
    })
    .await;
    assert!(held, "the gateway holds the 400 stalled connections");
    let mut env = common_env(&format!("pl{}", rand_u64() % 100_000));
    env.push(("VW_API_HOST", format!("127.0.0.1:{}", server.port())));
    env.push(("REQUESTS_CA_BUNDLE", cert.display().to_string()));
    env.push(("VW_REQUEST_TIMEOUT", "3".to_owned()));
    let run = tokio::task::spawn_blocking(move || run_script("python3", "mixpanel_python.py", &env))
        .await
        .unwrap();
    assert_all_arrived(&vendor, &run, "python beside stalled connections").await;
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_sdk_over_tls() {
    let (vendor, _dir, cert, server) = tls_gateway("sdk-node").await;
    let mut env = common_env(&format!("nd{}", rand_u64() % 100_000));
    env.push(("VW_HOST", format!("127.0.0.1:{}", server.port())));
    env.push(("VW_PROTOCOL", "https".to_owned()));
    env.push(("NODE_EXTRA_CA_CERTS", cert.display().to_string()));
    let run = tokio::task::spawn_blocking(move || run_script("node", "mixpanel_node.js", &env))
        .await
        .unwrap();
    assert!(run.sent.iter().any(|i| i["endpoint"] == "import"));
    assert_all_arrived(&vendor, &run, "node").await;
    // node sends neither $insert_id nor time: vendorwall derived a stable id for each event
    let received = vendor.received();
    let node_events: Vec<&ReceivedRecord> = received
        .iter()
        .filter(|r| r.record["properties"]["mp_lib"] == "node")
        .collect();
    assert!(!node_events.is_empty());
    assert!(node_events.iter().all(|r| r.insert_id().is_some_and(|i| i.len() == 32)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sdk_in_chromium() {
    let vendor = emulator().await;
    let dir = TempDir::new("sdk-browser");
    let cfg = write_config(
        dir.path(),
        &vendor.base_url(),
        &Options {
            cors: vec!["http://app.test".into()],
            ..Options::default()
        },
    );
    let server = Server::start(&cfg);
    let mut env = common_env(&format!("br{}", rand_u64() % 100_000));
    env.push(("VW_API_HOST", server.base_url.clone()));
    env.push(("VW_PAGE_ORIGIN", "http://app.test".to_owned()));
    let run = tokio::task::spawn_blocking(move || run_script("node", "mixpanel_browser.js", &env))
        .await
        .unwrap();
    assert_all_arrived(&vendor, &run, "browser").await;
    // batches arrive base64-encoded with ip=1: the browser's address travels for geolocation
    let events: Vec<Value> = vendor
        .received()
        .iter()
        .filter(|r| r.record["properties"]["mp_lib"] == "web")
        .map(|r| r.record.clone())
        .collect();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e["properties"]["ip"] == json!("127.0.0.1")),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .all(|e| e["properties"]["$insert_id"].as_str().is_some_and(|i| i.len() == 16))
    );
}
