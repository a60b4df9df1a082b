//! Tenants and their users: the directory the registrar, the call engine and the cabinet
//! share.

use crate::{Store, StoreError, now_ms};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Whether a tenant may use the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// Normal operation.
    Active,
    /// Suspended by the operator: no calls, no logins.
    Suspended,
}

impl TenantStatus {
    fn parse(s: &str) -> TenantStatus {
        if s == "suspended" { TenantStatus::Suspended } else { TenantStatus::Active }
    }
}

/// A company hosted on the PBX.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    /// Database id.
    pub id: i64,
    /// Short unique name used in the CLI and URLs.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// SIP domain, also the digest realm.
    pub domain: String,
    /// Active or suspended.
    pub status: TenantStatus,
    /// Balance in hundredths of the currency unit.
    pub balance_cents: i64,
    /// Everything ever charged for calls (the call engine's reference for charges in flight).
    pub charged_cents: i64,
    /// Below this balance the company is warned (0: never).
    pub low_balance_cents: i64,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Country calling code used to read dialled numbers (`7`).
    pub country_code: String,
    /// Numbers always routed out as emergency calls, even without balance.
    pub emergency_numbers: Vec<String>,
    /// Call directions recorded (`inbound`, `outbound`, `internal`); empty: recording off.
    pub recording: Vec<String>,
    /// Days recordings are kept.
    pub retention_days: i64,
    /// Language of the built-in prompts (`ru`, `en`).
    pub language: String,
    /// Prompt played as music on hold.
    pub moh_prompt: String,
    /// Prompt played to callers of the city numbers before the phones ring (empty: none).
    pub greeting_prompt: String,
    /// IANA time zone of the tenant's office (schedules, the cabinet's dates).
    pub timezone: String,
    /// Working hours (`mon-fri 09:00-18:00`); empty: always open.
    pub working_hours: String,
    /// Played to callers of a number without a scenario outside working hours.
    pub after_hours_prompt: String,
}

/// Changes to a tenant's settings (absent fields stay).
#[derive(Debug, Clone, Default)]
pub struct TenantSettings {
    /// Directions to record; empty turns recording off.
    pub recording: Option<Vec<String>>,
    /// Retention in days.
    pub retention_days: Option<i64>,
    /// Prompt language.
    pub language: Option<String>,
    /// Music on hold.
    pub moh_prompt: Option<String>,
    /// Greeting.
    pub greeting_prompt: Option<String>,
    /// Time zone (IANA name).
    pub timezone: Option<String>,
    /// Working hours (`mon-fri 09:00-18:00`; empty: always open).
    pub working_hours: Option<String>,
    /// After-hours message.
    pub after_hours_prompt: Option<String>,
}

/// What a user may do in the cabinet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An employee: own calls and settings.
    User,
    /// The tenant's administrator.
    Supervisor,
}

impl Role {
    /// Parses `user` or `supervisor`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "supervisor" => Some(Role::Supervisor),
            _ => None,
        }
    }

    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Supervisor => "supervisor",
        }
    }
}

/// An extension of a tenant: a person with a phone.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Database id.
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// Extension number, also the SIP user name.
    pub ext: String,
    /// Full name shown as caller name.
    pub name: String,
    /// Digest HA1 of the SIP password for MD5, in the tenant's realm (the password itself is
    /// never stored).
    #[serde(skip_serializing)]
    pub sip_ha1_md5: String,
    /// Digest HA1 for SHA-256 (RFC 8760).
    #[serde(skip_serializing)]
    pub sip_ha1_sha256: String,
    /// Cabinet role.
    pub role: Role,
    /// Whether the user can log in to the cabinet.
    pub has_web_login: bool,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Call forwarding.
    pub forwarding: crate::Forwarding,
    /// Do not disturb: the phones do not ring, groups and queues skip the user.
    pub dnd: bool,
}

/// Input for creating a user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Extension.
    pub ext: &'a str,
    /// SIP password.
    pub sip_password: &'a str,
    /// Full name.
    pub name: &'a str,
    /// Role.
    pub role: Role,
    /// Cabinet password, hashed with argon2id before storage.
    pub web_password: Option<&'a str>,
}

