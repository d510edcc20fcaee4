//! Decimal digits of an integer without allocating or going through `fmt` (the classifier
//! reads a number's digits per leaf; `subjects.csv` writes millions of counts).

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
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 10, 99, 1_000_000, u64::MAX] {
            let mut buf = [0u8; 20];
            assert_eq!(super::u64_digits(n, &mut buf), n.to_string().as_bytes());
        }
    }
}
