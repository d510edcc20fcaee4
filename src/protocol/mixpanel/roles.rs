//! Mixpanel's record shapes and reserved properties, for the classifier and the policy.
//!
//! Roles apply by position: event properties (`/properties/<key>`), profile updates
//! (`$distinct_id`, `$ip` at the top, people properties inside `$set`/`$set_once`) and
//! group updates (whose `$set` describes a company, so `$name` there is not a person).

use serde_json::{Map, Value};

use crate::classify::roles::{Check, Layout, Level, Role, escape};
use crate::classify::{Shape, taxonomy as t};

/// Mixpanel's layout: `{"event", "properties": {…}}` events, `/engage` profile updates with
/// operations, `/groups` group updates.
pub static LAYOUT: Layout = Layout {
    id: 0,
    detector: "role.mixpanel",
    role: role_of,
    child,
    is_project_key: is_project_token,
    property_pointers,
    country_code,
};

/// `{"event": …, "properties": {…}}` (`/track`, `/import`).
pub const EVENT: Shape = Shape {
    layout: &LAYOUT,
    top: Level::EventTop,
};
/// `{"$token", "$distinct_id", "$set": {…}, …}` (`/engage`).
pub const PROFILE: Shape = Shape {
    layout: &LAYOUT,
    top: Level::ProfileTop,
};
/// `{"$token", "$group_key", "$group_id", "$set": {…}, …}` (`/groups`).
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
        (Level::EventTop, "properties") => Some(Level::EventProperties),
        (Level::EventProperties | Level::ProfileTop, "$set" | "$set_once") => Some(Level::PeopleProperties),
        (Level::GroupTop, "$set" | "$set_once") => Some(Level::GroupProperties),
        _ => None,
    }
}

/// Pointers of the record's properties: event properties (without the record's structure),
/// or the fields of each profile or group operation.
fn property_pointers(record: &Value, top: Level) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |prefix: &str, m: &Map<String, Value>, skip: &[&str]| {
        for k in m.keys() {
            if !skip.contains(&k.as_str()) {
                out.push(format!("{prefix}/{}", escape(k)));
            }
        }
    };
    match top {
        Level::EventTop => {
            if let Some(Value::Object(p)) = record.get("properties") {
                add(
                    "/properties",
                    p,
                    &["token", "distinct_id", "$device_id", "$user_id", "time", "$insert_id"],
                );
            }
        }
        _ => {
            if let Value::Object(m) = record {
                for (op, v) in m {
                    if let Value::Object(inner) = v
                        && op.starts_with('$')
                    {
                        add(&format!("/{}", escape(op)), inner, &[]);
                    }
                }
            }
        }
    }
    out
}

/// `mp_country_code` or `$country_code` of an event's properties, or `$country_code` of a
/// profile's or group's `$set`/`$set_once`.
fn country_code(record: &Value, top: Level) -> Option<&Value> {
    let candidates: [(&str, &str); 2] = match top {
        Level::EventTop => [("properties", "mp_country_code"), ("properties", "$country_code")],
        _ => [("$set", "$country_code"), ("$set_once", "$country_code")],
    };
    candidates
        .iter()
        .find_map(|(outer, inner)| record.get(outer).and_then(|o| o.get(inner)))
}

/// Identifiers of the person, pseudonymised per destination by the policy.
fn identifier(key: &str) -> bool {
    matches!(
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
    )
}

/// Device properties Mixpanel's SDKs collect.
fn device(key: &str) -> bool {
    matches!(
        key,
        "$os"
            | "$os_version"
            | "$browser"
            | "$browser_version"
            | "$device"
            | "$model"
            | "$manufacturer"
            | "$brand"
            | "$carrier"
            | "$wifi"
            | "$radio"
            | "$bluetooth_enabled"
            | "$bluetooth_version"
            | "$has_nfc"
            | "$has_telephone"
            | "$screen_height"
            | "$screen_width"
            | "$screen_dpi"
            | "$screen_density"
            | "$app_version"
            | "$app_version_string"
            | "$app_build_number"
            | "$app_release"
            | "$ios_version"
            | "$android_os_version"
    ) || key.starts_with("$screen_")
}

