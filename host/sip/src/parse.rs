//! Framing and lexing of SIP messages from datagrams and streams (RFC 3261 §7, §18.3).
//!
//! The parser never panics and never trusts a length: every byte it reads is bounds-checked,
//! and a message that cannot be understood comes back as an error that says whether it can
//! be answered (a request whose headers could be read) and with which status.

use crate::header::{Header, HeaderName, Headers};
use crate::message::{Message, Request, Response};
use crate::method::Method;
use crate::text;
use crate::uri::{Uri, UriError};

/// The largest message accepted on any transport.
pub const MAX_MESSAGE_SIZE: usize = 65_535;

/// How the bytes arrived: one datagram, or a stream that frames by Content-Length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// UDP: the datagram is the message; extra octets after the body are ignored.
    Datagram,
    /// TCP/TLS: Content-Length frames the body; incomplete input asks for more.
    Stream,
}

/// A parsed message and how many input bytes it used.
#[derive(Debug)]
pub struct Parsed {
    /// The message.
    pub message: Message,
    /// Octets consumed (for streams).
    pub consumed: usize,
}

/// Why bytes did not become a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A stream needs more bytes.
    #[error("incomplete message")]
    Incomplete,
    /// Only CRLF keep-alive octets (RFC 5626 §3.5.1); `usize` is how many to consume.
    #[error("keep-alive")]
    KeepAlive(usize),
    /// Not recognisable as SIP; drop it.
    #[error("not a SIP message: {0}")]
    Garbage(&'static str),
    /// A malformed response; drop it (RFC 3261 §18.1.2).
    #[error("bad response: {0}")]
    BadResponse(String),
    /// A request that must be answered with `status` (400, 416, 505...).
    #[error("{} {}", .0.status, .0.reason)]
    BadRequest(Box<Rejection>),
}

/// A request the parser or validator refused, with what is needed to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Status code to answer with.
    pub status: u16,
    /// Reason phrase that says what was wrong.
    pub reason: String,
    /// The request's method text (an ACK is never answered).
    pub method: String,
    /// The request's headers as received (Via, From, To, Call-ID, CSeq are copied back).
    pub headers: Headers,
    /// Extra headers for the response (Unsupported, Accept, Allow...).
    pub extra: Headers,
    /// Octets consumed (streams).
    pub consumed: usize,
}

impl Rejection {
    /// Builds the response that answers the rejected request.
    pub fn to_response(&self, to_tag: &str) -> Response {
        let req = Request {
            method: Method::Other(self.method.clone()),
            uri: Uri::Other { scheme: "x".into(), rest: String::new() },
            headers: self.headers.clone(),
            body: Vec::new(),
        };
        let mut resp = req.response(self.status, &self.reason, Some(to_tag));
        for h in &self.extra.0 {
            resp.headers.push(h.name.clone(), h.value.clone());
        }
        resp
    }
}

impl ParseError {
    /// Shorthand for a rejection with no extra headers.
    pub fn reject(status: u16, reason: impl Into<String>, method: &str, headers: &Headers) -> ParseError {
        ParseError::BadRequest(Box::new(Rejection {
            status,
            reason: reason.into(),
            method: method.to_string(),
            headers: headers.clone(),
            extra: Headers::new(),
            consumed: 0,
        }))
    }
}

