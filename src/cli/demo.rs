//! `vendorwall demo`: the whole story in one command, offline.
//!
//! Starts two built-in vendor emulators (Mixpanel and Amplitude) and a gateway on loopback
//! (any free ports), sends a deterministic sample of what an API platform's console sends its
//! analytics vendor — through the Mixpanel SDK's protocol, fanned out to both vendors, each
//! through the recommended policy with its own pseudonym key — waits until both vendors
//! acknowledged everything, then shows what the app sent against what Mixpanel received, the
//! same person as each vendor knows them, the exposure map, and a simulated breach at Mixpanel
//! with its incident report and exports.
//!
//! Everything lives in a fresh directory (its own store and master key), removed at the end
//! unless `--keep DIR` is given. All people in the sample are fictional, at reserved example
//! domains.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::emulator::{Emulator, EmulatorConfig, ReceivedRecord};
use crate::incident::report::Facts;
use crate::incident::time::format_utc;
use crate::incident::{Desk, Open, Scope};
use crate::protocol::Vendor;
use crate::store::now_ms;

/// What the app puts in its SDK instead of the vendor's token (public in browsers anyway).
const APP_TOKEN: &str = "demo-console-token";
const DESTINATION: &str = "mixpanel";
/// The second vendor the same traffic fans out to.
const SECOND: &str = "amplitude";
const SOURCE: &str = "console";
const SECRET_VAR: &str = "VENDORWALL_DEMO_MP_SECRET";
const PEOPLE: usize = 200;
const BATCH: usize = 50;
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(40);

