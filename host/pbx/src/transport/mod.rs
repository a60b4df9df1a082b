//! SIP transports (the IO edge): UDP datagrams, TCP/TLS streams and WebSockets in, parsed messages to
//! the engine; bytes from the engine out to the right socket or connection.

mod limits;
mod stream;
mod udp;
mod websocket;

pub use limits::{ConnGate, ConnLimits, IdleStream, LimitedListener, Slot};
pub use stream::{spawn_stream_listener, tls_acceptor};
pub use udp::spawn_udp;
pub use websocket::{SipGate, serve_ws};

use crate::engine::Input;
use crate::metrics::Metrics;
use pbx_sip::parse::{Framing, ParseError, parse_message};
use pbx_sip::transaction::{Target, Transport};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Open connections and the UDP socket, for sending.
#[derive(Clone)]
pub struct Transports {
    udp: Arc<std::net::UdpSocket>,
    conns: Arc<Mutex<Connections>>,
    next_conn: Arc<AtomicU64>,
    /// Caps and idle times of SIP connections.
    pub limits: ConnLimits,
    /// The SIP connections' slots.
    pub gate: Arc<ConnGate>,
}

#[derive(Default)]
struct Connections {
    by_id: HashMap<u64, mpsc::Sender<Vec<u8>>>,
    by_addr: HashMap<(Transport, SocketAddr), u64>,
    /// Connections that carry registrations, per user with when each expires (ms): kept open
    /// while any lasts.
    bound_until: HashMap<u64, HashMap<i64, i64>>,
}

impl Transports {
    /// Wraps the bound UDP socket.
    pub fn new(udp: Arc<std::net::UdpSocket>, limits: ConnLimits) -> Transports {
        let gate = ConnGate::new(limits.sip_max, limits.sip_per_source);
        Transports { udp, conns: Arc::default(), next_conn: Arc::new(AtomicU64::new(1)), limits, gate }
    }

    /// Notes that connection `conn` carries a registration of `user` until `until_ms` (0: not
    /// any more).
    pub fn bound(&self, conn: u64, user: i64, until_ms: i64) {
        if let Ok(mut c) = self.conns.lock()
            && c.by_id.contains_key(&conn)
        {
            let users = c.bound_until.entry(conn).or_default();
            if until_ms > 0 {
                users.insert(user, until_ms);
            } else {
                users.remove(&user);
                if users.is_empty() {
                    c.bound_until.remove(&conn);
                }
            }
        }
    }

    /// Until when (ms) a connection carries a registration, if it does.
    pub(crate) fn bound_until(&self, conn: u64) -> Option<i64> {
        self.conns.lock().ok().and_then(|c| c.bound_until.get(&conn).and_then(|u| u.values().max().copied()))
    }

    /// Sends bytes to a target without waiting: UDP is fire-and-forget; a stream write is
    /// queued on its connection (dropped if the connection is gone or backed up).
    pub fn send(&self, target: Target, bytes: Vec<u8>) {
        match target.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.send_to(&bytes, target.addr) {
                    tracing::debug!(to = %target.addr, error = %e, "UDP send failed");
                }
            }
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                let sender = {
                    let Ok(c) = self.conns.lock() else { return };
                    let id = target.conn.or_else(|| c.by_addr.get(&(target.transport, target.addr)).copied());
                    id.and_then(|id| c.by_id.get(&id).cloned())
                };
                match sender {
                    Some(s) => {
                        if s.try_send(bytes).is_err() {
                            tracing::debug!(to = %target.addr, "stream send queue full or closed");
                        }
                    }
                    None => tracing::debug!(to = %target.addr, "no connection to send on"),
                }
            }
        }
    }

    fn register(&self, transport: Transport, addr: SocketAddr, tx: mpsc::Sender<Vec<u8>>) -> u64 {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut c) = self.conns.lock() {
            c.by_id.insert(id, tx);
            c.by_addr.insert((transport, addr), id);
        }
        id
    }

    fn unregister(&self, transport: Transport, addr: SocketAddr, id: u64) {
        if let Ok(mut c) = self.conns.lock() {
            c.by_id.remove(&id);
            c.bound_until.remove(&id);
            if c.by_addr.get(&(transport, addr)) == Some(&id) {
                c.by_addr.remove(&(transport, addr));
            }
        }
    }
}

/// Turns received bytes into an engine input; `None` for keep-alives and garbage.
pub(crate) fn to_input(bytes: &[u8], framing: Framing, source: Target, metrics: &Metrics) -> (Option<Input>, usize) {
    match parse_message(bytes, framing) {
        Ok(p) => (Some(Input::Sip { msg: p.message, source }), p.consumed),
        Err(ParseError::BadRequest(r)) => {
            let consumed = r.consumed;
            (Some(Input::Rejected { rejection: r, source }), consumed)
        }
        Err(ParseError::KeepAlive(n)) => (None, n),
        Err(ParseError::Incomplete) => (None, 0),
        Err(e) => {
            metrics.sip_rejected.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(from = %source.addr, error = %e, "dropped unparseable message");
            (None, usize::MAX)
        }
    }
}
