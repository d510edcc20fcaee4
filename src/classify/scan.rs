//! Value detection inside one string or number, in the context of its key.
//!
//! Opaque ids (hex digests, UUIDs, Mixpanel device ids) are skipped whole. Otherwise one
//! cheap pass counts byte classes, and each detector family runs only when those counts
//! make a match possible (an `@` for emails, 4+ digits for numbers, a 10-character word
//! for credential prefixes, which are then matched at word starts by first byte). Families
//! run in a fixed order and claim the spans they report, so a later family never re-reads
//! an IBAN's digits as a card or a phone number. Structured strings are taken apart first: URLs (query values by their
//! parameter name, path segments, fragments, userinfo), JSON and base64 text; their parts
//! are scanned recursively (depth-limited) and spans map back to the original bytes.
//!
//! Nothing here allocates for a string in which nothing is found, except when decoding
//! percent-encoded, base64 or JSON text.

use std::net::IpAddr;

use serde_json::{Map, Number, Value};

use super::detectors::DetectorId as D;
use super::geo;
use super::keys::{KeyClass, KeyKind, classify_key, flags};
use super::phone;
use super::taxonomy as t;
use super::url;
use super::validate as v;
use crate::digits::hex_value;

/// How deep decoding may nest (URL in base64 in JSON …).
const MAX_DEPTH: u8 = 6;
/// Longest string scanned for tokens; longer values are scanned in their first part only.
const MAX_SCAN: usize = 64 * 1024;

/// One detection inside a value. `span` is a byte range in the value's string, `None` for
/// the whole value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub span: Option<(usize, usize)>,
    pub det: D,
    pub category: &'static str,
    pub confidence: f32,
}

impl Hit {
    pub fn at(det: D, start: usize, end: usize) -> Hit {
        let d = det.detector();
        Hit {
            span: Some((start, end)),
            det,
            category: d.category,
            confidence: d.confidence,
        }
    }

    pub fn whole(det: D) -> Hit {
        let d = det.detector();
        Hit {
            span: None,
            det,
            category: d.category,
            confidence: d.confidence,
        }
    }

    pub fn category(mut self, category: &'static str) -> Hit {
        self.category = category;
        self
    }

    pub fn confidence(mut self, confidence: f32) -> Hit {
        self.confidence = confidence;
        self
    }
}

/// Where findings go.
pub type Sink<'a> = dyn FnMut(Hit) + 'a;

/// The context a value is judged in.
#[derive(Clone, Copy)]
pub struct Cx<'a> {
    /// The value's own key (array items: the array's key).
    pub class: KeyClass,
    /// The key of the object holding the value (`shipping` for `shipping.name`).
    pub container: KeyClass,
    /// That object, for sibling checks (a `name` beside a `sku` is a product).
    pub siblings: Option<&'a Map<String, Value>>,
    /// False where a bare `name` is an organisation's (group profiles).
    pub people: bool,
    /// Decoding depth.
    pub depth: u8,
    /// Where detectors explain their decisions (`vendorwall classify --explain`); `None`
    /// when classifying, so each note costs one untaken branch.
    pub trace: Option<&'a dyn Trace>,
}

impl<'a> Cx<'a> {
    fn nested(&self, class: KeyClass) -> Cx<'a> {
        Cx {
            class,
            container: KeyClass::NONE,
            siblings: None,
            people: self.people,
            depth: self.depth + 1,
            trace: self.trace,
        }
    }
}

/// Receives detectors' reasons while one value is explained: which candidate each
/// detector looked at and why it did or did not report it. The notes come from the
/// decision points of the detectors themselves, not from a second implementation.
pub trait Trace {
    fn note(&self, det: D, fired: bool, why: std::fmt::Arguments);
}

/// A note to the trace, formatted only when a trace is attached.
macro_rules! note {
    ($trace:expr, $det:expr, $fired:expr, $($arg:tt)+) => {
        if let Some(t) = $trace {
            t.note($det, $fired, format_args!($($arg)+));
        }
    };
}
pub(super) use note;

/// Key-based and value-based findings for a string leaf.
pub fn string_leaf(s: &str, cx: &Cx, sink: &mut Sink) {
    key_string(s, cx, sink);
    scan_text(s, cx, sink);
}

/// Key-based findings for a number leaf (numbers carry no format of their own).
pub fn number_leaf(n: &Number, cx: &Cx, sink: &mut Sink) {
    let int_digits = n.as_u64().map(|u| u.checked_ilog10().map_or(1, |l| l + 1) as usize);
    let digits = |range: std::ops::RangeInclusive<usize>| int_digits.is_some_and(|d| range.contains(&d));
    match cx.class.kind {
        KeyKind::Phone if digits(7..=15) => sink(Hit::whole(D::KeyPhone)),
        KeyKind::Secret if cx.class.has(flags::NUMERIC_SECRET) => sink(Hit::whole(D::KeySecret)),
        KeyKind::Latitude | KeyKind::Longitude | KeyKind::Coordinates => {
            let max = if cx.class.kind == KeyKind::Latitude {
                90.0
            } else {
                180.0
            };
            if let Some(category) = n.as_f64().and_then(|f| coordinate_category(f, number_decimals(n), max)) {
                sink(Hit::whole(D::KeyCoordinates).category(category));
            }
        }
        KeyKind::DateOfBirth => sink(Hit::whole(D::KeyDateOfBirth)),
        KeyKind::NationalId if digits(6..=20) => sink(Hit::whole(D::KeyNationalId)),
        KeyKind::DocumentNumber => {
            if let Some(u) = n.as_u64() {
                let mut buf = itoa::Buffer::new();
                let d = buf.format(u).as_bytes();
                if v::us_ssn(d) {
                    sink(Hit::whole(D::UsSsn));
                } else if v::aadhaar(d) {
                    sink(Hit::whole(D::InAadhaar));
                } else if v::credit_card(d) {
                    // A card's primary account number (`pan`) written as a JSON number.
                    sink(Hit::whole(D::CreditCard));
                }
            }
        }
        KeyKind::Card if digits(12..=19) => sink(Hit::whole(D::KeyCreditCard)),
        KeyKind::CardSecurityCode if digits(3..=4) => sink(Hit::whole(D::KeyCreditCard)),
        KeyKind::BankAccount if digits(8..=34) => sink(Hit::whole(D::KeyBankAccount)),
        KeyKind::PostalCode if int_digits.is_some() => sink(Hit::whole(D::KeyAddress).category(t::POSTAL_CODE)),
        KeyKind::UniqueId => sink(Hit::whole(D::KeyUniqueId)),
        KeyKind::Age => sink(Hit::whole(D::KeyDemographic).category(t::AGE_RANGE)),
        _ => {}
    }
}

/// Decimals in a JSON number's shortest text form.
pub fn number_decimals(n: &Number) -> usize {
    struct Buf {
        b: [u8; 48],
        n: usize,
    }
    impl std::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = self.n + s.len();
            if end > self.b.len() {
                return Err(std::fmt::Error);
            }
            self.b[self.n..end].copy_from_slice(s.as_bytes());
            self.n = end;
            Ok(())
        }
    }
    let mut buf = Buf { b: [0; 48], n: 0 };
    if std::fmt::write(&mut buf, format_args!("{n}")).is_err() {
        return 0;
    }
    text_decimals(&buf.b[..buf.n])
}

fn text_decimals(s: &[u8]) -> usize {
    match s.iter().position(|&c| c == b'.') {
        Some(p) => s[p + 1..].iter().take_while(|c| c.is_ascii_digit()).count(),
        None => 0,
    }
}

/// Precise with 3+ decimals (about 100 m), coarse with 1-2, nothing when out of range or integral.
pub fn coordinate_category(value: f64, decimals: usize, max: f64) -> Option<&'static str> {
    if !value.is_finite() || value.abs() > max {
        return None;
    }
    match decimals {
        0 => None,
        1 | 2 => Some(t::COARSE_LOCATION),
        _ => Some(t::PRECISE_LOCATION),
    }
}

fn mask_or_placeholder(s: &str) -> bool {
    let t = s.trim();
    if t.is_empty()
        || t.bytes()
            .all(|c| matches!(c, b'*' | b'x' | b'X' | b'#' | b'.' | b'-' | b' '))
        || t.contains('•')
    {
        return true;
    }
    let lower = |w: &str| t.eq_ignore_ascii_case(w);
    [
        "null",
        "none",
        "undefined",
        "n/a",
        "na",
        "nil",
        "true",
        "false",
        "redacted",
        "[redacted]",
        "<redacted>",
        "[filtered]",
        "filtered",
        "hidden",
        "masked",
    ]
    .iter()
    .any(|w| lower(w))
}

/// Masked digits: `*`, `#`, `•`, or a run of three or more `x`/`X`.
fn has_mask(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().any(|&c| matches!(c, b'*' | b'#'))
        || s.contains('•')
        || b.windows(3).any(|w| w.iter().all(|&c| c == b'x' || c == b'X'))
}

fn count_digits(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

fn phone_like(s: &str) -> bool {
    let d = count_digits(s);
    (7..=15).contains(&d)
        && s.trim()
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b' ' | b'+' | b'-' | b'.' | b'(' | b')' | b'/'))
}

