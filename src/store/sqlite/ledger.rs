//! Ledger tables in SQLite: written inside `complete`'s transaction; verified and pruned here.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::ledger::{Entry, Exposure, Verification, batch_hash, entries_digest};

fn last_hash(tx: &Connection, destination: &str) -> rusqlite::Result<[u8; 32]> {
    let last: Option<Vec<u8>> = tx
        .prepare_cached("SELECT hash FROM ledger_batches WHERE destination = ?1 ORDER BY id DESC LIMIT 1")?
        .query_row([destination], |r| r.get(0))
        .optional()?;
    let last = match last {
        Some(h) => Some(h),
        None => tx
            .prepare_cached("SELECT hash FROM ledger_anchors WHERE destination = ?1")?
            .query_row([destination], |r| r.get(0))
            .optional()?,
    };
    Ok(last.and_then(|h| h.try_into().ok()).unwrap_or([0; 32]))
}

/// The exposure metadata of delivered outbox rows, in id order (read before the write
/// transaction, so the writer lock is held only for the writes).
pub fn delivered_metas(conn: &Connection, destination: &str, delivered: &[i64]) -> rusqlite::Result<Vec<Vec<u8>>> {
    if delivered.is_empty() {
        return Ok(Vec::new());
    }
    let list = delivered.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let mut stmt = conn.prepare(&format!(
        "SELECT meta FROM outbox WHERE destination = ?1 AND id IN ({list}) AND meta IS NOT NULL ORDER BY id"
    ))?;
    let rows = stmt.query_map([destination], |r| r.get::<_, Vec<u8>>(0))?;
    rows.collect()
}

/// Writes ledger entries for delivered records (their exposure metadata, as stored with the
/// outbox rows) as one batch extending the destination's chain. Runs inside `complete`'s
/// transaction, with the deletion of those rows.
pub fn record_delivery(
    tx: &Transaction<'_>,
    destination: &str,
    metas: Vec<Vec<u8>>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    if metas.is_empty() {
        return Ok(());
    }
    let prev = last_hash(tx, destination)?;
    tx.prepare_cached(
        "INSERT INTO ledger_batches (destination, delivered_at, entries, digest, prev_hash, hash) VALUES (?1, ?2, ?3, x'', ?4, x'')",
    )?
    .execute(params![destination, now_ms, metas.len() as i64, prev.to_vec()])?;
    let batch = tx.last_insert_rowid();
    let mut entries = Vec::with_capacity(metas.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO ledger (destination, batch, delivered_at, exposure) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for raw in metas {
            insert.execute(params![destination, batch, now_ms, raw])?;
            entries.push(Entry {
                id: tx.last_insert_rowid(),
                destination: destination.to_owned(),
                batch,
                delivered_at_ms: now_ms,
                exposure: Exposure::default(),
                raw,
            });
        }
    }
    let digest = entries_digest(&entries);
    let hash = batch_hash(&prev, batch, destination, now_ms, entries.len() as u64, &digest);
    tx.prepare_cached("UPDATE ledger_batches SET digest = ?2, hash = ?3 WHERE id = ?1")?
        .execute(params![batch, digest.to_vec(), hash.to_vec()])?;
    Ok(())
}

fn batch_entries(conn: &Connection, batch: i64) -> rusqlite::Result<Vec<Entry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, destination, batch, delivered_at, exposure FROM ledger WHERE batch = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([batch], row_to_entry)?;
    rows.collect()
}

fn row_to_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    // Text or blob: an entry rewritten as text must hash differently, not fail the read.
    let raw = r.get_ref(4)?.as_bytes().map(<[u8]>::to_vec).unwrap_or_default();
    Ok(Entry {
        id: r.get(0)?,
        destination: r.get(1)?,
        batch: r.get(2)?,
        delivered_at_ms: r.get(3)?,
        exposure: serde_json::from_slice(&raw).unwrap_or_default(),
        raw,
    })
}

