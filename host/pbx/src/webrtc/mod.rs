//! The browser leg: WebRTC media (ICE-lite, DTLS-SRTP, rtcp-mux) terminated with `str0m`
//! at the edge, so that to the call engine a browser is a SIP phone with plain RTP.
//!
//! SIP over WebSocket carries the browser's signalling; as its messages cross that
//! transport, [`sip`] hands their SDP to this edge: a browser's WebRTC offer or answer comes
//! out as a plain RTP description (G.711 and telephone-event on an address of the edge), and
//! the engine's plain descriptions go to the browser as WebRTC ones. Media then runs through
//! one task: the browsers' packets arrive on one UDP socket (told apart by address and, for
//! a new address, by whose ICE credentials they carry), are decrypted by the leg's `Rtc`
//! and go on as RTP from a second socket to the media plane's port for that call; the way
//! back mirrors it. G.711 passes through untouched (no transcoding): bridging, recording and
//! prompts work as for any phone. This is the split Kamailio and rtpengine use for WebRTC,
//! and it leaves the engine and the media plane unchanged.

pub mod plain;
pub mod sip;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// One STUN or TURN server for browsers (RTCPeerConnection's `RTCIceServer`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    /// `stun:HOST:PORT`, `turn:HOST:PORT` or `turns:...` (one or several).
    #[schema(value_type = Object)]
    pub urls: serde_json::Value,
    /// TURN user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Reads `PBX_WEBRTC_ICE_SERVERS`: a JSON list of servers whose URLs are `stun:`, `turn:` or
/// `turns:` ones (a TURN server needs a user name and a password).
pub fn parse_ice_servers(json: &str) -> Result<Vec<IceServer>, String> {
    let servers: Vec<IceServer> = serde_json::from_str(json).map_err(|e| format!("not a JSON list of ICE servers: {e}"))?;
    for s in &servers {
        let urls: Vec<&str> = match &s.urls {
            serde_json::Value::String(u) => vec![u.as_str()],
            serde_json::Value::Array(a) => a.iter().filter_map(|u| u.as_str()).collect(),
            _ => Vec::new(),
        };
        if urls.is_empty() {
            return Err("an ICE server needs \"urls\"".into());
        }
        for u in urls {
            let scheme = u.split(':').next().unwrap_or("");
            if !matches!(scheme, "stun" | "turn" | "turns") || u.len() < scheme.len() + 2 {
                return Err(format!("{u:?} is not a stun:, turn: or turns: URL"));
            }
            if scheme != "stun" && (s.username.is_none() || s.credential.is_none()) {
                return Err(format!("the TURN server {u} needs \"username\" and \"credential\""));
            }
        }
    }
    Ok(servers)
}

/// A browser leg: the WebSocket connection and the SIP Call-ID of its dialog.
pub type LegKey = (u64, String);

/// Legs that carried no media for this long are dropped (a browser that vanished).
const IDLE: Duration = Duration::from_secs(90);

/// Media legs one WebSocket may hold at once (a phone has a call, a held one, a ringing one):
/// offers beyond it are refused before any crypto is set up, so that a connection cannot
/// spend the edge's memory and CPU.
const LEGS_PER_CONN: usize = 6;

/// Why a browser without G.711 gets no call: every WebRTC browser must have it (RFC 7874),
/// and the edge bridges it untouched rather than transcoding another codec.
const NO_G711: &str = "the browser offers neither PCMU nor PCMA (every WebRTC browser must, RFC 7874)";

/// Media legs the edge holds at once.
const MAX_LEGS: usize = 8192;

/// Why a description could not be translated.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The SDP was not understood or offers nothing usable.
    #[error("unusable session description: {0}")]
    Sdp(String),
    /// No leg for this dialog (an answer without an offer).
    #[error("no WebRTC leg for this dialog")]
    NoLeg,
    /// Too many calls on one connection, or on the edge.
    #[error("too many browser calls at once")]
    Busy,
    /// The edge is not running.
    #[error("the WebRTC edge is not running")]
    Stopped,
}

/// What an offer of the engine to a browser becomes.
#[derive(Debug, PartialEq, Eq)]
pub enum EngineOffer {
    /// The WebRTC offer for the browser.
    Browser(String),
    /// The offer changes nothing of the browser's media (a session refresh, a re-offer of
    /// the other party): the edge answers it for the browser with this plain answer, since a
    /// WebRTC peer has no offer to make that changes nothing.
    Unchanged(String),
}

