//! Durable state behind one trait: the outbox, dead letters and destination control state.
//!
//! # Invariants
//!
//! - [`Store::append`] returns only after its rows are durable (committed and synced). The
//!   outbox calls it once per group commit, never per request.
//! - A row leaves the outbox only through [`Store::complete`], which in one transaction
//!   deletes the delivered rows, writes their exposure-ledger entries (extending the
//!   destination's hash chain), and moves the refused ones to the dead-letter table. A crash
//!   before it leaves the rows in place (they are delivered again, under the same
//!   idempotency key); a crash after it leaves nothing to redo.
//! - Rows of one destination are leased in the order they were appended.
//! - Destination control state (`active`, `suspended`, `dropping`) lives here, so the CLI
//!   can change it while `serve` runs; `serve` polls it.
//!
//! # Operations
//!
//! | operation | what it does |
//! |---|---|
//! | `append` | insert rows for any destinations, one transaction, durable on return |
//! | `lease` | the oldest rows of one destination (no lock: one worker per destination) |
//! | `complete` | delete delivered rows, dead-letter refused ones, one transaction |
//! | `note_attempt` | count a failed delivery attempt on rows |
//! | `queue_stats` | depth and oldest enqueue time of one destination |
//! | `dead_letters` / `retry_dead_letters` / `purge_dead_letters` | operator tools |
//! | `destination_statuses` / `set_destination_state` / `add_dropped` | the kill switch |
//! | `key_versions` / `add_key` | per-destination pseudonym keys, sealed under the master key |
//! | `verify_ledger` / `prune_ledger` / `ledger_entries` | the exposure ledger's hash chain and retention |
//! | `ledger_dict` / `ledger_links` / `ledger_rollups` / `ledger_delivery_span` / `roll_up_ledger` | ledger queries (see [`crate::ledger::query`]) |
//! | `ledger_subjects` / `ledger_vendor_ids` | notification lists and vendor deletion requests |
//! | `save_incident` / `replace_incident` / `incidents` / `incident` | incident documents with their revisions and timeline (`replace_incident`: only if unchanged since read); each write extends the keyed incident chain |
//! | `reusable_bytes` | free pages inside the store, for the free-space headroom ([`space`]) |
//!
//! The embedded backend is [`sqlite::SqliteStore`] (WAL mode, `synchronous=FULL`). A
//! PostgreSQL backend implementing the same trait (leasing with `FOR UPDATE SKIP LOCKED`) is
//! planned; errors are backend-neutral so one conformance suite covers both.

pub mod files;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod space;
pub mod sqlite;

use crate::event::Kind;

/// A row to append to a destination's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow {
    pub destination: String,
    pub kind: Kind,
    /// The record exactly as it will be sent to the vendor (after the policy stage).
    pub payload: Vec<u8>,
    pub enqueued_at_ms: i64,
    /// What the record exposes ([`crate::ledger::Exposure`] in the form of
    /// [`crate::ledger::codec::encode_meta`]), written to the ledger when the vendor
    /// acknowledges it.
    pub meta: Option<Vec<u8>>,
}

/// A queued row as leased by a delivery worker.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: Kind,
    pub payload: Vec<u8>,
    pub enqueued_at_ms: i64,
    pub attempts: i64,
    /// The record's exposure metadata ([`crate::ledger::codec::encode_meta`]), for the ledger
    /// entry `complete` writes when the vendor has it.
    pub meta: Option<Vec<u8>>,
}

/// A record the vendor refused for good (or that could never be encoded).
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub id: i64,
    pub destination: String,
    pub kind: Kind,
    pub reason: String,
    pub enqueued_at_ms: i64,
    pub failed_at_ms: i64,
    pub attempts: i64,
    pub payload_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationState {
    /// Deliver normally.
    Active,
    /// Kill switch: keep queueing durably, deliver nothing.
    Suspended,
    /// Kill switch with `--drop`: discard new records for this destination (counted).
    Dropping,
}

impl DestinationState {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationState::Active => "active",
            DestinationState::Suspended => "suspended",
            DestinationState::Dropping => "dropping",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(DestinationState::Active),
            "suspended" => Some(DestinationState::Suspended),
            "dropping" => Some(DestinationState::Dropping),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DestinationStatus {
    pub name: String,
    pub state: DestinationState,
    /// Records discarded while `dropping`, over the store's lifetime.
    pub dropped: u64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueStats {
    pub depth: u64,
    pub oldest_enqueued_at_ms: Option<i64>,
}

/// Backend-neutral storage errors. Messages never contain stored values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Temporarily unable (locked, busy, I/O): the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store's files are unusable or from an unknown schema.
    #[error("store corrupt or incompatible: {0}")]
    Corrupt(String),
    /// The store's keys cannot be unwrapped or re-wrapped with the key given (the message
    /// says which setting to change).
    #[error("{0}")]
    Keys(String),
}

/// One ledger subject: its number, its keyed digest (16 bytes), its id sealed bound to that
/// digest, and its sealed contact email where the config keeps one.
#[derive(Debug, Clone, Copy)]
pub struct SubjectRow<'a> {
    pub id: u32,
    pub digest: &'a [u8],
    pub sealed: Option<&'a [u8]>,
    pub contact: Option<&'a [u8]>,
}

