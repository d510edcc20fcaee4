//! PostHog: placeholder until its protocol lands (serves no routes).

use serde_json::Value;

use super::{
    Answer, BatchLimits, DeletionRequest, DestinationSpec, Emulated, EmulatedProject, Endpoint, HttpRequest, Inbound,
    OutboundRequest, Outcome, Protocol, Reply, RequestError, RequestLimits, Route, Target, VendorAnswer, VendorVerdict,
};
use crate::classify::Shape;
use crate::event::{Caps, Event, Kind};
use crate::vendor::Vendor;

pub struct PostHog;

impl Protocol for PostHog {
    fn vendor(&self) -> Vendor {
        Vendor::PostHog
    }
    fn routes(&self) -> &'static [Route] {
        &[]
    }
    fn decode(&self, _: Route, _: &HttpRequest<'_>, _: &RequestLimits, _: &Caps) -> Result<Inbound, RequestError> {
        Err(RequestError::MissingData)
    }
    fn decode_sample(&self, _: Value, _: &Caps) -> Result<super::InboundRecord, crate::event::RecordError> {
        Err(crate::event::RecordError::new(
            crate::event::Reject::WrongType,
            "record",
            "not implemented",
        ))
    }
    fn early_reply(&self, route: Route, _: &HttpRequest<'_>) -> Reply {
        Reply {
            route: route.code,
            ..Reply::default()
        }
    }
    fn answer(&self, _: &Reply, _: &Outcome) -> Answer {
        Answer::json(404, &Value::Null)
    }
    fn shape(&self, kind: Kind) -> Shape {
        super::mixpanel::Mixpanel.shape(kind)
    }
    fn lift_envelope(&self, _: &mut Event) -> usize {
        0
    }
    fn encode(&self, event: Event) -> Value {
        super::mixpanel::Mixpanel.encode(event)
    }
    fn finish(&self, _: &mut Value, _: Kind, _: &Target) {}
    fn vendor_id(&self, _: &Value, _: Kind) -> Option<String> {
        None
    }
    fn endpoint(&self, _: Kind, _: &Target) -> Endpoint {
        Endpoint { code: 0, name: "none" }
    }
    fn batch_limits(&self) -> BatchLimits {
        BatchLimits {
            max_records: 1,
            max_bytes: 1024,
            default_bytes: 1024,
        }
    }
    fn destination_spec(&self) -> DestinationSpec {
        DestinationSpec {
            default_endpoint: "http://127.0.0.1",
            key_name: "api_key",
            secret_name: None,
            options: &[],
        }
    }
    fn request(&self, dest: &Target, _: Endpoint, _: &[&[u8]], _: i64) -> OutboundRequest {
        OutboundRequest {
            url: dest.endpoint.clone(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    fn verdict(&self, _: Endpoint, _: &VendorAnswer<'_>, _: usize) -> VendorVerdict {
        VendorVerdict::Rejected {
            reason: "not implemented".into(),
        }
    }
    fn deletion_request(&self) -> DeletionRequest {
        DeletionRequest {
            api: "",
            fields: Value::Null,
            ids_field: "ids",
            max_ids_per_call: 1,
        }
    }
    fn emulator_endpoint(&self, _: &str) -> Option<&'static str> {
        None
    }
    fn emulate(&self, _: &EmulatedProject, _: &HttpRequest<'_>) -> Emulated {
        Emulated {
            answer: Answer::json(404, &Value::Null),
            endpoint: None,
            accepted: Vec::new(),
            rejected: 0,
            ip_param: None,
        }
    }
}
