//! `vendorwall demo` end to end: the built binary, offline, with `--keep` so its store,
//! both sides of the traffic and the exports can be inspected.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{TempDir, bin};

fn jsonl(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn demo_runs_offline_and_keeps_emails_from_the_vendor() {
    let tmp = TempDir::new("demo");
    let keep = tmp.path().join("kept");
    let started = Instant::now();
    let out = Command::new(bin())
        .arg("demo")
        .arg("--keep")
        .arg(&keep)
        .env("VENDORWALL_LOG", "warn")
        .output()
        .expect("run vendorwall demo");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}\n{stdout}");
    assert!(took < Duration::from_secs(60), "demo took {took:?}");

    // The exposure map: devices as sent, ids only as keyed pseudonyms.
    let map = stdout
        .split("== Exposure map")
        .nth(1)
        .and_then(|s| s.split("== Incident").next())
        .unwrap_or_else(|| panic!("no exposure map in:\n{stdout}"));
    let line = |cat: &str| {
        map.lines()
            .find(|l| l.split_whitespace().next() == Some(cat))
            .unwrap_or_else(|| panic!("{cat} missing from the exposure map:\n{map}"))
    };
    // Columns: category, people, records, how it was sent.
    let people = |cat: &str| line(cat).split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok());
    assert_eq!(people("user.device"), Some(200), "{map}");
    assert!(line("user.unique_id").contains("keyed pseudonym only"), "{map}");
    assert!(line("user.location.coarse").contains("as sent"), "{map}");
    assert!(stdout.contains("incident 1 (revision 1)"), "{stdout}");
    assert!(stdout.contains("200 people"), "{stdout}");

    // Every record the app sent arrived, and no email address went with it.
    let sent = std::fs::read_to_string(keep.join("app-sent.jsonl")).unwrap();
    let received = std::fs::read_to_string(keep.join("vendor-received.jsonl")).unwrap();
    assert_eq!(jsonl(&sent).len(), jsonl(&received).len());
    assert!(jsonl(&sent).len() > 1000);
    let email = regex::Regex::new(r"[a-z0-9.]+@example\.(com|org|net)").unwrap();
    let mut emails: Vec<&str> = email.find_iter(&sent).map(|m| m.as_str()).collect();
    emails.sort_unstable();
    emails.dedup();
    assert!(
        emails.len() >= 200,
        "the sample should hold the people's emails: {}",
        emails.len()
    );
    for e in &emails {
        let encoded: String = form_urlencoded::byte_serialize(e.as_bytes()).collect();
        assert!(
            !received.contains(e) && !received.contains(&encoded),
            "{e} reached the vendor"
        );
    }
    assert!(!received.contains("@example."), "an email address reached the vendor");
    // The same traffic fanned out to Amplitude: every record, no email, and each person under
    // a pseudonym of its own there (the destinations' keys differ).
    let second = std::fs::read_to_string(keep.join("amplitude-received.jsonl")).unwrap();
    assert_eq!(jsonl(&second).len(), jsonl(&sent).len());
    assert!(
        !second.contains("@example."),
        "an email address reached the second vendor"
    );
    let pseudonyms = stdout
        .split("== One person, two vendors")
        .nth(1)
        .and_then(|s| s.split("== Exposure map").next())
        .unwrap_or_else(|| panic!("no per-vendor pseudonyms in:\n{stdout}"));
    let rows: Vec<Vec<&str>> = pseudonyms
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .filter(|r: &Vec<&str>| r.len() == 3)
        .collect();
    assert!(rows.len() >= 2, "{pseudonyms}");
    for r in &rows {
        assert!(r[1].len() == 32 && r[2].len() == 32, "{pseudonyms}");
        assert_ne!(r[1], r[2], "two vendors got the same pseudonym: {pseudonyms}");
        assert!(received.contains(r[1]) && !second.contains(r[1]), "{pseudonyms}");
        assert!(second.contains(r[2]) && !received.contains(r[2]), "{pseudonyms}");
    }

    // Names held back, coarse location kept.
    assert!(sent.contains("\"$name\":\"Ada Quillfeather\""));
    assert!(!received.contains("Quillfeather"));
    assert!(received.contains("\"$city\":\"Lyon\""));

    // The exports.
    let dir = keep.join("incident-1");
    for f in [
        "report.json",
        "report.md",
        "regulator-notice.md",
        "user-notice.md",
        "subjects.csv",
        "vendor-deletion-request.json",
    ] {
        let meta = std::fs::metadata(dir.join(f)).unwrap_or_else(|_| panic!("{f} was not exported"));
        assert!(meta.len() > 0, "{f} is empty");
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["destination"], "mixpanel");
    assert_eq!(report["people"], 200);
    assert!(report["categories"]["user.device"]["people"].as_u64() == Some(200));
    assert_eq!(report["categories"]["user.unique_id"]["pseudonymised_only"], true);
    let subjects = std::fs::read_to_string(dir.join("subjects.csv")).unwrap();
    assert_eq!(subjects.lines().count(), 201, "a header and one row per person");

    // A second run into the same directory is refused rather than double-counting.
    let again = Command::new(bin())
        .arg("demo")
        .arg("--keep")
        .arg(&keep)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
