//! `vip`: a template plugin. Callers whose number is on the configured list leave the node
//! through `vip` (with a call variable `priority` that queues honour), everyone else through
//! `other`. Copy this directory to start your own plugin; the README walks through it.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use pbx_plugin_sdk::{Event, Metadata, Plugin, Verb, export_plugin, host, metadata};
use serde::Deserialize;

/// The node configuration, as the tenant sets it in the scenario.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// VIP numbers in E.164 (`+74951234567`).
    pub numbers: Vec<String>,
    /// Priority given to VIP callers in queues.
    #[serde(default = "default_priority")]
    pub priority: u32,
}

fn default_priority() -> u32 {
    10
}

/// JSON Schema of [`Config`]: the PBX validates configurations with it and the cabinet
/// builds the node's settings form from it.
const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["numbers"],
  "additionalProperties": false,
  "properties": {
    "numbers": {"type": "array", "title": "VIP numbers", "items": {"type": "string", "pattern": "^\\+[0-9]{6,15}$"}},
    "priority": {"type": "integer", "title": "Queue priority", "minimum": 0, "maximum": 100, "default": 10}
  }
}"#;

/// The plugin.
pub struct Vip;

impl Plugin for Vip {
    fn describe() -> Metadata {
        metadata("vip", env!("CARGO_PKG_VERSION"), "Routes VIP callers separately", &["vip", "other"], SCHEMA)
    }

    fn handle(event: Event) -> Result<Vec<Verb>, String> {
        let Event::CallArrived(call) = event else { return Ok(vec![Verb::Next("other".into())]) };
        let config: Config = host::config_as()?;
        if config.numbers.contains(&call.caller_number) {
            host::info(&format!("VIP caller {}", call.caller_number));
            Ok(vec![Verb::SetVariable(("priority".into(), config.priority.to_string())), Verb::Next("vip".into())])
        } else {
            Ok(vec![Verb::Next("other".into())])
        }
    }
}

export_plugin!(Vip);

#[cfg(test)]
mod tests {
    use super::*;
    use pbx_plugin_sdk::testing::{Harness, next_of};

    const CONFIG: &str = r#"{"numbers":["+79161234567"],"priority":20}"#;

    #[test]
    fn vip_callers_go_to_vip_with_priority() {
        let mut h = Harness::<Vip>::new(CONFIG).from("+79161234567");
        let verbs = h.call_arrived().unwrap();
        assert_eq!(next_of(&verbs), Some("vip"));
        assert!(verbs.contains(&Verb::SetVariable(("priority".into(), "20".into()))));
        assert!(h.host(|host| host.logs.iter().any(|(_, line)| line.contains("+79161234567"))));
    }

    #[test]
    fn everyone_else_goes_to_other() {
        let mut h = Harness::<Vip>::new(CONFIG).from("+74950000000");
        assert_eq!(h.call_arrived().unwrap(), vec![Verb::Next("other".into())]);
    }

    #[test]
    fn a_bad_configuration_is_an_error() {
        let mut h = Harness::<Vip>::new(r#"{"priority":1}"#);
        assert!(h.call_arrived().is_err());
    }
}
