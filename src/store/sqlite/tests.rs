use super::*;
use crate::ledger::codec::{EntryCode, batch_entries, encode_batch};
use crate::store::{NewRow, Store};
use proptest::prelude::*;
use std::collections::{BTreeMap, VecDeque};

pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("vw-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn row(dest: &str, payload: &str) -> NewRow {
    NewRow {
        destination: dest.into(),
        kind: Kind::Track,
        payload: payload.as_bytes().to_vec(),
        enqueued_at_ms: 1000,
        meta: None,
    }
}

#[test]
fn append_lease_complete_and_dead_letters() {
    let dir = TempDir::new("store");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    s.append(&[row("a", "1"), row("b", "x"), row("a", "2"), row("a", "3")])
        .unwrap();
    let leased = s.lease("a", 10).unwrap();
    assert_eq!(
        leased.iter().map(|r| r.payload.clone()).collect::<Vec<_>>(),
        vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
    );
    assert_eq!(
        s.queue_stats("a").unwrap(),
        QueueStats {
            depth: 3,
            oldest_enqueued_at_ms: Some(1000)
        }
    );
    s.note_attempt(&[leased[1].id]).unwrap();
    s.complete(
        "a",
        &leased[..1],
        &[(leased[1].id, "properties.time: too old".into())],
        5000,
    )
    .unwrap();
    assert_eq!(s.lease("a", 10).unwrap().len(), 1);
    let dead = s.dead_letters(Some("a"), 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].attempts, dead[0].reason.as_str(), dead[0].failed_at_ms),
        (2, "properties.time: too old", 5000)
    );
    // completing rows of another destination is a no-op
    s.complete("b", &leased[2..3], &[], 0).unwrap();
    assert_eq!(s.lease("a", 10).unwrap().len(), 1);
    assert_eq!(s.retry_dead_letters(Some("a"), &[], 6000).unwrap(), 1);
    let again = s.lease("a", 10).unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(again[1].payload, b"2");
    assert!(s.dead_letters(None, 10).unwrap().is_empty());
    s.complete("a", &again[1..2], &[(again[0].id, "x".into())], 0).unwrap();
    assert_eq!(s.purge_dead_letters(None, &[]).unwrap(), 1);
}

#[test]
fn destination_state_and_drop_counts() {
    let dir = TempDir::new("state");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    assert!(s.destination_statuses().unwrap().is_empty());
    s.set_destination_state("mp", DestinationState::Suspended, 10).unwrap();
    s.add_dropped("mp", 3).unwrap();
    s.set_destination_state("mp", DestinationState::Dropping, 20).unwrap();
    s.add_dropped("mp", 2).unwrap();
    let st = &s.destination_statuses().unwrap()[0];
    assert_eq!(
        (st.state, st.dropped, st.updated_at_ms),
        (DestinationState::Dropping, 5, 20)
    );
}

#[test]
fn reopening_keeps_everything_and_rejects_unknown_schemas() {
    let dir = TempDir::new("reopen");
    {
        let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
        s.append(&[row("a", "1")]).unwrap();
    }
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    assert_eq!(s.lease("a", 10).unwrap().len(), 1);
    s.writer
        .lock()
        .execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'", [])
        .unwrap();
    drop(s);
    assert!(matches!(SqliteStore::open(&dir.0), Err(StoreError::Corrupt(_))));
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<(u8, u8)>),
    Deliver { dest: u8, take: usize, dead_every: usize },
    Retry(u8),
    Purge(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        prop::collection::vec((0u8..2, any::<u8>()), 0..6).prop_map(Op::Append),
        (0u8..2, 0usize..5, 0usize..4).prop_map(|(dest, take, dead_every)| Op::Deliver { dest, take, dead_every }),
        (0u8..3).prop_map(Op::Retry),
        (0u8..3).prop_map(Op::Purge),
    ]
}

fn dest(d: u8) -> Option<String> {
    match d {
        0 => Some("a".into()),
        1 => Some("b".into()),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The outbox behaves like a FIFO queue per destination plus a dead-letter list.
    #[test]
    fn outbox_matches_an_in_memory_model(ops in prop::collection::vec(op(), 1..30)) {
        let dir = TempDir::new("model");
        let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
        let mut queues: BTreeMap<String, VecDeque<Vec<u8>>> = BTreeMap::new();
        let mut dead: Vec<(String, Vec<u8>)> = Vec::new();
        for op in ops {
            match op {
                Op::Append(items) => {
                    let rows: Vec<NewRow> = items.iter().map(|(d, p)| NewRow {
                        destination: dest(*d).unwrap(), kind: Kind::Track, payload: vec![*p], enqueued_at_ms: 1,
                    meta: None,
                    }).collect();
                    s.append(&rows).unwrap();
                    for r in rows { queues.entry(r.destination).or_default().push_back(r.payload); }
                }
                Op::Deliver { dest: d, take, dead_every } => {
                    let name = dest(d).unwrap();
                    let leased = s.lease(&name, take).unwrap();
                    let q = queues.entry(name.clone()).or_default();
                    let mut ok = vec![];
                    let mut bad = vec![];
                    for (i, r) in leased.iter().enumerate() {
                        let expect = q.pop_front().unwrap();
                        prop_assert_eq!(&r.payload, &expect);
                        if dead_every > 0 && i % dead_every == 0 {
                            bad.push((r.id, "refused".to_string()));
                            dead.push((name.clone(), expect));
                        } else {
                            ok.push(r.clone());
                        }
                    }
                    s.complete(&name, &ok, &bad, 2).unwrap();
                }
                Op::Retry(d) => {
                    let filter = dest(d);
                    let n = s.retry_dead_letters(filter.as_deref(), &[], 3).unwrap();
                    let (back, keep): (Vec<_>, Vec<_>) = dead.drain(..).partition(|(n, _)| filter.as_ref().is_none_or(|f| f == n));
                    prop_assert_eq!(n, back.len());
                    dead = keep;
                    for (name, p) in back { queues.entry(name).or_default().push_back(p); }
                }
                Op::Purge(d) => {
                    let filter = dest(d);
                    let n = s.purge_dead_letters(filter.as_deref(), &[]).unwrap();
                    let before = dead.len();
                    dead.retain(|(n, _)| filter.as_ref().is_some_and(|f| f != n));
                    prop_assert_eq!(n, before - dead.len());
                }
            }
            for (name, q) in &queues {
                prop_assert_eq!(s.queue_stats(name).unwrap().depth, q.len() as u64);
            }
            prop_assert_eq!(s.dead_letters(None, 10_000).unwrap().len(), dead.len());
        }
    }
}

fn exposed(dest: &str, source: &str) -> NewRow {
    exposed_as(dest, source, "00000000000000000000000000000001", &["user.device"])
}

fn exposed_as(dest: &str, source: &str, digest: &str, sent: &[&str]) -> NewRow {
    let e = crate::ledger::Exposure {
        source: source.into(),
        subject_digest: Some(digest.into()),
        vendor_id: Some("v1".into()),
        key_version: 1,
        sent: sent.iter().map(|c| c.to_string()).collect(),
        event_time_ms: 5,
        ..Default::default()
    };
    NewRow {
        meta: Some(crate::ledger::codec::encode_meta(&e)),
        ..row(dest, "{}")
    }
}

/// Delivers everything queued for `dest` in batches of `n`.
fn deliver_all(s: &SqliteStore, dest: &str, n: usize, at: i64) {
    loop {
        let rows = s.lease(dest, n).unwrap();
        if rows.is_empty() {
            return;
        }
        s.complete(dest, &rows, &[], at).unwrap();
    }
}

#[test]
fn ledger_is_written_with_the_acknowledgement_and_verifies() {
    let dir = TempDir::new("ledger");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    s.append(
        &(0..6)
            .map(|i| exposed("a", if i % 2 == 0 { "web" } else { "ios" }))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    s.append(&[exposed("b", "web"), row("b", "no meta: not in the ledger")])
        .unwrap();
    // a dead-lettered row is not exposure
    let first = s.lease("a", 1).unwrap();
    s.complete("a", &[], &[(first[0].id, "refused".into())], 1).unwrap();
    deliver_all(&s, "a", 2, 10);
    deliver_all(&s, "b", 10, 20);
    assert_eq!(s.ledger_entries(Some("a"), 100).unwrap().len(), 5);
    assert_eq!(s.ledger_entries(Some("b"), 100).unwrap().len(), 1);
    let v = s.verify_ledger().unwrap();
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|v| v.ok()), "{v:?}");
    assert_eq!((v[0].batches, v[0].entries), (3, 5));
    assert_eq!(s.queue_stats("a").unwrap().depth, 0);
}

