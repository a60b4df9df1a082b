//! The RFC 3261 §17 transaction layer, sans-IO: requests, responses and the current time
//! go in; bytes to send, timer deadlines and timeouts come out. Timers A–K follow the RFC
//! (T1, T2, T4 configurable), including RFC 6026's handling of 2xx to INVITE.

use crate::header::HeaderName;
use crate::message::{Request, Response, SipMessage};
use crate::method::Method;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Transport protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP, unreliable: the transaction layer retransmits.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// SIP over WebSocket (RFC 7118), one message per frame: browsers' phones.
    Ws,
    /// SIP over secure WebSocket (RFC 7118).
    Wss,
}

impl Transport {
    /// True for the connection transports (TCP, TLS, WebSocket).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Via transport token.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }
}

/// Where bytes go: a transport, a remote address and, for connections, which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// Transport.
    pub transport: Transport,
    /// Remote address.
    pub addr: SocketAddr,
    /// Connection to reuse (TCP/TLS), if known.
    pub conn: Option<u64>,
}

/// Timer base values (RFC 3261 §17.1.1.1, Table 4).
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// RTT estimate.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses.
    pub t2: Duration,
    /// Maximum time a message stays in the network.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

/// The longest an INVITE server transaction waits for its final response before the layer
/// forgets it (the TU answers long before: rings are capped at ten minutes).
pub const INVITE_GUARD: Duration = Duration::from_secs(11 * 60);

/// Identifies a transaction for the transaction user.
pub type TxId = u64;

/// Something the layer wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes.
    Transmit {
        /// Destination.
        target: Target,
        /// Message bytes.
        bytes: Vec<u8>,
    },
    /// A client transaction got no final response in time (Timer B or F): the TU acts as
    /// if a 408 arrived.
    Timeout {
        /// The transaction.
        id: TxId,
    },
    /// A 2xx we sent to an INVITE was never acknowledged (RFC 3261 §13.3.1.4): end the dialog.
    AckTimeout {
        /// The server transaction.
        id: TxId,
        /// Its Call-ID.
        call_id: String,
    },
}

/// What the layer made of a received request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new request for the TU, with its server transaction (none for ACK).
    New(Option<TxId>),
    /// A retransmission or an ACK for a non-2xx: handled here.
    Absorbed,
}

/// What the layer made of a received response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseMatch {
    /// A response for the TU on client transaction `TxId`.
    Deliver(TxId),
    /// A retransmitted 2xx to an INVITE: the TU should send its ACK again (the layer already
    /// did if it knows the ACK).
    Retransmitted2xx(TxId),
    /// No transaction: drop (RFC 3261 §18.1.2).
    Stray,
    /// A retransmission absorbed by the layer.
    Absorbed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Calling,
    Proceeding,
    Completed,
    Accepted,
}

#[derive(Debug)]
struct ServerTx {
    key: String,
    invite: bool,
    state: ServerState,
    target: Target,
    last_response: Option<Vec<u8>>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    expire_at: Option<Instant>,
    call_id: String,
    ack_key: Option<String>,
}

#[derive(Debug)]
struct ClientTx {
    key: String,
    invite: bool,
    state: ClientState,
    target: Target,
    request: Vec<u8>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    expire_at: Option<Instant>,
    ack: Option<Vec<u8>>,
}

/// All live transactions of one SIP endpoint.
pub struct TransactionLayer {
    timers: Timers,
    next_id: TxId,
    servers: HashMap<TxId, ServerTx>,
    server_keys: HashMap<String, TxId>,
    accepted_acks: HashMap<String, TxId>,
    error_acks: HashMap<String, TxId>,
    clients: HashMap<TxId, ClientTx>,
    client_keys: HashMap<String, TxId>,
    wakeups: BinaryHeap<Reverse<(Instant, TxId)>>,
    outputs: VecDeque<Output>,
}

fn top_via_key(msg: &impl SipMessage) -> Option<(String, String)> {
    let via = msg.top_via()?;
    let branch = via.branch().unwrap_or("").to_string();
    let sent_by = format!("{}:{}", via.host.to_ascii_lowercase(), via.port.unwrap_or(0));
    Some((branch, sent_by))
}

