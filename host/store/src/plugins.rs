//! Tenants' plugins, their grants and key-value stores, and the scenarios of city numbers.
//!
//! A third-party plugin is stored with its component (so every node of a cluster loads the
//! same bytes), its self-description and the capabilities the tenant granted. The
//! key-value store is keyed by tenant and plugin: a plugin never reaches another tenant's
//! or another plugin's keys.

use crate::{Store, StoreError, now_ms, numbers};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// What a tenant allowed a plugin to use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grants {
    /// Hosts it may reach over HTTP.
    #[serde(default)]
    pub http: Vec<String>,
    /// The tenant's directory of users.
    #[serde(default)]
    pub directory: bool,
    /// Its key-value store.
    #[serde(default)]
    pub kv: bool,
    /// The tenant's phone book (read and write).
    #[serde(default)]
    pub contacts: bool,
}

/// An installed plugin (without its component bytes).
#[derive(Debug, Clone, Serialize)]
pub struct PluginRow {
    /// Database id.
    pub id: i64,
    /// Tenant.
    pub tenant_id: i64,
    /// Name (what scenarios refer to).
    pub name: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// `describe()` as JSON.
    pub metadata: String,
    /// What the tenant granted.
    pub grants: Grants,
    /// Whether scenarios may run it.
    pub enabled: bool,
    /// Installation time, ms.
    pub installed_at: i64,
}

/// Longest value kept per key, bytes; keys per plugin and tenant.
const MAX_KEYS: i64 = 100_000;

fn plugin_from(r: &sqlx::any::AnyRow) -> Result<PluginRow, StoreError> {
    let grants: String = r.try_get("grants")?;
    Ok(PluginRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        sha256: r.try_get("sha256")?,
        metadata: r.try_get("metadata")?,
        grants: serde_json::from_str(&grants).unwrap_or_default(),
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        installed_at: r.try_get("installed_at")?,
    })
}

const COLS: &str = "id, tenant_id, name, version, sha256, metadata, grants, enabled, installed_at";

