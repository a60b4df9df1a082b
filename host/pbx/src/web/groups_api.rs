//! Ring groups and queues for the company's supervisors: created, changed and deleted with
//! the same checks as the CLI's (`pbx group|queue create`); a group a scenario still sends
//! calls to is not deleted.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiJson, ApiPath, ApiResult};
pub use crate::company::GroupBody;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pbx_store::Group;
use std::sync::Arc;

/// `POST /api/v1/groups`.
pub async fn create_group(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiJson(b): ApiJson<GroupBody>,
) -> ApiResult<(StatusCode, Json<Group>)> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    Ok((StatusCode::CREATED, Json(crate::company::create_group(&s.store, &t, b).await?)))
}

/// `PUT /api/v1/groups/{ext}`.
pub async fn update_group(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
    ApiJson(b): ApiJson<GroupBody>,
) -> ApiResult<Json<Group>> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    Ok(Json(crate::company::change_group(&s.store, &t, &ext, b).await?))
}

/// `DELETE /api/v1/groups/{ext}`: refused (409, saying where) while a scenario sends calls
/// to it.
pub async fn delete_group(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    crate::company::delete_group(&s.store, &t, &ext).await?;
    Ok(StatusCode::NO_CONTENT)
}
