//! UTC calendar arithmetic for incident documents and deadline clocks.
//!
//! Times are UTC milliseconds since the Unix epoch, as everywhere in vendorwall. Dates use
//! the proleptic Gregorian calendar through Howard Hinnant's `days_from_civil` and
//! `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>), so no
//! date crate is needed.
//!
//! Every function is total: negative and extreme inputs never panic. Arithmetic runs in
//! `i128` and results that leave the `i64` range saturate at `i64::MIN` / `i64::MAX`.
//! Years outside 0000–9999 are printed with as many digits as they need (and a sign when
//! negative); such strings are ISO 8601 expanded years, not strict RFC 3339.

/// Milliseconds in one hour.
pub const MS_PER_HOUR: i64 = 3_600_000;
/// Milliseconds in one (UTC, leap-second-free) day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds; milliseconds are dropped, rounding
/// towards the past).
pub fn format_utc(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let secs = ms.rem_euclid(MS_PER_DAY) / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Appends [`format_utc`]'s text to `out` without allocating (years 0000–9999; others fall
/// back to [`format_utc`]).
pub fn push_utc(out: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(MS_PER_DAY);
    // Years 0000–9999 in 64-bit arithmetic (a notification list formats millions of dates).
    let (year, month, day) = if (-719_468..=2_932_896).contains(&days) {
        civil_from_days_small(days)
    } else {
        civil_from_days(days)
    };
    if !(0..=9999).contains(&year) {
        out.extend_from_slice(format_utc(ms).as_bytes());
        return;
    }
    two_digits(out, year / 100);
    two_digits(out, year % 100);
    out.push(b'-');
    two_digits(out, i64::from(month));
    out.push(b'-');
    two_digits(out, i64::from(day));
    out.push(b'T');
    push_time_of_day(out, ms);
}

fn two_digits(out: &mut Vec<u8>, n: i64) {
    out.push(b'0' + (n / 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// `HH:MM:SSZ` of `ms`.
fn push_time_of_day(out: &mut Vec<u8>, ms: i64) {
    let secs = ms.rem_euclid(MS_PER_DAY) / 1000;
    two_digits(out, secs / 3600);
    out.push(b':');
    two_digits(out, secs / 60 % 60);
    out.push(b':');
    two_digits(out, secs % 60);
    out.push(b'Z');
}

/// [`push_utc`] for millions of times over a few hundred days (a notification list): each
/// day's date text is worked out once and kept in a small direct-mapped table.
pub struct UtcDates {
    /// (day, `YYYY-MM-DDT`) by day modulo the table's size.
    days: Vec<(i64, [u8; 11])>,
}

impl Default for UtcDates {
    fn default() -> Self {
        // i64::MIN is never a day number of an i64 millisecond time divided by a day.
        UtcDates {
            days: vec![(i64::MIN, [0; 11]); 512],
        }
    }
}

impl UtcDates {
    pub fn push(&mut self, out: &mut Vec<u8>, ms: i64) {
        // Years 0000–9999 only; the rest (and their overflowing day starts) take the long way.
        if !(-62_167_219_200_000..=253_402_300_799_999).contains(&ms) {
            return push_utc(out, ms);
        }
        let day = ms.div_euclid(MS_PER_DAY);
        let slot = &mut self.days[day.rem_euclid(512) as usize];
        if slot.0 != day {
            let mut text = Vec::with_capacity(24);
            push_utc(&mut text, day * MS_PER_DAY);
            if text.len() != 20 {
                return push_utc(out, ms);
            }
            slot.1.copy_from_slice(&text[..11]);
            slot.0 = day;
        }
        out.extend_from_slice(&slot.1);
        push_time_of_day(out, ms);
    }
}

/// `YYYY-MM-DD`: the UTC calendar date of `ms`.
pub fn format_date(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    format!("{year:04}-{month:02}-{day:02}")
}

/// `ms` plus `n` business days, keeping the time of day.
///
/// Business days are Monday to Friday. There is **no holiday calendar**: public holidays
/// count as business days, so the result can be earlier than a deadline that skips them,
/// never later. A start on a weekend counts from the following Monday (Saturday + 1 is
/// Monday). `n = 0` returns `ms` unchanged.
pub fn add_business_days(ms: i64, n: u32) -> i64 {
    if n == 0 {
        return ms;
    }
    let day = i128::from(ms.div_euclid(MS_PER_DAY));
    let time = i128::from(ms.rem_euclid(MS_PER_DAY));
    // From Saturday or Sunday the next business day is Monday, as it is from Friday: count
    // from that Friday so whole weeks are exactly seven days.
    let mut day = day
        - match weekday(day) {
            6 => 1,
            0 => 2,
            _ => 0,
        };
    day += i128::from(n / 5) * 7;
    for _ in 0..n % 5 {
        day += if weekday(day) == 5 { 3 } else { 1 };
    }
    clamp_i64(day * i128::from(MS_PER_DAY) + time)
}

/// `ms` plus `n` calendar months, keeping the time of day. The day of the month is clamped
/// to the target month's length: 31 January + 1 month is 28 (or 29) February.
pub fn add_months(ms: i64, n: u32) -> i64 {
    let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let months = i128::from(year) * 12 + i128::from(month) - 1 + i128::from(n);
    let year = clamp_i64(months.div_euclid(12));
    let month = months.rem_euclid(12) as u32 + 1;
    let day = day.min(days_in_month(year, month));
    let days = i128::from(days_from_civil(year, month, day));
    clamp_i64(days * i128::from(MS_PER_DAY) + i128::from(ms.rem_euclid(MS_PER_DAY)))
}

/// `ms` plus `n` hours.
pub fn add_hours(ms: i64, n: u32) -> i64 {
    clamp_i64(i128::from(ms) + i128::from(n) * i128::from(MS_PER_HOUR))
}

/// `ms` plus `n` calendar days (UTC has no daylight saving: a day is always 24 hours).
pub fn add_days(ms: i64, n: u32) -> i64 {
    clamp_i64(i128::from(ms) + i128::from(n) * i128::from(MS_PER_DAY))
}

/// Days since 1970-01-01 of the civil date `year-month-day` (month 1–12, day 1–31).
/// Out-of-range months and days are not rejected; they give a nearby date, never a panic.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let month = i128::from(month);
    let year = i128::from(year) - i128::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * if month > 2 { month - 3 } else { month + 9 } + 2) / 5 + i128::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    clamp_i64(era * 146_097 + day_of_era - 719_468)
}

/// The civil date `(year, month 1–12, day 1–31)` of `days` since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i128::from(month <= 2);
    (clamp_i64(year), month, day)
}

/// [`civil_from_days`] for days from 0000-03-01 to 9999-12-31, in `i64`.
fn civil_from_days_small(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// 0 = Sunday … 6 = Saturday. 1970-01-01 was a Thursday.
fn weekday(days: i128) -> i128 {
    (days + 4).rem_euclid(7)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC) → ms since the epoch (years
/// 1970–9999, real calendar dates only).
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once('T').unwrap_or((s, "00:00:00Z"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || !(1970..=9999).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=month_days[(m - 1) as usize]).contains(&day) {
        return None;
    }
    let time = time.strip_suffix('Z').or_else(|| time.strip_suffix("+00:00"))?;
    let (time, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next().flatten().unwrap_or(0));
    if hh > 23 || mm > 59 || ss > 60 || t.next().is_some() {
        return None;
    }
    let millis = match fraction.len() {
        0 => 0,
        _ if fraction.bytes().all(|b| b.is_ascii_digit()) => {
            let f: String = fraction.chars().chain("000".chars()).take(3).collect();
            f.parse::<i64>().ok()?
        }
        _ => return None,
    };
    let days = days_from_civil(y, m as u32, day as u32);
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + millis)
}

/// As [`parse_date`], but a bare date means the end of that day (23:59:59.999): `--to
/// 2025-11-09` includes the 9th.
pub fn parse_date_end(s: &str) -> Option<i64> {
    let ms = parse_date(s)?;
    Some(if s.contains('T') { ms } else { ms + 86_400_000 - 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_utc_matches_format_utc() {
        for day in (-719_468i64..2_932_897).step_by(997) {
            let ms = day * MS_PER_DAY + 12_345_678;
            let mut out = Vec::new();
            push_utc(&mut out, ms);
            assert_eq!(String::from_utf8(out).unwrap(), format_utc(ms), "{ms}");
        }
        for ms in [
            0,
            1_764_000_123_456,
            -1,
            253_402_300_799_000,
            253_402_300_800_000,
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            push_utc(&mut out, ms);
            assert_eq!(String::from_utf8(out).unwrap(), format_utc(ms), "{ms}");
        }
    }

    #[test]
    fn utc_dates_match_push_utc() {
        let mut dates = UtcDates::default();
        let mut times: Vec<i64> = (-719_468i64..2_932_897)
            .step_by(997)
            .map(|d| d * MS_PER_DAY + 12_345_678)
            .collect();
        // The same slot for different days, and repeats.
        times.extend([0, 512 * MS_PER_DAY, 0, 86_399_999, 1_764_000_123_456, 1_764_000_123_456]);
        times.extend([-1, -62_167_219_200_000, -62_167_219_200_001, 253_402_300_799_999]);
        times.extend([253_402_300_800_000, i64::MIN, i64::MAX]);
        for ms in times {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            push_utc(&mut a, ms);
            dates.push(&mut b, ms);
            assert_eq!(a, b, "{ms}");
        }
    }

    /// Milliseconds of a UTC date and time.
    fn at(year: i64, month: u32, day: u32, hour: i64, minute: i64) -> i64 {
        days_from_civil(year, month, day) * MS_PER_DAY + hour * MS_PER_HOUR + minute * 60_000
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_764_028_800_000), "2025-11-25T00:00:00Z");
        assert_eq!(
            format_utc(1_764_028_800_000 + 13 * MS_PER_HOUR + 5 * 60_000 + 9_999),
            "2025-11-25T13:05:09Z"
        );
        assert_eq!(format_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(format_date(1_764_028_800_000 + MS_PER_DAY - 1), "2025-11-25");
        assert_eq!(format_date(4_107_542_400_000), "2100-03-01");
    }

    #[test]
    fn before_the_epoch_rounds_towards_the_past() {
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_utc(-MS_PER_DAY), "1969-12-31T00:00:00Z");
        assert_eq!(format_date(at(1600, 3, 1, 0, 0)), "1600-03-01");
        assert_eq!(format_date(at(-1, 12, 31, 0, 0)), "-001-12-31");
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        for ms in [i64::MIN, i64::MIN + 1, -1, i64::MAX - 1, i64::MAX] {
            assert!(format_utc(ms).ends_with('Z'));
            assert!(!format_date(ms).is_empty());
            assert!(add_business_days(ms, u32::MAX) >= ms);
            assert!(add_months(ms, u32::MAX) >= ms);
            assert!(add_hours(ms, u32::MAX) >= ms);
            assert!(add_days(ms, u32::MAX) >= ms);
        }
        assert_eq!(format_utc(i64::MAX), "292278994-08-17T07:12:55Z");
        assert_eq!(add_days(i64::MAX, 1), i64::MAX, "saturates");
        let _ = days_from_civil(i64::MAX, 99, 99);
        let _ = days_from_civil(i64::MIN, 0, 0);
        let _ = civil_from_days(i64::MAX);
        let _ = civil_from_days(i64::MIN);
    }

    #[test]
    fn civil_round_trips() {
        for days in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d));
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2,
            "2000 is a leap year"
        );
        assert_eq!(
            days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28),
            1,
            "1900 is not"
        );
    }

    #[test]
    fn business_days_skip_weekends_and_keep_the_time() {
        // 2025-11-27 is a Thursday (Thanksgiving: holidays are not skipped).
        let thursday = at(2025, 11, 27, 15, 30);
        assert_eq!(format_utc(add_business_days(thursday, 1)), "2025-11-28T15:30:00Z");
        assert_eq!(format_utc(add_business_days(thursday, 2)), "2025-12-01T15:30:00Z");
        assert_eq!(format_utc(add_business_days(thursday, 4)), "2025-12-03T15:30:00Z");
        assert_eq!(format_utc(add_business_days(thursday, 5)), "2025-12-04T15:30:00Z");
        assert_eq!(format_utc(add_business_days(thursday, 10)), "2025-12-11T15:30:00Z");
        assert_eq!(add_business_days(thursday, 0), thursday);
        let friday = at(2025, 11, 28, 9, 0);
        assert_eq!(format_date(add_business_days(friday, 1)), "2025-12-01");
        assert_eq!(format_date(add_business_days(friday, 5)), "2025-12-05");
    }

    #[test]
    fn business_days_from_a_weekend_count_from_monday() {
        let saturday = at(2025, 11, 29, 12, 0);
        let sunday = at(2025, 11, 30, 12, 0);
        for start in [saturday, sunday] {
            assert_eq!(format_date(add_business_days(start, 1)), "2025-12-01");
            assert_eq!(format_date(add_business_days(start, 4)), "2025-12-04");
            assert_eq!(format_date(add_business_days(start, 5)), "2025-12-05");
            assert_eq!(format_date(add_business_days(start, 6)), "2025-12-08");
        }
    }

    #[test]
    fn business_days_agree_with_stepping_one_day_at_a_time() {
        let start = at(2024, 1, 1, 6, 0);
        for offset in 0..14 {
            let from = start + offset * MS_PER_DAY;
            let mut stepped = from;
            for n in 1..=23 {
                stepped += MS_PER_DAY;
                while matches!(weekday(i128::from(stepped.div_euclid(MS_PER_DAY))), 0 | 6) {
                    stepped += MS_PER_DAY;
                }
                assert_eq!(add_business_days(from, n), stepped, "offset {offset}, n {n}");
            }
        }
    }

    #[test]
    fn months_are_calendar_months() {
        assert_eq!(
            format_utc(add_months(at(2025, 11, 25, 8, 0), 1)),
            "2025-12-25T08:00:00Z"
        );
        assert_eq!(format_date(add_months(at(2025, 12, 15, 0, 0), 1)), "2026-01-15");
        assert_eq!(format_date(add_months(at(2026, 1, 31, 0, 0), 1)), "2026-02-28");
        assert_eq!(format_date(add_months(at(2024, 1, 31, 0, 0), 1)), "2024-02-29");
        assert_eq!(format_date(add_months(at(2025, 3, 31, 0, 0), 1)), "2025-04-30");
        assert_eq!(format_date(add_months(at(2025, 1, 31, 0, 0), 13)), "2026-02-28");
        assert_eq!(format_date(add_months(at(1969, 12, 31, 0, 0), 2)), "1970-02-28");
        assert_eq!(add_months(at(2025, 5, 5, 0, 0), 0), at(2025, 5, 5, 0, 0));
    }

    #[test]
    fn hours_and_days() {
        let aware = at(2025, 11, 25, 0, 0);
        assert_eq!(format_utc(add_hours(aware, 72)), "2025-11-28T00:00:00Z");
        assert_eq!(format_utc(add_days(aware, 30)), "2025-12-25T00:00:00Z");
    }
}
