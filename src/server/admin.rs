//! The admin REST API under `/api/v1/` (JSON): incidents, response actions, exports,
//! destinations and the ledger's chain. Served only on the admin listener
//! (`[admin] listen`), never on the public ingest listener.
//!
//! Every request needs `Authorization: Bearer <token>` with one of `[[admin.tokens]]`, and the
//! route's scope among the token's `scopes`:
//!
//! - `read`: every GET except exports;
//! - `operate`: opening and updating incidents, suspend, resume, key rotation;
//! - `export`: incident exports (real identities).
//!
//! Tokens are compared in constant time against every configured token. A missing or wrong
//! token gets `401` (`{"error": "unauthorized"}`, counted as
//! `vendorwall_admin_unauthorized_total`); a token without the route's scope gets `403`
//! (`vendorwall_admin_forbidden_total`). After [`MAX_FAILURES`] failed logins from one
//! address within [`FAILURE_WINDOW`], every request from it gets `429` until the window ends
//! (`vendorwall_admin_throttled_total`); 403s do not count. Refused requests are counted,
//! never logged with their token and never audited. Every state change and export that
//! succeeds is appended to the audit log ([`crate::audit`]) under the token's name.
//!
//! | method and path | scope | what it does |
//! |---|---|---|
//! | `GET /api/v1/incidents` | read | all incidents (current revision each) |
//! | `POST /api/v1/incidents` | operate | open: `{"destination", "from", "to", "title"?, "vendor_detected_at"?, "informed_at"?, "aware_at"?, "materiality_at"?, "data_from"?, "data_to"?}` → 201 |
//! | `GET /api/v1/incidents/{id}` | read | one incident with every revision and its timeline |
//! | `PATCH /api/v1/incidents/{id}` | operate | change scope or dates (same fields, plus `users_notified_at` and `derive_data_range: true`); a new revision |
//! | `POST /api/v1/incidents/{id}/suspend` | operate | kill switch for its destination, on the timeline |
//! | `POST /api/v1/incidents/{id}/rotate-key` | operate | rotate its destination's pseudonym key, on the timeline |
//! | `GET /api/v1/incidents/{id}/export/{file}` | export | exports the current revision and returns one of its files |
//! | `GET /api/v1/destinations` | read | states and kill-switch counts |
//! | `POST /api/v1/destinations/{name}/suspend` | operate | kill switch: stop delivering, keep queueing (`{"drop": true}`: discard new records) |
//! | `POST /api/v1/destinations/{name}/resume` | operate | deliver again |
//! | `GET /api/v1/ledger/verify` | read | every destination's hash chain |
//!
//! Dates are `YYYY-MM-DD` or RFC 3339 UTC strings.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{Actor, AuditLog};
use crate::config::{AdminToken, Config, Scope, constant_time_eq};
use crate::incident::{Desk, IncidentError, Open, Scope as IncidentScope, Update};
use crate::policy::keys::StoreKeys;
use crate::store::{DestinationState, Store, now_ms};
use crate::telemetry::Metrics;

/// Failed logins from one address within [`FAILURE_WINDOW`] before it is refused with 429.
pub const MAX_FAILURES: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses whose failures are remembered at once (memory stays bounded under a flood).
const MAX_TRACKED_ADDRESSES: usize = 10_000;

pub struct AdminState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    /// The store's keys (incident exports open sealed ids; key rotation seals new keys).
    pub keys: Arc<StoreKeys>,
    pub metrics: Arc<Metrics>,
    pub audit: AuditLog,
    pub throttle: Throttle,
}

/// The caller a token identified, for the handlers (the audit log's actor).
#[derive(Clone)]
struct Caller(String);

impl Caller {
    fn actor(&self) -> Actor {
        Actor::Token(self.0.clone())
    }
}

/// Failed logins per client address in fixed one-minute windows.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Throttle {
    fn blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip)
            .is_some_and(|&(start, n)| n >= MAX_FAILURES && now.duration_since(start) < FAILURE_WINDOW)
    }

    fn fail(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED_ADDRESSES && !map.contains_key(&ip) {
            map.retain(|_, (start, _)| now.duration_since(*start) < FAILURE_WINDOW);
            if map.len() >= MAX_TRACKED_ADDRESSES {
                return;
            }
        }
        let e = map.entry(ip).or_insert((now, 0));
        if now.duration_since(e.0) >= FAILURE_WINDOW {
            *e = (now, 0);
        }
        e.1 += 1;
    }
}

