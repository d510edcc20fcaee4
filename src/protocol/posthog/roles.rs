//! PostHog's record shapes and reserved properties, for the classifier and the policy.
//!
//! Every PostHog record is an event, `{"event", "distinct_id", "properties": {…},
//! "timestamp", "uuid"}` (<https://posthog.com/docs/api/capture>):
//!
//! - a tracked event ([`EVENT`]): `distinct_id` at the top, properties under `properties`,
//!   person updates riding along in `properties.$set` / `$set_once` (or at the top, as
//!   posthog-python sends them);
//! - a person update ([`PROFILE`], `$identify` / `$set` / `$set_once`): the same, with the person's
//!   properties in `$set` / `$set_once`;
//! - a group update ([`GROUP`], `$groupidentify`): the group's properties in
//!   `properties.$group_set` describe a company, so `name` there is not a person's;
//! - a feature-flag request, reshaped by the decoder like an event (`person_properties` as
//!   `properties.$set`, `group_properties` as `properties.$group_properties`).
//!
//! PostHog's own property names are the canonical ones other vendors' events are lifted to
//! (`$current_url`, `$os`, `$city`, …), so the same roles cover events from every source.

use serde_json::{Map, Value};

use crate::classify::roles::{Check, Layout, Level, Role, escape};
use crate::classify::{Shape, taxonomy as t};

/// PostHog's layout.
pub static LAYOUT: Layout = Layout {
    id: 2,
    detector: "role.posthog",
    role: role_of,
    child,
    is_project_key,
    property_pointers,
    country_code,
};

/// A tracked event.
pub const EVENT: Shape = Shape {
    layout: &LAYOUT,
    top: Level::EventTop,
};
/// A person update (`$identify`, `$set`, `$set_once`).
pub const PROFILE: Shape = Shape {
    layout: &LAYOUT,
    top: Level::ProfileTop,
};
/// A group update (`$groupidentify`).
pub const GROUP: Shape = Shape {
    layout: &LAYOUT,
    top: Level::GroupTop,
};

/// Containers of person properties: PostHog's person operations, and the operations of
/// another vendor's profile updates an encoder leaves in the properties.
fn person_container(key: &str) -> bool {
    matches!(key, "$set" | "$set_once" | "$add" | "$append" | "$union" | "$remove")
}

fn child(level: Level, key: &str) -> Option<Level> {
    match (level, key) {
        (Level::EventTop | Level::ProfileTop, "properties") => Some(Level::EventProperties),
        (Level::EventTop | Level::ProfileTop | Level::EventProperties, k) if person_container(k) => {
            Some(Level::PeopleProperties)
        }
        // A flag request's `group_properties`: `{type: {properties}}`.
        (Level::EventProperties, "$group_properties") => Some(Level::GroupTop),
        // A group update's properties, and each group type's of a flag request.
        (Level::GroupTop, _) => Some(Level::GroupProperties),
        (Level::GroupProperties, "$group_set") => Some(Level::GroupProperties),
        _ => None,
    }
}

/// Identifiers of the person, pseudonymised per destination by the policy.
fn identifier(key: &str) -> bool {
    matches!(
        key,
        "distinct_id"
            | "$device_id"
            | "$user_id"
            | "$anon_distinct_id"
            | "$anon_id"
            | "$identified_id"
            | "$distinct_ids"
            | "$original_id"
            | "alias"
            | "$alias"
    )
}

/// Pages and referrers (posthog-js), and their canonical names.
fn browsing(key: &str) -> bool {
    matches!(
        key,
        "$current_url"
            | "$referrer"
            | "$referring_domain"
            | "$pathname"
            | "$host"
            | "$title"
            | "title"
            | "$search"
            | "$prev_pageview_pathname"
            | "$external_click_url"
            | "$search_engine"
    ) || key.starts_with("$initial_")
        && matches!(
            &key[9..],
            "referrer" | "referring_domain" | "current_url" | "host" | "pathname"
        )
        || key.starts_with("$session_entry_")
            && matches!(
                &key[15..],
                "url" | "referrer" | "referring_domain" | "host" | "pathname"
            )
}

