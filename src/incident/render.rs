//! The documents `vendorwall incident export` renders from a [`Report`] with templates:
//! `report.md` (every figure, for the incident team), `regulator-notice.md` (a GDPR Art. 33
//! draft) and `user-notice.md` (the notice to affected people, California's five headings).
//!
//! The templates are [minijinja](https://docs.rs/minijinja) (Jinja2) files shipped in the
//! binary from `src/incident/templates/`. A deployment can replace any of them with a file
//! of the same name in `[incident] templates_dir`; the others stay built in. Each template
//! sees the [`Context`] of the revision (documented variable by variable in
//! `docs/NOTICES.md`) and a few filters: `utc`, `date`, `datetime`, `number` (the last three
//! locale-aware, see [`super::locale`]), `label`, `cell`, `join_and`; the test `under`; the
//! function `to_complete`.
//!
//! A template is checked when the configuration is loaded (start-up and `check-config`):
//! parsed, then rendered against an empty and a full sample revision, with undefined
//! variables as errors. An error names the template and the line; an export whose template
//! fails to render fails, and no document is written with an error in it.
//!
//! Drafts are filled with everything the report knows. Everything it cannot know (the
//! attack vector, a risk assessment, counts per country, a missing contact) is left for a
//! person with one marker, `[TO COMPLETE: …]` ([`TO_COMPLETE`]), so a reviewer can search
//! for it and nothing unfinished goes out unnoticed.
//!
//! A `Report` holds counts, category keys, field pointers, dates and organisation details
//! from the config, and the templates add only fixed text: the documents never contain
//! personal data. Dates are UTC.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::context::sample;
pub use super::context::{Context, category_label};
use super::locale::{self, DateStyle};
use super::report::Report;
use super::time::format_utc;
use crate::classify::taxonomy::covers;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Rest, Serde, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

/// How every item left for a person starts; it ends with `]`.
pub const TO_COMPLETE: &str = "[TO COMPLETE: ";

/// The rendered documents by file name, each with its built-in template.
pub const DEFAULTS: [(&str, &str); 3] = [
    ("report.md", include_str!("templates/report.md")),
    ("regulator-notice.md", include_str!("templates/regulator-notice.md")),
    ("user-notice.md", include_str!("templates/user-notice.md")),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} already exists (use --force to overwrite)")]
    Exists { path: PathBuf },
    #[error("{path} is not a notice template (expected one of report.md, regulator-notice.md, user-notice.md)")]
    Unknown { path: PathBuf },
    /// A template that does not parse or fails to render; `template` is its file (or
    /// `built-in NAME`).
    #[error("template {template}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        template: String,
        line: Option<usize>,
        message: String,
    },
}

/// The notice templates of a deployment: the built-in ones, some maybe replaced from a
/// directory. Cheap to clone.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    /// Per document (in [`DEFAULTS`] order), the file that replaced the built-in template.
    overrides: [Option<PathBuf>; 3],
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("overrides", &self.overrides).finish()
    }
}

impl Default for Templates {
    /// The built-in templates (checked by the tests; should one not compile, rendering it
    /// fails with an error rather than a panic).
    fn default() -> Templates {
        let mut errors = Vec::new();
        let env = compile(&[None, None, None], &DEFAULTS.map(|(_, t)| t.to_owned()), &mut errors);
        Templates {
            env: Arc::new(env),
            overrides: [None, None, None],
        }
    }
}