/// The API's routes, to be nested under `/api/v1`.
pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/incidents", get(list_incidents).post(open_incident))
        .route("/incidents/{id}", get(get_incident).patch(update_incident))
        .route("/incidents/{id}/suspend", post(suspend))
        .route("/incidents/{id}/rotate-key", post(rotate_key))
        .route("/incidents/{id}/export/{file}", get(export_file))
        .route("/destinations", get(destinations))
        .route("/destinations/{name}/suspend", post(suspend_destination))
        .route("/destinations/{name}/resume", post(resume_destination))
        .route("/ledger/verify", get(verify))
        // Every matched route checks the token before its extractors run, so a malformed
        // path or body is never looked at without one.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_token))
        .fallback(not_found)
        .with_state(state)
}

/// The scope a request needs: exports (`…/incidents/{id}/export/{file}`) need `export`,
/// other GETs `read`, the rest `operate`.
fn required_scope(method: &Method, path: &str) -> Scope {
    let segments: Vec<&str> = path.trim_end_matches('/').rsplit('/').take(4).collect();
    if let [_, "export", _, "incidents"] = segments.as_slice() {
        Scope::Export
    } else if method == Method::GET {
        Scope::Read
    } else {
        Scope::Operate
    }
}

fn client_ip(request: &axum::extract::Request) -> Option<IpAddr> {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

async fn require_token(
    State(app): State<Arc<AdminState>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let scope = required_scope(request.method(), request.uri().path());
    match authorize(&app, client_ip(&request), request.headers(), Some(scope)) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

/// An API error: a status and a value-free message, answered as `{"error": message}`.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = json_response(self.0, &json!({ "error": self.1 }));
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"vendorwall admin\""),
            );
        }
        if self.0 == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(FAILURE_WINDOW.as_secs()));
        }
        r
    }
}

fn error(status: StatusCode, message: &str) -> ApiError {
    ApiError(status, message.to_owned())
}

/// The token the request presents, among the configured ones.
fn token_of<'a>(app: &'a AdminState, headers: &HeaderMap) -> Option<&'a AdminToken> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)?;
    // Compare against every token, so timing does not tell which (or whether one) matched.
    let mut found = None;
    for t in &app.config.admin.tokens {
        if constant_time_eq(presented.as_bytes(), t.token.expose().as_bytes()) {
            found = Some(t);
        }
    }
    found
}

/// Checks the address's throttle, the bearer token and (when given) the scope; `Err` is the
/// 429, 401 or 403 to send (counted).
fn authorize(
    app: &AdminState,
    ip: Option<IpAddr>,
    headers: &HeaderMap,
    scope: Option<Scope>,
) -> Result<Caller, ApiError> {
    let now = Instant::now();
    if let Some(ip) = ip
        && app.throttle.blocked(ip, now)
    {
        app.metrics.admin_throttled.fetch_add(1, Relaxed);
        return Err(error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; try later",
        ));
    }
    let Some(token) = token_of(app, headers) else {
        app.metrics.admin_unauthorized.fetch_add(1, Relaxed);
        if let Some(ip) = ip {
            app.throttle.fail(ip, now);
        }
        return Err(error(StatusCode::UNAUTHORIZED, "unauthorized"));
    };
    if let Some(scope) = scope
        && !token.scopes.allows(scope)
    {
        app.metrics.admin_forbidden.fetch_add(1, Relaxed);
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("this token lacks the `{}` scope", scope.as_str()),
        ));
    }
    Ok(Caller(token.name.clone()))
}

/// Appends to the audit log; a failure is an error the caller answers (the action is done
/// but unrecorded: the operator must know).
fn audit(a: &AdminState, caller: &Caller, action: &str, target: &str) -> Result<(), ApiError> {
    a.audit
        .append(&caller.actor(), action, target)
        .map(|_| ())
        .map_err(|e| {
            tracing::error!(error = %e, action, "cannot append to the audit log");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "done, but the audit log could not be written; see the server log",
            )
        })
}

