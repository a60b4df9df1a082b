//! `queue`: the distribution strategy of call queues. When callers wait and agents are
//! free, the PBX asks it which agents to offer the first caller to: `ring-all` (every
//! available agent at once), `round-robin` (the next agent after the one who took the last
//! call), `longest-idle`, or `fewest-calls` (ties go to the longest idle). The PBX holds
//! the callers, plays them music and announcements, and orders them by priority and wait.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use pbx_plugin_sdk::{Agent, Event, Metadata, Plugin, QueueState, Verb, export_plugin, host, metadata};
use serde::Deserialize;

/// The configuration the PBX passes: the queue's strategy.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// ring-all, round-robin, longest-idle or fewest-calls.
    pub strategy: String,
}

const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["strategy"],
  "additionalProperties": false,
  "properties": {
    "strategy": {"type": "string", "enum": ["ring-all", "round-robin", "longest-idle", "fewest-calls"], "title": "Who gets the next caller"}
  }
}"#;

/// The agents to offer the first caller to.
pub fn choose(strategy: &str, q: &QueueState) -> Vec<String> {
    let free: Vec<&Agent> = q.agents.iter().filter(|a| a.state == "available").collect();
    if free.is_empty() || q.callers.is_empty() {
        return Vec::new();
    }
    let pick = |a: Option<&&Agent>| a.map(|a| vec![a.ext.clone()]).unwrap_or_default();
    match strategy {
        "ring-all" => free.iter().map(|a| a.ext.clone()).collect(),
        "round-robin" => {
            // Agents in the queue's order, starting after the last one who took a call.
            let start = q.last_agent.as_ref().and_then(|l| q.agents.iter().position(|a| &a.ext == l)).map(|p| p + 1).unwrap_or(0);
            let n = q.agents.len();
            pick((0..n).map(|i| &q.agents[(start + i) % n]).find(|a| a.state == "available").as_ref())
        }
        "fewest-calls" => pick(free.iter().min_by(|a, b| a.calls_taken.cmp(&b.calls_taken).then(b.idle_ms.cmp(&a.idle_ms)))),
        _ => pick(free.iter().max_by_key(|a| a.idle_ms)),
    }
}

/// The plugin.
pub struct Queue;

impl Plugin for Queue {
    fn describe() -> Metadata {
        metadata("queue", env!("CARGO_PKG_VERSION"), "Call queue distribution strategies", &[], SCHEMA)
    }

    fn handle(event: Event) -> Result<Vec<Verb>, String> {
        let Event::QueueOffer(q) = event else { return Err("the queue plugin only decides queue offers".into()) };
        let c: Config = host::config_as()?;
        Ok(choose(&c.strategy, &q).into_iter().map(Verb::OfferTo).collect())
    }
}

export_plugin!(Queue);

#[cfg(test)]
mod tests {
    use super::*;
    use pbx_plugin_sdk::WaitingCaller;
    use pbx_plugin_sdk::testing::Harness;

    fn agent(ext: &str, state: &str, idle_s: u64, calls: u32) -> Agent {
        Agent { ext: ext.into(), name: String::new(), state: state.into(), idle_ms: idle_s * 1000, calls_taken: calls }
    }

    fn state(last: Option<&str>) -> QueueState {
        QueueState {
            queue: "300".into(),
            agents: vec![
                agent("101", "available", 10, 5),
                agent("102", "busy", 0, 1),
                agent("103", "available", 30, 7),
                agent("104", "paused", 99, 0),
            ],
            callers: vec![WaitingCaller { call_id: "c".into(), caller_number: "+7".into(), waited_ms: 5000, priority: 0, position: 1 }],
            last_agent: last.map(str::to_string),
        }
    }

    #[test]
    fn strategies_pick_among_available_agents() {
        assert_eq!(choose("ring-all", &state(None)), vec!["101", "103"]);
        assert_eq!(choose("longest-idle", &state(None)), vec!["103"]);
        assert_eq!(choose("fewest-calls", &state(None)), vec!["101"]);
        assert_eq!(choose("round-robin", &state(Some("101"))), vec!["103"]);
        assert_eq!(choose("round-robin", &state(Some("103"))), vec!["101"]);
        assert_eq!(choose("round-robin", &state(None)), vec!["101"]);
    }

    #[test]
    fn nobody_available_or_nobody_waiting_offers_nothing() {
        let mut s = state(None);
        s.callers.clear();
        assert!(choose("ring-all", &s).is_empty());
        let mut s = state(None);
        for a in &mut s.agents {
            a.state = "busy".into();
        }
        assert!(choose("longest-idle", &s).is_empty());
    }

    #[test]
    fn it_answers_queue_offers_with_offer_to() {
        let mut h = Harness::<Queue>::new(r#"{"strategy":"longest-idle"}"#);
        assert_eq!(h.send(Event::QueueOffer(state(None))).unwrap(), vec![Verb::OfferTo("103".into())]);
        assert!(h.call_arrived().is_err());
    }
}
