//! The connector's inbound address (`/hooks/{tenant}/bitrix24/{secret}/...`):
//!
//! - `POST install`: the local application's installation callback (form fields
//!   `auth[access_token]`, `auth[refresh_token]`, `auth[expires_in]`, `auth[domain]`,
//!   `auth[client_endpoint]`, `auth[member_id]`, `auth[application_token]`); the tokens are
//!   kept and the portal is set up: an external line per city number, the click-to-call and
//!   callback-form events bound to `event`.
//! - `POST event`: the portal's events (form-encoded, never retried), accepted only with the
//!   stored `application_token`: `ONEXTERNALCALLSTART` (click-to-call from the CRM: ring
//!   the user's phones, then call the number), `ONEXTERNALCALLBACKSTART` (the website's
//!   callback form: ring the client's responsible employee, then call the client),
//!   `ONAPPUNINSTALL`.
//! - From the company's cabinet only (the PBX marks its requests `x-pbx-caller: cabinet`):
//!   `POST setup` sets the portal up again (new city numbers, a new address); `POST
//!   disconnect` forgets it; `GET status` is the connection, the lines, the user map and the
//!   last errors, as JSON (never a token).
//!
//! While a portal is connected, an installation from another portal (another `member_id`)
//! is refused: disconnect in the cabinet first.

use crate::calls::{record_error, soft};
use crate::portal::{self, Auth};
use crate::settings::{Settings, field, form, query, same_secret};
use crate::users;
use pbx_plugin_sdk::{HttpRequest, HttpResponse, OriginateResult, OriginateSpec, Verb, host};
use serde_json::{Value, json};

/// The header the PBX sets to this plugin's public inbound address.
const HOOK_URL: &str = "x-pbx-hook-url";
/// The header the PBX sets on the company's cabinet's requests.
const CALLER: &str = "x-pbx-caller";
/// Portal click-to-calls remembered until their call starts.
const KEEP_CLICKS: usize = 100;

fn reply(status: u16, body: Value) -> Verb {
    Verb::Respond(HttpResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    })
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// Handles a request to the inbound address.
pub fn on_request(req: &HttpRequest, s: &Settings) -> Vec<Verb> {
    let path = req.url.split('?').next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    let cabinet = header(req, CALLER) == "cabinet";
    match (req.method.as_str(), last, cabinet) {
        ("POST", "install", _) => vec![install(req, s)],
        ("POST", "event", _) => event(req, s),
        ("POST", "setup", true) => vec![match portal::auth() {
            Some(_) => setup(header(req, HOOK_URL), s),
            None => reply(409, json!({"error": "no portal is connected: install the application first"})),
        }],
        ("POST", "disconnect", true) => {
            host::kv_delete(portal::AUTH_KEY);
            vec![reply(200, json!({"connected": false}))]
        }
        ("GET", "status", true) => vec![reply(200, status(header(req, HOOK_URL)))],
        _ => vec![reply(404, json!({"error": "no such address"}))],
    }
}

/// Keeps the installation's tokens and sets the portal up.
fn install(req: &HttpRequest, s: &Settings) -> Verb {
    let f = form(&req.body);
    let get = |k: &str| field(&f, &format!("auth[{k}]")).to_string();
    let (access, refresh, token) = (get("access_token"), get("refresh_token"), get("application_token"));
    if access.is_empty() || refresh.is_empty() || token.is_empty() {
        return reply(
            400,
            json!({"error": "not an installation callback: auth[access_token], auth[refresh_token] and auth[application_token] are required"}),
        );
    }
    let domain = get("domain");
    let endpoint = match get("client_endpoint") {
        e if e.starts_with("https://") || e.starts_with("http://127.") || e.starts_with("http://localhost") => e,
        e if !e.is_empty() => return reply(400, json!({"error": "the portal's address must be https"})),
        _ if !domain.is_empty() => format!("https://{domain}/rest/"),
        _ => return reply(400, json!({"error": "the callback names no portal (auth[client_endpoint] or auth[domain])"})),
    };
    if let Some(old) = portal::auth()
        && old.member_id != get("member_id")
    {
        return reply(409, json!({"error": "another portal is connected: disconnect it in the PBX's cabinet first"}));
    }
    let now = host::now().unix_ms;
    let expires_in: i64 = get("expires_in").parse().unwrap_or(3600);
    portal::save_auth(&Auth {
        access_token: access,
        refresh_token: refresh,
        expires_ms: now + expires_in.clamp(60, 86_400) * 1000,
        endpoint,
        domain,
        member_id: get("member_id"),
        application_token: token,
    });
    setup(header(req, HOOK_URL), s)
}

