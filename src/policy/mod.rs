//! The per-destination policy: what one vendor may receive of one record.
//!
//! Input: a record in the destination vendor's shape (the event as that vendor would receive
//! it, after vendorwall filled its time and idempotency key), its [`Shape`] (the vendor's
//! layout: where properties and ids sit), the findings of [`crate::classify`] for it, and the destination's
//! pseudonym key. Output: the record the vendor receives, or "block", plus a trace of every
//! decision for `vendorwall policy explain`. [`Policy::apply`] is pure: no I/O, no clock.
//!
//! # Semantics
//!
//! - **Posture.** `scrub` passes every field except what rules remove; `allowlist` passes
//!   only properties whose path matches `allow` (or that a `keep` rule names), plus the
//!   record's structure (event name, ids, time, `$insert_id`, token).
//! - **Rules** are ordered; for each finding the first rule that matches decides. A rule
//!   matches by category (hierarchical: `user.contact` covers `user.contact.email`), property
//!   path glob (`properties.*email*`, `$set.*`, `**.password`), event name and source.
//! - **Actions**: `keep`; `drop` the field; `redact` only the detected span (a URL keeps its
//!   path and loses the email in its query), or the whole value for whole-value findings;
//!   `mask` all but the last `keep_last` characters; `hash` to a keyed pseudonym;
//!   `generalize` (`to` = `ip_prefix` /24 or /48, `round` to `decimals`, `hour`/`day` for
//!   times, `url_path` keeps scheme, host, path and parameter names but no values or fragment,
//!   `url_query` keeps the values of parameters whose names say nothing personal (`utm_*`,
//!   `page`, `sort`) and blanks the rest, `prefix` keeps the first `keep` characters,
//!   `country` replaces a city or region with the record's country code); `block_event`.
//! - When several findings on one field disagree, the strongest action wins:
//!   block > drop > hash > mask > (redact, then generalize) > keep.
//! - **Identifiers** found by role (`distinct_id`, `$device_id`, `$user_id`, alias ids) are
//!   replaced by keyed pseudonyms when `pseudonymize_ids` is on (the default for every policy
//!   but `passthrough`); they are never dropped, so the vendor can still count people.

