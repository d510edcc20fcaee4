//! What an incident's data range exposed at one vendor: the figures every export renders.
//!
//! A [`Report`] is computed from the ledger (see [`crate::ledger::query`]) and stored with
//! each revision of an incident, so an export always renders exactly the figures that
//! revision was computed with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One category's exposure within the data range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryExposure {
    /// Distinct people (linked ids count once) with at least one record carrying it.
    pub people: u64,
    /// Delivered records carrying it.
    pub records: u64,
    /// True when every record sent it only as a keyed pseudonym (never in clear).
    pub pseudonymised_only: bool,
}

/// One source's share of the exposure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceExposure {
    pub people: u64,
    pub records: u64,
}

/// Who we are, for the notices (from `[incident]` in the config; blanks are marked for a
/// person to complete).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    pub name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub dpo_name: Option<String>,
    pub dpo_email: Option<String>,
    pub lead_authority: Option<String>,
    pub website: Option<String>,
}

/// One entry of the incident's timeline: what happened or was done, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at_ms: i64,
    /// `opened`, `scope_changed`, `destination_suspended`, `key_rotated`, `exported`, …
    pub kind: String,
    /// Plain-language detail (never personal data).
    pub detail: String,
}

/// The dates the deadline clocks start from (all UTC milliseconds since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// When the vendor detected the breach.
    pub vendor_detected_at_ms: Option<i64>,
    /// When the vendor informed us.
    pub informed_at_ms: Option<i64>,
    /// When we became aware (GDPR "aware"); defaults to `informed_at`, else the opening time.
    pub aware_at_ms: Option<i64>,
    /// When the incident was determined material (SEC 8-K Item 1.05).
    pub materiality_at_ms: Option<i64>,
    /// When affected people were notified (starts the California Attorney General clock).
    pub users_notified_at_ms: Option<i64>,
}

/// The status of one deadline clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// Rule name, e.g. `GDPR Art. 33`.
    pub name: String,
    /// Who must be told, e.g. `lead supervisory authority`.
    pub recipient: String,
    /// Which fact starts the clock (`aware`, `vendor_detected`, `informed`, `materiality`,
    /// `users_notified`).
    pub clock: String,
    pub starts_at_ms: Option<i64>,
    /// `None` for "without undue delay" rules or when the clock has not started.
    pub due_at_ms: Option<i64>,
    /// `running`, `overdue`, `not_started` (its start fact is unknown) or `not_applicable`.
    pub status: String,
    /// Why (e.g. why a rule does not apply, or what the deadline counts).
    pub note: String,
}

/// The figures of one incident revision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub incident_id: String,
    pub revision: u32,
    pub title: String,
    pub destination: String,
    /// The vendor behind the destination, by its display name (`Mixpanel`); notices name it.
    /// Empty in revisions written before destinations had vendors: notices then use the
    /// destination's name.
    #[serde(default)]
    pub vendor: String,
    /// The breach window at the vendor (T1, T2).
    pub breach_from_ms: i64,
    pub breach_to_ms: i64,
    /// The data range: records delivered in [data_from, data_to] are exposed.
    pub data_from_ms: i64,
    pub data_to_ms: i64,
    /// How the data range was set: derived from the window and the vendor's retention, or
    /// given explicitly.
    pub data_range_basis: String,
    pub vendor_retention_days: Option<u32>,
    pub facts: Facts,
    pub generated_at_ms: i64,
    /// Distinct affected people (linked ids count once).
    pub people: u64,
    /// Delivered records in the data range.
    pub records: u64,
    /// Category key → its exposure. Only categories the vendor actually received.
    pub categories: BTreeMap<String, CategoryExposure>,
    /// Field pointer → records that carried it.
    pub fields: BTreeMap<String, u64>,
    pub first_exposure_ms: Option<i64>,
    pub last_exposure_ms: Option<i64>,
    /// Source name → its share.
    pub sources: BTreeMap<String, SourceExposure>,
    /// Categories that came in within the range but the policy did not send → records.
    pub held_back: BTreeMap<String, u64>,
    /// Distinct ids as the vendor knows them (pseudonyms or raw), all key versions.
    pub vendor_ids: u64,
    pub deadlines: Vec<Deadline>,
    pub timeline: Vec<TimelineEntry>,
    pub organisation: Organisation,
}
