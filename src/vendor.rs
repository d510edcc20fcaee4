//! The vendors vendorwall speaks: a closed set. Their protocols are in [`crate::protocol`].

/// The vendors vendorwall speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Vendor {
    Mixpanel,
    Segment,
    PostHog,
    Amplitude,
}

impl Vendor {
    pub const ALL: [Vendor; 4] = [Vendor::Mixpanel, Vendor::Segment, Vendor::PostHog, Vendor::Amplitude];

    /// The name in configuration (`type = "…"`, `protocol = "…"`), metrics and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Mixpanel => "mixpanel",
            Vendor::Segment => "segment",
            Vendor::PostHog => "posthog",
            Vendor::Amplitude => "amplitude",
        }
    }

    /// The vendor's name as notices print it.
    pub fn display_name(self) -> &'static str {
        match self {
            Vendor::Mixpanel => "Mixpanel",
            Vendor::Segment => "Segment",
            Vendor::PostHog => "PostHog",
            Vendor::Amplitude => "Amplitude",
        }
    }

    pub fn parse(name: &str) -> Option<Vendor> {
        Vendor::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Names for error messages: `mixpanel, segment, posthog, amplitude`.
    pub fn names() -> String {
        Vendor::ALL.map(Vendor::name).join(", ")
    }
}

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
