//! [`KeyStore`](crate::store::KeyStore): pseudonym key versions, the store's root key under
//! the master key, and both kinds of master-key rotation.

use super::{Make, deliver_all, keyed, sealed_row, subject_ids, test_master};
use crate::policy::keys::{MasterKey, SubjectPart};
use crate::store::StoreError;

pub(crate) fn key_versions_are_kept_in_order_and_the_first_of_a_version_stands(make: Make) {
    let b = make();
    let s = keyed(&*b);
    assert!(s.key_versions("a").unwrap().is_empty());
    s.add_key("a", 2, b"second", 20).unwrap();
    s.add_key("a", 1, b"first", 10).unwrap();
    s.add_key("b", 1, b"other", 10).unwrap();
    // Two processes creating the same version: the one written first stands.
    s.add_key("a", 1, b"raced", 30).unwrap();
    assert_eq!(
        s.key_versions("a").unwrap(),
        [(1, b"first".to_vec()), (2, b"second".to_vec())]
    );
    assert_eq!(s.key_versions("b").unwrap(), [(1, b"other".to_vec())]);
    // Through the keyring: versions rotate, and another open sees the current one.
    let keys = s.keys().unwrap();
    let k = crate::keyring::rotate(&*s, &keys, "c").unwrap();
    let other = b.open(None, None).unwrap();
    let again = crate::keyring::current_key(&*other, &other.store_keys(&test_master()).unwrap(), "c").unwrap();
    assert_eq!((again.version, again.pseudonym("x")), (k.version, k.pseudonym("x")));
}

/// The same root key on every open, and for a process that opens the store without the
/// master key and unwraps it later; another master key is refused, naming the settings.
pub(crate) fn the_same_keys_on_every_open_and_another_master_key_is_refused(make: Make) {
    let b = make();
    let s = keyed(&*b);
    let keys = s.keys().unwrap();
    assert!(!keys.is_legacy());
    let seal = |d: &[u8; 16], id: &str| keys.seal_subject(SubjectPart::Id, d, id.as_bytes()).unwrap();
    s.append(&[sealed_row(1, &seal)]).unwrap();
    deliver_all(&*s, "a", 10, 10);
    drop(s);
    let s = keyed(&*b);
    assert_eq!(subject_ids(&*s, &s.keys().unwrap()), [Some("user-1".to_owned())]);
    let keyless = b.open(None, None).unwrap();
    assert!(keyless.keys().is_none());
    let unwrapped = keyless.store_keys(&test_master()).unwrap();
    assert_eq!(subject_ids(&*keyless, &unwrapped), [Some("user-1".to_owned())]);
    let other = MasterKey::from_bytes(&[1; 32]);
    let e = keyless.store_keys(&other).unwrap_err();
    assert!(matches!(e, StoreError::Keys(_)), "{e:?}");
    let e = e.to_string();
    assert!(
        e.contains("keys.master_key_env") && e.contains(&other.id()) && e.contains(&test_master().id()),
        "{e}"
    );
    assert!(matches!(b.open(Some(&other), None).err(), Some(StoreError::Keys(_))));
}

