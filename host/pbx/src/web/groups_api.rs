//! Ring groups and queues for the company's supervisors: created, changed and deleted with
//! the same checks as the CLI's (`pbx group|queue create`); a group a scenario still sends
//! calls to is not deleted.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pbx_store::{Group, GroupKind, NewGroup};
use serde::Deserialize;
use std::sync::Arc;

/// A ring group's or queue's settings; what is left out takes its default (on creation) or
/// keeps its value (on change).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// The extension callers dial (creation only; 2 to 6 digits).
    pub ext: Option<String>,
    /// `ring` (a ring group) or `queue` (creation only).
    pub kind: Option<String>,
    /// Ring groups: simultaneous, random, sequential, round-robin; queues: ring-all,
    /// round-robin, longest-idle, fewest-calls.
    pub strategy: Option<String>,
    /// Member (agent) extensions, in order.
    pub members: Option<Vec<String>>,
    /// A name for people.
    pub name: Option<String>,
    /// Seconds each member rings (3-600).
    pub ring_seconds: Option<i64>,
    /// Ring groups: seconds the group rings in total (3-3600).
    pub timeout_seconds: Option<i64>,
    /// Queues: longest wait, seconds (5-86400).
    pub max_wait_seconds: Option<i64>,
    /// Queues: most callers waiting (1-10000).
    pub max_length: Option<i64>,
    /// Queues: seconds an agent rests after a call (0-3600).
    pub wrap_up_seconds: Option<i64>,
    /// Queues: seconds between position announcements (5-3600).
    pub announce_seconds: Option<i64>,
    /// Queues: callers may ask to be called back.
    pub callback: Option<bool>,
}

impl GroupBody {
    /// The body's values over `g`.
    fn apply(self, g: &mut NewGroup) {
        if let Some(v) = self.strategy {
            g.strategy = v;
        }
        if let Some(v) = self.members {
            g.members = v.into_iter().map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect();
        }
        if let Some(v) = self.name {
            g.name = v.trim().to_string();
        }
        g.ring_seconds = self.ring_seconds.unwrap_or(g.ring_seconds);
        g.timeout_seconds = self.timeout_seconds.unwrap_or(g.timeout_seconds);
        g.max_wait_seconds = self.max_wait_seconds.unwrap_or(g.max_wait_seconds);
        g.max_length = self.max_length.unwrap_or(g.max_length);
        g.wrap_up_seconds = self.wrap_up_seconds.unwrap_or(g.wrap_up_seconds);
        g.announce_seconds = self.announce_seconds.unwrap_or(g.announce_seconds);
        g.callback = self.callback.unwrap_or(g.callback);
    }
}

/// `POST /api/v1/groups`.
pub async fn create_group(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiJson(b): ApiJson<GroupBody>,
) -> ApiResult<(StatusCode, Json<Group>)> {
    let ext = b.ext.clone().ok_or_else(|| ApiError::bad("`ext` is required"))?;
    let kind = match b.kind.as_deref().unwrap_or("ring") {
        "ring" => GroupKind::Ring,
        "queue" => GroupKind::Queue,
        _ => return Err(ApiError::bad("`kind` must be ring or queue")),
    };
    let strategy = if kind == GroupKind::Ring { "simultaneous" } else { "ring-all" };
    let mut g = NewGroup::new(kind, ext.trim(), strategy, Vec::new());
    b.apply(&mut g);
    Ok((StatusCode::CREATED, Json(s.store.create_group(c.tenant_id()?, &g).await?)))
}

/// `PUT /api/v1/groups/{ext}`.
pub async fn update_group(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
    ApiJson(b): ApiJson<GroupBody>,
) -> ApiResult<Json<Group>> {
    let tenant = c.tenant_id()?;
    if b.ext.as_deref().is_some_and(|e| e != ext) || b.kind.is_some() {
        return Err(ApiError::bad("a group's extension and kind do not change: create another one"));
    }
    let old = s.store.group_by_ext(tenant, &ext).await?;
    let mut g = NewGroup::new(old.kind, &old.ext, &old.strategy, old.members);
    g.name = old.name;
    g.ring_seconds = old.ring_seconds;
    g.timeout_seconds = old.timeout_seconds;
    g.max_wait_seconds = old.max_wait_seconds;
    g.max_length = old.max_length;
    g.wrap_up_seconds = old.wrap_up_seconds;
    g.announce_seconds = old.announce_seconds;
    g.callback = old.callback;
    b.apply(&mut g);
    Ok(Json(s.store.update_group(tenant, &g).await?))
}

/// `DELETE /api/v1/groups/{ext}`: refused (409, saying where) while a scenario sends calls
/// to it.
pub async fn delete_group(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(ext): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    crate::company::delete_group(&s.store, &t, &ext).await?;
    Ok(StatusCode::NO_CONTENT)
}
