//! Phone number validation against libphonenumber's metadata (the `phonenumber` crate).
//!
//! The crate's own `parse` keeps its compiled patterns in a 100-entry LRU behind a mutex;
//! for shared calling codes (+1 has 25 regions) it recompiles on every call, hundreds of
//! microseconds each. We only need "is this a valid number", so we take the metadata's
//! patterns (general description, then one of the number types: fixed line, mobile, toll
//! free, premium, shared cost, personal, VoIP, pager, UAN, voicemail, each with its
//! possible lengths), compile them once per calling code, and match the national
//! significant number against them, as libphonenumber's `isValidNumber` does.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::Regex;

struct Pattern {
    re: Regex,
    lengths: Vec<u16>,
}

impl Pattern {
    fn from(desc: &Descriptor) -> Option<Pattern> {
        let source: String = desc
            .national_number()
            .as_str()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let re = Regex::new(&format!("^(?:{source})$")).ok()?;
        Some(Pattern {
            re,
            lengths: desc.possible_length().to_vec(),
        })
    }

    fn matches(&self, nsn: &str, fallback_lengths: &[u16]) -> bool {
        let lengths = if self.lengths.is_empty() {
            fallback_lengths
        } else {
            &self.lengths
        };
        let len = u16::try_from(nsn.len()).unwrap_or(u16::MAX);
        (lengths.is_empty() || lengths.contains(&len)) && self.re.is_match(nsn)
    }
}

/// One region's compiled rules.
struct Region {
    id: String,
    national_prefix_for_parsing: Option<Regex>,
    general: Pattern,
    types: Vec<Pattern>,
}

impl Region {
    fn from(meta: &Metadata) -> Option<Region> {
        let d = meta.descriptors();
        let general = Pattern::from(d.general())?;
        let types = [
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        .filter_map(Pattern::from)
        .collect();
        let prefix_source = meta
            .national_prefix_for_parsing()
            .map(|r| r.as_str().chars().filter(|c| !c.is_whitespace()).collect::<String>())
            .or_else(|| meta.national_prefix().map(regex::escape));
        let national_prefix_for_parsing = prefix_source.and_then(|p| Regex::new(&format!("^(?:{p})")).ok());
        Some(Region {
            id: meta.id().to_owned(),
            national_prefix_for_parsing,
            general,
            types,
        })
    }

    /// libphonenumber's number-type check: the general pattern, then any specific type.
    fn valid_nsn(&self, nsn: &str) -> bool {
        self.general.matches(nsn, &[]) && self.types.iter().any(|t| t.matches(nsn, &self.general.lengths))
    }

    /// A number as dialled inside the region: with or without its national (trunk) prefix.
    fn valid_national(&self, digits: &str) -> bool {
        if let Some(prefix) = &self.national_prefix_for_parsing
            && let Some(m) = prefix.find(digits)
            && m.end() > 0
            && self.valid_nsn(&digits[m.end()..])
        {
            return true;
        }
        self.valid_nsn(digits)
    }
}

/// Compiled regions per calling code, filled on first use of each code.
static REGIONS: LazyLock<Mutex<HashMap<u16, Arc<Vec<Region>>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn regions(code: u16) -> Option<Arc<Vec<Region>>> {
    let mut map = match REGIONS.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(r) = map.get(&code) {
        return Some(Arc::clone(r));
    }
    let metas = DATABASE.by_code(&code)?;
    // The main country first: most numbers of a shared code (+1, +44, +7) are its.
    let mut metas = metas;
    metas.sort_by_key(|m| !m.is_main_country_for_code());
    let compiled: Vec<Region> = metas.into_iter().filter_map(Region::from).collect();
    if compiled.is_empty() {
        return None;
    }
    let arc = Arc::new(compiled);
    map.insert(code, Arc::clone(&arc));
    Some(arc)
}

/// Loads the metadata and compiles the most common calling codes ahead of the first phone
/// candidate (a few hundred milliseconds once, instead of on a request).
pub fn warm_up() {
    for code in [1, 44, 49, 91, 33] {
        let _ = regions(code);
    }
}

/// A valid number in international form: `digits` is the calling code followed by the
/// national significant number (what follows a `+` or `00`).
pub fn valid_international(digits: &str) -> bool {
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    // Calling codes are a prefix code: at most one of the 1-, 2- and 3-digit prefixes is assigned.
    for len in 1..=3 {
        let Ok(code) = digits[..len].parse::<u16>() else {
            continue;
        };
        if let Some(regions) = regions(code) {
            let nsn = &digits[len..];
            return regions.iter().any(|r| r.valid_nsn(nsn));
        }
    }
    false
}

/// A valid number as dialled nationally in one of `regions` (ISO 3166 ids, e.g. `"GB"`).
/// For NANP (`"US"`) every region sharing +1 is tried, so Canadian numbers count.
pub fn valid_national(digits: &str, region_ids: &[&str]) -> bool {
    if !(4..=17).contains(&digits.len()) || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    region_ids.iter().any(|id| {
        let Some(meta) = DATABASE.by_id(*id) else { return false };
        let code = meta.country_code();
        let Some(regions) = regions(code) else { return false };
        if code == 1 {
            regions.iter().any(|r| r.valid_national(digits))
        } else {
            regions.iter().filter(|r| r.id == *id).any(|r| r.valid_national(digits))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international() {
        for ok in [
            "14155552671",
            "442079460958",
            "447911123456",
            "4915123456789",
            "919876543210",
            "33142685300",
        ] {
            assert!(valid_international(ok), "{ok}");
        }
        for bad in ["11234567890", "4412", "999123456789", "1415555267"] {
            assert!(!valid_international(bad), "{bad}");
        }
    }

    #[test]
    fn warm_up_compiles_common_codes() {
        let started = std::time::Instant::now();
        warm_up();
        eprintln!("phone metadata warm-up: {:?}", started.elapsed());
        assert!(valid_international("14155552671"));
    }

    #[test]
    fn national() {
        assert!(valid_national("4155552671", &["US"]));
        assert!(valid_national("14155552671", &["US"]));
        assert!(valid_national("4165550123", &["US"]), "Toronto is NANP");
        assert!(valid_national("02079460958", &["GB"]));
        assert!(valid_national("09876543210", &["IN"]));
        assert!(valid_national("03012345678", &["DE"]));
        assert!(!valid_national("1234567890", &["US"]));
        assert!(!valid_national("02079460958", &["US"]));
    }
}
