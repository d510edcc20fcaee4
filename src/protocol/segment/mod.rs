//! Segment's tracking API, as the official SDKs speak it
//! (<https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/>).
//!
//! - [`decode`]: an inbound request (`/v1/batch`, `/v1/b`, `/v1/<type>`, `/v1/<letter>`;
//!   JSON, often labelled `text/plain`, possibly gzip) → messages → canonical [`Event`]s.
//! - [`encode`]: canonical events → Segment messages and the `/v1/batch` request.
//! - [`response`]: what each SDK expects back, and what Segment's answers mean for delivery.
//! - [`roles`]: Segment's message shapes and reserved fields.
//! - [`emulator`]: Segment's tracking API, emulated.
//!
//! How messages map onto the canonical model:
//!
//! | Segment message                  | canonical [`Event`]                                                     |
//! |----------------------------------|-------------------------------------------------------------------------|
//! | `track`                          | `Track`, name = `event`, `properties`                                   |
//! | `page`                           | `Track` `$pageview`, `properties`; `name`/`category` in the envelope (lifted as properties of those names) |
//! | `screen`                         | `Track` `$screen`, `properties`; `name` in the envelope (lifted as `$screen_name`) |
//! | `alias`                          | `Track` `$create_alias`, `distinct_id` = `previousId`, property `alias` = `userId` |
//! | `identify`                       | `Profile`, operation `("$set", traits)`                                 |
//! | `group`                          | `Group`, `group` = (`traits.group_type` or `"group"`, `groupId`), `("$set", traits)` |
//! | `userId` / `anonymousId`         | `ids.user_id` / `ids.device_id`; `ids.distinct_id` = `userId`, else `anonymousId` |
//! | `messageId`                      | `insert_id`, byte for byte                                              |
//! | `timestamp` (+ `sentAt`)         | `time` in ms, corrected for the client's clock skew at receipt          |
//! | `context.ip`                     | `context.ip`; analytics.js routes (and `context.direct: true`) without one → `context.client_ip` = the connecting address |
//! | `writeKey` (body or message), Basic user | `Auth::Key` / `InboundRecord::key`, never in the event           |
//! | `type`, `context`, `integrations`, `_metadata`, `originalTimestamp`, page/screen `name`/`category`, unknown fields | the envelope |
//!
//! Delivery: every message goes to `POST {endpoint}/v1/batch` with the destination's write
//! key as Basic auth, gzipped, at most 2500 messages and 500 KB per request.
//!
//! This module knows the wire format only: nothing about policy, storage or delivery.
//!
//! [`Event`]: crate::event::Event

pub mod decode;
pub mod emulator;
pub mod encode;
pub mod response;
pub mod roles;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use super::{
    Answer, Auth, BatchLimits, DeletionRequest, DestinationSpec, Emulated, EmulatedProject, Endpoint, HttpRequest,
    Inbound, InboundRecord, OutboundRequest, Outcome, Protocol, Reply, RequestError, RequestLimits, Route, Special,
    Target, VendorAnswer, VendorVerdict,
};
use crate::classify::Shape;
use crate::event::{Caps, Event, Kind, RecordError};
use crate::vendor::Vendor;
use decode::{Dialect, MessageType, RawRequest, Receipt};

/// Segment, behind the seam.
pub struct Segment;

/// Route codes: the HTTP API's `/v1/<type>` are `0..6` (in [`MessageType::ALL`] order),
/// analytics.js's `/v1/<letter>` are `8..14`, then the two batches and analytics.js's
/// metrics.
const LETTER: u8 = 8;
const BATCH: u8 = 16;
const BROWSER_BATCH: u8 = 17;
const METRICS: u8 = 18;

const fn single(path: &'static str, ty: MessageType, browser: bool) -> Route {
    Route {
        path,
        code: ty as u8 + if browser { LETTER } else { 0 },
    }
}

const ROUTES: &[Route] = &[
    single("/v1/identify", MessageType::Identify, false),
    single("/v1/track", MessageType::Track, false),
    single("/v1/page", MessageType::Page, false),
    single("/v1/screen", MessageType::Screen, false),
    single("/v1/group", MessageType::Group, false),
    single("/v1/alias", MessageType::Alias, false),
    single("/v1/i", MessageType::Identify, true),
    single("/v1/t", MessageType::Track, true),
    single("/v1/p", MessageType::Page, true),
    single("/v1/s", MessageType::Screen, true),
    single("/v1/g", MessageType::Group, true),
    single("/v1/a", MessageType::Alias, true),
    Route {
        path: "/v1/batch",
        code: BATCH,
    },
    Route {
        path: "/v1/b",
        code: BROWSER_BATCH,
    },
    // analytics.js posts its own usage metrics to `/v1/m` on the events' host: answered
    // 200 and dropped (they describe the SDK, not the app's users, and Segment's are not
    // vendorwall's to forward).
    Route {
        path: "/v1/m",
        code: METRICS,
    },
];

