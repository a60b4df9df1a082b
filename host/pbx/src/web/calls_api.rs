//! Call routes: the call log (filters, keyset pages, CSV), one call's details, recordings
//! (search, playback with HTTP Range, WAV download) and per-user statistics. A user (not a
//! supervisor) sees only the calls they made or were rung for.

use super::WebState;
use super::auth::Caller;
use super::error::{ApiError, ApiPath, ApiQuery, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pbx_store::{CallFilter, CallRow};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A call-log row with its start in the tenant's time zone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallView {
    /// The row as stored.
    #[serde(flatten)]
    pub call: CallRow,
    /// The start in the tenant's time zone (`2026-11-26 14:03:07`), for display.
    pub started_local: String,
}

/// A page of the call log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallPage {
    /// The calls of this page, newest first.
    pub items: Vec<CallView>,
    /// Pass as `after` to get the next page; null on the last page.
    #[schema(required = true)]
    pub next: Option<String>,
}

/// A time given as RFC 3339, or as a date (`YYYY-MM-DD`) in the tenant's time zone: its
/// start, or with `end_of_day` the start of the next day (so `to=` a date includes it).
pub fn parse_time(s: &str, tz: &str, end_of_day: bool) -> Option<i64> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let date: jiff::civil::Date = s.parse().ok()?;
    let date = if end_of_day { date.tomorrow().ok()? } else { date };
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    Some(date.to_zoned(zone).ok()?.timestamp().as_millisecond())
}

/// Formats a time in the tenant's zone (`2026-11-26 14:03:07`).
pub fn local_time(ms: i64, tz: &str) -> String {
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.to_zoned(zone).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => String::new(),
    }
}

/// Call-log query.
#[derive(Debug, Deserialize, Default)]
pub struct CallQuery {
    /// Rows per page.
    pub limit: Option<i64>,
    /// Cursor `STARTED_MS:CALL_ID`.
    pub after: Option<String>,
    /// Period start.
    pub from: Option<String>,
    /// Period end.
    pub to: Option<String>,
    /// A user's extension.
    pub ext: Option<String>,
    /// Digits of a number.
    pub number: Option<String>,
    /// Direction.
    pub direction: Option<String>,
    /// Disposition.
    pub disposition: Option<String>,
    /// CSV only: `comma` (the default) or `semicolon`.
    pub delimiter: Option<String>,
}

fn nonempty(o: &Option<String>) -> Option<&str> {
    o.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The filter of a query for this caller (users are held to their own calls).
async fn filter(s: &WebState, c: &Caller, q: &CallQuery, recorded: bool) -> ApiResult<(i64, CallFilter, String)> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    let mut f = CallFilter { recorded, ..CallFilter::default() };
    if let Some(v) = nonempty(&q.from) {
        f.from = Some(parse_time(v, &t.timezone, false).ok_or_else(|| ApiError::bad("`from` must be RFC 3339 or YYYY-MM-DD"))?);
    }
    if let Some(v) = nonempty(&q.to) {
        f.to = Some(parse_time(v, &t.timezone, true).ok_or_else(|| ApiError::bad("`to` must be RFC 3339 or YYYY-MM-DD"))?);
    }
    if let Some(v) = nonempty(&q.direction) {
        if !["inbound", "outbound", "internal"].contains(&v) {
            return Err(ApiError::bad("direction must be inbound, outbound or internal"));
        }
        f.direction = Some(v.to_string());
    }
    if let Some(v) = nonempty(&q.disposition) {
        if !["answered", "missed", "busy", "failed", "interrupted"].contains(&v) {
            return Err(ApiError::bad("disposition must be answered, missed, busy, failed or interrupted"));
        }
        f.disposition = Some(v.to_string());
    }
    f.number = nonempty(&q.number).map(str::to_string);
    if c.is_supervisor() {
        if let Some(ext) = nonempty(&q.ext) {
            f.user_id = Some(s.store.user_by_ext(t.id, ext).await?.id);
        }
    } else {
        f.user_id = Some(c.user_id().ok_or_else(|| ApiError::forbidden("this token does not act as a user"))?);
    }
    Ok((t.id, f, t.timezone))
}

fn cursor(q: &CallQuery) -> ApiResult<Option<(i64, String)>> {
    match nonempty(&q.after) {
        None => Ok(None),
        Some(a) => {
            let (ts, id) = a.split_once(':').ok_or_else(|| ApiError::bad("`after` must be a `next` value of a previous page"))?;
            Ok(Some((ts.parse().map_err(|_| ApiError::bad("`after` must be a `next` value of a previous page"))?, id.to_string())))
        }
    }
}