fn tenant_from(row: &AnyRow) -> Result<Tenant, sqlx::Error> {
    Ok(Tenant {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        domain: row.try_get("domain")?,
        status: TenantStatus::parse(&row.try_get::<String, _>("status")?),
        balance_cents: row.try_get("balance_cents")?,
        charged_cents: row.try_get("charged_cents")?,
        low_balance_cents: row.try_get("low_balance_cents")?,
        created_at: row.try_get("created_at")?,
        country_code: row.try_get("country_code")?,
        emergency_numbers: row
            .try_get::<String, _>("emergency_numbers")?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        recording: row.try_get::<String, _>("recording")?.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        retention_days: row.try_get("retention_days")?,
        language: row.try_get("language")?,
        moh_prompt: row.try_get("moh_prompt")?,
        greeting_prompt: row.try_get("greeting_prompt")?,
        timezone: row.try_get("timezone")?,
        working_hours: row.try_get("working_hours")?,
        after_hours_prompt: row.try_get("after_hours_prompt")?,
    })
}

fn user_from(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        ext: row.try_get("ext")?,
        name: row.try_get("name")?,
        sip_ha1_md5: row.try_get("sip_ha1_md5")?,
        sip_ha1_sha256: row.try_get("sip_ha1_sha256")?,
        role: Role::parse(&row.try_get::<String, _>("role")?).unwrap_or(Role::User),
        has_web_login: row.try_get::<Option<String>, _>("web_password_hash")?.is_some(),
        created_at: row.try_get("created_at")?,
        forwarding: crate::Forwarding {
            always: row.try_get("fwd_always")?,
            busy: row.try_get("fwd_busy")?,
            no_answer: row.try_get("fwd_no_answer")?,
            no_answer_seconds: row.try_get("fwd_no_answer_seconds")?,
            unreachable: row.try_get("fwd_unreachable")?,
        },
        dnd: row.try_get::<i64, _>("dnd")? != 0,
    })
}

const TENANT_COLS: &str = "id, slug, name, domain, status, balance_cents, charged_cents, low_balance_cents, created_at, country_code, emergency_numbers, recording, retention_days, language, moh_prompt, greeting_prompt, timezone, working_hours, after_hours_prompt";
const USER_COLS: &str = "id, tenant_id, ext, name, sip_ha1_md5, sip_ha1_sha256, role, web_password_hash, created_at, fwd_always, fwd_busy, fwd_no_answer, fwd_no_answer_seconds, fwd_unreachable, dnd";

/// Checks a tenant slug: lowercase letters, digits and dashes, 2..=32 long.
pub fn valid_slug(s: &str) -> bool {
    (2..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') && !s.starts_with('-')
}

/// Checks a free-text field a person typed: at most `max` characters, none of them a
/// control character (names shown in lists and on phones).
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!("{field} must be at most {max} printable characters")));
    }
    Ok(())
}

/// Checks a SIP domain: a host name of letters, digits, dots and dashes.
pub fn valid_domain(s: &str) -> bool {
    (1..=253).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') && !s.starts_with(['.', '-'])
}

/// Checks an extension: 2 to 6 digits.
pub fn valid_ext(s: &str) -> bool {
    (2..=6).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The digest HA1 values (MD5, SHA-256) of a SIP password: `H(ext:realm:password)`.
pub fn sip_ha1(ext: &str, realm: &str, password: &str) -> (String, String) {
    use md5::Digest as _;
    let input = format!("{ext}:{realm}:{password}");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    (hex(&md5::Md5::digest(input.as_bytes())), hex(&sha2::Sha256::digest(input.as_bytes())))
}

/// Checks a SIP password's form: 6 to 128 printable characters without quotes or backslashes.
pub fn check_sip_password(p: &str) -> Result<(), StoreError> {
    if p.len() < 6 || p.len() > 128 || p.contains(['"', '\\']) || p.chars().any(char::is_control) {
        return Err(StoreError::Invalid("SIP password must be 6 to 128 characters without quotes or backslashes".into()));
    }
    Ok(())
}

/// [`hash_password`] on the bounded pool for heavy work (never on the async threads).
pub async fn hash_password_blocking(password: &str) -> Result<String, StoreError> {
    let p = password.to_string();
    crate::blocking::run(move || hash_password(&p)).await.map_err(|e| StoreError::Invalid(e.to_string()))?
}

/// Hashes a cabinet password with argon2id.
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash password: {e}")))
}

