//! What offices expect beyond the basics, against the real binary with SIPp phones and a
//! SIPp carrier: the company's blacklist (set through the REST API) refuses a caller with
//! busy before anything rings and keeps the attempt in the call log; "do not disturb" turned
//! on from a phone (`*78`) is seen by the API, and one set through the API makes a ring group
//! skip the user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const CARRIER_IP: &str = "127.0.0.51";
const DID: &str = "+74951234100";

/// Calls the REST API with a supervisor's bearer token; (status, JSON body).
fn api(pbx: &Pbx, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", pbx.http))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
        .unwrap();
    let mut r = agent.run(req).unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn office_pbx() -> (Pbx, String) {
    let pbx = Pbx::start(Db::Sqlite, &[("PBX_RING_TIMEOUT", "20")]);
    pbx.seed_acme();
    pbx.cli_ok(&["user", "create", "acme", "104", "--password", "secret104", "--name", "Caller"]);
    pbx.cli_ok(&["trunk", "create", "ipcarrier", "--host", &format!("{CARRIER_IP}:5060"), "--allow-ip", &format!("{CARRIER_IP}/32")]);
    pbx.cli_ok(&["did", "add", "acme", DID, "--trunk", "ipcarrier"]);
    let token = pbx.cli_ok(&["token", "create", "acme", "--role", "supervisor", "--label", "office"]).trim().to_string();
    pbx.settle();
    (pbx, token)
}

/// A carrier's call from `caller` that the PBX must refuse with 486.
fn refused(pbx: &Pbx, caller: &str) -> bool {
    let args = ["-m", "1", "-s", DID, "-key", "caller", caller, "-mp", &free_port().to_string()];
    Sipp::run_from(pbx, CARRIER_IP, "carrier_refused.xml", free_port(), &args, Duration::from_secs(20))
}

#[test]
fn a_blacklisted_caller_hears_busy_and_nothing_rings() {
    require_tool("sipp", "sip-tester");
    let (pbx, token) = office_pbx();
    // Written the way a person would; kept in E.164.
    let (status, entry) = api(&pbx, &token, "POST", "/api/v1/blocklist", Some(json!({"number": "8 916 123-45-67", "note": "spam"})));
    assert_eq!(status, 201, "{entry}");
    assert_eq!(entry["pattern"], "+79161234567");
    let (status, bad) = api(&pbx, &token, "POST", "/api/v1/blocklist", Some(json!({"number": "8495", "prefix": true})));
    assert_eq!((status, bad["code"].as_str()), (400, Some("bad_block_prefix")), "{bad}");
    pbx.settle();
    // A phone that would answer: it must not be rung.
    let sink = free_port().to_string();
    let p101 = free_port();
    let phone = Sipp::spawn(&pbx, "uas.xml", p101, &["-m", "1", "-d", "200", "-key", "sink_port", &sink]);
    assert!(Sipp::register(&pbx, "101", "secret101", free_port(), p101, 300));
    assert!(refused(&pbx, "+79161234567"), "{}\n{}", Sipp::logs(&pbx, "carrier_refused"), pbx.log());
    let rows = call_log(&pbx);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["caller_number"].as_str(), rows[0]["hangup_cause"].as_str()), (Some("+79161234567"), Some("486 blacklisted")));
    // Off the list, the same caller rings the company again.
    let (status, _) = api(&pbx, &token, "DELETE", "/api/v1/blocklist/%2B79161234567", None);
    assert_eq!(status, 204);
    pbx.settle();
    let pcap = voice_pcap().display().to_string();
    let args = ["-m", "1", "-s", DID, "-key", "to_number", DID, "-d", "300", "-mp", &free_port().to_string(), "-key", "pcap", &pcap];
    assert!(
        Sipp::run_from(&pbx, CARRIER_IP, "carrier_uac.xml", free_port(), &args, Duration::from_secs(20)),
        "{}",
        Sipp::logs(&pbx, "carrier_uac")
    );
    assert!(phone.wait(Duration::from_secs(10)), "101 was rung once the number was off the list");
    // Hidden numbers: refused once the company says so.
    let (status, _) = api(&pbx, &token, "PUT", "/api/v1/blocklist/settings", Some(json!({"anonymous": true, "action": "busy"})));
    assert_eq!(status, 200);
    pbx.settle();
    assert!(refused(&pbx, "anonymous"), "{}", Sipp::logs(&pbx, "carrier_refused"));
}