pub trait Store: Send + Sync + 'static {
    fn append(&self, rows: &[NewRow]) -> Result<(), StoreError>;
    fn lease(&self, destination: &str, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
    /// Records what the vendor has: `delivered` rows (as leased) leave the outbox and enter
    /// the ledger, `dead` ones move to the dead letters, in one transaction. Rows no longer
    /// queued are skipped, and a row listed twice enters the ledger once.
    fn complete(
        &self,
        destination: &str,
        delivered: &[OutboxRow],
        dead: &[(i64, String)],
        now_ms: i64,
    ) -> Result<(), StoreError>;
    fn note_attempt(&self, ids: &[i64]) -> Result<(), StoreError>;
    fn queue_stats(&self, destination: &str) -> Result<QueueStats, StoreError>;
    fn dead_letters(&self, destination: Option<&str>, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
    /// Moves dead letters back into the outbox (all of the destination's, or just `ids`).
    fn retry_dead_letters(&self, destination: Option<&str>, ids: &[i64], now_ms: i64) -> Result<usize, StoreError>;
    fn purge_dead_letters(&self, destination: Option<&str>, ids: &[i64]) -> Result<usize, StoreError>;
    fn destination_statuses(&self) -> Result<Vec<DestinationStatus>, StoreError>;
    fn set_destination_state(&self, name: &str, state: DestinationState, now_ms: i64) -> Result<(), StoreError>;
    fn add_dropped(&self, name: &str, n: u64) -> Result<(), StoreError>;
    /// Sealed pseudonym keys of a destination: (version, sealed bytes).
    fn key_versions(&self, destination: &str) -> Result<Vec<(u32, Vec<u8>)>, StoreError>;
    /// Adds a sealed key version; keeps an existing one of the same version.
    fn add_key(&self, destination: &str, version: u32, sealed: &[u8], now_ms: i64) -> Result<(), StoreError>;
    /// Recomputes every destination's ledger hash chain.
    fn verify_ledger(&self) -> Result<Vec<crate::ledger::Verification>, StoreError>;
    /// Deletes ledger entries delivered before `before_ms`, keeping the chain verifiable.
    fn prune_ledger(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// Ledger entries in order, resolved to names (for inspection and tests).
    fn ledger_entries(&self, destination: Option<&str>, limit: usize) -> Result<Vec<crate::ledger::Entry>, StoreError>;
    /// The ledger's interned names and sets.
    fn ledger_dict(&self) -> Result<crate::ledger::query::Dict, StoreError>;
    /// Linked subjects → their person: (subject, person), in subject order.
    fn ledger_links(&self) -> Result<Vec<(u32, u32)>, StoreError>;
    /// Visits rollups covering a destination's deliveries in `[from_ms, to_ms]`, one span
    /// (at most a day) at a time; `with_people` also hands over each span's per-person list
    /// (in its stored form; the rollup's own `people` is left empty, and so are the subject
    /// bitmaps of its first 63 groups, which the person list's group bits stand for).
    fn ledger_rollups(
        &self,
        destination: &str,
        from_ms: i64,
        to_ms: i64,
        with_people: bool,
        visit: &mut dyn FnMut(crate::ledger::rollup::Rollup, Option<crate::ledger::rollup::PeopleList>),
    ) -> Result<(), StoreError>;
    /// The first and last delivery to a destination in `[from_ms, to_ms]`, if any.
    fn ledger_delivery_span(
        &self,
        destination: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Option<(i64, i64)>, StoreError>;
    /// Rolls up closed days not rolled up yet; returns how many.
    fn roll_up_ledger(&self, now_ms: i64) -> Result<usize, StoreError>;
    /// Visits every subject in number order: (number, sealed id, sealed contact email).
    fn ledger_subjects(&self, visit: &mut dyn FnMut(SubjectRow<'_>)) -> Result<(), StoreError>;
    /// Visits the ids a destination knows: (subject, key version, id as the vendor knows it).
    fn ledger_vendor_ids(&self, destination: &str, visit: &mut dyn FnMut(u32, u32, &str)) -> Result<(), StoreError>;
    /// Saves an incident document (JSON; see [`crate::incident`]), creating it when `id` is
    /// `None`. Returns its id.
    fn save_incident(&self, id: Option<i64>, document: &str, now_ms: i64) -> Result<i64, StoreError>;
    /// Replaces an incident document only if it is still `expected` (compare-and-swap for
    /// read-modify-write); returns whether it was replaced.
    fn replace_incident(&self, id: i64, expected: &str, document: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// All incident documents, oldest first: (id, document).
    fn incidents(&self) -> Result<Vec<(i64, String)>, StoreError>;
    fn incident(&self, id: i64) -> Result<Option<String>, StoreError>;
    /// Bytes free inside the store's own files (pages new records reuse before the files
    /// grow), for the free-space headroom ([`space`]).
    fn reusable_bytes(&self) -> Result<u64, StoreError>;
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
