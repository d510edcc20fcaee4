//! The ledger witness: an append-only file outside the store that records each batch's chain
//! head, so a store rolled back to an older copy, or whose newest batches were cut off, no
//! longer matches it.
//!
//! # Format
//!
//! JSON Lines (`[ledger] witness_path`, mode 0600), one line per ledger batch, written after
//! the batch's transaction commits and fsynced before the next delivery goes on:
//!
//! ```json
//! {"destination":"mixpanel","sequence":42,"head":"<64 hex>","mac":"<64 hex>"}
//! ```
//!
//! `sequence` is the batch id, `head` its keyed chain link. `mac` is HMAC-SHA256 under a key
//! derived from the master key (purpose `ledger witness`) over the previous line's `mac` (32
//! zero bytes for the first line), the destination, the sequence and the head: a line cannot
//! be edited, inserted or removed from the middle without the master key. The last line of a
//! destination, in file order, is its witnessed head.
//!
//! # Comparing a store with its witness
//!
//! | store vs witness | meaning | `serve` | `ledger verify` |
//! |---|---|---|---|
//! | same head | intact | starts | ok |
//! | one batch ahead, linked to the witnessed head | crash between commit and append | appends the line, starts | reports it |
//! | behind (older newest batch, or none) | rolled back to an older copy | refuses unless `--accept-rollback` | fails |
//! | head differs, or more than one batch unwitnessed | rewritten, or witness lines cut off | refuses | fails |
//! | witness file missing though it was started | witness lost or deleted | refuses | fails |
//!
//! A store with no batches needs no witness. `--accept-rollback` appends the store's current
//! heads as new lines, so the rolled-back copy becomes what later verifications compare with.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ring::hmac;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("ledger witness {path}: {reason}")]
    Io { path: String, reason: String },
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> WitnessError {
    WitnessError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    destination: String,
    sequence: i64,
    head: String,
    mac: String,
}

/// What the witness file holds, after checking every line's MAC.
#[derive(Debug, Default)]
pub struct Witnessed {
    /// The file exists.
    pub exists: bool,
    /// Per destination, the last witnessed (sequence, head).
    pub heads: BTreeMap<String, (i64, [u8; 32])>,
    /// Lines that do not parse or whose MAC does not verify (1-based line numbers in the text).
    pub problems: Vec<String>,
    /// The last line's MAC, which the next line chains from.
    last_mac: [u8; 32],
}

/// The MAC of one witness line.
pub fn line_mac(key: &hmac::Key, prev: &[u8; 32], destination: &str, sequence: i64, head: &[u8; 32]) -> [u8; 32] {
    let mut m = hmac::Context::with_key(key);
    m.update(prev);
    m.update(destination.as_bytes());
    m.update(&[0]);
    m.update(&sequence.to_le_bytes());
    m.update(head);
    let mut out = [0u8; 32];
    out.copy_from_slice(m.sign().as_ref());
    out
}

pub fn hex32(bytes: &[u8; 32]) -> String {
    let mut s = String::with_capacity(64);
    for x in bytes {
        s.push(char::from(b"0123456789abcdef"[usize::from(x >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(x & 15)]));
    }
    s
}

/// Parses and checks a witness's text.
pub fn parse(key: &hmac::Key, text: &str) -> Witnessed {
    let mut w = Witnessed {
        exists: true,
        ..Witnessed::default()
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let Ok(line) = serde_json::from_str::<Line>(raw) else {
            w.problems.push(format!("line {n} is not a witness line"));
            continue;
        };
        let (Some(head), Some(mac)) = (crate::digits::unhex32(&line.head), crate::digits::unhex32(&line.mac)) else {
            w.problems.push(format!("line {n} has a malformed head or MAC"));
            continue;
        };
        let expected = line_mac(key, &w.last_mac, &line.destination, line.sequence, &head);
        if !crate::config::constant_time_eq(&expected, &mac) {
            w.problems.push(format!(
                "line {n} ({}, batch {}): its MAC does not verify (the line was edited, or lines before it were removed)",
                line.destination, line.sequence
            ));
        }
        // Chain from what the file says, so one bad line is reported once, not for every
        // line after it.
        w.last_mac = mac;
        w.heads.insert(line.destination, (line.sequence, head));
    }
    w
}

/// The witness file a store appends to.
pub struct Witness {
    path: PathBuf,
    key: hmac::Key,
    /// The open file, the last line's MAC, and lines a failed write left to write; locked
    /// while a batch's lines are written.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    file: Option<std::fs::File>,
    last_mac: [u8; 32],
    pending: Vec<(String, i64, [u8; 32])>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Witness({})", self.path.display())
    }
}

