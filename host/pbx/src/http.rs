//! The HTTP endpoints of the server beside the cabinet: `/metrics` (for the operator's
//! monitoring only) and `/healthz` (the call engine's heartbeat).

use crate::engine::Input;
use crate::metrics::Metrics;
use axum::Router;
use axum::extract::State;
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
    /// Storage, for the stored configuration version.
    pub store: Option<pbx_store::Store>,
    /// The engine's last heartbeat answer and when: probes within [`HEALTH_CACHE`] reuse it,
    /// so a flood of unauthenticated probes does not reach the engine.
    pub last: Arc<tokio::sync::Mutex<Option<(std::time::Instant, bool)>>>,
}

/// How long the engine's heartbeat answer is reused.
pub const HEALTH_CACHE: Duration = Duration::from_millis(250);

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
    let peer = crate::web::client_ip(req.extensions(), req.headers()).map(|ip| SocketAddr::new(ip, 0));
    if !metrics_allowed(req.headers(), peer) {
        return (StatusCode::FORBIDDEN, "metrics are for the operator's monitoring: set PBX_METRICS_TOKEN and send it as a bearer token\n")
            .into_response();
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render(Some(&s.media))).into_response()
}

async fn healthz(State(s): State<HttpState>) -> Response {
    let alive = {
        let mut last = s.last.lock().await;
        match *last {
            Some((at, alive)) if at.elapsed() < HEALTH_CACHE => alive,
            _ => {
                let alive = s.engine.ping().await;
                *last = Some((std::time::Instant::now(), alive));
                alive
            }
        }
    };
    let stored = match &s.store {
        Some(store) => store.config_version().await.ok(),
        None => None,
    };
    // `config_version` is what the engine runs with, `config_stored` the latest saved: once
    // they are equal every change made so far is in force.
    let body = serde_json::json!({
        "status": if alive { "ok" } else { "stalled" },
        "active_calls": s.metrics.active_calls.load(Ordering::Relaxed),
        "registrations": s.metrics.registrations.load(Ordering::Relaxed),
        "config_version": s.metrics.config_version.load(Ordering::Relaxed),
        "config_stored": stored,
    });
    let status = if alive { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_read_from_the_machine_itself_or_with_the_token() {
        let none = HeaderMap::new();
        let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        // PBX_METRICS_TOKEN is not set in unit tests.
        assert!(metrics_allowed(&none, Some(local)));
        assert!(!metrics_allowed(&none, Some(remote)));
        assert!(!metrics_allowed(&none, None));
    }

    #[tokio::test]
    async fn the_heartbeat_tells_a_turning_engine_from_a_stalled_one() {
        // An engine that answers its queue.
        let (tx, mut rx) = mpsc::unbounded_channel::<Input>();
        let (alive_tx, alive_rx) = watch::channel(0u64);
        tokio::spawn(async move {
            while let Some(i) = rx.recv().await {
                if let Input::Heartbeat(n) = i {
                    alive_tx.send_replace(n);
                }
            }
        });
        assert!(EngineProbe::new(tx, alive_rx).ping().await);
        // One that stopped reading it.
        let (tx, _rx) = mpsc::unbounded_channel::<Input>();
        let (_alive_tx, alive_rx) = watch::channel(0u64);
        assert!(!EngineProbe::new(tx, alive_rx).ping().await);
    }

    async fn boom() -> &'static str {
        std::panic::panic_any("secret internals")
    }

    #[tokio::test]
    async fn a_handler_that_panics_answers_500_without_its_text() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = Router::new().route("/boom", get(boom)).layer(axum::middleware::from_fn(crate::web::error::contain_panics));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        for _ in 0..2 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            assert!(out.starts_with("HTTP/1.1 500"), "{out}");
            assert!(out.contains("internal error") && !out.contains("secret internals"), "{out}");
        }
    }
}
