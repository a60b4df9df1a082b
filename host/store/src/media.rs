//! Media records: call timelines, recordings and uploaded prompts.

use crate::{Store, StoreError, now_ms};
use serde::Serialize;
use sqlx::Row;

/// One event of a call's timeline.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CallEvent {
    /// Order within the call.
    pub seq: i64,
    /// When, ms.
    pub at: i64,
    /// `ringing`, `answered`, `dtmf`, `hold`, `resume`, `recording`, `hangup`...
    pub kind: String,
    /// Details (digit and source, cause and side...).
    pub detail: String,
}

/// A call recording.
#[derive(Debug, Clone, Serialize)]
pub struct Recording {
    /// The call.
    pub call_id: String,
    /// Tenant.
    pub tenant_id: i64,
    /// File path.
    pub path: String,
    /// `wav` while being written, `ogg` once stored compactly.
    pub format: String,
    /// Length.
    pub duration_ms: i64,
    /// Size on disk.
    pub size_bytes: i64,
    /// Start, ms.
    pub created_at: i64,
}

/// An uploaded prompt.
#[derive(Debug, Clone, Serialize)]
pub struct PromptRow {
    /// Tenant.
    pub tenant_id: i64,
    /// Name used in settings and scenarios.
    pub name: String,
    /// File (8 kHz mono WAV).
    pub path: String,
    /// Length.
    pub duration_ms: i64,
    /// The uploaded file's name.
    pub original_name: String,
    /// Upload time, ms.
    pub created_at: i64,
}

