//! Ledger tables in SQLite: written inside `complete`'s transaction; verified, pruned, rolled
//! up and queried here.
//!
//! ```sql
//! ledger_names(id, kind, name)           -- interned sources, categories, pointers, destinations
//! ledger_sets(id, kind, members)         -- interned category sets and field-pointer sets
//! ledger_subjects(id, digest, sealed, contact, mac)  -- one per app subject id: keyed
//!                                        -- digest, the id sealed, a sealed contact email
//!                                        -- (opt-in)
//! ledger_links(subject, person, mac)     -- linked ids → the person's first subject
//! ledger_vendor_ids(destination, subject, key_version, vendor_id, mac)  -- ids as vendors
//!                                        -- know them
//! ledger_batches(id, destination, delivered_at, entries, body, digest, prev_hash, hash)
//! ledger_rollups(destination, day, upto_batch, counts, people)  -- closed days, rolled up
//!                                        -- (derived: dropped and rebuilt freely)
//! ledger_anchors(destination, batch, hash)          -- the chain's start after pruning
//! meta: ledger_head:<destination>, ledger_dictionary, ledger_rows, ledger_chain
//! ```
//!
//! # What the chain key covers
//!
//! Each batch's `hash` is an HMAC (key derived from the master key, purpose `ledger chain`)
//! over the previous one and the batch. The names and sets it points into are covered by
//! `ledger_dictionary`, an HMAC of their digest. Every subject, link and vendor-id row carries
//! `mac`, an HMAC (16 bytes) of its whole content including its key, so an edited row, or a
//! sealed id moved to another subject, no longer verifies. `ledger_rows` holds the three
//! tables' row counts and an HMAC over them and the newest batch (id and link), rewritten with
//! every batch: a deleted row leaves a count short. A row set back to an older value of its
//! own (a link's person before a later merge) is not told apart: only the current value's MAC
//! is kept.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::ledger::codec::{EntryCode, batch_entries, decode_batch, decode_meta, encode_batch};
use crate::ledger::query::{CatSet, Dict};
use crate::ledger::rollup::{Builder, DAY_MS, PeopleList, Rollup, day_of};
use crate::ledger::{ChainKey, Entry, Exposure, Verification, body_digest, digest_bytes};
use crate::store::SubjectRow;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ledger_names (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (kind, name)
);
CREATE TABLE IF NOT EXISTS ledger_sets (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    members TEXT NOT NULL,
    UNIQUE (kind, members)
);
CREATE TABLE IF NOT EXISTS ledger_subjects (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    sealed BLOB,
    contact BLOB,
    mac BLOB
);
CREATE TABLE IF NOT EXISTS ledger_links (
    subject INTEGER PRIMARY KEY,
    person INTEGER NOT NULL,
    mac BLOB
);
CREATE INDEX IF NOT EXISTS ledger_links_by_person ON ledger_links (person);
CREATE TABLE IF NOT EXISTS ledger_vendor_ids (
    destination INTEGER NOT NULL,
    subject INTEGER NOT NULL,
    key_version INTEGER NOT NULL,
    vendor_id BLOB NOT NULL,
    mac BLOB,
    PRIMARY KEY (destination, subject, key_version, vendor_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_batches (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    delivered_at INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    digest BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    body BLOB
);
CREATE INDEX IF NOT EXISTS ledger_batches_by_destination ON ledger_batches (destination, id);
CREATE INDEX IF NOT EXISTS ledger_batches_by_time ON ledger_batches (destination, delivered_at);
DROP TABLE IF EXISTS ledger_days;
CREATE TABLE IF NOT EXISTS ledger_rollups (
    destination TEXT NOT NULL,
    day INTEGER NOT NULL,
    upto_batch INTEGER NOT NULL,
    counts BLOB NOT NULL,
    people BLOB NOT NULL,
    PRIMARY KEY (destination, day)
);
CREATE TABLE IF NOT EXISTS ledger_anchors (
    destination TEXT PRIMARY KEY,
    batch INTEGER NOT NULL,
    hash BLOB NOT NULL
);
";

/// Kinds of interned names and sets (`ledger_names.kind`, `ledger_sets.kind`).
pub const NAME_SOURCE: i64 = 1;
pub const NAME_CATEGORY: i64 = 2;
pub const NAME_POINTER: i64 = 3;
pub const NAME_DESTINATION: i64 = 4;
pub const SET_CATEGORIES: i64 = 1;
pub const SET_FIELDS: i64 = 2;

/// A closed day is rolled up once this long after it ends (deliveries stamped with a clock
/// slightly behind still land in their day's batches before that).
pub const ROLLUP_GRACE_MS: i64 = 10 * 60 * 1000;

/// Interning caches of the writer. Cleared whenever a write transaction fails, so they never
/// hold ids a rolled-back transaction created.
#[derive(Default)]
pub struct Cache {
    /// By kind, then name (looked up without allocating).
    names: HashMap<i64, HashMap<String, u32>>,
    sets: HashMap<i64, HashMap<String, u32>>,
    subjects: HashMap<[u8; 16], u32>,
    contacts: HashSet<u32>,
    vendor_ids: HashSet<(u32, u32, u32, String)>,
}

const CACHE_SUBJECTS: usize = 200_000;

impl Cache {
    pub fn clear(&mut self) {
        *self = Cache::default();
    }

    /// Plants a subject id, as a transaction that later rolled back would have.
    #[cfg(test)]
    pub fn remember_subject(&mut self, digest: [u8; 16], id: u32) {
        self.subjects.insert(digest, id);
    }
}

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

struct Interner<'a, 'c> {
    tx: &'a Transaction<'c>,
    cache: &'a mut Cache,
    key: &'a ChainKey,
    /// A name or set was added: the dictionary's digest must be sealed again.
    grew: bool,
    /// Rows added to the subject, link and vendor-id tables.
    added: RowCounts,
}

/// Rows in the subject, link and vendor-id tables.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct RowCounts {
    pub subjects: u64,
    pub links: u64,
    pub vendor_ids: u64,
}

/// Truncated HMAC of a row (16 bytes: forging one takes 2^128 tries without the key).
fn row_mac(key: &ChainKey, parts: &[&[u8]]) -> [u8; 16] {
    let mut data = Vec::with_capacity(96);
    for p in parts {
        data.extend_from_slice(&(p.len() as u32).to_le_bytes());
        data.extend_from_slice(p);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&key.seal(&data)[..16]);
    out
}

/// A `NULL` column in a row MAC (told apart from an empty value).
const NULL_PART: &[u8] = b"\xff\x00null";

pub fn subject_mac(key: &ChainKey, id: u32, digest: &[u8], sealed: Option<&[u8]>, contact: Option<&[u8]>) -> [u8; 16] {
    row_mac(
        key,
        &[
            b"ledger_subjects",
            &id.to_le_bytes(),
            digest,
            sealed.unwrap_or(NULL_PART),
            contact.unwrap_or(NULL_PART),
        ],
    )
}

pub fn link_mac(key: &ChainKey, subject: u32, person: u32) -> [u8; 16] {
    row_mac(key, &[b"ledger_links", &subject.to_le_bytes(), &person.to_le_bytes()])
}

fn vendor_id_mac(
    key: &ChainKey,
    destination: u32,
    subject: u32,
    key_version: u32,
    id: &rusqlite::types::Value,
) -> [u8; 16] {
    let (tag, bytes): (&[u8], &[u8]) = match id {
        rusqlite::types::Value::Blob(b) => (b"blob", b),
        rusqlite::types::Value::Text(t) => (b"text", t.as_bytes()),
        _ => (b"other", b""),
    };
    row_mac(
        key,
        &[
            b"ledger_vendor_ids",
            &destination.to_le_bytes(),
            &subject.to_le_bytes(),
            &key_version.to_le_bytes(),
            tag,
            bytes,
        ],
    )
}

fn unbase64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// A vendor id as stored: 16 bytes for a pseudonym (32 lowercase hex), else its text.
fn vendor_id_value(id: &str) -> rusqlite::types::Value {
    match digest_bytes(id) {
        Some(b) if id.bytes().all(|c| !c.is_ascii_uppercase()) => rusqlite::types::Value::Blob(b.to_vec()),
        _ => rusqlite::types::Value::Text(id.to_owned()),
    }
}

pub fn vendor_id_text(v: rusqlite::types::ValueRef<'_>) -> String {
    match v {
        rusqlite::types::ValueRef::Blob(b) => hex(b),
        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        _ => String::new(),
    }
}

impl Interner<'_, '_> {
    fn name(&mut self, kind: i64, name: &str) -> rusqlite::Result<u32> {
        if let Some(&id) = self.cache.names.get(&kind).and_then(|m| m.get(name)) {
            return Ok(id);
        }
        self.grew |= self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO ledger_names (kind, name) VALUES (?1, ?2)")?
            .execute(params![kind, name])?
            > 0;
        let id: u32 = self
            .tx
            .prepare_cached("SELECT id FROM ledger_names WHERE kind = ?1 AND name = ?2")?
            .query_row(params![kind, name], |r| r.get(0))?;
        self.cache.names.entry(kind).or_default().insert(name.to_owned(), id);
        Ok(id)
    }

    fn set(&mut self, kind: i64, members: String) -> rusqlite::Result<u32> {
        if let Some(&id) = self.cache.sets.get(&kind).and_then(|m| m.get(&members)) {
            return Ok(id);
        }
        self.grew |= self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO ledger_sets (kind, members) VALUES (?1, ?2)")?
            .execute(params![kind, members])?
            > 0;
        let id: u32 = self
            .tx
            .prepare_cached("SELECT id FROM ledger_sets WHERE kind = ?1 AND members = ?2")?
            .query_row(params![kind, members], |r| r.get(0))?;
        self.cache.sets.entry(kind).or_default().insert(members, id);
        Ok(id)
    }

    fn name_list(&mut self, kind: i64, names: &[String]) -> rusqlite::Result<String> {
        let mut ids = names
            .iter()
            .map(|n| self.name(kind, n))
            .collect::<rusqlite::Result<Vec<u32>>>()?;
        ids.sort_unstable();
        ids.dedup();
        let mut list = Vec::with_capacity(ids.len() * 4);
        let mut buf = itoa::Buffer::new();
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                list.push(b',');
            }
            list.extend_from_slice(buf.format(*id).as_bytes());
        }
        // Digits and commas: always UTF-8.
        Ok(String::from_utf8(list).unwrap_or_default())
    }

    /// The subject's id, and whether this call created it. Subjects are never deleted, so
    /// an id is never handed out twice and a new subject has no links yet.
    fn subject(&mut self, digest: [u8; 16], sealed: Option<&str>) -> rusqlite::Result<(u32, bool)> {
        if let Some(&id) = self.cache.subjects.get(&digest) {
            return Ok((id, false));
        }
        let sealed = sealed.and_then(unbase64);
        // One statement for a new subject; a known one is looked up after the ignored insert.
        // (`RETURNING id` would cost more: SQLite gathers returned rows in a temporary table.)
        let inserted = self
            .tx
            .prepare_cached("INSERT OR IGNORE INTO ledger_subjects (digest, sealed) VALUES (?1, ?2)")?
            .execute(params![digest.as_slice(), sealed])?
            == 1;
        let id: u32 = if inserted {
            let rowid = self.tx.last_insert_rowid();
            let id = u32::try_from(rowid).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, rowid))?;
            let mac = subject_mac(self.key, id, &digest, sealed.as_deref(), None);
            self.tx
                .prepare_cached("UPDATE ledger_subjects SET mac = ?2 WHERE id = ?1")?
                .execute(params![id, mac.as_slice()])?;
            self.added.subjects += 1;
            id
        } else {
            self.tx
                .prepare_cached("SELECT id FROM ledger_subjects WHERE digest = ?1")?
                .query_row([digest.as_slice()], |r| r.get(0))?
        };
        if self.cache.subjects.len() >= CACHE_SUBJECTS {
            self.cache.subjects.clear();
            self.cache.contacts.clear();
            self.cache.vendor_ids.clear();
        }
        self.cache.subjects.insert(digest, id);
        Ok((id, inserted))
    }

    fn contact(&mut self, subject: u32, sealed: &str) -> rusqlite::Result<()> {
        if !self.cache.contacts.insert(subject) {
            return Ok(());
        }
        if let Some(bytes) = unbase64(sealed) {
            let (digest, sealed): (Vec<u8>, Option<Vec<u8>>) = self
                .tx
                .prepare_cached("SELECT digest, sealed FROM ledger_subjects WHERE id = ?1")?
                .query_row([subject], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let mac = subject_mac(self.key, subject, &digest, sealed.as_deref(), Some(&bytes));
            self.tx
                .prepare_cached("UPDATE ledger_subjects SET contact = ?2, mac = ?3 WHERE id = ?1")?
                .execute(params![subject, bytes, mac.as_slice()])?;
        }
        Ok(())
    }

    fn person(&self, subject: u32) -> rusqlite::Result<u32> {
        Ok(self
            .tx
            .prepare_cached("SELECT person FROM ledger_links WHERE subject = ?1")?
            .query_row([subject], |r| r.get(0))
            .optional()?
            .unwrap_or(subject))
    }

    /// Makes two subjects one person. `a` is the subject of the record that linked them (the
    /// identified id of an `$identify`, the user id beside a device id): its person absorbs
    /// `b`'s, so a person is named by an id the app knows them by.
    ///
    /// An id already linked to another person stays with it: a device shared by two users
    /// links to the first, and never merges the two people (Mixpanel's ID merge, likewise,
    /// gives an anonymous id to one user).
    ///
    /// `*_new`: the subject was created in this transaction, so it has no links and no
    /// subject belongs to its person: nothing to look up or move (the common case of an
    /// anonymous device seen for the first time).
    fn link(&mut self, (a, a_new): (u32, bool), (b, b_new): (u32, bool)) -> rusqlite::Result<()> {
        let pa = if a_new { a } else { self.person(a)? };
        let pb = if b_new { b } else { self.person(b)? };
        if pa == pb || pb != b {
            return Ok(());
        }
        let (root, other) = (pa, pb);
        // A subject created in this transaction has no link row to replace, and nobody
        // belongs to its person yet.
        // (`b` has no link row of its own: its person is itself.)
        let sql = if b_new {
            "INSERT INTO ledger_links (subject, person, mac) VALUES (?1, ?2, ?3)"
        } else {
            let moved: Vec<u32> = self
                .tx
                .prepare_cached("SELECT subject FROM ledger_links WHERE person = ?1")?
                .query_map([other], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut update = self
                .tx
                .prepare_cached("UPDATE ledger_links SET person = ?2, mac = ?3 WHERE subject = ?1")?;
            for subject in moved {
                update.execute(params![subject, root, link_mac(self.key, subject, root).as_slice()])?;
            }
            "INSERT OR REPLACE INTO ledger_links (subject, person, mac) VALUES (?1, ?2, ?3)"
        };
        self.tx
            .prepare_cached(sql)?
            .execute(params![other, root, link_mac(self.key, other, root).as_slice()])?;
        self.added.links += 1;
        Ok(())
    }

    fn vendor_id(&mut self, destination: u32, subject: u32, key_version: u32, id: &str) -> rusqlite::Result<()> {
        if !self
            .cache
            .vendor_ids
            .insert((destination, subject, key_version, id.to_owned()))
        {
            return Ok(());
        }
        let value = vendor_id_value(id);
        let mac = vendor_id_mac(self.key, destination, subject, key_version, &value);
        self.added.vendor_ids += self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO ledger_vendor_ids (destination, subject, key_version, vendor_id, mac) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![destination, subject, key_version, value, mac.as_slice()])? as u64;
        Ok(())
    }

    /// Interns everything a record's exposure names, returning its entry.
    fn entry(&mut self, destination: u32, x: &Exposure) -> rusqlite::Result<EntryCode> {
        let (subject, subject_new) = match x.subject_digest.as_deref().and_then(digest_bytes) {
            Some(d) => self.subject(d, x.subject_sealed.as_deref())?,
            None => (0, false),
        };
        if subject != 0 {
            if let Some(c) = &x.contact_sealed {
                self.contact(subject, c)?;
            }
            for l in &x.linked {
                if let Some(d) = digest_bytes(&l.digest) {
                    let other = self.subject(d, l.sealed.as_deref())?;
                    self.link((subject, subject_new), other)?;
                }
            }
            if let Some(v) = &x.vendor_id {
                self.vendor_id(destination, subject, x.key_version, v)?;
            }
        }
        let sent = self.name_list(NAME_CATEGORY, &x.sent)?;
        let pseudo = self.name_list(NAME_CATEGORY, &x.pseudonymised)?;
        let held = self.name_list(NAME_CATEGORY, &x.held_back)?;
        let catset = self.set(SET_CATEGORIES, format!("{sent}|{pseudo}|{held}"))?;
        let fields = self.name_list(NAME_POINTER, &x.fields)?;
        let fieldset = self.set(SET_FIELDS, fields)?;
        Ok(EntryCode {
            subject,
            catset,
            fieldset,
            source: self.name(NAME_SOURCE, &x.source)?,
            key_version: x.key_version,
            event_ms: x.event_time_ms,
        })
    }
}

