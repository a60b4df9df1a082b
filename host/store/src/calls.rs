//! The call log: a row written when a call starts and completed when it ends, so a crash
//! loses nothing (rows of calls that were live are closed as interrupted at the next start).

use crate::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Extension to extension.
    Internal,
    /// From a carrier to the tenant.
    Inbound,
    /// From the tenant out through a carrier.
    Outbound,
}

impl Direction {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Internal => "internal",
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    fn parse(s: &str) -> Direction {
        match s {
            "inbound" => Direction::Inbound,
            "outbound" => Direction::Outbound,
            _ => Direction::Internal,
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    /// Someone answered.
    Answered,
    /// Rang but nobody answered (timeout, caller hung up, declined).
    Missed,
    /// The callee was busy.
    Busy,
    /// Could not be placed (not found, not registered, refused, error).
    Failed,
    /// The server stopped while the call was live.
    Interrupted,
}

impl Disposition {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::Missed => "missed",
            Disposition::Busy => "busy",
            Disposition::Failed => "failed",
            Disposition::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Option<Disposition> {
        Some(match s {
            "answered" => Disposition::Answered,
            "missed" => Disposition::Missed,
            "busy" => Disposition::Busy,
            "failed" => Disposition::Failed,
            "interrupted" => Disposition::Interrupted,
            _ => return None,
        })
    }
}

/// What is known when a call starts.
#[derive(Debug, Clone)]
pub struct CallStart {
    /// Unique call id (also in logs and the recording's name).
    pub id: String,
    /// Tenant.
    pub tenant_id: i64,
    /// Direction.
    pub direction: Direction,
    /// Caller's number (extension or E.164).
    pub caller_number: String,
    /// Caller's display name.
    pub caller_name: String,
    /// Dialled number.
    pub callee: String,
    /// City number the call came in on or went out with.
    pub did: Option<String>,
    /// Trunk used.
    pub trunk: Option<String>,
    /// Calling user, if an extension.
    pub caller_user_id: Option<i64>,
    /// Called user, if an extension.
    pub callee_user_id: Option<i64>,
    /// Start, ms since epoch.
    pub started_at: i64,
    /// Node that owns the call.
    pub node: String,
}

/// What is known when a call ends.
#[derive(Debug, Clone)]
pub struct CallEnd {
    /// Call id.
    pub id: String,
    /// End, ms since epoch.
    pub ended_at: i64,
    /// Outcome.
    pub disposition: Disposition,
    /// SIP status or reason, e.g. `BYE`, `486`, `CANCEL`.
    pub hangup_cause: String,
    /// Who hung up: `caller`, `callee` or `system`.
    pub hangup_side: String,
    /// Seconds between answer and end.
    pub talk_seconds: i64,
    /// Who answered, when it was not known at start (group calls).
    pub callee_user_id: Option<i64>,
}

/// One change to the call log, batched by the writer.
#[derive(Debug, Clone)]
pub enum CallOp {
    /// Insert the row.
    Start(CallStart),
    /// Mark answered.
    Answer {
        /// Call id.
        id: String,
        /// Answer time, ms.
        at: i64,
        /// Who answered.
        callee_user_id: Option<i64>,
    },
    /// Complete the row.
    End(CallEnd),
    /// Add an event to the call's timeline.
    Event {
        /// Call id.
        id: String,
        /// Order within the call.
        seq: i64,
        /// When, ms.
        at: i64,
        /// Kind.
        kind: String,
        /// Details.
        detail: String,
    },
    /// Who was rung and how it ended for each of them (per-user statistics).
    Legs {
        /// Call id.
        id: String,
        /// (user id, outcome: answered, missed, busy, elsewhere, declined; when rung, ms).
        legs: Vec<(i64, String, i64)>,
    },
    /// Facts learnt during the call: who forwarded it, the group or queue it went through,
    /// its kind (`call`, `queue-callback`).
    Mark {
        /// Call id.
        id: String,
        /// Extension that forwarded the call.
        forwarded_from: Option<String>,
        /// Group or queue extension.
        via: Option<String>,
        /// Kind.
        kind: Option<String>,
    },
    /// How a caller's stay in a queue went, for the queue reports: `waiting` when they
    /// join; then `answered` (by `agent`), `abandoned` (hung up), `timeout`, `callback`; or
    /// `full` when the queue had no room.
    Queue {
        /// Call id.
        id: String,
        /// Tenant.
        tenant_id: i64,
        /// The queue's extension.
        queue: String,
        /// When, ms.
        at: i64,
        /// What happened.
        outcome: String,
        /// The agent who answered.
        agent: Option<i64>,
    },
    /// An event for the tenant's integrations, written to the outbox with the call log.
    Notify {
        /// Tenant.
        tenant_id: i64,
        /// The event.
        event: Box<crate::events::IntegrationEvent>,
    },
    /// A call's charge: taken from the balance with the call's end.
    Charge(crate::billing::Charge),
    /// A recording started: its row points at the interim WAV.
    Recording {
        /// Call id.
        id: String,
        /// Tenant.
        tenant_id: i64,
        /// File.
        path: String,
        /// Start, ms.
        at: i64,
    },
}

/// A call-log row as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallRow {
    /// Call id.
    pub id: String,
    /// Tenant.
    pub tenant_id: i64,
    /// Direction.
    pub direction: Direction,
    /// Caller number.
    pub caller_number: String,
    /// Caller name.
    pub caller_name: String,
    /// Dialled number.
    pub callee: String,
    /// City number.
    pub did: Option<String>,
    /// Trunk.
    pub trunk: Option<String>,
    /// Calling user.
    pub caller_user_id: Option<i64>,
    /// Answering/called user.
    pub callee_user_id: Option<i64>,
    /// Start, ms.
    pub started_at: i64,
    /// Answer, ms.
    pub answered_at: Option<i64>,
    /// End, ms.
    pub ended_at: Option<i64>,
    /// Outcome (none while live).
    pub disposition: Option<Disposition>,
    /// Cause.
    pub hangup_cause: Option<String>,
    /// Side that hung up.
    pub hangup_side: Option<String>,
    /// Talk time, seconds.
    pub talk_seconds: i64,
    /// Extension that forwarded the call here.
    pub forwarded_from: Option<String>,
    /// Group or queue it went through.
    pub via: Option<String>,
    /// `call` or `queue-callback`.
    pub kind: String,
}

const CALL_COLS: &str = "id, tenant_id, direction, caller_number, caller_name, callee, did, trunk, caller_user_id, callee_user_id, started_at, answered_at, ended_at, disposition, hangup_cause, hangup_side, talk_seconds, forwarded_from, via, kind";

/// The call-log columns, each prefixed (`c.`) for joins and aliased back to its name.
pub(crate) fn call_cols(prefix: &str) -> String {
    if prefix.is_empty() {
        return CALL_COLS.to_string();
    }
    CALL_COLS.split(", ").map(|c| format!("{prefix}{c} AS {c}")).collect::<Vec<_>>().join(", ")
}

pub(crate) fn call_from(r: &AnyRow) -> Result<CallRow, sqlx::Error> {
    Ok(CallRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        direction: Direction::parse(&r.try_get::<String, _>("direction")?),
        caller_number: r.try_get("caller_number")?,
        caller_name: r.try_get("caller_name")?,
        callee: r.try_get("callee")?,
        did: r.try_get("did")?,
        trunk: r.try_get("trunk")?,
        caller_user_id: r.try_get("caller_user_id")?,
        callee_user_id: r.try_get("callee_user_id")?,
        started_at: r.try_get("started_at")?,
        answered_at: r.try_get("answered_at")?,
        ended_at: r.try_get("ended_at")?,
        disposition: r.try_get::<Option<String>, _>("disposition")?.as_deref().and_then(Disposition::parse),
        hangup_cause: r.try_get("hangup_cause")?,
        hangup_side: r.try_get("hangup_side")?,
        talk_seconds: r.try_get("talk_seconds")?,
        forwarded_from: r.try_get("forwarded_from")?,
        via: r.try_get("via")?,
        kind: r.try_get("kind")?,
    })
}

