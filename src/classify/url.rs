//! URLs taken apart: userinfo, host, path segments, query parameters, fragment.
//!
//! Query values are judged by their parameter name as if it were a property key
//! (`?token=…` is a credential whatever it looks like, `?phone=…` validates leniently) and
//! scanned after percent- and form-decoding; path segments and fragments are scanned
//! after percent-decoding. Spans always refer to the original, encoded bytes, so a policy
//! can redact `jane%40gmail.com` inside a URL and keep the rest.

use super::detectors::DetectorId as D;
use super::keys::{KeyClass, classify_key};
use super::scan::{Cx, Decode, Hit, Out, note, scan_part};
use super::validate;

/// How a whole string is a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `scheme://authority/path?query#fragment` (or `www.…`, `//…`); the authority starts here.
    Absolute { authority: usize },
    /// `/path?query#fragment`.
    Path,
    /// `?query#fragment`.
    Query,
}

fn scheme_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-')
}

/// Whether the whole string is a URL, path or query string (no whitespace).
pub fn kind(s: &str) -> Option<Kind> {
    let b = s.as_bytes();
    let k = match b.first()? {
        b'/' if b.get(1) == Some(&b'/') => Kind::Absolute { authority: 2 },
        b'/' => Kind::Path,
        b'?' => Kind::Query,
        c if c.is_ascii_alphabetic() => {
            // The scheme runs up to "://" (32 bytes at most); stop at the first byte that
            // cannot be in one, without reading a long word to its end. A `www.` host needs
            // a byte after it that no scheme has (a path, a port).
            let p = b.iter().take(33).position(|&c| !scheme_char(c));
            if let Some(p) = p
                && b[p..].starts_with(b"://")
            {
                Kind::Absolute { authority: p + 3 }
            } else if b.len() > 4 && b[..4].eq_ignore_ascii_case(b"www.") && b.iter().any(|&c| !scheme_char(c)) {
                Kind::Absolute { authority: 0 }
            } else {
                return None;
            }
        }
        _ => return None,
    };
    if b.iter().any(u8::is_ascii_whitespace) {
        return None;
    }
    Some(k)
}

/// Scans a whole-string URL.
pub(super) fn scan(s: &str, kind: Kind, cx: &Cx, out: &mut Out) {
    scan_range(s, 0, s.len(), kind, cx, out);
}

fn position(b: &[u8], from: usize, to: usize, pred: impl Fn(u8) -> bool) -> Option<usize> {
    b[from..to].iter().position(|&c| pred(c)).map(|p| from + p)
}

/// Scans the URL occupying `[start, end)` of `s`.
fn scan_range(s: &str, start: usize, end: usize, kind: Kind, cx: &Cx, out: &mut Out) {
    let b = s.as_bytes();
    // A custom scheme's "host" is often a route (`myapp://reset/…`): it counts as the
    // segment before the path.
    let mut host: &[u8] = &[];
    let path_start = match kind {
        Kind::Absolute { authority } => {
            let auth_end = position(b, authority, end, |c| matches!(c, b'/' | b'?' | b'#')).unwrap_or(end);
            authority_part(s, authority, auth_end, cx, out);
            let web = authority >= 3 && {
                let scheme = &b[start..authority - 3];
                scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")
            };
            if !web && authority > 0 {
                host = &b[authority..auth_end];
            }
            auth_end
        }
        Kind::Path => start,
        Kind::Query => {
            let hash = position(b, start, end, |c| c == b'#').unwrap_or(end);
            query(s, start + 1, hash, cx, out);
            if hash < end {
                fragment(s, hash + 1, end, cx, out);
            }
            return;
        }
    };
    let hash = position(b, path_start, end, |c| c == b'#').unwrap_or(end);
    let question = position(b, path_start, hash, |c| c == b'?').unwrap_or(hash);
    path_after(s, path_start, question, host, cx, out);
    if question < hash {
        query(s, question + 1, hash, cx, out);
    }
    if hash < end {
        fragment(s, hash + 1, end, cx, out);
    }
}