/// Device and browser properties.
fn device(key: &str) -> bool {
    matches!(
        key,
        "$os"
            | "$os_name"
            | "$os_version"
            | "$browser"
            | "$browser_version"
            | "$browser_language"
            | "$browser_language_prefix"
            | "$device"
            | "$device_type"
            | "$device_model"
            | "$device_name"
            | "$device_manufacturer"
            | "$manufacturer"
            | "$raw_user_agent"
            | "$user_agent"
            | "$locale"
            | "$language"
            | "$carrier"
            | "$network_carrier"
            | "$app_version"
            | "$app_build"
    ) || key.starts_with("$screen_")
        || key.starts_with("$viewport_")
}

/// Coarse location: PostHog's GeoIP properties and their canonical names.
fn coarse(key: &str) -> bool {
    matches!(
        key,
        "$city" | "$region" | "$country_code" | "$timezone" | "$timezone_offset"
    ) || (key.starts_with("$geoip_") || key.starts_with("$initial_geoip_"))
        && !key.ends_with("latitude")
        && !key.ends_with("longitude")
}

/// The role of `key` at `level`, if it is a reserved field.
pub fn role_of(level: Level, key: &str) -> Option<Role> {
    match level {
        Level::EventTop | Level::ProfileTop | Level::GroupTop => {
            return (key == "distinct_id").then_some(Role {
                category: t::UNIQUE_ID,
                check: Check::Any,
            });
        }
        Level::Context => return None,
        Level::GroupProperties => {
            return if coarse(key) {
                Role::any(t::COARSE_LOCATION)
            } else {
                None
            };
        }
        Level::EventProperties | Level::PeopleProperties => {}
    }
    if identifier(key) {
        return Role::any(t::UNIQUE_ID);
    }
    if browsing(key) {
        return Role::any(t::BROWSING_HISTORY);
    }
    if coarse(key) {
        return Role::any(t::COARSE_LOCATION);
    }
    if device(key) {
        return Role::any(t::DEVICE);
    }
    match key {
        "$ip" => Role::checked(t::IP_ADDRESS, Check::Ip),
        "$latitude" | "$geoip_latitude" | "$initial_geoip_latitude" => {
            Role::checked(t::PRECISE_LOCATION, Check::Coordinate { max: 90 })
        }
        "$longitude" | "$geoip_longitude" | "$initial_geoip_longitude" => {
            Role::checked(t::PRECISE_LOCATION, Check::Coordinate { max: 180 })
        }
        "$email" => Role::checked(t::EMAIL, Check::Email),
        "$phone" => Role::checked(t::PHONE, Check::Phone),
        "$name" | "$first_name" | "$last_name" => Role::checked(t::NAME, Check::Name),
        _ if level == Level::PeopleProperties => match key {
            "email" => Role::checked(t::EMAIL, Check::Email),
            "phone" | "phone_number" => Role::checked(t::PHONE, Check::Phone),
            "name" | "first_name" | "last_name" | "full_name" => Role::checked(t::NAME, Check::Name),
            "avatar" | "$avatar" => Role::any(t::SELF_IMAGE),
            _ => None,
        },
        _ => None,
    }
}

/// The app-side key: posthog-js's `properties.token` and the body's `api_key` (the decoder
/// takes both out; a record that still has one is left alone so no policy rewrites it).
pub fn is_project_key(level: Level, key: &str) -> bool {
    match level {
        Level::EventProperties => key == "token",
        Level::EventTop | Level::ProfileTop | Level::GroupTop => key == "api_key",
        _ => false,
    }
}

