//! What Mixpanel does with one request once it is reachable and healthy: decode, authenticate,
//! validate, and answer in the dialect the endpoint speaks. Pure functions over an already read
//! body, so the rules can be tested without a socket; [`crate::emulator`] serves them.
//!
//! * `POST /import` — body a JSON array or NDJSON, optionally `Content-Encoding: gzip`.
//!   Auth is HTTP Basic with the project token or the legacy API secret as username and an
//!   empty password; anything else is 401 `{"code":401,"error":..,"status":"Unauthorized"}`.
//!   More than 10 MiB uncompressed is 413; more than 2000 events, or a body that is not JSON,
//!   is 400 and nothing is ingested. With `strict=1` every event is validated: `event` a
//!   non-empty string, `properties` an object with fewer than 255 entries, `properties.time`
//!   in seconds or milliseconds between 1971-01-01 and one hour from now, `distinct_id` a
//!   string that is not one of the documented placeholders (`anon`, `null`, `0`, `-1`, `[]`,
//!   the all-zero UUID, ...; the empty string is allowed), `$insert_id` 1–36 bytes of
//!   `[A-Za-z0-9-]` and not a placeholder, nested values at most 3 deep with fewer than 255
//!   entries, the event under 1 MiB. If all pass: 200
//!   `{"code":200,"num_records_imported":N,"status":"OK"}`. If some fail: 400 with
//!   `failed_records[{index,$insert_id,field,message}]` (first problem of each event) and
//!   `num_records_imported`, **and the valid events are ingested**. Without `strict=1`
//!   invalid events are dropped silently and the answer is 200. A form body (`data=...`, how
//!   the python SDK posts `/import`) is accepted too and answered in the `/track` dialect,
//!   which is what that SDK parses.
//! * `/track`, `/engage`, `/groups`, with or without trailing slash, GET or POST. `data` in
//!   the form body or the query, raw JSON or base64 (with `+` turned into a space tolerated),
//!   an object or an array; a form labelled `text/plain` (beacon) or a bare JSON body also
//!   works. `verbose`, `ip`, `img`, `callback` are read from the query or the form body. Each
//!   record needs the project token (`properties.token`, or `$token` for profiles); `/track`
//!   refuses events older than 5 days; `/engage` needs `$distinct_id` and known operations
//!   (`$unset` a list); `/groups` needs `$group_key`/`$group_id` and refuses `$add`/`$append`.
//!   Answer: HTTP 200 with `1`/`0` as text/plain (`1` when at least one record was valid), or
//!   `{"status":1,"error":null}` / `{"status":0,"error":".."}` with `verbose=1`; `img=1` gets a
//!   GIF and `callback=fn` gets `fn(...)` JavaScript. Valid records are ingested even when
//!   others in the batch are not.
//!
//! Deliberately not emulated: deduplication, geolocation (`ip` is recorded, not acted on),
//! string truncation to 255 chars, replacing future `/track` times, session replay
//! (`/record`), feature flags (`/flags`), remote settings, service accounts and `project_id`
//! checks, rate limiting by volume, and the EU/India hosts. Divergence on purpose: a wrong
//! but well-formed token on `/track`-style endpoints counts as invalid (`0`), where real
//! Mixpanel answers `1` and drops the data later, so mistakes are visible.

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
use serde_json::{Map, Value, json};

use super::Endpoint;
use crate::protocol::{Answer, Emulated, EmulatedProject, HttpRequest};

/// `/import` (and, by the same limit, the form endpoints) refuse more than this many bytes of
/// uncompressed body. Current docs say 10 MB; the older 413 example says 2 MB (2097152 bytes).
const MAX_UNCOMPRESSED_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Most events or profile updates per request.
const MAX_RECORDS_PER_REQUEST: usize = 2000;
/// Each event must be smaller than this (uncompressed JSON).
const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Events, nested objects and arrays must have fewer than this many entries.
const MAX_ENTRIES: usize = 255;
/// Deepest nesting of objects/arrays inside one property value.
const MAX_NESTING_DEPTH: usize = 3;
/// 1971-01-01T00:00:00Z: the earliest `time` accepted.
const EARLIEST_EVENT_SECS: f64 = 31_536_000.0;
/// `/import` rejects events more than this far in the future.
const FUTURE_TOLERANCE_SECS: f64 = 3600.0;
/// `/track` rejects events older than this.
const TRACK_MAX_AGE_SECS: f64 = 5.0 * 24.0 * 3600.0;
/// A `time` at or above this is milliseconds: 1e10 s is the year 2286, and every millisecond
/// value after 1971 (3.15e10) is above it, so the two units never overlap where it matters.
const MILLIS_THRESHOLD: f64 = 1e10;

