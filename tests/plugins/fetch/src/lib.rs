//! A plugin that fetches the URL of its configuration (the egress tests): it reports the
//! HTTP status, or the host's refusal, as the caller's name, so the result shows in the
//! call's timeline.

use pbx_plugin_sdk::{Capability, Event, HttpRequest, Metadata, Plugin, Verb, export_plugin, host, metadata};

/// Fetches.
pub struct Fetch;

impl Plugin for Fetch {
    fn describe() -> Metadata {
        let mut m = metadata("fetch", "0.1.0", "Fetches a URL (egress test)", &["done"], r#"{"type":"object"}"#);
        m.capabilities = vec![Capability::Http(vec!["127.0.0.1".into(), "localhost".into()])];
        m
    }

    fn handle(event: Event) -> Result<Vec<Verb>, String> {
        let Event::CallArrived(_) = event else { return Ok(vec![Verb::Next("done".into())]) };
        let config: serde_json::Value = serde_json::from_str(&host::config()).unwrap_or_default();
        let url = config["url"].as_str().unwrap_or_default().to_string();
        let req = HttpRequest { method: "GET".into(), url, headers: Vec::new(), body: Vec::new() };
        let result = match host::http(&req) {
            Ok(r) => format!("fetch={}", r.status),
            Err(e) => format!("fetch refused: {}", e.chars().take(80).collect::<String>()),
        };
        Ok(vec![Verb::SetCallerName(result), Verb::Next("done".into())])
    }
}

export_plugin!(Fetch);
