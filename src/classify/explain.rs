//! Why a value was or was not reported: `vendorwall classify --explain`.
//!
//! The detectors write notes to a [`Trace`] at their own decision points (a gate that
//! kept a family from running, a candidate and the check it failed, a finding and what
//! validated it); classification without a trace skips every note at the cost of one
//! untaken branch. This module attaches a trace, runs the ordinary classifier, and
//! arranges the notes per detector.

use std::cell::RefCell;

use serde_json::Value;

use super::detectors::{Basis, DETECTORS, DetectorId};
use super::keys::{KeyClass, classify_key};
use super::scan::{self, Cx, Hit, Trace};
use super::{Finding, Shape};

/// One detector's verdict on one value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    pub detector: &'static str,
    pub fired: bool,
    /// The detector's own notes, in the order it made them, without repeats.
    pub reasons: Vec<String>,
}

/// The explanation of one leaf.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Explanation {
    /// RFC 6901 pointer of the leaf (empty for a lone value).
    pub pointer: String,
    /// The key the value was judged under, if any.
    pub key: Option<String>,
    /// The key's class (`Phone`, `Secret`, `None` …).
    pub key_class: String,
    /// What was reported, as `classify` reports it.
    pub findings: Vec<ExplainedFinding>,
    /// Every detector that took a look at the value, fired or not.
    pub verdicts: Vec<Verdict>,
    /// Detectors that found no candidate at all in the value.
    pub no_candidate: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExplainedFinding {
    pub category: &'static str,
    pub detector: &'static str,
    pub start: Option<usize>,
    pub end: Option<usize>,
}

/// One detector's note: who, whether it fired, why.
type Note = (DetectorId, bool, String);

/// Collects notes per leaf.
#[derive(Default)]
struct Recorder {
    notes: RefCell<Vec<Note>>,
}

impl Trace for Recorder {
    fn note(&self, det: DetectorId, fired: bool, why: std::fmt::Arguments) {
        self.notes.borrow_mut().push((det, fired, why.to_string()));
    }
}

impl Recorder {
    fn take(&self) -> Vec<Note> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }
}

fn arrange(
    pointer: String,
    key: Option<&str>,
    class: KeyClass,
    notes: Vec<Note>,
    findings: Vec<ExplainedFinding>,
) -> Explanation {
    let mut verdicts: Vec<Verdict> = Vec::new();
    for (det, fired, why) in notes {
        let name = det.name();
        match verdicts.iter_mut().find(|v| v.detector == name) {
            Some(v) => {
                v.fired |= fired;
                if !v.reasons.contains(&why) {
                    v.reasons.push(why);
                }
            }
            None => verdicts.push(Verdict {
                detector: name,
                fired,
                reasons: vec![why],
            }),
        }
    }
    // A detector reported through another family's span (a finding made inside a URL or
    // decoded text) is fired even if its notes came from elsewhere.
    for f in &findings {
        match verdicts.iter_mut().find(|v| v.detector == f.detector) {
            Some(v) => v.fired = true,
            None => verdicts.push(Verdict {
                detector: f.detector,
                fired: true,
                reasons: Vec::new(),
            }),
        }
    }
    // Key detectors that did not look: say which key class the value was under.
    let key_text = key.map_or_else(
        || "no key given".to_string(),
        |k| format!("key `{k}` is class {:?}", class.kind),
    );
    for det in DETECTORS.iter().filter(|d| matches!(d.basis, Basis::Key)) {
        if !verdicts.iter().any(|v| v.detector == det.name) {
            verdicts.push(Verdict {
                detector: det.name,
                fired: false,
                reasons: vec![format!("{key_text}, not one this detector reads")],
            });
        }
    }
    let no_candidate = DETECTORS
        .iter()
        .filter(|d| matches!(d.basis, Basis::Value) && !verdicts.iter().any(|v| v.detector == d.name))
        .map(|d| d.name)
        .collect();
    Explanation {
        pointer,
        key: key.map(str::to_string),
        key_class: format!("{:?}", class.kind),
        findings,
        verdicts,
        no_candidate,
    }
}

/// Explains a lone string value, judged under `key` when given (a top-level event property).
pub fn explain_value(value: &str, key: Option<&str>) -> Explanation {
    let recorder = Recorder::default();
    let class = key.map_or(KeyClass::NONE, classify_key);
    let cx = Cx {
        class,
        container: KeyClass::NONE,
        siblings: None,
        people: true,
        depth: 0,
        trace: Some(&recorder),
    };
    let mut hits: Vec<Hit> = Vec::new();
    scan::string_leaf(value, &cx, &mut |h| hits.push(h));
    let mut findings: Vec<ExplainedFinding> = Vec::new();
    for h in hits {
        let f = ExplainedFinding {
            category: h.category,
            detector: h.det.name(),
            start: h.span.map(|s| s.0),
            end: h.span.map(|s| s.1),
        };
        if !findings
            .iter()
            .any(|o| o.category == f.category && o.start == f.start && o.end == f.end)
        {
            findings.push(f);
        }
    }
    arrange(String::new(), key, class, recorder.take(), findings)
}

