//! Calling features: ring groups and call queues (one table, both dialable by an
//! extension number), the state of queue agents, and users' call forwarding.

use crate::directory::valid_ext;
use crate::{Store, StoreError, now_ms};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// A ring group or a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupKind {
    /// Rings its members by a strategy.
    Ring,
    /// Holds callers until an agent frees up.
    Queue,
}

impl GroupKind {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Ring => "ring",
            GroupKind::Queue => "queue",
        }
    }
}

/// Ring group strategies.
pub const RING_STRATEGIES: &[&str] = &["simultaneous", "random", "sequential", "round-robin"];
/// Queue distribution strategies (decided by the `queue` plugin).
pub const QUEUE_STRATEGIES: &[&str] = &["ring-all", "round-robin", "longest-idle", "fewest-calls"];

/// A ring group or queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Group {
    /// Database id.
    pub id: i64,
    /// Tenant.
    pub tenant_id: i64,
    /// Its extension number.
    pub ext: String,
    /// Display name.
    pub name: String,
    /// Group or queue.
    pub kind: GroupKind,
    /// How members are rung / agents chosen.
    pub strategy: String,
    /// Member (agent) extensions, in order.
    pub members: Vec<String>,
    /// Seconds each member rings (sequential, random, round-robin; queue offers).
    pub ring_seconds: i64,
    /// Seconds a group call rings in total before `no-answer`.
    pub timeout_seconds: i64,
    /// Queue: longest wait before the `timeout` output.
    pub max_wait_seconds: i64,
    /// Queue: most callers waiting before `full`.
    pub max_length: i64,
    /// Queue: seconds an agent rests after a call.
    pub wrap_up_seconds: i64,
    /// Queue: seconds between position announcements.
    pub announce_seconds: i64,
    /// Queue: callers may ask to be called back.
    pub callback: bool,
    /// Queue: the music callers hear while waiting (empty: the company's).
    pub music_prompt: String,
    /// Queue: the announcement a caller hears on entering (empty: none).
    pub entry_prompt: String,
}

/// Input for a new group or queue.
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// Extension.
    pub ext: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: GroupKind,
    /// Strategy.
    pub strategy: String,
    /// Members.
    pub members: Vec<String>,
    /// Per-member ring time.
    pub ring_seconds: i64,
    /// Total ring time (groups).
    pub timeout_seconds: i64,
    /// Longest wait (queues).
    pub max_wait_seconds: i64,
    /// Most callers (queues).
    pub max_length: i64,
    /// Wrap-up (queues).
    pub wrap_up_seconds: i64,
    /// Announcement period (queues).
    pub announce_seconds: i64,
    /// Callback offered (queues).
    pub callback: bool,
    /// Music while waiting (queues; empty: the company's).
    pub music_prompt: String,
    /// Announcement on entering (queues; empty: none).
    pub entry_prompt: String,
}

impl NewGroup {
    /// A group with the usual defaults.
    pub fn new(kind: GroupKind, ext: &str, strategy: &str, members: Vec<String>) -> NewGroup {
        NewGroup {
            ext: ext.to_string(),
            name: String::new(),
            kind,
            strategy: strategy.to_string(),
            members,
            ring_seconds: 15,
            timeout_seconds: 60,
            max_wait_seconds: 300,
            max_length: 20,
            wrap_up_seconds: 5,
            announce_seconds: 30,
            callback: true,
            music_prompt: String::new(),
            entry_prompt: String::new(),
        }
    }
}

/// A queue agent's state as stored (paused, logged in).
#[derive(Debug, Clone, Serialize)]
pub struct AgentState {
    /// Queue id.
    pub group_id: i64,
    /// Agent extension.
    pub ext: String,
    /// Paused: not offered calls.
    pub paused: bool,
    /// Logged in to the queue.
    pub logged_in: bool,
}

/// A user's call forwarding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Forwarding {
    /// Every call goes here.
    pub always: Option<String>,
    /// When the user is in a call or declines.
    pub busy: Option<String>,
    /// When the user does not answer within `no_answer_seconds`.
    pub no_answer: Option<String>,
    /// Seconds before `no_answer` applies.
    pub no_answer_seconds: i64,
    /// When no phone of the user is registered or reachable.
    pub unreachable: Option<String>,
}

impl Forwarding {
    /// Whether any rule is set.
    pub fn any(&self) -> bool {
        self.always.is_some() || self.busy.is_some() || self.no_answer.is_some() || self.unreachable.is_some()
    }
}