/// Writes ledger entries for delivered records (their exposure metadata, as stored with the
/// outbox rows) as one batch extending the destination's chain. Runs inside `complete`'s
/// transaction, with the deletion of those rows.
pub fn record_delivery(
    tx: &Transaction<'_>,
    cache: &mut Cache,
    key: &ChainKey,
    destination: &str,
    metas: &[&[u8]],
    now_ms: i64,
) -> rusqlite::Result<Option<(i64, [u8; 32])>> {
    let exposures: Vec<Exposure> = metas.iter().filter_map(|m| decode_meta(m).ok()).collect();
    if exposures.len() < metas.len() {
        // Only the count: a meta holds sealed ids and digests.
        tracing::error!(
            destination,
            records = metas.len() - exposures.len(),
            "delivered records' exposure metadata does not decode; they are not in the ledger"
        );
    }
    append_batch(tx, cache, key, destination, &exposures, now_ms)
}

/// Appends one batch of exposures to a destination's chain; returns the batch id and its
/// chain link (what the witness records), or nothing for an empty batch.
pub fn append_batch(
    tx: &Transaction<'_>,
    cache: &mut Cache,
    key: &ChainKey,
    destination: &str,
    exposures: &[Exposure],
    now_ms: i64,
) -> rusqlite::Result<Option<(i64, [u8; 32])>> {
    if exposures.is_empty() {
        return Ok(None);
    }
    let mut interner = Interner {
        tx,
        cache,
        key,
        grew: false,
        added: RowCounts::default(),
    };
    let dest_id = interner.name(NAME_DESTINATION, destination)?;
    let entries = exposures
        .iter()
        .map(|x| interner.entry(dest_id, x))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let (grew, added) = (interner.grew, interner.added);
    if grew {
        seal_dictionary(tx, key)?;
    }
    let (id, hash) = append_encoded(tx, key, destination, &entries, now_ms)?;
    let mut counts = recorded_rows(tx)?.map_or(RowCounts::default(), |(c, ..)| c);
    counts.subjects += added.subjects;
    counts.links += added.links;
    counts.vendor_ids += added.vendor_ids;
    seal_rows_counts(tx, key, counts, id, &hash)?;
    Ok(Some((id, hash)))
}