fn authority_part(s: &str, start: usize, end: usize, cx: &Cx, out: &mut Out) {
    let b = s.as_bytes();
    let mut host = start;
    if let Some(at) = b[start..end].iter().rposition(|&c| c == b'@').map(|p| start + p) {
        match position(b, start, at, |c| c == b':') {
            Some(colon) => {
                if at > colon + 1 {
                    out.emit(Hit::at(D::UrlPassword, colon + 1, at));
                }
                scan_part(s, start, colon, KeyClass::NONE, Decode::Percent, false, cx, out);
            }
            None => scan_part(s, start, at, KeyClass::NONE, Decode::Percent, false, cx, out),
        }
        host = at + 1;
    }
    if b.get(host) == Some(&b'[') {
        if let Some(close) = position(b, host, end, |c| c == b']') {
            scan_part(s, host + 1, close, KeyClass::NONE, Decode::Percent, false, cx, out);
        }
        return;
    }
    let host_end = b[host..end].iter().rposition(|&c| c == b':').map_or(end, |p| host + p);
    if b[host..host_end].iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        scan_part(s, host, host_end, KeyClass::NONE, Decode::Percent, false, cx, out);
    }
}

/// Path segments after which the next segment grants access: password resets, email
/// verification, magic sign-in links, invitations, unsubscribe and activation links.
/// Matched per word of the segment in any case style (`reset-password`, `verifyEmail`).
const SECRET_BEARING_WORDS: &[&str] = &[
    "reset",
    "password",
    "passwd",
    "verify",
    "verification",
    "confirm",
    "confirmation",
    "magic",
    "token",
    "invite",
    "invitation",
    "unsubscribe",
    "activate",
    "activation",
    "auth",
    "login",
    "signin",
    "sso",
    "otp",
    "recover",
    "recovery",
    "claim",
    "accept",
];

/// The words of a path segment in any case style: `reset-password`, `verifyEmail`, `magic_link`.
fn segment_words(seg: &[u8], mut f: impl FnMut(&[u8]) -> bool) -> bool {
    let mut i = 0;
    while i < seg.len() {
        if !seg[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        if seg[start].is_ascii_uppercase() && seg.get(i).is_some_and(u8::is_ascii_uppercase) {
            // SCREAMING words; an uppercase run before a lowercase letter ends one early (`URLToken`).
            while i < seg.len() && seg[i].is_ascii_uppercase() && !seg.get(i + 1).is_some_and(u8::is_ascii_lowercase) {
                i += 1;
            }
        } else {
            while i < seg.len() && seg[i].is_ascii_lowercase() {
                i += 1;
            }
        }
        if f(&seg[start..i]) {
            return true;
        }
    }
    false
}

fn secret_bearing(seg: &[u8]) -> bool {
    segment_words(seg, |w| {
        SECRET_BEARING_WORDS
            .iter()
            .any(|s| s.as_bytes().eq_ignore_ascii_case(w))
    })
}

/// A slug: words of letters or of digits joined by `-`, `_` or `.` (`how-to-reset-2024`,
/// `My-Great-Post`), never a word mixing letters and digits.
fn slug(seg: &[u8]) -> bool {
    seg.split(|&c| matches!(c, b'-' | b'_' | b'.'))
        .all(|w| w.iter().all(u8::is_ascii_alphabetic) || w.iter().all(u8::is_ascii_digit))
}

/// Why a path segment is a credential (`None` when it is not): by shape, or by the segment
/// before it.
fn path_secret(seg: &[u8], prev: &[u8]) -> Option<&'static str> {
    let token_chars = seg
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'='));
    if !token_chars || seg.len() > 512 {
        return None;
    }
    let (upper, lower, digit) = (
        seg.iter().any(u8::is_ascii_uppercase),
        seg.iter().any(u8::is_ascii_lowercase),
        seg.iter().any(u8::is_ascii_digit),
    );
    let hex_or_uuid = validate::uuid(seg) || seg.iter().all(|c| c.is_ascii_hexdigit());
    if seg.len() >= 20
        && upper
        && lower
        && (digit || seg.len() >= 32)
        && !hex_or_uuid
        && !slug(seg)
        && validate::shannon_entropy(seg) >= 3.5
    {
        return Some("a 20+ character mixed-case high-entropy token");
    }
    // After a reset/verify/invite/… segment, any opaque value of 8+ characters: random
    // letters and digits, a UUID or a digest (not a word, a slug or a plain number).
    if prev.is_empty() || seg.len() < 8 || slug(seg) || !secret_bearing(prev) {
        return None;
    }
    let letters = seg.iter().filter(|c| c.is_ascii_alphabetic()).count();
    (letters > 0 && (digit || (upper && lower)) || hex_or_uuid)
        .then_some("an opaque value after a secret-bearing segment")
}

