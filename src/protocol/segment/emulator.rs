//! What Segment's tracking API (`api.segment.io`) does with one request once it is reachable
//! and healthy (<https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/>):
//! authenticate, decode, validate, answer. Pure functions over an already read body, so the
//! rules can be tested without a socket; [`crate::emulator`] serves them.
//!
//! * Routes: `POST /v1/batch` and `/v1/b` (`{"batch": [...], "sentAt", "writeKey"?}`), and
//!   the single-message routes `/v1/identify|track|page|screen|group|alias` and
//!   `/v1/i|t|p|s|g|a`, with or without a trailing slash. Another method is a 405.
//! * The body is JSON whatever its `Content-Type`, gzip when `Content-Encoding: gzip` says so
//!   or its magic bytes do. More than 500 KB (taken as 500 KiB) uncompressed is a 400, and
//!   so is a body that is not a JSON object (or a batch without a `batch` list).
//! * The write key: `Authorization: Basic base64(writeKey:)`, else the body's `writeKey`
//!   (the batch's, or the message's on a single-message route). Every key the request
//!   carries must be the project's.
//! * Each message must have a `type` (a single-message route implies it), a `userId` or an
//!   `anonymousId`, an `event` for a track, a `groupId` for a group, a `previousId` and a
//!   `userId` for an alias, a `timestamp` (if any) that is an ISO 8601 string, and be at
//!   most 32 KB. Invalid messages are dropped and counted; the valid ones are ingested.
//! * More than 2500 messages in a batch: nothing is ingested.
//! * Whatever was ingested or dropped, the answer is `200 {"success":true}`, as Segment's.
//!   Accepted records are the messages as received (after gzip).
//!
//! Deliberately not emulated: deduplication on `messageId`, clock-skew correction,
//! `receivedAt`, enrichment (geolocation, user agent parsing), the EU host, the pixel API,
//! rate limiting. Divergence on purpose: a missing or wrong write key is a
//! `401 {"code":"unauthorized",…}`, where Segment's behaviour for a bad key is not
//! documented, so that a misconfigured destination is visible (vendorwall reads a 401 as
//! "fix the configuration" and keeps the records queued).

use serde_json::{Map, Value, json};

use super::decode::{MessageType, parse_time};
use crate::protocol::wire::decompress;
use crate::protocol::{Answer, BasicAuth, Emulated, EmulatedProject, HttpRequest, Method, RequestError};

/// Most bytes of an uncompressed request body ("500 KB per batch request").
pub const MAX_BODY_BYTES: usize = 500 * 1024;
/// Most bytes of one message ("32 KB per call").
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Most messages in one batch.
pub const MAX_BATCH_MESSAGES: usize = 2500;

/// The emulator's fixed name for each route, and the message type it implies.
const ROUTES: &[(&str, &str, Option<MessageType>)] = &[
    ("/v1/batch", "batch", None),
    ("/v1/b", "b", None),
    ("/v1/identify", "identify", Some(MessageType::Identify)),
    ("/v1/track", "track", Some(MessageType::Track)),
    ("/v1/page", "page", Some(MessageType::Page)),
    ("/v1/screen", "screen", Some(MessageType::Screen)),
    ("/v1/group", "group", Some(MessageType::Group)),
    ("/v1/alias", "alias", Some(MessageType::Alias)),
    ("/v1/i", "i", Some(MessageType::Identify)),
    ("/v1/t", "t", Some(MessageType::Track)),
    ("/v1/p", "p", Some(MessageType::Page)),
    ("/v1/s", "s", Some(MessageType::Screen)),
    ("/v1/g", "g", Some(MessageType::Group)),
    ("/v1/a", "a", Some(MessageType::Alias)),
];

fn route(path: &str) -> Option<(&'static str, Option<MessageType>)> {
    let bare = path.strip_suffix('/').unwrap_or(path);
    ROUTES.iter().find(|(p, _, _)| *p == bare).map(|(_, n, t)| (*n, *t))
}

/// The emulator's name for the endpoint at `path`.
pub fn endpoint(path: &str) -> Option<&'static str> {
    route(path).map(|(name, _)| name)
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    Answer::json(status, &json!({"code": code, "message": message}))
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

