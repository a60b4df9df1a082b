//! Busy lamps in virtual time: a phone subscribes to a colleague's `dialog` events and is told
//! idle, then ringing (`early`), then talking (`confirmed`), then idle again; a subscription
//! ends when it expires or is ended with `Expires: 0`; a bad event, a stranger's extension or
//! too short a time are refused with the RFC's answers.

use super::*;
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, SipMessage};
use pbx_sip::method::Method;
use pbx_sip::uri::Uri;

/// A SUBSCRIBE from `phone` (extension `ext`) for `target`; `to_tag` for a refresh.
#[allow(clippy::too_many_arguments)]
fn subscribe(sim: &mut Sim, phone: SocketAddr, ext: &str, target: &str, event: &str, expires: u32, to_tag: Option<&str>, seq: u32) {
    let uri = Uri::parse(&format!("sip:{target}@acme.example")).unwrap();
    let mut r = Request::new(Method::Subscribe, uri);
    r.headers.push(HeaderName::Via, format!("SIP/2.0/UDP {phone};branch=z9hG4bKsub{seq}{target}"));
    r.headers.push(HeaderName::MaxForwards, "70");
    r.headers.push(HeaderName::From, format!("<sip:{ext}@acme.example>;tag=w{ext}"));
    let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    r.headers.push(HeaderName::To, format!("<sip:{target}@acme.example>{tag}"));
    r.headers.push(HeaderName::CallId, format!("blf-{ext}-{target}"));
    r.headers.push(HeaderName::CSeq, format!("{seq} SUBSCRIBE"));
    r.headers.push(HeaderName::Contact, format!("<sip:{ext}@{phone}>"));
    r.headers.push(HeaderName::Event, event);
    r.headers.push(HeaderName::Expires, expires.to_string());
    let t = sim.t;
    sim.phone(phone).send_request(t, r);
    sim.flush_phones();
}

/// The final statuses the phone got for its SUBSCRIBEs, with the To tag.
fn answers(sim: &mut Sim, phone: SocketAddr) -> Vec<(u16, Option<String>)> {
    sim.phone(phone)
        .received
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Response(r) if r.status >= 200 && r.cseq().is_some_and(|c| c.method == Method::Subscribe) => {
                Some((r.status, r.parsed_to().and_then(|t| t.tag().map(str::to_string))))
            }
            _ => None,
        })
        .collect()
}

