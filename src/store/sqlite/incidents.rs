//! The keyed chain over incident documents: every write of an incident appends a revision.
//!
//! ```sql
//! incidents(id, updated_at, document)            -- the current document (see the store)
//! incident_revisions(seq, incident, revision, at, digest, link)
//! meta: incident_chain = "<count>,<head link hex>,<seal hex>"
//! ```
//!
//! One chain across the store. Revision `seq` (1, 2, 3, … with no gaps) records that incident
//! `incident` was written for the `revision`-th time (1, 2, 3, … per incident) at `at`, with
//! a document whose SHA-256 is `digest`. Its `link` is an HMAC, under a key derived from the
//! master key ([`key_of`]: from the ledger's chain key, label `incident chain`, so it moves
//! with the ledger's key when the master key is rotated), over the previous revision's link
//! (32 zero bytes for the first), `seq`, the incident id, `revision`, `at` and `digest`. The `incident_chain`
//! row holds the number of revisions and the newest link, with an HMAC over both under the
//! same key (separate domain): deleting the newest revisions, or a whole incident together with
//! its revisions, leaves the count short, and an older seal cannot be recomputed without the
//! key.
//!
//! `ledger verify` recomputes the chain and reports, per incident: a document that no longer
//! matches its newest revision (its people count, timeline, deadlines or drafts edited), an
//! update time that does not match, a revision whose link does not verify (edited, reordered,
//! inserted, or a plain hash recomputed), revisions missing before another (deleted), an
//! incident deleted while its revisions remain, an incident with no revision (inserted without
//! the key); and store-wide: a missing or forged seal, newest revisions removed.
//!
//! A write over a chain whose seal does not match its newest revision is refused: appending
//! would seal the damage as if it were intact.
//!
//! Not caught here: the whole store swapped for an older copy of itself (seal and revisions
//! consistent, only older). The ledger witness catches that for ledger batches; the incident
//! chain is not in the witness, because incidents are also written by CLI processes beside
//! `serve`, and the witness file is appended by one process that keeps its chain state in
//! memory.

use crate::store::incident_chain::{Row, SEAL_KEY, Seal, digest, judge, link, parse_seal, seal_value};
use ring::hmac;
use rusqlite::{Connection, OptionalExtension, params};

use crate::ledger::{ChainKey, Verification};
use crate::store::StoreError;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS incident_revisions (
    seq INTEGER PRIMARY KEY,
    incident INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    at INTEGER NOT NULL,
    digest BLOB NOT NULL,
    link BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_revisions_by_incident ON incident_revisions (incident, revision);
";

/// The label the incident chain's key is derived from the ledger's chain key with.
const LABEL: &[u8] = b"incident chain";

/// The incident chain's key: an HMAC of [`LABEL`] under the ledger's chain key (itself
/// derived from the master key, purpose `ledger chain`). No stored MAC is over that label
/// alone, so the store never holds the key. `None` for the unkeyed legacy chain.
pub fn key_of(chain: &ChainKey) -> Option<hmac::Key> {
    match chain {
        ChainKey::Legacy => None,
        ChainKey::Keyed(k) => Some(hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(k, LABEL).as_ref())),
    }
}

fn read_seal(conn: &Connection, key: &hmac::Key) -> rusqlite::Result<Seal> {
    let text: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([SEAL_KEY], |r| r.get(0))
        .optional()?;
    Ok(parse_seal(text.as_deref(), key))
}

fn write_seal(conn: &Connection, key: &hmac::Key, count: i64, head: &[u8; 32]) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![SEAL_KEY, seal_value(key, count, head)])?;
    Ok(())
}

fn sql(e: rusqlite::Error) -> StoreError {
    super::err(e)
}

