//! What a property's key name says about its value.
//!
//! A key is split into lowercase words (camelCase, snake_case, kebab-case, spaces, dots and
//! a leading `$` all work: `contactEmailAddress`, `billing-phone`, `$first_name`). The
//! *last* words decide, after dropping neutral trailers (`_1`, `_confirmation`, `_value`):
//! `user_email` is an email, `email_verified` is a flag about one, `token_type` is not a
//! token, `api_key_count` is a number. Only name and `key`/`code` phrases look at the word
//! before the head (`customer_name` is a person, `plan_name` is not).
//!
//! Results are cached per distinct key string in a bounded thread-local map, so the
//! per-leaf cost is one hash lookup.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use super::lexicon;

use super::roles::{Layout, Level, MAX_LAYOUTS, Role};

/// What the key says the value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyKind {
    #[default]
    None,
    Email,
    Phone,
    Ip,
    /// A secret whatever the value looks like (password, token, api_key …).
    Secret,
    /// Maybe a secret (key, auth, sig, session, code): only high-entropy values count.
    SecretWeak,
    /// A person's name (first_name, customer_name …).
    PersonName,
    /// A bare `name`: a person or a product, decided by context.
    BareName,
    DateOfBirth,
    /// A specific national id (ssn, aadhaar, nino, pan_number …).
    NationalId,
    /// A generic identity-document number: enables bare-digit SSN/Aadhaar checks only.
    DocumentNumber,
    Passport,
    DriversLicense,
    Card,
    CardSecurityCode,
    BankAccount,
    /// Wallet addresses: a hint only, values must validate.
    Wallet,
    Latitude,
    Longitude,
    /// A coordinate pair or array (coordinates, latlng, geo).
    Coordinates,
    Address,
    PostalCode,
    City,
    DeviceId,
    UserAgent,
    UniqueId,
    Username,
    Gender,
    Age,
}

/// Key-name traits that change how values are judged.
pub mod flags {
    /// A version/build/release key: dotted quads there are versions, not IP addresses.
    pub const VERSION: u8 = 1;
    /// A ratio/scale/range key: number pairs there are not coordinates.
    pub const RATIO: u8 = 2;
    /// A container of products or items (`items`, `products`, `cart`): `name` is a product.
    pub const PRODUCT: u8 = 4;
    /// A container about a person (`shipping`, `beneficiary`, `form_fields`): `name` is a person.
    pub const PERSON: u8 = 8;
    /// A secret key whose value may legitimately be a number (password, pin, otp).
    pub const NUMERIC_SECRET: u8 = 16;
    /// A location container (`location`, `pickup`, `geo`).
    pub const LOCATION: u8 = 32;
    /// A key about a thing, place or organisation (`title`, `company`, `city`, `browser`):
    /// a name-shaped value there is not a person's.
    pub const NOT_PERSON: u8 = 64;
}

/// The classification of one key name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyClass {
    pub kind: KeyKind,
    pub flags: u8,
}

impl KeyClass {
    pub const NONE: KeyClass = KeyClass {
        kind: KeyKind::None,
        flags: 0,
    };