fn tampered(s: &SqliteStore, sql: &str) -> Vec<crate::ledger::Verification> {
    s.writer.lock().execute_batch(sql).unwrap();
    s.verify_ledger().unwrap()
}

/// Rewrites batch `id`'s body the way someone editing the database would: decoding it,
/// changing its entries, encoding it again, keeping or fixing up the entry count.
fn rewrite(s: &SqliteStore, id: i64, fix_count: bool, change: impl FnOnce(&mut Vec<EntryCode>)) {
    let conn = s.writer.lock();
    let (at, body): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT delivered_at, body FROM ledger_batches WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut entries = batch_entries(at, &body).unwrap();
    change(&mut entries);
    let count = if fix_count { entries.len() as i64 } else { -1 };
    conn.execute(
        "UPDATE ledger_batches SET body = ?2, entries = CASE WHEN ?3 < 0 THEN entries ELSE ?3 END WHERE id = ?1",
        params![id, encode_batch(at, &entries), count],
    )
    .unwrap();
}

fn six_entries_in_three_batches() -> (TempDir, SqliteStore) {
    let dir = TempDir::new("tamper");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    s.append(
        &(0..6)
            .map(|i| exposed("a", if i % 2 == 0 { "web" } else { "ios" }))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    deliver_all(&s, "a", 2, 10);
    assert!(s.verify_ledger().unwrap()[0].ok());
    (dir, s)
}

#[test]
fn ledger_verify_catches_edits_deletions_and_reordering() {
    type Tamper = Box<dyn Fn(&SqliteStore)>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "edit an entry",
            Box::new(|s| rewrite(s, 2, false, |e| e[0].catset += 1)),
        ),
        (
            "edit an entry's time",
            Box::new(|s| rewrite(s, 2, false, |e| e[1].event_ms -= 1)),
        ),
        (
            "delete an entry",
            Box::new(|s| {
                rewrite(s, 2, false, |e| {
                    e.remove(0);
                })
            }),
        ),
        (
            "delete an entry, fix the count",
            Box::new(|s| {
                rewrite(s, 2, true, |e| {
                    e.remove(0);
                })
            }),
        ),
        ("reorder entries", Box::new(|s| rewrite(s, 1, false, |e| e.swap(0, 1)))),
        ("add an entry", Box::new(|s| rewrite(s, 3, true, |e| e.push(e[0])))),
        (
            "move the delivery time",
            Box::new(|s| drop(tampered(s, "UPDATE ledger_batches SET delivered_at = 11 WHERE id = 2"))),
        ),
        (
            "delete a batch",
            Box::new(|s| drop(tampered(s, "DELETE FROM ledger_batches WHERE id = 2"))),
        ),
        (
            "delete the newest batch",
            Box::new(|s| drop(tampered(s, "DELETE FROM ledger_batches WHERE id = 3"))),
        ),
        (
            "delete every batch",
            Box::new(|s| drop(tampered(s, "DELETE FROM ledger_batches"))),
        ),
        (
            "change what a category set means",
            Box::new(|s| drop(tampered(s, "UPDATE ledger_sets SET members = '' WHERE kind = 1"))),
        ),
        (
            "rename a category",
            Box::new(|s| {
                drop(tampered(
                    s,
                    "UPDATE ledger_names SET name = 'user.devicX' WHERE name = 'user.device'",
                ))
            }),
        ),
        (
            "forge a batch",
            Box::new(|s| {
                drop(tampered(
                    s,
                    "INSERT INTO ledger_batches (id, destination, delivered_at, entries, body, digest, prev_hash, hash) SELECT 9, destination, delivered_at, entries, body, digest, hash, hash FROM ledger_batches WHERE id = 3",
                ))
            }),
        ),
    ];
    for (what, tamper) in cases {
        let (_dir, s) = six_entries_in_three_batches();
        tamper(&s);
        let v = s.verify_ledger().unwrap();
        assert!(!v[0].ok(), "not caught: {what}");
    }
}

#[test]
fn ledger_prune_keeps_the_rest_verifiable() {
    let dir = TempDir::new("prune");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    s.append(&(0..4).map(|_| exposed("a", "web")).collect::<Vec<_>>())
        .unwrap();
    deliver_all(&s, "a", 2, 100);
    s.append(&(0..4).map(|_| exposed("a", "web")).collect::<Vec<_>>())
        .unwrap();
    deliver_all(&s, "a", 2, 200);
    assert_eq!(s.prune_ledger(150).unwrap(), 4);
    let v = s.verify_ledger().unwrap();
    assert!(v[0].ok(), "{v:?}");
    assert_eq!((v[0].batches, v[0].entries), (2, 4));
    // new deliveries extend the chain from the anchor
    s.append(&[exposed("a", "web")]).unwrap();
    deliver_all(&s, "a", 2, 300);
    assert!(s.verify_ledger().unwrap()[0].ok());
    // and deleting the first remaining batch is still caught
    assert!(
        !tampered(
            &s,
            "DELETE FROM ledger_batches WHERE id = (SELECT MIN(id) FROM ledger_batches)"
        )[0]
        .ok()
    );
}

