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
        match e.downcast::<StoreError>() {
            Ok(s) => s.into(),
            // Service-layer messages (validation of scenarios, uploads, plugins) are for the user.
            Err(e) => ApiError::bad(format!("{e:#}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}
