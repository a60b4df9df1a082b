//! Transfer during a call, handled by the PBX itself (the far side never sees a REFER):
//! blind (REFER, RFC 3515) — the PBX rings the target and puts it in the transferor's
//! place once it answers, reporting progress in NOTIFYs; attended (REFER with Replaces,
//! RFC 3891) — the transferor's two calls are joined: the consulted party's leg moves into
//! the first call (a re-INVITE points its media at that call) and the transferor's legs end;
//! and `##` + extension + `#` dialled during a call for phones without a transfer key
//! (`*2` + extension + `#`, the attended one by keys, is in `consult`).
//! The call keeps its call-log row and its recording.

use super::b2bua::{leg_dialog, remote_params};
use super::call::{CallKey, CallState, Fork, ForkState, ForkTarget, HangupBy, TxOwner};
use super::dialog::Dialog;
use super::routing::Dialled;
use super::{Engine, EngineTimer, Now, random_token};
use pbx_media::{Side, Source};
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, Response, SipMessage};
use pbx_sip::method::Method;
use pbx_sip::sdp::{self, Direction, Sdp};
use pbx_sip::transaction::{Target, TxId};
use std::time::Duration;

/// How long a transfer target rings.
const TRANSFER_RING: Duration = Duration::from_secs(30);

/// A blind transfer in progress: the new leg that will take `side`'s place.
#[derive(Debug)]
pub struct Transfer {
    /// The transferor's side, being replaced.
    pub side: Side,
    /// The new leg's dialog.
    pub dialog: Dialog,
    /// Its INVITE.
    pub invite: Request,
    /// The transferor asked by REFER (wants NOTIFYs) and is still on the line.
    pub notify: bool,
    /// The transferor's leg is still up.
    pub transferor_up: bool,
    /// The user rung, if an extension.
    pub target_user: Option<i64>,
    /// Ring timer.
    pub timer: Option<super::timers::TimerId>,
    /// What is being done, for the timeline.
    pub label: String,
    /// The number or extension it goes to.
    pub target: String,
}

/// The dialog a `Replaces` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacesId {
    /// Call-ID.
    pub call_id: String,
    /// to-tag.
    pub to_tag: String,
    /// from-tag.
    pub from_tag: String,
}

/// The target number and the Replaces of a Refer-To value, read by the one SIP parser: the
/// target must be a dial string (an extension or a number), the Replaces' parts are
/// %-unescaped by the parser's rules. Anything else is refused (the REFER gets 400).
pub fn parse_refer_to(value: &str) -> Option<(String, Option<ReplacesId>)> {
    let na = pbx_sip::NameAddr::parse(value).ok()?;
    let headers = match &na.uri {
        pbx_sip::Uri::Sip(u) => u.headers.clone(),
        pbx_sip::Uri::Other { scheme, .. } if scheme == "tel" => None,
        pbx_sip::Uri::Other { .. } => return None,
    };
    let target = pbx_sip::peer::dial_string(&na.uri.user_or_number()?)?;
    let replaces = headers.as_deref().and_then(|h| {
        h.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            if !k.eq_ignore_ascii_case("replaces") {
                return None;
            }
            let v = pbx_sip::text::unescape(v);
            let mut parts = v.split(';');
            let call_id = parts.next()?.trim().to_string();
            let (mut to_tag, mut from_tag) = (String::new(), String::new());
            for p in parts {
                match p.trim().split_once('=') {
                    Some((k, t)) if k.eq_ignore_ascii_case("to-tag") => to_tag = t.to_string(),
                    Some((k, t)) if k.eq_ignore_ascii_case("from-tag") => from_tag = t.to_string(),
                    _ => {}
                }
            }
            Some(ReplacesId { call_id, to_tag, from_tag })
        })
    });
    Some((target, replaces))
}

