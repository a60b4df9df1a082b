//! Walks one call through a scenario, sans IO: [`Runner::start`] and [`Runner::feed`]
//! return the [`Command`]s to carry out, up to the first that must finish before the
//! scenario can go on (a plugin decision, a prompt, a gather, a dial); its result comes
//! back as [`Feedback`].
//!
//! A plugin that fails, answers with verbs that make no sense, or leaves the call nowhere
//! sends the call down its node's `error` edge, or, without one, to the tenant's fallback
//! (ringing everyone). A bound on steps stops scenarios that loop.

use super::model::{ERROR_OUTPUT, NodeKind, Scenario};
use pbx_plugin_host::{CallInfo, DialOutcome, DialTarget, Event, GatherSpec, Gathered, PluginError, Verb};
use std::collections::VecDeque;
use std::sync::Arc;

/// Most node visits plus plugin decisions in one call.
pub const MAX_STEPS: u32 = 100;
/// Most verbs in one decision.
pub const MAX_VERBS: usize = 32;
/// Most call variables.
const MAX_VARIABLES: usize = 64;
/// Longest name (prompt, output, variable, target).
const MAX_NAME: usize = 256;
/// Longest variable value or caller name.
const MAX_VALUE: usize = 1024;
/// How long an extension dialled from a menu rings.
pub const EXTENSION_RING_MS: u32 = 30_000;

/// Something the call engine must do for the scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Ask a plugin to decide (answer with [`Feedback::Plugin`]).
    Plugin {
        /// Node name (logs).
        node: String,
        /// Plugin name.
        plugin: String,
        /// Node configuration (JSON).
        config: String,
        /// What happened.
        event: Box<Event>,
    },
    /// Answer the call with the PBX's media.
    Answer,
    /// Play prompts (answer with [`Feedback::PlayDone`]).
    Play(Vec<String>),
    /// Play prompts and collect digits (answer with [`Feedback::Gathered`]).
    Gather(GatherSpec),
    /// Ring extensions or numbers (answer with [`Feedback::DialDone`] unless answered).
    Dial {
        /// Extensions or numbers.
        targets: Vec<String>,
        /// How long.
        timeout_ms: u32,
    },
    /// Show this name for the caller on the phones rung from now on.
    SetCallerName(String),
    /// Put the caller in a queue.
    Enqueue(String),
    /// End the call.
    Hangup,
    /// The scenario cannot go on: the tenant's fallback takes the call.
    Fallback(String),
    /// A plugin failed (for logs and metrics); the scenario goes on by itself.
    PluginFailed {
        /// Plugin name.
        plugin: String,
        /// `deadline`, `trap`, `refused`, `invalid-verb`, `no-decision` or `unavailable`.
        kind: &'static str,
        /// Details.
        message: String,
    },
}

/// The result of the last blocking [`Command`].
#[derive(Debug, Clone, PartialEq)]
pub enum Feedback {
    /// A plugin decided (or failed).
    Plugin(Result<Vec<Verb>, PluginError>),
    /// Prompts finished.
    PlayDone,
    /// Digits were collected; `extension` is set when the engine found the digits name an
    /// extension of the tenant (extension dialing).
    Gathered {
        /// What was collected.
        gathered: Gathered,
        /// The extension those digits name, if any.
        extension: Option<String>,
    },
    /// A dial ended without a conversation.
    DialDone(DialOutcome),
    /// The caller left a queue without an agent: `timeout` or `full`.
    QueueDone(String),
}

/// One node on the call's path, for the simulator and the call's timeline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TraceStep {
    /// Node name.
    pub node: String,
    /// Plugin name or step.
    pub label: String,
    /// What happened there.
    pub actions: Vec<String>,
    /// The output it left through.
    pub output: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Nothing started yet.
    Idle,
    /// A plugin decision.
    Plugin,
    /// A play/gather/dial asked by a built-in node.
    BuiltinMedia,
    /// A play/gather/dial asked by a plugin's verb.
    PluginMedia,
    /// An extension dialled during a gather: (asked by a plugin).
    ExtensionDial { by_plugin: bool },
    /// The call left the scenario (connected, hung up, fallback).
    Done,
}

/// One call's walk through a scenario.
#[derive(Debug)]
pub struct Runner {
    scenario: Arc<Scenario>,
    call: CallInfo,
    node: String,
    steps: u32,
    wait: Wait,
    pending: VecDeque<Verb>,
    trace: Vec<TraceStep>,
}

