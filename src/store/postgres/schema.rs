//! The schema and its versioned migrations.
//!
//! `schema_migrations(version, description, applied_at)` lists the migrations applied. On
//! open, one transaction takes a transaction-scoped advisory lock
//! ([`MIGRATION_LOCK`], `pg_advisory_xact_lock`), so processes starting at the same moment
//! run the migrations one after the other (the later ones find nothing left to do), applies
//! the missing ones in order and commits; a failure rolls every step back and releases the
//! lock. A database whose newest migration is newer than this build's is refused: an older
//! binary must not write rows a newer schema reads differently.

use postgres::Transaction;

use crate::store::StoreError;

/// The advisory lock key under which migrations run (`vwschema` in ASCII). Advisory locks are
/// per database, so another application's use of the same number elsewhere does not collide.
pub(super) const MIGRATION_LOCK: i64 = 0x7677_7363_6865_6d61;

/// The migrations, in order: (version, description, SQL).
pub(super) const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "outbox, dead letters, destinations, pseudonym keys, meta",
        "
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination TEXT NOT NULL,
    kind SMALLINT NOT NULL,
    payload BYTEA NOT NULL,
    enqueued_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    meta BYTEA,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ
);
CREATE INDEX outbox_by_destination ON outbox (destination, id);
CREATE TABLE dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination TEXT NOT NULL,
    kind SMALLINT NOT NULL,
    payload BYTEA NOT NULL,
    enqueued_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    failed_at BIGINT NOT NULL,
    meta BYTEA
);
CREATE INDEX dead_letters_by_destination ON dead_letters (destination, id);
CREATE TABLE destinations (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    dropped BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE TABLE destination_keys (
    destination TEXT NOT NULL,
    version INTEGER NOT NULL,
    sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (destination, version)
);
",
    ),
    (
        2,
        "incidents and the keyed chain over their revisions",
        "
CREATE TABLE incidents (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    updated_at BIGINT NOT NULL,
    document TEXT NOT NULL
);
CREATE TABLE incident_revisions (
    seq BIGINT PRIMARY KEY,
    incident BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    at BIGINT NOT NULL,
    digest BYTEA NOT NULL,
    link BYTEA NOT NULL
);
CREATE INDEX incident_revisions_by_incident ON incident_revisions (incident, revision);
",
    ),
];

/// The newest migration this build knows.
pub(super) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Brings the schema up to [`latest`] (see the module documentation); returns how many
/// migrations this call applied.
pub(super) fn migrate(tx: &mut Transaction<'_>) -> Result<usize, StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| super::error("waiting for the migration lock", &e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             description TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .map_err(|e| super::error("creating schema_migrations", &e))?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
        .and_then(|r| r.try_get(0))
        .map_err(|e| super::error("reading schema_migrations", &e))?;
    if current > latest() {
        return Err(StoreError::Corrupt(format!(
            "the database's schema is at migration {current}, newer than this build's {}: run a vendorwall at least as new as the one that migrated it",
            latest()
        )));
    }
    let mut applied = 0;
    for (version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql)
            .map_err(|e| super::error(&format!("applying migration {version}"), &e))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
            &[version, description],
        )
        .map_err(|e| super::error(&format!("recording migration {version}"), &e))?;
        applied += 1;
    }
    Ok(applied)
}
