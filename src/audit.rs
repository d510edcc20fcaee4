//! The audit log: every state change and every export, from the admin API or the CLI, with
//! when, who, what and on what.
//!
//! One JSON object per line, appended under an exclusive file lock (so the CLI and a running
//! gateway can both write), synced before the action's caller is answered:
//!
//! ```text
//! {"seq":7,"time":"2026-12-07T18:40:00.123Z","actor":"ops","action":"destination.suspend","target":"mixpanel","prev":"…","mac":"…"}
//! ```
//!
//! `actor` is the admin token's name or `cli:<os user>`; the token itself never appears.
//! Each line's `mac` is an HMAC-SHA256, under a key derived from the store's root key (itself
//! sealed under the master key, which never lives in the store; see `policy::keys`), over its
//! fields and the previous line's `mac` (`prev`): without the master key nobody can edit, insert, reorder or delete a line in the middle without
//! `vendorwall audit verify` saying which line. Cutting lines off the end leaves a shorter
//! valid log; ship the file to append-only storage to catch that (see SECURITY.md).
//!
//! Because the key derives from the root key, rotating the master key online leaves the log
//! as it is (a running `serve` keeps appending under the same key); only the offline
//! `keys rotate-master --reseal`, which draws a new root key, chains it again ([`AuditLog::rekey`]).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::policy::keys::StoreKeys;

/// The HMAC key's purpose, for [`StoreKeys::mac_key`].
const PURPOSE: &[u8] = b"audit log";
/// Longest actor, action or target kept (longer ones are cut at a character boundary).
const MAX_FIELD: usize = 200;
/// `prev` of the first line.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot write the audit log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the audit log {0} does not end in a valid entry; run `vendorwall audit verify`")]
    Corrupt(PathBuf),
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An admin API token, by its configured name.
    Token(String),
    /// A CLI command, by the operating-system user running it.
    Cli(String),
}

impl Actor {
    /// The user running this process: `cli:<name>`.
    pub fn cli() -> Actor {
        Actor::Cli(os_user())
    }