/// The `ledger_rows` record: counts, the batch it was sealed with, and its MAC.
fn recorded_rows(conn: &Connection) -> rusqlite::Result<Option<(RowCounts, i64, String)>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'ledger_rows'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(text.and_then(|t| {
        let mut it = t.split(',');
        let mut num = || it.next()?.parse::<i64>().ok();
        let counts = RowCounts {
            subjects: num()? as u64,
            links: num()? as u64,
            vendor_ids: num()? as u64,
        };
        let batch = num()?;
        Some((counts, batch, it.next()?.to_owned()))
    }))
}

fn rows_mac(key: &ChainKey, c: RowCounts, batch: i64, head: &[u8; 32]) -> String {
    let mut data = b"ledger rows\0".to_vec();
    for n in [c.subjects, c.links, c.vendor_ids] {
        data.extend_from_slice(&n.to_le_bytes());
    }
    data.extend_from_slice(&batch.to_le_bytes());
    data.extend_from_slice(head);
    hex(&key.seal(&data))
}

fn seal_rows_counts(
    conn: &Connection,
    key: &ChainKey,
    c: RowCounts,
    batch: i64,
    head: &[u8; 32],
) -> rusqlite::Result<()> {
    let value = format!(
        "{},{},{},{batch},{}",
        c.subjects,
        c.links,
        c.vendor_ids,
        rows_mac(key, c, batch, head)
    );
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('ledger_rows', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([value])?;
    Ok(())
}

/// The newest chain link of any destination: (batch id, link), or (0, zeros) for none.
fn newest_link(conn: &Connection) -> rusqlite::Result<(i64, [u8; 32])> {
    let newest: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT id, hash FROM (SELECT id, hash FROM ledger_batches UNION ALL SELECT batch, hash FROM ledger_anchors)
             ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(newest.map_or((0, [0; 32]), |(id, h)| (id, h.try_into().unwrap_or([0; 32]))))
}

fn table_counts(conn: &Connection) -> rusqlite::Result<RowCounts> {
    let count = |t: &str| conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get::<_, i64>(0));
    Ok(RowCounts {
        subjects: count("ledger_subjects")? as u64,
        links: count("ledger_links")? as u64,
        vendor_ids: count("ledger_vendor_ids")? as u64,
    })
}

