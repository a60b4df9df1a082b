//! API errors: one JSON shape `{"error": "..."}` with the HTTP status that says what kind of
//! failure it was; storage errors map to 400/404/409 and anything else to 500 (logged).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pbx_store::StoreError;

/// An API failure.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the user.
    pub message: String,
}

/// Result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 400 with a message.
    pub fn bad(msg: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, message: msg.into() }
    }
    /// 404: missing, or another tenant's (the same answer).
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, message: format!("{} not found", what.into()) }
    }
    /// 403 with a message.
    pub fn forbidden(msg: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::FORBIDDEN, message: msg.into() }
    }
    /// 409 with a message (the state of something else prevents it).
    pub fn conflict(msg: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::CONFLICT, message: msg.into() }
    }
    /// 402 with a message (the balance is used up).
    pub fn payment_required(msg: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::PAYMENT_REQUIRED, message: msg.into() }
    }
    /// 503 with a message.
    pub fn unavailable(msg: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message: msg.into() }
    }
    /// 401.
    pub fn unauthorized() -> ApiError {
        ApiError { status: StatusCode::UNAUTHORIZED, message: "sign in first".into() }
    }
    /// 500 for unexpected failures; the cause is logged, not shown.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "cabinet request failed");
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "internal error".into() }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(w) => ApiError::not_found(w),
            StoreError::Invalid(m) => ApiError::bad(m),
            StoreError::Conflict(m) => ApiError { status: StatusCode::CONFLICT, message: format!("{m} already exists") },
            other => ApiError::internal(other),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        // A background job that failed (a panic, a cancelled task) is ours, not the user's:
        // its text is logged, never shown.
        if e.chain().any(|c| c.is::<tokio::task::JoinError>() || c.is::<pbx_store::blocking::BlockingError>()) {
            return ApiError::internal(format!("{e:#}"));
        }
        match e.downcast::<StoreError>() {
            Ok(s) => s.into(),
            // Service-layer messages (validation of scenarios, uploads, plugins) are for the user.
            Err(e) => ApiError::bad(format!("{e:#}")),
        }
    }
}

/// Middleware: a handler that panics answers 500 "internal error" (the panic is logged with
/// the route, never sent to the client) and the server goes on.
pub async fn contain_panics(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures_util::FutureExt;
    let route = format!("{} {}", req.method(), req.uri().path());
    match std::panic::AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(r) => r,
        Err(p) => {
            let text = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
            ApiError::internal(format!("{route}: handler panicked: {text}")).into_response()
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}
