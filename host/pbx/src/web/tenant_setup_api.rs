//! Tenant routes for call handling: city numbers and their scenarios (save validated, test
//! with the simulator), plugins (upload a component, grant, enable) and greetings/music
//! (upload, listen). The same service functions as the CLI do the work.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use super::operator_api::DidView;
use super::paging::{PageQuery, listing, page_by};
use crate::scenario::Scenario;
use crate::scenario::catalog::{TenantCatalog, save};
use crate::scenario::simulate::{SimInput, SimResult};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pbx_store::Grants;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

listing!(
    /// A page of the tenant's city numbers.
    NumberPage of NumberView
);
listing!(
    /// A page of the plugins available to the tenant.
    PluginPage of crate::plugins::admin::Row
);
listing!(
    /// A page of the tenant's prompts.
    PromptPage of PromptView
);

/// A city number as its tenant sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NumberView {
    /// The number, its trunk, its user and whether it is the main one.
    #[serde(flatten)]
    pub did: DidView,
    /// Whether calls to it follow a scenario (else the default setup).
    pub has_scenario: bool,
}

/// A city number's scenario.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScenarioView {
    /// The number in E.164.
    pub number: String,
    /// Its scenario; null: the default setup.
    #[schema(value_type = Option<Scenario>)]
    pub scenario: Option<Value>,
    /// Without a scenario: the graph of the default setup the number follows (greeting,
    /// everyone rings, after-hours message), which saving makes its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_scenario: Option<Scenario>,
}

async fn tenant(s: &WebState, c: &Caller) -> ApiResult<pbx_store::Tenant> {
    Ok(s.store.tenant_by_id(c.tenant_id()?).await?)
}

/// A city number of the tenant, or 404.
async fn did(s: &WebState, tenant_id: i64, number: &str) -> ApiResult<pbx_store::Did> {
    let t = s.store.tenant_by_id(tenant_id).await?;
    let e164 = pbx_store::numbers::normalize(number, &t.country_code).unwrap_or_else(|| number.to_string());
    s.store
        .list_dids(Some(tenant_id))
        .await?
        .into_iter()
        .find(|d| d.number == e164)
        .ok_or_else(|| ApiError::not_found(format!("number {number}")))
}

