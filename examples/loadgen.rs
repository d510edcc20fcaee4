//! A load generator that posts event batches exactly as mixpanel-browser does behind a proxy.
//!
//! ```text
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8080 --token TOKEN \
//!     --rate 10000 --duration 30 --concurrency 32 --batch 50 [--json]
//! ```
//!
//! Each request is `POST /track/?verbose=1&ip=1&_=<ms>` with
//! `Content-Type: application/x-www-form-urlencoded` and the body
//! `data=<url-encoded base64 of a JSON array>` of `--batch` events (~1 KB each, the default
//! properties mixpanel-browser 2.83 adds plus custom ones). Every event carries a unique
//! `$insert_id` of 16 base-36 characters.
//!
//! - `--rate 0`: closed loop, as fast as possible; `--concurrency` workers each keep one
//!   request in flight. Latency is measured from each request's send.
//! - `--rate N`: open loop at N events/s. Batches are scheduled on a fixed timeline and
//!   shared round-robin among `--concurrency` connections; latency is measured from the
//!   *scheduled* send time, so a slow answer that delays the next send counts against the
//!   server (no coordinated omission). Batches still unsent long after the run are reported
//!   as `unsent`.
//!
//! A request counts as ok only if it gets HTTP 200 with the body `{"status":1,"error":null}`.
//! The report gives requests ok/failed (by status), accepted events/s, p50/p90/p99/max
//! acknowledgement latency and the duration; `--json` prints it as one JSON line on stdout
//! (the human-readable report then goes to stderr).
//!
//! Bodies are cheap to make: `--pool` different batches are generated once, as the base64
//! of their JSON split at 3-byte boundaries around each `$insert_id`. Per request only those
//! few 21-byte windows are re-encoded with fresh ids; the rest is copied.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};
use tokio::time::Instant;

const USAGE: &str = "usage: loadgen --url URL --token TOKEN [--rate EVENTS_PER_S (0 = as fast as possible)] \
[--duration SECONDS] [--concurrency N] [--batch N] [--pool N] [--timeout SECONDS] [--threads N] [--json]";

const OK_BODY: &[u8] = br#"{"status":1,"error":null}"#;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone)]
struct Args {
    url: String,
    token: String,
    rate: f64,
    duration: f64,
    concurrency: usize,
    batch: usize,
    pool: usize,
    timeout: f64,
    threads: usize,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        token: String::new(),
        rate: 0.0,
        duration: 30.0,
        concurrency: 32,
        batch: 50,
        pool: 64,
        timeout: 60.0,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            a.json = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<f64>().map_err(|_| format!("{flag}: `{v}` is not a number"));
        let count = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag}: `{v}` is not a whole number"))
        };
        match flag.as_str() {
            "--url" => a.url = value.trim_end_matches('/').to_owned(),
            "--token" => a.token = value,
            "--rate" => a.rate = num(&value)?,
            "--duration" => a.duration = num(&value)?,
            "--concurrency" => a.concurrency = count(&value)?,
            "--batch" => a.batch = count(&value)?,
            "--pool" => a.pool = count(&value)?,
            "--timeout" => a.timeout = num(&value)?,
            "--threads" => a.threads = count(&value)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if a.url.is_empty() || a.token.is_empty() {
        return Err("--url and --token are required".into());
    }
    if a.rate < 0.0 || a.duration <= 0.0 || a.timeout <= 0.0 {
        return Err("--rate must be ≥ 0, --duration and --timeout > 0".into());
    }
    if a.concurrency == 0 || a.batch == 0 || a.pool == 0 || a.threads == 0 {
        return Err("--concurrency, --batch, --pool and --threads must be ≥ 1".into());
    }
    Ok(a)
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

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
}

/// The splitmix64 finaliser: a bijection on u64, so distinct counters give distinct ids.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const ID_LEN: usize = 16;

/// Unique `$insert_id`s: 3 characters fixed per run, then 13 base-36 digits of a bijective
/// mix of a counter (36^13 > 2^64).
struct Ids {
    run_tag: [u8; 3],
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
            next: AtomicU64::new(0),
        }
    }

    /// Reserves `n` ids; returns the first counter value.
    fn reserve(&self, n: usize) -> u64 {
        self.next.fetch_add(n as u64, Relaxed)
    }

    fn write(&self, counter: u64, out: &mut [u8]) {
        out[..3].copy_from_slice(&self.run_tag);
        let mut v = mix(counter);
        for slot in out[3..ID_LEN].iter_mut().rev() {
            *slot = BASE36[(v % 36) as usize];
            v /= 36;
        }
    }
}

