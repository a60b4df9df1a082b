//! `pbx plugin ...`: a tenant's third-party plugins: install (or upgrade) a component,
//! list, grant the capabilities it asks for, enable/disable, remove.

use super::output;
use crate::plugins::admin::{MAX_COMPONENT, catalog_component, install, remove, rows};
use clap::Subcommand;

use pbx_store::{Grants, Store};

/// Plugin commands.
#[derive(Debug, Subcommand)]
pub enum PluginCmd {
    /// Install a plugin component (.wasm) for a tenant, or upgrade the one of the same name.
    Install {
        /// Tenant slug.
        slug: String,
        /// The component, or the name of one the PBX ships (`bitrix24`; see `pbx plugin catalog`).
        file: std::path::PathBuf,
    },
    /// The plugins the PBX ships for companies to install (CRM connectors).
    Catalog,
    /// List the plugins a tenant can use (first-party and installed).
    List {
        /// Tenant slug.
        slug: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Grant an installed plugin what it may use (replaces earlier grants).
    Grant {
        /// Tenant slug.
        slug: String,
        /// Plugin name.
        name: String,
        /// A host it may call over HTTP (repeatable).
        #[arg(long)]
        http: Vec<String>,
        /// It may read the tenant's users.
        #[arg(long)]
        directory: bool,
        /// It may keep data in its key-value store.
        #[arg(long)]
        kv: bool,
        /// It may read and write the tenant's phone book.
        #[arg(long)]
        contacts: bool,
    },
    /// Let scenarios run an installed plugin again.
    Enable {
        /// Tenant slug.
        slug: String,
        /// Plugin name.
        name: String,
    },
    /// Stop scenarios from running an installed plugin (its nodes take their error route).
    Disable {
        /// Tenant slug.
        slug: String,
        /// Plugin name.
        name: String,
    },
    /// Show a plugin's settings (secrets only named), or set them from a JSON object
    /// (`--set '{"url": "https://crm.example", "api_key": "..."}'`; secrets left out keep
    /// their value, null removes one).
    Settings {
        /// Tenant slug.
        slug: String,
        /// Plugin name.
        name: String,
        /// The settings (a JSON object).
        #[arg(long)]
        set: Option<String>,
    },
    /// Make a plugin an integration (it receives every call's events and answers at its
    /// inbound webhook address), stop that (--off), or show its state (--show).
    Integration {
        /// Tenant slug.
        slug: String,
        /// Plugin name.
        name: String,
        /// Stop it.
        #[arg(long, conflicts_with = "show")]
        off: bool,
        /// Only show its state and address.
        #[arg(long)]
        show: bool,
        /// Give the inbound address a new secret.
        #[arg(long, conflicts_with = "show")]
        rotate_secret: bool,
    },
    /// Remove an installed plugin and its stored data.
    Remove {
        /// Tenant slug.
        slug: String,
        /// Plugin name.
        name: String,
    },
}

/// Runs a plugin command.
pub async fn run(store: &Store, data_dir: &std::path::Path, cmd: PluginCmd) -> anyhow::Result<()> {
    match cmd {
        PluginCmd::Catalog => {
            for b in pbx_bundled_plugins::CATALOG {
                println!("{}", b.name);
            }
        }
        PluginCmd::Install { slug, file } => {
            let tenant = store.tenant_by_slug(&slug).await?;
            let shipped = file.to_str().and_then(catalog_component).filter(|_| !file.exists());
            let wasm = match shipped {
                Some(w) => w.to_vec(),
                None => {
                    let size = std::fs::metadata(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?.len();
                    if size > MAX_COMPONENT {
                        anyhow::bail!("{} is too large ({size} bytes, at most {MAX_COMPONENT})", file.display());
                    }
                    std::fs::read(&file)?
                }
            };
            let rt = crate::scenario::service::runtime_for(store, tenant.id).await?;
            let (row, missing) = install(store, &rt, &tenant, &wasm).await.map_err(|e| anyhow::anyhow!("{}: {e:#}", file.display()))?;
            println!("installed {} {} for {slug} ({} bytes)", row.name, row.version, wasm.len());
            if !missing.is_empty() {
                println!("it asks for: {}; it will not run until granted:", missing.join(", "));
                let mut cmd = format!("  pbx plugin grant {slug} {}", row.name);
                for c in &missing {
                    match c.split_once(':') {
                        Some(("http", h)) => cmd.push_str(&format!(" --http {h}")),
                        _ => cmd.push_str(&format!(" --{c}")),
                    }
                }
                println!("{cmd}");
            }
        }
        PluginCmd::List { slug, json } => {
            let tenant = store.tenant_by_slug(&slug).await?;
            let rt = crate::scenario::service::runtime_for(store, tenant.id).await?;
            let rows = rows(store, &rt, &tenant).await?;
            output::print(json, &rows, &["NAME", "VERSION", "SOURCE", "ENABLED", "CAPABILITIES", "NOT GRANTED"], |r| {
                vec![
                    r.name.clone(),
                    r.version.clone(),
                    r.source.to_string(),
                    if r.enabled { "yes".into() } else { "no".into() },
                    r.capabilities.join(","),
                    r.missing_grants.join(","),
                ]
            })?;
        }
        PluginCmd::Grant { slug, name, http, directory, kv, contacts } => {
            let tenant = store.tenant_by_slug(&slug).await?;
            let http: Vec<String> = http.into_iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
            let p = store.set_plugin_grants(tenant.id, &name, &Grants { http, directory, kv, contacts }).await?;
            println!(
                "{name} may use: {}",
                [
                    p.grants.http.iter().map(|h| format!("http:{h}")).collect::<Vec<_>>(),
                    if p.grants.directory { vec!["directory".into()] } else { vec![] },
                    if p.grants.kv { vec!["kv".into()] } else { vec![] },
                    if p.grants.contacts { vec!["contacts".into()] } else { vec![] },
                ]
                .concat()
                .join(", ")
            );
        }
        PluginCmd::Enable { slug, name } => {
            let tenant = store.tenant_by_slug(&slug).await?;
            store.set_plugin_enabled(tenant.id, &name, true).await?;
            println!("{name} enabled for {slug}");
        }
        PluginCmd::Disable { slug, name } => {
            let tenant = store.tenant_by_slug(&slug).await?;
            store.set_plugin_enabled(tenant.id, &name, false).await?;
            println!("{name} disabled for {slug}: its nodes take their error route");
        }
        PluginCmd::Settings { slug, name, set } => {
            let tenant = store.tenant_by_slug(&slug).await?;
            let sbox = crate::plugin_settings::SecretBox::open_dir(data_dir).map_err(anyhow::Error::msg)?;
            let view = match set {
                Some(text) => {
                    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--set is not JSON: {e}"))?;
                    crate::plugin_settings::put(store, &sbox, tenant.id, &name, &v).await?
                }
                None => crate::plugin_settings::view(store, &sbox, tenant.id, &name).await?,
            };
            println!("{}", serde_json::json!({"settings": view.settings, "secrets_set": view.secrets_set}));
        }
        PluginCmd::Integration { slug, name, off, show, rotate_secret } => {
            let tenant = store.tenant_by_slug(&slug).await?;
            let st = if show {
                crate::integrations::integration_status(store, tenant.id, &name).await?
            } else {
                crate::integrations::set_integration(store, tenant.id, &name, !off, rotate_secret).await?
            };
            println!("{name}: integration {}", if st.enabled { "on" } else { "off" });
            if !st.hook_path.is_empty() {
                println!("inbound address: <cabinet address>{}", st.hook_path);
            }
            if !st.last_error.is_empty() {
                println!("last error ({} attempts): {}", st.attempts, st.last_error);
            }
        }
        PluginCmd::Remove { slug, name } => {
            let tenant = store.tenant_by_slug(&slug).await?;
            remove(store, &tenant, &name).await?;
            println!("{name} removed from {slug}");
        }
    }
    Ok(())
}
