//! Subscribers of a tenant's call events, with a cursor into the event outbox, the retry
//! state and a log of every delivery attempt: outgoing webhooks (URLs, for integrators who
//! write no plugin: amoCRM, 1C, a helpdesk) and integration plugins (a row naming the plugin,
//! whose secret also guards the plugin's inbound webhook address).

use crate::{Store, StoreError, now_ms};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Most webhooks one tenant may register.
pub const MAX_WEBHOOKS_PER_TENANT: i64 = 20;
/// Attempts kept in the delivery log per webhook.
pub const DELIVERY_LOG_KEEP: i64 = 1000;

/// A registered webhook (its signing secret is not part of it: it is shown once).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Webhook {
    /// Database id.
    pub id: i64,
    /// Tenant.
    pub tenant_id: i64,
    /// Where events are posted.
    pub url: String,
    /// Event kinds it receives (empty: all).
    pub events: Vec<String>,
    /// Free-form description.
    pub description: String,
    /// Deliveries happen only while enabled.
    pub enabled: bool,
    /// Outbox id of the last event delivered (or skipped).
    pub cursor: i64,
    /// Failed attempts at the event after the cursor.
    pub attempts: i64,
    /// No attempt before this, ms since the epoch (backoff).
    pub next_at: i64,
    /// The last failure (empty after a success).
    pub last_error: String,
    /// Created, ms since the epoch.
    pub created_at: i64,
    /// The integration plugin that receives the events (empty: a URL does).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plugin: String,
}

impl Webhook {
    /// Whether it receives events of `kind`.
    pub fn wants(&self, kind: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|k| k == kind)
    }
}

/// One delivery attempt as the log keeps it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Delivery {
    /// Log id.
    pub id: i64,
    /// Webhook.
    pub webhook_id: i64,
    /// Idempotency key of the event (`<call id>:<seq>`).
    pub event_id: String,
    /// Event kind.
    pub event: String,
    /// Attempt number for this event, from 1.
    pub attempt: i64,
    /// HTTP status received (0: no answer).
    pub status: i64,
    /// `delivered`, `retry` (will be tried again) or `dropped` (refused for good).
    pub outcome: String,
    /// Why it failed.
    pub error: String,
    /// How long the attempt took, ms.
    pub duration_ms: i64,
    /// When, ms since the epoch.
    pub at: i64,
}

fn webhook_row(r: &AnyRow) -> Result<Webhook, sqlx::Error> {
    let kinds: String = r.try_get("kinds")?;
    Ok(Webhook {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        url: r.try_get("url")?,
        events: kinds.split(',').filter(|k| !k.is_empty()).map(str::to_string).collect(),
        description: r.try_get("description")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        cursor: r.try_get("cursor_id")?,
        attempts: r.try_get("attempts")?,
        next_at: r.try_get("next_at")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        plugin: r.try_get("plugin")?,
    })
}

const COLS: &str = "id, tenant_id, url, kinds, description, enabled, cursor_id, attempts, next_at, last_error, created_at, plugin";

/// The event kinds an integration plugin on contract 0.1 receives (its `lifecycle` record
/// names started, answered and ended); one on 0.2 receives every kind.
pub const PLUGIN_KINDS: &[&str] = &["call.started", "call.answered", "call.ended"];

/// The event kinds an integration plugin on contract 0.2 receives: every kind its
/// `lifecycle` record describes (`call.missed` is for webhooks).
pub const PLUGIN_KINDS_0_2: &[&str] =
    &["call.started", "call.ringing", "call.ring_stopped", "call.answered", "call.transferred", "call.ended", "recording.ready"];

