//! `pbx scenario ...`: a city number's call-handling scenario: set (validated), get, clear,
//! and simulate a call through it without a phone.

use crate::plugins::{PluginCall, PluginRuntime, StoreServices};
use crate::scenario::Scenario;
use crate::scenario::catalog::{TenantCatalog, save};
use crate::scenario::simulate::{SimInput, render, simulate};
use clap::Subcommand;
use pbx_store::Store;
use std::sync::Arc;

/// Scenario commands.
#[derive(Debug, Subcommand)]
pub enum ScenarioCmd {
    /// Set a city number's scenario from a JSON file (validated first).
    Set {
        /// Tenant slug.
        slug: String,
        /// The city number.
        number: String,
        /// The scenario (JSON).
        file: std::path::PathBuf,
    },
    /// Print a city number's scenario.
    Get {
        /// Tenant slug.
        slug: String,
        /// The city number.
        number: String,
    },
    /// Go back to the default setup (everyone rings).
    Clear {
        /// Tenant slug.
        slug: String,
        /// The city number.
        number: String,
    },
    /// Print the path a call would take, node by node, without a phone.
    Simulate {
        /// Tenant slug.
        slug: String,
        /// The city number.
        number: String,
        /// When the call arrives (RFC 3339, e.g. 2026-11-23T10:00:00+03:00).
        #[arg(long)]
        at: String,
        /// The caller's number.
        #[arg(long)]
        from: String,
        /// Keys the caller presses, e.g. `2` or `101#`; a comma is a pause.
        #[arg(long, default_value = "")]
        digits: String,
        /// Phones do not answer.
        #[arg(long)]
        no_answer: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

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

/// Runs a scenario command.
pub async fn run(store: &Store, cmd: ScenarioCmd) -> anyhow::Result<()> {
    match cmd {
        ScenarioCmd::Set { slug, number, file } => {
            let tenant = store.tenant_by_slug(&slug).await?;
            let json = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let rt = runtime_for(store, tenant.id).await?;
            let catalog = TenantCatalog::load(store, &rt, tenant).await?;
            let s = save(store, &catalog, &number, &json).await?;
            println!("scenario of {number} set: {} nodes, starting at {}", s.nodes.len(), s.start);
        }
        ScenarioCmd::Get { slug, number } => {
            let tenant = store.tenant_by_slug(&slug).await?;
            match store.scenario(tenant.id, &number).await? {
                Some(json) => println!("{json}"),
                None => anyhow::bail!("{number} has no scenario: everyone of {slug} rings (the default setup)"),
            }
        }
        ScenarioCmd::Clear { slug, number } => {
            let tenant = store.tenant_by_slug(&slug).await?;
            store.set_scenario(tenant.id, &number, None).await?;
            println!("{number} is back to the default setup (everyone rings)");
        }
        ScenarioCmd::Simulate { slug, number, at, from, digits, no_answer, json } => {
            let at_ms = jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%:z", &at)
                .or_else(|_| at.parse::<jiff::Timestamp>())
                .map_err(|e| anyhow::anyhow!("--at must be an RFC 3339 time such as 2026-11-23T10:00:00+03:00: {e}"))?
                .as_millisecond();
            let tenant = store.tenant_by_slug(&slug).await?;
            let rt = runtime_for(store, tenant.id).await?;
            let input = SimInput { from, to: number.clone(), digits, answer: !no_answer };
            let result = simulate_call(store, rt, &tenant, &number, None, at_ms, input).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                print!("{}", render(&result));
            }
        }
    }
    Ok(())
}
