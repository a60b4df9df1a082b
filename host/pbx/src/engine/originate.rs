//! Calls the PBX places itself: a queue callback rings the agent first and, once the agent
//! answers, calls the customer back through the tenant's trunk. The agent's leg is the
//! call's A side (a dialog the PBX started); the customer's leg is an ordinary fork.

use super::call::{Call, CallKey, CallState, HangupBy, MediaLeg, Party, TxOwner};
use super::dialog::Dialog;
use super::dialplan::Step;
use super::queue::{QueueLink, QueuePhase, WaiterKind};
use super::{Action, Engine, EngineTimer, Now, new_call_uid, random_token};
use pbx_media::Side;
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, Response};
use pbx_sip::method::Method;
use pbx_sip::sdp::{self, Direction, Sdp};
use pbx_store::{CallOp, CallStart, Direction as CallDirection, Disposition};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What [`Engine::place_agent_leg`] needs: who is rung first, what their phone shows, and
/// what the call is.
pub struct AgentLeg {
    /// Tenant.
    pub tenant: std::sync::Arc<super::directory::TenantInfo>,
    /// The user rung first.
    pub user: std::sync::Arc<super::directory::UserInfo>,
    /// The number their phone shows as the caller.
    pub shown_number: String,
    /// The name it shows.
    pub shown_name: String,
    /// The other party.
    pub callee: Party,
    /// City number the call goes out with.
    pub did: Option<String>,
    /// The trunk it goes out through.
    pub trunk: Option<String>,
    /// Direction of the call.
    pub direction: CallDirection,
    /// Queue it belongs to.
    pub via: Option<(i64, String)>,
    /// Call-log kind.
    pub kind: Option<&'static str>,
    /// How long the user's phone rings.
    pub ring: Duration,
    /// Queue link (callbacks).
    pub queue: Option<QueueLink>,
    /// Queue callback state.
    pub origin: Option<Origin>,
    /// Click-to-call state.
    pub click: Option<Box<ClickToCall>>,
}

/// A call a user or an integration asked for: the user's phone first, then the number.
#[derive(Debug, Clone)]
pub struct ClickToCall {
    /// Whom to call once the user answers: an extension's user, or a number out through the line.
    pub target_user: Option<i64>,
    /// City number to present (none: the user's own).
    pub line: Option<String>,
    /// The integration's id for the call, carried into its events.
    pub correlation_id: Option<String>,
}

/// Why a call could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginateError {
    /// No such company, or it is suspended.
    #[error("the company cannot place calls (unknown or suspended)")]
    Tenant,
    /// No such extension.
    #[error("no such extension")]
    NoUser,
    /// The user's phone is not registered.
    #[error("the extension has no registered phone")]
    NotRegistered,
    /// The extension to call has no registered phone.
    #[error("the extension called has no registered phone")]
    TargetNotRegistered,
    /// The number to call is not valid.
    #[error("not a number that can be called")]
    BadNumber,
    /// The line is not the company's city number.
    #[error("the line is not one of the company's city numbers")]
    BadLine,
    /// The balance is used up.
    #[error("insufficient balance: outgoing calls are blocked")]
    Balance,
    /// No city number or trunk to call out with.
    #[error("no city number or trunk to call out with")]
    NoTrunk,
    /// No media ports.
    #[error("no media ports free")]
    NoMedia,
    /// Too many calls at once.
    #[error("too many calls at once")]
    Busy,
    /// The correlation id is too long or has control characters.
    #[error("correlation_id must be one line of at most 128 bytes")]
    BadCorrelation,
}

/// A call the PBX placed, and why.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The queue.
    pub group_id: u64,
    /// The waiter called back.
    pub waiter: u64,
    /// The customer.
    pub number: String,
    /// Their name.
    pub name: String,
    /// Attempts before this one.
    pub tries: u32,
    /// The customer answered.
    pub customer_answered: bool,
}

