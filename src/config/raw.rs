//! Raw configuration types: exactly what the TOML file may say, nothing validated yet.
//!
//! Every struct denies unknown keys. Each top-level section and each `[[sources]]` /
//! `[[destinations]]` entry is deserialised on its own, so one bad entry does not hide the
//! errors of the others.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: Option<String>,
    pub tls_cert_path: Option<String>,
    pub tls_key_path: Option<String>,
    /// Exact origins allowed to call the ingest routes from a browser (credentials included).
    pub cors_allowed_origins: Option<Vec<String>>,
    pub request_timeout_secs: Option<u64>,
    pub header_read_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub path: Option<String>,
    /// A PostgreSQL database instead of `path`: `postgres://USER@HOST:PORT/DB` (or `"${ENV}"`).
    pub url: Option<String>,
    /// The database role's password (`"${ENV}"`).
    pub password: Option<String>,
    /// `disable`, `require` (encrypted, server not verified) or `verify-full`.
    pub tls_mode: Option<String>,
    /// The CA certificates (PEM) `verify-full` checks the server against.
    pub tls_ca_path: Option<String>,
    /// How long a gateway holds outbox rows it leased before others may take them over.
    pub lease_secs: Option<u64>,
    /// Connections each process keeps to the database at most.
    pub max_connections: Option<usize>,
    /// Largest number of records one group commit takes.
    pub group_commit_max_records: Option<usize>,
    /// Free space under which ingest is refused, so delivery can still record and drain.
    pub min_free_bytes: Option<u64>,
    /// Size of the reserve file given up when a delivery record hits a full disk.
    pub reserve_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_body_bytes: Option<usize>,
    pub max_decompressed_bytes: Option<usize>,
    pub max_records_per_request: Option<usize>,
    pub max_depth: Option<usize>,
    pub max_properties: Option<usize>,
    pub max_string_bytes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub protocol: String,
    pub tokens: Vec<String>,
    /// A credential apps use for `/import` instead of the vendor's real API secret.
    pub import_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub endpoint: Option<String>,
    /// The vendor's project key, under the vendor's own name for it (each type takes one).
    pub project_token: Option<String>,
    pub write_key: Option<String>,
    pub api_key: Option<String>,
    /// The vendor's secret, where it has one (Mixpanel `api_secret`, Amplitude `secret_key`).
    pub api_secret: Option<String>,
    pub secret_key: Option<String>,
    pub project_id: Option<String>,
    /// Amplitude: deliver to `/batch` instead of `/2/httpapi`.
    pub use_batch: Option<bool>,
    /// PostHog: `"forward"` feature-flag requests to the vendor, or answer `"none"` (no flags).
    pub flags: Option<String>,
    pub sources: Vec<String>,
    pub batch_max_records: Option<usize>,
    pub batch_max_bytes: Option<usize>,
    pub batch_linger_ms: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub retry_initial_backoff_ms: Option<u64>,
    pub retry_max_backoff_secs: Option<u64>,
    pub max_queue_records: Option<u64>,
    /// How long the vendor keeps what it receives (incident data ranges reach back this far).
    pub vendor_retention_days: Option<u32>,
    /// A preset name (`"recommended"`, `"passthrough"`) or a `[destinations.policy]` table.
    pub policy: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Rules of this preset follow the table's own rules.
    pub preset: Option<String>,
    pub mode: Option<String>,
    pub allow: Option<Vec<String>>,
    pub pseudonymize_ids: Option<bool>,
    pub rules: Option<Vec<RuleConfig>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub category: Option<String>,
    pub path: Option<String>,
    pub event: Option<String>,
    pub source: Option<String>,
    pub action: String,
    pub keep_last: Option<usize>,
    pub to: Option<String>,
    pub decimals: Option<u32>,
    /// `to = "prefix"`: characters kept (postal codes).
    pub keep: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Environment variable holding the master key (32 bytes, base64).
    pub master_key_env: Option<String>,
    pub master_key_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyConfig {
    /// Detectors defined here rather than in code (`[[classify.detectors]]`).
    #[serde(default)]
    pub detectors: Vec<DetectorConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    pub name: String,
    pub category: String,
    /// Case-insensitive regular expressions on the key.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Regular expressions on the value.
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// Keep each subject's email, sealed, so notification lists can include it.
    pub keep_contact_email: Option<bool>,
    /// Append-only file outside the store that each ledger batch's keyed head is written to.
    pub witness_path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentConfig {
    pub organisation: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub dpo_name: Option<String>,
    pub dpo_email: Option<String>,
    pub lead_authority: Option<String>,
    pub website: Option<String>,
    /// Keep the built-in deadline rules (GDPR, California, NIS2, SEC) beside `deadlines`.
    pub default_deadlines: Option<bool>,
    pub deadlines: Option<Vec<crate::incident::deadlines::DeadlineRule>>,
    /// A directory whose `report.md`, `regulator-notice.md`, `user-notice.md` replace the
    /// built-in templates of the same name.
    pub templates_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// The admin listener's address (the admin API and `/metrics`); unset: no admin listener.
    pub listen: Option<String>,
    /// Named, scoped bearer tokens for `/api/v1/`.
    pub tokens: Option<Vec<AdminTokenConfig>>,
    /// The audit log (JSON lines); default `<store>/audit.log`.
    pub audit_log: Option<String>,
    /// TLS for the admin listener (required when it is not on a loopback address).
    pub tls_cert_path: Option<String>,
    pub tls_key_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminTokenConfig {
    /// Who the token belongs to: the audit log's actor.
    pub name: String,
    /// The bearer token (`"${ENV}"` references recommended).
    pub token: String,
    /// `read`, `operate`, `export`.
    pub scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTestConfig {
    pub destination: String,
    /// JSON Lines of Mixpanel-shaped events, relative to the config file.
    pub samples: String,
    /// Categories the destination must never receive (hierarchical).
    #[serde(default)]
    pub never_receives: Vec<String>,
    /// Property paths (globs) that must arrive unchanged where present.
    #[serde(default)]
    pub unchanged: Vec<String>,
}
