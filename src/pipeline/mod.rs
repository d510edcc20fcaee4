//! One decoded request through the pipeline: authenticate → canonical events → policy per
//! destination → vendor records → outbox (group commit) → the outcome the SDK is told.
//!
//! Records fail one by one: a bad record is counted and reported, its neighbours go on. The
//! request is refused as a whole only for backpressure or a storage failure (503, so SDKs
//! retry), or a missing `/import` credential (401).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use base64::Engine;
use serde_json::{Map, Value};

use crate::classify::{Memo, Shape, classify_record, classify_record_with};
use crate::config::{Config, Secret};
use crate::event::{Caps, Event, EventTime, Kind, RecordError, Reject};
use crate::ledger::{Exposed, Exposure, LinkedId, exposure};
use crate::outbox::Outbox;
use crate::policy::keys::{MasterKey, PseudonymKey};
use crate::policy::{Context, Policy, Verdict};
use crate::protocol::mixpanel::Endpoint;
use crate::protocol::mixpanel::decode::{Inbound, decode_record};
use crate::protocol::mixpanel::encode::{encode_record, into_record};
use crate::protocol::mixpanel::response::{FailedRecord, Outcome};
use crate::store::{DestinationState, NewRow, StoreError, now_ms};
use crate::telemetry::Metrics;

struct SourceRoute {
    name: String,
    import_secret: Option<Secret>,
    tokens: Vec<Secret>,
    /// Indexes of destinations fed by this source.
    destinations: Vec<usize>,
}

struct DestinationRoute {
    name: String,
    token: Secret,
    policy: Policy,
    key: RwLock<PseudonymKey>,
    max_queue_records: u64,
    /// Events go to `/import`, which needs a `distinct_id` (empty means "no user").
    uses_import: bool,
    /// When the outbox-over-its-bound warning was last logged (ms on the pipeline's monotonic
    /// clock, [`Pipeline::clock_ms`]): while the queue stays over, every request is refused
    /// and counted, but the log says so at most once per [`BACKPRESSURE_LOG_EVERY_MS`].
    backpressure_logged_ms: AtomicU64,
}

const BACKPRESSURE_LOG_EVERY_MS: u64 = 10_000;

pub struct Pipeline {
    sources: Vec<SourceRoute>,
    by_token: HashMap<String, usize>,
    destinations: Vec<DestinationRoute>,
    states: RwLock<Vec<DestinationState>>,
    pending_dropped: Vec<AtomicU64>,
    caps: Caps,
    outbox: Arc<Outbox>,
    metrics: Arc<Metrics>,
    master_key: Arc<MasterKey>,
    /// Keys the ledger's subject digests (never rotated, never sent to a vendor).
    subject_key: PseudonymKey,
    /// `[ledger] keep_contact_email`: seal the subject's email for notification lists.
    keep_contact_email: bool,
    started: std::time::Instant,
}

/// HTTP Basic credentials from an `/import` request.
#[derive(Debug, Clone)]
pub struct BasicAuth {
    pub user: String,
    pub password: String,
}

