//! Requests within an established call: BYE, ACK, re-INVITE (hold and resume carried to the
//! other leg), UPDATE, INFO and OPTIONS.

use super::b2bua::{leg_dialog, remote_params};
use super::call::*;
use super::{Engine, EngineTimer, Now};
use pbx_media::Side;
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, Response, SipMessage};
use pbx_sip::method::Method;
use pbx_sip::sdp::{self, Sdp};
use pbx_sip::transaction::{Target, TxId};
use std::time::Duration;

impl Engine {
    /// Finds the call and side a mid-dialog request belongs to.
    fn find_dialog(&self, req: &Request) -> Option<(CallKey, Side)> {
        let call_id = req.call_id();
        let to_tag = req.parsed_to().and_then(|t| t.tag().map(str::to_string))?;
        if let Some(&key) = self.a_dialogs.get(&(call_id.to_string(), to_tag.clone())) {
            return Some((key, Side::A));
        }
        let &(key, fork) = self.b_dialogs.get(call_id)?;
        let call = self.calls.get(&key)?;
        let f = call.forks.get(fork)?;
        (f.dialog.local_tag == to_tag && call.winner == Some(fork)).then_some((key, Side::B))
    }

    pub(super) fn on_ack(&mut self, req: Request, _source: Target, _now: Now) {
        let Some((key, side)) = self.find_dialog(&req) else { return };
        if side != Side::A || req.body.is_empty() {
            return;
        }
        // The answer to the offer we made in a 200 OK (late offer or offerless re-INVITE).
        let Ok(answer) = Sdp::parse(&req.body) else { return };
        let Some(call) = self.calls.get_mut(&key) else { return };
        let a_formats = answer.audio().map(|m| m.formats.clone()).unwrap_or_default();
        call.a_media.formats = a_formats.clone();
        let params = remote_params(&answer, call.a.flow.addr, &a_formats);
        call.a_media.remote = Some(answer);
        self.media.set_remote(call.media_id, Side::A, params);
    }

