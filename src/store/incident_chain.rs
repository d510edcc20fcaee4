//! The keyed chain over incident revisions, shared by both stores: how a revision's link and
//! the chain's seal are computed, and how a chain read back is judged (see
//! `store::sqlite::incidents` for the format). Each store reads and writes its own tables.

use std::collections::BTreeMap;

use ring::hmac;
use sha2::{Digest, Sha256};

use crate::ledger::Verification;

/// The `meta` key holding the chain's seal.
pub(crate) const SEAL_KEY: &str = "incident_chain";

/// A revision as stored: (seq, incident, revision, at, digest, link).
pub(crate) type Row = (i64, i64, i64, i64, Vec<u8>, Vec<u8>);

pub(crate) fn digest(document: &str) -> [u8; 32] {
    Sha256::digest(document.as_bytes()).into()
}

pub(crate) fn link(
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

/// How the `incident_chain` row stands.
pub(crate) enum Seal {
    Missing,
    /// Present but malformed, or its MAC does not verify.
    Forged,
    Sealed {
        count: i64,
        head: [u8; 32],
    },
}

/// The seal as read from `meta` (`None`: no row), checked under `key`.
pub(crate) fn parse_seal(text: Option<&str>, key: &hmac::Key) -> Seal {
    let Some(text) = text else {
        return Seal::Missing;
    };
    let mut it = text.split(',');
    let parsed = (|| {
        let count = it.next()?.parse::<i64>().ok()?;
        let head = crate::digits::unhex32(it.next()?)?;
        let mac = crate::digits::unhex32(it.next()?)?;
        it.next().is_none().then_some((count, head, mac))
    })();
    match parsed {
        Some((count, head, mac)) if crate::config::constant_time_eq(&seal_mac(key, count, &head), &mac) => {
            Seal::Sealed { count, head }
        }
        _ => Seal::Forged,
    }
}

/// The seal's `meta` value for a chain of `count` revisions ending at `head`.
pub(crate) fn seal_value(key: &hmac::Key, count: i64, head: &[u8; 32]) -> String {
    use crate::ledger::witness::hex32;
    format!("{count},{},{}", hex32(head), hex32(&seal_mac(key, count, head)))
}

#[derive(Default)]
struct Seen {
    revisions: u64,
    newest: Option<(i64, i64, [u8; 32])>,
    problems: Vec<String>,
}

/// Judges a chain read back: `rows` in `seq` order, the current documents
/// (id, updated_at, document) in id order, and the seal. One [`Verification`] per incident
/// (named `incident <id>`, `revisions` counted, `incident` listing what fails), and one named
/// `incidents` for what fails store-wide. Empty when there are no incidents and no revisions.
pub(crate) fn judge(key: &hmac::Key, rows: &[Row], docs: &[(i64, i64, String)], seal: Seal) -> Vec<Verification> {
    let mut seen: BTreeMap<i64, Seen> = BTreeMap::new();
    let mut store_wide = Vec::new();
    let mut prev = [0u8; 32];
    let mut expected_seq = 1;
    for (seq, incident, revision, at, d, l) in rows {
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
        // Chain from what the table says, so one bad revision is reported once, not for
        // every revision after it.
        prev = l.as_slice().try_into().unwrap_or([0; 32]);
        expected_seq = seq + 1;
    }
    let newest = rows.last().map_or((0, [0u8; 32]), |r| (r.0, prev));
    match seal {
        Seal::Missing if rows.is_empty() && docs.is_empty() => {}
        Seal::Missing => {
            store_wide.push("the chain's seal is missing (deleted, or written without the master key)".into())
        }
        Seal::Forged => store_wide.push("the chain's seal does not verify under the master key".into()),
        Seal::Sealed { count, head } => {
            if count > newest.0 {
                store_wide.push(format!(
                    "the newest {} revision(s) were removed (the chain is sealed at {count} revisions, holds {})",
                    count - newest.0,
                    newest.0
                ));
            } else if count < newest.0 {
                store_wide.push(format!(
                    "revisions past the sealed head were added without the master key ({} after revision {count})",
                    newest.0 - count
                ));
            } else if head != newest.1 {
                store_wide.push("the newest revision is not the one sealed".into());
            }
        }
    }
    let mut present = std::collections::BTreeSet::new();
    for (id, updated_at, doc) in docs {
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
    if !store_wide.is_empty() {
        out.push(Verification {
            destination: "incidents".into(),
            incident: store_wide,
            ..Verification::default()
        });
    }
    out
}
