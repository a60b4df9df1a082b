//! `GET|PUT /api/v1/plugins/{name}/settings`: a tenant's settings of a plugin, with its
//! secrets sealed and never returned. The same service as `pbx plugin settings`.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::plugin_settings::{self, SettingsError, SettingsView};
use axum::Json;
use axum::extract::State;
use serde_json::Value;
use std::sync::Arc;

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> ApiError {
        match e {
            SettingsError::Invalid(m) => ApiError::bad(m),
            SettingsError::Store(s) => s.into(),
            SettingsError::Sealed => ApiError::internal(e),
        }
    }
}

/// `GET /api/v1/plugins/{name}/settings`.
pub async fn get(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<SettingsView>> {
    Ok(Json(plugin_settings::view(&s.store, &s.secret_box, c.tenant_id()?, &name).await?))
}

/// `PUT /api/v1/plugins/{name}/settings`: secrets given as strings are set, as `null`
/// removed, left out kept.
pub async fn put(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<SettingsInput>,
) -> ApiResult<Json<SettingsView>> {
    Ok(Json(plugin_settings::put(&s.store, &s.secret_box, c.tenant_id()?, &name, &Value::Object(b.0)).await?))
}

/// New settings of a plugin, checked against its schema: secrets (its `writeOnly`
/// properties) given as strings are set, as `null` removed, left out kept.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct SettingsInput(pub serde_json::Map<String, Value>);
