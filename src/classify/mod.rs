//! Classification: which leaves of a vendor's record hold personal data or secrets, and what kind.
//!
//! [`classify_record`] walks one record once and reports [`Finding`]s: an RFC 6901 pointer
//! to a string or number leaf, a Fideslang category ([`taxonomy`]), a byte span when the
//! finding is a substring of a string, the detector's name and a confidence. Booleans and
//! nulls are never reported.
//!
//! Three sources of evidence, all in one constant list of detectors ([`detectors::DETECTORS`]):
//!
//! 1. **Role** (`roles`): the vendor's reserved fields by position, from the record's
//!    [`Shape`] (each vendor's `roles` module under `src/protocol/`). Identifiers (Mixpanel's
//!    `distinct_id`, `$device_id`, Segment's `userId`, `anonymousId`, …) are
//!    `user.unique_id` from detector `role.<vendor>`, so the policy can pseudonymise them.
//!    The vendor's public project key field is never reported.
//! 2. **Key name** (`keys`): `user_email`, `billingPhone`, `client_secret`, `first_name`,
//!    `dob`, … in any case style; the head word decides (`token_type` is not a token).
//!    Key findings cover the whole value (`span: None`).
//! 3. **Value** (`scan`, `url`, `validate`): formats validated by their specifications
//!    (Luhn and issuer ranges, IBAN mod 97, Verhoeff, SSA ranges, Base58Check, bech32,
//!    EIP-55, libphonenumber metadata, `std::net` parsing, JWT headers), inside URLs
//!    (query values judged by parameter name, path segments, fragments), inside JSON and
//!    base64 text, and in nested objects and arrays.
//!
//! Findings are deduplicated per leaf by (category, span). The same leaf may carry several
//! categories (a `$current_url` is browsing history and may hold an email in its query).
//!
//! The function is pure and allocation-free for leaves where nothing is found: pointers
//! are built only for leaves with findings, key classes are cached per distinct key.

pub mod custom;
pub mod detectors;
pub mod explain;
mod geo;
pub mod keys;
mod lexicon;
mod names;
mod phone;
pub mod roles;
mod scan;
pub mod taxonomy;
mod url;
pub mod validate;

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use detectors::DetectorId;
use keys::KeyClass;
pub use roles::{Check, Layout, Level, Role};
use scan::{Cx, Hit};

/// One detected piece of personal data or secret inside a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// RFC 6901 pointer from the record root, e.g. `/properties/$current_url`.
    pub pointer: String,
    /// Fideslang key, e.g. `user.contact.email` (see [`taxonomy`]).
    pub category: &'static str,
    /// Byte span inside the string value when the finding is a substring; `None` for the
    /// whole value (or a number).
    pub span: Option<(usize, usize)>,
    /// The detector's name from [`detectors::DETECTORS`], e.g. `email`, `role.mixpanel`, `key.email`.
    pub detector: &'static str,
    /// 0..1.
    pub confidence: f32,
}

/// A record shape: the vendor's layout and the level of the record's top (an event, a
/// profile update or a group update). Each vendor's `roles` module provides its shapes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub layout: &'static Layout,
    pub top: Level,
}

/// Deepest nesting walked; deeper values are not classified (ingest caps depth lower).
const MAX_DEPTH: usize = 64;

/// Whether `s` is one email address and nothing else, as the email detector reads one.
pub fn is_email(s: &str) -> bool {
    scan::whole_email(s)
}

/// Prepares the phone-number metadata so the first record with a phone number does not pay
/// for it (a few hundred milliseconds, once per process). Optional; call at start-up.
pub fn warm_up() {
    phone::warm_up();
}

/// Classifies every leaf of one record of `shape`. Pure, no I/O, fast.
///
/// Never inlined (nor [`classify_record_with`]): one call per record costs nothing, and
/// `bench/instructions.sh` counts events by these calls, also in LTO builds.
#[inline(never)]
pub fn classify_record(record: &Value, shape: Shape) -> Vec<Finding> {
    walk(record, shape, None)
}