fn error_kind(e: &PluginError) -> &'static str {
    match e {
        PluginError::Deadline => "deadline",
        PluginError::Trap(_) => "trap",
        PluginError::Refused(_) => "refused",
        PluginError::Invalid(_) | PluginError::Unavailable(_) => "unavailable",
    }
}

impl Runner {
    /// A runner for a call described by `call` (its variables start empty).
    pub fn new(scenario: Arc<Scenario>, call: CallInfo) -> Runner {
        Runner { node: scenario.start.clone(), scenario, call, steps: 0, wait: Wait::Idle, pending: VecDeque::new(), trace: Vec::new() }
    }

    /// The path so far.
    pub fn trace(&self) -> &[TraceStep] {
        &self.trace
    }

    /// The call as plugins see it (with its variables).
    pub fn call(&self) -> &CallInfo {
        &self.call
    }

    /// Whether the call has left the scenario.
    pub fn done(&self) -> bool {
        self.wait == Wait::Done
    }

    /// Enters the start node.
    pub fn start(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        let start = self.scenario.start.clone();
        self.enter(&start, &mut out);
        out
    }

    /// The result of the last blocking command.
    pub fn feed(&mut self, fb: Feedback) -> Vec<Command> {
        let mut out = Vec::new();
        match (self.wait, fb) {
            (Wait::Plugin, Feedback::Plugin(Ok(verbs))) => {
                if verbs.len() > MAX_VERBS {
                    self.fail("invalid-verb", format!("{} verbs in one decision (at most {MAX_VERBS})", verbs.len()), &mut out);
                } else {
                    self.pending = verbs.into();
                    self.run_verbs(&mut out);
                }
            }
            (Wait::Plugin, Feedback::Plugin(Err(e))) => self.fail(error_kind(&e), e.to_string(), &mut out),
            (Wait::BuiltinMedia, Feedback::PlayDone) => self.leave("done", &mut out),
            (Wait::BuiltinMedia, Feedback::Gathered { gathered, extension }) => match extension {
                Some(ext) => self.dial_extension(ext, false, &mut out),
                None => {
                    self.note(format!("digits {:?} ({})", gathered.digits, gathered.reason));
                    self.leave("done", &mut out)
                }
            },
            (Wait::BuiltinMedia, Feedback::DialDone(o)) => {
                self.note(format!("dial ended: {}", outcome_name(o)));
                self.leave(outcome_name(o), &mut out)
            }
            (Wait::BuiltinMedia, Feedback::QueueDone(why)) => {
                self.note(format!("left the queue: {why}"));
                self.leave(&why, &mut out)
            }
            (Wait::PluginMedia, Feedback::QueueDone(why)) => self.fail("queue", format!("the queue ended the wait: {why}"), &mut out),
            (Wait::PluginMedia, Feedback::PlayDone) => self.after_plugin_media(Event::PlayFinished(self.call.clone()), &mut out),
            (Wait::PluginMedia, Feedback::Gathered { gathered, extension }) => match extension {
                Some(ext) => self.dial_extension(ext, true, &mut out),
                None => {
                    self.note(format!("digits {:?} ({})", gathered.digits, gathered.reason));
                    self.after_plugin_media(Event::DigitsCollected((self.call.clone(), gathered)), &mut out)
                }
            },
            (Wait::PluginMedia, Feedback::DialDone(o)) => {
                self.note(format!("dial ended: {}", outcome_name(o)));
                self.after_plugin_media(Event::DialFinished((self.call.clone(), o)), &mut out)
            }
            (Wait::ExtensionDial { by_plugin }, Feedback::DialDone(o)) => {
                self.note(format!("extension not reached: {}", outcome_name(o)));
                if by_plugin {
                    self.pending.clear();
                    self.ask_plugin(Event::DialFinished((self.call.clone(), o)), &mut out);
                } else {
                    self.leave("done", &mut out);
                }
            }
            // Anything else is a result nobody waits for (a late event): ignore it.
            _ => {}
        }
        out
    }

    /// The call was answered by a phone: the scenario is over.
    pub fn connected(&mut self) {
        self.note("connected".into());
        self.wait = Wait::Done;
    }

    fn note(&mut self, s: String) {
        if let Some(t) = self.trace.last_mut() {
            t.actions.push(s);
        }
    }

