//! What Amplitude's ingestion API does with one request, emulated: pure functions over an
//! already read body; [`crate::emulator`] serves them.
//!
//! * `POST /2/httpapi` (HTTP V2) and `POST /batch` (Batch Event Upload), with or without a
//!   trailing slash: a JSON body `{"api_key", "events": [...], "options": {"min_id_length"}}`,
//!   optionally `Content-Encoding: gzip`.
//! * Uncompressed bodies above 1 MiB (`/2/httpapi`) or 20 MiB (`/batch`), or more than 2000
//!   events: 413 `{"code":413,"error":"Payload too large"}`.
//! * Not JSON: 400 `{"code":400,"error":"Invalid JSON request body"}`. No `api_key`: 400
//!   `{"code":400,"error":"Request missing required field","missing_field":"api_key"}`; a key
//!   other than the project's: 400 `{"code":400,"error":"Invalid API key: …"}`. No `events`
//!   list: 400 with `missing_field: "events"`.
//! * Each event: `event_type` a non-empty string; `user_id` or `device_id` a string, at
//!   least `options.min_id_length` (default 5) characters, not a placeholder (`anonymous`,
//!   `null`, `0`, `-1`, `lmy47d`, the all-zero UUID, …); `time` an integer if present;
//!   `insert_id` a string; `event_properties`, `user_properties`, `groups`,
//!   `group_properties` objects; `ip` a string.
//! * If any event is invalid: 400 `{"code":400,"error":"Invalid field values on some
//!   events","events_with_invalid_fields":{field:[index]},"events_with_missing_fields":…,
//!   "events_with_invalid_id_lengths":…}` and **nothing is ingested** (the sender resends the
//!   others). Else 200 `{"code":200,"events_ingested":n,"payload_size_bytes":n,
//!   "server_upload_time":ms}`.
//! * `ip: "$remote"` is accepted (Amplitude geolocates the connecting address) and reported
//!   as the request's geolocation hint ([`Emulated::ip_param`]), so tests can assert that
//!   vendorwall never forwards it.
//!
//! Deliberately not emulated: deduplication by `insert_id`, geolocation, throttling and
//! daily quotas (429s come from fault injection), silenced devices, string truncation, the
//! EU host, and the legacy `/identify` and `/groupidentify` form APIs.

use std::io::Read;

use serde_json::{Map, Value, json};

use super::decode::{DEFAULT_MIN_ID_LENGTH, is_invalid_id};
use crate::protocol::{Answer, Emulated, EmulatedProject, HttpRequest, Method};

/// `/2/httpapi` takes less than this many uncompressed bytes.
const MAX_HTTPAPI_BYTES: usize = 1 << 20;
/// `/batch` takes less than this many uncompressed bytes.
const MAX_BATCH_BYTES: usize = 20 << 20;
/// Most events per request.
const MAX_EVENTS: usize = 2000;

/// The emulator's name for the endpoint at `path`.
pub fn endpoint(path: &str) -> Option<&'static str> {
    match path.strip_suffix('/').unwrap_or(path) {
        "/2/httpapi" => Some("httpapi"),
        "/batch" => Some("batch"),
        _ => None,
    }
}

fn reply(status: u16, fields: Value) -> Answer {
    let mut body = Map::new();
    body.insert("code".into(), json!(status));
    if let Value::Object(m) = fields {
        body.extend(m);
    }
    Answer {
        status,
        content_type: "application/json",
        body: Value::Object(body).to_string().into_bytes(),
        retry_after_secs: None,
    }
}

fn emulated(answer: Answer, endpoint: Option<&'static str>) -> Emulated {
    Emulated {
        answer,
        endpoint,
        accepted: Vec::new(),
        rejected: 0,
        ip_param: None,
    }
}

