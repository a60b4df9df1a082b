//! Header names (with the compact forms of RFC 3261 §7.3.3) and the ordered header list.

use std::fmt;

/// A header name, normalised so that `v`, `Via` and `VIA` compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderName {
    /// `Via` / `v`.
    Via,
    /// `From` / `f`.
    From,
    /// `To` / `t`.
    To,
    /// `Call-ID` / `i`.
    CallId,
    /// `CSeq`.
    CSeq,
    /// `Contact` / `m`.
    Contact,
    /// `Max-Forwards`.
    MaxForwards,
    /// `Content-Length` / `l`.
    ContentLength,
    /// `Content-Type` / `c`.
    ContentType,
    /// `Content-Encoding` / `e`.
    ContentEncoding,
    /// `Expires`.
    Expires,
    /// `Min-Expires`.
    MinExpires,
    /// `Route`.
    Route,
    /// `Record-Route`.
    RecordRoute,
    /// `Authorization`.
    Authorization,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `WWW-Authenticate`.
    WwwAuthenticate,
    /// `Proxy-Authenticate`.
    ProxyAuthenticate,
    /// `Require`.
    Require,
    /// `Proxy-Require`.
    ProxyRequire,
    /// `Supported` / `k`.
    Supported,
    /// `Unsupported`.
    Unsupported,
    /// `Allow`.
    Allow,
    /// `Accept`.
    Accept,
    /// `User-Agent`.
    UserAgent,
    /// `Server`.
    Server,
    /// `Subject` / `s`.
    Subject,
    /// `Event` / `o`.
    Event,
    /// `Refer-To` / `r`.
    ReferTo,
    /// `Referred-By` / `b`.
    ReferredBy,
    /// `Replaces`.
    Replaces,
    /// `Session-Expires` / `x`.
    SessionExpires,
    /// `Min-SE`.
    MinSe,
    /// `Warning`.
    Warning,
    /// `Reason`.
    Reason,
    /// `Retry-After`.
    RetryAfter,
    /// `Date`.
    Date,
    /// `P-Asserted-Identity`.
    PAssertedIdentity,
    /// `Subscription-State`.
    SubscriptionState,
    /// `Allow-Events` / `u`.
    AllowEvents,
    /// Any other header, with the name as received.
    Other(String),
}

impl HeaderName {
    /// Normalises a received header name (case-insensitive, compact forms expanded).
    pub fn parse(s: &str) -> HeaderName {
        if s.len() == 1 {
            return match s.as_bytes()[0].to_ascii_lowercase() {
                b'v' => HeaderName::Via,
                b'f' => HeaderName::From,
                b't' => HeaderName::To,
                b'i' => HeaderName::CallId,
                b'm' => HeaderName::Contact,
                b'l' => HeaderName::ContentLength,
                b'c' => HeaderName::ContentType,
                b'e' => HeaderName::ContentEncoding,
                b's' => HeaderName::Subject,
                b'k' => HeaderName::Supported,
                b'o' => HeaderName::Event,
                b'r' => HeaderName::ReferTo,
                b'b' => HeaderName::ReferredBy,
                b'x' => HeaderName::SessionExpires,
                b'u' => HeaderName::AllowEvents,
                _ => HeaderName::Other(s.to_string()),
            };
        }
        const TABLE: &[(&str, HeaderName)] = &[
            ("via", HeaderName::Via),
            ("from", HeaderName::From),
            ("to", HeaderName::To),
            ("call-id", HeaderName::CallId),
            ("cseq", HeaderName::CSeq),
            ("contact", HeaderName::Contact),
            ("max-forwards", HeaderName::MaxForwards),
            ("content-length", HeaderName::ContentLength),
            ("content-type", HeaderName::ContentType),
            ("content-encoding", HeaderName::ContentEncoding),
            ("expires", HeaderName::Expires),
            ("min-expires", HeaderName::MinExpires),
            ("route", HeaderName::Route),
            ("record-route", HeaderName::RecordRoute),
            ("authorization", HeaderName::Authorization),
            ("proxy-authorization", HeaderName::ProxyAuthorization),
            ("www-authenticate", HeaderName::WwwAuthenticate),
            ("proxy-authenticate", HeaderName::ProxyAuthenticate),
            ("require", HeaderName::Require),
            ("proxy-require", HeaderName::ProxyRequire),
            ("supported", HeaderName::Supported),
            ("unsupported", HeaderName::Unsupported),
            ("allow", HeaderName::Allow),
            ("accept", HeaderName::Accept),
            ("user-agent", HeaderName::UserAgent),
            ("server", HeaderName::Server),
            ("subject", HeaderName::Subject),
            ("event", HeaderName::Event),
            ("refer-to", HeaderName::ReferTo),
            ("referred-by", HeaderName::ReferredBy),
            ("replaces", HeaderName::Replaces),
            ("session-expires", HeaderName::SessionExpires),
            ("min-se", HeaderName::MinSe),
            ("warning", HeaderName::Warning),
            ("reason", HeaderName::Reason),
            ("retry-after", HeaderName::RetryAfter),
            ("date", HeaderName::Date),
            ("p-asserted-identity", HeaderName::PAssertedIdentity),
            ("subscription-state", HeaderName::SubscriptionState),
            ("allow-events", HeaderName::AllowEvents),
        ];
        for (n, h) in TABLE {
            if n.eq_ignore_ascii_case(s) {
                return h.clone();
            }
        }
        HeaderName::Other(s.to_string())
    }

