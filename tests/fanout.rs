//! Any source to any destination: one Segment source fanned out to Mixpanel and Amplitude.
//! Each vendor gets every event in its own format, with its own real key, its own
//! idempotency key format (kept stable), and its own pseudonym for each person — never the
//! other's, never the app's id — and no email address.

use std::time::Duration;

use serde_json::{Value, json};
use vendorwall::emulator::{Emulator, EmulatorConfig};
use vendorwall::protocol::{BasicAuth, Vendor};

use crate::support::*;

const SEGMENT_APP_KEY: &str = "fanout-segment-app-key";
const AMPLITUDE_KEY: &str = "real-amplitude-api-key";
const WAIT: Duration = Duration::from_secs(30);

fn people() -> Vec<(String, String)> {
    (0..3)
        .map(|i| (format!("user-fanout-{i}"), format!("person{i}.fanout@example.com")))
        .collect()
}

/// A Segment HTTP API batch: per person an identify (email, name), a page and two tracks.
fn batch() -> Value {
    let mut messages = Vec::new();
    for (n, (user, email)) in people().iter().enumerate() {
        let ctx = json!({"ip": "203.0.113.9", "userAgent": "Mozilla/5.0", "page": {"url": format!("https://app.example.com/welcome?email={email}")}});
        messages.push(json!({"type": "identify", "userId": user, "messageId": format!("fan-identify-{n}"),
            "timestamp": "2026-12-01T10:00:00.000Z", "traits": {"email": email, "name": "Fan Out", "plan": "pro"}, "context": ctx}));
        messages.push(json!({"type": "page", "userId": user, "name": "Welcome", "messageId": format!("ajs-next-1765000000000-fan-page-{n}"),
            "timestamp": "2026-12-01T10:00:01.000Z", "properties": {"path": "/welcome"}, "context": ctx}));
        for k in 0..2 {
            messages.push(json!({"type": "track", "userId": user, "event": "Report Exported", "messageId": format!("fan-track-{n}-{k}"),
                "timestamp": "2026-12-01T10:00:02.000Z", "properties": {"format": "csv", "owner_email": email}, "context": ctx}));
        }
    }
    json!({"batch": messages, "sentAt": "2026-12-01T10:00:03.000Z", "writeKey": SEGMENT_APP_KEY})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_segment_source_reaches_mixpanel_and_amplitude_under_distinct_pseudonyms() {
    let mixpanel = emulator().await;
    let amplitude = Emulator::start(EmulatorConfig::new(Vendor::Amplitude, AMPLITUDE_KEY))
        .await
        .unwrap();
    let dir = TempDir::new("fanout");
    let cfg = dir.path().join("vendorwall.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"version = 1
[server]
listen = "127.0.0.1:0"
[store]
path = "{store}"
[[sources]]
name = "web"
protocol = "segment"
tokens = ["{SEGMENT_APP_KEY}"]
[[destinations]]
name = "mixpanel"
type = "mixpanel"
endpoint = "{mp}"
project_token = "{PROJECT_TOKEN}"
api_secret = "${{VW_TEST_MP_SECRET}}"
sources = ["web"]
retry_initial_backoff_ms = 50
retry_max_backoff_secs = 1
[[destinations]]
name = "amplitude"
type = "amplitude"
endpoint = "{amp}"
api_key = "{AMPLITUDE_KEY}"
sources = ["web"]
retry_initial_backoff_ms = 50
retry_max_backoff_secs = 1
"#,
            store = dir.path().join("store").display(),
            mp = mixpanel.base_url(),
            amp = amplitude.base_url(),
        ),
    )
    .unwrap();
    let server = Server::start(&cfg);
    let body = batch();
    let n = body["batch"].as_array().unwrap().len();
    let r = client()
        .post(format!("{}/v1/batch", server.base_url))
        .header("Authorization", BasicAuth::header(SEGMENT_APP_KEY, ""))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(mixpanel.wait_for_records(n, WAIT).await, "{}", server.log());
    assert!(amplitude.wait_for_records(n, WAIT).await, "{}", server.log());
    let at_mp: Vec<Value> = mixpanel.received().into_iter().map(|r| r.record).collect();
    let at_amp: Vec<Value> = amplitude.received().into_iter().map(|r| r.record).collect();
    assert_eq!((at_mp.len(), at_amp.len()), (n, n));

    // Mixpanel: /import (strict) took every event; analytics.js-style message ids, too long
    // for Mixpanel, arrive as stable valid ones.
    assert!(
        mixpanel
            .requests()
            .iter()
            .all(|r| r.status == 200 && r.basic_user.as_deref() != Some(SEGMENT_APP_KEY))
    );
    let mp_events: Vec<&Value> = at_mp.iter().filter(|r| r.get("event").is_some()).collect();
    assert_eq!(
        mp_events.len(),
        9,
        "pages and tracks are events; identifies are profile updates"
    );
    for e in &mp_events {
        let id = e["properties"]["$insert_id"].as_str().unwrap();
        assert!(
            id.len() <= 36 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{id}"
        );
        assert_eq!(e["properties"]["token"], PROJECT_TOKEN);
    }
    assert!(mp_events.iter().any(|e| e["event"] == "$pageview"));
    // Amplitude: the message ids byte for byte; page views under Amplitude's name.
    let amp_ids: Vec<&str> = at_amp.iter().filter_map(|r| r["insert_id"].as_str()).collect();
    for m in body["batch"].as_array().unwrap() {
        assert!(amp_ids.contains(&m["messageId"].as_str().unwrap()), "{m}");
    }
    assert!(at_amp.iter().any(|r| r["event_type"] == "[Amplitude] Page Viewed"));

    // Per person: one pseudonym at each vendor, different from the other vendor's and from
    // the app's id.
    let mp_ids: std::collections::BTreeSet<&str> = mp_events
        .iter()
        .filter_map(|e| e["properties"]["distinct_id"].as_str())
        .collect();
    let amp_users: std::collections::BTreeSet<&str> = at_amp.iter().filter_map(|r| r["user_id"].as_str()).collect();
    assert_eq!(mp_ids.len(), 3, "{mp_ids:?}");
    assert_eq!(amp_users.len(), 3, "{amp_users:?}");
    assert!(mp_ids.is_disjoint(&amp_users), "{mp_ids:?} {amp_users:?}");
    for (user, email) in people() {
        assert!(!mp_ids.contains(user.as_str()) && !amp_users.contains(user.as_str()));
        for (vendor, records) in [("mixpanel", &at_mp), ("amplitude", &at_amp)] {
            let text = serde_json::to_string(records).unwrap();
            assert!(!text.contains(&email), "{email} reached {vendor}");
            assert!(!text.contains(&user), "{user} reached {vendor} unpseudonymised");
            assert!(!text.contains(SEGMENT_APP_KEY), "the app's key reached {vendor}");
            assert!(!text.contains("$remote"), "{vendor}");
        }
    }
    // The same event, two vendors, two pseudonyms: matched through the idempotency key.
    let track = at_amp.iter().find(|r| r["insert_id"] == "fan-track-0-0").unwrap();
    let mp_track = mp_events
        .iter()
        .find(|e| e["properties"]["$insert_id"] == "fan-track-0-0")
        .unwrap();
    assert_ne!(track["user_id"], mp_track["properties"]["distinct_id"]);

    // The ledger records what each vendor received, under the id as each vendor knows it.
    let (code, out, err) = cli(&["ledger", "verify", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}
