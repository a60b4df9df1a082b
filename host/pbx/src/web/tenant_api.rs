//! Tenant routes for people: users (extensions, SIP credentials, roles, forwarding), groups
//! and queues with their live state, and API tokens. Everything is looked up within the
//! caller's tenant, so another tenant's extension answers 404 like a missing one.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use super::paging::{PageQuery, listing, page_by, page_of};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pbx_store::{Forwarding, GroupKind, NewUser, Role};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

listing!(
    /// A page of the tenant's users.
    UserPage of pbx_store::User
);
listing!(
    /// A page of the tenant's ring groups and queues.
    GroupPage of pbx_store::Group
);
listing!(
    /// A page of API tokens (never their secrets).
    TokenPage of pbx_store::accounts::TokenRow
);

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
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<UserPage>> {
    let limit = q.limit();
    let users = s.store.users_page(c.tenant_id()?, q.after.as_deref(), limit as i64 + 1).await?;
    Ok(Json(page_of(users, limit, |u| u.ext.clone()).into()))
}

/// One of the company's extensions as employees' phones list it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Colleague {
    /// The extension.
    pub ext: String,
    /// The person's (or group's) name.
    pub name: String,
    /// `user`, `ring` (a ring group) or `queue`.
    pub kind: &'static str,
}

/// The company's directory for its employees.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ColleagueList {
    /// By extension.
    pub items: Vec<Colleague>,
}

/// `GET /api/v1/colleagues`: every employee may see whom they can call or transfer to (the
/// web phone's transfer list); only names and extensions, nothing a supervisor manages.
pub async fn colleagues(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<ColleagueList>> {
    let t = c.tenant_id()?;
    let mut items: Vec<Colleague> =
        s.store.list_users(t).await?.into_iter().map(|u| Colleague { ext: u.ext, name: u.name, kind: "user" }).collect();
    items.extend(s.store.list_groups(Some(t)).await?.into_iter().map(|g| Colleague { ext: g.ext, name: g.name, kind: g.kind.as_str() }));
    items.sort_by(|a, b| a.ext.cmp(&b.ext));
    Ok(Json(ColleagueList { items }))
}

/// New user form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
    ApiJson(b): ApiJson<NewUserBody>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
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
    let mut v = user_view(&s, u).await?;
    v.sip.password = Some(sip_password);
    Ok((StatusCode::CREATED, Json(v)))
}

/// A user with their SIP account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// The user as stored.
    #[serde(flatten)]
    pub user: pbx_store::User,
    /// What a phone needs to register as this user.
    pub sip: SipAccount,
}

/// The SIP account of a user: what a phone is configured with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SipAccount {
    /// SIP user name (the extension).
    pub username: String,
    /// SIP domain (the tenant's), also the digest realm.
    pub domain: String,
    /// The SIP password, present only in the answer that set it (it is never shown again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The user and their SIP account (user name and domain; never the password).
async fn user_view(s: &WebState, u: pbx_store::User) -> ApiResult<UserView> {
    let t = s.store.tenant_by_id(u.tenant_id).await?;
    let sip = SipAccount { username: u.ext.clone(), domain: t.domain, password: None };
    Ok(UserView { user: u, sip })
}

/// `POST /api/v1/users/{ext}/sip-password`: a new generated SIP password, shown once.
pub async fn reset_sip_password(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
) -> ApiResult<Json<SipAccount>> {
    let tenant = c.tenant_id()?;
    let password = pbx_store::accounts::new_sip_password();
    s.store.set_sip_password(tenant, &ext, &password).await?;
    let t = s.store.tenant_by_id(tenant).await?;
    Ok(Json(SipAccount { username: ext, domain: t.domain, password: Some(password) }))
}

/// `GET /api/v1/users/{ext}`.
pub async fn get_user(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
) -> ApiResult<Json<UserView>> {
    let u = s.store.user_by_ext(c.tenant_id()?, &ext).await?;
    Ok(Json(user_view(&s, u).await?))
}

/// A change of a user: fields left out keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// Full name (at most 100 characters).
    pub name: Option<String>,
    /// `user` or `supervisor`.
    pub role: Option<String>,
}

/// `PUT /api/v1/users/{ext}`: a user's name or role.
pub async fn update_user(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
    ApiJson(b): ApiJson<UserChange>,
) -> ApiResult<Json<UserView>> {
    let role = match b.role.as_deref() {
        Some(r) => Some(Role::parse(r).ok_or_else(|| ApiError::bad("role must be user or supervisor"))?),
        None => None,
    };
    let u = s.store.update_user(c.tenant_id()?, &ext, b.name.as_deref(), role).await?;
    Ok(Json(user_view(&s, u).await?))
}

/// `DELETE /api/v1/users/{ext}`.
pub async fn delete_user(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
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
    let f = crate::company::checked_forwarding(&s.store, &t, f).await?;
    s.store.set_forwarding(tenant_id, ext, &f).await?;
    Ok(Json(f))
}

/// `PUT /api/v1/users/{ext}/forwarding`.
pub async fn set_forwarding(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
    ApiJson(f): ApiJson<Forwarding>,
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
    ApiJson(f): ApiJson<Forwarding>,
) -> ApiResult<Json<Forwarding>> {
    apply_forwarding(&s, c.tenant_id()?, &own_ext(&c)?, &f).await
}

/// Password form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WebPasswordBody {
    /// The new cabinet password.
    pub password: String,
}

