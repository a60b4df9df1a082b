//! A tiny HTTP/1.1 client over tokio's `TcpStream` (plain `http://` only): the
//! portal uses it to download records and to post events; tests may use it to
//! talk to the portal. One request per connection (`Connection: close`).

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status, headers (names lower-cased) and the de-chunked body.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers in arrival order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (`Null` when it isn't JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The parts of an `http://host:port/path?query` URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Url {
    /// Host name or address.
    pub host: String,
    /// Port (80 if absent).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

/// Splits a plain-HTTP URL; `https` and other schemes are refused.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("only http:// URLs are supported: {url}"))?;
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse::<u16>().map_err(|_| format!("bad port in {url}"))?),
        None => (authority.to_string(), 80),
    };
    if host.is_empty() {
        return Err(format!("no host in {url}"));
    }
    Ok(Url { host, port, target })
}

/// Sends one request and reads the whole response, within `timeout`.
pub async fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8], timeout: Duration) -> Result<HttpResponse, String> {
    tokio::time::timeout(timeout, request_inner(method, url, headers, body)).await.map_err(|_| format!("timed out after {timeout:?}"))?
}

/// GET with no extra headers and a 10 s timeout.
pub async fn get(url: &str) -> Result<HttpResponse, String> {
    request("GET", url, &[], &[], Duration::from_secs(10)).await
}

/// POST a form body with a 10 s timeout.
pub async fn post_form(url: &str, body: &str) -> Result<HttpResponse, String> {
    request("POST", url, &[("Content-Type", "application/x-www-form-urlencoded")], body.as_bytes(), Duration::from_secs(10)).await
}

/// POST a JSON body with a 10 s timeout.
pub async fn post_json(url: &str, body: &serde_json::Value) -> Result<HttpResponse, String> {
    request("POST", url, &[("Content-Type", "application/json")], body.to_string().as_bytes(), Duration::from_secs(10)).await
}

async fn request_inner(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<HttpResponse, String> {
    let u = parse_url(url)?;
    let mut stream = TcpStream::connect((u.host.as_str(), u.port)).await.map_err(|e| format!("connect {}:{}: {e}", u.host, u.port))?;
    let mut head =
        format!("{method} {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nContent-Length: {}\r\n", u.target, u.host, u.port, body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
    stream.write_all(body).await.map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.map_err(|e| format!("read: {e}"))?;
    parse_response(&raw)
}

/// Parses a complete HTTP/1.1 response.
fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("connection closed before the response head ended")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line: {status_line}"))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(len) = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok()) {
        body.truncate(len);
    }
    Ok(HttpResponse { status, headers, body })
}

/// Decodes a chunked body.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| "bad chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            return Err("truncated chunk".to_string());
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_chunked_bodies() {
        let u = parse_url("http://127.0.0.1:8080/a/b?x=1");
        assert_eq!(u, Ok(Url { host: "127.0.0.1".into(), port: 8080, target: "/a/b?x=1".into() }));
        assert!(parse_url("https://example.com/").is_err());
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let r = parse_response(raw).map(|r| r.body);
        assert_eq!(r, Ok(b"abcde".to_vec()));
    }
}
