//! The gateway end to end over HTTP: every Mixpanel dialect in, the emulator out.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vendorwall::emulator::Emulator;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

async fn post_form(url: &str, body: String) -> (u16, String) {
    let r = client()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dialect_reaches_the_vendor_with_the_real_token() {
    let vendor = emulator().await;
    let dir = TempDir::new("dialects");
    let cfg = write_config(dir.path(), &vendor.base_url(), &Options::default());
    let server = Server::start(&cfg);
    let base = &server.base_url;

    // browser batch: base64 array, verbose=1, trailing slash
    let batch = json!([
        {"event": "Page Viewed", "properties": {"token": APP_TOKEN, "distinct_id": "$device:abc", "$insert_id": "b36insertid00001", "time": 1_764_000_000.5, "plan": "pro"}},
        {"event": "Clicked", "properties": {"token": APP_TOKEN, "distinct_id": "$device:abc", "$insert_id": "b36insertid00002", "time": 1_764_000_001.25, "nested": {"a": [1, 2]}}}
    ]);
    let (status, body) = post_form(
        &format!("{base}/track/?verbose=1&ip=1&_=1"),
        format!("data={}", form_encode(&b64(&batch))),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":1,"error":null}"#));

    // node GET: base64 object in the query, no insert_id, no time
    let node =
        json!({"event": "Node Event", "properties": {"token": APP_TOKEN, "distinct_id": "u-1", "mp_lib": "node"}});
    let r = client()
        .get(format!("{base}/track?ip=0&verbose=0&data={}", form_encode(&b64(&node))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");

    // python: raw JSON form with verbose in the body
    let py = json!({"event": "Py Event", "properties": {"token": APP_TOKEN, "distinct_id": "u-2", "time": 1_764_000_002.0, "$insert_id": "0123456789abcdef0123456789abcdef"}});
    let (_, body) = post_form(
        &format!("{base}/track"),
        format!("data={}&verbose=1&ip=0", form_encode(&py.to_string())),
    )
    .await;
    assert_eq!(body, r#"{"status":1,"error":null}"#);

    // beacon: text/plain form
    let beacon = json!([{"event": "Beacon", "properties": {"token": APP_TOKEN, "distinct_id": "u-3", "$insert_id": "beacon0000000001"}}]);
    let r = client()
        .post(format!("{base}/track/?ip=1&_=2"))
        .header("Content-Type", "text/plain;charset=UTF-8")
        .body(format!("data={}", form_encode(&b64(&beacon))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // profile and group updates
    let engage = json!([{"$token": APP_TOKEN, "$distinct_id": "u-1", "$set": {"plan": "pro"}}, {"$token": APP_TOKEN, "$distinct_id": "u-1", "$unset": ["old"]}]);
    let (_, body) = post_form(
        &format!("{base}/engage/?verbose=1"),
        format!("data={}", form_encode(&b64(&engage))),
    )
    .await;
    assert_eq!(body, r#"{"status":1,"error":null}"#);
    let groups = json!({"$token": APP_TOKEN, "$group_key": "company", "$group_id": "acme", "$set": {"size": 10}});
    let r = client()
        .get(format!("{base}/groups?data={}", form_encode(&b64(&groups))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");

    // /import from an app: JSON body, gzip, the import secret as Basic username
    let import = json!([{"event": "Imported", "properties": {"distinct_id": "u-4", "time": 1_763_000_000, "$insert_id": "imp-1"}}]);
    let gz = vendorwall::protocol::wire::gzip(import.to_string().as_bytes());
    let r = client()
        .post(format!("{base}/import?strict=1"))
        .basic_auth(IMPORT_SECRET, Some(""))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(gz)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"code": 200, "num_records_imported": 1, "status": "OK"})
    );

    assert!(
        vendor.wait_for_records(9, WAIT).await,
        "vendor got {:?}; dead letters: {}",
        vendor
            .received()
            .iter()
            .map(|r| r.record.to_string())
            .collect::<Vec<_>>(),
        cli(&["outbox", "list", "--config", cfg.to_str().unwrap()]).1
    );
    let got = vendor.received();
    assert_eq!(got.len(), 9);
    let by_name = |n: &str| {
        got.iter()
            .find(|r| r.event_name() == Some(n))
            .unwrap_or_else(|| panic!("{n} missing"))
    };

    // events go to /import (api_secret set), with the real token and the vendor's secret
    for r in got.iter().filter(|r| r.record.get("event").is_some()) {
        assert!(r.endpoint == "import");
        assert_eq!(r.record["properties"]["token"], PROJECT_TOKEN);
    }
    assert!(
        vendor
            .requests()
            .iter()
            .filter(|r| r.endpoint == Some("import"))
            .all(|r| r.basic_user.as_deref() == Some(API_SECRET) && r.gzip)
    );
    // ids and times byte for byte
    let pv = by_name("Page Viewed");
    assert_eq!(pv.record["properties"]["$insert_id"], "b36insertid00001");
    assert_eq!(pv.record["properties"]["time"], json!(1_764_000_000.5));
    assert_eq!(pv.record["properties"]["plan"], "pro");
    assert_eq!(by_name("Clicked").record["properties"]["nested"], json!({"a": [1, 2]}));
    // the browser asked for geolocation (ip=1): its address travels in the event
    assert_eq!(pv.record["properties"]["ip"], "127.0.0.1");
    // node event: derived insert_id, arrival time added, no ip (ip=0)
    let ne = by_name("Node Event");
    let id = ne.record["properties"]["$insert_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(ne.record["properties"]["time"].as_i64().unwrap() > 1_700_000_000_000);
    assert!(ne.record["properties"].get("ip").is_none());
    assert_eq!(
        by_name("Py Event").record["properties"]["$insert_id"],
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(by_name("Imported").record["properties"]["$insert_id"], "imp-1");
    // profiles and groups
    let engage: Vec<&Value> = got
        .iter()
        .filter(|r| r.endpoint == "engage")
        .map(|r| &r.record)
        .collect();
    assert_eq!(engage.len(), 2);
    assert!(
        engage
            .iter()
            .all(|r| r["$token"] == PROJECT_TOKEN && r["$distinct_id"] == "u-1")
    );
    assert!(engage.iter().any(|r| r["$unset"] == json!(["old"])));
    let group = got.iter().find(|r| r.endpoint == "groups").unwrap();
    assert_eq!(
        group.record,
        json!({"$token": PROJECT_TOKEN, "$group_key": "company", "$group_id": "acme", "$set": {"size": 10}})
    );
    // vendorwall tells the vendor not to geolocate its own address
    assert!(
        vendor
            .requests()
            .iter()
            .filter(|r| matches!(r.endpoint, Some("engage" | "groups")))
            .all(|r| r.ip_param.as_deref() == Some("0"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_api_secret_events_go_to_track() {
    let vendor = emulator().await;
    let dir = TempDir::new("track");
    let cfg = write_config(
        dir.path(),
        &vendor.base_url(),
        &Options {
            api_secret: false,
            ..Options::default()
        },
    );
    let server = Server::start(&cfg);
    let ev = json!({"event": "a", "properties": {"token": APP_TOKEN, "distinct_id": "u"}});
    let (_, body) = post_form(
        &format!("{}/track", server.base_url),
        format!("data={}", form_encode(&ev.to_string())),
    )
    .await;
    assert_eq!(body, "1");
    assert!(vendor.wait_for_records(1, WAIT).await);
    let r = &vendor.received()[0];
    assert!(r.endpoint == "track");
    assert_eq!(r.record["properties"]["token"], PROJECT_TOKEN);
    assert_eq!(vendor.requests()[0].ip_param.as_deref(), Some("0"));
}

/// A vendor, and a gateway in a fresh directory whose one destination has `extra_destination`
/// added to its configuration: (vendor, directory, config path, gateway).
async fn gateway_with(name: &str, extra_destination: &str) -> (Emulator, TempDir, std::path::PathBuf, Server) {
    let vendor = emulator().await;
    let dir = TempDir::new(name);
    let cfg = write_config(
        dir.path(),
        &vendor.base_url(),
        &Options {
            extra_destination: extra_destination.to_owned(),
            ..Options::default()
        },
    );
    let server = Server::start(&cfg);
    (vendor, dir, cfg, server)
}

/// A gateway whose destination lingers `linger_ms` after a short lease, and its vendor.
async fn lingering_gateway(name: &str, linger_ms: u64) -> (Emulator, TempDir, std::path::PathBuf, Server) {
    gateway_with(name, &format!("batch_linger_ms = {linger_ms}\n")).await
}

/// Posts one event with `distinct_id` `u{i}` to `/track`, as a browser SDK would.
async fn post_track_event(server: &Server, i: usize) -> (u16, String) {
    let ev = json!({"event": "a", "properties": {"token": APP_TOKEN, "distinct_id": format!("u{i}")}});
    post_form(
        &format!("{}/track", server.base_url),
        format!("data={}", form_encode(&ev.to_string())),
    )
    .await
}

/// After a lease that did not fill a batch, the worker lets records accumulate for
/// `batch_linger_ms`: a trickle of one-event requests reaches the vendor in full batches
/// after the linger, not one vendor request each.
///
/// Both checks are bounds a slow machine cannot break. Leases that return records are at
/// least a linger apart, and the first lease follows the first post, so the k-th vendor
/// request arrives at least k lingers after the first post began: slowness only makes it
/// later. And the trickled records are leased while the test posts them, for a time T, at
/// most once per linger (1 + T / linger leases), and once more after: so with the first
/// record's request there are at most 3 + T / linger vendor requests, where sending one
/// request per post would take 20.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_lingers_so_a_trickle_goes_out_in_full_batches() {
    const LINGER: Duration = Duration::from_millis(1500);
    let (vendor, _dir, _cfg, server) = lingering_gateway("linger", LINGER.as_millis() as u64).await;
    let post = |i| post_track_event(&server, i);
    // The first record goes out at once (nothing was lingering)…
    let started = Instant::now();
    assert_eq!(post(0).await, (200, "1".to_owned()));
    assert!(vendor.wait_for_records(1, WAIT).await);
    // …and the worker, having drained the queue, now waits out the linger.
    let trickle = Instant::now();
    for i in 1..20 {
        assert_eq!(post(i).await, (200, "1".to_owned()));
    }
    let posting = trickle.elapsed();
    assert!(vendor.wait_for_records(20, WAIT).await);
    let sent: Vec<_> = vendor.requests().into_iter().filter(|r| r.records > 0).collect();
    assert_eq!(sent.iter().map(|r| r.records).sum::<usize>(), 20);
    assert_eq!(sent[0].records, 1);
    let most = 3 + (posting.as_millis() / LINGER.as_millis()) as usize;
    assert!(
        (2..=most).contains(&sent.len()),
        "{} vendor requests for 20 records posted over {posting:?}",
        sent.len()
    );
    for (k, request) in sent.iter().enumerate().skip(1) {
        let after = request.at.duration_since(started);
        assert!(
            after >= LINGER * k as u32,
            "vendor request {k} arrived {after:?} after the first post"
        );
    }
}

/// Many small batches, each leased, sent and recorded in turn: every record reaches the
/// vendor once, in order, and enters the ledger once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_batches_are_each_sent_and_recorded_once() {
    let (vendor, _dir, cfg, server) = gateway_with("small-batches", "batch_max_records = 3\n").await;
    let cfg_s = cfg.to_str().unwrap();
    let n = 240;
    for chunk in 0..n / 40 {
        let batch: Vec<Value> = (chunk * 40..(chunk + 1) * 40)
            .map(
                |i| json!({"event": "e", "properties": {"token": APP_TOKEN, "distinct_id": format!("u{i}"), "seq": i}}),
            )
            .collect();
        let (status, _) = post_form(
            &format!("{}/track", server.base_url),
            format!("data={}", form_encode(&b64(&json!(batch)))),
        )
        .await;
        assert_eq!(status, 200);
    }
    assert!(vendor.wait_for_records(n, WAIT).await);
    let entries = wait_until_delivered(&cfg, "mixpanel", n, WAIT).await;
    assert_eq!(entries, n, "each delivered record is in the ledger once");
    // The queue is empty, so every leased batch was recorded: nothing more will be sent.
    let seqs: Vec<u64> = vendor
        .received()
        .iter()
        .map(|r| r.record["properties"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..n as u64).collect::<Vec<_>>(), "sent once each, in order");
    assert!(vendor.requests().iter().all(|r| r.records <= 3));
    assert_eq!(vendor.received().len(), n, "nothing was sent twice");
    let (code, out, _) = cli(&["ledger", "verify", "--config", cfg_s]);
    assert_eq!(code, 0, "{out}");
}

/// A destination suspended while its worker lingers gets nothing more: the worker checks
/// the kill switch again after the linger, before it leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspending_during_the_linger_holds_the_next_batch() {
    let (vendor, _dir, cfg, server) = lingering_gateway("linger-suspend", 4000).await;
    let cfg_s = cfg.to_str().unwrap();
    let post = |i| post_track_event(&server, i);
    assert_eq!(post(0).await, (200, "1".to_owned()));
    assert!(vendor.wait_for_records(1, WAIT).await);
    // The worker now lingers for 4 s; suspend it well inside that.
    let (code, out, err) = cli(&["destination", "suspend", "mixpanel", "--config", cfg_s]);
    assert_eq!(code, 0, "{out}{err}");
    for i in 1..4 {
        assert_eq!(post(i).await, (200, "1".to_owned()));
    }
    // The worker logs the hold when, the linger over, it checks the kill switch instead of
    // leasing: from then on it sends nothing.
    assert!(
        server
            .wait_for_log("delivery held: destination suspended", 1, WAIT)
            .await,
        "{}",
        server.log()
    );
    assert_eq!(vendor.received().len(), 1, "a suspended destination received records");
    assert_eq!(destination_status(&cfg, "mixpanel").queued, 3);
    cli(&["destination", "resume", "mixpanel", "--config", cfg_s]);
    assert!(vendor.wait_for_records(4, WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_sdk_answer_and_never_loses_valid_neighbours() {
    let vendor = emulator().await;
    let dir = TempDir::new("bad");
    let opts = Options {
        limits:
            "[limits]\nmax_body_bytes = 65536\nmax_decompressed_bytes = 262144\nmax_depth = 4\nmax_properties = 20\n"
                .into(),
        ..Options::default()
    };
    let cfg = write_config(dir.path(), &vendor.base_url(), &opts);
    let server = Server::start(&cfg);
    let base = &server.base_url;
    let secret_value = "leaky.person+secret@example.org";

    let cases: Vec<(String, u16, &str)> = vec![
        ("data=!!!not-base64".into(), 200, r#"{"status":0,"error":"data is neither JSON nor base64-encoded JSON"}"#),
        (format!("data={}", form_encode(&format!("{{\"event\": \"{secret_value}\""))), 200, r#"{"status":0,"error":"data is not valid JSON"}"#),
        ("nothing=here".into(), 200, r#"{"status":0,"error":"no data parameter in the query or body"}"#),
        (format!("data={}", form_encode(&json!({"event": "x", "properties": {"token": "wrong-token", "email": secret_value}}).to_string())), 200,
            r#"{"status":0,"error":"token: project token is not configured"}"#),
        (format!("data={}", form_encode(&json!({"event": "x", "properties": {"email": secret_value}}).to_string())), 200,
            r#"{"status":0,"error":"token: project token is missing"}"#),
        (format!("data={}", form_encode(&json!({"event": ["x"], "properties": {"token": APP_TOKEN}}).to_string())), 200,
            r#"{"status":0,"error":"event: event name must be a string"}"#),
        (format!("data={}", form_encode(&json!({"event": "x", "properties": {"token": APP_TOKEN, "a": {"b": {"c": {"d": {"e": secret_value}}}}}}).to_string())), 200,
            r#"{"status":0,"error":"properties: value nested too deeply"}"#),
    ];
    for (body, want_status, want_body) in cases {
        let (status, got) = post_form(&format!("{base}/track?verbose=1"), body).await;
        assert_eq!((status, got.as_str()), (want_status, want_body));
        assert!(!got.contains(secret_value));
    }
    // too many properties
    let mut props = serde_json::Map::new();
    props.insert("token".into(), APP_TOKEN.into());
    for i in 0..30 {
        props.insert(format!("p{i}"), i.into());
    }
    let (_, got) = post_form(
        &format!("{base}/track?verbose=1"),
        format!(
            "data={}",
            form_encode(&json!({"event": "x", "properties": props}).to_string())
        ),
    )
    .await;
    assert_eq!(got, r#"{"status":0,"error":"properties: too many properties"}"#);

    // oversize body → 413 (the browser SDK halves its batch)
    let (status, _) = post_form(
        &format!("{base}/track?verbose=1"),
        format!("data={}", "A".repeat(70_000)),
    )
    .await;
    assert_eq!(status, 413);
    // decompression bomb → 413
    let bomb = vendorwall::protocol::wire::gzip(&vec![b' '; 1 << 20]);
    let r = client()
        .post(format!("{base}/import"))
        .basic_auth(IMPORT_SECRET, Some(""))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // /import without or with the wrong credential, or with the vendor's real secret
    for auth in [None, Some("nope"), Some(API_SECRET)] {
        let mut req = client()
            .post(format!("{base}/import?strict=1"))
            .header("Content-Type", "application/json")
            .body("[]");
        if let Some(a) = auth {
            req = req.basic_auth(a, Some(""));
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], 401);
    }

    // one bad record among good ones: the good ones are taken, strict import reports the bad one
    let mixed = json!([
        {"event": "good-1", "properties": {"distinct_id": "u", "time": 1_763_000_000, "$insert_id": "g1"}},
        {"event": "bad", "properties": {"distinct_id": "u", "$insert_id": "b1"}},
        {"event": "good-2", "properties": {"distinct_id": "u", "time": 1_763_000_001, "$insert_id": "g2"}}
    ]);
    let r = client()
        .post(format!("{base}/import?strict=1"))
        .basic_auth(IMPORT_SECRET, Some(""))
        .json(&mixed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["num_records_imported"], 2);
    assert_eq!(
        v["failed_records"],
        json!([{"index": 1, "$insert_id": "b1", "field": "properties.time", "message": "time is required"}])
    );
    // a track batch with a bad record still answers 1 and delivers the good one
    let batch =
        json!([{"event": "ok", "properties": {"token": APP_TOKEN}}, {"event": "nope", "properties": {"token": "bad"}}]);
    let (_, got) = post_form(&format!("{base}/track"), format!("data={}", form_encode(&b64(&batch)))).await;
    assert_eq!(got, "1");

    // not GET or POST
    let r = client().delete(format!("{base}/track")).send().await.unwrap();
    assert_eq!(r.status(), 405);

    assert!(vendor.wait_for_records(3, WAIT).await);
    let names: Vec<String> = vendor
        .received()
        .iter()
        .filter_map(|r| r.event_name().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for n in ["good-1", "good-2", "ok"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }

    // counted by reason, and still healthy
    let metrics = client()
        .get(format!("{}/metrics", server.admin()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "vendorwall_ingest_rejected_requests_total{reason=\"bad_encoding\"} 1",
        "vendorwall_ingest_rejected_requests_total{reason=\"bad_json\"} 1",
        "vendorwall_ingest_rejected_requests_total{reason=\"missing_data\"} 1",
        "vendorwall_ingest_rejected_requests_total{reason=\"body_too_large\"} 1",
        "vendorwall_ingest_rejected_requests_total{reason=\"decompressed_too_large\"} 1",
        "vendorwall_ingest_rejected_requests_total{reason=\"unauthorized\"} 3",
        "vendorwall_ingest_rejected_requests_total{reason=\"method_not_allowed\"} 1",
        "vendorwall_ingest_rejected_records_total{reason=\"unknown_token\"} 2",
        "vendorwall_ingest_rejected_records_total{reason=\"missing_token\"} 1",
        "vendorwall_ingest_rejected_records_total{reason=\"too_deep\"} 1",
        "vendorwall_ingest_rejected_records_total{reason=\"too_many_properties\"} 1",
        "vendorwall_ingest_rejected_records_total{reason=\"bad_time\"} 1",
        "vendorwall_ingest_accepted_records_total 3",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in\n{metrics}");
    }
    assert!(!metrics.contains(secret_value) && !metrics.contains(APP_TOKEN));
    let r = client().get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // the log never carries values, tokens or secrets
    let log = server.log();
    for s in [
        secret_value,
        APP_TOKEN,
        API_SECRET,
        PROJECT_TOKEN,
        IMPORT_SECRET,
        "wrong-token",
    ] {
        assert!(!log.contains(s), "log leaks `{s}`:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_img_jsonp_and_cors() {
    let vendor = emulator().await;
    let dir = TempDir::new("cors");
    let opts = Options {
        cors: vec!["http://app.test".into()],
        ..Options::default()
    };
    let cfg = write_config(dir.path(), &vendor.base_url(), &opts);
    let server = Server::start(&cfg);
    let base = &server.base_url;
    let ev = form_encode(&b64(&json!({"event": "img", "properties": {"token": APP_TOKEN}})));

    let r = client()
        .get(format!("{base}/track?img=1&data={ev}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/gif");
    assert!(r.bytes().await.unwrap().starts_with(b"GIF89a"));
    let r = client()
        .get(format!("{base}/track/?callback=mixpanel._jsc.x1&verbose=1&data={ev}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        r#"mixpanel._jsc.x1({"status":1,"error":null});"#
    );

    // allowed origin echoed exactly, with credentials; others get no CORS headers
    let r = client()
        .post(format!("{base}/track/"))
        .header("Origin", "http://app.test")
        .body(format!("data={ev}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "http://app.test");
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    let r = client()
        .post(format!("{base}/track/"))
        .header("Origin", "http://evil.test")
        .body(format!("data={ev}"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = client()
        .request(reqwest::Method::OPTIONS, format!("{base}/engage/"))
        .header("Origin", "http://app.test")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "http://app.test");
    assert_eq!(r.headers()["access-control-allow-headers"], "content-type");
    assert!(vendor.wait_for_records(3, WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_dead_letters_and_backpressure() {
    let vendor = emulator().await;
    let dir = TempDir::new("switch");
    let cfg = write_config(
        dir.path(),
        &vendor.base_url(),
        &Options {
            max_queue_records: 5,
            ..Options::default()
        },
    );
    let cfg_s = cfg.to_str().unwrap();
    let server = Server::start(&cfg);
    let base = server.base_url.clone();
    let send = |name: String, extra: Value| {
        let base = base.clone();
        async move {
            let mut props = json!({"token": APP_TOKEN, "distinct_id": "u", "time": 1_763_000_000});
            props
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            post_form(
                &format!("{base}/track?verbose=1"),
                format!(
                    "data={}",
                    form_encode(&json!({"event": name, "properties": props}).to_string())
                ),
            )
            .await
        }
    };

    // The running server applies each kill-switch change within a second; its delivery
    // worker logs each one it acts on.
    let held = |n| server.wait_for_log("delivery held: destination", n, WAIT);
    let resumed = |n| server.wait_for_log("delivery resumed", n, WAIT);

    // suspend: records queue durably, nothing is delivered
    let (code, out, _) = cli(&["destination", "suspend", "mixpanel", "--config", cfg_s]);
    assert_eq!(code, 0, "{out}");
    assert!(held(1).await, "{}", server.log());
    for i in 0..5 {
        assert_eq!(
            send(format!("held-{i}"), json!({})).await.1,
            r#"{"status":1,"error":null}"#
        );
    }
    let status = destination_status(&cfg, "mixpanel");
    assert_eq!((status.state.as_str(), status.queued), ("suspended", 5), "{status:?}");

    // the queue is at its bound: 503 so SDKs retry, nothing lost; each refusal is
    // counted, the log says it once
    for i in 0..3 {
        let (status, body) = send(format!("over-{i}"), json!({})).await;
        assert_eq!(status, 503, "{body}");
    }
    assert_eq!(
        server.log().matches("outbox over its bound").count(),
        1,
        "{}",
        server.log()
    );

    // Nothing left the queue while the destination was suspended.
    assert!(vendor.received().is_empty());
    assert_eq!(destination_status(&cfg, "mixpanel").queued, 5);

    // resume: the held records go out
    cli(&["destination", "resume", "mixpanel", "--config", cfg_s]);
    assert!(vendor.wait_for_records(5, WAIT).await);

    // suspend --drop: new records are discarded and counted
    cli(&["destination", "suspend", "mixpanel", "--drop", "--config", cfg_s]);
    assert!(
        server
            .wait_for_log("delivery held: destination dropping", 1, WAIT)
            .await,
        "{}",
        server.log()
    );
    assert_eq!(
        send("dropped".into(), json!({})).await.1,
        r#"{"status":1,"error":null}"#
    );
    let metrics_url = format!("{}/metrics", server.admin());
    let metrics_url = &metrics_url;
    let dropped_counted = eventually_async(WAIT, || async move {
        let metrics = client().get(metrics_url).send().await.unwrap().text().await.unwrap();
        metrics.contains("vendorwall_delivery_dropped_records_total{destination=\"mixpanel\"} 1")
    })
    .await;
    assert!(dropped_counted, "the dropped record was not counted");
    assert_eq!(destination_status(&cfg, "mixpanel").state, "dropping");
    cli(&["destination", "resume", "mixpanel", "--config", cfg_s]);
    assert!(resumed(2).await, "{}", server.log());

    // the vendor refuses one record of a batch for good: exactly that one is dead-lettered
    let old = json!({"event": "too-old", "properties": {"token": APP_TOKEN, "distinct_id": "u", "time": 10_000_000}});
    let fine = json!({"event": "fine", "properties": {"token": APP_TOKEN, "distinct_id": "u", "time": 1_763_000_000}});
    cli(&["destination", "suspend", "mixpanel", "--config", cfg_s]);
    assert!(held(3).await, "{}", server.log());
    post_form(
        &format!("{base}/track"),
        format!("data={}", form_encode(&json!([old, fine]).to_string())),
    )
    .await;
    cli(&["destination", "resume", "mixpanel", "--config", cfg_s]);
    assert!(vendor.wait_for_records(6, WAIT).await);
    let refused = eventually(WAIT, || {
        std::process::Command::new(bin())
            .args(["outbox", "list", "--config", cfg_s])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("vendor refused"))
            .unwrap_or(false)
    })
    .await;
    assert!(
        refused,
        "{:?}\n{:?}\n{}",
        vendor.requests(),
        vendor
            .received()
            .iter()
            .map(|r| r.record.to_string())
            .collect::<Vec<_>>(),
        server.log()
    );
    let (_, out, _) = cli(&["outbox", "list", "--config", cfg_s]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("mixpanel") && out.contains("track"), "{out}");
    assert!(vendor.received().iter().any(|r| r.event_name() == Some("fine")));
    assert!(!vendor.received().iter().any(|r| r.event_name() == Some("too-old")));
    // retry puts it back (it fails again), purge removes it
    let (_, out, _) = cli(&["outbox", "retry", "--config", cfg_s]);
    assert!(out.starts_with("1 dead letter"), "{out}");
    assert!(
        eventually(WAIT, || std::process::Command::new(bin())
            .args(["outbox", "list", "--config", cfg_s])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("vendor refused"))
            .unwrap_or(false))
        .await
    );
    let (_, out, _) = cli(&["outbox", "purge", "--destination", "mixpanel", "--config", cfg_s]);
    assert!(out.starts_with("1 dead letter"), "{out}");
    let (_, out, _) = cli(&["outbox", "list", "--config", cfg_s]);
    assert_eq!(out.trim(), "no dead letters");
    let metrics = client()
        .get(format!("{}/metrics", server.admin()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vendorwall_delivery_dead_lettered_records_total{destination=\"mixpanel\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vendorwall_ingest_rejected_requests_total{reason=\"backpressure\"} 3"),
        "{metrics}"
    );
}

#[test]
fn check_config_reports_every_error() {
    let dir = TempDir::new("check");
    let good = write_config(dir.path(), "http://127.0.0.1:1", &Options::default());
    let (code, out, _) = cli(&["check-config", "--config", good.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("ok (1 source, 1 destination)"), "{out}");
    let text = std::fs::read_to_string(&good)
        .unwrap()
        .replace("protocol = \"mixpanel\"", "protocol = \"mixpanel\"\nfoo = 1")
        .replace("sources = [\"web\"]", "sources = [\"nope\"]");
    std::fs::write(&good, text).unwrap();
    let out = std::process::Command::new(bin())
        .args(["check-config", "--config", good.to_str().unwrap()])
        .env_remove("VW_TEST_MP_SECRET")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("3 configuration errors"), "{err}");
    assert!(
        err.contains("unknown field `foo`") && err.contains("VW_TEST_MP_SECRET is not set") && err.contains("`nope`"),
        "{err}"
    );
    assert!(err.lines().skip(1).all(|l| l.contains("line ")), "{err}");
}

#[test]
fn policy_explain_test_and_key_rotation_from_the_cli() {
    let dir = TempDir::new("policy-cli");
    let cfg = write_config(
        dir.path(),
        "http://127.0.0.1:1",
        &Options {
            policy: "\"recommended\"".into(),
            ..Options::default()
        },
    );
    let samples = dir.path().join("samples.jsonl");
    std::fs::write(
        &samples,
        concat!(
            r#"{"event":"Signup","properties":{"distinct_id":"jane@example.com","email":"jane@example.com","plan":"pro","$current_url":"https://a.io/p?e=jane%40example.com"}}"#,
            "\n",
            r#"{"event":"Paid","properties":{"distinct_id":"u1","card":"4111 1111 1111 1111","plan":"pro"}}"#,
            "\n"
        ),
    )
    .unwrap();
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[[policy_tests]]\ndestination = \"mixpanel\"\nsamples = \"{}\"\nnever_receives = [\"user.contact\", \"user.financial\"]\nunchanged = [\"properties.plan\"]\n",
        samples.display()
    ));
    std::fs::write(&cfg, &text).unwrap();
    let c = cfg.to_str().unwrap();

    let (code, out, err) = cli(&["policy", "test", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok: 1 assertion set(s), 2 sample records"), "{out}");

    let (code, out, _) = cli(&[
        "policy",
        "explain",
        "--destination",
        "mixpanel",
        "--input",
        samples.to_str().unwrap(),
        "--json",
        "--config",
        c,
    ]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let first = &lines[0]["vendor_receives"]["properties"];
    assert_eq!(first["email"], "[email]");
    // Only the detected span of a query value goes; the parameter stays.
    assert_eq!(first["$current_url"], "https://a.io/p?e=[email]");
    assert_eq!(first["plan"], "pro");
    assert_ne!(first["distinct_id"], "jane@example.com");
    assert!(
        lines[0]["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["because"] == "pseudonymize_ids")
    );
    assert_eq!(lines[1]["vendor_receives"]["properties"]["card"], "[credit_card]");

    // a passthrough destination fails the same assertions, with a diff
    std::fs::write(
        &cfg,
        text.replace("policy = \"recommended\"", "policy = \"passthrough\""),
    )
    .unwrap();
    let (code, out, _) = cli(&["policy", "test", "--config", c]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL mixpanel never_receives user.contact") && out.contains("+ vendor gets:"),
        "{out}"
    );
    assert!(out.contains("never_receives user.financial"), "{out}");

    // keys: generated on first use, rotated on demand
    let (code, out, err) = cli(&["keys", "rotate", "mixpanel", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("version 2 is now current"), "{out}");
    let (_, out, _) = cli(&["keys", "list", "--config", c]);
    assert!(out.contains("mixpanel") && out.contains("1,2"), "{out}");
    let key_file = std::fs::read(dir.path().join("master.key")).unwrap();
    let db = std::fs::read(dir.path().join("store/vendorwall.db")).unwrap();
    assert!(
        !db.windows(key_file.len().min(16))
            .any(|w| w == &key_file[..key_file.len().min(16)])
    );
}

/// Two gateways on one store would lease the same rows and deliver them twice: the second
/// is refused with a clear error, and once the first stops another can start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_on_the_same_store_is_refused() {
    let (vendor, _dir, cfg, mut first) = gateway_with("one-gateway", "").await;
    let mut second = with_master_key(&mut std::process::Command::new(bin()))
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("VW_TEST_MP_SECRET", API_SECRET)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("a second gateway kept running on the same store");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(
        err.contains("another vendorwall gateway is running on the store"),
        "{err}"
    );
    // The first still serves.
    assert_eq!(post_track_event(&first, 1).await.0, 200);
    assert!(vendor.wait_for_records(1, WAIT).await);
    first.stop();
    let again = Server::start(&cfg);
    assert_eq!(post_track_event(&again, 2).await.0, 200);
    assert!(vendor.wait_for_records(2, WAIT).await);
}
