//! What the portal posts to the app: the installation callback and bound events,
//! form-encoded with nested keys and string values, sent once and never retried.

use crate::client;
use crate::form;
use crate::methods::calls::{RegisterInput, register_core};
use crate::options::CrmEntityType;
use crate::params::Param;
use crate::server::Shared;
use crate::state::{Delivery, Owner, State, digits};
use serde_json::Value;

/// A click on a phone number in the CRM (`ONEXTERNALCALLSTART`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClickToCall {
    /// The user who clicked (`USER_ID`).
    pub user_id: u64,
    /// The number clicked (`PHONE_NUMBER`).
    pub phone: String,
    /// The app's line chosen for the call (`LINE_NUMBER`).
    pub line: String,
    /// The CRM record the click came from.
    pub crm_entity: Option<(CrmEntityType, u64)>,
    /// `CALL_LIST_ID` (0 when not from a call list).
    pub call_list_id: u64,
    /// `IS_MOBILE`: the click came from the mobile app.
    pub is_mobile: bool,
    /// Whether `auth[access_token]` is sent (it is missing e.g. for automation rules).
    pub with_access_token: bool,
}

impl ClickToCall {
    /// A desktop click with an access token and no CRM record.
    pub fn new(user_id: u64, phone: &str, line: &str) -> Self {
        ClickToCall {
            user_id,
            phone: phone.to_string(),
            line: line.to_string(),
            crm_entity: None,
            call_list_id: 0,
            is_mobile: false,
            with_access_token: true,
        }
    }
}

/// A website callback form whose line is the app's (`ONEXTERNALCALLBACKSTART`).
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    /// The number to call back.
    pub phone: String,
    /// The text to speak to the employee before connecting.
    pub text: String,
    /// TTS voice id.
    pub voice: String,
    /// The app's line (`LINE_NUMBER`).
    pub line: String,
    /// The CRM record the form created or found.
    pub crm_entity: Option<(CrmEntityType, u64)>,
    /// Whether `auth[access_token]` is sent.
    pub with_access_token: bool,
}

impl Callback {
    /// A callback request with the default voice and an access token.
    pub fn new(phone: &str, text: &str, line: &str) -> Self {
        Callback {
            phone: phone.to_string(),
            text: text.to_string(),
            voice: "ruinternalfemale".to_string(),
            line: line.to_string(),
            crm_entity: None,
            with_access_token: true,
        }
    }
}

/// The `auth[...]` pairs of an event; a fresh token pair is minted when it carries one.
fn auth_pairs(st: &mut State, base: &str, with_access_token: bool) -> Vec<(String, String)> {
    let endpoint = format!("{base}/rest/");
    let mut out = Vec::new();
    let mut push = |k: &str, v: String| out.push((format!("auth[{k}]"), v));
    let refresh = if with_access_token {
        let (access, refresh) = st.issue_tokens(st.opts.token_user_id, false);
        push("access_token", access);
        push("expires_in", st.opts.access_token_lifetime.as_secs().to_string());
        Some(refresh)
    } else {
        None
    };
    push("scope", st.opts.scope.clone());
    push("domain", st.opts.domain.clone());
    push("server_endpoint", endpoint.clone());
    push("status", st.opts.app_status.clone());
    push("client_endpoint", endpoint);
    push("member_id", st.opts.member_id.clone());
    if let Some(refresh) = refresh {
        push("refresh_token", refresh);
    }
    push("application_token", st.opts.application_token.clone());
    out
}

/// POSTs a form once and logs the delivery.
async fn post_once(shared: &Shared, event: &str, url: &str, form_pairs: Vec<(String, String)>) -> Result<u16, String> {
    let outcome = client::post_form(url, &form::encode(&form_pairs)).await;
    let (status, error) = match &outcome {
        Ok(r) => (Some(r.status), None),
        Err(e) => (None, Some(e.clone())),
    };
    shared.lock().deliveries.push(Delivery { event: event.to_string(), url: url.to_string(), form: form_pairs, status, error });
    outcome.map(|r| r.status)
}

/// Sends `event` with `data` to every handler bound for it; returns the first handler's status.
pub(crate) async fn deliver(shared: &Shared, event: &str, data: &Param, with_access_token: bool) -> Result<u16, String> {
    let event = event.to_uppercase();
    let posts: Vec<(String, Vec<(String, String)>)> = {
        let mut st = shared.lock();
        let handlers: Vec<_> = st.events.iter().filter(|e| e.event == event).map(|e| (e.id, e.handler.clone())).collect();
        if handlers.is_empty() {
            return Err(format!("no handler is bound for {event}"));
        }
        let ts = (st.now().floor() as i64).to_string();
        handlers
            .into_iter()
            .map(|(id, url)| {
                let mut pairs = vec![("event".to_string(), event.clone()), ("event_handler_id".to_string(), id.to_string())];
                form::flatten("data", data, &mut pairs);
                pairs.push(("ts".to_string(), ts.clone()));
                pairs.extend(auth_pairs(&mut st, &shared.base_url, with_access_token));
                (url, pairs)
            })
            .collect()
    };
    let mut first = None;
    for (url, pairs) in posts {
        let r = post_once(shared, &event, &url, pairs).await;
        first.get_or_insert(r);
    }
    first.unwrap_or_else(|| Err("no delivery".to_string()))
}

