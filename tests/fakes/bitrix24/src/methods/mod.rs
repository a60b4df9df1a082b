//! Method dispatch plus the small non-telephony methods the integration needs:
//! `user.get`, `event.bind`, `event.get`, `app.info`.

pub(crate) mod calls;
pub(crate) mod lines;
pub(crate) mod records;

use crate::auth::AuthCtx;
use crate::envelope::{MethodOk, RestError};
use crate::multipart::FilePart;
use crate::params::Param;
use crate::server::Shared;
use crate::state::{BoundEvent, CardAction, State};
use serde_json::{Value, json};

/// A synchronous method's view: the locked state and the caller.
pub(crate) struct Cx<'a> {
    pub st: &'a mut State,
    pub auth: &'a AuthCtx,
}

/// Methods the docs call "application context only" and the strict flag closes to webhooks.
const STRICT_APP_ONLY: [&str; 6] = [
    "telephony.externalcall.register",
    "telephony.externalcall.finish",
    "telephony.externalline.add",
    "telephony.externalline.update",
    "telephony.externalline.get",
    "telephony.externalline.delete",
];

/// Events `event.bind` accepts; others get `ERROR_EVENT_NOT_FOUND`.
const KNOWN_EVENTS: [&str; 8] = [
    "ONEXTERNALCALLSTART",
    "ONEXTERNALCALLBACKSTART",
    "ONVOXIMPLANTCALLINIT",
    "ONVOXIMPLANTCALLSTART",
    "ONVOXIMPLANTCALLEND",
    "ONAPPINSTALL",
    "ONAPPUNINSTALL",
    "ONAPPUPDATE",
];

/// Runs one method that is not `batch` (`batch` runs its commands through here).
pub(crate) async fn call_single(
    shared: &Shared,
    auth: &AuthCtx,
    method: &str,
    params: &Param,
    files: &[FilePart],
) -> Result<MethodOk, RestError> {
    let p = params.upper_keys();
    if auth.is_webhook() && STRICT_APP_ONLY.contains(&method) && shared.lock().opts.strict_auth_type {
        return Err(RestError::wrong_auth_type());
    }
    if method == "telephony.externalcall.attachrecord" {
        return records::attach(shared, auth, &p).await;
    }
    let mut st = shared.lock();
    let mut cx = Cx { st: &mut st, auth };
    match method {
        "telephony.externalline.add" => lines::add(&mut cx, &p),
        "telephony.externalline.update" => lines::update(&mut cx, &p),
        "telephony.externalline.get" => lines::get(&mut cx, &p),
        "telephony.externalline.delete" => lines::delete(&mut cx, &p),
        "telephony.externalcall.register" => calls::register(&mut cx, &p),
        "telephony.externalcall.show" => calls::show_hide(&mut cx, &p, CardAction::Show),
        "telephony.externalcall.hide" => calls::show_hide(&mut cx, &p, CardAction::Hide),
        "telephony.externalcall.finish" => calls::finish(&mut cx, &p),
        "telephony.externalcall.searchcrmentities" => calls::search_crm(&mut cx, &p),
        "user.get" => user_get(&mut cx, &p),
        "event.bind" => event_bind(&mut cx, &p),
        "event.get" => event_get(&mut cx),
        "app.info" => app_info(&mut cx),
        "upload" => records::upload(cx.st, &p, files),
        _ => Err(RestError::method_not_found()),
    }
}

/// 403 for app-only methods called by a webhook.
fn require_app(cx: &Cx) -> Result<(), RestError> {
    if cx.auth.is_webhook() {
        return Err(RestError::new(403, "ACCESS_DENIED", "Access denied! Application context required"));
    }
    Ok(())
}

/// A filter value for `ACTIVE` (`true`, `"Y"`, `1` ...).
fn active_filter(v: &Param) -> bool {
    match v {
        Param::Str(s) => matches!(s.to_ascii_lowercase().as_str(), "y" | "true" | "1"),
        other => other.php_truthy(),
    }
}

