//! The way from the REST API (and, later, plugins) into the call engine for calls the PBX
//! places: a request goes to the engine's control queue with a token, and the engine's
//! `Action::Originated` answers the waiting caller.

use crate::engine::{Input, OriginateError, OriginateRequest};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for the engine, at most.
const MAX_PENDING: usize = 256;

/// Why a call could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum OriginateFailure {
    /// The engine refused it (the reason is the caller's to fix).
    #[error(transparent)]
    Refused(#[from] OriginateError),
    /// The engine did not answer in time or is gone.
    #[error("the call engine is not answering")]
    Unavailable,
    /// Too many requests are waiting.
    #[error("too many calls are being placed at once")]
    Overloaded,
}

/// Hands originate requests to the engine and their outcomes back.
pub struct Originator {
    tx: mpsc::UnboundedSender<Input>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<String, OriginateError>>>>,
    next: AtomicU64,
}

impl Originator {
    /// An originator over the engine's control queue.
    pub fn new(tx: mpsc::UnboundedSender<Input>) -> Originator {
        Originator { tx, pending: Mutex::new(HashMap::new()), next: AtomicU64::new(1) }
    }

    /// Places a call; returns its call-log id.
    pub async fn originate(&self, req: OriginateRequest) -> Result<String, OriginateFailure> {
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.pending.lock().map_err(|_| OriginateFailure::Unavailable)?;
            if p.len() >= MAX_PENDING {
                return Err(OriginateFailure::Overloaded);
            }
            p.insert(token, tx);
        }
        if self.tx.send(Input::Originate { req: Box::new(req), token }).is_err() {
            self.forget(token);
            return Err(OriginateFailure::Unavailable);
        }
        match tokio::time::timeout(Duration::from_secs(5), rx).await {
            Ok(Ok(r)) => r.map_err(OriginateFailure::Refused),
            _ => {
                self.forget(token);
                Err(OriginateFailure::Unavailable)
            }
        }
    }

    /// The engine's answer to request `token`.
    pub fn answered(&self, token: u64, result: Result<String, OriginateError>) {
        let waiting = self.pending.lock().ok().and_then(|mut p| p.remove(&token));
        if let Some(tx) = waiting {
            let _ = tx.send(result);
        }
    }

    fn forget(&self, token: u64) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&token);
        }
    }
}
