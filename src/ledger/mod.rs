//! The exposure ledger: exactly what each vendor received, about whom, and when.
//!
//! # Invariants
//!
//! - An entry is written when the vendor acknowledges a delivery, **in the same store
//!   transaction** that removes the record from the outbox
//!   ([`OutboxStore::complete`](crate::store::OutboxStore::complete)). A crash between the vendor's answer
//!   and that commit leaves the row queued: it is delivered again (same `$insert_id`) and
//!   recorded once then. So the ledger never misses or double-counts an outbox row.
//! - The ledger holds no raw values: categories, field pointers, a keyed digest of the app's
//!   subject id, the id as the vendor knows it (a pseudonym under the recommended policy), the
//!   key version — and the app's subject id itself only sealed (AES-256-GCM under a key
//!   derived from the store's root key, bound to the subject's digest and to being an id or a
//!   contact email: `policy::keys::subject_aad`), so notification lists can be produced and a
//!   sealed id moved to another subject does not open as that subject's.
//! - Tamper evidence: per destination, every acknowledged batch extends a chain of HMACs
//!   over its entries, under a key derived from the store's root key ([`ChainKey`]), so someone
//!   who can write the store but lacks the master key cannot recompute it. The dictionary and every
//!   subject, link and vendor-id row are MAC'd too (see `store::sqlite::ledger`). Each batch's
//!   head is appended to an optional witness file outside the store ([`witness`]), which
//!   catches a store restored from an older copy. `vendorwall ledger verify` recomputes all
//!   of it and reports edited, deleted, reordered and rolled-back entries;
//!   `vendorwall ledger prune --before DATE` deletes old entries and keeps an anchor (the last
//!   pruned batch's link) so the rest still verifies. Subjects (sealed
//!   ids, vendor ids, links) are kept: a `serve` running beside a CLI prune holds subject
//!   numbers in its interning cache, so removing them needs coordination not built yet.
//!
//! # What an entry holds ([`Exposure`], built in the pipeline, stored with the outbox row)
//!
//! source, subject digest, sealed subject, vendor-side id, key version, the categories sent
//! (and which of them only as keyed pseudonyms), the categories the policy held back, the
//! field pointers sent, the event time; the store adds the destination, delivery time and
//! batch.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub mod codec;
pub mod query;
pub mod rollup;
pub mod witness;

use crate::classify::Finding;
use crate::policy::Decision;

/// A subject digest (32 hex characters, as [`Exposure::subject_digest`] holds it) as the 16
/// bytes the ledger stores and sealed ids are bound to.
pub fn digest_bytes(hex: &str) -> Option<[u8; 16]> {
    let b = hex.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in b.chunks(2).enumerate() {
        out[i] = crate::digits::hex_value(pair[0])? << 4 | crate::digits::hex_value(pair[1])?;
    }
    Some(out)
}

/// The key name (not a valid destination name) under which the subject-digest key is kept.
pub const SUBJECT_KEY: &str = ":ledger-subjects";

/// What one record exposes to one vendor. Serialised into the outbox row's `meta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    #[serde(rename = "s")]
    pub source: String,
    /// Keyed digest (hex) of the app's subject id.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub subject_digest: Option<String>,
    /// The app's subject id, sealed bound to `subject_digest` (base64).
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub subject_sealed: Option<String>,
    /// The subject id as the vendor received it.
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    #[serde(rename = "k")]
    pub key_version: u32,
    /// Categories the vendor received (sorted, distinct).
    #[serde(rename = "c", default)]
    pub sent: Vec<String>,
    /// Of `sent`, those received only as keyed pseudonyms.
    #[serde(rename = "p", default)]
    pub pseudonymised: Vec<String>,
    /// Categories that came in but the policy did not send.
    #[serde(rename = "h", default)]
    pub held_back: Vec<String>,
    /// Field pointers the vendor received.
    #[serde(rename = "f", default)]
    pub fields: Vec<String>,
    #[serde(rename = "t")]
    pub event_time_ms: i64,
    /// Other ids this record ties to the subject (`$identify`'s anonymous id, an alias,
    /// `$merge`'s ids): their keyed digests and sealed ids, so the ledger counts one person.
    #[serde(rename = "l", default, skip_serializing_if = "Vec::is_empty")]
    pub linked: Vec<LinkedId>,
    /// The subject's contact email, sealed, where the config keeps one for notification.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub contact_sealed: Option<String>,
}

