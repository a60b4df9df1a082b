//! A media worker thread: owns the RTP sockets of its sessions and, from one mio poll loop,
//! relays packets between the two legs of each (converting A-law/µ-law and the
//! telephone-event payload type when the legs differ), plays prompts and music paced by a
//! 20 ms clock, detects DTMF, and feeds the recorder. Per relayed packet: one `recv_from`, a
//! source check, an in-place header rewrite and one `send_to` — no allocation, no lock.

use crate::dtmf::{DtmfSource, Goertzel, Rfc4733};
use crate::g711::{self, Law};
use crate::latch::RemotePeer;
use crate::ports::PortPool;
use crate::prompt::Prompt;
use crate::record::Mixer;
use crate::recwriter::RecMsg;
use crate::{MediaError, MediaStats, RemoteParams, SessionId, Side, Source};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAKER: Token = Token(usize::MAX);
/// Packet time of what the PBX sends.
const PTIME: Duration = Duration::from_millis(20);

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
    /// A key was pressed on a leg.
    Dtmf {
        /// Session.
        id: SessionId,
        /// The leg.
        side: Side,
        /// The key.
        digit: char,
        /// How it was signalled.
        source: DtmfSource,
    },
    /// The prompts queued with `token` finished playing.
    PlayDone {
        /// Session.
        id: SessionId,
        /// The leg they played to.
        side: Side,
        /// The token of the `Play` source.
        token: u64,
    },
    /// A session's ports could not be bound (the edge reports it; the call must end).
    SessionFailed {
        /// Session.
        id: SessionId,
    },
    /// A recording file was closed.
    RecordingDone {
        /// Session.
        id: SessionId,
        /// The WAV file.
        path: PathBuf,
        /// Its length.
        duration_ms: u64,
        /// Its size.
        bytes: u64,
    },
}

impl MediaEvent {
    /// The session the event is about.
    pub fn session(&self) -> SessionId {
        match self {
            MediaEvent::RtpTimeout { id, .. }
            | MediaEvent::Dtmf { id, .. }
            | MediaEvent::PlayDone { id, .. }
            | MediaEvent::SessionFailed { id }
            | MediaEvent::RecordingDone { id, .. } => *id,
        }
    }
}

impl Command {
    fn session(&self) -> SessionId {
        match self {
            Command::Create { id, .. }
            | Command::SetRemote { id, .. }
            | Command::SetSource { id, .. }
            | Command::Record { id, .. }
            | Command::Inband { id, .. }
            | Command::Destroy { id } => *id,
        }
    }
}