#[test]
fn ledger_counts_people_categories_and_links() {
    let dir = TempDir::new("figures");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let p = |n: u32| format!("{n:032x}");
    // Day 1: person 1 twice on web (device + pseudonymised id), person 2 once on ios.
    let day = crate::ledger::rollup::DAY_MS;
    s.append(&[
        exposed_as("a", "web", &p(1), &["user.device", "user.unique_id"]),
        exposed_as("a", "web", &p(1), &["user.device", "user.unique_id"]),
        exposed_as("a", "ios", &p(2), &["user.device"]),
        exposed_as("b", "web", &p(9), &["user.contact.email"]),
    ])
    .unwrap();
    deliver_all(&s, "a", 100, day + 1000);
    deliver_all(&s, "b", 100, day + 1000);
    // Day 2: person 3, whose anonymous id turns out to be person 1's.
    let mut linked = exposed_as("a", "web", &p(3), &["user.device"]);
    let mut x = crate::ledger::codec::decode_meta(linked.meta.as_ref().unwrap()).unwrap();
    x.linked = vec![crate::ledger::LinkedId {
        digest: p(1),
        sealed: None,
    }];
    linked.meta = Some(crate::ledger::codec::encode_meta(&x));
    s.append(&[linked]).unwrap();
    deliver_all(&s, "a", 100, 2 * day + 5000);

    let pseudo = |f: &crate::ledger::query::Figures| f.categories.values().filter(|c| c.pseudonymised_only).count();
    let all = crate::ledger::query::figures(&s, "a", 0, 3 * day).unwrap();
    assert_eq!((all.people, all.records), (2, 4), "{all:?}");
    assert_eq!(all.categories["user.device"].people, 2);
    assert_eq!(all.categories["user.device"].records, 4);
    assert_eq!(all.categories["user.unique_id"].people, 1);
    assert_eq!(pseudo(&all), 0);
    assert_eq!(all.sources["web"].records, 3);
    assert_eq!(all.sources["web"].people, 1);
    assert_eq!(all.sources["ios"].people, 1);
    assert_eq!(
        (all.first_exposure_ms, all.last_exposure_ms),
        (Some(day + 1000), Some(2 * day + 5000))
    );
    // Only day 2 (to the millisecond): one record, one person.
    let late = crate::ledger::query::figures(&s, "a", day + 1001, 3 * day).unwrap();
    assert_eq!((late.people, late.records), (1, 1));
    // Rolling up closed days changes nothing.
    assert_eq!(s.roll_up_ledger(4 * day).unwrap(), 3);
    assert_eq!(crate::ledger::query::figures(&s, "a", 0, 3 * day).unwrap(), all);
    assert_eq!(s.roll_up_ledger(4 * day).unwrap(), 0);
    assert!(s.verify_ledger().unwrap().iter().all(|v| v.ok()));
    // Walking the stored person lists a window at a time (here a day each) gives the same
    // per-person table as walking them all together.
    let together: Vec<_> = crate::ledger::query::people(&s, "a", 0, 3 * day)
        .unwrap()
        .iter()
        .collect();
    let by_day: Vec<_> = crate::ledger::query::people_windowed(&s, "a", 0, 3 * day, 1)
        .unwrap()
        .iter()
        .collect();
    assert_eq!(together.len(), 2);
    assert_eq!(by_day, together);
    // A rollup edited behind the batches' back is caught (queries would trust it).
    let v = tampered(
        &s,
        "UPDATE ledger_rollups SET people = (SELECT people FROM ledger_rollups WHERE destination = 'b' LIMIT 1)
         WHERE destination = 'a' AND day = 1",
    );
    assert_eq!(v[0].tampered_rollups, vec![1], "{v:?}");
    s.writer.lock().execute_batch("DELETE FROM ledger_rollups").unwrap();
    let people = crate::ledger::query::people(&s, "a", 0, 3 * day).unwrap();
    let rows: Vec<_> = people.iter().collect();
    assert_eq!(rows.len(), 2);
    // Person 1 and the subject that linked it are one person, named by the linking subject.
    let linked = rows.iter().find(|r| r.records == 3).unwrap();
    assert_eq!(
        linked.person, 4,
        "subjects 1 (person 1), 2, 3 (b's), 4 (the linking one)"
    );
    let mut names = people.category_names(linked.mask);
    names.sort();
    assert_eq!(names, vec!["user.device", "user.unique_id"]);
    assert_eq!((linked.first_ms, linked.last_ms), (day + 1000, 2 * day + 5000));
    let mut vendor_ids = Vec::new();
    s.ledger_vendor_ids("a", &mut |subject, kv, id| {
        vendor_ids.push((subject, kv, id.to_owned()))
    })
    .unwrap();
    assert_eq!(vendor_ids.len(), 3);
    assert!(vendor_ids.iter().all(|(_, kv, id)| *kv == 1 && id == "v1"));
}

#[test]
fn a_version_2_ledger_is_converted_and_still_verifies() {
    let dir = TempDir::new("v2");
    std::fs::create_dir_all(&dir.0).unwrap();
    {
        let c = Connection::open(dir.0.join("vendorwall.db")).unwrap();
        c.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta VALUES ('schema_version', '2');
             CREATE TABLE outbox (id INTEGER PRIMARY KEY, destination TEXT NOT NULL, kind INTEGER NOT NULL,
                 payload BLOB NOT NULL, enqueued_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, meta BLOB);
             CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, destination TEXT NOT NULL, kind INTEGER NOT NULL,
                 payload BLOB NOT NULL, enqueued_at INTEGER NOT NULL, attempts INTEGER NOT NULL, reason TEXT NOT NULL,
                 failed_at INTEGER NOT NULL, meta BLOB);
             CREATE TABLE ledger_batches (id INTEGER PRIMARY KEY, destination TEXT NOT NULL, delivered_at INTEGER NOT NULL,
                 entries INTEGER NOT NULL, digest BLOB NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL);
             CREATE TABLE ledger (id INTEGER PRIMARY KEY, destination TEXT NOT NULL, batch INTEGER NOT NULL,
                 delivered_at INTEGER NOT NULL, exposure BLOB NOT NULL);
             CREATE TABLE ledger_anchors (destination TEXT PRIMARY KEY, batch INTEGER NOT NULL, hash BLOB NOT NULL);
             INSERT INTO ledger_batches VALUES (1, 'a', 10, 2, x'', x'', x''), (2, 'a', 20, 1, x'', x'', x'');",
        )
        .unwrap();
        let x = |src: &str| {
            serde_json::json!({"s": src, "d": "0000000000000000000000000000000a", "k": 1, "c": ["user.device"], "t": 3})
                .to_string()
        };
        for (batch, src) in [(1, "web"), (1, "ios"), (2, "web")] {
            c.execute(
                "INSERT INTO ledger (destination, batch, delivered_at, exposure) VALUES ('a', ?1, ?1 * 10, ?2)",
                params![batch, x(src).into_bytes()],
            )
            .unwrap();
        }
    }
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let v = s.verify_ledger().unwrap();
    assert!(v[0].ok(), "{v:?}");
    assert_eq!((v[0].batches, v[0].entries), (2, 3));
    let e = s.ledger_entries(Some("a"), 10).unwrap();
    assert_eq!(
        e.iter()
            .map(|e| (e.source.as_str(), e.delivered_at_ms))
            .collect::<Vec<_>>(),
        vec![("web", 10), ("ios", 10), ("web", 20)]
    );
    assert_eq!(e[0].sent, vec!["user.device"]);
    assert_eq!(e[0].subject_digest.as_deref(), Some("0000000000000000000000000000000a"));
}

#[test]
fn batch_ids_never_repeat_after_pruning_everything() {
    let dir = TempDir::new("prune-all");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    s.append(&(0..4).map(|_| exposed("a", "web")).collect::<Vec<_>>())
        .unwrap();
    deliver_all(&s, "a", 2, 100);
    assert_eq!(s.prune_ledger(1000).unwrap(), 4);
    s.append(&[exposed("a", "web")]).unwrap();
    deliver_all(&s, "a", 2, 2000);
    let e = s.ledger_entries(Some("a"), 10).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].batch, 3, "batch ids continue after the anchor");
    assert!(s.verify_ledger().unwrap()[0].ok());
}

#[test]
fn a_shared_device_does_not_merge_two_people() {
    let dir = TempDir::new("shared-device");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let p = |n: u32| format!("{n:032x}");
    let with_link = |subject: u32, device: u32| {
        let mut row = exposed_as("a", "web", &p(subject), &["user.device"]);
        let mut x = crate::ledger::codec::decode_meta(row.meta.as_ref().unwrap()).unwrap();
        x.linked = vec![crate::ledger::LinkedId {
            digest: p(device),
            sealed: None,
        }];
        row.meta = Some(crate::ledger::codec::encode_meta(&x));
        row
    };
    // The device's anonymous event, then user 1 and user 2 each log in on it.
    s.append(&[
        exposed_as("a", "web", &p(9), &["user.device"]),
        with_link(1, 9),
        with_link(2, 9),
    ])
    .unwrap();
    deliver_all(&s, "a", 10, 1000);
    let f = crate::ledger::query::figures(&s, "a", 0, 2000).unwrap();
    assert_eq!((f.people, f.records), (2, 3), "the device joins the first user only");
    let people = crate::ledger::query::people(&s, "a", 0, 2000).unwrap();
    let mut records: Vec<u64> = people.iter().map(|p| p.records).collect();
    records.sort();
    assert_eq!(records, vec![1, 2]);
}

#[test]
fn each_delivered_row_enters_the_ledger_once() {
    let dir = TempDir::new("once");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    s.append(&[exposed("a", "web"), exposed("a", "ios")]).unwrap();
    let rows = s.lease("a", 10).unwrap();
    let listed_twice = [rows.clone(), rows.clone()].concat();
    s.complete("a", &listed_twice, &[], 10).unwrap();
    // Completing rows that are no longer queued records nothing more.
    s.complete("a", &rows, &[], 11).unwrap();
    assert_eq!(s.ledger_entries(Some("a"), 100).unwrap().len(), 2);
    assert!(s.verify_ledger().unwrap()[0].ok());
}

