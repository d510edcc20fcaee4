//! The store's one write connection, with precedence for everything that is not ingest.
//!
//! Ingest's group-commit thread writes back to back while the gateway is saturated: it
//! releases the connection and asks for it again at once. `std::sync::Mutex` is not fair, so
//! the thread that just released it usually takes it again before a woken waiter is
//! scheduled, and delivery (whose ledger write and attempt counts need the same connection)
//! falls far behind ingest for as long as the overload lasts. Here every writer but ingest
//! announces itself before it waits, and ingest does not take the connection while anyone
//! has announced: a delivery batch waits for at most the one ingest transaction in progress.
//! Ingest cannot starve in turn: the other writers are delivery workers (one per
//! destination, each writing once per batch between vendor requests) and operator commands.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, MutexGuard};

use rusqlite::Connection;

pub(super) struct Writer {
    conn: Mutex<Connection>,
    /// Writers other than ingest waiting for `conn`.
    waiting: AtomicUsize,
    /// Where ingest waits while `waiting` is non-zero.
    turn: Mutex<()>,
    clear: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the connection usable: SQLite rolls back an
    // unfinished transaction when the next one begins.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Writer {
    pub(super) fn new(conn: Connection) -> Writer {
        Writer {
            conn: Mutex::new(conn),
            waiting: AtomicUsize::new(0),
            turn: Mutex::new(()),
            clear: Condvar::new(),
        }
    }

    /// The connection, ahead of ingest.
    pub(super) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.waiting.fetch_add(1, SeqCst);
        let conn = lock(&self.conn);
        if self.waiting.fetch_sub(1, SeqCst) == 1 {
            // Taking `turn` orders this notification after any ingest thread's check of
            // `waiting`, so none sleeps through it.
            let _turn = lock(&self.turn);
            self.clear.notify_all();
        }
        conn
    }

    /// The connection for ingest's group commit: once no other writer is waiting.
    pub(super) fn lock_ingest(&self) -> MutexGuard<'_, Connection> {
        if self.waiting.load(SeqCst) > 0 {
            let mut turn = lock(&self.turn);
            while self.waiting.load(SeqCst) > 0 {
                turn = self.clear.wait(turn).unwrap_or_else(|p| p.into_inner());
            }
        }
        lock(&self.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    /// With one thread taking the connection for ingest back to back, each other writer gets
    /// it after at most the ingest transaction in progress when it asked (plus the one
    /// started between its announcement and the holder's release).
    #[test]
    fn other_writers_go_before_back_to_back_ingest() {
        let writer = Arc::new(Writer::new(Connection::open_in_memory().unwrap()));
        let ingested = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ingest = {
            let (writer, ingested, stop) = (writer.clone(), ingested.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    let conn = writer.lock_ingest();
                    // A transaction's worth of holding the connection.
                    conn.execute_batch("SELECT count(*) FROM sqlite_master").unwrap();
                    std::thread::yield_now();
                    ingested.fetch_add(1, SeqCst);
                    drop(conn);
                }
            })
        };
        while ingested.load(SeqCst) < 10 {
            std::thread::yield_now();
        }
        let mut worst = 0;
        for _ in 0..200 {
            let before = ingested.load(SeqCst);
            let conn = writer.lock();
            worst = worst.max(ingested.load(SeqCst) - before);
            drop(conn);
        }
        stop.store(true, SeqCst);
        ingest.join().unwrap();
        assert!(worst <= 2, "a writer waited behind {worst} ingest transactions");
    }
}
