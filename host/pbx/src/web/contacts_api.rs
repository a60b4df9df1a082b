//! Tenant routes for the phone book: list and search, add or change, delete, CSV import and
//! export. The same store functions and CSV service as `pbx contact ...` do the work.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use super::paging::{PageQuery, listing, page_of};
use crate::contacts::{CsvDelimiter, csv_head, csv_rows, parse_csv};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pbx_store::NewContact;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

listing!(
    /// A page of the phone book, by number.
    ContactPage of pbx_store::Contact
);

/// What an import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    /// Numbers that had no contact before.
    pub added: u64,
    /// Numbers whose contact the file replaced.
    pub replaced: u64,
}

/// Paging and search of the phone book.
#[derive(Debug, Deserialize)]
pub struct ContactQuery {
    /// Rows per page.
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Digits of the number or text of the name or company.
    #[serde(default)]
    pub q: String,
}

/// A contact as the form sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ContactBody {
    /// The number in any usual form (normalised to E.164).
    pub number: String,
    /// The name the phones show.
    pub name: String,
    /// Company.
    #[serde(default)]
    pub company: String,
    /// Note.
    #[serde(default)]
    pub note: String,
}

async fn country_code(s: &WebState, tenant_id: i64) -> ApiResult<String> {
    Ok(s.store.tenant_by_id(tenant_id).await?.country_code)
}

/// The stored form of a number in a path (`+74951234567`, `84951234567`...).
async fn path_number(s: &WebState, tenant_id: i64, raw: &str) -> ApiResult<String> {
    let cc = country_code(s, tenant_id).await?;
    pbx_store::numbers::normalize(raw, &cc).ok_or_else(|| ApiError::not_found(format!("contact {raw}")))
}

/// `GET /api/v1/contacts`.
pub async fn list(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> ApiResult<Json<ContactPage>> {
    if q.q.chars().count() > 100 {
        return Err(ApiError::bad("the search is longer than 100 characters"));
    }
    let page = PageQuery { limit: q.limit, after: q.after.clone() };
    let tenant = c.tenant_id()?;
    let cc = country_code(&s, tenant).await?;
    let rows = s.store.list_contacts(tenant, &cc, &q.q, q.after.as_deref(), page.limit() as i64 + 1).await?;
    Ok(Json(page_of(rows, page.limit(), |r| r.number.clone()).into()))
}

/// `PUT /api/v1/contacts/{number}`: adds or changes the contact of that number.
pub async fn put(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(number): ApiPath<String>,
    ApiJson(b): ApiJson<ContactBody>,
) -> ApiResult<Response> {
    let tenant = c.tenant_id()?;
    let cc = country_code(&s, tenant).await?;
    let checked = NewContact { number: b.number, name: b.name, company: b.company, note: b.note }.check(&cc)?;
    if pbx_store::numbers::normalize(&number, &cc).as_deref() != Some(checked.number()) {
        return Err(ApiError::bad("the number in the path and in the body differ"));
    }
    let (added, _) = s.store.upsert_contacts(tenant, std::slice::from_ref(&checked), "cabinet").await?;
    let stored = s.store.contact(tenant, checked.number()).await?;
    let status = if added == 1 { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(stored)).into_response())
}

/// `DELETE /api/v1/contacts/{number}`.
pub async fn delete(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let tenant = c.tenant_id()?;
    let n = path_number(&s, tenant, &number).await?;
    s.store.delete_contact(tenant, &n).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/contacts/import`: a CSV file; all lines or none.
pub async fn import(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    body: Bytes,
) -> ApiResult<Json<ImportResult>> {
    let tenant = c.tenant_id()?;
    let cc = country_code(&s, tenant).await?;
    if body.contains(&0) {
        return Err(ApiError::bad("the file may not contain NUL characters"));
    }
    let contacts = parse_csv(&body, &cc).map_err(|e| ApiError::bad(e.to_string()))?;
    let (added, replaced) = s.store.upsert_contacts(tenant, &contacts, "import").await?;
    Ok(Json(ImportResult { added: added as u64, replaced: replaced as u64 }))
}

/// Phone-book exports running at once (each reads the book page by page as it is sent).
static EXPORTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Rows read from the database per step of an export.
const EXPORT_PAGE: i64 = 1000;

/// The options of a CSV export.
#[derive(Debug, Deserialize, Default)]
pub struct CsvQuery {
    /// `comma` (the default) or `semicolon`.
    pub delimiter: Option<String>,
}

/// `GET /api/v1/contacts.csv`: streamed in pages, so a full book never sits in memory whole.
pub async fn export(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<CsvQuery>,
) -> ApiResult<Response> {
    let tenant = c.tenant_id()?;
    let delimiter = CsvDelimiter::parse(q.delimiter.as_deref()).map_err(ApiError::bad)?;
    let Ok(permit) = EXPORTS.try_acquire() else {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            Json(ErrorBody::of(StatusCode::SERVICE_UNAVAILABLE, "exports are busy: try again in a few seconds".into())),
        )
            .into_response());
    };
    let store = s.store.clone();
    // State: (the permit, the cursor, whether the header went out, whether the book ended).
    let start = (permit, None::<String>, false, false);
    let stream = futures_util::stream::unfold(start, move |(permit, after, head_sent, done)| {
        let store = store.clone();
        async move {
            if !head_sent {
                return Some((Ok::<Vec<u8>, std::io::Error>(csv_head(delimiter)), (permit, after, true, false)));
            }
            if done {
                return None;
            }
            let page = match store.list_contacts(tenant, "", "", after.as_deref(), EXPORT_PAGE).await {
                Ok(p) => p,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), (permit, after, true, true))),
            };
            let last = page.last().map(|c| c.number.clone());
            let finished = page.len() < EXPORT_PAGE as usize;
            match csv_rows(&page, delimiter) {
                Ok(bytes) if last.is_some() => Some((Ok(bytes), (permit, last, true, finished))),
                Ok(_) => None,
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), (permit, after, true, true))),
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"contacts.csv\"")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
