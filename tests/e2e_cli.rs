//! The operator's CLI against the real binary: one-line errors with a non-zero exit, JSON
//! listings, and a running server that sees changes without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::phone::Phone;
use common::*;
use std::time::Duration;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn errors_are_one_clear_line_with_failure_exit() {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    for (args, needle) in [
        (vec!["tenant", "create", "acme", "--domain", "other.example"], "already exists"),
        (vec!["tenant", "create", "Bad Slug", "--domain", "x.example"], "invalid tenant slug"),
        (vec!["user", "create", "nope", "200", "--password", "secret200"], "tenant nope not found"),
        (vec!["user", "create", "acme", "101", "--password", "secret101"], "extension 101 already exists"),
        (vec!["user", "create", "acme", "1x", "--password", "secret101"], "invalid extension"),
        (vec!["user", "create", "acme", "150", "--password", "abc"], "SIP password must be"),
        (vec!["user", "delete", "acme", "555"], "extension 555 not found"),
        (vec!["calls", "list", "nope"], "tenant nope not found"),
        (vec!["trunk", "create", "t1", "--host", "carrier.example:5060"], "needs at least one allowed address"),
        (vec!["trunk", "create", "t1", "--host", "c.example:5060", "--register"], "needs a user name and a password"),
        (vec!["trunk", "create", "t1", "--host", "c.example:0", "--allow-ip", "10.0.0.1"], "invalid trunk host"),
        (vec!["trunk", "create", "t1", "--host", "c.example:5060", "--allow-ip", "10.0.0.0/99"], "invalid allowed address"),
        (vec!["did", "add", "acme", "12", "--trunk", "nope"], "trunk nope not found"),
        (vec!["tenant", "balance", "acme", "ten"], "invalid amount"),
        (vec!["tenant", "suspend", "nope"], "tenant nope not found"),
    ] {
        let out = pbx.cli(&args);
        assert!(!out.status.success(), "{args:?} must fail");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line, got {err:?}");
        assert!(err.starts_with("error: ") && err.contains(needle), "{args:?}: {err:?}");
    }
    // Settings errors are as clear.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pbx"))
        .args(["tenant", "list"])
        .env("PBX_DATABASE_URL", "mysql://x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unsupported database URL"), "{}", stderr(&out));
}

