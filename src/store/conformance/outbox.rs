//! [`OutboxStore`](crate::store::OutboxStore): append order, leasing, completion (once per
//! row, only the destination's own rows), dead letters, retry and purge.

use std::collections::{BTreeMap, VecDeque};

use proptest::prelude::*;

use super::{Make, exposed, keyed, row, runner};
use crate::event::Kind;
use crate::store::{NewRow, QueueStats, StoreError};

pub(crate) fn append_lease_complete_and_dead_letters(make: Make) {
    let b = make();
    let s = keyed(&*b);
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
    assert_eq!((dead[0].destination.as_str(), dead[0].payload_bytes), ("a", 1));
    // completing rows of another destination is a no-op
    s.complete("b", &leased[2..3], &[], 0).unwrap();
    assert_eq!(s.lease("a", 10).unwrap().len(), 1);
    assert_eq!(s.retry_dead_letters(Some("a"), &[], 6000).unwrap(), 1);
    let again = s.lease("a", 10).unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(again[1].payload, b"2");
    assert_eq!(
        (again[1].attempts, again[1].enqueued_at_ms),
        (0, 6000),
        "a retried record starts again"
    );
    assert!(s.dead_letters(None, 10).unwrap().is_empty());
    s.complete("a", &again[1..2], &[(again[0].id, "x".into())], 0).unwrap();
    assert_eq!(s.purge_dead_letters(None, &[]).unwrap(), 1);
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

/// The outbox behaves like a FIFO queue per destination plus a dead-letter list.
pub(crate) fn outbox_matches_an_in_memory_model(make: Make) {
    let mut runner = runner(64, "proptest-regressions/store/conformance/outbox.txt");
    let result = runner.run(&prop::collection::vec(op(), 1..30), |ops| {
        let b = make();
        let s = keyed(&*b);
        let mut queues: BTreeMap<String, VecDeque<Vec<u8>>> = BTreeMap::new();
        let mut dead: Vec<(String, Vec<u8>)> = Vec::new();
        for op in ops {
            match op {
                Op::Append(items) => {
                    let rows: Vec<NewRow> = items
                        .iter()
                        .map(|(d, p)| NewRow {
                            destination: dest(*d).unwrap(),
                            kind: Kind::Track,
                            payload: vec![*p],
                            enqueued_at_ms: 1,
                            meta: None,
                        })
                        .collect();
                    s.append(&rows).unwrap();
                    for r in rows {
                        queues.entry(r.destination).or_default().push_back(r.payload);
                    }
                }
                Op::Deliver {
                    dest: d,
                    take,
                    dead_every,
                } => {
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
                    let (back, keep): (Vec<_>, Vec<_>) = dead
                        .drain(..)
                        .partition(|(n, _)| filter.as_ref().is_none_or(|f| f == n));
                    prop_assert_eq!(n, back.len());
                    dead = keep;
                    for (name, p) in back {
                        queues.entry(name).or_default().push_back(p);
                    }
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
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
}

/// More ids in one `complete` than a backend binds in one statement (the embedded backend
/// deletes 500 at a time), mixed with another destination's, which are not touched.
pub(crate) fn complete_removes_rows_across_many_ids_and_only_its_destinations(make: Make) {
    let b = make();
    let s = keyed(&*b);
    let n = 1003;
    let rows: Vec<NewRow> = (0..n)
        .map(|i| exposed(if i % 7 == 0 { "b" } else { "a" }, "web"))
        .collect();
    s.append(&rows).unwrap();
    let a = s.lease("a", n).unwrap();
    let b_rows = s.lease("b", n).unwrap();
    assert_eq!(a.len() + b_rows.len(), n);
    let mixed = [a.clone(), b_rows.clone()].concat();
    s.complete("a", &mixed, &[], 10).unwrap();
    assert!(s.lease("a", n).unwrap().is_empty());
    assert_eq!(s.lease("b", n).unwrap().len(), b_rows.len());
    assert_eq!(s.ledger_entries(Some("a"), 10 * n).unwrap().len(), a.len());
    assert!(s.ledger_entries(Some("b"), 10).unwrap().is_empty());
}

pub(crate) fn without_the_master_key_nothing_is_recorded_or_verified(make: Make) {
    let b = make();
    let s = b.open(None, None).unwrap();
    s.append(&[exposed("a", "web"), row("a", "no meta")]).unwrap();
    let rows = s.lease("a", 10).unwrap();
    let e = s.complete("a", &rows, &[], 1).unwrap_err();
    assert!(matches!(e, StoreError::Keys(_)), "{e:?}");
    assert!(e.to_string().contains("master key"), "{e}");
    assert_eq!(s.queue_stats("a").unwrap().depth, 2, "nothing left the outbox");
    // Refused rows and rows without exposure still move.
    s.complete("a", &[rows[1].clone()], &[(rows[0].id, "refused".into())], 1)
        .unwrap();
    assert_eq!(s.queue_stats("a").unwrap().depth, 0);
    let e = s.verify_ledger().unwrap_err();
    assert!(matches!(e, StoreError::Keys(_)), "{e:?}");
    assert!(e.to_string().contains("master key"));
}

/// Retry and purge act on the ids given (of the destination given), or on all of a
/// destination's, or on all.
pub(crate) fn retry_and_purge_take_ids_or_a_destination(make: Make) {
    let b = make();
    let s = keyed(&*b);
    s.append(&[row("a", "1"), row("a", "2"), row("a", "3"), row("b", "4")])
        .unwrap();
    let refuse_all = |dest: &str| {
        let rows = s.lease(dest, 10).unwrap();
        let dead: Vec<(i64, String)> = rows.iter().map(|r| (r.id, "refused".to_owned())).collect();
        s.complete(dest, &[], &dead, 7).unwrap();
    };
    refuse_all("a");
    refuse_all("b");
    let dead = s.dead_letters(None, 10).unwrap();
    assert_eq!(dead.len(), 4);
    assert_eq!(s.dead_letters(Some("a"), 2).unwrap().len(), 2, "the limit holds");
    let ids: Vec<i64> = dead.iter().map(|d| d.id).collect();
    // An id of another destination is not retried under this one.
    assert_eq!(s.retry_dead_letters(Some("a"), &[ids[1], ids[3]], 8).unwrap(), 1);
    assert_eq!(s.lease("a", 10).unwrap()[0].payload, b"2");
    assert_eq!(s.purge_dead_letters(Some("b"), &[]).unwrap(), 1);
    assert_eq!(s.purge_dead_letters(None, &[ids[0]]).unwrap(), 1);
    let left: Vec<i64> = s.dead_letters(None, 10).unwrap().iter().map(|d| d.id).collect();
    assert_eq!(left, [ids[2]]);
    assert_eq!(s.retry_dead_letters(None, &[], 9).unwrap(), 1);
    let queued: Vec<Vec<u8>> = s.lease("a", 10).unwrap().into_iter().map(|r| r.payload).collect();
    assert_eq!(queued, [b"2".to_vec(), b"3".to_vec()], "in the order they were retried");
    assert!(s.dead_letters(None, 10).unwrap().is_empty());
}
