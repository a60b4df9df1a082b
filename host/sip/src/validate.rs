//! Request checks of RFC 3261 §8.2 and RFC 4475: what a UAS must refuse before it acts.

use crate::header::{HeaderName, Headers};
use crate::message::{CSeq, Request};
use crate::method::Method;
use crate::name_addr::NameAddr;
use crate::parse::Rejection;
use crate::text;
use crate::uri::Uri;
use crate::via::Via;

/// What this UAS supports; drives 405/501, 420, 415 and 406.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Methods the element handles (listed in Allow).
    pub allowed: Vec<Method>,
    /// Option tags it supports (Require).
    pub supported: Vec<&'static str>,
    /// Body types it accepts.
    pub accept: Vec<&'static str>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            allowed: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Register,
                Method::Options,
                Method::Info,
                Method::Update,
                Method::Refer,
                Method::Notify,
                Method::Subscribe,
            ],
            supported: vec!["timer", "replaces", "path", "outbound", "norefersub"],
            accept: vec!["application/sdp", "application/dtmf-relay", "application/dtmf", "message/sipfrag"],
        }
    }
}

impl Policy {
    /// The Allow header value.
    pub fn allow_header(&self) -> String {
        self.allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", ")
    }
}

/// Maximum Max-Forwards value (RFC 3261 §20.22 allows 0-255).
const MAX_FORWARDS_LIMIT: u64 = 255;

fn reject(req: &Request, status: u16, reason: impl Into<String>) -> Rejection {
    Rejection {
        status,
        reason: reason.into(),
        method: req.method.as_str().to_string(),
        headers: req.headers.clone(),
        extra: Headers::new(),
        consumed: 0,
    }
}