/// Explains every string and number leaf of a record of `shape`.
pub fn explain_record(record: &Value, shape: Shape) -> Vec<Explanation> {
    let recorder = Recorder::default();
    let mut leaves: Vec<(String, Option<String>, KeyClass, Vec<Note>)> = Vec::new();
    let findings = super::walk_traced(record, shape, &recorder, &mut |pointer, key, class| {
        // Notes so far belong to the previous leaf.
        if let Some(last) = leaves.last_mut() {
            last.3.extend(recorder.take());
        }
        leaves.push((pointer.to_string(), key.map(str::to_string), class, Vec::new()));
    });
    if let Some(last) = leaves.last_mut() {
        last.3.extend(recorder.take());
    }
    leaves
        .into_iter()
        .map(|(pointer, key, class, notes)| {
            let mine: Vec<ExplainedFinding> = findings
                .iter()
                .filter(|f: &&Finding| f.pointer == pointer)
                .map(|f| ExplainedFinding {
                    category: f.category,
                    detector: f.detector,
                    start: f.span.map(|s| s.0),
                    end: f.span.map(|s| s.1),
                })
                .collect();
            arrange(pointer, key.as_deref(), class, notes, mine)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict<'a>(e: &'a Explanation, name: &str) -> &'a Verdict {
        e.verdicts
            .iter()
            .find(|v| v.detector == name)
            .unwrap_or_else(|| panic!("no verdict for {name}: {e:#?}"))
    }

    #[test]
    fn a_card_that_fails_luhn_says_so() {
        let e = explain_value("4111 1111 1111 1112", None);
        assert!(e.findings.is_empty());
        let v = verdict(&e, "credit_card");
        assert!(!v.fired);
        assert!(v.reasons.iter().any(|r| r.contains("Luhn failed")), "{v:?}");
        assert!(e.no_candidate.contains(&"jwt"));
    }

    #[test]
    fn a_valid_card_fires_with_its_issuer() {
        let e = explain_value("4111 1111 1111 1111", None);
        let v = verdict(&e, "credit_card");
        assert!(v.fired);
        assert!(v.reasons.iter().any(|r| r.contains("Visa")), "{v:?}");
        assert_eq!(e.findings.len(), 1);
        assert_eq!((e.findings[0].start, e.findings[0].end), (Some(0), Some(19)));
    }

    #[test]
    fn key_detectors_name_the_key_class() {
        let e = explain_value("ask later", Some("phone"));
        let v = verdict(&e, "key.phone");
        assert!(!v.fired);
        assert!(v.reasons.iter().any(|r| r.contains("Phone key")), "{v:?}");
        let e = explain_value("555 0100", Some("ticket"));
        let v = verdict(&e, "key.phone");
        assert!(
            v.reasons.iter().any(|r| r.contains("key `ticket` is class None")),
            "{v:?}"
        );
    }

    #[test]
    fn email_gates_and_obfuscation() {
        let e = explain_value("hello world", None);
        assert!(verdict(&e, "email").reasons.iter().any(|r| r.contains("no `@`")));
        let e = explain_value("jane [at] example [dot] com", None);
        assert!(verdict(&e, "obfuscated_email").fired);
    }

    #[test]
    fn records_explain_every_leaf() {
        let record =
            serde_json::json!({"event": "e", "properties": {"note": "4111111111111112", "email": "jane@example.com"}});
        let all = explain_record(&record, crate::protocol::mixpanel::roles::EVENT);
        let note = all.iter().find(|e| e.pointer == "/properties/note").unwrap();
        assert!(note.findings.is_empty());
        assert!(verdict(note, "credit_card").reasons.iter().any(|r| r.contains("Luhn")));
        let email = all.iter().find(|e| e.pointer == "/properties/email").unwrap();
        assert!(email.findings.iter().any(|f| f.category == "user.contact.email"));
        assert!(verdict(email, "key.email").fired);
    }

    #[test]
    fn explanations_never_hold_the_value() {
        let secret = "hunter2-very-secret-Zq8r2LmX0vTn4WcYp7Hs";
        for e in [explain_value(secret, Some("password")), explain_value(secret, None)] {
            let text = serde_json::to_string(&e).unwrap();
            assert!(!text.contains("hunter2"), "{text}");
        }
    }
}