impl BasicAuth {
    /// Parses an `Authorization: Basic …` header value.
    pub fn parse(header: &str) -> Option<BasicAuth> {
        let b64 = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, password) = text.split_once(':').unwrap_or((&text, ""));
        Some(BasicAuth {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }
}

impl Pipeline {
    /// `keys` are the destinations' current pseudonym keys, in configuration order.
    pub fn new(
        config: &Config,
        outbox: Arc<Outbox>,
        metrics: Arc<Metrics>,
        master_key: Arc<MasterKey>,
        keys: Vec<PseudonymKey>,
        subject_key: PseudonymKey,
    ) -> Pipeline {
        let mut by_token = HashMap::new();
        let sources = config
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                for t in &s.tokens {
                    by_token.insert(t.expose().to_owned(), i);
                }
                SourceRoute {
                    name: s.name.clone(),
                    import_secret: s.import_secret.clone(),
                    tokens: s.tokens.clone(),
                    destinations: config
                        .destinations
                        .iter()
                        .enumerate()
                        .filter(|(_, d)| d.sources.contains(&i))
                        .map(|(j, _)| j)
                        .collect(),
                }
            })
            .collect();
        let destinations = config
            .destinations
            .iter()
            .zip(keys)
            .map(|(d, key)| DestinationRoute {
                name: d.name.clone(),
                token: d.project_token.clone(),
                policy: d.policy.clone(),
                key: RwLock::new(key),
                max_queue_records: d.max_queue_records,
                uses_import: d.api_secret.is_some(),
                backpressure_logged_ms: AtomicU64::new(0),
            })
            .collect::<Vec<_>>();
        Pipeline {
            started: std::time::Instant::now(),
            keep_contact_email: config.ledger.keep_contact_email,
            states: RwLock::new(vec![DestinationState::Active; destinations.len()]),
            pending_dropped: destinations.iter().map(|_| AtomicU64::new(0)).collect(),
            sources,
            by_token,
            destinations,
            caps: Caps::from(&config.limits),
            outbox,
            metrics,
            master_key,
            subject_key,
        }
    }

    /// Milliseconds on a monotonic clock that starts at [`BACKPRESSURE_LOG_EVERY_MS`], so the
    /// first backpressure warning is always logged.
    fn clock_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(BACKPRESSURE_LOG_EVERY_MS)
    }

    /// The source an `/import` credential belongs to: the app-side token or the source's
    /// import secret as the Basic username, or the import secret as the password (service
    /// account form). Never the vendor's real secret.
    pub fn import_source(&self, auth: Option<&BasicAuth>) -> Option<usize> {
        let auth = auth?;
        self.sources.iter().position(|s| {
            let user = auth.user.as_bytes();
            s.tokens.iter().any(|t| t.matches(user))
                || s.import_secret
                    .as_ref()
                    .is_some_and(|secret| secret.matches(user) || secret.matches(auth.password.as_bytes()))
        })
    }

    /// Takes one decoded request through policy into the outbox.
    pub async fn ingest(
        &self,
        endpoint: Endpoint,
        inbound: Inbound,
        auth: Option<&BasicAuth>,
        client_ip: Option<IpAddr>,
    ) -> Outcome {
        let import_source = if endpoint == Endpoint::Import {
            match self.import_source(auth) {
                Some(s) => Some(s),
                None => {
                    self.metrics.reject_request("unauthorized");
                    return Outcome::Unauthorized;
                }
            }
        } else {
            None
        };
        let geolocate_client = inbound.params.ip == Some(true);
        let received_at = now_ms();
        let states = self.states.read().map(|s| s.clone()).unwrap_or_default();

        let mut failed = Vec::new();
        let mut rows = Vec::new();
        let mut accepted = 0usize;
        let mut dropped = vec![0u64; self.destinations.len()];
        let mut touched = vec![false; self.destinations.len()];
        // A batch's records share most values; the memo, and its copies of them, go with it.
        let mut memo = (inbound.records.len() > 1).then(Memo::default);
        self.metrics.received.fetch_add(inbound.records.len() as u64, Relaxed);

        for (index, record) in inbound.records.into_iter().enumerate() {
            // `get` twice is `pointer("/properties/$insert_id")` without parsing the pointer.
            let insert_id_hint = record
                .as_ref()
                .ok()
                .and_then(|r| r.get("properties"))
                .and_then(|p| p.get("$insert_id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let fail = |error: RecordError, failed: &mut Vec<FailedRecord>| {
                self.metrics.reject_record(error.reason);
                failed.push(FailedRecord {
                    index,
                    insert_id: insert_id_hint.clone(),
                    error,
                });
            };
            let decoded = match record.and_then(|r| decode_record(endpoint, r, &self.caps)) {
                Ok(d) => d,
                Err(e) => {
                    fail(e, &mut failed);
                    continue;
                }
            };
            let source = match (import_source, decoded.token.as_deref()) {
                (Some(s), _) => s,
                (None, None) => {
                    fail(
                        RecordError::new(Reject::MissingToken, "token", "project token is missing"),
                        &mut failed,
                    );
                    continue;
                }
                (None, Some(t)) => match self.by_token.get(t) {
                    Some(&s) => s,
                    None => {
                        fail(
                            RecordError::new(Reject::UnknownToken, "token", "project token is not configured"),
                            &mut failed,
                        );
                        continue;
                    }
                },
            };
            let mut event = decoded.event;
            if geolocate_client {
                event.context.client_ip = client_ip;
            }
            if event.kind == Kind::Track {
                if event.insert_id.is_none() {
                    event.insert_id = Some(derive_insert_id(&self.subject_key, &self.sources[source].name, &event));
                }
                if event.time.is_none() {
                    event.time = Some(EventTime::from_millis(received_at));
                }
            }
            accepted += 1;
            // Classify once, in the vendor's record shape; each destination's policy then
            // decides what of it that vendor receives.
            let shape = match event.kind {
                Kind::Track => Shape::Event,
                Kind::Profile => Shape::Profile,
                Kind::Group => Shape::Group,
            };
            let source_name = self.sources[source].name.as_str();
            // Whom the record is about, for the ledger: a keyed digest, and the id sealed.
            let subject = [event.ids.user_id.as_deref(), event.ids.distinct_id.as_deref()]
                .into_iter()
                .flatten()
                .find(|s| !s.is_empty());
            let subject_digest = subject.map(|s| self.subject_key.pseudonym(s));
            let subject_sealed = subject.and_then(|s| self.seal(s));
            let linked: Vec<LinkedId> = subject
                .map(|s| linked_ids(&event, s))
                .unwrap_or_default()
                .into_iter()
                .map(|id| LinkedId {
                    digest: self.subject_key.pseudonym(id),
                    sealed: self.seal(id),
                })
                .collect();
            let event_time_ms = event.time.as_ref().and_then(EventTime::millis).unwrap_or(received_at);
            let kind = event.kind;
            // The event is not needed past this point: its record is built by moving.
            let mut record = Some(into_record(event, ""));
            let findings = record
                .as_ref()
                .map(|r| match memo.as_mut() {
                    Some(memo) => classify_record_with(r, shape, memo),
                    None => classify_record(r, shape),
                })
                .unwrap_or_default();
            let contact_sealed = match (self.keep_contact_email, &subject_digest, &record) {
                (true, Some(_), Some(r)) => contact_email(r, &findings).and_then(|e| self.seal(e)),
                _ => None,
            };
            let dropping = |d: usize| states.get(d) == Some(&DestinationState::Dropping);
            // The last destination that gets the record takes it; the others get a copy.
            let last = self.sources[source].destinations.iter().rposition(|&d| !dropping(d));
            for (position, &d) in self.sources[source].destinations.iter().enumerate() {
                let dest = &self.destinations[d];
                if dropping(d) {
                    dropped[d] += 1;
                    continue;
                }
                let key = dest.key.read().ok();
                let key = key.as_deref();
                let ctx = Context {
                    source: source_name,
                    key,
                };
                let verdict = match (Some(position) == last).then(|| record.take()).flatten() {
                    Some(owned) => dest.policy.apply_owned(owned, shape, &findings, &ctx),
                    None => match &record {
                        Some(r) => dest.policy.apply(r, shape, &findings, &ctx),
                        None => continue,
                    },
                };
                match verdict {
                    Verdict::Block { .. } => {
                        self.metrics.destination(d).blocked.fetch_add(1, Relaxed);
                    }
                    Verdict::Send {
                        record: mut out,
                        decisions,
                    } => {
                        let Exposed {
                            sent,
                            pseudonymised,
                            held_back,
                            fields,
                        } = exposure(&findings, &decisions, &out);
                        let exposure = Exposure {
                            source: source_name.to_owned(),
                            subject_digest: subject_digest.clone(),
                            subject_sealed: subject_sealed.clone(),
                            vendor_id: vendor_id(&out, shape),
                            key_version: if dest.policy.pseudonymize_ids {
                                key.map_or(0, |k| k.version)
                            } else {
                                0
                            },
                            sent,
                            pseudonymised,
                            held_back,
                            fields,
                            event_time_ms,
                            linked: linked.clone(),
                            contact_sealed: contact_sealed.clone(),
                        };
                        finish_record(&mut out, shape, dest.token.expose(), dest.uses_import);
                        touched[d] = true;
                        // Sized like the previous row's: records of one batch are alike.
                        let size_hint = rows.last().map_or(1024, |r: &NewRow| r.payload.len() + 64);
                        let payload = crate::json::to_vec(&out, size_hint);
                        rows.push(NewRow {
                            destination: dest.name.clone(),
                            kind,
                            payload,
                            enqueued_at_ms: received_at,
                            meta: Some(crate::ledger::codec::encode_meta(&exposure)),
                        });
                    }
                }
            }
        }

        if let Some(d) = (0..self.destinations.len())
            .find(|&d| touched[d] && self.outbox.over_limit(d, self.destinations[d].max_queue_records))
        {
            let dest = &self.destinations[d];
            let now = self.clock_ms();
            let last = dest.backpressure_logged_ms.load(Relaxed);
            if now.saturating_sub(last) >= BACKPRESSURE_LOG_EVERY_MS
                && dest
                    .backpressure_logged_ms
                    .compare_exchange(last, now, Relaxed, Relaxed)
                    .is_ok()
            {
                tracing::warn!(destination = %dest.name, "outbox over its bound; answering 503 (repeated at most every 10 s; vendorwall_ingest_rejected_requests_total counts each)");
            }
            self.metrics.reject_request("backpressure");
            return Outcome::Busy;
        }
        if self.outbox.enqueue(rows).await.is_err() {
            self.metrics.reject_request("store_unavailable");
            return Outcome::Busy;
        }
        for (d, n) in dropped.into_iter().enumerate() {
            if n > 0 {
                self.metrics.destination(d).dropped.fetch_add(n, Relaxed);
                self.pending_dropped[d].fetch_add(n, Relaxed);
            }
        }
        self.metrics.accepted.fetch_add(accepted as u64, Relaxed);
        Outcome::Accepted { accepted, failed }
    }

    /// Reloads kill-switch states and rotated keys from the store and persists drop counts.
    /// Called every second.
    pub fn sync_destination_states(&self) -> Result<(), StoreError> {
        let store = self.outbox.store();
        for d in &self.destinations {
            let newest = store.key_versions(&d.name)?.into_iter().map(|(v, _)| v).max();
            let current = d.key.read().map(|k| k.version).unwrap_or(0);
            if newest.is_some_and(|v| v > current) {
                match crate::policy::keys::current_key(store.as_ref(), &self.master_key, &d.name) {
                    Ok(k) => {
                        tracing::info!(destination = %d.name, version = k.version, "pseudonym key rotated");
                        if let Ok(mut slot) = d.key.write() {
                            *slot = k;
                        }
                    }
                    Err(e) => tracing::error!(destination = %d.name, error = %e, "cannot load the rotated key"),
                }
            }
        }
        let statuses = store.destination_statuses()?;
        let states: Vec<DestinationState> = self
            .destinations
            .iter()
            .map(|d| {
                statuses
                    .iter()
                    .find(|s| s.name == d.name)
                    .map_or(DestinationState::Active, |s| s.state)
            })
            .collect();
        if let Ok(mut s) = self.states.write() {
            *s = states;
        }
        for (d, pending) in self.pending_dropped.iter().enumerate() {
            let n = pending.swap(0, Relaxed);
            if n > 0
                && let Err(e) = store.add_dropped(&self.destinations[d].name, n)
            {
                pending.fetch_add(n, Relaxed);
                return Err(e);
            }
        }
        Ok(())
    }

    pub fn destination_state(&self, index: usize) -> DestinationState {
        self.states
            .read()
            .ok()
            .and_then(|s| s.get(index).copied())
            .unwrap_or(DestinationState::Active)
    }
}

