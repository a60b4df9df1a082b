//! Calls walking through their city number's scenario: the engine carries out what the
//! scenario runner asks (plugin decisions on a worker, prompts, digit collection, dials)
//! and feeds the results back. A plugin's failure or a stuck decision never holds a call:
//! the runner takes the error route, or the tenant's fallback rings everyone.

use super::call::{CallKey, CallState, Gather, HangupBy, PlayPurpose};
use super::dialplan::{Presented, Step};
use super::routing::Dialled;
use super::{Action, Engine, EngineTimer, Now};
use crate::scenario::{Command, Feedback};
use pbx_media::{Side, Source};
use pbx_plugin_host::{DialOutcome, GatherSpec, Gathered, PluginError, UserInfo as PluginUser, Verb};
use pbx_store::Disposition;
use std::time::Duration;

/// Longest typed-ahead input kept.
const MAX_TYPEAHEAD: usize = 32;

impl Engine {
    /// The call's start row is durable: enter the scenario.
    pub(super) fn scenario_start(&mut self, key: CallKey, now: Now) {
        let Some(s) = self.calls.get_mut(&key).and_then(|c| c.scenario.as_mut()) else { return };
        let cmds = s.runner.start();
        self.run_commands(key, cmds, now);
    }

    /// Feeds a result to the call's runner and carries out what follows.
    pub(super) fn scenario_feed_pub(&mut self, key: CallKey, fb: Feedback, now: Now) {
        self.scenario_feed(key, fb, now)
    }

    fn scenario_feed(&mut self, key: CallKey, fb: Feedback, now: Now) {
        let Some(s) = self.calls.get_mut(&key).and_then(|c| c.scenario.as_mut()) else { return };
        let cmds = s.runner.feed(fb);
        self.run_commands(key, cmds, now);
    }

    fn run_commands(&mut self, key: CallKey, cmds: Vec<Command>, now: Now) {
        let _span = self.call_span(key).entered();
        for cmd in cmds {
            if !self.calls.contains_key(&key) {
                return;
            }
            match cmd {
                Command::Plugin { node, plugin, config, event } => self.ask_plugin(key, node, plugin, config, event, now),
                Command::Answer => self.answer_caller_locally(key, now),
                Command::Play(names) => {
                    let prompts = self.resolve_prompts(key, &names);
                    if prompts.is_empty() {
                        self.scenario_feed(key, Feedback::PlayDone, now);
                    } else {
                        self.play_to_caller(key, prompts, PlayPurpose::Scenario, now);
                    }
                }
                Command::Gather(spec) => self.start_gather(key, spec, now),
                Command::Dial { targets, timeout_ms } => self.scenario_dial(key, &targets, timeout_ms, now),
                Command::SetCallerName(name) => {
                    if let Some(c) = self.calls.get_mut(&key) {
                        c.caller.name = name.clone();
                    }
                    self.timeline(key, "caller-name", name, now);
                }
                Command::Enqueue(q) => self.enqueue(key, &q, now),
                Command::Hangup => self.hangup(key, HangupBy::System, "the scenario ended the call", now),
                Command::Fallback(reason) => self.scenario_fallback(key, &reason, now),
                Command::PluginFailed { plugin, kind, message } => {
                    tracing::warn!(%plugin, kind, %message, "plugin failed: taking the error route");
                    if matches!(kind, "invalid-verb" | "no-decision")
                        && let Some(c) = self.calls.get(&key)
                    {
                        self.metrics.plugin_outcome(&c.tenant.slug, &plugin, Some(kind));
                    }
                    self.timeline(key, "plugin-failed", format!("{plugin}: {kind}: {message}"), now);
                }
            }
        }
    }

    fn resolve_prompts(&self, key: CallKey, names: &[String]) -> Vec<std::sync::Arc<pbx_media::prompt::Prompt>> {
        let Some(call) = self.calls.get(&key) else { return Vec::new() };
        names
            .iter()
            .filter_map(|n| {
                let p = self.dir.prompt(&call.tenant, n);
                if p.is_none() {
                    tracing::warn!(prompt = %n, "no such prompt: skipped");
                }
                p
            })
            .collect()
    }

