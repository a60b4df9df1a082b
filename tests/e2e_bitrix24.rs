//! The Bitrix24 connector (`plugins/bitrix24`, a component on the public plugin contract)
//! against the real binary, SIPp phones and carriers, and a fake portal that follows the
//! public external-telephony contract (`tests/fakes/bitrix24`): the local application's
//! installation sets the portal up (a line per city number, the events bound); an inbound
//! call to a ring group pops and hides the cards, is finished with its duration and status
//! and gets its recording; a missed one is finished as missed; an outbound call from a desk
//! phone is registered and finished; click-to-call from the CRM rings the user's phone then
//! the client, without registering again; the website's callback form rings the client's
//! responsible employee then the client; calls made while the portal is down appear once
//! each, in order, after it is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pbx_fake_bitrix24::{CardAction, CrmEntity, CrmEntityType, ExternalCall, FakePortal, Options, User};
use serde_json::{Value, json};
use std::time::Duration;

/// One PBX with a carrier trunk, one portal, connected.
struct World {
    pbx: Pbx,
    portal: FakePortal,
    rt: tokio::runtime::Runtime,
    carrier_ip: &'static str,
    carrier_port: u16,
}

const DID: &str = "+74951234000";
const CLIENT: &str = "+79161234567";

fn put(pbx: &Pbx, token: &str, path: &str, body: Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent
        .put(&format!("http://{}{path}", pbx.http))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap_or(Value::Null))
}

fn get(url: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.get(url).call().unwrap();
    (r.status().as_u16(), serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap_or(Value::Null))
}

