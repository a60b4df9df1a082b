//! The default setup as a scenario: what a number without its own scenario does, drawn as
//! the graph the cabinet's editor opens, so a company sees it and changes it from there.
//!
//! Within the company's working hours the caller hears the company greeting (and may dial
//! an extension meanwhile), then every phone of the company rings; outside them the caller
//! hears the after-hours message. Saving the graph makes it the number's own scenario.

use super::model::{Node, NodeKind, Scenario};
use std::collections::BTreeMap;

/// The dial target that rings every user of the company (the default setup's "everyone").
pub const EVERYONE: &str = "all";

/// Seconds the default setup rings everyone before it gives up.
const RING_SECONDS: u32 = 60;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn node(kind: NodeKind, next: &[(&str, &str)]) -> Node {
    Node { kind, next: next.iter().map(|(o, n)| (o.to_string(), n.to_string())).collect() }
}

/// The default setup of `tenant` as a scenario graph.
pub fn scenario(tenant: &pbx_store::Tenant) -> Scenario {
    build(&tenant.greeting_prompt, &tenant.working_hours, &tenant.after_hours_prompt)
}

fn build(greeting: &str, working_hours: &str, after_hours: &str) -> Scenario {
    let mut nodes = BTreeMap::new();
    nodes.insert("bye".to_string(), node(NodeKind::Hangup, &[]));
    nodes.insert(
        "everyone".to_string(),
        node(NodeKind::Dial { targets: vec![EVERYONE.to_string()], timeout: RING_SECONDS }, &[("*", "bye")]),
    );
    let open = if greeting.is_empty() {
        "everyone"
    } else {
        nodes.insert(
            "greeting".to_string(),
            node(NodeKind::Play { prompts: vec![greeting.to_string()], extension_dialing: true }, &[("done", "everyone")]),
        );
        "greeting"
    };
    // Unreadable hours count as always open, as the engine reads them.
    let spans = pbx_store::hours::parse_hours(working_hours).unwrap_or_default();
    let start = if spans.is_empty() {
        open
    } else {
        let weekly: Vec<serde_json::Value> = spans
            .iter()
            .map(|s| {
                let days: Vec<&str> = DAY_NAMES.iter().enumerate().filter(|(i, _)| s.days & (1 << i) != 0).map(|(_, d)| *d).collect();
                serde_json::json!({"days": days, "from": hhmm(s.from), "to": hhmm(s.to)})
            })
            .collect();
        nodes.insert(
            "hours".to_string(),
            node(
                NodeKind::Plugin { plugin: "time-rules".into(), config: serde_json::json!({ "weekly": weekly }) },
                &[("open", open), ("closed", "after-hours")],
            ),
        );
        nodes.insert(
            "after-hours".to_string(),
            node(NodeKind::Play { prompts: vec![after_hours.to_string()], extension_dialing: false }, &[("done", "bye")]),
        );
        "hours"
    };
    Scenario { start: start.to_string(), nodes, layout: BTreeMap::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_open_without_greeting_rings_everyone() {
        let s = build("", "", "closed");
        assert_eq!(s.start, "everyone");
        assert!(matches!(&s.nodes["everyone"].kind, NodeKind::Dial { targets, .. } if targets == &vec![EVERYONE.to_string()]));
        assert!(!s.nodes.contains_key("after-hours"));
    }

    #[test]
    fn working_hours_become_a_time_rule_with_the_after_hours_message() {
        let s = build("welcome", "mon-fri 09:00-18:00; sun 10:00-24:00", "closed");
        assert_eq!(s.start, "hours");
        let NodeKind::Plugin { plugin, config } = &s.nodes["hours"].kind else { panic!("not a time rule") };
        assert_eq!(plugin, "time-rules");
        assert_eq!(
            config["weekly"],
            serde_json::json!([
                {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"},
                {"days": ["sun"], "from": "10:00", "to": "24:00"}
            ])
        );
        assert_eq!(s.nodes["hours"].next["open"], "greeting");
        assert_eq!(s.nodes["hours"].next["closed"], "after-hours");
        assert!(matches!(&s.nodes["after-hours"].kind, NodeKind::Play { prompts, .. } if prompts == &vec!["closed".to_string()]));
        assert_eq!(s.nodes["greeting"].next["done"], "everyone");
    }
}
