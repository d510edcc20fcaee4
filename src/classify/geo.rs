//! Coordinate notations beside plain `lat,lng` text: degrees-minutes-seconds and
//! degree-minute angles with hemispheres (`48°51'24"N 2°21'03"E`, `N48 51.4 E2 21.05`,
//! `48.8584° N, 2.2945° E`), ISO 6709 strings (`+48.8577+002.2950/`), `geo:` URIs
//! (RFC 5870, `geo:48.8577,2.2950;u=35`) and WKT points (`POINT(2.2950 48.8577)`, longitude
//! first).
//!
//! Precise or coarse by the notation's resolution, as for decimal degrees: a position whose
//! last written digit is finer than about 500 m (0.005°: three decimals of a degree, a
//! tenth of a minute, a second) is precise; coarser is coarse.
//!
//! References: RFC 5870 (`geo` URI), ISO 6709:2008 Annex H (string representation),
//! OGC 06-103r4 (WKT `POINT`).

use super::detectors::DetectorId as D;
use super::scan::{Hit, Out, note};
use super::taxonomy as t;

/// Coarsest resolution, in degrees, still reported as a precise position.
const PRECISE_RESOLUTION: f64 = 0.005;

fn category(resolution: f64) -> &'static str {
    if resolution <= PRECISE_RESOLUTION {
        t::PRECISE_LOCATION
    } else {
        t::COARSE_LOCATION
    }
}

/// A decimal number at `i`: (end, value, decimals, integer digits). No sign.
fn decimal(b: &[u8], i: usize) -> Option<(usize, f64, usize, usize)> {
    let int_end = run(b, i, u8::is_ascii_digit);
    if int_end == i {
        return None;
    }
    let (end, decimals) = if b.get(int_end) == Some(&b'.') && b.get(int_end + 1).is_some_and(u8::is_ascii_digit) {
        let e = run(b, int_end + 1, u8::is_ascii_digit);
        (e, e - int_end - 1)
    } else {
        (int_end, 0)
    };
    let value = std::str::from_utf8(&b[i..end]).ok()?.parse().ok()?;
    Some((end, value, decimals, int_end - i))
}

fn run(b: &[u8], mut i: usize, pred: impl Fn(&u8) -> bool) -> usize {
    while i < b.len() && pred(&b[i]) {
        i += 1;
    }
    i
}

fn spaces(b: &[u8], i: usize) -> usize {
    run(b, i, |&c| c == b' ')
}

/// The length of one of `marks` at `i`.
fn mark(b: &[u8], i: usize, marks: &[&str]) -> usize {
    marks
        .iter()
        .find(|m| b[i..].starts_with(m.as_bytes()))
        .map_or(0, |m| m.len())
}

const DEGREE: &[&str] = &["°", "º", "˚"];
const MINUTE: &[&str] = &["′", "'", "’"];
const SECOND: &[&str] = &["″", "\"", "''", "”", "’’"];

/// An angle with a hemisphere letter before or after it.
struct Angle {
    start: usize,
    end: usize,
    degrees: f64,
    hemisphere: u8,
    resolution: f64,
}

fn hemisphere(c: u8) -> bool {
    matches!(c, b'N' | b'S' | b'E' | b'W')
}

fn angle(b: &[u8], i: usize) -> Option<Angle> {
    let mut k = i;
    let mut hemi = None;
    if hemisphere(b[k]) {
        hemi = Some(b[k]);
        k = spaces(b, k + 1);
    }
    let (deg_end, deg, deg_dec, deg_int) = decimal(b, k)?;
    if deg_int > 3 {
        return None;
    }
    k = deg_end;
    let symbol = mark(b, k, DEGREE);
    k = spaces(b, k + symbol);
    let mut resolution = 10f64.powi(-(deg_dec as i32));
    let mut value = deg;
    let mut minutes = false;
    let mut end = deg_end + symbol;
    if deg_dec == 0
        && let Some((m_end, m, m_dec, m_int)) = decimal(b, k)
        && m_int <= 2
        && m < 60.0
    {
        minutes = true;
        value += m / 60.0;
        resolution = 10f64.powi(-(m_dec as i32)) / 60.0;
        k = m_end + mark(b, m_end, MINUTE);
        end = k;
        let after_minute = spaces(b, k);
        if m_dec == 0
            && let Some((s_end, sec, s_dec, s_int)) = decimal(b, after_minute)
            && s_int <= 2
            && sec < 60.0
        {
            value += sec / 3600.0;
            resolution = 10f64.powi(-(s_dec as i32)) / 3600.0;
            k = s_end + mark(b, s_end, SECOND);
            end = k;
        }
    }
    if symbol == 0 && !minutes {
        return None;
    }
    if hemi.is_none() {
        let h = spaces(b, end);
        if h - end <= 1
            && b.get(h).copied().is_some_and(hemisphere)
            && b.get(h + 1).is_none_or(|c| !c.is_ascii_alphanumeric())
        {
            hemi = Some(b[h]);
            end = h + 1;
        }
    }
    Some(Angle {
        start: i,
        end,
        degrees: value,
        hemisphere: hemi?,
        resolution,
    })
}

