//! [`LedgerStore`](crate::store::LedgerStore): entries written with the acknowledgement and
//! verifiable, pruning that keeps the chain verifiable, the people/category/link figures and
//! roll-ups incident reports are built from, subjects and vendor ids, and the witness.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{Make, TempDir, deliver_all, exposed, exposed_as, keyed, row, runner, test_master, with_meta};
use crate::ledger::LinkedId;
use crate::store::{NewRow, Store, StoreError};

pub(crate) fn ledger_is_written_with_the_acknowledgement_and_verifies(make: Make) {
    let b = make();
    let s = keyed(&*b);
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
    deliver_all(&*s, "a", 2, 10);
    deliver_all(&*s, "b", 10, 20);
    assert_eq!(s.ledger_entries(Some("a"), 100).unwrap().len(), 5);
    assert_eq!(s.ledger_entries(Some("b"), 100).unwrap().len(), 1);
    assert_eq!(s.ledger_entries(None, 100).unwrap().len(), 6);
    let v = s.verify_ledger().unwrap();
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|v| v.ok()), "{v:?}");
    assert_eq!((v[0].batches, v[0].entries), (3, 5));
    assert_eq!(s.queue_stats("a").unwrap().depth, 0);
    let e = &s.ledger_entries(Some("b"), 100).unwrap()[0];
    assert_eq!(
        (e.source.as_str(), e.delivered_at_ms, e.sent.as_slice()),
        ("web", 20, ["user.device".to_owned()].as_slice())
    );
    assert_eq!(e.subject_digest.as_deref(), Some("00000000000000000000000000000001"));
    assert_eq!(s.ledger_delivery_span("a", 0, 100).unwrap(), Some((10, 10)));
    assert_eq!(s.ledger_delivery_span("a", 11, 100).unwrap(), None);
}

pub(crate) fn each_delivered_row_enters_the_ledger_once(make: Make) {
    let b = make();
    let s = keyed(&*b);
    s.append(&[exposed("a", "web"), exposed("a", "ios")]).unwrap();
    let rows = s.lease("a", 10).unwrap();
    let listed_twice = [rows.clone(), rows.clone()].concat();
    s.complete("a", &listed_twice, &[], 10).unwrap();
    // Completing rows that are no longer queued records nothing more.
    s.complete("a", &rows, &[], 11).unwrap();
    assert_eq!(s.ledger_entries(Some("a"), 100).unwrap().len(), 2);
    assert!(s.verify_ledger().unwrap()[0].ok());
}

/// Two deliveries of four entries (at 100 and 200), the first pruned.
pub(crate) fn pruned_at_150(s: &dyn Store) {
    s.append(&(0..4).map(|_| exposed("a", "web")).collect::<Vec<_>>())
        .unwrap();
    deliver_all(s, "a", 2, 100);
    s.append(&(0..4).map(|_| exposed("a", "web")).collect::<Vec<_>>())
        .unwrap();
    deliver_all(s, "a", 2, 200);
    assert_eq!(s.prune_ledger(150).unwrap(), 4);
}

pub(crate) fn ledger_prune_keeps_the_rest_verifiable(make: Make) {
    let b = make();
    let s = keyed(&*b);
    pruned_at_150(&*s);
    let v = s.verify_ledger().unwrap();
    assert!(v[0].ok(), "{v:?}");
    assert_eq!((v[0].batches, v[0].entries), (2, 4));
    assert!(
        s.ledger_entries(Some("a"), 100)
            .unwrap()
            .iter()
            .all(|e| e.delivered_at_ms == 200)
    );
    // new deliveries extend the chain from the anchor
    s.append(&[exposed("a", "web")]).unwrap();
    deliver_all(&*s, "a", 2, 300);
    assert!(s.verify_ledger().unwrap()[0].ok());
    assert_eq!(s.prune_ledger(150).unwrap(), 0, "nothing left to prune");
}

