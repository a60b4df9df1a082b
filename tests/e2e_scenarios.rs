//! City-number scenarios and plugins against the real binary, with SIPp as the carrier and
//! as the employees' phones: the example office in and out of working hours, digits pressed
//! in the menu (RFC 4733), an extension dialled from the greeting, hostile plugins that fall
//! back to ringing everyone without disturbing other tenants, and plugins that cannot see
//! another tenant's data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::time::{Duration, Instant};

const CARRIER_IP: &str = "127.0.0.51";
const DID: &str = "+74951234567";
const DID_BETA: &str = "+74957654321";

fn dtmf(key: &str) -> String {
    format!("/usr/share/sip-tester/dtmf_2833_{key}.pcap")
}

/// The example office's scenario with its schedule replaced (the test cannot choose the
/// time of day it runs at): `open` all week, or closed today, yesterday and tomorrow.
fn office_scenario(open: bool) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/office/scenario.json");
    let mut s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let all = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let hours = if open {
        serde_json::json!({"weekly": [{"days": all, "from": "00:00", "to": "24:00"}]})
    } else {
        let day = |offset: i64| {
            let ms = pbx_store::now_ms() + offset * 86_400_000;
            let (y, m, d) = pbx::cli::civil_date(ms);
            serde_json::json!({"date": format!("{y:04}-{m:02}-{d:02}")})
        };
        serde_json::json!({"weekly": [{"days": all, "from": "00:00", "to": "24:00"}], "exceptions": [day(-1), day(0), day(1)]})
    };
    s["nodes"]["hours"]["config"] = hours;
    s
}

fn set_scenario(pbx: &Pbx, slug: &str, number: &str, scenario: &serde_json::Value) {
    let file = pbx.dir.path().join(format!("scenario-{}.json", rand_u32()));
    std::fs::write(&file, serde_json::to_string_pretty(scenario).unwrap()).unwrap();
    pbx.cli_ok(&["scenario", "set", slug, number, file.to_str().unwrap()]);
}

fn office(open: bool) -> Pbx {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.cli_ok(&["tenant", "set", "acme", "--timezone", "UTC"]);
    pbx.cli_ok(&["trunk", "create", "carrier", "--host", &format!("{CARRIER_IP}:5060"), "--allow-ip", &format!("{CARRIER_IP}/32")]);
    pbx.cli_ok(&["did", "add", "acme", DID, "--trunk", "carrier"]);
    set_scenario(&pbx, "acme", DID, &office_scenario(open));
    pbx.settle();
    pbx
}

fn user_ids(pbx: &Pbx, slug: &str) -> std::collections::HashMap<i64, String> {
    let users: Vec<serde_json::Value> = serde_json::from_str(&pbx.cli_ok(&["user", "list", slug, "--json"])).unwrap();
    users.iter().map(|u| (u["id"].as_i64().unwrap(), u["ext"].as_str().unwrap().to_string())).collect()
}

fn timeline(pbx: &Pbx, slug: &str, call_id: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["calls", "show", slug, call_id, "--json"])).unwrap();
    v["timeline"].as_array().unwrap().clone()
}

fn has_event(tl: &[serde_json::Value], kind: &str, detail_part: &str) -> bool {
    tl.iter().any(|e| e["kind"] == kind && e["detail"].as_str().unwrap_or("").contains(detail_part))
}

fn calls_of(pbx: &Pbx, slug: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(&pbx.cli_ok(&["calls", "list", slug, "--json"])).unwrap()
}

/// A phone of `ext` that answers once; returns it with the sink its media goes to.
fn answering_phone(pbx: &Pbx, ext: &str, pass: &str) -> (SippChild, RtpSink, u16) {
    let sink = RtpSink::new();
    let port = free_port();
    let phone = Sipp::spawn(pbx, "uas.xml", port, &["-m", "1", "-d", "500", "-key", "sink_port", &sink.port.to_string()]);
    assert!(Sipp::register(pbx, ext, pass, free_port(), port, 300), "{ext} did not register");
    (phone, sink, port)
}