impl Templates {
    /// The built-in templates, each replaced by the file of the same name in `dir` if there
    /// is one. Every template is parsed and rendered against sample revisions; all errors
    /// are returned at once. Files in `dir` not ending in `.md` are ignored.
    pub fn load(dir: &Path) -> Result<Templates, Vec<TemplateError>> {
        let read = |path: &Path, source| TemplateError::Read {
            path: path.to_owned(),
            source,
        };
        let entries = std::fs::read_dir(dir).map_err(|e| vec![read(dir, e)])?;
        let mut errors = Vec::new();
        let mut overrides: [Option<PathBuf>; 3] = [None, None, None];
        let mut sources = DEFAULTS.map(|(_, t)| t.to_owned());
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for path in names {
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            if !file.ends_with(".md") || path.is_dir() {
                continue;
            }
            let Some(i) = DEFAULTS.iter().position(|(n, _)| *n == file) else {
                errors.push(TemplateError::Unknown { path });
                continue;
            };
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    sources[i] = text;
                    overrides[i] = Some(path);
                }
                Err(e) => errors.push(read(&path, e)),
            }
        }
        let env = compile(&overrides, &sources, &mut errors);
        let templates = Templates {
            env: Arc::new(env),
            overrides,
        };
        // Every template that parsed is rendered against the samples, so that one load
        // reports an undefined variable or an unknown locale beside a syntax error elsewhere.
        let parsed: Vec<&str> = DEFAULTS
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| templates.env.get_template(name).is_ok())
            .collect();
        for sample in [Report::default(), sample()] {
            for name in &parsed {
                if let Err(e) = templates.render(name, &sample)
                    && !errors.iter().any(|seen| seen.to_string() == e.to_string())
                {
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() { Ok(templates) } else { Err(errors) }
    }

    /// Renders one document (`report.md`, `regulator-notice.md`, `user-notice.md`).
    pub fn render(&self, name: &str, report: &Report) -> Result<String, TemplateError> {
        self.render_context(name, &Value::from(Serde(Context::of(report))))
    }

    /// Renders every document, in [`DEFAULTS`] order.
    pub fn render_all(&self, report: &Report) -> Result<Vec<(&'static str, String)>, TemplateError> {
        let context = Value::from(Serde(Context::of(report)));
        DEFAULTS
            .iter()
            .map(|(name, _)| Ok((*name, self.render_context(name, &context)?)))
            .collect()
    }

    fn render_context(&self, name: &str, context: &Value) -> Result<String, TemplateError> {
        let origin = match DEFAULTS.iter().position(|(n, _)| *n == name) {
            Some(i) => origin(&self.overrides, i),
            None => name.to_owned(),
        };
        let template = self.env.get_template(name).map_err(|e| invalid(&origin, &e))?;
        template.render(context).map_err(|e| invalid(&origin, &e))
    }
}

/// How errors name document `i`'s template: the file that replaced it, or `built-in NAME`.
fn origin(overrides: &[Option<PathBuf>; 3], i: usize) -> String {
    match &overrides[i] {
        Some(path) => path.display().to_string(),
        None => format!("built-in {}", DEFAULTS[i].0),
    }
}

/// Writes the built-in templates into `dir` (created if missing) as a starting point for
/// `templates_dir`. Without `force`, nothing is written if any of the files exists.
pub fn dump_defaults(dir: &Path, force: bool) -> Result<Vec<PathBuf>, TemplateError> {
    let paths: Vec<PathBuf> = DEFAULTS.iter().map(|(name, _)| dir.join(name)).collect();
    if !force && let Some(path) = paths.iter().find(|p| p.exists()) {
        return Err(TemplateError::Exists { path: path.clone() });
    }
    std::fs::create_dir_all(dir).map_err(|source| TemplateError::Write {
        path: dir.to_owned(),
        source,
    })?;
    for (path, (_, text)) in paths.iter().zip(DEFAULTS) {
        let mut options = std::fs::OpenOptions::new();
        options.write(true);
        if force {
            options.create(true).truncate(true);
        } else {
            options.create_new(true);
        }
        let written = options
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
        written.map_err(|source| TemplateError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(paths)
}

fn invalid(template: &str, e: &Error) -> TemplateError {
    let message = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    TemplateError::Invalid {
        template: template.to_owned(),
        line: e.line(),
        message,
    }
}

/// An environment with the documents' templates, the filters, tests and functions; a
/// template that does not parse is reported in `errors` and left out.
fn compile(
    overrides: &[Option<PathBuf>; 3],
    sources: &[String; 3],
    errors: &mut Vec<TemplateError>,
) -> Environment<'static> {
    let mut env = Environment::new();
    // Lines holding only a block tag leave nothing behind, and a file's last newline stays.
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build();
    match syntax {
        Ok(syntax) => env.set_syntax(syntax),
        Err(e) => errors.push(invalid("syntax", &e)),
    }
    // A misspelt variable fails the export instead of printing nothing.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_filter("utc", utc);
    env.add_filter("date", date);
    env.add_filter("datetime", datetime);
    env.add_filter("number", number);
    env.add_filter("label", |key: &str| category_label(key).to_owned());
    env.add_filter("cell", |text: &str| cell(text));
    env.add_filter("join_and", join_and);
    env.add_test("under", |key: &str, parents: Rest<String>| {
        parents.iter().any(|p| covers(p, key))
    });
    env.add_function("to_complete", |what: &str| format!("{TO_COMPLETE}{what}]"));
    for (i, (name, _)) in DEFAULTS.iter().enumerate() {
        if let Err(e) = env.add_template_owned(*name, sources[i].clone()) {
            errors.push(invalid(&origin(overrides, i), &e));
        }
    }
    env
}

// ---------------------------------------------------------------------------------------
// Filters

fn bad(message: &str) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.to_owned())
}

/// A date of the context (UTC milliseconds since the epoch); `None` for none.
fn timestamp(value: &Value) -> Result<Option<i64>, Error> {
    if value.is_none() {
        return Ok(None);
    }
    i64::try_from(value.clone())
        .map(Some)
        .map_err(|_| bad("expected a date (milliseconds since the epoch) or none"))
}

fn locale_of(kwargs: &Kwargs) -> Result<&'static locale::Locale, Error> {
    let code: Option<&str> = kwargs.get("locale")?;
    match code {
        None => Ok(&locale::LOCALES[0]),
        Some(code) => {
            locale::find(code).ok_or_else(|| bad(&format!("unknown locale (supported: {})", locale::codes())))
        }
    }
}

/// `{{ d | utc }}`: `2025-11-08T14:00:00Z`; none stays none.
fn utc(value: Value) -> Result<Value, Error> {
    Ok(timestamp(&value)?.map(format_utc).into())
}

/// `{{ d | date }}`: `2025-11-08`; `date(locale="fr", style="long")`: `8 novembre 2025`.
/// With a locale the style defaults to `long`; without one, to `iso`. None stays none.
fn date(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let locale = locale_of(&kwargs)?;
    let style: Option<&str> = kwargs.get("style")?;
    let style = match style {
        None if kwargs.has("locale") => DateStyle::Long,
        None => DateStyle::Iso,
        Some(s) => DateStyle::parse(s).ok_or_else(|| bad("unknown date style (supported: iso, short, long)"))?,
    };
    kwargs.assert_all_used()?;
    Ok(timestamp(&value)?.map(|ms| locale.date(ms, style)).into())
}

/// `{{ d | datetime(locale="de") }}`: `8. November 2025, 14:00 UTC`. None stays none.
fn datetime(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let locale = locale_of(&kwargs)?;
    kwargs.assert_all_used()?;
    Ok(timestamp(&value)?.map(|ms| locale.datetime(ms)).into())
}

/// `{{ n | number(locale="de") }}`: `38.211`; `decimals=1` for fractions.
fn number(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    let locale = locale_of(&kwargs)?;
    let decimals: Option<usize> = kwargs.get("decimals")?;
    kwargs.assert_all_used()?;
    match (i128::try_from(value.clone()), decimals) {
        (Ok(n), None) => Ok(locale.integer(n)),
        _ => {
            let x = f64::try_from(value).map_err(|_| bad("expected a number"))?;
            Ok(locale.decimal(x, decimals.unwrap_or(2).min(20)))
        }
    }
}