#[test]
fn rows_queued_with_json_metadata_by_earlier_versions_enter_the_ledger() {
    let dir = TempDir::new("json-meta");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let mut old = exposed_as("a", "ios", &format!("{:032x}", 7), &["user.device"]);
    let x = crate::ledger::codec::decode_meta(old.meta.as_ref().unwrap()).unwrap();
    old.meta = Some(serde_json::to_vec(&x).unwrap());
    s.append(&[old, exposed("a", "web")]).unwrap();
    // A version-3 store (JSON metadata only) opens as version 4 and keeps its rows.
    s.writer
        .lock()
        .execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'", [])
        .unwrap();
    drop(s);
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let version: String = s
        .writer
        .lock()
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    deliver_all(&s, "a", 10, 10);
    let entries = s.ledger_entries(Some("a"), 100).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].source, "ios");
    assert_eq!(entries[0].sent, vec!["user.device".to_owned()]);
    assert_eq!(entries[0].subject_digest, Some(format!("{:032x}", 7)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Linking through the store (which skips the lookups for subjects created in the same
    /// transaction) gives the links of the rules applied one record at a time in memory:
    /// `a`'s person absorbs `b`'s unless `b` already belongs to another person.
    #[test]
    fn links_match_the_rules_applied_one_record_at_a_time(
        records in proptest::collection::vec((0u32..6, proptest::collection::vec(0u32..6, 0..3)), 1..14),
        per_batch in 1usize..5,
    ) {
        let dir = TempDir::new("links-model");
        let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
        let p = |n: u32| format!("{n:032x}");
        let rows: Vec<NewRow> = records
            .iter()
            .map(|(main, linked)| {
                let mut row = exposed_as("a", "web", &p(*main), &["user.device"]);
                let mut x = crate::ledger::codec::decode_meta(row.meta.as_ref().unwrap()).unwrap();
                x.linked = linked
                    .iter()
                    .map(|l| crate::ledger::LinkedId { digest: p(*l), sealed: None })
                    .collect();
                row.meta = Some(crate::ledger::codec::encode_meta(&x));
                row
            })
            .collect();
        s.append(&rows).unwrap();
        deliver_all(&s, "a", per_batch, 1000);

        // The model: subject ids in order of first appearance, links as a map.
        let mut ids: BTreeMap<u32, u32> = BTreeMap::new();
        let mut links: BTreeMap<u32, u32> = BTreeMap::new();
        let id_of = |n: u32, ids: &mut BTreeMap<u32, u32>| {
            let next = ids.len() as u32 + 1;
            *ids.entry(n).or_insert(next)
        };
        for (main, linked) in &records {
            let a = id_of(*main, &mut ids);
            for l in linked {
                let b = id_of(*l, &mut ids);
                let person = |x: u32, links: &BTreeMap<u32, u32>| links.get(&x).copied().unwrap_or(x);
                let (pa, pb) = (person(a, &links), person(b, &links));
                if pa == pb || pb != b {
                    continue;
                }
                for v in links.values_mut() {
                    if *v == b {
                        *v = pa;
                    }
                }
                links.insert(b, pa);
            }
        }
        let mut stored = ledger::links(&lock(&s.reader)).unwrap();
        stored.sort_unstable();
        prop_assert_eq!(stored, links.into_iter().collect::<Vec<_>>());
        // Every link row's MAC and the tables' sealed counts hold after any merge sequence.
        let v = s.verify_ledger().unwrap();
        prop_assert!(v.iter().all(|v| v.ok()), "{:?}", v);
    }
}

#[test]
fn complete_removes_rows_across_several_delete_chunks() {
    let dir = TempDir::new("chunks");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let n = 2 * DELETE_CHUNK + 3;
    let rows: Vec<NewRow> = (0..n)
        .map(|i| exposed(if i % 7 == 0 { "b" } else { "a" }, "web"))
        .collect();
    s.append(&rows).unwrap();
    let a = s.lease("a", n).unwrap();
    let b = s.lease("b", n).unwrap();
    assert_eq!(a.len() + b.len(), n);
    // Another destination's ids in the list are not touched.
    let mixed = [a.clone(), b.clone()].concat();
    s.complete("a", &mixed, &[], 10).unwrap();
    assert!(s.lease("a", n).unwrap().is_empty());
    assert_eq!(s.lease("b", n).unwrap().len(), b.len());
    assert_eq!(s.ledger_entries(Some("a"), 10 * n).unwrap().len(), a.len());
    assert!(s.ledger_entries(Some("b"), 10).unwrap().is_empty());
}

/// A panic inside `complete` rolls its transaction back but poisons the ledger cache's lock;
/// the next `complete` forgets what the cache learnt instead of trusting ids that were never
/// committed.
#[test]
fn a_poisoned_ledger_cache_is_forgotten() {
    let dir = TempDir::new("poisoned-cache");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let digest = "000000000000000000000000000000aa";
    std::thread::scope(|scope| {
        let planted = scope.spawn(|| {
            let mut cache = s.ledger_cache.lock().unwrap();
            let mut bytes = [0u8; 16];
            bytes[15] = 0xaa;
            cache.remember_subject(bytes, 999);
            panic!("while holding the ledger cache");
        });
        assert!(planted.join().is_err());
    });
    assert!(s.ledger_cache.is_poisoned());
    s.append(&[exposed_as("a", "web", digest, &["user.device"])]).unwrap();
    deliver_all(&s, "a", 10, 1000);
    assert!(!s.ledger_cache.is_poisoned());
    let entries = s.ledger_entries(Some("a"), 10).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].subject_digest.as_deref(),
        Some(digest),
        "the subject was interned, not taken from the planted id"
    );
}

/// The master key every test store here is opened with.
pub(crate) fn test_master() -> MasterKey {
    MasterKey::from_bytes(&[42; 32])
}

