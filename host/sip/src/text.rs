//! Character classes and small lexical helpers of the RFC 3261 grammar.

/// `token` characters: alphanumerics and `-.!%*_+`'~`.
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// `word` characters (Call-ID): token characters plus `()<>:\"/[]?{}`.
pub fn is_word_char(b: u8) -> bool {
    is_token_char(b) || b"()<>:\\\"/[]?{}".contains(&b)
}

/// True when every byte is a token character and the text is not empty.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Linear whitespace (after unfolding): space or horizontal tab.
pub fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims spaces and tabs on both sides.
pub fn trim_ws(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Splits at top-level occurrences of `sep`, ignoring separators inside quoted strings and
/// angle brackets. Returns `None` for an unterminated quoted string.
pub fn split_top_level(s: &str, sep: u8) -> Option<Vec<&str>> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut in_angle = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_quote {
            if b == b'\\' {
                i += 2;
                continue;
            }
            if b == b'"' {
                in_quote = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == b'<' {
            in_angle = true;
        } else if b == b'>' {
            in_angle = false;
        } else if b == sep && !in_angle {
            parts.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    if in_quote {
        return None;
    }
    parts.push(&s[start..]);
    Some(parts)
}

/// Decodes `%HH` escapes; invalid escapes are kept literally (RFC 4475 §3.1.1.5).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses a quoted string starting at `s[0] == '"'`; returns the unescaped content and the
/// rest after the closing quote, or `None` when it is unterminated or holds a bare CR/LF.
pub fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let next = *b.get(i + 1)?;
                if next == b'\r' || next == b'\n' {
                    return None;
                }
                out.push(next);
                i += 2;
            }
            b'"' => {
                return Some((String::from_utf8_lossy(&out).into_owned(), &s[i + 1..]));
            }
            b'\r' | b'\n' => return None,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

/// Quotes a display name or parameter value for the wire, escaping `"` and `\`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if c == '\r' || c == '\n' {
            continue;
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Parses an unsigned decimal without sign or spaces, rejecting overflow.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A generic `;name=value` parameter (URI, Via or header parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Parameter name as received (compare case-insensitively).
    pub name: String,
    /// Value, unquoted text kept as received; quoted values keep their quotes.
    pub value: Option<String>,
}

impl Param {
    /// A parameter with a value.
    pub fn new(name: &str, value: Option<&str>) -> Param {
        Param { name: name.to_string(), value: value.map(str::to_string) }
    }
}

/// Parses `;a=b;c` header parameters (the leading `;` already removed from each piece),
/// allowing whitespace around `;` and `=`. Empty parameters are an error.
pub fn parse_params(pieces: &[&str]) -> Result<Vec<Param>, &'static str> {
    let mut out = Vec::with_capacity(pieces.len());
    for p in pieces {
        let p = trim_ws(p);
        if p.is_empty() {
            return Err("empty parameter");
        }
        let (name, value) = match p.find('=') {
            Some(i) => (trim_ws(&p[..i]), Some(trim_ws(&p[i + 1..]))),
            None => (p, None),
        };
        if !is_token(name) {
            return Err("invalid parameter name");
        }
        if let Some(v) = value {
            if v.is_empty() {
                return Err("empty parameter value");
            }
            if v.starts_with('"') {
                match parse_quoted(v) {
                    Some((_, rest)) if trim_ws(rest).is_empty() => {}
                    _ => return Err("bad quoted parameter value"),
                }
            } else if !v.bytes().all(|b| is_token_char(b) || b"[]:".contains(&b)) {
                return Err("invalid parameter value");
            }
        }
        out.push(Param { name: name.to_string(), value: value.map(str::to_string) });
    }
    Ok(out)
}

/// Finds a parameter by case-insensitive name.
pub fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Writes parameters as `;name=value`.
pub fn write_params(out: &mut String, params: &[Param]) {
    for p in params {
        out.push(';');
        out.push_str(&p.name);
        if let Some(v) = &p.value {
            out.push('=');
            out.push_str(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_keeps_bad_escapes() {
        assert_eq!(unescape("%75se%72"), "user");
        assert_eq!(unescape("%Z%45"), "%ZE");
        assert_eq!(unescape("100%"), "100%");
        assert_eq!(unescape("a%4"), "a%4");
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(parse_quoted(r#""J Rosenberg \\\"" <x>"#).unwrap().0, "J Rosenberg \\\"");
        assert!(parse_quoted("\"Mr. J. User <sip:j@x>").is_none());
    }

    #[test]
    fn split_respects_quotes_and_brackets() {
        let v = split_top_level(r#""a,b" <sip:x;y>;p="1,2", <sip:z>"#, b',').unwrap();
        assert_eq!(v.len(), 2);
    }
}
