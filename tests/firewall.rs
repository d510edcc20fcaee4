//! The data firewall end to end: the labelled dev corpus through the official python SDK,
//! `serve` with the recommended policy, and the vendor emulator. No sensitive value of the
//! corpus may reach the vendor, in any encoding; non-sensitive values arrive unchanged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::support::*;

fn corpus_dir() -> PathBuf {
    repo().join("../shared/eval/pii-dev")
}

fn read_jsonl(path: PathBuf) -> Vec<Value> {
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("corpus line"))
        .collect()
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

/// Categories outside the eval's 11 that the recommended policy changes on purpose:
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
    let events = read_jsonl(corpus_dir().join("events.jsonl"));
    let truth = read_jsonl(corpus_dir().join("truth.jsonl"));
    let vendor = emulator().await;
    let dir = TempDir::new("firewall");
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
    let corpus = corpus_dir().join("events.jsonl");
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
