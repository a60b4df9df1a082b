//! `pbx scenario ...`: a city number's call-handling scenario: set (validated), get, clear,
//! and simulate a call through it without a phone.

use crate::scenario::catalog::{TenantCatalog, save};
use crate::scenario::service::{runtime_for, simulate_call};
use crate::scenario::simulate::{SimInput, render};
use clap::Subcommand;
use pbx_store::Store;

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
