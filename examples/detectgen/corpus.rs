//! A deterministic, labelled corpus of analytics events for measuring the classifier.
//!
//! Two parts built by different generators: `Tuning` (web shops, SaaS, games and support
//! desks; English keys in snake_case and camelCase; one set of surface forms) and `Heldout`
//! (fintech, health, mobile and travel apps; keys in German, French, Spanish, Portuguese,
//! Dutch and Italian, kebab-case, SCREAMING_CASE and abbreviations; surface forms the tuning
//! part never shows: obfuscated emails, DMS and geo-URI coordinates, dotted digit groups,
//! secrets in URL path segments, other form-field array shapes). The held-out part measures
//! how detection generalises; tune on the tuning part only.
//!
//! Every value is synthetic: names are drawn from short lists, numbers are random with
//! computed check digits (Luhn, ISO 7064 mod 97, Verhoeff, Base58Check, bech32).
//! Labels are per leaf: an RFC 6901 pointer and one of the eleven scored categories; every
//! other string or number leaf is listed as clean.

#![allow(dead_code)]

use serde_json::{Map, Value, json};
use sha2::Digest as _;

pub const EMAIL: &str = "user.contact.email";
pub const PHONE: &str = "user.contact.phone_number";
pub const IP: &str = "user.device.ip_address";
pub const CARD: &str = "user.financial.credit_card";
pub const IBAN: &str = "user.financial.bank_account";
pub const NATIONAL_ID: &str = "user.government_id.national_identification_number";
pub const CREDENTIALS: &str = "user.authorization.credentials";
pub const PRECISE: &str = "user.location.precise";
pub const WALLET: &str = "user.financial.crypto_wallet";
pub const NAME: &str = "user.name";
pub const DOB: &str = "user.demographic.date_of_birth";

/// The scored categories, in report order.
pub const CATEGORIES: [&str; 11] = [
    EMAIL,
    PHONE,
    IP,
    CARD,
    IBAN,
    NATIONAL_ID,
    CREDENTIALS,
    PRECISE,
    WALLET,
    NAME,
    DOB,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Tuning,
    Heldout,
}

impl Part {
    pub fn parse(s: &str) -> Option<Part> {
        match s {
            "tuning" => Some(Part::Tuning),
            "heldout" => Some(Part::Heldout),
            _ => None,
        }
    }
}

/// One event and its labels.
pub struct Labelled {
    pub event: Value,
    /// (pointer, category) for every sensitive leaf.
    pub findings: Vec<(String, &'static str)>,
    /// Pointers of every other string or number leaf.
    pub clean: Vec<String>,
}

/// splitmix64: the same corpus for the same seed on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + (self.next() % 10) as u8)).collect()
    }

    fn alnum(&mut self, n: usize, alphabet: &[u8]) -> String {
        (0..n)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
}

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const MIXED_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const HEX: &[u8] = b"0123456789abcdef";

// ---------------------------------------------------------------- names

const GIVEN_TUNING: &[&str] = &[
    "Emma", "Liam", "Olivia", "Noah", "Ava", "James", "Sophia", "Lucas", "Mia", "Ethan", "Chloe", "Daniel", "Grace",
    "Henry", "Isla", "Jack", "Zoe", "Oscar", "Ruby", "Leo",
];
const FAMILY_TUNING: &[&str] = &[
    "Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thomas", "Roberts", "Walker", "Wright",
    "Thompson", "White", "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris", "Clarke",
];
const GIVEN_HELDOUT: &[&str] = &[
    "Jürgen",
    "Søren",
    "Ana",
    "João",
    "Chiara",
    "Björn",
    "Aylin",
    "Mateo",
    "Léa",
    "Dmitri",
    "Priya",
    "Kenji",
    "Fatima",
    "Wojciech",
    "Siobhán",
    "Thandiwe",
    "Nguyễn Văn",
    "Oluwaseun",
    "Magdalena",
    "Rafael",
];
const FAMILY_HELDOUT: &[&str] = &[
    "Müller",
    "Kowalski",
    "García",
    "Rossi",
    "de Vries",
    "Nakamura",
    "Öztürk",
    "O'Connor",
    "Silva",
    "Dubois",
    "Ivanova",
    "Sharma",
    "Papadopoulos",
    "Van den Berg",
    "Haddad",
    "Okafor",
    "Lindqvist",
    "Hernández",
    "Nowak",
    "Fernandes",
];
/// Names written in their own scripts (held-out only).
const NATIVE_NAMES: &[&str] = &[
    "王芳",
    "李伟",
    "佐藤 花子",
    "田中 太郎",
    "김민준",
    "Иван Петров",
    "Анна Смирнова",
    "محمد علي",
    "فاطمة الزهراء",
    "राहुल शर्मा",
    "Γιώργος Παπαδόπουλος",
    "יעל כהן",
];

/// Tuning names from other cultures and scripts (family name empty: written as one token).
const WORLD_TUNING: &[(&str, &str)] = &[
    ("Katarzyna", "Nowak"),
    ("Mehmet", "Yılmaz"),
    ("Siti", "Rahayu"),
    ("Bogdan", "Popescu"),
    ("Lars", "Lindqvist"),
    ("Jiří", "Dvořák"),
    ("Anh", "Nguyễn"),
    ("Дмитрий", "Смирнов"),
    ("Ольга", "Кузнецова"),
    ("佐藤健", ""),
    ("李娜", ""),
    ("박지훈", ""),
    ("فاطمة", "الزهراء"),
    ("अमित", "कुमार"),
    ("Νίκος", "Γεωργίου"),
];

fn person(rng: &mut Rng, part: Part) -> (String, String) {
    match part {
        Part::Tuning => (rng.pick(GIVEN_TUNING).into(), rng.pick(FAMILY_TUNING).into()),
        Part::Heldout => (rng.pick(GIVEN_HELDOUT).into(), rng.pick(FAMILY_HELDOUT).into()),
    }
}

