//! `pbx prompt ...` and `pbx recordings ...`

use super::output;
use crate::prompts::upload_prompt;
use clap::Subcommand;
use pbx_store::Store;
use std::path::{Path, PathBuf};

/// Prompt commands.
#[derive(Debug, Subcommand)]
pub enum PromptCmd {
    /// Upload a greeting, announcement or music (WAV, MP3, Ogg/Opus, Ogg/Vorbis, FLAC).
    Upload {
        /// Tenant slug.
        slug: String,
        /// Name to use in settings and scenarios (e.g. welcome, music).
        name: String,
        /// The audio file.
        file: PathBuf,
    },
    /// Rename an uploaded prompt (refused while the company's settings or a scenario use it).
    Rename {
        /// Tenant slug.
        slug: String,
        /// Its name now.
        name: String,
        /// Its new name.
        new_name: String,
    },
    /// Delete an uploaded prompt (refused while the company's settings or a scenario use it).
    Delete {
        /// Tenant slug.
        slug: String,
        /// Prompt name.
        name: String,
    },
    /// List a tenant's prompts (uploaded, then built-in).
    List {
        /// Tenant slug.
        slug: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Recording commands.
#[derive(Debug, Subcommand)]
pub enum RecordingsCmd {
    /// List a tenant's recordings, newest first.
    List {
        /// Tenant slug.
        slug: String,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a call's recording as a two-channel 8 kHz WAV (caller left, callee right).
    Export {
        /// Tenant slug.
        slug: String,
        /// Call id.
        call_id: String,
        /// Output file.
        out: PathBuf,
    },
}

/// Runs a prompt command.
pub async fn run_prompt(store: &Store, data_dir: &Path, cmd: PromptCmd) -> anyhow::Result<()> {
    match cmd {
        PromptCmd::Upload { slug, name, file } => {
            let t = store.tenant_by_slug(&slug).await?;
            let bytes = tokio::fs::read(&file).await.map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let original = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let (ms, _) = upload_prompt(store, data_dir, t.id, &name, &original, &bytes)
                .await
                .map_err(|e| anyhow::anyhow!("cannot use {}: {e}", file.display()))?;
            println!("uploaded {name} to {slug} ({}.{:01} s)", ms / 1000, ms % 1000 / 100);
        }
        PromptCmd::Rename { slug, name, new_name } => {
            let t = store.tenant_by_slug(&slug).await?;
            crate::company::rename_prompt(store, &t, &name, &new_name).await?;
            println!("renamed prompt {name} of {slug} to {new_name}");
        }
        PromptCmd::Delete { slug, name } => {
            let t = store.tenant_by_slug(&slug).await?;
            crate::company::delete_prompt(store, &t, &name).await?;
            println!("deleted prompt {name} of {slug}");
        }
        PromptCmd::List { slug, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            #[derive(serde::Serialize)]
            struct Row {
                name: String,
                source: String,
                duration_ms: i64,
            }
            let mut rows: Vec<Row> = store
                .list_prompts(Some(t.id))
                .await?
                .into_iter()
                .map(|p| Row { name: p.name, source: format!("uploaded ({})", p.original_name), duration_ms: p.duration_ms })
                .collect();
            for name in pbx_media::prompt::builtin_names() {
                if rows.iter().any(|r| r.name == name) {
                    continue;
                }
                if let Some(p) = pbx_media::prompt::builtin(&t.language, name) {
                    rows.push(Row {
                        name: name.to_string(),
                        source: format!("built-in ({})", t.language),
                        duration_ms: p.duration_ms() as i64,
                    });
                }
            }
            output::print(json, &rows, &["NAME", "SOURCE", "LENGTH"], |r| {
                vec![r.name.clone(), r.source.clone(), format!("{}.{:01} s", r.duration_ms / 1000, r.duration_ms % 1000 / 100)]
            })?;
        }
    }
    Ok(())
}

/// Runs a recordings command.
pub async fn run_recordings(store: &Store, cmd: RecordingsCmd) -> anyhow::Result<()> {
    match cmd {
        RecordingsCmd::List { slug, limit, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let recs = store.list_recordings(t.id, limit.clamp(1, 10_000), None).await?;
            output::print(json, &recs, &["STARTED (UTC)", "CALL", "LENGTH", "SIZE", "FORMAT"], |r| {
                vec![
                    output::time(r.created_at),
                    r.call_id.clone(),
                    format!("{} s", r.duration_ms / 1000),
                    format!("{} KB", r.size_bytes / 1024),
                    r.format.clone(),
                ]
            })?;
        }
        RecordingsCmd::Export { slug, call_id, out } => {
            let t = store.tenant_by_slug(&slug).await?;
            let rec = store.recording(t.id, &call_id).await?;
            let bytes = tokio::fs::read(&rec.path).await.map_err(|e| anyhow::anyhow!("cannot read the recording {}: {e}", rec.path))?;
            let wav = pbx_store::blocking::run(move || export_wav(&bytes)).await??;
            tokio::fs::write(&out, wav).await.map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

/// A stored recording (Ogg/Opus or interim WAV) as a two-channel 16-bit 8 kHz WAV.
pub fn export_wav(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let samples = if bytes.starts_with(b"OggS") {
        pbx_media::opusfile::decode_stereo(bytes)?
    } else {
        let w = pbx_media::wav::parse(bytes).ok_or_else(|| anyhow::anyhow!("the recording is not a WAV or Ogg file"))?;
        pbx_media::wav::samples(&w).ok_or_else(|| anyhow::anyhow!("unexpected recording encoding"))?
    };
    Ok(pbx_media::wav::pcm16(&samples, 2, 8000))
}
