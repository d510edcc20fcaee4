//! JSON helpers for ingest's per-record path, where serde_json's generic code took about a
//! fifth of serve's CPU:
//!
//! - [`parse`]: request bodies into `serde_json::Value`, accepting exactly what
//!   `serde_json::from_str` accepts and giving the same value (property-tested against it).
//! - [`to_vec`]: compact JSON text of a `Value`, byte for byte what `serde_json::to_vec`
//!   writes, for every record ingest puts into the outbox. Strings are scanned for the bytes
//!   that need an escape eight at a time (most property values have none), and the buffer is
//!   sized by the caller (ingest passes the previous record's length) instead of growing from
//!   128 bytes.
//! - [`get`] and [`get_mut`]: map lookups that compare keys instead of hashing in small maps.

use serde_json::{Map, Value};

/// Maps up to this size are searched by comparing keys: cheaper than hashing the key with
/// SipHash (serde_json's maps are IndexMaps with the std hasher), and a record's top level
/// has two keys.
const SCAN_UP_TO: usize = 8;

/// `map.get(key)`, without hashing when the map is small.
pub fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= SCAN_UP_TO {
        map.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// `map.get_mut(key)`, without hashing when the map is small.
pub fn get_mut<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    if map.len() <= SCAN_UP_TO {
        map.iter_mut().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        map.get_mut(key)
    }
}

/// The segments of an RFC 6901 pointer, still escaped (`~0`, `~1`); `None` unless it starts
/// with `/`. Splits on the byte, not through `str::split`'s searcher: segments are short.
pub fn pointer_segments(pointer: &str) -> Option<Segments<'_>> {
    pointer.strip_prefix('/').map(|rest| Segments { rest: Some(rest) })
}

pub struct Segments<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == b'/') {
            Some(i) => {
                self.rest = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// The compact JSON text of `value`; `size_hint` is the expected length (e.g. the length of
/// the text the value was parsed from).
pub fn to_vec(value: &Value, size_hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_hint.max(64));
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Integers as serde_json writes them, without going through `fmt`; other numbers by
        // `Number`'s `Display`, which writes what serde_json's serialiser writes (the test checks).
        Value::Number(n) => {
            let mut buf = itoa::Buffer::new();
            if let Some(u) = n.as_u64() {
                out.extend_from_slice(buf.format(u).as_bytes());
            } else if let Some(i) = n.as_i64() {
                out.extend_from_slice(buf.format(i).as_bytes());
            } else {
                use std::io::Write;
                // Writing into a Vec cannot fail.
                let _ = write!(out, "{n}");
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value(out, v);
            }
            out.push(b'}');
        }
    }
}

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that is a control character, `"` or `\`. The lowest set
/// bit marks the first such byte exactly (borrows only flag bytes above a flagged one).
fn needs_escape(w: u64) -> u64 {
    let control = w.wrapping_sub(LOW * 0x20) & !w;
    let quote = w ^ (LOW * u64::from(b'"'));
    let backslash = w ^ (LOW * u64::from(b'\\'));
    (control | (quote.wrapping_sub(LOW) & !quote) | (backslash.wrapping_sub(LOW) & !backslash)) & HIGH
}

/// The position of the first byte of `b` at or after `from` that needs an escape.
fn next_escape(b: &[u8], mut from: usize) -> Option<usize> {
    while from + 8 <= b.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&b[from..from + 8]);
        let hits = needs_escape(u64::from_le_bytes(word));
        if hits != 0 {
            return Some(from + (hits.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    b[from..]
        .iter()
        .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
        .map(|i| from + i)
}

/// A JSON string as serde_json escapes it: `"`, `\` and the control characters, with the
/// short forms `\b \f \n \r \t` and `\u00XX` (lowercase hex) for the others.
fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(i) = next_escape(b, start) {
        out.extend_from_slice(&b[start..i]);
        match b[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// JSON text that does not parse, or holds more elements than a [`Budget`] allows (the
/// position only: never any of the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    pub at: usize,
    /// The text went past the budget (it may be valid JSON).
    pub over_budget: bool,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.over_budget {
            write!(f, "JSON past the element limits at byte {}", self.at)
        } else {
            write!(f, "invalid JSON at byte {}", self.at)
        }
    }
}

