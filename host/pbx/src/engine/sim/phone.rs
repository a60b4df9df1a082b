//! A small sans-IO SIP user agent for the simulation: it registers and calls with digest
//! authentication, rings and answers as told, acknowledges, answers BYE/CANCEL/NOTIFY, and
//! retransmits its requests and its 2xx over the lossy simulated network like a real phone.

use pbx_sip::header::HeaderName;
use pbx_sip::message::{Message, Request, Response, SipMessage};
use pbx_sip::method::Method;
use pbx_sip::uri::Uri;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// What a phone does by itself with an INVITE it receives.
#[derive(Debug, Clone)]
pub struct Auto {
    /// Send 180 Ringing at once.
    pub ring: bool,
    /// Answer (200 with SDP) after this long; `None`: ring until told or cancelled.
    pub answer_after: Option<Duration>,
    /// Refuse with this status instead.
    pub reject: Option<u16>,
}

impl Default for Auto {
    fn default() -> Auto {
        Auto { ring: true, answer_after: None, reject: None }
    }
}

/// A dialog as the phone sees it.
#[derive(Debug, Clone)]
pub struct PhoneDialog {
    /// Call-ID.
    pub call_id: String,
    /// The phone's From/To value with its tag.
    pub local: String,
    /// The peer's value with its tag.
    pub remote: String,
    /// The peer's Contact.
    pub target: Uri,
    /// The phone's next CSeq.
    pub cseq: u32,
    /// Confirmed (2xx seen / sent and ACKed).
    pub confirmed: bool,
}

/// An INVITE the phone received and has not answered finally.
#[derive(Debug, Clone)]
struct Incoming {
    invite: Request,
    tag: String,
    last: Option<Response>,
    answered: bool,
}

/// A request the phone sent and retransmits until answered.
#[derive(Debug, Clone)]
struct Outgoing {
    req: Request,
    next: Duration,
    interval: Duration,
    tries: u32,
    provisional: bool,
    auth_tries: u32,
}

/// A timer of the phone.
#[derive(Debug, Clone)]
enum Timer {
    Retransmit(String),
    Answer(String),
    Resend2xx(String, Duration),
}

/// One simulated phone (or carrier) on the network.
#[derive(Debug)]
pub struct Phone {
    /// Its address.
    pub addr: SocketAddr,
    /// User name (extension) and digest password.
    pub user: String,
    /// Password.
    pub password: String,
    /// Domain it registers to.
    pub domain: String,
    /// What it does with INVITEs.
    pub auto: Auto,
    /// Every message it received, with when.
    pub received: Vec<(Duration, Message)>,
    /// Every message it sent, with when.
    pub sent: Vec<(Duration, Vec<u8>)>,
    /// Its dialogs by Call-ID.
    pub dialogs: HashMap<String, PhoneDialog>,
    incoming: HashMap<String, Incoming>,
    outgoing: HashMap<String, Outgoing>,
    timers: Vec<(Duration, Timer)>,
    out: Vec<Vec<u8>>,
    counter: u64,
}

fn sdp(addr: SocketAddr) -> Vec<u8> {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
        ip = addr.ip(),
        port = addr.port() + 1000
    )
    .into_bytes()
}

impl Phone {
    /// A phone at `addr` (its messages all go to the PBX).
    pub fn new(addr: SocketAddr, user: &str, password: &str, domain: &str) -> Phone {
        Phone {
            addr,
            user: user.into(),
            password: password.into(),
            domain: domain.into(),
            auto: Auto::default(),
            received: Vec::new(),
            sent: Vec::new(),
            dialogs: HashMap::new(),
            incoming: HashMap::new(),
            outgoing: HashMap::new(),
            timers: Vec::new(),
            out: Vec::new(),
            counter: 0,
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        // Unique across phones, as real Call-IDs and tags are.
        format!("{prefix}{}x{}", self.addr.to_string().replace([':', '.', '[', ']'], "-"), self.counter)
    }

    fn via(&mut self) -> String {
        let b = self.id("z9hG4bKp");
        format!("SIP/2.0/UDP {};branch={b};rport", self.addr)
    }

    fn contact(&self) -> String {
        format!("<sip:{}@{}>", self.user, self.addr)
    }

    /// Bytes waiting to go to the PBX.
    pub fn take_out(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out)
    }

