//! Containment: whatever input the engine is fed, a panic while handling it ends only the
//! call it concerned. The request that was being handled gets 500, the call's legs get a
//! final response, CANCEL or BYE, its media and call-log row are closed, the panic is counted
//! (`pbx_engine_panics_total`) and logged with the tenant and call id, and the engine goes on
//! serving everyone else.

use super::call::{CallKey, HangupBy, TxOwner};
use super::{Engine, EngineTimer, Now};
use pbx_sip::header::{HeaderName, Headers};
use pbx_sip::message::{Request, Response};
use pbx_sip::transaction::Target;
use pbx_store::{CallEnd, CallOp, Disposition};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;

/// What to answer if handling a request panics: a 500 built from the request's own
/// Via/From/To/Call-ID/CSeq (copied, not parsed, so building it cannot fail), and where to.
pub(super) struct PanicReply {
    resp: Response,
    target: Target,
}

impl PanicReply {
    /// The 500 for `req` (none for ACK, which is never answered).
    pub(super) fn for_request(req: &Request, target: Target) -> Option<PanicReply> {
        if req.method == pbx_sip::Method::Ack {
            return None;
        }
        let mut headers = Headers::new();
        for h in &req.headers.0 {
            if matches!(h.name, HeaderName::Via | HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq) {
                headers.push(h.name.clone(), h.value.clone());
            }
        }
        Some(PanicReply { resp: Response { status: 500, reason: "Server Internal Error".into(), headers, body: Vec::new() }, target })
    }
}

/// The text of a panic payload.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "panic".into())
}

impl EngineTimer {
    /// The call a timer belongs to.
    pub(super) fn call(&self) -> Option<CallKey> {
        match self {
            EngineTimer::RingTimeout(k)
            | EngineTimer::SessionExpired(k)
            | EngineTimer::PluginWatchdog(k, _)
            | EngineTimer::GatherTimeout(k)
            | EngineTimer::StepTimeout(k, _)
            | EngineTimer::QueueAnnounce(k)
            | EngineTimer::QueueMaxWait(k)
            | EngineTimer::OriginateTimeout(k)
            | EngineTimer::TransferTimeout(k)
            | EngineTimer::ConsultTimeout(k)
            | EngineTimer::ProvisionalRefresh(k) => Some(*k),
            EngineTimer::QueueDecideTimeout(..)
            | EngineTimer::BindingSweep
            | EngineTimer::Delayed(_)
            | EngineTimer::TrunkRefresh(_)
            | EngineTimer::BalanceOut(_)
            | EngineTimer::QueueTick
            | EngineTimer::BlfTick
            | EngineTimer::PresenceTick => None,
        }
    }
}

impl TxOwner {
    /// The call a client transaction belongs to.
    pub(super) fn call(&self) -> Option<CallKey> {
        match self {
            TxOwner::Fork { call, .. }
            | TxOwner::Reinvite { call, .. }
            | TxOwner::Originate { call }
            | TxOwner::Transfer { call }
            | TxOwner::Consult { call }
            | TxOwner::MediaUpdate { call, .. } => Some(*call),
            TxOwner::TrunkReg(_) | TxOwner::Notify(_) | TxOwner::Fire => None,
        }
    }
}

impl Engine {
    /// Runs `f` on the engine; if it panics, contains the damage to the call `hint` names (or
    /// the call the handler was last working on) and answers `reply`.
    pub(super) fn guarded(&mut self, hint: Option<CallKey>, reply: Option<PanicReply>, now: Now, f: impl FnOnce(&mut Engine)) {
        self.touched.set(None);
        let outcome = catch_unwind(AssertUnwindSafe(|| f(self)));
        let Err(payload) = outcome else { return };
        let text = panic_text(payload.as_ref());
        self.metrics.engine_panics.fetch_add(1, Ordering::Relaxed);
        let key = hint.filter(|k| self.calls.contains_key(k)).or_else(|| self.touched.get().filter(|k| self.calls.contains_key(k)));
        let (tenant, call) = key
            .and_then(|k| self.calls.get(&k))
            .map(|c| (c.tenant.slug.clone(), c.uid.clone()))
            .unwrap_or_else(|| (String::new(), String::new()));
        tracing::error!(tenant = %tenant, call = %call, panic = %text, "the engine failed on an input: ending only the call it concerned");
        if let Some(r) = reply {
            self.answer_after_panic(r, now);
        }
        if let Some(key) = key {
            self.abort_call(key, now);
        }
    }

