//! A company's domain operations, shared by the CLI and the REST API (one service layer):
//! creating a company with a working default setup (its first supervisor, whose cabinet
//! login and SIP credentials are shown once; numbers follow the default setup until they
//! get a scenario), its settings, ring groups and queues, forwarding targets, and where
//! its prompts and groups are in use. Plugins are in [`crate::plugins::admin`], uploaded
//! prompts in [`crate::prompts`], scenario checks in [`crate::scenario::service`].

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
    let named = [&s.greeting_prompt, &s.moh_prompt, &s.after_hours_prompt].into_iter().flatten();
    check_prompts(store, &t, s.language.as_deref().unwrap_or(&t.language), named).await?;
    store.set_tenant_settings(slug, s).await
}

/// Refuses a prompt name the company neither uploaded nor has built in (empty names mean
/// none and pass).
async fn check_prompts<'a>(store: &Store, t: &Tenant, lang: &str, names: impl IntoIterator<Item = &'a String>) -> Result<(), StoreError> {
    let named: Vec<&String> = names.into_iter().filter(|p| !p.is_empty()).collect();
    if named.is_empty() {
        return Ok(());
    }
    let uploaded: std::collections::HashSet<String> = store.list_prompts(Some(t.id)).await?.into_iter().map(|p| p.name).collect();
    if let Some(p) = named.into_iter().find(|p| !uploaded.contains(p.as_str()) && pbx_media::prompt::builtin(lang, p).is_none()) {
        return Err(StoreError::Invalid(format!("there is no prompt {p:?}: upload it first")));
    }
    Ok(())
}

/// A ring group's or queue's settings; what is left out takes its default (on creation) or
/// keeps its value (on change).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// The extension callers dial (creation only; 2 to 6 digits).
    pub ext: Option<String>,
    /// `ring` (a ring group) or `queue` (creation only).
    pub kind: Option<String>,
    /// Ring groups: simultaneous, random, sequential, round-robin; queues: ring-all,
    /// round-robin, longest-idle, fewest-calls.
    pub strategy: Option<String>,
    /// Member (agent) extensions, in order.
    pub members: Option<Vec<String>>,
    /// A name for people.
    pub name: Option<String>,
    /// Seconds each member rings (3-600).
    pub ring_seconds: Option<i64>,
    /// Ring groups: seconds the group rings in total (3-3600).
    pub timeout_seconds: Option<i64>,
    /// Queues: longest wait, seconds (5-86400).
    pub max_wait_seconds: Option<i64>,
    /// Queues: most callers waiting (1-10000).
    pub max_length: Option<i64>,
    /// Queues: seconds an agent rests after a call (0-3600).
    pub wrap_up_seconds: Option<i64>,
    /// Queues: seconds between position announcements (5-3600).
    pub announce_seconds: Option<i64>,
    /// Queues: callers may ask to be called back.
    pub callback: Option<bool>,
    /// Queues: the prompt played as music while waiting (empty: the company's music).
    pub music_prompt: Option<String>,
    /// Queues: the prompt a caller hears on entering (empty: none).
    pub entry_prompt: Option<String>,
}

impl GroupBody {
    /// The body's values over `g`.
    fn apply(self, g: &mut pbx_store::NewGroup) {
        if let Some(v) = self.strategy {
            g.strategy = v;
        }
        if let Some(v) = self.members {
            g.members = v.into_iter().map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect();
        }
        if let Some(v) = self.name {
            g.name = v.trim().to_string();
        }
        g.ring_seconds = self.ring_seconds.unwrap_or(g.ring_seconds);
        g.timeout_seconds = self.timeout_seconds.unwrap_or(g.timeout_seconds);
        g.max_wait_seconds = self.max_wait_seconds.unwrap_or(g.max_wait_seconds);
        g.max_length = self.max_length.unwrap_or(g.max_length);
        g.wrap_up_seconds = self.wrap_up_seconds.unwrap_or(g.wrap_up_seconds);
        g.announce_seconds = self.announce_seconds.unwrap_or(g.announce_seconds);
        g.callback = self.callback.unwrap_or(g.callback);
        if let Some(v) = self.music_prompt {
            g.music_prompt = v.trim().to_string();
        }
        if let Some(v) = self.entry_prompt {
            g.entry_prompt = v.trim().to_string();
        }
    }
}