/// `a`, `a and b`, `a, b and c`; `join_and(word="und")` in another language.
fn join_and(items: Vec<String>, kwargs: Kwargs) -> Result<String, Error> {
    let word: Option<&str> = kwargs.get("word")?;
    kwargs.assert_all_used()?;
    let word = word.unwrap_or("and");
    Ok(match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {word} {last}", rest.join(", ")),
    })
}

/// Text safe inside one Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::classify::taxonomy::CATEGORIES;
    use crate::incident::deadlines::{default_rules, evaluate};
    use crate::incident::report::{CategoryExposure, Facts, Organisation, SourceExposure, TimelineEntry};
    use crate::incident::time::{MS_PER_DAY, MS_PER_HOUR, days_from_civil};

    fn report_markdown(r: &Report) -> String {
        Templates::default().render("report.md", r).unwrap()
    }

    fn regulator_notice(r: &Report) -> String {
        Templates::default().render("regulator-notice.md", r).unwrap()
    }

    fn user_notice(r: &Report) -> String {
        Templates::default().render("user-notice.md", r).unwrap()
    }

    fn at(month: u32, day: u32, hour: i64) -> i64 {
        days_from_civil(2025, month, day) * MS_PER_DAY + hour * MS_PER_HOUR
    }

    fn exposure(people: u64, records: u64, pseudonymised_only: bool) -> CategoryExposure {
        CategoryExposure {
            people,
            records,
            pseudonymised_only,
        }
    }

    fn entry(at_ms: i64, kind: &str, detail: &str) -> TimelineEntry {
        TimelineEntry {
            at_ms,
            kind: kind.into(),
            detail: detail.into(),
        }
    }

    /// The Mixpanel case: email and approximate location in clear, user ids as pseudonyms.
    fn mixpanel() -> Report {
        let facts = Facts {
            vendor_detected_at_ms: Some(at(11, 8, 0)),
            informed_at_ms: Some(at(11, 25, 0)),
            aware_at_ms: Some(at(11, 25, 0)),
            materiality_at_ms: None,
            users_notified_at_ms: None,
        };
        let categories = BTreeMap::from([
            ("user.contact.email".to_string(), exposure(1204, 38211, false)),
            ("user.location.coarse".to_string(), exposure(1187, 36002, false)),
            ("user.unique_id".to_string(), exposure(1204, 38211, true)),
        ]);
        let keys: Vec<&str> = categories.keys().map(String::as_str).collect();
        let generated_at_ms = at(11, 26, 10);
        let deadlines = evaluate(&default_rules(), &facts, 1204, &keys, generated_at_ms);
        Report {
            incident_id: "inc-7".into(),
            revision: 2,
            title: "Mixpanel breach, November 2025".into(),
            destination: "mixpanel".into(),
            vendor: String::new(),
            breach_from_ms: at(11, 8, 0),
            breach_to_ms: at(11, 9, 23),
            data_from_ms: at(8, 10, 0),
            data_to_ms: at(11, 9, 23),
            data_range_basis: "breach window less the vendor's retention".into(),
            vendor_retention_days: Some(90),
            facts,
            generated_at_ms,
            people: 1204,
            records: 38211,
            categories,
            fields: BTreeMap::from([
                ("/properties/$email".to_string(), 38211),
                ("/properties/$city".to_string(), 36002),
                ("/properties/distinct_id".to_string(), 38211),
            ]),
            first_exposure_ms: Some(at(8, 10, 7)),
            last_exposure_ms: Some(at(11, 9, 22)),
            sources: BTreeMap::from([
                (
                    "web".to_string(),
                    SourceExposure {
                        people: 1100,
                        records: 30000,
                    },
                ),
                (
                    "ios".to_string(),
                    SourceExposure {
                        people: 150,
                        records: 8211,
                    },
                ),
            ]),
            held_back: BTreeMap::from([
                ("user.device.ip_address".to_string(), 38211),
                ("user.contact.phone_number".to_string(), 210),
            ]),
            vendor_ids: 1310,
            deadlines,
            timeline: vec![
                entry(at(11, 25, 9), "opened", "Opened from the vendor's notice"),
                entry(at(11, 25, 11), "destination_suspended", "Deliveries to mixpanel paused"),
                entry(
                    at(11, 25, 12),
                    "key_rotated",
                    "Pseudonymisation key version 3 replaced by 4",
                ),
            ],
            organisation: Organisation {
                name: Some("Example Analytics Ltd".into()),
                contact_email: Some("privacy@example.com".into()),
                contact_phone: None,
                dpo_name: None,
                dpo_email: None,
                lead_authority: Some("Data Protection Commission (Ireland)".into()),
                website: Some("example.com".into()),
            },
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    fn headings(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with("## ")).collect()
    }

    /// The text before the first `:` of every line that holds a marker.
    fn marked_items(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.contains(TO_COMPLETE))
            .map(|l| l.split(':').next().unwrap_or(l))
            .collect()
    }

    /// What every marker asks for.
    fn markers(text: &str) -> Vec<&str> {
        text.split(TO_COMPLETE)
            .skip(1)
            .map(|rest| rest.split(']').next().unwrap_or(rest))
            .collect()
    }

    fn line_starting<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines().find(|l| l.starts_with(prefix)).unwrap()
    }

    #[test]
    fn labels_are_plain_language_with_the_key_as_fallback() {
        assert_eq!(category_label("user.contact.email"), "email address");
        assert_eq!(category_label("user.name"), "name");
        assert_eq!(
            category_label("user.location.coarse"),
            "approximate location (city, region, country)"
        );
        assert_eq!(category_label("user.device"), "device and browser information");
        assert_eq!(
            category_label("user.behavior.browsing_history"),
            "pages visited and referring websites"
        );
        assert_eq!(category_label("user.unique_id"), category_label("user.account"));
        assert_eq!(
            category_label("user.financial.crypto_wallet"),
            "cryptocurrency wallet address"
        );
        assert_eq!(category_label("user.sideways.novel"), "user.sideways.novel");
        for c in CATEGORIES {
            assert_ne!(
                category_label(c.key),
                c.key,
                "every emitted category has a label: {}",
                c.key
            );
        }
    }

    #[test]
    fn report_holds_every_figure() {
        let md = report_markdown(&mixpanel());
        let all = lines(&md);
        assert_eq!(all[0], "# Mixpanel breach, November 2025");
        for expected in [
            "Incident `inc-7`, revision 2. Generated 2025-11-26T10:00:00Z.",
            "- Destination: mixpanel",
            "- Breach window at the vendor: from 2025-11-08T00:00:00Z to 2025-11-09T23:00:00Z",
            "- Data range: from 2025-08-10T00:00:00Z to 2025-11-09T23:00:00Z",
            "- Basis of the data range: breach window less the vendor's retention",
            "- Vendor retention: 90 days",
            "- Affected people: 1204 distinct (linked ids count once)",
            "- Records delivered in the data range: 38211",
            "- Distinct ids as the vendor knows them: 1310",
            "- First exposure: 2025-08-10T07:00:00Z",
            "- Last exposure: 2025-11-09T22:00:00Z",
            "| email address | `user.contact.email` | 1204 | 38211 | no |",
            "| approximate location (city, region, country) | `user.location.coarse` | 1187 | 36002 | no |",
            "| account and user identifiers | `user.unique_id` | 1204 | 38211 | yes |",
            "| `/properties/$email` | 38211 |",
            "| web | 1100 | 30000 |",
            "| IP address | `user.device.ip_address` | 38211 |",
            "| phone number | `user.contact.phone_number` | 210 |",
            "| 2025-11-25T11:00:00Z | destination_suspended | Deliveries to mixpanel paused |",
        ] {
            assert!(all.contains(&expected), "missing line {expected:?} in\n{md}");
        }
        assert!(md.contains("Good news: these categories came in"));
        assert_eq!(
            headings(&md),
            [
                "## Categories sent",
                "## Fields sent",
                "## By source",
                "## Held back by the policy",
                "## Deadline clocks",
                "## Timeline"
            ]
        );
        assert!(!md.contains(TO_COMPLETE), "the report states facts only");
    }

    #[test]
    fn report_shows_the_deadline_clocks() {
        let md = report_markdown(&mixpanel());
        let gdpr = line_starting(&md, "| GDPR Art. 33 |");
        assert!(
            gdpr.starts_with(
                "| GDPR Art. 33 | lead supervisory authority | aware | 2025-11-25T00:00:00Z | 2025-11-28T00:00:00Z | \
                 running | 72 hours from aware."
            ),
            "{gdpr}"
        );
        let art34 = line_starting(&md, "| GDPR Art. 34 |");
        assert!(art34.contains("| without undue delay | running |"), "{art34}");
        let sec = line_starting(&md, "| SEC Form 8-K Item 1.05 |");
        assert!(sec.contains("| materiality | - | - | not_started |"), "{sec}");
        let ca = line_starting(&md, "| California Civ. Code 1798.82 |");
        assert!(
            ca.contains("| not_applicable | None of its trigger categories was exposed"),
            "{ca}"
        );
        let mut late = mixpanel();
        late.deadlines = evaluate(&default_rules(), &late.facts, 1204, &[], at(11, 29, 0));
        assert!(report_markdown(&late).contains("| 2025-11-28T00:00:00Z | **overdue** |"));
    }

    #[test]
    fn empty_report_renders_without_panicking() {
        let r = Report::default();
        let md = report_markdown(&r);
        assert!(md.starts_with("# Incident \n"));
        assert!(md.contains("The vendor received no classified personal data in the data range."));
        assert!(md.contains("Nothing was held back"));
        assert!(md.contains("No deadline rules were evaluated."));
        assert!(md.contains("- First exposure: -"));
        let notice = regulator_notice(&r);
        assert!(notice.contains("- Legal name: [TO COMPLETE: legal name of the organisation]"));
        assert!(notice.contains("- We became aware: [TO COMPLETE: when we became aware]"));
        let user = user_notice(&r);
        assert!(user.contains("Our records show no personal information among what we sent"));
        assert_eq!(headings(&user).len(), 5);
    }

    #[test]
    fn extreme_values_render_without_panicking() {
        let mut r = mixpanel();
        r.people = u64::MAX;
        r.breach_from_ms = i64::MIN;
        r.breach_to_ms = i64::MAX;
        r.generated_at_ms = i64::MAX;
        r.facts.vendor_detected_at_ms = Some(i64::MIN);
        r.facts.informed_at_ms = Some(i64::MAX);
        r.facts.aware_at_ms = Some(i64::MIN);
        r.timeline.push(entry(i64::MIN, "key_rotated", ""));
        assert!(report_markdown(&r).contains(&format!("- Affected people: {} distinct", u64::MAX)));
        assert!(regulator_notice(&r).contains("- Reasons for delay: this report is 5124095576030 hours after"));
        // Dates are clamped to the calendar's range (years -9999 to 9999).
        assert!(user_notice(&r).contains("between -9999-01-02 and 9999-12-30"));
    }

    #[test]
    fn table_cells_cannot_break_the_table() {
        let mut r = mixpanel();
        r.timeline = vec![entry(0, "scope_changed", "range | widened\nby a week")];
        let md = report_markdown(&r);
        assert!(
            md.contains("| 1970-01-01T00:00:00Z | scope_changed | range \\| widened by a week |"),
            "{md}"
        );
    }

    #[test]
    fn regulator_notice_fills_what_the_data_knows() {
        let notice = regulator_notice(&mixpanel());
        let all = lines(&notice);
        assert_eq!(all[0], "# Personal data breach notification (GDPR Art. 33): draft");
        for expected in [
            "- Phase: initial (Art. 33(4): further information will follow in phases)",
            "- Internal reference: inc-7 (revision 2)",
            "- Legal name: Example Analytics Ltd",
            "- Lead supervisory authority: Data Protection Commission (Ireland)",
            "- Other contact point: privacy@example.com",
            "- Breach window at mixpanel: from 2025-11-08T00:00:00Z to 2025-11-09T23:00:00Z",
            "- The vendor detected the breach: 2025-11-08T00:00:00Z",
            "- The vendor informed us: 2025-11-25T00:00:00Z",
            "- We became aware: 2025-11-25T00:00:00Z",
            "- Reasons for delay: none needed: this report is within 72 hours of our becoming aware",
            "- Vendor involved: mixpanel, an analytics vendor acting as our processor (Art. 28)",
            "- Approximate number: 38211 records sent to mixpanel from 2025-08-10T00:00:00Z to 2025-11-09T23:00:00Z",
            "| email address | `user.contact.email` | 1204 | 38211 | in clear |",
            "| account and user identifiers | `user.unique_id` | 1204 | 38211 | pseudonym only |",
            "- Credentials, financial or government identification data: none",
            "- Special categories (Art. 9): none detected by vendorwall's classifier",
            "- targeted phishing using real contact details",
            "- 2025-11-25T11:00:00Z: stopped sending data to the vendor (Deliveries to mixpanel paused)",
            "  - web: 1100 people, 30000 records",
        ] {
            assert!(all.contains(&expected), "missing line {expected:?} in\n{notice}");
        }
        assert!(notice.contains("- Approximate number: 1204 people (distinct;"));
        assert!(notice.contains("by 1310 distinct identifiers"));
        let pseudonyms = line_starting(&notice, "- Pseudonymisation:");
        assert!(pseudonyms.starts_with(
            "- Pseudonymisation: sent to mixpanel only as keyed pseudonyms: account and user identifiers."
        ));
        assert!(pseudonyms.contains("Art. 34(3)(a)"));
        assert!(
            line_starting(&notice, "- 2025-11-25T12:00:00Z: rotated the pseudonymisation key")
                .ends_with("(Pseudonymisation key version 3 replaced by 4)")
        );
    }

    #[test]
    fn regulator_notice_marks_exactly_what_a_person_must_complete() {
        let notice = regulator_notice(&mixpanel());
        assert_eq!(
            marked_items(&notice),
            [
                "- Main establishment in the EU",
                "- NIS2 entity class and sector",
                "- Data protection officer",
                "- Vector",
                "- Sub-processors involved",
                "- Unlawful or malicious act suspected",
                "- Cross-border impact",
                "- Categories of data subjects",
                "- Data subjects per country",
                "- Children's data",
                "- Likely consequences",
                "- Risk level",
                "- Status",
                "- Vendor's breach notice",
            ]
        );

        let mut r = mixpanel();
        r.organisation.dpo_name = Some("Office of the DPO".into());
        r.organisation.dpo_email = Some("dpo@example.com".into());
        r.facts.users_notified_at_ms = Some(at(11, 26, 9));
        let notice = regulator_notice(&r);
        assert!(notice.contains("\n- Data protection officer: Office of the DPO, dpo@example.com\n"));
        assert!(!marked_items(&notice).contains(&"- Data protection officer"));
        assert!(notice.contains("- Sent: 2025-11-26T09:00:00Z [TO COMPLETE: channel; attach a copy]"));

        r.organisation = Organisation::default();
        r.timeline.clear();
        let notice = regulator_notice(&r);
        let marked = marked_items(&notice);
        for item in [
            "- Legal name",
            "- Lead supervisory authority",
            "- Other contact point",
            "- Containment",
        ] {
            assert!(marked.contains(&item), "{item} marked when missing");
        }
    }

    #[test]
    fn regulator_notice_asks_for_reasons_when_late() {
        let mut r = mixpanel();
        r.generated_at_ms = at(11, 29, 10);
        let notice = regulator_notice(&r);
        let reasons = line_starting(&notice, "- Reasons for delay:");
        assert_eq!(
            reasons,
            "- Reasons for delay: this report is 106 hours after we became aware. The vendor informed us 17 days \
             after it detected the breach. [TO COMPLETE: reasons for the delay]"
        );
        r.facts.aware_at_ms = None;
        r.facts.informed_at_ms = None;
        let notice = regulator_notice(&r);
        assert!(
            notice.contains("- We became aware: 2025-11-25T09:00:00Z"),
            "falls back to the opening time"
        );
    }

    #[test]
    fn regulator_notice_flags_sensitive_categories() {
        let mut r = mixpanel();
        r.categories
            .insert("user.government_id.passport_number".into(), exposure(3, 3, false));
        r.categories
            .insert("user.behavior.browsing_history".into(), exposure(900, 9000, false));
        r.categories
            .insert("user.health_and_medical".into(), exposure(2, 2, false));
        let notice = regulator_notice(&r);
        assert!(notice.contains("- Credentials, financial or government identification data: yes: passport number\n"));
        let special = line_starting(&notice, "- Special categories (Art. 9):");
        assert!(
            special.starts_with("- Special categories (Art. 9): yes: health or medical information; pages visited")
        );
        assert!(special.contains(TO_COMPLETE));
        assert!(notice.contains("- identity theft\n"));
    }

    #[test]
    fn user_notice_has_the_california_headings_in_order() {
        let notice = user_notice(&mixpanel());
        assert!(notice.starts_with("# Notice of Data Breach\n"));
        assert_eq!(
            headings(&notice),
            [
                "## What Happened",
                "## What Information Was Involved",
                "## What We Are Doing",
                "## What You Can Do",
                "## For More Information"
            ]
        );
    }

    #[test]
    fn user_notice_says_what_was_sent_and_what_only_as_pseudonyms() {
        let notice = user_notice(&mixpanel());
        let all = lines(&notice);
        for expected in [
            "**Example Analytics Ltd**",
            "Date of this notice: 2025-11-26",
            "On 2025-11-08, mixpanel discovered the incident; it told us on 2025-11-25.",
            "- email address",
            "- approximate location (city, region, country)",
            "- account and user identifiers, only in coded form",
            "- Someone could use your contact details to send you messages that look like they come from us.",
            "- On 2025-11-25, we stopped sending data to mixpanel.",
            "If you have questions, contact us: privacy@example.com.",
            "Please quote reference inc-7 when you contact us.",
        ] {
            assert!(all.contains(&expected), "missing line {expected:?} in\n{notice}");
        }
        assert!(notice.contains("had a security incident between 2025-11-08 and 2025-11-09:"));
        assert!(notice.contains("Between 2025-08-10 and 2025-11-09 it included"));
        assert!(notice.contains("We sent your account and user identifiers only in coded form (a pseudonym)"));
        assert!(!notice.contains("IP address"), "held-back categories were not involved");
        assert!(!notice.contains("user.contact"), "plain language, no taxonomy keys");
    }

    #[test]
    fn user_notice_gives_concrete_phishing_guidance() {
        let notice = user_notice(&mixpanel());
        for expected in [
            "We will never ask for your password",
            "Check the sender's address",
            "messages asking you to verify, unlock or update your account",
            "Go to our website by typing example.com yourself instead.",
            "multi-factor authentication (MFA)",
        ] {
            assert!(notice.contains(expected), "{expected}");
        }
        for absent in [
            "Equifax",
            "identity theft prevention",
            "Change your password",
            "recovery phrase",
        ] {
            assert!(!notice.contains(absent), "{absent} only when such data was involved");
        }
        assert_eq!(
            markers(&notice),
            [
                "one or two plain sentences on what happened at the vendor",
                "whether this notice was delayed at the request of law enforcement"
            ]
        );
    }

    #[test]
    fn user_notice_adds_credit_bureaus_for_identification_and_financial_data() {
        let mut r = mixpanel();
        r.categories.insert(
            "user.government_id.national_identification_number".into(),
            exposure(5, 5, false),
        );
        r.categories
            .insert("user.financial.crypto_wallet".into(), exposure(5, 5, true));
        r.categories
            .insert("user.authorization.credentials".into(), exposure(2, 2, false));
        let notice = user_notice(&r);
        assert!(notice.contains("- national identification number (such as a Social Security number)\n"));
        assert!(notice.contains("- cryptocurrency wallet address, only in coded form\n"));
        assert!(notice.contains("Equifax (equifax.com), Experian (experian.com) and TransUnion (transunion.com)"));
        assert!(notice.contains(
            "[TO COMPLETE: our offer of identity theft prevention and mitigation services at no cost for at least 12 \
             months, and how to enrol]"
        ));
        assert!(notice.contains("- Change your password with us, and anywhere else you used the same password."));
        assert!(notice.contains("recovery phrase"));
        assert!(notice.contains("- Someone could try to sign in to your account."));
    }

    #[test]
    fn user_notice_marks_missing_contact_and_dates() {
        let mut r = mixpanel();
        r.organisation = Organisation::default();
        r.facts.vendor_detected_at_ms = None;
        r.timeline.clear();
        let notice = user_notice(&r);
        assert!(notice.contains("**[TO COMPLETE: organisation name]**"));
        assert!(
            notice
                .contains("On [TO COMPLETE: date the vendor discovered it], mixpanel discovered the incident; it told")
        );
        assert!(
            notice.contains("contact us: [TO COMPLETE: contact email, and a toll-free phone number where required].")
        );
        assert!(notice.contains("- [TO COMPLETE: what we did to contain the incident and what we will do next]"));

        r.organisation.dpo_email = Some("dpo@example.com".into());
        assert!(user_notice(&r).contains("You can also write to our data protection officer at dpo@example.com."));
    }

    #[test]
    fn markers_are_uniform_and_closed() {
        let mut r = mixpanel();
        r.organisation = Organisation::default();
        r.categories
            .insert("user.financial.bank_account".into(), exposure(1, 1, false));
        for text in [regulator_notice(&r), user_notice(&r), report_markdown(&r)] {
            for line in text.lines() {
                for (i, _) in line.match_indices("[TO COMPLETE") {
                    assert!(line[i..].starts_with(TO_COMPLETE), "{line}");
                    assert!(line[i..].contains(']'), "{line}");
                }
                assert!(!line.contains("TODO") && !line.contains("TBD"), "{line}");
            }
        }
    }

    /// Notices name the vendor by its display name; the destination's own name stays in the
    /// report's header.
    #[test]
    fn notices_name_the_vendor_by_its_display_name() {
        let mut r = mixpanel();
        r.destination = "analytics-eu".into();
        r.vendor = "Amplitude".into();
        let md = report_markdown(&r);
        assert!(md.contains("- Destination: analytics-eu (Amplitude)"), "{md}");
        let notice = regulator_notice(&r);
        assert!(
            notice.contains("- Vendor involved: Amplitude, an analytics vendor"),
            "{notice}"
        );
        assert!(!notice.contains("analytics-eu"), "{notice}");
        let user = user_notice(&r);
        assert!(user.contains("Amplitude") && !user.contains("analytics-eu"), "{user}");
    }

    /// Reports that between them take every branch of the three documents.
    fn variants() -> Vec<(&'static str, Report)> {
        let mut out = vec![("mixpanel", mixpanel()), ("empty", Report::default())];
        let mut r = mixpanel();
        r.people = u64::MAX;
        r.breach_from_ms = i64::MIN;
        r.breach_to_ms = i64::MAX;
        r.generated_at_ms = i64::MAX;
        r.facts.vendor_detected_at_ms = Some(i64::MIN);
        r.facts.informed_at_ms = Some(i64::MAX);
        r.facts.aware_at_ms = Some(i64::MIN);
        r.timeline.push(entry(i64::MIN, "key_rotated", ""));
        out.push(("extreme", r));
        let mut r = mixpanel();
        r.timeline.push(entry(0, "scope_changed", "range | widened\nby a week"));
        r.timeline.push(entry(at(11, 27, 1), "deletion_requested", "  asked  "));
        r.generated_at_ms = at(11, 29, 10);
        r.vendor = "Amplitude".into();
        r.destination = "analytics-eu".into();
        r.title = "   ".into();
        r.vendor_retention_days = None;
        r.data_range_basis = " ".into();
        r.first_exposure_ms = None;
        r.organisation.dpo_name = Some("Office of the DPO".into());
        r.organisation.dpo_email = Some("dpo@example.com".into());
        r.organisation.contact_phone = Some(" +1 555 0100 ".into());
        r.organisation.website = Some("  ".into());
        r.facts.users_notified_at_ms = Some(at(11, 26, 9));
        r.deadlines = evaluate(&default_rules(), &r.facts, 1204, &[], at(11, 29, 0));
        for (k, p) in [
            ("user.government_id.passport_number", false),
            ("user.government_id.national_identification_number", false),
            ("user.behavior.browsing_history", false),
            ("user.health_and_medical", false),
            ("user.financial.crypto_wallet", true),
            ("user.financial.bank_account", false),
            ("user.authorization.credentials", false),
            ("user.location.precise", false),
            ("user.account", true),
            ("user.sideways.novel|x", false),
        ] {
            r.categories.insert(k.into(), exposure(3, 4, p));
        }
        r.fields.insert("/properties/a|b".into(), 5);
        r.sources.clear();
        out.push(("late-sensitive", r));
        let mut r = mixpanel();
        r.organisation = Organisation::default();
        r.organisation.dpo_email = Some("dpo@example.com".into());
        r.facts = Facts::default();
        r.timeline = vec![entry(at(11, 25, 9), "opened", "o")];
        r.generated_at_ms = at(11, 30, 0);
        r.held_back.clear();
        r.fields.clear();
        r.breach_to_ms = at(11, 8, 5);
        out.push(("no-org", r));
        let mut r = mixpanel();
        r.facts = Facts::default();
        r.facts.vendor_detected_at_ms = Some(at(11, 1, 0));
        r.facts.informed_at_ms = Some(at(11, 20, 0));
        r.timeline.clear();
        r.organisation.dpo_name = Some("Jo".into());
        r.organisation.contact_email = None;
        r.organisation.contact_phone = Some("+1 555".into());
        for c in r.categories.values_mut() {
            c.pseudonymised_only = true;
        }
        out.push(("all-pseudonymised", r));
        out
    }

    /// Every built-in template renders each variant exactly as `src/incident/golden/` holds
    /// it (dates past the years ±9999 are clamped to them).
    #[test]
    fn defaults_render_the_golden_documents() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/incident/golden");
        let templates = Templates::default();
        for (variant, r) in variants() {
            for (name, _) in DEFAULTS {
                let path = dir.join(format!("{variant}.{name}"));
                let got = templates.render(name, &r).unwrap();
                // `VENDORWALL_BLESS=1` writes what the templates render now (review the diff).
                if std::env::var_os("VENDORWALL_BLESS").is_some() {
                    std::fs::write(&path, &got).unwrap();
                }
                let want = std::fs::read_to_string(&path).unwrap();
                let first_difference = want.lines().zip(got.lines()).position(|(a, b)| a != b);
                assert!(
                    got == want,
                    "{} differs (first at line {:?})\n{got}",
                    path.display(),
                    first_difference.map(|i| i + 1)
                );
            }
        }
    }
}

