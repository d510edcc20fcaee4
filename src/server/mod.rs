//! The HTTP server: every vendor's ingest routes, health, readiness and metrics.
//!
//! Two listeners. The public one (`[server] listen`) serves each vendor's ingest paths
//! ([`Protocol::routes`](crate::protocol::Protocol::routes)), with and without a trailing
//! slash, GET and POST, plus OPTIONS for CORS preflights; `GET /healthz` (the process is up)
//! and `GET /readyz` (the store answers). Everything else there is 404, the admin API and
//! metrics included. A path two vendors share (`/batch`) goes to the vendor whose source the
//! request's key belongs to.
//!
//! The admin listener (`[admin] listen`, off when unset) serves the admin API under
//! `/api/v1/` ([`admin`]), `GET /metrics` (Prometheus, no token) and the two health routes.
//!
//! CORS: browser SDKs send credentials (mixpanel-browser) or an `Authorization` header
//! (analytics.js), so an allowed origin is echoed exactly with
//! `Access-Control-Allow-Credentials: true` (never `*`). Every origin is allowed unless
//! `[server] cors_allowed_origins` lists some, as the vendors themselves do: ingest keys are
//! public, and a browser SDK pointed at vendorwall must work without extra settings.
//!
//! Hostile clients: every connection has a deadline for its header from accept and one
//! while idle, and their number is capped ([`conn`]); an ingest request has
//! `request_timeout_secs` from its header to its answer, past which the SDK gets its
//! vendor's retryable answer. Bodies are decoded inline only while they stay small once
//! decompressed; their JSON is parsed within a budget derived from `[limits]`
//! ([`RequestLimits::new`]).

use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

pub mod admin;
pub mod conn;

use crate::config::Limits;
use crate::event::Caps;
use crate::pipeline::Pipeline;
use crate::protocol::{
    Answer, HttpRequest, Inbound, Outcome, RequestError, RequestLimits, Route, Special, Vendor, routes_for,
};
use crate::store::{Store, now_ms};
use crate::telemetry::Metrics;

/// Bodies above this are decoded on the blocking pool, not on a request thread.
const INLINE_DECODE_BYTES: usize = 256 << 10;
/// Open connections the admin listener takes at once.
const ADMIN_MAX_CONNECTIONS: usize = 256;
/// How long a forwarded feature-flag request may take before "no flags" is answered.
const FLAGS_TIMEOUT: Duration = Duration::from_secs(3);

pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    /// `None`: every origin.
    pub cors_allowed_origins: Option<Vec<String>>,
    /// For feature-flag requests forwarded to a vendor.
    pub flags_client: reqwest::Client,
    /// `[server] request_timeout_secs`: from the handler's start to its answer.
    pub request_timeout: Duration,
    /// The store's free-space headroom: `/readyz` is 503 while ingest is refused for space.
    pub space: Arc<crate::store::space::Space>,
}

pub fn router(state: Arc<AppState>) -> Router {
    let mut r = Router::new();
    let mut paths: Vec<String> = Vec::new();
    for v in Vendor::ALL {
        for route in v.protocol().routes() {
            let bare = route.path.trim_end_matches('/');
            for p in [bare.to_owned(), format!("{bare}/")] {
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
        }
    }
    for p in paths {
        r = r.route(&p, any(ingest));
    }
    r.route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// The admin listener's routes: the admin API, metrics and health.
pub fn admin_router(state: Arc<AppState>, admin: Arc<admin::AdminState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .nest("/api/v1", admin::router(admin))
}

async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    if app.space.refusing_ingest() {
        return (StatusCode::SERVICE_UNAVAILABLE, "store short of space\n").into_response();
    }
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || store.destination_statuses()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response(),
    }
}

async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::telemetry::metrics::CONTENT_TYPE)],
        app.metrics.render(now_ms()),
    )
        .into_response()
}

