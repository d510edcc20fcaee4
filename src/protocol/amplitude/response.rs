//! Answers, both ways.
//!
//! Inbound: what Amplitude's SDKs expect back. They decide from `code` in the JSON body,
//! not from the HTTP status (a JSON body without `code` counts as "unknown" and is retried
//! until the SDK gives up), so every answer carries it, equal to the status:
//!
//! | outcome | answer | what the SDKs do |
//! |---|---|---|
//! | all events durable | 200 `{"code":200,"events_ingested":n,"payload_size_bytes":n,"server_upload_time":ms}` | done |
//! | some refused, the rest durable | **200**, `events_ingested` = the durable ones | done |
//! | every event refused | 400 `{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{field:[index]},"events_with_missing_fields":{…},"events_with_invalid_id_lengths":{…}}` | drop exactly those (all) |
//! | no or unknown `api_key` | 400 `{"code":400,"error":"Request missing required field","missing_field":"api_key"}` / `{"code":400,"error":"Invalid API key: …"}` | drop all |
//! | no `events` list | 400 `{"code":400,"error":"Request missing required field","missing_field":"events"}` | drop all |
//! | not JSON, bad compression | 400 `{"code":400,"error":"Invalid JSON request body"}` | retry until `flushMaxRetries`, as with Amplitude |
//! | too large, too many events | 413 `{"code":413,"error":"Payload too large"}` | halve the batch, drop a single event |
//! | backpressure, storage trouble | 503 `{"code":503,"error":…}` + `Retry-After` | retry |
//!
//! Divergence on purpose: when some events are refused and others accepted, Amplitude
//! answers 400 with the refused indices and ingests nothing, so the SDK sends the valid ones
//! again. vendorwall has already made the valid ones durable: a 400 would make the SDK send
//! them twice (deduplicated later by `insert_id`, but not for events without one), so it
//! answers 200 with `events_ingested` = the accepted count, and the refused ones — which can
//! never succeed — are counted in the metrics.
//!
//! Outbound: what Amplitude's answer to a delivery means
//! (<https://amplitude.com/docs/apis/analytics/http-v2#response-format>,
//! <https://amplitude.com/docs/apis/analytics/http-api-batching-retries>).

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::decode::ID_TOO_SHORT;
use crate::event::Reject;
use crate::protocol::wire::{parse_retry_after, truncate};
use crate::protocol::{Answer, FailedRecord, Outcome, RequestError, VendorVerdict};

/// The prefix of Amplitude's answer to an unknown key; the SDKs drop all events on it.
pub const INVALID_API_KEY: &str = "Invalid API key";
/// How long Amplitude asks throttled clients to wait when it gives no `Retry-After`.
pub const THROTTLE_WAIT: Duration = Duration::from_secs(30);

/// What the answer needs besides the outcome (see `mod.rs` for how it travels in
/// [`Reply`](crate::protocol::Reply)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerContext {
    /// The request had no `api_key`.
    pub missing_key: bool,
    /// Uncompressed body bytes.
    pub payload_size: usize,
    /// When vendorwall received the request.
    pub received_at_ms: i64,
}

fn body(status: u16, fields: Value) -> Answer {
    let mut body = Map::with_capacity(4);
    body.insert("code".into(), json!(status));
    if let Value::Object(m) = fields {
        body.extend(m);
    }
    Answer::json(status, &Value::Object(body))
}

/// The answer an Amplitude SDK expects for `outcome`.
pub fn answer(cx: AnswerContext, outcome: &Outcome) -> Answer {
    match outcome {
        Outcome::Accepted { accepted, failed } if *accepted > 0 || failed.is_empty() => body(
            200,
            json!({"events_ingested": accepted, "payload_size_bytes": cx.payload_size,
                   "server_upload_time": cx.received_at_ms}),
        ),
        Outcome::Accepted { failed, .. } => refused(failed),
        Outcome::Malformed(RequestError::MissingData) => body(
            400,
            json!({"error": "Request missing required field", "missing_field": "events"}),
        ),
        Outcome::Malformed(
            RequestError::BodyTooLarge
            | RequestError::DecompressedTooLarge
            | RequestError::TooManyRecords
            | RequestError::TooManyValues,
        ) => body(413, json!({"error": "Payload too large"})),
        Outcome::Malformed(_) => body(400, json!({"error": "Invalid JSON request body"})),
        Outcome::Unauthorized if cx.missing_key => body(
            400,
            json!({"error": "Request missing required field", "missing_field": "api_key"}),
        ),
        Outcome::Unauthorized => body(
            400,
            json!({"error": format!("{INVALID_API_KEY}: not a key vendorwall knows")}),
        ),
        Outcome::Busy => body(
            503,
            json!({"error": "Service unavailable: vendorwall is busy, retry later"}),
        ),
        // Amplitude's routes carry no feature-flag requests.
        Outcome::Flags(_) => body(404, json!({"error": "not found"})),
    }
}

