//! Questions to the ledger: what did a destination receive in a span of delivery time, and
//! about whom.
//!
//! Both answers are built from day rollups ([`super::rollup`]): the counts from unions of
//! per-group subject bitmaps, the per-person table from the rollups' sorted person lists. Ids
//! that SDK traffic linked (identify, alias, `$merge`) are mapped to one person first, so a
//! person's anonymous and identified activity count once.

use std::collections::{BTreeMap, HashMap};

use roaring::RoaringBitmap;

use super::codec::CodecError;
use super::rollup::{DAY_MS, Group, PeopleList, Rollup, day_of};
use crate::incident::report::{CategoryExposure, SourceExposure};
use crate::store::{LedgerStore, StoreError};

/// An interned category set: the categories a record sent, those of them sent only as keyed
/// pseudonyms, and those the policy held back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatSet {
    pub sent: Vec<u32>,
    pub pseudonymised: Vec<u32>,
    pub held_back: Vec<u32>,
}

/// The ledger's interned names and sets.
#[derive(Debug, Clone, Default)]
pub struct Dict {
    pub names: HashMap<u32, String>,
    pub catsets: HashMap<u32, CatSet>,
    pub fieldsets: HashMap<u32, Vec<u32>>,
}

impl Dict {
    pub fn name(&self, id: u32) -> &str {
        self.names.get(&id).map_or("", String::as_str)
    }

    pub fn names_of(&self, ids: &[u32]) -> Vec<String> {
        let mut v: Vec<String> = ids.iter().map(|&i| self.name(i).to_owned()).collect();
        v.sort();
        v
    }
}

/// Linked subjects: each maps to its person (the subject the linking record was about).
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// Subject → person for linked subjects; 0 where a subject is not linked (subject
    /// numbers start at 1). Dense: one lookup per person-day in `people`.
    dense: Vec<u32>,
    linked: RoaringBitmap,
    /// Subjects per person, indexed by person; 0 for a person never linked. Dense: one
    /// lookup per row of a notification list, in roughly ascending order.
    members: Vec<u32>,
    /// The largest person a linked subject maps to.
    max_person: u32,
}

impl Links {
    /// From (subject, person) pairs.
    pub fn new(mut pairs: Vec<(u32, u32)>) -> Links {
        pairs.sort_unstable();
        let mut dense = vec![0u32; pairs.last().map_or(0, |p| p.0 as usize + 1)];
        for &(s, p) in &pairs {
            dense[s as usize] = p;
        }
        let linked = RoaringBitmap::from_sorted_iter(pairs.iter().map(|p| p.0)).unwrap_or_default();
        Links {
            max_person: pairs.iter().map(|p| p.1).max().unwrap_or(0),
            dense,
            linked,
            members: Vec::new(),
        }
    }

    /// Also counts each person's subjects (for [`Links::members`]).
    pub fn with_members(mut self) -> Links {
        let mut members = vec![0u32; self.max_person as usize + 1];
        for &root in self.dense.iter().filter(|&&p| p != 0) {
            // The person's own subject, then each one linked to it.
            let m = &mut members[root as usize];
            *m = m.saturating_add(if *m == 0 { 2 } else { 1 });
        }
        self.members = members;
        self
    }

    #[inline]
    pub fn person(&self, subject: u32) -> u32 {
        match self.dense.get(subject as usize) {
            Some(&p) if p != 0 => p,
            _ => subject,
        }
    }

    /// How many subjects make up a person (1 when never linked); needs [`Links::with_members`].
    pub fn members(&self, person: u32) -> u32 {
        match self.members.get(person as usize) {
            Some(&m) if m != 0 => m,
            _ => 1,
        }
    }

    /// The distinct people among a set of subjects.
    pub fn people(&self, subjects: &RoaringBitmap) -> RoaringBitmap {
        if self.linked.is_empty() {
            return subjects.clone();
        }
        let mut out = subjects - &self.linked;
        // The persons of the linked subjects, marked in a bitset and read back in order
        // (cheaper than sorting a million of them, for every category).
        let mut marks = vec![0u64; self.max_person as usize / 64 + 1];
        for s in &(subjects & &self.linked) {
            let p = self.person(s) as usize;
            marks[p / 64] |= 1 << (p % 64);
        }
        let persons = marks.iter().enumerate().flat_map(|(w, &bits)| {
            let mut bits = bits;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros();
                    bits &= bits - 1;
                    (w * 64) as u32 + b
                })
            })
        });
        out |= RoaringBitmap::from_sorted_iter(persons).unwrap_or_default();
        out
    }
}

