//! Click-to-call: a user (from the cabinet) or an integration (`POST /api/v1/calls`) asks for
//! a call; the user's phone rings first and, once they answer, the PBX calls the number (an
//! extension of the company, or a number out through its trunk presenting a chosen city
//! number). The integration's correlation id travels into the call's events.

use super::call::{CallKey, HangupBy, Party};
use super::dialplan::Step;
use super::originate::{AgentLeg, ClickToCall, OriginateError};
use super::routing::TrunkRefusal;
use super::{Engine, Now};
use pbx_store::Direction as CallDirection;
use std::time::Duration;

/// Longest correlation id kept.
pub const MAX_CORRELATION_LEN: usize = 128;
/// How long the user's phone rings by default, and at most.
pub const DEFAULT_RING: Duration = Duration::from_secs(30);

/// What an API or plugin asks the engine to originate.
#[derive(Debug, Clone)]
pub struct OriginateRequest {
    /// Company.
    pub tenant_id: i64,
    /// The user whose phone rings first.
    pub ext: String,
    /// The number to call once they answer (an extension or any usual form of a number).
    pub number: String,
    /// City number to present (none: the user's own, else the company's main one).
    pub line: Option<String>,
    /// The integration's id for the call.
    pub correlation_id: Option<String>,
    /// How long the user's phone rings (capped at [`DEFAULT_RING`] × 4).
    pub ring: Option<Duration>,
    /// The call log's kind for the call (`click-to-call`, `integration-call`).
    pub kind: &'static str,
    /// A request with the key of one placed in the last ten minutes places nothing and
    /// answers that call's id (a retried request, an event delivered again).
    pub dedup_key: Option<String>,
}

/// How long a placed call's key is remembered.
const DEDUP_FOR: Duration = Duration::from_secs(600);
/// Keys remembered at most.
const DEDUP_MAX: usize = 10_000;

impl From<TrunkRefusal> for OriginateError {
    fn from(r: TrunkRefusal) -> OriginateError {
        match r {
            TrunkRefusal::Balance => OriginateError::Balance,
            TrunkRefusal::NoNumber | TrunkRefusal::NoTrunk | TrunkRefusal::Unresolved => OriginateError::NoTrunk,
            TrunkRefusal::BadNumber => OriginateError::BadNumber,
        }
    }
}

impl Engine {
    /// Places a click-to-call; returns the call-log id of the new call.
    pub fn originate(&mut self, req: OriginateRequest, now: Now) -> Result<String, OriginateError> {
        let key = req.dedup_key.as_ref().map(|k| (req.tenant_id, k.clone()));
        if let Some(k) = &key {
            self.originated.retain(|_, (_, at)| now.mono.saturating_duration_since(*at) < DEDUP_FOR);
            if let Some((id, _)) = self.originated.get(k) {
                return Ok(id.clone());
            }
        }
        let id = self.originate_new(req, now)?;
        if let Some(k) = key
            && self.originated.len() < DEDUP_MAX
        {
            self.originated.insert(k, (id.clone(), now.mono));
        }
        Ok(id)
    }

