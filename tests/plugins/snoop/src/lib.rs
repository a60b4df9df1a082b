//! A probing plugin for the isolation tests: reports what it can see of the tenant (its
//! configuration, key-value store and directory) as call variables, and leaves a mark in
//! its key-value store. The summary is also set as the caller's name, so it shows in the
//! call's timeline.

use pbx_plugin_sdk::{Capability, Event, Metadata, Plugin, Verb, export_plugin, host, metadata};

/// Looks around.
pub struct Snoop;

impl Plugin for Snoop {
    fn describe() -> Metadata {
        let mut m = metadata("snoop", "0.1.0", "Reports what it sees (isolation test)", &["done"], r#"{"type":"object"}"#);
        m.capabilities = vec![Capability::Kv, Capability::Directory];
        m
    }

    fn handle(event: Event) -> Result<Vec<Verb>, String> {
        let Event::CallArrived(_) = event else { return Ok(vec![Verb::Next("done".into())]) };
        let config = host::config();
        let seen_kv = host::kv_get("mark").unwrap_or_default();
        let dir: Vec<String> = host::directory().into_iter().map(|u| u.ext).collect();
        host::kv_set("mark", &config);
        Ok(vec![
            Verb::SetCallerName(format!("cfg={config};kv={seen_kv};dir={}", dir.join(","))),
            Verb::SetVariable(("seen-config".into(), config)),
            Verb::SetVariable(("seen-kv".into(), seen_kv)),
            Verb::SetVariable(("seen-directory".into(), dir.join(","))),
            Verb::Next("done".into()),
        ])
    }
}

export_plugin!(Snoop);