/// 400 naming each refused event under the map Amplitude uses for its problem.
fn refused(failed: &[FailedRecord]) -> Answer {
    let mut invalid: Map<String, Value> = Map::new();
    let mut missing: Map<String, Value> = Map::new();
    let mut lengths: Map<String, Value> = Map::new();
    for f in failed {
        let map = if f.error.message == ID_TOO_SHORT {
            &mut lengths
        } else if f.error.reason == Reject::MissingField {
            &mut missing
        } else {
            &mut invalid
        };
        if let Value::Array(list) = map
            .entry(f.error.field.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(json!(f.index));
        }
    }
    body(
        400,
        json!({"error": "Invalid field values on some events", "events_with_invalid_fields": invalid,
               "events_with_missing_fields": missing, "events_with_invalid_id_lengths": lengths}),
    )
}

/// Indices named by the maps of a 400 (`{field: [index]}`) and `silenced_events`, with the
/// reason for each (field names, never values); only indices below `records`.
fn named_indices(body: &Value, records: usize) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut add = |i: &Value, reason: String| {
        if let Some(i) = i.as_u64().map(|i| i as usize)
            && i < records
            && !out.iter().any(|(j, _)| *j == i)
        {
            out.push((i, reason));
        }
    };
    for (map, what) in [
        ("events_with_invalid_fields", "invalid"),
        ("events_with_missing_fields", "missing"),
        ("events_with_invalid_id_lengths", "id too short"),
    ] {
        if let Some(Value::Object(m)) = body.get(map) {
            for (field, indices) in m {
                for i in indices.as_array().into_iter().flatten() {
                    add(i, format!("{}: {what}", truncate(field, 64)));
                }
            }
        }
    }
    if let Some(Value::Array(silenced)) = body.get("silenced_events") {
        for i in silenced {
            add(i, "silenced device".to_owned());
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

/// What Amplitude's answer to a delivery of `records` events means. Reasons are fixed texts
/// and field names: Amplitude's `error` can quote the key it refused.
///
/// - 2xx: delivered.
/// - 400 naming events (`events_with_invalid_fields`, `events_with_missing_fields`,
///   `events_with_invalid_id_lengths`, `silenced_events`): Amplitude ingested nothing;
///   those are refused for good and the rest sent again ([`VendorVerdict::RetryExcept`]).
/// - 400 "Invalid API key…" or `missing_field: "api_key"`: the destination's key is wrong
///   ([`VendorVerdict::Misconfigured`]: the events stay queued).
/// - 400 with another `missing_field` (`events`): vendorwall's request is malformed and no
///   resend can fix it: rejected (dead-lettered, so an operator sees them).
/// - another 400 that names nothing: some event is bad but unnamed; the batch is bisected.
/// - 413: smaller batches.
/// - 429 (throttled, or users over their daily quota): sent again after `Retry-After`, or
///   the 30 s Amplitude advises. Amplitude names quota-exceeded users by id, not by index;
///   their events wait with the batch until the quota resets rather than being dropped,
///   since a delivery vendorwall acknowledged must not be lost to a daily limit.
/// - 500, 502, 504: sent again; Amplitude may have ingested them (its `insert_id`
///   deduplication absorbs the copy). 503: sent again, not ingested. 408: sent again.
/// - 401, 403: misconfigured. Anything else: rejected.
pub fn verdict(status: u16, retry_after: Option<&str>, body: &[u8], records: usize) -> VendorVerdict {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let after = retry_after.and_then(parse_retry_after);
    match status {
        200..=299 => VendorVerdict::Delivered,
        400 => {
            let error = json.get("error").and_then(Value::as_str).unwrap_or("");
            let missing = json.get("missing_field").and_then(Value::as_str);
            if error.starts_with(INVALID_API_KEY) || missing == Some("api_key") {
                return VendorVerdict::Misconfigured {
                    reason: "Amplitude refused the API key".to_owned(),
                };
            }
            if let Some(field) = missing {
                return VendorVerdict::Rejected {
                    reason: format!("request missing required field {}", truncate(field, 64)),
                };
            }
            let failed = named_indices(&json, records);
            if failed.is_empty() {
                VendorVerdict::Bisect {
                    reason: "Amplitude refused the batch without naming an event".to_owned(),
                }
            } else {
                VendorVerdict::RetryExcept { failed, after: None }
            }
        }
        401 | 403 => VendorVerdict::Misconfigured {
            reason: format!("HTTP {status}"),
        },
        413 => VendorVerdict::TooLarge,
        429 => VendorVerdict::Retry {
            after: Some(after.unwrap_or(THROTTLE_WAIT)),
            reason: "HTTP 429: throttled".to_owned(),
            maybe_applied: false,
        },
        408 | 503 => VendorVerdict::Retry {
            after,
            reason: format!("HTTP {status}"),
            maybe_applied: false,
        },
        500..=599 => VendorVerdict::Retry {
            after,
            reason: format!("HTTP {status}"),
            maybe_applied: true,
        },
        _ => VendorVerdict::Rejected {
            reason: format!("HTTP {status}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RecordError;

    fn parsed(a: &Answer) -> Value {
        serde_json::from_slice(&a.body).unwrap()
    }

    fn cx() -> AnswerContext {
        AnswerContext {
            missing_key: false,
            payload_size: 123,
            received_at_ms: 1_700_000_000_000,
        }
    }

    fn failed(index: usize, reason: Reject, field: &'static str, message: &'static str) -> FailedRecord {
        FailedRecord {
            index,
            insert_id: None,
            error: RecordError::new(reason, field, message),
        }
    }

    #[test]
    fn answers_for_every_outcome() {
        let cases: Vec<(Outcome, AnswerContext, u16, Value)> = vec![
            (
                Outcome::Accepted {
                    accepted: 3,
                    failed: vec![],
                },
                cx(),
                200,
                json!({"code": 200, "events_ingested": 3, "payload_size_bytes": 123, "server_upload_time": 1_700_000_000_000i64}),
            ),
            (
                Outcome::Accepted {
                    accepted: 0,
                    failed: vec![],
                },
                cx(),
                200,
                json!({"code": 200, "events_ingested": 0, "payload_size_bytes": 123, "server_upload_time": 1_700_000_000_000i64}),
            ),
            (
                Outcome::Accepted {
                    accepted: 2,
                    failed: vec![failed(1, Reject::BadTime, "time", "x")],
                },
                cx(),
                200,
                json!({"code": 200, "events_ingested": 2, "payload_size_bytes": 123, "server_upload_time": 1_700_000_000_000i64}),
            ),
            (
                Outcome::Accepted {
                    accepted: 0,
                    failed: vec![
                        failed(0, Reject::BadTime, "time", "x"),
                        failed(1, Reject::MissingField, "event_type", "x"),
                        failed(2, Reject::WrongType, "user_id", ID_TOO_SHORT),
                        failed(3, Reject::WrongType, "time", "y"),
                    ],
                },
                cx(),
                400,
                json!({"code": 400, "error": "Invalid field values on some events",
                       "events_with_invalid_fields": {"time": [0, 3]},
                       "events_with_missing_fields": {"event_type": [1]},
                       "events_with_invalid_id_lengths": {"user_id": [2]}}),
            ),
            (
                Outcome::Malformed(RequestError::MissingData),
                cx(),
                400,
                json!({"code": 400, "error": "Request missing required field", "missing_field": "events"}),
            ),
            (
                Outcome::Malformed(RequestError::BadJson),
                cx(),
                400,
                json!({"code": 400, "error": "Invalid JSON request body"}),
            ),
            (
                Outcome::Malformed(RequestError::BadCompression("gzip")),
                cx(),
                400,
                json!({"code": 400, "error": "Invalid JSON request body"}),
            ),
            (
                Outcome::Malformed(RequestError::BodyTooLarge),
                cx(),
                413,
                json!({"code": 413, "error": "Payload too large"}),
            ),
            (
                Outcome::Malformed(RequestError::DecompressedTooLarge),
                cx(),
                413,
                json!({"code": 413, "error": "Payload too large"}),
            ),
            (
                Outcome::Malformed(RequestError::TooManyRecords),
                cx(),
                413,
                json!({"code": 413, "error": "Payload too large"}),
            ),
            (
                Outcome::Unauthorized,
                AnswerContext {
                    missing_key: true,
                    ..cx()
                },
                400,
                json!({"code": 400, "error": "Request missing required field", "missing_field": "api_key"}),
            ),
            (
                Outcome::Unauthorized,
                cx(),
                400,
                json!({"code": 400, "error": "Invalid API key: not a key vendorwall knows"}),
            ),
            (
                Outcome::Busy,
                cx(),
                503,
                json!({"code": 503, "error": "Service unavailable: vendorwall is busy, retry later"}),
            ),
            (
                Outcome::Flags(json!({})),
                cx(),
                404,
                json!({"code": 404, "error": "not found"}),
            ),
        ];
        for (outcome, cx, status, want) in cases {
            let a = answer(cx, &outcome);
            assert_eq!((a.status, parsed(&a)), (status, want), "{outcome:?}");
            assert_eq!(a.content_type, "application/json");
            assert_eq!(a.retry_after_secs.is_some(), status == 503);
            // the SDKs read `code`, which must equal the status
            assert_eq!(parsed(&a)["code"], status);
        }
    }

    #[test]
    fn verdicts_for_every_answer() {
        use VendorVerdict::*;
        let v = |status, ra, body: &str| verdict(status, ra, body.as_bytes(), 4);
        assert_eq!(v(200, None, r#"{"code":200,"events_ingested":4}"#), Delivered);
        assert_eq!(
            v(
                400,
                None,
                r#"{"code":400,"error":"Invalid field values on some events","events_with_invalid_fields":{"time":[3,1]},
                    "events_with_missing_fields":{"event_type":[0]},"events_with_invalid_id_lengths":{"user_id":[1]},
                    "silenced_events":[2,9]}"#
            ),
            RetryExcept {
                failed: vec![
                    (0, "event_type: missing".into()),
                    (1, "time: invalid".into()),
                    (2, "silenced device".into()),
                    (3, "time: invalid".into()),
                ],
                after: None
            }
        );
        assert!(matches!(
            v(400, None, r#"{"code":400,"error":"Invalid API key: real-key-xyz"}"#),
            Misconfigured { reason } if !reason.contains("real-key")
        ));
        assert!(matches!(
            v(
                400,
                None,
                r#"{"code":400,"error":"Request missing required field","missing_field":"api_key"}"#
            ),
            Misconfigured { .. }
        ));
        assert!(matches!(
            v(
                400,
                None,
                r#"{"code":400,"error":"Request missing required field","missing_field":"events"}"#
            ),
            Rejected { .. }
        ));
        assert!(matches!(
            v(400, None, r#"{"code":400,"error":"Invalid JSON request body"}"#),
            Bisect { .. }
        ));
        assert!(matches!(v(400, None, "not json"), Bisect { .. }));
        assert_eq!(v(413, None, r#"{"code":413,"error":"Payload too large"}"#), TooLarge);
        assert_eq!(
            v(
                429,
                None,
                r#"{"code":429,"error":"Too many requests for some devices and users","throttled_events":[0]}"#
            ),
            Retry {
                after: Some(THROTTLE_WAIT),
                reason: "HTTP 429: throttled".into(),
                maybe_applied: false
            }
        );
        assert!(matches!(v(429, Some("7"), ""), Retry { after: Some(d), .. } if d == Duration::from_secs(7)));
        for (status, applied) in [(500, true), (502, true), (504, true), (503, false), (408, false)] {
            assert!(
                matches!(v(status, None, ""), Retry { maybe_applied, .. } if maybe_applied == applied),
                "{status}"
            );
        }
        assert!(matches!(v(401, None, ""), Misconfigured { .. }));
        assert!(matches!(v(403, None, ""), Misconfigured { .. }));
        assert!(matches!(v(404, None, ""), Rejected { .. }));
    }
}
