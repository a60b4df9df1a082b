//! A recording as MP3 (`?format=mp3` on a shared link): decoded and encoded as it streams,
//! on a blocking thread, two exports at a time (more are told to come back in a few
//! seconds, so slow readers of links cannot hold every export back).

use super::error::{ApiError, ApiResult};
use axum::Json;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pbx_media::mp3::Mp3Stream;
use std::io::{Read, Seek};
use std::time::{Duration, Instant};

/// MP3 exports running at once (encoding takes a core's share: 120× real time).
static MP3_EXPORTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The recording of call `id` as an MP3 download.
pub(super) async fn serve_mp3(rec: &pbx_store::Recording, id: &str) -> ApiResult<Response> {
    let name: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(64).collect();
    let disposition = format!("attachment; filename=\"call-{name}.mp3\"");
    let file = std::fs::File::open(&rec.path).map_err(|_| ApiError::not_found(format!("recording of {id}")))?;
    let Ok(permit) = MP3_EXPORTS.try_acquire() else {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            Json(super::error::ErrorBody::of(StatusCode::SERVICE_UNAVAILABLE, "MP3 exports are busy: try again in a few seconds".into())),
        )
            .into_response());
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // A client that stops reading for a minute gives its export slot back.
        let send = |chunk: Vec<u8>| -> bool {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut item = Ok(chunk);
            loop {
                match tx.try_send(item) {
                    Ok(()) => return true,
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return false,
                    Err(tokio::sync::mpsc::error::TrySendError::Full(back)) => {
                        if Instant::now() > deadline {
                            return false;
                        }
                        item = back;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        };
        let fail = |e: String| {
            let _ = tx.try_send(Err(std::io::Error::other(e)));
        };
        let mut mp3 = Mp3Stream::new();
        let encode = |samples: &[i16], mp3: &mut Mp3Stream| -> bool {
            match mp3.push(samples) {
                Ok(bytes) => bytes.is_empty() || send(bytes),
                Err(e) => {
                    fail(e.to_string());
                    false
                }
            }
        };
        let mut reader = std::io::BufReader::new(file);
        let mut magic = [0u8; 4];
        let is_ogg = reader.read_exact(&mut magic).is_ok() && &magic == b"OggS";
        let _ = reader.seek(std::io::SeekFrom::Start(0));
        if is_ogg {
            let mut dec = match pbx_media::opusfile::StereoDecoder::new(reader) {
                Ok(d) => d,
                Err(e) => return fail(e.to_string()),
            };
            loop {
                match dec.next_chunk() {
                    Ok(Some(c)) => {
                        if !encode(&c, &mut mp3) {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "recording decode failed mid-way");
                        break;
                    }
                }
            }
        } else {
            // An uncompressed recording (its compression failed): 8 kHz PCM, one or two channels.
            let mut bytes = Vec::new();
            if reader.read_to_end(&mut bytes).is_err() {
                return fail("the recording cannot be read".into());
            }
            let Some(w) = pbx_media::wav::parse(&bytes) else { return fail("the recording is not a WAV file".into()) };
            let Some(samples) = pbx_media::wav::samples(&w) else { return fail("the recording's format is not PCM".into()) };
            let stereo: Vec<i16> = if w.channels == 1 { samples.iter().flat_map(|s| [*s, *s]).collect() } else { samples };
            for chunk in stereo.chunks(16_384) {
                if !encode(chunk, &mut mp3) {
                    return;
                }
            }
        }
        match mp3.finish() {
            Ok(tail) => {
                let _ = tail.is_empty() || send(tail);
            }
            Err(e) => fail(e.to_string()),
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(([(header::CONTENT_TYPE, "audio/mpeg".to_string()), (header::CONTENT_DISPOSITION, disposition)], Body::from_stream(stream))
        .into_response())
}
