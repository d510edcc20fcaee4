//! The closed set of detectors: one constant list, in [`DetectorId`] order.
//!
//! Each entry names the category it reports, its confidence and how it decides. The
//! scanning code lives in `scan`, `keys` and `roles`; this list is what findings, docs and
//! the table-driven tests (one table of true and false examples per entry, below) refer to.

use super::taxonomy as t;

/// Index into [`DETECTORS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DetectorId {
    Role,
    KeyEmail,
    KeyPhone,
    KeyIp,
    KeySecret,
    KeySecretEntropy,
    KeyName,
    KeyDateOfBirth,
    KeyNationalId,
    KeyPassport,
    KeyDriversLicense,
    KeyCreditCard,
    KeyBankAccount,
    KeyCoordinates,
    KeyAddress,
    KeyDevice,
    KeyUniqueId,
    KeyUsername,
    KeyDemographic,
    Email,
    Phone,
    Ipv4,
    Ipv6,
    CreditCard,
    Iban,
    UsSsn,
    InAadhaar,
    InPan,
    UkNino,
    Jwt,
    AwsAccessKey,
    GithubToken,
    GitlabToken,
    StripeSecretKey,
    OpenAiKey,
    AnthropicKey,
    SlackToken,
    SlackWebhook,
    GoogleApiKey,
    PrivateKey,
    SendgridKey,
    NpmToken,
    PypiToken,
    HuggingFaceToken,
    ShopifyToken,
    BearerToken,
    BasicAuth,
    UrlPassword,
    Coordinates,
    BitcoinBase58,
    BitcoinBech32,
    EthereumAddress,
    Name,
    ObfuscatedEmail,
    CoordinatesDms,
    UrlPathSecret,
}

/// How a detector decides, in one line.
#[derive(Debug, Clone, Copy)]
pub enum Basis {
    /// The field's role in the vendor protocol (the vendor's reserved fields).
    Role,
    /// The field's key name (any case style, with prefixes and suffixes).
    Key,
    /// The value's format, validated by a checksum or parser where the format has one.
    Value,
}

/// One detector.
#[derive(Debug, Clone, Copy)]
pub struct Detector {
    pub id: DetectorId,
    /// Stable name, reported in every finding.
    pub name: &'static str,
    /// The category it reports (a role or key detector may report a sibling, see `how`).
    pub category: &'static str,
    pub confidence: f32,
    pub basis: Basis,
    /// What it matches and how it validates.
    pub how: &'static str,
}

const fn d(
    id: DetectorId,
    name: &'static str,
    category: &'static str,
    confidence: f32,
    basis: Basis,
    how: &'static str,
) -> Detector {
    Detector {
        id,
        name,
        category,
        confidence,
        basis,
        how,
    }
}

use Basis::{Key, Role, Value};
use DetectorId as I;

