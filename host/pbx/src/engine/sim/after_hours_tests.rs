//! The default setup's working hours: a number without a scenario rings the company within
//! them; outside them (in the company's time zone) the caller hears the after-hours message
//! and the call ends, with no phone rung.

use super::*;
use pbx_sip::method::Method;

/// Acme with working hours; the simulation starts on Thursday 2026-01-01 at 03:00 Moscow time.
fn office_open(hours: &str) -> Directory {
    let mut t = office_tenant();
    t.working_hours = hours.into();
    office_with(t)
}

fn carrier_call(sim: &mut Sim, carrier: SocketAddr) -> String {
    let invite = format!(
        "INVITE sip:{did}@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.2.1:5060;branch=z9hG4bKah1\r\nMax-Forwards: 70\r\n\
         From: <sip:79161112233@10.0.2.1>;tag=ah1\r\nTo: <sip:{did}@10.0.0.1>\r\nCall-ID: after-hours-1\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:c@10.0.2.1>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
        did = DID.trim_start_matches('+'),
        len = SDP.len(),
        sdp = SDP,
    );
    sim.inject(carrier, invite.as_bytes());
    "after-hours-1".into()
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 10.0.2.1\r\ns=-\r\nc=IN IP4 10.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

#[test]
fn outside_working_hours_the_caller_hears_the_message_and_no_phone_rings() {
    let mut sim = Sim::new(office_open("mon-fri 09:00-18:00"), SimConfig::default());
    let carrier = sim.add_carrier();
    let phone = sim.add_phone("101");
    sim.register(phone);
    carrier_call(&mut sim, carrier);
    sim.run_for(Duration::from_secs(60));
    let sent = sim.sent_to(carrier);
    let ok = sent.iter().any(|m| matches!(m, Message::Response(r) if r.status == 200));
    assert!(
        ok,
        "the PBX answers to play the message: {:?} {:?}",
        sent.iter()
            .map(|m| match m {
                Message::Response(r) => r.status.to_string(),
                Message::Request(r) => r.method.to_string(),
            })
            .collect::<Vec<_>>(),
        sim.ended()
    );
    assert!(sim.phone(phone).incoming_calls().is_empty(), "no phone rings after hours");
    let ended = sim.ended();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].2, "after hours");
    assert!(sim.sent_to(carrier).iter().any(|m| matches!(m, Message::Request(r) if r.method == Method::Bye)), "then the PBX hangs up");
}

#[test]
fn within_working_hours_the_company_rings() {
    // Thursday 03:00 in Moscow is inside a 24-hour Thursday.
    let mut sim = Sim::new(office_open("thu 00:00-24:00"), SimConfig::default());
    let carrier = sim.add_carrier();
    let phone = sim.add_phone("101");
    sim.register(phone);
    carrier_call(&mut sim, carrier);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.phone(phone).incoming_calls().len(), 1, "the phone rings");
    assert!(sim.ended().is_empty());
}

#[test]
fn the_default_setup_saved_as_a_scenario_rings_everyone() {
    // The graph the cabinet opens for a number without a scenario, saved as is: its dial
    // node's "all" rings every phone of the company, as the default setup does.
    let tenant = office_tenant();
    let graph = crate::scenario::default_setup::scenario(&tenant);
    let json = serde_json::to_string(&graph).unwrap_or_default();
    let mut sim = Sim::new(office_with_scenario(tenant, Some(json)), SimConfig::default());
    let carrier = sim.add_carrier();
    let a = sim.add_phone("101");
    let b = sim.add_phone("104");
    sim.register(a);
    sim.register(b);
    carrier_call(&mut sim, carrier);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.phone(a).incoming_calls().len(), 1, "101 rings");
    assert_eq!(sim.phone(b).incoming_calls().len(), 1, "104 rings");
    assert!(sim.ended().is_empty());
}

#[test]
fn a_colleague_dialling_the_companys_number_gets_its_setup_without_the_carrier() {
    // 101 dials the company's own number: the default setup rings the others (not 101's
    // own phone) and nothing goes out through the trunk.
    let mut sim = Sim::new(office_open("thu 00:00-24:00"), SimConfig::default());
    let carrier = sim.add_carrier();
    let a = sim.add_phone("101");
    let b = sim.add_phone("104");
    sim.register(a);
    sim.register(b);
    sim.call(a, "84951234567");
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.phone(b).incoming_calls().len(), 1, "104 rings");
    assert!(sim.phone(a).incoming_calls().is_empty(), "the caller's own phone does not ring");
    assert!(sim.sent_to(carrier).is_empty(), "nothing went to the carrier: {:?}", sim.sent_to(carrier));
    assert!(sim.ended().is_empty());
}
