//! Checks a scenario before it is saved: every edge leads to a node, every output of every
//! node is wired, plugins exist and accept their configuration, prompts and dial targets
//! exist. The first problem is reported with the node it is in.

use super::model::{ANY_OUTPUT, DIAL_OUTPUTS, ERROR_OUTPUT, NodeKind, PLAY_OUTPUTS, QUEUE_OUTPUTS, Scenario};
use std::collections::BTreeSet;

/// Most nodes in one scenario.
pub const MAX_NODES: usize = 200;

/// What validation needs to know about the tenant.
pub trait Catalog {
    /// The outputs of a node of `plugin` with `config`, after checking the config against
    /// the plugin's schema; an error says why the plugin or its configuration is refused.
    fn plugin_outputs(&self, plugin: &str, config: &serde_json::Value) -> Result<Vec<String>, String>;
    /// Whether a prompt of that name exists (upload or built-in).
    fn prompt_exists(&self, name: &str) -> bool;
    /// Whether a dial target (extension or external number) can be rung.
    fn dial_target(&self, target: &str) -> Result<(), String>;
    /// Whether a queue of that extension exists.
    fn queue_exists(&self, ext: &str) -> bool;
}

fn node_name_ok(n: &str) -> bool {
    !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Validates a scenario; the error names the node and the problem.
pub fn validate(s: &Scenario, catalog: &dyn Catalog) -> Result<(), String> {
    if s.nodes.is_empty() {
        return Err("the scenario has no nodes".into());
    }
    if s.nodes.len() > MAX_NODES {
        return Err(format!("too many nodes ({}, at most {MAX_NODES})", s.nodes.len()));
    }
    if !s.nodes.contains_key(&s.start) {
        return Err(format!("start: there is no node {:?}", s.start));
    }
    for (name, node) in &s.nodes {
        let at = |m: String| format!("node {name:?}: {m}");
        if !node_name_ok(name) {
            return Err(at("names use letters, digits, '-', '_' and '.' (at most 64)".into()));
        }
        let outputs: Vec<String> = match &node.kind {
            NodeKind::Plugin { plugin, config } => catalog.plugin_outputs(plugin, config).map_err(at)?,
            NodeKind::Dial { targets, timeout } => {
                if targets.is_empty() {
                    return Err(at("a dial node needs at least one target".into()));
                }
                if !(1..=600).contains(timeout) {
                    return Err(at("timeout must be 1 to 600 seconds".into()));
                }
                for t in targets {
                    catalog.dial_target(t).map_err(|e| at(format!("target {t:?}: {e}")))?;
                }
                DIAL_OUTPUTS.iter().map(|o| o.to_string()).collect()
            }
            NodeKind::Play { prompts, .. } => {
                if prompts.is_empty() {
                    return Err(at("a play node needs at least one prompt".into()));
                }
                if let Some(p) = prompts.iter().find(|p| !catalog.prompt_exists(p)) {
                    return Err(at(format!("there is no prompt {p:?}")));
                }
                PLAY_OUTPUTS.iter().map(|o| o.to_string()).collect()
            }
            NodeKind::Queue { queue } => {
                if !catalog.queue_exists(queue) {
                    return Err(at(format!("there is no queue {queue:?}")));
                }
                QUEUE_OUTPUTS.iter().map(|o| o.to_string()).collect()
            }
            NodeKind::Hangup => Vec::new(),
        };
        let known: BTreeSet<&str> = outputs.iter().map(String::as_str).collect();
        for (out, to) in &node.next {
            if out != ANY_OUTPUT && out != ERROR_OUTPUT && !known.contains(out.as_str()) {
                let list = if outputs.is_empty() { "none".to_string() } else { outputs.join(", ") };
                return Err(at(format!("it has no output {out:?} (its outputs: {list})")));
            }
            if !s.nodes.contains_key(to) {
                return Err(at(format!("output {out:?} leads to {to:?}, which is not a node")));
            }
        }
        if !node.next.contains_key(ANY_OUTPUT)
            && let Some(o) = outputs.iter().find(|o| !node.next.contains_key(*o))
        {
            return Err(at(format!("output {o:?} leads nowhere (wire it, or add \"*\" for the rest)")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl Catalog for Fake {
        fn plugin_outputs(&self, plugin: &str, config: &serde_json::Value) -> Result<Vec<String>, String> {
            match plugin {
                "time-rules" => Ok(vec!["open".into(), "closed".into()]),
                "ivr" if config.get("prompt").is_some() => Ok(vec!["sales".into(), "timeout".into(), "invalid".into()]),
                "ivr" => Err("config: prompt is required".into()),
                other => Err(format!("there is no plugin {other:?}")),
            }
        }
        fn prompt_exists(&self, name: &str) -> bool {
            name == "closed"
        }
        fn dial_target(&self, t: &str) -> Result<(), String> {
            if t == "101" || t.starts_with('+') { Ok(()) } else { Err("no such extension".into()) }
        }
        fn queue_exists(&self, ext: &str) -> bool {
            ext == "300"
        }
    }

    fn check(json: &str) -> Result<(), String> {
        validate(&Scenario::parse(json).unwrap(), &Fake)
    }

    #[test]
    fn a_good_scenario_passes() {
        check(
            r#"{"start":"h","nodes":{
            "h":{"type":"plugin","plugin":"time-rules","next":{"open":"m","closed":"c"}},
            "m":{"type":"plugin","plugin":"ivr","config":{"prompt":"x"},"next":{"sales":"d","*":"c","error":"d"}},
            "d":{"type":"dial","targets":["101","+79161234567"],"next":{"*":"c"}},
            "c":{"type":"play","prompts":["closed"],"next":{"done":"bye"}},
            "bye":{"type":"hangup"}}}"#,
        )
        .unwrap();
    }

    #[test]
    fn problems_are_named() {
        let cases = [
            (r#"{"start":"x","nodes":{"a":{"type":"hangup"}}}"#, "start: there is no node \"x\""),
            (r#"{"start":"a","nodes":{}}"#, "no nodes"),
            (r#"{"start":"a","nodes":{"a":{"type":"plugin","plugin":"nope"}}}"#, "no plugin \"nope\""),
            (r#"{"start":"a","nodes":{"a":{"type":"plugin","plugin":"ivr"}}}"#, "prompt is required"),
            (r#"{"start":"a","nodes":{"a":{"type":"plugin","plugin":"time-rules","next":{"open":"a"}}}}"#, "\"closed\" leads nowhere"),
            (
                r#"{"start":"a","nodes":{"a":{"type":"plugin","plugin":"time-rules","next":{"*":"b"}}}}"#,
                "leads to \"b\", which is not a node",
            ),
            (r#"{"start":"a","nodes":{"a":{"type":"plugin","plugin":"time-rules","next":{"*":"a","shut":"a"}}}}"#, "no output \"shut\""),
            (r#"{"start":"a","nodes":{"a":{"type":"dial","targets":["999"],"next":{"*":"a"}}}}"#, "target \"999\": no such extension"),
            (r#"{"start":"a","nodes":{"a":{"type":"dial","targets":[],"next":{"*":"a"}}}}"#, "at least one target"),
            (r#"{"start":"a","nodes":{"a":{"type":"play","prompts":["nope"],"next":{"*":"a"}}}}"#, "no prompt \"nope\""),
            (r#"{"start":"a b","nodes":{"a b":{"type":"hangup"}}}"#, "names use"),
            (r#"{"start":"a","nodes":{"a":{"type":"hangup","next":{"done":"a"}}}}"#, "outputs: none"),
            (r#"{"start":"a","nodes":{"a":{"type":"queue","queue":"301","next":{"*":"a"}}}}"#, "no queue \"301\""),
            (r#"{"start":"a","nodes":{"a":{"type":"queue","queue":"300","next":{"timeout":"a"}}}}"#, "\"full\" leads nowhere"),
        ];
        for (json, want) in cases {
            let e = check(json).unwrap_err();
            assert!(e.contains(want), "{json}: {e}");
        }
    }
}