    /// When the phone next needs [`Phone::on_timer`].
    pub fn next_timer(&self) -> Option<Duration> {
        self.timers.iter().map(|(t, _)| *t).min()
    }

    fn send_bytes(&mut self, now: Duration, bytes: Vec<u8>) {
        self.sent.push((now, bytes.clone()));
        self.out.push(bytes);
    }

    /// Sends a request and retransmits it until answered (RFC 3261 timers A/E).
    pub fn send_request(&mut self, now: Duration, req: Request) {
        let branch = req.top_via().and_then(|v| v.branch().map(str::to_string)).unwrap_or_default();
        let t1 = Duration::from_millis(500);
        if req.method != Method::Ack {
            self.outgoing.insert(
                branch.clone(),
                Outgoing { req: req.clone(), next: now + t1, interval: t1, tries: 0, provisional: false, auth_tries: 0 },
            );
            self.timers.push((now + t1, Timer::Retransmit(branch)));
        }
        self.send_bytes(now, req.to_bytes());
    }

    /// Sends raw bytes once (hostile or hand-made messages).
    pub fn send_raw(&mut self, now: Duration, bytes: Vec<u8>) {
        self.send_bytes(now, bytes);
    }

    /// A REGISTER of this phone's contact.
    pub fn register(&mut self, now: Duration, expires: u32) {
        let call_id = format!("reg-{}@{}", self.user, self.addr);
        let mut r = Request::new(Method::Register, Uri::parse(&format!("sip:{}", self.domain)).unwrap_or_else(|_| fallback_uri()));
        let via = self.via();
        let tag = self.id("t");
        r.headers.push(HeaderName::Via, via);
        r.headers.push(HeaderName::MaxForwards, "70");
        r.headers.push(HeaderName::From, format!("<sip:{}@{}>;tag={tag}", self.user, self.domain));
        r.headers.push(HeaderName::To, format!("<sip:{}@{}>", self.user, self.domain));
        r.headers.push(HeaderName::CallId, call_id);
        self.counter += 1;
        r.headers.push(HeaderName::CSeq, format!("{} REGISTER", self.counter));
        r.headers.push(HeaderName::Contact, self.contact());
        r.headers.push(HeaderName::Expires, expires.to_string());
        self.send_request(now, r);
    }

    /// An INVITE to `number`; returns its Call-ID.
    pub fn invite(&mut self, now: Duration, number: &str) -> String {
        self.invite_with(now, number, &[])
    }

    /// An INVITE to `number` with extra headers; returns its Call-ID.
    pub fn invite_with(&mut self, now: Duration, number: &str, extra: &[(HeaderName, &str)]) -> String {
        let call_id = self.id("call-");
        let tag = self.id("t");
        let mut r = Request::new(Method::Invite, Uri::parse(&format!("sip:{number}@{}", self.domain)).unwrap_or_else(|_| fallback_uri()));
        let via = self.via();
        r.headers.push(HeaderName::Via, via);
        r.headers.push(HeaderName::MaxForwards, "70");
        r.headers.push(HeaderName::From, format!("<sip:{}@{}>;tag={tag}", self.user, self.domain));
        r.headers.push(HeaderName::To, format!("<sip:{number}@{}>", self.domain));
        r.headers.push(HeaderName::CallId, call_id.clone());
        r.headers.push(HeaderName::CSeq, "1 INVITE");
        r.headers.push(HeaderName::Contact, self.contact());
        for (name, value) in extra {
            r.headers.push(name.clone(), *value);
        }
        r.headers.push(HeaderName::ContentType, "application/sdp");
        r.body = sdp(self.addr);
        self.dialogs.insert(
            call_id.clone(),
            PhoneDialog {
                call_id: call_id.clone(),
                local: format!("<sip:{}@{}>;tag={tag}", self.user, self.domain),
                remote: format!("<sip:{number}@{}>", self.domain),
                target: r.uri.clone(),
                cseq: 1,
                confirmed: false,
            },
        );
        self.send_request(now, r);
        call_id
    }