/// A value that looks like a generated secret: long, no spaces, mixed classes, high entropy, not a UUID.
fn looks_secret(s: &str) -> bool {
    let t = s.trim().as_bytes();
    if !(16..=4096).contains(&t.len()) || t.iter().any(u8::is_ascii_whitespace) || v::uuid(t) {
        return false;
    }
    let classes = [
        t.iter().any(u8::is_ascii_lowercase),
        t.iter().any(u8::is_ascii_uppercase),
        t.iter().any(u8::is_ascii_digit),
        t.iter().any(|c| c.is_ascii_punctuation()),
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    classes >= 2 && !t.iter().all(u8::is_ascii_digit) && v::shannon_entropy(t) >= 3.0
}

/// Particles that stay lowercase inside names (van, de, bin …).
const NAME_PARTICLES: &[&str] = &[
    "van", "von", "de", "der", "den", "da", "di", "del", "della", "la", "le", "bin", "binti", "al", "el", "ben", "ter",
    "ten", "dos", "das", "du", "y", "e", "zu",
];

/// A person's name. `strict` (a bare `name` key): 2-4 capitalised words.
fn person_name(s: &str, strict: bool) -> bool {
    let t = s.trim();
    if t.is_empty() || t.len() > 100 || t.contains('@') || t.contains("://") {
        return false;
    }
    let mut n = 0;
    for w in t.split(' ').filter(|w| !w.is_empty()) {
        n += 1;
        if !w
            .chars()
            .all(|c| super::names::name_char(c) || matches!(c, '-' | '\'' | '.' | '’'))
            || !w.chars().any(char::is_alphabetic)
        {
            return false;
        }
        if strict && !w.chars().next().is_some_and(char::is_uppercase) && !(n > 1 && NAME_PARTICLES.contains(&w)) {
            return false;
        }
    }
    if strict {
        (2..=4).contains(&n)
    } else {
        (1..=6).contains(&n)
    }
}

/// Sibling keys that mark the object as a product or line item.
pub(super) const PRODUCT_SIBLINGS: &[&str] = &[
    "sku",
    "product_id",
    "productId",
    "price",
    "unit_price",
    "quantity",
    "item_id",
    "variant",
    "brand",
    "upc",
    "ean",
    "isbn",
];

/// Words that make a capitalised phrase a product, plan or organisation rather than a person.
const NOT_NAME_WORDS: &[&str] = &[
    "plan",
    "pro",
    "plus",
    "premium",
    "basic",
    "free",
    "trial",
    "team",
    "teams",
    "enterprise",
    "business",
    "starter",
    "edition",
    "tier",
    "package",
    "bundle",
    "kit",
    "pack",
    "set",
    "box",
    "project",
    "workspace",
    "organization",
    "organisation",
    "company",
    "group",
    "inc",
    "ltd",
    "llc",
    "gmbh",
    "corp",
    "co",
    "app",
    "store",
    "shop",
    "report",
    "dashboard",
    "board",
    "sale",
    "offer",
    "campaign",
    "event",
    "webinar",
    "course",
    "class",
    "lesson",
    "order",
    "invoice",
    "account",
    "service",
    "services",
    "studio",
    "labs",
    "lab",
    "cloud",
    "data",
    "the",
    "and",
    "for",
    "of",
    "with",
    "new",
    "update",
    "beta",
    "test",
    "demo",
    "default",
    "untitled",
    "copy",
    "draft",
    "template",
    "page",
    "home",
];

fn bare_name_confidence(s: &str, cx: &Cx) -> Option<f32> {
    if s.split(' ')
        .any(|w| NOT_NAME_WORDS.iter().any(|n| n.eq_ignore_ascii_case(w)))
    {
        return None;
    }
    if !cx.people || cx.container.has(flags::PRODUCT) {
        return None;
    }
    if cx
        .siblings
        .is_some_and(|m| PRODUCT_SIBLINGS.iter().any(|k| m.contains_key(*k)))
    {
        return super::names::strong_full_name(s).then_some(0.6);
    }
    if cx.container.has(flags::PERSON) {
        return person_name(s, false).then_some(0.8);
    }
    if person_name(s, true) || super::names::full_name(s) {
        return Some(0.6);
    }
    // One known given name (`Leo`, `Katarzyna`) under a bare name key.
    let t = s.trim();
    (!t.contains(' ') && super::names::is_given(t) && t.chars().next().is_some_and(|c| !c.is_lowercase()))
        .then_some(0.5)
}

fn date_like(s: &str) -> bool {
    let d = count_digits(s);
    (4..=14).contains(&d) && s.len() <= 40
}

/// Key-based findings for a string value.
pub fn key_string(s: &str, cx: &Cx, sink: &mut Sink) {
    let kind = cx.class.kind;
    if kind == KeyKind::None {
        if super::names::unkeyed(s, cx) {
            sink(Hit::whole(D::Name));
        }
        return;
    }
    let hit = match kind {
        KeyKind::None | KeyKind::Wallet | KeyKind::Coordinates => None,
        KeyKind::Email => s.contains('@').then(|| Hit::whole(D::KeyEmail)),
        KeyKind::Phone => phone_like(s).then(|| Hit::whole(D::KeyPhone)),
        KeyKind::Ip => s
            .trim()
            .parse::<IpAddr>()
            .ok()
            .filter(|ip| v::public_ip(*ip))
            .map(|_| Hit::whole(D::KeyIp)),
        KeyKind::Secret => (!mask_or_placeholder(s)).then(|| Hit::whole(D::KeySecret)),
        KeyKind::SecretWeak => looks_secret(s).then(|| Hit::whole(D::KeySecretEntropy)),
        KeyKind::PersonName => person_name(s, false).then(|| Hit::whole(D::KeyName)),
        KeyKind::BareName => bare_name_confidence(s, cx).map(|c| Hit::whole(D::KeyName).confidence(c)),
        KeyKind::DateOfBirth => date_like(s).then(|| Hit::whole(D::KeyDateOfBirth)),
        KeyKind::NationalId => {
            let alnum = s.bytes().filter(u8::is_ascii_alphanumeric).count();
            (alnum >= 6 && !has_mask(s) && count_digits(s) >= 4).then(|| Hit::whole(D::KeyNationalId))
        }
        KeyKind::DocumentNumber => None,
        KeyKind::Passport | KeyKind::DriversLicense => {
            let alnum = s.bytes().filter(u8::is_ascii_alphanumeric).count();
            let det = if kind == KeyKind::Passport {
                D::KeyPassport
            } else {
                D::KeyDriversLicense
            };
            (alnum >= 5 && !has_mask(s) && count_digits(s) >= 1).then(|| Hit::whole(det))
        }
        KeyKind::Card => {
            let ok = (12..=19).contains(&count_digits(s))
                && s.trim().bytes().all(|c| c.is_ascii_digit() || c == b' ' || c == b'-');
            ok.then(|| Hit::whole(D::KeyCreditCard))
        }
        KeyKind::CardSecurityCode => {
            let t = s.trim();
            ((3..=4).contains(&t.len()) && t.bytes().all(|c| c.is_ascii_digit())).then(|| Hit::whole(D::KeyCreditCard))
        }
        KeyKind::BankAccount => {
            let compact: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
            let ok = (count_digits(s) >= 8 && !has_mask(s)) || v::iban(&compact);
            ok.then(|| Hit::whole(D::KeyBankAccount))
        }
        KeyKind::Latitude | KeyKind::Longitude => {
            let max = if kind == KeyKind::Latitude { 90.0 } else { 180.0 };
            let t = s.trim();
            t.parse::<f64>()
                .ok()
                .and_then(|f| coordinate_category(f, text_decimals(t.as_bytes()), max))
                .map(|c| Hit::whole(D::KeyCoordinates).category(c))
        }
        KeyKind::Address => {
            let ok =
                s.chars().any(char::is_alphabetic) && s.bytes().any(|c| c.is_ascii_digit()) && s.trim().contains(' ');
            ok.then(|| Hit::whole(D::KeyAddress))
        }
        KeyKind::PostalCode => {
            let t = s.trim();
            let ok = (3..=10).contains(&t.len()) && t.bytes().any(|c| c.is_ascii_digit()) && !has_mask(t);
            ok.then(|| Hit::whole(D::KeyAddress).category(t::POSTAL_CODE))
        }
        KeyKind::City => s
            .chars()
            .any(char::is_alphabetic)
            .then(|| Hit::whole(D::KeyAddress).category(t::COARSE_LOCATION)),
        KeyKind::DeviceId => (s.trim().len() >= 8).then(|| Hit::whole(D::KeyDevice)),
        KeyKind::UserAgent => (s.trim().len() >= 8).then(|| Hit::whole(D::KeyDevice).category(t::DEVICE)),
        KeyKind::UniqueId => (!s.trim().is_empty()).then(|| Hit::whole(D::KeyUniqueId)),
        KeyKind::Username => (!s.trim().is_empty()).then(|| Hit::whole(D::KeyUsername)),
        KeyKind::Gender => (!s.trim().is_empty()).then(|| Hit::whole(D::KeyDemographic)),
        KeyKind::Age => (!s.trim().is_empty()).then(|| Hit::whole(D::KeyDemographic).category(t::AGE_RANGE)),
    };
    match hit {
        Some(h) => {
            note!(
                cx.trace,
                h.det,
                true,
                "the key is a {kind:?} key and the value fits one"
            );
            sink(h);
        }
        None => {
            if let Some(det) = key_detector(kind) {
                note!(
                    cx.trace,
                    det,
                    false,
                    "the key is a {kind:?} key, but the value does not fit one ({} bytes, {} digits{})",
                    s.len(),
                    count_digits(s),
                    if has_mask(s) { ", masked" } else { "" }
                );
            }
        }
    }
}

/// The detector that reports findings for values under keys of `kind`.
pub fn key_detector(kind: KeyKind) -> Option<D> {
    Some(match kind {
        KeyKind::None | KeyKind::Wallet | KeyKind::Coordinates | KeyKind::DocumentNumber => return None,
        KeyKind::Email => D::KeyEmail,
        KeyKind::Phone => D::KeyPhone,
        KeyKind::Ip => D::KeyIp,
        KeyKind::Secret => D::KeySecret,
        KeyKind::SecretWeak => D::KeySecretEntropy,
        KeyKind::PersonName | KeyKind::BareName => D::KeyName,
        KeyKind::DateOfBirth => D::KeyDateOfBirth,
        KeyKind::NationalId => D::KeyNationalId,
        KeyKind::Passport => D::KeyPassport,
        KeyKind::DriversLicense => D::KeyDriversLicense,
        KeyKind::Card | KeyKind::CardSecurityCode => D::KeyCreditCard,
        KeyKind::BankAccount => D::KeyBankAccount,
        KeyKind::Latitude | KeyKind::Longitude => D::KeyCoordinates,
        KeyKind::Address | KeyKind::PostalCode | KeyKind::City => D::KeyAddress,
        KeyKind::DeviceId | KeyKind::UserAgent => D::KeyDevice,
        KeyKind::UniqueId => D::KeyUniqueId,
        KeyKind::Username => D::KeyUsername,
        KeyKind::Gender | KeyKind::Age => D::KeyDemographic,
    })
}

/// Byte classes for the one counting pass.
mod class {
    pub const DIGIT: u8 = 1;
    pub const UPPER: u8 = 2;
    pub const LOWER: u8 = 4;
    /// A letter outside a-f/A-F.
    pub const NON_HEX: u8 = 8;
    /// Outside the base64 and base64url alphabets.
    pub const NON_B64: u8 = 16;
    /// Neither alphanumeric nor `-`.
    pub const OTHER: u8 = 32;
    /// One of `@ % : , .` (counted individually).
    pub const MARK: u8 = 64;
    /// One of `[ ( { < &` or the lead byte of a fullwidth form (U+FF00..U+FFEF): what an
    /// obfuscated address marker other than a spaced word or `@` starts with.
    pub const BRACKET: u8 = 128;

    pub const TABLE: [u8; 256] = {
        let mut t = [NON_B64 | OTHER; 256];
        let mut c = 0;
        while c < 256 {
            let b = c as u8;
            t[c] = if b.is_ascii_digit() {
                DIGIT
            } else if b.is_ascii_uppercase() {
                UPPER | if b <= b'F' { 0 } else { NON_HEX }
            } else if b.is_ascii_lowercase() {
                LOWER | if b <= b'f' { 0 } else { NON_HEX }
            } else {
                match b {
                    b'-' => 0,
                    b'+' | b'/' | b'=' | b'_' => OTHER,
                    b'@' | b'%' | b':' | b',' | b'.' => NON_B64 | OTHER | MARK,
                    b'[' | b'(' | b'{' | b'<' | b'&' | 0xEF => NON_B64 | OTHER | BRACKET,
                    _ => NON_B64 | OTHER,
                }
            };
            c += 1;
        }
        t
    };
}

/// Byte-class counts from one pass.
#[derive(Default)]
struct Features {
    digits: usize,
    upper: usize,
    /// 1 when any lowercase letter occurs (not a count).
    lower: usize,
    at: bool,
    percent: bool,
    colons: usize,
    commas: usize,
    dots: usize,
    /// Longest run of ASCII alphanumerics.
    max_word: usize,
    scheme_sep: bool,
    /// OR of all byte classes.
    classes: u8,
}

impl Features {
    fn of(b: &[u8]) -> Features {
        let mut f = Features::default();
        let (mut word, mut max_word, mut classes) = (0usize, 0usize, 0u8);
        let (mut digits, mut upper) = (0usize, 0usize);
        for &c in b {
            let k = class::TABLE[usize::from(c)];
            classes |= k;
            let alnum = k & (class::DIGIT | class::UPPER | class::LOWER) != 0;
            word = if alnum { word + 1 } else { 0 };
            max_word = max_word.max(word);
            digits += usize::from(k & class::DIGIT);
            upper += usize::from((k & class::UPPER) >> 1);
        }
        let lower = usize::from(classes & class::LOWER != 0);
        if classes & class::MARK != 0 {
            for (i, &c) in b.iter().enumerate() {
                match c {
                    b'@' => f.at = true,
                    b'%' => f.percent = true,
                    b':' => {
                        f.colons += 1;
                        if b[i + 1..].starts_with(b"//") {
                            f.scheme_sep = true;
                        }
                    }
                    b',' => f.commas += 1,
                    b'.' => f.dots += 1,
                    _ => {}
                }
            }
        }
        f.digits = digits;
        f.upper = upper;
        f.lower = lower;
        f.max_word = max_word;
        f.classes = classes;
        f
    }

    fn has(&self, class: u8) -> bool {
        self.classes & class != 0
    }
}

/// Identifier formats that cannot hold personal data or secrets: hex digests and ids
/// (with a hex letter, so all-digit numbers still get scanned), UUIDs, and Mixpanel's
/// device ids (dash-joined hex segments). Stops at the first byte that rules them out.
fn opaque_id(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"$device:").unwrap_or(b);
    if b.len() < 16 {
        return false;
    }
    let (mut upper, mut lower, mut dashes) = (false, false, 0usize);
    for &c in b {
        match c {
            b'0'..=b'9' => {}
            b'a'..=b'f' => lower = true,
            b'A'..=b'F' => upper = true,
            b'-' => dashes += 1,
            _ => return false,
        }
    }
    // Uppercase "hex" starting like an IBAN (DE89…, BE68…, AE07…) is not opaque.
    if upper == lower || (upper && b[0].is_ascii_alphabetic() && b[1].is_ascii_alphabetic() && b[2].is_ascii_digit()) {
        return false;
    }
    if dashes == 0 || v::uuid(b) {
        return true;
    }
    dashes >= 3 && b.split(|&c| c == b'-').all(|seg| seg.len() >= 6)
}

