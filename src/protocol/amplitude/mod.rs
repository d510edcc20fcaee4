//! Amplitude's ingestion protocol, as the official SDKs speak it: the HTTP V2 API
//! (<https://amplitude.com/docs/apis/analytics/http-v2>) and Batch Event Upload
//! (<https://amplitude.com/docs/apis/analytics/batch-event-upload>), which take the same body.
//!
//! - [`decode`]: `POST /2/httpapi` and `POST /batch` (JSON, gzip, or a beacon's `text/plain`)
//!   → canonical [`Event`]s, each event validated as Amplitude validates it.
//! - [`encode`]: canonical events → Amplitude events and delivery bodies; Amplitude's
//!   envelope → canonical properties for other vendors.
//! - [`response`]: what the SDKs expect back (they read `code` from the JSON body), and what
//!   Amplitude's answers to a delivery mean.
//! - [`roles`]: Amplitude's record shape and reserved fields.
//! - [`emulator`]: Amplitude's ingestion API, emulated.
//!
//! `/batch` is also PostHog's path: a PostHog body (`{"api_key", "batch": [...]}`) has no
//! `events` and fails to decode here, so the server keeps PostHog's reading of it.
//!
//! # Mapping
//!
//! | Amplitude event | canonical [`Event`] |
//! |---|---|
//! | `event_type` | `name` (tracked events); `$identify` → [`Kind::Profile`], `$groupidentify` → [`Kind::Group`] (no name) |
//! | `user_id`, `device_id` | `ids.user_id`, `ids.device_id`; `ids.distinct_id` = `user_id`, else `device_id` |
//! | `groups` of a `$groupidentify` (one entry) | `ids.group` = `{key: type, id: name}` |
//! | `time` (integer ms) | `time`, byte for byte |
//! | `insert_id` | `insert_id`, byte for byte |
//! | `event_properties` | `properties` |
//! | `user_properties` of `$identify`, `group_properties` of `$groupidentify` | `operations`: `$set`, `$setOnce` → `$set_once`, `$add`, `$append`, `$postInsert` → `$union`, `$remove`, `$unset {k: "-"}` → `$unset [k]`; `$prepend`, `$preInsert`, `$clearAll` keep their names; plain properties → `$set` |
//! | `ip`: an address | `context.ip` |
//! | `ip: "$remote"` | `context.client_ip` = the connecting client (never forwarded as `$remote`) |
//! | everything else (`platform`, `os_name`, `session_id`, `event_id`, `library`, `groups` and `user_properties` of ordinary events, …) | `envelope` (Amplitude), in order |
//!
//! Lifted for another vendor ([`encode::lift_envelope`]): `os_name` → `$os`, `os_version`
//! → `$os_version`, `device_model` → `$device_model`, `device_manufacturer` →
//! `$manufacturer`, `carrier` → `$carrier`, `city` → `$city`, `region` → `$region`, `country`
//! → `$country_code` (a two-letter code) or `$country` (a name, counted), `language` →
//! `$language`, `app_version` → `$app_version`, `library` (`name/version`) → `$lib` and
//! `$lib_version`, `user_agent` → `$user_agent`, `session_id` → `$session_id`,
//! `location_lat`/`location_lng` → `$latitude`/`$longitude`, `groups` → `$groups`; the
//! browser SDK's `[Amplitude] Page Location`/`Page Title`/`Page Path`/`Screen Name`
//! properties → `$current_url`/`$title`/`$pathname`/`$screen_name`. Everything else
//! (`platform`, `device_brand`, `dma`, `event_id`, `partner_id`, revenue fields, advertising
//! ids `idfa`, `idfv`, `adid`, `android_id`, `plan`, `user_properties` of ordinary events, …)
//! becomes `amplitude_<name>` and is counted as untranslated. `[Amplitude] Page Viewed`
//! keeps its name.
//!
//! # Trait methods
//!
//! - `decode`: the body's `api_key` → [`Auth::Key`]; one result per event; request-level
//!   refusals as in [`decode`]. The reply remembers whether the key was missing and the
//!   body's size (in [`Reply::flags`]) and the receipt time (in [`Reply::callback`], which
//!   Amplitude, having no JSONP, has no other use for) for `server_upload_time`.
//! - `answer`: see [`response`]. `finish`: nothing: Amplitude's key travels in the request
//!   body, not in each event, and the app's key never reaches an event.
//! - `endpoint`: every kind goes to `/2/httpapi`, or `/batch` with `use_batch = true`.
//! - `request`: `POST {endpoint}/2/httpapi` (or `/batch`), gzipped JSON
//!   `{"api_key": <destination key>, "events": [...]}`.
//! - `batch_limits`: 1000 events and 990 000 bytes (Amplitude takes fewer than 2000 events
//!   and less than 1 MB per HTTP V2 request; `/batch` takes 20 MB, but one limit serves both).
//! - `deletion_request`: the User Privacy API.