/// How much one text may hold, checked while parsing so a small text that would expand into
/// millions of values stops at the limit instead of being built first: memory is bounded by
/// the budget, not by the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Elements of one array, or entries of one object.
    pub max_items: usize,
    /// Values in the whole text (every scalar, array and object counts one).
    pub max_values: usize,
}

impl Budget {
    pub const UNLIMITED: Budget = Budget {
        max_items: usize::MAX,
        max_values: usize::MAX,
    };
}

impl std::error::Error for ParseError {}

/// Parses JSON text into a `Value`, accepting exactly what `serde_json::from_str::<Value>`
/// accepts (with this crate's `preserve_order` and `float_roundtrip`) and giving the same
/// value: key order, the last of duplicate keys, integers as `u64`/`i64` and other numbers
/// as correctly rounded `f64`, nesting limited to 127 levels.
///
/// Faster than serde_json's generic deserializer for request bodies: strings are scanned
/// eight bytes at a time and borrowed from the text when they hold no escape, and an object's
/// entries are collected first so its map is built once at its final size.
pub fn parse(text: &str) -> Result<Value, ParseError> {
    parse_within(text, Budget::UNLIMITED)
}

/// [`parse`], refusing (with [`ParseError::over_budget`]) as soon as an array or object
/// passes `budget.max_items` or the text passes `budget.max_values` values.
pub fn parse_within(text: &str, budget: Budget) -> Result<Value, ParseError> {
    let mut p = Parser {
        b: text.as_bytes(),
        text,
        i: 0,
        depth: 128,
        scratch: Vec::new(),
        max_items: budget.max_items,
        values_left: budget.max_values,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err());
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    text: &'a str,
    i: usize,
    /// Nesting levels left (serde_json's recursion limit).
    depth: u32,
    scratch: Vec<u8>,
    max_items: usize,
    values_left: usize,
}

