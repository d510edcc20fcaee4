//! The ledger's compact binary forms: a batch's entries, and a day's rollup.
//!
//! A delivered record takes about ten bytes in its batch: every field is an interned number
//! written as a LEB128 varint, and the event time is stored as its (zigzag) distance from the
//! batch's delivery time. The hash chain covers these bytes exactly.
//!
//! ```text
//! batch body  := 0x01 entry*
//! entry       := subject catset fieldset source key_version zigzag(delivered_at − event_time)
//! ```
//!
//! An outbox row's [`Exposure`] (its `meta`) is written in a binary form too, so ingest does
//! not escape it as JSON and delivery does not parse it back. Rows queued by an earlier
//! version hold JSON (it starts with `{`) and are read as such.
//!
//! ```text
//! meta        := 0xE1 str(source) opt(digest) opt(sealed) opt(vendor_id) key_version
//!                list(sent) list(pseudonymised) list(held_back) list(fields) zigzag(event_time)
//!                count (str(digest) opt(sealed))* opt(contact)
//! str         := len bytes          opt := 0 | 1 str          list := count str*
//! ```

use std::fmt;

use crate::ledger::{Exposure, LinkedId};

/// A body that does not decode: truncated, or written by something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub &'static str);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for CodecError {}

const BATCH_FORMAT: u8 = 1;

