//! Carrier trunks and the city numbers (DIDs) on them.

use crate::{Store, StoreError, now_ms, numbers};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A SIP trunk to a carrier.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Trunk {
    /// Database id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Carrier address `host:port`.
    pub host: String,
    /// Digest user name (registration and outbound calls).
    pub username: Option<String>,
    /// Digest password.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// Whether the PBX registers to the carrier.
    pub register: bool,
    /// Source networks calls are accepted from (CIDRs).
    pub allow_ips: Vec<String>,
    /// Country calling code for number normalisation.
    pub country_code: String,
    /// How numbers are written towards the carrier: `e164` or `national`.
    pub number_format: String,
    /// Registration state as the server last wrote it.
    pub reg_state: String,
    /// Details of that state (error, expiry).
    pub reg_detail: String,
    /// When the state was written, ms.
    pub reg_updated_at: i64,
}

/// Input for a new trunk.
#[derive(Debug, Clone, Default)]
pub struct NewTrunk<'a> {
    /// Name.
    pub name: &'a str,
    /// `host:port`.
    pub host: &'a str,
    /// Digest user.
    pub username: Option<&'a str>,
    /// Digest password.
    pub password: Option<&'a str>,
    /// Register to the carrier.
    pub register: bool,
    /// Allowed source CIDRs.
    pub allow_ips: Vec<String>,
}

/// A city number of a tenant.
#[derive(Debug, Clone, Serialize)]
pub struct Did {
    /// Database id.
    pub id: i64,
    /// Tenant.
    pub tenant_id: i64,
    /// E.164 number.
    pub number: String,
    /// Trunk id.
    pub trunk_id: i64,
    /// Trunk name.
    pub trunk: String,
    /// The user it belongs to (their caller ID), if any.
    pub user_id: Option<i64>,
    /// The user's extension.
    pub user_ext: Option<String>,
    /// The tenant's main number (caller ID of users without their own).
    pub is_main: bool,
    /// The call-handling scenario (JSON); none: the default setup.
    pub scenario: Option<String>,
}

/// Parses `a.b.c.d/len` or a bare address into (network, prefix length).
pub fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, l.parse::<u8>().ok()?),
        None => (s, if s.contains(':') { 128 } else { 32 }),
    };
    let ip: std::net::IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

