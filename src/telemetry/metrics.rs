//! Prometheus metrics, rendered in the text exposition format at `/metrics`.
//!
//! Names follow `vendorwall_<subsystem>_<name>_<unit>`. Labels come only from bounded sets:
//! destination names from the configuration, endpoint names, and the closed sets of
//! rejection reasons. Never a user id, event name, token or IP.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use std::sync::LazyLock;

use crate::event::Reject;
use crate::protocol::{RequestError, Vendor};

/// Reasons a whole request is refused: the decoders', plus the gateway's own.
pub static REQUEST_REJECT_REASONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut reasons = RequestError::REASONS.to_vec();
    reasons.extend([
        "unauthorized",
        "backpressure",
        "store_unavailable",
        "method_not_allowed",
        "request_timeout",
    ]);
    reasons
});

/// Why the gateway closed a public-listener connection itself.
pub const CONNECTION_CLOSE_REASONS: [&str; 3] = ["header_timeout", "idle_timeout", "connection_limit"];

/// Connections on the public listener: open now, and closed by the gateway, by reason.
#[derive(Default)]
pub struct ConnectionMetrics {
    open: AtomicI64,
    closed: [AtomicU64; CONNECTION_CLOSE_REASONS.len()],
}

impl ConnectionMetrics {
    pub fn opened(&self) {
        self.open.fetch_add(1, Relaxed);
    }

    pub fn ended(&self) {
        self.open.fetch_sub(1, Relaxed);
    }

    /// Counts a connection the gateway closed; `reason` is one of [`CONNECTION_CLOSE_REASONS`].
    pub fn closed(&self, reason: &str) {
        if let Some(i) = CONNECTION_CLOSE_REASONS.iter().position(|r| *r == reason) {
            self.closed[i].fetch_add(1, Relaxed);
        }
    }

    pub fn closed_count(&self, reason: &str) -> u64 {
        CONNECTION_CLOSE_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.closed[i].load(Relaxed))
    }

    pub fn open_count(&self) -> i64 {
        self.open.load(Relaxed)
    }

    fn render(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "# HELP vendorwall_server_open_connections Connections open on the public listener.\n# TYPE vendorwall_server_open_connections gauge\nvendorwall_server_open_connections {}",
            self.open_count()
        );
        let _ = writeln!(
            o,
            "# HELP vendorwall_server_closed_connections_total Public-listener connections the gateway closed, by reason.\n# TYPE vendorwall_server_closed_connections_total counter"
        );
        for (i, r) in CONNECTION_CLOSE_REASONS.iter().enumerate() {
            let _ = writeln!(
                o,
                "vendorwall_server_closed_connections_total{{reason=\"{r}\"}} {}",
                self.closed[i].load(Relaxed)
            );
        }
    }
}

/// Every ingest route of every vendor, as (protocol, path): the request-latency labels.
pub static ROUTES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    Vendor::ALL
        .into_iter()
        .flat_map(|v| v.protocol().routes().iter().map(move |r| (v.name(), r.path)))
        .collect()
});

/// Latency buckets in seconds: 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                self.buckets[i].load(Relaxed)
            );
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Per-destination counters and gauges.
pub struct DestinationMetrics {
    pub name: String,
    pub enqueued: AtomicU64,
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub dropped: AtomicU64,
    /// Records a `block_event` rule kept from the destination.
    pub blocked: AtomicU64,
    pub depth: AtomicU64,
    /// Enqueue time of the oldest queued record, ms since the epoch; 0 when empty.
    pub oldest_enqueued_at_ms: AtomicI64,
    pub attempt_latency: Histogram,
    /// Fields of another vendor's envelope with no canonical name, sent as plain properties.
    pub untranslated: AtomicU64,
}

