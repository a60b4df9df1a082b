//! Media anchored on the PBX.
//!
//! Every call's legs send RTP to ports of the PBX; worker threads (one per core) own those
//! sockets and relay packets between the legs of a bridge without allocating or locking per
//! packet. Sources are checked by [`latch::RemotePeer`] so that a third party cannot hijack a
//! stream (RTP bleed). The logic is sans-IO where it can be (RTP parsing, latching); the
//! worker is the IO edge.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod dtmf;
pub mod g711;
pub mod import;
pub mod latch;
pub mod mp3;
pub mod opusfile;
pub mod ports;
pub mod prompt;
pub mod record;
mod recwriter;
pub mod rtp;
pub mod wav;
mod worker;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use g711::Law;
pub use worker::MediaEvent;

/// Identifies a media session (the media of one call).
pub type SessionId = u64;

/// Which leg of a two-legged session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The caller's leg.
    A = 0,
    /// The callee's leg.
    B = 1,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// Errors of the media engine.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Every port of the range is taken.
    #[error("no free RTP ports in the configured range")]
    NoPorts,
    /// A socket could not be set up.
    #[error("media socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The worker is gone.
    #[error("media worker stopped")]
    WorkerGone,
}

/// Ports the PBX listens on for one session: RTP port of each side (RTCP is +1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPorts {
    /// Session id.
    pub id: SessionId,
    /// Port facing the A leg.
    pub a_port: u16,
    /// Port facing the B leg.
    pub b_port: u16,
}

/// What the PBX knows about the far end of one leg, from its SDP and signalling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteParams {
    /// RTP address from the leg's SDP.
    pub rtp: Option<SocketAddr>,
    /// RTCP address (`a=rtcp` or RTP port + 1).
    pub rtcp: Option<SocketAddr>,
    /// The address the leg's SIP came from; RTP from this IP is trusted for NAT latching.
    pub signal_ip: Option<IpAddr>,
    /// The G.711 law the leg speaks.
    pub law: g711::Law,
    /// Its audio payload type (0 or 8).
    pub audio_pt: u8,
    /// Its telephone-event payload type, if it has one.
    pub te_pt: Option<u8>,
    /// False while the leg is on hold or inactive (no RTP expected, no timeout).
    pub expect_rtp: bool,
}

