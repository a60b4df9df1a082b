//! Call events for integrations: what happened to a call, as structured facts, written to a
//! durable outbox in the same transaction as the call log, so a restart loses none and a
//! slow CRM never holds a call up (deliveries read the outbox on their own time).
//!
//! Events of one tenant carry increasing outbox ids; each subscriber (an outgoing webhook)
//! keeps a cursor and receives them in that order, so the events of one call arrive in order.

use crate::{Direction, Disposition, Store, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// One call event as integrations receive it (the JSON body of a webhook delivery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IntegrationEvent {
    /// Idempotency key: the same event delivered twice carries the same id (`<call id>:<seq>`).
    pub id: String,
    /// Call-log id of the call (as in `/api/v1/calls`).
    pub call_id: String,
    /// Order of the event within its call, from 1 (a subscriber taking some kinds only sees
    /// gaps; kinds no subscriber of the company takes are not written at all).
    pub seq: i64,
    /// When it happened, ms since the Unix epoch.
    pub at: i64,
    /// What happened.
    #[serde(flatten)]
    pub data: EventData,
}

/// What happened, by kind; `event` names the kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "event")]
pub enum EventData {
    /// A call began (inbound from a carrier, outbound through one, or between extensions).
    #[serde(rename = "call.started")]
    Started {
        /// `inbound`, `outbound` or `internal`.
        #[schema(value_type = String)]
        direction: Direction,
        /// Caller's number: an extension or E.164.
        caller_number: String,
        /// Caller's name as the phones show it (phone book, caller ID or the user's name).
        caller_name: String,
        /// The number dialled.
        callee: String,
        /// The city number the call came in on or goes out with.
        line: Option<String>,
        /// The carrier trunk, for calls through one.
        trunk: Option<String>,
        /// The calling extension, for calls from a phone of the tenant.
        caller_ext: Option<String>,
        /// The id an integration gave the call it asked for (click-to-call).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        correlation_id: Option<String>,
    },
    /// Phones started ringing for the call.
    #[serde(rename = "call.ringing")]
    Ringing {
        /// Extensions now ringing (a group rings several).
        extensions: Vec<String>,
    },
    /// Phones stopped ringing without taking the call.
    #[serde(rename = "call.ring_stopped")]
    RingStopped {
        /// Extensions that stopped ringing.
        extensions: Vec<String>,
        /// `answered_elsewhere`, `cancelled` (the caller hung up, the ring time ran out or the next
        /// step rings others), `busy`, `declined`, `no_answer` or `failed`.
        reason: String,
    },
    /// Someone took the call.
    #[serde(rename = "call.answered")]
    Answered {
        /// The extension that answered (none: the far end of an outbound call, or the PBX itself).
        extension: Option<String>,
        /// The PBX answered (a greeting or a menu), no person yet.
        by_pbx: bool,
    },
    /// The call was transferred.
    #[serde(rename = "call.transferred")]
    Transferred {
        /// The extension that transferred it, when a phone did.
        from: Option<String>,
        /// The number or extension it went to.
        to: String,
        /// After a consultation (attended) or blind.
        attended: bool,
    },
    /// The call ended.
    #[serde(rename = "call.ended")]
    Ended {
        /// `answered`, `missed`, `busy`, `failed` or `interrupted`.
        #[schema(value_type = String)]
        disposition: Disposition,
        /// The SIP status that ended an unanswered call (200 for an answered one).
        sip_code: u16,
        /// The cause as the call log writes it (`BYE`, `486`, `no answer`).
        hangup_cause: String,
        /// Who hung up: `caller`, `callee` or `system`.
        hangup_side: String,
        /// Seconds between answer and end.
        talk_seconds: i64,
        /// Start, ms since the Unix epoch.
        started_at: i64,
        /// Answer, ms since the Unix epoch.
        answered_at: Option<i64>,
        /// The city number used.
        line: Option<String>,
        /// The ring group or queue the call passed through (its extension).
        via: Option<String>,
        /// The extension that talked, if any.
        answered_by: Option<String>,
        /// The id an integration gave the call it asked for (click-to-call).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        correlation_id: Option<String>,
    },
    /// A caller from outside was not answered (sent after their `call.ended`): someone should
    /// call them back. Not sent for callers the blacklist refused.
    #[serde(rename = "call.missed")]
    Missed {
        /// The caller's number (E.164, or `anonymous`).
        caller_number: String,
        /// The caller's name as the phones showed it.
        caller_name: String,
        /// The city number they called.
        line: Option<String>,
        /// The ring group or queue the call passed through (its extension).
        via: Option<String>,
        /// Extensions that rang and did not answer.
        extensions: Vec<String>,
        /// `missed`, `busy` or `failed` (not put through, e.g. no phone registered).
        #[schema(value_type = String)]
        disposition: Disposition,
    },
    /// The call's recording is stored; `url` fetches it without an account until `expires_at`.
    #[serde(rename = "recording.ready")]
    RecordingReady {
        /// Signed address of the recording (Opus in Ogg; add `?format=wav` for WAV,
        /// `?format=mp3` for MP3).
        url: String,
        /// Length, seconds.
        duration_seconds: i64,
        /// When the address stops working, ms since the Unix epoch.
        expires_at: i64,
    },
}