/// Every detector, indexed by `DetectorId as usize`.
pub const DETECTORS: &[Detector] = &[
    d(
        I::Role,
        "role",
        t::UNIQUE_ID,
        0.99,
        Role,
        "a vendor's reserved fields, reported as role.<vendor> (Mixpanel: ids → user.unique_id, URLs/referrers → browsing_history, geo → location.coarse, \
       $os/$browser/$model/$screen_* → user.device, ip/$ip → ip_address, profile $email/$phone/$name/$first_name/$last_name/$avatar",
    ),
    d(
        I::KeyEmail,
        "key.email",
        t::EMAIL,
        0.95,
        Key,
        "key names an email address (email, user_email, contactEmailAddress) and the value has an @",
    ),
    d(
        I::KeyPhone,
        "key.phone",
        t::PHONE,
        0.9,
        Key,
        "key names a phone (phone, billingPhone, mobile, msisdn) and the value is 7-15 digits in phone punctuation",
    ),
    d(
        I::KeyIp,
        "key.ip",
        t::IP_ADDRESS,
        0.95,
        Key,
        "key names an IP address (ip, client_ip, ip_address) and the value parses as a public IP",
    ),
    d(
        I::KeySecret,
        "key.secret",
        t::CREDENTIALS,
        0.9,
        Key,
        "key names a secret (password, secret, token, api_key, access_token, client_secret, authorization, private_key, otp, pin); any non-placeholder value",
    ),
    d(
        I::KeySecretEntropy,
        "key.secret_entropy",
        t::CREDENTIALS,
        0.75,
        Key,
        "key is secret-like but ambiguous (key, auth, sig, signature, session, code) and the value is a high-entropy token that is not a UUID",
    ),
    d(
        I::KeyName,
        "key.name",
        t::NAME,
        0.85,
        Key,
        "key names a person's name (first_name, last_name, full_name, customer_name, name inside a person object); bare `name` only when no product context and the value is a capitalised 2-4 word name",
    ),
    d(
        I::KeyDateOfBirth,
        "key.date_of_birth",
        t::DATE_OF_BIRTH,
        0.9,
        Key,
        "key names a birth date (dob, birthday, date_of_birth, birthdate) and the value holds a date or year",
    ),
    d(
        I::KeyNationalId,
        "key.national_id",
        t::NATIONAL_ID,
        0.85,
        Key,
        "key names a national id (ssn, aadhaar, nino, pan_number, national_id) and the value has 6+ unmasked characters",
    ),
    d(
        I::KeyPassport,
        "key.passport",
        t::PASSPORT,
        0.85,
        Key,
        "key names a passport number",
    ),
    d(
        I::KeyDriversLicense,
        "key.drivers_license",
        t::DRIVERS_LICENSE,
        0.85,
        Key,
        "key names a driving licence number",
    ),
    d(
        I::KeyCreditCard,
        "key.credit_card",
        t::CREDIT_CARD,
        0.85,
        Key,
        "key names a card number (card_number, cc_number, credit_card) with 12-19 unmasked digits, or a CVV/CVC with 3-4 digits",
    ),
    d(
        I::KeyBankAccount,
        "key.bank_account",
        t::BANK_ACCOUNT,
        0.85,
        Key,
        "key names a bank account (iban, bank_account) and the value has 8+ digits or is an IBAN",
    ),
    d(
        I::KeyCoordinates,
        "key.coordinates",
        t::PRECISE_LOCATION,
        0.9,
        Key,
        "key names a latitude or longitude (lat, lng, lon, latitude, $latitude, coordinates array) and the number is in range with 3+ decimals (fewer: location.coarse)",
    ),
    d(
        I::KeyAddress,
        "key.address",
        t::ADDRESS,
        0.7,
        Key,
        "key names a postal address, street or postal code (address, street, zip, postal_code; city → location.coarse)",
    ),
    d(
        I::KeyDevice,
        "key.device",
        t::DEVICE_ID,
        0.8,
        Key,
        "key names a device identifier (device_id, idfa, gaid, push token, mac_address) or a user agent (→ user.device)",
    ),
    d(
        I::KeyUniqueId,
        "key.unique_id",
        t::UNIQUE_ID,
        0.7,
        Key,
        "key names a person identifier (user_id, customer_id, account_id, anonymous_id)",
    ),
    d(
        I::KeyUsername,
        "key.username",
        t::USERNAME,
        0.7,
        Key,
        "key names a username or handle",
    ),
    d(
        I::KeyDemographic,
        "key.demographic",
        t::GENDER,
        0.7,
        Key,
        "key names gender/sex (→ demographic.gender) or age (→ demographic.age_range)",
    ),
    d(
        I::Email,
        "email",
        t::EMAIL,
        0.97,
        Value,
        "local@domain with RFC 5322 dot-atom local part and a dotted hostname ending in an alphabetic TLD; also percent-encoded (%40), uppercase and plus-tagged; not asset names like logo@2x.png",
    ),
    d(
        I::Phone,
        "phone",
        t::PHONE,
        0.9,
        Value,
        "+E.164, NANP (xxx) xxx-xxxx / xxx-xxx-xxxx / xxx.xxx.xxxx, trunk-0 national (UK, DE, IN, FR) with any one consistent group separator, Indian 5+5 groupings, validated against libphonenumber metadata; not ISBN-like groupings, parts of longer grouped numbers or product codes",
    ),
    d(
        I::Ipv4,
        "ipv4",
        t::IP_ADDRESS,
        0.9,
        Value,
        "dotted quad parsed by std::net, public ranges only; not under version/build keys, after a v or a version word, or inside longer dotted runs",
    ),
    d(
        I::Ipv6,
        "ipv6",
        t::IP_ADDRESS,
        0.9,
        Value,
        "hex-and-colon token parsed by std::net, global unicast (2000::/3) outside documentation prefixes, or IPv4-mapped public",
    ),
    d(
        I::CreditCard,
        "credit_card",
        t::CREDIT_CARD,
        0.97,
        Value,
        "13-19 digits, compact or grouped by one consistent separator (space, dash, dot, slash, underscore, no-break or thin space) or mixed spacing, with a known issuer prefix and length, and Luhn; not product/order/barcode values, EAN-13s, or parts of longer grouped numbers",
    ),
    d(
        I::Iban,
        "iban",
        t::BANK_ACCOUNT,
        0.98,
        Value,
        "country code, check digits, BBAN, compact or in groups of four, with the registered length for the country and ISO 7064 mod 97",
    ),
    d(
        I::UsSsn,
        "us_ssn",
        t::NATIONAL_ID,
        0.9,
        Value,
        "ddd-dd-dddd (or 9 bare digits under an id key or after 'SSN') in the SSA's valid area/group/serial ranges",
    ),
    d(
        I::InAadhaar,
        "in_aadhaar",
        t::NATIONAL_ID,
        0.95,
        Value,
        "12 digits in 4-4-4 groups (or bare under an id key or after 'Aadhaar'), first digit 2-9, Verhoeff check digit",
    ),
    d(
        I::InPan,
        "in_pan",
        t::NATIONAL_ID,
        0.85,
        Value,
        "India PAN: AAAAA9999A with a valid holder-type fourth letter",
    ),
    d(
        I::UkNino,
        "uk_nino",
        t::NATIONAL_ID,
        0.9,
        Value,
        "UK NINO: HMRC prefix letter rules, unallocated prefixes refused, six digits, suffix A-D, compact or spaced",
    ),
    d(
        I::Jwt,
        "jwt",
        t::CREDENTIALS,
        0.97,
        Value,
        "three base64url segments whose header decodes to a JSON object with \"alg\"",
    ),
    d(
        I::AwsAccessKey,
        "aws_access_key_id",
        t::CREDENTIALS,
        0.95,
        Value,
        "AKIA/ASIA/ABIA/ACCA + 16 base32 characters",
    ),
    d(
        I::GithubToken,
        "github_token",
        t::CREDENTIALS,
        0.97,
        Value,
        "ghp_/gho_/ghu_/ghs_/ghr_ + 36 alphanumerics, or github_pat_ + 60+ word characters",
    ),
    d(
        I::GitlabToken,
        "gitlab_token",
        t::CREDENTIALS,
        0.95,
        Value,
        "glpat- + 20+ characters",
    ),
    d(
        I::StripeSecretKey,
        "stripe_secret_key",
        t::CREDENTIALS,
        0.97,
        Value,
        "sk_live_/sk_test_/rk_live_/rk_test_ + 10+ alphanumerics, whsec_ webhook secrets; never pk_ or object ids like cus_",
    ),
    d(
        I::OpenAiKey,
        "openai_api_key",
        t::CREDENTIALS,
        0.95,
        Value,
        "sk-proj-/sk-svcacct-/sk-admin- keys, or sk- keys carrying the T3BlbkFJ marker, or legacy sk- + 48 alphanumerics",
    ),
    d(
        I::AnthropicKey,
        "anthropic_api_key",
        t::CREDENTIALS,
        0.97,
        Value,
        "sk-ant- + kind + 32+ characters",
    ),
    d(
        I::SlackToken,
        "slack_token",
        t::CREDENTIALS,
        0.95,
        Value,
        "xoxb-/xoxp-/xoxa-/xoxr-/xoxs-/xoxe- and xapp- tokens",
    ),
    d(
        I::SlackWebhook,
        "slack_webhook",
        t::CREDENTIALS,
        0.95,
        Value,
        "hooks.slack.com/services/T…/B…/secret",
    ),
    d(
        I::GoogleApiKey,
        "google_api_key",
        t::CREDENTIALS,
        0.95,
        Value,
        "AIza + 35 characters",
    ),
    d(
        I::PrivateKey,
        "private_key",
        t::CREDENTIALS,
        0.99,
        Value,
        "-----BEGIN … PRIVATE KEY----- block",
    ),
    d(
        I::SendgridKey,
        "sendgrid_api_key",
        t::CREDENTIALS,
        0.95,
        Value,
        "SG. + 22 + . + 43 characters",
    ),
    d(
        I::NpmToken,
        "npm_token",
        t::CREDENTIALS,
        0.95,
        Value,
        "npm_ + 36 alphanumerics",
    ),
    d(
        I::PypiToken,
        "pypi_token",
        t::CREDENTIALS,
        0.95,
        Value,
        "pypi-AgE + 50+ characters",
    ),
    d(
        I::HuggingFaceToken,
        "huggingface_token",
        t::CREDENTIALS,
        0.9,
        Value,
        "hf_ + 34 letters",
    ),
    d(
        I::ShopifyToken,
        "shopify_token",
        t::CREDENTIALS,
        0.95,
        Value,
        "shpat_/shpss_/shpca_/shppa_ + 32 hex",
    ),
    d(
        I::BearerToken,
        "bearer_token",
        t::CREDENTIALS,
        0.9,
        Value,
        "'Bearer ' followed by a 16+ character token",
    ),
    d(
        I::BasicAuth,
        "basic_auth",
        t::CREDENTIALS,
        0.9,
        Value,
        "'Basic ' followed by base64 that decodes to user:password",
    ),
    d(
        I::UrlPassword,
        "url_password",
        t::CREDENTIALS,
        0.95,
        Value,
        "password in a URL's userinfo (scheme://user:password@host)",
    ),
    d(
        I::Coordinates,
        "coordinates",
        t::PRECISE_LOCATION,
        0.85,
        Value,
        "'lat,lon' text (comma, semicolon, bar, slash or space) with 4+ decimals each and both in range, not inside longer number lists; geo: URIs, ISO 6709 strings, WKT POINT(lng lat); not under ratio/scale keys, nor both below 1 without a location key",
    ),
    d(
        I::BitcoinBase58,
        "bitcoin_base58",
        t::CRYPTO_WALLET,
        0.97,
        Value,
        "Base58Check with a double-SHA-256 checksum and a P2PKH/P2SH version byte",
    ),
    d(
        I::BitcoinBech32,
        "bitcoin_bech32",
        t::CRYPTO_WALLET,
        0.97,
        Value,
        "bc1/tb1 SegWit address, bech32 (v0) or bech32m (v1+) checksum, valid program length",
    ),
    d(
        I::EthereumAddress,
        "ethereum_address",
        t::CRYPTO_WALLET,
        0.9,
        Value,
        "0x + exactly 40 hex digits, one case or a valid EIP-55 mixed-case checksum; not 64-hex transaction hashes",
    ),
    d(
        I::Name,
        "name",
        t::NAME,
        0.7,
        Value,
        "a full name under a key that names nothing: 2-4 tokens, one a known given name from the gazetteer (Faker's name lists, every script), the others known names, particles or capitalised words; Han/Hangul/Kana names split into known family + given; not under product, title, place or organisation keys, not beside product keys",
    ),
    d(
        I::ObfuscatedEmail,
        "obfuscated_email",
        t::EMAIL,
        0.85,
        Value,
        "an address with its @ or dots disguised ([at], (at), {at}, spaced @, fullwidth ＠, &#64;, [dot]); a plain-word ' at ' only with ' dot ' in the domain; then read as an email",
    ),
    d(
        I::CoordinatesDms,
        "coordinates_dms",
        t::PRECISE_LOCATION,
        0.85,
        Value,
        "a latitude and longitude with hemispheres in degrees-minutes-seconds, degree-minute or decimal degrees (48°51'24\"N 2°21'03\"E, N48 51.4 E2 21.05); precise when finer than 0.005°",
    ),
    d(
        I::UrlPathSecret,
        "url_path_secret",
        t::CREDENTIALS,
        0.85,
        Value,
        "a URL path segment that is a token by shape (20+ characters, mixed case, high entropy, not a UUID, digest or slug) or any opaque segment after a reset/verify/confirm/magic/invite/unsubscribe/activate/auth/login/token segment",
    ),
];