fn is_rfc3261_branch(b: &str) -> bool {
    b.starts_with(crate::via::MAGIC_COOKIE) && b.len() > crate::via::MAGIC_COOKIE.len()
}

/// The server transaction key of a request (RFC 3261 §17.2.3; RFC 2543 fallback).
/// ACK maps onto the INVITE it acknowledges. Call-ID and CSeq number join the branch so that
/// two different requests that reuse a branch (a client bug) are not taken for retransmissions
/// of each other; real retransmissions, CANCELs and ACKs share all three.
pub fn server_key(req: &Request) -> Option<String> {
    let (branch, sent_by) = top_via_key(req)?;
    let method = match req.method {
        Method::Ack => "INVITE".to_string(),
        ref m => m.as_str().to_string(),
    };
    if is_rfc3261_branch(&branch) {
        let seq = req.cseq().map(|c| c.seq).unwrap_or(0);
        Some(format!("{branch}|{sent_by}|{method}|{}|{seq}", req.call_id()))
    } else {
        let cseq = req.cseq()?.seq;
        let from_tag = req.parsed_from().and_then(|f| f.tag().map(str::to_string)).unwrap_or_default();
        Some(format!("2543|{}|{cseq}|{from_tag}|{sent_by}|{branch}|{method}", req.call_id()))
    }
}

/// The key that matches an ACK for a 2xx to the INVITE it acknowledges: Call-ID and CSeq number.
fn ack_key(call_id: &str, seq: u32) -> String {
    format!("{call_id}|{seq}")
}

impl TransactionLayer {
    /// A layer with the given timer values.
    pub fn new(timers: Timers) -> TransactionLayer {
        TransactionLayer {
            timers,
            next_id: 1,
            servers: HashMap::new(),
            server_keys: HashMap::new(),
            accepted_acks: HashMap::new(),
            error_acks: HashMap::new(),
            clients: HashMap::new(),
            client_keys: HashMap::new(),
            wakeups: BinaryHeap::new(),
            outputs: VecDeque::new(),
        }
    }

    /// Number of live transactions (server, client).
    pub fn counts(&self) -> (usize, usize) {
        (self.servers.len(), self.clients.len())
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.wakeups.peek().copied() {
            if self.wake_of(id) == Some(at) {
                return Some(at);
            }
            self.wakeups.pop();
        }
        None
    }

    fn wake_of(&self, id: TxId) -> Option<Instant> {
        if let Some(s) = self.servers.get(&id) {
            return min_opt(s.retransmit_at, s.expire_at);
        }
        if let Some(c) = self.clients.get(&id) {
            return min_opt(c.retransmit_at, c.expire_at);
        }
        None
    }

    fn schedule(&mut self, id: TxId) {
        if let Some(at) = self.wake_of(id) {
            self.wakeups.push(Reverse((at, id)));
        }
    }

