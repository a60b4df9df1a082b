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
    cookie_named(headers, COOKIE).filter(|v| !v.is_empty())
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

/// Whom the audit log names for a principal: the company, and the extension or the
/// operator's login.
fn audit_actor(p: &Principal) -> (Option<i64>, String) {
    match p {
        Principal::Operator { login, .. } => (None, login.clone()),
        Principal::User { tenant_id, ext, .. } => (Some(*tenant_id), ext.clone()),
    }
}

/// Middleware of every non-public route: resolves the caller and checks the route's access.
pub async fn guard(State((state, access, route)): State<(Arc<WebState>, Access, &'static str)>, mut req: Request, next: Next) -> Response {
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
    // Every change by a signed-in caller (and every attempt at one) goes to the audit log.
    let audit = (!matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS))
        .then(|| (format!("{} {route}", req.method()), req.uri().path().to_string(), peer_ip(req.extensions(), req.headers())));
    let resp = if allowed {
        req.extensions_mut().insert(c.clone());
        next.run(req).await
    } else {
        ApiError::forbidden(format!("this needs the {access:?} role").to_lowercase()).into_response()
    };
    if let Some((action, object, address)) = audit {
        let (mut tenant_id, actor) = audit_actor(&c.principal);
        // The operator's change to a company is also that company's to see.
        if tenant_id.is_none()
            && route.starts_with("/api/v1/tenants/{slug}")
            && let Some(slug) = object.split('/').nth(4)
        {
            tenant_id = state.store.tenant_by_slug(slug).await.ok().map(|t| t.id);
        }
        let entry = pbx_store::audit::NewAudit {
            tenant_id,
            actor,
            via: if c.csrf.is_some() { "session" } else { "token" },
            address: address.to_string(),
            action,
            object,
            status: i64::from(resp.status().as_u16()),
        };
        if let Err(e) = state.store.record_audit(&entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
    resp
}

/// Login form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    /// `operator-login` or `EXT@tenant-slug`.
    pub login: String,
    /// Password.
    pub password: String,
}

/// What the cabinet knows about the signed-in account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// `operator`, `supervisor` or `user`.
    pub role: &'static str,
    /// Login or extension.
    pub name: String,
    /// The tenant, for users (null for the operator).
    pub tenant: Option<MeTenant>,
    /// CSRF token to send in `X-CSRF-Token` (cookie sessions; null for API tokens).
    pub csrf: Option<String>,
}

/// The signed-in user's tenant as the cabinet shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeTenant {
    /// Short name used in logins.
    pub slug: String,
    /// Company name.
    pub name: String,
    /// IANA time zone the cabinet shows times in.
    pub timezone: String,
    /// Active or suspended.
    pub status: pbx_store::TenantStatus,
    /// The SIP domain its phones (and the cabinet's web phone) register in.
    pub domain: String,
}

/// A refused login.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginFailure {
    /// What went wrong, for the user.
    pub error: String,
    /// `invalid` (wrong login or password), `suspended` or `throttled`.
    pub reason: &'static str,
    /// Failed attempts left before logins from this address are slowed down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
    /// Seconds to wait before trying again (throttled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// The fresh CSRF token after a password change (the session was renewed).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CsrfToken {
    /// CSRF token to send in `X-CSRF-Token` from now on.
    pub csrf: String,
}

async fn me_of(state: &WebState, c: &Caller) -> ApiResult<Me> {
    Ok(match &c.principal {
        Principal::Operator { login, .. } => Me { role: "operator", name: login.clone(), tenant: None, csrf: c.csrf.clone() },
        Principal::User { tenant_id, ext, supervisor, .. } => {
            let t = state.store.tenant_by_id(*tenant_id).await?;
            Me {
                role: if *supervisor { "supervisor" } else { "user" },
                name: ext.clone(),
                tenant: Some(MeTenant { slug: t.slug, name: t.name, timezone: t.timezone, status: t.status, domain: t.domain }),
                csrf: c.csrf.clone(),
            }
        }
    })
}

pub(crate) fn secure(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The cookie that marks a browser that signed in to an account before: it is not held back
/// by guessing at that account from elsewhere.
pub const DEVICE_COOKIE: &str = "pbx_device";

fn peer_ip(req_ext: &axum::http::Extensions, headers: &HeaderMap) -> std::net::IpAddr {
    super::client_ip(req_ext, headers).unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))
}

