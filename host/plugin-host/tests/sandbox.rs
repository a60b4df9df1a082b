//! The runtime against real components: the first-party plugins decide, and hostile ones
//! (an infinite loop, unbounded memory growth, a trap) are stopped within their limits
//! without disturbing plugins running beside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pbx_bundled_plugins::{FIRST_PARTY, component_path};
use pbx_plugin_host::{CallInfo, Context, Event, Limits, LoadedPlugin, PluginError, PluginHost, UserInfo, Verb};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn host() -> PluginHost {
    PluginHost::new(Limits { deadline: Duration::from_millis(50), memory_bytes: 16 << 20, ..Limits::default() }, 64).unwrap()
}

fn bundled(h: &PluginHost, name: &str) -> Arc<LoadedPlugin> {
    let b = FIRST_PARTY.iter().find(|b| b.name == name).unwrap();
    h.load(b.wasm).unwrap()
}

fn file(h: &PluginHost, stem: &str) -> Arc<LoadedPlugin> {
    h.load(&std::fs::read(component_path(stem)).unwrap()).unwrap()
}

fn call() -> CallInfo {
    CallInfo {
        call_id: "c1".into(),
        caller_number: "+79161234567".into(),
        caller_name: String::new(),
        called_number: "+74951234567".into(),
        direction: "inbound".into(),
        variables: vec![],
    }
}

fn ctx(config: &str) -> Context {
    Context { call_id: "c1".into(), tenant: "acme".into(), ..Context::minimal(config) }
}

#[test]
fn first_party_plugins_load_and_describe_themselves() {
    let h = host();
    for b in FIRST_PARTY {
        let p = h.load(b.wasm).unwrap();
        assert_eq!(p.metadata.name, b.name);
        // A queue strategy is consulted by the host's queue, never placed as a
        // scenario node, so it is the one first-party plugin without outputs.
        assert_eq!(p.metadata.outputs.is_empty(), b.name == "queue", "{}", b.name);
        let schema: serde_json::Value = serde_json::from_str(&p.metadata.config_schema).unwrap();
        assert_eq!(schema["type"], "object", "{}", b.name);
    }
}

