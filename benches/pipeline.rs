//! Per-event CPU cost of the ingest path, without HTTP or storage: a mixpanel-browser batch
//! (base64 `data=` form body) → records → canonical events → vendor records → bytes.
//!
//! Run with `cargo bench --bench pipeline`. Criterion prints time per iteration and, because
//! every benchmark declares its throughput, events/s (`Elements`) or MB/s (`Bytes`).
//!
//! Benchmarks:
//! - `batch50/*`: one 50-event body as mixpanel-browser posts it behind a proxy:
//!   `decode_request` + `decode_record` for each record + `encode_record` + `serde_json::to_vec`.
//! - `event/*`: the same for a body holding one event.
//! - `stage/*`: the 50-event path split into its stages, to see where the time goes.
//! - `reference/*`: the libraries underneath (form_urlencoded, base64, serde_json) on the
//!   same bytes, as a floor for `stage/decode_request` and `stage/encode_record+to_vec`.
//! - `firewall/*`: `classify_record` alone, and with the recommended policy applied, per
//!   event (one core).
//! - `ingest_like/batch50`: the per-record CPU work of `Pipeline::ingest` for one
//!   destination with the recommended policy (decode, canonical event, vendor record,
//!   classify, policy, exposure metadata, row bytes); no HTTP, subject seal or store.
//! - `store/complete_2000`: the acknowledgement of a 2000-record delivery in the SQLite store
//!   (`OutboxStore::complete`: the rows deleted, their ledger entries written, one fsync), each
//!   record from a new anonymous device (a subject and a linked device id to intern), with
//!   the exposure metadata `ingest_like` makes. The rows are appended and leased untimed.
//! - `delivery/gzip_2000`: the gzip (level 1) of a 2000-record `/import` body, as delivery
//!   compresses each batch for Mixpanel.
//! - `gateway_like/batch50`: adds two things `Pipeline::ingest` does per record on top (the
//!   `$insert_id` lookup kept for error reports, and one copy of the canonical event, which
//!   the passthrough policy made) and serialises with `to_string` as it does. Policy work
//!   beyond that copy (classification, rewriting) is not included.
//!
//! The events are ~1 KB of JSON each with the default properties mixpanel-browser 2.83 sends
//! (`$os`, `$browser`, `$current_url`, `$referrer`, `$screen_*`, `distinct_id` `$device:<uuid>`,
//! `$insert_id`, float `time`, `mp_lib`, ...) plus custom properties of an e-commerce app.

use std::hint::black_box;
use std::time::Duration;

use base64::Engine;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use vendorwall::classify::Shape;
use vendorwall::event::Caps;
use vendorwall::policy::{Context as PolicyContext, Policy, Verdict};
use vendorwall::protocol::mixpanel::Endpoint;
use vendorwall::protocol::mixpanel::decode::{RawRequest, RequestLimits, decode_record, decode_request};
use vendorwall::protocol::mixpanel::encode::encode_record;
use vendorwall::protocol::{HttpRequest, Method, Vendor};
use vendorwall::store::sqlite::SqliteStore;
use vendorwall::store::{KeyStore, NewRow, OutboxStore};

/// The allocator the `vendorwall` binary runs with (`src/main.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const APP_TOKEN: &str = "bench-app-token";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const PROJECT_TOKEN: &str = "bench-project-token";
const QUERY: &str = "verbose=1&ip=1&_=1767225600000";
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// splitmix64: deterministic, so every run benchmarks the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
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

    /// 16 base-36 characters, the shape of mixpanel-browser's `$insert_id`.
    fn insert_id(&mut self) -> String {
        const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        (0..16).map(|_| DIGITS[(self.next() % 36) as usize] as char).collect()
    }
}

/// One event as mixpanel-browser 2.83 builds it (property order included), ~1 KB of JSON.
fn browser_event(rng: &mut Rng, time: f64) -> Value {
    let device = rng.uuid();
    let name = rng.pick(&[
        "Viewed Product",
        "Added to Cart",
        "$mp_web_page_view",
        "Searched",
        "Checkout Started",
    ]);
    const PLATFORMS: [(&str, &str); 5] = [
        ("Mac OS X", "Chrome"),
        ("Windows", "Microsoft Edge"),
        ("Linux", "Firefox"),
        ("iOS", "Mobile Safari"),
        ("Android", "Chrome"),
    ];
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
            "$insert_id": rng.insert_id(),
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
            "token": APP_TOKEN,
            "mp_sent_by_lib_version": "2.83.0"
        }
    })
}

