//! Checksums and format rules from the identifiers' own specifications.
//!
//! Every function here is pure, allocation-free unless it says otherwise, and takes the
//! candidate exactly as the scanner isolated it (digits only, or the compact form).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sha2::{Digest, Sha256};

/// Luhn (ISO/IEC 7812-1) over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Card issuer prefixes (IIN ranges) with the lengths each scheme issues.
/// `(low, high, prefix digits, min length, max length)`.
/// `(low, high, prefix digits, min length, max length, scheme)`.
const IIN_RANGES: &[(u32, u32, usize, usize, usize, &str)] = &[
    (4, 4, 1, 13, 19, "Visa"),
    (51, 55, 2, 16, 16, "Mastercard"),
    (2221, 2720, 4, 16, 16, "Mastercard"),
    (34, 34, 2, 15, 15, "American Express"),
    (37, 37, 2, 15, 15, "American Express"),
    (6011, 6011, 4, 16, 19, "Discover"),
    (644, 649, 3, 16, 19, "Discover"),
    (65, 65, 2, 16, 19, "Discover/RuPay"),
    (622126, 622925, 6, 16, 19, "Discover/UnionPay"),
    (62, 62, 2, 16, 19, "UnionPay"),
    (300, 305, 3, 14, 19, "Diners Club"),
    (3095, 3095, 4, 14, 19, "Diners Club"),
    (36, 36, 2, 14, 19, "Diners Club"),
    (38, 39, 2, 14, 19, "Diners Club"),
    (3528, 3589, 4, 16, 19, "JCB"),
    (2200, 2204, 4, 16, 19, "Mir"),
    (50, 50, 2, 13, 19, "Maestro"),
    (56, 69, 2, 13, 19, "Maestro/national"),
    (508, 508, 3, 16, 16, "RuPay"),
    (81, 82, 2, 16, 16, "RuPay"),
    (9792, 9792, 4, 16, 16, "Troy"),
];

fn iin_prefix(digits: &[u8], n: usize) -> u32 {
    digits[..n].iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
}

/// The scheme whose prefix and issued lengths fit `digits`.
pub fn card_issuer_name(digits: &[u8]) -> Option<&'static str> {
    IIN_RANGES
        .iter()
        .find(|&&(lo, hi, n, min, max, _)| {
            digits.len() >= min.max(n) && digits.len() <= max && (lo..=hi).contains(&iin_prefix(digits, n))
        })
        .map(|r| r.5)
}

/// True when `digits` (ASCII digits only) has a known issuer prefix and a length that issuer uses.
pub fn card_issuer(digits: &[u8]) -> bool {
    card_issuer_name(digits).is_some()
}

/// Why `digits` is not a card number (`None` when it is one): for explanations.
pub fn card_rejection(digits: &[u8]) -> Option<&'static str> {
    if !(12..=19).contains(&digits.len()) {
        return Some("not 12-19 digits");
    }
    if !card_issuer(digits) {
        let prefix_known = IIN_RANGES
            .iter()
            .any(|&(lo, hi, n, ..)| digits.len() >= n && (lo..=hi).contains(&iin_prefix(digits, n)));
        return Some(if prefix_known {
            "issuer prefix known, but not at this length"
        } else {
            "no card issuer uses this prefix"
        });
    }
    if !luhn(digits) {
        return Some("issuer prefix fits, Luhn failed");
    }
    None
}

/// A GS1 barcode number (GTIN-8, UPC-A/GTIN-12, EAN-13/GTIN-13, GTIN-14): weights 3 and 1
/// from the right, mod 10. ISBN-13s are EAN-13s.
pub fn gtin(digits: &[u8]) -> bool {
    if !matches!(digits.len(), 8 | 12 | 13 | 14) || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let (body, check) = digits.split_at(digits.len() - 1);
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10 == u32::from(check[0] - b'0')
}

/// An ISBN-10: nine digits and a mod-11 check character (`X` for 10).
pub fn isbn10(s: &[u8]) -> bool {
    if s.len() != 10 || !s[..9].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let check = match s[9] {
        c @ b'0'..=b'9' => u32::from(c - b'0'),
        b'X' | b'x' => 10,
        _ => return false,
    };
    let sum: u32 = s[..9]
        .iter()
        .enumerate()
        .map(|(i, &d)| (10 - i as u32) * u32::from(d - b'0'))
        .sum();
    (sum + check).is_multiple_of(11)
}

