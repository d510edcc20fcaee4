//! The shared store: one PostgreSQL database behind several stateless gateways.
//!
//! Configured with `[store] url` (instead of `path`), `password`, `tls_mode`, `tls_ca_path`,
//! `lease_secs` and `max_connections` ([`crate::config::Database`]). The role needs to own its
//! database (it creates its tables), nothing more: no superuser.
//!
//! # Invariants
//!
//! - [`Store::append`] returns after one statement (a multi-row insert from arrays) has
//!   committed: the server's `synchronous_commit` (on by default) decides durability, as for
//!   any PostgreSQL application.
//! - Delivery work is shared by leasing: [`Store::lease`] takes a destination's oldest rows
//!   that nobody holds, whose lease expired, or that this handle already holds, with
//!   `FOR UPDATE SKIP LOCKED`, and stamps them with this handle's owner id and an expiry
//!   (`[store] lease_secs` from the database's clock, so gateways' clocks do not matter). Two
//!   handles never hold the same row at once; rows held by a process that died are taken over
//!   once their lease expires. [`Store::note_attempt`] renews the lease of rows being retried.
//! - [`Store::complete`] touches only rows this handle still holds: a row another gateway took
//!   over after this one's lease expired is left to it (it sends the record again, under the
//!   same idempotency key).
//! - Everything sealed is sealed under the store's root key (`meta.key_root`), itself sealed
//!   under the master key: every gateway must be given the same master key, and opening
//!   without one is not possible ([`PgStore::open`] takes it).
//! - The schema is migrated on open under an advisory lock ([`schema`]); a schema newer than
//!   the binary is refused.
//!
//! # Schema
//!
//! ```sql
//! outbox(id BIGINT IDENTITY, destination, kind, payload BYTEA, enqueued_at, attempts, meta BYTEA,
//!        lease_owner TEXT, lease_until TIMESTAMPTZ)       -- index (destination, id)
//! dead_letters(id, destination, kind, payload, enqueued_at, attempts, reason, failed_at, meta)
//! destinations(name PRIMARY KEY, state, dropped, updated_at)
//! destination_keys(destination, version, sealed, created_at)   -- PRIMARY KEY (destination, version)
//! meta(key PRIMARY KEY, value)                                 -- key_root, incident_chain
//! incidents, incident_revisions                                -- migration 2, see `incidents`
//! schema_migrations(version PRIMARY KEY, description, applied_at)
//! ```
//!
//! Incidents and their keyed revision chain: see [`incidents`] (appends serialised by an
//! advisory lock; [`PgStore::verify_incidents`] checks the chain).
//!
//! # Not on PostgreSQL yet
//!
//! The exposure ledger (recording deliveries, its queries, verification, pruning, roll-ups):
//! those methods answer [`StoreError::Unavailable`], and so does `complete`
//! for delivered rows that carry exposure metadata (deleting them unrecorded would lose the
//! record of what the vendor received). `docs/POSTGRES.md` describes the design.

mod incidents;
mod pool;
pub(crate) mod schema;
#[doc(hidden)]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use postgres::error::SqlState;

use pool::Pool;
pub use pool::check_url;

use super::{
    DeadLetter, DestinationState, DestinationStatus, DestinationStore, IncidentStore, KeyStore, LedgerStore, NewRow,
    OutboxRow, OutboxStore, QueueStats, StoreError,
};
use crate::config::Database;
use crate::event::Kind;
use crate::policy::keys::{MasterKey, StoreKeys};

/// A store in a PostgreSQL database. Each handle is one lease owner: give each gateway
/// process one handle (it is `Sync`; its connections are pooled).
pub struct PgStore {
    pool: Pool,
    /// This handle's lease owner id: the process id and 64 random bits.
    owner: String,
    lease: Duration,
    keys: Arc<StoreKeys>,
    /// The key incident revisions are chained under (as in the embedded store).
    incident_key: ring::hmac::Key,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// A backend-neutral error from a database error: what failed and the SQLSTATE, with the
/// server's message only for classes whose messages name objects rather than values
/// (connection, authentication, permissions, resources), since a data or constraint error's
/// message can quote a stored value.
pub(super) fn error(what: &str, e: &postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        // Client-side: I/O, TLS, protocol, closed connection. These never quote rows; the
        // causes say why (a refused certificate, a refused connection).
        let mut told = format!("{what}: {e}");
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            told.push_str(": ");
            told.push_str(&c.to_string());
            cause = c.source();
        }
        return StoreError::Unavailable(told);
    };
    let code = db.code().code();
    let class = &code[..2.min(code.len())];
    let told = match class {
        "08" | "28" | "3D" | "3F" | "53" | "55" | "57" | "42" => format!("{what}: {} ({code})", db.message()),
        _ => format!("{what}: database error {code}"),
    };
    if *db.code() == SqlState::UNDEFINED_TABLE || *db.code() == SqlState::UNDEFINED_COLUMN {
        StoreError::Corrupt(told)
    } else {
        StoreError::Unavailable(told)
    }
}

