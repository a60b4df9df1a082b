//! Schemathesis against the real binary: it reads `/api/v1/openapi.json`, generates requests
//! from the schemas of every route (valid and invalid bodies, parameters and queries) and
//! sends them with an operator's, a supervisor's and a user's token in turn. No request may
//! be answered with a 5xx (`not_a_server_error`), and every answer must match the schema the
//! document gives for its status (`response_schema_conformance`).
//!
//! Schemathesis is a Python tool pinned by `.ci/run`, which installs it into a virtual
//! environment under `target/schemathesis` (`PBX_SCHEMATHESIS` names another executable).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds of generated requests per token (schemathesis's `--max-time`).
const SECONDS_PER_TOKEN: u64 = 40;

fn schemathesis() -> PathBuf {
    let path = std::env::var_os("PBX_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/schemathesis/bin/schemathesis"));
    let ok = Command::new(&path).arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(
        ok,
        "schemathesis is required by this test and {} does not run: install it as .ci/run does \
         (python3 -m venv target/schemathesis && target/schemathesis/bin/pip install schemathesis==<the version .ci/run pins>)",
        path.display()
    );
    path
}

/// The last line the CLI printed (the token).
fn token(pbx: &Pbx, args: &[&str]) -> String {
    pbx.cli_ok(args).trim().lines().last().unwrap().trim().to_string()
}

/// A tenant with something behind every route: users, a queue, a city number with a
/// scenario, a contact, a webhook, a prompt and a plugin.
fn seed(pbx: &Pbx) {
    pbx.cli_ok(&["tenant", "create", "acme", "--domain", "acme.example", "--name", "Acme", "--no-supervisor"]);
    pbx.cli_ok(&["user", "create", "acme", "101", "--password", "secret101", "--role", "supervisor", "--web-password", "boss-pass-1"]);
    pbx.cli_ok(&["user", "create", "acme", "102", "--password", "secret102", "--name", "Clerk", "--web-password", "clerk-pass-1"]);
    pbx.cli_ok(&["user", "create", "acme", "103", "--password", "secret103", "--name", "Third"]);
    pbx.cli_ok(&["operator", "create", "root", "--password", "operator-pass"]);
    pbx.cli_ok(&["trunk", "create", "carrier", "--host", "127.0.0.1:5999", "--allow-ip", "127.0.0.9/32"]);
    pbx.cli_ok(&["did", "add", "acme", "+74951230001", "--trunk", "carrier"]);
    pbx.cli_ok(&["queue", "create", "acme", "300", "--strategy", "ring-all", "--agents", "101,102"]);
    pbx.cli_ok(&["contact", "set", "acme", "+74957654321", "Supplier", "--company", "Parts Ltd"]);
    pbx.cli_ok(&["webhook", "add", "acme", "http://127.0.0.1:9/hook", "--description", "CRM"]);
    let greeting = data_dir().join("audio/greeting-8k-mono.wav");
    pbx.cli_ok(&["prompt", "upload", "acme", "acme-hello", &greeting.display().to_string()]);
    let template = pbx_bundled_plugins::component_path("pbx_plugin_template");
    pbx.cli_ok(&["plugin", "install", "acme", &template.display().to_string()]);
}

/// Runs schemathesis with a token; its exit status and everything it printed.
fn run(tool: &PathBuf, pbx: &Pbx, who: &str, token: &str, dir: &std::path::Path) -> (bool, String) {
    let url = format!("http://{}/api/v1/openapi.json", pbx.http);
    let auth = format!("Authorization: Bearer {token}");
    let max_time = SECONDS_PER_TOKEN.to_string();
    let mut child = Command::new(tool)
        .args(["run", &url, "--header", &auth])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-time", &max_time, "--max-examples", "25", "--workers", "1", "--seed", "20240601"])
        .args(["--phases", "examples,coverage,fuzzing", "--request-timeout", "20", "--generation-database", "none"])
        .args(["--no-color", "--continue-on-failure", "--output-truncate", "false"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("schemathesis starts");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        let mut e = String::new();
        let _ = err.read_to_string(&mut e);
        s + &e
    });
    // The time budget plus the slowest request and the report: a hung run fails here.
    let deadline = Instant::now() + Duration::from_secs(SECONDS_PER_TOKEN + 60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = reader.join().unwrap();
    match status {
        Some(st) => (st.success(), text),
        None => (false, format!("schemathesis ({who}) did not finish in time\n{text}")),
    }
}

#[test]
fn schemathesis_finds_no_server_error_for_any_role() {
    let tool = schemathesis();
    let pbx = Pbx::start(Db::Sqlite, &[]);
    seed(&pbx);
    let supervisor = token(&pbx, &["token", "create", "acme", "--role", "supervisor", "--label", "schemathesis"]);
    let user = token(&pbx, &["token", "create", "acme", "--role", "user", "--ext", "102", "--label", "schemathesis"]);
    let operator = token(&pbx, &["token", "create", "--operator", "--label", "schemathesis"]);
    pbx.settle();
    let work = tempfile::tempdir().unwrap();
    // No route is excluded, destructive ones included (generated ids and slugs seldom name
    // what the seed made, and a deletion that does only turns later answers into 404s). The
    // operator goes last: what it changes (a suspended tenant) would only hide routes from
    // the others behind 403s.
    let mut failures = Vec::new();
    for (who, token) in [("user", &user), ("supervisor", &supervisor), ("operator", &operator)] {
        let started = Instant::now();
        let (ok, text) = run(&tool, &pbx, who, token, work.path());
        eprintln!("schemathesis as {who}: {} in {:.0?}", if ok { "passed" } else { "FAILED" }, started.elapsed());
        // Not vacuous: the document loaded and every route got requests.
        let generated = generated_cases(&text);
        let (selected, total) = operations(&text);
        if !ok || generated < 500 || selected < 70 || selected != total {
            failures.push(format!("---- schemathesis as {who} ({generated} test cases) ----\n{text}"));
        }
    }
    assert!(failures.is_empty(), "{}\n---- pbx serve log (tail) ----\n{}", failures.join("\n"), tail(&pbx.log(), 80));
}

/// The number in the summary's `Test cases: N generated`.
fn generated_cases(text: &str) -> u64 {
    let after = text.split("Test cases:").nth(1).unwrap_or("");
    after.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The numbers in `Operations: N selected / M total`.
fn operations(text: &str) -> (u64, u64) {
    let line = text.lines().find(|l| l.trim_start().starts_with("Operations:")).unwrap_or("");
    let nums: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (nums.first().copied().unwrap_or(0), nums.get(1).copied().unwrap_or(u64::MAX))
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