enum Cmd {
    BrowserOffer { key: LegKey, sdp: String, reply: oneshot::Sender<Result<String, EdgeError>> },
    BrowserAnswer { key: LegKey, sdp: String, reply: oneshot::Sender<Result<String, EdgeError>> },
    EngineOffer { key: LegKey, sdp: String, reply: oneshot::Sender<Result<EngineOffer, EdgeError>> },
    EngineAnswer { key: LegKey, sdp: String, reply: oneshot::Sender<Result<String, EdgeError>> },
    Close { key: LegKey },
    CloseConn { conn: u64 },
}

/// The handle the SIP side uses to translate descriptions (cheap to clone). Browser legs
/// are spread over shards, each a task with its own UDP socket, by WebSocket connection: a
/// phone's calls stay on one shard (its per-connection cap holds) and many phones use every
/// core.
#[derive(Clone)]
pub struct WebRtcEdge {
    shards: Arc<[mpsc::UnboundedSender<Cmd>]>,
    /// The addresses browsers send media to, one per shard.
    pub media_addrs: Arc<[SocketAddr]>,
}

impl WebRtcEdge {
    /// Binds `shards` browser-facing sockets on `public_ip`, on consecutive ports from `port`
    /// (0: any free ports), and an engine-facing one per shard on `engine_ip`, and starts a
    /// media task per shard.
    pub async fn start(public_ip: IpAddr, port: u16, engine_ip: IpAddr, shards: usize) -> std::io::Result<WebRtcEdge> {
        let mut txs = Vec::new();
        let mut addrs = Vec::new();
        for k in 0..shards.clamp(1, 64) {
            let p = if port == 0 {
                0
            } else {
                port.checked_add(k as u16).ok_or_else(|| std::io::Error::other("the WebRTC ports run past 65535"))?
            };
            let ice = UdpSocket::bind(SocketAddr::new(public_ip, p)).await?;
            let plain = UdpSocket::bind(SocketAddr::new(engine_ip, 0)).await?;
            let media_addr = ice.local_addr()?;
            let plain_addr = plain.local_addr()?;
            let (tx, rx) = mpsc::unbounded_channel();
            let edge = Edge {
                ice: Arc::new(ice),
                plain: Arc::new(plain),
                media_addr,
                plain_addr,
                max_legs: (MAX_LEGS / shards.max(1)).max(LEGS_PER_CONN),
                next_id: 0,
                ids: HashMap::new(),
                legs: HashMap::new(),
                by_browser: HashMap::new(),
                by_engine: HashMap::new(),
                earliest: Instant::now(),
            };
            tokio::spawn(edge.run(rx));
            txs.push(tx);
            addrs.push(media_addr);
        }
        Ok(WebRtcEdge { shards: txs.into(), media_addrs: addrs.into() })
    }

    fn shard(&self, conn: u64) -> Result<&mpsc::UnboundedSender<Cmd>, EdgeError> {
        let n = self.shards.len() as u64;
        self.shards.get((conn % n.max(1)) as usize).ok_or(EdgeError::Stopped)
    }

    async fn ask(&self, conn: u64, make: impl FnOnce(oneshot::Sender<Result<String, EdgeError>>) -> Cmd) -> Result<String, EdgeError> {
        let (reply, rx) = oneshot::channel();
        self.shard(conn)?.send(make(reply)).map_err(|_| EdgeError::Stopped)?;
        rx.await.map_err(|_| EdgeError::Stopped)?
    }

    /// A browser offers (INVITE or re-INVITE): the plain description for the engine.
    pub async fn browser_offer(&self, key: LegKey, sdp: String) -> Result<String, EdgeError> {
        self.ask(key.0, |reply| Cmd::BrowserOffer { key, sdp, reply }).await
    }

    /// A browser answers the engine's offer: the plain answer for the engine.
    pub async fn browser_answer(&self, key: LegKey, sdp: String) -> Result<String, EdgeError> {
        self.ask(key.0, |reply| Cmd::BrowserAnswer { key, sdp, reply }).await
    }

