//! Answers, both ways.
//!
//! Inbound: what Segment's SDKs expect back
//! (<https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#errors>).
//! Segment answers `200 {"success":true}` for everything it can read, including messages
//! it then rejects (no id, no event name), and `400` for a body that is not JSON or too
//! large; the SDKs ignore the body on success. Their rules differ on the rest:
//! segment-analytics-python counts only 2xx as success (a 3xx is an error it does not
//! retry), @segment/analytics-node and analytics.js anything below 400; all three retry
//! 408, 410, 429, 460 and 5xx but 501/505 (511), and drop other 4xx. So vendorwall answers:
//!
//! | outcome                                  | answer                                           |
//! |------------------------------------------|--------------------------------------------------|
//! | accepted (some messages may be refused)  | `200 {"success":true}`, as Segment; refusals are counted in metrics |
//! | malformed (not JSON, too large, a bomb, keys that disagree, too many messages) | `400 {"code","message"}`: dropped by every SDK |
//! | missing or unknown write key             | `401 {"code":"unauthorized",…}`: dropped by every SDK, never retried forever |
//! | busy (backpressure, storage)             | `503` with `Retry-After: 5`: retried by every SDK (analytics.js reads `Retry-After` only on 429 and backs off on its own) |
//!
//! python reads `code` and `message` from an error body for its log line; both are fixed
//! texts here, never values from the request.
//!
//! Outbound: what Segment's answer to a `/v1/batch` delivery means ([`VendorVerdict`]).
//! Segment's 200 does **not** mean every message was ingested: it answers 200 for messages
//! it drops (no id, no event name, over 32 KB, over 2500 in a batch), which only its
//! debugger shows. vendorwall's decoder refuses the first two before they are queued, and
//! delivery batches stay under the limits, but a 200 is all a delivery can know.

use serde_json::{Value, json};

use crate::protocol::wire::{parse_retry_after, truncate};
use crate::protocol::{Answer, Outcome, RequestError, VendorVerdict};

/// The fixed message of a malformed request's answer.
fn malformed_message(e: &RequestError) -> &'static str {
    match e {
        RequestError::BodyTooLarge => "request body is larger than the limit",
        RequestError::DecompressedTooLarge => "decompressed body is larger than the limit",
        RequestError::UnsupportedEncoding => "unsupported Content-Encoding",
        RequestError::BadCompression(_) => "body cannot be decompressed",
        RequestError::MissingData => "body is empty or has no batch",
        RequestError::BadEncoding | RequestError::BadJson => "body is not valid JSON",
        RequestError::WrongType => "body must be a JSON object; batch a list; writeKey a string",
        RequestError::TooManyRecords => "too many messages in one request",
        RequestError::TooManyValues => "the batch holds more elements than the limits allow",
        RequestError::InconsistentKeys => "the Authorization header and writeKey disagree",
    }
}

/// The answer a Segment SDK expects for `outcome`.
pub fn answer(outcome: &Outcome) -> Answer {
    match outcome {
        Outcome::Accepted { .. } => Answer::json(200, &json!({"success": true})),
        Outcome::Malformed(e) => Answer::json(400, &json!({"code": e.reason(), "message": malformed_message(e)})),
        Outcome::Unauthorized => Answer::json(
            401,
            &json!({"code": "unauthorized", "message": "missing or unknown write key"}),
        ),
        Outcome::Busy => Answer::json(
            503,
            &json!({"code": "unavailable", "message": "vendorwall is busy; retry later"}),
        ),
        // Segment's routes carry no feature-flag requests.
        Outcome::Flags(_) => Answer::json(404, &json!({"code": "not_found", "message": "not found"})),
    }
}

