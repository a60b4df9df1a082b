//! What the cabinet reads from the call log: filtered, keyset-paged listings and per-user
//! statistics for a period (received, answered, missed, made, average talk time of the
//! calls a user answered).

use crate::calls::{CallRow, call_cols, call_from};
use crate::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;

/// Filters of the call log.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Started at or after, ms.
    pub from: Option<i64>,
    /// Started before, ms.
    pub to: Option<i64>,
    /// Calls made or answered by this user.
    pub user_id: Option<i64>,
    /// Calls from or to a number containing these digits.
    pub number: Option<String>,
    /// `inbound`, `outbound` or `internal`.
    pub direction: Option<String>,
    /// `answered`, `missed`, `busy`, `failed`, `interrupted`.
    pub disposition: Option<String>,
    /// Only calls that have a recording.
    pub recorded: bool,
}

/// One user's figures for a period.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct UserStats {
    /// User id.
    pub user_id: i64,
    /// Extension.
    pub ext: String,
    /// Name.
    pub name: String,
    /// Calls that rang this user.
    pub received: i64,
    /// Of those, answered by this user.
    pub answered: i64,
    /// Of those, answered by nobody.
    pub missed: i64,
    /// Of those, found this user busy (on another call or refusing with busy).
    pub busy: i64,
    /// Of those, answered by a colleague while this user's phone rang.
    pub answered_elsewhere: i64,
    /// Calls this user made.
    pub made: i64,
    /// Average talk time of the calls this user answered, seconds.
    pub avg_inbound_talk_seconds: f64,
}

impl Store {
    /// A tenant's calls matching `f`, newest first, after the keyset cursor.
    pub async fn search_calls(
        &self,
        tenant_id: i64,
        f: &CallFilter,
        limit: i64,
        after: Option<(i64, &str)>,
    ) -> Result<Vec<CallRow>, StoreError> {
        let mut sql = format!("SELECT {} FROM calls c WHERE c.tenant_id = $1", call_cols("c."));
        let mut n = 1;
        let mut next = |sql: &mut String, cond: &str| {
            n += 1;
            sql.push_str(&cond.replace("$?", &format!("${n}")));
        };
        if f.from.is_some() {
            next(&mut sql, " AND c.started_at >= $?");
        }
        if f.to.is_some() {
            next(&mut sql, " AND c.started_at < $?");
        }
        if f.user_id.is_some() {
            next(&mut sql, " AND (c.caller_user_id = $? OR c.callee_user_id = $?)");
        }
        let like =
            f.number.as_ref().map(|num| format!("%{}%", num.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect::<String>()));
        if like.is_some() {
            next(&mut sql, " AND (c.caller_number LIKE $? OR c.callee LIKE $?)");
        }
        if f.direction.is_some() {
            next(&mut sql, " AND c.direction = $?");
        }
        if f.disposition.is_some() {
            next(&mut sql, " AND c.disposition = $?");
        }
        if f.recorded {
            sql.push_str(" AND EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = c.id)");
        }
        if after.is_some() {
            n += 1;
            let a = n;
            n += 1;
            sql.push_str(&format!(" AND (c.started_at < ${a} OR (c.started_at = ${a} AND c.id < ${n}))"));
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY c.started_at DESC, c.id DESC LIMIT ${n}"));
        let mut q = sqlx::query(&sql).bind(tenant_id);
        if let Some(v) = f.from {
            q = q.bind(v);
        }
        if let Some(v) = f.to {
            q = q.bind(v);
        }
        if let Some(v) = f.user_id {
            q = q.bind(v);
        }
        if let Some(v) = &like {
            q = q.bind(v.clone());
        }
        if let Some(v) = &f.direction {
            q = q.bind(v.clone());
        }
        if let Some(v) = &f.disposition {
            q = q.bind(v.clone());
        }
        if let Some((ts, id)) = after {
            q = q.bind(ts).bind(id.to_string());
        }
        let rows = q.bind(limit).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(call_from).collect::<Result<_, _>>()?)
    }