    /// The engine offers to a browser: the WebRTC offer for the browser, or the edge's own
    /// answer when the offer changes nothing.
    pub async fn engine_offer(&self, key: LegKey, sdp: String) -> Result<EngineOffer, EdgeError> {
        let (reply, rx) = oneshot::channel();
        self.shard(key.0)?.send(Cmd::EngineOffer { key, sdp, reply }).map_err(|_| EdgeError::Stopped)?;
        rx.await.map_err(|_| EdgeError::Stopped)?
    }

    /// The engine answers a browser's offer: the WebRTC answer for the browser.
    pub async fn engine_answer(&self, key: LegKey, sdp: String) -> Result<String, EdgeError> {
        self.ask(key.0, |reply| Cmd::EngineAnswer { key, sdp, reply }).await
    }

    /// The dialog ended: its leg goes.
    pub fn close(&self, key: LegKey) {
        if let Ok(tx) = self.shard(key.0) {
            let _ = tx.send(Cmd::Close { key });
        }
    }

    /// The WebSocket closed: all its legs go.
    pub fn close_conn(&self, conn: u64) {
        if let Ok(tx) = self.shard(conn) {
            let _ = tx.send(Cmd::CloseConn { conn });
        }
    }
}

struct Leg {
    key: LegKey,
    rtc: Rtc,
    mid: Option<Mid>,
    /// Our offer waiting for the browser's answer.
    pending: Option<SdpPendingOffer>,
    /// Our answer to the browser's latest offer, sent once the engine has answered.
    answer: Option<String>,
    /// Where the media plane takes this call's audio (from the engine's description).
    engine: Option<SocketAddr>,
    /// The engine's payload types for PCMU, PCMA and telephone-event.
    engine_pts: plain::Pts,
    ssrc: u32,
    seq: u16,
    last_media: Instant,
    timeout: Instant,
}

struct Edge {
    ice: Arc<UdpSocket>,
    plain: Arc<UdpSocket>,
    media_addr: SocketAddr,
    plain_addr: SocketAddr,
    /// This shard's share of [`MAX_LEGS`].
    max_legs: usize,
    next_id: u64,
    /// Legs by dialog; packets find them by number, without touching the Call-ID.
    ids: HashMap<LegKey, u64>,
    legs: HashMap<u64, Leg>,
    by_browser: HashMap<SocketAddr, u64>,
    by_engine: HashMap<SocketAddr, u64>,
    /// No leg's timer is due before this (it may be earlier than needed, never later).
    earliest: Instant,
}

fn new_rtc(media_addr: SocketAddr, now: Instant) -> Result<Rtc, EdgeError> {
    let mut cfg = Rtc::builder().set_ice_lite(true).clear_codecs().enable_pcmu(true, false).enable_pcma(true, false);
    cfg.codec_config().add_config(
        plain::TELEPHONE_EVENT_PT.into(),
        None,
        Codec::Tele,
        str0m::media::Frequency::EIGHT_KHZ,
        None,
        Default::default(),
    );
    let mut rtc = cfg.build(now);
    let c = Candidate::host(media_addr, "udp").map_err(|e| EdgeError::Sdp(format!("media address {media_addr}: {e}")))?;
    rtc.add_local_candidate(c);
    Ok(rtc)
}

/// The mid of the first audio media of a description.
fn audio_mid(sdp: &str) -> Option<Mid> {
    let audio = sdp.split("\nm=").skip(1).find(|m| m.starts_with("audio "))?;
    audio.lines().find_map(|l| l.trim_end().strip_prefix("a=mid:")).map(Mid::from)
}

