//! Tenant routes for people: users (extensions, SIP credentials, roles, forwarding), groups
//! and queues with their live state, and API tokens. Everything is looked up within the
//! caller's tenant, so another tenant's extension answers 404 like a missing one.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use pbx_store::{Forwarding, GroupKind, NewUser, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// Keyset paging of a listing: `limit` rows after the `after` key.
#[derive(Debug, Deserialize, Default)]
pub struct PageQuery {
    /// Rows per page.
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    /// The page size, 1 to 500 (default 50).
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, 500) as usize
    }
}

/// One page of a listing and the cursor of the next (none at the end).
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass as `after` for the next page.
    pub next: Option<String>,
}

/// Pages rows already ordered by a unique key (small per-tenant tables).
pub fn page_by<T>(rows: Vec<T>, q: &PageQuery, key: impl Fn(&T) -> String) -> Page<T> {
    let items = rows.into_iter().filter(|r| q.after.as_deref().is_none_or(|a| key(r).as_str() > a)).collect();
    page_of(items, q.limit(), key)
}

/// The page of rows read after the cursor, up to one more than `limit` (the extra row only
/// says that a next page exists).
pub fn page_of<T>(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(&key)
    } else {
        None
    };
    Page { items, next }
}

/// Extensions sort by length then digits (99 before 100); the key is the length (one digit:
/// extensions have 2 to 6) followed by the extension, which keeps `01` and `001` apart where
/// zero-padding would not.
fn ext_key(ext: &str) -> String {
    format!("{}{ext}", ext.len())
}

/// `GET /api/v1/users`.
pub async fn list_users(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit();
    let users = s.store.users_page(c.tenant_id()?, q.after.as_deref(), limit as i64 + 1).await?;
    Ok(Json(json!(page_of(users, limit, |u| u.ext.clone()))))
}

/// New user form.
#[derive(Debug, Deserialize)]
pub struct NewUserBody {
    /// Extension.
    pub ext: String,
    /// SIP password (generated when empty).
    #[serde(default)]
    pub sip_password: String,
    /// Full name.
    #[serde(default)]
    pub name: String,
    /// `user` or `supervisor`.
    #[serde(default)]
    pub role: Option<String>,
    /// Cabinet password.
    #[serde(default)]
    pub web_password: Option<String>,
}

/// `POST /api/v1/users`.
pub async fn create_user(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Json(b): Json<NewUserBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let role = Role::parse(b.role.as_deref().unwrap_or("user")).ok_or_else(|| ApiError::bad("role must be user or supervisor"))?;
    let sip_password = if b.sip_password.is_empty() { pbx_store::accounts::new_sip_password() } else { b.sip_password };
    let web = b.web_password.filter(|p| !p.is_empty());
    let u = s
        .store
        .create_user(
            c.tenant_id()?,
            &NewUser { ext: &b.ext, sip_password: &sip_password, name: &b.name, role, web_password: web.as_deref() },
        )
        .await?;
    // The password is shown this once: only its digest hashes are stored.
    let mut v = user_json(&s, &u).await?;
    v["sip"]["password"] = json!(sip_password);
    Ok((StatusCode::CREATED, Json(v)))
}

/// The user and their SIP account (user name and domain; never the password).
async fn user_json(s: &WebState, u: &pbx_store::User) -> ApiResult<Value> {
    let t = s.store.tenant_by_id(u.tenant_id).await?;
    let mut v = json!(u);
    v["sip"] = json!({"username": u.ext, "domain": t.domain});
    Ok(v)
}

/// `POST /api/v1/users/{ext}/sip-password`: a new generated SIP password, shown once.
pub async fn reset_sip_password(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(ext): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = c.tenant_id()?;
    let password = pbx_store::accounts::new_sip_password();
    s.store.set_sip_password(tenant, &ext, &password).await?;
    let t = s.store.tenant_by_id(tenant).await?;
    Ok(Json(json!({"username": ext, "domain": t.domain, "password": password})))
}

/// `GET /api/v1/users/{ext}`.
pub async fn get_user(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(ext): Path<String>,
) -> ApiResult<Json<Value>> {
    let u = s.store.user_by_ext(c.tenant_id()?, &ext).await?;
    Ok(Json(user_json(&s, &u).await?))
}

