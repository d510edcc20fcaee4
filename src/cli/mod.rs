//! The `vendorwall` command line.
//!
//! Every subcommand that reads the configuration or the store takes `--config FILE`
//! (default `./vendorwall.toml`). Output meant for people goes to stdout; logs to stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod classify;
mod demo;
mod incident;
mod policy;

use crate::config::{self, Config};
use crate::protocol::Vendor;
use crate::store::sqlite::SqliteStore;
use crate::store::{DestinationState, Store, now_ms};

#[derive(Parser)]
#[command(
    name = "vendorwall",
    version,
    about = "A data firewall between your apps and your analytics vendors"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ConfigArg {
    /// The configuration file.
    #[arg(long, default_value = "vendorwall.toml")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Try it offline: sample traffic through the recommended policy to an emulated Mixpanel,
    /// the exposure map, then a simulated breach at the vendor and its incident report.
    Demo {
        /// Keep the store, configuration and exports in this new directory (default: a
        /// temporary directory, removed at the end).
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Run the gateway: ingest, outbox, delivery. Needs the master key.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Start on a store that is behind its ledger witness (restored from an older copy),
        /// making this copy's chain heads the witnessed ones.
        #[arg(long)]
        accept_rollback: bool,
    },
    /// Validate a configuration file and report every problem in it.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Inspect destinations and flip their kill switch.
    Destination {
        #[command(subcommand)]
        action: DestinationAction,
    },
    /// Inspect, retry and purge dead letters.
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
    },
    /// Classify every field of JSON Lines records in a vendor's format; one JSON line per finding.
    Classify {
        /// Records file (default: standard input).
        #[arg(long)]
        input: Option<PathBuf>,
        /// The vendor whose record format the lines are in.
        #[arg(long, default_value = "mixpanel", value_parser = parse_vendor)]
        protocol: Vendor,
        /// Also apply this configuration's `[[classify.detectors]]`.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Explain, for every detector that could apply, whether it fired and why not:
        /// for `--value` (optionally under `--key`), or every leaf of `--record`.
        #[arg(long)]
        explain: bool,
        /// The value to explain (a string).
        #[arg(long, requires = "explain", conflicts_with = "record")]
        value: Option<String>,
        /// The property key the value sits under.
        #[arg(long, requires = "value")]
        key: Option<String>,
        /// A whole record (JSON) to explain leaf by leaf, in `--protocol`'s format.
        #[arg(long, requires = "explain")]
        record: Option<String>,
        /// Explanations as JSON instead of text.
        #[arg(long, requires = "explain")]
        json: bool,
    },
    /// Review a destination's policy on sample events.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Per-destination pseudonym keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The exposure ledger: verify its hash chains, apply retention, list entries.
    Ledger {
        #[command(subcommand)]
        action: LedgerAction,
    },
    /// Incidents: a vendor was breached between T1 and T2 — who is affected, what do we owe whom by when.
    Incident {
        #[command(subcommand)]
        action: incident::IncidentAction,
    },
    /// The audit log: who changed what and who exported identities, from the admin API or the CLI.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Run a built-in vendor ingestion emulator (for trials and benchmarks).
    Emulate {
        /// mixpanel, segment, posthog or amplitude.
        #[arg(long, default_value = "mixpanel", value_parser = parse_vendor)]
        vendor: Vendor,
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
        /// The project key the emulated vendor expects (Mixpanel project token, Segment write
        /// key, PostHog or Amplitude API key).
        #[arg(long, alias = "project-token")]
        key: String,
        /// The vendor's secret (Mixpanel API secret, Amplitude secret key), read from this
        /// environment variable.
        #[arg(long, alias = "api-secret-env")]
        secret_env: Option<String>,
        /// Flap: answer normally for UP seconds, then fail for DOWN seconds, for ever, cycling
        /// through the faults (unreachable, 500, 429 with Retry-After, 503, 2 s answers).
        /// `UP:DOWN`, e.g. `60:30`. For drills.
        #[arg(long, value_name = "UP:DOWN", value_parser = parse_flap)]
        flap: Option<crate::emulator::Flap>,
    },
}