fn carrier_keys(pbx: &Pbx, scenario: &str, keys: &[&str], stay_ms: u32) -> bool {
    let mut args: Vec<String> = vec!["-m".into(), "1".into(), "-s".into(), DID.into(), "-key".into(), "to_number".into(), DID.into()];
    args.extend(["-d".into(), stay_ms.to_string(), "-mp".into(), free_port().to_string()]);
    args.extend(["-key".into(), "pcap".into(), voice_pcap().display().to_string()]);
    for (i, k) in keys.iter().enumerate() {
        args.extend(["-key".into(), format!("dtmf{}", i + 1), dtmf(k)]);
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    Sipp::run_from(pbx, CARRIER_IP, scenario, free_port(), &a, Duration::from_secs(40))
}

#[test]
fn in_working_hours_digit_2_reaches_extension_102() {
    require_tool("sipp", "sip-tester");
    let pbx = office(true);
    let (p102, sink102, _) = answering_phone(&pbx, "102", "secret102");
    // 101 is registered too, and must not be rung.
    let (mut p101, _, _) = answering_phone(&pbx, "101", "secret101");
    let ok = carrier_keys(&pbx, "carrier_dtmf1.xml", &["2"], 5000);
    assert!(ok, "carrier call failed:\n{}\n{}", Sipp::logs(&pbx, "carrier_dtmf1"), pbx.log());
    assert!(p102.wait(Duration::from_secs(10)), "102 did not answer the call");
    assert!(wait_for(Duration::from_secs(3), || sink102.packets().len() > 10), "no media reached 102");
    let rows = calls_of(&pbx, "acme");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let ids = user_ids(&pbx, "acme");
    assert_eq!(rows[0]["disposition"], "answered");
    assert_eq!(ids[&rows[0]["callee_user_id"].as_i64().unwrap()], "102");
    let tl = timeline(&pbx, "acme", rows[0]["id"].as_str().unwrap());
    assert!(has_event(&tl, "node", "hours: time-rules"), "{tl:#?}");
    assert!(has_event(&tl, "node", "menu: ivr"), "{tl:#?}");
    assert!(has_event(&tl, "play", "welcome ivr-menu"), "{tl:#?}");
    assert!(has_event(&tl, "dtmf", "2 rfc4733 caller"), "{tl:#?}");
    assert!(has_event(&tl, "gathered", "\"2\""), "{tl:#?}");
    assert!(has_event(&tl, "dial", "102"), "{tl:#?}");
    // 101's phone answers its first call and exits: still running means never rung.
    assert!(p101.0.try_wait().unwrap().is_none(), "101 was rung");
}

#[test]
fn outside_working_hours_the_closed_message_plays() {
    require_tool("sipp", "sip-tester");
    let pbx = office(false);
    let sink = RtpSink::on(CARRIER_IP);
    let t = Instant::now();
    let ok = Sipp::run_from(
        &pbx,
        CARRIER_IP,
        "carrier_closed.xml",
        free_port(),
        &["-m", "1", "-s", DID, "-key", "to_number", DID, "-key", "sink_port", &sink.port.to_string()],
        Duration::from_secs(40),
    );
    assert!(ok, "the PBX did not answer and end the call:\n{}\n{}", Sipp::logs(&pbx, "carrier_closed"), pbx.log());
    // The closed message lasts seconds: the caller heard it before the PBX hung up.
    let packets = sink.packets();
    assert!(packets.len() > 100, "only {} packets of the closed message", packets.len());
    assert!(t.elapsed() > Duration::from_secs(2));
    let rows = calls_of(&pbx, "acme");
    assert_eq!(rows[0]["disposition"], "missed");
    let tl = timeline(&pbx, "acme", rows[0]["id"].as_str().unwrap());
    assert!(has_event(&tl, "play", "closed"), "{tl:#?}");
    assert!(!has_event(&tl, "node", "menu"), "{tl:#?}");
}

#[test]
fn dialing_101_from_the_greeting_reaches_101() {
    require_tool("sipp", "sip-tester");
    let pbx = office(true);
    let (p101, _sink, _) = answering_phone(&pbx, "101", "secret101");
    let ok = carrier_keys(&pbx, "carrier_dtmf3.xml", &["1", "0", "1"], 5000);
    assert!(ok, "carrier call failed:\n{}\n{}", Sipp::logs(&pbx, "carrier_dtmf3"), pbx.log());
    assert!(p101.wait(Duration::from_secs(10)), "101 did not answer");
    let rows = calls_of(&pbx, "acme");
    let ids = user_ids(&pbx, "acme");
    assert_eq!(rows[0]["disposition"], "answered");
    assert_eq!(ids[&rows[0]["callee_user_id"].as_i64().unwrap()], "101");
    let tl = timeline(&pbx, "acme", rows[0]["id"].as_str().unwrap());
    assert!(has_event(&tl, "gathered", "\"101\""), "{tl:#?}");
    // The menu never chose for the caller: the digits went straight to the extension.
    assert!(!has_event(&tl, "node", "ring-101"), "{tl:#?}");
}

/// A tenant `beta` with one user and its own city number on the same carrier.
fn add_beta(pbx: &Pbx) {
    pbx.cli_ok(&["tenant", "create", "beta", "--domain", "beta.example", "--name", "Beta", "--no-supervisor"]);
    pbx.cli_ok(&["user", "create", "beta", "201", "--password", "secret201"]);
    pbx.cli_ok(&["did", "add", "beta", DID_BETA, "--trunk", "carrier"]);
}

fn closed_call(pbx: &Pbx, number: &str, sink: &RtpSink) -> bool {
    Sipp::run_from(
        pbx,
        CARRIER_IP,
        "carrier_closed.xml",
        free_port(),
        &["-m", "1", "-s", number, "-key", "to_number", number, "-key", "sink_port", &sink.port.to_string()],
        Duration::from_secs(60),
    )
}

fn one_node(plugin: &str, config: serde_json::Value, then: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"start": "p", "nodes": {
        "p": {"type": "plugin", "plugin": plugin, "config": config, "next": {"done": "then"}},
        "then": then,
        "bye": {"type": "hangup"}}})
}