/// Appends a revision of `incident` holding `document`, written at `at_ms`, and moves the
/// seal to it. Runs inside the caller's transaction (the one that wrote the document).
pub fn append(conn: &Connection, key: &hmac::Key, incident: i64, at_ms: i64, document: &str) -> Result<(), StoreError> {
    let broken = |what: &str| {
        StoreError::Corrupt(format!(
            "the incident chain {what}: run `vendorwall ledger verify`; nothing is recorded over it"
        ))
    };
    let newest: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT seq, link FROM incident_revisions ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(sql)?;
    let (count, head) = match (read_seal(conn, key).map_err(sql)?, newest) {
        (Seal::Missing, None) => (0, [0; 32]),
        (Seal::Missing, Some(_)) => return Err(broken("has lost its seal")),
        (Seal::Forged, _) => return Err(broken("seal does not verify under the master key")),
        (Seal::Sealed { count, head }, Some((seq, link))) if seq == count && link.as_slice() == head => (count, head),
        (Seal::Sealed { count: 0, head }, None) if head == [0; 32] => (0, head),
        (Seal::Sealed { .. }, _) => return Err(broken("no longer ends at its sealed head")),
    };
    let revision: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(revision), 0) + 1 FROM incident_revisions WHERE incident = ?1")
        .and_then(|mut s| s.query_row([incident], |r| r.get(0)))
        .map_err(sql)?;
    let seq = count + 1;
    let d = digest(document);
    let l = link(key, &head, seq, incident, revision, at_ms, &d);
    conn.prepare_cached(
        "INSERT INTO incident_revisions (seq, incident, revision, at, digest, link) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| s.execute(params![seq, incident, revision, at_ms, d.as_slice(), l.as_slice()]))
    .map_err(sql)?;
    write_seal(conn, key, seq, &l).map_err(sql)
}

/// Chains the incidents of a store written before the chain existed, each as its current
/// document (revision 1 at its update time), oldest first. Returns how many: trust on first
/// use, run once, when the store moves to the schema version that has the chain.
pub fn chain_existing(conn: &Connection, key: &hmac::Key) -> Result<u64, StoreError> {
    let docs: Vec<(i64, i64, String)> = conn
        .prepare("SELECT id, updated_at, document FROM incidents ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
        .map_err(sql)?;
    for (id, at, doc) in &docs {
        append(conn, key, *id, *at, doc)?;
    }
    Ok(docs.len() as u64)
}

/// Recomputes every link and the seal under `key`, trusting the revisions as they are: only
/// for moving a chain that verified under the old key to a new one (the ledger's re-keying
/// does it with the master key's rotation, after `ledger verify` passed).
pub fn rekey(conn: &Connection, key: &hmac::Key) -> rusqlite::Result<u64> {
    type Row = (i64, i64, i64, i64, Vec<u8>);
    let rows: Vec<Row> = conn
        .prepare("SELECT seq, incident, revision, at, digest FROM incident_revisions ORDER BY seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut prev = [0u8; 32];
    for (seq, incident, revision, at, d) in &rows {
        let d: [u8; 32] = d.as_slice().try_into().unwrap_or([0; 32]);
        prev = link(key, &prev, *seq, *incident, *revision, *at, &d);
        conn.execute(
            "UPDATE incident_revisions SET link = ?2 WHERE seq = ?1",
            params![seq, prev.as_slice()],
        )?;
    }
    if !rows.is_empty()
        || conn.query_row("SELECT EXISTS (SELECT 1 FROM meta WHERE key = ?1)", [SEAL_KEY], |r| {
            r.get(0)
        })?
    {
        let count = rows.last().map_or(0, |r| r.0);
        write_seal(conn, key, count, &prev)?;
    }
    Ok(rows.len() as u64)
}

/// Recomputes the chain against the incidents table: one [`Verification`] per incident
/// (named `incident <id>`, `revisions` counted, `incident` listing what fails), and one named
/// `incidents` for what fails store-wide. Empty when there are no incidents and no revisions.
pub fn verify(conn: &Connection, key: &hmac::Key) -> rusqlite::Result<Vec<Verification>> {
    let rows: Vec<Row> = conn
        .prepare("SELECT seq, incident, revision, at, digest, link FROM incident_revisions ORDER BY seq")?
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let docs: Vec<(i64, i64, String)> = conn
        .prepare("SELECT id, updated_at, document FROM incidents ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let seal = read_seal(conn, key)?;
    Ok(judge(key, &rows, &docs, seal))
}
