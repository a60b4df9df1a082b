//! SDP (RFC 4566) as the B2BUA needs it: parse what phones offer, pick codecs both legs
//! support (RFC 3264 offer/answer), and write the PBX's own offers and answers so that every
//! leg sends its RTP to the PBX.

use std::fmt::Write as _;
use std::net::IpAddr;

/// Why an SDP body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Not UTF-8 or a line that is not `x=value`.
    #[error("malformed SDP line: {0}")]
    Syntax(String),
    /// An `m=` line that does not parse.
    #[error("malformed m= line")]
    Media,
    /// A `c=` line that does not parse.
    #[error("malformed c= line")]
    Connection,
}

/// Media direction (RFC 3264 §5.1, §8.4 hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// Only sends (puts the other side on hold).
    SendOnly,
    /// Only receives.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// Attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction as seen from the other side (sendonly ↔ recvonly).
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// True when this side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// True when this side receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// One payload format offered on an m= line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// RTP payload type.
    pub pt: u8,
    /// Encoding name, e.g. `PCMU`, `telephone-event`.
    pub name: String,
    /// Clock rate.
    pub rate: u32,
    /// `a=fmtp` value, if any.
    pub fmtp: Option<String>,
}

/// One m= section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    /// `audio`, `video`...
    pub kind: String,
    /// Port (0 = rejected/disabled).
    pub port: u16,
    /// Transport profile, e.g. `RTP/AVP`.
    pub proto: String,
    /// Formats in preference order.
    pub formats: Vec<Format>,
    /// Media-level connection address.
    pub connection: Option<IpAddr>,
    /// Direction attribute (default sendrecv).
    pub direction: Direction,
    /// `a=ptime`.
    pub ptime: Option<u32>,
    /// `a=rtcp` port.
    pub rtcp_port: Option<u16>,
    /// Other attribute lines, kept as `name[:value]`.
    pub other_attrs: Vec<String>,
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// o= username.
    pub origin_user: String,
    /// o= session id.
    pub session_id: u64,
    /// o= version.
    pub session_version: u64,
    /// o= address.
    pub origin_addr: String,
    /// Session-level connection address.
    pub connection: Option<IpAddr>,
    /// Session-level direction, if given.
    pub direction: Option<Direction>,
    /// m= sections.
    pub media: Vec<MediaSection>,
}

fn static_format(pt: u8) -> Option<(&'static str, u32)> {
    Some(match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        13 => ("CN", 8000),
        18 => ("G729", 8000),
        _ => return None,
    })
}

fn parse_conn(v: &str) -> Result<IpAddr, SdpError> {
    let mut it = v.split_whitespace();
    let (Some("IN"), Some(_t), Some(addr)) = (it.next(), it.next(), it.next()) else {
        return Err(SdpError::Connection);
    };
    let addr = addr.split('/').next().unwrap_or("");
    addr.parse().map_err(|_| SdpError::Connection)
}

fn parse_direction(a: &str) -> Option<Direction> {
    Some(match a {
        "sendrecv" => Direction::SendRecv,
        "sendonly" => Direction::SendOnly,
        "recvonly" => Direction::RecvOnly,
        "inactive" => Direction::Inactive,
        _ => return None,
    })
}