/// Recomputes every destination's chain.
pub fn verify(conn: &Connection) -> rusqlite::Result<Vec<Verification>> {
    let destinations: Vec<String> = conn
        .prepare(
            "SELECT DISTINCT destination FROM ledger_batches UNION SELECT destination FROM ledger_anchors ORDER BY 1",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for destination in destinations {
        let mut v = Verification {
            destination: destination.clone(),
            ..Verification::default()
        };
        let mut prev: [u8; 32] = conn
            .query_row(
                "SELECT hash FROM ledger_anchors WHERE destination = ?1",
                [&destination],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?
            .and_then(|h| h.try_into().ok())
            .unwrap_or([0; 32]);
        type BatchRow = (i64, i64, i64, Vec<u8>, Vec<u8>, Vec<u8>);
        let batches: Vec<BatchRow> = conn
            .prepare(
                "SELECT id, delivered_at, entries, digest, prev_hash, hash FROM ledger_batches WHERE destination = ?1 ORDER BY id",
            )?
            .query_map([&destination], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, delivered_at, count, digest, prev_hash, hash) in batches {
            v.batches += 1;
            let entries = batch_entries(conn, id)?;
            v.entries += entries.len() as u64;
            let recomputed = entries_digest(&entries);
            let consistent = entries.len() as i64 == count
                && recomputed.as_slice() == digest.as_slice()
                && entries
                    .iter()
                    .all(|e| e.destination == destination && e.delivered_at_ms == delivered_at);
            if !consistent {
                v.tampered_batches.push(id);
            }
            let expected = batch_hash(&prev, id, &destination, delivered_at, count as u64, &recomputed);
            if prev_hash.as_slice() != prev.as_slice() || (consistent && hash.as_slice() != expected.as_slice()) {
                v.broken_links.push(id);
            }
            prev = hash.try_into().unwrap_or([0; 32]);
        }
        // Entries that point at no batch of theirs were inserted behind the chain's back.
        let orphans: i64 = conn.query_row(
            "SELECT COUNT(*) FROM ledger l WHERE l.destination = ?1
             AND NOT EXISTS (SELECT 1 FROM ledger_batches b WHERE b.id = l.batch AND b.destination = l.destination)",
            [&destination],
            |r| r.get(0),
        )?;
        if orphans > 0 {
            v.tampered_batches.push(-1);
        }
        out.push(v);
    }
    Ok(out)
}

/// Deletes entries and batches delivered before `before_ms`; the last deleted batch's hash
/// becomes the destination's anchor, so the remaining chain still verifies.
pub fn prune(tx: &Transaction<'_>, before_ms: i64) -> rusqlite::Result<u64> {
    let cut: Vec<(String, i64, Vec<u8>)> = tx
        .prepare(
            "SELECT b.destination, b.id, b.hash FROM ledger_batches b
             WHERE b.id = (SELECT MAX(id) FROM ledger_batches c WHERE c.destination = b.destination AND c.delivered_at < ?1)",
        )?
        .query_map([before_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut deleted = 0u64;
    for (destination, last, hash) in cut {
        deleted += tx.execute(
            "DELETE FROM ledger WHERE destination = ?1 AND batch <= ?2",
            params![destination, last],
        )? as u64;
        tx.execute(
            "DELETE FROM ledger_batches WHERE destination = ?1 AND id <= ?2",
            params![destination, last],
        )?;
        tx.execute(
            "INSERT INTO ledger_anchors (destination, batch, hash) VALUES (?1, ?2, ?3)
             ON CONFLICT (destination) DO UPDATE SET batch = excluded.batch, hash = excluded.hash",
            params![destination, last, hash],
        )?;
    }
    Ok(deleted)
}

pub fn entries(conn: &Connection, destination: Option<&str>, limit: usize) -> rusqlite::Result<Vec<Entry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, destination, batch, delivered_at, exposure FROM ledger WHERE (?1 IS NULL OR destination = ?1) ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![destination, limit as i64], row_to_entry)?;
    rows.collect()
}
