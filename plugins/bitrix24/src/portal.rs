//! The portal's REST API as an OAuth application calls it: `POST {client_endpoint}{method}`
//! with a JSON body and the access token in `auth`; answers `{result, time}` or
//! `{error, error_description}`. Tokens are kept in the key-value store and renewed at the
//! OAuth server before they expire (and once more when the portal says `expired_token`).

use crate::settings::Settings;
use pbx_plugin_sdk::{HttpRequest, host};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the install callback gave, kept under [`AUTH_KEY`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Auth {
    /// Bearer of every REST call (lives an hour).
    pub access_token: String,
    /// Renews the pair (lives 180 days; each renewal gives a new one).
    pub refresh_token: String,
    /// When the access token expires, ms since the Unix epoch.
    pub expires_ms: i64,
    /// The portal's REST address, e.g. `https://acme.bitrix24.ru/rest/`.
    pub endpoint: String,
    /// The portal's domain.
    pub domain: String,
    /// The portal's id.
    pub member_id: String,
    /// The only proof that an event comes from this portal.
    pub application_token: String,
}

/// The key of the stored [`Auth`].
pub const AUTH_KEY: &str = "auth";
/// Renew this long before expiry.
const RENEW_AHEAD_MS: i64 = 5 * 60 * 1000;

/// Why a call to the portal did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum PortalError {
    /// No portal is connected.
    NotConnected,
    /// It may work later (unreachable, overloaded, over the rate limit, tokens refused):
    /// the event is tried again.
    Transient(String),
    /// The connection needs the company's attention (a host not granted, the application's
    /// keys missing or refused): the event is skipped with the error shown, not retried.
    Setup(String),
    /// The portal refused this request; trying again would not help.
    Refused {
        /// HTTP status.
        status: u16,
        /// `error`.
        code: String,
        /// `error_description`.
        description: String,
    },
}

impl std::fmt::Display for PortalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortalError::NotConnected => f.write_str("no Bitrix24 portal is connected"),
            PortalError::Transient(e) => write!(f, "the portal is unavailable: {e}"),
            PortalError::Setup(e) => write!(f, "the connection needs attention: {e}"),
            PortalError::Refused { status, code, description } => write!(f, "the portal refused ({status} {code}): {description}"),
        }
    }
}

/// The stored tokens, if a portal is connected.
pub fn auth() -> Option<Auth> {
    host::kv_get(AUTH_KEY).and_then(|s| serde_json::from_str(&s).ok())
}

/// Keeps the tokens.
pub fn save_auth(a: &Auth) {
    if let Ok(s) = serde_json::to_string(a) {
        host::kv_set(AUTH_KEY, &s);
    }
}

fn error_of(status: u16, body: &[u8]) -> PortalError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v["error"].as_str().unwrap_or("").to_string();
    let description = v["error_description"].as_str().unwrap_or("").to_string();
    let transient = status >= 500
        || status == 429
        || status == 401
        || matches!(
            code.as_str(),
            "QUERY_LIMIT_EXCEEDED" | "OVERLOAD_LIMIT" | "OPERATION_TIME_LIMIT" | "expired_token" | "NO_AUTH_FOUND" | "invalid_token"
        );
    if transient {
        PortalError::Transient(format!("{status} {code} {description}").trim().to_string())
    } else {
        PortalError::Refused { status, code, description }
    }
}

