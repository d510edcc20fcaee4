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

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