fn recording_from(r: &sqlx::any::AnyRow) -> Result<Recording, sqlx::Error> {
    Ok(Recording {
        call_id: r.try_get("call_id")?,
        tenant_id: r.try_get("tenant_id")?,
        path: r.try_get("path")?,
        format: r.try_get("format")?,
        duration_ms: r.try_get("duration_ms")?,
        size_bytes: r.try_get("size_bytes")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// A call's timeline in order.
    pub async fn call_events(&self, call_id: &str) -> Result<Vec<CallEvent>, StoreError> {
        let rows = sqlx::query("SELECT seq, at, kind, detail FROM call_events WHERE call_id = $1 ORDER BY seq")
            .bind(call_id)
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(CallEvent { seq: r.try_get("seq")?, at: r.try_get("at")?, kind: r.try_get("kind")?, detail: r.try_get("detail")? });
        }
        Ok(out)
    }

    /// Records a finished (compressed) recording or updates a row after repair.
    pub async fn finish_recording(
        &self,
        call_id: &str,
        path: &str,
        format: &str,
        duration_ms: i64,
        size_bytes: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE recordings SET path = $1, format = $2, duration_ms = $3, size_bytes = $4 WHERE call_id = $5")
            .bind(path)
            .bind(format)
            .bind(duration_ms)
            .bind(size_bytes)
            .bind(call_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A tenant's recordings, newest first, after the keyset cursor `(created_at, call_id)`.
    pub async fn list_recordings(&self, tenant_id: i64, limit: i64, after: Option<(i64, &str)>) -> Result<Vec<Recording>, StoreError> {
        let cols = "call_id, tenant_id, path, format, duration_ms, size_bytes, created_at";
        let rows = match after {
            None => {
                sqlx::query(&format!("SELECT {cols} FROM recordings WHERE tenant_id = $1 ORDER BY created_at DESC, call_id DESC LIMIT $2"))
                    .bind(tenant_id)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
            Some((ts, id)) => {
                sqlx::query(&format!(
                    "SELECT {cols} FROM recordings WHERE tenant_id = $1 AND (created_at < $2 OR (created_at = $2 AND call_id < $3)) \
                     ORDER BY created_at DESC, call_id DESC LIMIT $4"
                ))
                .bind(tenant_id)
                .bind(ts)
                .bind(id)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        Ok(rows.iter().map(recording_from).collect::<Result<_, _>>()?)
    }

    /// The recording of a call (within a tenant).
    pub async fn recording(&self, tenant_id: i64, call_id: &str) -> Result<Recording, StoreError> {
        let r = sqlx::query("SELECT call_id, tenant_id, path, format, duration_ms, size_bytes, created_at FROM recordings WHERE tenant_id = $1 AND call_id = $2")
            .bind(tenant_id)
            .bind(call_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("recording of call {call_id}")))?;
        Ok(recording_from(&r)?)
    }

    /// Recordings still in the interim WAV form (interrupted or not yet compressed).
    pub async fn unfinished_recordings(&self) -> Result<Vec<Recording>, StoreError> {
        let rows = sqlx::query(
            "SELECT call_id, tenant_id, path, format, duration_ms, size_bytes, created_at FROM recordings WHERE format = 'wav'",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(recording_from).collect::<Result<_, _>>()?)
    }

    /// Removes recordings older than their tenant's retention; returns their files to delete.
    pub async fn expire_recordings(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.call_id, r.path FROM recordings r JOIN tenants t ON t.id = r.tenant_id \
             WHERE r.created_at < $1 - t.retention_days * 86400000",
        )
        .bind(now_ms)
        .fetch_all(self.pool())
        .await?;
        let mut paths = Vec::new();
        for r in rows {
            let id: String = r.try_get("call_id")?;
            sqlx::query("DELETE FROM recordings WHERE call_id = $1").bind(&id).execute(self.pool()).await?;
            paths.push(r.try_get("path")?);
        }
        Ok(paths)
    }

    /// Stores (or replaces) an uploaded prompt; returns the file of the one it replaced.
    pub async fn put_prompt(
        &self,
        tenant_id: i64,
        name: &str,
        path: &str,
        duration_ms: i64,
        original: &str,
    ) -> Result<Option<String>, StoreError> {
        if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(StoreError::Invalid(format!("invalid prompt name {name:?}: letters, digits, - and _")));
        }
        let old: Option<(String,)> = sqlx::query_as("SELECT path FROM prompts WHERE tenant_id = $1 AND name = $2")
            .bind(tenant_id)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM prompts WHERE tenant_id = $1 AND name = $2").bind(tenant_id).bind(name).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO prompts (tenant_id, name, path, duration_ms, original_name, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(tenant_id)
            .bind(name)
            .bind(path)
            .bind(duration_ms)
            .bind(original)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.bump_config_version().await?;
        Ok(old.map(|o| o.0).filter(|p| p != path))
    }

    /// Renames an uploaded prompt (its file stays where it is).
    pub async fn rename_prompt(&self, tenant_id: i64, name: &str, new_name: &str) -> Result<(), StoreError> {
        if new_name.is_empty() || new_name.len() > 64 || !new_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(StoreError::Invalid(format!("invalid prompt name {new_name:?}: letters, digits, - and _")));
        }
        let done = sqlx::query("UPDATE prompts SET name = $1 WHERE tenant_id = $2 AND name = $3")
            .bind(new_name)
            .bind(tenant_id)
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(|e| StoreError::conflict_or(e, &format!("prompt {new_name}")))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("prompt {name}")));
        }
        self.bump_config_version().await
    }

    /// Removes an uploaded prompt; returns its file, for the caller to delete.
    pub async fn delete_prompt(&self, tenant_id: i64, name: &str) -> Result<String, StoreError> {
        let old: Option<(String,)> = sqlx::query_as("SELECT path FROM prompts WHERE tenant_id = $1 AND name = $2")
            .bind(tenant_id)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        let Some((path,)) = old else { return Err(StoreError::NotFound(format!("prompt {name}"))) };
        sqlx::query("DELETE FROM prompts WHERE tenant_id = $1 AND name = $2").bind(tenant_id).bind(name).execute(self.pool()).await?;
        self.bump_config_version().await?;
        Ok(path)
    }

    /// Prompts of a tenant (or all tenants).
    pub async fn list_prompts(&self, tenant_id: Option<i64>) -> Result<Vec<PromptRow>, StoreError> {
        let cols = "tenant_id, name, path, duration_ms, original_name, created_at";
        let rows = match tenant_id {
            Some(t) => {
                sqlx::query(&format!("SELECT {cols} FROM prompts WHERE tenant_id = $1 ORDER BY name"))
                    .bind(t)
                    .fetch_all(self.pool())
                    .await?
            }
            None => sqlx::query(&format!("SELECT {cols} FROM prompts ORDER BY tenant_id, name")).fetch_all(self.pool()).await?,
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(PromptRow {
                tenant_id: r.try_get("tenant_id")?,
                name: r.try_get("name")?,
                path: r.try_get("path")?,
                duration_ms: r.try_get("duration_ms")?,
                original_name: r.try_get("original_name")?,
                created_at: r.try_get("created_at")?,
            });
        }
        Ok(out)
    }
}