    /// A request within dialog `call_id` (BYE, REFER, INFO, re-INVITE...); `None` when the
    /// phone has no such dialog.
    pub fn in_dialog(&mut self, call_id: &str, method: Method) -> Option<Request> {
        let via = self.via();
        let contact = self.contact();
        let d = self.dialogs.get_mut(call_id)?;
        d.cseq += 1;
        let mut r = Request::new(method.clone(), d.target.clone());
        r.headers.push(HeaderName::Via, via);
        r.headers.push(HeaderName::MaxForwards, "70");
        r.headers.push(HeaderName::From, d.local.clone());
        r.headers.push(HeaderName::To, d.remote.clone());
        r.headers.push(HeaderName::CallId, d.call_id.clone());
        r.headers.push(HeaderName::CSeq, format!("{} {}", d.cseq, method.as_str()));
        r.headers.push(HeaderName::Contact, contact);
        Some(r)
    }

    /// Hangs up dialog `call_id` with a BYE.
    pub fn bye(&mut self, now: Duration, call_id: &str) {
        if let Some(r) = self.in_dialog(call_id, Method::Bye) {
            self.send_request(now, r);
        }
    }

    /// Cancels the phone's own INVITE `call_id`.
    pub fn cancel(&mut self, now: Duration, call_id: &str) {
        let inv = self.outgoing.values().find(|o| o.req.method == Method::Invite && o.req.call_id() == call_id).map(|o| o.req.clone());
        let Some(inv) = inv else { return };
        let mut c = Request::new(Method::Cancel, inv.uri.clone());
        for name in [HeaderName::Via, HeaderName::From, HeaderName::To, HeaderName::CallId] {
            if let Some(v) = inv.headers.get(&name) {
                c.headers.push(name.clone(), v.to_string());
            }
        }
        c.headers.push(HeaderName::MaxForwards, "70");
        c.headers.push(HeaderName::CSeq, format!("{} CANCEL", inv.cseq().map(|s| s.seq).unwrap_or(1)));
        self.send_bytes(now, c.to_bytes());
    }

    /// Answers a ringing INVITE now.
    pub fn answer(&mut self, now: Duration, call_id: &str) {
        self.answer_with(now, call_id, 200);
    }

    fn answer_with(&mut self, now: Duration, call_id: &str, status: u16) {
        let Some(inc) = self.incoming.get_mut(call_id) else { return };
        if inc.answered {
            return;
        }
        inc.answered = true;
        let mut r = inc.invite.response(status, Response::default_reason(status), Some(&inc.tag));
        if status == 200 {
            r.headers.push(HeaderName::Contact, format!("<sip:{}@{}>", self.user, self.addr));
            r.headers.push(HeaderName::ContentType, "application/sdp");
            r.body = sdp(self.addr);
            let local = r.headers.get(&HeaderName::To).unwrap_or("").to_string();
            let remote = inc.invite.headers.get(&HeaderName::From).unwrap_or("").to_string();
            let target = inc.invite.contacts().first().map(|c| c.uri.clone()).unwrap_or_else(|| inc.invite.uri.clone());
            self.dialogs.insert(
                call_id.to_string(),
                PhoneDialog { call_id: call_id.to_string(), local, remote, target, cseq: 100, confirmed: false },
            );
            self.timers.push((now + Duration::from_millis(500), Timer::Resend2xx(call_id.to_string(), Duration::from_millis(500))));
        }
        inc.last = Some(r.clone());
        self.send_bytes(now, r.to_bytes());
    }

    /// Feeds a message the network delivered.
    pub fn receive(&mut self, now: Duration, msg: Message) {
        self.received.push((now, msg.clone()));
        match msg {
            Message::Request(req) => self.on_request(now, req),
            Message::Response(resp) => self.on_response(now, resp),
        }
    }