/// Every event kind, as webhooks subscribe to them.
/// (At most eight: the call engine keeps a tenant's wanted kinds as bits of a byte.)
pub const EVENT_KINDS: &[&str] = &[
    "call.started",
    "call.ringing",
    "call.ring_stopped",
    "call.answered",
    "call.transferred",
    "call.ended",
    "recording.ready",
    "call.missed",
];

impl EventData {
    /// The kind's name (`call.started`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            EventData::Started { .. } => "call.started",
            EventData::Ringing { .. } => "call.ringing",
            EventData::RingStopped { .. } => "call.ring_stopped",
            EventData::Answered { .. } => "call.answered",
            EventData::Transferred { .. } => "call.transferred",
            EventData::Ended { .. } => "call.ended",
            EventData::RecordingReady { .. } => "recording.ready",
            EventData::Missed { .. } => "call.missed",
        }
    }
}

/// An event waiting in the outbox.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Outbox id (increasing per database).
    pub id: i64,
    /// Tenant.
    pub tenant_id: i64,
    /// Kind.
    pub kind: String,
    /// Call-log id.
    pub call_id: String,
    /// Order within the call.
    pub seq: i64,
    /// The JSON body (an [`IntegrationEvent`]).
    pub body: String,
}

impl StoredEvent {
    /// The event's idempotency key, as its body's `id` carries it (`<call id>:<seq>`).
    pub fn event_id(&self) -> String {
        format!("{}:{}", self.call_id, self.seq)
    }
}

impl Store {
    /// Appends events to the outbox in one transaction (the events a call produced apart from
    /// its call-log changes, such as `recording.ready`).
    pub async fn append_events(&self, tenant_events: &[(i64, IntegrationEvent)]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        self.lock_outbox(&mut tx).await?;
        let refs: Vec<(i64, &IntegrationEvent)> = tenant_events.iter().map(|(t, e)| (*t, e)).collect();
        insert_events(self, &mut tx, &refs).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Serialises writers of the outbox until the transaction ends (PostgreSQL): ids are then
    /// handed out in commit order, so a subscriber's cursor never passes an id that a slower
    /// transaction commits later. SQLite has one writer at a time already.
    pub(crate) async fn lock_outbox(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), StoreError> {
        if self.backend() == crate::Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7270019)").execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The outbox's last id for a tenant (0: none), where a new subscriber starts.
    pub async fn last_event_id(&self, tenant_id: i64) -> Result<i64, StoreError> {
        let r: (Option<i64>,) =
            sqlx::query_as("SELECT MAX(id) FROM event_outbox WHERE tenant_id = $1").bind(tenant_id).fetch_one(self.pool()).await?;
        Ok(r.0.unwrap_or(0))
    }

    /// Up to `limit` events of a tenant after outbox id `after`, oldest first.
    pub async fn events_after(&self, tenant_id: i64, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, kind, call_id, seq, body FROM event_outbox WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(tenant_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredEvent {
                    id: r.try_get("id")?,
                    tenant_id: r.try_get("tenant_id")?,
                    kind: r.try_get("kind")?,
                    call_id: r.try_get("call_id")?,
                    seq: r.try_get("seq")?,
                    body: r.try_get("body")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Drops outbox events older than `before_ms` (what no subscriber took by then is given up).
    pub async fn prune_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM event_outbox WHERE at < $1").bind(before_ms).execute(self.pool()).await?;
        Ok(r.rows_affected())
    }
}

/// Inserts events inside a transaction (the call-log writer's or [`Store::append_events`]),
/// a hundred rows per statement.
pub(crate) async fn insert_events(
    store: &Store,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    events: &[(i64, &IntegrationEvent)],
) -> Result<(), StoreError> {
    for chunk in events.chunks(100) {
        let mut sql = String::from("INSERT INTO event_outbox (tenant_id, call_id, seq, kind, at, body) VALUES ");
        let mut bodies = Vec::with_capacity(chunk.len());
        for (k, (_, ev)) in chunk.iter().enumerate() {
            bodies.push(serde_json::to_string(ev).map_err(|e| StoreError::Invalid(format!("event not serialisable: {e}")))?);
            if k > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for n in 1..=6 {
                if n > 1 {
                    sql.push_str(", ");
                }
                sql.push_str(&store.placeholder(k * 6 + n));
            }
            sql.push(')');
        }
        let mut q = sqlx::query(&sql);
        for ((tenant_id, ev), body) in chunk.iter().zip(bodies) {
            q = q.bind(*tenant_id).bind(&ev.call_id).bind(ev.seq).bind(ev.data.kind()).bind(ev.at).bind(body);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_serialises_flat_with_its_kind_and_reads_back() {
        let ev = IntegrationEvent {
            id: "c1:2".into(),
            call_id: "c1".into(),
            seq: 2,
            at: 5,
            data: EventData::Ringing { extensions: vec!["101".into(), "102".into()] },
        };
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["event"], "call.ringing");
        assert_eq!(v["extensions"][1], "102");
        let back: IntegrationEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
        for k in EVENT_KINDS {
            assert!(k.contains('.'));
        }
    }
}
