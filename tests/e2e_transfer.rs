//! Transfer between three SIP user agents (SIPp) through the real binary: blind (REFER),
//! attended (REFER with Replaces) and by keys (## 103 #); afterwards the caller's voice
//! reaches the new party, and the call log keeps one row for the call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::audio::{RtpSender, sine, tone_power};
use common::phone::{Phone, collect_rtp, sdp_target};
use common::*;
use pbx_media::Law;
use pbx_sip::message::{Message, SipMessage};
use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

fn setup() -> Pbx {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.settle();
    pbx
}

fn register(pbx: &Pbx, ext: &str, port: u16) {
    assert!(Sipp::register(pbx, ext, &format!("secret{ext}"), free_port(), port, 300), "{ext} did not register");
}

/// Once the phones listen: 102 and 103 register, then 101 calls 102 and talks for `ms`.
fn register_and_call(pbx: &Pbx, p102: u16, p103: u16, ms: u32) -> SippChild {
    register(pbx, "102", p102);
    register(pbx, "103", p103);
    caller_101(pbx, ms)
}

/// 101 calls 102 and talks (the voice pcap) for `ms`.
fn caller_101(pbx: &Pbx, ms: u32) -> SippChild {
    sipp_caller(pbx, "101", "secret101", "102", ms)
}

/// The RFC 4733 presses of `keys` as a pcap for SIPp's play_pcap_audio.
fn keys_pcap(pbx: &Pbx, keys: &str) -> std::path::PathBuf {
    let path = pbx.dir.path().join("keys.pcap");
    common::audio::write_rtp_pcap_ts(&path, &common::audio::rfc4733_packets(keys));
    path
}

/// 103 answering one call with `scenario` (it rings 300 ms); its RTP goes to the sink.
fn phone_103(pbx: &Pbx, scenario: &str) -> (SippChild, RtpSink, u16) {
    let sink = RtpSink::new();
    let port = free_port();
    let phone = Sipp::spawn(pbx, scenario, port, &["-m", "1", "-d", "300", "-key", "sink_port", &sink.port.to_string()]);
    (phone, sink, port)
}

fn voice_reached(sink: &RtpSink) -> usize {
    let voice: HashSet<Vec<u8>> = pcap_rtp_payloads(&voice_pcap()).into_iter().collect();
    sink.packets().iter().filter(|(_, p)| voice.contains(p)).count()
}

fn timeline(pbx: &Pbx, id: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["calls", "show", "acme", id, "--json"])).unwrap();
    v["timeline"].as_array().unwrap().clone()
}

#[test]
fn blind_transfer_by_refer() {
    require_tool("sipp", "sip-tester");
    let pbx = setup();
    let p102 = free_port();
    let transferor = Sipp::spawn(
        &pbx,
        "uas_refer.xml",
        p102,
        &[
            "-m",
            "1",
            "-d",
            "200",
            "-key",
            "sink_port",
            &free_port().to_string(),
            "-key",
            "refer_to",
            "103",
            "-key",
            "domain",
            "acme.example",
        ],
    );
    let (target, sink, p103) = phone_103(&pbx, "uas.xml");
    let caller = register_and_call(&pbx, p102, p103, 7000);
    assert!(
        transferor.wait(Duration::from_secs(20)),
        "the transferor did not see 202, NOTIFYs and BYE:\n{}\n{}",
        Sipp::logs(&pbx, "uas_refer"),
        pbx.log()
    );
    assert!(
        wait_for(Duration::from_secs(8), || voice_reached(&sink) > 50),
        "the caller's voice did not reach 103 ({} packets)",
        sink.packets().len()
    );
    assert!(caller.wait(Duration::from_secs(20)), "the caller's call failed:\n{}", pbx.log());
    assert!(target.wait(Duration::from_secs(5)), "103 was not hung up by the caller's BYE");
    let rows = call_log(&pbx);
    assert_eq!(rows.len(), 1, "one call, one row: {rows:?}");
    let users: Vec<serde_json::Value> = serde_json::from_str(&pbx.cli_ok(&["user", "list", "acme", "--json"])).unwrap();
    let id103 = users.iter().find(|u| u["ext"] == "103").unwrap()["id"].as_i64().unwrap();
    assert_eq!(rows[0]["callee_user_id"].as_i64(), Some(id103));
    assert_eq!(rows[0]["disposition"], "answered");
    let tl = timeline(&pbx, rows[0]["id"].as_str().unwrap());
    assert!(tl.iter().any(|e| e["kind"] == "transfer" && e["detail"].as_str().unwrap().ends_with("connected")), "{tl:#?}");
}

