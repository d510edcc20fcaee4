//! Generates an exposure ledger of a given size in a store directory, and measures the
//! incident-response figures (incident open, the notification list, the exports) on it.
//!
//! ```text
//! cargo run --release --example ledgergen -- --dir DIR [--people 100000] [--records 1000000] \
//!     [--days 90] [--seed 1] [--batch 2000] [--batches-per-tx 50] [--link-share 0.10] \
//!     [--keep-contacts]
//! cargo run --release --example ledgergen -- --measure --dir DIR [--drop-cache] [--keep-export]
//! ```
//!
//! # What is generated
//!
//! Exactly what the live write path (`record_delivery` → `append_batch` → `append_encoded`,
//! then `roll_up_closed_days`) writes for the same deliveries, written through the same tables
//! but without the JSON exposures and the outbox:
//!
//! - the store is created with `SqliteStore::open_keyed`; the master key is written to
//!   `DIR/master.key` (a generated benchmark store, not a deployment: `serve` refuses a key
//!   file inside its store, so point `keys.master_key_file` at a copy elsewhere); the
//!   ledger's subject key and mixpanel's pseudonym key are made with
//!   `keyring::current_key`, as `serve` does;
//! - one destination, `mixpanel`; sources `web`, `ios`, `server`; names and sets interned as
//!   `Interner` does (same kinds, same `sent|pseudonymised|held_back` member lists);
//! - subjects are numbered in order of first appearance in the delivery stream (the live
//!   `INSERT … ledger_subjects` order); digest = the subject key's 16-byte HMAC pseudonym of the
//!   app's id, `sealed` = `StoreKeys::seal_subject(Id, digest, id)` (ids are UUIDs, 36
//!   characters; anonymous ids `$device:<uuid>`, 44); one `ledger_vendor_ids` row per subject
//!   with the 16-byte mixpanel pseudonym, key version 1;
//! - `--link-share` of the people (default 10%) start anonymous: their first session is sent
//!   under an anonymous id and ends with an identify event linking the two, written to
//!   `ledger_links` with the same statements as `Interner::link`;
//! - records per person are log-normally skewed (a few heavy users, many with one or two
//!   records; every person has at least one), grouped into sessions of a few events a few
//!   seconds to two minutes apart, session starts following a daily curve; half the people are
//!   active from day one, the others join on a random day;
//! - records go out in event-time order in batches of `--batch` (one `append_encoded` per
//!   batch, the hash chain included), each batch delivered 0.5–20 s after its last event,
//!   `--batches-per-tx` batches per transaction;
//! - afterwards `roll_up_closed_days` rolls up the closed days (the last few thousand records,
//!   delivered after the last midnight, stay in the open day like in a live store).
//!
//! Generation runs with `PRAGMA synchronous=OFF` and a 2 GB page cache (the live store runs
//! `synchronous=FULL`; neither changes what ends up in the file).
//!
//! # What is measured (`--measure`)
//!
//! In a fresh process (with `--drop-cache`, the store's files are first evicted from the OS
//! page cache with `dd oflag=nocache`): `ledger::query::figures` over the whole range, first
//! call after opening and again; the same with partial first and last days; `incident open`
//! over the whole range (with `--drop-cache`, the files are evicted again just before it, so
//! it is the first query on a cold store); `incident export` with its phases (the per-person
//! table, subjects.csv with every id unsealed, the deletion request), and the three rendered
//! documents alone (report.md and the two notices, mean of 200 renders; `--keep-export`
//! keeps the export in `DIR/export`); the size on disk after
//! `wal_checkpoint(TRUNCATE)`, per table from `dbstat`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine as _;
use rusqlite::{Connection, params};
use vendorwall::incident::{Desk, Open, Scope};
use vendorwall::keyring::current_key;
use vendorwall::ledger::codec::EntryCode;
use vendorwall::ledger::query::figures;
use vendorwall::ledger::rollup::DAY_MS;
use vendorwall::policy::keys::{MasterKey, PseudonymKey, StoreKeys, SubjectPart};
use vendorwall::store::sqlite::SqliteStore;
use vendorwall::store::sqlite::ledger::{
    NAME_CATEGORY, NAME_DESTINATION, NAME_POINTER, NAME_SOURCE, ROLLUP_GRACE_MS, SET_CATEGORIES, SET_FIELDS,
    append_encoded, seal_rows,
};
use vendorwall::store::{KeyStore, LedgerStore};