impl Store {
    /// Installs a plugin, or upgrades the one of the same name (grants are kept).
    pub async fn install_plugin(
        &self,
        tenant_id: i64,
        name: &str,
        version: &str,
        sha256: &str,
        wasm: &[u8],
        metadata: &str,
    ) -> Result<PluginRow, StoreError> {
        let now = now_ms();
        let updated = sqlx::query(
            "UPDATE plugins SET version = $1, sha256 = $2, wasm = $3, metadata = $4, installed_at = $5 WHERE tenant_id = $6 AND name = $7",
        )
        .bind(version)
        .bind(sha256)
        .bind(wasm.to_vec())
        .bind(metadata)
        .bind(now)
        .bind(tenant_id)
        .bind(name)
        .execute(self.pool())
        .await?;
        if updated.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO plugins (tenant_id, name, version, sha256, wasm, metadata, grants, enabled, installed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, '{}', 1, $7)",
            )
            .bind(tenant_id)
            .bind(name)
            .bind(version)
            .bind(sha256)
            .bind(wasm.to_vec())
            .bind(metadata)
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(|e| StoreError::conflict_or(e, &format!("plugin {name}")))?;
        }
        self.bump_config_version().await?;
        self.plugin(tenant_id, name).await
    }

    /// One installed plugin of a tenant.
    pub async fn plugin(&self, tenant_id: i64, name: &str) -> Result<PluginRow, StoreError> {
        let r = sqlx::query(&format!("SELECT {COLS} FROM plugins WHERE tenant_id = $1 AND name = $2"))
            .bind(tenant_id)
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("plugin {name}")))?;
        plugin_from(&r)
    }

    /// Installed plugins of one tenant, or of all tenants.
    pub async fn list_plugins(&self, tenant_id: Option<i64>) -> Result<Vec<PluginRow>, StoreError> {
        let rows = match tenant_id {
            Some(t) => {
                sqlx::query(&format!("SELECT {COLS} FROM plugins WHERE tenant_id = $1 ORDER BY name"))
                    .bind(t)
                    .fetch_all(self.pool())
                    .await?
            }
            None => sqlx::query(&format!("SELECT {COLS} FROM plugins ORDER BY tenant_id, name")).fetch_all(self.pool()).await?,
        };
        rows.iter().map(plugin_from).collect()
    }

    /// The component of an installed plugin.
    pub async fn plugin_wasm(&self, id: i64) -> Result<Vec<u8>, StoreError> {
        let r = sqlx::query("SELECT wasm FROM plugins WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("plugin #{id}")))?;
        Ok(r.try_get("wasm")?)
    }

    /// Replaces what a tenant granted a plugin.
    pub async fn set_plugin_grants(&self, tenant_id: i64, name: &str, grants: &Grants) -> Result<PluginRow, StoreError> {
        let json = serde_json::to_string(grants).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let r = sqlx::query("UPDATE plugins SET grants = $1 WHERE tenant_id = $2 AND name = $3")
            .bind(json)
            .bind(tenant_id)
            .bind(name)
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("plugin {name}")));
        }
        self.bump_config_version().await?;
        self.plugin(tenant_id, name).await
    }

    /// Enables or disables a plugin.
    pub async fn set_plugin_enabled(&self, tenant_id: i64, name: &str, enabled: bool) -> Result<PluginRow, StoreError> {
        let r = sqlx::query("UPDATE plugins SET enabled = $1 WHERE tenant_id = $2 AND name = $3")
            .bind(i64::from(enabled))
            .bind(tenant_id)
            .bind(name)
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("plugin {name}")));
        }
        self.bump_config_version().await?;
        self.plugin(tenant_id, name).await
    }

    /// Removes an installed plugin and its key-value store.
    pub async fn delete_plugin(&self, tenant_id: i64, name: &str) -> Result<(), StoreError> {
        let r =
            sqlx::query("DELETE FROM plugins WHERE tenant_id = $1 AND name = $2").bind(tenant_id).bind(name).execute(self.pool()).await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("plugin {name}")));
        }
        sqlx::query("DELETE FROM plugin_kv WHERE tenant_id = $1 AND plugin = $2").bind(tenant_id).bind(name).execute(self.pool()).await?;
        // Its integration goes too: a plugin installed later under the name starts afresh
        // (a new inbound address, no old events).
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id IN (SELECT id FROM webhooks WHERE tenant_id = $1 AND plugin = $2)")
            .bind(tenant_id)
            .bind(name)
            .execute(self.pool())
            .await?;
        sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1 AND plugin = $2").bind(tenant_id).bind(name).execute(self.pool()).await?;
        sqlx::query("DELETE FROM plugin_settings WHERE tenant_id = $1 AND plugin = $2")
            .bind(tenant_id)
            .bind(name)
            .execute(self.pool())
            .await?;
        self.bump_config_version().await
    }

    /// A tenant's settings of a plugin (JSON) and its sealed secrets, if set.
    pub async fn plugin_settings(&self, tenant_id: i64, plugin: &str) -> Result<Option<(String, String)>, StoreError> {
        let r: Option<(String, String)> =
            sqlx::query_as("SELECT settings, secrets FROM plugin_settings WHERE tenant_id = $1 AND plugin = $2")
                .bind(tenant_id)
                .bind(plugin)
                .fetch_optional(self.pool())
                .await?;
        Ok(r)
    }

    /// Stores a tenant's settings of an installed plugin and its sealed secrets.
    pub async fn set_plugin_settings(&self, tenant_id: i64, plugin: &str, settings: &str, secrets: &str) -> Result<(), StoreError> {
        self.plugin(tenant_id, plugin).await?;
        sqlx::query(
            "INSERT INTO plugin_settings (tenant_id, plugin, settings, secrets, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, plugin) DO UPDATE SET settings = excluded.settings, secrets = excluded.secrets, updated_at = excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(plugin)
        .bind(settings)
        .bind(secrets)
        .bind(crate::now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Reads a plugin's key.
    pub async fn kv_get(&self, tenant_id: i64, plugin: &str, key: &str) -> Result<Option<String>, StoreError> {
        let r = sqlx::query("SELECT value FROM plugin_kv WHERE tenant_id = $1 AND plugin = $2 AND key = $3")
            .bind(tenant_id)
            .bind(plugin)
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("value")?),
            None => None,
        })
    }

    /// Writes a plugin's key (refused past the per-plugin key limit).
    pub async fn kv_set(&self, tenant_id: i64, plugin: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let now = now_ms();
        let updated = sqlx::query("UPDATE plugin_kv SET value = $1, updated_at = $2 WHERE tenant_id = $3 AND plugin = $4 AND key = $5")
            .bind(value)
            .bind(now)
            .bind(tenant_id)
            .bind(plugin)
            .bind(key)
            .execute(self.pool())
            .await?;
        if updated.rows_affected() > 0 {
            return Ok(());
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM plugin_kv WHERE tenant_id = $1 AND plugin = $2")
            .bind(tenant_id)
            .bind(plugin)
            .fetch_one(self.pool())
            .await?;
        if n >= MAX_KEYS {
            return Err(StoreError::Invalid(format!("the store of {plugin} is full ({MAX_KEYS} keys)")));
        }
        sqlx::query("INSERT INTO plugin_kv (tenant_id, plugin, key, value, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(tenant_id)
            .bind(plugin)
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(|e| StoreError::conflict_or(e, key))?;
        Ok(())
    }

    /// Deletes a plugin's key.
    pub async fn kv_delete(&self, tenant_id: i64, plugin: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM plugin_kv WHERE tenant_id = $1 AND plugin = $2 AND key = $3")
            .bind(tenant_id)
            .bind(plugin)
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Sets (or with `None` clears) the scenario of a tenant's city number; the caller has
    /// validated it.
    pub async fn set_scenario(&self, tenant_id: i64, raw_number: &str, scenario: Option<&str>) -> Result<(), StoreError> {
        let number = self.did_number_of(tenant_id, raw_number).await?;
        sqlx::query("UPDATE dids SET scenario = $1 WHERE tenant_id = $2 AND number = $3")
            .bind(scenario)
            .bind(tenant_id)
            .bind(&number)
            .execute(self.pool())
            .await?;
        self.bump_config_version().await
    }

    /// The scenario of a tenant's city number (none: the default setup).
    pub async fn scenario(&self, tenant_id: i64, raw_number: &str) -> Result<Option<String>, StoreError> {
        let number = self.did_number_of(tenant_id, raw_number).await?;
        let r = sqlx::query("SELECT scenario FROM dids WHERE tenant_id = $1 AND number = $2")
            .bind(tenant_id)
            .bind(&number)
            .fetch_one(self.pool())
            .await?;
        Ok(r.try_get("scenario")?)
    }

    /// The stored E.164 form of one of the tenant's numbers, as the user typed it.
    async fn did_number_of(&self, tenant_id: i64, raw: &str) -> Result<String, StoreError> {
        let dids = self.list_dids(Some(tenant_id)).await?;
        let cc = self.tenant_by_id(tenant_id).await.map(|t| t.country_code).unwrap_or_else(|_| "7".into());
        dids.iter()
            .find(|d| d.number == raw || numbers::normalize(raw, &cc).is_some_and(|n| n == d.number))
            .map(|d| d.number.clone())
            .ok_or_else(|| StoreError::NotFound(format!("number {raw}")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn grants_read_old_and_partial_json() {
        let g: super::Grants = serde_json::from_str(r#"{"kv":true}"#).unwrap();
        assert!(g.kv && !g.directory && g.http.is_empty());
    }
}