/// `DELETE /api/v1/users/{ext}`.
pub async fn delete_user(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(ext): Path<String>,
) -> ApiResult<StatusCode> {
    if let pbx_store::Principal::User { ext: own, .. } = &c.principal
        && *own == ext
    {
        return Err(ApiError::bad("you cannot delete your own account"));
    }
    s.store.delete_user(c.tenant_id()?, &ext).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn apply_forwarding(s: &WebState, tenant_id: i64, ext: &str, f: &Forwarding) -> ApiResult<Json<Forwarding>> {
    let t = s.store.tenant_by_id(tenant_id).await?;
    s.store.user_by_ext(tenant_id, ext).await?;
    let f = crate::cli::user::checked_forwarding(&s.store, &t, f).await?;
    s.store.set_forwarding(tenant_id, ext, &f).await?;
    Ok(Json(f))
}

/// `PUT /api/v1/users/{ext}/forwarding`.
pub async fn set_forwarding(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(ext): Path<String>,
    Json(f): Json<Forwarding>,
) -> ApiResult<Json<Forwarding>> {
    apply_forwarding(&s, c.tenant_id()?, &ext, &f).await
}

fn own_ext(c: &Caller) -> ApiResult<String> {
    match &c.principal {
        pbx_store::Principal::User { ext, .. } if !ext.is_empty() => Ok(ext.clone()),
        _ => Err(ApiError::forbidden("this token does not act as a user")),
    }
}

/// `GET /api/v1/me/forwarding`.
pub async fn my_forwarding(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<Forwarding>> {
    Ok(Json(s.store.user_by_ext(c.tenant_id()?, &own_ext(&c)?).await?.forwarding))
}

/// `PUT /api/v1/me/forwarding`.
pub async fn set_my_forwarding(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Json(f): Json<Forwarding>,
) -> ApiResult<Json<Forwarding>> {
    apply_forwarding(&s, c.tenant_id()?, &own_ext(&c)?, &f).await
}

/// Password form.
#[derive(Debug, Deserialize)]
pub struct WebPasswordBody {
    /// The new cabinet password.
    pub password: String,
}

/// `PUT /api/v1/users/{ext}/web-password`.
pub async fn set_web_password(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(ext): Path<String>,
    Json(b): Json<WebPasswordBody>,
) -> ApiResult<StatusCode> {
    s.store.set_web_password(c.tenant_id()?, &ext, &b.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/groups`.
pub async fn list_groups(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let mut groups = s.store.list_groups(Some(c.tenant_id()?)).await?;
    groups.sort_by_key(|g| ext_key(&g.ext));
    Ok(Json(json!(page_by(groups, &q, |g| ext_key(&g.ext)))))
}

/// `GET /api/v1/queues/{ext}/status`.
pub async fn queue_status(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(ext): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(queue_json(&s, c.tenant_id()?, &ext).await?))
}

/// A queue's live state as published by the server, with the agents' configured states.
pub async fn queue_json(s: &WebState, tenant_id: i64, ext: &str) -> ApiResult<Value> {
    let q = s.store.group_by_ext(tenant_id, ext).await?;
    if q.kind != GroupKind::Queue {
        return Err(ApiError::not_found(format!("queue {ext}")));
    }
    let mut v = match s.store.queue_status(q.id).await? {
        Some((j, at)) => {
            let mut v: Value = serde_json::from_str(&j).unwrap_or_else(|_| json!({}));
            v["updated_at"] = at.into();
            v
        }
        None => json!({"callers": [], "agents": []}),
    };
    v["queue"] = json!(q.ext);
    v["name"] = json!(q.name);
    v["strategy"] = json!(q.strategy);
    if v["agents"].as_array().is_none_or(|a| a.is_empty()) {
        // No server reported yet: the configured agents and their flags.
        let states = s.store.agent_states(Some(q.id)).await?;
        v["agents"] = q
            .members
            .iter()
            .map(|m| {
                let st = states.iter().find(|a| &a.ext == m);
                let state = match st {
                    Some(a) if !a.logged_in => "logged-out",
                    Some(a) if a.paused => "paused",
                    _ => "unknown",
                };
                json!({"ext": m, "state": state})
            })
            .collect();
    }
    Ok(v)
}

/// Agent state change.
#[derive(Debug, Deserialize)]
pub struct AgentBody {
    /// Pause or unpause.
    pub paused: Option<bool>,
    /// Log in or out.
    pub logged_in: Option<bool>,
}

/// `PATCH /api/v1/queues/{ext}/agents/{agent}`.
pub async fn set_agent(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path((ext, agent)): Path<(String, String)>,
    Json(b): Json<AgentBody>,
) -> ApiResult<Json<Value>> {
    let a = s.store.set_agent_state(c.tenant_id()?, &ext, &agent, b.paused, b.logged_in).await?;
    Ok(Json(json!({"ext": a.ext, "paused": a.paused, "logged_in": a.logged_in})))
}

/// `GET /api/v1/tokens`.
pub async fn list_tokens(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let rows = s.store.list_tokens(Some(c.tenant_id()?)).await?;
    Ok(Json(json!(page_by(rows, &q, |t| format!("{:020}", t.id)))))
}

/// New token form.
#[derive(Debug, Deserialize)]
pub struct TokenBody {
    /// `supervisor` or `user`.
    pub role: String,
    /// The user a `user` token acts as.
    #[serde(default)]
    pub ext: Option<String>,
    /// What it is for.
    #[serde(default)]
    pub label: String,
}

/// `POST /api/v1/tokens`.
pub async fn create_token(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Json(b): Json<TokenBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = c.tenant_id()?;
    let user_id = match b.ext.as_deref().filter(|e| !e.is_empty()) {
        Some(ext) => Some(s.store.user_by_ext(t, ext).await?.id),
        None if b.role == "user" => return Err(ApiError::bad("a user token needs the extension it acts as")),
        None => None,
    };
    if b.role == "operator" {
        return Err(ApiError::forbidden("a tenant cannot create operator tokens"));
    }
    let (id, secret) = s.store.create_token(Some(t), &b.role, user_id, &b.label).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "token": secret, "role": b.role, "label": b.label}))))
}

/// `DELETE /api/v1/tokens/{id}`.
pub async fn revoke_token(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found(format!("token {id}")))?;
    s.store.revoke_token(Some(c.tenant_id()?), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
