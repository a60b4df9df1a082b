//! `POST /api/v1/calls`: click-to-call for the cabinet and for integrations without a plugin.
//! The user's phone rings first; once they answer, the PBX calls the number.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiResult};
use crate::engine::{OriginateError, OriginateRequest};
use crate::originator::OriginateFailure;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use pbx_store::Principal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// What a click-to-call asks for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CallRequest {
    /// The extension whose phone rings first (a user may name only their own; default: the
    /// caller's own).
    #[serde(default)]
    pub ext: Option<String>,
    /// The number to call once they answer: an extension, or a number in any usual form.
    pub number: String,
    /// City number to present (default: the user's own, else the company's main one).
    #[serde(default)]
    pub line: Option<String>,
    /// The integration's id for the call, carried into the call's events (`call.started`).
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// Seconds the user's phone rings (5-120, default 30).
    #[serde(default)]
    pub ring_seconds: Option<u64>,
}

/// A click-to-call placed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallCreated {
    /// The new call's id: its events and call-log row carry it.
    pub call_id: String,
}

/// `POST /api/v1/calls`: answers 201 with the new call's id (its events and call-log row
/// carry it); 409 when the user's phone is not registered.
pub async fn create(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<CallRequest>,
) -> ApiResult<(StatusCode, Json<CallCreated>)> {
    let tenant_id = c.tenant_id()?;
    let own = match &c.principal {
        Principal::User { ext, id, .. } if *id > 0 => Some(ext.clone()),
        _ => None,
    };
    let ext = match (b.ext.as_deref().map(str::trim).filter(|e| !e.is_empty()), own) {
        (Some(e), Some(own)) if e != own && !c.is_supervisor() => {
            return Err(ApiError::forbidden("a user places calls from their own extension only"));
        }
        (Some(_), None) if !c.is_supervisor() => return Err(ApiError::forbidden("a user places calls from their own extension only")),
        (Some(e), _) => e.to_string(),
        (None, Some(own)) => own,
        (None, None) => return Err(ApiError::bad("name the extension whose phone rings first (ext)")),
    };
    if b.number.len() > 64 {
        return Err(ApiError::bad("the number is longer than 64 characters"));
    }
    if b.line.as_deref().is_some_and(|l| !l.trim().is_empty()) && !c.is_supervisor() {
        return Err(ApiError::forbidden("only a supervisor chooses the line a call goes out with"));
    }
    let dedup_key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if !k.is_empty() && k.len() <= 128 => Some(format!("api:{k}")),
        Some(_) => return Err(ApiError::bad("Idempotency-Key must be 1 to 128 visible characters")),
    };
    let Some(originator) = s.originator.get() else {
        return Err(ApiError::unavailable("calls cannot be placed by this process"));
    };
    let req = OriginateRequest {
        tenant_id,
        ext,
        number: b.number,
        line: b.line,
        correlation_id: b.correlation_id,
        ring: b.ring_seconds.map(Duration::from_secs),
        kind: "click-to-call",
        dedup_key,
    };
    match originator.originate(req).await {
        Ok(id) => Ok((StatusCode::CREATED, Json(CallCreated { call_id: id }))),
        Err(OriginateFailure::Refused(e)) => Err(match e {
            OriginateError::NoUser => ApiError::not_found("extension"),
            OriginateError::NotRegistered | OriginateError::TargetNotRegistered | OriginateError::Busy => ApiError::conflict(e.to_string()),
            OriginateError::Balance => ApiError::payment_required(e.to_string()),
            OriginateError::Tenant => ApiError::forbidden(e.to_string()),
            OriginateError::NoMedia => ApiError::unavailable(e.to_string()),
            OriginateError::BadNumber | OriginateError::BadLine | OriginateError::NoTrunk | OriginateError::BadCorrelation => {
                ApiError::bad(e.to_string())
            }
        }),
        Err(e @ OriginateFailure::Unavailable) => {
            Err(ApiError::unavailable(format!("{e}: the call may still be placed; send the request again with the same Idempotency-Key")))
        }
        Err(e) => Err(ApiError::unavailable(e.to_string())),
    }
}
