//! Key hierarchy: a master key outside the store, a random root key inside it (sealed under
//! the master key), and everything else derived from or sealed under the root.
//!
//! ```text
//! master key (env / file, never in the store)
//!   └─ seals the store root key (meta `key_root`: `v1:<master key id>:<sealed root>`)
//!        ├─ HKDF → pseudonym-key sealing key   seals each destination's pseudonym keys
//!        ├─ HKDF → subject sealing key         seals subject ids and contact emails
//!        └─ HKDF → MAC keys per purpose        ledger chain and rows, ledger witness, audit log
//! ```
//!
//! Every destination has its own HMAC-SHA256 pseudonym key, so two vendors never receive the
//! same pseudonym for the same person. Keys are versioned: `vendorwall keys rotate
//! DESTINATION` adds a version, after which new pseudonyms cannot be linked to earlier
//! (perhaps leaked) ones. Keys are generated on first use and stored only sealed with
//! AES-256-GCM (the additional data binds each sealed key to its destination and version, so
//! a sealed key cannot be moved to another destination).
//!
//! Subject ids and contact emails are sealed with additional data that names what the blob
//! is (an id or a contact email) and the keyed digest of the subject it belongs to
//! ([`subject_aad`]): a blob moved to another subject's row, or an id put where a contact
//! belongs, does not open, so an export never prints one person's id as another's.
//!
//! The master key comes from the environment variable named by `keys.master_key_env`
//! (default `VENDORWALL_MASTER_KEY`, 32 bytes in base64), or from `keys.master_key_file`, a
//! file outside the store directory that only its owner can read (no group or other mode
//! bits). With neither, `serve` and every command that needs the key refuse to run, naming
//! both settings: a key kept beside the store it protects protects nothing. Only `demo`
//! writes a throwaway key of its own.
//!
//! # Rotating the master key
//!
//! - **Online** (`vendorwall keys rotate-master`, `serve` may keep running): the root key is
//!   opened with the current master key and sealed again under the new one, in one short
//!   SQLite transaction. Nothing else changes: a running `serve` keeps its unwrapped keys and
//!   goes on ingesting and delivering; after the rotation the store opens only with the new
//!   master key (a process started with the old one is refused, naming the settings). This
//!   protects the store against a master key that leaked *after* the rotation's point, and
//!   retires the old key for this store. It does not protect against someone holding both
//!   the old master key and an old copy of the store: from that copy they can unwrap the
//!   root key, which is unchanged and therefore also opens what the store seals later.
//! - **Offline** (`--reseal`, `serve` stopped): a fresh root key is drawn; every pseudonym
//!   key, subject id and contact email (ledger, queued and dead-lettered records) is opened
//!   and sealed again under keys derived from it; the ledger's chains and rows, the audit
//!   log and the witness are MAC'd again under its MAC keys. An old master key together with
//!   an old backup then opens only that backup, never data sealed after the rotation.
//!
//! A store created before the hierarchy existed has no root key: its MAC keys derive from the
//! master key itself and its ids are sealed under the master key (`key_root` = `legacy`, see
//! [`StoreKeys::legacy`]). It opens and verifies unchanged, and its older subject blobs,
//! sealed before ids were bound to their subject, still open (with the unbound additional
//! data; a blob moved between rows is then caught only by the ledger's row MAC). Online
//! rotation is refused for it; the offline `--reseal` rotation converts it once.
//!
//! # Nonces
//!
//! Sealing uses 96-bit random nonces. Only pseudonym keys, subject ids, contact emails and
//! the root key are sealed (one seal per new subject, not per record), each kind under its
//! own key, and at 2^32 seals under one key the chance that two nonces collide stays below
//! 2^-32; run the offline rotation (`vendorwall keys rotate-master --reseal`), which draws a
//! fresh root and so fresh sealing keys, well before a store holds billions of subjects.

use std::path::{Path, PathBuf};

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("master key: {0}")]
    Master(String),
    #[error("a sealed key of destination `{0}` does not open with this master key")]
    Unseal(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot generate random bytes")]
    Random,
}

/// Where the master key comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum MasterKeySource {
    Env(String),
    File(PathBuf),
}

