//! Queue reports: for each queue over a period, how many callers entered and how their stay
//! ended (answered, abandoned, timed out, asked for a callback, found it full), the service
//! level (answered within a threshold, of those who entered), waits and talk; and per agent,
//! calls answered, offers missed and talk time. Built from the engine's record of each stay
//! (`queue_calls`) joined with the call log.

use crate::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;

/// One queue's figures for a period.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct QueueReport {
    /// The queue's extension.
    pub queue: String,
    /// Its name.
    pub name: String,
    /// Callers who entered (or found it full).
    pub entered: i64,
    /// Answered by an agent.
    pub answered: i64,
    /// Answered within the service-level threshold.
    pub answered_in_time: i64,
    /// Hung up while waiting.
    pub abandoned: i64,
    /// Left by the queue's maximum wait.
    pub timed_out: i64,
    /// Asked to be called back.
    pub callback: i64,
    /// Found the queue full.
    pub full: i64,
    /// Answered within the threshold, percent of those who entered (100 when none did).
    pub service_level: f64,
    /// Average wait of answered callers, seconds.
    pub avg_wait_answered: f64,
    /// Average wait of callers who hung up, seconds.
    pub avg_wait_abandoned: f64,
    /// Longest wait of anyone, seconds.
    pub max_wait: f64,
    /// Average talk of answered calls, seconds.
    pub avg_talk: f64,
    /// Each agent who answered or missed an offer.
    pub agents: Vec<AgentReport>,
}

/// One agent's figures in one queue.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AgentReport {
    /// Extension.
    pub ext: String,
    /// Name.
    pub name: String,
    /// Queue calls answered.
    pub answered: i64,
    /// Offers that rang and were not taken (missed or declined).
    pub missed: i64,
    /// Talk time of the answered calls, seconds.
    pub talk_seconds: i64,
}

/// `SUM(expr)` as a BIGINT 0 when empty (PostgreSQL sums BIGINTs to NUMERIC).
fn sum(expr: &str) -> String {
    format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)")
}

