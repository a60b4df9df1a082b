//! A media worker thread: owns the RTP sockets of its sessions and relays packets between
//! the two legs of each, from one mio poll loop. Per packet it does one `recv_from`, a source
//! check, an optional payload-type rewrite in place and one `send_to`: no allocation, no lock.

use crate::latch::RemotePeer;
use crate::ports::PortPool;
use crate::{MediaError, MediaStats, RemoteParams, SessionId, Side};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAKER: Token = Token(usize::MAX);

/// Something the call engine should know about media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// No RTP arrived from a leg that should send it for the configured time.
    RtpTimeout {
        /// Session.
        id: SessionId,
        /// Silent side.
        side: Side,
    },
}

pub(crate) enum Command {
    Create { id: SessionId, sockets: [(u16, std::net::UdpSocket, std::net::UdpSocket); 2] },
    SetRemote { id: SessionId, side: Side, remote: RemoteParams },
    Destroy { id: SessionId },
}

pub(crate) struct WorkerHandle {
    tx: Sender<Command>,
    waker: Arc<Waker>,
}

impl WorkerHandle {
    pub(crate) fn send(&self, c: Command) -> Result<(), MediaError> {
        self.tx.send(c).map_err(|_| MediaError::WorkerGone)?;
        self.waker.wake().map_err(MediaError::Io)
    }
}

struct Endpoint {
    port: u16,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    peer_rtp: RemotePeer,
    peer_rtcp: RemotePeer,
    /// Payload-type rewrite for packets sent to this endpoint's peer (identity by default).
    pt_out: [u8; 128],
    expect_rtp: bool,
    last_rx: Instant,
    timed_out: bool,
}

struct Session {
    id: SessionId,
    eps: [Endpoint; 2],
}

pub(crate) fn spawn(
    index: usize,
    rtp_timeout_secs: u64,
    stats: Arc<MediaStats>,
    ports: Arc<Mutex<PortPool>>,
    on_event: Arc<dyn Fn(MediaEvent) + Send + Sync>,
) -> Result<WorkerHandle, MediaError> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (tx, rx) = channel();
    std::thread::Builder::new().name(format!("media-{index}")).spawn(move || {
        let mut w = Worker {
            poll,
            rx,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            stats,
            ports,
            on_event,
            rtp_timeout: Duration::from_secs(rtp_timeout_secs.max(1)),
        };
        w.run();
    })?;
    Ok(WorkerHandle { tx, waker })
}

struct Worker {
    poll: Poll,
    rx: Receiver<Command>,
    slots: Vec<Option<Session>>,
    free: Vec<usize>,
    by_id: HashMap<SessionId, usize>,
    stats: Arc<MediaStats>,
    ports: Arc<Mutex<PortPool>>,
    on_event: Arc<dyn Fn(MediaEvent) + Send + Sync>,
    rtp_timeout: Duration,
}

fn token(slot: usize, side: usize, rtcp: bool) -> Token {
    Token(slot << 2 | side << 1 | rtcp as usize)
}

fn identity_map() -> [u8; 128] {
    let mut m = [0u8; 128];
    for (i, v) in m.iter_mut().enumerate() {
        *v = i as u8;
    }
    m
}