/// [`classify_record`] for one of several records classified in a row (a request's batch):
/// a string value seen before under the same kind of key reuses the value detectors'
/// results from `memo`. The findings are the same as [`classify_record`]'s.
#[inline(never)]
pub fn classify_record_with(record: &Value, shape: Shape, memo: &mut Memo) -> Vec<Finding> {
    walk(record, shape, Some(memo))
}

/// What the value detectors found in the strings of the records classified so far, keyed by
/// the string and the classes of its key and container (all the value detectors depend on
/// besides the string). An SDK's batch repeats most of its values: super properties, page
/// URLs and titles, library versions. The memo holds copies of the values it has seen, so
/// it lives as long as the batch they came in.
pub struct Memo {
    /// Seeded per map (foldhash): the strings are the client's, and the map is bounded.
    seen: HashMap<Box<str>, (Scope, u32, u32), foldhash::fast::RandomState>,
    /// The hits of every entry of `seen`, end to end: an entry is (scope, start, count).
    hits: Vec<Hit>,
}

/// What the value detectors read of a top-level leaf's context besides the string.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Scope {
    class: KeyClass,
    container: KeyClass,
    people: bool,
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            seen: HashMap::with_capacity_and_hasher(256, Default::default()),
            hits: Vec::with_capacity(256),
        }
    }
}

impl Memo {
    /// The value detectors find nothing in shorter strings.
    const MIN_LEN: usize = 6;
    /// Distinct strings remembered; past this, strings are scanned as without a memo.
    const MAX_ENTRIES: usize = 8192;

    /// Runs the value detectors over `s` in context `cx` (depth 0), appending to `out`.
    fn scan(&mut self, s: &str, cx: &Cx, out: &mut Vec<Hit>) {
        let scope = Scope {
            class: cx.class,
            container: cx.container,
            people: cx.people,
        };
        match self.seen.get(s) {
            Some(&(at, start, n)) if at == scope => {
                out.extend_from_slice(&self.hits[start as usize..(start + n) as usize]);
            }
            Some(_) => scan::scan_text(s, cx, &mut |h| out.push(h)),
            None => {
                let before = out.len();
                scan::scan_text(s, cx, &mut |h| out.push(h));
                if self.seen.len() < Self::MAX_ENTRIES {
                    let start = self.hits.len() as u32;
                    self.hits.extend_from_slice(&out[before..]);
                    self.seen.insert(s.into(), (scope, start, (out.len() - before) as u32));
                }
            }
        }
    }
}

/// Called before each leaf is classified while explaining: its pointer, key and key class.
type OnLeaf<'a> = dyn FnMut(&str, Option<&str>, KeyClass) + 'a;

fn walk(record: &Value, shape: Shape, memo: Option<&mut Memo>) -> Vec<Finding> {
    walk_with(record, shape, memo, None, None)
}

/// [`classify_record`] with the detectors' notes going to `trace` and `on_leaf` told which
/// leaf the next notes are about.
fn walk_traced(record: &Value, shape: Shape, trace: &dyn scan::Trace, on_leaf: &mut OnLeaf) -> Vec<Finding> {
    walk_with(record, shape, None, Some(trace), Some(on_leaf))
}

fn walk_with<'t>(
    record: &Value,
    shape: Shape,
    memo: Option<&mut Memo>,
    trace: Option<&'t dyn scan::Trace>,
    on_leaf: Option<&'t mut OnLeaf<'t>>,
) -> Vec<Finding> {
    let mut walker = Walker {
        out: Vec::with_capacity(16),
        hits: Vec::with_capacity(8),
        memo,
        layout: shape.layout,
        trace,
        on_leaf,
    };
    let root = Node {
        seg: Seg::Root,
        parent: None,
    };
    let Value::Object(map) = record else {
        walker.value(
            record,
            &root,
            &Spec::plain(KeyClass::NONE, KeyClass::NONE, None, true),
            0,
        );
        return walker.out;
    };
    walker.object(map, &root, Some(shape.top), KeyClass::NONE, shape.top.people(), 0);
    walker.out
}

