//! The "missed and not called back" list: a supervisor sees the company's, an employee the
//! calls that rang them. The cabinet shows it with a badge in the menu and a call-back button.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiQuery, ApiResult};
use axum::Json;
use axum::extract::State;
use pbx_store::MissedNumber;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Days looked back when the request names none.
const DEFAULT_DAYS: i64 = 30;

/// The period and whose list.
#[derive(Debug, Deserialize)]
pub struct MissedQuery {
    /// Days looked back (1-90, default 30).
    pub days: Option<i64>,
    /// A supervisor's own list instead of the company's.
    #[serde(default)]
    pub mine: bool,
}

/// Numbers missed and not reached since, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MissedList {
    /// The numbers.
    pub items: Vec<MissedNumber>,
    /// Whose list: `company` or `mine`.
    pub scope: String,
    /// The period's start, ms since the epoch.
    pub since: i64,
}

/// `GET /api/v1/missed`.
pub async fn list(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<MissedQuery>,
) -> ApiResult<Json<MissedList>> {
    let days = q.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=90).contains(&days) {
        let (what, lo, hi) = ("days", 1, 90);
        return Err(ApiError::bad(format!("{what} must be {lo} to {hi}")));
    }
    let tenant = c.tenant_id()?;
    let user = if c.is_supervisor() && !q.mine {
        None
    } else {
        Some(c.user_id().ok_or_else(|| ApiError::forbidden("this token does not act as a user"))?)
    };
    let since = pbx_store::now_ms() - days * 86_400_000;
    let items = s.store.missed_not_returned(tenant, user, since, pbx_store::missed::MAX_MISSED).await?;
    Ok(Json(MissedList { items, scope: if user.is_some() { "mine" } else { "company" }.into(), since }))
}
