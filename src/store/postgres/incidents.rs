//! Incident documents and the keyed chain over their revisions, on PostgreSQL.
//!
//! ```sql
//! incidents(id BIGINT IDENTITY PRIMARY KEY, updated_at, document TEXT)
//! incident_revisions(seq PRIMARY KEY, incident, revision, at, digest BYTEA, link BYTEA)
//! meta: incident_chain = "<count>,<head link hex>,<seal hex>"
//! ```
//!
//! The same chain as the embedded store's (`store::sqlite::incidents`: the link and seal are
//! computed identically, under the same key, so `ledger verify` reads one format): revision
//! `seq` (1, 2, 3, … with no gaps) records the `revision`-th write of incident `incident` at
//! `at` with a document whose SHA-256 is `digest`; `link` is an HMAC over the previous link
//! and those fields, and the `incident_chain` row seals the count and newest link.
//!
//! Several gateways and CLI processes write incidents at once here, so every append takes a
//! transaction-scoped advisory lock ([`CHAIN_LOCK`]) before reading the seal: appends are
//! serialised, each sees the one before it, and the lock goes with the transaction.

use crate::store::incident_chain::{Row, SEAL_KEY, Seal, digest, judge, link, parse_seal, seal_value};
use postgres::Transaction;
use ring::hmac;

use super::error;
use crate::ledger::Verification;
use crate::store::StoreError;

/// The advisory lock key serialising appends to the chain (`vwincide` in ASCII).
pub(super) const CHAIN_LOCK: i64 = 0x7677_696e_6369_6465;

fn read_seal(tx: &mut Transaction<'_>, key: &hmac::Key) -> Result<Seal, postgres::Error> {
    let text: Option<String> = tx
        .query_opt("SELECT value FROM meta WHERE key = $1", &[&SEAL_KEY])?
        .map(|r| r.try_get(0))
        .transpose()?;
    Ok(parse_seal(text.as_deref(), key))
}

fn write_seal(tx: &mut Transaction<'_>, key: &hmac::Key, count: i64, head: &[u8; 32]) -> Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&SEAL_KEY, &seal_value(key, count, head)],
    )?;
    Ok(())
}

/// Takes the chain's lock for the rest of the caller's transaction.
pub(super) fn lock(tx: &mut Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])
        .map_err(|e| error("waiting for the incident chain", &e))?;
    Ok(())
}

/// Appends a revision of `incident` holding `document`, written at `at_ms`, and moves the
/// seal to it, inside the caller's transaction (which wrote the document and holds [`lock`]).
/// Refused over a chain that no longer ends at its seal: appending would seal the damage.
pub(super) fn append(
    tx: &mut Transaction<'_>,
    key: &hmac::Key,
    incident: i64,
    at_ms: i64,
    document: &str,
) -> Result<(), StoreError> {
    let broken = |what: &str| {
        StoreError::Corrupt(format!(
            "the incident chain {what}: run `vendorwall ledger verify`; nothing is recorded over it"
        ))
    };
    let sql = |e: postgres::Error| error("extending the incident chain", &e);
    let newest: Option<(i64, Vec<u8>)> = tx
        .query_opt(
            "SELECT seq, link FROM incident_revisions ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .map_err(sql)?
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .transpose()
        .map_err(sql)?;
    let (count, head) = match (read_seal(tx, key).map_err(sql)?, newest) {
        (Seal::Missing, None) => (0, [0; 32]),
        (Seal::Missing, Some(_)) => return Err(broken("has lost its seal")),
        (Seal::Forged, _) => return Err(broken("seal does not verify under the master key")),
        (Seal::Sealed { count, head }, Some((seq, link))) if seq == count && link.as_slice() == head => (count, head),
        (Seal::Sealed { count: 0, head }, None) if head == [0; 32] => (0, head),
        (Seal::Sealed { .. }, _) => return Err(broken("no longer ends at its sealed head")),
    };
    let revision: i64 = tx
        .query_one(
            "SELECT coalesce(max(revision), 0) + 1 FROM incident_revisions WHERE incident = $1",
            &[&incident],
        )
        .and_then(|r| r.try_get(0))
        .map_err(sql)?;
    let seq = count + 1;
    let d = digest(document);
    let l = link(key, &head, seq, incident, revision, at_ms, &d);
    tx.execute(
        "INSERT INTO incident_revisions (seq, incident, revision, at, digest, link) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&seq, &incident, &revision, &at_ms, &d.as_slice(), &l.as_slice()],
    )
    .map_err(sql)?;
    write_seal(tx, key, seq, &l).map_err(sql)
}

/// Recomputes the chain against the incidents table, in one consistent snapshot: one
/// [`Verification`] per incident (`incident <id>`), and one named `incidents` for what fails
/// chain-wide. Reports what the embedded store's verification reports, in the same words.
pub(super) fn verify(tx: &mut Transaction<'_>, key: &hmac::Key) -> Result<Vec<Verification>, postgres::Error> {
    let rows: Vec<Row> = tx
        .query(
            "SELECT seq, incident, revision, at, digest, link FROM incident_revisions ORDER BY seq",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get(5)?,
            ))
        })
        .collect::<Result<_, postgres::Error>>()?;
    let docs: Vec<(i64, i64, String)> = tx
        .query("SELECT id, updated_at, document FROM incidents ORDER BY id", &[])?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<_, postgres::Error>>()?;
    let seal = read_seal(tx, key)?;
    Ok(judge(key, &rows, &docs, seal))
}
