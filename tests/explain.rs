//! `vendorwall classify --explain`: why a value was or was not reported, from the CLI.

use serde_json::Value;

use crate::support::cli;

fn explain_json(args: &[&str]) -> Value {
    let mut all = vec!["classify", "--explain", "--json"];
    all.extend_from_slice(args);
    let (code, out, err) = cli(&all);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn verdict<'a>(e: &'a Value, detector: &str) -> &'a Value {
    e["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["detector"] == detector)
        .unwrap_or_else(|| panic!("no verdict for {detector}: {e:#}"))
}

fn reasons(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_card_that_fails_luhn_is_explained() {
    let e = explain_json(&["--value", "4111 1111 1111 1112"]);
    assert_eq!(e["findings"].as_array().unwrap().len(), 0);
    let card = verdict(&e, "credit_card");
    assert_eq!(card["fired"], false);
    assert!(
        reasons(card)
            .iter()
            .any(|r| r.contains("16 digits") && r.contains("Luhn failed"))
    );
    assert!(e["no_candidate"].as_array().unwrap().iter().any(|d| d == "jwt"));
}

#[test]
fn a_reported_value_names_its_detector_and_span() {
    let e = explain_json(&["--value", "write to jane [at] example [dot] com", "--key", "comment"]);
    assert_eq!(e["key"], "comment");
    let f = &e["findings"][0];
    assert_eq!(f["category"], "user.contact.email");
    assert_eq!(f["detector"], "obfuscated_email");
    assert_eq!((f["start"].as_u64(), f["end"].as_u64()), (Some(9), Some(36)));
    assert_eq!(verdict(&e, "obfuscated_email")["fired"], true);
}

#[test]
fn key_detectors_say_what_the_key_is() {
    let e = explain_json(&["--value", "ask later", "--key", "phone"]);
    let phone = verdict(&e, "key.phone");
    assert_eq!(phone["fired"], false);
    assert!(
        reasons(phone)
            .iter()
            .any(|r| r.contains("Phone key") && r.contains("does not fit"))
    );
    let e = explain_json(&["--value", "555 0100", "--key", "ticket"]);
    assert!(
        reasons(verdict(&e, "key.phone"))
            .iter()
            .any(|r| r.contains("key `ticket` is class None"))
    );
}

#[test]
fn records_are_explained_leaf_by_leaf_in_text() {
    let record = r#"{"event": "Signup", "properties": {"note": "4111111111111112", "email": "jane@example.com", "spot": "48°51'24\"N 2°21'03\"E"}}"#;
    let (code, out, err) = cli(&["classify", "--explain", "--record", record]);
    assert_eq!(code, 0, "{err}");
    let section = |pointer: &str| -> Vec<&str> {
        out.lines()
            .skip_while(|l| !l.starts_with(pointer))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .collect()
    };
    let note = section("/properties/note");
    assert!(note.iter().any(|l| l.trim() == "findings: none"), "{out}");
    assert!(note.iter().any(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.first() == Some(&"credit_card") && cols.get(1) == Some(&"no") && l.contains("Luhn failed")
    }));
    let spot = section("/properties/spot");
    assert!(
        spot.iter()
            .any(|l| l.contains("finding: user.location.precise by coordinates_dms")),
        "{out}"
    );
    let email = section("/properties/email");
    assert!(
        email
            .iter()
            .any(|l| l.split_whitespace().take(2).eq(["key.email", "fired"])),
        "{out}"
    );
}

#[test]
fn explanations_never_print_the_value() {
    let secret = "Zq8r2LmX0vTn4WcYp7HsKd93-hunter2";
    for args in [
        vec!["classify", "--explain", "--value", secret, "--key", "password"],
        vec!["classify", "--explain", "--json", "--value", secret],
    ] {
        let (code, out, err) = cli(&args);
        assert_eq!(code, 0, "{err}");
        assert!(!out.contains("hunter2") && !err.contains("hunter2"), "{out}");
    }
}

#[test]
fn explain_needs_something_to_explain_and_rejects_bad_records() {
    let (code, _, err) = cli(&["classify", "--explain"]);
    assert_ne!(code, 0);
    assert!(err.contains("--value or --record"), "{err}");
    let (code, _, err) = cli(&["classify", "--explain", "--record", "[1,2]"]);
    assert_ne!(code, 0);
    assert!(err.contains("not a JSON object"), "{err}");
}
