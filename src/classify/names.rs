//! A compact model of people's names: a gazetteer of given and family names across
//! cultures, plus the shape of a name.
//!
//! The lists (`data/given_names.txt`, `data/family_names.txt`, about 26,000 tokens each,
//! 490 KB in the binary) come from the person providers of the MIT-licensed Faker package,
//! every locale: Latin names with diacritics and names in Han, Hangul, Kana, Cyrillic,
//! Arabic, Devanagari, Greek, Hebrew and other scripts. `scripts/gen-name-gazetteer.py`
//! regenerates them (`data/NAMES-LICENSE` keeps the notice). They are lowercase, sorted by
//! bytes and searched in place (binary search over a slice of lines built on first use).
//!
//! [`full_name`] accepts 2–4 tokens of which at least one is a known given name and every
//! other is a known name, a name particle (`van`, `de`, `bin`) or, in scripts with case,
//! a capitalised word; in scripts without case (Han, Arabic, Devanagari, Hebrew …) every
//! token must be known. Han, Hangul and Kana names written without a space (`王伟`,
//! `김민준`) are split into a known family name and a known given name. The gazetteer says
//! nothing on its own about a single word: "Grace" or "Jordan" is read as a name only under
//! a name key.

use std::sync::LazyLock;

use super::keys::{KeyKind, flags};
use super::scan::Cx;

const GIVEN_TEXT: &str = include_str!("data/given_names.txt");
const FAMILY_TEXT: &str = include_str!("data/family_names.txt");

static GIVEN: LazyLock<Vec<&'static str>> = LazyLock::new(|| lines(GIVEN_TEXT));
static FAMILY: LazyLock<Vec<&'static str>> = LazyLock::new(|| lines(FAMILY_TEXT));

fn lines(text: &'static str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = text.lines().filter(|l| !l.is_empty()).collect();
    // The generator sorts by bytes; sorting again keeps a hand edit from breaking lookups.
    v.sort_unstable();
    v.dedup();
    v
}

/// Particles that stay lowercase inside names.
const PARTICLES: &[&str] = &[
    "van", "von", "de", "der", "den", "da", "di", "del", "della", "la", "le", "bin", "binti", "al", "el", "ben", "ter",
    "ten", "dos", "das", "du", "y", "e", "zu", "ibn", "bint", "abu",
];

fn find(list: &[&str], token: &str) -> bool {
    if token.len() > 64 {
        return false;
    }
    let mut buf = [0u8; 256];
    let lower = lowercase(token, &mut buf);
    list.binary_search(&lower).is_ok()
}

/// Lowercases into `buf` without allocating when the token is ASCII.
fn lowercase<'a>(token: &'a str, buf: &'a mut [u8; 256]) -> &'a str {
    if token.is_ascii() && token.len() <= buf.len() {
        let b = &mut buf[..token.len()];
        b.copy_from_slice(token.as_bytes());
        b.make_ascii_lowercase();
        // ASCII stays valid UTF-8 after lowercasing.
        return std::str::from_utf8(b).unwrap_or(token);
    }
    let mut n = 0;
    for c in token.chars().flat_map(char::to_lowercase) {
        let mut tmp = [0u8; 4];
        let s = c.encode_utf8(&mut tmp);
        if n + s.len() > buf.len() {
            return token;
        }
        buf[n..n + s.len()].copy_from_slice(s.as_bytes());
        n += s.len();
    }
    std::str::from_utf8(&buf[..n]).unwrap_or(token)
}

/// A known given name (any script, any case).
pub fn is_given(token: &str) -> bool {
    find(&GIVEN, token.trim_matches(|c| c == '.' || c == ','))
}

/// A known family name.
pub fn is_family(token: &str) -> bool {
    find(&FAMILY, token.trim_matches(|c| c == '.' || c == ','))
}

fn is_known(token: &str) -> bool {
    is_given(token) || is_family(token)
}

/// Letters of scripts written without spaces between family and given name.
fn unspaced(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7AF}')
}

/// A letter of a script with upper and lower case.
fn cased(c: char) -> bool {
    c.is_uppercase() || c.is_lowercase()
}

/// A letter or a combining mark of a name (Devanagari viramas and vowel signs, Hebrew and
/// Arabic points, Latin combining accents, joiners).
pub fn name_char(c: char) -> bool {
    c.is_alphabetic()
        || matches!(c,
            '\u{0300}'..='\u{036F}' | '\u{0483}'..='\u{0489}' | '\u{0591}'..='\u{05C7}'
            | '\u{0610}'..='\u{061A}' | '\u{064B}'..='\u{065F}' | '\u{0670}'
            | '\u{0900}'..='\u{0963}' | '\u{0971}'..='\u{0DFF}'
            | '\u{3099}'..='\u{309A}' | '\u{200C}' | '\u{200D}')
}

fn name_token(w: &str) -> bool {
    w.chars().all(|c| name_char(c) || matches!(c, '-' | '\'' | '.' | '’'))
        && w.chars().filter(|c| c.is_alphabetic()).count() >= 1
}

