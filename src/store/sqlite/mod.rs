//! The embedded store: two SQLite databases in WAL mode.
//!
//! On-disk layout: `<store.path>/vendorwall.db` and `<store.path>/outbox.db` (each with
//! SQLite's `-wal` and `-shm` files).
//!
//! ```sql
//! -- outbox.db: the queue, 64 KiB pages (rows are ~1 KB, appended and deleted in order)
//! outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT, kind INTEGER, payload BLOB,
//!        enqueued_at INTEGER, attempts INTEGER, meta BLOB)  -- index (destination, id)
//! dead_letters(id INTEGER PRIMARY KEY, destination TEXT, kind INTEGER, payload BLOB,
//!        enqueued_at INTEGER, attempts INTEGER, reason TEXT, failed_at INTEGER, meta BLOB)
//! -- vendorwall.db: everything else, 4 KiB pages (the ledger's indexes are written at random)
//! destinations(name TEXT PRIMARY KEY, state TEXT, dropped INTEGER, updated_at INTEGER)
//! destination_keys(destination TEXT, version INTEGER, sealed BLOB, created_at INTEGER)
//! ledger_*                                                -- see `ledger.rs`
//! outbox_removals(destination TEXT PRIMARY KEY, ids BLOB) -- the last delivered rows recorded
//! incidents(id INTEGER PRIMARY KEY, updated_at INTEGER, document TEXT)  -- JSON, all revisions
//! meta(key TEXT PRIMARY KEY, value TEXT)                   -- schema_version
//! ```
//!
//! `synchronous=FULL`: a commit is fsynced before `append` returns, so an acknowledged record
//! survives an OS crash, not only a process crash. Group commit keeps that affordable.
//! Each database has a writer connection and a reader connection (WAL lets them overlap), so
//! the group commits that acknowledge SDK requests never wait for the ledger's transactions.
//!
//! **Why two files, and how `complete` stays exact across them.** The queue is written in
//! large sequential runs, which 64 KiB pages make cheap (a sixteenth of the WAL frames and
//! write calls of 4 KiB pages); the ledger interns subjects under random digests, where large
//! pages would multiply the bytes written per insert. A transaction cannot span two WAL
//! databases atomically, so `complete` commits in a fixed order:
//! 1. in `vendorwall.db`: the ledger entries of the delivered rows, and their ids in
//!    `outbox_removals` (one row per destination, replaced each time);
//! 2. in `outbox.db`: the delivered rows deleted, the refused ones moved to `dead_letters`.
//!
//! A crash between the two leaves rows that are already in the ledger in the queue. `open`
//! deletes every `outbox_removals` id still queued before anything is leased, so they are
//! neither sent nor recorded again. Outbox ids are `AUTOINCREMENT`, never reused, which makes
//! replaying an old removal harmless. If step 2 fails without a crash, the next `complete`
//! for that destination finishes it first.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::{DeadLetter, DestinationState, DestinationStatus, NewRow, OutboxRow, QueueStats, Store, StoreError};
use crate::event::Kind;

const SCHEMA_VERSION: &str = "5";

/// Page size of `outbox.db` (set when the file is created).
const QUEUE_PAGE_SIZE: i64 = 65536;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
CREATE TABLE IF NOT EXISTS outbox_removals (destination TEXT PRIMARY KEY, ids BLOB NOT NULL);
";

/// `outbox.db`.
const QUEUE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
";

pub struct SqliteStore {
    path: PathBuf,
    /// `vendorwall.db`: the ledger, destinations, keys, incidents.
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// `outbox.db`: the queue and the dead letters.
    queue_writer: Mutex<Connection>,
    queue_reader: Mutex<Connection>,
    /// Held through `complete`: its two commits (ledger, then queue) are one step.
    completing: Mutex<()>,
    /// Delivered rows whose ledger entries committed but whose removal from the queue failed:
    /// the destination's next `complete` removes them first.
    unremoved: Mutex<std::collections::HashMap<String, Vec<i64>>>,
    /// The ledger's interning caches; locked only while the writer is held.
    ledger_cache: Mutex<ledger::Cache>,
}

