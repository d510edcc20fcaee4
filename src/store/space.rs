//! Headroom on the store's filesystem, so that a full disk recovers by itself.
//!
//! Delivery is what frees space (a delivered record leaves the outbox), but recording a
//! delivery is itself a write. If ingest may take the last byte, a disk that fills while the
//! vendor is down stays full: every byte delivery frees is taken again by the SDKs' retries
//! before delivery can record the next batch. Two measures keep delivery able to write:
//!
//! - **Ingest stops first.** While the filesystem has less than `[store] min_free_bytes`
//!   free (counting the database's own free pages, which new records reuse before the file
//!   grows), or less than half of it on the filesystem itself (every write goes through
//!   SQLite's write-ahead log first, which grows on the filesystem up to its checkpoint size,
//!   about 4 MiB, whatever the database's free pages), ingest is refused with the vendor's
//!   retryable answer (counted under reason `store_full`) and `/readyz` answers 503, so a
//!   load balancer sends elsewhere. Delivery keeps the headroom; as it drains, pages come
//!   free inside the database and ingest resumes.
//! - **A reserve file.** `<store>/space.reserve` (`[store] reserve_bytes`, preallocated) is
//!   given up when a delivery record fails with `SQLITE_FULL` anyway (the disk filled from
//!   outside vendorwall), so that record can commit. Ingest stays refused until the reserve
//!   is back; it is re-created as soon as there is room for it and the headroom.
//!
//! The state is measured by [`Space::check`] (about every quarter second in `serve`), and read
//! by the ingest path and `/readyz` from an atomic: no system call per request.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// The reserve file's name in the store directory.
pub const RESERVE_FILE: &str = "space.reserve";

/// Why ingest is refused for space, as the last check found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Headroom and reserve in place: ingest is accepted.
    Enough,
    /// Less than `min_free_bytes` free.
    Short,
    /// The reserve was given up to a delivery record and is not back yet.
    ReserveSpent,
}

pub struct Space {
    dir: PathBuf,
    min_free_bytes: AtomicU64,
    reserve_bytes: u64,
    /// `Room` as a number, for lock-free reads on the ingest path.
    room: AtomicU64,
    /// Serialises creating and releasing the reserve file.
    reserve: Mutex<()>,
    /// The reserve was released and not re-created since.
    spent: AtomicBool,
}

impl std::fmt::Debug for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Space")
            .field("dir", &self.dir)
            .field("min_free_bytes", &self.min_free_bytes.load(Relaxed))
            .field("reserve_bytes", &self.reserve_bytes)
            .field("room", &self.room())
            .finish()
    }
}

fn room_code(r: Room) -> u64 {
    match r {
        Room::Enough => 0,
        Room::Short => 1,
        Room::ReserveSpent => 2,
    }
}

/// Bytes an unprivileged writer may still use on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