    fn ask_plugin(&mut self, key: CallKey, node: String, plugin: String, config: String, event: Box<pbx_plugin_host::Event>, now: Now) {
        let token = {
            self.next_call += 1;
            self.next_call
        };
        let Some(call) = self.calls.get(&key) else { return };
        let tenant = call.tenant.clone();
        let call_id = call.uid.clone();
        let wants_directory = self.plugins.as_ref().is_some_and(|p| p.wants_directory(tenant.id, &plugin));
        let directory = if wants_directory { self.plugin_directory(tenant.id, now) } else { Vec::new() };
        let timer = self.timers.schedule(now.mono + self.cfg.plugin_watchdog, EngineTimer::PluginWatchdog(key, token));
        let mut pinned = None;
        if let Some(s) = self.calls.get_mut(&key).and_then(|c| c.scenario.as_mut()) {
            s.plugin_token = token;
            s.asked = plugin.clone();
            pinned = s.pinned.get(&plugin).cloned();
            if let Some(old) = s.plugin_timer.replace(timer) {
                self.timers.cancel(old);
            }
        }
        self.timeline(key, "node", format!("{node}: {plugin}"), now);
        let call = crate::plugins::PluginCall {
            tenant_id: tenant.id,
            tenant: tenant.slug.clone(),
            timezone: tenant.timezone.clone(),
            plugin,
            config,
            call_id,
            event: *event,
            directory,
            at_ms: now.wall_ms,
            pinned,
        };
        self.actions.push_back(Action::Plugin { key, token, call: Box::new(call) });
    }

    /// The tenant's users as a plugin sees them: available when registered and not talking.
    fn plugin_directory(&self, tenant_id: i64, now: Now) -> Vec<PluginUser> {
        let talking: std::collections::HashSet<i64> = self
            .calls
            .values()
            .filter(|c| c.state == CallState::Answered)
            .flat_map(|c| [c.caller.user_id, c.callee.user_id])
            .flatten()
            .collect();
        self.dir
            .users_of(tenant_id)
            .iter()
            .map(|u| PluginUser {
                ext: u.ext.clone(),
                name: u.name.clone(),
                available: !talking.contains(&u.id) && !self.location.bindings(u.id, now.mono).is_empty(),
            })
            .collect()
    }

    /// A plugin decided (or failed, or its watchdog fired).
    pub(super) fn on_plugin_done(
        &mut self,
        key: CallKey,
        token: u64,
        result: Result<Vec<Verb>, PluginError>,
        version: Option<crate::plugins::Pinned>,
        now: Now,
    ) {
        let Some(s) = self.calls.get_mut(&key).and_then(|c| c.scenario.as_mut()) else { return };
        if s.plugin_token != token || token == 0 {
            return; // A late answer for a decision the call stopped waiting for.
        }
        s.plugin_token = 0;
        if let Some(v) = version {
            s.pinned.entry(s.asked.clone()).or_insert(v);
        }
        if let Some(t) = s.plugin_timer.take() {
            self.timers.cancel(t);
        }
        self.scenario_feed(key, Feedback::Plugin(result), now);
    }

    // ----- digits -----

    fn start_gather(&mut self, key: CallKey, spec: GatherSpec, now: Now) {
        let prompts = self.resolve_prompts(key, &spec.prompts);
        let Some(s) = self.calls.get_mut(&key).and_then(|c| c.scenario.as_mut()) else { return };
        let typed: String = std::mem::take(&mut s.typeahead);
        let barge_in = spec.barge_in;
        s.gather = Some(Gather { spec, digits: String::new(), prompts_done: false, timer: None });
        if prompts.is_empty() || (!typed.is_empty() && barge_in) {
            if let Some(g) = s.gather.as_mut() {
                g.prompts_done = true;
            }
        } else {
            self.play_to_caller(key, prompts, PlayPurpose::Scenario, now);
        }
        for d in typed.chars() {
            if !self.gather_digit(key, d, now) {
                return;
            }
        }
        self.arm_gather_timer(key, now);
    }