/// Values Mixpanel refuses as `distinct_id` (and as `$insert_id`), compared case-insensitively.
/// From the `/import` reference ("To prevent accidental implementation mistakes...").
const INVALID_IDS: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "anon",
    "anonymous",
    "nil",
    "none",
    "null",
    "n/a",
    "na",
    "undefined",
    "unknown",
    "<nil>",
    "0",
    "-1",
    "true",
    "false",
    "[]",
    "{}",
];

/// Profile operations accepted by `/engage`, and by `/groups` (which has no `$add`/`$append`).
const ENGAGE_OPERATIONS: &[&str] = &[
    "$set",
    "$set_once",
    "$add",
    "$append",
    "$union",
    "$remove",
    "$unset",
    "$delete",
];
const GROUP_OPERATIONS: &[&str] = &["$set", "$set_once", "$union", "$remove", "$unset", "$delete"];

/// A 1x1 transparent GIF, the answer to `img=1`.
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Credentials from an `Authorization: Basic` header.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BasicCredentials {
    pub user: String,
    pub password: String,
}

impl BasicCredentials {
    fn from_header(authorization: Option<&str>) -> Option<Self> {
        let value = authorization?.trim();
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = STANDARD_PAD_INDIFFERENT.decode(encoded.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        Some(Self {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }
}

/// Parameters of a request: the query string, and the form body when the body is a form.
#[derive(Debug, Default)]
struct Params {
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
}

impl Params {
    /// Query parameters, plus the body's when it is form-shaped. Python sends `verbose` and
    /// `ip` in the form body, node and the browser in the query.
    fn new(query: &str, content_type: Option<&str>, content_encoding: Option<&str>, body: &[u8]) -> Self {
        let query = parse_urlencoded(query.as_bytes());
        let form = if is_form_body(content_type, content_encoding, body) {
            parse_urlencoded(body)
        } else {
            Vec::new()
        };
        Self { query, form }
    }

    fn query(&self, key: &str) -> Option<&str> {
        lookup(&self.query, key)
    }

    /// The query value, else the form body's.
    fn any(&self, key: &str) -> Option<&str> {
        self.query(key).or_else(|| lookup(&self.form, key))
    }

    /// The form body's value, else the query's (where `data` lives for a POST).
    fn body_first(&self, key: &str) -> Option<&str> {
        lookup(&self.form, key).or_else(|| self.query(key))
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.any(key), Some("1" | "true"))
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn is_gzip(content_encoding: Option<&str>) -> bool {
    content_encoding.is_some_and(|v| v.split(',').any(|c| c.trim().eq_ignore_ascii_case("gzip")))
}

fn content_type(content_type: Option<&str>) -> String {
    content_type.map(|v| v.trim().to_ascii_lowercase()).unwrap_or_default()
}

fn is_json_content_type(ct: &str) -> bool {
    ct.starts_with("application/json") || ct.contains("ndjson") || ct.contains("jsonl")
}

/// Whether the body is `key=value&...`. Beacons (`navigator.sendBeacon`) label forms `text/plain`, so anything
/// that is not declared JSON, not compressed and does not start like JSON counts as a form.
fn is_form_body(ct: Option<&str>, ce: Option<&str>, body: &[u8]) -> bool {
    if body.is_empty() || is_gzip(ce) || is_json_content_type(&content_type(ct)) {
        return false;
    }
    !matches!(first_non_whitespace(body), Some(b'[' | b'{'))
}

fn first_non_whitespace(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space, `%XX` a byte).
fn parse_urlencoded(input: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(input)
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// Everything the ingestion rules need about one request.
struct Incoming<'a> {
    pub method: &'a Method,
    pub endpoint: Endpoint,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub params: &'a Params,
    pub body: &'a [u8],
    pub basic: Option<&'a BasicCredentials>,
    pub now: SystemTime,
}

/// The credentials the emulated project accepts.
struct Project<'a> {
    pub token: &'a str,
    pub api_secret: Option<&'a str>,
}

/// What to answer, and which records were accepted (and so are recorded).
#[derive(Debug)]
struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub accepted: Vec<Value>,
    pub rejected: usize,
}

impl Reply {
    /// `{"code":N,"error":"...","status":"<reason>"}`, the shape of every non-2xx JSON answer.
    fn json_error(status: StatusCode, error: &str) -> Self {
        let body = json!({
            "code": status.as_u16(),
            "error": error,
            "status": status_text(status),
        });
        Self::json(status, &body)
    }

    fn json(status: StatusCode, body: &Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
            accepted: Vec::new(),
            rejected: 0,
        }
    }
}

/// The `status` text Mixpanel puts in JSON errors: the HTTP reason phrase, with Mixpanel's
/// older wording for 413.
fn status_text(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

/// Handles one request the way Mixpanel's ingestion API does.
pub fn handle(project: &EmulatedProject, req: &HttpRequest<'_>) -> Emulated {
    let Some(endpoint) = Endpoint::from_path(req.path) else {
        return Emulated {
            answer: into_answer(Reply::json_error(StatusCode::NOT_FOUND, "unknown endpoint")).0,
            endpoint: None,
            accepted: Vec::new(),
            rejected: 0,
            ip_param: None,
        };
    };
    let method = match req.method {
        crate::protocol::Method::Get => Method::GET,
        crate::protocol::Method::Post => Method::POST,
        crate::protocol::Method::Options => Method::OPTIONS,
        crate::protocol::Method::Other => Method::PUT,
    };
    let params = Params::new(req.query, req.content_type, req.content_encoding, req.body);
    let basic = BasicCredentials::from_header(req.authorization);
    let incoming = Incoming {
        method: &method,
        endpoint,
        content_type: req.content_type,
        content_encoding: req.content_encoding,
        params: &params,
        body: req.body,
        basic: basic.as_ref(),
        now: UNIX_EPOCH + Duration::from_millis(u64::try_from(project.now_ms).unwrap_or(0)),
    };
    let own = Project {
        token: &project.key,
        api_secret: project.secret.as_deref(),
    };
    let ip_param = params.any("ip").map(str::to_owned);
    let (answer, accepted, rejected) = into_answer(dispatch(&own, &incoming));
    Emulated {
        answer,
        endpoint: Some(endpoint.as_str()),
        accepted,
        rejected,
        ip_param,
    }
}

fn into_answer(reply: Reply) -> (Answer, Vec<Value>, usize) {
    (
        Answer {
            status: reply.status.as_u16(),
            content_type: reply.content_type,
            body: reply.body,
            retry_after_secs: None,
        },
        reply.accepted,
        reply.rejected,
    )
}

fn dispatch(project: &Project<'_>, req: &Incoming<'_>) -> Reply {
    match req.endpoint {
        Endpoint::Import => import(project, req),
        Endpoint::Track | Endpoint::Engage | Endpoint::Groups => form_endpoint(project, req),
    }
}

// ---------------------------------------------------------------------------------------------
// /import

fn import(project: &Project<'_>, req: &Incoming<'_>) -> Reply {
    if req.method != Method::POST {
        return Reply::json_error(StatusCode::METHOD_NOT_ALLOWED, "/import only accepts POST");
    }
    if let Err(error) = check_import_credentials(project, req.basic) {
        return Reply::json_error(StatusCode::UNAUTHORIZED, error);
    }
    let body = match uncompressed_body(req) {
        Ok(body) => body,
        Err(reply) => return reply,
    };

    // Python's SDK posts /import as a form (`data=<json>&verbose=1`) and expects the
    // `{"status":1}` dialect back; everyone else posts JSON or NDJSON.
    let form_dialect = !req.params.form.is_empty();
    let records = if form_dialect {
        match req.params.body_first("data").map(decode_data) {
            Some(Ok(records)) => records,
            Some(Err(error)) => return form_reply(req.params, false, Some(error)),
            None => return form_reply(req.params, false, Some("data, missing or empty")),
        }
    } else {
        match parse_json_records(&body) {
            Ok(records) => records,
            Err(error) => return Reply::json_error(StatusCode::BAD_REQUEST, error),
        }
    };
    if records.len() > MAX_RECORDS_PER_REQUEST {
        return Reply::json_error(StatusCode::BAD_REQUEST, "request contains more than 2000 events");
    }

    let strict = req.params.any("strict") == Some("1");
    let mut accepted = Vec::with_capacity(records.len());
    let mut failed = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        match validate_import_event(&record, req.now) {
            Ok(()) => accepted.push(record),
            Err(failure) => failed.push(json!({
                "index": index,
                "$insert_id": insert_id_of(&record).unwrap_or_default(),
                "field": failure.field,
                "message": failure.message,
            })),
        }
    }
    let rejected = failed.len();

    let mut reply = if form_dialect {
        let error = (!failed.is_empty()).then_some("some data points in the request failed validation");
        form_reply(req.params, !accepted.is_empty() || failed.is_empty(), error)
    } else if failed.is_empty() || !strict {
        Reply::json(
            StatusCode::OK,
            &json!({"code": 200, "num_records_imported": accepted.len(), "status": "OK"}),
        )
    } else {
        Reply::json(
            StatusCode::BAD_REQUEST,
            &json!({
                "code": 400,
                "error": "some data points in the request failed validation",
                "failed_records": failed,
                "num_records_imported": accepted.len(),
                "status": "Bad Request",
            }),
        )
    };
    reply.accepted = accepted;
    reply.rejected = rejected;
    reply
}

fn check_import_credentials(project: &Project<'_>, basic: Option<&BasicCredentials>) -> Result<(), &'static str> {
    let Some(basic) = basic else {
        return Err("missing Basic authentication: use the project token or API secret as the username");
    };
    // Both accepted forms carry an empty password; a non-empty one would be a service account,
    // which the emulator does not have.
    let known_user = basic.user == project.token || Some(basic.user.as_str()) == project.api_secret;
    if known_user && basic.password.is_empty() && !basic.user.is_empty() {
        Ok(())
    } else {
        Err("Invalid credentials")
    }
}

/// The body after `Content-Encoding: gzip`, refused with 413 past the uncompressed limit.
fn uncompressed_body(req: &Incoming<'_>) -> Result<Vec<u8>, Reply> {
    let too_large = || {
        Reply::json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request exceeds max limit of {MAX_UNCOMPRESSED_BODY_BYTES} bytes"),
        )
    };
    if !is_gzip(req.content_encoding) {
        if req.body.len() > MAX_UNCOMPRESSED_BODY_BYTES {
            return Err(too_large());
        }
        return Ok(req.body.to_vec());
    }
    let mut out = Vec::new();
    let limit = MAX_UNCOMPRESSED_BODY_BYTES as u64 + 1;
    match flate2::read::MultiGzDecoder::new(req.body)
        .take(limit)
        .read_to_end(&mut out)
    {
        Ok(_) if out.len() > MAX_UNCOMPRESSED_BODY_BYTES => Err(too_large()),
        Ok(_) => Ok(out),
        Err(_) => Err(Reply::json_error(
            StatusCode::BAD_REQUEST,
            "unable to decompress gzip request body",
        )),
    }
}

/// A JSON array of events, or NDJSON (whitespace-separated objects, one per line normally).
fn parse_json_records(body: &[u8]) -> Result<Vec<Value>, &'static str> {
    match first_non_whitespace(body) {
        None => Err("request body is empty"),
        Some(b'[') => match std::str::from_utf8(body).ok().map(crate::json::parse) {
            Some(Ok(Value::Array(records))) => Ok(records),
            _ => Err("unable to parse request body as a JSON array"),
        },
        Some(_) => serde_json::Deserializer::from_slice(body)
            .into_iter::<Value>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| "unable to parse request body as NDJSON"),
    }
}