fn kind_of(code: i16) -> Kind {
    Kind::from_code(i64::from(code)).unwrap_or(Kind::Track)
}

fn not_yet(what: &str) -> StoreError {
    StoreError::Unavailable(format!("{what} is not available on PostgreSQL yet"))
}

impl PgStore {
    /// Connects, migrates the schema (see [`schema`]) and unwraps the store's root key with
    /// `master`, creating the root on the database's first open. Processes opening at the same
    /// moment agree on one root: the first record written stands and every process reads it.
    /// A root sealed under another master key is refused ([`StoreError::Keys`]).
    pub fn open(db: &Database, master: &MasterKey) -> Result<PgStore, StoreError> {
        let pool = Pool::new(db)?;
        let keys = {
            let mut conn = pool.get()?;
            let mut tx = conn.transaction().map_err(|e| error("starting the migration", &e))?;
            let applied = schema::migrate(&mut tx)?;
            let keys = root_keys(&mut tx, master)?;
            tx.commit().map_err(|e| error("committing the migration", &e))?;
            if applied > 0 {
                tracing::info!(
                    migrations = applied,
                    version = schema::latest(),
                    "database schema migrated"
                );
            }
            keys
        };
        let owner = format!("{}:{:016x}", std::process::id(), fastrand::u64(..));
        let incident_key = crate::store::sqlite::incidents::key_of(&crate::ledger::ChainKey::derive(&keys))
            .ok_or_else(|| StoreError::Keys("the store's keys derive no incident chain key".into()))?;
        Ok(PgStore {
            pool,
            owner,
            lease: db.lease,
            keys: Arc::new(keys),
            incident_key,
        })
    }

    /// The store's keys, unwrapped with the master key it was opened with.
    pub fn keys(&self) -> Arc<StoreKeys> {
        self.keys.clone()
    }

    /// This handle's lease owner id, as stored in `outbox.lease_owner`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Recomputes the incident chain against the incidents (what `ledger verify` reports for
    /// incidents), in one snapshot.
    pub fn verify_incidents(&self) -> Result<Vec<crate::ledger::Verification>, StoreError> {
        let mut conn = self.pool.get()?;
        let mut tx = conn
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|e| error("starting a read", &e))?;
        let out = incidents::verify(&mut tx, &self.incident_key).map_err(|e| error("verifying incidents", &e))?;
        tx.commit().map_err(|e| error("ending a read", &e))?;
        Ok(out)
    }

    fn lease_ms(&self) -> i64 {
        self.lease.as_millis().min(i64::MAX as u128) as i64
    }
}

/// The root key record in `meta`, written if missing (`INSERT … ON CONFLICT DO NOTHING`, then
/// read back, so concurrent first opens converge on one), unwrapped with `master`.
fn root_keys(tx: &mut postgres::Transaction<'_>, master: &MasterKey) -> Result<StoreKeys, StoreError> {
    let keys_error = |e: crate::policy::keys::KeyError| StoreError::Keys(e.to_string());
    let read = |tx: &mut postgres::Transaction<'_>| {
        tx.query_opt("SELECT value FROM meta WHERE key = 'key_root'", &[])
            .map_err(|e| error("reading the root key record", &e))?
            .map(|r| r.try_get::<_, String>(0))
            .transpose()
            .map_err(|e| error("reading the root key record", &e))
    };
    if let Some(record) = read(tx)? {
        return StoreKeys::unwrap(&record, master).map_err(keys_error);
    }
    let root = StoreKeys::generate(master).map_err(keys_error)?;
    let written = tx
        .execute(
            "INSERT INTO meta (key, value) VALUES ('key_root', $1) ON CONFLICT (key) DO NOTHING",
            &[&root.record],
        )
        .map_err(|e| error("writing the root key record", &e))?;
    if written == 1 {
        return Ok(root.keys);
    }
    let record = read(tx)?.ok_or_else(|| StoreError::Corrupt("the store's root key record vanished".into()))?;
    StoreKeys::unwrap(&record, master).map_err(keys_error)
}