#[test]
fn trunks_and_numbers() {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    pbx.cli_ok(&["trunk", "create", "c1", "--host", "192.0.2.10:5060", "--allow-ip", "192.0.2.0/24"]);
    // A trunk changes in place: what is left out keeps its value; bad values are refused.
    pbx.cli_ok(&["trunk", "set", "c1", "--host", "192.0.2.11:5070"]);
    let bad = pbx.cli(&["trunk", "set", "c1", "--allow-ips", "10.0.0.0/99"]);
    assert!(!bad.status.success() && stderr(&bad).contains("invalid allowed address"), "{}", stderr(&bad));
    let trunks: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["trunk", "list", "--json"])).unwrap();
    assert_eq!((trunks[0]["host"].as_str(), trunks[0]["allow_ips"][0].as_str()), (Some("192.0.2.11:5070"), Some("192.0.2.0/24")));
    // A queue with its own music and entry announcement, changed by `group set`.
    let none = pbx.cli(&["queue", "create", "acme", "300", "--strategy", "ring-all", "--agents", "101", "--music", "no-such"]);
    assert!(stderr(&none).contains("there is no prompt \"no-such\""), "{}", stderr(&none));
    pbx.cli_ok(&[
        "queue",
        "create",
        "acme",
        "300",
        "--strategy",
        "ring-all",
        "--agents",
        "101",
        "--music",
        "please-hold",
        "--entry-prompt",
        "welcome",
    ]);
    pbx.cli_ok(&["group", "set", "acme", "300", "--max-length", "30", "--music", ""]);
    let groups: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["group", "list", "acme", "--json"])).unwrap();
    assert_eq!((groups[0]["max_length"].as_i64(), groups[0]["music_prompt"].as_str()), (Some(30), Some("")));
    assert_eq!(groups[0]["entry_prompt"], "welcome");
    let out = pbx.cli(&["did", "add", "acme", "not-a-number", "--trunk", "c1"]);
    assert!(!out.status.success() && stderr(&out).contains("not a telephone number"), "{}", stderr(&out));
    pbx.cli_ok(&["did", "add", "acme", "8 (495) 111-22-33", "--trunk", "c1"]);
    pbx.cli_ok(&["did", "add", "acme", "+74952223344", "--trunk", "c1", "--user", "101"]);
    let dup = pbx.cli(&["did", "add", "acme", "74951112233", "--trunk", "c1"]);
    assert!(stderr(&dup).contains("number +74951112233 already exists"), "{}", stderr(&dup));
    let dids: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["did", "list", "acme", "--json"])).unwrap();
    assert_eq!(dids[0]["number"], "+74951112233");
    assert_eq!(dids[0]["is_main"], true);
    assert_eq!(dids[1]["user_ext"], "101");
    let busy = pbx.cli(&["trunk", "delete", "c1"]);
    assert!(stderr(&busy).contains("still carries 2 city number(s)"), "{}", stderr(&busy));
    pbx.cli_ok(&["did", "delete", "acme", "+74951112233"]);
    let dids: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["did", "list", "acme", "--json"])).unwrap();
    assert_eq!(dids[0]["is_main"], true, "the remaining number becomes the main one");
    pbx.cli_ok(&["did", "delete", "acme", "+74952223344"]);
    pbx.cli_ok(&["trunk", "delete", "c1"]);
    assert_eq!(pbx.cli_ok(&["trunk", "list", "--json"]).trim(), "[]");
    let t: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["tenant", "list", "--json"])).unwrap();
    assert_eq!(t[0]["balance_cents"], 0);
    pbx.cli_ok(&["tenant", "balance", "acme", "-12.5"]);
    assert!(pbx.cli_ok(&["tenant", "list"]).contains("-12.50"));
}

#[test]
fn listings_print_json() {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    pbx.seed_acme();
    let tenants: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["tenant", "list", "--json"])).unwrap();
    assert_eq!(tenants[0]["slug"], "acme");
    assert_eq!(tenants[0]["domain"], "acme.example");
    assert_eq!(tenants[0]["status"], "active");
    let users: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["user", "list", "acme", "--json"])).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 3);
    assert_eq!(users[0]["ext"], "101");
    assert_eq!(users[0]["name"], "Иван Петров");
    assert!(users[0].get("sip_password").is_none(), "passwords are not printed");
    let calls: serde_json::Value = serde_json::from_str(&pbx.cli_ok(&["calls", "list", "acme", "--json"])).unwrap();
    assert_eq!(calls, serde_json::json!([]));
    let table = pbx.cli_ok(&["user", "list", "acme"]);
    assert!(table.starts_with("EXT"), "{table}");
    assert!(table.contains("Maria Ivanova"));
}

#[test]
fn running_server_sees_changes_without_restart() {
    let pbx = Pbx::start(Db::Sqlite, &[]);
    // The tenant and user are created after the server started.
    pbx.cli_ok(&["tenant", "create", "acme", "--domain", "acme.example"]);
    pbx.cli_ok(&["user", "create", "acme", "120", "--password", "secret120", "--role", "supervisor", "--web-password", "cabinetpass"]);
    let mut phone = Phone::new(pbx.sip, "120", "secret120", "127.0.0.1");
    phone.user = "120".into();
    assert!(wait_for(Duration::from_secs(5), || phone.register(120).status == 200), "the new user could not register");
    pbx.cli_ok(&["user", "delete", "acme", "120"]);
    assert!(wait_for(Duration::from_secs(5), || phone.register(120).status == 403), "the deleted user can still register");
    assert!(wait_for(Duration::from_secs(3), || pbx.metric("pbx_registrations") == 0.0));
}
