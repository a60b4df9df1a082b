//! Calling features against the real binary with SIPp phones: ring groups (simultaneous,
//! random, sequential, round-robin), call forwarding (always, busy, no answer, unreachable,
//! loops), and who was counted as missed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::time::Duration;

fn features_pbx() -> Pbx {
    let pbx = Pbx::start(Db::Sqlite, &[("PBX_RING_TIMEOUT", "20")]);
    pbx.seed_acme();
    pbx.cli_ok(&["user", "create", "acme", "104", "--password", "secret104", "--name", "Caller"]);
    pbx.settle();
    pbx
}

/// A SIPp phone for `ext` running `scenario` for up to `calls` calls.
fn phone(pbx: &Pbx, ext: &str, scenario: &str, calls: u32) -> SippChild {
    let port = free_port();
    let sink = free_port().to_string();
    let child = Sipp::spawn(pbx, scenario, port, &["-m", &calls.to_string(), "-d", "200", "-key", "sink_port", &sink]);
    assert!(
        Sipp::register(pbx, ext, &format!("secret{ext}"), free_port(), port, 300),
        "{ext} did not register: {}",
        Sipp::logs(pbx, "register")
    );
    child
}

/// 104 calls `to` `calls` times (one at a time); true if all were answered.
fn call_from_104(pbx: &Pbx, to: &str, calls: u32) -> bool {
    Sipp::run(
        pbx,
        "uac.xml",
        free_port(),
        &[
            "-m",
            &calls.to_string(),
            "-l",
            "1",
            "-au",
            "104",
            "-ap",
            "secret104",
            "-s",
            to,
            "-d",
            "100",
            "-mp",
            &free_port().to_string(),
            "-key",
            "domain",
            "acme.example",
            "-key",
            "user",
            "104",
            "-key",
            "pcap",
            &voice_pcap().display().to_string(),
        ],
        Duration::from_secs(120),
    )
}

fn ext_of(pbx: &Pbx) -> std::collections::HashMap<i64, String> {
    let users: Vec<serde_json::Value> = serde_json::from_str(&pbx.cli_ok(&["user", "list", "acme", "--json"])).unwrap();
    users.iter().map(|u| (u["id"].as_i64().unwrap(), u["ext"].as_str().unwrap().to_string())).collect()
}

fn show(pbx: &Pbx, id: &str) -> serde_json::Value {
    serde_json::from_str(&pbx.cli_ok(&["calls", "show", "acme", id, "--json"])).unwrap()
}

fn ring_order(v: &serde_json::Value) -> Vec<String> {
    v["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "ring").map(|e| e["detail"].as_str().unwrap().to_string()).collect()
}

#[test]
fn simultaneous_group_rings_everyone_and_cancels_the_others() {
    require_tool("sipp", "sip-tester");
    let pbx = features_pbx();
    pbx.cli_ok(&["group", "create", "acme", "200", "--strategy", "simultaneous", "--members", "101,102,103"]);
    let a = phone(&pbx, "101", "uas.xml", 1);
    let b = phone(&pbx, "102", "uas_ring.xml", 1);
    let c = phone(&pbx, "103", "uas_ring.xml", 1);
    pbx.settle();
    assert!(call_from_104(&pbx, "200", 1), "{}", pbx.log());
    assert!(a.wait(Duration::from_secs(5)), "101 did not answer");
    assert!(b.wait(Duration::from_secs(5)), "102 was not rung and cancelled");
    assert!(c.wait(Duration::from_secs(5)), "103 was not rung and cancelled");
    let rows = call_log(&pbx);
    assert_eq!(rows[0]["via"], "200");
    assert_eq!(ext_of(&pbx)[&rows[0]["callee_user_id"].as_i64().unwrap()], "101");
    let legs = show(&pbx, rows[0]["id"].as_str().unwrap())["legs"].clone();
    let mut legs: Vec<(String, String)> = legs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["ext"].as_str().unwrap().to_string(), l["outcome"].as_str().unwrap().to_string()))
        .collect();
    legs.sort();
    assert_eq!(legs, vec![("101".into(), "answered".into()), ("102".into(), "elsewhere".into()), ("103".into(), "elsewhere".into())]);
}