    pub fn has(self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Phrases matched against the end of the key, longest first within each kind.
const PHRASES: &[(&[&str], KeyKind)] = {
    use KeyKind::*;
    &[
        // Email.
        (&["email", "address"], Email),
        (&["email", "addr"], Email),
        (&["e", "mail"], Email),
        (&["emailaddress"], Email),
        (&["email"], Email),
        (&["emails"], Email),
        (&["mail"], Email),
        // Phone.
        (&["phone", "number"], Phone),
        (&["tel", "no"], Phone),
        (&["tel", "number"], Phone),
        (&["phone", "no"], Phone),
        (&["phone", "num"], Phone),
        (&["phonenumber"], Phone),
        (&["mobile", "number"], Phone),
        (&["mobile", "no"], Phone),
        (&["contact", "number"], Phone),
        (&["whatsapp", "number"], Phone),
        (&["fax", "number"], Phone),
        (&["phone"], Phone),
        (&["phones"], Phone),
        (&["mobile"], Phone),
        (&["cellphone"], Phone),
        (&["cell"], Phone),
        (&["telephone"], Phone),
        (&["tel"], Phone),
        (&["msisdn"], Phone),
        (&["whatsapp"], Phone),
        (&["fax"], Phone),
        // IP addresses.
        (&["ip", "address"], Ip),
        (&["ip", "addr"], Ip),
        (&["ipaddress"], Ip),
        (&["remote", "addr"], Ip),
        (&["forwarded", "for"], Ip),
        (&["ip"], Ip),
        (&["ips"], Ip),
        (&["ipv4"], Ip),
        (&["ipv6"], Ip),
        // Device identifiers (before the generic token rule).
        (&["push", "token"], DeviceId),
        (&["fcm", "token"], DeviceId),
        (&["apns", "token"], DeviceId),
        (&["device", "token"], DeviceId),
        (&["registration", "token"], DeviceId),
        (&["device", "id"], DeviceId),
        (&["deviceid"], DeviceId),
        (&["advertising", "id"], DeviceId),
        (&["android", "id"], DeviceId),
        (&["mac", "address"], DeviceId),
        (&["idfa"], DeviceId),
        (&["idfv"], DeviceId),
        (&["gaid"], DeviceId),
        (&["aaid"], DeviceId),
        (&["imei"], DeviceId),
        (&["user", "agent"], UserAgent),
        (&["useragent"], UserAgent),
        // Pagination and counting "tokens" are not credentials.
        (&["page", "token"], None),
        (&["next", "token"], None),
        (&["pagination", "token"], None),
        (&["continuation", "token"], None),
        (&["cursor", "token"], None),
        (&["sync", "token"], None),
        (&["max", "tokens"], None),
        (&["total", "tokens"], None),
        (&["prompt", "tokens"], None),
        (&["completion", "tokens"], None),
        (&["input", "tokens"], None),
        (&["output", "tokens"], None),
        // Secrets.
        (&["secret", "access", "key"], Secret),
        (&["access", "key"], Secret),
        (&["secret", "key"], Secret),
        (&["private", "key"], Secret),
        (&["api", "key"], Secret),
        (&["app", "key"], Secret),
        (&["client", "key"], Secret),
        (&["signing", "key"], Secret),
        (&["encryption", "key"], Secret),
        (&["master", "key"], Secret),
        (&["apikey"], Secret),
        (&["privatekey"], Secret),
        (&["accesstoken"], Secret),
        (&["authtoken"], Secret),
        (&["auth", "code"], Secret),
        (&["authorization", "code"], Secret),
        (&["oauth", "code"], Secret),
        (&["verification", "code"], Secret),
        (&["otp", "code"], Secret),
        (&["mfa", "code"], Secret),
        (&["2fa", "code"], Secret),
        (&["totp", "code"], Secret),
        (&["recovery", "code"], Secret),
        (&["recovery", "codes"], Secret),
        (&["backup", "codes"], Secret),
        (&["magic", "code"], Secret),
        (&["reset", "code"], Secret),
        (&["security", "answer"], Secret),
        (&["password"], Secret),
        (&["passwd"], Secret),
        (&["pwd"], Secret),
        (&["passphrase"], Secret),
        (&["passcode"], Secret),
        (&["secret"], Secret),
        (&["secrets"], Secret),
        (&["token"], Secret),
        (&["tokens"], Secret),
        (&["authorization"], Secret),
        (&["bearer"], Secret),
        (&["credentials"], Secret),
        (&["credential"], Secret),
        (&["creds"], Secret),
        (&["cookie"], Secret),
        (&["cookies"], Secret),
        (&["otp"], Secret),
        (&["totp"], Secret),
        (&["pin"], Secret),
        (&["jsessionid"], SecretWeak),
        (&["phpsessid"], SecretWeak),
        (&["sessionid"], SecretWeak),
        (&["session"], SecretWeak),
        (&["sid"], SecretWeak),
        (&["auth"], SecretWeak),
        (&["signature"], SecretWeak),
        (&["sig"], SecretWeak),
        (&["code"], SecretWeak),
        (&["key"], SecretWeak),
        // Names ("name" with a qualifier is decided in `classify_words`).
        (&["first", "name"], PersonName),
        (&["last", "name"], PersonName),
        (&["given", "name"], PersonName),
        (&["family", "name"], PersonName),
        (&["middle", "name"], PersonName),
        (&["full", "name"], PersonName),
        (&["maiden", "name"], PersonName),
        (&["street", "name"], Address),
        (&["user", "name"], Username),
        (&["firstname"], PersonName),
        (&["lastname"], PersonName),
        (&["givenname"], PersonName),
        (&["fullname"], PersonName),
        (&["surname"], PersonName),
        (&["fname"], PersonName),
        (&["lname"], PersonName),
        // Birth dates.
        (&["date", "of", "birth"], DateOfBirth),
        (&["year", "of", "birth"], DateOfBirth),
        (&["birth", "date"], DateOfBirth),
        (&["birth", "day"], DateOfBirth),
        (&["birth", "year"], DateOfBirth),
        (&["dateofbirth"], DateOfBirth),
        (&["birthdate"], DateOfBirth),
        (&["birthday"], DateOfBirth),
        (&["bday"], DateOfBirth),
        (&["dob"], DateOfBirth),
        // National identifiers.
        (&["social", "security", "number"], NationalId),
        (&["social", "security", "no"], NationalId),
        (&["social", "security"], NationalId),
        (&["national", "insurance", "number"], NationalId),
        (&["national", "insurance", "no"], NationalId),
        (&["national", "id", "number"], NationalId),
        (&["national", "identification", "number"], NationalId),
        (&["national", "id"], NationalId),
        (&["ni", "number"], NationalId),
        (&["ni", "no"], NationalId),
        (&["aadhaar", "number"], NationalId),
        (&["aadhaar", "no"], NationalId),
        (&["aadhar", "number"], NationalId),
        (&["pan", "number"], NationalId),
        (&["pan", "no"], NationalId),
        (&["pan", "card"], NationalId),
        (&["social", "insurance", "number"], NationalId),
        (&["social", "insurance"], NationalId),
        (&["tax", "id", "number"], NationalId),
        (&["tax", "number"], NationalId),
        (&["tax", "id"], NationalId),
        (&["national", "id", "card"], NationalId),
        (&["ssn"], NationalId),
        (&["nino"], NationalId),
        (&["aadhaar"], NationalId),
        (&["aadhar"], NationalId),
        (&["pan"], DocumentNumber),
        (&["sin"], NationalId),
        (&["document", "number"], DocumentNumber),
        (&["document", "no"], DocumentNumber),
        (&["doc", "number"], DocumentNumber),
        (&["id", "number"], DocumentNumber),
        (&["identity", "number"], DocumentNumber),
        (&["passport", "number"], Passport),
        (&["passport", "no"], Passport),
        (&["passport"], Passport),
        (&["drivers", "license", "number"], DriversLicense),
        (&["driver", "license", "number"], DriversLicense),
        (&["driving", "licence", "number"], DriversLicense),
        (&["drivers", "license"], DriversLicense),
        (&["driver", "license"], DriversLicense),
        (&["driving", "licence"], DriversLicense),
        (&["driving", "license"], DriversLicense),
        // Payment cards and bank accounts.
        (&["credit", "card", "number"], Card),
        (&["debit", "card", "number"], Card),
        (&["card", "number"], Card),
        (&["card", "no"], Card),
        (&["card", "num"], Card),
        (&["cc", "number"], Card),
        (&["cc", "num"], Card),
        (&["credit", "card"], Card),
        (&["debit", "card"], Card),
        (&["cardnumber"], Card),
        (&["creditcard"], Card),
        (&["ccnum"], Card),
        (&["card", "security", "code"], CardSecurityCode),
        (&["security", "code"], CardSecurityCode),
        (&["cvv"], CardSecurityCode),
        (&["cvv2"], CardSecurityCode),
        (&["cvc"], CardSecurityCode),
        (&["bank", "account", "number"], BankAccount),
        (&["bank", "account"], BankAccount),
        (&["bank", "acct"], BankAccount),
        (&["iban"], BankAccount),
        // Wallets.
        (&["wallet", "address"], Wallet),
        (&["wallet", "addr"], Wallet),
        (&["btc", "address"], Wallet),
        (&["eth", "address"], Wallet),
        (&["bitcoin", "address"], Wallet),
        (&["ethereum", "address"], Wallet),
        (&["crypto", "address"], Wallet),
        (&["deposit", "address"], Wallet),
        (&["withdrawal", "address"], Wallet),
        (&["wallet"], Wallet),
        // Location.
        (&["latitude"], Latitude),
        (&["lat"], Latitude),
        (&["longitude"], Longitude),
        (&["lng"], Longitude),
        (&["lon"], Longitude),
        (&["coordinates"], Coordinates),
        (&["coordinate"], Coordinates),
        (&["coords"], Coordinates),
        (&["lat", "lng"], Coordinates),
        (&["lat", "lon"], Coordinates),
        (&["lat", "long"], Coordinates),
        (&["latlng"], Coordinates),
        (&["latlon"], Coordinates),
        (&["lnglat"], Coordinates),
        (&["geolocation"], Coordinates),
        (&["geo"], Coordinates),
        (&["gps"], Coordinates),
        // Postal address.
        (&["street", "address"], Address),
        (&["home", "address"], Address),
        (&["billing", "address"], Address),
        (&["shipping", "address"], Address),
        (&["mailing", "address"], Address),
        (&["postal", "address"], Address),
        (&["address", "line"], Address),
        (&["address"], Address),
        (&["street"], Address),
        (&["postal", "code"], PostalCode),
        (&["post", "code"], PostalCode),
        (&["zip", "code"], PostalCode),
        (&["postcode"], PostalCode),
        (&["zipcode"], PostalCode),
        (&["zip"], PostalCode),
        (&["city"], City),
        // Person identifiers and accounts.
        (&["user", "id"], UniqueId),
        (&["userid"], UniqueId),
        (&["customer", "id"], UniqueId),
        (&["account", "id"], UniqueId),
        (&["member", "id"], UniqueId),
        (&["anonymous", "id"], UniqueId),
        (&["visitor", "id"], UniqueId),
        (&["person", "id"], UniqueId),
        (&["external", "id"], UniqueId),
        // Organisation (B2B customer) ids identify the account people act in: the Mixpanel
        // breach of November 2025 exposed exactly these.
        (&["org", "id"], UniqueId),
        (&["orgid"], UniqueId),
        (&["organization", "id"], UniqueId),
        (&["organisation", "id"], UniqueId),
        (&["tenant", "id"], UniqueId),
        (&["username"], Username),
        (&["gender"], Gender),
        (&["sex"], Gender),
        (&["age"], Age),
    ]
};

/// Words that follow a head noun without changing what the value is.
const NEUTRAL_TRAILERS: &[&str] = &[
    "primary",
    "secondary",
    "alt",
    "alternate",
    "other",
    "confirm",
    "confirmation",
    "new",
    "old",
    "current",
    "previous",
    "value",
    "input",
    "field",
    "raw",
    "plain",
    "plaintext",
    "text",
    "str",
    "string",
    "encrypted",
];

/// Qualifiers that make `<qualifier>_name` a person's name.
const PERSON_QUALIFIERS: &[&str] = &[
    "first",
    "last",
    "given",
    "family",
    "middle",
    "full",
    "maiden",
    "sur",
    "customer",
    "client",
    "user",
    "contact",
    "person",
    "holder",
    "cardholder",
    "billing",
    "shipping",
    "recipient",
    "receiver",
    "sender",
    "beneficiary",
    "payee",
    "payer",
    "passenger",
    "guest",
    "patient",
    "member",
    "owner",
    "employee",
    "student",
    "parent",
    "child",
    "spouse",
    "traveler",
    "traveller",
    "driver",
    "rider",
    "buyer",
    "tenant",
    "applicant",
    "candidate",
    "signer",
    "signatory",
    "invitee",
    "inviter",
    "attendee",
    "subscriber",
    "doctor",
    "physician",
    "nurse",
    "emergency",
    "legal",
    "real",
    "display",
    "nick",
    "mother",
    "father",
    "guardian",
    "referrer",
];

/// Qualifiers that make `<qualifier>_key` a definite secret (others need an entropic value).
const NON_SECRET_KEY_QUALIFIERS: &[&str] = &[
    "public",
    "primary",
    "foreign",
    "sort",
    "partition",
    "cache",
    "idempotency",
    "dedup",
    "dedupe",
    "lookup",
    "object",
    "s3",
    "storage",
    "group",
    "event",
    "i18n",
    "translation",
    "hot",
    "shortcut",
    "keyboard",
    "row",
    "map",
    "composite",
    "unique",
    "natural",
    "index",
    "react",
    "list",
    "query",
    "route",
    "feature",
    "flag",
    "experiment",
    "variant",
];

/// Code-ish words that are never secrets (`error_code`, `country_code`).
const NON_SECRET_CODE_QUALIFIERS: &[&str] = &[
    "error",
    "status",
    "country",
    "currency",
    "language",
    "lang",
    "locale",
    "area",
    "zip",
    "postal",
    "post",
    "promo",
    "coupon",
    "discount",
    "referral",
    "invite",
    "confirmation",
    "booking",
    "product",
    "item",
    "region",
    "state",
    "response",
    "http",
    "exit",
    "return",
    "reason",
    "iata",
    "airport",
    "color",
    "colour",
    "qr",
    "bar",
    "source",
    "zone",
    "tax",
    "voucher",
    "gift",
    "campaign",
    "offer",
    "plan",
    "sku",
    "mcc",
    "naics",
    "sic",
    "dial",
    "phone",
];

/// Words marking a version-like key.
const VERSION_WORDS: &[&str] = &[
    "version", "ver", "vsn", "build", "release", "sdk", "firmware", "fw", "lib", "revision", "semver", "versions",
];

/// Words marking a ratio-like key.
const RATIO_WORDS: &[&str] = &[
    "ratio",
    "ratios",
    "scale",
    "split",
    "weight",
    "weights",
    "range",
    "size",
    "score",
    "scores",
    "probability",
    "prob",
    "aspect",
    "percent",
    "pct",
    "share",
    "progress",
    "fraction",
    "zoom",
    "opacity",
    "factor",
    "multiplier",
    "rate",
    "rates",
    "threshold",
    "thresholds",
    "bounds",
    "dimensions",
    "offset",
    "offsets",
    "velocity",
    "latency",
    "duration",
    "elapsed",
    "timing",
    "timings",
    "ms",
    "seconds",
    "secs",
    "amount",
    "amounts",
    "price",
    "prices",
    "cost",
    "total",
    "balance",
    "temperature",
];

/// Words marking a product/item container.
const PRODUCT_WORDS: &[&str] = &[
    "items", "item", "products", "product", "cart", "line", "lines", "sku", "skus", "plan", "plans", "catalog", "menu",
    "dishes", "listing", "listings", "offer", "offers", "order", "orders", "bundle", "variant", "variants", "isbn",
    "isbn10", "isbn13", "ean", "gtin", "upc", "barcode", "asin",
];

/// Words marking a person container.
const PERSON_WORDS: &[&str] = &[
    "user",
    "customer",
    "client",
    "person",
    "people",
    "contact",
    "profile",
    "billing",
    "shipping",
    "beneficiary",
    "recipient",
    "receiver",
    "sender",
    "payer",
    "payee",
    "passenger",
    "passengers",
    "guest",
    "guests",
    "traveler",
    "travellers",
    "traveller",
    "travelers",
    "member",
    "members",
    "owner",
    "holder",
    "cardholder",
    "patient",
    "employee",
    "driver",
    "rider",
    "applicant",
    "candidate",
    "student",
    "tenant",
    "buyer",
    "form",
    "fields",
    "signup",
    "registration",
    "kyc",
    "identity",
    "traits",
    "invitee",
    "inviter",
    "attendee",
    "emergency",
    "spouse",
    "guardian",
    "set",
    "author",
    "lead",
];

/// Words marking a key about things, places and organisations.
const NOT_PERSON_WORDS: &[&str] = &[
    "title",
    "titles",
    "label",
    "labels",
    "category",
    "categories",
    "brand",
    "brands",
    "model",
    "company",
    "companies",
    "organization",
    "organisation",
    "org",
    "team",
    "teams",
    "workspace",
    "project",
    "city",
    "country",
    "region",
    "state",
    "province",
    "county",
    "district",
    "street",
    "place",
    "venue",
    "store",
    "shop",
    "restaurant",
    "hotel",
    "airline",
    "airport",
    "event",
    "campaign",
    "song",
    "track",
    "album",
    "movie",
    "film",
    "show",
    "book",
    "game",
    "level",
    "page",
    "screen",
    "button",
    "tab",
    "menu",
    "section",
    "feature",
    "plan",
    "product",
    "item",
    "sku",
    "variant",
    "color",
    "colour",
    "size",
    "tag",
    "tags",
    "group",
    "channel",
    "source",
    "medium",
    "referrer",
    "utm",
    "search",
    "query",
    "term",
    "keyword",
    "font",
    "theme",
    "template",
    "file",
    "folder",
    "path",
    "url",
    "host",
    "domain",
    "browser",
    "os",
    "device",
    "app",
    "application",
    "carrier",
    "network",
    "league",
    "club",
    "school",
    "university",
    "employer",
    "merchant",
    "vendor",
    "provider",
    "bank",
    "branch",
    "destination",
    "origin",
    "route",
    "station",
    "stop",
    "vehicle",
    "car",
    "make",
    "hospital",
    "clinic",
    "pharmacy",
    "drug",
    "medication",
    "diagnosis",
    "course",
    "class",
    "lesson",
    "topic",
    "subject",
    "timezone",
    "locale",
    "language",
    "currency",
    "team",
    "publisher",
    "manufacturer",
    "breed",
    "pet",
    "species",
    "genre",
    "cuisine",
    "dish",
    "recipe",
    "ingredient",
    "error",
    "exception",
    "status",
    "type",
    "kind",
    "mode",
    "method",
    "step",
    "stage",
    "experiment",
    "flag",
    "role",
    "permission",
    "job",
    "position",
    "department",
    "library",
    "lib",
    "sdk",
    "framework",
    "region",
    "area",
    "neighborhood",
    "neighbourhood",
    "building",
    "room",
    "ship",
    "flight",
    "hotel",
    "property",
    "listing",
    "collection",
    "playlist",
    "podcast",
    "episode",
    "series",
    "author_org",
    "wifi",
    "ssid",
    "emoji",
    "icon",
    "image",
    "logo",
    "avatar",
    "sound",
];

/// Words marking a location container.
const LOCATION_WORDS: &[&str] = &[
    "location",
    "loc",
    "geo",
    "position",
    "pickup",
    "dropoff",
    "origin",
    "destination",
    "gps",
    "coords",
    "place",
];

/// Splits a key into lowercase words: `$contactEmailAddress` → contact, email, address.
pub fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = key.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        // Combining marks (Devanagari vowel signs and viramas) belong to their word.
        if !c.is_alphanumeric() && !super::names::name_char(c) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = if i > 0 { Some(chars[i - 1]) } else { None };
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase() || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase())) || p.is_ascii_digit()
            });
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn ends_with(words: &[&str], phrase: &[&str]) -> bool {
    words.len() >= phrase.len() && words[words.len() - phrase.len()..] == *phrase
}

