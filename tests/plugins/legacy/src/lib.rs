//! An integration plugin built straight from `wit/0.1/plugin.wit` (no SDK), as a plugin
//! published before contract 0.2 is: it keeps the kinds of the call events it receives in
//! its key-value store, shows them at its webhook (`/seen`), and places calls from it
//! (`/call?ext=101&number=103`) with the 0.1 originate spec.
// The bindings' export glue is generated in this crate (there is no SDK to hide it in).
#![allow(unsafe_code)]

#[allow(missing_docs, clippy::all, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/0.1/plugin.wit",
        world: "plugin",
    });
}

use bindings::pbx::plugin::host;
use bindings::pbx::plugin::types::{Capability, Event, HttpResponse, Metadata, OriginateSpec, Verb};

/// The plugin.
pub struct Legacy;

fn param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_string()).unwrap_or_default()
}

fn respond(status: u16, body: &str) -> Verb {
    Verb::Respond(HttpResponse { status, headers: vec![("content-type".into(), "text/plain".into())], body: body.as_bytes().to_vec() })
}

impl bindings::Guest for Legacy {
    fn describe() -> Metadata {
        Metadata {
            name: "legacy".into(),
            version: "0.1.0".into(),
            description: "An integration built from contract 0.1 (test)".into(),
            outputs: Vec::new(),
            config_schema: "{}".into(),
            capabilities: vec![Capability::Kv],
        }
    }

    fn outputs(_config: String) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }

    fn handle(event: Event) -> Result<Vec<Verb>, String> {
        match event {
            Event::CallLifecycle(l) => {
                let seen = host::kv_get("seen").unwrap_or_default();
                host::kv_set("seen", &format!("{seen}{}:{}:{};", l.kind, l.call.call_id, l.disposition));
                Ok(Vec::new())
            }
            Event::Webhook(req) => {
                let path = req.url.split('?').next().unwrap_or("");
                if path.ends_with("/seen") {
                    Ok(vec![respond(200, &host::kv_get("seen").unwrap_or_default())])
                } else if path.ends_with("/call") {
                    let spec = OriginateSpec { from_ext: param(&req.url, "ext"), to_number: param(&req.url, "number") };
                    Ok(vec![Verb::Originate(spec), respond(202, "calling")])
                } else {
                    Ok(vec![respond(404, "no such page")])
                }
            }
            _ => Ok(Vec::new()),
        }
    }
}

bindings::export!(Legacy with_types_in bindings);