impl Engine {
    /// A REFER on `side`'s leg of an answered call.
    pub(super) fn on_refer(&mut self, key: CallKey, side: Side, req: Request, tx: Option<TxId>, resp_target: Target, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        if call.state != CallState::Answered || call.xfer.is_some() {
            let r = req.response(491, "Request Pending", None);
            return self.respond(tx, r, resp_target, now);
        }
        let Some((target, replaces)) = req.headers.get(&HeaderName::ReferTo).and_then(parse_refer_to) else {
            tracing::info!(refer_to = ?req.headers.get(&HeaderName::ReferTo), "REFER refused: unreadable Refer-To");
            let r = req.response(400, "Bad Request: missing or unreadable Refer-To", None);
            return self.respond(tx, r, resp_target, now);
        };
        let mut r = req.response(202, "Accepted", None);
        if let Some(t) = leg_dialog_transport(self, key, side) {
            r.headers.push(HeaderName::Contact, self.contact(t));
        }
        self.respond(tx, r, resp_target, now);
        match replaces {
            Some(rep) => self.attended_transfer(key, side, &rep, now),
            None => {
                self.notify_transferor(key, side, "100 Trying", false, now);
                self.blind_transfer(key, side, &target, true, now);
            }
        }
    }

    /// A NOTIFY with a sipfrag status to the transferor.
    fn notify_transferor(&mut self, key: CallKey, side: Side, status: &str, last: bool, now: Now) {
        let Some(transport) = leg_dialog_transport(self, key, side) else { return };
        let via = self.new_via(transport);
        let contact = self.contact(transport);
        let Some(d) = self.calls.get_mut(&key).and_then(|c| leg_dialog(c, side)) else { return };
        let mut n = d.request(Method::Notify, &via, &contact);
        n.headers.push(HeaderName::Event, "refer");
        n.headers.push(HeaderName::SubscriptionState, if last { "terminated;reason=noresource" } else { "active;expires=60" });
        n.headers.push(HeaderName::ContentType, "message/sipfrag;version=2.0");
        n.body = format!("SIP/2.0 {status}\r\n").into_bytes();
        let flow = d.flow;
        let t = self.txl.send_request(&n, flow, now.mono);
        self.client_tx.insert(t, super::call::TxOwner::Fire);
    }

    /// Rings `target` for the party on the other side of `side`; when it answers it takes
    /// `side`'s place.
    pub(super) fn blind_transfer(&mut self, key: CallKey, side: Side, target: &str, notify: bool, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        let tenant = call.tenant.clone();
        let other = if side == Side::A { &call.callee } else { &call.caller };
        let (number, name) = (other.number.clone(), other.name.clone());
        let Some((t, target_user)) = self.transfer_leg(&tenant, target, &number, &name, now) else {
            tracing::info!(%target, "transfer target unreachable");
            if notify {
                self.notify_transferor(key, side, "404 Not Found", true, now);
            }
            self.timeline(key, "transfer", format!("to {target} failed: unreachable"), now);
            return;
        };
        let ip = self.cfg.public_ip;
        let Some(call) = self.calls.get_mut(&key) else { return };
        let leg = if side == Side::A { &mut call.a_media } else { &mut call.b_media };
        leg.version += 1;
        let body = sdp::build(leg.session_id, leg.version, ip, leg.port, sdp::default_formats(), Direction::SendRecv, None).to_bytes();
        let (invite, dialog) = self.leg_invite(&t, body);
        let tx = self.txl.send_request(&invite, t.target, now.mono);
        self.client_tx.insert(tx, TxOwner::Transfer { call: key });
        let timer = self.timers.schedule(now.mono + TRANSFER_RING, EngineTimer::TransferTimeout(key));
        let by = if side == Side::A { "caller" } else { "callee" };
        let label = format!("blind to {target} by the {by}");
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.xfer = Some(Box::new(Transfer {
            side,
            dialog,
            invite,
            notify,
            transferor_up: true,
            target_user,
            timer: Some(timer),
            label: label.clone(),
            target: target.to_string(),
        }));
        // The transferee hears ring-back meanwhile; the transferor is leaving.
        let id = call.media_id;
        self.media.set_source(id, side.other(), Source::Loop(pbx_media::prompt::ringback()));
        self.media.set_source(id, side, Source::Silence);
        self.timeline(key, "transfer", label, now);
    }

