//! Shared recording links: a CRM (or anyone the user hands the address to) fetches one call's
//! recording without an account, until the link expires. The link is signed (HMAC-SHA256
//! with the server's link key), names its tenant and call, and carries its expiry, so the
//! server keeps no state per link and a forged or altered link is refused.

use super::WebState;
use super::auth::Caller;
use super::calls_api::{serve_recording, serve_wav, visible_call};
use super::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

type HmacSha256 = Hmac<sha2::Sha256>;

/// Default lifetime of a link, seconds (a day).
pub const DEFAULT_TTL_SECS: u64 = 86_400;
/// Longest lifetime of a link, seconds (a week).
pub const MAX_TTL_SECS: u64 = 7 * 86_400;
/// Shortest lifetime of a link, seconds.
pub const MIN_TTL_SECS: u64 = 60;

/// The server's key for signing links: `PBX_LINK_KEY` (64 hex digits; the same on every
/// node), else a key kept in the data directory (created on first start), so links outlive
/// a restart. An unusable key is an error: links that die at every restart, or differ
/// between nodes, would fail without anyone noticing.
pub fn link_key(data_dir: &std::path::Path) -> Result<[u8; 32], String> {
    crate::keys::load_or_create(data_dir, "link.key", "PBX_LINK_KEY")
}

/// What a link grants: one call's recording of one tenant until a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkGrant {
    /// Tenant.
    pub tenant_id: i64,
    /// The call.
    pub call_id: String,
    /// Expiry, seconds since the epoch.
    pub expires_s: u64,
}

/// Signs a grant into the token that goes in the link.
pub fn sign(key: &[u8; 32], g: &LinkGrant) -> String {
    let payload = format!("{}:{}:{}", g.tenant_id, g.expires_s, g.call_id);
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable_key());
    mac.update(payload.as_bytes());
    format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// HMAC takes keys of any length; this never runs.
fn unreachable_key() -> HmacSha256 {
    HmacSha256::new(&Default::default())
}

/// Why a token grants nothing.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token this server signed (or altered).
    #[error("no such link")]
    Invalid,
    /// Signed, but past its expiry.
    #[error("the link has expired")]
    Expired,
}

/// Checks a token's signature (in constant time) and expiry.
pub fn verify(key: &[u8; 32], token: &str, now_s: u64) -> Result<LinkGrant, LinkError> {
    let (p, sig) = token.split_once('.').ok_or(LinkError::Invalid)?;
    let (payload, sig) =
        (URL_SAFE_NO_PAD.decode(p).map_err(|_| LinkError::Invalid)?, URL_SAFE_NO_PAD.decode(sig).map_err(|_| LinkError::Invalid)?);
    let mut mac = HmacSha256::new_from_slice(key).map_err(|_| LinkError::Invalid)?;
    mac.update(&payload);
    mac.verify_slice(&sig).map_err(|_| LinkError::Invalid)?;
    let text = String::from_utf8(payload).map_err(|_| LinkError::Invalid)?;
    let mut parts = text.splitn(3, ':');
    let tenant_id = parts.next().and_then(|s| s.parse().ok()).ok_or(LinkError::Invalid)?;
    let expires_s: u64 = parts.next().and_then(|s| s.parse().ok()).ok_or(LinkError::Invalid)?;
    let call_id = parts.next().ok_or(LinkError::Invalid)?.to_string();
    if now_s >= expires_s {
        return Err(LinkError::Expired);
    }
    Ok(LinkGrant { tenant_id, call_id, expires_s })
}

fn now_s() -> u64 {
    u64::try_from(pbx_store::now_ms() / 1000).unwrap_or(0)
}

/// How long a new link lives.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
pub struct LinkBody {
    /// Seconds (60 to 604,800; default 86,400).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
}

/// `POST /api/v1/recordings/{id}/link`: a signed address of the recording that works without
/// signing in until it expires.
pub async fn create(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<SharedLink>> {
    let b: LinkBody = if body.iter().all(u8::is_ascii_whitespace) {
        LinkBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("unreadable link request: {e}")))?
    };
    let ttl = b.ttl_seconds.unwrap_or(DEFAULT_TTL_SECS);
    if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&ttl) {
        return Err(ApiError::bad(format!("ttl_seconds must be from {MIN_TTL_SECS} to {MAX_TTL_SECS}")));
    }
    let call = visible_call(&s, &c, &id).await?;
    // Only a call that has a recording gets a link.
    s.store.recording(call.tenant_id, &id).await?;
    let grant = LinkGrant { tenant_id: call.tenant_id, call_id: id, expires_s: now_s() + ttl };
    let path = format!("/api/v1/shared/recordings/{}", sign(&s.link_key, &grant));
    Ok(Json(SharedLink { wav_url: format!("{path}?format=wav"), url: path, expires_at: grant.expires_s * 1000 }))
}