fn incident_error(e: IncidentError) -> ApiError {
    match e {
        IncidentError::NotFound(_) => error(StatusCode::NOT_FOUND, &e.to_string()),
        // The client's own string is not echoed back.
        IncidentError::UnknownDestination(_) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`destination` is not a configured destination",
        ),
        IncidentError::Invalid(_) => error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
        IncidentError::Conflict(_) | IncidentError::RotatedNotRecorded { .. } => {
            error(StatusCode::CONFLICT, &e.to_string())
        }
        IncidentError::Store(_) => error(StatusCode::SERVICE_UNAVAILABLE, "store unavailable"),
        IncidentError::Io { .. } | IncidentError::Key(_) => {
            tracing::error!(error = %e, "incident operation failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
        // The template and line go to the log, not the server's paths to the client.
        IncidentError::Template(_) => {
            tracing::error!(error = %e, "a notice template failed to render");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "a notice template failed to render; the server log names the template and line",
            )
        }
    }
}

/// Runs a blocking incident operation off the request threads (the token was checked by
/// `require_token`).
async fn blocking<T: Send + 'static>(
    app: &Arc<AdminState>,
    f: impl FnOnce(&AdminState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .unwrap_or_else(|_| Err(error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")))
}

fn desk(app: &AdminState) -> Desk<'_> {
    Desk {
        store: app.store.as_ref(),
        config: &app.config,
    }
}

fn incident_json(inc: &crate::incident::Incident, all_revisions: bool) -> Value {
    if all_revisions {
        return serde_json::to_value(inc).unwrap_or(Value::Null);
    }
    json!({
        "id": inc.id,
        "title": inc.title,
        "destination": inc.destination,
        "opened_at_ms": inc.opened_at_ms,
        "revisions": inc.revisions.len(),
        "current": inc.current(),
    })
}

fn done(status: StatusCode, r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => json_response(status, &v),
        Err(e) => e.into_response(),
    }
}

async fn list_incidents(State(app): State<Arc<AdminState>>) -> Response {
    let r = blocking(&app, |a| {
        let list = desk(a).list().map_err(incident_error)?;
        Ok(Value::Array(list.iter().map(|i| incident_json(i, false)).collect()))
    })
    .await;
    done(StatusCode::OK, r)
}

async fn get_incident(State(app): State<Arc<AdminState>>, Path(id): Path<i64>) -> Response {
    let r = blocking(&app, move |a| {
        desk(a).get(id).map(|i| incident_json(&i, true)).map_err(incident_error)
    })
    .await;
    done(StatusCode::OK, r)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeBody {
    destination: Option<String>,
    title: Option<String>,
    from: Option<String>,
    to: Option<String>,
    vendor_detected_at: Option<String>,
    informed_at: Option<String>,
    aware_at: Option<String>,
    materiality_at: Option<String>,
    users_notified_at: Option<String>,
    data_from: Option<String>,
    data_to: Option<String>,
    #[serde(default)]
    derive_data_range: bool,
}

fn date(field: &str, v: Option<&String>) -> Result<Option<i64>, ApiError> {
    // The end of a range: a bare date includes its whole day.
    let parse = if matches!(field, "to" | "data_to") {
        crate::incident::time::parse_date_end
    } else {
        crate::incident::time::parse_date
    };
    v.map(|s| {
        parse(s).ok_or_else(|| {
            error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("`{field}`: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"),
            )
        })
    })
    .transpose()
}

fn parse_body(bytes: &[u8]) -> Result<ScopeBody, ApiError> {
    // serde's message may quote a value; the client sent it, but keep errors value-free.
    serde_json::from_slice(bytes).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "the body is not valid JSON".to_owned()
        } else {
            let msg = e.to_string();
            match msg.split('`').nth(1) {
                Some(field) if msg.starts_with("unknown field") => format!("unknown field `{field}`"),
                _ => "a field has the wrong type".to_owned(),
            }
        };
        error(StatusCode::BAD_REQUEST, &what)
    })
}

