//! Roles: what a vendor's reserved fields hold, by their position in its records.
//!
//! Each vendor's `roles` module (under `src/protocol/<vendor>/`) describes its record shapes
//! with one [`Layout`]: which containers hold event, people or group properties, which
//! reserved keys are identifiers, IPs, coarse or precise locations, device or browsing data,
//! and which field carries the vendor's public project key (never classified). The
//! classifier walks any vendor's record with its layout and knows no vendor by name.
//!
//! A role whose value must have a certain form (an IP, an email) only reports when it has.

use serde_json::Value;

/// What a role's value must look like before the role reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Any non-empty string or any number.
    Any,
    /// A public IP address.
    Ip,
    /// Contains an `@`.
    Email,
    /// 7–15 digits.
    Phone,
    /// Letters, like a name.
    Name,
    /// A coordinate (3+ decimals precise, fewer coarse).
    Coordinate { max: u8 },
}

/// A reserved field: the category of its value and the check it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub category: &'static str,
    pub check: Check,
}

impl Role {
    pub const fn any(category: &'static str) -> Option<Role> {
        Some(Role {
            category,
            check: Check::Any,
        })
    }

    pub const fn checked(category: &'static str, check: Check) -> Option<Role> {
        Some(Role { category, check })
    }
}

/// Where a field sits in a vendor's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Top level of an event record (its name, ids, time, envelope).
    EventTop,
    /// An event's own properties.
    EventProperties,
    /// The device, page and library context of an event (Segment's `context`).
    Context,
    /// Top level of a profile update.
    ProfileTop,
    /// Properties of a person (a profile's `$set`, Segment `traits`, Amplitude
    /// `user_properties`).
    PeopleProperties,
    /// Top level of a group update.
    GroupTop,
    /// Properties of a group (a company's `$set`: its `$name` is not a person's).
    GroupProperties,
}

impl Level {
    /// Whether values at this level can describe a person (group levels describe companies).
    pub fn people(self) -> bool {
        !matches!(self, Level::GroupTop | Level::GroupProperties)
    }
}

/// A vendor's record shapes, as the classifier and the policy need them.
pub struct Layout {
    /// Unique per layout, below [`MAX_LAYOUTS`]: the key cache keeps one map per layout.
    pub id: usize,
    /// The detector name of this layout's role findings (`role.mixpanel`).
    pub detector: &'static str,
    /// The role of `key` at `level`.
    pub role: fn(Level, &str) -> Option<Role>,
    /// The level of the fields inside the object under `key` at `level`, if it is a
    /// container the layout knows (`properties` of an event, `$set` of a profile).
    pub child: fn(Level, &str) -> Option<Level>,
    /// The vendor's public project key at `level` (Mixpanel's `token`): never reported, so
    /// no policy rewrites it; the gateway replaces it with the destination's own.
    pub is_project_key: fn(Level, &str) -> bool,
    /// RFC 6901 pointers of the record's properties (what an allowlist policy filters):
    /// event properties, or the fields of each profile or group operation — without the
    /// record's structure (ids, time, idempotency key, project key).
    pub property_pointers: fn(&Value, Level) -> Vec<String>,
    /// The record's country code, which `generalize` with `to = "country"` puts in place of a
    /// city or region.
    pub country_code: for<'a> fn(&'a Value, Level) -> Option<&'a Value>,
}

/// Layouts the process can hold; one per vendor.
pub const MAX_LAYOUTS: usize = 8;

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout").field("detector", &self.detector).finish()
    }
}

impl PartialEq for Layout {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// Escapes one RFC 6901 pointer segment.
pub fn escape(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains(['~', '/']) {
        std::borrow::Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}