/// A path segment, linked to its parent on the stack: no allocation while walking.
#[derive(Clone, Copy, Debug)]
enum Seg<'a> {
    Root,
    /// A key, and whether it needs escaping.
    Key(&'a str, bool),
    Index(usize),
}

struct Node<'a> {
    seg: Seg<'a>,
    parent: Option<&'a Node<'a>>,
}

impl Node<'_> {
    /// The RFC 6901 pointer of this node: its length summed first, then the segments pushed
    /// root-first into one allocation.
    fn pointer(&self) -> String {
        let mut len = 0;
        let mut cur = Some(self);
        while let Some(node) = cur {
            len += match node.seg {
                Seg::Root => 0,
                Seg::Key(k, _) => 1 + k.len(),
                Seg::Index(_) => 4,
            };
            cur = node.parent;
        }
        let mut out = String::with_capacity(len + 4);
        self.push_path(&mut out);
        out
    }

    /// Pushes the parents' segments, then this one's. The recursion is as deep as the walk,
    /// which stops past `MAX_DEPTH`.
    fn push_path(&self, out: &mut String) {
        if let Some(parent) = self.parent {
            parent.push_path(out);
        }
        push_seg(out, self.seg);
    }
}

fn push_seg(out: &mut String, seg: Seg) {
    match seg {
        Seg::Root => {}
        Seg::Key(k, escaped) => {
            out.push('/');
            if escaped {
                for c in k.chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        c => out.push(c),
                    }
                }
            } else {
                out.push_str(k);
            }
        }
        Seg::Index(i) => {
            use std::fmt::Write as _;
            let _ = write!(out, "/{i}");
        }
    }
}

/// How a value is judged: its key, container, siblings, role and (for objects) the
/// level its children sit at in the vendor's layout.
#[derive(Clone, Copy)]
struct Spec<'a> {
    class: KeyClass,
    container: KeyClass,
    siblings: Option<&'a Map<String, Value>>,
    role: Option<Role>,
    /// The level of this value's own children when it is an object (`$set` → people properties).
    level: Option<Level>,
    people: bool,
}

impl<'a> Spec<'a> {
    fn plain(class: KeyClass, container: KeyClass, siblings: Option<&'a Map<String, Value>>, people: bool) -> Self {
        Spec {
            class,
            container,
            siblings,
            role: None,
            level: None,
            people,
        }
    }

    fn cx(&self) -> Cx<'a> {
        Cx {
            class: self.class,
            container: self.container,
            siblings: self.siblings,
            people: self.people,
            depth: 0,
            trace: None,
        }
    }
}

struct Walker<'m, 't> {
    out: Vec<Finding>,
    layout: &'static Layout,
    /// Scratch for one leaf's hits, reused.
    hits: Vec<Hit>,
    memo: Option<&'m mut Memo>,
    /// Explaining: where the detectors' notes go, and who is told about each leaf.
    trace: Option<&'t dyn scan::Trace>,
    on_leaf: Option<&'t mut OnLeaf<'t>>,
}

impl Walker<'_, '_> {
    /// Explaining only: announces the leaf the next notes are about.
    #[cold]
    fn announce(&mut self, node: &Node, class: KeyClass) {
        if let Some(f) = self.on_leaf.as_deref_mut() {
            let key = match node.seg {
                Seg::Key(k, _) => Some(k),
                _ => None,
            };
            f(&node.pointer(), key, class);
        }
    }

    fn object(
        &mut self,
        map: &Map<String, Value>,
        node: &Node,
        level: Option<Level>,
        container: KeyClass,
        people: bool,
        depth: usize,
    ) {
        let form = form_field(map);
        for (k, v) in map {
            if level.is_some_and(|l| (self.layout.is_project_key)(l, k)) {
                continue;
            }
            let mut info = keys::lookup(self.layout, k);
            if let Some(f) = &form {
                if k == f.label_key {
                    info.class = KeyClass::NONE;
                } else if k == f.value_key {
                    info.class = f.class;
                }
            }
            let child = Node {
                seg: Seg::Key(k, info.escaped),
                parent: Some(node),
            };
            let child_level = level.and_then(|l| (self.layout.child)(l, k));
            let spec = Spec {
                class: info.class,
                container,
                siblings: Some(map),
                role: level.and_then(|l| info.role(self.layout, l, k)),
                level: child_level,
                people: people && level.is_none_or(Level::people),
            };
            self.value(v, &child, &spec, depth + 1);
        }
    }

