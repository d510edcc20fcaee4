//! The embedded store: one SQLite database in WAL mode.
//!
//! On-disk layout: `<store.path>/vendorwall.db` (plus SQLite's `-wal` and `-shm` files).
//!
//! ```sql
//! outbox(id INTEGER PRIMARY KEY, destination TEXT, kind INTEGER, payload BLOB,
//!        enqueued_at INTEGER, attempts INTEGER, meta BLOB)  -- index (destination, id)
//! dead_letters(id INTEGER PRIMARY KEY, destination TEXT, kind INTEGER, payload BLOB,
//!        enqueued_at INTEGER, attempts INTEGER, reason TEXT, failed_at INTEGER)
//! destinations(name TEXT PRIMARY KEY, state TEXT, dropped INTEGER, updated_at INTEGER)
//! destination_keys(destination TEXT, version INTEGER, sealed BLOB, created_at INTEGER)
//! ledger_*                                                -- see `ledger.rs`
//! incidents(id INTEGER PRIMARY KEY, updated_at INTEGER, document TEXT)  -- JSON, all revisions
//! incident_revisions(seq, incident, revision, at, digest, link)  -- see `incidents.rs`
//! meta(key TEXT PRIMARY KEY, value TEXT)                   -- schema_version, key_root, …
//! ```
//!
//! `meta.key_root` is the store's root key sealed under the master key
//! (`v1:<master key id>:<base64>`), or `legacy` for a store created before the root key
//! existed, whose keys derive from the master key itself (see `policy::keys`). It is written
//! on the first keyed open: `legacy` if the store already holds anything sealed or MAC'd
//! (pseudonym keys, subjects, batches, queued exposure metadata, ledger seals), else a fresh
//! random root.
//!
//! `synchronous=FULL`: a commit is fsynced before `append` returns, so an acknowledged record
//! survives an OS crash, not only a process crash. Group commit keeps that affordable.
//! Writes go through one connection, reads through another (WAL lets them overlap).

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    DeadLetter, DestinationState, DestinationStatus, DestinationStore, IncidentStore, KeyStore, LedgerStore, NewRow,
    OutboxRow, OutboxStore, QueueStats, Rewrapped, StoreError, WitnessStart,
};
use crate::event::Kind;
use crate::ledger::ChainKey;
use crate::ledger::witness::Witness;
use crate::policy::keys::{LEGACY_ROOT, MasterKey, StoreKeys, SubjectPart};

/// Version 6: every write of an incident document extends a keyed chain of revisions
/// (`incidents.rs`); a version-5 store's incidents are chained on its first open with the
/// master key. Version 5: the ledger's chains are keyed (HMAC under a key derived from the
/// master key); a version-4 store is re-keyed on its first open with the master key.
const SCHEMA_VERSION: &str = "6";

/// The version earlier stores are brought to without the master key; the incident chain,
/// which needs it, moves them on to [`SCHEMA_VERSION`].
const UNCHAINED_INCIDENTS_VERSION: &str = "5";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    kind INTEGER NOT NULL,
    payload BLOB NOT NULL,
    enqueued_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    meta BLOB
);
CREATE INDEX IF NOT EXISTS outbox_by_destination ON outbox (destination, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    kind INTEGER NOT NULL,
    payload BLOB NOT NULL,
    enqueued_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    failed_at INTEGER NOT NULL,
    meta BLOB
);
CREATE INDEX IF NOT EXISTS dead_letters_by_destination ON dead_letters (destination, id);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY,
    updated_at INTEGER NOT NULL,
    document TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS destination_keys (
    destination TEXT NOT NULL,
    version INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (destination, version)
);
CREATE TABLE IF NOT EXISTS destinations (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    dropped INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
";

pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    reader: Mutex<Connection>,
    /// The ledger's interning caches; locked only while the writer is held.
    ledger_cache: Mutex<ledger::Cache>,
    /// The key the ledger's chains are MAC'd with; without it (a store opened without the
    /// master key) deliveries cannot be recorded and the ledger cannot be verified.
    chain_key: Option<ChainKey>,
    /// Where each batch's chain head is witnessed, if configured.
    witness: Option<Witness>,
    /// The store's keys, unwrapped with the master key it was opened with.
    keys: Option<Arc<StoreKeys>>,
    /// The key incident revisions are chained under (purpose `incident chain`); without it
    /// incidents can be read but not written.
    incident_key: Option<ring::hmac::Key>,
    /// The free-space headroom whose reserve file is given up when a delivery record hits a
    /// full disk, if `serve` set one.
    space: Option<std::sync::Arc<crate::store::space::Space>>,
}

