//! Who is on the phone: every user of the company with what they are doing (offline, idle,
//! do not disturb, ringing, talking), as the call engine last published it.

use super::WebState;
use super::auth::Caller;
use super::error::ApiResult;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// One colleague's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Presence {
    /// Extension.
    pub ext: String,
    /// Name.
    pub name: String,
    /// `offline` (no phone registered), `idle`, `dnd`, `ringing` or `talking`.
    pub state: String,
}

/// The company's users and their states.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresenceList {
    /// Every user, by extension.
    pub users: Vec<Presence>,
    /// When the engine last published a change, ms since the epoch (0: never).
    pub updated_at: i64,
}

/// `GET /api/v1/presence`.
pub async fn list(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<PresenceList>> {
    let tenant = c.tenant_id()?;
    let (status, updated_at) = s.store.presence(tenant).await?.unwrap_or_default();
    let states: HashMap<String, String> = serde_json::from_str::<Vec<serde_json::Value>>(&status)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| Some((v["ext"].as_str()?.to_string(), v["state"].as_str()?.to_string())))
        .collect();
    let users = s
        .store
        .list_users(tenant)
        .await?
        .into_iter()
        .map(|u| Presence { state: states.get(&u.ext).cloned().unwrap_or_else(|| "offline".into()), ext: u.ext, name: u.name })
        .collect();
    Ok(Json(PresenceList { users, updated_at }))
}
