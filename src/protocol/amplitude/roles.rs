//! Amplitude's record shapes and reserved fields, for the classifier and the policy.
//!
//! Every Amplitude record is one event object (<https://amplitude.com/docs/apis/analytics/http-v2>):
//! ids, `ip`, device, app and location fields at its top; `event_properties`; people
//! properties in `user_properties` (plain, or inside operations such as `$set`); a group's
//! properties in `group_properties`. A `$identify` event is a profile update and a
//! `$groupidentify` event a group update, but their tops are the same: they too carry the
//! acting person's `user_id`, `device_id` and `ip`, which are that person's data.
//!
//! Roles also cover the canonical names events of other vendors bring along inside
//! `event_properties` (`$current_url`, `$browser`, `distinct_id`, …) and the names the
//! browser SDK gives page properties (`[Amplitude] Page URL`, …).

use serde_json::{Map, Value};

use super::decode::OPERATIONS;
use crate::classify::roles::{Check, Layout, Level, Role, escape};
use crate::classify::{Shape, taxonomy as t};

/// Amplitude's layout.
pub static LAYOUT: Layout = Layout {
    id: 3,
    detector: "role.amplitude",
    role: role_of,
    child,
    is_project_key,
    property_pointers,
    country_code,
};

/// An ordinary event.
pub const EVENT: Shape = Shape {
    layout: &LAYOUT,
    top: Level::EventTop,
};
/// A `$identify` event.
pub const PROFILE: Shape = Shape {
    layout: &LAYOUT,
    top: Level::ProfileTop,
};
/// A `$groupidentify` event.
pub const GROUP: Shape = Shape {
    layout: &LAYOUT,
    top: Level::GroupTop,
};

fn top(level: Level) -> bool {
    matches!(level, Level::EventTop | Level::ProfileTop | Level::GroupTop)
}

fn child(level: Level, key: &str) -> Option<Level> {
    match (level, key) {
        (l, "event_properties") if top(l) => Some(Level::EventProperties),
        (l, "user_properties") if top(l) => Some(Level::PeopleProperties),
        (l, "group_properties") if top(l) => Some(Level::GroupProperties),
        (Level::PeopleProperties, op) if OPERATIONS.contains(&op) => Some(Level::PeopleProperties),
        (Level::GroupProperties, op) if OPERATIONS.contains(&op) => Some(Level::GroupProperties),
        _ => None,
    }
}

/// Top-level fields that are the record's structure, not data an allowlist filters.
const STRUCTURE: [&str; 13] = [
    "event_type",
    "user_id",
    "device_id",
    "time",
    "insert_id",
    "session_id",
    "event_id",
    "library",
    "groups",
    "event_properties",
    "user_properties",
    "group_properties",
    "api_key",
];

/// Pointers of the record's properties: its event properties, the fields of each user or
/// group operation (or the plain properties), and the top-level device, location and app
/// fields — not its structure (ids, time, `insert_id`, `session_id`, `event_id`, `library`,
/// `groups`).
fn property_pointers(record: &Value, _top: Level) -> Vec<String> {
    let mut out = Vec::new();
    let Value::Object(rec) = record else {
        return out;
    };
    fn add(out: &mut Vec<String>, prefix: &str, m: &Map<String, Value>) {
        for k in m.keys() {
            out.push(format!("{prefix}/{}", escape(k)));
        }
    }
    for (k, v) in rec {
        if !STRUCTURE.contains(&k.as_str()) {
            out.push(format!("/{}", escape(k)));
        }
        let Value::Object(m) = v else { continue };
        match k.as_str() {
            "event_properties" => add(&mut out, "/event_properties", m),
            "user_properties" | "group_properties" => {
                if m.keys().any(|op| OPERATIONS.contains(&op.as_str())) {
                    for (op, inner) in m {
                        match inner {
                            Value::Object(inner) => add(&mut out, &format!("/{k}/{}", escape(op)), inner),
                            _ => out.push(format!("/{k}/{}", escape(op))),
                        }
                    }
                } else {
                    add(&mut out, &format!("/{k}"), m);
                }
            }
            _ => {}
        }
    }
    out
}

/// The record's country: Amplitude's top-level `country`, else a canonical `$country_code`
/// among its event properties.
fn country_code(record: &Value, _top: Level) -> Option<&Value> {
    record
        .get("country")
        .or_else(|| record.get("event_properties").and_then(|p| p.get("$country_code")))
}