    /// The transfer target answered or refused.
    pub(super) fn on_transfer_response(&mut self, key: CallKey, resp: Response, now: Now) {
        let _span = self.call_span(key).entered();
        if resp.status < 200 {
            return;
        }
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(mut x) = call.xfer.take() else { return };
        if let Some(t) = x.timer.take() {
            self.timers.cancel(t);
        }
        if resp.status >= 300 {
            return self.transfer_failed(key, x, &format!("{} {}", resp.status, resp.reason), now);
        }
        self.confirm_new_leg(&mut x.dialog, &resp, now);
        let Some(answer) = Sdp::parse(&resp.body).ok() else {
            return self.transfer_failed(key, x, "answer without SDP", now);
        };
        if x.notify && x.transferor_up {
            self.notify_transferor(key, x.side, "200 OK", true, now);
        }
        let side = x.side;
        let formats = answer.audio().map(|m| m.formats.clone()).unwrap_or_default();
        let from = self.side_ext(key, side);
        let old = self.swap_leg(key, side, x.dialog.clone(), x.target_user);
        self.notify(key, pbx_store::EventData::Transferred { from, to: x.target.clone(), attended: false }, now);
        if let Some(call) = self.calls.get_mut(&key) {
            let leg = if side == Side::A { &mut call.a_media } else { &mut call.b_media };
            leg.formats = formats.clone();
            leg.remote = Some(answer.clone());
            self.media.set_remote(call.media_id, side, remote_params(&answer, x.dialog.flow.addr, &formats));
            self.media.set_source(call.media_id, Side::A, Source::Peer);
            self.media.set_source(call.media_id, Side::B, Source::Peer);
        }
        if x.transferor_up
            && let Some(d) = old
        {
            self.bye_dialog(d, now);
        }
        self.timeline(key, "transfer", format!("{}: connected", x.label), now);
    }

    /// Where a transfer to `target` rings, showing `number` and `name` as the caller: the
    /// extension's first phone, or the tenant's trunk for an external number.
    pub(super) fn transfer_leg(
        &self,
        tenant: &super::directory::TenantInfo,
        target: &str,
        number: &str,
        name: &str,
        now: Now,
    ) -> Option<(ForkTarget, Option<i64>)> {
        match self.classify(tenant, target) {
            Dialled::Extension(uid) => self.user_targets(tenant, uid, number, name, now).into_iter().next().map(|t| (t, Some(uid))),
            Dialled::External(n) => self.trunk_target(tenant, None, &n, false).ok().map(|(t, _, _)| (t, None)),
            _ => None,
        }
    }

