use super::*;
use base64::Engine;
use proptest::prelude::*;
use serde_json::{Map, json};

use crate::protocol::mixpanel::roles::{EVENT, GROUP, PROFILE};

fn finding(pointer: &str, category: &'static str, span: Option<(usize, usize)>) -> Finding {
    Finding {
        pointer: pointer.into(),
        category,
        span,
        detector: "test",
        confidence: 1.0,
    }
}

fn role(pointer: &str) -> Finding {
    Finding {
        detector: "role.mixpanel",
        ..finding(pointer, "user.unique_id", None)
    }
}

fn key() -> PseudonymKey {
    PseudonymKey::from_bytes(1, &[42; 32])
}

fn send(p: &Policy, record: &Value, findings: &[Finding]) -> (Value, Vec<Decision>) {
    let k = key();
    match p.apply(
        record,
        EVENT,
        findings,
        &Context {
            source: "web",
            event: record.get("event").and_then(Value::as_str),
            key: Some(&k),
        },
    ) {
        Verdict::Send { record, decisions } => (record, decisions),
        Verdict::Block { because } => panic!("blocked by {because}"),
    }
}

#[test]
fn recommended_redacts_spans_drops_fields_and_pseudonymises_ids() {
    let url = "https://app.example.com/account/jane@example.com?email=jane%40example.com&utm_source=x#top";
    let record = json!({"event": "Signup", "properties": {
        "token": "t", "distinct_id": "jane@example.com", "$device_id": "dev-1", "time": 1, "$insert_id": "i",
        "$current_url": url, "ip": "203.0.113.7", "$city": "Berlin", "$browser": "Chrome",
        "card": "4111 1111 1111 1111", "lat": 52.52001, "plan": "pro", "full_name": "Jane Doe"}});
    let email_path = url.find("jane@").unwrap();
    let email_query = url.find("jane%40").unwrap();
    let findings = vec![
        role("/properties/distinct_id"),
        finding("/properties/distinct_id", "user.contact.email", None),
        role("/properties/$device_id"),
        finding("/properties/$current_url", "user.behavior.browsing_history", None),
        finding(
            "/properties/$current_url",
            "user.contact.email",
            Some((email_path, email_path + 16)),
        ),
        finding(
            "/properties/$current_url",
            "user.contact.email",
            Some((email_query, email_query + 18)),
        ),
        finding("/properties/ip", "user.device.ip_address", None),
        finding("/properties/$city", "user.location.coarse", None),
        finding("/properties/$browser", "user.device", None),
        finding("/properties/card", "user.financial.credit_card", None),
        finding("/properties/lat", "user.location.precise", None),
        finding("/properties/full_name", "user.name", None),
    ];
    let (out, decisions) = send(&Policy::recommended(), &record, &findings);
    let p = &out["properties"];
    assert_eq!(p["distinct_id"], json!(key().pseudonym("jane@example.com")));
    assert_eq!(p["$device_id"], json!(key().pseudonym("dev-1")));
    assert_eq!(
        p["$current_url"],
        "https://app.example.com/account/[email]?email=&utm_source=x#top"
    );
    assert!(p.get("ip").is_none() && p.get("lat").is_none() && p.get("full_name").is_none());
    assert_eq!(p["card"], "[credit_card]");
    assert_eq!(
        (&p["$city"], &p["$browser"], &p["plan"]),
        (&json!("Berlin"), &json!("Chrome"), &json!("pro"))
    );
    assert_eq!(
        (&p["token"], &p["time"], &p["$insert_id"]),
        (&json!("t"), &json!(1), &json!("i"))
    );
    assert!(
        decisions
            .iter()
            .any(|d| d.pointer == "/properties/ip" && d.action == "drop" && d.because == Because::Rule(6))
    );
    assert!(
        decisions
            .iter()
            .any(|d| d.pointer == "/properties/distinct_id" && d.because == Because::Identifiers)
    );
}

#[test]
fn passthrough_changes_nothing() {
    let record = json!({"event": "a", "properties": {"distinct_id": "u", "email": "a@b.co"}});
    let findings = vec![
        role("/properties/distinct_id"),
        finding("/properties/email", "user.contact.email", None),
    ];
    assert_eq!(send(&Policy::passthrough(), &record, &findings).0, record);
}

