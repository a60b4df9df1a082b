//! A queue's own music and its announcement on entering: a caller who joins hears the
//! announcement first, then the queue's music (not the company's) until an agent is free.

use super::*;
use pbx_sip::message::SipMessage;

fn queue_office(music: &str, entry: &str) -> Directory {
    let scenario = r#"{"start":"q","nodes":{"q":{"type":"queue","queue":"600","next":{}}}}"#.to_string();
    let group = pbx_store::Group {
        id: 60,
        tenant_id: 1,
        ext: "600".into(),
        name: "Support".into(),
        kind: pbx_store::GroupKind::Queue,
        strategy: "ring-all".into(),
        members: vec!["101".into()],
        ring_seconds: 15,
        timeout_seconds: 60,
        max_wait_seconds: 300,
        max_length: 20,
        wrap_up_seconds: 5,
        announce_seconds: 30,
        callback: false,
        music_prompt: music.into(),
        entry_prompt: entry.into(),
    };
    office_with_scenario(office_tenant(), Some(scenario)).with_groups(&[group], &[])
}

fn call_in(sim: &mut Sim) {
    let carrier = sim.add_carrier();
    let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.2.1\r\ns=-\r\nc=IN IP4 10.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let invite = format!(
        "INVITE sip:{did}@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.2.1:5060;branch=z9hG4bKq1\r\nMax-Forwards: 70\r\n\
         From: <sip:79161112233@10.0.2.1>;tag=q1\r\nTo: <sip:{did}@10.0.0.1>\r\nCall-ID: queue-music-1\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:c@10.0.2.1>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
        did = DID.trim_start_matches('+'),
        len = sdp.len(),
    );
    sim.inject(carrier, invite.as_bytes());
}

/// What the caller's leg was given to hear, in order.
fn heard(sim: &Sim) -> Vec<String> {
    sim.media_log
        .iter()
        .filter_map(|c| match c {
            pbx_media::MediaCommand::SetSource { side: Side::A, source: Source::Play { items, .. }, .. } => {
                Some(format!("play:{}", items.first().map(|p| p.name.as_str()).unwrap_or("")))
            }
            pbx_media::MediaCommand::SetSource { side: Side::A, source: Source::Loop(p), .. } => Some(format!("loop:{}", p.name)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_caller_hears_the_entry_announcement_then_the_queues_own_music() {
    let mut sim = Sim::new(queue_office("please-hold", "welcome"), SimConfig::default());
    call_in(&mut sim);
    sim.run_for(Duration::from_secs(20));
    let h = heard(&sim);
    assert_eq!(h.first().map(String::as_str), Some("play:welcome"), "{h:?}");
    assert!(h.iter().any(|s| s == "loop:please-hold"), "the queue's music: {h:?}");
    assert!(!h.iter().any(|s| s == "loop:music"), "never the company's music: {h:?}");
    assert!(h.iter().any(|s| s == "play:queue-position"), "and the caller's position: {h:?}");
}

#[test]
fn without_its_own_music_the_queue_plays_the_companys() {
    let mut sim = Sim::new(queue_office("", ""), SimConfig::default());
    call_in(&mut sim);
    sim.run_for(Duration::from_secs(5));
    let h = heard(&sim);
    assert_eq!(h.first().map(String::as_str), Some("loop:music"), "{h:?}");
}

/// The queue-report records the engine wrote for a call, as (outcome, agent).
fn queue_records(sim: &Sim) -> Vec<(String, Option<i64>)> {
    sim.cdr
        .iter()
        .filter_map(|op| match op {
            pbx_store::CallOp::Queue { queue, outcome, agent, .. } if queue == "600" => Some((outcome.clone(), *agent)),
            _ => None,
        })
        .collect()
}

/// The carrier's in-dialog request `method` (CSeq `seq`) for the answered queue call.
fn carrier_request(sim: &mut Sim, method: &str, seq: u32) {
    let tag = sim
        .sent_to(addr(CARRIER_ADDR))
        .iter()
        .find_map(|m| match m {
            Message::Response(r) if r.status == 200 => r.parsed_to().and_then(|t| t.tag().map(str::to_string)),
            _ => None,
        })
        .unwrap_or_default();
    let req = format!(
        "{method} sip:{PBX_ADDR} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.2.1:5060;branch=z9hG4bKq{method}{seq}\r\nMax-Forwards: 70\r\n\
         From: <sip:79161112233@10.0.2.1>;tag=q1\r\nTo: <sip:{did}@10.0.0.1>;tag={tag}\r\nCall-ID: queue-music-1\r\n\
         CSeq: {seq} {method}\r\nContent-Length: 0\r\n\r\n",
        did = DID.trim_start_matches('+'),
    );
    let from = addr(CARRIER_ADDR);
    sim.inject(from, req.as_bytes());
}

#[test]
fn a_callers_stay_in_the_queue_is_recorded_for_the_reports() {
    let mut sim = Sim::new(queue_office("", ""), SimConfig::default());
    call_in(&mut sim);
    sim.run_for(Duration::from_secs(2));
    carrier_request(&mut sim, "ACK", 1);
    sim.run_for(Duration::from_secs(3));
    assert_eq!(queue_records(&sim), vec![("waiting".to_string(), None)], "joining is written at once");
    // Nobody is logged in to answer: the maximum wait (300 s) ends the stay.
    sim.run_for(Duration::from_secs(300));
    assert_eq!(queue_records(&sim), vec![("waiting".to_string(), None), ("timeout".to_string(), None)]);
}

#[test]
fn a_caller_who_hangs_up_while_waiting_is_recorded_as_abandoned() {
    let mut sim = Sim::new(queue_office("", ""), SimConfig::default());
    call_in(&mut sim);
    sim.run_for(Duration::from_secs(2));
    carrier_request(&mut sim, "ACK", 1);
    sim.run_for(Duration::from_secs(10));
    carrier_request(&mut sim, "BYE", 2);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(queue_records(&sim), vec![("waiting".to_string(), None), ("abandoned".to_string(), None)]);
}
