//! `name-lookup`: shows the caller's name on the phones. Looks the number up in the tenant's
//! address book (the node configuration) and in the key-value store (where a CRM integration
//! may put names), then sets the caller name and leaves through `done`.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use pbx_plugin_sdk::{Event, Metadata, Plugin, Verb, export_plugin, host, metadata};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The node configuration.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Number → name.
    #[serde(default)]
    pub entries: BTreeMap<String, String>,
    /// Also look in the key-value store (`name:<digits>`).
    #[serde(default = "yes")]
    pub use_store: bool,
}

fn yes() -> bool {
    true
}

const SCHEMA: &str = r#"{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "entries": {"type": "object", "title": "Address book (number → name)", "additionalProperties": {"type": "string", "maxLength": 64}},
    "use_store": {"type": "boolean", "title": "Also use names saved by integrations", "default": true}
  }
}"#;

/// The digits of a number, without the national/international prefix differences that
/// matter for matching (+7 / 8 / 7 for Russia): the last ten digits.
pub fn key(number: &str) -> String {
    let d: String = number.chars().filter(|c| c.is_ascii_digit()).collect();
    if d.len() > 10 { d[d.len() - 10..].to_string() } else { d }
}

/// The plugin.
pub struct NameLookup;

impl Plugin for NameLookup {
    fn describe() -> Metadata {
        let mut m = metadata("name-lookup", env!("CARGO_PKG_VERSION"), "Shows the caller's name from the address book", &["done"], SCHEMA);
        m.capabilities = vec![pbx_plugin_sdk::Capability::Kv];
        m
    }

    fn handle(event: Event) -> Result<Vec<Verb>, String> {
        let Event::CallArrived(call) = event else { return Ok(Vec::new()) };
        let c: Config = host::config_as()?;
        let k = key(&call.caller_number);
        let found = c
            .entries
            .iter()
            .find(|(n, _)| key(n) == k)
            .map(|(_, name)| name.clone())
            .or_else(|| if c.use_store && !k.is_empty() { host::kv_get(&format!("name:{k}")) } else { None });
        let mut out = Vec::new();
        if let Some(name) = found {
            out.push(Verb::SetCallerName(name));
        }
        out.push(Verb::Next("done".into()));
        Ok(out)
    }
}

export_plugin!(NameLookup);

#[cfg(test)]
mod tests {
    use super::*;
    use pbx_plugin_sdk::testing::Harness;

    #[test]
    fn finds_names_in_any_number_form() {
        let cfg = r#"{"entries":{"+7 (916) 123-45-67":"Иван Петров","84951112233":"ООО Ромашка"}}"#;
        let mut h = Harness::<NameLookup>::new(cfg).from("89161234567");
        assert_eq!(h.call_arrived().unwrap(), vec![Verb::SetCallerName("Иван Петров".into()), Verb::Next("done".into())]);
        let mut h = Harness::<NameLookup>::new(cfg).from("+74951112233");
        assert_eq!(h.call_arrived().unwrap()[0], Verb::SetCallerName("ООО Ромашка".into()));
    }

    #[test]
    fn unknown_numbers_pass_and_the_store_is_used() {
        let mut h = Harness::<NameLookup>::new("{}").from("+79990001122");
        assert_eq!(h.call_arrived().unwrap(), vec![Verb::Next("done".into())]);
        h.host(|s| s.kv.insert("name:9990001122".into(), "From the CRM".into()));
        assert_eq!(h.call_arrived().unwrap()[0], Verb::SetCallerName("From the CRM".into()));
    }
}
