//! Breach-notification deadline clocks: rules as configuration, with defaults.
//!
//! A [`DeadlineRule`] names a duty (`GDPR Art. 33`), who must be told, the fact that starts
//! its clock, and how long the clock runs: `hours`, `days`, `business_days` or `months`, at
//! most one of them; none means "without undue delay" (no due date). A rule can be limited
//! to incidents above a number of affected people (`min_people`) and to incidents that
//! exposed at least one of some categories (`categories`, hierarchical: `user.financial`
//! covers `user.financial.bank_account`). Laws change (the EU Digital Omnibus proposes 96 h
//! for Art. 33), so these are configuration, not code; [`default_rules`] is the starting
//! point. Sources, as published:
//! - GDPR Art. 33 and 34: Regulation (EU) 2016/679, <https://eur-lex.europa.eu/eli/reg/2016/679/oj>;
//! - California Civil Code § 1798.82:
//!   <https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml?lawCode=CIV&sectionNum=1798.82>;
//! - NIS2 Art. 23: Directive (EU) 2022/2555, <https://eur-lex.europa.eu/eli/dir/2022/2555/oj>;
//! - SEC Form 8-K Item 1.05: Release 33-11216, <https://www.sec.gov/files/rules/final/2023/33-11216.pdf>.
//!
//! [`evaluate`] turns rules and an incident's dates ([`Facts`]) into [`Deadline`]s. It takes
//! the facts as resolved by the caller: `aware` falls back to `informed`, then to the time
//! the incident was opened ([`resolve_facts`]).
//!
//! Statuses:
//! - `not_applicable`: below `min_people`, or none of the trigger categories was exposed
//!   (the note says which);
//! - `not_started`: the fact that starts the clock is unknown (e.g. materiality not yet
//!   determined);
//! - `running`: started and not past due (and always, for "without undue delay" rules);
//! - `overdue`: now is after the due time.
//!
//! Arithmetic is UTC; `business_days` are Monday–Friday without a holiday calendar, and
//! `months` are calendar months (see [`super::time`]). Both err early, never late.

use serde::Deserialize;

use super::report::{Deadline, Facts};
use super::time;
use crate::classify::taxonomy::covers;

/// The facts a clock can start from.
pub const CLOCKS: &[&str] = &["aware", "vendor_detected", "informed", "materiality", "users_notified"];

/// One notification duty and its clock.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineRule {
    /// E.g. `GDPR Art. 33`.
    pub name: String,
    /// Who must be told, e.g. `lead supervisory authority`.
    pub recipient: String,
    /// The fact that starts the clock: one of [`CLOCKS`].
    pub clock: String,
    pub hours: Option<u32>,
    pub days: Option<u32>,
    /// Monday–Friday, no holiday calendar.
    pub business_days: Option<u32>,
    /// Calendar months (day clamped to the month's end).
    pub months: Option<u32>,
    /// Applies only when more than this many people are affected.
    pub min_people: Option<u64>,
    /// Applies only when one of these categories, or a descendant of one, was exposed.
    pub categories: Option<Vec<String>>,
    /// Conditions and caveats, shown with the deadline.
    pub note: Option<String>,
}

