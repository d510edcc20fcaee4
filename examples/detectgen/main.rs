//! The detection corpus generator and scorer.
//!
//! ```text
//! cargo run --release --example detectgen -- score --part tuning   [--seed 7] [--events 4000] [--errors 20]
//! cargo run --release --example detectgen -- score --part heldout  [--seed 7] [--events 4000]
//! EVAL=/path/to/labelled cargo run --release --example detectgen -- score --eval
//! cargo run --release --example detectgen -- gen --part tuning --out DIR   # events.jsonl, truth.jsonl
//! cargo build --release --bin vendorwall --example detectgen
//! target/release/examples/detectgen e2e --part heldout --sdk python|node [--events 4000]
//! ```
//!
//! `e2e` sends the part through an official Mixpanel SDK to `vendorwall serve` with the
//! recommended policy and the built-in vendor emulator, and reports how many sensitive values
//! reached the vendor and how many clean ones arrived unchanged (see `e2e.rs`).
//!
//! `--errors` lists misses and false positives, for the tuning part only: the held-out part
//! is for measuring, never for looking at what went wrong. `--eval` scores a labelled
//! directory (`events.jsonl` and `truth.jsonl`, one label object per event line) named by the
//! `EVAL` environment variable.

mod corpus;
mod e2e;
mod score;

use std::io::Write as _;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use corpus::Part;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let has = |name: &str| args.iter().any(|a| a == name);
    let seed: u64 = flag("--seed").map_or(Ok(7), |s| s.parse()).context("--seed")?;
    let events: usize = flag("--events").map_or(Ok(4000), |s| s.parse()).context("--events")?;
    let errors: usize = flag("--errors").map_or(Ok(0), |s| s.parse()).context("--errors")?;
    let part = match flag("--part") {
        Some(p) => Some(Part::parse(&p).context("--part is tuning or heldout")?),
        None => None,
    };
    match args.first().map(String::as_str) {
        Some("score") if has("--eval") => {
            let dir = std::env::var("EVAL").context("--eval reads the directory named by EVAL")?;
            let dir = std::path::Path::new(&dir);
            let events = std::fs::read_to_string(dir.join("events.jsonl")).context("events.jsonl")?;
            let truth = std::fs::read_to_string(dir.join("truth.jsonl")).context("truth.jsonl")?;
            let mut report = score::Report::default();
            for (e, t) in events.lines().zip(truth.lines()) {
                let event: Value = serde_json::from_str(e)?;
                let (findings, clean) = score::labels_of(&serde_json::from_str(t)?);
                score::add(&mut report, &event, &findings, &clean);
            }
            print!("{}", report.render());
        }
        Some("score") => {
            let Some(part) = part else {
                bail!("score needs --part tuning|heldout or --eval")
            };
            if errors > 0 && part == Part::Heldout {
                bail!("--errors is for the tuning part: held-out errors are not looked at");
            }
            let corpus = corpus::corpus(part, seed, events);
            let mut report = score::Report::default();
            let started = std::time::Instant::now();
            for l in &corpus {
                score::add(&mut report, &l.event, &l.findings, &l.clean);
            }
            let took = started.elapsed();
            print!("{}", report.render());
            println!("scored in {:.2}s", took.as_secs_f64());
            for (i, p, c, kind, det) in report.errors.iter().take(errors) {
                let value = corpus[*i].event.pointer(p).cloned().unwrap_or(Value::Null);
                println!("{kind} event {i} {p} {c} {det} {value}");
            }
        }
        Some("gen") => {
            let Some(part) = part else {
                bail!("gen needs --part tuning|heldout")
            };
            let out = std::path::PathBuf::from(flag("--out").context("gen needs --out DIR")?);
            std::fs::create_dir_all(&out)?;
            let mut ev = std::io::BufWriter::new(std::fs::File::create(out.join("events.jsonl"))?);
            let mut tr = std::io::BufWriter::new(std::fs::File::create(out.join("truth.jsonl"))?);
            for (i, l) in corpus::corpus(part, seed, events).iter().enumerate() {
                writeln!(ev, "{}", l.event)?;
                let findings: Vec<Value> = l
                    .findings
                    .iter()
                    .map(|(p, c)| json!({"pointer": p, "category": c}))
                    .collect();
                writeln!(tr, "{}", json!({"line": i + 1, "findings": findings, "clean": l.clean}))?;
            }
            ev.flush()?;
            tr.flush()?;
        }
        Some("e2e") => {
            let Some(part) = part else {
                bail!("e2e needs --part tuning|heldout")
            };
            let sdk = flag("--sdk").unwrap_or_else(|| "python".to_owned());
            let figures = e2e::run(&corpus::corpus(part, seed, events), &sdk)?;
            print!("{}", figures.render(&sdk));
        }
        _ => bail!(
            "usage: detectgen score --part tuning|heldout [--seed N] [--events N] [--errors N] | score --eval | gen --part P --out DIR | e2e --part P --sdk python|node"
        ),
    }
    Ok(())
}
