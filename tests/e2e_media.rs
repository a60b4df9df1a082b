//! Media services against the real binary: DTMF from SIPp (RFC 4733 and in-band), recordings
//! whose channels hold what each side said, the greeting a caller hears, music on hold, prompt
//! uploads of every format, and recordings that survive kill -9.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::audio::*;
use common::phone::{Phone, collect_rtp, sdp_target};
use common::*;
use pbx_media::Law;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

fn timeline(pbx: &Pbx, call_id: &str) -> serde_json::Value {
    serde_json::from_str(&pbx.cli_ok(&["calls", "show", "acme", call_id, "--json"])).unwrap()
}

fn dtmf_events(pbx: &Pbx, call_id: &str) -> Vec<String> {
    timeline(pbx, call_id)["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "dtmf")
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dtmf_from_rfc4733_and_inband_seen_once_each() {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.settle();
    // RFC 4733 (the pcap that ships with SIPp carries the key 1).
    let sink = RtpSink::new();
    let uas_port = free_port();
    let _uas = Sipp::spawn(&pbx, "uas.xml", uas_port, &["-m", "2", "-d", "200", "-key", "sink_port", &sink.port.to_string()]);
    assert!(Sipp::register(&pbx, "102", "secret102", free_port(), uas_port, 300));
    let media = free_port().to_string();
    let ok = Sipp::run(
        &pbx,
        "uac.xml",
        free_port(),
        &[
            "-m",
            "1",
            "-au",
            "101",
            "-ap",
            "secret101",
            "-s",
            "102",
            "-d",
            "2500",
            "-mp",
            &media,
            "-key",
            "domain",
            "acme.example",
            "-key",
            "user",
            "101",
            "-key",
            "pcap",
            "/usr/share/sip-tester/dtmf_2833_1.pcap",
        ],
        Duration::from_secs(20),
    );
    assert!(ok, "{}", Sipp::logs(&pbx, "uac"));
    let id = call_log(&pbx)[0]["id"].as_str().unwrap().to_string();
    assert!(wait_for(Duration::from_secs(3), || !dtmf_events(&pbx, &id).is_empty()));
    assert_eq!(dtmf_events(&pbx, &id), vec!["1 rfc4733 caller"]);
    // In-band tones from a leg without telephone-event.
    let pcap = pbx.dir.path().join("inband.pcap");
    write_rtp_pcap(&pcap, &inband_dtmf_packets("4#7"));
    let media = free_port().to_string();
    let ok = Sipp::run(
        &pbx,
        "uac_inband.xml",
        free_port(),
        &[
            "-m",
            "1",
            "-au",
            "101",
            "-ap",
            "secret101",
            "-s",
            "102",
            "-d",
            "2500",
            "-mp",
            &media,
            "-key",
            "domain",
            "acme.example",
            "-key",
            "user",
            "101",
            "-key",
            "pcap",
            &pcap.display().to_string(),
        ],
        Duration::from_secs(20),
    );
    assert!(ok, "{}", Sipp::logs(&pbx, "uac"));
    let id = call_log(&pbx)[0]["id"].as_str().unwrap().to_string();
    assert!(wait_for(Duration::from_secs(3), || dtmf_events(&pbx, &id).len() >= 3));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dtmf_events(&pbx, &id), vec!["4 inband caller", "# inband caller", "7 inband caller"]);
}

/// A call 101 → 102 between test phones that both send audio; returns after the answer.
fn phone_call(pbx: &Pbx) -> (Phone, Phone, common::phone::Dialog, SocketAddr, SocketAddr) {
    let t = Duration::from_secs(5);
    let mut caller = Phone::new(pbx.sip, "101", "secret101", "127.0.0.1");
    let mut callee = Phone::new(pbx.sip, "102", "secret102", "127.0.0.1");
    assert_eq!(callee.register(300).status, 200);
    let mut d = caller.call("102");
    let inv = callee.request("INVITE", t).unwrap();
    let to_callee_pbx = sdp_target(&inv.body);
    let sdp = callee.sdp("sendrecv");
    callee.reply(&inv, 200, "cal1ee", Some(&sdp));
    let ok = caller.final_response(&d.call_id, "INVITE", t).unwrap();
    let to_caller_pbx = sdp_target(&ok.body);
    caller.ack(&mut d, &ok);
    (caller, callee, d, to_caller_pbx, to_callee_pbx)
}

fn wait_recording(pbx: &Pbx, call_id: &str) -> serde_json::Value {
    let mut rec = serde_json::Value::Null;
    assert!(
        wait_for(Duration::from_secs(15), || {
            rec = timeline(pbx, call_id)["recording"].clone();
            rec["format"] == "ogg"
        }),
        "recording not stored: {rec}"
    );
    rec
}

fn export(pbx: &Pbx, call_id: &str) -> (Vec<i16>, Vec<i16>) {
    let out = pbx.dir.path().join(format!("{call_id}.wav"));
    pbx.cli_ok(&["recordings", "export", "acme", call_id, &out.display().to_string()]);
    let w = pbx_media::wav::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((w.channels, w.rate, w.bits), (2, 8000, 16));
    let s = pbx_media::wav::samples(&w).unwrap();
    (s.iter().step_by(2).copied().collect(), s.iter().skip(1).step_by(2).copied().collect())
}

#[test]
fn recording_channels_hold_what_each_side_said() {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.settle();
    // Callee: a test phone that answers and sends a 1 kHz tone. Caller: SIPp playing speech.
    let t = Duration::from_secs(5);
    let mut callee = Phone::new(pbx.sip, "102", "secret102", "127.0.0.1");
    assert_eq!(callee.register(300).status, 200);
    let caller = sipp_caller(&pbx, "101", "secret101", "102", 4000);
    let inv = callee.request("INVITE", t).expect("callee rings");
    let dest = sdp_target(&inv.body);
    let sdp = callee.sdp("sendrecv");
    callee.reply(&inv, 200, "rec1", Some(&sdp));
    let tone = RtpSender::start(&callee.rtp, dest, sine(1000.0, 8000, 9000.0), Law::Ulaw);
    let bye = callee.request("BYE", Duration::from_secs(15)).expect("caller hangs up");
    callee.reply(&bye, 200, "rec1", None);
    drop(tone);
    assert!(caller.wait(Duration::from_secs(15)), "{}", Sipp::logs(&pbx, "uac"));
    let id = call_log(&pbx)[0]["id"].as_str().unwrap().to_string();
    let rec = wait_recording(&pbx, &id);
    let bytes_per_minute = rec["size_bytes"].as_f64().unwrap() * 60_000.0 / rec["duration_ms"].as_f64().unwrap();
    assert!(bytes_per_minute < 240_000.0, "stored recording takes {bytes_per_minute} B/min");
    let (left, right) = export(&pbx, &id);
    assert!(left.len() > 8000 * 3, "{} samples", left.len());
    // The callee's tone is on the right only.
    assert!(
        tone_power(&right, 1000.0) > 100.0 * tone_power(&left, 1000.0).max(1.0),
        "right {} left {}",
        tone_power(&right, 1000.0),
        tone_power(&left, 1000.0)
    );
    // The caller's speech is on the left: its loudness follows the pcap frame by frame.
    let voice: Vec<i16> = pcap_rtp_payloads(&voice_pcap()).iter().flat_map(|p| p.iter().map(|b| Law::Alaw.decode(*b))).collect();
    let corr = best_correlation(&envelope(&left), &envelope(&voice), 50);
    assert!(corr > 0.8, "left channel vs the caller's audio: correlation {corr}");
    let corr_right = best_correlation(&envelope(&right), &envelope(&voice), 50);
    assert!(corr_right < 0.5, "right channel must not carry the caller: {corr_right}");
}

#[test]
fn caller_hears_the_greeting() {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.cli_ok(&["trunk", "create", "ipc", "--host", "127.0.0.50:5060", "--allow-ip", "127.0.0.50"]);
    pbx.cli_ok(&["did", "add", "acme", "+74951234000", "--trunk", "ipc"]);
    let greeting = data_dir().join("audio/greeting-8k-mono.wav");
    pbx.cli_ok(&["prompt", "upload", "acme", "hello", &greeting.display().to_string()]);
    pbx.cli_ok(&["tenant", "set", "acme", "--greeting", "hello"]);
    pbx.settle();
    // 101 rings after the greeting (and is cancelled when the caller hangs up).
    let p101 = free_port();
    let _ring = Sipp::spawn(&pbx, "uas_ring.xml", p101, &["-m", "1"]);
    assert!(Sipp::register(&pbx, "101", "secret101", free_port(), p101, 300));
    // The carrier's media is on its signalling address (127.0.0.50).
    let sink = UdpSocket::bind("127.0.0.50:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let listener = std::thread::spawn(move || collect_rtp(&sink, Duration::from_secs(5)));
    let ok = Sipp::run_from(
        &pbx,
        "127.0.0.50",
        "carrier_listen.xml",
        free_port(),
        &["-m", "1", "-s", "+74951234000", "-d", "3500", "-key", "sink_ip", "127.0.0.50", "-key", "sink_port", &sink_port.to_string()],
        Duration::from_secs(20),
    );
    assert!(ok, "{}", Sipp::logs(&pbx, "carrier_listen"));
    let heard: Vec<i16> = listener
        .join()
        .unwrap()
        .iter()
        .filter(|(pt, _)| *pt == 8)
        .flat_map(|(_, p)| p.iter().map(|b| Law::Alaw.decode(*b)).collect::<Vec<_>>())
        .collect();
    assert!(heard.len() >= 8000 * 2, "heard {} samples", heard.len());
    // The first two seconds are the uploaded greeting (700 Hz), then ring-back (425 Hz).
    let expected = pbx_media::import::import(&std::fs::read(&greeting).unwrap(), Default::default()).unwrap();
    let head = &heard[..expected.len().min(heard.len())];
    let corr =
        best_correlation(&head.iter().map(|s| *s as f64).collect::<Vec<_>>(), &expected.iter().map(|s| *s as f64).collect::<Vec<_>>(), 400);
    assert!(corr > 0.9, "what the caller heard vs the greeting: {corr}");
    let after = &heard[expected.len()..(expected.len() + 8000).min(heard.len())];
    assert!(tone_power(after, 425.0) > 10.0 * tone_power(after, 700.0).max(1.0), "ring-back after the greeting");
    let row = &call_log(&pbx)[0];
    let kinds: Vec<String> = timeline(&pbx, row["id"].as_str().unwrap())["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(&kinds[..2], &["answered", "play"], "{kinds:?}");
}

#[test]
fn hold_plays_music_and_resume_stops_it() {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.settle();
    let t = Duration::from_secs(5);
    let (mut caller, mut callee, mut d, to_caller_pbx, _to_callee_pbx) = phone_call(&pbx);
    let _voice = RtpSender::start(&caller.rtp, to_caller_pbx, sine(300.0, 8000, 6000.0), Law::Ulaw);
    std::thread::sleep(Duration::from_millis(400));
    let music = pbx_media::prompt::builtin("ru", "music").unwrap();
    let encoded = music.encoded(Law::Ulaw).to_vec();
    let is_music = |p: &[u8]| {
        let doubled: Vec<u8> = encoded.iter().chain(encoded.iter()).copied().collect();
        doubled.windows(p.len()).any(|w| w == p)
    };
    // Before hold the callee hears the caller's tone, not music.
    let before = collect_rtp(&callee.rtp, Duration::from_millis(500));
    assert!(!before.is_empty() && before.iter().all(|(_, p)| !is_music(p)));
    // Hold.
    let hold = caller.sdp("sendonly");
    caller.in_dialog(&mut d, "INVITE", Some(&hold));
    let re = callee.request("INVITE", t).unwrap();
    let ans = callee.sdp("recvonly");
    callee.reply(&re, 200, "cal1ee", Some(&ans));
    assert_eq!(caller.final_response(&d.call_id, "INVITE", t).unwrap().status, 200);
    caller.ack_seq(&d);
    // Packets relayed before the hold took effect may still wait in the socket.
    let _stale = collect_rtp(&callee.rtp, Duration::from_millis(300));
    let held = collect_rtp(&callee.rtp, Duration::from_secs(1));
    assert!(held.len() >= 40, "music packets: {}", held.len());
    let musical = held.iter().filter(|(_, p)| p.len() == 160 && is_music(p)).count();
    assert!(musical * 10 >= held.len() * 9, "{musical} of {} packets are the music", held.len());
    // Resume.
    let resume = caller.sdp("sendrecv");
    caller.in_dialog(&mut d, "INVITE", Some(&resume));
    let re = callee.request("INVITE", t).unwrap();
    let ans = callee.sdp("sendrecv");
    callee.reply(&re, 200, "cal1ee", Some(&ans));
    assert_eq!(caller.final_response(&d.call_id, "INVITE", t).unwrap().status, 200);
    caller.ack_seq(&d);
    let _stale = collect_rtp(&callee.rtp, Duration::from_millis(300));
    let after = collect_rtp(&callee.rtp, Duration::from_millis(800));
    assert!(!after.is_empty() && after.iter().all(|(_, p)| !is_music(p)), "music must stop on resume");
    let id = call_log(&pbx)[0]["id"].as_str().unwrap().to_string();
    let kinds: Vec<String> =
        timeline(&pbx, &id)["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
    assert!(kinds.contains(&"hold".to_string()) && kinds.contains(&"resume".to_string()), "{kinds:?}");
}

#[test]
fn prompt_uploads_of_each_format_and_refusals() {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    for (name, file) in [
        ("w24", "greeting-44k-stereo-24bit.wav"),
        ("w8", "greeting-8k-mono.wav"),
        ("mp3", "greeting.mp3"),
        ("opus", "greeting.opus"),
        ("vorbis", "greeting.ogg"),
        ("flac", "greeting.flac"),
    ] {
        pbx.cli_ok(&["prompt", "upload", "acme", name, &data_dir().join("audio").join(file).display().to_string()]);
    }
    let list: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["prompt", "list", "acme", "--json"])).unwrap();
    for name in ["w24", "w8", "mp3", "opus", "vorbis", "flac", "welcome", "music"] {
        assert!(list.as_array().unwrap().iter().any(|r| r["name"] == name), "{name} missing from {list}");
    }
    let empty = pbx.dir.path().join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    for (file, needle) in [
        (data_dir().join("audio/not-audio.txt"), "not an audio file"),
        (data_dir().join("audio/corrupt.flac"), "corrupt"),
        (empty, "empty"),
    ] {
        let out = pbx.cli(&["prompt", "upload", "acme", "bad", &file.display().to_string()]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
    }
    let list: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["prompt", "list", "acme", "--json"])).unwrap();
    assert!(!list.as_array().unwrap().iter().any(|r| r["name"] == "bad"), "nothing half-stored");
    let files = std::fs::read_dir(pbx.dir.path().join("tenants/1/prompts")).unwrap().count();
    assert_eq!(files, 6, "one file per stored prompt");
}

#[test]
fn kill9_during_a_recorded_call_leaves_a_playable_recording() {
    let mut pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.settle();
    let (caller, callee, _d, to_caller_pbx, to_callee_pbx) = phone_call(&pbx);
    let _a = RtpSender::start(&caller.rtp, to_caller_pbx, sine(500.0, 8000, 8000.0), Law::Ulaw);
    let _b = RtpSender::start(&callee.rtp, to_callee_pbx, sine(1200.0, 8000, 8000.0), Law::Ulaw);
    std::thread::sleep(Duration::from_millis(3500));
    let id = call_log(&pbx)[0]["id"].as_str().unwrap().to_string();
    pbx.restart();
    let rec = wait_recording(&pbx, &id);
    assert!(rec["duration_ms"].as_i64().unwrap() >= 1500, "{rec}");
    let (left, right) = export(&pbx, &id);
    assert!(left.len() >= 8000, "{}", left.len());
    assert!(tone_power(&left, 500.0) > 10.0 * tone_power(&left, 1200.0).max(1.0));
    assert!(tone_power(&right, 1200.0) > 10.0 * tone_power(&right, 500.0).max(1.0));
    assert_eq!(call_log(&pbx)[0]["disposition"], "interrupted");
    let _ = callee.addr;
}
