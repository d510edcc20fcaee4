//! Answers, both ways.
//!
//! Inbound: what each Mixpanel SDK expects back
//! (<https://developer.mixpanel.com/reference/track-event>, and the SDKs' own checks):
//! plain `1`/`0` without `verbose`; `{"status":1,"error":null}` with it; a 1x1 GIF for
//! `img=1`; JSONP for `callback=`; `/import` JSON with `failed_records` for JSON bodies — but
//! a track-style answer when `/import` got a `data=` form (the python SDK's `import_data`
//! accepts nothing else). Transient gateway trouble is a 503, never a 4xx: the browser SDK
//! drops a batch on 4xx and retries on 5xx.
//!
//! Outbound: what Mixpanel's answer to a delivery means ([`VendorVerdict`]).

use serde_json::{Value, json};

use super::Endpoint;
use super::decode::{BodyShape, Params};
use crate::protocol::wire::{parse_retry_after, truncate};
use crate::protocol::{Answer, FailedRecord, Outcome, RequestError, VendorVerdict};

/// The smallest transparent GIF, what Mixpanel answers `img=1` requests with.
pub const GIF_1X1: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// A JSONP callback name must be a plain JavaScript path (mixpanel-browser uses
/// `mixpanel._jsc.<id>`), so nothing else can be injected into the script we return.
pub fn valid_callback(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.' | b'[' | b']'))
}

/// Builds the answer the calling SDK expects for this outcome.
pub fn answer(endpoint: Endpoint, params: &Params, shape: BodyShape, outcome: &Outcome) -> Answer {
    let import_json = endpoint == Endpoint::Import && shape == BodyShape::Json;
    let (status, ok, error): (u16, bool, Option<String>) = match outcome {
        Outcome::Accepted { accepted, failed } => {
            if import_json {
                return import_answer(params.strict, *accepted, failed);
            }
            let error = (*accepted == 0).then(|| {
                failed
                    .first()
                    .map_or_else(|| "no records".to_owned(), |f| f.error.to_string())
            });
            (200, *accepted > 0, error)
        }
        Outcome::Malformed(e @ (RequestError::BodyTooLarge | RequestError::DecompressedTooLarge)) => {
            (413, false, Some(e.to_string()))
        }
        Outcome::Malformed(e) => (if import_json { 400 } else { 200 }, false, Some(e.to_string())),
        Outcome::Unauthorized => (401, false, Some("invalid or missing source credentials".to_owned())),
        Outcome::Busy => (503, false, Some("vendorwall is busy; retry later".to_owned())),
        // Mixpanel's routes carry no feature-flag requests.
        Outcome::Flags(_) => (404, false, Some("not found".to_owned())),
    };
    let retry_after_secs = (status == 503).then_some(5);
    if import_json {
        let status_text = match status {
            400 => "Bad Request",
            401 => "Unauthorized",
            413 => "Payload Too Large",
            503 => "Service Unavailable",
            _ => "Error",
        };
        return Answer {
            status,
            content_type: "application/json",
            body: json!({"code": status, "error": error, "status": status_text})
                .to_string()
                .into_bytes(),
            retry_after_secs,
        };
    }
    if params.img {
        return Answer {
            status,
            content_type: "image/gif",
            body: GIF_1X1.to_vec(),
            retry_after_secs,
        };
    }
    let body = if params.verbose {
        json!({"status": if ok { 1 } else { 0 }, "error": error}).to_string()
    } else if ok {
        "1".to_owned()
    } else {
        "0".to_owned()
    };
    match params.callback.as_deref() {
        Some(cb) if valid_callback(cb) => Answer {
            status,
            content_type: "text/javascript; charset=utf-8",
            body: format!("{cb}({body});").into_bytes(),
            retry_after_secs,
        },
        _ => Answer {
            status,
            content_type: if params.verbose {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            },
            body: body.into_bytes(),
            retry_after_secs,
        },
    }
}