    fn alloc_id(&mut self) -> TxId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Feeds a received request. `source` is where it came from (responses go there).
    pub fn receive_request(&mut self, req: &Request, source: Target, now: Instant) -> Incoming {
        let Some(key) = server_key(req) else { return Incoming::New(None) };
        if let Some(&id) = self.server_keys.get(&key) {
            let tx = match self.servers.get_mut(&id) {
                Some(t) => t,
                None => return Incoming::Absorbed,
            };
            if req.method == Method::Ack {
                if tx.invite && tx.state == ServerState::Completed {
                    tx.state = ServerState::Confirmed;
                    tx.retransmit_at = None;
                    tx.expire_at = Some(now + if tx.target.transport.is_reliable() { Duration::ZERO } else { self.timers.t4 });
                    self.schedule(id);
                    return Incoming::Absorbed;
                }
                if tx.state == ServerState::Accepted || tx.state == ServerState::Confirmed {
                    // An ACK for a 2xx with the INVITE's branch (RFC 2543 style): the TU needs it.
                    self.ack_seen(req, now);
                    return Incoming::New(None);
                }
                return Incoming::Absorbed;
            }
            // A retransmitted request: send the last response again (§17.2.1, §17.2.2).
            if let Some(bytes) = tx.last_response.clone()
                && (matches!(tx.state, ServerState::Proceeding | ServerState::Completed) || (!tx.invite && tx.state != ServerState::Trying))
            {
                self.outputs.push_back(Output::Transmit { target: tx.target, bytes });
            }
            return Incoming::Absorbed;
        }
        if req.method == Method::Ack {
            // An ACK for a non-2xx whose branch differs from the INVITE's (some UAs get this
            // wrong): match it by Call-ID and CSeq like RFC 2543 did.
            if let Some(seq) = req.cseq().map(|c| c.seq)
                && let Some(id) = self.error_acks.remove(&ack_key(req.call_id(), seq))
            {
                if let Some(tx) = self.servers.get_mut(&id)
                    && tx.state == ServerState::Completed
                {
                    tx.state = ServerState::Confirmed;
                    tx.retransmit_at = None;
                    tx.expire_at = Some(now + if tx.target.transport.is_reliable() { Duration::ZERO } else { self.timers.t4 });
                    self.schedule(id);
                }
                return Incoming::Absorbed;
            }
            self.ack_seen(req, now);
            return Incoming::New(None);
        }
        let id = self.alloc_id();
        let invite = req.method == Method::Invite;
        self.servers.insert(
            id,
            ServerTx {
                key: key.clone(),
                invite,
                state: if invite { ServerState::Proceeding } else { ServerState::Trying },
                target: source,
                last_response: None,
                retransmit_at: None,
                interval: self.timers.t1,
                // A guard so that a TU that never answers does not leak the transaction. An
                // INVITE may ring for as long as the PBX lets it (up to ten minutes).
                expire_at: Some(now + if invite { INVITE_GUARD } else { self.timers.t1 * 64 * 4 }),
                call_id: req.call_id().to_string(),
                ack_key: None,
            },
        );
        self.server_keys.insert(key, id);
        self.schedule(id);
        Incoming::New(Some(id))
    }

    fn ack_seen(&mut self, ack: &Request, now: Instant) {
        if let Some(seq) = ack.cseq().map(|c| c.seq)
            && let Some(id) = self.accepted_acks.remove(&ack_key(ack.call_id(), seq))
            && let Some(tx) = self.servers.get_mut(&id)
        {
            tx.retransmit_at = None;
            tx.ack_key = None;
            // Acknowledged: absorb stray INVITE retransmissions for T4, then forget.
            tx.expire_at = Some(now + self.timers.t4);
            self.schedule(id);
        }
    }

    /// The server transaction matching a CANCEL's INVITE (RFC 3261 §9.2).
    pub fn find_invite_for_cancel(&self, cancel: &Request) -> Option<TxId> {
        let mut c = cancel.clone();
        c.method = Method::Invite;
        if let Some(cs) = c.headers.get(&HeaderName::CSeq).map(|v| v.replace("CANCEL", "INVITE")) {
            c.headers.set(HeaderName::CSeq, cs);
        }
        let key = server_key(&c)?;
        self.server_keys.get(&key).copied()
    }

    /// True while the INVITE server transaction has not sent a final response.
    pub fn server_pending(&self, id: TxId) -> bool {
        self.servers.get(&id).is_some_and(|t| matches!(t.state, ServerState::Proceeding | ServerState::Trying))
    }

    /// Sends a response on server transaction `id`.
    pub fn send_response(&mut self, id: TxId, resp: &Response, now: Instant) {
        let bytes = resp.to_bytes();
        let t = self.timers;
        let Some(tx) = self.servers.get_mut(&id) else { return };
        if matches!(tx.state, ServerState::Completed | ServerState::Confirmed | ServerState::Terminated) {
            return;
        }
        if tx.state == ServerState::Accepted && !(resp.status >= 200 && resp.status < 300) {
            return;
        }
        self.outputs.push_back(Output::Transmit { target: tx.target, bytes: bytes.clone() });
        tx.last_response = Some(bytes);
        let reliable = tx.target.transport.is_reliable();
        if resp.status < 200 {
            if !tx.invite {
                tx.state = ServerState::Proceeding;
            }
        } else if tx.invite && resp.status < 300 {
            // RFC 6026 Accepted: the TU's 2xx is retransmitted until the ACK arrives.
            tx.state = ServerState::Accepted;
            tx.interval = t.t1;
            tx.retransmit_at = if reliable { None } else { Some(now + t.t1) };
            tx.expire_at = Some(now + t.t1 * 64);
            if let Some(seq) = resp.cseq().map(|c| c.seq) {
                let k = ack_key(resp.call_id(), seq);
                tx.ack_key = Some(k.clone());
                self.accepted_acks.insert(k, id);
            }
        } else if tx.invite {
            tx.state = ServerState::Completed;
            tx.interval = t.t1;
            tx.retransmit_at = if reliable { None } else { Some(now + t.t1) }; // Timer G
            tx.expire_at = Some(now + t.t1 * 64); // Timer H
            if let Some(seq) = resp.cseq().map(|c| c.seq) {
                let k = ack_key(resp.call_id(), seq);
                tx.ack_key = Some(k.clone());
                self.error_acks.insert(k, id);
            }
        } else {
            tx.state = ServerState::Completed;
            tx.retransmit_at = None;
            tx.expire_at = Some(now + if reliable { Duration::ZERO } else { t.t1 * 64 }); // Timer J
        }
        self.schedule(id);
    }

