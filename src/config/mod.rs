//! Configuration: one TOML file, `version = 1`, validated once into runtime types.
//!
//! [`parse`] runs the same code at start-up and in `vendorwall check-config`. It reports every
//! error it can find at once, each with the key path and the line and column it refers to.
//! Secrets may be written as `"${ENV_VAR}"`; they become [`Secret`]s, which never print.

mod raw;
mod secret;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::protocol::{Target, Vendor};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

/// Default `batch_linger_ms`: none. Lingering makes fewer, fuller vendor requests and
/// ledger batches and costs less CPU per event, but each fuller batch is one longer
/// transaction on the writer that ingest's group commits wait behind, which showed in the
/// acknowledgement tail at 10,000 events/s (docs/BENCHMARKS.md, "Measured choices").
pub const DEFAULT_BATCH_LINGER_MS: u64 = 0;

pub use secret::{Secret, constant_time_eq};

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub keys: Keys,
    pub policy_tests: Vec<PolicyTest>,
    pub store: Store,
    pub limits: Limits,
    pub sources: Vec<Source>,
    pub destinations: Vec<Destination>,
    pub ledger: Ledger,
    pub incident: Incident,
    pub admin: Admin,
    pub classify: Classify,
}

/// Classifier settings beyond the built-in detectors.
#[derive(Debug, Clone, Default)]
pub struct Classify {
    /// `[[classify.detectors]]`, compiled once here (`crate::classify::custom`).
    pub detectors: crate::classify::custom::CustomDetectors,
}

#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Seal and keep each subject's email for notification lists (off by default).
    pub keep_contact_email: bool,
    /// The ledger witness: an append-only file outside the store holding each batch's keyed
    /// chain head. Without one, a store rolled back to an older copy goes unnoticed.
    pub witness_path: Option<PathBuf>,
}

/// Who we are in notices, and the deadline rules incidents are clocked against.
#[derive(Debug, Clone, Default)]
pub struct Incident {
    pub organisation: crate::incident::report::Organisation,
    pub deadlines: Vec<crate::incident::deadlines::DeadlineRule>,
    /// The notice templates: built in, some maybe replaced from `templates_dir`.
    pub templates: crate::incident::render::Templates,
}

/// The admin plane: its own listener, named and scoped bearer tokens, the audit log.
#[derive(Debug, Clone, Default)]
pub struct Admin {
    /// `None`: no admin listener (the admin API and `/metrics` are not served at all).
    pub listen: Option<SocketAddr>,
    /// None: the API answers 401 to everything.
    pub tokens: Vec<AdminToken>,
    pub audit_log: PathBuf,
    /// TLS for the admin listener; required off loopback.
    pub tls: Option<Tls>,
}

/// One admin bearer token: who holds it and what it may do.
#[derive(Debug, Clone)]
pub struct AdminToken {
    pub name: String,
    pub token: Secret,
    pub scopes: Scopes,
}

/// What an admin token may do. Scopes are independent: a token lists every one it has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes {
    /// Every GET: incidents, destinations, ledger verification.
    pub read: bool,
    /// State changes: open and update incidents, suspend, resume, rotate keys.
    pub operate: bool,
    /// Incident exports (real identities).
    pub export: bool,
}

/// One scope, as a route requires it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Operate,
    Export,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Export => "export",
        }
    }
}

impl Scopes {
    pub fn allows(self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read,
            Scope::Operate => self.operate,
            Scope::Export => self.export,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: SocketAddr,
    pub tls: Option<Tls>,
    /// Origins whose browsers may call the ingest routes; `None` (the default) answers every
    /// origin, as the vendors do (ingest keys are public; SDKs send credentials, so the
    /// origin is echoed, never `*`).
    pub cors_allowed_origins: Option<Vec<String>>,
    /// From the moment the handler sees a request (its header read) to its answer, body
    /// included; past it the SDK gets its vendor's retryable answer.
    pub request_timeout: Duration,
    /// From accept to the end of a request's header (the TLS handshake included); a
    /// connection that has not sent a whole header by then is closed.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may sit between an answer and the next request.
    pub idle_timeout: Duration,
    /// Open connections at most on the public listener; connections past it are closed.
    pub max_connections: usize,
}

/// Where the master key that seals pseudonym keys comes from.
#[derive(Debug, Clone)]
pub struct Keys {
    pub master_key_env: String,
    pub master_key_file: Option<PathBuf>,
}

/// An assertion `vendorwall policy test` checks against sample events.
#[derive(Debug, Clone)]
pub struct PolicyTest {
    pub destination: String,
    pub samples: PathBuf,
    pub never_receives: Vec<String>,
    pub unchanged: Vec<crate::policy::PathGlob>,
}

#[derive(Debug, Clone)]
pub struct Tls {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Store {
    /// The SQLite store's directory; with a [`Database`], where local files (the audit log by
    /// default) go.
    pub path: PathBuf,
    /// `[store] url`: a PostgreSQL database shared by several gateways, instead of `path`.
    pub database: Option<Database>,
    pub group_commit_max_records: usize,
    /// `[store] min_free_bytes`: ingest is refused (retryable 503) while the store's
    /// filesystem, counting pages free inside the database, has less than this; 0: never.
    pub min_free_bytes: u64,
    /// `[store] reserve_bytes`: the reserve file kept in the store directory; 0: none.
    pub reserve_bytes: u64,
}

impl Store {
    /// Refuses a PostgreSQL store (`[store] url`) to commands that still open the embedded one
    /// only (`serve`, `ledger`, `incident`, `keys`, `destination`, `outbox`): they would
    /// otherwise open an empty SQLite store at the default path without a word.
    pub fn require_embedded(&self) -> Result<(), String> {
        match self.database {
            None => Ok(()),
            Some(_) => Err(
                "store.url: this command does not run on a PostgreSQL store yet (the exposure ledger is not on PostgreSQL); use store.path"
                    .into(),
            ),
        }
    }
}

/// A PostgreSQL store (`[store] url` and the settings beside it).
#[derive(Debug, Clone)]
pub struct Database {
    /// `postgres://USER@HOST:PORT/DB`; a [`Secret`] because a URL taken from the environment
    /// may carry the password.
    pub url: Secret,
    /// `[store] password`.
    pub password: Option<Secret>,
    pub tls: DatabaseTls,
    /// `[store] lease_secs`: how long leased outbox rows stay with the gateway that leased
    /// them; longer than every destination's request timeout, at most a minute.
    pub lease: Duration,
    /// `[store] max_connections`: connections per process at most.
    pub max_connections: usize,
}

/// `[store] tls_mode` (the meanings of libpq's `sslmode` values of the same names).
#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseTls {
    /// Plain TCP (or a unix socket): for a database on the same host or a private link.
    Disable,
    /// Encrypted, but the server's certificate is not checked: protects against passive
    /// eavesdropping only.
    Require,
    /// Encrypted, the certificate checked against `tls_ca_path` and the host name.
    VerifyFull { ca_path: PathBuf },
}

/// Default `[store] lease_secs`: the longest allowed, so a lease outlives any request
/// timeout up to it.
pub const DEFAULT_LEASE_SECS: u64 = 60;
/// The longest `[store] lease_secs`: a stopped gateway's rows are taken over within it.
pub const MAX_LEASE_SECS: u64 = 60;
/// Default `[store] max_connections`.
pub const DEFAULT_DATABASE_CONNECTIONS: usize = 8;

/// Default `[store] min_free_bytes`: room for delivery to record several large batches and
/// for SQLite's write-ahead log to grow to its checkpoint size (about 4 MiB) several times.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 << 20;
/// Default `[store] reserve_bytes`.
pub const DEFAULT_RESERVE_BYTES: u64 = 16 << 20;

/// Limits on what one request may make vendorwall do. Defaults follow Mixpanel's own limits
/// where it has them, so nothing the vendor would accept is refused here.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub max_records_per_request: usize,
    pub max_depth: usize,
    pub max_properties: usize,
    pub max_string_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 10 << 20,
            max_decompressed_bytes: 20 << 20,
            max_records_per_request: 2000,
            max_depth: 16,
            max_properties: 255,
            max_string_bytes: 256 << 10,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    /// The vendor whose SDKs this source's apps use.
    pub protocol: Vendor,
    pub tokens: Vec<Secret>,
    pub import_secret: Option<Secret>,
}

