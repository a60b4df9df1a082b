//! The HTTP endpoints of the server beside the cabinet: `/metrics` (for the operator's
//! monitoring only) and `/healthz` (the call engine's heartbeat).

use crate::engine::Input;
use crate::metrics::Metrics;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pbx_media::MediaStats;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long the engine may take to answer a heartbeat before `/healthz` says it stalled.
pub const HEARTBEAT_LIMIT: Duration = Duration::from_secs(2);

/// Asks the call engine, through its own input queue, whether it is still turning.
#[derive(Clone)]
pub struct EngineProbe {
    tx: mpsc::UnboundedSender<Input>,
    alive: watch::Receiver<u64>,
    next: Arc<AtomicU64>,
}

impl EngineProbe {
    /// A probe over the engine's control queue and the heartbeat it publishes.
    pub fn new(tx: mpsc::UnboundedSender<Input>, alive: watch::Receiver<u64>) -> EngineProbe {
        EngineProbe { tx, alive, next: Arc::new(AtomicU64::new(1)) }
    }

    /// True when the engine answered a fresh heartbeat within [`HEARTBEAT_LIMIT`].
    pub async fn ping(&self) -> bool {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Input::Heartbeat(n)).is_err() {
            return false;
        }
        let mut alive = self.alive.clone();
        tokio::time::timeout(HEARTBEAT_LIMIT, alive.wait_for(|&seen| seen >= n)).await.is_ok_and(|r| r.is_ok())
    }
}

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    /// Engine counters.
    pub metrics: Arc<Metrics>,
    /// Media counters.
    pub media: Arc<MediaStats>,
    /// The engine's heartbeat.
    pub engine: EngineProbe,
}

/// The router.
pub fn router(state: HttpState) -> Router {
    Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).with_state(state)
}

/// Whether a scrape may read `/metrics`: with `PBX_METRICS_TOKEN` set, only with that bearer
/// token; without it, only from the machine itself (loopback).
fn metrics_allowed(headers: &HeaderMap, peer: Option<SocketAddr>) -> bool {
    match std::env::var("PBX_METRICS_TOKEN").ok().filter(|t| !t.is_empty()) {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| pbx_sip::digest::constant_time_eq(given.trim().as_bytes(), token.as_bytes())),
        None => peer.is_some_and(|p| p.ip().is_loopback()),
    }
}

async fn metrics(State(s): State<HttpState>, req: axum::extract::Request) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    if !metrics_allowed(req.headers(), peer) {
        return (StatusCode::FORBIDDEN, "metrics are for the operator's monitoring: set PBX_METRICS_TOKEN and send it as a bearer token\n")
            .into_response();
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render(Some(&s.media))).into_response()
}

async fn healthz(State(s): State<HttpState>) -> Response {
    let alive = s.engine.ping().await;
    let body = axum::Json(serde_json::json!({
        "status": if alive { "ok" } else { "stalled" },
        "active_calls": s.metrics.active_calls.load(Ordering::Relaxed),
        "registrations": s.metrics.registrations.load(Ordering::Relaxed),
    }));
    if alive { (StatusCode::OK, body).into_response() } else { (StatusCode::SERVICE_UNAVAILABLE, body).into_response() }
}