#[test]
fn random_group_rings_everyone_first_fairly() {
    require_tool("sipp", "sip-tester");
    let pbx = features_pbx();
    pbx.cli_ok(&["group", "create", "acme", "200", "--strategy", "random", "--members", "101,102,103", "--ring-seconds", "10"]);
    let _phones: Vec<SippChild> = ["101", "102", "103"].iter().map(|e| phone(&pbx, e, "uas.xml", 60)).collect();
    pbx.settle();
    assert!(call_from_104(&pbx, "200", 60), "{}", pbx.log());
    let ids = ext_of(&pbx);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&pbx.cli_ok(&["calls", "list", "acme", "--limit", "100", "--json"])).unwrap();
    assert_eq!(rows.len(), 60);
    let mut first: std::collections::HashMap<String, u32> = Default::default();
    for r in &rows {
        assert_eq!(r["disposition"], "answered");
        // Everyone answers at once, so the member rung first is the one who answered.
        *first.entry(ids[&r["callee_user_id"].as_i64().unwrap()].clone()).or_default() += 1;
    }
    for ext in ["101", "102", "103"] {
        let n = first.get(ext).copied().unwrap_or(0);
        assert!((1..=40).contains(&n), "{ext} was rung first {n} times of 60: {first:?}");
    }
}

#[test]
fn sequential_group_keeps_its_order_and_round_robin_rotates() {
    require_tool("sipp", "sip-tester");
    let pbx = features_pbx();
    pbx.cli_ok(&["group", "create", "acme", "200", "--strategy", "sequential", "--members", "101,102,103", "--ring-seconds", "3"]);
    let a = phone(&pbx, "101", "uas_ring.xml", 1);
    let b = phone(&pbx, "102", "uas_ring.xml", 1);
    let _c = phone(&pbx, "103", "uas.xml", 1);
    pbx.settle();
    assert!(call_from_104(&pbx, "200", 1), "{}", pbx.log());
    assert!(a.wait(Duration::from_secs(5)) && b.wait(Duration::from_secs(5)), "101 and 102 were not rung and cancelled in turn");
    let rows = call_log(&pbx);
    let v = show(&pbx, rows[0]["id"].as_str().unwrap());
    assert_eq!(ring_order(&v), vec!["101", "102", "103"]);
    assert_eq!(ext_of(&pbx)[&rows[0]["callee_user_id"].as_i64().unwrap()], "103");
    // Round-robin: each call starts after the member who answered the previous one.
    pbx.cli_ok(&["group", "create", "acme", "201", "--strategy", "round-robin", "--members", "101,102,103", "--ring-seconds", "5"]);
    let _phones: Vec<SippChild> = ["101", "102", "103"].iter().map(|e| phone(&pbx, e, "uas.xml", 3)).collect();
    pbx.settle();
    assert!(call_from_104(&pbx, "201", 3), "{}", pbx.log());
    let ids = ext_of(&pbx);
    let rows = call_log(&pbx);
    let answered: Vec<String> = rows[..3].iter().rev().map(|r| ids[&r["callee_user_id"].as_i64().unwrap()].clone()).collect();
    assert_eq!(answered, vec!["101", "102", "103"]);
}

