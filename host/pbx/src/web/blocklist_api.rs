//! Routes for refusing callers and not being disturbed: the company's blacklist and its
//! settings (supervisors), each employee's own blacklist, and "do not disturb" (the employee,
//! or a supervisor for anyone). The store checks and keeps them; the call engine applies
//! them from its next directory snapshot.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pbx_store::{BlockSettings, BlockedNumber};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The company's blacklist with how it refuses.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompanyBlocklist {
    /// Anonymous callers and the way of refusing.
    pub settings: BlockSettings,
    /// Refused numbers and prefixes.
    pub entries: Vec<BlockedNumber>,
}

/// A user's own blacklist.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OwnBlocklist {
    /// Numbers and prefixes whose calls do not ring the user.
    pub entries: Vec<BlockedNumber>,
}

/// A number or prefix to refuse, as a form sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BlockBody {
    /// A number in any usual form (kept in E.164), or with `prefix` a `+` and digits.
    pub number: String,
    /// Refuse every number that starts with it.
    #[serde(default)]
    pub prefix: bool,
    /// Why (shown in the list).
    #[serde(default)]
    pub note: String,
}

/// "Do not disturb" on or off.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dnd {
    /// On: the phones do not ring, groups and queues skip the user, busy forwarding applies.
    pub on: bool,
}

fn own(c: &Caller) -> ApiResult<(i64, String)> {
    match &c.principal {
        pbx_store::Principal::User { id, ext, .. } if !ext.is_empty() => Ok((*id, ext.clone())),
        _ => Err(ApiError::forbidden("this token does not act as a user")),
    }
}

async fn add(s: &WebState, tenant_id: i64, user_id: Option<i64>, b: &BlockBody) -> ApiResult<(StatusCode, Json<BlockedNumber>)> {
    let cc = s.store.tenant_by_id(tenant_id).await?.country_code;
    let pattern = pbx_store::blocklist::check_pattern(&b.number, b.prefix, &cc)?;
    let entry = s.store.block_number(tenant_id, user_id, &pattern, b.prefix, b.note.trim()).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// The stored form of a pattern in a path: a prefix as written, a number normalised.
async fn path_pattern(s: &WebState, tenant_id: i64, raw: &str) -> ApiResult<String> {
    let cc = s.store.tenant_by_id(tenant_id).await?.country_code;
    pbx_store::blocklist::check_pattern(raw, false, &cc)
        .or_else(|_| pbx_store::blocklist::check_pattern(raw, true, &cc))
        .map_err(|_| ApiError::not_found(format!("blacklist entry {raw}")))
}

/// `GET /api/v1/blocklist`.
pub async fn company(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<CompanyBlocklist>> {
    let t = c.tenant_id()?;
    Ok(Json(CompanyBlocklist { settings: s.store.block_settings(t).await?, entries: s.store.blocked_numbers(t, None).await? }))
}

/// `PUT /api/v1/blocklist/settings`.
pub async fn set_settings(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiJson(b): ApiJson<BlockSettings>,
) -> ApiResult<Json<BlockSettings>> {
    s.store.set_block_settings(c.tenant_id()?, &b).await?;
    Ok(Json(b))
}

/// `POST /api/v1/blocklist`.
pub async fn company_add(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiJson(b): ApiJson<BlockBody>,
) -> ApiResult<(StatusCode, Json<BlockedNumber>)> {
    add(&s, c.tenant_id()?, None, &b).await
}

/// `DELETE /api/v1/blocklist/{pattern}`.
pub async fn company_remove(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let t = c.tenant_id()?;
    s.store.unblock_number(t, None, &path_pattern(&s, t, &raw).await?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me/blocklist`.
pub async fn mine(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<OwnBlocklist>> {
    let (id, _) = own(&c)?;
    Ok(Json(OwnBlocklist { entries: s.store.blocked_numbers(c.tenant_id()?, Some(id)).await? }))
}

/// `POST /api/v1/me/blocklist`.
pub async fn mine_add(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiJson(b): ApiJson<BlockBody>,
) -> ApiResult<(StatusCode, Json<BlockedNumber>)> {
    let (id, _) = own(&c)?;
    add(&s, c.tenant_id()?, Some(id), &b).await
}

/// `DELETE /api/v1/me/blocklist/{pattern}`.
pub async fn mine_remove(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let (id, _) = own(&c)?;
    let t = c.tenant_id()?;
    s.store.unblock_number(t, Some(id), &path_pattern(&s, t, &raw).await?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me/dnd`.
pub async fn my_dnd(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<Dnd>> {
    let (_, ext) = own(&c)?;
    Ok(Json(Dnd { on: s.store.user_by_ext(c.tenant_id()?, &ext).await?.dnd }))
}

/// `PUT /api/v1/me/dnd`.
pub async fn set_my_dnd(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiJson(b): ApiJson<Dnd>,
) -> ApiResult<Json<Dnd>> {
    let (_, ext) = own(&c)?;
    s.store.set_dnd(c.tenant_id()?, &ext, b.on).await?;
    Ok(Json(b))
}

/// `PUT /api/v1/users/{ext}/dnd`.
pub async fn set_dnd(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
    ApiJson(b): ApiJson<Dnd>,
) -> ApiResult<Json<Dnd>> {
    s.store.set_dnd(c.tenant_id()?, &ext, b.on).await?;
    Ok(Json(b))
}