/// Rewrites every batch of `a` as someone with write access but without the master key
/// would: plain SHA-256 links recomputed over the (possibly edited) bodies, the head fixed up.
fn relink_plain(s: &SqliteStore) {
    let conn = s.writer.lock();
    let rows: Vec<(i64, String, i64, i64, Vec<u8>)> = conn
        .prepare("SELECT id, destination, delivered_at, entries, body FROM ledger_batches ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut prev = [0u8; 32];
    for (id, dest, at, n, body) in rows {
        let digest = crate::ledger::body_digest(&body);
        let hash = crate::ledger::batch_hash(&prev, id, &dest, at, n as u64, &digest);
        conn.execute(
            "UPDATE ledger_batches SET digest = ?2, prev_hash = ?3, hash = ?4 WHERE id = ?1",
            params![id, digest.to_vec(), prev.to_vec(), hash.to_vec()],
        )
        .unwrap();
        conn.execute(
            "UPDATE meta SET value = ?2 WHERE key = ?1",
            params![format!("ledger_head:{dest}"), ledger::hex_of(&hash)],
        )
        .unwrap();
        prev = hash;
    }
}

#[test]
fn a_rewrite_with_recomputed_plain_hashes_is_caught() {
    let (_dir, s) = six_entries_in_three_batches();
    rewrite(&s, 2, true, |e| {
        e.remove(0);
    });
    relink_plain(&s);
    let v = s.verify_ledger().unwrap();
    assert!(!v[0].ok());
    assert_eq!(v[0].broken_links, vec![1, 2, 3], "{v:?}");
    // The dictionary too: a digest recomputed without the key does not verify.
    let conn = s.writer.lock();
    conn.execute("UPDATE ledger_names SET name = 'x' WHERE name = 'user.device'", [])
        .unwrap();
    ledger::seal_dictionary(&conn, &ChainKey::Legacy).unwrap();
    drop(conn);
    assert!(s.verify_ledger().unwrap()[0].dictionary_tampered);
}

#[test]
fn without_the_master_key_nothing_is_recorded_or_verified() {
    let dir = TempDir::new("unkeyed");
    let s = SqliteStore::open(&dir.0).unwrap();
    s.append(&[exposed("a", "web"), row("a", "no meta")]).unwrap();
    let rows = s.lease("a", 10).unwrap();
    let e = s.complete("a", &rows, &[], 1).unwrap_err().to_string();
    assert!(e.contains("master key"), "{e}");
    assert_eq!(s.queue_stats("a").unwrap().depth, 2, "nothing left the outbox");
    // Refused rows and rows without exposure still move.
    s.complete("a", &[rows[1].clone()], &[(rows[0].id, "refused".into())], 1)
        .unwrap();
    assert_eq!(s.queue_stats("a").unwrap().depth, 0);
    assert!(s.verify_ledger().unwrap_err().to_string().contains("master key"));
}

#[test]
fn an_unkeyed_store_is_rekeyed_on_its_first_keyed_open() {
    let (dir, s) = six_entries_in_three_batches();
    // Turn it into a store of the previous format: plain links, no chain marker.
    relink_plain(&s);
    {
        let conn = s.writer.lock();
        conn.execute(
            "DELETE FROM meta WHERE key IN ('ledger_chain', 'ledger_dictionary')",
            [],
        )
        .unwrap();
        ledger::seal_dictionary(&conn, &ChainKey::Legacy).unwrap();
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'", [])
            .unwrap();
    }
    drop(s);
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let v = s.verify_ledger().unwrap();
    assert!(v[0].ok(), "{v:?}");
    assert_eq!(v[0].batches, 3);
    // Keyed now: another master key does not even open the store's root key.
    drop(s);
    let other = SqliteStore::open_keyed(&dir.0, &MasterKey::from_bytes(&[1; 32]));
    assert!(matches!(other, Err(StoreError::Keys(_))));
}

#[test]
fn a_batch_tampered_before_rekeying_stays_reported() {
    let (dir, s) = six_entries_in_three_batches();
    relink_plain(&s);
    rewrite(&s, 2, false, |e| e[0].catset += 1);
    s.writer
        .lock()
        .execute("DELETE FROM meta WHERE key = 'ledger_chain'", [])
        .unwrap();
    drop(s);
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let v = s.verify_ledger().unwrap();
    assert_eq!(v[0].tampered_batches, vec![2], "{v:?}");
}

fn witness_path(dir: &TempDir) -> PathBuf {
    PathBuf::from(format!("{}.witness", dir.0.display()))
}

fn witnessed_store(dir: &TempDir) -> SqliteStore {
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let keys = s.keys().unwrap();
    s.with_witness(Witness::new(
        witness_path(dir),
        keys.mac_key(crate::ledger::WITNESS_PURPOSE),
    ))
}

fn witness_problems(s: &SqliteStore) -> Vec<String> {
    s.verify_ledger().unwrap().into_iter().flat_map(|v| v.witness).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn the_witness_catches_a_rollback_to_an_older_copy() {
    let dir = TempDir::new("witness-rollback");
    let wpath = witness_path(&dir);
    let _cleanup = TempDir(wpath.clone());
    let s = witnessed_store(&dir);
    // An empty store needs no witness line.
    assert!(s.reconcile_witness(false).unwrap().started);
    s.append(&[exposed("a", "web"), exposed("b", "web")]).unwrap();
    deliver_all(&s, "a", 10, 10);
    deliver_all(&s, "b", 10, 10);
    assert!(witness_problems(&s).is_empty());
    drop(s);
    let old = TempDir::new("witness-old-copy");
    copy_dir(&dir.0, &old.0);

    let s = witnessed_store(&dir);
    s.append(&[exposed("a", "web")]).unwrap();
    deliver_all(&s, "a", 10, 20);
    assert!(witness_problems(&s).is_empty());
    drop(s);

    // The store's files are replaced with the older copy.
    copy_dir(&old.0, &dir.0);
    let s = witnessed_store(&dir);
    assert!(
        s.verify_ledger()
            .unwrap()
            .iter()
            .all(|v| v.tampered_batches.is_empty() && v.broken_links.is_empty()),
        "the older copy is a consistent chain of its own"
    );
    let problems = witness_problems(&s);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("rolled back"), "{problems:?}");
    let e = s.reconcile_witness(false).unwrap_err().to_string();
    assert!(
        e.contains("a: ") && e.contains("rolled back") && e.contains("--accept-rollback"),
        "{e}"
    );

    // Accepted: this copy's heads become the witnessed ones.
    let start = s.reconcile_witness(true).unwrap();
    assert_eq!(start.accepted_rollback, vec!["a".to_string()]);
    assert!(witness_problems(&s).is_empty());
    s.append(&[exposed("a", "web")]).unwrap();
    deliver_all(&s, "a", 10, 30);
    assert!(s.verify_ledger().unwrap().iter().all(|v| v.ok()));
}

#[test]
fn the_witness_repairs_one_batch_ahead_and_refuses_the_rest() {
    let dir = TempDir::new("witness-ahead");
    let wpath = witness_path(&dir);
    let _cleanup = TempDir(wpath.clone());
    let s = witnessed_store(&dir);
    s.reconcile_witness(false).unwrap();
    for t in 1..=3 {
        s.append(&[exposed("a", "web")]).unwrap();
        deliver_all(&s, "a", 10, t);
    }
    drop(s);
    let full = std::fs::read_to_string(&wpath).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    assert_eq!(lines.len(), 3);

    // A crash between the commit and the witness line: one batch ahead, repaired on start.
    std::fs::write(&wpath, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    let s = witnessed_store(&dir);
    assert!(
        witness_problems(&s).is_empty(),
        "one batch ahead is a delivery in flight"
    );
    assert_eq!(s.reconcile_witness(false).unwrap().repaired, vec!["a".to_string()]);
    assert_eq!(
        std::fs::read_to_string(&wpath).unwrap(),
        full,
        "the same line written again"
    );
    drop(s);

    // Two lines cut off the end: not a crash.
    std::fs::write(&wpath, format!("{}\n", lines[0])).unwrap();
    let s = witnessed_store(&dir);
    assert!(witness_problems(&s)[0].contains("not in the witness"));
    assert!(s.reconcile_witness(false).is_err());
    drop(s);

    // A line removed from the middle, or edited.
    std::fs::write(&wpath, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    let s = witnessed_store(&dir);
    assert!(
        witness_problems(&s)
            .iter()
            .any(|p| p.contains("line 2") && p.contains("MAC"))
    );
    assert!(s.reconcile_witness(false).is_err());
    let mut edited: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    edited["head"] = serde_json::json!("00".repeat(32));
    std::fs::write(&wpath, format!("{}\n{edited}\n{}\n", lines[0], lines[2])).unwrap();
    assert!(witness_problems(&s).iter().any(|p| p.contains("line 2")));

    // The witness deleted.
    std::fs::remove_file(&wpath).unwrap();
    assert!(witness_problems(&s).iter().any(|p| p.contains("missing")));
    let e = s.reconcile_witness(false).unwrap_err().to_string();
    assert!(e.contains("missing"), "{e}");
}

/// Three subjects seen by `a`: 1 and 3 linked (3's anonymous id became 1), 2 on its own.
fn subjects_links_and_vendor_ids() -> (TempDir, SqliteStore) {
    let dir = TempDir::new("rows");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let p = |n: u32| format!("{n:032x}");
    let sealed = |n: u32| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("sealed-{n}"))
    };
    let mut rows = Vec::new();
    for n in [1, 2, 3] {
        let mut r = exposed_as("a", "web", &p(n), &["user.device"]);
        let mut x = crate::ledger::codec::decode_meta(r.meta.as_ref().unwrap()).unwrap();
        x.subject_sealed = Some(sealed(n));
        x.vendor_id = Some(format!("vendor-{n}"));
        if n == 1 {
            x.linked = vec![crate::ledger::LinkedId {
                digest: p(3),
                sealed: Some(sealed(3)),
            }];
        }
        r.meta = Some(crate::ledger::codec::encode_meta(&x));
        rows.push(r);
    }
    s.append(&rows).unwrap();
    deliver_all(&s, "a", 2, 10);
    let v = s.verify_ledger().unwrap();
    assert!(v.iter().all(|v| v.ok()), "{v:?}");
    (dir, s)
}

#[test]
fn subject_link_and_vendor_id_rows_are_covered() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "edit a sealed id",
            "UPDATE ledger_subjects SET sealed = x'00' WHERE id = 2",
            "ledger_subjects: rows of subjects 2 ",
        ),
        (
            "swap sealed ids between subjects",
            "CREATE TEMP TABLE t AS SELECT id, sealed, mac FROM ledger_subjects WHERE id IN (1, 2);
             UPDATE ledger_subjects SET sealed = (SELECT sealed FROM t WHERE t.id = 3 - ledger_subjects.id),
                                        mac = (SELECT mac FROM t WHERE t.id = 3 - ledger_subjects.id)
             WHERE id IN (1, 2);",
            "ledger_subjects: rows of subjects 1, 2 ",
        ),
        (
            "delete a subject",
            "DELETE FROM ledger_subjects WHERE id = 3",
            "ledger_subjects: 2 rows where batch",
        ),
        (
            "unlink a person",
            "DELETE FROM ledger_links",
            "ledger_links: 0 rows where batch",
        ),
        (
            "relink a person",
            "UPDATE ledger_links SET person = 2",
            "ledger_links: rows of the links of subjects",
        ),
        (
            "edit a vendor id",
            "UPDATE ledger_vendor_ids SET vendor_id = 'x' WHERE subject = 2",
            "ledger_vendor_ids: rows of the vendor ids of subjects 2 ",
        ),
        (
            "delete a vendor id",
            "DELETE FROM ledger_vendor_ids WHERE subject = 2",
            "ledger_vendor_ids: 2 rows where batch",
        ),
        (
            "delete a row and its count",
            "DELETE FROM ledger_vendor_ids WHERE subject = 2;
             UPDATE meta SET value = replace(value, '3,1,3,', '3,1,2,') WHERE key = 'ledger_rows'",
            "ledger_rows: the row counts were sealed",
        ),
    ];
    for (what, sql, expected) in cases {
        let (_dir, s) = subjects_links_and_vendor_ids();
        let v = tampered(&s, sql);
        let rows: Vec<&String> = v.iter().flat_map(|v| &v.rows).collect();
        assert!(
            rows.iter().any(|r| r.starts_with(expected)),
            "{what}: expected {expected:?} in {rows:?}"
        );
        assert!(!v.iter().all(|v| v.ok()), "{what}");
    }
}

