//! Incident response: "vendor X was breached between T1 and T2 — who is affected?"
//!
//! An incident names a destination and a breach window (T1, T2). What the vendor held then is
//! what was delivered to it at or before T2 and not yet past its retention at T1, so the
//! **data range** is `[T1 − vendor_retention_days, T2]` (from the ledger's start when the
//! retention is unknown), unless given explicitly. Every scope change recomputes the figures
//! as a new revision; earlier revisions are kept. Response actions (suspending the
//! destination, rotating its key) and exports are recorded on the incident's timeline.
//!
//! - [`report`]: the figures of one revision; [`deadlines`]: notification clocks from rules
//!   in configuration; [`render`]: report.md and the notice drafts from templates, which
//!   see a revision as a [`context::Context`]; [`locale`]: numbers and dates for the
//!   templates; [`time`]: UTC dates.
//! - [`Desk`]: open, update, list, act on and export incidents over a [`Store`].
//!
//! Nothing here writes personal data anywhere but `subjects.csv` (the notification list,
//! whose ids are unsealed with the master key at export time) and
//! `vendor-deletion-request.json` (the ids as the vendor already knows them).

pub mod context;
pub mod deadlines;
pub mod locale;
pub mod render;
pub mod report;
pub mod time;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::ledger::query;
use crate::ledger::rollup::DAY_MS;
use crate::policy::keys::{StoreKeys, SubjectPart};
use crate::protocol::{DeletionRequest, Vendor};
use crate::store::{DestinationState, Store, StoreError, SubjectRow};
use report::{Facts, Report, TimelineEntry};

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("no incident {0}")]
    NotFound(i64),
    #[error("destination `{0}` is not configured")]
    UnknownDestination(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key: {0}")]
    Key(String),
    #[error(transparent)]
    Template(#[from] render::TemplateError),
    /// Others kept changing the incident while this change was being applied.
    #[error("incident {0} was changed by another operation at the same time; try again")]
    Conflict(i64),
    /// The key was rotated but the incident's timeline could not record it: trying again
    /// would rotate a second time.
    #[error(
        "the key of {destination} was rotated to version {version}, but incident {id} could not record it \
         ({reason}); do not rotate again"
    )]
    RotatedNotRecorded {
        destination: String,
        version: u32,
        id: i64,
        reason: String,
    },
}

/// How often a change is re-applied when another writer saved the incident in between.
const ATTEMPTS: usize = 5;
/// The same for a timeline entry recording an action already taken (suspend, key
/// rotation): re-applying it is cheap (no recomputation), and giving up would leave the
/// action unrecorded.
const RECORD_ATTEMPTS: usize = 100;

/// The wait before re-applying a change after conflict number `attempt` (from 0): a random
/// point in the upper half of 1 ms doubling up to 64 ms, so writers that keep colliding
/// drift apart instead of retrying in lockstep. Callers run off the async workers.
fn conflict_pause(attempt: usize) -> std::time::Duration {
    let ceiling = std::time::Duration::from_millis(1 << attempt.min(6));
    let half = ceiling.as_nanos() as u64 / 2;
    let noise = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    std::time::Duration::from_nanos(half + noise % (half + 1))
}

/// The scope of an incident as declared (and revised).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    pub breach_from_ms: i64,
    pub breach_to_ms: i64,
    /// Explicit data range, overriding the derived one.
    pub data_from_ms: Option<i64>,
    pub data_to_ms: Option<i64>,
    pub facts: Facts,
}

/// An incident with all its revisions and its timeline (stored as one JSON document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub destination: String,
    pub opened_at_ms: i64,
    pub scope: Scope,
    /// Oldest first; the last is current.
    pub revisions: Vec<Report>,
    pub timeline: Vec<TimelineEntry>,
}

impl Incident {
    pub fn current(&self) -> Option<&Report> {
        self.revisions.last()
    }
}

/// What `incident open` declares.
#[derive(Debug, Clone, Default)]
pub struct Open {
    pub destination: String,
    pub title: Option<String>,
    pub scope: Scope,
}

/// A change of scope or facts; `None` keeps the current value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    pub title: Option<String>,
    pub breach_from_ms: Option<i64>,
    pub breach_to_ms: Option<i64>,
    pub data_from_ms: Option<i64>,
    pub data_to_ms: Option<i64>,
    pub vendor_detected_at_ms: Option<i64>,
    pub informed_at_ms: Option<i64>,
    pub aware_at_ms: Option<i64>,
    pub materiality_at_ms: Option<i64>,
    pub users_notified_at_ms: Option<i64>,
    /// Drop an explicit data range and derive it again from the window and the retention.
    #[serde(default)]
    pub derive_data_range: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    pub dir: PathBuf,
    pub files: Vec<String>,
    pub people: u64,
    pub vendor_ids: u64,
    /// Subject ids and contact emails in `subjects.csv` that did not open (written as
    /// `[unavailable]`): sealed under other keys, or moved from another subject's row.
    pub unopened: u64,
    /// How long each part took (milliseconds), for benchmarks.
    pub phases_ms: std::collections::BTreeMap<&'static str, u64>,
}