/// What a destination answers feature-flag requests with (PostHog `/flags`, `/decide`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagsMode {
    /// Forwarded to the vendor synchronously, ids pseudonymised by the destination's key.
    Forward,
    /// "No flags", answered by vendorwall.
    None,
}

#[derive(Debug, Clone)]
pub struct Destination {
    pub name: String,
    pub vendor: Vendor,
    /// Where and how to reach the vendor: what its protocol reads.
    pub target: Target,
    pub flags: FlagsMode,
    /// Indexes into [`Config::sources`].
    pub sources: Vec<usize>,
    pub batch_max_records: usize,
    pub batch_max_bytes: usize,
    /// After a lease that did not fill a batch, how long the worker lets records accumulate
    /// before leasing again (zero: lease again at once).
    pub batch_linger: Duration,
    pub request_timeout: Duration,
    pub retry_initial_backoff: Duration,
    pub retry_max_backoff: Duration,
    /// Past this many queued records, ingest answers 503 so SDKs retry later.
    pub max_queue_records: u64,
    /// How long the vendor keeps data (None: unknown, so an incident reaches back to the
    /// ledger's start).
    pub vendor_retention_days: Option<u32>,
    pub policy: crate::policy::Policy,
}

/// One configuration problem, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: ")?,
            (Some(l), None) => write!(f, "line {l}: ")?,
            _ => {}
        }
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in one configuration file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} configuration error{}:", if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

/// The shortest admin token accepted.
const MIN_ADMIN_TOKEN_LEN: usize = 16;
/// What [`load_for_admin`] puts in place of a secret whose environment variable is unset.
const UNSET_SECRET: &str = "[unset]";

/// Reads and validates a configuration file, taking secrets from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, &|k| std::env::var(k).ok())
}

/// Like [`load`], for commands that read the store but never talk to a vendor (`destination`,
/// `outbox`): secrets whose environment variables are unset do not stop them.
pub fn load_for_admin(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, &|k| {
        Some(std::env::var(k).unwrap_or_else(|_| UNSET_SECRET.to_owned()))
    })
}

fn load_with(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            line: None,
            column: None,
            message: format!("cannot read {}: {e}", path.display()),
        }])
    })?;
    parse(&text, path.parent().unwrap_or(Path::new(".")), env)
}