fn err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(DatabaseCorrupt | NotADatabase) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves the connection usable: SQLite rolls back an
    // unfinished transaction when the next one begins.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteStore {
    /// Opens (creating if needed) the store in directory `dir`.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("vendorwall.db");
        let mut writer = Self::connect(&path, None)?;
        writer.execute_batch(SCHEMA).map_err(err)?;
        let version: Option<String> = writer
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
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
            // Version 5 moved the queue into `outbox.db` (below).
            Some(SCHEMA_VERSION | "4") => writer.execute_batch(ledger::SCHEMA).map_err(err)?,
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
            }
            // Version 4 writes the rows' exposure metadata in a binary form. Rows queued as
            // JSON are still read; the version changes so that an earlier build, which reads
            // only JSON, refuses the store instead of delivering rows unrecorded.
            Some("3") => writer.execute_batch(ledger::SCHEMA).map_err(err)?,
            Some("2") => {
                // Version 3 stores each batch's entries as one compact body and interns names.
                let tx = writer.transaction().map_err(err)?;
                tx.execute_batch(ledger::SCHEMA).map_err(err)?;
                ledger::migrate_v2(&tx).map_err(err)?;
                tx.commit().map_err(err)?;
            }
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "schema version {other} is not supported by this build (expects {SCHEMA_VERSION})"
                )));
            }
        }
        let queue_path = dir.join("outbox.db");
        let mut queue_writer = Self::connect(&queue_path, Some(QUEUE_PAGE_SIZE))?;
        queue_writer.execute_batch(QUEUE_SCHEMA).map_err(err)?;
        move_queue(&mut writer, &mut queue_writer).map_err(err)?;
        if version.as_deref().is_some_and(|v| v != SCHEMA_VERSION) {
            writer
                .execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                    [SCHEMA_VERSION],
                )
                .map_err(err)?;
        }
        ledger::seal_dictionary_if_missing(&writer).map_err(err)?;
        finish_removals(&writer, &mut queue_writer).map_err(err)?;
        let reader = Self::connect(&path, None)?;
        let queue_reader = Self::connect(&queue_path, None)?;
        Ok(SqliteStore {
            path,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            queue_writer: Mutex::new(queue_writer),
            queue_reader: Mutex::new(queue_reader),
            completing: Mutex::new(()),
            unremoved: Mutex::default(),
            ledger_cache: Mutex::new(ledger::Cache::default()),
        })
    }

    /// `page_size` applies only to a database not created yet.
    fn connect(path: &Path, page_size: Option<i64>) -> Result<Connection, StoreError> {
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(err)?;
        if let Some(size) = page_size {
            conn.pragma_update(None, "page_size", size).map_err(err)?;
        }
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(err)?;
        // The writer keeps ~15 statements in steady state (appends, acknowledgements, the
        // ledger's interning, roll-ups); rusqlite's default cache holds 16.
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// One transaction in `vendorwall.db`: the delivered rows' ledger entries, and their ids
    /// as the destination's pending removal from the queue.
    fn record_delivery(&self, destination: &str, metas: &[&[u8]], ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
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
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            ledger::record_delivery(&tx, &mut cache, destination, metas, now_ms)?;
            tx.prepare_cached(
                "INSERT INTO outbox_removals (destination, ids) VALUES (?1, ?2)
                 ON CONFLICT (destination) DO UPDATE SET ids = excluded.ids",
            )?
            .execute(params![destination, encode_ids(ids)])?;
            tx.commit()
        })();
        // Whatever failed, the transaction rolled back: ids the cache learnt in it may be
        // handed out again, so forget them.
        if result.is_err() {
            cache.clear();
        }
        result.map_err(err)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A connection of its own for long ledger reads (incident queries, exports, roll-ups,
    /// verification), so they never hold up the reader that delivery leases through.
    fn query_connection(&self) -> Result<Connection, StoreError> {
        Self::connect(&self.path, None)
    }
}

/// Ids per statement when `complete` checks or deletes queued rows.
const ID_CHUNK: usize = 500;

/// `<head> (?2, …)` with `ID_CHUNK` ids; `?1` is the destination.
fn chunk_sql(head: &str) -> String {
    let ids: Vec<String> = (2..ID_CHUNK + 2).map(|i| format!("?{i}")).collect();
    format!("{head} ({})", ids.join(","))
}

static QUEUED_CHUNK_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| chunk_sql("SELECT id FROM outbox WHERE destination = ?1 AND id IN"));
static DELETE_CHUNK_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| chunk_sql("DELETE FROM outbox WHERE destination = ?1 AND id IN"));

/// The parameters of one chunk statement: a short chunk repeats its first id, so every chunk
/// uses one statement text, prepared once.
fn chunk_params<'a>(
    destination: &'a &'a str,
    chunk: &'a [i64],
) -> rusqlite::ParamsFromIter<impl Iterator<Item = &'a dyn rusqlite::ToSql>> {
    let ids = (0..ID_CHUNK).map(move |i| chunk.get(i).unwrap_or(&chunk[0]) as &dyn rusqlite::ToSql);
    rusqlite::params_from_iter(std::iter::once(destination as &dyn rusqlite::ToSql).chain(ids))
}

