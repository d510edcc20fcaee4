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

use postgres::Transaction;
use ring::hmac;
use sha2::{Digest, Sha256};

use super::error;
use crate::ledger::Verification;
use crate::store::StoreError;

/// The advisory lock key serialising appends to the chain (`vwincide` in ASCII).
pub(super) const CHAIN_LOCK: i64 = 0x7677_696e_6369_6465;

const SEAL_KEY: &str = "incident_chain";

fn digest(document: &str) -> [u8; 32] {
    Sha256::digest(document.as_bytes()).into()
}

fn link(
    key: &hmac::Key,
    prev: &[u8; 32],
    seq: i64,
    incident: i64,
    revision: i64,
    at_ms: i64,
    digest: &[u8; 32],
) -> [u8; 32] {
    let mut m = hmac::Context::with_key(key);
    m.update(b"incident revision\0");
    m.update(prev);
    for n in [seq, incident, revision, at_ms] {
        m.update(&n.to_le_bytes());
    }
    m.update(digest);
    let mut out = [0u8; 32];
    out.copy_from_slice(m.sign().as_ref());
    out
}

fn seal_mac(key: &hmac::Key, count: i64, head: &[u8; 32]) -> [u8; 32] {
    let mut m = hmac::Context::with_key(key);
    m.update(b"incident chain seal\0");
    m.update(&count.to_le_bytes());
    m.update(head);
    let mut out = [0u8; 32];
    out.copy_from_slice(m.sign().as_ref());
    out
}

enum Seal {
    Missing,
    /// Present but malformed, or its MAC does not verify.
    Forged,
    Sealed {
        count: i64,
        head: [u8; 32],
    },
}

fn read_seal(tx: &mut Transaction<'_>, key: &hmac::Key) -> Result<Seal, postgres::Error> {
    let text: Option<String> = tx
        .query_opt("SELECT value FROM meta WHERE key = $1", &[&SEAL_KEY])?
        .map(|r| r.try_get(0))
        .transpose()?;
    let Some(text) = text else {
        return Ok(Seal::Missing);
    };
    let mut it = text.split(',');
    let parsed = (|| {
        let count = it.next()?.parse::<i64>().ok()?;
        let head = crate::digits::unhex32(it.next()?)?;
        let mac = crate::digits::unhex32(it.next()?)?;
        it.next().is_none().then_some((count, head, mac))
    })();
    Ok(match parsed {
        Some((count, head, mac)) if crate::config::constant_time_eq(&seal_mac(key, count, &head), &mac) => {
            Seal::Sealed { count, head }
        }
        _ => Seal::Forged,
    })
}

fn write_seal(tx: &mut Transaction<'_>, key: &hmac::Key, count: i64, head: &[u8; 32]) -> Result<(), postgres::Error> {
    use crate::ledger::witness::hex32;
    let value = format!("{count},{},{}", hex32(head), hex32(&seal_mac(key, count, head)));
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&SEAL_KEY, &value],
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

#[derive(Default)]
struct Seen {
    revisions: u64,
    newest: Option<(i64, i64, [u8; 32])>,
    problems: Vec<String>,
}

/// Recomputes the chain against the incidents table, in one consistent snapshot: one
/// [`Verification`] per incident (`incident <id>`), and one named `incidents` for what fails
/// chain-wide. Reports what the embedded store's verification reports, in the same words.
pub(super) fn verify(tx: &mut Transaction<'_>, key: &hmac::Key) -> Result<Vec<Verification>, postgres::Error> {
    use std::collections::{BTreeMap, BTreeSet};
    type Row = (i64, i64, i64, i64, Vec<u8>, Vec<u8>);
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
    let mut seen: BTreeMap<i64, Seen> = BTreeMap::new();
    let mut chain_wide = Vec::new();
    let mut prev = [0u8; 32];
    let mut expected_seq = 1;
    for (seq, incident, revision, at, d, l) in &rows {
        let s = seen.entry(*incident).or_default();
        s.revisions += 1;
        if *seq != expected_seq {
            s.problems.push(format!(
                "revisions before its revision {revision} were deleted from the chain (chain positions {expected_seq} to {})",
                seq - 1
            ));
        }
        let last = s.newest.map_or(0, |(r, _, _)| r);
        if *revision != last + 1 {
            s.problems.push(format!(
                "its revision {revision} follows revision {last}: revisions between were deleted or reordered"
            ));
        }
        let d: [u8; 32] = d.as_slice().try_into().unwrap_or([0; 32]);
        if link(key, &prev, *seq, *incident, *revision, *at, &d).as_slice() != l.as_slice() {
            s.problems.push(format!(
                "its revision {revision} does not verify under the master key (edited, reordered or inserted)"
            ));
        }
        s.newest = Some((*revision, *at, d));
        prev = l.as_slice().try_into().unwrap_or([0; 32]);
        expected_seq = seq + 1;
    }
    let newest = rows.last().map_or((0, [0u8; 32]), |r| (r.0, prev));
    match read_seal(tx, key)? {
        Seal::Missing if rows.is_empty() && docs.is_empty() => {}
        Seal::Missing => {
            chain_wide.push("the chain's seal is missing (deleted, or written without the master key)".into())
        }
        Seal::Forged => chain_wide.push("the chain's seal does not verify under the master key".into()),
        Seal::Sealed { count, head } => {
            if count > newest.0 {
                chain_wide.push(format!(
                    "the newest {} revision(s) were removed (the chain is sealed at {count} revisions, holds {})",
                    count - newest.0,
                    newest.0
                ));
            } else if count < newest.0 {
                chain_wide.push(format!(
                    "revisions past the sealed head were added without the master key ({} after revision {count})",
                    newest.0 - count
                ));
            } else if head != newest.1 {
                chain_wide.push("the newest revision is not the one sealed".into());
            }
        }
    }
    let mut present = BTreeSet::new();
    for (id, updated_at, doc) in &docs {
        present.insert(*id);
        let s = seen.entry(*id).or_default();
        match s.newest {
            None => s
                .problems
                .push("it has no revision in the chain (written without the master key)".into()),
            Some((revision, at, d)) => {
                if digest(doc) != d {
                    s.problems
                        .push(format!("its document does not match its revision {revision} (edited)"));
                }
                if *updated_at != at {
                    s.problems.push(format!(
                        "its update time does not match its revision {revision} (edited)"
                    ));
                }
            }
        }
    }
    let mut out: Vec<Verification> = seen
        .into_iter()
        .map(|(id, mut s)| {
            if !present.contains(&id) {
                s.problems
                    .push("the incident was deleted (its revisions remain in the chain)".into());
            }
            Verification {
                destination: format!("incident {id}"),
                revisions: s.revisions,
                incident: s.problems,
                ..Verification::default()
            }
        })
        .collect();
    if !chain_wide.is_empty() {
        out.push(Verification {
            destination: "incidents".into(),
            incident: chain_wide,
            ..Verification::default()
        });
    }
    Ok(out)
}