fn import_answer(strict: bool, accepted: usize, failed: &[FailedRecord]) -> Answer {
    if strict && !failed.is_empty() {
        let failed_records: Vec<Value> = failed
            .iter()
            .map(|f| {
                json!({"index": f.index, "$insert_id": f.insert_id, "field": f.error.field, "message": f.error.message})
            })
            .collect();
        return Answer {
            status: 400,
            content_type: "application/json",
            body: json!({"code": 400, "error": "some data points in the request failed validation",
                "failed_records": failed_records, "num_records_imported": accepted, "status": "Bad Request"})
            .to_string()
            .into_bytes(),
            retry_after_secs: None,
        };
    }
    Answer {
        status: 200,
        content_type: "application/json",
        body: json!({"code": 200, "num_records_imported": accepted, "status": "OK"})
            .to_string()
            .into_bytes(),
        retry_after_secs: None,
    }
}

/// Interprets a vendor answer to a request sent to `endpoint` with `verbose=1`.
pub fn classify_vendor_answer(
    endpoint: Endpoint,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> VendorVerdict {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let error_text = || {
        json.as_ref()
            .and_then(|j| j.get("error"))
            .and_then(Value::as_str)
            .map(|s| truncate(s, 200))
            .unwrap_or_else(|| format!("HTTP {status}"))
    };
    match status {
        200..=299 => {
            if endpoint == Endpoint::Import {
                return VendorVerdict::Delivered;
            }
            let ok = match &json {
                Some(j) => j.get("status").and_then(Value::as_i64) == Some(1) || j.as_i64() == Some(1),
                None => body.trim_ascii() == b"1",
            };
            if ok {
                VendorVerdict::Delivered
            } else {
                VendorVerdict::Rejected { reason: error_text() }
            }
        }
        400 if endpoint == Endpoint::Import => {
            let failed: Vec<(usize, String)> = json
                .as_ref()
                .and_then(|j| j.get("failed_records"))
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|f| {
                            let index = f.get("index")?.as_u64()? as usize;
                            let field = f.get("field").and_then(Value::as_str).unwrap_or("");
                            let message = f.get("message").and_then(Value::as_str).unwrap_or("rejected");
                            Some((index, truncate(&format!("{field}: {message}"), 200)))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if failed.is_empty() {
                VendorVerdict::Rejected { reason: error_text() }
            } else {
                VendorVerdict::Partial { failed }
            }
        }
        401 | 403 => VendorVerdict::Misconfigured { reason: error_text() },
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
        _ => VendorVerdict::Rejected { reason: error_text() },
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::event::{RecordError, Reject};

    fn params(verbose: bool) -> Params {
        Params {
            verbose,
            ..Params::default()
        }
    }

    fn text(a: &Answer) -> String {
        String::from_utf8(a.body.clone()).unwrap()
    }

    fn ok(n: usize) -> Outcome {
        Outcome::Accepted {
            accepted: n,
            failed: vec![],
        }
    }

    #[test]
    fn track_style_answers() {
        let a = answer(Endpoint::Track, &params(false), BodyShape::Data, &ok(3));
        assert_eq!((a.status, text(&a).as_str()), (200, "1"));
        let a = answer(Endpoint::Track, &params(true), BodyShape::Data, &ok(3));
        assert_eq!(text(&a), r#"{"status":1,"error":null}"#);
        let none = Outcome::Accepted {
            accepted: 0,
            failed: vec![FailedRecord {
                index: 0,
                insert_id: None,
                error: RecordError::new(Reject::UnknownToken, "properties.token", "unknown token"),
            }],
        };
        let a = answer(Endpoint::Track, &params(false), BodyShape::Data, &none);
        assert_eq!((a.status, text(&a).as_str()), (200, "0"));
        let a = answer(Endpoint::Track, &params(true), BodyShape::Data, &none);
        assert_eq!(text(&a), r#"{"status":0,"error":"properties.token: unknown token"}"#);
        // python import_data: a form body to /import gets a track-style answer
        let a = answer(Endpoint::Import, &params(true), BodyShape::Data, &ok(1));
        assert_eq!(text(&a), r#"{"status":1,"error":null}"#);
    }

    #[test]
    fn img_jsonp_and_status_codes() {
        let p = Params {
            img: true,
            ..Params::default()
        };
        let a = answer(Endpoint::Track, &p, BodyShape::Data, &ok(1));
        assert_eq!((a.content_type, a.body.as_slice()), ("image/gif", GIF_1X1));
        let p = Params {
            callback: Some("mixpanel._jsc.abc".into()),
            verbose: true,
            ..Params::default()
        };
        let a = answer(Endpoint::Track, &p, BodyShape::Data, &ok(1));
        assert_eq!(text(&a), r#"mixpanel._jsc.abc({"status":1,"error":null});"#);
        let p = Params {
            callback: Some("alert(1)//".into()),
            ..Params::default()
        };
        assert_eq!(text(&answer(Endpoint::Track, &p, BodyShape::Data, &ok(1))), "1");
        assert_eq!(
            answer(Endpoint::Track, &params(false), BodyShape::Data, &Outcome::Busy).status,
            503
        );
        assert_eq!(
            answer(
                Endpoint::Track,
                &params(false),
                BodyShape::Data,
                &Outcome::Malformed(RequestError::BodyTooLarge)
            )
            .status,
            413
        );
        let a = answer(
            Endpoint::Track,
            &params(true),
            BodyShape::Data,
            &Outcome::Malformed(RequestError::BadJson),
        );
        assert_eq!(
            (a.status, text(&a).as_str()),
            (200, r#"{"status":0,"error":"data is not valid JSON"}"#)
        );
    }

    #[test]
    fn import_answers() {
        let strict = Params {
            strict: true,
            ..Params::default()
        };
        let a = answer(Endpoint::Import, &strict, BodyShape::Json, &ok(2));
        assert_eq!(text(&a), r#"{"code":200,"num_records_imported":2,"status":"OK"}"#);
        let partial = Outcome::Accepted {
            accepted: 1,
            failed: vec![FailedRecord {
                index: 1,
                insert_id: Some("abc".into()),
                error: RecordError::new(Reject::BadTime, "properties.time", "time is required"),
            }],
        };
        let a = answer(Endpoint::Import, &strict, BodyShape::Json, &partial);
        assert_eq!(a.status, 400);
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["failed_records"][0]["index"], 1);
        assert_eq!(v["failed_records"][0]["$insert_id"], "abc");
        assert_eq!(v["num_records_imported"], 1);
        let a = answer(Endpoint::Import, &strict, BodyShape::Json, &Outcome::Unauthorized);
        assert_eq!(a.status, 401);
        assert_eq!(serde_json::from_slice::<Value>(&a.body).unwrap()["code"], 401);
    }

    #[test]
    fn vendor_verdicts() {
        use VendorVerdict::*;
        assert_eq!(
            classify_vendor_answer(Endpoint::Import, 200, None, br#"{"code":200}"#),
            Delivered
        );
        assert_eq!(
            classify_vendor_answer(Endpoint::Track, 200, None, br#"{"status":1,"error":null}"#),
            Delivered
        );
        assert_eq!(classify_vendor_answer(Endpoint::Engage, 200, None, b"1"), Delivered);
        assert_eq!(
            classify_vendor_answer(Endpoint::Track, 200, None, br#"{"status":0,"error":"bad token"}"#),
            Rejected {
                reason: "bad token".into()
            }
        );
        let body = br#"{"code":400,"failed_records":[{"index":1,"$insert_id":"x","field":"properties.time","message":"too old"}],"num_records_imported":1}"#;
        assert_eq!(
            classify_vendor_answer(Endpoint::Import, 400, None, body),
            Partial {
                failed: vec![(1, "properties.time: too old".into())]
            }
        );
        assert_eq!(
            classify_vendor_answer(Endpoint::Import, 429, Some("7"), b""),
            Retry {
                after: Some(Duration::from_secs(7)),
                reason: "HTTP 429".into(),
                maybe_applied: false
            }
        );
        assert!(matches!(
            classify_vendor_answer(Endpoint::Import, 502, None, b""),
            Retry {
                maybe_applied: true,
                ..
            }
        ));
        assert!(matches!(
            classify_vendor_answer(Endpoint::Import, 401, None, b""),
            Misconfigured { .. }
        ));
        assert_eq!(classify_vendor_answer(Endpoint::Import, 413, None, b""), TooLarge);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        let later = SystemTime::now() + Duration::from_secs(120);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
