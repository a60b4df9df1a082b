//! Browsers as phones: headless Chromium runs JsSIP (a standard WebRTC SIP client, not the
//! cabinet's code) against the real binary. It registers over SIP over WebSocket with its
//! SIP credentials, calls a SIPp phone (whose RTP socket must get the browser's audio,
//! relayed from WebRTC to plain G.711 by the PBX), then answers a SIPp caller and must hear
//! it (the page's `getStats()`: packets and audio energy).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn node_packages(dir: &Path) {
    if dir.join("node_modules/playwright-core").exists() {
        return;
    }
    let out = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "npm ci in {} failed: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
}

/// RTP packets whose G.711 payload is not silence (a tone or a voice).
fn audible(packets: &[(std::net::SocketAddr, Vec<u8>)]) -> usize {
    packets
        .iter()
        .filter(|(_, p)| p.len() > 12 && p[12..].iter().filter(|b| !matches!(**b, 0xd5 | 0x55 | 0xff | 0x7f)).count() > 40)
        .count()
}

#[test]
fn a_browser_registers_calls_and_answers_over_webrtc() {
    require_tool("sipp", "sip-tester");
    require_tool("node", "nodejs");
    require_tool("npm", "npm");
    assert!(Path::new("/usr/bin/chromium").exists(), "/usr/bin/chromium is required: install the Debian package chromium (.ci/run does)");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/web");
    node_packages(&web);

    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.settle();
    let phone = answering_phone(&pbx, "101", "secret101");
    let files = tempfile::tempdir().unwrap();
    let (ready, called) = (files.path().join("ready"), files.path().join("called"));
    let mut browser = Command::new("node")
        .arg("phone.mjs")
        .current_dir(&web)
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

    let called_ok = finished(&mut browser) || sipp_call(&pbx, "102", "secret102", "103", 5000);
    let out = browser.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && called_ok, "browser test failed:\n{stdout}\n{stderr}\n{}", pbx.log());
    assert!(stdout.contains("phone browser test passed"), "{stdout}");
    assert!(stdout.contains("\"caller\":\"102\""), "the browser saw the caller's number: {stdout}");

    // Both calls are in the call log as answered calls of 103.
    let rows = call_log(&pbx);
    let of_103: Vec<_> = rows.iter().filter(|r| r["caller_number"] == "103" || r["callee"] == "103").collect();
    assert_eq!(of_103.len(), 2, "{rows:?}");
    assert!(of_103.iter().all(|r| r["disposition"] == "answered"), "{of_103:?}");
}

#[test]
fn the_cabinets_phone_takes_and_makes_calls_with_the_session() {
    require_tool("sipp", "sip-tester");
    require_tool("node", "nodejs");
    assert!(Path::new("/usr/bin/chromium").exists(), "/usr/bin/chromium is required");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/web");
    node_packages(&web);
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    // 105 signs in to the cabinet; its SIP password is never given to the browser.
    pbx.cli_ok(&["user", "create", "acme", "105", "--password", "secret105", "--name", "Olga Smirnova", "--web-password", "olga-pass-1"]);
    pbx.settle();
    let phone = answering_phone(&pbx, "101", "secret101");
    let files = tempfile::tempdir().unwrap();
    let (ready, done) = (files.path().join("ready"), files.path().join("done"));
    let mut browser = Command::new("node")
        .arg("phone_cabinet.mjs")
        .current_dir(&web)
        .env("BASE", format!("http://{}", pbx.http))
        .env("LOGIN", "105@acme")
        .env("PASSWORD", "olga-pass-1")
        .env("CALL_TO", "101")
        .env("CALLER", "103")
        .env("READY_FILE", &ready)
        .env("DONE_FILE", &done)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let finished = |b: &mut std::process::Child| matches!(b.try_wait(), Ok(Some(_)));
    assert!(wait_for(Duration::from_secs(60), || ready.exists() || finished(&mut browser)), "the cabinet's phone did not get ready");
    let called_ok = finished(&mut browser) || sipp_call(&pbx, "103", "secret103", "105", 6000);
    let out = browser.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && called_ok, "cabinet phone test failed:\n{stdout}\n{stderr}\n{}", pbx.log());
    let got = phone.sink.packets();
    assert!(audible(&got) > 50, "101 got {} RTP packets, {} audible, from the cabinet's call", got.len(), audible(&got));
    let rows = call_log(&pbx);
    assert!(rows.iter().any(|r| r["caller_number"] == "103" && r["callee"] == "105" && r["disposition"] == "answered"), "{rows:?}");
    assert!(rows.iter().any(|r| r["caller_number"] == "105" && r["callee"] == "101" && r["disposition"] == "answered"), "{rows:?}");
}
