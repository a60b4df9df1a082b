//! `ivr`: a voice menu. Plays its greeting (once) and its menu prompt and collects a key:
//! each configured key leaves the node through its output; any extension can be dialled
//! directly (the host connects it, and if nobody answers the caller hears so and is back in
//! the menu); no input and wrong input are retried with prompts, then leave through
//! `timeout` or `invalid`. Menus nest by wiring an output to another `ivr` node.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use pbx_plugin_sdk::{Event, GatherSpec, Gathered, Metadata, Plugin, Verb, export_plugin, host, metadata, variable};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The node configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Prompt of the menu.
    pub prompt: String,
    /// Played once before the menu (e.g. `welcome`).
    #[serde(default)]
    pub greeting: Option<String>,
    /// Key → output name.
    pub options: BTreeMap<String, String>,
    /// Whether callers may dial extensions.
    #[serde(default = "yes")]
    pub extension_dialing: bool,
    /// Retries after no input or a wrong key.
    #[serde(default = "two")]
    pub retries: u32,
    /// Wait for the first key, ms.
    #[serde(default = "five_s")]
    pub timeout_ms: u32,
    /// Wait between keys (extension dialing), ms.
    #[serde(default = "two_s")]
    pub inter_digit_ms: u32,
    /// Prompt for a wrong key.
    #[serde(default = "invalid")]
    pub invalid_prompt: String,
}

fn yes() -> bool {
    true
}
fn two() -> u32 {
    2
}
fn five_s() -> u32 {
    5000
}
fn two_s() -> u32 {
    2000
}
fn invalid() -> String {
    "invalid".into()
}

const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["prompt", "options"],
  "additionalProperties": false,
  "properties": {
    "prompt": {"type": "string", "title": "Menu prompt", "minLength": 1},
    "greeting": {"type": "string", "title": "Greeting played once before the menu", "minLength": 1},
    "options": {"type": "object", "title": "Keys and where they lead", "additionalProperties": {"type": "string", "pattern": "^[a-z0-9-]{1,32}$"}},
    "extension_dialing": {"type": "boolean", "title": "Callers may dial an extension", "default": true},
    "retries": {"type": "integer", "minimum": 0, "maximum": 5, "default": 2},
    "timeout_ms": {"type": "integer", "minimum": 1000, "maximum": 30000, "default": 5000},
    "inter_digit_ms": {"type": "integer", "minimum": 500, "maximum": 10000, "default": 2000},
    "invalid_prompt": {"type": "string", "default": "invalid"}
  }
}"#;

fn tries_key() -> String {
    // One counter per menu: the prompt names the menu.
    let c: Option<Config> = host::config_as().ok();
    format!("ivr.tries.{}", c.map(|c| c.prompt).unwrap_or_default())
}

fn gather(c: &Config, prompts: Vec<String>) -> Verb {
    let longest_key = c.options.keys().map(|k| k.len()).max().unwrap_or(1);
    Verb::Gather(GatherSpec {
        prompts,
        max_digits: if c.extension_dialing { 6 } else { longest_key as u8 },
        terminator: Some("#".into()),
        first_timeout_ms: c.timeout_ms,
        inter_digit_timeout_ms: c.inter_digit_ms,
        barge_in: true,
        extension_dialing: c.extension_dialing,
    })
}

/// The plugin.
pub struct Ivr;

impl Plugin for Ivr {
    fn describe() -> Metadata {
        metadata("ivr", env!("CARGO_PKG_VERSION"), "Voice menu with direct extension dialing", &["timeout", "invalid"], SCHEMA)
    }

    fn outputs(config: &str) -> Result<Vec<String>, String> {
        let c: Config = serde_json::from_str(config).map_err(|e| format!("invalid configuration: {e}"))?;
        if let Some(k) = c.options.keys().find(|k| k.is_empty() || !k.chars().all(|ch| ch.is_ascii_digit() || ch == '*')) {
            return Err(format!("option key {k:?} must be digits or *"));
        }
        let mut out: Vec<String> = c.options.values().cloned().collect();
        out.sort();
        out.dedup();
        out.push("timeout".into());
        out.push("invalid".into());
        Ok(out)
    }