fn find_subsequence(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Finds the end of the header block: returns (header_bytes_len, body_start).
fn header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = find_subsequence(buf, b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = find_subsequence(buf, b"\n\n").map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// How far a stream framer got in its receive buffer (see [`stream_frame`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFrame {
    /// No whole message yet: call again when more bytes arrived, passing `scanned` (the
    /// header end was searched up to there, so the search does not start over).
    Need {
        /// Bytes searched for the end of the headers.
        scanned: usize,
        /// The whole message's length once the headers are known.
        total: Option<usize>,
    },
    /// `parse_message` can decide now (a whole message, keep-alive bytes or garbage).
    Ready,
}

/// Framing for TCP/TLS without quadratic work: finds the end of the header block by
/// searching only the bytes that arrived since the last call, then waits for
/// `Content-Length` bytes of body without looking at the headers again. A message that
/// arrives a few bytes at a time costs linear time in its length.
pub fn stream_frame(buf: &[u8], last: StreamFrame) -> StreamFrame {
    if let StreamFrame::Need { total: Some(total), scanned } = last {
        return if buf.len() >= total { StreamFrame::Ready } else { StreamFrame::Need { scanned, total: Some(total) } };
    }
    if buf.first().is_some_and(|&b| b == b'\r' || b == b'\n') {
        return StreamFrame::Ready; // keep-alive or padding: parse_message consumes it
    }
    let scanned = match last {
        StreamFrame::Need { scanned, .. } => scanned,
        StreamFrame::Ready => 0,
    };
    let from = scanned.saturating_sub(3).min(buf.len());
    let Some((_, body_start)) = header_end(&buf[from..]).map(|(a, b)| (from + a, from + b)) else {
        if buf.len() > MAX_MESSAGE_SIZE {
            return StreamFrame::Ready; // parse_message refuses an endless header block
        }
        return StreamFrame::Need { scanned: buf.len(), total: None };
    };
    let total = body_start.saturating_add(declared_length(&buf[..body_start]).unwrap_or(0));
    if buf.len() >= total || total > body_start + MAX_MESSAGE_SIZE {
        StreamFrame::Ready
    } else {
        StreamFrame::Need { scanned: body_start, total: Some(total) }
    }
}

/// The `Content-Length` (or `l`) of a header block, if one reads as a number.
fn declared_length(head: &[u8]) -> Option<usize> {
    split_lines(head).skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = std::str::from_utf8(&line[..colon]).ok()?.trim();
        if !(name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l")) {
            return None;
        }
        std::str::from_utf8(&line[colon + 1..]).ok()?.trim().parse::<usize>().ok()
    })
}

/// Parses one message from `buf`.
pub fn parse_message(buf: &[u8], framing: Framing) -> Result<Parsed, ParseError> {
    // Leading CRLFs are keep-alives or padding (RFC 3261 §7.5).
    let skip = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    if skip == buf.len() {
        return if skip == 0 { Err(ParseError::Incomplete) } else { Err(ParseError::KeepAlive(skip)) };
    }
    if skip > 0 && framing == Framing::Stream {
        return Err(ParseError::KeepAlive(skip));
    }
    let data = &buf[skip..];
    let (head_len, body_start) = match header_end(data) {
        Some(x) => x,
        None => match framing {
            Framing::Stream => {
                if data.len() > MAX_MESSAGE_SIZE {
                    return Err(ParseError::Garbage("header block too large"));
                }
                return Err(ParseError::Incomplete);
            }
            // A datagram that ends without the empty line: the headers end with it.
            Framing::Datagram => (data.len(), data.len()),
        },
    };
    if head_len > MAX_MESSAGE_SIZE {
        return Err(ParseError::Garbage("header block too large"));
    }
    let head = &data[..head_len];
    let mut lines = split_lines(head);
    let start = lines.next().ok_or(ParseError::Garbage("empty message"))?;
    let start = std::str::from_utf8(start).map_err(|_| ParseError::Garbage("start line is not UTF-8"))?;

    let is_response = start.starts_with("SIP/");
    let mut method_text = String::new();
    if !is_response {
        method_text = start.split(' ').next().unwrap_or("").to_string();
    }

    let headers = match lex_headers(lines) {
        Ok(h) => h,
        Err(reason) => {
            if is_response {
                return Err(ParseError::BadResponse(reason.to_string()));
            }
            // Headers could not be read: answer with what could be read, if anything.
            let partial = lex_headers_lenient(head);
            return Err(ParseError::reject(400, reason, &method_text, &partial));
        }
    };

    // Content-Length and body.
    let avail = &data[body_start..];
    let cl_count = headers.count(&HeaderName::ContentLength);
    let body_len = if cl_count == 0 {
        match framing {
            Framing::Datagram => avail.len(),
            Framing::Stream => 0,
        }
    } else {
        let bad = |r: &str| {
            if is_response { ParseError::BadResponse(r.to_string()) } else { ParseError::reject(400, r, &method_text, &headers) }
        };
        if cl_count > 1 {
            return Err(bad("Multiple Content-Length headers"));
        }
        let v = headers.get(&HeaderName::ContentLength).unwrap_or("");
        let n = text::parse_u64(v).ok_or_else(|| bad("Content-Length is not a non-negative number"))?;
        if n as usize > MAX_MESSAGE_SIZE {
            return Err(bad("Content-Length too large"));
        }
        let n = n as usize;
        if n > avail.len() {
            match framing {
                Framing::Stream => return Err(ParseError::Incomplete),
                Framing::Datagram => return Err(bad("Content-Length exceeds the message size")),
            }
        }
        n
    };
    let body = avail[..body_len].to_vec();
    let consumed = skip + body_start + body_len;

    if is_response {
        let resp = parse_status_line(start, headers, body)?;
        return Ok(Parsed { message: Message::Response(resp), consumed });
    }
    match parse_request_line(start, &headers) {
        Ok((method, uri)) => Ok(Parsed { message: Message::Request(Request { method, uri, headers, body }), consumed }),
        Err(ParseError::BadRequest(mut r)) => {
            r.consumed = consumed;
            Err(ParseError::BadRequest(r))
        }
        Err(e) => Err(e),
    }
}

