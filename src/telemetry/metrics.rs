//! Prometheus metrics, served at `/metrics` in the OpenMetrics text format
//! (<https://prometheus.io/docs/specs/om/open_metrics_spec/>) by the official client,
//! `prometheus-client`.
//!
//! Names follow `vendorwall_<subsystem>_<name>_<unit>`; a counter's samples end in `_total`
//! and its `# HELP` / `# TYPE` lines name the family without that suffix, as OpenMetrics
//! asks. Labels come only from bounded sets: destination names from the configuration, the
//! routes of each protocol, and reasons and outcomes written in the code (`&'static str`, so
//! no request can make up a label). Never a user id, event name, token or IP.
//!
//! Counters and gauges that other modules update directly are [`Count`] and [`Level`]: a
//! registered metric that dereferences to its atomic, so `metrics.accepted.fetch_add(n,
//! Relaxed)` is the whole cost on the request path. Label sets a request picks at run time
//! (rejection reasons, flag outcomes) are families: a new reason is counted the first time
//! it is used, and every reason the code knows is shown from start-up with 0.

use std::ops::Deref;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use prometheus_client::encoding::text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram;
use prometheus_client::registry::Registry;

use crate::event::Reject;
use crate::protocol::{RequestError, Vendor};

/// Reasons a whole request is refused that the code knows of: the decoders', plus the
/// gateway's own. Shown with 0 from start-up; a reason not listed is still counted.
pub static REQUEST_REJECT_REASONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut reasons = RequestError::REASONS.to_vec();
    reasons.extend([
        "unauthorized",
        "backpressure",
        "store_unavailable",
        "store_full",
        "method_not_allowed",
        "request_timeout",
    ]);
    reasons
});

/// Why the gateway closed a connection itself.
pub const CONNECTION_CLOSE_REASONS: [&str; 3] = ["header_timeout", "idle_timeout", "connection_limit"];

/// Connections on the listeners: open now, and closed by the gateway, by reason.
pub struct ConnectionMetrics {
    open: Gauge<i64, AtomicI64>,
    closed: Family<Label<&'static str>, Counter>,
}

impl ConnectionMetrics {
    fn register(registry: &mut Registry) -> ConnectionMetrics {
        let open = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "vendorwall_server_open_connections",
            "Connections open on the public and admin listeners",
            open.clone(),
        );
        let closed = labelled(
            registry,
            "vendorwall_server_closed_connections",
            "Connections the gateway closed itself, by reason.",
            "reason",
            CONNECTION_CLOSE_REASONS,
        );
        ConnectionMetrics { open, closed }
    }

    pub fn opened(&self) {
        self.open.inc();
    }

    pub fn ended(&self) {
        self.open.dec();
    }

    /// Counts a connection the gateway closed; `reason` is one of [`CONNECTION_CLOSE_REASONS`].
    pub fn closed(&self, reason: &'static str) {
        self.closed.get_or_create(&[("reason", reason)]).inc();
    }

    pub fn closed_count(&self, reason: &'static str) -> u64 {
        self.closed.get(&[("reason", reason)]).map_or(0, |c| c.get())
    }

    pub fn open_count(&self) -> i64 {
        self.open.get()
    }
}

/// Feature-flag request outcomes.
const FLAG_OUTCOMES: [&str; 3] = ["forwarded", "none", "failed"];

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

/// One label, name and value.
type Label<V> = [(&'static str, V); 1];
/// The `protocol` and `route` labels of a request-latency series.
type RouteLabels = [(&'static str, &'static str); 2];

/// A registered counter; dereferences to its atomic, so call sites read `fetch_add`.
#[derive(Clone, Debug, Default)]
pub struct Count(Counter);

impl Deref for Count {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        self.0.inner()
    }
}

/// A registered gauge of a whole number; dereferences to its atomic (`store`, `load`).
#[derive(Clone, Debug, Default)]
pub struct Level(Gauge<u64, AtomicU64>);

impl Deref for Level {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        self.0.inner()
    }
}

/// A latency histogram with the buckets above, observed in [`Duration`]s.
#[derive(Clone, Debug)]
pub struct Histogram(histogram::Histogram);

impl Default for Histogram {
    fn default() -> Self {
        Histogram(latency_histogram())
    }
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }
}

