//! Delivery: one worker per destination, draining its outbox queue to the vendor.
//!
//! A worker leases the oldest rows of its destination (up to four batches of
//! `batch_max_records`), splits them by the vendor's endpoint and by `batch_max_bytes`, and
//! sends each batch in the vendor's format
//! ([`Protocol::request`](crate::protocol::Protocol::request)); a delivered batch is recorded
//! in the store while the next one is on its way to the vendor. After a lease
//! that came back short of a full batch it leases again no sooner than `batch_linger_ms`
//! later, so a steady stream goes out in full batches rather than one small batch per group
//! commit. The vendor's answer is read by its protocol
//! ([`Protocol::verdict`](crate::protocol::Protocol::verdict)):
//!
//! - delivered: [`OutboxStore::complete`](crate::store::OutboxStore::complete) removes the rows;
//! - partly taken (Mixpanel `/import?strict=1` 400): exactly the refused records are
//!   dead-lettered with the vendor's reason and the rest count as delivered;
//! - some refused, nothing taken (Amplitude 400 with `events_with_invalid_fields`): the
//!   refused are dead-lettered and the rest sent again;
//! - on a timeout, a connection error, 408, 429 or 5xx, the same batch is sent again after an
//!   exponential backoff with jitter, never sooner than the vendor's `Retry-After`; the
//!   records keep their idempotency keys, so a retry of a request the vendor had already
//!   applied deduplicates;
//! - on 401/403 the configuration is wrong, not the records: they stay queued and the worker
//!   retries at the longest backoff;
//! - on 413 the batch is halved (a single record that is still too large is dead-lettered).
//!
//! A suspended destination's worker sends nothing; its queue keeps growing durably.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::Destination;
use crate::outbox::Outbox;
use crate::pipeline::Pipeline;
use crate::protocol::{Endpoint, Protocol, VendorAnswer, VendorVerdict};
use crate::store::{DestinationState, OutboxRow, now_ms};
use crate::telemetry::Metrics;

/// Exponential backoff with jitter: attempt n waits a random time between half and all of
/// `initial · 2ⁿ` (capped at `max`), and never less than the vendor's `Retry-After`.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// Jitter needs spread, not cryptographic strength.
    rng: fastrand::Rng,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            initial,
            max,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn delay(&mut self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.initial.saturating_mul(1u32 << attempt.min(20)).min(self.max);
        let half = exp / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.rng.u64(..=half.as_nanos() as u64))
        };
        let d = half + jitter;
        match retry_after {
            // Honour the vendor, but not beyond an hour: a broken header must not stall us.
            Some(ra) => d.max(ra.min(Duration::from_secs(3600))),
            None => d,
        }
    }
}

/// Why a send attempt did not get an answer.
fn transport_verdict(e: &reqwest::Error) -> VendorVerdict {
    let reason = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    VendorVerdict::Retry {
        after: None,
        reason: reason.to_owned(),
        // A timed-out request may have been applied; the unchanged idempotency key makes
        // the retry a duplicate the vendor drops.
        maybe_applied: e.is_timeout(),
    }
}

pub struct Worker {
    index: usize,
    dest: Destination,
    outbox: Arc<Outbox>,
    pipeline: Arc<Pipeline>,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    shutdown: watch::Receiver<bool>,
    backoff: Backoff,
    /// The last delivered batch's record in the store, still being written while the next
    /// batch goes to the vendor; `false` when it stopped unrecorded (shutdown).
    recording: Option<tokio::task::JoinHandle<bool>>,
}

/// Batches leased at once. Each batch's store record is written while the next one goes to
/// the vendor, so one lease should hold several: the worker waits for the last record
/// before it leases again (a lease reads the oldest queued rows, which include rows whose
/// record is not committed yet).
const LEASED_BATCHES: usize = 4;

enum Sent {
    Done,
    /// Shutting down or suspended: the rows stay queued.
    Stopped,
}

