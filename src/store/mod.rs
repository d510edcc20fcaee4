//! Durable state behind focused traits: the outbox and its dead letters, destination control
//! state, pseudonym keys and the store's root key, the exposure ledger, and incidents.
//!
//! # Invariants
//!
//! - [`OutboxStore::append`] returns only after its rows are durable (committed and synced).
//!   The outbox calls it once per group commit, never per request.
//! - A row leaves the outbox only through [`OutboxStore::complete`], which in one transaction
//!   deletes the delivered rows, writes their exposure-ledger entries (extending the
//!   destination's hash chain), and moves the refused ones to the dead-letter table. A crash
//!   before it leaves the rows in place (they are delivered again, under the same
//!   idempotency key); a crash after it leaves nothing to redo.
//! - Rows of one destination are leased in the order they were appended.
//! - Destination control state (`active`, `suspended`, `dropping`) lives here, so the CLI
//!   can change it while `serve` runs; `serve` polls it.
//! - Nothing sealed or MAC'd is readable or writable without the store's keys, which are
//!   unwrapped with the master key ([`KeyStore`]).
//!
//! # Traits and operations
//!
//! | trait | operation | what it does |
//! |---|---|---|
//! | [`OutboxStore`] | `append` | insert rows for any destinations, one transaction, durable on return |
//! | | `lease` | the oldest rows of one destination |
//! | | `complete` | delete delivered rows (entering the ledger), dead-letter refused ones, one transaction |
//! | | `note_attempt` | count a failed delivery attempt on rows |
//! | | `queue_stats` | depth and oldest enqueue time of one destination |
//! | | `dead_letters` / `retry_dead_letters` / `purge_dead_letters` | operator tools |
//! | | `reusable_bytes` | free room inside the store, for the free-space headroom ([`space`]) |
//! | [`DestinationStore`] | `destination_statuses` / `set_destination_state` / `add_dropped` | the kill switch |
//! | [`KeyStore`] | `key_versions` / `add_key` | per-destination pseudonym keys, sealed under the store's keys |
//! | | `keys` / `store_keys` | the store's keys: as opened, or unwrapped with a master key given now |
//! | | `rewrap_root` / `reseal` | master-key rotation: online (root key re-wrapped) and offline (everything re-sealed) |
//! | [`LedgerStore`] | `verify_ledger` / `prune_ledger` / `ledger_entries` | the exposure ledger's hash chain and retention |
//! | | `ledger_dict` / `ledger_links` / `ledger_rollups` / `ledger_delivery_span` / `roll_up_ledger` | ledger queries (see [`crate::ledger::query`]) |
//! | | `ledger_subjects` / `ledger_vendor_ids` | notification lists and vendor deletion requests |
//! | | `reconcile_witness` | bring the ledger witness up to date before `serve` starts |
//! | [`IncidentStore`] | `save_incident` / `replace_incident` / `incidents` / `incident` | incident documents; `replace_incident` only if unchanged since read; each write extends the keyed incident chain |
//!
//! [`Store`] is all of them together (implemented for every type that implements each), so
//! the pipeline, the CLI and the admin API hold one `Arc<dyn Store>`; code that needs one
//! part takes that trait (`&dyn KeyStore`, `&dyn LedgerStore`).
//!
//! # Backends
//!
//! [`open`] opens the configured backend; [`lock_exclusive`] takes the lock that lets one
//! gateway at a time deliver from a store. The embedded backend is [`sqlite::SqliteStore`]
//! (WAL mode, `synchronous=FULL`). Errors are backend-neutral ([`StoreError`]), so one
//! conformance suite per trait (`conformance`, test builds only) runs against every backend.
//! What stays specific to the embedded backend: its directory and file modes ([`files`]), the
//! free-space headroom and its reserve file ([`space`]), and its schema migrations.

#[cfg(test)]
pub(crate) mod conformance;
pub mod files;
mod incident_chain;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod space;
pub mod sqlite;

