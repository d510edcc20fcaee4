//! A load generator that posts event batches exactly as a vendor's browser SDK does behind a
//! proxy: mixpanel-browser, Segment analytics.js (analytics-next), posthog-js or Amplitude's
//! @amplitude/analytics-browser.
//!
//! ```text
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8080 --key KEY \
//!     [--vendor mixpanel|segment|posthog|amplitude] --rate 10000 --duration 30 \
//!     --concurrency 32 --batch 50 [--json]
//! cargo run --example loadgen -- --self-test      # render, decode and time every vendor's bodies
//! ```
//!
//! Each request carries `--batch` events of ~1 KB of JSON or more (what the SDK adds for a
//! product page seen from a newsletter link, plus the same custom properties for every
//! vendor), shaped as in the SDK captures of `tests/sdk/wire/`:
//!
//! - `mixpanel` (mixpanel-browser 2.83, batch mode): `POST /track/?verbose=1&ip=1&_=<ms>`,
//!   `Content-Type: application/x-www-form-urlencoded`, body `data=<url-encoded base64 of a
//!   JSON array>`; each event has a unique `$insert_id` of 16 base-36 characters.
//! - `segment` (analytics-next 1.84, `deliveryStrategy: batching`): `POST /v1/b`,
//!   `Content-Type: text/plain`, `Authorization: Basic base64(<key>:)`, JSON
//!   `{"writeKey","batch":[track messages],"sentAt"}`; each message has a unique `messageId`
//!   `ajs-next-<ms>-<uuid v4>`.
//! - `posthog` (posthog-js 1.455, batched, compression `gzip-js`): `POST /e/`, gzip bytes with
//!   `Content-Type: text/plain`, no `Content-Encoding`, no query; JSON
//!   `{"api_key","batch":[events],"sent_at"}`; each event has a unique `uuid` (v7, the event's
//!   millisecond first) and `properties.$insert_id`.
//! - `amplitude` (analytics-browser 2.48): `POST /2/httpapi`, `Content-Type: application/json`,
//!   `{"api_key","events":[...],"options":{},"client_upload_time"}`; each event has a unique
//!   `insert_id` (uuid v4).
//!
//! `--path` replaces the request path (e.g. `/i/v0/e/`, the endpoint PostHog's remote config
//! names). `--key` (alias `--token`) is the app-side key: the token, write key or API key
//! the gateway's source expects.
//!
//! - `--rate 0`: closed loop, as fast as possible; `--concurrency` workers each keep one
//!   request in flight. Latency is measured from each request's send.
//! - `--rate N`: open loop at N events/s. Batches are scheduled on a fixed timeline and
//!   shared round-robin among `--concurrency` connections; latency is measured from the
//!   *scheduled* send time, so a slow answer that delays the next send counts against the
//!   server (no coordinated omission). Batches still unsent long after the run are reported
//!   as `unsent`.
//!
//! A request counts as ok only if the SDK would count it as delivered: Mixpanel HTTP 200 with
//! the body `{"status":1,"error":null}`; Segment and PostHog HTTP 200; Amplitude HTTP 200 with
//! a JSON body whose `code` is 200. The report gives requests ok/failed (by status), accepted
//! events/s, p50/p90/p99/max acknowledgement latency and the duration; `--json` prints it as
//! one JSON line on stdout (the human-readable report then goes to stderr), with the CPU the
//! generator used preparing and sending. Just before the load starts (100 ms later) it prints
//! `loadgen: sending in 100 ms` on stderr, for scripts that measure the load alone.
//!
//! Bodies are cheap to make: `--pool` different batches are generated once, with their
//! idempotency ids left open. Per request only the ids are written afresh: Mixpanel's body is
//! the base64 of its JSON split at 3-byte boundaries around each `$insert_id`, so only those
//! few 21-byte windows are re-encoded; Segment's and Amplitude's JSON is copied and the ids
//! overwritten in place. Ids come from one counter per run through a bijective mix (see
//! [`Ids`]), so no two events of a run share one, whichever template they came from.
//!
//! PostHog's gzip cannot be patched, and vendors deduplicate on `uuid`, so every request needs
//! its own compressed body. Gzip at posthog-js's level (6) of a 50-event body (~120 KB of JSON
//! to ~10 KB) costs about 0.9 ms of CPU, i.e. one core gzips only ~58,000 events/s (level 1
//! would triple that but make bodies 1.7 times bigger than posthog-js's). So `--prebuilt N`
//! bodies (default: every batch an open-loop run will send; for a closed loop as many as
//! 60,000 events/s would take; at most 512 MiB) are gzipped before the run, on all threads,
//! each with ids of its own, and each is sent once; past them the generator gzips each
//! request as it sends it (counted as `bodies_gzipped_during_run`), which costs CPU the
//! gateway would otherwise get. `--self-test` prints what a body costs.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use vendorwall::vendor::Vendor;

