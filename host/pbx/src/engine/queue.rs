//! Call queues: the PBX holds waiting callers with music and periodic announcements (their
//! position, the expected wait, the callback offer), knows each agent's state, asks the
//! tenant's `queue` plugin which agents to offer the first caller to, and overflows callers
//! who wait too long (`timeout`) or find the queue full (`full`). A caller may press 1 to
//! hang up and keep their place: when their turn comes the PBX calls an agent first, then
//! the caller (see `originate`).

use super::call::{CallKey, CallState, PlayPurpose};
use super::dialplan::{Presented, Step};
use super::directory::GroupInfo;
use super::{Action, Engine, EngineTimer, Now};
use crate::scenario::Feedback;
use pbx_media::{Side, Source};
use pbx_plugin_host::{Agent, QueueState, Verb, WaitingCaller};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an agent who let an offer ring out is passed over.
const MISSED_PAUSE: Duration = Duration::from_secs(10);
/// Callback attempts before the PBX gives up on a caller.
pub(super) const CALLBACK_TRIES: u32 = 3;
/// Expected handling time before a queue has history, seconds.
const DEFAULT_HANDLE_S: u64 = 120;

/// Who waits.
#[derive(Debug, Clone)]
pub(super) enum WaiterKind {
    /// A caller on the line.
    Live(CallKey),
    /// A caller who hung up to be called back.
    Callback {
        /// Their number.
        number: String,
        /// Their name.
        name: String,
        /// Attempts so far.
        tries: u32,
    },
}

/// A waiting caller.
#[derive(Debug, Clone)]
pub(super) struct Waiter {
    pub id: u64,
    pub kind: WaiterKind,
    pub since: Instant,
    pub priority: i32,
    pub caller_number: String,
    /// Agents being offered this caller right now.
    pub offered_to: Vec<i64>,
}

/// An agent's history in a queue.
#[derive(Debug, Clone, Default)]
pub(super) struct AgentRt {
    pub last_end: Option<Instant>,
    pub calls_taken: u32,
    pub wrap_until: Option<Instant>,
    pub missed_until: Option<Instant>,
}

/// A queue's live state.
#[derive(Debug, Default)]
pub(super) struct QueueRt {
    pub waiting: Vec<Waiter>,
    pub agents: HashMap<i64, AgentRt>,
    pub last_agent: Option<i64>,
    pub deciding: u64,
    pub handled: u32,
    pub handle_total_s: u64,
    pub published: String,
}

impl QueueRt {
    /// Drops a live caller from the line without any of the usual bookkeeping (the call is
    /// being removed by force).
    pub(super) fn forget(&mut self, key: CallKey) {
        self.waiting.retain(|w| !matches!(w.kind, WaiterKind::Live(k) if k == key));
    }
}

/// Where a call stands in a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuePhase {
    /// Waiting with music.
    Waiting,
    /// Agents are ringing.
    Offered,
    /// An agent answered.
    Connected,
}

/// A call's link to its queue.
#[derive(Debug, Clone)]
pub struct QueueLink {
    /// Queue id.
    pub group_id: u64,
    /// Its waiter.
    pub waiter: u64,
    /// Phase.
    pub phase: QueuePhase,
    /// Announcement timer.
    pub announce: Option<super::timers::TimerId>,
    /// Maximum-wait timer.
    pub max_wait: Option<super::timers::TimerId>,
}

impl Engine {
    fn queue_group(&self, gid: u64) -> Option<Arc<GroupInfo>> {
        self.dir.group_by_id(gid as i64).cloned()
    }

    /// What a waiting caller hears between announcements: the queue's own music, else the
    /// company's, else the built-in track.
    fn music(&self, key: CallKey) -> Option<Arc<pbx_media::prompt::Prompt>> {
        let call = self.calls.get(&key)?;
        let own = call.queue.as_ref().and_then(|l| self.queue_group(l.group_id)).map(|g| g.music_prompt.clone()).unwrap_or_default();
        (!own.is_empty())
            .then(|| self.dir.prompt(&call.tenant, &own))
            .flatten()
            .or_else(|| self.dir.prompt(&call.tenant, &call.tenant.moh_prompt))
            .or_else(|| pbx_media::prompt::builtin(&call.tenant.language, "music"))
    }