fn cors(app: &AppState, req_headers: &HeaderMap, resp: &mut HeaderMap) {
    let Some(origin) = req_headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return;
    };
    let allowed = app
        .cors_allowed_origins
        .as_ref()
        .is_none_or(|list| list.iter().any(|o| o == origin));
    if allowed && let Ok(v) = HeaderValue::from_str(origin) {
        resp.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        resp.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    resp.append(header::VARY, HeaderValue::from_static("Origin"));
}

fn preflight(app: &AppState, headers: &HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    cors(app, headers, resp.headers_mut());
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("content-type, authorization"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    resp
}

fn to_response(a: Answer) -> Response {
    let mut resp = Response::new(Body::from(a.body));
    *resp.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    if let Some(s) = a.retry_after_secs {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    resp
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn ingest(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if method == Method::OPTIONS {
        return preflight(&app, &headers);
    }
    let candidates = routes_for(uri.path());
    let Some(&(first_vendor, first_route)) = candidates.first() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let started = Instant::now();
    let (mut resp, vendor, route) = if method != Method::GET && method != Method::POST {
        app.metrics.reject_request("method_not_allowed");
        let mut r = (StatusCode::METHOD_NOT_ALLOWED, "use GET or POST\n").into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST, OPTIONS"));
        (r, first_vendor, first_route)
    } else {
        let handled = handle(&app, &candidates, &method, &uri, &headers, body, peer);
        match tokio::time::timeout(app.request_timeout, handled).await {
            Ok(answered) => answered,
            Err(_) => {
                let answer = timed_out(&app, (first_vendor, first_route), &method, &uri, &headers);
                (answer, first_vendor, first_route)
            }
        }
    };
    cors(&app, &headers, resp.headers_mut());
    app.metrics.observe_request(vendor, route.path, started.elapsed());
    resp
}

/// The answer to a request that passed `request_timeout_secs` (a body trickled in, or the
/// store too slow): the vendor's retryable answer, so the SDK sends it again later. Records
/// of a request that timed out while being committed may already be queued; the retry
/// carries the same idempotency keys, which the vendors deduplicate on.
fn timed_out(
    app: &AppState,
    (vendor, route): (Vendor, Route),
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    app.metrics.reject_request("request_timeout");
    let req = HttpRequest {
        method: if method == Method::GET {
            crate::protocol::Method::Get
        } else {
            crate::protocol::Method::Post
        },
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        content_type: header_str(headers, header::CONTENT_TYPE),
        content_encoding: header_str(headers, header::CONTENT_ENCODING),
        authorization: None,
        body: &[],
        client_ip: None,
        received_at_ms: now_ms(),
    };
    let proto = vendor.protocol();
    let reply = proto.early_reply(route, &req);
    to_response(proto.answer(&reply, &Outcome::Busy))
}

/// Decodes a request with each vendor that serves its path, keeping the first whose source
/// the request's key belongs to (or else the first that could decode it), then takes it
/// through the pipeline and answers in that vendor's dialect.
async fn handle(
    app: &AppState,
    candidates: &[(Vendor, Route)],
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    peer: SocketAddr,
) -> (Response, Vendor, Route) {
    let (first_vendor, first_route) = candidates[0];
    let query = uri.query().unwrap_or("").to_owned();
    let path = uri.path().to_owned();
    let received_at_ms = now_ms();
    let content_type = header_str(headers, header::CONTENT_TYPE).map(str::to_owned);
    let content_encoding = header_str(headers, header::CONTENT_ENCODING).map(str::to_owned);
    let authorization = header_str(headers, header::AUTHORIZATION).map(str::to_owned);
    let method = if method == Method::GET {
        crate::protocol::Method::Get
    } else {
        crate::protocol::Method::Post
    };
    let bytes = match axum::body::to_bytes(body, app.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            let e = RequestError::BodyTooLarge;
            app.metrics.reject_request(e.reason());
            let req = HttpRequest {
                method,
                path: &path,
                query: &query,
                content_type: content_type.as_deref(),
                content_encoding: content_encoding.as_deref(),
                authorization: authorization.as_deref(),
                body: &[],
                client_ip: Some(peer.ip()),
                received_at_ms,
            };
            let proto = first_vendor.protocol();
            let reply = proto.early_reply(first_route, &req);
            let answer = proto.answer(&reply, &Outcome::Malformed(e));
            return (to_response(answer), first_vendor, first_route);
        }
    };
    let limits = RequestLimits::new(
        app.limits.max_decompressed_bytes,
        app.limits.max_records_per_request,
        app.limits.max_properties,
    );
    let caps = Caps::from(&app.limits);
    let decode = {
        let candidates = candidates.to_vec();
        let pipeline = app.pipeline.clone();
        let path = path.clone();
        let query = query.clone();
        let bytes = bytes.clone();
        move |limits: RequestLimits| {
            let req = HttpRequest {
                method,
                path: &path,
                query: &query,
                content_type: content_type.as_deref(),
                content_encoding: content_encoding.as_deref(),
                authorization: authorization.as_deref(),
                body: &bytes,
                client_ip: Some(peer.ip()),
                received_at_ms,
            };
            type Decoded = (Vendor, Route, Result<Inbound, RequestError>);
            let several = candidates.len() > 1;
            let mut failed: Vec<Decoded> = Vec::new();
            let mut decodable: Option<Decoded> = None;
            for &(vendor, route) in &candidates {
                let decoded = vendor.protocol().decode(route, &req, &limits, &caps);
                match &decoded {
                    Ok(inbound) if !several || pipeline.recognises(vendor, inbound) => {
                        return (vendor, route, decoded);
                    }
                    Ok(_) if decodable.is_none() => decodable = Some((vendor, route, decoded)),
                    Ok(_) => {}
                    Err(_) => failed.push((vendor, route, decoded)),
                }
            }
            // Read by one vendor, the request names a source of another, which could not read
            // it: that vendor answers (its SDK sent a body it cannot take).
            let owner = decodable
                .as_ref()
                .and_then(|(_, _, d)| d.as_ref().ok())
                .and_then(|inbound| pipeline.key_owner(inbound));
            if let Some(i) = failed.iter().position(|(v, _, _)| Some(*v) == owner) {
                return failed.swap_remove(i);
            }
            decodable
                .or_else(|| (!failed.is_empty()).then(|| failed.swap_remove(0)))
                .unwrap_or((first_vendor, first_route, Err(RequestError::MissingData)))
        }
    };
    // Decoded on this thread only while it stays small: a body over the threshold, or one
    // that decompresses past it (tried with the threshold as the decompression limit), is
    // decoded on the blocking pool under the real limits. A compressed body's length says
    // nothing of what it expands to.
    let inline = RequestLimits {
        max_decompressed_bytes: limits.max_decompressed_bytes.min(INLINE_DECODE_BYTES),
        ..limits
    };
    let small = bytes.len() <= INLINE_DECODE_BYTES;
    let first_try = small.then(|| decode(inline));
    let (vendor, route, decoded) = match first_try {
        Some((_, _, Err(RequestError::DecompressedTooLarge))) | None
            if limits.max_decompressed_bytes > inline.max_decompressed_bytes || !small =>
        {
            match tokio::task::spawn_blocking(move || decode(limits)).await {
                Ok(r) => r,
                Err(_) => (first_vendor, first_route, Err(RequestError::BadEncoding)),
            }
        }
        Some(decoded) => decoded,
        None => decode(limits),
    };
    let proto = vendor.protocol();
    let inbound = match decoded {
        Ok(i) => i,
        Err(e) => {
            app.metrics.reject_request(e.reason());
            let req = HttpRequest {
                method,
                path: &path,
                query: &query,
                content_type: header_str(headers, header::CONTENT_TYPE),
                content_encoding: header_str(headers, header::CONTENT_ENCODING),
                authorization: None,
                body: &[],
                client_ip: None,
                received_at_ms,
            };
            let reply = proto.early_reply(route, &req);
            return (to_response(proto.answer(&reply, &Outcome::Malformed(e))), vendor, route);
        }
    };
    let reply = inbound.reply.clone();
    let outcome = match &inbound.special {
        Some(Special::Replay { records }) => {
            // Session replay carries whole DOM snapshots: the recommended handling keeps it
            // from every vendor. The SDK is told it was taken, so it does not retry.
            app.metrics
                .replay_blocked
                .fetch_add(*records as u64, std::sync::atomic::Ordering::Relaxed);
            Outcome::Accepted {
                accepted: *records,
                failed: Vec::new(),
            }
        }
        Some(Special::Flags { record }) => flags(app, vendor, &inbound, record.clone()).await,
        // Answered by the protocol from the route alone.
        Some(Special::Config | Special::SdkTelemetry) => Outcome::Accepted {
            accepted: 0,
            failed: Vec::new(),
        },
        None => app.pipeline.ingest(vendor, inbound).await,
    };
    (to_response(proto.answer(&reply, &outcome)), vendor, route)
}

/// A feature-flag request: forwarded synchronously through the destination's policy (ids
/// pseudonymised), or answered "no flags" when the destination says so or the vendor fails.
async fn flags(app: &AppState, vendor: Vendor, inbound: &Inbound, record: serde_json::Value) -> Outcome {
    let proto = vendor.protocol();
    let key = match &inbound.auth {
        crate::protocol::Auth::Key(k) => k.clone(),
        _ => None,
    };
    let forward = app.pipeline.flags_forward(vendor, key.as_deref(), record);
    let Some(request) = forward.and_then(|f| proto.flags_request(&f.target, &f.record)) else {
        app.metrics.flags_request("none");
        return Outcome::Flags(proto.no_flags());
    };
    let mut builder = app.flags_client.post(&request.url).timeout(FLAGS_TIMEOUT);
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    let answer = match builder.body(request.body).send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok()),
        _ => None,
    };
    match answer {
        Some(body) => {
            app.metrics.flags_request("forwarded");
            Outcome::Flags(body)
        }
        None => {
            app.metrics.flags_request("failed");
            tracing::warn!(
                protocol = vendor.name(),
                "feature-flag request failed at the vendor; answered no flags"
            );
            Outcome::Flags(proto.no_flags())
        }
    }
}