const USAGE: &str = "usage: loadgen --url URL --key KEY [--vendor mixpanel|segment|posthog|amplitude] \
[--rate EVENTS_PER_S (0 = as fast as possible)] [--duration SECONDS] [--concurrency N] [--batch N] [--pool N] \
[--prebuilt N (posthog)] [--path PATH] [--timeout SECONDS] [--threads N] [--json]\n       loadgen --self-test \
[--vendor V]\n--key is the app-side key (Mixpanel token, Segment write key, PostHog or Amplitude API key); --token \
is an alias.";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone)]
struct Args {
    vendor: Vendor,
    url: String,
    key: String,
    path: Option<String>,
    rate: f64,
    duration: f64,
    concurrency: usize,
    batch: usize,
    pool: usize,
    prebuilt: Option<usize>,
    timeout: f64,
    threads: usize,
    json: bool,
    /// Only this vendor in `--self-test` (all when `--vendor` is not given).
    vendor_given: bool,
    self_test: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        vendor: Vendor::Mixpanel,
        url: String::new(),
        key: String::new(),
        path: None,
        rate: 0.0,
        duration: 30.0,
        concurrency: 32,
        batch: 50,
        pool: 64,
        prebuilt: None,
        timeout: 60.0,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        json: false,
        vendor_given: false,
        self_test: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--json" => {
                a.json = true;
                continue;
            }
            "--self-test" => {
                a.self_test = true;
                continue;
            }
            "-h" | "--help" => return Err(String::new()),
            _ => {}
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<f64>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        let count = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag}: `{v}` is not a whole number"))
        };
        match flag.as_str() {
            "--url" => a.url = value.trim_end_matches('/').to_owned(),
            "--key" | "--token" => a.key = value,
            "--vendor" => {
                a.vendor = Vendor::parse(&value).ok_or_else(|| format!("--vendor: one of {}", Vendor::names()))?;
                a.vendor_given = true;
            }
            "--path" if value.starts_with('/') => a.path = Some(value),
            "--path" => return Err("--path must start with /".into()),
            "--rate" => a.rate = num(&value)?,
            "--duration" => a.duration = num(&value)?,
            "--concurrency" => a.concurrency = count(&value)?,
            "--batch" => a.batch = count(&value)?,
            "--pool" => a.pool = count(&value)?,
            "--prebuilt" => a.prebuilt = Some(count(&value)?),
            "--timeout" => a.timeout = num(&value)?,
            "--threads" => a.threads = count(&value)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !a.self_test && (a.url.is_empty() || a.key.is_empty()) {
        return Err("--url and --key are required".into());
    }
    if a.rate < 0.0 || a.duration <= 0.0 || a.timeout <= 0.0 {
        return Err("--rate must be ≥ 0, --duration and --timeout > 0".into());
    }
    if a.concurrency == 0 || a.batch == 0 || a.pool == 0 || a.threads == 0 {
        return Err("--concurrency, --batch, --pool and --threads must be ≥ 1".into());
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// Randomness, unique ids, timestamps

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// A random UUID v4.
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    /// A random UUID v7 of millisecond `ms`.
    fn uuid7(&mut self, ms: u64) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
            (ms >> 16) & 0xffff_ffff,
            ms & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

/// The splitmix64 finaliser: a bijection on u64, so distinct counters give distinct ids.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const HEX: &[u8; 16] = b"0123456789abcdef";

/// The spellings of the per-event idempotency ids. Event builders write
/// [`IdKind::placeholder`] where the id goes; [`JsonTemplate`] finds it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdKind {
    /// 16 base-36 characters: the `$insert_id` of mixpanel-browser and posthog-js.
    Base36,
    /// A UUID v4: Amplitude's `insert_id`, the tail of Segment's `messageId`.
    Uuid4,
    /// The 22 characters of a UUID v7 after its millisecond (`7xxx-Nxxx-xxxxxxxxxxxx`):
    /// posthog-js's `uuid`.
    Uuid7Tail,
}

impl IdKind {
    const ALL: [IdKind; 3] = [IdKind::Base36, IdKind::Uuid4, IdKind::Uuid7Tail];

    fn placeholder(self) -> &'static str {
        match self {
            IdKind::Base36 => "0000000000000000",
            IdKind::Uuid4 => "00000000-0000-4000-8000-000000000000",
            IdKind::Uuid7Tail => "7000-8000-000000000000",
        }
    }

    fn len(self) -> usize {
        self.placeholder().len()
    }

    /// What marks the placeholder in serialised JSON (its neighbours included, so nothing
    /// else matches), and where the id starts in it.
    fn marker(self) -> (&'static [u8], usize) {
        match self {
            IdKind::Base36 => (br#""0000000000000000""#, 1),
            IdKind::Uuid4 => (br#"00000000-0000-4000-8000-000000000000""#, 0),
            IdKind::Uuid7Tail => (br#"-7000-8000-000000000000""#, 1),
        }
    }
}

/// Unique ids: every event of a run takes the next value of one counter, which starts at a
/// random point; [`mix`] of it (a bijection) fills 64 bits of every spelling, so two events
/// of a run never share an id of any kind. The rest of the characters are noise (a run tag
/// and a second mix) that only makes ids look random and differ between runs.
struct Ids {
    run_tag: [u8; 3],
    noise: u64,
    next: AtomicU64,
}

impl Ids {
    fn new(seed: u64) -> Ids {
        let t = mix(seed);
        Ids {
            run_tag: [
                BASE36[(t % 36) as usize],
                BASE36[(t / 36 % 36) as usize],
                BASE36[(t / 1296 % 36) as usize],
            ],
            noise: mix(t),
            next: AtomicU64::new(mix(t ^ 0x5eed)),
        }
    }

    /// Reserves `n` ids; returns the first counter value.
    fn reserve(&self, n: usize) -> u64 {
        self.next.fetch_add(n as u64, Relaxed)
    }

    /// Writes the id of `counter`, spelled as `kind`, over `out` (`kind.len()` bytes).
    fn write(&self, kind: IdKind, counter: u64, out: &mut [u8]) {
        let v = mix(counter);
        let r = mix(counter ^ self.noise);
        match kind {
            IdKind::Base36 => {
                // 3 characters fixed per run, then 13 base-36 digits of v (36^13 > 2^64).
                out[..3].copy_from_slice(&self.run_tag);
                let mut v = v;
                for slot in out[3..16].iter_mut().rev() {
                    *slot = BASE36[(v % 36) as usize];
                    v /= 36;
                }
            }
            IdKind::Uuid4 => {
                // xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx: v in the characters 0-7, 9-12, 15-17
                // and 20; r in the variant and the rest.
                put_hex(&mut out[0..8], v >> 32);
                out[8] = b'-';
                put_hex(&mut out[9..13], v >> 16);
                out[13] = b'-';
                out[14] = b'4';
                put_hex(&mut out[15..18], v >> 4);
                out[18] = b'-';
                out[19] = HEX[(8 | (r & 3)) as usize];
                out[20] = HEX[(v & 0xf) as usize];
                put_hex(&mut out[21..23], r >> 2);
                out[23] = b'-';
                put_hex(&mut out[24..36], r >> 10);
            }
            IdKind::Uuid7Tail => {
                // 7xxx-Nxxx-xxxxxxxxxxxx: v in the characters 1-3, 6-8 and 10-19.
                out[0] = b'7';
                put_hex(&mut out[1..4], v >> 52);
                out[4] = b'-';
                out[5] = HEX[(8 | (r & 3)) as usize];
                put_hex(&mut out[6..9], v >> 40);
                out[9] = b'-';
                put_hex(&mut out[10..20], v);
                put_hex(&mut out[20..22], r >> 2);
            }
        }
    }
}

/// The low `out.len()` hex digits of `v`.
fn put_hex(out: &mut [u8], mut v: u64) {
    for slot in out.iter_mut().rev() {
        *slot = HEX[(v & 0xf) as usize];
        v >>= 4;
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// `2026-12-07T16:12:45.161Z`, as JavaScript's `Date.toISOString()`.
fn iso8601(ms: u64) -> String {
    let (secs, milli) = (ms / 1000, ms % 1000);
    let (days, sod) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

// ---------------------------------------------------------------------------------------------
// What every vendor's events describe: a shopper on a product page, from a newsletter link

const HOST: &str = "shop.example.com";
const SEARCH: &str = "?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale";
const REFERRER: &str = "https://www.google.com/";
const REFERRING_DOMAIN: &str = "www.google.com";
const TITLE: &str = "Alpine 2P Tent – Backpacking Tents | Example Outdoor";
const TIMEZONE: &str = "Europe/Berlin";

/// A browser on an OS, as the SDKs report them.
struct Platform {
    os: &'static str,
    os_version: &'static str,
    browser: &'static str,
    version: u32,
    user_agent: &'static str,
    /// Chromium's brand in `navigator.userAgentData` (Firefox and Safari have none).
    brand: Option<(&'static str, &'static str)>,
    mobile: bool,
    screen: (u32, u32),
}

const PLATFORMS: [Platform; 5] = [
    Platform {
        os: "Mac OS X",
        os_version: "10.15.7",
        browser: "Chrome",
        version: 131,
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) \
                     Chrome/131.0.0.0 Safari/537.36",
        brand: Some(("Google Chrome", "macOS")),
        mobile: false,
        screen: (1728, 1117),
    },
    Platform {
        os: "Windows",
        os_version: "10",
        browser: "Microsoft Edge",
        version: 131,
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                     Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        brand: Some(("Microsoft Edge", "Windows")),
        mobile: false,
        screen: (1920, 1080),
    },
    Platform {
        os: "Linux",
        os_version: "",
        browser: "Firefox",
        version: 133,
        user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        brand: None,
        mobile: false,
        screen: (2560, 1440),
    },
    Platform {
        os: "iOS",
        os_version: "18.1.0",
        browser: "Mobile Safari",
        version: 18,
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                     Version/18.1 Mobile/15E148 Safari/604.1",
        brand: None,
        mobile: true,
        screen: (390, 844),
    },
    Platform {
        os: "Android",
        os_version: "10.0.0",
        browser: "Chrome",
        version: 131,
        user_agent: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
                     Chrome/131.0.0.0 Mobile Safari/537.36",
        brand: Some(("Google Chrome", "Android")),
        mobile: true,
        screen: (412, 915),
    },
];

fn platform(rng: &mut Rng) -> &'static Platform {
    &PLATFORMS[rng.below(PLATFORMS.len() as u64) as usize]
}

struct Page {
    path: String,
    /// With the query.
    url: String,
}

fn page(rng: &mut Rng) -> Page {
    let slug = rng.pick(&[
        "alpine-2p-tent",
        "trail-runner-gtx",
        "down-jacket-800",
        "carbon-poles-pair",
    ]);
    let path = format!("/products/{slug}");
    Page {
        url: format!("https://{HOST}{path}{SEARCH}"),
        path,
    }
}

/// When an event happened: within the second before `now_ms`.
fn event_ms(rng: &mut Rng, now_ms: u64) -> u64 {
    now_ms - 1000 + rng.below(1000)
}

/// The app's own properties, the same for every vendor but Mixpanel, whose generator has
/// its own fixed set so that its figures stay comparable across builds.
fn product_properties(rng: &mut Rng) -> Map<String, Value> {
    let props = json!({
        "product_id": format!("SKU-{:06}", rng.below(1_000_000)),
        "product_name": "Alpine 2P Ultralight Tent",
        "category": "Outdoor > Camping > Tents",
        "price": 249.99,
        "currency": "EUR",
        "quantity": 1 + rng.below(3),
        "in_stock": true,
        "tags": ["sale", "free-shipping", "new-arrival"],
        "experiment": {"id": "pdp_layout_v3", "variant": rng.pick(&["A", "B"])},
    });
    match props {
        Value::Object(m) => m,
        _ => unreachable!("json! of an object"),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Result<&'a str, String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{pointer} is not a string"))
}

fn expect_eq(v: &Value, pointer: &str, want: &str) -> Result<(), String> {
    let got = str_at(v, pointer)?;
    if got == want {
        Ok(())
    } else {
        Err(format!("{pointer} is {got:?}, not {want:?}"))
    }
}

fn array_of<'a>(v: &'a Value, key: &str, batch: usize) -> Result<&'a Vec<Value>, String> {
    let a = v
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no `{key}` array"))?;
    if a.len() == batch {
        Ok(a)
    } else {
        Err(format!("`{key}` holds {} events, not {batch}", a.len()))
    }
}

/// A lower-case UUID of that version with the RFC 4122 variant.
fn is_uuid(s: &str, version: u8) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => HEX.contains(&c),
        })
        && b[14] == b'0' + version
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

fn is_insert_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| BASE36.contains(&b)) && !s.starts_with("000")
}

