//! Attended transfer by keys, for phones without a transfer key: during an answered call a
//! party dials `*2` + extension + `#`. The other party hears music on hold; a re-INVITE
//! moves the transferor's media to a consultation session and the PBX rings the target, to
//! whom the transferor then talks. When the transferor hangs up, the target takes their
//! place in the call (a re-INVITE points the target's media at the call's port); if the
//! target refuses, does not answer or hangs up, the transferor is taken back to the call.
//! If the transferor hangs up while the target still rings, the target takes the call when
//! it answers (as a blind transfer would). The call keeps its call-log row and recording.

use super::b2bua::remote_params;
use super::call::{CallKey, HangupBy, MediaLeg, TxOwner};
use super::dialog::Dialog;
use super::timers::TimerId;
use super::{Engine, EngineTimer, Now};
use pbx_media::{SessionPorts, Side, Source};
use pbx_sip::message::{Request, Response};
use pbx_sip::method::Method;
use pbx_sip::sdp::{self, Direction, Sdp};
use pbx_sip::transaction::{Target, TxId};
use std::time::Duration;

/// How long the target of a consultation rings.
const CONSULT_RING: Duration = Duration::from_secs(30);

/// An attended transfer by keys in progress.
#[derive(Debug)]
pub struct Consult {
    /// The transferor's side of the call.
    pub side: Side,
    /// What the transferor dialled.
    pub target: String,
    /// The target's leg.
    pub dialog: Dialog,
    /// Its INVITE (for a CANCEL).
    pub invite: Request,
    /// The user rung, if an extension.
    pub target_user: Option<i64>,
    /// The consultation's media: A faces the transferor, B the target.
    pub ports: SessionPorts,
    /// What the PBX offered the target (its SDP session and version).
    pub target_media: MediaLeg,
    /// The target's answer, once it answered.
    pub answer: Option<Sdp>,
    /// The transferor hung up while the target rang: the target takes the call on answering.
    pub transferor_gone: bool,
    /// Ring timer.
    pub timer: Option<TimerId>,
}

