//! Incidents end to end: traffic through `serve` with the recommended policy, a breach window
//! declared with the CLI and the admin API, the exports checked against figures worked out
//! by hand; and the store searched byte by byte for the raw values it must not hold.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const ADMIN_TOKEN: &str = "admin-token-for-tests-0d9f";
const READ_TOKEN: &str = "read-only-token-for-tests-77a1";
const OPERATE_TOKEN: &str = "operate-token-for-tests-5c3e";

fn options() -> Options {
    Options {
        policy: "\"recommended\"".into(),
        extra_destination: "vendor_retention_days = 30\n\n[ledger]\nkeep_contact_email = true\n\n[incident]\norganisation = \"Example API Platform\"\ncontact_email = \"privacy@platform.example\"\n"
            .to_owned(),
        admin: format!(
            "{ADMIN_LISTEN}\n{}",
            [
                ("ops", ADMIN_TOKEN, "\"read\", \"operate\", \"export\""),
                ("viewer", READ_TOKEN, "\"read\""),
                ("responder", OPERATE_TOKEN, "\"read\", \"operate\"")
            ]
            .map(|(name, token, scopes)| format!(
                "[[admin.tokens]]\nname = \"{name}\"\ntoken = \"{token}\"\nscopes = [{scopes}]\n"
            ))
            .join("\n")
        ),
        ..Options::default()
    }
}

async fn track(base: &str, events: &[Value]) {
    let body = format!("data={}", form_encode(&b64(&json!(events))));
    let r = client()
        .post(format!("{base}/track"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "1");
}

fn page(distinct_id: &str, extra: Value) -> Value {
    let mut props = json!({
        "token": APP_TOKEN,
        "distinct_id": distinct_id,
        "$os": "Mac OS X",
        "$browser": "Chrome",
        "time": 1_764_000_000_000u64,
    });
    if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            p.insert(k.clone(), v.clone());
        }
    }
    json!({"event": "Page Viewed", "properties": props})
}

/// The scenario, worked out by hand:
///
/// | person | records | what arrives                                        |
/// |--------|---------|-----------------------------------------------------|
/// | alice  | 3       | device, city, URL with her email in the query, email property |
/// | bob    | 2       | device                                              |
/// | carol  | 2       | one as anonymous `dev-carol`, then `$identify` linking it to `user-carol` |
///
/// So: 3 people, 7 records; `user.device` 3 people / 7 records; `user.location.coarse` 1 / 3;
/// `user.unique_id` 3 / 7 and carol's `$device_id` (`user.device.device_id`) 1 / 1, both
/// only as keyed pseudonyms; `user.contact.email` held back (3 records: the
/// query value redacted, the property dropped); 4 ids at the vendor (carol has two).
async fn send_scenario(base: &str) {
    let alice = |n: u32| {
        page(
            "user-alice",
            json!({"$city": "Lisbon", "email": "alice.unique@example.org",
                   "$current_url": format!("https://app.example.com/settings?email=alice.unique%40example.org&step={n}")}),
        )
    };
    track(base, &[alice(1), alice(2), alice(3)]).await;
    track(base, &[page("user-bob", json!({})), page("user-bob", json!({}))]).await;
    track(base, &[page("dev-carol", json!({"$device_id": "dev-carol"}))]).await;
    let identify = json!({"event": "$identify", "properties": {
        "token": APP_TOKEN, "distinct_id": "user-carol", "$anon_distinct_id": "dev-carol",
        "$os": "Mac OS X", "time": 1_764_000_000_000u64}});
    track(base, &[identify]).await;
}