impl Store {
    /// The queue reports of a tenant for `[from, to)` (ms); `threshold_ms` is the service
    /// level's answer time.
    pub async fn queue_reports(&self, tenant_id: i64, from: i64, to: i64, threshold_ms: i64) -> Result<Vec<QueueReport>, StoreError> {
        let is = |o: &str| format!("CASE WHEN q.outcome = '{o}' THEN 1 ELSE 0 END");
        let wait_if = |o: &str| format!("CASE WHEN q.outcome = '{o}' THEN q.resolved_at - q.joined_at ELSE 0 END");
        let sql = format!(
            "SELECT q.queue AS queue, COALESCE(MAX(g.name), '') AS name, COUNT(*) AS entered, {answered} AS answered, \
             {in_time} AS in_time, {abandoned} AS abandoned, {timeout} AS timed_out, {callback} AS callback, {full} AS full_count, \
             {wait_answered} AS wait_answered, {wait_abandoned} AS wait_abandoned, \
             CAST(COALESCE(MAX(CASE WHEN q.resolved_at IS NOT NULL THEN q.resolved_at - q.joined_at ELSE 0 END), 0) AS BIGINT) AS max_wait, \
             {talk} AS talk \
             FROM queue_calls q LEFT JOIN calls c ON c.id = q.call_id \
             LEFT JOIN groups g ON g.tenant_id = q.tenant_id AND g.ext = q.queue \
             WHERE q.tenant_id = $1 AND q.joined_at >= $2 AND q.joined_at < $3 \
             GROUP BY q.queue ORDER BY q.queue",
            answered = sum(&is("answered")),
            in_time = sum("CASE WHEN q.outcome = 'answered' AND q.resolved_at - q.joined_at <= $4 THEN 1 ELSE 0 END"),
            abandoned = sum(&is("abandoned")),
            timeout = sum(&is("timeout")),
            callback = sum(&is("callback")),
            full = sum(&is("full")),
            wait_answered = sum(&wait_if("answered")),
            wait_abandoned = sum(&wait_if("abandoned")),
            talk = sum("CASE WHEN q.outcome = 'answered' THEN COALESCE(c.talk_seconds, 0) ELSE 0 END"),
        );
        let rows = sqlx::query(&sql).bind(tenant_id).bind(from).bind(to).bind(threshold_ms).fetch_all(self.pool()).await?;
        let mut out = Vec::new();
        for r in &rows {
            let (entered, answered, abandoned): (i64, i64, i64) = (r.try_get("entered")?, r.try_get("answered")?, r.try_get("abandoned")?);
            let in_time: i64 = r.try_get("in_time")?;
            let avg = |total: i64, n: i64| if n > 0 { total as f64 / n as f64 } else { 0.0 };
            out.push(QueueReport {
                queue: r.try_get("queue")?,
                name: r.try_get("name")?,
                entered,
                answered,
                answered_in_time: in_time,
                abandoned,
                timed_out: r.try_get("timed_out")?,
                callback: r.try_get("callback")?,
                full: r.try_get("full_count")?,
                service_level: if entered > 0 { 100.0 * in_time as f64 / entered as f64 } else { 100.0 },
                avg_wait_answered: avg(r.try_get("wait_answered")?, answered) / 1000.0,
                avg_wait_abandoned: avg(r.try_get("wait_abandoned")?, abandoned) / 1000.0,
                max_wait: r.try_get::<i64, _>("max_wait")? as f64 / 1000.0,
                avg_talk: avg(r.try_get("talk")?, answered),
                agents: Vec::new(),
            });
        }
        // Agents: answered calls with their talk, and offers rung but not taken.
        let answered = sqlx::query(&format!(
            "SELECT q.queue AS queue, u.ext AS ext, u.name AS name, COUNT(*) AS answered, {talk} AS talk \
             FROM queue_calls q JOIN users u ON u.id = q.agent_user_id LEFT JOIN calls c ON c.id = q.call_id \
             WHERE q.tenant_id = $1 AND q.joined_at >= $2 AND q.joined_at < $3 AND q.outcome = 'answered' \
             GROUP BY q.queue, u.ext, u.name",
            talk = sum("COALESCE(c.talk_seconds, 0)")
        ))
        .bind(tenant_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        let missed = sqlx::query(
            "SELECT q.queue AS queue, u.ext AS ext, u.name AS name, COUNT(*) AS missed \
             FROM queue_calls q JOIN call_legs l ON l.call_id = q.call_id JOIN users u ON u.id = l.user_id \
             WHERE q.tenant_id = $1 AND q.joined_at >= $2 AND q.joined_at < $3 AND l.outcome IN ('missed', 'declined') \
             GROUP BY q.queue, u.ext, u.name",
        )
        .bind(tenant_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        let agent = |out: &mut Vec<QueueReport>, queue: String, ext: String, name: String| -> Option<(usize, usize)> {
            let qi = out.iter().position(|q| q.queue == queue)?;
            let agents = &mut out.get_mut(qi)?.agents;
            let ai = match agents.iter().position(|a| a.ext == ext) {
                Some(i) => i,
                None => {
                    agents.push(AgentReport { ext, name, answered: 0, missed: 0, talk_seconds: 0 });
                    agents.len() - 1
                }
            };
            Some((qi, ai))
        };
        for r in &answered {
            if let Some((qi, ai)) = agent(&mut out, r.try_get("queue")?, r.try_get("ext")?, r.try_get("name")?)
                && let Some(a) = out.get_mut(qi).and_then(|q| q.agents.get_mut(ai))
            {
                a.answered = r.try_get("answered")?;
                a.talk_seconds = r.try_get("talk")?;
            }
        }
        for r in &missed {
            if let Some((qi, ai)) = agent(&mut out, r.try_get("queue")?, r.try_get("ext")?, r.try_get("name")?)
                && let Some(a) = out.get_mut(qi).and_then(|q| q.agents.get_mut(ai))
            {
                a.missed = r.try_get("missed")?;
            }
        }
        for q in &mut out {
            q.agents.sort_by(|a, b| b.answered.cmp(&a.answered).then_with(|| a.ext.cmp(&b.ext)));
        }
        Ok(out)
    }
}
