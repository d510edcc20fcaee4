//! Mixpanel's reserved properties and what they hold.
//!
//! Roles apply by position: event properties (`/properties/<key>`), profile updates
//! (`$distinct_id`, `$ip` at the top, people properties inside `$set`/`$set_once`) and
//! group updates (whose `$set` describes a company, so `$name` there is not a person).
//! A role whose value must have a certain form (an IP, an email) only reports when it has.

use super::taxonomy as t;

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

/// A reserved property: the category of its value and the check it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub category: &'static str,
    pub check: Check,
}

const fn role(category: &'static str) -> Option<Role> {
    Some(Role {
        category,
        check: Check::Any,
    })
}

const fn checked(category: &'static str, check: Check) -> Option<Role> {
    Some(Role { category, check })
}

/// Where a property sits in a Mixpanel record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `properties` of an event.
    EventProperties,
    /// Top level of an `/engage` profile update.
    ProfileTop,
    /// Inside `$set`/`$set_once` of a profile update (or an event's `$set`).
    PeopleProperties,
    /// Top level of a `/groups` update.
    GroupTop,
    /// Inside `$set`/`$set_once` of a group update.
    GroupProperties,
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
    if identifier(key) {
        return role(t::UNIQUE_ID);
    }
    match level {
        Level::EventProperties | Level::PeopleProperties => {}
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
        Level::PeopleProperties | Level::GroupProperties => false,
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