impl Sdp {
    /// Parses an SDP body.
    pub fn parse(body: &[u8]) -> Result<Sdp, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::Syntax("not UTF-8".into()))?;
        let mut sdp = Sdp {
            origin_user: "-".into(),
            session_id: 0,
            session_version: 0,
            origin_addr: "0.0.0.0".into(),
            connection: None,
            direction: None,
            media: Vec::new(),
        };
        for raw in text.split('\n') {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (kind, value) = match line.split_once('=') {
                Some((k, v)) if k.len() == 1 => (k.as_bytes()[0], v),
                _ => return Err(SdpError::Syntax(line.chars().take(40).collect())),
            };
            match kind {
                b'o' => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() >= 6 {
                        sdp.origin_user = f[0].to_string();
                        sdp.session_id = f[1].parse().unwrap_or(0);
                        sdp.session_version = f[2].parse().unwrap_or(0);
                        sdp.origin_addr = f[5].to_string();
                    }
                }
                b'c' => {
                    let c = parse_conn(value)?;
                    match sdp.media.last_mut() {
                        Some(m) => m.connection = Some(c),
                        None => sdp.connection = Some(c),
                    }
                }
                b'm' => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() < 3 {
                        return Err(SdpError::Media);
                    }
                    let port = f[1].split('/').next().unwrap_or("").parse::<u16>().map_err(|_| SdpError::Media)?;
                    let mut formats = Vec::new();
                    for pt in &f[3..] {
                        if let Ok(pt) = pt.parse::<u8>() {
                            let (name, rate) = static_format(pt).map(|(n, r)| (n.to_string(), r)).unwrap_or_default();
                            formats.push(Format { pt, name, rate, fmtp: None });
                        }
                    }
                    sdp.media.push(MediaSection {
                        kind: f[0].to_string(),
                        port,
                        proto: f[2].to_string(),
                        formats,
                        connection: None,
                        direction: Direction::SendRecv,
                        ptime: None,
                        rtcp_port: None,
                        other_attrs: Vec::new(),
                    });
                }
                b'a' => {
                    let (name, val) = match value.split_once(':') {
                        Some((n, v)) => (n, Some(v)),
                        None => (value, None),
                    };
                    if let Some(d) = parse_direction(name) {
                        match sdp.media.last_mut() {
                            Some(m) => m.direction = d,
                            None => sdp.direction = Some(d),
                        }
                        continue;
                    }
                    let Some(m) = sdp.media.last_mut() else { continue };
                    match (name, val) {
                        ("rtpmap", Some(v)) => {
                            let mut it = v.splitn(2, ' ');
                            let pt = it.next().and_then(|p| p.parse::<u8>().ok());
                            let enc = it.next().unwrap_or("");
                            let mut e = enc.split('/');
                            let ename = e.next().unwrap_or("").trim().to_string();
                            let rate = e.next().and_then(|r| r.trim().parse().ok()).unwrap_or(8000);
                            if let Some(f) = pt.and_then(|pt| m.formats.iter_mut().find(|f| f.pt == pt)) {
                                f.name = ename;
                                f.rate = rate;
                            }
                        }
                        ("fmtp", Some(v)) => {
                            let mut it = v.splitn(2, ' ');
                            let pt = it.next().and_then(|p| p.parse::<u8>().ok());
                            if let Some(f) = pt.and_then(|pt| m.formats.iter_mut().find(|f| f.pt == pt)) {
                                f.fmtp = it.next().map(|s| s.trim().to_string());
                            }
                        }
                        ("ptime", Some(v)) => m.ptime = v.trim().parse().ok(),
                        ("rtcp", Some(v)) => m.rtcp_port = v.split_whitespace().next().and_then(|p| p.parse().ok()),
                        _ => m.other_attrs.push(value.to_string()),
                    }
                }
                _ => {}
            }
        }
        Ok(sdp)
    }

    /// The first audio section.
    pub fn audio(&self) -> Option<&MediaSection> {
        self.media.iter().find(|m| m.kind == "audio" && m.port != 0)
    }

    /// Where the first audio stream should be sent: (address, port).
    pub fn audio_target(&self) -> Option<(IpAddr, u16)> {
        let m = self.audio()?;
        let addr = m.connection.or(self.connection)?;
        Some((addr, m.port))
    }

    /// The effective direction of the first audio section (a `0.0.0.0` address counts as
    /// hold, RFC 2543 style).
    pub fn audio_direction(&self) -> Direction {
        let Some(m) = self.audio() else { return Direction::Inactive };
        let addr = m.connection.or(self.connection);
        if addr.is_some_and(|a| a.is_unspecified()) {
            return match m.direction {
                Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
                _ => Direction::Inactive,
            };
        }
        if m.direction == Direction::SendRecv { self.direction.unwrap_or(Direction::SendRecv) } else { m.direction }
    }

    /// Writes the SDP.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(256);
        let ip = |a: &IpAddr| if a.is_ipv6() { "IP6" } else { "IP4" };
        let _ = write!(s, "v=0\r\no={} {} {} IN ", self.origin_user, self.session_id, self.session_version);
        let oaddr: IpAddr = self.origin_addr.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let _ = write!(s, "{} {}\r\ns=pbx\r\n", ip(&oaddr), self.origin_addr);
        if let Some(c) = &self.connection {
            let _ = write!(s, "c=IN {} {c}\r\n", ip(c));
        }
        s.push_str("t=0 0\r\n");
        for m in &self.media {
            let _ = write!(s, "m={} {} {}", m.kind, m.port, m.proto);
            if m.formats.is_empty() {
                s.push_str(" 0");
            }
            for f in &m.formats {
                let _ = write!(s, " {}", f.pt);
            }
            s.push_str("\r\n");
            if let Some(c) = &m.connection {
                let _ = write!(s, "c=IN {} {c}\r\n", ip(c));
            }
            if m.port == 0 {
                continue;
            }
            for f in &m.formats {
                if !f.name.is_empty() {
                    let _ = write!(s, "a=rtpmap:{} {}/{}\r\n", f.pt, f.name, f.rate);
                }
                if let Some(fm) = &f.fmtp {
                    let _ = write!(s, "a=fmtp:{} {fm}\r\n", f.pt);
                }
            }
            if let Some(p) = m.ptime {
                let _ = write!(s, "a=ptime:{p}\r\n");
            }
            if let Some(p) = m.rtcp_port {
                let _ = write!(s, "a=rtcp:{p}\r\n");
            }
            for a in &m.other_attrs {
                let _ = write!(s, "a={a}\r\n");
            }
            let _ = write!(s, "a={}\r\n", m.direction.as_str());
        }
        s.into_bytes()
    }
}

