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
    /// Suspend a tenant: its phones cannot call and its users cannot log in.
    Suspend {
        /// Tenant slug.
        slug: String,
    },
    /// Resume a suspended tenant.
    Resume {
        /// Tenant slug.
        slug: String,
    },
    /// Set a tenant's balance; at zero or below it cannot call out.
    Balance {
        /// Tenant slug.
        slug: String,
        /// Amount, e.g. 100 or 99.50 or -5.
        #[arg(allow_hyphen_values = true)]
        amount: String,
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
        TenantCmd::Suspend { slug } => {
            store.set_tenant_status(&slug, pbx_store::TenantStatus::Suspended).await?;
            println!("suspended tenant {slug}");
        }
        TenantCmd::Resume { slug } => {
            store.set_tenant_status(&slug, pbx_store::TenantStatus::Active).await?;
            println!("resumed tenant {slug}");
        }
        TenantCmd::Balance { slug, amount } => {
            let cents = pbx_store::parse_amount(&amount)
                .ok_or_else(|| anyhow::anyhow!("invalid amount {amount:?}: use a number such as 100 or 99.50"))?;
            let t = store.set_tenant_balance(&slug, cents).await?;
            println!("balance of {} is {}", t.slug, output::money(t.balance_cents));
        }
        TenantCmd::List { json } => {
            let ts = store.list_tenants().await?;
            output::print(json, &ts, &["SLUG", "NAME", "DOMAIN", "STATUS", "BALANCE"], |t| {
                vec![
                    t.slug.clone(),
                    t.name.clone(),
                    t.domain.clone(),
                    format!("{:?}", t.status).to_lowercase(),
                    output::money(t.balance_cents),
                ]
            })?;
        }
    }
    Ok(())
}
