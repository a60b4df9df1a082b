//! City numbers and carriers against the real binary: an IP trunk's calls to a DID ring the
//! tenant's phones whatever form the carrier writes the number in; a registration trunk
//! carries an extension's outbound call with the tenant's DID and the trunk's credentials;
//! suspended and unpaid tenants; refusals that do not reveal which numbers exist.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::phone::Phone;
use common::*;
use pbx_sip::HeaderName;
use std::time::Duration;

const CARRIER_IP: &str = "127.0.0.50";

fn with_ip_trunk(pbx: &Pbx) {
    pbx.seed_acme();
    pbx.cli_ok(&["trunk", "create", "ipcarrier", "--host", &format!("{CARRIER_IP}:5060"), "--allow-ip", &format!("{CARRIER_IP}/32")]);
    pbx.cli_ok(&["did", "add", "acme", "84951234000", "--trunk", "ipcarrier"]);
    pbx.cli_ok(&["tenant", "balance", "acme", "100"]);
    pbx.settle();
}

/// A call from the carrier to `ruri` (its To naming `to`) that sends voice for `talk_ms`.
fn carrier_call(pbx: &Pbx, ruri: &str, to: &str, talk_ms: u32) -> bool {
    let (talk, media) = (talk_ms.to_string(), free_port().to_string());
    let pcap = voice_pcap().display().to_string();
    let args = ["-m", "1", "-s", ruri, "-key", "to_number", to, "-d", &talk, "-mp", &media, "-key", "pcap", &pcap];
    Sipp::run_from(pbx, CARRIER_IP, "carrier_uac.xml", free_port(), &args, Duration::from_secs(20))
}

#[test]
fn carrier_calls_to_a_did_ring_the_tenant_in_any_number_form() {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[]);
    with_ip_trunk(&pbx);
    let dids: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["did", "list", "acme", "--json"])).unwrap();
    assert_eq!(dids[0]["number"], "+74951234000", "stored in E.164");
    assert_eq!(dids[0]["is_main"], true);
    for (i, (ruri, to)) in
        [("84951234000", "84951234000"), ("+74951234000", "+74951234000"), ("carrier-trunk", "4951234000")].iter().enumerate()
    {
        // 101 answers, 102 rings and is cancelled.
        let sink = RtpSink::new();
        let p101 = free_port();
        let p102 = free_port();
        let a = Sipp::spawn(&pbx, "uas.xml", p101, &["-m", "1", "-d", "500", "-key", "sink_port", &sink.port.to_string()]);
        let b = Sipp::spawn(&pbx, "uas_ring.xml", p102, &["-m", "1"]);
        assert!(Sipp::register(&pbx, "101", "secret101", free_port(), p101, 300));
        assert!(Sipp::register(&pbx, "102", "secret102", free_port(), p102, 300));
        let ok = carrier_call(&pbx, ruri, to, 1500);
        assert!(ok, "carrier call #{i} ({ruri} / {to}) failed:\n{}\n{}", Sipp::logs(&pbx, "carrier_uac"), pbx.log());
        assert!(a.wait(Duration::from_secs(5)), "101 did not complete its call");
        assert!(b.wait(Duration::from_secs(5)), "102 was not rung and cancelled");
        let logs = Sipp::logs(&pbx, "uas");
        assert!(logs.matches("INVITE-FROM From: \"Pstn Caller\" <sip:+79161234567@acme.example>").count() >= 2 * (i + 1), "{logs}");
        assert!(wait_for(Duration::from_secs(3), || sink.packets().len() > 10), "no RTP from the carrier reached 101");
        // The phones are gone: their bindings go too, so the next round rings only its own
        // phones (a port of this round may be handed out again to another process).
        assert!(Sipp::register(&pbx, "101", "secret101", free_port(), p101, 0));
        assert!(Sipp::register(&pbx, "102", "secret102", free_port(), p102, 0));
    }
    let rows = call_log(&pbx);
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r["direction"], "inbound");
        assert_eq!(r["did"], "+74951234000");
        assert_eq!(r["trunk"], "ipcarrier");
        assert_eq!(r["caller_number"], "+79161234567");
        assert_eq!(r["disposition"], "answered");
    }

    // The phone book names the caller on the phones (ahead of the carrier's name) and in
    // the call log, as soon as the entry is saved.
    pbx.cli_ok(&["contact", "set", "acme", "8 916 123-45-67", "Ольга Смирнова", "--company", "ООО Ромашка"]);
    pbx.settle();
    let sink = RtpSink::new();
    let p101 = free_port();
    let a = Sipp::spawn(&pbx, "uas.xml", p101, &["-m", "1", "-d", "500", "-key", "sink_port", &sink.port.to_string()]);
    assert!(Sipp::register(&pbx, "101", "secret101", free_port(), p101, 300));
    let ok = carrier_call(&pbx, "84951234000", "84951234000", 500);
    assert!(ok, "the carrier call failed:\n{}\n{}", Sipp::logs(&pbx, "carrier_uac"), pbx.log());
    assert!(a.wait(Duration::from_secs(5)), "101 did not complete its call");
    let logs = Sipp::logs(&pbx, "uas");
    assert!(logs.contains("INVITE-FROM From: \"Ольга Смирнова\" <sip:+79161234567@acme.example>"), "{logs}");
    let rows = call_log(&pbx);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().any(|r| r["caller_name"] == "Ольга Смирнова"), "{rows:?}");
}

