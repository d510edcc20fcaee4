//! Detectors defined in configuration (`[[classify.detectors]]`): applied by `serve` before
//! the policy, by `classify --config` and by `policy explain`; bad patterns are refused at
//! load with the detector named.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

const DETECTORS: &str = r#"
[[classify.detectors]]
name = "acme_member_id"
category = "user.government_id.national_identification_number"
keys = ["member_?no", "mitgliedsnummer"]
values = ['^AC-\d{8}$']
"#;

fn config_with_detectors(dir: &std::path::Path, vendor_url: &str) -> std::path::PathBuf {
    let cfg = write_config(
        dir,
        vendor_url,
        &Options {
            policy: "\"recommended\"".into(),
            ..Options::default()
        },
    );
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(DETECTORS);
    std::fs::write(&cfg, text).unwrap();
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_detector_makes_serve_redact_its_values() {
    let vendor = emulator().await;
    let dir = TempDir::new("custom-detectors");
    let cfg = config_with_detectors(dir.path(), &vendor.base_url());
    let server = Server::start(&cfg);
    let event = json!({"event": "Joined", "properties": {
        "token": APP_TOKEN,
        "distinct_id": "u1",
        "MemberNo": "AC-12345678",
        "member_no_hint": "AC-1234",
        "plan": "gold"
    }});
    let r = client()
        .post(format!("{}/track", server.base_url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("data={}", form_encode(&b64(&json!([event])))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(vendor.wait_for_records(1, WAIT).await, "nothing delivered");
    let got: Vec<Value> = vendor.received().into_iter().map(|r| r.record).collect();
    let props = &got[0]["properties"];
    assert_ne!(props["MemberNo"], "AC-12345678", "{props}");
    assert!(
        !got[0].to_string().contains("AC-12345678"),
        "the member id reached the vendor: {props}"
    );
    // A value the pattern does not match, and a clean neighbour, pass unchanged.
    assert_eq!(props["member_no_hint"], "AC-1234");
    assert_eq!(props["plan"], "gold");
}

#[test]
fn classify_and_policy_explain_apply_configured_detectors() {
    let dir = TempDir::new("custom-detectors-cli");
    let cfg = config_with_detectors(dir.path(), "http://127.0.0.1:1");
    let input = dir.path().join("events.jsonl");
    std::fs::write(
        &input,
        "{\"event\":\"e\",\"properties\":{\"Mitgliedsnummer\":\"AC-87654321\",\"plan\":\"gold\"}}\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let i = input.to_str().unwrap();

    let (code, out, err) = cli(&["classify", "--input", i, "--config", c]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let row = rows
        .iter()
        .find(|r| r["detector"] == "custom.acme_member_id")
        .unwrap_or_else(|| panic!("no custom finding in {out}"));
    assert_eq!(row["pointer"], "/properties/Mitgliedsnummer");
    assert_eq!(row["category"], "user.government_id.national_identification_number");

    // Without the configuration the built-in classifier alone reports nothing there.
    let (_, out, _) = cli(&["classify", "--input", i]);
    assert!(!out.contains("Mitgliedsnummer"), "{out}");

    let (code, out, err) = cli(&[
        "policy",
        "explain",
        "--destination",
        "mixpanel",
        "--input",
        i,
        "--json",
        "--config",
        c,
    ]);
    assert_eq!(code, 0, "{err}");
    let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let props = &line["vendor_receives"]["properties"];
    assert_ne!(props["Mitgliedsnummer"], "AC-87654321", "{line}");
    assert_eq!(props["plan"], "gold");
}

#[test]
fn check_config_names_the_detector_and_the_bad_pattern() {
    let dir = TempDir::new("custom-detectors-bad");
    let cfg = write_config(dir.path(), "http://127.0.0.1:1", &Options::default());
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        r#"
[[classify.detectors]]
name = "broken"
category = "user.unique_id"
keys = ["member_(no"]

[[classify.detectors]]
name = "nowhere"
category = "user.made_up"
values = ["x"]
"#,
    );
    std::fs::write(&cfg, text).unwrap();
    let (code, _, err) = cli(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("detector `broken`: keys[0] `member_(no` is not a valid pattern"),
        "{err}"
    );
    assert!(
        err.contains("detector `nowhere`: category `user.made_up` is not in the taxonomy"),
        "{err}"
    );
}
