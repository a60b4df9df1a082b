//! Values a peer controls, checked where they enter the PBX: a number is digits (with `+`,
//! and `*`/`#` where a phone dials feature codes), a display name is printable text of a
//! bounded length. Whatever passes here can be copied into another message, a call-log row
//! or a log line without carrying CR, LF, NUL or other control characters.

/// Longest number accepted (E.164 has at most 15 digits; feature codes and dial strings
/// with a prefix stay well below this).
pub const MAX_NUMBER_LEN: usize = 32;

/// Longest display name kept, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// A number as a phone dials it: visual separators (`-`, `.`, `(`, `)`, space) are dropped;
/// what remains must be an optional leading `+` and then digits, `*` and `#`.
pub fn dial_string(raw: &str) -> Option<String> {
    let cleaned: String = raw.chars().filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' ')).collect();
    let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    if digits.is_empty() || cleaned.len() > MAX_NUMBER_LEN || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#') {
        return None;
    }
    Some(cleaned)
}

/// A caller's number as a carrier presents it: like [`dial_string`] but digits only (no
/// feature-code characters).
pub fn caller_number(raw: &str) -> Option<String> {
    dial_string(raw).filter(|n| n.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit()))
}

/// A display name fit to show and to copy: control characters (C0, DEL, C1, the Unicode
/// line and paragraph separators, bidirectional and zero-width marks) become spaces, runs of spaces collapse, the ends are
/// trimmed and the result is cut to [`MAX_DISPLAY_NAME_CHARS`].
pub fn display_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_DISPLAY_NAME_CHARS * 4));
    let mut count = 0;
    let mut space = false;
    for c in raw.chars() {
        // Bidirectional and zero-width format characters would let a name show reversed or
        // look like another; they go too.
        let c = if c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            ' '
        } else {
            c
        };
        if c == ' ' {
            space = !out.is_empty();
            continue;
        }
        if count >= MAX_DISPLAY_NAME_CHARS {
            break;
        }
        if space {
            if count + 1 >= MAX_DISPLAY_NAME_CHARS {
                break;
            }
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// True when `s` holds no byte that could end a header line or a log line early.
pub fn is_line_safe(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(dial_string("+7 (495) 123-45-67").as_deref(), Some("+74951234567"));
        assert_eq!(dial_string("*45").as_deref(), Some("*45"));
        assert_eq!(dial_string("101").as_deref(), Some("101"));
        for bad in ["", "+", "10\r\n1", "abc", "1%0D%0A", "1\u{0}", "12345678901234567890123456789012345", "+-"] {
            assert_eq!(dial_string(bad), None, "{bad:?}");
        }
        assert_eq!(caller_number("*45"), None);
        assert_eq!(caller_number("+74951234567").as_deref(), Some("+74951234567"));
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name("Ivan\r\nSubject: x"), "Ivan Subject: x");
        assert_eq!(display_name("  a\u{0}\u{85}b\u{2028}c  "), "a b c");
        assert_eq!(display_name("Иван Петров"), "Иван Петров");
        assert_eq!(display_name(&"я".repeat(200)).chars().count(), MAX_DISPLAY_NAME_CHARS);
        assert!(is_line_safe(&display_name("\r\n\r\n")));
    }
}
