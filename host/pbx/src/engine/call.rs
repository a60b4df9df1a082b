//! A call: the caller's leg, the callee's forks, the bridge between them and its media.

use super::dialog::Dialog;
use super::timers::TimerId;
use pbx_media::{SessionId, Side};
use pbx_sip::message::Request;
use pbx_sip::sdp::{Direction, Format, Sdp};
use pbx_sip::transaction::{Target, TxId};

/// The engine's handle of a call.
pub type CallKey = u64;

/// Who a client transaction belongs to.
#[derive(Debug, Clone)]
pub enum TxOwner {
    /// An INVITE to one of the callee's phones.
    Fork {
        /// Call.
        call: CallKey,
        /// Fork index.
        fork: usize,
    },
    /// A re-INVITE we relayed to `to`.
    Reinvite {
        /// Call.
        call: CallKey,
        /// Side it was sent to.
        to: Side,
    },
    /// A REGISTER of the PBX to a carrier (trunk id).
    TrunkReg(i64),
    /// A busy-lamp NOTIFY (the subscription's Call-ID and our tag).
    Notify(Box<(String, String)>),
    /// The agent leg of a call the PBX placed.
    Originate {
        /// Call.
        call: CallKey,
    },
    /// The new leg of a blind transfer.
    Transfer {
        /// Call.
        call: CallKey,
    },
    /// The target leg of an attended transfer by keys.
    Consult {
        /// Call.
        call: CallKey,
    },
    /// The PBX's own re-INVITE to a leg (after an attended transfer).
    MediaUpdate {
        /// Call.
        call: CallKey,
        /// The leg's side.
        side: Side,
    },
    /// A request whose answer does not matter (BYE, CANCEL, INFO).
    Fire,
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupBy {
    /// The caller (BYE or CANCEL from the A leg).
    Caller,
    /// The callee (BYE from the B leg).
    Callee,
    /// The PBX (timeouts, errors).
    System,
}

impl HangupBy {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            HangupBy::Caller => "caller",
            HangupBy::Callee => "callee",
            HangupBy::System => "system",
        }
    }
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Waiting for the call-log row to be durable before ringing.
    LoggingStart,
    /// Answered by the PBX, which plays the greeting before ringing.
    Greeting,
    /// Phones are ringing.
    Ringing,
    /// Answered and bridged.
    Answered,
    /// In the hands of its city number's scenario (menus, prompts, plugin decisions).
    Scenario,
    /// A call the PBX placed: its first leg (an agent) is ringing.
    Originating,
}

/// One end of the call as a person.
#[derive(Debug, Clone)]
pub struct Party {
    /// Number (extension or E.164).
    pub number: String,
    /// Display name.
    pub name: String,
    /// User id if an extension.
    pub user_id: Option<i64>,
}

/// The PBX's media state towards one leg.
#[derive(Debug, Clone)]
pub struct MediaLeg {
    /// Our RTP port facing the leg.
    pub port: u16,
    /// SDP o= session id.
    pub session_id: u64,
    /// SDP o= version; increases with every new SDP we send.
    pub version: u64,
    /// Formats this leg uses, in its payload-type numbering.
    pub formats: Vec<Format>,
    /// The leg's last SDP.
    pub remote: Option<Sdp>,
    /// The direction we last offered or answered.
    pub direction: Direction,
}

impl MediaLeg {
    /// A leg with a fresh SDP session.
    pub fn new(port: u16) -> MediaLeg {
        MediaLeg {
            port,
            session_id: u64::from(super::rng::u32()),
            version: 1,
            formats: Vec::new(),
            remote: None,
            direction: Direction::SendRecv,
        }
    }
}

/// State of one fork.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkState {
    /// INVITE sent.
    Calling,
    /// A provisional response arrived.
    Early,
    /// Answered.
    Answered,
    /// Failed or cancelled.
    Done,
}