/// Incident operations over a store, with the configuration's destinations, retention,
/// organisation and deadline rules.
pub struct Desk<'a> {
    pub store: &'a dyn Store,
    pub config: &'a Config,
}

fn event(at_ms: i64, kind: &str, detail: String) -> TimelineEntry {
    TimelineEntry {
        at_ms,
        kind: kind.to_owned(),
        detail,
    }
}

impl Desk<'_> {
    pub fn open(&self, o: Open, now_ms: i64) -> Result<Incident, IncidentError> {
        self.config
            .destination(&o.destination)
            .ok_or_else(|| IncidentError::UnknownDestination(o.destination.clone()))?;
        check_scope(&o.scope)?;
        let mut inc = Incident {
            id: 0,
            title: o.title.unwrap_or_else(|| {
                format!(
                    "Breach at {} ({})",
                    o.destination,
                    time::format_date(o.scope.breach_from_ms)
                )
            }),
            destination: o.destination,
            opened_at_ms: now_ms,
            scope: o.scope,
            revisions: Vec::new(),
            timeline: Vec::new(),
        };
        check_scope(&inc.scope)?;
        let (from, to, _, _) = self.data_range(&inc.destination, &inc.scope);
        if from > to {
            return Err(IncidentError::Invalid(
                "the data range ends before it starts (check --data-from and --data-to against the window)".into(),
            ));
        }
        inc.id = self.store.save_incident(None, "{}", now_ms)?;
        inc.timeline.push(event(
            now_ms,
            "opened",
            format!(
                "Incident opened: breach window {} to {}",
                time::format_utc(inc.scope.breach_from_ms),
                time::format_utc(inc.scope.breach_to_ms)
            ),
        ));
        self.recompute(&mut inc, now_ms)?;
        let doc = self.document(&mut inc)?;
        self.store.save_incident(Some(inc.id), &doc, now_ms)?;
        Ok(inc)
    }

    pub fn get(&self, id: i64) -> Result<Incident, IncidentError> {
        Ok(self.load(id)?.0)
    }

    /// The incident and its stored document (what a save must find unchanged).
    fn load(&self, id: i64) -> Result<(Incident, String), IncidentError> {
        let doc = self.store.incident(id)?.ok_or(IncidentError::NotFound(id))?;
        let inc = serde_json::from_str(&doc)
            .map_err(|e| IncidentError::Invalid(format!("incident {id} is unreadable: {e}")))?;
        Ok((inc, doc))
    }

    /// Read, change, save — as one step against other writers (another CLI run, the admin
    /// API): the save goes through only if the stored document is still the one read; else
    /// the change is applied again to what the other writer saved. So concurrent changes
    /// serialize, and none is lost.
    fn modify(
        &self,
        id: i64,
        now_ms: i64,
        change: impl FnMut(&mut Incident) -> Result<(), IncidentError>,
    ) -> Result<Incident, IncidentError> {
        self.modify_within(ATTEMPTS, id, now_ms, change)
    }

    fn modify_within(
        &self,
        attempts: usize,
        id: i64,
        now_ms: i64,
        mut change: impl FnMut(&mut Incident) -> Result<(), IncidentError>,
    ) -> Result<Incident, IncidentError> {
        for attempt in 0..attempts {
            let (mut inc, stored) = self.load(id)?;
            change(&mut inc)?;
            let doc = self.document(&mut inc)?;
            if self.store.replace_incident(id, &stored, &doc, now_ms)? {
                return Ok(inc);
            }
            if attempt + 1 < attempts {
                std::thread::sleep(conflict_pause(attempt));
            }
        }
        Err(IncidentError::Conflict(id))
    }

    pub fn list(&self) -> Result<Vec<Incident>, IncidentError> {
        Ok(self
            .store
            .incidents()?
            .into_iter()
            .filter_map(|(_, doc)| serde_json::from_str(&doc).ok())
            .collect())
    }

    /// Applies a scope change and recomputes; the earlier revision is kept.
    pub fn update(&self, id: i64, u: Update, now_ms: i64) -> Result<Incident, IncidentError> {
        self.modify(id, now_ms, |inc| {
            let u = u.clone();
            let s = &mut inc.scope;
            let before = s.clone();
            s.breach_from_ms = u.breach_from_ms.unwrap_or(s.breach_from_ms);
            s.breach_to_ms = u.breach_to_ms.unwrap_or(s.breach_to_ms);
            if u.derive_data_range {
                s.data_from_ms = None;
                s.data_to_ms = None;
            }
            s.data_from_ms = u.data_from_ms.or(s.data_from_ms);
            s.data_to_ms = u.data_to_ms.or(s.data_to_ms);
            let f = &mut s.facts;
            f.vendor_detected_at_ms = u.vendor_detected_at_ms.or(f.vendor_detected_at_ms);
            f.informed_at_ms = u.informed_at_ms.or(f.informed_at_ms);
            f.aware_at_ms = u.aware_at_ms.or(f.aware_at_ms);
            f.materiality_at_ms = u.materiality_at_ms.or(f.materiality_at_ms);
            f.users_notified_at_ms = u.users_notified_at_ms.or(f.users_notified_at_ms);
            check_scope(&inc.scope)?;
            if let Some(t) = u.title {
                inc.title = t;
            }
            let detail = describe_change(&before, &inc.scope);
            inc.timeline.push(event(now_ms, "scope_changed", detail));
            self.recompute(inc, now_ms)
        })
    }

    /// Kill switch: the destination stops receiving anything (records keep queueing).
    pub fn suspend(&self, id: i64, now_ms: i64) -> Result<Incident, IncidentError> {
        let destination = self.get(id)?.destination;
        self.store
            .set_destination_state(&destination, DestinationState::Suspended, now_ms)?;
        self.modify_within(RECORD_ATTEMPTS, id, now_ms, |inc| {
            inc.timeline.push(event(
                now_ms,
                "destination_suspended",
                format!("Deliveries to {destination} suspended; new records are held in the outbox"),
            ));
            Ok(())
        })
    }

    /// Rotates the destination's pseudonym key: pseudonyms made from now on cannot be linked
    /// to the ones the vendor already holds.
    pub fn rotate_key(&self, id: i64, keys: &StoreKeys, now_ms: i64) -> Result<Incident, IncidentError> {
        let destination = self.get(id)?.destination;
        let k =
            crate::keyring::rotate(self.store, keys, &destination).map_err(|e| IncidentError::Key(e.to_string()))?;
        let recorded = self.modify_within(RECORD_ATTEMPTS, id, now_ms, |inc| {
            inc.timeline.push(event(
                now_ms,
                "key_rotated",
                format!(
                    "Pseudonym key of {destination} rotated to version {}; earlier pseudonyms no longer link to new data",
                    k.version
                ),
            ));
            Ok(())
        });
        // The rotation itself happened: whatever went wrong after it, "try again" would
        // rotate a second time.
        recorded.map_err(|e| IncidentError::RotatedNotRecorded {
            destination,
            version: k.version,
            id,
            reason: match e {
                IncidentError::Store(_) => "store unavailable".to_owned(),
                e => e.to_string(),
            },
        })
    }

    /// The document to store; the current revision carries the timeline as of now.
    fn document(&self, inc: &mut Incident) -> Result<String, IncidentError> {
        if let Some(r) = inc.revisions.last_mut() {
            r.timeline = inc.timeline.clone();
        }
        serde_json::to_string(inc).map_err(|e| IncidentError::Invalid(e.to_string()))
    }

    /// Re-evaluates the current revision's deadline clocks at `now_ms` (statuses move on
    /// from `running` to `overdue` without a new revision); not saved.
    pub fn refresh_deadlines(&self, inc: &mut Incident, now_ms: i64) {
        let opened = inc.opened_at_ms;
        if let Some(r) = inc.revisions.last_mut() {
            let mut facts = r.facts.clone();
            facts.aware_at_ms = facts.aware_at_ms.or(facts.informed_at_ms).or(Some(opened));
            let exposed: Vec<&str> = r.categories.keys().map(String::as_str).collect();
            r.deadlines = deadlines::evaluate(&self.config.incident.deadlines, &facts, r.people, &exposed, now_ms);
        }
    }

    /// The data range a scope exposes, and how it was set.
    pub fn data_range(&self, destination: &str, scope: &Scope) -> (i64, i64, String, Option<u32>) {
        let retention = self
            .config
            .destination(destination)
            .and_then(|d| d.vendor_retention_days);
        let derived_from = match retention {
            Some(days) => scope.breach_from_ms.saturating_sub(i64::from(days) * DAY_MS),
            None => 0,
        };
        let from = scope.data_from_ms.unwrap_or(derived_from);
        let to = scope.data_to_ms.unwrap_or(scope.breach_to_ms);
        let basis = match (scope.data_from_ms.is_some() || scope.data_to_ms.is_some(), retention) {
            (true, _) => "given explicitly".to_owned(),
            (false, Some(days)) => format!(
                "derived: everything delivered at or before the end of the breach window and still within the vendor's {days}-day retention at its start"
            ),
            (false, None) => "derived: everything delivered at or before the end of the breach window (the vendor's retention is not configured, so from the ledger's start)".to_owned(),
        };
        (from, to, basis, retention)
    }

    fn recompute(&self, inc: &mut Incident, now_ms: i64) -> Result<(), IncidentError> {
        let (from, to, basis, retention) = self.data_range(&inc.destination, &inc.scope);
        if from > to {
            return Err(IncidentError::Invalid(
                "the data range ends before it starts (check --data-from and --data-to against the window)".into(),
            ));
        }
        let f = query::figures(self.store, &inc.destination, from, to)?;
        let mut facts = inc.scope.facts.clone();
        facts.aware_at_ms = facts.aware_at_ms.or(facts.informed_at_ms).or(Some(inc.opened_at_ms));
        let exposed: Vec<&str> = f.categories.keys().map(String::as_str).collect();
        let deadlines = deadlines::evaluate(&self.config.incident.deadlines, &facts, f.people, &exposed, now_ms);
        let report = Report {
            incident_id: inc.id.to_string(),
            revision: inc.revisions.len() as u32 + 1,
            title: inc.title.clone(),
            destination: inc.destination.clone(),
            breach_from_ms: inc.scope.breach_from_ms,
            breach_to_ms: inc.scope.breach_to_ms,
            data_from_ms: from,
            data_to_ms: to,
            data_range_basis: basis,
            vendor_retention_days: retention,
            facts,
            generated_at_ms: now_ms,
            people: f.people,
            records: f.records,
            categories: f.categories,
            fields: f.fields,
            first_exposure_ms: f.first_exposure_ms,
            last_exposure_ms: f.last_exposure_ms,
            sources: f.sources,
            held_back: f.held_back,
            vendor_ids: 0,
            deadlines,
            timeline: inc.timeline.clone(),
            organisation: self.config.incident.organisation.clone(),
            vendor: self
                .config
                .destination(&inc.destination)
                .map(|d| d.vendor.display_name().to_owned())
                .unwrap_or_default(),
        };
        inc.revisions.push(report);
        Ok(())
    }

    /// Writes the current revision's documents into `out`.
    pub fn export(&self, id: i64, out: &Path, keys: &StoreKeys, now_ms: i64) -> Result<Exported, IncidentError> {
        let mut inc = self.get(id)?;
        self.refresh_deadlines(&mut inc, now_ms);
        let mut report = inc.current().cloned().ok_or(IncidentError::NotFound(id))?;
        crate::store::files::private_dir(out, "the export directory").map_err(|source| IncidentError::Io {
            path: out.to_owned(),
            source,
        })?;
        let mut phases_ms = std::collections::BTreeMap::new();
        let mut clock = std::time::Instant::now();
        let mut lap = |name: &'static str| {
            phases_ms.insert(name, clock.elapsed().as_millis() as u64);
            clock = std::time::Instant::now();
        };
        let (people, written_people, unopened) = people_and_subjects(
            self.store,
            (&inc.destination, report.data_from_ms, report.data_to_ms),
            keys,
            &out.join("subjects.csv"),
            &mut lap,
        )?;
        lap("subjects.csv");
        // The vendor's deletion API format; a destination no longer configured gets the
        // format of the vendor its revision names, else Mixpanel's (the first vendor).
        let vendor = self
            .config
            .destination(&inc.destination)
            .map(|d| d.vendor)
            .or_else(|| Vendor::ALL.into_iter().find(|v| v.display_name() == report.vendor))
            .unwrap_or(Vendor::ALL[0]);
        let vendor_ids = write_deletion_request(
            self.store,
            &report,
            &people,
            &vendor.protocol().deletion_request(),
            &out.join("vendor-deletion-request.json"),
        )?;
        lap("vendor-deletion-request.json");
        report.vendor_ids = vendor_ids;
        let unopened_note = if unopened > 0 {
            format!("; {unopened} sealed ids or emails did not open (run `vendorwall ledger verify`)")
        } else {
            String::new()
        };
        let exported = event(
            now_ms,
            "exported",
            format!(
                "Revision {} exported: {written_people} people in the notification list, {vendor_ids} vendor ids in the deletion request{unopened_note}",
                report.revision
            ),
        );
        inc.timeline.push(exported.clone());
        report.timeline = inc.timeline.clone();
        let mut json = serde_json::to_value(&report).map_err(|e| IncidentError::Invalid(e.to_string()))?;
        if let Some(o) = json.as_object_mut() {
            o.insert("data_from".into(), time::format_utc(report.data_from_ms).into());
            o.insert("data_to".into(), time::format_utc(report.data_to_ms).into());
            o.insert("breach_from".into(), time::format_utc(report.breach_from_ms).into());
            o.insert("breach_to".into(), time::format_utc(report.breach_to_ms).into());
        }
        // Every document is rendered before any is written: a template error fails the
        // export without leaving a half-written set.
        let mut files: Vec<(&str, String)> =
            vec![("report.json", serde_json::to_string_pretty(&json).unwrap_or_default())];
        files.extend(self.config.incident.templates.render_all(&report)?);
        for (name, text) in &files {
            write_file(&out.join(name), text.as_bytes())?;
        }
        lap("report and notices");
        // Recorded on the revision exported, even if another has been added meanwhile.
        self.modify(id, now_ms, |inc| {
            self.refresh_deadlines(inc, now_ms);
            if let Some(r) = inc.revisions.iter_mut().find(|r| r.revision == report.revision) {
                r.vendor_ids = vendor_ids;
            }
            inc.timeline.push(exported.clone());
            Ok(())
        })?;
        let mut names: Vec<String> = files.iter().map(|(n, _)| (*n).to_owned()).collect();
        names.push("subjects.csv".into());
        names.push("vendor-deletion-request.json".into());
        Ok(Exported {
            dir: out.to_owned(),
            files: names,
            people: written_people,
            vendor_ids,
            unopened,
            phases_ms,
        })
    }
}