/// Fields of the record's structure, never filtered by an allowlist.
const STRUCTURE: [&str; 6] = [
    "token",
    "distinct_id",
    "$group_type",
    "$group_key",
    "$geoip_disable",
    "$process_person_profile",
];

/// Pointers of the record's properties: `properties/<key>`, and the fields of each person
/// or group container (`properties/$set/<key>`, `properties/$group_set/<key>`, a flag
/// request's `properties/$group_properties/<type>/<key>`, a top-level `$set/<key>`).
fn property_pointers(record: &Value, _top: Level) -> Vec<String> {
    let mut out = Vec::new();
    let fields = |out: &mut Vec<String>, prefix: &str, m: &Map<String, Value>| {
        for k in m.keys() {
            out.push(format!("{prefix}/{}", escape(k)));
        }
    };
    if let Some(Value::Object(props)) = record.get("properties") {
        for (k, v) in props {
            if STRUCTURE.contains(&k.as_str()) || k == "$unset" {
                continue;
            }
            let here = format!("/properties/{}", escape(k));
            match v {
                Value::Object(m) if person_container(k) || k == "$group_set" => fields(&mut out, &here, m),
                Value::Object(m) if k == "$group_properties" => {
                    for (group, inner) in m {
                        if let Value::Object(inner) = inner {
                            fields(&mut out, &format!("{here}/{}", escape(group)), inner);
                        }
                    }
                }
                _ => out.push(here),
            }
        }
    }
    if let Value::Object(top) = record {
        for (k, v) in top {
            if let Value::Object(m) = v
                && person_container(k)
            {
                fields(&mut out, &format!("/{}", escape(k)), m);
            }
        }
    }
    out
}