impl Witness {
    pub fn new(path: PathBuf, key: hmac::Key) -> Witness {
        Witness {
            path,
            key,
            state: Mutex::new(State::default()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and checks the file (missing: `exists` is false).
    pub fn read(&self) -> Result<Witnessed, WitnessError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(parse(&self.key, &text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Witnessed::default()),
            Err(e) => Err(io_err(&self.path, e)),
        }
    }

    /// Appends one line per (destination, sequence, head), then fsyncs. Creates the file
    /// (0600) if needed; the chain continues from the file's last line. Lines a failed write
    /// could not write are kept and written first next time.
    pub fn append(&self, heads: &[(&str, i64, [u8; 32])]) -> Result<(), WitnessError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .pending
            .extend(heads.iter().map(|(d, s, h)| ((*d).to_owned(), *s, *h)));
        if state.pending.is_empty() {
            return Ok(());
        }
        if state.file.is_none() {
            let last = self.read()?.last_mac;
            state.file = Some(open_append(&self.path).map_err(|e| io_err(&self.path, e))?);
            state.last_mac = last;
        }
        let mut text = String::new();
        let mut last = state.last_mac;
        for (destination, sequence, head) in &state.pending {
            let mac = line_mac(&self.key, &last, destination, *sequence, head);
            let line = Line {
                destination: destination.clone(),
                sequence: *sequence,
                head: hex32(head),
                mac: hex32(&mac),
            };
            text.push_str(&serde_json::to_string(&line).map_err(|e| io_err(&self.path, e))?);
            text.push('\n');
            last = mac;
        }
        let result = state.file.as_mut().map_or(Ok(()), |f| {
            f.write_all(text.as_bytes())?;
            f.sync_data()
        });
        match result {
            Ok(()) => {
                state.last_mac = last;
                state.pending.clear();
                Ok(())
            }
            Err(e) => {
                // Reopen (and re-read the last MAC) next time. A partial line may be left; it
                // is reported by `ledger verify` and the lines after it chain past it.
                state.file = None;
                Err(io_err(&self.path, e))
            }
        }
    }
}

#[cfg(unix)]
fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().append(true).create(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_chain_and_any_edit_or_removal_is_caught() {
        let dir = std::env::temp_dir().join(format!("vw-witness-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[3; 32]);
        let w = Witness::new(dir.join("w.jsonl"), key.clone());
        assert!(!w.read().unwrap().exists);
        w.append(&[("a", 1, [1; 32]), ("b", 2, [2; 32])]).unwrap();
        // A new handle continues the chain from the file.
        Witness::new(dir.join("w.jsonl"), key.clone())
            .append(&[("a", 3, [3; 32])])
            .unwrap();
        let read = w.read().unwrap();
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        assert_eq!(read.heads["a"], (3, [3; 32]));
        assert_eq!(read.heads["b"], (2, [2; 32]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(w.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }

        let text = std::fs::read_to_string(w.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Removing a middle line breaks the next line's MAC.
        let removed = format!("{}\n{}\n", lines[0], lines[2]);
        let p = parse(&key, &removed);
        assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
        assert!(p.problems[0].contains("line 2"));
        // Editing a head, even to another well-formed value, breaks its MAC.
        let edited = text.replace(&hex32(&[2; 32]), &hex32(&[9; 32]));
        assert!(parse(&key, &edited).problems.iter().any(|p| p.contains("batch 2")));
        // Another key verifies nothing.
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[4; 32]);
        assert_eq!(parse(&other, &text).problems.len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