/// True when `ip` is inside `net/len`.
pub fn cidr_contains(net: std::net::IpAddr, len: u8, ip: std::net::IpAddr) -> bool {
    match (net, ip) {
        (std::net::IpAddr::V4(n), std::net::IpAddr::V4(i)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (std::net::IpAddr::V6(n), std::net::IpAddr::V6(i)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Checks a trunk's fields; its host and port.
fn check_trunk<'a>(t: &NewTrunk<'a>) -> Result<(&'a str, &'a str), StoreError> {
    if t.name.is_empty() || t.name.len() > 64 || !t.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(StoreError::Invalid(format!("invalid trunk name {:?}: letters, digits, - and _", t.name)));
    }
    let (host, port) = t.host.rsplit_once(':').unwrap_or((t.host, "5060"));
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(StoreError::Invalid(format!("invalid trunk host {:?}: use HOST:PORT", t.host)));
    }
    crate::directory::check_text("the user name", t.username.unwrap_or_default(), 128)?;
    crate::directory::check_text("the password", t.password.unwrap_or_default(), 128)?;
    if t.register && (t.username.is_none() || t.password.is_none()) {
        return Err(StoreError::Invalid("a registering trunk needs a user name and a password".into()));
    }
    for c in &t.allow_ips {
        if parse_cidr(c).is_none() {
            return Err(StoreError::Invalid(format!("invalid allowed address {c:?}: use an address or CIDR such as 192.0.2.0/24")));
        }
    }
    if !t.register && t.allow_ips.is_empty() {
        return Err(StoreError::Invalid("an IP trunk needs at least one allowed address (or it registers)".into()));
    }
    Ok((host, port))
}

const TRUNK_COLS: &str =
    "id, name, host, username, password, register, allow_ips, country_code, number_format, reg_state, reg_detail, reg_updated_at";

fn trunk_from(r: &AnyRow) -> Result<Trunk, sqlx::Error> {
    let allow: String = r.try_get("allow_ips")?;
    Ok(Trunk {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        host: r.try_get("host")?,
        username: r.try_get("username")?,
        password: r.try_get("password")?,
        register: r.try_get::<i64, _>("register")? != 0,
        allow_ips: allow.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        country_code: r.try_get("country_code")?,
        number_format: r.try_get("number_format")?,
        reg_state: r.try_get("reg_state")?,
        reg_detail: r.try_get("reg_detail")?,
        reg_updated_at: r.try_get("reg_updated_at")?,
    })
}

impl Store {
    /// Creates a trunk.
    pub async fn create_trunk(&self, t: &NewTrunk<'_>) -> Result<Trunk, StoreError> {
        let (host, port) = check_trunk(t)?;
        sqlx::query(
            "INSERT INTO trunks (name, host, username, password, register, allow_ips, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(t.name)
        .bind(format!("{host}:{port}"))
        .bind(t.username)
        .bind(t.password)
        .bind(i64::from(t.register))
        .bind(t.allow_ips.join(","))
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(|e| StoreError::conflict_or(e, &format!("trunk {}", t.name)))?;
        self.bump_config_version().await?;
        self.trunk_by_name(t.name).await
    }

    /// Changes a trunk (its name stays): its carrier address, credentials, registration and
    /// allowed addresses; a password left out keeps the one stored.
    pub async fn update_trunk(&self, t: &NewTrunk<'_>) -> Result<Trunk, StoreError> {
        let old = self.trunk_by_name(t.name).await?;
        let password = t.password.or(old.password.as_deref());
        let (host, port) = check_trunk(&NewTrunk { password, ..t.clone() })?;
        sqlx::query("UPDATE trunks SET host = $1, username = $2, password = $3, register = $4, allow_ips = $5 WHERE id = $6")
            .bind(format!("{host}:{port}"))
            .bind(t.username)
            .bind(password)
            .bind(i64::from(t.register))
            .bind(t.allow_ips.join(","))
            .bind(old.id)
            .execute(self.pool())
            .await?;
        self.bump_config_version().await?;
        self.trunk_by_name(t.name).await
    }

    /// One trunk by name.
    pub async fn trunk_by_name(&self, name: &str) -> Result<Trunk, StoreError> {
        let r = sqlx::query(&format!("SELECT {TRUNK_COLS} FROM trunks WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("trunk {name}")))?;
        Ok(trunk_from(&r)?)
    }

    /// Every trunk.
    pub async fn list_trunks(&self) -> Result<Vec<Trunk>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {TRUNK_COLS} FROM trunks ORDER BY name")).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(trunk_from).collect::<Result<_, _>>()?)
    }

    /// Deletes a trunk that carries no city numbers.
    pub async fn delete_trunk(&self, name: &str) -> Result<(), StoreError> {
        let t = self.trunk_by_name(name).await?;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM dids WHERE trunk_id = $1").bind(t.id).fetch_one(self.pool()).await?;
        if n > 0 {
            return Err(StoreError::InUse(format!("trunk {name} still carries {n} city number(s); delete them first")));
        }
        sqlx::query("DELETE FROM trunks WHERE id = $1").bind(t.id).execute(self.pool()).await?;
        self.bump_config_version().await
    }

    /// Records a trunk's registration state (written by the server, read by `trunk list`).
    pub async fn set_trunk_state(&self, id: i64, state: &str, detail: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE trunks SET reg_state = $1, reg_detail = $2, reg_updated_at = $3 WHERE id = $4")
            .bind(state)
            .bind(detail)
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Adds a city number to a tenant; the first one becomes the main number.
    pub async fn add_did(&self, tenant_id: i64, raw: &str, trunk: &str, user_ext: Option<&str>, main: bool) -> Result<Did, StoreError> {
        let t = self.trunk_by_name(trunk).await?;
        let number = numbers::normalize(raw, &t.country_code)
            .ok_or_else(|| StoreError::Invalid(format!("{raw:?} is not a telephone number (use E.164 such as +74951234567)")))?;
        let user_id = match user_ext {
            Some(ext) => Some(self.user_by_ext(tenant_id, ext).await?.id),
            None => None,
        };
        let (existing,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM dids WHERE tenant_id = $1 AND is_main = 1").bind(tenant_id).fetch_one(self.pool()).await?;
        let is_main = main || existing == 0;
        let mut tx = self.begin_write().await?;
        if is_main {
            sqlx::query("UPDATE dids SET is_main = 0 WHERE tenant_id = $1").bind(tenant_id).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO dids (tenant_id, number, trunk_id, user_id, is_main, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(tenant_id)
            .bind(&number)
            .bind(t.id)
            .bind(user_id)
            .bind(i64::from(is_main))
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::conflict_or(e, &format!("number {number}")))?;
        tx.commit().await?;
        self.bump_config_version().await?;
        self.list_dids(Some(tenant_id))
            .await?
            .into_iter()
            .find(|d| d.number == number)
            .ok_or_else(|| StoreError::NotFound(format!("number {number}")))
    }

    /// City numbers of a tenant (or of all tenants).
    pub async fn list_dids(&self, tenant_id: Option<i64>) -> Result<Vec<Did>, StoreError> {
        let sql = "SELECT d.id, d.tenant_id, d.number, d.trunk_id, t.name AS trunk, d.user_id, u.ext AS user_ext, d.is_main, d.scenario \
                   FROM dids d JOIN trunks t ON t.id = d.trunk_id LEFT JOIN users u ON u.id = d.user_id";
        let rows = match tenant_id {
            Some(id) => sqlx::query(&format!("{sql} WHERE d.tenant_id = $1 ORDER BY d.number")).bind(id).fetch_all(self.pool()).await?,
            None => sqlx::query(&format!("{sql} ORDER BY d.number")).fetch_all(self.pool()).await?,
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(Did {
                id: r.try_get("id")?,
                tenant_id: r.try_get("tenant_id")?,
                number: r.try_get("number")?,
                trunk_id: r.try_get("trunk_id")?,
                trunk: r.try_get("trunk")?,
                user_id: r.try_get("user_id")?,
                user_ext: r.try_get("user_ext")?,
                is_main: r.try_get::<i64, _>("is_main")? != 0,
                scenario: r.try_get("scenario")?,
            });
        }
        Ok(out)
    }

    /// Removes a city number from a tenant.
    pub async fn delete_did(&self, tenant_id: i64, raw: &str) -> Result<(), StoreError> {
        let dids = self.list_dids(Some(tenant_id)).await?;
        let found = dids.iter().find(|d| d.number == raw || numbers::normalize(raw, "7").is_some_and(|n| n == d.number));
        let Some(d) = found else { return Err(StoreError::NotFound(format!("number {raw}"))) };
        sqlx::query("DELETE FROM dids WHERE id = $1").bind(d.id).execute(self.pool()).await?;
        if d.is_main {
            // Promote the oldest remaining number.
            sqlx::query("UPDATE dids SET is_main = 1 WHERE id = (SELECT MIN(id) FROM dids WHERE tenant_id = $1)")
                .bind(tenant_id)
                .execute(self.pool())
                .await?;
        }
        self.bump_config_version().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let (n, l) = parse_cidr("192.0.2.0/24").unwrap();
        assert!(cidr_contains(n, l, "192.0.2.77".parse().unwrap()));
        assert!(!cidr_contains(n, l, "192.0.3.1".parse().unwrap()));
        let (n, l) = parse_cidr("127.0.0.50").unwrap();
        assert!(cidr_contains(n, l, "127.0.0.50".parse().unwrap()));
        assert!(!cidr_contains(n, l, "127.0.0.51".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("nope").is_none());
    }
}
