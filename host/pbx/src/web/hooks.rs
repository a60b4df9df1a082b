//! `/hooks/{tenant}/{plugin}/{secret}/...`: the inbound webhook address of an integration
//! plugin (a CRM's events, an OAuth install callback). The request becomes the plugin's
//! `webhook` event and its `respond` verb the answer. The answer is served sandboxed: it
//! comes from the cabinet's origin, so no script in it may run there, and it sets no cookie.

use super::WebState;
use crate::integrations::{HookError, MAX_HOOK_BODY};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use pbx_plugin_host::HttpRequest;
use std::sync::Arc;

/// Request headers a plugin never sees (the cabinet's session, proxies' internals).
const HIDDEN: &[&str] = &["cookie", "authorization", "x-csrf-token"];
/// Response headers a plugin may set.
const ALLOWED: &[&str] = &["content-type", "cache-control", "location", "retry-after"];

/// The hook routes.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/hooks/{tenant}/{plugin}/{secret}", any(hook))
        .route("/hooks/{tenant}/{plugin}/{secret}/{*rest}", any(hook))
        .layer(DefaultBodyLimit::max(MAX_HOOK_BODY))
        .with_state(state)
}

async fn hook(
    State(s): State<Arc<WebState>>,
    Path(p): Path<Vec<(String, String)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or_default();
    let (tenant, plugin, secret) = (get("tenant"), get("plugin"), get("secret"));
    let Some(integrations) = s.integrations.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "integrations do not run in this process").into_response();
    };
    let req = HttpRequest {
        method: method.as_str().to_string(),
        url: uri.path_and_query().map(|x| x.as_str().to_string()).unwrap_or_default(),
        headers: visible_headers(&headers),
        body: body.to_vec(),
    };
    match integrations.hook(tenant, plugin, secret, req).await {
        Ok(r) => plugin_response(r),
        Err(HookError::NotFound) => (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(HookError::TooMany) => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "too many requests").into_response(),
        Err(HookError::Plugin(e)) => {
            tracing::warn!(tenant, plugin, error = %e, "an integration's webhook failed");
            (StatusCode::BAD_GATEWAY, "the integration failed").into_response()
        }
    }
}

/// A plugin's answer as an HTTP response: only harmless headers, same-site redirects, and
/// sandboxed (it comes from the cabinet's origin, so no script in it may run there).
pub(super) fn plugin_response(r: pbx_plugin_host::HttpResponse) -> Response {
    {
        {
            let mut resp = Response::new(Body::from(r.body));
            *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let h = resp.headers_mut();
            for (k, v) in r.headers.iter().take(32) {
                let name = k.to_ascii_lowercase();
                if !ALLOWED.contains(&name.as_str()) {
                    continue;
                }
                // Redirects stay on this site: the cabinet's address is no open redirect.
                if name == "location" && !(v.starts_with('/') && !v.starts_with("//") && !v.contains('\\')) {
                    continue;
                }
                if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(v)) {
                    h.insert(n, v);
                }
            }
            h.insert("content-security-policy", HeaderValue::from_static("sandbox; default-src 'none'"));
            h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            resp
        }
    }
}

/// Request headers a plugin may see, as its event carries them.
pub(super) fn visible_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| !HIDDEN.contains(&k.as_str()))
        .take(64)
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect()
}
