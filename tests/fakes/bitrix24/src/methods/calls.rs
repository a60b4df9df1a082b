//! `telephony.externalCall.register/show/hide/finish/searchCrmEntities`, in the
//! order of checks and with the texts of the portal's REST layer and helper.

use super::Cx;
use crate::envelope::{MethodOk, RestError, php_number};
use crate::options::CrmEntityType;
use crate::params::{Param, numeric_string};
use crate::state::{CardAction, CardChange, ExternalCall, FinishRecord, Line, Owner, State, digits, hex};
use crate::timefmt::parse_iso;
use md5::{Digest, Md5};
use serde_json::{Value, json};

/// The app's `REST_APP_ID` (the portal's table id of the one local app).
pub(crate) const APP_ID: u64 = 1;

/// What `register` needs once the REST layer has validated the request.
#[derive(Debug, Clone)]
pub(crate) struct RegisterInput {
    pub user_id: u64,
    pub phone: String,
    pub line_number: Option<String>,
    pub external_call_id: Option<String>,
    pub call_type: u8,
    pub start_date: Option<i64>,
    pub crm_create: bool,
    pub crm_entity: Option<(String, u64)>,
    pub show: bool,
    pub owner: Owner,
    pub pre_registered: bool,
}

/// Keeps what the portal's `stripLetters` keeps: digits, `#`, `*`, `,`, `;`.
pub(crate) fn strip_letters(phone: &str) -> String {
    phone.chars().filter(|c| c.is_ascii_digit() || matches!(c, '#' | '*' | ',' | ';')).collect()
}

/// Resolves `USER_ID`, falling back to `USER_PHONE_INNER` (an active user's extension).
fn resolve_user(st: &State, p: &Param) -> Result<u64, RestError> {
    let by_id = p.get("USER_ID").map_or(0, Param::php_int);
    if by_id > 0 {
        return Ok(by_id as u64);
    }
    p.get("USER_PHONE_INNER")
        .and_then(|inner| st.user_by_inner(&inner.php_string()))
        .ok_or_else(|| RestError::core("USER_ID or USER_PHONE_INNER should be set"))
}

/// `TYPE` compared loosely against 1..=5, as PHP's `in_array` does.
fn call_type(p: &Param) -> Option<u8> {
    let f = match p.get("TYPE")? {
        Param::Num(n) => n.as_f64()?,
        Param::Str(s) => numeric_string(s)?,
        Param::Bool(true) => 1.0,
        _ => return None,
    };
    (f.fract() == 0.0 && (1.0..=5.0).contains(&f)).then_some(f as u8)
}

/// `telephony.externalCall.register`.
pub(crate) fn register(cx: &mut Cx, p: &Param) -> Result<MethodOk, RestError> {
    let user_id = resolve_user(cx.st, p)?;
    let call_type = call_type(p).ok_or_else(|| RestError::core("Unknown TYPE"))?;
    let start_date = match p.get("CALL_START_DATE").map(Param::php_string) {
        Some(s) if !s.is_empty() => Some(parse_iso(&s).ok_or_else(|| RestError::core("CALL_START_DATE should be in the ISO-8601 format"))?),
        _ => None,
    };
    let crm_entity = match (p.get("CRM_ENTITY_TYPE"), p.get("CRM_ENTITY_ID")) {
        (Some(t), Some(id)) => Some((t.php_string(), id.php_int().max(0) as u64)),
        _ => None,
    };
    let input = RegisterInput {
        user_id,
        phone: p.get("PHONE_NUMBER").map(Param::php_string).unwrap_or_default(),
        line_number: p.get("LINE_NUMBER").map(Param::php_string),
        external_call_id: p.get("EXTERNAL_CALL_ID").map(Param::php_string),
        call_type,
        start_date,
        crm_create: p.get("CRM").is_some_and(Param::php_truthy) || p.get("CRM_CREATE").is_some_and(Param::php_truthy),
        crm_entity,
        show: p.get("SHOW").is_none_or(Param::php_truthy),
        owner: cx.auth.owner,
        pre_registered: false,
    };
    register_core(cx.st, input).map(MethodOk::of)
}

