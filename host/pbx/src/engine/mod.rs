//! The call engine: a sans-IO state machine that owns transactions, registrations and calls.
//!
//! The IO edge (`serve`) feeds it parsed SIP messages, store acknowledgements, directory
//! snapshots and media events, each with the current time, and carries out the actions it
//! queues: bytes to send, media commands, call-log rows to write, bindings to persist.
//! Nothing inside binds a socket, takes a lock or reads a clock: time comes with every input,
//! randomness from [`rng`] (seeded by the harness in tests), and [`sim`] runs the engine
//! with simulated phones and carriers in virtual time.

pub mod auth;
mod b2bua;
mod billing;
mod blf;
mod call;
mod click_to_call;
mod consult;
mod contain;
pub mod dialog;
mod dialplan;
pub mod directory;
mod in_dialog;
pub mod limits;
mod media_ops;
mod media_plane;
mod pickup;
mod presence;
pub use click_to_call::OriginateRequest;
pub use originate::OriginateError;
mod notify;
mod originate;
mod queue;
mod registrar;
pub mod rng;
mod routing;
mod scenario_ops;
pub mod sim;
pub mod timers;
mod transfer;
mod trunks;

use crate::metrics::Metrics;
use auth::{AuthConfig, Authenticator};
use call::{Call, CallKey, TxOwner};
use directory::Directory;
use pbx_media::{MediaCommand, MediaEvent, SessionId};
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Message, Request, Response, SipMessage};
use pbx_sip::method::Method;
use pbx_sip::parse::Rejection;
use pbx_sip::transaction::{self, Incoming, ResponseMatch, Target, Timers, TransactionLayer, Transport, TxId};
use pbx_sip::validate::{Policy, validate_request, validate_response};
use pbx_store::{CallOp, RegistrationRow};
use registrar::Location;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use timers::TimerQueue;

/// The current time as the engine sees it: monotonic for timers, wall clock for records.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time.
    pub mono: Instant,
    /// Milliseconds since the Unix epoch.
    pub wall_ms: i64,
}

impl Now {
    /// The real current time.
    pub fn real() -> Now {
        Now { mono: Instant::now(), wall_ms: pbx_store::now_ms() }
    }

    fn unix_secs(&self) -> u64 {
        (self.wall_ms / 1000).max(0) as u64
    }
}

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This node's name in the call log and bindings.
    pub node: String,
    /// Address written into Via, Contact and SDP.
    pub public_ip: IpAddr,
    /// Our UDP port.
    pub udp_port: u16,
    /// Our TCP port, if listening.
    pub tcp_port: Option<u16>,
    /// Our TLS port, if listening.
    pub tls_port: Option<u16>,
    /// The HTTP port that carries SIP over WebSocket (browsers), if serving it.
    pub ws_port: Option<u16>,
    /// How long a callee rings before the caller gets 480.
    pub ring_timeout: Duration,
    /// Shortest registration accepted (423 below).
    pub min_expires: u32,
    /// Longest registration granted.
    pub max_expires: u32,
    /// Session-Expires we ask for (RFC 4028), seconds.
    pub session_expires: u32,
    /// Transaction timers.
    pub timers: Timers,
    /// Authentication and brute-force settings.
    pub auth: AuthConfig,
    /// Server / User-Agent header.
    pub user_agent: String,
    /// Where recordings are written (none: recording off).
    pub data_dir: Option<std::path::PathBuf>,
    /// How long the engine waits for a plugin decision before taking the error route (the
    /// runtime's own deadline is shorter; this covers a stuck worker).
    pub plugin_watchdog: Duration,
    /// RTP ports the engine hands out (first, last).
    pub rtp_ports: (u16, u16),
    /// Calls per user, tenant and trunk, and the media kept back for small tenants.
    pub limits: limits::CallLimits,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            node: "local".into(),
            public_ip: IpAddr::from([127, 0, 0, 1]),
            udp_port: 5060,
            tcp_port: None,
            tls_port: None,
            ws_port: None,
            ring_timeout: Duration::from_secs(60),
            min_expires: 60,
            max_expires: 3600,
            session_expires: 1800,
            timers: Timers::default(),
            auth: AuthConfig::default(),
            // No version: a banner would tell an attacker which weaknesses to try.
            user_agent: "pbx".into(),
            data_dir: None,
            plugin_watchdog: Duration::from_secs(2),
            rtp_ports: (20000, 29999),
            limits: limits::CallLimits::default(),
        }
    }
}

