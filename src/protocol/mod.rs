//! The vendor seam: everything vendorwall knows about a vendor's wire protocol sits behind
//! one trait, [`Protocol`], implemented once per vendor in a folder of its own with the same
//! files every time:
//!
//! | file          | what it holds                                                                |
//! |---------------|------------------------------------------------------------------------------|
//! | `mod.rs`      | the [`Protocol`] implementation: routes, and the glue between the files below |
//! | `decode.rs`   | inbound requests from the vendor's SDKs → canonical [`Event`]s                |
//! | `response.rs` | what the SDKs expect back; what the vendor's answers to a delivery mean      |
//! | `encode.rs`   | canonical events → the vendor's records, batch requests, deletion requests    |
//! | `roles.rs`    | the record shapes and reserved fields the classifier and the policy need     |
//! | `emulator.rs` | the vendor's ingestion API, emulated for tests, `demo` and benchmarks        |
//!
//! [`Vendor`] is the closed set of vendors (an enum with a `match`, not a registry); server
//! routes, the pipeline, delivery, metrics, config and the emulator dispatch through
//! [`Vendor::protocol`]. No module outside a vendor's folder names that vendor.
//!
//! Events cross vendors through the canonical [`Event`]: a source's decoder lifts ids, time,
//! idempotency key, IP and operations out of its format, and keeps the rest of its envelope
//! (Segment's `context`, Amplitude's device fields) as an [`Envelope`] tagged with the
//! vendor. A destination of the same vendor gets the envelope back verbatim; another vendor
//! gets it through [`Protocol::lift_envelope`], which turns it into canonical properties
//! (`$current_url`, `$os`, … — see [`crate::event`]) that every encoder understands.

pub mod amplitude;
pub mod mixpanel;
pub mod posthog;
pub mod segment;
pub mod wire;

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::classify::Shape;
use crate::config::Secret;
use crate::event::{Caps, Event, Kind, RecordError};

pub use crate::vendor::Vendor;

impl Vendor {
    /// The vendor's implementation of the seam.
    pub fn protocol(self) -> &'static dyn Protocol {
        match self {
            Vendor::Mixpanel => &mixpanel::Mixpanel,
            Vendor::Segment => &segment::Segment,
            Vendor::PostHog => &posthog::PostHog,
            Vendor::Amplitude => &amplitude::Amplitude,
        }
    }
}

/// One vendor's wire protocol. Implementations are unit structs, one per vendor folder.
///
/// Everything here is pure (no I/O, no clock except where a time is passed in), so each
/// vendor's behaviour is tested table by table beside its code.
pub trait Protocol: Sync {
    fn vendor(&self) -> Vendor;

    // ---- inbound: the vendor's SDKs → vendorwall

    /// The ingest paths this vendor's SDKs post to. Each is served for GET, POST and OPTIONS;
    /// a path without a trailing slash is served with one too.
    fn routes(&self) -> &'static [Route];

    /// Decodes one request to `route` into canonical events, one result per record. A
    /// request-level problem (bad compression, a bomb, not JSON) fails the whole request.
    fn decode(
        &self,
        route: Route,
        req: &HttpRequest<'_>,
        limits: &RequestLimits,
        caps: &Caps,
    ) -> Result<Inbound, RequestError>;

    /// Decodes one record as the vendor's SDKs send it inside a request (a sample line for
    /// `vendorwall classify` and `policy explain`): its kind is read from the record itself.
    fn decode_sample(&self, record: Value, caps: &Caps) -> Result<InboundRecord, RecordError>;

