//! Operator routes: tenants (create with the default setup, suspend, resume, balance),
//! their city numbers, the carrier trunks and operator API tokens.

use super::WebState;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use super::paging::{PageQuery, listing, page_by, page_of};
use super::tenant_api::{NewToken, TokenPage};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pbx_store::{Tenant, TenantStatus};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

listing!(
    /// A page of the hosted tenants.
    TenantPage of pbx_store::Tenant
);
listing!(
    /// A page of a tenant's city numbers.
    DidPage of DidView
);
listing!(
    /// A page of the carrier trunks.
    TrunkPage of pbx_store::Trunk
);

/// `GET /api/v1/tenants`.
pub async fn list_tenants(State(s): State<Arc<WebState>>, ApiQuery(q): ApiQuery<PageQuery>) -> ApiResult<Json<TenantPage>> {
    let limit = q.limit();
    let ts = s.store.tenants_page(q.after.as_deref(), limit as i64 + 1).await?;
    Ok(Json(page_of(ts, limit, |t| t.slug.clone()).into()))
}

/// New tenant form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TenantBody {
    /// Short name used in logins (`101@slug`).
    pub slug: String,
    /// SIP domain.
    pub domain: String,
    /// Company name.
    #[serde(default)]
    pub name: String,
    /// Extension of the first supervisor (default 100; an empty string: none).
    #[serde(default)]
    pub supervisor_ext: Option<String>,
}

/// `POST /api/v1/tenants`: the company with its first supervisor, whose generated
/// passwords this answer carries once.
pub async fn create_tenant(
    State(s): State<Arc<WebState>>,
    ApiJson(b): ApiJson<TenantBody>,
) -> ApiResult<(StatusCode, Json<crate::company::CreatedCompany>)> {
    let ext = match b.supervisor_ext.as_deref().map(str::trim) {
        None => Some(crate::company::DEFAULT_SUPERVISOR_EXT),
        Some("") => None,
        Some(e) => Some(e),
    };
    let c = crate::company::create_company(&s.store, &b.slug, &b.domain, &b.name, ext).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// A tenant with the sizes the operator's console shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    /// The tenant as stored.
    #[serde(flatten)]
    pub tenant: Tenant,
    /// How many users it has.
    pub users: u64,
    /// How many city numbers it has.
    pub numbers: u64,
}

/// `GET /api/v1/tenants/{slug}`.
pub async fn get_tenant(State(s): State<Arc<WebState>>, ApiPath(slug): ApiPath<String>) -> ApiResult<Json<TenantView>> {
    let t = s.store.tenant_by_slug(&slug).await?;
    let users = s.store.list_users(t.id).await?.len() as u64;
    let numbers = s.store.list_dids(Some(t.id)).await?.len() as u64;
    Ok(Json(TenantView { tenant: t, users, numbers }))
}

/// `POST /api/v1/tenants/{slug}/suspend`.
pub async fn suspend(State(s): State<Arc<WebState>>, ApiPath(slug): ApiPath<String>) -> ApiResult<Json<Tenant>> {
    Ok(Json(s.store.set_tenant_status(&slug, TenantStatus::Suspended).await?))
}

/// `POST /api/v1/tenants/{slug}/resume`.
pub async fn resume(State(s): State<Arc<WebState>>, ApiPath(slug): ApiPath<String>) -> ApiResult<Json<Tenant>> {
    Ok(Json(s.store.set_tenant_status(&slug, TenantStatus::Active).await?))
}

/// Balance form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BalanceBody {
    /// Amount such as `100` or `99.50`.
    pub amount: String,
}

/// A city number as the operator sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DidView {
    /// The number in E.164.
    pub number: String,
    /// The trunk it arrives on.
    pub trunk: String,
    /// The extension whose own number it is, if any.
    pub user: Option<String>,
    /// Whether it is the tenant's main number (presented on outbound calls).
    pub main: bool,
}

impl From<&pbx_store::Did> for DidView {
    fn from(d: &pbx_store::Did) -> DidView {
        DidView { number: d.number.clone(), trunk: d.trunk.clone(), user: d.user_ext.clone(), main: d.is_main }
    }
}

/// `GET /api/v1/tenants/{slug}/numbers`.
pub async fn list_numbers(
    State(s): State<Arc<WebState>>,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<DidPage>> {
    let t = s.store.tenant_by_slug(&slug).await?;
    let mut dids = s.store.list_dids(Some(t.id)).await?;
    dids.sort_by(|a, b| a.number.cmp(&b.number));
    let rows: Vec<DidView> = dids.iter().map(DidView::from).collect();
    Ok(Json(page_by(rows, &q, |r| r.number.clone()).into()))
}

/// New number form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
    ApiPath(slug): ApiPath<String>,
    ApiJson(b): ApiJson<NumberBody>,
) -> ApiResult<(StatusCode, Json<DidView>)> {
    let t = s.store.tenant_by_slug(&slug).await?;
    let d = s.store.add_did(t.id, &b.number, &b.trunk, b.user.as_deref().filter(|u| !u.is_empty()), b.main).await?;
    Ok((StatusCode::CREATED, Json(DidView::from(&d))))
}

