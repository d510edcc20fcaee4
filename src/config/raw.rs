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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub path: Option<String>,
    /// Largest number of records one group commit takes.
    pub group_commit_max_records: Option<usize>,
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
    pub project_token: String,
    pub api_secret: Option<String>,
    pub project_id: Option<String>,
    pub sources: Vec<String>,
    pub batch_max_records: Option<usize>,
    pub batch_max_bytes: Option<usize>,
    pub request_timeout_secs: Option<u64>,
    pub retry_initial_backoff_ms: Option<u64>,
    pub retry_max_backoff_secs: Option<u64>,
    pub max_queue_records: Option<u64>,
}