/// `user.get` with `FILTER` (or the legacy top-level filter): ID, ACTIVE, UF_PHONE_INNER,
/// NAME, LAST_NAME; 50 per page with `total` and `next`.
fn user_get(cx: &mut Cx, p: &Param) -> Result<MethodOk, RestError> {
    let filter = p.get("FILTER").cloned().unwrap_or_else(|| p.clone());
    let mut users: Vec<_> = cx.st.users.iter().collect();
    for (key, want) in filter.entries() {
        let key = key.trim_start_matches(['=', '@']).to_ascii_uppercase();
        match key.as_str() {
            "ID" => {
                let ids: Vec<i64> =
                    if want.is_array() { want.entries().into_iter().map(|(_, v)| v.php_int()).collect() } else { vec![want.php_int()] };
                users.retain(|u| ids.contains(&(u.id as i64)));
            }
            "ACTIVE" => {
                let a = active_filter(want);
                users.retain(|u| u.active == a);
            }
            "UF_PHONE_INNER" => {
                let s = want.php_string();
                users.retain(|u| u.uf_phone_inner.as_deref() == Some(s.as_str()));
            }
            "NAME" => users.retain(|u| u.name == want.php_string()),
            "LAST_NAME" => users.retain(|u| u.last_name == want.php_string()),
            _ => {}
        }
    }
    let total = users.len();
    let start = p.get("START").map_or(0, Param::php_int).max(0) as usize;
    let page: Vec<Value> = users
        .iter()
        .skip(start)
        .take(50)
        .map(|u| {
            json!({
                "ID": u.id.to_string(),
                "ACTIVE": u.active,
                "NAME": u.name,
                "LAST_NAME": u.last_name,
                "UF_PHONE_INNER": u.uf_phone_inner,
                "PERSONAL_MOBILE": u.personal_mobile.clone().unwrap_or_default(),
                "WORK_PHONE": "",
            })
        })
        .collect();
    Ok(MethodOk { result: Value::Array(page), total: Some(total as u64), next: (start + 50 < total).then_some((start + 50) as u64) })
}

/// `event.bind{event, handler[, auth_type]}` → `true` (application context only).
fn event_bind(cx: &mut Cx, p: &Param) -> Result<MethodOk, RestError> {
    require_app(cx)?;
    let event = p.get("EVENT").map(Param::php_string).unwrap_or_default().to_uppercase();
    if !KNOWN_EVENTS.contains(&event.as_str()) {
        return Err(RestError::new(400, "ERROR_EVENT_NOT_FOUND", "Event not found"));
    }
    let handler = p.get("HANDLER").map(Param::php_string).unwrap_or_default();
    if handler.is_empty() {
        return Err(RestError::new(400, "ERROR_ARGUMENT", "Argument 'handler' is null or empty"));
    }
    if cx.st.events.iter().any(|e| e.event == event && e.handler == handler) {
        return Err(RestError::core("Handler already binded"));
    }
    cx.st.next_handler_id += 1;
    let id = cx.st.next_handler_id;
    cx.st.events.push(BoundEvent { id, event, handler, auth_type: p.get("AUTH_TYPE").map_or(0, Param::php_int).max(0) as u64 });
    Ok(MethodOk::of(json!(true)))
}

/// `event.get` → `[{event, handler, auth_type, offline}]`.
fn event_get(cx: &mut Cx) -> Result<MethodOk, RestError> {
    require_app(cx)?;
    let list: Vec<Value> = cx
        .st
        .events
        .iter()
        .map(|e| json!({"event": e.event, "handler": e.handler, "auth_type": e.auth_type.to_string(), "offline": 0}))
        .collect();
    Ok(MethodOk::of(Value::Array(list)))
}

/// `app.info` for the local app.
fn app_info(cx: &mut Cx) -> Result<MethodOk, RestError> {
    require_app(cx)?;
    Ok(MethodOk::of(json!({
        "ID": calls::APP_ID,
        "CODE": cx.st.opts.client_id,
        "VERSION": 1,
        "STATUS": cx.st.opts.app_status,
        "INSTALLED": true,
        "PAYMENT_EXPIRED": "N",
        "DAYS": Value::Null,
        "LANGUAGE_ID": "en",
    })))
}