/// Something fed to the engine.
#[derive(Debug)]
pub enum Input {
    /// A parsed SIP message and where it came from.
    Sip {
        /// The message.
        msg: Message,
        /// Its source.
        source: Target,
    },
    /// A request the parser refused; the engine answers it.
    Rejected {
        /// What to answer.
        rejection: Box<Rejection>,
        /// Its source.
        source: Target,
    },
    /// The call-log start row of a call is durable.
    CdrCommitted(u64),
    /// A new directory snapshot, made from configuration version `version`.
    Directory {
        /// The snapshot.
        dir: Arc<Directory>,
        /// The stored configuration version it reflects (0: unknown).
        version: i64,
    },
    /// Stored bindings to restore at start.
    RestoreBindings(Vec<RegistrationRow>),
    /// A media event.
    Media(MediaEvent),
    /// A TCP/TLS/WebSocket connection closed.
    ConnectionClosed(u64),
    /// A WebSocket connection was opened by a cabinet session of this user: it is that
    /// user's phone (the cabinet's web phone), authenticated by the session.
    FlowUser {
        /// The connection.
        conn: u64,
        /// The signed-in user.
        user_id: i64,
    },
    /// A plugin decided (or failed) on what `Action::Plugin` asked.
    PluginDone {
        /// Call.
        key: u64,
        /// The request's token.
        token: u64,
        /// Its verbs, or why there are none.
        result: Result<Vec<pbx_plugin_host::Verb>, pbx_plugin_host::PluginError>,
        /// The plugin version that decided (the call keeps using it).
        version: Option<crate::plugins::Pinned>,
    },
    /// A liveness probe (`/healthz`): the engine answers `Action::Alive` with the same number.
    Heartbeat(u64),
    /// Place a click-to-call; the engine answers `Action::Originated` with the same token.
    Originate {
        /// What to call.
        req: Box<OriginateRequest>,
        /// Token to echo.
        token: u64,
    },
    /// A queue strategy decided on `Action::QueueDecide`.
    QueueDecided {
        /// Queue.
        group_id: u64,
        /// Token to match.
        token: u64,
        /// The caller it was asked about.
        waiter: u64,
        /// Its verbs.
        result: Result<Vec<pbx_plugin_host::Verb>, pbx_plugin_host::PluginError>,
    },
}

/// Something the IO edge must do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Change the media plane (bind a session's ports, bridge, play, record, release).
    Media(MediaCommand),
    /// Send bytes.
    Send {
        /// Where.
        target: Target,
        /// What.
        bytes: Vec<u8>,
    },
    /// Write to the call log; `ack` asks for `Input::CdrCommitted(ack)` once durable.
    Cdr {
        /// The change.
        op: CallOp,
        /// Call key to acknowledge.
        ack: Option<u64>,
    },
    /// Record a trunk's registration state.
    TrunkState {
        /// Trunk id.
        id: i64,
        /// `registering`, `registered`, `failed`.
        state: String,
        /// Details.
        detail: String,
    },
    /// A recording's interim WAV is complete: compress and store it.
    RecordingDone {
        /// Call id.
        call_id: String,
        /// The WAV.
        path: std::path::PathBuf,
        /// Length.
        duration_ms: u64,
        /// The `recording.ready` event to send once it is stored, if the tenant has subscribers.
        event: Option<RecordingEvent>,
    },
    /// Ask a plugin to decide (answer with `Input::PluginDone`).
    Plugin {
        /// Call.
        key: u64,
        /// Token to echo.
        token: u64,
        /// The decision asked for.
        call: Box<crate::plugins::PluginCall>,
    },
    /// Ask a queue's strategy plugin which agents get the first caller.
    QueueDecide {
        /// Queue.
        group_id: u64,
        /// Token to echo.
        token: u64,
        /// The caller.
        waiter: u64,
        /// The decision asked for.
        call: Box<crate::plugins::PluginCall>,
    },
    /// A queue's live state changed (JSON for the CLI and the cabinet).
    QueueStatus {
        /// Queue id.
        group_id: i64,
        /// The state.
        status: String,
        /// When, ms.
        at: i64,
    },
    /// A company's users and what each is doing changed (for the cabinet): (extension,
    /// `offline`, `idle`, `dnd`, `ringing` or `talking`).
    Presence {
        /// Tenant.
        tenant_id: i64,
        /// Every user of the company.
        users: Vec<(String, String)>,
        /// When, ms.
        at: i64,
    },
    /// A user turned "do not disturb" on or off from a phone.
    Dnd {
        /// Tenant.
        tenant_id: i64,
        /// The user's extension.
        ext: String,
        /// On or off.
        on: bool,
    },
    /// An agent paused, unpaused, logged in or out by a feature code: in every queue of theirs.
    AgentState {
        /// Tenant.
        tenant_id: i64,
        /// Agent extension.
        ext: String,
        /// Pause.
        paused: Option<bool>,
        /// Log in.
        logged_in: Option<bool>,
    },
    /// The engine handled `Input::Heartbeat` with this number.
    Alive(u64),
    /// The outcome of `Input::Originate`: the new call's id, or why there is none.
    Originated {
        /// The request's token.
        token: u64,
        /// Call id or refusal.
        result: Result<String, OriginateError>,
    },
    /// A TCP/TLS connection carries a registration until `until_ms` (0: none any more), so
    /// the transport keeps it open that long.
    ConnectionBound {
        /// Connection id.
        conn: u64,
        /// The user whose registration it carries (one connection may carry several).
        user: i64,
        /// Expiry, ms.
        until_ms: i64,
    },
    /// Persist bindings.
    Bindings {
        /// Inserted or refreshed.
        upserts: Vec<RegistrationRow>,
        /// Removed: (user id, contact).
        removals: Vec<(i64, String)>,
    },
}

