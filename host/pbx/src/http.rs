//! The HTTP endpoints of the server: `/metrics` and `/healthz` (the cabinet comes later on
//! the same listener).

use crate::metrics::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use pbx_media::MediaStats;
use std::sync::Arc;

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    /// Engine counters.
    pub metrics: Arc<Metrics>,
    /// Media counters.
    pub media: Arc<MediaStats>,
}

/// The router.
pub fn router(state: HttpState) -> Router {
    Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).with_state(state)
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render(Some(&s.media)))
}

async fn healthz(State(s): State<HttpState>) -> impl IntoResponse {
    use std::sync::atomic::Ordering;
    axum::Json(serde_json::json!({
        "status": "ok",
        "active_calls": s.metrics.active_calls.load(Ordering::Relaxed),
        "registrations": s.metrics.registrations.load(Ordering::Relaxed),
    }))
}
