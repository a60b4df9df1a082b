//! End-to-end calls against the real `pbx` binary: SIPp and baresip phones, RTP through the
//! PBX, the call log in SQLite and PostgreSQL, refusals that reveal nothing, brute-force
//! protection, busy/cancel/no-answer/forking, hold, dead-call cleanup and crash recovery.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::phone::Phone;
use common::*;
use pbx_sip::HeaderName;
use pbx_sip::message::{Message, SipMessage};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// RTP that reached a phone came from the PBX and carries the caller's voice.
fn assert_voice_arrived(pbx: &Pbx, sink: &RtpSink) {
    let voice: HashSet<Vec<u8>> = pcap_rtp_payloads(&voice_pcap()).into_iter().collect();
    assert!(!voice.is_empty());
    assert!(
        wait_for(Duration::from_secs(5), || sink.packets().len() >= 50),
        "only {} RTP packets reached the callee",
        sink.packets().len()
    );
    let packets = sink.packets();
    let (lo, hi) = rtp_of(pbx);
    for (src, _) in &packets {
        assert_eq!(src.ip().to_string(), "127.0.0.1");
        assert!(src.port() >= lo && src.port() <= hi, "RTP must come from the PBX's media ports, came from {src}");
    }
    let matching = packets.iter().filter(|(_, p)| voice.contains(p)).count();
    assert!(matching * 100 >= packets.len() * 95, "{matching} of {} payloads are the caller's audio", packets.len());
}

