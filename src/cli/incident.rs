//! `vendorwall incident …`: declare a breach window at a vendor, see who is affected, act,
//! export the documents.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;

use super::{ConfigArg, load_admin, open_keyed_store, parse_date, parse_date_end};
use crate::incident::report::{Facts, Report};
use crate::incident::time::format_utc;
use crate::incident::{Desk, Incident, Open, Scope, Update};
use crate::store::now_ms;

/// What `open` and `update` both take: the dates the clocks start from and the data-range
/// override.
#[derive(clap::Args)]
pub struct Dates {
    #[arg(long)]
    title: Option<String>,
    /// When the vendor detected the breach.
    #[arg(long)]
    vendor_detected_at: Option<String>,
    /// When the vendor informed us (starts GDPR's 72 hours unless --aware-at says otherwise).
    #[arg(long)]
    informed_at: Option<String>,
    #[arg(long)]
    aware_at: Option<String>,
    /// When the incident was determined material (SEC 8-K Item 1.05).
    #[arg(long)]
    materiality_at: Option<String>,
    /// Override the derived data range.
    #[arg(long)]
    data_from: Option<String>,
    #[arg(long)]
    data_to: Option<String>,
}

/// Dates are `YYYY-MM-DD` or RFC 3339 UTC (`2025-11-09T14:00:00Z`).
#[derive(Subcommand)]
pub enum IncidentAction {
    /// Declare a breach window at a destination; prints the new incident's id first.
    Open {
        #[arg(long)]
        destination: String,
        /// Start of the breach window (T1).
        #[arg(long)]
        from: String,
        /// End of the breach window (T2).
        #[arg(long)]
        to: String,
        #[command(flatten)]
        dates: Dates,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Incidents, newest last.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// The current figures, deadlines and timeline of an incident.
    Show {
        id: i64,
        /// The whole incident (all revisions) as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Change the scope or dates; recomputes as a new revision and keeps the earlier ones.
    Update {
        id: i64,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        dates: Dates,
        /// When affected people were notified (starts the California Attorney General clock).
        #[arg(long)]
        users_notified_at: Option<String>,
        /// Forget an explicit data range: derive it from the window and the retention again.
        #[arg(long)]
        derive_data_range: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Kill switch: stop deliveries to the incident's destination (recorded on the timeline).
    Suspend {
        id: i64,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Rotate the destination's pseudonym key (recorded on the timeline).
    RotateKey {
        id: i64,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Write report.json, report.md, subjects.csv, regulator-notice.md, user-notice.md and
    /// vendor-deletion-request.json.
    Export {
        id: i64,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// The templates report.md and the notices are rendered from (docs/NOTICES.md).
    Templates {
        #[command(subcommand)]
        action: TemplatesAction,
    },
}

#[derive(Subcommand)]
pub enum TemplatesAction {
    /// Write the built-in templates into DIR, to edit and use as `[incident] templates_dir`.
    Dump {
        dir: PathBuf,
        /// Overwrite templates already in DIR.
        #[arg(long)]
        force: bool,
    },
}

fn date(flag: &str, v: Option<&String>) -> Result<Option<i64>> {
    // The end of a range: a bare date includes its whole day.
    let parse = if matches!(flag, "to" | "data-to") {
        parse_date_end
    } else {
        parse_date
    };
    v.map(|s| parse(s).ok_or_else(|| anyhow!("--{flag}: expected a date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")))
        .transpose()
}

/// The change the flags describe (breach window bounds as given, or unchanged).
fn update_of(from: Option<&String>, to: Option<&String>, d: Dates) -> Result<Update> {
    Ok(Update {
        breach_from_ms: date("from", from)?,
        breach_to_ms: date("to", to)?,
        data_from_ms: date("data-from", d.data_from.as_ref())?,
        data_to_ms: date("data-to", d.data_to.as_ref())?,
        vendor_detected_at_ms: date("vendor-detected-at", d.vendor_detected_at.as_ref())?,
        informed_at_ms: date("informed-at", d.informed_at.as_ref())?,
        aware_at_ms: date("aware-at", d.aware_at.as_ref())?,
        materiality_at_ms: date("materiality-at", d.materiality_at.as_ref())?,
        title: d.title,
        ..Update::default()
    })
}

pub fn run(action: IncidentAction) -> Result<()> {
    let config = match &action {
        IncidentAction::Templates {
            action: TemplatesAction::Dump { dir, force },
        } => return dump_templates(dir, *force),
        IncidentAction::Open { config, .. }
        | IncidentAction::List { config }
        | IncidentAction::Show { config, .. }
        | IncidentAction::Update { config, .. }
        | IncidentAction::Suspend { config, .. }
        | IncidentAction::RotateKey { config, .. }
        | IncidentAction::Export { config, .. } => config,
    };
    let cfg = load_admin(&config.config)?;
    // Keyed: every write of an incident extends its keyed chain of revisions.
    let store = open_keyed_store(&cfg)?;
    let desk = Desk {
        store: store.as_ref(),
        config: &cfg,
    };
    match action {
        IncidentAction::Open {
            destination,
            from,
            to,
            dates,
            ..
        } => {
            let u = update_of(Some(&from), Some(&to), dates)?;
            let scope = Scope {
                breach_from_ms: u.breach_from_ms.unwrap_or_default(),
                breach_to_ms: u.breach_to_ms.unwrap_or_default(),
                data_from_ms: u.data_from_ms,
                data_to_ms: u.data_to_ms,
                facts: Facts {
                    vendor_detected_at_ms: u.vendor_detected_at_ms,
                    informed_at_ms: u.informed_at_ms,
                    aware_at_ms: u.aware_at_ms,
                    materiality_at_ms: u.materiality_at_ms,
                    users_notified_at_ms: None,
                },
            };
            let open = Open {
                destination,
                title: u.title,
                scope,
            };
            let log = super::auditor(&cfg)?;
            let inc = desk.open(open, now_ms())?;
            super::record(&log, "incident.open", &inc.id.to_string())?;
            println!("{}", inc.id);
            print_summary(&inc);
        }
        IncidentAction::List { .. } => {
            let list = desk.list()?;
            if list.is_empty() {
                println!("no incidents");
            }
            for i in list {
                let r = i.current();
                println!(
                    "{}\t{}\t{}\t{} people\t{} records\trevision {}\t{}",
                    i.id,
                    i.destination,
                    format_utc(i.opened_at_ms),
                    r.map_or(0, |r| r.people),
                    r.map_or(0, |r| r.records),
                    i.revisions.len(),
                    i.title
                );
            }
        }
        IncidentAction::Show { id, json, .. } => {
            let mut inc = desk.get(id)?;
            desk.refresh_deadlines(&mut inc, now_ms());
            if json {
                println!("{}", serde_json::to_string_pretty(&inc)?);
            } else {
                print_summary(&inc);
            }
        }
        IncidentAction::Update {
            id,
            from,
            to,
            dates,
            users_notified_at,
            derive_data_range,
            ..
        } => {
            let u = Update {
                users_notified_at_ms: date("users-notified-at", users_notified_at.as_ref())?,
                derive_data_range,
                ..update_of(from.as_ref(), to.as_ref(), dates)?
            };
            let log = super::auditor(&cfg)?;
            let inc = desk.update(id, u, now_ms())?;
            super::record(&log, "incident.update", &id.to_string())?;
            print_summary(&inc);
        }
        IncidentAction::Suspend { id, .. } => {
            let log = super::auditor(&cfg)?;
            let inc = desk.suspend(id, now_ms())?;
            super::record(&log, "incident.suspend", &id.to_string())?;
            println!(
                "{}: suspended (running servers stop delivering within a second)",
                inc.destination
            );
        }
        IncidentAction::RotateKey { id, .. } => {
            let keys = super::store_keys(&cfg, store.as_ref())?;
            let log = super::auditor(&cfg)?;
            let inc = desk.rotate_key(id, &keys, now_ms())?;
            super::record(&log, "incident.rotate_key", &id.to_string())?;
            if let Some(e) = inc.timeline.last() {
                println!("{}", e.detail);
            }
        }
        IncidentAction::Templates { .. } => {}
        IncidentAction::Export { id, out, .. } => {
            let keys = super::store_keys(&cfg, store.as_ref())?;
            let log = super::auditor(&cfg)?;
            let x = desk
                .export(id, &out, &keys, now_ms())
                .with_context(|| format!("exporting incident {id}"))?;
            super::record(&log, "incident.export", &id.to_string())?;
            println!(
                "wrote {} files to {} ({} people, {} vendor ids)",
                x.files.len(),
                x.dir.display(),
                x.people,
                x.vendor_ids
            );
            if x.unopened > 0 {
                eprintln!(
                    "warning: {} sealed ids or emails did not open and are written as [unavailable] \
                     (sealed under other keys, or moved from another subject's row): run `vendorwall ledger verify`",
                    x.unopened
                );
            }
            for f in x.files {
                println!("  {f}");
            }
        }
    }
    Ok(())
}

/// `incident templates dump DIR`: the built-in templates, for a legal team to start from.
fn dump_templates(dir: &std::path::Path, force: bool) -> Result<()> {
    let written = crate::incident::render::dump_defaults(dir, force)?;
    println!(
        "wrote {} templates to {}; edit them and set `templates_dir` under [incident] to use them",
        written.len(),
        dir.display()
    );
    for path in written {
        println!("  {}", path.display());
    }
    Ok(())
}

/// The figures of the current revision, for people.
pub fn summary(inc: &Incident) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let Some(r) = inc.current() else {
        return s;
    };
    let _ = writeln!(s, "incident {} (revision {}): {}", inc.id, r.revision, inc.title);
    let _ = writeln!(
        s,
        "breach window {} – {}; data range {} – {}",
        format_utc(r.breach_from_ms),
        format_utc(r.breach_to_ms),
        format_utc(r.data_from_ms),
        format_utc(r.data_to_ms)
    );
    let _ = writeln!(s, "  ({})", r.data_range_basis);
    let _ = writeln!(
        s,
        "{} people, {} records delivered to {}",
        r.people, r.records, r.destination
    );
    write_categories(&mut s, r);
    if !r.held_back.is_empty() {
        let held: Vec<String> = r.held_back.iter().map(|(c, n)| format!("{c} ({n} records)")).collect();
        let _ = writeln!(s, "held back by the policy: {}", held.join(", "));
    }
    for d in &r.deadlines {
        let due = match (d.status.as_str(), d.due_at_ms) {
            ("not_applicable" | "not_started", _) => "—".to_owned(),
            (_, Some(ms)) => format!("due {}", format_utc(ms)),
            (_, None) => "without undue delay".to_owned(),
        };
        let _ = writeln!(s, "  clock {:<52} {:<14} {due}", d.name, d.status);
    }
    s
}

fn write_categories(s: &mut String, r: &Report) {
    use std::fmt::Write as _;
    for (c, e) in &r.categories {
        let _ = writeln!(
            s,
            "  {c:<40} {:>10} people {:>12} records{}",
            e.people,
            e.records,
            if e.pseudonymised_only {
                "  (keyed pseudonym only)"
            } else {
                ""
            }
        );
    }
}

fn print_summary(inc: &Incident) {
    print!("{}", summary(inc));
}
