//! The value of a hexadecimal digit (`\u` escapes, digests). Decimal digits of integers
//! come from `itoa`.

/// The value of one hexadecimal digit, either case.
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// 32 bytes from exactly 64 hex digits (either case).
pub(crate) fn unhex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        out[i] = hex_value(pair[0])? << 4 | hex_value(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_digits_have_their_values() {
        for (i, c) in "0123456789abcdef".bytes().enumerate() {
            assert_eq!(super::hex_value(c), Some(i as u8));
            assert_eq!(super::hex_value(c.to_ascii_uppercase()), Some(i as u8));
        }
        for c in [b'g', b'G', b' ', b'/', b':', b'@', b'`', 0xff] {
            assert_eq!(super::hex_value(c), None);
        }
    }
}