pub(crate) fn batch_ids_never_repeat_after_pruning_everything(make: Make) {
    let b = make();
    let s = keyed(&*b);
    s.append(&(0..4).map(|_| exposed("a", "web")).collect::<Vec<_>>())
        .unwrap();
    deliver_all(&*s, "a", 2, 100);
    assert_eq!(s.prune_ledger(1000).unwrap(), 4);
    s.append(&[exposed("a", "web")]).unwrap();
    deliver_all(&*s, "a", 2, 2000);
    let e = s.ledger_entries(Some("a"), 10).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].batch, 3, "batch ids continue after the anchor");
    assert!(s.verify_ledger().unwrap()[0].ok());
}

/// Day 1: person 1 twice on `a`'s web (device + pseudonymised id), person 2 once on ios,
/// person 9 on `b`; day 2: person 3, whose anonymous id turns out to be person 1's. Returns
/// the length of a day.
pub(crate) fn two_days_of_people(s: &dyn Store) -> i64 {
    let p = |n: u32| format!("{n:032x}");
    let day = crate::ledger::rollup::DAY_MS;
    s.append(&[
        exposed_as("a", "web", &p(1), &["user.device", "user.unique_id"]),
        exposed_as("a", "web", &p(1), &["user.device", "user.unique_id"]),
        exposed_as("a", "ios", &p(2), &["user.device"]),
        exposed_as("b", "web", &p(9), &["user.contact.email"]),
    ])
    .unwrap();
    deliver_all(s, "a", 100, day + 1000);
    deliver_all(s, "b", 100, day + 1000);
    let linked = with_meta(exposed_as("a", "web", &p(3), &["user.device"]), |x| {
        x.linked = vec![LinkedId {
            digest: p(1),
            sealed: None,
        }];
    });
    s.append(&[linked]).unwrap();
    deliver_all(s, "a", 100, 2 * day + 5000);
    day
}

pub(crate) fn ledger_counts_people_categories_and_links(make: Make) {
    let b = make();
    let s = keyed(&*b);
    let day = two_days_of_people(&*s);
    let pseudo = |f: &crate::ledger::query::Figures| f.categories.values().filter(|c| c.pseudonymised_only).count();
    let all = crate::ledger::query::figures(&*s, "a", 0, 3 * day).unwrap();
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
    let late = crate::ledger::query::figures(&*s, "a", day + 1001, 3 * day).unwrap();
    assert_eq!((late.people, late.records), (1, 1));
    let before = crate::ledger::query::people(&*s, "a", 0, 3 * day).unwrap();
    // Rolling up closed days changes nothing.
    assert_eq!(s.roll_up_ledger(4 * day).unwrap(), 3);
    assert_eq!(crate::ledger::query::figures(&*s, "a", 0, 3 * day).unwrap(), all);
    assert_eq!(s.roll_up_ledger(4 * day).unwrap(), 0);
    assert!(s.verify_ledger().unwrap().iter().all(|v| v.ok()));
    // Walking the stored person lists a window at a time (here a day each) gives the same
    // per-person table as walking them all together, and as the batches gave.
    let people = crate::ledger::query::people(&*s, "a", 0, 3 * day).unwrap();
    let together: Vec<_> = people.iter().collect();
    let by_day: Vec<_> = crate::ledger::query::people_windowed(&*s, "a", 0, 3 * day, 1)
        .unwrap()
        .iter()
        .collect();
    assert_eq!(together.len(), 2);
    assert_eq!(by_day, together);
    assert_eq!(before.iter().collect::<Vec<_>>(), together);
    // Person 1 and the subject that linked it are one person, named by the linking subject.
    let linked = together.iter().find(|r| r.records == 3).unwrap();
    assert_eq!(
        linked.person, 4,
        "subjects 1 (person 1), 2, 3 (b's), 4 (the linking one)"
    );
    let mut names = people.category_names(linked.mask);
    names.sort();
    assert_eq!(names, vec!["user.device", "user.unique_id"]);
    assert_eq!((linked.first_ms, linked.last_ms), (day + 1000, 2 * day + 5000));
    assert_eq!(s.ledger_links().unwrap(), [(1, 4)]);
    let mut vendor_ids = Vec::new();
    s.ledger_vendor_ids("a", &mut |subject, kv, id| {
        vendor_ids.push((subject, kv, id.to_owned()))
    })
    .unwrap();
    assert_eq!(vendor_ids.len(), 3);
    assert!(vendor_ids.iter().all(|(_, kv, id)| *kv == 1 && id == "v1"));
    assert_eq!(
        s.ledger_delivery_span("a", 0, 3 * day).unwrap(),
        Some((day + 1000, 2 * day + 5000))
    );
}

