//! Which source addresses a leg's media is accepted from and where media is sent
//! (symmetric RTP for phones behind NAT, without RTP bleed and without reflection).
//!
//! A packet is accepted only from the IP address the leg's SDP named or the IP its SIP came
//! from; the first accepted source is latched as the address to send back to, and it moves
//! only to another port of those same addresses (a NAT rebinding). Packets from any other
//! host are dropped, so a third party who guesses the port cannot take over the stream.
//!
//! Before anything arrived, the PBX sends to the SDP's address only if the [`SendPolicy`]
//! allows: by default only when that address is the one the leg's signalling came from, so
//! a forged INVITE cannot aim the PBX's media at a third party.

use std::net::{IpAddr, SocketAddr};

/// Where media may go before a packet from the leg confirmed its address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SendPolicy {
    /// Only to an address confirmed by incoming RTP (strict symmetric latching).
    Latched,
    /// Also to the SDP's address when it is the address the signalling came from.
    #[default]
    SignalSource,
}

impl SendPolicy {
    /// Parses `latched` or `signal-source`.
    pub fn parse(s: &str) -> Option<SendPolicy> {
        match s.trim() {
            "latched" => Some(SendPolicy::Latched),
            "signal-source" => Some(SendPolicy::SignalSource),
            _ => None,
        }
    }
}

/// The far end of one leg as media sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemotePeer {
    sdp: Option<SocketAddr>,
    signal_ip: Option<IpAddr>,
    latched: Option<SocketAddr>,
    policy: SendPolicy,
}

impl RemotePeer {
    /// A peer described by its SDP address and the IP its signalling came from.
    pub fn new(sdp: Option<SocketAddr>, signal_ip: Option<IpAddr>) -> RemotePeer {
        RemotePeer { sdp, signal_ip, latched: None, policy: SendPolicy::default() }
    }

    /// A peer with no addresses yet, sending under `policy`.
    pub fn with_policy(policy: SendPolicy) -> RemotePeer {
        RemotePeer { policy, ..RemotePeer::default() }
    }

    /// Updates the SDP and signalling addresses after a re-INVITE or a transfer; the latch
    /// is forgotten when the SDP names another media endpoint (a transfer to another phone,
    /// possibly behind the same NAT) or the latched address is no longer trusted. A re-INVITE
    /// that keeps the SDP address (hold, resume) keeps the latch.
    pub fn update(&mut self, sdp: Option<SocketAddr>, signal_ip: Option<IpAddr>) {
        let moved = sdp != self.sdp;
        self.sdp = sdp;
        self.signal_ip = signal_ip;
        if let Some(l) = self.latched
            && (moved || !self.trusted_ip(l.ip()))
        {
            self.latched = None;
        }
    }

    fn trusted_ip(&self, ip: IpAddr) -> bool {
        self.sdp.is_some_and(|a| a.ip() == ip) || self.signal_ip == Some(ip)
    }

    /// Decides on a received packet's source; latches it when accepted.
    pub fn accept(&mut self, src: SocketAddr) -> bool {
        if self.latched == Some(src) {
            return true;
        }
        if self.trusted_ip(src.ip()) {
            self.latched = Some(src);
            return true;
        }
        false
    }

    /// Where to send media for this leg: the latched source, else (by policy) the SDP's
    /// address when the signalling came from it, else nowhere yet.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.latched.or(match self.policy {
            SendPolicy::Latched => None,
            SendPolicy::SignalSource => self.sdp.filter(|a| Some(a.ip()) == self.signal_ip),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forged_sdp_cannot_aim_media_at_a_third_party() {
        // The INVITE came from 198.51.100.7 but its SDP names a victim.
        let p = RemotePeer::new(Some(a("192.0.2.99:4000")), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(p.destination(), None, "nothing is sent before the victim itself sends");
        let strict = RemotePeer {
            policy: SendPolicy::Latched,
            ..RemotePeer::new(Some(a("198.51.100.7:4000")), Some("198.51.100.7".parse().unwrap()))
        };
        assert_eq!(strict.destination(), None, "the strict policy waits even for the signalling source");
        let ok = RemotePeer::new(Some(a("198.51.100.7:4000")), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(ok.destination(), Some(a("198.51.100.7:4000")));
    }

    #[test]
    fn nat_phone_latches_to_public_source() {
        // SDP says a private address; SIP came from the NAT's public address.
        let mut p = RemotePeer::new(Some(a("192.168.1.10:4000")), Some("203.0.113.5".parse().unwrap()));
        assert_eq!(p.destination(), None, "the private address is not the signalling source");
        assert!(p.accept(a("203.0.113.5:61000")));
        assert_eq!(p.destination(), Some(a("203.0.113.5:61000")));
        // NAT rebinding to another port of the same host.
        assert!(p.accept(a("203.0.113.5:61002")));
        assert_eq!(p.destination(), Some(a("203.0.113.5:61002")));
    }

    #[test]
    fn third_party_cannot_hijack() {
        let mut p = RemotePeer::new(Some(a("198.51.100.7:4000")), Some("198.51.100.7".parse().unwrap()));
        // An attacker sends first: refused, and nothing latched.
        assert!(!p.accept(a("192.0.2.66:5000")));
        assert_eq!(p.destination(), Some(a("198.51.100.7:4000")));
        assert!(p.accept(a("198.51.100.7:4000")));
        assert!(!p.accept(a("192.0.2.66:5000")));
        assert_eq!(p.destination(), Some(a("198.51.100.7:4000")));
    }

    #[test]
    fn a_new_endpoint_on_the_same_ip_drops_the_latch_but_hold_keeps_it() {
        let a: SocketAddr = "192.0.2.10:4000".parse().unwrap();
        let natted: SocketAddr = "203.0.113.5:61000".parse().unwrap();
        let mut p = RemotePeer::new(Some(a), Some(natted.ip()));
        assert!(p.accept(natted));
        // Hold/resume: same SDP address, the latch stays.
        p.update(Some(a), Some(natted.ip()));
        assert_eq!(p.destination(), Some(natted));
        // Another phone takes the leg (a transfer): the latch goes; its SDP address is used
        // once it is the address its signalling came from.
        let b: SocketAddr = "192.0.2.10:4002".parse().unwrap();
        p.update(Some(b), Some(natted.ip()));
        assert_eq!(p.destination(), None);
        p.update(Some(b), Some(b.ip()));
        assert_eq!(p.destination(), Some(b));
    }

    #[test]
    fn reinvite_to_new_host_drops_old_latch() {
        let mut p = RemotePeer::new(Some(a("198.51.100.7:4000")), None);
        assert!(p.accept(a("198.51.100.7:4000")));
        p.update(Some(a("198.51.100.9:4100")), Some("198.51.100.9".parse().unwrap()));
        assert_eq!(p.destination(), Some(a("198.51.100.9:4100")));
        assert!(!p.accept(a("198.51.100.7:4000")));
    }
}