/// The key outside the store that seals the store's root key (and, in a store created
/// before the root key existed, is the root itself: [`StoreKeys::legacy`]).
pub struct MasterKey {
    aead: LessSafeKey,
    prk: hkdf::Prk,
    raw: [u8; 32],
}

/// HKDF salt of every key derived from the master key.
const DERIVE_SALT: &[u8] = b"vendorwall master key v1";

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

fn decode_key(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() == 32 {
        return text.try_into().ok();
    }
    let trimmed = std::str::from_utf8(text).ok()?.trim();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
        .ok()?;
    raw.try_into().ok()
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> MasterKey {
        // 32 bytes is AES-256's key length, so this cannot fail.
        let key = UnboundKey::new(&AES_256_GCM, bytes).unwrap_or_else(|_| unreachable!("32-byte AES-256 key"));
        MasterKey {
            aead: LessSafeKey::new(key),
            prk: hkdf::Salt::new(hkdf::HKDF_SHA256, DERIVE_SALT).extract(bytes),
            raw: *bytes,
        }
    }

    /// A public name of this key (16 hex characters of an HMAC under a key derived from it):
    /// recorded beside the root key it seals, so a store refused a key can say which key it
    /// expects without revealing anything about either.
    pub fn id(&self) -> String {
        let tag = hmac::sign(&self.mac_key(b"master key id"), b"vendorwall master key id");
        hex(&tag.as_ref()[..8])
    }

    /// A MAC key for one purpose, derived from the master key (HKDF-SHA256, salt
    /// b"vendorwall master key v1", info = purpose). It never leaves the process; a legacy
    /// store's MAC keys are these ([`StoreKeys::legacy`]).
    fn mac_key(&self, purpose: &[u8]) -> ring::hmac::Key {
        let info = [purpose];
        match self.prk.expand(&info, hmac::HMAC_SHA256) {
            Ok(okm) => hmac::Key::from(okm),
            // HKDF-SHA256 refuses only outputs over 255 × 32 bytes; an HMAC key is 32.
            Err(_) => unreachable!("a 32-byte HKDF output"),
        }
    }

    /// Loads the master key: from the environment variable if set, else from the configured
    /// file, which must lie outside `store_dir` and be readable by its owner only. With
    /// neither, an error names both settings.
    pub fn load(env_var: &str, file: Option<&Path>, store_dir: &Path) -> Result<MasterKey, KeyError> {
        if let Ok(v) = std::env::var(env_var) {
            let bytes = decode_key(v.as_bytes()).ok_or_else(|| {
                KeyError::Master(format!(
                    "the environment variable {env_var} (keys.master_key_env) must hold 32 bytes in base64"
                ))
            })?;
            return Ok(MasterKey::from_bytes(&bytes));
        }
        let Some(path) = file else {
            return Err(KeyError::Master(format!(
                "no master key: set the environment variable {env_var} (keys.master_key_env) or \
                 keys.master_key_file to a file outside the store directory {}",
                store_dir.display()
            )));
        };
        Self::load_file(path, store_dir)
    }

    /// Loads a key file: it must lie outside `store_dir` and be readable by its owner only
    /// (the configured `keys.master_key_file`, or `keys rotate-master --new-key-file`).
    pub fn load_file(path: &Path, store_dir: &Path) -> Result<MasterKey, KeyError> {
        if inside(path, store_dir) {
            return Err(KeyError::Master(format!(
                "keys.master_key_file {} lies inside the store directory {}: keep the key apart \
                 from the data it protects",
                path.display(),
                store_dir.display()
            )));
        }
        check_private(path)?;
        let text = std::fs::read(path)
            .map_err(|e| KeyError::Master(format!("cannot read keys.master_key_file {}: {e}", path.display())))?;
        let bytes = decode_key(&text).ok_or_else(|| {
            KeyError::Master(format!(
                "keys.master_key_file {} must hold 32 bytes, raw or base64",
                path.display()
            ))
        })?;
        Ok(MasterKey::from_bytes(&bytes))
    }

    /// Writes a fresh random key to `path` (mode 0600, never over an existing file) and
    /// returns it. Only for throwaway setups such as `demo`.
    pub fn generate_file(path: &Path) -> Result<MasterKey, KeyError> {
        let bytes: [u8; 32] = random_bytes()?;
        write_private(path, base64::engine::general_purpose::STANDARD.encode(bytes).as_bytes())
            .map_err(|e| KeyError::Master(format!("cannot write {}: {e}", path.display())))?;
        Ok(MasterKey::from_bytes(&bytes))
    }

    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        seal_with(&self.aead, aad, plaintext)
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        self.open_into(aad, sealed, &mut buf).map(<[u8]>::to_vec)
    }

    /// [`MasterKey::open`] into a reusable buffer (no allocation once it is large enough).
    pub fn open_into<'b>(&self, aad: &[u8], sealed: &[u8], buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
        open_with(&self.aead, aad, sealed, buf)
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        out.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    out
}

