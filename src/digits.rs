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
