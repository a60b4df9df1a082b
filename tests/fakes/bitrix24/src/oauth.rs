//! The OAuth server's `/oauth/token/` (`grant_type=refresh_token`): every refresh
//! returns a new pair and retires the refresh token it used. It stays up while
//! the portal is "down": in real life it is a different host.

use crate::form;
use crate::params::Param;
use crate::server::{Shared, json_response};
use axum::response::Response;
use serde_json::json;

/// An OAuth error answer.
fn oauth_error(status: u16, code: &str, description: &str) -> Response {
    json_response(status, &json!({"error": code, "error_description": description}))
}

/// Handles `GET /oauth/token/?grant_type=refresh_token&client_id&client_secret&refresh_token`
/// (a form POST is read the same way).
pub(crate) fn token(shared: &Shared, query: &str, body: &[u8]) -> Response {
    let mut p = form::decode(query);
    p.merge_over(form::decode(&String::from_utf8_lossy(body)));
    let get = |k: &str| p.get(k).map(Param::php_string).unwrap_or_default();
    let mut st = shared.lock();
    if get("grant_type") != "refresh_token" {
        return oauth_error(400, "invalid_request", "grant_type must be refresh_token on this server");
    }
    if get("client_id") != st.opts.client_id || get("client_secret") != st.opts.client_secret {
        return oauth_error(401, "invalid_client", "Invalid client credentials");
    }
    let refresh = get("refresh_token");
    let now = st.now();
    match st.refresh_tokens.remove(&refresh) {
        Some(expires_at) if now < expires_at => {}
        _ => return oauth_error(400, "invalid_grant", "Invalid refresh token"),
    }
    let user_id = st.opts.token_user_id;
    let (access, new_refresh) = st.issue_tokens(user_id, true);
    let lifetime = st.opts.access_token_lifetime.as_secs();
    let endpoint = format!("{}/rest/", shared.base_url);
    json_response(
        200,
        &json!({
            "access_token": access,
            "refresh_token": new_refresh,
            "expires": now.floor() as u64 + lifetime,
            "expires_in": lifetime,
            "client_endpoint": endpoint,
            "server_endpoint": endpoint,
            "domain": st.opts.oauth_server_domain,
            "member_id": st.opts.member_id,
            "scope": st.opts.scope,
            "status": st.opts.app_status,
            "user_id": user_id,
        }),
    )
}