pub(crate) fn a_shared_device_does_not_merge_two_people(make: Make) {
    let b = make();
    let s = keyed(&*b);
    let p = |n: u32| format!("{n:032x}");
    let with_link = |subject: u32, device: u32| {
        with_meta(exposed_as("a", "web", &p(subject), &["user.device"]), |x| {
            x.linked = vec![LinkedId {
                digest: p(device),
                sealed: None,
            }];
        })
    };
    // The device's anonymous event, then user 1 and user 2 each log in on it.
    s.append(&[
        exposed_as("a", "web", &p(9), &["user.device"]),
        with_link(1, 9),
        with_link(2, 9),
    ])
    .unwrap();
    deliver_all(&*s, "a", 10, 1000);
    let f = crate::ledger::query::figures(&*s, "a", 0, 2000).unwrap();
    assert_eq!((f.people, f.records), (2, 3), "the device joins the first user only");
    let people = crate::ledger::query::people(&*s, "a", 0, 2000).unwrap();
    let mut records: Vec<u64> = people.iter().map(|p| p.records).collect();
    records.sort();
    assert_eq!(records, vec![1, 2]);
}

/// Linking through the store (which may skip the lookups for subjects created in the same
/// transaction) gives the links of the rules applied one record at a time in memory: `a`'s
/// person absorbs `b`'s unless `b` already belongs to another person.
pub(crate) fn links_match_the_rules_applied_one_record_at_a_time(make: Make) {
    let mut runner = runner(200, "proptest-regressions/store/conformance/ledger.txt");
    let strategy = (
        proptest::collection::vec((0u32..6, proptest::collection::vec(0u32..6, 0..3)), 1..14),
        1usize..5,
    );
    let result = runner.run(&strategy, |(records, per_batch)| {
        let b = make();
        let s = keyed(&*b);
        let p = |n: u32| format!("{n:032x}");
        let rows: Vec<NewRow> = records
            .iter()
            .map(|(main, linked)| {
                with_meta(exposed_as("a", "web", &p(*main), &["user.device"]), |x| {
                    x.linked = linked
                        .iter()
                        .map(|l| LinkedId {
                            digest: p(*l),
                            sealed: None,
                        })
                        .collect();
                })
            })
            .collect();
        s.append(&rows).unwrap();
        deliver_all(&*s, "a", per_batch, 1000);

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
        let stored = s.ledger_links().unwrap();
        prop_assert_eq!(stored, links.into_iter().collect::<Vec<_>>());
        // Every link row's MAC and the tables' sealed counts hold after any merge sequence.
        let v = s.verify_ledger().unwrap();
        prop_assert!(v.iter().all(|v| v.ok()), "{:?}", v);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
}

/// Three subjects seen by `a`, with sealed ids and vendor ids: 1 and 3 linked (3's anonymous
/// id became 1), 2 on its own; verified.
pub(crate) fn subjects_links_and_vendor_ids(s: &dyn Store) {
    let p = |n: u32| format!("{n:032x}");
    let sealed = |n: u32| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("sealed-{n}"))
    };
    let rows: Vec<NewRow> = [1, 2, 3]
        .into_iter()
        .map(|n| {
            with_meta(exposed_as("a", "web", &p(n), &["user.device"]), |x| {
                x.subject_sealed = Some(sealed(n));
                x.vendor_id = Some(format!("vendor-{n}"));
                if n == 1 {
                    x.linked = vec![LinkedId {
                        digest: p(3),
                        sealed: Some(sealed(3)),
                    }];
                }
            })
        })
        .collect();
    s.append(&rows).unwrap();
    deliver_all(s, "a", 2, 10);
    let v = s.verify_ledger().unwrap();
    assert!(v.iter().all(|v| v.ok()), "{v:?}");
}