/// Spans already reported in this string; later families skip what they overlap.
pub(super) struct Out<'a, 'b> {
    sink: &'a mut Sink<'b>,
    claims: [(usize, usize); 8],
    n: usize,
    /// The trace of the value being explained, if any.
    pub(super) trace: Option<&'a dyn Trace>,
}

impl<'a, 'b> Out<'a, 'b> {
    fn new(sink: &'a mut Sink<'b>, trace: Option<&'a dyn Trace>) -> Self {
        Out {
            sink,
            claims: [(0, 0); 8],
            n: 0,
            trace,
        }
    }

    pub(super) fn free(&self, start: usize, end: usize) -> bool {
        self.claims[..self.n].iter().all(|&(s, e)| end <= s || start >= e)
    }

    fn claim(&mut self, start: usize, end: usize) {
        if self.n < self.claims.len() {
            self.claims[self.n] = (start, end);
            self.n += 1;
        }
    }

    /// Reports a span unless an earlier family already reported an overlapping one.
    pub(super) fn emit(&mut self, hit: Hit) {
        if let Some((s, e)) = hit.span {
            if !self.free(s, e) {
                return;
            }
            self.claim(s, e);
        }
        (self.sink)(hit);
    }

    /// Reports a finding from a decoded part `[start, end)` of this string, mapping its
    /// span through `map` (decoded byte → original offset) when the part was decoded.
    pub(super) fn emit_mapped(&mut self, hit: Hit, start: usize, end: usize, map: Option<&[u32]>) {
        let span = match (hit.span, map) {
            (None, _) => (start, end),
            (Some((a, b)), None) => (start + a, start + b),
            (Some((a, b)), Some(m)) => {
                let at = |i: usize| m.get(i).map_or(end, |&o| start + o as usize);
                (at(a), at(b))
            }
        };
        self.emit(Hit {
            span: Some(span),
            ..hit
        });
    }
}

/// Scans a part `[start, end)` of `s` as a value with key class `class` (key-based checks
/// too when `with_key`), decoding it first when `decode` says so; spans map back into `s`.
#[allow(clippy::too_many_arguments)]
pub(super) fn scan_part(
    s: &str,
    start: usize,
    end: usize,
    class: KeyClass,
    decode: Decode,
    with_key: bool,
    cx: &Cx,
    out: &mut Out,
) {
    // Nothing shorter than six bytes is found by value; only a key can make it count.
    if start >= end || cx.depth >= MAX_DEPTH || (end - start < 6 && (class.kind == KeyKind::None || !with_key)) {
        return;
    }
    let raw = &s[start..end];
    let inner = cx.nested(class);
    let decoded = decode.apply(raw);
    let (text, map) = match &decoded {
        Some((text, map)) => (text.as_str(), Some(map.as_slice())),
        None => (raw, None),
    };
    // Value detectors first: their spans are tighter than a key finding over the whole part.
    let mut sink = |h: Hit| out.emit_mapped(h, start, end, map);
    scan_text(text, &inner, &mut sink);
    if with_key {
        key_string(text, &inner, &mut sink);
    }
}

/// Scans the percent-decoded form of a whole string, if it has escapes.
fn scan_percent_decoded(s: &str, cx: &Cx, out: &mut Out) {
    if cx.depth >= MAX_DEPTH {
        return;
    }
    if let Some((text, map)) = Decode::Percent.apply(s) {
        let inner = cx.nested(cx.class);
        scan_text(&text, &inner, &mut |h| out.emit_mapped(h, 0, s.len(), Some(&map)));
    }
}

/// How a part of a string is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// Percent-encoding (URL paths, userinfo, free text).
    Percent,
    /// Percent-encoding with `+` for space (query strings, form bodies).
    Form,
}

impl Decode {
    /// The decoded text and, per decoded byte, its offset in `raw` (plus a final entry for
    /// the end). `None` when nothing needs decoding or the result is not UTF-8.
    pub(super) fn apply(self, raw: &str) -> Option<(String, Vec<u32>)> {
        let b = raw.as_bytes();
        let has_escape = b
            .windows(3)
            .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
        let has_plus = self == Decode::Form && b.contains(&b'+');
        if !has_escape && !has_plus {
            return None;
        }
        let mut out = Vec::with_capacity(b.len());
        let mut map = Vec::with_capacity(b.len() + 1);
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            map.push(i as u32);
            if c == b'%'
                && i + 2 < b.len()
                && let (Some(h), Some(l)) = (hex_value(b[i + 1]), hex_value(b[i + 2]))
            {
                out.push(h << 4 | l);
                i += 3;
            } else if c == b'+' && self == Decode::Form {
                out.push(b' ');
                i += 1;
            } else {
                out.push(c);
                i += 1;
            }
        }
        map.push(b.len() as u32);
        String::from_utf8(out).ok().map(|s| (s, map))
    }
}

