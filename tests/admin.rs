//! The admin plane: its own listener, named and scoped tokens, throttled failed logins, and
//! the audit log of every state change and export (admin API and CLI alike).

use serde_json::{Value, json};

use crate::support::*;

const OPS: &str = "ops-token-for-admin-tests-91b2";
const VIEWER: &str = "viewer-token-for-admin-tests-3c0d";
const RESPONDER: &str = "responder-token-for-admin-tests-e4a7";

fn options() -> Options {
    options_with("")
}

/// `admin_extra`: more keys of the `[admin]` table.
fn options_with(admin_extra: &str) -> Options {
    let tokens = [
        ("ops", OPS, r#""read", "operate", "export""#),
        ("viewer", VIEWER, r#""read""#),
        ("responder", RESPONDER, r#""read", "operate""#),
    ]
    .map(|(name, token, scopes)| {
        format!("[[admin.tokens]]\nname = \"{name}\"\ntoken = \"{token}\"\nscopes = [{scopes}]\n")
    })
    .join("\n");
    Options {
        admin: format!("{ADMIN_LISTEN}\n{admin_extra}\n{tokens}"),
        ..Options::default()
    }
}

async fn call(method: reqwest::Method, url: String, token: Option<&str>, body: Option<Value>) -> (u16, String) {
    let mut req = client().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn audit_entries(cfg: &str) -> Vec<Value> {
    let (code, out, err) = cli(&["audit", "list", "--json", "--config", cfg]);
    assert_eq!(code, 0, "{err}");
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn counter(metrics: &str, name: &str) -> u64 {
    series_value(metrics, name) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_listener_serves_no_admin_api_and_no_metrics() {
    let vendor = emulator().await;
    let dir = TempDir::new("adminapart");
    let server = Server::start(&write_config(dir.path(), &vendor.base_url(), &options()));
    let (public, admin) = (server.base_url.clone(), server.admin().to_owned());
    assert_ne!(public, admin);
    for path in ["/api/v1/incidents", "/api/v1/destinations", "/metrics", "/api/v1/nope"] {
        let (status, _) = call(reqwest::Method::GET, format!("{public}{path}"), Some(OPS), None).await;
        assert_eq!(status, 404, "public {path}");
    }
    for base in [&public, &admin] {
        assert_eq!(
            call(reqwest::Method::GET, format!("{base}/healthz"), None, None)
                .await
                .0,
            200
        );
        assert_eq!(
            call(reqwest::Method::GET, format!("{base}/readyz"), None, None).await.0,
            200
        );
    }
    // Metrics need no token on the admin listener; the API does.
    let (status, metrics) = call(reqwest::Method::GET, format!("{admin}/metrics"), None, None).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("vendorwall_admin_forbidden_total 0"), "{metrics}");
    assert_eq!(
        call(reqwest::Method::GET, format!("{admin}/api/v1/incidents"), None, None)
            .await
            .0,
        401
    );
    assert_eq!(
        call(
            reqwest::Method::GET,
            format!("{admin}/api/v1/incidents"),
            Some(OPS),
            None
        )
        .await
        .0,
        200
    );
    // Unknown admin routes need a token before they say 404.
    assert_eq!(
        call(reqwest::Method::GET, format!("{admin}/api/v1/nope"), None, None)
            .await
            .0,
        401
    );
    assert_eq!(
        call(reqwest::Method::GET, format!("{admin}/api/v1/nope"), Some(VIEWER), None)
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_decide_and_the_audit_log_records_who_did_what() {
    let vendor = emulator().await;
    let dir = TempDir::new("adminscopes");
    let cfg = write_config(dir.path(), &vendor.base_url(), &options());
    let cfg_s = cfg.to_str().unwrap();
    let server = Server::start(&cfg);
    let api = format!("{}/api/v1", server.admin());
    let now = vendorwall::store::now_ms();
    let window = json!({
        "destination": "mixpanel",
        "from": vendorwall::incident::time::format_utc(now - 3_600_000),
        "to": vendorwall::incident::time::format_utc(now + 60_000),
    });
    use reqwest::Method;

    // read: lists, but opens nothing and suspends nothing.
    assert_eq!(
        call(Method::GET, format!("{api}/incidents"), Some(VIEWER), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(Method::GET, format!("{api}/destinations"), Some(VIEWER), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(Method::GET, format!("{api}/ledger/verify"), Some(VIEWER), None)
            .await
            .0,
        200
    );
    let (status, body) = call(
        Method::POST,
        format!("{api}/incidents"),
        Some(VIEWER),
        Some(window.clone()),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"error": "this token lacks the `operate` scope"})
    );
    let suspend = format!("{api}/destinations/mixpanel/suspend");
    assert_eq!(call(Method::POST, suspend.clone(), Some(VIEWER), None).await.0, 403);

    // operate: opens and suspends, but exports nothing.
    let (status, body) = call(Method::POST, format!("{api}/incidents"), Some(RESPONDER), Some(window)).await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_i64().unwrap();
    let export = format!("{api}/incidents/{id}/export/subjects.csv");
    assert_eq!(call(Method::GET, export.clone(), Some(RESPONDER), None).await.0, 403);
    assert_eq!(call(Method::GET, export.clone(), Some(VIEWER), None).await.0, 403);
    let (status, body) = call(Method::POST, suspend, Some(RESPONDER), None).await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"name":"mixpanel","state":"suspended"}"#)
    );
    let (_, list, _) = cli(&["destination", "list", "--config", cfg_s]);
    let row: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("mixpanel"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row[1], "suspended", "{list}");
    assert_eq!(
        call(
            Method::POST,
            format!("{api}/destinations/nope/suspend"),
            Some(RESPONDER),
            None
        )
        .await
        .0,
        404
    );
    let resume = format!("{api}/destinations/mixpanel/resume");
    assert_eq!(call(Method::POST, resume, Some(RESPONDER), None).await.0, 200);

    // export: real identities, only with the scope.
    let (status, csv) = call(Method::GET, export, Some(OPS), None).await;
    assert_eq!(status, 200);
    assert!(csv.lines().next().is_some_and(|h| h.contains(',')), "{csv}");

    // The ledger verify route reports the incident's keyed revisions, and names it once its
    // document is edited behind the gateway's back.
    let verify = || async {
        let (status, body) = call(Method::GET, format!("{api}/ledger/verify"), Some(VIEWER), None).await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let mine = v["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["destination"] == format!("incident {id}"))
            .cloned()
            .unwrap_or_else(|| panic!("{body}"));
        (v["ok"].as_bool().unwrap(), mine)
    };
    let (ok, mine) = verify().await;
    assert!(ok, "{mine}");
    assert!(mine["revisions"].as_u64().unwrap() >= 2, "open and export: {mine}");
    assert_eq!(mine["incident"], json!([]));
    rusqlite::Connection::open(dir.path().join("store/vendorwall.db"))
        .unwrap()
        .execute("UPDATE incidents SET updated_at = updated_at + 1 WHERE id = ?1", [id])
        .unwrap();
    let (ok, mine) = verify().await;
    assert!(!ok);
    assert!(
        mine["incident"][0]
            .as_str()
            .unwrap()
            .contains("update time does not match"),
        "{mine}"
    );

    let metrics = server.metrics().await;
    assert_eq!(counter(&metrics, "vendorwall_admin_forbidden_total"), 4);

    // Every success, by token name, in order; refusals are not audited.
    let entries = audit_entries(cfg_s);
    let got: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            let f = |k: &str| e[k].as_str().unwrap().to_owned();
            (f("actor"), f("action"), f("target"))
        })
        .collect();
    let want = [
        ("responder", "incident.open", id.to_string()),
        ("responder", "destination.suspend", "mixpanel".into()),
        ("responder", "destination.resume", "mixpanel".into()),
        ("ops", "incident.export", format!("{id}/subjects.csv")),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c));
    assert_eq!(got, want);
    for e in &entries {
        let time = e["time"].as_str().unwrap();
        assert!(vendorwall::incident::time::parse_date(time).is_some(), "{time}");
    }
    let raw = std::fs::read_to_string(dir.path().join("store/audit.log")).unwrap();
    for token in [OPS, VIEWER, RESPONDER] {
        assert!(
            !raw.contains(token) && !server.log().contains(token),
            "a token was written down"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("store/audit.log"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_from_one_address_are_throttled() {
    let vendor = emulator().await;
    let dir = TempDir::new("adminthrottle");
    let server = Server::start(&write_config(dir.path(), &vendor.base_url(), &options()));
    let api = format!("{}/api/v1/incidents", server.admin());
    use reqwest::Method;
    // 403s are not failed logins: they never throttle.
    for _ in 0..15 {
        assert_eq!(
            call(Method::POST, api.clone(), Some(VIEWER), Some(json!({}))).await.0,
            403
        );
    }
    for i in 0..10 {
        let (status, _) = call(
            Method::GET,
            api.clone(),
            Some(&format!("wrong-token-{i:02}-padding")),
            None,
        )
        .await;
        assert_eq!(status, 401, "attempt {i}");
    }
    // The eleventh is refused whatever it presents, the right token included.
    let r = client().get(&api).bearer_auth(OPS).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "60");
    assert_eq!(
        call(Method::GET, api.clone(), Some("wrong-again-token-value"), None)
            .await
            .0,
        429
    );
    // Health and metrics are not behind the login.
    let metrics = server.metrics().await;
    assert_eq!(counter(&metrics, "vendorwall_admin_unauthorized_total"), 10);
    assert_eq!(counter(&metrics, "vendorwall_admin_throttled_total"), 2);
    assert_eq!(counter(&metrics, "vendorwall_admin_forbidden_total"), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_actions_are_audited_and_tampering_is_found() {
    let vendor = emulator().await;
    let dir = TempDir::new("adminaudit");
    let cfg = write_config(dir.path(), &vendor.base_url(), &options());
    let cfg_s = cfg.to_str().unwrap();
    // `audit list` reads while `serve` runs.
    let server = Server::start(&cfg);
    for args in [
        &["destination", "suspend", "mixpanel"][..],
        &["destination", "resume", "mixpanel"],
        &["keys", "rotate", "mixpanel"],
        &["outbox", "purge", "--destination", "mixpanel"],
        &["ledger", "prune", "--before", "2020-01-01"],
    ] {
        let mut a = args.to_vec();
        a.extend(["--config", cfg_s]);
        let (code, _, err) = cli(&a);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let entries = audit_entries(cfg_s);
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "destination.suspend",
            "destination.resume",
            "keys.rotate",
            "outbox.purge",
            "ledger.prune"
        ]
    );
    for e in &entries {
        let actor = e["actor"].as_str().unwrap();
        assert!(actor.starts_with("cli:") && actor.len() > 4, "{actor}");
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["seq", "time", "actor", "action", "target"]);
    }
    assert_eq!(entries[0]["target"], "mixpanel");

    let (code, out, _) = cli(&["audit", "verify", "--config", cfg_s]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok (5 entries)"), "{out}");

    // Edit one line's target and leave its MAC: verify names the line and fails.
    let path = dir.path().join("store/audit.log");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"keys.rotate\"", "\"keys.list\"", 1)).unwrap();
    let (code, out, _) = cli(&["audit", "verify", "--config", cfg_s]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("audit.log:3: edited"), "{out}");
    // Remove a line instead: the next one no longer links.
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[2..].join("\n"))).unwrap();
    let (code, out, _) = cli(&["audit", "verify", "--config", cfg_s]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("audit.log:2: a line before it was removed"), "{out}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_speaks_tls_when_configured() {
    let vendor = emulator().await;
    let dir = TempDir::new("admintls");
    let (cert, key) = self_signed_cert(dir.path());
    let extra = format!(
        "tls_cert_path = \"{}\"\ntls_key_path = \"{}\"",
        cert.display(),
        key.display()
    );
    let server = Server::start(&write_config(dir.path(), &vendor.base_url(), &options_with(&extra)));
    assert!(server.admin().starts_with("https://"), "{}", server.admin());
    assert!(server.base_url.starts_with("http://"));
    vendorwall::init_crypto();
    // The test certificate is its own CA, which webpki refuses as a server certificate; the
    // point here is that the admin listener speaks TLS at all.
    let tls_client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let r = tls_client
        .get(format!("{}/api/v1/destinations", server.admin()))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP to the TLS port gets no answer from the API.
    let plain = server.admin().replacen("https://", "http://", 1);
    let r = client()
        .get(format!("{plain}/api/v1/destinations"))
        .bearer_auth(VIEWER)
        .send()
        .await;
    assert!(r.is_err() || r.unwrap().status() != 200);
}