const DEST: &str = "mixpanel";
/// `ledger.rs`'s private kind constants (kept in step by hand).
/// 2025-11-09T00:00:00Z: the generated 90 days end here.
const END_MS: i64 = 1_762_646_400_000;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    dir: PathBuf,
    people: u64,
    records: u64,
    days: u64,
    seed: u64,
    batch: usize,
    batches_per_tx: usize,
    link_share: f64,
    keep_contacts: bool,
    measure: bool,
    drop_cache: bool,
    /// Keep the export of `--measure` in `DIR/export` (else it is removed).
    keep_export: bool,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        dir: PathBuf::new(),
        people: 100_000,
        records: 1_000_000,
        days: 90,
        seed: 1,
        batch: 2000,
        batches_per_tx: 50,
        link_share: 0.10,
        keep_contacts: false,
        measure: false,
        drop_cache: false,
        keep_export: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => a.dir = PathBuf::from(val()?),
            "--people" => a.people = val()?.parse()?,
            "--records" => a.records = val()?.parse()?,
            "--days" => a.days = val()?.parse()?,
            "--seed" => a.seed = val()?.parse()?,
            "--batch" => a.batch = val()?.parse()?,
            "--batches-per-tx" => a.batches_per_tx = val()?.parse()?,
            "--link-share" => a.link_share = val()?.parse()?,
            "--keep-contacts" => a.keep_contacts = true,
            "--measure" => a.measure = true,
            "--drop-cache" => a.drop_cache = true,
            "--keep-export" => a.keep_export = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if a.dir.as_os_str().is_empty() {
        return Err("--dir DIR is required".into());
    }
    if a.records < a.people || a.people == 0 || a.days == 0 || a.batch == 0 {
        return Err("need records >= people > 0, days > 0, batch > 0".into());
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ledgergen: {e}");
            std::process::exit(2);
        }
    };
    let r = if args.measure { measure(&args) } else { generate(&args) };
    if let Err(e) = r {
        eprintln!("ledgergen: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------
// Randomness

struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn normal(&mut self) -> f64 {
        let u = self.f64().max(1e-300);
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Stable per-person traits.
fn trait_bits(seed: u64, person: u32) -> u64 {
    mix(seed ^ 0x5157_1AB1_E000_0000 ^ u64::from(person))
}

fn uuid(seed: u64, person: u32, salt: u64) -> String {
    let a = mix(seed.wrapping_mul(31) ^ (u64::from(person) << 8) ^ salt);
    let b = mix(a ^ 0xABCD);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

// ---------------------------------------------------------------------------------------
// The shape of the traffic

const SRC_WEB: u8 = 0;
const SRC_IOS: u8 = 1;
const SRC_SERVER: u8 = 2;
const SOURCES: [&str; 3] = ["web", "ios", "server"];

struct Template {
    sent: &'static [&'static str],
    pseudonymised: &'static [&'static str],
    held_back: &'static [&'static str],
    fields: &'static [&'static str],
    optional: &'static [&'static str],
    /// Carries an email (the contact is kept from it where the config opts in).
    email: bool,
}

const T_WEB_PV: usize = 0;
const T_WEB_NOLOC: usize = 1;
const T_IOS: usize = 2;
const T_SERVER: usize = 3;
const T_SERVER_GEO: usize = 4;
const T_SIGNUP: usize = 5;
const T_PROFILE: usize = 6;
const T_IDENTIFY: usize = 7;
const T_SERVER_EMAIL: usize = 8;

const UID: &str = "user.unique_id";
const DEV: &str = "user.device";
const LOC: &str = "user.location.coarse";
const WEB: &str = "user.behavior.browsing_history";
const IP: &str = "user.device.ip_address";
const EMAIL: &str = "user.contact.email";

