//! Call queues against the real binary: callers from a SIPp carrier wait with music and
//! announcements and reach the one agent in arrival order as it frees up; a caller past
//! the maximum wait takes the timeout route while a paused agent is never offered the call;
//! a caller who presses 1 is called back, agent first, once the agent is free.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::time::{Duration, Instant};

const CARRIER_IP: &str = "127.0.0.53";
const DID: &str = "+74951234567";
const DID2: &str = "+74951234568";

fn set_scenario(pbx: &Pbx, number: &str, json: &str) {
    let f = pbx.dir.path().join(format!("q{}.json", rand_u32()));
    std::fs::write(&f, json).unwrap();
    pbx.cli_ok(&["scenario", "set", "acme", number, f.to_str().unwrap()]);
}

fn caller(pbx: &Pbx, scenario: &str, number: &str, sink: &RtpSink, extra: &[&str]) -> SippChild {
    let port = sink.port.to_string();
    let mut args = vec!["-m", "1", "-s", number, "-key", "to_number", number, "-key", "sink_port", &port];
    let mp = free_port().to_string();
    args.extend_from_slice(&["-mp", &mp]);
    args.extend_from_slice(extra);
    Sipp::spawn_from(pbx, CARRIER_IP, scenario, free_port(), &args)
}

fn agent(pbx: &Pbx, ext: &str, calls: u32) -> SippChild {
    let port = free_port();
    let c = Sipp::spawn(pbx, "uas.xml", port, &["-m", &calls.to_string(), "-d", "300", "-key", "sink_port", &free_port().to_string()]);
    assert!(Sipp::register(pbx, ext, &format!("secret{ext}"), free_port(), port, 300));
    c
}

fn status(pbx: &Pbx, q: &str) -> serde_json::Value {
    serde_json::from_str(&pbx.cli_ok(&["queue", "status", "acme", q, "--json"])).unwrap()
}

/// Waits (at most 10 s) until the queue's agent is busy and `waiting` callers wait.
fn wait_queue(pbx: &Pbx, q: &str, waiting: usize) -> bool {
    wait_for(Duration::from_secs(10), || {
        let st = status(pbx, q);
        st["agents"][0]["state"] == "busy" && st["callers"].as_array().is_some_and(|c| c.len() == waiting)
    })
}

