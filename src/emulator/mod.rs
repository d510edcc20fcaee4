//! Vendor emulators: a loopback HTTP/1 server that answers like a vendor's ingestion API
//! (`api.mixpanel.com`, `api.segment.io`, `us.i.posthog.com`, `api2.amplitude.com`),
//! records what it accepted, and fails on demand.
//!
//! Tests, `vendorwall demo` and the benchmarks point a destination at
//! [`Emulator::base_url`] instead of the real vendor. This module is the server: sockets,
//! recording and faults. What a request means — decoding, authentication, validation, the
//! answer — is the vendor's, in `src/protocol/<vendor>/emulator.rs`, reached through
//! [`Protocol::emulate`](crate::protocol::Protocol::emulate).
//!
//! # What is recorded
//!
//! Every accepted record, byte-for-byte as parsed (key order kept), request by request, with
//! the sequence number of its request: [`Emulator::received`]. Every request that got
//! as far as a handler, faulted or not, in [`Emulator::requests`], with its status
//! (0 when the connection was dropped instead of answered), the `ip` parameter it carried,
//! whether it was gzipped and which Basic username it used. Nothing is ever deduplicated:
//! a retried batch shows up twice, which is how tests detect duplicates (by `$insert_id`).
//! The standalone `vendorwall emulate`, which nobody can ask for them, only counts records
//! ([`Emulator::set_keep_records`]), so a long benchmark does not fill its memory.
//!
//! # Fault injection
//!
//! [`Emulator::set_fault`] switches behaviour for all later requests;
//! [`Emulator::fail_next`] queues one-shot faults that take precedence.
//! * [`Fault::Unreachable`] closes the listening socket (new connections are refused) and
//!   resets every open connection, keep-alive ones included; leaving it binds the same port
//!   again (`SO_REUSEADDR`). As a one-shot it resets the connection the request came on,
//!   without an answer and without recording.
//! * [`Fault::Status`] answers that status with a `{code,error,status}` JSON body.
//! * [`Fault::RateLimited`] answers 429 with `Retry-After`.
//! * [`Fault::Delay`] waits, then handles the request normally **and records it**, as a vendor
//!   that applied a request the client already gave up on would.
//!
//! Bodies are always read in full before a fault is applied, so a client sees the fault's
//! answer rather than a reset caused by an unread body.
//!
//! # Deliberately not emulated
//!
//! Deduplication, geolocation (`ip` is recorded, not acted on; properties are not
//! rewritten), string truncation to 255 chars, replacing future `/track` times, session
//! replay (`/record`), feature flags (`/flags`), remote settings, service accounts and
//! `project_id` checks, rate limiting by volume, CORS, and the EU/India hosts. Divergence on
//! purpose: a wrong but well-formed token on `/track`-style endpoints counts as invalid
//! (`0`), where real Mixpanel answers `1` and drops the data later, so mistakes are visible.

mod conn;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::conn::{ConnHandle, KillableListener};
use crate::protocol::{Answer, EmulatedProject, HttpRequest, Method, Vendor};

/// Largest request body read off the wire. Above every vendor's own limit (Mixpanel 10 MiB,
/// PostHog 20 MiB for `/batch`) so an oversized body still gets its 413 instead of a reset.
const MAX_WIRE_BODY_BYTES: usize = 40 << 20;
/// How long going unreachable waits for open connections to close.
const CONNECTION_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// What the emulated vendor project accepts.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// `127.0.0.1:0` for an ephemeral port.
    pub listen: SocketAddr,
    pub vendor: Vendor,
    /// The project key the vendor expects (Mixpanel project token, Segment write key,
    /// PostHog project API key, Amplitude API key).
    pub key: String,
    /// The vendor's secret (Mixpanel API secret, Amplitude secret key), if any.
    pub secret: Option<String>,
    /// Keep accepted records and request logs for inspection (see
    /// [`Emulator::set_keep_records`]); `vendorwall emulate` does not.
    pub keep_records: bool,
}

impl EmulatorConfig {
    /// Loopback, ephemeral port, no secret.
    pub fn new(vendor: Vendor, key: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            vendor,
            key: key.into(),
            secret: None,
            keep_records: true,
        }
    }

    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("listen", &self.listen)
            .field("vendor", &self.vendor)
            .field("key", &"[redacted]")
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("keep_records", &self.keep_records)
            .finish()
    }
}

