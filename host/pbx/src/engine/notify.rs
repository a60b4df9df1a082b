//! Call events for the tenant's integrations (outgoing webhooks): the engine states what
//! happened as structured facts, which go to the outbox with the call log. Only calls of
//! tenants with a subscriber produce them, so the others pay nothing.

use super::call::{CallKey, ForkState};
use super::{Action, Engine, Now};
use pbx_media::Side;
use pbx_store::{CallOp, CallStart, Disposition, EventData, IntegrationEvent};

/// What a call that produces events keeps for them.
#[derive(Debug, Clone)]
pub struct NotifyState {
    /// Events sent so far (the next one's sequence number is one more).
    pub seq: i64,
    /// Start, ms.
    pub started_at: i64,
    /// City number used.
    pub line: Option<String>,
    /// The id an integration gave the call (click-to-call).
    pub correlation_id: Option<String>,
}

impl Engine {
    /// Whether calls of `tenant` produce events.
    pub(super) fn notifies(&self, tenant: i64) -> bool {
        self.dir.notifies(tenant)
    }

    /// The state a new call of `start`'s tenant keeps for its events, if it produces them.
    pub(super) fn notify_state(&self, start: &CallStart) -> Option<Box<NotifyState>> {
        self.notifies(start.tenant_id)
            .then(|| Box::new(NotifyState { seq: 0, started_at: start.started_at, line: start.did.clone(), correlation_id: None }))
    }

    /// The `call.started` event of a call.
    pub(super) fn started_event(&self, start: &CallStart) -> EventData {
        EventData::Started {
            direction: start.direction,
            caller_number: start.caller_number.clone(),
            caller_name: start.caller_name.clone(),
            callee: start.callee.clone(),
            line: start.did.clone(),
            trunk: start.trunk.clone(),
            caller_ext: self.ext_of(start.caller_user_id),
            correlation_id: None,
        }
    }

    /// Sends an event of a live call to the outbox.
    pub(super) fn notify(&mut self, key: CallKey, data: EventData, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(n) = call.notify.as_mut() else { return };
        // Kinds no subscriber takes are not written.
        if !self.dir.wants(call.tenant.id, data.kind()) {
            return;
        }
        n.seq += 1;
        let event =
            IntegrationEvent { id: format!("{}:{}", call.uid, n.seq), call_id: call.uid.clone(), seq: n.seq, at: now.wall_ms, data };
        self.actions.push_back(Action::Cdr { op: CallOp::Notify { tenant_id: call.tenant.id, event: Box::new(event) }, ack: None });
    }

    /// The events of a call that failed before it began: started, then ended.
    pub(super) fn notify_failed(&mut self, start: &CallStart, cause: &str, now: Now) {
        if !self.notifies(start.tenant_id) {
            return;
        }
        let ended = EventData::Ended {
            disposition: Disposition::Failed,
            sip_code: sip_code(cause, None, Disposition::Failed, false),
            hangup_cause: cause.to_string(),
            hangup_side: "system".into(),
            talk_seconds: 0,
            started_at: start.started_at,
            answered_at: None,
            line: start.did.clone(),
            via: None,
            answered_by: None,
            correlation_id: None,
        };
        // A caller from outside who was not put through is a missed caller (unless refused).
        let missed = (start.direction == pbx_store::Direction::Inbound && cause != "486 blacklisted").then(|| EventData::Missed {
            caller_number: start.caller_number.clone(),
            caller_name: start.caller_name.clone(),
            line: start.did.clone(),
            via: None,
            extensions: Vec::new(),
            disposition: Disposition::Failed,
        });
        let wanted: Vec<EventData> = [Some(self.started_event(start)), Some(ended), missed]
            .into_iter()
            .flatten()
            .filter(|d| self.dir.wants(start.tenant_id, d.kind()))
            .collect();
        for (seq, data) in (1..).zip(wanted) {
            let event = IntegrationEvent { id: format!("{}:{seq}", start.id), call_id: start.id.clone(), seq, at: now.wall_ms, data };
            self.actions.push_back(Action::Cdr { op: CallOp::Notify { tenant_id: start.tenant_id, event: Box::new(event) }, ack: None });
        }
    }

    /// A user's extension.
    pub(super) fn ext_of(&self, user: Option<i64>) -> Option<String> {
        user.and_then(|u| self.dir.user_by_id(u)).map(|u| u.ext.clone())
    }

    /// The extension on one side of an answered call, if a phone of the tenant is there.
    pub(super) fn side_ext(&self, key: CallKey, side: Side) -> Option<String> {
        let call = self.calls.get(&key)?;
        let user = match side {
            Side::A => call.caller.user_id,
            Side::B => call.winner.and_then(|w| call.forks.get(w)).and_then(|f| f.user_id).or(call.callee.user_id),
        };
        self.ext_of(user)
    }

    /// A phone of the tenant started ringing (a fork to a user).
    pub(super) fn notify_ringing(&mut self, key: CallKey, user: Option<i64>, now: Now) {
        if self.calls.get(&key).is_none_or(|c| c.notify.is_none()) {
            return;
        }
        if let Some(ext) = self.ext_of(user) {
            self.notify(key, EventData::Ringing { extensions: vec![ext] }, now);
        }
    }

