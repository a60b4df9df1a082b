//! The cabinet in a real browser: headless Chromium driven by Playwright (tests/web) against
//! the real binary after a real SIPp call. The browser script logs in, creates a user,
//! uploads and plays a greeting, builds and saves a scenario in the visual editor, finds the
//! call in the log and plays its recording, checks the statistics against the log, and
//! checks that a user cannot open supervisor pages; it also validates the OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const DID: &str = "+74951230001";
/// A city number answered by the example office's scenario (the editor's layout is checked on it).
const OFFICE_DID: &str = "+74951230002";

#[test]
fn cabinet_in_a_browser() {
    require_tool("sipp", "sip-tester");
    require_tool("node", "nodejs");
    require_tool("npm", "npm");
    assert!(Path::new("/usr/bin/chromium").exists(), "/usr/bin/chromium is required: install the Debian package chromium (.ci/run does)");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/web");
    node_packages(&web);

    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.cli_ok(&["tenant", "create", "acme", "--domain", "acme.example", "--name", "Acme", "--no-supervisor"]);
    pbx.cli_ok(&["user", "create", "acme", "101", "--password", "secret101", "--role", "supervisor", "--web-password", "boss-pass-1"]);
    pbx.cli_ok(&["user", "create", "acme", "102", "--password", "secret102", "--name", "Maria Ivanova"]);
    pbx.cli_ok(&["operator", "create", "root", "--password", "operator-pass-1"]);
    pbx.cli_ok(&["trunk", "create", "carrier", "--host", "127.0.0.1:5999", "--allow-ip", "127.0.0.9/32"]);
    pbx.cli_ok(&["did", "add", "acme", DID, "--trunk", "carrier"]);
    pbx.cli_ok(&["did", "add", "acme", OFFICE_DID, "--trunk", "carrier"]);
    let office = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/office/scenario.json");
    pbx.cli_ok(&["scenario", "set", "acme", OFFICE_DID, office.to_str().unwrap()]);
    pbx.cli_ok(&["queue", "create", "acme", "600", "--strategy", "ring-all", "--agents", "101,102", "--name", "Support"]);
    let crm = pbx_bundled_plugins::component_path("test_plugin_crm");
    pbx.cli_ok(&["plugin", "install", "acme", crm.to_str().unwrap()]);
    pbx.settle();
    let _phone = answering_phone(&pbx, "102", "secret102");
    assert!(sipp_call(&pbx, "101", "secret101", "102", 3000), "the call failed:\n{}", pbx.log());
    // The recording is compressed after the call; the browser plays the stored one.
    assert!(
        wait_for(Duration::from_secs(15), || {
            let id = call_log(&pbx)[0]["id"].as_str().unwrap_or_default().to_string();
            let out = pbx.cli_ok(&["calls", "show", "acme", &id, "--json"]);
            out.contains("\"format\": \"ogg\"") || out.contains("\"format\":\"ogg\"")
        }),
        "the recording was not stored"
    );

    let out = Command::new("node")
        .arg("cabinet.mjs")
        .current_dir(&web)
        .env("BASE", format!("http://{}", pbx.http))
        .env("DID", DID)
        .env("OFFICE_DID", OFFICE_DID)
        .env("GREETING", data_dir().join("audio/greeting.mp3"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("cabinet browser test passed"), "{stdout}");
}
