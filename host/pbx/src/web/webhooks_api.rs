//! Tenant routes for outgoing webhooks: register (the signing secret is shown once), list,
//! enable or disable, delete, and the delivery log. The same service as `pbx webhook ...`.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::integrations::IntegrationStatus;
use crate::webhooks::{self, NewWebhook, WebhookError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pbx_plugin_host::PluginError;
use pbx_store::events::EVENT_KINDS;
use pbx_store::webhooks::{Delivery, Webhook};
use serde::{Deserialize, Serialize};
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

/// The tenant's webhooks and the event kinds there are.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    /// The registered webhooks.
    pub items: Vec<Webhook>,
    /// Every event kind a webhook may ask for.
    pub events: Vec<String>,
}

/// A webhook just registered, with its signing secret (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The key of the `X-PBX-Signature` HMAC; keep it to check deliveries.
    pub secret: String,
}

/// A webhook's newest delivery attempts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    /// Attempts, newest first.
    pub items: Vec<Delivery>,
}

/// An integration with its newest deliveries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    /// The integration's state.
    #[serde(flatten)]
    pub status: IntegrationStatus,
    /// Its newest delivery attempts, newest first.
    pub deliveries: Vec<Delivery>,
}

/// `GET /api/v1/webhooks`: the tenant's webhooks and the event kinds there are.
pub async fn list(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<WebhookList>> {
    let hooks = s.store.list_webhooks(c.tenant_id()?).await?;
    Ok(Json(WebhookList { items: hooks, events: EVENT_KINDS.iter().map(|k| k.to_string()).collect() }))
}

/// `POST /api/v1/webhooks`: registers a webhook; the answer carries its signing secret once.
pub async fn create(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiJson(b): ApiJson<NewWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    let (hook, secret) = webhooks::create(&s.store, c.tenant_id()?, &b).await?;
    Ok((StatusCode::CREATED, Json(CreatedWebhook { webhook: hook, secret })))
}

fn id_of(raw: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| ApiError::not_found(format!("webhook {raw}")))
}

/// `PATCH /api/v1/webhooks/{id}`: pauses or resumes deliveries.
pub async fn patch(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<WebhookPatch>,
) -> ApiResult<Json<Webhook>> {
    let hook = s.store.set_webhook_enabled(c.tenant_id()?, id_of(&id)?, b.enabled).await?;
    Ok(Json(hook))
}

/// `DELETE /api/v1/webhooks/{id}`.
pub async fn delete(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    s.store.delete_webhook(c.tenant_id()?, id_of(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/webhooks/{id}/deliveries`: the newest delivery attempts.
pub async fn deliveries(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<Json<DeliveryList>> {
    let rows = s.store.list_deliveries(c.tenant_id()?, id_of(&id)?, q.limit.unwrap_or(100)).await?;
    Ok(Json(DeliveryList { items: rows }))
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
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<IntegrationView>> {
    let tenant = c.tenant_id()?;
    let status = crate::integrations::integration_status(&s.store, tenant, &name).await?;
    let log = s.store.integration_deliveries(tenant, &name, 50).await?;
    Ok(Json(IntegrationView { status, deliveries: log }))
}

/// `PUT /api/v1/plugins/{name}/integration`: makes the plugin an integration or stops that.
pub async fn set_integration(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<IntegrationBody>,
) -> ApiResult<Json<IntegrationStatus>> {
    let status = crate::integrations::set_integration(&s.store, c.tenant_id()?, &name, b.enabled, b.rotate_secret).await?;
    Ok(Json(status))
}

/// `GET|POST /api/v1/plugins/{name}/integration/admin/{rest}`: the company's cabinet asks its
/// integration (a connector's state, set-up and disconnect pages); the plugin answers at its
/// inbound address, told the request is the cabinet's.
pub async fn integration_admin(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath((name, rest)): ApiPath<(String, String)>,
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
        Err(crate::integrations::HookError::TooMany) => {
            Err(ApiError { status: StatusCode::TOO_MANY_REQUESTS, message: "too many requests to the integration".into() })
        }
        // The company's set-up stands in the way (grants missing, the plugin disabled): theirs
        // to change, not a failure of the server.
        Err(crate::integrations::HookError::Plugin(PluginError::Unavailable(m))) => Err(ApiError::conflict(m)),
        Err(crate::integrations::HookError::Plugin(e @ PluginError::Refused(_))) => {
            Err(ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, message: format!("the integration refused: {e}") })
        }
        // The plugin itself broke (trapped, ran past its deadline): the gateway's upstream.
        Err(crate::integrations::HookError::Plugin(e)) => {
            Err(ApiError { status: StatusCode::BAD_GATEWAY, message: format!("the integration failed: {e}") })
        }
    }
}