/// A queued row about `user-<n>` (digest `<n>` as 32 hex), its id sealed by `seal`.
fn sealed_row(n: u32, seal: &dyn Fn(&[u8; 16], &str) -> Vec<u8>) -> NewRow {
    use base64::Engine as _;
    let digest = format!("{n:032x}");
    let mut r = exposed_as("a", "web", &digest, &["user.device"]);
    let mut x = crate::ledger::codec::decode_meta(r.meta.as_ref().unwrap()).unwrap();
    let bytes = crate::ledger::digest_bytes(&digest).unwrap();
    x.subject_sealed = Some(base64::engine::general_purpose::STANDARD.encode(seal(&bytes, &format!("user-{n}"))));
    r.meta = Some(crate::ledger::codec::encode_meta(&x));
    r
}

/// Every subject's id, opened with `keys` (`None` where it does not open).
fn subject_ids(s: &SqliteStore, keys: &StoreKeys) -> Vec<Option<String>> {
    let mut ids = Vec::new();
    s.ledger_subjects(&mut |r| {
        let digest: [u8; 16] = r.digest.try_into().unwrap();
        ids.push(
            r.sealed
                .and_then(|b| keys.open_subject(SubjectPart::Id, &digest, b))
                .map(|b| String::from_utf8(b).unwrap()),
        );
    })
    .unwrap();
    ids
}

fn root_record_of(s: &SqliteStore) -> String {
    root_record(&s.writer.lock()).unwrap().unwrap()
}

#[test]
fn a_new_store_gets_a_random_root_key_sealed_under_the_master_key() {
    let dir = TempDir::new("root");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let record = root_record_of(&s);
    assert!(record.starts_with(&format!("v1:{}:", test_master().id())), "{record}");
    assert!(!s.keys().unwrap().is_legacy());
    // The same root on every open, and for a process that opens the store without the key.
    let before = subject_ids(&s, &s.keys().unwrap());
    drop(s);
    let s = SqliteStore::open(&dir.0).unwrap();
    let keys = s.store_keys(&test_master()).unwrap();
    assert_eq!(subject_ids(&s, &keys), before);
    assert_eq!(root_record_of(&s), record);
    // Another master key is refused, naming the settings and both key ids.
    let other = MasterKey::from_bytes(&[1; 32]);
    let e = s.store_keys(&other).unwrap_err().to_string();
    assert!(
        e.contains("keys.master_key_env") && e.contains(&other.id()) && e.contains(&test_master().id()),
        "{e}"
    );
}

#[test]
fn a_sealed_id_moved_to_another_subject_does_not_open() {
    let dir = TempDir::new("swap");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let keys = s.keys().unwrap();
    let seal = |d: &[u8; 16], id: &str| keys.seal_subject(SubjectPart::Id, d, id.as_bytes()).unwrap();
    s.append(&[sealed_row(1, &seal), sealed_row(2, &seal)]).unwrap();
    deliver_all(&s, "a", 10, 10);
    assert_eq!(
        subject_ids(&s, &keys),
        [Some("user-1".to_owned()), Some("user-2".to_owned())]
    );
    {
        let conn = s.writer.lock();
        conn.execute_batch(
            "UPDATE ledger_subjects SET sealed = (SELECT sealed FROM ledger_subjects WHERE id = 2) WHERE id = 1;",
        )
        .unwrap();
    }
    // Subject 1 now holds subject 2's blob: it does not open as subject 1's id.
    assert_eq!(subject_ids(&s, &keys), [None, Some("user-2".to_owned())]);
    // Nor does an id open as a contact email of its own subject.
    let blob = seal(&[2; 16], "user-2");
    assert!(keys.open_subject(SubjectPart::Contact, &[2; 16], &blob).is_none());
    // And the ledger's row MAC reports the move.
    let v = s.verify_ledger().unwrap();
    assert!(
        v.iter().any(|v| v.rows.iter().any(|r| r.contains("subjects 1"))),
        "{v:?}"
    );
}

#[test]
fn online_rotation_rewraps_the_root_key_beside_a_running_writer() {
    let (old, new) = (test_master(), MasterKey::from_bytes(&[43; 32]));
    let dir = TempDir::new("rewrap");
    // `running` plays serve: opened with the old key, it keeps writing after the rotation.
    let running = SqliteStore::open_keyed(&dir.0, &old).unwrap();
    let keys = running.keys().unwrap();
    let seal = |d: &[u8; 16], id: &str| keys.seal_subject(SubjectPart::Id, d, id.as_bytes()).unwrap();
    let pseudonym = crate::keyring::current_key(&running, &keys, "a").unwrap();
    running.append(&[sealed_row(1, &seal)]).unwrap();
    deliver_all(&running, "a", 10, 10);
    running.append(&[sealed_row(2, &seal)]).unwrap();

    let cli = SqliteStore::open(&dir.0).unwrap();
    cli.rewrap_root(&old, &new).unwrap();
    assert!(root_record_of(&cli).starts_with(&format!("v1:{}:", new.id())));
    // The old key no longer rotates it either.
    let e = cli.rewrap_root(&old, &new).unwrap_err().to_string();
    assert!(e.contains(&new.id()), "{e}");
    drop(cli);

    // The running writer goes on: delivers, records, seals with the keys it holds.
    deliver_all(&running, "a", 10, 20);
    running.append(&[sealed_row(3, &seal)]).unwrap();
    deliver_all(&running, "a", 10, 30);
    assert!(running.verify_ledger().unwrap().iter().all(|v| v.ok()));
    drop(running);

    // A restart with the old key is refused, naming the settings; the new key opens all.
    let e = SqliteStore::open_keyed(&dir.0, &old).err().unwrap().to_string();
    assert!(e.contains("keys.master_key_env") && e.contains("rotate-master"), "{e}");
    let s = SqliteStore::open_keyed(&dir.0, &new).unwrap();
    let keys = s.keys().unwrap();
    assert!(s.verify_ledger().unwrap().iter().all(|v| v.ok()));
    assert_eq!(
        subject_ids(&s, &keys),
        ["user-1", "user-2", "user-3"].map(|s| Some(s.to_owned()))
    );
    assert_eq!(
        crate::keyring::current_key(&s, &keys, "a").unwrap().pseudonym("x"),
        pseudonym.pseudonym("x")
    );
}

