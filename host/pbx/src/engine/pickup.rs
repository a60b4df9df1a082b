//! Call pickup: a colleague's ringing phone answered from one's own. `**` + extension picks up
//! the call ringing that extension (directed pickup, what a busy-lamp key dials); `*8` picks
//! up a call ringing anyone of one's pickup group: the members of the ring groups and queues
//! one belongs to, or, for someone in none, the whole company.
//!
//! The picker's INVITE becomes the call's answered callee leg: the other phones stop ringing,
//! the caller is answered, and the call log names the picker as the one who answered.

use super::call::{CallKey, CallState, Fork, ForkState, Party};
use super::dialog::Dialog;
use super::directory::TenantInfo;
use super::routing::Invite;
use super::{Engine, Now, random_token};
use pbx_media::Side;
use pbx_sip::header::HeaderName;
use pbx_sip::message::SipMessage;
use pbx_sip::sdp::{self, Direction, Sdp};
use std::collections::HashSet;
use std::sync::Arc;

impl Engine {
    /// Whose ringing phones `picker` may pick up with `*8`.
    fn pickup_group(&self, tenant: &TenantInfo, picker: i64) -> HashSet<i64> {
        let mut group: HashSet<i64> =
            self.dir.groups_of(tenant.id).filter(|g| g.members.contains(&picker)).flat_map(|g| g.members.iter().copied()).collect();
        if group.is_empty() {
            group = self.dir.users_of(tenant.id).iter().map(|u| u.id).collect();
        }
        group.remove(&picker);
        group
    }

    /// The oldest call of the company ringing one of `users` (and not placed by the picker).
    fn ringing_call_of(&self, tenant_id: i64, users: &HashSet<i64>, picker: i64) -> Option<CallKey> {
        self.calls
            .iter()
            .filter(|(_, c)| c.tenant.id == tenant_id && c.state == CallState::Ringing && c.winner.is_none())
            .filter(|(_, c)| c.caller.user_id != Some(picker))
            .filter(|(_, c)| {
                c.forks
                    .iter()
                    .any(|f| matches!(f.state, ForkState::Calling | ForkState::Early) && f.user_id.is_some_and(|u| users.contains(&u)))
            })
            .min_by_key(|(k, c)| (c.started_mono, **k))
            .map(|(k, _)| *k)
    }

    /// `*8` (`target` none) or `**ext`: answers a ringing call with the picker's INVITE, or
    /// says there is nothing to pick up.
    pub(super) fn pickup(&mut self, inv: Invite, tenant: &Arc<TenantInfo>, picker: Party, target: Option<&str>, now: Now) {
        let Some(picker_id) = picker.user_id else {
            return self.simple_response(Some(inv.tx), &inv.req, 403, inv.resp_target, now);
        };
        let users: HashSet<i64> = match target {
            Some(ext) => match self.dir.user(tenant.id, ext) {
                Some(u) if u.id != picker_id => HashSet::from([u.id]),
                _ => return self.simple_response(Some(inv.tx), &inv.req, 404, inv.resp_target, now),
            },
            None => self.pickup_group(tenant, picker_id),
        };
        let Some(key) = self.ringing_call_of(tenant.id, &users, picker_id) else {
            let mut r = inv.req.response(480, "Temporarily Unavailable", Some(&random_token(10)));
            r.headers.push(HeaderName::Warning, format!("399 {} \"Nothing to pick up\"", self.host()));
            return self.respond(Some(inv.tx), r, inv.resp_target, now);
        };
        // The picker's offer, answered with what the caller offered.
        let offer = Sdp::parse(&inv.req.body).ok();
        let allowed = self.calls.get(&key).map(|c| c.b_media.formats.clone()).unwrap_or_default();
        let formats = offer.as_ref().and_then(|o| o.audio()).and_then(|m| sdp::answer_formats(&m.formats, &allowed));
        let (Some(offer), Some(formats)) = (offer, formats) else {
            let mut r = inv.req.response(488, "Not Acceptable Here", Some(&random_token(10)));
            r.headers.push(HeaderName::Warning, format!("305 {} \"Incompatible media format: PCMU or PCMA required\"", self.host()));
            return self.respond(Some(inv.tx), r, inv.resp_target, now);
        };
        // The picker's Call-ID must be its own: one that names a leg of another call (a
        // phone knows the Call-IDs of the INVITEs it was sent) would take that leg's place.
        if self.b_dialogs.contains_key(inv.req.call_id()) || self.a_dialogs.keys().any(|(c, _)| c == inv.req.call_id()) {
            return self.simple_response(Some(inv.tx), &inv.req, 482, inv.resp_target, now);
        }
        let tag = random_token(12);
        let Some(dialog) = Dialog::from_request(&inv.req, &tag, inv.source) else {
            return self.simple_response(Some(inv.tx), &inv.req, 400, inv.resp_target, now);
        };
        let _span = self.call_span(key).entered();
        let ip = self.cfg.public_ip;
        let contact = self.contact(inv.source.transport);
        let Some(call) = self.calls.get_mut(&key) else { return };
        let idx = call.forks.len();
        call.forks.push(Fork {
            dialog,
            invite: inv.req.clone(),
            tx: inv.tx,
            state: ForkState::Answered,
            user_id: Some(picker_id),
            cancel_pending: false,
            credentials: None,
            auth_tried: false,
            fail_status: None,
        });
        call.winner = Some(idx);
        call.rung.push((picker_id, now.wall_ms));
        call.b_media.version += 1;
        call.b_media.formats = formats.clone();
        call.b_media.remote = Some(offer.clone());
        let answer = sdp::build(
            call.b_media.session_id,
            call.b_media.version,
            ip,
            call.b_media.port,
            formats.clone(),
            Direction::SendRecv,
            Some(&offer),
        );
        let media_id = call.media_id;
        let picked_from = call.forks.iter().find(|f| f.user_id.is_some_and(|u| users.contains(&u))).and_then(|f| f.user_id);
        self.b_dialogs.insert(inv.req.call_id().to_string(), (key, idx));
        // Its 2xx never acknowledged ends the call (RFC 3261 §13.3.1.4), as for a caller's.
        self.invite_tx.insert(inv.tx, key);
        self.media.set_remote(media_id, Side::B, super::b2bua::remote_params(&offer, inv.source.addr, &formats));
        self.media.detect_inband(media_id, Side::B, !formats.iter().any(sdp::is_telephone_event));
        let mut ok = inv.req.response(200, "OK", Some(&tag));
        ok.headers.push(HeaderName::Contact, contact);
        ok.headers.push(HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE");
        ok.headers.push(HeaderName::ContentType, "application/sdp");
        ok.body = answer.to_bytes();
        self.respond(Some(inv.tx), ok, inv.resp_target, now);
        self.cancel_pending_forks(key, Some(idx), now);
        let from = self.ext_of(picked_from).unwrap_or_default();
        tracing::info!(picker = %picker.number, %from, "call picked up");
        self.timeline(key, "pickup", format!("{} picked up the call ringing {from}", picker.number), now);
        self.callee_answered(key, Some(picker_id), &formats, Direction::SendRecv, now);
    }
}