fn check_scope(s: &Scope) -> Result<(), IncidentError> {
    if s.breach_from_ms > s.breach_to_ms {
        return Err(IncidentError::Invalid("the breach window ends before it starts".into()));
    }
    if let (Some(a), Some(b)) = (s.data_from_ms, s.data_to_ms)
        && a > b
    {
        return Err(IncidentError::Invalid("the data range ends before it starts".into()));
    }
    Ok(())
}

fn describe_change(a: &Scope, b: &Scope) -> String {
    let mut parts = Vec::new();
    if (a.breach_from_ms, a.breach_to_ms) != (b.breach_from_ms, b.breach_to_ms) {
        parts.push(format!(
            "breach window now {} to {}",
            time::format_utc(b.breach_from_ms),
            time::format_utc(b.breach_to_ms)
        ));
    }
    if (a.data_from_ms, a.data_to_ms) != (b.data_from_ms, b.data_to_ms) {
        parts.push(if b.data_from_ms.is_none() && b.data_to_ms.is_none() {
            "data range derived again".to_owned()
        } else {
            "data range set explicitly".to_owned()
        });
    }
    if a.facts != b.facts {
        parts.push("dates updated".to_owned());
    }
    if parts.is_empty() {
        "Recomputed with the same scope".to_owned()
    } else {
        format!("Scope changed: {}", parts.join("; "))
    }
}