/// Where a recording's `recording.ready` event goes: the tenant and the sequence number the
/// call reserved for it as it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingEvent {
    /// Tenant.
    pub tenant_id: i64,
    /// Sequence number within the call.
    pub seq: i64,
}

/// Engine timers.
#[derive(Debug, Clone)]
enum EngineTimer {
    /// A callee rang too long.
    RingTimeout(CallKey),
    /// A company's priced calls have spent its balance (tenant id).
    BalanceOut(i64),
    /// A session timer ran out.
    SessionExpired(CallKey),
    /// Expired bindings sweep.
    BindingSweep,
    /// A delayed (tarpit) response.
    Delayed(Box<(Option<TxId>, Target, Response)>),
    /// Refresh or retry a trunk registration.
    TrunkRefresh(i64),
    /// A plugin decision took too long (token).
    PluginWatchdog(CallKey, u64),
    /// A gather's first-digit or inter-digit time ran out.
    GatherTimeout(CallKey),
    /// A dial step's own time ran out (call, step).
    StepTimeout(CallKey, u64),
    /// Time to tell a waiting caller their position.
    QueueAnnounce(CallKey),
    /// A caller waited the queue's maximum.
    QueueMaxWait(CallKey),
    /// Look at the queues (free agents, status).
    QueueTick,
    /// A queue strategy took too long (queue, token, waiter).
    QueueDecideTimeout(u64, u64, u64),
    /// An agent did not answer a callback.
    OriginateTimeout(CallKey),
    /// A transfer target rang too long.
    TransferTimeout(CallKey),
    /// The target of an attended transfer by keys rang too long.
    ConsultTimeout(CallKey),
    /// A caller still unanswered gets its provisional response again (RFC 3261 §13.3.1.1).
    ProvisionalRefresh(CallKey),
    /// Look at the busy lamps.
    BlfTick,
    /// Look at who is on the phone.
    PresenceTick,
}

/// The longest anything rings (the INVITE server transaction is kept a little longer, see
/// `pbx_sip::transaction::INVITE_GUARD`).
pub const MAX_RING: Duration = Duration::from_secs(600);

/// How often an unanswered caller's provisional response is sent again.
const PROVISIONAL_REFRESH: Duration = Duration::from_secs(60);

/// The call engine.
pub struct Engine {
    cfg: EngineConfig,
    policy: Policy,
    txl: TransactionLayer,
    dir: Arc<Directory>,
    auth: Authenticator,
    /// WebSocket connections opened by a signed-in cabinet session: the user they speak for
    /// (their REGISTER and INVITE need no digest).
    flow_users: HashMap<u64, i64>,
    location: Location,
    calls: HashMap<CallKey, Call>,
    a_dialogs: HashMap<(String, String), CallKey>,
    b_dialogs: HashMap<String, (CallKey, usize)>,
    /// Call-IDs of consultation legs (attended transfer by keys) and their calls.
    consult_dialogs: HashMap<String, CallKey>,
    invite_tx: HashMap<TxId, CallKey>,
    client_tx: HashMap<TxId, TxOwner>,
    media_calls: HashMap<SessionId, CallKey>,
    trunk_regs: HashMap<i64, trunks::TrunkReg>,
    recording_sessions: HashMap<SessionId, (String, Option<RecordingEvent>)>,
    /// Calls placed on request lately, by (tenant, request key): a repeat places none.
    originated: HashMap<(i64, String), (String, std::time::Instant)>,
    timers: TimerQueue<EngineTimer>,
    actions: VecDeque<Action>,
    media: media_plane::MediaPlane,
    metrics: Arc<Metrics>,
    plugins: Option<Arc<crate::plugins::PluginRuntime>>,
    round_robin: HashMap<i64, i64>,
    queues: HashMap<u64, queue::QueueRt>,
    queue_tick_scheduled: bool,
    next_call: CallKey,
    sweep_scheduled: bool,
    /// The call a handler last worked on (set by `call_span`): where a panic is contained.
    touched: std::cell::Cell<Option<CallKey>>,
    /// This server's SIP address (credentials may name it).
    server_addr: auth::ServerAddr,
    /// Live calls per user, tenant and trunk.
    counts: limits::CallCounts,
    /// Priced calls and what they have spent.
    billing: billing::Billing,
    /// Busy-lamp subscriptions by (Call-ID, our tag).
    subs: HashMap<(String, String), blf::Subscription>,
    /// SUBSCRIBEs per user in the current window (a flood is refused).
    sub_rate: HashMap<i64, (std::time::Instant, u32)>,
    blf_tick_scheduled: bool,
    /// What was last published of each company's presence.
    presence: HashMap<i64, Vec<(String, String)>>,
}

