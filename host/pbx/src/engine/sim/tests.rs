//! Timers, races and retransmissions of the call engine in virtual time.

use super::*;
use pbx_sip::header::HeaderName;
use pbx_sip::message::SipMessage;
use pbx_sip::method::Method;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn sim_with_ring(ring: u64) -> Sim {
    let mut cfg = SimConfig::default();
    cfg.engine.ring_timeout = secs(ring);
    Sim::new(office(), cfg)
}

/// Nothing is left behind once every call has ended: no call, no media session, every port free.
fn assert_clean(sim: &Sim) {
    assert_eq!(sim.calls(), 0, "calls left");
    assert!(sim.media.is_empty(), "media sessions left: {:?}", sim.media);
    let (sessions, _) = sim.engine.media_usage();
    assert_eq!(sessions, 0, "the engine still holds media sessions");
}

#[test]
fn a_call_connects_and_ends_cleanly() {
    let mut sim = Sim::office();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.phone(b).auto.answer_after = Some(secs(2));
    sim.register(a);
    sim.register(b);
    let call = sim.call(a, "102");
    sim.run_for(secs(3));
    assert_eq!(sim.phone(a).statuses(&call).last(), Some(&200), "{:?}", sim.phone(a).statuses(&call));
    assert_eq!(sim.calls(), 1);
    let t = sim.t;
    sim.phone(a).bye(t, &call);
    sim.run_for(secs(1));
    assert_eq!(sim.phone(b).requests(Method::Bye).len(), 1);
    assert_clean(&sim);
    assert_eq!(sim.ended().len(), 1);
}

#[test]
fn ninety_seconds_of_ringing_then_an_answer() {
    // Timer B once cut ringing at 32 s with 480 while the phone rang on.
    let mut sim = sim_with_ring(120);
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.register(a);
    sim.register(b);
    let call = sim.call(a, "102");
    sim.run_for(secs(90));
    assert!(sim.phone(a).statuses(&call).iter().all(|s| *s < 200), "{:?}", sim.phone(a).statuses(&call));
    assert!(sim.phone(b).requests(Method::Cancel).is_empty());
    assert_eq!(sim.calls(), 1);
    let ringing = sim.phone(b).incoming_calls();
    let t = sim.t;
    sim.phone(b).answer(t, &ringing[0]);
    sim.run_for(secs(1));
    assert_eq!(sim.phone(a).statuses(&call).last(), Some(&200));
}

#[test]
fn the_ring_timeout_cancels_every_ringing_phone() {
    let mut sim = sim_with_ring(45);
    let a = sim.add_phone("101");
    let b1 = sim.add_phone_at("10.0.1.200:5060".parse().unwrap(), "102");
    let b2 = sim.add_phone_at("10.0.1.201:5060".parse().unwrap(), "102");
    sim.register(a);
    sim.register(b1);
    sim.register(b2);
    let t0 = sim.t;
    let call = sim.call(a, "102");
    sim.run_for(secs(44));
    assert!(sim.phone(a).statuses(&call).iter().all(|s| *s < 200));
    sim.run_for(secs(2));
    assert_eq!(sim.phone(a).statuses(&call).last(), Some(&480));
    for p in [b1, b2] {
        let cancels = sim.phone(p).requests(Method::Cancel);
        assert_eq!(cancels.len(), 1, "every ringing phone is cancelled");
        let after = cancels[0].0 - t0;
        assert!(after >= secs(45) && after < secs(46), "cancelled {after:?} after the call started");
    }
    sim.run_for(secs(40));
    assert_clean(&sim);
}

#[test]
fn a_ten_minute_ring_keeps_the_caller_informed_and_can_still_be_answered() {
    let mut sim = sim_with_ring(600);
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.register(a);
    sim.register(b);
    let call = sim.call(a, "102");
    sim.run_for(secs(590));
    let ringing: Vec<u16> = sim.phone(a).statuses(&call).into_iter().filter(|s| *s == 180).collect();
    assert!(ringing.len() >= 9, "a provisional every minute (RFC 3261 §13.3.1.1): {}", ringing.len());
    let incoming = sim.phone(b).incoming_calls();
    let t = sim.t;
    sim.phone(b).answer(t, &incoming[0]);
    sim.run_for(secs(2));
    assert_eq!(sim.phone(a).statuses(&call).last(), Some(&200));
    let t = sim.t;
    sim.phone(a).bye(t, &call);
    sim.run_for(secs(40));
    assert_clean(&sim);
}