// ---------------------------------------------------------------------------------------------
// Mixpanel: mixpanel-browser 2.83, batch mode behind a proxy

mod mixpanel {
    use super::*;

    pub const PATH: &str = "/track/";
    pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
    pub const OK_BODY: &[u8] = br#"{"status":1,"error":null}"#;

    /// One event as mixpanel-browser 2.83 builds it (property order included), ~1 KB of JSON.
    pub fn event(rng: &mut Rng, token: &str, time: f64) -> Value {
        const PLATFORMS: [(&str, &str); 5] = [
            ("Mac OS X", "Chrome"),
            ("Windows", "Microsoft Edge"),
            ("Linux", "Firefox"),
            ("iOS", "Mobile Safari"),
            ("Android", "Chrome"),
        ];
        let device = rng.uuid();
        let name = rng.pick(&[
            "Viewed Product",
            "Added to Cart",
            "$mp_web_page_view",
            "Searched",
            "Checkout Started",
        ]);
        let (os, browser) = PLATFORMS[(rng.next() % 5) as usize];
        let slug = rng.pick(&[
            "alpine-2p-tent",
            "trail-runner-gtx",
            "down-jacket-800",
            "carbon-poles-pair",
        ]);
        json!({
            "event": name,
            "properties": {
                "$os": os,
                "$browser": browser,
                "$referrer": "https://www.google.com/",
                "$referring_domain": "www.google.com",
                "$current_url": format!(
                    "https://shop.example.com/products/{slug}?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale"
                ),
                "$browser_version": 124 + rng.next() % 8,
                "$screen_height": 1117,
                "$screen_width": 1728,
                "mp_lib": "web",
                "$lib_version": "2.83.0",
                // Placeholder, replaced per request.
                "$insert_id": IdKind::Base36.placeholder(),
                "time": time + (rng.next() % 1000) as f64 / 1000.0,
                "distinct_id": format!("$device:{device}"),
                "$device_id": device,
                "$initial_referrer": "https://www.google.com/",
                "$initial_referring_domain": "www.google.com",
                "utm_source": "newsletter",
                "utm_campaign": "spring_sale",
                "page_title": "Alpine 2P Tent – Backpacking Tents | Example Outdoor",
                "product_id": format!("SKU-{:06}", rng.next() % 1_000_000),
                "product_name": "Alpine 2P Ultralight Tent",
                "category": "Outdoor > Camping > Tents",
                "price": 249.99,
                "currency": "EUR",
                "quantity": 1 + rng.next() % 3,
                "in_stock": true,
                "tags": ["sale", "free-shipping", "new-arrival"],
                "experiment": {"id": "pdp_layout_v3", "variant": rng.pick(&["A", "B"])},
                "token": token,
                "mp_sent_by_lib_version": "2.83.0"
            }
        })
    }

    /// `encodeURIComponent` of base64 text: only `+`, `/` and `=` need escaping.
    fn push_uri_component(out: &mut Vec<u8>, b64: &[u8]) {
        for &c in b64 {
            match c {
                b'+' => out.extend_from_slice(b"%2B"),
                b'/' => out.extend_from_slice(b"%2F"),
                b'=' => out.extend_from_slice(b"%3D"),
                c => out.push(c),
            }
        }
    }

    /// A batch body with its `$insert_id`s left open.
    ///
    /// base64 maps every 3 input bytes to 4 output characters on their own, so the JSON is cut
    /// at multiples of 3 around each id: the stretches in between are encoded once, and each
    /// window holding an id (≤ 21 bytes) is encoded per request.
    pub struct Template {
        /// `fixed[i]` precedes `windows[i]`; the last one ends the body (with base64 padding).
        fixed: Vec<Vec<u8>>,
        windows: Vec<Window>,
        len_hint: usize,
    }

    struct Window {
        json: Vec<u8>,
        id_at: usize,
    }

    impl Template {
        pub fn new(json: &[u8]) -> Template {
            const KEY: &[u8] = br#""$insert_id":""#;
            let id_len = IdKind::Base36.len();
            let mut fixed = Vec::new();
            let mut windows = Vec::new();
            let mut done = 0;
            let mut pos = 0;
            while let Some(found) = json[pos..].windows(KEY.len()).position(|w| w == KEY) {
                let id_at = pos + found + KEY.len();
                let start = id_at - id_at % 3;
                let end = (id_at + id_len).div_ceil(3) * 3;
                let mut f = Vec::new();
                push_uri_component(&mut f, B64.encode(&json[done..start]).as_bytes());
                fixed.push(f);
                windows.push(Window {
                    json: json[start..end].to_vec(),
                    id_at: id_at - start,
                });
                done = end;
                pos = end;
            }
            let mut f = Vec::new();
            push_uri_component(&mut f, B64.encode(&json[done..]).as_bytes());
            fixed.push(f);
            let len_hint = 5 + fixed.iter().map(Vec::len).sum::<usize>() + windows.len() * 40;
            Template {
                fixed,
                windows,
                len_hint,
            }
        }

        /// The form body with fresh ids starting at counter `first`.
        pub fn render(&self, ids: &Ids, first: u64) -> Vec<u8> {
            let id_len = IdKind::Base36.len();
            let mut out = Vec::with_capacity(self.len_hint);
            out.extend_from_slice(b"data=");
            let mut window = [0u8; 24];
            let mut encoded = [0u8; 32];
            for (i, w) in self.windows.iter().enumerate() {
                out.extend_from_slice(&self.fixed[i]);
                let win = &mut window[..w.json.len()];
                win.copy_from_slice(&w.json);
                ids.write(IdKind::Base36, first + i as u64, &mut win[w.id_at..w.id_at + id_len]);
                let n = B64
                    .encode_slice(&*win, &mut encoded)
                    .expect("a 24-byte window fits 32 base64 characters");
                push_uri_component(&mut out, &encoded[..n]);
            }
            if let Some(last) = self.fixed.last() {
                out.extend_from_slice(last);
            }
            out
        }
    }

    /// Decodes a rendered body with the gateway's own decoder, to prove the patching is
    /// sound; returns the `$insert_id`s.
    pub fn check(body: &[u8], token: &str, batch: usize) -> Result<Vec<String>, String> {
        use vendorwall::protocol::mixpanel::decode::{RawRequest, RequestLimits, decode_request};
        let inbound = decode_request(
            RawRequest {
                query: "verbose=1&ip=1",
                content_type: Some(CONTENT_TYPE),
                content_encoding: None,
                body,
            },
            RequestLimits::new(64 << 20, 1 << 20, 255),
        )
        .map_err(|e| format!("generated body does not decode: {e}"))?;
        if inbound.records.len() != batch {
            return Err(format!(
                "generated body holds {} records, not {batch}",
                inbound.records.len()
            ));
        }
        let mut ids = Vec::with_capacity(batch);
        for r in &inbound.records {
            let r = r
                .as_ref()
                .map_err(|e| format!("a generated record does not decode: {e:?}"))?;
            expect_eq(r, "/properties/token", token)?;
            let id = str_at(r, "/properties/$insert_id")?;
            if !is_insert_id(id) {
                return Err(format!("generated $insert_id {id:?} is malformed"));
            }
            ids.push(id.to_owned());
        }
        Ok(ids)
    }
}

// ---------------------------------------------------------------------------------------------
// Segment: analytics-next 1.84 (analytics.js), `deliveryStrategy: {strategy: 'batching'}`

mod segment {
    use super::*;

    pub const PATH: &str = "/v1/b";
    pub const CONTENT_TYPE: &str = "text/plain";

