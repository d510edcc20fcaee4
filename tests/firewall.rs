//! The data firewall end to end: a labelled corpus, generated here from a fixed seed,
//! through the official python SDK, `serve` with the recommended policy, and the vendor
//! emulator. No sensitive value of the corpus may reach the vendor, in any encoding;
//! non-sensitive values arrive unchanged.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::*;

/// A deterministic generator (splitmix64): the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A Visa-range card number with a valid Luhn check digit, grouped in fours.
fn card(rng: &mut Rng) -> String {
    let mut digits: Vec<u32> = vec![4];
    digits.extend((0..14).map(|_| (rng.next() % 10) as u32));
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                (d * 2) % 9 + if d == 9 { 9 } else { 0 }
            } else {
                d
            }
        })
        .sum();
    digits.push((10 - sum % 10) % 10);
    let text: String = digits.iter().map(|d| char::from(b'0' + *d as u8)).collect();
    format!("{} {} {} {}", &text[0..4], &text[4..8], &text[8..12], &text[12..16])
}

/// The corpus: Mixpanel-shaped events (as the python SDK sends them) and, per event, its
/// labels — the sensitive leaves (pointer, category, value) and the clean leaves' pointers.
fn corpus() -> (Vec<Value>, Vec<Value>) {
    const FIRST: [&str; 8] = ["Ada", "Basil", "Clara", "Dmitri", "Esther", "Farid", "Greta", "Hiro"];
    const LAST: [&str; 8] = [
        "Quillfeather",
        "Thistlewood",
        "Marbleton",
        "Ashcombe",
        "Fairweather",
        "Holloway",
        "Lindqvist",
        "Okonkwo",
    ];
    const IBANS: [&str; 3] = [
        "GB82WEST12345698765432",
        "DE89370400440532013000",
        "FR1420041010050500013M02606",
    ];
    const EVENTS: [&str; 4] = [
        "Signup Completed",
        "Checkout Started",
        "Profile Updated",
        "Report Exported",
    ];
    let mut rng = Rng(0x6669_7265_7761_6c6c);
    let mut events = Vec::new();
    let mut truth = Vec::new();
    for line in 1..=700usize {
        let (first, last) = (rng.pick(&FIRST), rng.pick(&LAST));
        let email = format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), line);
        let phone = format!("+44 20 7946 {:04}", rng.below(1000));
        let ip = format!("81.2.{}.{}", 1 + rng.below(250), 1 + rng.below(250));
        let password = format!("Tr0ub4dor&{}x{}", rng.next() % 100_000, rng.next() % 1000);
        let sensitive: Vec<(&str, &str, Value)> = vec![
            ("email", "user.contact.email", Value::from(email.clone())),
            ("phone_number", "user.contact.phone_number", Value::from(phone)),
            ("card_number", "user.financial.credit_card", Value::from(card(&mut rng))),
            ("iban", "user.financial.bank_account", Value::from(rng.pick(&IBANS))),
            ("full_name", "user.name", Value::from(format!("{first} {last}"))),
            ("password", "user.authorization.credentials", Value::from(password)),
            ("ip", "user.device.ip_address", Value::from(ip)),
        ];
        let mut props = serde_json::Map::new();
        props.insert("distinct_id".into(), Value::from(format!("user-{line:05}")));
        props.insert("time".into(), Value::from(1_765_000_000 + line as i64));
        props.insert("$insert_id".into(), Value::from(format!("fw-{line:06}")));
        let clean: Vec<(&str, Value)> = vec![
            ("$os", Value::from(rng.pick(&["Mac OS X", "Windows", "Linux"]))),
            ("$browser", Value::from(rng.pick(&["Chrome", "Firefox", "Safari"]))),
            ("$city", Value::from(rng.pick(&["Lyon", "Leeds", "Osaka"]))),
            ("plan", Value::from(rng.pick(&["free", "pro", "team"]))),
            (
                "button_text",
                Value::from(rng.pick(&["Export CSV", "Continue", "Save changes"])),
            ),
            ("price", Value::from(9.99 + rng.below(50) as f64)),
            ("currency", Value::from("EUR")),
            ("items", Value::from(1 + rng.below(5))),
        ];
        // Up to three of the seven sensitive fields per event, and every clean one.
        let mut findings = Vec::new();
        for _ in 0..3 {
            let (key, category, value) = &sensitive[rng.below(sensitive.len())];
            if props.contains_key(*key) {
                continue;
            }
            props.insert((*key).into(), value.clone());
            findings.push(json!({"pointer": format!("/properties/{key}"), "category": category, "value": value}));
        }
        // The email inside a page URL's query, as apps leak it.
        let url = format!(
            "https://app.example.com/welcome?email={}&utm_source=newsletter",
            form_urlencoded::byte_serialize(email.as_bytes()).collect::<String>()
        );
        props.insert("$current_url".into(), Value::from(url));
        findings.push(json!({"pointer": "/properties/$current_url", "category": "user.contact.email", "value": email}));
        let mut clean_pointers = vec![
            "/event".to_owned(),
            "/properties/distinct_id".to_owned(),
            "/properties/time".to_owned(),
            "/properties/$insert_id".to_owned(),
            "/properties/$current_url".to_owned(),
        ];
        for (key, value) in clean {
            props.insert(key.into(), value);
            clean_pointers.push(format!("/properties/{key}"));
        }
        events.push(json!({"event": rng.pick(&EVENTS), "properties": props}));
        truth.push(json!({"line": line, "findings": findings, "clean": clean_pointers}));
    }
    (events, truth)
}