const TEMPLATES: [Template; 9] = [
    // page views under the recommended policy
    Template {
        sent: &[WEB, DEV, LOC, UID],
        pseudonymised: &[UID],
        held_back: &[IP],
        fields: &[
            "/properties/distinct_id",
            "/properties/$browser",
            "/properties/$os",
            "/properties/$current_url",
            "/properties/$city",
            "/properties/mp_country_code",
        ],
        optional: &[
            "/properties/$referrer",
            "/properties/$initial_referrer",
            "/properties/$browser_version",
            "/properties/$device_id",
            "/properties/$region",
        ],
        email: false,
    },
    Template {
        sent: &[WEB, DEV, UID],
        pseudonymised: &[UID],
        held_back: &[IP],
        fields: &[
            "/properties/distinct_id",
            "/properties/$browser",
            "/properties/$os",
            "/properties/$current_url",
        ],
        optional: &[
            "/properties/$referrer",
            "/properties/$browser_version",
            "/properties/$device_id",
        ],
        email: false,
    },
    Template {
        sent: &[DEV, LOC, UID],
        pseudonymised: &[UID],
        held_back: &[IP],
        fields: &[
            "/properties/distinct_id",
            "/properties/$os",
            "/properties/$model",
            "/properties/$city",
        ],
        optional: &[
            "/properties/$carrier",
            "/properties/$app_version_string",
            "/properties/$device_id",
            "/properties/$region",
        ],
        email: false,
    },
    Template {
        sent: &[UID],
        pseudonymised: &[UID],
        held_back: &[],
        fields: &["/properties/distinct_id"],
        optional: &[],
        email: false,
    },
    Template {
        sent: &[LOC, UID],
        pseudonymised: &[UID],
        held_back: &[],
        fields: &["/properties/distinct_id", "/properties/$city"],
        optional: &["/properties/$region"],
        email: false,
    },
    // a sign-up or login form: the email is held back
    Template {
        sent: &[DEV, UID],
        pseudonymised: &[UID],
        held_back: &[EMAIL, IP],
        fields: &["/properties/distinct_id", "/properties/$os"],
        optional: &["/properties/$browser"],
        email: true,
    },
    // profile updates ($set)
    Template {
        sent: &[LOC, UID],
        pseudonymised: &[UID],
        held_back: &[EMAIL, "user.name"],
        fields: &["/$distinct_id", "/$set/$city"],
        optional: &["/$set/$region", "/$set/mp_country_code"],
        email: true,
    },
    // $identify
    Template {
        sent: &[DEV, UID],
        pseudonymised: &[UID],
        held_back: &[],
        fields: &[
            "/properties/distinct_id",
            "/properties/$anon_distinct_id",
            "/properties/$os",
        ],
        optional: &["/properties/$browser"],
        email: false,
    },
    // server-side events with the customer's email, held back
    Template {
        sent: &[UID],
        pseudonymised: &[UID],
        held_back: &[EMAIL],
        fields: &["/properties/distinct_id"],
        optional: &[],
        email: true,
    },
];

// ---------------------------------------------------------------------------------------
// Interning (the same statements as `Interner`)

fn intern_name(tx: &Connection, kind: i64, name: &str) -> rusqlite::Result<u32> {
    tx.prepare_cached("INSERT OR IGNORE INTO ledger_names (kind, name) VALUES (?1, ?2)")?
        .execute(params![kind, name])?;
    tx.prepare_cached("SELECT id FROM ledger_names WHERE kind = ?1 AND name = ?2")?
        .query_row(params![kind, name], |r| r.get(0))
}

fn intern_set(tx: &Connection, kind: i64, members: &str) -> rusqlite::Result<u32> {
    tx.prepare_cached("INSERT OR IGNORE INTO ledger_sets (kind, members) VALUES (?1, ?2)")?
        .execute(params![kind, members])?;
    tx.prepare_cached("SELECT id FROM ledger_sets WHERE kind = ?1 AND members = ?2")?
        .query_row(params![kind, members], |r| r.get(0))
}

fn name_list(tx: &Connection, kind: i64, names: &[&str]) -> rusqlite::Result<String> {
    let mut ids = names
        .iter()
        .map(|n| intern_name(tx, kind, n))
        .collect::<rusqlite::Result<Vec<u32>>>()?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
}

/// `Interner::link`: `a`'s person (the linking record's subject) absorbs `b`'s.
fn link(tx: &Connection, a: u32, b: u32) -> rusqlite::Result<()> {
    let person = |s: u32| -> rusqlite::Result<u32> {
        use rusqlite::OptionalExtension as _;
        Ok(tx
            .prepare_cached("SELECT person FROM ledger_links WHERE subject = ?1")?
            .query_row([s], |r| r.get(0))
            .optional()?
            .unwrap_or(s))
    };
    let (pa, pb) = (person(a)?, person(b)?);
    if pa == pb {
        return Ok(());
    }
    let (root, other) = (pa, pb);
    tx.prepare_cached("UPDATE ledger_links SET person = ?1 WHERE person = ?2")?
        .execute(params![root, other])?;
    tx.prepare_cached("INSERT OR REPLACE INTO ledger_links (subject, person) VALUES (?1, ?2)")?
        .execute(params![other, root])?;
    Ok(())
}

