//! Who is calling the API: a session cookie (set at login; state changes must carry the
//! session's CSRF token in `X-CSRF-Token`) or an API token (`Authorization: Bearer`, no CSRF:
//! a browser never adds it by itself). Login, logout, "who am I" and password change.

use super::WebState;
use super::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pbx_store::{LoginError, Principal, now_ms};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The session cookie's name.
pub const COOKIE: &str = "pbx_session";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone (login, the API description).
    Public,
    /// Any signed-in account.
    Signed,
    /// A tenant's user or supervisor (acts on their own things).
    User,
    /// A tenant's supervisor (acts on the whole tenant).
    Supervisor,
    /// The hosting operator.
    Operator,
}

/// The signed-in caller of a request, put in its extensions by [`guard`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The session's CSRF token (none for API tokens).
    pub csrf: Option<String>,
}

impl Caller {
    /// The caller's tenant (operators act on tenants through the operator routes).
    pub fn tenant_id(&self) -> ApiResult<i64> {
        match &self.principal {
            Principal::User { tenant_id, .. } => Ok(*tenant_id),
            Principal::Operator { .. } => Err(ApiError::forbidden("the operator acts on tenants through the operator console")),
        }
    }
    /// Whether the caller supervises their tenant.
    pub fn is_supervisor(&self) -> bool {
        matches!(self.principal, Principal::User { supervisor: true, .. })
    }
    /// The caller's own user id, when the caller is a user.
    pub fn user_id(&self) -> Option<i64> {
        match &self.principal {
            Principal::User { id, .. } if *id > 0 => Some(*id),
            _ => None,
        }
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == COOKIE && !v.is_empty()).then(|| v.to_string())
    })
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// Resolves the caller of a request (checking CSRF on state changes made with a cookie).
pub async fn caller(state: &WebState, method: &Method, headers: &HeaderMap) -> ApiResult<Caller> {
    if let Some(token) = bearer(headers) {
        let p = state.store.token_principal(&token).await?.ok_or_else(ApiError::unauthorized)?;
        return Ok(Caller { principal: p, csrf: None });
    }
    let secret = cookie_value(headers).ok_or_else(ApiError::unauthorized)?;
    let s = state.store.session(&secret, now_ms()).await?.ok_or_else(ApiError::unauthorized)?;
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if sent != s.csrf {
            return Err(ApiError::forbidden("missing or wrong X-CSRF-Token"));
        }
    }
    Ok(Caller { principal: s.principal, csrf: Some(s.csrf) })
}

/// Middleware of every non-public route: resolves the caller and checks the route's access.
pub async fn guard(State((state, access)): State<(Arc<WebState>, Access)>, mut req: Request, next: Next) -> Response {
    let c = match caller(&state, req.method(), req.headers()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let allowed = match access {
        Access::Public | Access::Signed => true,
        Access::User => matches!(c.principal, Principal::User { .. }),
        Access::Supervisor => c.is_supervisor(),
        Access::Operator => matches!(c.principal, Principal::Operator { .. }),
    };
    if !allowed {
        return ApiError::forbidden(format!("this needs the {access:?} role").to_lowercase()).into_response();
    }
    req.extensions_mut().insert(c);
    next.run(req).await
}

/// Login form.
#[derive(Debug, Deserialize)]
pub struct LoginBody {
    /// `operator-login` or `EXT@tenant-slug`.
    pub login: String,
    /// Password.
    pub password: String,
}

/// What the cabinet knows about the signed-in account.
#[derive(Debug, Serialize)]
pub struct Me {
    /// `operator`, `supervisor` or `user`.
    pub role: &'static str,
    /// Login or extension.
    pub name: String,
    /// The tenant's slug and name, for users.
    pub tenant: Option<serde_json::Value>,
    /// CSRF token to send in `X-CSRF-Token` (cookie sessions).
    pub csrf: Option<String>,
}

async fn me_of(state: &WebState, c: &Caller) -> ApiResult<Me> {
    Ok(match &c.principal {
        Principal::Operator { login, .. } => Me { role: "operator", name: login.clone(), tenant: None, csrf: c.csrf.clone() },
        Principal::User { tenant_id, ext, supervisor, .. } => {
            let t = state.store.tenant_by_id(*tenant_id).await?;
            Me {
                role: if *supervisor { "supervisor" } else { "user" },
                name: ext.clone(),
                tenant: Some(serde_json::json!({
                    "slug": t.slug, "name": t.name, "timezone": t.timezone, "status": t.status,
                })),
                csrf: c.csrf.clone(),
            }
        }
    })
}

fn secure(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// `POST /api/v1/login`.
pub async fn login(State(state): State<Arc<WebState>>, headers: HeaderMap, Json(b): Json<LoginBody>) -> ApiResult<Response> {
    let outcome = state.store.try_login(b.login.trim(), &b.password, now_ms()).await?;
    let p = match outcome {
        Ok(p) => p,
        Err(e) => {
            tokio::time::sleep(std::time::Duration::from_millis(state.login_delay_ms)).await;
            let (status, reason, msg) = match e {
                LoginError::Invalid => (StatusCode::UNAUTHORIZED, "invalid", "wrong login or password".to_string()),
                LoginError::Locked(until) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "locked",
                    format!("too many failed logins: locked for {} more minutes", (until - now_ms()).max(60_000) / 60_000),
                ),
                LoginError::Suspended => {
                    (StatusCode::FORBIDDEN, "suspended", "the company's account is suspended: contact the operator".to_string())
                }
            };
            return Ok((status, Json(serde_json::json!({ "error": msg, "reason": reason }))).into_response());
        }
    };
    let (secret, csrf) = state.store.create_session(&p, now_ms()).await?;
    let c = Caller { principal: p, csrf: Some(csrf) };
    let me = me_of(&state, &c).await?;
    let cookie = format!(
        "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        pbx_store::accounts::SESSION_MS / 1000,
        if secure(&headers) { "; Secure" } else { "" }
    );
    Ok(([(header::SET_COOKIE, cookie)], Json(me)).into_response())
}

/// `POST /api/v1/logout`.
pub async fn logout(State(state): State<Arc<WebState>>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(secret) = cookie_value(&headers) {
        state.store.delete_session(&secret).await?;
    }
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, clear)], StatusCode::NO_CONTENT).into_response())
}

/// `GET /api/v1/me`.
pub async fn me(State(state): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<Me>> {
    Ok(Json(me_of(&state, &c).await?))
}

/// Password change form.
#[derive(Debug, Deserialize)]
pub struct PasswordBody {
    /// The current password.
    pub current: String,
    /// The new one (8 to 128 characters).
    pub new: String,
}

/// `POST /api/v1/me/password`.
pub async fn change_password(
    State(state): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Json(b): Json<PasswordBody>,
) -> ApiResult<StatusCode> {
    if c.csrf.is_none() {
        return Err(ApiError::forbidden("API tokens cannot change passwords"));
    }
    state.store.change_password(&c.principal, &b.current, &b.new).await?;
    Ok(StatusCode::NO_CONTENT)
}
