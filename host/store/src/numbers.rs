//! Telephone numbers: carriers send the same city number as `84951234567`, `4951234567`,
//! `74951234567` or `+74951234567`; the PBX stores and compares E.164 (`+74951234567`).

/// Normalises a dialled or signalled number to E.164 for a country calling code (`7` for
/// Russia). Separators (`-`, `.`, spaces, parentheses) are ignored. Returns `None` for text
/// that is not a number.
///
/// Rules for country code `7` (and analogous for others): `+CC...` as is; `8` + 10 digits
/// (national trunk prefix) → `+7` + 10 digits; `810` + digits (old international prefix) →
/// `+` + digits; `00` + digits → `+` + digits; `7` + 10 digits → `+7...`; 10 digits →
/// `+7` + 10 digits.
pub fn normalize(raw: &str, country_code: &str) -> Option<String> {
    let cleaned: String = raw.chars().filter(|c| !matches!(c, '-' | '.' | ' ' | '(' | ')')).collect();
    let (plus, digits) = match cleaned.strip_prefix('+') {
        Some(rest) => (true, rest.to_string()),
        None => (false, cleaned),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 15 {
        return None;
    }
    if plus {
        return (digits.len() >= 8).then(|| format!("+{digits}"));
    }
    if let Some(rest) = digits.strip_prefix("00") {
        return (rest.len() >= 8).then(|| format!("+{rest}"));
    }
    if country_code == "7" {
        if let Some(rest) = digits.strip_prefix("810")
            && rest.len() >= 8
        {
            return Some(format!("+{rest}"));
        }
        if digits.len() == 11 && (digits.starts_with('8') || digits.starts_with('7')) {
            return Some(format!("+7{}", &digits[1..]));
        }
        if digits.len() == 10 {
            return Some(format!("+7{digits}"));
        }
        return None;
    }
    if digits.starts_with(country_code) && digits.len() >= 8 + country_code.len() {
        return Some(format!("+{digits}"));
    }
    if let Some(rest) = digits.strip_prefix('0')
        && rest.len() >= 8
    {
        return Some(format!("+{country_code}{rest}"));
    }
    None
}

/// The national form a carrier may want in the Request-URI (`8` + 10 digits for `+7`).
pub fn national(e164: &str, country_code: &str) -> String {
    match e164.strip_prefix('+').and_then(|d| d.strip_prefix(country_code)) {
        Some(rest) if country_code == "7" => format!("8{rest}"),
        Some(rest) => format!("0{rest}"),
        None => e164.trim_start_matches('+').to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_forms() {
        for f in ["84951234567", "4951234567", "74951234567", "+74951234567", "+7 (495) 123-45-67", "8-495-123-45-67"] {
            assert_eq!(normalize(f, "7").as_deref(), Some("+74951234567"), "{f}");
        }
        assert_eq!(normalize("81049301234567", "7").as_deref(), Some("+49301234567"));
        assert_eq!(normalize("0049301234567", "7").as_deref(), Some("+49301234567"));
        assert_eq!(normalize("102", "7"), None);
        assert_eq!(normalize("abc", "7"), None);
        assert_eq!(national("+74951234567", "7"), "84951234567");
    }

    #[test]
    fn other_countries() {
        assert_eq!(normalize("0301234567", "49").as_deref(), Some("+49301234567"));
        assert_eq!(normalize("49301234567", "49").as_deref(), Some("+49301234567"));
    }
}