fn ascii_fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'ä' | 'á' | 'à' | 'ã' => Some('a'),
            'ö' | 'ó' | 'ø' | 'ò' => Some('o'),
            'ü' | 'ú' => Some('u'),
            'é' | 'è' | 'ễ' | 'ê' => Some('e'),
            'í' => Some('i'),
            'ç' => Some('c'),
            'ñ' => Some('n'),
            'ă' => Some('a'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------- sensitive values

fn email(rng: &mut Rng, part: Part) -> String {
    let (g, f) = person(rng, part);
    let (g, f) = (ascii_fold(&g), ascii_fold(&f));
    let domains: &[&str] = match part {
        Part::Tuning => &["gmail.com", "example.com", "outlook.com", "yahoo.co.uk", "proton.me"],
        Part::Heldout => &[
            "web.de",
            "gmx.net",
            "orange.fr",
            "libero.it",
            "ziggo.nl",
            "uol.com.br",
            "mail.ru",
        ],
    };
    let d = rng.pick(domains);
    match rng.below(4) {
        0 => format!("{g}.{f}@{d}"),
        1 => format!("{g}{}@{d}", rng.range(1, 99)),
        2 => format!("{g}.{f}+{}@{d}", rng.pick(&["promo", "news", "shop"])),
        _ => format!("{}{f}@{d}", &g[..1]),
    }
}

/// A mobile or geographic number in a national or international format.
fn phone(rng: &mut Rng, part: Part) -> String {
    let style = match part {
        Part::Tuning => {
            let t = rng.below(7);
            if t >= 5 {
                // Other digit-group separators of the same numbers.
                return match t {
                    5 => format!("020.7{}.{}", rng.digits(3), rng.digits(4)),
                    _ => format!(
                        "+44\u{a0}7{}\u{a0}{}",
                        rng.pick(&[400u64, 480, 700, 911]),
                        rng.digits(6)
                    ),
                };
            }
            t
        }
        Part::Heldout => 5 + rng.below(6),
    };
    match style {
        0 => format!(
            "+1 {} {}-{}",
            rng.pick(&[212, 415, 646, 312, 617, 303]),
            rng.range(201, 989),
            rng.digits(4)
        ),
        1 => format!(
            "({}) {}-{}",
            rng.pick(&[212, 415, 646, 312, 617]),
            rng.range(201, 989),
            rng.digits(4)
        ),
        2 => format!(
            "+44 7{} {}",
            rng.pick(&[400u64, 412, 480, 523, 700, 712, 777, 801, 911, 956]),
            rng.digits(6)
        ),
        3 => format!("020 7{} {}", rng.digits(3), rng.digits(4)),
        4 => format!("+91 9{} {}", rng.digits(4), rng.digits(5)),
        5 => format!("+49 151 {}", rng.digits(8)),
        6 => format!(
            "+33 6 {} {} {} {}",
            rng.digits(2),
            rng.digits(2),
            rng.digits(2),
            rng.digits(2)
        ),
        7 => format!(
            "0{}.{}.{}.{}",
            rng.range(6, 7),
            rng.digits(2),
            rng.digits(2),
            rng.digits(2)
        ),
        8 => format!("+55 11 9{}-{}", rng.digits(4), rng.digits(4)),
        9 => format!("+31 6 {}", rng.digits(8)),
        _ => format!("+39 3{} {}", rng.digits(2), rng.digits(7)),
    }
}

fn public_ipv4(rng: &mut Rng) -> String {
    let first = rng.pick(&[31u64, 46, 51, 62, 81, 85, 91, 109, 145, 151, 176, 185, 193, 212, 217]);
    format!(
        "{first}.{}.{}.{}",
        rng.range(0, 255),
        rng.range(0, 255),
        rng.range(1, 254)
    )
}

fn ipv6(rng: &mut Rng) -> String {
    format!(
        "2a02:{}:{}:{}::{}",
        rng.alnum(4, HEX),
        rng.alnum(4, HEX),
        rng.alnum(3, HEX),
        rng.alnum(2, HEX)
    )
}

fn luhn_digit(digits: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    ((10 - sum % 10) % 10) as u8
}

/// Card digits (Visa, Mastercard, Amex, Discover) with a valid Luhn digit.
fn card_digits(rng: &mut Rng) -> Vec<u8> {
    let (prefix, len): (&[u8], usize) = rng.pick(&[
        (&[4][..], 16),
        (&[5, 1][..], 16),
        (&[5, 5][..], 16),
        (&[3, 7][..], 15),
        (&[6, 0, 1, 1][..], 16),
    ]);
    let mut d = prefix.to_vec();
    while d.len() < len - 1 {
        d.push((rng.next() % 10) as u8);
    }
    d.push(luhn_digit(&d));
    d
}

fn group(digits: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = Vec::new();
    let mut at = 0;
    for &n in sizes {
        if at >= digits.len() {
            break;
        }
        let end = (at + n).min(digits.len());
        out.push(&digits[at..end]);
        at = end;
    }
    if at < digits.len() {
        out.push(&digits[at..]);
    }
    out.join(sep)
}

fn card(rng: &mut Rng, part: Part) -> Value {
    let d = card_digits(rng);
    let s: String = d.iter().map(|c| char::from(b'0' + c)).collect();
    let sizes: &[usize] = if s.len() == 15 { &[4, 6, 5] } else { &[4, 4, 4, 4] };
    match part {
        Part::Tuning => match rng.below(8) {
            0 => Value::from(s),
            1 => Value::from(group(&s, sizes, " ")),
            2 => Value::from(group(&s, sizes, "-")),
            3 => Value::from(group(&s, sizes, "_")),
            4 => Value::from(group(&s, sizes, "\u{a0}")),
            5 => Value::from(group(&s, sizes, "\u{2009}")),
            6 => {
                // Mixed spacing, as typed or pasted.
                let g = group(&s, sizes, " ");
                Value::from(g.replacen(' ', "  ", 1))
            }
            _ => s.parse::<u64>().map_or(Value::from(s), Value::from),
        },
        Part::Heldout => match rng.below(4) {
            0 => Value::from(group(&s, sizes, ".")),
            1 => Value::from(group(&s, sizes, "  ")),
            2 => Value::from(group(&s, sizes, "/")),
            _ => Value::from(group(&s, sizes, " - ")),
        },
    }
}

fn mod97(s: &str) -> u32 {
    let mut r = 0u32;
    for c in s.chars() {
        let v = c.to_digit(36).unwrap_or(0);
        r = if v >= 10 { (r * 100 + v) % 97 } else { (r * 10 + v) % 97 };
    }
    r
}

fn iban(rng: &mut Rng, part: Part) -> String {
    let (cc, bban) = match (part, rng.below(3)) {
        (Part::Tuning, 0) => ("DE", rng.digits(18)),
        (Part::Tuning, 1) => (
            "GB",
            format!("{}{}", rng.pick(&["NWBK", "BARC", "LOYD"]), rng.digits(14)),
        ),
        (Part::Tuning, _) => (
            "FR",
            format!("{}{}", rng.digits(10), rng.alnum(11, UPPER_ALNUM).to_owned() + "00"),
        ),
        (Part::Heldout, 0) => (
            "NL",
            format!("{}{}", rng.pick(&["ABNA", "INGB", "RABO"]), rng.digits(10)),
        ),
        (Part::Heldout, 1) => ("ES", rng.digits(20)),
        (Part::Heldout, _) => (
            "IT",
            format!("{}{}", rng.alnum(1, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"), rng.digits(22)),
        ),
    };
    let bban = if cc == "FR" { bban[..23].to_owned() } else { bban };
    let check = 98 - mod97(&format!("{bban}{cc}00"));
    let compact = format!("{cc}{check:02}{bban}");
    if rng.chance(50) {
        group(&compact, &[4; 9], " ")
    } else {
        compact
    }
}

/// The Verhoeff check digit of `digits` (values 0–9): the one the classifier's validator accepts.
fn verhoeff_digit(digits: &[u8]) -> u8 {
    let mut ascii: Vec<u8> = digits.iter().map(|d| b'0' + d).collect();
    ascii.push(b'0');
    let last = ascii.len() - 1;
    (0..10u8)
        .find(|&c| {
            ascii[last] = b'0' + c;
            vendorwall::classify::validate::verhoeff(&ascii)
        })
        .unwrap_or(0)
}

fn national_id(rng: &mut Rng, part: Part) -> String {
    match rng.below(4) {
        0 => {
            let area = loop {
                let a = rng.range(1, 899);
                if a != 666 {
                    break a;
                }
            };
            let (g, s) = (rng.range(1, 99), rng.range(1, 9999));
            match part {
                Part::Tuning => format!("{area:03}-{g:02}-{s:04}"),
                Part::Heldout => format!("{area:03} {g:02} {s:04}"),
            }
        }
        1 => {
            let mut d: Vec<u8> = vec![rng.range(2, 9) as u8];
            d.extend((0..10).map(|_| (rng.next() % 10) as u8));
            d.push(verhoeff_digit(&d));
            let s: String = d.iter().map(|c| char::from(b'0' + c)).collect();
            match part {
                Part::Tuning => group(&s, &[4, 4, 4], " "),
                Part::Heldout => group(&s, &[4, 4, 4], "-"),
            }
        }
        2 => {
            let l = |rng: &mut Rng| char::from(b'A' + rng.below(26) as u8);
            let (a, b, c) = (l(rng), l(rng), l(rng));
            let kind = rng.pick(&['P', 'C', 'H', 'F']);
            let initial = l(rng);
            format!("{a}{b}{c}{kind}{initial}{}{}", rng.digits(4), l(rng))
        }
        _ => {
            let prefix = rng.pick(&["AB", "CE", "JG", "KM", "PR", "SN", "WL", "ZX"]);
            let (a, b, c) = (rng.digits(2), rng.digits(2), rng.digits(2));
            let suffix = rng.pick(&['A', 'B', 'C', 'D']);
            match part {
                Part::Tuning => format!("{prefix} {a} {b} {c} {suffix}"),
                Part::Heldout => format!("{prefix}{a}{b}{c}{suffix}"),
            }
        }
    }
}

fn jwt(rng: &mut Rng) -> String {
    use base64::Engine as _;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = e.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let body = e.encode(format!(
        r#"{{"sub":"{}","iat":{}}}"#,
        rng.digits(8),
        rng.range(1_600_000_000, 1_800_000_000)
    ));
    format!("{header}.{body}.{}", rng.alnum(43, MIXED_ALNUM))
}

/// A secret whose format says what it is.
fn formatted_secret(rng: &mut Rng, part: Part) -> String {
    let style = match part {
        Part::Tuning => rng.below(4),
        Part::Heldout => 4 + rng.below(4),
    };
    match style {
        0 => format!("AKIA{}", rng.alnum(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")),
        1 => format!("ghp_{}", rng.alnum(36, MIXED_ALNUM)),
        2 => format!("sk_live_{}", rng.alnum(24, MIXED_ALNUM)),
        3 => jwt(rng),
        4 => format!("sk-proj-{}", rng.alnum(48, MIXED_ALNUM)),
        5 => format!(
            "xoxb-{}-{}-{}",
            rng.digits(11),
            rng.digits(12),
            rng.alnum(24, MIXED_ALNUM)
        ),
        6 => format!(
            "github_pat_{}_{}",
            rng.alnum(22, MIXED_ALNUM),
            rng.alnum(59, MIXED_ALNUM)
        ),
        _ => format!("Bearer {}", jwt(rng)),
    }
}

/// A secret with no telling format: only its key says what it is.
fn plain_secret(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 => Value::from(format!(
            "{}{}!",
            rng.pick(&["Summer", "hunter", "Passw0rd", "Tr0ub4dor"]),
            rng.digits(2)
        )),
        1 => Value::from(rng.alnum(32, LOWER_ALNUM)),
        2 => Value::from(rng.range(100_000, 999_999)),
        _ => Value::from(rng.alnum(20, MIXED_ALNUM)),
    }
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn base58check(version: u8, payload: &[u8]) -> String {
    let mut data = vec![version];
    data.extend_from_slice(payload);
    let check = sha2::Sha256::digest(sha2::Sha256::digest(&data));
    data.extend_from_slice(&check[..4]);
    let zeros = data.iter().take_while(|&&b| b == 0).count();
    let mut num = data.clone();
    let mut out = Vec::new();
    while num.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for b in num.iter_mut() {
            let acc = (rem << 8) | u32::from(*b);
            *b = (acc / 58) as u8;
            rem = acc % 58;
        }
        out.push(BASE58[rem as usize]);
    }
    out.extend(std::iter::repeat_n(b'1', zeros));
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn bech32_polymod(values: &[u8]) -> u32 {
    const GEN: [u32; 5] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3];
    let mut chk: u32 = 1;
    for &v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// A witness-v0 bech32 address with a 20-byte program.
fn bech32_address(rng: &mut Rng) -> String {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let program: Vec<u8> = (0..20).map(|_| rng.next() as u8).collect();
    let mut data = vec![0u8];
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in program {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            data.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        data.push(((acc << (5 - bits)) & 31) as u8);
    }
    let mut values = vec![3u8, 3, 0, 2, 3]; // "bc" expanded
    values.extend(&data);
    values.extend([0u8; 6]);
    let pm = bech32_polymod(&values) ^ 1;
    let mut out = String::from("bc1");
    for d in &data {
        out.push(char::from(CHARSET[*d as usize]));
    }
    for i in 0..6 {
        out.push(char::from(CHARSET[((pm >> (5 * (5 - i))) & 31) as usize]));
    }
    out
}

fn wallet(rng: &mut Rng, part: Part) -> String {
    let payload: Vec<u8> = (0..20).map(|_| rng.next() as u8).collect();
    match (part, rng.below(2)) {
        (Part::Tuning, 0) => base58check(0, &payload),
        (Part::Tuning, _) => format!("0x{}", rng.alnum(40, HEX)),
        (Part::Heldout, 0) => bech32_address(rng),
        (Part::Heldout, _) => base58check(5, &payload),
    }
}

fn coordinate(rng: &mut Rng, lat: bool) -> f64 {
    let max = if lat { 70.0 } else { 170.0 };
    let whole = rng.range(0, max as u64) as f64;
    let frac = rng.range(1000, 999_999) as f64 / 1_000_000.0;
    let sign = if rng.chance(30) { -1.0 } else { 1.0 };
    sign * (whole + frac)
}

fn dms(x: f64, pos: char, neg: char) -> String {
    let a = x.abs();
    let d = a.trunc();
    let m = ((a - d) * 60.0).trunc();
    let s = ((a - d) * 60.0 - m) * 60.0;
    format!("{d}°{m}'{s:.2}\"{}", if x < 0.0 { neg } else { pos })
}

fn dob(rng: &mut Rng, part: Part) -> String {
    let (y, m, d) = (rng.range(1940, 2006), rng.range(1, 12), rng.range(1, 28));
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    match (part, rng.below(3)) {
        (Part::Tuning, 0) => format!("{y}-{m:02}-{d:02}"),
        (Part::Tuning, 1) => format!("{m:02}/{d:02}/{y}"),
        (Part::Tuning, _) => format!("{} {d}, {y}", MONTHS[m as usize - 1]),
        (Part::Heldout, 0) => format!("{d:02}.{m:02}.{y}"),
        (Part::Heldout, 1) => format!("{d:02}/{m:02}/{y}"),
        (Part::Heldout, _) => format!("{y}{m:02}{d:02}"),
    }
}

// ---------------------------------------------------------------- key vocabularies

/// Key names for one category: tuning uses English snake_case and camelCase; held-out uses
/// other languages, kebab-case, SCREAMING_CASE and abbreviations.
fn key(rng: &mut Rng, part: Part, what: &str) -> &'static str {
    let (tuning, heldout): (&[&str], &[&str]) = match what {
        "email" => (
            &[
                "email",
                "user_email",
                "contactEmail",
                "billing_email",
                "emailAddress",
                "adres_email",
                "e-posta",
                "alamat_email",
                "メールアドレス",
                "邮箱",
                "이메일",
                "электронная_почта",
                "USER.EMAIL",
            ],
            &[
                "e-mail",
                "courriel",
                "correo_electronico",
                "EMAIL_ADDR",
                "adresse-mail",
                "usr_eml",
                "emailadres",
            ],
        ),
        "phone" => (
            &[
                "phone",
                "phone_number",
                "mobilePhone",
                "billingPhone",
                "contact_phone",
                "numer_telefonu",
                "telefon-numarasi",
                "nomor_telepon",
                "номер_телефона",
                "電話番号",
                "手机号",
                "전화번호",
                "رقم_الهاتف",
                "CONTACT.PHONE",
            ],
            &[
                "telefon",
                "telefone",
                "telefono",
                "TEL_NR",
                "numero-de-telephone",
                "handynummer",
                "ph_no",
                "celular",
            ],
        ),
        "ip" => (
            &["ip", "client_ip", "ipAddress", "remote_addr"],
            &["IP_ADDR", "adresse-ip", "direccion_ip", "ip-adres", "peer"],
        ),
        "card" => (
            &[
                "card_number",
                "cardNumber",
                "credit_card",
                "cc_number",
                "pan",
                "numer_karty",
                "kart_numarasi",
                "nomor_kartu",
                "номер карты",
                "カード番号",
                "卡号",
                "카드번호",
                "رقم_البطاقة",
            ],
            &[
                "kartennummer",
                "numero_carte",
                "numero-tarjeta",
                "CC_NUM",
                "cartao_credito",
                "kaartnummer",
            ],
        ),
        "iban" => (
            &[
                "iban",
                "bank_account",
                "payoutIban",
                "account_iban",
                "numer_konta",
                "hesap_no",
            ],
            &[
                "IBAN_NR",
                "bankverbindung",
                "conto-corrente",
                "rekeningnummer",
                "cuenta_bancaria",
            ],
        ),
        "national_id" => (
            &[
                "ssn",
                "national_id",
                "aadhaar",
                "pan_number",
                "nino",
                "taxId",
                "pesel",
                "personnummer",
                "tc_kimlik_no",
                "cnp",
                "身份证号",
                "주민등록번호",
            ],
            &[
                "SOZ_VERS_NR",
                "numero-securite-sociale",
                "documento_identidad",
                "cpf",
                "codice-fiscale",
                "bsn",
                "id_no",
            ],
        ),
        "secret" => (
            &[
                "password",
                "api_key",
                "access_token",
                "authToken",
                "client_secret",
                "refresh_token",
                "sessionToken",
                "haslo",
                "sifre",
                "kata_sandi",
                "пароль",
                "パスワード",
                "密码",
                "비밀번호",
                "كلمة_المرور",
            ],
            &[
                "passwort",
                "mot-de-passe",
                "contrasena",
                "senha",
                "wachtwoord",
                "API-KEY",
                "X_AUTH_TOKEN",
                "pwd",
                "geheimnis",
            ],
        ),
        "lat" => (
            &[
                "lat",
                "latitude",
                "geo_lat",
                "userLat",
                "szerokosc",
                "enlem",
                "lintang",
                "широта",
                "緯度",
                "纬度",
                "위도",
            ],
            &["breitengrad", "LATITUDE", "lat-deg", "latitud", "breedtegraad"],
        ),
        "lng" => (
            &[
                "lng",
                "longitude",
                "geo_lng",
                "userLng",
                "dlugosc",
                "boylam",
                "bujur",
                "долгота",
                "経度",
                "经度",
                "경도",
            ],
            &["laengengrad", "LONGITUDE", "lon-deg", "longitud", "lengtegraad"],
        ),
        "latlng" => (
            &["coordinates", "latlng", "location", "gps"],
            &["koordinaten", "position-gps", "ubicacion", "coordenadas", "GEO_POS"],
        ),
        "wallet" => (
            &["wallet_address", "btc_address", "walletAddress", "eth_address"],
            &[
                "adresse-portefeuille",
                "WALLET_ADDR",
                "carteira",
                "monedero",
                "wallet-adres",
            ],
        ),
        "full_name" => (
            &[
                "full_name",
                "customer_name",
                "fullName",
                "name",
                "recipientName",
                "cardholder_name",
                "imie_i_nazwisko",
                "ad_soyad",
                "nama_lengkap",
                "фио",
                "氏名",
                "성명",
                "الاسم_الكامل",
                "पूरा नाम",
                "contact_person",
                "assignee",
                "organizer",
            ],
            &[
                "vollstaendiger_name",
                "nom-complet",
                "nombre_completo",
                "nome_completo",
                "FULL_NAME",
                "naam",
                "titular",
            ],
        ),
        "first_name" => (
            &[
                "first_name",
                "firstName",
                "given_name",
                "imie",
                "förnamn",
                "nama_depan",
                "prenume",
                "имя",
                "이름",
                "الاسم_الأول",
            ],
            &["vorname", "prenom", "nombre", "primeiro-nome", "voornaam", "FIRST_NM"],
        ),
        "last_name" => (
            &[
                "last_name",
                "lastName",
                "surname",
                "family_name",
                "nazwisko",
                "efternamn",
                "soyadı",
                "nama_belakang",
                "фамилия",
                "姓",
                "اسم_العائلة",
            ],
            &[
                "nachname",
                "nom_de_famille",
                "apellido",
                "sobrenome",
                "achternaam",
                "LAST_NM",
            ],
        ),
        "dob" => (
            &[
                "dob",
                "birthday",
                "date_of_birth",
                "birthDate",
                "data_urodzenia",
                "födelsedatum",
                "doğum_tarihi",
                "tanggal_lahir",
                "data_nasterii",
                "дата_рождения",
                "生年月日",
                "出生日期",
                "생년월일",
                "تاريخ_الميلاد",
                "जन्म तिथि",
            ],
            &[
                "geburtsdatum",
                "date-de-naissance",
                "fecha_nacimiento",
                "data_nascimento",
                "geboortedatum",
                "DOB",
                "bday",
            ],
        ),
        _ => (&["note"], &["notiz"]),
    };
    match part {
        Part::Tuning => rng.pick(tuning),
        Part::Heldout => rng.pick(heldout),
    }
}

// ---------------------------------------------------------------- events

/// An event under construction: properties and labels.
struct Ev {
    props: Map<String, Value>,
    findings: Vec<(String, &'static str)>,
    sensitive: Vec<String>,
}

fn escape(seg: &str) -> String {
    seg.replace('~', "~0").replace('/', "~1")
}

impl Ev {
    fn new() -> Ev {
        Ev {
            props: Map::new(),
            findings: Vec::new(),
            sensitive: Vec::new(),
        }
    }

    /// Puts `v` under `key` unless the key is taken; `labels` are (pointer below the key,
    /// category) for the sensitive leaves inside `v`.
    fn put(&mut self, key: &str, v: Value, labels: &[(&str, &'static str)]) {
        if self.props.contains_key(key) {
            return;
        }
        let base = format!("/properties/{}", escape(key));
        for (below, cat) in labels {
            let p = format!("{base}{below}");
            self.findings.push((p.clone(), cat));
            self.sensitive.push(p);
        }
        self.props.insert(key.to_owned(), v);
    }

    fn clean(&mut self, key: &str, v: Value) {
        self.put(key, v, &[]);
    }
}

/// Every string or number leaf below `v`, as pointers.
fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                leaves(x, format!("{at}/{}", escape(k)), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, format!("{at}/{i}"), out);
            }
        }
        Value::String(_) | Value::Number(_) => out.push(at),
        Value::Bool(_) | Value::Null => {}
    }
}

fn pct(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// One sensitive value planted in the event, in one of the part's surface forms.
fn plant(rng: &mut Rng, part: Part, ev: &mut Ev) {
    let held = part == Part::Heldout;
    match rng.below(15) {
        0 => {
            let e = email(rng, part);
            match rng.below(if held { 7 } else { 12 }) {
                7 => {
                    let (local, domain) = e.split_once('@').unwrap_or((&e, "x.io"));
                    let obf = match rng.below(6) {
                        0 => format!("{local} (at) {}", domain.replace('.', " (dot) ")),
                        1 => format!("{local}{{at}}{domain}"),
                        2 => format!("{local} @ {domain}"),
                        3 => format!("{local}＠{domain}"),
                        4 => format!("{local}&#64;{domain}"),
                        _ => format!("{local} at {}", domain.replace('.', " dot ")),
                    };
                    ev.put(
                        "chat_message",
                        Value::from(format!("pls reach me: {obf} thx")),
                        &[("", EMAIL)],
                    );
                }
                8 => ev.put(
                    "contact_link",
                    Value::from(format!("mailto:{e}?subject=Order")),
                    &[("", EMAIL)],
                ),
                9 => ev.put(
                    "share_link",
                    Value::from(format!("taskly://share?recipient_email={}&src=ios", pct(&e))),
                    &[("", EMAIL)],
                ),
                10 => ev.put(
                    "app_route",
                    Value::from(format!("gamestack://friends/add/{}", pct(&e))),
                    &[("", EMAIL)],
                ),
                0 | 11 => ev.put(key(rng, part, "email"), Value::from(e), &[("", EMAIL)]),
                1 => ev.put(key(rng, part, "email"), Value::from(e.to_uppercase()), &[("", EMAIL)]),
                2 => ev.put(
                    if held { "letzte_seite" } else { "page_url" },
                    Value::from(format!(
                        "https://{}/account/verify?email={}&utm_source=mail",
                        app_host(rng, part),
                        pct(&e)
                    )),
                    &[("", EMAIL)],
                ),
                3 => ev.put(
                    if held { "fehlermeldung" } else { "error_message" },
                    Value::from(format!("Could not deliver receipt to {e}: mailbox full")),
                    &[("", EMAIL)],
                ),
                4 => ev.put(
                    if held { "eingeladene" } else { "invitees" },
                    json!(["team", e]),
                    &[("/1", EMAIL)],
                ),
                5 => {
                    let (local, domain) = e.split_once('@').unwrap_or((&e, "x.io"));
                    let obf = format!("{local} [at] {}", domain.replace('.', " [dot] "));
                    ev.put(
                        "kommentar",
                        Value::from(format!("bitte an {obf} schicken")),
                        &[("", EMAIL)],
                    );
                }
                _ => ev.put(
                    "deeplink",
                    Value::from(format!("myapp://profile/{}/edit", pct(&e))),
                    &[("", EMAIL)],
                ),
            }
        }
        1 => {
            let p = phone(rng, part);
            match rng.below(3) {
                0 | 1 => ev.put(key(rng, part, "phone"), Value::from(p), &[("", PHONE)]),
                _ => ev.put(
                    if held { "nachricht" } else { "support_message" },
                    Value::from(format!(
                        "{} {p}",
                        if held {
                            "Rückruf bitte unter"
                        } else {
                            "Please call me back on"
                        }
                    )),
                    &[("", PHONE)],
                ),
            }
        }
        2 => {
            let ip = if rng.chance(70) { public_ipv4(rng) } else { ipv6(rng) };
            match rng.below(if held { 3 } else { 2 }) {
                0 => ev.put(key(rng, part, "ip"), Value::from(ip), &[("", IP)]),
                1 => ev.put(
                    if held { "protokoll" } else { "log_line" },
                    Value::from(format!("login from {ip} accepted")),
                    &[("", IP)],
                ),
                _ => ev.put("x-forwarded-for", Value::from(format!("{ip}, 10.0.0.1")), &[("", IP)]),
            }
        }
        3 => {
            let c = card(rng, part);
            ev.put(key(rng, part, "card"), c, &[("", CARD)]);
        }
        4 => {
            let i = iban(rng, part);
            ev.put(key(rng, part, "iban"), Value::from(i), &[("", IBAN)]);
        }
        5 => {
            let n = national_id(rng, part);
            ev.put(key(rng, part, "national_id"), Value::from(n), &[("", NATIONAL_ID)]);
        }
        6 | 7 => match rng.below(if held { 5 } else { 6 }) {
            4 if !held => {
                let n = rng.range(24, 48) as usize;
                let t = rng.alnum(n, MIXED_ALNUM);
                let (url, _) = match rng.below(4) {
                    0 => (format!("https://{}/verify-email/{t}", app_host(rng, part)), ()),
                    1 => (format!("https://{}/magic/{t}/signin", app_host(rng, part)), ()),
                    2 => (format!("taskly://activate/{t}"), ()),
                    _ => (format!("https://{}/#/confirm/{t}", app_host(rng, part)), ()),
                };
                ev.put("opened_link", Value::from(url), &[("", CREDENTIALS)]);
            }
            5 if !held => {
                let inv = rng.alnum(10, LOWER_ALNUM);
                let word = rng.pick(&["invite", "unsubscribe", "login-link"]);
                ev.put(
                    "entry_path",
                    Value::from(format!("/{word}/{inv}{}", rng.range(10, 99))),
                    &[("", CREDENTIALS)],
                );
            }
            0 => {
                let s = plain_secret(rng);
                let k = if s.is_number() {
                    if held {
                        rng.pick(&["PIN", "tan-code", "codigo_otp", "geheimzahl"])
                    } else {
                        rng.pick(&["pin", "otp", "password"])
                    }
                } else {
                    key(rng, part, "secret")
                };
                ev.put(k, s, &[("", CREDENTIALS)]);
            }
            1 => {
                let s = formatted_secret(rng, part);
                ev.put(
                    if held { "konfiguration" } else { "config_value" },
                    Value::from(s),
                    &[("", CREDENTIALS)],
                );
            }
            2 => {
                let t = rng.alnum(32, MIXED_ALNUM);
                let name = if held {
                    rng.pick(&["jeton", "zugangs-token", "sig"])
                } else {
                    rng.pick(&["token", "access_token", "reset_code"])
                };
                ev.put(
                    if held { "zielseite" } else { "landing_url" },
                    Value::from(format!(
                        "https://{}/auth/callback?{name}={t}&page=1",
                        app_host(rng, part)
                    )),
                    &[("", CREDENTIALS)],
                );
            }
            3 if !held && rng.chance(60) => {
                let s = plain_secret(rng);
                match rng.below(3) {
                    0 => ev.put(
                        "form_answers",
                        json!([{"label": "Plan", "response": "team"}, {"label": "Password", "response": s}]),
                        &[("/1/response", CREDENTIALS)],
                    ),
                    1 => ev.put(
                        "submitted",
                        json!([{"fieldName": "coupon", "fieldValue": "SPRING"}, {"fieldName": "passcode", "fieldValue": s}]),
                        &[("/1/fieldValue", CREDENTIALS)],
                    ),
                    _ => ev.put(
                        "form_entries",
                        json!([["plan", "team"], ["new_password", s]]),
                        &[("/1/1", CREDENTIALS)],
                    ),
                }
            }
            3 => {
                let s = plain_secret(rng);
                let field = if held {
                    rng.pick(&["kennwort", "senha"])
                } else {
                    "password"
                };
                let (kname, vname) = if held { ("field", "val") } else { ("name", "value") };
                ev.put(
                    if held { "formulaire" } else { "form_fields" },
                    json!([{kname: "plan", vname: "pro"}, {kname: field, vname: s}]),
                    &[(&format!("/1/{vname}"), CREDENTIALS)],
                );
            }
            _ => {
                let t = rng.alnum(40, MIXED_ALNUM);
                ev.put(
                    "referrer",
                    Value::from(format!("https://{}/passwort-zuruecksetzen/{t}", app_host(rng, part))),
                    &[("", CREDENTIALS)],
                );
            }
        },
        8 | 9 => {
            let (la, lo) = (coordinate(rng, true), coordinate(rng, false));
            match rng.below(if held { 6 } else { 8 }) {
                3 if !held => ev.put(
                    "spot",
                    Value::from(format!("{:+08.4}{:+09.4}/", la, lo)),
                    &[("", PRECISE)],
                ),
                4 if !held => ev.put(
                    "last_position",
                    Value::from(format!("POINT({lo:.5} {la:.5})")),
                    &[("", PRECISE)],
                ),
                5 if !held => ev.put("marker", Value::from(format!("{la:.5}|{lo:.5}")), &[("", PRECISE)]),
                6 if !held => {
                    let hm = |x: f64, pos: char, neg: char| {
                        let a = x.abs();
                        format!(
                            "{}{} {:.3}",
                            if x >= 0.0 { pos } else { neg },
                            a.trunc(),
                            a.fract() * 60.0
                        )
                    };
                    ev.put(
                        "gps_fix",
                        Value::from(format!("{} {}", hm(la, 'N', 'S'), hm(lo, 'E', 'W'))),
                        &[("", PRECISE)],
                    );
                }
                7 if !held => {
                    let d = |x: f64, pos: char, neg: char| {
                        let a = x.abs();
                        let m = a.fract() * 60.0;
                        format!(
                            "{}°{:02}′{:04.1}″{}",
                            a.trunc(),
                            m.trunc(),
                            m.fract() * 60.0,
                            if x >= 0.0 { pos } else { neg }
                        )
                    };
                    ev.put(
                        "meeting_point",
                        Value::from(format!("{}, {}", d(la, 'N', 'S'), d(lo, 'E', 'W'))),
                        &[("", PRECISE)],
                    );
                }
                0 => {
                    let (kl, kg) = (key(rng, part, "lat"), key(rng, part, "lng"));
                    ev.put(kl, json!(la), &[("", PRECISE)]);
                    ev.put(kg, json!(lo), &[("", PRECISE)]);
                }
                1 => ev.put(
                    key(rng, part, "latlng"),
                    Value::from(format!("{la:.6},{lo:.6}")),
                    &[("", PRECISE)],
                ),
                2 => ev.put(
                    key(rng, part, "latlng"),
                    json!({"type": "Point", "coordinates": [lo, la]}),
                    &[("/coordinates/0", PRECISE), ("/coordinates/1", PRECISE)],
                ),
                3 => ev.put(
                    key(rng, part, "latlng"),
                    Value::from(format!("{} {}", dms(la, 'N', 'S'), dms(lo, 'E', 'W'))),
                    &[("", PRECISE)],
                ),
                4 => ev.put(
                    "standort",
                    Value::from(format!("geo:{la:.5},{lo:.5}")),
                    &[("", PRECISE)],
                ),
                _ => ev.put(
                    key(rng, part, "latlng"),
                    Value::from(format!("{la:.5}; {lo:.5}")),
                    &[("", PRECISE)],
                ),
            }
        }
        10 => {
            let w = wallet(rng, part);
            ev.put(key(rng, part, "wallet"), Value::from(w), &[("", WALLET)]);
        }
        11 | 12 => {
            let (g, f) = if held && rng.chance(30) {
                let n = rng.pick(NATIVE_NAMES);
                match n.split_once(' ') {
                    Some((a, b)) => (a.to_owned(), b.to_owned()),
                    None => (n.to_owned(), String::new()),
                }
            } else if !held && rng.chance(25) {
                let (g, f) = rng.pick(WORLD_TUNING);
                (g.to_owned(), f.to_owned())
            } else {
                person(rng, part)
            };
            match rng.below(3) {
                0 => {
                    let full = if f.is_empty() { g } else { format!("{g} {f}") };
                    ev.put(key(rng, part, "full_name"), Value::from(full), &[("", NAME)]);
                }
                1 => {
                    ev.put(key(rng, part, "first_name"), Value::from(g), &[("", NAME)]);
                    if !f.is_empty() {
                        ev.put(key(rng, part, "last_name"), Value::from(f), &[("", NAME)]);
                    }
                }
                _ => {
                    let container = if held {
                        rng.pick(&["lieferadresse", "destinatario", "beneficiaire"])
                    } else {
                        rng.pick(&["shipping", "recipient", "beneficiary"])
                    };
                    let full = if f.is_empty() { g } else { format!("{g} {f}") };
                    let city = if held { "Lyon" } else { "Leeds" };
                    let nk = if held { "naam" } else { "name" };
                    ev.put(container, json!({nk: full, "city": city}), &[(&format!("/{nk}"), NAME)]);
                }
            }
        }
        _ => {
            let d = dob(rng, part);
            ev.put(key(rng, part, "dob"), Value::from(d), &[("", DOB)]);
        }
    }
}

fn app_host(rng: &mut Rng, part: Part) -> &'static str {
    match part {
        Part::Tuning => rng.pick(&[
            "shop.example.com",
            "app.taskly.io",
            "play.gamestack.gg",
            "help.deskly.com",
        ]),
        Part::Heldout => rng.pick(&[
            "banking.finora.de",
            "patient.medilink.fr",
            "m.ridego.app",
            "reisen.viaggio.it",
        ]),
    }
}

/// One clean property, often a deliberate look-alike.
fn clean(rng: &mut Rng, part: Part, ev: &mut Ev) {
    let held = part == Part::Heldout;
    if !held && rng.chance(15) {
        match rng.below(5) {
            0 => {
                // ISBN-10 with its mod-11 check character.
                let d: Vec<u32> = (0..9).map(|_| (rng.next() % 10) as u32).collect();
                let sum: u32 = d.iter().enumerate().map(|(i, x)| (10 - i as u32) * x).sum();
                let c = (11 - sum % 11) % 11;
                let mut s: String = d.iter().map(|x| char::from(b'0' + *x as u8)).collect();
                s.push(if c == 10 { 'X' } else { char::from(b'0' + c as u8) });
                ev.clean("isbn10", Value::from(s));
            }
            1 => {
                // UPC-A.
                let d: Vec<u32> = (0..11).map(|_| (rng.next() % 10) as u32).collect();
                let sum: u32 = d
                    .iter()
                    .enumerate()
                    .map(|(i, x)| x * if i % 2 == 0 { 3 } else { 1 })
                    .sum();
                let mut s: String = d.iter().map(|x| char::from(b'0' + *x as u8)).collect();
                s.push(char::from(b'0' + ((10 - sum % 10) % 10) as u8));
                ev.clean("barcode", Value::from(s));
            }
            2 => {
                // An order number that passes Luhn with a card prefix.
                let d = card_digits(rng);
                let s: String = d.iter().map(|c| char::from(b'0' + c)).collect();
                ev.clean("order_ref", Value::from(s));
            }
            3 => ev.clean(
                "shipment_tracking",
                Value::from(group(&format!("94{}", rng.digits(20)), &[4, 4, 4, 4, 4, 2], " ")),
            ),
            _ => ev.clean(
                "tooltip_rect",
                Value::from(format!(
                    "{:.4} {:.4} {:.4} {:.4}",
                    rng.range(0, 40_000) as f64 / 1e3,
                    rng.range(0, 80_000) as f64 / 1e3,
                    rng.range(100_000, 400_000) as f64 / 1e3,
                    rng.range(100_000, 800_000) as f64 / 1e3
                )),
            ),
        }
        return;
    }
    match rng.below(22) {
        0 => {
            let mut d: Vec<u8> = vec![9, 7, 8];
            d.extend((0..9).map(|_| (rng.next() % 10) as u8));
            let sum: u32 = d.iter().enumerate().map(|(i, x)| u32::from(*x) * if i % 2 == 0 { 1 } else { 3 }).sum();
            d.push(((10 - sum % 10) % 10) as u8);
            let s: String = d.iter().map(|c| char::from(b'0' + c)).collect();
            ev.clean(if held { "isbn13" } else { "isbn" }, Value::from(if held { group(&s, &[3, 1, 2, 6], "-") } else { s }));
        }
        1 => {
            let mut d: Vec<u8> = vec![4, 0];
            d.extend((0..10).map(|_| (rng.next() % 10) as u8));
            let sum: u32 = d.iter().enumerate().map(|(i, x)| u32::from(*x) * if i % 2 == 0 { 1 } else { 3 }).sum();
            d.push(((10 - sum % 10) % 10) as u8);
            let s: String = d.iter().map(|c| char::from(b'0' + c)).collect();
            ev.clean(if held { "ean" } else { "gtin" }, Value::from(s));
        }
        2 => ev.clean("sku", Value::from(format!("{}-{}-{}", rng.pick(&["TS", "HD", "SNK"]), rng.digits(5), rng.pick(&["BLK-M", "NVY-L", "RED-S"])))),
        3 => {
            // An order number that fails Luhn.
            let mut d = card_digits(rng);
            let last = d.len() - 1;
            d[last] = (d[last] + 1) % 10;
            let s: String = d.iter().map(|c| char::from(b'0' + c)).collect();
            ev.clean(if held { "bestellnummer" } else { "order_number" }, Value::from(s));
        }
        4 => ev.clean(
            if held { "app-version" } else { "app_version" },
            Value::from(format!("{}.{}.{}.{}", rng.range(1, 12), rng.range(0, 40), rng.range(0, 9), rng.range(0, 300))),
        ),
        5 => ev.clean(if held { "commit" } else { "git_sha" }, Value::from(rng.alnum(40, HEX))),
        6 => ev.clean(
            if held { "auftrag_id" } else { "request_id" },
            Value::from(format!("{}-{}-4{}-a{}-{}", rng.alnum(8, HEX), rng.alnum(4, HEX), rng.alnum(3, HEX), rng.alnum(3, HEX), rng.alnum(12, HEX))),
        ),
        7 => ev.clean(if held { "zeitstempel" } else { "ts" }, json!(rng.range(1_600_000_000_000, 1_800_000_000_000))),
        8 => ev.clean(
            "created_at",
            Value::from(format!("2026-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z", rng.range(1, 12), rng.range(1, 28), rng.range(0, 23), rng.range(0, 59), rng.range(0, 59), rng.digits(3))),
        ),
        9 => ev.clean(
            if held { "ausschnitt" } else { "viewport" },
            json!({"x": rng.range(0, 999_999) as f64 / 1e6, "y": rng.range(0, 999_999) as f64 / 1e6, "zoom": rng.range(1, 18)}),
        ),
        10 => ev.clean(
            if held { "diagramm_bbox" } else { "chart_bounds" },
            Value::from(format!("{:.4},{:.4},{:.4},{:.4}", coordinate(rng, true).abs() / 100.0, 0.5123, 0.25, 0.75)),
        ),
        11 => ev.clean(
            if held { "pflichtfelder" } else { "required_fields" },
            json!(["email", "phone", "first_name", "iban"]),
        ),
        12 => ev.clean(
            if held { "hotline" } else { "support_line_sku" },
            Value::from(format!("PRD-{}-{}", rng.digits(3), rng.digits(4))),
        ),
        13 => ev.clean(if held { "warenkorb_wert" } else { "cart_total" }, json!(rng.range(100, 99_999) as f64 / 100.0)),
        14 => ev.clean(if held { "bildschirm" } else { "screen" }, Value::from(format!("{}x{}", rng.pick(&[1920, 1280, 2560, 390]), rng.pick(&[1080, 720, 1440, 844])))),
        15 => ev.clean(
            if held { "seite" } else { "page_url" },
            Value::from(format!(
                "https://{}/{}?utm_source={}&utm_medium=email&page={}&sort={}",
                app_host(rng, part),
                rng.pick(&["pricing", "catalog/shoes", "help/articles/42"]),
                rng.pick(&["newsletter", "google", "partner"]),
                rng.range(1, 20),
                rng.pick(&["price_asc", "newest", "relevance"])
            )),
        ),
        16 => ev.clean(if held { "tracking_nr" } else { "tracking_number" }, Value::from(format!("1Z{}{}", rng.alnum(6, UPPER_ALNUM), rng.digits(10)))),
        17 => ev.clean(
            if held { "produkt" } else { "items" },
            json!([{"name": rng.pick(&["Trail Runner 2", "Espresso Pro", "Wool Beanie"]), "price": rng.range(5, 300), "qty": rng.range(1, 4)}]),
        ),
        18 => ev.clean(if held { "plan_name" } else { "plan" }, Value::from(rng.pick(&["Pro", "Team", "Enterprise", "Starter"]))),
        19 => ev.clean(if held { "farbe" } else { "theme_color" }, Value::from(format!("#{}", rng.alnum(6, HEX)))),
        20 => ev.clean(if held { "token_typ" } else { "token_type" }, Value::from("bearer")),
        _ => ev.clean(
            if held { "lagerplatz" } else { "warehouse_code" },
            Value::from(format!("{}-{}-{}", rng.pick(&["DE", "FR", "UK"]), rng.digits(2), rng.digits(3))),
        ),
    }
}

const EVENTS_TUNING: &[&str] = &[
    "Order Completed",
    "Signup",
    "Level Up",
    "Ticket Created",
    "Checkout Started",
    "Workspace Created",
];
const EVENTS_HELDOUT: &[&str] = &[
    "Überweisung ausgeführt",
    "Rendez-vous pris",
    "viaje_reservado",
    "Ride Requested",
    "kyc_submitted",
    "Rezept eingelöst",
];

/// `n` labelled events of `part` from `seed`.
pub fn corpus(part: Part, seed: u64, n: usize) -> Vec<Labelled> {
    // The part is folded into the seed so the two parts never share a stream.
    let mut rng = Rng::new(
        seed ^ if part == Part::Heldout {
            0x4845_4c44_4f55_5421
        } else {
            0
        },
    );
    let events = if part == Part::Heldout {
        EVENTS_HELDOUT
    } else {
        EVENTS_TUNING
    };
    (0..n)
        .map(|i| {
            let mut ev = Ev::new();
            ev.clean("distinct_id", Value::from(format!("u_{}", rng.alnum(12, LOWER_ALNUM))));
            ev.clean("time", json!(rng.range(1_700_000_000, 1_800_000_000)));
            ev.clean("$insert_id", Value::from(rng.alnum(32, HEX)));
            ev.clean("$os", Value::from(rng.pick(&["iOS", "Android", "Mac OS X", "Windows"])));
            for _ in 0..rng.range(2, 6) {
                clean(&mut rng, part, &mut ev);
            }
            // About two events in five carry sensitive values.
            if rng.chance(40) {
                for _ in 0..rng.range(1, 3) {
                    plant(&mut rng, part, &mut ev);
                }
            }
            let event =
                json!({"event": events[i % events.len()], "properties": Value::Object(std::mem::take(&mut ev.props))});
            let mut all = Vec::new();
            leaves(&event, String::new(), &mut all);
            let clean = all.into_iter().filter(|p| !ev.sensitive.contains(p)).collect();
            Labelled {
                event,
                findings: ev.findings,
                clean,
            }
        })
        .collect()
}
