//! Click-to-call: the user's phone rings first; once it answers, the PBX calls the number
//! (an extension, or out through the trunk presenting the chosen city number); refusals
//! say why before any phone rings.

use super::*;
use crate::engine::{OriginateError, OriginateRequest};
use pbx_sip::message::SipMessage;
use pbx_sip::method::Method;
use pbx_store::{CallOp, EventData};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn req(ext: &str, number: &str) -> OriginateRequest {
    OriginateRequest {
        tenant_id: 1,
        ext: ext.into(),
        number: number.into(),
        line: None,
        correlation_id: Some("crm-42".into()),
        ring: None,
        kind: "click-to-call",
        dedup_key: None,
    }
}

/// Feeds a request and returns the engine's answer.
fn originate(sim: &mut Sim, r: OriginateRequest) -> Result<String, OriginateError> {
    let token = 7_000 + sim.actions.len() as u64;
    sim.feed(Input::Originate { req: Box::new(r), token });
    sim.run_for(Duration::from_millis(10));
    sim.actions
        .iter()
        .find_map(|a| match a {
            Action::Originated { token: t, result } if *t == token => Some(result.clone()),
            _ => None,
        })
        .unwrap_or(Err(OriginateError::Busy))
}

#[test]
fn the_users_phone_rings_first_then_the_extension() {
    let mut sim = Sim::new(office().with_notify([1]), SimConfig::default());
    let me = sim.add_phone("101");
    let other = sim.add_phone("102");
    sim.phone(me).auto.answer_after = Some(secs(2));
    sim.phone(other).auto.answer_after = Some(secs(3));
    sim.register(me);
    sim.register(other);
    let id = originate(&mut sim, req("101", "102")).unwrap();
    sim.run_for(secs(1));
    assert_eq!(sim.phone(me).incoming_calls().len(), 1, "the user's phone rings");
    assert!(sim.phone(other).incoming_calls().is_empty(), "the other waits for the user to answer");
    sim.run_for(secs(6));
    assert_eq!(sim.phone(other).incoming_calls().len(), 1);
    // The extension's phone shows the user as the caller.
    let inv = sim.phone(other).requests(Method::Invite).into_iter().next().unwrap().1;
    assert!(inv.parsed_from().unwrap().uri.to_string().contains("101"), "{inv:?}");
    assert_eq!(sim.calls(), 1);
    let events: Vec<EventData> = sim
        .cdr
        .iter()
        .filter_map(|op| match op {
            CallOp::Notify { event, .. } if event.call_id == id => Some(event.data.clone()),
            _ => None,
        })
        .collect();
    assert!(
        matches!(&events[0], EventData::Started { correlation_id: Some(c), direction: pbx_store::Direction::Internal, caller_ext: Some(e), .. } if c == "crm-42" && e == "101"),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| matches!(e, EventData::Answered { extension: Some(x), .. } if x == "102")), "{events:#?}");
    let marked = sim.cdr.iter().any(|op| matches!(op, CallOp::Mark { id: i, kind: Some(k), .. } if *i == id && k == "click-to-call"));
    assert!(marked, "the call log says how the call was placed");
}

#[test]
fn an_outside_number_goes_out_with_the_chosen_line_after_the_user_answers() {
    let mut sim = Sim::office();
    let carrier = sim.add_carrier();
    let me = sim.add_phone("101");
    sim.phone(me).auto.answer_after = Some(secs(1));
    sim.register(me);
    let mut r = req("101", "8 (916) 123-45-67");
    r.line = Some(DID.into());
    originate(&mut sim, r).unwrap();
    sim.run_for(secs(4));
    let to_carrier = sim.phone(carrier).requests(Method::Invite);
    assert_eq!(to_carrier.len(), 1, "the number is called once the user answered");
    let inv = &to_carrier[0].1;
    assert!(inv.uri.to_string().contains("79161234567"), "{}", inv.uri);
    assert!(inv.parsed_from().unwrap().uri.to_string().contains(DID.trim_start_matches('+')), "presents the line");
}

#[test]
fn refusals_come_before_any_phone_rings() {
    let mut sim = Sim::office();
    let me = sim.add_phone("101");
    sim.register(me);
    assert_eq!(originate(&mut sim, req("199", "102")), Err(OriginateError::NoUser));
    assert_eq!(originate(&mut sim, req("102", "101")), Err(OriginateError::NotRegistered), "102 has no phone");
    assert_eq!(originate(&mut sim, req("101", "101")), Err(OriginateError::BadNumber), "calling oneself");
    assert_eq!(originate(&mut sim, req("101", "not a number")), Err(OriginateError::BadNumber));
    let mut r = req("101", "+79161234567");
    r.line = Some("+74990000000".into());
    assert_eq!(originate(&mut sim, r), Err(OriginateError::BadLine), "not the company's number");
    let mut r = req("101", "+79161234567");
    r.correlation_id = Some("x".repeat(300));
    assert_eq!(originate(&mut sim, r), Err(OriginateError::BadCorrelation));
    assert_eq!(originate(&mut sim, req("101", "103")), Err(OriginateError::TargetNotRegistered), "103 has no phone to ring");
    // Beta's extension is not acme's.
    assert_eq!(originate(&mut sim, OriginateRequest { tenant_id: 2, ..req("101", "102") }), Err(OriginateError::NoUser));
    assert!(sim.phone(me).incoming_calls().is_empty());
    assert_eq!(sim.calls(), 0);
}

#[test]
fn a_repeated_request_places_one_call() {
    let mut sim = Sim::office();
    let me = sim.add_phone("101");
    let other = sim.add_phone("102");
    sim.register(me);
    sim.register(other);
    let keyed = || OriginateRequest { dedup_key: Some("crm:evt-1".into()), ..req("101", "102") };
    let first = originate(&mut sim, keyed()).unwrap();
    let again = originate(&mut sim, keyed()).unwrap();
    assert_eq!(first, again, "the same key answers the same call");
    sim.run_for(secs(1));
    assert_eq!(sim.phone(me).incoming_calls().len(), 1, "one call rang the user");
    // Another tenant's request with the same key is its own.
    assert_eq!(originate(&mut sim, OriginateRequest { tenant_id: 2, ..keyed() }), Err(OriginateError::NoUser));
}