impl Space {
    /// Headroom for the store in `dir`; call [`Space::check`] before relying on it.
    pub fn new(dir: &Path, min_free_bytes: u64, reserve_bytes: u64) -> Space {
        Space {
            dir: dir.to_owned(),
            min_free_bytes: AtomicU64::new(min_free_bytes),
            reserve_bytes,
            room: AtomicU64::new(room_code(Room::Enough)),
            reserve: Mutex::new(()),
            spent: AtomicBool::new(false),
        }
    }

    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_bytes.load(Relaxed)
    }

    /// Changes the headroom (takes effect at the next check).
    pub fn set_min_free_bytes(&self, bytes: u64) {
        self.min_free_bytes.store(bytes, Relaxed);
    }

    /// What the last check found.
    pub fn room(&self) -> Room {
        match self.room.load(Relaxed) {
            0 => Room::Enough,
            1 => Room::Short,
            _ => Room::ReserveSpent,
        }
    }

    /// Whether ingest is refused for space.
    pub fn refusing_ingest(&self) -> bool {
        self.room() != Room::Enough
    }

    fn reserve_path(&self) -> PathBuf {
        self.dir.join(RESERVE_FILE)
    }

    /// Measures the filesystem (`reusable`: bytes free inside the store's own files, which
    /// writes fill before growing them), re-creates the reserve if it is missing and there is
    /// room for it beside the headroom, and records what ingest may do.
    pub fn check(&self, reusable: u64) -> std::io::Result<Room> {
        let min = self.min_free_bytes();
        let free = free_bytes(&self.dir)?;
        if self.reserve_bytes > 0 && free >= min.saturating_add(self.reserve_bytes) {
            self.ensure_reserve(free)?;
        }
        let free = if self.reserve_bytes > 0 {
            free_bytes(&self.dir)?
        } else {
            free
        };
        let room = if self.spent.load(Relaxed) {
            Room::ReserveSpent
        } else if free < min / 2 || free.saturating_add(reusable) < min {
            Room::Short
        } else {
            Room::Enough
        };
        let before = self.room.swap(room_code(room), Relaxed);
        if before != room_code(room) {
            match room {
                Room::Enough => tracing::info!(free_bytes = free, "store has room again; accepting ingest"),
                Room::Short => tracing::warn!(
                    free_bytes = free,
                    reusable_bytes = reusable,
                    min_free_bytes = min,
                    "store short of space: refusing ingest (503) so delivery can record and drain"
                ),
                Room::ReserveSpent => {
                    tracing::warn!("store reserve given up to a delivery record: refusing ingest until it is back")
                }
            }
        }
        Ok(room)
    }

    /// Creates the reserve file if it is missing or short; `free` is what the filesystem has.
    fn ensure_reserve(&self, free: u64) -> std::io::Result<()> {
        let _g = self.reserve.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.reserve_path();
        let have = std::fs::metadata(&path).map_or(0, |m| m.len());
        if have >= self.reserve_bytes {
            if self.spent.swap(false, Relaxed) {
                tracing::info!(bytes = self.reserve_bytes, "store reserve re-created");
            }
            return Ok(());
        }
        if free < self.min_free_bytes().saturating_add(self.reserve_bytes - have) {
            return Ok(());
        }
        let made = allocate(&path, self.reserve_bytes);
        if made.is_err() {
            // A partial file would look like a reserve; the next check tries again.
            let _ = std::fs::remove_file(&path);
        }
        made?;
        if self.spent.swap(false, Relaxed) {
            tracing::info!(bytes = self.reserve_bytes, "store reserve re-created");
        }
        Ok(())
    }

    /// Creates the reserve at start-up when there is room (else the checks do it later).
    pub fn start(&self) -> std::io::Result<()> {
        if self.reserve_bytes == 0 {
            return Ok(());
        }
        let free = free_bytes(&self.dir)?;
        self.ensure_reserve(free)
    }

    /// Gives up the reserve so a delivery record that hit a full disk can commit; ingest is
    /// refused until it is back. Returns whether there was a reserve to give up.
    pub fn release_reserve(&self) -> bool {
        let _g = self.reserve.lock().unwrap_or_else(|p| p.into_inner());
        let released = std::fs::remove_file(self.reserve_path()).is_ok();
        if released {
            self.spent.store(true, Relaxed);
            self.room.store(room_code(Room::ReserveSpent), Relaxed);
            tracing::warn!(
                bytes = self.reserve_bytes,
                "disk full while recording a delivery: store reserve given up"
            );
        }
        released
    }
}

/// A private file of `bytes` whose blocks are allocated (not a sparse file, which would
/// reserve nothing).
fn allocate(path: &Path, bytes: u64) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    if rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, bytes).is_err() {
        // Filesystems without fallocate(2): write the zeros.
        let chunk = vec![0u8; 1 << 20];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n])?;
            left -= n as u64;
        }
    }
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("vw-space-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn ingest_is_refused_under_the_headroom_and_accepted_again_above_it() {
        let d = dir("gate");
        let free = free_bytes(&d).unwrap();
        let s = Space::new(&d, free.saturating_add(free / 4), 0);
        assert_eq!(s.check(0).unwrap(), Room::Short);
        assert!(s.refusing_ingest());
        // Pages free inside the database count as room…
        assert_eq!(s.check(free).unwrap(), Room::Enough);
        // …but half the headroom must be on the filesystem itself (the write-ahead log).
        s.set_min_free_bytes(free.saturating_mul(3));
        assert_eq!(s.check(u64::MAX / 2).unwrap(), Room::Short);
        s.set_min_free_bytes(0);
        assert_eq!(s.check(0).unwrap(), Room::Enough);
        assert!(!s.refusing_ingest());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_reserve_is_allocated_given_up_and_re_created() {
        let d = dir("reserve");
        let s = Space::new(&d, 0, 1 << 20);
        s.start().unwrap();
        let path = d.join(RESERVE_FILE);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 1 << 20);
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            // Blocks allocated, not a sparse file.
            assert!(meta.blocks() * 512 >= 1 << 20, "{} blocks", meta.blocks());
        }
        assert_eq!(s.check(0).unwrap(), Room::Enough);
        assert!(s.release_reserve());
        assert!(!path.exists());
        assert_eq!(s.room(), Room::ReserveSpent);
        assert!(s.refusing_ingest());
        assert!(!s.release_reserve(), "nothing left to give up");
        // Room for it again: re-created, ingest accepted.
        assert_eq!(s.check(0).unwrap(), Room::Enough);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn no_reserve_is_made_when_it_would_eat_the_headroom() {
        let d = dir("no-room");
        let free = free_bytes(&d).unwrap();
        let s = Space::new(&d, free.saturating_add(64 << 20), 1 << 20);
        s.start().unwrap();
        assert!(!d.join(RESERVE_FILE).exists());
        let _ = std::fs::remove_dir_all(&d);
    }
}