fn rtp_of(pbx: &Pbx) -> (u16, u16) {
    let range = pbx.env("PBX_RTP_PORTS").unwrap();
    let (a, b) = range.split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

fn calls_between_extensions(db: Db) {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(db, &[]);
    pbx.seed_acme();
    pbx.settle();
    let p101 = answering_phone(&pbx, "101", "secret101");
    let p102 = answering_phone(&pbx, "102", "secret102");
    assert_eq!(pbx.metric("pbx_registrations"), 2.0);

    assert!(sipp_call(&pbx, "101", "secret101", "102", 3000), "101 → 102 failed:\n{}", Sipp::logs(&pbx, "uac"));
    assert_voice_arrived(&pbx, &p102.sink);
    assert!(sipp_call(&pbx, "102", "secret102", "101", 3000), "102 → 101 failed:\n{}", Sipp::logs(&pbx, "uac"));
    assert_voice_arrived(&pbx, &p101.sink);

    // The callee saw the caller's number and name.
    let uas_logs = Sipp::logs(&pbx, "uas");
    assert!(uas_logs.contains("INVITE-FROM From: \"Иван Петров\" <sip:101@acme.example>"), "{uas_logs}");
    assert!(uas_logs.contains("INVITE-FROM From: \"Maria Ivanova\" <sip:102@acme.example>"), "{uas_logs}");
    let _ = (p101.port, p102.port);

    // The call log holds both calls, completed.
    assert!(wait_for(Duration::from_secs(3), || call_log(&pbx).iter().all(|r| !r["ended_at"].is_null())));
    let rows = call_log(&pbx);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let newest = &rows[0];
    assert_eq!(newest["caller_number"], "102");
    assert_eq!(newest["callee"], "101");
    assert_eq!(newest["caller_name"], "Maria Ivanova");
    let oldest = &rows[1];
    assert_eq!(oldest["caller_number"], "101");
    assert_eq!(oldest["callee"], "102");
    for r in &rows {
        assert_eq!(r["direction"], "internal");
        assert_eq!(r["disposition"], "answered");
        assert_eq!(r["hangup_side"], "caller");
        assert!(r["talk_seconds"].as_i64().unwrap() >= 2, "{r}");
        assert!(r["answered_at"].as_i64().unwrap() >= r["started_at"].as_i64().unwrap());
        assert!(!r["callee_user_id"].is_null());
    }
    assert_eq!(pbx.metric("pbx_calls_answered_total"), 2.0);
    assert_eq!(pbx.metric("pbx_active_calls"), 0.0);
    assert!(pbx.metric("pbx_rtp_packets_relayed_total") >= 100.0);
    assert_eq!(pbx.metric("pbx_media_sessions"), 0.0);
}

#[test]
fn calls_between_extensions_sqlite() {
    calls_between_extensions(Db::Sqlite);
}

#[test]
fn calls_between_extensions_postgres() {
    calls_between_extensions(Db::Postgres(PgDb::create()));
}

#[test]
fn unknown_user_and_wrong_password_get_identical_answers() {
    let pbx = Pbx::start(Db::Sqlite, &[("PBX_DIGEST_ALGORITHMS", "SHA-256,MD5")]);
    pbx.seed_acme();
    pbx.settle();
    let mut phone = Phone::new(pbx.sip, "101", "secret101", "127.0.0.1");
    let wrong = phone.register_as("101", "not-the-password", 60);
    let unknown = phone.register_as("999", "secret101", 60);
    assert_eq!(wrong.status, 403);
    assert_eq!((wrong.status, &wrong.reason), (unknown.status, &unknown.reason));
    let shape = |r: &pbx_sip::Response| {
        r.headers
            .0
            .iter()
            .filter(|h| !matches!(h.name, HeaderName::Via | HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq))
            .map(|h| format!("{}: {}", h.name, h.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&wrong), shape(&unknown));
    assert_eq!(wrong.body, unknown.body);
    // The right password works, and so does SHA-256 (RFC 8760).
    assert_eq!(phone.register(60).status, 200);
    let call_id = "sha256-reg";
    let m = phone.register_msg(call_id, 60, None);
    phone.send_raw(&m);
    let ch = phone.final_response(call_id, "REGISTER", Duration::from_secs(3)).unwrap();
    let sha = ch.headers.get_all(&HeaderName::WwwAuthenticate).find(|v| v.contains("SHA-256")).expect("a SHA-256 challenge").to_string();
    let m = phone.register_msg(call_id, 60, Some((&sha, "101", "secret101")));
    assert!(m.contains("algorithm=SHA-256"));
    phone.send_raw(&m);
    assert_eq!(phone.final_response(call_id, "REGISTER", Duration::from_secs(3)).unwrap().status, 200);
    // Too short an interval.
    let r = phone.register(10);
    assert_eq!(r.status, 423);
    assert_eq!(r.headers.get(&HeaderName::MinExpires), Some("60"));
    // Unregister.
    assert_eq!(phone.register(0).status, 200);
    assert!(wait_for(Duration::from_secs(2), || pbx.metric("pbx_registrations") == 0.0));
}

#[test]
fn repeated_failures_are_slowed_then_blocked() {
    let pbx = Pbx::start(Db::Sqlite, &[("PBX_AUTH_SLOW_AFTER", "2"), ("PBX_AUTH_BLOCK_AFTER", "4"), ("PBX_AUTH_BLOCK_SECS", "60")]);
    pbx.seed_acme();
    pbx.settle();
    let mut attacker = Phone::new(pbx.sip, "101", "secret101", "127.0.0.7");
    for _ in 0..2 {
        let t = Instant::now();
        assert_eq!(attacker.register_as("101", "guess", 60).status, 403);
        assert!(t.elapsed() < Duration::from_millis(400));
    }
    let t = Instant::now();
    assert_eq!(attacker.register_as("101", "guess", 60).status, 403);
    assert!(t.elapsed() >= Duration::from_millis(450), "the third failure must be slowed, took {:?}", t.elapsed());
    assert_eq!(attacker.register_as("101", "guess", 60).status, 403);
    // Now blocked: even the right password is refused from this address...
    assert_eq!(attacker.register_as("101", "secret101", 60).status, 403);
    // ...while another address is served.
    let mut other = Phone::new(pbx.sip, "101", "secret101", "127.0.0.8");
    assert_eq!(other.register(60).status, 200);
    assert!(pbx.metric("pbx_auth_failures_total") >= 4.0);
}

#[test]
fn busy_cancel_no_answer_unknown_and_forking() {
    let pbx = Pbx::start(Db::Sqlite, &[("PBX_RING_TIMEOUT", "2")]);
    pbx.seed_acme();
    pbx.settle();
    let mut caller = Phone::new(pbx.sip, "101", "secret101", "127.0.0.1");
    let mut callee = Phone::new(pbx.sip, "102", "secret102", "127.0.0.1");
    assert_eq!(callee.register(300).status, 200);
    let t = Duration::from_secs(5);

    // Unknown extension and an extension with no phone.
    let d = caller.call("199");
    assert_eq!(caller.final_response(&d.call_id, "INVITE", t).unwrap().status, 404);
    let d = caller.call("103");
    assert_eq!(caller.final_response(&d.call_id, "INVITE", t).unwrap().status, 480);

    // Busy.
    let d = caller.call("102");
    let inv = callee.request("INVITE", t).expect("callee rings");
    callee.reply(&inv, 486, "b1", None);
    assert_eq!(caller.final_response(&d.call_id, "INVITE", t).unwrap().status, 486);

    // Caller cancels while it rings.
    let d = caller.call("102");
    let inv = callee.request("INVITE", t).unwrap();
    callee.reply(&inv, 180, "b2", None);
    let Some(Message::Response(ringing)) = caller.wait(t, |m| matches!(m, Message::Response(r) if r.status == 180)) else {
        panic!("180 not relayed")
    };
    // A CANCEL repeats the INVITE's top Via, which the 180 echoes.
    caller.send_raw(&format!(
        "CANCEL sip:102@acme.example SIP/2.0\nVia: {}\nMax-Forwards: 70\nFrom: <sip:101@acme.example>;tag={}\nTo: <sip:102@acme.example>\nCall-ID: {}\nCSeq: 2 CANCEL\nContent-Length: 0\n\n",
        ringing.headers.get(&HeaderName::Via).unwrap(),
        d.local_tag,
        d.call_id
    ));
    assert_eq!(caller.final_response(&d.call_id, "CANCEL", t).unwrap().status, 200);
    assert_eq!(caller.final_response(&d.call_id, "INVITE", t).unwrap().status, 487);
    let cancel = callee.request("CANCEL", t).expect("the PBX cancels the callee");
    callee.reply(&cancel, 200, "b2", None);
    callee.reply(&inv, 487, "b2", None);

    // Nobody answers: 480 after the ring timeout, the phone is cancelled.
    let d = caller.call("102");
    let inv = callee.request("INVITE", t).unwrap();
    callee.reply(&inv, 180, "b3", None);
    let r = caller.final_response(&d.call_id, "INVITE", Duration::from_secs(6)).unwrap();
    assert_eq!(r.status, 480);
    let cancel = callee.request("CANCEL", t).expect("CANCEL after the ring timeout");
    callee.reply(&cancel, 200, "b3", None);
    callee.reply(&inv, 487, "b3", None);

    // Two phones for 102: both ring, one answers, the other is cancelled.
    let mut second = Phone::new(pbx.sip, "102", "secret102", "127.0.0.1");
    assert_eq!(second.register(300).status, 200);
    let mut d = caller.call("102");
    let inv1 = callee.request("INVITE", t).unwrap();
    let inv2 = second.request("INVITE", t).unwrap();
    callee.reply(&inv1, 180, "f1", None);
    second.reply(&inv2, 180, "f2", None);
    let sdp = second.sdp("sendrecv");
    second.reply(&inv2, 200, "f2", Some(&sdp));
    let ok = caller.final_response(&d.call_id, "INVITE", t).unwrap();
    assert_eq!(ok.status, 200);
    caller.ack(&mut d, &ok);
    let cancel = callee.request("CANCEL", t).expect("the other phone is cancelled");
    callee.reply(&cancel, 200, "f1", None);
    callee.reply(&inv1, 487, "f1", None);
    assert!(second.request("ACK", t).is_some(), "the answering phone gets its ACK");
    caller.in_dialog(&mut d, "BYE", None);
    assert_eq!(caller.final_response(&d.call_id, "BYE", t).unwrap().status, 200);
    let bye = second.request("BYE", t).expect("BYE reaches the callee");
    second.reply(&bye, 200, "f2", None);

    assert!(wait_for(Duration::from_secs(3), || call_log(&pbx).len() == 6 && call_log(&pbx).iter().all(|r| !r["ended_at"].is_null())));
    let rows = call_log(&pbx);
    let disp: Vec<&str> = rows.iter().rev().map(|r| r["disposition"].as_str().unwrap()).collect();
    assert_eq!(disp, vec!["failed", "failed", "busy", "missed", "missed", "answered"], "{rows:#?}");
    assert_eq!(rows[1]["hangup_cause"], "no answer");
    assert_eq!(rows[2]["hangup_cause"], "CANCEL");
}

/// Sets up a call 101 → 102 between two test phones; returns (caller, callee, caller's
/// dialog, callee's INVITE, callee's tag).
fn established_call(pbx: &Pbx) -> (Phone, Phone, common::phone::Dialog, pbx_sip::Request) {
    let t = Duration::from_secs(5);
    let mut caller = Phone::new(pbx.sip, "101", "secret101", "127.0.0.1");
    let mut callee = Phone::new(pbx.sip, "102", "secret102", "127.0.0.1");
    assert_eq!(callee.register(300).status, 200);
    let mut d = caller.call("102");
    let inv = callee.request("INVITE", t).expect("callee rings");
    let sdp = callee.sdp("sendrecv");
    callee.reply(&inv, 200, "cal1ee", Some(&sdp));
    let ok = caller.final_response(&d.call_id, "INVITE", t).expect("answer relayed");
    assert_eq!(ok.status, 200);
    caller.ack(&mut d, &ok);
    assert!(callee.request("ACK", t).is_some());
    (caller, callee, d, inv)
}

fn sdp_direction(body: &[u8]) -> String {
    pbx_sip::sdp::Sdp::parse(body).unwrap().audio_direction().as_str().to_string()
}

#[test]
fn hold_and_resume_reach_the_other_leg() {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.settle();
    let t = Duration::from_secs(5);
    let (mut caller, mut callee, mut d, _inv) = established_call(&pbx);
    for (offer, relayed, answer) in [("sendonly", "sendonly", "recvonly"), ("sendrecv", "sendrecv", "sendrecv")] {
        let sdp = caller.sdp(offer);
        caller.in_dialog(&mut d, "INVITE", Some(&sdp));
        let re = callee.request("INVITE", t).expect("re-INVITE reaches the callee");
        assert_eq!(sdp_direction(&re.body), relayed);
        assert!(re.parsed_to().unwrap().tag().is_some(), "sent within the callee's dialog");
        let ans = callee.sdp(answer);
        callee.reply(&re, 200, "cal1ee", Some(&ans));
        assert!(callee.request("ACK", t).is_some(), "the PBX acknowledges the callee's answer");
        let ok = caller.final_response(&d.call_id, "INVITE", t).unwrap();
        assert_eq!(ok.status, 200);
        assert_eq!(sdp_direction(&ok.body), answer);
        caller.ack_seq(&d);
    }
    caller.in_dialog(&mut d, "BYE", None);
    assert_eq!(caller.final_response(&d.call_id, "BYE", t).unwrap().status, 200);
    assert!(callee.request("BYE", t).is_some());
}

#[test]
fn dead_call_is_ended_after_rtp_timeout() {
    let pbx = Pbx::start(Db::Sqlite, &[("PBX_RTP_TIMEOUT", "2")]);
    pbx.seed_acme();
    pbx.settle();
    let (mut caller, mut callee, d, _inv) = established_call(&pbx);
    // Nobody sends RTP: both legs get a BYE from the PBX.
    let t = Duration::from_secs(8);
    let bye_a = caller.request("BYE", t).expect("caller gets BYE");
    let bye_b = callee.request("BYE", t).expect("callee gets BYE");
    assert_eq!(bye_a.call_id(), d.call_id);
    caller.reply(&bye_a, 200, &d.local_tag, None);
    callee.reply(&bye_b, 200, "cal1ee", None);
    assert!(wait_for(Duration::from_secs(3), || call_log(&pbx).first().is_some_and(|r| !r["ended_at"].is_null())));
    let row = &call_log(&pbx)[0];
    assert_eq!(row["disposition"], "answered");
    assert_eq!(row["hangup_cause"], "RTP timeout");
    assert_eq!(row["hangup_side"], "system");
    assert_eq!(pbx.metric("pbx_active_calls"), 0.0);
}

fn kill9_closes_live_calls(db: Db) {
    let mut pbx = Pbx::start(db, &[]);
    pbx.seed_acme();
    pbx.settle();
    let (_caller, mut callee, _d, _inv) = established_call(&pbx);
    assert!(wait_for(Duration::from_secs(3), || call_log(&pbx).first().is_some_and(|r| !r["answered_at"].is_null())));
    std::thread::sleep(Duration::from_millis(1100));
    pbx.restart();
    let rows = call_log(&pbx);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["disposition"], "interrupted");
    assert!(rows[0]["talk_seconds"].as_i64().unwrap() >= 1);
    assert!(!rows[0]["ended_at"].is_null());
    // Registrations survived the restart: a call to 102 rings its phone again.
    let mut caller = Phone::new(pbx.sip, "101", "secret101", "127.0.0.1");
    let _d = caller.call("102");
    assert!(callee.request("INVITE", Duration::from_secs(5)).is_some(), "the restored binding is used");
}

#[test]
fn kill9_closes_live_calls_sqlite() {
    kill9_closes_live_calls(Db::Sqlite);
}

#[test]
fn kill9_closes_live_calls_postgres() {
    kill9_closes_live_calls(Db::Postgres(PgDb::create()));
}

/// A 16-bit mono 8 kHz WAV of a 440 Hz tone (baresip's microphone).
fn tone_wav(path: &std::path::Path, secs: u32) {
    let n = 8000 * secs;
    let mut data = Vec::with_capacity(n as usize * 2);
    for i in 0..n {
        let v = ((i as f64 * 440.0 * 2.0 * std::f64::consts::PI / 8000.0).sin() * 8000.0) as i16;
        data.extend_from_slice(&v.to_le_bytes());
    }
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(data.len() as u32).to_le_bytes());
    w.extend_from_slice(&data);
    std::fs::write(path, w).unwrap();
}