fn err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(DatabaseCorrupt | NotADatabase) => StoreError::Corrupt(e.to_string()),
        Some(DiskFull) => StoreError::Full(e.to_string()),
        Some(ConstraintViolation) => StoreError::Conflict(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves the connection usable: SQLite rolls back an
    // unfinished transaction when the next one begins.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteStore {
    /// Opens (creating if needed) the store in directory `dir`, without the master key: the
    /// outbox and every read work, but deliveries cannot enter the ledger and the ledger
    /// cannot be verified. `serve` uses [`SqliteStore::open_keyed`].
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(dir, None)
    }

    /// Opens the store with the master key: its root key is unwrapped (or, on a store's first
    /// keyed open, created) and the ledger's chains are MAC'd under a key derived from it. A
    /// store whose chains are still unkeyed (written before version 5) is re-keyed here, in one
    /// transaction. A root key sealed under another master key is refused
    /// ([`StoreError::Keys`], naming the settings).
    pub fn open_keyed(dir: &Path, master: &MasterKey) -> Result<SqliteStore, StoreError> {
        Self::open_with(dir, Some(master))
    }

    /// Gives up `space`'s reserve file when a delivery record hits a full disk, and retries.
    pub fn with_space(mut self, space: std::sync::Arc<crate::store::space::Space>) -> SqliteStore {
        self.space = Some(space);
        self
    }

    /// Appends each ledger batch's chain head to `witness` from now on.
    pub fn with_witness(mut self, witness: Witness) -> SqliteStore {
        self.witness = Some(witness);
        self
    }

    fn open_with(dir: &Path, master: Option<&MasterKey>) -> Result<SqliteStore, StoreError> {
        super::files::secure_store_dir(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("vendorwall.db");
        // Created private before SQLite opens it: SQLite gives the `-wal` and `-shm` files
        // the database file's mode.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", path.display())))?;
        let mut writer = Self::connect(&path)?;
        writer.execute_batch(SCHEMA).map_err(err)?;
        let version: Option<String> = writer
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        let set_version = |c: &Connection| {
            c.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                [UNCHAINED_INCIDENTS_VERSION],
            )
            .map_err(err)
        };
        match version.as_deref() {
            None => {
                writer.execute_batch(ledger::SCHEMA).map_err(err)?;
                writer
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                        [SCHEMA_VERSION],
                    )
                    .map_err(err)?;
            }
            Some(SCHEMA_VERSION | UNCHAINED_INCIDENTS_VERSION) => writer.execute_batch(ledger::SCHEMA).map_err(err)?,
            Some("1") => {
                // Version 2 added the rows' exposure metadata; the ledger tables (version 3's)
                // were created above.
                writer
                    .execute_batch(
                        "ALTER TABLE outbox ADD COLUMN meta BLOB;
                         ALTER TABLE dead_letters ADD COLUMN meta BLOB;",
                    )
                    .map_err(err)?;
                writer.execute_batch(ledger::SCHEMA).map_err(err)?;
                set_version(&writer)?;
            }
            Some("4") => {
                // Version 5 keys the chains: re-keyed below when the master key is at hand.
                writer.execute_batch(ledger::SCHEMA).map_err(err)?;
                set_version(&writer)?;
            }
            Some("3") => {
                // Version 4 writes the rows' exposure metadata in a binary form. Rows queued
                // as JSON are still read; the version changes so that an earlier build, which
                // reads only JSON, refuses the store instead of delivering rows unrecorded.
                writer.execute_batch(ledger::SCHEMA).map_err(err)?;
                set_version(&writer)?;
            }
            Some("2") => {
                // Version 3 stores each batch's entries as one compact body and interns names.
                let tx = writer.transaction().map_err(err)?;
                tx.execute_batch(ledger::SCHEMA).map_err(err)?;
                ledger::migrate_v2(&tx).map_err(err)?;
                set_version(&tx)?;
                tx.commit().map_err(err)?;
            }
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "schema version {other} is not supported by this build (expects {SCHEMA_VERSION})"
                )));
            }
        }
        ledger::add_mac_columns(&writer).map_err(err)?;
        let keys = master.map(|m| root_keys(&writer, m)).transpose()?.map(Arc::new);
        let chain_key = keys.as_deref().map(ChainKey::derive);
        writer.execute_batch(incidents::SCHEMA).map_err(err)?;
        let incident_key = chain_key.as_ref().and_then(incidents::key_of);
        if let Some(key) = &incident_key {
            let tx = writer
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(err)?;
            let version: String = tx
                .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
                .map_err(err)?;
            if version == UNCHAINED_INCIDENTS_VERSION {
                let n = incidents::chain_existing(&tx, key)?;
                tx.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                    [SCHEMA_VERSION],
                )
                .map_err(err)?;
                tx.commit().map_err(err)?;
                if n > 0 {
                    tracing::info!(incidents = n, "existing incidents were chained under the master key");
                }
            }
        }
        if let Some(key) = &chain_key {
            if ledger::needs_rekey(&writer).map_err(err)? {
                let tx = writer.transaction().map_err(err)?;
                let n = ledger::rekey(&tx, key).map_err(err)?;
                tx.commit().map_err(err)?;
                if n > 0 {
                    tracing::info!(batches = n, "the ledger's chains were re-keyed under the master key");
                }
            }
            ledger::seal_dictionary_if_missing(&writer, key).map_err(err)?;
        }
        let reader = Self::connect(&path)?;
        Ok(SqliteStore {
            path,
            writer: Writer::new(writer),
            reader: Mutex::new(reader),
            ledger_cache: Mutex::new(ledger::Cache::default()),
            chain_key,
            witness: None,
            keys,
            incident_key,
            space: None,
        })
    }

    /// The incident chain's key, or why incidents cannot be written.
    fn incident_writes(&self) -> Result<&ring::hmac::Key, StoreError> {
        self.incident_key.as_ref().ok_or_else(|| {
            StoreError::Keys("the store was opened without the master key: incidents cannot be recorded".into())
        })
    }

    fn connect(path: &Path) -> Result<Connection, StoreError> {
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(err)?;
        // Deleted rows (delivered payloads, purged dead letters) are overwritten with zeros,
        // on freelist pages too, instead of lingering in the file until the page is reused
        // (https://www.sqlite.org/pragma.html#pragma_secure_delete). `FAST` would leave them
        // on freelist pages, which is where a drained outbox's pages go.
        conn.pragma_update(None, "secure_delete", "ON").map_err(err)?;
        // The writer keeps ~15 statements in steady state (appends, acknowledgements, the
        // ledger's interning, roll-ups); rusqlite's default cache holds 16.
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A connection of its own for long ledger reads (incident queries, exports, roll-ups,
    /// verification), so they never hold up the reader that delivery leases through.
    fn query_connection(&self) -> Result<Connection, StoreError> {
        Self::connect(&self.path)
    }
}

impl SqliteStore {
    /// `complete` without ledger entries (only refused rows to dead-letter, or delivered rows
    /// that carry no exposure metadata).
    fn complete_unrecorded(
        &self,
        destination: &str,
        delivered: &[OutboxRow],
        dead: &[(i64, String)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(err)?;
        for r in delivered {
            tx.execute(
                "DELETE FROM outbox WHERE id = ?1 AND destination = ?2",
                params![r.id, destination],
            )
            .map_err(err)?;
        }
        for (id, reason) in dead {
            tx.execute(
                "INSERT INTO dead_letters (destination, kind, payload, enqueued_at, attempts, reason, failed_at, meta)
                 SELECT destination, kind, payload, enqueued_at, attempts + 1, ?2, ?3, meta FROM outbox
                 WHERE id = ?1 AND destination = ?4",
                params![id, reason, now_ms, destination],
            )
            .map_err(err)?;
            tx.execute(
                "DELETE FROM outbox WHERE id = ?1 AND destination = ?2",
                params![id, destination],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}

impl SqliteStore {
    /// `complete` with ledger entries: one transaction, then the witness line.
    fn complete_recorded(
        &self,
        key: &ChainKey,
        destination: &str,
        delivered: &[OutboxRow],
        dead: &[(i64, String)],
        now_ms: i64,
    ) -> rusqlite::Result<()> {
        let mut conn = self.writer.lock();
        let mut cache = match self.ledger_cache.lock() {
            Ok(cache) => cache,
            Err(poisoned) => {
                // A panic inside an earlier `complete`: its transaction rolled back, so ids
                // the cache learnt in it may be handed out again. Forget them.
                let mut cache = poisoned.into_inner();
                cache.clear();
                self.ledger_cache.clear_poison();
                cache
            }
        };
        let result = (|| -> rusqlite::Result<Option<(i64, [u8; 32])>> {
            let tx = conn.transaction()?;
            let batch;
            {
                let mut move_dead = tx.prepare_cached(
                    "INSERT INTO dead_letters (destination, kind, payload, enqueued_at, attempts, reason, failed_at, meta)
                     SELECT destination, kind, payload, enqueued_at, attempts + 1, ?2, ?3, meta FROM outbox
                     WHERE id = ?1 AND destination = ?4",
                )?;
                for (id, reason) in dead {
                    move_dead.execute(params![id, reason, now_ms, destination])?;
                }
                let gone: Vec<i64> = delivered
                    .iter()
                    .map(|r| r.id)
                    .chain(dead.iter().map(|(id, _)| *id))
                    .collect();
                let mut removed = Vec::with_capacity(gone.len());
                let mut delete = tx.prepare_cached(&DELETE_CHUNK_SQL)?;
                for chunk in gone.chunks(DELETE_CHUNK) {
                    // A short chunk repeats its first id: one statement text, prepared once.
                    let ids = (0..DELETE_CHUNK).map(|i| chunk.get(i).unwrap_or(&chunk[0]));
                    let params = std::iter::once(&destination as &dyn rusqlite::ToSql)
                        .chain(ids.map(|id| id as &dyn rusqlite::ToSql));
                    for id in delete.query_map(rusqlite::params_from_iter(params), |r| r.get::<_, i64>(0))? {
                        removed.push(id?);
                    }
                }
                // Only rows this transaction removed enter the ledger, each once, in outbox
                // order, with the metadata read at lease time (rows never change while queued).
                removed.sort_unstable();
                let mut metas: Vec<(i64, &[u8])> = delivered
                    .iter()
                    .filter(|r| removed.binary_search(&r.id).is_ok())
                    .filter_map(|r| Some((r.id, r.meta.as_deref()?)))
                    .collect();
                metas.sort_unstable_by_key(|&(id, _)| id);
                metas.dedup_by_key(|&mut (id, _)| id);
                let metas: Vec<&[u8]> = metas.into_iter().map(|(_, m)| m).collect();
                batch = ledger::record_delivery(&tx, &mut cache, key, destination, &metas, now_ms)?;
            }
            tx.commit()?;
            Ok(batch)
        })();
        // Whatever failed, the transaction rolled back: ids the cache learnt in it may be
        // handed out again, so forget them.
        if result.is_err() {
            cache.clear();
        }
        let batch = result?;
        drop((cache, conn));
        // Witnessed after the commit and outside the writer lock (one worker per destination
        // keeps each destination's lines in order). A line that cannot be written is kept and
        // written with the next; a crash before it leaves the store one batch ahead, which
        // `serve` repairs on start.
        if let (Some(w), Some((id, head))) = (&self.witness, batch)
            && let Err(e) = w.append(&[(destination, id, head)])
        {
            tracing::error!(error = %e, destination, "cannot append to the ledger witness");
        }
        Ok(())
    }
}

fn is_disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// Whether a store without a `key_root` already holds data sealed or MAC'd under keys derived
/// from the master key itself (written before the root key existed).
fn has_legacy_material(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM destination_keys)
             OR EXISTS (SELECT 1 FROM ledger_subjects)
             OR EXISTS (SELECT 1 FROM ledger_batches)
             OR EXISTS (SELECT 1 FROM outbox WHERE meta IS NOT NULL)
             OR EXISTS (SELECT 1 FROM dead_letters WHERE meta IS NOT NULL)
             OR EXISTS (SELECT 1 FROM meta WHERE key IN ('ledger_dictionary', 'ledger_rows', 'ledger_chain', 'ledger_witness'))",
        [],
        |r| r.get(0),
    )
}

fn root_record(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = 'key_root'", [], |r| r.get(0))
        .optional()
}

/// The store's keys: its `key_root` unwrapped with `master`, written first if the store has
/// none (`legacy` for a store with master-keyed data, else a fresh random root). Two processes
/// doing this at once agree: the first record written stands and both read it.
fn root_keys(conn: &Connection, master: &MasterKey) -> Result<StoreKeys, StoreError> {
    let keys_error = |e: crate::policy::keys::KeyError| StoreError::Keys(e.to_string());
    let record = match root_record(conn).map_err(err)? {
        Some(r) => r,
        None => {
            let (record, fresh) = if has_legacy_material(conn).map_err(err)? {
                (LEGACY_ROOT.to_owned(), None)
            } else {
                let root = StoreKeys::generate(master).map_err(keys_error)?;
                (root.record, Some(root.keys))
            };
            let written = conn
                .execute(
                    "INSERT INTO meta (key, value) VALUES ('key_root', ?1) ON CONFLICT (key) DO NOTHING",
                    [&record],
                )
                .map_err(err)?;
            match fresh {
                Some(keys) if written == 1 => return Ok(keys),
                _ if written == 1 => record,
                _ => root_record(conn)
                    .map_err(err)?
                    .ok_or_else(|| StoreError::Corrupt("the store's root key record vanished".into()))?,
            }
        }
    };
    StoreKeys::unwrap(&record, master).map_err(keys_error)
}

/// Rows deleted per statement by `complete`.
const DELETE_CHUNK: usize = 500;

/// `DELETE … WHERE destination = ?1 AND id IN (?2, …) RETURNING id` with `DELETE_CHUNK` ids.
static DELETE_CHUNK_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let ids: Vec<String> = (2..DELETE_CHUNK + 2).map(|i| format!("?{i}")).collect();
    format!(
        "DELETE FROM outbox WHERE destination = ?1 AND id IN ({}) RETURNING id",
        ids.join(",")
    )
});

fn kind_of(code: i64) -> Kind {
    Kind::from_code(code).unwrap_or(Kind::Track)
}

fn id_list(ids: &[i64]) -> String {
    let mut s = String::with_capacity(ids.len() * 8);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.to_string());
    }
    s
}