/// What a destination received in a span of delivery time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub people: u64,
    pub records: u64,
    pub categories: BTreeMap<String, CategoryExposure>,
    pub fields: BTreeMap<String, u64>,
    pub first_exposure_ms: Option<i64>,
    pub last_exposure_ms: Option<i64>,
    pub sources: BTreeMap<String, SourceExposure>,
    pub held_back: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Acc {
    records: u64,
    first_ms: i64,
    last_ms: i64,
    subjects: RoaringBitmap,
}

/// The groups and field counts of a span, summed over its rollups.
#[derive(Default)]
struct Sums {
    groups: HashMap<(u32, u32), Acc>,
    fields: HashMap<u32, u64>,
}

impl Sums {
    fn add_group(&mut self, g: Group) {
        let a = self.groups.entry((g.source, g.catset)).or_insert(Acc {
            first_ms: i64::MAX,
            last_ms: i64::MIN,
            ..Acc::default()
        });
        a.records += g.records;
        a.first_ms = a.first_ms.min(g.first_ms);
        a.last_ms = a.last_ms.max(g.last_ms);
        a.subjects |= g.subjects;
    }

    fn of(store: &dyn LedgerStore, destination: &str, from_ms: i64, to_ms: i64) -> Result<Sums, StoreError> {
        let mut sums = Sums::default();
        store.ledger_rollups(destination, from_ms, to_ms, false, &mut |r: Rollup, _| {
            for g in r.groups {
                sums.add_group(g);
            }
            for (fs, n) in r.fields {
                *sums.fields.entry(fs).or_default() += n;
            }
        })?;
        Ok(sums)
    }

    fn merge(&mut self, other: Sums) {
        for ((source, catset), a) in other.groups {
            self.add_group(Group {
                source,
                catset,
                records: a.records,
                first_ms: a.first_ms,
                last_ms: a.last_ms,
                subjects: a.subjects,
            });
        }
        for (fs, n) in other.fields {
            *self.fields.entry(fs).or_default() += n;
        }
    }
}

/// Where to cut a span of deliveries in two at a day boundary, so that each half's rollups
/// are read and unioned on a core of their own (whole days stay whole, so the halves read
/// exactly the rollups and edge batches the whole span would).
fn split_day(first_ms: i64, last_ms: i64) -> Option<i64> {
    let mid = day_of(first_ms + (last_ms - first_ms) / 2) * DAY_MS;
    (mid > first_ms && mid <= last_ms).then_some(mid)
}

/// Counts what `destination` received between `from_ms` and `to_ms` (delivery time,
/// inclusive).
///
/// The links, the dictionary and the two halves of the span are read at once, each on its
/// own connection: a first query after the store's files left the page cache spends much of
/// its time waiting for the links' scattered pages.
pub fn figures(store: &dyn LedgerStore, destination: &str, from_ms: i64, to_ms: i64) -> Result<Figures, StoreError> {
    let (dict, links, sums) = std::thread::scope(|scope| -> Result<_, StoreError> {
        let links = scope.spawn(|| store.ledger_links().map(Links::new));
        let dict = scope.spawn(|| store.ledger_dict());
        let span = store.ledger_delivery_span(destination, from_ms, to_ms)?;
        let sums = match span.and_then(|(first, last)| split_day(first, last)) {
            Some(mid) => {
                let later = scope.spawn(move || Sums::of(store, destination, mid, to_ms));
                let mut sums = Sums::of(store, destination, from_ms, mid - 1)?;
                sums.merge(join(later)??);
                sums
            }
            None if span.is_some() => Sums::of(store, destination, from_ms, to_ms)?,
            None => Sums::default(),
        };
        Ok((join(dict)??, join(links)??, sums))
    })?;
    let Sums { groups, fields } = sums;

    let mut f = Figures::default();
    let mut all = RoaringBitmap::new();
    let mut by_category: BTreeMap<String, (u64, RoaringBitmap, bool)> = BTreeMap::new();
    let mut by_source: BTreeMap<String, (u64, RoaringBitmap)> = BTreeMap::new();
    for (&(source, catset), a) in &groups {
        f.records += a.records;
        f.first_exposure_ms = Some(f.first_exposure_ms.map_or(a.first_ms, |x| x.min(a.first_ms)));
        f.last_exposure_ms = Some(f.last_exposure_ms.map_or(a.last_ms, |x| x.max(a.last_ms)));
        all |= &a.subjects;
        let s = by_source.entry(dict.name(source).to_owned()).or_default();
        s.0 += a.records;
        s.1 |= &a.subjects;
        let cats = dict.catsets.get(&catset).cloned().unwrap_or_default();
        for c in &cats.sent {
            let e = by_category
                .entry(dict.name(*c).to_owned())
                .or_insert((0, RoaringBitmap::new(), true));
            e.0 += a.records;
            e.1 |= &a.subjects;
            e.2 &= cats.pseudonymised.contains(c);
        }
        for c in &cats.held_back {
            *f.held_back.entry(dict.name(*c).to_owned()).or_default() += a.records;
        }
    }
    f.people = links.people(&all).len();
    f.categories = by_category
        .into_iter()
        .map(|(k, (records, subjects, pseudonymised_only))| {
            let people = links.people(&subjects).len();
            (
                k,
                CategoryExposure {
                    people,
                    records,
                    pseudonymised_only,
                },
            )
        })
        .collect();
    f.sources = by_source
        .into_iter()
        .map(|(k, (records, subjects))| {
            let people = links.people(&subjects).len();
            (k, SourceExposure { people, records })
        })
        .collect();
    for (fs, n) in fields {
        for p in dict.fieldsets.get(&fs).map_or(&[][..], Vec::as_slice) {
            *f.fields.entry(dict.name(*p).to_owned()).or_default() += n;
        }
    }
    Ok(f)
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> Result<T, StoreError> {
    h.join()
        .map_err(|_| StoreError::Unavailable("a ledger query thread stopped unexpectedly".into()))
}

/// Per affected person: records, first and last delivery, categories received.
pub struct People {
    pub links: Links,
    /// Category names; bit `i` of a person's mask is `categories[i]`. Categories past the
    /// 63rd share bit 63, which then names all of them (a notification list may over-state
    /// what one person got, never under-state it).
    pub categories: Vec<String>,
    /// Indexed by person: 24 bytes each, so 10 million people take 240 MB and an update
    /// touches one cache line.
    acc: Vec<PersonAcc>,
}

#[derive(Debug, Clone, Copy)]
struct PersonAcc {
    records: u32,
    /// Seconds since the epoch (the notification list shows whole seconds).
    first_s: u32,
    last_s: u32,
    mask: u64,
}

const EMPTY: PersonAcc = PersonAcc {
    records: 0,
    first_s: u32::MAX,
    last_s: 0,
    mask: 0,
};

fn secs(ms: i64) -> u32 {
    (ms.div_euclid(1000)).clamp(0, i64::from(u32::MAX)) as u32
}

/// One affected person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person {
    pub person: u32,
    pub records: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// The categories received: see [`People::category_names`].
    pub mask: u64,
}

