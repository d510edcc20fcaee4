//! End-to-end tests of the emulator over real sockets: `reqwest` for ordinary requests, a raw
//! `TcpStream` where connection-level behaviour (keep-alive, resets, refusals) matters.

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

const TOKEN: &str = "tok123";
const SECRET: &str = "sekret456";

async fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::new(Vendor::Mixpanel, TOKEN).with_secret(SECRET))
        .await
        .expect("emulator starts")
}

fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(30))
}

fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    // reqwest is built with `rustls-no-provider`; plain http still wants one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .expect("client builds")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn import_event(insert_id: &str) -> Value {
    json!({
        "event": "Signup",
        "properties": {
            "time": now_secs() - 60,
            "distinct_id": "user-1",
            "$insert_id": insert_id,
            "plan": "pro",
        }
    })
}

fn track_event(name: &str) -> Value {
    json!({"event": name, "properties": {"token": TOKEN, "distinct_id": "u", "time": now_secs()}})
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn post_import(emu: &Emulator, user: Option<&str>, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let mut req = client()
        .post(format!("{}/import?strict=1", emu.base_url()))
        .header("content-type", "application/json")
        .body(body);
    if let Some(user) = user {
        req = req.basic_auth(user, None::<&str>);
    }
    let resp = req.send().await.expect("request completes");
    let status = resp.status().as_u16();
    let body = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("JSON body");
    (status, body)
}

async fn post_form(emu: &Emulator, path_and_query: &str, form: String) -> (u16, String) {
    let resp = client()
        .post(format!("{}{}", emu.base_url(), path_and_query))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("request completes");
    (resp.status().as_u16(), resp.text().await.expect("text body"))
}

/// One HTTP/1.1 request on an existing connection; returns status and body.
async fn raw_request(stream: &mut TcpStream, request: &str) -> std::io::Result<(u16, String)> {
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < end + 4 + length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
        return Ok((status, body));
    }
}

fn raw_import(body: &str) -> String {
    let auth = STANDARD.encode(format!("{TOKEN}:"));
    format!(
        "POST /import?strict=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn import_all_valid_is_recorded_as_sent() {
    let emu = emulator().await;
    let batch = json!([import_event("id-1"), import_event("id-2")]);
    let (status, body) = post_import(&emu, Some(TOKEN), batch.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body.to_string(),
        r#"{"code":200,"num_records_imported":2,"status":"OK"}"#
    );

    let received = emu.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].record, batch[0], "recorded byte-for-byte");
    assert_eq!(received[1].insert_id(), Some("id-2"));
    assert_eq!(received[0].event_name(), Some("Signup"));
    assert_eq!(received[0].endpoint, "import");

    let requests = emu.requests();
    assert_eq!(requests.len(), 1);
    let log = &requests[0];
    assert_eq!((log.status, log.records, log.gzip), (200, 2, false), "{log:?}");
    assert_eq!(log.basic_user.as_deref(), Some(TOKEN));
    assert_eq!(received[0].request_seq, log.seq);
    emu.shutdown().await;
}

#[tokio::test]
async fn import_ndjson_with_api_secret() {
    let emu = emulator().await;
    let body = format!("{}\n{}\n", import_event("a1"), import_event("a2"));
    let (status, resp) = post_import(&emu, Some(SECRET), body).await;
    assert_eq!((status, resp["num_records_imported"].as_u64()), (200, Some(2)));
    assert_eq!(emu.requests()[0].basic_user.as_deref(), Some(SECRET));
}

