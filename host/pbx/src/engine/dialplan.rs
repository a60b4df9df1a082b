//! Who rings, in what order, and what happens when they do not answer: ring groups
//! (simultaneous, random, sequential, round-robin), users' forwarding (always, busy, no
//! answer, unreachable, followed along chains with loop protection) and plain dials are all
//! turned into a list of steps. A step rings some phones, for a while; when it fails the
//! step's forwarding decides the next one, else the next step in the list.

use super::call::{CallKey, ForkTarget};
use super::directory::{GroupInfo, TenantInfo};
use super::routing::Dialled;
use super::{Engine, EngineTimer, Now};
use pbx_store::CallOp;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Longest forwarding chain followed.
const MAX_FORWARDS: usize = 5;

/// Where a step's calls go when it fails, by why it failed.
#[derive(Debug, Clone, Default)]
pub struct Redirects {
    /// The user whose forwarding this is.
    pub from_ext: String,
    /// Busy (486/600/603).
    pub busy: Option<String>,
    /// Not answered in time.
    pub no_answer: Option<String>,
    /// Not registered or not reachable (404/408/480/5xx).
    pub unreachable: Option<String>,
}

/// One step of a dial: these phones ring together, for `secs` at most.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// The legs.
    pub targets: Vec<ForkTarget>,
    /// How long (none: until the whole dial's timeout).
    pub secs: Option<u32>,
    /// Forwarding if the step fails.
    pub redirects: Option<Redirects>,
    /// What it is, for the timeline.
    pub label: String,
}

impl Step {
    /// A step that rings `targets` together.
    pub fn all(targets: Vec<ForkTarget>, label: &str) -> Step {
        Step { targets, secs: None, redirects: None, label: label.to_string() }
    }
}

/// Why a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepFailure {
    /// Every phone said busy.
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// Nothing reachable.
    Unreachable,
}

impl StepFailure {
    /// From the best final status the step's phones answered.
    pub fn from_status(status: u16) -> StepFailure {
        match status {
            486 | 600 | 603 => StepFailure::Busy,
            408 | 487 => StepFailure::NoAnswer,
            _ => StepFailure::Unreachable,
        }
    }
}

/// The caller as phones show them.
#[derive(Debug, Clone)]
pub struct Presented {
    /// Number.
    pub number: String,
    /// Name.
    pub name: String,
}

impl Engine {
    /// Users of a tenant in a call right now.
    pub(super) fn talking(&self) -> std::collections::HashSet<i64> {
        self.calls
            .values()
            .filter(|c| c.state == super::call::CallState::Answered)
            .flat_map(|c| [c.caller.user_id, c.callee.user_id])
            .flatten()
            .collect()
    }

    /// Steps that reach a target string (extension, group, or external number).
    pub(super) fn target_steps(
        &mut self,
        tenant: &Arc<TenantInfo>,
        target: &str,
        who: &Presented,
        visited: &mut Vec<i64>,
        now: Now,
    ) -> Vec<Step> {
        match self.classify(tenant, target) {
            Dialled::Extension(uid) => self.user_steps(tenant, uid, who, visited, now),
            Dialled::Group(g) => self.group_steps(tenant, &g, who, now).0,
            Dialled::External(n) | Dialled::Emergency(n) => match self.trunk_target(tenant, None, &n, false) {
                Ok((leg, _, _)) => vec![Step::all(vec![leg], &n)],
                Err(why) => {
                    tracing::info!(target = %n, ?why, "cannot forward to an external number");
                    Vec::new()
                }
            },
            Dialled::Queue(_) | Dialled::Unknown => Vec::new(),
        }
    }