/// How the emulator misbehaves; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    Unreachable,
    Status(u16),
    RateLimited { retry_after_secs: u64 },
    Delay(Duration),
}

/// One accepted record (an event, a profile or group update, a message).
#[derive(Clone, Debug)]
pub struct ReceivedRecord {
    /// The vendor's name for the endpoint (`track`, `import`, `batch`, `httpapi`).
    pub endpoint: &'static str,
    /// The record exactly as received (after base64/gzip decoding).
    pub record: Value,
    pub received_at: SystemTime,
    /// [`RequestLog::seq`] of the request that carried it.
    pub request_seq: u64,
}

impl ReceivedRecord {
    /// The record's idempotency key: Mixpanel `properties.$insert_id`, Segment `messageId`,
    /// PostHog `uuid`, Amplitude `insert_id`.
    pub fn insert_id(&self) -> Option<&str> {
        // Top-level keys first: posthog-js events carry both `uuid` (the key) and a
        // `properties.$insert_id` PostHog ignores; Mixpanel records have no top-level key.
        self.record
            .get("messageId")
            .or_else(|| self.record.get("uuid"))
            .or_else(|| self.record.get("insert_id"))
            .or_else(|| self.record.get("properties").and_then(|p| p.get("$insert_id")))?
            .as_str()
    }

    /// The event name: Mixpanel, Segment and PostHog `event`, Amplitude `event_type`.
    pub fn event_name(&self) -> Option<&str> {
        self.record
            .get("event")
            .or_else(|| self.record.get("event_type"))?
            .as_str()
    }
}

/// One HTTP request that reached the emulator.
#[derive(Clone, Debug)]
pub struct RequestLog {
    /// Arrival order, from 1; never reset by [`Emulator::clear`].
    pub seq: u64,
    pub at: Instant,
    /// `None` for a path that is not an ingestion endpoint (answered 404).
    pub endpoint: Option<&'static str>,
    /// The status answered; 0 when the connection was dropped instead.
    pub status: u16,
    /// Records accepted (and recorded) from this request.
    pub records: usize,
    /// Records refused by validation.
    pub rejected: usize,
    /// The geolocation parameter as sent (Mixpanel's `ip`, from the query or the form body).
    pub ip_param: Option<String>,
    pub gzip: bool,
    /// The HTTP Basic username, as sent (for tests checking which credential was used).
    pub basic_user: Option<String>,
    pub method: String,
    pub path: String,
}

struct Recorded {
    fault: Fault,
    one_shot: VecDeque<Fault>,
    /// Whether accepted records and request logs are kept for inspection (tests); the
    /// standalone `vendorwall emulate` only counts them, so it runs in constant memory.
    keep: bool,
    received: Vec<ReceivedRecord>,
    /// Records accepted since the last [`Emulator::clear`], kept or not.
    received_count: usize,
    requests: Vec<RequestLog>,
}

/// State shared by the handle, the accept loop, every connection and every handler.
struct Shared {
    vendor: Vendor,
    key: String,
    secret: Option<String>,
    state: Mutex<Recorded>,
    /// `Recorded::received_count`, for [`Emulator::wait_for_records`].
    record_count: watch::Sender<usize>,
    /// Bumped to reset every open connection (see `conn`).
    kills: watch::Sender<u64>,
    live_connections: watch::Sender<usize>,
    next_seq: AtomicU64,
    log_requests: AtomicBool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, Recorded> {
        // A panic while holding the lock cannot leave the plain vectors inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn kill_all_connections(&self) {
        self.kills.send_modify(|generation| *generation += 1);
    }

    fn take_fault(&self) -> Fault {
        let mut state = self.state();
        match state.one_shot.pop_front() {
            Some(fault) => fault,
            None => state.fault.clone(),
        }
    }