#[tokio::test]
async fn import_partial_failure_ingests_the_valid_rows() {
    let emu = emulator().await;
    let mut future = import_event("bad-time");
    future["properties"]["time"] = json!(now_secs() + 7200);
    let mut anon = import_event("bad-user");
    anon["properties"]["distinct_id"] = json!("undefined");
    let mut no_insert_id = import_event("x");
    no_insert_id["properties"]
        .as_object_mut()
        .map(|p| p.remove("$insert_id"));
    let mut millis = import_event("ms-ok");
    millis["properties"]["time"] = json!((now_secs() - 60) * 1000);
    let batch = json!([import_event("ok-1"), future, anon, no_insert_id, millis]);

    let (status, body) = post_import(&emu, Some(TOKEN), batch.to_string()).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], 400);
    assert_eq!(body["status"], "Bad Request");
    assert_eq!(body["error"], "some data points in the request failed validation");
    assert_eq!(body["num_records_imported"], 2);
    let failed = body["failed_records"].as_array().expect("failed_records");
    let summary: Vec<(u64, &str, &str)> = failed
        .iter()
        .map(|f| {
            (
                f["index"].as_u64().unwrap_or(99),
                f["$insert_id"].as_str().unwrap_or("?"),
                f["field"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "bad-time", "properties.time"),
            (2, "bad-user", "properties.distinct_id"),
            (3, "", "properties.$insert_id"),
        ]
    );
    assert!(failed.iter().all(|f| f["message"].is_string()));

    let ids: Vec<_> = emu
        .received()
        .iter()
        .map(|r| r.insert_id().map(str::to_owned))
        .collect();
    assert_eq!(ids, vec![Some("ok-1".to_owned()), Some("ms-ok".to_owned())]);
    let log = &emu.requests()[0];
    assert_eq!((log.status, log.records, log.rejected), (400, 2, 3));
}

#[tokio::test]
async fn import_refuses_bad_credentials() {
    let emu = emulator().await;
    let batch = json!([import_event("a")]).to_string();
    for user in [None, Some("wrong"), Some("")] {
        let (status, body) = post_import(&emu, user, batch.clone()).await;
        assert_eq!(status, 401, "{user:?}");
        assert_eq!(body["code"], 401);
        assert_eq!(body["status"], "Unauthorized");
        assert!(body["error"].is_string());
    }
    // A password makes it a service-account login, which this project does not have.
    let resp = client()
        .post(format!("{}/import?strict=1", emu.base_url()))
        .basic_auth(TOKEN, Some("pw"))
        .body(batch)
        .send()
        .await
        .expect("request completes");
    assert_eq!(resp.status().as_u16(), 401);
    assert!(emu.received().is_empty());
    assert_eq!(emu.requests().len(), 4);
}

#[tokio::test]
async fn import_gzip_body() {
    let emu = emulator().await;
    let batch = json!([import_event("gz-1"), import_event("gz-2"), import_event("gz-3")]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(batch.to_string().as_bytes()).expect("gzip in memory");
    let compressed = encoder.finish().expect("gzip in memory");
    let resp = client()
        .post(format!("{}/import?strict=1", emu.base_url()))
        .basic_auth(TOKEN, None::<&str>)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(compressed)
        .send()
        .await
        .expect("request completes");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(emu.received().len(), 3);
    assert!(emu.requests()[0].gzip);
}

#[tokio::test]
async fn import_limits() {
    let emu = emulator().await;
    // Over 10 MiB once inflated, tiny on the wire.
    let mut padded = vec![b' '; 10 * 1024 * 1024 + 1];
    padded.extend_from_slice(b"[]");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&padded).expect("gzip in memory");
    let resp = client()
        .post(format!("{}/import?strict=1", emu.base_url()))
        .basic_auth(TOKEN, None::<&str>)
        .header("content-encoding", "gzip")
        .body(encoder.finish().expect("gzip in memory"))
        .send()
        .await
        .expect("request completes");
    assert_eq!(resp.status().as_u16(), 413);
    let body: Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("JSON body");
    assert_eq!(
        (body["code"].as_u64(), body["status"].as_str()),
        (Some(413), Some("Request Entity Too Large"))
    );

    let too_many: Vec<Value> = (0..2001).map(|i| import_event(&format!("n{i}"))).collect();
    let (status, body) = post_import(&emu, Some(TOKEN), Value::from(too_many).to_string()).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(400)));

    let (status, _) = post_import(&emu, Some(TOKEN), "not json").await;
    assert_eq!(status, 400);
    assert!(emu.received().is_empty());
}

