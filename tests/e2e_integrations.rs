//! Integrations against the real binary. Outgoing webhooks with a real HTTP receiver that
//! checks every signature: a call's events arrive in order with their idempotency keys, a
//! receiver that is down gets them later (with the attempts in the delivery log), and a PBX
//! killed with events undelivered loses none of them after it starts again; the recording's
//! link in `recording.ready` fetches the recording without an account. Click-to-call over
//! `POST /api/v1/calls` with SIPp phones: the user's phone first, then the other, with the
//! correlation id in the call's events and the refusals a CRM must tell apart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the receiver got: (event id, kind, body) of every signed post it took.
#[derive(Default)]
struct Received {
    taken: Mutex<Vec<(String, String, Value)>>,
    refused: Mutex<u32>,
    bad_signatures: Mutex<u32>,
}

/// A webhook receiver on loopback: answers 503 while `down`, else checks the signature with
/// the secret (set once known) and takes the event.
struct Receiver {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    secret: Arc<Mutex<String>>,
    got: Arc<Received>,
    _rt: tokio::runtime::Runtime,
}

fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = header.split_once(",v1=") else { return false };
    let Some(t) = t.strip_prefix("t=") else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let fresh = t.parse::<i64>().is_ok_and(|t| (t - pbx_store::now_ms() / 1000).abs() < 300);
    hex == v1 && fresh
}

impl Receiver {
    fn start() -> Receiver {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let down = Arc::new(AtomicBool::new(true));
        let secret = Arc::new(Mutex::new(String::new()));
        let got = Arc::new(Received::default());
        let (d, s, g) = (down.clone(), secret.clone(), got.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (d, s, g) = (d.clone(), s.clone(), g.clone());
                async move {
                    if d.load(Ordering::SeqCst) {
                        *g.refused.lock().unwrap() += 1;
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    if !verify(&s.lock().unwrap(), &h("x-pbx-signature"), &body) {
                        *g.bad_signatures.lock().unwrap() += 1;
                        return axum::http::StatusCode::UNAUTHORIZED;
                    }
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    assert_eq!(v["id"].as_str().unwrap_or(""), h("x-pbx-delivery"), "the delivery id is the event's");
                    assert_eq!(v["event"].as_str().unwrap_or(""), h("x-pbx-event"));
                    g.taken.lock().unwrap().push((h("x-pbx-delivery"), h("x-pbx-event"), v));
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, down, secret, got, _rt: rt }
    }

    fn taken(&self) -> Vec<(String, String, Value)> {
        self.got.taken.lock().unwrap().clone()
    }
}

/// The outbox's events of a kind, read from the server's SQLite file.
fn outbox_count(pbx: &Pbx, kind: &str) -> i64 {
    let url = format!("sqlite://{}/pbx.db?mode=ro", pbx.dir.path().display());
    let kind = kind.to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        sqlx::any::install_default_drivers();
        let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.unwrap();
        let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM event_outbox WHERE kind = $1").bind(kind).fetch_one(&mut c).await.unwrap();
        n.0
    })
}

fn api(pbx: &Pbx, token: &str, path: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.get(&format!("http://{}{path}", pbx.http)).header("Authorization", &format!("Bearer {token}")).call().unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_vec().unwrap())
}

fn post(pbx: &Pbx, token: &str, path: &str, body: Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent
        .post(&format!("http://{}{path}", pbx.http))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap_or(Value::Null))
}

