//! UTC calendar arithmetic for incident documents and deadline clocks, on `jiff`.
//!
//! Times are UTC milliseconds since the Unix epoch, as everywhere in vendorwall; dates are
//! the proleptic Gregorian calendar. No time-zone database is involved: every instant is
//! read and written in UTC.
//!
//! Every function is total: negative and extreme inputs never panic. Instants outside
//! `jiff`'s range (years -9999 to 9999) are clamped into it, and results that leave it
//! saturate at `i64::MIN` / `i64::MAX`. Years before 0000 are printed with a sign
//! (ISO 8601 expanded years, not strict RFC 3339).

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::Offset;
use jiff::{Span, Timestamp};

/// Milliseconds in one hour.
pub const MS_PER_HOUR: i64 = 3_600_000;
/// Milliseconds in one (UTC, leap-second-free) day.
pub const MS_PER_DAY: i64 = 86_400_000;

const EPOCH: Date = Date::constant(1970, 1, 1);

/// The UTC civil date and time of `ms`, clamped to `jiff`'s range.
fn utc(ms: i64) -> DateTime {
    let ms = ms.clamp(Timestamp::MIN.as_millisecond(), Timestamp::MAX.as_millisecond());
    Offset::UTC.to_datetime(Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Milliseconds since the epoch of a UTC civil date and time; saturates outside the range.
fn utc_ms(dt: DateTime) -> i64 {
    match Offset::UTC.to_timestamp(dt) {
        Ok(ts) => ts.as_millisecond(),
        Err(_) if dt.year() < 0 => i64::MIN,
        Err(_) => i64::MAX,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds; milliseconds are dropped, rounding
/// towards the past).
pub fn format_utc(ms: i64) -> String {
    let dt = utc(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Appends [`format_utc`]'s text to `out`.
pub fn push_utc(out: &mut Vec<u8>, ms: i64) {
    out.extend_from_slice(format_utc(ms).as_bytes());
}

fn two_digits(out: &mut Vec<u8>, n: i64) {
    out.push(b'0' + (n / 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// `HH:MM:SSZ` of `ms`: plain arithmetic, as a UTC day is always 86,400 seconds.
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
        // Whole days of years 0000–9999 that `jiff` represents in full; the rest (and their
        // overflowing day starts) take the long way.
        let last_whole_day = Timestamp::MAX.as_millisecond().div_euclid(MS_PER_DAY) * MS_PER_DAY;
        if !(-62_167_219_200_000..last_whole_day).contains(&ms) {
            return push_utc(out, ms);
        }
        let day = ms.div_euclid(MS_PER_DAY);
        let slot = &mut self.days[day.rem_euclid(512) as usize];
        if slot.0 != day {
            let text = format_utc(day * MS_PER_DAY);
            if text.len() != 20 {
                return push_utc(out, ms);
            }
            slot.1.copy_from_slice(&text.as_bytes()[..11]);
            slot.0 = day;
        }
        out.extend_from_slice(&slot.1);
        push_time_of_day(out, ms);
    }
}

/// `YYYY-MM-DD`: the UTC calendar date of `ms`.
pub fn format_date(ms: i64) -> String {
    let d = utc(ms).date();
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
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
    let start = utc(ms);
    // From Saturday or Sunday the next business day is Monday, as it is from Friday: count
    // from that Friday so whole weeks are exactly seven days.
    let back = match start.weekday() {
        Weekday::Saturday => 1,
        Weekday::Sunday => 2,
        _ => 0,
    };
    let add_days = |dt: DateTime, days: i64| Span::new().try_days(days).ok().and_then(|s| dt.checked_add(s).ok());
    let mut day = add_days(start, i64::from(n / 5) * 7 - back);
    for _ in 0..n % 5 {
        day = day.and_then(|d| add_days(d, if d.weekday() == Weekday::Friday { 3 } else { 1 }));
    }
    day.map_or(i64::MAX, utc_ms)
}

/// `ms` plus `n` calendar months, keeping the time of day. The day of the month is clamped
/// to the target month's length: 31 January + 1 month is 28 (or 29) February.
pub fn add_months(ms: i64, n: u32) -> i64 {
    Span::new()
        .try_months(i64::from(n))
        .ok()
        .and_then(|span| utc(ms).checked_add(span).ok())
        .map_or(i64::MAX, utc_ms)
}

/// `ms` plus `n` hours.
pub fn add_hours(ms: i64, n: u32) -> i64 {
    ms.saturating_add(i64::from(n) * MS_PER_HOUR)
}

/// `ms` plus `n` calendar days (UTC has no daylight saving: a day is always 24 hours).
pub fn add_days(ms: i64, n: u32) -> i64 {
    ms.saturating_add(i64::from(n) * MS_PER_DAY)
}

/// Days since 1970-01-01 of the civil date `year-month-day` (month 1–12, day 1–31).
/// Out-of-range months and days are not rejected; they roll over into a nearby date (the
/// 31st of February is early March), never a panic.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let months = i128::from(year) * 12 + i128::from(month) - 1;
    let year = months.div_euclid(12).clamp(-9999, 9999) as i16;
    let first = Date::new(year, months.rem_euclid(12) as i8 + 1, 1).unwrap_or(EPOCH);
    let date = Span::new()
        .try_days(i64::from(day) - 1)
        .ok()
        .and_then(|span| first.checked_add(span).ok())
        .unwrap_or(if day == 0 { Date::MIN } else { Date::MAX });
    date.since(EPOCH).map_or(0, |span| i64::from(span.get_days()))
}

/// The civil date `(year, month 1–12, day 1–31)` of `days` since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let date = Span::new()
        .try_days(days)
        .ok()
        .and_then(|span| EPOCH.checked_add(span).ok())
        .unwrap_or(if days < 0 { Date::MIN } else { Date::MAX });
    (i64::from(date.year()), date.month() as u32, date.day() as u32)
}

/// `YYYY-MM-DD`, or an RFC 3339 UTC time `YYYY-MM-DDTHH:MM[:SS[.fff]]` ending in `Z` or
/// `+00:00` → ms since the epoch (years 1970–9999, real calendar dates and times only).
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = match s.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (s, None),
    };
    // Four-digit years and two-digit months and days, with dashes: ISO 8601's other forms
    // (basic, expanded years) are not what a person typing a date means.
    let shape = date.len() == 10 && date.bytes().enumerate().all(|(i, b)| matches!(i, 4 | 7) == (b == b'-'));
    if !shape || !date.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    let at = match time {
        None => date.parse::<Date>().ok()?.to_datetime(jiff::civil::Time::midnight()),
        Some(time) => {
            let time = time.strip_suffix('Z').or_else(|| time.strip_suffix("+00:00"))?;
            // Only digits, colons and a decimal point are left: no sign, no other offset.
            if !time.bytes().all(|b| b.is_ascii_digit() || b == b':' || b == b'.') {
                return None;
            }
            format!("{date}T{time}").parse::<DateTime>().ok()?
        }
    };
    (1970..=9999).contains(&at.year()).then(|| utc_ms(at))
}

/// As [`parse_date`], but a bare date means the end of that day (23:59:59.999): `--to
/// 2025-11-09` includes the 9th.
pub fn parse_date_end(s: &str) -> Option<i64> {
    let ms = parse_date(s)?;
    Some(if s.contains('T') { ms } else { ms + MS_PER_DAY - 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Clamped to the last instant `jiff` represents.
        assert_eq!(format_utc(i64::MAX), format_utc(Timestamp::MAX.as_millisecond()));
        assert!(format_utc(i64::MAX).starts_with("9999-12-"));
        assert!(format_utc(i64::MIN).starts_with("-9999-01-"));
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
            assert!(Date::new(y as i16, m as i8, d as i8).is_ok(), "{y}-{m}-{d}");
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
                while matches!(utc(stepped).weekday(), Weekday::Saturday | Weekday::Sunday) {
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

    #[test]
    fn parses_dates_and_utc_times() {
        let day = days_from_civil(2025, 11, 9) * MS_PER_DAY;
        assert_eq!(parse_date("2025-11-09"), Some(day));
        assert_eq!(parse_date(" 2025-11-09 "), Some(day));
        assert_eq!(parse_date("2025-11-09T10:20:30Z"), Some(day + 37_230_000));
        assert_eq!(parse_date("2025-11-09T10:20:30+00:00"), Some(day + 37_230_000));
        assert_eq!(parse_date("2025-11-09T10:20:30.25Z"), Some(day + 37_230_250));
        assert_eq!(parse_date("2025-11-09T10:20Z"), Some(day + 37_200_000));
        assert_eq!(
            parse_date("2024-02-29"),
            Some(days_from_civil(2024, 2, 29) * MS_PER_DAY)
        );
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date_end("2025-11-09"), Some(day + MS_PER_DAY - 1));
        assert_eq!(parse_date_end("2025-11-09T10:20:30Z"), Some(day + 37_230_000));
    }

    #[test]
    fn rejects_what_is_not_a_utc_date_or_time() {
        for bad in [
            "",
            "2025-11-09T-1:00:00Z",
            "2025-11-09T-1:00:00",
            "2025-11-09T1:00:00Z",
            "2025-11-09T24:00:00Z",
            "2025-11-09T10:60:00Z",
            "2025-11-09T10:00:00",
            "2025-11-09T10:00:00+01:00",
            "2025-11-09T10:00:00-00:00",
            "2025-11-09T10:00:00ZZ",
            "2025-11-09T",
            "2025-02-29",
            "2025-02-30",
            "2025-13-01",
            "2025-00-10",
            "2025-11-00",
            "2025-11-9",
            "20251109",
            "+2025-11-09",
            "1969-12-31",
            "10000-01-01",
            "2025/11/09",
            "yesterday",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
            assert_eq!(parse_date_end(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn out_of_range_civil_dates_roll_over() {
        assert_eq!(days_from_civil(2025, 2, 31), days_from_civil(2025, 3, 3));
        assert_eq!(days_from_civil(2025, 13, 1), days_from_civil(2026, 1, 1));
        assert_eq!(days_from_civil(2025, 0, 1), days_from_civil(2024, 12, 1));
        assert_eq!(days_from_civil(2025, 3, 0), days_from_civil(2025, 2, 28));
    }
}
