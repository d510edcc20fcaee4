//! Segment's message shapes and reserved fields, for the classifier and the policy
//! (<https://segment.com/docs/connections/spec/common/>,
//! <https://segment.com/docs/connections/spec/identify/#traits>).
//!
//! Roles apply by position:
//!
//! - the top of a message: `userId`, `anonymousId` and an alias's `previousId` are the
//!   person's identifiers (pseudonymised per destination); a group's `groupId` is a
//!   company's and has no role;
//! - `context` and every object in it (`page`, `device`, `os`, `app`, `location`, `network`,
//!   `screen`, `campaign`, `library`, …; one level for all, so a key means the same in each):
//!   `ip`, page `url`/`referrer`/`path`/`search`/`title`, `userAgent`, device fields, coarse
//!   location, `latitude`/`longitude`; `context.traits` holds people traits;
//! - `properties` of a track, page or screen: Segment's page properties (`url`,
//!   `referrer`) and the canonical names another vendor's events bring (`$current_url`,
//!   `$browser`, `$city`, …);
//! - `traits` of an identify (and `context.traits`, and a trait's `address`): Segment's
//!   reserved traits (`email`, `phone`, `name`, `firstName`, `lastName`, `username`,
//!   `avatar`, `birthday`, `gender`, `age`, `id`, address fields) and the canonical names;
//! - `traits` of a group describe a company: only its location has a role.
//!
//! The write key never sits in a message vendorwall forwards; a `writeKey` at the top is
//! nonetheless never classified ([`Layout::is_project_key`]).

use serde_json::{Map, Value};

use crate::classify::roles::{Check, Layout, Level, Role, escape};
use crate::classify::{Shape, taxonomy as t};

/// Segment's layout: track, page, screen and alias messages (events), identify (profile)
/// and group messages.
pub static LAYOUT: Layout = Layout {
    id: 1,
    detector: "role.segment",
    role: role_of,
    child,
    is_project_key,
    property_pointers,
    country_code,
};

/// A `track`, `page`, `screen` or `alias` message.
pub const EVENT: Shape = Shape {
    layout: &LAYOUT,
    top: Level::EventTop,
};
/// An `identify` message.
pub const PROFILE: Shape = Shape {
    layout: &LAYOUT,
    top: Level::ProfileTop,
};
/// A `group` message.
pub const GROUP: Shape = Shape {
    layout: &LAYOUT,
    top: Level::GroupTop,
};

const fn role(category: &'static str) -> Option<Role> {
    Role::any(category)
}

const fn checked(category: &'static str, check: Check) -> Option<Role> {
    Role::checked(category, check)
}

fn child(level: Level, key: &str) -> Option<Level> {
    match (level, key) {
        (Level::EventTop | Level::ProfileTop | Level::GroupTop, "context") => Some(Level::Context),
        (Level::EventTop | Level::ProfileTop | Level::GroupTop, "properties") => Some(Level::EventProperties),
        (Level::EventTop | Level::ProfileTop | Level::Context, "traits") => Some(Level::PeopleProperties),
        (Level::GroupTop, "traits") => Some(Level::GroupProperties),
        (Level::Context, _) => Some(Level::Context),
        (Level::PeopleProperties, "address") => Some(Level::PeopleProperties),
        (Level::GroupProperties, "address") => Some(Level::GroupProperties),
        _ => None,
    }
}

/// Identifiers of a person: Segment's own at the top, and the canonical and Mixpanel-style
/// ones another vendor's events bring in their properties.
fn identifier(level: Level, key: &str) -> bool {
    match level {
        Level::EventTop | Level::ProfileTop | Level::GroupTop => {
            matches!(key, "userId" | "anonymousId" | "previousId")
        }
        Level::EventProperties | Level::PeopleProperties => matches!(
            key,
            "distinct_id"
                | "$distinct_id"
                | "$device_id"
                | "$user_id"
                | "$anon_id"
                | "$anon_distinct_id"
                | "$identified_id"
                | "$distinct_ids"
                | "$original_id"
                | "alias"
                | "$alias"
        ),
        Level::Context | Level::GroupProperties => false,
    }
}

/// Browsing history in `context.page` and in properties.
fn browsing(level: Level, key: &str) -> bool {
    match level {
        Level::Context => matches!(key, "url" | "referrer" | "path" | "search" | "title"),
        _ => matches!(
            key,
            "url"
                | "referrer"
                | "$current_url"
                | "$referrer"
                | "$referring_domain"
                | "$pathname"
                | "$search"
                | "$title"
                | "$initial_referrer"
                | "$initial_referring_domain"
        ),
    }
}

/// Device fields of `context` (its `device`, `os`, `screen`, `network`, `userAgent`) and the
/// canonical device properties.
fn device(level: Level, key: &str) -> bool {
    match level {
        Level::Context => matches!(
            key,
            "userAgent"
                | "userAgentData"
                | "model"
                | "manufacturer"
                | "carrier"
                | "bluetooth"
                | "cellular"
                | "wifi"
                | "width"
                | "height"
                | "density"
                | "adTrackingEnabled"
        ),
        _ => matches!(
            key,
            "$user_agent"
                | "$browser"
                | "$browser_version"
                | "$os"
                | "$os_version"
                | "$device"
                | "$device_model"
                | "$manufacturer"
                | "$screen_width"
                | "$screen_height"
                | "$app_version"
                | "$app_build"
                | "$carrier"
        ),
    }
}