    /// Records the accepted records and the request, then logs a summary (counts only).
    fn finish(&self, mut log: RequestLog, status: u16, accepted: Vec<Value>, rejected: usize) {
        log.status = status;
        log.records = accepted.len();
        log.rejected = rejected;
        let elapsed_ms = log.at.elapsed().as_millis();
        if self.log_requests.load(Ordering::Relaxed) {
            tracing::info!(
                seq = log.seq,
                endpoint = log.endpoint.unwrap_or("unknown"),
                status,
                records = log.records,
                rejected,
                gzip = log.gzip,
                elapsed_ms,
                "emulator request"
            );
        } else {
            tracing::debug!(
                seq = log.seq,
                endpoint = log.endpoint.unwrap_or("unknown"),
                status,
                records = log.records,
                rejected,
                "emulator request"
            );
        }
        let mut state = self.state();
        if let Some(endpoint) = log.endpoint {
            state.received_count += accepted.len();
            if state.keep {
                let received_at = SystemTime::now();
                state.received.extend(accepted.into_iter().map(|record| ReceivedRecord {
                    endpoint,
                    record,
                    received_at,
                    request_seq: log.seq,
                }));
            }
        }
        if state.keep {
            state.requests.push(log);
        }
        self.record_count.send_replace(state.received_count);
    }
}

/// A running emulator. Dropping it stops it (use [`Emulator::shutdown`] to wait).
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// The accept loop, `None` while unreachable.
    serving: Mutex<Option<JoinHandle<()>>>,
    /// Serialises listen/unlisten transitions.
    transition: tokio::sync::Mutex<()>,
}

impl Emulator {
    /// Binds `cfg.listen` and starts serving.
    pub async fn start(cfg: EmulatorConfig) -> io::Result<Emulator> {
        let listener = conn::bind_reusable(cfg.listen)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            vendor: cfg.vendor,
            key: cfg.key,
            secret: cfg.secret,
            state: Mutex::new(Recorded {
                fault: Fault::None,
                one_shot: VecDeque::new(),
                keep: cfg.keep_records,
                received: Vec::new(),
                received_count: 0,
                requests: Vec::new(),
            }),
            record_count: watch::Sender::new(0),
            kills: watch::Sender::new(0),
            live_connections: watch::Sender::new(0),
            next_seq: AtomicU64::new(1),
            log_requests: AtomicBool::new(false),
        });
        let emulator = Emulator {
            shared,
            addr,
            serving: Mutex::new(None),
            transition: tokio::sync::Mutex::new(()),
        };
        emulator.serve(listener);
        Ok(emulator)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the behaviour for later requests. Entering [`Fault::Unreachable`] returns once
    /// the port is closed and open connections are reset; leaving it returns once the port
    /// listens again. A failure to re-bind is logged; use [`Self::try_set_fault`] to see it.
    pub async fn set_fault(&self, fault: Fault) {
        if let Err(error) = self.try_set_fault(fault).await {
            tracing::error!(%error, addr = %self.addr, "emulator: cannot listen again");
        }
    }

    /// [`Self::set_fault`], reporting a failure to bind the port again.
    pub async fn try_set_fault(&self, fault: Fault) -> io::Result<()> {
        let _transition = self.transition.lock().await;
        let unreachable = fault == Fault::Unreachable;
        self.shared.state().fault = fault;
        if unreachable {
            self.stop_serving().await;
        } else if !self.is_serving() {
            self.serve(conn::bind_reusable(self.addr)?);
        }
        Ok(())
    }

    /// The fault currently set with [`Self::set_fault`].
    pub fn fault(&self) -> Fault {
        self.shared.state().fault.clone()
    }

    /// Makes the next `n` requests fail with `fault`, ahead of the one set with
    /// [`Self::set_fault`]. A one-shot [`Fault::Unreachable`] resets the request's connection.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut state = self.shared.state();
        state.one_shot.extend(std::iter::repeat_n(fault, n));
    }

    /// Accepted records, in the order their requests finished (within a request, as sent).
    pub fn received(&self) -> Vec<ReceivedRecord> {
        self.shared.state().received.clone()
    }

    /// Requests that reached a handler, in completion order (see [`RequestLog::seq`]).
    pub fn requests(&self) -> Vec<RequestLog> {
        self.shared.state().requests.clone()
    }

    /// Forgets received records, logged requests and queued one-shot faults; keeps the fault.
    pub fn clear(&self) {
        let mut state = self.shared.state();
        state.received.clear();
        state.received_count = 0;
        state.requests.clear();
        state.one_shot.clear();
        self.shared.record_count.send_replace(0);
    }

    /// Waits until at least `n` records have been received; false on timeout.
    pub async fn wait_for_records(&self, n: usize, timeout: Duration) -> bool {
        let mut count = self.shared.record_count.subscribe();
        matches!(
            tokio::time::timeout(timeout, count.wait_for(|c| *c >= n)).await,
            Ok(Ok(_))
        )
    }

    /// Whether accepted records and request logs are kept for [`Emulator::received`]
    /// and [`Emulator::requests`] (the default). Without, they are only counted.
    pub fn set_keep_records(&self, keep: bool) {
        self.shared.state().keep = keep;
    }

    /// Logs a one-line summary of every request at `info` (counts only, never payloads).
    pub fn set_request_logging(&self, enabled: bool) {
        self.shared.log_requests.store(enabled, Ordering::Relaxed);
    }

    /// Stops listening, resets open connections and waits for them to close.
    pub async fn shutdown(self) {
        let _transition = self.transition.lock().await;
        self.stop_serving().await;
    }

    fn is_serving(&self) -> bool {
        self.serving.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let router = Router::new().fallback(handle_request).with_state(self.shared.clone());
        let listener = KillableListener::new(listener, self.shared.clone());
        let task = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<ConnHandle>();
            if let Err(error) = axum::serve(listener, service).await {
                tracing::error!(%error, "emulator: server stopped");
            }
        });
        *self.serving.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
    }

    async fn stop_serving(&self) {
        let task = self.serving.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = task {
            task.abort();
            // Returns once the task is gone, and the listening socket with it.
            let _ = task.await;
        }
        // After the accept loop is gone, so that no connection escapes the kill.
        self.shared.kill_all_connections();
        let mut live = self.shared.live_connections.subscribe();
        let drained = tokio::time::timeout(CONNECTION_DRAIN_TIMEOUT, live.wait_for(|n| *n == 0));
        if drained.await.is_err() {
            tracing::warn!("emulator: connections still open after reset");
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let task = self.serving.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = task {
            task.abort();
        }
        self.shared.kill_all_connections();
    }
}