#[test]
fn queue_order_music_timeout_pause_and_callback() {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.cli_ok(&["tenant", "balance", "acme", "100"]);
    pbx.cli_ok(&["trunk", "create", "carrier", "--host", &format!("{CARRIER_IP}:5060"), "--allow-ip", CARRIER_IP]);
    pbx.cli_ok(&["did", "add", "acme", DID, "--trunk", "carrier", "--main"]);
    pbx.cli_ok(&["did", "add", "acme", DID2, "--trunk", "carrier"]);
    pbx.cli_ok(&[
        "queue",
        "create",
        "acme",
        "300",
        "--strategy",
        "longest-idle",
        "--agents",
        "101",
        "--wrap-up",
        "1",
        "--announce-every",
        "10",
    ]);
    pbx.cli_ok(&["queue", "create", "acme", "301", "--strategy", "ring-all", "--agents", "102", "--max-wait", "5"]);
    pbx.cli_ok(&["queue", "pause", "acme", "301", "102"]);
    set_scenario(&pbx, DID, r#"{"start":"q","nodes":{"q":{"type":"queue","queue":"300","next":{"*":"bye"}},"bye":{"type":"hangup"}}}"#);
    set_scenario(
        &pbx,
        DID2,
        r#"{"start":"q","nodes":{"q":{"type":"queue","queue":"301","next":{"timeout":"closed","full":"bye"}},
        "closed":{"type":"play","prompts":["closed"],"extension_dialing":false,"next":{"done":"bye"}},"bye":{"type":"hangup"}}}"#,
    );
    pbx.settle();
    let agent101 = agent(&pbx, "101", 5);
    let paused102 = agent(&pbx, "102", 1);
    pbx.settle();

    // Three callers, each once the one before is in the queue; the agent takes them one by one.
    let sinks: Vec<RtpSink> = (0..3).map(|_| RtpSink::on(CARRIER_IP)).collect();
    let started = Instant::now();
    let mut callers = Vec::new();
    for (i, stay) in ["5000", "8000", "11000"].iter().enumerate() {
        callers.push(caller(&pbx, "carrier_wait.xml", DID, &sinks[i], &["-d", stay]));
        assert!(wait_queue(&pbx, "300", i), "caller {} did not reach the queue: {}", i + 1, status(&pbx, "300"));
    }
    // Meanwhile a caller to the queue whose only agent is paused waits out its maximum.
    let timeout_sink = RtpSink::on(CARRIER_IP);
    let timed_out = caller(&pbx, "carrier_closed.xml", DID2, &timeout_sink, &[]);
    assert!(wait_for(Duration::from_secs(10), || status(&pbx, "301")["callers"].as_array().is_some_and(|c| c.len() == 1)));
    let st = status(&pbx, "300");
    assert_eq!(st["callers"].as_array().unwrap().len(), 2, "{st}");
    assert_eq!(st["agents"][0]["state"], "busy", "{st}");
    let st1 = status(&pbx, "301");
    assert_eq!(st1["agents"][0]["state"], "paused", "{st1}");
    for (i, c) in callers.into_iter().enumerate() {
        assert!(c.wait(Duration::from_secs(30)), "caller {i} failed:\n{}", pbx.log());
    }
    assert!(started.elapsed() > Duration::from_secs(10));
    assert!(timed_out.wait(Duration::from_secs(20)), "the timed-out caller was not ended by the PBX:\n{}", pbx.log());
    let rows = call_log(&pbx);
    let queue_rows: Vec<&serde_json::Value> = rows.iter().filter(|r| r["callee"] == DID).collect();
    assert_eq!(queue_rows.len(), 3);
    let mut by_start: Vec<&&serde_json::Value> = queue_rows.iter().collect();
    by_start.sort_by_key(|r| r["started_at"].as_i64());
    let answered: Vec<i64> = by_start.iter().map(|r| r["answered_at"].as_i64().expect("every caller reached the agent")).collect();
    assert!(answered.windows(2).all(|w| w[0] < w[1]), "not delivered in arrival order: {answered:?}");
    for r in &by_start {
        assert_eq!(r["via"], "300");
    }
    // The later callers heard music and announcements while they waited.
    for (i, s) in sinks.iter().enumerate().skip(1) {
        assert!(s.packets().len() > 200, "caller {i} heard only {} packets", s.packets().len());
    }
    // Timeout route: the closed message, and the paused agent was never rung.
    let row = rows.iter().find(|r| r["callee"] == DID2).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&pbx.cli_ok(&["calls", "show", "acme", row["id"].as_str().unwrap(), "--json"])).unwrap();
    let tl = v["timeline"].as_array().unwrap();
    assert!(tl.iter().any(|e| e["kind"] == "queue" && e["detail"] == "waited too long"), "{tl:#?}");
    assert!(tl.iter().any(|e| e["kind"] == "play" && e["detail"] == "closed"), "{tl:#?}");
    let mut paused102 = paused102;
    assert!(paused102.0.try_wait().unwrap().is_none(), "the paused agent was offered a call");

    // Callback: the agent is busy with X; Y presses 1, hangs up, and is called back after X.
    let customer = Sipp::spawn_from(
        &pbx,
        CARRIER_IP,
        "uas_hangup.xml",
        5060,
        &["-m", "1", "-d", "1000", "-key", "sink_port", &free_port().to_string()],
    );
    let x_sink = RtpSink::on(CARRIER_IP);
    let x = caller(&pbx, "carrier_wait.xml", DID, &x_sink, &["-d", "6000"]);
    assert!(wait_queue(&pbx, "300", 0), "the agent did not take X: {}", status(&pbx, "300"));
    let y_sink = RtpSink::on(CARRIER_IP);
    let dtmf1 = "/usr/share/sip-tester/dtmf_2833_1.pcap";
    let y = caller(&pbx, "carrier_callback.xml", DID, &y_sink, &["-key", "dtmf1", dtmf1]);
    assert!(y.wait(Duration::from_secs(20)), "the caller asking for a callback was not let go:\n{}", pbx.log());
    let st = status(&pbx, "300");
    assert_eq!(st["callers"][0]["callback"], true, "{st}");
    assert!(x.wait(Duration::from_secs(20)));
    assert!(customer.wait(Duration::from_secs(30)), "the customer was not called back:\n{}", pbx.log());
    assert!(agent101.wait(Duration::from_secs(10)), "the agent did not take 5 calls");
    let rows = call_log(&pbx);
    let cb = rows.iter().find(|r| r["kind"] == "queue-callback").expect("a queue-callback row");
    assert_eq!(cb["callee"], "+79161234567");
    assert_eq!(cb["disposition"], "answered", "{cb}");
    assert_eq!(cb["via"], "300");

    // The queue reports tell the same story: 300 had five callers, four answered (one
    // each time the agent freed up) and one who asked for a callback; 301 one who waited
    // too long.
    let token = pbx.cli_ok(&["token", "create", "acme", "--role", "supervisor", "--label", "reports"]).trim().to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let req = ureq::http::Request::builder()
        .uri(format!("http://{}/api/v1/queue-reports?sl=600", pbx.http))
        .header("Authorization", format!("Bearer {token}"))
        .body(Vec::new())
        .unwrap();
    let mut r = agent.run(req).unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let report: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let q = |ext: &str| report["queues"].as_array().unwrap().iter().find(|q| q["queue"] == ext).cloned().unwrap_or_default();
    let (q300, q301) = (q("300"), q("301"));
    let figures = |q: &serde_json::Value, keys: &[&str]| keys.iter().map(|k| q[*k].as_i64().unwrap_or(-1)).collect::<Vec<_>>();
    assert_eq!(
        figures(&q300, &["entered", "answered", "answered_in_time", "callback", "abandoned", "timed_out"]),
        vec![5, 4, 4, 1, 0, 0],
        "{report}"
    );
    assert_eq!(figures(&q301, &["entered", "answered", "timed_out"]), vec![1, 0, 1], "{report}");
    assert!(q300["max_wait"].as_f64().unwrap() > 3.0, "the later callers waited: {report}");
    let agents = q300["agents"].as_array().unwrap();
    assert_eq!((agents[0]["ext"].as_str(), agents[0]["answered"].as_i64()), (Some("101"), Some(4)), "{report}");
}
