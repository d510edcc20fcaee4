//! Answers, both ways.
//!
//! Inbound: what PostHog's SDKs expect back. posthog-python counts only HTTP **200** as
//! success; posthog-js retries 201, 204 and 3xx and drops every 4xx, 429 included; so
//! success is exactly 200 with `{"status":"Ok"}` (PostHog's own answer), a `?beacon=1`
//! request gets 204, and vendorwall's transient trouble is a 503 with `Retry-After`, never a
//! 429. Errors use PostHog's JSON shape `{"type", "code", "detail", "attr"}`: 400
//! `validation_error` for a request that cannot be read, 401 `authentication_error` for a
//! missing or unknown key, 413 for an oversize body.
//!
//! Divergence on purpose: PostHog answers 400 for a whole batch when one event has no name
//! or no `distinct_id`. vendorwall queues the valid events beside it (durably) and answers
//! 200, counting the refused ones: the SDK must not retry what is already queued, and the
//! refused events can never succeed. Only when *no* event was taken and some were refused
//! is the answer PostHog's: 401 if every refusal was a key problem, else 400.
//!
//! Outbound: what PostHog's answers to a `/batch/` delivery mean ([`VendorVerdict`]).

use serde_json::{Value, json};

use crate::event::Reject;
use crate::protocol::wire::{parse_retry_after, truncate};
use crate::protocol::{Answer, Outcome, RequestError, VendorVerdict};

/// PostHog's success body.
pub const OK_BODY: &str = r#"{"status":"Ok"}"#;

/// PostHog's error body.
pub fn error_body(kind: &str, code: &str, detail: &str) -> Value {
    json!({"type": kind, "code": code, "detail": detail, "attr": Value::Null})
}

fn error(status: u16, kind: &str, code: &str, detail: &str) -> Answer {
    Answer::json(status, &error_body(kind, code, detail))
}

/// The answer for an outcome; `beacon` for `?beacon=1` requests.
pub fn answer(beacon: bool, outcome: &Outcome) -> Answer {
    match outcome {
        Outcome::Accepted { accepted, failed } => {
            if *accepted == 0 && !failed.is_empty() {
                let keys = failed
                    .iter()
                    .all(|f| matches!(f.error.reason, Reject::MissingToken | Reject::UnknownToken));
                return if keys {
                    unauthorized()
                } else {
                    let first = &failed[0].error;
                    error(400, "validation_error", first.reason.as_str(), &first.to_string())
                };
            }
            if beacon {
                Answer {
                    status: 204,
                    content_type: "text/plain; charset=utf-8",
                    body: Vec::new(),
                    retry_after_secs: None,
                }
            } else {
                Answer {
                    status: 200,
                    content_type: "application/json",
                    body: OK_BODY.as_bytes().to_vec(),
                    retry_after_secs: None,
                }
            }
        }
        Outcome::Malformed(e @ (RequestError::BodyTooLarge | RequestError::DecompressedTooLarge)) => {
            error(413, "validation_error", e.reason(), &e.to_string())
        }
        Outcome::Malformed(e) => error(400, "validation_error", e.reason(), &e.to_string()),
        Outcome::Unauthorized => unauthorized(),
        Outcome::Busy => error(503, "server_error", "busy", "vendorwall is busy; retry later"),
        Outcome::Flags(body) => Answer::json(200, body),
    }
}

/// posthog-js's remote configuration (`GET /array/<key>/config`) as vendorwall answers it:
/// the compressions vendorwall reads, feature flags on (the SDK then asks `/flags`, which
/// vendorwall forwards through the destination's policy or answers "no flags"), session
/// recording off (vendorwall never forwards replay, so the browser need not record). Every
/// other setting stays the app's own (`posthog.init` options).
pub fn remote_config() -> Value {
    json!({"supportedCompression": ["gzip", "gzip-js"], "hasFeatureFlags": true, "sessionRecording": false})
}

fn unauthorized() -> Answer {
    error(
        401,
        "authentication_error",
        "invalid_api_key",
        "Project API key invalid. You can find your project API key in PostHog project settings.",
    )
}