    fn originate_new(&mut self, req: OriginateRequest, now: Now) -> Result<String, OriginateError> {
        let tenant = self.dir.tenant(req.tenant_id).cloned().ok_or(OriginateError::Tenant)?;
        if tenant.suspended {
            return Err(OriginateError::Tenant);
        }
        let user = self.dir.user(tenant.id, req.ext.trim()).cloned().ok_or(OriginateError::NoUser)?;
        let correlation_id = match req.correlation_id.as_deref().map(str::trim) {
            Some(c) if c.len() > MAX_CORRELATION_LEN || c.chars().any(char::is_control) => return Err(OriginateError::BadCorrelation),
            Some("") | None => None,
            Some(c) => Some(c.to_string()),
        };
        let wanted = req.number.trim();
        // An extension of the company, or a number out through its trunk.
        let (callee, direction, did, trunk) = if let Some(target) = self.dir.user(tenant.id, wanted).cloned() {
            if target.id == user.id {
                return Err(OriginateError::BadNumber);
            }
            if self.location.bindings(target.id, now.mono).is_empty() {
                return Err(OriginateError::TargetNotRegistered);
            }
            (Party { number: target.ext.clone(), name: target.name.clone(), user_id: Some(target.id) }, CallDirection::Internal, None, None)
        } else {
            let number = pbx_store::numbers::normalize(wanted, &tenant.country_code).ok_or(OriginateError::BadNumber)?;
            let did = match req.line.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
                Some(line) => {
                    let n = pbx_store::numbers::normalize(line, &tenant.country_code).ok_or(OriginateError::BadLine)?;
                    self.dir.did(&n).filter(|d| d.tenant_id == tenant.id).cloned().ok_or(OriginateError::BadLine)?
                }
                None => self.dir.caller_id_for(tenant.id, Some(user.id)).cloned().ok_or(OriginateError::NoTrunk)?,
            };
            // Checked now so that the user's phone does not ring for a call that cannot go out.
            let (_, _, trunk) = self.trunk_target_via(&tenant, &did, &number, false)?;
            (Party { number, name: String::new(), user_id: None }, CallDirection::Outbound, Some(did.number.clone()), Some(trunk))
        };
        let counted = super::limits::Counted { tenant: tenant.id, user: Some(user.id), trunk: trunk.clone() };
        if self.counts.admit(&self.cfg.limits, &counted, self.media.free_ports() / 2).is_err() {
            return Err(OriginateError::Busy);
        }
        let shown_name = if callee.name.is_empty() { callee.number.clone() } else { callee.name.clone() };
        let leg = AgentLeg {
            tenant,
            user: user.clone(),
            shown_number: callee.number.clone(),
            shown_name,
            callee: callee.clone(),
            did: did.clone(),
            trunk,
            direction,
            via: None,
            kind: Some(req.kind),
            ring: req.ring.unwrap_or(DEFAULT_RING).clamp(Duration::from_secs(5), DEFAULT_RING * 4),
            queue: None,
            origin: None,
            click: Some(Box::new(ClickToCall { target_user: callee.user_id, line: did, correlation_id })),
        };
        let (key, uid) = self.place_agent_leg(leg, now)?;
        self.counts.add(key, counted);
        self.timeline(key, "click-to-call", format!("ringing {} first, then {}", user.ext, callee.number), now);
        Ok(uid)
    }

    /// The user answered their click-to-call: ring the number.
    pub(super) fn click_answered(&mut self, key: CallKey, c: ClickToCall, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        let tenant = call.tenant.clone();
        let number = call.callee.number.clone();
        let (me_number, me_name) = (call.caller.number.clone(), call.caller.name.clone());
        self.timeline(key, "click-to-call", format!("{me_number} answered; calling {number}"), now);
        let leg = match c.target_user {
            Some(target) => {
                let legs = self.user_targets(&tenant, target, &me_number, &me_name, now);
                if legs.is_empty() {
                    return self.hangup(key, HangupBy::System, "480 not registered", now);
                }
                legs
            }
            None => {
                let did = c.line.as_deref().and_then(|l| self.dir.did(l)).cloned();
                let target = match did {
                    Some(d) if d.tenant_id == tenant.id => self.trunk_target_via(&tenant, &d, &number, false),
                    _ => self.trunk_target(&tenant, self.calls.get(&key).and_then(|c| c.caller.user_id), &number, false),
                };
                match target {
                    Ok((leg, _, _)) => vec![leg],
                    Err(why) => {
                        tracing::warn!(?why, "cannot place the click-to-call");
                        return self.hangup(key, HangupBy::System, "cannot call the number", now);
                    }
                }
            }
        };
        self.start_plan(key, vec![Step::all(leg, &number)], Some(Duration::from_secs(60)), now);
    }
}