#[test]
fn do_not_disturb_from_the_phone_and_the_api_makes_a_group_skip_the_user() {
    require_tool("sipp", "sip-tester");
    let (pbx, token) = office_pbx();
    pbx.cli_ok(&["group", "create", "acme", "200", "--strategy", "simultaneous", "--members", "101,102"]);
    // 103 dials *78 from its phone: the API then shows it in "do not disturb"; *79 undoes it.
    let code = |c: &str| {
        let args = ["-m", "1", "-au", "103", "-ap", "secret103", "-s", c, "-key", "domain", "acme.example", "-key", "user", "103"];
        Sipp::run(&pbx, "uac_code.xml", free_port(), &args, Duration::from_secs(30))
    };
    let dnd_of = |ext: &str| api(&pbx, &token, "GET", &format!("/api/v1/users/{ext}"), None).1["dnd"].as_bool();
    assert!(code("*78"), "{}\n{}", Sipp::logs(&pbx, "uac_code"), pbx.log());
    assert!(wait_for(Duration::from_secs(10), || dnd_of("103") == Some(true)), "*78 did not turn do not disturb on");
    assert!(code("*79"), "{}", Sipp::logs(&pbx, "uac_code"));
    assert!(wait_for(Duration::from_secs(10), || dnd_of("103") == Some(false)), "*79 did not turn it off");

    // 101 in "do not disturb" through the API: a call to the group rings 102 only.
    let (status, body) = api(&pbx, &token, "PUT", "/api/v1/users/101/dnd", Some(json!({"on": true})));
    assert_eq!((status, body["on"].as_bool()), (200, Some(true)), "{body}");
    pbx.settle();
    let p102 = free_port();
    let answer = Sipp::spawn(&pbx, "uas.xml", p102, &["-m", "1", "-d", "200", "-key", "sink_port", &free_port().to_string()]);
    assert!(Sipp::register(&pbx, "102", "secret102", free_port(), p102, 300));
    let p101 = free_port();
    let _never = Sipp::spawn(&pbx, "uas_ring.xml", p101, &["-m", "1"]);
    assert!(Sipp::register(&pbx, "101", "secret101", free_port(), p101, 300));
    assert!(sipp_call(&pbx, "104", "secret104", "200", 300), "{}", pbx.log());
    assert!(answer.wait(Duration::from_secs(10)), "102 answered the group's call");
    let rows = call_log(&pbx);
    let id = rows[0]["id"].as_str().unwrap();
    let detail: Value = serde_json::from_str(&pbx.cli_ok(&["calls", "show", "acme", id, "--json"])).unwrap();
    let rung: Vec<&str> =
        detail["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "ring").filter_map(|e| e["detail"].as_str()).collect();
    assert_eq!(rung, vec!["102"], "the group skipped 101: {detail}");
    let legs: Vec<&str> = detail["legs"].as_array().unwrap().iter().filter_map(|l| l["ext"].as_str()).collect();
    assert_eq!(legs, vec!["102"], "{detail}");
}

#[test]
fn a_missed_caller_stays_on_the_list_until_a_call_with_them_is_answered() {
    require_tool("sipp", "sip-tester");
    let (pbx, token) = office_pbx();
    // The only phone is busy: the caller is missed.
    let p101 = free_port();
    let busy = Sipp::spawn(&pbx, "uas_busy.xml", p101, &["-m", "1"]);
    assert!(Sipp::register(&pbx, "101", "secret101", free_port(), p101, 300));
    assert!(refused(&pbx, "+79161234567"), "{}\n{}", Sipp::logs(&pbx, "carrier_refused"), pbx.log());
    assert!(busy.wait(Duration::from_secs(10)));
    let (status, list) = api(&pbx, &token, "GET", "/api/v1/missed", None);
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["scope"], "company");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!((items[0]["number"].as_str(), items[0]["attempts"].as_i64()), (Some("+79161234567"), Some(1)));
    let (status, bad) = api(&pbx, &token, "GET", "/api/v1/missed?days=0", None);
    assert_eq!((status, bad["code"].as_str()), (400, Some("out_of_range")), "{bad}");
    // They call again and 102 answers: the list clears itself.
    let p102 = free_port();
    let answer = Sipp::spawn(&pbx, "uas.xml", p102, &["-m", "1", "-d", "200", "-key", "sink_port", &free_port().to_string()]);
    assert!(Sipp::register(&pbx, "102", "secret102", free_port(), p102, 300));
    let pcap = voice_pcap().display().to_string();
    let args = ["-m", "1", "-s", DID, "-key", "to_number", DID, "-d", "300", "-mp", &free_port().to_string(), "-key", "pcap", &pcap];
    assert!(
        Sipp::run_from(&pbx, CARRIER_IP, "carrier_uac.xml", free_port(), &args, Duration::from_secs(30)),
        "{}\n{}",
        Sipp::logs(&pbx, "carrier_uac"),
        pbx.log()
    );
    assert!(answer.wait(Duration::from_secs(10)));
    assert!(
        wait_for(Duration::from_secs(10), || api(&pbx, &token, "GET", "/api/v1/missed", None).1["items"]
            .as_array()
            .is_some_and(|a| a.is_empty())),
        "the caller was reached: {}",
        api(&pbx, &token, "GET", "/api/v1/missed", None).1
    );
}