/// Whether a hemisphere-and-angle notation may occur: a degree or prime sign, or a
/// hemisphere letter next to a digit.
fn may_have_angles(b: &[u8]) -> bool {
    b.windows(2).enumerate().any(|(i, w)| {
        (w[0] == 0xC2 && matches!(w[1], 0xB0 | 0xBA))
            || (w[0] == 0xE2 && w[1] == 0x80 && b.get(i + 2) == Some(&0xB2))
            || (matches!(w[0], b'N' | b'S')
                && (w[1].is_ascii_digit() || (w[1] == b' ' && b.get(i + 2).is_some_and(u8::is_ascii_digit))))
    })
}

/// Degrees-minutes-seconds and degree-minute pairs with hemispheres.
pub(super) fn angles(s: &str, out: &mut Out) {
    let b = s.as_bytes();
    if !may_have_angles(b) {
        note!(
            out.trace,
            D::CoordinatesDms,
            false,
            "no degree sign or hemisphere letter beside a number"
        );
        return;
    }
    let mut i = 0;
    while i < b.len() {
        let starts = (b[i].is_ascii_digit() || hemisphere(b[i]))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'));
        if !starts {
            i += 1;
            continue;
        }
        let Some(first) = angle(b, i) else {
            i += 1;
            continue;
        };
        let mut k = first.end;
        k = run(b, k, |&c| matches!(c, b' ' | b',' | b';' | b'/'));
        let Some(second) = (k < b.len()).then(|| angle(b, k)).flatten() else {
            note!(
                out.trace,
                D::CoordinatesDms,
                false,
                "one angle with a hemisphere, but no second one after it"
            );
            i = first.end;
            continue;
        };
        let lat_first = matches!(first.hemisphere, b'N' | b'S');
        let (lat, lon) = if lat_first {
            (&first, &second)
        } else {
            (&second, &first)
        };
        let paired = matches!(lat.hemisphere, b'N' | b'S') && matches!(lon.hemisphere, b'E' | b'W');
        if !paired || lat.degrees > 90.0 || lon.degrees > 180.0 {
            note!(
                out.trace,
                D::CoordinatesDms,
                false,
                "two angles, but not one N/S latitude and one E/W longitude in range"
            );
            i = second.end;
            continue;
        }
        let cat = category(lat.resolution.max(lon.resolution));
        note!(
            out.trace,
            D::CoordinatesDms,
            true,
            "latitude and longitude with hemispheres, resolution {:.5}°",
            lat.resolution.max(lon.resolution)
        );
        out.emit(Hit::at(D::CoordinatesDms, first.start, second.end).category(cat));
        i = second.end;
    }
}

/// ISO 6709 `±DD[MM[SS]][.d]±DDD[MM[SS]][.d][±alt]/`.
pub(super) fn iso6709(s: &str, out: &mut Out) {
    let b = s.as_bytes();
    for i in (0..b.len()).filter(|&i| matches!(b[i], b'+' | b'-')) {
        if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.') {
            continue;
        }
        let Some((lat_end, lat, lat_res, lat_int)) = iso_part(b, i + 1) else {
            continue;
        };
        if !matches!(b.get(lat_end), Some(b'+' | b'-')) {
            continue;
        }
        let Some((lon_end, lon, lon_res, lon_int)) = iso_part(b, lat_end + 1) else {
            continue;
        };
        if lon_int != lat_int + 1 || lat > 90.0 || lon > 180.0 || lat_res.max(lon_res) >= 1.0 {
            continue;
        }
        let mut end = lon_end;
        if matches!(b.get(end), Some(b'+' | b'-'))
            && let Some((alt_end, ..)) = decimal(b, end + 1)
        {
            end = alt_end;
        }
        if b[end..].starts_with(b"CRS") {
            end = run(b, end, |&c| c != b'/');
        }
        // The terminating solidus is the format's mark; without it the text must end here.
        let terminated = b.get(end) == Some(&b'/');
        if !terminated && end != b.len() {
            continue;
        }
        let e = if terminated { end + 1 } else { end };
        note!(out.trace, D::Coordinates, true, "ISO 6709 position string");
        out.emit(Hit::at(D::Coordinates, i, e).category(category(lat_res.max(lon_res))));
    }
}