    fn value(&mut self, v: &Value, node: &Node, spec: &Spec, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match v {
            Value::Object(m) => {
                let people = spec.people && spec.level.is_none_or(Level::people);
                self.object(m, node, spec.level, spec.class, people, depth);
            }
            Value::Array(items) => {
                let pairs = items.len() <= 256 && field_pairs(items);
                for (i, item) in items.iter().enumerate() {
                    let child = Node {
                        seg: Seg::Index(i),
                        parent: Some(node),
                    };
                    let item_spec = Spec {
                        level: None,
                        siblings: None,
                        ..*spec
                    };
                    if pairs
                        && let Value::Array(pair) = item
                        && let Some(class) = pair[0].as_str().and_then(field_name_class)
                    {
                        let value_node = Node {
                            seg: Seg::Index(1),
                            parent: Some(&child),
                        };
                        let value_spec = Spec {
                            class,
                            role: None,
                            container: KeyClass::NONE,
                            ..item_spec
                        };
                        self.value(&pair[1], &value_node, &value_spec, depth + 2);
                        continue;
                    }
                    self.value(item, &child, &item_spec, depth + 1);
                }
            }
            Value::String(s) => {
                self.hits.clear();
                if let Some(role) = spec.role
                    && let Some(category) = role_string(role, s)
                {
                    self.hits.push(Hit::whole(DetectorId::Role).category(category));
                }
                let mut cx = spec.cx();
                if self.trace.is_some() {
                    self.announce(node, spec.class);
                    cx.trace = self.trace;
                }
                let hits = &mut self.hits;
                scan::key_string(s, &cx, &mut |h| hits.push(h));
                match self.memo.as_deref_mut() {
                    Some(memo) if s.len() >= Memo::MIN_LEN => memo.scan(s, &cx, hits),
                    _ => scan::scan_text(s, &cx, &mut |h| hits.push(h)),
                }
                self.flush(node);
            }
            Value::Number(n) => {
                self.hits.clear();
                if let Some(role) = spec.role
                    && let Some(category) = role_number(role, n)
                {
                    self.hits.push(Hit::whole(DetectorId::Role).category(category));
                }
                let mut cx = spec.cx();
                if self.trace.is_some() {
                    self.announce(node, spec.class);
                    cx.trace = self.trace;
                }
                let hits = &mut self.hits;
                scan::number_leaf(n, &cx, &mut |h| hits.push(h));
                self.flush(node);
            }
            Value::Bool(_) | Value::Null => {}
        }
    }

    /// Turns one leaf's hits into findings, one per (category, span).
    fn flush(&mut self, node: &Node) {
        if self.hits.is_empty() {
            return;
        }
        // Drop repeats of (category, span), keeping the first detector.
        let mut kept = 0;
        for i in 0..self.hits.len() {
            let h = self.hits[i];
            if !self.hits[..kept]
                .iter()
                .any(|p| p.category == h.category && p.span == h.span)
            {
                self.hits[kept] = h;
                kept += 1;
            }
        }
        let mut pointer = Some(node.pointer());
        for (i, h) in self.hits[..kept].iter().enumerate() {
            let pointer = if i + 1 == kept {
                pointer.take().unwrap_or_default()
            } else {
                pointer.clone().unwrap_or_default()
            };
            self.out.push(Finding {
                pointer,
                category: h.category,
                span: h.span,
                detector: if h.det == DetectorId::Role {
                    self.layout.detector
                } else {
                    h.det.name()
                },
                confidence: h.confidence,
            });
        }
    }
}

