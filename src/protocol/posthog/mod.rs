//! PostHog's capture protocol, as the official SDKs speak it
//! (<https://posthog.com/docs/api/capture>, <https://posthog.com/docs/api/flags>).
//!
//! - [`decode`]: an inbound request (`/e`, `/i/v0/e`, `/capture`, `/batch`, `/s`, `/flags`,
//!   `/decide`; JSON, gzip, base64, lz64, forms) → payload → canonical [`Event`]s.
//! - [`encode`]: canonical events → PostHog records, the `/batch/` and `/flags` requests.
//! - [`response`]: what the SDKs expect back; what PostHog's answers mean for delivery.
//! - [`roles`]: PostHog's record shapes and reserved properties.
//! - [`emulator`]: PostHog's capture API, emulated.
//!
//! Routes: `/e`, `/i/v0/e` (posthog-js), `/capture` (single events), `/batch` (the server
//! SDKs; shared with Amplitude, told apart by the key: the decoder refuses Amplitude's
//! `{api_key, events}` body), `/s` (session replay: answered as taken, counted, never
//! forwarded, see [`Special::Replay`]), `/flags` and `/decide` (feature flags, see
//! [`Special::Flags`]), `/array/<key>/config` (posthog-js's remote configuration, answered
//! by vendorwall, see [`response::remote_config`]; the `config.js` script variant, loaded
//! only without `disable_external_dependency_loading`, is not served). Each with or without
//! its trailing slash, GET or POST. PostHog's
//! legacy `/track` and `/engage` capture paths are **not** served: vendorwall serves those
//! for Mixpanel's SDKs, and no current PostHog SDK uses them. posthog-python's
//! `capture_mode="v1"` (`/i/v1/analytics/events`) is not served either.
//!
//! Session replay inside an event batch: a request whose events are all `$snapshot` is
//! treated as replay (taken, counted, dropped); `$snapshot` events mixed with others are
//! refused one by one (counted as `wrong_type`) while the others go on. Either way the SDK
//! sees success and does not retry: replay is blocked, the SDK is not made to error.
//!
//! | PostHog record                         | canonical [`Event`]                                  |
//! |----------------------------------------|------------------------------------------------------|
//! | `event`                                | `name` (every kind keeps its name)                   |
//! | `$identify`/`$set`/`$set_once` with `$set`, `$set_once`, `$unset` (top level or in `properties`) | `Kind::Profile`, those in `operations` |
//! | `$groupidentify`                       | `Kind::Group`; `$group_type` → `ids.group.key`, `$group_key` → `ids.group.id`, `$group_set` → `("$set", …)` |
//! | other events (`$pageview`, `$create_alias`, …) | `Kind::Track`                                |
//! | `distinct_id` (top level, else `properties.distinct_id`) | `ids.distinct_id`                  |
//! | `properties.$device_id`                | `ids.device_id` (the property stays)                 |
//! | `uuid`                                 | `insert_id`, byte for byte                           |
//! | `timestamp`, `offset`, `sent_at`       | `time`, corrected for clock skew at receipt          |
//! | `properties.$ip`                       | `context.ip`                                         |
//! | posthog-js (`$lib: "web"`) without `$geoip_disable` or `$ip` | `context.client_ip` = the connecting address |
//! | `api_key`, `token`, `$token`, `properties.token` | the request's key; never forwarded         |
//! | other top-level fields                 | the PostHog [`Envelope`](crate::event::Envelope)     |
//! | other properties                       | `properties`, names unchanged (PostHog's are the canonical names) |

pub mod decode;
pub mod emulator;
pub mod encode;
pub mod response;
pub mod roles;

#[cfg(test)]
mod tests;

use serde_json::{Value, json};

