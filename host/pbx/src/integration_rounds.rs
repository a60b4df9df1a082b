//! One round of an integration plugin's deliveries: the events of different calls go to the
//! plugin side by side (a few at a time, so a CRM's latency overlaps), each call's events in
//! order; a call whose event failed gets no later event this round. A round that follows a
//! failure (a catch-up after an outage) goes one call at a time, in the order the calls
//! came. The webhook worker then walks the outcomes in outbox order: the cursor stops at the
//! first event not taken, and what was taken after it comes again later (at least once, in
//! order per call).

use crate::integrations::{DeliveryFailure, Integrations};
use pbx_store::events::StoredEvent;
use std::collections::HashMap;
use std::sync::Arc;

/// Calls whose events run at once per integration.
pub const PARALLEL_CALLS: usize = 4;

/// What became of one event in a round.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// The plugin took it (ms it took).
    Delivered(i64),
    /// It failed: the status the delivery log shows (0: failed this time, 400: the plugin
    /// is broken), the error, ms.
    Failed(u16, String, i64),
    /// The plugin cannot run now (disabled, grants missing): the integration waits.
    Unavailable(String),
    /// Not tried: an earlier event of its call failed this round.
    NotTried,
}

/// Delivers `events` (one integration's wanted events, in outbox order), `parallel` calls at
/// a time; the outcome of each by outbox id.
pub async fn run(
    integrations: Arc<Integrations>,
    tenant_id: i64,
    plugin: &str,
    events: Vec<StoredEvent>,
    parallel: usize,
) -> HashMap<i64, Attempt> {
    // The calls in the order their first event comes, each with its events in order.
    let mut order: Vec<String> = Vec::new();
    let mut by_call: HashMap<String, Vec<StoredEvent>> = HashMap::new();
    for ev in events {
        if !by_call.contains_key(&ev.call_id) {
            order.push(ev.call_id.clone());
        }
        by_call.entry(ev.call_id.clone()).or_default().push(ev);
    }
    let mut outcomes = HashMap::new();
    if parallel <= 1 {
        // In order: after a call whose event failed, no later call's events this round.
        let mut failed = false;
        for call in order {
            let Some(group) = by_call.remove(&call) else { continue };
            if failed {
                outcomes.extend(group.iter().map(|e| (e.id, Attempt::NotTried)));
                continue;
            }
            let done = one_call(&integrations, tenant_id, plugin, group).await;
            failed = done.iter().any(|(_, a)| !matches!(a, Attempt::Delivered(_)));
            outcomes.extend(done);
        }
        return outcomes;
    }
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = tokio::task::JoinSet::new();
    for call in order {
        let Some(group) = by_call.remove(&call) else { continue };
        let (i, gate, plugin) = (integrations.clone(), gate.clone(), plugin.to_string());
        tasks.spawn(async move {
            let _slot = gate.acquire_owned().await;
            one_call(&i, tenant_id, &plugin, group).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(list) => outcomes.extend(list),
            Err(e) => tracing::error!(error = %e, "an integration's delivery task failed"),
        }
    }
    outcomes
}

/// One call's events in order; after one fails, the rest are not tried.
async fn one_call(i: &Integrations, tenant_id: i64, plugin: &str, group: Vec<StoredEvent>) -> Vec<(i64, Attempt)> {
    let mut out = Vec::with_capacity(group.len());
    let mut failed = false;
    for ev in group {
        if failed {
            out.push((ev.id, Attempt::NotTried));
            continue;
        }
        let started = std::time::Instant::now();
        let r = i.deliver(tenant_id, plugin, &ev).await;
        let ms = started.elapsed().as_millis() as i64;
        let a = match r {
            Ok(()) => Attempt::Delivered(ms),
            Err(DeliveryFailure::Unavailable(e)) => Attempt::Unavailable(e),
            // A trap is answered like a refusal (the same event would fail again).
            Err(DeliveryFailure::Broken(e)) => Attempt::Failed(400, e.chars().take(300).collect(), ms),
            Err(DeliveryFailure::Failed(e)) => Attempt::Failed(0, e.chars().take(300).collect(), ms),
        };
        failed = !matches!(a, Attempt::Delivered(_));
        out.push((ev.id, a));
    }
    out
}