    /// How to answer a request to `route` that was refused before its body was decoded
    /// (too large): read from its query and headers only.
    fn early_reply(&self, route: Route, req: &HttpRequest<'_>) -> Reply;

    /// The answer the calling SDK expects for `outcome`, in its own dialect: success only
    /// when the records are durable; a status that makes it retry for transient trouble;
    /// one that makes it drop what can never succeed.
    fn answer(&self, reply: &Reply, outcome: &Outcome) -> Answer;

    // ---- classification and policy

    /// The shape of this vendor's record of `kind`: its layout (roles, containers) and top.
    fn shape(&self, kind: Kind) -> Shape;

    /// Turns an envelope of this vendor's (see [`Envelope`]) into canonical properties, for
    /// a destination of another vendor. Fields with no canonical name keep their own
    /// (prefixed where they would clash) and are counted in the returned number: they reach
    /// the other vendor as plain properties, classified and filtered like any other.
    fn lift_envelope(&self, event: &mut Event) -> usize;

    /// How many parts of `event` — of another vendor, its envelope already lifted — this
    /// vendor has no place for and encodes under a documented stand-in instead (an operation
    /// it lacks, an alias call it does not have): counted with the untranslated fields. 0 for
    /// the vendor's own events.
    fn untranslatable(&self, event: &Event) -> usize {
        let _ = event;
        0
    }

    // ---- outbound: vendorwall → the vendor

    /// Encodes a canonical event as this vendor's record (without the destination's key).
    /// An envelope of this vendor's goes back verbatim; events of another vendor's arrive
    /// lifted (see [`Protocol::lift_envelope`]).
    fn encode(&self, event: Event) -> Value;

    /// Completes a record the policy let through for `dest`: its real project key (the
    /// app-side key never leaves vendorwall), and fields the vendor requires.
    fn finish(&self, record: &mut Value, kind: Kind, dest: &Target);

    /// The subject id as the vendor knows it, read from an outgoing record (for the ledger).
    fn vendor_id(&self, record: &Value, kind: Kind) -> Option<String>;

    /// The endpoint a record of `kind` goes to: records of one endpoint share batches.
    fn endpoint(&self, kind: Kind, dest: &Target) -> Endpoint;

    /// The most records and bytes one delivery request may carry.
    fn batch_limits(&self) -> BatchLimits;

    /// How a destination of this vendor is configured.
    fn destination_spec(&self) -> DestinationSpec;

    /// Whether this vendor's sources may have an `import_secret`: a credential apps use for
    /// an import endpoint in place of the vendor's real secret (Mixpanel's `/import`).
    fn takes_import_secret(&self) -> bool {
        false
    }

    /// The request that delivers `records` (each a JSON record as queued) to `endpoint`.
    /// CPU-heavy for large batches (compression): the caller runs it off the async workers.
    fn request(&self, dest: &Target, endpoint: Endpoint, records: &[&[u8]], now_ms: i64) -> OutboundRequest;

    /// What the vendor's answer to a delivery of `records` records means.
    fn verdict(&self, endpoint: Endpoint, answer: &VendorAnswer<'_>, records: usize) -> VendorVerdict;

    /// The request that forwards a feature-flag request (see [`Special::Flags`]), after the
    /// destination's policy, to the vendor; `None` if the vendor has no flags API.
    fn flags_request(&self, dest: &Target, record: &Value) -> Option<OutboundRequest> {
        let _ = (dest, record);
        None
    }

    /// The vendor's answer meaning "no flags", for SDKs whose destination does not forward
    /// flags (or whose vendor did not answer).
    fn no_flags(&self) -> Value {
        Value::Object(Map::new())
    }

    // ---- incidents

    /// The format of the vendor's deletion API, in which an incident's export writes the
    /// ids the vendor knows for the affected people (`vendor-deletion-request.json`).
    fn deletion_request(&self) -> DeletionRequest;

    // ---- emulation

    /// The emulator's name for the endpoint at `path` (`import`, `batch`), `None` for a
    /// path the vendor does not serve.
    fn emulator_endpoint(&self, path: &str) -> Option<&'static str>;

    /// Handles one request to the vendor's emulated ingestion API: the answer and the
    /// records it accepted.
    fn emulate(&self, project: &EmulatedProject, req: &HttpRequest<'_>) -> Emulated;
}

/// Where and how a destination reaches its vendor.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL without a trailing slash.
    pub endpoint: String,
    /// The vendor's project key (Mixpanel `project_token`, Segment `write_key`, PostHog and
    /// Amplitude `api_key`): replaces the app-side key on the way out.
    pub key: Secret,
    /// The vendor's secret (Mixpanel `api_secret`, Amplitude `secret_key`).
    pub secret: Option<Secret>,
    /// Mixpanel: the project of a service account.
    pub project_id: Option<String>,
    /// Amplitude: deliver to `/batch` instead of `/2/httpapi`.
    pub use_batch: bool,
}

/// How a destination of a vendor is configured.
#[derive(Debug, Clone, Copy)]
pub struct DestinationSpec {
    pub default_endpoint: &'static str,
    /// The configuration key of the vendor's project key (`project_token`, `write_key`,
    /// `api_key`).
    pub key_name: &'static str,
    /// The configuration key of the vendor's secret, if it has one (`api_secret`,
    /// `secret_key`).
    pub secret_name: Option<&'static str>,
    /// Other settings the vendor takes (`project_id`, `use_batch`, `flags`).
    pub options: &'static [&'static str],
}

/// An ingest path of a vendor, and the vendor's code for it (what its decoder and answers
/// tell apart: Mixpanel `/track` from `/import`, Segment `/v1/t` from `/v1/batch`). A
/// segment `{name}` matches any one non-empty segment (`/array/{key}/config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub path: &'static str,
    pub code: u8,
}