/// Adds an external line per city number and binds the events, in `batch`es of at most 50
/// commands (the portal's limit).
fn setup(hook_url: &str, s: &Settings) -> Verb {
    let now = host::now().unix_ms;
    let lines = host::lines();
    let mut cmds: Vec<(String, String)> = lines
        .iter()
        .take(500)
        .enumerate()
        .map(|(i, line)| (format!("line{i}"), format!("telephony.externalLine.add?{}", query(&[("NUMBER", line), ("NAME", line)]))))
        .collect();
    if !hook_url.is_empty() {
        let handler = format!("{hook_url}/event");
        for ev in ["ONEXTERNALCALLSTART", "ONEXTERNALCALLBACKSTART"] {
            cmds.push((format!("bind_{ev}"), format!("event.bind?{}", query(&[("event", ev), ("handler", &handler)]))));
        }
    }
    let mut errors: Vec<String> = Vec::new();
    for chunk in cmds.chunks(50) {
        let cmd: serde_json::Map<String, Value> = chunk.iter().map(|(k, c)| (k.clone(), json!(c))).collect();
        match portal::call("batch", json!({"halt": 0, "cmd": cmd}), s, now) {
            // A line or a binding that exists already is no error.
            Ok(r) => errors.extend(
                r["result_error"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}: {}", v["error_description"].as_str().unwrap_or_default()))
                    .filter(|e| !e.contains("already")),
            ),
            Err(e) => {
                record_error(&format!("setup: {e}"));
                return reply(502, json!({"connected": true, "error": e.to_string()}));
            }
        }
    }
    for e in &errors {
        record_error(&format!("setup {e}"));
    }
    host::kv_set("lines", &json!(lines).to_string());
    reply(200, json!({"connected": true, "lines": lines, "errors": errors}))
}

/// The connection as the cabinet shows it (never a token).
fn status(hook_url: &str) -> Value {
    let now = host::now().unix_ms;
    let errors: Value = host::kv_get("errors").and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(json!([]));
    let lines: Vec<String> = host::kv_get("lines").and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    let exts: Vec<String> = host::directory().into_iter().map(|u| u.ext).collect();
    let map: serde_json::Map<String, Value> = users::known(&exts, now).into_iter().map(|(e, u)| (e, json!(u))).collect();
    let install_url = if hook_url.is_empty() { String::new() } else { format!("{hook_url}/install") };
    match portal::auth() {
        Some(a) => json!({
            "connected": true, "domain": a.domain, "member_id": a.member_id, "token_expires_at": a.expires_ms,
            "lines": lines, "users": map, "errors": errors, "install_url": install_url,
        }),
        None => json!({"connected": false, "lines": [], "users": map, "errors": errors, "install_url": install_url}),
    }
}

/// A portal event.
fn event(req: &HttpRequest, s: &Settings) -> Vec<Verb> {
    let f = form(&req.body);
    let Some(auth) = portal::auth() else { return vec![reply(409, json!({"error": "no portal is connected"}))] };
    if !same_secret(field(&f, "auth[application_token]"), &auth.application_token) {
        return vec![reply(401, json!({"error": "unknown application_token"}))];
    }
    let data = |k: &str| field(&f, &format!("data[{k}]")).to_string();
    let now = host::now().unix_ms;
    match field(&f, "event").to_ascii_uppercase().as_str() {
        "ONEXTERNALCALLSTART" => {
            let (user, phone, call) = (data("USER_ID"), data("PHONE_NUMBER"), data("CALL_ID"));
            if call.is_empty() || phone.is_empty() {
                return vec![reply(400, json!({"error": "CALL_ID and PHONE_NUMBER are required"}))];
            }
            let ext = match soft(users::ext_of(&user, s, now), "user.get") {
                Ok(e) => e.flatten(),
                Err(e) => {
                    record_error(&e);
                    None
                }
            };
            let Some(ext) = ext else {
                fail_click(&call, &user, "OTHER", "the user has no extension on the PBX", s);
                return vec![reply(200, json!({"placed": false}))];
            };
            remember_click(&call, &user);
            vec![originate(&ext, &phone, &data("LINE_NUMBER"), &format!("b24:{call}")), reply(200, json!({"placing": true}))]
        }
        "ONEXTERNALCALLBACKSTART" => {
            let phone = data("PHONE_NUMBER");
            if phone.is_empty() {
                return vec![reply(400, json!({"error": "PHONE_NUMBER is required"}))];
            }
            let ext = responsible_ext(&phone, s, now).or_else(|| Some(s.default_ext.clone()).filter(|e| !e.is_empty()));
            let Some(ext) = ext else {
                record_error(&format!("callback to {phone}: no responsible employee and no default extension"));
                return vec![reply(200, json!({"placed": false}))];
            };
            // The form's TEXT would be spoken to the employee; the PBX has no speech
            // synthesis, so the employee hears the ringback and the client's voice only.
            let corr = format!("b24cb:{now}:{}", phone.chars().filter(char::is_ascii_digit).collect::<String>());
            vec![originate(&ext, &phone, &data("LINE_NUMBER"), &corr), reply(200, json!({"placing": true}))]
        }
        "ONAPPUNINSTALL" => {
            host::kv_delete(portal::AUTH_KEY);
            vec![reply(200, json!({"connected": false}))]
        }
        _ => vec![reply(200, json!({"ignored": true}))],
    }
}