/// How a route's requests are read. analytics.js's routes are client-side: Segment takes
/// the connecting address as the user's IP for them, so vendorwall keeps the user's as
/// `client_ip`. The HTTP API routes and `/v1/batch` are server-side calls (python, node)
/// whose connection is a server's, and get no `client_ip` (unless a message says
/// `context.direct: true`).
fn dialect(code: u8) -> Option<Dialect> {
    let ty = |c: u8| MessageType::ALL.get(usize::from(c)).copied();
    match code {
        BATCH => Some(Dialect {
            single: None,
            client_side: false,
        }),
        BROWSER_BATCH => Some(Dialect {
            single: None,
            client_side: true,
        }),
        c if c >= LETTER => ty(c - LETTER).map(|t| Dialect {
            single: Some(t),
            client_side: true,
        }),
        c => ty(c).map(|t| Dialect {
            single: Some(t),
            client_side: false,
        }),
    }
}

/// The one delivery endpoint.
const DELIVERY: Endpoint = Endpoint { code: 0, name: "batch" };

impl Protocol for Segment {
    fn vendor(&self) -> Vendor {
        Vendor::Segment
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
        let reply = Reply {
            route: route.code,
            ..Reply::default()
        };
        let Some(dialect) = dialect(route.code) else {
            return Ok(Inbound {
                records: Vec::new(),
                auth: Auth::Key(None),
                reply,
                special: Some(Special::SdkTelemetry),
            });
        };
        let decoded = decode::decode_request(
            dialect,
            RawRequest {
                content_encoding: req.content_encoding,
                authorization: req.authorization,
                body: req.body,
                client_ip: req.client_ip,
                received_at_ms: req.received_at_ms,
            },
            *limits,
            caps,
        )?;
        Ok(Inbound {
            records: decoded.records,
            auth: Auth::Key(decoded.key),
            reply,
            special: None,
        })
    }

    fn decode_sample(&self, record: Value, caps: &Caps) -> Result<InboundRecord, RecordError> {
        decode::decode_message(record, None, &Receipt::default(), caps).map_err(|r| r.error)
    }

    fn early_reply(&self, route: Route, _req: &HttpRequest<'_>) -> Reply {
        Reply {
            route: route.code,
            ..Reply::default()
        }
    }

    fn answer(&self, _reply: &Reply, outcome: &Outcome) -> Answer {
        response::answer(outcome)
    }

    fn shape(&self, kind: Kind) -> Shape {
        match kind {
            Kind::Track => roles::EVENT,
            Kind::Profile => roles::PROFILE,
            Kind::Group => roles::GROUP,
        }
    }

    fn lift_envelope(&self, event: &mut Event) -> usize {
        lift(event)
    }

    fn untranslatable(&self, event: &Event) -> usize {
        encode::untranslatable(event)
    }

    fn encode(&self, event: Event) -> Value {
        encode::into_message(event)
    }

    fn finish(&self, record: &mut Value, _kind: Kind, _dest: &Target) {
        encode::finish_message(record);
    }

    fn vendor_id(&self, record: &Value, _kind: Kind) -> Option<String> {
        ["userId", "anonymousId"]
            .into_iter()
            .find_map(|k| record.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()))
            .map(str::to_owned)
    }

    fn endpoint(&self, _kind: Kind, _dest: &Target) -> Endpoint {
        DELIVERY
    }

    /// Segment takes at most 2500 messages and 500 KB per `/v1/batch` request
    /// (<https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#max-request-size>);
    /// the default stays at 475 000 bytes, as segment-analytics-python's batches do, which
    /// leaves room for the batch's own `{"batch":[…],"sentAt":…}` around the messages.
    fn batch_limits(&self) -> BatchLimits {
        BatchLimits {
            max_records: 2500,
            max_bytes: 500_000,
            default_bytes: 475_000,
        }
    }

    fn destination_spec(&self) -> DestinationSpec {
        DestinationSpec {
            default_endpoint: "https://api.segment.io",
            key_name: "write_key",
            secret_name: None,
            options: &[],
        }
    }

    fn request(&self, dest: &Target, _endpoint: Endpoint, records: &[&[u8]], now_ms: i64) -> OutboundRequest {
        encode::batch_request(dest, records, now_ms)
    }

    fn verdict(&self, _endpoint: Endpoint, answer: &VendorAnswer<'_>, _records: usize) -> VendorVerdict {
        response::verdict(answer.status, answer.retry_after, answer.body)
    }

    /// Segment's Public API regulations
    /// (<https://docs.segmentapis.com/tag/Deletion-and-Suppression>, "Create Workspace
    /// Regulation"): suppress the people and delete what Segment holds about them, up to
    /// 5000 ids per call
    /// (<https://segment.com/docs/privacy/user-deletion-and-suppression/>). Segment
    /// regulates by `userId` only: people the vendor knows by an `anonymousId` alone (which
    /// [`Protocol::vendor_id`] reports when there is no `userId`) cannot be suppressed or
    /// deleted this way and need a request to Segment's support.
    fn deletion_request(&self) -> DeletionRequest {
        DeletionRequest {
            api: "Segment Public API: POST https://api.segmentapis.com/regulations, Authorization: Bearer <workspace token> (only userIds can be regulated; anonymousIds need Segment support)",
            fields: json!({"regulationType": "SUPPRESS_WITH_DELETE", "subjectType": "USER_ID"}),
            ids_field: "subjectIds",
            max_ids_per_call: 5000,
        }
    }

    fn emulator_endpoint(&self, path: &str) -> Option<&'static str> {
        emulator::endpoint(path)
    }

    fn emulate(&self, project: &EmulatedProject, req: &HttpRequest<'_>) -> Emulated {
        emulator::handle(project, req)
    }
}

