//! SIP and other URIs, parsed without losing a byte of what was received.

use crate::text::{self, Param};
use std::fmt;

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No `scheme:` prefix.
    #[error("URI has no scheme")]
    NoScheme,
    /// Whitespace or brackets inside the URI.
    #[error("URI contains whitespace or angle brackets")]
    BadChars,
    /// Host part missing or malformed.
    #[error("URI host is missing or malformed")]
    BadHost,
    /// Port is not a number in 1..65535.
    #[error("URI port is invalid")]
    BadPort,
    /// The user part holds characters the grammar does not allow.
    #[error("URI user part is malformed")]
    BadUser,
    /// A URI parameter is empty or malformed.
    #[error("URI parameter is malformed")]
    BadParam,
}

/// A URI of any scheme; SIP and SIPS are parsed into parts, others kept opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    /// `sip:` or `sips:`.
    Sip(SipUri),
    /// Any other scheme (`tel:`, `http:`...), kept as received.
    Other {
        /// Scheme, lowercase.
        scheme: String,
        /// Everything after the colon.
        rest: String,
    },
}

/// A parsed `sip:`/`sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// User part, still %-escaped as received.
    pub user: Option<String>,
    /// Password part (deprecated, kept verbatim).
    pub password: Option<String>,
    /// Host name or address (IPv6 with brackets).
    pub host: String,
    /// Explicit port.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Vec<Param>,
    /// Raw `?headers` part without the `?`.
    pub headers: Option<String>,
}

impl SipUri {
    /// A plain `sip:user@host[:port]`.
    pub fn new(user: Option<&str>, host: &str, port: Option<u16>) -> SipUri {
        SipUri {
            secure: false,
            user: user.map(str::to_string),
            password: None,
            host: host.to_string(),
            port,
            params: Vec::new(),
            headers: None,
        }
    }

    /// The user part with %-escapes decoded (`%75se%72` → `user`).
    pub fn user_unescaped(&self) -> Option<String> {
        self.user.as_deref().map(text::unescape)
    }

    /// A URI parameter by name.
    pub fn param(&self, name: &str) -> Option<&Param> {
        text::find_param(&self.params, name)
    }

    /// True when the URI carries `;lr` (loose routing, RFC 3261 §16.12).
    pub fn is_loose_route(&self) -> bool {
        self.param("lr").is_some()
    }

    /// The `transport` parameter, lowercase.
    pub fn transport(&self) -> Option<String> {
        self.param("transport").and_then(|p| p.value.as_ref()).map(|v| v.to_ascii_lowercase())
    }

    /// Sets or replaces a parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        self.params.retain(|p| !p.name.eq_ignore_ascii_case(name));
        self.params.push(Param::new(name, value));
    }

    fn parse_after_scheme(secure: bool, rest: &str) -> Result<SipUri, UriError> {
        let (main, headers) = match rest.find('?') {
            Some(i) => {
                // '?' may appear in the user part; only a '?' after the '@' starts headers.
                match rest.find('@') {
                    Some(at) if at > i => split_headers_after(rest, at),
                    _ => (&rest[..i], Some(rest[i + 1..].to_string())),
                }
            }
            None => (rest, None),
        };
        let (userinfo, hostpart) = match main.find('@') {
            Some(at) => (Some(&main[..at]), &main[at + 1..]),
            None => (None, main),
        };
        let (user, password) = match userinfo {
            Some(ui) => {
                let (u, p) = match ui.find(':') {
                    Some(c) => (&ui[..c], Some(ui[c + 1..].to_string())),
                    None => (ui, None),
                };
                if u.is_empty() || !u.bytes().all(is_user_char) {
                    return Err(UriError::BadUser);
                }
                (Some(u.to_string()), p)
            }
            None => (None, None),
        };
        let mut pieces = hostpart.split(';');
        let hostport = pieces.next().unwrap_or("");
        let (host, port) = parse_hostport(hostport).ok_or(UriError::BadHost)?;
        let mut params = Vec::new();
        for p in pieces {
            if p.is_empty() {
                return Err(UriError::BadParam);
            }
            let (n, v) = match p.find('=') {
                Some(i) => (&p[..i], Some(&p[i + 1..])),
                None => (p, None),
            };
            if n.is_empty() || !n.bytes().all(is_param_char) {
                return Err(UriError::BadParam);
            }
            if let Some(v) = v
                && (v.is_empty() || !v.bytes().all(is_param_char))
            {
                return Err(UriError::BadParam);
            }
            params.push(Param::new(n, v));
        }
        Ok(SipUri { secure, user, password, host, port: port.map_err(|_| UriError::BadPort)?, params, headers })
    }
}

fn split_headers_after(rest: &str, at: usize) -> (&str, Option<String>) {
    match rest[at..].find('?') {
        Some(q) => (&rest[..at + q], Some(rest[at + q + 1..].to_string())),
        None => (rest, None),
    }
}

/// Characters allowed in the user part: unreserved, escapes and `&=+$,;?/`.
fn is_user_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()%&=+$,;?/".contains(&b)
}

/// Characters allowed in URI parameter names and values.
fn is_param_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()%[]/:&+$".contains(&b)
}