impl Engine {
    /// A new engine.
    pub fn new(cfg: EngineConfig, dir: Arc<Directory>, metrics: Arc<Metrics>) -> Engine {
        Engine {
            media: media_plane::MediaPlane::new(cfg.rtp_ports.0, cfg.rtp_ports.1),
            server_addr: auth::ServerAddr {
                ip: cfg.public_ip,
                ports: [Some(cfg.udp_port), cfg.tcp_port, cfg.tls_port].into_iter().flatten().collect(),
            },
            txl: TransactionLayer::new(cfg.timers),
            auth: Authenticator::new(cfg.auth.clone()),
            policy: Policy::default(),
            cfg,
            dir,
            flow_users: HashMap::new(),
            location: Location::default(),
            calls: HashMap::new(),
            a_dialogs: HashMap::new(),
            b_dialogs: HashMap::new(),
            consult_dialogs: HashMap::new(),
            invite_tx: HashMap::new(),
            client_tx: HashMap::new(),
            media_calls: HashMap::new(),
            trunk_regs: HashMap::new(),
            recording_sessions: HashMap::new(),
            originated: HashMap::new(),
            timers: TimerQueue::default(),
            actions: VecDeque::new(),
            metrics,
            plugins: None,
            round_robin: HashMap::new(),
            queues: HashMap::new(),
            queue_tick_scheduled: false,
            next_call: 1,
            sweep_scheduled: false,
            touched: std::cell::Cell::new(None),
            counts: limits::CallCounts::default(),
            billing: billing::Billing::default(),
            subs: HashMap::new(),
            sub_rate: HashMap::new(),
            blf_tick_scheduled: false,
            presence: HashMap::new(),
        }
    }

    /// Gives the engine the plugin runtime (to know which plugins may see the directory).
    pub fn with_plugins(mut self, plugins: Arc<crate::plugins::PluginRuntime>) -> Engine {
        self.plugins = Some(plugins);
        self
    }

