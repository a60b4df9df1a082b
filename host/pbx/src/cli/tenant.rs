//! `pbx tenant ...`

use super::output;
use clap::Subcommand;
use pbx_store::Store;

/// Tenant commands.
#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// Create a tenant with its SIP domain and its first supervisor (a cabinet login and a
    /// phone, whose generated passwords are printed once).
    Create {
        /// Short unique name (lowercase letters, digits, dashes).
        slug: String,
        /// SIP domain of the tenant (also its digest realm).
        #[arg(long)]
        domain: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        /// Extension of the first supervisor.
        #[arg(long, default_value = crate::company::DEFAULT_SUPERVISOR_EXT)]
        supervisor: String,
        /// Create no supervisor (the users come later, by `pbx user create`).
        #[arg(long, conflicts_with = "supervisor")]
        no_supervisor: bool,
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
    /// Change a tenant's settings.
    Set {
        /// Tenant slug.
        slug: String,
        /// Record calls: on, off, or the directions to record (inbound,outbound,internal).
        #[arg(long)]
        recording: Option<String>,
        /// Days recordings are kept.
        #[arg(long)]
        retention_days: Option<i64>,
        /// Language of the built-in prompts: ru or en.
        #[arg(long)]
        language: Option<String>,
        /// Prompt played as music on hold.
        #[arg(long)]
        moh: Option<String>,
        /// Prompt played to city-number callers before the phones ring (none: no greeting).
        #[arg(long)]
        greeting: Option<String>,
        /// Time zone of the office (IANA name, e.g. Europe/Moscow): schedules use it.
        #[arg(long)]
        timezone: Option<String>,
        /// Working hours, e.g. "mon-fri 09:00-18:00; sat 10:00-14:00" ("" : always open):
        /// outside them, numbers without a scenario play the after-hours message.
        #[arg(long)]
        hours: Option<String>,
        /// Prompt played outside working hours.
        #[arg(long)]
        after_hours: Option<String>,
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
        TenantCmd::Create { slug, domain, name, supervisor, no_supervisor } => {
            let c = crate::company::create_company(store, &slug, &domain, &name, (!no_supervisor).then_some(supervisor.as_str())).await?;
            println!("created tenant {} (domain {})", c.tenant.slug, c.tenant.domain);
            if let Some(f) = c.first_login {
                println!("supervisor {}: cabinet login {} password {}", f.ext, f.login, f.password);
                println!("phone: {}@{} SIP password {}", f.ext, f.sip_domain, f.sip_password);
                println!("(the passwords are shown only now)");
            }
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
            let t = crate::billing::set_balance(store, &slug, &amount, &super::audit::system_user()).await?;
            println!("balance of {} is {}", t.slug, output::money(t.balance_cents));
        }
        TenantCmd::Set { slug, recording, retention_days, language, moh, greeting, timezone, hours, after_hours } => {
            let recording = recording.map(|r| match r.as_str() {
                "on" => vec!["inbound".to_string(), "outbound".into(), "internal".into()],
                "off" => Vec::new(),
                dirs => dirs.split(',').map(|d| d.trim().to_string()).filter(|d| !d.is_empty()).collect(),
            });
            let greeting = greeting.map(|g| if g == "none" { String::new() } else { g });
            let t = crate::company::update_settings(
                store,
                &slug,
                &pbx_store::TenantSettings {
                    recording,
                    retention_days,
                    language,
                    moh_prompt: moh,
                    greeting_prompt: greeting,
                    timezone,
                    working_hours: hours,
                    after_hours_prompt: after_hours,
                },
            )
            .await?;
            println!(
                "{}: recording {}, retention {} days, language {}, music {}, greeting {}, time zone {}",
                t.slug,
                if t.recording.is_empty() { "off".to_string() } else { t.recording.join(",") },
                t.retention_days,
                t.language,
                t.moh_prompt,
                if t.greeting_prompt.is_empty() { "none" } else { &t.greeting_prompt },
                t.timezone
            );
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