/// Handles one request the way Amplitude's ingestion API does.
pub fn handle(project: &EmulatedProject, req: &HttpRequest<'_>) -> Emulated {
    let Some(name) = endpoint(req.path) else {
        return emulated(reply(404, json!({"error": "not found"})), None);
    };
    let ep = Some(name);
    if req.method != Method::Post {
        return emulated(reply(405, json!({"error": "method not allowed: use POST"})), ep);
    }
    let limit = if name == "batch" {
        MAX_BATCH_BYTES
    } else {
        MAX_HTTPAPI_BYTES
    };
    let too_large = || emulated(reply(413, json!({"error": "Payload too large"})), ep);
    let gzip = req
        .content_encoding
        .is_some_and(|e| e.to_ascii_lowercase().contains("gzip"));
    let body = if gzip {
        let mut out = Vec::new();
        match flate2::read::MultiGzDecoder::new(req.body)
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
        {
            Ok(_) => out,
            Err(_) => return emulated(reply(400, json!({"error": "Invalid gzip request body"})), ep),
        }
    } else {
        req.body.to_vec()
    };
    if body.len() >= limit {
        return too_large();
    }
    let Some(Value::Object(mut obj)) = std::str::from_utf8(&body).ok().and_then(|t| crate::json::parse(t).ok()) else {
        return emulated(reply(400, json!({"error": "Invalid JSON request body"})), ep);
    };
    match obj.get("api_key") {
        Some(Value::String(k)) if k == &project.key => {}
        Some(Value::String(k)) if !k.is_empty() => {
            return emulated(
                reply(400, json!({"error": "Invalid API key: the key is not the project's"})),
                ep,
            );
        }
        _ => {
            return emulated(
                reply(
                    400,
                    json!({"error": "Request missing required field", "missing_field": "api_key"}),
                ),
                ep,
            );
        }
    }
    let min = obj
        .get("options")
        .and_then(|o| o.get("min_id_length"))
        .and_then(Value::as_u64)
        .map_or(DEFAULT_MIN_ID_LENGTH, |n| n as usize);
    let events = match obj.shift_remove("events") {
        Some(Value::Array(events)) => events,
        _ => {
            return emulated(
                reply(
                    400,
                    json!({"error": "Request missing required field", "missing_field": "events"}),
                ),
                ep,
            );
        }
    };
    if events.len() > MAX_EVENTS {
        return too_large();
    }

    let mut invalid: Map<String, Value> = Map::new();
    let mut missing: Map<String, Value> = Map::new();
    let mut lengths: Map<String, Value> = Map::new();
    let mut rejected = 0;
    for (i, event) in events.iter().enumerate() {
        if let Err(problem) = validate(event, min) {
            rejected += 1;
            let map = match problem {
                Problem::Invalid(_) => &mut invalid,
                Problem::Missing(_) => &mut missing,
                Problem::IdLength(_) => &mut lengths,
            };
            let field = match problem {
                Problem::Invalid(f) | Problem::Missing(f) | Problem::IdLength(f) => f,
            };
            if let Value::Array(list) = map.entry(field).or_insert_with(|| json!([])) {
                list.push(json!(i));
            }
        }
    }
    let ip_param = events
        .iter()
        .any(|e| e.get("ip").and_then(Value::as_str) == Some("$remote"))
        .then(|| "$remote".to_owned());
    if rejected > 0 {
        return Emulated {
            answer: reply(
                400,
                json!({"error": "Invalid field values on some events",
                       "events_with_invalid_fields": invalid, "events_with_missing_fields": missing,
                       "events_with_invalid_id_lengths": lengths}),
            ),
            endpoint: ep,
            accepted: Vec::new(),
            rejected,
            ip_param,
        };
    }
    Emulated {
        answer: reply(
            200,
            json!({"events_ingested": events.len(), "payload_size_bytes": body.len(),
                   "server_upload_time": project.now_ms}),
        ),
        endpoint: ep,
        accepted: events,
        rejected: 0,
        ip_param,
    }
}

/// The first problem of an event, by the field it concerns.
#[derive(Debug, PartialEq, Eq)]
enum Problem {
    Invalid(&'static str),
    Missing(&'static str),
    IdLength(&'static str),
}

fn validate(event: &Value, min_id_length: usize) -> Result<(), Problem> {
    let Some(e) = event.as_object() else {
        return Err(Problem::Invalid("event"));
    };
    match e.get("event_type") {
        Some(Value::String(s)) if !s.is_empty() => {}
        None | Some(Value::Null) => return Err(Problem::Missing("event_type")),
        Some(_) => return Err(Problem::Invalid("event_type")),
    }
    let mut any_id = false;
    for field in ["user_id", "device_id"] {
        match e.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) if is_invalid_id(s) => return Err(Problem::Invalid(field)),
            Some(Value::String(s)) if s.chars().count() < min_id_length => return Err(Problem::IdLength(field)),
            Some(Value::String(_)) => any_id = true,
            Some(_) => return Err(Problem::Invalid(field)),
        }
    }
    if !any_id {
        return Err(Problem::Missing("user_id"));
    }
    match e.get("time") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        Some(_) => return Err(Problem::Invalid("time")),
    }
    if e.get("insert_id").is_some_and(|v| !v.is_string() && !v.is_null()) {
        return Err(Problem::Invalid("insert_id"));
    }
    if e.get("ip").is_some_and(|v| !v.is_string() && !v.is_null()) {
        return Err(Problem::Invalid("ip"));
    }
    for field in ["event_properties", "user_properties", "groups", "group_properties"] {
        if e.get(field).is_some_and(|v| !v.is_object() && !v.is_null()) {
            return Err(Problem::Invalid(field));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> EmulatedProject {
        EmulatedProject {
            key: "real-key".into(),
            secret: None,
            now_ms: 1_700_000_000_000,
        }
    }

    fn post<'a>(path: &'a str, body: &'a [u8], encoding: Option<&'a str>) -> HttpRequest<'a> {
        HttpRequest {
            method: Method::Post,
            path,
            query: "",
            content_type: Some("application/json"),
            content_encoding: encoding,
            authorization: None,
            body,
            client_ip: None,
            received_at_ms: 0,
        }
    }

