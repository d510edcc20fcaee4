use super::*;
use crate::ledger::codec::{EntryCode, batch_entries, encode_batch};
use crate::store::Store;
use crate::store::conformance::{
    self as suites, Backend, TempDir, deliver_all, exposed, exposed_as, incident_failures, mentions, row, sealed_row,
    subject_ids, test_master,
};

/// The embedded backend under the conformance suites: a store in a directory of its own.
struct Sqlite(TempDir);

impl Backend for Sqlite {
    fn open(&self, master: Option<&MasterKey>, witness: Option<&Path>) -> Result<Arc<dyn Store>, StoreError> {
        let s = match master {
            Some(m) => SqliteStore::open_keyed(&self.0.0, m)?,
            None => SqliteStore::open(&self.0.0)?,
        };
        Ok(Arc::new(match (witness, s.keys()) {
            (Some(path), Some(keys)) => s.with_witness(Witness::new(
                path.to_path_buf(),
                keys.mac_key(crate::ledger::WITNESS_PURPOSE),
            )),
            _ => s,
        }))
    }
}

pub(crate) fn backend() -> Box<dyn Backend> {
    Box::new(Sqlite(TempDir::new("conformance")))
}

suites::store_conformance!(crate::store::sqlite::tests::backend);

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
    suites::six_entries_in_three_batches(&s);
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

/// After pruning, deleting the first remaining batch is still caught (the anchor holds the
/// pruned chain's head).
#[test]
fn a_pruned_ledger_still_catches_a_deleted_first_batch() {
    let dir = TempDir::new("prune");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    suites::ledger::pruned_at_150(&s);
    assert!(s.verify_ledger().unwrap()[0].ok());
    assert!(
        !tampered(
            &s,
            "DELETE FROM ledger_batches WHERE id = (SELECT MIN(id) FROM ledger_batches)"
        )[0]
        .ok()
    );
}

/// A rollup edited behind the batches' back is caught (queries would trust it); with the
/// rollups deleted, queries read the batches again and agree with what the rollups said.
#[test]
fn an_edited_rollup_is_caught_and_deleted_ones_are_read_from_the_batches() {
    let dir = TempDir::new("figures");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    let day = suites::ledger::two_days_of_people(&s);
    assert_eq!(s.roll_up_ledger(4 * day).unwrap(), 3);
    let rolled: Vec<_> = crate::ledger::query::people(&s, "a", 0, 3 * day)
        .unwrap()
        .iter()
        .collect();
    let v = tampered(
        &s,
        "UPDATE ledger_rollups SET people = (SELECT people FROM ledger_rollups WHERE destination = 'b' LIMIT 1)
         WHERE destination = 'a' AND day = 1",
    );
    assert_eq!(v[0].tampered_rollups, vec![1], "{v:?}");
    s.writer.lock().execute_batch("DELETE FROM ledger_rollups").unwrap();
    let from_batches: Vec<_> = crate::ledger::query::people(&s, "a", 0, 3 * day)
        .unwrap()
        .iter()
        .collect();
    assert_eq!(from_batches.len(), 2);
    assert_eq!(from_batches, rolled);
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

/// Three subjects seen by `a` (see [`suites::ledger::subjects_links_and_vendor_ids`]).
fn subjects_links_and_vendor_ids() -> (TempDir, SqliteStore) {
    let dir = TempDir::new("rows");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    suites::ledger::subjects_links_and_vendor_ids(&s);
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

/// A ledger that does not verify is not re-keyed (that would hide the tampering).
#[test]
fn reseal_refuses_a_tampered_ledger() {
    let (dir, s) = six_entries_in_three_batches();
    s.writer
        .lock()
        .execute("UPDATE ledger_batches SET delivered_at = 11 WHERE id = 1", [])
        .unwrap();
    let e = s.reseal(&MasterKey::from_bytes(&[43; 32])).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
    assert!(e.to_string().contains("does not verify"), "{e}");
    // Nothing changed: the old key still opens the store.
    drop(s);
    assert!(SqliteStore::open_keyed(&dir.0, &test_master()).is_ok());
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

/// A keyed store with two incidents (see [`suites::two_incidents`]).
fn two_incidents() -> (TempDir, SqliteStore) {
    let dir = TempDir::new("incident-chain");
    let s = SqliteStore::open_keyed(&dir.0, &test_master()).unwrap();
    suites::two_incidents(&s);
    (dir, s)
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

/// A tampered incident chain stops the rotation (it would be sealed under the new key).
#[test]
fn a_tampered_incident_chain_stops_the_reseal() {
    let (_dir, s) = two_incidents();
    s.writer
        .lock()
        .execute("UPDATE incidents SET document = '{\"x\":1}' WHERE id = 2", [])
        .unwrap();
    let e = s.reseal(&MasterKey::from_bytes(&[45; 32])).unwrap_err().to_string();
    assert!(e.contains("does not verify") && e.contains("incident 2"), "{e}");
}