/// One ISO 6709 component: degrees, degrees-minutes or degrees-minutes-seconds by its
/// integer digits (2/4/6 for latitude, 3/5/7 for longitude). (end, degrees, resolution, int digits).
fn iso_part(b: &[u8], i: usize) -> Option<(usize, f64, f64, usize)> {
    let (end, _, dec, int) = decimal(b, i)?;
    let digits = |from: usize, n: usize| -> f64 {
        b[from..from + n]
            .iter()
            .fold(0.0, |acc, &c| acc * 10.0 + f64::from(c - b'0'))
    };
    let frac = if dec > 0 {
        std::str::from_utf8(&b[i + int..end]).ok()?.parse::<f64>().ok()?
    } else {
        0.0
    };
    let unit = 10f64.powi(-(dec as i32));
    let d = if int % 2 == 0 { 2 } else { 3 };
    let (value, res) = match int.checked_sub(d)? {
        0 => (digits(i, d) + frac, unit),
        2 => {
            let m = digits(i + d, 2) + frac;
            (m < 60.0).then_some(())?;
            (digits(i, d) + m / 60.0, unit / 60.0)
        }
        4 => {
            let (m, sec) = (digits(i + d, 2), digits(i + d + 2, 2) + frac);
            (m < 60.0 && sec < 60.0).then_some(())?;
            (digits(i, d) + m / 60.0 + sec / 3600.0, unit / 3600.0)
        }
        _ => return None,
    };
    Some((end, value, res, int))
}

/// A signed decimal at `i`: (end, value, decimals).
fn signed(b: &[u8], i: usize) -> Option<(usize, f64, usize)> {
    let neg = b.get(i) == Some(&b'-');
    let (end, v, dec, int) = decimal(b, i + usize::from(neg))?;
    (int <= 3).then_some((end, if neg { -v } else { v }, dec))
}

/// `geo:lat,lng[,alt][;params]` (RFC 5870).
pub(super) fn geo_uri(s: &str, out: &mut Out) {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(p) = b[from..]
        .windows(4)
        .position(|w| w.eq_ignore_ascii_case(b"geo:"))
        .map(|p| from + p)
    {
        from = p + 4;
        if p > 0 && b[p - 1].is_ascii_alphanumeric() {
            continue;
        }
        let Some((lat_end, lat, lat_dec)) = signed(b, p + 4) else {
            continue;
        };
        if b.get(lat_end) != Some(&b',') {
            continue;
        }
        let Some((mut end, lon, lon_dec)) = signed(b, lat_end + 1) else {
            continue;
        };
        if b.get(end) == Some(&b',')
            && let Some((alt_end, ..)) = signed(b, end + 1)
        {
            end = alt_end;
        }
        if lat.abs() > 90.0 || lon.abs() > 180.0 || lat_dec.min(lon_dec) == 0 {
            note!(
                out.trace,
                D::Coordinates,
                false,
                "geo: URI out of range or in whole degrees"
            );
            continue;
        }
        let res = 10f64.powi(-(lat_dec.min(lon_dec) as i32));
        note!(
            out.trace,
            D::Coordinates,
            true,
            "geo: URI with {} decimals",
            lat_dec.min(lon_dec)
        );
        out.emit(Hit::at(D::Coordinates, p, end).category(category(res)));
        from = end;
    }
}