impl Pipeline {
    /// A subject id (or contact email) sealed under the master key, for the ledger.
    fn seal(&self, value: &str) -> Option<String> {
        self.master_key
            .seal(b"vendorwall subject", value.as_bytes())
            .ok()
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
    }
}

/// Ids an event ties to its subject, the way Mixpanel links them: a `$device_id` beside a
/// `$user_id` (simplified ID merge), `$identify`'s anonymous id, `$create_alias`'s alias,
/// `$merge`'s ids. Only those events link (an `alias` property elsewhere is just data), and
/// at most a few ids per event.
fn linked_ids<'a>(event: &'a Event, subject: &str) -> Vec<&'a str> {
    const MOST: usize = 8;
    let mut out: Vec<&str> = Vec::new();
    if event.ids.user_id.is_some() {
        out.extend(event.ids.device_id.as_deref());
        out.extend(event.ids.distinct_id.as_deref());
    }
    let props = &event.properties;
    let keys: &[&str] = match event.name.as_deref() {
        Some("$identify") => &["$anon_distinct_id", "$anon_id", "$identified_id"],
        Some("$create_alias") => &["alias"],
        _ => &[],
    };
    for key in keys {
        out.extend(props.get(*key).and_then(Value::as_str));
    }
    if event.name.as_deref() == Some("$merge")
        && let Some(ids) = props.get("$distinct_ids").and_then(Value::as_array)
    {
        out.extend(ids.iter().take(MOST).filter_map(Value::as_str));
    }
    out.retain(|id| !id.is_empty() && *id != subject);
    out.sort_unstable();
    out.dedup();
    out.truncate(MOST);
    out
}