#[test]
fn click_to_call_rings_the_user_first_then_the_number_and_says_why_it_cannot() {
    require_tool("sipp", "sip-tester");
    let rx = Receiver::start();
    rx.down.store(false, Ordering::SeqCst);
    let pbx = Pbx::start(Db::Sqlite, &[("PBX_PLUGIN_EGRESS_ALLOW", "127.0.0.0/8")]);
    pbx.seed_acme();
    let out = pbx.cli_ok(&["webhook", "add", "acme", &format!("http://{}/hook", rx.addr), "--event", "call.started,call.ended"]);
    *rx.secret.lock().unwrap() = out.split("(shown once): ").nth(1).unwrap().trim().to_string();
    let boss = pbx.cli_ok(&["token", "create", "acme", "--role", "supervisor"]).trim().lines().last().unwrap().trim().to_string();
    let clerk =
        pbx.cli_ok(&["token", "create", "acme", "--role", "user", "--ext", "102"]).trim().lines().last().unwrap().trim().to_string();
    pbx.settle();

    // Nothing rings for a request that cannot be served.
    let (status, body) = post(&pbx, &boss, "/api/v1/calls", serde_json::json!({"ext": "101", "number": "102"}));
    assert_eq!(status, 409, "101 has no phone yet: {body}");
    assert!(body["error"].as_str().unwrap().contains("registered"), "{body}");
    let (status, _) = post(&pbx, &boss, "/api/v1/calls", serde_json::json!({"ext": "199", "number": "102"}));
    assert_eq!(status, 404);
    let (status, _) = post(&pbx, &clerk, "/api/v1/calls", serde_json::json!({"ext": "101", "number": "103"}));
    assert_eq!(status, 403, "a user calls from their own extension only");
    let (status, body) = post(&pbx, &boss, "/api/v1/calls", serde_json::json!({"ext": "101", "number": "+79161234567"}));
    assert_eq!(status, 400, "no city number to call out with: {body}");

    // 101 answers first; then 102 rings, answers and hangs up after a second.
    let _me = answering_phone(&pbx, "101", "secret101");
    let other_port = free_port();
    let other = Sipp::spawn(&pbx, "uas_hangup.xml", other_port, &["-m", "1", "-d", "1000", "-key", "sink_port", &free_port().to_string()]);
    assert!(Sipp::register(&pbx, "102", "secret102", free_port(), other_port, 300));
    let (status, body) = post(&pbx, &boss, "/api/v1/calls", serde_json::json!({"ext": "101", "number": "102", "correlation_id": "deal-7"}));
    assert_eq!(status, 201, "{body}");
    let id = body["call_id"].as_str().unwrap().to_string();
    assert!(other.wait(Duration::from_secs(20)), "102 was not called:\n{}", pbx.log());
    assert!(
        wait_for(Duration::from_secs(10), || call_log(&pbx).iter().any(|r| r["id"] == id.as_str() && r["disposition"] == "answered")),
        "{:#?}",
        call_log(&pbx)
    );
    let row = call_log(&pbx).into_iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(
        (row["caller_number"].as_str(), row["callee"].as_str(), row["kind"].as_str()),
        (Some("101"), Some("102"), Some("click-to-call"))
    );
    // The integration sees its id on the call's start.
    assert!(
        wait_for(Duration::from_secs(10), || rx.taken().iter().any(|(_, k, v)| k == "call.ended" && v["call_id"] == id.as_str())),
        "{:?}",
        rx.taken()
    );
    let started = rx.taken().into_iter().find(|(_, k, v)| k == "call.started" && v["call_id"] == id.as_str()).unwrap().2;
    assert_eq!(started["correlation_id"], "deal-7");
    let ended = rx.taken().into_iter().find(|(_, k, v)| k == "call.ended" && v["call_id"] == id.as_str()).unwrap().2;
    assert_eq!(ended["correlation_id"], "deal-7", "the id comes back at the end too");
    assert!(rx.taken().iter().all(|(_, k, _)| k == "call.started" || k == "call.ended"), "only the kinds subscribed to");
}