/// Every export file is readable by its owner only, an existing one included.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), IncidentError> {
    crate::store::files::write_private(path, bytes).map_err(|source| IncidentError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Creates a file only its owner can read (it holds ids and emails in clear).
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    crate::store::files::create_private(path)
}

/// Appends a CSV field, quoted when it needs to be. A value a spreadsheet would run as a
/// formula (`=`, `+`, `-`, `@`, tab or carriage return first) gets a leading `'`.
fn push_csv(out: &mut Vec<u8>, s: &[u8]) {
    if matches!(s.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')) {
        let mut guarded = Vec::with_capacity(s.len() + 1);
        guarded.push(b'\'');
        guarded.extend_from_slice(s);
        return push_csv_plain(out, &guarded);
    }
    push_csv_plain(out, s);
}

fn push_csv_plain(out: &mut Vec<u8>, s: &[u8]) {
    if s.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for &b in s {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s);
    }
}

/// A linked person's ids as they come off the subject stream, until all of them are in.
#[derive(Default)]
struct Pending {
    main: Option<Vec<u8>>,
    linked: Vec<Vec<u8>>,
    seen: u32,
    contact: Option<Vec<u8>>,
}

const UNAVAILABLE: &[u8] = b"[unavailable]";

/// A byte range in a [`SubjectChunk`].
type Span = Option<(usize, usize)>;