#[test]
fn rules_match_by_category_path_event_and_source_in_order() {
    let rule = |category: Option<&str>, path: Option<&str>, event: Option<&str>, source: Option<&str>, action| Rule {
        category: category.map(str::to_owned),
        path: path.map(PathGlob::new),
        event: event.map(str::to_owned),
        source: source.map(str::to_owned),
        action,
    };
    let policy = Policy {
        name: "custom".into(),
        mode: Mode::Scrub,
        rules: vec![
            rule(None, None, Some("Checkout"), None, Action::BlockEvent),
            rule(
                Some("user.contact"),
                Some("properties.support_*"),
                None,
                None,
                Action::Keep,
            ),
            rule(
                Some("user.contact.phone_number"),
                None,
                None,
                None,
                Action::Mask { keep_last: 4 },
            ),
            rule(Some("user.contact"), None, None, Some("ios"), Action::Drop),
            rule(Some("user.contact"), None, None, None, Action::Hash),
            rule(None, Some("**.secret"), None, None, Action::Drop),
            rule(
                Some("user.device.ip_address"),
                None,
                None,
                None,
                Action::Generalize(None),
            ),
            rule(
                Some("user.location.precise"),
                None,
                None,
                None,
                Action::Generalize(Some(Generalization::Round { decimals: 1 })),
            ),
        ],
        allow: vec![],
        pseudonymize_ids: false,
    };
    let record = json!({"event": "Viewed", "properties": {"support_email": "help@x.io", "email": "a@b.co",
        "phone": "+14155550123", "nested": {"secret": "s"}, "ip": "2001:db8:1234:5678::1", "loc": "52.5201,13.4049"}});
    let findings = vec![
        finding("/properties/support_email", "user.contact.email", None),
        finding("/properties/email", "user.contact.email", None),
        finding("/properties/phone", "user.contact.phone_number", None),
        finding("/properties/nested/secret", "user.authorization.credentials", None),
        finding("/properties/ip", "user.device.ip_address", None),
        finding("/properties/loc", "user.location.precise", None),
    ];
    let (out, _) = send(&policy, &record, &findings);
    let p = &out["properties"];
    assert_eq!(p["support_email"], "help@x.io");
    assert_eq!(p["email"], json!(key().pseudonym("a@b.co")));
    assert_eq!(p["phone"], "********0123");
    assert_eq!(p["nested"], json!({}));
    assert_eq!(p["ip"], "2001:db8:1234::");
    assert_eq!(p["loc"], "52.5,13.4");
    let k = key();
    let ios = policy.apply(
        &record,
        EVENT,
        &findings,
        &Context {
            source: "ios",
            event: record.get("event").and_then(Value::as_str),
            key: Some(&k),
        },
    );
    let Verdict::Send { record: ios, .. } = ios else {
        panic!()
    };
    assert!(ios["properties"].get("email").is_none(), "source rule drops for ios");
    let checkout = json!({"event": "Checkout", "properties": {}});
    assert_eq!(
        policy.apply(
            &checkout,
            EVENT,
            &[],
            &Context {
                source: "web",
                event: checkout.get("event").and_then(Value::as_str),
                key: Some(&k)
            }
        ),
        Verdict::Block {
            because: Because::Rule(0)
        }
    );
}

#[test]
fn allowlist_passes_only_listed_properties_and_structure() {
    let policy = Policy {
        name: "custom".into(),
        mode: Mode::Allowlist,
        rules: vec![],
        allow: vec![PathGlob::new("properties.plan"), PathGlob::new("properties.$*")],
        pseudonymize_ids: true,
    };
    let record = json!({"event": "a", "properties": {"token": "t", "distinct_id": "u", "time": 5, "$insert_id": "i",
        "plan": "pro", "$os": "Mac", "coupon": "X", "list": [1, 2]}});
    let (out, decisions) = send(&policy, &record, &[role("/properties/distinct_id")]);
    assert_eq!(
        out,
        json!({"event": "a", "properties": {"token": "t", "distinct_id": key().pseudonym("u"), "time": 5, "$insert_id": "i", "plan": "pro", "$os": "Mac"}})
    );
    assert_eq!(decisions.iter().filter(|d| d.because == Because::Allowlist).count(), 2);
}

