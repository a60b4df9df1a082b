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
    /// The user the call belongs to now (registered for, answered by, transferred to).
    pub user: String,
    /// Users whose card is shown.
    #[serde(default)]
    pub shown: Vec<String>,
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
        Err(e @ PortalError::Refused { .. }) => {
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

/// Handles one call event.
pub fn on_event(l: &Lifecycle, s: &Settings) -> Result<(), String> {
    if l.call.direction == "internal" || portal::auth().is_none() {
        return Ok(());
    }
    let now = host::now().unix_ms;
    let late = now - l.at_ms > LATE_MS;
    let cards = s.show_card && !late;
    let call_id = l.call.call_id.as_str();
    let inbound = l.call.direction == "inbound";
    let mut st = load(call_id);
    match l.kind.as_str() {
        "started" if !inbound && st.is_none() => {
            let ext = l.caller_ext.clone().unwrap_or_else(|| l.call.caller_number.clone());
            let Some(user) = soft(users::user_of(&ext, s, now), "user.get")?.flatten() else { return Ok(()) };
            let corr = l.correlation_id.as_deref().unwrap_or("");
            let (id, shown) = if let Some(pre) = corr.strip_prefix("b24:") {
                // Click-to-call from the portal: it registered the call (and shows its card) itself.
                host::kv_delete(&format!("cc:{pre}"));
                (Some(pre.to_string()), Vec::new())
            } else {
                let kind = if corr.starts_with("b24cb:") { 4 } else { 1 };
                (register(l, &user, kind, &l.call.called_number, cards, s, now)?, if cards { vec![user.clone()] } else { Vec::new() })
            };
            if let Some(id) = id {
                save(call_id, &CallState { id, user, shown });
            }
        }
        "ringing" if inbound => {
            let who = soft(users::users_of(&l.extensions, s, now), "user.get")?.unwrap_or_default();
            let Some(first) = who.first().cloned() else { return Ok(()) };
            let mut cur = match st.take() {
                Some(c) => c,
                None => {
                    let Some(id) = register(l, &first, 2, &l.call.caller_number, cards, s, now)? else { return Ok(()) };
                    let c = CallState { id, user: first.clone(), shown: if cards { vec![first] } else { Vec::new() } };
                    save(call_id, &c);
                    c
                }
            };
            let more: Vec<String> = who.into_iter().filter(|u| !cur.shown.contains(u)).collect();
            if cards {
                show_hide("telephony.externalCall.show", &cur.id, &more, s, now)?;
                cur.shown.extend(more);
            }
            save(call_id, &cur);
        }
        "ring-stopped" => {
            let Some(mut cur) = st else { return Ok(()) };
            let who = soft(users::users_of(&l.extensions, s, now), "user.get")?.unwrap_or_default();
            let gone: Vec<String> = who.into_iter().filter(|u| cur.shown.contains(u)).collect();
            if !late {
                show_hide("telephony.externalCall.hide", &cur.id, &gone, s, now)?;
            }
            cur.shown.retain(|u| !gone.contains(u));
            save(call_id, &cur);
        }
        "answered" => {
            let (Some(mut cur), Some(ext)) = (st, l.answered_by.as_deref()) else { return Ok(()) };
            if let Some(u) = soft(users::user_of(ext, s, now), "user.get")?.flatten() {
                cur.user = u;
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
                if !late {
                    show_hide("telephony.externalCall.hide", &cur.id, std::slice::from_ref(&from), s, now)?;
                }
                cur.shown.retain(|u| *u != from);
            }
            cur.user = to;
            save(call_id, &cur);
        }
        "ended" => {
            let cur = match st {
                Some(c) => c,
                None if inbound => {
                    // Nobody's phone rang (the caller left in the menu): a missed call all the same.
                    let ext = l.answered_by.clone().unwrap_or_else(|| s.default_ext.clone());
                    let Some(user) = soft(users::user_of(&ext, s, now), "user.get")?.flatten() else { return Ok(()) };
                    let Some(id) = register(l, &user, 2, &l.call.caller_number, false, s, now)? else { return Ok(()) };
                    CallState { id, user, shown: Vec::new() }
                }
                None => return Ok(()),
            };
            let p = json!({
                "CALL_ID": cur.id,
                "USER_ID": cur.user,
                "DURATION": l.talk_seconds,
                "STATUS_CODE": status_code(l),
            });
            soft(portal::call("telephony.externalCall.finish", p, s, now), "finish")?;
            // The recording comes next: only the portal's id is kept for it.
            host::kv_set(&format!("r:{call_id}"), &cur.id);
            host::kv_delete(&state_key(call_id));
        }
        "recording-ready" => {
            let (Some(id), Some(rec)) = (host::kv_get(&format!("r:{call_id}")), l.recording.as_ref()) else { return Ok(()) };
            // The portal takes WAV or MP3 only.
            let sep = if rec.url.contains('?') { '&' } else { '?' };
            let p = json!({
                "CALL_ID": id,
                "FILENAME": format!("{call_id}.wav"),
                "RECORD_URL": format!("{}{sep}format=wav", rec.url),
            });
            soft(portal::call("telephony.externalCall.attachRecord", p, s, now), "attachRecord")?;
            host::kv_delete(&format!("r:{call_id}"));
        }
        _ => {}
    }
    Ok(())
}
