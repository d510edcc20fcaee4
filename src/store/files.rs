//! Who may read what vendorwall keeps on disk: only the user it runs as.
//!
//! - The process creates files with umask `077` ([`private_umask`], set by the CLI before
//!   any command runs), so nothing it writes is group- or world-readable, whatever the
//!   caller's umask was.
//! - The store directory is `0700` and every file directly in it (the SQLite database, its
//!   `-wal` and `-shm` files, `serve.lock`, key files) `0600` ([`secure_store_dir`]). A store
//!   created by an older version or copied with looser modes is tightened on open, with a
//!   warning naming the store path (configuration, never personal data).
//! - Export files are written `0600` and their directory made `0700`, replacing whatever
//!   modes an existing file or directory had ([`write_private`], [`private_dir`]).

use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Sets the process umask to `077`: every file and directory created from here on is
/// private to the user vendorwall runs as.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates `dir` (and its parents) as needed, and makes it `0700`. An existing directory with
/// looser modes is tightened; `what` names it in the warning.
pub fn private_dir(dir: &Path, what: &str) -> io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    tighten(dir, DIR_MODE, what)
}

/// Makes the store directory `0700` and every regular file directly in it `0600`, creating
/// the directory if needed; loosened modes are tightened with a warning.
pub fn secure_store_dir(dir: &Path) -> io::Result<()> {
    private_dir(dir, "the store directory")?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // Not followed: a symbolic link's target is not the store's to change.
        if entry.file_type()?.is_file() {
            tighten(&entry.path(), FILE_MODE, "a store file")?;
        }
    }
    Ok(())
}

/// Gives `path` no more than `mode` (owner bits kept as they are, group and others removed).
fn tighten(path: &Path, mode: u32, what: &str) -> io::Result<()> {
    let current = std::fs::symlink_metadata(path)?.permissions().mode() & 0o777;
    if current & !mode != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{current:o}"),
            "{what} was readable by other users; its mode is now {:o}",
            current & mode
        );
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` readable by its owner only: a new file is created `0600`, an
/// existing one is re-moded `0600` before it is truncated and written.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = create_private(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Opens `path` for writing (created or truncated), `0600` whatever it was before.
pub fn create_private(path: &Path) -> io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)?;
    // Before any byte is written: an existing file keeps its old mode through `open`.
    f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    f.set_len(0)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn loose_store_modes_are_tightened_and_exports_replace_loose_files() {
        let dir = std::env::temp_dir().join(format!("vw-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let db = dir.join("vendorwall.db");
        std::fs::write(&db, b"x").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let owner_only = dir.join("key");
        std::fs::write(&owner_only, b"k").unwrap();
        std::fs::set_permissions(&owner_only, std::fs::Permissions::from_mode(0o400)).unwrap();

        secure_store_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&owner_only), 0o400, "tightened, never loosened");

        let export = dir.join("subjects.csv");
        std::fs::write(&export, b"old, longer content").unwrap();
        std::fs::set_permissions(&export, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_private(&export, b"new").unwrap();
        assert_eq!(mode(&export), 0o600);
        assert_eq!(std::fs::read(&export).unwrap(), b"new");

        let nested = dir.join("a/b");
        private_dir(&nested, "an export directory").unwrap();
        assert_eq!(mode(&nested), 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