    /// A new INVITE from the PBX to `t` offering the SDP `body`, and the dialog it opens.
    pub(super) fn leg_invite(&mut self, t: &ForkTarget, body: Vec<u8>) -> (Request, Dialog) {
        let transport = t.target.transport;
        let local_tag = random_token(12);
        let call_id = format!("{}@pbx", random_token(24));
        let local_hdr = format!("{};tag={local_tag}", t.from);
        let mut invite = Request::new(Method::Invite, t.uri.clone());
        invite.headers.push(HeaderName::Via, self.new_via(transport));
        invite.headers.push(HeaderName::MaxForwards, "70");
        invite.headers.push(HeaderName::From, local_hdr.clone());
        invite.headers.push(HeaderName::To, t.to.clone());
        invite.headers.push(HeaderName::CallId, call_id.clone());
        invite.headers.push(HeaderName::CSeq, "1 INVITE");
        invite.headers.push(HeaderName::Contact, self.contact(transport));
        invite.headers.push(HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REFER, NOTIFY");
        invite.headers.push(HeaderName::UserAgent, self.cfg.user_agent.clone());
        if let Some(p) = &t.pai {
            invite.headers.push(HeaderName::PAssertedIdentity, p.clone());
        }
        invite.headers.push(HeaderName::ContentType, "application/sdp");
        invite.body = body;
        let dialog = Dialog::outgoing(call_id, local_tag, local_hdr, t.to.clone(), t.uri.clone(), t.target);
        (invite, dialog)
    }

    /// A new leg's 2xx: completes its dialog and ACKs the INVITE (CSeq 1).
    pub(super) fn confirm_new_leg(&mut self, dialog: &mut Dialog, resp: &Response, now: Now) {
        dialog.confirm(resp);
        let via = self.new_via(dialog.flow.transport);
        let contact = self.contact(dialog.flow.transport);
        let mut ack = dialog.request(Method::Ack, &via, &contact);
        ack.headers.set(HeaderName::CSeq, "1 ACK");
        self.txl.send_request(&ack, dialog.flow, now.mono);
    }

    /// The target did not take the call: the parties are reconnected (or, if the
    /// transferor has gone, the call ends).
    fn transfer_failed(&mut self, key: CallKey, x: Box<Transfer>, why: &str, now: Now) {
        self.timeline(key, "transfer", format!("{}: failed ({why})", x.label), now);
        if x.notify && x.transferor_up {
            self.notify_transferor(key, x.side, "486 Busy Here", true, now);
        }
        if x.transferor_up {
            if let Some(c) = self.calls.get(&key) {
                self.media.set_source(c.media_id, Side::A, Source::Peer);
                self.media.set_source(c.media_id, Side::B, Source::Peer);
            }
        } else {
            let by = if x.side == Side::A { HangupBy::Caller } else { HangupBy::Callee };
            self.hangup(key, by, "transfer failed", now);
        }
    }

    /// The target rang too long.
    pub(super) fn on_transfer_timeout(&mut self, key: CallKey, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(mut x) = call.xfer.take() else { return };
        x.timer = None;
        self.cancel_invite(&x.invite, x.dialog.flow, now);
        self.transfer_failed(key, x, "no answer", now);
    }

    /// CANCELs an INVITE the PBX sent to a new leg that has not answered.
    pub(super) fn cancel_invite(&mut self, inv: &Request, flow: Target, now: Now) {
        // RFC 3261 §9.1: the INVITE's Request-URI, Call-ID, From, To, top Via and Route, and
        // its CSeq number with the method CANCEL.
        let mut c = Request::new(Method::Cancel, inv.uri.clone());
        if let Some(top) =
            inv.headers.get(&HeaderName::Via).and_then(|v| pbx_sip::text::split_top_level(v, b',')?.first().map(|t| t.trim().to_string()))
        {
            c.headers.push(HeaderName::Via, top);
        }
        for v in inv.headers.get_all(&HeaderName::Route) {
            c.headers.push(HeaderName::Route, v.to_string());
        }
        c.headers.push(HeaderName::MaxForwards, "70");
        for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            if let Some(v) = inv.headers.get(&name) {
                c.headers.push(name.clone(), v.to_string());
            }
        }
        c.headers.push(HeaderName::CSeq, format!("{} CANCEL", inv.cseq().map(|s| s.seq).unwrap_or(1)));
        let t = self.txl.send_request(&c, flow, now.mono);
        self.client_tx.insert(t, TxOwner::Fire);
        // Without a final response to the INVITE within 64·T1 its transaction ends.
        self.txl.cancel_sent_for(inv, now.mono);
    }

    /// The call ends while its transfer target still rings: the target is cancelled.
    pub(super) fn drop_transfer(&mut self, key: CallKey, now: Now) {
        let Some(mut x) = self.calls.get_mut(&key).and_then(|call| call.xfer.take()) else { return };
        if let Some(t) = x.timer.take() {
            self.timers.cancel(t);
        }
        self.cancel_invite(&x.invite, x.dialog.flow, now);
    }

    /// The transferor hung up during a blind transfer: the call goes on without them.
    /// True when the BYE was theirs.
    pub(super) fn transferor_left(&mut self, key: CallKey, side: Side) -> bool {
        match self.calls.get_mut(&key).and_then(|c| c.xfer.as_mut()) {
            Some(x) if x.side == side => {
                x.transferor_up = false;
                true
            }
            _ => false,
        }
    }