    fn render(&self) -> String {
        match self {
            Actor::Token(name) => name.clone(),
            Actor::Cli(user) => format!("cli:{user}"),
        }
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub actor: String,
    /// `incident.open`, `destination.suspend`, `keys.rotate`, `outbox.purge`, …
    pub action: String,
    /// The incident id, destination name, or what the action applied to.
    pub target: String,
    pub prev: String,
    pub mac: String,
}

/// An appender and verifier for one audit log file.
pub struct AuditLog {
    path: PathBuf,
    key: hmac::Key,
}

/// What `verify` found.
#[derive(Debug, Default)]
pub struct Verification {
    pub entries: u64,
    /// `(line number, what is wrong)`, first problem per line.
    pub problems: Vec<(u64, String)>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl AuditLog {
    pub fn new(path: &Path, keys: &StoreKeys) -> AuditLog {
        AuditLog {
            path: path.to_owned(),
            key: keys.mac_key(PURPOSE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and syncs it to disk.
    pub fn append(&self, actor: &Actor, action: &str, target: &str) -> Result<Entry, AuditError> {
        self.append_at(actor, action, target, crate::store::now_ms())
    }

    fn append_at(&self, actor: &Actor, action: &str, target: &str, now_ms: i64) -> Result<Entry, AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = open_private(&self.path).map_err(io)?;
        file.lock().map_err(io)?;
        let (seq, prev) = match last_line(&mut file).map_err(io)? {
            None => (1, GENESIS.to_owned()),
            Some(line) => {
                let last: Entry = serde_json::from_slice(&line).map_err(|_| AuditError::Corrupt(self.path.clone()))?;
                (last.seq + 1, last.mac)
            }
        };
        let mut entry = Entry {
            seq,
            time: crate::incident::time::format_utc(now_ms),
            actor: clip(&actor.render()),
            action: clip(action),
            target: clip(target),
            prev,
            mac: String::new(),
        };
        entry.mac = self.mac(&entry);
        let mut line = serde_json::to_vec(&entry).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)?;
        // Unlocked when `file` closes.
        Ok(entry)
    }

    fn mac(&self, e: &Entry) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        // Length-prefixed, so no two field splits give the same bytes.
        for field in [e.time.as_str(), &e.actor, &e.action, &e.target, &e.prev] {
            ctx.update(&(field.len() as u64).to_be_bytes());
            ctx.update(field.as_bytes());
        }
        ctx.update(&e.seq.to_be_bytes());
        hex(ctx.sign().as_ref())
    }

    /// Moves the log to new store keys: every entry is checked under the current key (a
    /// tampered log is refused, so re-keying cannot launder it), then chained again under
    /// `new`, written beside the log and renamed over it. Returns the log under `new`.
    pub fn rekey(&self, new: &StoreKeys) -> Result<AuditLog, AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let next = AuditLog::new(&self.path, new);
        let lock = match open_private(&self.path) {
            Ok(f) => f,
            Err(e) => return Err(io(e)),
        };
        lock.lock().map_err(io)?;
        if !self.verify().map_err(io)?.ok() {
            return Err(AuditError::Corrupt(self.path.clone()));
        }
        let mut out = Vec::new();
        let mut prev = GENESIS.to_owned();
        for mut e in read(&self.path).map_err(io)? {
            e.prev = prev;
            e.mac = next.mac(&e);
            prev = e.mac.clone();
            out.extend(serde_json::to_vec(&e).map_err(|e| io(std::io::Error::other(e)))?);
            out.push(b'\n');
        }
        let tmp = self.path.with_extension("rekey");
        {
            let _ = std::fs::remove_file(&tmp);
            let mut f = open_private(&tmp).map_err(io)?;
            f.write_all(&out).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(next)
    }

    /// Checks every line: its MAC, its sequence number and its link to the line before.
    pub fn verify(&self) -> std::io::Result<Verification> {
        let mut v = Verification::default();
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
            Err(e) => return Err(e),
        };
        let mut prev = GENESIS.to_owned();
        let mut expected_seq = 1;
        for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
            let line = line?;
            let n = i as u64 + 1;
            v.entries += 1;
            let Ok(e) = serde_json::from_slice::<Entry>(&line) else {
                v.problems.push((n, "not an audit entry".into()));
                continue;
            };
            let problem = if e.mac != self.mac(&e) {
                Some("edited: its MAC does not verify".to_owned())
            } else if e.prev != prev {
                Some("a line before it was removed, inserted or reordered".to_owned())
            } else if e.seq != expected_seq {
                Some(format!("sequence {} where {expected_seq} was expected", e.seq))
            } else {
                None
            };
            if let Some(p) = problem {
                v.problems.push((n, p));
            }
            prev = e.mac;
            expected_seq = e.seq + 1;
        }
        Ok(v)
    }
}

/// Every entry, oldest first; lines that do not parse are skipped (`verify` reports them).
pub fn read(path: &Path) -> std::io::Result<Vec<Entry>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).split(b'\n') {
        if let Ok(e) = serde_json::from_slice::<Entry>(&line?) {
            out.push(e);
        }
    }
    Ok(out)
}

/// Opens (creating) the log for appending, owner-only: an existing file with a looser mode is
/// tightened.
fn open_private(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).read(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let file = o.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "audit log was readable by others; set to 0600");
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