#[test]
fn a_group_nobody_answers_counts_as_missed_for_everyone_rung() {
    require_tool("sipp", "sip-tester");
    let pbx = features_pbx();
    pbx.cli_ok(&["group", "create", "acme", "200", "--strategy", "simultaneous", "--members", "101,102,103", "--timeout", "4"]);
    let a = phone(&pbx, "101", "uas_ring.xml", 1);
    let b = phone(&pbx, "102", "uas_ring.xml", 1);
    // 103 is not registered: skipped.
    pbx.settle();
    assert!(!call_from_104(&pbx, "200", 1));
    assert!(a.wait(Duration::from_secs(5)) && b.wait(Duration::from_secs(5)));
    let rows = call_log(&pbx);
    assert_eq!(rows[0]["disposition"], "missed");
    let legs = show(&pbx, rows[0]["id"].as_str().unwrap())["legs"].clone();
    let mut legs: Vec<(String, String)> = legs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["ext"].as_str().unwrap().to_string(), l["outcome"].as_str().unwrap().to_string()))
        .collect();
    legs.sort();
    assert_eq!(legs, vec![("101".into(), "missed".into()), ("102".into(), "missed".into())]);
}

#[test]
fn forwarding_always_busy_no_answer_unreachable_and_loops() {
    require_tool("sipp", "sip-tester");
    let pbx = features_pbx();
    let cases: [(&[&str], &str, &str); 4] = [
        (&["--always", "102"], "uas_ring.xml", "always"),
        (&["--busy", "102"], "uas_busy.xml", "busy"),
        (&["--no-answer", "102", "--after", "3"], "uas_ring.xml", "no answer"),
        (&["--unreachable", "102"], "", "unreachable"),
    ];
    for (i, (flags, p101, why)) in cases.iter().enumerate() {
        let mut args = vec!["user", "forward", "acme", "101", "--off"];
        args.extend_from_slice(flags);
        pbx.cli_ok(&args);
        // 101's phone (not registered at all for "unreachable"; it never rings for "always").
        let port101 = free_port();
        let _p101 = (!p101.is_empty()).then(|| {
            let c = Sipp::spawn(&pbx, p101, port101, &["-m", "1"]);
            assert!(Sipp::register(&pbx, "101", "secret101", free_port(), port101, 60));
            c
        });
        if p101.is_empty() {
            // Unregister 101 (expires 0 with the contact of the previous case).
            let _ = Sipp::register(&pbx, "101", "secret101", free_port(), port101, 0);
        }
        let p102 = phone(&pbx, "102", "uas.xml", 1);
        pbx.settle();
        assert!(call_from_104(&pbx, "101", 1), "{why}: {}", pbx.log());
        assert!(p102.wait(Duration::from_secs(5)), "{why}: 102 did not answer");
        let rows = call_log(&pbx);
        assert_eq!(rows.len(), i + 1);
        assert_eq!(rows[0]["forwarded_from"], "101", "{why}");
        assert_eq!(ext_of(&pbx)[&rows[0]["callee_user_id"].as_i64().unwrap()], "102", "{why}");
        let v = show(&pbx, rows[0]["id"].as_str().unwrap());
        let fwd = v["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "forward").map(|e| e["detail"].clone());
        assert_eq!(fwd, Some(serde_json::json!(format!("101 → 102 ({why})"))), "{why}: {v}");
        // Unregister 101's phone for the next case.
        let _ = Sipp::register(&pbx, "101", "secret101", free_port(), port101, 0);
    }
    // A loop: 101 → 102 → 101. The chain stops at the user where it would repeat.
    pbx.cli_ok(&["user", "forward", "acme", "101", "--off", "--always", "102"]);
    pbx.cli_ok(&["user", "forward", "acme", "102", "--off", "--always", "101"]);
    let p101 = phone(&pbx, "101", "uas.xml", 1);
    pbx.settle();
    assert!(call_from_104(&pbx, "101", 1), "{}", pbx.log());
    assert!(p101.wait(Duration::from_secs(5)));
    assert!(pbx.http_get("/healthz").is_some());
    // Bad targets are refused when set.
    let out = pbx.cli(&["user", "forward", "acme", "101", "--always", "999"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("999 is not an extension of acme"));
}
