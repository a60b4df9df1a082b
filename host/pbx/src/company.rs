//! Creating a company with a working default setup, shared by the CLI and the operator's
//! API: the tenant and its first supervisor, whose cabinet login and SIP credentials are
//! shown once. Its city numbers need no scenario to work: a number without one greets the
//! caller (if the company set a greeting) and rings every phone of the company.

use pbx_store::{NewUser, Role, Store, StoreError, Tenant};
use serde::Serialize;

/// The extension the first supervisor gets unless told otherwise.
pub const DEFAULT_SUPERVISOR_EXT: &str = "100";

/// The first supervisor's credentials, returned once at creation (only hashes are kept).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FirstLogin {
    /// The extension (also a phone).
    pub ext: String,
    /// The cabinet login (`ext@company`).
    pub login: String,
    /// The cabinet password (generated).
    pub password: String,
    /// The phone's SIP password (generated); the phone registers as `ext@domain`.
    pub sip_password: String,
    /// The SIP domain the phone registers in.
    pub sip_domain: String,
}

/// A company just created.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedCompany {
    /// The tenant as stored.
    #[serde(flatten)]
    pub tenant: Tenant,
    /// Its first supervisor (none when asked for none).
    pub first_login: Option<FirstLogin>,
}

/// Creates a company; with `supervisor_ext`, also its first supervisor (extension, cabinet
/// login and phone), so it can log in and take calls at once.
pub async fn create_company(
    store: &Store,
    slug: &str,
    domain: &str,
    name: &str,
    supervisor_ext: Option<&str>,
) -> Result<CreatedCompany, StoreError> {
    if let Some(ext) = supervisor_ext
        && !pbx_store::valid_ext(ext)
    {
        return Err(StoreError::Invalid(format!("invalid supervisor extension {ext:?}: use 2 to 6 digits")));
    }
    let tenant = store.create_tenant(slug, domain, name).await?;
    let Some(ext) = supervisor_ext else { return Ok(CreatedCompany { tenant, first_login: None }) };
    let (password, sip_password) = (new_password(), pbx_store::accounts::new_sip_password());
    let user = NewUser { ext, sip_password: &sip_password, name: "Supervisor", role: Role::Supervisor, web_password: Some(&password) };
    store.create_user(tenant.id, &user).await?;
    let first = FirstLogin {
        ext: ext.to_string(),
        login: format!("{ext}@{}", tenant.slug),
        password,
        sip_password,
        sip_domain: tenant.domain.clone(),
    };
    Ok(CreatedCompany { tenant, first_login: Some(first) })
}

/// A strong cabinet password: 18 characters from an alphabet without look-alikes (about
/// 104 bits), easy to read out over the phone.
pub fn new_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut r = rand::rng();
    (0..18).map(|_| CHARS[r.random_range(0..CHARS.len())] as char).collect()
}

/// Changes a company's settings (the CLI's `tenant set`, the cabinet's settings page): the
/// store checks each value; a greeting or music must name a prompt the company uploaded or
/// a built-in one (empty: none).
pub async fn update_settings(store: &Store, slug: &str, s: &pbx_store::TenantSettings) -> Result<Tenant, StoreError> {
    let t = store.tenant_by_slug(slug).await?;
    let named: Vec<&String> =
        [&s.greeting_prompt, &s.moh_prompt, &s.after_hours_prompt].into_iter().flatten().filter(|p| !p.is_empty()).collect();
    if !named.is_empty() {
        let uploaded: std::collections::HashSet<String> = store.list_prompts(Some(t.id)).await?.into_iter().map(|p| p.name).collect();
        let lang = s.language.as_deref().unwrap_or(&t.language);
        if let Some(p) = named.into_iter().find(|p| !uploaded.contains(p.as_str()) && pbx_media::prompt::builtin(lang, p).is_none()) {
            return Err(StoreError::Invalid(format!("there is no prompt {p:?}: upload it first")));
        }
    }
    store.set_tenant_settings(slug, s).await
}

/// Where a company uses a prompt: its greeting, its music on hold, the scenarios of its
/// numbers (any node setting whose value is the name, besides the graph's own wiring).
pub async fn prompt_uses(store: &Store, tenant: &Tenant, name: &str) -> Result<Vec<String>, StoreError> {
    let mut uses = Vec::new();
    if tenant.greeting_prompt == name {
        uses.push("the company's greeting".to_string());
    }
    if tenant.moh_prompt == name {
        uses.push("the company's music on hold".to_string());
    }
    if tenant.after_hours_prompt == name {
        uses.push("the company's after-hours message".to_string());
    }
    uses.extend(scenarios_naming(store, tenant, name, PROMPT_SKIP).await?);
    Ok(uses)
}

