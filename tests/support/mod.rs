//! Shared test harness: a vendor emulator in-process, `vendorwall serve` as a child process.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vendorwall::emulator::{Emulator, EmulatorConfig};

pub const APP_TOKEN: &str = "app-token-123";
pub const IMPORT_SECRET: &str = "import-secret-456";
pub const PROJECT_TOKEN: &str = "real-project-token";
pub const API_SECRET: &str = "real-api-secret-789";

/// The master key every test gateway and CLI run gets: 32 bytes in base64, in the default
/// environment variable (for configs written by hand in a test) and in a key file beside
/// the config, outside its store (for configs from [`write_config`]).
pub const MASTER_KEY: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
pub const MASTER_KEY_ENV: &str = "VENDORWALL_MASTER_KEY";

/// Gives a `vendorwall` command the test master key (the one place tests get it from).
pub fn with_master_key(cmd: &mut Command) -> &mut Command {
    cmd.env(MASTER_KEY_ENV, MASTER_KEY)
}

/// Writes the test master key to `path`, readable by its owner only.
pub fn write_master_key(path: &Path) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("create master key file");
    f.write_all(MASTER_KEY.as_bytes()).expect("write master key");
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory under the target dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("vwt-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::new(vendorwall::protocol::Vendor::Mixpanel, PROJECT_TOKEN).with_secret(API_SECRET))
        .await
        .expect("start emulator")
}

/// Options for a test gateway configuration.
#[derive(Clone)]
pub struct Options {
    pub api_secret: bool,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub cors: Vec<String>,
    pub extra_destination: String,
    pub max_queue_records: u64,
    pub request_timeout_secs: u64,
    pub limits: String,
    pub listen: String,
    /// More `[server]` lines (`key = value`, one a line).
    pub server: String,
    /// `policy = …` of the destination: a preset name, or a TOML inline table.
    pub policy: String,
    /// The body of the `[admin]` table (an admin listener on a free port by default).
    pub admin: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            api_secret: true,
            tls: None,
            cors: vec![],
            extra_destination: String::new(),
            max_queue_records: 1_000_000,
            request_timeout_secs: 2,
            limits: String::new(),
            listen: "127.0.0.1:0".into(),
            server: String::new(),
            policy: "\"passthrough\"".into(),
            admin: ADMIN_LISTEN.into(),
        }
    }
}

/// Writes `vendorwall.toml` into `dir` for a gateway delivering to `vendor_url`.
pub fn write_config(dir: &Path, vendor_url: &str, o: &Options) -> PathBuf {
    let tls = o
        .tls
        .as_ref()
        .map(|(c, k)| {
            format!(
                "tls_cert_path = \"{}\"\ntls_key_path = \"{}\"\n",
                c.display(),
                k.display()
            )
        })
        .unwrap_or_default();
    let cors = o.cors.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
    let secret = if o.api_secret {
        "api_secret = \"${VW_TEST_MP_SECRET}\"\n"
    } else {
        ""
    };
    let text = format!(
        r#"version = 1
[server]
listen = "{listen}"
cors_allowed_origins = [{cors}]
{server}
{tls}
[store]
path = "store"
{limits}
[keys]
master_key_file = "master.key"

[[sources]]
name = "web"
protocol = "mixpanel"
tokens = ["{APP_TOKEN}"]
import_secret = "{IMPORT_SECRET}"

[[destinations]]
name = "mixpanel"
type = "mixpanel"
endpoint = "{vendor_url}"
project_token = "{PROJECT_TOKEN}"
{secret}sources = ["web"]
request_timeout_secs = {timeout}
retry_initial_backoff_ms = 50
retry_max_backoff_secs = 1
max_queue_records = {maxq}
policy = {policy}
{extra}
[admin]
{admin}
"#,
        admin = o.admin,
        listen = o.listen,
        server = o.server,
        limits = o.limits,
        timeout = o.request_timeout_secs,
        maxq = o.max_queue_records,
        policy = o.policy,
        extra = o.extra_destination,
    );
    write_master_key(&dir.join("master.key"));
    let path = dir.join("vendorwall.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vendorwall")
}

/// An `[admin]` table body: the admin listener on a free loopback port.
pub const ADMIN_LISTEN: &str = "listen = \"127.0.0.1:0\"";

/// A `vendorwall serve` child process.
pub struct Server {
    pub child: Child,
    pub base_url: String,
    /// The admin listener's URL, when the configuration has one.
    pub admin_url: Option<String>,
    pub stderr_log: PathBuf,
}

impl Server {
    pub fn start(config: &Path) -> Server {
        Server::start_with(config, &[])
    }

    /// `serve` with extra arguments (`--accept-rollback`).
    pub fn start_with(config: &Path, args: &[&str]) -> Server {
        Server::start_keyed(config, args, MASTER_KEY)
    }