/// What a sealed subject blob holds; part of its additional data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectPart {
    /// The app's subject id (or a linked id).
    Id,
    /// The subject's contact email.
    Contact,
}

/// The additional data that binds a sealed subject id or contact email to what it is and to
/// the keyed digest of its subject (`ledger_subjects.digest`, the row's identity).
pub fn subject_aad(part: SubjectPart, digest: &[u8; 16]) -> [u8; 40] {
    const PREFIX: &[u8; 22] = b"vendorwall subject v2\0";
    let mut out = [0u8; 40];
    out[..22].copy_from_slice(PREFIX);
    out[22] = match part {
        SubjectPart::Id => b'i',
        SubjectPart::Contact => b'c',
    };
    out[24..].copy_from_slice(digest);
    out
}

/// The additional data subject blobs were sealed with before they were bound to their
/// subject; opened only in a legacy store ([`StoreKeys::legacy`]).
pub const UNBOUND_SUBJECT_AAD: &[u8] = b"vendorwall subject";

/// HKDF salt of every key derived from a store root key.
const ROOT_SALT: &[u8] = b"vendorwall store root v1";
/// HKDF info of the root-derived sealing keys (MAC purposes never start with `seal:`).
const SEAL_PSEUDONYM_KEYS: &[u8] = b"seal: pseudonym keys";
const SEAL_SUBJECTS: &[u8] = b"seal: subject ids";
/// The additional data the root key is sealed under the master key with.
const ROOT_AAD: &[u8] = b"vendorwall store root key v1";

/// The keys a store's data is sealed and MAC'd with, unwrapped in memory: derived from the
/// store's random root key, or, in a legacy store, from the master key itself.
pub struct StoreKeys {
    pseudonym_seal: LessSafeKey,
    subject_seal: LessSafeKey,
    prk: hkdf::Prk,
    legacy: bool,
}

impl std::fmt::Debug for StoreKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.legacy {
            "StoreKeys(legacy, [redacted])"
        } else {
            "StoreKeys([redacted])"
        })
    }
}

/// A fresh random root key for a store, and its record sealed under `master`.
pub struct NewRoot {
    pub keys: StoreKeys,
    /// `v1:<master key id>:<base64 of the sealed root>`, the store's `key_root`.
    pub record: String,
}

/// The `key_root` record of a legacy store.
pub const LEGACY_ROOT: &str = "legacy";

struct AeadLen;

impl hkdf::KeyType for AeadLen {
    fn len(&self) -> usize {
        32
    }
}