/// The subject's own email address for notification: an identity field (`$email` or
/// `email` of the event or of a profile's `$set`, or the subject id itself) that holds one
/// whole — never another person's address such as an invitee's.
fn contact_email<'a>(record: &'a Value, findings: &[crate::classify::Finding]) -> Option<&'a str> {
    const IDENTITY: &[&str] = &[
        "/properties/$email",
        "/properties/email",
        "/properties/distinct_id",
        "/properties/$user_id",
        "/$set/$email",
        "/$set/email",
        "/$set_once/$email",
        "/$distinct_id",
    ];
    findings
        .iter()
        .filter(|f| f.category == "user.contact.email" && f.span.is_none() && IDENTITY.contains(&f.pointer.as_str()))
        .find_map(|f| record.pointer(&f.pointer).and_then(Value::as_str))
        .filter(|e| e.contains('@'))
}

/// The subject id as the vendor receives it.
fn vendor_id(record: &Value, shape: Shape) -> Option<String> {
    let id = match shape {
        Shape::Event => record.get("properties").and_then(|p| p.get("distinct_id")),
        Shape::Profile => record.get("$distinct_id"),
        Shape::Group => return None,
    };
    id.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Puts the destination's real project token into a record the policy let through, and an
/// empty `distinct_id` where `/import` needs one and the event had none.
fn finish_record(record: &mut Value, shape: Shape, token: &str, uses_import: bool) {
    let target = match shape {
        Shape::Event => record.get_mut("properties").and_then(Value::as_object_mut),
        Shape::Profile | Shape::Group => record.as_object_mut(),
    };
    let Some(map) = target else { return };
    match shape {
        Shape::Event => {
            map.insert("token".into(), Value::String(token.to_owned()));
            if uses_import && !map.contains_key("distinct_id") {
                map.insert("distinct_id".into(), Value::String(String::new()));
            }
        }
        Shape::Profile | Shape::Group => {
            map.insert("$token".into(), Value::String(token.to_owned()));
        }
    }
}

/// A stable `$insert_id` for an event the SDK sent without one (the node SDK never sets
/// it): a keyed digest of the source and the event as received, so a client's retry of the
/// same event, or vendorwall's own redelivery, deduplicates at the vendor — and the vendor
/// cannot confirm a guess of the event's content from it. 32 hex characters, within
/// Mixpanel's 36 of `[A-Za-z0-9-]`.
pub fn derive_insert_id(key: &PseudonymKey, source: &str, event: &Event) -> String {
    let mut text = String::with_capacity(256);
    text.push_str("vendorwall insert_id v1\0");
    text.push_str(source);
    text.push('\0');
    text.push_str(&insert_id_text(event));
    key.pseudonym(&text)
}

/// The event as the derived `$insert_id` covers it: the Mixpanel record with an empty token,
/// written here field by field in a fixed order (the lifted fields first, then the
/// properties) rather than by the record encoder, so that ids stay the same when the encoder
/// changes and a client's retry across an upgrade keeps its id.
fn insert_id_text(event: &Event) -> String {
    if event.kind != Kind::Track {
        return encode_record(event, "").to_string();
    }
    let text = |s: &Option<String>| s.clone().map(Value::String);
    let mut props = Map::with_capacity(event.properties.len() + 7);
    props.insert("token".into(), Value::String(String::new()));
    for (k, v) in [
        ("time", event.time.as_ref().map(|t| Value::Number(t.0.clone()))),
        ("distinct_id", text(&event.ids.distinct_id)),
        ("$device_id", text(&event.ids.device_id)),
        ("$user_id", text(&event.ids.user_id)),
        ("$insert_id", text(&event.insert_id)),
        ("ip", crate::protocol::mixpanel::encode::ip_value(event)),
    ] {
        if let Some(v) = v {
            props.insert(k.into(), v);
        }
    }
    for (k, v) in &event.properties {
        props.insert(k.clone(), v.clone());
    }
    let mut rec = Map::with_capacity(2);
    rec.insert("event".into(), Value::String(event.name.clone().unwrap_or_default()));
    rec.insert("properties".into(), Value::Object(props));
    Value::Object(rec).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    #[test]
    fn derived_insert_ids_are_stable_and_distinct() {
        let mut a = Event::new(Kind::Track);
        a.name = Some("Signup".into());
        a.properties.insert("plan".into(), Value::from("pro"));
        let k = PseudonymKey::from_bytes(1, &[3; 32]);
        let id = derive_insert_id(&k, "web", &a);
        assert_eq!(id.len(), 32);
        assert!(crate::protocol::mixpanel::decode::valid_insert_id(&id));
        assert_eq!(id, derive_insert_id(&k, "web", &a.clone()));
        assert_ne!(id, derive_insert_id(&k, "ios", &a));
        assert_ne!(id, derive_insert_id(&PseudonymKey::from_bytes(1, &[4; 32]), "web", &a));
        let mut b = a.clone();
        b.properties.insert("plan".into(), Value::from("free"));
        assert_ne!(id, derive_insert_id(&k, "web", &b));
    }

    /// Derived ids must not change between versions (a client's retry across an upgrade would
    /// reach the vendor twice): the text they cover and one id are pinned.
    #[test]
    fn derived_insert_ids_do_not_change_between_versions() {
        let mut a = Event::new(Kind::Track);
        a.name = Some("Signup".into());
        a.properties.insert("plan".into(), Value::from("pro"));
        a.properties.insert("n".into(), Value::from(2));
        assert_eq!(
            insert_id_text(&a),
            r#"{"event":"Signup","properties":{"token":"","plan":"pro","n":2}}"#
        );
        let k = PseudonymKey::from_bytes(1, &[3; 32]);
        assert_eq!(derive_insert_id(&k, "web", &a), "4b95404f39e996dd3bde1222a7d5bcdf");
        a.time = Some(EventTime(serde_json::Number::from(1_700_000_000)));
        a.ids.distinct_id = Some("d".into());
        a.ids.device_id = Some("v".into());
        a.ids.user_id = Some("u".into());
        a.context.client_ip = Some("203.0.113.9".parse().unwrap());
        assert_eq!(
            insert_id_text(&a),
            r#"{"event":"Signup","properties":{"token":"","time":1700000000,"distinct_id":"d","$device_id":"v","$user_id":"u","ip":"203.0.113.9","plan":"pro","n":2}}"#
        );
        // Through decode: the order it leaves the other properties in is part of the text.
        let caps = Caps::from(&crate::config::Limits::default());
        let record = serde_json::json!({"event": "e", "properties": {
            "a": 1, "token": "t", "b": 2, "distinct_id": "d", "c": 3, "time": 1_700_000_000, "d": 4, "e": 5}});
        let decoded =
            crate::protocol::mixpanel::decode::decode_record(crate::protocol::mixpanel::Endpoint::Track, record, &caps)
                .unwrap();
        assert_eq!(
            insert_id_text(&decoded.event),
            r#"{"event":"e","properties":{"token":"","time":1700000000,"distinct_id":"d","a":1,"e":5,"b":2,"d":4,"c":3}}"#
        );
    }

    #[test]
    fn basic_auth_parses() {
        let h = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("secret:"));
        let a = BasicAuth::parse(&h).unwrap();
        assert_eq!((a.user.as_str(), a.password.as_str()), ("secret", ""));
        assert!(BasicAuth::parse("Bearer x").is_none());
        assert!(BasicAuth::parse("Basic !!!").is_none());
    }
}