    /// Sends the 500 through the request's server transaction when there is one (so its
    /// retransmissions get it too), else statelessly; a failure here is swallowed.
    fn answer_after_panic(&mut self, r: PanicReply, now: Now) {
        let PanicReply { mut resp, target } = r;
        let sent = catch_unwind(AssertUnwindSafe(|| {
            self.decorate(&mut resp);
            if !self.txl.respond_to_pending(&resp, now.mono) {
                self.actions.push_back(super::Action::Send { target, bytes: resp.to_bytes() });
            }
        }));
        if sent.is_err() {
            tracing::error!("could not even answer the failed request");
        }
    }

    /// Ends a call whose state may be inconsistent: first the normal way (500 to an unanswered
    /// caller, BYE to answered legs); if that fails too, by force.
    fn abort_call(&mut self, key: CallKey, now: Now) {
        let normal = catch_unwind(AssertUnwindSafe(|| {
            let unanswered = self.calls.get(&key).is_some_and(|c| !c.a_answered && c.a_tx.is_some());
            if unanswered {
                self.finish_unanswered(key, 500, Disposition::Failed, "internal error", HangupBy::System, now);
            } else {
                self.hangup(key, HangupBy::System, "internal error", now);
            }
        }));
        if normal.is_ok() && !self.calls.contains_key(&key) {
            return;
        }
        self.metrics.engine_panics.fetch_add(u64::from(normal.is_err()), Ordering::Relaxed);
        self.force_remove(key, now);
    }

    /// Drops every trace of a call without running its handlers: first the bookkeeping
    /// (maps, counts, media sessions, the call-log row), which cannot fail; then, guarded, the
    /// messages: 500 to an unanswered caller, CANCEL to phones still ringing, BYE to answered
    /// legs.
    fn force_remove(&mut self, key: CallKey, now: Now) {
        let Some(mut call) = self.calls.remove(&key) else { return };
        self.counts.remove(key);
        for t in [call.ring_timer, call.session_timer, call.step_timer].into_iter().flatten() {
            self.timers.cancel(t);
        }
        self.a_dialogs.retain(|_, k| *k != key);
        self.b_dialogs.retain(|_, (k, _)| *k != key);
        self.consult_dialogs.retain(|_, k| *k != key);
        self.invite_tx.retain(|_, k| *k != key);
        self.client_tx.retain(|_, o| o.call() != Some(key));
        self.media_calls.retain(|_, k| *k != key);
        self.media.destroy(call.media_id);
        let consult = call.consult.take();
        let xfer = call.xfer.take();
        if let Some(c) = &consult {
            self.media.destroy(c.ports.id);
        }
        for q in self.queues.values_mut() {
            q.forget(key);
        }
        let talk = call.answered_ms.map(|a| ((now.wall_ms - a).max(0)) / 1000).unwrap_or(0);
        self.billing_ended(key, &call.uid, talk, now);
        self.actions.push_back(super::Action::Cdr {
            op: CallOp::End(CallEnd {
                id: call.uid.clone(),
                ended_at: now.wall_ms,
                disposition: Disposition::Failed,
                hangup_cause: "internal error".into(),
                hangup_side: HangupBy::System.as_str().into(),
                talk_seconds: talk,
                callee_user_id: None,
            }),
            ack: None,
        });
        self.metrics.active_calls.fetch_sub(1, Ordering::Relaxed);
        let sent = catch_unwind(AssertUnwindSafe(|| {
            if let Some(tx) = call.a_tx
                && !call.a_answered
            {
                let resp = call.a_invite.response(500, "Server Internal Error", Some(&call.a.local_tag));
                self.txl.send_response(tx, &resp, now.mono);
            } else {
                self.bye_dialog(call.a.clone(), now);
            }
            for (i, f) in call.forks.iter().enumerate() {
                match f.state {
                    super::call::ForkState::Calling | super::call::ForkState::Early => self.cancel_invite(&f.invite, f.dialog.flow, now),
                    super::call::ForkState::Answered if call.winner == Some(i) => self.bye_dialog(f.dialog.clone(), now),
                    _ => {}
                }
            }
            if let Some(c) = consult {
                if c.answer.is_some() {
                    self.bye_dialog(c.dialog, now);
                } else {
                    self.cancel_invite(&c.invite, c.dialog.flow, now);
                }
            }
            if let Some(x) = xfer {
                self.cancel_invite(&x.invite, x.dialog.flow, now);
            }
        }));
        if sent.is_err() {
            tracing::error!("could not tell every leg of a failed call that it ended");
        }
    }
}