async fn delivered(vendor: &vendorwall::emulator::Emulator, cfg: &Path, n: usize) {
    assert!(
        eventually(Duration::from_secs(20), || vendor.received().len() >= n).await,
        "vendor got {} of {n}",
        vendor.received().len()
    );
    // The ledger is written in the transaction after the vendor's answer.
    let cfg_s = cfg.to_str().unwrap();
    let ok = eventually(Duration::from_secs(10), || {
        cli(&["ledger", "list", "--config", cfg_s]).1.lines().count() >= n
    })
    .await;
    assert!(ok, "ledger incomplete");
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_reports_match_figures_worked_out_by_hand() {
    let vendor = emulator().await;
    let dir = TempDir::new("incident");
    let cfg = write_config(dir.path(), &vendor.base_url(), &options());
    let cfg_s = cfg.to_str().unwrap();
    let server = Server::start(&cfg);
    send_scenario(&server.base_url).await;
    delivered(&vendor, &cfg, 7).await;

    // The breach window covers now; the vendor keeps 30 days, so everything delivered is in.
    let now = vendorwall::store::now_ms();
    let day = 86_400_000;
    let (from, to) = (fmt(now - day), fmt(now + day));
    let (code, out, err) = cli(&[
        "incident",
        "open",
        "--destination",
        "mixpanel",
        "--from",
        &from,
        "--to",
        &to,
        "--informed-at",
        &fmt(now - 3_600_000),
        "--title",
        "Test breach",
        "--config",
        cfg_s,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let id = out.lines().next().unwrap().trim().to_owned();
    assert!(out.contains("3 people, 7 records"), "{out}");

    let export = dir.path().join("export");
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
    let r = read_json(&export.join("report.json"));
    assert_eq!(r["destination"], "mixpanel");
    assert_eq!(
        (r["people"].as_u64(), r["records"].as_u64()),
        (Some(3), Some(7)),
        "{r:#}"
    );
    assert!(r["data_from"].as_str().unwrap().ends_with('Z'));
    assert!(r["data_to"].as_str().unwrap().starts_with(&to[..10]));
    let cats = &r["categories"];
    assert_eq!(
        cats["user.device"],
        json!({"people": 3, "records": 7, "pseudonymised_only": false})
    );
    assert_eq!(
        cats["user.location.coarse"],
        json!({"people": 1, "records": 3, "pseudonymised_only": false})
    );
    assert_eq!(
        cats["user.unique_id"],
        json!({"people": 3, "records": 7, "pseudonymised_only": true})
    );
    // carol's anonymous event carried her $device_id: pseudonymised like every id.
    assert_eq!(
        cats["user.device.device_id"],
        json!({"people": 1, "records": 1, "pseudonymised_only": true})
    );
    assert!(cats.get("user.contact.email").is_none(), "{cats}");
    assert_eq!(r["held_back"]["user.contact.email"], 3, "{r:#}");
    assert_eq!(r["sources"]["web"], json!({"people": 3, "records": 7}));
    assert_eq!(r["vendor_ids"], 4);

    // The notification list: one row per person, linked ids together, Alice's kept email.
    let csv = std::fs::read_to_string(export.join("subjects.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    let alice = rows.iter().find(|l| l.starts_with("user-alice,")).unwrap();
    assert!(
        alice.contains(",3,") && alice.ends_with(",alice.unique@example.org"),
        "{alice}"
    );
    assert!(alice.contains("user.location.coarse"), "{alice}");
    let carol = rows.iter().find(|l| l.contains("carol")).unwrap();
    assert!(
        carol.contains("dev-carol") && carol.contains("user-carol") && carol.contains(",2,"),
        "{carol}"
    );
    let deletion = read_json(&export.join("vendor-deletion-request.json"));
    assert_eq!(deletion["count"], 4);
    // The ids as the vendor knows them: exactly the distinct_ids it received.
    let mut at_vendor: Vec<String> = vendor
        .received()
        .iter()
        .filter_map(|r| r.record["properties"]["distinct_id"].as_str().map(str::to_owned))
        .collect();
    at_vendor.sort();
    at_vendor.dedup();
    let mut listed: Vec<String> = deletion["distinct_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    assert_eq!(listed, at_vendor);
    for f in ["report.md", "regulator-notice.md", "user-notice.md"] {
        let text = std::fs::read_to_string(export.join(f)).unwrap();
        assert!(
            !text.contains("alice.unique@example.org") && !text.contains("user-alice"),
            "{f} holds personal data"
        );
    }

    // A later window: past the 30 days' retention of everything delivered now → nothing.
    let (code, out, err) = cli(&[
        "incident",
        "update",
        &id,
        "--from",
        &fmt(now + 40 * day),
        "--to",
        &fmt(now + 41 * day),
        "--config",
        cfg_s,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("revision 2") && out.contains("0 people, 0 records"),
        "{out}"
    );
    let (_, shown, _) = cli(&["incident", "show", &id, "--json", "--config", cfg_s]);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["revisions"].as_array().unwrap().len(), 2);
    assert_eq!(shown["revisions"][0]["people"], 3, "the earlier revision is kept");

    // Response actions land on the timeline.
    let (code, _, err) = cli(&["incident", "suspend", &id, "--config", cfg_s]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(&["incident", "rotate-key", &id, "--config", cfg_s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("version 2"), "{out}");
    let (_, shown, _) = cli(&["incident", "show", &id, "--json", "--config", cfg_s]);
    let kinds: Vec<String> = serde_json::from_str::<Value>(&shown).unwrap()["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "exported",
            "scope_changed",
            "destination_suspended",
            "key_rotated"
        ]
    );
    let (_, list, _) = cli(&["destination", "list", "--config", cfg_s]);
    assert!(list.contains("suspended"), "{list}");

    // Every write of the incident (open, export, update, suspend, rotate-key) is a revision
    // of the keyed incident chain, which `ledger verify` checks with the ledger.
    let (code, out, err) = cli(&["ledger", "verify", "--config", cfg_s]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("incident {id}: ok (")) && l.ends_with(" revisions)")),
        "{out}"
    );
    // Someone with write access lowers the people count of the incident's first revision.
    let db = dir.path().join("store").join("vendorwall.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let doc: String = conn
            .query_row("SELECT document FROM incidents WHERE id = ?1", [&id], |r| r.get(0))
            .unwrap();
        let edited = doc.replacen("\"people\":3", "\"people\":1", 1);
        assert_ne!(doc, edited);
        conn.execute(
            "UPDATE incidents SET document = ?2 WHERE id = ?1",
            rusqlite::params![&id, edited],
        )
        .unwrap();
    }
    let (code, out, _) = cli(&["ledger", "verify", "--config", cfg_s]);
    assert_eq!(code, 1, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("incident {id}: TAMPERED")))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("document does not match its revision"), "{line}");
    assert!(
        !line.contains("alice") && !line.contains("@"),
        "no values in the report: {line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_needs_a_token_and_opens_incidents() {
    let vendor = emulator().await;
    let dir = TempDir::new("admin");
    let cfg = write_config(dir.path(), &vendor.base_url(), &options());
    let server = Server::start(&cfg);
    send_scenario(&server.base_url).await;
    delivered(&vendor, &cfg, 7).await;
    let api = format!("{}/api/v1", server.admin());
    let c = client();

    for auth in [
        None,
        Some("Bearer wrong-token-value-x1"),
        Some("Basic YWRtaW46YWRtaW4="),
    ] {
        let mut req = c.get(format!("{api}/incidents"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"error": "unauthorized"}));
    }
    let metrics = c
        .get(format!("{}/metrics", server.admin()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("vendorwall_admin_unauthorized_total 3"), "{metrics}");

    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let now = vendorwall::store::now_ms();
    let r = c
        .post(format!("{api}/incidents"))
        .header("authorization", &bearer)
        .body(json!({"destination": "mixpanel", "from": fmt(now - 60_000), "to": fmt(now + 60_000)}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let opened: Value = r.json().await.unwrap();
    assert_eq!(opened["current"]["people"], 3, "{opened}");
    let id = opened["id"].as_i64().unwrap();

    let bad = c
        .post(format!("{api}/incidents"))
        .header("authorization", &bearer)
        .body(r#"{"destination": "nope", "from": "2025-11-09", "to": "2025-11-10"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let bad = c
        .patch(format!("{api}/incidents/{id}"))
        .header("authorization", &bearer)
        .body(r#"{"from": "the ninth"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(!bad.text().await.unwrap().contains("the ninth"));

    let r = c
        .patch(format!("{api}/incidents/{id}"))
        .header("authorization", &bearer)
        .body(json!({"to": fmt(now - 30_000), "from": fmt(now - 60_000), "data_from": fmt(now + 1000), "data_to": fmt(now + 2000)}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(
        (updated["revisions"].as_u64(), updated["current"]["records"].as_u64()),
        (Some(2), Some(0))
    );

    let r = c
        .post(format!("{api}/incidents/{id}/suspend"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csv = c
        .get(format!("{api}/incidents/{id}/export/user-notice.md"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let v = c
        .get(format!("{api}/ledger/verify"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let log = server.log();
    assert!(
        !log.contains(ADMIN_TOKEN) && !log.contains("wrong-token-value"),
        "a token reached the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_holds_no_raw_values() {
    let vendor = emulator().await;
    let dir = TempDir::new("rawvalues");
    let mut o = options();
    // Without the contact-email opt-in: nothing but sealed subject ids may identify anyone.
    o.extra_destination = o
        .extra_destination
        .replace("keep_contact_email = true", "keep_contact_email = false");
    let cfg = write_config(dir.path(), &vendor.base_url(), &o);
    let server = Server::start(&cfg);
    let seed = rand_u64() % 1_000_000;
    // A name must look like one (letters only) to be judged a name: spell the seed in letters.
    let letters: String = format!("{seed:06}")
        .bytes()
        .map(|b| char::from(b'a' + (b - b'0')))
        .collect();
    let values: Vec<String> = vec![
        format!("zelda.q{seed}@example.org"),
        format!("Quentin Xy{letters}"),
        format!("+4420794{:05}", seed % 100_000),
        format!("user-raw-{seed}"),
        format!("dev-raw-{seed}"),
        format!("acct-raw-{seed}"),
        format!("81.2.{}.{}", seed % 200 + 1, seed % 250 + 1),
        format!("tok{seed}secretvalue"),
    ];
    let events: Vec<Value> = (0..20)
        .map(|i| {
            json!({"event": "Key Created", "properties": {
                "token": APP_TOKEN, "distinct_id": values[3], "$device_id": values[4], "$user_id": values[3],
                "email": values[0], "full_name": values[1], "phone": values[2], "org_id": values[5],
                "ip": values[6], "$current_url": format!("https://app.example.com/keys?token={}&n={i}", values[7]),
                "$os": "Linux"}})
        })
        .collect();
    track(&server.base_url, &events).await;
    let profile = json!({"$token": APP_TOKEN, "$distinct_id": values[3],
        "$set": {"$email": values[0], "$name": values[1], "$phone": values[2]}});
    let r = client()
        .post(format!("{}/engage", server.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("data={}", form_encode(&b64(&json!([profile])))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    delivered(&vendor, &cfg, 21).await;
    drop(server);

    let mut files = Vec::new();
    let mut stack = vec![dir.path().join("store")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    assert!(files.iter().any(|f| f.ends_with("vendorwall.db")), "{files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for v in &values {
            let lower = v.to_lowercase();
            for needle in [v.as_str(), lower.as_str()] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{} holds a raw value ({} bytes into the list)",
                    f.display(),
                    values.iter().position(|x| x == v).unwrap()
                );
            }
        }
    }
}

fn fmt(ms: i64) -> String {
    vendorwall::incident::time::format_utc(ms)
}
