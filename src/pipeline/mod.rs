//! One decoded request through the pipeline: authenticate → canonical events → per
//! destination: the destination vendor's record → classify → policy → outbox (group commit)
//! → the outcome the SDK is told.
//!
//! Any source feeds any destination: an event decoded from one vendor's SDK is encoded in
//! each destination vendor's own format (through the canonical [`Event`]), classified in
//! that format (once per vendor, not per destination) and filtered by each destination's
//! policy with its own pseudonym key.
//!
//! Records fail one by one: a bad record is counted and reported, its neighbours go on. The
//! request is refused as a whole only for backpressure or a storage failure (503, so SDKs
//! retry), or a missing or unknown request key or `/import` credential (401).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use base64::Engine;
use serde_json::{Map, Value};

use crate::classify::{Memo, classify_record, classify_record_with};
use crate::config::{Config, FlagsMode, Secret};
use crate::event::{Event, EventTime, Kind, RecordError, Reject};
use crate::ledger::{Exposed, Exposure, LinkedId, exposure};
use crate::outbox::Outbox;
use crate::policy::keys::{PseudonymKey, StoreKeys, SubjectPart};
use crate::policy::{Context, Policy, Verdict};
use crate::protocol::{Auth, BasicAuth, FailedRecord, Inbound, Outcome, Target, Vendor, translate};
use crate::store::{DestinationState, NewRow, StoreError, now_ms};
use crate::telemetry::Metrics;

struct SourceRoute {
    name: String,
    protocol: Vendor,
    import_secret: Option<Secret>,
    tokens: Vec<Secret>,
    /// Indexes of destinations fed by this source.
    destinations: Vec<usize>,
}

struct DestinationRoute {
    name: String,
    vendor: Vendor,
    target: Target,
    flags: FlagsMode,
    policy: Policy,
    key: RwLock<PseudonymKey>,
    max_queue_records: u64,
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
    outbox: Arc<Outbox>,
    metrics: Arc<Metrics>,
    /// The store's keys: subject ids are sealed under them.
    keys: Arc<StoreKeys>,
    /// Keys the ledger's subject digests (never rotated, never sent to a vendor).
    subject_key: PseudonymKey,
    /// `[ledger] keep_contact_email`: seal the subject's email for notification lists.
    keep_contact_email: bool,
    /// `[[classify.detectors]]`: applied after the built-in classifier.
    custom: crate::classify::custom::CustomDetectors,
    started: std::time::Instant,
    /// The store's free-space headroom: ingest is refused while it is short.
    space: Arc<crate::store::space::Space>,
}

/// Whom a record is about, for the ledger: computed once per record, shared by every
/// destination's exposure.
struct Subject {
    digest: Option<String>,
    sealed: Option<String>,
    linked: Vec<LinkedId>,
    contact_sealed: Option<String>,
}

/// A feature-flag request ready to forward: the destination's target and the request record
/// after the destination's policy (ids pseudonymised).
pub struct FlagsForward {
    pub vendor: Vendor,
    pub target: Target,
    pub record: Value,
}