    /// Writes how a caller's stay in a queue went, for the queue reports.
    fn queue_record(&mut self, key: CallKey, queue: &str, outcome: &str, agent: Option<i64>, now: Now) {
        let Some(c) = self.calls.get(&key) else { return };
        let op = pbx_store::CallOp::Queue {
            id: c.uid.clone(),
            tenant_id: c.tenant.id,
            queue: queue.to_string(),
            at: now.wall_ms,
            outcome: outcome.to_string(),
            agent,
        };
        self.actions.push_back(Action::Cdr { op, ack: None });
    }

    /// A scenario puts the caller in a queue.
    pub(super) fn enqueue(&mut self, key: CallKey, ext: &str, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        let Some(g) = self.dir.group(call.tenant.id, ext).filter(|g| g.kind == pbx_store::GroupKind::Queue).cloned() else {
            return self.scenario_feed_pub(key, Feedback::QueueDone("full".into()), now);
        };
        let priority = call
            .scenario
            .as_ref()
            .and_then(|s| s.runner.call().variables.iter().find(|(k, _)| k == "priority").and_then(|(_, v)| v.parse().ok()))
            .unwrap_or(0);
        let number = call.caller.number.clone();
        let uid = call.uid.clone();
        let gid = g.id as u64;
        let rt = self.queues.entry(gid).or_default();
        if rt.waiting.len() >= g.max_length as usize {
            self.timeline(key, "queue", format!("{} is full", g.ext), now);
            self.queue_record(key, &g.ext, "full", None, now);
            return self.scenario_feed_pub(key, Feedback::QueueDone("full".into()), now);
        }
        self.next_call += 1;
        let wid = self.next_call;
        rt.waiting.push(Waiter {
            id: wid,
            kind: WaiterKind::Live(key),
            since: now.mono,
            priority,
            caller_number: number,
            offered_to: Vec::new(),
        });
        let position = rt.waiting.len();
        self.answer_caller_locally(key, now);
        let max = self.timers.schedule(now.mono + Duration::from_secs(u64::from(g.max_wait_seconds)), EngineTimer::QueueMaxWait(key));
        // The queue's announcement on entering comes before the first position message.
        let entry =
            if g.entry_prompt.is_empty() { None } else { self.calls.get(&key).and_then(|c| self.dir.prompt(&c.tenant, &g.entry_prompt)) };
        let first = match &entry {
            Some(p) => Duration::from_millis(p.duration_ms().saturating_add(500)),
            None => Duration::from_millis(500),
        };
        let ann = self.timers.schedule(now.mono + first, EngineTimer::QueueAnnounce(key));
        if let Some(c) = self.calls.get_mut(&key) {
            c.state = CallState::Scenario;
            c.queue = Some(QueueLink { group_id: gid, waiter: wid, phase: QueuePhase::Waiting, announce: Some(ann), max_wait: Some(max) });
            c.via = Some((g.id, g.ext.clone()));
        }
        match entry {
            Some(p) => self.play_to_caller(key, vec![p], PlayPurpose::QueueAnnounce, now),
            None => {
                if let Some(m) = self.music(key)
                    && let Some(c) = self.calls.get(&key)
                {
                    self.media.set_source(c.media_id, Side::A, Source::Loop(m));
                }
            }
        }
        let op = pbx_store::CallOp::Mark { id: uid, forwarded_from: None, via: Some(g.ext.clone()), kind: None };
        self.actions.push_back(Action::Cdr { op, ack: None });
        self.timeline(key, "queue", format!("joined {} at position {position}", g.ext), now);
        self.queue_record(key, &g.ext, "waiting", None, now);
        self.ensure_queue_tick(now);
        self.queue_dispatch(gid, now);
    }