/// What PostHog's answer to a `/batch/` delivery means.
///
/// - 2xx: delivered (a `quota_limited` list in the body means PostHog dropped the events
///   over the project's quota; they were taken, and sending them again would not help);
/// - 400: PostHog refuses a whole batch for one event it does not name: [`VendorVerdict::Bisect`];
/// - 401, 403, and 404/405 (a wrong endpoint): misconfigured, the records stay queued;
/// - 413: too large; 408 and 429: retry, not applied; 5xx: retry, maybe applied except 503;
/// - other statuses: refused.
pub fn verdict(status: u16, retry_after: Option<&str>, body: &[u8]) -> VendorVerdict {
    let detail = || {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|j| {
                j.get("detail")
                    .or_else(|| j.get("error"))
                    .and_then(Value::as_str)
                    .map(|s| truncate(s, 200))
            })
            .unwrap_or_else(|| format!("HTTP {status}"))
    };
    match status {
        200..=299 => VendorVerdict::Delivered,
        400 => VendorVerdict::Bisect { reason: detail() },
        401 | 403 | 404 | 405 => VendorVerdict::Misconfigured { reason: detail() },
        408 | 429 => VendorVerdict::Retry {
            after: retry_after.and_then(parse_retry_after),
            reason: format!("HTTP {status}"),
            maybe_applied: false,
        },
        413 => VendorVerdict::TooLarge,
        500..=599 => VendorVerdict::Retry {
            after: retry_after.and_then(parse_retry_after),
            reason: format!("HTTP {status}"),
            maybe_applied: status != 503,
        },
        300..=399 => VendorVerdict::Misconfigured {
            reason: format!("HTTP {status}"),
        },
        _ => VendorVerdict::Rejected { reason: detail() },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::event::RecordError;
    use crate::protocol::FailedRecord;

    fn body(a: &Answer) -> Value {
        serde_json::from_slice(&a.body).unwrap_or(Value::Null)
    }

    fn failed(reason: Reject) -> FailedRecord {
        FailedRecord {
            index: 0,
            insert_id: None,
            error: RecordError::new(reason, "distinct_id", "distinct_id is required"),
        }
    }

    #[test]
    fn answers_for_every_outcome() {
        let ok = Outcome::Accepted {
            accepted: 2,
            failed: vec![],
        };
        let a = answer(false, &ok);
        assert_eq!((a.status, a.body.as_slice()), (200, OK_BODY.as_bytes()));
        assert_eq!(answer(true, &ok).status, 204);
        // valid neighbours taken: 200 although one was refused
        let some = Outcome::Accepted {
            accepted: 1,
            failed: vec![failed(Reject::MissingField)],
        };
        assert_eq!(answer(false, &some).status, 200);
        let none = Outcome::Accepted {
            accepted: 0,
            failed: vec![failed(Reject::MissingField)],
        };
        let a = answer(false, &none);
        assert_eq!(a.status, 400);
        assert_eq!(body(&a)["type"], "validation_error");
        assert_eq!(body(&a)["code"], "missing_field");
        let keys = Outcome::Accepted {
            accepted: 0,
            failed: vec![failed(Reject::UnknownToken), failed(Reject::MissingToken)],
        };
        assert_eq!(answer(false, &keys).status, 401);
        let empty = Outcome::Accepted {
            accepted: 0,
            failed: vec![],
        };
        assert_eq!(answer(false, &empty).status, 200);
        let a = answer(false, &Outcome::Malformed(RequestError::BadJson));
        assert_eq!((a.status, body(&a)["code"].as_str()), (400, Some("bad_json")));
        assert_eq!(
            answer(false, &Outcome::Malformed(RequestError::InconsistentKeys)).status,
            400
        );
        assert_eq!(
            answer(false, &Outcome::Malformed(RequestError::DecompressedTooLarge)).status,
            413
        );
        assert_eq!(
            answer(true, &Outcome::Malformed(RequestError::BodyTooLarge)).status,
            413
        );
        let a = answer(false, &Outcome::Unauthorized);
        assert_eq!(
            (a.status, body(&a)["type"].as_str()),
            (401, Some("authentication_error"))
        );
        let a = answer(true, &Outcome::Busy);
        assert_eq!((a.status, a.retry_after_secs), (503, Some(5)));
        let flags = json!({"flags": {}, "featureFlags": {}});
        let a = answer(false, &Outcome::Flags(flags.clone()));
        assert_eq!((a.status, body(&a)), (200, flags));
    }

    #[test]
    fn verdicts_for_every_answer() {
        use VendorVerdict::*;
        assert_eq!(verdict(200, None, OK_BODY.as_bytes()), Delivered);
        assert_eq!(
            verdict(200, None, br#"{"status":"Ok","quota_limited":["events"]}"#),
            Delivered
        );
        assert_eq!(
            verdict(
                400,
                None,
                br#"{"type":"validation_error","code":"invalid_payload","detail":"missing distinct_id"}"#
            ),
            Bisect {
                reason: "missing distinct_id".into()
            }
        );
        assert_eq!(
            verdict(400, None, b""),
            Bisect {
                reason: "HTTP 400".into()
            }
        );
        for s in [401, 403, 404, 405, 301] {
            assert!(matches!(verdict(s, None, b""), Misconfigured { .. }), "{s}");
        }
        assert_eq!(verdict(413, None, b""), TooLarge);
        assert_eq!(
            verdict(429, Some("7"), b""),
            Retry {
                after: Some(Duration::from_secs(7)),
                reason: "HTTP 429".into(),
                maybe_applied: false
            }
        );
        assert!(matches!(
            verdict(408, None, b""),
            Retry {
                maybe_applied: false,
                ..
            }
        ));
        assert!(matches!(
            verdict(503, None, b""),
            Retry {
                maybe_applied: false,
                ..
            }
        ));
        for s in [500, 502, 504] {
            assert!(
                matches!(
                    verdict(s, None, b""),
                    Retry {
                        maybe_applied: true,
                        ..
                    }
                ),
                "{s}"
            );
        }
        assert!(matches!(verdict(422, None, b""), Rejected { .. }));
    }
}
