//! Outgoing webhooks: the service layer the CLI and the REST API share (register, list,
//! enable, delete, read the delivery log) and the worker that posts the outbox's events to
//! each webhook, in order, signed, with retries and backoff.
//!
//! Each webhook has a cursor into the tenant's event outbox. A worker takes the events after
//! it, posts them one by one and moves the cursor past the ones delivered; a failure stops
//! that webhook (later events wait, so the events of a call stay in order) until its backoff
//! ends. A receiver answering 2xx took the event; 408, 429, 5xx and no answer are retried
//! (at most [`MAX_BACKOFF`] apart) up to [`MAX_ATTEMPTS`] times (more than a day); another
//! 4xx ends the event's tries from its [`REFUSALS_BEFORE_DROP`]th attempt. An event given up
//! is skipped and logged as `dropped`. A restart resumes from the stored cursor, so an event
//! is delivered at least once; its `X-PBX-Delivery` id lets the receiver drop a repeat. With
//! several nodes on one database, the node holding a webhook's lease delivers it.

use crate::integration_rounds::Attempt;
use crate::plugins::HttpClient;
use hmac::{Hmac, Mac};
use pbx_plugin_host::HttpRequest;
use pbx_store::events::{EVENT_KINDS, StoredEvent};
use pbx_store::webhooks::{Delivery, Webhook};
use pbx_store::{Store, StoreError, now_ms};
use rand::Rng;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2000;
/// Longest description (characters).
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// Attempt from which a refusal (4xx other than 408 and 429) skips the event.
pub const REFUSALS_BEFORE_DROP: i64 = 5;
/// Attempts after which an event that keeps failing is skipped (about 33 hours at the
/// longest backoff).
pub const MAX_ATTEMPTS: i64 = 200;
/// Deliveries in flight at once, over all webhooks (each holds a blocking thread).
const MAX_IN_FLIGHT: usize = 32;
/// Longest one round of posts to a URL runs before its results are recorded.
const POST_ROUND: Duration = Duration::from_secs(20);
/// Least time between two scans of the subscribers.
const SCAN_EVERY: Duration = Duration::from_millis(100);
/// How long a node's lease on a webhook lasts without renewal.
const LEASE: Duration = Duration::from_secs(60);
/// Longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How long the outbox keeps events (what no webhook took by then is given up).
pub const OUTBOX_RETENTION: Duration = Duration::from_secs(3 * 24 * 3600);
/// Events a worker reads from the outbox at once.
const BATCH: i64 = 200;
/// Longest one delivery may take (the egress client's own cap).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a webhook request was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Input that breaks a rule (the message says which).
    #[error("{0}")]
    Invalid(String),
    /// Storage failed or the webhook does not exist.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What registering a webhook takes.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct NewWebhook {
    /// `https://` (or `http://`) address that receives the events.
    pub url: String,
    /// Event kinds to receive (empty or missing: all).
    #[serde(default)]
    pub events: Vec<String>,
    /// Free-form description.
    #[serde(default)]
    pub description: String,
}