    fn on_request(&mut self, now: Duration, req: Request) {
        let call_id = req.call_id().to_string();
        match req.method {
            Method::Invite if req.parsed_to().is_some_and(|t| t.tag().is_none()) => {
                if let Some(inc) = self.incoming.get(&call_id) {
                    // A retransmission: the last answer again.
                    if let Some(last) = inc.last.clone() {
                        self.send_bytes(now, last.to_bytes());
                    }
                    return;
                }
                let tag = self.id("pt");
                self.incoming.insert(call_id.clone(), Incoming { invite: req.clone(), tag, last: None, answered: false });
                if let Some(status) = self.auto.reject {
                    return self.answer_with(now, &call_id, status);
                }
                if self.auto.ring {
                    let inc = &self.incoming[&call_id];
                    let r = inc.invite.response(180, "Ringing", Some(&inc.tag));
                    if let Some(i) = self.incoming.get_mut(&call_id) {
                        i.last = Some(r.clone());
                    }
                    self.send_bytes(now, r.to_bytes());
                }
                if let Some(d) = self.auto.answer_after {
                    self.timers.push((now + d, Timer::Answer(call_id)));
                }
            }
            Method::Ack => {
                if let Some(d) = self.dialogs.get_mut(&call_id) {
                    d.confirmed = true;
                }
                self.timers.retain(|(_, t)| !matches!(t, Timer::Resend2xx(c, _) if *c == call_id));
            }
            Method::Cancel => {
                let ok = req.response(200, "OK", None);
                self.send_bytes(now, ok.to_bytes());
                if self.incoming.get(&call_id).is_some_and(|i| !i.answered) {
                    self.answer_with(now, &call_id, 487);
                }
            }
            _ => {
                let mut ok = req.response(200, "OK", Some("pt-dialog"));
                if req.method == Method::Invite && !req.body.is_empty() {
                    ok.headers.push(HeaderName::ContentType, "application/sdp");
                    ok.body = sdp(self.addr);
                }
                if req.method == Method::Bye {
                    self.dialogs.remove(&call_id);
                }
                self.send_bytes(now, ok.to_bytes());
            }
        }
    }

    fn on_response(&mut self, now: Duration, resp: Response) {
        let Some(branch) = resp.top_via().and_then(|v| v.branch().map(str::to_string)) else { return };
        let Some(cseq) = resp.cseq() else { return };
        let call_id = resp.call_id().to_string();
        if resp.status < 200 {
            if let Some(o) = self.outgoing.get_mut(&branch) {
                o.provisional = true;
            }
            return;
        }
        let Some(o) = self.outgoing.remove(&branch) else {
            // A retransmitted 2xx to an INVITE: ACK it again.
            if cseq.method == Method::Invite && resp.status < 300 {
                self.ack(now, &resp, cseq.seq);
            }
            return;
        };
        if cseq.method != Method::Invite {
            if matches!(resp.status, 401 | 407) && o.auth_tries == 0 {
                self.retry_with_credentials(now, o, &resp);
            }
            return;
        }
        if resp.status < 300 {
            if let Some(d) = self.dialogs.get_mut(&call_id) {
                d.confirmed = true;
                if let Some(to) = resp.headers.get(&HeaderName::To) {
                    d.remote = to.to_string();
                }
                if let Some(c) = resp.contacts().first() {
                    d.target = c.uri.clone();
                }
            }
            self.ack(now, &resp, cseq.seq);
            return;
        }
        // A non-2xx final response: the ACK goes with the INVITE's branch.
        let mut ack = Request::new(Method::Ack, o.req.uri.clone());
        for name in [HeaderName::Via, HeaderName::From, HeaderName::CallId] {
            if let Some(v) = o.req.headers.get(&name) {
                ack.headers.push(name.clone(), v.to_string());
            }
        }
        if let Some(to) = resp.headers.get(&HeaderName::To) {
            ack.headers.push(HeaderName::To, to.to_string());
        }
        ack.headers.push(HeaderName::CSeq, format!("{} ACK", cseq.seq));
        self.send_bytes(now, ack.to_bytes());
        if matches!(resp.status, 401 | 407) && o.auth_tries == 0 {
            self.retry_with_credentials(now, o, &resp);
        } else if self.dialogs.get(&call_id).is_some_and(|d| !d.confirmed) {
            // The call failed; a refused re-INVITE leaves the dialog as it was.
            self.dialogs.remove(&call_id);
        }
    }

    fn ack(&mut self, now: Duration, resp: &Response, seq: u32) {
        let call_id = resp.call_id().to_string();
        let via = self.via();
        let Some(d) = self.dialogs.get(&call_id) else { return };
        let mut ack = Request::new(Method::Ack, d.target.clone());
        ack.headers.push(HeaderName::Via, via);
        ack.headers.push(HeaderName::MaxForwards, "70");
        ack.headers.push(HeaderName::From, d.local.clone());
        ack.headers.push(HeaderName::To, d.remote.clone());
        ack.headers.push(HeaderName::CallId, call_id);
        ack.headers.push(HeaderName::CSeq, format!("{seq} ACK"));
        self.send_bytes(now, ack.to_bytes());
    }