/// Handles one request the way Segment's tracking API does.
pub fn handle(project: &EmulatedProject, req: &HttpRequest<'_>) -> Emulated {
    let Some((name, single)) = route(req.path) else {
        return reply(error(404, "not_found", "unknown endpoint"), None, Vec::new(), 0);
    };
    let endpoint = Some(name);
    if req.method != Method::Post {
        return reply(error(405, "method_not_allowed", "use POST"), endpoint, Vec::new(), 0);
    }
    let body = match decompress(req.body, req.content_encoding, MAX_BODY_BYTES) {
        Ok(b) => b,
        Err(RequestError::DecompressedTooLarge) => {
            return reply(
                error(400, "payload_too_large", "body is larger than 500 KB"),
                endpoint,
                Vec::new(),
                0,
            );
        }
        Err(_) => {
            return reply(
                error(400, "invalid_request", "body is not valid gzip"),
                endpoint,
                Vec::new(),
                0,
            );
        }
    };
    let Some(Value::Object(mut top)) = std::str::from_utf8(&body).ok().and_then(|t| crate::json::parse(t).ok()) else {
        return reply(
            error(400, "invalid_request", "body is not a JSON object"),
            endpoint,
            Vec::new(),
            0,
        );
    };
    let basic = req.authorization.and_then(BasicAuth::parse).map(|b| b.user);
    let body_key = top.get("writeKey").and_then(Value::as_str).map(str::to_owned);
    let authorised = match (&basic, &body_key) {
        (None, None) => false,
        (basic, body) => [basic, body].into_iter().flatten().all(|k| *k == project.key),
    };
    if !authorised {
        return reply(error(401, "unauthorized", "invalid write key"), endpoint, Vec::new(), 0);
    }
    let messages = match single {
        Some(_) => vec![Value::Object(top)],
        None => match top.shift_remove("batch") {
            Some(Value::Array(items)) => items,
            _ => {
                return reply(
                    error(400, "invalid_request", "batch must be a list of messages"),
                    endpoint,
                    Vec::new(),
                    0,
                );
            }
        },
    };
    let ok = Answer::json(200, &json!({"success": true}));
    if messages.len() > MAX_BATCH_MESSAGES {
        let n = messages.len();
        return reply(ok, endpoint, Vec::new(), n);
    }
    let mut accepted = Vec::with_capacity(messages.len());
    let mut rejected = 0;
    for m in messages {
        match validate(&m, single, &project.key) {
            Ok(()) => accepted.push(m),
            Err(_) => rejected += 1,
        }
    }
    reply(ok, endpoint, accepted, rejected)
}

fn present_id(v: Option<&Value>) -> bool {
    match v {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    }
}

/// Segment's rules for one message; the error names the first problem.
pub fn validate(message: &Value, single: Option<MessageType>, key: &str) -> Result<(), &'static str> {
    let m: &Map<String, Value> = message.as_object().ok_or("message, must be a JSON object")?;
    let ty = match single {
        Some(t) => t,
        None => m
            .get("type")
            .and_then(Value::as_str)
            .and_then(MessageType::parse)
            .ok_or("type, missing or unknown")?,
    };
    if let Some(k) = m.get("writeKey")
        && k.as_str() != Some(key)
    {
        return Err("writeKey, not the source's");
    }
    if !present_id(m.get("userId")) && !present_id(m.get("anonymousId")) {
        return Err("userId, userId or anonymousId is required");
    }
    match ty {
        MessageType::Track if !matches!(m.get("event"), Some(Value::String(e)) if !e.is_empty()) => {
            return Err("event, missing or empty");
        }
        MessageType::Group if !present_id(m.get("groupId")) => return Err("groupId, missing"),
        MessageType::Alias if !present_id(m.get("previousId")) || !present_id(m.get("userId")) => {
            return Err("previousId, alias needs previousId and userId");
        }
        _ => {}
    }
    match m.get("timestamp") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if parse_time(s).is_some() => {}
        Some(_) => return Err("timestamp, not an ISO 8601 time"),
    }
    if message.to_string().len() > MAX_MESSAGE_BYTES {
        return Err("message, larger than 32 KB");
    }
    Ok(())
}