/// Every form a leaked value could take on the wire.
fn surfaces(v: &str) -> Vec<String> {
    let pct: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(v);
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let mut out = vec![
        v.to_owned(),
        v.to_lowercase(),
        pct,
        b64.trim_end_matches('=').to_owned(),
        b64url,
    ];
    out.retain(|s| s.len() >= 4);
    out
}

/// Categories the corpus labels clean that the recommended policy changes on purpose:
/// identifiers and account ids (pseudonymised), page URLs and query strings (values
/// scrubbed), postal addresses (redacted).
const CHANGED_BY_DESIGN: [&str; 3] = [
    "user.unique_id",
    "user.behavior.browsing_history",
    "user.contact.address",
];

/// Clean leaves (by the corpus' labels) that vendorwall's classifier puts in one of
/// [`CHANGED_BY_DESIGN`].
fn changed_by_design(event: &Value) -> Vec<String> {
    vendorwall::classify::classify_record(event, vendorwall::protocol::mixpanel::roles::EVENT)
        .into_iter()
        .filter(|f| {
            CHANGED_BY_DESIGN
                .iter()
                .any(|c| vendorwall::classify::taxonomy::covers(c, f.category))
        })
        .map(|f| f.pointer)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_sensitive_corpus_value_reaches_the_vendor() {
    let (events, truth) = corpus();
    let vendor = emulator().await;
    let dir = TempDir::new("firewall");
    let corpus = dir.path().join("events.jsonl");
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    std::fs::write(&corpus, lines.join("\n") + "\n").unwrap();
    let (cert, key) = self_signed_cert(dir.path());
    let cfg = write_config(
        dir.path(),
        &vendor.base_url(),
        &Options {
            tls: Some((cert.clone(), key)),
            policy: "\"recommended\"".into(),
            ..Options::default()
        },
    );
    let server = Server::start(&cfg);

    let port = server.port();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(repo().join("tests/sdk/corpus_python.py"))
            .env("VW_TOKEN", APP_TOKEN)
            .env("VW_API_HOST", format!("127.0.0.1:{port}"))
            .env("VW_CORPUS", corpus)
            .env("REQUESTS_CA_BUNDLE", cert)
            .output()
            .expect("run corpus_python.py")
    })
    .await
    .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        report["sdk_errors"],
        serde_json::json!([]),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["sent"], events.len());
    assert!(
        vendor.wait_for_records(events.len(), Duration::from_secs(60)).await,
        "got {}",
        vendor.received().len()
    );

    // One vendor record per corpus event, found by its $insert_id (kept byte for byte).
    let received = vendor.received();
    assert_eq!(received.len(), events.len());
    let by_insert_id: HashMap<&str, &Value> = received
        .iter()
        .filter_map(|r| Some((r.insert_id()?, &r.record)))
        .collect();

    let mut leaks = Vec::new();
    let mut checked_sensitive = 0;
    let mut clean_total = 0;
    let mut by_design = 0;
    let mut clean_changed = Vec::new();
    for (event, labels) in events.iter().zip(&truth) {
        let id = event["properties"]["$insert_id"]
            .as_str()
            .expect("corpus events have $insert_id");
        let sent = by_insert_id
            .get(id)
            .unwrap_or_else(|| panic!("event {id} never arrived"));
        let wire = sent.to_string();
        for f in labels["findings"].as_array().into_iter().flatten() {
            for v in [&f["value"], &f["decoded"]] {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                checked_sensitive += 1;
                for s in surfaces(&text) {
                    if wire.contains(&s) {
                        leaks.push(format!(
                            "line {} {} {} leaked as {s:?}",
                            labels["line"], f["pointer"], f["category"]
                        ));
                    }
                }
            }
        }
        let designed = changed_by_design(event);
        for p in labels["clean"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if designed.iter().any(|d| d == p) {
                by_design += 1;
                continue;
            }
            clean_total += 1;
            if sent.pointer(p) != event.pointer(p) {
                clean_changed.push(format!(
                    "line {} {p}: {} -> {}",
                    labels["line"],
                    event.pointer(p).unwrap_or(&Value::Null),
                    sent.pointer(p).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    assert!(
        checked_sensitive > 2000,
        "the corpus should exercise the firewall: {checked_sensitive}"
    );
    assert!(
        leaks.is_empty(),
        "{} sensitive values reached the vendor:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    // Every other non-sensitive value arrives unchanged.
    eprintln!(
        "clean leaves: {clean_total} checked unchanged, {by_design} pseudonymised, scrubbed or redacted by design"
    );
    assert!(
        clean_changed.is_empty(),
        "{} of {clean_total} clean values changed:\n{}",
        clean_changed.len(),
        clean_changed.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
    // Identifiers reach the vendor only as pseudonyms.
    for (event, r) in events.iter().zip(
        events
            .iter()
            .map(|e| by_insert_id[e["properties"]["$insert_id"].as_str().unwrap_or("")]),
    ) {
        if let Some(d) = event["properties"]["distinct_id"].as_str().filter(|d| !d.is_empty()) {
            assert_ne!(r["properties"]["distinct_id"].as_str(), Some(d));
            assert_eq!(r["properties"]["distinct_id"].as_str().map(str::len), Some(32));
        }
    }
}
