//! A PBX call as the portal's telephony sees it: registered (`telephony.externalCall.register`,
//! with a unique `EXTERNAL_CALL_ID`), its card shown to the employees whose phones ring and
//! hidden when they stop, finished with duration and status, its recording attached.
//!
//! Events come in order and at least once: a call's state (the portal's `CALL_ID`, who the
//! card is shown to) is kept in the key-value store, so an event delivered again repeats no
//! request; a request that may work later (the portal down, over its rate limit) fails the
//! event, which the PBX delivers again with backoff; one the portal refuses is recorded
//! (the status page lists the last errors) and skipped. An event older than a minute is a
//! catch-up after an outage: the call is registered without a card (`SHOW=0`) at its real
//! start time, and no card is shown or hidden.

use crate::portal::{self, PortalError};
use crate::settings::{Settings, iso8601};
use crate::users;
use pbx_plugin_sdk::{Lifecycle, host};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A call's state between its events.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallState {
    /// The portal's `CALL_ID`.
    pub id: String,
    /// The user the call belongs to now (the last rung until someone answers, then who
    /// answered, then whom it was transferred to).
    pub user: String,
    /// Someone answered.
    #[serde(default)]
    pub answered: bool,
    /// Users whose card is shown.
    #[serde(default)]
    pub shown: Vec<String>,
    /// Phones ringing per user (a user with two phones rings twice; their card hides when
    /// the last one stops).
    #[serde(default)]
    pub ringing: Vec<(String, u32)>,
}

impl CallState {
    /// Counts phones that started ringing.
    fn rang(&mut self, users: &[String]) {
        for u in users {
            match self.ringing.iter_mut().find(|(x, _)| x == u) {
                Some((_, n)) => *n += 1,
                None => self.ringing.push((u.clone(), 1)),
            }
        }
    }

    /// Counts phones that stopped ringing; the users none of whose phones ring any more.
    fn stopped(&mut self, users: &[String]) -> Vec<String> {
        let mut silent = Vec::new();
        for u in users {
            if let Some((_, n)) = self.ringing.iter_mut().find(|(x, _)| x == u) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    silent.push(u.clone());
                }
            } else {
                silent.push(u.clone());
            }
        }
        self.ringing.retain(|(_, n)| *n > 0);
        silent
    }
}

/// Events older than this are a catch-up: no cards.
const LATE_MS: i64 = 60_000;
/// Errors kept for the status page.
const KEEP_ERRORS: usize = 10;

fn state_key(call_id: &str) -> String {
    format!("c:{call_id}")
}

fn load(call_id: &str) -> Option<CallState> {
    host::kv_get(&state_key(call_id)).and_then(|s| serde_json::from_str(&s).ok())
}

fn save(call_id: &str, st: &CallState) {
    if let Ok(s) = serde_json::to_string(st) {
        host::kv_set(&state_key(call_id), &s);
    }
}

/// Records an error for the status page (the newest last).
pub fn record_error(what: &str) {
    host::warn(what);
    let mut list: Vec<Value> = host::kv_get("errors").and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    list.push(json!({"at": host::now().unix_ms, "error": what.chars().take(300).collect::<String>()}));
    let skip = list.len().saturating_sub(KEEP_ERRORS);
    host::kv_set("errors", &Value::Array(list.into_iter().skip(skip).collect()).to_string());
}

/// A portal result for an event: `Ok(Some)` done, `Ok(None)` nothing to do or refused
/// (recorded), `Err` try the event again later.
pub fn soft<T>(r: Result<T, PortalError>, what: &str) -> Result<Option<T>, String> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(PortalError::NotConnected) => Ok(None),
        Err(e @ (PortalError::Refused { .. } | PortalError::Setup(_))) => {
            record_error(&format!("{what}: {e}"));
            Ok(None)
        }
        Err(e @ PortalError::Transient(_)) => Err(format!("{what}: {e}")),
    }
}

