//! Runs one ledger query on a store made by `ledgergen`, for profiling it alone:
//!
//! ```text
//! perf record -g cargo run --release --example ledgerquery -- DIR figures|people|subjects|persondays|verify
//! ```

use std::time::Instant;

use vendorwall::ledger::query::{figures, people};
use vendorwall::store::LedgerStore;
use vendorwall::store::sqlite::SqliteStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(what)) = (args.next(), args.next()) else {
        return Err("usage: ledgerquery DIR figures|people|subjects|persondays|verify".into());
    };
    let dir = std::path::PathBuf::from(dir);
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("ledgergen.json"))?)?;
    let (from, to) = (
        meta["from_ms"].as_i64().unwrap_or(0),
        meta["to_ms"].as_i64().unwrap_or(0),
    );
    // The generator's master key (`ledgergen` writes it into DIR): the ledger's chains are
    // keyed, so `verify` needs it.
    let key_text = std::fs::read_to_string(dir.join("master.key"))?;
    let key: [u8; 32] = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key_text.trim())?
        .try_into()
        .map_err(|_| "master.key must hold 32 bytes")?;
    let store = SqliteStore::open_keyed(&dir, &vendorwall::policy::keys::MasterKey::from_bytes(&key))?;
    let t = Instant::now();
    match what.as_str() {
        "figures" => println!("{} people", figures(&store, "mixpanel", from, to)?.people),
        "people" => println!("{} people", people(&store, "mixpanel", from, to)?.count()),
        "subjects" => {
            let mut n = 0u64;
            store.ledger_subjects(&mut |_| n += 1)?;
            println!("{n} subjects");
        }
        "persondays" => {
            let (mut days, mut pd, mut groups, mut damaged) = (0u64, 0u64, 0u64, 0u64);
            store.ledger_rollups("mixpanel", from, to, true, &mut |r, people| {
                days += 1;
                groups += r.groups.len() as u64;
                let Some(people) = people else { return };
                let walked = people.cursor().and_then(|mut c| {
                    while c.next_below(u64::MAX)?.is_some() {
                        pd += 1;
                    }
                    Ok(())
                });
                damaged += u64::from(walked.is_err());
            })?;
            println!("{days} spans, {pd} person-days, {groups} groups, {damaged} damaged person lists");
        }
        "verify" => {
            for v in store.verify_ledger()? {
                println!(
                    "{}: {} batches, {} entries, ok: {}",
                    v.destination,
                    v.batches,
                    v.entries,
                    v.ok()
                );
            }
        }
        other => return Err(format!("unknown query {other}").into()),
    }
    println!("{what}: {:.3}s", t.elapsed().as_secs_f64());
    Ok(())
}