/// An id linked to a record's subject.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkedId {
    #[serde(rename = "d")]
    pub digest: String,
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

/// What one record sent to one vendor exposes, for the ledger's [`Exposure`].
#[derive(Debug, PartialEq)]
pub struct Exposed {
    pub sent: Vec<String>,
    pub pseudonymised: Vec<String>,
    pub held_back: Vec<String>,
    /// Field pointers the vendor received.
    pub fields: Vec<String>,
}

/// Works out what a record sent under a policy exposes, and the field pointers the vendor
/// received. Pure; one pass over the findings: each finding's decisions are looked up once,
/// each pointer resolved once without allocating, and strings made only for the distinct
/// categories in the result.
///
/// A finding's fate is the decision on its own (pointer, category), else a decision on its
/// whole field, else a whole-value replacement of that field for another category (an id
/// that is also an email, pseudonymised as an id, does not reach the vendor as an email).
pub fn exposure(findings: &[Finding], decisions: &[Decision], sent: &Value) -> Exposed {
    let mut out_sent: Vec<&'static str> = Vec::new();
    let mut pseudo: Vec<&'static str> = Vec::new();
    let mut held: Vec<&'static str> = Vec::new();
    // Categories sent in clear somewhere: not "pseudonymised only".
    let mut clear: Vec<&'static str> = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    // Findings on one leaf are adjacent: resolve each pointer once.
    let mut resolved: Option<(&str, bool)> = None;
    for f in findings {
        let (mut by_field, mut mine, mut whole) = (None, None, None);
        for d in decisions.iter().filter(|d| d.pointer == f.pointer) {
            if by_field.is_none() && d.category.is_none() {
                by_field = Some(d);
            }
            if mine.is_none() && d.category == Some(f.category) {
                mine = Some(d);
            }
            if whole.is_none() && matches!(d.action, "hash" | "drop") {
                whole = Some(d);
            }
        }
        let action = by_field.or(mine).or(whole).map_or("keep", |d| d.action);
        let still_there = match resolved {
            Some((p, there)) if p == f.pointer => there,
            _ => {
                let there = pointer(sent, &f.pointer).is_some();
                resolved = Some((&f.pointer, there));
                there
            }
        };
        match action {
            "drop" | "redact" => held.push(f.category),
            _ if !still_there => held.push(f.category),
            "hash" => {
                out_sent.push(f.category);
                pseudo.push(f.category);
            }
            _ => {
                out_sent.push(f.category);
                clear.push(f.category);
            }
        }
        if still_there {
            fields.push(f.pointer.clone());
        }
    }
    for v in [&mut out_sent, &mut pseudo, &mut held] {
        v.sort_unstable();
        v.dedup();
    }
    pseudo.retain(|c| !clear.contains(c));
    held.retain(|c| !out_sent.contains(c));
    fields.dedup();
    let owned = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect();
    Exposed {
        sent: owned(out_sent),
        pseudonymised: owned(pseudo),
        held_back: owned(held),
        fields,
    }
}

/// `Value::pointer` without allocating for segments that need no unescaping.
fn pointer<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(root);
    }
    let mut target = root;
    for seg in crate::json::pointer_segments(pointer)? {
        let unescaped;
        let key = if seg.bytes().any(|b| b == b'~') {
            unescaped = seg.replace("~1", "/").replace("~0", "~");
            unescaped.as_str()
        } else {
            seg
        };
        target = match target {
            Value::Object(m) => crate::json::get(m, key)?,
            // As `Value::pointer` reads an index: no sign, no leading zero.
            Value::Array(a) if !key.starts_with('+') && (!key.starts_with('0') || key.len() == 1) => {
                a.get(key.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(target)
}

/// Pointers of every leaf of a record.
pub fn leaf_pointers(v: &Value) -> Vec<String> {
    fn walk(v: &Value, at: &mut String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    walk(x, at, out);
                    at.truncate(len);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&i.to_string());
                    walk(x, at, out);
                    at.truncate(len);
                }
            }
            _ => out.push(at.clone()),
        }
    }
    let mut out = Vec::new();
    walk(v, &mut String::new(), &mut out);
    out
}