use std::sync::Arc;

use crate::event::Kind;
use crate::ledger::Verification;
use crate::ledger::query::Dict;
use crate::ledger::rollup::{PeopleList, Rollup};
use crate::policy::keys::{MasterKey, StoreKeys};

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

/// Backend-neutral storage errors: what the caller can do about it, never a backend's own
/// error type. Messages never contain stored values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Temporarily unable (locked, busy, connection lost, I/O): the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store's storage is full: retried once room is made (the free-space headroom
    /// refuses ingest before this happens).
    #[error("store full: {0}")]
    Full(String),
    /// The write lost a race with another writer or broke a uniqueness rule: read again and
    /// decide.
    #[error("store conflict: {0}")]
    Conflict(String),
    /// What the operation names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The store's files or tables are unusable, from an unknown schema, or fail their
    /// integrity checks.
    #[error("store corrupt or incompatible: {0}")]
    Corrupt(String),
    /// The store's keys cannot be unwrapped or re-wrapped with the key given, or the
    /// operation needs the master key the store was opened without (the message says which
    /// setting to change).
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

/// How `serve` found the store against its ledger witness ([`LedgerStore::reconcile_witness`]).
#[derive(Debug, Default, PartialEq)]
pub struct WitnessStart {
    /// No witness is configured.
    pub not_configured: bool,
    /// The witness was started on this store now (its current heads written).
    pub started: bool,
    /// Destinations one batch ahead whose witness line was written now.
    pub repaired: Vec<String>,
    /// Destinations behind their witness, accepted with `--accept-rollback`.
    pub accepted_rollback: Vec<String>,
}

/// What `keys rotate-master --reseal` re-sealed and re-keyed ([`KeyStore::reseal`]).
#[derive(Debug, Default, PartialEq)]
pub struct Rewrapped {
    pub pseudonym_keys: u64,
    pub subject_ids: u64,
    pub queued_records: u64,
    pub batches: u64,
}

