//! The classifier against the repo's own labelled corpus (`examples/detectgen`): both parts
//! stay above floors measured when the floors were set. A regression guard, not a target:
//! `docs/DETECTION.md` reports the full figures.

#[path = "../examples/detectgen/corpus.rs"]
mod corpus;
#[path = "../examples/detectgen/score.rs"]
mod score;

use corpus::{CARD, CREDENTIALS, PRECISE, Part};

/// Floors for one part: micro-F1, macro-F1, recall on credentials, cards and precise
/// location, and the most clean leaves flagged (a fraction).
struct Floors {
    micro: f64,
    macro_f1: f64,
    credentials: f64,
    cards: f64,
    precise: f64,
    clean_flagged: f64,
}

fn check(part: Part, floors: &Floors) {
    let mut report = score::Report::default();
    for l in corpus::corpus(part, 11, 1500) {
        score::add(&mut report, &l.event, &l.findings, &l.clean);
    }
    let table = report.render();
    eprintln!("{part:?}:\n{table}");
    assert!(
        report.micro().truth > 500,
        "the corpus should exercise the classifier:\n{table}"
    );
    assert!(report.micro().f1() >= floors.micro, "{part:?} micro-F1 fell:\n{table}");
    assert!(report.macro_f1() >= floors.macro_f1, "{part:?} macro-F1 fell:\n{table}");
    assert!(
        report.recall_of(CREDENTIALS) >= floors.credentials,
        "{part:?} credentials:\n{table}"
    );
    assert!(report.recall_of(CARD) >= floors.cards, "{part:?} cards:\n{table}");
    assert!(
        report.recall_of(PRECISE) >= floors.precise,
        "{part:?} precise location:\n{table}"
    );
    assert!(
        report.clean_flagged_rate() <= floors.clean_flagged,
        "{part:?} flags more clean leaves:\n{table}"
    );
}

#[test]
fn tuning_part_stays_above_its_floors() {
    check(
        Part::Tuning,
        &Floors {
            micro: 0.98,
            macro_f1: 0.975,
            credentials: 0.99,
            cards: 0.90,
            precise: 0.99,
            clean_flagged: 0.0025,
        },
    );
}

#[test]
fn heldout_part_stays_above_its_floors() {
    check(
        Part::Heldout,
        &Floors {
            micro: 0.64,
            macro_f1: 0.65,
            credentials: 0.36,
            cards: 0.05,
            precise: 0.50,
            clean_flagged: 0.0045,
        },
    );
}

#[test]
fn the_corpus_is_deterministic_and_the_parts_differ() {
    let a = corpus::corpus(Part::Tuning, 3, 50);
    let b = corpus::corpus(Part::Tuning, 3, 50);
    assert!(
        a.iter()
            .zip(&b)
            .all(|(x, y)| x.event == y.event && x.findings == y.findings)
    );
    let h = corpus::corpus(Part::Heldout, 3, 50);
    let keys = |c: &[corpus::Labelled]| -> std::collections::BTreeSet<String> {
        c.iter()
            .flat_map(|l| {
                l.findings
                    .iter()
                    .map(|(p, _)| p.split('/').nth(2).unwrap_or("").to_owned())
            })
            .collect()
    };
    assert!(
        keys(&a).is_disjoint(&keys(&h)),
        "held-out key vocabulary overlaps tuning's"
    );
}
