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
        let Some(binding) = self.location.bindings(agent, now.mono).into_iter().next() else {
            return self.callback_failed(gid, waiter, Some(agent), now);
        };
        let ports = match self.media.create_session() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot allocate media for a callback");
                return self.callback_failed(gid, waiter, None, now);
            }
        };
        let key = self.next_call;
        self.next_call += 1;
        let uid = new_call_uid(now.wall_ms);
        let transport = binding.target.transport;
        let local_tag = random_token(12);
        let call_id = format!("{}@pbx", random_token(24));
        let shown = if name.is_empty() { format!("\"Callback {number}\"") } else { pbx_sip::text::quote(&format!("Callback {name}")) };
        let local_hdr = format!("{shown} <sip:{number}@{}>;tag={local_tag}", tenant.domain);
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
            direction: CallDirection::Outbound,
            caller_number: user.ext.clone(),
            caller_name: user.name.clone(),
            callee: number.to_string(),
            did: None,
            trunk: None,
            caller_user_id: Some(agent),
            callee_user_id: None,
            started_at: now.wall_ms,
            node: self.cfg.node.clone(),
        };
        let notify = self.notify_state(&start);
        let started = notify.as_ref().map(|_| self.started_event(&start));
        self.actions.push_back(Action::Cdr { op: CallOp::Start(start), ack: None });
        let op = CallOp::Mark { id: uid.clone(), forwarded_from: None, via: Some(g.ext.clone()), kind: Some("queue-callback".into()) };
        self.actions.push_back(Action::Cdr { op, ack: None });
        let tx = self.txl.send_request(&invite, binding.target, now.mono);
        self.client_tx.insert(tx, TxOwner::Originate { call: key });
        self.a_dialogs.insert((call_id, local_tag), key);
        self.media_calls.insert(ports.id, key);
        self.metrics.calls_started.fetch_add(1, Ordering::Relaxed);
        self.metrics.active_calls.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("call", tenant = %tenant.slug, call = %uid);
        span.in_scope(|| tracing::info!(agent = %user.ext, to = %number, "queue callback: ringing the agent"));
        let ring = self.timers.schedule(now.mono + Duration::from_secs(u64::from(g.ring_seconds)), EngineTimer::OriginateTimeout(key));
        let call = Call {
            span,
            uid,
            state: CallState::Originating,
            caller: Party { number: user.ext.clone(), name: user.name.clone(), user_id: Some(agent) },
            callee: Party { number: number.to_string(), name: name.to_string(), user_id: None },
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
            via: Some((g.id, g.ext.clone())),
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
            direction: CallDirection::Outbound,
            event_seq: 0,
            a_answered: false,
            greeting: None,
            playing: None,
            held: [false, false],
            recording: false,
            scenario: None,
            ring_for: None,
            queue: Some(QueueLink { group_id: gid, waiter, phase: QueuePhase::Offered, announce: None, max_wait: None }),
            queue_agent: None,
            started_mono: now.mono,
            origin: Some(Origin {
                group_id: gid,
                waiter,
                number: number.to_string(),
                name: name.to_string(),
                tries,
                customer_answered: false,
            }),
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
        self.timeline(key, "callback", format!("ringing agent {} for {number}", user.ext), now);
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
        self.media.set_remote(call.media_id, Side::A, super::b2bua::remote_params(&answer, flow.addr, &formats));
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
