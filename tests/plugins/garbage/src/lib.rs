//! A hostile plugin for the sandbox tests: answers with verbs that make no sense where they
//! are used. The configuration picks the kind of garbage.

use pbx_plugin_sdk::{Event, HttpResponse, Metadata, Plugin, Verb, export_plugin, host, metadata};

/// Answers nonsense.
pub struct Garbage;

impl Plugin for Garbage {
    fn describe() -> Metadata {
        metadata(
            "garbage",
            "0.1.0",
            "Answers with invalid verbs (sandbox test)",
            &["done"],
            r#"{"type":"object","properties":{"kind":{"type":"string"}}}"#,
        )
    }

    fn handle(_event: Event) -> Result<Vec<Verb>, String> {
        let config: serde_json::Value = serde_json::from_str(&host::config()).map_err(|e| e.to_string())?;
        let kind = config.get("kind").and_then(|k| k.as_str()).unwrap_or("unknown-output");
        Ok(match kind {
            // An output the node does not have.
            "unknown-output" => vec![Verb::Next("no-such-output".into())],
            // A flood of verbs.
            "flood" => (0..10_000).map(|i| Verb::SetVariable((format!("v{i}"), "x".repeat(100)))).collect(),
            // Verbs that belong to other events.
            "wrong-context" => {
                vec![Verb::OfferTo("101".into()), Verb::Respond(HttpResponse { status: 200, headers: vec![], body: vec![] })]
            }
            // Nothing at all: the call would stall.
            "nothing" => vec![],
            // A huge prompt name.
            "huge" => vec![Verb::Play(vec!["p".repeat(1 << 20)])],
            other => return Err(format!("unknown kind {other}")),
        })
    }
}

export_plugin!(Garbage);