    /// One `track` message as analytics-next builds it (key order of the capture), ~1.4 KB.
    pub fn event(rng: &mut Rng, write_key: &str, now_ms: u64) -> Value {
        let p = platform(rng);
        let page = page(rng);
        let ms = event_ms(rng, now_ms);
        let name = rng.pick(&[
            "Product Viewed",
            "Product Added",
            "Products Searched",
            "Checkout Started",
            "Product Clicked",
        ]);
        let mut context = Map::new();
        context.insert(
            "page".into(),
            json!({"path": page.path, "referrer": REFERRER, "search": SEARCH, "title": TITLE, "url": page.url}),
        );
        context.insert("userAgent".into(), p.user_agent.into());
        if let Some((brand, ua_platform)) = p.brand {
            context.insert(
                "userAgentData".into(),
                json!({
                    "brands": [
                        {"brand": brand, "version": p.version.to_string()},
                        {"brand": "Chromium", "version": p.version.to_string()},
                        {"brand": "Not_A Brand", "version": "24"}
                    ],
                    "mobile": p.mobile,
                    "platform": ua_platform
                }),
            );
        }
        context.insert("locale".into(), "en-US".into());
        context.insert(
            "library".into(),
            json!({"name": "analytics.js", "version": "next-1.84.3"}),
        );
        context.insert(
            "campaign".into(),
            json!({"source": "newsletter", "medium": "email", "name": "spring_sale"}),
        );
        context.insert("timezone".into(), TIMEZONE.into());
        json!({
            "timestamp": iso8601(ms),
            "integrations": {"Segment.io": true},
            "event": name,
            "type": "track",
            "properties": product_properties(rng),
            "context": context,
            "messageId": format!("ajs-next-{ms}-{}", IdKind::Uuid4.placeholder()),
            "anonymousId": rng.uuid(),
            "writeKey": write_key,
            "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
        })
    }

    pub fn envelope(events: Vec<Value>, write_key: &str, now_ms: u64) -> Value {
        json!({"writeKey": write_key, "batch": events, "sentAt": iso8601(now_ms)})
    }

    /// Checks a parsed body; returns the `messageId`s.
    pub fn check(v: &Value, write_key: &str, batch: usize) -> Result<Vec<String>, String> {
        expect_eq(v, "/writeKey", write_key)?;
        str_at(v, "/sentAt")?;
        let mut ids = Vec::with_capacity(batch);
        for m in array_of(v, "batch", batch)? {
            expect_eq(m, "/type", "track")?;
            expect_eq(m, "/writeKey", write_key)?;
            expect_eq(m, "/context/library/name", "analytics.js")?;
            for p in [
                "/event",
                "/anonymousId",
                "/timestamp",
                "/context/page/url",
                "/context/userAgent",
            ] {
                str_at(m, p)?;
            }
            let id = str_at(m, "/messageId")?;
            let uuid = id
                .strip_prefix("ajs-next-")
                .and_then(|rest| rest.split_once('-'))
                .filter(|(ms, _)| ms.len() == 13 && ms.bytes().all(|b| b.is_ascii_digit()))
                .map(|(_, uuid)| uuid);
            if !uuid.is_some_and(|u| is_uuid(u, 4)) {
                return Err(format!("messageId {id:?} is not ajs-next-<ms>-<uuid v4>"));
            }
            ids.push(id.to_owned());
        }
        Ok(ids)
    }
}

// ---------------------------------------------------------------------------------------------
// PostHog: posthog-js 1.455, request batching, compression gzip-js (what the remote config
// turns on), anonymous visitors (`person_profiles: 'identified_only'`)

mod posthog {
    use super::*;

    pub const PATH: &str = "/e/";
    pub const CONTENT_TYPE: &str = "text/plain";
    /// fflate's default, which posthog-js uses; flate2 then writes the same header
    /// (`1f 8b 08 00`, mtime 0, xfl 0, OS 3).
    const GZIP_LEVEL: u32 = 6;

    /// One event as posthog-js builds it (key order of the capture), ~2.5 KB: posthog-js sends
    /// more properties than the others.
    pub fn event(rng: &mut Rng, api_key: &str, now_ms: u64) -> Value {
        let p = platform(rng);
        let page = page(rng);
        let ms = event_ms(rng, now_ms);
        let session_start = ms - rng.below(1_800_000);
        let first_visit = session_start - rng.below(30 * 86_400_000);
        let device = rng.uuid7(first_visit);
        let session = rng.uuid7(session_start);
        let window = rng.uuid7(session_start);
        let last_pageview = ms - rng.below(60_000);
        let pageview = rng.uuid7(last_pageview);
        let name = rng.pick(&[
            "$pageview",
            "Viewed Product",
            "Added to Cart",
            "Searched",
            "Checkout Started",
        ]);
        let (width, height) = p.screen;
        let mut props = Map::new();
        let mut put = |k: &str, v: Value| {
            props.insert(k.to_owned(), v);
        };
        put("$os", p.os.into());
        if !p.os_version.is_empty() {
            put("$os_version", p.os_version.into());
        }
        put("$browser", p.browser.into());
        put("$device_type", if p.mobile { "Mobile" } else { "Desktop" }.into());
        put("$timezone", TIMEZONE.into());
        put("$timezone_offset", (-60).into());
        put("$current_url", page.url.clone().into());
        put("$host", HOST.into());
        put("$pathname", page.path.clone().into());
        put("$raw_user_agent", p.user_agent.into());
        put("$browser_version", p.version.into());
        put("$browser_language", "en-US".into());
        put("$browser_language_prefix", "en".into());
        put("$screen_height", height.into());
        put("$screen_width", width.into());
        put("$viewport_height", (height - 120).into());
        put("$viewport_width", width.into());
        put("$lib", "web".into());
        put("$lib_version", "1.455.2".into());
        put("$insert_id", IdKind::Base36.placeholder().into());
        put("$time", (ms as f64 / 1000.0).into());
        put("$sdk_dist_channel", "npm".into());
        put("$initialization_time", iso8601(session_start).into());
        put("$configured_session_timeout_ms", 1_800_000.into());
        put("distinct_id", device.clone().into());
        put("$device_id", device.into());
        put("$sdk_debug_extensions_init_method", "synchronous".into());
        put("$sdk_debug_extensions_init_time_ms", 9.into());
        put("$referrer", REFERRER.into());
        put("$referring_domain", REFERRING_DOMAIN.into());
        put("utm_source", "newsletter".into());
        put("utm_medium", "email".into());
        put("utm_campaign", "spring_sale".into());
        for (k, v) in product_properties(rng) {
            put(&k, v);
        }
        put("token", api_key.into());
        put("$config_defaults", "unset".into());
        put("$session_id", session.into());
        put("$window_id", window.into());
        put("$session_entry_referrer", REFERRER.into());
        put("$session_entry_referring_domain", REFERRING_DOMAIN.into());
        put("$session_entry_url", page.url.into());
        put("$session_entry_host", HOST.into());
        put("$session_entry_pathname", page.path.into());
        put("$session_entry_utm_source", "newsletter".into());
        put("$session_entry_utm_medium", "email".into());
        put("$session_entry_utm_campaign", "spring_sale".into());
        put("$recording_status", "disabled".into());
        put("$lib_custom_api_host", format!("https://t.{HOST}").into());
        put("$pageview_id", pageview.into());
        put("$is_identified", false.into());
        put("$process_person_profile", false.into());
        put("$lib_rate_limit_remaining_tokens", 97.5.into());
        json!({
            "uuid": format!("{:08x}-{:04x}-{}", (ms >> 16) & 0xffff_ffff, ms & 0xffff, IdKind::Uuid7Tail.placeholder()),
            "event": name,
            "properties": props,
            "timestamp": iso8601(ms),
        })
    }

    pub fn envelope(events: Vec<Value>, api_key: &str, now_ms: u64) -> Value {
        json!({"api_key": api_key, "batch": events, "sent_at": iso8601(now_ms)})
    }

    /// The request body: the JSON gzipped, as posthog-js sends it as `text/plain`.
    pub fn gzip(json: &[u8]) -> Vec<u8> {
        let mut enc = flate2::GzBuilder::new().operating_system(3).write(
            Vec::with_capacity(json.len() / 4 + 64),
            flate2::Compression::new(GZIP_LEVEL),
        );
        enc.write_all(json).expect("writing to a Vec cannot fail");
        enc.finish().expect("writing to a Vec cannot fail")
    }

