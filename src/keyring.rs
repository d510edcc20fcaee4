//! Per-destination pseudonym keys in the store: each version sealed under a key derived from the
//! store's root key (`policy::keys`), the newest in use, rotation adding a version. The policy only ever
//! sees a [`PseudonymKey`]; this module is where keys meet storage.

use crate::policy::keys::{KeyError, PseudonymKey, StoreKeys, aad, random_bytes};
use crate::store::{KeyStore, now_ms};

/// The newest key of a destination, generating version 1 on first use.
pub fn current_key(store: &dyn KeyStore, keys: &StoreKeys, destination: &str) -> Result<PseudonymKey, KeyError> {
    if let Some(k) = newest(store, keys, destination)? {
        return Ok(k);
    }
    add_version(store, keys, destination, 1)?;
    newest(store, keys, destination)?.ok_or_else(|| KeyError::Unseal(destination.to_owned()))
}

/// Adds the next key version; returns it.
pub fn rotate(store: &dyn KeyStore, keys: &StoreKeys, destination: &str) -> Result<PseudonymKey, KeyError> {
    let next = store
        .key_versions(destination)?
        .into_iter()
        .map(|(v, _)| v)
        .max()
        .unwrap_or(0)
        + 1;
    add_version(store, keys, destination, next)?;
    newest(store, keys, destination)?.ok_or_else(|| KeyError::Unseal(destination.to_owned()))
}

fn add_version(store: &dyn KeyStore, keys: &StoreKeys, destination: &str, version: u32) -> Result<(), KeyError> {
    let bytes: [u8; 32] = random_bytes()?;
    let sealed = keys.seal_key(&aad(destination, version), &bytes)?;
    // A concurrent writer may have added this version first; then theirs stands.
    store.add_key(destination, version, &sealed, now_ms())?;
    Ok(())
}

fn newest(store: &dyn KeyStore, keys: &StoreKeys, destination: &str) -> Result<Option<PseudonymKey>, KeyError> {
    let Some((version, sealed)) = store.key_versions(destination)?.into_iter().max_by_key(|(v, _)| *v) else {
        return Ok(None);
    };
    let bytes = keys
        .open_key(&aad(destination, version), &sealed)
        .ok_or_else(|| KeyError::Unseal(destination.to_owned()))?;
    Ok(Some(PseudonymKey::from_bytes(version, &bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn keys_are_per_destination_versioned_and_rotate() {
        let dir = std::env::temp_dir().join(format!("vw-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SqliteStore::open(&dir).unwrap();
        let m = StoreKeys::generate(&crate::policy::keys::MasterKey::from_bytes(&[1; 32]))
            .unwrap()
            .keys;
        let a1 = current_key(&store, &m, "a").unwrap();
        let b1 = current_key(&store, &m, "b").unwrap();
        assert_eq!(a1.version, 1);
        assert_eq!(
            current_key(&store, &m, "a").unwrap().pseudonym("user-1"),
            a1.pseudonym("user-1")
        );
        assert_ne!(a1.pseudonym("user-1"), b1.pseudonym("user-1"));
        let a2 = rotate(&store, &m, "a").unwrap();
        assert_eq!(a2.version, 2);
        assert_ne!(a2.pseudonym("user-1"), a1.pseudonym("user-1"));
        assert_eq!(current_key(&store, &m, "a").unwrap().version, 2);
        // another root key cannot open them
        let other = StoreKeys::generate(&crate::policy::keys::MasterKey::from_bytes(&[1; 32]))
            .unwrap()
            .keys;
        assert!(matches!(current_key(&store, &other, "a"), Err(KeyError::Unseal(_))));
        assert!(!format!("{a2:?}").contains(&a2.pseudonym("x")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
