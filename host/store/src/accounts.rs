//! Cabinet accounts: operators (all tenants) and the tenants' users with a web password;
//! login with argon2id (on the bounded pool for heavy work, the same cost for unknown
//! accounts), sessions held in the database (only a hash of the cookie is stored, all of an
//! account's sessions end when its password changes) and API tokens for integrations.
//! Slowing down password guessing is the cabinet's job (per address and per account, with
//! growing delays): the store never locks an account, so nobody can lock another out.

use crate::{Store, StoreError, hash_password, now_ms};
use serde::Serialize;
use sqlx::Row;

/// Session lifetime, ms.
pub const SESSION_MS: i64 = 12 * 3600 * 1000;

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Principal {
    /// The hosting operator.
    Operator {
        /// Operator id.
        id: i64,
        /// Login.
        login: String,
    },
    /// A tenant's user (supervisor or user role).
    User {
        /// User id.
        id: i64,
        /// Tenant.
        tenant_id: i64,
        /// Extension.
        ext: String,
        /// Whether a supervisor.
        supervisor: bool,
    },
}

/// A live session as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// The key to end it by (a prefix of the stored hash; never the cookie).
    pub key: String,
    /// Opened, ms since the epoch.
    pub created_at: i64,
    /// Ends, ms since the epoch.
    pub expires_at: i64,
    /// The address it was opened from.
    pub address: String,
    /// The browser it was opened in (its User-Agent).
    pub user_agent: String,
}

/// Why a login failed (all but `Suspended` read the same to the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong login or password.
    Invalid,
    /// The tenant is suspended.
    Suspended,
}

/// A session as looked up by its cookie.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub principal: Principal,
    /// The session's CSRF token.
    pub csrf: String,
}

/// An API token as listed (never the secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenRow {
    /// Id.
    pub id: i64,
    /// Tenant (none: operator token).
    pub tenant_id: Option<i64>,
    /// `operator`, `supervisor` or `user`.
    pub role: String,
    /// The user it acts as.
    pub user_id: Option<i64>,
    /// Label.
    pub label: String,
    /// Created, ms.
    pub created_at: i64,
}

/// SHA-256 hex of a secret (cookies and tokens are stored hashed).
pub fn secret_hash(secret: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The sessions' column naming an account, and the account's id.
fn account_column(p: &Principal) -> (&'static str, i64) {
    match p {
        Principal::Operator { id, .. } => ("operator_id", *id),
        Principal::User { id, .. } => ("user_id", *id),
    }
}

/// The key a session is known by in its owner's list (never the cookie itself).
pub fn session_key(secret: &str) -> String {
    secret_hash(secret).chars().take(16).collect()
}

/// A strong SIP password a phone can be typed in with: 16 letters and digits.
pub fn new_sip_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut r = rand::rng();
    (0..16).map(|_| CHARS[r.random_range(0..CHARS.len())] as char).collect()
}

/// A random secret (URL-safe).
pub fn new_secret() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut r = rand::rng();
    (0..40).map(|_| CHARS[r.random_range(0..CHARS.len())] as char).collect()
}

fn verify(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Checks a password against an argon2 hash on the pool for heavy work; without a hash (an
/// unknown account, or one without a cabinet password) the same work is done against a
/// dummy, so timing tells nothing.
async fn verify_blocking(hash: Option<String>, password: &str) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let real = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY.get_or_init(|| hash_password("not-a-real-account").unwrap_or_default()).clone());
    let password = password.to_string();
    let ok = crate::blocking::run(move || verify(&hash, &password)).await.unwrap_or(false);
    real && ok
}

/// A password must be 8 to 128 characters.
fn check_password(p: &str) -> Result<(), StoreError> {
    if !(8..=128).contains(&p.chars().count()) {
        return Err(StoreError::Invalid("the password must be 8 to 128 characters".into()));
    }
    Ok(())
}

