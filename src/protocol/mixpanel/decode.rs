//! Inbound Mixpanel requests → records → canonical events.
//!
//! Every dialect the official SDKs send (mixpanel-browser, the `mixpanel` packages on PyPI
//! and npm; the byte-exact captures are in `tests/sdk/wire/`) is accepted:
//!
//! - `data=` in the query (node SDK GETs, `img` mode) or in a form body; the form body may be
//!   labelled `application/x-www-form-urlencoded` or, from `sendBeacon`, `text/plain`;
//! - `data` holding raw JSON or base64 of UTF-8 JSON (mixpanel-browser switches to base64
//!   behind a proxy), a JSON object or an array; a `+` that became a space is tolerated;
//! - `/import` bodies of JSON arrays, single objects or ndjson;
//! - `Content-Encoding: gzip` or `deflate`, and gzip recognised by its magic bytes;
//! - `verbose`, `ip`, `img`, `callback`, `strict`, `api_key` in the query or the form body.
//!
//! Request-level problems (an oversize body, a decompression bomb, data that is not JSON)
//! fail the request. Record-level problems fail only that record: its neighbours go on.

use std::borrow::Cow;

use base64::Engine;
use serde_json::{Map, Value};

use super::Endpoint;
use crate::event::{Caps, Context, Event, EventTime, GroupRef, Kind, RecordError, Reject, SubjectIds};
use crate::protocol::wire::{decompress, form_decode, form_pairs, json_error, json_value, percent_decode};
pub use crate::protocol::{RequestError, RequestLimits};

/// The query and form parameters that change how vendorwall answers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    pub verbose: bool,
    /// `Some(true)` for `ip=1`: the SDK asks the vendor to geolocate from the connection.
    pub ip: Option<bool>,
    pub img: bool,
    pub callback: Option<String>,
    pub strict: bool,
    /// The legacy `api_key` the python SDK puts in `/import` form bodies.
    pub api_key: Option<String>,
}

/// How the records travelled: decides the shape of the `/import` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyShape {
    /// `data=` in a form body or the query (track-style answers).
    Data,
    /// A JSON or ndjson body (import-style answers).
    Json,
}

/// A decoded request: parameters and one raw record (or its error) each, in order.
#[derive(Debug)]
pub struct Records {
    pub params: Params,
    pub shape: BodyShape,
    pub records: Vec<Result<Value, RecordError>>,
}

/// The parts of an HTTP request the decoder looks at.
#[derive(Debug, Clone, Copy)]
pub struct RawRequest<'a> {
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub body: &'a [u8],
}

/// Parses just the parameters of a request (used to shape an error answer when the body is
/// refused before it is decoded).
pub fn query_params(query: &str) -> Params {
    let mut params = Params::default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        apply_param(&mut params, &k, &v);
    }
    params
}

fn apply_param(p: &mut Params, key: &str, value: &str) {
    match key {
        "verbose" => p.verbose = value == "1" || value.eq_ignore_ascii_case("true"),
        "ip" => p.ip = Some(value == "1" || value.eq_ignore_ascii_case("true")),
        "img" => p.img = value == "1" || value.eq_ignore_ascii_case("true"),
        "callback" if !value.is_empty() => p.callback = Some(value.to_owned()),
        "strict" => p.strict = value == "1" || value.eq_ignore_ascii_case("true"),
        "api_key" if !value.is_empty() => p.api_key = Some(value.to_owned()),
        _ => {}
    }
}