/// Turns a Segment envelope into canonical properties for another vendor (see
/// [`Protocol::lift_envelope`]):
///
/// - `context` fields with a canonical name become it (the reverse of
///   [`encode::CONTEXT_PLACES`]), `context.location.country` only when it is a two-letter
///   code, and `context.groupId` becomes `$groups: {"group": id}`;
/// - a page's `name` and `category` become properties of those names, a screen's `name`
///   `$screen_name` and its `category` `category`;
/// - everything else (`integrations`, `_metadata`, `originalTimestamp`, the rest of
///   `context` such as `userAgentData`, `device.id` or `traits`, unknown fields) becomes a
///   property named `segment_<field>` (`segment_context_<field>` for `context`'s), counted;
/// - the envelope's `type` is already the event's kind and name; empty values (`null`, `""`,
///   `{}`, `[]`) carry nothing and are left out.
///
/// A property the event already has is never overwritten: a different value goes under the
/// `segment_…` name (counted).
pub fn lift(event: &mut Event) -> usize {
    let Some(envelope) = event.envelope.take() else {
        return 0;
    };
    if envelope.vendor != Vendor::Segment {
        event.envelope = Some(envelope);
        return 0;
    }
    let ty = envelope
        .fields
        .get("type")
        .and_then(Value::as_str)
        .and_then(MessageType::parse);
    let props = &mut event.properties;
    let mut untranslated = 0;
    for (field, value) in envelope.fields {
        let fallback = || format!("segment_{}", field.trim_start_matches('_'));
        match (field.as_str(), ty) {
            ("type", _) => {}
            ("context", _) => match value {
                Value::Object(ctx) => untranslated += lift_context(props, ctx),
                v => untranslated += put(props, fallback(), None, v),
            },
            ("name", Some(MessageType::Page)) | ("category", Some(MessageType::Page | MessageType::Screen)) => {
                untranslated += put(props, field.clone(), Some(fallback()), value);
            }
            ("name", Some(MessageType::Screen)) => {
                untranslated += put(props, "$screen_name".into(), Some(fallback()), value);
            }
            _ => untranslated += put(props, fallback(), None, value),
        }
    }
    untranslated
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Puts `value` under `canonical` (returns 0), or under `prefixed` when there is no
/// canonical name or the event already has a different value there (returns 1).
fn put(props: &mut Map<String, Value>, name: String, prefixed: Option<String>, value: Value) -> usize {
    if is_empty(&value) {
        return 0;
    }
    let Some(prefixed) = prefixed else {
        props.entry(name).or_insert(value);
        return 1;
    };
    match props.get(&name) {
        None => {
            props.insert(name, value);
            0
        }
        Some(existing) if *existing == value => 0,
        Some(_) => {
            props.entry(prefixed).or_insert(value);
            1
        }
    }
}

/// [`lift`] for `context`: canonical names first, then what is left under
/// `segment_context_<field>`, one count per field left.
fn lift_context(props: &mut Map<String, Value>, mut ctx: Map<String, Value>) -> usize {
    let mut untranslated = 0;
    for (prop, object, field) in encode::CONTEXT_PLACES {
        let taken = if object.is_empty() {
            ctx.shift_remove(*field)
        } else {
            match ctx.get_mut(*object) {
                Some(Value::Object(inner)) => {
                    if *prop == "$country_code"
                        && !inner
                            .get(*field)
                            .and_then(Value::as_str)
                            .is_some_and(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
                    {
                        continue;
                    }
                    inner.shift_remove(*field)
                }
                _ => None,
            }
        };
        if let Some(v) = taken {
            let fallback = match *object {
                "" => format!("segment_context_{field}"),
                o => format!("segment_context_{o}_{field}"),
            };
            untranslated += put(props, (*prop).to_owned(), Some(fallback), v);
        }
    }
    if let Some(id) = ctx.shift_remove("groupId").filter(|v| !is_empty(v)) {
        let mut groups = Map::new();
        groups.insert(decode::DEFAULT_GROUP_KEY.to_owned(), id);
        untranslated += put(
            props,
            "$groups".into(),
            Some("segment_context_groupId".into()),
            Value::Object(groups),
        );
    }
    for (field, value) in ctx {
        let name = format!("segment_context_{field}");
        match value {
            Value::Object(rest) => {
                let rest: Map<String, Value> = rest.into_iter().filter(|(_, v)| !is_empty(v)).collect();
                if !rest.is_empty() {
                    untranslated += rest.len();
                    props.entry(name).or_insert(Value::Object(rest));
                }
            }
            v => untranslated += put(props, name, None, v),
        }
    }
    untranslated
}
