//! A small `multipart/form-data` reader for the record upload (and for any
//! REST call sent as multipart, which PHP accepts like a form).

use crate::form;
use crate::params::Param;

/// A file part of a multipart body.
#[derive(Debug, Clone, PartialEq)]
pub struct FilePart {
    /// The form field name.
    pub field: String,
    /// The `filename` of the part.
    pub file_name: String,
    /// The part's `Content-Type`.
    pub content_type: Option<String>,
    /// The part's bytes.
    pub data: Vec<u8>,
}

/// The boundary of a `multipart/form-data; boundary=...` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Splits a multipart body into text fields (PHP-style names) and file parts.
pub fn parse(body: &[u8], boundary: &str) -> (Param, Vec<FilePart>) {
    let mut fields = Param::empty();
    let mut files = Vec::new();
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut pos = match find(body, d, 0) {
        Some(p) => p + d.len(),
        None => return (fields, files),
    };
    loop {
        if body[pos..].starts_with(b"--") {
            break;
        }
        let part_start = match find(body, b"\r\n", pos) {
            Some(p) => p + 2,
            None => break,
        };
        let Some(next) = find(body, d, part_start) else {
            break;
        };
        let part_end = next.saturating_sub(2).max(part_start);
        parse_part(&body[part_start..part_end], &mut fields, &mut files);
        pos = next + d.len();
    }
    (fields, files)
}

/// Reads one part's headers and content.
fn parse_part(part: &[u8], fields: &mut Param, files: &mut Vec<FilePart>) {
    let Some(split) = find(part, b"\r\n\r\n", 0) else {
        return;
    };
    let head = String::from_utf8_lossy(&part[..split]);
    let data = part[split + 4..].to_vec();
    let mut name = None;
    let mut file_name = None;
    let mut content_type = None;
    for line in head.split("\r\n") {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(v.trim().to_string());
        } else if k.trim().eq_ignore_ascii_case("content-disposition") {
            for attr in v.split(';') {
                if let Some((ak, av)) = attr.trim().split_once('=') {
                    let av = av.trim().trim_matches('"').to_string();
                    match ak.trim() {
                        "name" => name = Some(av),
                        "filename" => file_name = Some(av),
                        _ => {}
                    }
                }
            }
        }
    }
    let Some(name) = name else {
        return;
    };
    match file_name {
        Some(file_name) => files.push(FilePart { field: name, file_name, content_type, data }),
        None => form::insert(fields, &name, Param::Str(String::from_utf8_lossy(&data).into_owned())),
    }
}

/// The first index of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_files() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"a[0]\"\r\n\r\n1\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\nID3\r\nzz\r\n--XX--\r\n";
        let (fields, files) = parse(body, "XX");
        assert_eq!(fields.to_json(), serde_json::json!({"a": ["1"]}));
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].file_name, "r.mp3");
        assert_eq!(files[0].data, b"ID3\r\nzz".to_vec());
        assert_eq!(boundary("multipart/form-data; boundary=\"XX\""), Some("XX".into()));
    }
}