/// A payment card number: issuer prefix, issuer length and Luhn.
pub fn credit_card(digits: &[u8]) -> bool {
    (12..=19).contains(&digits.len()) && card_issuer(digits) && luhn(digits)
}

/// IBAN lengths per country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// The registered IBAN length for a two-letter country code.
pub fn iban_length(country: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c.as_slice() == country)
        .map(|&(_, n)| n)
}

/// IBAN in compact form (no spaces, uppercase): registered length and ISO 7064 mod 97-10.
pub fn iban(compact: &[u8]) -> bool {
    if compact.len() < 15 || compact.len() > 34 || iban_length(&compact[..2]) != Some(compact.len()) {
        return false;
    }
    if !compact[2..4].iter().all(u8::is_ascii_digit) || !compact.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let mut rem = 0u32;
    for &c in compact[4..].iter().chain(&compact[..4]) {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c.to_ascii_uppercase() - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// US Social Security number (9 digits): area 001–899 except 666, group 01–99, serial
/// 0001–9999 (SSA randomisation rules, 2011); two numbers famous for misuse are refused.
pub fn us_ssn(digits: &[u8]) -> bool {
    if digits.len() != 9 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| digits[r].iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0'));
    let (area, group, serial) = (num(0..3), num(3..5), num(5..9));
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && digits != b"078051120"
        && digits != b"219099999"
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// Verhoeff check digit (dihedral group D5) over ASCII digits, check digit last.
pub fn verhoeff(digits: &[u8]) -> bool {
    let mut c = 0u8;
    for (i, &d) in digits.iter().rev().enumerate() {
        c = VERHOEFF_D[usize::from(c)][usize::from(VERHOEFF_P[i % 8][usize::from(d - b'0')])];
    }
    !digits.is_empty() && c == 0
}

/// India Aadhaar (UIDAI): 12 digits, first digit 2–9, Verhoeff check digit.
pub fn aadhaar(digits: &[u8]) -> bool {
    digits.len() == 12 && digits.iter().all(u8::is_ascii_digit) && digits[0] >= b'2' && verhoeff(digits)
}

/// India PAN: five letters (the fourth is the holder type), four digits, a check letter.
pub fn in_pan(s: &[u8]) -> bool {
    s.len() == 10
        && s[..5].iter().all(u8::is_ascii_uppercase)
        && b"ABCFGHLJPT".contains(&s[3])
        && s[5..9].iter().all(u8::is_ascii_digit)
        && s[9].is_ascii_uppercase()
}

/// UK National Insurance number (HMRC): two prefix letters from the allowed sets and not
/// one of the unallocated pairs, six digits, suffix A–D. `s` is the compact form.
pub fn uk_nino(s: &[u8]) -> bool {
    if s.len() != 9 || !s[2..8].iter().all(u8::is_ascii_digit) || !(b'A'..=b'D').contains(&s[8]) {
        return false;
    }
    let (a, b) = (s[0], s[1]);
    a.is_ascii_uppercase()
        && b.is_ascii_uppercase()
        && !b"DFIQUV".contains(&a)
        && !b"DFIOQUV".contains(&b)
        && ![b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"].contains(&&[a, b])
}

/// A public (globally routable) IPv4 address: not private, loopback, link-local, shared
/// (CGNAT), documentation, benchmarking, reserved, multicast, broadcast or "this network".
pub fn public_ipv4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || a >= 224
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113))
}

/// A public IPv6 address: global unicast (2000::/3) outside documentation prefixes, or an
/// IPv4-mapped public IPv4 address.
pub fn public_ipv6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_ipv4(v4);
    }
    let s = ip.segments();
    (0x2000..=0x3fff).contains(&s[0]) && !(s[0] == 0x2001 && s[1] == 0x0db8) && !(s[0] == 0x3fff && s[1] < 0x1000)
}

/// A public IP address of either family.
pub fn public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_ipv4(v4),
        IpAddr::V6(v6) => public_ipv6(v6),
    }
}