impl StoreKeys {
    /// The keys of a store created before the root key existed: MAC keys derive from the
    /// master key exactly as they did (HKDF-SHA256, salt b"vendorwall master key v1", info =
    /// purpose), and pseudonym keys and subject ids are sealed under the master key itself.
    pub fn legacy(master: &MasterKey) -> StoreKeys {
        let aead = || {
            LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, &master.raw).unwrap_or_else(|_| unreachable!("32-byte AES-256 key")),
            )
        };
        StoreKeys {
            pseudonym_seal: aead(),
            subject_seal: aead(),
            prk: hkdf::Salt::new(hkdf::HKDF_SHA256, DERIVE_SALT).extract(&master.raw),
            legacy: true,
        }
    }

    fn from_root(root: &[u8; 32]) -> StoreKeys {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, ROOT_SALT).extract(root);
        let aead = |info: &[u8]| {
            let info = [info];
            let mut bytes = [0u8; 32];
            // HKDF-SHA256 refuses only outputs over 255 × 32 bytes.
            prk.expand(&info, AeadLen)
                .and_then(|okm| okm.fill(&mut bytes))
                .unwrap_or_else(|_| unreachable!("a 32-byte HKDF output"));
            let key = UnboundKey::new(&AES_256_GCM, &bytes).unwrap_or_else(|_| unreachable!("32-byte AES-256 key"));
            bytes.fill(0);
            LessSafeKey::new(key)
        };
        StoreKeys {
            pseudonym_seal: aead(SEAL_PSEUDONYM_KEYS),
            subject_seal: aead(SEAL_SUBJECTS),
            prk,
            legacy: false,
        }
    }

    /// Draws a random root key and seals it under `master`.
    pub fn generate(master: &MasterKey) -> Result<NewRoot, KeyError> {
        let mut root: [u8; 32] = random_bytes()?;
        let sealed = master.seal(ROOT_AAD, &root)?;
        let keys = StoreKeys::from_root(&root);
        root.fill(0);
        let record = format!(
            "v1:{}:{}",
            master.id(),
            base64::engine::general_purpose::STANDARD.encode(sealed)
        );
        Ok(NewRoot { keys, record })
    }

    /// The keys a store's `key_root` record names, unwrapped with `master`. A root sealed under
    /// another master key is refused, naming both key ids and the settings the key comes from.
    pub fn unwrap(record: &str, master: &MasterKey) -> Result<StoreKeys, KeyError> {
        if record == LEGACY_ROOT {
            return Ok(StoreKeys::legacy(master));
        }
        let mut root = open_root(record, master)?;
        let keys = StoreKeys::from_root(&root);
        root.fill(0);
        Ok(keys)
    }

    /// The same root key sealed under `new` instead of `old` (online rotation). Refused for a
    /// legacy store, which has no root key to re-wrap.
    pub fn rewrap(record: &str, old: &MasterKey, new: &MasterKey) -> Result<String, KeyError> {
        if record == LEGACY_ROOT {
            return Err(KeyError::Master(
                "this store predates the root key (its keys derive from the master key itself), so \
                 the master key cannot be rotated online: stop serve and run `vendorwall keys \
                 rotate-master --reseal` once, which converts it"
                    .into(),
            ));
        }
        let mut root = open_root(record, old)?;
        let again = new.seal(ROOT_AAD, &root);
        root.fill(0);
        Ok(format!(
            "v1:{}:{}",
            new.id(),
            base64::engine::general_purpose::STANDARD.encode(again?)
        ))
    }

    /// Whether this store's keys derive from the master key itself.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// A MAC key for one purpose (HKDF-SHA256 of the root, info = purpose). It never leaves
    /// the process.
    pub fn mac_key(&self, purpose: &[u8]) -> hmac::Key {
        let info = [purpose];
        match self.prk.expand(&info, hmac::HMAC_SHA256) {
            Ok(okm) => hmac::Key::from(okm),
            // HKDF-SHA256 refuses only outputs over 255 × 32 bytes; an HMAC key is 32.
            Err(_) => unreachable!("a 32-byte HKDF output"),
        }
    }

    /// Seals a pseudonym key (`aad` from [`aad`]).
    pub fn seal_key(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        seal_with(&self.pseudonym_seal, aad, plaintext)
    }

    pub fn open_key(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        open_with(&self.pseudonym_seal, aad, sealed, &mut buf).map(<[u8]>::to_vec)
    }

    /// Seals a subject id or contact email, bound to its part and its subject's digest.
    pub fn seal_subject(&self, part: SubjectPart, digest: &[u8; 16], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        seal_with(&self.subject_seal, &subject_aad(part, digest), plaintext)
    }

    /// Opens a sealed subject id or contact email of the subject with `digest` into `buf`;
    /// `None` if it does not open (another subject's blob, another part, another key). In a
    /// legacy store a blob sealed before ids were bound also opens.
    pub fn open_subject_into<'b>(
        &self,
        part: SubjectPart,
        digest: &[u8; 16],
        sealed: &[u8],
        buf: &'b mut Vec<u8>,
    ) -> Option<&'b [u8]> {
        // The plaintext is a prefix of `buf`.
        if let Some(len) = open_with(&self.subject_seal, &subject_aad(part, digest), sealed, buf).map(<[u8]>::len) {
            buf.truncate(len);
            return Some(buf.as_slice());
        }
        if self.legacy {
            return open_with(&self.subject_seal, UNBOUND_SUBJECT_AAD, sealed, buf);
        }
        None
    }

    pub fn open_subject(&self, part: SubjectPart, digest: &[u8; 16], sealed: &[u8]) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        self.open_subject_into(part, digest, sealed, &mut buf)
            .map(<[u8]>::to_vec)
    }
}

