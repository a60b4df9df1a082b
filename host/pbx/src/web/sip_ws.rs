//! `GET /sip`: SIP over WebSocket (RFC 7118) on the HTTP port, for browsers' phones. A
//! standard client (JsSIP, SIP.js) registers with the user's SIP credentials (digest, as a
//! desk phone does); the cabinet's web phone opens it with the user's signed-in session and
//! needs no SIP password (the session speaks for that one user).

use super::WebState;
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;

/// The path browsers connect to (`ws://HOST:PORT/sip`).
pub const PATH: &str = "/sip";

/// The route.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new().route(PATH, get(socket)).with_state(state)
}

fn offers_sip(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("sip"))
}

async fn socket(
    State(s): State<Arc<WebState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(gate) = s.sip.get().cloned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "this server carries no SIP").into_response();
    };
    if !offers_sip(&headers) {
        return (StatusCode::BAD_REQUEST, "a SIP WebSocket needs the subprotocol \"sip\" (RFC 7118)").into_response();
    }
    let Some(slot) = gate.transports.gate.admit(peer.ip()) else {
        gate.metrics.connections_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, "too many SIP connections").into_response();
    };
    // Only the cabinet's own pages may lend the session to the phone (a page of another site
    // must not phone with the user's cookie).
    let user = if super::live::same_origin(&headers) && headers.contains_key(axum::http::header::COOKIE) {
        super::auth::caller(&s, &Method::GET, &headers).await.ok().and_then(|c| c.user_id())
    } else {
        None
    };
    let secure = super::auth::secure(&headers);
    ws.protocols(["sip"]).max_message_size(pbx_sip::parse::MAX_MESSAGE_SIZE).on_upgrade(move |socket| async move {
        let _slot = slot;
        crate::transport::serve_ws(socket, peer, secure, gate, user).await
    })
}
