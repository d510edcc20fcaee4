//! What PostHog's capture API does with one request once it is reachable and healthy:
//! decode, authenticate, validate, answer (<https://posthog.com/docs/api/capture>). Pure
//! functions over an already read body; [`crate::emulator`] serves them.
//!
//! * `/batch/`, `/e/`, `/i/v0/e/`, `/capture/` (with or without the slash), GET or POST: the
//!   same bodies vendorwall's own decoder reads (JSON wrapper, array or single event; gzip
//!   by header, magic bytes or `?compression=`; base64 and lz64; `data=` forms). The key
//!   (`api_key`, `token`, `$token` of the body or of each event, `properties.token`) must be
//!   the project's: otherwise 401 `authentication_error`, nothing ingested. More than
//!   20 MB (compressed or not) is 413. A body that cannot be read is 400.
//! * Every event needs a non-empty `event` name and a non-empty `distinct_id` (top level or
//!   in `properties`), and its `uuid`, if present, must be a UUID. **One bad event makes the
//!   whole request a 400 and nothing is ingested**, as PostHog does: what vendorwall's
//!   `Bisect` verdict is for.
//! * Success: 200 `{"status":"Ok"}`; the events are recorded as received (key included, so
//!   tests can prove no app-side key reached the vendor).
//! * `/flags/` and `/decide/`: the key must be the project's (401 otherwise); the answer is
//!   a fixed flag set, [`FLAGS_ANSWER`], and the request body is recorded as the endpoint's
//!   one record.
//!
//! Not emulated: deduplication, GeoIP, person processing, quotas and `quota_limited`, rate
//! limits, the 1 MB per-event limit, `/s/` (session replay), and the EU host.

use serde_json::Value;

use super::decode::{RawRequest, read_payload};
use super::encode::is_uuid;
use super::response::{OK_BODY, error_body};
use crate::protocol::{Answer, Emulated, EmulatedProject, HttpRequest, RequestError, RequestLimits};

/// The most a request body may hold, compressed or not.
pub const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;

/// The emulated project's flags: one boolean flag, `vw-emulated-flag`, on.
pub const FLAGS_ANSWER: &str = r#"{"flags":{"vw-emulated-flag":{"key":"vw-emulated-flag","enabled":true,"variant":null,"reason":{"code":"condition_match","description":"Matched condition set 1","condition_index":0},"metadata":{"id":1,"version":1,"payload":null,"description":null}}},"featureFlags":{"vw-emulated-flag":true},"featureFlagPayloads":{},"errorsWhileComputingFlags":false,"requestId":"00000000-0000-4000-8000-000000000000"}"#;

/// The emulator's name for a path.
pub fn endpoint(path: &str) -> Option<&'static str> {
    match path.strip_suffix('/').unwrap_or(path) {
        "/batch" => Some("batch"),
        "/e" | "/i/v0/e" => Some("e"),
        "/capture" => Some("capture"),
        "/flags" | "/decide" => Some("flags"),
        _ => None,
    }
}

fn reply(answer: Answer, endpoint: Option<&'static str>, accepted: Vec<Value>, rejected: usize) -> Emulated {
    Emulated {
        answer,
        endpoint,
        accepted,
        rejected,
        ip_param: None,
    }
}

fn fail(status: u16, kind: &str, code: &str, detail: &str) -> Answer {
    let mut a = Answer::json(status, &error_body(kind, code, detail));
    a.retry_after_secs = None;
    a
}

fn unauthorized() -> Answer {
    fail(
        401,
        "authentication_error",
        "invalid_api_key",
        "Project API key invalid. You can find your project API key in PostHog project settings.",
    )
}