/// An INVITE to one registered phone of the callee.
#[derive(Debug, Clone)]
pub struct Fork {
    /// The UAC dialog.
    pub dialog: Dialog,
    /// The INVITE (for CANCEL).
    pub invite: Request,
    /// Its client transaction.
    pub tx: TxId,
    /// Progress.
    pub state: ForkState,
    /// The user rung (none for a carrier).
    pub user_id: Option<i64>,
    /// CANCEL wanted before any provisional came.
    pub cancel_pending: bool,
    /// Credentials for a carrier's challenge.
    pub credentials: Option<(String, String)>,
    /// Whether the challenge was answered already (a second one fails the fork).
    pub auth_tried: bool,
    /// The final failure status, if it failed.
    pub fail_status: Option<u16>,
}

/// Where one fork of a call goes and how the caller is presented there.
#[derive(Debug, Clone)]
pub struct ForkTarget {
    /// Request-URI.
    pub uri: pbx_sip::Uri,
    /// Where to send it (the phone's flow or the carrier).
    pub target: Target,
    /// The user this rings, if a phone.
    pub user_id: Option<i64>,
    /// From header value (without tag): the caller as shown on this leg.
    pub from: String,
    /// To header value.
    pub to: String,
    /// P-Asserted-Identity, if any.
    pub pai: Option<String>,
    /// Digest credentials for a carrier.
    pub credentials: Option<(String, String)>,
}

/// A re-INVITE being relayed from one leg to the other.
#[derive(Debug, Clone)]
pub struct PendingReinvite {
    /// The side that sent it.
    pub from: Side,
    /// Its server transaction.
    pub server_tx: TxId,
    /// The request.
    pub req: Request,
    /// Where responses go.
    pub resp_target: Target,
}