use super::{
    Answer, Auth, BatchLimits, DeletionRequest, DestinationSpec, Emulated, EmulatedProject, Endpoint, HttpRequest,
    Inbound, InboundRecord, OutboundRequest, Outcome, Protocol, Refused, Reply, RequestError, RequestLimits, Route,
    Special, Target, VendorAnswer, VendorVerdict, wire,
};
use crate::classify::Shape;
use crate::event::{Caps, Event, Kind, RecordError, Reject};
use crate::vendor::Vendor;
use decode::{RawRequest, Receipt};

/// PostHog, behind the seam.
pub struct PostHog;

/// Route codes.
pub mod route {
    pub const E: u8 = 0;
    pub const I_V0_E: u8 = 1;
    pub const CAPTURE: u8 = 2;
    pub const BATCH: u8 = 3;
    pub const REPLAY: u8 = 4;
    pub const FLAGS: u8 = 5;
    pub const DECIDE: u8 = 6;
    pub const CONFIG: u8 = 7;
}

const ROUTES: &[Route] = &[
    Route {
        path: "/e",
        code: route::E,
    },
    Route {
        path: "/i/v0/e",
        code: route::I_V0_E,
    },
    Route {
        path: "/capture",
        code: route::CAPTURE,
    },
    Route {
        path: "/batch",
        code: route::BATCH,
    },
    Route {
        path: "/s",
        code: route::REPLAY,
    },
    Route {
        path: "/flags",
        code: route::FLAGS,
    },
    Route {
        path: "/decide",
        code: route::DECIDE,
    },
    Route {
        path: "/array/{key}/config",
        code: route::CONFIG,
    },
];

/// Reply flag: `?beacon=1`, answered 204.
const BEACON: u32 = 1;

/// The one delivery endpoint, `/batch/`.
const BATCH_ENDPOINT: Endpoint = Endpoint { code: 0, name: "batch" };

fn reply(route: Route, params: &decode::Params) -> Reply {
    Reply {
        route: route.code,
        flags: if params.beacon { BEACON } else { 0 },
        callback: None,
    }
}

/// Canonical property names (see [`crate::protocol`]): PostHog's own names, so an envelope
/// field with one of them becomes that property.
const CANONICAL: &[&str] = &[
    "$current_url",
    "$referrer",
    "$referring_domain",
    "$pathname",
    "$title",
    "$search",
    "$user_agent",
    "$browser",
    "$browser_version",
    "$os",
    "$os_version",
    "$device",
    "$device_model",
    "$manufacturer",
    "$screen_width",
    "$screen_height",
    "$locale",
    "$language",
    "$timezone",
    "$lib",
    "$lib_version",
    "$app_version",
    "$app_build",
    "$city",
    "$region",
    "$country_code",
    "$carrier",
    "$session_id",
    "$latitude",
    "$longitude",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "$groups",
];

impl PostHog {
    fn decode_events(
        &self,
        route: Route,
        req: &HttpRequest<'_>,
        limits: &RequestLimits,
        caps: &Caps,
    ) -> Result<Inbound, RequestError> {
        let (params, value) = decode::read_payload(raw(req), limits)?;
        let reply = reply(route, &params);
        let payload = decode::split_payload(value, limits)?;
        let is_snapshot = |e: &Value| e.get("event").and_then(Value::as_str) == Some(decode::SNAPSHOT);
        let snapshots = payload.events.iter().filter(|e| is_snapshot(e)).count();
        if route.code == route::REPLAY || (snapshots > 0 && snapshots == payload.events.len()) {
            return Ok(Inbound {
                records: Vec::new(),
                auth: Auth::Key(payload.key),
                reply,
                special: Some(Special::Replay {
                    records: payload.events.len().max(1),
                }),
            });
        }
        let receipt = Receipt {
            received_at_ms: req.received_at_ms,
            sent_at_ms: payload.sent_at_ms.or(params.sent_at_ms),
            client_ip: req.client_ip,
        };
        let mut key = payload.key.clone();
        let mut records = Vec::with_capacity(payload.events.len());
        for record in payload.events {
            let hint = record.get("uuid").and_then(Value::as_str).map(str::to_owned);
            if is_snapshot(&record) {
                records.push(Err(Refused {
                    error: RecordError::new(Reject::WrongType, "event", "session replay is not forwarded"),
                    insert_id: hint,
                }));
                continue;
            }
            match decode::decode_event(record, &receipt, caps) {
                Ok(d) => {
                    if let Some(k) = &d.key {
                        match &key {
                            Some(seen) if seen != k => return Err(RequestError::InconsistentKeys),
                            Some(_) => {}
                            None => key = Some(k.clone()),
                        }
                    }
                    records.push(Ok(InboundRecord {
                        event: d.event,
                        key: d.key,
                    }));
                }
                Err(error) => records.push(Err(Refused { error, insert_id: hint })),
            }
        }
        Ok(Inbound {
            records,
            auth: Auth::Key(payload.key),
            reply,
            special: None,
        })
    }