impl Store {
    /// Creates an operator account.
    pub async fn create_operator(&self, login: &str, password: &str) -> Result<i64, StoreError> {
        if login.is_empty() || login.len() > 64 || !login.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c)) {
            return Err(StoreError::Invalid("the login must be 1 to 64 letters, digits, '.', '_', '-' or '@'".into()));
        }
        check_password(password)?;
        let hash = crate::hash_password_blocking(password).await?;
        sqlx::query("INSERT INTO operators (login, password_hash, created_at) VALUES ($1, $2, $3)")
            .bind(login)
            .bind(hash)
            .bind(now_ms())
            .execute(self.pool())
            .await
            .map_err(|e| StoreError::conflict_or(e, &format!("operator {login}")))?;
        let r = sqlx::query("SELECT id FROM operators WHERE login = $1").bind(login).fetch_one(self.pool()).await?;
        Ok(r.try_get("id")?)
    }

    /// Checks a login: `operator-login` for operators, `ext@tenant-slug` for users.
    pub async fn login(&self, login: &str, password: &str, now: i64) -> Result<Principal, StoreError> {
        self.try_login(login, password, now).await?.map_err(|e| match e {
            LoginError::Invalid => StoreError::Invalid("wrong login or password".into()),
            LoginError::Suspended => StoreError::Invalid("the account is suspended".into()),
        })
    }

    /// [`Store::login`] with the reason of a failure.
    pub async fn try_login(&self, login: &str, password: &str, _now: i64) -> Result<Result<Principal, LoginError>, StoreError> {
        let (table, row) = match login.split_once('@') {
            Some((ext, slug)) => {
                let r = sqlx::query(
                    "SELECT u.id, u.tenant_id, u.ext, u.role, u.web_password_hash AS hash, t.status \
                     FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE t.slug = $1 AND u.ext = $2",
                )
                .bind(slug)
                .bind(ext)
                .fetch_optional(self.pool())
                .await?;
                ("users", r)
            }
            None => {
                let r = sqlx::query("SELECT id, password_hash AS hash, login FROM operators WHERE login = $1")
                    .bind(login)
                    .fetch_optional(self.pool())
                    .await?;
                ("operators", r)
            }
        };
        let hash: Option<String> = match &row {
            Some(r) => r.try_get("hash")?,
            None => None,
        };
        let ok = verify_blocking(hash, password).await;
        let Some(row) = row.filter(|_| ok) else { return Ok(Err(LoginError::Invalid)) };
        let id: i64 = row.try_get("id")?;
        if table == "operators" {
            return Ok(Ok(Principal::Operator { id, login: row.try_get("login")? }));
        }
        if row.try_get::<String, _>("status")? == "suspended" {
            return Ok(Err(LoginError::Suspended));
        }
        Ok(Ok(Principal::User {
            id,
            tenant_id: row.try_get("tenant_id")?,
            ext: row.try_get("ext")?,
            supervisor: row.try_get::<String, _>("role")? == "supervisor",
        }))
    }

    /// Changes the password of a signed-in account after checking the current one.
    pub async fn change_password(&self, p: &Principal, current: &str, new: &str) -> Result<(), StoreError> {
        check_password(new)?;
        let (table, id) = match p {
            Principal::Operator { id, .. } => ("operators", *id),
            Principal::User { id, .. } => ("users", *id),
        };
        let col = if table == "operators" { "password_hash" } else { "web_password_hash" };
        let r = sqlx::query(&format!("SELECT {col} AS hash FROM {table} WHERE id = $1")).bind(id).fetch_one(self.pool()).await?;
        let hash: Option<String> = r.try_get("hash")?;
        if !verify_blocking(hash, current).await {
            return Err(StoreError::Invalid("the current password is wrong".into()));
        }
        sqlx::query(&format!("UPDATE {table} SET {col} = $1 WHERE id = $2"))
            .bind(crate::hash_password_blocking(new).await?)
            .bind(id)
            .execute(self.pool())
            .await?;
        self.end_sessions(p).await
    }

    /// Ends every session of an account (its password changed, or it asked to be logged out
    /// everywhere).
    pub async fn end_sessions(&self, p: &Principal) -> Result<(), StoreError> {
        let (col, id) = account_column(p);
        sqlx::query(&format!("DELETE FROM sessions WHERE {col} = $1")).bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// Sets a user's cabinet password (supervisor action).
    pub async fn set_web_password(&self, tenant_id: i64, ext: &str, password: &str) -> Result<(), StoreError> {
        check_password(password)?;
        let r = sqlx::query("UPDATE users SET web_password_hash = $1 WHERE tenant_id = $2 AND ext = $3")
            .bind(crate::hash_password_blocking(password).await?)
            .bind(tenant_id)
            .bind(ext)
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("extension {ext}")));
        }
        // The user's open sessions end with the old password.
        sqlx::query("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE tenant_id = $1 AND ext = $2)")
            .bind(tenant_id)
            .bind(ext)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Notes where a session was opened from (address, browser), for its owner's list.
    pub async fn set_session_origin(&self, secret: &str, address: &str, user_agent: &str) -> Result<(), StoreError> {
        let ua: String = user_agent.chars().take(300).collect();
        sqlx::query("UPDATE sessions SET address = $1, user_agent = $2 WHERE id_hash = $3")
            .bind(address)
            .bind(ua)
            .bind(secret_hash(secret))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// An account's live sessions, newest first.
    pub async fn list_sessions(&self, p: &Principal, now: i64) -> Result<Vec<SessionInfo>, StoreError> {
        let (col, id) = account_column(p);
        let rows = sqlx::query(&format!(
            "SELECT id_hash, created_at, expires_at, address, user_agent FROM sessions WHERE {col} = $1 AND expires_at > $2 ORDER BY created_at DESC"
        ))
        .bind(id)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let hash: String = r.try_get("id_hash")?;
            out.push(SessionInfo {
                key: hash.chars().take(16).collect(),
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                address: r.try_get("address")?,
                user_agent: r.try_get("user_agent")?,
            });
        }
        Ok(out)
    }

    /// Ends one of an account's sessions by its key.
    pub async fn end_session_by_key(&self, p: &Principal, key: &str) -> Result<(), StoreError> {
        let (col, id) = account_column(p);
        if key.len() != 16 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::NotFound(format!("session {key}")));
        }
        let r = sqlx::query(&format!("DELETE FROM sessions WHERE {col} = $1 AND id_hash LIKE $2"))
            .bind(id)
            .bind(format!("{key}%"))
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("session {key}")));
        }
        Ok(())
    }

    /// Opens a session; returns (cookie secret, CSRF token).
    pub async fn create_session(&self, p: &Principal, now: i64) -> Result<(String, String), StoreError> {
        let secret = new_secret();
        let csrf = new_secret();
        let (op, user) = match p {
            Principal::Operator { id, .. } => (Some(*id), None),
            Principal::User { id, .. } => (None, Some(*id)),
        };
        sqlx::query("INSERT INTO sessions (id_hash, operator_id, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(secret_hash(&secret))
            .bind(op)
            .bind(user)
            .bind(&csrf)
            .bind(now)
            .bind(now + SESSION_MS)
            .execute(self.pool())
            .await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now).execute(self.pool()).await?;
        Ok((secret, csrf))
    }

    /// The live session of a cookie secret (an account whose tenant was suspended since has none).
    pub async fn session(&self, secret: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let r = sqlx::query("SELECT operator_id, user_id, csrf FROM sessions WHERE id_hash = $1 AND expires_at > $2")
            .bind(secret_hash(secret))
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        let Some(r) = r else { return Ok(None) };
        let csrf: String = r.try_get("csrf")?;
        let principal = self.principal_of(r.try_get("operator_id")?, r.try_get("user_id")?).await?;
        Ok(principal.map(|principal| Session { principal, csrf }))
    }

    async fn principal_of(&self, operator_id: Option<i64>, user_id: Option<i64>) -> Result<Option<Principal>, StoreError> {
        if let Some(id) = operator_id {
            let r = sqlx::query("SELECT login FROM operators WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
            return Ok(match r {
                Some(r) => Some(Principal::Operator { id, login: r.try_get("login")? }),
                None => None,
            });
        }
        let Some(id) = user_id else { return Ok(None) };
        let r =
            sqlx::query("SELECT u.tenant_id, u.ext, u.role, t.status FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        let Some(r) = r else { return Ok(None) };
        if r.try_get::<String, _>("status")? == "suspended" {
            return Ok(None);
        }
        Ok(Some(Principal::User {
            id,
            tenant_id: r.try_get("tenant_id")?,
            ext: r.try_get("ext")?,
            supervisor: r.try_get::<String, _>("role")? == "supervisor",
        }))
    }

    /// Ends a session.
    pub async fn delete_session(&self, secret: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(secret_hash(secret)).execute(self.pool()).await?;
        Ok(())
    }

    /// Creates an API token; returns (id, secret). `tenant_id` none with role `operator`.
    pub async fn create_token(
        &self,
        tenant_id: Option<i64>,
        role: &str,
        user_id: Option<i64>,
        label: &str,
    ) -> Result<(i64, String), StoreError> {
        if !["operator", "supervisor", "user"].contains(&role) {
            return Err(StoreError::Invalid("role must be operator, supervisor or user".into()));
        }
        if (role == "operator") != tenant_id.is_none() {
            return Err(StoreError::Invalid("operator tokens have no tenant; others need one".into()));
        }
        crate::directory::check_text("the label", label, 100)?;
        let secret = format!("pbx_{}", new_secret());
        let hash = secret_hash(&secret);
        sqlx::query("INSERT INTO api_tokens (token_hash, tenant_id, role, user_id, label, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&hash)
            .bind(tenant_id)
            .bind(role)
            .bind(user_id)
            .bind(label)
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        let r = sqlx::query("SELECT id FROM api_tokens WHERE token_hash = $1").bind(&hash).fetch_one(self.pool()).await?;
        Ok((r.try_get("id")?, secret))
    }

    /// The principal of a bearer token.
    pub async fn token_principal(&self, secret: &str) -> Result<Option<Principal>, StoreError> {
        let r = sqlx::query("SELECT tenant_id, role, user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(secret_hash(secret))
            .fetch_optional(self.pool())
            .await?;
        let Some(r) = r else { return Ok(None) };
        let role: String = r.try_get("role")?;
        if role == "operator" {
            return Ok(Some(Principal::Operator { id: 0, login: "api-token".into() }));
        }
        let tenant_id: Option<i64> = r.try_get("tenant_id")?;
        let user_id: Option<i64> = r.try_get("user_id")?;
        match (tenant_id, user_id) {
            (Some(_), Some(u)) => {
                let p = self.principal_of(None, Some(u)).await?;
                Ok(p.map(|p| match p {
                    Principal::User { id, tenant_id, ext, .. } => Principal::User { id, tenant_id, ext, supervisor: role == "supervisor" },
                    other => other,
                }))
            }
            (Some(t), None) => {
                let tenant = self.tenant_by_id(t).await?;
                if tenant.status == crate::TenantStatus::Suspended {
                    return Ok(None);
                }
                Ok(Some(Principal::User { id: 0, tenant_id: t, ext: String::new(), supervisor: role == "supervisor" }))
            }
            _ => Ok(None),
        }
    }

    /// A tenant's tokens (or the operator's, with `None`).
    pub async fn list_tokens(&self, tenant_id: Option<i64>) -> Result<Vec<TokenRow>, StoreError> {
        let rows = match tenant_id {
            Some(t) => sqlx::query("SELECT id, tenant_id, role, user_id, label, created_at FROM api_tokens WHERE tenant_id = $1 AND revoked_at IS NULL ORDER BY id")
                .bind(t)
                .fetch_all(self.pool())
                .await?,
            None => sqlx::query("SELECT id, tenant_id, role, user_id, label, created_at FROM api_tokens WHERE tenant_id IS NULL AND revoked_at IS NULL ORDER BY id")
                .fetch_all(self.pool())
                .await?,
        };
        rows.iter()
            .map(|r| {
                Ok(TokenRow {
                    id: r.try_get("id")?,
                    tenant_id: r.try_get("tenant_id")?,
                    role: r.try_get("role")?,
                    user_id: r.try_get("user_id")?,
                    label: r.try_get("label")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Revokes a token of a tenant (or an operator token with `None`).
    pub async fn revoke_token(&self, tenant_id: Option<i64>, id: i64) -> Result<(), StoreError> {
        let r = match tenant_id {
            Some(t) => {
                sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 AND revoked_at IS NULL")
                    .bind(now_ms())
                    .bind(id)
                    .bind(t)
                    .execute(self.pool())
                    .await?
            }
            None => {
                sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND tenant_id IS NULL AND revoked_at IS NULL")
                    .bind(now_ms())
                    .bind(id)
                    .execute(self.pool())
                    .await?
            }
        };
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("token {id}")));
        }
        Ok(())
    }
}
