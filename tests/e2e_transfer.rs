//! Transfer between three SIP user agents (SIPp) through the real binary: blind (REFER),
//! attended (REFER with Replaces) and by keys (## 103 #); afterwards the caller's voice
//! reaches the new party, and the call log keeps one row for the call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::collections::HashSet;
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

/// 101 calls 102 and talks (the voice pcap) for `ms`.
fn caller_101(pbx: &Pbx, ms: u32) -> SippChild {
    let args = [
        "-m".to_string(),
        "1".into(),
        "-au".into(),
        "101".into(),
        "-ap".into(),
        "secret101".into(),
        "-s".into(),
        "102".into(),
        "-d".into(),
        ms.to_string(),
        "-mp".into(),
        free_port().to_string(),
        "-key".into(),
        "domain".into(),
        "acme.example".into(),
        "-key".into(),
        "user".into(),
        "101".into(),
        "-key".into(),
        "pcap".into(),
        voice_pcap().display().to_string(),
    ];
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    Sipp::spawn(pbx, "uac.xml", free_port(), &a)
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
    let sink = RtpSink::new();
    let p103 = free_port();
    let target = Sipp::spawn(&pbx, "uas.xml", p103, &["-m", "1", "-d", "300", "-key", "sink_port", &sink.port.to_string()]);
    std::thread::sleep(Duration::from_millis(300));
    register(&pbx, "102", p102);
    register(&pbx, "103", p103);
    let caller = caller_101(&pbx, 7000);
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
    std::thread::sleep(Duration::from_millis(300));
    register(&pbx, "102", p102);
    // Call 1: 101 → 102 (talks for 8 s). Call 2, the consultation: 103 → 102.
    let caller = caller_101(&pbx, 8000);
    std::thread::sleep(Duration::from_millis(700));
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
    let keys = pbx.dir.path().join("keys.pcap");
    common::audio::write_rtp_pcap_ts(&keys, &common::audio::rfc4733_packets("##103#"));
    let p102 = free_port();
    let mp = free_port().to_string();
    let sink102 = free_port().to_string();
    let a = ["-m", "1", "-d", "200", "-key", "sink_port", &sink102, "-key", "keys", keys.to_str().unwrap(), "-mp", &mp];
    let transferor = Sipp::spawn(&pbx, "uas_keys.xml", p102, &a);
    let sink = RtpSink::new();
    let p103 = free_port();
    let target = Sipp::spawn(&pbx, "uas.xml", p103, &["-m", "1", "-d", "300", "-key", "sink_port", &sink.port.to_string()]);
    std::thread::sleep(Duration::from_millis(300));
    register(&pbx, "102", p102);
    register(&pbx, "103", p103);
    let caller = caller_101(&pbx, 9000);
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