pub struct Metrics {
    pub received: AtomicU64,
    pub accepted: AtomicU64,
    rejected_records: [AtomicU64; Reject::ALL.len()],
    rejected_requests: Vec<AtomicU64>,
    request_latency: Vec<Histogram>,
    /// Session-replay records answered as accepted and forwarded nowhere.
    pub replay_blocked: AtomicU64,
    /// Feature-flag requests, by outcome: forwarded, answered "no flags", vendor failed.
    pub flags: [AtomicU64; 3],
    pub commit_latency: Histogram,
    pub commits: AtomicU64,
    pub committed_records: AtomicU64,
    /// Admin API requests refused for a missing or wrong token.
    pub admin_unauthorized: AtomicU64,
    /// Admin API requests refused because the token lacks the route's scope.
    pub admin_forbidden: AtomicU64,
    /// Admin API requests refused because their address failed to log in too often.
    pub admin_throttled: AtomicU64,
    pub connections: ConnectionMetrics,
    pub destinations: Vec<DestinationMetrics>,
}

impl Metrics {
    pub fn new(destinations: &[String]) -> Metrics {
        Metrics {
            received: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected_records: Default::default(),
            rejected_requests: REQUEST_REJECT_REASONS.iter().map(|_| AtomicU64::new(0)).collect(),
            request_latency: ROUTES.iter().map(|_| Histogram::default()).collect(),
            replay_blocked: AtomicU64::new(0),
            flags: Default::default(),
            commit_latency: Histogram::default(),
            commits: AtomicU64::new(0),
            committed_records: AtomicU64::new(0),
            admin_unauthorized: AtomicU64::new(0),
            admin_forbidden: AtomicU64::new(0),
            admin_throttled: AtomicU64::new(0),
            connections: ConnectionMetrics::default(),
            destinations: destinations
                .iter()
                .map(|n| DestinationMetrics {
                    name: n.clone(),
                    enqueued: AtomicU64::new(0),
                    delivered: AtomicU64::new(0),
                    retried: AtomicU64::new(0),
                    dead_lettered: AtomicU64::new(0),
                    dropped: AtomicU64::new(0),
                    blocked: AtomicU64::new(0),
                    depth: AtomicU64::new(0),
                    oldest_enqueued_at_ms: AtomicI64::new(0),
                    attempt_latency: Histogram::default(),
                    untranslated: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    pub fn reject_record(&self, reason: Reject) {
        if let Some(i) = Reject::ALL.iter().position(|r| *r == reason) {
            self.rejected_records[i].fetch_add(1, Relaxed);
        }
    }

    pub fn reject_request(&self, reason: &str) {
        if let Some(i) = REQUEST_REJECT_REASONS.iter().position(|r| *r == reason) {
            self.rejected_requests[i].fetch_add(1, Relaxed);
        }
    }

    pub fn rejected_requests(&self, reason: &str) -> u64 {
        REQUEST_REJECT_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.rejected_requests[i].load(Relaxed))
    }

    /// Time to answer a request to `path` of `protocol`'s routes.
    pub fn observe_request(&self, protocol: Vendor, path: &str, d: Duration) {
        if let Some(i) = ROUTES.iter().position(|(v, p)| *v == protocol.name() && *p == path) {
            self.request_latency[i].observe(d);
        }
    }

    /// Counts a feature-flag request: `forwarded`, `none` (answered "no flags") or `failed`
    /// (the vendor did not answer; "no flags" was answered).
    pub fn flags_request(&self, outcome: &str) {
        let i = match outcome {
            "forwarded" => 0,
            "none" => 1,
            _ => 2,
        };
        self.flags[i].fetch_add(1, Relaxed);
    }

    pub fn destination(&self, index: usize) -> &DestinationMetrics {
        &self.destinations[index]
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, now_ms: i64) -> String {
        let mut o = String::with_capacity(8192);
        let counter = |o: &mut String, name: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        counter(
            &mut o,
            "vendorwall_ingest_received_records_total",
            "Records decoded from SDK requests.",
        );
        let _ = writeln!(
            o,
            "vendorwall_ingest_received_records_total {}",
            self.received.load(Relaxed)
        );
        self.connections.render(&mut o);
        counter(
            &mut o,
            "vendorwall_admin_unauthorized_total",
            "Admin API requests refused for a missing or wrong token.",
        );
        let _ = writeln!(
            o,
            "vendorwall_admin_unauthorized_total {}",
            self.admin_unauthorized.load(Relaxed)
        );
        for (name, help, v) in [
            (
                "vendorwall_admin_forbidden_total",
                "Admin API requests refused because the token lacks the route's scope.",
                &self.admin_forbidden,
            ),
            (
                "vendorwall_admin_throttled_total",
                "Admin API requests refused (429) from an address with too many failed logins.",
                &self.admin_throttled,
            ),
        ] {
            counter(&mut o, name, help);
            let _ = writeln!(o, "{name} {}", v.load(Relaxed));
        }
        counter(
            &mut o,
            "vendorwall_ingest_accepted_records_total",
            "Records durably queued for at least one destination, or dropped by a kill switch.",
        );
        let _ = writeln!(
            o,
            "vendorwall_ingest_accepted_records_total {}",
            self.accepted.load(Relaxed)
        );
        counter(
            &mut o,
            "vendorwall_ingest_rejected_records_total",
            "Records refused one by one, by reason.",
        );
        for (i, r) in Reject::ALL.iter().enumerate() {
            let _ = writeln!(
                o,
                "vendorwall_ingest_rejected_records_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.rejected_records[i].load(Relaxed)
            );
        }
        counter(
            &mut o,
            "vendorwall_ingest_rejected_requests_total",
            "Requests refused as a whole, by reason.",
        );
        for (i, r) in REQUEST_REJECT_REASONS.iter().enumerate() {
            let _ = writeln!(
                o,
                "vendorwall_ingest_rejected_requests_total{{reason=\"{r}\"}} {}",
                self.rejected_requests[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            o,
            "# HELP vendorwall_ingest_request_duration_seconds Time from request to acknowledgement.\n# TYPE vendorwall_ingest_request_duration_seconds histogram"
        );
        for (i, (protocol, path)) in ROUTES.iter().enumerate() {
            self.request_latency[i].render(
                &mut o,
                "vendorwall_ingest_request_duration_seconds",
                &format!("protocol=\"{protocol}\",route=\"{path}\""),
            );
        }
        counter(
            &mut o,
            "vendorwall_ingest_replay_blocked_records_total",
            "Session-replay records answered as accepted and forwarded nowhere.",
        );
        let _ = writeln!(
            o,
            "vendorwall_ingest_replay_blocked_records_total {}",
            self.replay_blocked.load(Relaxed)
        );
        counter(
            &mut o,
            "vendorwall_ingest_flags_requests_total",
            "Feature-flag requests, by outcome.",
        );
        for (i, outcome) in ["forwarded", "none", "failed"].iter().enumerate() {
            let _ = writeln!(
                o,
                "vendorwall_ingest_flags_requests_total{{outcome=\"{outcome}\"}} {}",
                self.flags[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            o,
            "# HELP vendorwall_outbox_commit_duration_seconds Duration of one group commit.\n# TYPE vendorwall_outbox_commit_duration_seconds histogram"
        );
        self.commit_latency
            .render(&mut o, "vendorwall_outbox_commit_duration_seconds", "");
        counter(&mut o, "vendorwall_outbox_commits_total", "Group commits.");
        let _ = writeln!(o, "vendorwall_outbox_commits_total {}", self.commits.load(Relaxed));
        counter(
            &mut o,
            "vendorwall_outbox_committed_records_total",
            "Records written by group commits.",
        );
        let _ = writeln!(
            o,
            "vendorwall_outbox_committed_records_total {}",
            self.committed_records.load(Relaxed)
        );

        type Getter = fn(&DestinationMetrics) -> u64;
        let per_dest: [(&str, &str, &str, Getter); 7] = [
            (
                "vendorwall_pipeline_untranslated_fields_total",
                "counter",
                "Fields of another vendor's envelope with no canonical name, sent as plain properties.",
                |d| d.untranslated.load(Relaxed),
            ),
            (
                "vendorwall_outbox_enqueued_records_total",
                "counter",
                "Records queued for the destination.",
                |d| d.enqueued.load(Relaxed),
            ),
            (
                "vendorwall_delivery_delivered_records_total",
                "counter",
                "Records the vendor acknowledged.",
                |d| d.delivered.load(Relaxed),
            ),
            (
                "vendorwall_delivery_retries_total",
                "counter",
                "Delivery attempts that will be retried.",
                |d| d.retried.load(Relaxed),
            ),
            (
                "vendorwall_delivery_dead_lettered_records_total",
                "counter",
                "Records the vendor refused for good.",
                |d| d.dead_lettered.load(Relaxed),
            ),
            (
                "vendorwall_policy_blocked_records_total",
                "counter",
                "Records a block_event rule kept from the destination.",
                |d| d.blocked.load(Relaxed),
            ),
            (
                "vendorwall_delivery_dropped_records_total",
                "counter",
                "Records discarded by `destination suspend --drop`.",
                |d| d.dropped.load(Relaxed),
            ),
        ];
        for (name, kind, help, get) in per_dest {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for d in &self.destinations {
                let _ = writeln!(o, "{name}{{destination=\"{}\"}} {}", d.name, get(d));
            }
        }
        let _ = writeln!(
            o,
            "# HELP vendorwall_outbox_depth_records Records queued per destination.\n# TYPE vendorwall_outbox_depth_records gauge"
        );
        for d in &self.destinations {
            let _ = writeln!(
                o,
                "vendorwall_outbox_depth_records{{destination=\"{}\"}} {}",
                d.name,
                d.depth.load(Relaxed)
            );
        }
        let _ = writeln!(
            o,
            "# HELP vendorwall_outbox_oldest_age_seconds Age of the oldest queued record per destination.\n# TYPE vendorwall_outbox_oldest_age_seconds gauge"
        );
        for d in &self.destinations {
            let oldest = d.oldest_enqueued_at_ms.load(Relaxed);
            let age = if oldest > 0 {
                (now_ms - oldest).max(0) as f64 / 1000.0
            } else {
                0.0
            };
            let _ = writeln!(
                o,
                "vendorwall_outbox_oldest_age_seconds{{destination=\"{}\"}} {age}",
                d.name
            );
        }
        let _ = writeln!(
            o,
            "# HELP vendorwall_delivery_attempt_duration_seconds Duration of one delivery request.\n# TYPE vendorwall_delivery_attempt_duration_seconds histogram"
        );
        for d in &self.destinations {
            d.attempt_latency.render(
                &mut o,
                "vendorwall_delivery_attempt_duration_seconds",
                &format!("destination=\"{}\"", d.name),
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let m = Metrics::new(&["mixpanel".to_owned()]);
        m.received.fetch_add(3, Relaxed);
        m.reject_record(Reject::UnknownToken);
        m.reject_request("backpressure");
        m.observe_request(Vendor::Mixpanel, "/track", Duration::from_millis(3));
        m.destination(0).depth.store(7, Relaxed);
        m.destination(0).oldest_enqueued_at_ms.store(1_000, Relaxed);
        let text = m.render(6_000);
        assert!(text.contains("vendorwall_ingest_received_records_total 3"));
        assert!(text.contains("vendorwall_ingest_rejected_records_total{reason=\"unknown_token\"} 1"));
        assert!(text.contains("vendorwall_ingest_rejected_requests_total{reason=\"backpressure\"} 1"));
        assert!(text.contains(
            "vendorwall_ingest_request_duration_seconds_bucket{protocol=\"mixpanel\",route=\"/track\",le=\"0.0025\"} 0"
        ));
        assert!(text.contains(
            "vendorwall_ingest_request_duration_seconds_bucket{protocol=\"mixpanel\",route=\"/track\",le=\"0.005\"} 1"
        ));
        assert!(text.contains("vendorwall_outbox_depth_records{destination=\"mixpanel\"} 7"));
        assert!(text.contains("vendorwall_outbox_oldest_age_seconds{destination=\"mixpanel\"} 5"));
        assert_eq!(m.rejected_requests("backpressure"), 1);
    }
}