/// Value detectors over a string.
pub fn scan_text(s: &str, cx: &Cx, sink: &mut Sink) {
    if s.len() < 6 || cx.depth > MAX_DEPTH {
        return;
    }
    let s = if s.len() > MAX_SCAN {
        floor_boundary(s, MAX_SCAN)
    } else {
        s
    };
    let b = s.as_bytes();
    if opaque_id(b) {
        note!(
            cx.trace,
            D::Email,
            false,
            "skipped whole: a hex digest, UUID or device id holds nothing"
        );
        return;
    }
    let mut out = Out::new(sink, cx.trace);
    if let Some(kind) = url::kind(s) {
        note!(
            out.trace,
            D::Email,
            false,
            "the value is a URL: its parts are judged one by one"
        );
        // A Slack webhook spans path segments; other tokens sit inside one component.
        if let Some(p) = find(b, b"hooks.slack.com/services/")
            && let Some((s0, end, det)) = token_at(b, p, p + 25)
        {
            out.emit(Hit::at(det, s0, end));
        }
        url::scan(s, kind, cx, &mut out);
        return;
    }
    let f = Features::of(b);
    if matches!(b[0], b'{' | b'[') && nested_json(s, cx, &mut out) {
        return;
    }
    if s.len() >= 16 && f.upper > 0 && f.lower > 0 && !f.has(class::NON_B64) {
        base64_text(s, cx, &mut out);
    }
    // Every credential format carries a run of 10+ alphanumerics.
    if f.max_word >= 10 {
        prefixed_tokens(s, &mut out);
    }
    if f.at {
        emails(s, &mut out);
    } else {
        note!(out.trace, D::Email, false, "no `@`");
    }
    if f.has(class::OTHER) && (f.lower > 0 || f.upper > 0) {
        obfuscated_emails(s, &f, &mut out);
    }
    if f.max_word >= 9 || (f.upper >= 2 && f.digits >= 6) {
        words(s, &f, &mut out);
    }
    if f.colons >= 2 {
        ipv6(s, &mut out);
    }
    if f.scheme_sep {
        url::embedded(s, cx, &mut out);
    }
    if f.percent {
        scan_percent_decoded(s, cx, &mut out);
    }
    if f.digits >= 4 {
        numbers(s, cx, &mut out);
    } else {
        note!(out.trace, D::CreditCard, false, "fewer than four digits");
        note!(out.trace, D::Phone, false, "fewer than four digits");
    }
    // Notations with their own marks first, then bare pairs.
    if f.digits >= 5 && f.has(class::OTHER) {
        if f.colons > 0 {
            geo::geo_uri(s, &mut out);
        }
        if f.upper > 0 || f.lower > 0 {
            geo::wkt_point(s, &mut out);
        }
        geo::iso6709(s, &mut out);
    }
    if f.digits >= 2 && f.has(class::OTHER) {
        geo::angles(s, &mut out);
    }
    if f.dots >= 2 && f.digits >= 8 {
        coordinates(s, cx, &mut out);
    }
}

