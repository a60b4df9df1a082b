//! Scenario work shared by the CLI and the cabinet: a plugin runtime of one company's own
//! (for checks that must not touch the server's), and a simulated call through a scenario.

use crate::plugins::{PluginCall, PluginRuntime, StoreServices};
use crate::scenario::Scenario;
use crate::scenario::simulate::{SimInput, simulate};
use pbx_store::Store;
use std::sync::Arc;

/// A runtime of its own with the first-party plugins and one tenant's installed ones
/// (compiled on the bounded pool for heavy work), for checks that must not touch the
/// server's runtime.
pub async fn runtime_for(store: &Store, tenant_id: i64) -> anyhow::Result<Arc<PluginRuntime>> {
    let rt = pbx_store::blocking::run(|| {
        PluginRuntime::new(pbx_plugin_host::Limits::default(), 16, Arc::new(crate::metrics::Metrics::default()))
    })
    .await?
    .map_err(|e| anyhow::anyhow!("cannot start the plugin runtime: {e}"))?;
    let rt = Arc::new(rt);
    rt.sync_tenant(store, Some(tenant_id)).await?;
    Ok(rt)
}

/// Simulates a call to a tenant's number through `scenario` (JSON; default: the saved one).
pub async fn simulate_call(
    store: &Store,
    rt: Arc<PluginRuntime>,
    tenant: &pbx_store::Tenant,
    number: &str,
    scenario: Option<String>,
    at_ms: i64,
    input: SimInput,
) -> anyhow::Result<crate::scenario::simulate::SimResult> {
    let json = match scenario {
        Some(j) => j,
        None => match store.scenario(tenant.id, number).await? {
            Some(j) => j,
            None => anyhow::bail!("{number} has no scenario: everyone of {} rings (the default setup)", tenant.slug),
        },
    };
    let scenario = Arc::new(Scenario::parse(&json).map_err(|e| anyhow::anyhow!("the scenario is unreadable: {e}"))?);
    let users = store.list_users(tenant.id).await?;
    let directory: Vec<pbx_plugin_host::UserInfo> =
        users.iter().map(|u| pbx_plugin_host::UserInfo { ext: u.ext.clone(), name: u.name.clone(), available: true }).collect();
    let mut exts: std::collections::HashSet<String> = users.iter().map(|u| u.ext.clone()).collect();
    exts.extend(store.list_groups(Some(tenant.id)).await?.into_iter().map(|g| g.ext));
    let handle = tokio::runtime::Handle::current();
    let (store2, tenant2) = (store.clone(), tenant.clone());
    Ok(tokio::task::spawn_blocking(move || {
        simulate(
            scenario,
            &input,
            |plugin, config, event| {
                let services = Arc::new(StoreServices {
                    store: Some(store2.clone()),
                    handle: handle.clone(),
                    tenant_id: tenant2.id,
                    plugin: plugin.to_string(),
                    http: Default::default(),
                    read_only: true,
                });
                rt.decide(
                    PluginCall {
                        tenant_id: tenant2.id,
                        tenant: tenant2.slug.clone(),
                        timezone: tenant2.timezone.clone(),
                        plugin: plugin.to_string(),
                        config: config.to_string(),
                        call_id: "simulation".into(),
                        event: event.clone(),
                        directory: directory.clone(),
                        at_ms,
                        pinned: None,
                    },
                    services,
                )
                .result
            },
            |d| exts.contains(d),
        )
    })
    .await?)
}