/// `data=<url-encoded base64 of the JSON array>`, as mixpanel-browser sends behind a proxy.
fn form_body(events: &[Value]) -> Vec<u8> {
    let json = serde_json::to_vec(events).expect("events serialise");
    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
    let mut body = b"data=".to_vec();
    body.extend(form_urlencoded::byte_serialize(b64.as_bytes()).flat_map(str::bytes));
    body
}

fn limits() -> RequestLimits {
    let l = vendorwall::config::Limits::default();
    RequestLimits::new(l.max_decompressed_bytes, l.max_records_per_request, l.max_properties)
}

fn raw(body: &[u8]) -> RawRequest<'_> {
    RawRequest {
        query: QUERY,
        content_type: Some(CONTENT_TYPE),
        content_encoding: None,
        body,
    }
}

/// decode → canonical → encode → bytes for one request; returns the bytes produced.
fn run(body: &[u8], caps: &Caps) -> usize {
    let inbound = decode_request(raw(body), limits()).expect("body decodes");
    let mut out = 0;
    for record in inbound.records {
        let decoded =
            decode_record(Endpoint::Track, record.expect("record is an object"), caps).expect("record is valid");
        let payload = serde_json::to_vec(&encode_record(&decoded.event, PROJECT_TOKEN)).expect("record serialises");
        out += black_box(payload).len();
    }
    out
}

