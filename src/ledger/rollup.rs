//! Day rollups: everything an incident query needs about one destination's deliveries in a
//! span of time, independent of how many records there were.
//!
//! A rollup has three parts:
//!
//! - **groups**: one per (source, category set) pair, with its record count, first and last
//!   delivery, and a compressed bitmap of the interned subjects it reached. Distinct people
//!   per category are unions of these bitmaps, so an incident over 90 days unions a few
//!   hundred bitmaps instead of reading 100 million records;
//! - **fields**: records per interned set of field pointers;
//! - **people**: per subject, its records, first and last delivery and which groups it was
//!   in, sorted by subject, for the per-person notification list.
//!
//! The counts and the people are stored apart, so a count reads a fraction of the bytes.
//! Closed days are rolled up once and stored (`ledger_rollups`); the open day and the partial
//! days at a range's edges are rolled up on the fly from the batches themselves.
//!
//! ```text
//! counts := 0x02 n_groups group* n_fields (fieldset records)*
//! people := 0x03 n_people person*
//! group  := source catset records zigzag(first − base) (last − first) len bitmap
//! person := (subject − previous subject) records (first − base) (last − first) group_mask
//! ```

use std::collections::HashMap;

use roaring::RoaringBitmap;

use super::codec::{CodecError, EntryCode, Reader, put_signed, put_varint};

const COUNTS_FORMAT: u8 = 2;
const PEOPLE_FORMAT: u8 = 3;
pub const DAY_MS: i64 = 86_400_000;

/// The UTC day (days since the epoch) of a time.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub source: u32,
    pub catset: u32,
    pub records: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub subjects: RoaringBitmap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonDay {
    pub subject: u32,
    pub records: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// Bit `i` set: the subject is in group `i` (groups past 63 share bit 63; look them up in
    /// their bitmaps).
    pub groups: u64,
}

/// What one destination's deliveries in a span exposed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollup {
    pub groups: Vec<Group>,
    /// (fieldset, records)
    pub fields: Vec<(u32, u64)>,
    /// Sorted by subject.
    pub people: Vec<PersonDay>,
}

/// Builds a rollup from entries, in any order.
#[derive(Default)]
pub struct Builder {
    groups: Vec<Group>,
    group_index: HashMap<(u32, u32), usize>,
    fields: HashMap<u32, u64>,
    people: HashMap<u32, PersonDay>,
}

impl Builder {
    pub fn add(&mut self, delivered_at_ms: i64, e: &EntryCode) {
        let next = self.groups.len();
        let g = *self.group_index.entry((e.source, e.catset)).or_insert(next);
        if g == next {
            self.groups.push(Group {
                source: e.source,
                catset: e.catset,
                records: 0,
                first_ms: delivered_at_ms,
                last_ms: delivered_at_ms,
                subjects: RoaringBitmap::new(),
            });
        }
        let group = &mut self.groups[g];
        group.records += 1;
        group.first_ms = group.first_ms.min(delivered_at_ms);
        group.last_ms = group.last_ms.max(delivered_at_ms);
        *self.fields.entry(e.fieldset).or_default() += 1;
        if e.subject == 0 {
            return;
        }
        group.subjects.insert(e.subject);
        let p = self.people.entry(e.subject).or_insert(PersonDay {
            subject: e.subject,
            records: 0,
            first_ms: delivered_at_ms,
            last_ms: delivered_at_ms,
            groups: 0,
        });
        p.records += 1;
        p.first_ms = p.first_ms.min(delivered_at_ms);
        p.last_ms = p.last_ms.max(delivered_at_ms);
        p.groups |= 1u64 << g.min(63);
    }

    pub fn finish(self) -> Rollup {
        let mut fields: Vec<(u32, u64)> = self.fields.into_iter().collect();
        fields.sort_unstable();
        let mut people: Vec<PersonDay> = self.people.into_values().collect();
        people.sort_unstable_by_key(|p| p.subject);
        Rollup {
            groups: self.groups,
            fields,
            people,
        }
    }
}

impl Rollup {
    pub fn records(&self) -> u64 {
        self.groups.iter().map(|g| g.records).sum()
    }