/// Renews the tokens at the OAuth server.
pub fn renew(settings: &Settings, now_ms: i64) -> Result<Auth, PortalError> {
    let mut a = auth().ok_or(PortalError::NotConnected)?;
    if settings.client_id.is_empty() || settings.client_secret.is_empty() {
        return Err(PortalError::Setup("the tokens expired and the application's client_id and client_secret are not set".into()));
    }
    let q = crate::settings::query(&[
        ("grant_type", "refresh_token"),
        ("client_id", &settings.client_id),
        ("client_secret", &settings.client_secret),
        ("refresh_token", &a.refresh_token),
    ]);
    let url = format!("{}/oauth/token/?{q}", settings.oauth_url.trim_end_matches('/'));
    let r = host::http(&HttpRequest { method: "GET".into(), url, headers: Vec::new(), body: Vec::new() }).map_err(transport)?;
    if r.status != 200 {
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let code = v["error"].as_str().unwrap_or("");
        // The application's keys or the refresh token refused: only a reconnection helps.
        if matches!(code, "invalid_grant" | "invalid_client" | "invalid_request" | "unauthorized_client") {
            return Err(PortalError::Setup(format!(
                "the OAuth server refused to renew the tokens ({code}): install the application again"
            )));
        }
        return Err(error_of(r.status.max(500), &r.body));
    }
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| PortalError::Transient(format!("the OAuth answer is not JSON: {e}")))?;
    let (Some(access), Some(refresh)) = (v["access_token"].as_str(), v["refresh_token"].as_str()) else {
        return Err(PortalError::Transient("the OAuth answer has no tokens".into()));
    };
    // Only the tokens change: an installation that came meanwhile keeps its portal.
    a = auth().unwrap_or(a);
    a.access_token = access.to_string();
    a.refresh_token = refresh.to_string();
    a.expires_ms = now_ms + v["expires_in"].as_i64().unwrap_or(3600) * 1000;
    if let Some(e) = v["client_endpoint"].as_str().filter(|e| !e.is_empty()) {
        a.endpoint = e.to_string();
    }
    save_auth(&a);
    Ok(a)
}

/// Calls a REST method; the `result` of the answer.
pub fn call(method: &str, params: Value, settings: &Settings, now_ms: i64) -> Result<Value, PortalError> {
    let mut a = auth().ok_or(PortalError::NotConnected)?;
    if a.expires_ms - now_ms < RENEW_AHEAD_MS && !settings.client_secret.is_empty() {
        // A token that is still good serves while the renewal fails.
        a = match renew(settings, now_ms) {
            Ok(a) => a,
            Err(_) if a.expires_ms > now_ms => a,
            Err(e) => return Err(e),
        };
    }
    match send(&a, method, &params) {
        Err(PortalError::Transient(e)) if e.contains("expired_token") => {
            let a = renew(settings, now_ms)?;
            send(&a, method, &params)
        }
        other => other,
    }
}

/// A request that got no answer: a host the company did not grant needs its attention;
/// anything else (unreachable, timed out) may work later.
fn transport(e: String) -> PortalError {
    if e.contains("not granted") { PortalError::Setup(format!("{e} (grant it on the plugins page)")) } else { PortalError::Transient(e) }
}

fn send(a: &Auth, method: &str, params: &Value) -> Result<Value, PortalError> {
    let mut body = params.clone();
    if let Some(o) = body.as_object_mut() {
        o.insert("auth".into(), json!(a.access_token));
    }
    let url = format!("{}/{method}.json", a.endpoint.trim_end_matches('/'));
    let req = HttpRequest {
        method: "POST".into(),
        url,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    };
    let r = host::http(&req).map_err(transport)?;
    if r.status != 200 {
        return Err(error_of(r.status, &r.body));
    }
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| PortalError::Transient(format!("the answer is not JSON: {e}")))?;
    if v.get("error").is_some() {
        return Err(error_of(400, &r.body));
    }
    Ok(v.get("result").cloned().unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sorted_into_retry_and_refused() {
        let limit = error_of(503, br#"{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}"#);
        assert!(matches!(limit, PortalError::Transient(_)));
        assert!(matches!(error_of(401, br#"{"error":"expired_token"}"#), PortalError::Transient(e) if e.contains("expired_token")));
        assert!(matches!(error_of(502, b"<html>bad gateway</html>"), PortalError::Transient(_)));
        let refused = error_of(400, br#"{"error":"","error_description":"Call is not found"}"#);
        assert_eq!(refused, PortalError::Refused { status: 400, code: String::new(), description: "Call is not found".into() });
    }
}
