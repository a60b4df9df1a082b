//! `pbx trunk ...` and `pbx did ...`

use super::output;
use clap::Subcommand;
use pbx_store::{NewTrunk, Store};

/// Trunk commands (operator).
#[derive(Debug, Subcommand)]
pub enum TrunkCmd {
    /// Create a trunk to a carrier.
    Create {
        /// Unique name.
        name: String,
        /// Carrier address HOST:PORT.
        #[arg(long)]
        host: String,
        /// Digest user name (registration and outbound calls).
        #[arg(long)]
        username: Option<String>,
        /// Digest password.
        #[arg(long)]
        password: Option<String>,
        /// Register to the carrier and keep the registration alive.
        #[arg(long)]
        register: bool,
        /// Accept calls from this address or network (repeatable).
        #[arg(long = "allow-ip")]
        allow_ip: Vec<String>,
    },
    /// Change a trunk: what is left out keeps its value (the password too).
    Set {
        /// Its name.
        name: String,
        /// Carrier address HOST:PORT.
        #[arg(long)]
        host: Option<String>,
        /// Digest user name ("" for none).
        #[arg(long)]
        username: Option<String>,
        /// Digest password.
        #[arg(long)]
        password: Option<String>,
        /// Register to the carrier (true or false).
        #[arg(long)]
        register: Option<bool>,
        /// Accept calls from these addresses or networks (comma-separated; replaces the list).
        #[arg(long = "allow-ips", value_delimiter = ',')]
        allow_ips: Option<Vec<String>>,
    },
    /// List trunks with their registration state.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a trunk (it must carry no city numbers).
    Delete {
        /// Name.
        name: String,
    },
}

/// City-number commands.
#[derive(Debug, Subcommand)]
pub enum DidCmd {
    /// Add a city number to a tenant.
    Add {
        /// Tenant slug.
        slug: String,
        /// The number in any usual form (+74951234567, 84951234567...).
        number: String,
        /// The trunk it arrives on.
        #[arg(long)]
        trunk: String,
        /// The user whose own number it is (their caller ID).
        #[arg(long)]
        user: Option<String>,
        /// Make it the tenant's main number.
        #[arg(long)]
        main: bool,
    },
    /// List a tenant's city numbers.
    List {
        /// Tenant slug.
        slug: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a city number from a tenant.
    Delete {
        /// Tenant slug.
        slug: String,
        /// The number.
        number: String,
    },
}

/// Runs a trunk command.
pub async fn run_trunk(store: &Store, cmd: TrunkCmd) -> anyhow::Result<()> {
    match cmd {
        TrunkCmd::Create { name, host, username, password, register, allow_ip } => {
            let t = store
                .create_trunk(&NewTrunk {
                    name: &name,
                    host: &host,
                    username: username.as_deref(),
                    password: password.as_deref(),
                    register,
                    allow_ips: allow_ip,
                })
                .await?;
            println!("created trunk {} to {}{}", t.name, t.host, if t.register { " (registering)" } else { "" });
        }
        TrunkCmd::Set { name, host, username, password, register, allow_ips } => {
            let old = store.trunk_by_name(&name).await?;
            let username = username.or(old.username);
            let t = store
                .update_trunk(&NewTrunk {
                    name: &name,
                    host: host.as_deref().unwrap_or(&old.host).trim(),
                    username: username.as_deref().map(str::trim).filter(|u| !u.is_empty()),
                    password: password.as_deref().filter(|p| !p.is_empty()),
                    register: register.unwrap_or(old.register),
                    allow_ips: allow_ips
                        .unwrap_or(old.allow_ips)
                        .into_iter()
                        .map(|a| a.trim().to_string())
                        .filter(|a| !a.is_empty())
                        .collect(),
                })
                .await?;
            println!("changed trunk {} to {}{}", t.name, t.host, if t.register { " (registering)" } else { "" });
        }
        TrunkCmd::List { json } => {
            let ts = store.list_trunks().await?;
            output::print(json, &ts, &["NAME", "HOST", "TYPE", "ALLOW", "REGISTRATION", "DETAIL"], |t| {
                vec![
                    t.name.clone(),
                    t.host.clone(),
                    if t.register { "register".into() } else { "ip".into() },
                    t.allow_ips.join(","),
                    if t.register { t.reg_state.clone() } else { "-".into() },
                    t.reg_detail.clone(),
                ]
            })?;
        }
        TrunkCmd::Delete { name } => {
            store.delete_trunk(&name).await?;
            println!("deleted trunk {name}");
        }
    }
    Ok(())
}

/// Runs a city-number command.
pub async fn run_did(store: &Store, cmd: DidCmd) -> anyhow::Result<()> {
    match cmd {
        DidCmd::Add { slug, number, trunk, user, main } => {
            let t = store.tenant_by_slug(&slug).await?;
            let d = store.add_did(t.id, &number, &trunk, user.as_deref(), main).await?;
            println!("added {} to {} on trunk {}{}", d.number, t.slug, d.trunk, if d.is_main { " (main number)" } else { "" });
        }
        DidCmd::List { slug, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let ds = store.list_dids(Some(t.id)).await?;
            output::print(json, &ds, &["NUMBER", "TRUNK", "USER", "MAIN"], |d| {
                vec![d.number.clone(), d.trunk.clone(), d.user_ext.clone().unwrap_or_default(), if d.is_main { "yes" } else { "" }.into()]
            })?;
        }
        DidCmd::Delete { slug, number } => {
            let t = store.tenant_by_slug(&slug).await?;
            store.delete_did(t.id, &number).await?;
            println!("removed {number} from {slug}");
        }
    }
    Ok(())
}