/// Subjects read off the store, handed from the reading thread to the writing one.
#[derive(Default)]
struct SubjectChunk {
    /// (subject, digest, id, contact email) with the bytes in `bytes`.
    rows: Vec<(u32, [u8; 16], Span, Span)>,
    bytes: Vec<u8>,
    /// The ids and emails are already unsealed (`None` where there was none, or it did not
    /// open); else they are still sealed.
    opened: bool,
    /// Sealed ids and emails that did not open (counted where they were opened).
    unopened: u64,
}

/// A subject row's digest as the 16 bytes its sealed blobs are bound to (all zeros for a
/// malformed one, which then opens nothing).
fn row_digest(digest: &[u8]) -> [u8; 16] {
    digest.try_into().unwrap_or_default()
}

/// Opens a sealed id or email of the subject with `digest`, counting one that does not open.
fn open_counted<'b>(
    keys: &StoreKeys,
    part: SubjectPart,
    digest: &[u8; 16],
    sealed: Option<&[u8]>,
    buf: &'b mut Vec<u8>,
    unopened: &mut u64,
) -> Option<&'b [u8]> {
    let sealed = sealed?;
    let opened = keys.open_subject_into(part, digest, sealed, buf);
    if opened.is_none() {
        *unopened += 1;
    }
    opened
}

impl SubjectChunk {
    fn push(&mut self, id: u32, digest: [u8; 16], main: Option<&[u8]>, contact: Option<&[u8]>) {
        let mut put = |b: Option<&[u8]>| {
            b.map(|b| {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(b);
                (start, self.bytes.len())
            })
        };
        let (main, contact) = (put(main), put(contact));
        self.rows.push((id, digest, main, contact));
    }

    fn get(&self, r: Span) -> Option<&[u8]> {
        r.map(|(a, b)| &self.bytes[a..b])
    }

    /// An id or email of this chunk in clear, unsealing it here if the reader did not
    /// (counting one that does not open in `unopened`).
    fn open<'b>(
        &'b self,
        r: Span,
        (part, digest): (SubjectPart, &[u8; 16]),
        keys: &StoreKeys,
        buf: &'b mut Vec<u8>,
        unopened: &mut u64,
    ) -> Option<&'b [u8]> {
        if self.opened {
            self.get(r)
        } else {
            open_counted(keys, part, digest, self.get(r), buf, unopened)
        }
    }
}