/// Serves until ctrl-c, logging one line per request (counts only). For `vendorwall emulate`.
/// Runs a standalone emulator until Ctrl-C. Nothing can read its records back, so it only
/// counts them (`keep_records` is ignored): keeping them would only grow its memory.
/// A vendor that flaps: normal for `up`, then failing for `down`, for ever (`vendorwall
/// emulate --flap`). Each down period takes the next of [`Flap::FAULTS`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flap {
    pub up: Duration,
    pub down: Duration,
}

impl Flap {
    /// What a down period does, in turn: gone, failing, throttling, overloaded, slow.
    pub const FAULTS: [Fault; 5] = [
        Fault::Unreachable,
        Fault::Status(500),
        Fault::RateLimited { retry_after_secs: 5 },
        Fault::Status(503),
        Fault::Delay(Duration::from_secs(2)),
    ];

    async fn run(self, emulator: &Emulator) {
        for fault in Self::FAULTS.iter().cycle() {
            tokio::time::sleep(self.up).await;
            tracing::info!(fault = ?fault, secs = self.down.as_secs(), "emulator: vendor down");
            emulator.set_fault(fault.clone()).await;
            tokio::time::sleep(self.down).await;
            emulator.set_fault(Fault::None).await;
            tracing::info!("emulator: vendor up");
        }
    }
}

pub async fn run_forever(cfg: EmulatorConfig, flap: Option<Flap>) -> io::Result<()> {
    let cfg = EmulatorConfig {
        keep_records: false,
        ..cfg
    };
    let vendor = cfg.vendor;
    let emulator = Emulator::start(cfg).await?;
    emulator.set_request_logging(true);
    let paths: Vec<&str> = vendor.protocol().routes().iter().map(|r| r.path).collect();
    tracing::info!(addr = %emulator.addr(), vendor = vendor.name(), paths = %paths.join(", "), "emulator listening");
    let signal = match flap {
        Some(flap) => tokio::select! {
            signal = tokio::signal::ctrl_c() => signal,
            () = flap.run(&emulator) => Ok(()),
        },
        None => tokio::signal::ctrl_c().await,
    };
    emulator.shutdown().await;
    tracing::info!("emulator stopped");
    signal
}