/// Reports a path segment that is a credential; spans are the raw segment.
fn secret_segment(s: &str, start: usize, end: usize, prev: &[u8], out: &mut Out) {
    let seg = &s.as_bytes()[start..end];
    match path_secret(seg, prev) {
        Some(why) if out.free(start, end) => {
            note!(out.trace, D::UrlPathSecret, true, "path segment: {why}");
            out.emit(Hit::at(D::UrlPathSecret, start, end));
        }
        Some(_) => {}
        None => note!(
            out.trace,
            D::UrlPathSecret,
            false,
            "path segment of {} bytes: not token-shaped and not after a secret-bearing segment",
            seg.len()
        ),
    }
}

/// Path segments; `prev` is what precedes the first one (a custom scheme's host, `reset`
/// in `myapp://reset/…`).
fn path_after(s: &str, start: usize, end: usize, prev: &[u8], cx: &Cx, out: &mut Out) {
    let b = s.as_bytes();
    let mut seg = start;
    let mut prev = prev;
    while seg < end {
        let seg_end = position(b, seg, end, |c| c == b'/').unwrap_or(end);
        if seg_end > seg {
            match position(b, seg, seg_end, |c| c == b';') {
                // Matrix parameters: `/cart;jsessionid=…`.
                Some(semi) => {
                    scan_part(s, seg, semi, KeyClass::NONE, Decode::Percent, false, cx, out);
                    params(s, semi + 1, seg_end, b';', Decode::Percent, cx, out);
                }
                None => {
                    scan_part(s, seg, seg_end, KeyClass::NONE, Decode::Percent, false, cx, out);
                    secret_segment(s, seg, seg_end, prev, out);
                }
            }
            prev = &b[seg..seg_end];
        }
        seg = seg_end + 1;
    }
}

fn path(s: &str, start: usize, end: usize, cx: &Cx, out: &mut Out) {
    path_after(s, start, end, &[], cx, out);
}

fn query(s: &str, start: usize, end: usize, cx: &Cx, out: &mut Out) {
    params(s, start, end, b'&', Decode::Form, cx, out);
}

/// `key=value` pairs separated by `sep`; each value judged by its key.
fn params(s: &str, start: usize, end: usize, sep: u8, decode: Decode, cx: &Cx, out: &mut Out) {
    let b = s.as_bytes();
    let mut p = start;
    while p < end {
        let p_end = position(b, p, end, |c| c == sep).unwrap_or(end);
        if p_end > p {
            match position(b, p, p_end, |c| c == b'=') {
                Some(eq) => {
                    let raw_key = &s[p..eq];
                    let class = match decode.apply(raw_key) {
                        Some((key, _)) => classify_key(&key),
                        None => classify_key(raw_key),
                    };
                    scan_part(s, eq + 1, p_end, class, decode, true, cx, out);
                }
                None => scan_part(s, p, p_end, KeyClass::NONE, decode, false, cx, out),
            }
        }
        p = p_end + 1;
    }
}