    /// Puts `dialog` in `side`'s place; returns the dialog it replaced.
    pub(super) fn swap_leg(&mut self, key: CallKey, side: Side, dialog: Dialog, user: Option<i64>) -> Option<Dialog> {
        let call = self.calls.get_mut(&key)?;
        match side {
            Side::A => {
                let old = std::mem::replace(&mut call.a, dialog.clone());
                self.a_dialogs.remove(&(old.call_id.clone(), old.local_tag.clone()));
                self.a_dialogs.insert((dialog.call_id.clone(), dialog.local_tag.clone()), key);
                if user.is_some() {
                    call.caller.user_id = user;
                }
                Some(old)
            }
            Side::B => {
                let old = call.winner.and_then(|w| call.forks.get_mut(w)).map(|f| {
                    f.state = ForkState::Done;
                    f.dialog.clone()
                });
                if let Some(o) = &old {
                    self.b_dialogs.remove(&o.call_id);
                }
                let idx = call.forks.len();
                let invite = Request::new(Method::Invite, dialog.remote_target.clone());
                call.forks.push(Fork {
                    dialog: dialog.clone(),
                    invite,
                    tx: TxId::default(),
                    state: ForkState::Answered,
                    user_id: user,
                    cancel_pending: false,
                    credentials: None,
                    auth_tried: false,
                    fail_status: None,
                });
                call.winner = Some(idx);
                if user.is_some() {
                    call.callee.user_id = user;
                }
                self.b_dialogs.insert(dialog.call_id.clone(), (key, idx));
                old
            }
        }
    }

    /// Ends a leg's dialog with a BYE whose answer does not matter.
    pub(super) fn bye_dialog(&mut self, mut d: Dialog, now: Now) {
        let via = self.new_via(d.flow.transport);
        let bye = d.request(Method::Bye, &via, "");
        let t = self.txl.send_request(&bye, d.flow, now.mono);
        self.client_tx.insert(t, TxOwner::Fire);
    }

    /// REFER with Replaces: join the transferor's two calls.
    fn attended_transfer(&mut self, key1: CallKey, side1: Side, rep: &super::transfer::ReplacesId, now: Now) {
        // The consultation call: the dialog the Replaces names, on the transferor's side.
        let found = self.calls.iter().find_map(|(&k, c)| {
            if k == key1 || c.state != CallState::Answered {
                return None;
            }
            let tags = |d: &Dialog| {
                d.call_id == rep.call_id
                    && (d.local_tag == rep.to_tag || d.local_tag == rep.from_tag || d.remote_tag.as_deref() == Some(rep.from_tag.as_str()))
            };
            if tags(&c.a) {
                return Some((k, Side::A));
            }
            let w = c.winner.and_then(|w| c.forks.get(w))?;
            tags(&w.dialog).then_some((k, Side::B))
        });
        let Some((key2, side2)) = found else {
            tracing::info!(call_id = %rep.call_id, "Replaces names no call");
            self.notify_transferor(key1, side1, "481 Call/Transaction Does Not Exist", true, now);
            return;
        };
        let other2 = side2.other();
        let Some(c2) = self.calls.get_mut(&key2) else { return };
        let Some(target_dialog) = leg_dialog(c2, other2).cloned() else { return };
        let Some(transferor2) = leg_dialog(c2, side2).cloned() else { return };
        let target_user = match other2 {
            Side::A => c2.caller.user_id,
            Side::B => c2.winner.and_then(|w| c2.forks.get(w)).and_then(|f| f.user_id),
        };
        let (target_remote, target_formats) = match other2 {
            Side::A => (c2.a_media.remote.clone(), c2.a_media.formats.clone()),
            Side::B => (c2.b_media.remote.clone(), c2.b_media.formats.clone()),
        };
        // The consultation call ends here (its row says so); its target leg lives on.
        c2.state = CallState::Answered;
        self.timeline(key2, "transfer", "joined to another call".into(), now);
        self.notify_transferor(key1, side1, "200 OK", true, now);
        self.close_call(key2, pbx_store::Disposition::Answered, "transferred", HangupBy::System, now);
        self.bye_dialog(transferor2, now);
        // The target takes the transferor's place in the first call.
        let from = self.side_ext(key1, side1);
        let to = self.ext_of(target_user).unwrap_or_else(|| target_dialog.remote_target.user_or_number().unwrap_or_default());
        let old = self.swap_leg(key1, side1, target_dialog.clone(), target_user);
        self.notify(key1, pbx_store::EventData::Transferred { from, to, attended: true }, now);
        if let Some(d) = old {
            self.bye_dialog(d, now);
        }
        let ip = self.cfg.public_ip;
        let Some(call) = self.calls.get_mut(&key1) else { return };
        let leg = if side1 == Side::A { &mut call.a_media } else { &mut call.b_media };
        leg.version += 1;
        leg.formats = target_formats.clone();
        leg.remote = target_remote.clone();
        let offer = sdp::build(leg.session_id, leg.version, ip, leg.port, target_formats.clone(), Direction::SendRecv, None);
        let id = call.media_id;
        if let Some(remote) = &target_remote {
            self.media.set_remote(id, side1, remote_params(remote, target_dialog.flow.addr, &target_formats));
        }
        self.media.set_source(id, Side::A, Source::Peer);
        self.media.set_source(id, Side::B, Source::Peer);
        // Point the target's media at this call's port.
        self.send_media_update(key1, side1, &offer, now);
        self.timeline(key1, "transfer", "attended: joined with the consulted party".into(), now);
    }