/// Validates configuration text. Relative paths in it are taken relative to `base`.
pub fn parse(text: &str, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    let mut v = Validator {
        text,
        errors: Vec::new(),
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            v.at_span("", e.span(), e.message().to_owned());
            return Err(ConfigErrors(v.errors));
        }
    };
    let root_span = root.span();
    let root = root.into_inner();

    let mut seen = BTreeSet::new();
    for (key, value) in root.iter() {
        let name = key.get_ref().as_ref();
        seen.insert(name.to_owned());
        if !matches!(
            name,
            "version"
                | "server"
                | "store"
                | "limits"
                | "keys"
                | "sources"
                | "destinations"
                | "policy_tests"
                | "ledger"
                | "incident"
                | "admin"
                | "classify"
        ) {
            v.at_span(
                name,
                Some(key.span()),
                format!(
                    "unknown key `{name}` (expected one of version, server, store, limits, keys, sources, destinations, policy_tests, ledger, incident, admin, classify)"
                ),
            );
        }
        let _ = value;
    }
    match root.get("version").map(|s| (s.get_ref(), s.span())) {
        Some((DeValue::Integer(i), _)) if i.as_str() == "1" => {}
        Some((_, span)) => v.at_span("version", Some(span), "only `version = 1` is supported".into()),
        None => v.at_span(
            "version",
            Some(root_span.start..root_span.start),
            "missing `version = 1`".into(),
        ),
    }

    let server: raw::ServerConfig = v.section(&root, "server").unwrap_or_default();
    let store: raw::StoreConfig = v.section(&root, "store").unwrap_or_default();
    let limits: raw::LimitsConfig = v.section(&root, "limits").unwrap_or_default();
    let keys: raw::KeysConfig = v.section(&root, "keys").unwrap_or_default();
    let policy_tests: Vec<(raw::PolicyTestConfig, Span)> = v.entries(&root, "policy_tests");
    let sources: Vec<(raw::SourceConfig, Span)> = v.entries(&root, "sources");
    let destinations: Vec<(raw::DestinationConfig, Span)> = v.entries(&root, "destinations");
    let ledger: raw::LedgerConfig = v.section(&root, "ledger").unwrap_or_default();
    let incident: raw::IncidentConfig = v.section(&root, "incident").unwrap_or_default();
    let admin: raw::AdminConfig = v.section(&root, "admin").unwrap_or_default();
    let classify: raw::ClassifyConfig = v.section(&root, "classify").unwrap_or_default();
    let classify_span = root.get("classify").map(|c| c.span());
    let admin_span = root.get("admin").map(|a| a.span()).unwrap_or(0..0);

    let server = v.server(server, base);
    let store_span = root.get("store").map(|s| s.span()).unwrap_or(0..0);
    let database = v.database(&store, &store_span, base, env);
    let store = Store {
        path: base.join(store.path.as_deref().unwrap_or("var/vendorwall")),
        database,
        group_commit_max_records: v.positive("store.group_commit_max_records", store.group_commit_max_records, 20_000),
        min_free_bytes: store.min_free_bytes.unwrap_or(DEFAULT_MIN_FREE_BYTES),
        reserve_bytes: store.reserve_bytes.unwrap_or(DEFAULT_RESERVE_BYTES),
    };
    let limits = v.limits(limits);

    let mut source_index = HashMap::new();
    let mut token_owner: HashMap<String, String> = HashMap::new();
    let mut out_sources = Vec::new();
    for (i, (s, span)) in sources.into_iter().enumerate() {
        let path = format!("sources[{i}]");
        if s.name.is_empty() {
            v.at_span(&path, Some(span.clone()), "name must not be empty".into());
        }
        if source_index.insert(s.name.clone(), out_sources.len()).is_some() {
            v.at_span(&path, Some(span.clone()), format!("duplicate source name `{}`", s.name));
        }
        let protocol = match Vendor::parse(&s.protocol) {
            Some(p) => p,
            None => {
                v.at_span(
                    &path,
                    Some(span.clone()),
                    format!(
                        "protocol `{}` is not supported (supported: {})",
                        s.protocol,
                        Vendor::names()
                    ),
                );
                Vendor::Mixpanel
            }
        };
        if s.import_secret.is_some() && !protocol.protocol().takes_import_secret() {
            v.at_span(
                &path,
                Some(span.clone()),
                format!("import_secret is not a setting of {protocol} sources"),
            );
        }
        if s.tokens.is_empty() {
            v.at_span(&path, Some(span.clone()), "tokens must list at least one token".into());
        }
        let mut tokens = Vec::new();
        for (j, t) in s.tokens.iter().enumerate() {
            if let Some(t) = v.secret(&format!("{path}.tokens[{j}]"), &span, t, env) {
                if let Some(other) = token_owner.insert(t.expose().to_owned(), s.name.clone()) {
                    v.at_span(
                        &format!("{path}.tokens[{j}]"),
                        Some(span.clone()),
                        format!("token is also used by source `{other}`"),
                    );
                }
                tokens.push(t);
            }
        }
        let import_secret = s
            .import_secret
            .as_deref()
            .and_then(|x| v.secret(&format!("{path}.import_secret"), &span, x, env));
        out_sources.push(Source {
            name: s.name,
            protocol,
            tokens,
            import_secret,
        });
    }

    let mut out_destinations = Vec::new();
    let mut dest_names = BTreeSet::new();
    for (i, (d, span)) in destinations.into_iter().enumerate() {
        let path = format!("destinations[{i}]");
        let err = |v: &mut Validator, msg: String| v.at_span(&path, Some(span.clone()), msg);
        if d.name.is_empty()
            || !d
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            err(
                &mut v,
                "name must be non-empty and use only letters, digits, `-` and `_`".into(),
            );
        }
        if !dest_names.insert(d.name.clone()) {
            err(&mut v, format!("duplicate destination name `{}`", d.name));
        }
        let vendor = match Vendor::parse(&d.kind) {
            Some(k) => k,
            None => {
                err(
                    &mut v,
                    format!("type `{}` is not supported (supported: {})", d.kind, Vendor::names()),
                );
                Vendor::Mixpanel
            }
        };
        let spec = vendor.protocol().destination_spec();
        let endpoint = d
            .endpoint
            .unwrap_or_else(|| spec.default_endpoint.to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            err(&mut v, "endpoint must be an http:// or https:// URL".into());
        }
        // Each vendor names its key and secret its own way; the others' names are errors.
        let keys = [
            ("project_token", &d.project_token),
            ("write_key", &d.write_key),
            ("api_key", &d.api_key),
            ("api_secret", &d.api_secret),
            ("secret_key", &d.secret_key),
        ];
        let mut key = None;
        let mut secret = None;
        for (name, value) in keys {
            let Some(value) = value else {
                if name == spec.key_name {
                    err(&mut v, format!("{name} is required for type {vendor}"));
                }
                continue;
            };
            let parsed = v.secret(&format!("{path}.{name}"), &span, value, env);
            if name == spec.key_name {
                key = parsed;
            } else if Some(name) == spec.secret_name {
                secret = parsed;
            } else {
                err(
                    &mut v,
                    format!(
                        "{name} is not a setting of type {vendor} (its key is {})",
                        spec.key_name
                    ),
                );
            }
        }
        for (name, set) in [
            ("project_id", d.project_id.is_some()),
            ("use_batch", d.use_batch.is_some()),
            ("flags", d.flags.is_some()),
        ] {
            if set && !spec.options.contains(&name) {
                err(&mut v, format!("{name} is not a setting of type {vendor}"));
            }
        }
        let flags = match d.flags.as_deref() {
            None | Some("forward") => FlagsMode::Forward,
            Some("none") => FlagsMode::None,
            Some(other) => {
                err(&mut v, format!("flags must be \"forward\" or \"none\", not `{other}`"));
                FlagsMode::Forward
            }
        };
        let mut srcs = Vec::new();
        if d.sources.is_empty() {
            err(&mut v, "sources must name at least one source".into());
        }
        for s in &d.sources {
            match source_index.get(s) {
                Some(&ix) => srcs.push(ix),
                None => err(&mut v, format!("sources names `{s}`, which is not a configured source")),
            }
        }
        let limits = vendor.protocol().batch_limits();
        let batch_max_records = d.batch_max_records.unwrap_or(limits.max_records);
        if !(1..=limits.max_records).contains(&batch_max_records) {
            err(
                &mut v,
                format!(
                    "batch_max_records must be between 1 and {} ({}'s limit)",
                    limits.max_records,
                    vendor.display_name()
                ),
            );
        }
        let batch_max_bytes = d.batch_max_bytes.unwrap_or(limits.default_bytes);
        if !(1024..=limits.max_bytes).contains(&batch_max_bytes) {
            err(
                &mut v,
                format!("batch_max_bytes must be between 1024 and {}", limits.max_bytes),
            );
        }
        if d.batch_linger_ms.is_some_and(|ms| ms > 60_000) {
            err(&mut v, "batch_linger_ms must be at most 60000".into());
        }
        let policy = v.policy(&path, &span, d.policy, &source_index);
        out_destinations.push(Destination {
            name: d.name,
            vendor,
            target: Target {
                endpoint,
                key: key.unwrap_or_else(|| Secret::new("")),
                secret,
                project_id: d.project_id,
                use_batch: d.use_batch.unwrap_or(false),
            },
            flags,
            sources: srcs,
            batch_max_records,
            batch_max_bytes,
            batch_linger: Duration::from_millis(d.batch_linger_ms.unwrap_or(DEFAULT_BATCH_LINGER_MS)),
            request_timeout: Duration::from_secs(v.positive(
                &format!("{path}.request_timeout_secs"),
                d.request_timeout_secs,
                30,
            )),
            retry_initial_backoff: Duration::from_millis(v.positive(
                &format!("{path}.retry_initial_backoff_ms"),
                d.retry_initial_backoff_ms,
                1000,
            )),
            retry_max_backoff: Duration::from_secs(v.positive(
                &format!("{path}.retry_max_backoff_secs"),
                d.retry_max_backoff_secs,
                60,
            )),
            max_queue_records: v.positive(&format!("{path}.max_queue_records"), d.max_queue_records, 5_000_000),
            vendor_retention_days: d.vendor_retention_days,
            policy,
        });
    }
    if out_sources.is_empty() && !seen.contains("sources") {
        v.at_span("sources", None, "at least one [[sources]] entry is required".into());
    }

    let keys = Keys {
        master_key_env: keys
            .master_key_env
            .unwrap_or_else(|| "VENDORWALL_MASTER_KEY".to_owned()),
        master_key_file: keys.master_key_file.map(|f| base.join(f)),
    };
    let mut out_tests = Vec::new();
    for (i, (t, span)) in policy_tests.into_iter().enumerate() {
        if !dest_names.contains(&t.destination) {
            v.at_span(
                &format!("policy_tests[{i}]"),
                Some(span),
                format!("destination `{}` is not configured", t.destination),
            );
        }
        out_tests.push(PolicyTest {
            destination: t.destination,
            samples: base.join(t.samples),
            never_receives: t.never_receives,
            unchanged: t.unchanged.iter().map(|g| crate::policy::PathGlob::new(g)).collect(),
        });
    }

    if let Some(db) = &store.database {
        for d in &out_destinations {
            if d.request_timeout >= db.lease {
                v.at_span(
                    "store.lease_secs",
                    Some(store_span.clone()),
                    format!(
                        "must be longer than destination `{}`'s request_timeout_secs ({} s), so no lease expires while a vendor request is in flight",
                        d.name,
                        d.request_timeout.as_secs()
                    ),
                );
            }
        }
    }

    let ledger = Ledger {
        keep_contact_email: ledger.keep_contact_email.unwrap_or(false),
        witness_path: ledger.witness_path.map(|p| base.join(p)),
    };
    let incident = v.incident(incident, base);
    let admin = v.admin(admin, &admin_span, &store.path, base, env);
    let specs: Vec<crate::classify::custom::CustomDetectorSpec> = classify
        .detectors
        .into_iter()
        .map(|d| crate::classify::custom::CustomDetectorSpec {
            name: d.name,
            category: d.category,
            keys: d.keys,
            values: d.values,
        })
        .collect();
    let classify = match crate::classify::custom::CustomDetectors::compile(&specs) {
        Ok(detectors) => Classify { detectors },
        Err(errors) => {
            for e in errors {
                v.at_span("classify.detectors", classify_span.clone(), e);
            }
            Classify::default()
        }
    };

    if v.errors.is_empty() {
        Ok(Config {
            classify,
            ledger,
            incident,
            admin,
            server,
            keys,
            policy_tests: out_tests,
            store,
            limits,
            sources: out_sources,
            destinations: out_destinations,
        })
    } else {
        Err(ConfigErrors(v.errors))
    }
}

