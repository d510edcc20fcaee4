//! The outbox: a durable queue of per-destination, already-sanitised vendor records.
//!
//! # Invariants
//!
//! - **Acknowledged means durable.** [`Outbox::enqueue`] resolves only after the rows are
//!   committed and synced by the [`Store`]. The ingest route answers the SDK after that, so a
//!   crash at any point loses no record an SDK was told was taken.
//! - **Group commit.** One committer thread owns appends. While it commits, new requests
//!   queue in a channel; the next commit takes all of them (up to
//!   `store.group_commit_max_records`) in one transaction and one fsync, then wakes every
//!   waiting request. Under load, the cost of a sync is shared by every request that arrived
//!   during the previous one.
//! - **Bounded memory.** The channel holds at most [`CHANNEL_REQUESTS`] pending requests; a
//!   destination whose queue passes `max_queue_records` makes ingest answer 503
//!   ([`Outbox::over_limit`]), so a vendor outage grows the queue on disk, not in memory.
//! - Depth per destination is kept in memory for backpressure and metrics: counted up by the
//!   committer, down by delivery, and re-read from the store every second
//!   ([`Outbox::refresh_stats`]) so changes made by the CLI are picked up.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::store::{NewRow, Store, StoreError};
use crate::telemetry::Metrics;

/// How many requests may wait for the committer before `enqueue` itself waits.
pub const CHANNEL_REQUESTS: usize = 4096;

struct Pending {
    rows: Vec<NewRow>,
    done: oneshot::Sender<Result<(), String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("store unavailable")]
    Store,
    #[error("outbox is shutting down")]
    Closed,
}

pub struct Outbox {
    store: Arc<dyn Store>,
    tx: mpsc::Sender<Pending>,
    metrics: Arc<Metrics>,
    /// Destination name → index into `metrics.destinations`.
    index: HashMap<String, usize>,
    wake: Vec<Arc<Notify>>,
}

impl Outbox {
    /// Starts the committer thread. `destinations` are the configured destination names, in
    /// the order of `metrics.destinations`.
    pub fn start(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        group_commit_max_records: usize,
    ) -> Result<Arc<Outbox>, StoreError> {
        let index: HashMap<String, usize> = metrics
            .destinations
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), i))
            .collect();
        let wake: Vec<Arc<Notify>> = (0..index.len()).map(|_| Arc::new(Notify::new())).collect();
        let (tx, rx) = mpsc::channel(CHANNEL_REQUESTS);
        let outbox = Arc::new(Outbox {
            store: store.clone(),
            tx,
            metrics: metrics.clone(),
            index: index.clone(),
            wake: wake.clone(),
        });
        outbox.refresh_stats()?;
        std::thread::Builder::new()
            .name("vw-commit".into())
            .spawn(move || committer(rx, store, metrics, index, wake, group_commit_max_records))
            .map_err(|e| StoreError::Unavailable(format!("cannot start committer: {e}")))?;
        Ok(outbox)
    }

    /// Queues rows durably; resolves once they are committed.
    pub async fn enqueue(&self, rows: Vec<NewRow>) -> Result<(), EnqueueError> {
        if rows.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Pending { rows, done })
            .await
            .map_err(|_| EnqueueError::Closed)?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(EnqueueError::Store),
            Err(_) => Err(EnqueueError::Closed),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn destination_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Whether the destination's queue is past its bound.
    pub fn over_limit(&self, destination: usize, max_queue_records: u64) -> bool {
        self.metrics.destination(destination).depth.load(Relaxed) >= max_queue_records
    }

    /// Wakes a destination's worker when rows are added.
    pub fn wake_handle(&self, destination: usize) -> Arc<Notify> {
        self.wake[destination].clone()
    }

    /// Delivery took `n` rows out of a destination's queue.
    pub fn removed(&self, destination: usize, n: u64) {
        let d = &self.metrics.destination(destination).depth;
        let _ = d.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(n)));
    }

    /// Re-reads depth and oldest age of every destination from the store.
    pub fn refresh_stats(&self) -> Result<(), StoreError> {
        for d in &self.metrics.destinations {
            let stats = self.store.queue_stats(&d.name)?;
            d.depth.store(stats.depth, Relaxed);
            d.oldest_enqueued_at_ms
                .store(stats.oldest_enqueued_at_ms.unwrap_or(0), Relaxed);
        }
        Ok(())
    }
}

fn committer(
    mut rx: mpsc::Receiver<Pending>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    index: HashMap<String, usize>,
    wake: Vec<Arc<Notify>>,
    max_records: usize,
) {
    let mut group: Vec<Pending> = Vec::new();
    let mut rows: Vec<NewRow> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut n = first.rows.len();
        group.push(first);
        while n < max_records {
            match rx.try_recv() {
                Ok(p) => {
                    n += p.rows.len();
                    group.push(p);
                }
                Err(_) => break,
            }
        }
        // Move the rows out so one slice goes to the store, keeping each sender.
        let mut counts = vec![0u64; wake.len()];
        for p in &mut group {
            for r in &p.rows {
                if let Some(&i) = index.get(&r.destination) {
                    counts[i] += 1;
                }
            }
            rows.append(&mut p.rows);
        }
        let started = Instant::now();
        let result = store.append(&rows);
        metrics.commit_latency.observe(started.elapsed());
        match &result {
            Ok(()) => {
                metrics.commits.fetch_add(1, Relaxed);
                metrics.committed_records.fetch_add(rows.len() as u64, Relaxed);
                for (i, c) in counts.iter().enumerate() {
                    if *c > 0 {
                        let d = metrics.destination(i);
                        d.enqueued.fetch_add(*c, Relaxed);
                        d.depth.fetch_add(*c, Relaxed);
                        wake[i].notify_one();
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, records = rows.len(), "group commit failed"),
        }
        rows.clear();
        for p in group.drain(..) {
            let _ = p.done.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;
    use crate::store::sqlite::SqliteStore;

    fn tmp() -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!(
            "vw-outbox-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_enqueues_share_commits_and_all_land() {
        let dir = tmp();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).unwrap());
        let metrics = Arc::new(Metrics::new(&["a".into(), "b".into()]));
        let outbox = Outbox::start(store.clone(), metrics.clone(), 10_000).unwrap();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let outbox = outbox.clone();
            tasks.push(tokio::spawn(async move {
                let rows = (0..5)
                    .map(|j| NewRow {
                        destination: if j % 2 == 0 { "a" } else { "b" }.into(),
                        kind: Kind::Track,
                        payload: format!("{i}-{j}").into_bytes(),
                        enqueued_at_ms: 1,
                        meta: None,
                    })
                    .collect();
                outbox.enqueue(rows).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.queue_stats("a").unwrap().depth, 600);
        assert_eq!(store.queue_stats("b").unwrap().depth, 400);
        assert_eq!(metrics.destination(0).depth.load(Relaxed), 600);
        assert_eq!(metrics.committed_records.load(Relaxed), 1000);
        let commits = metrics.commits.load(Relaxed);
        assert!(
            commits < 200,
            "requests should share commits, got {commits} commits for 200 requests"
        );
        assert!(outbox.over_limit(0, 600) && !outbox.over_limit(1, 600));
        outbox.removed(0, 1000);
        assert_eq!(metrics.destination(0).depth.load(Relaxed), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