impl People {
    pub fn get(&self, person: u32) -> Option<Person> {
        let a = self.acc.get(person as usize)?;
        (a.records > 0).then_some(Person {
            person,
            records: u64::from(a.records),
            first_ms: i64::from(a.first_s) * 1000,
            last_ms: i64::from(a.last_s) * 1000,
            mask: a.mask,
        })
    }

    /// The category names of a mask, in first-seen order.
    pub fn category_names(&self, mask: u64) -> Vec<&str> {
        (0..self.categories.len())
            .filter(|&b| mask & (1u64 << b.min(63)) != 0)
            .map(|b| self.categories[b].as_str())
            .collect()
    }

    /// Affected people, in person order.
    pub fn iter(&self) -> impl Iterator<Item = Person> + '_ {
        (0..self.acc.len() as u32).filter_map(|p| self.get(p))
    }

    pub fn count(&self) -> usize {
        self.acc.iter().filter(|a| a.records > 0).count()
    }
}

/// One span's part of the per-person table: what its groups mean, and its person list.
struct PeopleSpan {
    /// Category bits of each group.
    group_mask: Vec<u64>,
    /// Groups past the 63rd (they share bit 63): their subjects and category bits.
    overflow: Vec<(RoaringBitmap, u64)>,
    people: PeopleList,
}

/// Subjects per step of the walk: the accumulators of one block (24 bytes each, 384 KB) and
/// its stretch of the link map stay in the core's cache while every span's list passes
/// through it.
const BLOCK: u64 = 1 << 14;

/// Builds the per-person table of what `destination` received in the span.
///
/// The spans' person lists are held in their stored form, up to `WINDOW_BYTES` (64 MB) at a time,
/// and each window is walked together one block of subjects at a time. Walking span after
/// span instead would sweep the whole 240 MB table once per day, a cache miss per
/// person-day.
pub fn people(store: &dyn LedgerStore, destination: &str, from_ms: i64, to_ms: i64) -> Result<People, StoreError> {
    people_windowed(store, destination, from_ms, to_ms, WINDOW_BYTES)
}

