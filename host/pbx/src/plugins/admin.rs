//! A company's plugins as the CLI and the cabinet manage them: the list with what each
//! asks for, installing (or upgrading) a component after the checks that keep the
//! company's scenarios working, and removing one no scenario uses.

use crate::plugins::missing_grants;
use crate::scenario::catalog::{TenantCatalog, check};
use pbx_plugin_host::{Capability, Metadata};
use pbx_store::{Grants, Store};
use serde::Serialize;
use sha2::Digest;

/// Largest component accepted.
pub const MAX_COMPONENT: u64 = 16 << 20;

/// A plugin available to a tenant, as `plugin list` and the cabinet show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PluginInfo)]
pub struct Row {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `first-party` or `installed`.
    pub source: &'static str,
    /// Whether its nodes run.
    pub enabled: bool,
    /// What it does.
    pub description: String,
    /// Capabilities it asks for (`directory`, `kv`, `http:HOST`).
    pub capabilities: Vec<String>,
    /// Those not granted yet.
    pub missing_grants: Vec<String>,
    /// Node outputs.
    pub outputs: Vec<String>,
    /// JSON Schema of its configuration.
    #[schema(value_type = Object)]
    pub config_schema: serde_json::Value,
    /// What is granted.
    pub grants: Option<Grants>,
}

/// The plugins available to a tenant: first-party ones (from `rt`), then installed ones.
pub async fn rows(store: &Store, rt: &crate::plugins::PluginRuntime, tenant: &pbx_store::Tenant) -> anyhow::Result<Vec<Row>> {
    let mut rows: Vec<Row> = rt
        .builtins()
        .map(|p| Row {
            name: p.metadata.name.clone(),
            version: p.metadata.version.clone(),
            source: "first-party",
            enabled: true,
            description: p.metadata.description.clone(),
            capabilities: capabilities(&p.metadata),
            missing_grants: vec![],
            outputs: p.metadata.outputs.clone(),
            config_schema: serde_json::from_str(&p.metadata.config_schema).unwrap_or_default(),
            grants: None,
        })
        .collect();
    for p in store.list_plugins(Some(tenant.id)).await? {
        let meta: serde_json::Value = serde_json::from_str(&p.metadata).unwrap_or_default();
        let caps: Vec<String> =
            meta["capabilities"].as_array().map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_string)).collect()).unwrap_or_default();
        let missing = caps
            .iter()
            .filter(|c| match c.split_once(':') {
                Some(("http", h)) => !p.grants.http.iter().any(|g| g.eq_ignore_ascii_case(h)),
                _ => {
                    (c.as_str() == "kv" && !p.grants.kv)
                        || (c.as_str() == "directory" && !p.grants.directory)
                        || (c.as_str() == "contacts" && !p.grants.contacts)
                }
            })
            .cloned()
            .collect();
        rows.push(Row {
            name: p.name.clone(),
            version: p.version.clone(),
            source: "installed",
            enabled: p.enabled,
            description: meta["description"].as_str().unwrap_or_default().to_string(),
            capabilities: caps,
            missing_grants: missing,
            outputs: meta["outputs"]
                .as_array()
                .map(|a| a.iter().filter_map(|o| o.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            config_schema: meta["config_schema"].as_str().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default(),
            grants: Some(p.grants.clone()),
        });
    }
    Ok(rows)
}