#[tokio::test]
async fn import_python_form_dialect() {
    let emu = emulator().await;
    let form = format!(
        "data={}&verbose=1&ip=0",
        urlencode(&json!([import_event("py-1")]).to_string())
    );
    let resp = client()
        .post(format!("{}/import", emu.base_url()))
        .basic_auth(SECRET, Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("request completes");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.expect("body"), r#"{"status":1,"error":null}"#);
    assert_eq!(emu.received().len(), 1);
    assert_eq!(emu.requests()[0].ip_param.as_deref(), Some("0"));
}

#[tokio::test]
async fn track_base64_form_with_verbose_in_query() {
    let emu = emulator().await;
    let batch = json!([track_event("Viewed"), track_event("Clicked")]);
    let data = STANDARD.encode(batch.to_string());
    let (status, body) = post_form(
        &emu,
        "/track/?verbose=1&ip=1&_=1700000000000",
        format!("data={}", urlencode(&data)),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":1,"error":null}"#));
    let received = emu.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].record, batch[1]);
    assert_eq!(received[0].endpoint, "track");
    let log = &emu.requests()[0];
    assert_eq!(log.ip_param.as_deref(), Some("1"));
    assert_eq!(log.path, "/track/");

    // The same base64 with '+' mangled into spaces (unencoded form value) still decodes.
    let (_, body) = post_form(&emu, "/track", format!("data={data}&verbose=1")).await;
    assert_eq!(body, r#"{"status":1,"error":null}"#);
}

#[tokio::test]
async fn track_raw_json_object_python_and_node_styles() {
    let emu = emulator().await;
    // Python: one raw JSON object, `verbose` and `ip` in the form body.
    let form = format!("data={}&verbose=1&ip=0", urlencode(&track_event("Py").to_string()));
    let (status, body) = post_form(&emu, "/track", form).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":1,"error":null}"#));
    assert_eq!(emu.requests()[0].ip_param.as_deref(), Some("0"));

    // Node: GET with base64 `data` in the query, plain `1` back.
    let data = STANDARD.encode(track_event("Node").to_string());
    let resp = client()
        .get(format!(
            "{}/track?ip=0&verbose=0&data={}",
            emu.base_url(),
            urlencode(&data)
        ))
        .send()
        .await
        .expect("request completes");
    assert_eq!(
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/plain")
    );
    assert_eq!(resp.text().await.expect("body"), "1");

    // A beacon: a form string labelled text/plain.
    let resp = client()
        .post(format!("{}/track/", emu.base_url()))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(format!(
            "data={}",
            urlencode(&json!([track_event("Beacon")]).to_string())
        ))
        .send()
        .await
        .expect("request completes");
    assert_eq!(resp.text().await.expect("body"), "1");

    let names: Vec<_> = emu
        .received()
        .iter()
        .map(|r| r.event_name().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        vec![
            Some("Py".to_owned()),
            Some("Node".to_owned()),
            Some("Beacon".to_owned())
        ]
    );
}

#[tokio::test]
async fn track_refusals() {
    let emu = emulator().await;
    let mut wrong_token = track_event("W");
    wrong_token["properties"]["token"] = json!("someone-else");
    let mut old = track_event("Old");
    old["properties"]["time"] = json!(now_secs() - 6 * 24 * 3600);

    for record in [&wrong_token, &old] {
        let form = format!("data={}", urlencode(&record.to_string()));
        let (status, body) = post_form(&emu, "/track", form.clone()).await;
        assert_eq!((status, body.as_str()), (200, "0"));
        let (_, body) = post_form(&emu, "/track?verbose=1", form).await;
        let body: Value = serde_json::from_str(&body).expect("verbose JSON");
        assert_eq!(body["status"], 0);
        assert!(body["error"].is_string());
    }
    let (_, body) = post_form(&emu, "/track", "verbose=1".to_owned()).await;
    assert_eq!(serde_json::from_str::<Value>(&body).expect("verbose JSON")["status"], 0);

    // One good, one bad: `1`, and only the good one is recorded.
    let batch = json!([track_event("Good"), wrong_token]);
    let (_, body) = post_form(&emu, "/track", format!("data={}", urlencode(&batch.to_string()))).await;
    assert_eq!(body, "1");
    assert_eq!(emu.received().len(), 1);
    assert_eq!(emu.requests().last().map(|r| r.rejected), Some(1));
}

#[tokio::test]
async fn engage_and_groups_check_the_token() {
    let emu = emulator().await;
    let profile = json!({"$token": TOKEN, "$distinct_id": "u1", "$set": {"plan": "pro"}});
    let bad_profile = json!({"$token": "nope", "$distinct_id": "u1", "$set": {"plan": "pro"}});
    let group = json!({"$token": TOKEN, "$group_key": "company", "$group_id": "acme", "$set": {"n": 1}});
    let bad_group = json!({"$token": TOKEN, "$group_key": "company", "$group_id": "acme", "$add": {"n": 1}});
    let cases = [
        ("/engage", &profile, "1"),
        ("/engage/", &bad_profile, "0"),
        ("/groups", &group, "1"),
        ("/groups/", &bad_group, "0"),
    ];
    for (path, record, want) in cases {
        let data = STANDARD.encode(json!([record]).to_string());
        let (status, body) = post_form(&emu, path, format!("data={}", urlencode(&data))).await;
        assert_eq!((status, body.as_str()), (200, want), "{path} {record}");
    }
    let received = emu.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].endpoint, "engage");
    assert_eq!(received[1].endpoint, "groups");

    // GET works too (node SDK).
    let data = STANDARD.encode(profile.to_string());
    let resp = client()
        .get(format!("{}/engage?data={}&verbose=1", emu.base_url(), urlencode(&data)))
        .send()
        .await
        .expect("request completes");
    assert_eq!(resp.text().await.expect("body"), r#"{"status":1,"error":null}"#);
}

