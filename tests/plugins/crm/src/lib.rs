//! An integration plugin for the tests, as a CRM connector would be: it keeps the call
//! events it receives (kind and call id, in order) and forwards each to the CRM, whose
//! address and key come from the company's settings (`crm_url`, the secret `api_key`;
//! `note_events: false` forwards without keeping notes, as the benchmark's does) or
//! from its inbound webhook (`/setup?url=...`); its webhook also answers what it saw
//! (`/seen`), places calls (`/call?ext=101&number=102&corr=c1&line=...`) and hears what
//! became of them (`/results`), and writes the phone book (`/contact?number=..&name=..`).

use pbx_plugin_sdk::{
    Capability, Contact, Event, HttpRequest, HttpResponse, Metadata, OriginateSpec, Plugin, Verb, export_plugin, host, metadata,
};

/// The connector.
pub struct Crm;

/// A query parameter of a request path (`+` and `%20` are spaces; `%2B` is a plus).
fn param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let raw = query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v).unwrap_or_default();
    raw.replace('+', " ").replace("%20", " ").replace("%2B", "+")
}

fn some(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

fn respond(status: u16, body: &str) -> Verb {
    Verb::Respond(HttpResponse { status, headers: vec![("content-type".into(), "text/plain".into())], body: body.as_bytes().to_vec() })
}

impl Plugin for Crm {
    fn describe() -> Metadata {
        let schema = r#"{"type":"object","additionalProperties":false,"properties":{
            "crm_url":{"type":"string","format":"uri","maxLength":500},
            "api_key":{"type":"string","writeOnly":true,"minLength":8},
            "note_events":{"type":"boolean","default":true}}}"#;
        let mut m = metadata("crm", "0.1.0", "A CRM connector (integration test)", &[], schema);
        m.capabilities = vec![Capability::Kv, Capability::Http(vec!["127.0.0.1".into()]), Capability::Contacts];
        m
    }

    fn handle(event: Event) -> Result<Vec<Verb>, String> {
        match event {
            Event::CallLifecycle(l) => {
                let settings: serde_json::Value = serde_json::from_str(&host::config()).unwrap_or_default();
                // A connector that only forwards (the benchmark's) keeps no notes.
                if settings["note_events"].as_bool() != Some(false) {
                    let seen = host::kv_get("seen").unwrap_or_default();
                    let corr = l.correlation_id.as_deref().map(|c| format!("@{c}")).unwrap_or_default();
                    host::kv_set(
                        "seen",
                        &format!("{seen}{}:{}:{}{corr};", l.kind, l.call.call_id, l.answered_by.clone().unwrap_or_default()),
                    );
                }
                let url = settings["crm_url"].as_str().map(str::to_string).or_else(|| host::kv_get("crm_url")).unwrap_or_default();
                let key = settings["api_key"].as_str().unwrap_or_default().to_string();
                if !url.is_empty() {
                    let body = format!(
                        r#"{{"kind":"{}","call_id":"{}","from":"{}","to":"{}","disposition":"{}","at":{}}}"#,
                        l.kind, l.call.call_id, l.call.caller_number, l.call.called_number, l.disposition, l.at_ms
                    );
                    let req = HttpRequest {
                        method: "POST".into(),
                        url,
                        headers: vec![("content-type".into(), "application/json".into()), ("x-api-key".into(), key)],
                        body: body.into_bytes(),
                    };
                    // A CRM that does not take it gets the event again (the host retries).
                    let r = host::http(&req)?;
                    if r.status >= 300 {
                        return Err(format!("the CRM answered {}", r.status));
                    }
                }
                Ok(Vec::new())
            }
            Event::Webhook(req) => {
                let path = req.url.split('?').next().unwrap_or("");
                if path.ends_with("/seen") {
                    Ok(vec![respond(200, &host::kv_get("seen").unwrap_or_default())])
                } else if path.ends_with("/setup") {
                    host::kv_set("crm_url", &param(&req.url, "url"));
                    Ok(vec![respond(200, "ok")])
                } else if path.ends_with("/call") {
                    let spec = OriginateSpec {
                        from_ext: param(&req.url, "ext"),
                        to_number: param(&req.url, "number"),
                        line: some(param(&req.url, "line")),
                        correlation_id: some(param(&req.url, "corr")),
                    };
                    Ok(vec![Verb::Originate(spec), respond(202, "calling")])
                } else if path.ends_with("/results") {
                    Ok(vec![respond(200, &host::kv_get("results").unwrap_or_default())])
                } else if path.ends_with("/contact") {
                    let entry =
                        Contact { number: param(&req.url, "number"), name: param(&req.url, "name"), company: param(&req.url, "company") };
                    Ok(vec![match host::contact_put(&entry) {
                        Ok(()) => respond(200, &host::contact_lookup(&entry.number).map(|c| c.name).unwrap_or_default()),
                        Err(e) => respond(400, &e),
                    }])
                } else {
                    Ok(vec![respond(404, "no such page")])
                }
            }
            Event::OriginateResult(r) => {
                let results = host::kv_get("results").unwrap_or_default();
                let corr = r.correlation_id.clone().unwrap_or_default();
                let outcome = r.call_id.clone().or(r.error.clone()).unwrap_or_default();
                host::kv_set("results", &format!("{results}{corr}:{outcome};"));
                // "again…": a connector that tries again on every failure (the host must not
                // go round with it).
                if corr.starts_with("again") && r.error.is_some() {
                    let spec = OriginateSpec { from_ext: r.from_ext, to_number: r.to_number, line: None, correlation_id: r.correlation_id };
                    return Ok(vec![Verb::Originate(spec.clone()), Verb::Originate(spec)]);
                }
                Ok(Vec::new())
            }
            _ => Ok(Vec::new()),
        }
    }
}

export_plugin!(Crm);