/// Why one event failed `/import` validation.
#[derive(Debug, PartialEq, Eq)]
struct Failure {
    pub field: String,
    pub message: String,
}

impl Failure {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

fn insert_id_of(record: &Value) -> Option<String> {
    match record.get("properties")?.get("$insert_id")? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn is_invalid_id(value: &str) -> bool {
    INVALID_IDS.iter().any(|bad| bad.eq_ignore_ascii_case(value))
}

/// The `/import` rules (reference "import-events"): reports the first problem only.
fn validate_import_event(record: &Value, now: SystemTime) -> Result<(), Failure> {
    let Some(event) = record.as_object() else {
        return Err(Failure::new("event", "each event must be a JSON object"));
    };
    match event.get("event") {
        Some(Value::String(name)) if !name.is_empty() => {}
        _ => {
            return Err(Failure::new("event", "'event' is invalid: must be a non-empty string"));
        }
    }
    let Some(props) = event.get("properties").and_then(Value::as_object) else {
        return Err(Failure::new(
            "properties",
            "'properties' is invalid: must be a JSON object",
        ));
    };

    match props.get("time") {
        None | Some(Value::Null) => {
            return Err(Failure::new("properties.time", "'properties.time' is required"));
        }
        Some(time) => {
            let Some(secs) = time_in_seconds(time) else {
                return Err(Failure::new(
                    "properties.time",
                    "'properties.time' is invalid: must be specified as seconds since epoch",
                ));
            };
            if secs < EARLIEST_EVENT_SECS {
                return Err(Failure::new(
                    "properties.time",
                    "'properties.time' is invalid: must be after 1971-01-01",
                ));
            }
            if secs > unix_secs(now) + FUTURE_TOLERANCE_SECS {
                return Err(Failure::new(
                    "properties.time",
                    "'properties.time' is invalid: more than 1 hour in the future",
                ));
            }
        }
    }

    match props.get("distinct_id") {
        None | Some(Value::Null) => {
            return Err(Failure::new(
                "properties.distinct_id",
                "'properties.distinct_id' is required",
            ));
        }
        Some(Value::String(id)) if is_invalid_id(id) => {
            return Err(Failure::new(
                "properties.distinct_id",
                "'properties.distinct_id' is invalid: disallowed placeholder value",
            ));
        }
        Some(Value::String(_)) => {}
        Some(_) => {
            return Err(Failure::new(
                "properties.distinct_id",
                "'properties.distinct_id' is invalid: must be a string",
            ));
        }
    }

    match props.get("$insert_id") {
        None | Some(Value::Null) => {
            return Err(Failure::new(
                "properties.$insert_id",
                "'properties.$insert_id' is required",
            ));
        }
        Some(Value::String(id))
            if !id.is_empty()
                && id.len() <= 36
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !is_invalid_id(id) => {}
        Some(_) => {
            return Err(Failure::new(
                "properties.$insert_id",
                "'properties.$insert_id' is invalid: must be at most 36 bytes of [A-Za-z0-9-]",
            ));
        }
    }

    if props.len() >= MAX_ENTRIES {
        return Err(Failure::new(
            "properties",
            "'properties' is invalid: an event must have fewer than 255 properties",
        ));
    }
    for (name, value) in props {
        if let Err(message) = check_nested(value, 0) {
            return Err(Failure::new(
                format!("properties.{name}"),
                format!("'properties.{name}' is invalid: {message}"),
            ));
        }
    }
    // Serialising is the only way to know the size; only done once the cheap checks passed.
    if serde_json::to_vec(record).map_or(0, |v| v.len()) >= MAX_EVENT_BYTES {
        return Err(Failure::new(
            "properties",
            "event is invalid: must be smaller than 1MB of uncompressed JSON",
        ));
    }
    Ok(())
}

/// Objects and arrays inside a property: fewer than 255 entries each, at most 3 levels deep.
fn check_nested(value: &Value, depth: usize) -> Result<(), &'static str> {
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) if items.len() >= MAX_ENTRIES => {
            return Err("arrays must have fewer than 255 elements");
        }
        Value::Object(map) if map.len() >= MAX_ENTRIES => {
            return Err("nested objects must have fewer than 255 keys");
        }
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => return Ok(()),
    };
    if depth + 1 > MAX_NESTING_DEPTH {
        return Err("nesting depth must be at most 3");
    }
    for child in children {
        check_nested(child, depth + 1)?;
    }
    Ok(())
}

