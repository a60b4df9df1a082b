//! Prepaid billing over HTTP: a company's balance, history, prices and warning threshold for
//! its supervisors; prices and top-ups for the operator. The same service as the CLI
//! (`crate::billing`).

use super::WebState;
use super::auth::Caller;
use super::error::{ApiJson, ApiPath, ApiQuery, ApiResult};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pbx_store::{Principal, Tariff, Tenant};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Who changed a balance, for its history.
fn actor(c: &Caller) -> String {
    match &c.principal {
        Principal::Operator { login, .. } => login.clone(),
        Principal::User { ext, .. } => ext.clone(),
    }
}

/// The balance page's query.
#[derive(Debug, Deserialize, Default)]
pub struct BalanceQuery {
    /// History entries older than this id (the last id of the previous page).
    pub before: Option<i64>,
}

/// `GET /api/v1/balance`.
pub async fn get_balance(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<BalanceQuery>,
) -> ApiResult<Json<crate::billing::BalanceView>> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    Ok(Json(crate::billing::balance_view(&s.store, &t, q.before).await?))
}

/// The warning threshold.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarningBody {
    /// Warn below this balance (`500`, `99.50`; `0`: never).
    pub threshold: String,
}

/// `PUT /api/v1/balance/warning`.
pub async fn put_warning(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiJson(b): ApiJson<WarningBody>,
) -> ApiResult<Json<crate::billing::BalanceView>> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    let t = crate::billing::set_low_balance(&s.store, &t.slug, &b.threshold).await?;
    Ok(Json(crate::billing::balance_view(&s.store, &t, None).await?))
}

/// The prices in force.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TariffList {
    /// By company (common first), then prefix.
    pub items: Vec<Tariff>,
}

/// `GET /api/v1/tariffs`: the operator sees every price, a company the ones that apply to it.
pub async fn list_tariffs(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<TariffList>> {
    let items = match &c.principal {
        Principal::Operator { .. } => s.store.list_tariffs().await?,
        Principal::User { tenant_id, .. } => s.store.tariffs_for(*tenant_id).await?,
    };
    Ok(Json(TariffList { items }))
}

/// A new price.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TariffBody {
    /// Leading digits of the international number (`7495`); empty: every other number.
    pub prefix: String,
    /// Destination name (`Moscow`).
    pub name: String,
    /// Price of a minute (`1.50`).
    pub per_minute: String,
    /// Billing step in seconds, 1 to 60 (default 60: per started minute).
    pub step_seconds: Option<i64>,
    /// A company's slug for its own price (none: every company).
    pub company: Option<String>,
}

/// `POST /api/v1/tariffs`.
pub async fn create_tariff(State(s): State<Arc<WebState>>, ApiJson(b): ApiJson<TariffBody>) -> ApiResult<(StatusCode, Json<Tariff>)> {
    let t =
        crate::billing::add_tariff(&s.store, b.company.as_deref(), &b.prefix, &b.name, &b.per_minute, b.step_seconds.unwrap_or(60)).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// `DELETE /api/v1/tariffs/{id}`.
pub async fn delete_tariff(State(s): State<Arc<WebState>>, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    s.store.delete_tariff(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A top-up or a correction.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpBody {
    /// Amount (`1000`, `99.50`; negative: a correction).
    pub amount: String,
    /// What for (a payment's number), up to 200 characters.
    pub note: Option<String>,
}

/// `POST /api/v1/tenants/{slug}/topup`.
pub async fn top_up(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(b): ApiJson<TopUpBody>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(crate::billing::top_up(&s.store, &slug, &b.amount, b.note.as_deref().unwrap_or(""), &actor(&c)).await?))
}

/// `GET /api/v1/tenants/{slug}/balance`: a company's balance and history for the operator.
pub async fn tenant_balance(
    State(s): State<Arc<WebState>>,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<BalanceQuery>,
) -> ApiResult<Json<crate::billing::BalanceView>> {
    let t = s.store.tenant_by_slug(&slug).await?;
    Ok(Json(crate::billing::balance_view(&s.store, &t, q.before).await?))
}

/// `PUT /api/v1/tenants/{slug}/balance`.
pub async fn set_balance(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(b): ApiJson<super::operator_api::BalanceBody>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(crate::billing::set_balance(&s.store, &slug, &b.amount, &actor(&c)).await?))
}