    /// The next action, if any. Media commands come first, so that a session's ports are
    /// bound before the SDP that names them goes out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.media.poll().map(Action::Media).or_else(|| self.actions.pop_front())
    }

    /// Live media sessions and RTP ports still free (for tests and metrics).
    pub fn media_usage(&self) -> (usize, usize) {
        (self.media.sessions(), self.media.free_ports())
    }

    /// When [`Engine::handle_timeout`] must run next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        match (self.txl.poll_timeout(), self.timers.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Number of live calls.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Feeds one input. A panic while handling it ends only the call it concerned (see
    /// `contain`); the engine goes on.
    pub fn handle(&mut self, input: Input, now: Now) {
        let hint = match &input {
            Input::CdrCommitted(k) | Input::PluginDone { key: k, .. } => Some(*k),
            Input::Media(e) => self.media_calls.get(&e.session()).copied(),
            _ => None,
        };
        let reply = match &input {
            Input::Sip { msg: Message::Request(req), source } => contain::PanicReply::for_request(req, response_target(req, *source)),
            _ => None,
        };
        self.guarded(hint, reply, now, |e| e.handle_unguarded(input, now));
        self.guarded(None, None, now, |e| e.drain_transactions(now));
    }

    fn handle_unguarded(&mut self, input: Input, now: Now) {
        if !self.sweep_scheduled {
            self.sweep_scheduled = true;
            self.timers.schedule(now.mono + Duration::from_secs(10), EngineTimer::BindingSweep);
            self.timers.schedule(now.mono + presence::PRESENCE_TICK, EngineTimer::PresenceTick);
            self.reconcile_trunks(now);
        }
        match input {
            Input::Sip { msg: Message::Request(req), source } => {
                self.metrics.sip_in.fetch_add(1, Ordering::Relaxed);
                self.on_request(req, source, now);
            }
            Input::Sip { msg: Message::Response(resp), source: _ } => {
                self.metrics.sip_in.fetch_add(1, Ordering::Relaxed);
                self.on_response(resp, now);
            }
            Input::Rejected { rejection, source } => {
                self.metrics.sip_rejected.fetch_add(1, Ordering::Relaxed);
                self.answer_rejection(&rejection, source);
            }
            Input::CdrCommitted(key) => self.on_cdr_committed(key, now),
            Input::Directory { dir: d, version } => {
                let old = std::mem::replace(&mut self.dir, d);
                self.metrics.config_version.store(version, Ordering::Relaxed);
                self.prune_bindings_of_removed_users(&old, now);
                self.reconcile_trunks(now);
                self.billing_reload(now);
                self.start_queue_monitor(now);
            }
            Input::RestoreBindings(rows) => {
                self.restore_bindings(rows, now);
                self.start_queue_monitor(now);
            }
            Input::Media(MediaEvent::Dtmf { id, side, digit, source }) => {
                if let Some(&key) = self.media_calls.get(&id) {
                    self.on_dtmf(key, side, digit, source, now);
                }
            }
            Input::Media(MediaEvent::PlayDone { id, side, token }) => self.on_play_done(id, side, token, now),
            Input::Media(MediaEvent::RecordingDone { id, path, duration_ms, .. }) => self.on_recording_done(id, path, duration_ms),
            Input::Media(MediaEvent::SessionFailed { id }) => self.on_session_failed(id, now),
            Input::Media(MediaEvent::RtpTimeout { id, side }) => {
                if let Some(&key) = self.media_calls.get(&id) {
                    let _span = self.call_span(key).entered();
                    tracing::info!(?side, "no RTP: ending the call");
                    self.hangup(key, call::HangupBy::System, "RTP timeout", now);
                }
            }
            Input::ConnectionClosed(conn) => {
                self.flow_users.remove(&conn);
                self.drop_bindings_on_conn(conn, now)
            }
            Input::FlowUser { conn, user_id } => {
                self.flow_users.insert(conn, user_id);
            }
            Input::PluginDone { key, token, result, version } => self.on_plugin_done(key, token, result, version, now),
            Input::QueueDecided { group_id, token, waiter, result } => self.on_queue_decided(group_id, token, waiter, result, now),
            Input::Heartbeat(n) => self.actions.push_back(Action::Alive(n)),
            Input::Originate { req, token } => {
                let result = self.originate(*req, now);
                self.actions.push_back(Action::Originated { token, result });
            }
        }
    }

    /// Fires due timers, each contained on its own like an input.
    pub fn handle_timeout(&mut self, now: Now) {
        self.guarded(None, None, now, |e| e.txl.handle_timeout(now.mono));
        self.guarded(None, None, now, |e| e.drain_transactions(now));
        while let Some(t) = self.timers.pop_due(now.mono) {
            let hint = t.call();
            self.guarded(hint, None, now, |e| e.on_timer(t, now));
            self.guarded(None, None, now, |e| e.drain_transactions(now));
        }
    }

    fn on_timer(&mut self, t: EngineTimer, now: Now) {
        {
            match t {
                EngineTimer::RingTimeout(key) => self.on_ring_timeout(key, now),
                EngineTimer::BalanceOut(tenant) => self.on_balance_out(tenant, now),
                EngineTimer::SessionExpired(key) => {
                    let _span = self.call_span(key).entered();
                    tracing::info!("session timer expired");
                    self.hangup(key, call::HangupBy::System, "session timer expired", now);
                }
                EngineTimer::BindingSweep => {
                    self.sweep_bindings(now);
                    self.timers.schedule(now.mono + Duration::from_secs(10), EngineTimer::BindingSweep);
                }
                EngineTimer::TrunkRefresh(id) => self.on_trunk_refresh(id, now),
                EngineTimer::PluginWatchdog(key, token) => {
                    let err = pbx_plugin_host::PluginError::Deadline;
                    self.on_plugin_done(key, token, Err(err), None, now);
                }
                EngineTimer::GatherTimeout(key) => self.on_gather_timeout(key, now),
                EngineTimer::StepTimeout(key, seq) => self.on_step_timeout(key, seq, now),
                EngineTimer::QueueAnnounce(key) => self.on_queue_announce(key, now),
                EngineTimer::QueueMaxWait(key) => self.on_queue_max_wait(key, now),
                EngineTimer::QueueTick => self.on_queue_tick(true, now),
                EngineTimer::QueueDecideTimeout(gid, token, waiter) => {
                    self.on_queue_decided(gid, token, waiter, Err(pbx_plugin_host::PluginError::Deadline), now)
                }
                EngineTimer::OriginateTimeout(key) => self.on_originate_timeout(key, now),
                EngineTimer::TransferTimeout(key) => self.on_transfer_timeout(key, now),
                EngineTimer::ConsultTimeout(key) => self.on_consult_timeout(key, now),
                EngineTimer::BlfTick => self.on_blf_tick(now),
                EngineTimer::PresenceTick => self.on_presence_tick(now),
                EngineTimer::ProvisionalRefresh(key) => {
                    let tx = self.calls.get(&key).and_then(|c| c.a_tx);
                    if let Some(tx) = tx
                        && self.txl.refresh_provisional(tx)
                    {
                        self.timers.schedule(now.mono + PROVISIONAL_REFRESH, EngineTimer::ProvisionalRefresh(key));
                    }
                }
                EngineTimer::Delayed(b) => {
                    // Through its transaction when there is one, which then completes (and is
                    // forgotten after Timer H/J) instead of lingering for its guard time.
                    let (tx, target, resp) = *b;
                    match tx {
                        Some(id) => self.txl.send_response(id, &resp, now.mono),
                        None => self.actions.push_back(Action::Send { target, bytes: resp.to_bytes() }),
                    }
                }
            }
        }
    }

    fn drain_transactions(&mut self, now: Now) {
        while let Some(o) = self.txl.poll_output() {
            match o {
                transaction::Output::Transmit { target, bytes } => self.actions.push_back(Action::Send { target, bytes }),
                transaction::Output::Timeout { id } => {
                    let hint = self.client_tx.get(&id).and_then(TxOwner::call);
                    self.guarded(hint, None, now, |e| e.on_client_timeout(id, now));
                }
                transaction::Output::AckTimeout { id, call_id } => {
                    let key =
                        self.invite_tx.remove(&id).or_else(|| self.a_dialogs.iter().find(|((c, _), _)| *c == call_id).map(|(_, k)| *k));
                    if let Some(key) = key {
                        let _span = self.call_span(key).entered();
                        tracing::info!("2xx never acknowledged: ending the call");
                        self.hangup(key, call::HangupBy::System, "no ACK", now);
                    }
                }
            }
        }
    }

    // ----- helpers shared by the handlers -----

    fn port_for(&self, t: Transport) -> u16 {
        match t {
            Transport::Udp => self.cfg.udp_port,
            Transport::Tcp => self.cfg.tcp_port.unwrap_or(self.cfg.udp_port),
            Transport::Tls => self.cfg.tls_port.unwrap_or(self.cfg.udp_port),
            Transport::Ws | Transport::Wss => self.cfg.ws_port.unwrap_or(self.cfg.udp_port),
        }
    }

    fn host(&self) -> String {
        match self.cfg.public_ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        }
    }

    /// A new Via value for a request we send over `t`.
    fn new_via(&self, t: Transport) -> String {
        format!(
            "SIP/2.0/{} {}:{};branch={}{};rport",
            t.as_str(),
            self.host(),
            self.port_for(t),
            pbx_sip::via::MAGIC_COOKIE,
            random_token(16)
        )
    }

    /// Our Contact value for a leg over `t`.
    fn contact(&self, t: Transport) -> String {
        let scheme = if t == Transport::Tls { "sips" } else { "sip" };
        let param = match t {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
            Transport::Ws => ";transport=ws",
            Transport::Wss => ";transport=wss",
        };
        format!("<{scheme}:pbx@{}:{}{param}>", self.host(), self.port_for(t))
    }

    fn is_local(&self, uri: &pbx_sip::uri::SipUri) -> bool {
        let host = uri.host.trim_start_matches('[').trim_end_matches(']');
        let ip_match = host.parse::<IpAddr>().is_ok_and(|ip| ip == self.cfg.public_ip);
        let port = uri.port.unwrap_or(5060);
        ip_match && [Some(self.cfg.udp_port), self.cfg.tcp_port, self.cfg.tls_port, self.cfg.ws_port].contains(&Some(port))
    }

    /// The user a cabinet session's WebSocket speaks for, when the request comes on such a
    /// connection, in that user's domain, as that user (`party`: the To of a REGISTER, the
    /// From of an INVITE).
    fn flow_user(&self, source: Target, realm: &str, party: Option<&pbx_sip::NameAddr>) -> Option<Arc<directory::UserInfo>> {
        let user_id = *self.flow_users.get(&source.conn?)?;
        let user = self.dir.user_by_id(user_id)?;
        let tenant = self.dir.tenant(user.tenant_id)?;
        let named = party?.uri.as_sip().and_then(|u| u.user_unescaped())?;
        (tenant.domain.eq_ignore_ascii_case(realm) && named == user.ext).then(|| user.clone())
    }

    fn decorate(&self, resp: &mut Response) {
        resp.headers.push(HeaderName::Server, self.cfg.user_agent.clone());
    }

    /// Answers on a server transaction, or statelessly when there is none.
    fn respond(&mut self, tx: Option<TxId>, resp: Response, target: Target, now: Now) {
        let mut resp = resp;
        self.decorate(&mut resp);
        match tx {
            Some(id) => self.txl.send_response(id, &resp, now.mono),
            None => self.actions.push_back(Action::Send { target, bytes: resp.to_bytes() }),
        }
    }

    fn simple_response(&mut self, tx: Option<TxId>, req: &Request, status: u16, target: Target, now: Now) {
        let to_tag = random_token(10);
        let resp = req.response(status, Response::default_reason(status), Some(&to_tag));
        self.respond(tx, resp, target, now);
    }

    fn answer_rejection(&mut self, rej: &Rejection, source: Target) {
        if rej.method == "ACK" || rej.headers.count(&HeaderName::Via) == 0 {
            return;
        }
        let mut resp = rej.to_response(&random_token(10));
        self.decorate(&mut resp);
        let target = response_target_from_headers(&rej.headers, source);
        self.actions.push_back(Action::Send { target, bytes: resp.to_bytes() });
    }

    // ----- requests -----

    fn on_request(&mut self, mut req: Request, source: Target, now: Now) {
        stamp_top_via(&mut req, source.addr);
        if let Err(rej) = validate_request(&req, &self.policy) {
            self.metrics.sip_rejected.fetch_add(1, Ordering::Relaxed);
            self.answer_rejection(&rej, source);
            return;
        }
        let resp_target = response_target(&req, source);
        // REGISTER and OPTIONS are answered statelessly: they are idempotent (a retransmitted
        // REGISTER is processed again and gets the same answer), and at thousands per second
        // keeping Timer J's 32 seconds of transactions for them costs hundreds of megabytes.
        let stateless = matches!(req.method, Method::Register | Method::Options);
        let tx = if stateless {
            None
        } else {
            match self.txl.receive_request(&req, resp_target, now.mono) {
                Incoming::Absorbed => return,
                Incoming::New(tx) => tx,
            }
        };
        self.strip_own_routes(&mut req);
        match req.method {
            Method::Register => self.on_register(req, tx, source, resp_target, now),
            Method::Invite => {
                if req.parsed_to().and_then(|t| t.tag().map(str::to_string)).is_some() {
                    self.on_in_dialog(req, tx, source, resp_target, now);
                } else {
                    self.on_invite(req, tx, source, resp_target, now);
                }
            }
            Method::Subscribe => self.on_subscribe(req, tx, source, resp_target, now),
            Method::Ack => self.on_ack(req, source, now),
            Method::Cancel => self.on_cancel(req, tx, resp_target, now),
            Method::Options => {
                let mut resp = req.response(200, "OK", Some(&random_token(10)));
                resp.headers.push(HeaderName::Allow, self.policy.allow_header());
                resp.headers.push(HeaderName::Accept, "application/sdp");
                resp.headers.push(HeaderName::Supported, "timer, replaces");
                resp.headers.push(HeaderName::AllowEvents, "dialog");
                self.respond(tx, resp, resp_target, now);
            }
            _ => self.on_in_dialog(req, tx, source, resp_target, now),
        }
    }

    /// Loose routing (RFC 3261 §16.4): drop Route entries that name us; a strict router's
    /// Request-URI that names us is replaced by the last Route.
    fn strip_own_routes(&self, req: &mut Request) {
        if let Some(u) = req.uri.as_sip()
            && self.is_local(u)
            && u.user.is_none()
            && req.headers.count(&HeaderName::Route) > 0
        {
            let routes = req.headers.list(&HeaderName::Route);
            if let Some(last) = routes.last().and_then(|r| pbx_sip::NameAddr::parse(r).ok()) {
                req.uri = last.uri;
                let keep: Vec<String> = routes[..routes.len() - 1].to_vec();
                req.headers.remove(&HeaderName::Route);
                for r in keep {
                    req.headers.push(HeaderName::Route, r);
                }
            }
        }
        loop {
            let routes = req.headers.list(&HeaderName::Route);
            let Some(first) = routes.first() else { break };
            let ours = pbx_sip::NameAddr::parse(first).ok().and_then(|n| n.uri.as_sip().map(|u| self.is_local(u))).unwrap_or(false);
            if !ours {
                break;
            }
            req.headers.remove(&HeaderName::Route);
            for r in &routes[1..] {
                req.headers.push(HeaderName::Route, r.clone());
            }
        }
    }

    // ----- responses -----

    fn on_response(&mut self, resp: Response, now: Now) {
        if validate_response(&resp).is_err() {
            self.metrics.sip_rejected.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.txl.receive_response(&resp, now.mono) {
            ResponseMatch::Deliver(id) => {
                let final_resp = resp.status >= 200;
                let owner = if final_resp { self.client_tx.remove(&id) } else { self.client_tx.get(&id).cloned() };
                if let Some(owner) = owner {
                    self.on_client_response(owner, id, resp, now);
                }
            }
            ResponseMatch::Retransmitted2xx(_) | ResponseMatch::Absorbed | ResponseMatch::Stray => {}
        }
    }

    fn on_client_timeout(&mut self, id: TxId, now: Now) {
        if let Some(owner) = self.client_tx.remove(&id) {
            self.on_client_failure(owner, 408, "Request Timeout", now);
        }
    }
}