    /// Sends `resp` on the server transaction of the request it answers, if that transaction
    /// exists and has no final response yet; false otherwise (the caller sends it statelessly).
    pub fn respond_to_pending(&mut self, resp: &Response, now: Instant) -> bool {
        let Some(cseq) = resp.cseq() else { return false };
        let probe = Request {
            method: cseq.method.clone(),
            uri: crate::uri::Uri::Other { scheme: "x".into(), rest: String::new() },
            headers: resp.headers.clone(),
            body: Vec::new(),
        };
        let Some(id) = server_key(&probe).and_then(|k| self.server_keys.get(&k).copied()) else { return false };
        if !self.servers.get(&id).is_some_and(|t| matches!(t.state, ServerState::Trying | ServerState::Proceeding)) {
            return false;
        }
        self.send_response(id, resp, now);
        true
    }

    /// Starts a client transaction for `req` towards `target`.
    pub fn send_request(&mut self, req: &Request, target: Target, now: Instant) -> TxId {
        let bytes = req.to_bytes();
        let id = self.alloc_id();
        let invite = req.method == Method::Invite;
        let branch = req.top_via().and_then(|v| v.branch().map(str::to_string)).unwrap_or_default();
        let key = format!("{branch}|{}", req.method.as_str());
        let reliable = target.transport.is_reliable();
        self.outputs.push_back(Output::Transmit { target, bytes: bytes.clone() });
        if req.method == Method::Ack {
            return id;
        }
        self.clients.insert(
            id,
            ClientTx {
                key: key.clone(),
                invite,
                state: if invite { ClientState::Calling } else { ClientState::Proceeding },
                target,
                request: bytes,
                retransmit_at: if reliable { None } else { Some(now + self.timers.t1) }, // A / E
                interval: self.timers.t1,
                expire_at: Some(now + self.timers.t1 * 64), // B / F
                ack: None,
            },
        );
        if let Some(c) = self.clients.get_mut(&id)
            && !invite
        {
            c.state = ClientState::Calling; // "Trying" of §17.1.2
        }
        self.client_keys.insert(key, id);
        self.schedule(id);
        id
    }

    /// Tells the layer that the TU sent a CANCEL for INVITE client transaction `id`: if no
    /// final response arrives within 64·T1 the transaction ends with a timeout (RFC 3261 §9.1).
    pub fn cancel_sent(&mut self, id: TxId, now: Instant) {
        let t = self.timers;
        if let Some(tx) = self.clients.get_mut(&id)
            && tx.invite
            && matches!(tx.state, ClientState::Calling | ClientState::Proceeding)
        {
            tx.expire_at = Some(now + t.t1 * 64);
            self.schedule(id);
        }
    }

    /// [`TransactionLayer::cancel_sent`] for the client transaction of `invite` (found by its
    /// branch), for a TU that kept the request rather than the transaction id.
    pub fn cancel_sent_for(&mut self, invite: &Request, now: Instant) {
        let branch = invite.top_via().and_then(|v| v.branch().map(str::to_string)).unwrap_or_default();
        if let Some(&id) = self.client_keys.get(&format!("{branch}|INVITE")) {
            self.cancel_sent(id, now);
        }
    }