#[test]
fn generalizations() {
    let g = |v: Value, g: Generalization| {
        let record = json!({"properties": {"mp_country_code": "DE"}});
        generalize(&v, &g, (EVENT.layout.country_code)(&record, EVENT.top))
    };
    assert_eq!(
        g(json!("203.0.113.77"), Generalization::IpPrefix),
        Some(json!("203.0.113.0"))
    );
    assert_eq!(g(json!("not an ip"), Generalization::IpPrefix), None);
    assert_eq!(
        g(json!(52.520_08), Generalization::Round { decimals: 2 }),
        Some(json!(52.52))
    );
    assert_eq!(
        g(json!(1_764_003_723), Generalization::Hour),
        Some(json!(1_764_003_600))
    );
    assert_eq!(
        g(json!(1_764_003_723_456i64), Generalization::Day),
        Some(json!(1_763_942_400_000i64))
    );
    assert_eq!(
        g(json!("1990-04-12T10:11:12Z"), Generalization::Day),
        Some(json!("1990-04-12"))
    );
    assert_eq!(g(json!("Berlin"), Generalization::Country), Some(json!("DE")));
    assert_eq!(url_path_only("https://x.io/a/b?q=1&r#f"), "https://x.io/a/b?q=&r=");
    assert_eq!(url_path_only("https://x.io/a#f"), "https://x.io/a");
    assert_eq!(url_path_only("https://x.io/?&&a=1&"), "https://x.io/?a=");
    assert_eq!(url_path_only("https://x.io/?"), "https://x.io/");
    assert_eq!(url_path_only("https://x.io/p?=v&b==c"), "https://x.io/p?=&b=");
    assert_eq!(url_path_only("/zürich?straße=ä&é#ö?x=1"), "/zürich?straße=&é=");
    assert_eq!(url_path_only("no query"), "no query");
    assert_eq!(mask("4111111111111111", 4), "************1111");
}

#[test]
fn globs() {
    let m = |p: &str, path: &str| PathGlob::new(p).matches(&path.split('.').collect::<Vec<_>>());
    assert!(m("properties.*email*", "properties.contactEmailAddress"));
    assert!(m("**.password", "properties.form.password"));
    assert!(m("**.password", "password"));
    assert!(m("$set.*", "$set.$email"));
    assert!(!m("properties.*email*", "properties.phone"));
    assert!(!m("properties.a", "properties.a.b"));
}