/// [`people`] with person lists walked whenever `window_bytes` of them are held.
pub(crate) fn people_windowed(
    store: &dyn LedgerStore,
    destination: &str,
    from_ms: i64,
    to_ms: i64,
    window_bytes: usize,
) -> Result<People, StoreError> {
    let dict = store.ledger_dict()?;
    let links = Links::new(store.ledger_links()?).with_members();
    let mut categories = Vec::new();
    let mut cat_bits: HashMap<u32, u64> = HashMap::new();
    let mut spans: Vec<PeopleSpan> = Vec::new();
    let mut held = 0usize;
    let mut acc: Vec<PersonAcc> = Vec::new();
    let mut failed: Option<CodecError> = None;
    store.ledger_rollups(destination, from_ms, to_ms, true, &mut |r: Rollup, people| {
        let Some(people) = people else { return };
        if failed.is_some() {
            return;
        }
        let group_mask: Vec<u64> = r
            .groups
            .iter()
            .map(|g| catset_mask(&dict, g, &mut cat_bits, &mut categories))
            .collect();
        let overflow = r
            .groups
            .into_iter()
            .zip(&group_mask)
            .skip(63)
            .map(|(g, &m)| (g.subjects, m))
            .collect();
        held += people.len_bytes();
        spans.push(PeopleSpan {
            group_mask,
            overflow,
            people,
        });
        // Memory stays bounded however long the range: the days held so far are walked
        // into the accumulators and dropped once they pass the cap.
        if held >= window_bytes {
            if let Err(e) = walk(&spans, &links, &mut acc) {
                failed = Some(e);
            }
            spans.clear();
            held = 0;
        }
    })?;
    let damaged = |e: CodecError| {
        StoreError::Corrupt(format!(
            "a stored rollup's person list is damaged ({e}); run `vendorwall ledger verify`"
        ))
    };
    if let Some(e) = failed {
        return Err(damaged(e));
    }
    walk(&spans, &links, &mut acc).map_err(damaged)?;
    Ok(People { links, categories, acc })
}

/// Person lists held before they are walked: ~64 MB, about 25 days of a 10-million-person
/// ledger. Each window sweeps the accumulators once, so a 90-day range costs a few sweeps
/// instead of one, and a range of years no more memory than this.
const WINDOW_BYTES: usize = 64 << 20;

/// Adds the person-days of `spans` to `acc`, walking all spans together one block of
/// subjects at a time so the block's accumulators stay in cache.
fn walk(spans: &[PeopleSpan], links: &Links, acc: &mut Vec<PersonAcc>) -> Result<(), CodecError> {
    let mut cursors = spans.iter().map(|s| s.people.cursor()).collect::<Result<Vec<_>, _>>()?;
    let mut bound = 0u64;
    while cursors.iter().any(|c| !c.is_done()) {
        bound += BLOCK;
        for (span, c) in spans.iter().zip(&mut cursors) {
            while let Some(p) = c.next_below(bound)? {
                let person = links.person(p.subject) as usize;
                if person >= acc.len() {
                    acc.resize((person + 1).max(bound as usize), EMPTY);
                }
                let mut mask = 0u64;
                // The groups this person-day was in: usually one or two of a few dozen bits.
                let mut bits = p.groups & !(1u64 << 63);
                while bits != 0 {
                    mask |= span
                        .group_mask
                        .get(bits.trailing_zeros() as usize)
                        .copied()
                        .unwrap_or(0);
                    bits &= bits - 1;
                }
                if p.groups & (1u64 << 63) != 0 {
                    for (subjects, m) in &span.overflow {
                        if subjects.contains(p.subject) {
                            mask |= m;
                        }
                    }
                }
                let a = &mut acc[person];
                a.records = a.records.saturating_add(p.records.min(u64::from(u32::MAX)) as u32);
                a.first_s = a.first_s.min(secs(p.first_ms));
                a.last_s = a.last_s.max(secs(p.last_ms));
                a.mask |= mask;
            }
        }
    }
    Ok(())
}

fn catset_mask(dict: &Dict, g: &Group, bits: &mut HashMap<u32, u64>, names: &mut Vec<String>) -> u64 {
    let mut mask = 0u64;
    for c in dict.catsets.get(&g.catset).map_or(&[][..], |c| c.sent.as_slice()) {
        let bit = *bits.entry(*c).or_insert_with(|| {
            names.push(dict.name(*c).to_owned());
            1u64 << (names.len() - 1).min(63)
        });
        mask |= bit;
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linked_subjects_count_as_one_person() {
        let links = Links::new(vec![(5, 2), (9, 2), (7, 3)]).with_members();
        let subjects: RoaringBitmap = [2, 5, 9, 7, 11].into_iter().collect();
        assert_eq!(links.people(&subjects).iter().collect::<Vec<_>>(), vec![2, 3, 11]);
        let only_linked: RoaringBitmap = [9].into_iter().collect();
        assert_eq!(links.people(&only_linked).iter().collect::<Vec<_>>(), vec![2]);
        assert_eq!((links.members(2), links.members(3), links.members(11)), (3, 2, 1));
    }
}