impl World {
    fn start(carrier_ip: &'static str) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let opts = Options {
            users: vec![
                User::new(1, "Admin", Some("100")),
                User::new(11, "Ivan", Some("101")),
                User::new(12, "Maria", Some("102")),
                User::new(13, "Boris", Some("103")),
            ],
            crm: vec![
                CrmEntity::new(CrmEntityType::Contact, 501, "Olga Smirnova", CLIENT, 12),
                CrmEntity::new(CrmEntityType::Company, 502, "Romashka LLC", "+74951112233", 12),
            ],
            ..Options::default()
        };
        let portal = rt.block_on(FakePortal::start(opts)).unwrap();
        let pbx = Pbx::start(Db::Sqlite, &[("PBX_PLUGIN_EGRESS_ALLOW", "127.0.0.0/8"), ("PBX_WEBHOOK_RETRY_MS", "100")]);
        pbx.seed_acme();
        let carrier_port = free_port();
        pbx.cli_ok(&[
            "trunk",
            "create",
            "carrier",
            "--host",
            &format!("{carrier_ip}:{carrier_port}"),
            "--allow-ip",
            &format!("{carrier_ip}/32"),
        ]);
        pbx.cli_ok(&["did", "add", "acme", "84951234000", "--trunk", "carrier"]);
        pbx.cli_ok(&["tenant", "balance", "acme", "100"]);
        let wasm = pbx_bundled_plugins::component_path("pbx_plugin_bitrix24");
        pbx.cli_ok(&["plugin", "install", "acme", wasm.to_str().unwrap()]);
        // What it declares (the OAuth server, the cloud portals), and this portal's address.
        let mut grant = vec!["plugin", "grant", "acme", "bitrix24", "--kv", "--directory", "--contacts", "--http", "127.0.0.1"];
        for h in ["oauth.bitrix.info", "*.bitrix24.ru", "*.bitrix24.com", "*.bitrix24.by", "*.bitrix24.kz", "*.bitrix24.de"] {
            grant.extend(["--http", h]);
        }
        pbx.cli_ok(&grant);
        let boss = pbx.cli_ok(&["token", "create", "acme", "--role", "supervisor"]).trim().lines().last().unwrap().trim().to_string();
        let o = portal.options();
        let settings = json!({"client_id": o.client_id, "client_secret": o.client_secret, "oauth_url": portal.base_url()});
        let (status, body) = put(&pbx, &boss, "/api/v1/plugins/bitrix24/settings", settings);
        assert_eq!(status, 200, "{body}");
        let (status, st) = put(&pbx, &boss, "/api/v1/plugins/bitrix24/integration", json!({"enabled": true}));
        assert_eq!(status, 200, "{st}");
        let admin = |path: &str| {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut r = agent.get(&format!("http://{}{path}", pbx.http)).header("Authorization", &format!("Bearer {boss}")).call().unwrap();
            (r.status().as_u16(), serde_json::from_slice::<Value>(&r.body_mut().read_to_vec().unwrap()).unwrap_or(Value::Null))
        };
        // Asked at once, before the half-second reload: the request waits until this node has
        // loaded the grants just given, instead of answering that the plugin needs them.
        let (code, fresh) = admin("/api/v1/plugins/bitrix24/integration/admin/status");
        assert_eq!((code, fresh["connected"].as_bool()), (200, Some(false)), "{fresh}");
        pbx.settle();
        let hook = format!("http://{}{}", pbx.http, st["hook_path"].as_str().unwrap());
        // The local application is installed: its callback keeps the tokens and sets the portal up.
        let status = rt.block_on(portal.install(&format!("{hook}/install"))).unwrap();
        assert_eq!(status, 200, "{}", pbx.log());
        let lines: Vec<String> = portal.lines().iter().map(|l| l.number.clone()).collect();
        assert_eq!(lines, [DID], "a line per city number");
        let mut bound: Vec<(String, String)> = portal.bound_events().iter().map(|b| (b.event.clone(), b.handler.clone())).collect();
        bound.sort();
        assert_eq!(
            bound,
            [
                ("ONEXTERNALCALLBACKSTART".to_string(), format!("{hook}/event")),
                ("ONEXTERNALCALLSTART".to_string(), format!("{hook}/event"))
            ]
        );
        // Its state is the cabinet's to read: not at the public address (whatever headers a
        // request there carries).
        let (code, status) = admin("/api/v1/plugins/bitrix24/integration/admin/status");
        assert_eq!(code, 200, "{status}");
        assert_eq!((status["connected"].as_bool(), status["domain"].as_str()), (Some(true), Some("test.bitrix24.ru")), "{status}");
        assert_eq!(status["install_url"], format!("{hook}/install"));
        assert!(!status.to_string().contains(&portal.tokens().0), "no token in the status");
        assert_eq!(get(&format!("{hook}/status")).0, 404);
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let spoofed = agent.get(&format!("{hook}/status")).header("x-pbx-caller", "cabinet").call().unwrap();
        assert_eq!(spoofed.status().as_u16(), 404, "the cabinet's mark cannot come from outside");
        // Another portal that learnt the address cannot take the connection over.
        let other = rt.block_on(FakePortal::start(Options { member_id: "0ther".into(), ..Options::default() })).unwrap();
        assert_eq!(rt.block_on(other.install(&format!("{hook}/install"))).unwrap(), 409);
        assert_eq!(admin("/api/v1/plugins/bitrix24/integration/admin/status").1["member_id"], portal.options().member_id.as_str());
        World { pbx, portal, rt, carrier_ip, carrier_port }
    }

    /// A carrier's call to the city number; `cancel_after` gives up while it rings.
    fn inbound(&self, talk_ms: u32, cancel: bool) -> bool {
        let scenario = if cancel { "carrier_cancel.xml" } else { "carrier_uac.xml" };
        let d = talk_ms.to_string();
        let mp = free_port().to_string();
        let pcap = voice_pcap().display().to_string();
        Sipp::run_from(
            &self.pbx,
            self.carrier_ip,
            scenario,
            free_port(),
            &["-m", "1", "-s", "84951234000", "-key", "to_number", "84951234000", "-d", &d, "-mp", &mp, "-key", "pcap", &pcap],
            Duration::from_secs(30),
        )
    }

    /// The carrier's side of one outbound call: answers; the client hangs up after a second
    /// (`hangs_up`), else waits for the PBX's BYE.
    fn carrier_answers(&self, hangs_up: bool) -> SippChild {
        let sink = RtpSink::on(self.carrier_ip);
        let scenario = if hangs_up { "uas_hangup.xml" } else { "uas.xml" };
        let args = ["-m", "1", "-d", "1000", "-key", "sink_port", &sink.port.to_string()];
        Sipp::spawn_from(&self.pbx, self.carrier_ip, scenario, self.carrier_port, &args)
    }

    /// The portal's call registered for a PBX call, once it is finished (and, with
    /// `record`, has its recording).
    fn finished(&self, pbx_call: &str, record: bool) -> ExternalCall {
        let done = wait_for(Duration::from_secs(30), || {
            self.portal
                .calls()
                .iter()
                .any(|c| c.external_call_id.as_deref() == Some(pbx_call) && c.finish.is_some() && (!record || !c.records.is_empty()))
        });
        assert!(done, "{pbx_call} not finished in the portal: {:#?}\n{}", self.portal.calls(), self.pbx.log());
        self.portal.calls().into_iter().find(|c| c.external_call_id.as_deref() == Some(pbx_call)).unwrap()
    }
}

