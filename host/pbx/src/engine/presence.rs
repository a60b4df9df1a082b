//! Who is on the phone, for the cabinet: every second the engine looks at each company's
//! users (registered or not, "do not disturb", ringing, talking) and publishes a company's
//! list when it changed, so a receptionist sees colleagues' states without a desk phone.

use super::call::{CallState, ForkState};
use super::{Action, Engine, EngineTimer, Now};
use std::collections::HashMap;
use std::time::Duration;

/// How often presence is looked at.
pub(super) const PRESENCE_TICK: Duration = Duration::from_secs(1);

/// What a user is doing, as the cabinet shows it.
pub(super) fn state_name(offline: bool, dnd: bool, activity: Option<&str>) -> &'static str {
    match (activity, dnd, offline) {
        (Some("talking"), _, _) => "talking",
        (Some(_), _, _) => "ringing",
        (None, _, true) => "offline",
        (None, true, false) => "dnd",
        (None, false, false) => "idle",
    }
}

impl Engine {
    /// Ringing or talking, per user, from one pass over the calls.
    fn activity(&self) -> HashMap<i64, &'static str> {
        let mut out: HashMap<i64, &'static str> = HashMap::new();
        for c in self.calls.values() {
            if c.state == CallState::Answered {
                for u in [c.caller.user_id, c.callee.user_id].into_iter().flatten() {
                    out.insert(u, "talking");
                }
                continue;
            }
            let ringing = c.forks.iter().filter(|f| matches!(f.state, ForkState::Calling | ForkState::Early)).filter_map(|f| f.user_id);
            for u in ringing.chain(c.caller.user_id) {
                out.entry(u).or_insert("ringing");
            }
        }
        out
    }

    /// The tick: each company whose list changed is published.
    pub(super) fn on_presence_tick(&mut self, now: Now) {
        self.timers.schedule(now.mono + PRESENCE_TICK, EngineTimer::PresenceTick);
        let activity = self.activity();
        let mut tenants: Vec<i64> = self.dir.tenant_ids();
        tenants.sort_unstable();
        for t in tenants {
            let users: Vec<(String, String)> = self
                .dir
                .users_of(t)
                .iter()
                .map(|u| {
                    let offline = !self.location.has_binding(u.id, now.mono);
                    (u.ext.clone(), state_name(offline, u.dnd, activity.get(&u.id).copied()).to_string())
                })
                .collect();
            if self.presence.get(&t) == Some(&users) {
                continue;
            }
            self.presence.insert(t, users.clone());
            self.actions.push_back(Action::Presence { tenant_id: t, users, at: now.wall_ms });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::state_name;

    #[test]
    fn talking_outranks_everything_and_offline_outranks_dnd() {
        assert_eq!(state_name(true, true, Some("talking")), "talking");
        assert_eq!(state_name(false, true, Some("ringing")), "ringing");
        assert_eq!(state_name(true, true, None), "offline");
        assert_eq!(state_name(false, true, None), "dnd");
        assert_eq!(state_name(false, false, None), "idle");
    }
}
