//! `pbx tenant ...`

use super::output;
use clap::Subcommand;
use pbx_store::Store;

/// Tenant commands.
#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// Create a tenant with its SIP domain.
    Create {
        /// Short unique name (lowercase letters, digits, dashes).
        slug: String,
        /// SIP domain of the tenant (also its digest realm).
        #[arg(long)]
        domain: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tenants.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a tenant command.
pub async fn run(store: &Store, cmd: TenantCmd) -> anyhow::Result<()> {
    match cmd {
        TenantCmd::Create { slug, domain, name } => {
            let t = store.create_tenant(&slug, &domain, &name).await?;
            println!("created tenant {} (domain {})", t.slug, t.domain);
        }
        TenantCmd::List { json } => {
            let ts = store.list_tenants().await?;
            output::print(json, &ts, &["SLUG", "NAME", "DOMAIN", "STATUS", "BALANCE"], |t| {
                vec![
                    t.slug.clone(),
                    t.name.clone(),
                    t.domain.clone(),
                    format!("{:?}", t.status).to_lowercase(),
                    format!("{}.{:02}", t.balance_cents / 100, (t.balance_cents % 100).abs()),
                ]
            })?;
        }
    }
    Ok(())
}
