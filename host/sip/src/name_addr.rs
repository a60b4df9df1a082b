//! `name-addr` / `addr-spec` values of From, To, Contact, Route, Refer-To (RFC 3261 §20.10).

use crate::text::{self, Param};
use crate::uri::{Uri, UriError};
use std::fmt;

/// Why a name-addr value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameAddrError {
    /// The display name is an unterminated quoted string.
    #[error("unterminated quoted string")]
    Unterminated,
    /// An unquoted display name holds characters other than tokens and spaces.
    #[error("display name must be tokens or a quoted string")]
    BadDisplayName,
    /// `<` without `>` or text between `>` and the parameters.
    #[error("unbalanced angle brackets")]
    Brackets,
    /// Whitespace inside `<...>`.
    #[error("whitespace inside the addr-spec")]
    SpaceInAddrSpec,
    /// A bare addr-spec with `?`, `,` or `;` in the URI part must be in angle brackets.
    #[error("URI with '?' or ',' must be enclosed in angle brackets")]
    NeedsBrackets,
    /// The URI did not parse.
    #[error("bad URI: {0}")]
    Uri(#[from] UriError),
    /// A header parameter is empty or malformed.
    #[error("bad header parameter: {0}")]
    Param(&'static str),
    /// Nothing at all.
    #[error("empty value")]
    Empty,
}

/// A display name, a URI and header parameters such as `tag`, `expires`, `q`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted and unescaped.
    pub display: Option<String>,
    /// The address.
    pub uri: Uri,
    /// Header parameters after the address.
    pub params: Vec<Param>,
}

impl NameAddr {
    /// A name-addr with no display name and no parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr { display: None, uri, params: Vec::new() }
    }

    /// Parses one value (already split from a list).
    pub fn parse(input: &str) -> Result<NameAddr, NameAddrError> {
        let s = text::trim_ws(input);
        if s.is_empty() {
            return Err(NameAddrError::Empty);
        }
        let (display, after_display) = if s.starts_with('"') {
            let (d, rest) = text::parse_quoted(s).ok_or(NameAddrError::Unterminated)?;
            let rest = text::trim_ws(rest);
            if !rest.starts_with('<') {
                return Err(NameAddrError::Brackets);
            }
            (Some(d), rest)
        } else if let Some(lt) = s.find('<') {
            let dn = text::trim_ws(&s[..lt]);
            if !dn.is_empty() {
                for word in dn.split([' ', '\t']).filter(|w| !w.is_empty()) {
                    if !text::is_token(word) {
                        return Err(NameAddrError::BadDisplayName);
                    }
                }
            }
            let dn = dn.split([' ', '\t']).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
            (if dn.is_empty() { None } else { Some(dn) }, &s[lt..])
        } else {
            // Bare addr-spec: the URI ends at the first ';' or whitespace; what follows are
            // header parameters.
            let end = s.find([';', ' ', '\t']).unwrap_or(s.len());
            let uri_text = &s[..end];
            if uri_text.contains(['?', ',']) {
                return Err(NameAddrError::NeedsBrackets);
            }
            if uri_text.contains('"') {
                return Err(NameAddrError::BadDisplayName);
            }
            let uri = Uri::parse(uri_text)?;
            let params = parse_header_params(&s[end..])?;
            return Ok(NameAddr { display: None, uri, params });
        };
        // after_display starts with '<'
        let close = after_display.find('>').ok_or(NameAddrError::Brackets)?;
        let inner = &after_display[1..close];
        if inner.bytes().any(|b| b == b' ' || b == b'\t') {
            return Err(NameAddrError::SpaceInAddrSpec);
        }
        let uri = Uri::parse(inner)?;
        let params = parse_header_params(&after_display[close + 1..])?;
        Ok(NameAddr { display, uri, params })
    }

    /// Parses a list header value (Contact, Route...) into its elements.
    pub fn parse_list(value: &str) -> Result<Vec<NameAddr>, NameAddrError> {
        let parts = text::split_top_level(value, b',').ok_or(NameAddrError::Unterminated)?;
        parts.into_iter().map(NameAddr::parse).collect()
    }

    /// A header parameter by name.
    pub fn param(&self, name: &str) -> Option<&str> {
        text::find_param(&self.params, name).map(|p| p.value.as_deref().unwrap_or(""))
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }

    /// Sets or replaces a header parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        self.params.retain(|p| !p.name.eq_ignore_ascii_case(name));
        self.params.push(Param::new(name, value));
    }
}

fn parse_header_params(s: &str) -> Result<Vec<Param>, NameAddrError> {
    let s = text::trim_ws(s);
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let s = s.strip_prefix(';').ok_or(NameAddrError::Brackets)?;
    let pieces = text::split_top_level(s, b';').ok_or(NameAddrError::Unterminated)?;
    text::parse_params(&pieces).map_err(NameAddrError::Param)
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(80);
        if let Some(d) = &self.display {
            s.push_str(&text::quote(d));
            s.push(' ');
        }
        s.push('<');
        s.push_str(&self.uri.to_string());
        s.push('>');
        text::write_params(&mut s, &self.params);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tortuous_forms() {
        let a = NameAddr::parse(r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#).unwrap();
        assert_eq!(a.display.as_deref(), Some("J Rosenberg \\\""));
        assert_eq!(a.tag(), Some("98asjd8"));
        let b = NameAddr::parse(" sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(b.tag(), Some("1918181833n"));
        let c = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(c.display.as_deref(), Some("caller"));
    }

    #[test]
    fn refusals() {
        assert_eq!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>"), Err(NameAddrError::Unterminated));
        assert_eq!(NameAddr::parse("\"W\" < sip:t.watson@example.org >"), Err(NameAddrError::SpaceInAddrSpec));
        assert_eq!(NameAddr::parse("Watson, Thomas <sip:t@example.org>"), Err(NameAddrError::BadDisplayName));
        assert_eq!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E"), Err(NameAddrError::NeedsBrackets));
        assert!(NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;").is_err());
    }

    #[test]
    fn display_round_trip() {
        let a = NameAddr::parse("\"Иван \\\"x\\\"\" <sip:101@a.example>;tag=z").unwrap();
        let b = NameAddr::parse(&a.to_string()).unwrap();
        assert_eq!(a, b);
    }
}
