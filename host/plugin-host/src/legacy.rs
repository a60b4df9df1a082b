//! Contract 0.1 served beside 0.2: a component built from `wit/0.1/plugin.wit` gets the 0.1
//! host interface (the same implementation, its records converted) and sees events in their
//! 0.1 form; what 0.1 has no form for (lifecycle kinds other than started, answered and
//! ended; the originate result) is not sent to it. Its verbs become 0.2 verbs.

use crate::State;
use crate::bindings::pbx::plugin::host::Host as Host02;
use crate::bindings::pbx::plugin::types as t2;
use crate::bindings::v01::pbx::plugin::host::Host;
use crate::bindings::v01::pbx::plugin::types as t1;

/// The lifecycle kinds 0.1 names.
pub const V01_KINDS: &[&str] = &["started", "answered", "ended"];

impl t1::Host for State {}

impl Host for State {
    fn config(&mut self) -> String {
        Host02::config(self)
    }

    fn log(&mut self, level: t1::LogLevel, message: String) {
        let level = match level {
            t1::LogLevel::Debug => t2::LogLevel::Debug,
            t1::LogLevel::Info => t2::LogLevel::Info,
            t1::LogLevel::Warn => t2::LogLevel::Warn,
            t1::LogLevel::Error => t2::LogLevel::Error,
        };
        Host02::log(self, level, message)
    }

    fn kv_get(&mut self, key: String) -> Option<String> {
        Host02::kv_get(self, key)
    }

    fn kv_set(&mut self, key: String, value: String) {
        Host02::kv_set(self, key, value)
    }

    fn kv_delete(&mut self, key: String) {
        Host02::kv_delete(self, key)
    }

    fn now(&mut self) -> t1::LocalTime {
        time(Host02::now(self))
    }

    fn directory(&mut self) -> Vec<t1::UserInfo> {
        Host02::directory(self).into_iter().map(|u| t1::UserInfo { ext: u.ext, name: u.name, available: u.available }).collect()
    }

    fn http(&mut self, r: t1::HttpRequest) -> Result<t1::HttpResponse, String> {
        let req = t2::HttpRequest { method: r.method, url: r.url, headers: r.headers, body: r.body };
        Host02::http(self, req).map(|r| t1::HttpResponse { status: r.status, headers: r.headers, body: r.body })
    }
}

fn time(l: t2::LocalTime) -> t1::LocalTime {
    t1::LocalTime {
        unix_ms: l.unix_ms,
        year: l.year,
        month: l.month,
        day: l.day,
        hour: l.hour,
        minute: l.minute,
        second: l.second,
        weekday: l.weekday,
        timezone: l.timezone,
    }
}

fn call(c: &t2::CallInfo) -> t1::CallInfo {
    t1::CallInfo {
        call_id: c.call_id.clone(),
        caller_number: c.caller_number.clone(),
        caller_name: c.caller_name.clone(),
        called_number: c.called_number.clone(),
        direction: c.direction.clone(),
        variables: c.variables.clone(),
    }
}

fn outcome(o: t2::DialOutcome) -> t1::DialOutcome {
    match o {
        t2::DialOutcome::Answered => t1::DialOutcome::Answered,
        t2::DialOutcome::Busy => t1::DialOutcome::Busy,
        t2::DialOutcome::NoAnswer => t1::DialOutcome::NoAnswer,
        t2::DialOutcome::Failed => t1::DialOutcome::Failed,
    }
}

fn queue(q: &t2::QueueState) -> t1::QueueState {
    t1::QueueState {
        queue: q.queue.clone(),
        agents: q
            .agents
            .iter()
            .map(|a| t1::Agent {
                ext: a.ext.clone(),
                name: a.name.clone(),
                state: a.state.clone(),
                idle_ms: a.idle_ms,
                calls_taken: a.calls_taken,
            })
            .collect(),
        callers: q
            .callers
            .iter()
            .map(|c| t1::WaitingCaller {
                call_id: c.call_id.clone(),
                caller_number: c.caller_number.clone(),
                waited_ms: c.waited_ms,
                priority: c.priority,
                position: c.position,
            })
            .collect(),
        last_agent: q.last_agent.clone(),
    }
}

