//! The relay over real loopback sockets: packets flow both ways, payload types are rewritten,
//! a stranger's packets are dropped, and silence is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pbx_media::*;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn engine(events: Arc<Mutex<Vec<MediaEvent>>>, min: u16) -> MediaEngine {
    MediaEngine::start(
        MediaConfig {
            bind_ip: "127.0.0.1".parse().unwrap(),
            port_min: min,
            port_max: min + 99,
            workers: 1,
            rtp_timeout_secs: 1,
            send_policy: Default::default(),
        },
        Arc::new(move |e| events.lock().unwrap().push(e)),
    )
    .unwrap()
}

fn rtp(pt: u8, seq: u16) -> Vec<u8> {
    let mut h = [0u8; 12];
    rtp::write_header(&mut h, pt, false, seq, seq as u32 * 160, 42);
    let mut v = h.to_vec();
    v.extend_from_slice(&[0x05; 160]);
    v
}

#[test]
fn relays_both_ways_and_rejects_strangers() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let eng = engine(events.clone(), 31000);
    let s = eng.create_session().unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let stranger = UdpSocket::bind("127.0.0.5:0").unwrap();
    for sock in [&a, &b, &stranger] {
        sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    }
    let params = |sock: &UdpSocket, law: Law, te: u8| RemoteParams {
        rtp: Some(sock.local_addr().unwrap()),
        rtcp: None,
        signal_ip: Some("127.0.0.1".parse().unwrap()),
        law,
        audio_pt: law.payload_type(),
        te_pt: Some(te),
        expect_rtp: true,
    };
    eng.set_remote(s.id, Side::A, params(&a, Law::Alaw, 101));
    // B speaks µ-law and its telephone-event is 96 where A's is 101.
    eng.set_remote(s.id, Side::B, params(&b, Law::Ulaw, 96));
    std::thread::sleep(Duration::from_millis(50));
    let mut buf = [0u8; 2048];
    for i in 0..20u16 {
        a.send_to(&rtp(101, i), ("127.0.0.1", s.a_port)).unwrap();
        let (n, from) = b.recv_from(&mut buf).unwrap();
        assert_eq!(from.port(), s.b_port);
        assert_eq!(buf[1] & 0x7f, 96, "telephone-event payload type rewritten towards B");
        assert_eq!(n, 172);
        // A-law audio from A reaches B as µ-law.
        let mut pkt = rtp(8, i);
        for b in &mut pkt[12..] {
            *b = Law::Alaw.encode(3000);
        }
        a.send_to(&pkt, ("127.0.0.1", s.a_port)).unwrap();
        let (n, _) = b.recv_from(&mut buf).unwrap();
        assert_eq!(buf[1] & 0x7f, 0);
        assert!((Law::Ulaw.decode(buf[n - 1]) - 3000).abs() < 200);
        b.send_to(&rtp(0, i), ("127.0.0.1", s.b_port)).unwrap();
        let (_, from) = a.recv_from(&mut buf).unwrap();
        assert_eq!(from.port(), s.a_port);
        assert_eq!(buf[1] & 0x7f, 8, "µ-law from B reaches A as A-law");
    }
    // A stranger on another address cannot inject into the call.
    stranger.send_to(&rtp(0, 99), ("127.0.0.1", s.a_port)).unwrap();
    b.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    assert!(b.recv_from(&mut buf).is_err(), "stranger's packet must be dropped");
    assert!(eng.stats().packets_dropped.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    assert!(eng.stats().packets_relayed.load(std::sync::atomic::Ordering::Relaxed) >= 60);
    // RFC 4733 digits from A: 20 key presses back to back are a flood; a burst of 8 is
    // reported, the rest dropped, and a digit after a pause passes again.
    let digits = || events.lock().unwrap().iter().filter(|e| matches!(e, MediaEvent::Dtmf { .. })).count();
    assert!(wait(|| digits() >= 8), "{} digits", digits());
    // (A stalled test thread may stretch the burst past one refill or two.)
    let burst = digits();
    assert!(burst <= 10, "{burst} digits of a flood reported");
    std::thread::sleep(Duration::from_millis(150));
    a.send_to(&rtp(101, 500), ("127.0.0.1", s.a_port)).unwrap();
    b.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    b.recv_from(&mut buf).unwrap();
    assert!(wait(|| digits() == burst + 1), "{} digits", digits());
    // Silence from both sides is reported after the timeout.
    std::thread::sleep(Duration::from_millis(1800));
    let ev = events.lock().unwrap().clone();
    assert!(ev.contains(&MediaEvent::RtpTimeout { id: s.id, side: Side::A }), "{ev:?}");
    eng.destroy(s.id);
    assert!(wait(|| eng.stats().sessions.load(std::sync::atomic::Ordering::Relaxed) == 0));
}

#[test]
fn ports_run_out_cleanly() {
    let eng = engine(Arc::new(Mutex::new(Vec::new())), 32000);
    let mut ids = Vec::new();
    loop {
        match eng.create_session() {
            Ok(s) => ids.push(s.id),
            Err(MediaError::NoPorts) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ids.len(), 25, "100 ports are 50 RTP/RTCP pairs, two pairs per session");
    for id in ids {
        eng.destroy(id);
    }
    assert!(wait(|| eng.create_session().is_ok()));
}

fn wait(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn prompts_are_paced_and_reported_done() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let eng = engine(events.clone(), 33000);
    let s = eng.create_session().unwrap();
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    eng.set_remote(
        s.id,
        Side::A,
        RemoteParams {
            rtp: Some(phone.local_addr().unwrap()),
            rtcp: None,
            signal_ip: Some("127.0.0.1".parse().unwrap()),
            law: Law::Ulaw,
            audio_pt: 0,
            te_pt: None,
            expect_rtp: false,
        },
    );
    let samples: Vec<i16> = (0..8000).map(|n| ((n as f32 * 0.2).sin() * 6000.0) as i16).collect();
    let prompt = Arc::new(prompt::Prompt::new("tone", samples.clone()));
    let t0 = std::time::Instant::now();
    eng.set_source(s.id, Side::A, Source::Play { items: vec![prompt], token: 7 });
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    let mut seqs = Vec::new();
    while got.len() < 8000 {
        let (n, _) = phone.recv_from(&mut buf).expect("prompt packets");
        assert_eq!(buf[1] & 0x7f, 0, "µ-law for a µ-law leg");
        seqs.push(u16::from_be_bytes([buf[2], buf[3]]));
        got.extend(buf[12..n].iter().map(|b| Law::Ulaw.decode(*b)));
    }
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(1500), "paced in real time: {took:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
    for (g, s) in got.iter().zip(&samples) {
        assert!((g - s).abs() < 400);
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(events.lock().unwrap().contains(&MediaEvent::PlayDone { id: s.id, side: Side::A, token: 7 }));
}
