//! The corpus end to end: each event sent by an official Mixpanel SDK (PyPI `mixpanel` or npm
//! `mixpanel`, unchanged) to `vendorwall serve` with the recommended policy, delivered to the
//! built-in Mixpanel emulator; what the vendor received is compared with the labels.
//!
//! Needs the `vendorwall` binary beside the example's directory (`cargo build --release --bin
//! vendorwall --example detectgen`), `openssl` (the Python SDK speaks only https) and the SDK
//! packages `scripts/install-test-deps` puts in `.deps/python` and `tests/sdk/node_modules`.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::corpus::Labelled;
use vendorwall::emulator::{Emulator, EmulatorConfig};
use vendorwall::vendor::Vendor;

const APP_TOKEN: &str = "corpus-app-token";
const PROJECT_TOKEN: &str = "corpus-project-token";
const SECRET_ENV: &str = "DETECTGEN_MP_SECRET";

#[derive(Default)]
pub struct Figures {
    pub events: usize,
    pub arrived: usize,
    pub sensitive: usize,
    /// Sensitive values found in what the vendor received: at their own place unchanged, or
    /// (values of 6 characters or more) anywhere in the record's text.
    pub leaked_in_place: usize,
    pub leaked_anywhere: usize,
    pub clean: usize,
    pub clean_unchanged: usize,
}

