//! Browsers as phones: headless Chromium runs JsSIP (a standard WebRTC SIP client, not the
//! cabinet's code) against the real binary. It registers over SIP over WebSocket with its
//! SIP credentials, calls a SIPp phone (whose RTP socket must get the browser's audio,
//! relayed from WebRTC to plain G.711 by the PBX), then answers a SIPp caller and must hear
//! it (the page's `getStats()`: packets and audio energy). Two browsers then walk an IVR
//! with a key, hold and resume a call between them, and come back after a dropped WebSocket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// RTP packets whose G.711 payload is not silence (a tone or a voice).
fn audible(packets: &[(std::net::SocketAddr, Vec<u8>)]) -> usize {
    packets
        .iter()
        .filter(|(_, p)| p.len() > 12 && p[12..].iter().filter(|b| !matches!(**b, 0xd5 | 0x55 | 0xff | 0x7f)).count() > 40)
        .count()
}

#[test]
fn a_browser_registers_calls_and_answers_over_webrtc() {
    assert!(Path::new("/usr/bin/chromium").exists(), "/usr/bin/chromium is required: install the Debian package chromium (.ci/run does)");
    registers_calls_and_answers("chromium", &[]);
}

/// A non-loopback IPv4 address of this machine (Firefox gathers no loopback candidates).
fn global_ipv4() -> String {
    let out = Command::new("ip").args(["-4", "-o", "addr", "show", "scope", "global"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let addr = text.split_whitespace().skip_while(|w| *w != "inet").nth(1).and_then(|a| a.split('/').next()).map(str::to_string);
    addr.unwrap_or_else(|| panic!("Firefox's test needs a non-loopback IPv4 address on this machine (Firefox gathers no loopback ICE candidates): `ip addr` shows none:\n{text}"))
}

/// The same in Firefox (Debian's ESR, driven over WebDriver BiDi by Puppeteer).
#[test]
fn firefox_registers_calls_and_answers_over_webrtc() {
    assert!(
        Path::new("/usr/bin/firefox-esr").exists(),
        "/usr/bin/firefox-esr is required: install the Debian package firefox-esr (.ci/run does)"
    );
    // Firefox's media reaches the PBX on this machine's own network address.
    let ip = global_ipv4();
    registers_calls_and_answers("firefox", &[("PBX_WEBRTC_IP", ip.as_str())]);
}

fn registers_calls_and_answers(browser_name: &str, env: &[(&str, &str)]) {
    require_tool("sipp", "sip-tester");
    require_tool("node", "nodejs");
    require_tool("npm", "npm");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/web");
    node_packages(&web);

    let pbx = Pbx::start(Db::Sqlite, env);
    pbx.seed_acme();
    pbx.settle();
    let phone = answering_phone(&pbx, "101", "secret101");
    let files = tempfile::tempdir().unwrap();
    let (ready, called) = (files.path().join("ready"), files.path().join("called"));
    let mut browser = Command::new("node")
        .arg("phone.mjs")
        .current_dir(&web)
        .env("BROWSER", browser_name)
        .env("BASE", format!("http://{}", pbx.http))
        .env("DOMAIN", "acme.example")
        .env("EXT", "103")
        .env("PASSWORD", "secret103")
        .env("CALLEE", "101")
        .env("READY_FILE", &ready)
        .env("CALLED_FILE", &called)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let finished = |b: &mut std::process::Child| matches!(b.try_wait(), Ok(Some(_)));
    assert!(wait_for(Duration::from_secs(40), || ready.exists() || finished(&mut browser)), "the browser did not register");
    // The registration is a binding like a desk phone's, over the WebSocket.
    let regs = pbx.cli_ok(&["user", "list", "acme", "--json"]);
    assert!(ready.exists(), "the browser did not register:\n{regs}\n{}", pbx.log());

    // The browser's call to 101 has ended once the script waits for the incoming call.
    let waiting = called.with_extension("ready");
    assert!(wait_for(Duration::from_secs(60), || waiting.exists() || finished(&mut browser)), "the browser's call did not finish");
    if finished(&mut browser) && !waiting.exists() {
        let out = browser.wait_with_output().unwrap();
        panic!(
            "the browser script ended early:\n{}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            pbx.log()
        );
    }
    let got = phone.sink.packets();
    if audible(&got) <= 50 {
        let _ = browser.kill();
        let out = browser.wait_with_output().unwrap();
        panic!(
            "the SIPp phone got {} RTP packets, {} audible, from the browser's call\n{}\n{}\n{}",
            got.len(),
            audible(&got),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            pbx.log()
        );
    }

    // 103's desk phone rings with the browser and is cancelled when the browser answers.
    let desk_port = free_port();
    let desk = Sipp::spawn(&pbx, "uas_ring.xml", desk_port, &["-m", "1"]);
    assert!(Sipp::register(&pbx, "103", "secret103", free_port(), desk_port, 300), "103's desk phone did not register");
    pbx.settle();
    let called_ok = finished(&mut browser) || sipp_call(&pbx, "102", "secret102", "103", 5000);
    let out = browser.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && called_ok, "browser test failed:\n{stdout}\n{stderr}\n{}", pbx.log());
    assert!(stdout.contains("phone browser test passed"), "{stdout}");
    assert!(stdout.contains("\"caller\":\"102\""), "the browser saw the caller's number: {stdout}");

    assert!(desk.wait(Duration::from_secs(10)), "the desk phone was not rung and then cancelled:\n{}", Sipp::logs(&pbx, "uas_ring"));

    // Both calls are in the call log as answered calls of 103.
    let rows = call_log(&pbx);
    let of_103: Vec<_> = rows.iter().filter(|r| r["caller_number"] == "103" || r["callee"] == "103").collect();
    assert_eq!(of_103.len(), 2, "{rows:?}");
    assert!(of_103.iter().all(|r| r["disposition"] == "answered"), "{of_103:?}");
    let show = |id: &str| -> serde_json::Value { serde_json::from_str(&pbx.cli_ok(&["calls", "show", "acme", id, "--json"])).unwrap() };
    // The browser's key reached the engine as RFC 4733.
    let outgoing = of_103.iter().find(|r| r["caller_number"] == "103").unwrap()["id"].as_str().unwrap().to_string();
    let keys: Vec<String> = show(&outgoing)["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "dtmf")
        .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(keys, vec!["5 rfc4733 caller".to_string()], "the browser's key as the engine saw it");
    // The call to the browser is recorded with sound on both channels (the caller's voice
    // on the left, the browser's microphone on the right).
    let incoming = of_103.iter().find(|r| r["callee"] == "103").unwrap()["id"].as_str().unwrap().to_string();
    assert!(wait_for(Duration::from_secs(15), || show(&incoming)["recording"]["format"] == "ogg"), "no recording: {}", show(&incoming));
    let wav = pbx.dir.path().join("browser-call.wav");
    pbx.cli_ok(&["recordings", "export", "acme", &incoming, &wav.display().to_string()]);
    let w = pbx_media::wav::parse(&std::fs::read(&wav).unwrap()).unwrap();
    assert_eq!(w.channels, 2);
    let s = pbx_media::wav::samples(&w).unwrap();
    let rms = |ch: usize| {
        let v: Vec<f64> = s.iter().skip(ch).step_by(2).map(|x| f64::from(*x)).collect();
        (v.iter().map(|x| x * x).sum::<f64>() / v.len().max(1) as f64).sqrt()
    };
    assert!(rms(0) > 100.0 && rms(1) > 100.0, "channel levels: caller {} browser {}", rms(0), rms(1));
}

#[test]
fn the_cabinets_phone_takes_and_makes_calls_with_the_session() {
    require_tool("sipp", "sip-tester");
    require_tool("node", "nodejs");
    assert!(Path::new("/usr/bin/chromium").exists(), "/usr/bin/chromium is required");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/web");
    node_packages(&web);
    // A STUN server for the browser (nothing answers on it here: host candidates still win).
    let pbx = Pbx::start(Db::Sqlite, &[("PBX_WEBRTC_ICE_SERVERS", r#"[{"urls":"stun:127.0.0.1:3478"}]"#)]);
    pbx.seed_acme();
    // 105 signs in to the cabinet; its SIP password is never given to the browser.
    pbx.cli_ok(&["user", "create", "acme", "105", "--password", "secret105", "--name", "Olga Smirnova", "--web-password", "olga-pass-1"]);
    pbx.settle();
    // 101 takes the transferred caller; 102 the call dialled from the page.
    let colleague = answering_phone(&pbx, "101", "secret101");
    let phone = answering_phone(&pbx, "102", "secret102");
    let files = tempfile::tempdir().unwrap();
    let (ready, done) = (files.path().join("ready"), files.path().join("done"));
    let mut browser = Command::new("node")
        .arg("phone_cabinet.mjs")
        .current_dir(&web)
        .env("BASE", format!("http://{}", pbx.http))
        .env("LOGIN", "105@acme")
        .env("PASSWORD", "olga-pass-1")
        .env("CALL_TO", "102")
        .env("CALLER", "103")
        .env("TRANSFER_TO", "101")
        .env("READY_FILE", &ready)
        .env("DONE_FILE", &done)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let finished = |b: &mut std::process::Child| matches!(b.try_wait(), Ok(Some(_)));
    assert!(wait_for(Duration::from_secs(60), || ready.exists() || finished(&mut browser)), "the cabinet's phone did not get ready");
    let called_ok = finished(&mut browser) || sipp_call(&pbx, "103", "secret103", "105", 15000);
    let out = browser.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && called_ok, "cabinet phone test failed:\n{stdout}\n{stderr}\n{}", pbx.log());
    let heard = colleague.sink.packets();
    assert!(audible(&heard) > 30, "101 got {} RTP packets, {} audible, from the transferred caller", heard.len(), audible(&heard));
    let got = phone.sink.packets();
    assert!(audible(&got) > 50, "102 got {} RTP packets, {} audible, from the cabinet's call", got.len(), audible(&got));
    let rows = call_log(&pbx);
    let incoming = rows.iter().find(|r| r["caller_number"] == "103" && r["callee"] == "105").unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(incoming["disposition"], "answered");
    let shown: serde_json::Value =
        serde_json::from_str(&pbx.cli_ok(&["calls", "show", "acme", incoming["id"].as_str().unwrap(), "--json"])).unwrap();
    let transfers: Vec<&str> =
        shown["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "transfer").filter_map(|e| e["detail"].as_str()).collect();
    assert!(transfers.iter().any(|d| d.starts_with("blind to 101")), "the browser's transfer in the timeline: {transfers:?}");
    assert!(rows.iter().any(|r| r["caller_number"] == "105" && r["callee"] == "102" && r["disposition"] == "answered"), "{rows:?}");
}

#[test]
fn a_browser_picks_an_ivr_branch_holds_a_call_and_comes_back_after_a_drop() {
    require_tool("sipp", "sip-tester");
    require_tool("node", "nodejs");
    assert!(Path::new("/usr/bin/chromium").exists(), "/usr/bin/chromium is required");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/web");
    node_packages(&web);
    const DID: &str = "+74951234567";
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.cli_ok(&["user", "create", "acme", "104", "--password", "secret104", "--name", "Second Browser"]);
    pbx.cli_ok(&["trunk", "create", "carrier", "--host", "127.0.0.51:5060", "--allow-ip", "127.0.0.51/32"]);
    pbx.cli_ok(&["did", "add", "acme", DID, "--trunk", "carrier"]);
    // The example office's menu, open all week: 1 sales (101), 2 support (102), no key 101.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/office/scenario.json");
    let mut scenario: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let all = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    scenario["nodes"]["hours"]["config"] = serde_json::json!({"weekly": [{"days": all, "from": "00:00", "to": "24:00"}]});
    let file = pbx.dir.path().join("office.json");
    std::fs::write(&file, scenario.to_string()).unwrap();
    pbx.cli_ok(&["scenario", "set", "acme", DID, file.to_str().unwrap()]);
    pbx.settle();
    let sales = answering_phone(&pbx, "101", "secret101");
    let support = answering_phone(&pbx, "102", "secret102");
    let files = tempfile::tempdir().unwrap();
    let branch = files.path().join("branch");
    let mut browser = Command::new("node")
        .arg("phone_ivr.mjs")
        .current_dir(&web)
        .env("BASE", format!("http://{}", pbx.http))
        .env("DOMAIN", "acme.example")
        .env("EXT1", "103")
        .env("PASSWORD1", "secret103")
        .env("EXT2", "104")
        .env("PASSWORD2", "secret104")
        .env("NUMBER", DID)
        .env("KEY", "2")
        .env("BRANCH_FILE", &branch)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let finished = |b: &mut std::process::Child| matches!(b.try_wait(), Ok(Some(_)));
    assert!(wait_for(Duration::from_secs(60), || branch.exists() || finished(&mut browser)), "the browser did not reach the menu");
    // The key chose support: 102 gets the browser's voice, 101 is never rung.
    let reached = wait_for(Duration::from_secs(20), || audible(&support.sink.packets()) > 50);
    std::fs::write(branch.with_extension("done"), "ok").unwrap();
    let out = browser.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(reached, "102 got {} audible packets after the key\n{stdout}\n{stderr}\n{}", audible(&support.sink.packets()), pbx.log());
    assert!(out.status.success(), "browser test failed:\n{stdout}\n{stderr}\n{}", pbx.log());
    assert!(stdout.contains("phone ivr test passed"), "{stdout}");
    assert!(sales.sink.packets().is_empty(), "101 (no key, a wrong key) was not rung");

    let rows = call_log(&pbx);
    let show = |id: &str| -> serde_json::Value { serde_json::from_str(&pbx.cli_ok(&["calls", "show", "acme", id, "--json"])).unwrap() };
    let menu_call = rows.iter().find(|r| r["callee"] == DID).unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(menu_call["caller_number"], "103");
    assert_eq!(menu_call["direction"], "internal", "the company's own number stays inside: {menu_call}");
    let tl = show(menu_call["id"].as_str().unwrap())["timeline"].as_array().unwrap().clone();
    let has = |kind: &str, part: &str| tl.iter().any(|e| e["kind"] == kind && e["detail"].as_str().unwrap_or("").contains(part));
    assert!(has("node", "menu: ivr") && has("play", "welcome ivr-menu"), "{tl:#?}");
    assert!(has("dtmf", "2 rfc4733 caller") && has("gathered", "\"2\""), "{tl:#?}");
    assert!(has("dial", "102"), "{tl:#?}");
    // The call between the browsers was put on hold and taken off it by each side.
    let between: Vec<_> = rows.iter().filter(|r| r["caller_number"] == "103" && r["callee"] == "104").collect();
    let held = between.iter().any(|r| {
        let tl = show(r["id"].as_str().unwrap())["timeline"].as_array().unwrap().clone();
        let kinds: Vec<(String, String)> =
            tl.iter().map(|e| (e["kind"].as_str().unwrap_or("").to_string(), e["detail"].as_str().unwrap_or("").to_string())).collect();
        ["caller", "callee"]
            .iter()
            .all(|who| kinds.contains(&("hold".into(), who.to_string())) && kinds.contains(&("resume".into(), who.to_string())))
    });
    assert!(held, "no call between the browsers has the hold and the resume: {between:?}");
    // And the call after the reconnect was answered.
    assert_eq!(
        rows.iter().filter(|r| r["caller_number"] == "103" && r["callee"] == "104" && r["disposition"] == "answered").count(),
        2,
        "{rows:?}"
    );
}
