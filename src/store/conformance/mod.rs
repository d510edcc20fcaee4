//! Conformance suites: what every store backend must do, written once against the traits and
//! run against each backend (test builds only).
//!
//! One suite per trait: [`outbox`] ([`OutboxStore`](super::OutboxStore)), [`destinations`]
//! ([`DestinationStore`](super::DestinationStore)), [`keys`] ([`KeyStore`](super::KeyStore)),
//! [`ledger`] ([`LedgerStore`](super::LedgerStore)) and [`incidents`]
//! ([`IncidentStore`](super::IncidentStore)). Each case is a function taking a factory of
//! fresh, empty backends; the cases use only the traits and [`Backend::open`], and assert on
//! the backend-neutral [`StoreError`] variants. Where they read message text, it is text of
//! the shared key and witness code, or that a refusal for want of the master key says so.
//!
//! A backend plugs in with a [`Backend`] implementation, a factory function and one line in
//! its own test module:
//!
//! ```ignore
//! fn backend() -> Box<dyn Backend> { /* a fresh, empty store of this backend */ }
//! crate::store::conformance::store_conformance!(crate::store::sqlite::tests::backend);
//! ```
//!
//! which generates one `#[test]` per case, in a module `conformance::<suite>` beside the line.
//! Tests that inspect or tamper with a backend's own tables stay in that backend's tests.

pub(crate) mod destinations;
pub(crate) mod incidents;
pub(crate) mod keys;
pub(crate) mod ledger;
pub(crate) mod outbox;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{NewRow, Store, StoreError, SubjectRow};
use crate::event::Kind;
use crate::policy::keys::{MasterKey, StoreKeys, SubjectPart};

/// One backend's store under test: empty when the factory makes it, the same store on every
/// [`Backend::open`], and gone when dropped.
pub(crate) trait Backend {
    /// Opens the store: with the master key (its keys unwrapped, deliveries recorded, the
    /// ledger verifiable) or without it; with a ledger witness at `witness` (needs the key).
    /// Several opens may be alive at once, as `serve` and CLI commands are.
    fn open(&self, master: Option<&MasterKey>, witness: Option<&Path>) -> Result<Arc<dyn Store>, StoreError>;
}

/// A factory of fresh, empty backends.
pub(crate) type Make<'a> = &'a dyn Fn() -> Box<dyn Backend>;

/// Generates one `#[test]` per conformance case, in `mod conformance { mod <suite> { … } }`,
/// for the backend factory at `$backend` (an absolute path to a `fn() -> Box<dyn Backend>`).
macro_rules! store_conformance {
    ($backend:path) => {
        mod conformance {
            $crate::store::conformance::suite!(
                $backend,
                outbox,
                [
                    append_lease_complete_and_dead_letters,
                    outbox_matches_an_in_memory_model,
                    complete_removes_rows_across_many_ids_and_only_its_destinations,
                    without_the_master_key_nothing_is_recorded_or_verified,
                    retry_and_purge_take_ids_or_a_destination,
                ]
            );
            $crate::store::conformance::suite!(
                $backend,
                destinations,
                [
                    destination_state_and_drop_counts,
                    dropping_a_destination_never_seen_creates_it,
                ]
            );
            $crate::store::conformance::suite!(
                $backend,
                keys,
                [
                    key_versions_are_kept_in_order_and_the_first_of_a_version_stands,
                    the_same_keys_on_every_open_and_another_master_key_is_refused,
                    online_rotation_rewraps_the_root_key_beside_a_running_writer,
                    reseal_reseals_queued_records_and_rekeys_the_ledger,
                    reseal_needs_the_master_key,
                ]
            );
            $crate::store::conformance::suite!(
                $backend,
                ledger,
                [
                    ledger_is_written_with_the_acknowledgement_and_verifies,
                    each_delivered_row_enters_the_ledger_once,
                    ledger_prune_keeps_the_rest_verifiable,
                    batch_ids_never_repeat_after_pruning_everything,
                    ledger_counts_people_categories_and_links,
                    a_shared_device_does_not_merge_two_people,
                    links_match_the_rules_applied_one_record_at_a_time,
                    subjects_and_vendor_ids_are_listed,
                    the_witness_repairs_one_batch_ahead_and_refuses_the_rest,
                ]
            );
            $crate::store::conformance::suite!(
                $backend,
                incidents,
                [
                    incident_writes_extend_a_chain_that_verifies,
                    replace_is_a_compare_and_swap,
                    incidents_need_the_master_key_and_another_key_verifies_nothing,
                    rotating_the_master_key_moves_the_incident_chain_with_it,
                ]
            );
        }
    };
}

/// One suite's cases as `#[test]`s in `mod $suite`.
macro_rules! suite {
    ($backend:path, $suite:ident, [$($case:ident),* $(,)?]) => {
        mod $suite {
            $(
                #[test]
                fn $case() {
                    $crate::store::conformance::$suite::$case(&$backend);
                }
            )*
        }
    };
}