/// `time` as seconds since the epoch, whether it was sent in seconds or milliseconds.
fn time_in_seconds(time: &Value) -> Option<f64> {
    let t = time.as_f64()?;
    if !t.is_finite() || t < 0.0 {
        return None;
    }
    Some(if t >= MILLIS_THRESHOLD { t / 1000.0 } else { t })
}

fn unix_secs(now: SystemTime) -> f64 {
    now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// /track, /engage, /groups

fn form_endpoint(project: &Project<'_>, req: &Incoming<'_>) -> Reply {
    if req.method != Method::GET && req.method != Method::POST {
        return Reply::json_error(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST");
    }
    if req.body.len() > MAX_UNCOMPRESSED_BODY_BYTES {
        return Reply::json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request exceeds max limit of {MAX_UNCOMPRESSED_BODY_BYTES} bytes"),
        );
    }
    let params = req.params;
    // The OpenAPI also shows a bare JSON body; forms carry `data=` (body first, then query).
    let decoded = if req.method == Method::POST && is_json_content_type(&content_type(req.content_type)) {
        parse_json_records(req.body).map_err(|_| "data, not valid JSON")
    } else {
        match params.body_first("data") {
            Some(data) => decode_data(data),
            None => Err("data, missing or empty"),
        }
    };
    let records = match decoded {
        Ok(records) if records.is_empty() => {
            return form_reply(params, false, Some("data, empty batch"));
        }
        Ok(records) if records.len() > MAX_RECORDS_PER_REQUEST => {
            return form_reply(params, false, Some("data, more than 2000 objects"));
        }
        Ok(records) => records,
        Err(error) => return form_reply(params, false, Some(error)),
    };

    let mut accepted = Vec::with_capacity(records.len());
    let mut first_error = None;
    let mut rejected = 0;
    for record in records {
        let verdict = match req.endpoint {
            Endpoint::Track => validate_track_event(&record, project.token, req.now),
            Endpoint::Engage => validate_profile_update(&record, project.token, false),
            Endpoint::Groups => validate_profile_update(&record, project.token, true),
            Endpoint::Import => Ok(()),
        };
        match verdict {
            Ok(()) => accepted.push(record),
            Err(error) => {
                rejected += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    let ok = !accepted.is_empty();
    let mut reply = form_reply(params, ok, if ok { None } else { first_error });
    reply.accepted = accepted;
    reply.rejected = rejected;
    reply
}

/// Decodes a `data` value: raw JSON when it starts like JSON, else base64 of UTF-8 JSON (as
/// mixpanel-browser sends it). A `+` that became a space in transit is put back. One object
/// or an array of them.
fn decode_data(data: &str) -> Result<Vec<Value>, &'static str> {
    let trimmed = data.trim();
    if trimmed.is_empty() {
        return Err("data, missing or empty");
    }
    let value: Value = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        crate::json::parse(trimmed).map_err(|_| "data, not valid JSON")?
    } else {
        let compact: String = trimmed
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('+'),
                c if c.is_whitespace() => None,
                c => Some(c),
            })
            .collect();
        let bytes = STANDARD_PAD_INDIFFERENT
            .decode(&compact)
            .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(&compact))
            .map_err(|_| "data, not valid JSON or base64")?;
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| crate::json::parse(text).ok())
            .ok_or("data, base64 does not hold valid JSON")?
    };
    match value {
        Value::Array(records) => Ok(records),
        object @ Value::Object(_) => Ok(vec![object]),
        _ => Err("data, must be a JSON object or array"),
    }
}