#[test]
fn a_calls_events_survive_a_receiver_outage_and_a_pbx_kill_in_order_and_signed() {
    require_tool("sipp", "sip-tester");
    let rx = Receiver::start();
    let mut pbx = Pbx::start(Db::Sqlite, &[("PBX_PLUGIN_EGRESS_ALLOW", "127.0.0.0/8"), ("PBX_WEBHOOK_RETRY_MS", "100")]);
    pbx.seed_acme();
    let url = format!("http://{}/hook", rx.addr);
    let out = pbx.cli_ok(&["webhook", "add", "acme", &url, "--description", "CRM"]);
    let secret = out.split("(shown once): ").nth(1).unwrap().trim().to_string();
    assert!(secret.starts_with("whsec_"), "{out}");
    *rx.secret.lock().unwrap() = secret;
    let bad = pbx.cli(&["webhook", "add", "acme", "ftp://x/", "--event", "call.exploded"]);
    assert!(!bad.status.success(), "a bad webhook is refused");
    let token = pbx.cli_ok(&["token", "create", "acme", "--role", "supervisor"]).trim().lines().last().unwrap().trim().to_string();
    pbx.settle();

    // The receiver is down while the call happens.
    let _phone = answering_phone(&pbx, "102", "secret102");
    assert!(sipp_call(&pbx, "101", "secret101", "102", 1500), "the call failed:\n{}", pbx.log());
    assert!(wait_for(Duration::from_secs(20), || outbox_count(&pbx, "recording.ready") == 1), "no recording.ready:\n{}", pbx.log());
    assert!(wait_for(Duration::from_secs(10), || *rx.got.refused.lock().unwrap() >= 2), "the PBX did not try again");
    assert!(rx.taken().is_empty());

    // The delivery log shows the refusals, with the status.
    let (status, body) = api(&pbx, &token, "/api/v1/webhooks");
    assert_eq!(status, 200);
    let hooks: Value = serde_json::from_slice(&body).unwrap();
    let id = hooks["items"][0]["id"].as_i64().unwrap();
    assert!(hooks["items"][0].get("secret").is_none(), "the secret is never listed");
    assert!(hooks["items"][0]["last_error"].as_str().unwrap().contains("503"), "{hooks}");
    let (_, body) = api(&pbx, &token, &format!("/api/v1/webhooks/{id}/deliveries"));
    let log: Value = serde_json::from_slice(&body).unwrap();
    let first = &log["items"][0];
    assert_eq!(
        (first["status"].as_i64(), first["outcome"].as_str(), first["event"].as_str()),
        (Some(503), Some("retry"), Some("call.started"))
    );

    // Killed with everything undelivered; the receiver comes back; the PBX starts again.
    pbx.kill9();
    rx.down.store(false, Ordering::SeqCst);
    pbx.restart();
    assert!(
        wait_for(Duration::from_secs(30), || rx.taken().iter().any(|(_, k, _)| k == "recording.ready")),
        "the events did not arrive after the restart: {:?}\n{}",
        rx.taken(),
        pbx.log()
    );
    assert_eq!(*rx.got.bad_signatures.lock().unwrap(), 0);
    // In order, numbered without gaps, each once after dropping repeats of the same id.
    let taken = rx.taken();
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<&(String, String, Value)> = taken.iter().filter(|(id, _, _)| seen.insert(id.clone())).collect();
    let call_id = unique[0].2["call_id"].as_str().unwrap().to_string();
    for (i, (id, _, v)) in unique.iter().enumerate() {
        assert_eq!(v["seq"].as_i64(), Some(i as i64 + 1), "{unique:#?}");
        assert_eq!(id, &format!("{call_id}:{}", i + 1));
    }
    let kinds: Vec<&str> = unique.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["call.started", "call.ringing", "call.answered", "call.ended", "recording.ready"], "{unique:#?}");
    let started = &unique[0].2;
    assert_eq!(
        (started["direction"].as_str(), started["caller_ext"].as_str(), started["callee"].as_str()),
        (Some("internal"), Some("101"), Some("102"))
    );
    let ended = &unique[3].2;
    assert_eq!(
        (ended["disposition"].as_str(), ended["sip_code"].as_i64(), ended["answered_by"].as_str()),
        (Some("answered"), Some(200), Some("102"))
    );
    // The recording's link works without an account.
    let link = unique[4].2["url"].as_str().unwrap();
    assert!(link.starts_with("http://") && link.contains("/api/v1/shared/recordings/"), "{link}");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let path = link.split_once("/api/").map(|(_, p)| format!("http://{}/api/{p}", pbx.http)).unwrap();
    let mut r = agent.get(&path).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.body_mut().read_to_vec().unwrap().starts_with(b"OggS"));
    // Nothing is left: the log ends with deliveries.
    let (_, body) = api(&pbx, &token, &format!("/api/v1/webhooks/{id}/deliveries?limit=5"));
    let log: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(log["items"][0]["outcome"].as_str(), Some("delivered"), "{log}");
    let (_, body) = api(&pbx, &token, "/api/v1/webhooks");
    let hooks: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((hooks["items"][0]["attempts"].as_i64(), hooks["items"][0]["last_error"].as_str()), (Some(0), Some("")));
}

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