/// Which of `ids` are queued for `destination`, in order.
fn queued_ids(queue: &Connection, destination: &str, ids: &[i64]) -> rusqlite::Result<Vec<i64>> {
    let mut found = Vec::with_capacity(ids.len());
    let mut stmt = queue.prepare_cached(&QUEUED_CHUNK_SQL)?;
    for chunk in ids.chunks(ID_CHUNK) {
        for id in stmt.query_map(chunk_params(&destination, chunk), |r| r.get::<_, i64>(0))? {
            found.push(id?);
        }
    }
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// One transaction in `outbox.db`: `dead` rows move to the dead letters, and they and
/// `delivered` leave the queue. Returns how many rows left it.
fn remove_from_queue(
    queue: &mut Connection,
    destination: &str,
    delivered: &[i64],
    dead: &[(i64, String)],
    now_ms: i64,
) -> rusqlite::Result<usize> {
    let tx = queue.transaction()?;
    let mut removed = 0;
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
            .copied()
            .chain(dead.iter().map(|(id, _)| *id))
            .collect();
        let mut delete = tx.prepare_cached(&DELETE_CHUNK_SQL)?;
        for chunk in gone.chunks(ID_CHUNK) {
            removed += delete.execute(chunk_params(&destination, chunk))?;
        }
    }
    tx.commit()?;
    Ok(removed)
}

fn encode_ids(ids: &[i64]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.to_le_bytes()).collect()
}

fn decode_ids(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap_or_default()))
        .collect()
}

/// Deletes the rows each destination's last ledger transaction recorded, where they are still
/// queued: after a crash between `complete`'s two commits (see the module docs).
fn finish_removals(main: &Connection, queue: &mut Connection) -> rusqlite::Result<()> {
    let pending: Vec<(String, Vec<u8>)> = main
        .prepare("SELECT destination, ids FROM outbox_removals")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (destination, ids) in pending {
        let removed = remove_from_queue(queue, &destination, &decode_ids(&ids), &[], 0)?;
        if removed > 0 {
            tracing::warn!(
                destination,
                records = removed,
                "rows already recorded as delivered were still queued (a crash between the two commits); removed"
            );
        }
    }
    Ok(())
}

/// Moves the queue of a store from before version 5 out of `vendorwall.db` into `outbox.db`,
/// ids kept. A crash before the old tables are dropped copies them again over the same ids.
fn move_queue(main: &mut Connection, queue: &mut Connection) -> rusqlite::Result<()> {
    let old: bool = main.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox')",
        [],
        |r| r.get(0),
    )?;
    if !old {
        return Ok(());
    }
    let tx = queue.transaction()?;
    for (table, columns) in [
        ("outbox", "id, destination, kind, payload, enqueued_at, attempts, meta"),
        (
            "dead_letters",
            "id, destination, kind, payload, enqueued_at, attempts, reason, failed_at, meta",
        ),
    ] {
        let n = columns.split(',').count();
        let mut read = main.prepare(&format!("SELECT {columns} FROM {table} ORDER BY id"))?;
        let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
        let mut write = tx.prepare(&format!(
            "INSERT OR IGNORE INTO {table} ({columns}) VALUES ({})",
            marks.join(",")
        ))?;
        let mut rows = read.query([])?;
        while let Some(row) = rows.next()? {
            let values = (0..n)
                .map(|i| row.get::<_, rusqlite::types::Value>(i))
                .collect::<Result<Vec<_>, _>>()?;
            write.execute(rusqlite::params_from_iter(values))?;
        }
    }
    tx.commit()?;
    main.execute_batch("BEGIN; DROP TABLE outbox; DROP TABLE dead_letters; COMMIT;")
}

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