async fn handle_request(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(connection): ConnectInfo<ConnHandle>,
    request: Request,
) -> Response {
    let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let header = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let basic_user = header(header::AUTHORIZATION)
        .and_then(crate::protocol::BasicAuth::parse)
        .map(|b| b.user);
    let gzip = header(header::CONTENT_ENCODING).is_some_and(|v| v.to_ascii_lowercase().contains("gzip"));
    let pending = PendingRequest {
        shared: shared.clone(),
        log: Some(RequestLog {
            seq,
            at: Instant::now(),
            endpoint: shared.vendor.protocol().emulator_endpoint(parts.uri.path()),
            status: 0,
            records: 0,
            rejected: 0,
            ip_param: None,
            gzip,
            basic_user,
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
        }),
    };

    let Ok(body) = axum::body::to_bytes(body, MAX_WIRE_BODY_BYTES).await else {
        return pending.respond(error_answer(413, "request body too large"), None);
    };
    // Handled in its own task: a client that gives up (times out, disconnects) must not
    // cancel the handling, since a real vendor may well apply a request nobody waits for.
    let handling = tokio::spawn(handle_read_request(shared, connection, pending, parts, body));
    handling
        .await
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `{"code":N,"error":"…","status":"…"}`: how the emulator answers an injected failure.
fn error_answer(status: u16, error: &str) -> Answer {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    Answer {
        status,
        content_type: "application/json",
        body: serde_json::json!({"code": status, "error": error, "status": reason})
            .to_string()
            .into_bytes(),
        retry_after_secs: None,
    }
}

async fn handle_read_request(
    shared: Arc<Shared>,
    connection: ConnHandle,
    pending: PendingRequest,
    parts: axum::http::request::Parts,
    body: bytes::Bytes,
) -> Response {
    match shared.take_fault() {
        Fault::None => {}
        Fault::Unreachable => {
            // Only reachable as a one-shot, or in the instant before the listener closes.
            connection.reset();
            return pending.dropped();
        }
        Fault::Status(code) => {
            let code = if (100..=999).contains(&code) { code } else { 500 };
            let reason = StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .map_or_else(|| "injected failure".to_owned(), str::to_ascii_lowercase);
            return pending.respond(error_answer(code, &reason), None);
        }
        Fault::RateLimited { retry_after_secs } => {
            let mut answer = error_answer(429, "rate limit exceeded");
            answer.retry_after_secs = Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX));
            return pending.respond(answer, None);
        }
        Fault::Delay(delay) => {
            let mut kills = shared.kills.subscribe();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                // Went unreachable meanwhile: the answer would never be written.
                _ = kills.changed() => return pending.dropped(),
            }
        }
    }

    let header = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let method = match parts.method {
        axum::http::Method::GET => Method::Get,
        axum::http::Method::POST => Method::Post,
        axum::http::Method::OPTIONS => Method::Options,
        _ => Method::Other,
    };
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let request = HttpRequest {
        method,
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        content_type: header(header::CONTENT_TYPE),
        content_encoding: header(header::CONTENT_ENCODING),
        authorization: header(header::AUTHORIZATION),
        body: &body,
        client_ip: None,
        received_at_ms: now_ms,
    };
    let project = EmulatedProject {
        key: shared.key.clone(),
        secret: shared.secret.clone(),
        now_ms,
    };
    let emulated = shared.vendor.protocol().emulate(&project, &request);
    let mut pending = pending;
    if let Some(log) = pending.log.as_mut() {
        log.endpoint = emulated.endpoint;
        log.ip_param = emulated.ip_param;
    }
    pending.respond(emulated.answer, Some((emulated.accepted, emulated.rejected)))
}

/// A request being handled. If hyper drops the handler (the connection died mid-request), the
/// request is still logged, with status 0.
struct PendingRequest {
    shared: Arc<Shared>,
    log: Option<RequestLog>,
}

impl PendingRequest {
    fn respond(mut self, answer: Answer, records: Option<(Vec<Value>, usize)>) -> Response {
        let (accepted, rejected) = records.unwrap_or_default();
        if let Some(log) = self.log.take() {
            self.shared.finish(log, answer.status, accepted, rejected);
        }
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Body::from(answer.body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
        if let Some(secs) = answer.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }

    /// For a connection that is being reset: logged with status 0; the response is never sent.
    fn dropped(self) -> Response {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}

impl Drop for PendingRequest {
    fn drop(&mut self) {
        if let Some(log) = self.log.take() {
            self.shared.finish(log, 0, Vec::new(), 0);
        }
    }
}