/// What `Pipeline::ingest` adds per record: the `$insert_id` hint kept for error reports
/// and a copy of the canonical event per destination.
fn run_gateway_like(body: &[u8], caps: &Caps) -> usize {
    let inbound = decode_request(raw(body), limits()).expect("body decodes");
    let mut out = 0;
    for record in inbound.records {
        let record = record.expect("record is an object");
        let hint = record
            .pointer("/properties/$insert_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        black_box(hint);
        let decoded = decode_record(Endpoint::Track, record, caps).expect("record is valid");
        let copy = black_box(decoded.event.clone());
        let payload = encode_record(&copy, PROJECT_TOKEN).to_string().into_bytes();
        out += black_box(payload).len();
    }
    out
}

/// Classification + a policy per record, as `Pipeline::ingest` runs them for one destination.
/// Not inlined, so `bench/instructions.sh` can count its instructions under callgrind.
#[inline(never)]
fn firewall(events: Vec<Value>, policy: &Policy, shape: Shape, ctx: &PolicyContext) -> usize {
    let mut n = 0;
    for e in events {
        let findings = vendorwall::classify::classify_record(&e, shape);
        if let Verdict::Send { record, .. } = policy.apply_owned(e, shape, &findings, ctx) {
            n += black_box(record).as_object().map_or(0, |o| o.len());
        }
    }
    n
}

/// The CPU work of `Pipeline::ingest` per record for one destination, minus HTTP, the
/// ledger's subject digest/seal and the store, through the vendor seam as the pipeline runs
/// it: the protocol decodes the request (records → canonical events) → translation check →
/// the destination protocol's record → classify → policy → exposure → row payload and meta
/// bytes. Not inlined (see [`firewall`]).
#[inline(never)]
fn ingest_like(body: &[u8], caps: &Caps, policy: &Policy, ctx: &PolicyContext) -> usize {
    let proto = Vendor::Mixpanel.protocol();
    let req = HttpRequest {
        method: Method::Post,
        path: "/track/",
        query: QUERY,
        content_type: Some(CONTENT_TYPE),
        content_encoding: None,
        authorization: None,
        body,
        client_ip: None,
        received_at_ms: 0,
    };
    let route = proto.routes()[0];
    let inbound = proto.decode(route, &req, &limits(), caps).expect("body decodes");
    let mut n = 0;
    let mut memo = vendorwall::classify::Memo::default();
    for record in inbound.records {
        let mut event = record.expect("record is valid").event;
        black_box(vendorwall::protocol::translate(&mut event, Vendor::Mixpanel));
        let shape = proto.shape(event.kind);
        let record = proto.encode(event);
        let findings = vendorwall::classify::classify_record_with(&record, shape, &mut memo);
        if let Verdict::Send { record: out, decisions } = policy.apply_owned(record, shape, &findings, ctx) {
            let exposed = vendorwall::ledger::exposure(&findings, &decisions, &out);
            let meta = vendorwall::ledger::Exposure {
                source: "web".to_owned(),
                sent: exposed.sent,
                pseudonymised: exposed.pseudonymised,
                held_back: exposed.held_back,
                fields: exposed.fields,
                ..Default::default()
            };
            n += black_box(vendorwall::json::to_vec(&out, 1024)).len();
            n += black_box(vendorwall::ledger::codec::encode_meta(&meta)).len();
        }
    }
    n
}

/// The rows `Pipeline::ingest` queues for `events` (payload and exposure metadata), each from a
/// new anonymous device numbered from `*next`.
fn queued_rows(events: &[Value], policy: &Policy, ctx: &PolicyContext, next: &mut u64) -> Vec<NewRow> {
    events
        .iter()
        .filter_map(|e| {
            let findings = vendorwall::classify::classify_record(e, vendorwall::protocol::mixpanel::roles::EVENT);
            let Verdict::Send { record: out, decisions } =
                policy.apply(e, vendorwall::protocol::mixpanel::roles::EVENT, &findings, ctx)
            else {
                return None;
            };
            let exposed = vendorwall::ledger::exposure(&findings, &decisions, &out);
            *next += 1;
            let meta = vendorwall::ledger::Exposure {
                source: "web".to_owned(),
                subject_digest: Some(format!("{:032x}", *next)),
                subject_sealed: Some(B64.encode([*next as u8; 72])),
                vendor_id: Some(format!("{:032x}", !*next)),
                key_version: 1,
                sent: exposed.sent,
                pseudonymised: exposed.pseudonymised,
                held_back: exposed.held_back,
                fields: exposed.fields,
                event_time_ms: 1_767_225_600_000,
                linked: vec![vendorwall::ledger::LinkedId {
                    digest: format!("{:032x}", u64::MAX / 2 - *next),
                    sealed: Some(B64.encode([0u8; 64])),
                }],
                ..Default::default()
            };
            Some(NewRow {
                destination: "mixpanel".to_owned(),
                kind: vendorwall::event::Kind::Track,
                payload: vendorwall::json::to_vec(&out, 1024),
                enqueued_at_ms: 1_767_225_600_000,
                meta: Some(vendorwall::ledger::codec::encode_meta(&meta)),
            })
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let caps = Caps::from(&vendorwall::config::Limits::default());
    let mut rng = Rng(0x5eed);
    let events: Vec<Value> = (0..50).map(|_| browser_event(&mut rng, 1_767_225_600.0)).collect();
    let json_bytes: usize = events.iter().map(|e| e.to_string().len()).sum();
    let batch = form_body(&events);
    let single = form_body(&events[..1]);
    let single_json = events[0].to_string().len();
    eprintln!(
        "event JSON: {} bytes avg ({}..{}); 50-event form body: {} bytes; 1-event form body: {} bytes",
        json_bytes / events.len(),
        events.iter().map(|e| e.to_string().len()).min().unwrap_or(0),
        events.iter().map(|e| e.to_string().len()).max().unwrap_or(0),
        batch.len(),
        single.len()
    );
    assert_eq!(run(&batch, &caps), run_gateway_like(&batch, &caps));

    let mut g = c.benchmark_group("batch50");
    g.throughput(Throughput::Elements(50));
    g.bench_function("decode_canonical_encode/events", |b| {
        b.iter(|| run(black_box(&batch), &caps))
    });
    g.throughput(Throughput::Bytes(batch.len() as u64));
    g.bench_function("decode_canonical_encode/wire_bytes", |b| {
        b.iter(|| run(black_box(&batch), &caps))
    });
    g.throughput(Throughput::Bytes(json_bytes as u64));
    g.bench_function("decode_canonical_encode/json_bytes", |b| {
        b.iter(|| run(black_box(&batch), &caps))
    });
    g.finish();

    let mut g = c.benchmark_group("event");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_canonical_encode/events", |b| {
        b.iter(|| run(black_box(&single), &caps))
    });
    g.throughput(Throughput::Bytes(single_json as u64));
    g.bench_function("decode_canonical_encode/json_bytes", |b| {
        b.iter(|| run(black_box(&single), &caps))
    });
    g.finish();

    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Elements(50));
    g.bench_function("decode_request/events", |b| {
        b.iter(|| decode_request(raw(black_box(&batch)), limits()).expect("body decodes"))
    });
    g.bench_function("decode_record/events", |b| {
        b.iter_batched(
            || events.clone(),
            |records| {
                for r in records {
                    black_box(decode_record(Endpoint::Track, r, &caps).expect("record is valid"));
                }
            },
            BatchSize::SmallInput,
        )
    });
    let canonical: Vec<_> = events
        .iter()
        .map(|r| {
            decode_record(Endpoint::Track, r.clone(), &caps)
                .expect("record is valid")
                .event
        })
        .collect();
    g.bench_function("encode_record+to_vec/events", |b| {
        b.iter(|| {
            for e in &canonical {
                black_box(serde_json::to_vec(&encode_record(black_box(e), PROJECT_TOKEN)).expect("record serialises"));
            }
        })
    });
    g.finish();

    // The libraries the decoder is built on, on the same bytes: what decode_request would
    // cost with no work of its own.
    let mut g = c.benchmark_group("reference");
    g.throughput(Throughput::Elements(50));
    let data = form_urlencoded::parse(&batch[..])
        .find(|(k, _)| k == "data")
        .map(|(_, v)| v.into_owned())
        .expect("body has data");
    let json = base64::engine::general_purpose::STANDARD
        .decode(&data)
        .expect("data is base64");
    g.bench_function("form_urlencoded_parse/events", |b| {
        b.iter(|| {
            form_urlencoded::parse(black_box(&batch[..]))
                .map(|(_, v)| v.into_owned())
                .collect::<Vec<_>>()
        })
    });
    g.bench_function("base64_decode/events", |b| {
        b.iter(|| {
            base64::engine::general_purpose::STANDARD
                .decode(black_box(&data))
                .expect("data is base64")
        })
    });
    g.bench_function("serde_json_from_slice_value/events", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&json)).expect("json parses"))
    });
    g.bench_function("serde_json_to_vec_value/events", |b| {
        b.iter(|| {
            for e in &events {
                black_box(serde_json::to_vec(black_box(e)).expect("record serialises"));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("gateway_like");
    g.throughput(Throughput::Elements(50));
    g.bench_function("batch50/events", |b| {
        b.iter(|| run_gateway_like(black_box(&batch), &caps))
    });
    g.finish();

    // Classification + the recommended policy, per event, on records in the vendor's shape
    // (what `Pipeline::ingest` runs for each record and destination).
    vendorwall::classify::warm_up();
    let key = vendorwall::policy::keys::PseudonymKey::from_bytes(1, &[7; 32]);
    let policy = Policy::recommended();
    let ctx = PolicyContext {
        source: "web",
        event: None,
        key: Some(&key),
    };
    let shape = vendorwall::protocol::mixpanel::roles::EVENT;
    // `Pipeline::ingest` owns each record and hands it to the policy, which rewrites it in
    // place (`apply_owned`); the copies are made in the untimed setup of `iter_batched`, one
    // batch of 50 right before it is timed, as ingest handles records right after parsing.
    let firewall = |events: Vec<Value>| firewall(events, &policy, shape, &ctx);
    let ingest_like = |body: &[u8]| ingest_like(body, &caps, &policy, &ctx);
    let mut g = c.benchmark_group("ingest_like");
    g.throughput(Throughput::Elements(50));
    g.bench_function("batch50/events", |b| b.iter(|| ingest_like(black_box(&batch))));
    g.finish();

    // The metrics one ingest request updates: counters, the destination's queue counter and
    // the route's latency histogram; and the counter a refused request updates.
    let metrics = vendorwall::telemetry::Metrics::new(&["mixpanel".to_owned()]);
    let mut g = c.benchmark_group("telemetry");
    g.throughput(Throughput::Elements(1));
    g.bench_function("accepted_request/requests", |b| {
        b.iter(|| {
            let m = black_box(&metrics);
            m.received.fetch_add(50, std::sync::atomic::Ordering::Relaxed);
            m.destination(0)
                .enqueued
                .fetch_add(50, std::sync::atomic::Ordering::Relaxed);
            m.accepted.fetch_add(50, std::sync::atomic::Ordering::Relaxed);
            m.observe_request(Vendor::Mixpanel, black_box("/track"), Duration::from_micros(700));
        })
    });
    g.bench_function("rejected_request/requests", |b| {
        b.iter(|| black_box(&metrics).reject_request(black_box("bad_json")))
    });
    g.finish();

    let mut g = c.benchmark_group("firewall");
    g.throughput(Throughput::Elements(50));
    g.bench_function("classify/events", |b| {
        b.iter(|| {
            events
                .iter()
                .map(|e| vendorwall::classify::classify_record(black_box(e), shape).len())
                .sum::<usize>()
        })
    });
    g.bench_function("classify+recommended_policy/events", |b| {
        b.iter_batched(
            || events.clone(),
            |events| firewall(black_box(events)),
            BatchSize::PerIteration,
        )
    });
    g.throughput(Throughput::Bytes(json_bytes as u64));
    g.bench_function("classify+recommended_policy/json_bytes", |b| {
        b.iter_batched(
            || events.clone(),
            |events| firewall(black_box(events)),
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // In the temporary directory (`TMPDIR`; it must be a real disk, not tmpfs, for the fsync
    // to be part of the cost, as it is here).
    let dir = std::env::temp_dir().join(format!("vw-bench-store-{}", std::process::id()));
    let master = vendorwall::policy::keys::MasterKey::from_bytes(&[7; 32]);
    let mut next = 0u64;
    // Without and with the ledger witness: a keyed chain either way; the witness adds a
    // line and an fsync of its file per `complete`.
    for witnessed in [false, true] {
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = SqliteStore::open_keyed(&dir, &master).expect("store opens");
        let witness = dir.with_extension("witness");
        let _ = std::fs::remove_file(&witness);
        if witnessed {
            let keys = store.keys().expect("a keyed store");
            store = store.with_witness(vendorwall::ledger::witness::Witness::new(
                witness.clone(),
                keys.mac_key(vendorwall::ledger::WITNESS_PURPOSE),
            ));
        }
        // 2000 rows, 40 batches of the 50 events, each from new devices.
        let mut rows_2000 = || -> Vec<NewRow> {
            (0..40)
                .flat_map(|_| queued_rows(&events, &policy, &ctx, &mut next))
                .collect()
        };
        let mut g = c.benchmark_group("store");
        g.throughput(Throughput::Elements(2000));
        let name = if witnessed {
            "complete_2000_witnessed"
        } else {
            "complete_2000"
        };
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let rows = rows_2000();
                    store.append(&rows).expect("append");
                    store.lease("mixpanel", rows.len()).expect("lease")
                },
                |leased| {
                    store
                        .complete("mixpanel", black_box(&leased), &[], 1_767_225_600_000)
                        .expect("complete")
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&witness);
    }

    // What delivery compresses for `/import`: the JSON array of 2000 queued payloads.
    let rows: Vec<NewRow> = (0..40)
        .flat_map(|_| queued_rows(&events, &policy, &ctx, &mut next))
        .collect();
    let payloads: Vec<&[u8]> = rows.iter().map(|r| r.payload.as_slice()).collect();
    let json = vendorwall::protocol::mixpanel::encode::json_array(&payloads);
    let mut g = c.benchmark_group("delivery");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function("gzip_2000", |b| {
        b.iter(|| vendorwall::protocol::wire::gzip(black_box(&json)))
    });
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("gzip_2000/json_bytes", |b| {
        b.iter(|| vendorwall::protocol::wire::gzip(black_box(&json)))
    });
    g.finish();
}

criterion_group! {
    name = pipeline;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches
}
criterion_main!(pipeline);