/// A request to the plugin's inbound address; status, headers and body.
fn hook(pbx: &Pbx, path: &str) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.get(&format!("http://{}{path}", pbx.http)).call().unwrap();
    let csp = r.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (r.status().as_u16(), csp, r.body_mut().read_to_string().unwrap_or_default())
}

/// A CRM's HTTP endpoint for the plugin: records what it gets, answering 503 while `down`.
struct PlainReceiver {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<Value>>>,
    _rt: tokio::runtime::Runtime,
}

impl PlainReceiver {
    fn start() -> PlainReceiver {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (d, g) = (down.clone(), got.clone());
        let app = axum::Router::new().route(
            "/crm",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (d, g) = (d.clone(), g.clone());
                async move {
                    if d.load(Ordering::SeqCst) {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let mut v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    v["api_key"] = headers.get("x-api-key").and_then(|h| h.to_str().ok()).unwrap_or("").into();
                    g.lock().unwrap().push(v);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await });
        PlainReceiver { addr, down, got, _rt: rt }
    }
}

#[test]
fn an_integration_plugin_gets_every_call_in_order_answers_its_webhook_and_places_calls() {
    require_tool("sipp", "sip-tester");
    let crm = PlainReceiver::start();
    let pbx = Pbx::start(Db::Sqlite, &[("PBX_PLUGIN_EGRESS_ALLOW", "127.0.0.0/8"), ("PBX_WEBHOOK_RETRY_MS", "100")]);
    pbx.seed_acme();
    let wasm = pbx_bundled_plugins::component_path("test_plugin_crm");
    pbx.cli_ok(&["plugin", "install", "acme", wasm.to_str().unwrap()]);
    pbx.cli_ok(&["plugin", "grant", "acme", "crm", "--kv", "--http", "127.0.0.1", "--contacts"]);
    // A plugin built from the frozen 0.1 contract runs beside it.
    let legacy = pbx_bundled_plugins::component_path("test_plugin_legacy");
    pbx.cli_ok(&["plugin", "install", "acme", legacy.to_str().unwrap()]);
    pbx.cli_ok(&["plugin", "grant", "acme", "legacy", "--kv"]);
    let boss = pbx.cli_ok(&["token", "create", "acme", "--role", "supervisor"]).trim().lines().last().unwrap().trim().to_string();
    let (status, _) = put(&pbx, &boss, "/api/v1/plugins/nosuch/integration", serde_json::json!({"enabled": true}));
    assert_eq!(status, 404);
    let (status, st) = put(&pbx, &boss, "/api/v1/plugins/crm/integration", serde_json::json!({"enabled": true}));
    assert_eq!(status, 200, "{st}");
    let path = st["hook_path"].as_str().unwrap().to_string();
    assert!(path.starts_with("/hooks/acme/crm/") && path.len() > 40, "{path}");
    assert_eq!(st["events"].as_array().unwrap().len(), 7, "a 0.2 plugin takes every kind: {st}");
    let (status, old) = put(&pbx, &boss, "/api/v1/plugins/legacy/integration", serde_json::json!({"enabled": true}));
    assert_eq!(status, 200, "{old}");
    assert_eq!(old["events"], serde_json::json!(["call.started", "call.answered", "call.ended"]), "0.1 names three kinds");
    let old_path = old["hook_path"].as_str().unwrap().to_string();
    pbx.settle();

    // The inbound address: a wrong secret is not found; the plugin's answer is sandboxed.
    assert_eq!(hook(&pbx, "/hooks/acme/crm/wrong-secret/seen").0, 404);
    // (An address kept by the plugin itself, which the company's settings below override.)
    let (status, csp, body) = hook(&pbx, &format!("{path}/setup?url=http://127.0.0.1:9/nowhere"));
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert!(csp.starts_with("sandbox"), "{csp}");

    // The company's settings: checked against the plugin's schema; the key is a secret,
    // sealed, never shown, and reaches the plugin (which sends it to the CRM).
    let (status, body) = put(&pbx, &boss, "/api/v1/plugins/crm/settings", serde_json::json!({"crm_url": 5}));
    assert_eq!(status, 400, "{body}");
    let (status, body) = put(&pbx, &boss, "/api/v1/plugins/crm/settings", serde_json::json!({"unknown": "x"}));
    assert_eq!(status, 400, "{body}");
    let (status, body) = put(&pbx, &boss, "/api/v1/plugins/crm/settings", serde_json::json!({"api_key": "short"}));
    assert_eq!(status, 400, "a secret is checked too: {body}");
    let url = format!("http://{}/crm", crm.addr);
    let (status, body) = put(&pbx, &boss, "/api/v1/plugins/crm/settings", serde_json::json!({"crm_url": url, "api_key": "k-secret-12345"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["secrets_set"], serde_json::json!(["api_key"]));
    assert!(!body.to_string().contains("k-secret-12345"), "{body}");
    let (_, got) = api(&pbx, &boss, "/api/v1/plugins/crm/settings");
    let got: Value = serde_json::from_slice(&got).unwrap();
    assert_eq!((got["settings"]["crm_url"].as_str(), got["settings"].get("api_key")), (Some(url.as_str()), None));
    assert!(!String::from_utf8_lossy(&std::fs::read(pbx.dir.path().join("pbx.db")).unwrap()).contains("k-secret-12345"), "sealed at rest");
    // Changing the address keeps the secret.
    let (status, body) = put(&pbx, &boss, "/api/v1/plugins/crm/settings", serde_json::json!({"crm_url": url}));
    assert_eq!((status, body["secrets_set"].clone()), (200, serde_json::json!(["api_key"])));

    // A call: the plugin sees started, answered and ended of it, in order, and tells the CRM;
    // the CRM is down for a while and gets them all the same.
    crm.down.store(true, Ordering::SeqCst);
    let _phone = answering_phone(&pbx, "102", "secret102");
    assert!(sipp_call(&pbx, "101", "secret101", "102", 1000), "the call failed:\n{}", pbx.log());
    let id = call_log(&pbx)[0]["id"].as_str().unwrap().to_string();
    assert!(
        wait_for(Duration::from_secs(10), || {
            let (_, _, _) = hook(&pbx, &format!("{path}/seen"));
            let (_, body) = api(&pbx, &boss, "/api/v1/plugins/crm/integration");
            serde_json::from_slice::<Value>(&body).is_ok_and(|v| v["attempts"].as_i64().unwrap_or(0) >= 2)
        }),
        "the plugin's failing CRM call is retried"
    );
    crm.down.store(false, Ordering::SeqCst);
    assert!(
        wait_for(Duration::from_secs(15), || crm.got.lock().unwrap().iter().any(|v| v["kind"] == "recording-ready")),
        "{:?}\n{}",
        crm.got.lock().unwrap(),
        pbx.log()
    );
    let got = crm.got.lock().unwrap().clone();
    let kinds: Vec<&str> = got.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["started", "ringing", "answered", "ended", "recording-ready"], "{got:?}");
    assert!(got.iter().all(|v| v["call_id"] == id.as_str() && v["from"] == "101" && v["to"] == "102"), "{got:?}");
    assert!(got.iter().all(|v| v["api_key"] == "k-secret-12345"), "the plugin had its secret: {got:?}");
    assert_eq!(got[3]["disposition"], "answered");
    let (_, _, seen) = hook(&pbx, &format!("{path}/seen"));
    // At least once: the events the CRM refused were handed to the plugin again.
    let mut once: Vec<&str> = seen.split_terminator(';').collect();
    once.dedup();
    let want = ["started:", "ringing:", "answered:", "ended:", "recording-ready:"].map(|k| format!("{k}{id}:"));
    let want: Vec<String> =
        want.iter().map(|w| if w.starts_with("answered") || w.starts_with("ended") { format!("{w}102") } else { w.clone() }).collect();
    assert_eq!(once, want, "{seen}");
    // The 0.1 plugin saw the same call in its own form: three kinds, nothing it cannot name.
    assert!(
        wait_for(Duration::from_secs(10), || hook(&pbx, &format!("{old_path}/seen")).2.contains("ended:")),
        "{}",
        hook(&pbx, &format!("{old_path}/seen")).2
    );
    assert_eq!(hook(&pbx, &format!("{old_path}/seen")).2, format!("started:{id}:;answered:{id}:;ended:{id}:answered;"));
    let (_, body) = api(&pbx, &boss, "/api/v1/plugins/crm/integration");
    let st: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(st["deliveries"][0]["outcome"], "delivered", "{st}");
    assert!(
        st["deliveries"].as_array().unwrap().iter().any(|d| d["outcome"] == "retry" && d["error"].as_str().unwrap().contains("503")),
        "{st}"
    );

    // Click-to-call from the plugin's webhook: 101's phone rings first, then 103's.
    let _other = answering_phone(&pbx, "103", "secret103");
    let me_port = free_port();
    let me = Sipp::spawn(&pbx, "uas_hangup.xml", me_port, &["-m", "1", "-d", "500", "-key", "sink_port", &free_port().to_string()]);
    assert!(Sipp::register(&pbx, "101", "secret101", free_port(), me_port, 300));
    let (status, _, body) = hook(&pbx, &format!("{path}/call?ext=101&number=103&corr=crm-77"));
    assert_eq!((status, body.as_str()), (202, "calling"));
    assert!(me.wait(Duration::from_secs(20)), "101's phone was not rung:\n{}", pbx.log());
    assert!(
        wait_for(Duration::from_secs(10), || {
            call_log(&pbx).iter().any(|r| r["kind"] == "click-to-call" && r["callee"] == "103" && r["disposition"] == "answered")
        }),
        "{:#?}",
        call_log(&pbx)
    );
    // The plugin heard the result with its correlation id, and the id came back in the new
    // call's events; a call that cannot be placed says why.
    let placed = call_log(&pbx).iter().find(|r| r["kind"] == "click-to-call").unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(hook(&pbx, &format!("{path}/results")).2, format!("crm-77:{placed};"));
    let entry = |kind: &str| {
        let seen = hook(&pbx, &format!("{path}/seen")).2;
        seen.split(';').find(|e| e.starts_with(&format!("{kind}:{placed}:"))).map(str::to_string)
    };
    assert!(wait_for(Duration::from_secs(10), || entry("ended").is_some()), "{}", hook(&pbx, &format!("{path}/seen")).2);
    assert!(entry("ended").unwrap().ends_with("@crm-77") && entry("started").unwrap().ends_with("@crm-77"), "{:?}", entry("started"));
    assert!(!entry("answered").unwrap().contains('@'), "the correlation id comes with started and ended only");
    assert_eq!(hook(&pbx, &format!("{path}/call?ext=999&number=103&corr=nobody")).0, 202);
    assert_eq!(hook(&pbx, &format!("{path}/results")).2, format!("crm-77:{placed};nobody:no-user;"));
    // A plugin that answers a failed result with more calls places none and hears no more.
    assert_eq!(hook(&pbx, &format!("{path}/call?ext=999&number=103&corr=again1")).0, 202);
    assert_eq!(hook(&pbx, &format!("{path}/results")).2, format!("crm-77:{placed};nobody:no-user;again1:no-user;"));
    // The 0.1 plugin's originate still works (default line, no result event for it).
    assert_eq!(hook(&pbx, &format!("{old_path}/call?ext=999&number=103")).2, "calling");

    // The phone book (the plugin declares the capability: it runs only with the grant).
    let (status, _, body) = hook(&pbx, &format!("{path}/contact?number=%2B74957654321&name=Ivan+Petrov"));
    assert_eq!((status, body.as_str()), (200, "Ivan Petrov"));
    let (status, c) = api(&pbx, &boss, "/api/v1/contacts?q=7654321");
    let c: Value = serde_json::from_slice::<Value>(&c).unwrap()["items"][0].clone();
    assert_eq!((status, c["name"].as_str(), c["source"].as_str()), (200, Some("Ivan Petrov"), Some("plugin:crm")), "{c}");
    assert_eq!(hook(&pbx, &format!("{path}/contact?number=nonsense&name=X")).0, 400);

    // Switched off: no more events, and the address stops answering.
    let (status, st) = put(&pbx, &boss, "/api/v1/plugins/crm/integration", serde_json::json!({"enabled": false}));
    assert_eq!((status, st["enabled"].as_bool()), (200, Some(false)));
    assert_eq!(hook(&pbx, &format!("{path}/seen")).0, 404);
}