fn hex16(hex: &str) -> [u8; 16] {
    let b = hex.as_bytes();
    let n = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
    let mut out = [0u8; 16];
    for i in 0..16 {
        out[i] = n(b[2 * i]) << 4 | n(b[2 * i + 1]);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Generation

#[derive(Clone, Copy)]
struct Session {
    person: u32,
    /// Start, in ms since the day's start.
    start: u32,
    n: u16,
}

#[derive(Clone, Copy)]
struct Event {
    at: i64,
    person: u32,
    /// 0: identified, 1: anonymous, 2: identify (identified, linking the anonymous id).
    kind: u8,
    source: u8,
    template: u8,
    opt: u8,
}

struct Writer<'a> {
    conn: &'a Connection,
    seed: u64,
    keys: std::sync::Arc<StoreKeys>,
    subject_key: PseudonymKey,
    vendor_key: PseudonymKey,
    dest_id: u32,
    keep_contacts: bool,
    user_sid: Vec<u32>,
    anon_sid: HashMap<u32, u32>,
    contact_done: Vec<bool>,
    next_sid: u32,
    sources: [u32; 3],
    /// (template, optional mask) → (catset, fieldset)
    sets: Vec<Vec<(u32, u32)>>,
}

impl Writer<'_> {
    fn new_subject(&mut self, app_id: &str) -> Res<u32> {
        let digest = hex16(&self.subject_key.pseudonym(app_id));
        let sealed = self
            .keys
            .seal_subject(SubjectPart::Id, &digest, app_id.as_bytes())
            .map_err(|e| e.to_string())?;
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO ledger_subjects (digest, sealed) VALUES (?1, ?2)")?
            .execute(params![digest.as_slice(), sealed])?;
        let id = self.conn.last_insert_rowid() as u32;
        self.next_sid = self.next_sid.max(id + 1);
        // The vendor knows the subject by its mixpanel pseudonym (the recommended policy
        // hashes `distinct_id`), stored as 16 bytes.
        let vendor = hex16(&self.vendor_key.pseudonym(app_id));
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO ledger_vendor_ids (destination, subject, key_version, vendor_id) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![self.dest_id, id, self.vendor_key.version, vendor.as_slice()])?;
        Ok(id)
    }

    fn user(&mut self, p: u32) -> Res<u32> {
        let s = self.user_sid[p as usize];
        if s != 0 {
            return Ok(s);
        }
        let id = self.new_subject(&uuid(self.seed, p, 1))?;
        self.user_sid[p as usize] = id;
        Ok(id)
    }

    fn anon(&mut self, p: u32) -> Res<u32> {
        if let Some(&s) = self.anon_sid.get(&p) {
            return Ok(s);
        }
        let id = self.new_subject(&format!("$device:{}", uuid(self.seed, p, 2)))?;
        self.anon_sid.insert(p, id);
        Ok(id)
    }

    fn entry(&mut self, e: &Event) -> Res<EntryCode> {
        let subject = match e.kind {
            1 => self.anon(e.person)?,
            2 => {
                let s = self.user(e.person)?;
                let other = self.anon(e.person)?;
                link(self.conn, s, other)?;
                s
            }
            _ => self.user(e.person)?,
        };
        let t = &TEMPLATES[e.template as usize];
        if self.keep_contacts && t.email && e.kind != 1 && !self.contact_done[e.person as usize] {
            self.contact_done[e.person as usize] = true;
            let email = format!("user{}@example-mail.com", e.person);
            let digest: Vec<u8> = self
                .conn
                .prepare_cached("SELECT digest FROM ledger_subjects WHERE id = ?1")?
                .query_row([subject], |r| r.get(0))?;
            let digest: [u8; 16] = digest.try_into().map_err(|_| "a 16-byte subject digest")?;
            let sealed = self
                .keys
                .seal_subject(SubjectPart::Contact, &digest, email.as_bytes())
                .map_err(|e| e.to_string())?;
            self.conn
                .prepare_cached("UPDATE ledger_subjects SET contact = ?2 WHERE id = ?1")?
                .execute(params![subject, sealed])?;
        }
        let (catset, fieldset) = self.sets[e.template as usize][e.opt as usize];
        Ok(EntryCode {
            subject,
            catset,
            fieldset,
            source: self.sources[e.source as usize],
            key_version: self.vendor_key.version,
            event_ms: e.at,
        })
    }
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn generate(a: &Args) -> Res<()> {
    let t_all = Instant::now();
    let n = a.people as usize;
    let days = a.days as i64;
    let start_ms = END_MS - days * DAY_MS;
    if a.dir.join("vendorwall.db").exists() {
        return Err(format!("{} already holds a store", a.dir.display()).into());
    }
    std::fs::create_dir_all(&a.dir)?;
    let mut rng = Rng(mix(a.seed));

    // Keys, as `serve` makes them.
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = (mix(a.seed ^ 0x4D41_5354 ^ i as u64) & 0xff) as u8;
    }
    std::fs::write(
        a.dir.join("master.key"),
        base64::engine::general_purpose::STANDARD.encode(key),
    )?;
    let (store_keys, subject_key, vendor_key) = {
        let master = MasterKey::from_bytes(&key);
        let store = SqliteStore::open_keyed(&a.dir, &master)?;
        let keys = store.keys().ok_or("the store opened without its keys")?;
        (
            keys.clone(),
            current_key(&store, &keys, vendorwall::ledger::SUBJECT_KEY)?,
            current_key(&store, &keys, DEST)?,
        )
    };
    let conn = Connection::open(a.dir.join("vendorwall.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "cache_size", -2_000_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;

    // Records per person: 1 + log-normal share of the rest.
    let t = Instant::now();
    let sigma = 1.6;
    let mut raw: Vec<f32> = (0..n).map(|_| (sigma * rng.normal()).exp() as f32).collect();
    let total: f64 = raw.iter().map(|&x| f64::from(x)).sum();
    let scale = (a.records - a.people) as f64 / total;
    let mut counts: Vec<u32> = raw
        .iter()
        .map(|&x| 1 + (f64::from(x) * scale + rng.f64()).floor() as u32)
        .collect();
    drop(std::mem::take(&mut raw));
    let mut sum: i64 = counts.iter().map(|&c| i64::from(c)).sum();
    while sum != a.records as i64 {
        let p = rng.below(a.people) as usize;
        if sum < a.records as i64 {
            counts[p] += 1;
            sum += 1;
        } else if counts[p] > 1 {
            counts[p] -= 1;
            sum -= 1;
        }
    }
    let max = counts.iter().copied().max().unwrap_or(0);
    let one = counts.iter().filter(|&&c| c == 1).count();

    // Sessions, bucketed by day.
    let mut buckets: Vec<Vec<Session>> = vec![Vec::new(); a.days as usize];
    let mut n_sessions = 0u64;
    for (p, &c) in counts.iter().enumerate() {
        let bits = trait_bits(a.seed, p as u32);
        let first_day = if bits & 1 == 0 { 0 } else { rng.below(a.days) };
        let mut left = c;
        while left > 0 {
            // Session length: 1 + geometric, mean ~6, at most 60.
            let len = (1 + (-(rng.f64().max(1e-12)).ln() * 5.0) as u32).min(60).min(left);
            left -= len;
            let day = first_day + rng.below(a.days - first_day);
            // Starts follow a daily curve (busiest in the evening, UTC).
            let start = loop {
                let s = rng.below(DAY_MS as u64);
                let phase = (s as f64 / DAY_MS as f64 - 0.5) * 2.0 * std::f64::consts::PI;
                if rng.f64() * 1.7 < 1.0 + 0.7 * phase.sin() {
                    break s as u32;
                }
            };
            buckets[day as usize].push(Session {
                person: p as u32,
                start,
                n: len as u16,
            });
            n_sessions += 1;
        }
    }
    drop(std::mem::take(&mut counts));
    eprintln!(
        "planned {} records of {} people in {} sessions over {} days ({:.1}s; heaviest person {} records, {} people with one record)",
        a.records,
        a.people,
        n_sessions,
        a.days,
        secs(t),
        max,
        one
    );

    // Names and sets.
    let tx = conn.unchecked_transaction()?;
    let dest_id = intern_name(&tx, NAME_DESTINATION, DEST)?;
    let mut sources = [0u32; 3];
    for (i, s) in SOURCES.iter().enumerate() {
        sources[i] = intern_name(&tx, NAME_SOURCE, s)?;
    }
    let mut sets = Vec::new();
    let mut n_fieldsets = 0;
    for t in &TEMPLATES {
        let sent = name_list(&tx, NAME_CATEGORY, t.sent)?;
        let pseudo = name_list(&tx, NAME_CATEGORY, t.pseudonymised)?;
        let held = name_list(&tx, NAME_CATEGORY, t.held_back)?;
        let catset = intern_set(&tx, SET_CATEGORIES, &format!("{sent}|{pseudo}|{held}"))?;
        let mut v = Vec::new();
        for mask in 0..(1usize << t.optional.len()) {
            let mut f: Vec<&str> = t.fields.to_vec();
            f.extend(
                t.optional
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, p)| *p),
            );
            let fields = name_list(&tx, NAME_POINTER, &f)?;
            v.push((catset, intern_set(&tx, SET_FIELDS, &fields)?));
            n_fieldsets += 1;
        }
        sets.push(v);
    }
    tx.commit()?;
    eprintln!("{} category sets, {} field sets", TEMPLATES.len(), n_fieldsets);

    let mut w = Writer {
        conn: &conn,
        seed: a.seed,
        keys: store_keys.clone(),
        subject_key,
        vendor_key,
        dest_id,
        keep_contacts: a.keep_contacts,
        user_sid: vec![0; n],
        anon_sid: HashMap::new(),
        contact_done: vec![false; if a.keep_contacts { n } else { 0 }],
        next_sid: 1,
        sources,
        sets,
    };
    let mut identified = vec![false; n];
    let link_cut = (a.link_share * u64::MAX as f64) as u64;
    let linked = |p: u32| mix(trait_bits(a.seed, p) ^ 0x11) < link_cut;

    let t_write = Instant::now();
    let mut pending: Vec<Event> = Vec::new();
    let mut last_delivered = i64::MIN;
    let (mut written, mut batches, mut in_tx) = (0u64, 0u64, 0usize);
    let mut entries: Vec<EntryCode> = Vec::with_capacity(a.batch);
    let chain_key = vendorwall::ledger::ChainKey::derive(&store_keys);
    conn.execute_batch("BEGIN")?;
    for (day, bucket) in buckets.iter_mut().enumerate().take(a.days as usize) {
        let day_start = start_ms + day as i64 * DAY_MS;
        let mut today = std::mem::take(bucket);
        today.sort_unstable_by_key(|s| (s.start, s.person));
        for s in &today {
            let bits = trait_bits(a.seed, s.person);
            let platform = match (bits >> 1) % 20 {
                0..=10 => SRC_WEB,
                11..=16 => SRC_IOS,
                _ => {
                    if rng.below(2) == 0 {
                        SRC_WEB
                    } else {
                        SRC_IOS
                    }
                }
            };
            let person_opt = (bits >> 8) as u8;
            let anon_first = linked(s.person) && !identified[s.person as usize];
            if anon_first {
                identified[s.person as usize] = true;
            }
            let mut at = day_start + i64::from(s.start);
            for i in 0..s.n {
                let last = i + 1 == s.n;
                let (kind, source, template) = if anon_first && last {
                    (2, platform, T_IDENTIFY)
                } else {
                    let roll = rng.below(1000);
                    let (source, template) = match roll {
                        0..=99 => (SRC_SERVER, T_SERVER),
                        100..=119 => (SRC_SERVER, T_SERVER_GEO),
                        120..=134 => (SRC_SERVER, T_SERVER_EMAIL),
                        135..=164 => (platform, T_PROFILE),
                        165..=174 => (platform, T_SIGNUP),
                        _ if platform == SRC_IOS => (SRC_IOS, T_IOS),
                        175..=264 => (SRC_WEB, T_WEB_NOLOC),
                        _ => (SRC_WEB, T_WEB_PV),
                    };
                    if anon_first {
                        // Before identify, only the client sends, under the anonymous id.
                        (1, platform, if platform == SRC_IOS { T_IOS } else { T_WEB_PV })
                    } else {
                        (0, source, template)
                    }
                };
                let n_opt = TEMPLATES[template].optional.len();
                // Mostly the person's own device/browser traits; the referrer varies per event.
                let opt = if n_opt == 0 {
                    0
                } else {
                    let referrer = u8::from(i == 0);
                    let other = u8::from(rng.below(8) == 0) << 1;
                    (person_opt ^ referrer ^ other) & ((1u16 << n_opt) - 1) as u8
                };
                pending.push(Event {
                    at,
                    person: s.person,
                    kind,
                    source,
                    template: template as u8,
                    opt,
                });
                // Next event 2 s … 2 min later (mostly well under a minute).
                at += 2000 + (-(rng.f64().max(1e-12)).ln() * 15_000.0).min(118_000.0) as i64;
            }
        }
        drop(today);
        pending.sort_unstable_by_key(|e| (e.at, e.person));
        let final_day = day + 1 == a.days as usize;
        let cutoff = if final_day { i64::MAX } else { day_start + DAY_MS };
        let mut used = 0;
        loop {
            let chunk = &pending[used..];
            let take = chunk.len().min(a.batch);
            if take == 0 || (!final_day && (take < a.batch || chunk[take - 1].at >= cutoff)) {
                break;
            }
            let events = &chunk[..take];
            entries.clear();
            for e in events {
                entries.push(w.entry(e)?);
            }
            let delivered = (events[take - 1].at + 500 + rng.below(19_500) as i64).max(last_delivered + 1);
            last_delivered = delivered;
            append_encoded(&conn, &chain_key, DEST, &entries, delivered)?;
            used += take;
            written += take as u64;
            batches += 1;
            in_tx += 1;
            if in_tx >= a.batches_per_tx {
                conn.execute_batch("COMMIT; BEGIN")?;
                in_tx = 0;
            }
        }
        pending.drain(..used);
        let el = secs(t_write);
        eprintln!(
            "day {:>3}/{}: {:>11} records in {:>8} batches, {:>9} subjects, {:.0}s ({:.0} records/s)",
            day + 1,
            a.days,
            written,
            batches,
            w.next_sid - 1,
            el,
            written as f64 / el
        );
    }
    // Rows written here directly get the MACs and counts the live path gives them.
    seal_rows(&conn, &chain_key)?;
    conn.execute_batch("COMMIT")?;
    let t_gen = secs(t_write);
    if written != a.records {
        return Err(format!("wrote {written} records, planned {}", a.records).into());
    }

    let t = Instant::now();
    let now = END_MS + ROLLUP_GRACE_MS + 60_000;
    let rolled = SqliteStore::open(&a.dir)?.roll_up_ledger(now)?;
    let t_roll = secs(t);
    eprintln!("rolled up {rolled} closed days in {t_roll:.1}s");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;

    std::fs::write(
        a.dir.join("ledgergen.json"),
        serde_json::json!({
            "people": a.people, "records": a.records, "days": a.days, "seed": a.seed,
            "batch": a.batch, "subjects": w.next_sid - 1, "links": w.anon_sid.len(),
            "batches": batches, "from_ms": start_ms, "to_ms": last_delivered,
            "keep_contacts": a.keep_contacts,
        })
        .to_string(),
    )?;
    eprintln!(
        "done: {} records, {} batches, {} subjects ({} linked) in {:.0}s (writing {:.0}s, rollups {:.0}s)",
        written,
        batches,
        w.next_sid - 1,
        w.anon_sid.len(),
        secs(t_all),
        t_gen,
        t_roll
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Measurement

fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn drop_cache(dir: &Path) {
    for f in ["vendorwall.db", "vendorwall.db-wal"] {
        let p = dir.join(f);
        if p.exists() {
            let _ = std::process::Command::new("dd")
                .arg(format!("of={}", p.display()))
                .args(["oflag=nocache", "conv=notrunc,fdatasync", "count=0", "status=none"])
                .status();
        }
    }
}

fn measure(a: &Args) -> Res<()> {
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(a.dir.join("ledgergen.json"))?)?;
    let get = |k: &str| meta[k].as_i64().unwrap_or(0);
    let (from, to, records) = (get("from_ms"), get("to_ms"), get("records"));
    let key_text = std::fs::read_to_string(a.dir.join("master.key"))?;
    let key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(key_text.trim())?
        .try_into()
        .map_err(|_| "master.key must hold 32 bytes")?;
    let master = MasterKey::from_bytes(&key);
    println!("ledger: {meta}");
    if a.drop_cache {
        drop_cache(&a.dir);
        println!("dropped the store's files from the page cache");
    }

    let t = Instant::now();
    let store = SqliteStore::open(&a.dir)?;
    println!("open store: {:.3}s", secs(t));

    let t = Instant::now();
    let f = figures(&store, DEST, from, to)?;
    let cold = secs(t);
    println!(
        "figures (first call, whole range {} .. {}): {cold:.3}s — {} people, {} records, {} categories, {} fields, {} sources",
        iso(from),
        iso(to),
        f.people,
        f.records,
        f.categories.len(),
        f.fields.len(),
        f.sources.len()
    );
    if f.records != records as u64 {
        println!("  !! records {} != generated {records}", f.records);
    }
    for (c, e) in &f.categories {
        println!(
            "  {c}: {} people, {} records, pseudonymised only: {}",
            e.people, e.records, e.pseudonymised_only
        );
    }
    for (s, e) in &f.sources {
        println!("  source {s}: {} people, {} records", e.people, e.records);
    }
    println!("  held back: {:?}", f.held_back);
    let t = Instant::now();
    let f2 = figures(&store, DEST, from, to)?;
    println!("figures (second call): {:.3}s", secs(t));
    assert_eq!(f, f2);
    let t = Instant::now();
    let f3 = figures(&store, DEST, from + DAY_MS / 2, to - DAY_MS / 2)?;
    println!(
        "figures (range starting and ending mid-day, edge days from batches): {:.3}s — {} people, {} records",
        secs(t),
        f3.people,
        f3.records
    );

    // The real incident path: `incident open` (figures + the saved revision) and
    // `incident export` (people table, subjects.csv with every id unsealed, the vendor
    // deletion request, report and notices), over the whole range.
    let config_text = format!(
        "version = 1\n[store]\npath = \"{}\"\n[[sources]]\nname = \"web\"\nprotocol = \"mixpanel\"\ntokens = [\"t\"]\n\
         [[destinations]]\nname = \"{DEST}\"\ntype = \"mixpanel\"\nproject_token = \"p\"\nsources = [\"web\"]\n",
        a.dir.display()
    );
    let cfg = vendorwall::config::parse(&config_text, &a.dir, &|_| None).map_err(|e| e.to_string())?;
    let desk = Desk {
        store: &store,
        config: &cfg,
    };
    if a.drop_cache {
        // The target itself: `incident open` as the first query on a cold store.
        drop_cache(&a.dir);
    }
    let t = Instant::now();
    let scope = Scope {
        breach_from_ms: to - DAY_MS,
        breach_to_ms: to,
        data_from_ms: Some(from),
        data_to_ms: Some(to),
        facts: Default::default(),
    };
    let inc = desk.open(
        Open {
            destination: DEST.into(),
            title: Some("ledgergen".into()),
            scope,
        },
        to + DAY_MS,
    )?;
    println!(
        "incident open over the whole range{}: {:.3}s — {} people, {} records",
        if a.drop_cache {
            " (files dropped from the page cache first)"
        } else {
            ""
        },
        secs(t),
        inc.current().map_or(0, |r| r.people),
        inc.current().map_or(0, |r| r.records)
    );
    let out = a.dir.join("export");
    let t = Instant::now();
    let keys = store.store_keys(&master)?;
    let x = desk.export(inc.id, &out, &keys, to + DAY_MS)?;
    let csv_bytes = std::fs::metadata(out.join("subjects.csv"))?.len();
    println!(
        "incident export: {:.3}s — {} people in subjects.csv ({:.0} MB), {} vendor ids; phases (ms): {:?}",
        secs(t),
        x.people,
        csv_bytes as f64 / 1e6,
        x.vendor_ids,
        x.phases_ms
    );
    // The three rendered documents alone (report.md and the two notices), from the saved
    // revision: their cost does not grow with the people, only with the report's rows.
    let report = desk.get(inc.id)?.current().cloned().ok_or("no revision")?;
    const RENDERS: u32 = 200;
    let t = Instant::now();
    for _ in 0..RENDERS {
        std::hint::black_box(cfg.incident.templates.render_all(&report)?);
    }
    println!(
        "rendering report.md, regulator-notice.md and user-notice.md: {:.0} µs (mean of {RENDERS})",
        secs(t) * 1e6 / f64::from(RENDERS)
    );
    if !a.keep_export {
        std::fs::remove_dir_all(&out)?;
    }
    drop(store);

    // Size on disk.
    let conn = Connection::open(a.dir.join("vendorwall.db"))?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let size = |f: &str| std::fs::metadata(a.dir.join(f)).map_or(0, |m| m.len());
    let (db, wal) = (size("vendorwall.db"), size("vendorwall.db-wal"));
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    println!(
        "on disk: db {:.1} MB + wal {:.1} MB = {:.2} bytes/record (page size {page_size}, {free} free pages)",
        db as f64 / 1e6,
        wal as f64 / 1e6,
        (db + wal) as f64 / records as f64
    );
    let mut stmt = conn.prepare(
        "SELECT name, SUM(pgsize), SUM(payload), SUM(unused), COUNT(*) FROM dbstat GROUP BY name ORDER BY 2 DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    println!(
        "  {:<32} {:>12} {:>9} {:>12} {:>10}",
        "table/index", "bytes", "B/record", "payload", "unused"
    );
    for row in rows {
        let (name, bytes, payload, unused, _pages) = row?;
        println!(
            "  {name:<32} {bytes:>12} {:>9.2} {payload:>12} {unused:>10}",
            bytes as f64 / records as f64
        );
    }
    Ok(())
}