/// A signed link to a recording.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SharedLink {
    /// Path of the recording as stored (Ogg/Opus, HTTP Range), under the cabinet's address.
    pub url: String,
    /// Path of the recording as two-channel WAV.
    pub wav_url: String,
    /// When the link stops working, ms since the epoch.
    pub expires_at: u64,
}

/// The format a shared link serves.
#[derive(Debug, Deserialize)]
pub struct SharedQuery {
    /// `ogg` (as stored, with HTTP Range; the default), `wav` (two channels, decoded) or
    /// `mp3` (two channels, 32 kbps).
    #[serde(default)]
    pub format: Option<String>,
}

/// `GET /api/v1/shared/recordings/{token}`: the recording a link grants.
pub async fn fetch(
    State(s): State<Arc<WebState>>,
    ApiPath(token): ApiPath<String>,
    ApiQuery(q): ApiQuery<SharedQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let grant = match verify(&s.link_key, &token, now_s()) {
        Ok(g) => g,
        Err(LinkError::Invalid) => return Err(ApiError::not_found("link")),
        Err(e @ LinkError::Expired) => return Err(ApiError { status: axum::http::StatusCode::GONE, message: e.to_string() }),
    };
    let tenant = s.store.tenant_by_id(grant.tenant_id).await?;
    if tenant.status == pbx_store::TenantStatus::Suspended {
        return Err(ApiError::forbidden("the company's account is suspended"));
    }
    let rec = s.store.recording(grant.tenant_id, &grant.call_id).await?;
    let mut resp = match q.format.as_deref() {
        None | Some("ogg") => serve_recording(&rec, &grant.call_id, &headers).await?,
        Some("wav") => serve_wav(&rec, &grant.call_id).await?,
        Some("mp3") => super::recording_mp3::serve_mp3(&rec, &grant.call_id).await?,
        Some(other) => return Err(ApiError::bad(format!("format {other:?}: use ogg, wav or mp3"))),
    };
    // The address is the credential: no cache keeps the audio, no page passes the address on.
    let h = resp.headers_mut();
    h.insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("private, no-store"));
    h.insert(axum::http::header::REFERRER_POLICY, axum::http::HeaderValue::from_static("no-referrer"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_grants_its_call_until_it_expires_and_nothing_else() {
        let key = [7u8; 32];
        let g = LinkGrant { tenant_id: 3, call_id: "a:b@c".into(), expires_s: 1_000 };
        let token = sign(&key, &g);
        assert_eq!(verify(&key, &token, 999), Ok(g.clone()));
        assert_eq!(verify(&key, &token, 1_000), Err(LinkError::Expired));
        // Another server's key, an altered payload or signature: refused.
        assert_eq!(verify(&[8u8; 32], &token, 0), Err(LinkError::Invalid));
        let (p, sig) = token.split_once('.').unwrap();
        let other = URL_SAFE_NO_PAD.encode("4:1000:a:b@c");
        assert_eq!(verify(&key, &format!("{other}.{sig}"), 0), Err(LinkError::Invalid));
        let longer = URL_SAFE_NO_PAD.encode("3:99999:a:b@c");
        assert_eq!(verify(&key, &format!("{longer}.{sig}"), 0), Err(LinkError::Invalid));
        assert_eq!(verify(&key, &format!("{p}.{}", &sig[1..]), 0), Err(LinkError::Invalid));
        for junk in ["", ".", "x", "..", "a.b.c", "%%.%%"] {
            assert_eq!(verify(&key, junk, 0), Err(LinkError::Invalid), "{junk:?}");
        }
    }

    #[test]
    fn the_key_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let a = link_key(dir.path()).unwrap();
        assert_eq!(link_key(dir.path()).unwrap(), a);
        // A damaged key file is an error, not a silent new key.
        std::fs::write(dir.path().join("link.key"), "short").unwrap();
        assert!(link_key(dir.path()).is_err());
        assert_eq!(crate::keys::decode_hex(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(crate::keys::decode_hex("zz"), None);
    }
}