impl Engine {
    /// Rings `agent` for a queue callback to `number`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn originate_callback(&mut self, gid: u64, waiter: u64, agent: i64, number: &str, name: &str, tries: u32, now: Now) {
        let Some(g) = self.dir.group_by_id(gid as i64).cloned() else { return };
        let Some(tenant) = self.dir.tenant(g.tenant_id).cloned() else { return };
        let Some(user) = self.dir.user_by_id(agent).cloned() else { return };
        let shown_name = if name.is_empty() { format!("Callback {number}") } else { format!("Callback {name}") };
        let leg = AgentLeg {
            tenant,
            user: user.clone(),
            shown_number: number.to_string(),
            shown_name,
            callee: Party { number: number.to_string(), name: name.to_string(), user_id: None },
            did: None,
            trunk: None,
            direction: CallDirection::Outbound,
            via: Some((g.id, g.ext.clone())),
            kind: Some("queue-callback"),
            ring: Duration::from_secs(u64::from(g.ring_seconds)),
            queue: Some(QueueLink { group_id: gid, waiter, phase: QueuePhase::Offered, announce: None, max_wait: None }),
            origin: Some(Origin {
                group_id: gid,
                waiter,
                number: number.to_string(),
                name: name.to_string(),
                tries,
                customer_answered: false,
            }),
            click: None,
        };
        match self.place_agent_leg(leg, now) {
            Ok((key, _)) => self.timeline(key, "callback", format!("ringing agent {} for {number}", user.ext), now),
            Err(OriginateError::NotRegistered) => self.callback_failed(gid, waiter, Some(agent), now),
            Err(_) => self.callback_failed(gid, waiter, None, now),
        }
    }

    /// Rings the user's phone for a call the PBX places (queue callback, click-to-call): the
    /// user's leg is the call's A side; the other party is rung once they answer.
    pub(super) fn place_agent_leg(&mut self, leg: AgentLeg, now: Now) -> Result<(CallKey, String), OriginateError> {
        let AgentLeg { tenant, user, shown_number, shown_name, callee, did, trunk, direction, via, kind, ring, queue, origin, click } = leg;
        let agent = user.id;
        let Some(binding) = self.location.bindings(agent, now.mono).into_iter().next() else {
            return Err(OriginateError::NotRegistered);
        };
        let ports = match self.media.create_session() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot allocate media for a call the PBX places");
                return Err(OriginateError::NoMedia);
            }
        };
        let key = self.next_call;
        self.next_call += 1;
        let uid = new_call_uid(now.wall_ms);
        let transport = binding.target.transport;
        let local_tag = random_token(12);
        let call_id = format!("{}@pbx", random_token(24));
        let shown = pbx_sip::text::quote(&shown_name);
        let local_hdr = format!("{shown} <sip:{shown_number}@{}>;tag={local_tag}", tenant.domain);
        let to = format!("<sip:{}@{}>", user.ext, tenant.domain);
        let mut a_media = MediaLeg::new(ports.a_port);
        a_media.formats = sdp::default_formats();
        let mut b_media = MediaLeg::new(ports.b_port);
        b_media.formats = sdp::default_formats();
        let mut invite = Request::new(Method::Invite, binding.uri.clone());
        invite.headers.push(HeaderName::Via, self.new_via(transport));
        invite.headers.push(HeaderName::MaxForwards, "70");
        invite.headers.push(HeaderName::From, local_hdr.clone());
        invite.headers.push(HeaderName::To, to.clone());
        invite.headers.push(HeaderName::CallId, call_id.clone());
        invite.headers.push(HeaderName::CSeq, "1 INVITE");
        invite.headers.push(HeaderName::Contact, self.contact(transport));
        invite.headers.push(HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE");
        invite.headers.push(HeaderName::UserAgent, self.cfg.user_agent.clone());
        invite.headers.push(HeaderName::ContentType, "application/sdp");
        invite.body = sdp::build(
            a_media.session_id,
            a_media.version,
            self.cfg.public_ip,
            a_media.port,
            a_media.formats.clone(),
            Direction::SendRecv,
            None,
        )
        .to_bytes();
        let dialog = Dialog::outgoing(call_id.clone(), local_tag.clone(), local_hdr, to, binding.uri.clone(), binding.target);
        let start = CallStart {
            id: uid.clone(),
            tenant_id: tenant.id,
            direction,
            caller_number: user.ext.clone(),
            caller_name: user.name.clone(),
            callee: callee.number.clone(),
            did,
            trunk,
            caller_user_id: Some(agent),
            callee_user_id: callee.user_id,
            started_at: now.wall_ms,
            node: self.cfg.node.clone(),
        };
        let mut notify = self.notify_state(&start);
        if let (Some(n), Some(c)) = (notify.as_mut(), click.as_ref()) {
            n.correlation_id.clone_from(&c.correlation_id);
        }
        let started = notify.as_ref().map(|_| {
            let mut ev = self.started_event(&start);
            if let (pbx_store::EventData::Started { correlation_id, .. }, Some(c)) = (&mut ev, click.as_ref()) {
                correlation_id.clone_from(&c.correlation_id);
            }
            ev
        });
        self.actions.push_back(Action::Cdr { op: CallOp::Start(start), ack: None });
        if via.is_some() || kind.is_some() {
            let op = CallOp::Mark {
                id: uid.clone(),
                forwarded_from: None,
                via: via.as_ref().map(|v| v.1.clone()),
                kind: kind.map(str::to_string),
            };
            self.actions.push_back(Action::Cdr { op, ack: None });
        }
        let tx = self.txl.send_request(&invite, binding.target, now.mono);
        self.client_tx.insert(tx, TxOwner::Originate { call: key });
        self.a_dialogs.insert((call_id, local_tag), key);
        self.media_calls.insert(ports.id, key);
        self.metrics.calls_started.fetch_add(1, Ordering::Relaxed);
        self.metrics.active_calls.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("call", tenant = %tenant.slug, call = %uid);
        span.in_scope(|| tracing::info!(agent = %user.ext, to = %callee.number, "ringing the user's phone first"));
        let ring = self.timers.schedule(now.mono + ring, EngineTimer::OriginateTimeout(key));
        let call = Call {
            span,
            uid: uid.clone(),
            state: CallState::Originating,
            caller: Party { number: user.ext.clone(), name: user.name.clone(), user_id: Some(agent) },
            callee,
            a: dialog,
            a_invite: invite,
            a_tx: None,
            a_resp_target: binding.target,
            a_media,
            b_media,
            media_id: ports.id,
            plan: Default::default(),
            step_seq: 0,
            step_timer: None,
            redirects: None,
            step_first_fork: 0,
            rung: vec![(agent, now.wall_ms)],
            via,
            forks: Vec::new(),
            winner: None,
            ring_timer: Some(ring),
            session_timer: None,
            session_interval: None,
            answered_ms: None,
            reinvite: None,
            late_offer: false,
            best_failure: None,
            max_forwards: 69,
            a_offer: None,
            tenant,
            direction,
            event_seq: 0,
            a_answered: false,
            greeting: None,
            playing: None,
            held: [false, false],
            recording: false,
            refused: false,
            scenario: None,
            ring_for: None,
            queue,
            queue_agent: None,
            started_mono: now.mono,
            origin,
            click,
            xfer: None,
            consult: None,
            dtmf_codes: Default::default(),
            updating: [false; 2],
            next_update: Default::default(),
            media_retries: 0,
            notify,
        };
        self.calls.insert(key, call);
        if let Some(ev) = started {
            self.notify(key, ev, now);
        }
        Ok((key, uid))
    }

    /// The agent's phone answered (or refused) the callback.
    pub(super) fn on_originate_response(&mut self, key: CallKey, resp: Response, now: Now) {
        let _span = self.call_span(key).entered();
        let Some(call) = self.calls.get_mut(&key) else { return };
        if call.state != CallState::Originating {
            return;
        }
        if resp.status < 200 {
            return;
        }
        if resp.status >= 300 {
            tracing::info!(status = resp.status, "the agent did not take the callback");
            return self.originate_failed(key, &format!("{}", resp.status), now);
        }
        if let Some(t) = call.ring_timer.take() {
            self.timers.cancel(t);
        }
        call.a.confirm(&resp);
        let transport = call.a.flow.transport;
        let via = self.new_via(transport);
        let contact = self.contact(transport);
        let Some(call) = self.calls.get_mut(&key) else { return };
        let mut ack = call.a.request(Method::Ack, &via, &contact);
        ack.headers.set(HeaderName::CSeq, "1 ACK");
        let flow = call.a.flow;
        self.txl.send_request(&ack, flow, now.mono);
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(answer) = Sdp::parse(&resp.body).ok() else {
            return self.hangup(key, HangupBy::System, "agent answered without SDP", now);
        };
        let formats = answer.audio().map(|m| m.formats.clone()).unwrap_or_default();
        call.a_media.formats = formats.clone();
        call.a_media.remote = Some(answer.clone());
        call.a_answered = true;
        call.state = CallState::Scenario;
        let agent = call.caller.user_id;
        let tenant = call.tenant.clone();
        let number = call.callee.number.clone();
        let click = call.click.take();
        self.media.set_remote(call.media_id, Side::A, super::b2bua::remote_params(&answer, flow.addr, &formats));
        if let Some(c) = click {
            return self.click_answered(key, *c, now);
        }
        self.timeline(key, "callback", "agent answered; calling the customer".into(), now);
        // The agent now handles this caller: the place in the queue is used up.
        self.queue_connected(key, agent, now);
        match self.trunk_target(&tenant, agent, &number, false) {
            Ok((leg, _, _)) => self.start_plan(key, vec![Step::all(vec![leg], &number)], Some(Duration::from_secs(45)), now),
            Err(why) => {
                tracing::warn!(?why, "cannot call the customer back");
                self.hangup(key, HangupBy::System, "cannot call the customer", now);
            }
        }
    }

    /// The agent did not answer in time.
    pub(super) fn on_originate_timeout(&mut self, key: CallKey, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        if call.state != CallState::Originating {
            return;
        }
        call.ring_timer = None;
        // CANCEL the agent's INVITE.
        let inv = call.a_invite.clone();
        let flow = call.a.flow;
        self.cancel_invite(&inv, flow, now);
        self.originate_failed(key, "agent did not answer", now);
    }

    /// The agent leg failed: the caller keeps their place; the agent is passed over.
    fn originate_failed(&mut self, key: CallKey, cause: &str, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.state = CallState::Ringing;
        let origin = call.origin.take();
        let agent = call.caller.user_id;
        call.queue = None;
        self.close_call(key, Disposition::Failed, cause, HangupBy::Callee, now);
        if let Some(o) = origin {
            self.callback_failed(o.group_id, o.waiter, agent, now);
        }
    }

    /// A callback attempt did not reach an agent: back in line.
    fn callback_failed(&mut self, gid: u64, waiter: u64, agent: Option<i64>, now: Now) {
        if let Some(rt) = self.queues.get_mut(&gid) {
            if let Some(w) = rt.waiting.iter_mut().find(|w| w.id == waiter) {
                w.offered_to.clear();
            }
            if let Some(a) = agent {
                rt.agents.entry(a).or_default().missed_until = Some(now.mono + Duration::from_secs(10));
            }
        }
    }

    /// A callback call ended: if the customer never answered, they are called back again
    /// later (up to three attempts), keeping their turn.
    pub(super) fn callback_closed(&mut self, key: CallKey, answered: bool, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        let Some(o) = call.origin.clone() else { return };
        if answered || call.state == CallState::Originating {
            return;
        }
        if o.tries + 1 >= super::queue::CALLBACK_TRIES {
            tracing::warn!(number = %o.number, "callback abandoned after {} attempts", o.tries + 1);
            return;
        }
        let rt = self.queues.entry(o.group_id).or_default();
        self.next_call += 1;
        let id = self.next_call;
        rt.waiting.push(super::queue::Waiter {
            id,
            kind: WaiterKind::Callback { number: o.number.clone(), name: o.name.clone(), tries: o.tries + 1 },
            since: call.started_mono,
            priority: 0,
            caller_number: o.number,
            offered_to: Vec::new(),
        });
        self.ensure_queue_tick(now);
    }
}