#[test]
fn a_200_from_a_cancelled_fork_is_acknowledged_and_hung_up() {
    let mut sim = Sim::office();
    let a = sim.add_phone("101");
    let b1 = sim.add_phone_at("10.0.1.200:5060".parse().unwrap(), "102");
    let b2 = sim.add_phone_at("10.0.1.201:5060".parse().unwrap(), "102");
    // Both answer at the same moment: one wins, the other's 200 crosses the PBX's CANCEL.
    sim.phone(b1).auto.answer_after = Some(secs(3));
    sim.phone(b2).auto.answer_after = Some(secs(3));
    sim.register(a);
    sim.register(b1);
    sim.register(b2);
    let call = sim.call(a, "102");
    sim.run_for(secs(5));
    assert_eq!(sim.phone(a).statuses(&call).iter().filter(|s| **s == 200).count(), 1);
    let byes: usize = [b1, b2].iter().map(|p| sim.phone(*p).requests(Method::Bye).len()).sum();
    assert_eq!(byes, 1, "the loser is ACKed and hung up");
    assert_eq!(sim.calls(), 1);
    let t = sim.t;
    sim.phone(a).bye(t, &call);
    sim.run_for(secs(40));
    assert_clean(&sim);
}

#[test]
fn a_session_that_is_not_refreshed_expires() {
    let mut sim = Sim::office();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.phone(b).auto.answer_after = Some(secs(1));
    sim.register(a);
    sim.register(b);
    let t = sim.t;
    let call = sim.phone(a).invite_with(t, "102", &[(HeaderName::SessionExpires, "90")]);
    sim.run_for(secs(2));
    assert_eq!(sim.phone(a).statuses(&call).last(), Some(&200));
    sim.run_for(secs(80));
    assert_eq!(sim.calls(), 1, "still within the session interval");
    sim.run_for(secs(20));
    assert_eq!(sim.calls(), 0, "ended when the session expired");
    assert!(!sim.phone(a).requests(Method::Bye).is_empty());
    assert!(!sim.phone(b).requests(Method::Bye).is_empty());
    sim.run_for(secs(40));
    assert_clean(&sim);
}

#[test]
fn crossing_reinvites_get_491_and_the_call_survives() {
    let mut sim = Sim::office();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.phone(b).auto.answer_after = Some(secs(1));
    sim.register(a);
    sim.register(b);
    let call = sim.call(a, "102");
    sim.run_for(secs(2));
    let b_call = sim.phone(b).incoming_calls()[0].clone();
    let t = sim.t;
    for (p, id) in [(a, call.clone()), (b, b_call.clone())] {
        let phone = sim.phone(p);
        if let Some(mut r) = phone.in_dialog(&id, Method::Invite) {
            r.headers.push(HeaderName::ContentType, "application/sdp");
            r.body = format!(
                "v=0\r\no=- 1 2 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\na=sendonly\r\n",
                ip = p.ip()
            )
            .into_bytes();
            phone.send_request(t, r);
        }
    }
    sim.run_for(secs(5));
    let glare = [a, b].iter().any(|p| sim.phones[p].received.iter().any(|(_, m)| matches!(m, Message::Response(r) if r.status == 491)));
    assert!(glare, "one of the crossing re-INVITEs is refused with 491");
    assert_eq!(sim.calls(), 1);
    let t = sim.t;
    sim.phone(b).bye(t, &b_call);
    sim.run_for(secs(40));
    assert_clean(&sim);
}

#[test]
fn the_transferee_hanging_up_while_the_target_rings_cancels_the_target() {
    let mut sim = Sim::office();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    let c = sim.add_phone("103");
    sim.phone(b).auto.answer_after = Some(secs(1));
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
    sim.run_for(secs(2));
    assert_eq!(sim.phone(c).incoming_calls().len(), 1, "the target rings");
    let t = sim.t;
    sim.phone(a).bye(t, &call);
    sim.run_for(secs(2));
    assert_eq!(sim.phone(c).requests(Method::Cancel).len(), 1, "the target stops ringing");
    sim.run_for(secs(40));
    assert_clean(&sim);
}

#[test]
fn calls_complete_over_a_lossy_reordering_network() {
    let mut sim = Sim::office();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.phone(b).auto.answer_after = Some(secs(1));
    sim.register(a);
    sim.register(b);
    sim.net = Impairments { loss: 0.2, duplicate: 0.1, jitter: Duration::from_millis(40), latency: Duration::from_millis(10) };
    let mut ids = Vec::new();
    for _ in 0..20 {
        let call = sim.call(a, "102");
        sim.run_for(secs(20));
        let t = sim.t;
        sim.phone(a).bye(t, &call);
        sim.run_for(secs(20));
        ids.push(call);
    }
    for id in &ids {
        assert!(sim.phone(a).statuses(id).contains(&200), "{id}: {:?}", sim.phone(a).statuses(id));
    }
    sim.net = Impairments::default();
    sim.run_for(secs(60));
    assert_clean(&sim);
    assert_eq!(sim.ended().iter().filter(|(_, d, _)| d == "answered").count(), 20);
}

