//! The PostgreSQL store against a real, throwaway cluster ([`super::testing`]).

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::testing::TestDatabase;
use super::*;
use crate::policy::keys::MasterKey;

fn master() -> MasterKey {
    MasterKey::from_bytes(&[7; 32])
}

fn db() -> TestDatabase {
    match TestDatabase::create() {
        Ok(db) => db,
        Err(e) => panic!("no test database: {e}"),
    }
}

fn open(db: &TestDatabase, lease: Duration) -> PgStore {
    match PgStore::open(&db.config(lease), &master()) {
        Ok(s) => s,
        Err(e) => panic!("opening the store: {e}"),
    }
}

fn row(destination: &str, n: u32) -> NewRow {
    NewRow {
        destination: destination.into(),
        kind: Kind::Track,
        payload: format!("{{\"n\":{n}}}").into_bytes(),
        enqueued_at_ms: 1_000 + i64::from(n),
        meta: None,
    }
}

fn ids(rows: &[OutboxRow]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}

/// Polls `f` until it returns `Some`, for at most `limit`.
fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn runs_as_a_role_that_owns_its_database_and_is_no_superuser() {
    let db = db();
    let _store = open(&db, Duration::from_secs(60));
    let mut c = postgres::Client::connect(&db.url_with_password(), postgres::NoTls).unwrap();
    let row = c
        .query_one(
            "SELECT r.rolsuper, r.rolcreatedb, r.rolcreaterole, pg_get_userbyid(d.datdba) = current_user
             FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()",
            &[],
        )
        .unwrap();
    let (superuser, createdb, createrole, owner): (bool, bool, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(!superuser && !createdb && !createrole && owner);
}

#[test]
fn concurrent_first_opens_migrate_once_and_agree_on_one_root_key() {
    let db = db();
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let config = db.config(Duration::from_secs(60));
    let stores: Vec<PgStore> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let barrier = barrier.clone();
                let config = &config;
                s.spawn(move || {
                    barrier.wait();
                    PgStore::open(config, &master())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap_or_else(|e| panic!("open: {e}")))
            .collect()
    });
    let mut own = postgres::Client::connect(&db.url_with_password(), postgres::NoTls).unwrap();
    let versions: Vec<i32> = own
        .query("SELECT version FROM schema_migrations ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=schema::latest()).collect::<Vec<_>>());
    let roots: i64 = own
        .query_one("SELECT count(*) FROM meta WHERE key = 'key_root'", &[])
        .unwrap()
        .get(0);
    assert_eq!(roots, 1);
    // Every handle unwrapped the same root: what one seals, every other opens.
    let aad = crate::policy::keys::aad("mixpanel", 1);
    let sealed = stores[0].keys().seal_key(&aad, &[9; 32]).unwrap();
    for s in &stores {
        assert_eq!(s.keys().open_key(&aad, &sealed).as_deref(), Some(&[9u8; 32][..]));
    }
}

#[test]
fn a_schema_newer_than_the_build_is_refused() {
    let db = db();
    drop(open(&db, Duration::from_secs(60)));
    let mut own = postgres::Client::connect(&db.url_with_password(), postgres::NoTls).unwrap();
    own.execute(
        "INSERT INTO schema_migrations (version, description) VALUES ($1, 'from the future')",
        &[&(schema::latest() + 1)],
    )
    .unwrap();
    match PgStore::open(&db.config(Duration::from_secs(60)), &master()) {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("newer than this build"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn another_master_key_is_refused() {
    let db = db();
    drop(open(&db, Duration::from_secs(60)));
    match PgStore::open(&db.config(Duration::from_secs(60)), &MasterKey::from_bytes(&[8; 32])) {
        Err(StoreError::Keys(_)) => {}
        other => panic!("expected a key error, got {other:?}"),
    }
}

#[test]
fn a_wrong_password_is_reported_without_the_password() {
    let db = db();
    let mut config = db.config(Duration::from_secs(60));
    let wrong = "not-the-password-4c1d";
    config.password = Some(crate::config::Secret::new(wrong));
    let e = PgStore::open(&config, &master()).unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(text.contains("28P01"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(&db.password), "{text}");
}

#[test]
fn leases_in_append_order_per_destination_and_counts_leased_rows_as_queued() {
    let db = db();
    let store = open(&db, Duration::from_secs(60));
    let rows: Vec<NewRow> = (0..10).map(|n| row(if n % 2 == 0 { "a" } else { "b" }, n)).collect();
    store.append(&rows).unwrap();
    let first = store.lease("a", 3).unwrap();
    let payloads: Vec<&[u8]> = first.iter().map(|r| r.payload.as_slice()).collect();
    assert_eq!(payloads, vec![&b"{\"n\":0}"[..], b"{\"n\":2}", b"{\"n\":4}"]);
    assert!(first.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(first[0].enqueued_at_ms, 1_000);
    assert_eq!(first[0].kind, Kind::Track);
    // The same handle leasing again gets its own rows back first (a worker that stopped
    // mid-batch picks them up again), then the rest.
    let again = store.lease("a", 10).unwrap();
    assert_eq!(again.len(), 5);
    assert_eq!(ids(&again[..3]), ids(&first));
    let stats = store.queue_stats("a").unwrap();
    assert_eq!(stats.depth, 5);
    assert_eq!(stats.oldest_enqueued_at_ms, Some(1_000));
    assert_eq!(store.queue_stats("none").unwrap(), QueueStats::default());
    store.complete("a", &first, &[], 5_000).unwrap();
    let stats = store.queue_stats("a").unwrap();
    assert_eq!(stats.depth, 2);
    assert_eq!(stats.oldest_enqueued_at_ms, Some(1_006));
    assert_eq!(store.queue_stats("b").unwrap().depth, 5);
}

#[test]
fn two_gateways_never_hold_the_same_row() {
    let db = db();
    let total = 2_000u32;
    let a = open(&db, Duration::from_secs(60));
    let b = open(&db, Duration::from_secs(60));
    let rows: Vec<NewRow> = (0..total).map(|n| row("shared", n)).collect();
    for chunk in rows.chunks(500) {
        a.append(chunk).unwrap();
    }
    let barrier = Barrier::new(2);
    let work = |store: &PgStore| {
        barrier.wait();
        let mut mine = Vec::new();
        loop {
            let leased = store.lease("shared", 37).unwrap();
            if leased.is_empty() {
                break;
            }
            mine.extend(ids(&leased));
            store.complete("shared", &leased, &[], 9_000).unwrap();
        }
        mine
    };
    let [got_a, got_b]: [Vec<i64>; 2] = std::thread::scope(|s| {
        let ha = s.spawn(|| work(&a));
        let hb = s.spawn(|| work(&b));
        [ha.join().unwrap(), hb.join().unwrap()]
    });
    let set_a: BTreeSet<i64> = got_a.iter().copied().collect();
    let set_b: BTreeSet<i64> = got_b.iter().copied().collect();
    assert_eq!(set_a.len(), got_a.len(), "a leased a row twice");
    assert_eq!(set_b.len(), got_b.len(), "b leased a row twice");
    assert!(set_a.is_disjoint(&set_b), "a row was held by both gateways");
    assert_eq!(set_a.len() + set_b.len(), total as usize);
    assert_eq!(a.queue_stats("shared").unwrap().depth, 0);
}

#[test]
fn a_dropped_gateways_lease_is_taken_over_after_it_expires() {
    let db = db();
    let lease = Duration::from_secs(1);
    let a = open(&db, lease);
    let b = open(&db, lease);
    a.append(&(0..5).map(|n| row("d", n)).collect::<Vec<_>>()).unwrap();
    let held = a.lease("d", 5).unwrap();
    assert_eq!(held.len(), 5);
    assert!(
        b.lease("d", 5).unwrap().is_empty(),
        "rows under a live lease were handed out"
    );
    drop(a);
    let taken = wait_for(Duration::from_secs(15), || {
        let rows = b.lease("d", 5).unwrap();
        (!rows.is_empty()).then_some(rows)
    })
    .expect("the expired lease was never taken over");
    assert_eq!(ids(&taken), ids(&held));
    b.complete("d", &taken, &[], 2_000).unwrap();
    assert_eq!(b.queue_stats("d").unwrap().depth, 0);
}

#[test]
fn complete_leaves_rows_another_gateway_took_over() {
    let db = db();
    let lease = Duration::from_secs(1);
    let a = open(&db, lease);
    let b = open(&db, lease);
    a.append(&[row("d", 1), row("d", 2)]).unwrap();
    let held = a.lease("d", 2).unwrap();
    let taken = wait_for(Duration::from_secs(15), || {
        let rows = b.lease("d", 2).unwrap();
        (!rows.is_empty()).then_some(rows)
    })
    .expect("the expired lease was never taken over");
    // `a` comes back late: its acknowledgement and its dead letter touch nothing of b's.
    a.complete("d", &held[..1], &[(held[1].id, "refused".into())], 3_000)
        .unwrap();
    assert_eq!(a.queue_stats("d").unwrap().depth, 2);
    assert!(a.dead_letters(None, 10).unwrap().is_empty());
    b.complete("d", &taken, &[], 3_000).unwrap();
    assert_eq!(b.queue_stats("d").unwrap().depth, 0);
}

#[test]
fn note_attempt_counts_and_renews_the_lease() {
    let db = db();
    let lease = Duration::from_secs(2);
    let a = open(&db, lease);
    let b = open(&db, lease);
    a.append(&[row("d", 1)]).unwrap();
    let held = a.lease("d", 1).unwrap();
    assert_eq!(held[0].attempts, 0);
    let mut own = postgres::Client::connect(&db.url_with_password(), postgres::NoTls).unwrap();
    let until = |c: &mut postgres::Client| -> f64 {
        c.query_one(
            "SELECT extract(epoch FROM lease_until)::float8 FROM outbox WHERE id = $1",
            &[&held[0].id],
        )
        .unwrap()
        .get(0)
    };
    let before = until(&mut own);
    // The database clock moves on; the renewed expiry is later than the first.
    assert!(
        wait_for(Duration::from_secs(5), || {
            a.note_attempt(&ids(&held)).unwrap();
            (until(&mut own) > before).then_some(())
        })
        .is_some()
    );
    assert!(b.lease("d", 1).unwrap().is_empty());
    let again = a.lease("d", 1).unwrap();
    assert!(again[0].attempts >= 1);
}

#[test]
fn dead_letters_round_trip() {
    let db = db();
    let store = open(&db, Duration::from_secs(60));
    store.append(&(0..4).map(|n| row("d", n)).collect::<Vec<_>>()).unwrap();
    store.append(&[row("other", 9)]).unwrap();
    let leased = store.lease("d", 4).unwrap();
    store.note_attempt(&ids(&leased)).unwrap();
    let dead = vec![
        (leased[1].id, "400 invalid".to_owned()),
        (leased[3].id, "413 too large".to_owned()),
    ];
    store.complete("d", &[leased[0].clone()], &dead, 7_000).unwrap();
    let other = store.lease("other", 1).unwrap();
    store
        .complete("other", &[], &[(other[0].id, "gone".into())], 7_500)
        .unwrap();
    let letters = store.dead_letters(Some("d"), 10).unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].reason, "400 invalid");
    assert_eq!(letters[0].destination, "d");
    assert_eq!(letters[0].attempts, 2);
    assert_eq!(letters[0].failed_at_ms, 7_000);
    assert_eq!(letters[0].enqueued_at_ms, leased[1].enqueued_at_ms);
    assert_eq!(letters[0].payload_bytes, leased[1].payload.len());
    assert_eq!(letters[1].reason, "413 too large");
    assert_eq!(store.dead_letters(None, 10).unwrap().len(), 3);
    assert_eq!(store.dead_letters(None, 1).unwrap().len(), 1);
    // Row 2 is still queued; retrying puts the dead ones back after it, in their order.
    assert_eq!(store.retry_dead_letters(Some("d"), &[], 8_000).unwrap(), 2);
    assert!(store.dead_letters(Some("d"), 10).unwrap().is_empty());
    let queued = store.lease("d", 10).unwrap();
    let payloads: Vec<Vec<u8>> = queued.iter().map(|r| r.payload.clone()).collect();
    assert_eq!(
        payloads,
        vec![
            leased[2].payload.clone(),
            leased[1].payload.clone(),
            leased[3].payload.clone()
        ]
    );
    assert_eq!(queued[1].attempts, 0);
    assert_eq!(queued[1].enqueued_at_ms, 8_000);
    // By id, and purge.
    let other_letter = store.dead_letters(Some("other"), 10).unwrap();
    assert_eq!(store.purge_dead_letters(None, &[other_letter[0].id]).unwrap(), 1);
    assert_eq!(store.purge_dead_letters(None, &[]).unwrap(), 0);
    assert!(store.dead_letters(None, 10).unwrap().is_empty());
}

#[test]
fn deliveries_with_exposure_metadata_wait_for_the_ledger() {
    let db = db();
    let store = open(&db, Duration::from_secs(60));
    let mut r = row("d", 1);
    r.meta = Some(vec![1, 2, 3]);
    store.append(&[r]).unwrap();
    let leased = store.lease("d", 1).unwrap();
    assert_eq!(leased[0].meta.as_deref(), Some(&[1u8, 2, 3][..]));
    match store.complete("d", &leased, &[], 1) {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("not available on PostgreSQL yet"), "{m}"),
        other => panic!("expected the ledger to be unavailable, got {other:?}"),
    }
    assert_eq!(
        store.queue_stats("d").unwrap().depth,
        1,
        "an unrecorded delivery was deleted"
    );
}

#[test]
fn kill_switch_state_and_dropped_counts_are_shared() {
    let db = db();
    let a = open(&db, Duration::from_secs(60));
    let b = open(&db, Duration::from_secs(60));
    a.set_destination_state("mixpanel", DestinationState::Suspended, 10)
        .unwrap();
    let seen = b.destination_statuses().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].state, DestinationState::Suspended);
    assert_eq!(seen[0].updated_at_ms, 10);
    b.set_destination_state("mixpanel", DestinationState::Dropping, 20)
        .unwrap();
    a.add_dropped("mixpanel", 3).unwrap();
    b.add_dropped("mixpanel", 4).unwrap();
    a.add_dropped("segment", 1).unwrap();
    let seen = a.destination_statuses().unwrap();
    assert_eq!(
        seen.iter()
            .map(|s| (s.name.as_str(), s.state, s.dropped))
            .collect::<Vec<_>>(),
        vec![
            ("mixpanel", DestinationState::Dropping, 7),
            ("segment", DestinationState::Dropping, 1)
        ]
    );
}

#[test]
fn gateways_racing_to_create_a_first_pseudonym_key_converge_on_one() {
    let db = db();
    let n = 6;
    let stores: Vec<PgStore> = (0..n).map(|_| open(&db, Duration::from_secs(60))).collect();
    let barrier = Barrier::new(n);
    let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .map(|store| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let keys = store.keys();
                    let k = crate::keyring::current_key(store, &keys, "mixpanel").unwrap();
                    assert_eq!(k.version, 1);
                    k.pseudonym("someone@example.com").into_bytes()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        keys.windows(2).all(|w| w[0] == w[1]),
        "gateways derived different pseudonyms"
    );
    assert_eq!(stores[0].key_versions("mixpanel").unwrap().len(), 1);
    let rotated = crate::keyring::rotate(&stores[1], &stores[1].keys(), "mixpanel").unwrap();
    assert_eq!(rotated.version, 2);
    let versions: Vec<u32> = stores[0]
        .key_versions("mixpanel")
        .unwrap()
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(versions, vec![1, 2]);
}

#[test]
fn ledger_methods_say_they_are_not_available_yet() {
    let db = db();
    let store = open(&db, Duration::from_secs(60));
    let unavailable = |r: Result<(), StoreError>| match r {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("not available on PostgreSQL yet"), "{m}"),
        other => panic!("expected unavailable, got {other:?}"),
    };
    unavailable(store.verify_ledger().map(drop));
    unavailable(store.prune_ledger(0).map(drop));
    unavailable(store.ledger_entries(None, 1).map(drop));
    unavailable(store.roll_up_ledger(0).map(drop));
    assert_eq!(store.reusable_bytes().unwrap(), 0);
}