fn event_at(tl: &[serde_json::Value], kind: &str) -> Option<i64> {
    tl.iter().find(|e| e["kind"] == kind).and_then(|e| e["at"].as_i64())
}

#[test]
fn hostile_plugins_fall_back_to_ringing_everyone_without_disturbing_others() {
    require_tool("sipp", "sip-tester");
    let pbx = office(true);
    add_beta(&pbx);
    // Beta's caller listens to a long announcement all through the hostile calls.
    let long = serde_json::json!({"start": "talk", "nodes": {
        "talk": {"type": "play", "prompts": ["welcome", "ivr-menu", "closed", "not-available", "ivr-menu", "closed"], "extension_dialing": false, "next": {"done": "bye"}},
        "bye": {"type": "hangup"}}});
    set_scenario(&pbx, "beta", DID_BETA, &long);
    for p in ["spin", "hog", "crash", "garbage"] {
        let path = pbx_bundled_plugins::component_path(&format!("test_plugin_{p}"));
        let out = pbx.cli_ok(&["plugin", "install", "acme", path.to_str().unwrap()]);
        assert!(out.contains(&format!("installed {p}")), "{out}");
    }
    pbx.settle();
    let beta_sink = RtpSink::on(CARRIER_IP);
    let sink_port = beta_sink.port.to_string();
    let beta_call = Sipp::spawn_from(
        &pbx,
        CARRIER_IP,
        "carrier_closed.xml",
        free_port(),
        &["-m", "1", "-s", DID_BETA, "-key", "to_number", DID_BETA, "-key", "sink_port", &sink_port],
    );
    let hangup = serde_json::json!({"type": "hangup"});
    let cases = [
        ("spin", serde_json::json!({}), "deadline"),
        ("hog", serde_json::json!({}), "trap"),
        ("crash", serde_json::json!({}), "trap"),
        ("garbage", serde_json::json!({"kind": "unknown-output"}), "invalid-verb"),
        ("garbage", serde_json::json!({"kind": "nothing"}), "no-decision"),
    ];
    for (i, (plugin, config, kind)) in cases.iter().enumerate() {
        set_scenario(&pbx, "acme", DID, &one_node(plugin, config.clone(), hangup.clone()));
        pbx.settle();
        let (phone, _sink, _) = answering_phone(&pbx, "101", "secret101");
        let ok = Sipp::run_from(
            &pbx,
            CARRIER_IP,
            "carrier_uac.xml",
            free_port(),
            &["-m", "1", "-s", DID, "-key", "to_number", DID, "-d", "500", "-key", "pcap", &voice_pcap().display().to_string()],
            Duration::from_secs(30),
        );
        assert!(ok, "{plugin}: the call did not reach the fallback:\n{}", pbx.log());
        assert!(phone.wait(Duration::from_secs(5)), "{plugin}: 101 did not answer");
        let rows = calls_of(&pbx, "acme");
        assert_eq!(rows.len(), i + 1);
        assert_eq!(rows[0]["disposition"], "answered", "{plugin}");
        let tl = timeline(&pbx, "acme", rows[0]["id"].as_str().unwrap());
        assert!(has_event(&tl, "plugin-failed", &format!("{plugin}: {kind}")), "{plugin}: {tl:#?}");
        assert!(has_event(&tl, "fallback", ""), "{plugin}: {tl:#?}");
        // Decided within the deadline (50 ms of the plugin's own time), not after a watchdog.
        let (asked, failed) = (event_at(&tl, "node").unwrap(), event_at(&tl, "plugin-failed").unwrap());
        assert!(failed - asked < 1000, "{plugin}: {} ms to fall back", failed - asked);
    }
    let metrics = pbx.http_get("/metrics").unwrap();
    for line in [
        r#"pbx_plugin_decisions_total{tenant="acme",plugin="spin",outcome="deadline"} 1"#,
        r#"pbx_plugin_decisions_total{tenant="acme",plugin="hog",outcome="trap"} 1"#,
        r#"pbx_plugin_decisions_total{tenant="acme",plugin="crash",outcome="trap"} 1"#,
        r#"pbx_plugin_decisions_total{tenant="acme",plugin="garbage",outcome="invalid-verb"} 1"#,
        r#"pbx_plugin_decisions_total{tenant="acme",plugin="garbage",outcome="no-decision"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    // Beta's announcement played on without a gap.
    assert!(beta_call.wait(Duration::from_secs(60)), "beta's call failed:\n{}", pbx.log());
    let arrivals = beta_sink.arrivals();
    assert!(arrivals.len() > 500, "beta heard only {} packets", arrivals.len());
    let worst = arrivals.windows(2).map(|w| w[1].duration_since(w[0])).max().unwrap();
    assert!(worst < Duration::from_millis(150), "beta's audio stalled for {worst:?}");
}

#[test]
fn a_plugin_sees_only_its_own_tenant() {
    require_tool("sipp", "sip-tester");
    let pbx = office(true);
    add_beta(&pbx);
    let snoop = pbx_bundled_plugins::component_path("test_plugin_snoop");
    let then = serde_json::json!({"type": "play", "prompts": ["goodbye"], "extension_dialing": false, "next": {"done": "bye"}});
    for (slug, number) in [("acme", DID), ("beta", DID_BETA)] {
        let out = pbx.cli_ok(&["plugin", "install", slug, snoop.to_str().unwrap()]);
        assert!(out.contains(&format!("pbx plugin grant {slug} snoop --kv --directory")), "{out}");
        // Not granted yet: a scenario that uses it is refused.
        let file = pbx.dir.path().join("snoop.json");
        std::fs::write(&file, one_node("snoop", serde_json::json!({"secret": format!("{slug}-config")}), then.clone()).to_string())
            .unwrap();
        let refused = pbx.cli(&["scenario", "set", slug, number, file.to_str().unwrap()]);
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("needs grants first: kv, directory"), "{refused:?}");
        pbx.cli_ok(&["plugin", "grant", slug, "snoop", "--kv", "--directory"]);
        pbx.cli_ok(&["scenario", "set", slug, number, file.to_str().unwrap()]);
    }
    pbx.settle();
    let seen = |slug: &str, number: &str| -> String {
        let sink = RtpSink::on(CARRIER_IP);
        assert!(closed_call(&pbx, number, &sink), "{slug}: call failed:\n{}", pbx.log());
        let rows = calls_of(&pbx, slug);
        let tl = timeline(&pbx, slug, rows[0]["id"].as_str().unwrap());
        tl.iter().find(|e| e["kind"] == "caller-name").map(|e| e["detail"].as_str().unwrap().to_string()).unwrap_or_default()
    };
    let beta1 = seen("beta", DID_BETA);
    assert_eq!(beta1, r#"cfg={"secret":"beta-config"};kv=;dir=201"#);
    let acme1 = seen("acme", DID);
    assert_eq!(acme1, r#"cfg={"secret":"acme-config"};kv=;dir=101,102,103"#, "acme's plugin saw beta's data");
    let acme2 = seen("acme", DID);
    assert_eq!(acme2, r#"cfg={"secret":"acme-config"};kv={"secret":"acme-config"};dir=101,102,103"#);
    let beta2 = seen("beta", DID_BETA);
    assert_eq!(beta2, r#"cfg={"secret":"beta-config"};kv={"secret":"beta-config"};dir=201"#);
}

#[test]
fn the_phone_shows_the_name_from_the_address_book() {
    require_tool("sipp", "sip-tester");
    let pbx = office(true);
    let lookup = serde_json::json!({"start": "who", "nodes": {
        "who": {"type": "plugin", "plugin": "name-lookup", "config": {"entries": {"8 916 123-45-67": "Ivan Client"}}, "next": {"done": "ring"}},
        "ring": {"type": "dial", "targets": ["101"], "next": {"*": "bye"}},
        "bye": {"type": "hangup"}}});
    set_scenario(&pbx, "acme", DID, &lookup);
    pbx.settle();
    let (phone, _sink, _) = answering_phone(&pbx, "101", "secret101");
    let ok = Sipp::run_from(
        &pbx,
        CARRIER_IP,
        "carrier_uac.xml",
        free_port(),
        &["-m", "1", "-s", DID, "-key", "to_number", DID, "-d", "500", "-key", "pcap", &voice_pcap().display().to_string()],
        Duration::from_secs(30),
    );
    assert!(ok, "{}", pbx.log());
    assert!(phone.wait(Duration::from_secs(5)));
    let logs = Sipp::logs(&pbx, "uas");
    assert!(logs.contains("From: \"Ivan Client\" <sip:+79161234567@acme.example>"), "{logs}");
}

/// A server whose tenant acme runs the `fetch` test plugin on its city number, granted HTTP
/// to 127.0.0.1; `env` may allow internal addresses.
fn fetching_office(env: &[(&str, &str)], url: impl Fn(&Pbx) -> String) -> Pbx {
    let pbx = Pbx::start(Db::Sqlite, env);
    pbx.seed_acme();
    pbx.cli_ok(&["trunk", "create", "carrier", "--host", &format!("{CARRIER_IP}:5060"), "--allow-ip", &format!("{CARRIER_IP}/32")]);
    pbx.cli_ok(&["did", "add", "acme", DID, "--trunk", "carrier"]);
    let fetch = pbx_bundled_plugins::component_path("test_plugin_fetch");
    pbx.cli_ok(&["plugin", "install", "acme", fetch.to_str().unwrap()]);
    pbx.cli_ok(&["plugin", "grant", "acme", "fetch", "--http", "127.0.0.1", "--http", "localhost"]);
    let then = serde_json::json!({"type": "play", "prompts": ["goodbye"], "extension_dialing": false, "next": {"done": "bye"}});
    set_scenario(&pbx, "acme", DID, &one_node("fetch", serde_json::json!({ "url": url(&pbx) }), then));
    pbx.settle();
    pbx
}

/// What the fetch plugin reported on a call to the city number.
fn fetched(pbx: &Pbx) -> String {
    let sink = RtpSink::on(CARRIER_IP);
    assert!(closed_call(pbx, DID, &sink), "call failed:\n{}", pbx.log());
    let rows = calls_of(pbx, "acme");
    let tl = timeline(pbx, "acme", rows[0]["id"].as_str().unwrap());
    tl.iter().find(|e| e["kind"] == "caller-name").map(|e| e["detail"].as_str().unwrap().to_string()).unwrap_or_default()
}

#[test]
fn plugin_http_stays_off_the_operators_network() {
    require_tool("sipp", "sip-tester");
    // A tenant grants its plugin 127.0.0.1: the PBX's own /metrics and login API are there.
    let pbx = fetching_office(&[], |p| format!("http://127.0.0.1:{}/metrics", p.http.port()));
    let got = fetched(&pbx);
    assert!(got.starts_with("fetch refused:") && got.contains("loopback"), "{got}");
    assert!(!pbx.log().contains("pbx_active_calls"), "nothing of /metrics reached the plugin");
    // The operator may open internal networks on purpose.
    let open = fetching_office(&[("PBX_PLUGIN_EGRESS_ALLOW", "127.0.0.0/8")], |p| format!("http://127.0.0.1:{}/healthz", p.http.port()));
    assert_eq!(fetched(&open), "fetch=200");
}
