//! The tenant's side of validation: its plugins (installed and first-party), prompts
//! (uploaded and built-in), extensions and dialling rules. The CLI and the cabinet both
//! save scenarios through [`save`].

use super::Scenario;
use super::validate::{Catalog, validate};
use crate::plugins::PluginRuntime;
use pbx_store::{Store, Tenant};
use std::collections::HashSet;

/// Largest scenario accepted, bytes of JSON.
pub const MAX_SCENARIO_BYTES: usize = 256 * 1024;

/// What validation checks a tenant's scenario against.
pub struct TenantCatalog<'a> {
    /// The runtime with the tenant's plugins loaded.
    pub runtime: &'a PluginRuntime,
    /// The tenant.
    pub tenant: Tenant,
    /// Its extensions.
    pub extensions: HashSet<String>,
    /// Its uploaded prompts.
    pub prompts: HashSet<String>,
    /// Its queues' extensions.
    pub queues: HashSet<String>,
}

impl<'a> TenantCatalog<'a> {
    /// Loads what validation needs for a tenant.
    pub async fn load(store: &Store, runtime: &'a PluginRuntime, tenant: Tenant) -> Result<TenantCatalog<'a>, pbx_store::StoreError> {
        let extensions = store.list_users(tenant.id).await?.into_iter().map(|u| u.ext).collect();
        let prompts = store.list_prompts(Some(tenant.id)).await?.into_iter().map(|p| p.name).collect();
        let mut extensions: HashSet<String> = extensions;
        let mut queues = HashSet::new();
        for g in store.list_groups(Some(tenant.id)).await? {
            match g.kind {
                pbx_store::GroupKind::Ring => {
                    extensions.insert(g.ext);
                }
                pbx_store::GroupKind::Queue => {
                    queues.insert(g.ext);
                }
            }
        }
        Ok(TenantCatalog { runtime, tenant, extensions, prompts, queues })
    }
}

impl Catalog for TenantCatalog<'_> {
    fn plugin_outputs(&self, plugin: &str, config: &serde_json::Value) -> Result<Vec<String>, String> {
        self.runtime.node_outputs(self.tenant.id, plugin, config)
    }

    fn prompt_exists(&self, name: &str) -> bool {
        self.prompts.contains(name) || pbx_media::prompt::builtin(&self.tenant.language, name).is_some()
    }

    fn queue_exists(&self, ext: &str) -> bool {
        self.queues.contains(ext)
    }

    fn dial_target(&self, target: &str) -> Result<(), String> {
        if self.extensions.contains(target) || target == super::default_setup::EVERYONE {
            return Ok(());
        }
        if target.chars().all(|c| c.is_ascii_digit()) && target.len() <= 5 {
            return Err("no such extension".into());
        }
        match pbx_store::numbers::normalize(target, &self.tenant.country_code) {
            Some(_) => Ok(()),
            None => Err("neither an extension nor a phone number".into()),
        }
    }
}

/// Parses and validates a scenario for a tenant; the error is for the user.
pub fn check(json: &str, catalog: &TenantCatalog<'_>) -> Result<Scenario, String> {
    if json.len() > MAX_SCENARIO_BYTES {
        return Err(format!("the scenario is too large ({} bytes, at most {MAX_SCENARIO_BYTES})", json.len()));
    }
    let s = Scenario::parse(json)?;
    validate(&s, catalog)?;
    Ok(s)
}

/// Validates and stores a city number's scenario (normalised JSON).
pub async fn save(store: &Store, catalog: &TenantCatalog<'_>, number: &str, json: &str) -> anyhow::Result<Scenario> {
    let s = check(json, catalog).map_err(|e| anyhow::anyhow!("invalid scenario: {e}"))?;
    let normalised = serde_json::to_string_pretty(&s)?;
    store.set_scenario(catalog.tenant.id, number, Some(&normalised)).await?;
    Ok(s)
}
