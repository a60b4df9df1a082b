use super::*;
use pbx_plugin_host::{DialSpec, HttpResponse};

fn call() -> CallInfo {
    CallInfo {
        call_id: "c".into(),
        caller_number: "+79161234567".into(),
        caller_name: String::new(),
        called_number: "+74951234567".into(),
        direction: "inbound".into(),
        variables: vec![],
    }
}

fn office() -> Arc<Scenario> {
    Arc::new(
        Scenario::parse(
            r#"{"start":"hours","nodes":{
        "hours":{"type":"plugin","plugin":"time-rules","next":{"open":"menu","closed":"closed"}},
        "menu":{"type":"plugin","plugin":"ivr","config":{"prompt":"menu"},"next":{"sales":"r101","support":"r102","*":"r101"}},
        "r101":{"type":"dial","targets":["101"],"next":{"*":"bye"}},
        "r102":{"type":"dial","targets":["102"],"timeout":20,"next":{"*":"bye"}},
        "closed":{"type":"play","prompts":["closed"],"extension_dialing":false,"next":{"done":"bye"}},
        "bye":{"type":"hangup"}}}"#,
        )
        .unwrap(),
    )
}

fn plugin_event(cmds: &[Command]) -> Option<(&str, &Event)> {
    cmds.iter().find_map(|c| if let Command::Plugin { plugin, event, .. } = c { Some((plugin.as_str(), event.as_ref())) } else { None })
}

fn next(o: &str) -> Feedback {
    Feedback::Plugin(Ok(vec![Verb::Next(o.into())]))
}

#[test]
fn office_hours_menu_to_extension() {
    let mut r = Runner::new(office(), call());
    let c = r.start();
    assert!(matches!(plugin_event(&c), Some(("time-rules", Event::CallArrived(_)))));
    let c = r.feed(next("open"));
    assert!(matches!(plugin_event(&c), Some(("ivr", Event::CallArrived(_)))));
    let gather = GatherSpec {
        prompts: vec!["menu".into()],
        max_digits: 6,
        terminator: Some("#".into()),
        first_timeout_ms: 5000,
        inter_digit_timeout_ms: 2000,
        barge_in: true,
        extension_dialing: true,
    };
    let c = r.feed(Feedback::Plugin(Ok(vec![Verb::Answer, Verb::Gather(gather.clone())])));
    assert_eq!(c, vec![Command::Answer, Command::Answer, Command::Gather(gather)]);
    let c = r.feed(Feedback::Gathered { gathered: Gathered { digits: "2".into(), reason: "timeout".into() }, extension: None });
    let Some(("ivr", Event::DigitsCollected((_, g)))) = plugin_event(&c) else { panic!("{c:?}") };
    assert_eq!(g.digits, "2");
    let c = r.feed(next("support"));
    assert_eq!(c, vec![Command::Dial { targets: vec!["102".into()], timeout_ms: 20_000 }]);
    r.connected();
    assert!(r.done());
    let path: Vec<(&str, Option<&str>)> = r.trace().iter().map(|t| (t.node.as_str(), t.output.as_deref())).collect();
    assert_eq!(path, vec![("hours", Some("open")), ("menu", Some("support")), ("r102", None)]);
}

#[test]
fn closed_plays_and_hangs_up() {
    let mut r = Runner::new(office(), call());
    r.start();
    let c = r.feed(next("closed"));
    assert_eq!(c, vec![Command::Answer, Command::Play(vec!["closed".into()])]);
    assert_eq!(r.feed(Feedback::PlayDone), vec![Command::Hangup]);
    assert!(r.done());
}

#[test]
fn an_unanswered_dial_takes_its_output() {
    let mut r = Runner::new(office(), call());
    r.start();
    r.feed(next("open"));
    r.feed(next("sales"));
    assert_eq!(r.feed(Feedback::DialDone(DialOutcome::NoAnswer)), vec![Command::Hangup]);
    assert_eq!(r.trace()[2].output.as_deref(), Some("no-answer"));
}

#[test]
fn extension_dialing_from_a_menu_and_back_to_the_menu() {
    let mut r = Runner::new(office(), call());
    r.start();
    r.feed(next("open"));
    r.feed(Feedback::Plugin(Ok(vec![Verb::Gather(GatherSpec {
        prompts: vec!["menu".into()],
        max_digits: 6,
        terminator: None,
        first_timeout_ms: 5000,
        inter_digit_timeout_ms: 2000,
        barge_in: true,
        extension_dialing: true,
    })])));
    let c =
        r.feed(Feedback::Gathered { gathered: Gathered { digits: "103".into(), reason: "timeout".into() }, extension: Some("103".into()) });
    assert_eq!(c, vec![Command::Dial { targets: vec!["103".into()], timeout_ms: EXTENSION_RING_MS }]);
    // Not answered: the menu's plugin decides what next.
    let c = r.feed(Feedback::DialDone(DialOutcome::NoAnswer));
    assert!(matches!(plugin_event(&c), Some(("ivr", Event::DialFinished((_, DialOutcome::NoAnswer))))));
}

