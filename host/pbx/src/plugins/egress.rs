//! Where a plugin's HTTP may go. A tenant grants its plugin host *names*; the PBX resolves
//! them itself and connects only to addresses on the public internet: loopback, private,
//! link-local (cloud metadata among them), carrier-grade NAT, multicast, reserved addresses
//! and the PBX's own are refused unless the operator allows them (`PBX_PLUGIN_EGRESS_ALLOW`).
//! The connection goes to the very address that was checked (no second lookup a DNS
//! rebinding could change), through no proxy, and redirects are not followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The operator's egress rules for plugins.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    /// Networks allowed although internal (CIDR: address and prefix length).
    pub allow: Vec<(IpAddr, u8)>,
    /// The PBX's own addresses (refused unless allowed).
    pub own: Vec<IpAddr>,
}

/// Why an address is refused, if it is.
pub fn internal_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_kind(v4),
            None => v6_kind(v6),
        },
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local (cloud metadata)"
    } else if ip.is_multicast() || ip.is_broadcast() {
        "multicast or broadcast"
    } else if ip.is_unspecified() || o[0] == 0 {
        "unspecified"
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        "carrier-grade NAT"
    } else if o[0] >= 240 || (o[0] == 192 && o[1] == 0 && o[2] == 0) || (o[0] == 198 && (o[1] & 0xfe) == 18) || ip.is_documentation() {
        "reserved"
    } else {
        return None;
    })
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let o = ip.octets();
    // IPv6 forms that carry an IPv4 address: judged by that address.
    let embedded = if s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0) {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15])) // NAT64
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])) // 6to4
    } else if s[..6].iter().all(|x| *x == 0) && !ip.is_loopback() && !ip.is_unspecified() {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15])) // IPv4-compatible
    } else {
        None
    };
    if let Some(v4) = embedded {
        return v4_kind(v4);
    }
    // Local-use NAT64 (RFC 8215) may translate to any IPv4 address of the operator's network.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return Some("local NAT64");
    }
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_unique_local() {
        "private"
    } else if ip.is_unicast_link_local() {
        "link-local"
    } else if (s[0] & 0xffc0) == 0xfec0 {
        "private (site-local)"
    } else if s[0] == 0x2001 && (s[1] == 0x0db8 || s[1] == 0) {
        "reserved (documentation or Teredo)"
    } else {
        return None;
    })
}

impl EgressPolicy {
    /// The policy from `PBX_PLUGIN_EGRESS_ALLOW` (comma-separated CIDRs or addresses) and the
    /// PBX's own addresses.
    pub fn from_env(own: Vec<IpAddr>) -> EgressPolicy {
        let allow = std::env::var("PBX_PLUGIN_EGRESS_ALLOW")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|s| {
                let parsed =
                    pbx_store::parse_cidr(s).or_else(|| s.parse::<IpAddr>().ok().map(|ip| (ip, if ip.is_ipv4() { 32 } else { 128 })));
                if parsed.is_none() {
                    tracing::warn!(entry = %s, "PBX_PLUGIN_EGRESS_ALLOW: not an address or CIDR, ignored");
                }
                parsed
            })
            .collect();
        EgressPolicy { allow, own }
    }

    /// Whether a plugin may connect to `ip`; the refusal names the kind of address.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow.iter().any(|(net, len)| pbx_store::cidr_contains(*net, *len, ip)) {
            return Ok(());
        }
        if let Some(kind) = internal_kind(ip) {
            return Err(format!("{ip} is a {kind} address"));
        }
        if self.own.contains(&ip) {
            return Err(format!("{ip} is the PBX itself"));
        }
        Ok(())
    }

    /// The addresses of `addrs` a plugin may reach, or why none.
    pub fn filter(&self, addrs: impl IntoIterator<Item = SocketAddr>) -> Result<Vec<SocketAddr>, String> {
        let mut ok = Vec::new();
        let mut why = None;
        for a in addrs {
            match self.check(a.ip()) {
                Ok(()) => ok.push(a),
                Err(e) => why = Some(e),
            }
        }
        if ok.is_empty() { Err(why.unwrap_or_else(|| "the host has no address".into())) } else { Ok(ok) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        let p = EgressPolicy { allow: Vec::new(), own: vec![ip("93.184.216.99")] };
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
            "2002:a9fe:a9fe::1",
            "::10.0.0.1",
            "fec0::1",
            "2001:0:4136:e378::1",
            "203.0.113.10",
            "93.184.216.99",
        ] {
            assert!(p.check(ip(bad)).is_err(), "{bad} must be refused");
        }
        for good in ["93.184.216.34", "2a00:1450:4010:c05::8b", "8.8.8.8"] {
            assert!(p.check(ip(good)).is_ok(), "{good} must be allowed");
        }
        let open = EgressPolicy { allow: vec![(ip("127.0.0.0"), 8)], own: Vec::new() };
        assert!(open.check(ip("127.0.0.1")).is_ok());
        assert!(open.check(ip("10.0.0.1")).is_err());
    }
}