async fn page(s: &WebState, c: &Caller, q: &CallQuery, recorded: bool) -> ApiResult<Json<CallPage>> {
    let (tenant, f, tz) = filter(s, c, q, recorded).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let after = cursor(q)?;
    let mut rows = s.store.search_calls(tenant, &f, limit + 1, after.as_ref().map(|(t, i)| (*t, i.as_str()))).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| format!("{}:{}", r.started_at, r.id))
    } else {
        None
    };
    let items: Vec<CallView> = rows.into_iter().map(|r| call_view(r, &tz)).collect();
    Ok(Json(CallPage { items, next }))
}

fn call_view(r: CallRow, tz: &str) -> CallView {
    let started_local = local_time(r.started_at, tz);
    CallView { call: r, started_local }
}

/// `GET /api/v1/calls`.
pub async fn list_calls(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<CallQuery>,
) -> ApiResult<Json<CallPage>> {
    page(&s, &c, &q, false).await
}

/// `GET /api/v1/recordings`.
pub async fn list_recordings(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<CallQuery>,
) -> ApiResult<Json<CallPage>> {
    page(&s, &c, &q, true).await
}

fn csv_field(s: &str) -> String {
    // Quote everything; formula characters are defused for spreadsheets (a carrier's caller
    // name or a contact could start a formula).
    format!("\"{}\"", crate::contacts::defuse(s).replace('"', "\"\""))
}

/// `GET /api/v1/calls.csv`.
pub async fn calls_csv(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<CallQuery>,
) -> ApiResult<Response> {
    let (tenant, f, tz) = filter(&s, &c, &q, false).await?;
    let sep = char::from(crate::contacts::CsvDelimiter::parse(q.delimiter.as_deref()).map_err(ApiError::bad)?.byte()).to_string();
    let head = ["started", "direction", "caller", "caller_name", "callee", "did", "disposition", "talk_seconds", "hangup_cause"];
    let mut out = format!("{}{}{sep}forwarded_from{sep}via{sep}call_id\r\n", crate::contacts::BOM, head.join(&sep));
    let mut after: Option<(i64, String)> = None;
    let mut total = 0;
    while total < 100_000 {
        let rows = s.store.search_calls(tenant, &f, 1000, after.as_ref().map(|(t, i)| (*t, i.as_str()))).await?;
        for r in &rows {
            let cells = [
                local_time(r.started_at, &tz),
                r.direction.as_str().to_string(),
                r.caller_number.clone(),
                r.caller_name.clone(),
                r.callee.clone(),
                r.did.clone().unwrap_or_default(),
                r.disposition.map(|d| d.as_str().to_string()).unwrap_or_default(),
                r.talk_seconds.to_string(),
                r.hangup_cause.clone().unwrap_or_default(),
                r.forwarded_from.clone().unwrap_or_default(),
                r.via.clone().unwrap_or_default(),
                r.id.clone(),
            ];
            out.push_str(&cells.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(&sep));
            out.push_str("\r\n");
        }
        total += rows.len();
        match rows.last() {
            Some(r) if rows.len() == 1000 => after = Some((r.started_at, r.id.clone())),
            _ => break,
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"calls.csv\"")], out)
        .into_response())
}

/// A call of the caller's tenant that the caller may see, or 404.
pub(super) async fn visible_call(s: &WebState, c: &Caller, id: &str) -> ApiResult<CallRow> {
    let call = s.store.call_by_id(c.tenant_id()?, id).await?;
    if !c.is_supervisor() {
        let me = c.user_id();
        let legs = s.store.call_legs(id).await?;
        let mine = me.is_some() && (call.caller_user_id == me || call.callee_user_id == me || legs.iter().any(|(u, _)| Some(*u) == me));
        if !mine {
            return Err(ApiError::not_found(format!("call {id}")));
        }
    }
    Ok(call)
}