#[test]
fn reseal_reseals_queued_records_and_rekeys_the_ledger() {
    let (old, new) = (test_master(), MasterKey::from_bytes(&[43; 32]));
    let dir = TempDir::new("reseal");
    let s = SqliteStore::open_keyed(&dir.0, &old).unwrap();
    let old_keys = s.keys().unwrap();
    let seal = |d: &[u8; 16], id: &str| old_keys.seal_subject(SubjectPart::Id, d, id.as_bytes()).unwrap();
    let pseudonym = crate::keyring::current_key(&s, &old_keys, "a").unwrap();
    s.append(&[sealed_row(1, &seal)]).unwrap();
    deliver_all(&s, "a", 10, 10);
    s.append(&[sealed_row(2, &seal)]).unwrap(); // still queued at the rotation
    let (done, new_keys) = s.reseal(&new).unwrap();
    assert_eq!(
        (done.pseudonym_keys, done.subject_ids, done.queued_records, done.batches),
        (1, 1, 1, 1)
    );
    drop(s);

    assert!(matches!(
        SqliteStore::open_keyed(&dir.0, &old),
        Err(StoreError::Keys(_))
    ));
    let s = SqliteStore::open_keyed(&dir.0, &new).unwrap();
    let keys = s.keys().unwrap();
    deliver_all(&s, "a", 10, 20);
    assert!(s.verify_ledger().unwrap().iter().all(|v| v.ok()));
    assert_eq!(subject_ids(&s, &keys), [Some("user-1".into()), Some("user-2".into())]);
    assert_eq!(
        subject_ids(&s, &new_keys),
        [Some("user-1".into()), Some("user-2".into())]
    );
    // The old root's keys open nothing any more: an old backup's root does not reach new data.
    assert_eq!(subject_ids(&s, &old_keys), [None, None]);
    assert!(crate::keyring::current_key(&s, &old_keys, "a").is_err());
    // The pseudonym key itself is unchanged: vendors see the same pseudonyms.
    assert_eq!(
        crate::keyring::current_key(&s, &keys, "a").unwrap().pseudonym("x"),
        pseudonym.pseudonym("x")
    );
    // A ledger that does not verify is not re-keyed (that would hide the tampering).
    s.writer
        .lock()
        .execute("UPDATE ledger_batches SET delivered_at = 11 WHERE id = 1", [])
        .unwrap();
    let e = s.reseal(&old).unwrap_err().to_string();
    assert!(e.contains("does not verify"), "{e}");
}

#[test]
fn a_legacy_store_opens_unchanged_refuses_online_rotation_and_is_converted_by_reseal() {
    use crate::policy::keys::UNBOUND_SUBJECT_AAD;
    let (old, new) = (test_master(), MasterKey::from_bytes(&[43; 32]));
    let dir = TempDir::new("legacy");
    // A store written the way builds before the root key wrote it: pseudonym keys and ids
    // sealed under the master key itself (ids with the unbound additional data), MAC keys
    // derived from the master key.
    let legacy = StoreKeys::legacy(&old);
    {
        let s = SqliteStore::open(&dir.0).unwrap();
        crate::keyring::current_key(&s, &legacy, "a").unwrap();
        let seal = |_: &[u8; 16], id: &str| old.seal(UNBOUND_SUBJECT_AAD, id.as_bytes()).unwrap();
        s.append(&[sealed_row(1, &seal), sealed_row(2, &seal)]).unwrap();
    }
    let s = SqliteStore::open_keyed(&dir.0, &old).unwrap();
    assert_eq!(root_record_of(&s), LEGACY_ROOT);
    let keys = s.keys().unwrap();
    assert!(keys.is_legacy());
    deliver_all(&s, "a", 1, 10);
    // New ids are sealed bound to their subject, old ones still open.
    let bound = |d: &[u8; 16], id: &str| keys.seal_subject(SubjectPart::Id, d, id.as_bytes()).unwrap();
    s.append(&[sealed_row(3, &bound)]).unwrap();
    deliver_all(&s, "a", 1, 20);
    assert!(s.verify_ledger().unwrap().iter().all(|v| v.ok()));
    assert_eq!(
        subject_ids(&s, &keys),
        ["user-1", "user-2", "user-3"].map(|s| Some(s.to_owned()))
    );
    // The MAC keys are the master-derived ones of old.
    assert_eq!(
        ring::hmac::sign(&keys.mac_key(b"ledger chain"), b"x").as_ref(),
        ring::hmac::sign(&legacy.mac_key(b"ledger chain"), b"x").as_ref()
    );
    // Online rotation is refused, pointing at --reseal.
    let e = s.rewrap_root(&old, &new).unwrap_err().to_string();
    assert!(e.contains("--reseal"), "{e}");
    s.append(&[sealed_row(4, &bound)]).unwrap(); // queued at the rotation
    let (done, _) = s.reseal(&new).unwrap();
    assert_eq!((done.subject_ids, done.queued_records), (3, 1));
    drop(s);

    let s = SqliteStore::open_keyed(&dir.0, &new).unwrap();
    assert!(root_record_of(&s).starts_with("v1:"));
    let keys = s.keys().unwrap();
    assert!(!keys.is_legacy());
    deliver_all(&s, "a", 10, 30);
    assert!(s.verify_ledger().unwrap().iter().all(|v| v.ok()));
    assert_eq!(
        subject_ids(&s, &keys),
        ["user-1", "user-2", "user-3", "user-4"].map(|s| Some(s.to_owned()))
    );
    // Every blob is bound to its subject now: none opens under another subject's digest.
    let mut elsewhere = 0;
    s.ledger_subjects(&mut |r| {
        if r.sealed
            .and_then(|b| keys.open_subject(SubjectPart::Id, &[0xee; 16], b))
            .is_some()
        {
            elsewhere += 1;
        }
    })
    .unwrap();
    assert_eq!(elsewhere, 0);
}

