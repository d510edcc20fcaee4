//! The per-destination policy stage: a pure function from an event to what one vendor may
//! receive.
//!
//! It sits between decoding and the outbox, so the outbox only ever holds what the policy
//! let through. Until classification lands (issue 3) the only policy is
//! [`Policy::Passthrough`], which forwards events as the SDK sent them, including the
//! SDK's request to geolocate from the client address.

use crate::event::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Forward everything unchanged.
    Passthrough,
}

/// What the policy decided for one event and one destination.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned by value once per event; a Box would add an allocation"
)]
pub enum Decision {
    Send(Event),
    /// The destination must not receive this event at all.
    Block,
}

impl Policy {
    /// Pure: no I/O, no clock, no randomness.
    pub fn apply(&self, event: &Event) -> Decision {
        match self {
            Policy::Passthrough => Decision::Send(event.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;

    #[test]
    fn passthrough_forwards_unchanged() {
        let mut e = Event::new(Kind::Track);
        e.name = Some("a".into());
        e.context.client_ip = Some("203.0.113.1".parse().unwrap());
        assert_eq!(Policy::Passthrough.apply(&e), Decision::Send(e.clone()));
    }
}