type Span = std::ops::Range<usize>;

struct Validator<'a> {
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    fn at_span(&mut self, path: &str, span: Option<Span>, message: String) {
        let (line, column) = match span {
            Some(s) => {
                let before = &self.text[..s.start.min(self.text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        self.errors.push(ConfigError {
            path: path.to_owned(),
            line,
            column,
            message,
        });
    }

    fn deserialize<T: for<'de> Deserialize<'de>>(&mut self, path: &str, value: &Spanned<DeValue<'_>>) -> Option<T> {
        let span = value.span();
        let de = ValueDeserializer::from(Spanned::new(span.clone(), value.get_ref().clone()));
        match T::deserialize(de) {
            Ok(t) => Some(t),
            Err(e) => {
                let s = e.span().unwrap_or(span);
                self.at_span(path, Some(s), redact_quoted(e.message().trim()));
                None
            }
        }
    }

    fn section<T: for<'de> Deserialize<'de>>(&mut self, root: &DeTable<'_>, key: &str) -> Option<T> {
        let value = root.get(key)?;
        if !value.get_ref().is_table() {
            self.at_span(key, Some(value.span()), format!("`{key}` must be a table ([{key}])"));
            return None;
        }
        self.deserialize(key, value)
    }

    fn entries<T: for<'de> Deserialize<'de>>(&mut self, root: &DeTable<'_>, key: &str) -> Vec<(T, Span)> {
        let Some(value) = root.get(key) else {
            return Vec::new();
        };
        let Some(items) = value.get_ref().as_array() else {
            self.at_span(
                key,
                Some(value.span()),
                format!("`{key}` must be an array of tables ([[{key}]])"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(t) = self.deserialize(&format!("{key}[{i}]"), item) {
                out.push((t, item.span()));
            }
        }
        out
    }

    fn secret(&mut self, path: &str, span: &Span, raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<Secret> {
        match secret::resolve(raw, env) {
            Ok(s) if s.expose().is_empty() => {
                self.at_span(path, Some(span.clone()), "must not be empty".into());
                None
            }
            Ok(s) => Some(s),
            Err(msg) => {
                self.at_span(path, Some(span.clone()), msg);
                None
            }
        }
    }

    fn admin(
        &mut self,
        a: raw::AdminConfig,
        span: &Span,
        store_dir: &Path,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Admin {
        let listen = a.listen.and_then(|text| match text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.at_span(
                    "admin.listen",
                    Some(span.clone()),
                    "must be an address such as 127.0.0.1:8081".into(),
                );
                None
            }
        });
        let mut tokens: Vec<AdminToken> = Vec::new();
        for (i, t) in a.tokens.unwrap_or_default().into_iter().enumerate() {
            let path = format!("admin.tokens[{i}]");
            if t.name.is_empty()
                || t.name.len() > 64
                || !t
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
            {
                self.at_span(
                    &format!("{path}.name"),
                    Some(span.clone()),
                    "must be 1 to 64 characters: letters, digits, `-`, `_`, `.`, `@`".into(),
                );
            } else if tokens.iter().any(|o| o.name == t.name) {
                self.at_span(
                    &format!("{path}.name"),
                    Some(span.clone()),
                    format!("duplicate token name `{}`", t.name),
                );
            }
            let mut scopes = Scopes::default();
            for s in &t.scopes {
                match s.as_str() {
                    "read" => scopes.read = true,
                    "operate" => scopes.operate = true,
                    "export" => scopes.export = true,
                    _ => self.at_span(
                        &format!("{path}.scopes"),
                        Some(span.clone()),
                        "unknown scope (expected read, operate or export)".into(),
                    ),
                }
            }
            if t.scopes.is_empty() {
                self.at_span(
                    &format!("{path}.scopes"),
                    Some(span.clone()),
                    "list at least one scope (read, operate, export)".into(),
                );
            }
            let Some(token) = self.secret(&format!("{path}.token"), span, &t.token, env) else {
                continue;
            };
            // A token guessable by brute force over the network protects nothing.
            if token.expose().len() < MIN_ADMIN_TOKEN_LEN && token.expose() != UNSET_SECRET {
                self.at_span(
                    &format!("{path}.token"),
                    Some(span.clone()),
                    format!("must be at least {MIN_ADMIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 32`)"),
                );
                continue;
            }
            if tokens.iter().any(|o| o.token.expose() == token.expose()) && token.expose() != UNSET_SECRET {
                self.at_span(
                    &format!("{path}.token"),
                    Some(span.clone()),
                    "two tokens have the same value".into(),
                );
            }
            tokens.push(AdminToken {
                name: t.name,
                token,
                scopes,
            });
        }
        let tls = self.tls_pair("admin", a.tls_cert_path, a.tls_key_path, base);
        if let Some(addr) = listen
            && !addr.ip().is_loopback()
            && tls.is_none()
        {
            self.at_span(
                "admin.listen",
                Some(span.clone()),
                "an admin listener off loopback needs tls_cert_path and tls_key_path (it carries tokens and identities)"
                    .into(),
            );
        }
        if !tokens.is_empty() && listen.is_none() {
            self.at_span(
                "admin.listen",
                Some(span.clone()),
                "admin tokens are set but no admin listener: set `listen` (e.g. \"127.0.0.1:8081\")".into(),
            );
        }
        Admin {
            listen,
            tokens,
            audit_log: a
                .audit_log
                .map_or_else(|| store_dir.join("audit.log"), |p| base.join(p)),
            tls,
        }
    }

    fn incident(&mut self, i: raw::IncidentConfig, base: &Path) -> Incident {
        let mut deadlines = if i.default_deadlines.unwrap_or(true) {
            crate::incident::deadlines::default_rules()
        } else {
            Vec::new()
        };
        for (n, rule) in i.deadlines.unwrap_or_default().into_iter().enumerate() {
            if let Err(msg) = rule.validate() {
                self.at_span(&format!("incident.deadlines[{n}]"), None, msg);
            }
            // A rule of the same name replaces the built-in one.
            deadlines.retain(|d| d.name != rule.name);
            deadlines.push(rule);
        }
        let templates = match i.templates_dir {
            None => crate::incident::render::Templates::default(),
            Some(dir) => crate::incident::render::Templates::load(&base.join(dir)).unwrap_or_else(|errors| {
                for e in errors {
                    self.at_span("incident.templates_dir", None, e.to_string());
                }
                crate::incident::render::Templates::default()
            }),
        };
        Incident {
            organisation: crate::incident::report::Organisation {
                name: i.organisation,
                contact_email: i.contact_email,
                contact_phone: i.contact_phone,
                dpo_name: i.dpo_name,
                dpo_email: i.dpo_email,
                lead_authority: i.lead_authority,
                website: i.website,
            },
            deadlines,
            templates,
        }
    }

    /// `[store] url` and the settings beside it; `None` for an embedded store.
    fn database(
        &mut self,
        s: &raw::StoreConfig,
        span: &Span,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Database> {
        let pg_only = [
            ("password", s.password.is_some()),
            ("tls_mode", s.tls_mode.is_some()),
            ("tls_ca_path", s.tls_ca_path.is_some()),
            ("lease_secs", s.lease_secs.is_some()),
            ("max_connections", s.max_connections.is_some()),
        ];
        let Some(raw_url) = &s.url else {
            for (key, set) in pg_only {
                if set {
                    self.at_span(&format!("store.{key}"), None, "applies only with store.url".into());
                }
            }
            return None;
        };
        if s.path.is_some() {
            self.at_span(
                "store.url",
                Some(span.clone()),
                "store.path and store.url exclude each other: one store, on disk or in PostgreSQL".into(),
            );
        }
        let url = self.secret("store.url", span, raw_url, env)?;
        if let Err(problem) = check_database_url(url.expose()) {
            self.at_span("store.url", None, problem);
        }
        let password = s
            .password
            .as_deref()
            .and_then(|p| self.secret("store.password", span, p, env));
        let tls = match (s.tls_mode.as_deref().unwrap_or("verify-full"), &s.tls_ca_path) {
            ("disable", None) => DatabaseTls::Disable,
            ("require", None) => DatabaseTls::Require,
            ("verify-full", Some(ca)) => DatabaseTls::VerifyFull { ca_path: base.join(ca) },
            ("verify-full", None) => {
                self.at_span(
                    "store.tls_ca_path",
                    Some(span.clone()),
                    "required with tls_mode = \"verify-full\" (the default): the CA certificates (PEM) the database's certificate is checked against; tls_mode = \"disable\" for a database reached over a private link".into(),
                );
                DatabaseTls::Disable
            }
            ("disable" | "require", Some(_)) => {
                self.at_span(
                    "store.tls_ca_path",
                    Some(span.clone()),
                    "is read only with tls_mode = \"verify-full\"".into(),
                );
                DatabaseTls::Disable
            }
            _ => {
                self.at_span(
                    "store.tls_mode",
                    Some(span.clone()),
                    "must be one of disable, require, verify-full".into(),
                );
                DatabaseTls::Disable
            }
        };
        let lease_secs = match s.lease_secs {
            Some(n) if n == 0 || n > MAX_LEASE_SECS => {
                self.at_span(
                    "store.lease_secs",
                    Some(span.clone()),
                    format!("must be between 1 and {MAX_LEASE_SECS}: a stopped gateway's rows are taken over after it"),
                );
                DEFAULT_LEASE_SECS
            }
            n => n.unwrap_or(DEFAULT_LEASE_SECS),
        };
        Some(Database {
            url,
            password,
            tls,
            lease: Duration::from_secs(lease_secs),
            max_connections: self.positive("store.max_connections", s.max_connections, DEFAULT_DATABASE_CONNECTIONS),
        })
    }

    fn positive<T: Copy + PartialOrd + Default>(&mut self, path: &str, value: Option<T>, default: T) -> T {
        match value {
            Some(v) if v <= T::default() => {
                self.at_span(path, None, "must be greater than zero".into());
                default
            }
            Some(v) => v,
            None => default,
        }
    }

    fn tls_pair(&mut self, section: &str, cert: Option<String>, key: Option<String>, base: &Path) -> Option<Tls> {
        match (cert, key) {
            (Some(c), Some(k)) => Some(Tls {
                cert_path: base.join(c),
                key_path: base.join(k),
            }),
            (None, None) => None,
            _ => {
                self.at_span(
                    section,
                    None,
                    "tls_cert_path and tls_key_path must be set together".into(),
                );
                None
            }
        }
    }

    fn server(&mut self, s: raw::ServerConfig, base: &Path) -> Server {
        let listen_text = s.listen.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen = listen_text.parse().unwrap_or_else(|_| {
            self.at_span(
                "server.listen",
                None,
                "must be an address such as 127.0.0.1:8080".into(),
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let tls = self.tls_pair("server", s.tls_cert_path, s.tls_key_path, base);
        let cors_allowed_origins = s.cors_allowed_origins;
        for (i, o) in cors_allowed_origins.iter().flatten().enumerate() {
            if o == "*" || !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                self.at_span(
                    &format!("server.cors_allowed_origins[{i}]"),
                    None,
                    "must be an exact origin such as https://app.example.com (browser SDKs send credentials, so `*` cannot work)".into(),
                );
            }
        }
        Server {
            listen,
            tls,
            cors_allowed_origins,
            request_timeout: Duration::from_secs(self.positive(
                "server.request_timeout_secs",
                s.request_timeout_secs,
                30,
            )),
            header_read_timeout: Duration::from_secs(self.positive(
                "server.header_read_timeout_secs",
                s.header_read_timeout_secs,
                10,
            )),
            idle_timeout: Duration::from_secs(self.positive("server.idle_timeout_secs", s.idle_timeout_secs, 60)),
            max_connections: self.positive("server.max_connections", s.max_connections, 4096),
        }
    }

    fn policy(
        &mut self,
        path: &str,
        span: &Span,
        raw: Option<toml::Value>,
        sources: &HashMap<String, usize>,
    ) -> crate::policy::Policy {
        use crate::policy::{Action, Generalization, Mode, PathGlob, Policy, Rule};
        let path = format!("{path}.policy");
        let table = match raw {
            None => return Policy::recommended(),
            Some(toml::Value::String(name)) => {
                return Policy::preset(&name).unwrap_or_else(|| {
                    self.at_span(
                        &path,
                        Some(span.clone()),
                        format!("unknown preset `{name}` (presets: recommended, passthrough)"),
                    );
                    Policy::recommended()
                });
            }
            Some(t @ toml::Value::Table(_)) => match t.try_into::<raw::PolicyConfig>() {
                Ok(t) => t,
                Err(e) => {
                    self.at_span(&path, Some(span.clone()), redact_quoted(e.message().trim()));
                    return Policy::recommended();
                }
            },
            Some(_) => {
                self.at_span(&path, Some(span.clone()), "must be a preset name or a table".into());
                return Policy::recommended();
            }
        };
        let base = match table.preset.as_deref() {
            None => None,
            Some(name) => Policy::preset(name).or_else(|| {
                self.at_span(&path, Some(span.clone()), format!("unknown preset `{name}`"));
                None
            }),
        };
        let mode = match table.mode.as_deref() {
            None | Some("scrub") => Mode::Scrub,
            Some("allowlist") => Mode::Allowlist,
            Some(other) => {
                self.at_span(
                    &path,
                    Some(span.clone()),
                    format!("mode `{other}` is not scrub or allowlist"),
                );
                Mode::Scrub
            }
        };
        let mut rules = Vec::new();
        for (i, r) in table.rules.unwrap_or_default().into_iter().enumerate() {
            let rpath = format!("{path}.rules[{i}]");
            let generalization = match r.to.as_deref() {
                None => None,
                Some("ip_prefix") => Some(Generalization::IpPrefix),
                Some("round") => Some(Generalization::Round {
                    decimals: r.decimals.unwrap_or(2),
                }),
                Some("hour") => Some(Generalization::Hour),
                Some("day") => Some(Generalization::Day),
                Some("url_path") => Some(Generalization::UrlPath),
                Some("url_query") => Some(Generalization::UrlQuery),
                Some("prefix") => Some(Generalization::Prefix {
                    keep: r.keep.unwrap_or(crate::policy::POSTAL_PREFIX),
                }),
                Some("country") => Some(Generalization::Country),
                Some(other) => {
                    self.at_span(
                        &rpath,
                        Some(span.clone()),
                        format!("`to = \"{other}\"`: expected ip_prefix, round, hour, day, url_path, url_query, prefix or country"),
                    );
                    None
                }
            };
            let action = match r.action.as_str() {
                "keep" => Action::Keep,
                "drop" => Action::Drop,
                "redact" => Action::Redact,
                "mask" => Action::Mask {
                    keep_last: r.keep_last.unwrap_or(4),
                },
                "hash" => Action::Hash,
                "generalize" => Action::Generalize(generalization),
                "block_event" => Action::BlockEvent,
                other => {
                    self.at_span(
                        &rpath,
                        Some(span.clone()),
                        format!("action `{other}`: expected keep, drop, redact, mask, hash, generalize or block_event"),
                    );
                    continue;
                }
            };
            if let Some(s) = &r.source
                && !sources.contains_key(s)
            {
                self.at_span(&rpath, Some(span.clone()), format!("source `{s}` is not configured"));
            }
            if r.category.is_none() && r.path.is_none() && r.event.is_none() && r.source.is_none() {
                self.at_span(
                    &rpath,
                    Some(span.clone()),
                    "a rule needs category, path, event or source".into(),
                );
            }
            rules.push(Rule {
                category: r.category,
                path: r.path.as_deref().map(PathGlob::new),
                event: r.event,
                source: r.source,
                action,
            });
        }
        let pseudonymize_ids = table
            .pseudonymize_ids
            .unwrap_or_else(|| base.as_ref().is_none_or(|b| b.pseudonymize_ids));
        if let Some(b) = base {
            rules.extend(b.rules);
        }
        Policy {
            name: "custom".into(),
            mode,
            rules,
            allow: table
                .allow
                .unwrap_or_default()
                .iter()
                .map(|g| PathGlob::new(g))
                .collect(),
            pseudonymize_ids,
        }
    }

    fn limits(&mut self, l: raw::LimitsConfig) -> Limits {
        let d = Limits::default();
        Limits {
            max_body_bytes: self.positive("limits.max_body_bytes", l.max_body_bytes, d.max_body_bytes),
            max_decompressed_bytes: self.positive(
                "limits.max_decompressed_bytes",
                l.max_decompressed_bytes,
                d.max_decompressed_bytes,
            ),
            max_records_per_request: self.positive(
                "limits.max_records_per_request",
                l.max_records_per_request,
                d.max_records_per_request,
            ),
            max_depth: self.positive("limits.max_depth", l.max_depth, d.max_depth),
            max_properties: self.positive("limits.max_properties", l.max_properties, d.max_properties),
            max_string_bytes: self.positive("limits.max_string_bytes", l.max_string_bytes, d.max_string_bytes),
        }
    }
}

/// Parser messages quote the offending value (`invalid type: string "…"`); a value in a
/// config file may be a secret, so quoted text is replaced. Key names are in backticks and stay.
/// Whether `url` names a PostgreSQL database the way `[store] url` must; the problem otherwise
/// (never quoting the URL, which may hold a password).
fn check_database_url(url: &str) -> Result<(), String> {
    #[cfg(feature = "postgres")]
    {
        crate::store::postgres::check_url(url)
    }
    #[cfg(not(feature = "postgres"))]
    {
        let _ = url;
        Err("this build has no PostgreSQL support (built without the `postgres` feature)".into())
    }
}

fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut parts = msg.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (i, part) in parts.enumerate() {
        out.push('"');
        out.push_str(if i % 2 == 0 { "[value]" } else { part });
    }
    out
}

impl Config {
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    pub fn destination(&self, name: &str) -> Option<&Destination> {
        self.destinations.iter().find(|d| d.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
version = 1
[server]
listen = "127.0.0.1:8080"
[store]
path = "var/vendorwall"
[[sources]]
name = "web"
protocol = "mixpanel"
tokens = ["app-side-token"]
[[destinations]]
name = "mixpanel"
type = "mixpanel"
endpoint = "https://api.mixpanel.com"
project_token = "real-project-token"
api_secret = "${MIXPANEL_API_SECRET}"
sources = ["web"]
"#;

    fn env(k: &str) -> Option<String> {
        (k == "MIXPANEL_API_SECRET").then(|| "s3cr3t".to_owned())
    }

    #[test]
    fn the_documented_example_is_valid() {
        let c = parse(EXAMPLE, Path::new("/etc/vw"), &env).unwrap();
        assert_eq!(c.store.path, Path::new("/etc/vw/var/vendorwall"));
        assert_eq!(c.destinations[0].target.secret.as_ref().unwrap().expose(), "s3cr3t");
        assert_eq!(c.destinations[0].sources, vec![0]);
        assert_eq!(c.limits, Limits::default());
    }

    #[test]
    fn reports_every_error_with_its_location() {
        let text = EXAMPLE
            .replace(
                "listen = \"127.0.0.1:8080\"",
                "listen = \"127.0.0.1:8080\"\nlisten_port = 1",
            )
            .replace("sources = [\"web\"]", "sources = [\"app\"]\ncolour = \"red\"")
            .replace("protocol = \"mixpanel\"", "protocol = \"carrier-pigeon\"");
        let errs = parse(&text, Path::new("."), &|_| None).unwrap_err().0;
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let joined = msgs.join("\n");
        assert!(joined.contains("listen_port"), "{joined}");
        assert!(joined.contains("colour"), "{joined}");
        assert!(joined.contains("carrier-pigeon"), "{joined}");
        assert!(errs.iter().all(|e| e.line.is_some()), "{joined}");
        let listen_port = errs.iter().find(|e| e.message.contains("listen_port")).unwrap();
        assert_eq!(listen_port.line, Some(5));
    }

    #[test]
    fn semantic_errors_are_all_reported() {
        let text = EXAMPLE.replace(
            "sources = [\"web\"]",
            "sources = [\"app\"]\nbatch_max_records = 5000\nbatch_linger_ms = 90000",
        );
        let errs = parse(&text, Path::new("."), &|_| None).unwrap_err().0;
        let joined: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let joined = joined.join("\n");
        assert!(joined.contains("MIXPANEL_API_SECRET is not set"), "{joined}");
        assert!(joined.contains("`app`"), "{joined}");
        assert!(joined.contains("batch_max_records"), "{joined}");
        assert!(joined.contains("batch_linger_ms must be at most 60000"), "{joined}");
        assert!(!joined.contains("s3cr3t"));
    }

    #[test]
    fn rejects_wrong_version_and_syntax() {
        let errs = parse("version = 2", Path::new("."), &|_| None).unwrap_err().0;
        assert!(errs[0].message.contains("version = 1"));
        let errs = parse("version = = 1", Path::new("."), &|_| None).unwrap_err().0;
        assert_eq!(errs[0].line, Some(1));
    }

    #[test]
    fn policies_keys_and_policy_tests() {
        let text = format!(
            "{EXAMPLE}\n[destinations.policy]\npreset = \"recommended\"\nmode = \"allowlist\"\nallow = [\"properties.plan\"]\n\
             [[destinations.policy.rules]]\ncategory = \"user.device.ip_address\"\naction = \"generalize\"\nto = \"ip_prefix\"\n\
             [[destinations.policy.rules]]\nevent = \"Debug\"\nsource = \"web\"\naction = \"block_event\"\n\
             [keys]\nmaster_key_file = \"master.key\"\n\
             [[policy_tests]]\ndestination = \"mixpanel\"\nsamples = \"s.jsonl\"\nnever_receives = [\"user.contact\"]\n"
        );
        let c = parse(&text, Path::new("/etc/vw"), &env).unwrap();
        let p = &c.destinations[0].policy;
        assert_eq!(p.mode, crate::policy::Mode::Allowlist);
        assert_eq!(p.rules.len(), 2 + crate::policy::Policy::recommended().rules.len());
        assert_eq!(
            p.rules[0].action,
            crate::policy::Action::Generalize(Some(crate::policy::Generalization::IpPrefix))
        );
        assert!(p.pseudonymize_ids);
        assert_eq!(c.keys.master_key_file.as_deref(), Some(Path::new("/etc/vw/master.key")));
        assert_eq!(c.policy_tests[0].samples, Path::new("/etc/vw/s.jsonl"));
        assert_eq!(
            parse(EXAMPLE, Path::new("."), &env).unwrap().destinations[0]
                .policy
                .name,
            "recommended"
        );

        let bad = EXAMPLE.replace("sources = [\"web\"]", "sources = [\"web\"]\npolicy = \"lenient\"");
        let errs = parse(&bad, Path::new("."), &env).unwrap_err().0;
        assert!(errs[0].message.contains("unknown preset `lenient`"));
        let bad = format!(
            "{EXAMPLE}\n[destinations.policy]\n[[destinations.policy.rules]]\naction = \"shred\"\n\
             [[destinations.policy.rules]]\naction = \"drop\"\n"
        );
        let errs = parse(&bad, Path::new("."), &env).unwrap_err().0;
        let joined = errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n");
        assert!(
            joined.contains("action `shred`") && joined.contains("needs category, path, event or source"),
            "{joined}"
        );
    }

    #[test]
    fn parser_errors_do_not_echo_values() {
        let text = EXAMPLE.replace("tokens = [\"app-side-token\"]", "tokens = \"hunter2-secret\"");
        let errs = parse(&text, Path::new("."), &env).unwrap_err().0;
        let joined = errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n");
        assert!(joined.contains("sources[0]") && joined.contains("[value]"), "{joined}");
        assert!(!joined.contains("hunter2"), "{joined}");
        assert_eq!(redact_quoted(r#"a "x" b `k` "y""#), r#"a "[value]" b `k` "[value]""#);
    }

    #[test]
    fn admin_tokens_are_named_scoped_and_long() {
        let ok = format!(
            "{EXAMPLE}\n[admin]\nlisten = \"127.0.0.1:8081\"\n[[admin.tokens]]\nname = \"ops\"\ntoken = \"${{OPS}}\"\nscopes = [\"read\", \"export\"]\n"
        );
        let env = |k: &str| {
            (k == "OPS")
                .then(|| "0123456789abcdef0123".to_owned())
                .or_else(|| env(k))
        };
        let c = parse(&ok, Path::new("/etc/vw"), &env).unwrap();
        assert_eq!(c.admin.listen, Some(SocketAddr::from(([127, 0, 0, 1], 8081))));
        let t = &c.admin.tokens[0];
        assert_eq!(t.name, "ops");
        assert!(t.scopes.allows(Scope::Read) && t.scopes.allows(Scope::Export) && !t.scopes.allows(Scope::Operate));
        assert_eq!(c.admin.audit_log, Path::new("/etc/vw/var/vendorwall/audit.log"));
        // No [admin] at all: no listener, no tokens.
        let c = parse(EXAMPLE, Path::new("."), &env).unwrap();
        assert!(c.admin.listen.is_none() && c.admin.tokens.is_empty());

        let second = "[[admin.tokens]]\nname = \"ops\"\ntoken = \"another-long-token-value\"\nscopes = [\"read\"]\n";
        for (text, says) in [
            (format!("{ok}{second}"), "duplicate token name"),
            (ok.replace("${OPS}", "short-secret"), "at least 16 characters"),
            (ok.replace("\"export\"]", "\"admin\"]"), "unknown scope"),
            (ok.replace("[\"read\", \"export\"]", "[]"), "at least one scope"),
            (ok.replace("listen = \"127.0.0.1:8081\"", ""), "no admin listener"),
            (
                ok.replace("127.0.0.1:8081", "0.0.0.0:8081"),
                "off loopback needs tls_cert_path",
            ),
            (
                ok.replace("name = \"ops\"", "name = \"ops team\""),
                "1 to 64 characters",
            ),
        ] {
            let joined = parse(&text, Path::new("."), &env).unwrap_err().to_string();
            assert!(joined.contains(says), "{says}: {joined}");
            assert!(
                !joined.contains("short-secret") && !joined.contains("0123456789abcdef"),
                "{joined}"
            );
        }
    }

    #[test]
    fn secrets_never_print() {
        let c = parse(EXAMPLE, Path::new("."), &env).unwrap();
        let dump = format!("{c:?}");
        assert!(!dump.contains("s3cr3t") && !dump.contains("app-side-token") && !dump.contains("real-project-token"));
    }

    /// `EXAMPLE` with its `[store]` section replaced by `store` (lines of `key = value`).
    fn with_store(store: &str) -> String {
        EXAMPLE.replace("[store]\npath = \"var/vendorwall\"", &format!("[store]\n{store}"))
    }

    fn store_errors(store: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
        match parse(&with_store(store), Path::new("/etc/vw"), env) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_database_store_takes_its_url_password_and_tls_from_the_settings() {
        let env = |k: &str| match k {
            "MIXPANEL_API_SECRET" => Some("s3cr3t".to_owned()),
            "PGPASS" => Some("db-pa55word".to_owned()),
            "DB_URL" => Some("postgres://vw:url-pa55word@db.internal:5432/vw".to_owned()),
            _ => None,
        };
        let c = parse(
            &with_store(
                "url = \"postgres://vw@db.internal:5432/vendorwall\"\npassword = \"${PGPASS}\"\n\
                 tls_ca_path = \"db-ca.pem\"\nlease_secs = 45\nmax_connections = 3",
            ),
            Path::new("/etc/vw"),
            &env,
        )
        .unwrap();
        let db = c.store.database.unwrap();
        assert_eq!(db.url.expose(), "postgres://vw@db.internal:5432/vendorwall");
        assert_eq!(db.password.as_ref().map(Secret::expose), Some("db-pa55word"));
        assert_eq!(
            db.tls,
            DatabaseTls::VerifyFull {
                ca_path: PathBuf::from("/etc/vw/db-ca.pem")
            }
        );
        assert_eq!(db.lease, Duration::from_secs(45));
        assert_eq!(db.max_connections, 3);
        assert!(!format!("{db:?}").contains("pa55word"));
        let c = parse(
            &with_store("url = \"${DB_URL}\"\ntls_mode = \"require\""),
            Path::new("/etc/vw"),
            &env,
        )
        .unwrap();
        let db = c.store.database.unwrap();
        assert_eq!(db.tls, DatabaseTls::Require);
        assert_eq!(db.lease, Duration::from_secs(DEFAULT_LEASE_SECS));
        assert!(!format!("{db:?}").contains("pa55word"));
        assert!(
            parse(EXAMPLE, Path::new("/etc/vw"), &env)
                .unwrap()
                .store
                .database
                .is_none()
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn database_settings_errors_name_the_setting_and_never_the_password() {
        let env = |k: &str| match k {
            "MIXPANEL_API_SECRET" => Some("s3cr3t".to_owned()),
            "BAD_URL" => Some("mysql://root:hunter2-secret@db/vw".to_owned()),
            _ => None,
        };
        let cases: &[(&str, &[&str])] = &[
            (
                "path = \"var/vw\"\nurl = \"postgres://vw@db/vw\"\ntls_mode = \"disable\"",
                &["store.url", "exclude each other"],
            ),
            (
                "url = \"${BAD_URL}\"\ntls_mode = \"disable\"",
                &["store.url", "postgres://"],
            ),
            ("url = \"${NOT_SET}\"", &["store.url", "NOT_SET is not set"]),
            ("url = \"postgres://vw@db/vw\"", &["store.tls_ca_path", "verify-full"]),
            (
                "url = \"postgres://vw@db/vw\"\ntls_mode = \"prefer\"",
                &["store.tls_mode", "disable, require, verify-full"],
            ),
            (
                "url = \"postgres://vw@db/vw\"\ntls_mode = \"disable\"\ntls_ca_path = \"ca.pem\"",
                &["store.tls_ca_path", "only with"],
            ),
            (
                "url = \"postgres://vw:hunter2-secret@db/vw?sslmode=disable\"\ntls_mode = \"disable\"",
                &["store.url", "store.tls_mode"],
            ),
            (
                "url = \"postgres://vw@db/vw\"\ntls_mode = \"disable\"\nlease_secs = 61",
                &["store.lease_secs", "between 1 and 60"],
            ),
            (
                "url = \"postgres://vw@db/vw\"\ntls_mode = \"disable\"\nlease_secs = 30",
                &["store.lease_secs", "request_timeout_secs"],
            ),
            (
                "path = \"var/vw\"\nlease_secs = 30",
                &["store.lease_secs", "only with store.url"],
            ),
        ];
        for (store, wanted) in cases {
            let errors = store_errors(store, &env);
            for w in *wanted {
                assert!(errors.contains(w), "{store}: {errors}");
            }
            assert!(!errors.contains("hunter2"), "{store}: {errors}");
        }
    }

    #[cfg(not(feature = "postgres"))]
    #[test]
    fn a_database_store_needs_the_postgres_feature() {
        let errors = store_errors("url = \"postgres://vw@db/vw\"\ntls_mode = \"disable\"", &env);
        assert!(
            errors.contains("store.url") && errors.contains("`postgres` feature"),
            "{errors}"
        );
    }
}