/// `GET /api/v1/calls/{id}`.
pub async fn get_call(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<CallDetail>> {
    let call = visible_call(&s, &c, &id).await?;
    let t = s.store.tenant_by_id(call.tenant_id).await?;
    let events = s.store.call_events(&id).await?;
    let legs = s.store.call_legs(&id).await?;
    let users = s.store.list_users(t.id).await?;
    let legs =
        legs.into_iter().map(|(u, outcome)| CallLeg { ext: users.iter().find(|x| x.id == u).map(|x| x.ext.clone()), outcome }).collect();
    let recording = match s.store.recording(t.id, &id).await {
        Ok(r) => Some(RecordingInfo { format: r.format, duration_ms: r.duration_ms, size_bytes: r.size_bytes }),
        Err(pbx_store::StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let events = events
        .into_iter()
        .map(|e| {
            let (code, params) = match super::timeline_codes::classify(&e.kind, &e.detail) {
                Some((code, params)) => (Some(code.to_string()), params),
                None => (None, Vec::new()),
            };
            TimelineEvent { at: e.at, at_local: local_time(e.at, &t.timezone), kind: e.kind, detail: e.detail, code, params }
        })
        .collect();
    Ok(Json(CallDetail { call: call_view(call, &t.timezone), events, legs, recording }))
}

/// A call with its timeline, the users it rang and its recording.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallDetail {
    /// The call-log row.
    pub call: CallView,
    /// What happened, in order.
    pub events: Vec<TimelineEvent>,
    /// The users it rang and how each ring ended.
    pub legs: Vec<CallLeg>,
    /// Its recording; null when it has none.
    pub recording: Option<RecordingInfo>,
}

/// One event of a call's timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    /// When, ms since the epoch.
    pub at: i64,
    /// When, in the tenant's time zone, for display.
    pub at_local: String,
    /// `ringing`, `answered`, `dtmf`, `hold`, `resume`, `recording`, `hangup`...
    pub kind: String,
    /// Details (digit and source, cause and side...), in English.
    pub detail: String,
    /// The code of the detail's fixed phrase, for translation (null: the detail is data, such
    /// as a dialled number).
    pub code: Option<String>,
    /// The detail's variable parts, in order.
    pub params: Vec<String>,
}

/// A user the call rang.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallLeg {
    /// The user's extension (null: the user was deleted since).
    pub ext: Option<String>,
    /// How the ring ended (`answered`, `missed`, `busy`...).
    pub outcome: String,
}

/// A call's recording as the call's page shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordingInfo {
    /// `wav` while being written, `ogg` once stored compactly.
    pub format: String,
    /// Length, ms.
    pub duration_ms: i64,
    /// Size on disk, bytes.
    pub size_bytes: i64,
}

/// A byte range of `len` bytes from a `Range: bytes=...` header (one range).
pub fn byte_range(h: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(h) = h else { return Ok(None) };
    let Some(spec) = h.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') || len == 0 {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len - 1)
        }
        (s, "") => (s.parse().map_err(|_| ())?, len - 1),
        (s, e) => (s.parse().map_err(|_| ())?, e.parse::<u64>().map_err(|_| ())?.min(len - 1)),
    };
    if start > end || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// A file region as a streamed body: read 64 KiB at a time, so a download of a long
/// recording holds one chunk in memory, whatever its size or the number of downloads.
fn file_body(file: tokio::fs::File, len: u64) -> axum::body::Body {
    use tokio::io::AsyncReadExt;
    let reader = file.take(len);
    let stream = futures_util::stream::unfold(reader, |mut r| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    });
    axum::body::Body::from_stream(stream)
}

/// `GET /api/v1/recordings/{id}/audio`: the stored file, streamed, with Range for seeking.
pub async fn recording_audio(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let call = visible_call(&s, &c, &id).await?;
    let rec = s.store.recording(call.tenant_id, &id).await?;
    serve_recording(&rec, &id, &headers).await
}

