//! One bounded pool for CPU-heavy work (password hashing, plugin compilation, audio decoding,
//! recording compression, exports): at most one job per core but one runs at a time, so such
//! work never takes every core from the call engine and the SIP receivers, however many
//! requests ask for it at once. Jobs wait their turn asynchronously.

use std::sync::OnceLock;
use tokio::sync::Semaphore;

/// Why a job produced no result.
#[derive(Debug, thiserror::Error)]
pub enum BlockingError {
    /// The job panicked or was cancelled.
    #[error("a background job failed: {0}")]
    Failed(String),
}

/// How many heavy jobs run at once: one fewer than the cores, at least one.
pub fn limit() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).saturating_sub(1).max(1)
}

fn gate() -> &'static Semaphore {
    static GATE: OnceLock<Semaphore> = OnceLock::new();
    GATE.get_or_init(|| Semaphore::new(limit()))
}

/// Runs `f` on a blocking thread once a slot of the pool is free.
pub async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, BlockingError> {
    let _permit = gate().acquire().await.map_err(|e| BlockingError::Failed(e.to_string()))?;
    tokio::task::spawn_blocking(f).await.map_err(|e| BlockingError::Failed(e.to_string()))
}