/// `Some(destination)` as a nullable SQL parameter.
fn opt(destination: Option<&str>) -> Option<String> {
    destination.map(str::to_owned)
}

impl OutboxStore for PgStore {
    fn append(&self, rows: &[NewRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let destinations: Vec<&str> = rows.iter().map(|r| r.destination.as_str()).collect();
        let kinds: Vec<i16> = rows.iter().map(|r| r.kind.code() as i16).collect();
        let payloads: Vec<&[u8]> = rows.iter().map(|r| r.payload.as_slice()).collect();
        let enqueued: Vec<i64> = rows.iter().map(|r| r.enqueued_at_ms).collect();
        let metas: Vec<Option<&[u8]>> = rows.iter().map(|r| r.meta.as_deref()).collect();
        // One statement, one transaction: the rows get ids in the order given (`unnest`
        // yields them in array order, `WITH ORDINALITY` pins it).
        self.pool
            .get()?
            .execute(
                "INSERT INTO outbox (destination, kind, payload, enqueued_at, meta)
                 SELECT d, k, p, e, m
                 FROM unnest($1::text[], $2::int2[], $3::bytea[], $4::int8[], $5::bytea[])
                      WITH ORDINALITY AS r(d, k, p, e, m, n)
                 ORDER BY n",
                &[&destinations, &kinds, &payloads, &enqueued, &metas],
            )
            .map_err(|e| error("appending to the outbox", &e))?;
        Ok(())
    }

    fn lease(&self, destination: &str, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = self
            .pool
            .get()?
            .query(
                "WITH picked AS (
                     SELECT id FROM outbox
                     WHERE destination = $1
                       AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $2)
                     ORDER BY id
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED
                 )
                 UPDATE outbox o
                 SET lease_owner = $2, lease_until = now() + $4::float8 * interval '1 millisecond'
                 FROM picked WHERE o.id = picked.id
                 RETURNING o.id, o.kind, o.payload, o.enqueued_at, o.attempts, o.meta",
                &[&destination, &self.owner, &limit, &(self.lease_ms() as f64)],
            )
            .map_err(|e| error("leasing from the outbox", &e))?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(OutboxRow {
                    id: r.try_get(0)?,
                    kind: kind_of(r.try_get(1)?),
                    payload: r.try_get(2)?,
                    enqueued_at_ms: r.try_get(3)?,
                    attempts: i64::from(r.try_get::<_, i32>(4)?),
                    meta: r.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, postgres::Error>>()
            .map_err(|e| error("reading leased rows", &e))?;
        out.sort_unstable_by_key(|r| r.id);
        Ok(out)
    }

    fn complete(
        &self,
        destination: &str,
        delivered: &[OutboxRow],
        dead: &[(i64, String)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if delivered.iter().any(|r| r.meta.is_some()) {
            return Err(not_yet("recording deliveries in the exposure ledger"));
        }
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction().map_err(|e| error("starting a transaction", &e))?;
        if !dead.is_empty() {
            let ids: Vec<i64> = dead.iter().map(|(id, _)| *id).collect();
            let reasons: Vec<&str> = dead.iter().map(|(_, r)| r.as_str()).collect();
            tx.execute(
                "INSERT INTO dead_letters (destination, kind, payload, enqueued_at, attempts, reason, failed_at, meta)
                 SELECT o.destination, o.kind, o.payload, o.enqueued_at, o.attempts + 1, d.reason, $3, o.meta
                 FROM outbox o
                 JOIN (SELECT DISTINCT ON (id) id, reason FROM unnest($1::int8[], $2::text[]) AS u(id, reason)) d
                   ON o.id = d.id
                 WHERE o.destination = $4 AND o.lease_owner = $5
                 ORDER BY o.id",
                &[&ids, &reasons, &now_ms, &destination, &self.owner],
            )
            .map_err(|e| error("dead-lettering rows", &e))?;
        }
        let gone: Vec<i64> = delivered
            .iter()
            .map(|r| r.id)
            .chain(dead.iter().map(|(id, _)| *id))
            .collect();
        tx.execute(
            "DELETE FROM outbox WHERE destination = $1 AND lease_owner = $2 AND id = ANY($3)",
            &[&destination, &self.owner, &gone],
        )
        .map_err(|e| error("removing delivered rows", &e))?;
        tx.commit().map_err(|e| error("committing a delivery", &e))
    }

    fn note_attempt(&self, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        // The attempt counts whoever holds the row now; only this handle's own leases are
        // renewed (the rows are about to be sent again).
        self.pool
            .get()?
            .execute(
                "UPDATE outbox SET attempts = attempts + 1,
                     lease_until = CASE WHEN lease_owner = $2
                                        THEN now() + $3::float8 * interval '1 millisecond'
                                        ELSE lease_until END
                 WHERE id = ANY($1)",
                &[&ids, &self.owner, &(self.lease_ms() as f64)],
            )
            .map_err(|e| error("counting a delivery attempt", &e))?;
        Ok(())
    }

    fn queue_stats(&self, destination: &str) -> Result<QueueStats, StoreError> {
        let row = self
            .pool
            .get()?
            .query_one(
                "SELECT (SELECT count(*) FROM outbox WHERE destination = $1),
                        (SELECT enqueued_at FROM outbox WHERE destination = $1 ORDER BY id LIMIT 1)",
                &[&destination],
            )
            .map_err(|e| error("reading queue depth", &e))?;
        let depth: i64 = row.try_get(0).map_err(|e| error("reading queue depth", &e))?;
        let oldest: Option<i64> = row.try_get(1).map_err(|e| error("reading queue depth", &e))?;
        Ok(QueueStats {
            depth: depth.max(0) as u64,
            oldest_enqueued_at_ms: oldest,
        })
    }

    fn dead_letters(&self, destination: Option<&str>, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = self
            .pool
            .get()?
            .query(
                "SELECT id, destination, kind, reason, enqueued_at, failed_at, attempts, octet_length(payload)
                 FROM dead_letters WHERE ($1::text IS NULL OR destination = $1) ORDER BY id LIMIT $2",
                &[&opt(destination), &limit],
            )
            .map_err(|e| error("reading dead letters", &e))?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.try_get(0)?,
                    destination: r.try_get(1)?,
                    kind: kind_of(r.try_get(2)?),
                    reason: r.try_get(3)?,
                    enqueued_at_ms: r.try_get(4)?,
                    failed_at_ms: r.try_get(5)?,
                    attempts: i64::from(r.try_get::<_, i32>(6)?),
                    payload_bytes: r.try_get::<_, i32>(7)?.max(0) as usize,
                })
            })
            .collect::<Result<Vec<_>, postgres::Error>>()
            .map_err(|e| error("reading dead letters", &e))
    }

    fn retry_dead_letters(&self, destination: Option<&str>, ids: &[i64], now_ms: i64) -> Result<usize, StoreError> {
        let ids: Option<Vec<i64>> = (!ids.is_empty()).then(|| ids.to_vec());
        // One statement: the rows leave the dead letters and enter the outbox together, in
        // their original order.
        let n = self
            .pool
            .get()?
            .execute(
                "WITH moved AS (
                     DELETE FROM dead_letters
                     WHERE ($1::text IS NULL OR destination = $1) AND ($2::int8[] IS NULL OR id = ANY($2))
                     RETURNING id, destination, kind, payload, meta
                 )
                 INSERT INTO outbox (destination, kind, payload, enqueued_at, attempts, meta)
                 SELECT destination, kind, payload, $3, 0, meta FROM moved ORDER BY id",
                &[&opt(destination), &ids, &now_ms],
            )
            .map_err(|e| error("retrying dead letters", &e))?;
        Ok(n as usize)
    }

    fn purge_dead_letters(&self, destination: Option<&str>, ids: &[i64]) -> Result<usize, StoreError> {
        let ids: Option<Vec<i64>> = (!ids.is_empty()).then(|| ids.to_vec());
        let n = self
            .pool
            .get()?
            .execute(
                "DELETE FROM dead_letters
                 WHERE ($1::text IS NULL OR destination = $1) AND ($2::int8[] IS NULL OR id = ANY($2))",
                &[&opt(destination), &ids],
            )
            .map_err(|e| error("purging dead letters", &e))?;
        Ok(n as usize)
    }

    fn reusable_bytes(&self) -> Result<u64, StoreError> {
        // The free-space headroom guards this host's disk; the database's disk is the
        // database server's to watch.
        Ok(0)
    }
}

