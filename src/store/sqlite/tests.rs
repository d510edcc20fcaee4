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