/// The durable queue between ingest and delivery, with its dead letters.
pub trait OutboxStore: Send + Sync {
    /// Inserts rows for any destinations in one transaction, durable when this returns.
    fn append(&self, rows: &[NewRow]) -> Result<(), StoreError>;
    /// The oldest `limit` rows of `destination`, in append order.
    fn lease(&self, destination: &str, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
    /// Records what the vendor has: `delivered` rows (as leased) leave the outbox and enter
    /// the ledger, `dead` ones move to the dead letters, in one transaction. Rows no longer
    /// queued (or of another destination) are skipped, and a row listed twice enters the
    /// ledger once. Delivered rows with exposure metadata need the master key
    /// ([`StoreError::Keys`] without it, and nothing changes).
    fn complete(
        &self,
        destination: &str,
        delivered: &[OutboxRow],
        dead: &[(i64, String)],
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Counts a failed delivery attempt on each of `ids`.
    fn note_attempt(&self, ids: &[i64]) -> Result<(), StoreError>;
    fn queue_stats(&self, destination: &str) -> Result<QueueStats, StoreError>;
    /// Dead letters (of one destination or all), oldest first.
    fn dead_letters(&self, destination: Option<&str>, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
    /// Moves dead letters back into the outbox (all of the destination's, or just `ids`).
    fn retry_dead_letters(&self, destination: Option<&str>, ids: &[i64], now_ms: i64) -> Result<usize, StoreError>;
    /// Deletes dead letters (all of the destination's, or just `ids`); returns how many.
    fn purge_dead_letters(&self, destination: Option<&str>, ids: &[i64]) -> Result<usize, StoreError>;
    /// Bytes free inside the store's own storage (room new records reuse before it grows),
    /// for the free-space headroom ([`space`]).
    fn reusable_bytes(&self) -> Result<u64, StoreError>;
}

/// Destination control state: the kill switch.
pub trait DestinationStore: Send + Sync {
    /// Every destination whose state was ever set, by name.
    fn destination_statuses(&self) -> Result<Vec<DestinationStatus>, StoreError>;
    fn set_destination_state(&self, name: &str, state: DestinationState, now_ms: i64) -> Result<(), StoreError>;
    /// Counts `n` records discarded while `dropping`.
    fn add_dropped(&self, name: &str, n: u64) -> Result<(), StoreError>;
}

/// Per-destination pseudonym keys and the store's root key (sealed under the master key).
pub trait KeyStore: Send + Sync {
    /// Sealed pseudonym keys of a destination: (version, sealed bytes), oldest first.
    fn key_versions(&self, destination: &str) -> Result<Vec<(u32, Vec<u8>)>, StoreError>;
    /// Adds a sealed key version; keeps an existing one of the same version (two processes
    /// creating a destination's first key agree on the one written first).
    fn add_key(&self, destination: &str, version: u32, sealed: &[u8], now_ms: i64) -> Result<(), StoreError>;
    /// The keys the store was opened with, if it was opened with the master key.
    fn keys(&self) -> Option<Arc<StoreKeys>>;
    /// The store's keys unwrapped with `master` (creating its root key if it has none yet),
    /// for a store opened without it: CLI commands beside a running `serve`. Another master
    /// key is refused ([`StoreError::Keys`], naming the settings).
    fn store_keys(&self, master: &MasterKey) -> Result<StoreKeys, StoreError>;
    /// Online master-key rotation: the store's root key is opened with `old` and sealed again
    /// under `new`, in one short write transaction; nothing else is rewritten, so ingest and
    /// delivery go on, and a running `serve` keeps its unwrapped keys. From now on the store
    /// opens only with `new`. Refused for a legacy store (no root key to re-wrap:
    /// [`KeyStore::reseal`] converts it) and when `old` does not open the root.
    fn rewrap_root(&self, old: &MasterKey, new: &MasterKey) -> Result<(), StoreError>;
    /// Offline master-key rotation: a fresh root key, sealed under `new`, replaces the one
    /// this store was opened with, in one transaction; everything sealed (pseudonym keys,
    /// subject ids and contact emails, in the ledger and in queued and dead-lettered records'
    /// metadata) is sealed again and everything MAC'd (ledger chains, dictionary, rows,
    /// incident chain) MAC'd again under it. Refused unless the ledger verifies first, and
    /// while `serve` runs (the caller holds [`lock_exclusive`]). Returns the new keys: the
    /// caller re-keys the audit log and restarts the witness under them.
    fn reseal(&self, new: &MasterKey) -> Result<(Rewrapped, StoreKeys), StoreError>;
}

/// The exposure ledger (written by [`OutboxStore::complete`]): verification, retention and
/// the reads incident reports are built from.
pub trait LedgerStore: Send + Sync {
    /// Recomputes every destination's ledger hash chain (and the incident chain, the ledger's
    /// rows and the witness, where the store has them). Needs the master key
    /// ([`StoreError::Keys`]).
    fn verify_ledger(&self) -> Result<Vec<Verification>, StoreError>;
    /// Deletes ledger entries delivered before `before_ms`, keeping the chain verifiable.
    fn prune_ledger(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// Ledger entries in order, resolved to names (for inspection and tests).
    fn ledger_entries(&self, destination: Option<&str>, limit: usize) -> Result<Vec<crate::ledger::Entry>, StoreError>;
    /// The ledger's interned names and sets.
    fn ledger_dict(&self) -> Result<Dict, StoreError>;
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
        visit: &mut dyn FnMut(Rollup, Option<PeopleList>),
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
    /// Brings the ledger witness up to date before `serve` starts: starts it on a store that
    /// has batches but no witness yet, writes the line of a destination one batch ahead (a
    /// crash between commit and append), and refuses a store behind its witness (rolled back
    /// to an older copy) unless `accept_rollback`, which writes the store's current heads as
    /// the new witnessed ones. Anything else the witness contradicts is refused
    /// ([`StoreError::Corrupt`]).
    fn reconcile_witness(&self, accept_rollback: bool) -> Result<WitnessStart, StoreError>;
}

/// Incident documents with their revisions (see [`crate::incident`]).
pub trait IncidentStore: Send + Sync {
    /// Saves an incident document (JSON), creating it when `id` is `None`. Returns its id;
    /// [`StoreError::NotFound`] for an `id` that does not exist. Needs the master key
    /// ([`StoreError::Keys`]), as does [`IncidentStore::replace_incident`].
    fn save_incident(&self, id: Option<i64>, document: &str, now_ms: i64) -> Result<i64, StoreError>;
    /// Replaces an incident document only if it is still `expected` (compare-and-swap for
    /// read-modify-write); returns whether it was replaced.
    fn replace_incident(&self, id: i64, expected: &str, document: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// All incident documents, oldest first: (id, document).
    fn incidents(&self) -> Result<Vec<(i64, String)>, StoreError>;
    fn incident(&self, id: i64) -> Result<Option<String>, StoreError>;
}

/// Everything a backend stores: what `serve`, the CLI and the admin API hold.
pub trait Store: OutboxStore + DestinationStore + KeyStore + LedgerStore + IncidentStore + 'static {}

impl<T: OutboxStore + DestinationStore + KeyStore + LedgerStore + IncidentStore + 'static> Store for T {}

/// Opens the configured store: with `master`, its keys are unwrapped (deliveries can be
/// recorded, the ledger verified, incidents written) and the ledger witness, if
/// `[ledger] witness_path` is set, is appended to; without it, the outbox and every read
/// work. `space` is the free-space headroom whose reserve file the embedded backend gives up
/// when a delivery record hits a full disk.
///
/// The embedded backend is the one this build opens; another backend selected in `[store]`
/// is one more arm here, returning its own [`Store`].
pub fn open(
    config: &crate::config::Config,
    master: Option<&MasterKey>,
    space: Option<Arc<space::Space>>,
) -> Result<Arc<dyn Store>, StoreError> {
    config.store.require_embedded().map_err(StoreError::Unavailable)?;
    let mut store = match master {
        Some(m) => sqlite::SqliteStore::open_keyed(&config.store.path, m)?,
        None => sqlite::SqliteStore::open(&config.store.path)?,
    };
    if let (Some(path), Some(keys)) = (&config.ledger.witness_path, store.keys()) {
        store = store.with_witness(crate::ledger::witness::Witness::new(
            path.clone(),
            keys.mac_key(crate::ledger::WITNESS_PURPOSE),
        ));
    }
    if let Some(space) = space {
        store = store.with_space(space);
    }
    Ok(Arc::new(store))
}

/// Held while one gateway delivers from a store (see [`lock_exclusive`]); released when
/// dropped, or by the operating system however the process ends.
#[derive(Debug)]
pub struct StoreLock {
    _file: std::fs::File,
}

/// Takes the store's `serve` lock: two gateways on one embedded store would each lease the
/// same queued rows and deliver them twice, and `keys rotate-master --reseal` rewrites what a
/// running one holds. Fails ([`StoreError::Conflict`]) while another process holds it. For the
/// embedded backend it is `<store.path>/serve.lock`, locked with the operating system's file
/// lock. CLI commands that only read or append do not take it.
pub fn lock_exclusive(config: &crate::config::Config) -> Result<StoreLock, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    config.store.require_embedded().map_err(StoreError::Unavailable)?;
    let dir = &config.store.path;
    files::secure_store_dir(dir)
        .map_err(|e| StoreError::Unavailable(format!("cannot create the store directory {}: {e}", dir.display())))?;
    let path = dir.join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .mode(0o600)
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(StoreLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Conflict(format!(
            "another vendorwall gateway is running on the store at {}: only one may deliver from a store",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StoreError::Unavailable(format!("cannot lock {}: {e}", path.display())))
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