#[cfg(test)]
mod custom {
    use super::*;
    use crate::incident::report::CategoryExposure;
    use crate::incident::time::{MS_PER_DAY, MS_PER_HOUR, days_from_civil};

    /// A fresh directory holding `files`.
    fn dir_with(tag: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vendorwall-templates-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    fn errors(dir: &Path) -> Vec<String> {
        match Templates::load(dir) {
            Ok(_) => panic!("{} should not load", dir.display()),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_file_in_the_directory_replaces_its_default_and_the_others_stay() {
        let german = "# Benachrichtigung\n\n\
            {{ organisation.name }}, {{ generated_at | date(locale=\"de\") }}\n\
            {{ people | number(locale=\"de\") }} Personen, {{ records | number }} records, \
            {{ breach_from | date(locale=\"fr\", style=\"short\") }}, {{ breach_to | datetime(locale=\"es\") }}\n\
            {% for c in categories %}\n- {{ c.key | label }}{{ \" (kodiert)\" if c.pseudonymised_only else \"\" }}\n{% endfor %}\n\
            {{ sent | map(attribute=\"label\") | list | join_and(word=\"und\") }}\n";
        let dir = dir_with("custom", &[("user-notice.md", german), ("notes.txt", "ignored")]);
        let templates = Templates::load(&dir).unwrap();
        let mut r = Report::default();
        r.organisation.name = Some("Beispiel GmbH".into());
        r.generated_at_ms = days_from_civil(2025, 11, 26) * MS_PER_DAY;
        r.breach_from_ms = days_from_civil(2025, 11, 8) * MS_PER_DAY;
        r.breach_to_ms = r.breach_from_ms + 14 * MS_PER_HOUR;
        r.people = 1_234_567;
        r.records = 38_211;
        for (key, pseudonymised_only) in [("user.contact.email", false), ("user.unique_id", true)] {
            let exposure = CategoryExposure {
                people: 1,
                records: 1,
                pseudonymised_only,
            };
            r.categories.insert(key.into(), exposure);
        }
        assert_eq!(
            templates.render("user-notice.md", &r).unwrap(),
            "# Benachrichtigung\n\nBeispiel GmbH, 26. November 2025\n\
             1.234.567 Personen, 38,211 records, 08/11/2025, 8 de noviembre de 2025, 14:00 UTC\n\
             - email address\n- account and user identifiers (kodiert)\n\
             email address und account and user identifiers\n"
        );
        let defaults = Templates::default();
        for name in ["report.md", "regulator-notice.md"] {
            assert_eq!(templates.render(name, &r).unwrap(), defaults.render(name, &r).unwrap());
        }
        let rendered = templates.render_all(&r).unwrap();
        assert_eq!(
            rendered.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            DEFAULTS.map(|(n, _)| n)
        );
        assert!(rendered[2].1.starts_with("# Benachrichtigung"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn broken_templates_are_reported_with_their_file_and_line_at_load() {
        let dir = dir_with(
            "broken",
            &[
                ("report.md", "# Report\n\n{% if people %}\nunclosed\n"),
                ("user-notice.md", "# Notice\n{{ peple }}\n"),
                (
                    "regulator-notice.md",
                    "# Draft\n\n\n{{ people | number(locale=\"xx\") }}\n",
                ),
                ("user_notice.md", "a misspelt name"),
            ],
        );
        let all = errors(&dir);
        let at = |name: &str| dir.join(name).display().to_string();
        assert_eq!(
            all,
            [
                format!(
                    "{} is not a notice template (expected one of report.md, regulator-notice.md, user-notice.md)",
                    at("user_notice.md")
                ),
                format!(
                    "template {}, line 4: syntax error: unexpected end of input, expected end of block",
                    at("report.md")
                ),
                format!(
                    "template {}, line 4: invalid operation: unknown locale (supported: en, en-GB, de, fr, es, it, nl, pt)",
                    at("regulator-notice.md")
                ),
                format!("template {}, line 2: undefined value", at("user-notice.md")),
            ]
        );
        let missing = dir.join("missing");
        assert!(errors(&missing)[0].starts_with(&format!("cannot read {}", missing.display())));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A template that fails only on some revision fails that render with an error that
    /// names it and carries no value of the revision.
    #[test]
    fn render_errors_name_the_template_and_hold_no_values() {
        let dir = dir_with(
            "runtime",
            &[(
                "report.md",
                "# Report\n{% if organisation.name == \"Secret Corp\" %}\n{{ organisation.name | number }}\n{% endif %}\n",
            )],
        );
        let templates = Templates::load(&dir).unwrap();
        let mut r = Report::default();
        r.organisation.name = Some("Secret Corp".into());
        let e = templates.render("report.md", &r).unwrap_err().to_string();
        let path = dir.join("report.md").display().to_string();
        assert_eq!(
            e,
            format!("template {path}, line 3: invalid operation: expected a number")
        );
        assert!(!e.contains("Secret"));
        assert!(templates.render_all(&r).is_err(), "one failing document fails them all");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The example in docs/NOTICES.md loads and renders as the docs say.
    #[test]
    fn the_documented_example_renders() {
        let docs = include_str!("../../docs/NOTICES.md");
        let example = docs
            .split("```jinja\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        let dir = dir_with("docs", &[("user-notice.md", example)]);
        let templates = Templates::load(&dir).unwrap();
        let mut r = Report {
            people: 1204,
            ..Report::default()
        };
        for key in ["user.contact.email", "user.device.ip_address"] {
            r.categories.insert(key.into(), CategoryExposure::default());
        }
        let notice = templates.render("user-notice.md", &r).unwrap();
        let lines: Vec<&str> = notice.lines().collect();
        for expected in [
            "- E-Mail-Adresse",
            "- IP address",
            "Insgesamt betrifft der Vorfall 1.204 Personen.",
            "## Was Sie tun können",
            "[TO COMPLETE: Kontakt-E-Mail]",
        ] {
            assert!(lines.contains(&expected), "{expected:?} in\n{notice}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn dump_writes_the_defaults_and_overwrites_only_when_forced() {
        let dir = std::env::temp_dir().join(format!("vendorwall-templates-dump-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let target = dir.join("notices");
        let written = dump_defaults(&target, false).unwrap();
        assert_eq!(written.len(), 3);
        for (name, text) in DEFAULTS {
            assert_eq!(std::fs::read_to_string(target.join(name)).unwrap(), text);
        }
        std::fs::write(target.join("user-notice.md"), "edited").unwrap();
        let e = dump_defaults(&target, false).unwrap_err();
        assert!(matches!(e, TemplateError::Exists { .. }), "{e}");
        assert_eq!(
            std::fs::read_to_string(target.join("user-notice.md")).unwrap(),
            "edited"
        );
        dump_defaults(&target, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("user-notice.md")).unwrap(),
            DEFAULTS[2].1
        );
        // What was dumped loads unchanged.
        assert!(Templates::load(&target).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