pub mod keys;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::classify::taxonomy::covers;
use crate::classify::{Finding, Shape};
use keys::PseudonymKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Scrub,
    Allowlist,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Generalization {
    IpPrefix,
    Round {
        decimals: u32,
    },
    Hour,
    Day,
    UrlPath,
    /// Keeps a URL's query values that carry nothing personal; blanks those under
    /// parameter names that say personal data or a secret ([`url_without_secrets`]).
    UrlQuery,
    /// Keeps the first `keep` characters (postal codes: `SW1A 1AA` → `SW1`).
    Prefix {
        keep: usize,
    },
    Country,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Keep,
    Drop,
    Redact,
    Mask { keep_last: usize },
    Hash,
    Generalize(Option<Generalization>),
    BlockEvent,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::Redact => "redact",
            Action::Mask { .. } => "mask",
            Action::Hash => "hash",
            Action::Generalize(_) => "generalize",
            Action::BlockEvent => "block_event",
        }
    }

    fn strength(&self) -> u8 {
        match self {
            Action::Keep => 0,
            Action::Redact | Action::Generalize(_) => 1,
            Action::Mask { .. } => 2,
            Action::Hash => 3,
            Action::Drop => 4,
            Action::BlockEvent => 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub category: Option<String>,
    pub path: Option<PathGlob>,
    pub event: Option<String>,
    pub source: Option<String>,
    pub action: Action,
}

/// A property-path pattern over dotted paths: `*` within a segment, `**` across segments.
#[derive(Debug, Clone, PartialEq)]
pub struct PathGlob {
    pub text: String,
    segments: Vec<String>,
}

impl PathGlob {
    pub fn new(text: &str) -> PathGlob {
        PathGlob {
            text: text.to_owned(),
            segments: text.split('.').map(str::to_owned).collect(),
        }
    }

    pub fn matches(&self, path: &[&str]) -> bool {
        fn seg(p: &str, s: &str) -> bool {
            // `*` wildcard within one segment, case-insensitive.
            let (p, s) = (p.to_ascii_lowercase(), s.to_ascii_lowercase());
            let parts: Vec<&str> = p.split('*').collect();
            if parts.len() == 1 {
                return p == s;
            }
            let mut rest = s.as_str();
            for (i, part) in parts.iter().enumerate() {
                if i == 0 {
                    match rest.strip_prefix(part) {
                        Some(r) => rest = r,
                        None => return false,
                    }
                } else if i == parts.len() - 1 {
                    return rest.ends_with(part);
                } else if let Some(pos) = rest.find(part) {
                    rest = &rest[pos + part.len()..];
                } else {
                    return false;
                }
            }
            true
        }
        fn go(pat: &[String], path: &[&str]) -> bool {
            match pat.first() {
                None => path.is_empty(),
                Some(p) if p == "**" => (0..=path.len()).any(|i| go(&pat[1..], &path[i..])),
                Some(p) => !path.is_empty() && seg(p, path[0]) && go(&pat[1..], &path[1..]),
            }
        }
        go(&self.segments, path)
    }
}

impl Rule {
    fn matches(&self, category: &str, path: &[&str], event: Option<&str>, source: &str) -> bool {
        // A rule with a path glob was given the split path; see `Policy::apply`.
        self.category.as_deref().is_none_or(|c| covers(c, category))
            && self.path.as_ref().is_none_or(|g| g.matches(path))
            && self.event.as_deref().is_none_or(|e| Some(e) == event)
            && self.source.as_deref().is_none_or(|s| s == source)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `recommended`, `passthrough`, or `custom`.
    pub name: String,
    pub mode: Mode,
    pub rules: Vec<Rule>,
    pub allow: Vec<PathGlob>,
    pub pseudonymize_ids: bool,
}

/// Which part of the policy made a decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Because {
    /// `rules[i]` of the policy.
    Rule(usize),
    /// Role identifiers are pseudonymised.
    Identifiers,
    /// Not on the allowlist.
    Allowlist,
}

impl std::fmt::Display for Because {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Because::Rule(i) => write!(f, "rules[{i}]"),
            Because::Identifiers => f.write_str("pseudonymize_ids"),
            Because::Allowlist => f.write_str("allowlist"),
        }
    }
}

/// One decision, for `policy explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub pointer: String,
    pub category: Option<&'static str>,
    pub detector: Option<&'static str>,
    pub action: &'static str,
    pub because: Because,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Send { record: Value, decisions: Vec<Decision> },
    Block { because: Because },
}

/// What the policy needs besides the record.
pub struct Context<'a> {
    pub source: &'a str,
    /// The event's name (tracked events), which rules with `event = …` match.
    pub event: Option<&'a str>,
    pub key: Option<&'a PseudonymKey>,
}

/// Characters of a postal code the recommended policy keeps: a UK outward code's area and
/// district, a US ZIP's sectional centre, a German or French delivery region.
pub const POSTAL_PREFIX: usize = 3;

/// Categories the recommended policy redacts (span by span where the finding is a span).
const SENSITIVE_REDACT: [&str; 4] = [
    "user.contact",
    "user.financial",
    "user.government_id",
    "user.authorization",
];

impl Policy {
    /// Forward everything unchanged (must be chosen explicitly).
    pub fn passthrough() -> Policy {
        Policy {
            name: "passthrough".into(),
            mode: Mode::Scrub,
            rules: Vec::new(),
            allow: Vec::new(),
            pseudonymize_ids: false,
        }
    }