/// The root key of a `v1:<master key id>:<base64>` record, opened with `master`.
fn open_root(record: &str, master: &MasterKey) -> Result<[u8; 32], KeyError> {
    let malformed = || KeyError::Master("the store's root key record is malformed".into());
    let rest = record.strip_prefix("v1:").ok_or_else(malformed)?;
    let (sealed_by, sealed) = rest.split_once(':').ok_or_else(malformed)?;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(|_| malformed())?;
    // Only a well-formed id is repeated: the record is read from the store.
    let sealed_by = if sealed_by.len() == 16 && sealed_by.bytes().all(|b| b.is_ascii_hexdigit()) {
        sealed_by
    } else {
        "(unknown)"
    };
    let plain = master.open(ROOT_AAD, &sealed).ok_or_else(|| {
        KeyError::Master(format!(
            "the store's root key is sealed under master key {sealed_by}, and the configured key \
             (keys.master_key_env or keys.master_key_file) is {}: after `vendorwall keys \
             rotate-master`, configure the new key",
            master.id()
        ))
    })?;
    plain.as_slice().try_into().map_err(|_| malformed())
}

fn seal_with(key: &LessSafeKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
    let nonce = random_nonce()?;
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
        .map_err(|_| KeyError::Random)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

fn open_with<'b>(key: &LessSafeKey, aad: &[u8], sealed: &[u8], buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    buf.clear();
    buf.extend_from_slice(ct);
    let plain = key.open_in_place(nonce, Aad::from(aad), buf).ok()?;
    Some(plain)
}

/// Whether `path` is `dir` or lies under it (after resolving links where the paths exist).
pub fn inside(path: &Path, dir: &Path) -> bool {
    let resolve = |p: &Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
    };
    let file = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => resolve(parent).join(name),
        _ => resolve(path),
    };
    file.starts_with(resolve(dir))
}

/// Refuses a key file that anyone but its owner may read or write.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| KeyError::Master(format!("cannot read keys.master_key_file {}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Master(format!(
            "keys.master_key_file {} has mode {mode:o}: group and others must have no access \
             (chmod 600 it)",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), KeyError> {
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// One destination's pseudonym key at one version.
#[derive(Clone)]
pub struct PseudonymKey {
    pub version: u32,
    key: hmac::Key,
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PseudonymKey(v{}, [redacted])", self.version)
    }
}

