//! A company's working hours in a line a person writes and reads:
//! `mon-fri 09:00-18:00; sat 10:00-14:00` (days as a range or a comma list, then a time
//! range; `24:00` ends a day). Outside them, calls to a number without a scenario hear the
//! after-hours message.

use crate::StoreError;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One span of working time: the days (bit 0 Monday … bit 6 Sunday) and minutes of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Days it applies to.
    pub days: u8,
    /// Start, minutes after midnight.
    pub from: u16,
    /// End (exclusive), minutes after midnight, up to 1440.
    pub to: u16,
}

fn bad(text: &str) -> StoreError {
    StoreError::Invalid(format!("invalid working hours {text:?}: write them as mon-fri 09:00-18:00; sat 10:00-14:00"))
}

fn minutes(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let total = h.checked_mul(60)?.checked_add(m)?;
    (m < 60 && total <= 1440).then_some(total)
}

fn day(s: &str) -> Option<usize> {
    DAYS.iter().position(|d| *d == s)
}

/// Reads working hours; empty text means always open (no spans).
pub fn parse_hours(text: &str) -> Result<Vec<Span>, StoreError> {
    if text.chars().count() > 200 {
        return Err(bad(text));
    }
    let mut spans = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let part = part.to_ascii_lowercase();
        let (days_text, time) = part.rsplit_once(' ').ok_or_else(|| bad(text))?;
        let mut days = 0u8;
        for d in days_text.split(',').map(str::trim) {
            match d.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a.trim()).ok_or_else(|| bad(text))?, day(b.trim()).ok_or_else(|| bad(text))?);
                    let mut i = a;
                    loop {
                        days |= 1 << i;
                        if i == b {
                            break;
                        }
                        i = (i + 1) % 7;
                    }
                }
                None => days |= 1 << day(d).ok_or_else(|| bad(text))?,
            }
        }
        let (from, to) = time.split_once('-').ok_or_else(|| bad(text))?;
        let (from, to) = (minutes(from).ok_or_else(|| bad(text))?, minutes(to).ok_or_else(|| bad(text))?);
        if from >= to {
            return Err(bad(text));
        }
        spans.push(Span { days, from, to });
    }
    Ok(spans)
}

/// Whether `spans` are open on `weekday` (0 Monday … 6 Sunday) at `minute` of the day; no
/// spans: always.
pub fn is_open(spans: &[Span], weekday: u8, minute: u16) -> bool {
    spans.is_empty() || spans.iter().any(|s| s.days & (1 << weekday) != 0 && s.from <= minute && minute < s.to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_read_and_asked() {
        let s = parse_hours("mon-fri 09:00-18:00; Sat,sun 10:00-14:00").unwrap();
        assert_eq!(s.len(), 2);
        assert!(is_open(&s, 0, 9 * 60));
        assert!(!is_open(&s, 0, 18 * 60), "the end is not open");
        assert!(!is_open(&s, 5, 9 * 60));
        assert!(is_open(&s, 6, 13 * 60 + 59));
        // A range across the week's end.
        let w = parse_hours("fri-mon 00:00-24:00").unwrap();
        assert!(is_open(&w, 6, 0) && is_open(&w, 0, 1439) && !is_open(&w, 2, 600));
        assert!(is_open(&parse_hours("").unwrap(), 3, 0), "no hours: always open");
        for wrong in ["mon 18:00-09:00", "funday 09:00-10:00", "mon 9-18", "mon 09:00-24:01", "09:00-18:00"] {
            assert!(parse_hours(wrong).is_err(), "{wrong}");
        }
    }
}