#[test]
fn attended_transfer_by_refer_with_replaces() {
    require_tool("sipp", "sip-tester");
    let pbx = setup();
    let p102 = free_port();
    let transferor = Sipp::spawn(
        &pbx,
        "uas_attended.xml",
        p102,
        &["-m", "2", "-d", "200", "-key", "sink_port", &free_port().to_string(), "-key", "domain", "acme.example"],
    );
    register(&pbx, "102", p102);
    // Call 1: 101 → 102 (talks for 8 s). Call 2, the consultation: 103 → 102.
    let caller = caller_101(&pbx, 8000);
    assert!(
        wait_for(Duration::from_secs(10), || call_log(&pbx).first().is_some_and(|r| !r["answered_at"].is_null())),
        "call 1 was not answered"
    );
    let sink = RtpSink::new();
    let consulted = Sipp::spawn(
        &pbx,
        "uac_sink.xml",
        free_port(),
        &[
            "-m",
            "1",
            "-au",
            "103",
            "-ap",
            "secret103",
            "-s",
            "102",
            "-key",
            "domain",
            "acme.example",
            "-key",
            "user",
            "103",
            "-key",
            "sink_port",
            &sink.port.to_string(),
        ],
    );
    assert!(
        transferor.wait(Duration::from_secs(20)),
        "the transferor's two calls did not end properly:\n{}\n{}",
        Sipp::logs(&pbx, "uas_attended"),
        pbx.log()
    );
    assert!(
        wait_for(Duration::from_secs(8), || voice_reached(&sink) > 50),
        "101's voice did not reach 103 ({} packets)",
        sink.packets().len()
    );
    assert!(caller.wait(Duration::from_secs(20)), "101's call failed:\n{}", pbx.log());
    assert!(consulted.wait(Duration::from_secs(10)), "103 did not get the BYE when 101 hung up:\n{}", pbx.log());
    let rows = call_log(&pbx);
    assert_eq!(rows.len(), 2);
    let consult = rows.iter().find(|r| r["caller_number"] == "103").unwrap();
    assert_eq!(consult["hangup_cause"], "transferred");
    let first = rows.iter().find(|r| r["caller_number"] == "101").unwrap();
    let tl = timeline(&pbx, first["id"].as_str().unwrap());
    assert!(tl.iter().any(|e| e["kind"] == "transfer" && e["detail"].as_str().unwrap().starts_with("attended")), "{tl:#?}");
}

#[test]
fn blind_transfer_by_keys() {
    require_tool("sipp", "sip-tester");
    let pbx = setup();
    let keys = keys_pcap(&pbx, "##103#");
    let p102 = free_port();
    let mp = free_port().to_string();
    let sink102 = free_port().to_string();
    let a = ["-m", "1", "-d", "200", "-key", "sink_port", &sink102, "-key", "keys", keys.to_str().unwrap(), "-mp", &mp];
    let transferor = Sipp::spawn(&pbx, "uas_keys.xml", p102, &a);
    let (target, sink, p103) = phone_103(&pbx, "uas.xml");
    let caller = register_and_call(&pbx, p102, p103, 9000);
    assert!(
        transferor.wait(Duration::from_secs(20)),
        "102 was not let go after its keys:\n{}\n{}",
        Sipp::logs(&pbx, "uas_keys"),
        pbx.log()
    );
    let reached = wait_for(Duration::from_secs(8), || voice_reached(&sink) > 50);
    assert!(
        reached,
        "101's voice did not reach 103 ({} packets): {:#?}",
        sink.packets().len(),
        timeline(&pbx, call_log(&pbx)[0]["id"].as_str().unwrap())
    );
    assert!(caller.wait(Duration::from_secs(20)));
    assert!(target.wait(Duration::from_secs(5)));
    let rows = call_log(&pbx);
    let tl = timeline(&pbx, rows[0]["id"].as_str().unwrap());
    assert!(tl.iter().any(|e| e["kind"] == "transfer" && e["detail"] == "blind to 103 by the callee: connected"), "{tl:#?}");
}