    /// The shipped default: drops or redacts every sensitive category, pseudonymises
    /// identifiers, keeps device, coarse location, postal codes cut to their first three
    /// characters, and page URLs with their non-personal query values (detected spans are
    /// redacted first; values under secret- or person-bearing parameter names are blanked),
    /// and passes non-sensitive properties unchanged.
    pub fn recommended() -> Policy {
        let rule = |category: &str, action: Action| Rule {
            category: Some(category.to_owned()),
            path: None,
            event: None,
            source: None,
            action,
        };
        let mut rules = vec![
            rule("user.unique_id", Action::Hash),
            rule(
                "user.contact.address.postal_code",
                Action::Generalize(Some(Generalization::Prefix { keep: POSTAL_PREFIX })),
            ),
        ];
        rules.extend(SENSITIVE_REDACT.iter().map(|c| rule(c, Action::Redact)));
        rules.extend([
            rule("user.device.ip_address", Action::Drop),
            rule("user.location.precise", Action::Drop),
            rule("user.name", Action::Drop),
            rule("user.demographic", Action::Drop),
            rule(
                "user.behavior.browsing_history",
                Action::Generalize(Some(Generalization::UrlQuery)),
            ),
        ]);
        Policy {
            name: "recommended".into(),
            mode: Mode::Scrub,
            rules,
            allow: Vec::new(),
            pseudonymize_ids: true,
        }
    }

    pub fn preset(name: &str) -> Option<Policy> {
        match name {
            "recommended" => Some(Policy::recommended()),
            "passthrough" => Some(Policy::passthrough()),
            _ => None,
        }
    }

    /// Applies the policy to one record. Pure.
    pub fn apply(&self, record: &Value, shape: Shape, findings: &[Finding], ctx: &Context<'_>) -> Verdict {
        self.apply_cow(Cow::Borrowed(record), shape, findings, ctx)
    }

    /// [`Policy::apply`] on a record the caller no longer needs: the output is made from it in
    /// place instead of from a copy.
    pub fn apply_owned(&self, record: Value, shape: Shape, findings: &[Finding], ctx: &Context<'_>) -> Verdict {
        self.apply_cow(Cow::Owned(record), shape, findings, ctx)
    }