pub(crate) fn subjects_and_vendor_ids_are_listed(make: Make) {
    let b = make();
    let s = keyed(&*b);
    subjects_links_and_vendor_ids(&*s);
    let mut subjects = Vec::new();
    s.ledger_subjects(&mut |r| {
        subjects.push((
            r.id,
            r.digest.to_vec(),
            r.sealed.map(<[u8]>::to_vec),
            r.contact.is_some(),
        ))
    })
    .unwrap();
    let digest = |n: u8| {
        let mut d = vec![0u8; 16];
        d[15] = n;
        d
    };
    assert_eq!(
        subjects,
        [
            (1, digest(1), Some(b"sealed-1".to_vec()), false),
            (2, digest(3), Some(b"sealed-3".to_vec()), false),
            (3, digest(2), Some(b"sealed-2".to_vec()), false),
        ],
        "numbered in order of first appearance (1, its linked 3, then 2)"
    );
    let mut ids = Vec::new();
    s.ledger_vendor_ids("a", &mut |subject, kv, id| ids.push((subject, kv, id.to_owned())))
        .unwrap();
    ids.sort();
    assert_eq!(
        ids,
        [
            (1, 1, "vendor-1".to_owned()),
            (2, 1, "vendor-3".to_owned()),
            (3, 1, "vendor-2".to_owned())
        ]
    );
    let mut none = 0;
    s.ledger_vendor_ids("b", &mut |_, _, _| none += 1).unwrap();
    assert_eq!(none, 0);
    assert_eq!(s.ledger_links().unwrap(), [(2, 1)]);
}

pub(crate) fn the_witness_repairs_one_batch_ahead_and_refuses_the_rest(make: Make) {
    let b = make();
    let dir = TempDir::new("witness");
    std::fs::create_dir_all(&dir.0).unwrap();
    let wpath = dir.0.join("ledger.witness");
    let witnessed = || b.open(Some(&test_master()), Some(&wpath)).unwrap();
    let problems =
        |s: &dyn Store| -> Vec<String> { s.verify_ledger().unwrap().into_iter().flat_map(|v| v.witness).collect() };
    let s = witnessed();
    // An empty store needs no witness line.
    assert!(s.reconcile_witness(false).unwrap().started);
    for t in 1..=3 {
        s.append(&[exposed("a", "web")]).unwrap();
        deliver_all(&*s, "a", 10, t);
    }
    drop(s);
    let full = std::fs::read_to_string(&wpath).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    assert_eq!(lines.len(), 3);
    // Without a witness configured there is nothing to reconcile.
    assert!(keyed(&*b).reconcile_witness(false).unwrap().not_configured);

    // A crash between the commit and the witness line: one batch ahead, repaired on start.
    std::fs::write(&wpath, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    let s = witnessed();
    assert!(problems(&*s).is_empty(), "one batch ahead is a delivery in flight");
    assert_eq!(s.reconcile_witness(false).unwrap().repaired, vec!["a".to_string()]);
    assert_eq!(
        std::fs::read_to_string(&wpath).unwrap(),
        full,
        "the same line written again"
    );
    drop(s);

    // Two lines cut off the end: not a crash.
    std::fs::write(&wpath, format!("{}\n", lines[0])).unwrap();
    let s = witnessed();
    assert!(problems(&*s)[0].contains("not in the witness"));
    assert!(matches!(s.reconcile_witness(false), Err(StoreError::Corrupt(_))));
    drop(s);

    // A line removed from the middle, or edited.
    std::fs::write(&wpath, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    let s = witnessed();
    assert!(problems(&*s).iter().any(|p| p.contains("line 2") && p.contains("MAC")));
    assert!(matches!(s.reconcile_witness(false), Err(StoreError::Corrupt(_))));
    let mut edited: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    edited["head"] = serde_json::json!("00".repeat(32));
    std::fs::write(&wpath, format!("{}\n{edited}\n{}\n", lines[0], lines[2])).unwrap();
    assert!(problems(&*s).iter().any(|p| p.contains("line 2")));

    // The witness deleted.
    std::fs::remove_file(&wpath).unwrap();
    assert!(problems(&*s).iter().any(|p| p.contains("missing")));
    let e = s.reconcile_witness(false).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
    assert!(e.to_string().contains("missing"), "{e}");
}