/// The installation callback: a fresh token pair to the app's installation path.
/// Installing removes bound handlers, so the app must bind again.
pub(crate) async fn install(shared: &Shared, url: &str) -> Result<u16, String> {
    let pairs = {
        let mut st = shared.lock();
        st.events.clear();
        let user = st.opts.token_user_id;
        let (access, refresh) = st.issue_tokens(user, true);
        let endpoint = format!("{}/rest/", shared.base_url);
        let lifetime = st.opts.access_token_lifetime.as_secs();
        let now = st.now().floor() as u64;
        let pair = |k: &str, v: String| (k.to_string(), v);
        vec![
            pair("event", "ONAPPINSTALL".to_string()),
            pair("data[VERSION]", "1".to_string()),
            pair("data[ACTIVE]", "Y".to_string()),
            pair("data[INSTALLED]", "Y".to_string()),
            pair("data[LANGUAGE_ID]", "en".to_string()),
            pair("ts", now.to_string()),
            pair("auth[access_token]", access),
            pair("auth[expires]", (now + lifetime).to_string()),
            pair("auth[expires_in]", lifetime.to_string()),
            pair("auth[scope]", st.opts.scope.clone()),
            pair("auth[domain]", st.opts.domain.clone()),
            pair("auth[server_endpoint]", endpoint.clone()),
            pair("auth[status]", st.opts.app_status.clone()),
            pair("auth[client_endpoint]", endpoint),
            pair("auth[member_id]", st.opts.member_id.clone()),
            pair("auth[user_id]", user.to_string()),
            pair("auth[refresh_token]", refresh),
            pair("auth[application_token]", st.opts.application_token.clone()),
        ]
    };
    post_once(shared, "ONAPPINSTALL", url, pairs).await
}

/// Puts `value` under `key` unless it is null (as `http_build_query` skips nulls).
fn put(data: &mut Param, key: &str, value: &Value) {
    let p = Param::from_json(value);
    if !matches!(p, Param::Null) {
        data.set(key, p);
    }
}

/// Pre-registers the call as the portal does (TYPE=1, CRM_CREATE from the line, no
/// EXTERNAL_CALL_ID), then sends `ONEXTERNALCALLSTART` with its CALL_ID.
pub(crate) async fn click_to_call(shared: &Shared, c: &ClickToCall) -> Result<(u16, String), String> {
    let data = {
        let mut st = shared.lock();
        let crm_create = st.lines.iter().find(|l| l.owner == Owner::App && l.number == c.line).is_none_or(|l| l.crm_auto_create == "Y");
        let registered = register_core(
            &mut st,
            RegisterInput {
                user_id: c.user_id,
                phone: c.phone.clone(),
                line_number: Some(c.line.clone()),
                external_call_id: None,
                call_type: 1,
                start_date: None,
                crm_create,
                crm_entity: c.crm_entity.map(|(t, id)| (t.as_str().to_string(), id)),
                show: false,
                owner: Owner::App,
                pre_registered: true,
            },
        )
        .map_err(|e| e.description)?;
        let call_id = registered["CALL_ID"].as_str().unwrap_or_default().to_string();
        if let Some(call) = st.calls.iter_mut().find(|x| x.call_id == call_id) {
            call.pre_registered = true;
        }
        let mut data = Param::empty();
        data.set("PHONE_NUMBER", Param::Str(c.phone.clone()));
        data.set("PHONE_NUMBER_INTERNATIONAL", Param::Str(format!("+{}", digits(&c.phone))));
        data.set("EXTENSION", Param::Str(String::new()));
        data.set("USER_ID", Param::Str(c.user_id.to_string()));
        data.set("CALL_LIST_ID", Param::Str(c.call_list_id.to_string()));
        data.set("LINE_NUMBER", Param::Str(c.line.clone()));
        data.set("IS_MOBILE", Param::Bool(c.is_mobile));
        data.set("CALL_ID", Param::Str(call_id.clone()));
        for key in ["CRM_ENTITY_TYPE", "CRM_ENTITY_ID", "CRM_CREATED_LEAD", "CRM_CREATED_ENTITIES"] {
            put(&mut data, key, &registered[key]);
        }
        (data, call_id)
    };
    let status = deliver(shared, "ONEXTERNALCALLSTART", &data.0, c.with_access_token).await?;
    Ok((status, data.1))
}

/// Sends `ONEXTERNALCALLBACKSTART` (the app registers the TYPE=4 call itself).
pub(crate) async fn callback(shared: &Shared, c: &Callback) -> Result<u16, String> {
    let mut data = Param::empty();
    data.set("PHONE_NUMBER", Param::Str(c.phone.clone()));
    data.set("TEXT", Param::Str(c.text.clone()));
    data.set("VOICE", Param::Str(c.voice.clone()));
    if let Some((t, id)) = c.crm_entity {
        data.set("CRM_ENTITY_TYPE", Param::Str(t.as_str().to_string()));
        data.set("CRM_ENTITY_ID", Param::Str(id.to_string()));
    }
    data.set("LINE_NUMBER", Param::Str(c.line.clone()));
    deliver(shared, "ONEXTERNALCALLBACKSTART", &data, c.with_access_token).await
}
