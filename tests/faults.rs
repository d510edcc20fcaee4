//! Vendor faults: unreachable, 5xx, 429 with Retry-After, slower than the timeout. Every
//! event is eventually delivered, under one `$insert_id`, and the backoff is observed.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use vendorwall::emulator::{Emulator, Fault, RequestLog};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);

async fn send_events(base: &str, prefix: &str, n: usize) {
    let batch: Vec<_> = (0..n)
        .map(|i| json!({"event": format!("{prefix}-{i}"), "properties": {"token": APP_TOKEN, "distinct_id": "u", "time": 1_763_000_000 + i}}))
        .collect();
    let r = client()
        .post(format!("{base}/track/?verbose=1"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("data={}", form_encode(&b64(&json!(batch)))))
        .send()
        .await
        .expect("send");
    assert_eq!(r.text().await.unwrap(), r#"{"status":1,"error":null}"#);
}

/// Every event of `prefix` arrived, and all copies of one event share one `$insert_id`.
fn assert_all_delivered(vendor: &Emulator, prefix: &str, n: usize) {
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    for r in vendor.received() {
        if let Some(name) = r.event_name().filter(|e| e.starts_with(prefix)) {
            ids.entry(name.to_owned())
                .or_default()
                .push(r.insert_id().unwrap_or("").to_owned());
        }
    }
    assert_eq!(ids.len(), n, "delivered {:?}", ids.keys());
    for (name, copies) in ids {
        assert!(
            copies.iter().all(|c| c == &copies[0] && !c.is_empty()),
            "{name} delivered under several ids: {copies:?}"
        );
    }
}

fn import_attempts(vendor: &Emulator) -> Vec<RequestLog> {
    vendor
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Some("import"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_unreachable_then_back() {
    let vendor = emulator().await;
    vendor.set_fault(Fault::Unreachable).await;
    let dir = TempDir::new("unreachable");
    let server = Server::start(&write_config(dir.path(), &vendor.base_url(), &Options::default()));
    send_events(&server.base_url, "down", 20).await;
    // All 20 stay queued while delivery retries.
    let metrics_url = format!("{}/metrics", server.admin());
    let metrics_url = &metrics_url;
    let retrying = eventually_async(WAIT, || async move {
        let metrics = client().get(metrics_url).send().await.unwrap().text().await.unwrap();
        metrics.contains("vendorwall_outbox_depth_records{destination=\"mixpanel\"} 20")
            && metrics.contains("vendorwall_delivery_retries_total{destination=\"mixpanel\"}")
            && !metrics.contains("vendorwall_delivery_retries_total{destination=\"mixpanel\"} 0")
    })
    .await;
    assert!(retrying, "{}", server.log());
    assert!(vendor.received().is_empty());
    vendor.set_fault(Fault::None).await;
    assert!(vendor.wait_for_records(20, WAIT).await);
    assert_all_delivered(&vendor, "down", 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_errors_are_retried_with_growing_backoff() {
    let vendor = emulator().await;
    vendor.set_fault(Fault::Status(500)).await;
    let dir = TempDir::new("status500");
    let server = Server::start(&write_config(dir.path(), &vendor.base_url(), &Options::default()));
    send_events(&server.base_url, "err", 10).await;
    assert!(eventually(WAIT, || import_attempts(&vendor).len() >= 6).await);
    vendor.set_fault(Fault::None).await;
    assert!(vendor.wait_for_records(10, WAIT).await);
    assert_all_delivered(&vendor, "err", 10);
    let attempts = import_attempts(&vendor);
    let failed: Vec<_> = attempts.iter().filter(|r| r.status == 500).collect();
    assert!(failed.len() >= 6);
    // Backoff: initial 50 ms doubling to a 1 s cap, each wait between half and all of it.
    let gaps: Vec<Duration> = failed.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (n, gap) in gaps.iter().enumerate().take(5) {
        let nominal = Duration::from_millis(50 * (1 << n)).min(Duration::from_secs(1));
        assert!(*gap >= nominal / 2, "attempt {n}: waited {gap:?}, backoff {nominal:?}");
    }
    assert!(gaps[4] > gaps[0] * 2, "backoff did not grow: {gaps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_honour_retry_after() {
    let vendor = emulator().await;
    vendor.set_fault(Fault::RateLimited { retry_after_secs: 2 }).await;
    let dir = TempDir::new("ratelimit");
    let server = Server::start(&write_config(dir.path(), &vendor.base_url(), &Options::default()));
    send_events(&server.base_url, "rl", 5).await;
    assert!(eventually(WAIT, || import_attempts(&vendor).len() >= 2).await);
    vendor.set_fault(Fault::None).await;
    assert!(vendor.wait_for_records(5, WAIT).await);
    assert_all_delivered(&vendor, "rl", 5);
    let attempts = import_attempts(&vendor);
    for w in attempts.windows(2) {
        if w[0].status == 429 {
            let gap = w[1].at - w[0].at;
            assert!(
                gap >= Duration::from_millis(1950),
                "retried {gap:?} after a 429 with Retry-After: 2"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_slower_than_the_timeout() {
    let vendor = emulator().await;
    // The vendor applies the request after 3 s; vendorwall gives up after 2 s and retries.
    vendor.set_fault(Fault::Delay(Duration::from_secs(3))).await;
    let dir = TempDir::new("slow");
    let server = Server::start(&write_config(dir.path(), &vendor.base_url(), &Options::default()));
    send_events(&server.base_url, "slow", 5).await;
    assert!(eventually(WAIT, || import_attempts(&vendor).len() >= 2).await);
    vendor.set_fault(Fault::None).await;
    assert!(vendor.wait_for_records(5, WAIT).await);
    // Let the outbox drain, then check: copies (the late-applied request and the retry)
    // share their $insert_id, so the vendor deduplicates them.
    assert!(drained(server.admin()).await);
    assert_all_delivered(&vendor, "slow", 5);
    assert!(
        server.log().contains("timeout"),
        "the timeout should be logged:\n{}",
        server.log()
    );
}

/// Waits until the outbox of `mixpanel` is empty (`admin`: the admin listener's URL).
pub async fn drained(admin: &str) -> bool {
    for _ in 0..600 {
        let m = client()
            .get(format!("{admin}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.contains("vendorwall_outbox_depth_records{destination=\"mixpanel\"} 0") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