pub(crate) use store_conformance;
pub(crate) use suite;

/// A directory removed when dropped (for a backend's files, or a witness file).
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

/// The master key every test store is opened with.
pub(crate) fn test_master() -> MasterKey {
    MasterKey::from_bytes(&[42; 32])
}

/// Opens `b` with [`test_master`].
pub(crate) fn keyed(b: &dyn Backend) -> Arc<dyn Store> {
    b.open(Some(&test_master()), None).unwrap()
}

pub(crate) fn row(dest: &str, payload: &str) -> NewRow {
    NewRow {
        destination: dest.into(),
        kind: Kind::Track,
        payload: payload.as_bytes().to_vec(),
        enqueued_at_ms: 1000,
        meta: None,
    }
}

/// A queued row exposing `user.device` of subject 1 to `dest`.
pub(crate) fn exposed(dest: &str, source: &str) -> NewRow {
    exposed_as(dest, source, "00000000000000000000000000000001", &["user.device"])
}

pub(crate) fn exposed_as(dest: &str, source: &str, digest: &str, sent: &[&str]) -> NewRow {
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

/// `row` with its exposure metadata changed by `change`.
pub(crate) fn with_meta(mut row: NewRow, change: impl FnOnce(&mut crate::ledger::Exposure)) -> NewRow {
    let mut x = crate::ledger::codec::decode_meta(row.meta.as_ref().unwrap()).unwrap();
    change(&mut x);
    row.meta = Some(crate::ledger::codec::encode_meta(&x));
    row
}

/// Delivers everything queued for `dest` in batches of `n`.
pub(crate) fn deliver_all(s: &dyn Store, dest: &str, n: usize, at: i64) {
    loop {
        let rows = s.lease(dest, n).unwrap();
        if rows.is_empty() {
            return;
        }
        s.complete(dest, &rows, &[], at).unwrap();
    }
}

/// Six entries of `a` in three batches of two, verified.
pub(crate) fn six_entries_in_three_batches(s: &dyn Store) {
    s.append(
        &(0..6)
            .map(|i| exposed("a", if i % 2 == 0 { "web" } else { "ios" }))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    deliver_all(s, "a", 2, 10);
    assert!(s.verify_ledger().unwrap()[0].ok());
}

/// A queued row about `user-<n>` (digest `<n>` as 32 hex), its id sealed by `seal`.
pub(crate) fn sealed_row(n: u32, seal: &dyn Fn(&[u8; 16], &str) -> Vec<u8>) -> NewRow {
    use base64::Engine as _;
    let digest = format!("{n:032x}");
    let bytes = crate::ledger::digest_bytes(&digest).unwrap();
    with_meta(exposed_as("a", "web", &digest, &["user.device"]), |x| {
        x.subject_sealed = Some(base64::engine::general_purpose::STANDARD.encode(seal(&bytes, &format!("user-{n}"))));
    })
}

/// Every subject's id, opened with `keys` (`None` where it does not open).
pub(crate) fn subject_ids(s: &dyn Store, keys: &StoreKeys) -> Vec<Option<String>> {
    let mut ids = Vec::new();
    s.ledger_subjects(&mut |r: SubjectRow<'_>| {
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

/// Two incidents written the way the incident desk writes them: created with a placeholder,
/// saved, then changed through compare-and-swap.
pub(crate) fn two_incidents(s: &dyn Store) {
    for n in 1..=2 {
        let id = s.save_incident(None, "{}", 1000 * n).unwrap();
        let doc = format!(r#"{{"id":{id},"people":{},"timeline":["opened"]}}"#, 10 * n);
        s.save_incident(Some(id), &doc, 1000 * n + 1).unwrap();
        let next = doc.replace(r#"["opened"]"#, r#"["opened","exported"]"#);
        assert!(s.replace_incident(id, &doc, &next, 1000 * n + 2).unwrap());
    }
}

/// What `ledger verify` says about incidents: (name, problems), failures only.
pub(crate) fn incident_failures(s: &dyn Store) -> Vec<(String, Vec<String>)> {
    s.verify_ledger()
        .unwrap()
        .into_iter()
        .filter(|v| v.destination.starts_with("incident") && !v.ok())
        .map(|v| (v.destination, v.incident))
        .collect()
}

pub(crate) fn mentions(failures: &[(String, Vec<String>)], name: &str, what: &str) -> bool {
    failures
        .iter()
        .any(|(n, problems)| n == name && problems.iter().any(|p| p.contains(what)))
}

/// A proptest runner whose failures are saved to (and replayed from)
/// `proptest-regressions/store/conformance/<file>`.
pub(crate) fn runner(cases: u32, file: &'static str) -> proptest::test_runner::TestRunner {
    use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
    TestRunner::new(Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..Config::default()
    })
}