/// MACs every subject, link and vendor-id row as it is and records the counts (a store
/// being re-keyed, or one written by a bulk generator): trust on first use.
pub fn seal_rows(conn: &Connection, key: &ChainKey) -> rusqlite::Result<()> {
    type Subject = (u32, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);
    let subjects: Vec<Subject> = conn
        .prepare("SELECT id, digest, sealed, contact FROM ledger_subjects")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, digest, sealed, contact) in subjects {
        let mac = subject_mac(key, id, &digest, sealed.as_deref(), contact.as_deref());
        conn.execute(
            "UPDATE ledger_subjects SET mac = ?2 WHERE id = ?1",
            params![id, mac.as_slice()],
        )?;
    }
    let links: Vec<(u32, u32)> = links(conn)?;
    for (subject, person) in links {
        let mac = link_mac(key, subject, person);
        conn.execute(
            "UPDATE ledger_links SET mac = ?2 WHERE subject = ?1",
            params![subject, mac.as_slice()],
        )?;
    }
    let ids: Vec<(u32, u32, u32, rusqlite::types::Value)> = conn
        .prepare("SELECT destination, subject, key_version, vendor_id FROM ledger_vendor_ids")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (d, s, k, v) in ids {
        let mac = vendor_id_mac(key, d, s, k, &v);
        conn.execute(
            "UPDATE ledger_vendor_ids SET mac = ?5 WHERE destination = ?1 AND subject = ?2 AND key_version = ?3 AND vendor_id = ?4",
            params![d, s, k, v, mac.as_slice()],
        )?;
    }
    let (batch, head) = newest_link(conn)?;
    seal_rows_counts(conn, key, table_counts(conn)?, batch, &head)
}

/// At most this many rows are named per table in a verification report.
const ROWS_NAMED: usize = 10;

/// Checks every subject, link and vendor-id row's MAC and the tables' recorded counts;
/// returns what does not verify.
pub fn verify_rows(conn: &Connection, key: &ChainKey) -> rusqlite::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut bad: Vec<String> = Vec::new();
    {
        let mut stmt = conn.prepare("SELECT id, digest, sealed, contact, mac FROM ledger_subjects ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: u32 = r.get(0)?;
            let digest = r.get_ref(1)?.as_bytes().unwrap_or_default();
            let mac = subject_mac(
                key,
                id,
                digest,
                r.get_ref(2)?.as_bytes_or_null()?,
                r.get_ref(3)?.as_bytes_or_null()?,
            );
            if r.get_ref(4)?.as_bytes_or_null()? != Some(mac.as_slice()) {
                bad.push(id.to_string());
            }
        }
    }
    name_rows(
        &mut out,
        "ledger_subjects",
        "subjects",
        &bad,
        "edited, or a sealed id moved from another subject",
    );
    bad.clear();
    {
        let mut stmt = conn.prepare("SELECT subject, person, mac FROM ledger_links ORDER BY subject")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (subject, person): (u32, u32) = (r.get(0)?, r.get(1)?);
            if r.get_ref(2)?.as_bytes_or_null()? != Some(link_mac(key, subject, person).as_slice()) {
                bad.push(subject.to_string());
            }
        }
    }
    name_rows(&mut out, "ledger_links", "the links of subjects", &bad, "edited");
    bad.clear();
    {
        let mut stmt = conn.prepare(
            "SELECT destination, subject, key_version, vendor_id, mac FROM ledger_vendor_ids ORDER BY subject",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (d, s, k): (u32, u32, u32) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let v: rusqlite::types::Value = r.get(3)?;
            if r.get_ref(4)?.as_bytes_or_null()? != Some(vendor_id_mac(key, d, s, k, &v).as_slice()) {
                bad.push(s.to_string());
            }
        }
    }
    name_rows(
        &mut out,
        "ledger_vendor_ids",
        "the vendor ids of subjects",
        &bad,
        "edited",
    );
    let actual = table_counts(conn)?;
    match recorded_rows(conn)? {
        None if actual == RowCounts::default() => {}
        None => out.push("ledger_rows: the subject, link and vendor-id tables have no sealed row counts".into()),
        Some((recorded, batch, mac)) => {
            let (newest, head) = newest_link(conn)?;
            if batch != newest || mac != rows_mac(key, recorded, batch, &head) {
                out.push(format!(
                    "ledger_rows: the row counts were sealed with batch {batch}, not with the newest batch {newest}, or their MAC does not verify"
                ));
            }
            for (table, want, have) in [
                ("ledger_subjects", recorded.subjects, actual.subjects),
                ("ledger_links", recorded.links, actual.links),
                ("ledger_vendor_ids", recorded.vendor_ids, actual.vendor_ids),
            ] {
                if want != have {
                    out.push(format!(
                        "{table}: {have} rows where batch {batch} recorded {want}: rows were {}",
                        if have < want { "deleted" } else { "added" }
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn name_rows(out: &mut Vec<String>, table: &str, what: &str, bad: &[String], how: &str) {
    if bad.is_empty() {
        return;
    }
    let more = bad.len().saturating_sub(ROWS_NAMED);
    out.push(format!(
        "{table}: rows of {what} {}{} do not verify ({how})",
        bad[..bad.len().min(ROWS_NAMED)].join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ));
}

/// Adds the row MAC columns to a store from before them.
pub fn add_mac_columns(conn: &Connection) -> rusqlite::Result<()> {
    for table in ["ledger_subjects", "ledger_links", "ledger_vendor_ids"] {
        let has: bool = conn.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM pragma_table_info('{table}') WHERE name = 'mac')"),
            [],
            |r| r.get(0),
        )?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN mac BLOB"))?;
        }
    }
    Ok(())
}

/// Appends an already-interned batch (also the benchmark generator's path); returns the
/// batch id and its chain link.
pub fn append_encoded(
    tx: &Connection,
    key: &ChainKey,
    destination: &str,
    entries: &[EntryCode],
    now_ms: i64,
) -> rusqlite::Result<(i64, [u8; 32])> {
    let body = encode_batch(now_ms, entries);
    let digest = body_digest(&body);
    let prev = last_hash(tx, destination)?;
    // Batch ids never repeat, not even after pruning removed every batch (the anchors
    // remember the last one).
    let id: i64 = tx
        .prepare_cached(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM ledger_batches), 0),
                        COALESCE((SELECT MAX(batch) FROM ledger_anchors), 0)) + 1",
        )?
        .query_row([], |r| r.get(0))?;
    let hash = key.link(&prev, id, destination, now_ms, entries.len() as u64, &digest);
    tx.prepare_cached(
        "INSERT INTO ledger_batches (id, destination, delivered_at, entries, body, digest, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        id,
        destination,
        now_ms,
        entries.len() as i64,
        body,
        digest.to_vec(),
        prev.to_vec(),
        hash.to_vec()
    ])?;
    // The chain's head, so that removing the newest batches is caught too.
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![format!("ledger_head:{destination}"), hex(&hash)])?;
    Ok((id, hash))
}