    /// (Re)starts the gather's timer: the first-digit wait once the prompts are over, the
    /// inter-digit wait after a key. A first-digit wait of zero ends the gather right away.
    fn arm_gather_timer(&mut self, key: CallKey, now: Now) {
        let Some(g) = self.calls.get_mut(&key).and_then(|c| c.scenario.as_mut()).and_then(|s| s.gather.as_mut()) else { return };
        if let Some(t) = g.timer.take() {
            self.timers.cancel(t);
        }
        let wait = if g.digits.is_empty() {
            if !g.prompts_done {
                return;
            }
            g.spec.first_timeout_ms
        } else {
            g.spec.inter_digit_timeout_ms.max(300)
        };
        if wait == 0 {
            return self.finish_gather(key, "timeout", now);
        }
        let t = self.timers.schedule(now.mono + Duration::from_millis(u64::from(wait)), EngineTimer::GatherTimeout(key));
        if let Some(g) = self.calls.get_mut(&key).and_then(|c| c.scenario.as_mut()).and_then(|s| s.gather.as_mut()) {
            g.timer = Some(t);
        }
    }

    /// A key from the caller for the scenario; false when the scenario does not take keys
    /// now (the digit is then only logged).
    pub(super) fn gather_digit(&mut self, key: CallKey, digit: char, now: Now) -> bool {
        let Some(call) = self.calls.get_mut(&key) else { return false };
        if call.state != CallState::Scenario {
            return false;
        }
        let Some(s) = call.scenario.as_mut() else { return false };
        let Some(g) = s.gather.as_mut() else {
            if s.typeahead.len() < MAX_TYPEAHEAD {
                s.typeahead.push(digit);
            }
            return true;
        };
        if g.spec.terminator.as_deref().is_some_and(|t| t.starts_with(digit)) {
            self.finish_gather(key, "terminator", now);
            return false;
        }
        g.digits.push(digit);
        if g.digits.len() >= usize::from(g.spec.max_digits) {
            self.finish_gather(key, "max-digits", now);
            return false;
        }
        if g.spec.barge_in && !g.prompts_done {
            g.prompts_done = true;
            self.stop_scenario_prompt(key);
        }
        self.arm_gather_timer(key, now);
        true
    }

    fn stop_scenario_prompt(&mut self, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        if call.playing.is_some_and(|(_, p)| p == PlayPurpose::Scenario) {
            call.playing = None;
            self.media.set_source(call.media_id, Side::A, Source::Silence);
        }
    }

    pub(super) fn on_gather_timeout(&mut self, key: CallKey, now: Now) {
        if let Some(g) = self.calls.get_mut(&key).and_then(|c| c.scenario.as_mut()).and_then(|s| s.gather.as_mut()) {
            g.timer = None;
            self.finish_gather(key, "timeout", now);
        }
    }