impl Worker {
    pub fn new(
        index: usize,
        dest: Destination,
        outbox: Arc<Outbox>,
        pipeline: Arc<Pipeline>,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Worker, reqwest::Error> {
        crate::init_crypto();
        let client = reqwest::Client::builder()
            .timeout(dest.request_timeout)
            .connect_timeout(dest.request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        let backoff = Backoff::new(dest.retry_initial_backoff, dest.retry_max_backoff, fastrand::u64(..));
        Ok(Worker {
            index,
            dest,
            outbox,
            pipeline,
            metrics,
            client,
            shutdown,
            backoff,
            recording: None,
        })
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    fn active(&self) -> bool {
        self.pipeline.destination_state(self.index) == DestinationState::Active
    }

    /// Sleeps, returning early (false) on shutdown.
    async fn pause(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.shutdown.changed() => false,
        }
    }

    pub async fn run(mut self) {
        let wake = self.outbox.wake_handle(self.index);
        tracing::info!(destination = %self.dest.name, "delivery worker started");
        // Whether the last lease came back short of a full batch: the queue was drained, so
        // let records accumulate for `batch_linger` rather than send one small batch per
        // group commit (each batch is a vendor request, a transaction and a ledger entry).
        let mut drained = false;
        let mut leased_at = Instant::now();
        // The kill-switch state this worker last acted on, logged once per change: an
        // operator (and a test) can see when a running server took a suspension.
        let mut held: Option<DestinationState> = None;
        while !self.stopping() {
            let state = self.pipeline.destination_state(self.index);
            if state != DestinationState::Active {
                if held != Some(state) {
                    tracing::info!(destination = %self.dest.name, "delivery held: destination {}", state.as_str());
                    held = Some(state);
                }
                self.pause(Duration::from_secs(1)).await;
                continue;
            }
            if held.take().is_some() {
                tracing::info!(destination = %self.dest.name, "delivery resumed");
            }
            // The linger counts from the short lease: time spent sending (or waiting for
            // new records) is part of it.
            let linger = self.dest.batch_linger.saturating_sub(leased_at.elapsed());
            if drained && !linger.is_zero() {
                if !self.pause(linger).await {
                    break;
                }
                // The destination may have been suspended meanwhile: check again first.
                drained = false;
                continue;
            }
            if !self.settle().await {
                break;
            }
            let store = self.outbox.store().clone();
            let name = self.dest.name.clone();
            let limit = self.dest.batch_max_records.saturating_mul(LEASED_BATCHES);
            leased_at = Instant::now();
            let leased = tokio::task::spawn_blocking(move || store.lease(&name, limit)).await;
            let rows = match leased {
                Ok(Ok(rows)) => rows,
                Ok(Err(e)) => {
                    tracing::error!(destination = %self.dest.name, error = %e, "cannot read the outbox");
                    self.pause(Duration::from_secs(1)).await;
                    continue;
                }
                Err(_) => return,
            };
            drained = rows.len() < limit;
            if rows.is_empty() {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = self.shutdown.changed() => {}
                }
                continue;
            }
            for batch in self.split(rows) {
                if let Sent::Stopped = self.send(batch).await {
                    break;
                }
            }
        }
        // A batch the vendor has is recorded before the worker stops.
        self.settle().await;
        tracing::info!(destination = %self.dest.name, "delivery worker stopped");
    }

    fn protocol(&self) -> &'static dyn Protocol {
        self.dest.vendor.protocol()
    }

    /// Splits leased rows into batches of one endpoint each, in order, within the record and
    /// byte caps.
    fn split(&self, rows: Vec<OutboxRow>) -> Vec<(Endpoint, Vec<OutboxRow>)> {
        let protocol = self.protocol();
        let mut out: Vec<(Endpoint, Vec<OutboxRow>)> = Vec::new();
        let mut bytes = 0usize;
        for row in rows {
            let ep = protocol.endpoint(row.kind, &self.dest.target);
            match out.last_mut() {
                Some((last, batch))
                    if *last == ep
                        && batch.len() < self.dest.batch_max_records
                        && bytes + row.payload.len() < self.dest.batch_max_bytes =>
                {
                    bytes += row.payload.len() + 1;
                    batch.push(row);
                }
                _ => {
                    bytes = row.payload.len() + 1;
                    out.push((ep, vec![row]));
                }
            }
        }
        out
    }