#[test]
fn extension_calls_out_through_a_registration_trunk() {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    let sink = RtpSink::on("127.0.0.60");
    let carrier_port = free_port();
    let carrier = Sipp::spawn_from(
        &pbx,
        "127.0.0.60",
        "carrier_registrar.xml",
        carrier_port,
        &["-m", "2", "-key", "sink_ip", "127.0.0.60", "-key", "sink_port", &sink.port.to_string()],
    );
    pbx.cli_ok(&[
        "trunk",
        "create",
        "carrier1",
        "--host",
        &format!("127.0.0.60:{carrier_port}"),
        "--username",
        "trunkuser",
        "--password",
        "trunkpass",
        "--register",
    ]);
    pbx.cli_ok(&["did", "add", "acme", "+7 495 123-45-67", "--trunk", "carrier1"]);
    pbx.cli_ok(&["tenant", "balance", "acme", "50.5"]);
    // Moscow at 1.50 a minute, per second; the rest of Russia dearer, so the longest prefix must win.
    pbx.cli_ok(&["tariff", "add", "7495", "--name", "Moscow", "--per-minute", "1.50", "--step", "1"]);
    pbx.cli_ok(&["tariff", "add", "7", "--name", "Russia", "--per-minute", "9"]);
    // The registration can finish before the server has reloaded the new balance.
    pbx.settle();
    let registered = wait_for(Duration::from_secs(10), || {
        let t: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["trunk", "list", "--json"])).unwrap();
        t[0]["reg_state"] == "registered"
    });
    assert!(registered, "trunk did not register:\n{}\n{}", pbx.cli_ok(&["trunk", "list"]), Sipp::logs(&pbx, "carrier"));
    let table = pbx.cli_ok(&["trunk", "list"]);
    assert!(table.contains("registered"), "{table}");
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
            "84951112233",
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
    let clog = Sipp::logs(&pbx, "carrier_registrar");
    assert!(ok, "the outbound call failed:\n{clog}\n{}", Sipp::logs(&pbx, "uac"));
    assert!(clog.contains("AUTH-OK REGISTER") && !clog.contains("AUTH-BAD"), "{clog}");
    assert!(clog.contains("AUTH-OK INVITE"), "{clog}");
    assert!(clog.contains("CALL-FROM +74951234567"), "the carrier must see the tenant's number: {clog}");
    assert!(clog.contains("CALL-TO +74951112233"), "{clog}");
    assert!(carrier.wait(Duration::from_secs(5)));
    assert!(wait_for(Duration::from_secs(3), || sink.packets().len() > 20), "no RTP reached the carrier");
    let rows = call_log(&pbx);
    assert_eq!(rows[0]["direction"], "outbound");
    assert_eq!(rows[0]["did"], "+74951234567");
    assert_eq!(rows[0]["trunk"], "carrier1");
    assert_eq!(rows[0]["callee"], "+74951112233");
    assert_eq!(rows[0]["disposition"], "answered");
    // The call was charged at the Moscow price for the talk the call log shows, with the row.
    let talk = rows[0]["talk_seconds"].as_i64().unwrap();
    assert!(talk >= 1, "{rows:?}");
    let cost = (talk * 150 + 59) / 60;
    let shown: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["balance", "show", "acme", "--json"])).unwrap();
    assert_eq!(shown["balance_cents"], 5050 - cost, "{shown}");
    let charge = &shown["history"][0];
    assert_eq!((charge["kind"].as_str(), charge["amount_cents"].as_i64()), (Some("call"), Some(-cost)), "{shown}");
    assert_eq!(charge["call_id"], rows[0]["id"]);
    assert!(charge["detail"].as_str().unwrap().starts_with("Moscow +74951112233"), "{charge}");
}