/// The digest of the ledger's dictionary: every interned name and set, in id order. Entries
/// are numbers into it, so changing a set's members would change what entries mean without
/// touching a batch: `verify` checks this digest too.
pub fn dictionary_digest(conn: &Connection) -> rusqlite::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (table, column) in [("ledger_names", "name"), ("ledger_sets", "members")] {
        let mut stmt = conn.prepare(&format!("SELECT id, kind, {column} FROM {table} ORDER BY id"))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            h.update(r.get::<_, i64>(0)?.to_le_bytes());
            h.update(r.get::<_, i64>(1)?.to_le_bytes());
            let text = r.get_ref(2)?.as_bytes().unwrap_or_default();
            h.update((text.len() as u64).to_le_bytes());
            h.update(text);
        }
        h.update([0xff]);
    }
    Ok(h.finalize().into())
}

/// Lowercase hex (for tests that tamper with the store as an attacker would).
#[cfg(test)]
pub fn hex_of(bytes: &[u8]) -> String {
    hex(bytes)
}

/// Lowercase hex (vendor pseudonyms, digests, chain hashes).
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for x in bytes {
        s.push(char::from(b"0123456789abcdef"[usize::from(x >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(x & 15)]));
    }
    s
}

/// Records the dictionary's current digest, MAC'd under the chain key (in the transaction
/// that grew it), so that someone without the master key cannot record another.
pub fn seal_dictionary(conn: &Connection, key: &ChainKey) -> rusqlite::Result<()> {
    let digest = hex(&key.seal(&dictionary_digest(conn)?));
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('ledger_dictionary', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [digest],
    )?;
    Ok(())
}

/// Seals the dictionary if no digest was ever recorded (a store from before the digest, or one
/// written by a bulk generator).
pub fn seal_dictionary_if_missing(conn: &Connection, key: &ChainKey) -> rusqlite::Result<()> {
    let recorded: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'ledger_dictionary')",
        [],
        |r| r.get(0),
    )?;
    if recorded { Ok(()) } else { seal_dictionary(conn, key) }
}

/// Whether the dictionary still has the digest recorded when it last grew. A store from
/// before the digest existed is sealed as it is on first open (trust on first use).
pub fn dictionary_intact(conn: &Connection, key: &ChainKey) -> rusqlite::Result<bool> {
    let recorded: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'ledger_dictionary'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let empty: bool = conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM ledger_names) AND NOT EXISTS (SELECT 1 FROM ledger_sets)",
        [],
        |r| r.get(0),
    )?;
    Ok(match recorded {
        Some(d) => d == hex(&key.seal(&dictionary_digest(conn)?)),
        None => empty,
    })
}

/// Converts a version-2 ledger (one JSON row per entry) into batches of this version,
/// re-linking each destination's chain from its anchor. Runs in the migration transaction.
pub fn migrate_v2(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE ledger_batches ADD COLUMN body BLOB;
         CREATE TEMP TABLE old_batches AS SELECT id, destination, delivered_at FROM ledger_batches;
         DELETE FROM ledger_batches;",
    )?;
    let old: Vec<(i64, String, i64)> = tx
        .prepare("SELECT id, destination, delivered_at FROM old_batches ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut cache = Cache::default();
    for (id, destination, delivered_at) in old {
        let exposures: Vec<Exposure> = tx
            .prepare("SELECT exposure FROM ledger WHERE batch = ?1 ORDER BY id")?
            .query_map([id], |r| r.get::<_, Vec<u8>>(0))?
            .filter_map(|raw| raw.ok().and_then(|raw| serde_json::from_slice(&raw).ok()))
            .collect();
        // In the unkeyed form of the version it upgrades to; re-keyed when the store is
        // first opened with the master key.
        append_batch(
            tx,
            &mut cache,
            &ChainKey::Legacy,
            &destination,
            &exposures,
            delivered_at,
        )?;
    }
    tx.execute_batch("DROP TABLE old_batches; DROP TABLE ledger;")
}

/// `meta` key recording that the chains are keyed (its absence: a store from before the
/// keyed chain, re-keyed on its first open with the master key).
pub const CHAIN_FORMAT_KEY: &str = "ledger_chain";
pub const CHAIN_FORMAT: &str = "hmac-sha256-v1";

/// Whether the chains still need re-keying.
pub fn needs_rekey(conn: &Connection) -> rusqlite::Result<bool> {
    let format: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [CHAIN_FORMAT_KEY], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(format.as_deref() != Some(CHAIN_FORMAT))
}

/// Marks the chains keyed (a new store, or one just re-keyed).
pub fn mark_keyed(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [CHAIN_FORMAT_KEY, CHAIN_FORMAT],
    )?;
    Ok(())
}