/// Codecs the media engine can carry without transcoding.
pub fn is_supported_codec(f: &Format) -> bool {
    let n = f.name.to_ascii_uppercase();
    (n == "PCMU" || n == "PCMA") && f.rate == 8000 || is_telephone_event(f)
}

/// RFC 4733 telephone-event at 8 kHz.
pub fn is_telephone_event(f: &Format) -> bool {
    f.name.eq_ignore_ascii_case("telephone-event") && f.rate == 8000
}

/// Picks, from an offer, the formats the PBX can relay: audio codecs in the offerer's order
/// and telephone-event if offered. `None` when no audio codec is common.
pub fn supported_formats(offer: &MediaSection) -> Option<Vec<Format>> {
    let fmts: Vec<Format> = offer.formats.iter().filter(|f| is_supported_codec(f)).cloned().collect();
    if fmts.iter().any(|f| !is_telephone_event(f)) { Some(fmts) } else { None }
}

/// The answer's formats: the first audio codec of the offer that `allowed` accepts
/// (matching by name and rate), plus telephone-event when both sides have it. Payload types
/// are the offer's (RFC 3264 §6.1).
pub fn answer_formats(offer: &[Format], allowed: &[Format]) -> Option<Vec<Format>> {
    let same = |a: &Format, b: &Format| a.name.eq_ignore_ascii_case(&b.name) && a.rate == b.rate;
    let codec = offer.iter().find(|f| !is_telephone_event(f) && allowed.iter().any(|a| same(a, f)))?;
    let mut out = vec![codec.clone()];
    if let Some(te) = offer.iter().find(|f| is_telephone_event(f))
        && allowed.iter().any(is_telephone_event)
    {
        out.push(te.clone());
    }
    Some(out)
}

/// The PBX's default audio formats for an offer it makes on its own (late offer, music).
pub fn default_formats() -> Vec<Format> {
    vec![
        Format { pt: 8, name: "PCMA".into(), rate: 8000, fmtp: None },
        Format { pt: 0, name: "PCMU".into(), rate: 8000, fmtp: None },
        Format { pt: 101, name: "telephone-event".into(), rate: 8000, fmtp: Some("0-16".into()) },
    ]
}