impl Store {
    /// Registers a webhook; it receives events from now on (not the ones before).
    pub async fn create_webhook(
        &self,
        tenant_id: i64,
        url: &str,
        events: &[String],
        description: &str,
        secret: &str,
    ) -> Result<Webhook, StoreError> {
        let mut tx = self.begin_write().await?;
        let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhooks WHERE tenant_id = $1 AND plugin = ''")
            .bind(tenant_id)
            .fetch_one(&mut *tx)
            .await?;
        if n.0 >= MAX_WEBHOOKS_PER_TENANT {
            return Err(StoreError::Invalid(format!("a company may register at most {MAX_WEBHOOKS_PER_TENANT} webhooks")));
        }
        let last: (Option<i64>,) =
            sqlx::query_as("SELECT MAX(id) FROM event_outbox WHERE tenant_id = $1").bind(tenant_id).fetch_one(&mut *tx).await?;
        let row = sqlx::query(&format!(
            "INSERT INTO webhooks (tenant_id, url, kinds, description, secret, enabled, cursor_id, attempts, next_at, last_error, created_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, 0, 0, '', $7) RETURNING {COLS}"
        ))
        .bind(tenant_id)
        .bind(url)
        .bind(events.join(","))
        .bind(description)
        .bind(secret)
        .bind(last.0.unwrap_or(0))
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let hook = webhook_row(&row)?;
        tx.commit().await?;
        self.bump_config_version().await?;
        Ok(hook)
    }

