//! The HTTP side: routing `/rest/...` and `/oauth/token/`, decoding parameters
//! from the query and a JSON, form or multipart body, then down-mode, rate
//! limit, auth, dispatch and the log, in that order.

use crate::auth::{self, AuthCtx};
use crate::batch;
use crate::envelope::{self, MethodOk, RestError};
use crate::form;
use crate::methods;
use crate::multipart::{self, FilePart};
use crate::oauth;
use crate::params::Param;
use crate::state::{BodyKind, Recorded, State};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use std::sync::{Arc, Mutex, MutexGuard};

/// State shared by the server task and the control handle.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub base_url: String,
}

impl Shared {
    /// Locks the state, recovering it if a panicking test poisoned the lock.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The body an nginx in front of a down portal sends with its 503.
pub(crate) const DOWN_PAGE: &str = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// The portal's router: everything goes through one handler.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(move |req: Request| {
        let shared = shared.clone();
        async move { handle(&shared, req).await }
    })
}

/// A response with a body and content type.
pub(crate) fn respond(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A JSON response.
pub(crate) fn json_response(status: u16, body: &serde_json::Value) -> Response {
    respond(status, "application/json; charset=utf-8", body.to_string())
}

async fn handle(shared: &Shared, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    if path == "/oauth/token/" || path == "/oauth/token" {
        let body = read_body(req).await.1;
        return oauth::token(shared, &query, &body);
    }
    let Some(rest) = path.strip_prefix("/rest/") else {
        return respond(404, "text/plain", "not found");
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (webhook, method) = match segments.as_slice() {
        [m] => (None, *m),
        [uid, secret, m] => (Some((uid.to_string(), secret.to_string())), *m),
        _ => return respond(404, "text/plain", "not found"),
    };
    let method = method.trim_end_matches(".json").to_ascii_lowercase();
    let (content_type, body) = read_body(req).await;
    let (mut params, body_kind, files) = decode_params(&query, &content_type, &body);
    let token = params.remove("auth").and_then(|a| match a {
        Param::Str(s) => Some(s),
        _ => None,
    });
    let kind = auth::auth_kind(webhook.as_ref().map(|(u, s)| (u.as_str(), s.as_str())), token.as_deref());
    let mut logged = params.clone();
    for f in &files {
        logged.set(&f.field, Param::from_json(&serde_json::json!({"filename": f.file_name, "size": f.data.len()})));
    }
    let mut record = Recorded {
        method: method.clone(),
        params: logged.to_json(),
        auth: kind.clone(),
        body: body_kind,
        status: 0,
        error: None,
        in_batch: false,
        at: 0.0,
    };

    let (start, checked) = {
        let mut st = shared.lock();
        let start = st.now();
        record.at = start;
        if st.down {
            record.status = 503;
            st.requests.push(record);
            return respond(503, "text/html", DOWN_PAGE);
        }
        let checked = if crate::limits::admit(&mut st) { auth::authenticate(&st, &kind) } else { Err(RestError::query_limit()) };
        (start, checked)
    };
    let outcome = match checked {
        Ok(ctx) => dispatch(shared, &ctx, &method, &params, &files).await,
        Err(e) => Err(e),
    };
    let mut st = shared.lock();
    let finish = st.now();
    let (status, body) = match outcome {
        Ok(ok) => (200, envelope::success(&ok, start, finish)),
        Err(e) => {
            record.error = Some(e.code.clone());
            (e.status, e.body(st.opts.empty_core_error_code))
        }
    };
    record.status = status;
    st.requests.push(record);
    json_response(status, &body)
}

/// `batch` or any single method.
async fn dispatch(shared: &Shared, ctx: &AuthCtx, method: &str, params: &Param, files: &[FilePart]) -> Result<MethodOk, RestError> {
    if method == "batch" { batch::run(shared, ctx, params).await } else { methods::call_single(shared, ctx, method, params, files).await }
}

/// The body and its content type.
async fn read_body(req: Request) -> (String, Vec<u8>) {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body = to_bytes(req.into_body(), 64 * 1024 * 1024).await.map(|b| b.to_vec()).unwrap_or_default();
    (content_type, body)
}

/// Query parameters with body parameters over them (PHP's `$_REQUEST`).
fn decode_params(query: &str, content_type: &str, body: &[u8]) -> (Param, BodyKind, Vec<FilePart>) {
    let mut params = form::decode(query);
    let ct = content_type.to_ascii_lowercase();
    let mut files = Vec::new();
    let kind = if body.is_empty() && ct.is_empty() {
        BodyKind::None
    } else if ct.starts_with("application/json") {
        if let Ok(Param::Map(entries)) = serde_json::from_slice::<Param>(body) {
            params.merge_over(Param::Map(entries));
        }
        BodyKind::Json
    } else if ct.starts_with("multipart/form-data") {
        if let Some(b) = multipart::boundary(content_type) {
            let (fields, parts) = multipart::parse(body, &b);
            params.merge_over(fields);
            files = parts;
        }
        BodyKind::Multipart
    } else if ct.is_empty() || ct.starts_with("application/x-www-form-urlencoded") {
        params.merge_over(form::decode(&String::from_utf8_lossy(body)));
        BodyKind::Form
    } else {
        BodyKind::Other(content_type.to_string())
    };
    (params, kind, files)
}