/// Random lowercase hex of `n` characters (tags, branches, Call-IDs).
pub fn random_token(n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(n);
    let mut bits: u64 = 0;
    for i in 0..n {
        if i % 16 == 0 {
            bits = rng::u64();
        }
        s.push(HEX[(bits & 15) as usize] as char);
        bits >>= 4;
    }
    s
}

/// A time-ordered unique id for a call: 12 hex digits of milliseconds, then 20 random.
pub fn new_call_uid(wall_ms: i64) -> String {
    format!("{:012x}{}", wall_ms.max(0) as u64 & 0xffff_ffff_ffff, random_token(20))
}

/// Adds `received`/`rport` to the top Via (RFC 3261 §18.2.1, RFC 3581).
fn stamp_top_via(req: &mut Request, src: SocketAddr) {
    let Some(pos) = req.headers.0.iter().position(|h| h.name == HeaderName::Via) else { return };
    let value = req.headers.0[pos].value.clone();
    let Some(parts) = pbx_sip::text::split_top_level(&value, b',') else { return };
    let Some(first) = parts.first() else { return };
    let Ok(mut via) = pbx_sip::Via::parse(first) else { return };
    via.stamp_source(src);
    let mut out = via.to_string();
    for p in &parts[1..] {
        out.push_str(", ");
        out.push_str(pbx_sip::text::trim_ws(p));
    }
    req.headers.0[pos].value = out;
}