#[test]
fn a_greeting_lets_callers_dial_an_extension() {
    let s = Scenario::parse(
        r#"{"start":"g","nodes":{"g":{"type":"play","prompts":["welcome"],"next":{"done":"all"}},
        "all":{"type":"dial","targets":["101","102"],"next":{"*":"bye"}},"bye":{"type":"hangup"}}}"#,
    )
    .unwrap();
    let mut r = Runner::new(Arc::new(s), call());
    let c = r.start();
    assert!(matches!(&c[1], Command::Gather(g) if g.extension_dialing && g.first_timeout_ms == 0));
    let c =
        r.feed(Feedback::Gathered { gathered: Gathered { digits: "101".into(), reason: "timeout".into() }, extension: Some("101".into()) });
    assert_eq!(c, vec![Command::Dial { targets: vec!["101".into()], timeout_ms: EXTENSION_RING_MS }]);
    // Unanswered: the scenario goes on after the greeting.
    let c = r.feed(Feedback::DialDone(DialOutcome::Busy));
    assert!(matches!(&c[0], Command::Dial { targets, .. } if targets.len() == 2));
}

#[test]
fn verbs_after_a_play_run_when_it_ends() {
    let mut r = Runner::new(office(), call());
    r.start();
    let c = r.feed(Feedback::Plugin(Ok(vec![Verb::Play(vec!["hello".into()]), Verb::Next("closed".into())])));
    assert_eq!(c, vec![Command::Answer, Command::Play(vec!["hello".into()])]);
    // The time-rules node has "closed": the queued Next runs after the prompt.
    let c = r.feed(Feedback::PlayDone);
    assert_eq!(c, vec![Command::Answer, Command::Play(vec!["closed".into()])]);
}

#[test]
fn failures_take_the_error_edge_or_the_fallback() {
    // No error edge: fallback.
    let mut r = Runner::new(office(), call());
    r.start();
    let c = r.feed(Feedback::Plugin(Err(PluginError::Deadline)));
    assert!(matches!(&c[0], Command::PluginFailed { plugin, kind: "deadline", .. } if plugin == "time-rules"));
    assert!(matches!(&c[1], Command::Fallback(_)));
    assert!(r.done());
    // With an error edge.
    let s = Scenario::parse(
        r#"{"start":"p","nodes":{"p":{"type":"plugin","plugin":"x","next":{"*":"bye","error":"sorry"}},
        "sorry":{"type":"play","prompts":["not-available"],"extension_dialing":false,"next":{"*":"bye"}},"bye":{"type":"hangup"}}}"#,
    )
    .unwrap();
    let mut r = Runner::new(Arc::new(s), call());
    r.start();
    let c = r.feed(Feedback::Plugin(Err(PluginError::Trap("boom".into()))));
    assert!(matches!(&c[0], Command::PluginFailed { kind: "trap", .. }));
    assert_eq!(c[2], Command::Play(vec!["not-available".into()]));
}

#[test]
fn garbage_verbs_are_failures() {
    let many: Vec<Verb> = (0..1000).map(|i| Verb::SetVariable((format!("v{i}"), "x".into()))).collect();
    let dial0 = Verb::Dial(DialSpec { targets: vec![], timeout_ms: 5000 });
    let cases: Vec<(Vec<Verb>, &str)> = vec![
        (vec![Verb::Next("no-such-output".into())], "no edge for output"),
        (many, "verbs in one decision"),
        (vec![Verb::OfferTo("101".into())], "offer-to is not a call-routing verb"),
        (vec![Verb::Respond(HttpResponse { status: 200, headers: vec![], body: vec![] })], "respond is not"),
        (vec![], "did not say where the call goes"),
        (vec![Verb::Answer], "did not say where the call goes"),
        (vec![Verb::Play(vec!["p".repeat(5000)])], "play: 1 to 16"),
        (vec![dial0], "dial: 1 to 16 targets"),
    ];
    let s = Arc::new(Scenario::parse(r#"{"start":"p","nodes":{"p":{"type":"plugin","plugin":"g","next":{"done":"p"}}}}"#).unwrap());
    for (verbs, why) in cases {
        let mut r = Runner::new(s.clone(), call());
        r.start();
        let c = r.feed(Feedback::Plugin(Ok(verbs)));
        let failed = c.iter().find_map(|x| if let Command::PluginFailed { message, .. } = x { Some(message.clone()) } else { None });
        assert!(failed.as_deref().is_some_and(|m| m.contains(why)), "{why}: {c:?}");
        assert!(matches!(c.last(), Some(Command::Fallback(_))), "{why}: {c:?}");
    }
}

#[test]
fn loops_are_bounded() {
    let s = Scenario::parse(
        r#"{"start":"a","nodes":{"a":{"type":"play","prompts":["x"],"extension_dialing":false,"next":{"done":"b"}},
        "b":{"type":"play","prompts":["y"],"extension_dialing":false,"next":{"done":"a"}}}}"#,
    )
    .unwrap();
    let mut r = Runner::new(Arc::new(s), call());
    let mut c = r.start();
    let mut rounds = 0;
    while !matches!(c.last(), Some(Command::Fallback(_))) {
        c = r.feed(Feedback::PlayDone);
        rounds += 1;
        assert!(rounds <= MAX_STEPS, "never stopped");
    }
    assert_eq!(rounds, MAX_STEPS);
}

#[test]
fn variables_travel_with_the_call() {
    let mut r = Runner::new(office(), call());
    r.start();
    let c = r.feed(Feedback::Plugin(Ok(vec![Verb::SetVariable(("lang".into(), "en".into())), Verb::Next("open".into())])));
    let Some((_, Event::CallArrived(info))) = plugin_event(&c) else { panic!() };
    assert_eq!(info.variables, vec![("lang".to_string(), "en".to_string())]);
}

#[test]
fn late_results_are_ignored() {
    let mut r = Runner::new(office(), call());
    r.start();
    assert!(r.feed(Feedback::PlayDone).is_empty());
    assert!(r.feed(Feedback::DialDone(DialOutcome::Busy)).is_empty());
}