    /// Serialises the groups and fields (what the counts need); times relative to `base_ms`
    /// (the day's start).
    pub fn encode_counts(&self, base_ms: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.groups.len() * 256);
        out.push(COUNTS_FORMAT);
        put_varint(&mut out, self.groups.len() as u64);
        let mut bitmap = Vec::new();
        for g in &self.groups {
            put_varint(&mut out, u64::from(g.source));
            put_varint(&mut out, u64::from(g.catset));
            put_varint(&mut out, g.records);
            put_signed(&mut out, g.first_ms - base_ms);
            put_varint(&mut out, (g.last_ms - g.first_ms) as u64);
            bitmap.clear();
            // Writing into a Vec cannot fail.
            let _ = g.subjects.serialize_into(&mut bitmap);
            put_varint(&mut out, bitmap.len() as u64);
            out.extend_from_slice(&bitmap);
        }
        put_varint(&mut out, self.fields.len() as u64);
        for &(fieldset, records) in &self.fields {
            put_varint(&mut out, u64::from(fieldset));
            put_varint(&mut out, records);
        }
        out
    }

    /// Serialises the per-person list (what notification lists need).
    pub fn encode_people(&self, base_ms: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.people.len() * 9);
        out.push(PEOPLE_FORMAT);
        put_varint(&mut out, self.people.len() as u64);
        let mut previous = 0u32;
        for p in &self.people {
            put_varint(&mut out, u64::from(p.subject - previous));
            previous = p.subject;
            put_varint(&mut out, p.records);
            put_signed(&mut out, p.first_ms - base_ms);
            put_varint(&mut out, (p.last_ms - p.first_ms) as u64);
            put_varint(&mut out, p.groups);
        }
        out
    }

    /// Decodes the counts part and, when given, the people part.
    pub fn decode(counts: &[u8], people: Option<&[u8]>, base_ms: i64) -> Result<Rollup, CodecError> {
        Self::decode_with(counts, people, base_ms, 0)
    }

    /// Like [`Rollup::decode`], with the subject bitmaps of the first `skip_bitmaps` groups
    /// left empty: a per-person table reads the groups from the person list's bits, and needs
    /// the bitmaps only of groups past the 63rd.
    pub fn decode_with(
        counts: &[u8],
        people: Option<&[u8]>,
        base_ms: i64,
        skip_bitmaps: usize,
    ) -> Result<Rollup, CodecError> {
        let mut r = Reader::new(counts);
        if r.byte()? != COUNTS_FORMAT {
            return Err(CodecError("unknown rollup format"));
        }
        let n = r.varint()?;
        let mut groups = Vec::with_capacity(n.min(1024) as usize);
        for i in 0..n {
            let source = r.u32()?;
            let catset = r.u32()?;
            let records = r.varint()?;
            let first_ms = base_ms + r.signed()?;
            let last_ms = first_ms + r.varint()? as i64;
            let len = r.varint()? as usize;
            let bitmap = r.bytes(len)?;
            let subjects = if (i as usize) < skip_bitmaps {
                RoaringBitmap::new()
            } else {
                RoaringBitmap::deserialize_from(bitmap).map_err(|_| CodecError("bad bitmap"))?
            };
            groups.push(Group {
                source,
                catset,
                records,
                first_ms,
                last_ms,
                subjects,
            });
        }
        let n = r.varint()?;
        let mut fields = Vec::with_capacity(n.min(4096) as usize);
        for _ in 0..n {
            fields.push((r.u32()?, r.varint()?));
        }
        if !r.is_empty() {
            return Err(CodecError("trailing bytes"));
        }
        let mut out = Vec::new();
        if let Some(people) = people {
            let mut r = Reader::new(people);
            if r.byte()? != PEOPLE_FORMAT {
                return Err(CodecError("unknown rollup format"));
            }
            let n = r.varint()?;
            out.reserve(n.min(1 << 24) as usize);
            let mut subject = 0u32;
            for _ in 0..n {
                subject = subject
                    .checked_add(r.u32()?)
                    .ok_or(CodecError("subject out of range"))?;
                let records = r.varint()?;
                let first_ms = base_ms + r.signed()?;
                let last_ms = first_ms + r.varint()? as i64;
                let groups = r.varint()?;
                out.push(PersonDay {
                    subject,
                    records,
                    first_ms,
                    last_ms,
                    groups,
                });
            }
        }
        Ok(Rollup {
            groups,
            fields,
            people: out,
        })
    }
}

/// A span's per-person list in its stored form, decoded while it is walked: 90 days of them
/// take ~9 bytes a person-day instead of 32 decoded, so a whole range can be held at once
/// and walked subject by subject (see [`crate::ledger::query::people`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeopleList {
    bytes: Vec<u8>,
    base_ms: i64,
}

impl PeopleList {
    /// Checks a stored list's framing (its format byte, and exactly five varints a person
    /// after the count) without decoding it; the walk checks the rest.
    pub fn new(bytes: Vec<u8>, base_ms: i64) -> Result<PeopleList, CodecError> {
        let mut r = Reader::new(&bytes);
        if r.byte()? != PEOPLE_FORMAT {
            return Err(CodecError("unknown rollup format"));
        }
        let n = r.varint()?;
        let rest = r.remaining();
        // Every varint ends in one byte below 0x80 (counted eight bytes at a time).
        let words = rest.chunks_exact(8);
        let tail = words.remainder().iter().filter(|&&b| b < 0x80).count() as u64;
        let ends = words.fold(tail, |n, w| {
            let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            n + u64::from((!w & 0x8080_8080_8080_8080).count_ones())
        });
        if n.checked_mul(5) != Some(ends) || rest.last().is_some_and(|&b| b >= 0x80) {
            return Err(CodecError("people list does not match its count"));
        }
        Ok(PeopleList { bytes, base_ms })
    }

