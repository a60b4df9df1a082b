//! Running a plugin natively in tests: a simulated host (configuration, clock, directory,
//! key-value store, HTTP) and helpers to build events and read verbs.
//!
//! ```
//! use pbx_plugin_sdk::testing::Harness;
//! use pbx_plugin_sdk::{Event, Metadata, Plugin, Verb, host, metadata};
//!
//! struct Greeter;
//! impl Plugin for Greeter {
//!     fn describe() -> Metadata { metadata("greeter", "0.1.0", "Says hello", &["done"], "{}") }
//!     fn handle(_: Event) -> Result<Vec<Verb>, String> {
//!         let prompt = if host::now().hour < 12 { "good-morning" } else { "hello" };
//!         Ok(vec![Verb::Answer, Verb::Play(vec![prompt.into()])])
//!     }
//! }
//!
//! let mut h = Harness::<Greeter>::new("{}").at(2026, 11, 23, 10, 0);
//! let verbs = h.call_arrived().unwrap();
//! assert_eq!(verbs, vec![Verb::Answer, Verb::Play(vec!["good-morning".into()])]);
//! ```

use crate::{CallInfo, Contact, Event, Gathered, HttpRequest, HttpResponse, LocalTime, LogLevel, Plugin, UserInfo, Verb};
use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;

/// A simulated HTTP peer.
pub type HttpHandler = Box<dyn Fn(&HttpRequest) -> Result<HttpResponse, String>>;

/// A simulated PBX host.
pub struct SimHost {
    /// Configuration JSON.
    pub config: String,
    /// The clock.
    pub now: LocalTime,
    /// The directory.
    pub directory: Vec<UserInfo>,
    /// The key-value store.
    pub kv: HashMap<String, String>,
    /// Log lines.
    pub logs: Vec<(LogLevel, String)>,
    /// HTTP handler (default: every request fails).
    pub http: HttpHandler,
    /// Requests made.
    pub requests: Vec<HttpRequest>,
    /// The tenant's city numbers.
    pub lines: Vec<String>,
    /// The phone book, by number.
    pub contacts: HashMap<String, Contact>,
}

thread_local! {
    static HOST: RefCell<Option<SimHost>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut SimHost) -> R) -> R {
    HOST.with(|h| {
        let mut h = h.borrow_mut();
        let host = h.get_or_insert_with(SimHost::default);
        f(host)
    })
}

impl Default for SimHost {
    fn default() -> SimHost {
        SimHost {
            config: "{}".into(),
            now: local_time(2026, 1, 5, 12, 0),
            directory: Vec::new(),
            kv: HashMap::new(),
            logs: Vec::new(),
            http: Box::new(|_| Err("no HTTP in this test".into())),
            requests: Vec::new(),
            lines: Vec::new(),
            contacts: HashMap::new(),
        }
    }
}

