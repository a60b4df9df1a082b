//! Bounds on plugin work: decisions wait at gates (a pool for all tenants and a share per
//! tenant) before they take a blocking thread, so one tenant's slow plugins cannot hold up
//! another's. Calls and integrations have gates of their own.

use super::PluginRuntime;
use super::StoreServices;
use std::sync::Arc;

/// Bounds on plugin decisions running at once: in all (the blocking threads they run on)
/// and per tenant, so that one tenant's slow or hostile plugins wait for each other instead
/// of taking the pool from everyone.
pub struct PluginGates {
    all: Arc<tokio::sync::Semaphore>,
    per_tenant: usize,
    tenants: std::sync::Mutex<std::collections::HashMap<i64, Arc<tokio::sync::Semaphore>>>,
}

impl PluginGates {
    /// Gates of `per_core` decisions per core in all and `per_tenant` per tenant.
    pub fn new(per_tenant: usize, per_core: usize) -> PluginGates {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        PluginGates {
            all: Arc::new(tokio::sync::Semaphore::new((cores * per_core).max(4))),
            per_tenant: per_tenant.max(1),
            tenants: Default::default(),
        }
    }

    /// Waits for a slot of the tenant and then one of the pool.
    async fn enter(&self, tenant: i64) -> Option<(tokio::sync::OwnedSemaphorePermit, tokio::sync::OwnedSemaphorePermit)> {
        let own = {
            let mut m = self.tenants.lock().ok()?;
            if m.len() > 10_000 {
                m.retain(|_, s| Arc::strong_count(s) > 1);
            }
            m.entry(tenant).or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.per_tenant))).clone()
        };
        let t = own.acquire_owned().await.ok()?;
        let a = self.all.clone().acquire_owned().await.ok()?;
        Some((t, a))
    }
}

/// Runs one plugin decision through the gates on a blocking thread.
pub async fn decide_gated(
    gates: Arc<PluginGates>,
    plugins: Arc<PluginRuntime>,
    call: crate::plugins::PluginCall,
    services: Arc<StoreServices>,
    max_wait: std::time::Duration,
) -> crate::plugins::Decision {
    let queued = std::time::Instant::now();
    let Some(_permits) = gates.enter(call.tenant_id).await else {
        return crate::plugins::Decision {
            result: Err(pbx_plugin_host::PluginError::Unavailable("plugin pool closed".into())),
            version: None,
        };
    };
    // The caller moves on after `max_wait` (the engine's watchdog): a decision that waited
    // that long is not run.
    if queued.elapsed() >= max_wait {
        return crate::plugins::Decision { result: Err(pbx_plugin_host::PluginError::Deadline), version: None };
    }
    match tokio::task::spawn_blocking(move || plugins.decide(call, services)).await {
        Ok(d) => d,
        Err(e) => {
            crate::plugins::Decision { result: Err(pbx_plugin_host::PluginError::Trap(format!("worker failed: {e}"))), version: None }
        }
    }
}