/// `/track`: token in `properties.token`, a name, and no `time` older than 5 days.
fn validate_track_event(record: &Value, token: &str, now: SystemTime) -> Result<(), &'static str> {
    let event = record.as_object().ok_or("event, must be a JSON object")?;
    match event.get("event") {
        Some(Value::String(name)) if !name.is_empty() => {}
        _ => return Err("event, missing or empty"),
    }
    let props = event
        .get("properties")
        .and_then(Value::as_object)
        .ok_or("properties, missing or not an object")?;
    check_token(props.get("token"), token)?;
    if props.len() >= MAX_ENTRIES {
        return Err("properties, must be fewer than 255");
    }
    match props.get("time") {
        // A missing time means "now"; a future one is replaced by the arrival time.
        None | Some(Value::Null) => {}
        Some(time) => {
            let secs = time_in_seconds(time).ok_or("time, must be a number")?;
            if secs < EARLIEST_EVENT_SECS || unix_secs(now) - secs > TRACK_MAX_AGE_SECS {
                return Err("time, event is older than 5 days: use /import");
            }
        }
    }
    Ok(())
}

/// `/engage` and `/groups` updates: `$token`, the profile's id, and known operations.
fn validate_profile_update(record: &Value, token: &str, group: bool) -> Result<(), &'static str> {
    let update = record.as_object().ok_or("update, must be a JSON object")?;
    check_token(update.get("$token"), token)?;
    if group {
        match update.get("$group_key") {
            Some(Value::String(key)) if !key.is_empty() => {}
            _ => return Err("$group_key, missing or empty"),
        }
        if !is_present_id(update.get("$group_id")) {
            return Err("$group_id, missing or empty");
        }
    } else if !is_present_id(update.get("$distinct_id")) {
        return Err("$distinct_id, missing or empty");
    }
    let allowed = if group { GROUP_OPERATIONS } else { ENGAGE_OPERATIONS };
    let mut operations = 0;
    for (key, value) in update {
        if ENGAGE_OPERATIONS.contains(&key.as_str()) && !allowed.contains(&key.as_str()) {
            return Err("group profiles do not support $add or $append");
        }
        if !allowed.contains(&key.as_str()) {
            continue;
        }
        operations += 1;
        check_operation(key, value)?;
    }
    if operations == 0 {
        return Err("update, no operation ($set, $set_once, $add, ...)");
    }
    Ok(())
}