    pub fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
        if !body.starts_with(&[0x1f, 0x8b]) {
            return Err("the body does not start with the gzip magic bytes".into());
        }
        let mut out = Vec::with_capacity(body.len() * 8);
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .map_err(|e| format!("the body does not gunzip: {e}"))?;
        Ok(out)
    }

    /// Checks a parsed (gunzipped) body; returns each event's `uuid` and `$insert_id`.
    pub fn check(v: &Value, api_key: &str, batch: usize) -> Result<Vec<String>, String> {
        expect_eq(v, "/api_key", api_key)?;
        str_at(v, "/sent_at")?;
        let mut ids = Vec::with_capacity(2 * batch);
        for e in array_of(v, "batch", batch)? {
            expect_eq(e, "/properties/token", api_key)?;
            expect_eq(e, "/properties/$lib", "web")?;
            for p in [
                "/event",
                "/timestamp",
                "/properties/distinct_id",
                "/properties/$session_id",
            ] {
                str_at(e, p)?;
            }
            let uuid = str_at(e, "/uuid")?;
            if !is_uuid(uuid, 7) {
                return Err(format!("uuid {uuid:?} is not a UUID v7"));
            }
            let insert_id = str_at(e, "/properties/$insert_id")?;
            if !is_insert_id(insert_id) {
                return Err(format!("$insert_id {insert_id:?} is malformed"));
            }
            ids.push(uuid.to_owned());
            ids.push(format!("$insert_id {insert_id}"));
        }
        Ok(ids)
    }
}

// ---------------------------------------------------------------------------------------------
// Amplitude: @amplitude/analytics-browser 2.48, HTTP V2 API, anonymous visitors

mod amplitude {
    use super::*;

    pub const PATH: &str = "/2/httpapi";
    pub const CONTENT_TYPE: &str = "application/json";

    /// One event as analytics-browser builds it (key order of the capture), ~1.2 KB: the
    /// custom properties plus the page properties its autocapture adds to every event.
    pub fn event(rng: &mut Rng, now_ms: u64) -> Value {
        let p = platform(rng);
        let page = page(rng);
        let ms = event_ms(rng, now_ms);
        let name = rng.pick(&[
            "[Amplitude] Page Viewed",
            "Viewed Product",
            "Added to Cart",
            "Searched",
            "Checkout Started",
        ]);
        let mut props = product_properties(rng);
        for (k, v) in [
            ("[Amplitude] Page Domain", HOST.to_owned()),
            ("[Amplitude] Page Location", page.url),
            ("[Amplitude] Page Path", page.path.clone()),
            ("[Amplitude] Page Title", TITLE.to_owned()),
            ("[Amplitude] Page URL", format!("https://{HOST}{}", page.path)),
            ("[Amplitude] Previous Page Location", REFERRER.to_owned()),
            ("[Amplitude] Previous Page Type", "external".to_owned()),
        ] {
            props.insert(k.to_owned(), v.into());
        }
        json!({
            "device_id": rng.uuid(),
            "session_id": ms - rng.below(1_800_000),
            "time": ms,
            "platform": "Web",
            "language": "en-US",
            "ip": "$remote",
            "insert_id": IdKind::Uuid4.placeholder(),
            "event_type": name,
            "event_properties": props,
            "event_id": rng.below(500),
            "library": "amplitude-ts/2.48.1",
            "user_agent": p.user_agent,
        })
    }

    pub fn envelope(events: Vec<Value>, api_key: &str, now_ms: u64) -> Value {
        json!({"api_key": api_key, "events": events, "options": {}, "client_upload_time": iso8601(now_ms)})
    }

    /// The SDK reads the JSON body's `code`, not only the status.
    pub fn accepted(body: &[u8]) -> bool {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("code").and_then(Value::as_i64))
            == Some(200)
    }

    /// Checks a parsed body; returns the `insert_id`s.
    pub fn check(v: &Value, api_key: &str, batch: usize) -> Result<Vec<String>, String> {
        expect_eq(v, "/api_key", api_key)?;
        str_at(v, "/client_upload_time")?;
        if !v.get("options").is_some_and(Value::is_object) {
            return Err("no `options` object".into());
        }
        let mut ids = Vec::with_capacity(batch);
        for e in array_of(v, "events", batch)? {
            expect_eq(e, "/platform", "Web")?;
            expect_eq(e, "/library", "amplitude-ts/2.48.1")?;
            str_at(e, "/event_type")?;
            if str_at(e, "/device_id")?.len() < 5 {
                return Err("device_id is shorter than 5 characters".into());
            }
            for p in ["/time", "/session_id", "/event_id"] {
                e.pointer(p)
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("{p} is not a whole number"))?;
            }
            let id = str_at(e, "/insert_id")?;
            if !is_uuid(id, 4) {
                return Err(format!("insert_id {id:?} is not a UUID v4"));
            }
            ids.push(id.to_owned());
        }
        Ok(ids)
    }
}

// ---------------------------------------------------------------------------------------------
// Shared machinery: the browser SDK of each vendor, the bodies of a run

/// What each vendor's browser SDK puts on the wire.
trait BrowserSdk {
    fn default_path(self) -> &'static str;
    fn content_type(self) -> &'static str;
    fn authorization(self, key: &str) -> Option<String>;
    /// The body's JSON around `batch` fresh events, ids left as placeholders (Mixpanel: the
    /// JSON array its form body carries).
    fn batch_json(self, rng: &mut Rng, key: &str, now_ms: u64, batch: usize) -> Vec<u8>;
    /// Whether the SDK counts this answer as delivered.
    fn accepted(self, status: u16, body: &[u8]) -> Result<(), String>;
    /// Decodes a request body as the vendor would; returns its idempotency ids.
    fn check(self, body: &[u8], key: &str, batch: usize) -> Result<Vec<String>, String>;
}

impl BrowserSdk for Vendor {
    fn default_path(self) -> &'static str {
        match self {
            Vendor::Mixpanel => mixpanel::PATH,
            Vendor::Segment => segment::PATH,
            Vendor::PostHog => posthog::PATH,
            Vendor::Amplitude => amplitude::PATH,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Vendor::Mixpanel => mixpanel::CONTENT_TYPE,
            Vendor::Segment => segment::CONTENT_TYPE,
            Vendor::PostHog => posthog::CONTENT_TYPE,
            Vendor::Amplitude => amplitude::CONTENT_TYPE,
        }
    }

    fn authorization(self, key: &str) -> Option<String> {
        (self == Vendor::Segment).then(|| format!("Basic {}", B64.encode(format!("{key}:"))))
    }

    fn batch_json(self, rng: &mut Rng, key: &str, now_ms: u64, batch: usize) -> Vec<u8> {
        let events = |rng: &mut Rng, f: &dyn Fn(&mut Rng) -> Value| (0..batch).map(|_| f(rng)).collect::<Vec<_>>();
        let body = match self {
            Vendor::Mixpanel => Value::Array(events(rng, &|r| mixpanel::event(r, key, now_ms as f64 / 1000.0))),
            Vendor::Segment => segment::envelope(events(rng, &|r| segment::event(r, key, now_ms)), key, now_ms),
            Vendor::PostHog => posthog::envelope(events(rng, &|r| posthog::event(r, key, now_ms)), key, now_ms),
            Vendor::Amplitude => amplitude::envelope(events(rng, &|r| amplitude::event(r, now_ms)), key, now_ms),
        };
        serde_json::to_vec(&body).expect("events serialise")
    }

    fn accepted(self, status: u16, body: &[u8]) -> Result<(), String> {
        let ok = match self {
            Vendor::Mixpanel => body == mixpanel::OK_BODY,
            Vendor::Segment | Vendor::PostHog => true,
            Vendor::Amplitude => amplitude::accepted(body),
        };
        match (status, ok) {
            (200, true) => Ok(()),
            (200, false) => Err("200 unexpected body".to_owned()),
            (s, _) => Err(s.to_string()),
        }
    }

    fn check(self, body: &[u8], key: &str, batch: usize) -> Result<Vec<String>, String> {
        let parse = |json: &[u8]| serde_json::from_slice::<Value>(json).map_err(|e| format!("not JSON: {e}"));
        gateway_decode(self, body, key, batch)?;
        match self {
            Vendor::Mixpanel => mixpanel::check(body, key, batch),
            Vendor::Segment => segment::check(&parse(body)?, key, batch),
            Vendor::PostHog => posthog::check(&parse(&posthog::gunzip(body)?)?, key, batch),
            Vendor::Amplitude => amplitude::check(&parse(body)?, key, batch),
        }
    }
}