/// Runs the demo. With `keep`, the store, configuration and exports stay in that directory.
pub fn run(keep: Option<&Path>) -> Result<()> {
    let started = Instant::now();
    let dir = WorkDir::new(keep)?;
    let rt = super::runtime()?;
    let traffic = sample();
    let outcome = rt.block_on(exchange(dir.path(), &traffic))?;
    let cfg = &outcome.config;

    println!("== What the app sent vs what the vendor received ==");
    println!("(vendorwall's recommended policy; the vendor is the built-in Mixpanel emulator)");
    for (title, sent) in showcase(&traffic) {
        let Some(got) = find_received(&outcome.received, &traffic, sent) else {
            bail!("the vendor never received the sample record `{title}`");
        };
        println!();
        print!("{}", side_by_side(title, sent, got));
    }

    print!("{}", two_vendors(&traffic, &outcome));

    // Keyed: the demo incident's writes extend the incident chain under the master key.
    let store = super::open_keyed_store(cfg)?;
    let now = now_ms();
    let figures = crate::ledger::query::figures(store.as_ref(), DESTINATION, 0, now)?;
    println!();
    println!("== Exposure map: what {DESTINATION} holds, per category (from the ledger) ==");
    println!(
        "{} people, {} records delivered; no raw values are stored in the ledger",
        figures.people, figures.records
    );
    println!("  {:<36} {:>7} {:>8}  sent as", "CATEGORY", "PEOPLE", "RECORDS");
    for (c, e) in &figures.categories {
        println!(
            "  {c:<36} {:>7} {:>8}  {}",
            e.people,
            e.records,
            if e.pseudonymised_only {
                "keyed pseudonym only"
            } else {
                "as sent (after the policy)"
            }
        );
    }
    if !figures.held_back.is_empty() {
        println!("  held back by the policy (came in, never sent):");
        for (c, n) in &figures.held_back {
            println!("    {c:<34} {n:>8} records");
        }
    }

    // The data is minutes old, so Mixpanel's real dates (November 2025) would expose nothing:
    // the simulated breach starts an hour before the demo began and ends now.
    let breach_from = outcome.started_at_ms - 3_600_000;
    let desk = Desk {
        store: store.as_ref(),
        config: cfg,
    };
    let inc = desk
        .open(
            Open {
                destination: DESTINATION.to_owned(),
                title: Some("Simulated breach at Mixpanel (demo)".to_owned()),
                scope: Scope {
                    breach_from_ms: breach_from,
                    breach_to_ms: now,
                    data_from_ms: None,
                    data_to_ms: None,
                    facts: Facts {
                        vendor_detected_at_ms: Some(now),
                        informed_at_ms: Some(now),
                        ..Facts::default()
                    },
                },
            },
            now,
        )
        .context("opening the demo incident")?;
    println!();
    println!("== Incident: the vendor was breached ==");
    println!(
        "Breach window: from one hour before this demo started ({}) to now ({}).",
        format_utc(breach_from),
        format_utc(now)
    );
    println!("The sample traffic is minutes old, so the real Mixpanel dates would cover none of it;");
    println!("the vendor keeps data 365 days, so everything delivered before the window's end counts.");
    println!();
    print!("{}", super::incident::summary(&inc));

    let keys = super::store_keys(cfg, store.as_ref())?;
    let out = dir.path().join(format!("incident-{}", inc.id));
    let x = desk
        .export(inc.id, &out, &keys, now_ms())
        .with_context(|| format!("exporting incident {}", inc.id))?;
    println!();
    println!(
        "== Exports: {} people in the notification list, {} vendor ids for deletion ==",
        x.people, x.vendor_ids
    );
    for f in &x.files {
        let len = std::fs::metadata(out.join(f)).map(|m| m.len()).unwrap_or(0);
        println!("  {f:<30} {len:>8} bytes");
    }
    for (name, lines) in [("report.md", 14), ("user-notice.md", 12)] {
        let text = std::fs::read_to_string(out.join(name)).with_context(|| format!("reading {name}"))?;
        println!();
        println!("--- {name} (first {lines} lines) ---");
        for l in text.lines().take(lines) {
            println!("  {l}");
        }
    }
    println!();
    match keep {
        Some(_) => {
            let config = dir.path().join("vendorwall.toml");
            println!("Kept in {}:", dir.path().display());
            println!("  exports            {}", out.display());
            println!("  store, master key  {}", cfg.store.path.display());
            println!("  app-sent.jsonl, vendor-received.jsonl, {SECOND}-received.jsonl: the traffic on every side");
            println!(
                "  try: vendorwall incident show {} --config {}",
                inc.id,
                config.display()
            );
        }
        None => println!("(temporary files removed; run with --keep DIR to keep the store and the exports)"),
    }
    println!("demo finished in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The demo's directory: removed on drop unless the user asked to keep it.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    fn new(keep: Option<&Path>) -> Result<WorkDir> {
        let (path, keep) = match keep {
            Some(p) => {
                if p.exists() && std::fs::read_dir(p).map(|mut d| d.next().is_some()).unwrap_or(true) {
                    bail!(
                        "--keep {}: the directory exists and is not empty; give a new or empty one",
                        p.display()
                    );
                }
                (p.to_owned(), true)
            }
            None => (
                std::env::temp_dir().join(format!("vendorwall-demo-{}-{}", std::process::id(), now_ms())),
                false,
            ),
        };
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        // An absolute path, so the kept config's hint works from anywhere.
        let path = path.canonicalize().unwrap_or(path);
        Ok(WorkDir { path, keep })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn random_hex(n: usize) -> Result<String> {
    let mut b = vec![0u8; n];
    crate::policy::keys::fill_random(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The demo's configuration: one source, two destinations at the emulators (Mixpanel and
/// Amplitude), the recommended policy for both.
fn config_text(vendor_url: &str, project_token: &str, second_url: &str, second_key: &str) -> String {
    format!(
        r#"# Written by `vendorwall demo`: a gateway in front of the built-in Mixpanel and Amplitude emulators.
version = 1

[server]
listen = "127.0.0.1:0"

[store]
path = "store"

[keys]
# The demo's own master key, beside this file (never one from your environment).
master_key_env = "VENDORWALL_DEMO_MASTER_KEY"
master_key_file = "master.key"

[incident]
organisation = "Example API Platform (demo)"
contact_email = "privacy@example.com"
website = "https://example.com"

[[sources]]
name = "{SOURCE}"
protocol = "mixpanel"
tokens = ["{APP_TOKEN}"]

[[destinations]]
name = "{DESTINATION}"
type = "mixpanel"
endpoint = "{vendor_url}"
project_token = "{project_token}"
api_secret = "${{{SECRET_VAR}}}"
sources = ["{SOURCE}"]
vendor_retention_days = 365
retry_initial_backoff_ms = 50
retry_max_backoff_secs = 1

[[destinations]]
name = "{SECOND}"
type = "amplitude"
endpoint = "{second_url}"
api_key = "{second_key}"
sources = ["{SOURCE}"]
vendor_retention_days = 365
retry_initial_backoff_ms = 50
retry_max_backoff_secs = 1
"#
    )
}

struct Outcome {
    config: crate::config::Config,
    received: Vec<ReceivedRecord>,
    /// What the second vendor received.
    second: Vec<ReceivedRecord>,
    started_at_ms: i64,
}

/// Starts the emulator and the gateway, sends the traffic, waits until the vendor has all of
/// it and the ledger recorded it, shuts both down.
async fn exchange(dir: &Path, traffic: &Traffic) -> Result<Outcome> {
    let started_at_ms = now_ms();
    let project_token = random_hex(16)?;
    let api_secret = random_hex(16)?;
    let emulator =
        Emulator::start(EmulatorConfig::new(Vendor::Mixpanel, project_token.clone()).with_secret(api_secret.clone()))
            .await
            .context("starting the Mixpanel emulator")?;
    let second_key = random_hex(16)?;
    let second = Emulator::start(EmulatorConfig::new(Vendor::Amplitude, second_key.clone()))
        .await
        .context("starting the Amplitude emulator")?;

    let text = config_text(&emulator.base_url(), &project_token, &second.base_url(), &second_key);
    std::fs::write(dir.join("vendorwall.toml"), &text).context("writing the demo configuration")?;
    let key = base64::engine::general_purpose::STANDARD.encode(hex_bytes(&random_hex(32)?));
    write_private(&dir.join("master.key"), key.as_bytes()).context("writing the demo master key")?;
    let secret = api_secret.clone();
    let cfg = crate::config::parse(&text, dir, &move |k| (k == SECRET_VAR).then(|| secret.clone()))?;

    let gateway = crate::server::Gateway::start(cfg.clone())
        .await
        .context("starting the gateway")?;
    let base = gateway.base_url();
    println!("vendorwall demo");
    println!("  gateway             {base}   (source `{SOURCE}`, Mixpanel protocol)");
    println!(
        "  vendor (emulated)   {}   (destination `{DESTINATION}`, Mixpanel, recommended policy)",
        emulator.base_url()
    );
    println!(
        "  vendor (emulated)   {}   (destination `{SECOND}`, Amplitude, recommended policy)",
        second.base_url()
    );
    println!(
        "  sending             {} events and {} profile updates from {PEOPLE} fictional people",
        traffic.events.len(),
        traffic.profiles.len()
    );

    let sent = send(&base, traffic).await;
    let result = match sent {
        Ok(()) => match wait_delivered(&emulator, &cfg, DESTINATION, traffic.len()).await {
            Ok(()) => wait_delivered(&second, &cfg, SECOND, traffic.len()).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    gateway.shutdown().await;
    let received = emulator.received();
    let second_received = second.received();
    emulator.shutdown().await;
    second.shutdown().await;
    result?;
    println!(
        "  delivered           {} records to each vendor, acknowledged and written to the ledger",
        received.len()
    );
    println!();
    if dir.exists() {
        write_jsonl(
            &dir.join("app-sent.jsonl"),
            traffic.events.iter().chain(&traffic.profiles),
        )?;
        write_jsonl(&dir.join("vendor-received.jsonl"), received.iter().map(|r| &r.record))?;
        write_jsonl(
            &dir.join(format!("{SECOND}-received.jsonl")),
            second_received.iter().map(|r| &r.record),
        )?;
    }
    Ok(Outcome {
        config: cfg,
        received,
        second: second_received,
        started_at_ms,
    })
}

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len() / 2)
        .filter_map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok())
        .collect()
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(bytes)
}

fn write_jsonl<'a>(path: &Path, records: impl Iterator<Item = &'a Value>) -> Result<()> {
    let mut s = String::new();
    for r in records {
        s.push_str(&r.to_string());
        s.push('\n');
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

/// Posts the traffic the way mixpanel-browser does: base64 JSON batches in a form body.
async fn send(base: &str, traffic: &Traffic) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .context("building the HTTP client")?;
    let batches = traffic
        .events
        .chunks(BATCH)
        .map(|b| ("track", b))
        .chain(traffic.profiles.chunks(BATCH).map(|b| ("engage", b)));
    for (endpoint, batch) in batches {
        let data = base64::engine::general_purpose::STANDARD.encode(Value::Array(batch.to_vec()).to_string());
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("data", &data)
            .finish();
        let url = format!("{base}/{endpoint}/?verbose=1&ip=0&_={}", now_ms());
        let r = client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .with_context(|| format!("sending to the gateway's /{endpoint}"))?;
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        if !status.is_success() || !text.contains("\"status\":1") {
            bail!("the gateway refused a /{endpoint} batch: HTTP {status} {text}");
        }
    }
    Ok(())
}

async fn wait_delivered(emulator: &Emulator, cfg: &crate::config::Config, destination: &str, n: usize) -> Result<()> {
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    if !emulator.wait_for_records(n, DELIVERY_TIMEOUT).await {
        bail!(
            "{destination} received {} of {n} records within {} s",
            emulator.received().len(),
            DELIVERY_TIMEOUT.as_secs()
        );
    }
    // The ledger is written when the acknowledgement comes back, with the outbox emptied.
    let store = super::open_store(cfg)?;
    loop {
        let depth = store.queue_stats(destination)?.depth;
        if depth == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{depth} records still queued for {destination} after {} s",
                DELIVERY_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// The sample traffic

struct Traffic {
    events: Vec<Value>,
    profiles: Vec<Value>,
}

impl Traffic {
    fn len(&self) -> usize {
        self.events.len() + self.profiles.len()
    }
}

const FIRST: [&str; 20] = [
    "Ada", "Basil", "Cora", "Dex", "Elio", "Fern", "Gus", "Hana", "Ivo", "Juno", "Kai", "Lila", "Milo", "Nia", "Otto",
    "Pia", "Quin", "Rhea", "Soren", "Tova",
];
const LAST: [&str; 20] = [
    "Quillfeather",
    "Marbleton",
    "Ashgrove",
    "Thistlewood",
    "Fennimore",
    "Brackenridge",
    "Wrenfield",
    "Halloway",
    "Oakhurst",
    "Pebblestone",
    "Larkspur",
    "Mossbank",
    "Tumbleweed",
    "Kettleby",
    "Fairwind",
    "Hollowell",
    "Sparrowhawk",
    "Birchwood",
    "Cloverdale",
    "Stonebridge",
];
const DOMAINS: [&str; 3] = ["example.com", "example.org", "example.net"];
const PLACES: [(&str, &str, &str); 10] = [
    ("Lisbon", "Lisbon", "PT"),
    ("Berlin", "Berlin", "DE"),
    ("Austin", "Texas", "US"),
    ("Toronto", "Ontario", "CA"),
    ("Lyon", "Auvergne-Rhone-Alpes", "FR"),
    ("Bengaluru", "Karnataka", "IN"),
    ("Melbourne", "Victoria", "AU"),
    ("Denver", "Colorado", "US"),
    ("Dublin", "Leinster", "IE"),
    ("Osaka", "Osaka", "JP"),
];
const BROWSERS: [(&str, f64, &str); 5] = [
    ("Chrome", 131.0, "Mac OS X"),
    ("Chrome", 130.0, "Windows"),
    ("Firefox", 133.0, "Linux"),
    ("Safari", 18.1, "Mac OS X"),
    ("Microsoft Edge", 131.0, "Windows"),
];
const CONSOLE: &str = "https://console.example.dev";

/// A seeded generator, so every run sends the same people.
struct Rng(fastrand::Rng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0.usize(..n)
    }
    fn hex(&mut self, n: usize) -> String {
        let mut s = String::new();
        while s.len() < n {
            let _ = write!(s, "{:016x}", self.0.u64(..));
        }
        s.truncate(n);
        s
    }
    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!("{}-{}-4{}-a{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..])
    }
}

struct Person {
    first: &'static str,
    last: &'static str,
    email: String,
    user_id: String,
    /// Older console builds identify people by their email address.
    distinct_id: String,
    device_id: String,
    org_id: String,
    place: (&'static str, &'static str, &'static str),
    browser: (&'static str, f64, &'static str),
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// ~200 people of a developer console: sign-up page views, identify, dashboard views with
/// emails and tokens in the query string, API keys created, teammates invited, profiles.
fn sample() -> Traffic {
    let mut rng = Rng(fastrand::Rng::with_seed(0x7665_6e64_6f72_7761));
    let orgs: Vec<String> = (0..40).map(|_| format!("org-{}", rng.hex(8))).collect();
    let people: Vec<Person> = (0..PEOPLE)
        .map(|i| {
            let (first, last) = (FIRST[i % 20], LAST[(i / 20 + 3 * (i % 20)) % 20]);
            let email = format!(
                "{}.{}@{}",
                first.to_lowercase(),
                last.to_lowercase(),
                DOMAINS[i % DOMAINS.len()]
            );
            let user_id = format!("user-{}", rng.hex(10));
            Person {
                first,
                last,
                distinct_id: if i % 4 == 0 { email.clone() } else { user_id.clone() },
                email,
                user_id,
                device_id: rng.uuid(),
                org_id: orgs[rng.below(orgs.len())].clone(),
                place: PLACES[rng.below(PLACES.len())],
                browser: BROWSERS[rng.below(BROWSERS.len())],
            }
        })
        .collect();

    // Spread over the last 40 minutes, oldest first.
    let start_s = (now_ms() - 40 * 60_000) as f64 / 1000.0;
    let step = 40.0 * 60.0 / (PEOPLE as f64 * 7.0);
    let mut t = start_s;
    let mut events = Vec::new();
    let mut profiles = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let anon = format!("$device:{}", p.device_id);
        let mut ev = |name: &str, distinct: &str, identified: bool, extra: Value, rng: &mut Rng| {
            t += step;
            let mut props = Map::new();
            props.insert("token".into(), APP_TOKEN.into());
            props.insert("time".into(), json!((t * 1000.0).round() / 1000.0));
            props.insert("distinct_id".into(), distinct.into());
            props.insert("$device_id".into(), p.device_id.clone().into());
            if identified {
                props.insert("$user_id".into(), p.distinct_id.clone().into());
            }
            props.insert("$insert_id".into(), rng.hex(16).into());
            props.insert("$browser".into(), p.browser.0.into());
            props.insert("$browser_version".into(), json!(p.browser.1));
            props.insert("$os".into(), p.browser.2.into());
            props.insert("$screen_width".into(), json!([1440, 1920, 2560][i % 3]));
            props.insert("$screen_height".into(), json!([900, 1080, 1440][i % 3]));
            props.insert("$city".into(), p.place.0.into());
            props.insert("$region".into(), p.place.1.into());
            props.insert("mp_country_code".into(), p.place.2.into());
            props.insert("mp_lib".into(), "web".into());
            props.insert("$lib_version".into(), "2.60.0".into());
            if let Value::Object(extra) = extra {
                props.extend(extra);
            }
            events.push(json!({"event": name, "properties": props}));
        };
        let referrer = match i % 3 {
            0 => "https://www.example.org/blog/rate-limits-explained?utm_source=newsletter&utm_medium=email".to_owned(),
            1 => format!("https://mail.example.net/inbox/read?msg=8812&to={}", enc(&p.email)),
            _ => "https://search.example.com/?q=api+platform+pricing".to_owned(),
        };
        ev(
            "$mp_web_page_view",
            &anon,
            false,
            json!({
                "$current_url": format!("{CONSOLE}/signup?invite={}&email={}", rng.hex(20), enc(&p.email)),
                "$referrer": referrer,
                "$initial_referring_domain": referrer.split('/').nth(2).unwrap_or(""),
                "current_page_title": "Sign up",
            }),
            &mut rng,
        );
        ev(
            "$identify",
            &p.distinct_id,
            true,
            json!({"$anon_distinct_id": anon}),
            &mut rng,
        );
        ev(
            "$mp_web_page_view",
            &p.distinct_id,
            true,
            json!({
                "$current_url": format!("{CONSOLE}/orgs/{}/dashboard?session={}", p.org_id, rng.hex(32)),
                "$referrer": format!("{CONSOLE}/login?email={}&next=%2Fdashboard", enc(&p.email)),
                "current_page_title": "Dashboard",
                "org_id": p.org_id,
            }),
            &mut rng,
        );
        ev(
            "API Key Created",
            &p.distinct_id,
            true,
            json!({
                "$current_url": format!("{CONSOLE}/orgs/{}/api-keys", p.org_id),
                "org_id": p.org_id,
                "key_name": (["ci-deploy", "production", "staging", "local-dev"][i % 4]),
                "key_scopes": (["read", "read,write", "admin"][i % 3]),
                "environment": (["live", "test"][i % 2]),
            }),
            &mut rng,
        );
        if i % 3 == 0 {
            let mate = &people[(i + 7) % PEOPLE];
            ev(
                "Teammate Invited",
                &p.distinct_id,
                true,
                json!({
                    "$current_url": format!("{CONSOLE}/orgs/{}/members", p.org_id),
                    "org_id": p.org_id,
                    "invitee_email": mate.email,
                    "role": "developer",
                }),
                &mut rng,
            );
        }
        if i % 2 == 0 {
            ev(
                "$mp_web_page_view",
                &p.distinct_id,
                true,
                json!({
                    "$current_url": format!("{CONSOLE}/docs/webhooks?ref=dashboard&user={}", enc(&p.email)),
                    "$referrer": format!("{CONSOLE}/orgs/{}/dashboard", p.org_id),
                    "current_page_title": "Webhooks",
                }),
                &mut rng,
            );
        }
        profiles.push(json!({
            "$token": APP_TOKEN,
            "$distinct_id": p.distinct_id,
            "$set": {
                "$email": p.email,
                "$name": format!("{} {}", p.first, p.last),
                "$first_name": p.first,
                "$last_name": p.last,
                "org_id": p.org_id,
                "plan": (["free", "pro", "team", "enterprise"][i % 4]),
                "role": (["owner", "developer", "developer", "billing"][i % 4]),
                "$city": p.place.0,
                "$region": p.place.1,
                "$country_code": p.place.2,
            },
        }));
        if i % 4 != 0 {
            // Identified by the user id; the profile carries it too.
            if let Some(set) = profiles
                .last_mut()
                .and_then(|v| v.get_mut("$set"))
                .and_then(Value::as_object_mut)
            {
                set.insert("user_id".into(), p.user_id.clone().into());
            }
        }
    }
    Traffic { events, profiles }
}

// ---------------------------------------------------------------------------------------
// Side by side

/// The records shown side by side: a legacy email-identified page view, an API key event,
/// and a profile update.
fn showcase(t: &Traffic) -> Vec<(&'static str, &Value)> {
    let mut out = Vec::new();
    // Person 0 is identified by email: its dashboard view (third event).
    if let Some(e) = t.events.get(2) {
        out.push(("page view (person identified by email)", e));
    }
    if let Some(e) = t
        .events
        .iter()
        .find(|e| e["event"] == "Teammate Invited" && e["properties"]["distinct_id"].as_str() != Some(""))
    {
        out.push(("Teammate Invited", e));
    }
    if let Some(p) = t.profiles.get(1) {
        out.push(("profile update (/engage $set)", p));
    }
    out
}

/// The vendor's copy of a record the app sent: events by `$insert_id` (kept byte for byte),
/// profiles by the pseudonym the same person's events got.
fn find_received<'a>(received: &'a [ReceivedRecord], traffic: &Traffic, sent: &Value) -> Option<&'a Value> {
    let by_insert_id = |id: &str| {
        received
            .iter()
            .map(|r| &r.record)
            .find(|r| r.pointer("/properties/$insert_id").and_then(Value::as_str) == Some(id))
    };
    if let Some(id) = sent.pointer("/properties/$insert_id").and_then(Value::as_str) {
        return by_insert_id(id);
    }
    let distinct = sent.get("$distinct_id")?.as_str()?;
    let event = traffic
        .events
        .iter()
        .find(|e| e.pointer("/properties/distinct_id").and_then(Value::as_str) == Some(distinct))?;
    let pseudonym = by_insert_id(event.pointer("/properties/$insert_id")?.as_str()?)?
        .pointer("/properties/distinct_id")?
        .as_str()?;
    received
        .iter()
        .map(|r| &r.record)
        .find(|r| r.get("$distinct_id").and_then(Value::as_str) == Some(pseudonym))
}

/// One person as each vendor knows them: the same app-side ids arrive at Mixpanel and at
/// Amplitude as two unrelated pseudonyms (each destination has its own key), so the two
/// vendors' data cannot be joined on them.
fn two_vendors(traffic: &Traffic, outcome: &Outcome) -> String {
    let mut s = String::new();
    let _ = writeln!(s);
    let _ = writeln!(s, "== One person, two vendors: a pseudonym per vendor ==");
    let mut shown: Vec<&str> = Vec::new();
    for e in traffic.events.iter().filter(|e| e["event"] != "$identify") {
        if shown.len() == 3 {
            break;
        }
        let (Some(id), Some(app)) = (
            e.pointer("/properties/$insert_id").and_then(Value::as_str),
            e.pointer("/properties/distinct_id").and_then(Value::as_str),
        ) else {
            continue;
        };
        if app.is_empty() || shown.contains(&app) {
            continue;
        }
        let at_mixpanel = outcome
            .received
            .iter()
            .find(|r| r.insert_id() == Some(id))
            .and_then(|r| r.record.pointer("/properties/distinct_id"))
            .and_then(Value::as_str);
        let at_second = outcome
            .second
            .iter()
            .find(|r| r.insert_id() == Some(id))
            .and_then(|r| r.record.get("user_id").or_else(|| r.record.get("device_id")))
            .and_then(Value::as_str);
        let (Some(m), Some(a)) = (at_mixpanel, at_second) else {
            continue;
        };
        if shown.is_empty() {
            let _ = writeln!(s, "  {:<36} {:<34} {SECOND}", "APP SENT (distinct_id)", DESTINATION);
        }
        let _ = writeln!(s, "  {:<36} {m:<34} {a}", shorten(app, 36));
        shown.push(app);
    }
    if shown.is_empty() {
        let _ = writeln!(s, "  (no event reached both vendors)");
    }
    s
}

fn shorten(v: &str, max: usize) -> String {
    if v.chars().count() <= max {
        v.to_owned()
    } else {
        format!("{}…", v.chars().take(max - 1).collect::<String>())
    }
}

fn flatten(v: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(v, &key, out);
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

/// Fields that only carry transport details (or the vendor's token): not shown.
const QUIET: [&str; 9] = [
    "properties.token",
    "$token",
    "properties.time",
    "properties.$insert_id",
    "properties.mp_lib",
    "properties.$lib_version",
    "properties.$screen_height",
    "properties.$screen_width",
    "properties.$browser_version",
];

fn side_by_side(title: &str, sent: &Value, got: &Value) -> String {
    let mut a = Vec::new();
    flatten(sent, "", &mut a);
    let mut b = Vec::new();
    flatten(got, "", &mut b);
    let mut s = String::new();
    let _ = writeln!(s, "-- {title}");
    let _ = writeln!(s, "  {:<28} {:<46} VENDOR RECEIVED", "FIELD", "APP SENT");
    let mut rows: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for (k, v) in &a {
        let theirs = b.iter().find(|(bk, _)| bk == k).map(|(_, v)| v.clone());
        rows.push((k.clone(), Some(v.clone()), theirs));
    }
    for (k, v) in &b {
        if !a.iter().any(|(ak, _)| ak == k) {
            rows.push((k.clone(), None, Some(v.clone())));
        }
    }
    for (k, mine, theirs) in rows {
        if QUIET.contains(&k.as_str()) {
            continue;
        }
        let field = k.strip_prefix("properties.").unwrap_or(&k);
        let theirs = match (&mine, theirs) {
            (_, None) => "— dropped".to_owned(),
            (Some(m), Some(t)) if *m == t => "= kept".to_owned(),
            (_, Some(t)) => clip(&t, 60),
        };
        let _ = writeln!(
            s,
            "  {:<28} {:<46} {}",
            clip(field, 28),
            clip(mine.as_deref().unwrap_or("—"), 46),
            theirs
        );
    }
    s
}
