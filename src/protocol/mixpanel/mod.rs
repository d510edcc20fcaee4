//! Mixpanel's ingestion protocol, as the official SDKs speak it.
//!
//! - [`decode`]: an inbound HTTP request (`/track`, `/engage`, `/groups`, `/import`, GET or
//!   POST, form or JSON, base64 or raw, gzip or deflate) → records → canonical [`Event`]s.
//! - [`encode`]: canonical events → the records and request bodies Mixpanel accepts.
//! - [`response`]: what each SDK expects back, and what Mixpanel's answers mean for delivery.
//!
//! This module knows the wire format only: nothing about policy, storage or delivery.
//!
//! [`Event`]: crate::event::Event

pub mod decode;
pub mod encode;
pub mod response;

use crate::event::Kind;

/// The ingestion endpoints vendorwall serves for Mixpanel SDKs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Track,
    Engage,
    Groups,
    Import,
}

impl Endpoint {
    pub fn from_path(path: &str) -> Option<Endpoint> {
        match path.trim_end_matches('/') {
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
}