/// One row of `subjects.csv`, assembled in `line`.
struct Row<'a> {
    main: &'a [u8],
    linked: &'a [Vec<u8>],
    contact: &'a [u8],
}

fn push_subject_row(line: &mut Vec<u8>, dates: &mut time::UtcDates, categories: &[u8], x: &query::Person, r: Row<'_>) {
    line.clear();
    push_csv(line, r.main);
    line.push(b',');
    for (i, id) in r.linked.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        push_csv(line, id);
    }
    line.push(b',');
    line.extend_from_slice(categories);
    line.push(b',');
    line.extend_from_slice(itoa::Buffer::new().format(x.records).as_bytes());
    line.push(b',');
    dates.push(line, x.first_ms);
    line.push(b',');
    dates.push(line, x.last_ms);
    line.push(b',');
    push_csv(line, r.contact);
    line.push(b'\n');
}

/// Writes `subjects.csv`: one row per affected person, named by the id the linking records
/// were about (their identified id), with its other ids. An id or email that does not open
/// under the store's keys (another key, or a blob moved from another subject's row) is
/// written as `[unavailable]` (an email left empty) and counted.
///
/// One pass over the subjects in number order, on two cores. A second thread reads them off
/// the store while this one builds the per-person table; once the table is there, that
/// thread also skips the people not affected and unseals the ids of the others (what it read
/// before, this thread unseals). This thread assembles rows as bytes. Returns the table, the
/// rows written and how many ids and emails did not open.
fn people_and_subjects(
    store: &dyn Store,
    span: (&str, i64, i64),
    keys: &StoreKeys,
    path: &Path,
    lap: &mut dyn FnMut(&'static str),
) -> Result<(query::People, u64, u64), IncidentError> {
    let io = |source| IncidentError::Io {
        path: path.to_owned(),
        source,
    };
    let file = create_private(path).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    w.write_all(b"subject_id,linked_ids,categories,records,first_exposure,last_exposure,contact_email\n")
        .map_err(io)?;
    let mut pending: std::collections::HashMap<u32, Pending> = std::collections::HashMap::new();
    let mut category_text: std::collections::HashMap<u64, Vec<u8>> = std::collections::HashMap::new();
    let mut rows = 0u64;
    let mut unopened = 0u64;
    let (mut plain, mut contact_plain) = (Vec::with_capacity(256), Vec::with_capacity(256));
    let mut line: Vec<u8> = Vec::with_capacity(512);
    let mut dates = time::UtcDates::default();
    // The per-person table, shared with the reader once built.
    let table: std::sync::OnceLock<query::People> = std::sync::OnceLock::new();
    // Up to ~4 M subjects read ahead while the per-person table is built.
    let (tx, rx) = std::sync::mpsc::sync_channel::<SubjectChunk>(512);
    std::thread::scope(|scope| -> Result<(), IncidentError> {
        let table = &table;
        let reader = scope.spawn(move || {
            let mut chunk = SubjectChunk::default();
            let mut stopped = false;
            let (mut id_buf, mut contact_buf) = (Vec::with_capacity(256), Vec::with_capacity(256));
            let r = store.ledger_subjects(&mut |s: SubjectRow<'_>| {
                if stopped {
                    return;
                }
                let digest = row_digest(s.digest);
                match table.get() {
                    None => chunk.push(s.id, digest, s.sealed, s.contact),
                    Some(people) => {
                        if !chunk.opened {
                            // From here on, chunks carry ids in clear.
                            if !chunk.rows.is_empty() {
                                stopped = tx.send(std::mem::take(&mut chunk)).is_err();
                            }
                            chunk.opened = true;
                        }
                        if people.get(people.links.person(s.id)).is_none() {
                            return;
                        }
                        let mut unopened = 0;
                        let main = open_counted(keys, SubjectPart::Id, &digest, s.sealed, &mut id_buf, &mut unopened);
                        let contact = open_counted(
                            keys,
                            SubjectPart::Contact,
                            &digest,
                            s.contact,
                            &mut contact_buf,
                            &mut unopened,
                        );
                        chunk.push(s.id, digest, main, contact);
                        chunk.unopened += unopened;
                    }
                }
                if chunk.rows.len() >= 8192 {
                    let opened = chunk.opened;
                    stopped = tx.send(std::mem::take(&mut chunk)).is_err();
                    chunk.opened = opened;
                }
            });
            if !chunk.rows.is_empty() {
                let _ = tx.send(chunk);
            }
            r
        });
        let (destination, from_ms, to_ms) = span;
        let people = match query::people(store, destination, from_ms, to_ms) {
            Ok(p) => table.get_or_init(|| p),
            Err(e) => {
                drop(rx);
                let _ = reader.join();
                return Err(e.into());
            }
        };
        lap("people");
        let mut category_of = |mask: u64| -> Vec<u8> {
            category_text
                .entry(mask)
                .or_insert_with(|| people.category_names(mask).join(";").into_bytes())
                .clone()
        };
        // The category text of the last mask seen (consecutive people mostly share one).
        let (mut last_mask, mut categories) = (None, Vec::new());
        for chunk in rx {
            unopened += chunk.unopened;
            for &(id, digest, main, contact) in &chunk.rows {
                let (id_of, contact_of) = ((SubjectPart::Id, &digest), (SubjectPart::Contact, &digest));
                let person = people.links.person(id);
                let Some(x) = people.get(person) else {
                    continue;
                };
                if last_mask != Some(x.mask) {
                    categories = category_of(x.mask);
                    last_mask = Some(x.mask);
                }
                let members = people.links.members(person);
                if members == 1 {
                    // Not linked: the row straight from the chunk or the unsealed buffers.
                    let row = Row {
                        main: chunk
                            .open(main, id_of, keys, &mut plain, &mut unopened)
                            .unwrap_or(UNAVAILABLE),
                        linked: &[],
                        contact: chunk
                            .open(contact, contact_of, keys, &mut contact_plain, &mut unopened)
                            .unwrap_or_default(),
                    };
                    push_subject_row(&mut line, &mut dates, &categories, &x, row);
                    rows += 1;
                    w.write_all(&line).map_err(io)?;
                    continue;
                }
                let mut p = pending.remove(&person).unwrap_or_default();
                let opened = chunk
                    .open(main, id_of, keys, &mut plain, &mut unopened)
                    .map_or_else(|| UNAVAILABLE.to_vec(), <[u8]>::to_vec);
                if id == person {
                    p.main = Some(opened);
                } else {
                    p.linked.push(opened);
                }
                if p.contact.is_none() {
                    p.contact = chunk
                        .open(contact, contact_of, keys, &mut contact_plain, &mut unopened)
                        .map(<[u8]>::to_vec);
                }
                p.seen += 1;
                if p.seen < members {
                    pending.insert(person, p);
                    continue;
                }
                let row = Row {
                    main: p.main.as_deref().unwrap_or(UNAVAILABLE),
                    linked: &p.linked,
                    contact: p.contact.as_deref().unwrap_or_default(),
                };
                push_subject_row(&mut line, &mut dates, &categories, &x, row);
                rows += 1;
                w.write_all(&line).map_err(io)?;
            }
        }
        reader
            .join()
            .map_err(|_| IncidentError::Invalid("the subject reader stopped unexpectedly".into()))??;
        // Persons whose subjects were not all found still get their row.
        let mut rest: Vec<(u32, Pending)> = pending.drain().collect();
        rest.sort_unstable_by_key(|(p, _)| *p);
        for (person, p) in rest {
            if let Some(x) = people.get(person) {
                let row = Row {
                    main: p.main.as_deref().unwrap_or(UNAVAILABLE),
                    linked: &p.linked,
                    contact: p.contact.as_deref().unwrap_or_default(),
                };
                push_subject_row(&mut line, &mut dates, &category_of(x.mask), &x, row);
                rows += 1;
                w.write_all(&line).map_err(io)?;
            }
        }
        Ok(())
    })?;
    w.flush().map_err(io)?;
    let people = table
        .into_inner()
        .ok_or_else(|| IncidentError::Invalid("the per-person table was not built".into()))?;
    Ok((people, rows, unopened))
}