fn split_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// Reads header lines, unfolding continuation lines.
fn lex_headers<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Result<Headers, &'static str> {
    let mut headers = Headers::new();
    let mut current: Option<(String, String)> = None;
    for raw in lines {
        if raw.is_empty() {
            continue;
        }
        let line = std::str::from_utf8(raw).map_err(|_| "Header line is not valid UTF-8")?;
        if line.starts_with([' ', '\t']) {
            match current.as_mut() {
                Some((_, v)) => {
                    v.push(' ');
                    v.push_str(text::trim_ws(line));
                    continue;
                }
                None => return Err("Continuation line before the first header"),
            }
        }
        if let Some((n, v)) = current.take() {
            headers.0.push(Header { name: HeaderName::parse(&n), value: text::trim_ws(&v).to_string() });
        }
        let colon = line.find(':').ok_or("Header line without a colon")?;
        let name = text::trim_ws(&line[..colon]);
        if !text::is_token(name) {
            return Err("Header name is not a token");
        }
        current = Some((name.to_string(), text::trim_ws(&line[colon + 1..]).to_string()));
    }
    if let Some((n, v)) = current.take() {
        headers.0.push(Header { name: HeaderName::parse(&n), value: text::trim_ws(&v).to_string() });
    }
    Ok(headers)
}

/// Best-effort header read for answering a request whose header block is broken.
fn lex_headers_lenient(head: &[u8]) -> Headers {
    let mut headers = Headers::new();
    for raw in split_lines(head).skip(1) {
        let line = String::from_utf8_lossy(raw);
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some(colon) = line.find(':') {
            let name = text::trim_ws(&line[..colon]);
            if text::is_token(name) {
                headers.push(HeaderName::parse(name), text::trim_ws(&line[colon + 1..]).to_string());
            }
        }
    }
    headers
}

fn parse_status_line(start: &str, headers: Headers, body: Vec<u8>) -> Result<Response, ParseError> {
    let rest = start.strip_prefix("SIP/2.0 ").ok_or_else(|| ParseError::BadResponse("bad version".into()))?;
    let (code, reason) = match rest.find(' ') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    if code.len() != 3 {
        return Err(ParseError::BadResponse("status code is not three digits".into()));
    }
    let status = text::parse_u64(code).ok_or_else(|| ParseError::BadResponse("status code".into()))? as u16;
    if !(100..=699).contains(&status) {
        return Err(ParseError::BadResponse("status code out of range".into()));
    }
    Ok(Response { status, reason: reason.to_string(), headers, body })
}

