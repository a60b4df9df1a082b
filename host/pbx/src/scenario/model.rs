//! The stored form of a scenario (JSON).
//!
//! ```json
//! {"start": "hours",
//!  "nodes": {
//!    "hours":  {"type": "plugin", "plugin": "time-rules", "config": {...}, "next": {"open": "menu", "closed": "closed"}},
//!    "menu":   {"type": "plugin", "plugin": "ivr", "config": {...}, "next": {"sales": "ring-101", "*": "ring-101"}},
//!    "ring-101": {"type": "dial", "targets": ["101"], "timeout": 30, "next": {"*": "bye"}},
//!    "closed": {"type": "play", "prompts": ["closed"], "next": {"done": "bye"}},
//!    "bye":    {"type": "hangup"}}}
//! ```
//!
//! `next` maps outputs to nodes; `"*"` stands for every output not listed; the optional
//! `"error"` edge is taken when a plugin fails (else the tenant's fallback rings everyone).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A call-handling scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The first node.
    pub start: String,
    /// Nodes by name.
    #[schema(value_type = BTreeMap<String, RawNode>)]
    pub nodes: BTreeMap<String, Node>,
    /// Where the cabinet's editor draws each node (x, y); no effect on calls.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, Vec<i32>>)]
    pub layout: BTreeMap<String, (i32, i32)>,
}

/// One step of a scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "RawNode", into = "RawNode")]
pub struct Node {
    /// What the node does.
    pub kind: NodeKind,
    /// Output → next node.
    pub next: BTreeMap<String, String>,
}

/// What a node does.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A plugin instance.
    Plugin {
        /// Plugin name.
        plugin: String,
        /// Its configuration.
        config: serde_json::Value,
    },
    /// Ring extensions or numbers at once; outputs `no-answer`, `busy`, `failed`.
    Dial {
        /// Extensions or external numbers.
        targets: Vec<String>,
        /// Seconds to ring.
        timeout: u32,
    },
    /// Play prompts (a greeting); the caller may dial an extension meanwhile; output `done`.
    Play {
        /// Prompt names (the tenant's uploads or the built-in ones).
        prompts: Vec<String>,
        /// Whether digits dialled during the prompts reach an extension.
        extension_dialing: bool,
    },
    /// Wait in a call queue until an agent answers; outputs `timeout` (waited too long) and
    /// `full` (too many waiting).
    Queue {
        /// The queue's extension.
        queue: String,
    },
    /// End the call.
    Hangup,
}

// The JSON shape of a node (serde cannot refuse unknown fields of a flattened enum); its
// schema is the API's `ScenarioNode`.
/// One step of a scenario as stored: `type` says what it does, `next` maps its outputs to
/// the next nodes.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
#[schema(as = ScenarioNode)]
enum RawNode {
    /// A plugin instance.
    Plugin {
        /// Plugin name.
        plugin: String,
        /// Its configuration (checked against the plugin's schema).
        #[serde(default = "empty_object")]
        #[schema(value_type = Object)]
        config: serde_json::Value,
        /// Output → next node (`*`: every output not listed; `error`: the plugin failed).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        next: BTreeMap<String, String>,
    },
    /// Ring extensions or numbers at once.
    Dial {
        /// Extensions or external numbers.
        targets: Vec<String>,
        /// Seconds to ring (default 30).
        #[serde(default = "default_ring")]
        timeout: u32,
        /// Output (`no-answer`, `busy`, `failed`, `*`) → next node.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        next: BTreeMap<String, String>,
    },
    /// Play prompts.
    Play {
        /// Prompt names.
        prompts: Vec<String>,
        /// Whether digits dialled during the prompts reach an extension (default true).
        #[serde(default = "yes")]
        extension_dialing: bool,
        /// Output (`done`, `*`) → next node.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        next: BTreeMap<String, String>,
    },
    /// Wait in a call queue.
    Queue {
        /// The queue's extension.
        queue: String,
        /// Output (`timeout`, `full`, `*`) → next node.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        next: BTreeMap<String, String>,
    },
    /// End the call.
    Hangup {
        /// Unused (a hang-up has no outputs).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        next: BTreeMap<String, String>,
    },
}