/// Decodes a request into parameters and raw records.
pub fn decode_request(req: RawRequest<'_>, limits: RequestLimits) -> Result<Records, RequestError> {
    let mut params = Params::default();
    let mut query_data: Option<String> = None;
    for (k, v) in form_urlencoded::parse(req.query.as_bytes()) {
        if k == "data" {
            query_data = Some(v.into_owned());
        } else {
            apply_param(&mut params, &k, &v);
        }
    }

    let body = decompress(req.body, req.content_encoding, limits.max_decompressed_bytes)?;
    let body = trim_ascii(&body);
    let content_type = req
        .content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();

    let json_body = matches!(
        content_type.as_str(),
        "application/json" | "application/x-ndjson" | "application/jsonl"
    ) || (!body.is_empty() && matches!(body[0], b'[' | b'{'));

    if json_body {
        let records = parse_json_body(body, &limits)?;
        return finish(params, BodyShape::Json, records, limits);
    }

    let mut data = query_data.map(|d| Cow::Owned(d.into_bytes()));
    if !body.is_empty() {
        // A form body: `application/x-www-form-urlencoded`, or a beacon's `text/plain`.
        // The last `data` wins; only that one is decoded (it is most of the body).
        let mut last_data = None;
        for (k, v) in form_pairs(body) {
            let k = form_decode(k);
            if k == "data" {
                last_data = Some(v);
            } else {
                apply_param(&mut params, &k, &form_decode(v));
            }
        }
        if let Some(v) = last_data {
            data = Some(percent_decode(v));
        }
    }
    let data = data.ok_or(RequestError::MissingData)?;
    let value = parse_data(&data, &limits)?;
    let records = match value {
        Value::Array(items) => items.into_iter().map(Ok).collect(),
        v @ Value::Object(_) => vec![Ok(v)],
        _ => return Err(RequestError::WrongType),
    };
    finish(params, BodyShape::Data, records, limits)
}

fn finish(
    params: Params,
    shape: BodyShape,
    records: Vec<Result<Value, RecordError>>,
    limits: RequestLimits,
) -> Result<Records, RequestError> {
    if records.len() > limits.max_records {
        return Err(RequestError::TooManyRecords);
    }
    Ok(Records { params, shape, records })
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// `data` holds raw JSON or base64 of UTF-8 JSON.
fn parse_data(data: &[u8], limits: &RequestLimits) -> Result<Value, RequestError> {
    let trimmed = trim_ascii(data);
    if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
        return crate::json::parse_within(&String::from_utf8_lossy(trimmed), limits.json).map_err(json_error);
    }
    // A `+` in base64 becomes a space when a client forgets to percent-encode it.
    // Rebuilt only when needed: on the hot path the text is clean and ~100 KB long.
    let rebuilt: Vec<u8>;
    let cleaned = if memchr::memchr3(b' ', b'\n', b'\r', trimmed).is_some() {
        rebuilt = trimmed
            .iter()
            .filter(|&&b| b != b'\n' && b != b'\r')
            .map(|&b| if b == b' ' { b'+' } else { b })
            .collect();
        &rebuilt[..]
    } else {
        trimmed
    };
    let end = cleaned.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let cleaned = &cleaned[..end];
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(cleaned)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cleaned))
        .map_err(|_| RequestError::BadEncoding)?;
    let text = trim_ascii(&bytes);
    if !(text.starts_with(b"{") || text.starts_with(b"[")) {
        return Err(RequestError::BadEncoding);
    }
    json_value(text, limits)
}

/// A JSON array, a single object, or ndjson (one record per line; a bad line fails alone).
/// The JSON budget holds for the whole body, ndjson lines together; more lines than
/// `max_records` stop the reading there.
fn parse_json_body(body: &[u8], limits: &RequestLimits) -> Result<Vec<Result<Value, RecordError>>, RequestError> {
    if body.is_empty() {
        return Err(RequestError::MissingData);
    }
    match json_value(body, limits) {
        Ok(Value::Array(items)) => return Ok(items.into_iter().map(Ok).collect()),
        Ok(v @ Value::Object(_)) => return Ok(vec![Ok(v)]),
        Ok(_) => return Err(RequestError::WrongType),
        Err(e @ RequestError::TooManyValues) => return Err(e),
        Err(e) if body[0] == b'[' => return Err(e),
        Err(_) => {}
    }
    let mut records = Vec::new();
    let mut budget = limits.json;
    for line in body.split(|b| *b == b'\n') {
        let line = trim_ascii(line);
        if line.is_empty() {
            continue;
        }
        if records.len() == limits.max_records {
            return Err(RequestError::TooManyRecords);
        }
        let text = std::str::from_utf8(line).map_err(|_| crate::json::ParseError {
            at: 0,
            over_budget: false,
        });
        match text.and_then(|t| crate::json::parse_within(t, budget)) {
            Ok(v) => {
                budget.max_values = budget.max_values.saturating_sub(count_values(&v));
                records.push(Ok(v));
            }
            Err(e) if e.over_budget => return Err(RequestError::TooManyValues),
            Err(_) => records.push(Err(RecordError::new(
                Reject::BadJson,
                "record",
                "line is not valid JSON",
            ))),
        }
    }
    if records.iter().all(Result::is_err) {
        return Err(RequestError::BadJson);
    }
    Ok(records)
}

