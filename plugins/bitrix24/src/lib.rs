//! `bitrix24`: the company's calls in a Bitrix24 portal's CRM, through nothing but the
//! public plugin contract.
//!
//! As an integration (every call of the company, in order, at least once) it registers
//! inbound and outbound calls with the portal's external telephony, shows the call card to
//! the employees whose phones ring and hides it when they stop or someone else answers,
//! follows transfers, finishes the call with its duration and status, and attaches the
//! recording. Its inbound address takes the local application's installation callback and
//! the portal's click-to-call and callback-form events (see [`hooks`]). As a scenario node
//! it names the caller from the CRM before the phones ring (and keeps the name in the
//! company's phone book) and may ring the client's responsible employee first.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod calls;
pub mod hooks;
pub mod portal;
pub mod settings;
pub mod users;

use pbx_plugin_sdk::{
    CallInfo, Capability, Contact, DialOutcome, DialSpec, DialTarget, Event, Metadata, Plugin, Verb, export_plugin, host, metadata,
};
use serde_json::json;
use settings::Settings;

/// The plugin.
pub struct Bitrix24;

/// The node's one way on.
const NEXT: &str = "next";

/// The caller's name in the CRM, and the extension of the client's responsible employee
/// when the node should ring them first.
fn lookup(call: &CallInfo, s: &Settings) -> (Option<String>, Option<String>) {
    let now = host::now().unix_ms;
    let Some(a) = portal::auth() else { return (None, None) };
    // In a call only a valid token is used: renewing it would hold the caller up.
    if a.expires_ms <= now || call.caller_number.is_empty() || call.direction != "inbound" {
        return (None, None);
    }
    let found = match portal::call("telephony.externalCall.searchCrmEntities", json!({"PHONE_NUMBER": call.caller_number}), s, now) {
        Ok(v) => v,
        Err(e) => {
            host::warn(&format!("CRM lookup failed: {e}"));
            return (None, None);
        }
    };
    let Some(first) = found.as_array().and_then(|a| a.first()).cloned() else { return (None, None) };
    let name: String = users::scalar(&first["NAME"]).chars().take(64).collect();
    if !name.is_empty() {
        // The phone book keeps it for the calls that do not pass this node.
        let entry = Contact { number: call.caller_number.clone(), name: name.clone(), company: String::new() };
        if let Err(e) = host::contact_put(&entry) {
            host::warn(&format!("the caller's name not kept: {e}"));
        }
    }
    let inner = users::scalar(&first["ASSIGNED_BY"]["USER_PHONE_INNER"]);
    (Some(name).filter(|n| !n.is_empty()), Some(inner).filter(|i| s.route_to_responsible && !i.is_empty()))
}

impl Plugin for Bitrix24 {
    fn describe() -> Metadata {
        let mut m = metadata(
            "bitrix24",
            env!("CARGO_PKG_VERSION"),
            "Bitrix24 CRM: call registration, call cards, recordings, click-to-call, caller names",
            &[NEXT],
            settings::SCHEMA,
        );
        // The OAuth server and the cloud portals (a portal on the company's own server is
        // granted by its name besides).
        let hosts = ["oauth.bitrix.info", "*.bitrix24.ru", "*.bitrix24.com", "*.bitrix24.by", "*.bitrix24.kz", "*.bitrix24.de"];
        m.capabilities =
            vec![Capability::Kv, Capability::Directory, Capability::Contacts, Capability::Http(hosts.map(String::from).to_vec())];
        m
    }

    fn handle(event: Event) -> Result<Vec<Verb>, String> {
        let s = Settings::current();
        match event {
            Event::CallArrived(call) => {
                let (name, responsible) = lookup(&call, &s);
                let mut verbs: Vec<Verb> = name.map(Verb::SetCallerName).into_iter().collect();
                verbs.push(match responsible {
                    Some(ext) => {
                        Verb::Dial(DialSpec { targets: vec![DialTarget::Extension(ext)], timeout_ms: s.ring_seconds.clamp(5, 120) * 1000 })
                    }
                    None => Verb::Next(NEXT.into()),
                });
                Ok(verbs)
            }
            // The responsible employee talked: the call is over; else the scenario goes on.
            Event::DialFinished((_, DialOutcome::Answered)) => Ok(vec![Verb::Hangup]),
            Event::DialFinished(_) | Event::PlayFinished(_) | Event::DigitsCollected(_) => Ok(vec![Verb::Next(NEXT.into())]),
            Event::CallLifecycle(l) => calls::on_event(&l, &s).map(|()| Vec::new()),
            Event::Webhook(req) => Ok(hooks::on_request(&req, &s)),
            Event::OriginateResult(r) => {
                hooks::on_originate_result(&r, &s);
                Ok(Vec::new())
            }
            Event::QueueOffer(_) => Err("bitrix24 decides no queue offers".into()),
        }
    }
}

export_plugin!(Bitrix24);