/// Mean absolute amplitude of the 16-bit samples of a WAV file.
fn wav_energy(path: &std::path::Path) -> (usize, f64) {
    let d = std::fs::read(path).unwrap();
    let samples: Vec<i16> = d[44.min(d.len())..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    let mean = samples.iter().map(|s| (*s as f64).abs()).sum::<f64>() / samples.len().max(1) as f64;
    (samples.len(), mean)
}

#[test]
fn baresip_registers_and_answers() {
    require_tool("baresip", "baresip");
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.settle();
    let conf = pbx.dir.path().join("baresip");
    std::fs::create_dir_all(&conf).unwrap();
    tone_wav(&conf.join("tone.wav"), 20);
    let port = free_port();
    std::fs::write(
        conf.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{port}\naudio_player aufile,{d}/unused.wav\naudio_source aufile,{d}/tone.wav\naudio_alert aufile,/dev/null\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule sndfile.so\nmodule_app account.so\nsnd_path {d}\n",
            d = conf.display()
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("accounts"),
        format!("<sip:103@acme.example>;auth_pass=secret103;outbound=\"sip:{}\";regint=300;answermode=auto;audio_codecs=PCMA/8000/1,PCMU/8000/1\n", pbx.sip),
    )
    .unwrap();
    let log = std::fs::File::create(conf.join("baresip.log")).unwrap();
    let mut baresip = std::process::Command::new("baresip")
        .args(["-f", &conf.display().to_string(), "-n", "127.0.0.1"])
        .current_dir(&conf)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let registered = wait_for(Duration::from_secs(10), || pbx.metric("pbx_registrations") == 1.0);
    let ok = registered && sipp_call(&pbx, "101", "secret101", "103", 3000);
    std::thread::sleep(Duration::from_millis(500));
    let _ = baresip.kill();
    let _ = baresip.wait();
    let blog = std::fs::read_to_string(conf.join("baresip.log")).unwrap_or_default();
    assert!(registered, "baresip did not register:\n{blog}");
    assert!(ok, "the call to baresip failed:\n{blog}\n{}", Sipp::logs(&pbx, "uac"));
    assert!(blog.contains("Call established"), "{blog}");
    // What baresip heard: the caller's audio through the PBX, seconds of it, not silence.
    let dec = std::fs::read_dir(&conf)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip's decoded-audio dump");
    let (samples, energy) = wav_energy(&dec);
    assert!(samples >= 8000 * 2, "baresip heard only {samples} samples");
    assert!(energy > 100.0, "baresip heard silence (mean amplitude {energy})");
    let rows = call_log(&pbx);
    assert_eq!(rows[0]["callee"], "103");
    assert_eq!(rows[0]["disposition"], "answered");
}

#[test]
fn tcp_phones_register_and_call() {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.settle();
    let callee = answering_phone(&pbx, "102", "secret102");
    let ok = Sipp::run(
        &pbx,
        "register.xml",
        free_port(),
        &[
            "-t",
            "t1",
            "-m",
            "1",
            "-au",
            "101",
            "-ap",
            "secret101",
            "-key",
            "domain",
            "acme.example",
            "-key",
            "user",
            "101",
            "-key",
            "contact_port",
            "5999",
            "-key",
            "expires",
            "60",
        ],
        Duration::from_secs(15),
    );
    assert!(ok, "REGISTER over TCP failed:\n{}", Sipp::logs(&pbx, "register"));
    let media = free_port().to_string();
    let ok = Sipp::run(
        &pbx,
        "uac.xml",
        free_port(),
        &[
            "-t",
            "t1",
            "-m",
            "1",
            "-au",
            "101",
            "-ap",
            "secret101",
            "-s",
            "102",
            "-d",
            "2000",
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
            &voice_pcap().display().to_string(),
        ],
        Duration::from_secs(30),
    );
    assert!(ok, "a call from a TCP phone failed:\n{}", Sipp::logs(&pbx, "uac"));
    assert_voice_arrived(&pbx, &callee.sink);
}

#[test]
fn tls_transport_answers() {
    require_tool("openssl", "openssl");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let st = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=pbx.test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(st.status.success());
    let tls_port = free_port();
    let pbx = Pbx::start(
        Db::Sqlite,
        &[
            ("PBX_SIP_TLS_LISTEN", &format!("127.0.0.1:{tls_port}")),
            ("PBX_TLS_CERT", &cert.display().to_string()),
            ("PBX_TLS_KEY", &key.display().to_string()),
        ],
    );
    pbx.seed_acme();
    pbx.settle();
    let msg = "REGISTER sip:acme.example SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5555;branch=z9hG4bKtls1\r\nMax-Forwards: 70\r\nFrom: <sip:101@acme.example>;tag=t1\r\nTo: <sip:101@acme.example>\r\nCall-ID: tls-reg-1\r\nCSeq: 1 REGISTER\r\nContact: <sips:101@127.0.0.1:5555>\r\nContent-Length: 0\r\n\r\n";
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &format!("127.0.0.1:{tls_port}")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::{Read, Write};
    child.stdin.as_mut().unwrap().write_all(msg.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let _ = child.wait();
    assert!(out.starts_with("SIP/2.0 401 Unauthorized"), "over TLS got: {out:?}");
    assert!(out.contains("Call-ID: tls-reg-1"));
}