fn latency_histogram() -> histogram::Histogram {
    histogram::Histogram::new(LATENCY_BUCKETS)
}

/// Per-destination counters and gauges.
pub struct DestinationMetrics {
    pub name: String,
    pub enqueued: Count,
    pub delivered: Count,
    pub retried: Count,
    pub dead_lettered: Count,
    pub dropped: Count,
    /// Records a `block_event` rule kept from the destination.
    pub blocked: Count,
    pub depth: Level,
    /// Enqueue time of the oldest queued record, ms since the epoch; 0 when empty. Shown as
    /// `vendorwall_outbox_oldest_age_seconds`, worked out when metrics are rendered.
    pub oldest_enqueued_at_ms: AtomicI64,
    oldest_age: Gauge<f64, AtomicU64>,
    pub attempt_latency: Histogram,
    /// Fields of another vendor's envelope with no canonical name, sent as plain properties.
    pub untranslated: Count,
}

pub struct Metrics {
    registry: Registry,
    pub received: Count,
    pub accepted: Count,
    rejected_records: Family<Label<&'static str>, Counter>,
    rejected_requests: Family<Label<&'static str>, Counter>,
    /// One histogram per entry of [`ROUTES`], in its order (registered as one family).
    request_latency: Vec<Histogram>,
    /// Session-replay records answered as accepted and forwarded nowhere.
    pub replay_blocked: Count,
    /// Feature-flag requests, by outcome: forwarded, answered "no flags", vendor failed.
    flags: Family<Label<&'static str>, Counter>,
    pub commit_latency: Histogram,
    pub commits: Count,
    pub committed_records: Count,
    /// Admin API requests refused for a missing or wrong token.
    pub admin_unauthorized: Count,
    /// Admin API requests refused because the token lacks the route's scope.
    pub admin_forbidden: Count,
    /// Admin API requests refused because their address failed to log in too often.
    pub admin_throttled: Count,
    pub connections: ConnectionMetrics,
    pub destinations: Vec<DestinationMetrics>,
}

/// Registers a plain counter. `help` is written as it reads in `/metrics`; the client adds
/// the final full stop itself.
fn count(registry: &mut Registry, name: &str, help: &str) -> Count {
    let c = Count::default();
    registry.register(name, sentence(help), c.0.clone());
    c
}

/// `help` without its final full stop, which `Registry::register` appends.
fn sentence(help: &str) -> &str {
    help.strip_suffix('.').unwrap_or(help)
}

/// A family with one series per `values`, shown with 0 until counted.
fn labelled(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &'static str,
    values: impl IntoIterator<Item = &'static str>,
) -> Family<Label<&'static str>, Counter> {
    let family = Family::<Label<&'static str>, Counter>::default();
    for v in values {
        let _ = family.get_or_create(&[(label, v)]);
    }
    registry.register(name, sentence(help), family.clone());
    family
}

/// Per-destination metrics: one family per metric, one series per destination.
fn per_destination<M, C>(
    registry: &mut Registry,
    destinations: &[String],
    name: &str,
    help: &str,
    family: Family<Label<String>, M, C>,
) -> Vec<M>
where
    M: prometheus_client::metrics::TypedMetric
        + prometheus_client::encoding::EncodeMetric
        + Clone
        + Send
        + Sync
        + std::fmt::Debug
        + 'static,
    C: prometheus_client::metrics::family::MetricConstructor<M> + Clone + Send + Sync + std::fmt::Debug + 'static,
{
    let series = destinations
        .iter()
        .map(|d| family.get_or_create_owned(&[("destination", d.clone())]))
        .collect();
    registry.register(name, sentence(help), family);
    series
}

