//! The engine's side of a browser leg: plain RTP descriptions (G.711 and telephone-event on
//! the edge's address) and RTP packets, sans-IO.

use pbx_sip::sdp::{Direction as SipDirection, Sdp};
use std::net::SocketAddr;
use str0m::format::Codec;
use str0m::media::Direction;

/// The payload type of telephone-event on both sides of the edge.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// The engine's payload types of the codecs a browser leg carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pts {
    /// PCMU.
    pub pcmu: Option<u8>,
    /// PCMA.
    pub pcma: Option<u8>,
    /// telephone-event/8000.
    pub tele: Option<u8>,
}

impl Default for Pts {
    fn default() -> Pts {
        Pts { pcmu: Some(0), pcma: Some(8), tele: Some(TELEPHONE_EVENT_PT) }
    }
}

impl Pts {
    /// The engine's payload type for a codec.
    pub fn pt_of(&self, codec: Codec) -> Option<u8> {
        match codec {
            Codec::PCMU => self.pcmu,
            Codec::PCMA => self.pcma,
            Codec::Tele => self.tele,
            _ => None,
        }
    }

    /// The codec of one of the engine's payload types.
    pub fn codec_of(&self, pt: u8) -> Option<Codec> {
        [(self.pcmu, Codec::PCMU), (self.pcma, Codec::PCMA), (self.tele, Codec::Tele)]
            .into_iter()
            .find(|(p, _)| *p == Some(pt))
            .map(|(_, c)| c)
    }
}

fn to_sip(d: Direction) -> SipDirection {
    match d {
        Direction::SendRecv => SipDirection::SendRecv,
        Direction::SendOnly => SipDirection::SendOnly,
        Direction::RecvOnly => SipDirection::RecvOnly,
        Direction::Inactive => SipDirection::Inactive,
    }
}

fn from_sip(d: SipDirection) -> Direction {
    match d {
        SipDirection::SendRecv => Direction::SendRecv,
        SipDirection::SendOnly => Direction::SendOnly,
        SipDirection::RecvOnly => Direction::RecvOnly,
        SipDirection::Inactive => Direction::Inactive,
    }
}

/// The direction of a browser's audio (a held call is `sendonly` or `inactive`).
pub fn browser_direction(sdp: &str) -> Direction {
    Sdp::parse(sdp.as_bytes()).map(|s| from_sip(s.audio_direction())).unwrap_or(Direction::SendRecv)
}

/// Whether a browser's description puts µ-law before A-law (Chromium and Firefox do).
pub fn prefers_ulaw(sdp: &str) -> bool {
    Sdp::parse(sdp.as_bytes())
        .ok()
        .and_then(|s| {
            s.audio().and_then(|a| {
                a.formats
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case("PCMU") || f.name.eq_ignore_ascii_case("PCMA"))
                    .map(|f| f.name.eq_ignore_ascii_case("PCMU"))
            })
        })
        .unwrap_or(false)
}

/// Whether a browser's description has G.711 audio, which WebRTC requires of every browser
/// (RFC 7874): the edge bridges it untouched and has nothing to say to a browser without it.
pub fn offers_g711(sdp: &str) -> bool {
    Sdp::parse(sdp.as_bytes())
        .ok()
        .and_then(|s| {
            s.audio().map(|a| {
                a.formats.iter().any(|f| (f.name.eq_ignore_ascii_case("PCMU") || f.name.eq_ignore_ascii_case("PCMA")) && f.rate == 8000)
            })
        })
        .unwrap_or(false)
}

/// A plain RTP description of the edge's side of a leg, for the engine; the law the browser
/// prefers comes first, so that the engine takes it when it can.
pub fn describe(addr: SocketAddr, pts: &Pts, dir: Direction, ulaw_first: bool) -> String {
    let ip = addr.ip();
    let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
    let mut fmts = Vec::new();
    let mut attrs = String::new();
    let laws = if ulaw_first { [(pts.pcmu, "PCMU"), (pts.pcma, "PCMA")] } else { [(pts.pcma, "PCMA"), (pts.pcmu, "PCMU")] };
    for (pt, name) in laws.into_iter().chain([(pts.tele, "telephone-event")]).filter_map(|(p, n)| p.map(|p| (p, n))) {
        fmts.push(pt.to_string());
        attrs.push_str(&format!("a=rtpmap:{pt} {name}/8000\r\n"));
        if name == "telephone-event" {
            attrs.push_str(&format!("a=fmtp:{pt} 0-16\r\n"));
        }
    }
    let session = u64::from(rand::random::<u32>());
    format!(
        "v=0\r\no=- {session} 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {fmts}\r\n{attrs}a=ptime:20\r\na={dir}\r\n",
        port = addr.port(),
        fmts = fmts.join(" "),
        dir = to_sip(dir).as_str(),
    )
}

