//! Extension ↔ portal user, by the user's internal phone (`UF_PHONE_INNER`), as `user.get`
//! finds it; cached in the key-value store (a miss is remembered for ten minutes, so an
//! extension without a portal user costs one lookup per ten minutes, not one per event).

use crate::portal::{self, PortalError};
use crate::settings::Settings;
use pbx_plugin_sdk::host;
use serde_json::{Value, json};

/// How long a cached answer holds.
const FRESH_MS: i64 = 10 * 60 * 1000;

fn cached(key: &str, now_ms: i64) -> Option<String> {
    let v = host::kv_get(key)?;
    let (at, value) = v.split_once('|')?;
    let at: i64 = at.parse().ok()?;
    if now_ms - at < FRESH_MS { Some(value.to_string()) } else { None }
}

fn remember(key: &str, value: &str, now_ms: i64) {
    host::kv_set(key, &format!("{now_ms}|{value}"));
}

/// The portal user of an extension (`None`: the extension has no active portal user).
pub fn user_of(ext: &str, settings: &Settings, now_ms: i64) -> Result<Option<String>, PortalError> {
    if ext.is_empty() || ext.len() > 16 {
        return Ok(None);
    }
    let key = format!("u:{ext}");
    if let Some(id) = cached(&key, now_ms) {
        return Ok(if id.is_empty() { None } else { Some(id) });
    }
    let found = portal::call("user.get", json!({"FILTER": {"UF_PHONE_INNER": ext, "ACTIVE": true}}), settings, now_ms)?;
    let id = found.as_array().and_then(|a| a.first()).map(|u| scalar(&u["ID"])).unwrap_or_default();
    remember(&key, &id, now_ms);
    if !id.is_empty() {
        remember(&format!("x:{id}"), ext, now_ms);
    }
    Ok(if id.is_empty() { None } else { Some(id) })
}

/// The extension of a portal user (`None`: the user has no internal phone here).
pub fn ext_of(user_id: &str, settings: &Settings, now_ms: i64) -> Result<Option<String>, PortalError> {
    if user_id.is_empty() || user_id.len() > 16 {
        return Ok(None);
    }
    let key = format!("x:{user_id}");
    if let Some(ext) = cached(&key, now_ms) {
        return Ok(if ext.is_empty() { None } else { Some(ext) });
    }
    let found = portal::call("user.get", json!({"ID": user_id}), settings, now_ms)?;
    let ext = found.as_array().and_then(|a| a.first()).map(|u| scalar(&u["UF_PHONE_INNER"])).unwrap_or_default();
    remember(&key, &ext, now_ms);
    if !ext.is_empty() {
        remember(&format!("u:{ext}"), user_id, now_ms);
    }
    Ok(if ext.is_empty() { None } else { Some(ext) })
}

/// The user map for the status page: extension → user, as cached.
pub fn known(exts: &[String], now_ms: i64) -> Vec<(String, String)> {
    exts.iter().filter_map(|e| cached(&format!("u:{e}"), now_ms).filter(|u| !u.is_empty()).map(|u| (e.clone(), u))).collect()
}

/// A JSON value the portal may send as a number or a string, as text.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}
