use super::*;
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
    let s = SqliteStore::open(&dir.0).unwrap();
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
        &[leased[0].id],
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
    s.complete("b", &[leased[2].id], &[], 0).unwrap();
    assert_eq!(s.lease("a", 10).unwrap().len(), 1);
    assert_eq!(s.retry_dead_letters(Some("a"), &[], 6000).unwrap(), 1);
    let again = s.lease("a", 10).unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(again[1].payload, b"2");
    assert!(s.dead_letters(None, 10).unwrap().is_empty());
    s.complete("a", &[again[1].id], &[(again[0].id, "x".into())], 0)
        .unwrap();
    assert_eq!(s.purge_dead_letters(None, &[]).unwrap(), 1);
}

#[test]
fn destination_state_and_drop_counts() {
    let dir = TempDir::new("state");
    let s = SqliteStore::open(&dir.0).unwrap();
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
        let s = SqliteStore::open(&dir.0).unwrap();
        s.append(&[row("a", "1")]).unwrap();
    }
    let s = SqliteStore::open(&dir.0).unwrap();
    assert_eq!(s.lease("a", 10).unwrap().len(), 1);
    lock(&s.writer)
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
        let s = SqliteStore::open(&dir.0).unwrap();
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
                            ok.push(r.id);
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
    let e = crate::ledger::Exposure {
        source: source.into(),
        subject_digest: Some("d1".into()),
        vendor_id: Some("v1".into()),
        key_version: 1,
        sent: vec!["user.device".into()],
        event_time_ms: 5,
        ..Default::default()
    };
    NewRow {
        meta: Some(serde_json::to_vec(&e).unwrap()),
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
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        s.complete(dest, &ids, &[], at).unwrap();
    }
}

#[test]
fn ledger_is_written_with_the_acknowledgement_and_verifies() {
    let dir = TempDir::new("ledger");
    let s = SqliteStore::open(&dir.0).unwrap();
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
    lock(&s.writer).execute_batch(sql).unwrap();
    s.verify_ledger().unwrap()
}

#[test]
fn ledger_verify_catches_edits_deletions_and_reordering() {
    let cases = [
        // edit an entry
        "UPDATE ledger SET exposure = replace(exposure, 'user.device', 'user.devicX') WHERE id = 2",
        // delete an entry
        "DELETE FROM ledger WHERE id = 3",
        // reorder two entries of a batch (swap their contents)
        "UPDATE ledger SET exposure = CASE id WHEN 1 THEN (SELECT exposure FROM ledger WHERE id = 2) ELSE (SELECT exposure FROM ledger WHERE id = 1) END WHERE id IN (1, 2)",
        // move an entry to another batch
        "UPDATE ledger SET batch = 2 WHERE id = 1",
        // delete a whole batch with its entries
        "DELETE FROM ledger WHERE batch = 2; DELETE FROM ledger_batches WHERE id = 2",
        // forge an entry behind the chain's back
        "INSERT INTO ledger (destination, batch, delivered_at, exposure) VALUES ('a', 99, 10, x'7b7d')",
    ];
    for sql in cases {
        let dir = TempDir::new("tamper");
        let s = SqliteStore::open(&dir.0).unwrap();
        s.append(
            &(0..6)
                .map(|i| exposed("a", if i % 2 == 0 { "web" } else { "ios" }))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        deliver_all(&s, "a", 2, 10);
        assert!(s.verify_ledger().unwrap()[0].ok());
        let v = tampered(&s, sql);
        assert!(!v[0].ok(), "not caught: {sql}");
    }
}

#[test]
fn ledger_prune_keeps_the_rest_verifiable() {
    let dir = TempDir::new("prune");
    let s = SqliteStore::open(&dir.0).unwrap();
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