/// The lamps the phone was told, in order: `idle`, `early`, `confirmed`, and `end` for a
/// final NOTIFY.
fn lamps(sim: &mut Sim, phone: SocketAddr) -> Vec<String> {
    sim.phone(phone)
        .received
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Request(r) if r.method == Method::Notify => {
                let body = String::from_utf8_lossy(&r.body).to_string();
                let state = if body.contains("<state>early</state>") {
                    "early"
                } else if body.contains("<state>confirmed</state>") {
                    "confirmed"
                } else {
                    "idle"
                };
                let ended = r.headers.get(&HeaderName::SubscriptionState).is_some_and(|s| s.starts_with("terminated"));
                Some(if ended { format!("{state}+end") } else { state.to_string() })
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_lamp_follows_a_colleague_from_idle_to_ringing_to_talking_and_back() {
    let mut sim = Sim::new(office(), SimConfig::default());
    let watcher = sim.add_phone("101");
    let target = sim.add_phone("102");
    let caller = sim.add_phone("103");
    for p in [watcher, target, caller] {
        sim.register(p);
    }
    subscribe(&mut sim, watcher, "101", "102", "dialog", 600, None, 1);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(answers(&mut sim, watcher).last().map(|a| a.0), Some(200), "authenticated and accepted");
    assert_eq!(lamps(&mut sim, watcher), vec!["idle"]);
    let id = sim.call(caller, "102");
    sim.run_for(Duration::from_secs(2));
    assert_eq!(lamps(&mut sim, watcher), vec!["idle", "early"]);
    let notify = sim.phone(watcher).received.iter().rev().find_map(|(_, m)| match m {
        Message::Request(r) if r.method == Method::Notify => Some(String::from_utf8_lossy(&r.body).to_string()),
        _ => None,
    });
    let notify = notify.unwrap_or_default();
    assert!(notify.contains("entity=\"sip:102@acme.example\"") && notify.contains("direction=\"recipient\""), "{notify}");
    assert!(notify.contains("<identity>sip:103@acme.example</identity>"), "who rings is shown: {notify}");
    let incoming = sim.phone(target).incoming_calls();
    let t = sim.t;
    sim.phone(target).answer(t, &incoming[0]);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(lamps(&mut sim, watcher), vec!["idle", "early", "confirmed"]);
    let t = sim.t;
    sim.phone(caller).bye(t, &id);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(lamps(&mut sim, watcher), vec!["idle", "early", "confirmed", "idle"]);
    // Nothing changes: nothing more is sent.
    sim.run_for(Duration::from_secs(30));
    assert_eq!(lamps(&mut sim, watcher).len(), 4);
}

#[test]
fn a_subscription_ends_when_asked_or_when_it_expires() {
    let mut sim = Sim::new(office(), SimConfig::default());
    let watcher = sim.add_phone("101");
    let target = sim.add_phone("102");
    sim.register(watcher);
    sim.register(target);
    subscribe(&mut sim, watcher, "101", "102", "dialog", 60, None, 1);
    sim.run_for(Duration::from_secs(1));
    let tag = answers(&mut sim, watcher).last().and_then(|a| a.1.clone()).unwrap_or_default();
    // A refresh is answered with the full state again; Expires 0 ends it with a final NOTIFY.
    subscribe(&mut sim, watcher, "101", "102", "dialog", 60, Some(&tag), 3);
    sim.run_for(Duration::from_secs(1));
    subscribe(&mut sim, watcher, "101", "102", "dialog", 0, Some(&tag), 4);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(lamps(&mut sim, watcher), vec!["idle", "idle", "idle+end"]);
    subscribe(&mut sim, watcher, "101", "102", "dialog", 60, Some(&tag), 5);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(answers(&mut sim, watcher).last().map(|a| a.0), Some(481), "an ended subscription is unknown");
    // Left alone, a subscription expires with a final NOTIFY.
    let other = sim.add_phone("104");
    sim.register(other);
    subscribe(&mut sim, other, "104", "102", "dialog", 60, None, 1);
    sim.run_for(Duration::from_secs(61));
    assert_eq!(lamps(&mut sim, other), vec!["idle", "idle+end"]);
}

#[test]
fn bad_subscriptions_get_the_rfcs_answers() {
    let mut sim = Sim::new(office(), SimConfig::default());
    let watcher = sim.add_phone("101");
    sim.register(watcher);
    for (target, event, expires, seq, want) in
        [("102", "presence", 600, 1, 489), ("999", "dialog", 600, 2, 404), ("201", "dialog", 600, 3, 404), ("102", "dialog", 10, 4, 423)]
    {
        subscribe(&mut sim, watcher, "101", target, event, expires, None, seq);
        sim.run_for(Duration::from_secs(1));
        assert_eq!(answers(&mut sim, watcher).last().map(|a| a.0), Some(want), "{target} {event} {expires}");
    }
    assert!(lamps(&mut sim, watcher).is_empty(), "no subscription was made");
}

/// The states of `ext` the engine published for the cabinet, in order, without repeats.
fn presence_of(sim: &Sim, ext: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in &sim.actions {
        if let Action::Presence { tenant_id: 1, users, .. } = a
            && let Some((_, state)) = users.iter().find(|(e, _)| e == ext)
            && out.last() != Some(state)
        {
            out.push(state.clone());
        }
    }
    out
}

#[test]
fn the_cabinet_is_told_who_is_offline_free_ringing_talking_or_not_to_be_disturbed() {
    let mut sim = Sim::new(office().with_user(104, |u| u.dnd = true), SimConfig::default());
    let target = sim.add_phone("102");
    let caller = sim.add_phone("103");
    let quiet = sim.add_phone("104");
    for p in [target, caller, quiet] {
        sim.register(p);
    }
    sim.run_for(Duration::from_secs(2));
    let id = sim.call(caller, "102");
    sim.run_for(Duration::from_secs(2));
    let incoming = sim.phone(target).incoming_calls();
    let t = sim.t;
    sim.phone(target).answer(t, &incoming[0]);
    sim.run_for(Duration::from_secs(2));
    let t = sim.t;
    sim.phone(caller).bye(t, &id);
    sim.run_for(Duration::from_secs(2));
    // 102 registered before the first look (a second after start).
    assert_eq!(presence_of(&sim, "102"), vec!["idle", "ringing", "talking", "idle"]);
    assert_eq!(presence_of(&sim, "105"), vec!["offline"], "never registered");
    assert_eq!(presence_of(&sim, "104"), vec!["offline", "dnd"], "registered after the first look");
    let published = sim.actions.iter().filter(|a| matches!(a, Action::Presence { tenant_id: 1, .. })).count();
    sim.run_for(Duration::from_secs(30));
    let later = sim.actions.iter().filter(|a| matches!(a, Action::Presence { tenant_id: 1, .. })).count();
    assert_eq!(published, later, "nothing changed, nothing published");
}