impl OutboxStore for SqliteStore {
    fn append(&self, rows: &[NewRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer.lock_ingest();
        let tx = conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO outbox (destination, kind, payload, enqueued_at, meta) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            for r in rows {
                stmt.execute(params![
                    r.destination,
                    r.kind.code(),
                    r.payload,
                    r.enqueued_at_ms,
                    r.meta
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn lease(&self, destination: &str, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, kind, payload, enqueued_at, attempts, meta FROM outbox WHERE destination = ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![destination, limit as i64], |r| {
                Ok(OutboxRow {
                    id: r.get(0)?,
                    kind: kind_of(r.get(1)?),
                    payload: r.get(2)?,
                    enqueued_at_ms: r.get(3)?,
                    attempts: r.get(4)?,
                    meta: r.get(5)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn complete(
        &self,
        destination: &str,
        delivered: &[OutboxRow],
        dead: &[(i64, String)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let Some(key) = &self.chain_key else {
            if delivered.iter().any(|r| r.meta.is_some()) {
                return Err(StoreError::Keys(
                    "the store was opened without the master key: deliveries cannot be recorded in the ledger".into(),
                ));
            }
            return self.complete_unrecorded(destination, delivered, dead, now_ms);
        };
        // A disk that filled from outside vendorwall: the reserve file is given up once so
        // this record (which lets the outbox shrink) can commit.
        match self.complete_recorded(key, destination, delivered, dead, now_ms) {
            Err(e) if is_disk_full(&e) && self.space.as_ref().is_some_and(|s| s.release_reserve()) => self
                .complete_recorded(key, destination, delivered, dead, now_ms)
                .map_err(err),
            r => r.map_err(err),
        }
    }

    fn note_attempt(&self, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let conn = self.writer.lock();
        conn.execute(
            &format!(
                "UPDATE outbox SET attempts = attempts + 1 WHERE id IN ({})",
                id_list(ids)
            ),
            [],
        )
        .map_err(err)?;
        Ok(())
    }

    fn queue_stats(&self, destination: &str) -> Result<QueueStats, StoreError> {
        let conn = lock(&self.reader);
        let depth: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM outbox WHERE destination = ?1")
            .and_then(|mut s| s.query_row([destination], |r| r.get(0)))
            .map_err(err)?;
        let oldest: Option<i64> = conn
            .prepare_cached("SELECT enqueued_at FROM outbox WHERE destination = ?1 ORDER BY id LIMIT 1")
            .and_then(|mut s| s.query_row([destination], |r| r.get(0)).optional())
            .map_err(err)?;
        Ok(QueueStats {
            depth: depth as u64,
            oldest_enqueued_at_ms: oldest,
        })
    }

    fn dead_letters(&self, destination: Option<&str>, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, destination, kind, reason, enqueued_at, failed_at, attempts, length(payload)
                 FROM dead_letters WHERE (?1 IS NULL OR destination = ?1) ORDER BY id LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![destination, limit as i64], |r| {
                Ok(DeadLetter {
                    id: r.get(0)?,
                    destination: r.get(1)?,
                    kind: kind_of(r.get(2)?),
                    reason: r.get(3)?,
                    enqueued_at_ms: r.get(4)?,
                    failed_at_ms: r.get(5)?,
                    attempts: r.get(6)?,
                    payload_bytes: r.get::<_, i64>(7)? as usize,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn retry_dead_letters(&self, destination: Option<&str>, ids: &[i64], now_ms: i64) -> Result<usize, StoreError> {
        let filter = dead_letter_filter(ids);
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(err)?;
        let n = tx
            .execute(
                &format!(
                    "INSERT INTO outbox (destination, kind, payload, enqueued_at, attempts, meta)
                     SELECT destination, kind, payload, ?2, 0, meta FROM dead_letters
                     WHERE (?1 IS NULL OR destination = ?1) {filter} ORDER BY id"
                ),
                params![destination, now_ms],
            )
            .map_err(err)?;
        tx.execute(
            &format!("DELETE FROM dead_letters WHERE (?1 IS NULL OR destination = ?1) {filter}"),
            params![destination],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(n)
    }

    fn purge_dead_letters(&self, destination: Option<&str>, ids: &[i64]) -> Result<usize, StoreError> {
        let conn = self.writer.lock();
        conn.execute(
            &format!(
                "DELETE FROM dead_letters WHERE (?1 IS NULL OR destination = ?1) {}",
                dead_letter_filter(ids)
            ),
            params![destination],
        )
        .map_err(err)
    }

    fn reusable_bytes(&self) -> Result<u64, StoreError> {
        let conn = lock(&self.reader);
        let pages: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0)).map_err(err)?;
        let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(err)?;
        Ok((pages.max(0) as u64).saturating_mul(size.max(0) as u64))
    }
}

impl DestinationStore for SqliteStore {
    fn destination_statuses(&self) -> Result<Vec<DestinationStatus>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare_cached("SELECT name, state, dropped, updated_at FROM destinations ORDER BY name")
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                let state: String = r.get(1)?;
                Ok(DestinationStatus {
                    name: r.get(0)?,
                    state: DestinationState::parse(&state).unwrap_or(DestinationState::Active),
                    dropped: r.get::<_, i64>(2)? as u64,
                    updated_at_ms: r.get(3)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn set_destination_state(&self, name: &str, state: DestinationState, now_ms: i64) -> Result<(), StoreError> {
        let conn = self.writer.lock();
        conn.execute(
            "INSERT INTO destinations (name, state, dropped, updated_at) VALUES (?1, ?2, 0, ?3)
             ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            params![name, state.as_str(), now_ms],
        )
        .map_err(err)?;
        Ok(())
    }

    fn add_dropped(&self, name: &str, n: u64) -> Result<(), StoreError> {
        let conn = self.writer.lock();
        conn.execute(
            "INSERT INTO destinations (name, state, dropped, updated_at) VALUES (?1, 'dropping', ?2, 0)
             ON CONFLICT (name) DO UPDATE SET dropped = dropped + excluded.dropped",
            params![name, n as i64],
        )
        .map_err(err)?;
        Ok(())
    }
}

impl KeyStore for SqliteStore {
    fn key_versions(&self, destination: &str) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare_cached("SELECT version, sealed FROM destination_keys WHERE destination = ?1 ORDER BY version")
            .map_err(err)?;
        let rows = stmt
            .query_map([destination], |r| Ok((r.get::<_, i64>(0)? as u32, r.get(1)?)))
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn add_key(&self, destination: &str, version: u32, sealed: &[u8], now_ms: i64) -> Result<(), StoreError> {
        let conn = self.writer.lock();
        conn.execute(
            "INSERT OR IGNORE INTO destination_keys (destination, version, sealed, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![destination, version as i64, sealed, now_ms],
        )
        .map_err(err)?;
        Ok(())
    }

    fn keys(&self) -> Option<Arc<StoreKeys>> {
        self.keys.clone()
    }

    fn store_keys(&self, master: &MasterKey) -> Result<StoreKeys, StoreError> {
        root_keys(&self.writer.lock(), master)
    }

    // SQLite's busy timeout waits out a running `serve`'s group commits.
    fn rewrap_root(&self, old: &MasterKey, new: &MasterKey) -> Result<(), StoreError> {
        let keys_error = |e: crate::policy::keys::KeyError| StoreError::Keys(e.to_string());
        let mut conn = self.writer.lock();
        // A store never opened with a key gets its root first (under `old`).
        root_keys(&conn, old)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let record = root_record(&tx)
            .map_err(err)?
            .ok_or_else(|| StoreError::Corrupt("the store has no root key record".into()))?;
        let again = StoreKeys::rewrap(&record, old, new).map_err(keys_error)?;
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'key_root'", [&again])
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    // Ids are sealed again bound to their subject, which also upgrades a legacy store's
    // unbound blobs.
    fn reseal(&self, new: &MasterKey) -> Result<(Rewrapped, StoreKeys), StoreError> {
        let (Some(old_chain), Some(old)) = (self.chain_key.as_ref(), self.keys.as_deref()) else {
            return Err(StoreError::Keys(
                "re-sealing the store needs the current master key".into(),
            ));
        };
        let failed: Vec<String> = self
            .verify_ledger()?
            .into_iter()
            .filter(|v| !v.ok())
            .map(|v| v.destination)
            .collect();
        if !failed.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "the ledger does not verify ({}): run `vendorwall ledger verify`; the store is not re-sealed over a tampered ledger",
                failed.join(", ")
            )));
        }
        let root = StoreKeys::generate(new).map_err(|e| StoreError::Keys(e.to_string()))?;
        let fresh = root.keys;
        let unsealable = |what: &str| StoreError::Corrupt(format!("{what} does not open with the current keys"));
        let sealing = |e: crate::policy::keys::KeyError| StoreError::Unavailable(e.to_string());
        let reseal_subject = |part: SubjectPart, digest: &[u8; 16], sealed: &[u8], what: &str| {
            let plain = old.open_subject(part, digest, sealed).ok_or_else(|| unsealable(what))?;
            fresh.seal_subject(part, digest, &plain).map_err(sealing)
        };
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(err)?;
        let mut out = Rewrapped::default();
        {
            let keys: Vec<(String, i64, Vec<u8>)> = tx
                .prepare("SELECT destination, version, sealed FROM destination_keys")
                .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
                .map_err(err)?;
            for (d, v, sealed) in keys {
                let aad = crate::policy::keys::aad(&d, v as u32);
                let plain = old
                    .open_key(&aad, &sealed)
                    .ok_or_else(|| unsealable(&format!("the pseudonym key of `{d}` version {v}")))?;
                let again = fresh.seal_key(&aad, &plain).map_err(sealing)?;
                tx.execute(
                    "UPDATE destination_keys SET sealed = ?3 WHERE destination = ?1 AND version = ?2",
                    params![d, v, again],
                )
                .map_err(err)?;
                out.pseudonym_keys += 1;
            }
            type Sealed = (i64, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);
            let subjects: Vec<Sealed> = tx
                .prepare("SELECT id, digest, sealed, contact FROM ledger_subjects")
                .and_then(|mut st| {
                    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                        .collect()
                })
                .map_err(err)?;
            for (id, digest, sealed, contact) in subjects {
                let what = format!("the sealed id of subject {id}");
                let digest: [u8; 16] = digest.as_slice().try_into().map_err(|_| unsealable(&what))?;
                let sealed = sealed
                    .map(|b| reseal_subject(SubjectPart::Id, &digest, &b, &what))
                    .transpose()?;
                let contact = contact
                    .map(|b| reseal_subject(SubjectPart::Contact, &digest, &b, &what))
                    .transpose()?;
                tx.execute(
                    "UPDATE ledger_subjects SET sealed = ?2, contact = ?3 WHERE id = ?1",
                    params![id, sealed, contact],
                )
                .map_err(err)?;
                out.subject_ids += 1;
            }
            for table in ["outbox", "dead_letters"] {
                let metas: Vec<(i64, Vec<u8>)> = tx
                    .prepare(&format!("SELECT id, meta FROM {table} WHERE meta IS NOT NULL"))
                    .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                    .map_err(err)?;
                for (id, meta) in metas {
                    let Ok(mut x) = crate::ledger::codec::decode_meta(&meta) else {
                        continue; // never enters the ledger (`record_delivery` counts it)
                    };
                    let what = format!("a sealed id of queued record {id}");
                    let again =
                        |part: SubjectPart, digest: Option<&str>, v: &mut Option<String>| -> Result<(), StoreError> {
                            use base64::Engine as _;
                            let b64 = &base64::engine::general_purpose::STANDARD;
                            if let Some(text) = v.as_deref() {
                                let digest = digest
                                    .and_then(crate::ledger::digest_bytes)
                                    .ok_or_else(|| unsealable(&what))?;
                                let bytes = b64.decode(text).map_err(|_| unsealable(&what))?;
                                *v = Some(b64.encode(reseal_subject(part, &digest, &bytes, &what)?));
                            }
                            Ok(())
                        };
                    let digest = x.subject_digest.clone();
                    again(SubjectPart::Id, digest.as_deref(), &mut x.subject_sealed)?;
                    again(SubjectPart::Contact, digest.as_deref(), &mut x.contact_sealed)?;
                    for l in &mut x.linked {
                        again(SubjectPart::Id, Some(&l.digest), &mut l.sealed)?;
                    }
                    tx.execute(
                        &format!("UPDATE {table} SET meta = ?2 WHERE id = ?1"),
                        params![id, crate::ledger::codec::encode_meta(&x)],
                    )
                    .map_err(err)?;
                    out.queued_records += 1;
                }
            }
        }
        out.batches = ledger::rekey_from(&tx, old_chain, &ChainKey::derive(&fresh)).map_err(err)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('key_root', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [&root.record],
        )
        .map_err(err)?;
        // The witness starts again under the new key (its old lines verify only under the old).
        tx.execute("DELETE FROM meta WHERE key = 'ledger_witness'", [])
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok((out, fresh))
    }
}

impl LedgerStore for SqliteStore {
    fn verify_ledger(&self) -> Result<Vec<crate::ledger::Verification>, StoreError> {
        let key = self
            .chain_key
            .as_ref()
            .ok_or_else(|| StoreError::Keys("verifying the ledger needs the master key".into()))?;
        let conn = self.query_connection()?;
        let mut out = ledger::verify(&conn, key).map_err(err)?;
        if let Some(ikey) = &self.incident_key {
            out.extend(incidents::verify(&conn, ikey).map_err(err)?);
        }
        let rows = ledger::verify_rows(&conn, key).map_err(err)?;
        if !rows.is_empty() {
            out.push(crate::ledger::Verification {
                destination: "subjects, links and vendor ids".into(),
                rows,
                ..Default::default()
            });
        }
        let Some(w) = &self.witness else {
            return Ok(out);
        };
        let witnessed = w.read().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        for (destination, standing) in ledger::compare_witness(&conn, &witnessed).map_err(err)? {
            let problem = match standing {
                // `serve` writes the line right after the commit: one batch ahead is a
                // delivery in flight, or a crash that the next start repairs.
                ledger::Standing::Agrees | ledger::Standing::OneAhead(..) => continue,
                ledger::Standing::Behind(p) | ledger::Standing::Problem(p) => p,
            };
            match out.iter_mut().find(|v| v.destination == destination) {
                Some(v) => v.witness.push(problem),
                None => out.push(crate::ledger::Verification {
                    destination,
                    witness: vec![problem],
                    ..Default::default()
                }),
            }
        }
        if !witnessed.problems.is_empty() {
            out.push(crate::ledger::Verification {
                destination: format!("witness {}", w.path().display()),
                witness: witnessed.problems,
                ..Default::default()
            });
        }
        Ok(out)
    }

    fn prune_ledger(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(err)?;
        let n = ledger::prune(&tx, before_ms).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(n)
    }

    fn ledger_entries(&self, destination: Option<&str>, limit: usize) -> Result<Vec<crate::ledger::Entry>, StoreError> {
        ledger::entries(&lock(&self.reader), destination, limit).map_err(err)
    }

    fn ledger_dict(&self) -> Result<crate::ledger::query::Dict, StoreError> {
        ledger::dict(&self.query_connection()?).map_err(err)
    }

    fn ledger_links(&self) -> Result<Vec<(u32, u32)>, StoreError> {
        ledger::links(&self.query_connection()?).map_err(err)
    }

    fn ledger_rollups(
        &self,
        destination: &str,
        from_ms: i64,
        to_ms: i64,
        with_people: bool,
        visit: &mut dyn FnMut(crate::ledger::rollup::Rollup, Option<crate::ledger::rollup::PeopleList>),
    ) -> Result<(), StoreError> {
        ledger::rollups(
            &self.query_connection()?,
            destination,
            from_ms,
            to_ms,
            with_people,
            visit,
        )
        .map_err(err)
    }

    fn ledger_delivery_span(
        &self,
        destination: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        ledger::delivery_span(&self.query_connection()?, destination, from_ms, to_ms).map_err(err)
    }

    fn roll_up_ledger(&self, now_ms: i64) -> Result<usize, StoreError> {
        // Built through the reader; only the write of each rollup takes the writer lock, so
        // group commits are not held up while a day's batches are read.
        let reader = self.query_connection()?;
        let todo = ledger::days_to_roll_up(&reader, now_ms).map_err(err)?;
        for (destination, day) in &todo {
            let (upto, rollup) = ledger::build_day(&reader, destination, *day).map_err(err)?;
            ledger::put_day(&self.writer.lock(), destination, *day, upto, &rollup).map_err(err)?;
        }
        Ok(todo.len())
    }

    fn ledger_subjects(&self, visit: &mut dyn FnMut(super::SubjectRow<'_>)) -> Result<(), StoreError> {
        ledger::subjects(&self.query_connection()?, visit).map_err(err)
    }

    fn ledger_vendor_ids(&self, destination: &str, visit: &mut dyn FnMut(u32, u32, &str)) -> Result<(), StoreError> {
        ledger::vendor_ids(&self.query_connection()?, destination, visit).map_err(err)
    }

    fn reconcile_witness(&self, accept_rollback: bool) -> Result<WitnessStart, StoreError> {
        let Some(w) = &self.witness else {
            return Ok(WitnessStart {
                not_configured: true,
                ..WitnessStart::default()
            });
        };
        let refuse = |what: String| StoreError::Corrupt(format!("ledger witness {}: {what}", w.path().display()));
        let witnessed = w.read().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        if let Some(p) = witnessed.problems.first() {
            return Err(refuse(p.clone()));
        }
        let conn = self.writer.lock();
        let mut start = WitnessStart::default();
        if !witnessed.exists {
            let started: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'ledger_witness')",
                    [],
                    |r| r.get(0),
                )
                .map_err(err)?;
            let heads = ledger::heads(&conn).map_err(err)?;
            if started && !heads.is_empty() {
                return Err(refuse(
                    "the witness file is missing, though this store was witnessed".into(),
                ));
            }
            let lines: Vec<(&str, i64, [u8; 32])> = heads.iter().map(|(d, s, h)| (d.as_str(), *s, *h)).collect();
            w.append(&lines).map_err(|e| StoreError::Unavailable(e.to_string()))?;
            start.started = true;
        } else {
            let mut lines = Vec::new();
            for (destination, standing) in ledger::compare_witness(&conn, &witnessed).map_err(err)? {
                match standing {
                    ledger::Standing::Agrees => {}
                    ledger::Standing::OneAhead(seq, head) => {
                        lines.push((destination.clone(), seq, head));
                        start.repaired.push(destination);
                    }
                    ledger::Standing::Behind(p) if !accept_rollback => {
                        return Err(refuse(format!(
                            "{destination}: {p}; start with --accept-rollback to accept this copy"
                        )));
                    }
                    ledger::Standing::Behind(_) => {
                        let (seq, head) = ledger::head_of(&conn, &destination)
                            .map_err(err)?
                            .unwrap_or((0, [0; 32]));
                        lines.push((destination.clone(), seq, head));
                        start.accepted_rollback.push(destination);
                    }
                    ledger::Standing::Problem(p) => return Err(refuse(format!("{destination}: {p}"))),
                }
            }
            let lines: Vec<(&str, i64, [u8; 32])> = lines.iter().map(|(d, s, h)| (d.as_str(), *s, *h)).collect();
            w.append(&lines).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        }
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('ledger_witness', 'started') ON CONFLICT (key) DO NOTHING",
            [],
        )
        .map_err(err)?;
        Ok(start)
    }
}

impl IncidentStore for SqliteStore {
    fn save_incident(&self, id: Option<i64>, document: &str, now_ms: i64) -> Result<i64, StoreError> {
        let key = self.incident_writes()?;
        let mut conn = self.writer.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let id = match id {
            Some(id) => {
                let n = tx
                    .execute(
                        "UPDATE incidents SET document = ?2, updated_at = ?3 WHERE id = ?1",
                        params![id, document, now_ms],
                    )
                    .map_err(err)?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("no incident {id} to save")));
                }
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO incidents (updated_at, document) VALUES (?1, ?2)",
                    params![now_ms, document],
                )
                .map_err(err)?;
                tx.last_insert_rowid()
            }
        };
        incidents::append(&tx, key, id, now_ms, document)?;
        tx.commit().map_err(err)?;
        Ok(id)
    }

    fn replace_incident(&self, id: i64, expected: &str, document: &str, now_ms: i64) -> Result<bool, StoreError> {
        let key = self.incident_writes()?;
        let mut conn = self.writer.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let n = tx
            .execute(
                "UPDATE incidents SET document = ?3, updated_at = ?4 WHERE id = ?1 AND document = ?2",
                params![id, expected, document, now_ms],
            )
            .map_err(err)?;
        if n != 1 {
            return Ok(false);
        }
        incidents::append(&tx, key, id, now_ms, document)?;
        tx.commit().map_err(err)?;
        Ok(true)
    }

    fn incidents(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare("SELECT id, document FROM incidents ORDER BY id")
            .map_err(err)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn incident(&self, id: i64) -> Result<Option<String>, StoreError> {
        lock(&self.reader)
            .query_row("SELECT document FROM incidents WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(err)
    }
}

pub mod incidents;
pub mod ledger;
mod writer;

use writer::Writer;

fn dead_letter_filter(ids: &[i64]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!("AND id IN ({})", id_list(ids))
    }
}

#[cfg(test)]
mod tests;