/// Last words of keys that name a form field in an object describing one
/// (`serializeArray()` writes `{"name": …, "value": …}`; survey, CRM and form-builder exports
/// use `field`, `label`, `key`, `id`, `fieldName`, `question`, `attribute` …).
const FORM_LABEL_WORDS: &[&str] = &[
    "name",
    "field",
    "label",
    "key",
    "id",
    "title",
    "question",
    "prompt",
    "attribute",
    "attr",
    "param",
    "parameter",
    "property",
    "prop",
];
/// Last words of keys that hold the field's value in such an object (`value`, `val`,
/// `answer`, `fieldValue`, `user_input`, `response` …).
const FORM_VALUE_WORDS: &[&str] = &[
    "value",
    "val",
    "answer",
    "input",
    "response",
    "reply",
    "content",
    "entry",
    "text",
    "data",
    "selection",
];

/// The last word of a key in any case style, without allocating: `fieldName` → `Name`,
/// `field_value` → `value`, `VAL` → `VAL`.
fn last_word(key: &str) -> &str {
    let b = key.as_bytes();
    let end = b.iter().rposition(u8::is_ascii_alphanumeric).map_or(0, |p| p + 1);
    let mut start = end;
    while start > 0 && b[start - 1].is_ascii_alphanumeric() {
        start -= 1;
        // camelCase: an uppercase letter after a lowercase one starts the word.
        if b[start].is_ascii_uppercase() && start > 0 && b[start - 1].is_ascii_lowercase() {
            break;
        }
    }
    &key[start..end]
}

/// A key that names a form field's name or value part: its last word is in `set`, and it
/// is bare (`key`, `id`, `name`) or says nothing else (`fieldName`, `answer_text`), so
/// `user_id` or `api_key` keep their own meaning.
fn word_in(key: &str, set: &[&str]) -> bool {
    let w = last_word(key);
    set.iter().any(|s| s.eq_ignore_ascii_case(w))
        && (w.len() == key.len()
            || matches!(
                keys::classify_key(key).kind,
                keys::KeyKind::None | keys::KeyKind::BareName
            ))
}

/// A form field written as an object, `{"name": "password", "value": "…"}`: the value is
/// judged by the field's name as if that were its key, and the name itself is a field name
/// (never a person's name).
struct FormField<'a> {
    label_key: &'a str,
    value_key: &'a str,
    class: KeyClass,
}

/// The key class of a form field's name, when the text reads as one: it says what it holds
/// (`E-Mail`, `Card number`) or reads like an identifier (`plan`, `promo_code`);
/// `{"name": "Jane Doe", "value": 5}` is a person with a score.
fn field_name_class(label: &str) -> Option<KeyClass> {
    if !(1..=48).contains(&label.len()) {
        return None;
    }
    let class = keys::classify_key(label);
    let identifier = label
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'[' | b']'));
    (class.kind != keys::KeyKind::None || identifier).then_some(class)
}

fn form_field(map: &Map<String, Value>) -> Option<FormField<'_>> {
    if !(2..=5).contains(&map.len()) {
        return None;
    }
    let (label_key, label) = map.iter().find_map(|(k, v)| {
        let label = v.as_str()?;
        word_in(k, FORM_LABEL_WORDS).then_some((k.as_str(), label))
    })?;
    let value_key = map
        .keys()
        .find(|k| k.as_str() != label_key && word_in(k, FORM_VALUE_WORDS))?
        .as_str();
    let class = field_name_class(label)?;
    Some(FormField {
        label_key,
        value_key,
        class,
    })
}

/// An array of `[field name, value]` pairs (`Object.entries()` of a form, `FormData`
/// entries): the class of each pair's value, by its field name. Every item must be such a
/// pair, so a two-item list of field names is not read as one.
fn field_pairs(items: &[Value]) -> bool {
    !items.is_empty()
        && items.iter().all(|item| {
            matches!(item, Value::Array(pair) if pair.len() == 2
                && pair[0].as_str().is_some_and(|l| field_name_class(l).is_some())
                && matches!(pair[1], Value::String(_) | Value::Number(_)))
        })
}

