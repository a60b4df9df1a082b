//! `GET /api/v1/phone`: what the cabinet's web phone needs to connect: its SIP address, the
//! WebSocket path and the STUN/TURN servers for browsers behind strict NAT.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::sync::Arc;

/// The web phone's settings for the signed-in employee.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PhoneConfig {
    /// The employee's SIP address (`sip:EXT@DOMAIN`).
    pub uri: String,
    /// Path of SIP over WebSocket on this server (RFC 7118, subprotocol `sip`).
    pub ws_path: &'static str,
    /// STUN/TURN servers for the browser's RTCPeerConnection (`PBX_WEBRTC_ICE_SERVERS`).
    pub ice_servers: Vec<crate::webrtc::IceServer>,
}

/// `GET /api/v1/phone`.
pub async fn config(State(s): State<Arc<WebState>>, axum::Extension(c): axum::Extension<Caller>) -> ApiResult<Json<PhoneConfig>> {
    let (tenant_id, ext) = match &c.principal {
        pbx_store::Principal::User { tenant_id, ext, .. } if !ext.is_empty() => (*tenant_id, ext.clone()),
        _ => return Err(ApiError::forbidden("only an employee with an extension has a web phone")),
    };
    let t = s.store.tenant_by_id(tenant_id).await?;
    Ok(Json(PhoneConfig {
        uri: format!("sip:{ext}@{}", t.domain),
        ws_path: super::sip_ws::PATH,
        ice_servers: s.ice_servers.get().cloned().unwrap_or_default(),
    }))
}