    /// Steps that ring a user, following their forwarding.
    pub(super) fn user_steps(
        &mut self,
        tenant: &Arc<TenantInfo>,
        user_id: i64,
        who: &Presented,
        visited: &mut Vec<i64>,
        now: Now,
    ) -> Vec<Step> {
        let Some(user) = self.dir.user_by_id(user_id).cloned() else { return Vec::new() };
        if self.dir.user_blocks(user_id, &who.number) {
            tracing::info!(ext = %user.ext, "the caller is on the user's blacklist");
            return Vec::new();
        }
        let f = user.forwarding.clone();
        let looping = visited.contains(&user_id) || visited.len() >= MAX_FORWARDS;
        visited.push(user_id);
        let own = self.user_targets(tenant, user_id, &who.number, &who.name, now);
        let step = |targets: Vec<ForkTarget>, secs: Option<u32>, redirects: Option<Redirects>| Step {
            targets,
            secs,
            redirects,
            label: user.ext.clone(),
        };
        if looping {
            tracing::info!(ext = %user.ext, "forwarding loop: ringing the user itself");
            return vec![step(own, None, None)];
        }
        let redirects = Redirects {
            from_ext: user.ext.clone(),
            busy: f.busy.clone(),
            no_answer: f.no_answer.clone(),
            unreachable: f.unreachable.clone(),
        };
        if let Some(t) = &f.always {
            return self.redirect_steps(tenant, &user.ext, t, "always", who, visited, now);
        }
        if user.dnd {
            tracing::info!(ext = %user.ext, "do not disturb");
            return match &f.busy {
                Some(t) => self.redirect_steps(tenant, &user.ext, t, "do not disturb", who, visited, now),
                None => Vec::new(),
            };
        }
        if own.is_empty() {
            return match &f.unreachable {
                Some(t) => self.redirect_steps(tenant, &user.ext, t, "unreachable", who, visited, now),
                None => Vec::new(),
            };
        }
        if self.talking().contains(&user_id)
            && let Some(t) = &f.busy
        {
            return self.redirect_steps(tenant, &user.ext, t, "busy", who, visited, now);
        }
        let secs = f.no_answer.as_ref().map(|_| f.no_answer_seconds.clamp(3, 300) as u32);
        vec![step(own, secs, f.any().then_some(redirects))]
    }

    /// Steps of a forwarding redirect; the step carries the label `from → to (why)`.
    #[allow(clippy::too_many_arguments)]
    fn redirect_steps(
        &mut self,
        tenant: &Arc<TenantInfo>,
        from: &str,
        to: &str,
        why: &str,
        who: &Presented,
        visited: &mut Vec<i64>,
        now: Now,
    ) -> Vec<Step> {
        let mut steps = self.target_steps(tenant, to, who, visited, now);
        if let Some(first) = steps.first_mut() {
            first.label = format!("{from} → {} ({why})", first.label);
        }
        steps
    }

    /// Steps of a ring group by its strategy, skipping members who are busy or not
    /// registered, and the group's total timeout.
    pub(super) fn group_steps(&mut self, tenant: &Arc<TenantInfo>, g: &Arc<GroupInfo>, who: &Presented, now: Now) -> (Vec<Step>, Duration) {
        let talking = self.talking();
        let mut order: Vec<i64> = g
            .members
            .iter()
            .copied()
            .filter(|u| !talking.contains(u) && self.dir.user_by_id(*u).is_some_and(|x| self.rings_for(x, &who.number)))
            .collect();
        match g.strategy.as_str() {
            "random" => {
                // Fisher–Yates with the engine's generator.
                for i in (1..order.len()).rev() {
                    order.swap(i, super::rng::below(i + 1));
                }
            }
            "round-robin" => {
                if let Some(last) = self.round_robin.get(&g.id)
                    && let Some(pos) = order.iter().position(|u| u == last)
                {
                    order.rotate_left(pos + 1);
                }
            }
            _ => {}
        }
        let legs: Vec<(i64, Vec<ForkTarget>)> = order
            .into_iter()
            .map(|u| (u, self.user_targets(tenant, u, &who.number, &who.name, now)))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        let ext_of = |u: i64| self.dir.user_by_id(u).map(|x| x.ext.clone()).unwrap_or_default();
        let steps = if g.strategy == "simultaneous" {
            let label = legs.iter().map(|(u, _)| ext_of(*u)).collect::<Vec<_>>().join(",");
            vec![Step::all(legs.into_iter().flat_map(|(_, t)| t).collect(), &label)]
        } else {
            legs.into_iter().map(|(u, t)| Step { targets: t, secs: Some(g.ring_seconds), redirects: None, label: ext_of(u) }).collect()
        };
        (steps, Duration::from_secs(u64::from(g.timeout_seconds)))
    }

    /// Starts ringing a plan: the whole dial gives up after `total`.
    pub(super) fn start_plan(&mut self, key: CallKey, steps: Vec<Step>, total: Option<Duration>, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        call.plan = steps.into();
        call.ring_for = total;
        call.best_failure = None;
        self.ring_targets(key, now);
    }