fn any_word(words: &[&str], set: &[&str]) -> bool {
    words.iter().any(|w| set.contains(w))
}

/// Classifies a key's words (uncached).
pub fn classify_words(all: &[&str]) -> KeyClass {
    let mut flags = 0;
    if any_word(all, VERSION_WORDS) {
        flags |= flags::VERSION;
    }
    if any_word(all, RATIO_WORDS) {
        flags |= flags::RATIO;
    }
    if any_word(all, PRODUCT_WORDS) {
        flags |= flags::PRODUCT;
    }
    if any_word(all, PERSON_WORDS) {
        flags |= flags::PERSON;
    }
    if any_word(all, LOCATION_WORDS) {
        flags |= flags::LOCATION;
    }
    if any_word(all, NOT_PERSON_WORDS) {
        flags |= flags::NOT_PERSON;
    }
    let mut w: &[&str] = all;
    while let Some((last, rest)) = w.split_last() {
        let trailer = NEUTRAL_TRAILERS.contains(last) || last.bytes().all(|b| b.is_ascii_digit());
        if trailer && !rest.is_empty() {
            w = rest;
        } else {
            break;
        }
    }
    let Some(&head) = w.last() else {
        return KeyClass {
            kind: KeyKind::None,
            flags,
        };
    };
    let qualifier = w.len().checked_sub(2).map(|i| w[i]);
    let mut kind = if head == "name" || head == "names" {
        match qualifier {
            None => KeyKind::BareName,
            Some(q) if PERSON_QUALIFIERS.contains(&q) => KeyKind::PersonName,
            Some("street") => KeyKind::Address,
            Some("user") => KeyKind::Username,
            Some(_) => KeyKind::None,
        }
    } else {
        // The longest phrase that ends the key (`postal code` before `code`).
        PHRASES
            .iter()
            .filter(|(p, _)| ends_with(w, p))
            .max_by_key(|(p, _)| p.len())
            .map_or(KeyKind::None, |&(_, k)| k)
    };
    // `<qualifier>_key` and `<qualifier>_code`: some qualifiers name ordinary data.
    if kind == KeyKind::SecretWeak && head == "key" && qualifier.is_some_and(|q| NON_SECRET_KEY_QUALIFIERS.contains(&q))
    {
        kind = KeyKind::None;
    }
    if kind == KeyKind::SecretWeak
        && head == "code"
        && qualifier.is_some_and(|q| NON_SECRET_CODE_QUALIFIERS.contains(&q))
    {
        kind = KeyKind::None;
    }
    if kind == KeyKind::Secret
        && matches!(
            head,
            "password" | "passwd" | "pwd" | "passcode" | "pin" | "otp" | "totp" | "secret"
        )
    {
        flags |= flags::NUMERIC_SECRET;
    }
    KeyClass { kind, flags }
}