/// The portal's `registerExternalCall`: line auto-create, internal-call detection,
/// the 30-minute dedup, CRM lookup and lead creation.
pub(crate) fn register_core(st: &mut State, input: RegisterInput) -> Result<Value, RestError> {
    let phone = strip_letters(&input.phone);
    if phone.is_empty() {
        return Err(RestError::core("Unsupported phone number format"));
    }
    if !st.user(input.user_id).is_some_and(|u| u.active) {
        return Err(RestError::core("User is not found or is not active"));
    }
    let line_number = input.line_number.as_deref().map(str::trim).filter(|l| !l.is_empty()).map(|l| l.chars().take(50).collect::<String>());
    if let Some(number) = &line_number
        && !st.lines.iter().any(|l| l.owner == input.owner && l.number == *number)
    {
        let id = st.next_line_id;
        st.next_line_id += 1;
        st.lines.push(Line {
            id,
            number: number.clone(),
            name: String::new(),
            crm_auto_create: "Y".to_string(),
            owner: input.owner,
            auto_created: true,
        });
    }
    let portal_user = st.users.iter().find(|u| u.active && u.uf_phone_inner.as_deref() == Some(phone.as_str())).map(|u| u.id);
    let now = st.now();
    let duplicate = st.calls.iter_mut().find(|c| {
        c.finish.is_none()
            && c.user_id == input.user_id
            && c.phone_number == phone
            && c.call_type == input.call_type
            && c.owner == input.owner
            && (c.call_start_date as f64) > now - 1800.0
            && (line_number.is_none() || c.line_number == line_number)
            && (input.external_call_id.is_none() || c.external_call_id == input.external_call_id)
    });
    if let Some(call) = duplicate {
        call.register_count += 1;
        if input.show {
            let user = call.user_id;
            card(call, CardAction::Show, vec![user], now);
        }
        return Ok(json!({
            "CALL_ID": call.call_id,
            "CRM_CREATED_LEAD": call.created_lead,
            "CRM_CREATED_ENTITIES": created_entities(call),
            "CRM_ENTITY_TYPE": call.crm_entity.as_ref().map(|e| e.0.clone()),
            "CRM_ENTITY_ID": call.crm_entity.as_ref().map(|e| e.1).filter(|id| *id > 0),
        }));
    }

    let mut h = Md5::new();
    h.update(format!("{:?}{}{}{}{}", input.owner, input.user_id, phone, now, st.random_hex("call")));
    let call_id = format!("externalCall.{}.{}", hex(&h.finalize()), now.floor() as i64);
    let internal = portal_user.is_some();
    let mut crm_entity = input.crm_entity.clone();
    if crm_entity.is_none() && !internal {
        crm_entity = find_crm(st, &phone).map(|(t, id)| (t.as_str().to_string(), id));
    }
    let mut created_lead = None;
    let mut lead_error = None;
    if input.crm_create && !internal && crm_entity.is_none() {
        if let Some(err) = &st.opts.lead_creation_error {
            lead_error = Some(err.clone());
        } else {
            let id = st.next_lead_id;
            st.next_lead_id += 1;
            st.crm.push(crate::options::CrmEntity::new(CrmEntityType::Lead, id, &phone, &phone, input.user_id));
            created_lead = Some(id);
            crm_entity = Some(("LEAD".to_string(), id));
        }
    }
    let mut call = ExternalCall {
        call_id: call_id.clone(),
        external_call_id: input.external_call_id.clone(),
        user_id: input.user_id,
        phone_number: phone,
        call_type: input.call_type,
        line_number,
        call_start_date: input.start_date.unwrap_or(now.floor() as i64),
        show: input.show,
        crm_create: input.crm_create,
        crm_entity,
        created_lead,
        internal,
        portal_user_id: portal_user,
        owner: input.owner,
        pre_registered: input.pre_registered,
        register_count: 1,
        shown_to: Default::default(),
        card_history: Vec::new(),
        finish: None,
        records: Vec::new(),
    };
    if input.show {
        card(&mut call, CardAction::Show, vec![input.user_id], now);
    }
    let mut result = json!({
        "CALL_ID": call_id,
        "CRM_CREATED_LEAD": call.created_lead,
        "CRM_CREATED_ENTITIES": created_entities(&call),
        "CRM_ENTITY_TYPE": call.crm_entity.as_ref().map(|e| e.0.clone()).unwrap_or_default(),
        "CRM_ENTITY_ID": call.crm_entity.as_ref().map(|e| e.1).filter(|id| *id > 0),
    });
    if let (Some(err), Value::Object(m)) = (lead_error, &mut result) {
        m.insert("LEAD_CREATION_ERROR".to_string(), json!(err));
    }
    st.calls.push(call);
    Ok(result)
}