/// The digits of a number (the portal keeps numbers without the plus).
fn digits(n: &str) -> String {
    n.chars().filter(char::is_ascii_digit).collect()
}

/// The card changes of a call, as (show/hide, users).
fn cards(c: &ExternalCall) -> Vec<(bool, Vec<u64>)> {
    c.card_history.iter().map(|h| (h.action == CardAction::Show, h.users.clone())).collect()
}

#[test]
fn inbound_calls_pop_and_hide_cards_are_finished_recorded_and_caught_up_after_an_outage() {
    require_tool("sipp", "sip-tester");
    let w = World::start("127.0.0.50");

    // Answered: 101 and 102 ring together, 101 answers.
    let a = answering_phone(&w.pbx, "101", "secret101");
    let p102 = free_port();
    let b = Sipp::spawn(&w.pbx, "uas_ring.xml", p102, &["-m", "1"]);
    assert!(Sipp::register(&w.pbx, "102", "secret102", free_port(), p102, 300));
    assert!(w.inbound(1500, false), "{}", Sipp::logs(&w.pbx, "carrier_uac"));
    assert!(b.wait(Duration::from_secs(5)), "102 was not rung and cancelled");
    drop(a);
    let id = call_log(&w.pbx)[0]["id"].as_str().unwrap().to_string();
    let c = w.finished(&id, true);
    assert_eq!((c.call_type, c.line_number.as_deref(), digits(&c.phone_number)), (2, Some(DID), digits(CLIENT)), "{c:#?}");
    assert_eq!(c.register_count, 1);
    let f = c.finish.clone().unwrap();
    assert_eq!((f.status_code.as_str(), f.user_id), ("200", 11), "finished for the one who talked: {c:#?}");
    assert!(f.duration >= 1, "{f:?}");
    // Both cards popped, 102's hid when 101 answered.
    let shown: Vec<u64> = cards(&c).iter().filter(|(s, _)| *s).flat_map(|(_, u)| u.clone()).collect();
    assert!(c.show || shown.contains(&11), "{c:#?}");
    assert!(shown.contains(&12) && cards(&c).iter().any(|(s, u)| !s && u == &vec![12]), "{:?}", cards(&c));
    // The portal fetched the recording as MP3 from the signed link.
    let dl = w.portal.attach_downloads();
    let d = dl.iter().find(|d| d.call_id == c.call_id).unwrap();
    assert_eq!(d.status, Some(200), "{d:?}");
    assert!(d.content_type.as_deref().unwrap_or("") == "audio/mpeg" && d.bytes > 4000, "{d:?}");

    // Missed: both ring, the caller gives up.
    let p101 = free_port();
    let r101 = Sipp::spawn(&w.pbx, "uas_ring.xml", p101, &["-m", "1"]);
    assert!(Sipp::register(&w.pbx, "101", "secret101", free_port(), p101, 300));
    let p102 = free_port();
    let r102 = Sipp::spawn(&w.pbx, "uas_ring.xml", p102, &["-m", "1"]);
    assert!(Sipp::register(&w.pbx, "102", "secret102", free_port(), p102, 300));
    assert!(w.inbound(1500, true), "{}", Sipp::logs(&w.pbx, "carrier_cancel"));
    assert!(r101.wait(Duration::from_secs(5)) && r102.wait(Duration::from_secs(5)));
    let missed = call_log(&w.pbx).iter().find(|r| r["disposition"] == "missed").unwrap()["id"].as_str().unwrap().to_string();
    let c = w.finished(&missed, false);
    let f = c.finish.clone().unwrap();
    assert_eq!((f.status_code.as_str(), f.duration, f.call_status), ("304", 0, 0), "{c:#?}");
    assert!(c.shown_to.is_empty(), "every card hidden: {c:#?}");

    // The portal is down for three calls; then they appear once each, in order.
    w.portal.set_down(true);
    let before = w.portal.calls().len();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let a = answering_phone(&w.pbx, "101", "secret101");
        assert!(w.inbound(500, false));
        drop(a);
        let rows = call_log(&w.pbx);
        ids.push(rows[0]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(w.portal.calls().len(), before, "nothing reached a portal that is down");
    w.portal.set_down(false);
    let got: Vec<ExternalCall> = ids.iter().map(|id| w.finished(id, true)).collect();
    for (c, id) in got.iter().zip(&ids) {
        assert_eq!(c.register_count, 1, "registered once: {c:#?}");
        assert_eq!(c.finish.as_ref().unwrap().status_code, "200");
        assert_eq!(w.portal.calls().iter().filter(|x| x.external_call_id.as_deref() == Some(id.as_str())).count(), 1);
    }
    assert!(got.windows(2).all(|p| p[0].call_start_date <= p[1].call_start_date), "in order of their real start");
    let registers: Vec<String> = w
        .portal
        .requests()
        .iter()
        .filter(|r| r.method == "telephony.externalcall.register" && r.status == 200)
        .map(|r| r.params["EXTERNAL_CALL_ID"].as_str().unwrap_or("").to_string())
        .filter(|x| ids.contains(x))
        .collect();
    assert_eq!(registers, ids, "registered in the order the calls were made");

    // The connector as a scenario node: the caller is named from the CRM before any phone
    // rings, and the client's responsible employee (Maria, 102) is rung first.
    let scenario = json!({"start": "crm", "nodes": {
        "crm": {"type": "plugin", "plugin": "bitrix24", "config": {"route_to_responsible": true}, "next": {"next": "ring"}},
        "ring": {"type": "dial", "targets": ["101"], "next": {"*": "bye"}},
        "bye": {"type": "hangup"}}});
    let file = w.pbx.dir.path().join("b24-scenario.json");
    std::fs::write(&file, scenario.to_string()).unwrap();
    w.pbx.cli_ok(&["scenario", "set", "acme", DID, file.to_str().unwrap()]);
    w.pbx.settle();
    let maria = answering_phone(&w.pbx, "102", "secret102");
    assert!(w.inbound(500, false), "{}", w.pbx.log());
    drop(maria);
    let logs = Sipp::logs(&w.pbx, "uas");
    assert!(logs.contains("INVITE-FROM From: \"Olga Smirnova\" <sip:+79161234567@acme.example>"), "{logs}");
    // The name is kept in the phone book for calls that do not pass the node.
    let contacts = w.pbx.cli_ok(&["contact", "list", "acme", "--json"]);
    let contacts: Value = serde_json::from_str(&contacts).unwrap();
    let olga = contacts.as_array().unwrap().iter().find(|c| c["number"] == CLIENT).cloned().unwrap_or_default();
    assert_eq!((olga["name"].as_str(), olga["source"].as_str()), (Some("Olga Smirnova"), Some("plugin:bitrix24")), "{contacts}");
}

#[test]
fn outbound_click_to_call_and_the_callback_form_reach_the_portal() {
    require_tool("sipp", "sip-tester");
    let w = World::start("127.0.0.51");

    // A desk phone calls a client: registered as outgoing, finished.
    let carrier = w.carrier_answers(false);
    let ok = sipp_call(&w.pbx, "101", "secret101", "84951112233", 1000);
    assert!(ok, "{}\n{}\n{}", Sipp::logs(&w.pbx, "uac"), Sipp::logs(&w.pbx, "uas"), w.pbx.sipp_errors());
    assert!(carrier.wait(Duration::from_secs(10)));
    let id = call_log(&w.pbx)[0]["id"].as_str().unwrap().to_string();
    let c = w.finished(&id, true);
    assert_eq!(
        (c.call_type, c.user_id, digits(&c.phone_number), c.line_number.as_deref()),
        (1, 11, digits("+74951112233"), Some(DID)),
        "{c:#?}"
    );
    assert_eq!(c.finish.as_ref().unwrap().status_code, "200");

    // Click-to-call from the CRM: Ivan's phone (101) rings first, then the client; the call the
    // portal registered itself is finished, not registered again.
    let me = answering_phone(&w.pbx, "101", "secret101");
    let carrier = w.carrier_answers(true);
    let registers_before = w.portal.requests().iter().filter(|r| r.method == "telephony.externalcall.register").count();
    let (status, b24_call) = w.rt.block_on(w.portal.start_click_to_call(11, "+74951112233", DID)).unwrap();
    assert_eq!(status, 200);
    assert!(carrier.wait(Duration::from_secs(20)), "the client was not called:\n{}", w.pbx.log());
    drop(me);
    assert!(
        wait_for(Duration::from_secs(30), || w.portal.call(&b24_call).is_some_and(|c| c.finish.is_some() && !c.records.is_empty())),
        "{:#?}\n{}",
        w.portal.call(&b24_call),
        w.pbx.log()
    );
    let c = w.portal.call(&b24_call).unwrap();
    assert!(c.pre_registered && c.register_count == 1, "{c:#?}");
    assert_eq!((c.finish.as_ref().unwrap().status_code.as_str(), c.finish.as_ref().unwrap().user_id), ("200", 11));
    let registers_after = w.portal.requests().iter().filter(|r| r.method == "telephony.externalcall.register").count();
    assert_eq!(registers_after, registers_before, "the connector does not register a portal click-to-call again");
    let rows = call_log(&w.pbx);
    assert!(rows.iter().any(|r| r["kind"] == "click-to-call" && r["callee"] == "+74951112233"), "{rows:#?}");

    // Click-to-call for a user whose phone is not registered: finished as unavailable.
    let (status, nobody) = w.rt.block_on(w.portal.start_click_to_call(13, "+74951112233", DID)).unwrap();
    assert_eq!(status, 200);
    assert!(
        wait_for(Duration::from_secs(15), || w.portal.call(&nobody).is_some_and(|c| c.finish.is_some())),
        "{:#?}",
        w.portal.call(&nobody)
    );
    assert_eq!(w.portal.call(&nobody).unwrap().finish.unwrap().status_code, "480");

    // The website's callback form: the client's responsible employee (Maria, 102) first.
    let maria = answering_phone(&w.pbx, "102", "secret102");
    let carrier = w.carrier_answers(true);
    let status = w.rt.block_on(w.portal.start_callback("+74951112233", "Call me about the order", DID)).unwrap();
    assert_eq!(status, 200);
    assert!(carrier.wait(Duration::from_secs(20)), "the client was not called back:\n{}", w.pbx.log());
    drop(maria);
    assert!(
        wait_for(Duration::from_secs(30), || w.portal.calls().iter().any(|c| c.call_type == 4 && c.finish.is_some())),
        "{:#?}\n{}",
        w.portal.calls(),
        w.pbx.log()
    );
    let c = w.portal.calls().into_iter().find(|c| c.call_type == 4).unwrap();
    assert_eq!((c.user_id, digits(&c.phone_number)), (12, digits("+74951112233")), "{c:#?}");

    // A blind transfer: Ivan (101) answers a client and transfers to Boris (103): Boris's card
    // pops, Ivan's hides, and the call is finished for Boris.
    let ring_101 = json!({"start": "ring", "nodes": {
        "ring": {"type": "dial", "targets": ["101"], "next": {"*": "bye"}}, "bye": {"type": "hangup"}}});
    let file = w.pbx.dir.path().join("ring-101.json");
    std::fs::write(&file, ring_101.to_string()).unwrap();
    w.pbx.cli_ok(&["scenario", "set", "acme", DID, file.to_str().unwrap()]);
    w.pbx.settle();
    let p101 = free_port();
    let transferor = Sipp::spawn(
        &w.pbx,
        "uas_refer.xml",
        p101,
        &[
            "-m",
            "1",
            "-d",
            "300",
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
    assert!(Sipp::register(&w.pbx, "101", "secret101", free_port(), p101, 300));
    let boris = answering_phone(&w.pbx, "103", "secret103");
    assert!(w.inbound(3000, false), "{}", w.pbx.log());
    assert!(transferor.wait(Duration::from_secs(10)), "{}", Sipp::logs(&w.pbx, "uas_refer"));
    drop(boris);
    let id = call_log(&w.pbx).iter().find(|r| r["direction"] == "inbound").unwrap()["id"].as_str().unwrap().to_string();
    let c = w.finished(&id, false);
    let history = cards(&c);
    let show_13 = history.iter().position(|(s, u)| *s && u == &vec![13]);
    let hide_11 = history.iter().position(|(s, u)| !s && u == &vec![11]);
    let calls: Vec<String> = w
        .portal
        .requests()
        .iter()
        .filter(|r| r.params["CALL_ID"] == c.call_id.as_str())
        .map(|r| format!("{} {}", r.method, r.params))
        .collect();
    assert!(show_13.is_some() && hide_11.is_some() && show_13 < hide_11, "{history:?} {calls:#?}");
    assert_eq!((c.finish.as_ref().unwrap().user_id, c.finish.as_ref().unwrap().status_code.as_str()), (13, "200"), "{c:#?}");
}