/// Generic head nouns that come first in head-first languages (`numéro de téléphone`,
/// `дата рождения`, `nom du client`).
const GENERIC_HEADS: &[&str] = &[
    "number", "date", "code", "name", "surname", "address", "key", "licence", "id",
];

/// Every word the English tables above use (the lexicon leaves these as they are).
static KNOWN_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    let mut set: HashSet<&'static str> = HashSet::new();
    for (phrase, _) in PHRASES {
        set.extend(phrase.iter().copied());
    }
    for list in [
        NEUTRAL_TRAILERS,
        PERSON_QUALIFIERS,
        NON_SECRET_KEY_QUALIFIERS,
        NON_SECRET_CODE_QUALIFIERS,
        VERSION_WORDS,
        RATIO_WORDS,
        PRODUCT_WORDS,
        PERSON_WORDS,
        LOCATION_WORDS,
        &["name", "names", "id", "ids"],
    ] {
        set.extend(list.iter().copied());
    }
    set
});

/// Whether the English key tables use `word`.
pub fn is_known_word(word: &str) -> bool {
    KNOWN_WORDS.contains(word)
}

/// Classifies a key name (uncached): split into words, other languages, scripts and
/// abbreviations mapped to English (`lexicon`), then the English tables. Keys longer than
/// 128 bytes (never cached) are read as English only, so their cost stays linear.
pub fn classify_key_uncached(key: &str) -> KeyClass {
    let words = words(key);
    if key.len() > 128 || words.iter().all(|w| w.is_ascii() && is_known_word(w)) {
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        return classify_words(&refs);
    }
    let groups = lexicon::canonical(&words, &is_known_word);
    let flat: Vec<&str> = groups.iter().flatten().map(String::as_str).collect();
    let class = classify_words(&flat);
    if class.kind != KeyKind::None {
        return class;
    }
    // Head-first order: the generic head leads, the words that qualify it follow.
    let translated = flat.len() != words.len() || flat.iter().zip(&words).any(|(c, w)| c != w);
    let head_first = groups
        .first()
        .and_then(|g| g.last())
        .is_some_and(|h| GENERIC_HEADS.contains(&h.as_str()));
    if translated && head_first && groups.len() >= 2 && flat.iter().all(|w| is_known_word(w)) {
        let reversed: Vec<&str> = groups.iter().rev().flatten().map(String::as_str).collect();
        let turned = classify_words(&reversed);
        if turned.kind != KeyKind::None {
            return KeyClass {
                kind: turned.kind,
                flags: turned.flags | class.flags,
            };
        }
    }
    class
}

