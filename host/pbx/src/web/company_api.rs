//! The company's own settings, for its supervisors: time zone, prompt language, greeting,
//! music on hold, which calls are recorded and for how long; what the CLI's `tenant set`
//! changes, through the same service.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiJson, ApiResult};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A company's settings as its cabinet shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompanySettings {
    /// The company's name.
    pub name: String,
    /// Its SIP domain (phones register in it).
    pub domain: String,
    /// Its balance, in kopecks (cents).
    pub balance_cents: i64,
    /// Time zone (IANA name): schedules and the call log's days use it.
    pub timezone: String,
    /// Language of the built-in prompts: `ru` or `en`.
    pub language: String,
    /// Prompt played to city-number callers before the phones ring (empty: none).
    pub greeting: String,
    /// Prompt played as music on hold.
    pub music: String,
    /// Directions of calls that are recorded (`inbound`, `outbound`, `internal`).
    pub recording: Vec<String>,
    /// Days recordings are kept.
    pub retention_days: i64,
    /// Working hours (`mon-fri 09:00-18:00; sat 10:00-14:00`); empty: always open.
    pub working_hours: String,
    /// Prompt played to callers of a number without a scenario outside working hours.
    pub after_hours: String,
    /// The built-in prompts a greeting or music can name besides the uploaded ones.
    pub builtin_prompts: Vec<String>,
}

/// A change of settings: fields left out keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanySettingsBody {
    /// Time zone (IANA name such as `Europe/Moscow`).
    pub timezone: Option<String>,
    /// `ru` or `en`.
    pub language: Option<String>,
    /// A prompt name, or empty for no greeting.
    pub greeting: Option<String>,
    /// A prompt name.
    pub music: Option<String>,
    /// The directions to record; empty: none.
    pub recording: Option<Vec<String>>,
    /// 1 to 3650.
    pub retention_days: Option<i64>,
    /// Working hours (`mon-fri 09:00-18:00`); empty: always open.
    pub working_hours: Option<String>,
    /// A prompt name.
    pub after_hours: Option<String>,
}

fn view(t: pbx_store::Tenant) -> CompanySettings {
    CompanySettings {
        name: t.name,
        domain: t.domain,
        balance_cents: t.balance_cents,
        timezone: t.timezone,
        language: t.language,
        greeting: t.greeting_prompt,
        music: t.moh_prompt,
        recording: t.recording,
        retention_days: t.retention_days,
        working_hours: t.working_hours,
        after_hours: t.after_hours_prompt,
        builtin_prompts: pbx_media::prompt::builtin_names().into_iter().map(String::from).collect(),
    }
}

/// `GET /api/v1/settings`.
pub async fn get_settings(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<CompanySettings>> {
    Ok(Json(view(s.store.tenant_by_id(c.tenant_id()?).await?)))
}

/// `PUT /api/v1/settings`.
pub async fn put_settings(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiJson(b): ApiJson<CompanySettingsBody>,
) -> ApiResult<Json<CompanySettings>> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    let settings = pbx_store::TenantSettings {
        recording: b.recording,
        retention_days: b.retention_days,
        language: b.language,
        moh_prompt: b.music,
        greeting_prompt: b.greeting,
        timezone: b.timezone,
        working_hours: b.working_hours,
        after_hours_prompt: b.after_hours,
    };
    Ok(Json(view(crate::company::update_settings(&s.store, &t.slug, &settings).await?)))
}