impl PseudonymKey {
    pub fn from_bytes(version: u32, bytes: &[u8]) -> PseudonymKey {
        PseudonymKey {
            version,
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// The keyed pseudonym of a value: 32 hex characters of HMAC-SHA256.
    pub fn pseudonym(&self, value: &str) -> String {
        let tag = hmac::sign(&self.key, value.as_bytes());
        let mut out = String::with_capacity(32);
        for b in &tag.as_ref()[..16] {
            out.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
        }
        out
    }
}

/// Fills `buf` from the operating system's cryptographically secure generator (ring's
/// `SystemRandom`): the one source of key material, nonces and tokens in vendorwall.
pub fn fill_random(buf: &mut [u8]) -> Result<(), KeyError> {
    SystemRandom::new().fill(buf).map_err(|_| KeyError::Random)
}

/// `N` bytes from [`fill_random`].
pub fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut bytes = [0u8; N];
    fill_random(&mut bytes)?;
    Ok(bytes)
}

/// The additional data that binds a sealed pseudonym key to its destination and version.
pub fn aad(destination: &str, version: u32) -> Vec<u8> {
    format!("vendorwall pseudonym key\0{destination}\0{version}").into_bytes()
}

/// A fresh random nonce. Ingest seals every record's subject id, so the OS's random bytes are
/// read 4 KiB at a time (one system call per 341 nonces) into a per-thread buffer whose bytes
/// are each handed out once. The process never forks (a child would share the buffer); while
/// a thread is being torn down, the bytes are read directly.
fn random_nonce() -> Result<[u8; NONCE_LEN], KeyError> {
    use std::cell::RefCell;
    const BUF: usize = 4096 / NONCE_LEN * NONCE_LEN;
    thread_local! {
        static POOL: RefCell<(usize, [u8; BUF])> = const { RefCell::new((BUF, [0; BUF])) };
    }
    let pooled = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        let (used, bytes) = &mut *pool;
        if *used == BUF {
            fill_random(bytes)?;
            *used = 0;
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[*used..*used + NONCE_LEN]);
        // Spent bytes are wiped, so nothing can hand them out again.
        bytes[*used..*used + NONCE_LEN].fill(0);
        *used += NONCE_LEN;
        Ok(nonce)
    });
    pooled.unwrap_or_else(|_| random_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_bind_to_destination() {
        let m = MasterKey::from_bytes(&[7; 32]);
        let sealed = m.seal(b"a", b"secret bytes").unwrap();
        assert!(!sealed.windows(12).any(|w| w == b"secret bytes"));
        assert_eq!(m.open(b"a", &sealed).unwrap(), b"secret bytes");
        assert!(m.open(b"b", &sealed).is_none());
        assert!(MasterKey::from_bytes(&[8; 32]).open(b"a", &sealed).is_none());
    }

    #[test]
    fn every_seal_has_its_own_nonce() {
        let m = MasterKey::from_bytes(&[7; 32]);
        // Past several refills of the per-thread pool.
        let nonces: std::collections::HashSet<Vec<u8>> = (0..2000)
            .map(|_| {
                let sealed = m.seal(b"a", b"same").unwrap();
                assert_eq!(m.open(b"a", &sealed).unwrap(), b"same");
                sealed[..NONCE_LEN].to_vec()
            })
            .collect();
        assert_eq!(nonces.len(), 2000);
        assert!(!nonces.contains(&vec![0; NONCE_LEN]));
    }

    #[test]
    fn master_key_from_env_or_a_private_file_outside_the_store() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("vw-master-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = dir.join("store");
        std::fs::create_dir_all(&store).unwrap();
        let err = MasterKey::load("VW_TEST_NO_SUCH_VAR", None, &store)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("VW_TEST_NO_SUCH_VAR") && err.contains("keys.master_key_file"),
            "{err}"
        );
        assert!(
            !store.join("master.key").exists(),
            "no key is generated beside the store"
        );

        let file = dir.join("other.key");
        let a = MasterKey::generate_file(&file).unwrap();
        let c = MasterKey::load("VW_TEST_NO_SUCH_VAR", Some(&file), &store).unwrap();
        assert_eq!(a.open(b"x", &c.seal(b"x", b"z").unwrap()).unwrap(), b"z");

        // Loose modes are refused, naming the file.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = MasterKey::load("VW_TEST_NO_SUCH_VAR", Some(&file), &store)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&file.display().to_string()) && err.contains("640"),
            "{err}"
        );

        // A file inside the store is refused, however it is spelt.
        let beside = store.join("master.key");
        MasterKey::generate_file(&beside).unwrap();
        let sneaky = dir.join("store/../store/master.key");
        for p in [&beside, &sneaky] {
            let err = MasterKey::load("VW_TEST_NO_SUCH_VAR", Some(p), &store)
                .unwrap_err()
                .to_string();
            assert!(err.contains("inside the store directory"), "{err}");
        }

        let bad = dir.join("bad.key");
        write_private(&bad, b"short").unwrap();
        let err = MasterKey::load("VW_TEST_NO_SUCH_VAR", Some(&bad), &store)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("short"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sealed_subject_ids_are_bound_to_their_part_and_subject() {
        let keys = StoreKeys::generate(&MasterKey::from_bytes(&[3; 32])).unwrap().keys;
        let (a, b) = ([1u8; 16], [2u8; 16]);
        let id = keys.seal_subject(SubjectPart::Id, &a, b"alice").unwrap();
        assert!(!id.windows(5).any(|w| w == b"alice"));
        assert_eq!(keys.open_subject(SubjectPart::Id, &a, &id).unwrap(), b"alice");
        assert!(
            keys.open_subject(SubjectPart::Id, &b, &id).is_none(),
            "another subject's"
        );
        assert!(
            keys.open_subject(SubjectPart::Contact, &a, &id).is_none(),
            "another part"
        );
        // The unbound additional data of legacy stores opens nothing in a store with a root.
        let unbound = seal_with(&keys.subject_seal, UNBOUND_SUBJECT_AAD, b"bob").unwrap();
        assert!(keys.open_subject(SubjectPart::Id, &a, &unbound).is_none());
        // The reusable buffer holds the plaintext only (no tag), also after a failed try.
        let mut buf = Vec::new();
        assert!(keys.open_subject_into(SubjectPart::Id, &b, &id, &mut buf).is_none());
        assert_eq!(
            keys.open_subject_into(SubjectPart::Id, &a, &id, &mut buf).unwrap(),
            b"alice"
        );
        assert_eq!(buf, b"alice");
    }

    #[test]
    fn a_legacy_store_keeps_the_master_key_as_its_root_and_opens_unbound_blobs() {
        let master = MasterKey::from_bytes(&[4; 32]);
        let legacy = StoreKeys::unwrap(LEGACY_ROOT, &master).unwrap();
        assert!(legacy.is_legacy());
        let old = master.seal(UNBOUND_SUBJECT_AAD, b"carol").unwrap();
        assert_eq!(legacy.open_subject(SubjectPart::Id, &[9; 16], &old).unwrap(), b"carol");
        let key = master.seal(&aad("a", 1), &[5; 32]).unwrap();
        assert_eq!(legacy.open_key(&aad("a", 1), &key).unwrap(), [5; 32]);
        // New blobs in it are bound.
        let new = legacy.seal_subject(SubjectPart::Id, &[9; 16], b"dave").unwrap();
        assert!(legacy.open_subject(SubjectPart::Id, &[8; 16], &new).is_none());
        let e = StoreKeys::rewrap(LEGACY_ROOT, &master, &MasterKey::from_bytes(&[5; 32]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--reseal"), "{e}");
    }

    #[test]
    fn the_root_key_rewraps_under_a_new_master_key_and_refuses_the_old_one() {
        let (old, new) = (MasterKey::from_bytes(&[6; 32]), MasterKey::from_bytes(&[7; 32]));
        assert_ne!(old.id(), new.id());
        assert_eq!(old.id(), MasterKey::from_bytes(&[6; 32]).id());
        let root = StoreKeys::generate(&old).unwrap();
        assert!(root.record.starts_with(&format!("v1:{}:", old.id())));
        let sealed = root
            .keys
            .seal_subject(SubjectPart::Contact, &[1; 16], b"e@x.test")
            .unwrap();
        let again = StoreKeys::rewrap(&root.record, &old, &new).unwrap();
        assert!(again.starts_with(&format!("v1:{}:", new.id())));
        let keys = StoreKeys::unwrap(&again, &new).unwrap();
        assert_eq!(
            keys.open_subject(SubjectPart::Contact, &[1; 16], &sealed).unwrap(),
            b"e@x.test"
        );
        let e = StoreKeys::unwrap(&again, &old).unwrap_err().to_string();
        assert!(
            e.contains(&new.id()) && e.contains(&old.id()) && e.contains("keys.master_key_file"),
            "{e}"
        );
        assert!(StoreKeys::rewrap(&again, &old, &new).is_err());
        // A record someone edited names no key from it.
        let forged = format!("v1:do-this-now:{}", again.rsplit(':').next().unwrap());
        let e = StoreKeys::unwrap(&forged, &old).unwrap_err().to_string();
        assert!(!e.contains("do-this-now"), "{e}");
    }

    #[test]
    fn mac_keys_are_per_purpose_and_per_master_key() {
        let tag = |m: &MasterKey, purpose: &[u8]| {
            hmac::sign(&StoreKeys::legacy(m).mac_key(purpose), b"data")
                .as_ref()
                .to_vec()
        };
        let (a, b) = (MasterKey::from_bytes(&[1; 32]), MasterKey::from_bytes(&[2; 32]));
        assert_eq!(
            tag(&a, b"ledger chain"),
            tag(&MasterKey::from_bytes(&[1; 32]), b"ledger chain")
        );
        assert_ne!(tag(&a, b"ledger chain"), tag(&a, b"audit log"));
        assert_ne!(tag(&a, b"ledger chain"), tag(&b, b"ledger chain"));
    }
}