/// A Bitcoin legacy address: Base58Check (double SHA-256 checksum) of a 21-byte payload
/// whose version byte is P2PKH (0x00) or P2SH (0x05), or their testnet forms.
pub fn bitcoin_base58(s: &[u8]) -> bool {
    if !(25..=35).contains(&s.len()) {
        return false;
    }
    let mut bytes = [0u8; 25];
    if !matches!(bs58::decode(s).onto(&mut bytes), Ok(25)) {
        return false;
    }
    if ![0x00, 0x05, 0x6f, 0xc4].contains(&bytes[0]) {
        return false;
    }
    let first = Sha256::digest(&bytes[..21]);
    let second = Sha256::digest(first.as_slice());
    second[..4] == bytes[21..25]
}

/// A Bitcoin SegWit address (BIP 173 bech32 for witness v0, BIP 350 bech32m for v1+), on
/// mainnet (`bc`) or testnet (`tb`), with a valid witness program length.
pub fn bitcoin_bech32(s: &[u8]) -> bool {
    if !(14..=90).contains(&s.len()) {
        return false;
    }
    let Ok(s) = std::str::from_utf8(s) else {
        return false;
    };
    bech32::primitives::decode::SegwitHrpstring::new(s).is_ok_and(|a| {
        let hrp = a.hrp();
        hrp.is_valid_on_mainnet() || hrp.is_valid_on_testnet()
    })
}

/// Keccak-256 (the pre-standard padding Ethereum uses), for EIP-55 address checksums.
pub fn keccak256(input: &[u8]) -> [u8; 32] {
    sha3::Keccak256::digest(input).into()
}

/// An Ethereum address body (40 hex digits, no `0x`): all one case, or a mixed-case form
/// whose capitalisation is the EIP-55 checksum.
pub fn ethereum_address(hex40: &[u8]) -> bool {
    if hex40.len() != 40 || !hex40.iter().all(u8::is_ascii_hexdigit) {
        return false;
    }
    let has_lower = hex40.iter().any(u8::is_ascii_lowercase);
    let has_upper = hex40.iter().any(u8::is_ascii_uppercase);
    if !(has_lower && has_upper) {
        return true;
    }
    let mut lower = [0u8; 40];
    for (l, c) in lower.iter_mut().zip(hex40) {
        *l = c.to_ascii_lowercase();
    }
    let hash = keccak256(&lower);
    hex40.iter().enumerate().all(|(i, &c)| {
        if !c.is_ascii_alphabetic() {
            return true;
        }
        let nibble = if i % 2 == 0 {
            hash[i / 2] >> 4
        } else {
            hash[i / 2] & 0x0f
        };
        c.is_ascii_uppercase() == (nibble >= 8)
    })
}

/// Shannon entropy in bits per byte.
pub fn shannon_entropy(s: &[u8]) -> f32 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u16; 256];
    for &b in s {
        counts[usize::from(b)] = counts[usize::from(b)].saturating_add(1);
    }
    let n = s.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| f32::from(c) / n)
        .map(|p| -p * p.log2())
        .sum()
}