fn parse_request_line(start: &str, headers: &Headers) -> Result<(Method, Uri), ParseError> {
    let parts: Vec<&str> = start.split(' ').collect();
    let method_text = parts.first().copied().unwrap_or("");
    let reject = |status: u16, reason: &str| Err(ParseError::reject(status, reason, method_text, headers));
    // Version first: an unknown version is 505 whatever else is wrong (RFC 3261 §8.2.1... §21.5.6).
    let version = parts.last().copied().unwrap_or("");
    if parts.len() >= 3 && version.starts_with("SIP/") && version != "SIP/2.0" && !version.is_empty() {
        let mut e = ParseError::reject(505, "Version Not Supported", method_text, headers);
        if let ParseError::BadRequest(r) = &mut e {
            r.reason = format!("Version Not Supported: {version}");
        }
        return Err(e);
    }
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return reject(400, "Bad Request Line: extra or missing whitespace");
    }
    if parts[2] != "SIP/2.0" {
        return reject(400, "Bad Request Line: protocol is not SIP/2.0");
    }
    let method = match Method::parse(parts[0]) {
        Some(m) => m,
        None => return reject(400, "Bad Request Line: method is not a token"),
    };
    let uri = match Uri::parse(parts[1]) {
        Ok(u) => u,
        Err(UriError::BadChars) => return reject(400, "Bad Request-URI: angle brackets or whitespace"),
        Err(UriError::NoScheme) => return reject(400, "Bad Request-URI: no scheme"),
        Err(e) => return reject(400, &format!("Bad Request-URI: {e}")),
    };
    Ok((method, uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_framing_is_incremental_and_agrees_with_the_parser() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nabcdOPTIONS";
        let mut state = StreamFrame::Ready;
        let mut ready_at = None;
        for n in 1..=msg.len() {
            state = stream_frame(&msg[..n], state);
            if state == StreamFrame::Ready {
                ready_at = Some(n);
                break;
            }
        }
        let whole = msg.len() - "OPTIONS".len();
        assert_eq!(ready_at, Some(whole));
        assert_eq!(parse_message(&msg[..whole], Framing::Stream).unwrap().consumed, whole);
        assert_eq!(stream_frame(b"\r\n\r\n", StreamFrame::Ready), StreamFrame::Ready);
        // An endless header block becomes ready (for the parser to refuse) past the limit.
        let junk = vec![b'a'; MAX_MESSAGE_SIZE + 1];
        assert_eq!(stream_frame(&junk, StreamFrame::Need { scanned: MAX_MESSAGE_SIZE, total: None }), StreamFrame::Ready);
    }

    #[test]
    fn stream_framing() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 4\r\n\r\nabcdOPT";
        let p = parse_message(msg, Framing::Stream).unwrap();
        assert_eq!(p.consumed, msg.len() - 3);
        assert!(matches!(parse_message(&msg[..30], Framing::Stream), Err(ParseError::Incomplete)));
        assert!(matches!(parse_message(b"\r\n\r\n", Framing::Stream), Err(ParseError::KeepAlive(4))));
    }

    #[test]
    fn datagram_without_content_length_takes_rest() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\nxyz";
        match parse_message(msg, Framing::Datagram).unwrap().message {
            Message::Request(r) => assert_eq!(r.body, b"xyz"),
            _ => panic!(),
        }
    }

    #[test]
    fn garbage_never_panics() {
        for case in [&b"\x00\xff"[..], b"SIP/2.0", b"INVITE", b":\r\n\r\n", b"A B C\r\n x\r\n\r\n"] {
            let _ = parse_message(case, Framing::Datagram);
            let _ = parse_message(case, Framing::Stream);
        }
    }
}
