//! `pbx tariff …` (the operator's prices for outbound calls) and `pbx balance …` (a
//! company's balance: top-ups, history, the warning threshold), through the same service as
//! the API (`crate::billing`).

use super::output;
use clap::Subcommand;
use pbx_store::Store;

/// Prices of outbound calls by number prefix.
#[derive(Debug, Subcommand)]
pub enum TariffCmd {
    /// Add a price (the longest matching prefix prices a call; a number no price matches is
    /// not charged, so an empty prefix prices every other number).
    Add {
        /// Leading digits of the international number (7495), or "" for every other number.
        prefix: String,
        /// Destination name shown in prices and charges.
        #[arg(long)]
        name: String,
        /// Price of a minute, e.g. 1.50.
        #[arg(long)]
        per_minute: String,
        /// Billing step in seconds (60: per started minute; 1: per second).
        #[arg(long, default_value_t = 60)]
        step: i64,
        /// A company's own price (its slug) instead of one for every company.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List the prices.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a price by its id.
    Delete {
        /// Id from `pbx tariff list`.
        id: i64,
    },
}

/// A company's balance.
#[derive(Debug, Subcommand)]
pub enum BalanceCmd {
    /// The balance, the warning threshold and the latest changes.
    Show {
        /// Tenant slug.
        slug: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add money (a negative amount corrects), kept in the history with a note.
    Topup {
        /// Tenant slug.
        slug: String,
        /// Amount, e.g. 1000 or 99.50 or -5.
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// What for (a payment's number).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Warn the company when its balance falls below an amount (0: never).
    Warn {
        /// Tenant slug.
        slug: String,
        /// Threshold, e.g. 500.
        amount: String,
    },
}

/// Runs a tariff command.
pub async fn run_tariff(store: &Store, cmd: TariffCmd) -> anyhow::Result<()> {
    match cmd {
        TariffCmd::Add { prefix, name, per_minute, step, tenant } => {
            let t = crate::billing::add_tariff(store, tenant.as_deref(), &prefix, &name, &per_minute, step).await?;
            println!(
                "added price #{} for {:?} ({}): {} a minute, step {} s",
                t.id,
                t.prefix,
                t.name,
                output::money(t.per_minute_cents),
                t.step_seconds
            );
        }
        TariffCmd::List { json } => {
            let list = store.list_tariffs().await?;
            let slugs: std::collections::HashMap<i64, String> = store.list_tenants().await?.into_iter().map(|t| (t.id, t.slug)).collect();
            output::print(json, &list, &["ID", "COMPANY", "PREFIX", "DESTINATION", "PER MINUTE", "STEP"], |t| {
                vec![
                    t.id.to_string(),
                    t.tenant_id.and_then(|id| slugs.get(&id).cloned()).unwrap_or_else(|| "*".into()),
                    if t.prefix.is_empty() { "(any)".into() } else { t.prefix.clone() },
                    t.name.clone(),
                    output::money(t.per_minute_cents),
                    format!("{} s", t.step_seconds),
                ]
            })?;
        }
        TariffCmd::Delete { id } => {
            store.delete_tariff(id).await?;
            println!("removed price #{id}");
        }
    }
    Ok(())
}

/// Runs a balance command.
pub async fn run_balance(store: &Store, cmd: BalanceCmd) -> anyhow::Result<()> {
    match cmd {
        BalanceCmd::Show { slug, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let view = crate::billing::balance_view(store, &t, None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
                return Ok(());
            }
            println!(
                "balance of {slug}: {}{} (warning below {})",
                output::money(view.balance_cents),
                if view.low { " LOW" } else { "" },
                output::money(view.low_balance_cents)
            );
            output::print(false, &view.history, &["TIME", "KIND", "AMOUNT", "BALANCE", "DETAIL", "BY"], |e| {
                vec![
                    output::time(e.at),
                    e.kind.clone(),
                    output::money(e.amount_cents),
                    output::money(e.balance_cents),
                    e.detail.clone(),
                    e.actor.clone(),
                ]
            })?;
        }
        BalanceCmd::Topup { slug, amount, note } => {
            let t = crate::billing::top_up(store, &slug, &amount, &note, &super::audit::system_user()).await?;
            println!("balance of {} is {}", t.slug, output::money(t.balance_cents));
        }
        BalanceCmd::Warn { slug, amount } => {
            let t = crate::billing::set_low_balance(store, &slug, &amount).await?;
            println!("{} is warned below {}", t.slug, output::money(t.low_balance_cents));
        }
    }
    Ok(())
}
