//! `pbx group ...` and `pbx queue ...`: ring groups and call queues, dialable by their
//! extension number and usable in scenarios.

use super::output;
use crate::company::GroupBody;
use clap::Subcommand;
use pbx_store::{GroupKind, Store};

/// Ring group commands.
#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create a ring group.
    Create {
        /// Tenant slug.
        slug: String,
        /// The group's extension number.
        ext: String,
        /// simultaneous, random, sequential or round-robin.
        #[arg(long)]
        strategy: String,
        /// Member extensions, comma-separated, in order.
        #[arg(long, value_delimiter = ',')]
        members: Vec<String>,
        /// Seconds each member rings (all but simultaneous).
        #[arg(long, default_value_t = 15)]
        ring_seconds: i64,
        /// Seconds the group rings in total before no-answer.
        #[arg(long, default_value_t = 60)]
        timeout: i64,
        /// Name.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Change a ring group or a queue: what is left out keeps its value.
    Set {
        /// Tenant slug.
        slug: String,
        /// Its extension.
        ext: String,
        /// The strategy (see `create`).
        #[arg(long)]
        strategy: Option<String>,
        /// Members (agents), comma-separated, in order.
        #[arg(long, value_delimiter = ',')]
        members: Option<Vec<String>>,
        /// Seconds each member rings.
        #[arg(long)]
        ring_seconds: Option<i64>,
        /// Ring groups: seconds the group rings in total.
        #[arg(long)]
        timeout: Option<i64>,
        /// Queues: longest wait, seconds.
        #[arg(long)]
        max_wait: Option<i64>,
        /// Queues: most callers waiting.
        #[arg(long)]
        max_length: Option<i64>,
        /// Queues: seconds an agent rests after a call.
        #[arg(long)]
        wrap_up: Option<i64>,
        /// Queues: seconds between position announcements.
        #[arg(long)]
        announce_every: Option<i64>,
        /// Queues: offer callers a callback (true or false).
        #[arg(long)]
        callback: Option<bool>,
        /// Queues: the prompt played as music while waiting ("" for the company's music).
        #[arg(long)]
        music: Option<String>,
        /// Queues: the prompt callers hear on entering ("" for none).
        #[arg(long)]
        entry_prompt: Option<String>,
        /// Name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List ring groups and queues.
    List {
        /// Tenant slug.
        slug: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a ring group or queue.
    Delete {
        /// Tenant slug.
        slug: String,
        /// Its extension.
        ext: String,
    },
}

/// Queue commands.
#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// Create a call queue.
    Create {
        /// Tenant slug.
        slug: String,
        /// The queue's extension number.
        ext: String,
        /// ring-all, round-robin, longest-idle or fewest-calls.
        #[arg(long)]
        strategy: String,
        /// Agent extensions, comma-separated.
        #[arg(long, value_delimiter = ',')]
        agents: Vec<String>,
        /// Longest wait, seconds, before the queue's timeout route.
        #[arg(long, default_value_t = 300)]
        max_wait: i64,
        /// Most callers waiting before the queue's full route.
        #[arg(long, default_value_t = 20)]
        max_length: i64,
        /// Seconds an offered agent rings.
        #[arg(long, default_value_t = 15)]
        ring_seconds: i64,
        /// Seconds an agent rests after a queue call.
        #[arg(long, default_value_t = 5)]
        wrap_up: i64,
        /// Seconds between position announcements.
        #[arg(long, default_value_t = 30)]
        announce_every: i64,
        /// Do not offer callers a callback.
        #[arg(long)]
        no_callback: bool,
        /// The prompt played as music while waiting (default: the company's music).
        #[arg(long, default_value = "")]
        music: String,
        /// The prompt callers hear on entering (default: none).
        #[arg(long, default_value = "")]
        entry_prompt: String,
        /// Name.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Pause an agent (not offered calls).
    Pause {
        /// Tenant slug.
        slug: String,
        /// Queue extension.
        ext: String,
        /// Agent extension.
        agent: String,
    },
    /// Unpause an agent.
    Unpause {
        /// Tenant slug.
        slug: String,
        /// Queue extension.
        ext: String,
        /// Agent extension.
        agent: String,
    },
    /// Log an agent in.
    Login {
        /// Tenant slug.
        slug: String,
        /// Queue extension.
        ext: String,
        /// Agent extension.
        agent: String,
    },
    /// Log an agent out.
    Logout {
        /// Tenant slug.
        slug: String,
        /// Queue extension.
        ext: String,
        /// Agent extension.
        agent: String,
    },
    /// Live state: waiting callers and agents.
    Status {
        /// Tenant slug.
        slug: String,
        /// Queue extension.
        ext: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a group command.
pub async fn run_group(store: &Store, cmd: GroupCmd) -> anyhow::Result<()> {
    match cmd {
        GroupCmd::Create { slug, ext, strategy, members, ring_seconds, timeout, name } => {
            let t = store.tenant_by_slug(&slug).await?;
            let b = GroupBody {
                ext: Some(ext),
                kind: Some("ring".into()),
                strategy: Some(strategy),
                members: Some(members),
                name: Some(name),
                ring_seconds: Some(ring_seconds),
                timeout_seconds: Some(timeout),
                ..GroupBody::default()
            };
            let g = crate::company::create_group(store, &t, b).await?;
            println!("created ring group {} ({}: {})", g.ext, g.strategy, g.members.join(","));
        }
        GroupCmd::Set {
            slug,
            ext,
            strategy,
            members,
            ring_seconds,
            timeout,
            max_wait,
            max_length,
            wrap_up,
            announce_every,
            callback,
            music,
            entry_prompt,
            name,
        } => {
            let t = store.tenant_by_slug(&slug).await?;
            let b = GroupBody {
                strategy,
                members,
                name,
                ring_seconds,
                timeout_seconds: timeout,
                max_wait_seconds: max_wait,
                max_length,
                wrap_up_seconds: wrap_up,
                announce_seconds: announce_every,
                callback,
                music_prompt: music,
                entry_prompt,
                ..GroupBody::default()
            };
            let g = crate::company::change_group(store, &t, &ext, b).await?;
            println!("changed {} {} ({}: {})", g.kind.as_str(), g.ext, g.strategy, g.members.join(","));
        }
        GroupCmd::List { slug, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let gs = store.list_groups(Some(t.id)).await?;
            output::print(json, &gs, &["EXT", "KIND", "STRATEGY", "MEMBERS", "NAME"], |g| {
                vec![g.ext.clone(), g.kind.as_str().into(), g.strategy.clone(), g.members.join(","), g.name.clone()]
            })?;
        }
        GroupCmd::Delete { slug, ext } => {
            let t = store.tenant_by_slug(&slug).await?;
            crate::company::delete_group(store, &t, &ext).await?;
            println!("deleted {ext}");
        }
    }
    Ok(())
}

/// Runs a queue command.
pub async fn run_queue(store: &Store, cmd: QueueCmd) -> anyhow::Result<()> {
    match cmd {
        QueueCmd::Create {
            slug,
            ext,
            strategy,
            agents,
            max_wait,
            max_length,
            ring_seconds,
            wrap_up,
            announce_every,
            no_callback,
            music,
            entry_prompt,
            name,
        } => {
            let t = store.tenant_by_slug(&slug).await?;
            let b = GroupBody {
                ext: Some(ext),
                kind: Some("queue".into()),
                strategy: Some(strategy),
                members: Some(agents),
                name: Some(name),
                ring_seconds: Some(ring_seconds),
                max_wait_seconds: Some(max_wait),
                max_length: Some(max_length),
                wrap_up_seconds: Some(wrap_up),
                announce_seconds: Some(announce_every),
                callback: Some(!no_callback),
                music_prompt: Some(music),
                entry_prompt: Some(entry_prompt),
                ..GroupBody::default()
            };
            let g = crate::company::create_group(store, &t, b).await?;
            println!("created queue {} ({}: {})", g.ext, g.strategy, g.members.join(","));
        }
        QueueCmd::Pause { slug, ext, agent } => agent_state(store, &slug, &ext, &agent, Some(true), None, "paused").await?,
        QueueCmd::Unpause { slug, ext, agent } => agent_state(store, &slug, &ext, &agent, Some(false), None, "unpaused").await?,
        QueueCmd::Login { slug, ext, agent } => agent_state(store, &slug, &ext, &agent, None, Some(true), "logged in").await?,
        QueueCmd::Logout { slug, ext, agent } => agent_state(store, &slug, &ext, &agent, None, Some(false), "logged out").await?,
        QueueCmd::Status { slug, ext, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let q = store.group_by_ext(t.id, &ext).await?;
            if q.kind != GroupKind::Queue {
                anyhow::bail!("{ext} is a ring group, not a queue");
            }
            let status = store.queue_status(q.id).await?;
            let v: serde_json::Value = match status {
                Some((json, at)) => {
                    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
                    v["updated_at"] = at.into();
                    v
                }
                None => serde_json::json!({"queue": ext, "callers": [], "agents": [], "note": "no server has reported this queue yet"}),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("queue {ext}: {} waiting", v["callers"].as_array().map(|a| a.len()).unwrap_or(0));
                for c in v["callers"].as_array().into_iter().flatten() {
                    println!(
                        "  {}. {} waiting {} s{}",
                        c["position"],
                        c["caller"],
                        c["waited_s"],
                        if c["callback"] == true { " (callback)" } else { "" }
                    );
                }
                for a in v["agents"].as_array().into_iter().flatten() {
                    println!("  agent {} {}", a["ext"].as_str().unwrap_or_default(), a["state"].as_str().unwrap_or_default());
                }
            }
        }
    }
    Ok(())
}

async fn agent_state(
    store: &Store,
    slug: &str,
    ext: &str,
    agent: &str,
    paused: Option<bool>,
    logged_in: Option<bool>,
    what: &str,
) -> anyhow::Result<()> {
    let t = store.tenant_by_slug(slug).await?;
    store.set_agent_state(t.id, ext, agent, paused, logged_in).await?;
    println!("{agent} {what} in queue {ext}");
    Ok(())
}