impl Store {
    /// Creates a tenant.
    pub async fn create_tenant(&self, slug: &str, domain: &str, name: &str) -> Result<Tenant, StoreError> {
        if !valid_slug(slug) {
            return Err(StoreError::Invalid(format!("invalid tenant slug {slug:?}: use 2-32 lowercase letters, digits and dashes")));
        }
        let domain = domain.to_ascii_lowercase();
        if !valid_domain(&domain) {
            return Err(StoreError::Invalid(format!("invalid SIP domain {domain:?}")));
        }
        check_text("the company name", name, 100)?;
        let name = if name.is_empty() { slug } else { name };
        sqlx::query("INSERT INTO tenants (slug, name, domain, status, balance_cents, created_at) VALUES ($1, $2, $3, 'active', 0, $4)")
            .bind(slug)
            .bind(name)
            .bind(&domain)
            .bind(now_ms())
            .execute(self.pool())
            .await
            .map_err(|e| StoreError::conflict_or(e, &format!("tenant {slug} or domain {domain}")))?;
        self.bump_config_version().await?;
        self.tenant_by_slug(slug).await
    }

    /// Every tenant, by slug.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants ORDER BY slug")).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(tenant_from).collect::<Result<_, _>>()?)
    }

    /// One keyset page of tenants in slug order: the `limit` after `after` (the operator's
    /// listing grows with the business, so it is read a page at a time from the slug index).
    pub async fn tenants_page(&self, after: Option<&str>, limit: i64) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants WHERE slug > $1 ORDER BY slug LIMIT $2"))
            .bind(after.unwrap_or_default())
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(tenant_from).collect::<Result<_, _>>()?)
    }

    /// One tenant by id.
    pub async fn tenant_by_id(&self, id: i64) -> Result<Tenant, StoreError> {
        let row = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant #{id}")))?;
        Ok(tenant_from(&row)?)
    }

    /// One tenant by slug.
    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Tenant, StoreError> {
        let row = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {slug}")))?;
        Ok(tenant_from(&row)?)
    }

    /// Suspends or resumes a tenant.
    pub async fn set_tenant_status(&self, slug: &str, status: TenantStatus) -> Result<Tenant, StoreError> {
        let t = self.tenant_by_slug(slug).await?;
        let s = match status {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        };
        sqlx::query("UPDATE tenants SET status = $1 WHERE id = $2").bind(s).bind(t.id).execute(self.pool()).await?;
        self.bump_config_version().await?;
        self.tenant_by_slug(slug).await
    }

    /// Changes a tenant's settings.
    pub async fn set_tenant_settings(&self, slug: &str, s: &TenantSettings) -> Result<Tenant, StoreError> {
        let t = self.tenant_by_slug(slug).await?;
        // Everything is checked before anything is written: a bad field changes nothing.
        if let Some(dirs) = &s.recording
            && let Some(bad) = dirs.iter().find(|d| !["inbound", "outbound", "internal"].contains(&d.as_str()))
        {
            return Err(StoreError::Invalid(format!("unknown call direction {bad:?}: use inbound, outbound, internal")));
        }
        if let Some(days) = s.retention_days
            && !(1..=3650).contains(&days)
        {
            return Err(StoreError::Invalid("retention must be 1 to 3650 days".into()));
        }
        if let Some(lang) = &s.language
            && lang != "ru"
            && lang != "en"
        {
            return Err(StoreError::Invalid("language must be ru or en".into()));
        }
        if let Some(tz) = &s.timezone
            && (tz.len() > 64 || jiff::tz::TimeZone::get(tz).is_err())
        {
            return Err(StoreError::Invalid(format!("unknown time zone {tz:?}: use an IANA name such as Europe/Moscow")));
        }
        if let Some(h) = &s.working_hours {
            crate::hours::parse_hours(h)?;
        }
        for p in [&s.moh_prompt, &s.greeting_prompt, &s.after_hours_prompt].into_iter().flatten() {
            if p.len() > 64 {
                return Err(StoreError::Invalid("a prompt name is at most 64 characters".into()));
            }
        }
        let mut tx = self.begin_write().await?;
        if let Some(dirs) = &s.recording {
            sqlx::query("UPDATE tenants SET recording = $1 WHERE id = $2").bind(dirs.join(",")).bind(t.id).execute(&mut *tx).await?;
        }
        if let Some(days) = s.retention_days {
            sqlx::query("UPDATE tenants SET retention_days = $1 WHERE id = $2").bind(days).bind(t.id).execute(&mut *tx).await?;
        }
        if let Some(lang) = &s.language {
            sqlx::query("UPDATE tenants SET language = $1 WHERE id = $2").bind(lang).bind(t.id).execute(&mut *tx).await?;
        }
        if let Some(p) = &s.moh_prompt {
            sqlx::query("UPDATE tenants SET moh_prompt = $1 WHERE id = $2").bind(p).bind(t.id).execute(&mut *tx).await?;
        }
        if let Some(tz) = &s.timezone {
            sqlx::query("UPDATE tenants SET timezone = $1 WHERE id = $2").bind(tz).bind(t.id).execute(&mut *tx).await?;
        }
        if let Some(p) = &s.greeting_prompt {
            sqlx::query("UPDATE tenants SET greeting_prompt = $1 WHERE id = $2").bind(p).bind(t.id).execute(&mut *tx).await?;
        }
        if let Some(h) = &s.working_hours {
            sqlx::query("UPDATE tenants SET working_hours = $1 WHERE id = $2").bind(h.trim()).bind(t.id).execute(&mut *tx).await?;
        }
        if let Some(p) = &s.after_hours_prompt {
            sqlx::query("UPDATE tenants SET after_hours_prompt = $1 WHERE id = $2").bind(p).bind(t.id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.bump_config_version().await?;
        self.tenant_by_slug(slug).await
    }

    /// Creates a user in a tenant.
    pub async fn create_user(&self, tenant_id: i64, u: &NewUser<'_>) -> Result<User, StoreError> {
        if !valid_ext(u.ext) {
            return Err(StoreError::Invalid(format!("invalid extension {:?}: use 2 to 6 digits", u.ext)));
        }
        check_sip_password(u.sip_password)?;
        let web = match u.web_password {
            Some(p) if p.len() < 8 => {
                return Err(StoreError::Invalid("web password must be at least 8 characters".into()));
            }
            Some(p) => Some(hash_password_blocking(p).await?),
            None => None,
        };
        let domain = self.tenant_by_id(tenant_id).await?.domain;
        let (ha1_md5, ha1_sha256) = sip_ha1(u.ext, &domain, u.sip_password);
        if self.group_by_ext(tenant_id, u.ext).await.is_ok() {
            return Err(StoreError::Conflict(format!("extension {} (a group or queue)", u.ext)));
        }
        sqlx::query(
            "INSERT INTO users (tenant_id, ext, name, sip_password, sip_ha1_md5, sip_ha1_sha256, role, web_password_hash, created_at) \
             VALUES ($1, $2, $3, '', $4, $5, $6, $7, $8)",
        )
        .bind(tenant_id)
        .bind(u.ext)
        .bind(u.name)
        .bind(ha1_md5)
        .bind(ha1_sha256)
        .bind(u.role.as_str())
        .bind(web)
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(|e| StoreError::conflict_or(e, &format!("extension {}", u.ext)))?;
        self.bump_config_version().await?;
        self.user_by_ext(tenant_id, u.ext).await
    }

    /// Sets a user's SIP password (stored as its digest hashes; phones must register again
    /// with it).
    pub async fn set_sip_password(&self, tenant_id: i64, ext: &str, password: &str) -> Result<(), StoreError> {
        check_sip_password(password)?;
        let domain = self.tenant_by_id(tenant_id).await?.domain;
        let (md5, sha256) = sip_ha1(ext, &domain, password);
        let done =
            sqlx::query("UPDATE users SET sip_ha1_md5 = $1, sip_ha1_sha256 = $2, sip_password = '' WHERE tenant_id = $3 AND ext = $4")
                .bind(md5)
                .bind(sha256)
                .bind(tenant_id)
                .bind(ext)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("extension {ext}")));
        }
        self.bump_config_version().await
    }

    /// Changes a user's name and/or cabinet role; the company's last supervisor stays one
    /// (nobody could manage it otherwise).
    pub async fn update_user(&self, tenant_id: i64, ext: &str, name: Option<&str>, role: Option<Role>) -> Result<User, StoreError> {
        let u = self.user_by_ext(tenant_id, ext).await?;
        if let Some(n) = name
            && n.chars().count() > 100
        {
            return Err(StoreError::Invalid("a name is at most 100 characters".into()));
        }
        if role == Some(Role::User) && u.role == Role::Supervisor {
            let (others,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND role = 'supervisor' AND ext <> $2")
                .bind(tenant_id)
                .bind(ext)
                .fetch_one(self.pool())
                .await?;
            if others == 0 {
                return Err(StoreError::Invalid(format!("{ext} is the company's only supervisor: make another one first")));
            }
        }
        let mut tx = self.begin_write().await?;
        if let Some(n) = name {
            sqlx::query("UPDATE users SET name = $1 WHERE tenant_id = $2 AND ext = $3")
                .bind(n.trim())
                .bind(tenant_id)
                .bind(ext)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(r) = role {
            sqlx::query("UPDATE users SET role = $1 WHERE tenant_id = $2 AND ext = $3")
                .bind(r.as_str())
                .bind(tenant_id)
                .bind(ext)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.bump_config_version().await?;
        self.user_by_ext(tenant_id, ext).await
    }

    /// One user by extension.
    pub async fn user_by_ext(&self, tenant_id: i64, ext: &str) -> Result<User, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND ext = $2"))
            .bind(tenant_id)
            .bind(ext)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("extension {ext}")))?;
        Ok(user_from(&row)?)
    }

    /// A tenant's users by extension.
    pub async fn list_users(&self, tenant_id: i64) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 ORDER BY ext"))
            .bind(tenant_id)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(user_from).collect::<Result<_, _>>()?)
    }

    /// One keyset page of a tenant's users in dialing order (shorter extensions first, so
    /// 99 comes before 100): the `limit` after the extension `after`.
    pub async fn users_page(&self, tenant_id: i64, after: Option<&str>, limit: i64) -> Result<Vec<User>, StoreError> {
        let after = after.unwrap_or_default();
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND (length(ext) > $2 OR (length(ext) = $2 AND ext > $3)) \
             ORDER BY length(ext), ext LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(after.len() as i64)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(user_from).collect::<Result<_, _>>()?)
    }

    /// Every user of every tenant (the server's directory cache).
    pub async fn all_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLS} FROM users ORDER BY tenant_id, ext")).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(user_from).collect::<Result<_, _>>()?)
    }

    /// Deletes a user (and their registrations).
    pub async fn delete_user(&self, tenant_id: i64, ext: &str) -> Result<(), StoreError> {
        let user = self.user_by_ext(tenant_id, ext).await?;
        sqlx::query("DELETE FROM registrations WHERE user_id = $1").bind(user.id).execute(self.pool()).await?;
        sqlx::query("DELETE FROM users WHERE id = $1").bind(user.id).execute(self.pool()).await?;
        self.bump_config_version().await?;
        Ok(())
    }
}

/// Parses an amount such as `100`, `-5.5` or `12.34` into cents.
pub fn parse_amount(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (whole, frac) = s.split_once(['.', ',']).unwrap_or((s, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let cents = whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(format!("{frac:0<2}").parse::<i64>().ok()?)?;
    Some(if neg { -cents } else { cents })
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts() {
        assert_eq!(super::parse_amount("100"), Some(10000));
        assert_eq!(super::parse_amount("-5.5"), Some(-550));
        assert_eq!(super::parse_amount("12,34"), Some(1234));
        assert_eq!(super::parse_amount("0"), Some(0));
        assert_eq!(super::parse_amount("1.234"), None);
        assert_eq!(super::parse_amount("abc"), None);
        // One cent past the largest balance is refused, not wrapped or a panic.
        assert_eq!(super::parse_amount("92233720368547758.07"), Some(i64::MAX));
        assert_eq!(super::parse_amount("92233720368547758.08"), None);
    }
}