    /// Sends the last provisional response of INVITE server transaction `id` again, for a UAS
    /// that rings longer than three minutes (RFC 3261 §13.3.1.1: proxies' Timer C); false once
    /// the transaction has its final response.
    pub fn refresh_provisional(&mut self, id: TxId) -> bool {
        let Some(tx) = self.servers.get(&id) else { return false };
        if !tx.invite || tx.state != ServerState::Proceeding {
            return false;
        }
        // A 100 Trying does not count for proxies' Timer C; only another provisional does.
        if let Some(bytes) = tx.last_response.clone()
            && !bytes.starts_with(b"SIP/2.0 100 ")
        {
            self.outputs.push_back(Output::Transmit { target: tx.target, bytes });
        }
        true
    }

    /// Tells the layer the ACK for a 2xx on client transaction `id`, so retransmitted 2xx
    /// responses are acknowledged again without the TU.
    pub fn set_ack(&mut self, id: TxId, ack: &Request) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.ack = Some(ack.to_bytes());
        }
    }

    /// Feeds a received response.
    pub fn receive_response(&mut self, resp: &Response, now: Instant) -> ResponseMatch {
        let Some(via) = resp.top_via() else { return ResponseMatch::Stray };
        let Some(cseq) = resp.cseq() else { return ResponseMatch::Stray };
        let key = format!("{}|{}", via.branch().unwrap_or(""), cseq.method.as_str());
        let Some(&id) = self.client_keys.get(&key) else { return ResponseMatch::Stray };
        let t = self.timers;
        let Some(tx) = self.clients.get_mut(&id) else { return ResponseMatch::Stray };
        let reliable = tx.target.transport.is_reliable();
        let status = resp.status;
        match (tx.invite, tx.state) {
            (true, ClientState::Accepted) => {
                if (200..300).contains(&status) {
                    if let Some(ack) = tx.ack.clone() {
                        self.outputs.push_back(Output::Transmit { target: tx.target, bytes: ack });
                    }
                    return ResponseMatch::Retransmitted2xx(id);
                }
                return ResponseMatch::Absorbed;
            }
            (true, ClientState::Completed) => {
                if status >= 300
                    && let Some(ack) = tx.ack.clone()
                {
                    self.outputs.push_back(Output::Transmit { target: tx.target, bytes: ack });
                }
                return ResponseMatch::Absorbed;
            }
            (false, ClientState::Completed) => return ResponseMatch::Absorbed,
            _ => {}
        }
        if status < 200 {
            tx.state = ClientState::Proceeding;
            if tx.invite {
                // Timer A stops on a provisional, and so does Timer B (RFC 3261 §17.1.1.2): in
                // Proceeding the TU decides how long to ring and CANCELs (see `cancel_sent`).
                tx.retransmit_at = None;
                tx.expire_at = None;
            } else if !reliable {
                tx.retransmit_at = Some(now + t.t2);
                tx.interval = t.t2;
            }
        } else if tx.invite && status < 300 {
            tx.state = ClientState::Accepted;
            tx.retransmit_at = None;
            tx.expire_at = Some(now + t.t1 * 64); // Timer M (RFC 6026)
        } else if tx.invite {
            // Non-2xx final: the layer ACKs it itself (§17.1.1.3).
            let ack = build_ack_for_error(&tx.request, resp);
            if let Some(ack) = &ack {
                self.outputs.push_back(Output::Transmit { target: tx.target, bytes: ack.clone() });
            }
            tx.ack = ack;
            tx.state = ClientState::Completed;
            tx.retransmit_at = None;
            tx.expire_at = Some(now + if reliable { Duration::ZERO } else { Duration::from_secs(32) }); // Timer D
        } else {
            tx.state = ClientState::Completed;
            tx.retransmit_at = None;
            tx.expire_at = Some(now + if reliable { Duration::ZERO } else { t.t4 }); // Timer K
        }
        self.schedule(id);
        ResponseMatch::Deliver(id)
    }

    /// Forgets a client transaction early (e.g. the TU no longer cares).
    pub fn drop_client(&mut self, id: TxId) {
        if let Some(c) = self.clients.remove(&id) {
            self.client_keys.remove(&c.key);
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.wakeups.peek().copied() {
            if at > now {
                break;
            }
            self.wakeups.pop();
            if self.wake_of(id) != Some(at) {
                continue;
            }
            if self.servers.contains_key(&id) {
                self.fire_server(id, now);
            } else if self.clients.contains_key(&id) {
                self.fire_client(id, now);
            }
            self.schedule(id);
        }
    }

    fn fire_server(&mut self, id: TxId, now: Instant) {
        let t = self.timers;
        let Some(tx) = self.servers.get_mut(&id) else { return };
        if tx.expire_at.is_some_and(|e| e <= now) {
            if tx.state == ServerState::Accepted
                && let Some(k) = tx.ack_key.take()
            {
                self.accepted_acks.remove(&k);
                self.outputs.push_back(Output::AckTimeout { id, call_id: tx.call_id.clone() });
            }
            if let Some(k) = tx.ack_key.take() {
                self.error_acks.remove(&k);
            }
            tx.state = ServerState::Terminated;
            let key = tx.key.clone();
            self.servers.remove(&id);
            self.server_keys.remove(&key);
            return;
        }
        if tx.retransmit_at.is_some_and(|r| r <= now) {
            if let Some(bytes) = tx.last_response.clone() {
                self.outputs.push_back(Output::Transmit { target: tx.target, bytes });
            }
            tx.interval = (tx.interval * 2).min(t.t2); // Timer G (and 2xx retransmission)
            tx.retransmit_at = Some(now + tx.interval);
        }
    }

    fn fire_client(&mut self, id: TxId, now: Instant) {
        let t = self.timers;
        let Some(tx) = self.clients.get_mut(&id) else { return };
        if tx.expire_at.is_some_and(|e| e <= now) {
            let timed_out = matches!(tx.state, ClientState::Calling | ClientState::Proceeding);
            let key = tx.key.clone();
            self.clients.remove(&id);
            self.client_keys.remove(&key);
            if timed_out {
                self.outputs.push_back(Output::Timeout { id });
            }
            return;
        }
        if tx.retransmit_at.is_some_and(|r| r <= now) {
            self.outputs.push_back(Output::Transmit { target: tx.target, bytes: tx.request.clone() });
            tx.interval = if tx.invite { tx.interval * 2 } else { (tx.interval * 2).min(t.t2) };
            if !tx.invite && tx.state == ClientState::Proceeding {
                tx.interval = t.t2;
            }
            tx.retransmit_at = Some(now + tx.interval);
        }
    }
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI, Call-ID,
/// From, top Via and CSeq number as the INVITE, To from the response.
fn build_ack_for_error(invite_bytes: &[u8], resp: &Response) -> Option<Vec<u8>> {
    let parsed = crate::parse::parse_message(invite_bytes, crate::parse::Framing::Datagram).ok()?;
    let crate::message::Message::Request(inv) = parsed.message else { return None };
    let mut ack = Request::new(Method::Ack, inv.uri.clone());
    if let Some(v) = inv.headers.get(&HeaderName::Via) {
        let top = crate::text::split_top_level(v, b',').and_then(|p| p.first().map(|s| s.trim().to_string()))?;
        ack.headers.push(HeaderName::Via, top);
    }
    for name in [HeaderName::Route] {
        for v in inv.headers.get_all(&name) {
            ack.headers.push(name.clone(), v.to_string());
        }
    }
    ack.headers.push(HeaderName::MaxForwards, "70");
    ack.headers.push(HeaderName::From, inv.headers.get(&HeaderName::From)?.to_string());
    ack.headers.push(HeaderName::To, resp.headers.get(&HeaderName::To)?.to_string());
    ack.headers.push(HeaderName::CallId, inv.call_id().to_string());
    ack.headers.push(HeaderName::CSeq, format!("{} ACK", inv.cseq()?.seq));
    Some(ack.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Framing, parse_message};

    fn req(text: &str) -> Request {
        match parse_message(text.as_bytes(), Framing::Datagram).unwrap().message {
            crate::message::Message::Request(r) => r,
            _ => panic!(),
        }
    }

    fn resp(text: &str) -> Response {
        match parse_message(text.as_bytes(), Framing::Datagram).unwrap().message {
            crate::message::Message::Response(r) => r,
            _ => panic!(),
        }
    }

    const INVITE: &str = "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    const OPTIONS: &str = "OPTIONS sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKopt\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    fn udp() -> Target {
        Target { transport: Transport::Udp, addr: "10.0.0.1:5060".parse().unwrap(), conn: None }
    }

    fn transmits(l: &mut TransactionLayer) -> usize {
        let mut n = 0;
        while let Some(o) = l.poll_output() {
            if matches!(o, Output::Transmit { .. }) {
                n += 1;
            }
        }
        n
    }

    #[test]
    fn timer_a_doubles_and_timer_b_times_out() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let id = l.send_request(&req(INVITE), udp(), t0);
        assert_eq!(transmits(&mut l), 1);
        // Retransmissions at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; Timer B at 32 s.
        let mut sent_at = Vec::new();
        let mut now = t0;
        while let Some(at) = l.poll_timeout() {
            now = at;
            l.handle_timeout(now);
            while let Some(o) = l.poll_output() {
                match o {
                    Output::Transmit { .. } => sent_at.push((now - t0).as_millis()),
                    Output::Timeout { id: tid } => {
                        assert_eq!(tid, id);
                        assert_eq!((now - t0).as_millis(), 32_000);
                    }
                    _ => panic!(),
                }
            }
        }
        assert_eq!(sent_at, vec![500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(l.counts(), (0, 0));
        let _ = now;
    }

    #[test]
    fn timer_e_caps_at_t2_and_f_times_out() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        l.send_request(&req(OPTIONS), udp(), t0);
        transmits(&mut l);
        let mut sent = Vec::new();
        let mut timed_out = false;
        while let Some(at) = l.poll_timeout() {
            l.handle_timeout(at);
            while let Some(o) = l.poll_output() {
                match o {
                    Output::Transmit { .. } => sent.push((at - t0).as_millis()),
                    Output::Timeout { .. } => timed_out = true,
                    _ => {}
                }
            }
        }
        assert_eq!(&sent[..5], &[500, 1500, 3500, 7500, 11500]);
        assert!(timed_out);
    }

    #[test]
    fn a_provisional_stops_timer_b_and_a_cancel_restarts_it() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let id = l.send_request(&req(INVITE), udp(), t0);
        transmits(&mut l);
        let ringing = resp(
            "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=9\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(l.receive_response(&ringing, t0 + Duration::from_secs(1)), ResponseMatch::Deliver(id));
        // Ten minutes of ringing: no timeout, no retransmission, nothing scheduled.
        assert_eq!(l.poll_timeout(), None);
        l.handle_timeout(t0 + Duration::from_secs(600));
        assert!(l.poll_output().is_none());
        assert_eq!(l.counts(), (0, 1));
        // The TU gives up and CANCELs: without a final response the transaction ends 32 s later.
        l.cancel_sent(id, t0 + Duration::from_secs(600));
        let mut timed_out = None;
        while let Some(at) = l.poll_timeout() {
            l.handle_timeout(at);
            while let Some(o) = l.poll_output() {
                if let Output::Timeout { id: t } = o {
                    timed_out = Some((t, (at - t0).as_secs()));
                }
            }
        }
        assert_eq!(timed_out, Some((id, 632)));
        assert_eq!(l.counts(), (0, 0));
    }

    #[test]
    fn an_invite_server_transaction_outlives_a_long_ring() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let r = req(INVITE);
        let Incoming::New(Some(id)) = l.receive_request(&r, udp(), t0) else { panic!() };
        l.send_response(id, &r.response(180, "Ringing", Some("t")), t0);
        transmits(&mut l);
        l.handle_timeout(t0 + Duration::from_secs(590));
        assert!(l.refresh_provisional(id));
        assert_eq!(transmits(&mut l), 1);
        l.send_response(id, &r.response(480, "Temporarily Unavailable", Some("t")), t0 + Duration::from_secs(600));
        assert_eq!(transmits(&mut l), 1, "the final response still goes out after ten minutes");
        assert!(!l.refresh_provisional(id));
    }

    #[test]
    fn reliable_transport_never_retransmits() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let tcp = Target { transport: Transport::Tcp, ..udp() };
        l.send_request(&req(INVITE), tcp, t0);
        transmits(&mut l);
        l.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(transmits(&mut l), 0);
    }

    #[test]
    fn server_invite_error_retransmits_until_ack() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let r = req(INVITE);
        let Incoming::New(Some(id)) = l.receive_request(&r, udp(), t0) else { panic!() };
        assert_eq!(l.receive_request(&r, udp(), t0), Incoming::Absorbed);
        l.send_response(id, &r.response(486, "Busy Here", Some("t")), t0);
        assert_eq!(transmits(&mut l), 1);
        l.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(transmits(&mut l), 1); // Timer G
        // The INVITE retransmitted: the 486 again.
        assert_eq!(l.receive_request(&r, udp(), t0), Incoming::Absorbed);
        assert_eq!(transmits(&mut l), 1);
        let ack = req(&INVITE.replace("INVITE sip", "ACK sip").replace("1 INVITE", "1 ACK"));
        assert_eq!(l.receive_request(&ack, udp(), t0 + Duration::from_secs(1)), Incoming::Absorbed);
        l.handle_timeout(t0 + Duration::from_secs(3));
        assert_eq!(transmits(&mut l), 0);
        // Timer I then removes it.
        l.handle_timeout(t0 + Duration::from_secs(7));
        assert_eq!(l.counts(), (0, 0));
    }

    #[test]
    fn server_2xx_retransmitted_until_ack_then_timer_l() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let r = req(INVITE);
        let Incoming::New(Some(id)) = l.receive_request(&r, udp(), t0) else { panic!() };
        l.send_response(id, &r.response(200, "OK", Some("t")), t0);
        transmits(&mut l);
        l.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(transmits(&mut l), 1);
        // No ACK ever: AckTimeout after 64*T1.
        let mut ack_timeout = false;
        while let Some(at) = l.poll_timeout() {
            l.handle_timeout(at);
            while let Some(o) = l.poll_output() {
                if let Output::AckTimeout { call_id, .. } = o {
                    assert_eq!(call_id, "c1");
                    assert_eq!((at - t0).as_secs(), 32);
                    ack_timeout = true;
                }
            }
        }
        assert!(ack_timeout);
    }

    #[test]
    fn ack_with_a_new_branch_still_stops_timer_g() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let r = req(INVITE);
        let Incoming::New(Some(id)) = l.receive_request(&r, udp(), t0) else { panic!() };
        l.send_response(id, &r.response(407, "Proxy Authentication Required", Some("t")), t0);
        transmits(&mut l);
        let ack = req(&INVITE.replace("INVITE sip", "ACK sip").replace("1 INVITE", "1 ACK").replace("z9hG4bKabc", "z9hG4bKother"));
        assert_eq!(l.receive_request(&ack, udp(), t0), Incoming::Absorbed);
        l.handle_timeout(t0 + Duration::from_secs(2));
        assert_eq!(transmits(&mut l), 0);
    }

    #[test]
    fn client_acks_error_and_absorbs_retransmission() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let id = l.send_request(&req(INVITE), udp(), t0);
        transmits(&mut l);
        let busy = resp(
            "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=9\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(l.receive_response(&busy, t0), ResponseMatch::Deliver(id));
        assert_eq!(transmits(&mut l), 1); // the ACK
        assert_eq!(l.receive_response(&busy, t0), ResponseMatch::Absorbed);
        assert_eq!(transmits(&mut l), 1); // ACK again
        let stray = resp(&String::from_utf8_lossy(&busy.to_bytes()).replace("z9hG4bKabc", "z9hG4bKzzz"));
        assert_eq!(l.receive_response(&stray, t0), ResponseMatch::Stray);
    }

    #[test]
    fn cancel_finds_its_invite() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let r = req(INVITE);
        let Incoming::New(Some(id)) = l.receive_request(&r, udp(), t0) else { panic!() };
        let cancel = req(&INVITE.replace("INVITE sip", "CANCEL sip").replace("1 INVITE", "1 CANCEL"));
        assert_eq!(l.find_invite_for_cancel(&cancel), Some(id));
        assert!(matches!(l.receive_request(&cancel, udp(), t0), Incoming::New(Some(_))));
    }
}