fn check_operation(key: &str, value: &Value) -> Result<(), &'static str> {
    match key {
        // `$unset` is a list of names
        // (https://developer.mixpanel.com/reference/profile-delete-property); `$delete`'s value
        // is ignored.
        "$unset" => match value {
            Value::Array(names) if names.iter().all(Value::is_string) => Ok(()),
            _ => Err("$unset, must be a list of property names"),
        },
        "$delete" => Ok(()),
        "$add" => match value {
            Value::Object(map) if map.values().all(Value::is_number) => Ok(()),
            _ => Err("$add, must be an object of numbers"),
        },
        "$union" => match value {
            Value::Object(map) if map.values().all(Value::is_array) => Ok(()),
            _ => Err("$union, must be an object of lists"),
        },
        _ => match value {
            Value::Object(_) => Ok(()),
            _ => Err("operation, must be an object"),
        },
    }
}

fn is_present_id(value: Option<&Value>) -> bool {
    match value {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    }
}

fn check_token(sent: Option<&Value>, expected: &str) -> Result<(), &'static str> {
    match sent {
        Some(Value::String(token)) if token == expected => Ok(()),
        Some(Value::String(token)) if !token.is_empty() => Err("token, not a known project token"),
        _ => Err("token, missing or empty"),
    }
}