/// The portal's STATUS_CODE for how a call ended.
pub fn status_code(l: &Lifecycle) -> &'static str {
    match l.disposition.as_str() {
        "answered" => "200",
        "busy" => "486",
        "failed" => match l.sip_code {
            402 => "402",
            403 => "403",
            404 => "404",
            480 => "480",
            484 => "484",
            486 => "486",
            503 => "503",
            603 => "603",
            _ => "OTHER",
        },
        _ if l.talk_seconds > 0 => "200",
        _ => "304",
    }
}

/// Registers a call; its `CALL_ID`.
fn register(l: &Lifecycle, user: &str, kind: u8, phone: &str, show: bool, s: &Settings, now: i64) -> Result<Option<String>, String> {
    let mut p = json!({
        "USER_ID": user,
        "PHONE_NUMBER": phone,
        "TYPE": kind,
        "CALL_START_DATE": iso8601(l.started_ms),
        "CRM_CREATE": u8::from(s.crm_create),
        "SHOW": u8::from(show),
        "EXTERNAL_CALL_ID": l.call.call_id,
    });
    if let Some(line) = &l.line {
        p["LINE_NUMBER"] = json!(line);
    }
    let r = soft(portal::call("telephony.externalCall.register", p, s, now), "register")?;
    Ok(r.map(|v| users::scalar(&v["CALL_ID"])).filter(|id| !id.is_empty()))
}

fn show_hide(method: &str, id: &str, who: &[String], s: &Settings, now: i64) -> Result<(), String> {
    if who.is_empty() {
        return Ok(());
    }
    soft(portal::call(method, json!({"CALL_ID": id, "USER_ID": who}), s, now), method)?;
    Ok(())
}

/// The portal users of ringing phones, one entry per phone (a user's two phones: twice).
fn phones_of(exts: &[String], s: &Settings, now: i64) -> Result<Vec<String>, PortalError> {
    let mut out = Vec::new();
    for e in exts.iter().take(20) {
        if let Some(u) = users::user_of(e, s, now)? {
            out.push(u);
        }
    }
    Ok(out)
}

/// Finished calls remembered (for their recording, and so that an `ended` delivered again
/// finishes nothing twice).
const KEEP_FINISHED: usize = 300;

/// The portal's id of a finished call, if it is among the newest.
fn finished(call_id: &str) -> Option<String> {
    let list: Vec<(String, String)> = host::kv_get("finished").and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    list.into_iter().find(|(c, _)| c == call_id).map(|(_, id)| id)
}

fn remember_finished(call_id: &str, portal_id: &str) {
    let mut list: Vec<(String, String)> = host::kv_get("finished").and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    list.push((call_id.to_string(), portal_id.to_string()));
    let skip = list.len().saturating_sub(KEEP_FINISHED);
    if let Ok(s) = serde_json::to_string(&list[skip..]) {
        host::kv_set("finished", &s);
    }
}

