//! Integration events: a tenant with a subscriber gets every call's story as structured
//! events, in order and numbered; a tenant without one gets nothing written.

use super::*;
use pbx_store::{CallOp, EventData, IntegrationEvent};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The events written so far for tenant `tenant`, in order.
fn events(sim: &Sim, tenant: i64) -> Vec<IntegrationEvent> {
    sim.cdr
        .iter()
        .filter_map(|op| match op {
            CallOp::Notify { tenant_id, event } if *tenant_id == tenant => Some((**event).clone()),
            _ => None,
        })
        .collect()
}

fn kinds(evs: &[IntegrationEvent]) -> Vec<&'static str> {
    evs.iter().map(|e| e.data.kind()).collect()
}

#[test]
fn an_answered_call_to_two_phones_tells_its_story_in_order() {
    let mut sim = Sim::new(office().with_notify([1]), SimConfig::default());
    let a = sim.add_phone("101");
    let b1 = sim.add_phone_at("10.0.1.200:5060".parse().unwrap(), "102");
    let b2 = sim.add_phone_at("10.0.1.201:5060".parse().unwrap(), "102");
    sim.phone(b1).auto.answer_after = Some(secs(3));
    for p in [a, b1, b2] {
        sim.register(p);
    }
    let call = sim.call(a, "102");
    sim.run_for(secs(10));
    let t = sim.t;
    sim.phone(a).bye(t, &call);
    sim.run_for(secs(5));
    let evs = events(&sim, 1);
    assert_eq!(
        kinds(&evs),
        ["call.started", "call.ringing", "call.ringing", "call.ring_stopped", "call.answered", "call.ended"],
        "{evs:#?}"
    );
    // One call, numbered 1..n, with the idempotency key made of both.
    let id = &evs[0].call_id;
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(&e.call_id, id);
        assert_eq!(e.seq, i as i64 + 1);
        assert_eq!(e.id, format!("{id}:{}", i + 1));
    }
    match &evs[0].data {
        EventData::Started { caller_number, callee, caller_ext, .. } => {
            assert_eq!((caller_number.as_str(), callee.as_str(), caller_ext.as_deref()), ("101", "102", Some("101")));
        }
        other => panic!("{other:?}"),
    }
    // The other phone stops ringing as the answer is taken, then the answer is told.
    assert!(matches!(&evs[4].data, EventData::Answered { extension: Some(x), by_pbx: false } if x == "102"));
    assert!(
        matches!(&evs[3].data, EventData::RingStopped { reason, extensions } if reason == "answered_elsewhere" && extensions == &["102"])
    );
    match &evs[5].data {
        EventData::Ended { disposition, sip_code, hangup_side, talk_seconds, answered_by, .. } => {
            assert_eq!(*disposition, pbx_store::Disposition::Answered);
            assert_eq!(*sip_code, 200);
            assert_eq!(hangup_side, "caller");
            assert!((6..=8).contains(talk_seconds), "talked {talk_seconds} s");
            assert_eq!(answered_by.as_deref(), Some("102"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_busy_phone_and_a_failed_call_end_with_their_sip_codes() {
    let mut sim = Sim::new(office().with_notify([1]), SimConfig::default());
    let a = sim.add_phone("101");
    let b = sim.add_phone("103");
    sim.phone(b).auto.reject = Some(486);
    sim.register(a);
    sim.register(b);
    sim.call(a, "103");
    sim.run_for(secs(3));
    // 104 has no phone registered: the call fails before anything rings.
    sim.call(a, "104");
    sim.run_for(secs(3));
    let evs = events(&sim, 1);
    assert_eq!(kinds(&evs), ["call.started", "call.ringing", "call.ring_stopped", "call.ended", "call.started", "call.ended"], "{evs:#?}");
    assert!(matches!(&evs[2].data, EventData::RingStopped { reason, .. } if reason == "busy"));
    assert!(matches!(&evs[3].data, EventData::Ended { sip_code: 486, disposition: pbx_store::Disposition::Busy, .. }));
    assert!(matches!(&evs[5].data, EventData::Ended { sip_code: 480, disposition: pbx_store::Disposition::Failed, .. }));
    assert_ne!(evs[0].call_id, evs[4].call_id);
}

#[test]
fn a_tenant_without_subscribers_writes_no_events() {
    let mut sim = Sim::new(office().with_notify([1]), SimConfig::default());
    let a = sim.add_phone("201");
    let b = sim.add_phone("202");
    sim.phone(b).auto.answer_after = Some(secs(1));
    sim.register(a);
    sim.register(b);
    let call = sim.call(a, "202");
    sim.run_for(secs(3));
    let t = sim.t;
    sim.phone(a).bye(t, &call);
    sim.run_for(secs(3));
    assert_eq!(sim.ended().len(), 1, "the call happened");
    assert!(sim.cdr.iter().all(|op| !matches!(op, CallOp::Notify { .. })), "beta has no subscriber");
}

#[test]
fn kinds_no_subscriber_takes_are_not_written() {
    let dir = office().with_notify_kinds(&[(1, vec!["call.ended".into()]), (1, vec!["call.answered".into()])]);
    let mut sim = Sim::new(dir, SimConfig::default());
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.phone(b).auto.answer_after = Some(secs(1));
    sim.register(a);
    sim.register(b);
    let call = sim.call(a, "102");
    sim.run_for(secs(3));
    let t = sim.t;
    sim.phone(a).bye(t, &call);
    sim.run_for(secs(3));
    let evs = events(&sim, 1);
    assert_eq!(kinds(&evs), ["call.answered", "call.ended"], "{evs:#?}");
    assert!(evs[0].seq < evs[1].seq, "still in order");
}

#[test]
fn a_blind_transfer_is_told_with_who_transferred_and_to_whom() {
    use pbx_sip::header::HeaderName;
    use pbx_sip::method::Method;
    let mut sim = Sim::new(office().with_notify([1]), SimConfig::default());
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    let c = sim.add_phone("103");
    sim.phone(b).auto.answer_after = Some(secs(1));
    sim.phone(c).auto.answer_after = Some(secs(1));
    for p in [a, b, c] {
        sim.register(p);
    }
    let call = sim.call(a, "102");
    sim.run_for(secs(2));
    let b_call = sim.phone(b).incoming_calls()[0].clone();
    let t = sim.t;
    let mut refer = sim.phone(b).in_dialog(&b_call, Method::Refer).unwrap();
    refer.headers.push(HeaderName::ReferTo, "<sip:103@acme.example>");
    sim.phone(b).send_request(t, refer);
    sim.run_for(secs(3));
    let t = sim.t;
    sim.phone(a).bye(t, &call);
    sim.run_for(secs(3));
    let evs = events(&sim, 1);
    let moved: Vec<&EventData> = evs.iter().map(|e| &e.data).filter(|d| matches!(d, EventData::Transferred { .. })).collect();
    assert!(
        matches!(moved.as_slice(), [EventData::Transferred { from: Some(f), to, attended: false }] if f == "102" && to == "103"),
        "{evs:#?}"
    );
    assert_eq!(evs.last().map(|e| e.data.kind()), Some("call.ended"));
}

/// A carrier's call to the company's number from `from`.
fn carrier_call(sim: &mut Sim, from: &str, call_id: &str) -> SocketAddr {
    let carrier = sim.add_carrier();
    sim.inject(carrier, carrier_invite(from, call_id).as_bytes());
    carrier
}

#[test]
fn a_caller_nobody_answers_is_told_as_missed_after_the_end() {
    let mut sim = Sim::new(office().with_notify([1]), SimConfig::default());
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.register(a);
    sim.register(b);
    carrier_call(&mut sim, "79161112233", "missed-1");
    // Nobody answers within the ring time.
    sim.run_for(secs(200));
    let evs = events(&sim, 1);
    let k = kinds(&evs);
    assert_eq!(k.last(), Some(&"call.missed"), "{k:?}");
    assert_eq!(k[k.len() - 2], "call.ended");
    match &evs[evs.len() - 1].data {
        EventData::Missed { caller_number, line, extensions, disposition, .. } => {
            assert_eq!(caller_number, "+79161112233");
            assert_eq!(line.as_deref(), Some(DID));
            let mut e = extensions.clone();
            e.sort();
            assert_eq!(e, vec!["101".to_string(), "102".to_string()]);
            assert_eq!(*disposition, pbx_store::Disposition::Missed);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_caller_put_through_to_nobody_is_missed_but_a_refused_one_is_not() {
    // No phone registered: the call fails at once, and is a missed caller.
    let dir = office().with_notify([1]).with_blocklists(vec![(1, 0, "+79990000000".into(), false)], Vec::new());
    let mut sim = Sim::new(dir, SimConfig::default());
    carrier_call(&mut sim, "79161112233", "missed-2");
    sim.run_for(secs(5));
    assert_eq!(kinds(&events(&sim, 1)), ["call.started", "call.ended", "call.missed"]);
    carrier_call(&mut sim, "79990000000", "refused-1");
    sim.run_for(secs(5));
    assert_eq!(kinds(&events(&sim, 1)).iter().filter(|k| **k == "call.missed").count(), 1, "the blacklisted caller is not missed");
    // An internal call nobody takes is not a missed caller either.
    let a = sim.add_phone("101");
    sim.register(a);
    sim.call(a, "102");
    sim.run_for(secs(5));
    assert_eq!(kinds(&events(&sim, 1)).iter().filter(|k| **k == "call.missed").count(), 1);
}

#[test]
fn a_caller_refused_with_the_blacklists_message_is_not_missed() {
    let settings = pbx_store::BlockSettings { anonymous: false, action: pbx_store::BlockAction::Prompt };
    let dir = office().with_notify([1]).with_blocklists(vec![(1, 0, "+7999".into(), true)], vec![(1, settings)]);
    let mut sim = Sim::new(dir, SimConfig::default());
    carrier_call(&mut sim, "79990000000", "refused-2");
    sim.run_for(secs(60));
    let k = kinds(&events(&sim, 1));
    assert!(k.contains(&"call.ended"), "{k:?}");
    assert!(!k.contains(&"call.missed"), "{k:?}");
    let marked = sim.cdr.iter().any(|op| matches!(op, CallOp::Mark { kind: Some(k), .. } if k == "blacklisted"));
    assert!(marked, "the call log marks the refused call");
}