/// Parses `host[:port]`; the inner `Result` is the port's validity.
pub fn parse_hostport(s: &str) -> Option<(String, Result<Option<u16>, ()>)> {
    if s.is_empty() {
        return None;
    }
    let (host, port_str) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let h = &s[..end + 2];
        if !rest[..end].bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return None;
        }
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return None,
        }
    } else {
        match s.find(':') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        }
    };
    if !host.starts_with('[') && (host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')) {
        return None;
    }
    let port = match port_str {
        None => Ok(None),
        Some(p) => match text::parse_u64(p) {
            Some(n) if (1..=65535).contains(&n) => Ok(Some(n as u16)),
            _ => Err(()),
        },
    };
    Some((host.to_string(), port))
}

impl Uri {
    /// Parses a URI; rejects whitespace and angle brackets anywhere in it.
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        if s.bytes().any(|b| b <= b' ' || b == b'<' || b == b'>' || b == b'"' || b == 0x7f) {
            return Err(UriError::BadChars);
        }
        let colon = s.find(':').ok_or(UriError::NoScheme)?;
        let scheme = &s[..colon];
        if scheme.is_empty()
            || !scheme.as_bytes()[0].is_ascii_alphabetic()
            || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(UriError::NoScheme);
        }
        let rest = &s[colon + 1..];
        if scheme.eq_ignore_ascii_case("sip") {
            Ok(Uri::Sip(SipUri::parse_after_scheme(false, rest)?))
        } else if scheme.eq_ignore_ascii_case("sips") {
            Ok(Uri::Sip(SipUri::parse_after_scheme(true, rest)?))
        } else {
            Ok(Uri::Other { scheme: scheme.to_ascii_lowercase(), rest: rest.to_string() })
        }
    }

    /// The SIP form, if this is a SIP or SIPS URI.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(s) => Some(s),
            Uri::Other { .. } => None,
        }
    }

    /// Mutable SIP form.
    pub fn as_sip_mut(&mut self) -> Option<&mut SipUri> {
        match self {
            Uri::Sip(s) => Some(s),
            Uri::Other { .. } => None,
        }
    }

    /// The number of a `tel:` URI or the unescaped user of a SIP URI.
    pub fn user_or_number(&self) -> Option<String> {
        match self {
            Uri::Sip(s) => s.user_unescaped().map(|u| u.split(';').next().unwrap_or("").to_string()),
            Uri::Other { scheme, rest } if scheme == "tel" => Some(rest.split(';').next().unwrap_or("").to_string()),
            Uri::Other { .. } => None,
        }
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(64);
        s.push_str(if self.secure { "sips:" } else { "sip:" });
        if let Some(u) = &self.user {
            s.push_str(u);
            if let Some(p) = &self.password {
                s.push(':');
                s.push_str(p);
            }
            s.push('@');
        }
        s.push_str(&self.host);
        if let Some(p) = self.port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        text::write_params(&mut s, &self.params);
        if let Some(h) = &self.headers {
            s.push('?');
            s.push_str(h);
        }
        f.write_str(&s)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(s) => s.fmt(f),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match Uri::parse(s).unwrap() {
            Uri::Sip(u) => u,
            other => panic!("not sip: {other:?}"),
        }
    }

    #[test]
    fn dotted_user_is_kept() {
        let u = sip("sip:john.doe@example.com");
        assert_eq!(u.user.as_deref(), Some("john.doe"));
        assert_eq!(u.host, "example.com");
    }

    #[test]
    fn transport_tls_round_trips() {
        let s = "sip:alice@10.0.0.1:5061;transport=tls;lr";
        assert_eq!(sip(s).to_string(), s);
        assert_eq!(sip(s).transport().as_deref(), Some("tls"));
    }

    #[test]
    fn crazy_user_and_password() {
        let u = sip("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(u.user.as_deref(), Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
        assert_eq!(u.password.as_deref(), Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
        assert!(u.headers.is_none());
    }

    #[test]
    fn escapes_and_semicolons_in_user() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(sip("sip:%75se%72@example.com").user_unescaped().as_deref(), Some("user"));
    }

    #[test]
    fn headers_and_ipv6() {
        let u = sip("sip:user@example.com?Route=%3Csip:example.com%3E");
        assert_eq!(u.headers.as_deref(), Some("Route=%3Csip:example.com%3E"));
        let v = sip("sip:[2001:db8::1]:5070;transport=udp");
        assert_eq!(v.host, "[2001:db8::1]");
        assert_eq!(v.port, Some(5070));
    }

    #[test]
    fn refused_forms() {
        assert_eq!(Uri::parse("<sip:user@example.com>"), Err(UriError::BadChars));
        assert_eq!(Uri::parse("sip:user@example.com; lr"), Err(UriError::BadChars));
        assert_eq!(Uri::parse("sip:user@host:99999"), Err(UriError::BadPort));
        assert_eq!(Uri::parse("sip:user@"), Err(UriError::BadHost));
        assert!(matches!(Uri::parse("tel:+74951234567"), Ok(Uri::Other { .. })));
        assert!(matches!(Uri::parse("soap.beep://192.0.2.103:3002"), Ok(Uri::Other { .. })));
    }
}