/// An event in its 0.1 form, or `None` when 0.1 has no form for it.
pub fn event(e: &t2::Event) -> Option<t1::Event> {
    Some(match e {
        t2::Event::CallArrived(c) => t1::Event::CallArrived(call(c)),
        t2::Event::DigitsCollected((c, g)) => {
            t1::Event::DigitsCollected((call(c), t1::Gathered { digits: g.digits.clone(), reason: g.reason.clone() }))
        }
        t2::Event::PlayFinished(c) => t1::Event::PlayFinished(call(c)),
        t2::Event::DialFinished((c, o)) => t1::Event::DialFinished((call(c), outcome(*o))),
        t2::Event::QueueOffer(q) => t1::Event::QueueOffer(queue(q)),
        t2::Event::CallLifecycle(l) if V01_KINDS.contains(&l.kind.as_str()) => t1::Event::CallLifecycle(t1::Lifecycle {
            kind: l.kind.clone(),
            call: call(&l.call),
            answered_by: l.answered_by.clone(),
            talk_seconds: l.talk_seconds,
            disposition: l.disposition.clone(),
            recording_url: None,
        }),
        t2::Event::CallLifecycle(_) | t2::Event::OriginateResult(_) => return None,
        t2::Event::Webhook(r) => t1::Event::Webhook(t1::HttpRequest {
            method: r.method.clone(),
            url: r.url.clone(),
            headers: r.headers.clone(),
            body: r.body.clone(),
        }),
    })
}

fn gather(g: t1::GatherSpec) -> t2::GatherSpec {
    t2::GatherSpec {
        prompts: g.prompts,
        max_digits: g.max_digits,
        terminator: g.terminator,
        first_timeout_ms: g.first_timeout_ms,
        inter_digit_timeout_ms: g.inter_digit_timeout_ms,
        barge_in: g.barge_in,
        extension_dialing: g.extension_dialing,
    }
}

fn dial(d: t1::DialSpec) -> t2::DialSpec {
    t2::DialSpec {
        targets: d
            .targets
            .into_iter()
            .map(|t| match t {
                t1::DialTarget::Extension(e) => t2::DialTarget::Extension(e),
                t1::DialTarget::Number(n) => t2::DialTarget::Number(n),
                t1::DialTarget::Group(g) => t2::DialTarget::Group(g),
            })
            .collect(),
        timeout_ms: d.timeout_ms,
    }
}

/// A 0.1 verb as the host carries it out.
pub fn verb(v: t1::Verb) -> t2::Verb {
    match v {
        t1::Verb::Answer => t2::Verb::Answer,
        t1::Verb::Play(p) => t2::Verb::Play(p),
        t1::Verb::Gather(g) => t2::Verb::Gather(gather(g)),
        t1::Verb::Dial(d) => t2::Verb::Dial(dial(d)),
        t1::Verb::Enqueue(q) => t2::Verb::Enqueue(q),
        t1::Verb::SetCallerName(n) => t2::Verb::SetCallerName(n),
        t1::Verb::SetVariable(kv) => t2::Verb::SetVariable(kv),
        t1::Verb::Next(o) => t2::Verb::Next(o),
        t1::Verb::Hangup => t2::Verb::Hangup,
        t1::Verb::Originate(o) => {
            t2::Verb::Originate(t2::OriginateSpec { from_ext: o.from_ext, to_number: o.to_number, line: None, correlation_id: None })
        }
        t1::Verb::OfferTo(a) => t2::Verb::OfferTo(a),
        t1::Verb::Respond(r) => t2::Verb::Respond(t2::HttpResponse { status: r.status, headers: r.headers, body: r.body }),
    }
}

/// A 0.1 self-description.
pub fn metadata(m: t1::Metadata) -> t2::Metadata {
    t2::Metadata {
        name: m.name,
        version: m.version,
        description: m.description,
        outputs: m.outputs,
        config_schema: m.config_schema,
        capabilities: m
            .capabilities
            .into_iter()
            .map(|c| match c {
                t1::Capability::Http(h) => t2::Capability::Http(h),
                t1::Capability::Directory => t2::Capability::Directory,
                t1::Capability::Kv => t2::Capability::Kv,
            })
            .collect(),
    }
}