/// One ledger entry, resolved to names (for `ledger list` and tests).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub batch: i64,
    pub destination: String,
    pub delivered_at_ms: i64,
    pub source: String,
    /// Keyed digest (hex) of the app's subject id.
    pub subject_digest: Option<String>,
    pub key_version: u32,
    pub sent: Vec<String>,
    pub pseudonymised: Vec<String>,
    pub held_back: Vec<String>,
    pub fields: Vec<String>,
    pub event_time_ms: i64,
}

/// The digest of a batch's stored body.
pub fn body_digest(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

/// How a batch's chain link is computed.
pub enum ChainKey {
    /// Plain SHA-256, as stores before the keyed chain wrote it. Read when such a store is
    /// re-keyed on its first open with the master key; never written by the live path.
    Legacy,
    /// HMAC-SHA256 under a key derived from the store's root key (purpose `ledger chain`):
    /// someone who can write the store but lacks the master key cannot recompute a link.
    Keyed(ring::hmac::Key),
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChainKey::Legacy => "ChainKey::Legacy",
            ChainKey::Keyed(_) => "ChainKey::Keyed([redacted])",
        })
    }
}

/// MAC purposes of the keys the ledger derives from the store's root key.
pub const CHAIN_PURPOSE: &[u8] = b"ledger chain";
pub const WITNESS_PURPOSE: &[u8] = b"ledger witness";

impl ChainKey {
    pub fn derive(keys: &crate::policy::keys::StoreKeys) -> ChainKey {
        ChainKey::Keyed(keys.mac_key(CHAIN_PURPOSE))
    }

    /// A MAC of `data` (what the ledger's dictionary digest is recorded as).
    pub fn seal(&self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        match self {
            ChainKey::Legacy => out.copy_from_slice(&Sha256::digest(data)),
            ChainKey::Keyed(key) => out.copy_from_slice(ring::hmac::sign(key, data).as_ref()),
        }
        out
    }

    /// The chain link of a batch: `MAC(prev ‖ batch id ‖ destination ‖ delivered_at ‖ count ‖
    /// entries digest)`.
    pub fn link(
        &self,
        prev: &[u8; 32],
        batch: i64,
        destination: &str,
        delivered_at_ms: i64,
        count: u64,
        digest: &[u8; 32],
    ) -> [u8; 32] {
        match self {
            ChainKey::Legacy => batch_hash(prev, batch, destination, delivered_at_ms, count, digest),
            ChainKey::Keyed(key) => {
                let mut m = ring::hmac::Context::with_key(key);
                m.update(prev);
                m.update(&batch.to_le_bytes());
                m.update(destination.as_bytes());
                m.update(&[0]);
                m.update(&delivered_at_ms.to_le_bytes());
                m.update(&count.to_le_bytes());
                m.update(digest);
                let mut out = [0u8; 32];
                out.copy_from_slice(m.sign().as_ref());
                out
            }
        }
    }
}

/// The unkeyed chain link of stores before the keyed chain:
/// `H(prev ‖ batch id ‖ destination ‖ delivered_at ‖ count ‖ entries digest)`.
pub fn batch_hash(
    prev: &[u8; 32],
    batch: i64,
    destination: &str,
    delivered_at_ms: i64,
    count: u64,
    digest: &[u8; 32],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(batch.to_le_bytes());
    h.update(destination.as_bytes());
    h.update([0]);
    h.update(delivered_at_ms.to_le_bytes());
    h.update(count.to_le_bytes());
    h.update(digest);
    h.finalize().into()
}