impl DetectorId {
    /// The detector's entry.
    pub fn detector(self) -> &'static Detector {
        &DETECTORS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.detector().name
    }
}

#[cfg(test)]
mod tests {
    use super::super::{classify_record, taxonomy};
    use super::*;

    /// True and false examples for one detector. A string starting with `{` is a whole
    /// `properties` object (for key and role detectors); anything else is the value of a
    /// neutral property `text`.
    fn examples(id: DetectorId) -> (&'static [&'static str], &'static [&'static str]) {
        match id {
            I::Role => (
                &[
                    r#"{"distinct_id": "usr_1"}"#,
                    r#"{"$device_id": "abc"}"#,
                    r#"{"$current_url": "https://example.com/"}"#,
                    r#"{"$ip": "8.8.8.8"}"#,
                    r#"{"$set": {"$email": "a@b.co"}}"#,
                ],
                &[
                    r#"{"token": "0123456789abcdef0123456789abcdef"}"#,
                    r#"{"distinct": "usr_1"}"#,
                    r#"{"$insert_id": "x"}"#,
                ],
            ),
            I::KeyEmail => (
                &[
                    r#"{"user_email": "jane@example.com"}"#,
                    r#"{"contactEmailAddress": "j@x.io"}"#,
                ],
                &[r#"{"email_verified": "jane@example.com"}"#, r#"{"email": "none"}"#],
            ),
            I::KeyPhone => (
                &[
                    r#"{"billingPhone": "555 0100 123"}"#,
                    r#"{"mobile": 4155550100}"#,
                    r#"{"phone-number": "+1 (415) 555-0100"}"#,
                ],
                &[
                    r#"{"phone_country": "US"}"#,
                    r#"{"phone": "ask later"}"#,
                    r#"{"phone": "12"}"#,
                ],
            ),
            I::KeyIp => (
                &[r#"{"client_ip": "8.8.8.8"}"#, r#"{"IPAddress": "2606:4700::1111"}"#],
                &[r#"{"client_ip": "10.0.0.1"}"#, r#"{"ip_count": 3}"#],
            ),
            I::KeySecret => (
                &[
                    r#"{"password": "dragon123"}"#,
                    r#"{"client_secret": "0954f300-8c8f-49b0-ab19-37f5d0392e35"}"#,
                    r#"{"auth": {"token": "abc123"}}"#,
                    r#"{"API-Key": "k"}"#,
                    r#"{"pin": 1234}"#,
                ],
                &[
                    r#"{"token_type": "bearer"}"#,
                    r#"{"password_strength": "weak"}"#,
                    r#"{"token_expires_in": 3600}"#,
                    r#"{"api_key_count": 7}"#,
                    r#"{"password": ""}"#,
                    r#"{"max_tokens": 512}"#,
                ],
            ),
            I::KeySecretEntropy => (
                &[
                    r#"{"integration_key": "q8Zr2LmX0vTn4WcYp7Hs"}"#,
                    r#"{"sig": "9f2c1a7be04d4b3e8a6f0c5d2e1b7a9c"}"#,
                ],
                &[
                    r#"{"key": "checkout"}"#,
                    r#"{"key_id": "q8Zr2LmX0vTn4WcYp7Hs"}"#,
                    r#"{"key": "0954f300-8c8f-49b0-ab19-37f5d0392e35"}"#,
                ],
            ),
            I::KeyName => (
                &[
                    r#"{"first_name": "Jane"}"#,
                    r#"{"customerName": "Jane Doe"}"#,
                    r#"{"shipping": {"name": "Jane Doe"}}"#,
                    r#"{"name": "Tina Cervantes"}"#,
                    r#"{"$set": {"name": "Carl Dussen van"}}"#,
                ],
                &[
                    r#"{"plan_name": "Business"}"#,
                    r#"{"name": "Yoga Mat Pro", "sku": "SKU-1", "price": 3}"#,
                    r#"{"items": [{"name": "Cast Iron Skillet"}]}"#,
                    r#"{"name_length": 20}"#,
                    r#"{"file_name": "roadmap.xlsx"}"#,
                    r#"{"name": "checkout_v2"}"#,
                ],
            ),
            I::KeyDateOfBirth => (
                &[
                    r#"{"dob": "2001-05-13"}"#,
                    r#"{"birthDate": "06/30/1987"}"#,
                    r#"{"date_of_birth": "28.11.1972"}"#,
                ],
                &[r#"{"birthday_campaign": "spring-2024"}"#, r#"{"dob": "unknown"}"#],
            ),
            I::KeyNationalId => (
                &[
                    r#"{"ssn": "123-45-6789"}"#,
                    r#"{"aadhaar_number": "2345 6789 0123"}"#,
                    r#"{"NINumber": "QQ123456C"}"#,
                ],
                &[r#"{"ssn_masking": "on"}"#, r#"{"ssn": "***-**-6789"}"#],
            ),
            I::KeyPassport => (
                &[r#"{"passport_number": "X1234567"}"#],
                &[r#"{"passport_country": "FR"}"#],
            ),
            I::KeyDriversLicense => (
                &[r#"{"drivers_license_number": "D1234-5678"}"#],
                &[r#"{"license_type": "pro"}"#],
            ),
            I::KeyCreditCard => (
                &[r#"{"card_number": "4000 0000 0000 0002"}"#, r#"{"cvv": "123"}"#],
                &[
                    r#"{"card_last4": "4242"}"#,
                    r#"{"card_number": "**** **** **** 4242"}"#,
                    r#"{"card_brand": "visa"}"#,
                ],
            ),
            I::KeyBankAccount => (
                &[
                    r#"{"bank_account": "12345678"}"#,
                    r#"{"payoutIban": "GB82 WEST 1234 5698 7654 32"}"#,
                ],
                &[
                    r#"{"bank_account_type": "checking"}"#,
                    r#"{"bank_account": "****5678"}"#,
                ],
            ),
            I::KeyCoordinates => (
                &[
                    r#"{"lat": 45.722543}"#,
                    r#"{"longitude": -122.4194}"#,
                    r#"{"pickup": {"lng": "2.1136"}}"#,
                    r#"{"coordinates": [2.2945, 48.8584]}"#,
                ],
                &[
                    r#"{"lat": 95.12345}"#,
                    r#"{"accuracy_m": 54.2}"#,
                    r#"{"platform": 1.2345}"#,
                ],
            ),
            I::KeyAddress => (
                &[r#"{"street_address": "221B Baker Street"}"#, r#"{"zip": "83465"}"#],
                &[r#"{"address_verified": "yes"}"#, r#"{"email_address": "a@b.co"}"#],
            ),
            I::KeyDevice => (
                &[r#"{"idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC"}"#],
                &[r#"{"device_type": "phone"}"#],
            ),
            I::KeyUniqueId => (&[r#"{"user_id": "u_123"}"#], &[r#"{"user_id_type": "internal"}"#]),
            I::KeyUsername => (&[r#"{"username": "jdoe"}"#], &[r#"{"username_length": 4}"#]),
            I::KeyDemographic => (&[r#"{"gender": "f"}"#], &[r#"{"gender_options": ""}"#]),
            I::Email => (
                &[
                    "jane.doe@gmail.com",
                    "JANE.DOE@GMAIL.COM",
                    "jane+news@example.co.uk",
                    "Failed to send to <ldonnelly@yahoo.com>: unavailable",
                    "https://x.io/welcome?email=jane%40gmail.com",
                    "https://x.io/users/jane@x.de/settings",
                    "jane%40gmail.com",
                ],
                &[
                    "logo@2x.png",
                    "user@localhost",
                    "@handle",
                    "a@b",
                    "npm i pkg@1.2.3",
                    "foo@bar.123",
                ],
            ),
            I::Phone => (
                &[
                    "+14155552671",
                    "(720) 346-6386",
                    "925.466.7544",
                    "801-817-1555",
                    "+44 20 7946 0958",
                    "020 7946 0958",
                    "my number is +91 85258 98229, call me",
                    "https://x.io/verify?phone=%2B447255962687",
                    "86374 10047",
                ],
                &[
                    "1724837533",
                    "2024-09-19",
                    "123-45-6789",
                    "4.12.0.1",
                    "+1 555",
                    "06/30/1987",
                    "(123) 456-7890",
                ],
            ),
            I::Ipv4 => (
                &[
                    "104.38.98.159",
                    "Login blocked: suspicious activity from 39.151.181.27",
                    "https://x.io/audit?ip=16.25.99.206&range=7d",
                ],
                &[
                    "10.0.0.1",
                    "192.168.1.20",
                    "4.12.0.1.5",
                    "v4.12.0.1",
                    "version 6.16.18.19",
                    "256.1.1.1",
                    "127.0.0.1",
                ],
            ),
            I::Ipv6 => (
                &[
                    "2001:4860:4860::8888",
                    "Rate limit exceeded for 2a01:9cef:a1ba:c07f:5794:237e:cc82:1a6b",
                ],
                &["fe80::1", "2001:db8::1", "12:30:45", "::1", "00:1A:2B:3C:4D:5E"],
            ),
            I::CreditCard => (
                &[
                    "4111111111111111",
                    "4111 1111 1111 1111",
                    "3782-822463-10005",
                    "Card 5555555555554444 was declined",
                    "2223 0031 2200 3222",
                ],
                &[
                    "4111111111111112",
                    "7569609206673545",
                    "**** **** **** 4242",
                    "1725103610217",
                    "4111 1111-1111 1111",
                ],
            ),
            I::Iban => (
                &[
                    "GB82WEST12345698765432",
                    "GB82 WEST 1234 5698 7654 32",
                    "Payout to DE89370400440532013000 rejected",
                    "NL91ABNA0417164300",
                ],
                &["GB82WEST12345698765433", "DE8937040044053201300", "SKU-13960-NVY-M"],
            ),
            I::UsSsn => (
                &[
                    "756-62-3641",
                    "SSN 123-45-6789 did not match",
                    r#"{"document_number": "037262675"}"#,
                ],
                &["666-62-8923", "959-17-9146", "000-52-4108", "910085558", "123456789"],
            ),
            I::InAadhaar => (
                &[
                    "4954 4545 9599",
                    "Aadhaar 495445459599 failed",
                    r#"{"aadhaar": "495445459599"}"#,
                ],
                &["4954 4545 9598", "886087874387", "1234 5678 9012"],
            ),
            I::InPan => (
                &["ABCPE1234F", "PAN VWCPW3625K is linked"],
                &["ABCXE1234F", "ABCPE12345", "JOB4K56I"],
            ),
            I::UkNino => (
                &["JW872540A", "JW 87 25 40 A", "NINO WT363534A could not be verified"],
                &["GB123456A", "JW872540E", "DA123456A"],
            ),
            I::Jwt => (
                &[
                    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abcdefghijklmnop",
                ],
                &[
                    "eyJvZmZzZXQiOiAxMzA1LCAic29ydCI6ICJjcmVhdGVkX2F0In0=",
                    "eyJub3QiOiJqd3QifQ.eyJ4IjoxfQ.sig",
                ],
            ),
            I::AwsAccessKey => (
                &["AKIAIOSFODNN7EXAMPLE", "key=ASIAY34FZKBOKMUTVV7A;"],
                &["AKIAIOSFODNN7EXAMPL", "AKIA1234567890123456", "XAKIAIOSFODNN7EXAMPLE"],
            ),
            I::GithubToken => (
                &[
                    "ghp_0123456789abcdefghijABCDEFGHIJ012345",
                    "github_pat_11ABCDEFG0123456789abc_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghijABCDE",
                ],
                &["ghp_short", "ghx_0123456789abcdefghijABCDEFGHIJ012345"],
            ),
            I::GitlabToken => (&["glpat-abcdefghijKLMNOPQRST"], &["glpat-short"]),
            I::StripeSecretKey => (
                &[
                    "sk_live_dCpaQnwyDwjEYPGXtuR0RGE4",
                    "my key rk_live_qqi0HIcJSeHGJCjYU5YJIiYB stopped working",
                    "whsec_abcdefghijklmnopqrstuvwx",
                ],
                &[
                    "pk_live_dCpaQnwyDwjEYPGXtuR0RGE4",
                    "cus_9NOaH71AXzEj7vYTZty0WcWp",
                    "sk_live_short",
                    "sub_eTeJoQC9Yfq2nqrCsNzX1ZKu",
                ],
            ),
            I::OpenAiKey => (
                &[
                    "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",
                    "sk-proj-yR5R9Aedq-bAhJ62kDQOV7bS_s1cfUniXB9BXW2yhpuIQY6Y9VyML59HTsyXeO",
                ],
                &["sk-short", "sk-this-is-not-a-key"],
            ),
            I::AnthropicKey => (
                &["sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789ABCDEF-_"],
                &["sk-ant-x"],
            ),
            I::SlackToken => (
                &[
                    "xoxb-33787389750-1719677045919-D3Jyu9SOJg8qJKxsFtxn9cFn",
                    "xapp-1-A012ABCD3EF-1234567890123-abcdef",
                ],
                &["xoxb-1", "xoxz-33787389750-1719677045919"],
            ),
            I::SlackWebhook => (
                &["https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"],
                &["https://hooks.slack.com/services/"],
            ),
            I::GoogleApiKey => (&["AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"], &["AIzaShort"]),
            I::PrivateKey => (
                &["-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"],
                &["-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"],
            ),
            I::SendgridKey => (
                &["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"],
                &["SG.short.x"],
            ),
            I::NpmToken => (&["npm_abcdefghijklmnopqrstuvwxyz0123456789"], &["npm_install"]),
            I::PypiToken => (
                &["pypi-AgEIcHlwaS5vcmcCJGI4YjQ4YjQ4LTk4YjQtNDhiNC05OGI0LTQ4YjQ4YjQ4YjQ4YgACKlsz"],
                &["pypi-AgE"],
            ),
            I::HuggingFaceToken => (&["hf_abcdefghijklmnopqrstuvwxyzABCDEFGH"], &["hf_short"]),
            I::ShopifyToken => (&["shpat_0123456789abcdef0123456789abcdef"], &["shpat_xyz"]),
            I::BearerToken => (
                &["Authorization: Bearer q8Zr2LmX0vTn4WcYp7Hs"],
                &["Bearer of bad news", "bearer token"],
            ),
            I::BasicAuth => (
                &["Authorization: Basic dXNlcjpwYXNzd29yZA=="],
                &["Basic plan", "Basic aGVsbG8gd29ybGQ="],
            ),
            I::UrlPassword => (
                &["postgres://admin:s3cret@db.example.com:5432/app"],
                &["https://user@example.com/", "https://example.com/a:b@c"],
            ),
            I::Coordinates => (
                &[
                    "53.560466,10.010535",
                    "-33.8773, 151.2266",
                    "https://maps.google.com/?q=41.4277,2.1136",
                    r#"{"geo": "0.1234,0.5678"}"#,
                ],
                &[
                    "0.8504,0.3620",
                    r#"{"split_ratio": "45.8011,4.8715"}"#,
                    "1.5,2.0",
                    "95.12345,10.12345",
                    "45.80,4.87",
                ],
            ),
            I::BitcoinBase58 => (
                &[
                    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                    "sent to 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy today",
                ],
                &[
                    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb",
                    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLz",
                ],
            ),
            I::BitcoinBech32 => (
                &[
                    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
                    "https://mempool.space/address/bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
                ],
                &["bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "bc1short"],
            ),
            I::EthereumAddress => (
                &[
                    "0x62f25240321774076f843c8c2d846c65aaf9803e",
                    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                    "https://etherscan.io/address/0xbd52ce569fe15649e6847234a9be016d00ddda3f",
                ],
                &[
                    "0x3c725de1c6b2c5e387f87102a41fc97480c38b75566fd7d8df822a20fd69596d",
                    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
                    "0x123",
                ],
            ),
            I::Name => (
                &[
                    "Emma Thompson",
                    "José María García",
                    "Иван Петров",
                    "王秀英",
                    r#"{"contact_person": "Chiara Rossi"}"#,
                    r#"{"passenger": {"who": "Ahmed Hassan"}}"#,
                ],
                &[
                    "Marble Falls",
                    "Pro Plan",
                    "Grace",
                    r#"{"product_title": "Jack Daniels"}"#,
                    r#"{"city": "Santa Clara"}"#,
                    r#"{"name": "Emma Sofa", "sku": "SKU-1"}"#,
                    r#"{"company": "Morgan Stanley"}"#,
                ],
            ),
            I::ObfuscatedEmail => (
                &[
                    "write to jane [at] example [dot] com",
                    "jane.doe(at)gmail.com",
                    "contact: jane at example dot co dot uk",
                    "jane @ example.com",
                    "jane＠example.com",
                    "jane&#64;example.com",
                    "j.smith {at} mail {dot} example {dot} org",
                    "jane@example[dot]com",
                ],
                &[
                    "see us at shop.example.com",
                    "arrive at gate 5 dot 30",
                    "jane [at] home",
                    "price @ 3.50",
                    "look at example dot",
                ],
            ),
            I::CoordinatesDms => (
                &[
                    r#"48°51'24"N 2°21'03"E"#,
                    "48°51′24″N, 2°21′03″E",
                    "N48 51.400 E2 21.050",
                    "33°52.2' S 151°12.5' E",
                    "48.8584° N, 2.2945° E",
                ],
                &["48° N", "rotate 45° then 90°", "N48 E2", "Section 5 N 12", "100°F"],
            ),
            I::UrlPathSecret => (
                &[
                    "https://x.io/reset-password/q8Zr2LmX0vTn4WcYp7Hs",
                    "https://x.io/invite/7fK2pQ9xLm",
                    "https://x.io/files/Zq8r2LmX0vTn4WcYp7HsKd93/view",
                    "myapp://magic-link/Hx72kPq9Wm4Lz8Rt",
                    "https://x.io/#/activate/a8Kd92LmQx7Pz3Rt",
                ],
                &[
                    "https://x.io/reset-password/success",
                    "https://x.io/blog/how-to-reset-your-password-in-2024",
                    "https://x.io/orders/123456",
                    "https://x.io/commit/9f2c1a7be04d4b3e8a6f0c5d2e1b7a9c0d1e2f3a",
                    "https://x.io/verify/email",
                ],
            ),
        }
    }

    fn detected(id: DetectorId, example: &str) -> bool {
        let props = if example.starts_with('{') {
            serde_json::from_str::<serde_json::Value>(example).unwrap()
        } else {
            serde_json::json!({ "text": example })
        };
        let record = serde_json::json!({ "event": "Example", "properties": props });
        // Role findings carry the layout's name (`role.mixpanel`); the examples are Mixpanel's.
        let layout = crate::protocol::mixpanel::roles::EVENT;
        let name = if id == I::Role {
            layout.layout.detector
        } else {
            id.name()
        };
        classify_record(&record, layout).iter().any(|f| f.detector == name)
    }

    /// Formats and look-alikes the labelled corpus of docs/DETECTION.md does not show:
    /// (detector, example, reported?).
    const BEYOND_THE_CORPUS: &[(DetectorId, &str, bool)] = &[
        (I::Email, "write to a@mail.example.co.uk today", true),
        (I::Email, "user a@xn--bcher-kva.example signed up", true),
        (I::Email, "https://app.x.io/#/users/jane@x.io/edit", true),
        (I::Email, r#"{"user": {"id": 7, "note": "jane@example.org"}}"#, true),
        (I::Email, "Y29udGFjdCBqYW5lQGV4YW1wbGUuY29t", true),
        (I::KeyEmail, "eyJlbWFpbCI6ImphbmVAZXhhbXBsZS5jb20ifQ", true),
        (I::Email, "jane%2Bnews%40gmail.com", true),
        (I::Email, "git@github.com:org/repo.git", false),
        (I::Phone, "call +33 1 42 68 53 00 now", true),
        (I::Phone, "+49 (0)30 1234567", true),
        (I::Phone, "0044 20 7946 0958", true),
        (I::Phone, "tel:+14155552671", true),
        (I::Phone, "ring 1-800-555-0199", true),
        (I::Phone, r#"{"mobileNumber": "07911 123456"}"#, true),
        (I::Phone, "2024-09-19T12:30:45+02:00", false),
        (I::Phone, "978-3-16-148410-0", false),
        (I::Phone, "W/\"v8Y9K3LsVt+fgz+5\"", false),
        (
            I::Ipv4,
            "Mozilla/5.0 (Windows NT 10.0) Chrome/120.0.0.0 Safari/537.36",
            false,
        ),
        (I::Ipv4, r#"{"user_agent": "Agent 8.8.8.8"}"#, false),
        (I::Ipv4, "Windows 10.0.22631.2861", false),
        (I::Ipv4, "subnet 93.184.216.0", false),
        (I::Ipv6, "::ffff:8.8.4.4", true),
        (I::Ipv6, "[2606:4700:4700::1111]:443", true),
        (I::CreditCard, "paid with 3056 9309 0259 04", true),
        (I::CreditCard, "card 3530111333300000", true),
        (I::CreditCard, "6250941006528599", true),
        (I::CreditCard, "1541815603606036480", false),
        (
            I::CreditCard,
            "896dce3d772eeb-50067385635691-cb529ae9-9bf59b-5cb05774f8682a",
            false,
        ),
        (I::Iban, "CH93 0076 2011 6238 5295 7", true),
        (I::Iban, "DE89370400440532013000", true),
        (I::Iban, "BE68539007547034", true),
        (I::Iban, "FR1420041010050500013M02606", true),
        (I::UsSsn, "SSN: 123 45 6789", true),
        (I::InAadhaar, "C662774D-8129-4083-8012-D1785E975947", false),
        (I::UkNino, "NI number AB 12 34 56 C", true),
        (I::GithubToken, "gho_16C7e42F292c6912E7710c838347Ae178B4a", true),
        (
            I::SlackWebhook,
            "https://hooks.slack.com/services/T024BE7LD/B02GN6EBQ/abcdefghijklmnopqrstuvwx",
            true,
        ),
        (
            I::PrivateKey,
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----",
            true,
        ),
        (I::UrlPassword, "https://jane%40x.io:hunter2@db.x.io/", true),
        (
            I::KeySecret,
            "https://x.io/cb#access_token=ya29.a0AfH6SMBx&token_type=Bearer",
            true,
        ),
        (
            I::KeySecretEntropy,
            "https://x.io/oauth/callback?code=4/0AX4XfWjYZ12abcDEFghiJKLmnoPQRstuVWxyz",
            true,
        ),
        (I::KeySecret, "https://x.io/a?token_type=bearer&expires_in=3600", false),
        (I::Coordinates, "-33.868820, 151.209290", true),
        (I::Coordinates, r#"{"latency": "12.3456,45.6789"}"#, false),
        (
            I::KeyCoordinates,
            r#"{"location": {"coordinates": [151.2093, -33.8688]}}"#,
            true,
        ),
        (
            I::BitcoinBech32,
            "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297",
            true,
        ),
        (I::BitcoinBech32, "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", true),
        (
            I::EthereumAddress,
            "send to 0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            true,
        ),
        (I::KeyName, r#"{"billing": {"cardholderName": "Jane Doe"}}"#, true),
        (I::KeyName, r#"{"name": "Pro Plan"}"#, false),
        (I::KeyName, r#"{"company_name": "Acme Corp"}"#, false),
        (I::KeyDateOfBirth, r#"{"birthDate": "June 30, 1987"}"#, true),
        (I::KeyEmail, r#"{"e-mail": "x@y.io"}"#, true),
        // Digit-group separators: one consistent separator, or mixed spacing.
        (I::CreditCard, "4111.1111.1111.1111", true),
        (I::CreditCard, "4111/1111/1111/1111", true),
        (I::CreditCard, "4111_1111_1111_1111", true),
        (I::CreditCard, "4111\u{a0}1111\u{a0}1111\u{a0}1111", true),
        (I::CreditCard, "4111\u{2009}1111\u{2009}1111\u{2009}1111", true),
        (I::CreditCard, "4111  1111 1111  1111", true),
        (I::CreditCard, "3782 - 822463 - 10005", true),
        (I::CreditCard, "4111.1111.1111.1112", false),
        (I::CreditCard, "41.1111.1111.111111", false),
        (I::CreditCard, "9400 4111 1111 1111 1111 22", false),
        (I::Phone, "06.12.34.56.78", true),
        (I::Phone, "020/7946/0958", true),
        (I::Phone, "+44\u{a0}20\u{a0}7946\u{a0}0958", true),
        // Product codes and barcodes are neither cards nor phones.
        (I::CreditCard, r#"{"gtin": "4006381333931"}"#, false),
        (I::CreditCard, "4006381333931", false),
        (I::CreditCard, r#"{"order_ref": "4111111111111111"}"#, false),
        (I::CreditCard, r#"{"isbn": "9780306406157"}"#, false),
        (
            I::CreditCard,
            r#"{"card_number": "4111111111111111", "sku": "TS-1"}"#,
            true,
        ),
        (I::CreditCard, r#"{"pan": 4111111111111111}"#, true),
        (I::Phone, r#"{"barcode": "036000291452"}"#, false),
        (I::Phone, "0-306-40615-2", false),
        // Emails in links.
        (I::Email, "mailto:jane@example.com?subject=Hi", true),
        (I::Email, "myapp://invite?email=jane%40example.com", true),
        (I::Email, "myapp://profile/jane%40example.com/edit", true),
        // Coordinates in other notations.
        (I::Coordinates, "geo:48.857,2.295", true),
        (I::Coordinates, "geo:-33.8688,151.2093,35;u=10", true),
        (I::Coordinates, "+48.8577+002.2950/", true),
        (I::Coordinates, "+4851.42+00221.05/", true),
        (I::Coordinates, "POINT(151.2093 -33.8688)", true),
        (I::Coordinates, "POINT Z (2.29450 48.85840 35)", true),
        (I::Coordinates, "48.8584; 2.2945", true),
        (I::Coordinates, "48.8584|2.2945", true),
        (I::Coordinates, "48.8584 2.2945", true),
        (I::Coordinates, "12.5000 40.2500 320.0000 568.0000", false),
        (I::Coordinates, "0.1250;0.5000;0.2500;0.7500", false),
        (I::Coordinates, "version 4.1234 2.5678 build", true),
        (I::Coordinates, "+1-415-555-0100", false),
        // Secrets in paths, fragments and deep links.
        (
            I::UrlPathSecret,
            "/unsubscribe/0954f300-8c8f-49b0-ab19-37f5d0392e35",
            true,
        ),
        (I::UrlPathSecret, "https://x.io/resetPassword/abc123def456", true),
        (I::UrlPathSecret, "https://x.io/invite/team", false),
        (
            I::UrlPathSecret,
            "https://x.io/u/0954f300-8c8f-49b0-ab19-37f5d0392e35",
            false,
        ),
        (
            I::UrlPathSecret,
            "https://x.io/p/Wireless-Noise-Cancelling-Headphones",
            false,
        ),
        // Form fields in other shapes.
        (
            I::KeySecret,
            r#"{"answers": [{"label": "Password", "response": "hunter22"}]}"#,
            true,
        ),
        (
            I::KeySecret,
            r#"{"f": [{"fieldName": "passcode", "fieldValue": "hunter22"}]}"#,
            true,
        ),
        (
            I::KeySecret,
            r#"{"entries": [["plan", "pro"], ["new_password", "hunter22"]]}"#,
            true,
        ),
        (I::KeySecret, r#"{"f": [{"user_id": "u1", "data": "hunter22"}]}"#, false),
        (I::KeyName, r#"{"required": ["email", "phone", "name"]}"#, false),
        (I::KeyEmail, r#"{"required": ["email", "phone"]}"#, false),
    ];

    #[test]
    fn formats_beyond_the_dev_corpus() {
        let failures: Vec<String> = BEYOND_THE_CORPUS
            .iter()
            .filter(|(id, ex, want)| detected(*id, ex) != *want)
            .map(|(id, ex, want)| format!("{} {} {ex:?}", id.name(), if *want { "missed" } else { "flagged" }))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn detection_doc_lists_every_detector() {
        let doc = include_str!("../../docs/DETECTION.md");
        for det in DETECTORS {
            assert!(
                doc.contains(&format!("| `{}` |", det.name)),
                "docs/DETECTION.md lacks {}",
                det.name
            );
        }
    }

    #[test]
    fn list_is_in_id_order_with_unique_names_and_known_categories() {
        for (i, det) in DETECTORS.iter().enumerate() {
            assert_eq!(det.id as usize, i, "{} out of order", det.name);
            assert_eq!(
                DETECTORS.iter().filter(|o| o.name == det.name).count(),
                1,
                "{}",
                det.name
            );
            assert!(
                taxonomy::describe(det.category).is_some(),
                "{}: {}",
                det.name,
                det.category
            );
            assert!((0.0..=1.0).contains(&det.confidence));
        }
    }

    #[test]
    fn every_detector_passes_its_examples() {
        let mut failures = Vec::new();
        for det in DETECTORS {
            let (yes, no) = examples(det.id);
            assert!(
                !yes.is_empty() && !no.is_empty(),
                "{} needs true and false examples",
                det.name
            );
            for ex in yes {
                if !detected(det.id, ex) {
                    failures.push(format!("{} missed {ex:?}", det.name));
                }
            }
            for ex in no {
                if detected(det.id, ex) {
                    failures.push(format!("{} flagged {ex:?}", det.name));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