impl Pipeline {
    /// `keys` are the destinations' current pseudonym keys, in configuration order.
    pub fn new(
        config: &Config,
        outbox: Arc<Outbox>,
        metrics: Arc<Metrics>,
        store_keys: Arc<StoreKeys>,
        keys: Vec<PseudonymKey>,
        subject_key: PseudonymKey,
        space: Arc<crate::store::space::Space>,
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
                    protocol: s.protocol,
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
                vendor: d.vendor,
                target: d.target.clone(),
                flags: d.flags,
                policy: d.policy.clone(),
                key: RwLock::new(key),
                max_queue_records: d.max_queue_records,
                backpressure_logged_ms: AtomicU64::new(0),
            })
            .collect::<Vec<_>>();
        Pipeline {
            started: std::time::Instant::now(),
            keep_contact_email: config.ledger.keep_contact_email,
            custom: config.classify.detectors.clone(),
            states: RwLock::new(vec![DestinationState::Active; destinations.len()]),
            pending_dropped: destinations.iter().map(|_| AtomicU64::new(0)).collect(),
            sources,
            by_token,
            destinations,
            outbox,
            metrics,
            keys: store_keys,
            subject_key,
            space,
        }
    }

    /// Milliseconds on a monotonic clock that starts at [`BACKPRESSURE_LOG_EVERY_MS`], so the
    /// first backpressure warning is always logged.
    fn clock_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(BACKPRESSURE_LOG_EVERY_MS)
    }

    /// The source an `/import` credential belongs to: the source's import secret as the
    /// Basic username, or as the password (service account form); the app-side token as the
    /// username only for a source without an import secret (app-side tokens are public: a
    /// configured secret is the only thing that may write history). Never the vendor's real
    /// secret.
    pub fn import_source(&self, protocol: Vendor, auth: Option<&BasicAuth>) -> Option<usize> {
        let auth = auth?;
        self.sources.iter().position(|s| {
            let user = auth.user.as_bytes();
            s.protocol == protocol
                && match &s.import_secret {
                    Some(secret) => secret.matches(user) || secret.matches(auth.password.as_bytes()),
                    None => s.tokens.iter().any(|t| t.matches(user)),
                }
        })
    }

    /// The source an app-side key belongs to, if it is one of `protocol`'s.
    pub fn source_of(&self, protocol: Vendor, key: &str) -> Option<usize> {
        self.by_token
            .get(key)
            .copied()
            .filter(|&s| self.sources[s].protocol == protocol)
    }

    /// Whether the request's key (or its first record's) belongs to a source of `protocol`:
    /// how a path two vendors share is told apart.
    pub fn recognises(&self, protocol: Vendor, inbound: &Inbound) -> bool {
        if let Auth::Import(Some(basic)) = &inbound.auth {
            return self.import_source(protocol, Some(basic)).is_some();
        }
        request_key(inbound).is_some_and(|k| self.source_of(protocol, k).is_some())
    }

    /// The vendor whose source the request's key (or its first record's) belongs to, if any.
    pub fn key_owner(&self, inbound: &Inbound) -> Option<Vendor> {
        let key = request_key(inbound)?;
        self.by_token.get(key).map(|&s| self.sources[s].protocol)
    }

    /// Takes one decoded request of `protocol`'s through policy into the outbox.
    pub async fn ingest(&self, protocol: Vendor, inbound: Inbound) -> Outcome {
        let request_source = match &inbound.auth {
            Auth::Import(basic) => match self.import_source(protocol, basic.as_ref()) {
                Some(s) => Some(s),
                None => {
                    self.metrics.reject_request("unauthorized");
                    return Outcome::Unauthorized;
                }
            },
            Auth::Key(Some(key)) => match self.source_of(protocol, key) {
                Some(s) => Some(s),
                None => {
                    self.metrics.reject_request("unauthorized");
                    return Outcome::Unauthorized;
                }
            },
            // Without a request key, records name their source (posthog-js puts the key
            // only in each event's properties).
            Auth::Key(None)
                if inbound
                    .records
                    .iter()
                    .all(|r| r.as_ref().is_ok_and(|r| r.key.is_none())) =>
            {
                self.metrics.reject_request("unauthorized");
                return Outcome::Unauthorized;
            }
            Auth::Key(None) | Auth::PerRecord => None,
        };
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
            let fail = |error: RecordError, insert_id: Option<String>, failed: &mut Vec<FailedRecord>| {
                self.metrics.reject_record(error.reason);
                failed.push(FailedRecord {
                    index,
                    insert_id,
                    error,
                });
            };
            let record = match record {
                Ok(r) => r,
                Err(refused) => {
                    fail(refused.error, refused.insert_id, &mut failed);
                    continue;
                }
            };
            let source = match (request_source, record.key.as_deref()) {
                // A record's own key must agree with the request's.
                (Some(s), Some(k))
                    if self.source_of(protocol, k) != Some(s) && !matches!(inbound.auth, Auth::Import(_)) =>
                {
                    fail(
                        RecordError::new(Reject::UnknownToken, "token", "the record's key is not the request's"),
                        record.event.insert_id.clone(),
                        &mut failed,
                    );
                    continue;
                }
                (Some(s), _) => s,
                (None, None) => {
                    fail(
                        RecordError::new(Reject::MissingToken, "token", "project token is missing"),
                        record.event.insert_id.clone(),
                        &mut failed,
                    );
                    continue;
                }
                (None, Some(t)) => match self.source_of(protocol, t) {
                    Some(s) => s,
                    None => {
                        fail(
                            RecordError::new(Reject::UnknownToken, "token", "project token is not configured"),
                            record.event.insert_id.clone(),
                            &mut failed,
                        );
                        continue;
                    }
                },
            };
            let mut event = record.event;
            if event.insert_id.is_none() {
                event.insert_id = Some(derive_insert_id(&self.subject_key, &self.sources[source].name, &event));
            }
            if event.kind == Kind::Track && event.time.is_none() {
                event.time = Some(EventTime::from_millis(received_at));
            }
            accepted += 1;
            let source_name = self.sources[source].name.as_str();
            let subject = self.subject(&event);
            let event_time_ms = event.time.as_ref().and_then(EventTime::millis).unwrap_or(received_at);
            let kind = event.kind;
            let event_name = event.name.clone();

            let dropping = |d: usize| states.get(d) == Some(&DestinationState::Dropping);
            let live: Vec<usize> = self.sources[source]
                .destinations
                .iter()
                .copied()
                .filter(|&d| {
                    let drop = dropping(d);
                    if drop {
                        dropped[d] += 1;
                    }
                    !drop
                })
                .collect();
            // Destinations grouped by vendor: each vendor's record is encoded and classified
            // once; the last vendor's takes the event, the others a copy.
            let mut vendors: Vec<Vendor> = live.iter().map(|&d| self.destinations[d].vendor).collect();
            vendors.sort_unstable();
            vendors.dedup();
            let mut event = Some(event);
            for (vi, &vendor) in vendors.iter().enumerate() {
                let mut ev = if vi + 1 == vendors.len() {
                    match event.take() {
                        Some(e) => e,
                        None => continue,
                    }
                } else {
                    match &event {
                        Some(e) => e.clone(),
                        None => continue,
                    }
                };
                let untranslated = translate(&mut ev, vendor);
                let proto = vendor.protocol();
                let shape = proto.shape(kind);
                let mut record = Some(proto.encode(ev));
                let findings = record
                    .as_ref()
                    .map(|r| {
                        let mut findings = match memo.as_mut() {
                            Some(memo) => classify_record_with(r, shape, memo),
                            None => classify_record(r, shape),
                        };
                        self.custom.apply(r, &mut findings);
                        findings
                    })
                    .unwrap_or_default();
                let group: Vec<usize> = live
                    .iter()
                    .copied()
                    .filter(|&d| self.destinations[d].vendor == vendor)
                    .collect();
                for (gi, &d) in group.iter().enumerate() {
                    let dest = &self.destinations[d];
                    if untranslated > 0 {
                        self.metrics
                            .destination(d)
                            .untranslated
                            .fetch_add(untranslated as u64, Relaxed);
                    }
                    let key = dest.key.read().ok();
                    let key = key.as_deref();
                    let ctx = Context {
                        source: source_name,
                        event: event_name.as_deref(),
                        key,
                    };
                    let verdict = match (gi + 1 == group.len()).then(|| record.take()).flatten() {
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
                                subject_digest: subject.digest.clone(),
                                subject_sealed: subject.sealed.clone(),
                                vendor_id: proto.vendor_id(&out, kind),
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
                                linked: subject.linked.clone(),
                                contact_sealed: subject.contact_sealed.clone(),
                            };
                            proto.finish(&mut out, kind, &dest.target);
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
        if self.space.refusing_ingest() {
            // Delivery keeps the headroom, so it can record and drain (`store::space`).
            self.metrics.reject_request("store_full");
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

    /// Where a feature-flag request from a source of `protocol` with `key` goes: the first
    /// destination of that source with the same vendor that forwards flags, with the request
    /// record after that destination's policy (ids pseudonymised). `None`: answer "no flags".
    pub fn flags_forward(&self, protocol: Vendor, key: Option<&str>, record: Value) -> Option<FlagsForward> {
        let source = self.source_of(protocol, key?)?;
        let states = self.states.read().ok()?;
        let d = self.sources[source].destinations.iter().copied().find(|&d| {
            let dest = &self.destinations[d];
            dest.vendor == protocol
                && dest.flags == FlagsMode::Forward
                && states.get(d).copied().unwrap_or(DestinationState::Active) == DestinationState::Active
        })?;
        let dest = &self.destinations[d];
        let shape = protocol.protocol().shape(Kind::Track);
        let mut findings = classify_record(&record, shape);
        self.custom.apply(&record, &mut findings);
        let key = dest.key.read().ok();
        let ctx = Context {
            source: &self.sources[source].name,
            event: None,
            key: key.as_deref(),
        };
        match dest.policy.apply_owned(record, shape, &findings, &ctx) {
            Verdict::Send { record, .. } => Some(FlagsForward {
                vendor: dest.vendor,
                target: dest.target.clone(),
                record,
            }),
            Verdict::Block { .. } => None,
        }
    }

    /// Whom `event` is about: a keyed digest and the sealed id of its subject, the ids it
    /// links to it, and (with `keep_contact_email`) the subject's own email, sealed.
    fn subject(&self, event: &Event) -> Subject {
        let subject = [event.ids.user_id.as_deref(), event.ids.distinct_id.as_deref()]
            .into_iter()
            .flatten()
            .find(|s| !s.is_empty());
        let linked = subject
            .map(|s| linked_ids(event, s))
            .unwrap_or_default()
            .into_iter()
            .map(|id| {
                let digest = self.subject_key.pseudonym(id);
                LinkedId {
                    sealed: self.seal(SubjectPart::Id, &digest, id),
                    digest,
                }
            })
            .collect();
        let digest = subject.map(|s| self.subject_key.pseudonym(s));
        let contact_sealed = match (self.keep_contact_email, subject, &digest) {
            (true, Some(_), Some(d)) => contact_email(event).and_then(|e| self.seal(SubjectPart::Contact, d, e)),
            _ => None,
        };
        Subject {
            sealed: subject
                .zip(digest.as_deref())
                .and_then(|(s, d)| self.seal(SubjectPart::Id, d, s)),
            digest,
            linked,
            contact_sealed,
        }
    }

    /// Reloads kill-switch states and rotated keys from the store and persists drop counts.
    /// Called every second.
    pub fn sync_destination_states(&self) -> Result<(), StoreError> {
        let store = self.outbox.store();
        for d in &self.destinations {
            let newest = store.key_versions(&d.name)?.into_iter().map(|(v, _)| v).max();
            let current = d.key.read().map(|k| k.version).unwrap_or(0);
            if newest.is_some_and(|v| v > current) {
                match crate::keyring::current_key(store.as_ref(), &self.keys, &d.name) {
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
    /// A subject id (or contact email) sealed for the ledger, bound to the digest (hex) of the
    /// subject it belongs to.
    fn seal(&self, part: SubjectPart, digest: &str, value: &str) -> Option<String> {
        let digest = crate::ledger::digest_bytes(digest)?;
        self.keys
            .seal_subject(part, &digest, value.as_bytes())
            .ok()
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
    }
}

/// The key a request names itself by: its own, else its first record's.
fn request_key(inbound: &Inbound) -> Option<&str> {
    match &inbound.auth {
        Auth::Key(Some(k)) => Some(k.as_str()),
        _ => inbound
            .records
            .iter()
            .find_map(|r| r.as_ref().ok().and_then(|r| r.key.as_deref())),
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
/// `email` of the event or of a profile's `$set`/`$set_once`, or the subject id itself) that
/// holds one whole — never another person's address such as an invitee's.
fn contact_email(event: &Event) -> Option<&str> {
    let props = ["$email", "email"].into_iter().filter_map(|k| event.properties.get(k));
    let ops = event
        .operations
        .iter()
        .filter(|(op, _)| op == "$set" || op == "$set_once")
        .flat_map(|(_, v)| ["$email", "email"].into_iter().filter_map(move |k| v.get(k)));
    let ids = [&event.ids.distinct_id, &event.ids.user_id]
        .into_iter()
        .filter_map(|i| i.as_deref());
    props
        .chain(ops)
        .filter_map(Value::as_str)
        .chain(ids)
        .find(|e| crate::classify::is_email(e))
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

/// The event as the derived `$insert_id` covers it: a JSON record with an empty token,
/// written here field by field in a fixed order (the lifted fields first, then the
/// properties, then the source vendor's envelope) rather than by a record encoder, so that
/// ids stay the same when an encoder changes and a client's retry across an upgrade keeps
/// its id.
fn insert_id_text(event: &Event) -> String {
    if event.kind != Kind::Track {
        return update_text(event);
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
        ("ip", ip_value(event)),
    ] {
        if let Some(v) = v {
            props.insert(k.into(), v);
        }
    }
    for (k, v) in &event.properties {
        props.insert(k.clone(), v.clone());
    }
    let mut rec = Map::with_capacity(3);
    rec.insert("event".into(), Value::String(event.name.clone().unwrap_or_default()));
    rec.insert("properties".into(), Value::Object(props));
    if let Some(env) = &event.envelope {
        rec.insert(env.vendor.name().into(), Value::Object(env.fields.clone()));
    }
    Value::Object(rec).to_string()
}

/// [`insert_id_text`] of a profile or group update: its token, group, ids, time, IP, then
/// its other fields and operations in order, then the envelope.
fn update_text(e: &Event) -> String {
    let mut rec = Map::with_capacity(e.properties.len() + e.operations.len() + 8);
    rec.insert("$token".into(), Value::String(String::new()));
    if let Some(g) = &e.ids.group {
        rec.insert("$group_key".into(), Value::String(g.key.clone()));
        rec.insert("$group_id".into(), g.id.clone());
    }
    let text = |s: &Option<String>| s.clone().map(Value::String);
    for (k, v) in [
        ("$distinct_id", text(&e.ids.distinct_id)),
        ("$device_id", text(&e.ids.device_id)),
        ("$user_id", text(&e.ids.user_id)),
        ("$time", e.time.as_ref().map(|t| Value::Number(t.0.clone()))),
        ("$ip", ip_value(e)),
    ] {
        if let Some(v) = v {
            rec.insert(k.into(), v);
        }
    }
    for (k, v) in e.properties.iter().chain(e.operations.iter().map(|(k, v)| (k, v))) {
        rec.insert(k.clone(), v.clone());
    }
    if let Some(env) = &e.envelope {
        rec.insert(env.vendor.name().into(), Value::Object(env.fields.clone()));
    }
    Value::Object(rec).to_string()
}

/// The IP a vendor may geolocate from: one the SDK put in the record, else the connecting
/// client's address when the SDK asked for geolocation.
fn ip_value(e: &Event) -> Option<Value> {
    e.context
        .ip
        .clone()
        .or_else(|| e.context.client_ip.map(|ip| Value::String(ip.to_string())))
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
        let caps = crate::event::Caps::from(&crate::config::Limits::default());
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