impl Edge {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        let mut ice_buf = vec![0u8; 2048];
        let mut plain_buf = vec![0u8; 2048];
        let (ice, plain) = (self.ice.clone(), self.plain.clone());
        let timer = tokio::time::sleep_until(tokio::time::Instant::from_std(self.earliest));
        tokio::pin!(timer);
        loop {
            let next = if self.legs.is_empty() { Instant::now() + Duration::from_secs(1) } else { self.earliest };
            if timer.deadline().into_std() != next {
                timer.as_mut().reset(tokio::time::Instant::from_std(next));
            }
            // What a browser sends (SDP, DTLS, STUN) is parsed by str0m: a panic there must
            // cost that input, not every browser's media.
            let contained = |what: &str, r: std::thread::Result<()>| {
                if r.is_err() {
                    tracing::error!(what, "the WebRTC edge panicked on one input: dropped it");
                }
            };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(c) => contained("command", std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.command(c)))),
                    None => return,
                },
                r = ice.recv_from(&mut ice_buf) => if let Ok((n, from)) = r {
                    let bytes = &ice_buf[..n];
                    contained("browser packet", std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.browser_packet(bytes, from))));
                },
                r = plain.recv_from(&mut plain_buf) => if let Ok((n, from)) = r {
                    let bytes = &plain_buf[..n];
                    contained("engine packet", std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.engine_packet(bytes, from))));
                },
                _ = &mut timer => contained("timer", std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.tick()))),
            }
        }
    }

    fn command(&mut self, c: Cmd) {
        match c {
            Cmd::BrowserOffer { key, sdp, reply } => {
                let _ = reply.send(self.browser_offer(key, &sdp));
            }
            Cmd::BrowserAnswer { key, sdp, reply } => {
                let _ = reply.send(self.browser_answer(&key, &sdp));
            }
            Cmd::EngineOffer { key, sdp, reply } => {
                let _ = reply.send(self.engine_offer(key, &sdp));
            }
            Cmd::EngineAnswer { key, sdp, reply } => {
                let _ = reply.send(self.engine_answer(&key, &sdp));
            }
            Cmd::Close { key } => {
                if let Some(id) = self.ids.get(&key).copied() {
                    self.remove(id);
                }
            }
            Cmd::CloseConn { conn } => {
                let ids: Vec<u64> = self.ids.iter().filter(|(k, _)| k.0 == conn).map(|(_, id)| *id).collect();
                for id in ids {
                    self.remove(id);
                }
            }
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(mut leg) = self.legs.remove(&id) {
            leg.rtc.disconnect();
            self.ids.remove(&leg.key);
            self.by_browser.retain(|_, l| *l != id);
            self.by_engine.retain(|_, l| *l != id);
        }
    }

    /// The dialog's leg, made on first use.
    fn leg_id(&mut self, key: &LegKey, now: Instant) -> Result<u64, EdgeError> {
        if let Some(id) = self.ids.get(key) {
            return Ok(*id);
        }
        if self.legs.len() >= self.max_legs || self.ids.keys().filter(|k| k.0 == key.0).count() >= LEGS_PER_CONN {
            return Err(EdgeError::Busy);
        }
        let rtc = new_rtc(self.media_addr, now)?;
        let leg = Leg {
            key: key.clone(),
            rtc,
            mid: None,
            pending: None,
            answer: None,
            engine: None,
            engine_pts: plain::Pts::default(),
            ssrc: rand::random(),
            seq: rand::random(),
            last_media: now,
            timeout: now,
        };
        self.next_id += 1;
        let id = self.next_id;
        self.ids.insert(key.clone(), id);
        self.legs.insert(id, leg);
        Ok(id)
    }

    fn known(&self, key: &LegKey) -> Result<u64, EdgeError> {
        self.ids.get(key).copied().ok_or(EdgeError::NoLeg)
    }

    fn browser_offer(&mut self, key: LegKey, sdp: &str) -> Result<String, EdgeError> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| EdgeError::Sdp(e.to_string()))?;
        if !plain::offers_g711(sdp) {
            return Err(EdgeError::Sdp(NO_G711.into()));
        }
        let plain_addr = self.plain_addr;
        let id = self.leg_id(&key, Instant::now())?;
        let leg = self.legs.get_mut(&id).ok_or(EdgeError::NoLeg)?;
        let answer = leg.rtc.sdp_api().accept_offer(offer).map_err(|e| EdgeError::Sdp(e.to_string()))?.to_sdp_string();
        // str0m tells the new media's mid only once media flows; an offer of the engine to
        // this browser before then (a hold) must name the same media, not add another.
        if leg.mid.is_none() {
            leg.mid = audio_mid(&answer);
        }
        leg.answer = Some(answer);
        let dir = plain::browser_direction(sdp);
        let out = plain::describe(plain_addr, &leg.engine_pts, dir, plain::prefers_ulaw(sdp));
        self.drain(id);
        Ok(out)
    }

    fn engine_answer(&mut self, key: &LegKey, sdp: &str) -> Result<String, EdgeError> {
        let id = self.known(key)?;
        self.engine_side(id, sdp)?;
        let leg = self.legs.get_mut(&id).ok_or(EdgeError::NoLeg)?;
        leg.answer.clone().ok_or(EdgeError::NoLeg)
    }

    fn engine_offer(&mut self, key: LegKey, sdp: &str) -> Result<EngineOffer, EdgeError> {
        let id = self.leg_id(&key, Instant::now())?;
        let dir = self.engine_side(id, sdp)?;
        let plain_addr = self.plain_addr;
        let leg = self.legs.get_mut(&id).ok_or(EdgeError::NoLeg)?;
        let mut api = leg.rtc.sdp_api();
        match leg.mid {
            Some(mid) => api.set_direction(mid, dir),
            None => {
                leg.mid = Some(api.add_media(MediaKind::Audio, dir, None, None, None));
            }
        }
        match api.apply() {
            Some((offer, pending)) => {
                leg.pending = Some(pending);
                Ok(EngineOffer::Browser(offer.to_sdp_string()))
            }
            None => {
                let answer = match dir {
                    Direction::SendOnly => Direction::RecvOnly,
                    Direction::RecvOnly => Direction::SendOnly,
                    d => d,
                };
                Ok(EngineOffer::Unchanged(plain::describe(plain_addr, &leg.engine_pts, answer, plain::prefers_ulaw(sdp))))
            }
        }
    }

    fn browser_answer(&mut self, key: &LegKey, sdp: &str) -> Result<String, EdgeError> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| EdgeError::Sdp(e.to_string()))?;
        if !plain::offers_g711(sdp) {
            return Err(EdgeError::Sdp(NO_G711.into()));
        }
        let plain_addr = self.plain_addr;
        let id = self.known(key)?;
        let leg = self.legs.get_mut(&id).ok_or(EdgeError::NoLeg)?;
        let pending = leg.pending.take().ok_or(EdgeError::NoLeg)?;
        leg.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| EdgeError::Sdp(e.to_string()))?;
        let out = plain::describe(plain_addr, &leg.engine_pts, plain::browser_direction(sdp), plain::prefers_ulaw(sdp));
        self.drain(id);
        Ok(out)
    }

    /// Notes where the engine takes the leg's audio and its payload types.
    fn engine_side(&mut self, id: u64, sdp: &str) -> Result<Direction, EdgeError> {
        let (addr, pts, dir) = plain::parse(sdp).map_err(EdgeError::Sdp)?;
        let leg = self.legs.get_mut(&id).ok_or(EdgeError::NoLeg)?;
        tracing::debug!(conn = leg.key.0, call_id = %leg.key.1, engine = %addr, "browser leg: the engine's media address");
        leg.engine = Some(addr);
        leg.engine_pts = pts;
        self.by_engine.insert(addr, id);
        Ok(dir)
    }

    fn browser_packet(&mut self, bytes: &[u8], from: SocketAddr) {
        let now = Instant::now();
        let Ok(contents) = bytes.try_into() else { return };
        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source: from, destination: self.media_addr, contents });
        let id = match self.by_browser.get(&from) {
            Some(id) => *id,
            None => match self.legs.iter().find(|(_, l)| l.rtc.accepts(&input)) {
                Some((id, _)) => {
                    let id = *id;
                    self.by_browser.insert(from, id);
                    id
                }
                None => return,
            },
        };
        let Some(leg) = self.legs.get_mut(&id) else { return };
        if leg.rtc.handle_input(input).is_err() {
            return self.remove(id);
        }
        self.drain(id);
    }

    fn engine_packet(&mut self, bytes: &[u8], from: SocketAddr) {
        let Some(id) = self.by_engine.get(&from).copied() else {
            tracing::debug!(%from, "RTP for the browsers from an unknown address");
            return;
        };
        if let Err(why) = self.relay_to_browser(id, bytes) {
            tracing::debug!(leg = id, why, "engine media not relayed to the browser");
            return;
        }
        self.drain(id);
    }

    fn relay_to_browser(&mut self, id: u64, bytes: &[u8]) -> Result<(), &'static str> {
        let p = plain::Rtp::parse(bytes).ok_or("not RTP")?;
        let leg = self.legs.get_mut(&id).ok_or("no leg")?;
        let mid = leg.mid.ok_or("no media line yet")?;
        let codec = leg.engine_pts.codec_of(p.pt).ok_or("unknown payload type")?;
        if codec == Codec::Tele {
            // The engine plays no key tones to phones; nothing to relay.
            return Ok(());
        }
        let now = Instant::now();
        let writer = leg.rtc.writer(mid).ok_or("not sending")?;
        let pt = writer.payload_params().find(|pp| pp.spec().codec == codec).map(|pp| pp.pt()).ok_or("codec not negotiated")?;
        let time = MediaTime::new(u64::from(p.timestamp), str0m::media::Frequency::EIGHT_KHZ);
        writer.write(pt, now, time, p.payload.to_vec()).map_err(|_| "write refused")
    }

    fn tick(&mut self) {
        let now = Instant::now();
        let due: Vec<u64> = self.legs.iter().filter(|(_, l)| l.timeout <= now).map(|(id, _)| *id).collect();
        for id in due {
            let Some(leg) = self.legs.get_mut(&id) else { continue };
            if now.duration_since(leg.last_media) > IDLE || leg.rtc.handle_input(Input::Timeout(now)).is_err() {
                self.remove(id);
                continue;
            }
            self.drain(id);
        }
        self.earliest = self.legs.values().map(|l| l.timeout).min().unwrap_or(now + Duration::from_secs(1));
    }

    /// Runs a leg's `Rtc` until it waits: packets out, media on to the engine.
    fn drain(&mut self, id: u64) {
        let Some(leg) = self.legs.get_mut(&id) else { return };
        let mut gone = false;
        loop {
            match leg.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    leg.timeout = t;
                    self.earliest = self.earliest.min(t);
                    break;
                }
                Ok(Output::Transmit(t)) => {
                    let _ = self.ice.try_send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(e)) => match e {
                    Event::IceConnectionStateChange(s) if s != IceConnectionState::Disconnected => {
                        tracing::debug!(call_id = %leg.key.1, state = ?s, "browser leg ICE")
                    }
                    Event::Connected => tracing::debug!(call_id = %leg.key.1, "browser leg: DTLS-SRTP up"),
                    Event::MediaAdded(m) if m.kind == MediaKind::Audio => leg.mid = Some(m.mid),
                    Event::MediaData(d) => {
                        leg.last_media = Instant::now();
                        let Some(engine) = leg.engine else {
                            tracing::debug!(call_id = %leg.key.1, "browser media before the engine's address");
                            continue;
                        };
                        let codec = d.params.spec().codec;
                        // The browser may send the other G.711 law than the engine took:
                        // A-law and µ-law convert sample by sample.
                        let (pt, data) = match (leg.engine_pts.pt_of(codec), codec) {
                            (Some(pt), _) => (pt, std::borrow::Cow::Borrowed(&d.data[..])),
                            (None, Codec::PCMU) if leg.engine_pts.pcma.is_some() => {
                                let mut b = d.data.to_vec();
                                pbx_media::g711::transcode(&mut b, pbx_media::Law::Ulaw, pbx_media::Law::Alaw);
                                (leg.engine_pts.pcma.unwrap_or(8), std::borrow::Cow::Owned(b))
                            }
                            (None, Codec::PCMA) if leg.engine_pts.pcmu.is_some() => {
                                let mut b = d.data.to_vec();
                                pbx_media::g711::transcode(&mut b, pbx_media::Law::Alaw, pbx_media::Law::Ulaw);
                                (leg.engine_pts.pcmu.unwrap_or(0), std::borrow::Cow::Owned(b))
                            }
                            _ => continue,
                        };
                        let ts = d.time.rebase(str0m::media::Frequency::EIGHT_KHZ).numer() as u32;
                        leg.seq = leg.seq.wrapping_add(1);
                        let pkt = plain::Rtp::build(pt, leg.seq, ts, leg.ssrc, &data);
                        let _ = self.plain.try_send_to(&pkt, engine);
                    }
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                        gone = true;
                        break;
                    }
                    _ => {}
                },
                Err(_) => {
                    gone = true;
                    break;
                }
            }
        }
        if gone {
            self.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice_servers_are_checked_before_browsers_get_them() {
        let ok = parse_ice_servers(
            r#"[{"urls":"stun:stun.example.org:3478"},{"urls":["turn:t.example.org:3478","turns:t.example.org:5349"],"username":"u","credential":"p"}]"#,
        );
        assert_eq!(ok.map(|v| v.len()), Ok(2));
        for (bad, why) in [
            (r#"{"urls":"stun:x"}"#, "not a JSON list"),
            (r#"[{"urls":"http://x"}]"#, "is not a stun:"),
            (r#"[{"urls":"turn:t.example.org"}]"#, "needs \"username\""),
            (r#"[{"urls":[]}]"#, "needs \"urls\""),
            (r#"[{"urls":"stun:x","extra":1}]"#, "not a JSON list"),
        ] {
            let e = parse_ice_servers(bad).err().unwrap_or_default();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    /// A browser's offer as str0m makes one, with only Opus or only A-law.
    fn browser(opus: bool, at: SocketAddr) -> (Rtc, Mid, String, SdpPendingOffer) {
        let b = Rtc::builder().clear_codecs();
        let b = if opus { b.enable_opus(true, false) } else { b.enable_pcma(true, false) };
        let mut rtc = b.build(Instant::now());
        let c = Candidate::host(at, "udp").unwrap();
        rtc.add_local_candidate(c);
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        (rtc, mid, offer.to_sdp_string(), pending)
    }

    fn local() -> IpAddr {
        IpAddr::from([127, 0, 0, 1])
    }

    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn offers_are_checked_and_legs_capped_per_connection_and_shard() {
        let edge = WebRtcEdge::start(local(), 0, local(), 2).await.unwrap();
        assert_eq!(edge.media_addrs.len(), 2);
        assert_ne!(edge.media_addrs[0], edge.media_addrs[1], "a socket per shard");
        let at = SocketAddr::new(local(), 9);
        let refused = edge.browser_offer((1, "opus".into()), browser(true, at).2).await;
        assert!(matches!(&refused, Err(EdgeError::Sdp(m)) if m.contains("neither PCMU nor PCMA")), "{refused:?}");
        let plain = edge.browser_offer((2, "g711".into()), browser(false, at).2).await.unwrap();
        assert!(plain.contains("RTP/AVP") && plain.contains("PCMA/8000") && !plain.contains("DTLS"), "{plain}");
        for i in 0..LEGS_PER_CONN {
            edge.browser_offer((3, format!("c{i}")), browser(false, at).2).await.unwrap();
        }
        let over = edge.browser_offer((3, "one too many".into()), browser(false, at).2).await;
        assert!(matches!(over, Err(EdgeError::Busy)), "{over:?}");
        edge.close_conn(3);
        edge.browser_offer((3, "after the close".into()), browser(false, at).2).await.unwrap();
    }

    /// A str0m peer as the browser and a UDP socket as the media plane, over loopback: ICE,
    /// DTLS-SRTP, then A-law both ways through the edge, untouched.
    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn a_browsers_audio_crosses_the_edge_both_ways() {
        let edge = WebRtcEdge::start(local(), 0, local(), 1).await.unwrap();
        let sock = UdpSocket::bind(SocketAddr::new(local(), 0)).await.unwrap();
        let me = sock.local_addr().unwrap();
        let engine = UdpSocket::bind(SocketAddr::new(local(), 0)).await.unwrap();
        let engine_addr = engine.local_addr().unwrap();
        let (mut rtc, mid, offer, pending) = browser(false, me);
        let key: LegKey = (7, "call".into());
        let plain_offer = edge.browser_offer(key.clone(), offer).await.unwrap();
        let (edge_plain, pts, _) = plain::parse(&plain_offer).unwrap();
        assert_eq!(pts.pcma, Some(8));
        let engine_sdp = plain::describe(engine_addr, &plain::Pts::default(), Direction::SendRecv, false);
        let answer = edge.engine_answer(key, engine_sdp).await.unwrap();
        rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap()).unwrap();

        let voice: Vec<u8> = (0..160u8).map(|i| i ^ 0x55).collect();
        let (mut buf, mut ebuf) = (vec![0u8; 2048], vec![0u8; 2048]);
        let (mut connected, mut sent, mut heard_at_engine, mut heard_in_browser) = (false, 0u64, 0, 0);
        let mut seq = 0u16;
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end && (heard_at_engine < 5 || heard_in_browser < 5) {
            let wait = loop {
                match rtc.poll_output().unwrap() {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        sock.send_to(&t.contents, t.destination).await.unwrap();
                    }
                    Output::Event(Event::Connected) => connected = true,
                    Output::Event(Event::MediaData(d)) => {
                        assert_eq!(d.params.spec().codec, Codec::PCMA);
                        assert_eq!(&d.data[..], &voice[..], "the media plane's audio reaches the browser untouched");
                        heard_in_browser += 1;
                    }
                    Output::Event(_) => {}
                }
            };
            let tick = Instant::now() + Duration::from_millis(20);
            tokio::select! {
                r = sock.recv_from(&mut buf) => {
                    let (n, from) = r.unwrap();
                    let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source: from, destination: me, contents: buf[..n].try_into().unwrap() });
                    rtc.handle_input(input).unwrap();
                }
                r = engine.recv_from(&mut ebuf) => {
                    let (n, from) = r.unwrap();
                    assert_eq!(from, edge_plain, "the edge sends from the address it described");
                    let p = plain::Rtp::parse(&ebuf[..n]).unwrap();
                    assert_eq!(p.pt, 8);
                    assert_eq!(p.payload, &voice[..], "the browser's audio reaches the media plane untouched");
                    heard_at_engine += 1;
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wait.min(tick))) => {
                    let now = Instant::now();
                    if connected && now >= tick - Duration::from_millis(1) {
                        let w = rtc.writer(mid).unwrap();
                        let pt = w.payload_params().next().unwrap().pt();
                        let _ = w.write(pt, now, MediaTime::new(sent * 160, str0m::media::Frequency::EIGHT_KHZ), voice.clone());
                        sent += 1;
                        seq = seq.wrapping_add(1);
                        let pkt = plain::Rtp::build(8, seq, u32::from(seq) * 160, 0x1234, &voice);
                        engine.send_to(&pkt, edge_plain).await.unwrap();
                    }
                    rtc.handle_input(Input::Timeout(now)).unwrap();
                }
            }
        }
        assert!(connected, "ICE and DTLS-SRTP came up");
        assert!(heard_at_engine >= 5 && heard_in_browser >= 5, "to the media plane {heard_at_engine}, to the browser {heard_in_browser}");
    }

    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn an_engine_offer_that_changes_nothing_is_answered_by_the_edge() {
        let edge = WebRtcEdge::start(local(), 0, local(), 1).await.unwrap();
        let key: LegKey = (1, "refresh".into());
        edge.browser_offer(key.clone(), browser(false, SocketAddr::new(local(), 9)).2).await.unwrap();
        let engine = SocketAddr::new(local(), 40000);
        let same = plain::describe(engine, &plain::Pts::default(), Direction::SendRecv, false);
        edge.engine_answer(key.clone(), same.clone()).await.unwrap();
        // A session refresh: the same description again. The browser is not asked.
        match edge.engine_offer(key.clone(), same).await.unwrap() {
            EngineOffer::Unchanged(plain) => assert!(plain.contains("a=sendrecv") && plain.contains("RTP/AVP"), "{plain}"),
            other => panic!("{other:?}"),
        }
        // Music on hold: the browser is asked to only receive.
        let hold = plain::describe(engine, &plain::Pts::default(), Direction::SendOnly, false);
        match edge.engine_offer(key.clone(), hold).await.unwrap() {
            EngineOffer::Browser(offer) => assert!(offer.contains("a=sendonly") && offer.contains("UDP/TLS/RTP/SAVPF"), "{offer}"),
            other => panic!("{other:?}"),
        }
        // The SIP side: the refresh becomes a 200 for the engine, never reaching the browser.
        let sdp = plain::describe(engine, &plain::Pts::default(), Direction::SendRecv, false);
        let edge2 = WebRtcEdge::start(local(), 0, local(), 1).await.unwrap();
        edge2.browser_offer((5, "c1".into()), browser(false, SocketAddr::new(local(), 9)).2).await.unwrap();
        edge2.engine_answer((5, "c1".into()), sdp.clone()).await.unwrap();
        let reinvite = format!(
            "INVITE sip:b@203.0.113.9;transport=ws SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bKr1\r\nFrom: <sip:101@acme>;tag=a\r\n\
             To: <sip:103@acme>;tag=b\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        match sip::to_browser(&edge2, 5, reinvite.into_bytes()).await {
            sip::Outgoing::Engine(b) => {
                let text = String::from_utf8(b).unwrap();
                assert!(text.starts_with("SIP/2.0 200 OK") && text.contains("CSeq: 7 INVITE") && text.contains("m=audio"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
}