/// A running gateway: HTTP server, committer, delivery workers and the stats loop.
pub struct Gateway {
    pub addr: SocketAddr,
    pub scheme: &'static str,
    /// The admin listener's address, when `[admin] listen` is set.
    pub admin_addr: Option<SocketAddr>,
    admin_scheme: &'static str,
    handle: axum_server::Handle<SocketAddr>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// `<store>/serve.lock`, locked while this gateway runs (see [`lock_store`]).
    _store_lock: std::fs::File,
    space: Arc<crate::store::space::Space>,
}

/// Takes `<dir>/serve.lock` so that one gateway at a time runs on a store: two would each
/// lease the same queued rows and deliver them twice. The operating system releases the
/// lock when the process ends, however it ends. CLI commands do not take it.
/// Takes the store's `serve` lock (held while the returned file is open): fails while a
/// gateway runs on the store.
pub fn lock_store(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use anyhow::Context;
    crate::store::files::secure_store_dir(dir)
        .with_context(|| format!("creating the store directory {}", dir.display()))?;
    let path = dir.join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .mode(0o600)
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another vendorwall gateway is running on the store at {}: only one may deliver from a store",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// Serves `app` on `listener` (plain or TLS) with the connection deadlines and cap of
/// [`conn`]: a connection's deadline starts at accept, so it covers the TLS handshake too.
fn serve_listener(
    listener: std::net::TcpListener,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    app: Router,
    limits: conn::ConnectionLimits,
    metrics: Arc<Metrics>,
    handle: axum_server::Handle<SocketAddr>,
    which: &'static str,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let guard = conn::GuardAcceptor::new(limits, metrics);
    let task = match tls {
        Some(rustls) => {
            let server = axum_server::from_tcp_rustls(listener, rustls)?
                .map(|a| a.acceptor(guard))
                .handle(handle);
            tokio::spawn(async move {
                if let Err(e) = server.serve(app).await {
                    tracing::error!(error = %e, listener = which, "server stopped");
                }
            })
        }
        None => {
            let server = axum_server::from_tcp(listener)?.acceptor(guard).handle(handle);
            tokio::spawn(async move {
                if let Err(e) = server.serve(app).await {
                    tracing::error!(error = %e, listener = which, "server stopped");
                }
            })
        }
    };
    Ok(task)
}

/// How `serve` was asked to start.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartOptions {
    /// Start on a store behind its ledger witness (restored from an older copy), making its
    /// current heads the witnessed ones.
    pub accept_rollback: bool,
}