/// The last complete line, without its newline; `None` for an empty file. A file that does
/// not end in a newline was torn by a failed write: its tail is not a line.
fn last_line(file: &mut File) -> std::io::Result<Option<Vec<u8>>> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    // Entries are short (fields are clipped): the last one is within the final 4 KiB.
    let start = len.saturating_sub(4096);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    if tail.last() != Some(&b'\n') {
        return Ok(Some(tail));
    }
    tail.pop();
    let begin = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Ok(Some(tail[begin..].to_vec()))
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_FIELD {
        return s.to_owned();
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The operating-system user running this process: `$USER` or `$LOGNAME`, else the name of
/// the real uid in `/etc/passwd`, else `uid:<n>`.
fn os_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return clip(&u);
        }
    }
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().next().map(str::to_owned))
    });
    let Some(uid) = uid else {
        return "unknown".into();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| format!("uid:{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> StoreKeys {
        StoreKeys::legacy(&crate::policy::keys::MasterKey::from_bytes(&[byte; 32]))
    }

    fn log(dir: &Path) -> AuditLog {
        AuditLog::new(&dir.join("audit.log"), &keys(7))
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vendorwall-audit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn appends_chain_and_verify() {
        let d = temp("chain");
        let l = log(&d);
        l.append(&Actor::Token("ops".into()), "destination.suspend", "mixpanel")
            .unwrap();
        l.append(&Actor::Cli("alice".into()), "incident.export", "3").unwrap();
        let all = read(l.path()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].seq, all[0].actor.as_str()), (1, "ops"));
        assert_eq!((all[1].actor.as_str(), all[1].target.as_str()), ("cli:alice", "3"));
        assert_eq!(all[1].prev, all[0].mac);
        let v = l.verify().unwrap();
        assert!(v.ok(), "{:?}", v.problems);
        assert_eq!(v.entries, 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(l.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn edits_deletions_and_a_wrong_key_are_found() {
        let d = temp("tamper");
        let l = log(&d);
        for i in 0..4 {
            l.append(&Actor::Token("ops".into()), "keys.rotate", &format!("dest{i}"))
                .unwrap();
        }
        let text = std::fs::read_to_string(l.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();

        // An edited target, MAC left as it was.
        std::fs::write(l.path(), text.replace("dest1", "destX")).unwrap();
        let v = l.verify().unwrap();
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
        assert_eq!(v.problems[0].0, 2);

        // A line deleted from the middle.
        let cut = [lines[0], lines[2], lines[3]].join("\n") + "\n";
        std::fs::write(l.path(), cut).unwrap();
        let v = l.verify().unwrap();
        assert_eq!(v.problems.first().map(|p| p.0), Some(2), "{:?}", v.problems);

        // The right log under another key: nothing verifies.
        std::fs::write(l.path(), &text).unwrap();
        let other = AuditLog::new(l.path(), &keys(8));
        assert_eq!(other.verify().unwrap().problems.len(), 4);
        assert!(l.verify().unwrap().ok());

        // A torn final line stops appends instead of chaining past it.
        let mut f = std::fs::OpenOptions::new().append(true).open(l.path()).unwrap();
        f.write_all(b"{\"seq\":5,").unwrap();
        assert!(matches!(
            l.append(&Actor::Cli("x".into()), "ledger.prune", "all"),
            Err(AuditError::Corrupt(_))
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn rekeying_keeps_the_entries_under_the_new_key_only() {
        let d = temp("rekey");
        let l = log(&d);
        for t in ["a", "b", "c"] {
            l.append(&Actor::Token("ops".into()), "destination.suspend", t).unwrap();
        }
        let new_key = keys(9);
        let moved = l.rekey(&new_key).unwrap();
        assert!(moved.verify().unwrap().ok());
        assert_eq!(
            l.verify().unwrap().problems.len(),
            3,
            "the old key no longer verifies it"
        );
        let targets: Vec<String> = read(moved.path()).unwrap().into_iter().map(|e| e.target).collect();
        assert_eq!(targets, ["a", "b", "c"]);
        moved
            .append(&Actor::Cli("x".into()), "keys.rotate_master", "store")
            .unwrap();
        assert!(moved.verify().unwrap().ok());
        // A tampered log is not re-keyed.
        let text = std::fs::read_to_string(moved.path()).unwrap();
        std::fs::write(moved.path(), text.replacen("\"b\"", "\"B\"", 1)).unwrap();
        assert!(matches!(moved.rekey(&keys(1)), Err(AuditError::Corrupt(_))));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn long_fields_are_clipped_and_the_user_is_named() {
        let d = temp("clip");
        let l = log(&d);
        let e = l.append(&Actor::cli(), "outbox.purge", &"é".repeat(300)).unwrap();
        assert!(e.target.len() <= MAX_FIELD);
        assert!(e.actor.starts_with("cli:") && e.actor.len() > 4);
        assert!(l.verify().unwrap().ok());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
