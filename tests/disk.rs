//! The store's free-space headroom: ingest refused (retryable) and `/readyz` 503 while the
//! store's filesystem is under `[store] min_free_bytes`, both back when it is not.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

async fn track(base: &str, n: u32) -> (u16, Option<String>, String) {
    let batch = json!([{"event": "Saved", "properties": {"token": APP_TOKEN, "distinct_id": "u-1",
        "$insert_id": format!("disk-gate-{n}")}}]);
    let r = client()
        .post(format!("{base}/track/?verbose=1"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("data={}", form_encode(&b64(&batch))))
        .send()
        .await
        .unwrap();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (r.status().as_u16(), retry_after, r.text().await.unwrap())
}

async fn status_of(url: String) -> u16 {
    client().get(url).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_and_readiness_follow_the_free_space_headroom() {
    let vendor = emulator().await;
    let dir = TempDir::new("disk-gate");
    // A headroom no filesystem has: every ingest is refused for space.
    let options = Options {
        api_secret: false,
        limits: "min_free_bytes = 1125899906842624\nreserve_bytes = 1048576\n".into(),
        ..Options::default()
    };
    let cfg_path = write_config(dir.path(), &vendor.base_url(), &options);
    let cfg = vendorwall::config::load(&cfg_path).unwrap();
    let gateway = vendorwall::server::Gateway::start(cfg).await.unwrap();
    let base = gateway.base_url();
    let admin = gateway.admin_url().unwrap();

    // No reserve file: it would eat into a headroom that is not there.
    let reserve = dir.path().join("store").join(vendorwall::store::space::RESERVE_FILE);
    assert!(!reserve.exists());

    let (status, retry_after, body) = track(&base, 1).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"], 0, "{body}");
    assert_eq!(status_of(format!("{base}/readyz")).await, 503);
    assert_eq!(status_of(format!("{admin}/readyz")).await, 503);
    assert_eq!(status_of(format!("{base}/healthz")).await, 200, "alive, only not ready");
    let metrics = client()
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        series_value(
            &metrics,
            "vendorwall_ingest_rejected_requests_total{reason=\"store_full\"}"
        ),
        1.0
    );
    assert_eq!(vendor.received().len(), 0);

    // Headroom back (the operator freed space; here: no headroom asked for).
    gateway.space().set_min_free_bytes(0);
    let ready = eventually_async(Duration::from_secs(10), || async {
        status_of(format!("{base}/readyz")).await == 200
    })
    .await;
    assert!(ready, "/readyz back to 200 once there is room");
    // With room, the reserve was made beside the database.
    assert_eq!(std::fs::metadata(&reserve).unwrap().len(), 1 << 20);
    let (status, _, body) = track(&base, 2).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":1,"error":null}"#));
    assert!(vendor.wait_for_records(1, Duration::from_secs(10)).await);
    gateway.shutdown().await;
}