/// The `/track` answer (<https://developer.mixpanel.com/reference/track-event>): `callback=` JSONP, `img=1` pixel, `verbose=1` JSON,
/// else `1`/`0` as text/plain. Always HTTP 200.
fn form_reply(params: &Params, ok: bool, error: Option<&str>) -> Reply {
    let status_value = u8::from(ok);
    let verbose = params.flag("verbose");
    let payload = if verbose {
        let mut map = Map::new();
        map.insert("status".to_owned(), json!(status_value));
        map.insert(
            "error".to_owned(),
            error.filter(|_| !ok).map_or(Value::Null, |e| json!(e)),
        );
        Value::Object(map).to_string()
    } else {
        status_value.to_string()
    };
    let (content_type, body) = if let Some(callback) = params.any("callback") {
        let callback: String = callback
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'))
            .collect();
        ("text/javascript", format!("{callback}({payload});").into_bytes())
    } else if params.flag("img") {
        ("image/gif", PIXEL_GIF.to_vec())
    } else if verbose {
        ("application/json", payload.into_bytes())
    } else {
        ("text/plain", payload.into_bytes())
    };
    Reply {
        status: StatusCode::OK,
        content_type,
        body,
        accepted: Vec::new(),
        rejected: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        SystemTime::now()
    }

    fn event(props: Value) -> Value {
        json!({"event": "Signup", "properties": props})
    }

    fn secs_ago(secs: u64) -> u64 {
        (unix_secs(now()) as u64) - secs
    }

    #[test]
    fn urlencoded_decodes_plus_and_percent() {
        let pairs = parse_urlencoded(b"data=a+b%2Bc%3D&verbose=1&empty=&flag");
        assert_eq!(
            pairs,
            vec![
                ("data".to_owned(), "a b+c=".to_owned()),
                ("verbose".to_owned(), "1".to_owned()),
                ("empty".to_owned(), String::new()),
                ("flag".to_owned(), String::new()),
            ]
        );
        // A dangling or malformed escape is kept literally.
        assert_eq!(
            parse_urlencoded(b"a=100%&b=%zz%4"),
            vec![
                ("a".to_owned(), "100%".to_owned()),
                ("b".to_owned(), "%zz%4".to_owned())
            ]
        );
    }

    #[test]
    fn data_accepts_raw_json_base64_and_mangled_base64() {
        let json = r#"[{"event":"a","properties":{"token":"t"}}]"#;
        assert_eq!(decode_data(json).map(|r| r.len()), Ok(1));
        let b64 = STANDARD_PAD_INDIFFERENT.encode(r#"{"event":">>>","properties":{}}"#);
        assert!(b64.contains('+') && b64.ends_with('='), "want '+' and padding in {b64}");
        assert_eq!(decode_data(&b64).map(|r| r.len()), Ok(1));
        assert_eq!(decode_data(&b64.replace('+', " ")).map(|r| r.len()), Ok(1));
        assert_eq!(decode_data(b64.trim_end_matches('=')).map(|r| r.len()), Ok(1));
        assert!(decode_data("").is_err());
        assert!(decode_data("!!!").is_err());
        assert!(decode_data("\"just a string\"").is_err());
    }

    #[test]
    fn import_validation_table() {
        let t = secs_ago(60);
        let good = json!({"time": t, "distinct_id": "u1", "$insert_id": "abc-123"});
        assert_eq!(validate_import_event(&event(good.clone()), now()), Ok(()));

        let with = |key: &str, value: Value| {
            let mut props = good.clone();
            props[key] = value;
            event(props)
        };
        let without = |key: &str| {
            let mut props = good.clone();
            props.as_object_mut().map(|m| m.remove(key));
            event(props)
        };
        let far_future = unix_secs(now()) as u64 + 7200;
        let cases: Vec<(Value, Option<&str>)> = vec![
            (with("time", json!(t * 1000)), None),
            (with("time", json!(t as f64 + 0.123)), None),
            (with("time", json!(far_future)), Some("properties.time")),
            (with("time", json!(1000)), Some("properties.time")),
            (with("time", json!("2024-01-01")), Some("properties.time")),
            (without("time"), Some("properties.time")),
            (with("distinct_id", json!("")), None),
            (with("distinct_id", json!("$device:abc")), None),
            (with("distinct_id", json!("anon")), Some("properties.distinct_id")),
            (with("distinct_id", json!("NULL")), Some("properties.distinct_id")),
            (with("distinct_id", json!("-1")), Some("properties.distinct_id")),
            (with("distinct_id", json!("{}")), Some("properties.distinct_id")),
            (
                with("distinct_id", json!("00000000-0000-0000-0000-000000000000")),
                Some("properties.distinct_id"),
            ),
            (with("distinct_id", json!(42)), Some("properties.distinct_id")),
            (without("distinct_id"), Some("properties.distinct_id")),
            (without("$insert_id"), Some("properties.$insert_id")),
            (with("$insert_id", json!("")), Some("properties.$insert_id")),
            (with("$insert_id", json!("a".repeat(36))), None),
            (with("$insert_id", json!("a".repeat(37))), Some("properties.$insert_id")),
            (
                with("$insert_id", json!("has_underscore")),
                Some("properties.$insert_id"),
            ),
            (with("$insert_id", json!("undefined")), Some("properties.$insert_id")),
            (with("deep", json!({"a": {"b": {"c": 1}}})), None),
            (
                with("deep", json!({"a": {"b": {"c": {"d": 1}}}})),
                Some("properties.deep"),
            ),
            (with("list", json!(vec![1; 255])), Some("properties.list")),
            (json!({"event": "", "properties": good.clone()}), Some("event")),
            (json!({"properties": good.clone()}), Some("event")),
            (json!({"event": "x", "properties": []}), Some("properties")),
            (json!("not an object"), Some("event")),
        ];
        for (i, (record, want)) in cases.into_iter().enumerate() {
            let got = validate_import_event(&record, now()).err().map(|f| f.field);
            assert_eq!(got.as_deref(), want, "case {i}: {record}");
        }

        let mut many = good.as_object().cloned().unwrap_or_default();
        for i in 0..252 {
            many.insert(format!("p{i}"), json!(i));
        }
        assert_eq!(many.len(), 255);
        let got = validate_import_event(&event(Value::Object(many)), now());
        assert_eq!(got.err().map(|f| f.field).as_deref(), Some("properties"));
    }

    #[test]
    fn track_validation_table() {
        let ok = |props: Value| validate_track_event(&event(props), "tok", now());
        assert_eq!(ok(json!({"token": "tok"})), Ok(()));
        assert_eq!(ok(json!({"token": "tok", "time": secs_ago(3600)})), Ok(()));
        assert_eq!(ok(json!({"token": "tok", "time": secs_ago(3600) * 1000})), Ok(()));
        assert!(ok(json!({"token": "tok", "time": secs_ago(6 * 24 * 3600)})).is_err());
        assert!(ok(json!({"token": "other"})).is_err());
        assert!(ok(json!({})).is_err());
        assert!(validate_track_event(&json!({"properties": {"token": "tok"}}), "tok", now()).is_err());
    }

    #[test]
    fn profile_validation_table() {
        let engage = |v: Value| validate_profile_update(&v, "tok", false);
        let groups = |v: Value| validate_profile_update(&v, "tok", true);
        assert_eq!(
            engage(json!({"$token": "tok", "$distinct_id": "u", "$set": {"a": 1}})),
            Ok(())
        );
        assert_eq!(
            engage(json!({"$token": "tok", "$distinct_id": "u", "$unset": ["a"]})),
            Ok(())
        );
        assert_eq!(
            engage(json!({"$token": "tok", "$distinct_id": "u", "$delete": ""})),
            Ok(())
        );
        assert!(engage(json!({"$token": "tok", "$distinct_id": "u", "$unset": {"a": 1}})).is_err());
        assert!(engage(json!({"$token": "tok", "$distinct_id": "u", "$add": {"a": "x"}})).is_err());
        assert!(engage(json!({"$token": "bad", "$distinct_id": "u", "$set": {}})).is_err());
        assert!(engage(json!({"$token": "tok", "$set": {}})).is_err());
        assert!(engage(json!({"$token": "tok", "$distinct_id": "u"})).is_err());
        let group = json!({"$token": "tok", "$group_key": "company", "$group_id": 7, "$set": {"a": 1}});
        assert_eq!(groups(group), Ok(()));
        assert!(groups(json!({"$token": "tok", "$group_key": "c", "$group_id": "x", "$add": {"n": 1}})).is_err());
        assert!(groups(json!({"$token": "tok", "$group_id": "x", "$set": {}})).is_err());
    }

    #[test]
    fn basic_credentials_parse() {
        let encoded = STANDARD_PAD_INDIFFERENT.encode("secret:");
        let header = format!("Basic {encoded}");
        assert_eq!(
            BasicCredentials::from_header(Some(&header)),
            Some(BasicCredentials {
                user: "secret".to_owned(),
                password: String::new()
            })
        );
        assert_eq!(BasicCredentials::from_header(Some("Bearer x")), None);
    }

    #[test]
    fn ndjson_and_arrays_parse() {
        assert_eq!(parse_json_records(b"[{\"a\":1},{\"a\":2}]").map(|v| v.len()), Ok(2));
        assert_eq!(parse_json_records(b"{\"a\":1}\n{\"a\":2}\n").map(|v| v.len()), Ok(2));
        assert_eq!(parse_json_records(b"{\n  \"a\": 1\n}\n").map(|v| v.len()), Ok(1));
        assert!(parse_json_records(b"{\"a\":1}\n{oops").is_err());
        assert!(parse_json_records(b"  ").is_err());
    }
}
