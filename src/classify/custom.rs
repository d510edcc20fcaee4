//! Detectors defined in configuration (`[[classify.detectors]]`), without a rebuild.
//!
//! Each names a category from the taxonomy and at least one of two lists of regular
//! expressions: `keys`, matched case-insensitively against a leaf's key (array items use the
//! array's key), and `values`, matched against the string form of the leaf (a number's
//! shortest text). With both, a leaf needs a matching key *and* a matching value; with
//! `keys` alone any non-empty value under such a key counts; with `values` alone every
//! string and number leaf of the record is tried. Patterns are unanchored unless written
//! with `^`/`$` (Rust `regex` syntax: linear time, no backreferences).
//!
//! Patterns are compiled once, when the configuration is validated, into one `RegexSet` per
//! detector and list, each bounded in compiled size; a bad pattern is a configuration error
//! naming the detector and the pattern's position (never a value). Values longer than
//! [`MAX_VALUE_BYTES`] are matched in their first part only. Findings are reported as
//! detector `custom.<name>`, confidence 0.9, for the whole leaf, after the built-in
//! classifier's (a leaf it already reported in the same category is not reported twice).

use regex::{RegexSet, RegexSetBuilder};
use serde_json::Value;

use super::{Finding, taxonomy};

/// Detectors one configuration may define.
pub const MAX_DETECTORS: usize = 64;
/// Patterns one list of one detector may hold.
pub const MAX_PATTERNS: usize = 32;
/// Longest pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 512;
/// Compiled size bound per list (the `regex` crate's size limit), so a pattern such as
/// `\w{1000}{1000}` is refused at load instead of costing memory per request.
pub const MAX_COMPILED_BYTES: usize = 1 << 20;
/// Bytes of a value the value patterns read.
pub const MAX_VALUE_BYTES: usize = 4096;
const MAX_DEPTH: usize = 64;

/// One detector as written in configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomDetectorSpec {
    pub name: String,
    pub category: String,
    pub keys: Vec<String>,
    pub values: Vec<String>,
}

#[derive(Debug, Clone)]
struct Compiled {
    /// `custom.<name>`, leaked once per configuration load (names are few and bounded).
    detector: &'static str,
    category: &'static str,
    keys: Option<RegexSet>,
    values: Option<RegexSet>,
}

/// The compiled detectors of one configuration (empty: nothing to do).
#[derive(Debug, Clone, Default)]
pub struct CustomDetectors {
    list: Vec<Compiled>,
}