/// What Segment's answer to a delivery means:
///
/// - 2xx: delivered (see the module documentation for what a 200 cannot tell);
/// - 3xx, 401, 403, 404: vendorwall's endpoint or write key is wrong: the records stay
///   queued while an operator fixes the configuration;
/// - 400: the batch as a whole is invalid JSON or too large for a reason Segment does not
///   name: halves are sent again to find the record, which is refused alone;
/// - 408, 410, 429, 460 and 5xx: retried after `Retry-After` (seconds or an HTTP date;
///   Segment also sends `X-RateLimit-Reset`, which the seam does not pass on, so a 429
///   without `Retry-After` waits the normal backoff); 500, 502 and 504 may have been applied;
/// - 413: the batch is halved;
/// - other 4xx: refused for good.
pub fn verdict(status: u16, retry_after: Option<&str>, body: &[u8]) -> VendorVerdict {
    let reason = || {
        let code = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("code").and_then(Value::as_str).map(|c| truncate(c, 64)));
        match code {
            Some(c) => format!("HTTP {status}: {c}"),
            None => format!("HTTP {status}"),
        }
    };
    match status {
        200..=299 => VendorVerdict::Delivered,
        300..=399 | 401 | 403 | 404 => VendorVerdict::Misconfigured { reason: reason() },
        400 => VendorVerdict::Bisect { reason: reason() },
        413 => VendorVerdict::TooLarge,
        408 | 410 | 429 | 460 | 500..=599 => VendorVerdict::Retry {
            after: retry_after.and_then(parse_retry_after),
            reason: format!("HTTP {status}"),
            maybe_applied: matches!(status, 500 | 502 | 504),
        },
        _ => VendorVerdict::Rejected { reason: reason() },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::event::{RecordError, Reject};
    use crate::protocol::FailedRecord;

    fn body(a: &Answer) -> Value {
        serde_json::from_slice(&a.body).unwrap()
    }

    #[test]
    fn answers_for_every_outcome() {
        let refused = FailedRecord {
            index: 0,
            insert_id: Some("m1".into()),
            error: RecordError::new(Reject::MissingField, "event", "event name is required"),
        };
        let cases: Vec<(Outcome, u16, Value, Option<u32>)> = vec![
            (
                Outcome::Accepted {
                    accepted: 3,
                    failed: vec![],
                },
                200,
                json!({"success": true}),
                None,
            ),
            // Segment answers 200 for messages it rejects; so does vendorwall.
            (
                Outcome::Accepted {
                    accepted: 0,
                    failed: vec![refused],
                },
                200,
                json!({"success": true}),
                None,
            ),
            (
                Outcome::Malformed(RequestError::BadJson),
                400,
                json!({"code": "bad_json", "message": "body is not valid JSON"}),
                None,
            ),
            (
                Outcome::Unauthorized,
                401,
                json!({"code": "unauthorized", "message": "missing or unknown write key"}),
                None,
            ),
            (
                Outcome::Busy,
                503,
                json!({"code": "unavailable", "message": "vendorwall is busy; retry later"}),
                Some(5),
            ),
        ];
        for (outcome, status, want, retry) in cases {
            let a = answer(&outcome);
            assert_eq!(
                (a.status, body(&a), a.retry_after_secs),
                (status, want, retry),
                "{outcome:?}"
            );
            assert_eq!(a.content_type, "application/json");
        }
        for e in [
            RequestError::BodyTooLarge,
            RequestError::DecompressedTooLarge,
            RequestError::UnsupportedEncoding,
            RequestError::BadCompression("gzip"),
            RequestError::MissingData,
            RequestError::BadEncoding,
            RequestError::WrongType,
            RequestError::TooManyRecords,
            RequestError::InconsistentKeys,
        ] {
            let a = answer(&Outcome::Malformed(e.clone()));
            assert_eq!(a.status, 400, "{e:?}: every SDK drops a 400");
            assert_eq!(body(&a)["code"], e.reason());
        }
    }

    #[test]
    fn verdicts_for_every_answer() {
        use VendorVerdict::*;
        let retry = |after: Option<u64>, status: u16, applied: bool| Retry {
            after: after.map(Duration::from_secs),
            reason: format!("HTTP {status}"),
            maybe_applied: applied,
        };
        let cases: Vec<(u16, Option<&str>, &[u8], VendorVerdict)> = vec![
            (200, None, br#"{"success":true}"#, Delivered),
            (200, None, b"", Delivered),
            (204, None, b"", Delivered),
            (
                400,
                None,
                br#"{"code":"invalid_request","message":"x"}"#,
                Bisect {
                    reason: "HTTP 400: invalid_request".into(),
                },
            ),
            (
                400,
                None,
                b"nope",
                Bisect {
                    reason: "HTTP 400".into(),
                },
            ),
            (
                401,
                None,
                b"",
                Misconfigured {
                    reason: "HTTP 401".into(),
                },
            ),
            (
                403,
                None,
                b"",
                Misconfigured {
                    reason: "HTTP 403".into(),
                },
            ),
            (
                404,
                None,
                b"",
                Misconfigured {
                    reason: "HTTP 404".into(),
                },
            ),
            (
                301,
                None,
                b"",
                Misconfigured {
                    reason: "HTTP 301".into(),
                },
            ),
            (413, None, b"", TooLarge),
            (408, None, b"", retry(None, 408, false)),
            (410, None, b"", retry(None, 410, false)),
            (429, Some("7"), b"", retry(Some(7), 429, false)),
            (429, None, b"", retry(None, 429, false)),
            (460, None, b"", retry(None, 460, false)),
            (500, None, b"", retry(None, 500, true)),
            (502, Some("2"), b"", retry(Some(2), 502, true)),
            (503, Some("3"), b"", retry(Some(3), 503, false)),
            (504, None, b"", retry(None, 504, true)),
            (
                422,
                None,
                br#"{"code":"unprocessable"}"#,
                Rejected {
                    reason: "HTTP 422: unprocessable".into(),
                },
            ),
        ];
        for (status, retry_after, b, want) in cases {
            assert_eq!(verdict(status, retry_after, b), want, "{status}");
        }
    }
}
