//! Operator routes: tenants (create with the default setup, suspend, resume, balance),
//! their city numbers, the carrier trunks and operator API tokens.

use super::WebState;
use super::error::{ApiError, ApiResult};
use super::tenant_api::{PageQuery, TokenBody, page_by, page_of};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use pbx_store::TenantStatus;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// `GET /api/v1/tenants`.
pub async fn list_tenants(State(s): State<Arc<WebState>>, Query(q): Query<PageQuery>) -> ApiResult<Json<Value>> {
    let limit = q.limit();
    let ts = s.store.tenants_page(q.after.as_deref(), limit as i64 + 1).await?;
    Ok(Json(json!(page_of(ts, limit, |t| t.slug.clone()))))
}

/// New tenant form.
#[derive(Debug, Deserialize)]
pub struct TenantBody {
    /// Short name used in logins (`101@slug`).
    pub slug: String,
    /// SIP domain.
    pub domain: String,
    /// Company name.
    #[serde(default)]
    pub name: String,
}

/// `POST /api/v1/tenants`.
pub async fn create_tenant(State(s): State<Arc<WebState>>, Json(b): Json<TenantBody>) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = s.store.create_tenant(&b.slug, &b.domain, &b.name).await?;
    Ok((StatusCode::CREATED, Json(json!(t))))
}

/// `GET /api/v1/tenants/{slug}`.
pub async fn get_tenant(State(s): State<Arc<WebState>>, Path(slug): Path<String>) -> ApiResult<Json<Value>> {
    let t = s.store.tenant_by_slug(&slug).await?;
    let users = s.store.list_users(t.id).await?.len();
    let numbers = s.store.list_dids(Some(t.id)).await?.len();
    let mut v = json!(t);
    v["users"] = json!(users);
    v["numbers"] = json!(numbers);
    Ok(Json(v))
}

/// `POST /api/v1/tenants/{slug}/suspend`.
pub async fn suspend(State(s): State<Arc<WebState>>, Path(slug): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(s.store.set_tenant_status(&slug, TenantStatus::Suspended).await?)))
}

/// `POST /api/v1/tenants/{slug}/resume`.
pub async fn resume(State(s): State<Arc<WebState>>, Path(slug): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(s.store.set_tenant_status(&slug, TenantStatus::Active).await?)))
}

/// Balance form.
#[derive(Debug, Deserialize)]
pub struct BalanceBody {
    /// Amount such as `100` or `99.50`.
    pub amount: String,
}

/// `PUT /api/v1/tenants/{slug}/balance`.
pub async fn set_balance(State(s): State<Arc<WebState>>, Path(slug): Path<String>, Json(b): Json<BalanceBody>) -> ApiResult<Json<Value>> {
    let cents = pbx_store::parse_amount(&b.amount).ok_or_else(|| ApiError::bad("the amount must be a number such as 100 or 99.50"))?;
    Ok(Json(json!(s.store.set_tenant_balance(&slug, cents).await?)))
}

/// `GET /api/v1/tenants/{slug}/numbers`.
pub async fn list_numbers(State(s): State<Arc<WebState>>, Path(slug): Path<String>, Query(q): Query<PageQuery>) -> ApiResult<Json<Value>> {
    let t = s.store.tenant_by_slug(&slug).await?;
    let mut dids = s.store.list_dids(Some(t.id)).await?;
    dids.sort_by(|a, b| a.number.cmp(&b.number));
    let rows: Vec<Value> =
        dids.iter().map(|d| json!({"number": d.number, "trunk": d.trunk, "user": d.user_ext, "main": d.is_main})).collect();
    Ok(Json(json!(page_by(rows, &q, |r| r["number"].as_str().unwrap_or_default().to_string()))))
}

/// New number form.
#[derive(Debug, Deserialize)]
pub struct NumberBody {
    /// The number in any carrier form.
    pub number: String,
    /// The trunk it arrives on.
    pub trunk: String,
    /// The user whose own number it is.
    #[serde(default)]
    pub user: Option<String>,
    /// The tenant's main number (presented on outbound calls).
    #[serde(default)]
    pub main: bool,
}

/// `POST /api/v1/tenants/{slug}/numbers`.
pub async fn add_number(
    State(s): State<Arc<WebState>>,
    Path(slug): Path<String>,
    Json(b): Json<NumberBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = s.store.tenant_by_slug(&slug).await?;
    let d = s.store.add_did(t.id, &b.number, &b.trunk, b.user.as_deref().filter(|u| !u.is_empty()), b.main).await?;
    Ok((StatusCode::CREATED, Json(json!({"number": d.number, "trunk": d.trunk, "user": d.user_ext, "main": d.is_main}))))
}

/// `DELETE /api/v1/tenants/{slug}/numbers/{number}`.
pub async fn delete_number(State(s): State<Arc<WebState>>, Path((slug, number)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let t = s.store.tenant_by_slug(&slug).await?;
    s.store.delete_did(t.id, &number).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/trunks`.
pub async fn list_trunks(State(s): State<Arc<WebState>>, Query(q): Query<PageQuery>) -> ApiResult<Json<Value>> {
    let mut ts = s.store.list_trunks().await?;
    ts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(json!(page_by(ts, &q, |t| t.name.clone()))))
}

/// `GET /api/v1/operator/tokens`.
pub async fn list_tokens(State(s): State<Arc<WebState>>, Query(q): Query<PageQuery>) -> ApiResult<Json<Value>> {
    let rows = s.store.list_tokens(None).await?;
    Ok(Json(json!(page_by(rows, &q, |t| format!("{:020}", t.id)))))
}

/// `POST /api/v1/operator/tokens`.
pub async fn create_token(State(s): State<Arc<WebState>>, Json(b): Json<TokenBody>) -> ApiResult<(StatusCode, Json<Value>)> {
    let (id, secret) = s.store.create_token(None, "operator", None, &b.label).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "token": secret, "role": "operator", "label": b.label}))))
}

/// `DELETE /api/v1/operator/tokens/{id}`.
pub async fn revoke_token(State(s): State<Arc<WebState>>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found(format!("token {id}")))?;
    s.store.revoke_token(None, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