/// What the PBX sends to a leg.
#[derive(Debug, Clone)]
pub enum Source {
    /// The other leg's media (the bridge).
    Peer,
    /// Prompts one after the other; `MediaEvent::PlayDone` with the token when finished.
    Play {
        /// The prompts.
        items: Vec<Arc<prompt::Prompt>>,
        /// Reported back when done.
        token: u64,
    },
    /// One prompt looped (music on hold), from a position that advances with time.
    Loop(Arc<prompt::Prompt>),
    /// Nothing.
    Silence,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct MediaStats {
    /// RTP and RTCP packets forwarded.
    pub packets_relayed: AtomicU64,
    /// Bytes forwarded.
    pub bytes_relayed: AtomicU64,
    /// Packets dropped (unknown source, no destination, malformed).
    pub packets_dropped: AtomicU64,
    /// Live sessions.
    pub sessions: AtomicI64,
    /// Panics contained by the media workers (each closed one session).
    pub panics: AtomicU64,
}

/// A change to the media plane: the call engine decides (sans-IO, choosing session ids and
/// ports itself) and the IO edge carries it out with [`MediaEngine::apply`].
#[derive(Debug, Clone)]
pub enum MediaCommand {
    /// Bind the ports of a new session (RTCP on each port + 1).
    Create {
        /// Session id.
        id: SessionId,
        /// Port facing the A leg.
        a_port: u16,
        /// Port facing the B leg.
        b_port: u16,
    },
    /// Where a leg's far end is and what it speaks.
    SetRemote {
        /// Session.
        id: SessionId,
        /// Leg.
        side: Side,
        /// Its parameters.
        remote: RemoteParams,
    },
    /// What the PBX sends to a leg.
    SetSource {
        /// Session.
        id: SessionId,
        /// Leg.
        side: Side,
        /// Bridge, prompts, music or silence.
        source: Source,
    },
    /// Start (with a path) or stop recording.
    Record {
        /// Session.
        id: SessionId,
        /// The WAV to write.
        path: Option<std::path::PathBuf>,
    },
    /// In-band DTMF detection on a leg.
    Inband {
        /// Session.
        id: SessionId,
        /// Leg.
        side: Side,
        /// On or off.
        on: bool,
    },
    /// Close the session's sockets.
    Destroy {
        /// Session.
        id: SessionId,
    },
}

impl MediaCommand {
    /// The session the command is about.
    pub fn session(&self) -> SessionId {
        match self {
            MediaCommand::Create { id, .. }
            | MediaCommand::SetRemote { id, .. }
            | MediaCommand::SetSource { id, .. }
            | MediaCommand::Record { id, .. }
            | MediaCommand::Inband { id, .. }
            | MediaCommand::Destroy { id } => *id,
        }
    }
}

/// The control surface of a media engine that allocates its own ports (the media crate's
/// own tests use it; the call engine issues [`MediaCommand`]s instead).
pub trait MediaControl: Send + Sync {
    /// Binds the ports of a new session.
    fn create_session(&self) -> Result<SessionPorts, MediaError>;
    /// Tells the session where a leg's far end is and what it speaks.
    fn set_remote(&self, id: SessionId, side: Side, remote: RemoteParams);
    /// Chooses what the PBX sends to a leg (bridge, prompts, music, silence).
    fn set_source(&self, id: SessionId, side: Side, source: Source);
    /// Starts (with a file path) or stops recording the session.
    fn record(&self, id: SessionId, path: Option<std::path::PathBuf>);
    /// Turns in-band DTMF detection on a leg on or off (RFC 4733 is always detected).
    fn detect_inband(&self, id: SessionId, side: Side, on: bool);
    /// Releases the session and its ports.
    fn destroy(&self, id: SessionId);
}

/// Settings of the media engine.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Address the RTP sockets bind to.
    pub bind_ip: IpAddr,
    /// First port of the range (even).
    pub port_min: u16,
    /// Last port of the range.
    pub port_max: u16,
    /// Worker threads.
    pub workers: usize,
    /// Seconds without RTP after which a call is reported dead.
    pub rtp_timeout_secs: u64,
    /// Where media may go before the leg's own RTP confirmed its address.
    pub send_policy: latch::SendPolicy,
}

/// The running media engine; cheap to clone.
#[derive(Clone)]
pub struct MediaEngine {
    inner: Arc<Inner>,
}

struct Inner {
    config: MediaConfig,
    ports: Arc<Mutex<ports::PortPool>>,
    workers: Vec<worker::WorkerHandle>,
    next_id: AtomicU64,
    stats: Arc<MediaStats>,
}

impl MediaEngine {
    /// Starts the worker threads. Events (RTP timeouts) are passed to `on_event`.
    pub fn start(config: MediaConfig, on_event: Arc<dyn Fn(MediaEvent) + Send + Sync>) -> Result<MediaEngine, MediaError> {
        let stats = Arc::new(MediaStats::default());
        let pool = Arc::new(Mutex::new(ports::PortPool::new(config.port_min, config.port_max)));
        let writer = recwriter::spawn(on_event.clone())?;
        let mut workers = Vec::new();
        for i in 0..config.workers.max(1) {
            workers.push(worker::spawn(
                i,
                config.rtp_timeout_secs,
                config.send_policy,
                stats.clone(),
                pool.clone(),
                on_event.clone(),
                writer.clone(),
            )?);
        }
        Ok(MediaEngine { inner: Arc::new(Inner { config, ports: pool, workers, next_id: AtomicU64::new(1), stats }) })
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<MediaStats> {
        &self.inner.stats
    }

    fn worker_of(&self, id: SessionId) -> &worker::WorkerHandle {
        &self.inner.workers[(id as usize) % self.inner.workers.len()]
    }

    fn bind_pair(&self) -> Result<(u16, std::net::UdpSocket, std::net::UdpSocket), MediaError> {
        let mut pool = self.inner.ports.lock().map_err(|_| MediaError::WorkerGone)?;
        for _ in 0..pool.capacity() {
            let Some(port) = pool.take() else { return Err(MediaError::NoPorts) };
            match (bind_udp(self.inner.config.bind_ip, port), bind_udp(self.inner.config.bind_ip, port + 1)) {
                (Ok(a), Ok(b)) => return Ok((port, a, b)),
                _ => {
                    // Taken by someone else: hand it back (the pool's cursor has moved past
                    // it, so it is tried again only after a full round) and try the next.
                    tracing::debug!(port, "RTP port busy, skipping");
                    pool.give_back(port);
                }
            }
        }
        Err(MediaError::NoPorts)
    }
}

fn bind_udp(ip: IpAddr, port: u16) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if ip.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::new(ip, port).into())?;
    Ok(s.into())
}

