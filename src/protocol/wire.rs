//! Wire helpers every protocol uses: decompression with a ceiling (bombs), form and
//! percent decoding, JSON text, gzip, `Retry-After`.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::{RequestError, RequestLimits};
use crate::digits::hex_value;

/// The raw name and value of each pair of a form body, split exactly as
/// `form_urlencoded::parse` splits them (on `&`, then the first `=`; empty pairs skipped).
pub fn form_pairs(body: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = body;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let end = memchr::memchr(b'&', rest).unwrap_or(rest.len());
            let pair = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or_default();
            if !pair.is_empty() {
                return Some(match memchr::memchr(b'=', pair) {
                    Some(i) => (&pair[..i], &pair[i + 1..]),
                    None => (pair, &[][..]),
                });
            }
        }
    })
}

/// Decodes one form name or value as `form_urlencoded::parse` does (`+` is a space, `%XX` a
/// byte, a `%` without two hex digits stays, invalid UTF-8 becomes U+FFFD).
pub fn form_decode(raw: &[u8]) -> Cow<'_, str> {
    match percent_decode(raw) {
        Cow::Borrowed(bytes) => String::from_utf8_lossy(bytes),
        Cow::Owned(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Cow::Owned(text),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// The bytes of one form name or value (`+` is a space, `%XX` a byte, a `%` without two hex
/// digits stays), in one pass that copies the runs between escapes whole. UTF-8 is not
/// checked here: the `data` value is base64 text, which the base64 decoder checks, or JSON,
/// which [`parse_data`] reads as [`form_decode`] would (invalid UTF-8 becomes U+FFFD).
pub fn percent_decode(raw: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memchr2(b'%', b'+', raw) else {
        return Cow::Borrowed(raw);
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..first]);
    let mut i = first;
    while i < raw.len() {
        match raw[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                raw.get(i + 1).copied().and_then(hex_value),
                raw.get(i + 2).copied().and_then(hex_value),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            _ => {
                let run = memchr::memchr2(b'%', b'+', &raw[i..]).unwrap_or(raw.len() - i);
                out.extend_from_slice(&raw[i..i + run]);
                i += run;
            }
        }
    }
    Cow::Owned(out)
}

/// Inflates a body, refusing to produce more than `max` bytes (decompression bombs). An
/// uncompressed body is borrowed, not copied.
pub fn decompress<'a>(body: &'a [u8], encoding: Option<&str>, max: usize) -> Result<Cow<'a, [u8]>, RequestError> {
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase()).unwrap_or_default();
    let gzip_magic = body.starts_with(&[0x1f, 0x8b]);
    match encoding.as_str() {
        "gzip" | "x-gzip" => gunzip(body, max).map(Cow::Owned),
        "deflate" => {
            // HTTP "deflate" is zlib-wrapped, but some clients send raw deflate.
            // Only a stream that is not zlib is tried again: one that inflated past `max`
            // stays refused as too large.
            inflate(flate2::read::ZlibDecoder::new(body), max, "deflate")
                .or_else(|e| match e {
                    RequestError::BadCompression(_) => inflate(flate2::read::DeflateDecoder::new(body), max, "deflate"),
                    e => Err(e),
                })
                .map(Cow::Owned)
        }
        "" | "identity" if gzip_magic => gunzip(body, max).map(Cow::Owned),
        "" | "identity" => {
            if body.len() > max {
                Err(RequestError::DecompressedTooLarge)
            } else {
                Ok(Cow::Borrowed(body))
            }
        }
        _ => Err(RequestError::UnsupportedEncoding),
    }
}

pub fn inflate(reader: impl Read, max: usize, what: &'static str) -> Result<Vec<u8>, RequestError> {
    inflate_sized(reader, max, what, 0)
}

/// A gzip body, its output sized up front from the gzip trailer's length (RFC 1952 ISIZE),
/// so a large body is not copied from buffer to doubled buffer on its way to `max`. The
/// trailer is only a hint: a wrong one costs a regrowth, never more than `max`.
fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, RequestError> {
    let hint = body
        .len()
        .checked_sub(4)
        .and_then(|at| body.get(at..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map_or(0, |t| u32::from_le_bytes(t) as usize);
    inflate_sized(
        flate2::read::GzDecoder::new(body),
        max,
        "gzip",
        hint.min(max.saturating_add(1)),
    )
}

fn inflate_sized(reader: impl Read, max: usize, what: &'static str, capacity: usize) -> Result<Vec<u8>, RequestError> {
    let mut out = Vec::with_capacity(capacity);
    let mut limited = reader.take(max as u64 + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|_| RequestError::BadCompression(what))?;
    if out.len() > max {
        return Err(RequestError::DecompressedTooLarge);
    }
    Ok(out)
}

/// JSON text as a `Value`, as `serde_json::from_slice` reads it (which refuses text that is
/// not UTF-8: invalid bytes can only sit inside strings), with UTF-8 checked once for the
/// whole text and [`crate::json::parse`] doing the rest.
/// Refused as [`RequestError::TooManyValues`] as soon as it passes `limits`' JSON budget.
pub fn json_value(bytes: &[u8], limits: &RequestLimits) -> Result<Value, RequestError> {
    let text = std::str::from_utf8(bytes).map_err(|_| RequestError::BadJson)?;
    crate::json::parse_within(text, limits.json).map_err(json_error)
}

/// The request error for a JSON parse error.
pub fn json_error(e: crate::json::ParseError) -> RequestError {
    if e.over_budget {
        RequestError::TooManyValues
    } else {
        RequestError::BadJson
    }
}

/// Gzip at the fast level: delivery bodies.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