/// A delivery endpoint of a vendor, as its own code (`/import` vs `/track`, `/2/httpapi`
/// vs `/batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub code: u8,
    /// For logs and metrics: a fixed name (`import`, `batch`).
    pub name: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Options,
    Other,
}

/// The parts of an HTTP request a protocol reads, independent of the server framework.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: Method,
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
    /// The connecting client, for SDKs that ask the vendor to geolocate from it.
    pub client_ip: Option<IpAddr>,
    /// When vendorwall received the request (ms since the epoch): clock-skew corrections.
    pub received_at_ms: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_decompressed_bytes: usize,
    pub max_records: usize,
    /// What the request's JSON may hold, checked while it is parsed.
    pub json: crate::json::Budget,
}

impl RequestLimits {
    /// Limits for requests of at most `max_records` records of at most `max_properties`
    /// properties each. The JSON budget follows from them: an array or object may hold
    /// one more than the larger of the two, and the whole request `max_records × max_properties`
    /// values (every record at its property limit), so what a request can make the parser build is
    /// bounded by these settings, not by how far its body decompresses.
    pub const fn new(max_decompressed_bytes: usize, max_records: usize, max_properties: usize) -> RequestLimits {
        let records = if max_records == 0 { 1 } else { max_records };
        let properties = if max_properties == 0 { 1 } else { max_properties };
        RequestLimits {
            max_decompressed_bytes,
            max_records,
            json: crate::json::Budget {
                // One past: a batch just over `max_records` is still read, and refused
                // as too many records.
                max_items: (if records > properties { records } else { properties }).saturating_add(1),
                max_values: records.saturating_mul(properties),
            },
        }
    }
}

/// A problem with a request as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request body is larger than the limit")]
    BodyTooLarge,
    #[error("decompressed body is larger than the limit")]
    DecompressedTooLarge,
    #[error("unsupported Content-Encoding")]
    UnsupportedEncoding,
    #[error("body is not valid {0}")]
    BadCompression(&'static str),
    #[error("no data parameter in the query or body")]
    MissingData,
    #[error("data is neither JSON nor base64-encoded JSON")]
    BadEncoding,
    #[error("data is not valid JSON")]
    BadJson,
    #[error("data must be a JSON object or an array of objects")]
    WrongType,
    #[error("too many records in one request")]
    TooManyRecords,
    #[error("the request's keys disagree")]
    InconsistentKeys,
    #[error("the JSON holds more elements than the limits allow")]
    TooManyValues,
}