/// One delivered record, as interned numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryCode {
    /// Interned subject (0: the record was about no one, e.g. a group profile).
    pub subject: u32,
    /// Interned (sent, pseudonymised-only, held-back) category set.
    pub catset: u32,
    /// Interned set of field pointers sent.
    pub fieldset: u32,
    pub source: u32,
    pub key_version: u32,
    pub event_ms: i64,
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_signed(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Reads varints off the front of a byte slice.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn byte(&mut self) -> Result<u8, CodecError> {
        let (&b, rest) = self.bytes.split_first().ok_or(CodecError("truncated"))?;
        self.bytes = rest;
        Ok(b)
    }

    #[inline]
    pub fn varint(&mut self) -> Result<u64, CodecError> {
        // Most numbers in a body or a person list fit one byte.
        if let Some((&b, rest)) = self.bytes.split_first()
            && b < 0x80
        {
            self.bytes = rest;
            return Ok(u64::from(b));
        }
        self.varint_long()
    }

    fn varint_long(&mut self) -> Result<u64, CodecError> {
        // With ten bytes left (a varint's most), no byte needs its own bounds check.
        if let Some(b) = self.bytes.get(..10) {
            let mut v = 0u64;
            for (i, &x) in b.iter().enumerate() {
                v |= u64::from(x & 0x7f) << (7 * i);
                if x < 0x80 {
                    self.bytes = &self.bytes[i + 1..];
                    return Ok(v);
                }
            }
            return Err(CodecError("varint too long"));
        }
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(CodecError("varint too long"))
    }

    #[inline]
    pub fn u32(&mut self) -> Result<u32, CodecError> {
        u32::try_from(self.varint()?).map_err(|_| CodecError("number out of range"))
    }

    #[inline]
    pub fn signed(&mut self) -> Result<i64, CodecError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.bytes.len() {
            return Err(CodecError("truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
}

/// Encodes a batch's entries (in delivery order).
pub fn encode_batch(delivered_at_ms: i64, entries: &[EntryCode]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + entries.len() * 12);
    out.push(BATCH_FORMAT);
    for e in entries {
        put_varint(&mut out, u64::from(e.subject));
        put_varint(&mut out, u64::from(e.catset));
        put_varint(&mut out, u64::from(e.fieldset));
        put_varint(&mut out, u64::from(e.source));
        put_varint(&mut out, u64::from(e.key_version));
        put_signed(&mut out, delivered_at_ms.wrapping_sub(e.event_ms));
    }
    out
}

/// Decodes a batch body, calling `each` per entry in order.
pub fn decode_batch(delivered_at_ms: i64, body: &[u8], mut each: impl FnMut(EntryCode)) -> Result<usize, CodecError> {
    let mut r = Reader::new(body);
    if r.byte()? != BATCH_FORMAT {
        return Err(CodecError("unknown batch format"));
    }
    let mut n = 0;
    while !r.is_empty() {
        let subject = r.u32()?;
        let catset = r.u32()?;
        let fieldset = r.u32()?;
        let source = r.u32()?;
        let key_version = r.u32()?;
        let event_ms = delivered_at_ms.wrapping_sub(r.signed()?);
        each(EntryCode {
            subject,
            catset,
            fieldset,
            source,
            key_version,
            event_ms,
        });
        n += 1;
    }
    Ok(n)
}

/// All entries of a batch body.
pub fn batch_entries(delivered_at_ms: i64, body: &[u8]) -> Result<Vec<EntryCode>, CodecError> {
    let mut out = Vec::new();
    decode_batch(delivered_at_ms, body, |e| out.push(e))?;
    Ok(out)
}

const META_FORMAT: u8 = 0xE1;

/// An outbox row's exposure metadata in its binary form.
pub fn encode_meta(x: &Exposure) -> Vec<u8> {
    // A typical record's metadata (a digest, a sealed id, a few categories and a dozen field
    // pointers: 600-750 bytes for a browser event) fits.
    let mut out = Vec::with_capacity(1024);
    out.push(META_FORMAT);
    put_str(&mut out, &x.source);
    put_opt(&mut out, x.subject_digest.as_deref());
    put_opt(&mut out, x.subject_sealed.as_deref());
    put_opt(&mut out, x.vendor_id.as_deref());
    put_varint(&mut out, u64::from(x.key_version));
    for list in [&x.sent, &x.pseudonymised, &x.held_back, &x.fields] {
        put_varint(&mut out, list.len() as u64);
        for s in list {
            put_str(&mut out, s);
        }
    }
    put_signed(&mut out, x.event_time_ms);
    put_varint(&mut out, x.linked.len() as u64);
    for l in &x.linked {
        put_str(&mut out, &l.digest);
        put_opt(&mut out, l.sealed.as_deref());
    }
    put_opt(&mut out, x.contact_sealed.as_deref());
    out
}

/// An outbox row's exposure metadata, in the binary form or the JSON of earlier versions.
pub fn decode_meta(meta: &[u8]) -> Result<Exposure, CodecError> {
    if meta.first() == Some(&b'{') {
        return serde_json::from_slice(meta).map_err(|_| CodecError("meta is not valid JSON"));
    }
    let mut r = Reader::new(meta);
    if r.byte()? != META_FORMAT {
        return Err(CodecError("unknown meta format"));
    }
    let source = r.string()?;
    let subject_digest = r.opt_string()?;
    let subject_sealed = r.opt_string()?;
    let vendor_id = r.opt_string()?;
    let key_version = r.u32()?;
    let mut lists: [Vec<String>; 4] = Default::default();
    for list in &mut lists {
        let n = r.count()?;
        list.reserve(n);
        for _ in 0..n {
            list.push(r.string()?);
        }
    }
    let [sent, pseudonymised, held_back, fields] = lists;
    let event_time_ms = r.signed()?;
    let n = r.count()?;
    let mut linked = Vec::with_capacity(n);
    for _ in 0..n {
        linked.push(LinkedId {
            digest: r.string()?,
            sealed: r.opt_string()?,
        });
    }
    let contact_sealed = r.opt_string()?;
    if !r.is_empty() {
        return Err(CodecError("trailing bytes after the meta"));
    }
    Ok(Exposure {
        source,
        subject_digest,
        subject_sealed,
        vendor_id,
        key_version,
        sent,
        pseudonymised,
        held_back,
        fields,
        event_time_ms,
        linked,
        contact_sealed,
    })
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

impl Reader<'_> {
    /// A count of items that follow, each at least one byte long (so a corrupt count cannot
    /// make the caller reserve more than the input could hold).
    fn count(&mut self) -> Result<usize, CodecError> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.bytes.len())
            .ok_or(CodecError("count past the end"))
    }

    fn string(&mut self) -> Result<String, CodecError> {
        let n = self.count()?;
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| CodecError("string is not UTF-8"))
    }

    fn opt_string(&mut self) -> Result<Option<String>, CodecError> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.string().map(Some),
            _ => Err(CodecError("bad optional marker")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure() -> Exposure {
        Exposure {
            source: "web".into(),
            subject_digest: Some("0123456789abcdef0123456789abcdef".into()),
            subject_sealed: Some("c2VhbGVk".into()),
            vendor_id: Some("pseudonym".into()),
            key_version: 3,
            sent: vec!["user.device".into(), "user.unique_id".into()],
            pseudonymised: vec!["user.unique_id".into()],
            held_back: vec!["user.contact.email".into()],
            fields: vec!["/properties/$os".into(), "/properties/caf\u{e9}".into()],
            event_time_ms: -5,
            linked: vec![
                LinkedId {
                    digest: "ff".into(),
                    sealed: None,
                },
                LinkedId {
                    digest: "ee".into(),
                    sealed: Some("eA==".into()),
                },
            ],
            contact_sealed: Some("Y29udGFjdA==".into()),
        }
    }

    #[test]
    fn metas_round_trip_and_read_the_json_of_earlier_versions() {
        for x in [exposure(), Exposure::default()] {
            assert_eq!(decode_meta(&encode_meta(&x)), Ok(x.clone()));
            let json = serde_json::to_vec(&x).unwrap();
            assert_eq!(decode_meta(&json), Ok(x.clone()));
            assert!(encode_meta(&x).len() < json.len());
        }
    }

    #[test]
    fn damaged_metas_are_errors_not_panics() {
        let good = encode_meta(&exposure());
        for cut in 0..good.len() {
            assert!(decode_meta(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_meta(&trailing).is_err());
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] = 0xff;
            // Any answer but a panic; most are errors.
            let _ = decode_meta(&bad);
        }
        assert!(decode_meta(b"{not json").is_err());
        assert!(decode_meta(&[0x02]).is_err());
    }

    #[test]
    fn batches_round_trip_and_stay_small() {
        let entries: Vec<EntryCode> = (0..1000u32)
            .map(|i| EntryCode {
                subject: 1_000_000 + i * 7,
                catset: i % 5 + 1,
                fieldset: i % 40 + 1,
                source: 1,
                key_version: 1,
                event_ms: 1_764_000_000_000 - i64::from(i) * 13,
            })
            .collect();
        let body = encode_batch(1_764_000_005_000, &entries);
        assert_eq!(batch_entries(1_764_000_005_000, &body).unwrap(), entries);
        assert!(body.len() <= 1 + entries.len() * 11, "{} bytes", body.len());
    }

    #[test]
    fn extreme_values_round_trip() {
        let e = EntryCode {
            subject: u32::MAX,
            catset: 0,
            fieldset: u32::MAX,
            source: 0,
            key_version: u32::MAX,
            event_ms: i64::MIN,
        };
        let body = encode_batch(i64::MAX, &[e]);
        assert_eq!(batch_entries(i64::MAX, &body).unwrap(), vec![e]);
    }

    #[test]
    fn varints_read_the_same_near_the_end_and_far_from_it() {
        for v in [0, 1, 127, 128, 300, 1 << 35, u64::MAX - 1, u64::MAX] {
            let mut bytes = Vec::new();
            put_varint(&mut bytes, v);
            let mut padded = bytes.clone();
            padded.extend_from_slice(&[0; 12]);
            assert_eq!(Reader::new(&bytes).varint(), Ok(v));
            let mut r = Reader::new(&padded);
            assert_eq!(r.varint(), Ok(v));
            assert_eq!(r.remaining().len(), 12);
        }
        let too_long = [0xffu8; 12];
        assert!(Reader::new(&too_long).varint().is_err());
        assert!(Reader::new(&too_long[..10]).varint().is_err());
        assert!(Reader::new(&too_long[..9]).varint().is_err());
    }

    #[test]
    fn damaged_bodies_are_errors_not_panics() {
        let body = encode_batch(5, &[EntryCode::default(), EntryCode::default()]);
        for cut in 0..body.len() {
            let _ = batch_entries(5, &body[..cut]);
        }
        assert!(batch_entries(5, &body[..body.len() - 1]).is_err());
        assert!(batch_entries(5, &[2, 0]).is_err());
        assert!(
            batch_entries(
                5,
                &[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
            )
            .is_err()
        );
    }
}