    /// A tenant's webhooks.
    pub async fn list_webhooks(&self, tenant_id: i64) -> Result<Vec<Webhook>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLS} FROM webhooks WHERE tenant_id = $1 AND plugin = '' ORDER BY id"))
            .bind(tenant_id)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(webhook_row).collect::<Result<_, _>>()?)
    }

    /// Every enabled webhook with its secret (for the delivery worker).
    pub async fn active_webhooks(&self) -> Result<Vec<(Webhook, String)>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {COLS}, secret FROM webhooks WHERE enabled = 1 ORDER BY id")).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok((webhook_row(r)?, r.try_get::<String, _>("secret")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Tenants with at least one enabled webhook (their calls produce events).
    pub async fn tenants_with_webhooks(&self) -> Result<Vec<i64>, StoreError> {
        let mut t: Vec<i64> = self.subscribed_kinds().await?.into_iter().map(|(id, _)| id).collect();
        t.dedup();
        Ok(t)
    }

    /// The event kinds each tenant's enabled subscribers take: (tenant, kinds; empty: all),
    /// one entry per subscriber, by tenant.
    pub async fn subscribed_kinds(&self) -> Result<Vec<(i64, Vec<String>)>, StoreError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT tenant_id, kinds FROM webhooks WHERE enabled = 1 ORDER BY tenant_id").fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(|(t, k)| (t, k.split(',').filter(|x| !x.is_empty()).map(str::to_string).collect())).collect())
    }

    /// One webhook of a tenant.
    pub async fn webhook(&self, tenant_id: i64, id: i64) -> Result<Webhook, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLS} FROM webhooks WHERE tenant_id = $1 AND id = $2 AND plugin = ''"))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("webhook {id}")))?;
        Ok(webhook_row(&row)?)
    }

    /// Enables or disables a webhook; enabling again clears its backoff.
    pub async fn set_webhook_enabled(&self, tenant_id: i64, id: i64, enabled: bool) -> Result<Webhook, StoreError> {
        let r = sqlx::query("UPDATE webhooks SET enabled = $1, attempts = 0, next_at = 0 WHERE tenant_id = $2 AND id = $3 AND plugin = ''")
            .bind(i64::from(enabled))
            .bind(tenant_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("webhook {id}")));
        }
        self.bump_config_version().await?;
        self.webhook(tenant_id, id).await
    }

    /// Removes a webhook and its delivery log.
    pub async fn delete_webhook(&self, tenant_id: i64, id: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE webhook_id IN (SELECT id FROM webhooks WHERE tenant_id = $1 AND id = $2 AND plugin = '')",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let r = sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2 AND plugin = ''")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("webhook {id}")));
        }
        tx.commit().await?;
        self.bump_config_version().await
    }

    /// Takes (or renews) the lease of a subscriber for `node` until `until_ms`, unless another
    /// node holds a lease that has not run out; true if `node` holds it now. Only the holder
    /// delivers, so that several nodes on one database deliver each event once, in order.
    pub async fn lease_webhook(&self, webhook_id: i64, node: &str, now_ms: i64, until_ms: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE webhooks SET lease_node = $1, lease_until = $2 WHERE id = $3 AND enabled = 1 AND (lease_until < $4 OR lease_node = $1)",
        )
        .bind(node)
        .bind(until_ms)
        .bind(webhook_id)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records delivery attempts and moves the webhook's cursor and retry state, at once, if
    /// `node` still holds the lease and the webhook is still enabled; false if not (the
    /// deliveries stop: the cursor is where another node or a pause left it).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_deliveries(
        &self,
        webhook_id: i64,
        node: &str,
        cursor: i64,
        attempts: i64,
        next_at: i64,
        last_error: &str,
        log: &[Delivery],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE webhooks SET cursor_id = $1, attempts = $2, next_at = $3, last_error = $4 WHERE id = $5 AND lease_node = $6 AND enabled = 1",
        )
        .bind(cursor)
        .bind(attempts)
        .bind(next_at)
        .bind(last_error)
        .bind(webhook_id)
        .bind(node)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        for chunk in log.chunks(100) {
            let mut sql = String::from(
                "INSERT INTO webhook_deliveries (webhook_id, event_id, kind, attempt, status, outcome, error, duration_ms, at) VALUES ",
            );
            for k in 0..chunk.len() {
                if k > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for n in 1..=9 {
                    if n > 1 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&self.placeholder(k * 9 + n));
                }
                sql.push(')');
            }
            let mut q = sqlx::query(&sql);
            for d in chunk {
                q = q
                    .bind(webhook_id)
                    .bind(&d.event_id)
                    .bind(&d.event)
                    .bind(d.attempt)
                    .bind(d.status)
                    .bind(&d.outcome)
                    .bind(&d.error)
                    .bind(d.duration_ms)
                    .bind(d.at);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The newest delivery attempts of a tenant's webhook, newest first.
    pub async fn list_deliveries(&self, tenant_id: i64, webhook_id: i64, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        self.webhook(tenant_id, webhook_id).await?;
        self.deliveries_of(webhook_id, limit).await
    }

    async fn deliveries_of(&self, webhook_id: i64, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, webhook_id, event_id, kind, attempt, status, outcome, error, duration_ms, at FROM webhook_deliveries \
             WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(limit.clamp(1, DELIVERY_LOG_KEEP))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.try_get("id")?,
                    webhook_id: r.try_get("webhook_id")?,
                    event_id: r.try_get("event_id")?,
                    event: r.try_get("kind")?,
                    attempt: r.try_get("attempt")?,
                    status: r.try_get("status")?,
                    outcome: r.try_get("outcome")?,
                    error: r.try_get("error")?,
                    duration_ms: r.try_get("duration_ms")?,
                    at: r.try_get("at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Makes a plugin an integration of the tenant (it receives the tenant's call events and
    /// its inbound webhook address works) or stops that; `secret` guards the address of a new
    /// integration (and replaces the old one when `rotate`). An integration switched on starts
    /// with the events from then on: what happened while it was off is not replayed (a plugin
    /// may place calls on events). `kinds` are the event kinds its contract takes. Returns
    /// the subscriber row and its secret.
    pub async fn set_integration(
        &self,
        tenant_id: i64,
        plugin: &str,
        enabled: bool,
        secret: &str,
        rotate: bool,
        kinds: &[&str],
    ) -> Result<(Webhook, String), StoreError> {
        let existing = sqlx::query("SELECT id FROM webhooks WHERE tenant_id = $1 AND plugin = $2")
            .bind(tenant_id)
            .bind(plugin)
            .fetch_optional(self.pool())
            .await?;
        if existing.is_none() {
            let last: (Option<i64>,) =
                sqlx::query_as("SELECT MAX(id) FROM event_outbox WHERE tenant_id = $1").bind(tenant_id).fetch_one(self.pool()).await?;
            sqlx::query(
                "INSERT INTO webhooks (tenant_id, url, kinds, description, secret, enabled, cursor_id, attempts, next_at, last_error, created_at, plugin) \
                 VALUES ($1, '', $2, '', $3, $4, $5, 0, 0, '', $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(tenant_id)
            .bind(kinds.join(","))
            .bind(secret)
            .bind(i64::from(enabled))
            .bind(last.0.unwrap_or(0))
            .bind(now_ms())
            .bind(plugin)
            .execute(self.pool())
            .await?;
        } else {
            // Switched on again: from the newest event (the cursor of one that stays on is kept).
            sqlx::query(
                "UPDATE webhooks SET cursor_id = CASE WHEN enabled = 0 AND $1 = 1 THEN \
                 (SELECT COALESCE(MAX(id), 0) FROM event_outbox WHERE tenant_id = $2) ELSE cursor_id END, \
                 enabled = $1, attempts = 0, next_at = 0, last_error = '', kinds = $4 WHERE tenant_id = $2 AND plugin = $3",
            )
            .bind(i64::from(enabled))
            .bind(tenant_id)
            .bind(plugin)
            .bind(kinds.join(","))
            .execute(self.pool())
            .await?;
            if rotate {
                sqlx::query("UPDATE webhooks SET secret = $1 WHERE tenant_id = $2 AND plugin = $3")
                    .bind(secret)
                    .bind(tenant_id)
                    .bind(plugin)
                    .execute(self.pool())
                    .await?;
            }
        }
        self.bump_config_version().await?;
        self.integration(tenant_id, plugin).await?.ok_or_else(|| StoreError::NotFound(format!("integration {plugin}")))
    }

    /// Changes the event kinds a plugin's integration takes (an upgrade to another contract);
    /// nothing if the plugin is no integration.
    pub async fn set_integration_kinds(&self, tenant_id: i64, plugin: &str, kinds: &[&str]) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE webhooks SET kinds = $1 WHERE tenant_id = $2 AND plugin = $3 AND kinds <> $1")
            .bind(kinds.join(","))
            .bind(tenant_id)
            .bind(plugin)
            .execute(self.pool())
            .await?;
        if done.rows_affected() > 0 {
            self.bump_config_version().await?;
        }
        Ok(())
    }

    /// A plugin's integration row and secret, if the tenant ever enabled it.
    pub async fn integration(&self, tenant_id: i64, plugin: &str) -> Result<Option<(Webhook, String)>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLS}, secret FROM webhooks WHERE tenant_id = $1 AND plugin = $2"))
            .bind(tenant_id)
            .bind(plugin)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some((webhook_row(&r)?, r.try_get::<String, _>("secret")?)),
            None => None,
        })
    }

    /// The delivery log of a plugin's integration, newest first.
    pub async fn integration_deliveries(&self, tenant_id: i64, plugin: &str, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        let Some((hook, _)) = self.integration(tenant_id, plugin).await? else { return Ok(Vec::new()) };
        self.deliveries_of(hook.id, limit).await
    }

    /// Keeps the newest [`DELIVERY_LOG_KEEP`] attempts of each webhook.
    pub async fn prune_deliveries(&self) -> Result<u64, StoreError> {
        let hooks: Vec<(i64,)> = sqlx::query_as("SELECT id FROM webhooks").fetch_all(self.pool()).await?;
        let mut n = 0;
        for (id,) in hooks {
            let r = sqlx::query(
                "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND id <= \
                 (SELECT id FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
            )
            .bind(id)
            .bind(DELIVERY_LOG_KEEP)
            .execute(self.pool())
            .await?;
            n += r.rows_affected();
        }
        Ok(n)
    }
}