/// Checks a parsed request; `Err` carries the response to send.
pub fn validate_request(req: &Request, policy: &Policy) -> Result<(), Box<Rejection>> {
    let h = &req.headers;
    for (name, label) in [
        (HeaderName::Via, "Via"),
        (HeaderName::From, "From"),
        (HeaderName::To, "To"),
        (HeaderName::CallId, "Call-ID"),
        (HeaderName::CSeq, "CSeq"),
    ] {
        if h.count(&name) == 0 {
            return Err(Box::new(reject(req, 400, format!("Missing Required Header: {label}"))));
        }
    }
    for (name, label) in [
        (HeaderName::From, "From"),
        (HeaderName::To, "To"),
        (HeaderName::CallId, "Call-ID"),
        (HeaderName::CSeq, "CSeq"),
        (HeaderName::MaxForwards, "Max-Forwards"),
        (HeaderName::ContentType, "Content-Type"),
        (HeaderName::Expires, "Expires"),
    ] {
        if h.count(&name) > 1 {
            return Err(Box::new(reject(req, 400, format!("Multiple {label} headers"))));
        }
    }
    for v in h.get_all(&HeaderName::Via) {
        if let Err(e) = Via::parse_list(v) {
            return Err(Box::new(reject(req, 400, format!("Malformed Via: {e}"))));
        }
    }
    for (name, label) in [(HeaderName::From, "From"), (HeaderName::To, "To")] {
        if let Err(e) = NameAddr::parse(h.get(&name).unwrap_or("")) {
            return Err(Box::new(reject(req, 400, format!("Malformed {label}: {e}"))));
        }
    }
    let call_id = h.call_id().unwrap_or("");
    if call_id.is_empty() || call_id.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(Box::new(reject(req, 400, "Malformed Call-ID")));
    }
    let cseq = match CSeq::parse(h.get(&HeaderName::CSeq).unwrap_or("")) {
        Some(c) => c,
        None => return Err(Box::new(reject(req, 400, "Malformed CSeq: sequence must be 0..2^32-1 and a method"))),
    };
    if cseq.method != req.method {
        return Err(Box::new(reject(req, 400, "CSeq method does not match the request method")));
    }
    if let Some(mf) = h.get(&HeaderName::MaxForwards) {
        match text::parse_u64(mf) {
            Some(n) if n <= MAX_FORWARDS_LIMIT => {}
            _ => return Err(Box::new(reject(req, 400, "Max-Forwards must be a number from 0 to 255"))),
        }
    }
    if let Some(e) = h.get(&HeaderName::Expires)
        && (e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Box::new(reject(req, 400, "Expires is not a number of seconds")));
    }
    for v in h.get_all(&HeaderName::Contact) {
        if req.method == Method::Register && text::trim_ws(v) == "*" {
            continue;
        }
        if let Err(e) = NameAddr::parse_list(v) {
            return Err(Box::new(reject(req, 400, format!("Malformed Contact: {e}"))));
        }
    }
    for name in [HeaderName::Route, HeaderName::RecordRoute] {
        for v in h.get_all(&name) {
            if let Err(e) = NameAddr::parse_list(v) {
                return Err(Box::new(reject(req, 400, format!("Malformed {name}: {e}"))));
            }
        }
    }

    // A Request-URI never carries headers (RFC 3261 §19.1.5; RFC 4475 §3.1.2.11): someone
    // tried to smuggle a Route or a body in through it.
    if let Uri::Sip(u) = &req.uri
        && u.headers.is_some()
    {
        return Err(Box::new(reject(req, 400, "The Request-URI must not carry headers")));
    }
    // Date is an RFC 1123 date in GMT (RFC 3261 §20.17; RFC 4475 §3.1.2.12).
    if let Some(d) = h.get(&HeaderName::Date)
        && !text::trim_ws(d).ends_with(" GMT")
    {
        return Err(Box::new(reject(req, 400, "Date must be given in GMT")));
    }

    // §8.2.1 method inspection.
    if !policy.allowed.contains(&req.method) {
        let known = !matches!(req.method, Method::Other(_));
        let mut r = if known {
            reject(req, 405, "Method Not Allowed")
        } else {
            reject(req, 501, format!("Not Implemented: method {}", req.method))
        };
        r.extra.push(HeaderName::Allow, policy.allow_header());
        return Err(Box::new(r));
    }
    // §8.2.2.1 Request-URI scheme.
    match &req.uri {
        Uri::Sip(_) => {}
        Uri::Other { scheme, .. } if scheme == "tel" => {}
        Uri::Other { scheme, .. } => {
            return Err(Box::new(reject(req, 416, format!("Unsupported URI Scheme: {scheme}"))));
        }
    }
    // §8.2.2.3 Require (never for ACK/CANCEL).
    if req.method != Method::Ack && req.method != Method::Cancel {
        let unsupported: Vec<String> =
            h.list(&HeaderName::Require).into_iter().filter(|t| !policy.supported.iter().any(|s| s.eq_ignore_ascii_case(t))).collect();
        if !unsupported.is_empty() {
            let mut r = reject(req, 420, "Bad Extension");
            r.extra.push(HeaderName::Unsupported, unsupported.join(", "));
            return Err(Box::new(r));
        }
    }
    // §8.2.3 content processing.
    if !req.body.is_empty() && req.method != Method::Ack {
        let ct = h.get(&HeaderName::ContentType).map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase()).unwrap_or_default();
        let ok = policy.accept.iter().any(|a| *a == ct) || (ct == "multipart/mixed" && req.method != Method::Invite);
        if !ok {
            let mut r = reject(req, 415, format!("Unsupported Media Type: {}", if ct.is_empty() { "none" } else { &ct }));
            r.extra.push(HeaderName::Accept, policy.accept.join(", "));
            return Err(Box::new(r));
        }
        if let Some(enc) = h.get(&HeaderName::ContentEncoding)
            && !enc.eq_ignore_ascii_case("identity")
        {
            let mut r = reject(req, 415, "Unsupported Content-Encoding");
            r.extra.push(HeaderName::Other("Accept-Encoding".into()), "identity");
            return Err(Box::new(r));
        }
    }
    // Accept on INVITE: the answer carries SDP.
    if req.method == Method::Invite && h.count(&HeaderName::Accept) > 0 {
        let accepts = h.list(&HeaderName::Accept);
        let fine = accepts.iter().any(|a| {
            let t = a.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            t == "application/sdp" || t == "application/*" || t == "*/*"
        });
        if !fine && !accepts.is_empty() {
            let mut r = reject(req, 406, "Not Acceptable: the answer must be application/sdp");
            r.extra.push(HeaderName::Accept, "application/sdp");
            return Err(Box::new(r));
        }
    }
    Ok(())
}

/// Checks a parsed response; a malformed one is dropped (RFC 3261 §18.1.2).
pub fn validate_response(resp: &crate::message::Response) -> Result<(), String> {
    let h = &resp.headers;
    if h.count(&HeaderName::Via) == 0 {
        return Err("no Via".into());
    }
    for v in h.get_all(&HeaderName::Via) {
        Via::parse_list(v).map_err(|e| e.to_string())?;
    }
    if CSeq::parse(h.get(&HeaderName::CSeq).unwrap_or("")).is_none() {
        return Err("malformed CSeq".into());
    }
    if h.call_id().is_none_or(str::is_empty) {
        return Err("no Call-ID".into());
    }
    for name in [HeaderName::From, HeaderName::To] {
        if h.count(&name) != 1 {
            return Err(format!("{name} missing or repeated"));
        }
        NameAddr::parse(h.get(&name).unwrap_or("")).map_err(|e| e.to_string())?;
    }
    Ok(())
}