#[test]
fn ivr_decides_in_the_sandbox() {
    let h = host();
    let ivr = bundled(&h, "ivr");
    let config = r#"{"prompt":"menu","options":{"1":"sales","2":"support"}}"#;
    assert_eq!(h.outputs(&ivr, ctx(config)).unwrap(), vec!["sales", "support", "timeout", "invalid"]);
    let verbs = h.handle(&ivr, ctx(config), &Event::CallArrived(call())).unwrap();
    assert_eq!(verbs[0], Verb::Answer);
    assert!(matches!(&verbs[1], Verb::Gather(g) if g.prompts == ["menu"] && g.extension_dialing));
    let bad = h.outputs(&ivr, ctx(r#"{"prompt":"menu","options":{"x":"a"}}"#));
    assert!(matches!(bad, Err(PluginError::Refused(m)) if m.contains("digits")));
}

#[test]
fn time_rules_read_the_tenant_clock() {
    let h = host();
    let tr = bundled(&h, "time-rules");
    let config = r#"{"weekly":[{"days":["mon","tue","wed","thu","fri"],"from":"09:00","to":"18:00"}]}"#;
    let mut c = ctx(config);
    c.now.weekday = 1;
    c.now.hour = 10;
    assert_eq!(h.handle(&tr, c.clone(), &Event::CallArrived(call())).unwrap(), vec![Verb::Next("open".into())]);
    c.now.hour = 19;
    assert_eq!(h.handle(&tr, c.clone(), &Event::CallArrived(call())).unwrap(), vec![Verb::Next("closed".into())]);
    c.now.weekday = 6;
    c.now.hour = 10;
    assert_eq!(h.handle(&tr, c, &Event::CallArrived(call())).unwrap(), vec![Verb::Next("closed".into())]);
}

#[test]
fn an_infinite_loop_stops_at_the_deadline() {
    let h = host();
    let spin = file(&h, "test_plugin_spin");
    let t = Instant::now();
    let r = h.handle(&spin, ctx("{}"), &Event::CallArrived(call()));
    assert_eq!(r, Err(PluginError::Deadline));
    // Stopped at the 50 ms deadline, give or take the 1 ms epoch and a busy machine.
    assert!(t.elapsed() < Duration::from_millis(1000), "{:?}", t.elapsed());
    assert!(t.elapsed() >= Duration::from_millis(45), "{:?}", t.elapsed());
}

#[test]
fn unbounded_memory_growth_traps_at_the_limit() {
    let h = host();
    let hog = file(&h, "test_plugin_hog");
    let r = h.handle(&hog, ctx("{}"), &Event::CallArrived(call()));
    assert!(matches!(r, Err(PluginError::Trap(_))), "{r:?}");
}

#[test]
fn a_trap_is_an_error_not_a_crash() {
    let h = host();
    let crash = file(&h, "test_plugin_crash");
    for _ in 0..3 {
        let r = h.handle(&crash, ctx("{}"), &Event::CallArrived(call()));
        assert!(matches!(r, Err(PluginError::Trap(_))), "{r:?}");
    }
    // The runtime is fine afterwards.
    let ivr = bundled(&h, "ivr");
    assert!(h.handle(&ivr, ctx(r#"{"prompt":"m","options":{}}"#), &Event::CallArrived(call())).is_ok());
}

#[test]
fn files_that_are_not_plugins_are_refused() {
    let h = host();
    for bytes in [&b""[..], b"not wasm at all", b"\0asm\x01\0\0\0"] {
        assert!(matches!(h.load(bytes), Err(PluginError::Invalid(_))));
    }
}

#[test]
fn hostile_plugins_do_not_slow_their_neighbours() {
    let h = Arc::new(host());
    let spin = file(&h, "test_plugin_spin");
    let hog = file(&h, "test_plugin_hog");
    let ivr = bundled(&h, "ivr");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut hostile = Vec::new();
    for p in [spin, hog] {
        let (h, stop) = (h.clone(), stop.clone());
        hostile.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 200 {
                assert!(h.handle(&p, ctx("{}"), &Event::CallArrived(call())).is_err());
                n += 1;
            }
        }));
    }
    let config = r#"{"prompt":"menu","options":{"1":"sales"}}"#;
    for _ in 0..200 {
        let verbs = h.handle(&ivr, ctx(config), &Event::CallArrived(call())).unwrap();
        assert_eq!(verbs[0], Verb::Answer);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in hostile {
        t.join().unwrap();
    }
}

#[test]
fn grants_scope_what_a_plugin_sees() {
    let h = host();
    let snoop = file(&h, "test_plugin_snoop");
    let mut c = ctx(r#"{"tenant":"a"}"#);
    c.directory = vec![UserInfo { ext: "101".into(), name: "A".into(), available: true }];
    // Without grants: no directory and no store.
    let verbs = h.handle(&snoop, c.clone(), &Event::CallArrived(call())).unwrap();
    assert!(verbs.contains(&Verb::SetVariable(("seen-directory".into(), String::new()))));
    assert!(verbs.contains(&Verb::SetVariable(("seen-config".into(), r#"{"tenant":"a"}"#.into()))));
    c.directory_granted = true;
    let verbs = h.handle(&snoop, c, &Event::CallArrived(call())).unwrap();
    assert!(verbs.contains(&Verb::SetVariable(("seen-directory".into(), "101".into()))));
}

/// A lifecycle event of the current contract.
fn lifecycle(kind: &str) -> pbx_plugin_host::Lifecycle {
    pbx_plugin_host::Lifecycle {
        kind: kind.into(),
        event_id: "c1:1".into(),
        seq: 1,
        at_ms: 0,
        call: call(),
        started_ms: 0,
        line: Some("+74951234567".into()),
        caller_ext: None,
        extensions: vec!["101".into()],
        reason: String::new(),
        answered_by: Some("101".into()),
        by_pbx: false,
        transfer: None,
        disposition: "answered".into(),
        sip_code: 200,
        hung_up_by: "caller".into(),
        talk_seconds: 7,
        via: None,
        recording: None,
        correlation_id: None,
    }
}

#[test]
fn a_component_of_contract_0_1_runs_beside_0_2_and_sees_only_what_0_1_names() {
    let h = host();
    let old = file(&h, "test_plugin_legacy");
    let new = file(&h, "test_plugin_crm");
    assert_eq!((old.contract, new.contract), (pbx_plugin_host::Contract::V01, pbx_plugin_host::Contract::V02));
    assert_eq!(old.metadata.name, "legacy");
    assert!(old.takes_kind("ended") && !old.takes_kind("ringing") && new.takes_kind("ringing"));
    // A kind 0.1 has no form for is not sent: no verbs, no error, the plugin not run.
    assert_eq!(h.handle(&old, ctx("{}"), &Event::CallLifecycle(lifecycle("ringing"))).unwrap(), vec![]);
    let result = pbx_plugin_host::OriginateResult {
        correlation_id: None,
        from_ext: "101".into(),
        to_number: "102".into(),
        call_id: None,
        error: Some("no-user".into()),
        message: "no such extension".into(),
    };
    assert_eq!(h.handle(&old, ctx("{}"), &Event::OriginateResult(result)).unwrap(), vec![]);
    // Its webhook answer and originate verb come back as 0.2 verbs.
    let req = pbx_plugin_host::HttpRequest {
        method: "GET".into(),
        url: "/hooks/acme/legacy/s/call?ext=101&number=103".into(),
        headers: vec![],
        body: vec![],
    };
    let verbs = h.handle(&old, ctx("{}"), &Event::Webhook(req)).unwrap();
    assert_eq!(
        verbs[0],
        Verb::Originate(pbx_plugin_host::OriginateSpec {
            from_ext: "101".into(),
            to_number: "103".into(),
            line: None,
            correlation_id: None
        })
    );
    assert!(matches!(&verbs[1], Verb::Respond(r) if r.status == 202));
}
