//! Scenarios and plugins through the operator's CLI: validation when a scenario is saved,
//! the simulator's paths through the example office (checked line by line), the tenant's
//! time zone, and a third-party plugin (the template) installed, used, disabled and removed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const DID: &str = "+74951234567";

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn office_file() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/office/scenario.json").display().to_string()
}

fn setup() -> Pbx {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.cli_ok(&["trunk", "create", "carrier", "--host", "127.0.0.52:5060", "--allow-ip", "127.0.0.52"]);
    pbx.cli_ok(&["did", "add", "acme", DID, "--trunk", "carrier"]);
    pbx
}

fn write(pbx: &Pbx, json: &str) -> String {
    let f = pbx.dir.path().join(format!("s{}.json", rand_u32()));
    std::fs::write(&f, json).unwrap();
    f.display().to_string()
}

#[test]
fn scenarios_are_validated_when_saved() {
    let pbx = setup();
    let node = |n: &str| format!(r#"{{"start":"a","nodes":{{"a":{n},"bye":{{"type":"hangup"}}}}}}"#);
    let cases = [
        ("not json", "not a scenario"),
        (&node(r#"{"type":"plugin","plugin":"nope","next":{"*":"bye"}}"#), "node \"a\": there is no plugin \"nope\""),
        (&node(r#"{"type":"plugin","plugin":"ivr","config":{"options":{}},"next":{"*":"bye"}}"#), "config: prompt is required"),
        (
            &node(r#"{"type":"plugin","plugin":"ivr","config":{"prompt":"x","options":{"1":"s"},"retries":9},"next":{"*":"bye"}}"#),
            "at most 5",
        ),
        (&node(r#"{"type":"plugin","plugin":"time-rules","config":{"weekly":[]},"next":{"open":"bye"}}"#), "\"closed\" leads nowhere"),
        (&node(r#"{"type":"plugin","plugin":"time-rules","config":{"weekly":[]},"next":{"*":"gone"}}"#), "\"gone\", which is not a node"),
        (&node(r#"{"type":"dial","targets":["999"],"next":{"*":"bye"}}"#), "target \"999\": no such extension"),
        (&node(r#"{"type":"play","prompts":["no-such-prompt"],"next":{"*":"bye"}}"#), "no prompt \"no-such-prompt\""),
        (&node(r#"{"type":"hangup","extra":1}"#), "unknown field `extra`"),
    ];
    for (json, needle) in cases {
        let f = write(&pbx, json);
        let out = pbx.cli(&["scenario", "set", "acme", DID, &f]);
        assert!(!out.status.success(), "{json} must be refused");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{json}: {err:?}");
        assert!(err.contains(needle), "{json}: {err:?}");
    }
    let out = pbx.cli(&["scenario", "get", "acme", DID]);
    assert!(stderr(&out).contains("no scenario: everyone of acme rings"), "{}", stderr(&out));
    let out = pbx.cli(&["scenario", "set", "acme", "+74950000000", &office_file()]);
    assert!(stderr(&out).contains("number +74950000000 not found"), "{}", stderr(&out));
    // The reference office is valid; the stored copy reads back (any number form).
    assert!(pbx.cli_ok(&["scenario", "set", "acme", "8 (495) 123-45-67", &office_file()]).contains("7 nodes"));
    let stored: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["scenario", "get", "acme", DID])).unwrap();
    assert_eq!(stored["nodes"]["hours"]["plugin"], "time-rules");
    pbx.cli_ok(&["scenario", "clear", "acme", DID]);
    assert!(!pbx.cli(&["scenario", "get", "acme", DID]).status.success());
}

#[test]
fn the_simulator_walks_the_example_office() {
    let pbx = setup();
    pbx.cli_ok(&["tenant", "set", "acme", "--timezone", "Europe/Moscow"]);
    pbx.cli_ok(&["scenario", "set", "acme", DID, &office_file()]);
    let sim = |at: &str, digits: &str, extra: &[&str]| {
        let mut args = vec!["scenario", "simulate", "acme", DID, "--at", at, "--from", "+79161234567", "--digits", digits];
        args.extend_from_slice(extra);
        pbx.cli_ok(&args)
    };
    // Tuesday morning, key 2.
    assert_eq!(
        sim("2026-11-24T10:00:00+03:00", "2", &[]),
        "1. hours [time-rules] → open\n\
         2. menu [ivr]: play welcome, ivr-menu and collect digits; digits \"2\" (timeout) → support\n\
         3. ring-102 [dial]: ring 102 for 30 s; connected\n\
         end: connected to 102\n"
    );
    // Saturday: closed.
    assert_eq!(
        sim("2026-11-28T10:00:00+03:00", "", &[]),
        "1. hours [time-rules] → closed\n2. closed [play]: play closed → done\n3. bye [hangup]: hang up\nend: hung up\n"
    );
    // 18:00 sharp is closed; 17:59 open.
    assert!(sim("2026-11-24T18:00:00+03:00", "", &[]).starts_with("1. hours [time-rules] → closed"));
    assert!(sim("2026-11-24T17:59:00+03:00", "1", &[]).contains("→ sales"));
    // An extension dialled from the greeting.
    let ext = sim("2026-11-24T10:00:00+03:00", "103", &[]);
    assert!(ext.contains("caller dialled extension 103") && ext.ends_with("end: connected to 103\n"), "{ext}");
    // Nobody answers: "not available", then the call ends.
    let na = sim("2026-11-24T10:00:00+03:00", "1", &["--no-answer"]);
    assert!(na.contains("3. ring-101 [dial]: ring 101 for 30 s; dial ended: no-answer → no-answer"), "{na}");
    assert!(na.contains("4. not-available [play]") && na.ends_with("end: hung up\n"), "{na}");
    // No key at all: two retries, then the timeout output rings 101.
    let none = sim("2026-11-24T10:00:00+03:00", ",,", &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&none).unwrap();
    assert_eq!(v["path"][1]["output"], "timeout");
    assert_eq!(v["path"][1]["actions"].as_array().unwrap().len(), 6, "{none}");
    assert_eq!(v["end"], "connected to 101");
    // The clock is the tenant's: 07:30 UTC is 10:30 in Moscow (open) but closed in UTC.
    assert!(sim("2026-11-24T07:30:00Z", "2", &[]).contains("→ open"));
    pbx.cli_ok(&["tenant", "set", "acme", "--timezone", "UTC"]);
    assert!(sim("2026-11-24T07:30:00Z", "2", &[]).contains("→ closed"));
    let bad = pbx.cli(&["scenario", "simulate", "acme", DID, "--at", "yesterday", "--from", "1"]);
    assert!(stderr(&bad).contains("--at must be an RFC 3339 time"), "{}", stderr(&bad));
}

#[test]
fn a_third_party_plugin_is_installed_used_disabled_and_removed() {
    let pbx = setup();
    let template = pbx_bundled_plugins::component_path("pbx_plugin_template");
    let out = pbx.cli_ok(&["plugin", "install", "acme", template.to_str().unwrap()]);
    assert!(out.contains("installed vip 0.1.0 for acme"), "{out}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&pbx.cli_ok(&["plugin", "list", "acme", "--json"])).unwrap();
    let names: Vec<(&str, &str)> = list.iter().map(|p| (p["name"].as_str().unwrap(), p["source"].as_str().unwrap())).collect();
    assert_eq!(
        names,
        vec![
            ("ivr", "first-party"),
            ("name-lookup", "first-party"),
            ("queue", "first-party"),
            ("time-rules", "first-party"),
            ("vip", "installed")
        ]
    );
    // Its configuration is checked against its own schema.
    let vip = |numbers: &str| {
        format!(
            r#"{{"start":"v","nodes":{{"v":{{"type":"plugin","plugin":"vip","config":{{"numbers":{numbers}}},"next":{{"vip":"boss","other":"all"}}}},
            "boss":{{"type":"dial","targets":["103"],"next":{{"*":"all"}}}},"all":{{"type":"dial","targets":["101","102"],"next":{{"*":"bye"}}}},"bye":{{"type":"hangup"}}}}}}"#
        )
    };
    let bad = pbx.cli(&["scenario", "set", "acme", DID, &write(&pbx, &vip(r#"["12"]"#))]);
    assert!(stderr(&bad).contains("does not match"), "{}", stderr(&bad));
    pbx.cli_ok(&["scenario", "set", "acme", DID, &write(&pbx, &vip(r#"["+79161234567"]"#))]);
    let sim = |from: &str| pbx.cli_ok(&["scenario", "simulate", "acme", DID, "--at", "2026-11-24T10:00:00Z", "--from", from]);
    assert!(sim("+79161234567").contains("1. v [vip] → vip\n2. boss [dial]"), "{}", sim("+79161234567"));
    assert!(sim("+74950000000").contains("1. v [vip] → other\n2. all [dial]"));
    // Disabled: its node fails and the fallback rings everyone.
    pbx.cli_ok(&["plugin", "disable", "acme", "vip"]);
    assert!(sim("+79161234567").contains("end: fallback (everyone rings): the plugin vip is disabled"), "{}", sim("+79161234567"));
    pbx.cli_ok(&["plugin", "enable", "acme", "vip"]);
    // An upgrade (same component here) keeps it working; removal is refused while in use.
    assert!(pbx.cli_ok(&["plugin", "install", "acme", template.to_str().unwrap()]).contains("installed vip"));
    let rm = pbx.cli(&["plugin", "remove", "acme", "vip"]);
    assert!(stderr(&rm).contains("uses vip"), "{}", stderr(&rm));
    pbx.cli_ok(&["scenario", "clear", "acme", DID]);
    pbx.cli_ok(&["plugin", "remove", "acme", "vip"]);
    // Files that are not plugins get a clear refusal.
    let junk = write(&pbx, "this is not wasm");
    let out = pbx.cli(&["plugin", "install", "acme", &junk]);
    assert!(
        !out.status.success() && stderr(&out).contains("is not a usable plugin: it is not a WebAssembly component"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("0x"), "no byte dump: {}", stderr(&out));
    // A core module (not a component) is told apart, with what to do.
    let module = pbx.dir.path().join("module.wasm");
    std::fs::write(&module, [0u8, b'a', b's', b'm', 1, 0, 0, 0]).unwrap();
    let out = pbx.cli(&["plugin", "install", "acme", module.to_str().unwrap()]);
    assert!(stderr(&out).contains("a WebAssembly module, not a component: build the plugin for wasm32-wasip2"), "{}", stderr(&out));
    let builtin_copy = pbx.dir.path().join("ivr.wasm");
    std::fs::write(&builtin_copy, pbx_bundled_plugins::FIRST_PARTY[0].wasm).unwrap();
    let out = pbx.cli(&["plugin", "install", "acme", builtin_copy.to_str().unwrap()]);
    assert!(stderr(&out).contains("is the name of a first-party plugin"), "{}", stderr(&out));
}
