//! The recording writer thread: takes mixed stereo frames from the media workers and appends
//! them to each call's A-law WAV, rewriting the header every second so that the file on
//! disk is always a valid recording of everything but the last second, even after kill -9.

use crate::MediaEvent;
use crate::g711::Law;
use crate::wav::{self, Format};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

/// A message for the writer.
pub(crate) enum RecMsg {
    /// Start a file.
    Open { key: u64, path: PathBuf },
    /// Frames of a file (interleaved caller/callee).
    Frames { key: u64, frames: Vec<[i16; 2]> },
    /// Finish a file.
    Close { key: u64, session: u64 },
}

struct Open {
    path: PathBuf,
    file: BufWriter<File>,
    data_len: u64,
    header_at: Instant,
}

/// Starts the writer thread.
pub(crate) fn spawn(on_event: Arc<dyn Fn(MediaEvent) + Send + Sync>) -> std::io::Result<Sender<RecMsg>> {
    let (tx, rx) = channel();
    std::thread::Builder::new().name("rec-writer".into()).spawn(move || run(rx, on_event))?;
    Ok(tx)
}

fn write_header(o: &mut Open) -> std::io::Result<()> {
    o.file.flush()?;
    let f = o.file.get_mut();
    let pos = f.stream_position()?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&wav::header(Format::Alaw, 2, 8000, o.data_len.min(u32::MAX as u64 - 64) as u32))?;
    f.seek(SeekFrom::Start(pos))?;
    Ok(())
}

fn run(rx: Receiver<RecMsg>, on_event: Arc<dyn Fn(MediaEvent) + Send + Sync>) {
    let mut open: HashMap<u64, Open> = HashMap::new();
    let mut bytes = Vec::with_capacity(16_000);
    loop {
        let msg = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(m) => Some(m),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        };
        // A failure on one recording must not stop the others: contained per message.
        let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match msg {
            Some(RecMsg::Open { key, path }) => {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                match File::create(&path) {
                    Ok(f) => {
                        let mut o = Open { path, file: BufWriter::with_capacity(32 * 1024, f), data_len: 0, header_at: Instant::now() };
                        if o.file.write_all(&wav::header(Format::Alaw, 2, 8000, 0)).is_ok() {
                            open.insert(key, o);
                        } else {
                            tracing::error!(path = %o.path.display(), "cannot write a recording");
                        }
                    }
                    Err(e) => tracing::error!(path = %path.display(), error = %e, "cannot create a recording"),
                }
            }
            Some(RecMsg::Frames { key, frames }) => {
                let Some(o) = open.get_mut(&key) else { return };
                bytes.clear();
                for f in &frames {
                    bytes.push(Law::Alaw.encode(f[0]));
                    bytes.push(Law::Alaw.encode(f[1]));
                }
                if o.file.write_all(&bytes).is_ok() {
                    o.data_len += bytes.len() as u64;
                }
            }
            Some(RecMsg::Close { key, session }) => {
                if let Some(mut o) = open.remove(&key) {
                    let _ = write_header(&mut o);
                    let _ = o.file.flush();
                    let _ = o.file.get_ref().sync_data();
                    on_event(MediaEvent::RecordingDone {
                        id: session,
                        path: o.path.clone(),
                        duration_ms: o.data_len / 16,
                        bytes: o.data_len + 46,
                    });
                }
            }
            None => {}
        }));
        if handled.is_err() {
            tracing::error!("the recording writer failed on a message; going on");
        }
        // Keep every header close to the truth (crash safety).
        let now = Instant::now();
        for o in open.values_mut() {
            if now.duration_since(o.header_at) >= Duration::from_secs(1) {
                o.header_at = now;
                if let Err(e) = write_header(o) {
                    tracing::warn!(path = %o.path.display(), error = %e, "cannot update a recording header");
                }
            }
        }
    }
}
