//! Contact bindings of registered phones, persisted so that a restart or another node keeps
//! them.

use crate::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;

/// One stored binding.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationRow {
    /// User.
    pub user_id: i64,
    /// Tenant.
    pub tenant_id: i64,
    /// Contact URI as registered.
    pub contact: String,
    /// Where the REGISTER came from: `udp:1.2.3.4:5060`.
    pub source: String,
    /// Call-ID of the registration.
    pub call_id: String,
    /// CSeq of the last refresh.
    pub cseq: i64,
    /// Expiry, ms since epoch.
    pub expires_at: i64,
    /// User-Agent header.
    pub user_agent: String,
    /// Node that holds the binding.
    pub node: String,
}

impl Store {
    /// Inserts or refreshes bindings and removes expired/unregistered ones, in one transaction.
    pub async fn apply_registrations(&self, upserts: &[RegistrationRow], removals: &[(i64, String)]) -> Result<(), StoreError> {
        // The same binding refreshed twice in a batch: keep the last (one row per key per
        // statement, as ON CONFLICT requires).
        let mut seen = std::collections::HashSet::new();
        let mut unique: Vec<&RegistrationRow> = Vec::with_capacity(upserts.len());
        for r in upserts.iter().rev() {
            if seen.insert((r.user_id, r.contact.as_str())) {
                unique.push(r);
            }
        }
        unique.reverse();
        let upserts: Vec<RegistrationRow> = unique.into_iter().cloned().collect();
        let mut tx = self.begin_write().await?;
        for (user_id, contact) in removals {
            sqlx::query("DELETE FROM registrations WHERE user_id = $1 AND contact = $2")
                .bind(user_id)
                .bind(contact)
                .execute(&mut *tx)
                .await?;
        }
        // One multi-row statement per chunk: far fewer round trips than a row at a time.
        for chunk in upserts.chunks(200) {
            let mut sql = String::from(
                "INSERT INTO registrations (user_id, contact, tenant_id, source, call_id, cseq, expires_at, user_agent, node) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 9;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for n in 1..=9 {
                    if n > 1 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&self.placeholder(b + n));
                }
                sql.push(')');
            }
            sql.push_str(
                " ON CONFLICT (user_id, contact) DO UPDATE SET source = excluded.source, call_id = excluded.call_id, \
                 cseq = excluded.cseq, expires_at = excluded.expires_at, user_agent = excluded.user_agent, node = excluded.node",
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.user_id)
                    .bind(&r.contact)
                    .bind(r.tenant_id)
                    .bind(&r.source)
                    .bind(&r.call_id)
                    .bind(r.cseq)
                    .bind(r.expires_at)
                    .bind(&r.user_agent)
                    .bind(&r.node);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Bindings that have not expired at `now_ms`.
    pub async fn live_registrations(&self, now_ms: i64) -> Result<Vec<RegistrationRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, tenant_id, contact, source, call_id, cseq, expires_at, user_agent, node FROM registrations WHERE expires_at > $1",
        )
        .bind(now_ms)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(RegistrationRow {
                user_id: r.try_get("user_id")?,
                tenant_id: r.try_get("tenant_id")?,
                contact: r.try_get("contact")?,
                source: r.try_get("source")?,
                call_id: r.try_get("call_id")?,
                cseq: r.try_get("cseq")?,
                expires_at: r.try_get("expires_at")?,
                user_agent: r.try_get("user_agent")?,
                node: r.try_get("node")?,
            });
        }
        Ok(out)
    }

    /// Deletes bindings that expired before `now_ms`.
    pub async fn purge_expired_registrations(&self, now_ms: i64) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM registrations WHERE expires_at <= $1").bind(now_ms).execute(self.pool()).await?;
        Ok(r.rows_affected())
    }
}