fn floor_boundary(s: &str, mut i: usize) -> &str {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// JSON text inside a string: its leaves are judged by their own keys; findings cover the
/// whole string.
fn nested_json(s: &str, cx: &Cx, out: &mut Out) -> bool {
    let t = s.trim_end();
    if !matches!(t.as_bytes().last(), Some(b'}' | b']')) || cx.depth >= MAX_DEPTH {
        return false;
    }
    let Ok(value) = serde_json::from_str::<Value>(t) else {
        return false;
    };
    let len = s.len();
    json_value(&value, &cx.nested(cx.class), &mut |h: Hit| {
        out.emit_mapped(Hit { span: None, ..h }, 0, len, None)
    });
    true
}

fn json_value(value: &Value, cx: &Cx, sink: &mut Sink) {
    match value {
        Value::String(s) => string_leaf(s, cx, sink),
        Value::Number(n) => number_leaf(n, cx, sink),
        Value::Array(items) => {
            for item in items {
                json_value(item, cx, sink);
            }
        }
        Value::Object(map) => {
            if cx.depth >= MAX_DEPTH {
                return;
            }
            for (k, v) in map {
                let child = Cx {
                    class: classify_key(k),
                    container: cx.class,
                    siblings: Some(map),
                    people: cx.people,
                    depth: cx.depth + 1,
                    trace: cx.trace,
                };
                json_value(v, &child, sink);
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

/// A whole string of base64 or base64url that decodes to readable text: the text is
/// scanned and findings cover the encoded string.
fn base64_text(s: &str, cx: &Cx, out: &mut Out) {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};

    let b = s.as_bytes();
    if b.len() > 16 * 1024 || cx.depth >= MAX_DEPTH {
        return;
    }
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2 || body.len() % 4 == 1 {
        return;
    }
    let (mut std_chars, mut url_chars, mut upper, mut lower) = (false, false, false, false);
    for &c in body.as_bytes() {
        match c {
            b'A'..=b'Z' => upper = true,
            b'a'..=b'z' => lower = true,
            b'0'..=b'9' => {}
            b'+' | b'/' => std_chars = true,
            b'-' | b'_' => url_chars = true,
            _ => return,
        }
    }
    if !(upper && lower) || (std_chars && url_chars) {
        return;
    }
    let decoded = if url_chars {
        URL_SAFE_PAD_INDIFFERENT.decode(s)
    } else {
        STANDARD_PAD_INDIFFERENT.decode(s)
    };
    let Ok(bytes) = decoded else { return };
    let Ok(text) = std::str::from_utf8(&bytes) else { return };
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .count();
    if text.len() < 6 || printable * 10 < text.chars().count() * 9 {
        return;
    }
    let len = s.len();
    let inner = cx.nested(cx.class);
    scan_text(text, &inner, &mut |h| {
        out.emit_mapped(Hit { span: None, ..h }, 0, len, None)
    });
}

/// Literal prefixes of credential formats, grouped by first byte.
fn token_prefix(b: &[u8], i: usize) -> Option<usize> {
    let rest = &b[i..];
    let any = |prefixes: &[&[u8]]| prefixes.iter().find(|p| rest.starts_with(p)).map(|p| p.len());
    match rest.first()? {
        b's' => any(&[
            b"sk_live_",
            b"sk_test_",
            b"sk-",
            b"shpat_",
            b"shpss_",
            b"shpca_",
            b"shppa_",
        ]),
        b'r' => any(&[b"rk_live_", b"rk_test_"]),
        b'w' => any(&[b"whsec_"]),
        b'A' => any(&[b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"AIza"]),
        b'g' => any(&[b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_", b"glpat-"]),
        b'x' => any(&[
            b"xoxa-", b"xoxb-", b"xoxp-", b"xoxo-", b"xoxr-", b"xoxs-", b"xoxe-", b"xapp-",
        ]),
        b'h' => any(&[b"hooks.slack.com/services/", b"hf_"]),
        b'-' => any(&[b"-----BEGIN "]),
        b'e' => any(&[b"eyJ"]),
        b'S' => any(&[b"SG."]),
        b'n' => any(&[b"npm_"]),
        b'p' => any(&[b"pypi-AgE"]),
        b'B' => any(&[b"Bearer ", b"BEARER ", b"Basic "]),
        b'b' => any(&[b"bearer ", b"basic "]),
        _ => None,
    }
}

/// Prefix-anchored credential formats.
fn prefixed_tokens(s: &str, out: &mut Out) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if i > 0 && b[i - 1].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        // Every format is at least 10 bytes of token characters (or a keyword and a space).
        if b.len() - i < 10 {
            break;
        }
        if let Some(plen) = token_prefix(b, i)
            && let Some((s0, end, det)) = token_at(b, i, i + plen)
        {
            out.emit(Hit::at(det, s0, end));
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn run_end(b: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while i < b.len() && pred(b[i]) {
        i += 1;
    }
    i
}

/// Validates the token family whose prefix matched at `[start, pend)`.
fn token_at(b: &[u8], start: usize, pend: usize) -> Option<(usize, usize, D)> {
    let prefix = &b[start..pend];
    let alnum_end = run_end(b, pend, |c| c.is_ascii_alphanumeric());
    let word_end = run_end(b, pend, is_word);
    let bounded = |end: usize| end == b.len() || !is_word(b[end]);
    let body = |end: usize| end - pend;
    match prefix {
        b"sk_live_" | b"sk_test_" | b"rk_live_" | b"rk_test_" => {
            (body(alnum_end) >= 10 && bounded(alnum_end)).then_some((start, alnum_end, D::StripeSecretKey))
        }
        b"whsec_" => (body(alnum_end) >= 24 && bounded(alnum_end)).then_some((start, alnum_end, D::StripeSecretKey)),
        b"sk-" => {
            let tok = &b[pend..word_end];
            if tok.starts_with(b"ant-") {
                return (tok.len() >= 40).then_some((start, word_end, D::AnthropicKey));
            }
            let marker = tok.windows(8).any(|w| w == b"T3BlbkFJ");
            let project = [&b"proj-"[..], b"svcacct-", b"admin-"]
                .iter()
                .any(|p| tok.starts_with(p))
                && tok.len() >= 40;
            let legacy = tok.len() == 48 && tok.iter().all(u8::is_ascii_alphanumeric);
            (marker || project || legacy).then_some((start, word_end, D::OpenAiKey))
        }
        b"AKIA" | b"ASIA" | b"ABIA" | b"ACCA" => {
            let end = run_end(b, pend, |c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c));
            (body(end) == 16 && (end == b.len() || !b[end].is_ascii_alphanumeric())).then_some((
                start,
                end,
                D::AwsAccessKey,
            ))
        }
        b"github_pat_" => {
            let end = run_end(b, pend, |c| c.is_ascii_alphanumeric() || c == b'_');
            (body(end) >= 60).then_some((start, end, D::GithubToken))
        }
        _ if prefix.len() == 4 && prefix.starts_with(b"gh") => {
            ((36..=255).contains(&body(alnum_end)) && bounded(alnum_end)).then_some((start, alnum_end, D::GithubToken))
        }
        b"glpat-" => (body(word_end) >= 20).then_some((start, word_end, D::GitlabToken)),
        b"xapp-" => (body(word_end) >= 20).then_some((start, word_end, D::SlackToken)),
        _ if prefix.starts_with(b"xox") => {
            let tok = &b[pend..word_end];
            let ok = tok.len() >= 15
                && tok.first().is_some_and(u8::is_ascii_digit)
                && tok.iter().filter(|&&c| c == b'-').count() >= 1;
            ok.then_some((start, word_end, D::SlackToken))
        }
        b"hooks.slack.com/services/" => {
            let end = run_end(b, pend, |c| c.is_ascii_alphanumeric() || c == b'/');
            let parts: Vec<&[u8]> = b[pend..end].split(|&c| c == b'/').collect();
            let ok = parts.len() == 3
                && parts[0].first() == Some(&b'T')
                && parts[1].first() == Some(&b'B')
                && parts[2].len() >= 16;
            let s0 = if start >= 8 && &b[start - 8..start] == b"https://" {
                start - 8
            } else {
                start
            };
            ok.then_some((s0, end, D::SlackWebhook))
        }
        b"AIza" => (body(word_end) == 35).then_some((start, word_end, D::GoogleApiKey)),
        b"-----BEGIN " => private_key(b, start, pend).map(|end| (start, end, D::PrivateKey)),
        b"eyJ" => jwt(b, start).map(|end| (start, end, D::Jwt)),
        b"SG." => {
            let a = run_end(b, pend, is_word);
            let ok = a - pend == 22 && b.get(a) == Some(&b'.') && run_end(b, a + 1, is_word) - (a + 1) == 43;
            ok.then(|| (start, run_end(b, a + 1, is_word), D::SendgridKey))
        }
        b"npm_" => (body(alnum_end) == 36 && bounded(alnum_end)).then_some((start, alnum_end, D::NpmToken)),
        b"pypi-AgE" => (body(word_end) >= 50).then_some((start, word_end, D::PypiToken)),
        b"hf_" => {
            let end = run_end(b, pend, |c| c.is_ascii_alphabetic());
            (body(end) == 34 && bounded(end)).then_some((start, end, D::HuggingFaceToken))
        }
        _ if prefix.starts_with(b"shp") => {
            let end = run_end(b, pend, |c| c.is_ascii_hexdigit());
            (body(end) == 32 && bounded(end)).then_some((start, end, D::ShopifyToken))
        }
        _ if prefix.eq_ignore_ascii_case(b"bearer ") => {
            let end = run_end(b, pend, |c| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c));
            if body(end) < 16 {
                return None;
            }
            let det = if jwt(b, pend) == Some(end) {
                D::Jwt
            } else {
                D::BearerToken
            };
            Some((pend, end, det))
        }
        _ if prefix.eq_ignore_ascii_case(b"basic ") => {
            use base64::Engine as _;
            let end = run_end(b, pend, |c| c.is_ascii_alphanumeric() || b"+/=".contains(&c));
            let decoded = base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
                .decode(&b[pend..end])
                .ok()?;
            let ok = body(end) >= 8
                && decoded.contains(&b':')
                && std::str::from_utf8(&decoded).is_ok_and(|t| !t.chars().any(char::is_control));
            ok.then_some((pend, end, D::BasicAuth))
        }
        _ => None,
    }
}

fn private_key(b: &[u8], start: usize, pend: usize) -> Option<usize> {
    let header_end = pend + find(&b[pend..], b"-----")?;
    let label = &b[pend..header_end];
    if !(label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK")) || label.len() > 40 {
        return None;
    }
    let after = header_end + 5;
    match find(&b[after..], b"-----END ") {
        Some(p) => {
            let tail = after + p + 9;
            Some(find(&b[tail..], b"-----").map_or(b.len(), |q| tail + q + 5))
        }
        None => Some(b.len()),
    }
    .filter(|&end| end > start)
}

/// The first occurrence of `needle` in `hay`: candidates by its first byte (`memchr`), so
/// most of a long URL is skipped without a comparison.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    memchr::memchr_iter(first, hay).find(|&i| hay[i..].starts_with(needle))
}

/// A JWT starting at `start`: header.payload.signature, header JSON with `"alg"`.
fn jwt(b: &[u8], start: usize) -> Option<usize> {
    use base64::Engine as _;
    let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let h_end = run_end(b, start, b64);
    if h_end - start < 10 || b.get(h_end) != Some(&b'.') || !b[h_end + 1..].starts_with(b"eyJ") {
        return None;
    }
    let p_end = run_end(b, h_end + 1, b64);
    if p_end - h_end < 10 || b.get(p_end) != Some(&b'.') {
        return None;
    }
    let s_end = run_end(b, p_end + 1, b64);
    if s_end < b.len() && (b[s_end].is_ascii_alphanumeric() || b[s_end] == b'.') {
        return None;
    }
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&b[start..h_end])
        .ok()?;
    find(&header, b"\"alg\"").map(|_| s_end)
}

/// Characters of an email's local part (RFC 5322 dot-atom, the common subset).
fn email_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-')
}

/// File extensions that follow `@` in asset names (`logo@2x.png`), never TLDs of mail domains.
const NOT_TLDS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif", "tiff", "js", "mjs", "css", "map", "json", "html",
    "htm", "pdf", "txt", "woff", "woff2", "ttf", "otf", "mp4", "mp3", "wav", "webm", "avif", "heic",
];

/// A mail domain: dotted labels of letters, digits and inner hyphens, alphabetic TLD.
fn mail_domain(d: &[u8]) -> bool {
    if d.len() < 4 || d.len() > 253 {
        return false;
    }
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in d.split(|&c| c == b'.') {
        if label.is_empty() || label.len() > 63 || label[0] == b'-' || label[label.len() - 1] == b'-' {
            return false;
        }
        labels += 1;
        last = label;
    }
    let tld_ok = (last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic))
        || (last.starts_with(b"xn--") && last.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-'));
    labels >= 2 && tld_ok && !NOT_TLDS.iter().any(|e| e.as_bytes().eq_ignore_ascii_case(last))
}

/// Whether `s` is one email address and nothing else (surrounding spaces aside).
pub fn whole_email(s: &str) -> bool {
    let t = s.trim();
    let mut whole = false;
    let mut sink = |h: Hit| whole |= h.span == Some((0, t.len()));
    emails(t, &mut Out::new(&mut sink, None));
    whole
}

fn emails(s: &str, out: &mut Out) {
    let b = s.as_bytes();
    for at in (0..b.len()).filter(|&i| b[i] == b'@') {
        let mut ls = at;
        while ls > 0 && email_local(b[ls - 1]) {
            ls -= 1;
        }
        while ls < at && matches!(b[ls], b'.' | b'-' | b'+') {
            ls += 1;
        }
        if ls == at || at - ls > 64 || b[at - 1] == b'.' {
            continue;
        }
        let mut de = run_end(b, at + 1, |c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-');
        while de > at + 1 && matches!(b[de - 1], b'.' | b'-') {
            de -= 1;
        }
        // `git@github.com:org/repo.git` is an SSH target, not a mailbox.
        let scp_target = b.get(de) == Some(&b':') && b.get(de + 1).is_some_and(|c| !c.is_ascii_whitespace());
        if !scp_target && mail_domain(&b[at + 1..de]) && out.free(ls, de) {
            out.emit(Hit::at(D::Email, ls, de));
        }
    }
}

/// How a byte run of an obfuscated address was rewritten.
#[derive(Clone, Copy, PartialEq)]
enum Rewrite {
    /// `[at]`, `(at)`, `{at}`, `<at>`, `＠`, `&#64;`, or an `@` with spaces around it.
    At,
    /// ` at ` as a plain word: an address only when its domain is written with ` dot ` too.
    AtWord,
    Dot,
}

/// An obfuscation marker at `i`: its rewrite and its end. Markers in brackets may have
/// spaces inside and around them; plain words need a space on each side.
fn obfuscation_at(b: &[u8], i: usize) -> Option<(Rewrite, usize)> {
    let word = |w: &[u8], at: usize| b.len() >= at + w.len() && b[at..at + w.len()].eq_ignore_ascii_case(w);
    let spaces = |mut k: usize| {
        while b.get(k) == Some(&b' ') {
            k += 1;
        }
        k
    };
    match b[i] {
        b'[' | b'(' | b'{' | b'<' => {
            let close = match b[i] {
                b'[' => b']',
                b'(' => b')',
                b'{' => b'}',
                _ => b'>',
            };
            let k = spaces(i + 1);
            let (what, k) = if word(b"at", k) {
                (Rewrite::At, k + 2)
            } else if word(b"dot", k) {
                (Rewrite::Dot, k + 3)
            } else {
                return None;
            };
            let k = spaces(k);
            (b.get(k) == Some(&close)).then(|| (what, spaces(k + 1)))
        }
        b' ' => {
            let k = spaces(i);
            let after = |n: usize| b.get(k + n).is_none_or(|c| !c.is_ascii_alphanumeric());
            if b.get(k) == Some(&b'@') {
                return Some((Rewrite::At, spaces(k + 1)));
            }
            if b.get(k).is_some_and(|c| matches!(c, b'[' | b'(' | b'{' | b'<')) {
                return obfuscation_at(b, k);
            }
            if word(b"at", k) && after(2) && b.get(k + 2) == Some(&b' ') {
                return Some((Rewrite::AtWord, spaces(k + 2)));
            }
            if word(b"dot", k) && after(3) && b.get(k + 3) == Some(&b' ') {
                return Some((Rewrite::Dot, spaces(k + 3)));
            }
            None
        }
        b'@' if b.get(i + 1) == Some(&b' ') => Some((Rewrite::At, spaces(i + 1))),
        0xEF if b[i..].starts_with("＠".as_bytes()) => Some((Rewrite::At, i + 3)),
        0xEF if b[i..].starts_with("．".as_bytes()) => Some((Rewrite::Dot, i + 3)),
        b'&' => [
            (&b"&#64;"[..], Rewrite::At),
            (b"&#x40;", Rewrite::At),
            (b"&commat;", Rewrite::At),
            (b"&#46;", Rewrite::Dot),
            (b"&period;", Rewrite::Dot),
        ]
        .iter()
        .find(|(m, _)| word(m, i))
        .map(|&(m, what)| (what, i + m.len())),
        _ => None,
    }
}

/// Cheap test for an obfuscation marker: a bracketed `at`, spaces around `@`, a fullwidth
/// `＠`, an HTML entity, or the words ` at ` and ` dot ` both. Without a bracket, `&` or
/// fullwidth form in the string (the counting pass says so) only the markers next to a space
/// remain, and the spaces are found with `memchr`.
fn may_be_obfuscated(b: &[u8], f: &Features) -> bool {
    if f.has(class::BRACKET) {
        return may_be_obfuscated_bracketed(b);
    }
    let (mut word_at, mut word_dot) = (false, false);
    for i in memchr::memchr_iter(b' ', b) {
        let rest = &b[i + 1..];
        if rest.first() == Some(&b'@') || (i > 0 && b[i - 1] == b'@') {
            return true;
        }
        word_at |= rest.len() >= 3 && rest[..2].eq_ignore_ascii_case(b"at") && rest[2] == b' ';
        word_dot |= rest.len() >= 4 && rest[..3].eq_ignore_ascii_case(b"dot") && rest[3] == b' ';
    }
    word_at && word_dot
}

/// [`may_be_obfuscated`] byte by byte, for strings with a bracket, `&` or a fullwidth form.
fn may_be_obfuscated_bracketed(b: &[u8]) -> bool {
    let (mut word_at, mut word_dot) = (false, false);
    for (i, w) in b.windows(2).enumerate() {
        let before = if i > 0 { b[i - 1] } else { b' ' };
        if w[0].eq_ignore_ascii_case(&b'a') && w[1].eq_ignore_ascii_case(&b't') {
            if matches!(before, b'[' | b'(' | b'{' | b'<')
                || (before == b' ' && i > 1 && matches!(b[i - 2], b'[' | b'(' | b'{' | b'<'))
            {
                return true;
            }
            word_at |= before == b' ' && b.get(i + 2) == Some(&b' ');
        }
        if w[0].eq_ignore_ascii_case(&b'd')
            && b.get(i + 2).is_some_and(|c| c.eq_ignore_ascii_case(&b't'))
            && w[1].eq_ignore_ascii_case(&b'o')
        {
            if matches!(before, b'[' | b'(' | b'{' | b'<') {
                return true;
            }
            word_dot |= before == b' ' && b.get(i + 3) == Some(&b' ');
        }
        if (w[0] == b' ' && w[1] == b'@')
            || (w[0] == b'@' && w[1] == b' ')
            || (w[0] == 0xEF && w[1] == 0xBC)
            || (w[0] == b'&' && (w[1] == b'#' || w[1] == b'c'))
        {
            return true;
        }
    }
    word_at && word_dot
}

/// Addresses written to dodge scrapers: `jane [at] example [dot] com`, `jane (at) x.io`,
/// `jane at example dot com`, `jane @ example.com`, `jane＠example.com`, `jane&#64;x.io`.
/// The markers are rewritten and the text read by the email detector; a plain-word ` at `
/// counts only when the domain's dots are written as words too (so "see us at shop.io" is
/// not an address).
fn obfuscated_emails(s: &str, f: &Features, out: &mut Out) {
    let b = s.as_bytes();
    if !may_be_obfuscated(b, f) {
        note!(
            out.trace,
            D::ObfuscatedEmail,
            false,
            "no obfuscated `at` ([at], (at), ` at `, ＠, &#64;, spaced @)"
        );
        return;
    }
    let mut text = Vec::with_capacity(b.len());
    let mut map: Vec<u32> = Vec::with_capacity(b.len() + 1);
    let mut marks: Vec<(usize, Rewrite)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if let Some((what, end)) = obfuscation_at(b, i) {
            marks.push((text.len(), what));
            map.push(i as u32);
            text.push(if what == Rewrite::Dot { b'.' } else { b'@' });
            i = end;
            continue;
        }
        map.push(i as u32);
        text.push(b[i]);
        i += 1;
    }
    map.push(b.len() as u32);
    let Ok(text) = String::from_utf8(text) else { return };
    let mut found = Vec::new();
    emails(&text, &mut Out::new(&mut |h: Hit| found.push(h), None));
    for h in found {
        let Some((ls, de)) = h.span else { continue };
        let at = marks.iter().find(|&&(p, w)| (ls..de).contains(&p) && w != Rewrite::Dot);
        let dotted_words = marks.iter().any(|&(p, w)| (ls..de).contains(&p) && w == Rewrite::Dot);
        match at {
            Some(&(_, Rewrite::AtWord)) if !dotted_words => {
                note!(
                    out.trace,
                    D::ObfuscatedEmail,
                    false,
                    "` at ` as a word, but the domain's dots are not written as words"
                );
            }
            Some(_) => {
                note!(
                    out.trace,
                    D::ObfuscatedEmail,
                    true,
                    "obfuscated address read as local@domain with a valid TLD"
                );
                out.emit_mapped(Hit::at(D::ObfuscatedEmail, ls, de), 0, s.len(), Some(&map));
            }
            None if dotted_words => {
                note!(out.trace, D::ObfuscatedEmail, true, "address with its dots obfuscated");
                out.emit_mapped(Hit::at(D::ObfuscatedEmail, ls, de), 0, s.len(), Some(&map));
            }
            None => {}
        }
    }
}

/// Alphanumeric words: IBAN (compact or grouped), NINO, PAN, wallet addresses.
fn words(s: &str, f: &Features, out: &mut Out) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let ws = i;
        let we = run_end(b, i, |c| c.is_ascii_alphanumeric());
        i = we;
        let w = &b[ws..we];
        if f.upper >= 2 && f.digits >= 2 {
            if let Some(end) = iban_at(b, ws, we) {
                out.emit(Hit::at(D::Iban, ws, end));
                i = end;
                continue;
            }
            if w.len() == 9 && v::uk_nino(w) {
                out.emit(Hit::at(D::UkNino, ws, we));
                continue;
            }
            if w.len() == 2 && we + 11 <= b.len() {
                let sp = &b[ws..we + 11];
                let shape = sp[2] == b' ' && sp[5] == b' ' && sp[8] == b' ' && sp[11] == b' ';
                if shape && (we + 11 == b.len() || !b[we + 11].is_ascii_alphanumeric()) {
                    let compact = [sp[0], sp[1], sp[3], sp[4], sp[6], sp[7], sp[9], sp[10], sp[12]];
                    if v::uk_nino(&compact) {
                        out.emit(Hit::at(D::UkNino, ws, we + 11));
                        i = we + 11;
                        continue;
                    }
                }
            }
            if w.len() == 10 && v::in_pan(w) {
                out.emit(Hit::at(D::InPan, ws, we));
                continue;
            }
        }
        if w.len() == 42 && (w.starts_with(b"0x") || w.starts_with(b"0X")) {
            if v::ethereum_address(&w[2..]) {
                out.emit(Hit::at(D::EthereumAddress, ws, we));
            }
            continue;
        }
        if w.len() >= 14 && (w[..3].eq_ignore_ascii_case(b"bc1") || w[..3].eq_ignore_ascii_case(b"tb1")) {
            if v::bitcoin_bech32(w) {
                out.emit(Hit::at(D::BitcoinBech32, ws, we));
            }
            continue;
        }
        if (25..=35).contains(&w.len()) && matches!(w[0], b'1' | b'3' | b'm' | b'n' | b'2') && v::bitcoin_base58(w) {
            out.emit(Hit::at(D::BitcoinBase58, ws, we));
        }
    }
}