impl Figures {
    pub fn render(&self, sdk: &str) -> String {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        format!(
            "end to end through the {sdk} SDK, recommended policy: {} events sent, {} arrived\n\
             sensitive values reaching the vendor: {} of {} unchanged in place, {} of {} anywhere in the record ({:.4})\n\
             clean values arriving unchanged (pseudonymised identifiers not counted): {}/{} ({:.4})\n",
            self.events,
            self.arrived,
            self.leaked_in_place,
            self.sensitive,
            self.leaked_anywhere,
            self.sensitive,
            ratio(self.leaked_anywhere, self.sensitive),
            self.clean_unchanged,
            self.clean,
            ratio(self.clean_unchanged, self.clean),
        )
    }
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vendorwall_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("vendorwall"))
        .context("locating the vendorwall binary")?;
    if !bin.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release --bin vendorwall`",
            bin.display()
        );
    }
    Ok(bin)
}

fn self_signed_cert(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
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
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .context("running openssl")?;
    if !status.success() {
        bail!("openssl could not make a certificate");
    }
    Ok((cert, key))
}

pub fn run(corpus: &[Labelled], sdk: &str) -> anyhow::Result<Figures> {
    if !matches!(sdk, "python" | "node") {
        bail!("--sdk is python or node");
    }
    let dir = std::env::temp_dir().join(format!("detectgen-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(&dir, corpus, sdk);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(dir: &Path, corpus: &[Labelled], sdk: &str) -> anyhow::Result<Figures> {
    let rt = tokio::runtime::Runtime::new()?;
    let secret = format!("corpus-secret-{}", std::process::id());
    let vendor = rt.block_on(Emulator::start(
        EmulatorConfig::new(Vendor::Mixpanel, PROJECT_TOKEN).with_secret(secret.clone()),
    ))?;

    let events = dir.join("events.jsonl");
    let lines: Vec<String> = corpus.iter().map(|l| l.event.to_string()).collect();
    std::fs::write(&events, lines.join("\n") + "\n")?;
    let (cert, key) = self_signed_cert(dir)?;
    let tls = if sdk == "python" {
        format!(
            "tls_cert_path = \"{}\"\ntls_key_path = \"{}\"\n",
            cert.display(),
            key.display()
        )
    } else {
        String::new()
    };
    let config = dir.join("vendorwall.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n[server]\nlisten = \"127.0.0.1:0\"\n{tls}[store]\npath = \"{}\"\n\
             [[sources]]\nname = \"app\"\nprotocol = \"mixpanel\"\ntokens = [\"{APP_TOKEN}\"]\n\
             [[destinations]]\nname = \"mixpanel\"\ntype = \"mixpanel\"\nendpoint = \"{}\"\n\
             project_token = \"{PROJECT_TOKEN}\"\napi_secret = \"${{{SECRET_ENV}}}\"\nsources = [\"app\"]\n\
             policy = \"recommended\"\n",
            dir.join("store").display(),
            vendor.base_url(),
        ),
    )?;
    let mut master = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut master)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    let mut child = Command::new(vendorwall_binary()?)
        .args(["serve", "--config"])
        .arg(&config)
        .env(
            "VENDORWALL_MASTER_KEY",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, master),
        )
        .env(SECRET_ENV, &secret)
        .env("VENDORWALL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting vendorwall serve")?;
    let stdout = child.stdout.take().context("serve's stdout")?;
    let serve = Serve(child);
    let mut stdout = BufReader::new(stdout);
    let mut first = String::new();
    stdout.read_line(&mut first)?;
    // serve prints more (the admin listener, shutdown): keep reading so it never writes
    // into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("serve did not start: {first:?}"))?
        .to_owned();
    let host = url.split("://").nth(1).unwrap_or(&url).trim_end_matches('/').to_owned();

    let out = if sdk == "python" {
        Command::new("python3")
            .arg(repo().join("tests/sdk/corpus_python.py"))
            .env("VW_API_HOST", &host)
            .env("REQUESTS_CA_BUNDLE", &cert)
            .env("VW_TOKEN", APP_TOKEN)
            .env("VW_CORPUS", &events)
            .output()
    } else {
        Command::new("node")
            .arg(repo().join("tests/sdk/corpus_node.js"))
            .env("VW_HOST", &host)
            .env("VW_TOKEN", APP_TOKEN)
            .env("VW_CORPUS", &events)
            .output()
    }
    .context("running the SDK script")?;
    let report: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "the SDK script printed no report: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if report["sdk_errors"].as_array().is_some_and(|e| !e.is_empty()) {
        bail!("the SDK reported errors: {}", report["sdk_errors"]);
    }
    let arrived = rt.block_on(vendor.wait_for_records(corpus.len(), Duration::from_secs(300)));
    drop(serve);
    if !arrived {
        eprintln!(
            "detectgen: only {} of {} records arrived",
            vendor.received().len(),
            corpus.len()
        );
    }
    Ok(score(corpus, &vendor.received()))
}

/// Compares each labelled event with the record the vendor received for it (found by its
/// `$insert_id`, which the pipeline keeps).
fn score(corpus: &[Labelled], received: &[vendorwall::emulator::ReceivedRecord]) -> Figures {
    let by_id: HashMap<&str, &Value> = received
        .iter()
        .filter_map(|r| Some((r.insert_id()?, &r.record)))
        .collect();
    let mut f = Figures {
        events: corpus.len(),
        ..Figures::default()
    };
    for l in corpus {
        let Some(id) = l.event.pointer("/properties/$insert_id").and_then(Value::as_str) else {
            continue;
        };
        let Some(sent) = by_id.get(id) else { continue };
        f.arrived += 1;
        let wire = sent.to_string();
        let pseudonymised = crate::score::pseudonymised_pointers(&l.event);
        for p in &l.clean {
            if pseudonymised.contains(p) {
                continue;
            }
            f.clean += 1;
            f.clean_unchanged += usize::from(sent.pointer(p) == l.event.pointer(p));
        }
        for (p, _) in &l.findings {
            f.sensitive += 1;
            let original = l.event.pointer(p);
            let in_place = original.is_some() && sent.pointer(p) == original;
            let text = match original {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            let anywhere = in_place || (text.chars().count() >= 6 && wire.contains(&json_escaped(&text)));
            f.leaked_in_place += usize::from(in_place);
            f.leaked_anywhere += usize::from(anywhere);
        }
    }
    f
}

/// `s` as it appears inside a JSON string.
fn json_escaped(s: &str) -> String {
    let quoted = Value::from(s).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}