/// `POST /api/v1/login`.
pub async fn login(State(state): State<Arc<WebState>>, req: Request) -> ApiResult<Response> {
    let ip = peer_ip(req.extensions(), req.headers());
    let headers = req.headers().clone();
    let bytes = axum::body::to_bytes(req.into_body(), 16 * 1024).await.map_err(|_| ApiError::bad("the login form is too large"))?;
    let b: LoginBody = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad(format!("unreadable login form: {e}")))?;
    let account = b.login.trim().to_string();
    let device = cookie_named(&headers, DEVICE_COOKIE);
    let known = device.as_deref().is_some_and(|d| state.device_mark(&account) == d);
    let attempt = match state.throttle.admit(&account, ip, known, std::time::Instant::now()) {
        Ok(a) => a,
        Err(wait) => {
            let secs = wait.as_secs().max(1);
            let body = Json(LoginFailure {
                error: format!("too many failed logins: try again in {secs} s"),
                reason: "throttled",
                remaining: None,
                retry_after: Some(secs),
            });
            return Ok((StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, secs.to_string())], body).into_response());
        }
    };
    let outcome = state.store.try_login(&account, &b.password, now_ms()).await?;
    let p = match outcome {
        Ok(p) => {
            state.throttle.succeeded(attempt, std::time::Instant::now());
            p
        }
        Err(e) => {
            tokio::time::sleep(std::time::Duration::from_millis(state.login_delay_ms)).await;
            let (status, reason, msg) = match e {
                LoginError::Invalid => (StatusCode::UNAUTHORIZED, "invalid", "wrong login or password".to_string()),
                LoginError::Suspended => {
                    (StatusCode::FORBIDDEN, "suspended", "the company's account is suspended: contact the operator".to_string())
                }
            };
            state.throttle.failed(attempt, std::time::Instant::now());
            let remaining = state.throttle.remaining(&account, ip);
            let body = LoginFailure { error: msg, reason, remaining: Some(remaining), retry_after: None };
            return Ok((status, Json(body)).into_response());
        }
    };
    let (secret, csrf) = state.store.create_session(&p, now_ms()).await?;
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    state.store.set_session_origin(&secret, &ip.to_string(), agent).await?;
    let (tenant_id, actor) = audit_actor(&p);
    let entry = pbx_store::audit::NewAudit {
        tenant_id,
        actor,
        via: "session",
        address: ip.to_string(),
        action: "POST /api/v1/login".into(),
        object: "/api/v1/login".into(),
        status: 200,
    };
    if let Err(e) = state.store.record_audit(&entry).await {
        tracing::error!(error = %e, "cannot write the audit log");
    }
    let c = Caller { principal: p, csrf: Some(csrf) };
    let me = me_of(&state, &c).await?;
    let flags = if secure(&headers) { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{flags}", pbx_store::accounts::SESSION_MS / 1000);
    let mark =
        format!("{DEVICE_COOKIE}={}; Path=/api/v1/login; HttpOnly; SameSite=Strict; Max-Age=31536000{flags}", state.device_mark(&account));
    let mut resp = Json(me).into_response();
    for c in [cookie, mark] {
        if let Ok(v) = c.parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

fn cookie_named(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordBody {
    /// The current password.
    pub current: String,
    /// The new one (8 to 128 characters).
    pub new: String,
}

/// `POST /api/v1/me/password`.
/// Every session of the account ends with the old password (on every device); this browser
/// gets a fresh one.
pub async fn change_password(
    State(state): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
    super::error::ApiJson(b): super::error::ApiJson<PasswordBody>,
) -> ApiResult<Response> {
    if c.csrf.is_none() {
        return Err(ApiError::forbidden("API tokens cannot change passwords"));
    }
    state.store.change_password(&c.principal, &b.current, &b.new).await?;
    let (secret, csrf) = state.store.create_session(&c.principal, now_ms()).await?;
    let cookie = format!(
        "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        pbx_store::accounts::SESSION_MS / 1000,
        if secure(&headers) { "; Secure" } else { "" }
    );
    Ok(([(header::SET_COOKIE, cookie)], Json(CsrfToken { csrf })).into_response())
}

/// `GET /api/v1/me/sessions`: the account's live sessions (where and when each was opened;
/// `current` marks this browser's).
pub async fn sessions(
    State(state): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
) -> ApiResult<Json<SessionList>> {
    let mine = cookie_value(&headers).map(|s| pbx_store::accounts::session_key(&s));
    let list = state.store.list_sessions(&c.principal, now_ms()).await?;
    let items = list.into_iter().map(|s| SessionView { current: mine.as_deref() == Some(s.key.as_str()), session: s }).collect();
    Ok(Json(SessionList { items }))
}

/// The account's live sessions, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionList {
    /// The sessions.
    pub items: Vec<SessionView>,
}

/// A session in its owner's list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The session.
    #[serde(flatten)]
    pub session: pbx_store::accounts::SessionInfo,
    /// Whether it is the one of this request.
    pub current: bool,
}

/// `DELETE /api/v1/me/sessions/{key}`: ends one of the account's sessions.
pub async fn end_session(
    State(state): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    super::error::ApiPath(key): super::error::ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.store.end_session_by_key(&c.principal, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/me/logout-everywhere`: ends every session of the account, this one too.
pub async fn logout_everywhere(State(state): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Response> {
    state.store.end_sessions(&c.principal).await?;
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}
