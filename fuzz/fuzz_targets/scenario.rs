//! Any scenario JSON, then any plugin outputs and media results fed to the sans-IO scenario
//! runner: it refuses or walks the graph without panicking, and never loops without end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbx::scenario::{Feedback, Runner, Scenario};
use pbx_plugin_host::{CallInfo, DialOutcome, DialSpec, DialTarget, GatherSpec, Gathered, PluginError, Verb};
use std::sync::Arc;

/// Reads fuzz bytes as a small stream of choices and strings.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }

    fn text(&mut self) -> String {
        let n = (self.byte() % 12) as usize;
        let n = n.min(self.0.len());
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8_lossy(s).into_owned()
    }

    fn verb(&mut self) -> Verb {
        match self.byte() % 12 {
            0 => Verb::Answer,
            1 => Verb::Play(vec![self.text(), self.text()]),
            2 => Verb::Gather(GatherSpec {
                prompts: vec![self.text()],
                max_digits: self.byte(),
                terminator: Some(self.text()),
                first_timeout_ms: u32::from(self.byte()) * 100,
                inter_digit_timeout_ms: u32::from(self.byte()) * 100,
                barge_in: self.byte() % 2 == 0,
                extension_dialing: self.byte() % 2 == 0,
            }),
            3 => Verb::Dial(DialSpec {
                targets: vec![DialTarget::Extension(self.text()), DialTarget::Number(self.text()), DialTarget::Group(self.text())],
                timeout_ms: u32::from(self.byte()) * 1000,
            }),
            4 => Verb::Enqueue(self.text()),
            5 => Verb::SetCallerName(self.text()),
            6 => Verb::SetVariable((self.text(), self.text())),
            7 => Verb::Next(self.text()),
            8 => Verb::Hangup,
            9 => Verb::OfferTo(self.text()),
            _ => Verb::Next(["closed", "open", "digit-1", "timeout", "error", "*"][(self.byte() % 6) as usize].into()),
        }
    }

    fn feedback(&mut self) -> Feedback {
        match self.byte() % 7 {
            0 => Feedback::PlayDone,
            1 => Feedback::Gathered { gathered: Gathered { digits: self.text(), reason: self.text() }, extension: Some(self.text()) },
            2 => Feedback::DialDone([DialOutcome::Answered, DialOutcome::Busy, DialOutcome::NoAnswer, DialOutcome::Failed][(self.byte() % 4) as usize]),
            3 => Feedback::QueueDone(self.text()),
            4 => Feedback::Plugin(Err(PluginError::Deadline)),
            _ => {
                let n = self.byte() % 4;
                Feedback::Plugin(Ok((0..n).map(|_| self.verb()).collect()))
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let Ok(json) = std::str::from_utf8(&data[..split]) else { return };
    let Ok(scenario) = Scenario::parse(json) else { return };
    let call = CallInfo {
        call_id: "fuzz".into(),
        caller_number: "+74951234567".into(),
        caller_name: "Fuzz".into(),
        called_number: "+74950000000".into(),
        direction: "inbound".into(),
        variables: Vec::new(),
    };
    let mut runner = Runner::new(Arc::new(scenario), call);
    let mut bytes = Bytes(data.get(split + 1..).unwrap_or_default());
    let _ = runner.start();
    for _ in 0..500 {
        if runner.done() || bytes.0.is_empty() {
            break;
        }
        let fb = bytes.feedback();
        let _ = runner.feed(fb);
    }
    assert!(runner.trace().len() <= 10_000, "a bounded walk");
});