/// One event as mixpanel-browser 2.83 builds it (property order included), ~1 KB of JSON.
fn browser_event(rng: &mut Rng, token: &str, time: f64) -> Value {
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
            "$insert_id": "0000000000000000",
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
struct Template {
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
    fn new(json: &[u8]) -> Template {
        const KEY: &[u8] = br#""$insert_id":""#;
        let mut fixed = Vec::new();
        let mut windows = Vec::new();
        let mut done = 0;
        let mut pos = 0;
        while let Some(found) = json[pos..].windows(KEY.len()).position(|w| w == KEY) {
            let id_at = pos + found + KEY.len();
            let start = id_at - id_at % 3;
            let end = (id_at + ID_LEN).div_ceil(3) * 3;
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
    fn render(&self, ids: &Ids, first: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len_hint);
        out.extend_from_slice(b"data=");
        let mut window = [0u8; 24];
        let mut encoded = [0u8; 32];
        for (i, w) in self.windows.iter().enumerate() {
            out.extend_from_slice(&self.fixed[i]);
            let win = &mut window[..w.json.len()];
            win.copy_from_slice(&w.json);
            ids.write(first + i as u64, &mut win[w.id_at..w.id_at + ID_LEN]);
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

/// Decodes a rendered body with the gateway's own decoder, to prove the patching is sound.
fn check_body(body: &[u8], batch: usize) -> Result<(), String> {
    use vendorwall::protocol::mixpanel::decode::{RawRequest, RequestLimits, decode_request};
    let inbound = decode_request(
        RawRequest {
            query: "verbose=1&ip=1",
            content_type: Some("application/x-www-form-urlencoded"),
            content_encoding: None,
            body,
        },
        RequestLimits {
            max_decompressed_bytes: 64 << 20,
            max_records: 1 << 20,
        },
    )
    .map_err(|e| format!("generated body does not decode: {e}"))?;
    if inbound.records.len() != batch {
        return Err(format!(
            "generated body holds {} records, not {batch}",
            inbound.records.len()
        ));
    }
    for r in &inbound.records {
        let id = r
            .as_ref()
            .ok()
            .and_then(|r| r.pointer("/properties/$insert_id"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if id.len() != ID_LEN || !id.bytes().all(|b| BASE36.contains(&b)) || id.starts_with("000") {
            return Err(format!("generated $insert_id {id:?} is malformed"));
        }
    }
    Ok(())
}

struct Shared {
    client: reqwest::Client,
    url: String,
    templates: Vec<Template>,
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

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Sends batch number `n`; latency counts from `since`.
async fn send(shared: &Shared, n: u64, since: Instant, stats: &mut Stats) {
    let template = &shared.templates[(n % shared.templates.len() as u64) as usize];
    let body = template.render(&shared.ids, shared.ids.reserve(shared.batch));
    let url = format!("{}/track/?verbose=1&ip=1&_={}", shared.url, now_ms());
    let result = shared
        .client
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    let outcome = match result {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.bytes().await {
                Ok(b) if status == 200 && b.as_ref() == OK_BODY => Ok(()),
                Ok(_) if status == 200 => Err("200 unexpected body".to_owned()),
                Ok(_) => Err(status.to_string()),
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
    let seed = now_ms() as u64;
    let mut rng = Rng(seed);
    let time = now_ms() as f64 / 1000.0;
    let ids = Ids::new(seed);
    let templates: Vec<Template> = (0..args.pool)
        .map(|_| {
            let events: Vec<Value> = (0..args.batch)
                .map(|_| browser_event(&mut rng, &args.token, time))
                .collect();
            Template::new(&serde_json::to_vec(&events).expect("events serialise"))
        })
        .collect();
    // Check one rendered body per template with the gateway's decoder before sending.
    for t in &templates {
        check_body(&t.render(&ids, ids.reserve(args.batch)), args.batch)?;
    }
    let sample = templates[0].render(&ids, 0);
    let event_bytes = {
        let events: Vec<Value> = (0..args.batch)
            .map(|_| browser_event(&mut rng, &args.token, time))
            .collect();
        events.iter().map(|e| e.to_string().len()).sum::<usize>() / args.batch
    };

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs_f64(args.timeout))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let shared = Arc::new(Shared {
        client,
        url: args.url.clone(),
        templates,
        ids,
        batch: args.batch,
    });

    let t0 = Instant::now() + Duration::from_millis(20);
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
    let human = format!(
        "loadgen: {mode} loop, {} ev/s offered, batch {}, {} connections, {} s planned\n\
         body: {} bytes per request, ~{} bytes of JSON per event\n\
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
        event_bytes,
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
            "mode": mode,
            "rate_offered": args.rate,
            "batch": args.batch,
            "concurrency": args.concurrency,
            "duration_planned_s": args.duration,
            "duration_s": elapsed,
            "body_bytes": sample.len(),
            "event_json_bytes": event_bytes,
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