/// Values in `v`, counted as [`crate::json::Budget::max_values`] counts them.
fn count_values(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(count_values).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(count_values).sum::<usize>(),
        _ => 1,
    }
}

/// A decoded record: the token it carried (if any) and the canonical event.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub token: Option<String>,
    pub event: Event,
}

/// Profile operations Mixpanel's `/engage` takes, in the order it applies them.
pub const PROFILE_OPERATIONS: [&str; 8] = [
    "$set",
    "$set_once",
    "$add",
    "$append",
    "$union",
    "$remove",
    "$unset",
    "$delete",
];
/// Group operations: no `$add` or `$append` for groups.
pub const GROUP_OPERATIONS: [&str; 6] = ["$set", "$set_once", "$union", "$remove", "$unset", "$delete"];

/// Turns one raw record into a canonical event, checking types and size caps.
pub fn decode_record(endpoint: Endpoint, record: Value, caps: &Caps) -> Result<Decoded, RecordError> {
    let Value::Object(obj) = record else {
        return Err(RecordError::new(
            Reject::WrongType,
            "record",
            "record must be a JSON object",
        ));
    };
    match endpoint.kind() {
        Kind::Track => decode_track(endpoint, obj, caps),
        Kind::Profile => decode_update(Kind::Profile, obj, caps),
        Kind::Group => decode_update(Kind::Group, obj, caps),
    }
}

fn id_value(v: Value, field: &'static str) -> Result<String, RecordError> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(RecordError::new(
            Reject::WrongType,
            field,
            "must be a string or a number",
        )),
    }
}

fn opt_string(v: Option<Value>, field: &'static str) -> Result<Option<String>, RecordError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => id_value(v, field).map(Some),
    }
}

fn time_value(v: Option<Value>, field: &'static str) -> Result<Option<EventTime>, RecordError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let t = EventTime(n);
            match t.millis() {
                Some(_) => Ok(Some(t)),
                None => Err(RecordError::new(
                    Reject::BadTime,
                    field,
                    "must be a time in seconds or milliseconds",
                )),
            }
        }
        Some(_) => Err(RecordError::new(Reject::BadTime, field, "must be a number")),
    }
}

/// Mixpanel's rule: at most 36 bytes of `[A-Za-z0-9-]`.
pub fn valid_insert_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 36 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn decode_track(endpoint: Endpoint, mut obj: Map<String, Value>, caps: &Caps) -> Result<Decoded, RecordError> {
    let name = match obj.remove("event") {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(RecordError::new(
                Reject::MissingField,
                "event",
                "event name is required",
            ));
        }
        Some(_) => {
            return Err(RecordError::new(
                Reject::WrongType,
                "event",
                "event name must be a string",
            ));
        }
    };
    let mut props = match obj.remove("properties") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => Map::new(),
        Some(_) => {
            return Err(RecordError::new(
                Reject::WrongType,
                "properties",
                "properties must be an object",
            ));
        }
    };
    // Mixpanel ignores other top-level keys of an event; so do we.
    let token = match props.remove("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(RecordError::new(
                Reject::WrongType,
                "properties.token",
                "token must be a string",
            ));
        }
    };
    let ids = SubjectIds {
        distinct_id: opt_string(props.remove("distinct_id"), "properties.distinct_id")?,
        device_id: opt_string(props.remove("$device_id"), "properties.$device_id")?,
        user_id: opt_string(props.remove("$user_id"), "properties.$user_id")?,
        group: None,
    };
    let time = time_value(props.remove("time"), "properties.time")?;
    let insert_id = match props.remove("$insert_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if valid_insert_id(&s) => Some(s),
        Some(_) => {
            return Err(RecordError::new(
                Reject::BadInsertId,
                "properties.$insert_id",
                "must be at most 36 characters of A-Z, a-z, 0-9 and -",
            ));
        }
    };
    let ip = props.remove("ip");
    // `$merge` (python's `merge()`) carries only `$distinct_ids`; Mixpanel takes it so.
    if endpoint == Endpoint::Import && name != "$merge" {
        if ids.distinct_id.is_none() {
            return Err(RecordError::new(
                Reject::MissingField,
                "properties.distinct_id",
                "distinct_id is required",
            ));
        }
        if time.is_none() {
            return Err(RecordError::new(Reject::BadTime, "properties.time", "time is required"));
        }
    }
    caps.check("properties", &props)?;
    Ok(Decoded {
        token,
        event: Event {
            kind: Kind::Track,
            name: Some(name),
            ids,
            time,
            insert_id,
            properties: props,
            operations: Vec::new(),
            context: Context { ip, client_ip: None },
            envelope: None,
        },
    })
}