/// Keys of a scenario node whose values are never prompts.
const PROMPT_SKIP: &[&str] = &["next", "type", "plugin", "targets"];
/// Keys of a scenario node whose values are never extensions.
const EXT_SKIP: &[&str] = &["next", "type", "plugin"];

/// The numbers whose scenarios send calls to an extension (a ring group's or queue's).
pub async fn extension_uses(store: &Store, tenant: &Tenant, ext: &str) -> Result<Vec<String>, StoreError> {
    scenarios_naming(store, tenant, ext, EXT_SKIP).await
}

/// "the scenario of NUMBER" for each of the company's numbers whose scenario holds `name`
/// in a node's settings (outside the keys in `skip`).
async fn scenarios_naming(store: &Store, tenant: &Tenant, name: &str, skip: &[&str]) -> Result<Vec<String>, StoreError> {
    let mut uses = Vec::new();
    for did in store.list_dids(Some(tenant.id)).await? {
        let Some(raw) = did.scenario.as_deref() else { continue };
        let Ok(graph) = serde_json::from_str::<serde_json::Value>(raw) else { continue };
        if graph.get("nodes").and_then(|n| n.as_object()).is_some_and(|nodes| nodes.values().any(|node| names(node, name, skip))) {
            uses.push(format!("the scenario of {}", did.number));
        }
    }
    Ok(uses)
}

/// Deletes a ring group or queue unless a scenario still sends calls to it (the answer
/// says which).
pub async fn delete_group(store: &Store, tenant: &Tenant, ext: &str) -> Result<(), StoreError> {
    store.group_by_ext(tenant.id, ext).await?;
    let uses = extension_uses(store, tenant, ext).await?;
    if !uses.is_empty() {
        return Err(StoreError::InUse(format!("{ext} is in use ({}): change that first", uses.join(", "))));
    }
    store.delete_group(tenant.id, ext).await
}

/// Whether a scenario node's settings hold `name` as a value, outside the keys in `skip`
/// (the wiring, `next`, and what a node is, `type` and `plugin`).
fn names(v: &serde_json::Value, name: &str, skip: &[&str]) -> bool {
    match v {
        serde_json::Value::String(s) => s == name,
        serde_json::Value::Array(a) => a.iter().any(|x| names(x, name, skip)),
        serde_json::Value::Object(o) => o.iter().any(|(k, x)| !skip.contains(&k.as_str()) && names(x, name, skip)),
        _ => false,
    }
}

/// Renames an uploaded prompt, unless the company uses it under its old name (the answer
/// says where: change that first, so nothing is left pointing at a name that is gone).
pub async fn rename_prompt(store: &Store, tenant: &Tenant, name: &str, new_name: &str) -> Result<(), StoreError> {
    let uses = prompt_uses(store, tenant, name).await?;
    if !uses.is_empty() {
        return Err(StoreError::InUse(format!("the prompt {name} is in use ({}): change that first", uses.join(", "))));
    }
    store.rename_prompt(tenant.id, name, new_name).await
}

/// Deletes an uploaded prompt and its file, unless the company still uses it (the answer
/// says where).
pub async fn delete_prompt(store: &Store, tenant: &Tenant, name: &str) -> Result<(), StoreError> {
    let uses = prompt_uses(store, tenant, name).await?;
    if !uses.is_empty() {
        return Err(StoreError::InUse(format!("the prompt {name} is in use ({}): change that first", uses.join(", "))));
    }
    let path = store.delete_prompt(tenant.id, name).await?;
    if let Err(e) = std::fs::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(tenant = %tenant.slug, prompt = name, error = %e, "cannot remove a deleted prompt's file");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_is_named_by_node_settings_not_by_the_wiring() {
        let node = serde_json::json!({"type": "plugin", "plugin": "ivr", "config": {"greeting": "welcome", "options": {"1": "sales"}}, "next": {"sales": "bye"}});
        assert!(names(&node, "welcome", PROMPT_SKIP));
        assert!(!names(&node, "bye", PROMPT_SKIP), "a node id in next");
        assert!(!names(&node, "ivr", PROMPT_SKIP), "the plugin's name");
        let play = serde_json::json!({"type": "play", "prompts": ["closed", "music"], "next": {"done": "closed"}});
        assert!(names(&play, "music", PROMPT_SKIP) && names(&play, "closed", PROMPT_SKIP));
        let dial = serde_json::json!({"type": "dial", "targets": ["300"], "next": {"*": "bye"}});
        assert!(names(&dial, "300", EXT_SKIP) && !names(&dial, "300", PROMPT_SKIP));
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let (a, b) = (new_password(), new_password());
        assert_eq!(a.len(), 18);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() && !"O0Il1".contains(c)));
    }
}
