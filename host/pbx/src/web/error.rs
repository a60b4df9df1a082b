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
            StoreError::InUse(m) => ApiError { status: StatusCode::CONFLICT, message: m },
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
        Ok(r) => {
            if r.status() == StatusCode::INTERNAL_SERVER_ERROR {
                // The cause was logged where it happened; this says which request it was.
                tracing::warn!(%route, "answered 500");
            }
            r
        }
        Err(p) => {
            let text = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
            ApiError::internal(format!("{route}: handler panicked: {text}")).into_response()
        }
    }
}

/// The body of every failure.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong, in English.
    pub error: String,
    /// A stable code of the message (`tenant_not_found`), or of its kind when the message has
    /// none (`invalid`, `not_found`, `conflict`, ...): clients translate by it.
    pub code: String,
    /// The message's variable parts, in order (the `{0}`, `{1}` of its translations).
    pub params: Vec<String>,
}

impl ErrorBody {
    /// The body of a message with the status it is answered with.
    pub fn of(status: StatusCode, message: String) -> ErrorBody {
        let (code, params) = match super::error_codes::classify(&message) {
            Some((code, params)) => (code.to_string(), params),
            None => (kind_code(status).to_string(), Vec::new()),
        };
        ErrorBody { error: message, code, params }
    }
}

/// The code of a failure whose message has none.
fn kind_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid",
        401 => "unauthorized",
        402 => "payment_required",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        413 => "too_large",
        415 => "unsupported_media_type",
        429 => "too_many_requests",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "failed",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::of(self.status, self.message);
        (self.status, Json(body)).into_response()
    }
}

/// A JSON request body whose rejection (not JSON, wrong fields, too large) answers in the
/// API's error shape with the rejection's 4xx status.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::Bytes::from_request(axum::extract::Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|r| ApiError { status: r.status(), message: r.body_text() })?;
        refuse_nul(&bytes)?;
        let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(ApiError { status: r.status(), message: r.body_text() }),
        }
    }
}

/// Refuses JSON text with NUL characters (a raw zero byte or the escape `\u0000`): no name,
/// number or setting has one, and PostgreSQL cannot store them.
pub fn refuse_nul(bytes: &[u8]) -> ApiResult<()> {
    // An escape is a backslash that is not itself escaped: an even run of them before it.
    let escaped = (0..bytes.len())
        .any(|i| bytes[i..].starts_with(b"\\u0000") && bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0);
    if bytes.contains(&0) || escaped {
        return Err(ApiError::bad("text may not contain NUL characters"));
    }
    Ok(())
}

/// Refuses a path or query with an encoded NUL character (`%00`).
fn refuse_nul_in_uri(uri: &axum::http::Uri) -> ApiResult<()> {
    let s = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    if s.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0') {
        return Err(ApiError::bad("the address may not contain NUL characters (%00)"));
    }
    Ok(())
}

/// Query parameters whose rejection answers in the API's error shape (400).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        refuse_nul_in_uri(&parts.uri)?;
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(ApiError { status: r.status(), message: r.body_text() }),
        }
    }
}

/// Path parameters whose rejection (bad percent-encoding) answers in the API's error shape.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        refuse_nul_in_uri(&parts.uri)?;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(ApiError { status: r.status(), message: r.body_text() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::refuse_nul;

    #[test]
    fn nul_characters_are_refused_but_an_escaped_backslash_is_text() {
        assert!(refuse_nul(br#"{"name": "a\u0000b"}"#).is_err());
        assert!(refuse_nul(b"{\"name\": \"a\0b\"}").is_err());
        assert!(refuse_nul(br#"{"name": "a\\\u0000"}"#).is_err());
        assert!(refuse_nul(br#"{"name": "a\\u0000"}"#).is_ok(), "a backslash, then the text u0000");
        assert!(refuse_nul(br#"{"name": "\u00001"}"#).is_err());
        assert!(refuse_nul(br#"{"name": "\u0001"}"#).is_ok());
    }
}