impl RequestError {
    /// The metric label for this problem.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::BodyTooLarge => "body_too_large",
            RequestError::DecompressedTooLarge => "decompressed_too_large",
            RequestError::UnsupportedEncoding => "unsupported_encoding",
            RequestError::BadCompression(_) => "bad_compression",
            RequestError::MissingData => "missing_data",
            RequestError::BadEncoding => "bad_encoding",
            RequestError::BadJson => "bad_json",
            RequestError::WrongType => "wrong_type",
            RequestError::TooManyRecords => "too_many_records",
            RequestError::InconsistentKeys => "inconsistent_keys",
            RequestError::TooManyValues => "too_many_values",
        }
    }

    pub const REASONS: [&'static str; 11] = [
        "body_too_large",
        "decompressed_too_large",
        "unsupported_encoding",
        "bad_compression",
        "missing_data",
        "bad_encoding",
        "bad_json",
        "wrong_type",
        "too_many_records",
        "inconsistent_keys",
        "too_many_values",
    ];
}

/// A decoded request.
#[derive(Debug)]
pub struct Inbound {
    /// One result per record, in order.
    pub records: Vec<Result<InboundRecord, Refused>>,
    /// How the request says who sent it.
    pub auth: Auth,
    /// How to answer it.
    pub reply: Reply,
    /// For requests that are not events at all (feature flags): what to do instead.
    pub special: Option<Special>,
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundRecord {
    pub event: Event,
    /// The app-side key the record itself carries (Mixpanel `token`, posthog-js
    /// `properties.token`, analytics.js `writeKey`), taken out of the event.
    pub key: Option<String>,
}

/// A record the decoder refused, and its idempotency key where it could read one (Mixpanel's
/// `/import` answer names the `$insert_id` of each refused record).
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub error: RecordError,
    pub insert_id: Option<String>,
}

impl From<RecordError> for Refused {
    fn from(error: RecordError) -> Self {
        Refused { error, insert_id: None }
    }
}

/// Who sent a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// Each record carries its own key (Mixpanel `/track`).
    PerRecord,
    /// One key for the request (Segment `writeKey` or Basic username, PostHog `api_key`,
    /// Amplitude `api_key`); records' own keys, where present, must be the same.
    Key(Option<String>),
    /// Mixpanel `/import`: a source credential (the app-side token, or the source's
    /// `import_secret`) as HTTP Basic.
    Import(Option<BasicAuth>),
}

/// Requests that carry no events to queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Special {
    /// Feature flags (PostHog `/flags`, `/decide`): answered synchronously. `record` is the
    /// request in the shape of the vendor's event records (its ids where an event's are),
    /// so the destination's policy can pseudonymise it before it is forwarded.
    Flags { record: Value },
    /// A request the vendor's recommended handling blocks (session replay): answered as
    /// accepted, counted, and never forwarded unless a destination allows it.
    Replay { records: usize },
    /// The SDK's remote configuration (posthog-js `GET /array/<key>/config`): answered by
    /// the protocol alone (its answer to `Outcome::Accepted` with no records for the route),
    /// nothing queued or forwarded.
    Config,
    /// The SDK's own usage telemetry (analytics.js `/v1/m`): about the SDK, not about
    /// people; answered as taken and forwarded nowhere.
    SdkTelemetry,
}

/// What a vendor's answer needs to know about the request, beyond its outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    /// The route's code.
    pub route: u8,
    /// Vendor-defined flags (Mixpanel: verbose, img, strict, JSON body; PostHog: beacon).
    pub flags: u32,
    /// A JSONP callback (Mixpanel).
    pub callback: Option<String>,
    /// When the request was received (ms since the epoch), for answers that report it
    /// (Amplitude's `server_upload_time`).
    pub received_at_ms: i64,
    /// The request body's size once decompressed, for answers that report it (Amplitude's
    /// `payload_size_bytes`).
    pub body_bytes: usize,
}

/// HTTP Basic credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct BasicAuth {
    pub user: String,
    pub password: String,
}