    fn decode_flags(
        &self,
        route: Route,
        req: &HttpRequest<'_>,
        limits: &RequestLimits,
    ) -> Result<Inbound, RequestError> {
        let (params, value) = decode::read_payload(raw(req), limits)?;
        let (name, default) = if route.code == route::DECIDE {
            ("decide", "3")
        } else {
            ("flags", "2")
        };
        let version = params.version.as_deref().unwrap_or(default);
        let (key, record) = decode::flags_record(value, name, version)?;
        Ok(Inbound {
            records: Vec::new(),
            auth: Auth::Key(key),
            reply: reply(route, &params),
            special: Some(Special::Flags { record }),
        })
    }
}

fn raw<'a>(req: &HttpRequest<'a>) -> RawRequest<'a> {
    RawRequest {
        query: req.query,
        content_type: req.content_type,
        content_encoding: req.content_encoding,
        body: req.body,
    }
}

impl Protocol for PostHog {
    fn vendor(&self) -> Vendor {
        Vendor::PostHog
    }

    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn decode(
        &self,
        route: Route,
        req: &HttpRequest<'_>,
        limits: &RequestLimits,
        caps: &Caps,
    ) -> Result<Inbound, RequestError> {
        match route.code {
            route::FLAGS | route::DECIDE => self.decode_flags(route, req, limits),
            route::CONFIG => {
                let key = req.path.split('/').nth(2).filter(|k| !k.is_empty()).map(str::to_owned);
                Ok(Inbound {
                    records: Vec::new(),
                    auth: Auth::Key(key),
                    reply: reply(route, &decode::query_params(req.query)),
                    special: Some(Special::Config),
                })
            }
            _ => self.decode_events(route, req, limits, caps),
        }
    }

    fn decode_sample(&self, record: Value, caps: &Caps) -> Result<InboundRecord, RecordError> {
        // No clock here: a receipt far in the future leaves every sample's time as sent.
        let receipt = Receipt {
            received_at_ms: i64::MAX / 4,
            sent_at_ms: None,
            client_ip: None,
        };
        decode::decode_event(record, &receipt, caps).map(|d| InboundRecord {
            event: d.event,
            key: d.key,
        })
    }

    fn early_reply(&self, route: Route, req: &HttpRequest<'_>) -> Reply {
        reply(route, &decode::query_params(req.query))
    }

    fn answer(&self, reply: &Reply, outcome: &Outcome) -> Answer {
        if reply.route == route::CONFIG && matches!(outcome, Outcome::Accepted { .. }) {
            return Answer::json(200, &response::remote_config());
        }
        response::answer(reply.flags & BEACON != 0, outcome)
    }

    fn shape(&self, kind: Kind) -> Shape {
        match kind {
            Kind::Track => roles::EVENT,
            Kind::Profile => roles::PROFILE,
            Kind::Group => roles::GROUP,
        }
    }

