//! The shapes every answer takes: `{result, time}` on success (plus `total`/`next`
//! for lists) and `{error, error_description}` with the documented HTTP status.

use crate::timefmt::iso;
use serde_json::{Value, json};

/// A method or system error, as the portal reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RestError {
    /// HTTP status.
    pub status: u16,
    /// `error` code.
    pub code: String,
    /// `error_description`.
    pub description: String,
}

/// The code the portal uses for errors a method raises without one.
pub const ERROR_CORE: &str = "ERROR_CORE";

impl RestError {
    /// Any error.
    pub fn new(status: u16, code: &str, description: &str) -> Self {
        RestError { status, code: code.to_string(), description: description.to_string() }
    }
    /// A method's own error: 400 `ERROR_CORE` (sent as `""` when the option says so).
    pub fn core(description: impl Into<String>) -> Self {
        RestError { status: 400, code: ERROR_CORE.to_string(), description: description.into() }
    }
    /// 401 `NO_AUTH_FOUND`.
    pub fn no_auth() -> Self {
        Self::new(401, "NO_AUTH_FOUND", "Wrong authorization data")
    }
    /// 401 `expired_token`.
    pub fn expired_token() -> Self {
        Self::new(401, "expired_token", "The access token provided has expired")
    }
    /// 403 `INVALID_CREDENTIALS`.
    pub fn invalid_credentials() -> Self {
        Self::new(403, "INVALID_CREDENTIALS", "Invalid request credentials")
    }
    /// 403 `WRONG_AUTH_TYPE`.
    pub fn wrong_auth_type() -> Self {
        Self::new(403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method")
    }
    /// 503 `QUERY_LIMIT_EXCEEDED`.
    pub fn query_limit() -> Self {
        Self::new(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
    }
    /// 404 `ERROR_METHOD_NOT_FOUND`.
    pub fn method_not_found() -> Self {
        Self::new(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
    }

    /// The JSON body, honouring the empty-`ERROR_CORE` option.
    pub fn body(&self, empty_core_code: bool) -> Value {
        let code = if empty_core_code && self.code == ERROR_CORE { "" } else { self.code.as_str() };
        json!({"error": code, "error_description": self.description})
    }
}

/// A successful method result with the list extras some methods add.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodOk {
    /// `result`.
    pub result: Value,
    /// `total` for list methods.
    pub total: Option<u64>,
    /// `next` for list methods with more pages.
    pub next: Option<u64>,
}

impl MethodOk {
    /// A plain result.
    pub fn of(result: Value) -> Self {
        MethodOk { result, total: None, next: None }
    }
}

/// The `time` block; `with_operating` adds the two fields batch sub-results lack.
pub fn time_block(start: f64, finish: f64, with_operating: bool) -> Value {
    let duration = (finish - start).max(0.0);
    let mut t = json!({
        "start": start,
        "finish": finish,
        "duration": duration,
        "processing": duration,
        "date_start": iso(start.floor() as i64),
        "date_finish": iso(finish.floor() as i64),
    });
    if with_operating && let Value::Object(m) = &mut t {
        m.insert("operating_reset_at".to_string(), json!(start.floor() as i64 + 600));
        m.insert("operating".to_string(), json!(0));
    }
    t
}

/// The success envelope.
pub fn success(ok: &MethodOk, start: f64, finish: f64) -> Value {
    let mut body = json!({"result": ok.result});
    if let Value::Object(m) = &mut body {
        if let Some(total) = ok.total {
            m.insert("total".to_string(), json!(total));
        }
        if let Some(next) = ok.next {
            m.insert("next".to_string(), json!(next));
        }
        m.insert("time".to_string(), time_block(start, finish, true));
    }
    body
}

/// A number the way PHP's `json_encode` prints a double that is whole (`0`, not `0.0`).
pub fn php_number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 { json!(f as i64) } else { json!(f) }
}