    fn apply_cow(&self, record: Cow<'_, Value>, shape: Shape, findings: &[Finding], ctx: &Context<'_>) -> Verdict {
        let event = ctx.event;
        // A block rule that names no category or path blocks by event and source alone.
        if let Some(i) = self.rules.iter().position(|r| {
            r.action == Action::BlockEvent
                && r.category.is_none()
                && r.path.is_none()
                && r.event.as_deref().is_none_or(|e| Some(e) == event)
                && r.source.as_deref().is_none_or(|s| s == ctx.source)
        }) {
            return Verdict::Block {
                because: Because::Rule(i),
            };
        }
        // Per field: the findings on it and what each asks for.
        let mut fields: BTreeMap<&str, Vec<(&Finding, Action, Because)>> = BTreeMap::new();
        let any_path_rule = self.rules.iter().any(|r| r.path.is_some());
        // Without path rules, the rule a finding falls under depends on its category alone
        // (event and source are the record's): each category is looked up once.
        let mut by_category: Vec<(&'static str, Option<usize>)> = Vec::new();
        for f in findings {
            let role_id = f.category == "user.unique_id" && f.detector.starts_with("role");
            let (action, because) = if role_id && self.pseudonymize_ids {
                (Action::Hash, Because::Identifiers)
            } else {
                let rule = if any_path_rule {
                    let path = dotted(&f.pointer);
                    self.rules
                        .iter()
                        .position(|r| r.matches(f.category, &path, event, ctx.source))
                } else if let Some(&(_, rule)) = by_category.iter().find(|(c, _)| *c == f.category) {
                    rule
                } else {
                    let rule = self
                        .rules
                        .iter()
                        .position(|r| r.matches(f.category, &[], event, ctx.source));
                    by_category.push((f.category, rule));
                    rule
                };
                match rule {
                    Some(i) => (self.rules[i].action.clone(), Because::Rule(i)),
                    None => continue,
                }
            };
            if action == Action::BlockEvent {
                return Verdict::Block { because };
            }
            fields.entry(f.pointer.as_str()).or_default().push((f, action, because));
        }

        // `generalize` reads the country code from the record as it came in; keep that
        // before the output is rewritten in place.
        let country = if fields.values().flatten().any(|(f, a, _)| match a {
            Action::Generalize(g) => {
                g.as_ref()
                    .map_or_else(|| default_generalization(f.category), Clone::clone)
                    == Generalization::Country
            }
            _ => false,
        }) {
            Some((shape.layout.country_code)(&record, shape.top).cloned())
        } else {
            None
        };
        let mut out = record.into_owned();
        let mut decisions = Vec::new();
        let mut drops: Vec<String> = Vec::new();
        let role_ids: Vec<&str> = findings
            .iter()
            .filter(|f| f.category == "user.unique_id" && f.detector.starts_with("role"))
            .map(|f| f.pointer.as_str())
            .collect();

        for (pointer, asks) in &fields {
            let strongest = asks.iter().map(|(_, a, _)| a.strength()).max().unwrap_or(0);
            let identifier = role_ids.contains(pointer) && self.pseudonymize_ids;
            let Some(value) = pointer_mut(&mut out, pointer, parse_index) else {
                continue;
            };
            for (f, a, b) in asks {
                if a.strength() == strongest {
                    decisions.push(Decision {
                        pointer: (*pointer).to_owned(),
                        category: Some(f.category),
                        detector: Some(f.detector),
                        action: if identifier { "hash" } else { a.name() },
                        because: if identifier { Because::Identifiers } else { b.clone() },
                    });
                }
            }
            if identifier || strongest == Action::Hash.strength() {
                if let Some(k) = ctx.key {
                    *value = Value::String(k.pseudonym(&leaf_text(value)));
                } else {
                    drops.push((*pointer).to_owned());
                }
                continue;
            }
            match strongest {
                0 => {}
                4 => drops.push((*pointer).to_owned()),
                2 => {
                    let keep_last = asks
                        .iter()
                        .find_map(|(_, a, _)| match a {
                            Action::Mask { keep_last } => Some(*keep_last),
                            _ => None,
                        })
                        .unwrap_or(4);
                    *value = Value::String(mask(&leaf_text(value), keep_last));
                }
                _ => {
                    // Redact detected spans (or whole values), then generalise.
                    let mut spans: Vec<((usize, usize), &'static str)> = Vec::new();
                    let mut whole: Option<&'static str> = None;
                    for (f, a, _) in asks {
                        if *a == Action::Redact {
                            match f.span {
                                Some(s) => spans.push((s, f.category)),
                                None => whole = Some(f.category),
                            }
                        }
                    }
                    if let Some(cat) = whole {
                        *value = Value::String(marker(cat));
                    } else if !spans.is_empty()
                        && let Value::String(s) = value
                    {
                        *s = redact_spans(s, &mut spans);
                    }
                    let gens: Vec<(Option<Generalization>, &'static str)> = asks
                        .iter()
                        .filter_map(|(f, a, _)| match a {
                            Action::Generalize(g) => Some((g.clone(), f.category)),
                            _ => None,
                        })
                        .collect();
                    if let Some((g, cat)) = gens.into_iter().next() {
                        let g = g.unwrap_or_else(|| default_generalization(cat));
                        match generalize(value, &g, country.as_ref().and_then(Option::as_ref)) {
                            Some(v) => *value = v,
                            None => drops.push((*pointer).to_owned()),
                        }
                    }
                }
            }
        }

        if self.mode == Mode::Allowlist {
            let kept: Vec<&str> = fields
                .iter()
                .filter(|(_, asks)| asks.iter().any(|(_, a, _)| *a == Action::Keep))
                .map(|(p, _)| *p)
                .collect();
            for pointer in (shape.layout.property_pointers)(&out, shape.top) {
                let path = dotted(&pointer);
                let allowed = self.allow.iter().any(|g| g.matches(&path))
                    || kept.iter().any(|k| k.starts_with(pointer.as_str()))
                    || role_ids.contains(&pointer.as_str());
                if !allowed {
                    decisions.push(Decision {
                        pointer: pointer.clone(),
                        category: None,
                        detector: None,
                        action: "drop",
                        because: Because::Allowlist,
                    });
                    drops.push(pointer);
                }
            }
        }

        // Remove from the deepest and highest array index first, so pointers stay valid.
        drops.sort_by(|a, b| compare_pointers(b, a));
        drops.dedup();
        for p in drops {
            remove_pointer(&mut out, &p);
        }
        Verdict::Send { record: out, decisions }
    }
}

fn compare_pointers(a: &str, b: &str) -> std::cmp::Ordering {
    let (sa, sb): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    for (x, y) in sa.iter().zip(&sb) {
        let o = match (x.parse::<usize>(), y.parse::<usize>()) {
            (Ok(i), Ok(j)) => i.cmp(&j),
            _ => x.cmp(y),
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    sa.len().cmp(&sb.len())
}

/// `/properties/a~1b/0` → `["properties", "a/b", "0"]`.
pub fn dotted(pointer: &str) -> Vec<&str> {
    pointer.split('/').skip(1).collect()
}

/// Like `Value::pointer_mut`, without allocating for segments that need no unescaping
/// (serde_json's allocates two strings per segment). `index` reads an array index.
fn pointer_mut<'a>(root: &'a mut Value, pointer: &str, index: fn(&str) -> Option<usize>) -> Option<&'a mut Value> {
    if pointer.is_empty() {
        return Some(root);
    }
    let mut target = root;
    for seg in crate::json::pointer_segments(pointer)? {
        let owned;
        let key: &str = if seg.bytes().any(|b| b == b'~') {
            owned = unescape(seg);
            &owned
        } else {
            seg
        };
        target = match target {
            Value::Object(m) => crate::json::get_mut(m, key)?,
            Value::Array(a) => a.get_mut(index(key)?)?,
            _ => return None,
        };
    }
    Some(target)
}

/// An array index as `Value::pointer_mut` reads it: no sign, no leading zero.
fn parse_index(s: &str) -> Option<usize> {
    if s.starts_with('+') || (s.starts_with('0') && s.len() != 1) {
        return None;
    }
    s.parse().ok()
}

fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

fn remove_pointer(root: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = unescape(last);
    match pointer_mut(root, parent, |k| k.parse().ok()) {
        Some(Value::Object(m)) => {
            m.shift_remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

fn leaf_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn marker(category: &str) -> String {
    format!("[{}]", category.rsplit('.').next().unwrap_or("redacted"))
}

fn mask(s: &str, keep_last: usize) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i + keep_last >= n { c } else { '*' })
        .collect()
}

/// Replaces byte spans (merged where they overlap) with category markers.
fn redact_spans(s: &str, spans: &mut [((usize, usize), &'static str)]) -> String {
    spans.sort_by_key(|((start, _), _)| *start);
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    for ((start, end), cat) in spans.iter() {
        let (start, end) = ((*start).min(s.len()), (*end).min(s.len()));
        if end <= pos || !s.is_char_boundary(start) || !s.is_char_boundary(end) {
            if end > pos && s.is_char_boundary(end) {
                pos = end;
            }
            continue;
        }
        let start = start.max(pos);
        out.push_str(&s[pos..start]);
        out.push_str(&marker(cat));
        pos = end;
    }
    out.push_str(&s[pos..]);
    out
}

fn default_generalization(category: &str) -> Generalization {
    if covers("user.device.ip_address", category) {
        Generalization::IpPrefix
    } else if covers("user.location.precise", category) {
        Generalization::Round { decimals: 2 }
    } else if covers("user.behavior.browsing_history", category) {
        Generalization::UrlPath
    } else if covers("user.location", category) {
        Generalization::Country
    } else {
        Generalization::Day
    }
}

/// Applies a generalisation; `None` means the value cannot be generalised and is dropped.
/// `country` is the record's country code (see [`country_code`]).
fn generalize(v: &Value, g: &Generalization, country: Option<&Value>) -> Option<Value> {
    match g {
        Generalization::IpPrefix => {
            let ip: std::net::IpAddr = v.as_str()?.trim().parse().ok()?;
            Some(Value::String(match ip {
                std::net::IpAddr::V4(a) => {
                    let o = a.octets();
                    format!("{}.{}.{}.0", o[0], o[1], o[2])
                }
                std::net::IpAddr::V6(a) => {
                    let s = a.segments();
                    std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string()
                }
            }))
        }
        Generalization::Round { decimals } => {
            let f = 10f64.powi(*decimals as i32);
            let round = |x: f64| (x * f).round() / f;
            match v {
                Value::Number(n) => serde_json::Number::from_f64(round(n.as_f64()?)).map(Value::Number),
                Value::String(s) => {
                    let parts: Vec<String> = s
                        .split(',')
                        .map(|p| p.trim().parse::<f64>().map(|x| format!("{}", round(x))))
                        .collect::<Result<_, _>>()
                        .ok()?;
                    Some(Value::String(parts.join(",")))
                }
                _ => None,
            }
        }
        Generalization::Hour | Generalization::Day => {
            let unit: i64 = if *g == Generalization::Hour { 3600 } else { 86_400 };
            match v {
                Value::Number(n) => {
                    let x = n.as_f64()?;
                    let ms = x >= 1e11;
                    let secs = if ms { x / 1000.0 } else { x } as i64;
                    let floored = secs - secs.rem_euclid(unit);
                    Some(Value::from(if ms { floored * 1000 } else { floored }))
                }
                // ISO 8601: keep `YYYY-MM-DD` (day) or `YYYY-MM-DDTHH` (hour).
                Value::String(s) if s.len() >= 10 && s.as_bytes()[4] == b'-' => {
                    let keep = if unit == 3600 && s.len() >= 13 { 13 } else { 10 };
                    s.get(..keep).map(|p| Value::String(p.to_owned()))
                }
                _ => None,
            }
        }
        Generalization::UrlPath => v.as_str().map(|s| Value::String(url_path_only(s))),
        Generalization::UrlQuery => v.as_str().map(|s| Value::String(url_without_secrets(s))),
        Generalization::Prefix { keep } => {
            let s = leaf_text(v);
            let s = s.trim();
            let end = s.char_indices().nth(*keep).map_or(s.len(), |(i, _)| i);
            Some(Value::String(s[..end].trim_end().to_owned()))
        }
        Generalization::Country => country.cloned(),
    }
}

/// Keeps scheme, host and path and the names of query parameters; drops query values and the
/// fragment. `https://x.io/a?email=j%40x.io&utm=1#t` → `https://x.io/a?email=&utm=`.
pub fn url_path_only(url: &str) -> String {
    // Byte searches: `#`, `?`, `&` and `=` are ASCII, so every cut is on a char boundary.
    let find = |s: &str, c: u8| s.bytes().position(|b| b == c);
    let before_fragment = &url[..find(url, b'#').unwrap_or(url.len())];
    let Some(q) = find(before_fragment, b'?') else {
        return before_fragment.to_owned();
    };
    let (path, mut query) = (&before_fragment[..q], &before_fragment[q + 1..]);
    let mut out = String::with_capacity(before_fragment.len() + 1);
    out.push_str(path);
    out.push('?');
    loop {
        let (param, rest) = match find(query, b'&') {
            Some(i) => (&query[..i], Some(&query[i + 1..])),
            None => (query, None),
        };
        if !param.is_empty() {
            if out.len() > path.len() + 1 {
                out.push('&');
            }
            out.push_str(&param[..find(param, b'=').unwrap_or(param.len())]);
            out.push('=');
        }
        match rest {
            Some(rest) => query = rest,
            None => break,
        }
    }
    if out.len() == path.len() + 1 {
        out.pop();
    }
    out
}

/// Words of a query parameter's name that make its value unsafe to forward whatever it
/// looks like: secrets (`token`, `code`, `sig`), session and state handles, and contact
/// details. Names are split into words across styles (`accessToken`, `auth-code`).
const SECRET_PARAM_WORDS: &[&str] = &[
    "token",
    "code",
    "key",
    "apikey",
    "password",
    "passwd",
    "pass",
    "pwd",
    "pin",
    "otp",
    "secret",
    "session",
    "sid",
    "sess",
    "signature",
    "sig",
    "auth",
    "authorization",
    "jwt",
    "bearer",
    "nonce",
    "state",
    "ticket",
    "hash",
    "credential",
    "credentials",
    "assertion",
    "saml",
    "email",
    "mail",
    "phone",
    "tel",
    "mobile",
    "login",
    "user",
    "username",
    "name",
    "firstname",
    "lastname",
    "address",
    "ssn",
    "dob",
    "birthday",
];

/// Whether a query parameter's value should not reach a vendor whatever it looks like: its
/// name is secret- or person-bearing (see [`SECRET_PARAM_WORDS`]) or classifies as any kind of
/// personal key (`zip`, `lat`, `iban`, `device_id`).
///
/// Cached per thread and name: pages repeat their parameter names (`utm_source`, `page`) on
/// every event, and splitting a name into words allocates.
pub fn sensitive_param(name: &str) -> bool {
    use std::cell::RefCell;
    use std::collections::HashMap;
    /// Distinct names remembered per thread; past this the cache starts over.
    const CAP: usize = 1024;
    /// Longer names are judged each time (never cached), so the cache's memory is bounded.
    const MAX_NAME: usize = 64;
    thread_local! {
        static SENSITIVE: RefCell<HashMap<Box<str>, bool, foldhash::fast::RandomState>> =
            RefCell::new(HashMap::default());
    }
    if name.len() > MAX_NAME {
        return sensitive_param_uncached(name);
    }
    SENSITIVE.with(|cache| {
        if let Some(&known) = cache.borrow().get(name) {
            return known;
        }
        let sensitive = sensitive_param_uncached(name);
        let mut cache = cache.borrow_mut();
        if cache.len() >= CAP {
            cache.clear();
        }
        cache.insert(name.into(), sensitive);
        sensitive
    })
}

fn sensitive_param_uncached(name: &str) -> bool {
    let name = percent_decode(name);
    if crate::classify::keys::classify_key(&name).kind != crate::classify::keys::KeyKind::None {
        return true;
    }
    crate::classify::keys::words(&name)
        .iter()
        .any(|w| SECRET_PARAM_WORDS.contains(&w.as_str()))
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') && !s.contains('+') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Keeps scheme, host, path, fragment and every query parameter, blanking only the values of
/// [`sensitive_param`] names; drops any userinfo. Detected personal data inside the URL is
/// redacted span by span before this runs (the classifier reports it), so what stays is
/// attribution (`utm_*`, `gclid`), paging, sorting and enumerations.
/// `https://u:p@x.io/a?utm_source=nl&token=abc#top` → `https://x.io/a?utm_source=nl&token=#top`.
pub fn url_without_secrets(url: &str) -> String {
    let find = |s: &str, c: u8| s.bytes().position(|b| b == c);
    let mut out = String::with_capacity(url.len());
    // Userinfo: `scheme://user:pass@host` loses `user:pass@`.
    let mut rest = url;
    // `memchr` for the colon: `str::find` with a string needle builds a searcher per call.
    if let Some(p) = memchr::memchr_iter(b':', url.as_bytes()).find(|&p| url[p..].starts_with("://")) {
        let auth_start = p + 3;
        let auth_end = url[auth_start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |e| auth_start + e);
        out.push_str(&url[..auth_start]);
        let authority = &url[auth_start..auth_end];
        out.push_str(authority.rsplit_once('@').map_or(authority, |(_, host)| host));
        rest = &url[auth_end..];
    }
    let (before_fragment, fragment) = match find(rest, b'#') {
        Some(h) => (&rest[..h], Some(&rest[h + 1..])),
        None => (rest, None),
    };
    let (path, query) = match find(before_fragment, b'?') {
        Some(q) => (&before_fragment[..q], Some(&before_fragment[q + 1..])),
        None => (before_fragment, None),
    };
    out.push_str(path);
    if let Some(query) = query {
        out.push('?');
        push_params(&mut out, query);
    }
    if let Some(fragment) = fragment {
        out.push('#');
        match find(fragment, b'?') {
            // Hash routing: `#/search?q=…&token=…`.
            Some(q) if fragment.starts_with('/') || fragment.starts_with("!/") => {
                out.push_str(&fragment[..=q]);
                push_params(&mut out, &fragment[q + 1..]);
            }
            // `#access_token=…&state=…`.
            _ if fragment.contains('=') => push_params(&mut out, fragment),
            _ => out.push_str(fragment),
        }
    }
    out
}

/// `a=1&token=x` → `a=1&token=`: parameters kept in order, sensitive values blanked.
fn push_params(out: &mut String, query: &str) {
    for (i, param) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match param.split_once('=') {
            Some((name, _)) if sensitive_param(name) => {
                out.push_str(name);
                out.push('=');
            }
            _ => out.push_str(param),
        }
    }
}

#[cfg(test)]
mod tests;