    /// PostHog's envelope holds the top-level fields of an event beyond its structure (rare:
    /// `type`, a `$set` riding on a tracked event from posthog-python, …). A field with a
    /// canonical name becomes that property (unless the event has it already); any other
    /// becomes the property `posthog_<name>` and is counted.
    fn lift_envelope(&self, event: &mut Event) -> usize {
        let Some(env) = event.envelope.take() else {
            return 0;
        };
        if env.vendor != Vendor::PostHog {
            event.envelope = Some(env);
            return 0;
        }
        let mut untranslated = 0;
        for (k, v) in env.fields {
            if CANONICAL.contains(&k.as_str()) && !event.properties.contains_key(&k) {
                event.properties.insert(k, v);
            } else {
                untranslated += 1;
                event.properties.insert(format!("posthog_{k}"), v);
            }
        }
        untranslated
    }

    fn encode(&self, event: Event) -> Value {
        encode::into_record(event)
    }

    fn finish(&self, record: &mut Value, _kind: Kind, _dest: &Target) {
        // The destination's key travels once per batch (`api_key` of the body), not per record.
        encode::finish_record(record);
    }

    fn vendor_id(&self, record: &Value, _kind: Kind) -> Option<String> {
        record
            .get("distinct_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    fn endpoint(&self, _kind: Kind, _dest: &Target) -> Endpoint {
        BATCH_ENDPOINT
    }

    /// PostHog takes up to 20 MB per `/batch/` request and sets no record cap; the SDKs send
    /// at most 100 (python) or 20 (node) events at a time. vendorwall sends at most 1000 and,
    /// by default, 5 MB of records per request.
    fn batch_limits(&self) -> BatchLimits {
        BatchLimits {
            max_records: 1000,
            max_bytes: 20_000_000,
            default_bytes: 5_000_000,
        }
    }

    fn destination_spec(&self) -> DestinationSpec {
        DestinationSpec {
            default_endpoint: "https://us.i.posthog.com",
            key_name: "api_key",
            secret_name: None,
            options: &["flags"],
        }
    }

    fn request(&self, dest: &Target, _endpoint: Endpoint, records: &[&[u8]], now_ms: i64) -> OutboundRequest {
        let body = encode::batch_body(dest.key.expose(), records, now_ms);
        OutboundRequest {
            url: format!("{}/batch/", dest.endpoint),
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("Content-Encoding", "gzip".to_owned()),
            ],
            body: wire::gzip(&body),
        }
    }

    fn verdict(&self, _endpoint: Endpoint, answer: &VendorAnswer<'_>, _records: usize) -> VendorVerdict {
        response::verdict(answer.status, answer.retry_after, answer.body)
    }

    fn flags_request(&self, dest: &Target, record: &Value) -> Option<OutboundRequest> {
        let (path, body) = encode::flags_body(dest.key.expose(), record);
        Some(OutboundRequest {
            url: format!("{}{path}", dest.endpoint),
            headers: vec![("Content-Type", "application/json".to_owned())],
            body,
        })
    }

    /// Read as "no flags" by posthog-js, posthog-node and posthog-python alike: the v2+
    /// `flags` map and the older `featureFlags`/`featureFlagPayloads` maps, all empty.
    fn no_flags(&self) -> Value {
        json!({"flags": {}, "errorsWhileComputingFlags": false, "featureFlags": {}, "featureFlagPayloads": {}})
    }

    fn deletion_request(&self) -> DeletionRequest {
        // https://posthog.com/docs/api/persons-3 ("Create persons bulk delete"): up to 1000
        // ids per call, a personal API key with the person:write scope.
        DeletionRequest {
            api: "PostHog persons API: POST https://us.posthog.com/api/projects/<project id>/persons/bulk_delete/, Authorization: Bearer <personal API key with person:write>",
            fields: json!({"delete_events": true}),
            ids_field: "distinct_ids",
            max_ids_per_call: 1000,
        }
    }

    fn emulator_endpoint(&self, path: &str) -> Option<&'static str> {
        emulator::endpoint(path)
    }

    fn emulate(&self, project: &EmulatedProject, req: &HttpRequest<'_>) -> Emulated {
        emulator::handle(project, req)
    }
}