/// The stored recording file with HTTP Range (the cabinet's player and shared links).
pub(super) async fn serve_recording(rec: &pbx_store::Recording, id: &str, headers: &HeaderMap) -> ApiResult<Response> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let missing = || ApiError::not_found(format!("recording of {id}"));
    let mut file = tokio::fs::File::open(&rec.path).await.map_err(|_| missing())?;
    let len = file.metadata().await.map_err(|_| missing())?.len();
    let mut magic = [0u8; 4];
    let _ = file.read_exact(&mut magic).await;
    let ctype = if &magic == b"OggS" { "audio/ogg" } else { "audio/wav" };
    let (status, start, end) = match byte_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), len) {
        Ok(None) => (StatusCode::OK, 0, len.saturating_sub(1)),
        Ok(Some((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Err(()) => {
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, [(header::CONTENT_RANGE, format!("bytes */{len}"))]).into_response());
        }
    };
    file.seek(std::io::SeekFrom::Start(start)).await.map_err(ApiError::internal)?;
    let count = if len == 0 { 0 } else { end - start + 1 };
    let mut resp = Response::new(file_body(file, count));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ctype));
    h.insert(header::ACCEPT_RANGES, header::HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = format!("bytes {start}-{end}/{len}").parse()
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

/// Two-channel WAV exports running at once (each decodes as the client reads).
static EXPORTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// `GET /api/v1/recordings/{id}/wav`: two-channel WAV download, decoded and streamed as the
/// client reads it (a long recording is never held whole in memory).
pub async fn recording_wav(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let call = visible_call(&s, &c, &id).await?;
    let rec = s.store.recording(call.tenant_id, &id).await?;
    serve_wav(&rec, &id).await
}

/// A recording decoded to two-channel WAV as the client reads (downloads and shared links).
pub(super) async fn serve_wav(rec: &pbx_store::Recording, id: &str) -> ApiResult<Response> {
    let name: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(64).collect();
    let disposition = format!("attachment; filename=\"call-{name}.wav\"");
    let file = std::fs::File::open(&rec.path).map_err(|_| ApiError::not_found(format!("recording of {id}")))?;
    // Busy exports are answered at once: a queue would let two slow readers (a shared link
    // needs no account) hold every download back.
    let Ok(permit) = EXPORTS.try_acquire() else {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            Json(ErrorBody::of(StatusCode::SERVICE_UNAVAILABLE, "WAV exports are busy: try again in a few seconds".into())),
        )
            .into_response());
    };
    // The header promises the stored length; the decoded audio is cut or padded to it.
    let frames = u64::try_from(rec.duration_ms).unwrap_or(0) * 8;
    let data_len = frames * 4;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // A client that stops reading for a minute gives its export slot back.
        let send = |chunk: Vec<u8>| -> bool {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let mut item = Ok(chunk);
            loop {
                match tx.try_send(item) {
                    Ok(()) => return true,
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return false,
                    Err(tokio::sync::mpsc::error::TrySendError::Full(back)) => {
                        if std::time::Instant::now() > deadline {
                            return false;
                        }
                        item = back;
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                }
            }
        };
        if !send(pbx_media::wav::header(pbx_media::wav::Format::Pcm16, 2, 8000, u32::try_from(data_len).unwrap_or(u32::MAX))) {
            return;
        }
        let mut left = data_len;
        let mut reader = std::io::BufReader::new(file);
        let mut magic = [0u8; 4];
        let is_ogg = std::io::Read::read_exact(&mut reader, &mut magic).is_ok() && &magic == b"OggS";
        let _ = std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(0));
        let emit = |samples: &[i16], left: &mut u64| -> bool {
            let mut bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
            bytes.truncate(usize::try_from(*left).unwrap_or(usize::MAX));
            *left -= bytes.len() as u64;
            bytes.is_empty() || send(bytes)
        };
        if is_ogg {
            match pbx_media::opusfile::StereoDecoder::new(reader) {
                Ok(mut dec) => {
                    let mut batch = Vec::with_capacity(16_384);
                    while left > 0 {
                        match dec.next_chunk() {
                            Ok(Some(c)) => batch.extend_from_slice(&c),
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "recording decode failed mid-way");
                                break;
                            }
                        }
                        if batch.len() >= 16_384 {
                            if !emit(&batch, &mut left) {
                                return;
                            }
                            batch.clear();
                        }
                    }
                    if !emit(&batch, &mut left) {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.try_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
        } else {
            // An uncompressed recording (its compression failed): small by comparison.
            let mut bytes = Vec::new();
            let _ = std::io::Read::read_to_end(&mut reader, &mut bytes);
            let samples = pbx_media::wav::parse(&bytes).and_then(|w| pbx_media::wav::samples(&w)).unwrap_or_default();
            if !emit(&samples, &mut left) {
                return;
            }
        }
        // Silence up to the promised length.
        while left > 0 {
            let n = left.min(64 * 1024);
            left -= n;
            if !send(vec![0u8; n as usize]) {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut resp = Response::new(axum::body::Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("audio/wav"));
    h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(44 + data_len));
    if let Ok(v) = disposition.parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `GET /api/v1/stats`.
pub async fn stats(
    State(s): State<Arc<WebState>>,
    axum::Extension(c): axum::Extension<Caller>,
    ApiQuery(q): ApiQuery<CallQuery>,
) -> ApiResult<Json<Stats>> {
    let t = s.store.tenant_by_id(c.tenant_id()?).await?;
    let now = pbx_store::now_ms();
    let from = match nonempty(&q.from) {
        Some(v) => parse_time(v, &t.timezone, false).ok_or_else(|| ApiError::bad("`from` must be RFC 3339 or YYYY-MM-DD"))?,
        None => now - 30 * 86_400_000,
    };
    let to = match nonempty(&q.to) {
        Some(v) => parse_time(v, &t.timezone, true).ok_or_else(|| ApiError::bad("`to` must be RFC 3339 or YYYY-MM-DD"))?,
        None => now + 1,
    };
    if to <= from {
        return Err(ApiError::bad("the period ends before it starts"));
    }
    let user = if c.is_supervisor() {
        match nonempty(&q.ext) {
            Some(ext) => Some(s.store.user_by_ext(t.id, ext).await?.id),
            None => None,
        }
    } else {
        Some(c.user_id().ok_or_else(|| ApiError::forbidden("this token does not act as a user"))?)
    };
    let rows = s.store.user_stats(t.id, from, to, user).await?;
    Ok(Json(Stats { from, to, users: rows }))
}

/// Per-user figures of a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// Period start, ms since the epoch.
    pub from: i64,
    /// Period end (exclusive), ms since the epoch.
    pub to: i64,
    /// One row per user (only the caller's own for a user).
    pub users: Vec<pbx_store::UserStats>,
}