    fn retry_with_credentials(&mut self, now: Duration, o: Outgoing, resp: &Response) {
        let (challenge_name, answer_name) = if resp.status == 401 {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        } else {
            (HeaderName::ProxyAuthenticate, HeaderName::ProxyAuthorization)
        };
        let Some(challenge) = resp.headers.get(&challenge_name) else { return };
        let mut req = o.req.clone();
        let uri = req.uri.to_string();
        let Some(auth) = pbx_sip::digest::authorize(challenge, &self.user, &self.password, req.method.as_str(), &uri, 1) else { return };
        req.headers.remove(&answer_name);
        req.headers.push(answer_name, auth);
        let seq = req.cseq().map(|c| c.seq + 1).unwrap_or(2);
        req.headers.set(HeaderName::CSeq, format!("{seq} {}", req.method.as_str()));
        let via = self.via();
        req.headers.set(HeaderName::Via, via);
        if let Some(d) = self.dialogs.get_mut(req.call_id()) {
            d.cseq = seq;
        }
        let branch = req.top_via().and_then(|v| v.branch().map(str::to_string)).unwrap_or_default();
        self.send_request(now, req);
        if let Some(n) = self.outgoing.get_mut(&branch) {
            n.auth_tries = o.auth_tries + 1;
        }
    }

    /// Fires the phone's due timers.
    pub fn on_timer(&mut self, now: Duration) {
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.timers).into_iter().partition(|(t, _)| *t <= now);
        self.timers = rest;
        for (_, t) in due {
            match t {
                Timer::Retransmit(branch) => {
                    let Some(o) = self.outgoing.get_mut(&branch) else { continue };
                    let invite = o.req.method == Method::Invite;
                    if (invite && o.provisional) || o.tries >= 10 {
                        if o.tries >= 10 {
                            self.outgoing.remove(&branch);
                        }
                        continue;
                    }
                    o.tries += 1;
                    o.interval = if invite { o.interval * 2 } else { (o.interval * 2).min(Duration::from_secs(4)) };
                    o.next = now + o.interval;
                    let (bytes, next) = (o.req.to_bytes(), o.next);
                    self.timers.push((next, Timer::Retransmit(branch)));
                    self.send_bytes(now, bytes);
                }
                Timer::Answer(call_id) => self.answer(now, &call_id),
                Timer::Resend2xx(call_id, interval) => {
                    let last = self.incoming.get(&call_id).and_then(|i| i.last.clone());
                    let confirmed = self.dialogs.get(&call_id).is_none_or(|d| d.confirmed);
                    if let Some(r) = last
                        && !confirmed
                        && interval < Duration::from_secs(32)
                    {
                        self.send_bytes(now, r.to_bytes());
                        let next = (interval * 2).min(Duration::from_secs(4));
                        self.timers.push((now + next, Timer::Resend2xx(call_id, interval * 2)));
                    }
                }
            }
        }
    }

    /// The responses the phone got to its INVITE `call_id`, statuses in order (digest
    /// challenges left out).
    pub fn statuses(&self, call_id: &str) -> Vec<u16> {
        self.received
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Response(r)
                    if r.call_id() == call_id && r.cseq().is_some_and(|c| c.method == Method::Invite) && !matches!(r.status, 401 | 407) =>
                {
                    Some(r.status)
                }
                _ => None,
            })
            .collect()
    }

    /// Requests of `method` the phone received, with when.
    pub fn requests(&self, method: Method) -> Vec<(Duration, Request)> {
        self.received
            .iter()
            .filter_map(|(t, m)| match m {
                Message::Request(r) if r.method == method => Some((*t, r.clone())),
                _ => None,
            })
            .collect()
    }

    /// Call-IDs of INVITEs the phone received (new calls to it).
    pub fn incoming_calls(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .requests(Method::Invite)
            .into_iter()
            .filter(|(_, r)| r.parsed_to().is_some_and(|t| t.tag().is_none()))
            .map(|(_, r)| r.call_id().to_string())
            .collect();
        v.dedup();
        v
    }
}

fn fallback_uri() -> Uri {
    Uri::Other { scheme: "sip".into(), rest: "invalid".into() }
}
