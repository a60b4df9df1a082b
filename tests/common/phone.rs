//! A minimal SIP phone over UDP for the edge cases SIPp scenarios cannot express well
//! (identical refusals, hold, dead calls, CANCEL races). It speaks plain RFC 3261 using the
//! PBX's own message model only to read what comes back.

use pbx_sip::message::{Message, Request, Response, SipMessage};
use pbx_sip::parse::{Framing, parse_message};
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A phone with one UDP socket.
pub struct Phone {
    sock: UdpSocket,
    /// Its address.
    pub addr: SocketAddr,
    server: SocketAddr,
    /// Extension.
    pub user: String,
    pass: String,
    /// Domain.
    pub domain: String,
    seq: u32,
    inbox: VecDeque<Message>,
    /// An RTP socket for the phone's media.
    pub rtp: UdpSocket,
}

/// An outgoing call's identifiers.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// Their tag.
    pub remote_tag: String,
    /// Last CSeq we used.
    pub seq: u32,
    /// To URI.
    pub to: String,
}

fn rand_hex() -> String {
    format!("{:08x}{:08x}", super::rand_u32(), super::rand_u32().rotate_left(7))
}

impl Phone {
    /// A phone for `user` at `server` bound on `bind_ip`.
    pub fn new(server: SocketAddr, user: &str, pass: &str, bind_ip: &str) -> Phone {
        let sock = UdpSocket::bind((bind_ip, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let rtp = UdpSocket::bind((bind_ip, 0)).unwrap();
        rtp.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = sock.local_addr().unwrap();
        Phone {
            sock,
            addr,
            server,
            user: user.into(),
            pass: pass.into(),
            domain: "acme.example".into(),
            seq: 1,
            inbox: VecDeque::new(),
            rtp,
        }
    }

    /// Sends raw text.
    pub fn send_raw(&self, text: &str) {
        self.sock.send_to(text.replace('\n', "\r\n").replace("\r\r\n", "\r\n").as_bytes(), self.server).unwrap();
    }

    /// Sends a message.
    pub fn send_bytes(&self, bytes: &[u8]) {
        self.sock.send_to(bytes, self.server).unwrap();
    }

    fn fill(&mut self, until: Instant) {
        let mut buf = [0u8; 65536];
        while Instant::now() < until {
            match self.sock.recv_from(&mut buf) {
                Ok((n, _)) => {
                    if let Ok(p) = parse_message(&buf[..n], Framing::Datagram) {
                        self.inbox.push_back(p.message);
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// The next message matching `pred`, waiting up to `timeout`.
    pub fn wait(&mut self, timeout: Duration, mut pred: impl FnMut(&Message) -> bool) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.inbox.iter().position(&mut pred) {
                return self.inbox.remove(i);
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.fill(deadline);
        }
    }

    /// The next final response for `call_id` and `method`.
    pub fn final_response(&mut self, call_id: &str, method: &str, timeout: Duration) -> Option<Response> {
        match self.wait(timeout, |m| matches!(m, Message::Response(r) if r.status >= 200 && r.call_id() == call_id && r.cseq().is_some_and(|c| c.method.as_str() == method))) {
            Some(Message::Response(r)) => Some(r),
            _ => None,
        }
    }

    /// The next response (any status) for `call_id`.
    pub fn response(&mut self, call_id: &str, timeout: Duration) -> Option<Response> {
        match self.wait(timeout, |m| matches!(m, Message::Response(r) if r.call_id() == call_id)) {
            Some(Message::Response(r)) => Some(r),
            _ => None,
        }
    }

    /// The next request of `method`.
    pub fn request(&mut self, method: &str, timeout: Duration) -> Option<Request> {
        match self.wait(timeout, |m| matches!(m, Message::Request(r) if r.method.as_str() == method)) {
            Some(Message::Request(r)) => Some(r),
            _ => None,
        }
    }

    fn via(&self) -> String {
        format!("SIP/2.0/UDP {};branch=z9hG4bK{};rport", self.addr, rand_hex())
    }

    /// Builds a REGISTER (optionally with credentials answering `challenge`).
    pub fn register_msg(&mut self, call_id: &str, expires: u32, auth: Option<(&str, &str, &str)>) -> String {
        self.seq += 1;
        let mut m = format!(
            "REGISTER sip:{d} SIP/2.0\nVia: {via}\nMax-Forwards: 70\nFrom: <sip:{u}@{d}>;tag={t}\nTo: <sip:{u}@{d}>\nCall-ID: {call_id}\nCSeq: {s} REGISTER\nContact: <sip:{u}@{a}>\nExpires: {expires}\n",
            d = self.domain,
            via = self.via(),
            u = self.user,
            t = rand_hex(),
            s = self.seq,
            a = self.addr
        );
        if let Some((challenge, user, pass)) = auth {
            let v = pbx_sip::digest::authorize(challenge, user, pass, "REGISTER", &format!("sip:{}", self.domain), 1).unwrap();
            m.push_str(&format!("Authorization: {v}\n"));
        }
        m.push_str("Content-Length: 0\n\n");
        m
    }

    /// Registers with the phone's credentials; the final response.
    pub fn register(&mut self, expires: u32) -> Response {
        let (user, pass) = (self.user.clone(), self.pass.clone());
        self.register_as(&user, &pass, expires)
    }

    /// Registers claiming `user`/`pass`; the final response after the challenge.
    pub fn register_as(&mut self, user: &str, pass: &str, expires: u32) -> Response {
        let call_id = format!("reg-{}", rand_hex());
        let m = self.register_msg(&call_id, expires, None);
        self.send_raw(&m);
        let r = self.final_response(&call_id, "REGISTER", Duration::from_secs(5)).expect("challenge");
        if r.status != 401 {
            return r;
        }
        let ch = r.headers.get(&pbx_sip::HeaderName::WwwAuthenticate).unwrap().to_string();
        let m = self.register_msg(&call_id, expires, Some((&ch, user, pass)));
        self.send_raw(&m);
        self.final_response(&call_id, "REGISTER", Duration::from_secs(10)).expect("final REGISTER response")
    }

    /// SDP offer for the phone's RTP socket.
    pub fn sdp(&self, direction: &str) -> String {
        let a = self.rtp.local_addr().unwrap();
        format!(
            "v=0\no=- 1 1 IN IP4 {ip}\ns=-\nc=IN IP4 {ip}\nt=0 0\nm=audio {p} RTP/AVP 0 8 101\na=rtpmap:101 telephone-event/8000\na={direction}\n",
            ip = a.ip(),
            p = a.port()
        )
    }

    fn invite_msg(&mut self, d: &Dialog, sdp: &str, auth: Option<&str>) -> String {
        let mut m = format!(
            "INVITE sip:{to}@{dom} SIP/2.0\nVia: {via}\nMax-Forwards: 70\nFrom: <sip:{u}@{dom}>;tag={lt}\nTo: <sip:{to}@{dom}>{rt}\nCall-ID: {cid}\nCSeq: {s} INVITE\nContact: <sip:{u}@{a}>\nContent-Type: application/sdp\n",
            to = d.to,
            dom = self.domain,
            via = self.via(),
            u = self.user,
            lt = d.local_tag,
            rt = if d.remote_tag.is_empty() { String::new() } else { format!(";tag={}", d.remote_tag) },
            cid = d.call_id,
            s = d.seq,
            a = self.addr
        );
        if let Some(ch) = auth {
            let v = pbx_sip::digest::authorize(ch, &self.user, &self.pass, "INVITE", &format!("sip:{}@{}", d.to, self.domain), 1).unwrap();
            m.push_str(&format!("Proxy-Authorization: {v}\n"));
        }
        let body = sdp.replace('\n', "\r\n");
        m.push_str(&format!("Content-Length: {}\n\n", body.len()));
        m.replace('\n', "\r\n") + &body
    }

    /// Calls `to`: handles the 407 challenge and returns the dialog and the first response
    /// after it that is not 100 (the caller then waits for what it expects).
    pub fn call(&mut self, to: &str) -> Dialog {
        let mut d =
            Dialog { call_id: format!("call-{}", rand_hex()), local_tag: rand_hex(), remote_tag: String::new(), seq: 1, to: to.into() };
        let sdp = self.sdp("sendrecv");
        let m = self.invite_msg(&d, &sdp, None);
        self.send_bytes(m.as_bytes());
        let r = self.final_response(&d.call_id, "INVITE", Duration::from_secs(5)).expect("407");
        assert_eq!(r.status, 407, "expected a challenge");
        let ch = r.headers.get(&pbx_sip::HeaderName::ProxyAuthenticate).unwrap().to_string();
        let tag = r.parsed_to().unwrap().tag().unwrap().to_string();
        self.send_raw(&format!(
            "ACK sip:{to}@{dom} SIP/2.0\nVia: {via}\nMax-Forwards: 70\nFrom: <sip:{u}@{dom}>;tag={lt}\nTo: <sip:{to}@{dom}>;tag={tag}\nCall-ID: {cid}\nCSeq: 1 ACK\nContent-Length: 0\n\n",
            dom = self.domain,
            via = self.via(),
            u = self.user,
            lt = d.local_tag,
            cid = d.call_id
        ));
        d.seq = 2;
        let m = self.invite_msg(&d, &sdp, Some(&ch));
        self.send_bytes(m.as_bytes());
        d
    }

    /// After a 2xx: records the remote tag and sends the ACK.
    pub fn ack(&mut self, d: &mut Dialog, ok: &Response) {
        d.remote_tag = ok.parsed_to().unwrap().tag().unwrap().to_string();
        let target = ok.contacts().first().map(|c| c.uri.to_string()).unwrap();
        self.send_raw(&format!(
            "ACK {target} SIP/2.0\nVia: {via}\nMax-Forwards: 70\nFrom: <sip:{u}@{dom}>;tag={lt}\nTo: <sip:{to}@{dom}>;tag={rt}\nCall-ID: {cid}\nCSeq: {s} ACK\nContent-Length: 0\n\n",
            via = self.via(),
            u = self.user,
            dom = self.domain,
            lt = d.local_tag,
            to = d.to,
            rt = d.remote_tag,
            cid = d.call_id,
            s = d.seq
        ));
    }

    /// Sends an in-dialog request of `method` with an optional SDP body.
    pub fn in_dialog(&mut self, d: &mut Dialog, method: &str, sdp: Option<&str>) {
        d.seq += 1;
        let body = sdp.map(|s| s.replace('\n', "\r\n")).unwrap_or_default();
        let ct = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".into() };
        let m = format!(
            "{method} sip:pbx@{srv} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: <sip:{u}@{dom}>;tag={lt}\r\nTo: <sip:{to}@{dom}>;tag={rt}\r\nCall-ID: {cid}\r\nCSeq: {s} {method}\r\nContact: <sip:{u}@{a}>\r\n{ct}Content-Length: {len}\r\n\r\n{body}",
            srv = self.server,
            via = self.via(),
            u = self.user,
            dom = self.domain,
            lt = d.local_tag,
            to = d.to,
            rt = d.remote_tag,
            cid = d.call_id,
            s = d.seq,
            a = self.addr,
            len = body.len()
        );
        self.send_bytes(m.as_bytes());
    }

    /// Answers a request with `status`, an optional SDP body and our tag.
    pub fn reply(&self, req: &Request, status: u16, tag: &str, sdp: Option<&str>) {
        let mut r = req.response(status, pbx_sip::Response::default_reason(status), Some(tag));
        r.headers.push(pbx_sip::HeaderName::Contact, format!("<sip:{}@{}>", self.user, self.addr));
        if let Some(s) = sdp {
            r.headers.push(pbx_sip::HeaderName::ContentType, "application/sdp");
            r.body = s.replace('\n', "\r\n").into_bytes();
        }
        self.send_bytes(&r.to_bytes());
    }

    /// Sends an ACK for a 2xx to an INVITE this phone received? No: for a request we received
    /// nothing is needed; this sends the ACK to a 2xx of a re-INVITE we sent.
    pub fn ack_seq(&mut self, d: &Dialog) {
        self.send_raw(&format!(
            "ACK sip:pbx@{srv} SIP/2.0\nVia: {via}\nMax-Forwards: 70\nFrom: <sip:{u}@{dom}>;tag={lt}\nTo: <sip:{to}@{dom}>;tag={rt}\nCall-ID: {cid}\nCSeq: {s} ACK\nContent-Length: 0\n\n",
            srv = self.server,
            via = self.via(),
            u = self.user,
            dom = self.domain,
            lt = d.local_tag,
            to = d.to,
            rt = d.remote_tag,
            cid = d.call_id,
            s = d.seq
        ));
    }
}

/// Where an SDP body says to send RTP.
pub fn sdp_target(body: &[u8]) -> SocketAddr {
    let s = pbx_sip::sdp::Sdp::parse(body).unwrap();
    let (ip, port) = s.audio_target().unwrap();
    SocketAddr::new(ip, port)
}

/// RTP payloads received on `sock` for `d`: (payload type, payload).
pub fn collect_rtp(sock: &UdpSocket, d: Duration) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let end = Instant::now() + d;
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    while Instant::now() < end {
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && n > 12
        {
            out.push((buf[1] & 0x7f, buf[12..n].to_vec()));
        }
    }
    out
}
