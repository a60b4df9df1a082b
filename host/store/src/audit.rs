//! The audit log: who (an account, through a session, an API token or the CLI, from which
//! address) changed what, when, and how it ended. The operator reads all of it, a
//! supervisor their company's; nothing in it is ever a secret (request bodies are not kept).

use crate::{Store, StoreError, now_ms};
use serde::Serialize;
use sqlx::Row;

/// Longest text kept in one field (longer is cut).
const MAX_FIELD: usize = 500;

/// One change, as the audit log keeps it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Database id (newer entries have larger ones).
    pub id: i64,
    /// When, ms since the epoch.
    pub at: i64,
    /// The company it concerns (none: the operator's own, or no company).
    pub tenant_id: Option<i64>,
    /// Who: an extension (`101`), the operator's login, or the system user of the CLI.
    pub actor: String,
    /// How: `session` (the cabinet), `token` (the API) or `cli`.
    pub via: String,
    /// From where: the client's address (`local` for the CLI).
    pub address: String,
    /// What: `PUT /api/v1/users/{ext}` or a CLI command (`user create`).
    pub action: String,
    /// Which object: the request's path or the CLI's arguments (secrets left out).
    pub object: String,
    /// How it ended: the HTTP status, or 0 (done) / 1 (failed) for the CLI.
    pub status: i64,
}

/// A change to record (the id and time are given on writing).
#[derive(Debug, Clone)]
pub struct NewAudit {
    /// See [`AuditEntry::tenant_id`].
    pub tenant_id: Option<i64>,
    /// See [`AuditEntry::actor`].
    pub actor: String,
    /// See [`AuditEntry::via`].
    pub via: &'static str,
    /// See [`AuditEntry::address`].
    pub address: String,
    /// See [`AuditEntry::action`].
    pub action: String,
    /// See [`AuditEntry::object`].
    pub object: String,
    /// See [`AuditEntry::status`].
    pub status: i64,
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_FIELD) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

impl Store {
    /// Writes one entry.
    pub async fn record_audit(&self, e: &NewAudit) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, tenant_id, actor, via, address, action, object, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(now_ms())
        .bind(e.tenant_id)
        .bind(cut(&e.actor))
        .bind(e.via)
        .bind(cut(&e.address))
        .bind(cut(&e.action))
        .bind(cut(&e.object))
        .bind(e.status)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Entries newest first, before id `before` (none: from the newest), of one company
    /// (none: all of them, the operator's view).
    pub async fn list_audit(&self, tenant_id: Option<i64>, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let cols = "id, at, tenant_id, actor, via, address, action, object, status";
        let before = before.unwrap_or(i64::MAX);
        let rows = match tenant_id {
            Some(t) => {
                sqlx::query(&format!("SELECT {cols} FROM audit_log WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"))
                    .bind(t)
                    .bind(before)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                sqlx::query(&format!("SELECT {cols} FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2"))
                    .bind(before)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(AuditEntry {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                tenant_id: r.try_get("tenant_id")?,
                actor: r.try_get("actor")?,
                via: r.try_get("via")?,
                address: r.try_get("address")?,
                action: r.try_get("action")?,
                object: r.try_get("object")?,
                status: r.try_get("status")?,
            });
        }
        Ok(out)
    }
}