#[test]
fn attended_transfer_by_keys() {
    require_tool("sipp", "sip-tester");
    let pbx = setup();
    let keys = keys_pcap(&pbx, "*2103#");
    // What 102 says to 103 during the consultation: a 1 kHz tone, one packet like the next.
    let tone_payload: Vec<u8> = common::audio::sine(1000.0, 160, 8000.0).iter().map(|s| pbx_media::Law::Alaw.encode(*s)).collect();
    let tone = pbx.dir.path().join("tone.pcap");
    common::audio::write_rtp_pcap(&tone, &vec![(8u8, tone_payload.clone()); 60]);
    let p102 = free_port();
    let (mp, sink102) = (free_port().to_string(), free_port().to_string());
    let a = [
        "-m",
        "1",
        "-key",
        "sink_port",
        &sink102,
        "-key",
        "keys",
        keys.to_str().unwrap(),
        "-key",
        "tone",
        tone.to_str().unwrap(),
        "-mp",
        &mp,
    ];
    let transferor = Sipp::spawn(&pbx, "uas_consult.xml", p102, &a);
    let (target, sink, p103) = phone_103(&pbx, "uas_reinvite.xml");
    let caller = register_and_call(&pbx, p102, p103, 9000);
    assert!(
        transferor.wait(Duration::from_secs(20)),
        "102 did not consult 103 and hang up:\n{}\n{}",
        Sipp::logs(&pbx, "uas_consult"),
        pbx.log()
    );
    // 103 heard 102 during the consultation.
    let heard_102 = sink.packets().iter().filter(|(_, p)| *p == tone_payload).count();
    assert!(heard_102 > 20, "103 heard {heard_102} packets of 102's tone during the consultation");
    // Then 101, handed over when 102 hung up.
    let id = || call_log(&pbx)[0]["id"].as_str().unwrap().to_string();
    assert!(
        wait_for(Duration::from_secs(8), || voice_reached(&sink) > 50),
        "101's voice did not reach 103 ({} packets): {:#?}",
        sink.packets().len(),
        timeline(&pbx, &id())
    );
    assert!(caller.wait(Duration::from_secs(20)), "101's call failed:\n{}", pbx.log());
    assert!(target.wait(Duration::from_secs(5)), "103 did not get its re-INVITE and the BYE:\n{}", Sipp::logs(&pbx, "uas_reinvite"));
    let rows = call_log(&pbx);
    assert_eq!(rows.len(), 1, "one call, one row: {rows:?}");
    let users: Vec<serde_json::Value> = serde_json::from_str(&pbx.cli_ok(&["user", "list", "acme", "--json"])).unwrap();
    let id103 = users.iter().find(|u| u["ext"] == "103").unwrap()["id"].as_i64().unwrap();
    assert_eq!(rows[0]["callee_user_id"].as_i64(), Some(id103));
    let tl = timeline(&pbx, &id());
    let details: Vec<&str> = tl.iter().filter(|e| e["kind"] == "transfer").filter_map(|e| e["detail"].as_str()).collect();
    assert_eq!(
        details,
        [
            "attended by keys to 103 by the callee: consulting",
            "attended by keys to 103: the target answered",
            "attended by keys to 103: connected"
        ],
        "{tl:#?}"
    );
}

/// The audio of G.711 packets.
fn decode(packets: &[(u8, Vec<u8>)]) -> Vec<i16> {
    let law = |pt: u8| if pt == 0 { Law::Ulaw } else { Law::Alaw };
    packets.iter().filter(|(pt, _)| *pt == 0 || *pt == 8).flat_map(|(pt, p)| p.iter().map(move |b| law(*pt).decode(*b))).collect()
}

