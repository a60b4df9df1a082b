//! `pbx calls ...`

use super::output;
use clap::Subcommand;
use pbx_store::Store;

/// Call-log commands.
#[derive(Debug, Subcommand)]
pub enum CallsCmd {
    /// One call: its call-log row, its timeline and its recording.
    Show {
        /// Tenant slug.
        slug: String,
        /// Call id.
        call_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The call log of a tenant, newest first.
    List {
        /// Tenant slug.
        slug: String,
        /// How many rows.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a call-log command.
pub async fn run(store: &Store, cmd: CallsCmd) -> anyhow::Result<()> {
    match cmd {
        CallsCmd::Show { slug, call_id, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let call = store.call_by_id(t.id, &call_id).await?;
            let timeline = store.call_events(&call_id).await?;
            let recording = store.recording(t.id, &call_id).await.ok();
            let users = store.list_users(t.id).await?;
            let legs: Vec<serde_json::Value> = store
                .call_legs(&call_id)
                .await?
                .into_iter()
                .map(|(uid, outcome)| {
                    let ext = users.iter().find(|u| u.id == uid).map(|u| u.ext.clone()).unwrap_or_default();
                    serde_json::json!({"ext": ext, "outcome": outcome})
                })
                .collect();
            if json {
                let v = serde_json::json!({ "call": call, "timeline": timeline, "recording": recording, "legs": legs });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "{} {} {} → {} {}",
                    output::time(call.started_at),
                    call.direction.as_str(),
                    call.caller_number,
                    call.callee,
                    call.disposition.map(|d| d.as_str()).unwrap_or("live")
                );
                for e in &timeline {
                    println!("  {}  {:<10} {}", output::time(e.at), e.kind, e.detail);
                }
                if let Some(r) = recording {
                    println!("  recording: {} ({} s, {} KB, {})", r.path, r.duration_ms / 1000, r.size_bytes / 1024, r.format);
                }
            }
        }
        CallsCmd::List { slug, limit, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let calls = store.list_calls(t.id, limit.clamp(1, 10_000), None).await?;
            output::print(json, &calls, &["STARTED (UTC)", "DIRECTION", "FROM", "TO", "DISPOSITION", "TALK", "ID"], |c| {
                vec![
                    output::time(c.started_at),
                    c.direction.as_str().into(),
                    if c.caller_name.is_empty() { c.caller_number.clone() } else { format!("{} ({})", c.caller_number, c.caller_name) },
                    c.callee.clone(),
                    c.disposition.map(|d| d.as_str()).unwrap_or("live").into(),
                    format!("{}s", c.talk_seconds),
                    c.id.clone(),
                ]
            })?;
        }
    }
    Ok(())
}