    fn run(path: &str, body: &Value) -> (u16, Value, usize, usize) {
        let text = body.to_string();
        let e = handle(&project(), &post(path, text.as_bytes(), None));
        (
            e.answer.status,
            serde_json::from_slice(&e.answer.body).unwrap(),
            e.accepted.len(),
            e.rejected,
        )
    }

    #[test]
    fn accepts_valid_events_on_both_endpoints() {
        let body = json!({"api_key": "real-key", "events": [
            {"event_type": "a", "user_id": "user-1", "time": 1_700_000_000_000i64, "insert_id": "x"},
            {"event_type": "$identify", "device_id": "dev-12", "user_properties": {"$set": {"a": 1}}, "ip": "$remote"}]});
        for path in ["/2/httpapi", "/2/httpapi/", "/batch"] {
            let (status, answer, accepted, _) = run(path, &body);
            assert_eq!((status, accepted), (200, 2), "{path}");
            assert_eq!(answer["code"], 200);
            assert_eq!(answer["events_ingested"], 2);
            assert_eq!(answer["server_upload_time"], 1_700_000_000_000i64);
        }
        let text = body.to_string();
        let e = handle(&project(), &post("/batch", text.as_bytes(), None));
        assert_eq!(e.endpoint, Some("batch"));
        assert_eq!(e.ip_param.as_deref(), Some("$remote"));
        // gzip
        let gz = crate::protocol::wire::gzip(text.as_bytes());
        let e = handle(&project(), &post("/2/httpapi", &gz, Some("gzip")));
        assert_eq!((e.answer.status, e.accepted.len()), (200, 2));
    }

    #[test]
    fn request_level_refusals() {
        let ok_event = json!({"event_type": "a", "user_id": "user-1"});
        let cases: Vec<(&str, Value, u16, Value)> = vec![
            (
                "/2/httpapi",
                json!({"events": [ok_event]}),
                400,
                json!({"code": 400, "error": "Request missing required field", "missing_field": "api_key"}),
            ),
            (
                "/2/httpapi",
                json!({"api_key": "app-key", "events": [ok_event]}),
                400,
                json!({"code": 400, "error": "Invalid API key: the key is not the project's"}),
            ),
            (
                "/2/httpapi",
                json!({"api_key": "real-key"}),
                400,
                json!({"code": 400, "error": "Request missing required field", "missing_field": "events"}),
            ),
            (
                "/2/httpapi",
                json!({"api_key": "real-key", "events": vec![ok_event.clone(); 2001]}),
                413,
                json!({"code": 413, "error": "Payload too large"}),
            ),
            ("/nope", json!({}), 404, json!({"code": 404, "error": "not found"})),
        ];
        for (path, body, status, want) in cases {
            let (s, answer, accepted, _) = run(path, &body);
            assert_eq!((s, answer, accepted), (status, want, 0), "{body}");
        }
        let e = handle(&project(), &post("/2/httpapi", b"{nope", None));
        assert_eq!(e.answer.status, 400);
        let big = format!(
            r#"{{"api_key":"real-key","events":[{{"event_type":"a","user_id":"user-1","event_properties":{{"x":"{}"}}}}]}}"#,
            "a".repeat(MAX_HTTPAPI_BYTES)
        );
        assert_eq!(
            handle(&project(), &post("/2/httpapi", big.as_bytes(), None))
                .answer
                .status,
            413
        );
        assert_eq!(
            handle(&project(), &post("/batch", big.as_bytes(), None)).answer.status,
            200
        );
        let mut get = post("/2/httpapi", b"", None);
        get.method = Method::Get;
        assert_eq!(handle(&project(), &get).answer.status, 405);
    }

    #[test]
    fn one_invalid_event_refuses_the_batch_and_names_it() {
        let body = json!({"api_key": "real-key", "events": [
            {"event_type": "ok", "user_id": "user-1"},
            {"event_type": "a", "user_id": "user-1", "time": "2024-01-01T00:00:00Z"},
            {"user_id": "user-1"},
            {"event_type": "a", "device_id": "abc"},
            {"event_type": "a", "device_id": "lmy47d"},
            {"event_type": "a"},
            {"event_type": "a", "user_id": "user-1", "event_properties": []}]});
        let (status, answer, accepted, rejected) = run("/2/httpapi", &body);
        assert_eq!((status, accepted, rejected), (400, 0, 6));
        assert_eq!(
            answer,
            json!({"code": 400, "error": "Invalid field values on some events",
                   "events_with_invalid_fields": {"time": [1], "device_id": [4], "event_properties": [6]},
                   "events_with_missing_fields": {"event_type": [2], "user_id": [5]},
                   "events_with_invalid_id_lengths": {"device_id": [3]}})
        );
        // options.min_id_length lowers the minimum
        let body = json!({"api_key": "real-key", "options": {"min_id_length": 3}, "events": [{"event_type": "a", "device_id": "abc"}]});
        assert_eq!(run("/2/httpapi", &body).0, 200);
    }
}
