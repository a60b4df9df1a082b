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