/// A Han, Hangul or Kana name without a space: a known family name of one or two
/// characters and a known given name.
fn unspaced_name(s: &str) -> bool {
    let n = s.chars().count();
    if !(2..=5).contains(&n) || !s.chars().all(unspaced) {
        return false;
    }
    s.char_indices()
        .skip(1)
        .take(2)
        .any(|(i, _)| is_family(&s[..i]) && is_given(&s[i..]))
}

/// A person's full name by the gazetteer (see the module docs).
pub fn full_name(s: &str) -> bool {
    let t = s.trim();
    if t.is_empty() || t.len() > 80 {
        return false;
    }
    // No allocation: most strings fail the cheap checks before any lookup.
    let n = t.split_whitespace().count();
    let mut tokens = t.split_whitespace();
    let (Some(first), second) = (tokens.next(), tokens.next()) else {
        return false;
    };
    if n == 1 {
        return unspaced_name(first)
            || first.split('・').filter(|p| !p.is_empty()).count() == 2 && katakana_pair(first);
    }
    if !(2..=4).contains(&n) || !t.split_whitespace().all(name_token) {
        return false;
    }
    // The given name leads (`Emma Smith`), or follows a leading family name (`Nguyễn Anh`,
    // `Petrov Ivan`); a known given name elsewhere (`New York City`) does not count.
    let given = is_given(first) || (is_family(first) && second.is_some_and(is_given));
    if !given {
        return false;
    }
    for (i, w) in t.split_whitespace().enumerate() {
        if is_known(w) {
            continue;
        }
        if i > 0 && i + 1 < n && PARTICLES.iter().any(|p| p.eq_ignore_ascii_case(w)) {
            continue;
        }
        let first = w.chars().next().unwrap_or(' ');
        // Capitalised in a cased script, with a lowercase letter after (not an acronym).
        let capitalised = cased(first) && first.is_uppercase() && w.chars().skip(1).any(char::is_lowercase);
        if !capitalised {
            return false;
        }
    }
    true
}

/// The `name` value detector: a full name under a key that says nothing, where nothing
/// says it is a thing (see the module docs and `detectors::DETECTORS`).
pub fn unkeyed(s: &str, cx: &Cx) -> bool {
    let b = s.as_bytes();
    if cx.class.kind != KeyKind::None
        || !(3..=80).contains(&b.len())
        || !cx.people
        || cx.class.has(flags::NOT_PERSON | flags::PRODUCT | flags::VERSION)
        || cx.container.has(flags::PRODUCT)
        || b.iter()
            .any(|c| c.is_ascii_digit() || matches!(c, b'@' | b'/' | b':' | b'_' | b'=' | b'?' | b'&'))
    {
        return false;
    }
    if product_siblings(cx) {
        return strong_full_name(s);
    }
    full_name(s)
}

/// Whether the value's object has product keys beside it (`sku`, `price`).
pub fn product_siblings(cx: &Cx) -> bool {
    cx.siblings
        .is_some_and(|m| super::scan::PRODUCT_SIBLINGS.iter().any(|k| m.contains_key(*k)))
}

/// A full name every token of which is in the gazetteer (or a particle), led by a given
/// name: strong enough to stand beside product keys (`Emma Harris`, not `Emma Sofa`).
pub fn strong_full_name(s: &str) -> bool {
    full_name(s)
        && s.split_whitespace()
            .all(|w| is_known(w) || PARTICLES.iter().any(|p| p.eq_ignore_ascii_case(w)))
}

/// `ジョン・スミス`: two katakana parts, the first a known given name.
fn katakana_pair(s: &str) -> bool {
    let mut parts = s.split('・');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => is_given(a) && (is_known(b) || b.chars().count() >= 2),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gazetteer_knows_names_across_scripts() {
        for n in [
            "Emma",
            "josé",
            "Zoë",
            "Иван",
            "Мария",
            "राहुल",
            "محمد",
            "Γιώργος",
            "יעל",
            "秀英",
            "지훈",
        ] {
            assert!(is_given(n), "{n}");
        }
        for n in ["Smith", "García", "Петров", "शर्मा", "王", "김", "Παπαδόπουλος", "כהן"]
        {
            assert!(is_family(n), "{n}");
        }
        assert!(!is_given("Dashboard"));
        assert!(!is_given("Summer"));
    }

    #[test]
    fn full_names() {
        let yes = [
            "Emma Smith",
            "José María García",
            "Ludwig van Beethoven",
            "Иван Петров",
            "राहुल शर्मा",
            "王秀英",
            "박지훈",
            "Γιώργος Παπαδόπουλος",
            "Chiara Zanetti-Rossi",
        ];
        for s in yes {
            assert!(full_name(s), "{s}");
        }
        let no = [
            "Marble Falls",
            "Pro Plan",
            "emma smith and more",
            "Emma",
            "New York City",
            "Blue Ocean Cafe Downtown Branch",
            "EMMA SMITH LTD",
            "Acme Corp",
            "www.example.com",
            "王",
        ];
        for s in no {
            assert!(!full_name(s), "{s}");
        }
    }
}