const GROUP_COLS: &str = "id, tenant_id, ext, name, kind, strategy, members, ring_seconds, timeout_seconds, max_wait_seconds, max_length, wrap_up_seconds, announce_seconds, callback, music_prompt, entry_prompt";

fn group_from(r: &sqlx::any::AnyRow) -> Result<Group, sqlx::Error> {
    let members: String = r.try_get("members")?;
    Ok(Group {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        ext: r.try_get("ext")?,
        name: r.try_get("name")?,
        kind: if r.try_get::<String, _>("kind")? == "queue" { GroupKind::Queue } else { GroupKind::Ring },
        strategy: r.try_get("strategy")?,
        members: members.split(',').filter(|m| !m.is_empty()).map(str::to_string).collect(),
        ring_seconds: r.try_get("ring_seconds")?,
        timeout_seconds: r.try_get("timeout_seconds")?,
        max_wait_seconds: r.try_get("max_wait_seconds")?,
        max_length: r.try_get("max_length")?,
        wrap_up_seconds: r.try_get("wrap_up_seconds")?,
        announce_seconds: r.try_get("announce_seconds")?,
        callback: r.try_get::<i64, _>("callback")? != 0,
        music_prompt: r.try_get("music_prompt")?,
        entry_prompt: r.try_get("entry_prompt")?,
    })
}