    async fn send(&mut self, (endpoint, batch): (Endpoint, Vec<OutboxRow>)) -> Sent {
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            let verdict = self.attempt(endpoint, &batch).await;
            self.metrics
                .destination(self.index)
                .attempt_latency
                .observe(started.elapsed());
            match verdict {
                VendorVerdict::Delivered => return self.complete(batch, Vec::new()).await,
                VendorVerdict::Partial { failed } => {
                    let mut dead = Vec::new();
                    let mut failed_ix = vec![false; batch.len()];
                    for (i, reason) in failed {
                        if let Some(row) = batch.get(i)
                            && !failed_ix[i]
                        {
                            failed_ix[i] = true;
                            dead.push((row.id, format!("vendor refused: {reason}")));
                        }
                    }
                    let ok = batch
                        .into_iter()
                        .zip(failed_ix)
                        .filter(|(_, failed)| !failed)
                        .map(|(r, _)| r)
                        .collect();
                    return self.complete(ok, dead).await;
                }
                VendorVerdict::RetryExcept { failed, after } => {
                    // Nothing was taken: the refused go to dead letters, the rest again.
                    let mut refused = vec![false; batch.len()];
                    let mut dead = Vec::new();
                    for (i, reason) in failed {
                        if let Some(row) = batch.get(i)
                            && !refused[i]
                        {
                            refused[i] = true;
                            dead.push((row.id, format!("vendor refused: {reason}")));
                        }
                    }
                    if dead.is_empty() {
                        let delay = self.backoff.delay(attempt, after);
                        if !self.retry_after(&batch, delay).await {
                            return Sent::Stopped;
                        }
                    } else {
                        let rest: Vec<OutboxRow> = batch
                            .into_iter()
                            .zip(refused)
                            .filter(|(_, r)| !r)
                            .map(|(row, _)| row)
                            .collect();
                        if let Sent::Stopped = self.complete(Vec::new(), dead).await {
                            return Sent::Stopped;
                        }
                        if rest.is_empty() {
                            return Sent::Done;
                        }
                        return Box::pin(self.send((endpoint, rest))).await;
                    }
                }
                VendorVerdict::Rejected { reason } => {
                    let dead = batch
                        .iter()
                        .map(|r| (r.id, format!("vendor refused: {reason}")))
                        .collect();
                    return self.complete(Vec::new(), dead).await;
                }
                VendorVerdict::TooLarge if batch.len() == 1 => {
                    let dead = vec![(batch[0].id, "vendor refused: record too large".to_owned())];
                    return self.complete(Vec::new(), dead).await;
                }
                VendorVerdict::Bisect { reason } if batch.len() == 1 => {
                    let dead = vec![(batch[0].id, format!("vendor refused: {reason}"))];
                    return self.complete(Vec::new(), dead).await;
                }
                VendorVerdict::TooLarge | VendorVerdict::Bisect { .. } => {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    for half in [first, second] {
                        if let Sent::Stopped = Box::pin(self.send((endpoint, half))).await {
                            return Sent::Stopped;
                        }
                    }
                    return Sent::Done;
                }
                VendorVerdict::Retry { after, reason, .. } => {
                    let delay = self.backoff.delay(attempt, after);
                    tracing::warn!(destination = %self.dest.name, endpoint = endpoint.name, records = batch.len(),
                        attempt, reason = %reason, delay_ms = delay.as_millis() as u64, "delivery failed; will retry");
                    if !self.retry_after(&batch, delay).await {
                        return Sent::Stopped;
                    }
                }
                VendorVerdict::Misconfigured { .. } => {
                    let delay = self.backoff.delay(attempt.max(30), None);
                    tracing::error!(destination = %self.dest.name, endpoint = endpoint.name,
                        key = self.protocol().destination_spec().key_name,
                        "vendor refused vendorwall's credentials; check the destination's key and secret");
                    if !self.retry_after(&batch, delay).await {
                        return Sent::Stopped;
                    }
                }
            }
            attempt = attempt.saturating_add(1);
        }
    }

    /// Counts a failed attempt and waits; false if the worker should stop instead.
    async fn retry_after(&mut self, batch: &[OutboxRow], delay: Duration) -> bool {
        self.metrics.destination(self.index).retried.fetch_add(1, Relaxed);
        let store = self.outbox.store().clone();
        let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
        let _ = tokio::task::spawn_blocking(move || store.note_attempt(&ids)).await;
        self.pause(delay).await && self.active()
    }

    /// Waits for the last batch's store record; false if it stopped unrecorded.
    async fn settle(&mut self) -> bool {
        match self.recording.take() {
            Some(task) => task.await.unwrap_or(false),
            None => true,
        }
    }

    /// Records a finished batch: `delivered` rows leave the outbox for the ledger, `dead`
    /// ones move to the dead letters. The record is written in the background while the
    /// worker sends the next batch, one record at a time and in order (each waits for the
    /// one before), so the ledger's chain order is the delivery order.
    async fn complete(&mut self, delivered: Vec<OutboxRow>, dead: Vec<(i64, String)>) -> Sent {
        if !self.settle().await {
            return Sent::Stopped;
        }
        let store = self.outbox.store().clone();
        let outbox = Arc::clone(&self.outbox);
        let metrics = Arc::clone(&self.metrics);
        let (index, name) = (self.index, self.dest.name.clone());
        let mut shutdown = self.shutdown.clone();
        self.recording = Some(tokio::spawn(async move {
            let (n_ok, n_dead) = (delivered.len() as u64, dead.len() as u64);
            let (delivered, dead) = (Arc::new(delivered), Arc::new(dead));
            loop {
                let (store, dest) = (store.clone(), name.clone());
                let (d, x) = (Arc::clone(&delivered), Arc::clone(&dead));
                let result = tokio::task::spawn_blocking(move || store.complete(&dest, &d, &x, now_ms())).await;
                match result {
                    Ok(Ok(())) => break,
                    Ok(Err(e)) => {
                        // The vendor has the records; until the store takes the
                        // acknowledgement they would be sent again (deduplicated by their
                        // idempotency keys), so keep trying.
                        tracing::error!(destination = %name, error = %e, "cannot record delivery; retrying");
                        if *shutdown.borrow() {
                            return false;
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                            _ = shutdown.changed() => return false,
                        }
                    }
                    Err(_) => return false,
                }
            }
            let m = metrics.destination(index);
            m.delivered.fetch_add(n_ok, Relaxed);
            m.dead_lettered.fetch_add(n_dead, Relaxed);
            outbox.removed(index, n_ok + n_dead);
            if n_dead > 0 {
                tracing::warn!(destination = %name, records = n_dead, "vendor refused records; dead-lettered");
            }
            true
        }));
        Sent::Done
    }

    async fn attempt(&self, endpoint: Endpoint, batch: &[OutboxRow]) -> VendorVerdict {
        let payloads: Vec<Vec<u8>> = batch.iter().map(|r| r.payload.clone()).collect();
        let (vendor, target) = (self.dest.vendor, self.dest.target.clone());
        // Encoding and compressing a full batch (megabytes) takes milliseconds of CPU: done
        // on the blocking pool, not on the async workers that serve ingest.
        let built = tokio::task::spawn_blocking(move || {
            let records: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
            vendor.protocol().request(&target, endpoint, &records, now_ms())
        })
        .await;
        let Ok(request) = built else {
            return VendorVerdict::Retry {
                after: None,
                reason: "encoding the batch failed".to_owned(),
                maybe_applied: false,
            };
        };
        let mut builder = self.client.post(request.url);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        let response = match builder.body(request.body).send().await {
            Ok(r) => r,
            Err(e) => return transport_verdict(&e),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return transport_verdict(&e),
        };
        let answer = VendorAnswer {
            status,
            retry_after: retry_after.as_deref(),
            body: &body,
        };
        self.protocol().verdict(endpoint, &answer, batch.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), 42);
        for attempt in 0..8 {
            let exp = (Duration::from_millis(100) * (1 << attempt)).min(Duration::from_secs(2));
            for _ in 0..50 {
                let d = b.delay(attempt, None);
                assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d:?} vs {exp:?}");
            }
        }
        assert!(b.delay(0, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
        assert_eq!(b.delay(0, Some(Duration::from_secs(99_999))), Duration::from_secs(3600));
        let distinct: std::collections::HashSet<_> = (0..20).map(|_| b.delay(5, None)).collect();
        assert!(distinct.len() > 10, "jitter should spread delays");
    }
}