/// An IBAN starting at word `[ws, we)`: compact, or in groups of four separated by single spaces.
fn iban_at(b: &[u8], ws: usize, we: usize) -> Option<usize> {
    let w = &b[ws..we];
    if w.len() < 4
        || !w[0].is_ascii_uppercase()
        || !w[1].is_ascii_uppercase()
        || !w[2].is_ascii_digit()
        || !w[3].is_ascii_digit()
    {
        return None;
    }
    let len = v::iban_length(&w[..2])?;
    if w.len() == len {
        return v::iban(w).then_some(we);
    }
    if w.len() != 4 {
        return None;
    }
    let mut compact = [0u8; 34];
    compact[..4].copy_from_slice(w);
    let mut n = 4;
    let mut end = we;
    while n < len && end + 1 < b.len() && b[end] == b' ' {
        let gs = end + 1;
        let ge = run_end(b, gs, |c| c.is_ascii_alphanumeric());
        let g = ge - gs;
        if g == 0 || g > 4 || n + g > len || (g < 4 && n + g != len) {
            return None;
        }
        for (k, &c) in b[gs..ge].iter().enumerate() {
            compact[n + k] = c.to_ascii_uppercase();
        }
        n += g;
        end = ge;
    }
    (n == len && v::iban(&compact[..n])).then_some(end)
}

/// IPv6 literals: hex-and-colon runs with two or more colons.
fn ipv6(s: &str, out: &mut Out) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_hexdigit() || c == b':') || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let mut end = run_end(b, i, |c| c.is_ascii_hexdigit() || c == b':' || c == b'.');
        let next = end;
        while end > i && b[end - 1] == b'.' {
            end -= 1;
        }
        let cand = &s[i..end];
        let glued = next < b.len() && b[next].is_ascii_alphanumeric();
        if !glued
            && cand.bytes().filter(|&c| c == b':').count() >= 2
            && let Ok(ip) = cand.parse::<std::net::Ipv6Addr>()
            && v::public_ipv6(ip)
            && out.free(i, end)
        {
            out.emit(Hit::at(D::Ipv6, i, end));
        }
        i = next.max(i + 1);
    }
}

/// A run of digit groups joined by phone/card punctuation.
struct Run {
    start: usize,
    plus: bool,
    paren: bool,
    groups: [(usize, usize); 12],
    n: usize,
}

const ID_CONTEXT: &[KeyKind] = &[KeyKind::NationalId, KeyKind::DocumentNumber];

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// Number-shaped candidates: IPv4, cards, Aadhaar, SSN, phone numbers.
fn numbers(s: &str, cx: &Cx, out: &mut Out) {
    let b = s.as_bytes();
    let mut run = Run {
        start: 0,
        plus: false,
        paren: false,
        groups: [(0, 0); 12],
        n: 0,
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let digit_next = b.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !(c.is_ascii_digit() || ((c == b'+' || c == b'(') && digit_next)) {
            i += 1;
            continue;
        }
        if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
            i = run_end(b, i + 1, |c| c.is_ascii_alphanumeric());
            continue;
        }
        read_run(b, i, &mut run);
        let end = run.groups[run.n - 1].1;
        i = end.max(i + 1);
        if end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            i = run_end(b, end, |c| c.is_ascii_alphanumeric());
            continue;
        }
        // A digit segment of a hyphenated identifier (UUIDs, Mixpanel device ids) is not a number.
        let joined_before =
            run.start >= 2 && matches!(b[run.start - 1], b'-' | b'_') && b[run.start - 2].is_ascii_alphanumeric();
        let joined_after = end + 1 < b.len() && matches!(b[end], b'-' | b'_') && b[end + 1].is_ascii_alphanumeric();
        if joined_before || joined_after {
            continue;
        }
        windows(s, &run, cx, out);
    }
}

fn read_run(b: &[u8], start: usize, run: &mut Run) {
    run.start = start;
    run.plus = false;
    run.paren = false;
    run.n = 0;
    let mut j = start;
    if b[j] == b'+' {
        run.plus = true;
        j += 1;
    }
    if b.get(j) == Some(&b'(') {
        run.paren = true;
        j += 1;
    }
    loop {
        let gs = j;
        j = run_end(b, j, |c| c.is_ascii_digit());
        if j == gs {
            break;
        }
        run.groups[run.n] = (gs, j);
        run.n += 1;
        if run.n == run.groups.len() {
            break;
        }
        let k = separator_end(b, j);
        if k > j && b.get(k).is_some_and(u8::is_ascii_digit) {
            j = k;
        } else {
            break;
        }
    }
    if run.n == 0 {
        run.groups[0] = (start, start + 1);
        run.n = 1;
    }
}