/// A local time (the weekday is computed).
pub fn local_time(year: i16, month: u8, day: u8, hour: u8, minute: u8) -> LocalTime {
    // Days from 1970-01-01 (H. Hinnant's algorithm), for the weekday and the epoch.
    let y = if month <= 2 { year as i64 - 1 } else { year as i64 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let weekday = ((days + 3).rem_euclid(7) + 1) as u8; // 1970-01-01 was a Thursday
    LocalTime {
        unix_ms: (days * 86_400 + hour as i64 * 3600 + minute as i64 * 60) * 1000,
        year,
        month,
        day,
        hour,
        minute,
        second: 0,
        weekday,
        timezone: "UTC".into(),
    }
}

/// The host functions the SDK uses off wasm.
pub mod native {
    use super::*;

    /// Config.
    pub fn config() -> String {
        with(|h| h.config.clone())
    }
    /// Log.
    pub fn log(level: LogLevel, message: &str) {
        with(|h| h.logs.push((level, message.to_string())))
    }
    /// KV get.
    pub fn kv_get(key: &str) -> Option<String> {
        with(|h| h.kv.get(key).cloned())
    }
    /// KV set.
    pub fn kv_set(key: &str, value: &str) {
        with(|h| {
            h.kv.insert(key.to_string(), value.to_string());
        })
    }
    /// KV delete.
    pub fn kv_delete(key: &str) {
        with(|h| {
            h.kv.remove(key);
        })
    }
    /// Clock.
    pub fn now() -> LocalTime {
        with(|h| h.now.clone())
    }
    /// Directory.
    pub fn directory() -> Vec<UserInfo> {
        with(|h| h.directory.clone())
    }
    /// HTTP.
    pub fn http(request: &HttpRequest) -> Result<HttpResponse, String> {
        with(|h| {
            h.requests.push(request.clone());
            (h.http)(request)
        })
    }
    /// City numbers.
    pub fn lines() -> Vec<String> {
        with(|h| h.lines.clone())
    }
    /// Phone-book lookup.
    pub fn contact_lookup(number: &str) -> Option<Contact> {
        with(|h| h.contacts.get(number).cloned())
    }
    /// Phone-book write (the simulated host checks only that there is a name).
    pub fn contact_put(entry: &Contact) -> Result<(), String> {
        if entry.name.trim().is_empty() {
            return Err(format!("the contact {} needs a name", entry.number));
        }
        with(|h| {
            h.contacts.insert(entry.number.clone(), entry.clone());
        });
        Ok(())
    }
    /// Phone-book removal.
    pub fn contact_remove(number: &str) -> bool {
        with(|h| h.contacts.remove(number).is_some())
    }
}

/// Runs plugin `P` against a simulated host.
pub struct Harness<P: Plugin> {
    call: CallInfo,
    _p: PhantomData<P>,
}

impl<P: Plugin> Harness<P> {
    /// A harness with this node configuration (JSON).
    pub fn new(config: &str) -> Harness<P> {
        HOST.with(|h| *h.borrow_mut() = Some(SimHost { config: config.to_string(), ..SimHost::default() }));
        Harness {
            call: CallInfo {
                call_id: "test-call".into(),
                caller_number: "+74950000000".into(),
                caller_name: String::new(),
                called_number: "+74951234567".into(),
                direction: "inbound".into(),
                variables: Vec::new(),
            },
            _p: PhantomData,
        }
    }

    /// Sets the tenant's local time.
    pub fn at(self, year: i16, month: u8, day: u8, hour: u8, minute: u8) -> Self {
        with(|h| h.now = local_time(year, month, day, hour, minute));
        self
    }

    /// Sets the caller.
    pub fn from(mut self, number: &str) -> Self {
        self.call.caller_number = number.to_string();
        self
    }

    /// Sets the directory.
    pub fn users(self, users: &[(&str, &str, bool)]) -> Self {
        with(|h| h.directory = users.iter().map(|(e, n, a)| UserInfo { ext: e.to_string(), name: n.to_string(), available: *a }).collect());
        self
    }

    /// Sets the tenant's city numbers.
    pub fn lines(self, lines: &[&str]) -> Self {
        with(|h| h.lines = lines.iter().map(|l| l.to_string()).collect());
        self
    }

    /// Answers HTTP requests with `f`.
    pub fn http(self, f: impl Fn(&HttpRequest) -> Result<HttpResponse, String> + 'static) -> Self {
        with(|h| h.http = Box::new(f));
        self
    }

    /// Sets a call variable.
    pub fn variable(mut self, k: &str, v: &str) -> Self {
        self.call.variables.push((k.to_string(), v.to_string()));
        self
    }

    /// The simulated host, to inspect the key-value store, logs and requests.
    pub fn host<R>(&self, f: impl FnOnce(&mut SimHost) -> R) -> R {
        with(f)
    }

    /// The call used by the event helpers.
    pub fn call(&self) -> CallInfo {
        self.call.clone()
    }

    /// Sends any event.
    pub fn send(&mut self, event: Event) -> Result<Vec<Verb>, String> {
        P::handle(event)
    }

    /// The call reaches the node.
    pub fn call_arrived(&mut self) -> Result<Vec<Verb>, String> {
        P::handle(Event::CallArrived(self.call.clone()))
    }

    /// A gather ended with `digits` for `reason`.
    pub fn digits(&mut self, digits: &str, reason: &str) -> Result<Vec<Verb>, String> {
        P::handle(Event::DigitsCollected((self.call.clone(), Gathered { digits: digits.into(), reason: reason.into() })))
    }

    /// A dial ended without a conversation.
    pub fn dial_finished(&mut self, outcome: crate::DialOutcome) -> Result<Vec<Verb>, String> {
        P::handle(Event::DialFinished((self.call.clone(), outcome)))
    }

    /// A play ended.
    pub fn play_finished(&mut self) -> Result<Vec<Verb>, String> {
        P::handle(Event::PlayFinished(self.call.clone()))
    }

    /// The node's outputs for its configuration.
    pub fn outputs(&self) -> Result<Vec<String>, String> {
        P::outputs(&native::config())
    }
}

/// The output a list of verbs takes, if any.
pub fn next_of(verbs: &[Verb]) -> Option<&str> {
    verbs.iter().find_map(|v| if let Verb::Next(o) = v { Some(o.as_str()) } else { None })
}