/// `CRM_CREATED_ENTITIES` of a call.
fn created_entities(call: &ExternalCall) -> Value {
    match call.created_lead {
        Some(id) => json!([{"ENTITY_TYPE": "LEAD", "ENTITY_ID": id}]),
        None => json!([]),
    }
}

/// The CRM record the portal links a number to (contact, then company, then lead).
fn find_crm(st: &State, phone: &str) -> Option<(CrmEntityType, u64)> {
    let wanted = digits(phone);
    if wanted.is_empty() {
        return None;
    }
    [CrmEntityType::Contact, CrmEntityType::Company, CrmEntityType::Lead]
        .into_iter()
        .find_map(|t| st.crm.iter().find(|e| e.entity_type == t && e.phones.iter().any(|ph| digits(ph) == wanted)).map(|e| (t, e.id)))
}

/// Records a show or hide and updates who sees the card.
pub(crate) fn card(call: &mut ExternalCall, action: CardAction, users: Vec<u64>, at: f64) {
    for u in &users {
        match action {
            CardAction::Show => call.shown_to.insert(*u),
            CardAction::Hide => call.shown_to.remove(u),
        };
    }
    let shown_after = call.shown_to.iter().copied().collect();
    call.card_history.push(CardChange { at, action, users, shown_after });
}

/// `USER_ID` of show/hide: an int, an array of ints, or the registering user.
fn card_users(p: &Param, default: u64) -> Vec<u64> {
    match p.get("USER_ID") {
        Some(v) if v.is_array() => v.entries().into_iter().map(|(_, u)| u.php_int().max(0) as u64).collect(),
        Some(v) => vec![v.php_int().max(0) as u64],
        None => vec![default],
    }
}

/// `telephony.externalCall.show` / `.hide`: `true`, or `false` for an unknown or finished call.
pub(crate) fn show_hide(cx: &mut Cx, p: &Param, action: CardAction) -> Result<MethodOk, RestError> {
    let call_id = p.get("CALL_ID").map(Param::php_string).unwrap_or_default();
    let now = cx.st.now();
    let Some(call) = cx.st.active_call_mut(&call_id) else {
        return Ok(MethodOk::of(json!(false)));
    };
    let users = card_users(p, call.user_id);
    card(call, action, users, now);
    Ok(MethodOk::of(json!(true)))
}