fn fragment(s: &str, start: usize, end: usize, cx: &Cx, out: &mut Out) {
    let b = s.as_bytes();
    let frag = &b[start..end];
    if frag.starts_with(b"/") || frag.starts_with(b"!/") {
        // Hash routing: `#/users/jane@x.io?tab=1`.
        let p = if frag[0] == b'!' { start + 1 } else { start };
        let question = position(b, p, end, |c| c == b'?').unwrap_or(end);
        path(s, p, question, cx, out);
        if question < end {
            query(s, question + 1, end, cx, out);
        }
    } else if frag.contains(&b'=') {
        // OAuth implicit flow and friends: `#access_token=…&token_type=bearer`.
        query(s, start, end, cx, out);
    } else {
        scan_part(s, start, end, KeyClass::NONE, Decode::Percent, false, cx, out);
        secret_segment(s, start, end, &[], out);
    }
}

/// Characters that end a URL written inside free text.
fn url_end(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b'"' | b'\'' | b'<' | b'>' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'`' | b'|' | b'\\' | b'^'
        )
}

/// URLs inside free text (`see https://…?email=… for details`).
pub(super) fn embedded(s: &str, cx: &Cx, out: &mut Out) {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(p) = b[from..].windows(3).position(|w| w == b"://").map(|p| from + p) {
        from = p + 3;
        let mut us = p;
        while us > 0 && scheme_char(b[us - 1]) {
            us -= 1;
        }
        if p - us < 2 || !b[us].is_ascii_alphabetic() {
            continue;
        }
        let mut ue = p + 3;
        while ue < b.len() && !url_end(b[ue]) {
            ue += 1;
        }
        while ue > p + 3 && matches!(b[ue - 1], b'.' | b',' | b';' | b':' | b'!' | b'?') {
            ue -= 1;
        }
        if ue > p + 3 {
            scan_range(s, us, ue, Kind::Absolute { authority: p + 3 }, cx, out);
        }
        from = ue.max(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind("https://x.io/a?b=c"), Some(Kind::Absolute { authority: 8 }));
        assert_eq!(kind("tasklane://home"), Some(Kind::Absolute { authority: 11 }));
        assert_eq!(kind("/users/a@b.co/settings"), Some(Kind::Path));
        assert_eq!(kind("?email=a%40b.co"), Some(Kind::Query));
        assert_eq!(kind("www.example.com/a"), Some(Kind::Absolute { authority: 0 }));
        assert_eq!(kind("see https://x.io"), None);
        assert_eq!(kind("W/\"abc\""), None);
        assert_eq!(kind("$direct"), None);
        // A host alone, a long word, a scheme past 32 bytes: not URLs.
        assert_eq!(kind("www.example.com"), None);
        assert_eq!(kind("newsletter_spring_sale_2024_variant_b_final"), None);
        assert_eq!(kind(&format!("{}://x.io/a", "s".repeat(33))), None);
        assert_eq!(
            kind(&format!("{}://x.io/a", "s".repeat(32))),
            Some(Kind::Absolute { authority: 35 })
        );
    }

    #[test]
    fn path_secrets_by_shape_or_by_the_segment_before() {
        assert!(secret_bearing(b"resetPassword"));
        assert!(secret_bearing(b"magic_link"));
        assert!(secret_bearing(b"VERIFY-EMAIL"));
        assert!(!secret_bearing(b"products"));
        assert!(slug(b"how-to-reset-2024"));
        assert!(!slug(b"a8Kd92LmQx7Pz3Rt"));
        assert!(path_secret(b"q8Zr2LmX0vTn4WcYp7HsKd", b"files").is_some());
        assert!(path_secret(b"9f2c1a7be04d4b3e8a6f0c5d2e1b7a9c", b"commit").is_none());
        assert!(path_secret(b"9f2c1a7be04d4b3e8a6f0c5d2e1b7a9c", b"confirm").is_some());
        assert!(path_secret(b"Wireless-Noise-Cancelling-Headphones", b"invite").is_none());
        assert!(path_secret(b"12345678", b"invite").is_none());
        assert!(path_secret(b"success", b"reset").is_none());
    }
}
