//! A company's uploaded prompts on disk (greetings, announcements, music), shared by the
//! CLI and the cabinet: imported from any common audio format, stored as 8 kHz WAV.

use pbx_store::Store;
use std::path::{Path, PathBuf};

/// Where a tenant's files live.
pub fn tenant_dir(data_dir: &Path, tenant_id: i64) -> PathBuf {
    data_dir.join("tenants").join(tenant_id.to_string())
}

/// Imports and stores an uploaded prompt; nothing is kept when any step fails.
pub async fn upload_prompt(
    store: &Store,
    data_dir: &Path,
    tenant_id: i64,
    name: &str,
    original: &str,
    bytes: &[u8],
) -> anyhow::Result<(i64, PathBuf)> {
    let data = bytes.to_vec();
    let samples = pbx_store::blocking::run(move || pbx_media::import::import(&data, pbx_media::import::Limits::default())).await??;
    let dir = tenant_dir(data_dir, tenant_id).join("prompts");
    tokio::fs::create_dir_all(&dir).await?;
    let safe: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    let path = dir.join(format!("{safe}-{}.wav", pbx_store::now_ms()));
    let tmp = path.with_extension("part");
    tokio::fs::write(&tmp, pbx_media::wav::pcm16(&samples, 1, 8000)).await?;
    tokio::fs::rename(&tmp, &path).await?;
    let duration = samples.len() as i64 / 8;
    match store.put_prompt(tenant_id, name, &path.display().to_string(), duration, original).await {
        Ok(old) => {
            if let Some(old) = old {
                let _ = tokio::fs::remove_file(old).await;
            }
            Ok((duration, path))
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            Err(e.into())
        }
    }
}