impl Worker {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut buf = [0u8; 2048];
        let mut last_sweep = Instant::now();
        let (mut relayed, mut bytes, mut dropped) = (0u64, 0u64, 0u64);
        loop {
            if let Err(e) = self.poll.poll(&mut events, Some(Duration::from_millis(250))) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "media poll failed");
                return;
            }
            let now = Instant::now();
            for ev in events.iter() {
                if ev.token() == WAKER {
                    continue;
                }
                let t = ev.token().0;
                let (slot, side, rtcp) = (t >> 2, (t >> 1) & 1, t & 1 == 1);
                let Some(Some(sess)) = self.slots.get_mut(slot) else { continue };
                loop {
                    let (src_ep, dst_ep) = if side == 0 {
                        let (a, b) = sess.eps.split_at_mut(1);
                        (&mut a[0], &mut b[0])
                    } else {
                        let (a, b) = sess.eps.split_at_mut(1);
                        (&mut b[0], &mut a[0])
                    };
                    let sock = if rtcp { &src_ep.rtcp } else { &src_ep.rtp };
                    let (n, src) = match sock.recv_from(&mut buf) {
                        Ok(x) => x,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    };
                    let peer = if rtcp { &mut src_ep.peer_rtcp } else { &mut src_ep.peer_rtp };
                    if n < 8 || !peer.accept(src) {
                        dropped += 1;
                        continue;
                    }
                    if !rtcp {
                        src_ep.last_rx = now;
                        src_ep.timed_out = false;
                    }
                    let dst_peer = if rtcp { &dst_ep.peer_rtcp } else { &dst_ep.peer_rtp };
                    let Some(dest) = dst_peer.destination() else {
                        dropped += 1;
                        continue;
                    };
                    if !rtcp && n >= 12 && !crate::rtp::looks_like_rtcp(&buf[..n]) {
                        let pt = buf[1] & 0x7f;
                        buf[1] = (buf[1] & 0x80) | dst_ep.pt_out[pt as usize];
                    }
                    let out = if rtcp { &dst_ep.rtcp } else { &dst_ep.rtp };
                    match out.send_to(&buf[..n], dest) {
                        Ok(_) => {
                            relayed += 1;
                            bytes += n as u64;
                        }
                        Err(_) => dropped += 1,
                    }
                }
            }
            if relayed + dropped > 0 {
                self.stats.packets_relayed.fetch_add(relayed, Ordering::Relaxed);
                self.stats.bytes_relayed.fetch_add(bytes, Ordering::Relaxed);
                self.stats.packets_dropped.fetch_add(dropped, Ordering::Relaxed);
                (relayed, bytes, dropped) = (0, 0, 0);
            }
            while let Ok(cmd) = self.rx.try_recv() {
                self.command(cmd, now);
            }
            if now.duration_since(last_sweep) >= Duration::from_millis(500) {
                last_sweep = now;
                self.sweep(now);
            }
        }
    }

    fn command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Create { id, sockets } => {
                let slot = match self.free.pop() {
                    Some(s) => s,
                    None => {
                        self.slots.push(None);
                        self.slots.len() - 1
                    }
                };
                let mut eps = Vec::with_capacity(2);
                for (side, (port, rtp, rtcp)) in sockets.into_iter().enumerate() {
                    let mut rtp = UdpSocket::from_std(rtp);
                    let mut rtcp = UdpSocket::from_std(rtcp);
                    let reg = self.poll.registry();
                    if reg.register(&mut rtp, token(slot, side, false), Interest::READABLE).is_err()
                        || reg.register(&mut rtcp, token(slot, side, true), Interest::READABLE).is_err()
                    {
                        tracing::error!(id, "cannot register media sockets");
                    }
                    eps.push(Endpoint {
                        port,
                        rtp,
                        rtcp,
                        peer_rtp: RemotePeer::default(),
                        peer_rtcp: RemotePeer::default(),
                        pt_out: identity_map(),
                        expect_rtp: false,
                        last_rx: now,
                        timed_out: false,
                    });
                }
                let (Some(b), Some(a)) = (eps.pop(), eps.pop()) else { return };
                self.slots[slot] = Some(Session { id, eps: [a, b] });
                self.by_id.insert(id, slot);
            }
            Command::SetRemote { id, side, remote } => {
                let Some(&slot) = self.by_id.get(&id) else { return };
                let Some(Some(sess)) = self.slots.get_mut(slot) else { return };
                let ep = &mut sess.eps[side as usize];
                ep.peer_rtp.update(remote.rtp, remote.signal_ip);
                ep.peer_rtcp.update(remote.rtcp, remote.signal_ip);
                let mut map = identity_map();
                for (from, to) in remote.pt_rewrite {
                    if from < 128 && to < 128 {
                        map[from as usize] = to;
                    }
                }
                ep.pt_out = map;
                if remote.expect_rtp && !ep.expect_rtp {
                    ep.last_rx = now;
                }
                ep.expect_rtp = remote.expect_rtp;
            }
            Command::Destroy { id } => {
                let Some(slot) = self.by_id.remove(&id) else { return };
                if let Some(mut sess) = self.slots[slot].take() {
                    for ep in sess.eps.iter_mut() {
                        let _ = self.poll.registry().deregister(&mut ep.rtp);
                        let _ = self.poll.registry().deregister(&mut ep.rtcp);
                    }
                    // Close the sockets before the ports can be handed out again.
                    let ports: Vec<u16> = sess.eps.iter().map(|e| e.port).collect();
                    drop(sess);
                    if let Ok(mut pool) = self.ports.lock() {
                        for p in ports {
                            pool.give_back(p);
                        }
                    }
                    self.stats.sessions.fetch_sub(1, Ordering::Relaxed);
                }
                self.free.push(slot);
            }
        }
    }

    fn sweep(&mut self, now: Instant) {
        for sess in self.slots.iter_mut().flatten() {
            for (i, ep) in sess.eps.iter_mut().enumerate() {
                if ep.expect_rtp && !ep.timed_out && now.duration_since(ep.last_rx) > self.rtp_timeout {
                    ep.timed_out = true;
                    let side = if i == 0 { Side::A } else { Side::B };
                    (self.on_event)(MediaEvent::RtpTimeout { id: sess.id, side });
                }
            }
        }
    }
}