pub(crate) enum Command {
    Create { id: SessionId, sockets: [(u16, std::net::UdpSocket, std::net::UdpSocket); 2] },
    SetRemote { id: SessionId, side: Side, remote: RemoteParams },
    SetSource { id: SessionId, side: Side, source: Source },
    Record { id: SessionId, path: Option<PathBuf> },
    Inband { id: SessionId, side: Side, on: bool },
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

/// What the PBX is sending to a leg, with its playback position.
enum Out {
    Peer,
    Play { items: VecDeque<Arc<Prompt>>, pos: usize, token: u64 },
    Loop { prompt: Arc<Prompt>, pos: usize },
    Silence,
}

/// RTP header state of the stream the PBX originates towards a leg.
struct OwnStream {
    ssrc: u32,
    seq: u16,
    ts: u32,
    started: Instant,
    sent: u64,
}

struct Endpoint {
    port: u16,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    peer_rtp: RemotePeer,
    peer_rtcp: RemotePeer,
    law: Law,
    audio_pt: u8,
    te_pt: Option<u8>,
    expect_rtp: bool,
    last_rx: Instant,
    timed_out: bool,
    out: Out,
    own: OwnStream,
    rfc4733: Rfc4733,
    inband: Option<Goertzel>,
    /// Theoretical arrival time of the next digit, µs (a GCRA bucket: a burst of
    /// [`DIGIT_BURST`] key presses passes, then one per [`DIGIT_INTERVAL_US`], so a peer cannot
    /// flood the engine with key presses while jitter-bunched real digits still pass).
    digit_tat_us: u64,
}

/// Sustained pace of reported key presses of one leg (ITU-T Q.24 asks at least 40 ms of tone
/// and 40 ms of pause per digit, so a real keypad stays under one digit per 80 ms).
const DIGIT_INTERVAL_US: u64 = 60_000;
/// Key presses that may arrive back to back (network jitter bunches a fast typist's digits).
const DIGIT_BURST: u64 = 8;

impl Endpoint {
    /// Whether a digit recognised now may be reported.
    fn digit_allowed(&mut self, now_us: u64) -> bool {
        let tolerance = DIGIT_INTERVAL_US * (DIGIT_BURST - 1);
        if self.digit_tat_us > now_us.saturating_add(tolerance) {
            return false;
        }
        self.digit_tat_us = self.digit_tat_us.max(now_us).saturating_add(DIGIT_INTERVAL_US);
        true
    }
}

impl Endpoint {
    fn playing(&self) -> bool {
        matches!(self.out, Out::Play { .. } | Out::Loop { .. })
    }
}

struct Session {
    id: SessionId,
    eps: [Endpoint; 2],
    recorder: Option<Mixer>,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn(
    index: usize,
    rtp_timeout_secs: u64,
    send_policy: crate::latch::SendPolicy,
    stats: Arc<MediaStats>,
    ports: Arc<Mutex<PortPool>>,
    on_event: Arc<dyn Fn(MediaEvent) + Send + Sync>,
    writer: Sender<RecMsg>,
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
            writer,
            rtp_timeout: Duration::from_secs(rtp_timeout_secs.max(1)),
            send_policy,
            epoch: Instant::now(),
            events: Vec::new(),
            playing: 0,
            current: None,
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
    writer: Sender<RecMsg>,
    rtp_timeout: Duration,
    send_policy: crate::latch::SendPolicy,
    epoch: Instant,
    events: Vec<MediaEvent>,
    /// Endpoints currently playing (the 20 ms clock runs only when there are some).
    playing: usize,
    /// The session `tick` is working on (where a panic is contained).
    current: Option<SessionId>,
}

fn token(slot: usize, side: usize, rtcp: bool) -> Token {
    Token(slot << 2 | side << 1 | rtcp as usize)
}

fn side_of(i: usize) -> Side {
    if i == 0 { Side::A } else { Side::B }
}

/// Counters kept on the stack of the poll loop and flushed once per iteration.
#[derive(Default)]
struct Counts {
    relayed: u64,
    bytes: u64,
    dropped: u64,
}

impl Worker {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut buf = [0u8; 2048];
        let mut pcm = [0i16; 1024];
        let mut last_sweep = Instant::now();
        let mut last_drain = Instant::now();
        let mut counts = Counts::default();
        loop {
            let timeout = if self.any_playing() { PTIME / 2 } else { Duration::from_millis(100) };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "media poll failed");
                return;
            }
            let now = Instant::now();
            let now_us = now.duration_since(self.epoch).as_micros() as u64;
            for ev in events.iter() {
                if ev.token() == WAKER {
                    continue;
                }
                let t = ev.token().0;
                let slot = t >> 2;
                let id = self.slots.get(slot).and_then(|s| s.as_ref()).map(|s| s.id);
                self.contained(id, |w| w.readable(slot, (t >> 1) & 1, t & 1 == 1, now, now_us, &mut buf, &mut pcm, &mut counts));
            }
            while let Ok(cmd) = self.rx.try_recv() {
                let id = cmd.session();
                self.contained(Some(id), |w| w.command(cmd, now, now_us));
            }
            if self.playing > 0 {
                self.current = None;
                self.contained(None, |w| w.tick(now, now_us, &mut counts));
            }
            if now.duration_since(last_drain) >= Duration::from_millis(200) {
                last_drain = now;
                self.drain_recorders(now_us);
            }
            if counts.relayed + counts.dropped > 0 {
                self.stats.packets_relayed.fetch_add(counts.relayed, Ordering::Relaxed);
                self.stats.bytes_relayed.fetch_add(counts.bytes, Ordering::Relaxed);
                self.stats.packets_dropped.fetch_add(counts.dropped, Ordering::Relaxed);
                counts = Counts::default();
            }
            if now.duration_since(last_sweep) >= Duration::from_millis(500) {
                last_sweep = now;
                self.sweep(now);
            }
            for e in self.events.drain(..) {
                (self.on_event)(e);
            }
        }
    }

    fn any_playing(&self) -> bool {
        self.playing > 0
    }

    /// Runs `f`; if it panics, the session it was working on (`id`, or the one `tick` was
    /// at) is closed and reported failed (its call ends), the panic is counted, and the
    /// worker goes on with every other session.
    fn contained(&mut self, id: Option<SessionId>, f: impl FnOnce(&mut Worker)) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        if result.is_err() {
            self.stats.panics.fetch_add(1, Ordering::Relaxed);
            if let Some(id) = id.or(self.current.take()) {
                tracing::error!(session = id, "media worker failed on a session: closing it");
                let now = Instant::now();
                let now_us = now.duration_since(self.epoch).as_micros() as u64;
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.command(Command::Destroy { id }, now, now_us)));
                self.events.push(MediaEvent::SessionFailed { id });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn readable(
        &mut self,
        slot: usize,
        side: usize,
        rtcp: bool,
        now: Instant,
        now_us: u64,
        buf: &mut [u8; 2048],
        pcm: &mut [i16; 1024],
        c: &mut Counts,
    ) {
        let Some(Some(sess)) = self.slots.get_mut(slot) else { return };
        let id = sess.id;
        loop {
            let (a, b) = sess.eps.split_at_mut(1);
            let (src, dst) = if side == 0 { (&mut a[0], &mut b[0]) } else { (&mut b[0], &mut a[0]) };
            let sock = if rtcp { &src.rtcp } else { &src.rtp };
            let (n, from) = match sock.recv_from(buf) {
                Ok(x) => x,
                Err(_) => break,
            };
            let peer = if rtcp { &mut src.peer_rtcp } else { &mut src.peer_rtp };
            if n < 8 || !peer.accept(from) {
                c.dropped += 1;
                continue;
            }
            if rtcp {
                // RTCP goes through only while the legs are bridged.
                if matches!(dst.out, Out::Peer)
                    && let Some(dest) = dst.peer_rtcp.destination()
                    && dst.rtcp.send_to(&buf[..n], dest).is_ok()
                {
                    c.relayed += 1;
                    c.bytes += n as u64;
                }
                continue;
            }
            src.last_rx = now;
            src.timed_out = false;
            let Some(view) = crate::rtp::RtpView::parse(&buf[..n]) else {
                c.dropped += 1;
                continue;
            };
            let pt = view.payload_type();
            let header_len = n - view.payload().len();
            let (ssrc, ts) = (view.ssrc(), view.timestamp());
            if src.te_pt == Some(pt) {
                if let Some(d) = src.rfc4733.feed(ts, view.payload())
                    && src.digit_allowed(now_us)
                {
                    self.events.push(MediaEvent::Dtmf { id, side: side_of(side), digit: d, source: DtmfSource::Rfc4733 });
                }
                if matches!(dst.out, Out::Peer)
                    && let (Some(te), Some(dest)) = (dst.te_pt, dst.peer_rtp.destination())
                {
                    buf[1] = (buf[1] & 0x80) | te;
                    if dst.rtp.send_to(&buf[..n], dest).is_ok() {
                        c.relayed += 1;
                        c.bytes += n as u64;
                    }
                }
                continue;
            }
            let is_audio = pt == src.audio_pt || pt == src.law.payload_type();
            if is_audio && (sess.recorder.is_some() || src.inband.is_some()) {
                let len = view.payload().len().min(pcm.len());
                for (o, b) in pcm[..len].iter_mut().zip(view.payload()) {
                    *o = src.law.decode(*b);
                }
                if let Some(g) = src.inband.as_mut() {
                    let mut digits = Vec::new();
                    g.feed(&pcm[..len], &mut digits);
                    for d in digits {
                        if src.digit_allowed(now_us) {
                            self.events.push(MediaEvent::Dtmf { id, side: side_of(side), digit: d, source: DtmfSource::Inband });
                        }
                    }
                }
                if let Some(m) = sess.recorder.as_mut() {
                    m.feed(side, ssrc, ts, now_us, &pcm[..len]);
                }
            }
            if !matches!(dst.out, Out::Peer) {
                continue;
            }
            let Some(dest) = dst.peer_rtp.destination() else {
                c.dropped += 1;
                continue;
            };
            if is_audio {
                if src.law != dst.law {
                    g711::transcode(&mut buf[header_len..n], src.law, dst.law);
                }
                buf[1] = (buf[1] & 0x80) | dst.audio_pt;
            }
            match dst.rtp.send_to(&buf[..n], dest) {
                Ok(_) => {
                    c.relayed += 1;
                    c.bytes += n as u64;
                }
                Err(_) => c.dropped += 1,
            }
        }
    }

    /// The 20 ms clock: prompts and music go out, recordings are drained.
    fn tick(&mut self, now: Instant, _now_us: u64, c: &mut Counts) {
        let mut pkt = [0u8; 12 + 160];
        let mut finished = 0;
        for sess in self.slots.iter_mut().flatten() {
            self.current = Some(sess.id);
            for (i, ep) in sess.eps.iter_mut().enumerate() {
                if !ep.playing() {
                    continue;
                }
                // Send every frame that is due, at most three at once after a stall.
                let due = (now.duration_since(ep.own.started).as_micros() / PTIME.as_micros()) as u64 + 1;
                let mut budget = due.saturating_sub(ep.own.sent).min(3);
                if due > ep.own.sent + 3 {
                    ep.own.sent = due - 3;
                }
                while budget > 0 {
                    budget -= 1;
                    let law = ep.law;
                    let mut done_token = None;
                    let payload = &mut pkt[12..];
                    let mut filled = 0;
                    while filled < 160 {
                        match &mut ep.out {
                            Out::Play { items, pos, token } => match items.front() {
                                Some(p) => {
                                    let data = p.encoded(law);
                                    let take = (data.len() - (*pos).min(data.len())).min(160 - filled);
                                    payload[filled..filled + take].copy_from_slice(&data[*pos..*pos + take]);
                                    filled += take;
                                    *pos += take;
                                    if *pos >= data.len() {
                                        items.pop_front();
                                        *pos = 0;
                                    }
                                }
                                None => {
                                    done_token = Some(*token);
                                    break;
                                }
                            },
                            Out::Loop { prompt, pos } => {
                                let data = prompt.encoded(law);
                                if data.is_empty() {
                                    break;
                                }
                                let take = (data.len() - *pos).min(160 - filled);
                                payload[filled..filled + take].copy_from_slice(&data[*pos..*pos + take]);
                                filled += take;
                                *pos = (*pos + take) % data.len();
                            }
                            _ => break,
                        }
                    }
                    payload[filled..].fill(law.silence());
                    if let Some(token) = done_token {
                        ep.out = Out::Silence;
                        finished += 1;
                        self.events.push(MediaEvent::PlayDone { id: sess.id, side: side_of(i), token });
                        if filled == 0 {
                            break;
                        }
                    }
                    let marker = ep.own.sent == 0;
                    crate::rtp::write_header(&mut pkt[..12], ep.audio_pt, marker, ep.own.seq, ep.own.ts, ep.own.ssrc);
                    ep.own.seq = ep.own.seq.wrapping_add(1);
                    ep.own.ts = ep.own.ts.wrapping_add(160);
                    ep.own.sent += 1;
                    if let Some(dest) = ep.peer_rtp.destination()
                        && ep.rtp.send_to(&pkt, dest).is_ok()
                    {
                        c.relayed += 1;
                        c.bytes += pkt.len() as u64;
                    }
                }
            }
        }
        self.playing = self.playing.saturating_sub(finished);
    }

    /// Hands recorded frames to the writer in blocks of a fifth of a second.
    fn drain_recorders(&mut self, now_us: u64) {
        for sess in self.slots.iter_mut().flatten() {
            if let Some(m) = sess.recorder.as_mut() {
                let mut frames = Vec::with_capacity(2000);
                m.drain(now_us, &mut frames);
                if !frames.is_empty() {
                    let _ = self.writer.send(RecMsg::Frames { key: sess.id, frames });
                }
            }
        }
    }

    fn command(&mut self, cmd: Command, now: Instant, now_us: u64) {
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
                    let seed = (id as u32).wrapping_mul(2_654_435_761) ^ (side as u32 + 1).wrapping_mul(40_503) ^ now_us as u32;
                    eps.push(Endpoint {
                        port,
                        rtp,
                        rtcp,
                        peer_rtp: RemotePeer::with_policy(self.send_policy),
                        peer_rtcp: RemotePeer::with_policy(self.send_policy),
                        law: Law::Alaw,
                        audio_pt: 8,
                        te_pt: None,
                        expect_rtp: false,
                        last_rx: now,
                        timed_out: false,
                        out: Out::Peer,
                        own: OwnStream { ssrc: seed, seq: (seed >> 8) as u16, ts: seed.rotate_left(11), started: now, sent: 0 },
                        rfc4733: Rfc4733::default(),
                        inband: None,
                        digit_tat_us: 0,
                    });
                }
                let (Some(b), Some(a)) = (eps.pop(), eps.pop()) else { return };
                self.slots[slot] = Some(Session { id, eps: [a, b], recorder: None });
                self.by_id.insert(id, slot);
            }
            Command::SetRemote { id, side, remote } => {
                let Some(sess) = self.session(id) else { return };
                let ep = &mut sess.eps[side as usize];
                ep.peer_rtp.update(remote.rtp, remote.signal_ip);
                ep.peer_rtcp.update(remote.rtcp, remote.signal_ip);
                ep.law = remote.law;
                ep.audio_pt = remote.audio_pt;
                ep.te_pt = remote.te_pt;
                if remote.expect_rtp && !ep.expect_rtp {
                    ep.last_rx = now;
                }
                ep.expect_rtp = remote.expect_rtp;
            }
            Command::SetSource { id, side, source } => {
                let Some(sess) = self.session(id) else { return };
                let ep = &mut sess.eps[side as usize];
                let was_playing = ep.playing();
                ep.out = match source {
                    Source::Peer => Out::Peer,
                    Source::Play { items, token } => Out::Play { items: items.into(), pos: 0, token },
                    Source::Loop(prompt) => Out::Loop { prompt, pos: 0 },
                    Source::Silence => Out::Silence,
                };
                if ep.playing() && !was_playing {
                    ep.own.started = now;
                    ep.own.sent = 0;
                }
                match (was_playing, ep.playing()) {
                    (false, true) => self.playing += 1,
                    (true, false) => self.playing = self.playing.saturating_sub(1),
                    _ => {}
                }
            }
            Command::Record { id, path } => {
                let Some(sess) = self.session(id) else { return };
                match path {
                    Some(p) if sess.recorder.is_none() => {
                        sess.recorder = Some(Mixer::new(now_us));
                        let _ = self.writer.send(RecMsg::Open { key: id, path: p });
                    }
                    None => {
                        if let Some(mut m) = sess.recorder.take() {
                            let mut frames = Vec::new();
                            m.finish(&mut frames);
                            let _ = self.writer.send(RecMsg::Frames { key: id, frames });
                            let _ = self.writer.send(RecMsg::Close { key: id, session: id });
                        }
                    }
                    _ => {}
                }
            }
            Command::Inband { id, side, on } => {
                let Some(sess) = self.session(id) else { return };
                let ep = &mut sess.eps[side as usize];
                ep.inband = if on { Some(ep.inband.take().unwrap_or_default()) } else { None };
            }
            Command::Destroy { id } => {
                let Some(slot) = self.by_id.remove(&id) else { return };
                if let Some(mut sess) = self.slots[slot].take() {
                    self.playing = self.playing.saturating_sub(sess.eps.iter().filter(|e| e.playing()).count());
                    if let Some(mut m) = sess.recorder.take() {
                        let mut frames = Vec::new();
                        m.finish(&mut frames);
                        let _ = self.writer.send(RecMsg::Frames { key: id, frames });
                        let _ = self.writer.send(RecMsg::Close { key: id, session: id });
                    }
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

    fn session(&mut self, id: SessionId) -> Option<&mut Session> {
        let slot = *self.by_id.get(&id)?;
        self.slots.get_mut(slot)?.as_mut()
    }

    fn sweep(&mut self, now: Instant) {
        for sess in self.slots.iter_mut().flatten() {
            for (i, ep) in sess.eps.iter_mut().enumerate() {
                if ep.expect_rtp && !ep.timed_out && now.duration_since(ep.last_rx) > self.rtp_timeout {
                    ep.timed_out = true;
                    self.events.push(MediaEvent::RtpTimeout { id: sess.id, side: side_of(i) });
                }
            }
        }
    }
}
