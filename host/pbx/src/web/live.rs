//! The dashboard's WebSocket: every two seconds, the tenant's calls in progress (from the
//! call log, so every node's calls show), today's figures in the tenant's time zone and the
//! queues' live state. A user sees only their own calls.

use super::WebState;
use super::auth::Caller;
use super::error::ApiResult;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// True when a browser's `Origin` is this server itself (the page the cabinet served): a
/// page of another site must not open the socket with the user's cookie (cross-site
/// WebSocket hijacking). Clients that send no Origin (API tokens, scripts) pass.
pub fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(axum::http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or("").trim_end_matches('/');
    !host.is_empty() && authority.eq_ignore_ascii_case(host)
}

/// `GET /api/v1/live`.
pub async fn socket(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    c.tenant_id()?;
    if !same_origin(&headers) {
        return Err(super::error::ApiError::forbidden("the live socket is only for the cabinet's own pages"));
    }
    Ok(ws.on_upgrade(move |socket| run(s, c, socket)))
}

async fn run(s: Arc<WebState>, c: Caller, mut socket: WebSocket) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let msg = match snapshot(&s, &c).await {
                    Ok(v) => v,
                    Err(e) => json!({"error": e.message}),
                };
                if socket.send(Message::Text(msg.to_string().into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
        }
    }
}

/// Start of the tenant's current day, ms.
fn local_midnight(tz: &str, now: i64) -> i64 {
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(now)
        .ok()
        .and_then(|ts| ts.to_zoned(zone).start_of_day().ok())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(now - now.rem_euclid(86_400_000))
}

/// One snapshot for the caller.
pub async fn snapshot(s: &WebState, c: &Caller) -> ApiResult<Value> {
    let tenant = s.store.tenant_by_id(c.tenant_id()?).await?;
    let now = pbx_store::now_ms();
    let mut calls = s.store.live_calls(tenant.id, now - 12 * 3_600_000).await?;
    if !c.is_supervisor() {
        let me = c.user_id();
        calls.retain(|r| me.is_some() && (r.caller_user_id == me || r.callee_user_id == me));
    }
    let calls: Vec<Value> = calls
        .iter()
        .map(|r| {
            json!({"id": r.id, "direction": r.direction, "caller": r.caller_number, "caller_name": r.caller_name,
                   "callee": r.callee, "answered": r.answered_at.is_some(),
                   "seconds": (now - r.answered_at.unwrap_or(r.started_at)) / 1000})
        })
        .collect();
    let midnight = local_midnight(&tenant.timezone, now);
    let (total, answered, missed) = s.store.tenant_day(tenant.id, midnight).await?;
    let mut queues = vec![];
    if c.is_supervisor() {
        for g in s.store.list_groups(Some(tenant.id)).await? {
            if g.kind == pbx_store::GroupKind::Queue {
                queues.push(super::tenant_api::queue_json(s, tenant.id, &g.ext).await?);
            }
        }
    }
    Ok(json!({"at": now, "calls": calls, "today": {"total": total, "answered": answered, "missed": missed}, "queues": queues}))
}