impl Store {
    /// Applies a batch of call-log changes in one transaction (group commit).
    pub async fn apply_call_ops(&self, ops: &[CallOp]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if ops.iter().any(|o| matches!(o, CallOp::Notify { .. })) {
            self.lock_outbox(&mut tx).await?;
        }
        let mut i = 0;
        while i < ops.len() {
            // Consecutive starts go in one multi-row INSERT.
            let starts: Vec<&CallStart> =
                ops[i..].iter().take(100).map_while(|o| if let CallOp::Start(c) = o { Some(c) } else { None }).collect();
            if !starts.is_empty() {
                i += starts.len();
                let mut sql = String::from(
                    "INSERT INTO calls (id, tenant_id, direction, caller_number, caller_name, callee, did, trunk, caller_user_id, callee_user_id, started_at, node, talk_seconds) VALUES ",
                );
                for k in 0..starts.len() {
                    let b = k * 12;
                    if k > 0 {
                        sql.push_str(", ");
                    }
                    sql.push('(');
                    for n in 1..=12 {
                        sql.push_str(&self.placeholder(b + n));
                        sql.push_str(", ");
                    }
                    sql.push_str("0)");
                }
                let mut q = sqlx::query(&sql);
                for c in starts {
                    q = q
                        .bind(&c.id)
                        .bind(c.tenant_id)
                        .bind(c.direction.as_str())
                        .bind(&c.caller_number)
                        .bind(&c.caller_name)
                        .bind(&c.callee)
                        .bind(&c.did)
                        .bind(&c.trunk)
                        .bind(c.caller_user_id)
                        .bind(c.callee_user_id)
                        .bind(c.started_at)
                        .bind(&c.node);
                }
                q.execute(&mut *tx).await?;
                continue;
            }
            let op = &ops[i];
            i += 1;
            match op {
                CallOp::Start(_) => {}
                CallOp::Answer { id, at, callee_user_id } => {
                    sqlx::query("UPDATE calls SET answered_at = $1, callee_user_id = COALESCE($2, callee_user_id) WHERE id = $3")
                        .bind(at)
                        .bind(callee_user_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                CallOp::Event { id, seq, at, kind, detail } => {
                    sqlx::query("INSERT INTO call_events (call_id, seq, at, kind, detail) VALUES ($1, $2, $3, $4, $5)")
                        .bind(id)
                        .bind(seq)
                        .bind(at)
                        .bind(kind)
                        .bind(detail)
                        .execute(&mut *tx)
                        .await?;
                }
                CallOp::Legs { id, legs } => {
                    for (user_id, outcome, at) in legs {
                        let up = sqlx::query("UPDATE call_legs SET outcome = $1 WHERE call_id = $2 AND user_id = $3")
                            .bind(outcome)
                            .bind(id)
                            .bind(user_id)
                            .execute(&mut *tx)
                            .await?;
                        if up.rows_affected() == 0 {
                            sqlx::query("INSERT INTO call_legs (call_id, user_id, outcome, rang_at) VALUES ($1, $2, $3, $4)")
                                .bind(id)
                                .bind(user_id)
                                .bind(outcome)
                                .bind(at)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                CallOp::Mark { id, forwarded_from, via, kind } => {
                    sqlx::query(
                        "UPDATE calls SET forwarded_from = COALESCE($1, forwarded_from), via = COALESCE($2, via), kind = COALESCE($3, kind) WHERE id = $4",
                    )
                    .bind(forwarded_from)
                    .bind(via)
                    .bind(kind)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                CallOp::Queue { id, tenant_id, queue, at, outcome, agent } => {
                    if outcome == "waiting" || outcome == "full" {
                        let resolved = (outcome == "full").then_some(*at);
                        sqlx::query(
                            "INSERT INTO queue_calls (call_id, tenant_id, queue, joined_at, outcome, agent_user_id, resolved_at) \
                             VALUES ($1, $2, $3, $4, $5, NULL, $6) ON CONFLICT (call_id, queue) DO UPDATE SET joined_at = excluded.joined_at, \
                             outcome = excluded.outcome, agent_user_id = NULL, resolved_at = excluded.resolved_at",
                        )
                        .bind(id)
                        .bind(tenant_id)
                        .bind(queue)
                        .bind(at)
                        .bind(outcome)
                        .bind(resolved)
                        .execute(&mut *tx)
                        .await?;
                    } else {
                        sqlx::query(
                            "UPDATE queue_calls SET outcome = $1, agent_user_id = $2, resolved_at = $3 \
                             WHERE call_id = $4 AND queue = $5 AND outcome = 'waiting'",
                        )
                        .bind(outcome)
                        .bind(agent)
                        .bind(at)
                        .bind(id)
                        .bind(queue)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                // Written together after the loop.
                CallOp::Notify { .. } => {}
                CallOp::Recording { id, tenant_id, path, at } => {
                    sqlx::query(
                        "INSERT INTO recordings (call_id, tenant_id, path, format, duration_ms, size_bytes, created_at) VALUES ($1, $2, $3, 'wav', 0, 0, $4)",
                    )
                    .bind(id)
                    .bind(tenant_id)
                    .bind(path)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                CallOp::Charge(c) => crate::billing::apply_charge(&mut tx, c).await?,
                CallOp::End(e) => {
                    sqlx::query(
                        "UPDATE calls SET ended_at = $1, disposition = $2, hangup_cause = $3, hangup_side = $4, talk_seconds = $5, \
                         callee_user_id = COALESCE($6, callee_user_id) WHERE id = $7",
                    )
                    .bind(e.ended_at)
                    .bind(e.disposition.as_str())
                    .bind(&e.hangup_cause)
                    .bind(&e.hangup_side)
                    .bind(e.talk_seconds)
                    .bind(e.callee_user_id)
                    .bind(&e.id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        let events: Vec<(i64, &crate::events::IntegrationEvent)> = ops
            .iter()
            .filter_map(|o| if let CallOp::Notify { tenant_id, event } = o { Some((*tenant_id, &**event)) } else { None })
            .collect();
        crate::events::insert_events(self, &mut tx, &events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A tenant's calls, newest first, `limit` rows after the keyset cursor
    /// `(started_at, id)` of the last row of the previous page.
    pub async fn list_calls(&self, tenant_id: i64, limit: i64, after: Option<(i64, &str)>) -> Result<Vec<CallRow>, StoreError> {
        let rows = match after {
            None => {
                sqlx::query(&format!("SELECT {CALL_COLS} FROM calls WHERE tenant_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"))
                    .bind(tenant_id)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
            Some((ts, id)) => {
                sqlx::query(&format!(
                    "SELECT {CALL_COLS} FROM calls WHERE tenant_id = $1 AND (started_at < $2 OR (started_at = $2 AND id < $3)) \
                     ORDER BY started_at DESC, id DESC LIMIT $4"
                ))
                .bind(tenant_id)
                .bind(ts)
                .bind(id)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        Ok(rows.iter().map(call_from).collect::<Result<_, _>>()?)
    }

    /// Who was rung in a call: (user id, outcome).
    pub async fn call_legs(&self, call_id: &str) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query("SELECT user_id, outcome FROM call_legs WHERE call_id = $1 ORDER BY rang_at, user_id")
            .bind(call_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok((r.try_get("user_id")?, r.try_get("outcome")?))).collect()
    }

    /// One call of a tenant.
    pub async fn call_by_id(&self, tenant_id: i64, id: &str) -> Result<CallRow, StoreError> {
        let row = sqlx::query(&format!("SELECT {CALL_COLS} FROM calls WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("call {id}")))?;
        Ok(call_from(&row)?)
    }

    /// Closes the rows of calls this node left open (it crashed or was killed): they become
    /// `interrupted`, ended now, with talk time counted up to now if they were answered.
    pub async fn close_interrupted_calls(&self, node: &str, now_ms: i64) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE calls SET ended_at = $1, disposition = 'interrupted', hangup_cause = 'server restart', hangup_side = 'system', \
             talk_seconds = CASE WHEN answered_at IS NULL THEN 0 ELSE ($1 - answered_at) / 1000 END \
             WHERE node = $2 AND ended_at IS NULL",
        )
        .bind(now_ms)
        .bind(node)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected())
    }
}