    /// Per-user figures of a tenant for [from, to) (ms), optionally for one user. A user id
    /// belongs to one tenant, so each figure is an index range on (user, time) — no filter on
    /// the tenant that would tempt the planner into scanning the tenant's whole month.
    pub async fn user_stats(&self, tenant_id: i64, from: i64, to: i64, user_id: Option<i64>) -> Result<Vec<UserStats>, StoreError> {
        let one = if user_id.is_some() { " AND u.id = $4" } else { "" };
        let sql = format!(
            "SELECT u.id, u.ext, u.name, \
             (SELECT COUNT(*) FROM call_legs l WHERE l.user_id = u.id AND l.rang_at >= $1 AND l.rang_at < $2) AS received, \
             (SELECT COUNT(*) FROM call_legs l WHERE l.user_id = u.id AND l.rang_at >= $1 AND l.rang_at < $2 AND l.outcome = 'answered') AS answered, \
             (SELECT COUNT(*) FROM call_legs l WHERE l.user_id = u.id AND l.rang_at >= $1 AND l.rang_at < $2 AND l.outcome = 'missed') AS missed, \
             (SELECT COUNT(*) FROM call_legs l WHERE l.user_id = u.id AND l.rang_at >= $1 AND l.rang_at < $2 AND l.outcome = 'busy') AS busy, \
             (SELECT COUNT(*) FROM call_legs l WHERE l.user_id = u.id AND l.rang_at >= $1 AND l.rang_at < $2 AND l.outcome = 'elsewhere') AS elsewhere, \
             (SELECT COUNT(*) FROM calls c WHERE c.caller_user_id = u.id AND c.started_at >= $1 AND c.started_at < $2) AS made, \
             (SELECT CAST(COALESCE(AVG(c.talk_seconds), 0) AS DOUBLE PRECISION) FROM calls c WHERE c.callee_user_id = u.id \
                AND c.answered_at IS NOT NULL AND c.started_at >= $1 AND c.started_at < $2) AS avg_talk \
             FROM users u WHERE u.tenant_id = $3{one} ORDER BY u.ext"
        );
        let mut q = sqlx::query(&sql).bind(from).bind(to).bind(tenant_id);
        if let Some(u) = user_id {
            q = q.bind(u);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(UserStats {
                    user_id: r.try_get("id")?,
                    ext: r.try_get("ext")?,
                    name: r.try_get("name")?,
                    received: r.try_get("received")?,
                    answered: r.try_get("answered")?,
                    missed: r.try_get("missed")?,
                    busy: r.try_get("busy")?,
                    answered_elsewhere: r.try_get("elsewhere")?,
                    made: r.try_get("made")?,
                    avg_inbound_talk_seconds: r.try_get("avg_talk")?,
                })
            })
            .collect()
    }

    /// A tenant's calls in progress (started since `since`, not ended), newest first.
    pub async fn live_calls(&self, tenant_id: i64, since: i64) -> Result<Vec<CallRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM calls c WHERE c.tenant_id = $1 AND c.started_at >= $2 AND c.ended_at IS NULL ORDER BY c.started_at DESC LIMIT 200",
            call_cols("c.")
        );
        let rows = sqlx::query(&sql).bind(tenant_id).bind(since).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(call_from).collect::<Result<_, _>>()?)
    }

    /// Today's figures of a tenant since `since` (ms): calls, answered, missed.
    pub async fn tenant_day(&self, tenant_id: i64, since: i64) -> Result<(i64, i64, i64), StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS total, \
             COALESCE(SUM(CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END), 0) AS answered, \
             COALESCE(SUM(CASE WHEN disposition = 'missed' THEN 1 ELSE 0 END), 0) AS missed \
             FROM calls WHERE tenant_id = $1 AND started_at >= $2",
        )
        .bind(tenant_id)
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok((r.try_get("total")?, r.try_get("answered")?, r.try_get("missed")?))
    }
}
