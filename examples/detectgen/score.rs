//! Per-leaf scoring of the classifier against labels: a unit is (event, pointer, category)
//! for the eleven scored categories; a finding whose category is a descendant of one counts
//! as that one, findings in other categories are ignored.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use vendorwall::classify::{classify_record, taxonomy};
use vendorwall::protocol::mixpanel::roles as mp;

use super::corpus::{CARD, CATEGORIES, CREDENTIALS, PRECISE};

#[derive(Debug, Default, Clone, Copy)]
pub struct Prf {
    pub truth: usize,
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

impl Prf {
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
}

/// An empty denominator scores 1: nothing to find and nothing wrongly found.
fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

#[derive(Debug, Default)]
pub struct Report {
    pub per: BTreeMap<&'static str, Prf>,
    pub clean_total: usize,
    pub clean_flagged: usize,
    pub events: usize,
    /// Clean leaves not pseudonymised by the recommended policy, and how many of them
    /// reached the vendor unchanged.
    pub utility_total: usize,
    pub utility_unchanged: usize,
    /// Sensitive leaves, and how many reached the vendor unchanged under the recommended policy.
    pub sensitive_total: usize,
    pub sensitive_unchanged: usize,
    /// (event index, pointer, category, "FP"/"FN", detector) for diagnostics.
    pub errors: Vec<(usize, String, &'static str, &'static str, &'static str)>,
}

impl Report {
    pub fn micro(&self) -> Prf {
        let mut all = Prf::default();
        for p in self.per.values() {
            all.truth += p.truth;
            all.tp += p.tp;
            all.fp += p.fp;
            all.fn_ += p.fn_;
        }
        all
    }

    pub fn macro_f1(&self) -> f64 {
        let present: Vec<f64> = self
            .per
            .values()
            .filter(|p| p.truth > 0 || p.fp > 0)
            .map(Prf::f1)
            .collect();
        present.iter().sum::<f64>() / present.len().max(1) as f64
    }

    pub fn recall_of(&self, category: &str) -> f64 {
        self.per.get(category).map_or(1.0, Prf::recall)
    }

    pub fn clean_flagged_rate(&self) -> f64 {
        ratio(self.clean_flagged, self.clean_total) * if self.clean_total == 0 { 0.0 } else { 1.0 }
    }

    /// The report as a Markdown table plus summary lines.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::from(
            "| category | truth | TP | FP | FN | precision | recall | F1 |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for c in CATEGORIES {
            let p = self.per.get(c).copied().unwrap_or_default();
            let _ = writeln!(
                s,
                "| `{c}` | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
                p.truth,
                p.tp,
                p.fp,
                p.fn_,
                p.precision(),
                p.recall(),
                p.f1()
            );
        }
        let m = self.micro();
        let _ = writeln!(
            s,
            "\nevents={} micro_f1={:.4} macro_f1={:.4} clean_leaves_flagged={}/{} ({:.4}%) recall: credentials={:.4} cards={:.4} precise_location={:.4}",
            self.events,
            m.f1(),
            self.macro_f1(),
            self.clean_flagged,
            self.clean_total,
            100.0 * self.clean_flagged_rate(),
            self.recall_of(CREDENTIALS),
            self.recall_of(CARD),
            self.recall_of(PRECISE)
        );
        let _ = writeln!(
            s,
            "recommended policy: clean values unchanged={}/{} ({:.4}), sensitive values passed unchanged={}/{}",
            self.utility_unchanged,
            self.utility_total,
            ratio(self.utility_unchanged, self.utility_total),
            self.sensitive_unchanged,
            self.sensitive_total
        );
        s
    }
}

fn scored(category: &str) -> Option<&'static str> {
    CATEGORIES.into_iter().find(|c| taxonomy::covers(c, category))
}

/// Scores one labelled event. `truth` is (pointer, category) for the 11 categories.
pub fn add(report: &mut Report, event: &Value, truth: &[(String, &'static str)], clean: &[String]) {
    let index = report.events;
    report.events += 1;
    let shape = if event.get("$set").is_some() || event.get("$set_once").is_some() {
        mp::PROFILE
    } else {
        mp::EVENT
    };
    let mut predicted: Vec<(String, &'static str, &'static str)> = Vec::new();
    let all = classify_record(event, shape);
    policy_effect(report, event, shape, &all, truth, clean);
    for f in all {
        if let Some(c) = scored(f.category)
            && !predicted.iter().any(|(p, pc, _)| *p == f.pointer && *pc == c)
        {
            predicted.push((f.pointer, c, f.detector));
        }
    }
    let truth_set: HashSet<(&str, &str)> = truth.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    for (p, c) in truth {
        let e = report.per.entry(c).or_default();
        e.truth += 1;
        if predicted.iter().any(|(pp, pc, _)| pp == p && pc == c) {
            e.tp += 1;
        } else {
            e.fn_ += 1;
            report.errors.push((index, p.clone(), c, "FN", ""));
        }
    }
    let mut flagged: HashSet<&str> = HashSet::new();
    for (p, c, det) in &predicted {
        if !truth_set.contains(&(p.as_str(), *c)) {
            report.per.entry(c).or_default().fp += 1;
            report.errors.push((index, p.clone(), c, "FP", det));
            if clean.iter().any(|x| x == p) {
                flagged.insert(p.as_str());
            }
        }
    }
    report.clean_total += clean.len();
    report.clean_flagged += flagged.len();
}

/// Pointers of the event's leaves the recommended policy pseudonymises (identifiers).
pub fn pseudonymised_pointers(event: &Value) -> HashSet<String> {
    let shape = if event.get("$set").is_some() || event.get("$set_once").is_some() {
        mp::PROFILE
    } else {
        mp::EVENT
    };
    classify_record(event, shape)
        .into_iter()
        .filter(|f| f.category == taxonomy::UNIQUE_ID)
        .map(|f| f.pointer)
        .collect()
}

/// What the recommended policy makes of the event: clean values (other than identifiers it
/// pseudonymises) should arrive unchanged, sensitive ones should not.
fn policy_effect(
    report: &mut Report,
    event: &Value,
    shape: vendorwall::classify::Shape,
    findings: &[vendorwall::classify::Finding],
    truth: &[(String, &'static str)],
    clean: &[String],
) {
    use vendorwall::policy::{Context, Policy, Verdict, keys::PseudonymKey};
    let key = PseudonymKey::from_bytes(1, &[7; 32]);
    let ctx = Context {
        source: "corpus",
        event: event["event"].as_str(),
        key: Some(&key),
    };
    let out = match Policy::recommended().apply(event, shape, findings, &ctx) {
        Verdict::Send { record, .. } => record,
        Verdict::Block { .. } => Value::Null,
    };
    for p in clean {
        let pseudonymised = findings
            .iter()
            .any(|f| f.pointer == *p && f.category == taxonomy::UNIQUE_ID);
        if !pseudonymised {
            report.utility_total += 1;
            report.utility_unchanged += usize::from(out.pointer(p) == event.pointer(p));
        }
    }
    for (p, _) in truth {
        report.sensitive_total += 1;
        report.sensitive_unchanged += usize::from(out.pointer(p).is_some() && out.pointer(p) == event.pointer(p));
    }
}

/// Reads labels in the `truth.jsonl` form: `{"findings": [{"pointer", "category"}], "clean": [...]}`.
pub fn labels_of(line: &Value) -> (Vec<(String, &'static str)>, Vec<String>) {
    let findings = line["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["pointer"].as_str()?.to_owned(), scored(f["category"].as_str()?)?)))
        .collect();
    let clean = line["clean"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect();
    (findings, clean)
}