fn decode_update(kind: Kind, mut obj: Map<String, Value>, caps: &Caps) -> Result<Decoded, RecordError> {
    let token = match obj.remove("$token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(RecordError::new(Reject::WrongType, "$token", "$token must be a string")),
    };
    let mut ids = SubjectIds::default();
    if kind == Kind::Profile {
        ids.distinct_id = Some(match obj.remove("$distinct_id") {
            Some(Value::Null) | None => {
                return Err(RecordError::new(
                    Reject::MissingField,
                    "$distinct_id",
                    "$distinct_id is required",
                ));
            }
            Some(v) => id_value(v, "$distinct_id")?,
        });
        ids.device_id = opt_string(obj.remove("$device_id"), "$device_id")?;
        ids.user_id = opt_string(obj.remove("$user_id"), "$user_id")?;
    } else {
        let key = match obj.remove("$group_key") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => {
                return Err(RecordError::new(
                    Reject::MissingField,
                    "$group_key",
                    "$group_key must be a string",
                ));
            }
        };
        let id = match obj.remove("$group_id") {
            Some(v @ (Value::String(_) | Value::Number(_))) => v,
            _ => {
                return Err(RecordError::new(
                    Reject::MissingField,
                    "$group_id",
                    "$group_id must be a string or a number",
                ));
            }
        };
        ids.group = Some(GroupRef { key, id });
    }
    let time = time_value(obj.remove("$time"), "$time")?;
    let ip = obj.remove("$ip");
    let allowed: &[&str] = if kind == Kind::Profile {
        &PROFILE_OPERATIONS
    } else {
        &GROUP_OPERATIONS
    };
    let mut operations = Vec::new();
    let mut properties = Map::new();
    for (k, v) in obj {
        if allowed.contains(&k.as_str()) {
            let ok = match k.as_str() {
                "$unset" => v.is_array(),
                "$delete" => true,
                _ => v.is_object(),
            };
            if !ok {
                return Err(RecordError::new(
                    Reject::WrongType,
                    "operation",
                    "$unset takes a list of names; other operations take an object",
                ));
            }
            if let Value::Object(m) = &v {
                caps.check("operation", m)?;
            } else {
                caps.check_value("operation", &v, 1)?;
            }
            operations.push((k, v));
        } else if k.starts_with('$') && (PROFILE_OPERATIONS.contains(&k.as_str())) {
            return Err(RecordError::new(
                Reject::WrongType,
                "operation",
                "operation not supported for groups",
            ));
        } else {
            properties.insert(k, v);
        }
    }
    // The record's other fields are its properties: counted and sized like any others.
    caps.check("record", &properties)?;
    if operations.is_empty() {
        return Err(RecordError::new(
            Reject::MissingField,
            "operation",
            "an update needs an operation such as $set",
        ));
    }
    if properties.len() > caps.max_properties {
        return Err(RecordError::new(Reject::TooManyProperties, "record", "too many fields"));
    }
    Ok(Decoded {
        token,
        event: Event {
            kind,
            name: None,
            ids,
            time,
            insert_id: None,
            properties,
            operations,
            context: Context { ip, client_ip: None },
            envelope: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    const LIMITS: RequestLimits = RequestLimits::new(1 << 20, 2000, 255);

    fn caps() -> Caps {
        (&crate::config::Limits::default()).into()
    }

    fn raw<'a>(query: &'a str, ct: Option<&'a str>, body: &'a [u8]) -> RawRequest<'a> {
        RawRequest {
            query,
            content_type: ct,
            content_encoding: None,
            body,
        }
    }

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(v).unwrap())
    }

    fn enc(s: &str) -> String {
        form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    #[test]
    fn every_data_dialect_decodes_to_the_same_records() {
        let batch = json!([{"event": "a", "properties": {"token": "t", "x": "Zürich ✓ +/="}}]);
        let one = json!({"event": "a", "properties": {"token": "t", "x": "Zürich ✓ +/="}});
        let cases: Vec<(String, Option<&str>, String)> = vec![
            // browser batch: base64 form body, verbose in the query
            (
                "verbose=1&ip=1".into(),
                Some("application/x-www-form-urlencoded"),
                format!("data={}", enc(&b64(&batch))),
            ),
            // beacon: same form string labelled text/plain
            (
                "".into(),
                Some("text/plain;charset=UTF-8"),
                format!("data={}", enc(&b64(&batch))),
            ),
            // python: raw JSON form, verbose and ip in the body
            (
                "".into(),
                Some("application/x-www-form-urlencoded"),
                format!("data={}&verbose=1&ip=0", enc(&serde_json::to_string(&one).unwrap())),
            ),
            // node GET: base64 in the query
            (format!("ip=0&verbose=0&data={}", enc(&b64(&one))), None, String::new()),
            // base64 whose + became a space (not percent-encoded)
            (format!("data={}", b64(&one).replace('+', " ")), None, String::new()),
        ];
        for (q, ct, body) in cases {
            let got = decode_request(raw(&q, ct, body.as_bytes()), LIMITS).unwrap();
            assert_eq!(got.records.len(), 1, "{q} {body}");
            assert_eq!(got.records[0].as_ref().unwrap(), &one, "{q} {body}");
            assert_eq!(got.shape, BodyShape::Data);
        }
    }

    #[test]
    fn params_come_from_query_and_form() {
        let got = decode_request(
            raw(
                "ip=1&img=1&callback=cb",
                Some("application/x-www-form-urlencoded"),
                b"data=%7B%22event%22%3A%22a%22%7D&verbose=1&strict=1&api_key=k",
            ),
            LIMITS,
        )
        .unwrap();
        assert_eq!(
            got.params,
            Params {
                verbose: true,
                ip: Some(true),
                img: true,
                callback: Some("cb".into()),
                strict: true,
                api_key: Some("k".into())
            }
        );
    }

    #[test]
    fn import_bodies_json_ndjson_gzip_deflate() {
        let body = br#"[{"event":"a","properties":{}},{"event":"b","properties":{}}]"#;
        let got = decode_request(raw("strict=1", Some("application/json"), body), LIMITS).unwrap();
        assert_eq!(got.records.len(), 2);
        assert_eq!(got.shape, BodyShape::Json);

        let nd = b"{\"event\":\"a\"}\nnot json\n{\"event\":\"b\"}\n";
        let got = decode_request(raw("", Some("application/x-ndjson"), nd), LIMITS).unwrap();
        assert_eq!(got.records.len(), 3);
        assert!(got.records[0].is_ok() && got.records[1].is_err() && got.records[2].is_ok());

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(body).unwrap();
        let gz = gz.finish().unwrap();
        let mut r = raw("", Some("application/json"), &gz);
        r.content_encoding = Some("gzip");
        assert_eq!(decode_request(r, LIMITS).unwrap().records.len(), 2);
        // gzip without a Content-Encoding header is recognised by its magic bytes
        assert_eq!(
            decode_request(raw("", Some("application/json"), &gz), LIMITS)
                .unwrap()
                .records
                .len(),
            2
        );

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(body).unwrap();
        let z = z.finish().unwrap();
        let mut r = raw("", Some("application/json"), &z);
        r.content_encoding = Some("deflate");
        assert_eq!(decode_request(r, LIMITS).unwrap().records.len(), 2);
    }

    #[test]
    fn decompression_bombs_are_refused() {
        let zeros = vec![b' '; 4 << 20];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&zeros).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() < 16 << 10);
        let mut r = raw("", Some("application/json"), &gz);
        r.content_encoding = Some("gzip");
        assert_eq!(
            decode_request(r, LIMITS).unwrap_err(),
            RequestError::DecompressedTooLarge
        );
    }

    #[test]
    fn request_level_errors() {
        let cases: Vec<(&str, RequestError)> = vec![
            ("data=!!!notbase64", RequestError::BadEncoding),
            ("data=%7Bnope", RequestError::BadJson),
            ("data=MTIz", RequestError::BadEncoding), // base64 of "123"
            ("", RequestError::MissingData),
            ("data=%22str%22", RequestError::BadEncoding),
        ];
        for (q, want) in cases {
            assert_eq!(decode_request(raw(q, None, b""), LIMITS).unwrap_err(), want, "{q}");
        }
        // `[1,2]` is an array of non-objects: the request decodes, each record fails alone.
        let inb = decode_request(raw("data=%5B1%2C2%5D", None, b""), LIMITS).unwrap();
        assert_eq!(inb.records.len(), 2);
        for r in inb.records {
            let err = decode_record(Endpoint::Track, r.unwrap(), &caps()).unwrap_err();
            assert_eq!(err.reason, Reject::WrongType);
        }
        let mut r = raw("", Some("application/json"), b"[1]");
        r.content_encoding = Some("br");
        assert_eq!(
            decode_request(r, LIMITS).unwrap_err(),
            RequestError::UnsupportedEncoding
        );
        let mut r = raw("", Some("application/json"), b"\x1f\x8bgarbage");
        r.content_encoding = Some("gzip");
        assert_eq!(
            decode_request(r, LIMITS).unwrap_err(),
            RequestError::BadCompression("gzip")
        );
        let many = format!("[{}]", vec!["{}"; 2001].join(","));
        assert_eq!(
            decode_request(raw("", Some("application/json"), many.as_bytes()), LIMITS).unwrap_err(),
            RequestError::TooManyRecords
        );
    }

    #[test]
    fn track_record_lifts_ids_time_and_token() {
        let d = decode_record(
            Endpoint::Track,
            json!({"event": "Signup", "properties": {"token": "t", "distinct_id": 42, "$device_id": "d", "$user_id": "u",
                   "time": 1700000000.5, "$insert_id": "abc-123", "ip": "1.2.3.4", "plan": "pro"}}),
            &caps(),
        )
        .unwrap();
        assert_eq!(d.token.as_deref(), Some("t"));
        let e = d.event;
        assert_eq!(e.name.as_deref(), Some("Signup"));
        assert_eq!(e.ids.distinct_id.as_deref(), Some("42"));
        assert_eq!(e.ids.device_id.as_deref(), Some("d"));
        assert_eq!(e.time.unwrap().millis(), Some(1_700_000_000_500));
        assert_eq!(e.insert_id.as_deref(), Some("abc-123"));
        assert_eq!(e.context.ip, Some(json!("1.2.3.4")));
        assert_eq!(e.properties, json!({"plan": "pro"}).as_object().unwrap().clone());
    }

    #[test]
    fn record_errors_name_the_field_not_the_value() {
        let cases = vec![
            (Endpoint::Track, json!("nope"), Reject::WrongType),
            (Endpoint::Track, json!({"properties": {}}), Reject::MissingField),
            (Endpoint::Track, json!({"event": 5}), Reject::WrongType),
            (
                Endpoint::Track,
                json!({"event": "a", "properties": []}),
                Reject::WrongType,
            ),
            (
                Endpoint::Track,
                json!({"event": "a", "properties": {"token": 5}}),
                Reject::WrongType,
            ),
            (
                Endpoint::Track,
                json!({"event": "a", "properties": {"time": "yesterday"}}),
                Reject::BadTime,
            ),
            (
                Endpoint::Track,
                json!({"event": "a", "properties": {"$insert_id": "has space secret@x.com"}}),
                Reject::BadInsertId,
            ),
            (
                Endpoint::Track,
                json!({"event": "a", "properties": {"distinct_id": {"a": 1}}}),
                Reject::WrongType,
            ),
            (
                Endpoint::Import,
                json!({"event": "a", "properties": {"time": 1}}),
                Reject::MissingField,
            ),
            (
                Endpoint::Import,
                json!({"event": "a", "properties": {"distinct_id": "x"}}),
                Reject::BadTime,
            ),
            (
                Endpoint::Engage,
                json!({"$token": "t", "$set": {}}),
                Reject::MissingField,
            ),
            (
                Endpoint::Engage,
                json!({"$token": "t", "$distinct_id": "x"}),
                Reject::MissingField,
            ),
            (
                Endpoint::Engage,
                json!({"$token": "t", "$distinct_id": "x", "$unset": {"a": 1}}),
                Reject::WrongType,
            ),
            (
                Endpoint::Groups,
                json!({"$token": "t", "$group_key": "c", "$group_id": "g", "$add": {"n": 1}}),
                Reject::WrongType,
            ),
            (
                Endpoint::Groups,
                json!({"$token": "t", "$group_id": "g", "$set": {}}),
                Reject::MissingField,
            ),
        ];
        for (ep, rec, want) in cases {
            let text = rec.to_string();
            let err = decode_record(ep, rec, &caps()).unwrap_err();
            assert_eq!(err.reason, want, "{text}");
            assert!(!err.to_string().contains("secret@x.com"));
        }
    }

    #[test]
    fn profile_fields_beside_the_operations_are_capped() {
        let caps = Caps {
            max_depth: 4,
            max_properties: 2,
            max_string_bytes: 8,
        };
        let update = |extra: Value| {
            let mut r = json!({"$token": "t", "$distinct_id": "u1", "$set": {"plan": "pro"}});
            r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            decode_record(Endpoint::Engage, r, &caps)
                .map(|_| ())
                .map_err(|e| e.reason)
        };
        assert_eq!(update(json!({"a": 1})), Ok(()));
        assert_eq!(update(json!({"a-very-long-name": 1})), Err(Reject::StringTooLong));
        assert_eq!(update(json!({"a": 1, "b": 2, "c": 3})), Err(Reject::TooManyProperties));
    }

    #[test]
    fn profile_and_group_updates() {
        let d = decode_record(
            Endpoint::Engage,
            json!({"$token": "t", "$distinct_id": "u1", "$time": 1700000000123i64, "$ip": "0", "$ignore_time": true,
                   "$set": {"plan": "pro"}, "$unset": ["old"], "$delete": ""}),
            &caps(),
        )
        .unwrap();
        assert_eq!(d.event.kind, Kind::Profile);
        assert_eq!(d.event.ids.distinct_id.as_deref(), Some("u1"));
        assert_eq!(d.event.operations.len(), 3);
        assert_eq!(
            d.event.properties,
            json!({"$ignore_time": true}).as_object().unwrap().clone()
        );
        let g = decode_record(
            Endpoint::Groups,
            json!({"$token": "t", "$group_key": "company", "$group_id": 7, "$union": {"tags": ["a"]}}),
            &caps(),
        )
        .unwrap();
        assert_eq!(
            g.event.ids.group,
            Some(GroupRef {
                key: "company".into(),
                id: json!(7)
            })
        );
    }
}