/// A keyed store with two incidents written the way the incident desk writes them: created
/// with a placeholder, saved, then changed through compare-and-swap.
fn two_incidents() -> (TempDir, SqliteStore) {
    let dir = TempDir::new("incident-chain");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    for n in 1..=2 {
        let id = s.save_incident(None, "{}", 1000 * n).unwrap();
        let doc = format!(r#"{{"id":{id},"people":{},"timeline":["opened"]}}"#, 10 * n);
        s.save_incident(Some(id), &doc, 1000 * n + 1).unwrap();
        let next = doc.replace(r#"["opened"]"#, r#"["opened","exported"]"#);
        assert!(s.replace_incident(id, &doc, &next, 1000 * n + 2).unwrap());
    }
    (dir, s)
}

/// What `ledger verify` says about incidents: (name, problems), failures only.
fn incident_failures(s: &SqliteStore) -> Vec<(String, Vec<String>)> {
    s.verify_ledger()
        .unwrap()
        .into_iter()
        .filter(|v| v.destination.starts_with("incident") && !v.ok())
        .map(|v| (v.destination, v.incident))
        .collect()
}

fn mentions(failures: &[(String, Vec<String>)], name: &str, what: &str) -> bool {
    failures
        .iter()
        .any(|(n, problems)| n == name && problems.iter().any(|p| p.contains(what)))
}

#[test]
fn incident_writes_extend_a_chain_that_verifies() {
    let (_dir, s) = two_incidents();
    let v = s.verify_ledger().unwrap();
    let incidents: Vec<(&str, u64, bool)> = v
        .iter()
        .filter(|v| v.destination.starts_with("incident"))
        .map(|v| (v.destination.as_str(), v.revisions, v.ok()))
        .collect();
    assert_eq!(incidents, [("incident 1", 3, true), ("incident 2", 3, true)]);
    // A compare-and-swap that loses writes nothing, and the chain still verifies.
    assert!(!s.replace_incident(1, "{}", "{\"x\":1}", 9000).unwrap());
    assert!(incident_failures(&s).is_empty());
}

#[test]
fn an_edited_incident_document_is_caught() {
    let (_dir, s) = two_incidents();
    let f = tampered_incidents(
        &s,
        r#"UPDATE incidents SET document = replace(document, '"people":20', '"people":2') WHERE id = 2"#,
    );
    assert!(
        mentions(&f, "incident 2", "document does not match its revision 3"),
        "{f:?}"
    );
    assert!(!mentions(&f, "incident 1", ""), "{f:?}");
    let f = tampered_incidents(&s, "UPDATE incidents SET updated_at = 5 WHERE id = 1");
    assert!(mentions(&f, "incident 1", "update time"), "{f:?}");
}

fn tampered_incidents(s: &SqliteStore, sql: &str) -> Vec<(String, Vec<String>)> {
    s.writer.lock().execute_batch(sql).unwrap();
    incident_failures(s)
}

#[test]
fn a_recomputed_plain_digest_is_caught() {
    let (_dir, s) = two_incidents();
    // Someone with write access edits the document and recomputes its SHA-256 in the newest
    // revision: the link over it is keyed, so it no longer verifies.
    let edited = r#"{"id":1,"people":0,"timeline":["opened","exported"]}"#;
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(edited.as_bytes()).into();
    {
        let conn = s.writer.lock();
        conn.execute("UPDATE incidents SET document = ?1 WHERE id = 1", [edited])
            .unwrap();
        conn.execute(
            "UPDATE incident_revisions SET digest = ?1 WHERE incident = 1 AND revision = 3",
            [digest.as_slice()],
        )
        .unwrap();
    }
    let f = incident_failures(&s);
    assert!(
        mentions(&f, "incident 1", "revision 3 does not verify under the master key"),
        "{f:?}"
    );
    assert!(!mentions(&f, "incident 1", "document does not match"), "{f:?}");
}

#[test]
fn deleting_the_newest_revision_is_caught_even_with_the_document_set_back() {
    let (_dir, s) = two_incidents();
    let before = r#"{"id":2,"people":20,"timeline":["opened"]}"#;
    let f = tampered_incidents(
        &s,
        &format!(
            "DELETE FROM incident_revisions WHERE seq = (SELECT MAX(seq) FROM incident_revisions);
             UPDATE incidents SET document = '{before}', updated_at = 2001 WHERE id = 2;"
        ),
    );
    assert!(mentions(&f, "incidents", "newest 1 revision(s) were removed"), "{f:?}");
    // Nothing is recorded over a chain that no longer ends at its seal.
    let e = s.replace_incident(2, before, "{}", 9000).unwrap_err().to_string();
    assert!(e.contains("incident chain"), "{e}");
}

#[test]
fn deleting_an_incident_is_caught() {
    // The first incident: its revisions stay in the chain.
    let (_dir, s) = two_incidents();
    let f = tampered_incidents(&s, "DELETE FROM incidents WHERE id = 1");
    assert!(mentions(&f, "incident 1", "the incident was deleted"), "{f:?}");
    // The first incident with its revisions: the chain has a gap, and incident 2's first
    // revision no longer links.
    let (_dir, s) = two_incidents();
    let f = tampered_incidents(
        &s,
        "DELETE FROM incidents WHERE id = 1; DELETE FROM incident_revisions WHERE incident = 1;",
    );
    assert!(mentions(&f, "incident 2", "were deleted from the chain"), "{f:?}");
    // The newest incident with all its revisions: the seal counts them.
    let (_dir, s) = two_incidents();
    let f = tampered_incidents(
        &s,
        "DELETE FROM incidents WHERE id = 2; DELETE FROM incident_revisions WHERE incident = 2;",
    );
    assert!(mentions(&f, "incidents", "newest 3 revision(s) were removed"), "{f:?}");
    // And the seal with them.
    let (_dir, s) = two_incidents();
    let f = tampered_incidents(&s, "DELETE FROM meta WHERE key = 'incident_chain'");
    assert!(mentions(&f, "incidents", "seal is missing"), "{f:?}");
}

#[test]
fn reordered_incident_revisions_are_caught() {
    let (_dir, s) = two_incidents();
    // Incident 1's revisions 2 and 3 swap places (their chain positions exchanged).
    let f = tampered_incidents(
        &s,
        "UPDATE incident_revisions SET seq = -seq WHERE incident = 1 AND revision IN (2, 3);
         UPDATE incident_revisions SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE seq < 0;",
    );
    assert!(mentions(&f, "incident 1", "follows revision"), "{f:?}");
    assert!(
        mentions(&f, "incident 1", "does not verify under the master key"),
        "{f:?}"
    );
}

#[test]
fn incidents_need_the_master_key_and_another_key_verifies_nothing() {
    let (dir, s) = two_incidents();
    drop(s);
    let keyless = SqliteStore::open(&dir.0).unwrap();
    let e = keyless.save_incident(None, "{}", 1).unwrap_err().to_string();
    assert!(e.contains("master key"), "{e}");
    assert_eq!(keyless.incidents().unwrap().len(), 2, "reads work without the key");
    drop(keyless);
    // Another master key does not open the store's root key at all.
    assert!(SqliteStore::open_keyed(&dir.0, &MasterKey::from_bytes(&[7; 32])).is_err());
}

#[test]
fn incidents_of_an_earlier_store_are_chained_on_its_first_keyed_open() {
    let dir = TempDir::new("incident-upgrade");
    {
        // A version-5 store, as earlier builds left it: incidents with no chain.
        let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
        let conn = s.writer.lock();
        conn.execute_batch(
            "INSERT INTO incidents (id, updated_at, document) VALUES (4, 40, '{\"a\":1}'), (7, 70, '{\"b\":2}');
             UPDATE meta SET value = '5' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    // Opened without the key: left as it is (the chain needs the key).
    drop(SqliteStore::open(&dir.0).unwrap());
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let v: Vec<(String, u64, bool)> = s
        .verify_ledger()
        .unwrap()
        .into_iter()
        .map(|v| (v.destination.clone(), v.revisions, v.ok()))
        .collect();
    assert_eq!(
        v,
        [("incident 4".to_owned(), 1, true), ("incident 7".to_owned(), 1, true)]
    );
    let version: String = lock(&s.reader)
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    // From now on an edit is caught.
    let f = tampered_incidents(&s, "UPDATE incidents SET document = '{\"a\":2}' WHERE id = 4");
    assert!(mentions(&f, "incident 4", "document does not match"), "{f:?}");
}

#[test]
fn an_incident_chain_keyed_under_other_keys_does_not_verify() {
    let (_dir, s) = two_incidents();
    assert!(incident_failures(&s).is_empty());
    let other = StoreKeys::generate(&MasterKey::from_bytes(&[44; 32])).unwrap().keys;
    {
        let conn = s.writer.lock();
        let key = incidents::key_of(&ChainKey::derive(&other)).unwrap();
        incidents::rekey(&conn, &key).unwrap();
    }
    let f = incident_failures(&s);
    assert!(mentions(&f, "incident 1", "does not verify"), "{f:?}");
    assert!(mentions(&f, "incidents", "seal does not verify"), "{f:?}");
}

#[test]
fn rotating_the_master_key_moves_the_incident_chain_with_it() {
    let (dir, s) = two_incidents();
    let new = MasterKey::from_bytes(&[45; 32]);
    s.reseal(&new).unwrap();
    drop(s);
    let s = SqliteStore::open_keyed(&dir.0, &new).unwrap();
    assert!(incident_failures(&s).is_empty());
    let doc = s.incident(1).unwrap().unwrap();
    assert!(s.replace_incident(1, &doc, "{}", 9000).unwrap());
    assert!(incident_failures(&s).is_empty());
    // A tampered incident chain stops the rotation (it would be sealed under the new key).
    s.writer
        .lock()
        .execute("UPDATE incidents SET document = '{\"x\":1}' WHERE id = 2", [])
        .unwrap();
    let e = s.reseal(&test_master()).unwrap_err().to_string();
    assert!(e.contains("does not verify") && e.contains("incident 2"), "{e}");
}