/// Presses `keys` as RFC 4733 events sent from `sock` to `dest`, at a phone's pace.
fn send_keys(sock: &UdpSocket, dest: SocketAddr, keys: &str) {
    for (i, (pt, ts, payload)) in common::audio::rfc4733_packets(keys).into_iter().enumerate() {
        let mut pkt = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d];
        pkt[2..4].copy_from_slice(&(i as u16 + 1).to_be_bytes());
        pkt[4..8].copy_from_slice(&ts.to_be_bytes());
        pkt.extend_from_slice(&payload);
        sock.send_to(&pkt, dest).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn attended_transfer_by_keys_to_a_busy_target_brings_the_transferor_back() {
    let pbx = setup();
    let t = Duration::from_secs(5);
    let mut caller = Phone::new(pbx.sip, "101", "secret101", "127.0.0.1");
    let mut transferor = Phone::new(pbx.sip, "102", "secret102", "127.0.0.1");
    let mut target = Phone::new(pbx.sip, "103", "secret103", "127.0.0.1");
    assert_eq!(transferor.register(300).status, 200);
    assert_eq!(target.register(300).status, 200);
    let mut d = caller.call("102");
    let inv = transferor.request("INVITE", t).expect("102 rings");
    let to_102 = sdp_target(&inv.body);
    transferor.reply(&inv, 200, "xfer", Some(&transferor.sdp("sendrecv")));
    let ok = caller.final_response(&d.call_id, "INVITE", t).unwrap();
    let to_101 = sdp_target(&ok.body);
    caller.ack(&mut d, &ok);
    let _voice = RtpSender::start(&caller.rtp, to_101, sine(300.0, 8000, 6000.0), Law::Ulaw);
    // 102 dials *2 103 #: its media moves to the consultation and 103 rings.
    send_keys(&transferor.rtp, to_102, "*2103#");
    let out = transferor.request("INVITE", t).expect("a re-INVITE moving 102 to the consultation");
    assert_ne!(sdp_target(&out.body), to_102, "the consultation has its own port");
    let out_seq = out.cseq().unwrap().seq;
    let ring = target.request("INVITE", t).expect("103 rings");
    // Meanwhile 101 hears music on hold.
    let music = pbx_media::prompt::builtin("ru", "music").unwrap();
    let is_music = |pt: u8, p: &[u8]| {
        let enc = music.encoded(if pt == 0 { Law::Ulaw } else { Law::Alaw }).to_vec();
        let doubled: Vec<u8> = enc.iter().chain(enc.iter()).copied().collect();
        doubled.windows(p.len()).any(|w| w == p)
    };
    let _stale = collect_rtp(&caller.rtp, Duration::from_millis(300));
    let held = collect_rtp(&caller.rtp, Duration::from_millis(800));
    let musical = held.iter().filter(|(pt, p)| p.len() == 160 && is_music(*pt, p)).count();
    assert!(held.len() >= 30 && musical * 10 >= held.len() * 9, "{musical} of {} packets to 101 are the music", held.len());
    // 101 putting the call on hold now would move 102's media back: refused for the moment.
    caller.in_dialog(&mut d, "INVITE", Some(&caller.sdp("sendonly")));
    assert_eq!(caller.final_response(&d.call_id, "INVITE", t).map(|r| r.status), Some(491));
    // 103 is busy: 102 is brought back to 101, but only once 102 has answered the first
    // re-INVITE (one at a time, RFC 3261 §14.1).
    target.reply(&ring, 486, "busy", None);
    let later_invite =
        |m: &Message| matches!(m, Message::Request(r) if r.method.as_str() == "INVITE" && r.cseq().is_some_and(|c| c.seq > out_seq));
    assert!(transferor.wait(Duration::from_millis(700), later_invite).is_none(), "a second re-INVITE while the first is unanswered");
    transferor.reply(&out, 200, "xfer", Some(&transferor.sdp("sendrecv")));
    let Some(Message::Request(back)) = transferor.wait(t, later_invite) else { panic!("no re-INVITE bringing 102 back") };
    assert_eq!(sdp_target(&back.body), to_102, "back to the call's port");
    transferor.reply(&back, 200, "xfer", Some(&transferor.sdp("sendrecv")));
    let _tone = RtpSender::start(&transferor.rtp, to_102, sine(1000.0, 8000, 6000.0), Law::Ulaw);
    let _stale = collect_rtp(&transferor.rtp, Duration::from_millis(300));
    let to_transferor = decode(&collect_rtp(&transferor.rtp, Duration::from_millis(800)));
    assert!(
        tone_power(&to_transferor, 300.0) > 10.0 * tone_power(&to_transferor, 1000.0).max(1.0),
        "102 does not hear 101 again ({} samples)",
        to_transferor.len()
    );
    let _stale = collect_rtp(&caller.rtp, Duration::from_millis(300));
    let to_caller = collect_rtp(&caller.rtp, Duration::from_millis(800));
    assert!(!to_caller.iter().any(|(pt, p)| is_music(*pt, p)), "the music must stop");
    let to_caller = decode(&to_caller);
    assert!(tone_power(&to_caller, 1000.0) > 10.0 * tone_power(&to_caller, 300.0).max(1.0), "101 does not hear 102 again");
    // 101 hangs up; 102 gets the BYE.
    caller.in_dialog(&mut d, "BYE", None);
    let bye = transferor.request("BYE", t).expect("102 gets the BYE");
    transferor.reply(&bye, 200, "xfer", None);
    let rows = call_log(&pbx);
    assert_eq!(rows.len(), 1);
    let users: Vec<serde_json::Value> = serde_json::from_str(&pbx.cli_ok(&["user", "list", "acme", "--json"])).unwrap();
    let id102 = users.iter().find(|u| u["ext"] == "102").unwrap()["id"].as_i64().unwrap();
    assert_eq!(rows[0]["callee_user_id"].as_i64(), Some(id102), "the call stays 102's");
    let tl = timeline(&pbx, rows[0]["id"].as_str().unwrap());
    let details: Vec<&str> = tl.iter().filter(|e| e["kind"] == "transfer").filter_map(|e| e["detail"].as_str()).collect();
    assert_eq!(details, ["attended by keys to 103 by the callee: consulting", "attended by keys to 103: failed (486 Busy Here)"]);
}
