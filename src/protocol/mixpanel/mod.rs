//! Mixpanel's ingestion protocol, as the official SDKs speak it
//! (<https://developer.mixpanel.com/reference/ingestion-api>).
//!
//! - [`decode`]: an inbound HTTP request (`/track`, `/engage`, `/groups`, `/import`, GET or
//!   POST, form or JSON, base64 or raw, gzip or deflate) → records → canonical [`Event`]s.
//! - [`encode`]: canonical events → the records and request bodies Mixpanel accepts.
//! - [`response`]: what each SDK expects back, and what Mixpanel's answers mean for delivery.
//! - [`roles`]: Mixpanel's record shapes and reserved properties.
//! - [`emulator`]: Mixpanel's ingestion API, emulated.
//!
//! This module knows the wire format only: nothing about policy, storage or delivery.
//!
//! [`Event`]: crate::event::Event

pub mod decode;
pub mod emulator;
pub mod encode;
pub mod response;
pub mod roles;

use serde_json::{Value, json};

use super::{
    Answer, Auth, BasicAuth, BatchLimits, DeletionRequest, DestinationSpec, Emulated, EmulatedProject, HttpRequest,
    Inbound, InboundRecord, OutboundRequest, Outcome, Protocol, Refused, Reply, RequestError, RequestLimits, Route,
    Target, VendorAnswer, VendorVerdict, wire,
};
use crate::classify::Shape;
use crate::event::{Caps, Event, Kind, RecordError};
use crate::vendor::Vendor;
use decode::{BodyShape, Params};

/// The ingestion endpoints vendorwall serves for Mixpanel SDKs, and delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Track,
    Engage,
    Groups,
    Import,
}

impl Endpoint {
    const ALL: [Endpoint; 4] = [Endpoint::Track, Endpoint::Engage, Endpoint::Groups, Endpoint::Import];

    pub fn from_path(path: &str) -> Option<Endpoint> {
        match path.strip_suffix('/').unwrap_or(path) {
            "/track" => Some(Endpoint::Track),
            "/engage" => Some(Endpoint::Engage),
            "/groups" => Some(Endpoint::Groups),
            "/import" => Some(Endpoint::Import),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Track => "track",
            Endpoint::Engage => "engage",
            Endpoint::Groups => "groups",
            Endpoint::Import => "import",
        }
    }