impl BasicAuth {
    /// Parses an `Authorization: Basic …` header value.
    pub fn parse(header: &str) -> Option<BasicAuth> {
        use base64::Engine;
        let b64 = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, password) = text.split_once(':').unwrap_or((&text, ""));
        Some(BasicAuth {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }

    /// The header value for `user:password`.
    pub fn header(user: &str, password: &str) -> String {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }
}

/// What happened to a request, as far as the SDK needs to know.
#[derive(Debug)]
pub enum Outcome {
    /// Decoded; `accepted` records are durably queued, `failed` were refused one by one.
    Accepted { accepted: usize, failed: Vec<FailedRecord> },
    /// The request as a whole could not be read.
    Malformed(RequestError),
    /// A missing or unknown key for the whole request (or a missing `/import` credential).
    Unauthorized,
    /// Backpressure or a storage failure: the SDK should retry later.
    Busy,
    /// A feature-flag answer, as the vendor's body.
    Flags(Value),
}

#[derive(Debug, Clone)]
pub struct FailedRecord {
    pub index: usize,
    /// The record's idempotency key, where it had one.
    pub insert_id: Option<String>,
    pub error: RecordError,
}

/// An HTTP answer, independent of the server framework.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub retry_after_secs: Option<u32>,
}

impl Answer {
    pub fn json(status: u16, body: &Value) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
            retry_after_secs: (status == 503).then_some(5),
        }
    }
}

/// The most one delivery request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_records: usize,
    pub max_bytes: usize,
    /// `batch_max_bytes` when the configuration does not set it.
    pub default_bytes: usize,
}

/// A delivery request, built by a protocol and sent by [`crate::delivery`].
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// A vendor's answer to a delivery.
#[derive(Debug, Clone, Copy)]
pub struct VendorAnswer<'a> {
    pub status: u16,
    pub retry_after: Option<&'a str>,
    pub body: &'a [u8],
}

/// What a vendor's answer to a delivery means.
#[derive(Debug, Clone, PartialEq)]
pub enum VendorVerdict {
    /// Every record was taken.
    Delivered,
    /// All but these were taken (index in the batch, the vendor's reason); the others must
    /// not be sent again.
    Partial { failed: Vec<(usize, String)> },
    /// Some records were refused for good and the rest must be sent again (Amplitude's 400
    /// with `events_with_invalid_fields`: it ingested nothing).
    RetryExcept {
        failed: Vec<(usize, String)>,
        after: Option<Duration>,
    },
    /// Try again later; the vendor may already have applied the request if `maybe_applied`.
    Retry {
        after: Option<Duration>,
        reason: String,
        maybe_applied: bool,
    },
    /// 413: send smaller batches.
    TooLarge,
    /// The vendor refused the whole batch for one bad record it does not name (PostHog's
    /// 400): send each half again to find it; a single record is refused for good.
    Bisect { reason: String },
    /// Our credentials or project are wrong (401/403): nothing to do with the records, so
    /// they stay queued while an operator fixes the configuration.
    Misconfigured { reason: String },
    /// The vendor refused these records for good.
    Rejected { reason: String },
}

/// A vendor's deletion API, as an incident export writes a request for it: the call to make,
/// the fields of its body, and the field that lists the ids (streamed: it can hold
/// millions).
#[derive(Debug, Clone)]
pub struct DeletionRequest {
    /// The call, as a person makes it: method, URL, authentication.
    pub api: &'static str,
    /// The body's fixed fields (`compliance_type`, `regulationType`, …).
    pub fields: Value,
    /// The body's field that lists the ids (`distinct_ids`, `subjectIds`, `user_ids`).
    pub ids_field: &'static str,
    /// Most ids one call takes: larger lists are split into several calls.
    pub max_ids_per_call: usize,
}

/// The project an emulator plays.
#[derive(Debug, Clone)]
pub struct EmulatedProject {
    /// The project key the vendor expects (Mixpanel project token, Segment write key,
    /// PostHog project API key, Amplitude API key).
    pub key: String,
    /// The vendor's secret (Mixpanel API secret, Amplitude secret key), if the project has one.
    pub secret: Option<String>,
    /// The emulator's clock (ms since the epoch): time-window checks.
    pub now_ms: i64,
}