impl DestinationStore for PgStore {
    fn destination_statuses(&self) -> Result<Vec<DestinationStatus>, StoreError> {
        let rows = self
            .pool
            .get()?
            .query(
                "SELECT name, state, dropped, updated_at FROM destinations ORDER BY name",
                &[],
            )
            .map_err(|e| error("reading destination states", &e))?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get(1)?;
                Ok(DestinationStatus {
                    name: r.try_get(0)?,
                    state: DestinationState::parse(&state).unwrap_or(DestinationState::Active),
                    dropped: r.try_get::<_, i64>(2)?.max(0) as u64,
                    updated_at_ms: r.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, postgres::Error>>()
            .map_err(|e| error("reading destination states", &e))
    }

    fn set_destination_state(&self, name: &str, state: DestinationState, now_ms: i64) -> Result<(), StoreError> {
        self.pool
            .get()?
            .execute(
                "INSERT INTO destinations (name, state, dropped, updated_at) VALUES ($1, $2, 0, $3)
                 ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                &[&name, &state.as_str(), &now_ms],
            )
            .map_err(|e| error("setting a destination's state", &e))?;
        Ok(())
    }

    fn add_dropped(&self, name: &str, n: u64) -> Result<(), StoreError> {
        let n = n.min(i64::MAX as u64) as i64;
        self.pool
            .get()?
            .execute(
                "INSERT INTO destinations (name, state, dropped, updated_at) VALUES ($1, 'dropping', $2, 0)
                 ON CONFLICT (name) DO UPDATE SET dropped = destinations.dropped + excluded.dropped",
                &[&name, &n],
            )
            .map_err(|e| error("counting dropped records", &e))?;
        Ok(())
    }
}

impl KeyStore for PgStore {
    fn key_versions(&self, destination: &str) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
        let rows = self
            .pool
            .get()?
            .query(
                "SELECT version, sealed FROM destination_keys WHERE destination = $1 ORDER BY version",
                &[&destination],
            )
            .map_err(|e| error("reading pseudonym keys", &e))?;
        rows.iter()
            .map(|r| Ok((r.try_get::<_, i32>(0)?.max(0) as u32, r.try_get(1)?)))
            .collect::<Result<Vec<_>, postgres::Error>>()
            .map_err(|e| error("reading pseudonym keys", &e))
    }

    fn add_key(&self, destination: &str, version: u32, sealed: &[u8], now_ms: i64) -> Result<(), StoreError> {
        let version =
            i32::try_from(version).map_err(|_| StoreError::Unavailable("pseudonym key version out of range".into()))?;
        // The first version written stands: a gateway racing another to create a
        // destination's first key reads back the winner's.
        self.pool
            .get()?
            .execute(
                "INSERT INTO destination_keys (destination, version, sealed, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (destination, version) DO NOTHING",
                &[&destination, &version, &sealed, &now_ms],
            )
            .map_err(|e| error("adding a pseudonym key", &e))?;
        Ok(())
    }

    fn keys(&self) -> Option<Arc<StoreKeys>> {
        Some(PgStore::keys(self))
    }

    fn store_keys(&self, master: &MasterKey) -> Result<StoreKeys, StoreError> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction().map_err(|e| error("starting a read", &e))?;
        let keys = root_keys(&mut tx, master)?;
        tx.commit().map_err(|e| error("ending a read", &e))?;
        Ok(keys)
    }