impl Parser<'_> {
    fn err(&self) -> ParseError {
        ParseError {
            at: self.i,
            over_budget: false,
        }
    }

    fn over_budget(&self) -> ParseError {
        ParseError {
            at: self.i,
            over_budget: true,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, ParseError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err())
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        if self.values_left == 0 {
            return Err(self.over_budget());
        }
        self.values_left -= 1;
        match self.peek() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            _ => Err(self.err()),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth -= 1;
        if self.depth == 0 { Err(self.err()) } else { Ok(()) }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        self.enter()?;
        self.i += 1;
        let mut items = Vec::new();
        if !self.closes_empty(b']') {
            loop {
                if items.len() == self.max_items {
                    return Err(self.over_budget());
                }
                items.push(self.value()?);
                if !self.after_item(b']')? {
                    break;
                }
            }
        }
        self.depth += 1;
        Ok(Value::Array(items))
    }

    /// Just inside `[` or `{`: true (and past it) if `close` follows at once.
    fn closes_empty(&mut self, close: u8) -> bool {
        self.ws();
        let empty = self.peek() == Some(close);
        if empty {
            self.i += 1;
        }
        empty
    }

    /// After an item: `,` (true: another follows) or `close` (false: the container ends).
    fn after_item(&mut self, close: u8) -> Result<bool, ParseError> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                self.ws();
                Ok(true)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(false)
            }
            _ => Err(self.err()),
        }
    }

    fn object(&mut self) -> Result<Value, ParseError> {
        self.enter()?;
        self.i += 1;
        let mut entries: Vec<(String, Value)> = Vec::new();
        if !self.closes_empty(b'}') {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(self.err());
                }
                let key = self.string()?;
                self.ws();
                if self.peek() != Some(b':') {
                    return Err(self.err());
                }
                self.i += 1;
                self.ws();
                if entries.len() == self.max_items {
                    return Err(self.over_budget());
                }
                entries.push((key, self.value()?));
                if !self.after_item(b'}')? {
                    break;
                }
            }
        }
        self.depth += 1;
        // Built at its final size; a duplicate key keeps its first place and its last value,
        // as inserting one by one does. With duplicates the map is rebuilt at its real size,
        // so `{"a":0,"a":0,…}` does not keep room for every repetition.
        let parsed = entries.len();
        let map: Map<String, Value> = entries.into_iter().collect();
        Ok(Value::Object(if map.len() < parsed {
            map.into_iter().collect()
        } else {
            map
        }))
    }

    /// A string; `self.i` is at its opening quote.
    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1;
        let start = self.i;
        let Some(end) = next_escape(self.b, start) else {
            self.i = self.b.len();
            return Err(self.err());
        };
        if self.b[end] == b'"' {
            self.i = end + 1;
            return Ok(self.text[start..end].to_owned());
        }
        self.scratch.clear();
        let mut at = start;
        let mut end = end;
        loop {
            self.scratch.extend_from_slice(&self.b[at..end]);
            self.i = end;
            match self.b[end] {
                b'"' => break,
                b'\\' => {
                    self.i += 1;
                    self.escape()?;
                }
                // A control character must be escaped.
                _ => return Err(self.err()),
            }
            at = self.i;
            end = match next_escape(self.b, at) {
                Some(e) => e,
                None => {
                    self.i = self.b.len();
                    return Err(self.err());
                }
            };
        }
        self.i += 1;
        // Only whole UTF-8 sequences from the text and encoded code points went in. Copied out
        // at its size; the scratch buffer is kept for the next escaped string.
        std::str::from_utf8(&self.scratch)
            .map(str::to_owned)
            .map_err(|_| self.err())
    }

    /// One escape; `self.i` is just past its backslash.
    fn escape(&mut self) -> Result<(), ParseError> {
        let c = self.peek().ok_or_else(|| self.err())?;
        self.i += 1;
        let byte = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(self.err()),
        };
        self.scratch.push(byte);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self.b.get(self.i..self.i + 4).ok_or_else(|| self.err())?;
        let mut n = 0u32;
        for &d in digits {
            let v = crate::digits::hex_value(d).ok_or_else(|| self.err())?;
            n = n << 4 | u32::from(v);
        }
        self.i += 4;
        Ok(n)
    }

    /// `\uXXXX`, a surrogate pair as two of them; a lone surrogate is an error.
    fn unicode_escape(&mut self) -> Result<(), ParseError> {
        let n = self.hex4()?;
        let c = match n {
            0xDC00..=0xDFFF => return Err(self.err()),
            0xD800..=0xDBFF => {
                if !self.b[self.i..].starts_with(b"\\u") {
                    return Err(self.err());
                }
                self.i += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.err());
                }
                0x1_0000 + ((n - 0xD800) << 10 | (low - 0xDC00))
            }
            _ => n,
        };
        let c = char::from_u32(c).ok_or_else(|| self.err())?;
        let mut buf = [0u8; 4];
        self.scratch.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let int_start = self.i;
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.err());
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err()),
        }
        let int_end = self.i;
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err());
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err());
            }
            float = true;
        }
        if !float {
            // Integers as serde_json keeps them: u64, negative i64, else f64 (as `-0` is).
            let mut magnitude = 0u64;
            let fits = self.b[int_start..int_end].iter().all(|&d| {
                match magnitude
                    .checked_mul(10)
                    .and_then(|m| m.checked_add(u64::from(d - b'0')))
                {
                    Some(m) => {
                        magnitude = m;
                        true
                    }
                    None => false,
                }
            });
            if fits {
                if !negative {
                    return Ok(Value::Number(magnitude.into()));
                }
                let neg = (magnitude as i64).wrapping_neg();
                if neg < 0 {
                    return Ok(Value::Number(neg.into()));
                }
                return self.finite(-(magnitude as f64));
            }
        }
        // The grammar is checked above; std's parser rounds correctly, as serde_json's
        // `float_roundtrip` does.
        let f: f64 = self.text[start..self.i].parse().map_err(|_| self.err())?;
        self.finite(f)
    }

    fn finite(&self, f: f64) -> Result<Value, ParseError> {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn same_as_serde_json(v: &Value) -> Result<(), TestCaseError> {
        let theirs = serde_json::to_string(v).expect("a Value serialises");
        let ours = String::from_utf8(to_vec(v, 0)).expect("the text is UTF-8");
        prop_assert_eq!(ours, theirs);
        Ok(())
    }

    #[test]
    fn the_budget_stops_parsing_at_its_limits() {
        let budget = Budget {
            max_items: 3,
            max_values: 10,
        };
        let over = |text: &str| parse_within(text, budget).map_err(|e| e.over_budget);
        assert_eq!(over("[1,2,3]"), Ok(json!([1, 2, 3])));
        assert_eq!(over("[1,2,3,4]"), Err(true));
        assert_eq!(over(r#"{"a":1,"b":2,"c":3}"#), Ok(json!({"a": 1, "b": 2, "c": 3})));
        assert_eq!(
            over(r#"{"a":1,"a":2,"a":3,"a":4}"#),
            Err(true),
            "duplicate keys count too"
        );
        // 1 + 3 × (1 + 2) = 10 values: at the limit; one more is over.
        assert_eq!(over("[[1,2],[3,4],[5,6]]").map(|_| ()), Ok(()));
        assert_eq!(over("[[1,2],[3,4],[5,6,7]]"), Err(true));
        // Syntax errors stay syntax errors.
        assert_eq!(over("[1,2"), Err(false));
        // Stops at the limit, however long the text goes on (and however broken its end).
        let long = format!("[{}", "0,".repeat(1_000_000));
        let e = parse_within(&long, budget).unwrap_err();
        assert!(e.over_budget && e.at < 16, "{e:?}");
        assert_eq!(parse(r#"{"a":[1,2,3,4,5]}"#), Ok(json!({"a": [1, 2, 3, 4, 5]})));
    }

    #[test]
    fn small_and_large_maps_are_searched_alike() {
        for n in [0, 1, 2, SCAN_UP_TO, SCAN_UP_TO + 1, 40] {
            let mut m: Map<String, Value> = (0..n).map(|i| (format!("k{i}"), json!(i))).collect();
            for key in ["k0", "k1", "k8", "k9", "k39", "missing", ""] {
                assert_eq!(get(&m, key), m.get(key), "{n} {key}");
                let expected = m.get(key).cloned();
                assert_eq!(get_mut(&mut m, key).map(|v| v.clone()), expected, "{n} {key}");
            }
        }
    }

    #[test]
    fn pointer_segments_split_as_str_split_does() {
        for p in [
            "",
            "/",
            "//",
            "/a",
            "/a/b~1c/0",
            "/properties/$current_url",
            "/a//b/",
            "a/b",
        ] {
            let ours: Option<Vec<&str>> = super::pointer_segments(p).map(Iterator::collect);
            let std: Option<Vec<&str>> = p.strip_prefix('/').map(|r| r.split('/').collect());
            assert_eq!(ours, std, "{p:?}");
        }
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let all_bytes: String = (0u8..=0x7f).map(char::from).collect();
        for v in [
            json!(null),
            json!({}),
            json!([]),
            json!({"a": [1, -2, 0, 3.5, 1e300, -0.0, 18446744073709551615u64, i64::MIN, true, false, null], "": ""}),
            json!({"s": all_bytes}),
            json!("quote \" backslash \\ tab \t nl \n cr \r bs \u{8} ff \u{c} nul \u{0} us \u{1f} del \u{7f}"),
            json!("Zürich 東京 🙂 \u{2028}"),
            json!("12345678\"12345678\\1234567\u{1}"),
            json!({"nested": {"deeper": [{"k": "v"}, [[]]]}}),
        ] {
            same_as_serde_json(&v).unwrap();
        }
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
            "[\\x00-\\x7f]{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec(("[\\x00-\\x7f]{0,12}|\\PC{0,6}", inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Same value, or both refuse (with `Value`'s equality, which tells u64, i64 and f64
    /// apart); for a value, the same key order too.
    fn parses_as_serde_json(text: &str) -> Result<(), TestCaseError> {
        let theirs = serde_json::from_str::<Value>(text).ok();
        let ours = parse(text).ok();
        prop_assert_eq!(&ours, &theirs, "{:?}", text);
        if let (Some(a), Some(b)) = (ours, theirs) {
            prop_assert_eq!(a.to_string(), b.to_string());
            // -0.0 == 0.0: the sign is in the text.
        }
        Ok(())
    }

    #[test]
    fn parses_what_serde_json_parses() {
        let deep_ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        let too_deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        let deep_objects_ok = format!("{}1{}", "{\"a\":".repeat(127), "}".repeat(127));
        let too_deep_objects = format!("{}1{}", "{\"a\":".repeat(128), "}".repeat(128));
        let mixed_deep = format!("{}null{}", "[{\"a\":".repeat(63), "}]".repeat(63));
        // Depth is restored after each container: 127 levels twice in a row are fine.
        let deep126 = format!("{}{}", "[".repeat(126), "]".repeat(126));
        let deep_then_sibling = format!("[{deep126},{deep126}]");
        let many_duplicates = format!("{{{}\"b\":2}}", "\"a\":1,".repeat(1000));
        for text in [
            "null",
            "true",
            "false",
            " \t\n\r1 ",
            "0",
            "-0",
            "-0.0",
            "01",
            "-01",
            "1.",
            "1.e5",
            ".5",
            "+1",
            "1e",
            "1e+",
            "1E-2",
            "1.5e308",
            "1e309",
            "-1e309",
            "2e-400",
            "0e99999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "-",
            "nul",
            "truex",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{}",
            "[]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{\"a\":1,\"a\":2,\"b\":3}",
            "{\"b\":1,\"a\":{\"c\":[true,null]}}",
            "\"\\u00e9\\n\\t\\\"\\\\\\/\\b\\f\\r\"",
            "\"\\ud83d\\ude00\"",
            "\"\\ud83d\"",
            "\"\\ude00\"",
            "\"\\ud83d\\u0041\"",
            "\"\\ud83dx\"",
            "\"\\u12\"",
            "\"\\x\"",
            "\"a\u{1}b\"",
            "\"unterminated",
            "\"ok\" x",
            "\"Zürich 東京 🙂\"",
            "\"12345678\\\"12345678\"",
            "",
            " ",
            "[\"a\"",
            "{\"a\":",
            &deep_ok,
            &too_deep,
            &deep_objects_ok,
            &too_deep_objects,
            &mixed_deep,
            &deep_then_sibling,
            &many_duplicates,
            "1e-99999999999999999999",
            "-0e99999999999",
            "123456789012345678901e99999999999999",
            "123456789012345678901e-99999999999999",
            "0.000000000000000000000000001e20",
            "\"\\uABCD\\uabcd\\u0000\u{7f}\"",
            "{\"k\":1,\"k\":{\"x\":2},\"j\":3,\"k\":[4]}",
        ] {
            parses_as_serde_json(text).unwrap();
        }
        assert!(parse(&deep_then_sibling).is_ok() && parse(&mixed_deep).is_ok());
        assert!(parse(&too_deep).is_err() && parse(&too_deep_objects).is_err());
        assert_eq!(parse(&many_duplicates).unwrap(), json!({"a": 1, "b": 2}));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn any_value_is_written_as_serde_json_writes_it(v in any_value()) {
            same_as_serde_json(&v)?;
        }

        #[test]
        fn any_value_is_parsed_back_as_serde_json_parses_it(v in any_value(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&v).expect("a Value serialises")
            } else {
                serde_json::to_string(&v).expect("a Value serialises")
            };
            parses_as_serde_json(&text)?;
        }

        /// Damaged text: a byte replaced, or the text cut, anywhere.
        #[test]
        fn damaged_text_is_refused_or_read_as_serde_json_reads_it(
            v in any_value(),
            at in any::<prop::sample::Index>(),
            byte in prop::sample::select(&b"\"\\{}[]:,0-.eE+u \x01a"[..]),
            cut in any::<bool>(),
        ) {
            let text = serde_json::to_string(&v).expect("a Value serialises");
            if text.is_empty() {
                return Ok(());
            }
            let i = at.index(text.len());
            let mut bytes = text.into_bytes();
            if cut {
                bytes.truncate(i);
            } else {
                bytes[i] = byte;
            }
            if let Ok(damaged) = String::from_utf8(bytes) {
                parses_as_serde_json(&damaged)?;
            }
        }

        #[test]
        fn numbers_parse_as_serde_json_parses_them(
            int in "-?(0|[1-9][0-9]{0,25})",
            frac in prop::option::of("[0-9]{1,20}"),
            exp in prop::option::of("[eE][+-]?[0-9]{1,4}"),
        ) {
            let text = format!("{int}{}{}", frac.map(|f| format!(".{f}")).unwrap_or_default(), exp.unwrap_or_default());
            parses_as_serde_json(&text)?;
        }
    }
}