/// `GET /api/v1/numbers`.
pub async fn list_numbers(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<NumberPage>> {
    let mut dids = s.store.list_dids(Some(c.tenant_id()?)).await?;
    dids.sort_by(|a, b| a.number.cmp(&b.number));
    let rows: Vec<NumberView> = dids.iter().map(|d| NumberView { did: DidView::from(d), has_scenario: d.scenario.is_some() }).collect();
    Ok(Json(page_by(rows, &q, |r| r.did.number.clone()).into()))
}

/// `GET /api/v1/numbers/{number}/scenario`: the saved scenario, or `null` (default setup).
pub async fn get_scenario(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<Json<ScenarioView>> {
    let d = did(&s, c.tenant_id()?, &number).await?;
    let v = match d.scenario {
        Some(j) => Some(serde_json::from_str(&j).map_err(ApiError::internal)?),
        None => None,
    };
    // Without one, the graph the default setup follows, for the editor to start from.
    let default_scenario = if v.is_none() {
        let t = tenant(&s, &c).await?;
        Some(crate::scenario::default_setup::scenario(&t))
    } else {
        None
    };
    Ok(Json(ScenarioView { number: d.number, scenario: v, default_scenario }))
}

/// `PUT /api/v1/numbers/{number}/scenario`: validated like `pbx scenario set`.
pub async fn put_scenario(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(number): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<ScenarioView>> {
    let t = tenant(&s, &c).await?;
    let d = did(&s, t.id, &number).await?;
    super::error::refuse_nul(&body)?;
    let json = std::str::from_utf8(&body).map_err(|_| ApiError::bad("the scenario must be UTF-8 JSON"))?;
    let rt = s.runtime().await?;
    let catalog = TenantCatalog::load(&s.store, &rt, t).await?;
    let saved = save(&s.store, &catalog, &d.number, json).await?;
    Ok(Json(ScenarioView {
        number: d.number,
        scenario: Some(serde_json::to_value(saved).map_err(ApiError::internal)?),
        default_scenario: None,
    }))
}

/// `DELETE /api/v1/numbers/{number}/scenario`.
pub async fn clear_scenario(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let t = c.tenant_id()?;
    let d = did(&s, t, &number).await?;
    s.store.set_scenario(t, &d.number, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Simulation form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SimulateBody {
    /// A scenario to test instead of the saved one.
    #[serde(default)]
    #[schema(value_type = Option<Scenario>)]
    pub scenario: Option<Value>,
    /// When the call arrives (RFC 3339; default now).
    #[serde(default)]
    pub at: Option<String>,
    /// The caller's number.
    #[serde(default)]
    pub from: String,
    /// Keys pressed.
    #[serde(default)]
    pub digits: String,
    /// Phones do not answer.
    #[serde(default)]
    pub no_answer: bool,
}

/// `POST /api/v1/numbers/{number}/simulate`.
pub async fn simulate(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(number): ApiPath<String>,
    ApiJson(b): ApiJson<SimulateBody>,
) -> ApiResult<Json<SimResult>> {
    let t = tenant(&s, &c).await?;
    let d = did(&s, t.id, &number).await?;
    let at_ms = match b.at.as_deref().filter(|a| !a.is_empty()) {
        None => pbx_store::now_ms(),
        Some(a) => super::calls_api::parse_time(a, &t.timezone, false).ok_or_else(|| ApiError::bad("`at` must be an RFC 3339 time"))?,
    };
    let scenario = match b.scenario {
        Some(v) => {
            // The unsaved scenario must be valid before it is simulated.
            let json = v.to_string();
            let rt = s.runtime().await?;
            let catalog = TenantCatalog::load(&s.store, &rt, t.clone()).await?;
            crate::scenario::catalog::check(&json, &catalog).map_err(|e| ApiError::bad(format!("invalid scenario: {e}")))?;
            Some(json)
        }
        None => None,
    };
    let from = if b.from.is_empty() { "+70000000000".to_string() } else { b.from };
    let input = SimInput { from, to: d.number.clone(), digits: b.digits, answer: !b.no_answer };
    let r = crate::scenario::service::simulate_call(&s.store, s.runtime().await?, &t, &d.number, scenario, at_ms, input).await?;
    Ok(Json(r))
}

/// `GET /api/v1/plugins`.
pub async fn list_plugins(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PluginPage>> {
    let t = tenant(&s, &c).await?;
    let rt = s.runtime().await?;
    let rows = crate::plugins::admin::rows(&s.store, &rt, &t).await?;
    Ok(Json(page_by(rows, &q, |r| r.name.clone()).into()))
}

/// The plugins the PBX ships for companies to install.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginCatalog {
    /// Every shipped plugin.
    pub items: Vec<CatalogEntry>,
}

/// A plugin the PBX ships.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogEntry {
    /// Its name (to install it with `POST /api/v1/plugin-catalog/{name}`).
    pub name: String,
    /// Whether the tenant has a plugin of that name installed.
    pub installed: bool,
}

/// A plugin just installed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginInstalled {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Capabilities it asks for that the tenant has not granted yet.
    pub missing_grants: Vec<String>,
}

/// `GET /api/v1/plugin-catalog`: the plugins the PBX ships for companies to install.
pub async fn plugin_catalog(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<PluginCatalog>> {
    let t = tenant(&s, &c).await?;
    let installed: Vec<String> = s.store.list_plugins(Some(t.id)).await?.into_iter().map(|p| p.name).collect();
    let items = pbx_bundled_plugins::CATALOG
        .iter()
        .map(|b| CatalogEntry { name: b.name.to_string(), installed: installed.iter().any(|n| n == b.name) })
        .collect();
    Ok(Json(PluginCatalog { items }))
}

/// `POST /api/v1/plugin-catalog/{name}`: installs (or upgrades to) the shipped version.
pub async fn install_from_catalog(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<PluginInstalled>)> {
    let wasm = crate::plugins::admin::catalog_component(&name).ok_or_else(|| ApiError::not_found(format!("catalog plugin {name}")))?;
    let t = tenant(&s, &c).await?;
    let rt = crate::scenario::service::runtime_for(&s.store, t.id).await?;
    let (row, missing) = crate::plugins::admin::install(&s.store, &rt, &t, wasm).await?;
    Ok((StatusCode::CREATED, Json(PluginInstalled { name: row.name, version: row.version, missing_grants: missing })))
}

/// `POST /api/v1/plugins`: the body is the component.
pub async fn upload_plugin(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<PluginInstalled>)> {
    if body.is_empty() {
        return Err(ApiError::bad("the upload is empty: send the plugin's .wasm file"));
    }
    let t = tenant(&s, &c).await?;
    // A runtime of the upload's own (the checks install it there provisionally), compiled on
    // the bounded pool for heavy work.
    let rt = crate::scenario::service::runtime_for(&s.store, t.id).await?;
    let (row, missing) = crate::plugins::admin::install(&s.store, &rt, &t, &body).await?;
    Ok((StatusCode::CREATED, Json(PluginInstalled { name: row.name, version: row.version, missing_grants: missing })))
}

/// `PUT /api/v1/plugins/{name}/grants`.
pub async fn grant_plugin(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(g): ApiJson<Grants>,
) -> ApiResult<Json<PluginGrants>> {
    let http = g.http.into_iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
    let p = s.store.set_plugin_grants(c.tenant_id()?, &name, &Grants { http, ..g }).await?;
    Ok(Json(PluginGrants { name: p.name, grants: p.grants }))
}

/// A plugin's grants after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginGrants {
    /// The plugin.
    pub name: String,
    /// What the tenant granted it now.
    pub grants: Grants,
}

/// Whether a plugin runs, after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginEnabled {
    /// The plugin.
    pub name: String,
    /// Whether its nodes run.
    pub enabled: bool,
}

/// Enable form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EnabledBody {
    /// Whether the plugin runs.
    pub enabled: bool,
}

/// `PUT /api/v1/plugins/{name}/enabled`.
pub async fn enable_plugin(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<EnabledBody>,
) -> ApiResult<Json<PluginEnabled>> {
    s.store.set_plugin_enabled(c.tenant_id()?, &name, b.enabled).await?;
    Ok(Json(PluginEnabled { name, enabled: b.enabled }))
}

/// `DELETE /api/v1/plugins/{name}`.
pub async fn remove_plugin(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let t = tenant(&s, &c).await?;
    s.store.plugin(t.id, &name).await?;
    crate::plugins::admin::remove(&s.store, &t, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/prompts`.
pub async fn list_prompts(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PromptPage>> {
    let mut rows = s.store.list_prompts(Some(c.tenant_id()?)).await?;
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<PromptView> = rows
        .into_iter()
        .map(|p| PromptView { name: p.name, duration_ms: p.duration_ms, original_name: p.original_name, created_at: p.created_at })
        .collect();
    Ok(Json(page_by(rows, &q, |r| r.name.clone()).into()))
}

/// `DELETE /api/v1/prompts/{name}`: refused (409, saying where) while the company's
/// settings or a scenario use it.
pub async fn delete_prompt(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    crate::company::delete_prompt(&s.store, &t, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A prompt's new name.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptRename {
    /// Letters, digits, `-` and `_`, at most 64.
    pub name: String,
}

/// `PUT /api/v1/prompts/{name}`: renames it; refused (409, saying where) while the company
/// uses it under its old name.
pub async fn rename_prompt(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<PromptRename>,
) -> ApiResult<StatusCode> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    crate::company::rename_prompt(&s.store, &t, &name, &b.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An uploaded greeting, announcement or music.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PromptView {
    /// The name scenarios and settings use.
    pub name: String,
    /// Its length, ms.
    pub duration_ms: i64,
    /// The uploaded file's name.
    pub original_name: String,
    /// Upload time, ms since the epoch.
    pub created_at: i64,
}

/// A prompt just uploaded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PromptUploaded {
    /// Its name.
    pub name: String,
    /// Its length after conversion, ms.
    pub duration_ms: i64,
}

/// Upload query.
#[derive(Debug, Deserialize)]
pub struct PromptQuery {
    /// The prompt's name.
    pub name: String,
    /// The original file name.
    #[serde(default)]
    pub filename: String,
}

/// `POST /api/v1/prompts?name=NAME`: the body is the audio file.
pub async fn upload_prompt(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<PromptQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<PromptUploaded>)> {
    let name = q.name.trim();
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ApiError::bad("the name must be 1 to 64 letters, digits, '-' or '_'"));
    }
    if body.is_empty() {
        return Err(ApiError::bad("the file is empty"));
    }
    let t = c.tenant_id()?;
    let (ms, _) = crate::prompts::upload_prompt(&s.store, &s.data_dir, t, name, &q.filename, &body).await?;
    Ok((StatusCode::CREATED, Json(PromptUploaded { name: name.to_string(), duration_ms: ms })))
}

/// `GET /api/v1/prompts/{name}/audio`.
pub async fn prompt_audio(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Response> {
    let t = c.tenant_id()?;
    let p = s
        .store
        .list_prompts(Some(t))
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::not_found(format!("prompt {name}")))?;
    let bytes = tokio::fs::read(&p.path).await.map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response())
}

/// `POST /api/v1/plugins/{name}/outputs`: the outputs a node of this plugin would have with
/// the given configuration (the editor draws them), or why the configuration is invalid.
pub async fn plugin_outputs(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(config): ApiJson<PluginConfig>,
) -> ApiResult<Json<PluginOutputs>> {
    use crate::scenario::validate::Catalog;
    let t = tenant(&s, &c).await?;
    let rt = s.runtime().await?;
    if !rt.builtins().any(|b| b.metadata.name == name) {
        s.store.plugin(t.id, &name).await?;
    }
    let catalog = TenantCatalog::load(&s.store, &rt, t).await?;
    let outputs = catalog.plugin_outputs(&name, &Value::Object(config.0)).map_err(ApiError::bad)?;
    Ok(Json(PluginOutputs { outputs }))
}

/// A plugin node's configuration (its schema is the plugin's `config_schema`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct PluginConfig(pub serde_json::Map<String, Value>);

/// The outputs a plugin node has with a configuration.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginOutputs {
    /// Output names, in the plugin's order (each may lead to a next node).
    pub outputs: Vec<String>,
}
