//! Tenant routes for outgoing webhooks: register (the signing secret is shown once), list,
//! enable or disable, delete, and the delivery log. The same service as `pbx webhook ...`.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use crate::webhooks::{self, NewWebhook, WebhookError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use pbx_store::events::EVENT_KINDS;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> ApiError {
        match e {
            WebhookError::Invalid(m) => ApiError::bad(m),
            WebhookError::Store(s) => s.into(),
        }
    }
}

/// A change of a webhook.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WebhookPatch {
    /// Deliver (true) or pause (false); enabling clears the backoff.
    pub enabled: bool,
}

/// How many log entries to list.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    /// Entries, newest first (1-1000, default 100).
    pub limit: Option<i64>,
}

/// `GET /api/v1/webhooks`: the tenant's webhooks and the event kinds there are.
pub async fn list(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<Value>> {
    let hooks = s.store.list_webhooks(c.tenant_id()?).await?;
    Ok(Json(json!({ "items": hooks, "events": EVENT_KINDS })))
}

/// `POST /api/v1/webhooks`: registers a webhook; the answer carries its signing secret once.
pub async fn create(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Json(b): Json<NewWebhook>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (hook, secret) = webhooks::create(&s.store, c.tenant_id()?, &b).await?;
    let mut v = json!(hook);
    v["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(v)))
}

fn id_of(raw: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| ApiError::not_found(format!("webhook {raw}")))
}

/// `PATCH /api/v1/webhooks/{id}`: pauses or resumes deliveries.
pub async fn patch(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
    Json(b): Json<WebhookPatch>,
) -> ApiResult<Json<Value>> {
    let hook = s.store.set_webhook_enabled(c.tenant_id()?, id_of(&id)?, b.enabled).await?;
    Ok(Json(json!(hook)))
}

/// `DELETE /api/v1/webhooks/{id}`.
pub async fn delete(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.store.delete_webhook(c.tenant_id()?, id_of(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/webhooks/{id}/deliveries`: the newest delivery attempts.
pub async fn deliveries(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<Value>> {
    let rows = s.store.list_deliveries(c.tenant_id()?, id_of(&id)?, q.limit.unwrap_or(100)).await?;
    Ok(Json(json!({ "items": rows })))
}

/// Whether a plugin is an integration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IntegrationBody {
    /// Receive the company's call events and answer at the inbound address (true), or not.
    pub enabled: bool,
    /// Give the inbound address a new secret (the old address stops working).
    #[serde(default)]
    pub rotate_secret: bool,
}

/// `GET /api/v1/plugins/{name}/integration`: the plugin's integration and its newest deliveries.
pub async fn integration(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = c.tenant_id()?;
    let status = crate::integrations::integration_status(&s.store, tenant, &name).await?;
    let log = s.store.integration_deliveries(tenant, &name, 50).await?;
    let mut v = json!(status);
    v["deliveries"] = json!(log);
    Ok(Json(v))
}

/// `PUT /api/v1/plugins/{name}/integration`: makes the plugin an integration or stops that.
pub async fn set_integration(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(name): Path<String>,
    Json(b): Json<IntegrationBody>,
) -> ApiResult<Json<Value>> {
    let status = crate::integrations::set_integration(&s.store, c.tenant_id()?, &name, b.enabled, b.rotate_secret).await?;
    Ok(Json(json!(status)))
}

/// `GET|POST /api/v1/plugins/{name}/integration/admin/{rest}`: the company's cabinet asks its
/// integration (a connector's state, set-up and disconnect pages); the plugin answers at its
/// inbound address, told the request is the cabinet's.
pub async fn integration_admin(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path((name, rest)): Path<(String, String)>,
    method: axum::http::Method,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<axum::response::Response> {
    let tenant = c.tenant_id()?;
    let Some(integrations) = s.integrations.get() else {
        return Err(ApiError::unavailable("integrations do not run in this process"));
    };
    let req = pbx_plugin_host::HttpRequest {
        method: method.as_str().to_string(),
        url: String::new(),
        headers: super::hooks::visible_headers(&headers),
        body: body.to_vec(),
    };
    match integrations.admin(tenant, &name, &rest, req).await {
        Ok(r) => Ok(super::hooks::plugin_response(r)),
        Err(crate::integrations::HookError::NotFound) => Err(ApiError::not_found(format!("enabled integration {name}"))),
        Err(crate::integrations::HookError::TooMany) => Err(ApiError::unavailable("too many requests")),
        Err(crate::integrations::HookError::Plugin(e)) => Err(ApiError::unavailable(format!("the integration failed: {e}"))),
    }
}