/// Coarse location: `context.location`'s and `context.timezone`, traits' address fields,
/// the canonical names.
fn coarse(level: Level, key: &str) -> bool {
    match level {
        Level::Context => matches!(key, "city" | "region" | "country" | "timezone"),
        _ => matches!(
            key,
            "$city" | "$region" | "$country_code" | "$timezone" | "city" | "state" | "region" | "country"
        ),
    }
}

/// The role of `key` at `level`, if it is a reserved field.
pub fn role_of(level: Level, key: &str) -> Option<Role> {
    if identifier(level, key) {
        return role(t::UNIQUE_ID);
    }
    match level {
        Level::EventTop | Level::ProfileTop | Level::GroupTop => return None,
        Level::GroupProperties => {
            return if coarse(level, key) {
                role(t::COARSE_LOCATION)
            } else {
                None
            };
        }
        Level::Context => match key {
            "ip" => return checked(t::IP_ADDRESS, Check::Ip),
            "latitude" => return checked(t::PRECISE_LOCATION, Check::Coordinate { max: 90 }),
            "longitude" => return checked(t::PRECISE_LOCATION, Check::Coordinate { max: 180 }),
            "id" | "advertisingId" | "token" => return role(t::DEVICE_ID),
            _ => {}
        },
        Level::EventProperties | Level::PeopleProperties => {}
    }
    if browsing(level, key) && level != Level::PeopleProperties {
        return role(t::BROWSING_HISTORY);
    }
    if coarse(level, key) && (level != Level::EventProperties || key.starts_with('$')) {
        return role(t::COARSE_LOCATION);
    }
    if device(level, key) {
        return role(t::DEVICE);
    }
    match (level, key) {
        (Level::Context, _) => None,
        (_, "ip" | "$ip") => checked(t::IP_ADDRESS, Check::Ip),
        (_, "$latitude") => checked(t::PRECISE_LOCATION, Check::Coordinate { max: 90 }),
        (_, "$longitude") => checked(t::PRECISE_LOCATION, Check::Coordinate { max: 180 }),
        (Level::PeopleProperties, k) => people_trait(k),
        (_, "$email") => checked(t::EMAIL, Check::Email),
        (_, "$phone") => checked(t::PHONE, Check::Phone),
        _ => None,
    }
}

/// Segment's reserved traits of a person, and the canonical (Mixpanel-style) ones.
fn people_trait(key: &str) -> Option<Role> {
    match key {
        "id" => role(t::UNIQUE_ID),
        "email" | "$email" => checked(t::EMAIL, Check::Email),
        "phone" | "$phone" => checked(t::PHONE, Check::Phone),
        "name" | "firstName" | "lastName" | "first_name" | "last_name" | "$name" | "$first_name" | "$last_name" => {
            checked(t::NAME, Check::Name)
        }
        "username" => role(t::USERNAME),
        "avatar" | "$avatar" => role(t::SELF_IMAGE),
        "birthday" => role(t::DATE_OF_BIRTH),
        "gender" => role(t::GENDER),
        "age" => role(t::AGE_RANGE),
        "street" => role(t::ADDRESS),
        "postalCode" | "postal_code" => role(t::POSTAL_CODE),
        _ => None,
    }
}

/// A `writeKey` at the top of a message is Segment's public write key, never a finding.
pub fn is_project_key(level: Level, key: &str) -> bool {
    matches!(level, Level::EventTop | Level::ProfileTop | Level::GroupTop) && key == "writeKey"
}

/// What an allowlist filters: each property of a track, page or screen, each trait of an
/// identify or group, and each field of `context` but its `library` (the SDK's name). The
/// message's structure (type, ids, `messageId`, `timestamp`, `integrations`) stays.
fn property_pointers(record: &Value, top: Level) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |prefix: &str, m: &Map<String, Value>, skip: &[&str]| {
        for k in m.keys() {
            if !skip.contains(&k.as_str()) {
                out.push(format!("{prefix}/{}", escape(k)));
            }
        }
    };
    let fields: &[&str] = match top {
        Level::EventTop => &["properties", "context"],
        _ => &["traits", "properties", "context"],
    };
    for field in fields {
        if let Some(Value::Object(m)) = record.get(*field) {
            let skip: &[&str] = if *field == "context" { &["library"] } else { &[] };
            add(&format!("/{field}"), m, skip);
        }
    }
    out
}

/// `context.location.country` (which Segment fills from the IP), else the `country` of a
/// profile's `traits.address`.
fn country_code(record: &Value, top: Level) -> Option<&Value> {
    record
        .get("context")
        .and_then(|c| c.get("location"))
        .and_then(|l| l.get("country"))
        .or_else(|| match top {
            Level::ProfileTop => record
                .get("traits")
                .and_then(|t| t.get("address"))
                .and_then(|a| a.get("country")),
            _ => None,
        })
}
