//! Helpers for the contract tests: calling the portal over loopback, and small
//! HTTP servers standing in for the app's handlers and a recording store.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use pbx_fake_bitrix24::client::{self, HttpResponse};
use pbx_fake_bitrix24::{FakePortal, Options, User};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Users most tests use: 1 admin (ext 100), 11 and 24 agents, 30 deactivated.
pub fn options() -> Options {
    Options {
        users: vec![
            User::new(1, "Admin", Some("100")),
            User::new(11, "Anna", Some("101")),
            User::new(24, "Boris", Some("102")),
            User::new(30, "Gone", Some("103")).inactive(),
        ],
        ..Options::default()
    }
}

pub async fn portal() -> FakePortal {
    FakePortal::start(options()).await.unwrap()
}

/// POSTs JSON with `auth` in the body.
pub async fn call(p: &FakePortal, method: &str, params: Value) -> (u16, Value) {
    let mut body = params;
    body["auth"] = json!(p.tokens().0);
    let r = client::post_json(&format!("{}{method}", p.rest_url()), &body).await.unwrap();
    (r.status, r.json())
}

/// POSTs JSON without auth to any URL.
pub async fn post_json(url: &str, body: Value) -> (u16, Value) {
    let r = client::post_json(url, &body).await.unwrap();
    (r.status, r.json())
}

/// POSTs a form body with `auth` in the query string.
pub async fn call_form(p: &FakePortal, method: &str, form: &str) -> (u16, Value) {
    let url = format!("{}{method}.json?auth={}", p.rest_url(), p.tokens().0);
    let r = client::post_form(&url, form).await.unwrap();
    (r.status, r.json())
}

/// Registers an incoming call for user 11 from `phone` and returns its CALL_ID.
pub async fn register(p: &FakePortal, extra: Value) -> String {
    let mut params = json!({"USER_ID": 11, "PHONE_NUMBER": "+79061234567", "TYPE": 2});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            params[k] = v;
        }
    }
    let (status, body) = call(p, "telephony.externalCall.register", params).await;
    assert_eq!(status, 200, "{body}");
    body["result"]["CALL_ID"].as_str().unwrap().to_string()
}

/// Finishes a call as user 11.
pub async fn finish(p: &FakePortal, call_id: &str, extra: Value) -> (u16, Value) {
    let mut params = json!({"CALL_ID": call_id, "USER_ID": 11});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            params[k] = v;
        }
    }
    call(p, "telephony.externalCall.finish", params).await
}

/// Asserts an error answer by HTTP status and description (the `error` code may be empty live).
pub fn assert_error(got: &(u16, Value), status: u16, description: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error_description"], json!(description), "{}", got.1);
    assert!(got.1.get("result").is_none());
}

/// One request a [`Sink`] received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// A local HTTP server recording requests and answering with a fixed status and body.
pub struct Sink {
    pub url: String,
    pub hits: Arc<Mutex<Vec<Hit>>>,
}

impl Sink {
    pub async fn start(status: u16, reply_type: &'static str, body: Vec<u8>) -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let seen = hits.clone();
        let app = Router::new().fallback(move |req: Request| {
            let seen = seen.clone();
            let body = body.clone();
            async move {
                let path = req.uri().path().to_string();
                let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                let data = to_bytes(req.into_body(), 1 << 20).await.unwrap().to_vec();
                seen.lock().unwrap().push(Hit { path: path.clone(), content_type, body: data });
                let mut r = Response::new(Body::from(body));
                *r.status_mut() = if path.contains("missing") { StatusCode::NOT_FOUND } else { StatusCode::from_u16(status).unwrap() };
                let reply = if path.contains("missing") { "text/html" } else { reply_type };
                r.headers_mut().insert("content-type", axum::http::HeaderValue::from_static(reply));
                r
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Sink { url, hits }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (or 5 s passed) and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Hit> {
        for _ in 0..100 {
            if self.hits().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.hits()
    }
}

/// A minimal valid WAV file (44-byte header + 8 samples).
pub fn wav_bytes() -> Vec<u8> {
    let data_len: u32 = 16;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    v.extend_from_slice(&[0u8; 16]);
    v
}

/// Decodes a form body into (key, value) pairs.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The value of `key` in form pairs.
pub fn field<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A raw request to the portal.
pub async fn raw(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    client::request(method, url, headers, body, Duration::from_secs(10)).await.unwrap()
}