    /// The list of a rollup built on the fly.
    pub fn of(r: &Rollup, base_ms: i64) -> PeopleList {
        PeopleList {
            bytes: r.encode_people(base_ms),
            base_ms,
        }
    }

    /// Walks the list in subject order.
    pub fn cursor(&self) -> Result<PeopleCursor<'_>, CodecError> {
        let mut r = Reader::new(&self.bytes);
        if r.byte()? != PEOPLE_FORMAT {
            return Err(CodecError("unknown rollup format"));
        }
        let left = r.varint()?;
        let mut c = PeopleCursor {
            r,
            left,
            subject: 0,
            base_ms: self.base_ms,
            next: None,
        };
        c.advance()?;
        Ok(c)
    }

    pub fn len_bytes(&self) -> usize {
        self.bytes.len()
    }
}

/// A position in a [`PeopleList`]: the next person-day is decoded ahead, so a walk can stop
/// at a subject bound without losing it.
pub struct PeopleCursor<'a> {
    r: Reader<'a>,
    left: u64,
    subject: u32,
    base_ms: i64,
    next: Option<PersonDay>,
}

impl PeopleCursor<'_> {
    fn advance(&mut self) -> Result<(), CodecError> {
        if self.left == 0 {
            self.next = None;
            return Ok(());
        }
        self.left -= 1;
        let r = &mut self.r;
        self.subject = self
            .subject
            .checked_add(r.u32()?)
            .ok_or(CodecError("subject out of range"))?;
        let records = r.varint()?;
        let first_ms = self.base_ms + r.signed()?;
        let last_ms = first_ms + r.varint()? as i64;
        let groups = r.varint()?;
        self.next = Some(PersonDay {
            subject: self.subject,
            records,
            first_ms,
            last_ms,
            groups,
        });
        Ok(())
    }

    /// The next person-day whose subject is below `bound`, if any.
    #[inline]
    pub fn next_below(&mut self, bound: u64) -> Result<Option<PersonDay>, CodecError> {
        match self.next {
            Some(p) if u64::from(p.subject) < bound => {
                self.advance()?;
                Ok(Some(p))
            }
            _ => Ok(None),
        }
    }

    pub fn is_done(&self) -> bool {
        self.next.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(subject: u32, catset: u32, source: u32) -> EntryCode {
        EntryCode {
            subject,
            catset,
            fieldset: catset * 10,
            source,
            key_version: 1,
            event_ms: 0,
        }
    }

    #[test]
    fn builds_groups_fields_and_people() {
        let mut b = Builder::default();
        b.add(1000, &e(7, 1, 1));
        b.add(2000, &e(7, 1, 1));
        b.add(1500, &e(3, 2, 1));
        b.add(3000, &e(7, 2, 2));
        b.add(2500, &e(0, 1, 1));
        let r = b.finish();
        assert_eq!(r.records(), 5);
        assert_eq!(r.groups.len(), 3);
        let g0 = &r.groups[0];
        assert_eq!(
            (g0.source, g0.catset, g0.records, g0.first_ms, g0.last_ms),
            (1, 1, 3, 1000, 2500)
        );
        assert_eq!(g0.subjects.iter().collect::<Vec<_>>(), vec![7]);
        assert_eq!(r.fields, vec![(10, 3), (20, 2)]);
        assert_eq!(r.people.len(), 2);
        assert_eq!(
            r.people[1],
            PersonDay {
                subject: 7,
                records: 3,
                first_ms: 1000,
                last_ms: 3000,
                groups: 0b101
            }
        );
        let (counts, people) = (r.encode_counts(0), r.encode_people(0));
        assert_eq!(Rollup::decode(&counts, Some(&people), 0).unwrap(), r);
        let only = Rollup::decode(&counts, None, 0).unwrap();
        assert_eq!(
            (only.groups, only.fields, only.people.len()),
            (r.groups.clone(), r.fields.clone(), 0)
        );
        for cut in 0..counts.len() {
            assert!(Rollup::decode(&counts[..cut], None, 0).is_err());
        }
        for cut in 0..people.len() {
            assert!(Rollup::decode(&counts, Some(&people[..cut]), 0).is_err());
            assert!(PeopleList::new(people[..cut].to_vec(), 0).is_err());
        }
        let list = PeopleList::new(people.clone(), 0).unwrap();
        assert_eq!(list, PeopleList::of(&r, 0));
        let mut c = list.cursor().unwrap();
        assert_eq!(c.next_below(3).unwrap(), None, "subject 3 is not below 3");
        assert_eq!(c.next_below(4).unwrap(), Some(r.people[0]));
        assert_eq!(c.next_below(4).unwrap(), None);
        assert!(!c.is_done());
        assert_eq!(c.next_below(u64::MAX).unwrap(), Some(r.people[1]));
        assert!(c.is_done());
    }
}