fn raw_invite(from_ip: &str, pbx: &Pbx, to: &str) -> pbx_sip::Response {
    let mut p = Phone::new(pbx.sip, "x", "x", from_ip);
    let call_id = format!("probe-{}", rand_u32());
    let msg = format!(
        "INVITE sip:{to}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{r};rport\r\nMax-Forwards: 70\r\nFrom: <sip:+79161234567@{ip}>;tag=c1\r\nTo: <sip:{to}@{srv}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@{addr}>\r\nContent-Length: 0\r\n\r\n",
        srv = pbx.sip,
        addr = p.addr,
        ip = from_ip,
        r = rand_u32()
    );
    p.send_bytes(msg.as_bytes());
    p.final_response(&call_id, "INVITE", Duration::from_secs(5)).expect("an answer")
}

#[test]
fn unknown_numbers_and_unknown_sources_get_the_same_refusal() {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    with_ip_trunk(&pbx);
    let unknown_number = raw_invite(CARRIER_IP, &pbx, "+74959999999");
    let unknown_source = raw_invite("127.0.0.51", &pbx, "+74951234000");
    assert_eq!(unknown_number.status, 403);
    assert_eq!((unknown_number.status, &unknown_number.reason), (unknown_source.status, &unknown_source.reason));
    let names = |r: &pbx_sip::Response| r.headers.0.iter().map(|h| h.name.to_string()).collect::<Vec<_>>();
    assert_eq!(names(&unknown_number), names(&unknown_source));
    assert!(unknown_number.headers.get(&HeaderName::Warning).is_none());
}

#[test]
fn suspended_and_unpaid_tenants() {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[]);
    with_ip_trunk(&pbx);
    let t = Duration::from_secs(5);
    let mut caller = Phone::new(pbx.sip, "101", "secret101", "127.0.0.1");
    let mut callee = Phone::new(pbx.sip, "102", "secret102", "127.0.0.1");
    assert_eq!(callee.register(300).status, 200);

    // Suspended: no calls at all, with a Warning that says why.
    pbx.cli_ok(&["tenant", "suspend", "acme"]);
    pbx.settle();
    let d = caller.call("102");
    let r = caller.final_response(&d.call_id, "INVITE", t).unwrap();
    assert_eq!(r.status, 403);
    assert!(r.headers.get(&HeaderName::Warning).unwrap().contains("suspended"), "{:?}", r.headers);
    let tenants = pbx.cli_ok(&["tenant", "list"]);
    assert!(tenants.contains("suspended"), "{tenants}");
    pbx.cli_ok(&["tenant", "resume", "acme"]);

    // Zero balance: no outbound call...
    pbx.cli_ok(&["tenant", "balance", "acme", "0"]);
    pbx.settle();
    let d = caller.call("84951112233");
    let r = caller.final_response(&d.call_id, "INVITE", t).unwrap();
    assert_eq!(r.status, 403);
    assert!(r.headers.get(&HeaderName::Warning).unwrap().to_lowercase().contains("balance"), "{:?}", r.headers);
    // ...but internal calls work...
    let d = caller.call("102");
    let inv = callee.request("INVITE", t).expect("internal call rings");
    callee.reply(&inv, 486, "x1", None);
    assert_eq!(caller.final_response(&d.call_id, "INVITE", t).unwrap().status, 486);
    // ...and calls from the city number still arrive.
    let sink = RtpSink::new();
    let p101 = free_port();
    let a = Sipp::spawn(&pbx, "uas.xml", p101, &["-m", "1", "-d", "200", "-key", "sink_port", &sink.port.to_string()]);
    assert!(Sipp::register(&pbx, "101", "secret101", free_port(), p101, 300));
    assert_eq!(callee.register(0).status, 200);
    let ok = carrier_call(&pbx, "+74951234000", "+74951234000", 500);
    assert!(ok, "an unpaid tenant must still receive calls:\n{}", Sipp::logs(&pbx, "carrier_uac"));
    assert!(a.wait(Duration::from_secs(5)));
}