    fn step(&mut self, out: &mut Vec<Command>) -> bool {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            self.wait = Wait::Done;
            out.push(Command::Fallback(format!("the scenario ran more than {MAX_STEPS} steps (a loop?)")));
            return false;
        }
        true
    }

    fn enter(&mut self, name: &str, out: &mut Vec<Command>) {
        if !self.step(out) {
            return;
        }
        let Some(node) = self.scenario.nodes.get(name).cloned() else {
            self.wait = Wait::Done;
            out.push(Command::Fallback(format!("there is no node {name:?}")));
            return;
        };
        self.node = name.to_string();
        self.pending.clear();
        self.trace.push(TraceStep { node: name.to_string(), label: node.kind.label().to_string(), actions: Vec::new(), output: None });
        match node.kind {
            NodeKind::Plugin { .. } => self.ask_plugin(Event::CallArrived(self.call.clone()), out),
            NodeKind::Dial { targets, timeout } => {
                self.note(format!("ring {} for {timeout} s", targets.join(", ")));
                self.wait = Wait::BuiltinMedia;
                out.push(Command::Dial { targets, timeout_ms: timeout.saturating_mul(1000) });
            }
            NodeKind::Play { prompts, extension_dialing } => {
                self.note(format!("play {}", prompts.join(", ")));
                self.wait = Wait::BuiltinMedia;
                out.push(Command::Answer);
                if extension_dialing {
                    out.push(Command::Gather(GatherSpec {
                        prompts,
                        max_digits: 6,
                        terminator: Some("#".into()),
                        first_timeout_ms: 0,
                        inter_digit_timeout_ms: 2000,
                        barge_in: true,
                        extension_dialing: true,
                    }));
                } else {
                    out.push(Command::Play(prompts));
                }
            }
            NodeKind::Queue { queue } => {
                self.note(format!("wait in queue {queue}"));
                self.wait = Wait::BuiltinMedia;
                out.push(Command::Enqueue(queue));
            }
            NodeKind::Hangup => {
                self.note("hang up".into());
                self.wait = Wait::Done;
                out.push(Command::Hangup);
            }
        }
    }

    fn ask_plugin(&mut self, event: Event, out: &mut Vec<Command>) {
        if !self.step(out) {
            return;
        }
        let Some(NodeKind::Plugin { plugin, config }) = self.scenario.nodes.get(&self.node).map(|n| n.kind.clone()) else {
            self.wait = Wait::Done;
            out.push(Command::Fallback("internal: not a plugin node".into()));
            return;
        };
        self.wait = Wait::Plugin;
        out.push(Command::Plugin { node: self.node.clone(), plugin, config: config.to_string(), event: Box::new(event) });
    }

    fn after_plugin_media(&mut self, event: Event, out: &mut Vec<Command>) {
        if self.pending.is_empty() {
            self.ask_plugin(event, out);
        } else {
            self.run_verbs(out);
        }
    }

    fn dial_extension(&mut self, ext: String, by_plugin: bool, out: &mut Vec<Command>) {
        self.note(format!("caller dialled extension {ext}"));
        self.wait = Wait::ExtensionDial { by_plugin };
        out.push(Command::Dial { targets: vec![ext], timeout_ms: EXTENSION_RING_MS });
    }

    /// Leaves the current node through `output`.
    fn leave(&mut self, output: &str, out: &mut Vec<Command>) {
        if let Some(t) = self.trace.last_mut() {
            t.output = Some(output.to_string());
        }
        match self.scenario.edge(&self.node, output).map(str::to_string) {
            Some(next) => self.enter(&next, out),
            None => self.fail("invalid-verb", format!("node {:?} has no edge for output {output:?}", self.node), out),
        }
    }

    /// A plugin failed: the node's error edge, or the tenant's fallback.
    fn fail(&mut self, kind: &'static str, message: String, out: &mut Vec<Command>) {
        let plugin = self.scenario.nodes.get(&self.node).map(|n| n.kind.label().to_string()).unwrap_or_default();
        self.note(format!("failed: {message}"));
        out.push(Command::PluginFailed { plugin, kind, message: message.clone() });
        self.pending.clear();
        if let Some(t) = self.trace.last_mut() {
            t.output = Some(ERROR_OUTPUT.to_string());
        }
        match self.scenario.edge(&self.node, ERROR_OUTPUT).map(str::to_string) {
            Some(next) => self.enter(&next, out),
            None => {
                self.wait = Wait::Done;
                out.push(Command::Fallback(message));
            }
        }
    }

    fn run_verbs(&mut self, out: &mut Vec<Command>) {
        while let Some(v) = self.pending.pop_front() {
            if let Err(e) = check_verb(&v) {
                return self.fail("invalid-verb", e, out);
            }
            match v {
                Verb::Answer => out.push(Command::Answer),
                Verb::SetCallerName(name) => {
                    self.note(format!("caller name {name:?}"));
                    self.call.caller_name = name.clone();
                    out.push(Command::SetCallerName(name));
                }
                Verb::SetVariable((k, val)) => {
                    let vars = &mut self.call.variables;
                    if let Some(slot) = vars.iter_mut().find(|(key, _)| *key == k) {
                        slot.1 = val;
                    } else if vars.len() < MAX_VARIABLES {
                        vars.push((k, val));
                    } else {
                        return self.fail("invalid-verb", format!("more than {MAX_VARIABLES} call variables"), out);
                    }
                }
                Verb::Play(prompts) => {
                    self.note(format!("play {}", prompts.join(", ")));
                    self.wait = Wait::PluginMedia;
                    out.push(Command::Answer);
                    out.push(Command::Play(prompts));
                    return;
                }
                Verb::Gather(spec) => {
                    self.note(format!("play {} and collect digits", spec.prompts.join(", ")));
                    self.wait = Wait::PluginMedia;
                    out.push(Command::Answer);
                    out.push(Command::Gather(spec));
                    return;
                }
                Verb::Dial(spec) => {
                    let targets: Vec<String> = spec
                        .targets
                        .into_iter()
                        .map(|t| match t {
                            DialTarget::Extension(s) | DialTarget::Number(s) | DialTarget::Group(s) => s,
                        })
                        .collect();
                    self.note(format!("ring {}", targets.join(", ")));
                    self.wait = Wait::PluginMedia;
                    out.push(Command::Dial { targets, timeout_ms: spec.timeout_ms });
                    return;
                }
                Verb::Enqueue(q) => {
                    self.note(format!("wait in queue {q}"));
                    self.wait = Wait::PluginMedia;
                    out.push(Command::Enqueue(q));
                    return;
                }
                Verb::Next(output) => {
                    self.pending.clear();
                    return self.leave(&output, out);
                }
                Verb::Hangup => {
                    self.note("hang up".into());
                    self.wait = Wait::Done;
                    out.push(Command::Hangup);
                    return;
                }
                other @ (Verb::Originate(_) | Verb::OfferTo(_) | Verb::Respond(_)) => {
                    return self.fail("invalid-verb", format!("{} is not a call-routing verb", crate::plugins::verb_name(&other)), out);
                }
            }
        }
        // The verbs ran out without saying where the call goes.
        self.fail("no-decision", "the plugin did not say where the call goes next".into(), out);
    }
}