impl Engine {
    /// `*2` + `target` + `#` dialled by `side`: the other party hears music, the transferor
    /// hears ring-back and then the target.
    pub(super) fn start_consult(&mut self, key: CallKey, side: Side, target: &str, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        let tenant = call.tenant.clone();
        let me = if side == Side::A { &call.caller } else { &call.callee };
        let (number, name) = (me.number.clone(), me.name.clone());
        let by = if side == Side::A { "caller" } else { "callee" };
        let Some((t, target_user)) = self.transfer_leg(&tenant, target, &number, &name, now) else {
            tracing::info!(%target, "consultation target unreachable");
            self.timeline(key, "transfer", format!("attended by keys to {target} by the {by}: failed (unreachable)"), now);
            return;
        };
        let ports = match self.media.create_session() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot allocate media for a consultation");
                self.timeline(key, "transfer", format!("attended by keys to {target} by the {by}: failed (no media ports)"), now);
                return;
            }
        };
        let ip = self.cfg.public_ip;
        let music = self.hold_music(&tenant);
        let Some(call) = self.calls.get_mut(&key) else { return };
        let flow = match side {
            Side::A => Some(call.a.flow),
            Side::B => call.winner.and_then(|w| call.forks.get(w)).map(|f| f.dialog.flow),
        };
        let leg = if side == Side::A { &mut call.a_media } else { &mut call.b_media };
        // The transferor's media goes to the consultation's A port; the call's port for
        // them falls silent (and is not watched for RTP meanwhile).
        if let (Some(remote), Some(flow)) = (leg.remote.clone(), flow) {
            let params = remote_params(&remote, flow.addr, &leg.formats);
            self.media.set_remote(ports.id, Side::A, params.clone());
            self.media.set_remote(call.media_id, side, pbx_media::RemoteParams { expect_rtp: false, ..params });
        }
        leg.version += 1;
        let move_out = sdp::build(leg.session_id, leg.version, ip, ports.a_port, leg.formats.clone(), Direction::SendRecv, None);
        let id = call.media_id;
        if let Some(m) = music {
            self.media.set_source(id, side.other(), Source::Loop(m));
        }
        self.media.set_source(id, side, Source::Silence);
        self.media.set_source(ports.id, Side::A, Source::Loop(pbx_media::prompt::ringback()));
        self.media.set_source(ports.id, Side::B, Source::Peer);
        let target_media = MediaLeg::new(ports.b_port);
        let offer =
            sdp::build(target_media.session_id, target_media.version, ip, ports.b_port, sdp::default_formats(), Direction::SendRecv, None);
        let (invite, dialog) = self.leg_invite(&t, offer.to_bytes());
        let tx = self.txl.send_request(&invite, t.target, now.mono);
        self.client_tx.insert(tx, TxOwner::Consult { call: key });
        let timer = self.timers.schedule(now.mono + CONSULT_RING, EngineTimer::ConsultTimeout(key));
        let consult = Consult {
            side,
            target: target.to_string(),
            dialog,
            invite,
            target_user,
            ports,
            target_media,
            answer: None,
            transferor_gone: false,
            timer: Some(timer),
        };
        if let Some(call) = self.calls.get_mut(&key) {
            call.consult = Some(Box::new(consult));
        }
        self.send_media_update(key, side, &move_out, now);
        self.timeline(key, "transfer", format!("attended by keys to {target} by the {by}: consulting"), now);
    }

    /// The consultation target answered or refused.
    pub(super) fn on_consult_response(&mut self, key: CallKey, resp: Response, now: Now) {
        let _span = self.call_span(key).entered();
        if resp.status < 200 {
            return;
        }
        let Some(mut c) = self.calls.get_mut(&key).and_then(|call| call.consult.take()) else { return };
        if let Some(t) = c.timer.take() {
            self.timers.cancel(t);
        }
        if resp.status >= 300 {
            return self.consult_failed(key, c, &format!("{} {}", resp.status, resp.reason), now);
        }
        self.confirm_new_leg(&mut c.dialog, &resp, now);
        let Some(answer) = Sdp::parse(&resp.body).ok() else {
            self.bye_dialog(c.dialog.clone(), now);
            return self.consult_failed(key, c, "answer without SDP", now);
        };
        let formats = answer.audio().map(|m| m.formats.clone()).unwrap_or_default();
        self.media.set_remote(c.ports.id, Side::B, remote_params(&answer, c.dialog.flow.addr, &formats));
        self.media.set_source(c.ports.id, Side::A, Source::Peer);
        c.target_media.formats = formats;
        c.answer = Some(answer);
        self.consult_dialogs.insert(c.dialog.call_id.clone(), key);
        if c.transferor_gone {
            return self.complete_consult(key, c, now);
        }
        self.timeline(key, "transfer", format!("attended by keys to {}: the target answered", c.target), now);
        if let Some(call) = self.calls.get_mut(&key) {
            call.consult = Some(c);
        }
    }

    /// The consultation target rang too long.
    pub(super) fn on_consult_timeout(&mut self, key: CallKey, now: Now) {
        let Some(mut c) = self.calls.get_mut(&key).and_then(|call| call.consult.take()) else { return };
        c.timer = None;
        self.cancel_invite(&c.invite, c.dialog.flow, now);
        self.consult_failed(key, c, "no answer", now);
    }

    /// A BYE on `side`'s leg: true when it was the consulting transferor's (the transfer
    /// completes, or will when the target answers).
    pub(super) fn consult_transferor_left(&mut self, key: CallKey, side: Side, now: Now) -> bool {
        let Some(call) = self.calls.get_mut(&key) else { return false };
        if !call.consult.as_ref().is_some_and(|c| c.side == side && !c.transferor_gone) {
            return false;
        }
        let Some(mut c) = call.consult.take() else { return false };
        if c.answer.is_none() {
            c.transferor_gone = true;
            call.consult = Some(c);
            self.timeline(key, "transfer", "the transferor hung up; the target takes the call when it answers".into(), now);
            return true;
        }
        self.complete_consult(key, c, now);
        true
    }

    /// The target takes the transferor's place in the call.
    fn complete_consult(&mut self, key: CallKey, c: Box<Consult>, now: Now) {
        self.consult_dialogs.remove(&c.dialog.call_id);
        self.media.destroy(c.ports.id);
        let Some(answer) = c.answer.clone() else { return };
        // The transferor's dialog has ended (their BYE): it is not ended again.
        let transferor = self.side_ext(key, c.side);
        let _ = self.swap_leg(key, c.side, c.dialog.clone(), c.target_user);
        let ip = self.cfg.public_ip;
        let Some(call) = self.calls.get_mut(&key) else { return };
        let leg = if c.side == Side::A { &mut call.a_media } else { &mut call.b_media };
        leg.session_id = c.target_media.session_id;
        leg.version = c.target_media.version + 1;
        leg.formats = c.target_media.formats.clone();
        leg.remote = Some(answer.clone());
        let offer = sdp::build(leg.session_id, leg.version, ip, leg.port, leg.formats.clone(), Direction::SendRecv, None);
        let id = call.media_id;
        self.media.set_remote(id, c.side, remote_params(&answer, c.dialog.flow.addr, &c.target_media.formats));
        self.media.set_source(id, Side::A, Source::Peer);
        self.media.set_source(id, Side::B, Source::Peer);
        self.send_media_update(key, c.side, &offer, now);
        self.timeline(key, "transfer", format!("attended by keys to {}: connected", c.target), now);
        self.notify(key, pbx_store::EventData::Transferred { from: transferor, to: c.target.clone(), attended: true }, now);
    }

    /// The consultation ended without a transfer: the transferor goes back to the call (or,
    /// if they have hung up, the call ends).
    fn consult_failed(&mut self, key: CallKey, c: Box<Consult>, why: &str, now: Now) {
        self.timeline(key, "transfer", format!("attended by keys to {}: failed ({why})", c.target), now);
        self.consult_dialogs.remove(&c.dialog.call_id);
        self.media.destroy(c.ports.id);
        if c.transferor_gone {
            let by = if c.side == Side::A { HangupBy::Caller } else { HangupBy::Callee };
            return self.hangup(key, by, "transfer failed", now);
        }
        let ip = self.cfg.public_ip;
        let Some(call) = self.calls.get_mut(&key) else { return };
        let leg = if c.side == Side::A { &mut call.a_media } else { &mut call.b_media };
        leg.version += 1;
        let back = sdp::build(leg.session_id, leg.version, ip, leg.port, leg.formats.clone(), Direction::SendRecv, None);
        let id = call.media_id;
        self.media.set_source(id, Side::A, Source::Peer);
        self.media.set_source(id, Side::B, Source::Peer);
        // The call's port watches the transferor's RTP again once their answer arrives.
        self.send_media_update(key, c.side, &back, now);
    }

    /// A request on a consultation leg (the target's side of the dialog).
    pub(super) fn on_consult_request(&mut self, key: CallKey, req: Request, tx: Option<TxId>, resp_target: Target, now: Now) {
        let _span = self.call_span(key).entered();
        match req.method {
            Method::Bye => {
                let r = req.response(200, "OK", None);
                self.respond(tx, r, resp_target, now);
                let Some(c) = self.calls.get_mut(&key).and_then(|call| call.consult.take()) else { return };
                self.consult_failed(key, c, "the target hung up", now);
            }
            Method::Ack => {}
            Method::Invite => {
                let r = req.response(491, "Request Pending", None);
                self.respond(tx, r, resp_target, now);
            }
            _ => {
                let r = req.response(200, "OK", None);
                self.respond(tx, r, resp_target, now);
            }
        }
    }

    /// The call ends during a consultation: the target's leg and the consultation go too.
    pub(super) fn drop_consult(&mut self, key: CallKey, now: Now) {
        let Some(c) = self.calls.get_mut(&key).and_then(|call| call.consult.take()) else { return };
        if let Some(t) = c.timer {
            self.timers.cancel(t);
        }
        if c.answer.is_some() {
            self.bye_dialog(c.dialog.clone(), now);
        } else {
            self.cancel_invite(&c.invite, c.dialog.flow, now);
        }
        self.consult_dialogs.remove(&c.dialog.call_id);
        self.media.destroy(c.ports.id);
    }
}