impl Store {
    /// Checks a group's settings: a known strategy for its kind, members who are users of
    /// the tenant, numbers within their ranges.
    async fn check_group(&self, tenant_id: i64, g: &NewGroup) -> Result<(), StoreError> {
        let allowed = match g.kind {
            GroupKind::Ring => RING_STRATEGIES,
            GroupKind::Queue => QUEUE_STRATEGIES,
        };
        if !allowed.contains(&g.strategy.as_str()) {
            return Err(StoreError::Invalid(format!("unknown strategy {:?}: use {}", g.strategy, allowed.join(", "))));
        }
        if g.members.is_empty() {
            return Err(StoreError::Invalid("a group needs at least one member".into()));
        }
        if g.members.len() > 200 {
            return Err(StoreError::Invalid("a group has at most 200 members".into()));
        }
        if g.name.chars().count() > 100 {
            return Err(StoreError::Invalid("a group's name is at most 100 characters".into()));
        }
        for p in [&g.music_prompt, &g.entry_prompt] {
            crate::check_text("prompt name", p, 64)?;
        }
        for m in &g.members {
            self.user_by_ext(tenant_id, m).await.map_err(|_| StoreError::Invalid(format!("member {m} is not a user of the tenant")))?;
        }
        for (v, what, lo, hi) in [
            (g.ring_seconds, "ring seconds", 3, 600),
            (g.timeout_seconds, "timeout", 3, 3600),
            (g.max_wait_seconds, "maximum wait", 5, 86_400),
            (g.max_length, "maximum length", 1, 10_000),
            (g.wrap_up_seconds, "wrap-up", 0, 3600),
            (g.announce_seconds, "announcement period", 5, 3600),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(StoreError::Invalid(format!("{what} must be {lo} to {hi}")));
            }
        }
        Ok(())
    }

    /// Creates a ring group or queue; its extension must be free and its members users.
    pub async fn create_group(&self, tenant_id: i64, g: &NewGroup) -> Result<Group, StoreError> {
        if !valid_ext(&g.ext) {
            return Err(StoreError::Invalid(format!("invalid extension {:?}: use 2 to 6 digits", g.ext)));
        }
        self.check_group(tenant_id, g).await?;
        if self.user_by_ext(tenant_id, &g.ext).await.is_ok() {
            return Err(StoreError::Conflict(format!("extension {}", g.ext)));
        }
        sqlx::query(
            "INSERT INTO groups (tenant_id, ext, name, kind, strategy, members, ring_seconds, timeout_seconds, max_wait_seconds, max_length, \
             wrap_up_seconds, announce_seconds, callback, music_prompt, entry_prompt, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(tenant_id)
        .bind(&g.ext)
        .bind(&g.name)
        .bind(g.kind.as_str())
        .bind(&g.strategy)
        .bind(g.members.join(","))
        .bind(g.ring_seconds)
        .bind(g.timeout_seconds)
        .bind(g.max_wait_seconds)
        .bind(g.max_length)
        .bind(g.wrap_up_seconds)
        .bind(g.announce_seconds)
        .bind(i64::from(g.callback))
        .bind(&g.music_prompt)
        .bind(&g.entry_prompt)
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(|e| StoreError::conflict_or(e, &format!("extension {}", g.ext)))?;
        self.bump_config_version().await?;
        self.group_by_ext(tenant_id, &g.ext).await
    }

    /// Changes a group or queue (its extension and kind stay): same checks as creating one.
    pub async fn update_group(&self, tenant_id: i64, g: &NewGroup) -> Result<Group, StoreError> {
        let old = self.group_by_ext(tenant_id, &g.ext).await?;
        if old.kind != g.kind {
            return Err(StoreError::Invalid(format!("{} is a {}: its kind does not change", g.ext, old.kind.as_str())));
        }
        self.check_group(tenant_id, g).await?;
        sqlx::query(
            "UPDATE groups SET name = $1, strategy = $2, members = $3, ring_seconds = $4, timeout_seconds = $5, max_wait_seconds = $6, \
             max_length = $7, wrap_up_seconds = $8, announce_seconds = $9, callback = $10, \
             music_prompt = $11, entry_prompt = $12 WHERE tenant_id = $13 AND ext = $14",
        )
        .bind(&g.name)
        .bind(&g.strategy)
        .bind(g.members.join(","))
        .bind(g.ring_seconds)
        .bind(g.timeout_seconds)
        .bind(g.max_wait_seconds)
        .bind(g.max_length)
        .bind(g.wrap_up_seconds)
        .bind(g.announce_seconds)
        .bind(i64::from(g.callback))
        .bind(&g.music_prompt)
        .bind(&g.entry_prompt)
        .bind(tenant_id)
        .bind(&g.ext)
        .execute(self.pool())
        .await?;
        self.bump_config_version().await?;
        self.group_by_ext(tenant_id, &g.ext).await
    }

    /// A group or queue by extension.
    pub async fn group_by_ext(&self, tenant_id: i64, ext: &str) -> Result<Group, StoreError> {
        let r = sqlx::query(&format!("SELECT {GROUP_COLS} FROM groups WHERE tenant_id = $1 AND ext = $2"))
            .bind(tenant_id)
            .bind(ext)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("group or queue {ext}")))?;
        Ok(group_from(&r)?)
    }

    /// Groups and queues of a tenant (or all).
    pub async fn list_groups(&self, tenant_id: Option<i64>) -> Result<Vec<Group>, StoreError> {
        let rows = match tenant_id {
            Some(t) => {
                sqlx::query(&format!("SELECT {GROUP_COLS} FROM groups WHERE tenant_id = $1 ORDER BY ext"))
                    .bind(t)
                    .fetch_all(self.pool())
                    .await?
            }
            None => sqlx::query(&format!("SELECT {GROUP_COLS} FROM groups ORDER BY tenant_id, ext")).fetch_all(self.pool()).await?,
        };
        Ok(rows.iter().map(group_from).collect::<Result<_, _>>()?)
    }

    /// Deletes a group or queue.
    pub async fn delete_group(&self, tenant_id: i64, ext: &str) -> Result<(), StoreError> {
        let r = sqlx::query("DELETE FROM groups WHERE tenant_id = $1 AND ext = $2").bind(tenant_id).bind(ext).execute(self.pool()).await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("group or queue {ext}")));
        }
        self.bump_config_version().await
    }

    /// Pauses/unpauses or logs an agent in/out of a queue.
    pub async fn set_agent_state(
        &self,
        tenant_id: i64,
        queue_ext: &str,
        agent: &str,
        paused: Option<bool>,
        logged_in: Option<bool>,
    ) -> Result<AgentState, StoreError> {
        let q = self.group_by_ext(tenant_id, queue_ext).await?;
        if q.kind != GroupKind::Queue {
            return Err(StoreError::Invalid(format!("{queue_ext} is a ring group, not a queue")));
        }
        if !q.members.iter().any(|m| m == agent) {
            return Err(StoreError::NotFound(format!("agent {agent} of queue {queue_ext}")));
        }
        let current = self.agent_states(Some(q.id)).await?.into_iter().find(|a| a.ext == agent);
        let (p, l) = match current {
            Some(a) => (paused.unwrap_or(a.paused), logged_in.unwrap_or(a.logged_in)),
            None => (paused.unwrap_or(false), logged_in.unwrap_or(true)),
        };
        let updated = sqlx::query("UPDATE queue_agents SET paused = $1, logged_in = $2 WHERE group_id = $3 AND ext = $4")
            .bind(i64::from(p))
            .bind(i64::from(l))
            .bind(q.id)
            .bind(agent)
            .execute(self.pool())
            .await?;
        if updated.rows_affected() == 0 {
            sqlx::query("INSERT INTO queue_agents (group_id, ext, paused, logged_in) VALUES ($1, $2, $3, $4)")
                .bind(q.id)
                .bind(agent)
                .bind(i64::from(p))
                .bind(i64::from(l))
                .execute(self.pool())
                .await?;
        }
        self.bump_config_version().await?;
        Ok(AgentState { group_id: q.id, ext: agent.to_string(), paused: p, logged_in: l })
    }

    /// Stored agent states of one queue (or all); agents without a row are logged in and
    /// not paused.
    pub async fn agent_states(&self, group_id: Option<i64>) -> Result<Vec<AgentState>, StoreError> {
        let rows = match group_id {
            Some(g) => {
                sqlx::query("SELECT group_id, ext, paused, logged_in FROM queue_agents WHERE group_id = $1")
                    .bind(g)
                    .fetch_all(self.pool())
                    .await?
            }
            None => sqlx::query("SELECT group_id, ext, paused, logged_in FROM queue_agents").fetch_all(self.pool()).await?,
        };
        rows.iter()
            .map(|r| {
                Ok(AgentState {
                    group_id: r.try_get("group_id")?,
                    ext: r.try_get("ext")?,
                    paused: r.try_get::<i64, _>("paused")? != 0,
                    logged_in: r.try_get::<i64, _>("logged_in")? != 0,
                })
            })
            .collect()
    }

    /// Publishes a queue's live state (JSON) for the CLI and the cabinet.
    pub async fn put_queue_status(&self, group_id: i64, status: &str, at: i64) -> Result<(), StoreError> {
        let up = sqlx::query("UPDATE queue_status SET status = $1, updated_at = $2 WHERE group_id = $3")
            .bind(status)
            .bind(at)
            .bind(group_id)
            .execute(self.pool())
            .await?;
        if up.rows_affected() == 0 {
            sqlx::query("INSERT INTO queue_status (group_id, status, updated_at) VALUES ($1, $2, $3)")
                .bind(group_id)
                .bind(status)
                .bind(at)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// Publishes a company's presence (JSON of its users' states); an older state arriving
    /// late does not overwrite a newer one.
    pub async fn put_presence(&self, tenant_id: i64, status: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO presence (tenant_id, status, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at \
             WHERE presence.updated_at <= excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(status)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A company's last published presence and when.
    pub async fn presence(&self, tenant_id: i64) -> Result<Option<(String, i64)>, StoreError> {
        let r =
            sqlx::query("SELECT status, updated_at FROM presence WHERE tenant_id = $1").bind(tenant_id).fetch_optional(self.pool()).await?;
        Ok(match r {
            Some(r) => Some((r.try_get("status")?, r.try_get("updated_at")?)),
            None => None,
        })
    }

    /// A queue's last published live state and when.
    pub async fn queue_status(&self, group_id: i64) -> Result<Option<(String, i64)>, StoreError> {
        let r = sqlx::query("SELECT status, updated_at FROM queue_status WHERE group_id = $1")
            .bind(group_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match r {
            Some(r) => Some((r.try_get("status")?, r.try_get("updated_at")?)),
            None => None,
        })
    }

    /// Sets a user's forwarding. Targets are extensions, groups or external numbers; the
    /// caller checks that external ones are allowed.
    pub async fn set_forwarding(&self, tenant_id: i64, ext: &str, f: &Forwarding) -> Result<(), StoreError> {
        let user = self.user_by_ext(tenant_id, ext).await?;
        for t in [&f.always, &f.busy, &f.no_answer, &f.unreachable].into_iter().flatten() {
            if t == ext {
                return Err(StoreError::Invalid(format!("{ext} cannot forward to itself")));
            }
            if t.is_empty() || t.len() > 32 || !t.chars().all(|c| c.is_ascii_digit() || c == '+') {
                return Err(StoreError::Invalid(format!("invalid forwarding target {t:?}: an extension or a phone number")));
            }
        }
        if !(3..=300).contains(&f.no_answer_seconds) {
            return Err(StoreError::Invalid("no-answer time must be 3 to 300 seconds".into()));
        }
        sqlx::query(
            "UPDATE users SET fwd_always = $1, fwd_busy = $2, fwd_no_answer = $3, fwd_no_answer_seconds = $4, fwd_unreachable = $5 WHERE id = $6",
        )
        .bind(&f.always)
        .bind(&f.busy)
        .bind(&f.no_answer)
        .bind(f.no_answer_seconds)
        .bind(&f.unreachable)
        .bind(user.id)
        .execute(self.pool())
        .await?;
        self.bump_config_version().await
    }
}