fn outcome_name(o: DialOutcome) -> &'static str {
    match o {
        DialOutcome::Answered => "answered",
        DialOutcome::Busy => "busy",
        DialOutcome::NoAnswer => "no-answer",
        DialOutcome::Failed => "failed",
    }
}

/// Bounds on what a verb may carry.
fn check_verb(v: &Verb) -> Result<(), String> {
    let name_ok = |s: &str| !s.is_empty() && s.len() <= MAX_NAME;
    match v {
        Verb::Play(p) if p.is_empty() || p.len() > 16 || !p.iter().all(|x| name_ok(x)) => Err("play: 1 to 16 prompt names".into()),
        Verb::Gather(g) => {
            if !(1..=32).contains(&g.max_digits) {
                return Err("gather: max-digits must be 1 to 32".into());
            }
            if g.prompts.len() > 16 || !g.prompts.iter().all(|x| name_ok(x)) {
                return Err("gather: at most 16 prompt names".into());
            }
            if g.first_timeout_ms > 60_000 || g.inter_digit_timeout_ms > 60_000 {
                return Err("gather: timeouts are at most 60 s".into());
            }
            if g.terminator.as_deref().is_some_and(|t| t.len() != 1 || !"0123456789*#".contains(t)) {
                return Err("gather: the terminator is one key".into());
            }
            Ok(())
        }
        Verb::Dial(d) => {
            if d.targets.is_empty() || d.targets.len() > 16 {
                return Err("dial: 1 to 16 targets".into());
            }
            if !(1000..=600_000).contains(&d.timeout_ms) {
                return Err("dial: timeout must be 1 to 600 s".into());
            }
            Ok(())
        }
        Verb::SetCallerName(n) if n.len() > MAX_VALUE => Err("set-caller-name: too long".into()),
        Verb::SetVariable((k, val)) if !name_ok(k) || val.len() > MAX_VALUE => Err("set-variable: bad name or value too long".into()),
        Verb::Next(o) | Verb::Enqueue(o) if !name_ok(o) => Err(format!("{}: bad name", crate::plugins::verb_name(v))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