fn update_of(b: &ScopeBody) -> Result<Update, ApiError> {
    Ok(Update {
        derive_data_range: b.derive_data_range,
        title: b.title.clone(),
        breach_from_ms: date("from", b.from.as_ref())?,
        breach_to_ms: date("to", b.to.as_ref())?,
        data_from_ms: date("data_from", b.data_from.as_ref())?,
        data_to_ms: date("data_to", b.data_to.as_ref())?,
        vendor_detected_at_ms: date("vendor_detected_at", b.vendor_detected_at.as_ref())?,
        informed_at_ms: date("informed_at", b.informed_at.as_ref())?,
        aware_at_ms: date("aware_at", b.aware_at.as_ref())?,
        materiality_at_ms: date("materiality_at", b.materiality_at.as_ref())?,
        users_notified_at_ms: date("users_notified_at", b.users_notified_at.as_ref())?,
    })
}

async fn open_incident(
    State(app): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let r = blocking(&app, move |a| {
        let b = parse_body(&body)?;
        let u = update_of(&b)?;
        let (Some(destination), Some(from), Some(to)) = (b.destination, u.breach_from_ms, u.breach_to_ms) else {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`destination`, `from` and `to` are required",
            ));
        };
        let scope = IncidentScope {
            breach_from_ms: from,
            breach_to_ms: to,
            data_from_ms: u.data_from_ms,
            data_to_ms: u.data_to_ms,
            facts: crate::incident::report::Facts {
                vendor_detected_at_ms: u.vendor_detected_at_ms,
                informed_at_ms: u.informed_at_ms,
                aware_at_ms: u.aware_at_ms,
                materiality_at_ms: u.materiality_at_ms,
                users_notified_at_ms: u.users_notified_at_ms,
            },
        };
        let inc = desk(a)
            .open(
                Open {
                    destination,
                    title: u.title,
                    scope,
                },
                now_ms(),
            )
            .map_err(incident_error)?;
        audit(a, &caller, "incident.open", &inc.id.to_string())?;
        Ok(incident_json(&inc, false))
    })
    .await;
    done(StatusCode::CREATED, r)
}

async fn update_incident(
    State(app): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Response {
    let r = blocking(&app, move |a| {
        let b = parse_body(&body)?;
        if b.destination.is_some() {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "an incident's destination cannot change; open a new incident",
            ));
        }
        let u = update_of(&b)?;
        let inc = desk(a).update(id, u, now_ms()).map_err(incident_error)?;
        audit(a, &caller, "incident.update", &id.to_string())?;
        Ok(incident_json(&inc, false))
    })
    .await;
    done(StatusCode::OK, r)
}