    fn finish_gather(&mut self, key: CallKey, reason: &str, now: Now) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let tenant_id = call.tenant.id;
        let Some(g) = call.scenario.as_mut().and_then(|s| s.gather.take()) else { return };
        if let Some(t) = g.timer {
            self.timers.cancel(t);
        }
        self.stop_scenario_prompt(key);
        let dialable = self.dir.user(tenant_id, &g.digits).is_some() || self.dir.group(tenant_id, &g.digits).is_some();
        let extension = if g.spec.extension_dialing && !g.digits.is_empty() && dialable { Some(g.digits.clone()) } else { None };
        self.timeline(key, "gathered", format!("{:?} ({reason})", g.digits), now);
        self.scenario_feed(key, Feedback::Gathered { gathered: Gathered { digits: g.digits, reason: reason.to_string() }, extension }, now);
    }

    /// Prompts of the scenario finished.
    pub(super) fn scenario_play_done(&mut self, key: CallKey, now: Now) {
        let Some(s) = self.calls.get_mut(&key).and_then(|c| c.scenario.as_mut()) else { return };
        match s.gather.as_mut() {
            Some(g) => {
                g.prompts_done = true;
                self.arm_gather_timer(key, now);
            }
            None => self.scenario_feed(key, Feedback::PlayDone, now),
        }
    }

    // ----- dialing -----

    fn scenario_dial(&mut self, key: CallKey, targets: &[String], timeout_ms: u32, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        let tenant = call.tenant.clone();
        let who = Presented { number: call.caller.number.clone(), name: call.caller.name.clone() };
        self.timeline(key, "dial", targets.join(","), now);
        // One target follows its own rules (a group's strategy, a user's forwarding);
        // several ring together.
        let mut via = None;
        let (steps, total) = match targets {
            // Every phone of the company at once (the default setup's "everyone").
            [one] if one == crate::scenario::default_setup::EVERYONE => (
                vec![Step::all(self.ring_all_targets(&tenant, &who.number, &who.name, now), "everyone")],
                Duration::from_millis(u64::from(timeout_ms.max(1000))),
            ),
            [one] => match self.classify(&tenant, one) {
                Dialled::Group(g) => {
                    via = Some((g.id, g.ext.clone()));
                    let (steps, total) = self.group_steps(&tenant, &g, &who, now);
                    (steps, total.min(Duration::from_millis(u64::from(timeout_ms.max(1000)))))
                }
                Dialled::Queue(q) => return self.scenario_fallback(key, &format!("queue {} is dialled with a queue node", q.ext), now),
                _ => (self.target_steps(&tenant, one, &who, &mut Vec::new(), now), Duration::from_millis(u64::from(timeout_ms.max(1000)))),
            },
            many => {
                let mut legs = Vec::new();
                for t in many {
                    if let Some(first) =
                        self.target_steps(&tenant, t, &who, &mut Vec::new(), now).into_iter().find(|s| !s.targets.is_empty())
                    {
                        legs.extend(first.targets);
                    }
                }
                (vec![Step::all(legs, &many.join(","))], Duration::from_millis(u64::from(timeout_ms.max(1000))))
            }
        };
        if steps.iter().all(|s| s.targets.is_empty()) {
            return self.scenario_feed(key, Feedback::DialDone(DialOutcome::Failed), now);
        }
        let Some(call) = self.calls.get_mut(&key) else { return };
        if let Some(s) = call.scenario.as_mut() {
            s.dialing = true;
        }
        if let Some((gid, ext)) = via {
            call.via = Some((gid, ext.clone()));
            let op = pbx_store::CallOp::Mark { id: call.uid.clone(), forwarded_from: None, via: Some(ext), kind: None };
            self.actions.push_back(Action::Cdr { op, ack: None });
        }
        self.start_plan(key, steps, Some(total), now);
    }

    /// A scenario's dial ended without an answer: back to the scenario; false when the call
    /// is not dialing for a scenario.
    pub(super) fn scenario_dial_ended(&mut self, key: CallKey, outcome: DialOutcome, now: Now) -> bool {
        let Some(call) = self.calls.get_mut(&key) else { return false };
        let Some(s) = call.scenario.as_mut() else { return false };
        if !s.dialing {
            return false;
        }
        s.dialing = false;
        call.state = CallState::Scenario;
        if let Some(t) = call.ring_timer.take() {
            self.timers.cancel(t);
        }
        self.cancel_pending_forks(key, None, now);
        if let Some(call) = self.calls.get_mut(&key)
            && call.a_answered
        {
            call.playing = None;
            self.media.set_source(call.media_id, Side::A, Source::Silence);
        }
        self.scenario_feed(key, Feedback::DialDone(outcome), now);
        true
    }

    /// The scenario cannot go on: ring everyone of the tenant (the default group).
    fn scenario_fallback(&mut self, key: CallKey, reason: &str, now: Now) {
        tracing::warn!(%reason, "scenario fallback: ringing everyone");
        self.timeline(key, "fallback", reason.to_string(), now);
        let Some(call) = self.calls.get_mut(&key) else { return };
        if let Some(s) = call.scenario.take() {
            for t in [s.plugin_timer, s.gather.and_then(|g| g.timer)].into_iter().flatten() {
                self.timers.cancel(t);
            }
        }
        let tenant = call.tenant.clone();
        let (number, name) = (call.caller.number.clone(), call.caller.name.clone());
        self.stop_scenario_prompt(key);
        let targets = self.ring_all_targets(&tenant, &number, &name, now);
        if targets.is_empty() {
            if self.farewell_if_answered(key, now) {
                return;
            }
            return self.finish_unanswered(key, 480, Disposition::Missed, "nobody to ring", HangupBy::System, now);
        }
        self.start_plan(key, vec![Step::all(targets, "everyone")], None, now);
    }
}
