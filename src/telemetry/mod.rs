//! Logging and metrics.
//!
//! Logs go to stderr through `tracing`; `VENDORWALL_LOG` sets the filter (default `info`).
//! Nothing vendorwall logs carries a property value, a token or a secret: log fields are
//! counts, destination names, endpoint names, status codes and reasons from closed sets.

pub mod metrics;

pub use metrics::Metrics;

/// Installs the global log subscriber. Safe to call more than once.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VENDORWALL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
