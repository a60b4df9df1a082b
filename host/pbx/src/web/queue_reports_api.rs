//! Queue reports for a period (service level, abandoned callers and their waits, waits and
//! talk, per agent), read by the reports page and the wallboard.

use super::WebState;
use super::auth::Caller;
use super::calls_api::parse_time;
use super::error::{ApiError, ApiQuery, ApiResult};
use axum::Json;
use axum::extract::State;
use pbx_store::queue_reports::QueueReport;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The period and the service level's threshold.
#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    /// Start: RFC 3339 or YYYY-MM-DD in the company's zone (default: today's start).
    pub from: Option<String>,
    /// End: RFC 3339 or YYYY-MM-DD, that day included (default: now).
    pub to: Option<String>,
    /// Answered within this many seconds counts for the service level (1-600, default 20).
    pub sl: Option<i64>,
}

/// Every queue's figures for a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueReports {
    /// Period start, ms since the epoch.
    pub from: i64,
    /// Period end (exclusive), ms since the epoch.
    pub to: i64,
    /// The service level's answer time, seconds.
    pub threshold_seconds: i64,
    /// One entry per queue that had callers in the period.
    pub queues: Vec<QueueReport>,
}

/// `GET /api/v1/queue-reports`.
pub async fn reports(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Json<QueueReports>> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    let now = pbx_store::now_ms();
    let today = jiff::Timestamp::from_millisecond(now)
        .ok()
        .and_then(|ts| jiff::tz::TimeZone::get(&t.timezone).ok().map(|tz| ts.to_zoned(tz)))
        .and_then(|z| z.start_of_day().ok())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(now - 86_400_000);
    let from = match q.from.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => parse_time(v, &t.timezone, false).ok_or_else(|| ApiError::bad("`from` must be RFC 3339 or YYYY-MM-DD"))?,
        None => today,
    };
    let to = match q.to.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => parse_time(v, &t.timezone, true).ok_or_else(|| ApiError::bad("`to` must be RFC 3339 or YYYY-MM-DD"))?,
        None => now + 1,
    };
    if to <= from {
        return Err(ApiError::bad("the period ends before it starts"));
    }
    let sl = q.sl.unwrap_or(20);
    if !(1..=600).contains(&sl) {
        let (what, lo, hi) = ("service level threshold", 1, 600);
        return Err(ApiError::bad(format!("{what} must be {lo} to {hi}")));
    }
    let queues = s.store.queue_reports(t.id, from, to, sl * 1000).await?;
    Ok(Json(QueueReports { from, to, threshold_seconds: sl, queues }))
}