impl TryFrom<RawNode> for Node {
    type Error = String;
    fn try_from(r: RawNode) -> Result<Node, String> {
        Ok(match r {
            RawNode::Plugin { plugin, config, next } => Node { kind: NodeKind::Plugin { plugin, config }, next },
            RawNode::Dial { targets, timeout, next } => Node { kind: NodeKind::Dial { targets, timeout }, next },
            RawNode::Play { prompts, extension_dialing, next } => Node { kind: NodeKind::Play { prompts, extension_dialing }, next },
            RawNode::Queue { queue, next } => Node { kind: NodeKind::Queue { queue }, next },
            RawNode::Hangup { next } => Node { kind: NodeKind::Hangup, next },
        })
    }
}

impl From<Node> for RawNode {
    fn from(n: Node) -> RawNode {
        let next = n.next;
        match n.kind {
            NodeKind::Plugin { plugin, config } => RawNode::Plugin { plugin, config, next },
            NodeKind::Dial { targets, timeout } => RawNode::Dial { targets, timeout, next },
            NodeKind::Play { prompts, extension_dialing } => RawNode::Play { prompts, extension_dialing, next },
            NodeKind::Queue { queue } => RawNode::Queue { queue, next },
            NodeKind::Hangup => RawNode::Hangup { next },
        }
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

fn default_ring() -> u32 {
    30
}

fn yes() -> bool {
    true
}

/// Outputs of a dial node.
pub const DIAL_OUTPUTS: &[&str] = &["no-answer", "busy", "failed"];
/// Outputs of a queue node.
pub const QUEUE_OUTPUTS: &[&str] = &["timeout", "full"];
/// Outputs of a play node.
pub const PLAY_OUTPUTS: &[&str] = &["done"];
/// The edge taken when a plugin fails.
pub const ERROR_OUTPUT: &str = "error";
/// The edge for every output not listed.
pub const ANY_OUTPUT: &str = "*";

impl Scenario {
    /// Parses the stored JSON.
    pub fn parse(json: &str) -> Result<Scenario, String> {
        serde_json::from_str(json).map_err(|e| format!("not a scenario: {e}"))
    }

    /// The next node after `node` leaves through `output`.
    pub fn edge(&self, node: &str, output: &str) -> Option<&str> {
        let n = self.nodes.get(node)?;
        n.next.get(output).or_else(|| if output == ERROR_OUTPUT { None } else { n.next.get(ANY_OUTPUT) }).map(String::as_str)
    }
}

impl NodeKind {
    /// A short label for traces: the plugin name or the step.
    pub fn label(&self) -> &str {
        match self {
            NodeKind::Plugin { plugin, .. } => plugin,
            NodeKind::Dial { .. } => "dial",
            NodeKind::Play { .. } => "play",
            NodeKind::Queue { .. } => "queue",
            NodeKind::Hangup => "hangup",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_rejects_unknown_fields() {
        let s = Scenario::parse(
            r#"{"start":"a","nodes":{
              "a":{"type":"plugin","plugin":"ivr","config":{"prompt":"m"},"next":{"1":"b","*":"c"}},
              "b":{"type":"dial","targets":["101"],"next":{"*":"c"}},
              "c":{"type":"play","prompts":["closed"],"next":{"done":"d"}},
              "d":{"type":"hangup"}}}"#,
        )
        .unwrap();
        assert_eq!(s.edge("a", "1"), Some("b"));
        assert_eq!(s.edge("a", "7"), Some("c"));
        assert_eq!(s.edge("a", "error"), None);
        assert!(matches!(s.nodes["b"].kind, NodeKind::Dial { timeout: 30, .. }));
        assert!(matches!(s.nodes["c"].kind, NodeKind::Play { extension_dialing: true, .. }));
        assert!(Scenario::parse(r#"{"start":"a","nodes":{"a":{"type":"hangup","bogus":1}}}"#).is_err());
        assert!(Scenario::parse(r#"{"start":"a","nodes":{"a":{"type":"teleport"}}}"#).is_err());
        assert!(Scenario::parse(r#"{"start":"a"}"#).is_err());
    }
}