/// Creates a ring group or queue (the CLI's `group create`/`queue create`, the cabinet's
/// groups page): the store checks the settings; a queue's music and entry announcement
/// must name prompts the company has.
pub async fn create_group(store: &Store, t: &Tenant, b: GroupBody) -> Result<pbx_store::Group, StoreError> {
    let ext = b.ext.clone().ok_or_else(|| StoreError::Invalid("`ext` is required".into()))?;
    let kind = match b.kind.as_deref().unwrap_or("ring") {
        "ring" => pbx_store::GroupKind::Ring,
        "queue" => pbx_store::GroupKind::Queue,
        _ => return Err(StoreError::Invalid("`kind` must be ring or queue".into())),
    };
    let strategy = if kind == pbx_store::GroupKind::Ring { "simultaneous" } else { "ring-all" };
    let mut g = pbx_store::NewGroup::new(kind, ext.trim(), strategy, Vec::new());
    b.apply(&mut g);
    check_prompts(store, t, &t.language, [&g.music_prompt, &g.entry_prompt]).await?;
    store.create_group(t.id, &g).await
}

/// Changes a ring group or queue: what `b` leaves out keeps its value; the extension and
/// kind stay.
pub async fn change_group(store: &Store, t: &Tenant, ext: &str, b: GroupBody) -> Result<pbx_store::Group, StoreError> {
    if b.ext.as_deref().is_some_and(|e| e != ext) || b.kind.is_some() {
        return Err(StoreError::Invalid("a group's extension and kind do not change: create another one".into()));
    }
    let old = store.group_by_ext(t.id, ext).await?;
    let mut g = pbx_store::NewGroup::new(old.kind, &old.ext, &old.strategy, old.members);
    g.name = old.name;
    g.ring_seconds = old.ring_seconds;
    g.timeout_seconds = old.timeout_seconds;
    g.max_wait_seconds = old.max_wait_seconds;
    g.max_length = old.max_length;
    g.wrap_up_seconds = old.wrap_up_seconds;
    g.announce_seconds = old.announce_seconds;
    g.callback = old.callback;
    g.music_prompt = old.music_prompt;
    g.entry_prompt = old.entry_prompt;
    b.apply(&mut g);
    check_prompts(store, t, &t.language, [&g.music_prompt, &g.entry_prompt]).await?;
    store.update_group(t.id, &g).await
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
    for g in store.list_groups(Some(tenant.id)).await? {
        if g.music_prompt == name || g.entry_prompt == name {
            uses.push(format!("the queue {}", g.ext));
        }
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

/// A forwarding target: an extension, group or queue of the tenant, or a phone number the
/// tenant may call.
pub fn check_target(t: &pbx_store::Tenant, exts: &[String], target: &str) -> anyhow::Result<String> {
    if exts.iter().any(|e| e == target) {
        return Ok(target.to_string());
    }
    if target.len() <= 6 && target.chars().all(|c| c.is_ascii_digit()) {
        anyhow::bail!("{target} is not an extension of {}", t.slug);
    }
    pbx_store::numbers::normalize(target, &t.country_code)
        .ok_or_else(|| anyhow::anyhow!("{target:?} is neither an extension nor a phone number"))
}

/// Checks and normalizes every target of a forwarding set as a whole (the cabinet's form).
pub async fn checked_forwarding(store: &Store, t: &pbx_store::Tenant, f: &pbx_store::Forwarding) -> anyhow::Result<pbx_store::Forwarding> {
    let mut exts: Vec<String> = store.list_users(t.id).await?.into_iter().map(|u| u.ext).collect();
    exts.extend(store.list_groups(Some(t.id)).await?.into_iter().map(|g| g.ext));
    let check = |o: &Option<String>| -> anyhow::Result<Option<String>> {
        match o.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(x) => Ok(Some(check_target(t, &exts, x)?)),
        }
    };
    if !(5..=300).contains(&f.no_answer_seconds) {
        anyhow::bail!("the no-answer delay must be 5 to 300 seconds");
    }
    Ok(pbx_store::Forwarding {
        always: check(&f.always)?,
        busy: check(&f.busy)?,
        no_answer: check(&f.no_answer)?,
        no_answer_seconds: f.no_answer_seconds,
        unreachable: check(&f.unreachable)?,
    })
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