/// An emulator's answer to one request, and the records it ingested.
#[derive(Debug, Clone)]
pub struct Emulated {
    pub answer: Answer,
    /// The endpoint's fixed name (`track`, `batch`, `httpapi`), `None` for an unknown path.
    pub endpoint: Option<&'static str>,
    pub accepted: Vec<Value>,
    pub rejected: usize,
    /// The geolocation hint the request carried (Mixpanel's `ip` parameter), as sent.
    pub ip_param: Option<String>,
}

pub use crate::event::Envelope;

/// Prepares an event decoded from one vendor for a destination of `to`: an envelope of
/// another vendor's is lifted into canonical properties. Returns the fields that had no
/// canonical name (see [`Protocol::lift_envelope`]) and the parts `to` has no place for
/// (see [`Protocol::untranslatable`]).
pub fn translate(event: &mut Event, to: Vendor) -> usize {
    let lifted = match event.envelope.as_ref().map(|e| e.vendor) {
        Some(from) if from != to => from.protocol().lift_envelope(event),
        _ => 0,
    };
    lifted + to.protocol().untranslatable(event)
}

/// The routes a request path addresses, across every vendor: exact matches first, then
/// matches without a trailing slash. A path may belong to several vendors (`/batch` is
/// PostHog's and Amplitude's, `/track` Mixpanel's and PostHog's legacy one): the key the
/// request carries then decides (see [`crate::server`]).
pub fn routes_for(path: &str) -> Vec<(Vendor, Route)> {
    let mut out: Vec<(Vendor, Route)> = Vec::new();
    let mut add = |p: &str| {
        for v in Vendor::ALL {
            for r in v.protocol().routes() {
                if path_matches(r.path, p) && !out.iter().any(|(w, _)| *w == v) {
                    out.push((v, *r));
                }
            }
        }
    };
    add(path);
    match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => add(p),
        _ => add(&format!("{path}/")),
    }
    out
}

/// Whether `path` is `pattern`'s, a `{name}` segment of the pattern matching any one
/// non-empty segment.
fn path_matches(pattern: &str, path: &str) -> bool {
    if !pattern.contains('{') {
        return pattern == path;
    }
    let (mut want, mut got) = (pattern.split('/'), path.split('/'));
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w == g || (w.starts_with('{') && w.ends_with('}') && !g.is_empty()) => {}
            _ => return false,
        }
    }
}

/// Property-test strategies every vendor's round-trip tests share.
#[cfg(test)]
pub(crate) mod arbitrary {
    use proptest::prelude::*;
    use serde_json::Value;

    /// A JSON scalar.
    pub fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "\\PC{0,24}".prop_map(Value::String),
        ]
    }
    /// A JSON value nested up to three deep.
    pub fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z$_]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_patterns_match_one_segment() {
        assert!(path_matches("/array/{key}/config", "/array/phc_1/config"));
        assert!(!path_matches("/array/{key}/config", "/array//config"));
        assert!(!path_matches("/array/{key}/config", "/array/a/b/config"));
        assert!(!path_matches("/array/{key}/config", "/array/a/config.js"));
        assert!(path_matches("/track", "/track"));
        assert!(!path_matches("/track", "/track/x"));
    }

    #[test]
    fn every_route_is_found_with_and_without_its_slash() {
        for v in Vendor::ALL {
            for r in v.protocol().routes() {
                let bare = r.path.trim_end_matches('/');
                for p in [bare.to_owned(), format!("{bare}/")] {
                    assert!(routes_for(&p).contains(&(v, *r)), "{v} {p}");
                }
            }
        }
        assert!(routes_for("/nope").is_empty());
    }

    #[test]
    fn names_round_trip() {
        for v in Vendor::ALL {
            assert_eq!(Vendor::parse(v.name()), Some(v));
            assert_eq!(v.protocol().vendor(), v);
        }
        assert_eq!(Vendor::parse("Mixpanel"), None);
    }

    #[test]
    fn basic_auth_parses() {
        let a = BasicAuth::parse(&BasicAuth::header("secret", "")).unwrap();
        assert_eq!((a.user.as_str(), a.password.as_str()), ("secret", ""));
        assert!(BasicAuth::parse("Bearer x").is_none());
        assert!(BasicAuth::parse("Basic !!!").is_none());
    }
}
