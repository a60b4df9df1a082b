//! `GET /api/v1/audit`: the audit log, newest first: the operator reads every company's
//! (or one's, `?tenant=slug`), a supervisor their own company's; users read none.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiQuery, ApiResult};
use super::paging::{listing, page_of};
use axum::Json;
use axum::extract::State;
use pbx_store::Principal;
use pbx_store::audit::AuditEntry;
use serde::Deserialize;
use std::sync::Arc;

listing!(
    /// A page of the audit log, newest first.
    AuditPage of AuditEntry
);

/// The audit log's query.
#[derive(Debug, Deserialize, Default)]
pub struct AuditQuery {
    /// Rows per page (1-500, default 50).
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// The operator: one company only (its slug).
    pub tenant: Option<String>,
}

/// `GET /api/v1/audit`.
pub async fn list(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let tenant = match &c.principal {
        Principal::User { tenant_id, supervisor: true, .. } => Some(*tenant_id),
        Principal::User { .. } => return Err(ApiError::forbidden("the audit log is for supervisors and the operator")),
        Principal::Operator { .. } => match q.tenant.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(slug) => Some(s.store.tenant_by_slug(slug).await?.id),
            None => None,
        },
    };
    let before = match q.after.as_deref() {
        Some(a) => Some(a.parse::<i64>().map_err(|_| ApiError::bad("`after` must be the `next` of the previous page"))?),
        None => None,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500) as usize;
    let rows = s.store.list_audit(tenant, before, limit as i64 + 1).await?;
    Ok(Json(page_of(rows, limit, |e| e.id.to_string()).into()))
}
