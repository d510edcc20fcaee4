//! `vendorwall policy explain | test` and `vendorwall keys rotate | list`.
//!
//! `explain` and `test` are review tools: they run the same classification and policy code
//! as `serve` on sample events and print what a vendor would receive. They print sample
//! values on purpose (that is what is being reviewed) and touch no store: pseudonyms are
//! computed with a throwaway key, so they differ from the ones `serve` sends.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::classify::{Finding, Shape, classify_record, taxonomy::covers};
use crate::config::{Config, Destination};
use crate::event::Caps;
use crate::policy::keys::{MasterKey, PseudonymKey};
use crate::policy::{Context, Decision, Verdict};
use crate::protocol::Vendor;
use crate::store::KeyStore;

/// A sample line (a record as the source's SDKs send it) as the destination's vendor
/// would receive it before its policy: decoded by the source's protocol, translated, and
/// encoded by the destination's. `None` when the source's protocol cannot decode it.
pub fn vendor_record(from: Vendor, to: Vendor, sample: &Value) -> Option<(Value, Shape, Option<String>)> {
    let caps = Caps::from(&crate::config::Limits::default());
    let mut event = from.protocol().decode_sample(sample.clone(), &caps).ok()?.event;
    crate::protocol::translate(&mut event, to);
    let name = event.name.clone();
    let shape = to.protocol().shape(event.kind);
    Some((to.protocol().encode(event), shape, name))
}

fn throwaway_key() -> PseudonymKey {
    // A key nobody keeps: should the OS refuse randomness, a zero key serves as well.
    let bytes: [u8; 32] = crate::policy::keys::random_bytes().unwrap_or_default();
    PseudonymKey::from_bytes(0, &bytes)
}

/// The source samples come from (its name and protocol): `wanted`, or the destination's
/// first.
fn source_for<'a>(cfg: &'a Config, dest: &Destination, wanted: Option<&str>) -> Result<(&'a str, Vendor)> {
    let index = match wanted {
        Some(s) => match dest.sources.iter().copied().find(|&i| cfg.sources[i].name == s) {
            Some(i) => i,
            None => bail!("source `{s}` does not feed destination `{}`", dest.name),
        },
        None => match dest.sources.first() {
            Some(&i) => i,
            None => bail!("destination `{}` has no sources", dest.name),
        },
    };
    let source = &cfg.sources[index];
    Ok((source.name.as_str(), source.protocol))
}

/// Reads JSON Lines; yields (line number, object) and reports unreadable lines on stderr.
fn samples(input: Option<&Path>) -> Result<Vec<(usize, Value)>> {
    let reader: Box<dyn BufRead> = match input {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.context("reading samples")?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(v @ Value::Object(_)) => out.push((i + 1, v)),
            _ => eprintln!("line {}: not a JSON object; skipped", i + 1),
        }
    }
    Ok(out)
}

fn decision_json(d: &Decision, findings: &[Finding]) -> Value {
    let span = findings
        .iter()
        .find(|f| f.pointer == d.pointer && Some(f.category) == d.category)
        .and_then(|f| f.span);
    json!({"pointer": d.pointer, "category": d.category, "detector": d.detector, "span": span,
           "action": d.action, "because": d.because.to_string()})
}