/// What `ledger verify` found for one destination.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verification {
    pub destination: String,
    pub batches: u64,
    pub entries: u64,
    /// Batches whose entries do not match their recorded digest (edited, deleted, reordered).
    pub tampered_batches: Vec<i64>,
    /// Batches whose link to the previous one is broken (a batch deleted or inserted).
    pub broken_links: Vec<i64>,
    /// The interned names and category/field sets entries point into were changed.
    pub dictionary_tampered: bool,
    /// The chain no longer ends at its recorded head: the newest batches were removed.
    pub head_missing: bool,
    /// Days whose stored rollup (what incident queries read) no longer matches the batches.
    pub tampered_rollups: Vec<i64>,
    /// What the witness says against this destination's chain (empty: it agrees, or no
    /// witness is configured).
    pub witness: Vec<String>,
    /// Subject, link and vendor-id rows that do not verify (table, rows, what happened).
    pub rows: Vec<String>,
    /// For an incident (`destination` is `incident <id>`): its revisions in the keyed chain.
    pub revisions: u64,
    /// What fails in an incident's document or in the incident chain (edited, deleted,
    /// reordered revisions; a missing or forged seal).
    pub incident: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.tampered_batches.is_empty()
            && self.broken_links.is_empty()
            && !self.dictionary_tampered
            && !self.head_missing
            && self.tampered_rollups.is_empty()
            && self.witness.is_empty()
            && self.rows.is_empty()
            && self.incident.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Because;
    use serde_json::json;

    fn f(pointer: &str, category: &'static str) -> Finding {
        Finding {
            pointer: pointer.into(),
            category,
            span: None,
            detector: "t",
            confidence: 1.0,
        }
    }

    fn d(pointer: &str, category: Option<&'static str>, action: &'static str) -> Decision {
        Decision {
            pointer: pointer.into(),
            category,
            detector: None,
            action,
            because: Because::Rule(0),
        }
    }

    #[test]
    fn exposure_separates_sent_pseudonymised_and_held_back() {
        let findings = vec![
            f("/properties/distinct_id", "user.unique_id"),
            f("/properties/distinct_id", "user.contact.email"),
            f("/properties/email", "user.contact.email"),
            f("/properties/ip", "user.device.ip_address"),
            f("/properties/$os", "user.device"),
            f("/properties/$current_url", "user.behavior.browsing_history"),
        ];
        let decisions = vec![
            d("/properties/distinct_id", Some("user.unique_id"), "hash"),
            d("/properties/distinct_id", Some("user.contact.email"), "hash"),
            d("/properties/email", Some("user.contact.email"), "redact"),
            d("/properties/ip", Some("user.device.ip_address"), "drop"),
            d(
                "/properties/$current_url",
                Some("user.behavior.browsing_history"),
                "generalize",
            ),
        ];
        let sent = json!({"properties": {"distinct_id": "p", "email": "[email]", "$os": "Mac", "$current_url": "https://x/a"}});
        let Exposed {
            sent: s,
            pseudonymised: p,
            held_back: h,
            ..
        } = exposure(&findings, &decisions, &sent);
        assert_eq!(
            s,
            vec![
                "user.behavior.browsing_history",
                "user.contact.email",
                "user.device",
                "user.unique_id"
            ]
        );
        assert_eq!(p, vec!["user.contact.email", "user.unique_id"]);
        assert_eq!(h, vec!["user.device.ip_address"]);
        assert_eq!(leaf_pointers(&sent).len(), 4);
    }

    #[test]
    fn an_id_that_is_also_an_email_is_sent_only_as_a_pseudonym() {
        // pseudonymize_ids decides for the id; the email finding on the same field has no
        // decision of its own, but the whole value was replaced.
        let findings = vec![
            f("/properties/distinct_id", "user.unique_id"),
            f("/properties/distinct_id", "user.contact.email"),
            f("/properties/$device_id", "user.device.device_id"),
        ];
        let decisions = vec![
            d("/properties/distinct_id", Some("user.unique_id"), "hash"),
            d("/properties/$device_id", Some("user.unique_id"), "hash"),
        ];
        let sent = json!({"properties": {"distinct_id": "p1", "$device_id": "p2"}});
        let Exposed {
            sent: s,
            pseudonymised: p,
            held_back: h,
            ..
        } = exposure(&findings, &decisions, &sent);
        assert_eq!(s, vec!["user.contact.email", "user.device.device_id", "user.unique_id"]);
        assert_eq!(p, s, "all three only as keyed pseudonyms");
        assert!(h.is_empty());
    }

    /// The definition `exposure` implements, written plainly: every finding looks through all
    /// decisions, and every pointer is resolved again.
    fn exposure_by_definition(findings: &[Finding], decisions: &[Decision], sent: &Value) -> Exposed {
        let (mut s, mut p, mut h, mut clear, mut fields) = (vec![], vec![], vec![], vec![], vec![]);
        for f in findings {
            let on_leaf: Vec<&Decision> = decisions.iter().filter(|d| d.pointer == f.pointer).collect();
            let by_field = on_leaf.iter().find(|d| d.category.is_none());
            let mine = on_leaf.iter().find(|d| d.category == Some(f.category));
            let whole = on_leaf.iter().find(|d| matches!(d.action, "hash" | "drop"));
            let action = by_field.or(mine).or(whole).map_or("keep", |d| d.action);
            let there = sent.pointer(&f.pointer).is_some();
            match action {
                "drop" | "redact" => h.push(f.category),
                _ if !there => h.push(f.category),
                "hash" => {
                    s.push(f.category);
                    p.push(f.category);
                }
                _ => {
                    s.push(f.category);
                    clear.push(f.category);
                }
            }
            if there && !fields.contains(&f.pointer) {
                fields.push(f.pointer.clone());
            }
        }
        for v in [&mut s, &mut p, &mut h] {
            v.sort_unstable();
            v.dedup();
        }
        p.retain(|c| !clear.contains(c));
        h.retain(|c| !s.contains(c));
        let owned = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect();
        Exposed {
            sent: owned(s),
            pseudonymised: owned(p),
            held_back: owned(h),
            fields,
        }
    }

    proptest::proptest! {
        /// Findings on one leaf adjacent, as the classifier emits them; decisions in any order.
        #[test]
        fn exposure_is_what_its_definition_says(
            leaves in proptest::collection::vec(
                (0usize..6, proptest::collection::vec(0usize..4, 1..4)), 0..8),
            decisions in proptest::collection::vec((0usize..6, proptest::option::of(0usize..4), 0usize..5), 0..12),
            present in proptest::collection::vec(proptest::bool::ANY, 6),
        ) {
            const POINTERS: [&str; 6] = ["/properties/a", "/properties/b", "/properties/a~1b", "/event", "/properties/l/0", "/properties/a/x"];
            const CATEGORIES: [&str; 4] = ["user.contact.email", "user.unique_id", "user.device", "user.name"];
            const ACTIONS: [&str; 5] = ["keep", "drop", "redact", "hash", "generalize"];
            let mut seen = Vec::new();
            let findings: Vec<Finding> = leaves
                .iter()
                .filter(|(p, _)| { let new = !seen.contains(p); seen.push(*p); new })
                .flat_map(|(p, cs)| cs.iter().map(move |c| f(POINTERS[*p], CATEGORIES[*c])))
                .collect();
            let decisions: Vec<Decision> = decisions
                .iter()
                .map(|(p, c, a)| d(POINTERS[*p], c.map(|c| CATEGORIES[c]), ACTIONS[*a]))
                .collect();
            let mut props = serde_json::Map::new();
            for (i, key) in ["a", "b", "a/b"].into_iter().enumerate() {
                if present[i] {
                    props.insert(key.into(), json!("v"));
                }
            }
            if present[4] {
                props.insert("l".into(), json!(["v"]));
            }
            let mut sent = json!({"properties": props});
            if present[3] {
                sent["event"] = json!("e");
            }
            proptest::prop_assert_eq!(
                exposure(&findings, &decisions, &sent),
                exposure_by_definition(&findings, &decisions, &sent)
            );
        }
    }

    #[test]
    fn chain_changes_with_any_body_change() {
        let a = body_digest(b"\x01abc");
        assert_ne!(a, body_digest(b"\x01abd"));
        let h = batch_hash(&[0; 32], 1, "mp", 5, 2, &a);
        assert_ne!(h, batch_hash(&[1; 32], 1, "mp", 5, 2, &a));
        assert_ne!(h, batch_hash(&[0; 32], 2, "mp", 5, 2, &a));
        assert_ne!(h, batch_hash(&[0; 32], 1, "mp", 5, 3, &a));
    }

    #[test]
    fn pointer_reads_like_serde_json() {
        use serde_json::json;
        let v = json!({"a": {"b/c": [1, {"~d": 2}]}, "": {"": 3}, "e": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]});
        for p in [
            "",
            "/",
            "//",
            "/a",
            "/a/b~1c",
            "/a/b~1c/0",
            "/a/b~1c/1/~0d",
            "/a/b~1c/01",
            "/a/b~1c/+1",
            "/a/b~1c/2",
            "/e/10",
            "/e/010",
            "/e/-1",
            "a",
            "/a/b/c",
            "/a/b~1c/1/~0d/x",
            "/x~2",
        ] {
            assert_eq!(pointer(&v, p), v.pointer(p), "{p}");
        }
    }
}