/// An RFC 4122 UUID in its canonical 8-4-4-4-12 hex form.
pub fn uuid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, &c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_issuers() {
        assert!(credit_card(b"4111111111111111"));
        assert!(credit_card(b"378282246310005"));
        assert!(credit_card(b"5555555555554444"));
        assert!(credit_card(b"2223003122003222"));
        assert!(credit_card(b"6011111111111117"));
        assert!(!credit_card(b"4111111111111112"), "Luhn fails");
        assert!(!credit_card(b"1111111111111117"), "no issuer starts with 1");
        assert!(!credit_card(b"37828224631000"), "Amex is 15 digits");
    }

    #[test]
    fn barcodes_and_card_reasons() {
        assert!(gtin(b"4006381333931"));
        assert!(!gtin(b"4006381333932"));
        assert!(gtin(b"9780306406157"));
        assert!(gtin(b"036000291452"));
        assert!(isbn10(b"0306406152"));
        assert!(isbn10(b"080442957X"));
        assert!(!isbn10(b"0306406153"));
        assert_eq!(card_rejection(b"4111111111111111"), None);
        assert_eq!(
            card_rejection(b"4111111111111112"),
            Some("issuer prefix fits, Luhn failed")
        );
        assert_eq!(
            card_rejection(b"7569609206673545"),
            Some("no card issuer uses this prefix")
        );
        assert_eq!(card_issuer_name(b"378282246310005"), Some("American Express"));
    }

    #[test]
    fn iban_mod97() {
        assert!(iban(b"GB82WEST12345698765432"));
        assert!(iban(b"DE89370400440532013000"));
        assert!(iban(b"NL91ABNA0417164300"));
        assert!(!iban(b"GB82WEST12345698765433"));
        assert!(!iban(b"DE8937040044053201300"), "wrong length for DE");
        assert!(!iban(b"XX82WEST12345698765432"), "unknown country");
    }

    #[test]
    fn ssn_ranges() {
        assert!(us_ssn(b"123456789"));
        assert!(us_ssn(b"756623641"));
        for bad in [
            &b"000123456"[..],
            b"666123456",
            b"900123456",
            b"123004567",
            b"123450000",
            b"078051120",
        ] {
            assert!(!us_ssn(bad));
        }
    }

    #[test]
    fn verhoeff_and_aadhaar() {
        assert!(verhoeff(b"2363"));
        assert!(!verhoeff(b"2364"));
        assert!(aadhaar(b"495445459599"));
        assert!(!aadhaar(b"495445459598"));
        assert!(!aadhaar(b"123456789012"), "first digit 1 is never issued");
    }

    #[test]
    fn pan_and_nino() {
        assert!(in_pan(b"ABCPE1234F"));
        assert!(!in_pan(b"ABCXE1234F"), "X is not a holder type");
        assert!(uk_nino(b"JW872540A"));
        assert!(!uk_nino(b"GB123456A"), "unallocated prefix");
        assert!(!uk_nino(b"DA123456A"), "D is not a first letter");
        assert!(!uk_nino(b"JW872540E"), "suffix A-D");
    }

    #[test]
    fn public_addresses() {
        assert!(public_ip("8.8.8.8".parse().unwrap()));
        assert!(public_ip("2606:4700:4700::1111".parse().unwrap()));
        for private in [
            "10.1.2.3",
            "192.168.0.1",
            "172.20.0.1",
            "127.0.0.1",
            "100.64.0.1",
            "203.0.113.9",
            "::1",
        ] {
            assert!(!public_ip(private.parse().unwrap()), "{private}");
        }
        assert!(!public_ip("2001:db8::1".parse().unwrap()));
        assert!(!public_ip("fe80::1".parse().unwrap()));
        assert!(public_ip("::ffff:8.8.4.4".parse().unwrap()));
    }

    #[test]
    fn bitcoin_checksums() {
        assert!(bitcoin_base58(b"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"));
        assert!(bitcoin_base58(b"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"));
        assert!(!bitcoin_base58(b"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"));
        assert!(bitcoin_bech32(b"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"));
        assert!(bitcoin_bech32(b"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"));
        assert!(bitcoin_bech32(
            b"bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297"
        ));
        assert!(!bitcoin_bech32(b"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"));
    }

    #[test]
    fn bitcoin_address_forms() {
        // Testnet P2PKH; the same with a character outside the Base58 alphabet.
        assert!(bitcoin_base58(b"mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"));
        for bad in [
            "0A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNl",
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN",
            "1111111111111111111111111",
            "",
        ] {
            assert!(!bitcoin_base58(bad.as_bytes()), "{bad}");
        }
        // BIP 173 / BIP 350 test vectors.
        for ok in [
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        ] {
            assert!(bitcoin_bech32(ok.as_bytes()), "{ok}");
        }
        for bad in [
            // Wrong human-readable part.
            "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
            // Bech32 checksum on witness v1, and bech32m on v0.
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
            // A v0 program of 16 bytes.
            "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
            // Mixed case.
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
        ] {
            assert!(!bitcoin_bech32(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn keccak_and_eip55() {
        let h = keccak256(b"");
        assert_eq!(h[..4], [0xc5, 0xd2, 0x46, 0x01]);
        assert_eq!(h[28..], [0x5d, 0x85, 0xa4, 0x70]);
        for ok in [
            "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "fB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "dbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "D1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
            "62f25240321774076f843c8c2d846c65aaf9803e",
        ] {
            assert!(ethereum_address(ok.as_bytes()), "{ok}");
        }
        assert!(!ethereum_address(b"5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"));
    }

    #[test]
    fn entropy_and_uuid() {
        assert!(shannon_entropy(b"aaaaaaaa") < 0.01);
        assert!(shannon_entropy(b"Xk9#mQ2$vL7!pR4&") > 3.5);
        assert!(uuid(b"15d7a540-5b66-478f-8a89-eb584f22c8f1"));
        assert!(!uuid(b"15d7a540-5b66-478f-8a89-eb584f22c8f"));
    }
}