/// Builds the PBX's SDP for one leg: one audio section at `addr:port` with `formats`, plus
/// rejected (port 0) copies of the peer's other sections when answering, so the answer has
/// as many m= lines as the offer.
pub fn build(
    session_id: u64,
    version: u64,
    addr: IpAddr,
    port: u16,
    formats: Vec<Format>,
    direction: Direction,
    mirror: Option<&Sdp>,
) -> Sdp {
    let audio = MediaSection {
        kind: "audio".into(),
        port,
        proto: "RTP/AVP".into(),
        formats,
        connection: None,
        direction,
        ptime: Some(20),
        rtcp_port: None,
        other_attrs: Vec::new(),
    };
    let mut media = Vec::new();
    match mirror {
        Some(offer) => {
            let mut placed = false;
            for m in &offer.media {
                if !placed && m.kind == "audio" && m.port != 0 {
                    media.push(audio.clone());
                    placed = true;
                } else {
                    media.push(MediaSection {
                        kind: m.kind.clone(),
                        port: 0,
                        proto: m.proto.clone(),
                        formats: m.formats.iter().take(1).cloned().collect(),
                        connection: None,
                        direction: Direction::Inactive,
                        ptime: None,
                        rtcp_port: None,
                        other_attrs: Vec::new(),
                    });
                }
            }
            if !placed {
                media.push(audio);
            }
        }
        None => media.push(audio),
    }
    Sdp {
        origin_user: "pbx".into(),
        session_id,
        session_version: version,
        origin_addr: addr.to_string(),
        connection: Some(addr),
        direction: None,
        media,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &[u8] = b"v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";

    #[test]
    fn parse_and_pick() {
        let sdp = Sdp::parse(OFFER).unwrap();
        assert_eq!(sdp.audio_target(), Some(("10.0.0.1".parse().unwrap(), 4000)));
        let f = supported_formats(sdp.audio().unwrap()).unwrap();
        assert_eq!(f.iter().map(|f| f.pt).collect::<Vec<_>>(), vec![0, 8, 101]);
        let ans = answer_formats(&f, &[default_formats()[0].clone(), default_formats()[2].clone()]).unwrap();
        assert_eq!(ans.iter().map(|f| f.pt).collect::<Vec<_>>(), vec![8, 101]);
    }

    #[test]
    fn answer_mirrors_m_lines() {
        let offer = Sdp::parse(OFFER).unwrap();
        let a = build(7, 1, "192.0.2.9".parse().unwrap(), 20000, default_formats(), Direction::SendRecv, Some(&offer));
        let reparsed = Sdp::parse(&a.to_bytes()).unwrap();
        assert_eq!(reparsed.media.len(), 2);
        assert_eq!(reparsed.media[1].port, 0);
        assert_eq!(reparsed.audio_target(), Some(("192.0.2.9".parse().unwrap(), 20000)));
        assert_eq!(reparsed.audio().unwrap().formats[2].fmtp.as_deref(), Some("0-16"));
    }

    #[test]
    fn hold_forms() {
        let s = Sdp::parse(b"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n").unwrap();
        assert_eq!(s.audio_direction(), Direction::SendOnly);
        let s = Sdp::parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n").unwrap();
        assert_eq!(s.audio_direction(), Direction::SendOnly);
        let s = Sdp::parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\na=inactive\r\nm=audio 4000 RTP/AVP 0\r\n").unwrap();
        assert_eq!(s.audio_direction(), Direction::Inactive);
    }

    #[test]
    fn no_common_codec() {
        let s = Sdp::parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 18 101\r\na=rtpmap:101 telephone-event/8000\r\n").unwrap();
        assert!(supported_formats(s.audio().unwrap()).is_none());
        assert!(Sdp::parse(b"v=0\r\ngarbage\r\n").is_err());
    }
}