/// Handles one request the way PostHog's capture service does.
pub fn handle(project: &EmulatedProject, req: &HttpRequest<'_>) -> Emulated {
    let Some(name) = endpoint(req.path) else {
        return reply(
            fail(404, "invalid_request", "not_found", "unknown endpoint"),
            None,
            vec![],
            0,
        );
    };
    if req.body.len() > MAX_BODY_BYTES {
        return reply(
            fail(413, "invalid_request", "payload_too_large", "request body too large"),
            Some(name),
            vec![],
            0,
        );
    }
    let limits = RequestLimits::new(MAX_BODY_BYTES, usize::MAX, usize::MAX);
    let raw = RawRequest {
        query: req.query,
        content_type: req.content_type,
        content_encoding: req.content_encoding,
        body: req.body,
    };
    let value = match read_payload(raw, &limits) {
        Ok((_, v)) => v,
        Err(RequestError::DecompressedTooLarge) => {
            return reply(
                fail(413, "invalid_request", "payload_too_large", "request body too large"),
                Some(name),
                vec![],
                0,
            );
        }
        Err(e) => {
            return reply(
                fail(400, "validation_error", "invalid_payload", &e.to_string()),
                Some(name),
                vec![],
                0,
            );
        }
    };
    if name == "flags" {
        return flags(project, value, name);
    }
    let keys = all_keys(&value);
    let events = match value {
        Value::Object(mut obj) if obj.contains_key("batch") => match obj.remove("batch") {
            Some(Value::Array(items)) => items,
            _ => {
                return reply(
                    fail(
                        400,
                        "validation_error",
                        "invalid_payload",
                        "batch must be a list of events",
                    ),
                    Some(name),
                    vec![],
                    0,
                );
            }
        },
        Value::Object(obj) if obj.contains_key("event") => vec![Value::Object(obj)],
        Value::Array(items) => items,
        _ => {
            return reply(
                fail(400, "validation_error", "invalid_payload", "not a PostHog payload"),
                Some(name),
                vec![],
                0,
            );
        }
    };
    if keys.is_empty() || keys.iter().any(|k| *k != project.key) {
        return reply(unauthorized(), Some(name), vec![], 0);
    }
    if events.is_empty() {
        return reply(
            fail(400, "validation_error", "empty_batch", "the request holds no events"),
            Some(name),
            vec![],
            0,
        );
    }
    let bad = events.iter().filter(|e| invalid(e).is_some()).count();
    if let Some(detail) = events.iter().find_map(invalid) {
        return reply(
            fail(400, "validation_error", "invalid_payload", detail),
            Some(name),
            vec![],
            bad,
        );
    }
    reply(
        Answer {
            status: 200,
            content_type: "application/json",
            body: OK_BODY.as_bytes().to_vec(),
            retry_after_secs: None,
        },
        Some(name),
        events,
        0,
    )
}

/// Every key the payload carries: the body's and each event's.
fn all_keys(value: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    let add = |keys: &mut Vec<String>, obj: &serde_json::Map<String, Value>| {
        for f in ["api_key", "token", "$token"] {
            if let Some(Value::String(s)) = obj.get(f)
                && !s.is_empty()
            {
                keys.push(s.clone());
            }
        }
    };
    let events: Vec<&Value> = match value {
        Value::Object(obj) => {
            add(&mut keys, obj);
            match obj.get("batch") {
                Some(Value::Array(items)) => items.iter().collect(),
                _ => vec![],
            }
        }
        Value::Array(items) => items.iter().collect(),
        _ => vec![],
    };
    for e in events {
        if let Some(obj) = e.as_object() {
            add(&mut keys, obj);
            if let Some(Value::String(t)) = obj.get("properties").and_then(|p| p.get("token"))
                && !t.is_empty()
            {
                keys.push(t.clone());
            }
        }
    }
    keys
}

/// Why PostHog would refuse this event (and with it the whole request).
fn invalid(event: &Value) -> Option<&'static str> {
    let Some(obj) = event.as_object() else {
        return Some("each event must be a JSON object");
    };
    match obj.get("event") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => return Some("event name is required"),
    }
    let id = obj
        .get("distinct_id")
        .filter(|v| !v.is_null())
        .or_else(|| obj.get("properties").and_then(|p| p.get("distinct_id")));
    match id {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(Value::Number(_)) => {}
        _ => return Some("distinct_id is required"),
    }
    match obj.get("uuid") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if is_uuid(s) => {}
        _ => return Some("uuid must be a valid UUID"),
    }
    None
}