/// Opens the store with the master key and brings its ledger witness up to date (see
/// [`crate::ledger::witness`]): refuses a store behind its witness unless `accept_rollback`.
pub fn open_witnessed_store(
    config: &crate::config::Config,
    master: &crate::policy::keys::MasterKey,
    accept_rollback: bool,
) -> anyhow::Result<crate::store::sqlite::SqliteStore> {
    use anyhow::Context;
    config.store.require_embedded().map_err(anyhow::Error::msg)?;
    let mut store = crate::store::sqlite::SqliteStore::open_keyed(&config.store.path, master)
        .with_context(|| format!("opening the store at {}", config.store.path.display()))?;
    if let Some(path) = &config.ledger.witness_path {
        if crate::policy::keys::inside(path, &config.store.path) {
            anyhow::bail!(
                "ledger.witness_path {} lies inside the store directory {}: a witness must live apart from the store",
                path.display(),
                config.store.path.display()
            );
        }
        let keys = store
            .keys()
            .ok_or_else(|| anyhow::anyhow!("the store was opened without its keys"))?;
        store = store.with_witness(crate::ledger::witness::Witness::new(
            path.clone(),
            keys.mac_key(crate::ledger::WITNESS_PURPOSE),
        ));
    }
    let start = store
        .reconcile_witness(accept_rollback)
        .context("checking the ledger witness")?;
    if start.not_configured {
        tracing::warn!(
            "no ledger witness is configured ([ledger] witness_path): a store restored from an older copy cannot be told apart"
        );
    }
    if start.started {
        tracing::info!("ledger witness started");
    }
    for d in &start.repaired {
        tracing::warn!(destination = %d, "the ledger was one batch ahead of its witness (a crash before the witness line was written); the line was written");
    }
    if !start.accepted_rollback.is_empty()
        && let Some(keys) = store.keys()
    {
        let audit = crate::audit::AuditLog::new(&config.admin.audit_log, &keys);
        for d in &start.accepted_rollback {
            audit
                .append(&crate::audit::Actor::cli(), "ledger.accept_rollback", d)
                .context("the rollback was accepted, but the audit log could not be written")?;
        }
    }
    for d in &start.accepted_rollback {
        tracing::warn!(destination = %d, "started on a ledger behind its witness (--accept-rollback): this copy's heads are now the witnessed ones");
    }
    Ok(store)
}