/// Where responses to `req` go: the same connection for TCP/TLS; for UDP the top Via's
/// received/rport (RFC 3261 §18.2.2), falling back to the source.
fn response_target(req: &Request, source: Target) -> Target {
    response_target_from_headers(&req.headers, source)
}

fn response_target_from_headers(headers: &pbx_sip::Headers, source: Target) -> Target {
    if source.transport.is_reliable() {
        return source;
    }
    let via = headers
        .get(&HeaderName::Via)
        .and_then(|v| pbx_sip::text::split_top_level(v, b','))
        .and_then(|p| p.first().and_then(|f| pbx_sip::Via::parse(f).ok()));
    let addr = via
        .map(|mut v| {
            if v.param("received").is_none() {
                v.stamp_source(source.addr);
            }
            v
        })
        .and_then(|v| v.response_target())
        .unwrap_or(source.addr);
    Target { transport: Transport::Udp, addr, conn: None }
}

/// The scenario of a call dialled straight to a queue's extension: wait in the queue; when
/// it overflows, "not available" and goodbye.
pub(crate) fn queue_scenario(ext: &str) -> Arc<crate::scenario::Scenario> {
    let json = format!(
        r#"{{"start":"queue","nodes":{{"queue":{{"type":"queue","queue":"{ext}","next":{{"*":"sorry"}}}},
        "sorry":{{"type":"play","prompts":["not-available"],"extension_dialing":false,"next":{{"done":"bye"}}}},"bye":{{"type":"hangup"}}}}}}"#
    );
    Arc::new(crate::scenario::Scenario::parse(&json).unwrap_or_else(|_| crate::scenario::Scenario {
        start: "bye".into(),
        nodes: Default::default(),
        layout: Default::default(),
    }))
}
