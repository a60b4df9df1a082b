//! The Via header (RFC 3261 §20.42) with rport/received (RFC 3581).

use crate::text::{self, Param};
use crate::uri::parse_hostport;
use std::fmt;
use std::net::SocketAddr;

/// The RFC 3261 magic cookie that prefixes compliant branch parameters.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`, `WS`... uppercase.
    pub transport: String,
    /// sent-by host.
    pub host: String,
    /// sent-by port.
    pub port: Option<u16>,
    /// Parameters (branch, received, rport, maddr...).
    pub params: Vec<Param>,
}

/// Why a Via value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViaError {
    /// Not `SIP/2.0/transport`.
    #[error("Via protocol is not SIP/2.0")]
    Protocol,
    /// Missing or malformed sent-by.
    #[error("Via sent-by is malformed")]
    SentBy,
    /// A parameter is empty or malformed.
    #[error("Via parameter: {0}")]
    Param(&'static str),
    /// An empty element in the list.
    #[error("empty Via element")]
    Empty,
}

impl Via {
    /// Parses every element of one Via header line.
    pub fn parse_list(value: &str) -> Result<Vec<Via>, ViaError> {
        let parts = text::split_top_level(value, b',').ok_or(ViaError::Param("unterminated quote"))?;
        parts.into_iter().map(Via::parse).collect()
    }

    /// Parses one Via element.
    pub fn parse(input: &str) -> Result<Via, ViaError> {
        let s = text::trim_ws(input);
        if s.is_empty() {
            return Err(ViaError::Empty);
        }
        // sent-protocol: name SWS "/" SWS version SWS "/" SWS transport
        let mut rest = s;
        let mut fields = [""; 3];
        for (i, field) in fields.iter_mut().enumerate() {
            rest = text::trim_ws(rest);
            let end = rest.find(['/', ' ', '\t']).unwrap_or(rest.len());
            *field = &rest[..end];
            rest = text::trim_ws(&rest[end..]);
            if i < 2 {
                rest = rest.strip_prefix('/').ok_or(ViaError::Protocol)?;
            }
        }
        if !fields[0].eq_ignore_ascii_case("SIP") || fields[1] != "2.0" || !text::is_token(fields[2]) {
            return Err(ViaError::Protocol);
        }
        let transport = fields[2].to_ascii_uppercase();
        let rest = text::trim_ws(rest);
        let (sent_by, params_text) = match rest.find(';') {
            Some(i) => (text::trim_ws(&rest[..i]), Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if sent_by.bytes().any(text::is_ws) {
            return Err(ViaError::SentBy);
        }
        let (host, port) = parse_hostport(sent_by).ok_or(ViaError::SentBy)?;
        let port = port.map_err(|_| ViaError::SentBy)?;
        let params = match params_text {
            Some(p) => {
                let pieces = text::split_top_level(p, b';').ok_or(ViaError::Param("unterminated quote"))?;
                text::parse_params(&pieces).map_err(ViaError::Param)?
            }
            None => Vec::new(),
        };
        Ok(Via { transport, host, port, params })
    }

    /// A new Via for a request we send.
    pub fn new(transport: &str, host: &str, port: u16, branch: &str) -> Via {
        Via {
            transport: transport.to_string(),
            host: host.to_string(),
            port: Some(port),
            params: vec![Param::new("branch", Some(branch)), Param::new("rport", None)],
        }
    }

    /// A parameter's value (`Some("")` for a flag).
    pub fn param(&self, name: &str) -> Option<&str> {
        text::find_param(&self.params, name).map(|p| p.value.as_deref().unwrap_or(""))
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch")
    }

    /// True for an RFC 3261 branch (magic cookie plus something unique).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len())
    }

    /// Adds `received` (when the source address differs) and fills a requested `rport`
    /// (RFC 3581 §4).
    pub fn stamp_source(&mut self, src: SocketAddr) {
        let ip = src.ip().to_string();
        let wants_rport = text::find_param(&self.params, "rport").is_some();
        if wants_rport {
            for p in self.params.iter_mut() {
                if p.name.eq_ignore_ascii_case("rport") {
                    p.value = Some(src.port().to_string());
                }
            }
        }
        if self.host != ip || wants_rport {
            self.params.retain(|p| !p.name.eq_ignore_ascii_case("received"));
            self.params.push(Param::new("received", Some(&ip)));
        }
    }

    /// Where a response to this Via goes over an unreliable transport (RFC 3261 §18.2.2,
    /// RFC 3581 §4): `received` (or the sent-by host when it is an address) and `rport`
    /// (or the sent-by port, else 5060). `None` when the host is a name to resolve.
    pub fn response_target(&self) -> Option<SocketAddr> {
        let host = self.param("received").filter(|s| !s.is_empty()).unwrap_or(&self.host);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip: std::net::IpAddr = host.parse().ok()?;
        let port = self.param("rport").and_then(|p| p.parse::<u16>().ok()).or(self.port).unwrap_or(if self.transport == "TLS" {
            5061
        } else {
            5060
        });
        Some(SocketAddr::new(ip, port))
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(64);
        s.push_str("SIP/2.0/");
        s.push_str(&self.transport);
        s.push(' ');
        s.push_str(&self.host);
        if let Some(p) = self.port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        text::write_params(&mut s, &self.params);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_spaces() {
        let v = Via::parse("SIP  /   2.0  /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.2");
        let l = Via::parse_list("SIP  / 2.0  / TCP     spindle.example.com   ;   branch  =   z9hG4bK9ikj8  ,  SIP  /    2.0   / UDP  192.168.255.111   ; branch=  z9hG4bK30239").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].branch(), Some("z9hG4bK30239"));
    }

    #[test]
    fn extraneous_separators_refused() {
        assert!(Via::parse_list("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
        assert!(Via::parse("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw").is_err());
    }

    #[test]
    fn rport_and_received() {
        let mut v = Via::parse("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKx;rport").unwrap();
        v.stamp_source("203.0.113.7:40000".parse().unwrap());
        assert_eq!(v.param("rport"), Some("40000"));
        assert_eq!(v.param("received"), Some("203.0.113.7"));
        assert_eq!(v.response_target(), Some("203.0.113.7:40000".parse().unwrap()));
        let mut w = Via::parse("SIP/2.0/UDP host.example.com;branch=z9hG4bKy").unwrap();
        w.stamp_source("127.0.0.1:7000".parse().unwrap());
        assert_eq!(w.response_target(), Some("127.0.0.1:5060".parse().unwrap()));
    }
}