/// What the walker needs per key: its class and its roles, in one vendor's layout, at the
/// two levels where most keys sit (event properties, people properties).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyInfo {
    pub class: KeyClass,
    pub event_role: Option<Role>,
    pub people_role: Option<Role>,
    /// The key needs RFC 6901 escaping (`~` or `/` in it).
    pub escaped: bool,
}

impl KeyInfo {
    fn of(layout: Option<&Layout>, key: &str) -> KeyInfo {
        KeyInfo {
            class: classify_key_uncached(key),
            event_role: layout.and_then(|l| (l.role)(Level::EventProperties, key)),
            people_role: layout.and_then(|l| (l.role)(Level::PeopleProperties, key)),
            escaped: key.contains(['~', '/']),
        }
    }

    /// The role at `level` in `layout` (the layout this information was looked up in).
    pub fn role(&self, layout: &Layout, level: Level, key: &str) -> Option<Role> {
        match level {
            Level::EventProperties => self.event_role,
            Level::PeopleProperties => self.people_role,
            _ => (layout.role)(level, key),
        }
    }
}

/// Distinct keys remembered per thread and layout; past this the cache starts over (keys
/// are attacker-controlled, so the map must stay bounded).
const CACHE_CAP: usize = 4096;

type KeyCache = HashMap<Box<str>, KeyInfo, foldhash::fast::RandomState>;