/// Bytes of one separator unit at `j` between digit groups: space, dash, dot, slash,
/// underscore, a parenthesis, or a Unicode space (no-break, figure, thin, narrow no-break).
fn separator_unit(b: &[u8], j: usize) -> usize {
    match b.get(j) {
        Some(b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'_') => 1,
        Some(0xC2) if b.get(j + 1) == Some(&0xA0) => 2,
        Some(0xE2) if b.get(j + 1) == Some(&0x80) && matches!(b.get(j + 2), Some(0x87 | 0x89 | 0xAF)) => 3,
        _ => 0,
    }
}

/// The end of a separator of one to three units starting at `j` (`j` when there is none).
fn separator_end(b: &[u8], j: usize) -> usize {
    let mut k = j;
    for _ in 0..3 {
        match separator_unit(b, k) {
            0 => break,
            n => k += n,
        }
    }
    k
}

/// A separator made of spaces only (ASCII or Unicode): "mixed spacing" between groups.
fn spacing(sep: &[u8]) -> bool {
    let mut k = 0;
    while k < sep.len() {
        match separator_unit(sep, k) {
            1 if sep[k] == b' ' => k += 1,
            n @ (2 | 3) => k += n,
            _ => return false,
        }
    }
    !sep.is_empty()
}

/// Card digit groups: the separators are all the same (or all spacing), and unless they are
/// a single space or dash the groups are the issuers' (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3).
fn card_grouping(b: &[u8], run: &Run, a: usize, z: usize) -> bool {
    if z == a {
        return true;
    }
    let sep = |k: usize| &b[run.groups[k].1..run.groups[k + 1].0];
    let first = sep(a);
    if first.contains(&b'(') || first.contains(&b')') {
        return false;
    }
    // Sixteen digits out of a longer, evenly grouped number (a 22-digit tracking number)
    // are not a card.
    let len = |k: usize| run.groups[k].1 - run.groups[k].0;
    if (a > 0 && sep(a - 1) == first && len(a - 1) >= 3) || (z + 1 < run.n && sep(z) == first && len(z + 1) >= 3) {
        return false;
    }
    let same = (a..z).all(|k| sep(k) == first);
    if same && matches!(first, b" " | b"-") {
        return true;
    }
    if !same && !(a..z).all(|k| spacing(sep(k))) {
        return false;
    }
    len(a) == 4 && (a + 1..z).all(|k| (4..=6).contains(&len(k))) && (2..=6).contains(&len(z))
}

/// Keys that make a bare digit string a product, order or barcode number (`sku`, `isbn`,
/// `gtin`, `order_ref`, items of a cart), or siblings that do when the digits are a valid
/// GS1 barcode number.
fn product_context(cx: &Cx, digits: &[u8]) -> bool {
    if matches!(cx.class.kind, KeyKind::Card | KeyKind::Phone) {
        return false;
    }
    cx.class.has(flags::PRODUCT)
        || cx.container.has(flags::PRODUCT)
        || (v::gtin(digits)
            && cx
                .siblings
                .is_some_and(|m| PRODUCT_SIBLINGS.iter().any(|k| m.contains_key(*k))))
}

fn windows(s: &str, run: &Run, cx: &Cx, out: &mut Out) {
    let mut a = 0;
    while a < run.n {
        let mut next = a + 1;
        for z in (a..run.n).rev() {
            if window(s, run, a, z, cx, out) {
                next = z + 1;
                break;
            }
        }
        a = next;
    }
}

/// Judges groups `a..=z` of a run; true when they were consumed (reported or a known non-PII form).
fn window(s: &str, run: &Run, a: usize, z: usize, cx: &Cx, out: &mut Out) -> bool {
    let b = s.as_bytes();
    let g = &run.groups[a..=z];
    let total: usize = g.iter().map(|&(x, y)| y - x).sum();
    if !(4..=19).contains(&total) {
        if a == 0 && z + 1 == run.n && total > 19 {
            note!(
                out.trace,
                D::CreditCard,
                false,
                "{total} digits in one run: longer than any card"
            );
        }
        return false;
    }
    if a == 0 && z + 1 == run.n && total < 13 {
        note!(out.trace, D::CreditCard, false, "{total} digits: cards have 13-19");
    }
    let sep = |k: usize| &b[run.groups[k].1..run.groups[k + 1].0];
    let plus = a == 0 && run.plus;
    let paren = a == 0 && run.paren;
    let start = if a == 0 { run.start } else { g[0].0 };
    let end = g[g.len() - 1].1;
    if !out.free(start, end) {
        return false;
    }
    let mut buf = [0u8; 19];
    let mut n = 0;
    for &(x, y) in g {
        buf[n..n + (y - x)].copy_from_slice(&b[x..y]);
        n += y - x;
    }
    let digits = &buf[..n];
    let lens = |want: &[usize]| g.len() == want.len() && g.iter().zip(want).all(|(&(x, y), &w)| y - x == w);
    let seps_all = |ok: &[&[u8]]| (a..z).all(|k| ok.contains(&sep(k)));
    let uniform = z == a || ((a..z).all(|k| sep(k) == sep(a)) && matches!(sep(a), b" " | b"-"));
    // Groups out of a longer, evenly grouped number (a 22-digit tracking number) are not a
    // card, an id or a phone number of their own.
    let glen = |k: usize| run.groups[k].1 - run.groups[k].0;
    let inner = (z > a).then(|| sep(a));
    let embedded = (a > 0 && inner.is_none_or(|i| i == sep(a - 1)) && glen(a - 1) >= 3)
        || (z + 1 < run.n && inner.is_none_or(|i| i == sep(z)) && glen(z + 1) >= 3);
    if embedded && !(z - a == 3 && seps_all(&[b"."])) {
        return false;
    }
    // A whole value that is a bare number under a product, order or shipment key (or beside
    // product keys) is that product's code, whatever its check digits.
    let whole = s[..start].trim().is_empty() && s[end..].trim().is_empty();
    if whole && product_context(cx, digits) {
        note!(
            out.trace,
            D::CreditCard,
            false,
            "{total} digits: a product, order or shipment code by its key"
        );
        return true;
    }

    if !plus && !paren && (13..=19).contains(&total) && g.iter().all(|&(x, y)| y - x >= 2) {
        if !card_grouping(b, run, a, z) {
            note!(
                out.trace,
                D::CreditCard,
                false,
                "{total} digits: groups are not a card's grouping"
            );
        } else if let Some(why) = v::card_rejection(digits) {
            note!(out.trace, D::CreditCard, false, "{total} digits: {why}");
        } else if whole && total == 13 && v::gtin(digits) && cx.class.kind != KeyKind::Card {
            // Thirteen-digit Visa numbers are no longer issued; EAN-13 barcodes are everywhere.
            note!(
                out.trace,
                D::CreditCard,
                false,
                "13 digits: a valid EAN-13 barcode, not a card"
            );
            return true;
        } else {
            note!(
                out.trace,
                D::CreditCard,
                true,
                "{total} digits, issuer {}, Luhn valid",
                v::card_issuer_name(digits).unwrap_or("?")
            );
            out.emit(Hit::at(D::CreditCard, start, end));
            return true;
        }
    }

    // IPv4: exactly four dotted groups, not part of a longer dotted chain.
    if z - a == 3 && !plus && !paren && seps_all(&[b"."]) {
        let chained = (a > 0 && sep(a - 1) == b".") || (z + 1 < run.n && sep(z) == b".");
        if chained || !g.iter().all(|&(x, y)| y - x <= 3) {
            return false;
        }
        let versions = cx.class.has(flags::VERSION) || cx.class.kind == KeyKind::UserAgent;
        if !versions
            && !version_before(b, start)
            && let Ok(ip) = s[start..end].parse::<std::net::Ipv4Addr>()
        {
            // A last octet of 0 or 255 names a network or broadcast, not a client.
            let host = !matches!(ip.octets()[3], 0 | 255);
            if host && v::public_ipv4(ip) {
                out.emit(Hit::at(D::Ipv4, start, end));
            }
        }
        return true;
    }
    if z > a && (a..z).any(|k| sep(k).contains(&b'.')) && !plus {
        // Dotted digit groups are versions, dates or amounts; phones use dots in NANP
        // (415.555.0100) and in national numbers with a trunk 0 (06.12.34.56.78).
        if lens(&[3, 3, 4]) && seps_all(&[b"."]) && phone_number(digits, false, &["US"]) {
            out.emit(Hit::at(D::Phone, start, end));
            return true;
        }
        let national =
            digits[0] == b'0' && (10..=12).contains(&total) && seps_all(&[b"."]) && g.iter().all(|&(x, y)| y - x >= 2);
        if national && phone_number(digits, false, NATIONAL_REGIONS) {
            out.emit(Hit::at(D::Phone, start, end));
            return true;
        }
        note!(
            out.trace,
            D::Phone,
            false,
            "{total} dotted digits: a version, date or amount, not a phone layout"
        );
        return false;
    }
    let id_key = ID_CONTEXT.contains(&cx.class.kind);
    if total == 12 && !plus && !paren && v::aadhaar(digits) {
        let grouped = lens(&[4, 4, 4]) && uniform;
        let bare = z == a && (id_key || contains_ci(b, b"aadhaar") || contains_ci(b, b"aadhar"));
        if grouped || bare {
            out.emit(Hit::at(D::InAadhaar, start, end));
            return true;
        }
    }
    if total == 9 && !plus && !paren && v::us_ssn(digits) {
        let grouped = lens(&[3, 2, 4]) && uniform;
        let bare = z == a && (id_key || contains_ci(b, b"ssn") || contains_ci(b, b"social security"));
        if grouped || bare {
            out.emit(Hit::at(D::UsSsn, start, end));
            return true;
        }
    }
    if phone_window(b, run, a, z, digits, cx) {
        note!(
            out.trace,
            D::Phone,
            true,
            "{total} digits in a phone layout, valid in libphonenumber's metadata"
        );
        out.emit(Hit::at(D::Phone, start, end));
        return true;
    }
    if z == a || a == 0 {
        note!(
            out.trace,
            D::Phone,
            false,
            "{total} digits: no `+`/`00` international number, national layout or phone key that validates"
        );
    }
    false
}

/// A dotted quad right after `v`/`V` or a version word is a version.
fn version_before(b: &[u8], start: usize) -> bool {
    if start > 0 && matches!(b[start - 1], b'v' | b'V') {
        return true;
    }
    // A product token: `Chrome/120.0.0.0`, `Build/10.0.1.2`.
    if start > 1 && b[start - 1] == b'/' && b[start - 2].is_ascii_alphabetic() {
        return true;
    }
    let head = &b[..start];
    let trimmed = head.trim_ascii_end();
    let word_start = trimmed
        .iter()
        .rposition(|c| !c.is_ascii_alphabetic())
        .map_or(0, |p| p + 1);
    let word = &trimmed[word_start..];
    ["version", "ver", "build", "release", "firmware", "sdk", "v"]
        .iter()
        .any(|w| w.as_bytes().eq_ignore_ascii_case(word))
}