/// Writes the ids the vendor knows for the affected people, in the format of the vendor's
/// deletion API: a JSON object with the call to make, the body's fixed fields, and the ids
/// array (the API's own field name) streamed as it is read. Returns how many ids.
fn write_deletion_request(
    store: &dyn Store,
    report: &Report,
    people: &query::People,
    format: &DeletionRequest,
    path: &Path,
) -> Result<u64, IncidentError> {
    let io = |source| IncidentError::Io {
        path: path.to_owned(),
        source,
    };
    let file = create_private(path).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut head = serde_json::json!({
        "destination": report.destination,
        "vendor": report.vendor,
        "incident": report.incident_id,
        "revision": report.revision,
        "data_from": time::format_utc(report.data_from_ms),
        "data_to": time::format_utc(report.data_to_ms),
        "vendor_api": format.api,
        "max_ids_per_call": format.max_ids_per_call,
    });
    if let (Some(head), Some(fields)) = (head.as_object_mut(), format.fields.as_object()) {
        for (k, v) in fields {
            head.insert(k.clone(), v.clone());
        }
    }
    let head = serde_json::to_string_pretty(&head).unwrap_or_default();
    // The object without its closing brace, then the streamed array and the counts.
    let open = head.trim_end().trim_end_matches('}').trim_end();
    let ids_field = serde_json::to_string(format.ids_field).unwrap_or_default();
    write!(w, "{open},\n  {ids_field}: [").map_err(io)?;
    let mut versions: std::collections::BTreeMap<u32, u64> = std::collections::BTreeMap::new();
    let mut count = 0u64;
    let mut failed: Option<std::io::Error> = None;
    let mut last_subject = 0u32;
    let mut seen_for_subject: Vec<String> = Vec::new();
    store.ledger_vendor_ids(&report.destination, &mut |subject, kv, id| {
        if failed.is_some() || people.get(people.links.person(subject)).is_none() {
            return;
        }
        // Ids repeat only within a subject (several key versions that kept a raw id).
        if subject != last_subject {
            last_subject = subject;
            seen_for_subject.clear();
        }
        if seen_for_subject.iter().any(|s| s == id) {
            return;
        }
        seen_for_subject.push(id.to_owned());
        *versions.entry(kv).or_default() += 1;
        let sep = if count == 0 { "\n    " } else { ",\n    " };
        count += 1;
        let quoted = serde_json::to_string(id).unwrap_or_default();
        if let Err(e) = write!(w, "{sep}{quoted}") {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(io(e));
    }
    let versions = serde_json::to_string(&versions).unwrap_or_default();
    write!(
        w,
        "\n  ],\n  \"ids_by_key_version\": {versions},\n  \"count\": {count}\n}}\n"
    )
    .map_err(io)?;
    w.flush().map_err(io)?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_changes_serialize_and_none_is_lost() {
        use crate::store::sqlite::SqliteStore;
        use crate::store::{IncidentStore, LedgerStore};
        let dir = std::env::temp_dir().join(format!("vendorwall-incident-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SqliteStore::open_keyed(&dir, &crate::policy::keys::MasterKey::from_bytes(&[5; 32])).unwrap();
        let text = format!(
            "version = 1\n[store]\npath = \"{}\"\n[[sources]]\nname = \"web\"\nprotocol = \"mixpanel\"\ntokens = [\"t\"]\n\
             [[destinations]]\nname = \"mixpanel\"\ntype = \"mixpanel\"\nproject_token = \"p\"\nsources = [\"web\"]\n",
            dir.display()
        );
        let config = crate::config::parse(&text, &dir, &|_| None).unwrap();
        let desk = Desk {
            store: &store,
            config: &config,
        };
        let scope = Scope {
            breach_from_ms: 0,
            breach_to_ms: 1000,
            ..Scope::default()
        };
        let id = desk
            .open(
                Open {
                    destination: "mixpanel".into(),
                    title: None,
                    scope,
                },
                5000,
            )
            .unwrap()
            .id;
        // Each call either lands or fails with a conflict, never silently.
        let landed = |r: Result<Incident, IncidentError>| match r {
            Ok(_) => true,
            Err(IncidentError::Conflict(_)) => false,
            Err(e) => panic!("{e}"),
        };
        let (suspended, updated) = std::thread::scope(|s| {
            let a = s.spawn(|| (0..25).filter(|&i| landed(desk.suspend(id, 6000 + i))).count());
            let b = s.spawn(|| {
                (0..25)
                    .filter(|&i| {
                        let u = Update {
                            title: Some(format!("t{i}")),
                            ..Update::default()
                        };
                        landed(desk.update(id, u, 7000 + i))
                    })
                    .count()
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        // Recording an action already taken retries (with pauses) until it lands.
        assert_eq!(suspended, 25);
        assert!(updated > 0);
        let inc = desk.get(id).unwrap();
        let kind = |k: &str| inc.timeline.iter().filter(|e| e.kind == k).count();
        assert_eq!(kind("destination_suspended"), suspended, "no suspension lost");
        assert_eq!(kind("scope_changed"), updated, "no update lost");
        assert_eq!(inc.revisions.len(), 1 + updated);
        // A save over a document that changed since it was read is refused.
        let doc = store.incident(id).unwrap().unwrap();
        assert!(!store.replace_incident(id, "{}", &doc, 9000).unwrap());
        assert!(store.replace_incident(id, &doc, &doc, 9000).unwrap());
        // Every write that landed extended the keyed chain, in order, none lost.
        let chain: Vec<_> = store.verify_ledger().unwrap();
        assert!(chain.iter().all(|v| v.ok()), "{chain:?}");
        assert_eq!(chain[0].revisions as usize, 2 + suspended + updated + 1);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn conflict_pauses_grow_to_a_cap_with_jitter() {
        use std::time::Duration;
        for attempt in 0..12 {
            let ceiling = Duration::from_millis(1 << attempt.min(6));
            for _ in 0..20 {
                let p = conflict_pause(attempt);
                assert!(p >= ceiling / 2 && p <= ceiling, "attempt {attempt}: {p:?}");
            }
        }
        let spread: std::collections::HashSet<_> = (0..50)
            .map(|_| {
                std::thread::sleep(Duration::from_micros(37));
                conflict_pause(6)
            })
            .collect();
        assert!(spread.len() > 10, "pauses should be jittered");
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        let cell = |s: &str| {
            let mut out = Vec::new();
            push_csv(&mut out, s.as_bytes());
            String::from_utf8(out).unwrap()
        };
        assert_eq!(cell("user-1"), "user-1");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1 555"), "'+1 555");
        assert_eq!(cell("@me"), "'@me");
    }
}