/// Installs or upgrades a component for a tenant after checking it loads, is not named
/// like a first-party plugin and does not break the scenarios that use it; returns the
/// stored row and the capabilities it asks for that are not granted yet.
pub async fn install(
    store: &Store,
    rt: &std::sync::Arc<crate::plugins::PluginRuntime>,
    tenant: &pbx_store::Tenant,
    wasm: &[u8],
) -> anyhow::Result<(pbx_store::PluginRow, Vec<String>)> {
    if wasm.len() as u64 > MAX_COMPONENT {
        anyhow::bail!("the component is too large ({} bytes, at most {MAX_COMPONENT})", wasm.len());
    }
    pbx_plugin_host::check_header(wasm).map_err(|e| match e {
        pbx_plugin_host::PluginError::Invalid(why) => anyhow::anyhow!("the file is not a usable plugin: {why}"),
        other => anyhow::anyhow!("the file is not a usable plugin: {other}"),
    })?;
    let (rt2, bytes) = (rt.clone(), wasm.to_vec());
    let plugin = pbx_store::blocking::run(move || rt2.host().load(&bytes))
        .await?
        .map_err(|e| anyhow::anyhow!("the file is not a usable plugin: {e}"))?;
    let m = plugin.metadata.clone();
    if !name_ok(&m.name) {
        anyhow::bail!("the plugin calls itself {:?}: names are lowercase letters, digits and '-'", m.name);
    }
    if rt.builtins().any(|b| b.metadata.name == m.name) {
        anyhow::bail!("{} is the name of a first-party plugin; a third-party plugin needs another name", m.name);
    }
    serde_json::from_str::<serde_json::Value>(&m.config_schema)
        .map_err(|e| anyhow::anyhow!("the plugin's configuration schema is not JSON: {e}"))?;
    // An upgrade must not break the scenarios that use the plugin.
    let asked: Vec<String> = m.capabilities.iter().flat_map(|c| if let Capability::Http(h) = c { h.clone() } else { vec![] }).collect();
    rt.put(tenant.id, plugin.clone(), Grants { http: asked, directory: true, kv: true, contacts: true });
    let catalog = TenantCatalog::load(store, rt, tenant.clone()).await?;
    for did in store.list_dids(Some(tenant.id)).await? {
        if let Some(json) = &did.scenario
            && json.contains(&format!("\"{}\"", m.name))
            && let Err(e) = check(json, &catalog)
        {
            anyhow::bail!("{} {} would break the scenario of {}: {e}", m.name, m.version, did.number);
        }
    }
    let sha = hex(&sha2::Sha256::digest(wasm));
    let meta = serde_json::json!({
        "name": m.name, "version": m.version, "description": m.description, "outputs": m.outputs,
        "config_schema": m.config_schema, "capabilities": capabilities(&m), "contract": plugin.contract.as_str(),
    });
    let row = store.install_plugin(tenant.id, &m.name, &m.version, &sha, wasm, &meta.to_string()).await?;
    // An integration upgraded to another contract takes that contract's event kinds.
    store.set_integration_kinds(tenant.id, &m.name, crate::integrations::kinds_for(plugin.contract.as_str())).await?;
    let missing = missing_grants(&m, &row.grants);
    Ok((row, missing))
}

/// Removes a tenant's plugin unless a scenario still uses it.
pub async fn remove(store: &Store, tenant: &pbx_store::Tenant, name: &str) -> anyhow::Result<()> {
    for did in store.list_dids(Some(tenant.id)).await? {
        if did
            .scenario
            .as_deref()
            .is_some_and(|j| j.contains(&format!("\"plugin\": \"{name}\"")) || j.contains(&format!("\"plugin\":\"{name}\"")))
        {
            anyhow::bail!("the scenario of {} uses {name}: change it first", did.number);
        }
    }
    store.delete_plugin(tenant.id, name).await?;
    Ok(())
}

fn capabilities(m: &Metadata) -> Vec<String> {
    m.capabilities
        .iter()
        .flat_map(|c| match c {
            Capability::Directory => vec!["directory".to_string()],
            Capability::Kv => vec!["kv".to_string()],
            Capability::Contacts => vec!["contacts".to_string()],
            Capability::Http(hosts) => hosts.iter().map(|h| format!("http:{h}")).collect(),
        })
        .collect()
}

/// The component of a plugin the PBX ships for companies to install, by name.
pub fn catalog_component(name: &str) -> Option<&'static [u8]> {
    pbx_bundled_plugins::CATALOG.iter().find(|b| b.name == name).map(|b| b.wasm)
}

fn name_ok(n: &str) -> bool {
    !n.is_empty() && n.len() <= 40 && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