    /// Starts the next step with phones to ring; false when none is left.
    pub(super) fn next_step(&mut self, key: CallKey, now: Now) -> bool {
        loop {
            let Some(call) = self.calls.get_mut(&key) else { return false };
            let Some(step) = call.plan.pop_front() else { return false };
            if step.targets.is_empty() {
                continue;
            }
            if let Some(t) = call.step_timer.take() {
                self.timers.cancel(t);
            }
            call.step_seq += 1;
            call.redirects = step.redirects.clone();
            call.step_first_fork = call.forks.len();
            let seq = call.step_seq;
            if let Some(secs) = step.secs {
                let t = self.timers.schedule(now.mono + Duration::from_secs(u64::from(secs)), EngineTimer::StepTimeout(key, seq));
                if let Some(c) = self.calls.get_mut(&key) {
                    c.step_timer = Some(t);
                }
            }
            if step.label.contains('→') {
                let from = step.label.split(' ').next().unwrap_or_default().to_string();
                self.timeline(key, "forward", step.label.clone(), now);
                if let Some(c) = self.calls.get(&key) {
                    let op = CallOp::Mark { id: c.uid.clone(), forwarded_from: Some(from), via: None, kind: None };
                    self.actions.push_back(super::Action::Cdr { op, ack: None });
                }
            } else {
                self.timeline(key, "ring", step.label.clone(), now);
            }
            for t in step.targets {
                self.start_fork(key, t, now);
            }
            return true;
        }
    }

    /// The current step failed: its forwarding, else the next step. True when something
    /// rings again.
    pub(super) fn step_failed(&mut self, key: CallKey, why: StepFailure, now: Now) -> bool {
        let Some(call) = self.calls.get_mut(&key) else { return false };
        if let Some(t) = call.step_timer.take() {
            self.timers.cancel(t);
        }
        let tenant = call.tenant.clone();
        let who = Presented { number: call.caller.number.clone(), name: call.caller.name.clone() };
        if let Some(r) = call.redirects.take() {
            let target = match why {
                StepFailure::Busy => r.busy.clone(),
                StepFailure::NoAnswer => r.no_answer.clone(),
                StepFailure::Unreachable => r.unreachable.clone(),
            };
            if let Some(t) = target {
                let why_s = match why {
                    StepFailure::Busy => "busy",
                    StepFailure::NoAnswer => "no answer",
                    StepFailure::Unreachable => "unreachable",
                };
                let mut visited: Vec<i64> = self.dir.user(tenant.id, &r.from_ext).map(|u| vec![u.id]).unwrap_or_default();
                let steps = self.redirect_steps(&tenant, &r.from_ext, &t, why_s, &who, &mut visited, now);
                if let Some(c) = self.calls.get_mut(&key) {
                    for s in steps.into_iter().rev() {
                        c.plan.push_front(s);
                    }
                }
            }
        }
        self.next_step(key, now)
    }

    /// A step's own time ran out: cancel its phones and go on.
    pub(super) fn on_step_timeout(&mut self, key: CallKey, seq: u64, now: Now) {
        let _span = self.call_span(key).entered();
        let Some(call) = self.calls.get_mut(&key) else { return };
        if call.step_seq != seq || call.state != super::call::CallState::Ringing {
            return;
        }
        call.step_timer = None;
        self.cancel_pending_forks(key, None, now);
        if !self.step_failed(key, StepFailure::NoAnswer, now) {
            self.on_ring_timeout(key, now);
        }
    }

    /// Per-user outcomes of everyone rung, for the call log's statistics.
    pub(super) fn legs_op(&self, key: CallKey, answered: bool) -> Option<CallOp> {
        let call = self.calls.get(&key)?;
        let winner_user = call.winner.and_then(|w| call.forks.get(w)).and_then(|f| f.user_id);
        let mut legs: Vec<(i64, String, i64)> = Vec::new();
        for (user, at) in &call.rung {
            if legs.iter().any(|(u, _, _)| u == user) {
                continue;
            }
            let busy = call.forks.iter().any(|f| f.user_id == Some(*user) && matches!(f.fail_status, Some(486 | 600)));
            let outcome = if Some(*user) == winner_user {
                "answered"
            } else if answered {
                "elsewhere"
            } else if busy {
                "busy"
            } else {
                "missed"
            };
            legs.push((*user, outcome.to_string(), *at));
        }
        if legs.is_empty() { None } else { Some(CallOp::Legs { id: call.uid.clone(), legs }) }
    }
}

/// Steps as a queue for the call.
pub type Plan = VecDeque<Step>;