/// `telephony.externalCall.finish`.
pub(crate) fn finish(cx: &mut Cx, p: &Param) -> Result<MethodOk, RestError> {
    let user_id = resolve_user(cx.st, p)?;
    let call_id = match p.get("CALL_ID") {
        Some(Param::Str(s)) => s.clone(),
        _ => {
            return Err(RestError::new(400, "INVALID_ARGUMENT", "CALL_ID must be a string"));
        }
    };
    if cx.st.active_call_mut(&call_id).is_none() {
        return Err(RestError::core("Call is not found (call should be registered prior to finishing"));
    }
    if !cx.st.user(user_id).is_some_and(|u| u.active) {
        return Err(RestError::core("User is not found or is not active"));
    }
    let now = cx.st.now();
    let duration = p.get("DURATION").map_or(0, Param::php_int);
    let status_param = p.get("STATUS_CODE").map(Param::php_string).unwrap_or_default();
    let status_code = if Param::Str(status_param.clone()).php_truthy() {
        status_param
    } else if duration > 0 {
        "200".to_string()
    } else {
        "304".to_string()
    };
    let cost = p.get("COST").map_or(0.0, Param::php_float);
    let cost_currency = p.get("COST_CURRENCY").map(Param::php_string).unwrap_or_default();
    let vote = p.get("VOTE").map_or(0, Param::php_int);
    let failed_reason = p.get("FAILED_REASON").map(Param::php_string).unwrap_or_default();
    let add_to_chat = p.get("ADD_TO_CHAT").is_none_or(Param::php_truthy);
    let record_url = p.get("RECORD_URL").map(Param::php_string).filter(|u| !u.is_empty());
    let stat_id = cx.st.next_stat_id;
    cx.st.next_stat_id += 1;
    let app_name = cx.st.opts.app_name.clone();
    let has_entity = cx.st.active_call_mut(&call_id).is_some_and(|c| c.crm_entity.is_some());
    let activity = has_entity.then(|| {
        cx.st.next_activity_id += 1;
        cx.st.next_activity_id
    });
    let Some(call) = cx.st.active_call_mut(&call_id) else {
        return Err(RestError::core("Unexpected database error"));
    };
    card(call, CardAction::Hide, vec![user_id], now);
    let (rest_app_id, rest_app_name) = match call.owner {
        Owner::App => (json!(APP_ID.to_string()), json!(app_name)),
        Owner::Webhook => (Value::Null, json!(false)),
    };
    let portal_number = call.line_number.clone().unwrap_or_else(|| match call.owner {
        Owner::App => format!("REST_APP:{APP_ID}"),
        Owner::Webhook => "REST_APP:".to_string(),
    });
    let mut response = json!({
        "ID": stat_id,
        "CALL_ID": call.call_id,
        "EXTERNAL_CALL_ID": call.external_call_id,
        "PORTAL_USER_ID": user_id,
        "PHONE_NUMBER": call.phone_number,
        "PORTAL_NUMBER": portal_number,
        "INCOMING": call.call_type.to_string(),
        "CALL_DURATION": duration,
        "CALL_START_DATE": {},
        "CALL_STATUS": u8::from(duration > 0),
        "CALL_VOTE": vote,
        "COST": php_number(cost),
        "COST_CURRENCY": cost_currency,
        "CALL_FAILED_CODE": status_code,
        "CALL_FAILED_REASON": failed_reason,
        "REST_APP_ID": rest_app_id,
        "REST_APP_NAME": rest_app_name,
        "CRM_ACTIVITY_ID": activity,
        "COMMENT": Value::Null,
    });
    if let (Some((t, id)), Value::Object(m)) = (&call.crm_entity, &mut response)
        && *id > 0
    {
        m.insert("CRM_ENTITY_TYPE".to_string(), json!(t));
        m.insert("CRM_ENTITY_ID".to_string(), json!(id));
    }
    call.finish = Some(FinishRecord {
        id: stat_id,
        user_id,
        duration,
        status_code,
        call_status: u8::from(duration > 0),
        cost,
        cost_currency,
        vote,
        failed_reason,
        add_to_chat,
        record_url,
        at: now,
        response: response.clone(),
    });
    let created_lead = call.created_lead;
    if let Some(lead) = created_lead
        && let Some(e) = cx.st.crm.iter_mut().find(|e| e.entity_type == CrmEntityType::Lead && e.id == lead)
    {
        e.assigned_by_id = user_id;
    }
    Ok(MethodOk::of(response))
}

/// `telephony.externalCall.searchCrmEntities`: contacts, then leads, then companies.
pub(crate) fn search_crm(cx: &mut Cx, p: &Param) -> Result<MethodOk, RestError> {
    let phone = p.get("PHONE_NUMBER").map(Param::php_string).unwrap_or_default();
    if phone.is_empty() {
        return Err(RestError::core("PHONE_NUMBER is empty"));
    }
    if !cx.st.opts.crm_installed {
        return Err(RestError::core("CRM is not installed."));
    }
    let wanted = digits(&phone);
    let mut out = Vec::new();
    for t in [CrmEntityType::Contact, CrmEntityType::Lead, CrmEntityType::Company] {
        for e in cx.st.crm.iter().filter(|e| e.entity_type == t && !wanted.is_empty() && e.phones.iter().any(|ph| digits(ph) == wanted)) {
            let user = cx.st.user(e.assigned_by_id);
            out.push(json!({
                "CRM_ENTITY_TYPE": t.as_str(),
                "CRM_ENTITY_ID": e.id,
                "ASSIGNED_BY_ID": e.assigned_by_id,
                "NAME": e.name,
                "ASSIGNED_BY": {
                    "ID": user.map(|u| u.id.to_string()),
                    "TIMEMAN_STATUS": user.map(|_| "NOT_INSTALLED"),
                    "USER_PHONE_INNER": user.and_then(|u| u.uf_phone_inner.clone()),
                    "WORK_PHONE": Value::Null,
                    "PERSONAL_PHONE": Value::Null,
                    "PERSONAL_MOBILE": user.and_then(|u| u.personal_mobile.clone()),
                },
            }));
        }
    }
    Ok(MethodOk::of(Value::Array(out)))
}