    fn rewrap_root(&self, _old: &MasterKey, _new: &MasterKey) -> Result<(), StoreError> {
        Err(not_yet("rotating the master key"))
    }

    fn reseal(&self, _new: &MasterKey) -> Result<(super::Rewrapped, StoreKeys), StoreError> {
        Err(not_yet("re-sealing the store"))
    }
}

impl LedgerStore for PgStore {
    fn verify_ledger(&self) -> Result<Vec<crate::ledger::Verification>, StoreError> {
        Err(not_yet("verifying the exposure ledger"))
    }

    fn prune_ledger(&self, _before_ms: i64) -> Result<u64, StoreError> {
        Err(not_yet("pruning the exposure ledger"))
    }

    fn ledger_entries(
        &self,
        _destination: Option<&str>,
        _limit: usize,
    ) -> Result<Vec<crate::ledger::Entry>, StoreError> {
        Err(not_yet("reading the exposure ledger"))
    }

    fn ledger_dict(&self) -> Result<crate::ledger::query::Dict, StoreError> {
        Err(not_yet("reading the exposure ledger"))
    }

    fn ledger_links(&self) -> Result<Vec<(u32, u32)>, StoreError> {
        Err(not_yet("reading the exposure ledger"))
    }

    fn ledger_rollups(
        &self,
        _destination: &str,
        _from_ms: i64,
        _to_ms: i64,
        _with_people: bool,
        _visit: &mut dyn FnMut(crate::ledger::rollup::Rollup, Option<crate::ledger::rollup::PeopleList>),
    ) -> Result<(), StoreError> {
        Err(not_yet("reading the exposure ledger"))
    }