/// A request to the HTTP API (POST with a JSON body, GET without); the status and the body.
fn api(pbx: &Pbx, path: &str, auth: &[(&str, &str)], body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = format!("http://{}{path}", pbx.http);
    let mut r = match body {
        Some(b) => {
            let mut req = agent.post(&url);
            for (k, v) in auth {
                req = req.header(*k, *v);
            }
            req.header("Content-Type", "application/json").send(b.to_string().as_bytes())
        }
        None => {
            let mut req = agent.get(&url);
            for (k, v) in auth {
                req = req.header(*k, *v);
            }
            req.call()
        }
    }
    .unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap_or(serde_json::Value::Null))
}

#[test]
fn a_company_created_through_the_api_logs_in_and_takes_a_call_at_once() {
    require_tool("sipp", "sip-tester");
    let pbx = Pbx::start(Db::Sqlite, &[]);
    // The operator's own set-up: its API token and a carrier.
    let op = pbx.cli_ok(&["token", "create", "--operator"]).trim().lines().last().unwrap().trim().to_string();
    pbx.cli_ok(&["trunk", "create", "ipcarrier", "--host", &format!("{CARRIER_IP}:5060"), "--allow-ip", &format!("{CARRIER_IP}/32")]);
    let bearer = format!("Bearer {op}");
    let auth = [("Authorization", bearer.as_str())];
    // The company and its number, through the API only.
    let (status, created) =
        api(&pbx, "/api/v1/tenants", &auth, Some(serde_json::json!({"slug": "gamma", "domain": "gamma.example", "name": "Gamma"})));
    assert_eq!(status, 201, "{created}");
    let first = &created["first_login"];
    assert_eq!((first["ext"].as_str(), first["login"].as_str()), (Some("100"), Some("100@gamma")), "{created}");
    let (password, sip_password) = (first["password"].as_str().unwrap(), first["sip_password"].as_str().unwrap());
    assert!(password.len() >= 16 && sip_password.len() >= 16, "{created}");
    let (status, body) =
        api(&pbx, "/api/v1/tenants/gamma/numbers", &auth, Some(serde_json::json!({"number": "84951239999", "trunk": "ipcarrier"})));
    assert!(status == 200 || status == 201, "{status} {body}");
    // The passwords are not kept in the clear: asking again shows none.
    let (_, again) = api(&pbx, "/api/v1/tenants/gamma", &auth, None);
    assert!(!again.to_string().contains(password) && !again.to_string().contains(sip_password), "{again}");
    assert_eq!(again["users"], 1);
    // The supervisor signs in to the cabinet.
    let (status, me) = api(&pbx, "/api/v1/login", &[], Some(serde_json::json!({"login": "100@gamma", "password": password})));
    assert_eq!(status, 200, "{me}");
    // Their phone registers, and a carrier call to the new number rings it: no scenario yet.
    pbx.settle();
    let sink = RtpSink::new();
    let port = free_port();
    let phone = Sipp::spawn(&pbx, "uas.xml", port, &["-m", "1", "-d", "500", "-key", "sink_port", &sink.port.to_string()]);
    assert!(
        Sipp::register_in(&pbx, "gamma.example", "100", sip_password, free_port(), port, 300),
        "the supervisor's phone did not register"
    );
    let ok = carrier_call(&pbx, "84951239999", "84951239999", 1000);
    assert!(ok, "the carrier call failed:\n{}\n{}", Sipp::logs(&pbx, "carrier_uac"), pbx.log());
    assert!(phone.wait(Duration::from_secs(5)), "the supervisor's phone did not take the call");
    let rows: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["calls", "list", "gamma", "--json"])).unwrap();
    assert_eq!((rows[0]["direction"].as_str(), rows[0]["disposition"].as_str()), (Some("inbound"), Some("answered")), "{rows}");
}