    /// The kind of record this endpoint carries.
    pub fn kind(self) -> Kind {
        match self {
            Endpoint::Track | Endpoint::Import => Kind::Track,
            Endpoint::Engage => Kind::Profile,
            Endpoint::Groups => Kind::Group,
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Endpoint {
        Endpoint::ALL
            .into_iter()
            .find(|e| e.code() == code)
            .unwrap_or(Endpoint::Track)
    }

    fn seam(self) -> super::Endpoint {
        super::Endpoint {
            code: self.code(),
            name: self.as_str(),
        }
    }
}

/// Mixpanel, behind the seam.
pub struct Mixpanel;

const ROUTES: &[Route] = &[
    Route {
        path: "/track",
        code: Endpoint::Track as u8,
    },
    Route {
        path: "/engage",
        code: Endpoint::Engage as u8,
    },
    Route {
        path: "/groups",
        code: Endpoint::Groups as u8,
    },
    Route {
        path: "/import",
        code: Endpoint::Import as u8,
    },
];

// Reply flags: how the request wants its answer.
const VERBOSE: u32 = 1;
const IMG: u32 = 2;
const STRICT: u32 = 4;
const JSON_BODY: u32 = 8;

fn reply(route: Route, params: &Params, shape: BodyShape) -> Reply {
    let mut flags = 0;
    for (set, bit) in [
        (params.verbose, VERBOSE),
        (params.img, IMG),
        (params.strict, STRICT),
        (shape == BodyShape::Json, JSON_BODY),
    ] {
        if set {
            flags |= bit;
        }
    }
    Reply {
        route: route.code,
        flags,
        callback: params.callback.clone(),
    }
}

impl Protocol for Mixpanel {
    fn vendor(&self) -> Vendor {
        Vendor::Mixpanel
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
        let endpoint = Endpoint::from_code(route.code);
        let raw = decode::decode_request(
            decode::RawRequest {
                query: req.query,
                content_type: req.content_type,
                content_encoding: req.content_encoding,
                body: req.body,
            },
            *limits,
        )?;
        // `ip=1`: the SDK asks Mixpanel to geolocate from the connecting address.
        let client_ip = if raw.params.ip == Some(true) {
            req.client_ip
        } else {
            None
        };
        let records = raw
            .records
            .into_iter()
            .map(|record| {
                // `get` twice is `pointer("/properties/$insert_id")` without parsing it.
                let insert_id = || {
                    record
                        .as_ref()
                        .ok()
                        .and_then(|r| r.get("properties"))
                        .and_then(|p| p.get("$insert_id"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                let hint = insert_id();
                match record.and_then(|r| decode::decode_record(endpoint, r, caps)) {
                    Ok(d) => {
                        let mut event = d.event;
                        event.context.client_ip = client_ip;
                        Ok(InboundRecord { event, key: d.token })
                    }
                    Err(error) => Err(Refused { error, insert_id: hint }),
                }
            })
            .collect();
        let auth = if endpoint == Endpoint::Import {
            Auth::Import(req.authorization.and_then(BasicAuth::parse))
        } else {
            Auth::PerRecord
        };
        Ok(Inbound {
            records,
            auth,
            reply: reply(route, &raw.params, raw.shape),
            special: None,
        })
    }

    fn decode_sample(&self, record: Value, caps: &Caps) -> Result<InboundRecord, RecordError> {
        let endpoint = if record.get("event").is_some() || record.get("properties").is_some() {
            Endpoint::Track
        } else if record.get("$group_key").is_some() || record.get("$group_id").is_some() {
            Endpoint::Groups
        } else {
            Endpoint::Engage
        };
        decode::decode_record(endpoint, record, caps).map(|d| InboundRecord {
            event: d.event,
            key: d.token,
        })
    }

    fn early_reply(&self, route: Route, req: &HttpRequest<'_>) -> Reply {
        let shape = if route.code == Endpoint::Import as u8 && !req.content_type.is_some_and(|c| c.contains("form")) {
            BodyShape::Json
        } else {
            BodyShape::Data
        };
        reply(route, &decode::query_params(req.query), shape)
    }

    fn answer(&self, reply: &Reply, outcome: &Outcome) -> Answer {
        let params = Params {
            verbose: reply.flags & VERBOSE != 0,
            img: reply.flags & IMG != 0,
            strict: reply.flags & STRICT != 0,
            callback: reply.callback.clone(),
            ..Params::default()
        };
        let shape = if reply.flags & JSON_BODY != 0 {
            BodyShape::Json
        } else {
            BodyShape::Data
        };
        response::answer(Endpoint::from_code(reply.route), &params, shape, outcome)
    }

    fn shape(&self, kind: Kind) -> Shape {
        match kind {
            Kind::Track => roles::EVENT,
            Kind::Profile => roles::PROFILE,
            Kind::Group => roles::GROUP,
        }
    }

    fn lift_envelope(&self, _event: &mut Event) -> usize {
        // Mixpanel's records have no envelope: everything is a property.
        0
    }

    fn encode(&self, event: Event) -> Value {
        encode::into_record(event, "")
    }

    fn finish(&self, record: &mut Value, kind: Kind, dest: &Target) {
        encode::finish_record(record, kind, dest.key.expose(), dest.secret.is_some());
    }

    fn vendor_id(&self, record: &Value, kind: Kind) -> Option<String> {
        let id = match kind {
            Kind::Track => record.get("properties").and_then(|p| p.get("distinct_id")),
            Kind::Profile => record.get("$distinct_id"),
            Kind::Group => return None,
        };
        id.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
    }

    fn endpoint(&self, kind: Kind, dest: &Target) -> super::Endpoint {
        encode::endpoint_for(kind, dest.secret.is_some()).seam()
    }

    fn batch_limits(&self) -> BatchLimits {
        BatchLimits {
            max_records: 2000,
            max_bytes: 10 << 20,
            default_bytes: 8 << 20,
        }
    }

    fn takes_import_secret(&self) -> bool {
        true
    }

    fn destination_spec(&self) -> DestinationSpec {
        DestinationSpec {
            default_endpoint: "https://api.mixpanel.com",
            key_name: "project_token",
            secret_name: Some("api_secret"),
            options: &["project_id"],
        }
    }

    fn request(&self, dest: &Target, endpoint: super::Endpoint, records: &[&[u8]], _now_ms: i64) -> OutboundRequest {
        let json = encode::json_array(records);
        let base = &dest.endpoint;
        match (Endpoint::from_code(endpoint.code), &dest.secret) {
            (Endpoint::Import, Some(secret)) => {
                let mut url = format!("{base}/import?strict=1");
                if let Some(p) = &dest.project_id {
                    url.push_str("&project_id=");
                    url.extend(form_urlencoded::byte_serialize(p.as_bytes()));
                }
                OutboundRequest {
                    url,
                    headers: vec![
                        ("Content-Type", "application/json".to_owned()),
                        ("Content-Encoding", "gzip".to_owned()),
                        ("Authorization", BasicAuth::header(secret.expose(), "")),
                    ],
                    body: wire::gzip(&json),
                }
            }
            (ep, _) => OutboundRequest {
                url: format!("{base}/{}", ep.as_str()),
                headers: vec![("Content-Type", "application/x-www-form-urlencoded".to_owned())],
                body: encode::form_body(&json),
            },
        }
    }

    fn verdict(&self, endpoint: super::Endpoint, answer: &VendorAnswer<'_>, _records: usize) -> VendorVerdict {
        response::classify_vendor_answer(
            Endpoint::from_code(endpoint.code),
            answer.status,
            answer.retry_after,
            answer.body,
        )
    }

    fn deletion_request(&self) -> DeletionRequest {
        // https://developer.mixpanel.com/reference/create-deletion-task
        DeletionRequest {
            api: "Mixpanel GDPR API: POST https://mixpanel.com/api/app/data-deletions/v3.0/?token=<project token>, Authorization: Bearer <OAuth token>",
            fields: json!({"compliance_type": "GDPR"}),
            ids_field: "distinct_ids",
            max_ids_per_call: 2000,
        }
    }

    fn emulator_endpoint(&self, path: &str) -> Option<&'static str> {
        Endpoint::from_path(path).map(Endpoint::as_str)
    }

    fn emulate(&self, project: &EmulatedProject, req: &HttpRequest<'_>) -> Emulated {
        emulator::handle(project, req)
    }
}

/// Mixpanel's `/track`-style answer to an outcome, for tests and callers outside the seam.
pub fn track_answer(verbose: bool, outcome: &Outcome) -> Answer {
    Mixpanel.answer(
        &Reply {
            route: Endpoint::Track as u8,
            flags: if verbose { VERBOSE } else { 0 },
            callback: None,
        },
        outcome,
    )
}