async fn suspend(
    State(app): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Response {
    let r = blocking(&app, move |a| {
        let inc = desk(a).suspend(id, now_ms()).map_err(incident_error)?;
        audit(a, &caller, "incident.suspend", &id.to_string())?;
        Ok(incident_json(&inc, false))
    })
    .await;
    done(StatusCode::OK, r)
}

async fn rotate_key(
    State(app): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Response {
    let r = blocking(&app, move |a| {
        let inc = desk(a).rotate_key(id, &a.keys, now_ms()).map_err(incident_error)?;
        audit(a, &caller, "incident.rotate_key", &id.to_string())?;
        Ok(incident_json(&inc, false))
    })
    .await;
    done(StatusCode::OK, r)
}

const EXPORT_FILES: [(&str, &str); 6] = [
    ("report.json", "application/json"),
    ("report.md", "text/markdown; charset=utf-8"),
    ("subjects.csv", "text/csv; charset=utf-8"),
    ("regulator-notice.md", "text/markdown; charset=utf-8"),
    ("user-notice.md", "text/markdown; charset=utf-8"),
    ("vendor-deletion-request.json", "application/json"),
];

async fn export_file(
    State(app): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    Path((id, file)): Path<(i64, String)>,
) -> Response {
    let Some(&(name, content_type)) = EXPORT_FILES.iter().find(|(n, _)| *n == file) else {
        return error(StatusCode::NOT_FOUND, "no such export file").into_response();
    };
    let r = blocking(&app, move |a| {
        // Exported into a private directory of this request's own under the store's (0700,
        // never the shared temporary directory), read, and removed: the notification list
        // does not stay on disk.
        let staging = a.config.store.path.join("exports");
        if crate::store::files::private_dir(&staging, "the export staging directory").is_err() {
            return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"));
        }
        let dir = staging.join(format!(
            "vendorwall-export-{id}-{}-{:016x}",
            crate::store::now_ms(),
            rand_tag()
        ));
        let result = desk(a)
            .export(id, &dir, &a.keys, now_ms())
            .map_err(incident_error)
            .and_then(|_| {
                std::fs::read(dir.join(name)).map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
            });
        let _ = std::fs::remove_dir_all(&dir);
        // Identities leave only once the export is on record.
        let bytes = result?;
        audit(a, &caller, "incident.export", &format!("{id}/{name}"))?;
        Ok(bytes)
    })
    .await;
    match r {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A random tag for a private export directory's name.
fn rand_tag() -> u64 {
    crate::policy::keys::random_bytes::<8>().map_or_else(|_| crate::store::now_ms() as u64, u64::from_le_bytes)
}

async fn destinations(State(app): State<Arc<AdminState>>) -> Response {
    let r = blocking(&app, |a| {
        let list = a
            .store
            .destination_statuses()
            .map_err(|_| error(StatusCode::SERVICE_UNAVAILABLE, "store unavailable"))?;
        let known: Vec<Value> = a
            .config
            .destinations
            .iter()
            .map(|d| {
                let s = list.iter().find(|s| s.name == d.name);
                json!({
                    "name": d.name,
                    "state": s.map_or("active", |s| s.state.as_str()),
                    "dropped": s.map_or(0, |s| s.dropped),
                    "vendor_retention_days": d.vendor_retention_days,
                })
            })
            .collect();
        Ok(Value::Array(known))
    })
    .await;
    done(StatusCode::OK, r)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuspendBody {
    #[serde(default)]
    drop: bool,
}

async fn suspend_destination(
    State(app): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let body: SuspendBody = if body.iter().all(u8::is_ascii_whitespace) {
        SuspendBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(_) => return error(StatusCode::BAD_REQUEST, "expected {} or {\"drop\": true}").into_response(),
        }
    };
    let (state, action) = if body.drop {
        (DestinationState::Dropping, "destination.drop")
    } else {
        (DestinationState::Suspended, "destination.suspend")
    };
    set_destination(app, caller, name, state, action).await
}

async fn resume_destination(
    State(app): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    set_destination(app, caller, name, DestinationState::Active, "destination.resume").await
}

async fn set_destination(
    app: Arc<AdminState>,
    caller: Caller,
    name: String,
    state: DestinationState,
    action: &'static str,
) -> Response {
    let r = blocking(&app, move |a| {
        if a.config.destination(&name).is_none() {
            // The client's own string is not echoed back.
            return Err(error(StatusCode::NOT_FOUND, "no such destination"));
        }
        a.store
            .set_destination_state(&name, state, now_ms())
            .map_err(|_| error(StatusCode::SERVICE_UNAVAILABLE, "store unavailable"))?;
        audit(a, &caller, action, &name)?;
        Ok(json!({ "name": name, "state": state.as_str() }))
    })
    .await;
    done(StatusCode::OK, r)
}

async fn verify(State(app): State<Arc<AdminState>>) -> Response {
    let r = blocking(&app, |a| {
        let v = a
            .store
            .verify_ledger()
            .map_err(|_| error(StatusCode::SERVICE_UNAVAILABLE, "store unavailable"))?;
        Ok(json!({
            "ok": v.iter().all(|v| v.ok()),
            "witness_configured": a.config.ledger.witness_path.is_some(),
            "destinations": v.iter().map(|v| json!({
                "destination": v.destination,
                "batches": v.batches,
                "entries": v.entries,
                "tampered_batches": v.tampered_batches,
                "broken_links": v.broken_links,
                "dictionary_tampered": v.dictionary_tampered,
                "head_missing": v.head_missing,
                "witness": v.witness,
                "rows": v.rows,
                "tampered_rollups": v.tampered_rollups,
                "revisions": v.revisions,
                "incident": v.incident,
            })).collect::<Vec<_>>(),
        }))
    })
    .await;
    done(StatusCode::OK, r)
}

async fn not_found(State(app): State<Arc<AdminState>>, request: axum::extract::Request) -> Response {
    if let Err(e) = authorize(&app, client_ip(&request), request.headers(), None) {
        return e.into_response();
    }
    error(StatusCode::NOT_FOUND, "no such route").into_response()
}
