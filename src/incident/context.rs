//! What a notice template sees: a revision's figures as the [`Context`] of
//! `docs/NOTICES.md`, ready to print, and the plain-language labels of category keys.

use serde::Serialize;

use super::report::{CategoryExposure, Deadline, Facts, Organisation, Report, SourceExposure, TimelineEntry};
use super::time::{MS_PER_DAY, MS_PER_HOUR, days_from_civil};

/// The plain-language label of a Fideslang category key, or the key itself when unknown.
pub fn category_label(key: &str) -> &str {
    match key {
        "user.name" => "name",
        "user.contact" => "contact details",
        "user.contact.email" => "email address",
        "user.contact.phone_number" => "phone number",
        "user.contact.address" => "postal address",
        "user.contact.address.street" => "street address",
        "user.contact.address.city" => "city",
        "user.contact.address.state" => "state or region",
        "user.contact.address.country" => "country",
        "user.contact.address.postal_code" => "postal code",
        "user.location" => "location",
        "user.location.coarse" | "user.location.imprecise" => "approximate location (city, region, country)",
        "user.location.precise" => "precise location (such as GPS coordinates)",
        "user.device" => "device and browser information",
        "user.device.ip_address" => "IP address",
        "user.device.device_id" => "device identifier",
        "user.behavior" => "how you used our service",
        "user.behavior.browsing_history" => "pages visited and referring websites",
        "user.unique_id" | "user.account" => "account and user identifiers",
        "user.account.username" => "username",
        "user.authorization" => "login and access information",
        "user.authorization.credentials" => "passwords, access tokens or keys",
        "user.financial" => "financial information",
        "user.financial.credit_card" => "payment card number",
        "user.financial.bank_account" => "bank account number",
        "user.financial.crypto_wallet" => "cryptocurrency wallet address",
        "user.government_id" => "government-issued identification number",
        "user.government_id.national_identification_number" => {
            "national identification number (such as a Social Security number)"
        }
        "user.government_id.passport_number" => "passport number",
        "user.government_id.drivers_license_number" => "driver's license number",
        "user.demographic" => "demographic information",
        "user.demographic.date_of_birth" => "date of birth",
        "user.demographic.gender" => "gender",
        "user.demographic.age_range" => "age or age range",
        "user.health_and_medical" => "health or medical information",
        "user.content.self_image" => "profile picture",
        _ => key,
    }
}

/// What a template sees: the revision's figures, ready to print. Dates are UTC
/// milliseconds since the epoch (print them through `utc`, `date` or `datetime`); optional
/// values are none when unknown. `docs/NOTICES.md` documents every variable.
#[derive(Serialize)]
pub struct Context<'a> {
    incident_id: &'a str,
    revision: u32,
    /// The incident's title, or `Incident <id>` when it has none.
    title: String,
    destination: &'a str,
    /// The vendor as notices name it (its display name, else the destination's name).
    vendor: &'a str,
    generated_at: i64,
    breach_from: i64,
    breach_to: i64,
    data_from: i64,
    data_to: i64,
    data_range_basis: &'a str,
    vendor_retention_days: Option<u32>,
    people: u64,
    records: u64,
    vendor_ids: u64,
    first_exposure: Option<i64>,
    last_exposure: Option<i64>,
    facts: FactsContext,
    opened_at: Option<i64>,
    /// When we became aware: as recorded, else when the vendor informed us, else when the
    /// incident was opened (the deadline clocks' fallback).
    aware_at: Option<i64>,
    /// Whole hours from `aware_at` to `generated_at`.
    hours_since_aware: Option<i64>,
    /// Whole days from the vendor's detection to its telling us.
    vendor_informed_after_days: Option<i64>,
    categories: Vec<CategoryContext<'a>>,
    /// The labels of the categories sent, each once, in key order; pseudonymised only when
    /// every key with that label was.
    sent: Vec<SentContext<'a>>,
    /// Every category key sent and each of its ancestors (`user.financial` for
    /// `user.financial.crypto_wallet`).
    exposed: Vec<&'a str>,
    /// The same for the categories sent in clear at least once.
    exposed_in_clear: Vec<&'a str>,
    fields: Vec<FieldContext<'a>>,
    sources: Vec<SourceContext<'a>>,
    held_back: Vec<HeldBackContext<'a>>,
    deadlines: Vec<DeadlineContext<'a>>,
    timeline: Vec<EntryContext<'a>>,
    /// The timeline's containment actions: `destination_suspended`, `key_rotated`,
    /// `deletion_requested`.
    measures: Vec<EntryContext<'a>>,
    organisation: OrganisationContext<'a>,
    /// `email, phone`, or whichever of the two is configured.
    contact: Option<String>,
}