    /// `serve` with the master key `key` (base64) in the environment.
    pub fn start_keyed(config: &Path, args: &[&str], key: &str) -> Server {
        let dir = config.parent().expect("config dir");
        let stderr_log = dir.join(format!("serve-{}.log", rand_u64()));
        let log = std::fs::File::create(&stderr_log).expect("log file");
        let mut child = Command::new(bin())
            .env(MASTER_KEY_ENV, key)
            .args(["serve", "--config"])
            .arg(config)
            .args(args)
            .env("VW_TEST_MP_SECRET", API_SECRET)
            .env("VENDORWALL_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn vendorwall serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut stdout = BufReader::new(stdout);
        stdout.read_line(&mut line).expect("read listening line");
        let mut admin_line = String::new();
        stdout.read_line(&mut admin_line).expect("read the admin listener line");
        let admin_url = admin_line.trim().strip_prefix("admin listening on ").map(str::to_owned);
        let base_url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let log = std::fs::read_to_string(&stderr_log).unwrap_or_default();
                panic!("serve did not start: {line:?}\n{log}")
            })
            .to_owned();
        Server {
            child,
            base_url,
            admin_url,
            stderr_log,
        }
    }

    /// The admin listener's URL (the admin API and `/metrics`).
    pub fn admin(&self) -> &str {
        self.admin_url
            .as_deref()
            .expect("the configuration has an admin listener")
    }

    /// The gateway's Prometheus metrics, from the admin listener (see [`series_value`]).
    pub async fn metrics(&self) -> String {
        client()
            .get(format!("{}/metrics", self.admin()))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub fn port(&self) -> u16 {
        self.base_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: a graceful stop.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Waits until `message` occurs at least `count` times in the server's log.
    pub async fn wait_for_log(&self, message: &str, count: usize, timeout: Duration) -> bool {
        eventually(timeout, || self.log().matches(message).count() >= count).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// A self-signed certificate for 127.0.0.1 (openssl from the OS).
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl failed");
    (cert, key)
}

pub fn client() -> reqwest::Client {
    vendorwall::init_crypto();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Polls `f` until it returns true or the timeout passes.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// Polls the asynchronous condition `f` until it returns true or the timeout passes.
pub async fn eventually_async<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f().await
}

/// One row of `vendorwall destination list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRow {
    pub name: String,
    pub state: String,
    pub queued: u64,
    pub dead_letters: u64,
    pub dropped: u64,
}

/// Parses `vendorwall destination list`: a header line, then one row per destination whose
/// first five columns (name, state, queued, dead letters, dropped) are single words; the
/// last column, the oldest queued time, is ignored. Column widths do not matter.
pub fn parse_destination_list(out: &str) -> Vec<DestinationRow> {
    out.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let name = cols.next()?.to_owned();
            let state = cols.next()?.to_owned();
            let mut number = || cols.next().and_then(|c| c.parse::<u64>().ok());
            Some(DestinationRow {
                name,
                state,
                queued: number()?,
                dead_letters: number()?,
                dropped: number()?,
            })
        })
        .collect()
}

/// `name`'s row of `vendorwall destination list` for the gateway configured by `config`.
pub fn destination_status(config: &Path, name: &str) -> DestinationRow {
    let config = config.to_str().expect("utf-8 config path");
    let (code, out, err) = cli(&["destination", "list", "--config", config]);
    assert_eq!(code, 0, "destination list failed: {out}{err}");
    parse_destination_list(&out)
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no row for destination {name}:\n{out}"))
}

/// How many entries `vendorwall ledger list` prints (one line per delivered record).
pub fn ledger_entries(config: &Path) -> usize {
    let config = config.to_str().expect("utf-8 config path");
    let (code, out, err) = cli(&["ledger", "list", "--limit", "100000000", "--config", config]);
    assert_eq!(code, 0, "ledger list failed: {out}{err}");
    out.lines().count()
}

/// Waits until `destination`'s outbox queue is empty and the ledger holds at least
/// `entries` entries, and returns the ledger's entry count then. Once the queue is empty
/// every leased batch has been recorded, so nothing more reaches the vendor.
pub async fn wait_until_delivered(config: &Path, destination: &str, entries: usize, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let recorded = ledger_entries(config);
        let queued = destination_status(config, destination).queued;
        if (recorded >= entries && queued == 0) || Instant::now() >= deadline {
            return recorded;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the CLI and returns (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    cli_keyed(MASTER_KEY, args)
}

/// [`cli`] with the master key `key` (base64) in the environment.
pub fn cli_keyed(key: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .env(MASTER_KEY_ENV, key)
        .args(args)
        .env("VW_TEST_MP_SECRET", API_SECRET)
        .output()
        .expect("run vendorwall");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// base64 of a JSON value, as mixpanel-browser sends behind a proxy.
pub fn b64(v: &serde_json::Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(v).expect("json"))
}

pub fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What an SDK driver script (tests/sdk/) reported: the items the app asked the SDK to send.
pub struct SdkRun {
    pub sent: Vec<serde_json::Value>,
}

/// Runs an SDK driver script and checks it ran, printed its JSON document, reported no SDK
/// errors and sent at least `min_sent` items.
pub fn run_sdk_script(program: &str, script: &str, env: &[(&str, String)], min_sent: usize) -> SdkRun {
    let path = repo().join("tests/sdk").join(script);
    let mut cmd = Command::new(program);
    cmd.arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}); did you run scripts/install-test-deps?\n{stderr}",
        out.status
    );
    let doc: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}\n{stderr}"));
    let errors = doc["sdk_errors"].as_array().cloned().unwrap_or_default();
    assert!(
        errors.is_empty(),
        "{script}: the SDK reported errors: {errors:#?}\n{stderr}"
    );
    let sent = doc["sent"].as_array().cloned().unwrap_or_default();
    assert!(sent.len() >= min_sent, "{script} sent too little: {sent:?}");
    SdkRun { sent }
}

/// Numbers compare by value (1 == 1.0), objects by the expected keys only.
pub fn matches(expected: &serde_json::Value, actual: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => {
            (a.as_f64().unwrap_or(f64::NAN) - b.as_f64().unwrap_or(f64::NAN)).abs() < 1e-6
        }
        (Value::Object(a), Value::Object(b)) => a.iter().all(|(k, v)| b.get(k).is_some_and(|w| matches(v, w))),
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| matches(x, y)),
        _ => expected == actual,
    }
}

/// The value of the sample whose name and labels are exactly `series` in Prometheus text.
pub fn series_value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(name, _)| *name == series)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in /metrics"))
}