/// `PUT /api/v1/users/{ext}/web-password`.
pub async fn set_web_password(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
    ApiJson(b): ApiJson<WebPasswordBody>,
) -> ApiResult<StatusCode> {
    s.store.set_web_password(c.tenant_id()?, &ext, &b.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/groups`.
pub async fn list_groups(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<GroupPage>> {
    let mut groups = s.store.list_groups(Some(c.tenant_id()?)).await?;
    groups.sort_by_key(|g| ext_key(&g.ext));
    Ok(Json(page_by(groups, &q, |g| ext_key(&g.ext)).into()))
}

/// `GET /api/v1/queues/{ext}/status`.
pub async fn queue_status(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
) -> ApiResult<Json<QueueStatus>> {
    Ok(Json(queue_json(&s, c.tenant_id()?, &ext).await?))
}

/// A queue's live state: who waits and what its agents do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueStatus {
    /// The queue's extension.
    pub queue: String,
    /// Its display name.
    pub name: String,
    /// How agents are chosen.
    pub strategy: String,
    /// Callers waiting, first to be served first.
    pub callers: Vec<QueueCaller>,
    /// The queue's agents and their states.
    pub agents: Vec<QueueAgent>,
    /// When a server last published the state, ms since the epoch (absent: none has yet,
    /// and the agents are the configured ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// A caller waiting in a queue, as the server publishes it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueCaller {
    /// Place in the queue, from 1.
    pub position: i64,
    /// The caller's number.
    pub caller: String,
    /// Seconds waited so far.
    pub waited_s: i64,
    /// Priority (higher is served first).
    pub priority: i64,
    /// Whether it is a callback the queue places once an agent frees up.
    pub callback: bool,
    /// `waiting` or `ringing` (offered to an agent).
    pub state: String,
}

/// An agent of a queue.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueAgent {
    /// The agent's extension.
    pub ext: String,
    /// The agent's name (absent before a server has published the queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `available`, `ringing`, `busy`, `wrap-up`, `missed`, `paused`, `offline`; before a
    /// server has published: `logged-out`, `paused` or `unknown`.
    pub state: String,
    /// Whether the agent is paused (a paused agent may also be offline or on a call).
    #[serde(default)]
    pub paused: bool,
    /// Calls answered today (absent before a server has published the queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls_taken: Option<i64>,
}

/// The state a server publishes for a queue (its other fields are the configuration's).
#[derive(Debug, Default, Deserialize)]
struct Published {
    #[serde(default)]
    callers: Vec<QueueCaller>,
    #[serde(default)]
    agents: Vec<QueueAgent>,
}

/// A queue's live state as published by the server, with the agents' configured states.
pub async fn queue_json(s: &WebState, tenant_id: i64, ext: &str) -> ApiResult<QueueStatus> {
    let q = s.store.group_by_ext(tenant_id, ext).await?;
    if q.kind != GroupKind::Queue {
        return Err(ApiError::not_found(format!("queue {ext}")));
    }
    let (published, updated_at) = match s.store.queue_status(q.id).await? {
        Some((j, at)) => (serde_json::from_str::<Published>(&j).unwrap_or_default(), Some(at)),
        None => (Published::default(), None),
    };
    let mut agents = published.agents;
    if agents.is_empty() {
        // No server reported yet: the configured agents and their flags.
        let states = s.store.agent_states(Some(q.id)).await?;
        agents = q
            .members
            .iter()
            .map(|m| {
                let st = states.iter().find(|a| &a.ext == m);
                let state = match st {
                    Some(a) if !a.logged_in => "logged-out",
                    Some(a) if a.paused => "paused",
                    _ => "unknown",
                };
                QueueAgent { ext: m.clone(), name: None, state: state.into(), paused: st.is_some_and(|a| a.paused), calls_taken: None }
            })
            .collect();
    }
    Ok(QueueStatus { queue: q.ext, name: q.name, strategy: q.strategy, callers: published.callers, agents, updated_at })
}

/// Agent state change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
    ApiPath((ext, agent)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<AgentBody>,
) -> ApiResult<Json<AgentView>> {
    let a = s.store.set_agent_state(c.tenant_id()?, &ext, &agent, b.paused, b.logged_in).await?;
    Ok(Json(AgentView { ext: a.ext, paused: a.paused, logged_in: a.logged_in }))
}

/// An agent's flags in a queue after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    /// The agent's extension.
    pub ext: String,
    /// Paused: not offered calls.
    pub paused: bool,
    /// Logged in to the queue.
    pub logged_in: bool,
}

/// `GET /api/v1/tokens`.
pub async fn list_tokens(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<TokenPage>> {
    let rows = s.store.list_tokens(Some(c.tenant_id()?)).await?;
    Ok(Json(page_by(rows, &q, |t| format!("{:020}", t.id)).into()))
}

/// New token form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
    ApiJson(b): ApiJson<TokenBody>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
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
    Ok((StatusCode::CREATED, Json(NewToken { id, token: secret, role: b.role, label: b.label })))
}

/// A token just created: its secret is shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewToken {
    /// Its id (to revoke it).
    pub id: i64,
    /// The secret to send as `Authorization: Bearer`.
    pub token: String,
    /// `operator`, `supervisor` or `user`.
    pub role: String,
    /// What it is for.
    pub label: String,
}

/// `DELETE /api/v1/tokens/{id}`.
pub async fn revoke_token(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found(format!("token {id}")))?;
    s.store.revoke_token(Some(c.tenant_id()?), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