    /// The canonical long name written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            HeaderName::Via => "Via",
            HeaderName::From => "From",
            HeaderName::To => "To",
            HeaderName::CallId => "Call-ID",
            HeaderName::CSeq => "CSeq",
            HeaderName::Contact => "Contact",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::Expires => "Expires",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::Route => "Route",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::Authorization => "Authorization",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::Require => "Require",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::Supported => "Supported",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::Allow => "Allow",
            HeaderName::Accept => "Accept",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Server => "Server",
            HeaderName::Subject => "Subject",
            HeaderName::Event => "Event",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::Replaces => "Replaces",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::MinSe => "Min-SE",
            HeaderName::Warning => "Warning",
            HeaderName::Reason => "Reason",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Date => "Date",
            HeaderName::PAssertedIdentity => "P-Asserted-Identity",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::Other(s) => s,
        }
    }

    /// Headers whose values may be comma-separated lists (RFC 3261 §7.3.1).
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Contact
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Require
                | HeaderName::ProxyRequire
                | HeaderName::Supported
                | HeaderName::Unsupported
                | HeaderName::Allow
                | HeaderName::Accept
                | HeaderName::AllowEvents
        )
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header line after unfolding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Normalised name.
    pub name: HeaderName,
    /// Value with surrounding whitespace removed and folding replaced by a space.
    pub value: String,
}

/// The headers of a message in wire order (order matters for Via, Route, Record-Route).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// An empty list.
    pub fn new() -> Headers {
        Headers(Vec::with_capacity(12))
    }

    /// Appends a header.
    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.push(Header { name, value: value.into() });
    }

    /// Inserts a header at the front (used for a new top Via).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.insert(0, Header { name, value: value.into() });
    }

    /// The first value of a header.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0.iter().find(|h| &h.name == name).map(|h| h.value.as_str())
    }

    /// Every value of a header, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |h| &h.name == name).map(|h| h.value.as_str())
    }

    /// How many lines carry this header.
    pub fn count(&self, name: &HeaderName) -> usize {
        self.0.iter().filter(|h| &h.name == name).count()
    }

    /// Removes every line of a header.
    pub fn remove(&mut self, name: &HeaderName) {
        self.0.retain(|h| &h.name != name);
    }

    /// Replaces every line of a header with one value.
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        let value = value.into();
        if let Some(pos) = self.0.iter().position(|h| h.name == name) {
            self.0[pos].value = value;
            let mut i = 0;
            self.0.retain(|h| {
                let keep = h.name != name || i == pos;
                i += 1;
                keep
            });
        } else {
            self.push(name, value);
        }
    }

    /// Every element of a list header, split at top-level commas and trimmed.
    pub fn list(&self, name: &HeaderName) -> Vec<String> {
        let mut out = Vec::new();
        for v in self.get_all(name) {
            if let Some(parts) = crate::text::split_top_level(v, b',') {
                for p in parts {
                    let p = crate::text::trim_ws(p);
                    if !p.is_empty() {
                        out.push(p.to_string());
                    }
                }
            }
        }
        out
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.get(&HeaderName::CallId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case() {
        assert_eq!(HeaderName::parse("v"), HeaderName::Via);
        assert_eq!(HeaderName::parse("ViA"), HeaderName::Via);
        assert_eq!(HeaderName::parse("i"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("M"), HeaderName::Contact);
        assert_eq!(HeaderName::parse("C%6Fntact"), HeaderName::Other("C%6Fntact".into()));
    }

    #[test]
    fn set_replaces_all() {
        let mut h = Headers::new();
        h.push(HeaderName::Contact, "a");
        h.push(HeaderName::Via, "v");
        h.push(HeaderName::Contact, "b");
        h.set(HeaderName::Contact, "c");
        assert_eq!(h.get_all(&HeaderName::Contact).collect::<Vec<_>>(), vec!["c"]);
        assert_eq!(h.0.len(), 2);
    }
}