pub(crate) fn online_rotation_rewraps_the_root_key_beside_a_running_writer(make: Make) {
    let (old, new) = (test_master(), MasterKey::from_bytes(&[43; 32]));
    let b = make();
    // `running` plays serve: opened with the old key, it keeps writing after the rotation.
    let running = b.open(Some(&old), None).unwrap();
    let keys = running.keys().unwrap();
    let seal = |d: &[u8; 16], id: &str| keys.seal_subject(SubjectPart::Id, d, id.as_bytes()).unwrap();
    let pseudonym = crate::keyring::current_key(&*running, &keys, "a").unwrap();
    running.append(&[sealed_row(1, &seal)]).unwrap();
    deliver_all(&*running, "a", 10, 10);
    running.append(&[sealed_row(2, &seal)]).unwrap();

    let cli = b.open(None, None).unwrap();
    cli.rewrap_root(&old, &new).unwrap();
    assert!(cli.store_keys(&new).is_ok());
    // The old key no longer rotates it either.
    let e = cli.rewrap_root(&old, &new).unwrap_err();
    assert!(matches!(e, StoreError::Keys(_)), "{e:?}");
    assert!(e.to_string().contains(&new.id()), "{e}");
    drop(cli);

    // The running writer goes on: delivers, records, seals with the keys it holds.
    deliver_all(&*running, "a", 10, 20);
    running.append(&[sealed_row(3, &seal)]).unwrap();
    deliver_all(&*running, "a", 10, 30);
    assert!(running.verify_ledger().unwrap().iter().all(|v| v.ok()));
    drop(running);

    // A restart with the old key is refused, naming the settings; the new key opens all.
    let e = b.open(Some(&old), None).err().unwrap();
    assert!(matches!(e, StoreError::Keys(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("keys.master_key_env") && e.contains("rotate-master"), "{e}");
    let s = b.open(Some(&new), None).unwrap();
    let keys = s.keys().unwrap();
    assert!(s.verify_ledger().unwrap().iter().all(|v| v.ok()));
    assert_eq!(
        subject_ids(&*s, &keys),
        ["user-1", "user-2", "user-3"].map(|s| Some(s.to_owned()))
    );
    assert_eq!(
        crate::keyring::current_key(&*s, &keys, "a").unwrap().pseudonym("x"),
        pseudonym.pseudonym("x")
    );
}

pub(crate) fn reseal_reseals_queued_records_and_rekeys_the_ledger(make: Make) {
    let (old, new) = (test_master(), MasterKey::from_bytes(&[43; 32]));
    let b = make();
    let s = b.open(Some(&old), None).unwrap();
    let old_keys = s.keys().unwrap();
    let seal = |d: &[u8; 16], id: &str| old_keys.seal_subject(SubjectPart::Id, d, id.as_bytes()).unwrap();
    let pseudonym = crate::keyring::current_key(&*s, &old_keys, "a").unwrap();
    s.append(&[sealed_row(1, &seal)]).unwrap();
    deliver_all(&*s, "a", 10, 10);
    s.append(&[sealed_row(2, &seal)]).unwrap(); // still queued at the rotation
    let (done, new_keys) = s.reseal(&new).unwrap();
    assert_eq!(
        (done.pseudonym_keys, done.subject_ids, done.queued_records, done.batches),
        (1, 1, 1, 1)
    );
    drop(s);

    assert!(matches!(b.open(Some(&old), None), Err(StoreError::Keys(_))));
    let s = b.open(Some(&new), None).unwrap();
    let keys = s.keys().unwrap();
    deliver_all(&*s, "a", 10, 20);
    assert!(s.verify_ledger().unwrap().iter().all(|v| v.ok()));
    assert_eq!(subject_ids(&*s, &keys), [Some("user-1".into()), Some("user-2".into())]);
    assert_eq!(
        subject_ids(&*s, &new_keys),
        [Some("user-1".into()), Some("user-2".into())]
    );
    // The old root's keys open nothing any more: an old backup's root does not reach new data.
    assert_eq!(subject_ids(&*s, &old_keys), [None, None]);
    assert!(crate::keyring::current_key(&*s, &old_keys, "a").is_err());
    // The pseudonym key itself is unchanged: vendors see the same pseudonyms.
    assert_eq!(
        crate::keyring::current_key(&*s, &keys, "a").unwrap().pseudonym("x"),
        pseudonym.pseudonym("x")
    );
}

pub(crate) fn reseal_needs_the_master_key(make: Make) {
    let b = make();
    drop(keyed(&*b));
    let keyless = b.open(None, None).unwrap();
    let e = keyless.reseal(&MasterKey::from_bytes(&[43; 32])).unwrap_err();
    assert!(matches!(e, StoreError::Keys(_)), "{e:?}");
    // Nothing changed: the master key still opens the store.
    assert!(keyed(&*b).keys().is_some());
}
