//! SIP dialogs (RFC 3261 §12): the state each leg of a call keeps to send requests within it,
//! including the route set (Record-Route, loose and strict routing).

use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, SipMessage};
use pbx_sip::method::Method;
use pbx_sip::name_addr::NameAddr;
use pbx_sip::transaction::Target;
use pbx_sip::uri::Uri;

/// One dialog of one leg.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: Option<String>,
    /// Our From/To header value including our tag.
    pub local_hdr: String,
    /// The peer's header value including its tag.
    pub remote_hdr: String,
    /// Our CSeq for requests we send.
    pub local_seq: u32,
    /// The last CSeq the peer used.
    pub remote_seq: Option<u32>,
    /// The peer's Contact.
    pub remote_target: Uri,
    /// Route set, in the order Route headers are written.
    pub route_set: Vec<String>,
    /// Where requests go (the flow the peer's messages came over).
    pub flow: Target,
}

impl Dialog {
    /// The UAC side of a dialog we open with an INVITE: no remote tag yet, our CSeq 1, the
    /// request sent to `remote_target` over `flow`. Filled in by [`Dialog::confirm`].
    pub fn outgoing(call_id: String, local_tag: String, local_hdr: String, remote_hdr: String, remote_target: Uri, flow: Target) -> Self {
        Dialog {
            call_id,
            local_tag,
            remote_tag: None,
            local_hdr,
            remote_hdr,
            local_seq: 1,
            remote_seq: None,
            remote_target,
            route_set: Vec::new(),
            flow,
        }
    }

    /// Completes the UAC side of a dialog from the 2xx that established it: the remote tag
    /// and To header, the remote target (Contact) and the route set (Record-Route, reversed).
    pub fn confirm(&mut self, resp: &pbx_sip::message::Response) {
        if let Some(tag) = resp.parsed_to().and_then(|t| t.tag().map(str::to_string)) {
            self.remote_tag = Some(tag);
            if let Some(to) = resp.headers.get(&HeaderName::To) {
                self.remote_hdr = to.to_string();
            }
        }
        if let Some(c) = resp.contacts().into_iter().next() {
            self.remote_target = c.uri;
        }
        let mut rr: Vec<String> = resp.headers.list(&HeaderName::RecordRoute);
        rr.reverse();
        self.route_set = rr;
    }

    /// The UAS side of a dialog created by a request we received (`local_tag` chosen by us).
    pub fn from_request(req: &Request, local_tag: &str, flow: Target) -> Option<Dialog> {
        let from = req.headers.get(&HeaderName::From)?.to_string();
        let to = req.headers.get(&HeaderName::To)?.to_string();
        let remote_tag = NameAddr::parse(&from).ok()?.tag().map(str::to_string);
        let contact = req.contacts().into_iter().next().map(|c| c.uri);
        let route_set = req.headers.list(&HeaderName::RecordRoute);
        Some(Dialog {
            call_id: req.call_id().to_string(),
            local_tag: local_tag.to_string(),
            remote_tag,
            local_hdr: format!("{to};tag={local_tag}"),
            remote_hdr: from,
            local_seq: (super::rng::u32() & 0xffff) + 1,
            remote_seq: req.cseq().map(|c| c.seq),
            remote_target: contact.unwrap_or_else(|| req.uri.clone()),
            route_set,
            flow,
        })
    }

    /// Builds a request within the dialog; CSeq advances except for ACK and CANCEL.
    pub fn request(&mut self, method: Method, via: &str, contact: &str) -> Request {
        if method != Method::Ack && method != Method::Cancel {
            self.local_seq += 1;
        }
        let (ruri, routes) = self.target_and_routes();
        let mut r = Request::new(method.clone(), ruri);
        r.headers.push(HeaderName::Via, via.to_string());
        r.headers.push(HeaderName::MaxForwards, "70");
        for route in routes {
            r.headers.push(HeaderName::Route, route);
        }
        r.headers.push(HeaderName::From, self.local_hdr.clone());
        r.headers.push(HeaderName::To, self.remote_hdr.clone());
        r.headers.push(HeaderName::CallId, self.call_id.clone());
        r.headers.push(HeaderName::CSeq, format!("{} {}", self.local_seq, method.as_str()));
        if matches!(method, Method::Invite | Method::Update | Method::Refer | Method::Notify | Method::Subscribe) {
            r.headers.push(HeaderName::Contact, contact.to_string());
        }
        r
    }

    /// Request-URI and Route values: loose routing normally, strict routing when the first
    /// route lacks `;lr` (RFC 3261 §12.2.1.1).
    fn target_and_routes(&self) -> (Uri, Vec<String>) {
        let Some(first) = self.route_set.first() else { return (self.remote_target.clone(), Vec::new()) };
        let first_na = NameAddr::parse(first).ok();
        let strict = first_na.as_ref().and_then(|n| n.uri.as_sip()).is_some_and(|u| !u.is_loose_route());
        match (strict, first_na) {
            (true, Some(na)) => {
                let mut uri = na.uri;
                if let Some(s) = uri.as_sip_mut() {
                    s.headers = None;
                }
                let mut routes: Vec<String> = self.route_set[1..].to_vec();
                routes.push(format!("<{}>", self.remote_target));
                (uri, routes)
            }
            _ => (self.remote_target.clone(), self.route_set.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbx_sip::parse::{Framing, parse_message};
    use pbx_sip::transaction::Transport;

    fn invite(rr: &str) -> Request {
        let t = format!(
            "INVITE sip:102@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n{rr}From: \"A\" <sip:101@pbx>;tag=aa\r\nTo: <sip:102@pbx>\r\nCall-ID: x1\r\nCSeq: 5 INVITE\r\nContact: <sip:101@10.0.0.1:5062>\r\nContent-Length: 0\r\n\r\n"
        );
        match parse_message(t.as_bytes(), Framing::Datagram).unwrap().message {
            pbx_sip::Message::Request(r) => r,
            _ => panic!(),
        }
    }

    fn flow() -> Target {
        Target { transport: Transport::Udp, addr: "10.0.0.1:5060".parse().unwrap(), conn: None }
    }

    #[test]
    fn bye_goes_to_contact_with_swapped_tags() {
        let mut d = Dialog::from_request(&invite(""), "bb", flow()).unwrap();
        let bye = d.request(Method::Bye, "SIP/2.0/UDP pbx;branch=z9hG4bK1", "<sip:pbx>");
        assert_eq!(bye.uri.to_string(), "sip:101@10.0.0.1:5062");
        assert!(bye.headers.get(&HeaderName::From).unwrap().ends_with(";tag=bb"));
        assert!(bye.headers.get(&HeaderName::To).unwrap().ends_with(";tag=aa"));
        assert_eq!(bye.headers.count(&HeaderName::Route), 0);
    }

    #[test]
    fn loose_and_strict_route_sets() {
        let mut d = Dialog::from_request(&invite("Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\r\n"), "bb", flow()).unwrap();
        let bye = d.request(Method::Bye, "v", "c");
        assert_eq!(bye.uri.to_string(), "sip:101@10.0.0.1:5062");
        assert_eq!(bye.headers.get_all(&HeaderName::Route).collect::<Vec<_>>(), vec!["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
        let mut d = Dialog::from_request(&invite("Record-Route: <sip:strict.example>\r\n"), "bb", flow()).unwrap();
        let bye = d.request(Method::Bye, "v", "c");
        assert_eq!(bye.uri.to_string(), "sip:strict.example");
        assert_eq!(bye.headers.get(&HeaderName::Route), Some("<sip:101@10.0.0.1:5062>"));
    }
}
