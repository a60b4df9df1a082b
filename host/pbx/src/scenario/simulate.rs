//! `pbx scenario simulate`: the path a call would take through a scenario, node by node,
//! without a phone. Plugins really run (in the sandbox, with the tenant's clock set to the
//! given moment); media steps are assumed to finish, digits come from the given string,
//! and dials are assumed answered unless told otherwise.

use super::Scenario;
use super::runner::{Command, Feedback, Runner, TraceStep};
use pbx_plugin_host::{CallInfo, DialOutcome, Event, Gathered, PluginError, Verb};
use serde::Serialize;
use std::sync::Arc;

/// What a simulated call does.
pub struct SimInput {
    /// The caller's number.
    pub from: String,
    /// The city number called.
    pub to: String,
    /// Keys the caller presses: `#` and the other keys as dialled; `,` is a pause that
    /// ends the current input by timeout.
    pub digits: String,
    /// Whether phones answer when rung.
    pub answer: bool,
}

/// The simulated path and how the call ended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SimResult {
    /// Nodes visited, in order.
    pub path: Vec<TraceStep>,
    /// How the call ended: `connected to ...`, `hung up`, `fallback: ...`, `queue ...`.
    pub end: String,
}

/// Runs the simulation; `decide` makes one plugin decision, `is_extension` says whether
/// digits name an extension of the tenant.
pub fn simulate(
    scenario: Arc<Scenario>,
    input: &SimInput,
    mut decide: impl FnMut(&str, &str, &Event) -> Result<Vec<Verb>, PluginError>,
    is_extension: impl Fn(&str) -> bool,
) -> SimResult {
    let call = CallInfo {
        call_id: "simulation".into(),
        caller_number: input.from.clone(),
        caller_name: String::new(),
        called_number: input.to.clone(),
        direction: "inbound".into(),
        variables: Vec::new(),
    };
    let mut runner = Runner::new(scenario, call);
    let mut keys: std::collections::VecDeque<char> = input.digits.chars().collect();
    let mut queue: std::collections::VecDeque<Command> = runner.start().into();
    let mut end = String::from("the scenario stopped");
    let mut rounds = 0;
    while let Some(cmd) = queue.pop_front() {
        rounds += 1;
        if rounds > 10_000 {
            end = "stopped: too many steps".into();
            break;
        }
        let fb = match cmd {
            Command::Plugin { plugin, config, event, .. } => Some(Feedback::Plugin(decide(&plugin, &config, &event))),
            Command::Answer | Command::SetCallerName(_) | Command::PluginFailed { .. } => None,
            Command::Play(_) => Some(Feedback::PlayDone),
            Command::Gather(spec) => {
                let mut digits = String::new();
                let mut reason = "timeout";
                while let Some(k) = keys.pop_front() {
                    if k == ',' {
                        break;
                    }
                    if spec.terminator.as_deref().is_some_and(|t| t.starts_with(k)) {
                        reason = "terminator";
                        break;
                    }
                    digits.push(k);
                    if digits.len() >= usize::from(spec.max_digits) {
                        reason = "max-digits";
                        break;
                    }
                }
                let extension = (spec.extension_dialing && !digits.is_empty() && is_extension(&digits)).then(|| digits.clone());
                Some(Feedback::Gathered { gathered: Gathered { digits, reason: reason.into() }, extension })
            }
            Command::Dial { targets, .. } => {
                if input.answer {
                    runner.connected();
                    end = format!("connected to {}", targets.join(" or "));
                    break;
                }
                Some(Feedback::DialDone(DialOutcome::NoAnswer))
            }
            Command::Enqueue(q) => {
                if input.answer {
                    runner.connected();
                    end = format!("queue {q}: answered by an agent");
                    break;
                }
                Some(Feedback::QueueDone("timeout".into()))
            }
            Command::Hangup => {
                end = "hung up".into();
                break;
            }
            Command::Fallback(reason) => {
                end = format!("fallback (everyone rings): {reason}");
                break;
            }
        };
        if let Some(fb) = fb {
            queue.extend(runner.feed(fb));
        }
    }
    SimResult { path: runner.trace().to_vec(), end }
}

/// The path as lines for a terminal.
pub fn render(r: &SimResult) -> String {
    let mut s = String::new();
    for (i, step) in r.path.iter().enumerate() {
        s.push_str(&format!("{}. {} [{}]", i + 1, step.node, step.label));
        if !step.actions.is_empty() {
            s.push_str(": ");
            s.push_str(&step.actions.join("; "));
        }
        if let Some(o) = &step.output {
            s.push_str(&format!(" → {o}"));
        }
        s.push('\n');
    }
    s.push_str(&format!("end: {}\n", r.end));
    s
}
