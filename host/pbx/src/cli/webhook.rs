//! `pbx webhook ...`: a tenant's outgoing webhooks, through the same service as the cabinet.

use super::output;
use crate::webhooks::{self, NewWebhook};
use clap::Subcommand;
use pbx_store::Store;

/// Webhook commands.
#[derive(Debug, Subcommand)]
pub enum WebhookCmd {
    /// Register a URL for call events; prints the signing secret (shown this once).
    Add {
        /// Tenant slug.
        slug: String,
        /// The receiver's URL.
        url: String,
        /// Event kinds (repeat or comma-separate; default: all).
        #[arg(long, value_delimiter = ',')]
        event: Vec<String>,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List a tenant's webhooks.
    List {
        /// Tenant slug.
        slug: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pause deliveries.
    Disable {
        /// Tenant slug.
        slug: String,
        /// Webhook id.
        id: i64,
    },
    /// Resume deliveries (clears the backoff).
    Enable {
        /// Tenant slug.
        slug: String,
        /// Webhook id.
        id: i64,
    },
    /// Delete a webhook and its log.
    Delete {
        /// Tenant slug.
        slug: String,
        /// Webhook id.
        id: i64,
    },
    /// The newest delivery attempts.
    Log {
        /// Tenant slug.
        slug: String,
        /// Webhook id.
        id: i64,
        /// Entries.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a webhook command.
pub async fn run(store: &Store, cmd: WebhookCmd) -> anyhow::Result<()> {
    match cmd {
        WebhookCmd::Add { slug, url, event, description } => {
            let t = store.tenant_by_slug(&slug).await?;
            let (hook, secret) = webhooks::create(store, t.id, &NewWebhook { url, events: event, description }).await?;
            println!("webhook {} -> {}\nsigning secret (shown once): {secret}", hook.id, hook.url);
        }
        WebhookCmd::List { slug, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let rows = store.list_webhooks(t.id).await?;
            output::print(json, &rows, &["ID", "URL", "EVENTS", "ENABLED", "ATTEMPTS", "LAST ERROR"], |h| {
                vec![
                    h.id.to_string(),
                    h.url.clone(),
                    if h.events.is_empty() { "all".into() } else { h.events.join(",") },
                    h.enabled.to_string(),
                    h.attempts.to_string(),
                    h.last_error.clone(),
                ]
            })?;
        }
        WebhookCmd::Disable { slug, id } => {
            let t = store.tenant_by_slug(&slug).await?;
            store.set_webhook_enabled(t.id, id, false).await?;
        }
        WebhookCmd::Enable { slug, id } => {
            let t = store.tenant_by_slug(&slug).await?;
            store.set_webhook_enabled(t.id, id, true).await?;
        }
        WebhookCmd::Delete { slug, id } => {
            let t = store.tenant_by_slug(&slug).await?;
            store.delete_webhook(t.id, id).await?;
        }
        WebhookCmd::Log { slug, id, limit, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let rows = store.list_deliveries(t.id, id, limit).await?;
            output::print(json, &rows, &["WHEN", "EVENT", "ID", "TRY", "STATUS", "OUTCOME", "ERROR"], |d| {
                vec![
                    output::time(d.at),
                    d.event.clone(),
                    d.event_id.clone(),
                    d.attempt.to_string(),
                    d.status.to_string(),
                    d.outcome.clone(),
                    d.error.clone(),
                ]
            })?;
        }
    }
    Ok(())
}
