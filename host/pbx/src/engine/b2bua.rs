//! The back-to-back user agent: a caller's INVITE becomes a call whose B legs ring the
//! callee's phones; answers, cancels, hang-ups and re-INVITEs are carried between the legs,
//! each leg a separate dialog with its own Call-ID, tags and CSeq, and media anchored on the
//! PBX.

use super::call::*;
use super::dialog::Dialog;
use super::directory::TenantInfo;
use super::routing::{Invite, Route};
use super::{Action, Engine, EngineTimer, Now, new_call_uid, random_token};
use pbx_media::{Law, RemoteParams, Side};
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, Response, SipMessage};
use pbx_sip::method::Method;
use pbx_sip::sdp::{self, Direction, Format, Sdp};
use pbx_sip::transaction::{Target, TxId};
use pbx_store::{CallEnd, CallOp, CallStart, Disposition, EventData};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Payload-type rewrites from one leg's numbering to another's, for formats both have.
/// What the media engine needs to know of a leg: where its RTP goes, where it may come
/// from, and the law and payload types it uses (`formats` in the leg's own numbering).
pub(super) fn remote_params(sdp: &Sdp, signal: SocketAddr, formats: &[Format]) -> RemoteParams {
    let target = sdp.audio_target();
    let rtp = target.filter(|(ip, port)| !ip.is_unspecified() && *port != 0).map(|(ip, port)| SocketAddr::new(ip, port));
    let rtcp_port = sdp.audio().and_then(|m| m.rtcp_port);
    let rtcp = rtp.map(|a| SocketAddr::new(a.ip(), rtcp_port.unwrap_or(a.port().wrapping_add(1))));
    let codec = formats.iter().find(|f| !sdp::is_telephone_event(f));
    let law = match codec {
        Some(f) if f.name.eq_ignore_ascii_case("PCMU") => Law::Ulaw,
        _ => Law::Alaw,
    };
    RemoteParams {
        rtp,
        rtcp,
        signal_ip: Some(signal.ip()),
        law,
        audio_pt: codec.map(|f| f.pt).unwrap_or(law.payload_type()),
        te_pt: formats.iter().find(|f| sdp::is_telephone_event(f)).map(|f| f.pt),
        expect_rtp: sdp.audio_direction().sends(),
    }
}

