//! Numbers and dates as a reader in one of a few locales writes them, for the notice
//! templates' `number`, `date` and `datetime` filters.
//!
//! A small hand-written table (month names, separators, date patterns as in the Unicode
//! CLDR's defaults, <https://cldr.unicode.org/>) rather than ICU: notices need a handful of
//! languages, whole numbers and calendar dates in UTC, nothing more.

use super::time::{MS_PER_DAY, civil_from_days, format_date};

/// One supported locale.
pub struct Locale {
    pub code: &'static str,
    /// Between groups of three digits.
    group: &'static str,
    decimal: &'static str,
    /// Digits a number needs before it is grouped at all (Spanish writes 1204, 38.211).
    min_grouping_digits: usize,
    months: [&'static str; 12],
    /// `{d}` day, `{dd}` two-digit day, `{m}` month name, `{mm}` two-digit month, `{y}` year.
    long: &'static str,
    short: &'static str,
}

/// Every supported locale; the first is the default.
pub const LOCALES: &[Locale] = &[
    Locale {
        code: "en",
        group: ",",
        decimal: ".",
        min_grouping_digits: 1,
        months: EN,
        long: "{m} {d}, {y}",
        short: "{mm}/{dd}/{y}",
    },
    Locale {
        code: "en-GB",
        group: ",",
        decimal: ".",
        min_grouping_digits: 1,
        months: EN,
        long: "{d} {m} {y}",
        short: "{dd}/{mm}/{y}",
    },
    Locale {
        code: "de",
        group: ".",
        decimal: ",",
        min_grouping_digits: 1,
        months: [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ],
        long: "{d}. {m} {y}",
        short: "{dd}.{mm}.{y}",
    },
    Locale {
        code: "fr",
        // A narrow no-break space, as CLDR has it.
        group: "\u{202f}",
        decimal: ",",
        min_grouping_digits: 1,
        months: [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ],
        long: "{d} {m} {y}",
        short: "{dd}/{mm}/{y}",
    },
    Locale {
        code: "es",
        group: ".",
        decimal: ",",
        min_grouping_digits: 2,
        months: [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ],
        long: "{d} de {m} de {y}",
        short: "{dd}/{mm}/{y}",
    },
    Locale {
        code: "it",
        group: ".",
        decimal: ",",
        min_grouping_digits: 1,
        months: [
            "gennaio",
            "febbraio",
            "marzo",
            "aprile",
            "maggio",
            "giugno",
            "luglio",
            "agosto",
            "settembre",
            "ottobre",
            "novembre",
            "dicembre",
        ],
        long: "{d} {m} {y}",
        short: "{dd}/{mm}/{y}",
    },
    Locale {
        code: "nl",
        group: ".",
        decimal: ",",
        min_grouping_digits: 1,
        months: [
            "januari",
            "februari",
            "maart",
            "april",
            "mei",
            "juni",
            "juli",
            "augustus",
            "september",
            "oktober",
            "november",
            "december",
        ],
        long: "{d} {m} {y}",
        short: "{dd}-{mm}-{y}",
    },
    Locale {
        code: "pt",
        group: ".",
        decimal: ",",
        min_grouping_digits: 1,
        months: [
            "janeiro",
            "fevereiro",
            "março",
            "abril",
            "maio",
            "junho",
            "julho",
            "agosto",
            "setembro",
            "outubro",
            "novembro",
            "dezembro",
        ],
        long: "{d} de {m} de {y}",
        short: "{dd}/{mm}/{y}",
    },
];

const EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// How a date is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateStyle {
    /// `2025-11-08`, the same in every locale.
    Iso,
    /// Numeric in the locale's order: `11/08/2025`, `08.11.2025`.
    Short,
    /// The month by name: `November 8, 2025`, `8. November 2025`.
    Long,
}

impl DateStyle {
    pub fn parse(s: &str) -> Option<DateStyle> {
        match s {
            "iso" => Some(DateStyle::Iso),
            "short" => Some(DateStyle::Short),
            "long" => Some(DateStyle::Long),
            _ => None,
        }
    }
}

/// The locale of a code (`de`, `en-GB`), or `None` when it is not supported.
pub fn find(code: &str) -> Option<&'static Locale> {
    LOCALES.iter().find(|l| l.code.eq_ignore_ascii_case(code))
}

/// The codes of every supported locale, for error messages and docs.
pub fn codes() -> String {
    LOCALES.iter().map(|l| l.code).collect::<Vec<_>>().join(", ")
}

