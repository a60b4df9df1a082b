//! `telephony.externalLine.add/update/get/delete`: each caller (the app, or
//! webhooks) sees and changes only its own lines.

use super::Cx;
use crate::envelope::{MethodOk, RestError};
use crate::params::Param;
use crate::state::Line;
use serde_json::{Value, json};

/// `telephony.externalLine.add` → `{ID}`.
pub(crate) fn add(cx: &mut Cx, p: &Param) -> Result<MethodOk, RestError> {
    let number = p.get("NUMBER").map(Param::php_string).unwrap_or_default().trim().to_string();
    if number.is_empty() {
        return Err(RestError::core("NUMBER should not be empty"));
    }
    let owner = cx.auth.owner;
    if cx.st.lines.iter().any(|l| l.owner == owner && l.number == number) {
        return Err(RestError::core("Line already exists"));
    }
    let crm = match p.get("CRM_AUTO_CREATE") {
        Some(v) if v.php_string() != "Y" => "N",
        _ => "Y",
    };
    let id = cx.st.next_line_id;
    cx.st.next_line_id += 1;
    cx.st.lines.push(Line {
        id,
        number,
        name: p.get("NAME").map(Param::php_string).unwrap_or_default(),
        crm_auto_create: crm.to_string(),
        owner,
        auto_created: false,
    });
    Ok(MethodOk::of(json!({"ID": id})))
}

/// `telephony.externalLine.update` → `{ID}` (a string, as the portal's update result gives it).
pub(crate) fn update(cx: &mut Cx, p: &Param) -> Result<MethodOk, RestError> {
    let name = p.get("NAME").map(Param::php_string);
    let crm = p.get("CRM_AUTO_CREATE").map(|v| if v.php_string() == "Y" { "Y" } else { "N" });
    if name.is_none() && crm.is_none() {
        return Err(RestError::core("There are no fields to update"));
    }
    let line = find(cx, p)?;
    if let Some(name) = name {
        line.name = name;
    }
    if let Some(crm) = crm {
        line.crm_auto_create = crm.to_string();
    }
    Ok(MethodOk::of(json!({"ID": line.id.to_string()})))
}

/// `telephony.externalLine.delete` → `[]`.
pub(crate) fn delete(cx: &mut Cx, p: &Param) -> Result<MethodOk, RestError> {
    let id = find(cx, p)?.id;
    cx.st.lines.retain(|l| l.id != id);
    Ok(MethodOk::of(json!([])))
}

/// `telephony.externalLine.get` → `[{NUMBER, NAME, CRM_AUTO_CREATE}]`.
pub(crate) fn get(cx: &mut Cx, _p: &Param) -> Result<MethodOk, RestError> {
    let owner = cx.auth.owner;
    let lines: Vec<Value> = cx
        .st
        .lines
        .iter()
        .filter(|l| l.owner == owner)
        .map(|l| json!({"NUMBER": l.number, "NAME": l.name, "CRM_AUTO_CREATE": l.crm_auto_create}))
        .collect();
    Ok(MethodOk::of(Value::Array(lines)))
}

/// The caller's line named by `NUMBER`, or the documented errors.
fn find<'a>(cx: &'a mut Cx, p: &Param) -> Result<&'a mut Line, RestError> {
    let number = p.get("NUMBER").map(Param::php_string).unwrap_or_default().trim().to_string();
    if number.is_empty() {
        return Err(RestError::core("NUMBER should not be empty"));
    }
    let owner = cx.auth.owner;
    cx.st
        .lines
        .iter_mut()
        .find(|l| l.owner == owner && l.number == number)
        .ok_or_else(|| RestError::core(format!("Could not find line with number {number}")))
}