/// A call between two legs.
#[derive(Debug)]
pub struct Call {
    /// Log span carrying the tenant and the call id.
    pub span: tracing::Span,
    /// Call-log id.
    pub uid: String,
    /// Progress.
    pub state: CallState,
    /// Caller.
    pub caller: Party,
    /// Callee.
    pub callee: Party,
    /// The caller's dialog (we are the UAS).
    pub a: Dialog,
    /// The caller's INVITE.
    pub a_invite: Request,
    /// The INVITE's server transaction while no final response was sent.
    pub a_tx: Option<TxId>,
    /// Where answers to the caller go.
    pub a_resp_target: Target,
    /// Media towards the caller.
    pub a_media: MediaLeg,
    /// Media towards the callee.
    pub b_media: MediaLeg,
    /// Media session.
    pub media_id: SessionId,
    /// What rings next, step by step (ring groups, forwarding).
    pub plan: super::dialplan::Plan,
    /// Sequence number of the ringing step.
    pub step_seq: u64,
    /// What the call keeps for its integration events (none: its tenant has no subscriber).
    pub notify: Option<Box<super::notify::NotifyState>>,
    /// Its own timer (sequential groups, no-answer forwarding).
    pub step_timer: Option<TimerId>,
    /// Forwarding of the ringing step.
    pub redirects: Option<super::dialplan::Redirects>,
    /// The first fork of the ringing step.
    pub step_first_fork: usize,
    /// Users rung, with when (call legs for statistics).
    pub rung: Vec<(i64, i64)>,
    /// The ring group or queue the call went through: (id, extension).
    pub via: Option<(i64, String)>,
    /// The forks.
    pub forks: Vec<Fork>,
    /// The fork that answered.
    pub winner: Option<usize>,
    /// Ring timeout timer.
    pub ring_timer: Option<TimerId>,
    /// Session timer (RFC 4028) on the caller's leg.
    pub session_timer: Option<TimerId>,
    /// Session interval, seconds.
    pub session_interval: Option<u32>,
    /// Answer, ms.
    pub answered_ms: Option<i64>,
    /// A re-INVITE in flight.
    pub reinvite: Option<PendingReinvite>,
    /// The caller sent no SDP (we offer in the 200 OK).
    pub late_offer: bool,
    /// Best failure seen from forks: (status, reason).
    pub best_failure: Option<(u16, String)>,
    /// Max-Forwards for the forks.
    pub max_forwards: u32,
    /// The caller's offer.
    pub a_offer: Option<Sdp>,
    /// The tenant (language, music, recording settings).
    pub tenant: std::sync::Arc<super::directory::TenantInfo>,
    /// Direction (for recording rules).
    pub direction: pbx_store::Direction,
    /// Next timeline sequence number.
    pub event_seq: i64,
    /// The PBX answered the caller itself (greeting, IVR): later answers only bridge.
    pub a_answered: bool,
    /// Greeting to play before ringing.
    pub greeting: Option<std::sync::Arc<pbx_media::prompt::Prompt>>,
    /// Token of what is playing to the caller, and why.
    pub playing: Option<(u64, PlayPurpose)>,
    /// Which sides hold the call.
    pub held: [bool; 2],
    /// Whether the call is being recorded.
    pub recording: bool,
    /// A caller the company's blacklist refused with its message (not a missed caller).
    pub refused: bool,
    /// The scenario the call is walking through, if its city number has one.
    pub scenario: Option<Box<ScenarioRun>>,
    /// How long the current targets ring.
    pub ring_for: Option<std::time::Duration>,
    /// The queue the caller waits in.
    pub queue: Option<super::queue::QueueLink>,
    /// The queue and agent of an answered queue call (wrap-up when it ends).
    pub queue_agent: Option<(u64, i64)>,
    /// When the call started (monotonic).
    pub started_mono: std::time::Instant,
    /// Why the PBX placed this call, if it did.
    pub origin: Option<super::originate::Origin>,
    /// A click-to-call waiting for its user to answer.
    pub click: Option<Box<super::originate::ClickToCall>>,
    /// A blind transfer in progress.
    pub xfer: Option<Box<super::transfer::Transfer>>,
    /// An attended transfer by keys in progress (the transferor consulting the target).
    pub consult: Option<Box<super::consult::Consult>>,
    /// Keys of a transfer code being dialled, per side.
    pub dtmf_codes: [String; 2],
    /// Per side: a re-INVITE of the PBX's own awaits its answer (RFC 3261 §14.1: one at a time).
    pub updating: [bool; 2],
    /// Per side: the offer to send once that answer has come.
    pub next_update: [Option<pbx_sip::sdp::Sdp>; 2],
    /// Media sessions replaced because their ports could not be bound.
    pub media_retries: u8,
}

/// A call's progress through its scenario.
#[derive(Debug)]
pub struct ScenarioRun {
    /// The sans-IO walker.
    pub runner: crate::scenario::Runner,
    /// Token of the plugin decision awaited (0: none).
    pub plugin_token: u64,
    /// Its watchdog.
    pub plugin_timer: Option<TimerId>,
    /// Digits being collected.
    pub gather: Option<Gather>,
    /// A dial of the scenario is ringing.
    pub dialing: bool,
    /// Keys pressed while nothing was collecting (typed ahead).
    pub typeahead: String,
    /// Plugin versions this call decided with, by name (kept across upgrades).
    pub pinned: std::collections::HashMap<String, crate::plugins::Pinned>,
    /// The plugin asked last.
    pub asked: String,
}

/// Digits being collected for a gather verb.
#[derive(Debug)]
pub struct Gather {
    /// What to collect.
    pub spec: pbx_plugin_host::GatherSpec,
    /// Collected so far.
    pub digits: String,
    /// The prompts finished (or were interrupted).
    pub prompts_done: bool,
    /// First-digit or inter-digit timer.
    pub timer: Option<TimerId>,
}

/// Why the PBX plays something to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayPurpose {
    /// The greeting: ring when done.
    Greeting,
    /// A last message: hang up when done.
    Farewell,
    /// A prompt of the call's scenario.
    Scenario,
    /// A queue announcement: music again when done.
    QueueAnnounce,
    /// The after-hours message: hang up when done.
    AfterHours,
}