impl Locale {
    /// An integer with the locale's group separator.
    pub fn integer(&self, n: i128) -> String {
        let digits = n.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 * self.group.len() + 1);
        if n < 0 {
            out.push('-');
        }
        if digits.len() < 4 + self.min_grouping_digits - 1 {
            out.push_str(&digits);
            return out;
        }
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(self.group);
            }
            out.push(c);
        }
        out
    }

    /// A number with `decimals` digits after the locale's decimal separator (rounded).
    pub fn decimal(&self, x: f64, decimals: usize) -> String {
        let text = format!("{:.*}", decimals, x.abs());
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        let whole: i128 = whole.parse().unwrap_or(0);
        let mut out = String::new();
        if x.is_sign_negative() && text.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
            out.push('-');
        }
        out.push_str(&self.integer(whole));
        if !fraction.is_empty() {
            out.push_str(self.decimal);
            out.push_str(fraction);
        }
        out
    }

    /// The UTC calendar day of `ms` (milliseconds since the epoch).
    pub fn date(&self, ms: i64, style: DateStyle) -> String {
        let (y, m, d) = civil_from_days(ms.div_euclid(MS_PER_DAY));
        let pattern = match style {
            DateStyle::Iso => return format_date(ms),
            DateStyle::Short => self.short,
            DateStyle::Long => self.long,
        };
        let month = self.months[(m as usize).saturating_sub(1).min(11)];
        pattern
            .replace("{dd}", &format!("{d:02}"))
            .replace("{mm}", &format!("{m:02}"))
            .replace("{d}", &d.to_string())
            .replace("{m}", month)
            .replace("{y}", &y.to_string())
    }

    /// The long date and the UTC time of day: `November 8, 2025, 14:00 UTC`.
    pub fn datetime(&self, ms: i64) -> String {
        let in_day = ms.rem_euclid(MS_PER_DAY) / 60_000;
        format!(
            "{}, {:02}:{:02} UTC",
            self.date(ms, DateStyle::Long),
            in_day / 60,
            in_day % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::time::days_from_civil;

    fn loc(code: &str) -> &'static Locale {
        find(code).unwrap()
    }

    #[test]
    fn numbers_group_as_each_locale_writes_them() {
        let cases = [
            ("en", 38211, "38,211"),
            ("en", 1204, "1,204"),
            ("en", 999, "999"),
            ("en", -1234567, "-1,234,567"),
            ("en-GB", 1000000, "1,000,000"),
            ("de", 38211, "38.211"),
            ("fr", 38211, "38\u{202f}211"),
            ("es", 1204, "1204"),
            ("es", 38211, "38.211"),
            ("it", 1204, "1.204"),
            ("nl", 1204, "1.204"),
            ("pt", 1234567, "1.234.567"),
            ("en", 0, "0"),
        ];
        for (code, n, want) in cases {
            assert_eq!(loc(code).integer(n), want, "{code} {n}");
        }
        assert_eq!(loc("en").integer(i128::from(u64::MAX)), "18,446,744,073,709,551,615");
        assert_eq!(loc("de").decimal(1234.5, 2), "1.234,50");
        assert_eq!(loc("en").decimal(-0.004, 2), "0.00");
        assert_eq!(loc("fr").decimal(-2.5, 1), "-2,5");
    }

    #[test]
    fn dates_follow_each_locale() {
        let ms = days_from_civil(2025, 11, 8) * MS_PER_DAY + 14 * 3_600_000 + 5 * 60_000;
        let cases = [
            ("en", "November 8, 2025", "11/08/2025"),
            ("en-GB", "8 November 2025", "08/11/2025"),
            ("de", "8. November 2025", "08.11.2025"),
            ("fr", "8 novembre 2025", "08/11/2025"),
            ("es", "8 de noviembre de 2025", "08/11/2025"),
            ("it", "8 novembre 2025", "08/11/2025"),
            ("nl", "8 november 2025", "08-11-2025"),
            ("pt", "8 de novembro de 2025", "08/11/2025"),
        ];
        for (code, long, short) in cases {
            assert_eq!(loc(code).date(ms, DateStyle::Long), long);
            assert_eq!(loc(code).date(ms, DateStyle::Short), short);
            assert_eq!(loc(code).date(ms, DateStyle::Iso), "2025-11-08");
        }
        assert_eq!(loc("de").datetime(ms), "8. November 2025, 14:05 UTC");
        assert_eq!(loc("en").date(-1, DateStyle::Long), "December 31, 1969");
        // Extremes do not panic.
        let _ = loc("fr").datetime(i64::MIN);
        let _ = loc("fr").datetime(i64::MAX);
    }

    #[test]
    fn locales_are_found_by_code_and_unknown_ones_are_not() {
        assert_eq!(find("EN-gb").map(|l| l.code), Some("en-GB"));
        assert!(find("xx").is_none());
        assert_eq!(codes(), "en, en-GB, de, fr, es, it, nl, pt");
        assert_eq!(DateStyle::parse("long"), Some(DateStyle::Long));
        assert_eq!(DateStyle::parse("full"), None);
    }
}