    /// The PBX's own re-INVITE on `side`'s leg, offering `offer` (points its media elsewhere).
    /// One at a time: while an earlier one awaits its answer, the newest offer waits.
    pub(super) fn send_media_update(&mut self, key: CallKey, side: Side, offer: &Sdp, now: Now) {
        let Some(transport) = leg_dialog_transport(self, key, side) else { return };
        let Some(call) = self.calls.get_mut(&key) else { return };
        if call.updating[side as usize] {
            call.next_update[side as usize] = Some(offer.clone());
            return;
        }
        call.updating[side as usize] = true;
        let via = self.new_via(transport);
        let contact = self.contact(transport);
        let Some(d) = self.calls.get_mut(&key).and_then(|c| leg_dialog(c, side)) else { return };
        let mut reinvite = d.request(Method::Invite, &via, &contact);
        reinvite.headers.push(HeaderName::ContentType, "application/sdp");
        reinvite.body = offer.to_bytes();
        let flow = d.flow;
        let t = self.txl.send_request(&reinvite, flow, now.mono);
        self.client_tx.insert(t, TxOwner::MediaUpdate { call: key, side });
    }

    /// The answer to the PBX's own re-INVITE (after an attended transfer).
    pub(super) fn on_media_update_response(&mut self, key: CallKey, side: Side, resp: Response, now: Now) {
        if resp.status < 200 {
            return;
        }
        self.apply_media_update_answer(key, side, &resp, now);
        self.media_update_done(key, side, now);
    }

    /// A re-INVITE of the PBX's own on `side` is over (answered or failed): the offer that
    /// waited for it, if any, goes now.
    pub(super) fn media_update_done(&mut self, key: CallKey, side: Side, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.updating[side as usize] = false;
        if let Some(next) = call.next_update[side as usize].take() {
            self.send_media_update(key, side, &next, now);
        }
    }

    fn apply_media_update_answer(&mut self, key: CallKey, side: Side, resp: &Response, now: Now) {
        let Some(transport) = leg_dialog_transport(self, key, side) else { return };
        let via = self.new_via(transport);
        let contact = self.contact(transport);
        let Some(d) = self.calls.get_mut(&key).and_then(|c| leg_dialog(c, side)) else { return };
        let seq = resp.cseq().map(|c| c.seq).unwrap_or(d.local_seq);
        let mut ack = d.request(Method::Ack, &via, &contact);
        ack.headers.set(HeaderName::CSeq, format!("{seq} ACK"));
        let flow = d.flow;
        if resp.status >= 300 {
            return;
        }
        self.txl.send_request(&ack, flow, now.mono);
        let Some(answer) = Sdp::parse(&resp.body).ok() else { return };
        let Some(call) = self.calls.get_mut(&key) else { return };
        let formats = answer.audio().map(|m| m.formats.clone()).unwrap_or_default();
        // A transferor consulting (attended transfer by keys) speaks on the consultation
        // session, where they are its A side.
        let (id, on) = match call.consult.as_ref() {
            Some(c) if c.side == side => (c.ports.id, Side::A),
            _ => (call.media_id, side),
        };
        self.media.set_remote(id, on, remote_params(&answer, flow.addr, &formats));
    }