/// `DELETE /api/v1/tenants/{slug}/numbers/{number}`.
pub async fn delete_number(State(s): State<Arc<WebState>>, ApiPath((slug, number)): ApiPath<(String, String)>) -> ApiResult<StatusCode> {
    let t = s.store.tenant_by_slug(&slug).await?;
    s.store.delete_did(t.id, &number).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new carrier trunk.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrunkBody {
    /// Name (letters, digits, - and _).
    pub name: String,
    /// The carrier's `host:port`.
    pub host: String,
    /// Digest user (registering trunks).
    pub username: Option<String>,
    /// Digest password (registering trunks; never shown again).
    #[schema(write_only)]
    pub password: Option<String>,
    /// Register to the carrier (else an IP trunk).
    #[serde(default)]
    pub register: bool,
    /// Addresses or CIDRs the carrier sends from (IP trunks need one).
    #[serde(default)]
    pub allow_ips: Vec<String>,
}

/// A trunk's fields as the form sent them: trimmed, with empty credentials and addresses
/// left out (an empty password on a change keeps the stored one).
fn trunk_fields<'a>(
    name: &'a str,
    host: &'a str,
    username: &'a Option<String>,
    password: &'a Option<String>,
    register: bool,
    allow_ips: &[String],
) -> pbx_store::NewTrunk<'a> {
    pbx_store::NewTrunk {
        name,
        host: host.trim(),
        username: username.as_deref().map(str::trim).filter(|u| !u.is_empty()),
        password: password.as_deref().filter(|p| !p.is_empty()),
        register,
        allow_ips: allow_ips.iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect(),
    }
}

/// `POST /api/v1/trunks`: the same checks as `pbx trunk create`.
pub async fn create_trunk(
    State(s): State<Arc<WebState>>,
    ApiJson(b): ApiJson<TrunkBody>,
) -> ApiResult<(StatusCode, Json<pbx_store::Trunk>)> {
    let t = s.store.create_trunk(&trunk_fields(b.name.trim(), &b.host, &b.username, &b.password, b.register, &b.allow_ips)).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// A trunk's new settings (its name stays).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrunkChange {
    /// The carrier's `host:port`.
    pub host: String,
    /// Register to the carrier (with `username` and `password`).
    #[serde(default)]
    pub register: bool,
    /// Digest user name.
    pub username: Option<String>,
    /// Digest password; left out or empty: the stored one stays.
    pub password: Option<String>,
    /// Addresses or networks calls are accepted from.
    #[serde(default)]
    pub allow_ips: Vec<String>,
}

/// `PUT /api/v1/trunks/{name}`.
pub async fn update_trunk(
    State(s): State<Arc<WebState>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<TrunkChange>,
) -> ApiResult<Json<pbx_store::Trunk>> {
    Ok(Json(s.store.update_trunk(&trunk_fields(&name, &b.host, &b.username, &b.password, b.register, &b.allow_ips)).await?))
}

/// `DELETE /api/v1/trunks/{name}`: refused (409) while it carries city numbers.
pub async fn delete_trunk(State(s): State<Arc<WebState>>, ApiPath(name): ApiPath<String>) -> ApiResult<StatusCode> {
    s.store.delete_trunk(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/trunks`.
pub async fn list_trunks(State(s): State<Arc<WebState>>, ApiQuery(q): ApiQuery<PageQuery>) -> ApiResult<Json<TrunkPage>> {
    let mut ts = s.store.list_trunks().await?;
    ts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(page_by(ts, &q, |t| t.name.clone()).into()))
}

/// `GET /api/v1/operator/tokens`.
pub async fn list_tokens(State(s): State<Arc<WebState>>, ApiQuery(q): ApiQuery<PageQuery>) -> ApiResult<Json<TokenPage>> {
    let rows = s.store.list_tokens(None).await?;
    Ok(Json(page_by(rows, &q, |t| format!("{:020}", t.id)).into()))
}

/// New operator token form (a `role` field, which older clients send, is ignored).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OperatorTokenBody {
    /// What it is for.
    #[serde(default)]
    pub label: String,
}

/// `POST /api/v1/operator/tokens`.
pub async fn create_token(
    State(s): State<Arc<WebState>>,
    ApiJson(b): ApiJson<OperatorTokenBody>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    let (id, secret) = s.store.create_token(None, "operator", None, &b.label).await?;
    Ok((StatusCode::CREATED, Json(NewToken { id, token: secret, role: "operator".into(), label: b.label })))
}

/// `DELETE /api/v1/operator/tokens/{id}`.
pub async fn revoke_token(State(s): State<Arc<WebState>>, ApiPath(id): ApiPath<String>) -> ApiResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found(format!("token {id}")))?;
    s.store.revoke_token(None, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