#[cfg(test)]
mod form_properties {
    use super::*;
    use proptest::prelude::*;

    fn same_as_form_urlencoded(body: &[u8]) -> Result<(), TestCaseError> {
        let ours: Vec<(String, String)> = form_pairs(body)
            .map(|(k, v)| (form_decode(k).into_owned(), form_decode(v).into_owned()))
            .collect();
        let theirs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        prop_assert_eq!(ours, theirs);
        Ok(())
    }

    #[test]
    fn edge_cases_decode_like_form_urlencoded() {
        for body in [
            &b""[..],
            b"&&",
            b"=",
            b"data",
            b"data=",
            b"a=b=c&&d",
            b"%",
            b"%4",
            b"%4g%41",
            b"%%41",
            b"a+b%2B%2b",
            b"x=%FF%FE",
            b"x=\xff+",
            b"x=%C3%A9&y=%e2%82",
        ] {
            same_as_form_urlencoded(body).unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        /// Any bytes, and especially escapes, `+`, `&` and `=`, split and decode exactly as
        /// `form_urlencoded::parse` does.
        #[test]
        fn decodes_like_form_urlencoded(
            parts in prop::collection::vec(prop_oneof![
                any::<u8>().prop_map(|b| vec![b]),
                Just(b"%".to_vec()), Just(b"+".to_vec()), Just(b"&".to_vec()), Just(b"=".to_vec()),
                "[0-9a-fA-Fg]{0,2}".prop_map(|s| format!("%{s}").into_bytes()),
                "[a-zA-Z0-9]{1,8}".prop_map(String::into_bytes),
            ], 0..40)
        ) {
            same_as_form_urlencoded(&parts.concat())?;
        }
    }
}