pub mod decode;
pub mod emulator;
pub mod encode;
pub mod response;
pub mod roles;

use serde_json::{Value, json};

use super::{
    Answer, Auth, BatchLimits, DeletionRequest, DestinationSpec, Emulated, EmulatedProject, HttpRequest, Inbound,
    InboundRecord, OutboundRequest, Outcome, Protocol, Refused, Reply, RequestError, RequestLimits, Route, Target,
    VendorAnswer, VendorVerdict, wire,
};
use crate::classify::Shape;
use crate::event::{Caps, Event, Kind, RecordError};
use crate::vendor::Vendor;
use decode::EventContext;
use response::AnswerContext;

/// Amplitude's ingestion endpoints, served and delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/2/httpapi`, the HTTP V2 API.
    HttpApi = 0,
    /// `/batch`, Batch Event Upload.
    Batch = 1,
}

impl Endpoint {
    fn from_code(code: u8) -> Endpoint {
        if code == Endpoint::Batch as u8 {
            Endpoint::Batch
        } else {
            Endpoint::HttpApi
        }
    }

    fn seam(self) -> super::Endpoint {
        super::Endpoint {
            code: self as u8,
            name: match self {
                Endpoint::HttpApi => "httpapi",
                Endpoint::Batch => "batch",
            },
        }
    }

    fn path(self) -> &'static str {
        match self {
            Endpoint::HttpApi => "/2/httpapi",
            Endpoint::Batch => "/batch",
        }
    }
}

const ROUTES: &[Route] = &[
    Route {
        path: "/2/httpapi",
        code: Endpoint::HttpApi as u8,
    },
    Route {
        path: "/batch",
        code: Endpoint::Batch as u8,
    },
];

/// [`Reply::flags`]: the request had no `api_key`.
const MISSING_KEY: u32 = 1 << 31;
/// [`Reply::flags`]: the rest holds the uncompressed body size (capped).
const SIZE_MASK: u32 = MISSING_KEY - 1;

fn reply(route: Route, missing_key: bool, size: usize, received_at_ms: i64) -> Reply {
    let size = u32::try_from(size).unwrap_or(SIZE_MASK).min(SIZE_MASK);
    Reply {
        route: route.code,
        flags: size | if missing_key { MISSING_KEY } else { 0 },
        callback: Some(received_at_ms.to_string()),
    }
}

/// Amplitude, behind the seam.
pub struct Amplitude;

impl Protocol for Amplitude {
    fn vendor(&self) -> Vendor {
        Vendor::Amplitude
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
        let body = decode::decode_body(req, limits)?;
        let cx = EventContext {
            min_id_length: body.min_id_length,
            client_ip: req.client_ip,
        };
        let records = body
            .events
            .into_iter()
            .map(|event| {
                let hint = decode::insert_id_of(&event);
                match decode::decode_event(event, cx, caps) {
                    Ok(event) => Ok(InboundRecord { event, key: None }),
                    Err(error) => Err(Refused { error, insert_id: hint }),
                }
            })
            .collect();
        Ok(Inbound {
            records,
            reply: reply(route, body.api_key.is_none(), body.size, req.received_at_ms),
            auth: Auth::Key(body.api_key),
            special: None,
        })
    }