fn flags(project: &EmulatedProject, value: Value, name: &'static str) -> Emulated {
    let key = ["token", "api_key", "$token"]
        .iter()
        .find_map(|f| value.get(*f).and_then(Value::as_str));
    if key != Some(project.key.as_str()) {
        return reply(unauthorized(), Some(name), vec![], 0);
    }
    let answer = Answer {
        status: 200,
        content_type: "application/json",
        body: FLAGS_ANSWER.as_bytes().to_vec(),
        retry_after_secs: None,
    };
    reply(answer, Some(name), vec![value], 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Method;
    use serde_json::json;

    const KEY: &str = "phc_project";

    fn project() -> EmulatedProject {
        EmulatedProject {
            key: KEY.into(),
            secret: None,
            now_ms: 1_800_000_000_000,
        }
    }

    fn post<'a>(path: &'a str, body: &'a [u8]) -> HttpRequest<'a> {
        HttpRequest {
            method: Method::Post,
            path,
            query: "",
            content_type: Some("application/json"),
            content_encoding: None,
            authorization: None,
            body,
            client_ip: None,
            received_at_ms: 1_800_000_000_000,
        }
    }

    fn run(path: &str, body: Value) -> Emulated {
        let text = body.to_string();
        handle(&project(), &post(path, text.as_bytes()))
    }

    #[test]
    fn accepts_valid_batches_and_refuses_whole_batches() {
        let ev = |extra: Value| {
            let mut e = json!({"event": "a", "distinct_id": "d", "uuid": "01a25147-8371-7d11-acd4-06e89f962da4"});
            if let (Some(o), Value::Object(x)) = (e.as_object_mut(), extra) {
                o.extend(x);
            }
            e
        };
        let e = run(
            "/batch/",
            json!({"api_key": KEY, "batch": [ev(json!({})), ev(json!({"uuid": null}))]}),
        );
        assert_eq!((e.answer.status, e.accepted.len(), e.endpoint), (200, 2, Some("batch")));
        assert_eq!(e.answer.body, OK_BODY.as_bytes());
        // posthog-js: key and distinct_id in the properties
        let e = run(
            "/e",
            json!([{"event": "a", "properties": {"token": KEY, "distinct_id": "d"}}]),
        );
        assert_eq!((e.answer.status, e.accepted.len()), (200, 1));
        // a single event with its key inside
        let e = run("/capture/", json!({"api_key": KEY, "event": "a", "distinct_id": 5}));
        assert_eq!((e.answer.status, e.accepted.len()), (200, 1));
        assert_eq!(e.accepted[0]["api_key"], KEY);

        let cases = vec![
            ev(json!({"event": ""})),
            ev(json!({"distinct_id": ""})),
            ev(json!({"distinct_id": null})),
            ev(json!({"uuid": "not-a-uuid"})),
            json!("str"),
        ];
        for bad in cases {
            let e = run(
                "/batch/",
                json!({"api_key": KEY, "batch": [ev(json!({})), bad.clone()]}),
            );
            assert_eq!((e.answer.status, e.accepted.len(), e.rejected), (400, 0, 1), "{bad}");
        }
        let e = run("/batch/", json!({"api_key": KEY, "batch": []}));
        assert_eq!(e.answer.status, 400);
    }

    #[test]
    fn keys_sizes_and_paths() {
        let e = run(
            "/batch/",
            json!({"api_key": "app-key", "batch": [{"event": "a", "distinct_id": "d"}]}),
        );
        assert_eq!((e.answer.status, e.accepted.len()), (401, 0));
        let e = run("/batch/", json!({"batch": [{"event": "a", "distinct_id": "d"}]}));
        assert_eq!(e.answer.status, 401);
        let e = run(
            "/batch/",
            json!({"api_key": KEY, "batch": [{"event": "a", "distinct_id": "d", "properties": {"token": "other"}}]}),
        );
        assert_eq!(e.answer.status, 401);
        let e = run("/nope", json!({}));
        assert_eq!((e.answer.status, e.endpoint), (404, None));
        let e = handle(&project(), &post("/batch/", b"{nope"));
        assert_eq!(e.answer.status, 400);
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(handle(&project(), &post("/batch/", &big)).answer.status, 413);
        let gz = crate::protocol::wire::gzip(
            json!({"api_key": KEY, "batch": [{"event": "a", "distinct_id": "d"}]})
                .to_string()
                .as_bytes(),
        );
        let mut r = post("/i/v0/e/", &gz);
        r.content_type = Some("text/plain");
        assert_eq!(handle(&project(), &r).answer.status, 200);
        assert_eq!(endpoint("/i/v0/e/"), Some("e"));
        assert_eq!(endpoint("/decide"), Some("flags"));
    }

    #[test]
    fn flags_answer_a_fixed_set_for_the_projects_key() {
        let e = run("/flags/", json!({"token": KEY, "distinct_id": "d"}));
        assert_eq!((e.answer.status, e.accepted.len()), (200, 1));
        let v: Value = serde_json::from_slice(&e.answer.body).unwrap();
        assert_eq!(v["featureFlags"]["vw-emulated-flag"], true);
        assert_eq!(v["flags"]["vw-emulated-flag"]["enabled"], true);
        assert_eq!(run("/flags/", json!({"token": "app"})).answer.status, 401);
    }
}
