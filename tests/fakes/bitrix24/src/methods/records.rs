//! `telephony.externalCall.attachRecord` in its three modes (the portal downloads
//! `RECORD_URL`; base64 `FILE_CONTENT`; `FILENAME` alone → `uploadUrl`) and the
//! multipart upload that completes the third.

use crate::auth::AuthCtx;
use crate::client;
use crate::envelope::{MethodOk, RestError};
use crate::multipart::FilePart;
use crate::params::Param;
use crate::server::Shared;
use crate::state::{AttachedRecord, AuthKind, Download, RecordSource, State};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::json;

const NOT_FINISHED: &str = "Call is not found in the statistic table. Looks like it is not finished yet.";
const WRONG_EXTENSION: &str = "Wrong file extension. Only wav and mp3 are allowed";

/// The extension as PHP's `GetFileExtension` returns it (case kept, so `.MP3` is refused).
fn extension(name: &str) -> &str {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.rsplit_once('.').map_or("", |(_, ext)| ext)
}

/// True for the two extensions the portal accepts.
fn allowed(name: &str) -> bool {
    matches!(extension(name), "wav" | "mp3")
}

/// Attaches a record to a finished call, replacing the current one; returns its FILE_ID.
fn attach_file(st: &mut State, call_id: &str, record: AttachedRecord) -> Result<u64, RestError> {
    let call = st.finished_call_mut(call_id).ok_or_else(|| RestError::core(NOT_FINISHED))?;
    let id = record.file_id;
    call.records.push(record);
    Ok(id)
}

/// A new FILE_ID.
fn next_file_id(st: &mut State) -> u64 {
    st.next_file_id += 1;
    st.next_file_id
}

/// `telephony.externalCall.attachRecord`.
pub(crate) async fn attach(shared: &Shared, auth: &AuthCtx, p: &Param) -> Result<MethodOk, RestError> {
    let call_id = p.get("CALL_ID").map(Param::php_string).unwrap_or_default();
    if let Some(url) = p.get("RECORD_URL").map(Param::php_string) {
        let file_name = p.get("FILENAME").map(Param::php_string).unwrap_or_default();
        return attach_url(shared, &call_id, &url, file_name).await;
    }
    let Some(file_name) = p.get("FILENAME").map(Param::php_string) else {
        return Err(RestError::core("Required parameters are not set. Request should contain or URL or FILENAME parameter"));
    };
    let mut st = shared.lock();
    if st.finished_call_mut(&call_id).is_none() {
        return Err(RestError::core(NOT_FINISHED));
    }
    let Some(content) = p.get("FILE_CONTENT") else {
        let upload_url = upload_url(&mut st, &shared.base_url, auth, &call_id);
        return Ok(MethodOk::of(json!({"uploadUrl": upload_url, "fieldName": "file"})));
    };
    if file_name.is_empty() {
        return Err(RestError::core("File name is empty"));
    }
    if !allowed(&file_name) {
        return Err(RestError::core(WRONG_EXTENSION));
    }
    let text: String = content.php_string().chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if text.is_empty() {
        return Err(RestError::core("File content is empty."));
    }
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let data = engine
        .decode(text.as_bytes())
        .map_err(|_| RestError::core("File content is not properly encoded. Base64 encoding is expected."))?;
    let file_id = next_file_id(&mut st);
    let record = AttachedRecord { file_id, file_name, source: RecordSource::Base64, content_type: None, data };
    let id = attach_file(&mut st, &call_id, record)?;
    Ok(MethodOk::of(json!({"FILE_ID": id})))
}

/// Mode (a): the portal GETs the URL now and keeps what it got.
async fn attach_url(shared: &Shared, call_id: &str, url: &str, file_name: String) -> Result<MethodOk, RestError> {
    if shared.lock().finished_call_mut(call_id).is_none() {
        return Err(RestError::core(NOT_FINISHED));
    }
    let name = if file_name.is_empty() {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        path.rsplit('/').next().unwrap_or(path).to_string()
    } else {
        file_name
    };
    let fetched = client::get(url).await;
    let mut st = shared.lock();
    let response = match fetched {
        Ok(r) => r,
        Err(e) => {
            st.downloads.push(Download {
                call_id: call_id.to_string(),
                url: url.to_string(),
                status: None,
                content_type: None,
                bytes: 0,
                error: Some(e.clone()),
            });
            return Err(RestError::core(format!("NETWORK: {e}")));
        }
    };
    let content_type = response.header("content-type").map(str::to_string);
    st.downloads.push(Download {
        call_id: call_id.to_string(),
        url: url.to_string(),
        status: Some(response.status),
        content_type: content_type.clone(),
        bytes: response.body.len(),
        error: None,
    });
    if response.status != 200 {
        return Err(RestError::core(format!("Server returns HTTP error code {}", response.status)));
    }
    if !allowed(&name) {
        return Err(RestError::core(WRONG_EXTENSION));
    }
    let file_id = next_file_id(&mut st);
    let record = AttachedRecord { file_id, file_name: name, source: RecordSource::Url(url.to_string()), content_type, data: response.body };
    let id = attach_file(&mut st, call_id, record)?;
    Ok(MethodOk::of(json!({"FILE_ID": id})))
}

/// Mode (c): a one-call upload URL on this portal, authenticated like the call that asked.
fn upload_url(st: &mut State, base: &str, auth: &AuthCtx, call_id: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("callId={call_id}"));
    let token = format!("telephony|{b64}|{}", st.random_hex("upload"));
    st.upload_tokens.insert(token.clone(), call_id.to_string());
    let query = crate::form::encode(&[("token".to_string(), token)]);
    match &auth.kind {
        AuthKind::Webhook { user_id, secret } => {
            format!("{base}/rest/{user_id}/{secret}/upload.json?{query}")
        }
        AuthKind::OAuth { access_token } => {
            format!("{base}/rest/upload.json?auth={access_token}&{query}")
        }
        AuthKind::None => format!("{base}/rest/upload.json?{query}"),
    }
}

/// The `uploadUrl` target: takes the multipart field `file`.
pub(crate) fn upload(st: &mut State, p: &Param, files: &[FilePart]) -> Result<MethodOk, RestError> {
    let Some(file) = files.iter().find(|f| f.field == "file") else {
        return Err(RestError::core("Error: required parameter file is not found"));
    };
    if !allowed(&file.file_name) {
        return Err(RestError::core(WRONG_EXTENSION));
    }
    let token = p.get("TOKEN").map(Param::php_string).unwrap_or_default();
    let call_id = st.upload_tokens.get(&token).cloned().unwrap_or_default();
    if st.finished_call_mut(&call_id).is_none() {
        return Err(RestError::core(NOT_FINISHED));
    }
    let file_id = next_file_id(st);
    let record = AttachedRecord {
        file_id,
        file_name: file.file_name.clone(),
        source: RecordSource::Upload,
        content_type: file.content_type.clone(),
        data: file.data.clone(),
    };
    let id = attach_file(st, &call_id, record)?;
    Ok(MethodOk::of(json!({"FILE_ID": id})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_case_sensitive_like_php() {
        assert!(allowed("call.mp3"));
        assert!(allowed("dir/call.wav"));
        assert!(!allowed("call.MP3"));
        assert!(!allowed("call.ogg"));
        assert!(!allowed("call"));
    }
}
