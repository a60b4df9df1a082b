//! "Missed and not called back": callers from outside whose calls nobody answered (missed,
//! busy, or not put through at all, e.g. with no phone registered; refused callers of the
//! blacklist excepted), for whom
//! no later call between the company and that number was answered (either way). The list
//! clears itself: once anyone of the company reaches the number, or the number gets through,
//! it drops off. Per company, and per employee (calls that rang them).

use crate::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;

/// A number that called, was missed, and has not been reached since.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MissedNumber {
    /// The caller's number (E.164).
    pub number: String,
    /// The name the call log gave them (the phone book's, else the carrier's).
    pub name: String,
    /// Missed calls from it since the period began.
    pub attempts: i64,
    /// The first of them, ms since the epoch.
    pub first_at: i64,
    /// The last of them, ms since the epoch.
    pub last_at: i64,
    /// The last missed call's id (its call-log page).
    pub last_call_id: String,
}

/// Most numbers one list returns.
pub const MAX_MISSED: i64 = 500;

impl Store {
    /// The missed-and-not-called-back list of a company (`user_id` none) or of one employee,
    /// over calls since `since` (ms), newest first, at most `limit` numbers.
    pub async fn missed_not_returned(
        &self,
        tenant_id: i64,
        user_id: Option<i64>,
        since: i64,
        limit: i64,
    ) -> Result<Vec<MissedNumber>, StoreError> {
        let mine = if user_id.is_some() {
            "AND (c.callee_user_id = $4 OR EXISTS (SELECT 1 FROM call_legs l WHERE l.call_id = c.id AND l.user_id = $4))"
        } else {
            "AND $4 = 0"
        };
        let sql = format!(
            "SELECT c.caller_number AS number, MAX(c.caller_name) AS name, COUNT(*) AS attempts, MIN(c.started_at) AS first_at, \
             MAX(c.started_at) AS last_at, MAX(CAST(c.started_at AS TEXT) || ' ' || c.id) AS last_key \
             FROM calls c \
             WHERE c.tenant_id = $1 AND c.started_at >= $2 AND c.direction = 'inbound' AND c.disposition IN ('missed', 'busy', 'failed') \
             AND c.hangup_cause <> '486 blacklisted' AND c.kind <> 'blacklisted' \
             AND c.caller_number LIKE '+%' {mine} \
             AND NOT EXISTS (SELECT 1 FROM calls r WHERE r.tenant_id = c.tenant_id AND r.started_at > c.started_at \
                 AND r.disposition = 'answered' AND (r.caller_number = c.caller_number OR r.callee = c.caller_number)) \
             GROUP BY c.caller_number ORDER BY last_at DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(since)
            .bind(limit.clamp(1, MAX_MISSED))
            .bind(user_id.unwrap_or(0))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let key: String = r.try_get("last_key")?;
                Ok(MissedNumber {
                    number: r.try_get("number")?,
                    name: r.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
                    attempts: r.try_get("attempts")?,
                    first_at: r.try_get("first_at")?,
                    last_at: r.try_get("last_at")?,
                    last_call_id: key.split_once(' ').map(|(_, id)| id.to_string()).unwrap_or_default(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