    fn decode_sample(&self, record: Value, caps: &Caps) -> Result<InboundRecord, RecordError> {
        decode::decode_event(record, EventContext::default(), caps).map(|event| InboundRecord { event, key: None })
    }

    fn early_reply(&self, route: Route, req: &HttpRequest<'_>) -> Reply {
        reply(route, false, req.body.len(), req.received_at_ms)
    }

    fn answer(&self, reply: &Reply, outcome: &Outcome) -> Answer {
        let cx = AnswerContext {
            missing_key: reply.flags & MISSING_KEY != 0,
            payload_size: (reply.flags & SIZE_MASK) as usize,
            received_at_ms: reply.callback.as_deref().and_then(|t| t.parse().ok()).unwrap_or(0),
        };
        response::answer(cx, outcome)
    }

    fn shape(&self, kind: Kind) -> Shape {
        match kind {
            Kind::Track => roles::EVENT,
            Kind::Profile => roles::PROFILE,
            Kind::Group => roles::GROUP,
        }
    }

    fn lift_envelope(&self, event: &mut Event) -> usize {
        encode::lift_envelope(event)
    }

    fn untranslatable(&self, event: &Event) -> usize {
        encode::untranslatable(event)
    }

    fn encode(&self, event: Event) -> Value {
        encode::into_record(event)
    }

    fn finish(&self, _record: &mut Value, _kind: Kind, _dest: &Target) {
        // The key is the request's (see `request`); events never carry one.
    }

    fn vendor_id(&self, record: &Value, _kind: Kind) -> Option<String> {
        encode::vendor_id(record)
    }

    fn endpoint(&self, _kind: Kind, dest: &Target) -> super::Endpoint {
        if dest.use_batch {
            Endpoint::Batch.seam()
        } else {
            Endpoint::HttpApi.seam()
        }
    }

    fn batch_limits(&self) -> BatchLimits {
        BatchLimits {
            max_records: 1000,
            max_bytes: 990_000,
            default_bytes: 900_000,
        }
    }

    fn destination_spec(&self) -> DestinationSpec {
        DestinationSpec {
            default_endpoint: "https://api2.amplitude.com",
            key_name: "api_key",
            secret_name: Some("secret_key"),
            options: &["use_batch"],
        }
    }

    fn request(&self, dest: &Target, endpoint: super::Endpoint, records: &[&[u8]], _now_ms: i64) -> OutboundRequest {
        let body = encode::request_body(dest.key.expose(), records);
        OutboundRequest {
            url: format!("{}{}", dest.endpoint, Endpoint::from_code(endpoint.code).path()),
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("Content-Encoding", "gzip".to_owned()),
            ],
            body: wire::gzip(&body),
        }
    }

    fn verdict(&self, _endpoint: super::Endpoint, answer: &VendorAnswer<'_>, records: usize) -> VendorVerdict {
        response::verdict(answer.status, answer.retry_after, answer.body, records)
    }

    fn deletion_request(&self) -> DeletionRequest {
        // https://amplitude.com/docs/apis/analytics/user-privacy
        DeletionRequest {
            api: "Amplitude User Privacy API: POST https://amplitude.com/api/2/deletions/users (EU: \
                  https://analytics.eu.amplitude.com/api/2/deletions/users), Authorization: Basic \
                  base64(<api_key>:<secret_key>), JSON body; at most 100 ids per call and 1 call per second; \
                  deletion completes within 30 days and does not block future tracking of these users. \
                  Ids that were device ids (events without a user_id) cannot be deleted by user id: \
                  delete those by amplitude_id from Amplitude's user lookup",
            fields: json!({"requester": "vendorwall incident export", "ignore_invalid_id": "True",
                           "delete_from_org": "False"}),
            ids_field: "user_ids",
            max_ids_per_call: 100,
        }
    }

    fn emulator_endpoint(&self, path: &str) -> Option<&'static str> {
        emulator::endpoint(path)
    }

    fn emulate(&self, project: &EmulatedProject, req: &HttpRequest<'_>) -> Emulated {
        emulator::handle(project, req)
    }
}

#[cfg(test)]
mod tests;