impl Metrics {
    pub fn new(destinations: &[String]) -> Metrics {
        let mut r = Registry::default();
        let received = count(
            &mut r,
            "vendorwall_ingest_received_records",
            "Records decoded from SDK requests.",
        );
        let admin_unauthorized = count(
            &mut r,
            "vendorwall_admin_unauthorized",
            "Admin API requests refused for a missing or wrong token.",
        );
        let admin_forbidden = count(
            &mut r,
            "vendorwall_admin_forbidden",
            "Admin API requests refused because the token lacks the route's scope.",
        );
        let admin_throttled = count(
            &mut r,
            "vendorwall_admin_throttled",
            "Admin API requests refused (429) from an address with too many failed logins.",
        );
        let connections = ConnectionMetrics::register(&mut r);
        let accepted = count(
            &mut r,
            "vendorwall_ingest_accepted_records",
            "Records durably queued for at least one destination, or dropped by a kill switch.",
        );
        let rejected_records = labelled(
            &mut r,
            "vendorwall_ingest_rejected_records",
            "Records refused one by one, by reason.",
            "reason",
            Reject::ALL.iter().map(|r| r.as_str()),
        );
        let rejected_requests = labelled(
            &mut r,
            "vendorwall_ingest_rejected_requests",
            "Requests refused as a whole, by reason.",
            "reason",
            REQUEST_REJECT_REASONS.iter().copied(),
        );
        let routes = Family::<RouteLabels, histogram::Histogram, fn() -> histogram::Histogram>::new_with_constructor(
            latency_histogram,
        );
        let request_latency = ROUTES
            .iter()
            .map(|&(protocol, route)| {
                Histogram(routes.get_or_create_owned(&[("protocol", protocol), ("route", route)]))
            })
            .collect();
        r.register(
            "vendorwall_ingest_request_duration_seconds",
            sentence("Time from request to acknowledgement."),
            routes,
        );
        let replay_blocked = count(
            &mut r,
            "vendorwall_ingest_replay_blocked_records",
            "Session-replay records answered as accepted and forwarded nowhere.",
        );
        let flags = labelled(
            &mut r,
            "vendorwall_ingest_flags_requests",
            "Feature-flag requests, by outcome.",
            "outcome",
            FLAG_OUTCOMES,
        );
        let commit_latency = Histogram::default();
        r.register(
            "vendorwall_outbox_commit_duration_seconds",
            sentence("Duration of one group commit."),
            commit_latency.0.clone(),
        );
        let commits = count(&mut r, "vendorwall_outbox_commits", "Group commits.");
        let committed_records = count(
            &mut r,
            "vendorwall_outbox_committed_records",
            "Records written by group commits.",
        );

        let mut counters = |name: &str, help: &str| -> Vec<Count> {
            per_destination(&mut r, destinations, name, help, Family::<_, Counter>::default())
                .into_iter()
                .map(Count)
                .collect()
        };
        let untranslated = counters(
            "vendorwall_pipeline_untranslated_fields",
            "Fields of another vendor's envelope with no canonical name, sent as plain properties.",
        );
        let enqueued = counters(
            "vendorwall_outbox_enqueued_records",
            "Records queued for the destination.",
        );
        let delivered = counters(
            "vendorwall_delivery_delivered_records",
            "Records the vendor acknowledged.",
        );
        let retried = counters("vendorwall_delivery_retries", "Delivery attempts that will be retried.");
        let dead_lettered = counters(
            "vendorwall_delivery_dead_lettered_records",
            "Records the vendor refused for good.",
        );
        let blocked = counters(
            "vendorwall_policy_blocked_records",
            "Records a block_event rule kept from the destination.",
        );
        let dropped = counters(
            "vendorwall_delivery_dropped_records",
            "Records discarded by `destination suspend --drop`.",
        );
        let depth = per_destination(
            &mut r,
            destinations,
            "vendorwall_outbox_depth_records",
            "Records queued per destination.",
            Family::<_, Gauge<u64, AtomicU64>>::default(),
        );
        let oldest_age = per_destination(
            &mut r,
            destinations,
            "vendorwall_outbox_oldest_age_seconds",
            "Age of the oldest queued record per destination.",
            Family::<_, Gauge<f64, AtomicU64>>::default(),
        );
        let attempt_latency = per_destination(
            &mut r,
            destinations,
            "vendorwall_delivery_attempt_duration_seconds",
            "Duration of one delivery request.",
            Family::<_, histogram::Histogram, fn() -> histogram::Histogram>::new_with_constructor(latency_histogram),
        );

        let destinations = destinations
            .iter()
            .enumerate()
            .map(|(i, name)| DestinationMetrics {
                name: name.clone(),
                enqueued: enqueued[i].clone(),
                delivered: delivered[i].clone(),
                retried: retried[i].clone(),
                dead_lettered: dead_lettered[i].clone(),
                dropped: dropped[i].clone(),
                blocked: blocked[i].clone(),
                depth: Level(depth[i].clone()),
                oldest_enqueued_at_ms: AtomicI64::new(0),
                oldest_age: oldest_age[i].clone(),
                attempt_latency: Histogram(attempt_latency[i].clone()),
                untranslated: untranslated[i].clone(),
            })
            .collect();
        Metrics {
            registry: r,
            received,
            accepted,
            rejected_records,
            rejected_requests,
            request_latency,
            replay_blocked,
            flags,
            commit_latency,
            commits,
            committed_records,
            admin_unauthorized,
            admin_forbidden,
            admin_throttled,
            connections,
            destinations,
        }
    }

