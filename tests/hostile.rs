//! Hostile input on the public listener: clients that stall or trickle, connection floods,
//! decompression and element bombs, the `/import` credential; and the store's file modes.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// A gateway with short connection deadlines: header 1 s, request 2 s, idle 1 s.
async fn short_deadlines(tag: &str, extra_server: &str) -> (vendorwall::emulator::Emulator, TempDir, Server) {
    let vendor = emulator().await;
    let dir = TempDir::new(tag);
    let cfg = write_config(
        dir.path(),
        &vendor.base_url(),
        &Options {
            server: format!(
                "header_read_timeout_secs = 1\nrequest_timeout_secs = 2\nidle_timeout_secs = 1\n{extra_server}"
            ),
            ..Options::default()
        },
    );
    let server = Server::start(&cfg);
    (vendor, dir, server)
}

fn addr(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port())
}

/// A metric's value from `/metrics` on the admin listener.
async fn metric(server: &Server, series: &str) -> f64 {
    series_value(&server.metrics().await, series)
}

/// Reads until the peer closes (EOF or reset); returns everything read, or `None` if the
/// connection was still open after `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_at_the_header_deadline() {
    let (_vendor, _dir, server) = short_deadlines("hostile-silent", "").await;
    let started = Instant::now();
    let mut s = TcpStream::connect(addr(&server)).await.unwrap();
    let got = read_until_closed(&mut s, Duration::from_secs(15))
        .await
        .expect("a connection that sends nothing must be closed");
    let waited = started.elapsed();
    assert!(got.is_empty(), "nothing was asked, nothing is answered");
    assert!(
        waited >= Duration::from_millis(900),
        "closed before its deadline: {waited:?}"
    );
    assert_eq!(
        metric(
            &server,
            "vendorwall_server_closed_connections_total{reason=\"header_timeout\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_header_is_cut_off_at_its_deadline_from_accept() {
    let (_vendor, _dir, server) = short_deadlines("hostile-trickle", "").await;
    let started = Instant::now();
    let s = TcpStream::connect(addr(&server)).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    // One header byte every 100 ms: each read makes progress, the whole header never ends
    // (20 s of bytes if nobody stops it).
    let trickle = tokio::spawn(async move {
        let header = format!("POST /track HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n", "a".repeat(200));
        for b in header.bytes() {
            if wr.write_all(&[b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    let waited = started.elapsed();
    assert!(closed.is_ok(), "a trickling client must be closed");
    assert!(
        waited >= Duration::from_millis(900),
        "closed before its deadline: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(8),
        "the deadline runs from accept, not per byte: {waited:?}"
    );
    assert!(trickle.await.unwrap(), "the trickle was cut off before it finished");
    assert_eq!(
        metric(
            &server,
            "vendorwall_server_closed_connections_total{reason=\"header_timeout\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_the_retryable_answer_at_the_request_deadline() {
    let (_vendor, _dir, server) = short_deadlines("hostile-body", "").await;
    let mut s = TcpStream::connect(addr(&server)).await.unwrap();
    let body = format!(
        "data={}",
        form_encode(&b64(&json!([{"event": "e", "properties": {"token": APP_TOKEN}}])))
    );
    s.write_all(
        format!(
            "POST /track HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len() + 10_000
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let (mut rd, mut wr) = s.into_split();
    tokio::spawn(async move {
        for b in body.bytes().cycle().take(10_000) {
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let answered = tokio::time::timeout(Duration::from_secs(15), async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        answered.is_ok(),
        "a trickled body must be answered at the request deadline"
    );
    let text = String::from_utf8_lossy(&got);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    assert_eq!(status, 503, "Mixpanel SDKs retry a 503: {text}");
    assert!(
        text.lines().any(|l| l.to_ascii_lowercase().starts_with("retry-after:")),
        "{text}"
    );
    assert!(started.elapsed() >= Duration::from_millis(1900));
    assert_eq!(
        metric(
            &server,
            "vendorwall_ingest_rejected_requests_total{reason=\"request_timeout\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed() {
    let (_vendor, _dir, server) = short_deadlines("hostile-idle", "").await;
    let mut s = TcpStream::connect(addr(&server)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let started = Instant::now();
    let got = read_until_closed(&mut s, Duration::from_secs(15))
        .await
        .expect("an idle kept-alive connection must be closed");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(
        metric(
            &server,
            "vendorwall_server_closed_connections_total{reason=\"idle_timeout\"}"
        )
        .await,
        1.0
    );
}

async fn track_one(url: &str, i: usize) -> (u16, String) {
    let data = b64(
        &json!({"event": "ok", "properties": {"token": APP_TOKEN, "distinct_id": format!("u{i}"), "$insert_id": format!("ins-{i}")}}),
    );
    let r = client()
        .post(format!("{url}/track"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("data={}&verbose=1", form_encode(&data)))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_answered_promptly_beside_400_stalled_connections() {
    // The default header deadline (10 s): the stalled connections stay open for the test.
    let vendor = emulator().await;
    let dir = TempDir::new("hostile-loris");
    let cfg = write_config(dir.path(), &vendor.base_url(), &Options::default());
    let server = Server::start(&cfg);
    let mut stalled = Vec::new();
    for _ in 0..400 {
        let mut s = TcpStream::connect(addr(&server)).await.unwrap();
        s.write_all(b"POST /track HTTP/1.1\r\nHost: x\r\nContent-Ty")
            .await
            .unwrap();
        stalled.push(s);
    }
    let mut open = 0.0;
    for _ in 0..100 {
        open = metric(&server, "vendorwall_server_open_connections").await;
        if open >= 400.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(open >= 400.0, "the gateway holds the stalled connections: {open}");
    for i in 0..20 {
        let started = Instant::now();
        let (status, body) = track_one(&server.base_url, i).await;
        let took = started.elapsed();
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!((status, &answer["status"]), (200, &json!(1)), "{body}");
        assert!(
            took < Duration::from_secs(2),
            "request {i} took {took:?} beside stalled connections"
        );
    }
    // And the stalled ones are let go at their deadline.
    for mut s in stalled.drain(..10) {
        assert!(read_until_closed(&mut s, Duration::from_secs(30)).await.is_some());
    }
    assert!(eventually(Duration::from_secs(30), || vendor.received().len() >= 20).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_and_counted() {
    let (_vendor, _dir, server) = short_deadlines("hostile-cap", "max_connections = 5").await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(addr(&server)).await.unwrap());
    }
    let mut extra = TcpStream::connect(addr(&server)).await.unwrap();
    let got = read_until_closed(&mut extra, Duration::from_secs(5))
        .await
        .expect("a connection past the cap is closed at once");
    assert!(got.is_empty());
    drop(held);
    // Once the held connections are gone (closed by the client or the deadline), the
    // listener serves again.
    let mut served = false;
    for _ in 0..50 {
        if let Ok(r) = client().get(format!("{}/healthz", server.base_url)).send().await
            && r.status() == 200
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served);
    assert!(
        metric(
            &server,
            "vendorwall_server_closed_connections_total{reason=\"connection_limit\"}"
        )
        .await
            >= 1.0
    );
}

/// Gzip of `parts` written one after another, streamed so the test never holds the
/// expanded text.
fn gzip_stream(parts: impl Iterator<Item = Vec<u8>>, deflate_only: bool) -> Vec<u8> {
    use std::io::Write;
    if deflate_only {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        for p in parts {
            z.write_all(&p).unwrap();
        }
        z.finish().unwrap()
    } else {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        for p in parts {
            z.write_all(&p).unwrap();
        }
        z.finish().unwrap()
    }
}

/// `[0,0,…]`: one array of `n` elements.
fn flat_array(prefix: &str, n: usize, suffix: &str) -> Vec<u8> {
    let chunk = "0,".repeat(10_000).into_bytes();
    let parts = std::iter::once(format!("{prefix}[").into_bytes())
        .chain(std::iter::repeat_n(chunk, n / 10_000))
        .chain(std::iter::once(format!("0]{suffix}").into_bytes()));
    gzip_stream(parts, false)
}

/// `[[0,…],[0,…],…]`: `outer` arrays of 1,000 elements, each within the per-array limit.
fn nested_arrays(prefix: &str, outer: usize, suffix: &str) -> Vec<u8> {
    let inner = format!("[{}0],", "0,".repeat(999)).into_bytes();
    let parts = std::iter::once(format!("{prefix}[").into_bytes())
        .chain(std::iter::repeat_n(inner, outer))
        .chain(std::iter::once(format!("[0]]{suffix}").into_bytes()));
    gzip_stream(parts, false)
}

/// `{"a":0,"a":0,…}`: one object of `n` entries.
fn wide_object(prefix: &str, n: usize, suffix: &str) -> Vec<u8> {
    let chunk = "\"a\":0,".repeat(10_000).into_bytes();
    let parts = std::iter::once(format!("{prefix}{{").into_bytes())
        .chain(std::iter::repeat_n(chunk, n / 10_000))
        .chain(std::iter::once(format!("\"a\":0}}{suffix}").into_bytes()));
    gzip_stream(parts, false)
}

/// The peak resident set of a process, from `/proc/<pid>/status` (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmHWM in /proc/<pid>/status")
}

struct Bomb {
    name: &'static str,
    path: &'static str,
    content_encoding: &'static str,
    basic: Option<&'static str>,
    body: Vec<u8>,
    /// The status and body (as JSON, or plain text) each SDK expects.
    status: u16,
    answer: Option<serde_json::Value>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn element_bombs_are_refused_as_each_sdk_expects_with_memory_bounded() {
    let vendor = emulator().await;
    let dir = TempDir::new("hostile-bomb");
    let cfg = write_config(dir.path(), &vendor.base_url(), &Options::default());
    let server = Server::start(&cfg);
    let before = peak_rss(server.child.id());

    // Each body is ~20 KiB and expands to ~20 MB of JSON: ten million elements.
    let bombs = [
        Bomb {
            name: "mixpanel /track, one flat array",
            path: "/track",
            content_encoding: "gzip",
            basic: None,
            body: flat_array("", 9_900_000, ""),
            status: 200,
            answer: Some(json!(0)),
        },
        Bomb {
            name: "mixpanel /import, nested arrays",
            path: "/import",
            content_encoding: "gzip",
            basic: Some(IMPORT_SECRET),
            body: nested_arrays("", 9_900, ""),
            status: 400,
            answer: None,
        },
        Bomb {
            name: "segment /v1/batch, one wide object",
            path: "/v1/batch",
            content_encoding: "gzip",
            basic: Some("some-write-key"),
            body: wide_object("{\"batch\":[", 3_000_000, "]}"),
            status: 400,
            answer: None,
        },
        Bomb {
            name: "posthog /batch, nested arrays",
            path: "/e/?compression=gzip-js",
            content_encoding: "",
            basic: None,
            body: nested_arrays("{\"api_key\":\"phc_x\",\"batch\":", 9_900, "}"),
            status: 400,
            answer: None,
        },
        Bomb {
            name: "amplitude /2/httpapi, nested arrays",
            path: "/2/httpapi",
            content_encoding: "gzip",
            basic: None,
            body: nested_arrays("{\"api_key\":\"amp\",\"events\":", 9_900, "}"),
            status: 413,
            answer: None,
        },
    ];
    for b in &bombs {
        assert!(b.body.len() < 64 << 10, "{}: {} bytes compressed", b.name, b.body.len());
    }
    // Past the decompressed limit (20 MiB): stopped while inflating.
    let oversize = gzip_stream(std::iter::repeat_n(vec![b' '; 1 << 20], 30), true);

    // Valid requests go on beside the bombs, and all get through.
    let base = server.base_url.clone();
    let valid = tokio::spawn(async move {
        let mut answered = 0;
        for i in 0..30 {
            let (status, body) = track_one(&base, i).await;
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!((status, &answer["status"]), (200, &json!(1)), "{body}");
            answered += 1;
        }
        answered
    });

    let http = client();
    for round in 0..3 {
        for b in &bombs {
            let mut req = http.post(format!("{}{}", server.base_url, b.path)).body(b.body.clone());
            if !b.content_encoding.is_empty() {
                req = req.header("content-encoding", b.content_encoding);
            }
            if b.path != "/track" {
                req = req.header("content-type", "application/json");
            }
            if let Some(user) = b.basic {
                req = req.basic_auth(user, Some(""));
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert_eq!(status, b.status, "{} (round {round}): {text}", b.name);
            if let Some(expected) = &b.answer {
                assert_eq!(
                    &serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                    expected,
                    "{}",
                    b.name
                );
            }
            assert!(!text.contains("0,0"), "an answer never echoes the body");
        }
        let r = http
            .post(format!("{}/track", server.base_url))
            .header("content-encoding", "deflate")
            .header("content-type", "application/json")
            .body(oversize.clone())
            .send()
            .await
            .unwrap();
        assert_eq!((r.status().as_u16(), r.text().await.unwrap().as_str()), (413, "0"));
    }
    assert_eq!(valid.await.unwrap(), 30);
    assert!(eventually(Duration::from_secs(30), || vendor.received().len() >= 30).await);

    let refused = metric(
        &server,
        "vendorwall_ingest_rejected_requests_total{reason=\"too_many_values\"}",
    )
    .await;
    assert_eq!(refused, 15.0, "every bomb is counted");
    let too_large = metric(
        &server,
        "vendorwall_ingest_rejected_requests_total{reason=\"decompressed_too_large\"}",
    )
    .await;
    assert_eq!(too_large, 3.0);
    let peak = peak_rss(server.child.id());
    eprintln!(
        "peak RSS: {} MiB before the bombs, {} MiB after",
        before >> 20,
        peak >> 20
    );
    assert!(peak < 300 << 20, "peak RSS {} MiB", peak >> 20);
}

/// A gateway whose source has no import secret: the config written by the harness, without
/// its `import_secret` line.
fn without_import_secret(cfg: &std::path::Path) {
    let text = std::fs::read_to_string(cfg).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("import_secret"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(cfg, text).unwrap();
}

async fn import_with(base: &str, user: &str, id: &str) -> u16 {
    let body =
        json!([{"event": "Imported", "properties": {"distinct_id": "u-1", "time": 1_763_000_000, "$insert_id": id}}]);
    client()
        .post(format!("{base}/import?strict=1"))
        .basic_auth(user, Some(""))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_takes_only_the_import_secret_when_one_is_set() {
    let vendor = emulator().await;
    let dir = TempDir::new("hostile-import");
    let cfg = write_config(dir.path(), &vendor.base_url(), &Options::default());
    let server = Server::start(&cfg);
    assert_eq!(import_with(&server.base_url, APP_TOKEN, "imp-a").await, 401);
    assert_eq!(import_with(&server.base_url, "not-a-secret", "imp-b").await, 401);
    assert_eq!(import_with(&server.base_url, IMPORT_SECRET, "imp-c").await, 200);
    assert_eq!(
        metric(
            &server,
            "vendorwall_ingest_rejected_requests_total{reason=\"unauthorized\"}"
        )
        .await,
        2.0
    );
    assert!(eventually(Duration::from_secs(30), || vendor.received().len() == 1).await);
    assert_eq!(vendor.received()[0].insert_id(), Some("imp-c"));

    // Without an import secret, the app-side token is the source's only credential.
    let dir = TempDir::new("hostile-import-open");
    let cfg = write_config(dir.path(), &vendor.base_url(), &Options::default());
    without_import_secret(&cfg);
    let server = Server::start(&cfg);
    assert_eq!(import_with(&server.base_url, APP_TOKEN, "imp-d").await, 200);
    assert_eq!(import_with(&server.base_url, IMPORT_SECRET, "imp-e").await, 401);
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every regular file directly in `dir`, with its mode.
fn file_modes(dir: &std::path::Path) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), mode(&e.path())))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_and_exports_are_private_and_loose_modes_are_tightened() {
    let vendor = emulator().await;
    let dir = TempDir::new("hostile-modes");
    let cfg = write_config(dir.path(), &vendor.base_url(), &Options::default());
    let cfg_s = cfg.to_str().unwrap();
    let store = dir.path().join("store");
    let mut server = Server::start(&cfg);
    let (status, _) = track_one(&server.base_url, 1).await;
    assert_eq!(status, 200);
    assert!(eventually(Duration::from_secs(30), || vendor.received().len() == 1).await);

    assert_eq!(mode(&store), 0o700);
    let files = file_modes(&store);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["vendorwall.db", "vendorwall.db-wal", "vendorwall.db-shm", "serve.lock"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    for (name, m) in &files {
        assert_eq!(*m, 0o600, "{name}");
    }

    // An incident export over an earlier, looser one.
    let now = vendorwall::store::now_ms();
    let fmt = vendorwall::incident::time::format_utc;
    let (code, out, err) = cli(&[
        "incident",
        "open",
        "--destination",
        "mixpanel",
        "--from",
        &fmt(now - 86_400_000),
        "--to",
        &fmt(now + 86_400_000),
        "--informed-at",
        &fmt(now - 3_600_000),
        "--title",
        "Modes",
        "--config",
        cfg_s,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let id = out.lines().next().unwrap().trim().to_owned();
    let export = dir.path().join("export");
    std::fs::create_dir_all(&export).unwrap();
    set_mode(&export, 0o777);
    std::fs::write(export.join("subjects.csv"), "stale").unwrap();
    set_mode(&export.join("subjects.csv"), 0o666);
    let (code, out, err) = cli(&[
        "incident",
        "export",
        &id,
        "--out",
        export.to_str().unwrap(),
        "--config",
        cfg_s,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(mode(&export), 0o700);
    let exported = file_modes(&export);
    assert!(exported.len() >= 6, "{exported:?}");
    for (name, m) in &exported {
        assert_eq!(*m, 0o600, "{name}");
    }
    assert_ne!(std::fs::read_to_string(export.join("subjects.csv")).unwrap(), "stale");

    // A store left with loose modes is tightened on the next start, with a warning.
    server.stop();
    set_mode(&store, 0o755);
    set_mode(&store.join("vendorwall.db"), 0o644);
    let server = Server::start(&cfg);
    assert_eq!(mode(&store), 0o700);
    assert_eq!(mode(&store.join("vendorwall.db")), 0o600);
    let log = server.log();
    assert!(log.contains("readable by other users"), "{log}");
    assert!(
        log.contains(store.to_str().unwrap()),
        "the warning names the store path: {log}"
    );
}