/// Decodes a body as the gateway's server would (the vendor's `Protocol::decode` on its route,
/// the default limits): every record must decode, and the request's key must be `key`.
/// Nothing to check where the vendor's protocol serves no such route (not built yet).
fn gateway_decode(vendor: Vendor, body: &[u8], key: &str, batch: usize) -> Result<(), String> {
    use vendorwall::protocol::{Auth, HttpRequest, Method, RequestLimits};
    let protocol = vendor.protocol();
    let path = vendor.default_path();
    let Some(route) = protocol.routes().iter().find(|r| r.path == path.trim_end_matches('/')) else {
        return Ok(());
    };
    let limits = vendorwall::config::Limits::default();
    let authorization = vendor.authorization(key);
    let inbound = protocol
        .decode(
            *route,
            &HttpRequest {
                method: Method::Post,
                path,
                query: if vendor == Vendor::Mixpanel {
                    "verbose=1&ip=1"
                } else {
                    ""
                },
                content_type: Some(vendor.content_type()),
                content_encoding: None,
                authorization: authorization.as_deref(),
                body,
                client_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
                received_at_ms: now_ms() as i64,
            },
            &RequestLimits::new(
                limits.max_decompressed_bytes,
                limits.max_records_per_request,
                limits.max_properties,
            ),
            &(&limits).into(),
        )
        .map_err(|e| format!("the gateway does not decode the body: {e}"))?;
    if inbound.records.len() != batch {
        return Err(format!(
            "the gateway decodes {} records, not {batch}",
            inbound.records.len()
        ));
    }
    for r in &inbound.records {
        let r = r.as_ref().map_err(|e| format!("the gateway refuses a record: {e:?}"))?;
        if r.key.as_deref().is_some_and(|k| k != key) {
            return Err(format!("the gateway reads the record's key as {:?}", r.key));
        }
    }
    match inbound.auth {
        Auth::Key(Some(k)) if k != key => Err(format!("the gateway reads the request's key as {k:?}")),
        _ => Ok(()),
    }
}

/// A JSON body with its ids left as placeholders; per request it is copied and the ids
/// written over them.
struct JsonTemplate {
    json: Vec<u8>,
    slots: Vec<Slot>,
}

struct Slot {
    at: usize,
    kind: IdKind,
    /// Which event of the batch: the id is that of counter `first + event`.
    event: u64,
}

impl JsonTemplate {
    fn new(json: Vec<u8>, batch: usize) -> Result<JsonTemplate, String> {
        let mut slots = Vec::new();
        for kind in IdKind::ALL {
            let (marker, offset) = kind.marker();
            let found: Vec<usize> = memchr::memmem::find_iter(&json, marker).collect();
            if !found.is_empty() && found.len() != batch {
                return Err(format!("{} {kind:?} ids in a batch of {batch}", found.len()));
            }
            slots.extend(found.into_iter().enumerate().map(|(event, at)| Slot {
                at: at + offset,
                kind,
                event: event as u64,
            }));
        }
        if slots.is_empty() {
            return Err("no id placeholder in the body".into());
        }
        slots.sort_by_key(|s| s.at);
        Ok(JsonTemplate { json, slots })
    }

    /// The JSON with fresh ids starting at counter `first`.
    fn render(&self, ids: &Ids, first: u64) -> Vec<u8> {
        let mut out = self.json.clone();
        for s in &self.slots {
            ids.write(s.kind, first + s.event, &mut out[s.at..s.at + s.kind.len()]);
        }
        out
    }
}

/// The request bodies of a run: `--pool` templates, and fresh ids in every body.
enum Bodies {
    /// Mixpanel: base64 form bodies, id windows re-encoded per request.
    Form(Vec<mixpanel::Template>),
    /// Segment and Amplitude: JSON, ids overwritten per request.
    Json(Vec<JsonTemplate>),
    /// PostHog: gzip of the JSON, built ahead and sent once each, then gzipped per request.
    Gzip {
        templates: Vec<JsonTemplate>,
        prebuilt: Vec<Bytes>,
        next: AtomicUsize,
        live: AtomicU64,
    },
}

impl Bodies {
    fn new(vendor: Vendor, rng: &mut Rng, key: &str, now_ms: u64, batch: usize, pool: usize) -> Result<Bodies, String> {
        let jsons = (0..pool).map(|_| vendor.batch_json(rng, key, now_ms, batch));
        if vendor == Vendor::Mixpanel {
            return Ok(Bodies::Form(jsons.map(|j| mixpanel::Template::new(&j)).collect()));
        }
        let templates = jsons
            .map(|j| JsonTemplate::new(j, batch))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match vendor {
            Vendor::PostHog => Bodies::Gzip {
                templates,
                prebuilt: Vec::new(),
                next: AtomicUsize::new(0),
                live: AtomicU64::new(0),
            },
            _ => Bodies::Json(templates),
        })
    }

    fn pool(&self) -> usize {
        match self {
            Bodies::Form(t) => t.len(),
            Bodies::Json(t) | Bodies::Gzip { templates: t, .. } => t.len(),
        }
    }

    /// A body from template `n` (modulo the pool) with ids from counter `first`, made now.
    fn make(&self, n: u64, ids: &Ids, first: u64) -> Vec<u8> {
        let i = (n % self.pool() as u64) as usize;
        match self {
            Bodies::Form(t) => t[i].render(ids, first),
            Bodies::Json(t) => t[i].render(ids, first),
            Bodies::Gzip { templates, .. } => posthog::gzip(&templates[i].render(ids, first)),
        }
    }

    /// The body of the next request (`n` picks the template), with ids no other body has.
    fn next(&self, n: u64, ids: &Ids, batch: usize) -> Bytes {
        if let Bodies::Gzip {
            prebuilt, next, live, ..
        } = self
        {
            if let Some(body) = prebuilt.get(next.fetch_add(1, Relaxed)) {
                return body.clone();
            }
            live.fetch_add(1, Relaxed);
        }
        Bytes::from(self.make(n, ids, ids.reserve(batch)))
    }

    /// Gzips `count` bodies ahead on `threads` threads (PostHog; nothing for the others).
    fn prebuild(&mut self, count: usize, ids: &Ids, batch: usize, threads: usize) {
        if !matches!(self, Bodies::Gzip { .. }) {
            return;
        }
        let per_thread = count.div_ceil(threads.max(1));
        let built: Vec<Bytes> = std::thread::scope(|s| {
            let this = &*self;
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let range = (t * per_thread).min(count)..((t + 1) * per_thread).min(count);
                    s.spawn(move || {
                        range
                            .map(|k| Bytes::from(this.make(k as u64, ids, ids.reserve(batch))))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("a prebuild thread panicked"))
                .collect()
        });
        if let Bodies::Gzip { prebuilt, .. } = self {
            *prebuilt = built;
        }
    }

    fn gzipped_during_run(&self) -> u64 {
        match self {
            Bodies::Gzip { live, .. } => live.load(Relaxed),
            _ => 0,
        }
    }
}

/// How many PostHog bodies to gzip before the run when `--prebuilt` is not given: all an
/// open-loop run sends; for a closed loop, what 60,000 events/s would take (about twice what
/// the gateway accepts on the 2-core benchmark machine); at most 512 MiB.
fn default_prebuilt(args: &Args, body_bytes: usize) -> usize {
    let events = if args.rate > 0.0 { args.rate } else { 60_000.0 } * args.duration;
    let wanted = (events / args.batch as f64).ceil() as usize;
    wanted.min((512 << 20) / body_bytes.max(1))
}

// ---------------------------------------------------------------------------------------------
// Sending

struct Shared {
    client: reqwest::Client,
    vendor: Vendor,
    /// The URL up to the query.
    target: String,
    authorization: Option<String>,
    bodies: Bodies,
    ids: Ids,
    batch: usize,
}

#[derive(Default)]
struct Stats {
    ok: u64,
    failed: BTreeMap<String, u64>,
    /// Acknowledgement latency of ok requests, µs.
    latencies_us: Vec<u64>,
    unsent: u64,
    last_done: Option<Instant>,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        self.ok += o.ok;
        for (k, v) in o.failed {
            *self.failed.entry(k).or_default() += v;
        }
        self.latencies_us.extend(o.latencies_us);
        self.unsent += o.unsent;
        self.last_done = self.last_done.max(o.last_done);
    }
}

/// Sends batch number `n`; latency counts from `since`.
async fn send(shared: &Shared, n: u64, since: Instant, stats: &mut Stats) {
    let body = shared.bodies.next(n, &shared.ids, shared.batch);
    let url = match shared.vendor {
        Vendor::Mixpanel => format!("{}?verbose=1&ip=1&_={}", shared.target, now_ms()),
        _ => shared.target.clone(),
    };
    let mut request = shared
        .client
        .post(url)
        .header("Content-Type", shared.vendor.content_type());
    if let Some(auth) = &shared.authorization {
        request = request.header("Authorization", auth);
    }
    let outcome = match request.body(body).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.bytes().await {
                Ok(b) => shared.vendor.accepted(status, &b),
                Err(e) => Err(transport_error(&e)),
            }
        }
        Err(e) => Err(transport_error(&e)),
    };
    let done = Instant::now();
    stats.last_done = Some(done);
    match outcome {
        Ok(()) => {
            stats.ok += 1;
            stats.latencies_us.push(done.duration_since(since).as_micros() as u64);
        }
        Err(k) => *stats.failed.entry(k).or_default() += 1,
    }
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect error".into()
    } else {
        "transport error".into()
    }
}