/// `$geoip_country_code` or `$country_code` of the properties, or of a person update's
/// `$set`.
fn country_code(record: &Value, _top: Level) -> Option<&Value> {
    let props = record.get("properties");
    let candidates = [
        props.and_then(|p| p.get("$geoip_country_code")),
        props.and_then(|p| p.get("$country_code")),
        props
            .and_then(|p| p.get("$set"))
            .and_then(|s| s.get("$geoip_country_code")),
        props.and_then(|p| p.get("$set")).and_then(|s| s.get("$country_code")),
    ];
    candidates.into_iter().flatten().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify_record;
    use serde_json::json;

    fn cat(level: Level, key: &str) -> Option<&'static str> {
        role_of(level, key).map(|r| r.category)
    }

    #[test]
    fn table() {
        use Level::*;
        let cases: Vec<(Level, &str, Option<&str>)> = vec![
            (EventTop, "distinct_id", Some(t::UNIQUE_ID)),
            (ProfileTop, "distinct_id", Some(t::UNIQUE_ID)),
            (GroupTop, "distinct_id", Some(t::UNIQUE_ID)),
            (EventTop, "uuid", None),
            (EventTop, "timestamp", None),
            (EventProperties, "$device_id", Some(t::UNIQUE_ID)),
            (EventProperties, "$anon_distinct_id", Some(t::UNIQUE_ID)),
            (EventProperties, "alias", Some(t::UNIQUE_ID)),
            (EventProperties, "$ip", Some(t::IP_ADDRESS)),
            (EventProperties, "$current_url", Some(t::BROWSING_HISTORY)),
            (EventProperties, "$initial_referrer", Some(t::BROWSING_HISTORY)),
            (EventProperties, "$session_entry_url", Some(t::BROWSING_HISTORY)),
            (EventProperties, "$initial_utm_source", None),
            (EventProperties, "$raw_user_agent", Some(t::DEVICE)),
            (EventProperties, "$viewport_width", Some(t::DEVICE)),
            (EventProperties, "$geoip_city_name", Some(t::COARSE_LOCATION)),
            (EventProperties, "$geoip_latitude", Some(t::PRECISE_LOCATION)),
            (EventProperties, "$longitude", Some(t::PRECISE_LOCATION)),
            (EventProperties, "$session_id", None),
            (EventProperties, "email", None),
            (PeopleProperties, "email", Some(t::EMAIL)),
            (PeopleProperties, "name", Some(t::NAME)),
            (PeopleProperties, "phone", Some(t::PHONE)),
            (GroupProperties, "name", None),
            (GroupProperties, "$geoip_country_code", Some(t::COARSE_LOCATION)),
        ];
        for (level, key, want) in cases {
            assert_eq!(cat(level, key), want, "{level:?} {key}");
        }
        assert!(is_project_key(Level::EventProperties, "token"));
        assert!(!is_project_key(Level::PeopleProperties, "token"));
        assert_eq!(child(Level::EventTop, "properties"), Some(Level::EventProperties));
        assert_eq!(child(Level::EventTop, "$set"), Some(Level::PeopleProperties));
        assert_eq!(
            child(Level::EventProperties, "$set_once"),
            Some(Level::PeopleProperties)
        );
        assert_eq!(child(Level::GroupTop, "properties"), Some(Level::GroupProperties));
        assert_eq!(
            child(Level::GroupProperties, "$group_set"),
            Some(Level::GroupProperties)
        );
    }

    #[test]
    fn classifies_ids_people_and_groups_by_position() {
        let found = |record: Value, shape: Shape| -> Vec<(String, &'static str)> {
            classify_record(&record, shape)
                .into_iter()
                .filter(|f| f.detector == "role.posthog")
                .map(|f| (f.pointer, f.category))
                .collect()
        };
        let ev = found(
            json!({"event": "a", "distinct_id": "u1", "properties": {"$device_id": "d", "$ip": "81.2.69.160", "$set": {"email": "a@b.c", "name": "Ada"}}}),
            EVENT,
        );
        for want in [
            ("/distinct_id", t::UNIQUE_ID),
            ("/properties/$device_id", t::UNIQUE_ID),
            ("/properties/$ip", t::IP_ADDRESS),
            ("/properties/$set/email", t::EMAIL),
            ("/properties/$set/name", t::NAME),
        ] {
            assert!(ev.contains(&(want.0.to_owned(), want.1)), "{want:?} in {ev:?}");
        }
        let gr = found(
            json!({"event": "$groupidentify", "distinct_id": "u1", "properties": {"$group_type": "company", "$group_key": "acme", "$group_set": {"name": "Acme"}}}),
            GROUP,
        );
        assert_eq!(gr, vec![("/distinct_id".to_owned(), t::UNIQUE_ID)]);
        // python puts $set at the top of the event
        let top = found(
            json!({"event": "$set", "distinct_id": "u", "$set": {"email": "a@b.c"}}),
            PROFILE,
        );
        assert!(top.contains(&("/$set/email".to_owned(), t::EMAIL)));
    }

    #[test]
    fn pointers_and_country() {
        let rec = json!({"event": "$identify", "distinct_id": "u", "$set": {"top": 1}, "properties": {
            "plan": "pro", "token": "t", "distinct_id": "u", "$geoip_disable": true, "$unset": ["x"],
            "$set": {"email": "e", "a/b": 1}, "$group_set": {"n": 1}, "$group_properties": {"company": {"name": "A"}},
            "$geoip_country_code": "CH"}});
        let mut p = property_pointers(&rec, Level::ProfileTop);
        p.sort();
        assert_eq!(
            p,
            vec![
                "/$set/top",
                "/properties/$geoip_country_code",
                "/properties/$group_properties/company/name",
                "/properties/$group_set/n",
                "/properties/$set/a~1b",
                "/properties/$set/email",
                "/properties/plan",
            ]
        );
        assert_eq!(country_code(&rec, Level::EventTop), Some(&json!("CH")));
        assert_eq!(
            country_code(
                &json!({"properties": {"$set": {"$country_code": "FR"}}}),
                Level::ProfileTop
            ),
            Some(&json!("FR"))
        );
    }
}