#[derive(Serialize)]
struct FactsContext {
    vendor_detected_at: Option<i64>,
    informed_at: Option<i64>,
    aware_at: Option<i64>,
    materiality_at: Option<i64>,
    users_notified_at: Option<i64>,
}

#[derive(Serialize)]
struct CategoryContext<'a> {
    key: &'a str,
    label: &'a str,
    people: u64,
    records: u64,
    pseudonymised_only: bool,
}

#[derive(Serialize)]
struct SentContext<'a> {
    label: &'a str,
    pseudonymised_only: bool,
}

#[derive(Serialize)]
struct FieldContext<'a> {
    pointer: &'a str,
    records: u64,
}

#[derive(Serialize)]
struct SourceContext<'a> {
    name: &'a str,
    people: u64,
    records: u64,
}

#[derive(Serialize)]
struct HeldBackContext<'a> {
    key: &'a str,
    label: &'a str,
    records: u64,
}

#[derive(Serialize)]
struct DeadlineContext<'a> {
    name: &'a str,
    recipient: &'a str,
    clock: &'a str,
    starts_at: Option<i64>,
    due_at: Option<i64>,
    status: &'a str,
    note: &'a str,
}

#[derive(Serialize)]
struct EntryContext<'a> {
    at: i64,
    kind: &'a str,
    detail: &'a str,
}

/// Organisation details from `[incident]`, trimmed; none when blank.
#[derive(Serialize)]
struct OrganisationContext<'a> {
    name: Option<&'a str>,
    contact_email: Option<&'a str>,
    contact_phone: Option<&'a str>,
    dpo_name: Option<&'a str>,
    dpo_email: Option<&'a str>,
    lead_authority: Option<&'a str>,
    website: Option<&'a str>,
}

const MEASURES: [&str; 3] = ["destination_suspended", "key_rotated", "deletion_requested"];

impl<'a> Context<'a> {
    pub fn of(r: &'a Report) -> Context<'a> {
        let f = &r.facts;
        let opened_at = r.timeline.iter().find(|e| e.kind == "opened").map(|e| e.at_ms);
        let aware_at = f.aware_at_ms.or(f.informed_at_ms).or(opened_at);
        let whole = |from: i64, to: i64, unit: i64| ((i128::from(to) - i128::from(from)) / i128::from(unit)) as i64;
        let entry = |e: &'a TimelineEntry| EntryContext {
            at: e.at_ms,
            kind: &e.kind,
            detail: &e.detail,
        };
        let org = &r.organisation;
        let contact = match (present(&org.contact_email), present(&org.contact_phone)) {
            (Some(email), Some(phone)) => Some(format!("{email}, {phone}")),
            (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
            (None, None) => None,
        };
        Context {
            incident_id: &r.incident_id,
            revision: r.revision,
            title: match r.title.trim() {
                "" => format!("Incident {}", r.incident_id),
                t => t.to_owned(),
            },
            destination: &r.destination,
            vendor: if r.vendor.is_empty() { &r.destination } else { &r.vendor },
            generated_at: r.generated_at_ms,
            breach_from: r.breach_from_ms,
            breach_to: r.breach_to_ms,
            data_from: r.data_from_ms,
            data_to: r.data_to_ms,
            data_range_basis: &r.data_range_basis,
            vendor_retention_days: r.vendor_retention_days,
            people: r.people,
            records: r.records,
            vendor_ids: r.vendor_ids,
            first_exposure: r.first_exposure_ms,
            last_exposure: r.last_exposure_ms,
            facts: FactsContext {
                vendor_detected_at: f.vendor_detected_at_ms,
                informed_at: f.informed_at_ms,
                aware_at: f.aware_at_ms,
                materiality_at: f.materiality_at_ms,
                users_notified_at: f.users_notified_at_ms,
            },
            opened_at,
            aware_at,
            hours_since_aware: aware_at.map(|aware| whole(aware, r.generated_at_ms, MS_PER_HOUR)),
            vendor_informed_after_days: f
                .vendor_detected_at_ms
                .zip(f.informed_at_ms)
                .map(|(detected, informed)| whole(detected, informed, MS_PER_DAY)),
            categories: r
                .categories
                .iter()
                .map(|(key, c)| CategoryContext {
                    key,
                    label: category_label(key),
                    people: c.people,
                    records: c.records,
                    pseudonymised_only: c.pseudonymised_only,
                })
                .collect(),
            sent: sent(r),
            exposed: ancestors(r.categories.keys()),
            exposed_in_clear: ancestors(
                r.categories
                    .iter()
                    .filter(|(_, c)| !c.pseudonymised_only)
                    .map(|(k, _)| k),
            ),
            fields: r
                .fields
                .iter()
                .map(|(pointer, &records)| FieldContext { pointer, records })
                .collect(),
            sources: r
                .sources
                .iter()
                .map(|(name, s)| SourceContext {
                    name,
                    people: s.people,
                    records: s.records,
                })
                .collect(),
            held_back: r
                .held_back
                .iter()
                .map(|(key, &records)| HeldBackContext {
                    key,
                    label: category_label(key),
                    records,
                })
                .collect(),
            deadlines: r.deadlines.iter().map(deadline).collect(),
            timeline: r.timeline.iter().map(entry).collect(),
            measures: r
                .timeline
                .iter()
                .filter(|e| MEASURES.contains(&e.kind.as_str()))
                .map(entry)
                .collect(),
            organisation: OrganisationContext {
                name: present(&org.name),
                contact_email: present(&org.contact_email),
                contact_phone: present(&org.contact_phone),
                dpo_name: present(&org.dpo_name),
                dpo_email: present(&org.dpo_email),
                lead_authority: present(&org.lead_authority),
                website: present(&org.website),
            },
            contact,
        }
    }
}

fn deadline(d: &Deadline) -> DeadlineContext<'_> {
    DeadlineContext {
        name: &d.name,
        recipient: &d.recipient,
        clock: &d.clock,
        starts_at: d.starts_at_ms,
        due_at: d.due_at_ms,
        status: &d.status,
        note: &d.note,
    }
}

