//! Dates the portal writes (`2026-03-10T11:19:38+00:00`) and the ISO-8601 forms
//! it accepts for `CALL_START_DATE`, without a date library.

/// Days since 1970-01-01 for a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats unix seconds as the portal does, in UTC (`+00:00`).
pub fn iso(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00", secs / 3600, (secs / 60) % 60, secs % 60)
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM|±HHMM]` to unix seconds.
/// A time without an offset is read in the portal's zone (UTC here).
pub fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |t: &str| -> Option<i64> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (date, time) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut dp = date.split('-');
    let (y, m, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    if dp.next().is_some() || date.len() != 10 || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut unix = days_from_civil(y, m, d) * 86_400;
    let Some(time) = time else {
        return Some(unix);
    };
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => (&time[..i], &time[i..]),
        None => (time, ""),
    };
    let clock = clock.split('.').next()?;
    let mut tp = clock.split(':');
    let (h, mi, se) = (num(tp.next()?)?, num(tp.next()?)?, num(tp.next()?)?);
    if tp.next().is_some() || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    unix += h * 3600 + mi * 60 + se;
    if offset.is_empty() || offset.eq_ignore_ascii_case("z") {
        return Some(unix);
    }
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 {
        return None;
    }
    let (oh, om) = (num(&digits[..2])?, num(&digits[2..])?);
    Some(unix - sign * (oh * 3600 + om * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_offsets() {
        assert_eq!(iso(1_773_130_779), "2026-03-10T08:19:39+00:00");
        assert_eq!(parse_iso("2026-03-10T11:19:39+03:00"), Some(1_773_130_779));
        assert_eq!(parse_iso("2026-03-10T08:19:39Z"), Some(1_773_130_779));
        assert_eq!(parse_iso("2026-03-10T08:19:39.250+0000"), Some(1_773_130_779));
        assert_eq!(parse_iso("2026-03-10"), Some(1_773_100_800));
        assert_eq!(parse_iso("10.03.2026 11:19"), None);
        assert_eq!(parse_iso("yesterday"), None);
    }
}