    pub fn reject_record(&self, reason: Reject) {
        self.rejected_records
            .get_or_create(&[("reason", reason.as_str())])
            .inc();
    }

    /// Counts a request refused as a whole. Reasons are written in the code, never taken
    /// from a request; one not in [`REQUEST_REJECT_REASONS`] starts its own series.
    pub fn reject_request(&self, reason: &'static str) {
        self.rejected_requests.get_or_create(&[("reason", reason)]).inc();
    }

    /// Requests refused for `reason` so far.
    pub fn rejected_requests(&self, reason: &'static str) -> u64 {
        self.rejected_requests.get(&[("reason", reason)]).map_or(0, |c| c.get())
    }

    /// Time to answer a request to `path` of `protocol`'s routes.
    pub fn observe_request(&self, protocol: Vendor, path: &str, d: Duration) {
        if let Some(i) = ROUTES.iter().position(|(v, p)| *v == protocol.name() && *p == path) {
            self.request_latency[i].observe(d);
        }
    }

    /// Counts a feature-flag request: `forwarded`, `none` (answered "no flags") or `failed`
    /// (the vendor did not answer; "no flags" was answered).
    pub fn flags_request(&self, outcome: &'static str) {
        self.flags.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub fn destination(&self, index: usize) -> &DestinationMetrics {
        &self.destinations[index]
    }

    /// The OpenMetrics text exposition of every metric, ages worked out at `now_ms`.
    pub fn render(&self, now_ms: i64) -> String {
        for d in &self.destinations {
            let oldest = d.oldest_enqueued_at_ms.load(Relaxed);
            let age = if oldest > 0 {
                (now_ms - oldest).max(0) as f64 / 1000.0
            } else {
                0.0
            };
            d.oldest_age.set(age);
        }
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = text::encode(&mut out, &self.registry);
        out
    }
}

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;

    /// One sample: its name and labels.
    type Series = (String, BTreeMap<String, String>);

    /// The samples of an exposition, by name and labels; and the `# HELP` and `# TYPE` lines
    /// by family name.
    struct Scrape {
        samples: HashMap<Series, f64>,
        help: HashMap<String, String>,
        kind: HashMap<String, String>,
    }