/// Coarse location properties (Mixpanel derives most from the IP).
fn coarse(key: &str) -> bool {
    matches!(
        key,
        "$city" | "$region" | "mp_country_code" | "$country_code" | "$geo_source" | "$timezone"
    )
}

/// Browsing history: the pages and referrers the web SDK records.
fn browsing(key: &str) -> bool {
    matches!(
        key,
        "$current_url"
            | "$referrer"
            | "$initial_referrer"
            | "$referring_domain"
            | "$initial_referring_domain"
            | "current_url_path"
            | "current_url_search"
            | "current_page_title"
            | "current_domain"
            | "$search_engine"
            | "mp_keyword"
            | "$search_keyword"
    )
}

/// The role of `key` at `level`, if it is a reserved property.
pub fn role_of(level: Level, key: &str) -> Option<Role> {
    if level == Level::EventTop || level == Level::Context {
        return None;
    }
    if identifier(key) {
        return role(t::UNIQUE_ID);
    }
    match level {
        Level::EventTop | Level::Context | Level::EventProperties | Level::PeopleProperties => {}
        Level::ProfileTop => {
            return if key == "$ip" {
                checked(t::IP_ADDRESS, Check::Ip)
            } else {
                None
            };
        }
        Level::GroupTop => return None,
        Level::GroupProperties => {
            return if coarse(key) { role(t::COARSE_LOCATION) } else { None };
        }
    }
    if browsing(key) {
        return role(t::BROWSING_HISTORY);
    }
    if coarse(key) {
        return role(t::COARSE_LOCATION);
    }
    if device(key) {
        return role(t::DEVICE);
    }
    match key {
        "ip" | "$ip" => checked(t::IP_ADDRESS, Check::Ip),
        "$latitude" => checked(t::PRECISE_LOCATION, Check::Coordinate { max: 90 }),
        "$longitude" => checked(t::PRECISE_LOCATION, Check::Coordinate { max: 180 }),
        "$ios_ifa" | "$android_advertising_id" | "$ios_devices" | "$android_devices" => role(t::DEVICE_ID),
        "$email" => checked(t::EMAIL, Check::Email),
        "$phone" => checked(t::PHONE, Check::Phone),
        "$name" | "$first_name" | "$last_name" => checked(t::NAME, Check::Name),
        "$avatar" => role(t::SELF_IMAGE),
        _ => None,
    }
}

/// True for a property whose value vendorwall must leave alone: the event's `token` is
/// Mixpanel's public project token (and `$token` the same on profile and group updates),
/// never a credential.
pub fn is_project_token(level: Level, key: &str) -> bool {
    match level {
        Level::EventProperties => key == "token",
        Level::ProfileTop | Level::GroupTop => key == "$token",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(
            role_of(Level::EventProperties, "distinct_id").map(|r| r.category),
            Some(t::UNIQUE_ID)
        );
        assert_eq!(
            role_of(Level::ProfileTop, "$distinct_id").map(|r| r.category),
            Some(t::UNIQUE_ID)
        );
        assert_eq!(
            role_of(Level::EventProperties, "$referrer").map(|r| r.category),
            Some(t::BROWSING_HISTORY)
        );
        assert_eq!(
            role_of(Level::EventProperties, "$screen_width").map(|r| r.category),
            Some(t::DEVICE)
        );
        assert_eq!(
            role_of(Level::EventProperties, "mp_country_code").map(|r| r.category),
            Some(t::COARSE_LOCATION)
        );
        assert_eq!(
            role_of(Level::PeopleProperties, "$email").map(|r| r.category),
            Some(t::EMAIL)
        );
        assert_eq!(
            role_of(Level::GroupProperties, "$name"),
            None,
            "a group's $name is a company"
        );
        assert_eq!(role_of(Level::EventProperties, "$insert_id"), None);
        assert!(is_project_token(Level::EventProperties, "token"));
        assert!(!is_project_token(Level::PeopleProperties, "token"));
    }
}