/// Handles one call event.
pub fn on_event(l: &Lifecycle, s: &Settings) -> Result<(), String> {
    // Calls between extensions are no CRM's business, except a portal's click-to-call to a
    // number that turned out to be an extension: the portal's call is finished all the same.
    let portal_call = l.correlation_id.as_deref().is_some_and(|c| c.starts_with("b24:"));
    let internal = l.call.direction == "internal" && !portal_call && load(&l.call.call_id).is_none();
    if internal || portal::auth().is_none() {
        return Ok(());
    }
    let now = host::now().unix_ms;
    let late = now - l.at_ms > LATE_MS;
    let cards = s.show_card && !late;
    let call_id = l.call.call_id.as_str();
    let inbound = l.call.direction == "inbound";
    let mut st = load(call_id);
    match l.kind.as_str() {
        "started" if (!inbound || portal_call) && st.is_none() => {
            let ext = l.caller_ext.clone().unwrap_or_else(|| l.call.caller_number.clone());
            let corr = l.correlation_id.as_deref().unwrap_or("");
            let clicked = corr.strip_prefix("b24:").map(|pre| (pre.to_string(), crate::hooks::take_click(pre)));
            let user = match &clicked {
                Some((_, Some(u))) => Some(u.clone()),
                _ => soft(users::user_of(&ext, s, now), "user.get")?.flatten(),
            };
            let Some(user) = user else { return Ok(()) };
            let (id, shown) = if let Some((pre, _)) = clicked {
                // Click-to-call from the portal: it registered the call (and shows its card) itself.
                (Some(pre), Vec::new())
            } else {
                let kind = if corr.starts_with("b24cb:") { 4 } else { 1 };
                (register(l, &user, kind, &l.call.called_number, cards, s, now)?, if cards { vec![user.clone()] } else { Vec::new() })
            };
            if let Some(id) = id {
                save(call_id, &CallState { id, user, shown, ringing: Vec::new(), answered: false });
            }
        }
        "ringing" if inbound => {
            let phones = soft(phones_of(&l.extensions, s, now), "user.get")?.unwrap_or_default();
            let Some(first) = phones.first().cloned() else { return Ok(()) };
            let mut cur = match st.take() {
                Some(c) => c,
                None => {
                    let Some(id) = register(l, &first, 2, &l.call.caller_number, cards, s, now)? else { return Ok(()) };
                    let c = CallState {
                        id,
                        user: first.clone(),
                        shown: if cards { vec![first] } else { Vec::new() },
                        ringing: Vec::new(),
                        answered: false,
                    };
                    save(call_id, &c);
                    c
                }
            };
            cur.rang(&phones);
            // A missed call is finished for the last employee it rang.
            if !cur.answered
                && let Some(last) = phones.last()
            {
                cur.user = last.clone();
            }
            let mut more: Vec<String> = Vec::new();
            for u in phones {
                if !cur.shown.contains(&u) && !more.contains(&u) {
                    more.push(u);
                }
            }
            if cards {
                show_hide("telephony.externalCall.show", &cur.id, &more, s, now)?;
                cur.shown.extend(more);
            }
            save(call_id, &cur);
        }
        "ring-stopped" => {
            let Some(mut cur) = st else { return Ok(()) };
            let phones = soft(phones_of(&l.extensions, s, now), "user.get")?.unwrap_or_default();
            let gone: Vec<String> = cur.stopped(&phones).into_iter().filter(|u| cur.shown.contains(u)).collect();
            // Hidden late too: a card left up would stay up.
            show_hide("telephony.externalCall.hide", &cur.id, &gone, s, now)?;
            cur.shown.retain(|u| !gone.contains(u));
            save(call_id, &cur);
        }
        "answered" => {
            let (Some(mut cur), Some(ext)) = (st, l.answered_by.as_deref()) else { return Ok(()) };
            if let Some(u) = soft(users::user_of(ext, s, now), "user.get")?.flatten() {
                cur.user = u;
                cur.answered = true;
                save(call_id, &cur);
            }
        }
        "transferred" => {
            let (Some(mut cur), Some(t)) = (st, l.transfer.as_ref()) else { return Ok(()) };
            let Some(to) = soft(users::user_of(&t.to, s, now), "user.get")?.flatten() else { return Ok(()) };
            if cards && !cur.shown.contains(&to) {
                show_hide("telephony.externalCall.show", &cur.id, std::slice::from_ref(&to), s, now)?;
                cur.shown.push(to.clone());
            }
            let from = t.from.as_deref().map(|f| soft(users::user_of(f, s, now), "user.get")).transpose()?.flatten().flatten();
            if let Some(from) = from.filter(|f| *f != to && cur.shown.contains(f)) {
                show_hide("telephony.externalCall.hide", &cur.id, std::slice::from_ref(&from), s, now)?;
                cur.shown.retain(|u| *u != from);
            }
            cur.user = to;
            save(call_id, &cur);
        }
        "ended" => {
            // Delivered again after it was finished: done already.
            if finished(call_id).is_some() {
                return Ok(());
            }
            let cur = match st {
                Some(c) => c,
                None if inbound => {
                    // Nobody's phone rang (the caller left in the menu): a missed call all the same.
                    let ext = l.answered_by.clone().unwrap_or_else(|| s.default_ext.clone());
                    let Some(user) = soft(users::user_of(&ext, s, now), "user.get")?.flatten() else { return Ok(()) };
                    let Some(id) = register(l, &user, 2, &l.call.caller_number, false, s, now)? else { return Ok(()) };
                    CallState { id, user, shown: Vec::new(), ringing: Vec::new(), answered: false }
                }
                None => return Ok(()),
            };
            // The one who talked, if someone did (the answered event may have been missed).
            let mut cur = cur;
            if let Some(ext) = l.answered_by.as_deref().filter(|_| !cur.answered)
                && let Some(u) = soft(users::user_of(ext, s, now), "user.get")?.flatten()
            {
                cur.user = u;
            }
            // Cards still up (the finish hides only its user's).
            let others: Vec<String> = cur.shown.iter().filter(|u| **u != cur.user).cloned().collect();
            show_hide("telephony.externalCall.hide", &cur.id, &others, s, now)?;
            let p = json!({
                "CALL_ID": cur.id,
                "USER_ID": cur.user,
                "DURATION": l.talk_seconds,
                "STATUS_CODE": status_code(l),
            });
            soft(portal::call("telephony.externalCall.finish", p, s, now), "finish")?;
            // The recording comes next: only the portal's id is kept for it, in a list of
            // the newest calls (no key per call is left behind).
            remember_finished(call_id, &cur.id);
            host::kv_delete(&state_key(call_id));
        }
        "recording-ready" => {
            let (Some(id), Some(rec)) = (finished(call_id), l.recording.as_ref()) else { return Ok(()) };
            if rec.expires_ms <= now {
                record_error(&format!("the recording of {call_id} came after its link expired: not attached"));
                return Ok(());
            }
            // The portal takes WAV or MP3 only: MP3, an eighth of the size.
            let sep = if rec.url.contains('?') { '&' } else { '?' };
            let p = json!({
                "CALL_ID": id,
                "FILENAME": format!("{call_id}.mp3"),
                "RECORD_URL": format!("{}{sep}format=mp3", rec.url),
            });
            soft(portal::call("telephony.externalCall.attachRecord", p, s, now), "attachRecord")?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Bitrix24;
    use crate::portal::{AUTH_KEY, Auth};
    use pbx_plugin_sdk::testing::Harness;
    use pbx_plugin_sdk::{CallInfo, Event, HttpRequest, HttpResponse, Lifecycle};
    use serde_json::{Value, json};
    use std::cell::RefCell;
    use std::rc::Rc;

    const NOW: i64 = 1_796_000_000_000;

    fn ok(result: Value) -> Result<HttpResponse, String> {
        Ok(HttpResponse { status: 200, headers: vec![], body: json!({"result": result, "time": {}}).to_string().into_bytes() })
    }

    fn err(status: u16, code: &str, text: &str) -> Result<HttpResponse, String> {
        Ok(HttpResponse { status, headers: vec![], body: json!({"error": code, "error_description": text}).to_string().into_bytes() })
    }

    /// The method of a portal request (`.../rest/telephony.externalCall.show.json`).
    fn method(r: &HttpRequest) -> String {
        if r.url.contains("/oauth/token/") {
            return "oauth".into();
        }
        r.url.rsplit('/').next().unwrap_or("").split('?').next().unwrap_or("").trim_end_matches(".json").to_string()
    }

    fn body(r: &HttpRequest) -> Value {
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    }

    /// A portal that knows users 11 (ext 101) and 12 (ext 102) and answers every call; what
    /// `reply` returns instead, it returns.
    fn harness(reply: impl Fn(&str, &Value) -> Option<Result<HttpResponse, String>> + 'static) -> Harness<Bitrix24> {
        let h = Harness::<Bitrix24>::new(r#"{"client_id":"app","client_secret":"s3cret"}"#).http(move |r| {
            let (m, b) = (method(r), body(r));
            if let Some(x) = reply(&m, &b) {
                return x;
            }
            match m.as_str() {
                "user.get" => {
                    let id = match b["FILTER"]["UF_PHONE_INNER"].as_str() {
                        Some("101") => "11",
                        Some("102") => "12",
                        _ => return ok(json!([])),
                    };
                    ok(json!([{"ID": id}]))
                }
                "telephony.externalCall.register" => ok(json!({"CALL_ID": "externalCall.abc.1"})),
                _ => ok(json!(true)),
            }
        });
        h.host(|s| {
            s.now.unix_ms = NOW;
            let a = Auth {
                access_token: "tok".into(),
                refresh_token: "ref".into(),
                expires_ms: NOW + 3_600_000,
                endpoint: "https://acme.bitrix24.ru/rest/".into(),
                ..Auth::default()
            };
            s.kv.insert(AUTH_KEY.into(), serde_json::to_string(&a).unwrap());
        });
        h
    }

    fn event(kind: &str, exts: &[&str], at_ms: i64) -> Event {
        Event::CallLifecycle(Lifecycle {
            kind: kind.into(),
            event_id: format!("c1:{kind}"),
            seq: 1,
            at_ms,
            call: CallInfo {
                call_id: "c1".into(),
                caller_number: "+79161234567".into(),
                caller_name: String::new(),
                called_number: "+74951234000".into(),
                direction: "inbound".into(),
                variables: vec![],
            },
            started_ms: at_ms,
            line: Some("+74951234000".into()),
            caller_ext: None,
            extensions: exts.iter().map(|e| e.to_string()).collect(),
            reason: "answered-elsewhere".into(),
            answered_by: Some("101".into()),
            by_pbx: false,
            transfer: None,
            disposition: "answered".into(),
            sip_code: 200,
            hung_up_by: "caller".into(),
            talk_seconds: 12,
            via: None,
            recording: None,
            correlation_id: None,
        })
    }

    fn sent(h: &Harness<Bitrix24>) -> Vec<(String, Value)> {
        h.host(|s| s.requests.iter().map(|r| (method(r), body(r))).collect())
    }

    #[test]
    fn a_user_with_two_phones_keeps_the_card_until_the_last_stops() {
        let mut h = harness(|_, _| None);
        h.send(event("ringing", &["101", "101", "102"], NOW)).unwrap();
        h.send(event("ring-stopped", &["101"], NOW)).unwrap();
        h.send(event("ring-stopped", &["102"], NOW)).unwrap();
        let calls: Vec<(String, Value)> = sent(&h).into_iter().filter(|(m, _)| m != "user.get").collect();
        assert_eq!(calls[0].0, "telephony.externalCall.register");
        assert_eq!(
            (calls[0].1["USER_ID"].as_str(), calls[0].1["TYPE"].as_i64(), calls[0].1["SHOW"].as_i64()),
            (Some("11"), Some(2), Some(1))
        );
        assert_eq!(calls[0].1["EXTERNAL_CALL_ID"], "c1");
        assert_eq!(
            calls[1],
            ("telephony.externalCall.show".to_string(), json!({"CALL_ID": "externalCall.abc.1", "USER_ID": ["12"], "auth": "tok"}))
        );
        assert_eq!(
            calls[2],
            ("telephony.externalCall.hide".to_string(), json!({"CALL_ID": "externalCall.abc.1", "USER_ID": ["12"], "auth": "tok"}))
        );
        assert_eq!(calls.len(), 3, "101 still rings on its other phone: {calls:?}");
        // The finish goes to the one who talked, with the portal's status for an answered call.
        h.send(event("ended", &[], NOW)).unwrap();
        let (m, b) = sent(&h).pop().unwrap();
        assert_eq!(
            (m.as_str(), b["USER_ID"].as_str(), b["STATUS_CODE"].as_str(), b["DURATION"].as_i64()),
            ("telephony.externalCall.finish", Some("11"), Some("200"), Some(12))
        );
        // Delivered again (at least once): nothing is registered or finished twice.
        let before = sent(&h).len();
        h.send(event("ended", &[], NOW)).unwrap();
        assert_eq!(sent(&h).len(), before);
    }

    #[test]
    fn an_overloaded_portal_fails_the_event_and_a_refusal_is_recorded_not_retried() {
        let limited = Rc::new(RefCell::new(true));
        let l2 = limited.clone();
        let mut h = harness(move |m, _| {
            if m == "telephony.externalCall.register" && *l2.borrow() {
                return Some(err(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"));
            }
            if m == "telephony.externalCall.show" {
                return Some(err(400, "", "Call is not found"));
            }
            None
        });
        let e = h.send(event("ringing", &["101"], NOW)).unwrap_err();
        assert!(e.contains("QUERY_LIMIT_EXCEEDED"), "{e}");
        assert!(h.host(|s| !s.kv.contains_key("c:c1")), "nothing kept: the event comes again");
        *limited.borrow_mut() = false;
        h.send(event("ringing", &["101"], NOW)).unwrap();
        assert!(h.host(|s| s.kv.contains_key("c:c1")));
        h.send(event("ringing", &["102"], NOW)).unwrap();
        let errors: Value = h.host(|s| serde_json::from_str(&s.kv["errors"]).unwrap());
        assert!(errors[0]["error"].as_str().unwrap().contains("Call is not found"), "{errors}");
    }

    #[test]
    fn a_late_event_is_a_catch_up_without_cards() {
        let mut h = harness(|_, _| None);
        let at = NOW - 5 * 60_000;
        h.send(event("ringing", &["101", "102"], at)).unwrap();
        h.send(event("ring-stopped", &["102"], at)).unwrap();
        let calls: Vec<(String, Value)> = sent(&h).into_iter().filter(|(m, _)| m != "user.get").collect();
        assert_eq!(calls.len(), 1, "register only: {calls:?}");
        assert_eq!(calls[0].1["SHOW"], 0);
        assert_eq!(calls[0].1["CALL_START_DATE"], crate::settings::iso8601(at));
    }

    #[test]
    fn an_expired_token_is_renewed_and_the_request_made_again() {
        let renewed = Rc::new(RefCell::new(false));
        let r2 = renewed.clone();
        let mut h = harness(move |m, b| {
            if m == "oauth" {
                *r2.borrow_mut() = true;
                return Some(ok(json!(null)).map(|_| HttpResponse {
                    status: 200,
                    headers: vec![],
                    body: json!({"access_token": "tok2", "refresh_token": "ref2", "expires_in": 3600}).to_string().into_bytes(),
                }));
            }
            if b["auth"] == "tok" && m != "user.get" {
                return Some(err(401, "expired_token", "The access token provided has expired."));
            }
            None
        });
        h.send(event("ringing", &["101"], NOW)).unwrap();
        assert!(*renewed.borrow());
        let auth: Auth = h.host(|s| serde_json::from_str(&s.kv[AUTH_KEY]).unwrap());
        assert_eq!((auth.access_token.as_str(), auth.refresh_token.as_str()), ("tok2", "ref2"));
        let oauth = h.host(|s| s.requests.iter().find(|r| r.url.contains("/oauth/token/")).map(|r| r.url.clone())).unwrap();
        assert!(
            oauth.contains("grant_type=refresh_token") && oauth.contains("client_secret=s3cret") && oauth.contains("refresh_token=ref"),
            "{oauth}"
        );
        assert!(h.host(|s| s.kv.contains_key("c:c1")));
    }
}