/// Regions whose national formats (trunk prefix 0) are recognised without a `+`.
const NATIONAL_REGIONS: &[&str] = &["GB", "DE", "IN", "FR"];

fn phone_window(b: &[u8], run: &Run, a: usize, z: usize, digits: &[u8], cx: &Cx) -> bool {
    let g = &run.groups[a..=z];
    let sep = |k: usize| &b[run.groups[k].1..run.groups[k + 1].0];
    let plus = a == 0 && run.plus;
    let paren = a == 0 && run.paren;
    let n = digits.len();
    let mut len_buf = [0usize; 12];
    for (l, &(x, y)) in len_buf.iter_mut().zip(g) {
        *l = y - x;
    }
    let lens = &len_buf[..g.len()];
    let consistent = z > a && (a..z).all(|k| sep(k) == sep(a)) && !sep(a).contains(&b'(') && !sep(a).contains(&b')');
    let spaced = (a..z).all(|k| matches!(sep(k), b" " | b"-") || spacing(sep(k))) || consistent;
    if plus {
        // "+44 (0)20 …": the bracketed trunk zero is not dialled from abroad.
        if g.len() >= 3
            && lens[1] == 1
            && digits[lens[0]] == b'0'
            && sep(a).ends_with(b"(")
            && sep(a + 1).starts_with(b")")
        {
            let mut buf = [0u8; 19];
            buf[..lens[0]].copy_from_slice(&digits[..lens[0]]);
            buf[lens[0]..n - 1].copy_from_slice(&digits[lens[0] + 1..]);
            return phone_number(&buf[..n - 1], true, &[]);
        }
        return (8..=15).contains(&n) && phone_number(digits, true, &[]);
    }
    // "00" international access prefix.
    if n >= 10 && digits.starts_with(b"00") && (z == a || spaced) && phone_number(&digits[2..], true, &[]) {
        return true;
    }
    // NANP: (415) 555-0100, 415-555-0100, 415 555 0100, 1-415-555-0100.
    let nanp = match lens {
        [3, 3, 4] => {
            let first_ok = if paren {
                matches!(sep(a), b")" | b") ")
            } else {
                matches!(sep(a), b"-" | b" ")
            };
            first_ok && matches!(sep(a + 1), b"-" | b" ")
        }
        [1, 3, 3, 4] => digits[0] == b'1' && (a..z).all(|k| matches!(sep(k), b"-" | b" " | b" (" | b") ")),
        _ => false,
    };
    if nanp {
        return phone_number(digits, false, &["US"]);
    }
    // Trunk-prefix national numbers (UK 020 7946 0958, DE 030 1234567, IN 0xxxxx xxxxx).
    // Groups of one digit at either end are ISBN parts (0-306-40615-2), not a phone layout.
    let edges = lens[0] >= 2 && lens[lens.len() - 1] >= 2;
    if digits[0] == b'0' && (10..=12).contains(&n) && z > a && (spaced || paren) && edges {
        return phone_number(digits, false, NATIONAL_REGIONS);
    }
    // Indian mobile numbers written 5+5.
    if lens == [5, 5] && (b'6'..=b'9').contains(&digits[0]) && spaced {
        return phone_number(digits, false, &["IN"]);
    }
    if cx.class.kind == KeyKind::Phone && (7..=15).contains(&n) {
        return phone_number(digits, false, &["US", "GB", "IN", "DE"]) || (n >= 10 && phone_number(digits, true, &[]));
    }
    false
}

/// libphonenumber-metadata validation of a digit string, as international (calling code
/// first) or as dialled nationally in one of `regions`.
fn phone_number(digits: &[u8], international: bool, regions: &[&str]) -> bool {
    let Ok(text) = std::str::from_utf8(digits) else {
        return false;
    };
    if international {
        phone::valid_international(text)
    } else {
        phone::valid_national(text, regions)
    }
}

/// "lat,lon" pairs with 4+ decimals each, separated by a comma, semicolon, vertical bar,
/// slash or whitespace (one space allowed around the separator). A pair inside a longer
/// list of such numbers (a bounding box, chart or viewport geometry) is not a position
/// unless the key says it is a location.
fn coordinates(s: &str, cx: &Cx, out: &mut Out) {
    if cx.class.has(flags::RATIO) {
        note!(
            out.trace,
            D::Coordinates,
            false,
            "the key names a ratio, scale or range"
        );
        return;
    }
    let location = matches!(
        cx.class.kind,
        KeyKind::Coordinates | KeyKind::Latitude | KeyKind::Longitude
    ) || cx.class.has(flags::LOCATION)
        || cx.container.has(flags::LOCATION);
    let b = s.as_bytes();
    let pair_sep = |c: u8| matches!(c, b',' | b';' | b'|' | b'/' | b' ' | b'\t');
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        // A space is the separator only between two numbers, not beside another separator.
        let sep = pair_sep(c)
            && !(c == b' ' && (i == 0 || !b[i - 1].is_ascii_digit() || b.get(i + 1).is_some_and(|&n| pair_sep(n))));
        if !sep {
            i += 1;
            continue;
        }
        let (Some((ls, lat)), Some((re, lon))) = (number_left(b, i), number_right(b, i + 1)) else {
            i += 1;
            continue;
        };
        let before = b[..ls].trim_ascii_end();
        let listed_before = before.last().is_some_and(|&p| pair_sep(p))
            && before.len() >= 2
            && before[before.len() - 2].is_ascii_digit();
        let after = &b[re..];
        let after_sep = after.iter().take_while(|&&a| a == b' ').count();
        let listed_after = after.get(after_sep).is_some_and(|&a| pair_sep(a) && a != b' ')
            && after.get(after_sep + 1..).is_some_and(|r| {
                r.trim_ascii_start()
                    .first()
                    .is_some_and(|d| d.is_ascii_digit() || *d == b'-')
            })
            || (after_sep == 1 && after.get(1).is_some_and(u8::is_ascii_digit));
        if (listed_before || listed_after) && !location {
            note!(
                out.trace,
                D::Coordinates,
                false,
                "a pair inside a longer list of numbers (a box or geometry)"
            );
            i = re;
            continue;
        }
        if lat.abs() > 90.0 || lon.abs() > 180.0 || (lat.abs() < 1.0 && lon.abs() < 1.0 && !location) {
            note!(
                out.trace,
                D::Coordinates,
                false,
                "pair out of range, or both below 1 without a location key"
            );
            i += 1;
            continue;
        }
        if out.free(ls, re) {
            note!(
                out.trace,
                D::Coordinates,
                true,
                "latitude and longitude with 4+ decimals each, in range"
            );
            out.emit(Hit::at(D::Coordinates, ls, re));
        }
        i = re;
    }
}

/// A decimal number with 4+ decimals ending right before `end` (one space allowed).
fn number_left(b: &[u8], mut end: usize) -> Option<(usize, f64)> {
    if end > 0 && b[end - 1] == b' ' {
        end -= 1;
    }
    let frac_start = (0..end).rev().take_while(|&i| b[i].is_ascii_digit()).last()?;
    if end - frac_start < 4 || frac_start == 0 || b[frac_start - 1] != b'.' {
        return None;
    }
    let dot = frac_start - 1;
    let int_start = (0..dot).rev().take_while(|&i| b[i].is_ascii_digit()).last()?;
    if dot - int_start > 3 {
        return None;
    }
    let start = if int_start > 0 && b[int_start - 1] == b'-' {
        int_start - 1
    } else {
        int_start
    };
    if start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'.') {
        return None;
    }
    std::str::from_utf8(&b[start..end])
        .ok()?
        .parse()
        .ok()
        .map(|f| (start, f))
}

/// A decimal number with 4+ decimals starting at `start` (one space allowed).
fn number_right(b: &[u8], mut start: usize) -> Option<(usize, f64)> {
    if b.get(start) == Some(&b' ') {
        start += 1;
    }
    let digits_at = if b.get(start) == Some(&b'-') { start + 1 } else { start };
    let dot = run_end(b, digits_at, |c| c.is_ascii_digit());
    if dot == digits_at || dot - digits_at > 3 || b.get(dot) != Some(&b'.') {
        return None;
    }
    let end = run_end(b, dot + 1, |c| c.is_ascii_digit());
    if end - dot - 1 < 4 || (end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'.')) {
        return None;
    }
    std::str::from_utf8(&b[start..end]).ok()?.parse().ok().map(|f| (end, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// The space-driven test for obfuscation markers answers as the byte-by-byte one on
        /// strings without brackets, `&` or fullwidth forms (the strings it is used for).
        #[test]
        fn obfuscation_precheck_agrees_with_the_full_check(
            parts in proptest::collection::vec(proptest::prop_oneof![
                proptest::string::string_regex("[a-zA-Z0-9 .@_-]{0,8}").unwrap(),
                proptest::prelude::Just(" at ".to_string()), proptest::prelude::Just(" AT ".to_string()),
                proptest::prelude::Just(" dot ".to_string()), proptest::prelude::Just(" Dot ".to_string()),
                proptest::prelude::Just(" @ ".to_string()), proptest::prelude::Just("@ ".to_string()),
                proptest::prelude::Just(" @".to_string()), proptest::prelude::Just("  ".to_string()),
                proptest::prelude::Just("[at]".to_string()), proptest::prelude::Just("(dot)".to_string()),
                proptest::prelude::Just("&#64;".to_string()), proptest::prelude::Just("＠".to_string()),
            ], 0..8),
        ) {
            let text = parts.concat();
            let b = text.as_bytes();
            proptest::prop_assert_eq!(may_be_obfuscated(b, &Features::of(b)), may_be_obfuscated_bracketed(b));
        }
    }

    #[test]
    fn find_matches_a_window_search() {
        let hay = b"https://hooks.slack.com/services/T000/B000/XXXX hooks";
        for needle in [&b"hooks.slack.com/services/"[..], b"hooks", b"XXXX", b"missing", b"s"] {
            assert_eq!(find(hay, needle), hay.windows(needle.len()).position(|w| w == needle));
        }
    }
}