/// Identifiers of the person (pseudonymised per destination by the policy), including the
/// canonical names events of other vendors bring inside their properties.
fn identifier(key: &str) -> bool {
    matches!(
        key,
        "user_id"
            | "device_id"
            | "distinct_id"
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

/// Top-level device and app fields.
fn top_device(key: &str) -> bool {
    matches!(
        key,
        "platform"
            | "os_name"
            | "os_version"
            | "device_brand"
            | "device_manufacturer"
            | "device_model"
            | "device_type"
            | "device_family"
            | "carrier"
            | "user_agent"
            | "app_version"
            | "version_name"
    )
}

/// Top-level advertising and vendor device ids.
fn top_device_id(key: &str) -> bool {
    matches!(key, "idfa" | "idfv" | "adid" | "android_id" | "android_app_set_id")
}

/// Canonical and Amplitude device properties inside event or user properties.
fn device(key: &str) -> bool {
    matches!(
        key,
        "$os"
            | "$os_version"
            | "$browser"
            | "$browser_version"
            | "$device"
            | "$device_model"
            | "$model"
            | "$manufacturer"
            | "$brand"
            | "$carrier"
            | "$app_version"
            | "$app_build"
            | "$user_agent"
            | "$screen_width"
            | "$screen_height"
    ) || key.starts_with("$screen_")
}

fn coarse(key: &str) -> bool {
    matches!(
        key,
        "$city" | "$region" | "$country_code" | "$country" | "mp_country_code" | "$timezone"
    )
}

/// Pages and referrers: canonical names, and the browser SDK's page and attribution ones.
fn browsing(key: &str) -> bool {
    matches!(
        key,
        "$current_url"
            | "$referrer"
            | "$referring_domain"
            | "$initial_referrer"
            | "$initial_referring_domain"
            | "$pathname"
            | "$search"
            | "$title"
            | "[Amplitude] Page Location"
            | "[Amplitude] Page URL"
            | "[Amplitude] Page Path"
            | "[Amplitude] Page Title"
            | "[Amplitude] Page Domain"
            | "[Amplitude] Previous Page Location"
            | "referrer"
            | "referring_domain"
            | "initial_referrer"
            | "initial_referring_domain"
    )
}

/// The role of `key` at `level`, if it is a reserved field.
pub fn role_of(level: Level, key: &str) -> Option<Role> {
    if top(level) {
        return match key {
            "user_id" | "device_id" => Role::any(t::UNIQUE_ID),
            "ip" => Role::checked(t::IP_ADDRESS, Check::Ip),
            "city" | "region" | "country" | "dma" => Role::any(t::COARSE_LOCATION),
            "location_lat" => Role::checked(t::PRECISE_LOCATION, Check::Coordinate { max: 90 }),
            "location_lng" => Role::checked(t::PRECISE_LOCATION, Check::Coordinate { max: 180 }),
            k if top_device_id(k) => Role::any(t::DEVICE_ID),
            k if top_device(k) => Role::any(t::DEVICE),
            _ => None,
        };
    }
    if level == Level::Context {
        return None;
    }
    if level == Level::GroupProperties {
        return if coarse(key) {
            Role::any(t::COARSE_LOCATION)
        } else {
            None
        };
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
        "ip" | "$ip" => Role::checked(t::IP_ADDRESS, Check::Ip),
        "$latitude" => Role::checked(t::PRECISE_LOCATION, Check::Coordinate { max: 90 }),
        "$longitude" => Role::checked(t::PRECISE_LOCATION, Check::Coordinate { max: 180 }),
        "$ios_ifa" | "$android_advertising_id" => Role::any(t::DEVICE_ID),
        _ if level != Level::PeopleProperties => None,
        "email" | "$email" => Role::checked(t::EMAIL, Check::Email),
        "phone" | "$phone" | "phone_number" => Role::checked(t::PHONE, Check::Phone),
        "name" | "$name" | "first_name" | "last_name" | "$first_name" | "$last_name" | "full_name" => {
            Role::checked(t::NAME, Check::Name)
        }
        "avatar" | "$avatar" => Role::any(t::SELF_IMAGE),
        _ => None,
    }
}

/// The app's `api_key`, should a record ever carry one (requests do, records do not):
/// never reported, so no policy rewrites it.
pub fn is_project_key(level: Level, key: &str) -> bool {
    top(level) && key == "api_key"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify_record;
    use serde_json::json;

    #[test]
    fn table() {
        let cat = |l, k| role_of(l, k).map(|r| r.category);
        let cases: Vec<(Level, &str, Option<&str>)> = vec![
            (Level::EventTop, "user_id", Some(t::UNIQUE_ID)),
            (Level::EventTop, "device_id", Some(t::UNIQUE_ID)),
            (Level::GroupTop, "user_id", Some(t::UNIQUE_ID)),
            (Level::ProfileTop, "ip", Some(t::IP_ADDRESS)),
            (Level::EventTop, "city", Some(t::COARSE_LOCATION)),
            (Level::EventTop, "country", Some(t::COARSE_LOCATION)),
            (Level::EventTop, "location_lat", Some(t::PRECISE_LOCATION)),
            (Level::EventTop, "idfa", Some(t::DEVICE_ID)),
            (Level::EventTop, "os_name", Some(t::DEVICE)),
            (Level::EventTop, "user_agent", Some(t::DEVICE)),
            (Level::EventTop, "insert_id", None),
            (Level::EventTop, "session_id", None),
            (Level::EventTop, "groups", None),
            (
                Level::EventProperties,
                "[Amplitude] Page URL",
                Some(t::BROWSING_HISTORY),
            ),
            (Level::EventProperties, "$current_url", Some(t::BROWSING_HISTORY)),
            (Level::EventProperties, "distinct_id", Some(t::UNIQUE_ID)),
            (Level::EventProperties, "alias", Some(t::UNIQUE_ID)),
            (Level::EventProperties, "$browser", Some(t::DEVICE)),
            (Level::EventProperties, "$city", Some(t::COARSE_LOCATION)),
            (Level::EventProperties, "$latitude", Some(t::PRECISE_LOCATION)),
            (Level::EventProperties, "email", None),
            (Level::PeopleProperties, "email", Some(t::EMAIL)),
            (Level::PeopleProperties, "name", Some(t::NAME)),
            (Level::PeopleProperties, "initial_referrer", Some(t::BROWSING_HISTORY)),
            (Level::GroupProperties, "name", None),
            (Level::GroupProperties, "$city", Some(t::COARSE_LOCATION)),
        ];
        for (level, key, want) in cases {
            assert_eq!(cat(level, key), want, "{level:?} {key}");
        }
        assert!(is_project_key(Level::EventTop, "api_key"));
        assert!(!is_project_key(Level::EventProperties, "api_key"));
    }

    #[test]
    fn classifies_a_browser_identify() {
        let rec = json!({"event_type": "$identify", "user_id": "br-user-1", "device_id": "39fee4ab-b614",
            "ip": "81.6.40.1", "platform": "Web", "country": "CH", "location_lat": 47.37612,
            "user_properties": {"$set": {"email": "ada@example.com", "name": "Ada Lovelace", "plan": "pro"},
                                "$unset": {"referrer": "-"}}});
        let f: Vec<(String, &str, &str)> = classify_record(&rec, PROFILE)
            .into_iter()
            .map(|f| (f.pointer, f.category, f.detector))
            .collect();
        for want in [
            ("/user_id", t::UNIQUE_ID, "role.amplitude"),
            ("/device_id", t::UNIQUE_ID, "role.amplitude"),
            ("/ip", t::IP_ADDRESS, "role.amplitude"),
            ("/platform", t::DEVICE, "role.amplitude"),
            ("/location_lat", t::PRECISE_LOCATION, "role.amplitude"),
            ("/user_properties/$set/email", t::EMAIL, "role.amplitude"),
            ("/user_properties/$set/name", t::NAME, "role.amplitude"),
        ] {
            assert!(
                f.contains(&(want.0.to_owned(), want.1, want.2)),
                "{want:?} not in {f:#?}"
            );
        }
        // a group's name is a company's
        let g = json!({"event_type": "$groupidentify", "user_id": "br-user-1", "groups": {"company": "acme"},
            "group_properties": {"$set": {"name": "Acme Inc."}}});
        assert!(
            classify_record(&g, GROUP)
                .iter()
                .all(|f| f.pointer != "/group_properties/$set/name" || f.category != t::NAME)
        );
    }

    #[test]
    fn pointers_and_country() {
        let rec = json!({"event_type": "a", "user_id": "u", "time": 1, "os_name": "Linux", "ip": "1.2.3.4",
            "event_properties": {"a": 1, "b/c": 2}, "user_properties": {"$set": {"x": 1}, "$unset": {"y": "-"}},
            "country": "CH"});
        let mut p = property_pointers(&rec, Level::EventTop);
        p.sort();
        assert_eq!(
            p,
            [
                "/country",
                "/event_properties/a",
                "/event_properties/b~1c",
                "/ip",
                "/os_name",
                "/user_properties/$set/x",
                "/user_properties/$unset/y"
            ]
        );
        let plain = json!({"event_type": "$identify", "user_id": "u", "user_properties": {"x": 1}});
        assert_eq!(property_pointers(&plain, Level::ProfileTop), ["/user_properties/x"]);
        assert_eq!(country_code(&rec, Level::EventTop), Some(&json!("CH")));
        assert_eq!(
            country_code(&json!({"event_properties": {"$country_code": "DE"}}), Level::EventTop),
            Some(&json!("DE"))
        );
    }
}