impl Store for SqliteStore {
    fn append(&self, rows: &[NewRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = lock(&self.queue_writer);
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
        let conn = lock(&self.queue_reader);
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
        let _one_at_a_time = lock(&self.completing);
        // Rows an earlier call recorded but could not remove come first: recorded once.
        let left = lock(&self.unremoved).remove(destination);
        if let Some(ids) = left
            && let Err(e) = remove_from_queue(&mut lock(&self.queue_writer), destination, &ids, &[], now_ms)
        {
            lock(&self.unremoved).insert(destination.to_owned(), ids);
            return Err(err(e));
        }
        // Only rows still queued enter the ledger, each once, in outbox order, with the
        // metadata read at lease time (rows never change while queued).
        let ids: Vec<i64> = delivered.iter().map(|r| r.id).collect();
        let queued = queued_ids(&lock(&self.queue_reader), destination, &ids).map_err(err)?;
        if !queued.is_empty() {
            let mut metas: Vec<(i64, &[u8])> = delivered
                .iter()
                .filter(|r| queued.binary_search(&r.id).is_ok())
                .filter_map(|r| Some((r.id, r.meta.as_deref()?)))
                .collect();
            metas.sort_unstable_by_key(|&(id, _)| id);
            metas.dedup_by_key(|&mut (id, _)| id);
            let metas: Vec<&[u8]> = metas.into_iter().map(|(_, m)| m).collect();
            self.record_delivery(destination, &metas, &queued, now_ms)?;
        }
        if let Err(e) = remove_from_queue(&mut lock(&self.queue_writer), destination, &queued, dead, now_ms) {
            if !queued.is_empty() {
                lock(&self.unremoved).insert(destination.to_owned(), queued);
            }
            return Err(err(e));
        }
        Ok(())
    }

    fn note_attempt(&self, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let conn = lock(&self.queue_writer);
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
        let conn = lock(&self.queue_reader);
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
        let conn = lock(&self.queue_reader);
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
        let mut conn = lock(&self.queue_writer);
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
        let conn = lock(&self.queue_writer);
        conn.execute(
            &format!(
                "DELETE FROM dead_letters WHERE (?1 IS NULL OR destination = ?1) {}",
                dead_letter_filter(ids)
            ),
            params![destination],
        )
        .map_err(err)
    }

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
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO destinations (name, state, dropped, updated_at) VALUES (?1, ?2, 0, ?3)
             ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            params![name, state.as_str(), now_ms],
        )
        .map_err(err)?;
        Ok(())
    }

    fn add_dropped(&self, name: &str, n: u64) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO destinations (name, state, dropped, updated_at) VALUES (?1, 'dropping', ?2, 0)
             ON CONFLICT (name) DO UPDATE SET dropped = dropped + excluded.dropped",
            params![name, n as i64],
        )
        .map_err(err)?;
        Ok(())
    }

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
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT OR IGNORE INTO destination_keys (destination, version, sealed, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![destination, version as i64, sealed, now_ms],
        )
        .map_err(err)?;
        Ok(())
    }
    fn verify_ledger(&self) -> Result<Vec<crate::ledger::Verification>, StoreError> {
        ledger::verify(&self.query_connection()?).map_err(err)
    }

    fn prune_ledger(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut conn = lock(&self.writer);
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
            ledger::put_day(&lock(&self.writer), destination, *day, upto, &rollup).map_err(err)?;
        }
        Ok(todo.len())
    }

    fn ledger_subjects(&self, visit: &mut dyn FnMut(super::SubjectRow<'_>)) -> Result<(), StoreError> {
        ledger::subjects(&self.query_connection()?, visit).map_err(err)
    }

    fn ledger_vendor_ids(&self, destination: &str, visit: &mut dyn FnMut(u32, u32, &str)) -> Result<(), StoreError> {
        ledger::vendor_ids(&self.query_connection()?, destination, visit).map_err(err)
    }

    fn save_incident(&self, id: Option<i64>, document: &str, now_ms: i64) -> Result<i64, StoreError> {
        let conn = lock(&self.writer);
        match id {
            Some(id) => {
                conn.execute(
                    "UPDATE incidents SET document = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, document, now_ms],
                )
                .map_err(err)?;
                Ok(id)
            }
            None => {
                conn.execute(
                    "INSERT INTO incidents (updated_at, document) VALUES (?1, ?2)",
                    params![now_ms, document],
                )
                .map_err(err)?;
                Ok(conn.last_insert_rowid())
            }
        }
    }

    fn replace_incident(&self, id: i64, expected: &str, document: &str, now_ms: i64) -> Result<bool, StoreError> {
        let conn = lock(&self.writer);
        let n = conn
            .execute(
                "UPDATE incidents SET document = ?3, updated_at = ?4 WHERE id = ?1 AND document = ?2",
                params![id, expected, document, now_ms],
            )
            .map_err(err)?;
        Ok(n == 1)
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

pub mod ledger;

fn dead_letter_filter(ids: &[i64]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!("AND id IN ({})", id_list(ids))
    }
}

#[cfg(test)]
mod tests;