/// How often `serve` measures the store's free space.
const SPACE_CHECK_EVERY: Duration = Duration::from_millis(250);

/// Measures the store's free space (off the async workers); a failure keeps the last state.
async fn check_space(store: &Arc<dyn Store>, space: &Arc<crate::store::space::Space>) {
    let (store, space) = (store.clone(), space.clone());
    let r = tokio::task::spawn_blocking(move || {
        // The database's free pages count as room; if they cannot be read, only the disk does.
        let reusable = store.reusable_bytes().unwrap_or(0);
        space.check(reusable)
    })
    .await;
    if let Ok(Err(e)) = r {
        tracing::warn!(error = %e, "cannot measure the store's free space");
    }
}

impl Gateway {
    /// Opens the store and starts everything. Returns once the listener is bound.
    pub async fn start(config: crate::config::Config) -> anyhow::Result<Gateway> {
        Self::start_with(config, StartOptions::default()).await
    }

    pub async fn start_with(config: crate::config::Config, options: StartOptions) -> anyhow::Result<Gateway> {
        use anyhow::Context;
        crate::init_crypto();
        config.store.require_embedded().map_err(anyhow::Error::msg)?;
        let store_lock = lock_store(&config.store.path)?;
        // The listener and the TLS material first: once the workers below run, an error
        // here would leave them delivering with the store lock released.
        let listener = std::net::TcpListener::bind(config.server.listen)
            .with_context(|| format!("binding {}", config.server.listen))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let admin_listener = match config.admin.listen {
            Some(a) => {
                let l = std::net::TcpListener::bind(a).with_context(|| format!("binding the admin listener {a}"))?;
                l.set_nonblocking(true)?;
                Some(l)
            }
            None => None,
        };
        let admin_addr = admin_listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let admin_tls = match &config.admin.tls {
            Some(tls) => Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert_path, &tls.key_path)
                    .await
                    .context("loading the admin listener's TLS certificate and key")?,
            ),
            None => None,
        };
        let tls = match &config.server.tls {
            Some(tls) => Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert_path, &tls.key_path)
                    .await
                    .context("loading the TLS certificate and key")?,
            ),
            None => None,
        };
        // Compile the phone-number metadata now, not on the first request that has a phone.
        tokio::task::spawn_blocking(crate::classify::warm_up).await?;
        // Nothing starts without the master key: it keys the ledger's chains and seals ids.
        let master_key = Arc::new(
            crate::policy::keys::MasterKey::load(
                &config.keys.master_key_env,
                config.keys.master_key_file.as_deref(),
                &config.store.path,
            )
            .context("loading the master key")?,
        );
        let space = Arc::new(crate::store::space::Space::new(
            &config.store.path,
            config.store.min_free_bytes,
            config.store.reserve_bytes,
        ));
        let store = open_witnessed_store(&config, &master_key, options.accept_rollback)?.with_space(space.clone());
        // The master key is needed no further: everything below uses the store's unwrapped
        // keys, which a master-key rotation beside this process leaves unchanged.
        drop(master_key);
        let store_keys = store
            .keys()
            .ok_or_else(|| anyhow::anyhow!("the store was opened without its keys"))?;
        if let Err(e) = space.start() {
            tracing::warn!(error = %e, "cannot create the store's reserve file yet; retried while serving");
        }
        let store: Arc<dyn Store> = Arc::new(store);
        check_space(&store, &space).await;
        let names: Vec<String> = config.destinations.iter().map(|d| d.name.clone()).collect();
        let metrics = Arc::new(Metrics::new(&names));
        let outbox =
            crate::outbox::Outbox::start(store.clone(), metrics.clone(), config.store.group_commit_max_records)?;
        let config = Arc::new(config);
        let mut keys = Vec::new();
        for d in &config.destinations {
            keys.push(
                crate::keyring::current_key(store.as_ref(), &store_keys, &d.name)
                    .with_context(|| format!("loading the pseudonym key of `{}`", d.name))?,
            );
        }
        let subject_key = crate::keyring::current_key(store.as_ref(), &store_keys, crate::ledger::SUBJECT_KEY)
            .context("loading the ledger's subject key")?;
        let pipeline = Arc::new(Pipeline::new(
            &config,
            outbox.clone(),
            metrics.clone(),
            store_keys.clone(),
            keys,
            subject_key,
            space.clone(),
        ));
        pipeline.sync_destination_states()?;
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);

        let mut tasks = Vec::new();
        for (i, d) in config.destinations.iter().enumerate() {
            let worker = crate::delivery::Worker::new(
                i,
                d.clone(),
                outbox.clone(),
                pipeline.clone(),
                metrics.clone(),
                shutdown_rx.clone(),
            )
            .context("building the HTTP client")?;
            tasks.push(tokio::spawn(worker.run()));
        }
        {
            let (pipeline, outbox, mut stop) = (pipeline.clone(), outbox.clone(), shutdown_rx.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => return,
                    }
                    let (p, o) = (pipeline.clone(), outbox.clone());
                    let r = tokio::task::spawn_blocking(move || {
                        p.sync_destination_states()?;
                        o.refresh_stats()
                    })
                    .await;
                    if let Ok(Err(e)) = r {
                        tracing::warn!(error = %e, "cannot refresh destination state");
                    }
                }
            }));
        }

        {
            // Free space, measured off the request path: ingest and `/readyz` read the result.
            let (store, space, mut stop) = (store.clone(), space.clone(), shutdown_rx.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(SPACE_CHECK_EVERY) => {}
                        _ = stop.changed() => return,
                    }
                    check_space(&store, &space).await;
                }
            }));
        }
        {
            // Roll up closed ledger days, so incident queries read one rollup per day.
            let (store, mut stop) = (store.clone(), shutdown_rx.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let s = store.clone();
                    match tokio::task::spawn_blocking(move || s.roll_up_ledger(now_ms())).await {
                        Ok(Ok(n)) if n > 0 => tracing::info!(days = n, "ledger days rolled up"),
                        Ok(Err(e)) => tracing::warn!(error = %e, "cannot roll up the ledger"),
                        _ => {}
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                        _ = stop.changed() => return,
                    }
                }
            }));
        }
        let admin = Arc::new(admin::AdminState {
            store: store.clone(),
            config: config.clone(),
            audit: crate::audit::AuditLog::new(&config.admin.audit_log, &store_keys),
            keys: store_keys,
            metrics: metrics.clone(),
            throttle: admin::Throttle::default(),
        });
        let metrics_for_server = metrics.clone();
        let state = Arc::new(AppState {
            pipeline,
            store,
            metrics,
            request_timeout: config.server.request_timeout,
            limits: config.limits.clone(),
            cors_allowed_origins: config.server.cors_allowed_origins.clone(),
            space: space.clone(),
            flags_client: reqwest::Client::builder()
                .timeout(FLAGS_TIMEOUT)
                .build()
                .context("building the HTTP client")?,
        });
        let handle = axum_server::Handle::new();
        let limits = conn::ConnectionLimits::from(&config.server);
        if let Some(l) = admin_listener {
            // The same deadlines; a cap of its own, so a flood on the public listener never
            // locks operators out.
            let admin_limits = conn::ConnectionLimits {
                max_connections: ADMIN_MAX_CONNECTIONS,
                ..limits
            };
            let app = admin_router(state.clone(), admin);
            tasks.push(serve_listener(
                l,
                admin_tls,
                app,
                admin_limits,
                metrics_for_server.clone(),
                handle.clone(),
                "admin",
            )?);
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        tasks.push(serve_listener(
            listener,
            tls,
            router(state),
            limits,
            metrics_for_server,
            handle.clone(),
            "public",
        )?);
        Ok(Gateway {
            addr,
            scheme,
            admin_addr,
            admin_scheme: if config.admin.tls.is_some() { "https" } else { "http" },
            handle,
            shutdown,
            tasks,
            _store_lock: store_lock,
            space,
        })
    }

    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The store's free-space headroom (`[store] min_free_bytes`, changeable while running).
    pub fn space(&self) -> &Arc<crate::store::space::Space> {
        &self.space
    }

    /// The admin listener's URL, when there is one.
    pub fn admin_url(&self) -> Option<String> {
        self.admin_addr.map(|a| format!("{}://{a}", self.admin_scheme))
    }

    /// Stops accepting requests, lets in-flight ones finish, stops the workers.
    pub async fn shutdown(self) {
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