/// WKT `POINT(x y)`, `POINT Z (x y z)`: x is the longitude.
pub(super) fn wkt_point(s: &str, out: &mut Out) {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(p) = b[from..]
        .windows(5)
        .position(|w| w.eq_ignore_ascii_case(b"point"))
        .map(|p| from + p)
    {
        from = p + 5;
        if p > 0 && b[p - 1].is_ascii_alphanumeric() {
            continue;
        }
        let mut k = spaces(b, p + 5);
        for dim in [&b"ZM"[..], b"Z", b"M"] {
            if b[k..].len() >= dim.len() && b[k..k + dim.len()].eq_ignore_ascii_case(dim) {
                k = spaces(b, k + dim.len());
                break;
            }
        }
        if b.get(k) != Some(&b'(') {
            continue;
        }
        k = spaces(b, k + 1);
        let Some((x_end, lon, x_dec)) = signed(b, k) else {
            continue;
        };
        let y_start = spaces(b, x_end);
        if y_start == x_end {
            continue;
        }
        let Some((y_end, lat, y_dec)) = signed(b, y_start) else {
            continue;
        };
        let close = run(b, y_end, |&c| c != b')');
        if close == b.len() || close - y_end > 24 {
            continue;
        }
        if lat.abs() > 90.0 || lon.abs() > 180.0 || x_dec.min(y_dec) == 0 {
            note!(
                out.trace,
                D::Coordinates,
                false,
                "WKT point out of range or in whole degrees"
            );
            continue;
        }
        note!(out.trace, D::Coordinates, true, "WKT point, longitude first");
        let res = 10f64.powi(-(x_dec.min(y_dec) as i32));
        out.emit(Hit::at(D::Coordinates, p, close + 1).category(category(res)));
        from = close + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::KeyClass;
    use super::super::scan::{Cx, Hit, scan_text};
    use super::super::taxonomy as t;

    type Found = (Option<(usize, usize)>, &'static str, &'static str);

    fn found(s: &str) -> Vec<Found> {
        let cx = Cx {
            class: KeyClass::NONE,
            container: KeyClass::NONE,
            siblings: None,
            people: true,
            depth: 0,
            trace: None,
        };
        let mut hits: Vec<Hit> = Vec::new();
        scan_text(s, &cx, &mut |h| hits.push(h));
        hits.into_iter().map(|h| (h.span, h.category, h.det.name())).collect()
    }

    #[test]
    fn resolution_decides_precise_or_coarse() {
        for (text, category) in [
            (r#"48°51'24"N 2°21'03"E"#, t::PRECISE_LOCATION),
            ("48°51'N 2°21'E", t::COARSE_LOCATION),
            ("N48 51.4 E2 21.1", t::PRECISE_LOCATION),
            ("48.86° N, 2.29° E", t::COARSE_LOCATION),
            ("geo:48.857,2.295", t::PRECISE_LOCATION),
            ("geo:48.86,2.29", t::COARSE_LOCATION),
            ("+48.86+002.29/", t::COARSE_LOCATION),
            ("+485124+0022103/", t::PRECISE_LOCATION),
            ("POINT(2.295 48.857)", t::PRECISE_LOCATION),
        ] {
            let f = found(text);
            assert_eq!(f.len(), 1, "{text}: {f:?}");
            assert_eq!(f[0].1, category, "{text}");
        }
    }

    #[test]
    fn spans_cover_the_notation_only() {
        let text = "meet at 33°52′10″S 151°12′30″E tomorrow";
        let f = found(text);
        let (a, b) = f[0].0.unwrap();
        assert_eq!(&text[a..b], "33°52′10″S 151°12′30″E");
        assert_eq!(f[0].2, "coordinates_dms");
        let text = "last fix geo:-33.8688,151.2093;u=12 ok";
        let (a, b) = found(text)[0].0.unwrap();
        assert_eq!(&text[a..b], "geo:-33.8688,151.2093");
    }

    #[test]
    fn look_alikes_are_not_positions() {
        for text in [
            "rotate 45° then 90°",
            "95°30'N 10°00'E",
            "N 12 S 13",
            "+1-415-555-0100",
            "+44+020",
            "POINT(2 48)",
            "geo:95.1234,10.1234",
            "temperature 21.5°C at 14:00",
        ] {
            assert!(
                found(text)
                    .iter()
                    .all(|f| f.1 != t::PRECISE_LOCATION && f.1 != t::COARSE_LOCATION),
                "{text}: {:?}",
                found(text)
            );
        }
    }
}