fn sent(r: &Report) -> Vec<SentContext<'_>> {
    let mut sent: Vec<SentContext<'_>> = Vec::new();
    for (key, c) in &r.categories {
        let label = category_label(key);
        match sent.iter_mut().find(|s| s.label == label) {
            Some(s) => s.pseudonymised_only &= c.pseudonymised_only,
            None => sent.push(SentContext {
                label,
                pseudonymised_only: c.pseudonymised_only,
            }),
        }
    }
    sent
}

/// Each key and every dot-prefix of it, sorted and once each.
fn ancestors<'a>(keys: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for key in keys {
        out.extend(key.match_indices('.').map(|(i, _)| &key[..i]));
        out.push(key);
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A revision with every list filled and every date known, so that loading templates
/// takes the branches an empty revision does not.
pub(super) fn sample() -> Report {
    let day = |d: u32| days_from_civil(2025, 11, d) * MS_PER_DAY;
    let exposure = |pseudonymised_only| CategoryExposure {
        people: 2,
        records: 3,
        pseudonymised_only,
    };
    let keys = [
        ("user.contact.email", false),
        ("user.unique_id", true),
        ("user.authorization.credentials", false),
        ("user.financial.crypto_wallet", false),
        ("user.government_id.passport_number", false),
        ("user.health_and_medical", false),
        ("user.behavior.browsing_history", false),
        ("user.location.precise", false),
    ];
    let entry = |at_ms, kind: &str| TimelineEntry {
        at_ms,
        kind: kind.to_owned(),
        detail: "detail".to_owned(),
    };
    let facts = Facts {
        vendor_detected_at_ms: Some(day(1)),
        informed_at_ms: Some(day(5)),
        aware_at_ms: Some(day(5)),
        materiality_at_ms: Some(day(6)),
        users_notified_at_ms: Some(day(7)),
    };
    let exposed: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    Report {
        incident_id: "1".into(),
        revision: 1,
        title: "Sample".into(),
        destination: "analytics".into(),
        vendor: "Mixpanel".into(),
        breach_from_ms: day(1),
        breach_to_ms: day(2),
        data_from_ms: day(1) - 90 * MS_PER_DAY,
        data_to_ms: day(2),
        data_range_basis: "derived".into(),
        vendor_retention_days: Some(90),
        deadlines: super::deadlines::evaluate(&super::deadlines::default_rules(), &facts, 2, &exposed, day(20)),
        facts,
        generated_at_ms: day(20),
        people: 2,
        records: 3,
        categories: keys.iter().map(|(k, p)| ((*k).to_owned(), exposure(*p))).collect(),
        fields: [("/properties/$email".to_owned(), 3)].into(),
        first_exposure_ms: Some(day(1)),
        last_exposure_ms: Some(day(2)),
        sources: [("web".to_owned(), SourceExposure { people: 2, records: 3 })].into(),
        held_back: [("user.device.ip_address".to_owned(), 3)].into(),
        vendor_ids: 2,
        timeline: [
            "opened",
            "destination_suspended",
            "key_rotated",
            "deletion_requested",
            "exported",
        ]
        .iter()
        .map(|kind| entry(day(5), kind))
        .collect(),
        organisation: Organisation {
            name: Some("Org".into()),
            contact_email: Some("privacy@example.com".into()),
            contact_phone: Some("+1 555 0100".into()),
            dpo_name: Some("DPO".into()),
            dpo_email: Some("dpo@example.com".into()),
            lead_authority: Some("Authority".into()),
            website: Some("example.com".into()),
        },
    }
}