    fn parse(text: &str) -> Scrape {
        let mut s = Scrape {
            samples: HashMap::new(),
            help: HashMap::new(),
            kind: HashMap::new(),
        };
        assert_eq!(text.lines().last(), Some("# EOF"));
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap();
                s.help.insert(name.to_owned(), help.to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                s.kind.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, labels.strip_suffix('}').unwrap()),
                    None => (series, ""),
                };
                let labels = labels
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        let (k, v) = l.split_once('=').unwrap();
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                let value = if value == "+Inf" {
                    f64::INFINITY
                } else {
                    value.parse().unwrap()
                };
                assert!(s.samples.insert((name.to_owned(), labels), value).is_none(), "{line}");
            }
        }
        s
    }

    impl Scrape {
        fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
            let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            self.samples.get(&(name.to_owned(), labels)).copied()
        }
    }

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let m = Metrics::new(&["mixpanel".to_owned()]);
        m.received.fetch_add(3, Relaxed);
        m.reject_record(Reject::UnknownToken);
        m.reject_request("backpressure");
        m.observe_request(Vendor::Mixpanel, "/track", Duration::from_millis(3));
        m.destination(0).depth.store(7, Relaxed);
        m.destination(0).oldest_enqueued_at_ms.store(1_000, Relaxed);
        m.destination(0).delivered.fetch_add(2, Relaxed);
        m.flags_request("none");
        let s = parse(&m.render(6_000));
        assert_eq!(s.get("vendorwall_ingest_received_records_total", &[]), Some(3.0));
        let reason = |r| [("reason", r)];
        assert_eq!(
            s.get("vendorwall_ingest_rejected_records_total", &reason("unknown_token")),
            Some(1.0)
        );
        assert_eq!(
            s.get("vendorwall_ingest_rejected_requests_total", &reason("backpressure")),
            Some(1.0)
        );
        let bucket = |le| [("protocol", "mixpanel"), ("route", "/track"), ("le", le)];
        let name = "vendorwall_ingest_request_duration_seconds_bucket";
        assert_eq!(s.get(name, &bucket("0.0025")), Some(0.0));
        assert_eq!(s.get(name, &bucket("0.005")), Some(1.0));
        assert_eq!(s.get(name, &bucket("+Inf")), Some(1.0));
        let route = [("protocol", "mixpanel"), ("route", "/track")];
        assert_eq!(
            s.get("vendorwall_ingest_request_duration_seconds_count", &route),
            Some(1.0)
        );
        assert_eq!(
            s.get("vendorwall_ingest_request_duration_seconds_sum", &route),
            Some(0.003)
        );
        let dest = [("destination", "mixpanel")];
        assert_eq!(s.get("vendorwall_outbox_depth_records", &dest), Some(7.0));
        assert_eq!(s.get("vendorwall_outbox_oldest_age_seconds", &dest), Some(5.0));
        assert_eq!(s.get("vendorwall_delivery_delivered_records_total", &dest), Some(2.0));
        assert_eq!(s.get("vendorwall_delivery_retries_total", &dest), Some(0.0));
        assert_eq!(
            s.get("vendorwall_ingest_flags_requests_total", &[("outcome", "none")]),
            Some(1.0)
        );
        assert_eq!(m.rejected_requests("backpressure"), 1);
    }

    #[test]
    fn every_known_reason_is_shown_from_the_start() {
        let s = parse(&Metrics::new(&[]).render(0));
        for r in Reject::ALL {
            let labels = [("reason", r.as_str())];
            assert_eq!(s.get("vendorwall_ingest_rejected_records_total", &labels), Some(0.0));
        }
        for r in REQUEST_REJECT_REASONS.iter() {
            let labels = [("reason", *r)];
            assert_eq!(s.get("vendorwall_ingest_rejected_requests_total", &labels), Some(0.0));
        }
        for o in FLAG_OUTCOMES {
            assert_eq!(
                s.get("vendorwall_ingest_flags_requests_total", &[("outcome", o)]),
                Some(0.0)
            );
        }
    }

    #[test]
    fn a_reason_the_lists_do_not_name_is_still_counted() {
        let m = Metrics::new(&[]);
        m.reject_request("a_reason_added_later");
        m.reject_request("a_reason_added_later");
        let s = parse(&m.render(0));
        assert_eq!(
            s.get(
                "vendorwall_ingest_rejected_requests_total",
                &[("reason", "a_reason_added_later")]
            ),
            Some(2.0)
        );
        assert_eq!(m.rejected_requests("a_reason_added_later"), 2);
    }

    #[test]
    fn help_and_type_lines_name_each_family_once() {
        let s = parse(&Metrics::new(&["mixpanel".to_owned()]).render(0));
        for (family, kind, help) in [
            (
                "vendorwall_ingest_received_records",
                "counter",
                "Records decoded from SDK requests.",
            ),
            (
                "vendorwall_ingest_rejected_requests",
                "counter",
                "Requests refused as a whole, by reason.",
            ),
            (
                "vendorwall_ingest_request_duration_seconds",
                "histogram",
                "Time from request to acknowledgement.",
            ),
            (
                "vendorwall_outbox_depth_records",
                "gauge",
                "Records queued per destination.",
            ),
            (
                "vendorwall_delivery_dropped_records",
                "counter",
                "Records discarded by `destination suspend --drop`.",
            ),
        ] {
            assert_eq!(s.kind.get(family).map(String::as_str), Some(kind), "{family}");
            assert_eq!(s.help.get(family).map(String::as_str), Some(help), "{family}");
        }
        assert_eq!(s.kind.len(), s.help.len());
        assert!(s.help.values().all(|h| !h.ends_with("..")));
    }
}