/// Where the engine takes a leg's audio, its payload types and the direction it asks for.
pub fn parse(sdp: &str) -> Result<(SocketAddr, Pts, Direction), String> {
    let s = Sdp::parse(sdp.as_bytes()).map_err(|e| e.to_string())?;
    let (ip, port) = s.audio_target().ok_or("no audio in the description")?;
    let audio = s.audio().ok_or("no audio in the description")?;
    let find = |name: &str| audio.formats.iter().find(|f| f.name.eq_ignore_ascii_case(name) && f.rate == 8000).map(|f| f.pt);
    let pts = Pts { pcmu: find("PCMU"), pcma: find("PCMA"), tele: find("telephone-event") };
    if pts.pcmu.is_none() && pts.pcma.is_none() {
        return Err("neither PCMA nor PCMU offered".into());
    }
    Ok((SocketAddr::new(ip, port), pts, from_sip(s.audio_direction())))
}

/// An RTP packet's header fields and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtp<'a> {
    /// Payload type.
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// The payload.
    pub payload: &'a [u8],
}

impl<'a> Rtp<'a> {
    /// Reads an RTP packet (version 2; CSRCs, an extension and padding skipped); `None` for
    /// anything else.
    pub fn parse(b: &'a [u8]) -> Option<Rtp<'a>> {
        let first = *b.first()?;
        if first >> 6 != 2 || b.len() < 12 {
            return None;
        }
        let cc = usize::from(first & 0x0f);
        let mut at = 12 + 4 * cc;
        if first & 0x10 != 0 {
            let words = usize::from(u16::from_be_bytes([*b.get(at + 2)?, *b.get(at + 3)?]));
            at += 4 + 4 * words;
        }
        let mut end = b.len();
        if first & 0x20 != 0 {
            end = end.checked_sub(usize::from(*b.last()?))?;
        }
        let payload = b.get(at..end)?;
        Some(Rtp {
            pt: b.get(1)? & 0x7f,
            seq: u16::from_be_bytes([*b.get(2)?, *b.get(3)?]),
            timestamp: u32::from_be_bytes([*b.get(4)?, *b.get(5)?, *b.get(6)?, *b.get(7)?]),
            payload,
        })
    }

    /// An RTP packet of these fields.
    pub fn build(pt: u8, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + payload.len());
        out.push(0x80);
        out.push(pt & 0x7f);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&timestamp.to_be_bytes());
        out.extend_from_slice(&ssrc.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_round_trips_through_the_parser() {
        let addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let text = describe(addr, &Pts::default(), Direction::SendOnly, true);
        assert!(text.contains("RTP/AVP 0 8 101"), "µ-law first: {text}");
        let (a, pts, dir) = parse(&text).unwrap();
        assert_eq!((a, pts, dir), (addr, Pts::default(), Direction::SendOnly));
    }

    #[test]
    fn the_engines_payload_types_are_read_by_name() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8 96\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\n";
        let (a, pts, _) = parse(sdp).unwrap();
        assert_eq!(a, "10.0.0.1:20000".parse().unwrap());
        assert_eq!((pts.pcma, pts.pcmu, pts.tele), (Some(8), None, Some(96)));
        assert_eq!(pts.codec_of(96), Some(Codec::Tele));
        assert!(parse("v=0\r\nm=audio 1 RTP/AVP 18\r\nc=IN IP4 1.2.3.4\r\n").is_err(), "G.729 only is refused");
    }

    #[test]
    fn rtp_packets_are_built_and_read_back_and_garbage_is_refused() {
        let p = Rtp::build(8, 65535, 160, 7, &[1, 2, 3]);
        assert_eq!(Rtp::parse(&p), Some(Rtp { pt: 8, seq: 65535, timestamp: 160, payload: &[1, 2, 3] }));
        assert_eq!(Rtp::parse(&[0x80, 8, 0]), None);
        assert_eq!(Rtp::parse(&[0x00; 20]), None, "not version 2");
        let mut padded = Rtp::build(0, 1, 2, 3, &[9, 9, 0, 0, 4]);
        padded[0] |= 0x20;
        assert_eq!(Rtp::parse(&padded).map(|r| r.payload.to_vec()), Some(vec![9]));
        let mut bad = Rtp::build(0, 1, 2, 3, &[200]);
        bad[0] |= 0x20;
        assert_eq!(Rtp::parse(&bad), None, "padding longer than the packet");
        let mut ext = Rtp::build(0, 1, 2, 3, &[]);
        ext[0] |= 0x10;
        assert_eq!(Rtp::parse(&ext), None, "extension header cut off");
    }
}