impl MediaEngine {
    /// Carries out a command of the call engine. A session whose ports cannot be bound
    /// (another process holds one) is refused: the caller reports it so the call ends.
    pub fn apply(&self, cmd: MediaCommand) -> Result<(), MediaError> {
        match cmd {
            MediaCommand::Create { id, a_port, b_port } => {
                let ip = self.inner.config.bind_ip;
                let bind = |p: u16| -> Result<(u16, std::net::UdpSocket, std::net::UdpSocket), MediaError> {
                    Ok((p, bind_udp(ip, p)?, bind_udp(ip, p.wrapping_add(1))?))
                };
                let sockets = [bind(a_port)?, bind(b_port)?];
                self.worker_of(id).send(worker::Command::Create { id, sockets })?;
                self.inner.stats.sessions.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            MediaCommand::SetRemote { id, side, remote } => self.worker_of(id).send(worker::Command::SetRemote { id, side, remote }),
            MediaCommand::SetSource { id, side, source } => self.worker_of(id).send(worker::Command::SetSource { id, side, source }),
            MediaCommand::Record { id, path } => self.worker_of(id).send(worker::Command::Record { id, path }),
            MediaCommand::Inband { id, side, on } => self.worker_of(id).send(worker::Command::Inband { id, side, on }),
            MediaCommand::Destroy { id } => self.worker_of(id).send(worker::Command::Destroy { id }),
        }
    }
}

impl MediaControl for MediaEngine {
    fn create_session(&self) -> Result<SessionPorts, MediaError> {
        let (a_port, a_rtp, a_rtcp) = self.bind_pair()?;
        let (b_port, b_rtp, b_rtcp) = match self.bind_pair() {
            Ok(x) => x,
            Err(e) => {
                if let Ok(mut p) = self.inner.ports.lock() {
                    p.give_back(a_port);
                }
                return Err(e);
            }
        };
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.worker_of(id).send(worker::Command::Create { id, sockets: [(a_port, a_rtp, a_rtcp), (b_port, b_rtp, b_rtcp)] })?;
        self.inner.stats.sessions.fetch_add(1, Ordering::Relaxed);
        Ok(SessionPorts { id, a_port, b_port })
    }

    fn set_remote(&self, id: SessionId, side: Side, remote: RemoteParams) {
        let _ = self.worker_of(id).send(worker::Command::SetRemote { id, side, remote });
    }

    fn set_source(&self, id: SessionId, side: Side, source: Source) {
        let _ = self.worker_of(id).send(worker::Command::SetSource { id, side, source });
    }

    fn record(&self, id: SessionId, path: Option<std::path::PathBuf>) {
        let _ = self.worker_of(id).send(worker::Command::Record { id, path });
    }

    fn detect_inband(&self, id: SessionId, side: Side, on: bool) {
        let _ = self.worker_of(id).send(worker::Command::Inband { id, side, on });
    }

    fn destroy(&self, id: SessionId) {
        // The worker closes the sockets and returns the ports; nothing waits for it.
        let _ = self.worker_of(id).send(worker::Command::Destroy { id });
    }
}