    fn handle(event: Event) -> Result<Vec<Verb>, String> {
        let c: Config = host::config_as()?;
        match event {
            Event::CallArrived(_) => {
                let mut prompts: Vec<String> = c.greeting.iter().cloned().collect();
                prompts.push(c.prompt.clone());
                Ok(vec![Verb::Answer, gather(&c, prompts)])
            }
            // An extension the caller dialled did not answer: say so, back to the menu.
            Event::DialFinished((call, _)) => {
                let key = tries_key();
                let tries: u32 = variable(&call, &key).and_then(|v| v.parse().ok()).unwrap_or(0);
                if tries >= c.retries {
                    return Ok(vec![Verb::Next("timeout".into())]);
                }
                Ok(vec![Verb::SetVariable((key, (tries + 1).to_string())), gather(&c, vec!["not-available".into(), c.prompt.clone()])])
            }
            Event::DigitsCollected((call, Gathered { digits, .. })) => {
                let digits = digits.trim_end_matches('#').to_string();
                if let Some(out) = c.options.get(&digits) {
                    return Ok(vec![Verb::Next(out.clone())]);
                }
                let key = tries_key();
                let tries: u32 = variable(&call, &key).and_then(|v| v.parse().ok()).unwrap_or(0);
                if tries >= c.retries {
                    let out = if digits.is_empty() { "timeout" } else { "invalid" };
                    return Ok(vec![Verb::Next(out.into())]);
                }
                let mut prompts = Vec::new();
                if !digits.is_empty() {
                    prompts.push(c.invalid_prompt.clone());
                }
                prompts.push(c.prompt.clone());
                Ok(vec![Verb::SetVariable((key, (tries + 1).to_string())), gather(&c, prompts)])
            }
            _ => Err("the ivr plugin only handles calls".into()),
        }
    }
}

export_plugin!(Ivr);

#[cfg(test)]
mod tests {
    use super::*;
    use pbx_plugin_sdk::testing::{Harness, next_of};

    const MENU: &str = r#"{"prompt":"ivr-menu","options":{"1":"sales","2":"support"},"retries":1}"#;

    #[test]
    fn answers_and_gathers_with_extension_dialing() {
        let mut h = Harness::<Ivr>::new(MENU);
        let v = h.call_arrived().unwrap();
        assert_eq!(v[0], Verb::Answer);
        let Verb::Gather(g) = &v[1] else { panic!("{v:?}") };
        assert_eq!(g.prompts, vec!["ivr-menu"]);
        assert!(g.extension_dialing && g.barge_in);
        assert_eq!(g.max_digits, 6);
    }

    #[test]
    fn keys_lead_to_outputs() {
        let mut h = Harness::<Ivr>::new(MENU);
        assert_eq!(next_of(&h.digits("2", "timeout").unwrap()), Some("support"));
        assert_eq!(next_of(&h.digits("1#", "terminator").unwrap()), Some("sales"));
    }

    #[test]
    fn a_greeting_plays_once_before_the_menu() {
        let mut h = Harness::<Ivr>::new(r#"{"prompt":"ivr-menu","greeting":"welcome","options":{"1":"sales"}}"#);
        let v = h.call_arrived().unwrap();
        let Verb::Gather(g) = &v[1] else { panic!("{v:?}") };
        assert_eq!(g.prompts, vec!["welcome", "ivr-menu"]);
        let v = h.digits("", "timeout").unwrap();
        let Verb::Gather(g) = &v[1] else { panic!("{v:?}") };
        assert_eq!(g.prompts, vec!["ivr-menu"]);
    }

    #[test]
    fn an_unanswered_extension_returns_to_the_menu() {
        let mut h = Harness::<Ivr>::new(MENU);
        let v = h.dial_finished(pbx_plugin_sdk::DialOutcome::NoAnswer).unwrap();
        let Verb::Gather(g) = &v[1] else { panic!("{v:?}") };
        assert_eq!(g.prompts, vec!["not-available", "ivr-menu"]);
        let mut h = Harness::<Ivr>::new(MENU).variable("ivr.tries.ivr-menu", "1");
        assert_eq!(next_of(&h.dial_finished(pbx_plugin_sdk::DialOutcome::Busy).unwrap()), Some("timeout"));
    }

    #[test]
    fn retries_then_timeout_or_invalid() {
        let mut h = Harness::<Ivr>::new(MENU);
        let v = h.digits("", "timeout").unwrap();
        assert_eq!(v[0], Verb::SetVariable(("ivr.tries.ivr-menu".into(), "1".into())));
        let Verb::Gather(g) = &v[1] else { panic!() };
        assert_eq!(g.prompts, vec!["ivr-menu"]);
        // The retry count travels with the call.
        let mut h = Harness::<Ivr>::new(MENU).variable("ivr.tries.ivr-menu", "1");
        assert_eq!(next_of(&h.digits("", "timeout").unwrap()), Some("timeout"));
        assert_eq!(next_of(&h.digits("9", "timeout").unwrap()), Some("invalid"));
        // A wrong key first hears "invalid".
        let mut h = Harness::<Ivr>::new(MENU);
        let v = h.digits("9", "timeout").unwrap();
        let Verb::Gather(g) = &v[1] else { panic!() };
        assert_eq!(g.prompts, vec!["invalid", "ivr-menu"]);
    }

    #[test]
    fn outputs_follow_the_options() {
        let h = Harness::<Ivr>::new(MENU);
        assert_eq!(h.outputs().unwrap(), vec!["sales", "support", "timeout", "invalid"]);
        let h = Harness::<Ivr>::new(r#"{"prompt":"m","options":{"x":"a"}}"#);
        assert!(h.outputs().is_err());
        let h = Harness::<Ivr>::new(r#"{"options":{}}"#);
        assert!(h.outputs().is_err());
    }
}