    /// Keys during an answered call: `##` + extension + `#` transfers the other party there
    /// (blind); `*2` + extension + `#` consults the extension first (attended).
    /// True when the key belongs to a transfer code.
    pub(super) fn transfer_digit(&mut self, key: CallKey, side: Side, digit: char, now: Now) -> bool {
        let Some(call) = self.calls.get_mut(&key) else { return false };
        if call.state != CallState::Answered || call.xfer.is_some() || call.consult.is_some() {
            return false;
        }
        let buf = &mut call.dtmf_codes[side as usize];
        match (buf.as_str(), digit) {
            ("", '#') => buf.push('#'),
            ("#", '#') => buf.push('#'),
            ("#", _) => buf.clear(),
            ("", '*') => buf.push('*'),
            ("*", '2') => buf.push('2'),
            ("*", _) => buf.clear(),
            (b, '#') if b.starts_with("*2") && b.len() > 2 => {
                let target = b[2..].to_string();
                buf.clear();
                tracing::info!(?side, %target, "attended transfer by keys");
                self.start_consult(key, side, &target, now);
            }
            (b, '#') if b.starts_with("##") && b.len() > 2 => {
                let target = b[2..].to_string();
                buf.clear();
                tracing::info!(?side, %target, "transfer by keys");
                // The transferor leaves at once; the PBX ends their leg.
                let old = self.calls.get(&key).and_then(|c| match side {
                    Side::A => Some(c.a.clone()),
                    Side::B => c.winner.and_then(|w| c.forks.get(w)).map(|f| f.dialog.clone()),
                });
                self.blind_transfer(key, side, &target, false, now);
                if let Some(x) = self.calls.get_mut(&key).and_then(|c| c.xfer.as_mut()) {
                    x.transferor_up = false;
                    if let Some(d) = old {
                        self.bye_dialog(d, now);
                    }
                }
            }
            (b, d) if (b.starts_with("##") || b.starts_with("*2")) && d.is_ascii_digit() && b.len() < 10 => buf.push(d),
            (b, _) if !b.is_empty() => buf.clear(),
            _ => return false,
        }
        true
    }
}

fn leg_dialog_transport(e: &Engine, key: CallKey, side: Side) -> Option<pbx_sip::transaction::Transport> {
    let c = e.calls.get(&key)?;
    match side {
        Side::A => Some(c.a.flow.transport),
        Side::B => c.winner.and_then(|w| c.forks.get(w)).map(|f| f.dialog.flow.transport),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_to_values() {
        assert_eq!(parse_refer_to("<sip:103@acme.example>"), Some(("103".into(), None)));
        assert_eq!(parse_refer_to("sip:103@acme.example;transport=udp"), Some(("103".into(), None)));
        let (t, r) = parse_refer_to("<sip:103@acme.example?Replaces=abc%40host%3Bto-tag%3Dt1%3Bfrom-tag%3Df1>").unwrap();
        assert_eq!(t, "103");
        assert_eq!(r, Some(ReplacesId { call_id: "abc@host".into(), to_tag: "t1".into(), from_tag: "f1".into() }));
        assert_eq!(parse_refer_to("<mailto:x>"), None);
        assert_eq!(parse_refer_to("<sip:@x>"), None);
        assert_eq!(parse_refer_to("<tel:+7-495-123-45-67>"), Some(("+74951234567".into(), None)));
    }

    #[test]
    fn hostile_refer_to_values_are_refused_without_panicking() {
        // A multibyte character right after '%' once panicked the engine on a byte slice.
        for v in [
            "<sip:a%€@x>",
            "<sip:1%€>",
            "<tel:%€>",
            "<sip:103@x?Replaces=%€%€;to-tag=%€>",
            "<sip:10%0D%0ASubject:%20x@x>",
            "<sip:%E2%82@x>",
            "<sip:103@x?Replaces=%",
            "<sip:€@x>",
            "%",
            "",
        ] {
            let parsed = parse_refer_to(v);
            if let Some((t, _)) = &parsed {
                assert!(pbx_sip::peer::dial_string(t).is_some(), "{v:?} gave {t:?}");
            }
        }
        let (t, r) = parse_refer_to("<sip:103@x?Replaces=%€%E2;to-tag=a>").unwrap();
        assert_eq!(t, "103");
        assert!(r.is_some());
    }
}