#[tokio::test]
async fn unknown_path_is_404_json() {
    let emu = emulator().await;
    let resp = client()
        .get(format!("{}/decide", emu.base_url()))
        .send()
        .await
        .expect("request completes");
    assert_eq!(resp.status().as_u16(), 404);
    let log = &emu.requests()[0];
    assert!(log.endpoint.is_none());
    assert_eq!(log.status, 404);
}

#[tokio::test]
async fn status_fault_answers_json_and_records_nothing() {
    let emu = emulator().await;
    let batch = json!([import_event("f1")]).to_string();
    for code in [500u16, 502, 503] {
        emu.set_fault(Fault::Status(code)).await;
        let (status, body) = post_import(&emu, Some(TOKEN), batch.clone()).await;
        assert_eq!(status, code);
        assert_eq!(body["code"], code);
        assert!(body["status"].is_string() && body["error"].is_string());
    }
    // Form endpoints get the same JSON.
    let (status, _) = post_form(&emu, "/track", "data=e30=".to_owned()).await;
    assert_eq!(status, 503);
    assert!(emu.received().is_empty());
    assert_eq!(emu.requests().len(), 4);
    assert!(emu.requests().iter().all(|r| r.records == 0));

    emu.set_fault(Fault::None).await;
    let (status, _) = post_import(&emu, Some(TOKEN), batch).await;
    assert_eq!(status, 200);
    assert_eq!(emu.received().len(), 1);
}

#[tokio::test]
async fn rate_limited_fault_sets_retry_after() {
    let emu = emulator().await;
    emu.set_fault(Fault::RateLimited { retry_after_secs: 7 }).await;
    let resp = client()
        .post(format!("{}/import?strict=1", emu.base_url()))
        .basic_auth(TOKEN, None::<&str>)
        .body(json!([import_event("r")]).to_string())
        .send()
        .await
        .expect("request completes");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(
        resp.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("7")
    );
    assert_eq!(
        resp.text().await.expect("body"),
        r#"{"code":429,"error":"rate limit exceeded","status":"Too Many Requests"}"#
    );
    assert!(emu.received().is_empty());
}