thread_local! {
    /// Keys are short and attacker-chosen, and the maps are bounded: a seeded fast hash.
    /// One map per layout (roles differ between vendors), and one for keys without one.
    static CACHE: RefCell<[KeyCache; MAX_LAYOUTS + 1]> =
        RefCell::new(std::array::from_fn(|_| HashMap::with_hasher(Default::default())));
}

/// Class and roles of a key in `layout`, cached per thread.
pub fn lookup(layout: &Layout, key: &str) -> KeyInfo {
    cached(Some(layout), key)
}

fn cached(layout: Option<&Layout>, key: &str) -> KeyInfo {
    let slot = layout.map_or(MAX_LAYOUTS, |l| l.id.min(MAX_LAYOUTS));
    if key.is_empty() || key.len() > 128 || (layout.is_some() && slot == MAX_LAYOUTS) {
        return KeyInfo::of(layout, key);
    }
    CACHE.with(|cache| {
        if let Some(&c) = cache.borrow()[slot].get(key) {
            return c;
        }
        let info = KeyInfo::of(layout, key);
        let mut caches = cache.borrow_mut();
        let map = &mut caches[slot];
        if map.len() >= CACHE_CAP {
            map.clear();
        }
        map.insert(key.into(), info);
        info
    })
}

/// Classifies a key name, cached per thread.
pub fn classify_key(key: &str) -> KeyClass {
    if key.is_empty() {
        return KeyClass::NONE;
    }
    cached(None, key).class
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyKind::*;

    #[test]
    fn splits_every_case_style() {
        assert_eq!(words("contactEmailAddress"), ["contact", "email", "address"]);
        assert_eq!(words("$first_name"), ["first", "name"]);
        assert_eq!(words("billing-phone"), ["billing", "phone"]);
        assert_eq!(words("Experiment name"), ["experiment", "name"]);
        assert_eq!(words("IPAddress"), ["ip", "address"]);
        assert_eq!(words("card_last4"), ["card", "last4"]);
        assert_eq!(words("ipv4"), ["ipv4"]);
        assert_eq!(words("$el_attr__href"), ["el", "attr", "href"]);
    }

    #[test]
    fn heads_decide() {
        let cases: &[(&str, KeyKind)] = &[
            ("email", Email),
            ("user_email", Email),
            ("contactEmailAddress", Email),
            ("email_verified", None),
            ("email_verified_at", None),
            ("billingPhone", Phone),
            ("phone_country", None),
            ("client_ip", Ip),
            ("ip_history", None),
            ("password", Secret),
            ("new_password_confirmation", Secret),
            ("password_strength", None),
            ("token", Secret),
            ("token_type", None),
            ("token_expires_in", None),
            ("api_key", Secret),
            ("api_key_count", None),
            ("aws_secret_access_key", Secret),
            ("aws_access_key_id", None),
            ("integration_key", SecretWeak),
            ("key_id", None),
            ("idempotency_key", None),
            ("error_code", None),
            ("confirmation_code", None),
            ("verification_code", Secret),
            ("next_page_token", None),
            ("push_token", DeviceId),
            ("first_name", PersonName),
            ("customer_name", PersonName),
            ("plan_name", None),
            ("file_name", None),
            ("Experiment name", None),
            ("name", BareName),
            ("name_length", None),
            ("dob", DateOfBirth),
            ("birthday", DateOfBirth),
            ("birthday_campaign", None),
            ("ssn", NationalId),
            ("ssn_masking", None),
            ("document_number", DocumentNumber),
            ("card_number", Card),
            ("card_last4", None),
            ("card_brand", None),
            ("payout_iban", BankAccount),
            ("wallet_address", Wallet),
            ("wallet_provider", None),
            ("$latitude", Latitude),
            ("lng", Longitude),
            ("platform", None),
            ("accuracy_m", None),
            ("zip", PostalCode),
            ("max_tokens", None),
            ("org_id", UniqueId),
            ("orgId", UniqueId),
            ("organization_id", UniqueId),
            ("organisationId", UniqueId),
            ("tenant-id", UniqueId),
            ("org_name", None),
            ("organization_size", None),
        ];
        for &(key, kind) in cases {
            assert_eq!(classify_key_uncached(key).kind, kind, "{key}");
        }
    }

    #[test]
    fn keys_in_other_languages_scripts_and_abbreviations() {
        let cases: &[(&str, KeyKind)] = &[
            // German compounds and abbreviations.
            ("Kartennummer", Card),
            ("Geburtsdatum", DateOfBirth),
            ("Nachname", PersonName),
            ("Vorname", PersonName),
            ("Telefonnummer", Phone),
            ("SOZ_VERS_NR", NationalId),
            ("Sozialversicherungsnummer", NationalId),
            ("Benutzername", Username),
            ("Passwort", Secret),
            ("Postleitzahl", PostalCode),
            ("Reisepassnummer", Passport),
            ("Führerscheinnummer", DriversLicense),
            // Head-first phrases.
            ("numéro_de_téléphone", Phone),
            ("date-de-naissance", DateOfBirth),
            ("nom_de_famille", PersonName),
            ("mot_de_passe", Secret),
            ("nombre_completo", PersonName),
            ("fecha_nacimiento", DateOfBirth),
            ("numero_carta_credito", Card),
            ("código postal", PostalCode),
            ("data_urodzenia", DateOfBirth),
            ("numer_telefonu", Phone),
            ("kart_numarası", Card),
            ("doğum_tarihi", DateOfBirth),
            ("tanggal_lahir", DateOfBirth),
            ("nama_depan", PersonName),
            ("data_nasterii", DateOfBirth),
            ("datum_narození", DateOfBirth),
            ("födelsedatum", DateOfBirth),
            ("efternamn", PersonName),
            ("clave_api", Secret),
            ("adresse_ip", Ip),
            // Scripts.
            ("дата_рождения", DateOfBirth),
            ("номер телефона", Phone),
            ("фамилия", PersonName),
            ("пароль", Secret),
            ("電話番号", Phone),
            ("生年月日", DateOfBirth),
            ("カード番号", Card),
            ("出生日期", DateOfBirth),
            ("密码", Secret),
            ("身份证号", NationalId),
            ("생년월일", DateOfBirth),
            ("전화번호", Phone),
            ("비밀번호", Secret),
            ("تاريخ_الميلاد", DateOfBirth),
            ("كلمة_المرور", Secret),
            ("جنم_तिथि", None),
            ("जन्म तिथि", DateOfBirth),
            ("ईमेल", Email),
            // Abbreviations.
            ("usr_eml", Email),
            ("tel_no", Phone),
            ("ph_no", Phone),
            ("ccnum", Card),
            ("geb_dat", DateOfBirth),
            ("USER.EMAIL", Email),
            // Negatives stay negatives, in every language.
            ("email_verified", None),
            ("email_verifie", None),
            ("name_length", None),
            ("token_type", None),
            ("nombre_producto", None),
            ("nom_du_fichier", None),
            ("Telefonnummer_bestätigt", None),
            ("data_source", None),
            ("dev_id", None),
            ("car_number", None),
            ("pos_x", None),
            ("add_to_cart", None),
            ("key_id", None),
            ("filename", None),
            ("hostname", None),
            ("datetime", None),
            ("birthplace", None),
            ("商品名", None),
        ];
        let mut wrong = Vec::new();
        for &(key, kind) in cases {
            let got = classify_key_uncached(key).kind;
            if got != kind {
                wrong.push(format!("{key}: {got:?}, want {kind:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn long_keys_are_read_as_english_only() {
        let long = format!("{}_email", "x".repeat(200));
        assert_eq!(classify_key_uncached(&long).kind, Email);
        let long = format!("{}_telefonnummer", "x".repeat(200));
        assert_eq!(classify_key_uncached(&long).kind, None);
    }

    #[test]
    fn flags_from_any_word() {
        assert!(classify_key("build_version").has(flags::VERSION));
        assert!(classify_key("$app_version_string").has(flags::VERSION));
        assert!(classify_key("split_ratio").has(flags::RATIO));
        assert!(classify_key("items").has(flags::PRODUCT));
        assert!(classify_key("lead_passenger").has(flags::PERSON));
        assert!(classify_key("password").has(flags::NUMERIC_SECRET));
        assert!(!classify_key("token").has(flags::NUMERIC_SECRET));
    }

    #[test]
    fn cache_returns_the_same_class() {
        for _ in 0..3 {
            assert_eq!(classify_key("user_email").kind, Email);
        }
    }
}