#[test]
fn a_busy_lamp_key_sees_a_colleague_ring_talk_and_hang_up() {
    require_tool("sipp", "sip-tester");
    let (pbx, token) = office_pbx();
    let p102 = free_port();
    let callee = Sipp::spawn(&pbx, "uas.xml", p102, &["-m", "1", "-d", "1500", "-key", "sink_port", &free_port().to_string()]);
    assert!(Sipp::register(&pbx, "102", "secret102", free_port(), p102, 300));
    // 101's lamp key for 102.
    let args = ["-m", "1", "-au", "101", "-ap", "secret101", "-s", "102", "-key", "domain", "acme.example", "-key", "user", "101"];
    let lamp = Sipp::spawn(&pbx, "subscribe_dialog.xml", free_port(), &args);
    assert!(
        wait_for(Duration::from_secs(10), || pbx.log().contains("busy lamp subscription")),
        "the subscription was not made:\n{}\n{}",
        Sipp::logs(&pbx, "subscribe_dialog"),
        pbx.log()
    );
    // The cabinet's colleagues page sees the same: 102 free, 103 without a phone.
    let state_of = |ext: &str| {
        let (_, list) = api(&pbx, &token, "GET", "/api/v1/presence", None);
        list["users"].as_array().and_then(|u| u.iter().find(|x| x["ext"] == ext).and_then(|x| x["state"].as_str().map(str::to_string)))
    };
    assert!(wait_for(Duration::from_secs(10), || state_of("102").as_deref() == Some("idle")), "{:?}", state_of("102"));
    assert_eq!(state_of("103").as_deref(), Some("offline"));
    let call = sipp_caller(&pbx, "104", "secret104", "102", 3000);
    assert!(wait_for(Duration::from_secs(10), || state_of("102").as_deref() == Some("talking")), "{:?}", state_of("102"));
    assert!(call.wait(Duration::from_secs(20)), "{}", pbx.log());
    assert!(callee.wait(Duration::from_secs(10)));
    assert!(
        lamp.wait(Duration::from_secs(20)),
        "the lamp did not go idle → early → confirmed → idle → ended:\n{}",
        Sipp::logs(&pbx, "subscribe_dialog")
    );
}

#[test]
fn a_colleague_picks_up_a_ringing_call_with_star_star_and_the_extension() {
    require_tool("sipp", "sip-tester");
    let (pbx, token) = office_pbx();
    let p102 = free_port();
    let ringing = Sipp::spawn(&pbx, "uas_ring.xml", p102, &["-m", "1"]);
    assert!(Sipp::register(&pbx, "102", "secret102", free_port(), p102, 300));
    pbx.settle();
    // A customer calls the company's number; only 102's phone is registered, and rings.
    let sink = RtpSink::on(CARRIER_IP);
    let args =
        ["-m", "1", "-s", DID, "-key", "to_number", DID, "-key", "sink_port", &sink.port.to_string(), "-mp", &free_port().to_string()];
    let customer = Sipp::spawn_from(&pbx, CARRIER_IP, "carrier_closed.xml", free_port(), &args);
    let state_of = |ext: &str| {
        let (_, list) = api(&pbx, &token, "GET", "/api/v1/presence", None);
        list["users"].as_array().and_then(|u| u.iter().find(|x| x["ext"] == ext).and_then(|x| x["state"].as_str().map(str::to_string)))
    };
    assert!(wait_for(Duration::from_secs(10), || state_of("102").as_deref() == Some("ringing")), "{:?}\n{}", state_of("102"), pbx.log());
    // 101 dials **102 from a phone that is not even registered: it talks a second and hangs up.
    assert!(sipp_call(&pbx, "101", "secret101", "**102", 1000), "the pickup failed:\n{}", pbx.log());
    assert!(ringing.wait(Duration::from_secs(10)), "102 did not stop ringing");
    assert!(
        customer.wait(Duration::from_secs(10)),
        "the customer was not answered and then hung up on:\n{}",
        Sipp::logs(&pbx, "carrier_closed")
    );
    assert!(sink.packets().len() > 20, "the customer heard the picker: {} packets", sink.packets().len());
    let rows = call_log(&pbx);
    let users: Vec<Value> = serde_json::from_str(&pbx.cli_ok(&["user", "list", "acme", "--json"])).unwrap();
    let id101 = users.iter().find(|u| u["ext"] == "101").and_then(|u| u["id"].as_i64());
    let row = rows.iter().find(|r| r["callee"] == DID).expect("the customer's call");
    assert_eq!((row["disposition"].as_str(), row["callee_user_id"].as_i64()), (Some("answered"), id101), "{row}");
}