#[test]
fn incidents_written_by_several_gateways_form_one_verifying_chain() {
    let db = db();
    let stores: Vec<PgStore> = (0..3).map(|_| open(&db, Duration::from_secs(60))).collect();
    let id = stores[0].save_incident(None, "{\"v\":0}", 100).unwrap();
    assert_eq!(stores[1].incident(id).unwrap().as_deref(), Some("{\"v\":0}"));
    // Gateways racing to create incidents and to update the first one: every write lands in
    // the chain exactly once, in some order, and the chain verifies.
    std::thread::scope(|s| {
        for (i, store) in stores.iter().enumerate() {
            s.spawn(move || {
                for n in 0..5 {
                    store
                        .save_incident(None, &format!("{{\"gateway\":{i},\"n\":{n}}}"), 200 + n)
                        .unwrap();
                    let current = store.incident(id).unwrap().unwrap();
                    let _ = store
                        .replace_incident(id, &current, &format!("{{\"by\":{i},\"n\":{n}}}"), 300 + n)
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(stores[2].incidents().unwrap().len(), 16);
    assert_eq!(stores[2].incident(9_999).unwrap(), None);
    let report = stores[1].verify_incidents().unwrap();
    assert_eq!(report.len(), 16, "{report:?}");
    assert!(report.iter().all(|v| v.incident.is_empty()), "{report:?}");
    let revisions: u64 = report.iter().map(|v| v.revisions).sum();
    let mut own = postgres::Client::connect(&db.url_with_password(), postgres::NoTls).unwrap();
    let stored: i64 = own
        .query_one("SELECT count(*) FROM incident_revisions", &[])
        .unwrap()
        .get(0);
    assert_eq!(revisions, stored as u64);
    // A stale expectation is refused, and nothing is chained for it.
    assert!(!stores[0].replace_incident(id, "{\"v\":0}", "{}", 400).unwrap());
    // An edit behind the chain's back is found.
    own.execute(
        "UPDATE incidents SET document = '{\"edited\":true}' WHERE id = $1",
        &[&id],
    )
    .unwrap();
    let report = stores[0].verify_incidents().unwrap();
    let edited = report
        .iter()
        .find(|v| v.destination == format!("incident {id}"))
        .unwrap();
    assert!(
        edited.incident.iter().any(|p| p.contains("does not match")),
        "{edited:?}"
    );
    // Deleting the newest revision breaks the seal, and no write is recorded over it.
    own.execute(
        "DELETE FROM incident_revisions WHERE seq = (SELECT max(seq) FROM incident_revisions)",
        &[],
    )
    .unwrap();
    match stores[2].save_incident(None, "{}", 500) {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("incident chain"), "{m}"),
        other => panic!("expected a refusal over a broken chain, got {other:?}"),
    }
}

/// Whether every connection the test role has open is encrypted (and how many there are).
fn encrypted_connections(db: &TestDatabase) -> (bool, i64) {
    let row = db
        .admin()
        .unwrap()
        .query_one(
            "SELECT coalesce(bool_and(s.ssl), false), count(*)
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = $1",
            &[&db.role],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn connects_over_tls_checking_the_certificate_with_verify_full() {
    use crate::config::DatabaseTls;
    let db = db();
    let mut config = db.config(Duration::from_secs(60));
    config.tls = DatabaseTls::VerifyFull {
        ca_path: db.ca_path().unwrap().to_owned(),
    };
    let store = PgStore::open(&config, &master()).unwrap_or_else(|e| panic!("verify-full: {e}"));
    store.append(&[row("d", 1)]).unwrap();
    let (all_tls, n) = encrypted_connections(&db);
    assert!(all_tls && n >= 1, "connections: {n}, all encrypted: {all_tls}");
    drop(store);

    // A certificate from another CA is refused, and the error names the setting's problem
    // without the password.
    let dir = std::env::temp_dir().join(format!("vw-pg-other-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(dir.join("other.key"))
        .arg("-out")
        .arg(dir.join("other.crt"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    config.tls = DatabaseTls::VerifyFull {
        ca_path: dir.join("other.crt"),
    };
    let e = PgStore::open(&config, &master()).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    let text = e.to_string();
    assert!(
        text.contains("connecting to the database") && text.contains("certificate"),
        "{text}"
    );
    assert!(!text.contains(&db.password), "{text}");

    config.tls = DatabaseTls::VerifyFull {
        ca_path: dir.join("missing.pem"),
    };
    let text = PgStore::open(&config, &master()).unwrap_err().to_string();
    assert!(text.contains("store.tls_ca_path"), "{text}");
}

#[test]
fn connects_over_tls_without_checking_the_certificate_with_require() {
    let db = db();
    let mut config = db.config(Duration::from_secs(60));
    config.tls = crate::config::DatabaseTls::Require;
    let store = PgStore::open(&config, &master()).unwrap_or_else(|e| panic!("require: {e}"));
    assert_eq!(store.queue_stats("d").unwrap().depth, 0);
    let (all_tls, n) = encrypted_connections(&db);
    assert!(all_tls && n >= 1, "connections: {n}, all encrypted: {all_tls}");
    // `disable` stays plain.
    drop(store);
    let store = open(&db, Duration::from_secs(60));
    assert_eq!(store.queue_stats("d").unwrap().depth, 0);
    let (all_tls, n) = encrypted_connections(&db);
    assert!(!all_tls && n >= 1, "connections: {n}, all encrypted: {all_tls}");
}

/// Append and drain rates on the test cluster (durability off, so commit cost is not in it):
/// `cargo test --lib --features postgres -- --ignored --nocapture postgres::tests::throughput`.
#[test]
#[ignore = "a measurement, run on demand"]
fn throughput() {
    let db = db();
    let (groups, per_group) = (40u32, 1_000u32);
    let a = open(&db, Duration::from_secs(60));
    let b = open(&db, Duration::from_secs(60));
    let payload = vec![b'x'; 1_000];
    let started = Instant::now();
    for g in 0..groups {
        let rows: Vec<NewRow> = (0..per_group)
            .map(|n| NewRow {
                payload: payload.clone(),
                ..row("d", g * per_group + n)
            })
            .collect();
        a.append(&rows).unwrap();
    }
    let appended = started.elapsed();
    let total = f64::from(groups * per_group);
    let started = Instant::now();
    std::thread::scope(|s| {
        for store in [&a, &b] {
            s.spawn(move || {
                loop {
                    let leased = store.lease("d", 500).unwrap();
                    if leased.is_empty() {
                        break;
                    }
                    store.complete("d", &leased, &[], 1).unwrap();
                }
            });
        }
    });
    let drained = started.elapsed();
    assert_eq!(a.queue_stats("d").unwrap().depth, 0);
    println!(
        "append: {total} rows of 1 KB in groups of {per_group}: {:.0} rows/s; \
         drain by two handles, leases of 500: {:.0} rows/s",
        total / appended.as_secs_f64(),
        total / drained.as_secs_f64()
    );
}

/// The conformance suites' backend: a fresh database per case. A database store always
/// needs the master key, and has no ledger witness yet.
struct Pg(TestDatabase);

impl crate::store::conformance::Backend for Pg {
    fn open(
        &self,
        master: Option<&MasterKey>,
        witness: Option<&std::path::Path>,
    ) -> Result<Arc<dyn crate::store::Store>, StoreError> {
        let master = master.ok_or_else(|| StoreError::Keys("a database store needs the master key".into()))?;
        if witness.is_some() {
            return Err(not_yet("the ledger witness"));
        }
        Ok(Arc::new(PgStore::open(
            &self.0.config(Duration::from_secs(30)),
            master,
        )?))
    }
}

pub(crate) fn backend() -> Box<dyn crate::store::conformance::Backend> {
    Box::new(Pg(db()))
}

/// The cases of each suite a database store passes today. The others open the store without
/// the master key (a database store refuses to), verify through the ledger (not on
/// PostgreSQL yet), or rotate keys (not on PostgreSQL yet); so do the key and incident suites.
mod conformance {
    crate::store::conformance::suite!(
        crate::store::postgres::tests::backend,
        outbox,
        [
            append_lease_complete_and_dead_letters,
            outbox_matches_an_in_memory_model,
            retry_and_purge_take_ids_or_a_destination,
        ]
    );
    crate::store::conformance::suite!(
        crate::store::postgres::tests::backend,
        destinations,
        [destination_state_and_drop_counts]
    );
}