impl PartialEq for CustomDetectors {
    fn eq(&self, other: &Self) -> bool {
        self.list.len() == other.list.len()
            && self
                .list
                .iter()
                .zip(&other.list)
                .all(|(a, b)| a.detector == b.detector && a.category == b.category)
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn compile_list(
    name: &str,
    list: &str,
    patterns: &[String],
    case_insensitive: bool,
    errors: &mut Vec<String>,
) -> Option<RegexSet> {
    if patterns.is_empty() {
        return None;
    }
    if patterns.len() > MAX_PATTERNS {
        errors.push(format!(
            "detector `{name}`: `{list}` holds more than {MAX_PATTERNS} patterns"
        ));
        return None;
    }
    let mut ok = true;
    for (i, p) in patterns.iter().enumerate() {
        if p.len() > MAX_PATTERN_BYTES {
            errors.push(format!(
                "detector `{name}`: {list}[{i}] is longer than {MAX_PATTERN_BYTES} bytes"
            ));
            ok = false;
            continue;
        }
        // Compiled one by one first, so the error names the bad pattern.
        if let Err(e) = RegexSetBuilder::new([p])
            .case_insensitive(case_insensitive)
            .size_limit(MAX_COMPILED_BYTES)
            .dfa_size_limit(MAX_COMPILED_BYTES)
            .build()
        {
            errors.push(format!(
                "detector `{name}`: {list}[{i}] `{p}` is not a valid pattern: {}",
                first_line(&e.to_string())
            ));
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    match RegexSetBuilder::new(patterns)
        .case_insensitive(case_insensitive)
        .size_limit(MAX_COMPILED_BYTES)
        .dfa_size_limit(MAX_COMPILED_BYTES)
        .build()
    {
        Ok(set) => Some(set),
        Err(e) => {
            errors.push(format!(
                "detector `{name}`: `{list}` together exceed the size limit: {}",
                first_line(&e.to_string())
            ));
            None
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

impl CustomDetectors {
    /// Compiles `specs`; every problem is reported, each naming its detector.
    pub fn compile(specs: &[CustomDetectorSpec]) -> Result<CustomDetectors, Vec<String>> {
        let mut errors = Vec::new();
        if specs.len() > MAX_DETECTORS {
            errors.push(format!("at most {MAX_DETECTORS} detectors may be defined"));
        }
        let mut list = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for spec in specs.iter().take(MAX_DETECTORS) {
            let name = spec.name.as_str();
            if !valid_name(name) {
                errors.push(format!(
                    "detector name `{}` must be 1-64 characters of a-z, 0-9 and _",
                    name.escape_debug()
                ));
                continue;
            }
            if !seen.insert(name) {
                errors.push(format!("detector `{name}` is defined twice"));
            }
            let category = taxonomy::CATEGORIES
                .iter()
                .find(|c| c.key == spec.category)
                .map(|c| c.key);
            if category.is_none() {
                errors.push(format!(
                    "detector `{name}`: category `{}` is not in the taxonomy",
                    spec.category.escape_debug()
                ));
            }
            if spec.keys.is_empty() && spec.values.is_empty() {
                errors.push(format!("detector `{name}`: give `keys`, `values` or both"));
            }
            let keys = compile_list(name, "keys", &spec.keys, true, &mut errors);
            let values = compile_list(name, "values", &spec.values, false, &mut errors);
            if let Some(category) = category {
                list.push(Compiled {
                    detector: Box::leak(format!("custom.{name}").into_boxed_str()),
                    category,
                    keys,
                    values,
                });
            }
        }
        if errors.is_empty() {
            Ok(CustomDetectors { list })
        } else {
            Err(errors)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Adds the findings of every detector to `findings` for `record`.
    pub fn apply(&self, record: &Value, findings: &mut Vec<Finding>) {
        if self.list.is_empty() {
            return;
        }
        let mut pointer = String::new();
        self.walk(record, None, &mut pointer, 0, findings);
    }

    fn walk(&self, v: &Value, key: Option<&str>, pointer: &mut String, depth: usize, out: &mut Vec<Finding>) {
        if depth > MAX_DEPTH {
            return;
        }
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let len = pointer.len();
                    push_segment(pointer, k);
                    self.walk(child, Some(k), pointer, depth + 1, out);
                    pointer.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(itoa::Buffer::new().format(i));
                    self.walk(child, key, pointer, depth + 1, out);
                    pointer.truncate(len);
                }
            }
            Value::String(s) => self.leaf(s, key, pointer, out),
            Value::Number(n) => self.leaf(&n.to_string(), key, pointer, out),
            Value::Bool(_) | Value::Null => {}
        }
    }

    fn leaf(&self, value: &str, key: Option<&str>, pointer: &str, out: &mut Vec<Finding>) {
        if value.trim().is_empty() {
            return;
        }
        let head = floor(value, MAX_VALUE_BYTES);
        for d in &self.list {
            let key_ok = match &d.keys {
                Some(set) => key.is_some_and(|k| set.is_match(k)),
                None => true,
            };
            if !key_ok {
                continue;
            }
            let value_ok = match &d.values {
                Some(set) => set.is_match(head),
                None => true,
            };
            if !value_ok {
                continue;
            }
            let dup = out
                .iter()
                .any(|f| f.pointer == pointer && f.span.is_none() && f.category == d.category);
            if !dup {
                out.push(Finding {
                    pointer: pointer.to_owned(),
                    category: d.category,
                    span: None,
                    detector: d.detector,
                    confidence: 0.9,
                });
            }
        }
    }
}

fn floor(s: &str, mut i: usize) -> &str {
    if i >= s.len() {
        return s;
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

fn push_segment(out: &mut String, key: &str) {
    out.push('/');
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(name: &str, category: &str, keys: &[&str], values: &[&str]) -> CustomDetectorSpec {
        CustomDetectorSpec {
            name: name.into(),
            category: category.into(),
            keys: keys.iter().map(|s| s.to_string()).collect(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn keys_values_and_both() {
        let d = CustomDetectors::compile(&[
            spec(
                "acme_member_id",
                "user.unique_id",
                &["member_?no", "mitgliedsnummer"],
                &[r"^AC-\d{8}$"],
            ),
            spec("loyalty_key", "user.unique_id", &["^loyalty_card$"], &[]),
            spec("ticket", "user.unique_id", &[], &[r"\bTKT-\d{6}\b"]),
        ])
        .unwrap();
        let record = json!({"properties": {
            "MemberNo": "AC-12345678",
            "Mitgliedsnummer": "AC-1234",
            "member_no_note": "AC-87654321",
            "loyalty_card": ["L1", "L2"],
            "note": "see TKT-123456 please",
            "price": 12
        }});
        let mut f = Vec::new();
        d.apply(&record, &mut f);
        let got: Vec<(&str, &str)> = f.iter().map(|f| (f.pointer.as_str(), f.detector)).collect();
        assert_eq!(
            got,
            [
                ("/properties/MemberNo", "custom.acme_member_id"),
                ("/properties/member_no_note", "custom.acme_member_id"),
                ("/properties/loyalty_card/0", "custom.loyalty_key"),
                ("/properties/loyalty_card/1", "custom.loyalty_key"),
                ("/properties/note", "custom.ticket"),
            ]
        );
        assert!(f.iter().all(|f| f.category == "user.unique_id" && f.span.is_none()));
    }

    #[test]
    fn errors_name_the_detector_and_pattern() {
        let e = CustomDetectors::compile(&[
            spec("bad_regex", "user.unique_id", &["(unclosed"], &[]),
            spec("bad_category", "user.nonsense", &["x"], &[]),
            spec("empty", "user.unique_id", &[], &[]),
            spec("Bad Name", "user.unique_id", &["x"], &[]),
            spec("huge", "user.unique_id", &[], &[r"\w{1000}{1000}"]),
        ])
        .unwrap_err();
        let all = e.join("\n");
        assert!(all.contains("detector `bad_regex`: keys[0] `(unclosed`"), "{all}");
        assert!(
            all.contains("detector `bad_category`: category `user.nonsense`"),
            "{all}"
        );
        assert!(all.contains("detector `empty`: give `keys`, `values` or both"), "{all}");
        assert!(all.contains("detector name `Bad Name`"), "{all}");
        assert!(all.contains("detector `huge`: values[0]"), "{all}");
        assert_eq!(e.len(), 5, "{all}");
    }

    #[test]
    fn a_leaf_already_reported_is_not_reported_twice() {
        let d = CustomDetectors::compile(&[spec("mail", "user.contact.email", &["^email$"], &[])]).unwrap();
        let mut f = vec![Finding {
            pointer: "/email".into(),
            category: "user.contact.email",
            span: None,
            detector: "key.email",
            confidence: 0.95,
        }];
        d.apply(&json!({"email": "a@b.co"}), &mut f);
        assert_eq!(f.len(), 1);
    }
}
