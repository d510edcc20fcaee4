//! Digits without allocating or going through `fmt`: the decimal digits of an integer (the
//! classifier reads a number's digits per leaf; `subjects.csv` writes millions of counts),
//! and the value of a hexadecimal digit (percent escapes, `\u` escapes, digests).

/// The value of one hexadecimal digit, either case.
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The decimal digits of `u`, written into the end of `buf`.
pub(crate) fn u64_digits(mut u: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    &buf[i..]
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

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 10, 99, 1_000_000, u64::MAX] {
            let mut buf = [0u8; 20];
            assert_eq!(super::u64_digits(n, &mut buf), n.to_string().as_bytes());
        }
    }
}