    pub(super) fn on_in_dialog(&mut self, req: Request, tx: Option<TxId>, _source: Target, resp_target: Target, now: Now) {
        if let Some(&key) = self.consult_dialogs.get(req.call_id()) {
            return self.on_consult_request(key, req, tx, resp_target, now);
        }
        let Some((key, side)) = self.find_dialog(&req) else {
            return self.simple_response(tx, &req, 481, resp_target, now);
        };
        let _span = self.call_span(key).entered();
        // The simulation's fault injection: a handler that panics half-way through a call.
        #[cfg(test)]
        if req.headers.get(&HeaderName::Other("X-Sim-Fault".into())).is_some() {
            panic!("injected fault");
        }
        if let Some(d) = self.calls.get_mut(&key).and_then(|c| leg_dialog(c, side)) {
            let seq = req.cseq().map(|c| c.seq);
            if let (Some(seq), Some(last)) = (seq, d.remote_seq)
                && seq < last
                && req.method != Method::Ack
            {
                let r = req.response(500, "CSeq out of order", None);
                return self.respond(tx, r, resp_target, now);
            }
            d.remote_seq = seq.or(d.remote_seq);
        }
        match req.method {
            Method::Bye => {
                let r = req.response(200, "OK", None);
                self.respond(tx, r, resp_target, now);
                if self.consult_transferor_left(key, side, now) {
                    return;
                }
                if self.transferor_left(key, side) {
                    self.timeline(key, "transfer", "the transferor hung up".into(), now);
                    return;
                }
                let by = if side == Side::A { HangupBy::Caller } else { HangupBy::Callee };
                self.hangup(key, by, "BYE", now);
            }
            Method::Invite => self.on_reinvite(key, side, req, tx, resp_target, now),
            Method::Update => {
                self.refresh_session_timer(key, side, now);
                let mut r = req.response(200, "OK", None);
                if !req.body.is_empty()
                    && let Some(sdp) = self.current_local_sdp(key, side, true)
                {
                    r.headers.push(HeaderName::ContentType, "application/sdp");
                    r.body = sdp.to_bytes();
                }
                self.add_contact(key, side, &mut r);
                self.respond(tx, r, resp_target, now);
            }
            Method::Info => {
                let r = req.response(200, "OK", None);
                self.respond(tx, r, resp_target, now);
                let ct = req.headers.get(&HeaderName::ContentType).unwrap_or("").to_string();
                if let Some(d) = pbx_media::dtmf::parse_info(&ct, &req.body) {
                    self.on_dtmf(key, side, d, pbx_media::dtmf::DtmfSource::Info, now);
                }
                if self.calls.get(&key).is_some_and(|c| c.state == CallState::Answered) {
                    self.relay_info(key, side.other(), &req, now);
                }
            }
            Method::Refer => self.on_refer(key, side, req, tx, resp_target, now),
            Method::Notify => {
                let r = req.response(200, "OK", None);
                self.respond(tx, r, resp_target, now);
            }
            Method::Options => {
                let mut r = req.response(200, "OK", None);
                r.headers.push(HeaderName::Allow, self.policy.allow_header());
                self.respond(tx, r, resp_target, now);
            }
            _ => {
                let mut r = req.response(501, "Not Implemented", None);
                r.headers.push(HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE");
                self.respond(tx, r, resp_target, now);
            }
        }
    }

    fn add_contact(&self, key: CallKey, side: Side, r: &mut Response) {
        let transport = self.calls.get(&key).and_then(|c| match side {
            Side::A => Some(c.a.flow.transport),
            Side::B => c.winner.and_then(|w| c.forks.get(w)).map(|f| f.dialog.flow.transport),
        });
        if let Some(t) = transport {
            r.headers.push(HeaderName::Contact, self.contact(t));
        }
    }

    fn refresh_session_timer(&mut self, key: CallKey, side: Side, now: Now) {
        if side != Side::A {
            return;
        }
        let Some(call) = self.calls.get_mut(&key) else { return };
        let (Some(si), Some(t)) = (call.session_interval, call.session_timer.take()) else { return };
        self.timers.cancel(t);
        let t = self.timers.schedule(now.mono + Duration::from_secs(u64::from(si)), EngineTimer::SessionExpired(key));
        if let Some(call) = self.calls.get_mut(&key) {
            call.session_timer = Some(t);
        }
    }

    /// Our SDP towards a side, optionally as a new version.
    fn current_local_sdp(&mut self, key: CallKey, side: Side, bump: bool) -> Option<Sdp> {
        let ip = self.cfg.public_ip;
        let call = self.calls.get_mut(&key)?;
        let leg = match side {
            Side::A => &mut call.a_media,
            Side::B => &mut call.b_media,
        };
        if bump {
            leg.version += 1;
        }
        Some(sdp::build(leg.session_id, leg.version, ip, leg.port, leg.formats.clone(), leg.direction, leg.remote.as_ref()))
    }

    fn on_reinvite(&mut self, key: CallKey, side: Side, req: Request, tx: Option<TxId>, resp_target: Target, now: Now) {
        let Some(tx) = tx else { return };
        let Some(call) = self.calls.get(&key) else { return };
        // Glare (RFC 3261 §14.2): a re-INVITE of the PBX's own is pending, or a consultation
        // has moved the transferor's media (a relayed offer would move it back).
        if call.state != CallState::Answered || call.reinvite.is_some() || call.updating.contains(&true) || call.consult.is_some() {
            let r = req.response(491, "Request Pending", None);
            return self.respond(Some(tx), r, resp_target, now);
        }
        self.refresh_session_timer(key, side, now);
        if req.body.is_empty() {
            // An offerless re-INVITE (refresh): offer our current SDP, the answer comes in ACK.
            let mut r = req.response(200, "OK", None);
            if let Some(sdp) = self.current_local_sdp(key, side, false) {
                r.headers.push(HeaderName::ContentType, "application/sdp");
                r.body = sdp.to_bytes();
            }
            self.add_session_expires(key, side, &mut r);
            self.add_contact(key, side, &mut r);
            return self.respond(Some(tx), r, resp_target, now);
        }
        let offer = match Sdp::parse(&req.body) {
            Ok(o) => o,
            Err(e) => {
                let r = req.response(400, &format!("Malformed SDP: {e}"), None);
                return self.respond(Some(tx), r, resp_target, now);
            }
        };
        let direction = offer.audio_direction();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let flow_addr = match side {
            Side::A => call.a.flow.addr,
            Side::B => call.winner.and_then(|w| call.forks.get(w)).map(|f| f.dialog.flow.addr).unwrap_or(call.a.flow.addr),
        };
        let (this_leg, other_leg) = match side {
            Side::A => (&mut call.a_media, &call.b_media),
            Side::B => (&mut call.b_media, &call.a_media),
        };
        let offered: Vec<_> = offer.audio().map(|m| m.formats.clone()).unwrap_or_default();
        let same = |a: &sdp::Format, b: &sdp::Format| a.name.eq_ignore_ascii_case(&b.name) && a.rate == b.rate;
        let still: Vec<_> = this_leg.formats.iter().filter(|f| offered.iter().any(|o| same(o, f))).cloned().collect();
        if still.iter().all(sdp::is_telephone_event) {
            let mut r = req.response(488, "Not Acceptable Here", None);
            r.headers.push(HeaderName::Warning, "305 pbx \"the re-INVITE drops the call's codec\"");
            return self.respond(Some(tx), r, resp_target, now);
        }
        // Keep the offerer's payload numbers for the formats still in use.
        let still: Vec<_> = offered.iter().filter(|o| still.iter().any(|f| same(o, f))).cloned().collect();
        this_leg.formats = still.clone();
        this_leg.remote = Some(offer.clone());
        let _ = other_leg;
        let media_id = call.media_id;
        let params = remote_params(&offer, flow_addr, &still);
        self.media.set_remote(media_id, side, params);
        self.on_hold_change(key, side, direction, now);
        // Relay the offer to the other leg with our SDP and the offerer's direction.
        let other = side.other();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let other_media = match other {
            Side::A => &mut call.a_media,
            Side::B => &mut call.b_media,
        };
        other_media.version += 1;
        other_media.direction = direction;
        let relay_sdp = sdp::build(
            other_media.session_id,
            other_media.version,
            self.cfg.public_ip,
            other_media.port,
            other_media.formats.clone(),
            direction,
            None,
        );
        call.reinvite = Some(PendingReinvite { from: side, server_tx: tx, req, resp_target });
        let Some(transport) = leg_dialog(call, other).map(|d| d.flow.transport) else { return };
        let via = self.new_via(transport);
        let contact = self.contact(transport);
        let Some(d) = self.calls.get_mut(&key).and_then(|c| leg_dialog(c, other)) else { return };
        let mut reinvite = d.request(Method::Invite, &via, &contact);
        reinvite.headers.push(HeaderName::ContentType, "application/sdp");
        reinvite.body = relay_sdp.to_bytes();
        let flow = d.flow;
        let ctx = self.txl.send_request(&reinvite, flow, now.mono);
        self.client_tx.insert(ctx, TxOwner::Reinvite { call: key, to: other });
    }

    fn add_session_expires(&self, key: CallKey, side: Side, r: &mut Response) {
        if side != Side::A {
            return;
        }
        if let Some(si) = self.calls.get(&key).and_then(|c| c.session_interval) {
            r.headers.push(HeaderName::Require, "timer");
            r.headers.push(HeaderName::SessionExpires, format!("{si};refresher=uac"));
        }
    }

    pub(super) fn on_reinvite_response(&mut self, key: CallKey, to: Side, resp: Response, now: Now) {
        let _span = self.call_span(key).entered();
        if resp.status < 200 {
            return;
        }
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(pending) = call.reinvite.take() else { return };
        if resp.status >= 300 {
            // Relay the refusal to the offerer.
            let status = if resp.status == 491 { 491 } else { resp.status };
            let mut r = pending.req.response(status, &resp.reason, None);
            if r.reason.is_empty() {
                r.reason = Response::default_reason(status).into();
            }
            return self.respond(Some(pending.server_tx), r, pending.resp_target, now);
        }
        // ACK the 2xx.
        let Some(transport) = leg_dialog(call, to).map(|d| d.flow.transport) else { return };
        let via = self.new_via(transport);
        let Some(d) = self.calls.get_mut(&key).and_then(|c| leg_dialog(c, to)) else { return };
        if let Some(c) = resp.contacts().into_iter().next() {
            d.remote_target = c.uri;
        }
        let seq = d.local_seq;
        let mut ack = d.request(Method::Ack, &via, "");
        ack.headers.set(HeaderName::CSeq, format!("{seq} ACK"));
        let flow = d.flow;
        self.txl.send_request(&ack, flow, now.mono);
        let answer = Sdp::parse(&resp.body).ok();
        let Some(call) = self.calls.get_mut(&key) else { return };
        let answer_direction = answer.as_ref().map(|a| a.audio_direction()).unwrap_or(sdp::Direction::SendRecv);
        if let Some(answer) = &answer {
            let (leg, other_formats) = match to {
                Side::A => (&mut call.a_media, call.b_media.formats.clone()),
                Side::B => (&mut call.b_media, call.a_media.formats.clone()),
            };
            let formats: Vec<_> = answer.audio().map(|m| m.formats.clone()).unwrap_or_default();
            leg.remote = Some(answer.clone());
            let _ = other_formats;
            let params = remote_params(answer, flow.addr, &formats);
            self.media.set_remote(call.media_id, to, params);
        }
        // Answer the offerer.
        let Some(call) = self.calls.get_mut(&key) else { return };
        let from_leg = match pending.from {
            Side::A => &mut call.a_media,
            Side::B => &mut call.b_media,
        };
        from_leg.version += 1;
        from_leg.direction = answer_direction;
        let sdp = sdp::build(
            from_leg.session_id,
            from_leg.version,
            self.cfg.public_ip,
            from_leg.port,
            from_leg.formats.clone(),
            answer_direction,
            from_leg.remote.as_ref(),
        );
        let mut r = pending.req.response(200, "OK", None);
        r.headers.push(HeaderName::ContentType, "application/sdp");
        r.body = sdp.to_bytes();
        self.add_session_expires(key, pending.from, &mut r);
        self.add_contact(key, pending.from, &mut r);
        self.respond(Some(pending.server_tx), r, pending.resp_target, now);
    }

    fn relay_info(&mut self, key: CallKey, to: Side, req: &Request, now: Now) {
        let Some(transport) = self.calls.get_mut(&key).and_then(|c| leg_dialog(c, to)).map(|d| d.flow.transport) else { return };
        let via = self.new_via(transport);
        let Some(d) = self.calls.get_mut(&key).and_then(|c| leg_dialog(c, to)) else { return };
        let mut info = d.request(Method::Info, &via, "");
        if let Some(ct) = req.headers.get(&HeaderName::ContentType) {
            info.headers.push(HeaderName::ContentType, ct.to_string());
        }
        info.body = req.body.clone();
        let flow = d.flow;
        let tx = self.txl.send_request(&info, flow, now.mono);
        self.client_tx.insert(tx, TxOwner::Fire);
    }
}
