//! JSON helpers for ingest's per-record path.
//!
//! [`to_vec`]: compact JSON text of a `serde_json::Value`, byte for byte what
//! `serde_json::to_vec` writes, for the one place that writes a lot of it: every record ingest
//! puts into the outbox.
//!
//! Two things make it cheaper than `to_vec`: strings are scanned for the bytes that need an
//! escape eight at a time (most property values have none), and the buffer is sized by the
//! caller (ingest passes the previous record's length) instead of growing from 128 bytes.

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
        // `Number`'s `Display` writes what serde_json's serialiser writes (the test checks).
        Value::Number(n) => {
            use std::io::Write;
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{n}");
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
    fn writes_what_serde_json_writes() {
        let all_bytes: String = (0u8..=0x7f).map(char::from).collect();
        for v in [
            json!(null),
            json!({}),
            json!([]),
            json!({"a": [1, -2, 3.5, 1e300, -0.0, 18446744073709551615u64, true, false, null], "": ""}),
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

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn any_value_is_written_as_serde_json_writes_it(v in any_value()) {
            same_as_serde_json(&v)?;
        }
    }
}
