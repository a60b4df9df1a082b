//! Requests and responses: the model the rest of the PBX works with, and its wire form.

use crate::header::{HeaderName, Headers};
use crate::method::Method;
use crate::name_addr::NameAddr;
use crate::uri::Uri;
use crate::via::Via;

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method from the request line.
    pub method: Method,
    /// Request-URI.
    pub uri: Uri,
    /// Headers in wire order.
    pub headers: Headers,
    /// Body octets (may be binary).
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code 100..=699.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers in wire order.
    pub headers: Headers,
    /// Body octets.
    pub body: Vec<u8>,
}

/// Either kind of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// The CSeq header's two parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number.
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`, refusing numbers above 2^32-1.
    pub fn parse(value: &str) -> Option<CSeq> {
        let v = crate::text::trim_ws(value);
        let split = v.find([' ', '\t'])?;
        let n = crate::text::parse_u64(&v[..split])?;
        let seq = u32::try_from(n).ok()?;
        let method = Method::parse(crate::text::trim_ws(&v[split..]))?;
        Some(CSeq { seq, method })
    }
}

/// Accessors shared by requests and responses.
pub trait SipMessage {
    /// The headers.
    fn headers(&self) -> &Headers;
    /// Mutable headers.
    fn headers_mut(&mut self) -> &mut Headers;
    /// The body.
    fn body(&self) -> &[u8];

    /// Call-ID.
    fn call_id(&self) -> &str {
        self.headers().call_id().unwrap_or("")
    }
    /// Parsed CSeq.
    fn cseq(&self) -> Option<CSeq> {
        self.headers().get(&HeaderName::CSeq).and_then(CSeq::parse)
    }
    /// Parsed From.
    fn parsed_from(&self) -> Option<NameAddr> {
        self.headers().get(&HeaderName::From).and_then(|v| NameAddr::parse(v).ok())
    }
    /// Parsed To.
    fn parsed_to(&self) -> Option<NameAddr> {
        self.headers().get(&HeaderName::To).and_then(|v| NameAddr::parse(v).ok())
    }
    /// All Via elements, top first.
    fn vias(&self) -> Vec<Via> {
        let mut out = Vec::new();
        for v in self.headers().get_all(&HeaderName::Via) {
            if let Ok(list) = Via::parse_list(v) {
                out.extend(list);
            }
        }
        out
    }
    /// The top Via.
    fn top_via(&self) -> Option<Via> {
        let first = self.headers().get(&HeaderName::Via)?;
        Via::parse_list(first).ok()?.into_iter().next()
    }
    /// Every Contact element (a `*` Contact yields none).
    fn contacts(&self) -> Vec<NameAddr> {
        let mut out = Vec::new();
        for v in self.headers().get_all(&HeaderName::Contact) {
            if let Ok(list) = NameAddr::parse_list(v) {
                out.extend(list);
            }
        }
        out
    }
    /// Content-Type, lowercase, without parameters.
    fn content_type(&self) -> Option<String> {
        self.headers().get(&HeaderName::ContentType).map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
    }
}

impl SipMessage for Request {
    fn headers(&self) -> &Headers {
        &self.headers
    }
    fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
}

impl SipMessage for Response {
    fn headers(&self) -> &Headers {
        &self.headers
    }
    fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
}

/// Copies a header value or reason phrase, turning CR, LF and NUL into spaces: whatever a
/// value holds, it cannot end its line early and start a header of its own.
fn put_line_safe(out: &mut Vec<u8>, value: &[u8]) {
    out.extend(value.iter().map(|&b| if b == b'\r' || b == b'\n' || b == 0 { b' ' } else { b }));
}

fn write_headers(out: &mut Vec<u8>, headers: &Headers, body_len: usize) {
    for h in &headers.0 {
        if h.name == HeaderName::ContentLength {
            continue;
        }
        out.extend_from_slice(h.name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        put_line_safe(out, h.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(body_len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

impl Request {
    /// A request with no headers yet.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request { method, uri, headers: Headers::new(), body: Vec::new() }
    }

    /// Wire form; Content-Length is always written from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        put_line_safe(&mut out, self.uri.to_string().replace(' ', "%20").as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        write_headers(&mut out, &self.headers, self.body.len());
        out.extend_from_slice(&self.body);
        out
    }

    /// Builds a response that copies Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6),
    /// adding `to_tag` to To when it has none.
    pub fn response(&self, status: u16, reason: &str, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::new();
        for h in &self.headers.0 {
            match h.name {
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => headers.push(h.name.clone(), h.value.clone()),
                HeaderName::To => {
                    let mut v = h.value.clone();
                    if let Some(tag) = to_tag {
                        let has_tag = NameAddr::parse(&v).map(|n| n.tag().is_some()).unwrap_or(true);
                        if !has_tag && status != 100 {
                            v.push_str(";tag=");
                            v.push_str(tag);
                        }
                    }
                    headers.push(HeaderName::To, v);
                }
                _ => {}
            }
        }
        Response { status, reason: reason.to_string(), headers, body: Vec::new() }
    }
}

impl Response {
    /// Wire form; Content-Length is always written from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(384 + self.body.len());
        out.extend_from_slice(b"SIP/2.0 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        put_line_safe(&mut out, self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        write_headers(&mut out, &self.headers, self.body.len());
        out.extend_from_slice(&self.body);
        out
    }

    /// Standard reason phrase for a status code.
    pub fn default_reason(status: u16) -> &'static str {
        match status {
            100 => "Trying",
            180 => "Ringing",
            181 => "Call Is Being Forwarded",
            182 => "Queued",
            183 => "Session Progress",
            200 => "OK",
            202 => "Accepted",
            301 => "Moved Permanently",
            302 => "Moved Temporarily",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            407 => "Proxy Authentication Required",
            408 => "Request Timeout",
            413 => "Request Entity Too Large",
            415 => "Unsupported Media Type",
            416 => "Unsupported URI Scheme",
            420 => "Bad Extension",
            422 => "Session Interval Too Small",
            423 => "Interval Too Brief",
            480 => "Temporarily Unavailable",
            481 => "Call/Transaction Does Not Exist",
            482 => "Loop Detected",
            483 => "Too Many Hops",
            486 => "Busy Here",
            487 => "Request Terminated",
            488 => "Not Acceptable Here",
            491 => "Request Pending",
            500 => "Server Internal Error",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            504 => "Server Time-out",
            505 => "Version Not Supported",
            513 => "Message Too Large",
            600 => "Busy Everywhere",
            603 => "Decline",
            _ => "Unknown",
        }
    }

    /// True for 1xx.
    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }
}

impl Message {
    /// Wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}
