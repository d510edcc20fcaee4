//! [`IncidentStore`](crate::store::IncidentStore): documents saved and read back, the
//! compare-and-swap, the keyed chain every write extends, and its move with the master key.

use super::{Make, incident_failures, keyed, test_master, two_incidents};
use crate::policy::keys::MasterKey;
use crate::store::StoreError;

pub(crate) fn incident_writes_extend_a_chain_that_verifies(make: Make) {
    let b = make();
    let s = keyed(&*b);
    two_incidents(&*s);
    let v = s.verify_ledger().unwrap();
    let incidents: Vec<(&str, u64, bool)> = v
        .iter()
        .filter(|v| v.destination.starts_with("incident"))
        .map(|v| (v.destination.as_str(), v.revisions, v.ok()))
        .collect();
    assert_eq!(incidents, [("incident 1", 3, true), ("incident 2", 3, true)]);
    // A compare-and-swap that loses writes nothing, and the chain still verifies.
    assert!(!s.replace_incident(1, "{}", "{\"x\":1}", 9000).unwrap());
    assert!(incident_failures(&*s).is_empty());
}

/// Saved documents read back as written, oldest first; `replace_incident` replaces only the
/// document it was given; saving an unknown id is refused.
pub(crate) fn replace_is_a_compare_and_swap(make: Make) {
    let b = make();
    let s = keyed(&*b);
    assert!(s.incidents().unwrap().is_empty());
    assert_eq!(s.incident(1).unwrap(), None);
    let first = s.save_incident(None, r#"{"n":1}"#, 10).unwrap();
    let second = s.save_incident(None, r#"{"n":2}"#, 20).unwrap();
    assert_ne!(first, second);
    assert_eq!(
        s.incidents().unwrap(),
        [(first, r#"{"n":1}"#.to_owned()), (second, r#"{"n":2}"#.to_owned())]
    );
    // Two writers read the same document; the first replace wins, the second sees it lost.
    let read = s.incident(first).unwrap().unwrap();
    assert!(s.replace_incident(first, &read, r#"{"n":1,"by":"a"}"#, 30).unwrap());
    assert!(!s.replace_incident(first, &read, r#"{"n":1,"by":"b"}"#, 31).unwrap());
    assert_eq!(s.incident(first).unwrap().as_deref(), Some(r#"{"n":1,"by":"a"}"#));
    assert!(!s.replace_incident(999, "{}", "{}", 32).unwrap(), "no such incident");
    // Saved over unconditionally.
    s.save_incident(Some(second), r#"{"n":2,"saved":true}"#, 40).unwrap();
    assert_eq!(s.incident(second).unwrap().as_deref(), Some(r#"{"n":2,"saved":true}"#));
    assert!(matches!(
        s.save_incident(Some(999), "{}", 50),
        Err(StoreError::NotFound(_))
    ));
    // Another open of the store (the CLI beside the admin API) reads the same.
    assert_eq!(b.open(None, None).unwrap().incidents().unwrap(), s.incidents().unwrap());
    assert!(s.verify_ledger().unwrap().iter().all(|v| v.ok()));
}

pub(crate) fn incidents_need_the_master_key_and_another_key_verifies_nothing(make: Make) {
    let b = make();
    two_incidents(&*keyed(&*b));
    let keyless = b.open(None, None).unwrap();
    let e = keyless.save_incident(None, "{}", 1).unwrap_err();
    assert!(matches!(e, StoreError::Keys(_)), "{e:?}");
    assert!(e.to_string().contains("master key"), "{e}");
    let doc = keyless.incident(1).unwrap().unwrap();
    assert!(matches!(
        keyless.replace_incident(1, &doc, "{}", 2),
        Err(StoreError::Keys(_))
    ));
    assert_eq!(keyless.incidents().unwrap().len(), 2, "reads work without the key");
    drop(keyless);
    // Another master key does not open the store's root key at all.
    assert!(matches!(
        b.open(Some(&MasterKey::from_bytes(&[7; 32])), None),
        Err(StoreError::Keys(_))
    ));
}

pub(crate) fn rotating_the_master_key_moves_the_incident_chain_with_it(make: Make) {
    let b = make();
    let s = keyed(&*b);
    two_incidents(&*s);
    let new = MasterKey::from_bytes(&[45; 32]);
    s.reseal(&new).unwrap();
    drop(s);
    let s = b.open(Some(&new), None).unwrap();
    assert!(incident_failures(&*s).is_empty());
    let doc = s.incident(1).unwrap().unwrap();
    assert!(s.replace_incident(1, &doc, "{}", 9000).unwrap());
    assert!(incident_failures(&*s).is_empty());
    // Online rotation leaves the chain's key alone: it still verifies.
    s.rewrap_root(&new, &test_master()).unwrap();
    drop(s);
    let s = keyed(&*b);
    assert!(incident_failures(&*s).is_empty());
    assert!(s.save_incident(Some(2), "{}", 9100).is_ok());
    assert!(incident_failures(&*s).is_empty());
}
