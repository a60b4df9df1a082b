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
    let named: Vec<&String> = [&s.greeting_prompt, &s.moh_prompt].into_iter().flatten().filter(|p| !p.is_empty()).collect();
    if !named.is_empty() {
        let uploaded: std::collections::HashSet<String> = store.list_prompts(Some(t.id)).await?.into_iter().map(|p| p.name).collect();
        let lang = s.language.as_deref().unwrap_or(&t.language);
        if let Some(p) = named.into_iter().find(|p| !uploaded.contains(p.as_str()) && pbx_media::prompt::builtin(lang, p).is_none()) {
            return Err(StoreError::Invalid(format!("there is no prompt {p:?}: upload it first")));
        }
    }
    store.set_tenant_settings(slug, s).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let (a, b) = (new_password(), new_password());
        assert_eq!(a.len(), 18);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() && !"O0Il1".contains(c)));
    }
}