/// Checks a new webhook; the error names what is wrong.
pub fn check(new: &NewWebhook) -> Result<(), WebhookError> {
    let url = new.url.trim();
    if url.len() > MAX_URL_LEN {
        return Err(WebhookError::Invalid(format!("the URL is longer than {MAX_URL_LEN} characters")));
    }
    let uri: ureq::http::Uri = url.parse().map_err(|_| WebhookError::Invalid(format!("{url:?} is not a URL")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none_or(str::is_empty) {
        return Err(WebhookError::Invalid("the URL must start with https:// or http:// and name a host".into()));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(WebhookError::Invalid("the URL may not carry a user name or password (the body is signed instead)".into()));
    }
    if url.contains(|c: char| c.is_control() || c.is_whitespace()) {
        return Err(WebhookError::Invalid("the URL may not contain spaces or control characters".into()));
    }
    if let Some(bad) = new.events.iter().find(|k| !EVENT_KINDS.contains(&k.as_str())) {
        return Err(WebhookError::Invalid(format!("unknown event {bad:?}; known: {}", EVENT_KINDS.join(", "))));
    }
    if new.description.chars().count() > MAX_DESCRIPTION_CHARS || new.description.chars().any(char::is_control) {
        return Err(WebhookError::Invalid(format!("the description must be one line of at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(())
}

/// Registers a webhook; returns it with its signing secret (shown this once).
pub async fn create(store: &Store, tenant_id: i64, new: &NewWebhook) -> Result<(Webhook, String), WebhookError> {
    check(new)?;
    let mut events: Vec<String> = new.events.clone();
    events.sort();
    events.dedup();
    let secret = new_secret();
    let hook = store.create_webhook(tenant_id, new.url.trim(), &events, new.description.trim(), &secret).await?;
    Ok((hook, secret))
}

/// A fresh signing secret: `whsec_` and 32 random bytes in hex.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("whsec_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The signature header of a body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, t: u64, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!("t={t},v1={}", tag.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The wait before attempt `attempts + 1`: `base` doubled per failure, capped, with up to
/// a fifth more at random so that many webhooks do not retry in step.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let d = base.saturating_mul(2u32.saturating_pow(exp)).min(MAX_BACKOFF);
    let jitter = rand::rng().random_range(0..=d.as_millis() as u64 / 5);
    (d + Duration::from_millis(jitter)).min(MAX_BACKOFF)
}

/// How an attempt went.
enum Outcome {
    Delivered,
    Retry,
    Dropped,
}

/// How deliveries run: the egress client, the first retry wait, this node's name (leases).
#[derive(Clone)]
pub struct Deliverer {
    /// Outbound HTTP under the egress policy.
    pub http: HttpClient,
    /// First wait before a retry.
    pub retry_base: Duration,
    /// This node (lease holder name).
    pub node: String,
    /// Deliveries in flight at once.
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Integration plugins (subscribers that name a plugin).
    pub integrations: Option<Arc<crate::integrations::Integrations>>,
}

impl Deliverer {
    /// A deliverer for `node`.
    pub fn new(http: HttpClient, retry_base: Duration, node: String) -> Deliverer {
        Deliverer { http, retry_base, node, in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)), integrations: None }
    }
}

/// Runs deliveries: wakes when the call-log writer stored events (or every second) and
/// starts a worker for each enabled webhook whose backoff has ended, which has none here and
/// whose lease this node gets.
pub async fn run(store: Store, d: Deliverer, wake: Arc<Notify>) {
    use tracing::Instrument;
    let mut running: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut last_prune = 0i64;
    loop {
        running.retain(|_, h| !h.is_finished());
        match store.active_webhooks().await {
            Ok(hooks) => {
                let now = now_ms();
                for (hook, secret) in hooks {
                    if running.contains_key(&hook.id) || hook.next_at > now {
                        continue;
                    }
                    match store.lease_webhook(hook.id, &d.node, now, now + LEASE.as_millis() as i64).await {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot lease a webhook");
                            continue;
                        }
                    }
                    let span = tracing::info_span!("webhook", tenant = hook.tenant_id, webhook = hook.id);
                    let (store, d2, id) = (store.clone(), d.clone(), hook.id);
                    running.insert(id, tokio::spawn(deliver(store, d2, hook, secret).instrument(span)));
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the webhooks"),
        }
        if now_ms() - last_prune > 3_600_000 {
            last_prune = now_ms();
            let cutoff = now_ms() - OUTBOX_RETENTION.as_millis() as i64;
            if let Err(e) = store.prune_events(cutoff).await {
                tracing::error!(error = %e, "cannot prune the event outbox");
            }
            if let Err(e) = store.prune_deliveries().await {
                tracing::error!(error = %e, "cannot prune the webhook delivery log");
            }
        }
        let scanned = std::time::Instant::now();
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        // Wakes come with every call-log batch: scans are at least this far apart, so that
        // a busy server delivers many events per round instead of a few per query.
        tokio::time::sleep(SCAN_EVERY.saturating_sub(scanned.elapsed())).await;
    }
}

/// Posts a webhook's backlog until it is empty, an attempt fails, or the webhook is paused,
/// deleted or leased by another node.
async fn deliver(store: Store, d: Deliverer, mut hook: Webhook, secret: String) {
    let mut lease_until = now_ms() + LEASE.as_millis() as i64;
    loop {
        let events = match store.events_after(hook.tenant_id, hook.cursor, BATCH).await {
            Ok(e) => e,
            Err(e) => return tracing::error!(error = %e, "cannot read the event outbox"),
        };
        if events.is_empty() {
            return;
        }
        let mut log = Vec::new();
        let mut stop = false;
        // A URL's events of this round are posted in one go (one thread hand-off, not one per
        // event); the loop below takes their results in order.
        let mut posted = std::collections::VecDeque::new();
        let wanted: Vec<StoredEvent> = events.iter().filter(|e| hook.wants(&e.kind)).cloned().collect();
        // An integration plugin's events of this round: several calls at once.
        let mut tried = HashMap::new();
        match (hook.plugin.is_empty(), &d.integrations) {
            (true, _) => {
                if let Ok(_permit) = d.in_flight.acquire().await {
                    posted.extend(post_all(&d.http, &hook.url, &secret, wanted).await);
                }
            }
            (false, Some(i)) => {
                // After a failure (catching up), one call at a time, in order.
                let parallel = if hook.attempts > 0 { 1 } else { crate::integration_rounds::PARALLEL_CALLS };
                tried = crate::integration_rounds::run(i.clone(), hook.tenant_id, &hook.plugin, wanted, parallel).await;
            }
            (false, None) => {}
        }
        for ev in events {
            if !hook.wants(&ev.kind) {
                hook.cursor = ev.id;
                continue;
            }
            if now_ms() > lease_until - LEASE.as_millis() as i64 / 2 {
                lease_until = now_ms() + LEASE.as_millis() as i64;
                if !store.lease_webhook(hook.id, &d.node, now_ms(), lease_until).await.unwrap_or(false) {
                    break;
                }
            }
            let attempt = hook.attempts + 1;
            let started = std::time::Instant::now();
            let mut took_ms = None;
            let (status, error) = match (hook.plugin.is_empty(), &d.integrations) {
                (true, _) => match posted.pop_front() {
                    Some((status, error, ms)) => {
                        took_ms = Some(ms);
                        (status, error)
                    }
                    // Posting stopped before this one (a refusal to skip, or the round's time).
                    None => break,
                },
                (false, Some(_)) => match tried.remove(&ev.id) {
                    Some(Attempt::Delivered(ms)) => {
                        took_ms = Some(ms);
                        (200, String::new())
                    }
                    Some(Attempt::Failed(status, error, ms)) => {
                        took_ms = Some(ms);
                        (status, error)
                    }
                    // The plugin cannot run (disabled, not granted): the integration waits a
                    // minute without using up the event's attempts.
                    Some(Attempt::Unavailable(e)) => {
                        hook.next_at = now_ms() + 60_000;
                        hook.last_error = e.chars().take(300).collect();
                        stop = true;
                        break;
                    }
                    // Not tried this round (its call's earlier event failed): next round.
                    Some(Attempt::NotTried) | None => break,
                },
                (false, None) => (0, "integration plugins do not run in this process".to_string()),
            };
            let outcome = match status {
                200..=299 => Outcome::Delivered,
                _ if attempt >= MAX_ATTEMPTS => Outcome::Dropped,
                408 | 429 | 0 | 500.. => Outcome::Retry,
                _ if attempt >= REFUSALS_BEFORE_DROP => Outcome::Dropped,
                _ => Outcome::Retry,
            };
            let (event_id, event) = (ev.event_id(), ev.kind.clone());
            let word = match outcome {
                Outcome::Delivered => "delivered",
                Outcome::Retry => "retry",
                Outcome::Dropped => "dropped",
            };
            log.push(Delivery {
                id: 0,
                webhook_id: hook.id,
                event_id,
                event,
                attempt,
                status: i64::from(status),
                outcome: word.into(),
                error: error.clone(),
                duration_ms: took_ms.unwrap_or_else(|| started.elapsed().as_millis() as i64),
                at: now_ms(),
            });
            match outcome {
                Outcome::Delivered | Outcome::Dropped => {
                    if matches!(outcome, Outcome::Dropped) {
                        tracing::warn!(status, event = %ev.id, "the receiver refused an event for good: skipped");
                    }
                    hook.cursor = ev.id;
                    hook.attempts = 0;
                    hook.next_at = 0;
                    hook.last_error.clear();
                }
                Outcome::Retry => {
                    hook.attempts = attempt;
                    hook.next_at = now_ms() + backoff(d.retry_base, attempt).as_millis() as i64;
                    hook.last_error = error;
                    tracing::info!(status, attempt, error = %hook.last_error, "webhook delivery failed; will retry");
                    stop = true;
                    break;
                }
            }
        }
        match store.record_deliveries(hook.id, &d.node, hook.cursor, hook.attempts, hook.next_at, &hook.last_error, &log).await {
            Ok(true) => {}
            // Paused, deleted or taken over: what was posted since the last record may be
            // posted again by whoever delivers next (at least once).
            Ok(false) => return tracing::info!("webhook paused, deleted or delivered by another node: stopping"),
            // The cursor did not move: the events go again (at least once).
            Err(e) => return tracing::error!(error = %e, "cannot record webhook deliveries"),
        }
        if stop {
            return;
        }
    }
}

/// Posts one event; returns the HTTP status (0: no answer) and the error, if any.
/// Posts events one after the other on one blocking thread (its own, not the shared gate:
/// a slow receiver waits without holding what password checks and exports need), stopping
/// at the first that is not taken or after [`POST_ROUND`]; returns (status, error, ms) of
/// each attempted.
async fn post_all(http: &HttpClient, url: &str, secret: &str, events: Vec<StoredEvent>) -> Vec<(u16, String, i64)> {
    let (http, url, secret) = (http.clone(), url.to_string(), secret.to_string());
    let round = std::time::Instant::now();
    let posted = tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(events.len());
        for ev in &events {
            let started = std::time::Instant::now();
            let (status, error) = post_blocking(&http, &url, &secret, ev);
            let taken = (200..300).contains(&status);
            out.push((status, error, started.elapsed().as_millis() as i64));
            if !taken || round.elapsed() > POST_ROUND {
                break;
            }
        }
        out
    })
    .await;
    posted.unwrap_or_else(|e| vec![(0, format!("delivery task failed: {e}"), 0)])
}

/// Posts one event; returns the HTTP status (0: no answer) and the error, if any.
fn post_blocking(http: &HttpClient, url: &str, secret: &str, ev: &StoredEvent) -> (u16, String) {
    let event_id = ev.event_id();
    let t = (now_ms() / 1000).max(0) as u64;
    let req = HttpRequest {
        method: "POST".into(),
        url: url.to_string(),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("User-Agent".into(), "pbx-webhooks".into()),
            ("X-PBX-Event".into(), ev.kind.clone()),
            ("X-PBX-Delivery".into(), event_id),
            ("X-PBX-Signature".into(), signature(secret, t, ev.body.as_bytes())),
        ],
        body: ev.body.clone().into_bytes(),
    };
    match http.send(&req, DELIVERY_TIMEOUT) {
        Ok(resp) if (200..300).contains(&resp.status) => (resp.status, String::new()),
        Ok(resp) => {
            let text: String = String::from_utf8_lossy(&resp.body).chars().filter(|c| !c.is_control()).take(200).collect();
            (resp.status, format!("HTTP {}: {text}", resp.status))
        }
        Err(e) => (0, e.chars().take(300).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_needs_a_web_address_and_known_events() {
        let ok = NewWebhook { url: "https://crm.example/hook?x=1".into(), events: vec!["call.ended".into()], description: "CRM".into() };
        assert!(check(&ok).is_ok());
        for (url, events) in [
            ("ftp://crm.example/", vec![]),
            ("https:///nohost", vec![]),
            ("not a url", vec![]),
            ("https://crm.example/a b", vec![]),
            ("https://user:pass@crm.example/", vec![]),
            ("https://crm.example/", vec!["call.exploded".to_string()]),
        ] {
            let bad = NewWebhook { url: url.into(), events, description: String::new() };
            assert!(check(&bad).is_err(), "{url} accepted");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_time_and_body() {
        // RFC 4231 does not cover the "t." prefix; the value is checked against an
        // independent computation: HMAC-SHA256("key", "1.{}").
        let s = signature("key", 1, b"{}");
        assert!(s.starts_with("t=1,v1="));
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1.{}");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(s, format!("t=1,v1={hex}"));
        assert_ne!(signature("other", 1, b"{}"), s);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(2);
        let first = backoff(base, 1);
        assert!(first >= base && first <= base * 6 / 5 + Duration::from_millis(1));
        let third = backoff(base, 3);
        assert!(third >= base * 4);
        assert!(backoff(base, 60) <= MAX_BACKOFF);
    }
}