    fn ledger_delivery_span(
        &self,
        _destination: &str,
        _from_ms: i64,
        _to_ms: i64,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        Err(not_yet("reading the exposure ledger"))
    }

    fn roll_up_ledger(&self, _now_ms: i64) -> Result<usize, StoreError> {
        Err(not_yet("rolling up the exposure ledger"))
    }

    fn ledger_subjects(&self, _visit: &mut dyn FnMut(super::SubjectRow<'_>)) -> Result<(), StoreError> {
        Err(not_yet("reading the exposure ledger"))
    }

    fn ledger_vendor_ids(&self, _destination: &str, _visit: &mut dyn FnMut(u32, u32, &str)) -> Result<(), StoreError> {
        Err(not_yet("reading the exposure ledger"))
    }

    fn reconcile_witness(&self, _accept_rollback: bool) -> Result<super::WitnessStart, StoreError> {
        Err(not_yet("the ledger witness"))
    }
}

impl IncidentStore for PgStore {
    fn save_incident(&self, id: Option<i64>, document: &str, now_ms: i64) -> Result<i64, StoreError> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction().map_err(|e| error("starting a transaction", &e))?;
        incidents::lock(&mut tx)?;
        let id = match id {
            Some(id) => {
                let n = tx
                    .execute(
                        "UPDATE incidents SET document = $2, updated_at = $3 WHERE id = $1",
                        &[&id, &document, &now_ms],
                    )
                    .map_err(|e| error("saving an incident", &e))?;
                if n == 0 {
                    return Err(StoreError::Unavailable(format!("no incident {id} to save")));
                }
                id
            }
            None => tx
                .query_one(
                    "INSERT INTO incidents (updated_at, document) VALUES ($1, $2) RETURNING id",
                    &[&now_ms, &document],
                )
                .and_then(|r| r.try_get(0))
                .map_err(|e| error("saving an incident", &e))?,
        };
        incidents::append(&mut tx, &self.incident_key, id, now_ms, document)?;
        tx.commit().map_err(|e| error("committing an incident", &e))?;
        Ok(id)
    }

    fn replace_incident(&self, id: i64, expected: &str, document: &str, now_ms: i64) -> Result<bool, StoreError> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction().map_err(|e| error("starting a transaction", &e))?;
        incidents::lock(&mut tx)?;
        let n = tx
            .execute(
                "UPDATE incidents SET document = $3, updated_at = $4 WHERE id = $1 AND document = $2",
                &[&id, &expected, &document, &now_ms],
            )
            .map_err(|e| error("replacing an incident", &e))?;
        if n != 1 {
            return Ok(false);
        }
        incidents::append(&mut tx, &self.incident_key, id, now_ms, document)?;
        tx.commit().map_err(|e| error("committing an incident", &e))?;
        Ok(true)
    }

    fn incidents(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = self
            .pool
            .get()?
            .query("SELECT id, document FROM incidents ORDER BY id", &[])
            .map_err(|e| error("reading incidents", &e))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<Vec<_>, postgres::Error>>()
            .map_err(|e| error("reading incidents", &e))
    }

    fn incident(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.pool
            .get()?
            .query_opt("SELECT document FROM incidents WHERE id = $1", &[&id])
            .map_err(|e| error("reading an incident", &e))?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(|e| error("reading an incident", &e))
    }
}

#[cfg(test)]
mod tests;