enum Plan {
    /// Keep one request in flight until the deadline.
    Closed { deadline: Instant },
    /// Send batches `worker, worker + workers, …` below `batches`, batch i at `t0 + i·interval`.
    Open {
        t0: Instant,
        interval: Duration,
        batches: u64,
        workers: u64,
        give_up: Instant,
    },
}

async fn worker(shared: Arc<Shared>, index: u64, plan: Arc<Plan>) -> Stats {
    let mut stats = Stats::default();
    match *plan {
        Plan::Closed { deadline } => {
            let mut n = index;
            while Instant::now() < deadline {
                let started = Instant::now();
                send(&shared, n, started, &mut stats).await;
                n += 1;
            }
        }
        Plan::Open {
            t0,
            interval,
            batches,
            workers,
            give_up,
        } => {
            let mut i = index;
            while i < batches {
                let scheduled = t0 + interval.mul_f64(i as f64);
                tokio::time::sleep_until(scheduled).await;
                if Instant::now() > give_up {
                    stats.unsent += (batches - i).div_ceil(workers);
                    break;
                }
                send(&shared, i, scheduled, &mut stats).await;
                i += workers;
            }
        }
    }
    stats
}

/// CPU seconds this process has used so far (user + system, all threads), from `/proc` in
/// USER_HZ (100 on Linux); `None` where there is no `/proc`.
fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name in parentheses: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("loadgen: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if args.self_test {
        let vendors: Vec<Vendor> = if args.vendor_given {
            vec![args.vendor]
        } else {
            Vendor::ALL.to_vec()
        };
        match self_test(&vendors, args.batch, 10_000) {
            Ok(()) => return,
            Err(e) => {
                eprintln!("loadgen: self-test failed: {e}");
                std::process::exit(1);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .expect("start the tokio runtime");
    if let Err(e) = runtime.block_on(run(args)) {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    vendorwall::init_crypto();
    let vendor = args.vendor;
    let seed = now_ms() as u64;
    let mut rng = Rng(seed);
    let now = now_ms() as u64;
    let ids = Ids::new(seed);
    let mut bodies = Bodies::new(vendor, &mut rng, &args.key, now, args.batch, args.pool)?;
    // Check one rendered body per template as the vendor would decode it before sending.
    for n in 0..bodies.pool() as u64 {
        vendor.check(&bodies.make(n, &ids, ids.reserve(args.batch)), &args.key, args.batch)?;
    }
    let sample = bodies.make(0, &ids, ids.reserve(args.batch));
    let json_bytes = vendor.batch_json(&mut rng, &args.key, now, args.batch).len();
    let event_bytes = {
        // The events alone, without the envelope (Mixpanel's batch is a bare array).
        let v: Value = serde_json::from_slice(&vendor.batch_json(&mut rng, &args.key, now, args.batch))
            .map_err(|e| e.to_string())?;
        let events = match &v {
            Value::Array(a) => a,
            _ => ["batch", "events"]
                .iter()
                .find_map(|k| v.get(k).and_then(Value::as_array))
                .ok_or("no events in the body")?,
        };
        events.iter().map(|e| e.to_string().len()).sum::<usize>() / args.batch
    };
    if vendor == Vendor::PostHog {
        let count = args.prebuilt.unwrap_or_else(|| default_prebuilt(&args, sample.len()));
        let started = std::time::Instant::now();
        bodies.prebuild(count, &ids, args.batch, args.threads);
        eprintln!(
            "loadgen: gzipped {count} posthog bodies ahead ({:.0} MiB) in {:.1} s",
            (count * sample.len()) as f64 / f64::from(1 << 20),
            started.elapsed().as_secs_f64()
        );
    }

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs_f64(args.timeout))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let shared = Arc::new(Shared {
        client,
        vendor,
        target: format!("{}{}", args.url, args.path.as_deref().unwrap_or(vendor.default_path())),
        authorization: vendor.authorization(&args.key),
        bodies,
        ids,
        batch: args.batch,
    });

    // Scripts take their CPU and wall-clock snapshots when they see this line: the load
    // starts 100 ms later, after the preparation above (the posthog gzip can take seconds).
    let cpu_prepare = process_cpu_s();
    eprintln!("loadgen: sending in 100 ms");
    let t0 = Instant::now() + Duration::from_millis(100);
    let run_for = Duration::from_secs_f64(args.duration);
    let (plan, mode) = if args.rate == 0.0 {
        (Plan::Closed { deadline: t0 + run_for }, "closed")
    } else {
        let interval = Duration::from_secs_f64(args.batch as f64 / args.rate);
        let batches = (args.duration * args.rate / args.batch as f64).floor() as u64;
        (
            Plan::Open {
                t0,
                interval,
                batches,
                workers: args.concurrency as u64,
                give_up: t0 + run_for + run_for.max(Duration::from_secs(10)),
            },
            "open",
        )
    };
    let plan = Arc::new(plan);
    tokio::time::sleep_until(t0).await;
    let tasks: Vec<_> = (0..args.concurrency as u64)
        .map(|w| tokio::spawn(worker(shared.clone(), w, plan.clone())))
        .collect();
    let mut stats = Stats::default();
    for t in tasks {
        stats.merge(t.await.map_err(|e| format!("a worker failed: {e}"))?);
    }
    let elapsed = stats
        .last_done
        .map_or(Duration::ZERO, |d| d.duration_since(t0))
        .as_secs_f64();

    stats.latencies_us.sort_unstable();
    let failed: u64 = stats.failed.values().sum();
    let events = stats.ok * args.batch as u64;
    let per_s = if elapsed > 0.0 { events as f64 / elapsed } else { 0.0 };
    let lat = |p| percentile(&stats.latencies_us, p);
    let max = stats.latencies_us.last().map_or(0.0, |v| *v as f64 / 1000.0);
    let gzipped = shared.bodies.gzipped_during_run();
    let cpu_sending = process_cpu_s().zip(cpu_prepare).map(|(end, start)| end - start);
    let human = format!(
        "loadgen: {vendor}, {mode} loop, {} ev/s offered, batch {}, {} connections, {} s planned\n\
         body: {} bytes per request ({} bytes of JSON), ~{} bytes of JSON per event{}\n\
         requests: {} ok, {} failed {:?}, {} unsent\n\
         accepted: {} events in {:.2} s = {:.0} events/s\n\
         ack latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        if args.rate == 0.0 {
            "max".to_owned()
        } else {
            format!("{}", args.rate)
        },
        args.batch,
        args.concurrency,
        args.duration,
        sample.len(),
        json_bytes,
        event_bytes,
        if vendor == Vendor::PostHog {
            format!("; {gzipped} bodies gzipped during the run")
        } else {
            String::new()
        },
        stats.ok,
        failed,
        stats.failed,
        stats.unsent,
        events,
        elapsed,
        per_s,
        lat(50.0),
        lat(90.0),
        lat(99.0),
        max,
    );
    if args.json {
        eprintln!("{human}");
        let line = json!({
            "vendor": vendor.name(),
            "mode": mode,
            "rate_offered": args.rate,
            "batch": args.batch,
            "concurrency": args.concurrency,
            "duration_planned_s": args.duration,
            "duration_s": elapsed,
            "body_bytes": sample.len(),
            "body_json_bytes": json_bytes,
            "event_json_bytes": event_bytes,
            "bodies_gzipped_during_run": gzipped,
            "cpu_s_prepare": cpu_prepare,
            "cpu_s_sending": cpu_sending,
            "requests_ok": stats.ok,
            "requests_failed": failed,
            "failed_by_status": stats.failed,
            "requests_unsent": stats.unsent,
            "events_accepted": events,
            "accepted_events_per_s": per_s,
            "latency_ms": {"p50": lat(50.0), "p90": lat(90.0), "p99": lat(99.0), "max": max},
        });
        println!("{line}");
    } else {
        println!("{human}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Self-test: every vendor's bodies decode, their ids never repeat, and what a body costs

const TEST_KEY: &str = "self-test-key";

/// Renders `requests` consecutive bodies of `batch` events (PostHog: half gzipped ahead,
/// half as it sends) from a small pool, decodes each as the vendor would and checks that no
/// id appears twice. Returns the number of ids seen.
fn unique_ids(vendor: Vendor, batch: usize, requests: usize) -> Result<usize, String> {
    let ids = Ids::new(42);
    let mut bodies = Bodies::new(vendor, &mut Rng(7), TEST_KEY, 1_796_659_965_161, batch, 16)?;
    bodies.prebuild(requests / 2, &ids, batch, 2);
    let mut seen = HashSet::with_capacity(requests * batch * 2);
    for n in 0..requests as u64 {
        for id in vendor.check(&bodies.next(n, &ids, batch), TEST_KEY, batch)? {
            if !seen.insert(id.clone()) {
                return Err(format!("{vendor}: id {id} repeats in request {n}"));
            }
        }
    }
    Ok(seen.len())
}

/// Bodies of `batch` events one core makes per second of CPU, made as during a run
/// (PostHog: gzipped per request). CPU time, not wall-clock time, so a busy machine does
/// not lower it (wall-clock time where there is no `/proc`).
fn bodies_per_s(vendor: Vendor, batch: usize) -> Result<f64, String> {
    let ids = Ids::new(1);
    let bodies = Bodies::new(vendor, &mut Rng(3), TEST_KEY, now_ms() as u64, batch, 64)?;
    let started = std::time::Instant::now();
    let cpu0 = process_cpu_s();
    let spent = || match (process_cpu_s(), cpu0) {
        (Some(now), Some(then)) => now - then,
        _ => started.elapsed().as_secs_f64(),
    };
    let mut n = 0u64;
    let mut bytes = 0usize;
    while spent() < 1.0 && started.elapsed() < Duration::from_secs(20) {
        for _ in 0..16 {
            bytes += bodies.next(n, &ids, batch).len();
            n += 1;
        }
    }
    std::hint::black_box(bytes);
    Ok(n as f64 / spent())
}

fn self_test(vendors: &[Vendor], batch: usize, requests: usize) -> Result<(), String> {
    vendorwall::init_crypto();
    println!(
        "{:<10} {:>11} {:>11} {:>12} {:>22} {:>14} {:>18}",
        "vendor", "body bytes", "JSON bytes", "JSON/event", "unique ids", "bodies/s", "events/s/core"
    );
    for &vendor in vendors {
        let ids = Ids::new(9);
        let bodies = Bodies::new(vendor, &mut Rng(11), TEST_KEY, now_ms() as u64, batch, 4)?;
        let body = bodies.make(0, &ids, ids.reserve(batch));
        vendor
            .check(&body, TEST_KEY, batch)
            .map_err(|e| format!("{vendor}: {e}"))?;
        let json_bytes = vendor.batch_json(&mut Rng(11), TEST_KEY, now_ms() as u64, batch).len();
        let seen = unique_ids(vendor, 10, requests).map_err(|e| format!("{vendor}: {e}"))?;
        let rate = bodies_per_s(vendor, batch)?;
        println!(
            "{:<10} {:>11} {:>11} {:>12} {:>22} {:>14.0} {:>18.0}",
            vendor.name(),
            body.len(),
            json_bytes,
            json_bytes / batch,
            format!("{seen} in {requests} req"),
            rate,
            rate * batch as f64
        );
    }
    println!(
        "(bodies/s: per second of CPU of one thread making batch-{batch} bodies as during a run; posthog gzips each)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_is_javascripts() {
        // From segment_browser_batch.http: messageId ms and timestamp of the same event.
        assert_eq!(iso8601(1_796_659_965_161), "2026-12-07T16:12:45.161Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn ids_are_well_formed_and_distinct() {
        let ids = Ids::new(5);
        let mut seen = HashSet::new();
        for counter in 0..10_000u64 {
            let mut b = [0u8; 16];
            ids.write(IdKind::Base36, counter, &mut b);
            assert!(is_insert_id(std::str::from_utf8(&b).unwrap()));
            let mut u = [0u8; 36];
            ids.write(IdKind::Uuid4, counter, &mut u);
            let u = String::from_utf8(u.to_vec()).unwrap();
            assert!(is_uuid(&u, 4), "{u}");
            let mut t = *b"01a25147-8371-7000-8000-000000000000";
            ids.write(IdKind::Uuid7Tail, counter, &mut t[14..]);
            let t = String::from_utf8(t.to_vec()).unwrap();
            assert!(is_uuid(&t, 7), "{t}");
            assert!(seen.insert(u) && seen.insert(t) && seen.insert(String::from_utf8(b.to_vec()).unwrap()));
        }
    }

    #[test]
    fn every_vendor_body_decodes_and_ids_never_repeat() {
        vendorwall::init_crypto();
        for vendor in Vendor::ALL {
            let seen = unique_ids(vendor, 5, 10_000).unwrap();
            let per_event = if vendor == Vendor::PostHog { 2 } else { 1 };
            assert_eq!(seen, 10_000 * 5 * per_event, "{vendor}");
        }
    }

    #[test]
    fn responses_count_as_the_sdks_count_them() {
        assert!(Vendor::Mixpanel.accepted(200, br#"{"status":1,"error":null}"#).is_ok());
        assert!(Vendor::Mixpanel.accepted(200, b"1").is_err());
        assert!(Vendor::Segment.accepted(200, br#"{"success":true}"#).is_ok());
        assert!(Vendor::PostHog.accepted(200, br#"{"status":"Ok"}"#).is_ok());
        assert_eq!(Vendor::PostHog.accepted(204, b"").unwrap_err(), "204");
        assert!(
            Vendor::Amplitude
                .accepted(200, br#"{"code":200,"events_ingested":50}"#)
                .is_ok()
        );
        assert!(Vendor::Amplitude.accepted(200, br#"{"success":true}"#).is_err());
        assert!(Vendor::Amplitude.accepted(400, br#"{"code":400}"#).is_err());
    }

    /// The body of a capture in tests/sdk/wire, decoded (base64 then gunzip where stored so).
    fn capture(file: &str) -> (String, Value) {
        let path = format!("{}/tests/sdk/wire/{file}", env!("CARGO_MANIFEST_DIR"));
        let raw = std::fs::read(&path).unwrap();
        let split = raw.windows(2).position(|w| w == b"\n\n").unwrap();
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let mut body = raw[split + 2..].to_vec();
        if body.first() != Some(&b'{') {
            body = posthog::gunzip(&B64.decode(&body).unwrap()).unwrap();
        }
        (head, serde_json::from_slice(&body).unwrap())
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    /// Our bodies against the real SDKs' captures: request line, headers, envelope keys in
    /// order, and each event's keys in order (the capture's identified-user fields aside).
    #[test]
    fn bodies_match_the_sdk_captures() {
        for (vendor, file, events_key, (name_key, name), skip) in [
            (
                Vendor::Segment,
                "segment_browser_batch.http",
                "batch",
                ("type", "track"),
                &["userId"][..],
            ),
            (
                Vendor::PostHog,
                "posthog_browser_e_gzip.http",
                "batch",
                ("event", "$pageview"),
                &[][..],
            ),
            (
                Vendor::Amplitude,
                "amplitude_browser_httpapi.http",
                "events",
                ("event_type", "Landing Viewed"),
                &["user_id"][..],
            ),
        ] {
            let (head, real) = capture(file);
            let request_line = format!("POST {}\n", vendor.default_path());
            assert!(head.starts_with(&request_line), "{vendor}: {head}");
            let content_type = format!("content-type: {}\n", vendor.content_type());
            assert!(head.to_lowercase().contains(&content_type), "{vendor}");
            if let Some(auth) = vendor.authorization("seg-write-key-123") {
                assert!(head.contains(&format!("Authorization: {auth}\n")), "{vendor}");
            }
            let ours: Value =
                serde_json::from_slice(&vendor.batch_json(&mut Rng(1), "k", 1_796_659_965_161, 2)).unwrap();
            assert_eq!(keys(&ours), keys(&real), "{vendor} envelope");
            let real_event = real[events_key]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e[name_key] == name)
                .unwrap();
            let real_keys: Vec<&str> = keys(real_event).into_iter().filter(|k| !skip.contains(k)).collect();
            assert_eq!(keys(&ours[events_key][0]), real_keys, "{vendor} event");
        }
    }

    #[test]
    fn posthog_gzip_header_is_fflates() {
        let (_, real) = capture("posthog_browser_e_gzip.http");
        let ours = posthog::gzip(real.to_string().as_bytes());
        assert_eq!(ours[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    }
}