#[test]
fn a_hostile_refer_to_leaves_sip_served_for_everyone() {
    let mut sim = Sim::office();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    let c = sim.add_phone("103");
    sim.phone(b).auto.answer_after = Some(secs(1));
    for p in [a, b, c] {
        sim.register(p);
    }
    let call = sim.call(a, "102");
    sim.run_for(secs(2));
    let b_call = sim.phone(b).incoming_calls()[0].clone();
    for value in ["<sip:a%€@x>", "<sip:103@x?Replaces=%€%E2;to-tag=%€>", "<tel:%€>"] {
        let t = sim.t;
        let mut refer = sim.phone(b).in_dialog(&b_call, Method::Refer).unwrap();
        refer.headers.push(HeaderName::ReferTo, value);
        sim.phone(b).send_request(t, refer);
        sim.run_for(secs(1));
    }
    assert_eq!(sim.metrics.engine_panics.load(std::sync::atomic::Ordering::Relaxed), 0);
    // Everyone is still served: a new registration and a new call.
    let d = sim.add_phone("104");
    sim.register(d);
    sim.phone(c).auto.answer_after = Some(secs(1));
    let other = sim.call(d, "103");
    sim.run_for(secs(2));
    assert_eq!(sim.phone(d).statuses(&other).last(), Some(&200));
    assert!(sim.phone(a).statuses(&call).contains(&200));
}

#[test]
fn a_panic_in_one_call_ends_only_that_call() {
    let mut sim = Sim::office();
    let phones: Vec<SocketAddr> = ["101", "102", "103", "104"].iter().map(|e| sim.add_phone(e)).collect();
    for p in &phones {
        sim.phone(*p).auto.answer_after = Some(secs(1));
        sim.register(*p);
    }
    let victim = sim.call(phones[0], "102");
    let bystander = sim.call(phones[2], "104");
    sim.run_for(secs(2));
    assert_eq!(sim.calls(), 2);
    let t = sim.t;
    let mut info = sim.phone(phones[0]).in_dialog(&victim, Method::Info).unwrap();
    info.headers.push(HeaderName::Other("X-Sim-Fault".into()), "panic");
    let info_call = info.call_id().to_string();
    sim.phone(phones[0]).send_request(t, info);
    sim.run_for(secs(2));
    assert_eq!(sim.metrics.engine_panics.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(sim.calls(), 1, "only the call that failed ended");
    let got_500 =
        sim.phone(phones[0]).received.iter().any(|(_, m)| matches!(m, Message::Response(r) if r.status == 500 && r.call_id() == info_call));
    assert!(got_500, "the request that failed is answered 500");
    assert_eq!(sim.phone(phones[1]).requests(Method::Bye).len(), 1, "the other leg is hung up");
    assert!(sim.ended().iter().any(|(_, _, cause)| cause == "internal error"));
    // The bystander's call goes on and ends normally; new calls work.
    let t = sim.t;
    sim.phone(phones[2]).bye(t, &bystander);
    sim.run_for(secs(1));
    assert_eq!(sim.phone(phones[3]).requests(Method::Bye).len(), 1);
    let again = sim.call(phones[0], "103");
    sim.run_for(secs(2));
    assert_eq!(sim.phone(phones[0]).statuses(&again).last(), Some(&200));
}

#[test]
fn ports_taken_by_another_process_are_skipped_before_any_sdp_goes_out() {
    let mut cfg = SimConfig::default();
    cfg.engine.rtp_ports = (20000, 20099);
    let mut sim = Sim::new(office(), cfg);
    // Another process holds the first ports of the range.
    sim.busy_ports = (20000..20010).collect();
    let a = sim.add_phone("101");
    let b = sim.add_phone("102");
    sim.phone(b).auto.answer_after = Some(secs(1));
    sim.register(a);
    sim.register(b);
    let call = sim.call(a, "102");
    sim.run_for(secs(2));
    assert_eq!(sim.phone(a).statuses(&call).last(), Some(&200));
    let live: Vec<(u16, u16)> = sim.media.values().map(|m| m.ports).collect();
    assert_eq!(live.len(), 1);
    assert!(live[0].0 >= 20010 && live[0].1 >= 20010, "{live:?}");
    let t = sim.t;
    sim.phone(a).bye(t, &call);
    sim.run_for(secs(40));
    assert_clean(&sim);
}