/// A batch as `rekey` reads it: id, delivered_at, entries, body, digest, prev_hash, hash.
type StoredBatch = (i64, i64, i64, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

/// Re-links every destination's chain under `key`, from its anchor: a store whose chains
/// were plain SHA-256. A batch whose old link or digest did not verify keeps its old values,
/// so `verify` still reports it where it was; the batches after it are linked from it.
/// Returns the number of batches re-keyed.
pub fn rekey(tx: &Transaction<'_>, key: &ChainKey) -> rusqlite::Result<u64> {
    rekey_from(tx, &ChainKey::Legacy, key)
}

/// [`rekey`] from chains linked under `old` (a master key rotation).
pub fn rekey_from(tx: &Transaction<'_>, old: &ChainKey, key: &ChainKey) -> rusqlite::Result<u64> {
    let destinations: Vec<String> = tx
        .prepare("SELECT DISTINCT destination FROM ledger_batches ORDER BY 1")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut n = 0;
    for destination in destinations {
        let anchor: [u8; 32] = tx
            .query_row(
                "SELECT hash FROM ledger_anchors WHERE destination = ?1",
                [&destination],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?
            .and_then(|h| h.try_into().ok())
            .unwrap_or([0; 32]);
        let (mut old_prev, mut new_prev) = (anchor, anchor);
        let batches: Vec<StoredBatch> = tx
            .prepare(
                "SELECT id, delivered_at, entries, body, digest, prev_hash, hash FROM ledger_batches
                 WHERE destination = ?1 ORDER BY id",
            )?
            .query_map([&destination], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get_ref(3)?.as_bytes().unwrap_or_default().to_vec(),
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (id, at, count, body, digest, prev_hash, hash) in batches {
            let recomputed = body_digest(&body);
            let intact = recomputed.as_slice() == digest.as_slice()
                && prev_hash.as_slice() == old_prev.as_slice()
                && hash.as_slice()
                    == old
                        .link(&old_prev, id, &destination, at, count as u64, &recomputed)
                        .as_slice();
            old_prev = hash.clone().try_into().unwrap_or([0; 32]);
            if intact {
                let link = key.link(&new_prev, id, &destination, at, count as u64, &recomputed);
                tx.execute(
                    "UPDATE ledger_batches SET prev_hash = ?2, hash = ?3 WHERE id = ?1",
                    params![id, new_prev.to_vec(), link.to_vec()],
                )?;
                new_prev = link;
                n += 1;
            } else {
                new_prev = old_prev;
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![format!("ledger_head:{destination}"), hex(&new_prev)],
        )?;
    }
    // A dictionary that no longer matches its unkeyed digest keeps that digest (still
    // reported); an intact one is sealed under the key.
    if dictionary_intact(tx, old)? {
        tx.execute("DELETE FROM meta WHERE key = 'ledger_dictionary'", [])?;
        seal_dictionary(tx, key)?;
    }
    seal_rows(tx, key)?;
    // The incident chain's key follows the chain key. Moved only when it verifies under the
    // old one (a master key rotation checks that first); else it stays reported.
    if let (Some(old_incidents), Some(new_incidents)) = (super::incidents::key_of(old), super::incidents::key_of(key))
        && super::incidents::verify(tx, &old_incidents)?
            .iter()
            .all(Verification::ok)
    {
        super::incidents::rekey(tx, &new_incidents)?;
    }
    mark_keyed(tx)?;
    Ok(n)
}

/// Recomputes every destination's chain under `key`.
pub fn verify(conn: &Connection, key: &ChainKey) -> rusqlite::Result<Vec<Verification>> {
    let dictionary_ok = dictionary_intact(conn, key)?;
    let destinations: Vec<String> = conn
        .prepare(
            "SELECT DISTINCT destination FROM ledger_batches UNION SELECT destination FROM ledger_anchors
             UNION SELECT substr(key, 13) FROM meta WHERE key LIKE 'ledger_head:%' ORDER BY 1",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for destination in destinations {
        let mut v = Verification {
            destination: destination.clone(),
            dictionary_tampered: !dictionary_ok,
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
        let mut stmt = conn.prepare(
            "SELECT id, delivered_at, entries, body, digest, prev_hash, hash FROM ledger_batches
             WHERE destination = ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query([&destination])?;
        while let Some(r) = rows.next()? {
            let (id, delivered_at, count): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            // Text or blob: a body rewritten as text must fail the check, not the read.
            let body = r.get_ref(3)?.as_bytes().unwrap_or_default();
            let (digest, prev_hash, hash): (Vec<u8>, Vec<u8>, Vec<u8>) = (r.get(4)?, r.get(5)?, r.get(6)?);
            v.batches += 1;
            let decoded = decode_batch(delivered_at, body, |_| ()).ok();
            v.entries += decoded.unwrap_or(0) as u64;
            let recomputed = body_digest(body);
            let consistent = decoded == Some(count as usize) && recomputed.as_slice() == digest.as_slice();
            if !consistent {
                v.tampered_batches.push(id);
            }
            let expected = key.link(&prev, id, &destination, delivered_at, count as u64, &recomputed);
            if prev_hash.as_slice() != prev.as_slice() || (consistent && hash.as_slice() != expected.as_slice()) {
                v.broken_links.push(id);
            }
            prev = hash.try_into().unwrap_or([0; 32]);
        }
        let head: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [format!("ledger_head:{destination}")],
                |r| r.get(0),
            )
            .optional()?;
        v.head_missing = head.is_some_and(|h| h != hex(&prev));
        // Queries trust a current rollup instead of the batches: rebuild each and compare.
        let stored: Vec<(i64, i64, Vec<u8>, Vec<u8>)> = conn
            .prepare("SELECT day, upto_batch, counts, people FROM ledger_rollups WHERE destination = ?1 ORDER BY day")?
            .query_map([&destination], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (day, upto, counts, people) in stored {
            if upto < day_batches_upto(conn, &destination, day)? {
                continue; // stale: rebuilt before use, never trusted
            }
            let r = rollup_from_batches(conn, &destination, day * DAY_MS, (day + 1) * DAY_MS - 1)?;
            if r.encode_counts(day * DAY_MS) != counts || r.encode_people(day * DAY_MS) != people {
                v.tampered_rollups.push(day);
            }
        }
        out.push(v);
    }
    Ok(out)
}

/// Deletes batches delivered before `before_ms` and the rollups of the days they touched;
/// the last deleted batch's hash becomes the destination's anchor, so the remaining chain
/// still verifies. Returns the number of entries deleted.
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
        deleted += tx.query_row(
            "SELECT COALESCE(SUM(entries), 0) FROM ledger_batches WHERE destination = ?1 AND id <= ?2",
            params![destination, last],
            |r| r.get::<_, i64>(0),
        )? as u64;
        tx.execute(
            "DELETE FROM ledger_batches WHERE destination = ?1 AND id <= ?2",
            params![destination, last],
        )?;
        tx.execute(
            "DELETE FROM ledger_rollups WHERE destination = ?1 AND day <= ?2",
            params![destination, day_of(before_ms)],
        )?;
        tx.execute(
            "INSERT INTO ledger_anchors (destination, batch, hash) VALUES (?1, ?2, ?3)
             ON CONFLICT (destination) DO UPDATE SET batch = excluded.batch, hash = excluded.hash",
            params![destination, last, hash],
        )?;
    }
    Ok(deleted)
}

pub fn dict(conn: &Connection) -> rusqlite::Result<Dict> {
    let mut d = Dict::default();
    let mut stmt = conn.prepare("SELECT id, name FROM ledger_names")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))? {
        let (id, name) = row?;
        d.names.insert(id, name);
    }
    let ids = |s: &str| -> Vec<u32> { s.split(',').filter_map(|x| x.parse().ok()).collect() };
    let mut stmt = conn.prepare("SELECT id, kind, members FROM ledger_sets")?;
    for row in stmt.query_map([], |r| {
        Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
    })? {
        let (id, kind, members) = row?;
        if kind == SET_FIELDS {
            d.fieldsets.insert(id, ids(&members));
        } else {
            let mut parts = members.split('|');
            let mut next = || ids(parts.next().unwrap_or(""));
            let (sent, pseudonymised, held_back) = (next(), next(), next());
            d.catsets.insert(
                id,
                CatSet {
                    sent,
                    pseudonymised,
                    held_back,
                },
            );
        }
    }
    Ok(d)
}

/// Builds the rollup of a span of one destination's deliveries from its batches.
fn rollup_from_batches(conn: &Connection, destination: &str, from_ms: i64, to_ms: i64) -> rusqlite::Result<Rollup> {
    let mut b = Builder::default();
    let mut stmt = conn.prepare_cached(
        "SELECT delivered_at, body FROM ledger_batches
         WHERE destination = ?1 AND delivered_at >= ?2 AND delivered_at <= ?3 ORDER BY id",
    )?;
    let mut rows = stmt.query(params![destination, from_ms, to_ms])?;
    while let Some(r) = rows.next()? {
        let at: i64 = r.get(0)?;
        let body = r.get_ref(1)?.as_bytes().unwrap_or_default();
        // A damaged body (caught by `ledger verify`) contributes what decodes.
        let _ = decode_batch(at, body, |e| b.add(at, &e));
    }
    Ok(b.finish())
}

fn day_batches_upto(conn: &Connection, destination: &str, day: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COALESCE(MAX(id), 0) FROM ledger_batches WHERE destination = ?1 AND delivered_at >= ?2 AND delivered_at < ?3",
    )?
    .query_row(params![destination, day * DAY_MS, (day + 1) * DAY_MS], |r| r.get(0))
}

/// Closed days that have batches but no current rollup.
pub fn days_to_roll_up(conn: &Connection, now_ms: i64) -> rusqlite::Result<Vec<(String, i64)>> {
    let last_closed = day_of(now_ms - ROLLUP_GRACE_MS) - 1;
    conn.prepare(
        "SELECT b.destination, b.delivered_at / 86400000 AS bday FROM ledger_batches b
         WHERE b.delivered_at >= 0 AND b.delivered_at / 86400000 <= ?1
         GROUP BY b.destination, bday
         HAVING MAX(b.id) > COALESCE((SELECT upto_batch FROM ledger_rollups d WHERE d.destination = b.destination AND d.day = bday), 0)",
    )?
    .query_map([last_closed], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// A day's rollup, built from its batches, and the last batch it covers. Read-only, so it
/// runs on the reader while commits go on.
pub fn build_day(conn: &Connection, destination: &str, day: i64) -> rusqlite::Result<(i64, Rollup)> {
    let upto = day_batches_upto(conn, destination, day)?;
    let r = rollup_from_batches(conn, destination, day * DAY_MS, (day + 1) * DAY_MS - 1)?;
    Ok((upto, r))
}

/// Stores a day's rollup, unless the day's batches changed since it was built (a prune in
/// between): then the next roll-up builds it again.
pub fn put_day(conn: &Connection, destination: &str, day: i64, upto: i64, r: &Rollup) -> rusqlite::Result<()> {
    if day_batches_upto(conn, destination, day)? != upto {
        return Ok(());
    }
    let base = day * DAY_MS;
    conn.prepare_cached(
        "INSERT INTO ledger_rollups (destination, day, upto_batch, counts, people) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (destination, day) DO UPDATE SET
           upto_batch = excluded.upto_batch, counts = excluded.counts, people = excluded.people",
    )?
    .execute(params![
        destination,
        day,
        upto,
        r.encode_counts(base),
        r.encode_people(base)
    ])?;
    Ok(())
}

/// Visits the rollups covering deliveries in `[from_ms, to_ms]`: stored rollups for whole
/// closed days, rollups built from the batches for the rest (the edges of the range and days
/// not rolled up yet).
pub fn rollups(
    conn: &Connection,
    destination: &str,
    from_ms: i64,
    to_ms: i64,
    with_people: bool,
    visit: &mut dyn FnMut(Rollup, Option<PeopleList>),
) -> rusqlite::Result<()> {
    if from_ms > to_ms {
        return Ok(());
    }
    // Only days with deliveries are worth a look.
    let Some((first, last)) = delivery_span(conn, destination, from_ms, to_ms)? else {
        return Ok(());
    };
    for day in day_of(first)..=day_of(last) {
        let (start, end) = (day * DAY_MS, (day + 1) * DAY_MS - 1);
        let whole = from_ms <= start && end <= to_ms;
        if whole {
            let sql = if with_people {
                "SELECT upto_batch, counts, people FROM ledger_rollups WHERE destination = ?1 AND day = ?2"
            } else {
                "SELECT upto_batch, counts, NULL FROM ledger_rollups WHERE destination = ?1 AND day = ?2"
            };
            let stored: Option<(i64, Vec<u8>, Option<Vec<u8>>)> = conn
                .prepare_cached(sql)?
                .query_row(params![destination, day], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            if let Some((upto, counts, people)) = stored
                && upto >= day_batches_upto(conn, destination, day)?
                && let Ok(r) = Rollup::decode_with(&counts, None, start, if with_people { 63 } else { 0 })
                && let Ok(people) = people.map(|p| PeopleList::new(p, start)).transpose()
            {
                visit(r, people);
                continue;
            }
        }
        let mut r = rollup_from_batches(conn, destination, from_ms.max(start), to_ms.min(end))?;
        if r.records() > 0 {
            let people = with_people.then(|| PeopleList::of(&r, start));
            r.people = Vec::new();
            visit(r, people);
        }
    }
    Ok(())
}

/// The first and last delivery to a destination in `[from_ms, to_ms]`.
pub fn delivery_span(
    conn: &Connection,
    destination: &str,
    from_ms: i64,
    to_ms: i64,
) -> rusqlite::Result<Option<(i64, i64)>> {
    let (first, last): (Option<i64>, Option<i64>) = conn.query_row(
        "SELECT MIN(delivered_at), MAX(delivered_at) FROM ledger_batches WHERE destination = ?1 AND delivered_at >= ?2 AND delivered_at <= ?3",
        params![destination, from_ms, to_ms],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(first.zip(last))
}

pub fn links(conn: &Connection) -> rusqlite::Result<Vec<(u32, u32)>> {
    let mut stmt = conn.prepare("SELECT subject, person FROM ledger_links ORDER BY subject")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Visits every subject: (number, digest, sealed id, sealed contact), in number order.
pub fn subjects(conn: &Connection, visit: &mut dyn FnMut(SubjectRow<'_>)) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("SELECT id, digest, sealed, contact FROM ledger_subjects ORDER BY id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        visit(SubjectRow {
            id: r.get(0)?,
            digest: r.get_ref(1)?.as_blob()?,
            sealed: r.get_ref(2)?.as_blob_or_null()?,
            contact: r.get_ref(3)?.as_blob_or_null()?,
        });
    }
    Ok(())
}

/// Visits the ids a destination knows: (subject, key version, vendor id).
pub fn vendor_ids(conn: &Connection, destination: &str, visit: &mut dyn FnMut(u32, u32, &str)) -> rusqlite::Result<()> {
    let Some(dest) = conn
        .query_row(
            "SELECT id FROM ledger_names WHERE kind = ?1 AND name = ?2",
            params![NAME_DESTINATION, destination],
            |r| r.get::<_, u32>(0),
        )
        .optional()?
    else {
        return Ok(());
    };
    let mut stmt = conn.prepare(
        "SELECT subject, key_version, vendor_id FROM ledger_vendor_ids WHERE destination = ?1 ORDER BY subject, key_version",
    )?;
    let mut rows = stmt.query([dest])?;
    while let Some(r) = rows.next()? {
        visit(r.get(0)?, r.get(1)?, &vendor_id_text(r.get_ref(2)?));
    }
    Ok(())
}

/// Entries in order, resolved to names (for `ledger list` and tests).
pub fn entries(conn: &Connection, destination: Option<&str>, limit: usize) -> rusqlite::Result<Vec<Entry>> {
    let d = dict(conn)?;
    let digests: HashMap<u32, String> = {
        let mut stmt = conn.prepare("SELECT id, digest FROM ledger_subjects")?;
        let rows = stmt.query_map([], |r| {
            let b: Vec<u8> = r.get(1)?;
            Ok((r.get::<_, u32>(0)?, hex(&b)))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut out = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT id, destination, delivered_at, body FROM ledger_batches WHERE (?1 IS NULL OR destination = ?1) ORDER BY id",
    )?;
    let mut rows = stmt.query([destination])?;
    while let Some(r) = rows.next()? {
        if out.len() >= limit {
            break;
        }
        let (batch, dest, at): (i64, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let body = r.get_ref(3)?.as_bytes().unwrap_or_default();
        for e in batch_entries(at, body).unwrap_or_default() {
            if out.len() >= limit {
                break;
            }
            let cats = d.catsets.get(&e.catset).cloned().unwrap_or_default();
            out.push(Entry {
                batch,
                destination: dest.clone(),
                delivered_at_ms: at,
                source: d.name(e.source).to_owned(),
                subject_digest: digests.get(&e.subject).cloned(),
                key_version: e.key_version,
                sent: d.names_of(&cats.sent),
                pseudonymised: d.names_of(&cats.pseudonymised),
                held_back: d.names_of(&cats.held_back),
                fields: d.names_of(d.fieldsets.get(&e.fieldset).map_or(&[][..], Vec::as_slice)),
                event_time_ms: e.event_ms,
            });
        }
    }
    Ok(out)
}

/// How one destination's chain stands against the ledger witness.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    Agrees,
    /// One batch past the witnessed head and linked to it (a crash between the commit and the
    /// witness append): its (sequence, head), for the witness to catch up.
    OneAhead(i64, [u8; 32]),
    /// The store is behind its witness: rolled back to an older copy.
    Behind(String),
    /// Anything else the witness contradicts.
    Problem(String),
}

/// Every destination's newest chain link: (destination, batch, head).
pub fn heads(conn: &Connection) -> rusqlite::Result<Vec<(String, i64, [u8; 32])>> {
    let destinations: Vec<String> = conn
        .prepare(
            "SELECT DISTINCT destination FROM ledger_batches UNION SELECT destination FROM ledger_anchors ORDER BY 1",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for d in destinations {
        if let Some((id, h)) = store_head(conn, &d)? {
            out.push((d, id, h));
        }
    }
    Ok(out)
}

/// A destination's newest chain link in the store: its newest batch, else its anchor.
pub fn head_of(conn: &Connection, destination: &str) -> rusqlite::Result<Option<(i64, [u8; 32])>> {
    store_head(conn, destination)
}

/// A destination's newest chain link in the store: its newest batch, else its anchor.
fn store_head(conn: &Connection, destination: &str) -> rusqlite::Result<Option<(i64, [u8; 32])>> {
    let newest: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT id, hash FROM ledger_batches WHERE destination = ?1 ORDER BY id DESC LIMIT 1")?
        .query_row([destination], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let newest = match newest {
        Some(n) => Some(n),
        None => conn
            .prepare_cached("SELECT batch, hash FROM ledger_anchors WHERE destination = ?1")?
            .query_row([destination], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?,
    };
    Ok(newest.map(|(id, h)| (id, h.try_into().unwrap_or([0; 32]))))
}

/// Compares every destination's chain with the witness.
pub fn compare_witness(
    conn: &Connection,
    w: &crate::ledger::witness::Witnessed,
) -> rusqlite::Result<Vec<(String, Standing)>> {
    let mut destinations: Vec<String> = conn
        .prepare("SELECT DISTINCT destination FROM ledger_batches UNION SELECT destination FROM ledger_anchors")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    destinations.extend(w.heads.keys().cloned());
    destinations.sort();
    destinations.dedup();
    let mut out = Vec::new();
    for d in destinations {
        let head = store_head(conn, &d)?;
        let standing = match (head, w.heads.get(&d)) {
            (None, None) => Standing::Agrees,
            (Some(_), _) if !w.exists => Standing::Problem("the witness file is missing".into()),
            (None, Some((seq, _))) => Standing::Behind(format!(
                "the store has no batches, the witness has batch {seq}: the store was rolled back or emptied"
            )),
            (Some((id, hash)), Some((seq, witnessed))) => {
                if id == *seq {
                    if hash == *witnessed {
                        Standing::Agrees
                    } else {
                        Standing::Problem(format!("batch {id}'s chain head does not match the witness"))
                    }
                } else if id < *seq {
                    Standing::Behind(format!(
                        "the store ends at batch {id} but the witness at batch {seq}: the store was rolled back to an older copy"
                    ))
                } else {
                    unwitnessed(conn, &d, Some((*seq, *witnessed)))?
                }
            }
            (Some(_), None) => unwitnessed(conn, &d, None)?,
        };
        out.push((d, standing));
    }
    Ok(out)
}

/// A destination whose store chain goes past what the witness has (`after`: the witnessed
/// sequence and head, if any).
fn unwitnessed(conn: &Connection, destination: &str, after: Option<(i64, [u8; 32])>) -> rusqlite::Result<Standing> {
    let (seq, witnessed) = after.unwrap_or((0, [0; 32]));
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = conn
        .prepare(
            "SELECT id, prev_hash, hash FROM ledger_batches WHERE destination = ?1 AND id > ?2 ORDER BY id LIMIT 2",
        )?
        .query_map(params![destination, seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let anchored: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM ledger_anchors WHERE destination = ?1 AND batch > ?2)",
        params![destination, seq],
        |r| r.get(0),
    )?;
    Ok(match rows.as_slice() {
        [(id, prev, hash)] if !anchored && prev.as_slice() == witnessed.as_slice() => {
            Standing::OneAhead(*id, hash.clone().try_into().unwrap_or([0; 32]))
        }
        _ if after.is_none() => Standing::Problem("the destination is missing from the witness".into()),
        _ => Standing::Problem(format!(
            "batches after batch {seq} are not in the witness (witness lines removed, or the chain rewritten)"
        )),
    })
}
