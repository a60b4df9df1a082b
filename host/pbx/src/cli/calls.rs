//! `pbx calls ...`

use super::output;
use clap::Subcommand;
use pbx_store::Store;

/// Call-log commands.
#[derive(Debug, Subcommand)]
pub enum CallsCmd {
    /// The call log of a tenant, newest first.
    List {
        /// Tenant slug.
        slug: String,
        /// How many rows.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a call-log command.
pub async fn run(store: &Store, cmd: CallsCmd) -> anyhow::Result<()> {
    match cmd {
        CallsCmd::List { slug, limit, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let calls = store.list_calls(t.id, limit.clamp(1, 10_000), None).await?;
            output::print(json, &calls, &["STARTED (UTC)", "DIRECTION", "FROM", "TO", "DISPOSITION", "TALK", "ID"], |c| {
                vec![
                    output::time(c.started_at),
                    c.direction.as_str().into(),
                    if c.caller_name.is_empty() { c.caller_number.clone() } else { format!("{} ({})", c.caller_number, c.caller_name) },
                    c.callee.clone(),
                    c.disposition.map(|d| d.as_str()).unwrap_or("live").into(),
                    format!("{}s", c.talk_seconds),
                    c.id.clone(),
                ]
            })?;
        }
    }
    Ok(())
}