pub fn explain(
    cfg: &Config,
    destination: &str,
    source: Option<&str>,
    input: Option<&Path>,
    as_json: bool,
) -> Result<()> {
    let dest = cfg
        .destination(destination)
        .with_context(|| format!("no destination named `{destination}`"))?;
    let (source, protocol) = source_for(cfg, dest, source)?;
    let key = throwaway_key();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if !as_json {
        writeln!(
            out,
            "destination {} · policy {} · source {source} · pseudonyms use a throwaway key",
            dest.name, dest.policy.name
        )?;
    }
    for (line, sample) in samples(input)? {
        let Some((record, shape, name)) = vendor_record(protocol, dest.vendor, &sample) else {
            eprintln!("line {line}: not a {protocol} record; skipped");
            continue;
        };
        let mut findings = classify_record(&record, shape);
        cfg.classify.detectors.apply(&record, &mut findings);
        let verdict = dest.policy.apply(
            &record,
            shape,
            &findings,
            &Context {
                source,
                event: name.as_deref(),
                key: Some(&key),
            },
        );
        if as_json {
            let v = match &verdict {
                Verdict::Block { because } => json!({"line": line, "verdict": "block", "because": because.to_string()}),
                Verdict::Send { record, decisions } => {
                    json!({"line": line, "verdict": "send", "vendor_receives": record,
                    "decisions": decisions.iter().map(|d| decision_json(d, &findings)).collect::<Vec<_>>()})
                }
            };
            writeln!(out, "{v}")?;
            continue;
        }
        let name = name.as_deref().unwrap_or("(profile or group update)");
        match verdict {
            Verdict::Block { because } => writeln!(out, "\nline {line} · {name} · blocked by {because}")?,
            Verdict::Send {
                record: sent,
                decisions,
            } => {
                writeln!(out, "\nline {line} · {name}")?;
                for d in &decisions {
                    let span = findings
                        .iter()
                        .find(|f| f.pointer == d.pointer && Some(f.category) == d.category)
                        .and_then(|f| f.span)
                        .map(|(a, b)| format!(" [{a}..{b}]"))
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "  {:<40} {:<36} {:<10} by {}",
                        d.pointer,
                        format!("{}{span}", d.category.unwrap_or("-")),
                        d.action,
                        d.because
                    )?;
                }
                let passed: Vec<&Finding> = findings
                    .iter()
                    .filter(|f| !decisions.iter().any(|d| d.pointer == f.pointer))
                    .collect();
                for f in passed {
                    writeln!(out, "  {:<40} {:<36} {:<10} by default", f.pointer, f.category, "keep")?;
                }
                writeln!(out, "  vendor receives: {sent}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Runs the `[[policy_tests]]` of the configuration; false if any assertion fails.
pub fn test(cfg: &Config) -> Result<bool> {
    if cfg.policy_tests.is_empty() {
        bail!("the configuration has no [[policy_tests]]");
    }
    let key = throwaway_key();
    let mut failures = 0usize;
    let mut checked = 0usize;
    for t in &cfg.policy_tests {
        let dest = cfg
            .destination(&t.destination)
            .with_context(|| format!("no destination named `{}`", t.destination))?;
        let (source, protocol) = source_for(cfg, dest, None)?;
        for (line, sample) in samples(Some(&t.samples))? {
            checked += 1;
            let Some((record, shape, name)) = vendor_record(protocol, dest.vendor, &sample) else {
                failures += 1;
                println!(
                    "FAIL {}: {} line {line} is not a {protocol} record",
                    t.destination,
                    t.samples.display()
                );
                continue;
            };
            let mut findings = classify_record(&record, shape);
            cfg.classify.detectors.apply(&record, &mut findings);
            let Verdict::Send {
                record: sent,
                decisions,
            } = dest.policy.apply(
                &record,
                shape,
                &findings,
                &Context {
                    source,
                    event: name.as_deref(),
                    key: Some(&key),
                },
            )
            else {
                continue;
            };
            // What the vendor would get, classified again: nothing in a forbidden category
            // may remain, except pseudonymised identifiers.
            let mut again = classify_record(&sent, shape);
            cfg.classify.detectors.apply(&sent, &mut again);
            for f in again {
                let pseudonymised = decisions.iter().any(|d| d.pointer == f.pointer && d.action == "hash");
                if pseudonymised {
                    continue;
                }
                if let Some(forbidden) = t.never_receives.iter().find(|c| covers(c, f.category)) {
                    failures += 1;
                    println!(
                        "FAIL {} never_receives {forbidden}: {} line {line} {} carries {} (detector {})",
                        t.destination,
                        t.samples.display(),
                        f.pointer,
                        f.category,
                        f.detector
                    );
                    println!(
                        "  - app sent:       {}",
                        record.pointer(&f.pointer).unwrap_or(&Value::Null)
                    );
                    println!(
                        "  + vendor gets:    {}",
                        sent.pointer(&f.pointer).unwrap_or(&Value::Null)
                    );
                }
            }
            for (pointer, before) in leaves(&record) {
                let path = crate::policy::dotted(&pointer);
                if !t.unchanged.iter().any(|g| g.matches(&path)) {
                    continue;
                }
                let after = sent.pointer(&pointer);
                if after != Some(&before) {
                    failures += 1;
                    println!(
                        "FAIL {} unchanged: {} line {line} {pointer} was changed",
                        t.destination,
                        t.samples.display()
                    );
                    println!("  - app sent:       {before}");
                    println!(
                        "  + vendor gets:    {}",
                        after.map_or("(dropped)".to_owned(), Value::to_string)
                    );
                }
            }
        }
    }
    if failures == 0 {
        println!(
            "ok: {} assertion set(s), {checked} sample records",
            cfg.policy_tests.len()
        );
    } else {
        println!("{failures} failure(s) in {checked} sample records");
    }
    Ok(failures == 0)
}

fn leaves(v: &Value) -> Vec<(String, Value)> {
    fn walk(v: &Value, at: String, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    walk(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{at}/{i}"), out);
                }
            }
            _ => out.push((at, v.clone())),
        }
    }
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

/// The master key from the configured environment variable or key file; an error naming
/// both settings without one.
pub fn master_key(cfg: &Config) -> Result<MasterKey> {
    Ok(MasterKey::load(
        &cfg.keys.master_key_env,
        cfg.keys.master_key_file.as_deref(),
        &cfg.store.path,
    )?)
}

/// The new master key of `keys rotate-master`, from `--new-key-file` or `--new-key-env`.
pub fn new_master_key(cfg: &Config, new_file: Option<&Path>, new_env: Option<&str>) -> Result<MasterKey> {
    Ok(match (new_file, new_env) {
        (Some(file), _) => MasterKey::load_file(file, &cfg.store.path)?,
        (None, Some(var)) => {
            let no_file: Option<&Path> = None;
            if std::env::var_os(var).is_none() {
                bail!("--new-key-env {var}: the variable is not set");
            }
            MasterKey::load(var, no_file, &cfg.store.path)?
        }
        (None, None) => bail!("give the new key with --new-key-file or --new-key-env"),
    })
}

/// `keys rotate-master`: the store's root key is re-wrapped under the new master key, beside a
/// running `serve` (see `policy::keys`). The audit log and the witness are keyed from the root
/// key, so they stay as they are; the rotation is recorded in the audit log.
pub fn rotate_master_online(cfg: &Config, new: &MasterKey) -> Result<()> {
    cfg.store.require_embedded().map_err(anyhow::Error::msg)?;
    let old = master_key(cfg)?;
    let store = super::open_store(cfg)?;
    let keys = store.store_keys(&old)?;
    let audit = crate::audit::AuditLog::new(&cfg.admin.audit_log, &keys);
    store.rewrap_root(&old, new)?;
    drop(store);
    super::record(&audit, "keys.rotate_master", "store")?;
    println!(
        "the store's root key is now sealed under the new master key {} (a running serve is unaffected)",
        new.id()
    );
    println!(
        "set the new key where serve reads it (keys.master_key_env or keys.master_key_file) before its next start: the old key no longer opens this store"
    );
    Ok(())
}

/// `keys rotate-master --reseal`: a fresh root key under the new master key, everything sealed
/// and MAC'd again under it ([`KeyStore::reseal`]); the witness (if any) is kept beside
/// itself as `<name>.retired-<ms>` and started again, and the audit log re-keyed. Needs `serve`
/// stopped.
pub fn reseal(cfg: &Config, new: &MasterKey) -> Result<()> {
    cfg.store.require_embedded().map_err(anyhow::Error::msg)?;
    let old = master_key(cfg)?;
    let _lock = crate::store::lock_exclusive(cfg)
        .context("re-sealing the store (--reseal) needs `serve` stopped on this store; without --reseal the master key is rotated while serve runs")?;
    // With the witness, if one is configured: the ledger must verify against it first.
    let store = crate::store::open(cfg, Some(&old), None)
        .with_context(|| format!("opening the store at {}", cfg.store.path.display()))?;
    let old_keys = store
        .keys()
        .ok_or_else(|| anyhow::anyhow!("the store was opened without its keys"))?;
    let audit = crate::audit::AuditLog::new(&cfg.admin.audit_log, &old_keys);
    if !audit
        .verify()
        .with_context(|| format!("reading {}", cfg.admin.audit_log.display()))?
        .ok()
    {
        bail!(
            "the audit log {} does not verify under the current keys; run `vendorwall audit verify`",
            cfg.admin.audit_log.display()
        );
    }
    let (done, new_keys) = store.reseal(new)?;
    drop(store);
    println!(
        "re-sealed {} pseudonym keys, {} subjects' ids, {} queued records under a fresh root key; {} ledger batches re-keyed",
        done.pseudonym_keys, done.subject_ids, done.queued_records, done.batches
    );
    if let Some(path) = &cfg.ledger.witness_path {
        if path.exists() {
            let retired = std::path::PathBuf::from(format!("{}.retired-{}", path.display(), crate::store::now_ms()));
            std::fs::rename(path, &retired)
                .with_context(|| format!("keeping the old witness as {}", retired.display()))?;
            println!(
                "the old witness is kept as {} (it verifies under the old keys only)",
                retired.display()
            );
        }
        // Opened with the new key, the witness is keyed from the new keys.
        crate::store::open(cfg, Some(new), None)?.reconcile_witness(false)?;
        println!("the witness {} starts again under the new keys", path.display());
    }
    let audit = audit
        .rekey(&new_keys)
        .context("the store moved to the new keys, but the audit log could not be re-keyed")?;
    super::record(&audit, "keys.rotate_master", "store --reseal")?;
    println!("the audit log {} is chained under the new keys", audit.path().display());
    println!("now set the new key where serve reads it (keys.master_key_env or keys.master_key_file) and start serve");
    Ok(())
}

pub fn rotate(cfg: &Config, store: &dyn KeyStore, destination: &str) -> Result<()> {
    if cfg.destination(destination).is_none() {
        bail!("no destination named `{destination}`");
    }
    let keys = super::store_keys(cfg, store)?;
    // Make sure the current key opens before adding a new one.
    crate::keyring::current_key(store, &keys, destination)?;
    let k = crate::keyring::rotate(store, &keys, destination)?;
    println!(
        "{destination}: pseudonym key version {} is now current (running servers switch within a second)",
        k.version
    );
    Ok(())
}

pub fn list(cfg: &Config, store: &dyn KeyStore) -> Result<()> {
    println!("{:<20} {:>8}", "DESTINATION", "VERSIONS");
    for d in &cfg.destinations {
        let versions: Vec<String> = store
            .key_versions(&d.name)?
            .into_iter()
            .map(|(v, _)| v.to_string())
            .collect();
        println!(
            "{:<20} {:>8}",
            d.name,
            if versions.is_empty() {
                "-".to_owned()
            } else {
                versions.join(",")
            }
        );
    }
    Ok(())
}