impl DeadlineRule {
    /// Every problem with this rule at once, joined by `; `. Messages name fields only,
    /// never their values.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push("name must not be empty".to_string());
        }
        if self.recipient.trim().is_empty() {
            errors.push("recipient must not be empty".to_string());
        }
        if !CLOCKS.contains(&self.clock.as_str()) {
            errors.push(format!("clock must be one of {}", CLOCKS.join(", ")));
        }
        let periods = [self.hours, self.days, self.business_days, self.months];
        if periods.iter().filter(|p| p.is_some()).count() > 1 {
            errors.push("set at most one of hours, days, business_days, months".to_string());
        }
        match &self.categories {
            Some(c) if c.is_empty() => errors.push("categories must not be empty when set".to_string()),
            Some(c) if c.iter().any(|k| k.trim().is_empty()) => {
                errors.push("categories must not contain an empty key".to_string())
            }
            _ => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Every problem with a rule list at once: each rule's own, by position (1-based), and
/// duplicate names.
pub fn validate_rules(rules: &[DeadlineRule]) -> Result<(), String> {
    let mut errors = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if let Err(e) = rule.validate() {
            errors.push(format!("deadline rule {}: {e}", i + 1));
        }
        if let Some(j) = rules[..i].iter().position(|r| r.name == rule.name) {
            errors.push(format!("deadline rules {} and {} have the same name", j + 1, i + 1));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The facts with `aware` filled in: as given, else when the vendor informed us, else when
/// the incident was opened (EDPB 9/2022: a controller is in principle aware once its
/// processor has informed it).
pub fn resolve_facts(facts: &Facts, opened_at_ms: i64) -> Facts {
    Facts {
        aware_at_ms: facts.aware_at_ms.or(facts.informed_at_ms).or(Some(opened_at_ms)),
        ..facts.clone()
    }
}

/// California personal information as Civil Code § 1798.82(h) defines it, in categories: the
/// name-plus-identifier and login-plus-password combinations are modelled by their
/// sensitive half alone.
const CALIFORNIA_CATEGORIES: &[&str] = &[
    "user.government_id",
    "user.financial",
    "user.authorization.credentials",
    "user.health_and_medical",
];

const CALIFORNIA_NOTE: &str = "Applies to California residents' personal information: a name with a government \
     id, financial account or medical data, or a login with its password. Modelled as those categories being \
     exposed (a name is not required). vendorwall does not know where people live, so all affected people are \
     counted.";

/// The defaults: GDPR, California, NIS2 and SEC, from the texts cited in the module docs.
pub fn default_rules() -> Vec<DeadlineRule> {
    vec![
        DeadlineRule {
            hours: Some(72),
            note: Some(
                "Where feasible within 72 hours of becoming aware; if later, give the reasons for the delay. Not \
                 required if the breach is unlikely to result in a risk to people. May be sent in phases \
                 (Art. 33(4))."
                    .into(),
            ),
            ..rule("GDPR Art. 33", "lead supervisory authority", "aware")
        },
        DeadlineRule {
            note: Some(
                "Only where the breach is likely to result in a high risk to people. Not \
                 required if the data was made unintelligible to others, e.g. sent only as keyed pseudonyms \
                 (Art. 34(3)(a))."
                    .into(),
            ),
            ..rule("GDPR Art. 34", "data subjects", "aware")
        },
        DeadlineRule {
            days: Some(30),
            categories: Some(strings(CALIFORNIA_CATEGORIES)),
            note: Some(format!(
                "30 calendar days from discovery or notification (SB 446); may be delayed for law enforcement. \
                 {CALIFORNIA_NOTE}"
            )),
            ..rule("California Civ. Code 1798.82", "affected California residents", "aware")
        },
        DeadlineRule {
            days: Some(15),
            min_people: Some(500),
            categories: Some(strings(CALIFORNIA_CATEGORIES)),
            note: Some(format!(
                "A sample copy of the consumer notice, within 15 days of notifying consumers, when more than 500 \
                 California residents are notified. {CALIFORNIA_NOTE}"
            )),
            ..rule(
                "California Civ. Code 1798.82 (Attorney General)",
                "California Attorney General",
                "users_notified",
            )
        },
        DeadlineRule {
            hours: Some(24),
            note: Some(format!(
                "Early warning: {NIS2_SCOPE} Say whether a malicious act is suspected and whether cross-border \
                 impact is possible."
            )),
            ..rule("NIS2 Art. 23 early warning", "CSIRT or competent authority", "aware")
        },
        DeadlineRule {
            hours: Some(72),
            note: Some(format!(
                "Incident notification: {NIS2_SCOPE} Initial assessment of severity and impact, indicators of \
                 compromise."
            )),
            ..rule(
                "NIS2 Art. 23 incident notification",
                "CSIRT or competent authority",
                "aware",
            )
        },
        DeadlineRule {
            months: Some(1),
            note: Some(format!(
                "Final report: {NIS2_SCOPE} The law counts one month from the incident notification, which \
                 vendorwall does not record; it is sent at or after awareness, so counting from awareness gives a \
                 due date up to 72 hours early, never late. If the incident is still ongoing, send a progress \
                 report instead."
            )),
            ..rule("NIS2 Art. 23 final report", "CSIRT or competent authority", "aware")
        },
        DeadlineRule {
            business_days: Some(4),
            note: Some(
                "Only for SEC registrants. Counts from the determination that the incident is material, not from \
                 detection. Business days are Monday to Friday; US federal holidays are not skipped, so the due \
                 date may be early, never late."
                    .into(),
            ),
            ..rule("SEC Form 8-K Item 1.05", "investors (SEC EDGAR filing)", "materiality")
        },
    ]
}

const NIS2_SCOPE: &str = "only for NIS2 essential and important entities, and only for a significant incident.";

fn rule(name: &str, recipient: &str, clock: &str) -> DeadlineRule {
    DeadlineRule {
        name: name.into(),
        recipient: recipient.into(),
        clock: clock.into(),
        hours: None,
        days: None,
        business_days: None,
        months: None,
        min_people: None,
        categories: None,
        note: None,
    }
}

fn strings(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

/// The status of every rule for an incident affecting `people` people and exposing
/// `exposed_categories`, at `now_ms`. One [`Deadline`] per rule, in rule order.
pub fn evaluate(
    rules: &[DeadlineRule],
    facts: &Facts,
    people: u64,
    exposed_categories: &[&str],
    now_ms: i64,
) -> Vec<Deadline> {
    rules
        .iter()
        .map(|rule| evaluate_one(rule, facts, people, exposed_categories, now_ms))
        .collect()
}

fn evaluate_one(rule: &DeadlineRule, facts: &Facts, people: u64, exposed: &[&str], now_ms: i64) -> Deadline {
    let deadline = |starts_at_ms, due_at_ms, status: &str, note: String| Deadline {
        name: rule.name.clone(),
        recipient: rule.recipient.clone(),
        clock: rule.clock.clone(),
        starts_at_ms,
        due_at_ms,
        status: status.into(),
        note,
    };
    let reasons = not_applicable_reasons(rule, people, exposed);
    if !reasons.is_empty() {
        return deadline(None, None, "not_applicable", reasons.join(" "));
    }
    let Some(start) = clock_start(&rule.clock, facts) else {
        return deadline(
            None,
            None,
            "not_started",
            with_note(not_started_reason(&rule.clock), rule),
        );
    };
    let note = with_note(format!("{}.", period(rule)), rule);
    match due_at(rule, start) {
        Some(due) if now_ms > due => deadline(Some(start), Some(due), "overdue", note),
        due => deadline(Some(start), due, "running", note),
    }
}

fn not_applicable_reasons(rule: &DeadlineRule, people: u64, exposed: &[&str]) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(min) = rule.min_people.filter(|&min| people <= min) {
        reasons.push(format!(
            "Applies only above {min} affected people; {people} are affected."
        ));
    }
    if let Some(triggers) = &rule.categories {
        let hit = triggers.iter().any(|t| exposed.iter().any(|k| covers(t, k)));
        if !hit {
            reasons.push(format!(
                "None of its trigger categories was exposed ({}).",
                triggers.join(", ")
            ));
        }
    }
    reasons
}

/// `None` when the clock's fact is unknown (or the clock itself is, in an unvalidated rule).
fn clock_start(clock: &str, facts: &Facts) -> Option<i64> {
    match clock {
        "aware" => facts.aware_at_ms,
        "vendor_detected" => facts.vendor_detected_at_ms,
        "informed" => facts.informed_at_ms,
        "materiality" => facts.materiality_at_ms,
        "users_notified" => facts.users_notified_at_ms,
        _ => None,
    }
}

fn not_started_reason(clock: &str) -> String {
    match clock {
        "aware" => "Starts when we became aware; that date is not recorded.".into(),
        "vendor_detected" => "Starts when the vendor detected the breach; that date is not recorded.".into(),
        "informed" => "Starts when the vendor informed us; that date is not recorded.".into(),
        "materiality" => "Starts when the incident is determined material; no determination is recorded.".into(),
        "users_notified" => "Starts when affected people are notified; they have not been yet.".into(),
        _ => "Its clock is not one vendorwall knows; check the configuration.".into(),
    }
}

fn due_at(rule: &DeadlineRule, start: i64) -> Option<i64> {
    rule.hours
        .map(|n| time::add_hours(start, n))
        .or_else(|| rule.days.map(|n| time::add_days(start, n)))
        .or_else(|| rule.business_days.map(|n| time::add_business_days(start, n)))
        .or_else(|| rule.months.map(|n| time::add_months(start, n)))
}

/// "72 hours from aware", "without undue delay from aware", …
fn period(rule: &DeadlineRule) -> String {
    let count = |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let length = rule
        .hours
        .map(|n| count(n, "hour", "hours"))
        .or_else(|| rule.days.map(|n| count(n, "day", "days")))
        .or_else(|| rule.business_days.map(|n| count(n, "business day", "business days")))
        .or_else(|| rule.months.map(|n| count(n, "month", "months")))
        .unwrap_or_else(|| "Without undue delay".into());
    format!("{length} from {}", rule.clock)
}

fn with_note(text: String, rule: &DeadlineRule) -> String {
    match &rule.note {
        Some(note) => format!("{text} {note}"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::time::{MS_PER_DAY, MS_PER_HOUR, days_from_civil, format_utc};

    fn day(year: i64, month: u32, d: u32) -> i64 {
        days_from_civil(year, month, d) * MS_PER_DAY
    }

    fn find<'a>(deadlines: &'a [Deadline], name: &str) -> &'a Deadline {
        deadlines.iter().find(|d| d.name == name).unwrap()
    }

    fn due(d: &Deadline) -> Option<String> {
        d.due_at_ms.map(format_utc)
    }

    /// The Mixpanel case: informed and aware on 25 November 2025.
    fn mixpanel_facts() -> Facts {
        Facts {
            vendor_detected_at_ms: Some(day(2025, 11, 8)),
            informed_at_ms: Some(day(2025, 11, 25)),
            aware_at_ms: Some(day(2025, 11, 25)),
            materiality_at_ms: None,
            users_notified_at_ms: None,
        }
    }

    const MIXPANEL_CATEGORIES: &[&str] = &["user.contact.email", "user.location.coarse", "user.unique_id"];

    #[test]
    fn defaults_are_valid_and_distinct() {
        let rules = default_rules();
        assert_eq!(rules.len(), 8);
        for r in &rules {
            assert_eq!(r.validate(), Ok(()), "{}", r.name);
            assert!(r.note.as_deref().is_some_and(|n| !n.is_empty()), "{}", r.name);
        }
        assert_eq!(validate_rules(&rules), Ok(()));
    }

    #[test]
    fn gdpr_and_nis2_run_from_awareness() {
        let now = day(2025, 11, 26);
        let d = evaluate(&default_rules(), &mixpanel_facts(), 1200, MIXPANEL_CATEGORIES, now);
        let art33 = find(&d, "GDPR Art. 33");
        assert_eq!(art33.status, "running");
        assert_eq!(
            art33.starts_at_ms.map(format_utc).as_deref(),
            Some("2025-11-25T00:00:00Z")
        );
        assert_eq!(due(art33).as_deref(), Some("2025-11-28T00:00:00Z"));
        assert!(art33.note.starts_with("72 hours from aware."), "{}", art33.note);
        assert_eq!(art33.recipient, "lead supervisory authority");

        let art34 = find(&d, "GDPR Art. 34");
        assert_eq!((art34.status.as_str(), art34.due_at_ms), ("running", None));
        assert!(art34.note.starts_with("Without undue delay from aware."));

        assert_eq!(
            due(find(&d, "NIS2 Art. 23 early warning")).as_deref(),
            Some("2025-11-26T00:00:00Z")
        );
        assert_eq!(
            due(find(&d, "NIS2 Art. 23 incident notification")).as_deref(),
            Some("2025-11-28T00:00:00Z")
        );
        assert_eq!(
            due(find(&d, "NIS2 Art. 23 final report")).as_deref(),
            Some("2025-12-25T00:00:00Z")
        );
    }

    #[test]
    fn overdue_strictly_after_the_due_time() {
        let rules = default_rules();
        let facts = mixpanel_facts();
        let at_due = evaluate(&rules, &facts, 10, &[], day(2025, 11, 28));
        assert_eq!(find(&at_due, "GDPR Art. 33").status, "running");
        let after = evaluate(&rules, &facts, 10, &[], day(2025, 11, 28) + 1);
        assert_eq!(find(&after, "GDPR Art. 33").status, "overdue");
        assert_eq!(find(&after, "NIS2 Art. 23 early warning").status, "overdue");
        assert_eq!(find(&after, "NIS2 Art. 23 final report").status, "running");
        assert_eq!(
            find(&after, "GDPR Art. 34").status,
            "running",
            "no due date, never overdue"
        );
    }

    #[test]
    fn sec_counts_four_business_days_from_materiality() {
        let facts = Facts {
            // Thursday 27 November 2025, 16:00.
            materiality_at_ms: Some(day(2025, 11, 27) + 16 * MS_PER_HOUR),
            ..mixpanel_facts()
        };
        let d = evaluate(&default_rules(), &facts, 1, &[], day(2025, 11, 28));
        let sec = find(&d, "SEC Form 8-K Item 1.05");
        assert_eq!(sec.status, "running");
        assert_eq!(due(sec).as_deref(), Some("2025-12-03T16:00:00Z"), "the next Wednesday");
        assert_eq!(sec.clock, "materiality");
    }

    #[test]
    fn unknown_start_facts_leave_clocks_not_started() {
        let d = evaluate(
            &default_rules(),
            &Facts::default(),
            1200,
            &["user.financial.bank_account"],
            0,
        );
        let sec = find(&d, "SEC Form 8-K Item 1.05");
        assert_eq!(
            (sec.status.as_str(), sec.starts_at_ms, sec.due_at_ms),
            ("not_started", None, None)
        );
        assert!(sec.note.starts_with("Starts when the incident is determined material"));
        assert_eq!(find(&d, "GDPR Art. 33").status, "not_started");
        let ag = find(&d, "California Civ. Code 1798.82 (Attorney General)");
        assert_eq!(ag.status, "not_started");
        assert!(ag.note.contains("have not been yet"));
    }

    #[test]
    fn california_needs_a_trigger_category() {
        let d = evaluate(
            &default_rules(),
            &mixpanel_facts(),
            1200,
            MIXPANEL_CATEGORIES,
            day(2025, 11, 26),
        );
        let ca = find(&d, "California Civ. Code 1798.82");
        assert_eq!(ca.status, "not_applicable");
        assert_eq!(ca.due_at_ms, None);
        assert!(
            ca.note
                .starts_with("None of its trigger categories was exposed (user.government_id,")
        );

        // A descendant of a trigger category counts.
        let exposed = [
            "user.contact.email",
            "user.government_id.national_identification_number",
        ];
        let d = evaluate(&default_rules(), &mixpanel_facts(), 1200, &exposed, day(2025, 11, 26));
        let ca = find(&d, "California Civ. Code 1798.82");
        assert_eq!(ca.status, "running");
        assert_eq!(due(ca).as_deref(), Some("2025-12-25T00:00:00Z"));
        assert!(ca.note.contains("all affected people are counted"));
    }

    #[test]
    fn california_attorney_general_only_above_500_people() {
        let facts = Facts {
            users_notified_at_ms: Some(day(2025, 12, 1)),
            ..mixpanel_facts()
        };
        let exposed = ["user.financial.credit_card"];
        let name = "California Civ. Code 1798.82 (Attorney General)";
        for people in [0, 499, 500] {
            let d = evaluate(&default_rules(), &facts, people, &exposed, day(2025, 12, 2));
            let ag = find(&d, name);
            assert_eq!(ag.status, "not_applicable", "{people}");
            assert_eq!(
                ag.note,
                format!("Applies only above 500 affected people; {people} are affected.")
            );
        }
        let d = evaluate(&default_rules(), &facts, 501, &exposed, day(2025, 12, 2));
        let ag = find(&d, name);
        assert_eq!(ag.status, "running");
        assert_eq!(due(ag).as_deref(), Some("2025-12-16T00:00:00Z"));

        let d = evaluate(&default_rules(), &facts, 120, &["user.contact.email"], day(2025, 12, 2));
        let reasons = &find(&d, name).note;
        assert!(
            reasons.contains("above 500") && reasons.contains("None of its trigger"),
            "both reasons: {reasons}"
        );
    }

    #[test]
    fn resolve_facts_falls_back_to_informed_then_opening() {
        let opened = day(2025, 11, 26);
        let informed = Facts {
            informed_at_ms: Some(day(2025, 11, 25)),
            ..Facts::default()
        };
        assert_eq!(resolve_facts(&informed, opened).aware_at_ms, Some(day(2025, 11, 25)));
        assert_eq!(resolve_facts(&Facts::default(), opened).aware_at_ms, Some(opened));
        let aware = Facts {
            aware_at_ms: Some(day(2025, 11, 27)),
            ..informed.clone()
        };
        assert_eq!(resolve_facts(&aware, opened), aware);
    }

    #[test]
    fn validate_reports_every_problem_without_values() {
        let mut bad = rule(" ", "", "detected-ish");
        bad.hours = Some(1);
        bad.days = Some(2);
        bad.categories = Some(vec![]);
        let err = bad.validate().unwrap_err();
        assert_eq!(
            err,
            "name must not be empty; recipient must not be empty; clock must be one of aware, vendor_detected, \
             informed, materiality, users_notified; set at most one of hours, days, business_days, months; \
             categories must not be empty when set"
        );
        assert!(!err.contains("detected-ish"));

        let mut ok = rule("x", "y", "informed");
        ok.business_days = Some(3);
        assert_eq!(ok.validate(), Ok(()));
        let err = validate_rules(&[ok.clone(), bad, ok]).unwrap_err();
        assert!(err.starts_with("deadline rule 2: name must not be empty;"), "{err}");
        assert!(err.ends_with("deadline rules 1 and 3 have the same name"), "{err}");
    }

    #[test]
    fn rules_deserialize_from_config_and_reject_unknown_fields() {
        let json = r#"{"name": "Contract", "recipient": "customer", "clock": "vendor_detected", "hours": 48,
                       "min_people": 10, "categories": ["user.contact"], "note": "MSA 9.2"}"#;
        let r: DeadlineRule = serde_json::from_str(json).unwrap();
        assert_eq!(r.validate(), Ok(()));
        let d = evaluate(&[r], &mixpanel_facts(), 11, &["user.contact.email"], day(2025, 12, 1));
        assert_eq!(d[0].status, "overdue");
        assert_eq!(due(&d[0]).as_deref(), Some("2025-11-10T00:00:00Z"));
        assert_eq!(d[0].note, "48 hours from vendor_detected. MSA 9.2");

        let unknown = r#"{"name": "a", "recipient": "b", "clock": "aware", "weeks": 2}"#;
        assert!(serde_json::from_str::<DeadlineRule>(unknown).is_err());
    }

    #[test]
    fn extreme_dates_saturate() {
        let late = Facts {
            aware_at_ms: Some(i64::MAX - 1),
            materiality_at_ms: Some(i64::MAX),
            ..Facts::default()
        };
        let d = evaluate(&default_rules(), &late, u64::MAX, &["user.financial"], i64::MIN);
        assert_eq!(find(&d, "GDPR Art. 33").due_at_ms, Some(i64::MAX));
        assert_eq!(find(&d, "NIS2 Art. 23 final report").due_at_ms, Some(i64::MAX));
        assert_eq!(find(&d, "SEC Form 8-K Item 1.05").due_at_ms, Some(i64::MAX));
        assert!(d.iter().all(|d| d.status != "overdue"));
        let early = Facts {
            aware_at_ms: Some(i64::MIN),
            ..Facts::default()
        };
        let d = evaluate(&default_rules(), &early, 0, &[], i64::MAX);
        assert_eq!(find(&d, "GDPR Art. 33").status, "overdue");
    }

    #[test]
    fn unvalidated_unknown_clock_does_not_start() {
        let d = evaluate(&[rule("x", "y", "moon_phase")], &mixpanel_facts(), 1, &[], 0);
        assert_eq!(d[0].status, "not_started");
        assert!(d[0].note.contains("check the configuration"));
    }
}