fn role_string(role: Role, s: &str) -> Option<&'static str> {
    let t = s.trim();
    let ok = match role.check {
        Check::Any => !t.is_empty(),
        Check::Ip => t.parse::<std::net::IpAddr>().is_ok_and(validate::public_ip),
        Check::Email => t.contains('@'),
        Check::Phone => (7..=15).contains(&t.bytes().filter(u8::is_ascii_digit).count()),
        Check::Name => t.chars().any(char::is_alphabetic) && !t.bytes().any(|c| c.is_ascii_digit()),
        Check::Coordinate { max } => {
            let decimals = t
                .find('.')
                .map_or(0, |p| t[p + 1..].bytes().take_while(u8::is_ascii_digit).count());
            return t
                .parse::<f64>()
                .ok()
                .and_then(|f| scan::coordinate_category(f, decimals, f64::from(max)));
        }
    };
    ok.then_some(role.category)
}

fn role_number(role: Role, n: &Number) -> Option<&'static str> {
    match role.check {
        Check::Any => Some(role.category),
        Check::Coordinate { max } => n
            .as_f64()
            .and_then(|f| scan::coordinate_category(f, scan::number_decimals(n), f64::from(max))),
        Check::Phone => n
            .as_u64()
            .filter(|u| (1_000_000..=999_999_999_999_999).contains(u))
            .map(|_| role.category),
        Check::Ip | Check::Email | Check::Name => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::mixpanel::roles as mp;

    fn findings(record: Value, shape: Shape) -> Vec<(String, &'static str, &'static str)> {
        classify_record(&record, shape)
            .into_iter()
            .map(|f| (f.pointer, f.category, f.detector))
            .collect()
    }

    #[test]
    fn pointers_escape_and_index() {
        let f = findings(
            json!({"event": "e", "properties": {"a/b~c": ["x", "jane@example.com"]}}),
            mp::EVENT,
        );
        assert_eq!(f, vec![("/properties/a~1b~0c/1".to_string(), taxonomy::EMAIL, "email")]);
    }

    #[test]
    fn pointers_of_deep_leaves() {
        let mut value = json!({"a~b": ["x", "jane@example.com"]});
        let mut expected = "/a~0b/1".to_string();
        for i in 0..40 {
            let key = format!("k{i}");
            expected = format!("/{key}{expected}");
            value = json!({ key: value });
        }
        let f = findings(json!({"event": "e", "properties": value}), mp::EVENT);
        assert_eq!(f, vec![(format!("/properties{expected}"), taxonomy::EMAIL, "email")]);
    }

    #[test]
    fn identifiers_by_role_and_emails_inside_them() {
        let f = findings(
            json!({"event": "e", "properties": {"distinct_id": "jane@example.com", "token": "abc"}}),
            mp::EVENT,
        );
        assert!(f.contains(&("/properties/distinct_id".into(), taxonomy::UNIQUE_ID, "role.mixpanel")));
        assert!(f.contains(&("/properties/distinct_id".into(), taxonomy::EMAIL, "email")));
        assert!(!f.iter().any(|(p, ..)| p == "/properties/token"));
    }

    #[test]
    fn profile_and_group_shapes() {
        let profile = json!({"$token": "t0k3n", "$distinct_id": "u1", "$ip": "8.8.8.8",
            "$set": {"$name": "Jane Doe", "$email": "jane@example.com", "$phone": "+14155552671"}});
        let f = findings(profile, mp::PROFILE);
        assert!(f.contains(&("/$distinct_id".into(), taxonomy::UNIQUE_ID, "role.mixpanel")));
        assert!(f.contains(&("/$ip".into(), taxonomy::IP_ADDRESS, "role.mixpanel")));
        assert!(f.contains(&("/$set/$name".into(), taxonomy::NAME, "role.mixpanel")));
        assert!(f.contains(&("/$set/$phone".into(), taxonomy::PHONE, "role.mixpanel")));
        assert!(!f.iter().any(|(p, ..)| p == "/$token"));
        let group = json!({"$token": "t", "$group_key": "company", "$group_id": "Acme", "$set": {"$name": "Acme Corp", "name": "Acme Corp"}});
        assert!(findings(group, mp::GROUP).is_empty());
    }

    #[test]
    fn url_spans_point_at_encoded_bytes() {
        let url = "https://x.io/welcome?email=jane%40gmail.com&token=abcdef";
        let record = json!({"event": "e", "properties": {"landing": url}});
        let f = classify_record(&record, mp::EVENT);
        let email = f.iter().find(|f| f.category == taxonomy::EMAIL).unwrap();
        let (s, e) = email.span.unwrap();
        assert_eq!(&url[s..e], "jane%40gmail.com");
        let token = f.iter().find(|f| f.category == taxonomy::CREDENTIALS).unwrap();
        let (s, e) = token.span.unwrap();
        assert_eq!(&url[s..e], "abcdef");
    }

    #[test]
    fn json_and_base64_inside_strings() {
        use base64::Engine as _;
        let inner = r#"{"user": {"email": "jane@example.com"}}"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(inner);
        let f = findings(
            json!({"event": "e", "properties": {"payload": inner, "state": b64}}),
            mp::EVENT,
        );
        assert!(
            f.contains(&("/properties/payload".into(), taxonomy::EMAIL, "key.email"))
                || f.contains(&("/properties/payload".into(), taxonomy::EMAIL, "email"))
        );
        assert!(
            f.iter()
                .any(|(p, c, _)| p == "/properties/state" && *c == taxonomy::EMAIL)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any text, including fragments of every format, terminates and yields spans on
        /// character boundaries inside the value.
        #[test]
        fn spans_stay_inside_the_value(
            parts in proptest::collection::vec(proptest::prop_oneof![
                proptest::string::string_regex("\\PC{0,12}").unwrap(),
                proptest::string::string_regex("[0-9 +().-]{1,20}").unwrap(),
                proptest::prelude::Just("%40".to_string()), proptest::prelude::Just("@x.io".to_string()),
                proptest::prelude::Just("https://".to_string()), proptest::prelude::Just("?a=".to_string()),
                proptest::prelude::Just("eyJ".to_string()), proptest::prelude::Just("-----BEGIN ".to_string()),
                proptest::prelude::Just("sk-".to_string()), proptest::prelude::Just("é".to_string()),
                proptest::prelude::Just("::".to_string()), proptest::prelude::Just("GB82 ".to_string()),
            ], 0..10),
            key in "[a-z_$]{1,12}",
        ) {
            let text: String = parts.concat();
            let record = json!({"event": "e", "properties": {key.clone(): text.clone(), "nested": {key: [text.clone()]}}});
            for f in classify_record(&record, mp::EVENT) {
                if let Some((a, b)) = f.span {
                    proptest::prop_assert!(a <= b && b <= text.len(), "{:?} outside {}", f.span, text.len());
                    proptest::prop_assert!(text.is_char_boundary(a) && text.is_char_boundary(b));
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// A memo shared across a batch changes nothing: the same values under keys and
        /// containers of every kind, repeated across records, are found as without one.
        #[test]
        fn a_memo_finds_what_classify_record_finds(
            records in proptest::collection::vec(
                proptest::collection::vec((0usize..14, 0usize..5, 0usize..14), 1..8), 1..8),
            extra in proptest::collection::vec(proptest::string::string_regex("\\PC{0,24}").unwrap(), 4),
        ) {
            const KEYS: [&str; 14] = [
                "email", "name", "first_name", "note", "$current_url", "phone", "password", "lat",
                "zip", "sku", "product_name", "distinct_id", "$ip", "tags",
            ];
            const CONTAINERS: [&str; 5] = ["", "shipping", "product", "$set", "location"];
            let mut values: Vec<String> = [
                "jane.doe+promo@example.com", "Jane Doe", "+44 20 7946 0958", "4111 1111 1111 1111",
                "https://shop.example.com/p?email=jane%40example.com&utm_source=x", "203.0.113.9",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ", "52.520008,13.404954",
                "0.512345,0.734567", r#"{"name": "Jane Doe", "note": "call +44 20 7946 0958"}"#,
            ]
            .map(String::from)
            .to_vec();
            values.extend(extra);
            let mut memo = Memo::default();
            for fields in &records {
                let mut props = Map::new();
                for &(k, c, v) in fields {
                    let value = Value::String(values[v % values.len()].clone());
                    if CONTAINERS[c].is_empty() {
                        props.insert(KEYS[k].into(), value);
                    } else {
                        let inner = props.entry(CONTAINERS[c]).or_insert_with(|| json!({}));
                        if let Some(m) = inner.as_object_mut() {
                            m.insert(KEYS[k].into(), value);
                        }
                    }
                }
                let record = json!({"event": "e", "properties": props});
                for shape in [mp::EVENT, mp::PROFILE, mp::GROUP] {
                    proptest::prop_assert_eq!(
                        classify_record_with(&record, shape, &mut memo),
                        classify_record(&record, shape)
                    );
                }
            }
        }
    }

    #[test]
    fn form_field_objects_are_judged_by_their_field_name() {
        let f = findings(
            json!({"event": "e", "properties": {"form_fields": [
                {"name": "plan", "value": "pro"},
                {"name": "password", "value": "hunter2!"},
                {"label": "E-Mail", "answer": "jane@example.com"},
                {"name": "Jane Doe", "city": "Leeds"},
                {"name": "Jane Doe", "value": 5}
            ]}}),
            mp::EVENT,
        );
        let at = |p: &str| {
            f.iter()
                .filter(|(q, ..)| q == p)
                .map(|(_, c, _)| *c)
                .collect::<Vec<_>>()
        };
        assert_eq!(at("/properties/form_fields/0/name"), Vec::<&str>::new());
        assert_eq!(at("/properties/form_fields/0/value"), Vec::<&str>::new());
        assert_eq!(at("/properties/form_fields/1/name"), Vec::<&str>::new());
        assert_eq!(at("/properties/form_fields/1/value"), vec![taxonomy::CREDENTIALS]);
        assert!(at("/properties/form_fields/2/answer").contains(&taxonomy::EMAIL));
        assert_eq!(at("/properties/form_fields/3/name"), vec![taxonomy::NAME]);
        assert_eq!(at("/properties/form_fields/4/name"), vec![taxonomy::NAME]);
    }

    #[test]
    fn nothing_found_in_clean_defaults() {
        let record = json!({"event": "Button Clicked", "properties": {
            "time": 1721509032.748, "$insert_id": "9879fbf8006da90af8d1046e05bc1ee1",
            "$lib_version": "2.57.1", "build_version": "6.16.18.19", "session_id": "15d7a540-5b66-478f-8a89-eb584f22c8f1",
            "checksum": "5f947308b84a4172998e2bbb8cf12eeb2994e245bf5fead3b0db2771241bc8c6",
            "tx_hash": "0x3c725de1c6b2c5e387f87102a41fc97480c38b75566fd7d8df822a20fd69596d",
            "reference_number": "2483990424005479", "split_ratio": "0.8504,0.3620", "ts": "1724837533",
            "cursor": "eyJvZmZzZXQiOiAxMzA1LCAic29ydCI6ICJjcmVhdGVkX2F0In0=", "etag": "W/\"Dji70ikkVr/2717Hpt+WHFQ3wG8=\"",
            "stripe_customer_id": "cus_9NOaH71AXzEj7vYTZty0WcWp", "card_display": "**** **** **** 4927", "card_last4": "4647",
            "zip": "83465", "ticket_number": "959-17-9146", "tracking_number": "886087874387", "total_formatted": "€2350,66",
            "token_type": "bearer", "password_strength": "weak", "token_expires_in": 3600, "api_key_count": 7,
            "created_at": "2024-12-08T04:55:55.302Z", "price": 6.76, "sku": "SKU-13960-NVY-M"
        }});
        let f: Vec<_> = classify_record(&record, mp::EVENT)
            .into_iter()
            .filter(|f| f.category != taxonomy::POSTAL_CODE && f.category != taxonomy::UNIQUE_ID)
            .collect();
        assert!(f.is_empty(), "{f:#?}");
    }
}