impl Engine {
    /// Sets up a routed call: checks the caller's offer, allocates media, writes the
    /// call-log row and, once it is durable, rings the targets.
    pub(super) fn start_call(&mut self, inv: Invite, tenant: &Arc<TenantInfo>, route: Route, now: Now) {
        let Invite { req, tx, source, resp_target, max_forwards, session_interval } = inv;
        let start = CallStart {
            id: new_call_uid(now.wall_ms),
            tenant_id: tenant.id,
            direction: route.direction,
            caller_number: route.caller.number.clone(),
            caller_name: route.caller.name.clone(),
            callee: route.callee.number.clone(),
            did: route.did.clone(),
            trunk: route.trunk.clone(),
            caller_user_id: route.caller.user_id,
            callee_user_id: route.callee.user_id,
            started_at: now.wall_ms,
            node: self.cfg.node.clone(),
        };
        // The caller's offer, if any.
        let (a_offer, late_offer) = if req.body.is_empty() {
            (None, true)
        } else {
            match Sdp::parse(&req.body) {
                Ok(s) => (Some(s), false),
                Err(e) => {
                    let r = req.response(400, &format!("Malformed SDP: {e}"), Some(&random_token(10)));
                    return self.respond(Some(tx), r, resp_target, now);
                }
            }
        };
        let offered = match &a_offer {
            Some(o) => match o.audio().and_then(sdp::supported_formats) {
                Some(f) => f,
                None => {
                    let mut r = req.response(488, "Not Acceptable Here", Some(&random_token(10)));
                    r.headers
                        .push(HeaderName::Warning, format!("305 {} \"Incompatible media format: PCMU or PCMA required\"", self.host()));
                    return self.respond(Some(tx), r, resp_target, now);
                }
            },
            None => sdp::default_formats(),
        };
        // Nothing to ring (and not the after-hours message, which rings nobody on purpose).
        let after_hours = route.steps.is_empty() && route.greeting.is_some();
        if route.steps.iter().all(|s| s.targets.is_empty()) && route.scenario.is_none() && !after_hours {
            self.log_failed_call(start, "480 not registered", now);
            let r = req.response(480, "Temporarily Unavailable", Some(&random_token(10)));
            return self.respond(Some(tx), r, resp_target, now);
        }
        let counted = super::limits::Counted { tenant: tenant.id, user: route.caller.user_id, trunk: route.trunk.clone() };
        if let Err(refusal) = self.counts.admit(&self.cfg.limits, &counted, self.media.free_ports() / 2) {
            tracing::warn!(tenant = %tenant.slug, from = %route.caller.number, ?refusal, "call refused by a call limit");
            self.log_failed_call(start, &format!("503 {}", refusal.text()), now);
            let mut r = req.response(503, "Service Unavailable", Some(&random_token(10)));
            r.headers.push(HeaderName::RetryAfter, "30");
            r.headers.push(HeaderName::Warning, format!("399 {} \"{}\"", self.host(), refusal.text()));
            return self.respond(Some(tx), r, resp_target, now);
        }
        let local_tag = random_token(12);
        let Some(a) = Dialog::from_request(&req, &local_tag, source) else {
            return self.simple_response(Some(tx), &req, 400, resp_target, now);
        };
        let ports = match self.media.create_session() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot allocate media");
                self.log_failed_call(start, "503 no media ports", now);
                return self.simple_response(Some(tx), &req, 503, resp_target, now);
            }
        };
        let key = self.next_call;
        self.next_call += 1;
        let mut a_media = MediaLeg::new(ports.a_port);
        a_media.formats = offered.clone();
        a_media.remote = a_offer.clone();
        let mut b_media = MediaLeg::new(ports.b_port);
        b_media.formats = offered;
        if let Some(o) = &a_offer {
            self.media.set_remote(ports.id, Side::A, remote_params(o, source.addr, &a_media.formats));
        }
        // Legs without RFC 4733 are listened to for in-band tones.
        self.media.detect_inband(ports.id, Side::A, !a_media.formats.iter().any(sdp::is_telephone_event));
        let span = tracing::info_span!("call", tenant = %tenant.slug, call = %start.id);
        span.in_scope(
            || tracing::info!(direction = start.direction.as_str(), from = %route.caller.number, to = %route.callee.number, "call started"),
        );
        self.a_dialogs.insert((a.call_id.clone(), local_tag), key);
        self.invite_tx.insert(tx, key);
        self.media_calls.insert(ports.id, key);
        self.actions.push_back(Action::Cdr { op: CallOp::Start(start.clone()), ack: Some(key) });
        if let Some((_, ext)) = &route.via {
            let op = CallOp::Mark { id: start.id.clone(), forwarded_from: None, via: Some(ext.clone()), kind: None };
            self.actions.push_back(Action::Cdr { op, ack: None });
        }
        self.metrics.calls_started.fetch_add(1, Ordering::Relaxed);
        self.metrics.active_calls.fetch_add(1, Ordering::Relaxed);
        let scenario = route.scenario.map(|s| {
            let info = pbx_plugin_host::CallInfo {
                call_id: start.id.clone(),
                caller_number: route.caller.number.clone(),
                caller_name: route.caller.name.clone(),
                called_number: route.callee.number.clone(),
                direction: route.direction.as_str().to_string(),
                variables: Vec::new(),
            };
            Box::new(super::call::ScenarioRun {
                runner: crate::scenario::Runner::new(s, info),
                plugin_token: 0,
                plugin_timer: None,
                gather: None,
                dialing: false,
                typeahead: String::new(),
                pinned: Default::default(),
                asked: String::new(),
            })
        });
        let notify = self.notify_state(&start);
        let started = notify.as_ref().map(|_| self.started_event(&start));
        self.touched.set(Some(key));
        self.counts.add(key, counted);
        self.timers.schedule(now.mono + super::PROVISIONAL_REFRESH, EngineTimer::ProvisionalRefresh(key));
        self.calls.insert(
            key,
            Call {
                span,
                uid: start.id,
                state: CallState::LoggingStart,
                caller: route.caller,
                callee: route.callee,
                a,
                a_invite: req,
                a_tx: Some(tx),
                a_resp_target: resp_target,
                a_media,
                b_media,
                media_id: ports.id,
                plan: route.steps.into(),
                step_seq: 0,
                step_timer: None,
                redirects: None,
                step_first_fork: 0,
                rung: Vec::new(),
                via: route.via,
                forks: Vec::new(),
                winner: None,
                ring_timer: None,
                session_timer: None,
                session_interval,
                answered_ms: None,
                reinvite: None,
                late_offer,
                best_failure: None,
                max_forwards: max_forwards.saturating_sub(1),
                a_offer,
                tenant: tenant.clone(),
                direction: route.direction,
                event_seq: 0,
                a_answered: false,
                greeting: route.greeting,
                playing: None,
                held: [false, false],
                recording: false,
                refused: false,
                scenario,
                ring_for: route.total,
                queue: None,
                queue_agent: None,
                started_mono: now.mono,
                origin: None,
                click: None,
                xfer: None,
                consult: None,
                dtmf_codes: Default::default(),
                updating: [false; 2],
                next_update: Default::default(),
                media_retries: 0,
                notify,
            },
        );
        if let Some(ev) = started {
            self.notify(key, ev, now);
        }
    }

    /// The edge could not bind a session's ports (another process holds one). A call that
    /// has not sent any SDP yet gets another session transparently; any other ends.
    pub(super) fn on_session_failed(&mut self, id: pbx_media::SessionId, now: Now) {
        let Some(&key) = self.media_calls.get(&id) else { return };
        let _span = self.call_span(key).entered();
        let fresh = self.calls.get(&key).is_some_and(|c| c.state == CallState::LoggingStart && !c.a_answered && c.media_retries < 3);
        if fresh && let Ok(ports) = self.media.create_session() {
            tracing::warn!("the call's media ports were taken by another process: using others");
            self.media_calls.remove(&id);
            self.media.destroy(id);
            self.media_calls.insert(ports.id, key);
            let Some(call) = self.calls.get_mut(&key) else { return };
            call.media_retries += 1;
            call.media_id = ports.id;
            call.a_media.port = ports.a_port;
            call.b_media.port = ports.b_port;
            if let Some(o) = call.a_media.remote.clone() {
                let params = remote_params(&o, call.a.flow.addr, &call.a_media.formats);
                self.media.set_remote(ports.id, Side::A, params);
            }
            let inband = !call.a_media.formats.iter().any(sdp::is_telephone_event);
            self.media.detect_inband(ports.id, Side::A, inband);
            return;
        }
        tracing::error!("the call's media ports could not be bound: ending the call");
        self.hangup(key, HangupBy::System, "media unavailable", now);
    }

    /// A call that failed before ringing still gets its call-log row.
    pub(super) fn log_failed_call(&mut self, start: CallStart, cause: &str, now: Now) {
        let id = start.id.clone();
        let failed = start.clone();
        self.actions.push_back(Action::Cdr { op: CallOp::Start(start), ack: None });
        self.actions.push_back(Action::Cdr {
            op: CallOp::End(CallEnd {
                id,
                ended_at: now.wall_ms,
                disposition: Disposition::Failed,
                hangup_cause: cause.to_string(),
                hangup_side: "system".into(),
                talk_seconds: 0,
                callee_user_id: None,
            }),
            ack: None,
        });
        self.notify_failed(&failed, cause, now);
    }

    /// The start row is durable: greet the caller or ring the phones.
    pub(super) fn on_cdr_committed(&mut self, key: CallKey, now: Now) {
        let _span = self.call_span(key).entered();
        let Some(call) = self.calls.get_mut(&key) else { return };
        if call.state != CallState::LoggingStart {
            return;
        }
        if call.scenario.is_some() {
            call.state = CallState::Scenario;
            return self.scenario_start(key, now);
        }
        if let Some(greeting) = call.greeting.clone() {
            call.state = CallState::Greeting;
            // A call with nothing to ring after its message is the after-hours one.
            let purpose = if call.plan.is_empty() { PlayPurpose::AfterHours } else { PlayPurpose::Greeting };
            if purpose == PlayPurpose::AfterHours {
                self.timeline(key, "after-hours", String::new(), now);
            }
            self.answer_caller_locally(key, now);
            self.play_to_caller(key, vec![greeting], purpose, now);
            return;
        }
        self.ring_targets(key, now);
    }

    /// Rings the call's plan step by step (after the greeting, if any), within its total
    /// ring time.
    pub(super) fn ring_targets(&mut self, key: CallKey, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.state = CallState::Ringing;
        if call.a_answered && call.queue.is_none() {
            // The caller's call is answered already: they hear ring-back from the PBX.
            self.media.set_source(call.media_id, Side::A, pbx_media::Source::Loop(pbx_media::prompt::ringback()));
        }
        let ring_for = call.ring_for.take().unwrap_or(self.cfg.ring_timeout).min(super::MAX_RING);
        if let Some(t) = call.ring_timer.take() {
            self.timers.cancel(t);
        }
        let timer = self.timers.schedule(now.mono + ring_for, EngineTimer::RingTimeout(key));
        if let Some(call) = self.calls.get_mut(&key) {
            call.ring_timer = Some(timer);
        }
        if !self.next_step(key, now) {
            // Nothing to ring (nobody registered, everyone busy).
            self.dial_failed(key, 480, now);
        }
    }

    /// A dial ended with nobody to answer: back to the scenario, "not available" for a
    /// caller the PBX answered, else the caller's final response.
    pub(super) fn dial_failed(&mut self, key: CallKey, status: u16, now: Now) {
        if self.queue_offer_failed(key, now) {
            return;
        }
        let (a_status, disposition) = match status {
            486 | 600 => (486, Disposition::Busy),
            603 => (603, Disposition::Missed),
            408 | 480 | 487 => (480, Disposition::Missed),
            404 | 410 | 484 => (404, Disposition::Failed),
            s if s >= 500 => (503, Disposition::Failed),
            s => (s, Disposition::Failed),
        };
        let outcome = match a_status {
            486 => pbx_plugin_host::DialOutcome::Busy,
            480 | 603 => pbx_plugin_host::DialOutcome::NoAnswer,
            _ => pbx_plugin_host::DialOutcome::Failed,
        };
        if self.scenario_dial_ended(key, outcome, now) {
            return;
        }
        if self.farewell_if_answered(key, now) {
            return;
        }
        self.finish_unanswered(key, a_status, disposition, &format!("{status}"), HangupBy::Callee, now);
    }

    pub(super) fn start_fork(&mut self, key: CallKey, t: ForkTarget, now: Now) {
        let transport = t.target.transport;
        let via = self.new_via(transport);
        let contact = self.contact(transport);
        let user_agent = self.cfg.user_agent.clone();
        let public_ip = self.cfg.public_ip;
        let Some(call) = self.calls.get_mut(&key) else { return };
        let local_tag = random_token(12);
        let local_hdr = format!("{};tag={local_tag}", t.from);
        let call_id = format!("{}@pbx", random_token(24));
        let mut invite = Request::new(Method::Invite, t.uri.clone());
        invite.headers.push(HeaderName::Via, via);
        invite.headers.push(HeaderName::MaxForwards, call.max_forwards.to_string());
        invite.headers.push(HeaderName::From, local_hdr.clone());
        invite.headers.push(HeaderName::To, t.to.clone());
        invite.headers.push(HeaderName::CallId, call_id.clone());
        invite.headers.push(HeaderName::CSeq, "1 INVITE");
        invite.headers.push(HeaderName::Contact, contact);
        invite.headers.push(HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE");
        invite.headers.push(HeaderName::Supported, "replaces");
        invite.headers.push(HeaderName::UserAgent, user_agent);
        if let Some(pai) = &t.pai {
            invite.headers.push(HeaderName::PAssertedIdentity, pai.clone());
        }
        invite.headers.push(HeaderName::ContentType, "application/sdp");
        let b_sdp = sdp::build(
            call.b_media.session_id,
            call.b_media.version,
            public_ip,
            call.b_media.port,
            call.b_media.formats.clone(),
            Direction::SendRecv,
            None,
        );
        invite.body = b_sdp.to_bytes();
        let dialog = Dialog::outgoing(call_id.clone(), local_tag, local_hdr, t.to.clone(), t.uri.clone(), t.target);
        let tx = self.txl.send_request(&invite, t.target, now.mono);
        let fork_index = call.forks.len();
        let rung_user = t.user_id;
        if let Some(u) = t.user_id
            && !call.rung.iter().any(|(x, _)| *x == u)
        {
            call.rung.push((u, now.wall_ms));
        }
        call.forks.push(Fork {
            dialog,
            invite,
            tx,
            state: ForkState::Calling,
            user_id: t.user_id,
            cancel_pending: false,
            credentials: t.credentials,
            auth_tried: false,
            fail_status: None,
        });
        self.client_tx.insert(tx, TxOwner::Fork { call: key, fork: fork_index });
        self.b_dialogs.insert(call_id, (key, fork_index));
        self.notify_ringing(key, rung_user, now);
    }

    /// A carrier challenged our INVITE (401/407): send it again with credentials, once.
    fn retry_fork_with_auth(&mut self, key: CallKey, fork: usize, resp: &Response, now: Now) -> bool {
        let Some(call) = self.calls.get_mut(&key) else { return false };
        let Some(f) = call.forks.get_mut(fork) else { return false };
        let Some((user, pass)) = f.credentials.clone() else { return false };
        if f.auth_tried || f.cancel_pending || f.state == ForkState::Done {
            return false;
        }
        let (challenge_hdr, answer_hdr) = if resp.status == 401 {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        } else {
            (HeaderName::ProxyAuthenticate, HeaderName::ProxyAuthorization)
        };
        let Some(challenge) = resp.headers.get(&challenge_hdr).map(str::to_string) else { return false };
        let uri = f.invite.uri.to_string();
        let Some(auth) = pbx_sip::digest::authorize(&challenge, &user, &pass, "INVITE", &uri, 1) else { return false };
        f.auth_tried = true;
        let mut invite = f.invite.clone();
        let seq = invite.cseq().map(|c| c.seq + 1).unwrap_or(2);
        invite.headers.set(HeaderName::CSeq, format!("{seq} INVITE"));
        invite.headers.remove(&answer_hdr);
        invite.headers.push(answer_hdr, auth);
        let transport = f.dialog.flow.transport;
        let flow = f.dialog.flow;
        let via = self.new_via(transport);
        invite.headers.set(HeaderName::Via, via);
        let Some(call) = self.calls.get_mut(&key) else { return false };
        let f = &mut call.forks[fork];
        f.dialog.local_seq = seq;
        f.invite = invite.clone();
        let tx = self.txl.send_request(&invite, flow, now.mono);
        f.tx = tx;
        self.client_tx.insert(tx, TxOwner::Fork { call: key, fork });
        true
    }

    pub(super) fn on_client_response(&mut self, owner: TxOwner, _tx: TxId, resp: Response, now: Now) {
        match owner {
            TxOwner::Fork { call, fork } => self.on_fork_response(call, fork, resp, now),
            TxOwner::Reinvite { call, to } => self.on_reinvite_response(call, to, resp, now),
            TxOwner::TrunkReg(id) => self.on_trunk_register_response(id, &resp, now),
            TxOwner::Originate { call } => self.on_originate_response(call, resp, now),
            TxOwner::Transfer { call } => self.on_transfer_response(call, resp, now),
            TxOwner::Consult { call } => self.on_consult_response(call, resp, now),
            TxOwner::MediaUpdate { call, side } => self.on_media_update_response(call, side, resp, now),
            TxOwner::Notify(key) => {
                if resp.status >= 200 {
                    self.on_notify_answered(&key, resp.status, now);
                }
            }
            TxOwner::Fire => {}
        }
    }

    pub(super) fn on_client_failure(&mut self, owner: TxOwner, status: u16, reason: &str, now: Now) {
        match owner {
            TxOwner::Fork { call, fork } => self.on_fork_failed(call, fork, status, reason, now),
            TxOwner::Reinvite { call, to } => {
                let mut r = Response { status, reason: reason.to_string(), headers: Default::default(), body: Vec::new() };
                r.headers.push(HeaderName::CSeq, "1 INVITE");
                self.on_reinvite_response(call, to, r, now);
            }
            TxOwner::TrunkReg(id) => {
                let r = Response { status, reason: reason.to_string(), headers: Default::default(), body: Vec::new() };
                self.on_trunk_register_response(id, &r, now);
            }
            TxOwner::Originate { call } => {
                let r = Response { status, reason: reason.to_string(), headers: Default::default(), body: Vec::new() };
                self.on_originate_response(call, r, now);
            }
            TxOwner::Transfer { call } => {
                let r = Response { status, reason: reason.to_string(), headers: Default::default(), body: Vec::new() };
                self.on_transfer_response(call, r, now);
            }
            TxOwner::Consult { call } => {
                let r = Response { status, reason: reason.to_string(), headers: Default::default(), body: Vec::new() };
                self.on_consult_response(call, r, now);
            }
            TxOwner::MediaUpdate { call, side } => self.media_update_done(call, side, now),
            TxOwner::Notify(key) => self.on_notify_answered(&key, status.max(300), now),
            TxOwner::Fire => {}
        }
    }

    fn on_fork_response(&mut self, key: CallKey, fork: usize, resp: Response, now: Now) {
        let _span = self.call_span(key).entered();
        if (resp.status == 401 || resp.status == 407) && self.retry_fork_with_auth(key, fork, &resp, now) {
            return;
        }
        if resp.status >= 300 {
            return self.on_fork_failed(key, fork, resp.status, &resp.reason, now);
        }
        let Some(call) = self.calls.get_mut(&key) else {
            // The call is gone: a late 2xx must still be acknowledged and ended.
            if resp.status >= 200 {
                self.ack_and_bye_stray(key, fork, &resp, now);
            }
            return;
        };
        let Some(f) = call.forks.get_mut(fork) else { return };
        if let Some(tag) = resp.parsed_to().and_then(|t| t.tag().map(str::to_string))
            && f.dialog.remote_tag.is_none()
        {
            f.dialog.remote_tag = Some(tag);
            if let Some(to) = resp.headers.get(&HeaderName::To) {
                f.dialog.remote_hdr = to.to_string();
            }
        }
        if let Some(c) = resp.contacts().into_iter().next() {
            f.dialog.remote_target = c.uri;
        }
        if resp.status < 200 {
            if resp.status == 100 {
                return;
            }
            f.state = ForkState::Early;
            if f.cancel_pending {
                f.cancel_pending = false;
                self.send_cancel(key, fork, now);
                return;
            }
            if call.state != CallState::Ringing {
                return;
            }
            let first_ring = !call.forks.iter().any(|f| f.state == ForkState::Early && !std::ptr::eq(f, &call.forks[fork]));
            if call.a_answered {
                if first_ring {
                    self.timeline(key, "ringing", String::new(), now);
                }
                return;
            }
            let Some(call) = self.calls.get_mut(&key) else { return };
            let Some(f) = call.forks.get_mut(fork) else { return };
            // Early media from this phone is bridged to the caller.
            let early = if resp.status == 183 && !resp.body.is_empty() { Sdp::parse(&resp.body).ok() } else { None };
            let signal = f.dialog.flow.addr;
            let mut a_resp = call.a_invite.response(if early.is_some() { 183 } else { 180 }, "", Some(&call.a.local_tag));
            a_resp.reason = if early.is_some() { "Session Progress".into() } else { "Ringing".into() };
            a_resp.headers.push(HeaderName::Contact, String::new());
            if let (Some(b_sdp), false) = (&early, call.late_offer) {
                let b_formats = b_sdp.audio().map(|m| m.formats.clone()).unwrap_or_default();
                self.media.set_remote(call.media_id, Side::B, remote_params(b_sdp, signal, &b_formats));
                if let Some(a_sdp) = self.a_answer_sdp(key, &b_formats, b_sdp.audio_direction()) {
                    a_resp.headers.push(HeaderName::ContentType, "application/sdp");
                    a_resp.body = a_sdp.to_bytes();
                }
            } else if early.is_some() {
                a_resp.status = 180;
                a_resp.reason = "Ringing".into();
            }
            self.send_to_caller(key, a_resp, now);
            if first_ring {
                self.timeline(key, "ringing", String::new(), now);
            }
            return;
        }
        // 2xx.
        if call.state != CallState::Ringing || call.winner.is_some() {
            self.ack_and_bye_stray(key, fork, &resp, now);
            return;
        }
        call.winner = Some(fork);
        f.state = ForkState::Answered;
        let mut rr: Vec<String> = resp.headers.list(&HeaderName::RecordRoute);
        rr.reverse();
        f.dialog.route_set = rr;
        let signal = f.dialog.flow.addr;
        let callee_user = f.user_id;
        let transport = f.dialog.flow.transport;
        // ACK the answer.
        let via = self.new_via(transport);
        let contact = self.contact(transport);
        let Some(call) = self.calls.get_mut(&key) else { return };
        let f = &mut call.forks[fork];
        let ack = f.dialog.request(Method::Ack, &via, &contact);
        let ack_seq = f.invite.cseq().map(|c| c.seq).unwrap_or(1);
        let mut ack = ack;
        ack.headers.set(HeaderName::CSeq, format!("{ack_seq} ACK"));
        let flow = f.dialog.flow;
        let b_sdp = Sdp::parse(&resp.body).ok();
        let fork_tx = f.tx;
        self.txl.send_request(&ack, flow, now.mono);
        self.txl.set_ack(fork_tx, &ack);
        // Cancel the other phones.
        self.cancel_pending_forks(key, Some(fork), now);
        let Some(b_sdp) = b_sdp else {
            tracing::warn!("callee answered without SDP");
            self.hangup(key, HangupBy::System, "answer without SDP", now);
            return;
        };
        let b_formats = b_sdp.audio().map(|m| m.formats.clone()).unwrap_or_default();
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.b_media.remote = Some(b_sdp.clone());
        call.b_media.formats = b_formats.clone();
        self.media.set_remote(call.media_id, Side::B, remote_params(&b_sdp, signal, &b_formats));
        self.media.detect_inband(call.media_id, Side::B, !b_formats.iter().any(sdp::is_telephone_event));
        self.callee_answered(key, callee_user, &b_formats, b_sdp.audio_direction(), now);
    }

    /// The callee's leg answered with `b_formats` (a phone's 200, or a colleague who picked
    /// the call up): the rest of the dial stops, the caller is answered (or, answered by the
    /// PBX already, bridged), and the call log, events, billing and queue hear of it.
    pub(super) fn callee_answered(
        &mut self,
        key: CallKey,
        callee_user: Option<i64>,
        b_formats: &[Format],
        b_direction: Direction,
        now: Now,
    ) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        if let Some(s) = call.scenario.as_mut() {
            s.runner.connected();
            s.dialing = false;
        }
        call.plan.clear();
        if let Some(t) = call.step_timer.take() {
            self.timers.cancel(t);
        }
        if let (Some((gid, _)), Some(u)) = (&call.via, callee_user) {
            self.round_robin.insert(*gid, u);
        }
        if call.a_answered {
            // The caller was answered by the PBX: bridging is all that is left.
            call.state = CallState::Answered;
            call.answered_ms = Some(now.wall_ms);
            if callee_user.is_some() {
                call.callee.user_id = callee_user;
            }
            if let Some(t) = call.ring_timer.take() {
                self.timers.cancel(t);
            }
            let uid = call.uid.clone();
            self.actions.push_back(Action::Cdr { op: CallOp::Answer { id: uid, at: now.wall_ms, callee_user_id: callee_user }, ack: None });
            tracing::info!("answered");
            self.notify(key, EventData::Answered { extension: self.ext_of(callee_user), by_pbx: false }, now);
            self.on_bridged(key, now);
            self.billing_answered(key, now);
            if let Some(c) = self.calls.get_mut(&key)
                && let Some(o) = c.origin.as_mut()
            {
                o.customer_answered = true;
            }
            if self.calls.get(&key).is_some_and(|c| c.queue.is_some()) {
                self.queue_connected(key, callee_user, now);
            }
            return;
        }
        let a_sdp = self.a_answer_sdp(key, b_formats, b_direction);
        let Some(call) = self.calls.get_mut(&key) else { return };
        if let Some(ref a_sdp) = a_sdp
            && let (Some(a_remote), false) = (&call.a_offer, call.late_offer)
        {
            let a_formats = a_sdp.audio().map(|m| m.formats.clone()).unwrap_or_default();
            let params = remote_params(a_remote, call.a.flow.addr, &a_formats);
            self.media.set_remote(call.media_id, Side::A, params);
        }
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.state = CallState::Answered;
        call.answered_ms = Some(now.wall_ms);
        if callee_user.is_some() {
            call.callee.user_id = callee_user;
        }
        if let Some(t) = call.ring_timer.take() {
            self.timers.cancel(t);
        }
        let mut ok = call.a_invite.response(200, "OK", Some(&call.a.local_tag));
        for rr in call.a_invite.headers.list(&HeaderName::RecordRoute) {
            ok.headers.push(HeaderName::RecordRoute, rr);
        }
        ok.headers.push(HeaderName::Contact, String::new());
        ok.headers.push(HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE");
        if let Some(si) = call.session_interval {
            ok.headers.push(HeaderName::Require, "timer");
            ok.headers.push(HeaderName::SessionExpires, format!("{si};refresher=uac"));
        }
        if let Some(a_sdp) = a_sdp {
            ok.headers.push(HeaderName::ContentType, "application/sdp");
            ok.body = a_sdp.to_bytes();
        }
        let uid = call.uid.clone();
        let session_interval = call.session_interval;
        self.actions
            .push_back(Action::Cdr { op: CallOp::Answer { id: uid.clone(), at: now.wall_ms, callee_user_id: callee_user }, ack: None });
        tracing::info!("answered");
        self.notify(key, EventData::Answered { extension: self.ext_of(callee_user), by_pbx: false }, now);
        self.send_to_caller(key, ok, now);
        self.on_bridged(key, now);
        self.billing_answered(key, now);
        if self.calls.get(&key).is_some_and(|c| c.queue.is_some()) {
            self.queue_connected(key, callee_user, now);
        }
        if let Some(si) = session_interval {
            let t = self.timers.schedule(now.mono + Duration::from_secs(u64::from(si)), EngineTimer::SessionExpired(key));
            if let Some(call) = self.calls.get_mut(&key) {
                call.session_timer = Some(t);
            }
        }
    }

    /// The caller-side SDP that answers (or, for a late offer, offers) the codecs the callee
    /// chose.
    fn a_answer_sdp(&mut self, key: CallKey, b_formats: &[Format], b_direction: Direction) -> Option<Sdp> {
        let public_ip = self.cfg.public_ip;
        let call = self.calls.get_mut(&key)?;
        let formats: Vec<Format> = if call.late_offer {
            b_formats.to_vec()
        } else {
            let same = |a: &Format, b: &Format| a.name.eq_ignore_ascii_case(&b.name) && a.rate == b.rate;
            let mut v: Vec<Format> = b_formats.iter().filter_map(|b| call.a_media.formats.iter().find(|a| same(a, b)).cloned()).collect();
            if v.is_empty() {
                v = call.a_media.formats.iter().take(1).cloned().collect();
            }
            v
        };
        call.a_media.formats = formats.clone();
        call.a_media.direction = b_direction;
        let sdp = sdp::build(
            call.a_media.session_id,
            call.a_media.version,
            public_ip,
            call.a_media.port,
            formats,
            b_direction,
            call.a_offer.as_ref(),
        );
        Some(sdp)
    }

    /// Sends a response to the caller's INVITE, filling in our Contact.
    pub(super) fn send_to_caller(&mut self, key: CallKey, mut resp: Response, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        let Some(tx) = call.a_tx else { return };
        let contact = self.contact(call.a.flow.transport);
        for h in resp.headers.0.iter_mut() {
            if h.name == HeaderName::Contact && h.value.is_empty() {
                h.value = contact.clone();
            }
        }
        let target = call.a_resp_target;
        let final_resp = resp.status >= 200;
        self.respond(Some(tx), resp, target, now);
        if final_resp && let Some(call) = self.calls.get_mut(&key) {
            call.a_tx = None;
        }
    }

    fn on_fork_failed(&mut self, key: CallKey, fork: usize, status: u16, reason: &str, now: Now) {
        let _span = self.call_span(key).entered();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(f) = call.forks.get_mut(fork) else { return };
        let was_ringing = f.state != ForkState::Done;
        f.state = ForkState::Done;
        f.fail_status = Some(status);
        if was_ringing {
            self.notify_ring_stopped(key, &[fork], super::notify::stop_reason(status), now);
        }
        let Some(call) = self.calls.get_mut(&key) else { return };
        let rank = |s: u16| match s {
            600 | 486 => 0,
            603 => 1,
            480 | 408 | 487 => 3,
            _ => 2,
        };
        let better = match &call.best_failure {
            None => true,
            Some((s, _)) => rank(status) < rank(*s),
        };
        if better {
            call.best_failure = Some((status, reason.to_string()));
        }
        let all_done = call.forks.iter().all(|f| f.state == ForkState::Done);
        if all_done && call.state == CallState::Ringing && call.winner.is_none() {
            // The ringing step failed: its forwarding or the next step, else the dial failed.
            let first = call.step_first_fork.min(call.forks.len());
            let step_status = call.forks[first..].iter().filter_map(|f| f.fail_status).min_by_key(|s| rank(*s)).unwrap_or(480);
            let (status, _) = call.best_failure.clone().unwrap_or((480, "Temporarily Unavailable".into()));
            if self.step_failed(key, super::dialplan::StepFailure::from_status(step_status), now) {
                return;
            }
            self.dial_failed(key, status, now);
        }
    }

    pub(super) fn on_ring_timeout(&mut self, key: CallKey, now: Now) {
        let _span = self.call_span(key).entered();
        let Some(call) = self.calls.get(&key) else { return };
        if call.state != CallState::Ringing {
            return;
        }
        tracing::info!("no answer");
        if let Some(call) = self.calls.get_mut(&key) {
            call.plan.clear();
            call.redirects = None;
            if let Some(t) = call.step_timer.take() {
                self.timers.cancel(t);
            }
        }
        if self.queue_offer_failed(key, now) {
            return;
        }
        if self.scenario_dial_ended(key, pbx_plugin_host::DialOutcome::NoAnswer, now) {
            return;
        }
        if self.farewell_if_answered(key, now) {
            return;
        }
        self.finish_unanswered(key, 480, Disposition::Missed, "no answer", HangupBy::System, now);
    }

    /// Ends a call that was never answered: final response to the caller, CANCEL to phones
    /// still ringing, call-log row completed.
    pub(super) fn finish_unanswered(&mut self, key: CallKey, a_status: u16, disposition: Disposition, cause: &str, by: HangupBy, now: Now) {
        if !self.calls.contains_key(&key) {
            return;
        }
        self.cancel_pending_forks(key, None, now);
        if let Some(call) = self.calls.get(&key)
            && call.a_answered
        {
            // The caller's call was answered by the PBX: end it with a BYE (unless the caller
            // is the one who hung up).
            if by != HangupBy::Caller {
                self.send_bye(key, Side::A, now);
            }
        } else if let Some(call) = self.calls.get(&key)
            && call.a_tx.is_some()
        {
            let reason = if a_status == 480 && cause == "no answer" { "No Answer" } else { Response::default_reason(a_status) };
            let resp = call.a_invite.response(a_status, reason, Some(&call.a.local_tag));
            self.send_to_caller(key, resp, now);
        }
        self.close_call(key, disposition, cause, by, now);
    }

    /// A caller the PBX answered hears "not available" before the call ends; true if so.
    pub(super) fn farewell_if_answered(&mut self, key: CallKey, now: Now) -> bool {
        let Some(call) = self.calls.get(&key) else { return false };
        if !call.a_answered || call.playing.is_some_and(|(_, p)| p == PlayPurpose::Farewell) {
            return false;
        }
        let tenant = call.tenant.clone();
        if let Some(t) = self.calls.get_mut(&key).and_then(|c| c.ring_timer.take()) {
            self.timers.cancel(t);
        }
        self.cancel_pending_forks(key, None, now);
        let Some(msg) = self.dir.prompt(&tenant, "not-available") else { return false };
        self.play_to_caller(key, vec![msg], PlayPurpose::Farewell, now);
        true
    }

    /// Cancels every phone of the call still ringing (or not yet answering), except `keep`
    /// (the one that just answered).
    pub(super) fn cancel_pending_forks(&mut self, key: CallKey, keep: Option<usize>, now: Now) {
        let pending = self.ringing_forks(key, keep);
        let reason = if keep.is_some() { "answered_elsewhere" } else { "cancelled" };
        self.notify_ring_stopped(key, &pending, reason, now);
        for i in pending {
            self.cancel_fork(key, i, now);
        }
    }

    pub(super) fn cancel_fork(&mut self, key: CallKey, fork: usize, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(f) = call.forks.get_mut(fork) else { return };
        match f.state {
            ForkState::Calling => {
                // RFC 3261 §9.1: no CANCEL before a provisional response.
                f.cancel_pending = true;
                f.state = ForkState::Done;
            }
            ForkState::Early => {
                f.state = ForkState::Done;
                self.send_cancel(key, fork, now);
            }
            _ => {}
        }
    }

    fn send_cancel(&mut self, key: CallKey, fork: usize, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        let Some(f) = call.forks.get(fork) else { return };
        let (inv, flow) = (f.invite.clone(), f.dialog.flow);
        self.cancel_invite(&inv, flow, now);
    }

    /// A 2xx from a phone that lost the race (or whose call is gone): ACK it, then BYE.
    fn ack_and_bye_stray(&mut self, key: CallKey, fork: usize, resp: &Response, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(f) = call.forks.get_mut(fork) else { return };
        f.state = ForkState::Done;
        if let Some(tag) = resp.parsed_to().and_then(|t| t.tag().map(str::to_string)) {
            f.dialog.remote_tag = Some(tag);
            if let Some(to) = resp.headers.get(&HeaderName::To) {
                f.dialog.remote_hdr = to.to_string();
            }
        }
        if let Some(c) = resp.contacts().into_iter().next() {
            f.dialog.remote_target = c.uri;
        }
        let mut d = f.dialog.clone();
        let seq = f.invite.cseq().map(|c| c.seq).unwrap_or(1);
        let via = self.new_via(d.flow.transport);
        let contact = self.contact(d.flow.transport);
        let mut ack = d.request(Method::Ack, &via, &contact);
        ack.headers.set(HeaderName::CSeq, format!("{seq} ACK"));
        self.txl.send_request(&ack, d.flow, now.mono);
        let via = self.new_via(d.flow.transport);
        let bye = d.request(Method::Bye, &via, &contact);
        let tx = self.txl.send_request(&bye, d.flow, now.mono);
        self.client_tx.insert(tx, TxOwner::Fire);
    }

    /// A CANCEL from the caller.
    pub(super) fn on_cancel(&mut self, req: Request, tx: Option<TxId>, resp_target: Target, now: Now) {
        let invite_tx = self.txl.find_invite_for_cancel(&req);
        let Some(invite_tx) = invite_tx else {
            return self.simple_response(tx, &req, 481, resp_target, now);
        };
        self.simple_response(tx, &req, 200, resp_target, now);
        let Some(&key) = self.invite_tx.get(&invite_tx) else { return };
        let _span = self.call_span(key).entered();
        let Some(call) = self.calls.get(&key) else { return };
        if call.state == CallState::Answered || call.a_tx.is_none() {
            return;
        }
        tracing::info!("caller cancelled");
        self.finish_unanswered(key, 487, Disposition::Missed, "CANCEL", HangupBy::Caller, now);
    }

    /// Ends a call from any state: answers, BYEs and CANCELs as needed.
    pub(super) fn hangup(&mut self, key: CallKey, by: HangupBy, cause: &str, now: Now) {
        let _span = self.call_span(key).entered();
        let Some(call) = self.calls.get(&key) else { return };
        match call.state {
            CallState::Originating => {
                if let Some(c) = self.calls.get_mut(&key) {
                    c.origin = None;
                }
                self.on_originate_timeout(key, now);
            }
            CallState::LoggingStart | CallState::Greeting | CallState::Ringing | CallState::Scenario => {
                let status = if by == HangupBy::Caller { 487 } else { 480 };
                self.finish_unanswered(key, status, Disposition::Missed, cause, by, now);
            }
            CallState::Answered => {
                if by != HangupBy::Caller {
                    self.send_bye(key, Side::A, now);
                }
                if by != HangupBy::Callee {
                    self.send_bye(key, Side::B, now);
                }
                self.close_call(key, Disposition::Answered, cause, by, now);
            }
        }
    }

    fn send_bye(&mut self, key: CallKey, side: Side, now: Now) {
        let Some(transport) = self.calls.get_mut(&key).and_then(|c| leg_dialog(c, side)).map(|d| d.flow.transport) else { return };
        let via = self.new_via(transport);
        let user_agent = self.cfg.user_agent.clone();
        let Some(dialog) = self.calls.get_mut(&key).and_then(|c| leg_dialog(c, side)) else { return };
        let mut bye = dialog.request(Method::Bye, &via, "");
        bye.headers.push(HeaderName::UserAgent, user_agent);
        let flow = dialog.flow;
        let tx = self.txl.send_request(&bye, flow, now.mono);
        self.client_tx.insert(tx, TxOwner::Fire);
    }

    /// Releases everything a call holds and completes its call-log row.
    pub(super) fn close_call(&mut self, key: CallKey, disposition: Disposition, cause: &str, by: HangupBy, now: Now) {
        self.notify_ended(key, disposition, cause, by.as_str(), now);
        self.reserve_recording_event(key);
        self.timeline(key, "hangup", format!("{cause}; {}", by.as_str()), now);
        self.drop_consult(key, now);
        self.drop_transfer(key, now);
        if let Some(op) = self.legs_op(key, disposition == Disposition::Answered) {
            self.actions.push_back(Action::Cdr { op, ack: None });
        }
        self.queue_call_closed(key, now);
        let customer = self.calls.get(&key).and_then(|c| c.origin.as_ref()).is_some_and(|o| o.customer_answered);
        self.callback_closed(key, customer, now);
        let Some(call) = self.calls.remove(&key) else { return };
        self.counts.remove(key);
        let _span = call.span.clone().entered();
        if let Some(t) = call.ring_timer {
            self.timers.cancel(t);
        }
        if let Some(t) = call.session_timer {
            self.timers.cancel(t);
        }
        if let Some(t) = call.step_timer {
            self.timers.cancel(t);
        }
        if let Some(s) = &call.scenario {
            for t in [s.plugin_timer, s.gather.as_ref().and_then(|g| g.timer)].into_iter().flatten() {
                self.timers.cancel(t);
            }
        }
        self.a_dialogs.remove(&(call.a.call_id.clone(), call.a.local_tag.clone()));
        for f in &call.forks {
            self.b_dialogs.remove(&f.dialog.call_id);
        }
        self.invite_tx.retain(|_, k| *k != key);
        self.client_tx.retain(|_, o| match o {
            TxOwner::Fork { call: c, .. }
            | TxOwner::Reinvite { call: c, .. }
            | TxOwner::Originate { call: c }
            | TxOwner::Transfer { call: c }
            | TxOwner::Consult { call: c }
            | TxOwner::MediaUpdate { call: c, .. } => *c != key,
            TxOwner::TrunkReg(_) | TxOwner::Notify(_) | TxOwner::Fire => true,
        });
        self.media_calls.remove(&call.media_id);
        self.media.destroy(call.media_id);
        let talk = call.answered_ms.map(|a| ((now.wall_ms - a).max(0)) / 1000).unwrap_or(0);
        self.billing_ended(key, &call.uid, talk, now);
        self.actions.push_back(Action::Cdr {
            op: CallOp::End(CallEnd {
                id: call.uid.clone(),
                ended_at: now.wall_ms,
                disposition,
                hangup_cause: cause.to_string(),
                hangup_side: by.as_str().into(),
                talk_seconds: talk,
                callee_user_id: call.winner.and_then(|w| call.forks.get(w)).and_then(|f| f.user_id),
            }),
            ack: None,
        });
        self.metrics.active_calls.fetch_sub(1, Ordering::Relaxed);
        if disposition == Disposition::Answered {
            self.metrics.calls_answered.fetch_add(1, Ordering::Relaxed);
        } else {
            self.metrics.calls_unanswered.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(from = %call.caller.number, to = %call.callee.number, disposition = disposition.as_str(), cause, by = by.as_str(), talk_seconds = talk, "call ended");
        drop(_span);
        if !self.queues.is_empty() {
            // Someone may have become free for a waiting caller.
            self.on_queue_tick(false, now);
        }
    }
}

/// The dialog of one side of an answered call.
pub(super) fn leg_dialog(call: &mut Call, side: Side) -> Option<&mut Dialog> {
    match side {
        Side::A => Some(&mut call.a),
        Side::B => {
            let w = call.winner?;
            call.forks.get_mut(w).map(|f| &mut f.dialog)
        }
    }
}

impl Engine {
    /// The log span of a call (tenant and call id), or a disabled span.
    pub(super) fn call_span(&self, key: CallKey) -> tracing::Span {
        self.touched.set(Some(key));
        self.calls.get(&key).map(|c| c.span.clone()).unwrap_or_else(tracing::Span::none)
    }
}