    /// Phones stopped ringing: `forks` of the call, for `reason`.
    pub(super) fn notify_ring_stopped(&mut self, key: CallKey, forks: &[usize], reason: &str, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        if call.notify.is_none() {
            return;
        }
        let exts: Vec<String> = forks.iter().filter_map(|i| call.forks.get(*i)).filter_map(|f| self.ext_of(f.user_id)).collect();
        if !exts.is_empty() {
            self.notify(key, EventData::RingStopped { extensions: exts, reason: reason.to_string() }, now);
        }
    }

    /// The `call.ended` event, from what the call knows as it closes.
    pub(super) fn notify_ended(&mut self, key: CallKey, disposition: Disposition, cause: &str, by: &str, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        let Some(n) = call.notify.as_ref() else { return };
        let talk = call.answered_ms.map(|a| ((now.wall_ms - a).max(0)) / 1000).unwrap_or(0);
        let answered_by =
            call.winner.and_then(|w| call.forks.get(w)).and_then(|f| f.user_id).or(call.callee.user_id.filter(|_| call.winner.is_some()));
        let data = EventData::Ended {
            disposition,
            sip_code: sip_code(cause, call.best_failure.as_ref().map(|b| b.0), disposition, by == "caller"),
            hangup_cause: cause.to_string(),
            hangup_side: by.to_string(),
            talk_seconds: talk,
            started_at: n.started_at,
            answered_at: call.answered_ms,
            line: n.line.clone(),
            via: call.via.as_ref().map(|v| v.1.clone()),
            answered_by: self.ext_of(answered_by),
            correlation_id: n.correlation_id.clone(),
        };
        let line = n.line.clone();
        self.notify(key, data, now);
        let Some(call) = self.calls.get(&key) else { return };
        if call.direction == pbx_store::Direction::Inbound
            && !call.refused
            && matches!(disposition, Disposition::Missed | Disposition::Busy | Disposition::Failed)
        {
            let mut extensions: Vec<String> = call.rung.iter().filter_map(|(u, _)| self.ext_of(Some(*u))).collect();
            extensions.dedup();
            let data = EventData::Missed {
                caller_number: call.caller.number.clone(),
                caller_name: call.caller.name.clone(),
                line,
                via: call.via.as_ref().map(|v| v.1.clone()),
                extensions,
                disposition,
            };
            self.notify(key, data, now);
        }
    }

    /// A recording call that produces events reserves the sequence number of its
    /// `recording.ready`, sent once the file is stored.
    pub(super) fn reserve_recording_event(&mut self, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let (Some(n), true) = (call.notify.as_mut(), call.recording) else { return };
        if !self.dir.wants(call.tenant.id, "recording.ready") {
            return;
        }
        n.seq += 1;
        let event = super::RecordingEvent { tenant_id: call.tenant.id, seq: n.seq };
        if let Some(entry) = self.recording_sessions.get_mut(&call.media_id) {
            entry.1 = Some(event);
        }
    }

    /// Forks still ringing (to be cancelled).
    pub(super) fn ringing_forks(&self, key: CallKey, keep: Option<usize>) -> Vec<usize> {
        self.calls
            .get(&key)
            .map(|c| {
                c.forks
                    .iter()
                    .enumerate()
                    .filter(|(i, f)| Some(*i) != keep && matches!(f.state, ForkState::Calling | ForkState::Early))
                    .map(|(i, _)| i)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The SIP status that best says how a call ended: 200 when answered, the cause's own
/// status when it starts with one, else the best failure a phone gave, else 487 when the
/// caller gave up and 480 otherwise.
fn sip_code(cause: &str, best_failure: Option<u16>, disposition: Disposition, caller_gave_up: bool) -> u16 {
    if disposition == Disposition::Answered {
        return 200;
    }
    let lead: String = cause.chars().take_while(char::is_ascii_digit).collect();
    if lead.len() == 3
        && let Ok(code) = lead.parse::<u16>()
    {
        return code;
    }
    if caller_gave_up {
        return 487;
    }
    best_failure.unwrap_or(480)
}

/// Why forks stopped ringing, from a fork's final status.
pub(super) fn stop_reason(status: u16) -> &'static str {
    match status {
        486 | 600 => "busy",
        603 => "declined",
        408 | 480 => "no_answer",
        487 => "cancelled",
        _ => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sip_code_comes_from_the_cause_then_the_phones_then_who_gave_up() {
        assert_eq!(sip_code("BYE", None, Disposition::Answered, true), 200);
        assert_eq!(sip_code("486", None, Disposition::Busy, false), 486);
        assert_eq!(sip_code("480 not registered", None, Disposition::Failed, false), 480);
        assert_eq!(sip_code("CANCEL", Some(486), Disposition::Missed, true), 487);
        assert_eq!(sip_code("no answer", Some(603), Disposition::Missed, false), 603);
        assert_eq!(sip_code("no answer", None, Disposition::Missed, false), 480);
        assert_eq!(stop_reason(486), "busy");
        assert_eq!(stop_reason(500), "failed");
    }
}