fn encodings(s: &str) -> Vec<String> {
    let pct: String = form_urlencoded::byte_serialize(s.as_bytes()).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(s);
    vec![s.to_owned(), pct, b64.trim_end_matches('=').to_owned()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// For any record and any policy, no value under a dropped or redacted category or path
    /// appears in the encoded vendor payload, plain, percent-encoded or base64.
    #[test]
    fn dropped_and_redacted_values_never_reach_the_vendor(
        secrets in prop::collection::vec("[A-Za-z0-9@.+_-]{12,24}", 1..5),
        filler in prop::collection::vec("[a-z ]{0,12}", 5),
        category_ix in prop::collection::vec(0usize..4, 5),
        span_mode in prop::collection::vec(any::<bool>(), 5),
        form_ix in prop::collection::vec(0usize..3, 5),
        rule_actions in prop::collection::vec(0usize..4, 4),
        path_rule in any::<bool>(),
        nested in any::<bool>(),
    ) {
        const CATS: [&str; 4] = ["user.contact.email", "user.financial.bank_account", "user.authorization.credentials", "user.name"];
        let mut props = Map::new();
        let mut findings = Vec::new();
        for (i, secret) in secrets.iter().enumerate() {
            let key = format!("f{i}");
            let cat = CATS[category_ix[i]];
            // The value as the app sent it: plain, percent-encoded or base64.
            let surface = encodings(secret)[form_ix[i]].clone();
            let (value, span) = if span_mode[i] {
                let prefix = format!("{} ", filler[i]);
                (format!("{prefix}{surface} tail"), Some((prefix.len(), prefix.len() + surface.len())))
            } else {
                (surface, None)
            };
            let pointer = if nested && i == 0 { format!("/properties/obj/{key}") } else { format!("/properties/{key}") };
            if nested && i == 0 {
                props.insert("obj".into(), json!({ key.clone(): value }));
            } else {
                props.insert(key, Value::String(value));
            }
            findings.push(Finding { pointer, category: cat, span, detector: "test", confidence: 1.0 });
        }
        let actions = [Action::Drop, Action::Redact, Action::Hash, Action::Mask { keep_last: 0 }];
        let mut rules: Vec<Rule> = CATS.iter().zip(&rule_actions).map(|(c, a)| Rule {
            category: Some((*c).to_owned()), path: None, event: None, source: None, action: actions[*a].clone(),
        }).collect();
        if path_rule {
            rules.insert(0, Rule { category: None, path: Some(PathGlob::new("**.f1")), event: None, source: None, action: Action::Drop });
        }
        let policy = Policy { name: "p".into(), mode: Mode::Scrub, rules, allow: vec![], pseudonymize_ids: true };
        let record = json!({"event": "e", "properties": props});
        let k = key();
        let Verdict::Send { record: out, .. } = policy.apply(&record, EVENT, &findings, &Context { source: "web", event: record.get("event").and_then(Value::as_str), key: Some(&k) }) else {
            panic!("no block rules");
        };
        // The payload as it goes on the wire: JSON, and the form body that carries it.
        let wire = out.to_string();
        let form: String = form_urlencoded::byte_serialize(wire.as_bytes()).collect();
        for secret in &secrets {
            for enc in encodings(secret) {
                prop_assert!(!wire.contains(&enc), "{enc} in {wire}");
                prop_assert!(!form.contains(&enc), "{enc} in form body");
            }
        }
    }
}

/// `apply_owned` rewrites the record in place; it must give what `apply` gives, byte for
/// byte, including generalisations that read the record as it came in.
#[test]
fn apply_owned_equals_apply() {
    let record = json!({"event": "Signup", "properties": {
        "token": "t", "distinct_id": "jane@example.com", "$device_id": "dev-1", "time": 1, "$insert_id": "i",
        "$current_url": "https://x.io/a?email=jane%40example.com#top", "$city": "Berlin", "mp_country_code": "DE",
        "ip": "203.0.113.7", "lat": 52.520_01, "card": "4111 1111 1111 1111", "plan": "pro", "full_name": "Jane Doe",
        "list": ["a", "jane@example.com", {"k/~": "v"}]}});
    let findings = vec![
        role("/properties/distinct_id"),
        finding("/properties/distinct_id", "user.contact.email", None),
        role("/properties/$device_id"),
        finding("/properties/$current_url", "user.behavior.browsing_history", None),
        finding("/properties/$current_url", "user.contact.email", Some((20, 39))),
        finding("/properties/$city", "user.location.coarse", None),
        // The country code itself is dropped: the city must still become "DE".
        finding("/properties/mp_country_code", "user.location.coarse.country", None),
        finding("/properties/ip", "user.device.ip_address", None),
        finding("/properties/lat", "user.location.precise", None),
        finding("/properties/card", "user.financial.credit_card", None),
        finding("/properties/full_name", "user.name", None),
        finding("/properties/list/1", "user.contact.email", None),
        finding("/properties/list/2/k~1~0", "user.name", None),
    ];
    let rule = |category: &str, action: Action| Rule {
        category: Some(category.to_owned()),
        path: None,
        event: None,
        source: None,
        action,
    };
    let custom = Policy {
        name: "custom".into(),
        mode: Mode::Scrub,
        rules: vec![
            rule("user.location.coarse.country", Action::Drop),
            rule(
                "user.location.coarse",
                Action::Generalize(Some(Generalization::Country)),
            ),
            rule("user.location.precise", Action::Generalize(None)),
            rule("user.device.ip_address", Action::Generalize(None)),
            rule("user.financial", Action::Mask { keep_last: 4 }),
            rule("user.contact", Action::Redact),
        ],
        allow: vec![],
        pseudonymize_ids: true,
    };
    let allowlist = Policy {
        name: "allow".into(),
        mode: Mode::Allowlist,
        rules: vec![rule("user.location", Action::Keep)],
        allow: vec![PathGlob::new("properties.plan"), PathGlob::new("properties.list")],
        pseudonymize_ids: true,
    };
    let k = key();
    for policy in [Policy::recommended(), Policy::passthrough(), custom, allowlist] {
        for key in [Some(&k), None] {
            let ctx = Context {
                source: "web",
                event: record.get("event").and_then(Value::as_str),
                key,
            };
            let borrowed = policy.apply(&record, EVENT, &findings, &ctx);
            let owned = policy.apply_owned(record.clone(), EVENT, &findings, &ctx);
            match (&borrowed, &owned) {
                (
                    Verdict::Send {
                        record: a,
                        decisions: da,
                    },
                    Verdict::Send {
                        record: b,
                        decisions: db,
                    },
                ) => {
                    assert_eq!(a.to_string(), b.to_string(), "policy {}", policy.name);
                    assert_eq!(da, db, "policy {}", policy.name);
                }
                _ => assert_eq!(borrowed, owned),
            }
        }
    }
    let Verdict::Send { record: out, .. } = Policy {
        name: "c".into(),
        mode: Mode::Scrub,
        rules: vec![
            rule("user.location.coarse.country", Action::Drop),
            rule(
                "user.location.coarse",
                Action::Generalize(Some(Generalization::Country)),
            ),
        ],
        allow: vec![],
        pseudonymize_ids: false,
    }
    .apply_owned(
        record.clone(),
        EVENT,
        &findings,
        &Context {
            source: "web",
            event: record.get("event").and_then(Value::as_str),
            key: None,
        },
    ) else {
        panic!("no block rules");
    };
    assert_eq!(out["properties"]["$city"], json!("DE"));
    assert!(out["properties"].get("mp_country_code").is_none());
}

#[test]
fn country_code_reads_the_same_fields_as_pointers() {
    let records = [
        (
            EVENT,
            json!({"properties": {"$country_code": "FR", "mp_country_code": "DE"}}),
        ),
        (EVENT, json!({"properties": {"$country_code": "FR"}})),
        (EVENT, json!({"properties": ["DE"]})),
        (PROFILE, json!({"$set_once": {"$country_code": "IT"}})),
        (
            GROUP,
            json!({"$set": {"$country_code": "ES"}, "$set_once": {"$country_code": "IT"}}),
        ),
        (PROFILE, json!({"$set": "x"})),
    ];
    for (shape, record) in &records {
        let pointers: &[&str] = if *shape == EVENT {
            &["/properties/mp_country_code", "/properties/$country_code"]
        } else {
            &["/$set/$country_code", "/$set_once/$country_code"]
        };
        let expected = pointers.iter().find_map(|p| record.pointer(p));
        assert_eq!((shape.layout.country_code)(record, shape.top), expected, "{record}");
    }
}

#[test]
fn url_query_keeps_attribution_and_blanks_secret_names() {
    let u = url_without_secrets;
    assert_eq!(
        u("https://shop.example/p/42?utm_source=newsletter&utm_campaign=spring_sale&page=2&sort=price_asc"),
        "https://shop.example/p/42?utm_source=newsletter&utm_campaign=spring_sale&page=2&sort=price_asc"
    );
    assert_eq!(
        u("https://x.io/cb?code=4/0AX4&state=af0ifjsldkj&accessToken=abc&api-key=k1&sig=zz&plan=pro"),
        "https://x.io/cb?code=&state=&accessToken=&api-key=&sig=&plan=pro"
    );
    assert_eq!(
        u("https://x.io/?user_email=a%40b.io&Session%5FId=9&first+name=Jo&zip=SW1A"),
        "https://x.io/?user_email=&Session%5FId=&first+name=&zip="
    );
    assert_eq!(u("https://jo:pw@x.io/a#pricing"), "https://x.io/a#pricing");
    assert_eq!(
        u("https://x.io/cb#access_token=eyJ&token_type=bearer&expires_in=3600"),
        "https://x.io/cb#access_token=&token_type=&expires_in=3600"
    );
    assert_eq!(
        u("https://x.io/#/search?q=shoes&auth=x"),
        "https://x.io/#/search?q=shoes&auth="
    );
    assert_eq!(u("/zürich?größe=ä&é"), "/zürich?größe=ä&é");
    // Parameter names in other languages are read like keys: `straße` is a street.
    assert_eq!(u("/zürich?straße=ä&größe=m"), "/zürich?straße=&größe=m");
    assert_eq!(u("no url"), "no url");
}

#[test]
fn recommended_keeps_utm_and_cuts_postal_codes() {
    let url = "https://x.io/a?utm_source=mail&email=jane%40x.io&token=abc";
    let record = json!({"event": "e", "properties": {"$current_url": url, "zip": "SW1A 1AA", "postal": 94107}});
    let at = |s: &str| url.find(s).map(|i| (i, i + s.len()));
    let findings = [
        finding("/properties/$current_url", "user.behavior.browsing_history", None),
        finding("/properties/$current_url", "user.contact.email", at("jane%40x.io")),
        finding("/properties/$current_url", "user.authorization.credentials", at("abc")),
        finding("/properties/zip", "user.contact.address.postal_code", None),
        finding("/properties/postal", "user.contact.address.postal_code", None),
    ];
    let (out, _) = send(&Policy::recommended(), &record, &findings);
    assert_eq!(
        out["properties"]["$current_url"],
        json!("https://x.io/a?utm_source=mail&email=&token=")
    );
    assert_eq!(out["properties"]["zip"], json!("SW1"));
    assert_eq!(out["properties"]["postal"], json!("941"));
}