/// The extension of the employee responsible for the client with this number.
fn responsible_ext(phone: &str, s: &Settings, now: i64) -> Option<String> {
    let found = portal::call("telephony.externalCall.searchCrmEntities", json!({"PHONE_NUMBER": phone}), s, now).ok()?;
    let first = found.as_array()?.first()?;
    let inner = users::scalar(&first["ASSIGNED_BY"]["USER_PHONE_INNER"]);
    if !inner.is_empty() {
        return Some(inner);
    }
    users::ext_of(&users::scalar(&first["ASSIGNED_BY_ID"]), s, now).ok().flatten()
}

/// A call from an extension to a number, presenting the line if it is one of the company's.
fn originate(ext: &str, phone: &str, line: &str, corr: &str) -> Verb {
    let ours = !line.is_empty() && host::lines().iter().any(|l| l == line);
    Verb::Originate(OriginateSpec {
        from_ext: ext.to_string(),
        to_number: phone.to_string(),
        line: if ours { Some(line.to_string()) } else { None },
        correlation_id: Some(corr.chars().take(128).collect()),
    })
}

/// Keeps the user of a portal click-to-call until its call starts (a bounded list: no key
/// per call is left behind).
fn remember_click(call: &str, user: &str) {
    let mut list: Vec<(String, String)> = host::kv_get("clicks").and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    list.retain(|(c, _)| c != call);
    list.push((call.to_string(), user.to_string()));
    let skip = list.len().saturating_sub(KEEP_CLICKS);
    if let Ok(s) = serde_json::to_string(&list[skip..]) {
        host::kv_set("clicks", &s);
    }
}

/// The user of a portal click-to-call, forgotten as it is taken.
pub fn take_click(call: &str) -> Option<String> {
    let mut list: Vec<(String, String)> = host::kv_get("clicks").and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    let found = list.iter().position(|(c, _)| c == call).map(|i| list.remove(i).1);
    if found.is_some()
        && let Ok(s) = serde_json::to_string(&list)
    {
        host::kv_set("clicks", &s);
    }
    found
}

/// Finishes a portal click-to-call the PBX could not place.
fn fail_click(call: &str, user: &str, code: &str, reason: &str, s: &Settings) {
    let p = json!({"CALL_ID": call, "USER_ID": user, "DURATION": 0, "STATUS_CODE": code, "FAILED_REASON": reason});
    if let Err(e) = soft(portal::call("telephony.externalCall.finish", p, s, host::now().unix_ms), "finish") {
        record_error(&e);
    }
}

/// What became of a call this plugin asked for.
pub fn on_originate_result(r: &OriginateResult, s: &Settings) {
    let corr = r.correlation_id.as_deref().unwrap_or("");
    let Some(error) = r.error.as_deref() else { return };
    if let Some(call) = corr.strip_prefix("b24:") {
        let code = match error {
            "not-registered" | "target-not-registered" => "480",
            "bad-number" => "484",
            "no-balance" => "402",
            "busy" => "486",
            "suspended" => "423",
            "no-user" | "bad-line" | "no-trunk" => "OTHER",
            _ => "503",
        };
        let user = take_click(call).unwrap_or_default();
        fail_click(call, &user, code, &r.message, s);
    } else if corr.starts_with("b24cb:") {
        record_error(&format!("callback to {} not placed: {}", r.to_number, r.message));
    }
}