#[derive(Subcommand)]
enum DestinationAction {
    /// Each destination's state, queue depth, oldest record and dead letters.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Stop delivering to a destination; records keep queueing durably.
    Suspend {
        name: String,
        /// Discard new records for this destination instead of queueing them (counted).
        #[arg(long)]
        drop: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Deliver again.
    Resume {
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Entries, oldest first: time, actor, action, target.
    List {
        /// JSON lines with fields `time`, `actor`, `action`, `target` (and `seq`).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Check every entry's MAC and link; exit 1 naming each line that was edited, removed or reordered.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Per event: what the vendor would receive, and which rule and finding decided it.
    Explain {
        #[arg(long)]
        destination: String,
        /// Events as JSON Lines (default: standard input).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Evaluate as if the events came from this source (default: the first feeding it).
        #[arg(long)]
        source: Option<String>,
        /// One JSON object per event instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Run the configuration's [[policy_tests]] against their sample events.
    Test {
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand)]
enum LedgerAction {
    /// Recompute every destination's keyed chain and compare it with the witness; exit 1 if
    /// anything was edited, deleted, reordered or rolled back. Needs the master key.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Delete entries delivered before DATE (YYYY-MM-DD or RFC 3339, UTC); the chain stays verifiable.
    Prune {
        #[arg(long)]
        before: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Entries as JSON lines (categories, field pointers, digests; never raw values).
    List {
        #[arg(long)]
        destination: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Make a new key version current: later pseudonyms cannot be linked to earlier ones.
    Rotate {
        destination: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Key versions per destination.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Move the store to a new master key. By default the store's root key is re-wrapped
    /// under the new key in one short transaction while `serve` keeps running; restart it
    /// with the new key whenever convenient. With `--reseal` (serve stopped) a fresh root key
    /// replaces the old one: every pseudonym key and sealed id is sealed again and the ledger,
    /// audit log and witness re-keyed. Needs the current master key.
    RotateMaster {
        /// The new key: a file (32 bytes, raw or base64; mode 0600; outside the store).
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "new_key_env",
            required_unless_present = "new_key_env"
        )]
        new_key_file: Option<PathBuf>,
        /// The new key: the environment variable holding it (32 bytes, base64).
        #[arg(long, value_name = "VAR")]
        new_key_env: Option<String>,
        /// Also draw a fresh root key and re-seal and re-key everything under it (needs
        /// `serve` stopped): data sealed from now on no longer opens with the root key in old
        /// backups. Converts a store created before the root key existed.
        #[arg(long)]
        reseal: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Subcommand)]
enum OutboxAction {
    /// Dead letters: records a vendor refused for good.
    List {
        #[arg(long)]
        destination: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Queue dead letters for delivery again.
    Retry {
        #[arg(long)]
        destination: Option<String>,
        /// Only these dead letters (default: all, or all of --destination).
        #[arg(long = "id")]
        ids: Vec<i64>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Delete dead letters.
    Purge {
        #[arg(long)]
        destination: Option<String>,
        #[arg(long = "id")]
        ids: Vec<i64>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// Parses the command line, runs the command, maps the result to an exit code
/// (0 success, 1 failure, 2 usage or configuration error).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    crate::telemetry::init_logging();
    // Before any command opens the store or writes a file: nothing vendorwall writes
    // (store, keys, exports) is readable by other users.
    crate::store::files::private_umask();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            if let Some(errors) = e.downcast_ref::<config::ConfigErrors>() {
                eprint!("{errors}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load(path: &Path) -> Result<Config> {
    Ok(config::load(path)?)
}

fn load_admin(path: &Path) -> Result<Config> {
    Ok(config::load_for_admin(path)?)
}

/// The audit log for a CLI command that changes state or exports; taken before the action,
/// so a command that cannot record what it does (no master key) does nothing. Its key
/// derives from the store's root key.
pub(crate) fn auditor(cfg: &Config) -> Result<crate::audit::AuditLog> {
    let keys = store_keys(cfg, &open_store(cfg)?)?;
    Ok(crate::audit::AuditLog::new(&cfg.admin.audit_log, &keys))
}

/// The store's keys, unwrapped with the configured master key (refused without one, or with
/// a key that does not open the store's root key, naming the settings).
pub(crate) fn store_keys(cfg: &Config, store: &SqliteStore) -> Result<crate::policy::keys::StoreKeys> {
    let master = policy::master_key(cfg)?;
    Ok(store.store_keys(&master)?)
}

/// Records a CLI action that succeeded, as `cli:<os user>`.
pub(crate) fn record(log: &crate::audit::AuditLog, action: &str, target: &str) -> Result<()> {
    log.append(&crate::audit::Actor::cli(), action, target)
        .context("done, but the audit log could not be written")?;
    Ok(())
}

fn audit(action: AuditAction) -> Result<ExitCode> {
    match action {
        AuditAction::List { json, config } => {
            let cfg = load_admin(&config.config)?;
            let entries = crate::audit::read(&cfg.admin.audit_log)
                .with_context(|| format!("reading {}", cfg.admin.audit_log.display()))?;
            for e in entries {
                if json {
                    let line = serde_json::json!({
                        "seq": e.seq, "time": e.time, "actor": e.actor, "action": e.action, "target": e.target,
                    });
                    println!("{line}");
                } else {
                    println!("{}  {}  {}  {}", e.time, e.actor, e.action, e.target);
                }
            }
        }
        AuditAction::Verify { config } => {
            let cfg = load_admin(&config.config)?;
            let log = auditor(&cfg)?;
            let v = log
                .verify()
                .with_context(|| format!("reading {}", log.path().display()))?;
            if v.ok() {
                println!("{}: ok ({} entries)", log.path().display(), v.entries);
            } else {
                for (line, what) in &v.problems {
                    println!("{}:{line}: {what}", log.path().display());
                }
                println!(
                    "{}: TAMPERED ({} of {} entries do not verify)",
                    log.path().display(),
                    v.problems.len(),
                    v.entries
                );
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The store opened with the master key (refused without one, naming the settings), with
/// its ledger witness if one is configured.
fn open_keyed_store(cfg: &Config) -> Result<SqliteStore> {
    cfg.store.require_embedded().map_err(anyhow::Error::msg)?;
    let master = policy::master_key(cfg)?;
    let store = SqliteStore::open_keyed(&cfg.store.path, &master)
        .with_context(|| format!("opening the store at {}", cfg.store.path.display()))?;
    Ok(match (&cfg.ledger.witness_path, store.keys()) {
        (Some(path), Some(keys)) => store.with_witness(crate::ledger::witness::Witness::new(
            path.clone(),
            keys.mac_key(crate::ledger::WITNESS_PURPOSE),
        )),
        _ => store,
    })
}

fn open_store(cfg: &Config) -> Result<SqliteStore> {
    cfg.store.require_embedded().map_err(anyhow::Error::msg)?;
    SqliteStore::open(&cfg.store.path).with_context(|| format!("opening the store at {}", cfg.store.path.display()))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Demo { keep } => demo::run(keep.as_deref())?,
        Command::Serve {
            config,
            accept_rollback,
        } => {
            let cfg = load(&config.config)?;
            runtime()?.block_on(serve(cfg, crate::server::StartOptions { accept_rollback }))?;
        }
        Command::CheckConfig { config } => {
            let cfg = load(&config.config)?;
            println!(
                "{}: ok ({} source{}, {} destination{})",
                config.config.display(),
                cfg.sources.len(),
                if cfg.sources.len() == 1 { "" } else { "s" },
                cfg.destinations.len(),
                if cfg.destinations.len() == 1 { "" } else { "s" },
            );
        }
        Command::Destination { action } => destination(action)?,
        Command::Policy { action } => match action {
            PolicyAction::Explain {
                destination,
                input,
                source,
                json,
                config,
            } => {
                let cfg = load_admin(&config.config)?;
                policy::explain(&cfg, &destination, source.as_deref(), input.as_deref(), json)?;
            }
            PolicyAction::Test { config } => {
                let cfg = load_admin(&config.config)?;
                if !policy::test(&cfg)? {
                    return Ok(ExitCode::from(1));
                }
            }
        },
        Command::Ledger { action } => return ledger(action),
        Command::Audit { action } => return audit(action),
        Command::Incident { action } => incident::run(action)?,
        Command::Keys { action } => match action {
            KeysAction::Rotate { destination, config } => {
                let cfg = load_admin(&config.config)?;
                let log = auditor(&cfg)?;
                policy::rotate(&cfg, &open_store(&cfg)?, &destination)?;
                record(&log, "keys.rotate", &destination)?;
            }
            KeysAction::List { config } => {
                let cfg = load_admin(&config.config)?;
                policy::list(&cfg, &open_store(&cfg)?)?;
            }
            KeysAction::RotateMaster {
                new_key_file,
                new_key_env,
                reseal,
                config,
            } => {
                let cfg = load_admin(&config.config)?;
                let new = policy::new_master_key(&cfg, new_key_file.as_deref(), new_key_env.as_deref())?;
                if reseal {
                    policy::reseal(&cfg, &new)?;
                } else {
                    policy::rotate_master_online(&cfg, &new)?;
                }
            }
        },
        Command::Classify {
            input,
            protocol,
            config,
            explain,
            value,
            key,
            record,
            json,
        } => {
            let custom = match config {
                Some(path) => load(&path)?.classify.detectors,
                None => Default::default(),
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            if explain {
                let what = match (value, record) {
                    (Some(v), _) => classify::Explain::Value { value: v, key },
                    (None, Some(r)) => classify::Explain::Record { json: r, protocol },
                    (None, None) => anyhow::bail!("--explain needs --value or --record"),
                };
                classify::explain(what, json, &mut out)?;
            } else {
                classify::run(protocol, input.as_deref(), &custom, &mut out)?;
            }
            std::io::Write::flush(&mut out)?;
        }
        Command::Outbox { action } => outbox(action)?,
        Command::Emulate {
            vendor,
            listen,
            key,
            secret_env,
            flap,
        } => {
            let secret = match secret_env {
                Some(var) => {
                    Some(std::env::var(&var).with_context(|| format!("environment variable {var} is not set"))?)
                }
                None => None,
            };
            runtime()?.block_on(crate::emulator::run_forever(
                crate::emulator::EmulatorConfig {
                    listen,
                    vendor,
                    key,
                    secret,
                    keep_records: false,
                },
                flap,
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_flap(spec: &str) -> std::result::Result<crate::emulator::Flap, String> {
    let parse = |s: &str| s.trim().parse::<u64>().ok().filter(|n| *n > 0);
    match spec.split_once(':') {
        Some((up, down)) => match (parse(up), parse(down)) {
            (Some(up), Some(down)) => Ok(crate::emulator::Flap {
                up: std::time::Duration::from_secs(up),
                down: std::time::Duration::from_secs(down),
            }),
            _ => Err("UP and DOWN are whole seconds above zero".into()),
        },
        None => Err("expected UP:DOWN in seconds, e.g. 60:30".into()),
    }
}

fn parse_vendor(name: &str) -> std::result::Result<Vendor, String> {
    Vendor::parse(name).ok_or_else(|| format!("not a vendor (one of {})", Vendor::names()))
}

async fn serve(cfg: Config, options: crate::server::StartOptions) -> Result<()> {
    let gateway = crate::server::Gateway::start_with(cfg, options).await?;
    // The first stdout line tells scripts and tests where we listen, the second where the
    // admin API is; one write, so a reader that stops after the first line cannot make the
    // second fail.
    let admin = gateway.admin_url().map_or_else(
        || "admin listener off".to_owned(),
        |u| format!("admin listening on {u}"),
    );
    print!("listening on {}\n{admin}\n", gateway.base_url());
    tracing::info!(addr = %gateway.addr, scheme = gateway.scheme, "vendorwall serving");
    shutdown_signal().await;
    tracing::info!("shutting down");
    gateway.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn fmt_ms(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64))
}

fn destination(action: DestinationAction) -> Result<()> {
    match action {
        DestinationAction::List { config } => {
            let cfg = load_admin(&config.config)?;
            let store = open_store(&cfg)?;
            let statuses = store.destination_statuses()?;
            println!(
                "{:<20} {:<10} {:>10} {:>12} {:>9}  oldest queued",
                "DESTINATION", "STATE", "QUEUED", "DEAD-LETTERS", "DROPPED"
            );
            for d in &cfg.destinations {
                let st = statuses.iter().find(|s| s.name == d.name);
                let q = store.queue_stats(&d.name)?;
                let dead = store.dead_letters(Some(&d.name), usize::MAX >> 1)?.len();
                println!(
                    "{:<20} {:<10} {:>10} {:>12} {:>9}  {}",
                    d.name,
                    st.map_or("active", |s| s.state.as_str()),
                    q.depth,
                    dead,
                    st.map_or(0, |s| s.dropped),
                    q.oldest_enqueued_at_ms.map_or("-".into(), fmt_ms)
                );
            }
        }
        DestinationAction::Suspend { name, drop, config } => {
            let cfg = load_admin(&config.config)?;
            if cfg.destination(&name).is_none() {
                bail!("no destination named `{name}` in {}", config.config.display());
            }
            let log = auditor(&cfg)?;
            let (state, action) = if drop {
                (DestinationState::Dropping, "destination.drop")
            } else {
                (DestinationState::Suspended, "destination.suspend")
            };
            open_store(&cfg)?.set_destination_state(&name, state, now_ms())?;
            record(&log, action, &name)?;
            if drop {
                println!(
                    "{name}: suspended; new records for it are discarded (running servers apply this within a second)"
                );
            } else {
                println!(
                    "{name}: suspended; records keep queueing durably (running servers apply this within a second)"
                );
            }
        }
        DestinationAction::Resume { name, config } => {
            let cfg = load_admin(&config.config)?;
            if cfg.destination(&name).is_none() {
                bail!("no destination named `{name}` in {}", config.config.display());
            }
            let log = auditor(&cfg)?;
            open_store(&cfg)?.set_destination_state(&name, DestinationState::Active, now_ms())?;
            record(&log, "destination.resume", &name)?;
            println!("{name}: active");
        }
    }
    Ok(())
}

fn ledger(action: LedgerAction) -> Result<ExitCode> {
    match action {
        LedgerAction::Verify { config } => {
            let cfg = load_admin(&config.config)?;
            let results = open_keyed_store(&cfg)?.verify_ledger()?;
            let mut ok = true;
            for v in &results {
                if v.ok() {
                    if v.revisions > 0 {
                        println!("{}: ok ({} revisions)", v.destination, v.revisions);
                    } else {
                        println!("{}: ok ({} entries in {} batches)", v.destination, v.entries, v.batches);
                    }
                    continue;
                }
                ok = false;
                let mut what = Vec::new();
                if !v.tampered_batches.is_empty() {
                    what.push(format!(
                        "batches with changed, missing or reordered entries {:?}",
                        v.tampered_batches
                    ));
                }
                if !v.broken_links.is_empty() {
                    what.push(format!(
                        "chain links that do not verify under the master key at batches {:?}",
                        v.broken_links
                    ));
                }
                if v.dictionary_tampered {
                    what.push("the dictionary of categories and fields was changed".into());
                }
                if v.head_missing {
                    what.push("the newest batches were removed".into());
                }
                if !v.tampered_rollups.is_empty() {
                    what.push(format!(
                        "rollups of days {:?} do not match their batches",
                        v.tampered_rollups
                    ));
                }
                what.extend(v.witness.iter().map(|w| format!("witness: {w}")));
                what.extend(v.rows.iter().cloned());
                what.extend(v.incident.iter().cloned());
                println!("{}: TAMPERED: {}", v.destination, what.join("; "));
            }
            if results.is_empty() {
                println!("the ledger is empty and there are no incidents");
            }
            if cfg.ledger.witness_path.is_none() {
                println!(
                    "no ledger witness is configured ([ledger] witness_path): a store rolled back to an older copy is undetectable"
                );
            }
            return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
        LedgerAction::Prune { before, config } => {
            let cfg = load_admin(&config.config)?;
            let before_ms = parse_date(&before)
                .with_context(|| format!("--before {before:?}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"))?;
            let log = auditor(&cfg)?;
            let n = open_store(&cfg)?.prune_ledger(before_ms)?;
            record(
                &log,
                "ledger.prune",
                &format!("before {}", crate::incident::time::format_utc(before_ms)),
            )?;
            println!("{n} ledger entries before {before} deleted; the chain stays verifiable");
        }
        LedgerAction::List {
            destination,
            limit,
            config,
        } => {
            let cfg = load_admin(&config.config)?;
            for e in open_store(&cfg)?.ledger_entries(destination.as_deref(), limit)? {
                println!("{}", serde_json::to_string(&e)?);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub use crate::incident::time::{parse_date, parse_date_end};

/// What an outbox action applied to: the destination (or every one) and the ids, if listed.
fn outbox_target(destination: Option<&str>, ids: &[i64]) -> String {
    let mut t = destination.unwrap_or("*").to_owned();
    if !ids.is_empty() {
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        t.push_str(" ids ");
        t.push_str(&list.join(","));
    }
    t
}

fn outbox(action: OutboxAction) -> Result<()> {
    match action {
        OutboxAction::List {
            destination,
            limit,
            config,
        } => {
            let cfg = load_admin(&config.config)?;
            let store = open_store(&cfg)?;
            let dead = store.dead_letters(destination.as_deref(), limit)?;
            if dead.is_empty() {
                println!("no dead letters");
                return Ok(());
            }
            println!(
                "{:>8} {:<16} {:<8} {:>8} {:>6}  {:<29}  reason",
                "ID", "DESTINATION", "KIND", "BYTES", "TRIES", "FAILED AT"
            );
            for d in dead {
                println!(
                    "{:>8} {:<16} {:<8} {:>8} {:>6}  {:<29}  {}",
                    d.id,
                    d.destination,
                    d.kind.as_str(),
                    d.payload_bytes,
                    d.attempts,
                    fmt_ms(d.failed_at_ms),
                    d.reason
                );
            }
        }
        OutboxAction::Retry {
            destination,
            ids,
            config,
        } => {
            let cfg = load_admin(&config.config)?;
            let log = auditor(&cfg)?;
            let n = open_store(&cfg)?.retry_dead_letters(destination.as_deref(), &ids, now_ms())?;
            record(&log, "outbox.retry", &outbox_target(destination.as_deref(), &ids))?;
            println!(
                "{n} dead letter{} queued for delivery again",
                if n == 1 { "" } else { "s" }
            );
        }
        OutboxAction::Purge {
            destination,
            ids,
            config,
        } => {
            let cfg = load_admin(&config.config)?;
            let log = auditor(&cfg)?;
            let n = open_store(&cfg)?.purge_dead_letters(destination.as_deref(), &ids)?;
            record(&log, "outbox.purge", &outbox_target(destination.as_deref(), &ids))?;
            println!("{n} dead letter{} deleted", if n == 1 { "" } else { "s" });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::parse_date("1970-01-01"), Some(0));
        assert_eq!(super::parse_date("2025-11-09"), Some(1_762_646_400_000));
        assert_eq!(super::parse_date("2025-11-09T08:30:00Z"), Some(1_762_677_000_000));
        assert_eq!(super::parse_date("2025-13-01"), None);
        assert_eq!(super::parse_date("yesterday"), None);
    }

    use super::*;

    #[test]
    fn dates_are_real_calendar_dates() {
        assert_eq!(parse_date("2025-11-09"), Some(1_762_646_400_000));
        assert_eq!(parse_date("2025-11-09T14:00:00Z"), Some(1_762_696_800_000));
        assert_eq!(parse_date("2025-11-09T14:00:00.25Z"), Some(1_762_696_800_250));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800_000));
        for bad in [
            "2025-02-29",
            "2025-04-31",
            "2025-13-01",
            "99999999999999-01-01",
            "1969-12-31",
            "2025-11-09T24:00:00Z",
            "2025-11-09T10:00:00+01:00",
            "x",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(parse_date_end("2025-11-09"), Some(1_762_732_799_999));
        assert_eq!(parse_date_end("2025-11-09T14:00:00Z"), Some(1_762_696_800_000));
    }
}