    /// Callers in order of service: priority first, then who waited longest.
    fn queue_order(rt: &QueueRt) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..rt.waiting.len()).collect();
        idx.sort_by(|&a, &b| rt.waiting[b].priority.cmp(&rt.waiting[a].priority).then(rt.waiting[a].since.cmp(&rt.waiting[b].since)));
        idx
    }

    /// Plays a waiting caller their position (and the callback offer), then music again.
    pub(super) fn on_queue_announce(&mut self, key: CallKey, now: Now) {
        let Some(link) = self.calls.get(&key).and_then(|c| c.queue.clone()) else { return };
        if link.phase == QueuePhase::Connected {
            return;
        }
        let Some(g) = self.queue_group(link.group_id) else { return };
        let Some(rt) = self.queues.get(&link.group_id) else { return };
        let order = Self::queue_order(rt);
        let position = order.iter().position(|&i| rt.waiting[i].id == link.waiter).map(|p| p + 1).unwrap_or(1);
        let avg = if rt.handled > 0 { rt.handle_total_s / u64::from(rt.handled) } else { DEFAULT_HANDLE_S };
        let agents = g.members.len().saturating_sub(g.paused.len() + g.logged_out.len()).max(1) as u64;
        let minutes = (position as u64 * avg).div_ceil(60 * agents).max(1);
        let mut names = vec!["queue-position".to_string()];
        names.extend(position.to_string().chars().map(|d| format!("digit-{d}")));
        names.push("queue-position-end".into());
        names.push("queue-wait".into());
        names.extend(minutes.min(99).to_string().chars().map(|d| format!("digit-{d}")));
        names.push("minutes".into());
        if g.callback {
            names.push("callback-offer".into());
        }
        let Some(call) = self.calls.get(&key) else { return };
        let prompts: Vec<_> = names.iter().filter_map(|n| self.dir.prompt(&call.tenant, n)).collect();
        if link.phase == QueuePhase::Waiting {
            self.play_to_caller(key, prompts, PlayPurpose::QueueAnnounce, now);
        }
        let next = self.timers.schedule(now.mono + Duration::from_secs(u64::from(g.announce_seconds)), EngineTimer::QueueAnnounce(key));
        if let Some(l) = self.calls.get_mut(&key).and_then(|c| c.queue.as_mut()) {
            l.announce = Some(next);
        }
    }

    /// An announcement ended: music again.
    pub(super) fn queue_announce_done(&mut self, key: CallKey) {
        if let Some(m) = self.music(key)
            && let Some(c) = self.calls.get(&key)
            && c.queue.as_ref().is_some_and(|l| l.phase != QueuePhase::Connected)
        {
            self.media.set_source(c.media_id, Side::A, Source::Loop(m));
        }
    }

    /// A key from a waiting caller: 1 asks for a callback. True when taken.
    pub(super) fn queue_digit(&mut self, key: CallKey, digit: char, now: Now) -> bool {
        let Some(link) = self.calls.get(&key).and_then(|c| c.queue.clone()) else { return false };
        if link.phase != QueuePhase::Waiting || digit != '1' {
            return link.phase != QueuePhase::Connected;
        }
        let Some(g) = self.queue_group(link.group_id) else { return false };
        if !g.callback {
            return true;
        }
        let Some(call) = self.calls.get(&key) else { return false };
        let (number, name) = (call.caller.number.clone(), call.caller.name.clone());
        if let Some(w) = self.queues.get_mut(&link.group_id).and_then(|rt| rt.waiting.iter_mut().find(|w| w.id == link.waiter)) {
            w.kind = WaiterKind::Callback { number: number.clone(), name, tries: 0 };
        }
        self.unlink_queue(key, false);
        self.timeline(key, "queue", format!("callback requested to {number}; place kept"), now);
        self.queue_record(key, &g.ext, "callback", None, now);
        if let Some(c) = self.calls.get(&key)
            && let Some(p) = self.dir.prompt(&c.tenant, "callback-registered")
        {
            self.play_to_caller(key, vec![p], PlayPurpose::Farewell, now);
        } else {
            self.hangup(key, super::call::HangupBy::System, "callback requested", now);
        }
        true
    }

    /// Detaches a call from its queue (timers), optionally removing its waiter.
    pub(super) fn unlink_queue(&mut self, key: CallKey, remove_waiter: bool) -> Option<QueueLink> {
        let link = self.calls.get_mut(&key).and_then(|c| c.queue.take())?;
        for t in [link.announce, link.max_wait].into_iter().flatten() {
            self.timers.cancel(t);
        }
        if remove_waiter && let Some(rt) = self.queues.get_mut(&link.group_id) {
            rt.waiting.retain(|w| w.id != link.waiter);
        }
        Some(link)
    }

    /// A caller waited the queue's maximum: the queue node's `timeout` output.
    pub(super) fn on_queue_max_wait(&mut self, key: CallKey, now: Now) {
        let Some(link) = self.calls.get(&key).and_then(|c| c.queue.clone()) else { return };
        if link.phase == QueuePhase::Connected {
            return;
        }
        if link.phase == QueuePhase::Offered {
            self.stop_offering(key, now);
        }
        self.unlink_queue(key, true);
        if let Some(c) = self.calls.get_mut(&key) {
            c.state = CallState::Scenario;
            c.playing = None;
            if let Some(t) = c.ring_timer.take() {
                self.timers.cancel(t);
            }
            self.media.set_source(c.media_id, Side::A, Source::Silence);
        }
        self.timeline(key, "queue", "waited too long".into(), now);
        if let Some(ext) = self.queue_group(link.group_id).map(|g| g.ext.clone()) {
            self.queue_record(key, &ext, "timeout", None, now);
        }
        self.scenario_feed_pub(key, Feedback::QueueDone("timeout".into()), now);
    }

    /// An offer to agents failed: back to waiting, with music. True when the call is a
    /// queue call.
    pub(super) fn queue_offer_failed(&mut self, key: CallKey, now: Now) -> bool {
        let Some(link) = self.calls.get(&key).and_then(|c| c.queue.clone()) else { return false };
        if link.phase != QueuePhase::Offered {
            return false;
        }
        self.stop_offering(key, now);
        if let Some(rt) = self.queues.get_mut(&link.group_id)
            && let Some(w) = rt.waiting.iter_mut().find(|w| w.id == link.waiter)
        {
            for a in std::mem::take(&mut w.offered_to) {
                rt.agents.entry(a).or_default().missed_until = Some(now.mono + MISSED_PAUSE);
            }
        }
        if let Some(c) = self.calls.get_mut(&key) {
            c.state = CallState::Scenario;
            if let Some(t) = c.ring_timer.take() {
                self.timers.cancel(t);
            }
            if let Some(l) = c.queue.as_mut() {
                l.phase = QueuePhase::Waiting;
            }
        }
        self.queue_announce_done(key);
        self.queue_dispatch(link.group_id, now);
        true
    }

    /// An agent answered a queue call.
    pub(super) fn queue_connected(&mut self, key: CallKey, agent: Option<i64>, now: Now) {
        let Some(mut link) = self.unlink_queue(key, true) else { return };
        link.phase = QueuePhase::Connected;
        if let Some(rt) = self.queues.get_mut(&link.group_id)
            && let Some(a) = agent
        {
            rt.agents.entry(a).or_default().calls_taken += 1;
            rt.last_agent = Some(a);
        }
        let waited = self.calls.get(&key).map(|c| c.started_mono).map(|s| now.mono.saturating_duration_since(s).as_secs()).unwrap_or(0);
        if let Some(c) = self.calls.get_mut(&key) {
            c.queue_agent = agent.map(|a| (link.group_id, a));
        }
        let who = agent.and_then(|a| self.dir.user_by_id(a)).map(|u| u.ext.clone()).unwrap_or_default();
        self.timeline(key, "queue", format!("answered by {who} after {waited} s"), now);
        if let Some(ext) = self.queue_group(link.group_id).map(|g| g.ext.clone()) {
            self.queue_record(key, &ext, "answered", agent, now);
        }
        self.queue_dispatch(link.group_id, now);
    }

    /// A queue call ended: the agent rests (wrap-up), then is offered the next caller.
    pub(super) fn queue_call_closed(&mut self, key: CallKey, now: Now) {
        if self.calls.get(&key).and_then(|c| c.queue.as_ref()).is_some()
            && let Some(link) = self.unlink_queue(key, true)
            && let Some(ext) = self.queue_group(link.group_id).map(|g| g.ext.clone())
        {
            // Still waiting (or being offered) when the call ended: the caller gave up.
            self.queue_record(key, &ext, "abandoned", None, now);
        }
        let Some(call) = self.calls.get(&key) else { return };
        if let Some((gid, agent)) = call.queue_agent {
            let talk = call.answered_ms.map(|a| (now.wall_ms - a).max(0) as u64 / 1000).unwrap_or(0);
            if let (Some(g), Some(rt)) = (self.queue_group(gid), self.queues.get_mut(&gid)) {
                let a = rt.agents.entry(agent).or_default();
                a.last_end = Some(now.mono);
                a.wrap_until = Some(now.mono + Duration::from_secs(u64::from(g.wrap_up_seconds)));
                rt.handled += 1;
                rt.handle_total_s += talk;
                self.timers.schedule(
                    now.mono + Duration::from_secs(u64::from(g.wrap_up_seconds)) + Duration::from_millis(10),
                    EngineTimer::QueueTick,
                );
            }
        }
    }

    /// Stops ringing the call's agents and drops the rest of its plan.
    fn stop_offering(&mut self, key: CallKey, now: Now) {
        self.cancel_pending_forks(key, None, now);
        if let Some(c) = self.calls.get_mut(&key) {
            c.plan.clear();
            if let Some(t) = c.step_timer.take() {
                self.timers.cancel(t);
            }
        }
    }

    /// Agents of a queue and their states as the strategy sees them.
    fn agent_view(&self, g: &GroupInfo, now: Now) -> Vec<(i64, Agent)> {
        let talking = self.talking();
        let rt = self.queues.get(&(g.id as u64));
        let offered: Vec<i64> = self.queues.values().flat_map(|q| q.waiting.iter().flat_map(|w| w.offered_to.iter().copied())).collect();
        g.members
            .iter()
            .filter_map(|&u| {
                let user = self.dir.user_by_id(u)?;
                let art = rt.and_then(|r| r.agents.get(&u)).cloned().unwrap_or_default();
                let state = if g.logged_out.contains(&u) || self.location.bindings(u, now.mono).is_empty() {
                    "offline"
                } else if g.paused.contains(&u) || user.dnd {
                    "paused"
                } else if talking.contains(&u) {
                    "busy"
                } else if offered.contains(&u) {
                    "ringing"
                } else if art.wrap_until.is_some_and(|t| t > now.mono) {
                    "wrap-up"
                } else if art.missed_until.is_some_and(|t| t > now.mono) {
                    "missed"
                } else {
                    "available"
                };
                let idle = art.last_end.map(|t| now.mono.saturating_duration_since(t)).unwrap_or(Duration::from_secs(86_400));
                Some((
                    u,
                    Agent {
                        ext: user.ext.clone(),
                        name: user.name.clone(),
                        state: state.into(),
                        idle_ms: idle.as_millis() as u64,
                        calls_taken: art.calls_taken,
                    },
                ))
            })
            .collect()
    }

    /// When callers wait and agents are free: ask the strategy whom to offer the first
    /// caller to.
    pub(super) fn queue_dispatch(&mut self, gid: u64, now: Now) {
        let Some(g) = self.queue_group(gid) else { return };
        let Some(rt) = self.queues.get(&gid) else { return };
        if rt.deciding != 0 {
            return;
        }
        let order = Self::queue_order(rt);
        let Some(&head) = order.iter().find(|&&i| rt.waiting[i].offered_to.is_empty()) else { return };
        let agents = self.agent_view(&g, now);
        if !agents.iter().any(|(_, a)| a.state == "available") {
            return;
        }
        let callers: Vec<WaitingCaller> = order
            .iter()
            .filter(|&&i| rt.waiting[i].offered_to.is_empty())
            .enumerate()
            .map(|(pos, &i)| {
                let w = &rt.waiting[i];
                WaitingCaller {
                    call_id: w.id.to_string(),
                    caller_number: w.caller_number.clone(),
                    waited_ms: now.mono.saturating_duration_since(w.since).as_millis() as u64,
                    priority: w.priority,
                    position: pos as u32 + 1,
                }
            })
            .collect();
        let last_agent = rt.last_agent.and_then(|a| self.dir.user_by_id(a)).map(|u| u.ext.clone());
        let state = QueueState { queue: g.ext.clone(), agents: agents.iter().map(|(_, a)| a.clone()).collect(), callers, last_agent };
        let head_id = rt.waiting[head].id;
        let Some(tenant) = self.dir.tenant(g.tenant_id).cloned() else { return };
        self.next_call += 1;
        let token = self.next_call;
        if let Some(rt) = self.queues.get_mut(&gid) {
            rt.deciding = token;
        }
        if self.plugins.is_none() {
            // No plugin runtime (tests of the engine alone): the longest-idle agent.
            let pick = agents.iter().filter(|(_, a)| a.state == "available").max_by_key(|(_, a)| a.idle_ms).map(|(_, a)| a.ext.clone());
            return self.on_queue_decided(gid, token, head_id, Ok(pick.into_iter().map(Verb::OfferTo).collect()), now);
        }
        self.timers.schedule(now.mono + self.cfg.plugin_watchdog, EngineTimer::QueueDecideTimeout(gid, token, head_id));
        let call = crate::plugins::PluginCall {
            tenant_id: tenant.id,
            tenant: tenant.slug.clone(),
            timezone: tenant.timezone.clone(),
            plugin: "queue".into(),
            config: serde_json::json!({ "strategy": g.strategy }).to_string(),
            call_id: format!("queue-{}", g.ext),
            event: pbx_plugin_host::Event::QueueOffer(state),
            directory: Vec::new(),
            at_ms: now.wall_ms,
            pinned: None,
        };
        self.actions.push_back(Action::QueueDecide { group_id: gid, token, waiter: head_id, call: Box::new(call) });
    }

    /// The strategy decided (or failed: then the longest-idle agent is offered).
    pub(super) fn on_queue_decided(
        &mut self,
        gid: u64,
        token: u64,
        waiter: u64,
        result: Result<Vec<Verb>, pbx_plugin_host::PluginError>,
        now: Now,
    ) {
        let Some(rt) = self.queues.get_mut(&gid) else { return };
        if rt.deciding != token {
            return;
        }
        rt.deciding = 0;
        let Some(g) = self.queue_group(gid) else { return };
        let agents = self.agent_view(&g, now);
        let available: Vec<(i64, String)> =
            agents.iter().filter(|(_, a)| a.state == "available").map(|(u, a)| (*u, a.ext.clone())).collect();
        let chosen: Vec<i64> = match &result {
            Ok(verbs) => verbs
                .iter()
                .filter_map(|v| if let Verb::OfferTo(ext) = v { available.iter().find(|(_, e)| e == ext).map(|(u, _)| *u) } else { None })
                .collect(),
            Err(_) => Vec::new(),
        };
        let chosen = if chosen.is_empty() && !available.is_empty() {
            if let Err(e) = &result {
                tracing::warn!(queue = %g.ext, error = %e, "queue strategy failed: offering the longest-idle agent");
            }
            agents.iter().filter(|(_, a)| a.state == "available").max_by_key(|(_, a)| a.idle_ms).map(|(u, _)| vec![*u]).unwrap_or_default()
        } else {
            chosen
        };
        if chosen.is_empty() {
            return;
        }
        self.queue_offer(gid, waiter, chosen, now);
        // More callers and more free agents: decide again.
        self.queue_dispatch(gid, now);
    }

    /// Rings agents for a caller (or, for a callback, calls an agent first).
    fn queue_offer(&mut self, gid: u64, waiter: u64, agents: Vec<i64>, now: Now) {
        let Some(g) = self.queue_group(gid) else { return };
        let Some(rt) = self.queues.get_mut(&gid) else { return };
        let Some(w) = rt.waiting.iter_mut().find(|w| w.id == waiter) else { return };
        match w.kind.clone() {
            WaiterKind::Live(key) => {
                w.offered_to = agents.clone();
                let Some(call) = self.calls.get(&key) else { return };
                let tenant = call.tenant.clone();
                let who = Presented { number: call.caller.number.clone(), name: call.caller.name.clone() };
                let targets: Vec<_> = agents.iter().flat_map(|&a| self.user_targets(&tenant, a, &who.number, &who.name, now)).collect();
                let label = agents.iter().filter_map(|&a| self.dir.user_by_id(a).map(|u| u.ext.clone())).collect::<Vec<_>>().join(",");
                if let Some(l) = self.calls.get_mut(&key).and_then(|c| c.queue.as_mut()) {
                    l.phase = QueuePhase::Offered;
                }
                self.start_plan(key, vec![Step::all(targets, &label)], Some(Duration::from_secs(u64::from(g.ring_seconds))), now);
            }
            WaiterKind::Callback { number, name, tries } => {
                let Some(&agent) = agents.first() else { return };
                w.offered_to = vec![agent];
                self.originate_callback(gid, waiter, agent, &number, &name, tries, now);
            }
        }
    }

    /// Publishes the queues' states from the start (agents' states, pauses), not only once
    /// a caller has come: the monitor shows them at once.
    pub(super) fn start_queue_monitor(&mut self, now: Now) {
        if self.dir.queues().next().is_some() {
            self.ensure_queue_tick(now);
        }
    }

    /// Makes sure queues are looked at every second while they exist.
    pub(super) fn ensure_queue_tick(&mut self, now: Now) {
        if !self.queue_tick_scheduled {
            self.queue_tick_scheduled = true;
            self.timers.schedule(now.mono + Duration::from_secs(1), EngineTimer::QueueTick);
        }
    }

    /// Every second: offer waiting callers to agents who became free (wrap-up over,
    /// unpaused, registered), and publish each queue's state when it changed.
    pub(super) fn on_queue_tick(&mut self, periodic: bool, now: Now) {
        let gids: Vec<u64> = self.dir.queues().map(|g| g.id as u64).collect();
        for gid in &gids {
            if self.queues.get(gid).is_some_and(|rt| !rt.waiting.is_empty()) {
                self.queue_dispatch(*gid, now);
            }
            self.publish_queue(*gid, now);
        }
        if periodic {
            self.queue_tick_scheduled = false;
            if !gids.is_empty() {
                self.ensure_queue_tick(now);
            }
        }
    }

    fn publish_queue(&mut self, gid: u64, now: Now) {
        let Some(g) = self.queue_group(gid) else { return };
        let agents = self.agent_view(&g, now);
        let rt = self.queues.entry(gid).or_default();
        let order = Self::queue_order(rt);
        let callers: Vec<serde_json::Value> = order
            .iter()
            .enumerate()
            .map(|(p, &i)| {
                let w = &rt.waiting[i];
                serde_json::json!({
                    "position": p + 1,
                    "caller": w.caller_number,
                    "waited_s": now.mono.saturating_duration_since(w.since).as_secs(),
                    "priority": w.priority,
                    "callback": matches!(w.kind, WaiterKind::Callback { .. }),
                    "state": if w.offered_to.is_empty() { "waiting" } else { "ringing" },
                })
            })
            .collect();
        let agents: Vec<serde_json::Value> = agents
            .iter()
            .map(|(u, a)| {
                serde_json::json!({"ext": a.ext, "name": a.name, "state": a.state, "paused": g.paused.contains(u), "calls_taken": a.calls_taken})
            })
            .collect();
        let status =
            serde_json::json!({"queue": g.ext, "name": g.name, "strategy": g.strategy, "callers": callers, "agents": agents}).to_string();
        if status != rt.published {
            rt.published = status.clone();
            self.actions.push_back(Action::QueueStatus { group_id: g.id, status, at: now.wall_ms });
        }
    }
}