#[tokio::test]
async fn delay_fault_still_records_after_the_client_gave_up() {
    let emu = emulator().await;
    emu.set_fault(Fault::Delay(Duration::from_millis(400))).await;
    let impatient = client_with_timeout(Duration::from_millis(100));
    let result = impatient
        .post(format!("{}/import?strict=1", emu.base_url()))
        .basic_auth(TOKEN, None::<&str>)
        .body(json!([import_event("late")]).to_string())
        .send()
        .await;
    assert!(result.is_err(), "client timed out");
    assert!(emu.received().is_empty(), "not yet applied");
    assert!(emu.wait_for_records(1, Duration::from_secs(5)).await);
    assert_eq!(emu.received()[0].insert_id(), Some("late"));

    // A patient client gets the normal answer.
    let started = std::time::Instant::now();
    let (status, _) = post_import(&emu, Some(TOKEN), json!([import_event("patient")]).to_string()).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn unreachable_refuses_resets_keepalive_and_comes_back_on_the_same_port() {
    let emu = emulator().await;
    let addr = emu.addr();

    // A keep-alive connection that has already been used.
    let mut kept = TcpStream::connect(addr).await.expect("connects");
    let (status, _) = raw_request(&mut kept, &raw_import(&json!([import_event("k1")]).to_string()))
        .await
        .expect("first request");
    assert_eq!(status, 200);
    // And a pooled reqwest connection.
    let pooled = client();
    let url = format!("{}/import?strict=1", emu.base_url());
    let ok = pooled
        .post(&url)
        .basic_auth(TOKEN, None::<&str>)
        .body(json!([import_event("p1")]).to_string())
        .send()
        .await
        .expect("first pooled request");
    assert_eq!(ok.status().as_u16(), 200);

    emu.set_fault(Fault::Unreachable).await;
    assert_eq!(emu.fault(), Fault::Unreachable);

    // The kept connection is dead: the next request on it fails.
    let reused = raw_request(&mut kept, &raw_import(&json!([import_event("k2")]).to_string())).await;
    assert!(reused.is_err(), "keep-alive connection must be closed: {reused:?}");
    // New connections are refused.
    let refused = TcpStream::connect(addr).await;
    assert_eq!(
        refused.as_ref().map_err(std::io::Error::kind).err(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "{refused:?}"
    );
    let pooled_again = pooled
        .post(&url)
        .basic_auth(TOKEN, None::<&str>)
        .body(json!([import_event("p2")]).to_string())
        .send()
        .await;
    assert!(pooled_again.is_err(), "{pooled_again:?}");
    assert_eq!(emu.received().len(), 2, "nothing recorded while unreachable");

    emu.try_set_fault(Fault::None).await.expect("binds the same port again");
    assert_eq!(emu.addr(), addr);
    let mut fresh = TcpStream::connect(addr).await.expect("listening again");
    let (status, _) = raw_request(&mut fresh, &raw_import(&json!([import_event("k3")]).to_string()))
        .await
        .expect("request after recovery");
    assert_eq!(status, 200);
    let back = pooled
        .post(&url)
        .basic_auth(TOKEN, None::<&str>)
        .body(json!([import_event("p3")]).to_string())
        .send()
        .await
        .expect("pooled client reconnects");
    assert_eq!(back.status().as_u16(), 200);
    let ids: Vec<_> = emu
        .received()
        .iter()
        .filter_map(|r| r.insert_id().map(str::to_owned))
        .collect();
    assert_eq!(ids, ["k1", "p1", "k3", "p3"]);

    // Going unreachable twice, and recovering twice, is harmless.
    emu.set_fault(Fault::Unreachable).await;
    emu.set_fault(Fault::Unreachable).await;
    emu.set_fault(Fault::None).await;
    emu.set_fault(Fault::None).await;
    assert!(TcpStream::connect(addr).await.is_ok());
}

#[tokio::test]
async fn unreachable_cuts_a_delayed_request_without_recording_it() {
    let emu = emulator().await;
    emu.set_fault(Fault::Delay(Duration::from_secs(30))).await;
    let mut conn = TcpStream::connect(emu.addr()).await.expect("connects");
    let pending =
        tokio::spawn(async move { raw_request(&mut conn, &raw_import(&json!([import_event("d")]).to_string())).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    emu.set_fault(Fault::Unreachable).await;
    let outcome = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("connection closed promptly")
        .expect("task ran");
    assert!(outcome.is_err(), "{outcome:?}");
    assert!(emu.received().is_empty());
    assert_eq!(emu.requests().first().map(|r| r.status), Some(0));
}

#[tokio::test]
async fn one_shot_faults_take_precedence_then_expire() {
    let emu = emulator().await;
    emu.fail_next(2, Fault::Status(502));
    emu.fail_next(1, Fault::Unreachable);
    let batch = json!([import_event("once")]).to_string();
    assert_eq!(post_import(&emu, Some(TOKEN), batch.clone()).await.0, 502);
    assert_eq!(post_import(&emu, Some(TOKEN), batch.clone()).await.0, 502);

    let mut conn = TcpStream::connect(emu.addr()).await.expect("connects");
    let reset = raw_request(&mut conn, &raw_import(&batch)).await;
    assert!(reset.is_err(), "one-shot unreachable drops the connection: {reset:?}");

    assert_eq!(post_import(&emu, Some(TOKEN), batch).await.0, 200);
    assert_eq!(emu.received().len(), 1);
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [502, 502, 0, 200]);
}

#[tokio::test]
async fn wait_for_records_times_out_and_clear_resets() {
    let emu = emulator().await;
    assert!(!emu.wait_for_records(1, Duration::from_millis(50)).await);
    assert!(emu.wait_for_records(0, Duration::from_millis(1)).await);
    post_import(&emu, Some(TOKEN), json!([import_event("c")]).to_string()).await;
    assert!(emu.wait_for_records(1, Duration::from_millis(50)).await);
    emu.clear();
    assert!(emu.received().is_empty() && emu.requests().is_empty());
    assert!(!emu.wait_for_records(1, Duration::from_millis(50)).await);
    post_import(&emu, Some(TOKEN), json!([import_event("d")]).to_string()).await;
    assert!(emu.requests()[0].seq > 1, "seq keeps counting after clear");
}

#[tokio::test]
async fn shutdown_closes_the_port_and_connections() {
    let emu = emulator().await;
    let addr = emu.addr();
    let mut kept = TcpStream::connect(addr).await.expect("connects");
    raw_request(&mut kept, &raw_import(&json!([import_event("s")]).to_string()))
        .await
        .expect("request");
    emu.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
    let mut buf = [0u8; 16];
    let read = kept.read(&mut buf).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[test]
fn emulator_can_be_shared_between_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Emulator>();
}

#[test]
fn config_debug_redacts_secrets() {
    let cfg = EmulatorConfig::new(Vendor::Mixpanel, "the-token").with_secret("the-secret");
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("the-token") && !shown.contains("the-secret"), "{shown}");
}

#[test]
fn endpoints_from_paths() {
    assert_eq!(
        crate::protocol::mixpanel::Endpoint::from_path("/track"),
        Some(crate::protocol::mixpanel::Endpoint::Track)
    );
    assert_eq!(
        crate::protocol::mixpanel::Endpoint::from_path("/track/"),
        Some(crate::protocol::mixpanel::Endpoint::Track)
    );
    assert_eq!(
        crate::protocol::mixpanel::Endpoint::from_path("/engage/"),
        Some(crate::protocol::mixpanel::Endpoint::Engage)
    );
    assert_eq!(
        crate::protocol::mixpanel::Endpoint::from_path("/groups"),
        Some(crate::protocol::mixpanel::Endpoint::Groups)
    );
    assert_eq!(
        crate::protocol::mixpanel::Endpoint::from_path("/import"),
        Some(crate::protocol::mixpanel::Endpoint::Import)
    );
    assert_eq!(crate::protocol::mixpanel::Endpoint::from_path("/record/"), None);
    assert_eq!(crate::protocol::mixpanel::Endpoint::from_path("/track//"), None);
}

#[tokio::test]
async fn without_keeping_records_it_only_counts_them() {
    let emu = emulator().await;
    emu.set_keep_records(false);
    let batch = json!([import_event("k1"), import_event("k2")]).to_string();
    assert_eq!(post_import(&emu, Some(TOKEN), batch).await.0, 200);
    assert!(emu.wait_for_records(2, Duration::from_millis(500)).await);
    assert!(emu.received().is_empty() && emu.requests().is_empty());
    emu.set_keep_records(true);
    let batch = json!([import_event("k3")]).to_string();
    assert_eq!(post_import(&emu, Some(TOKEN), batch).await.0, 200);
    assert!(emu.wait_for_records(3, Duration::from_millis(500)).await);
    assert_eq!(emu.received().len(), 1);
}
