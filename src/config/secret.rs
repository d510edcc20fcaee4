//! A string that must never be printed: vendor credentials, source tokens, import secrets.

use std::fmt;

/// A secret value. `Debug` and `Display` print `[redacted]`; the value is reachable only
/// through [`Secret::expose`], which makes every use easy to find.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in constant time ([`constant_time_eq`]): timing tells neither how much of a
    /// guess was right nor whether its length was.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Equality that tells a timing observer nothing about where, or whether, the inputs differ.
///
/// Both sides are hashed to fixed-size SHA-256 digests first, so lengths do not cause an
/// early return; the digests are then compared with `subtle`'s constant-time equality. Two
/// different inputs with the same digest would be a SHA-256 collision.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    Sha256::digest(a).as_slice().ct_eq(Sha256::digest(b).as_slice()).into()
}

/// Resolves `"${NAME}"` from the environment; any other string is taken literally.
/// The error names the variable, never a value.
pub fn resolve(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Secret, String> {
    match raw.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(name) if !name.is_empty() => match env(name) {
            Some(value) if !value.is_empty() => Ok(Secret(value)),
            Some(_) => Err(format!("environment variable {name} is empty")),
            None => Err(format!("environment variable {name} is not set")),
        },
        _ => Ok(Secret(raw.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
    }

    #[test]
    fn resolves_environment_references() {
        let env = |k: &str| (k == "MP_SECRET").then(|| "abc".to_owned());
        assert_eq!(resolve("${MP_SECRET}", &env).unwrap().expose(), "abc");
        assert_eq!(resolve("literal", &env).unwrap().expose(), "literal");
        let err = resolve("${MISSING}", &env).unwrap_err();
        assert!(err.contains("MISSING") && err.contains("not set"));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
