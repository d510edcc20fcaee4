//! vendorwall: a self-hosted data firewall between an organisation's apps and its vendors.
//!
//! Layout and dependency direction (see `docs/ARCHITECTURE.md`):
//!
//! ```text
//! event → protocol → policy → outbox → delivery
//!                               ↑          ↑
//!                             store ───────┘
//! server, cli on top; config feeds all; telemetry beside.
//! ```
//!
//! - [`audit`]: the HMAC-chained audit log of state changes and exports.
//! - [`config`]: the TOML file, validated once into runtime types.
//! - [`event`]: the canonical event model every protocol decodes into.
//! - [`protocol`]: the vendor seam: one trait, one folder per vendor (decode, answers,
//!   encode, roles, emulator).
//! - [`classify`]: Fideslang categories for every field: by role, key name, value, structure.
//! - [`policy`]: per-destination transformation of events; pure.
//! - [`store`]: the store traits (outbox, destinations, keys, ledger, incidents), their conformance
//!   suites, and the embedded SQLite backend.
//! - [`incident`]: breach windows at a vendor → affected people, reports, notices, deadlines.
//! - [`keyring`]: per-destination pseudonym keys in the store (sealed, versioned, rotated).
//! - [`json`]: the compact JSON writer for outbox payloads (serde_json's bytes, faster).
//! - [`ledger`]: the exposure ledger: what each vendor received, about whom, when; hash-chained.
//! - [`outbox`]: durable per-destination queue with group commit and backpressure.
//! - [`delivery`]: one worker per destination: batching, retries, dead letters.
//! - [`pipeline`]: ingest → policy → outbox for one decoded request.
//! - [`server`]: HTTP ingest routes, health and metrics.
//! - [`emulator`]: vendor ingestion emulators (the server; each vendor's rules are in its
//!   protocol folder) for tests, demo and benchmarks.
//! - [`vendor`]: the closed set of vendors.
//! - [`telemetry`]: logging setup and Prometheus metrics.
//! - [`cli`]: the `vendorwall` subcommands.

pub mod audit;
pub mod classify;
pub mod cli;
pub mod config;
pub mod delivery;
mod digits;
pub mod emulator;
pub mod event;
pub mod incident;
pub mod json;
pub mod keyring;
pub mod ledger;
pub mod outbox;
pub mod pipeline;
pub mod policy;
pub mod protocol;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod vendor;

/// Installs ring as rustls's process-wide crypto provider (TLS for the server and for
/// delivery). Idempotent; every entry point that builds a TLS client or server calls it.
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
