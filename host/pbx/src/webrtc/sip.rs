//! The SDP of SIP messages crossing a browser's WebSocket, translated by the WebRTC edge:
//! what the browser sends reaches the engine as plain RTP descriptions; what the engine
//! sends reaches the browser as WebRTC ones. A dialog's end (BYE, CANCEL, a failed INVITE)
//! ends its media leg.

use super::{LegKey, WebRtcEdge};
use pbx_sip::message::SipMessage;
use pbx_sip::{HeaderName, Message, Method};

fn has_sdp(m: &Message) -> bool {
    let (headers, body) = match m {
        Message::Request(r) => (&r.headers, &r.body),
        Message::Response(r) => (&r.headers, &r.body),
    };
    !body.is_empty() && headers.get(&HeaderName::ContentType).is_some_and(|c| c.to_ascii_lowercase().contains("application/sdp"))
}

fn key(conn: u64, m: &Message) -> LegKey {
    let id = match m {
        Message::Request(r) => r.call_id(),
        Message::Response(r) => r.call_id(),
    };
    (conn, id.to_string())
}

/// What a message means for the dialog's media.
enum Role {
    Offer,
    Answer,
    Ends,
    Nothing,
}

fn role(m: &Message) -> Role {
    match m {
        Message::Request(r) => match r.method {
            Method::Invite | Method::Update if has_sdp(m) => Role::Offer,
            Method::Bye | Method::Cancel => Role::Ends,
            Method::Ack if has_sdp(m) => Role::Answer,
            _ => Role::Nothing,
        },
        Message::Response(r) => {
            let to_invite = r.cseq().is_some_and(|c| matches!(c.method, Method::Invite | Method::Update));
            if !to_invite {
                Role::Nothing
            } else if has_sdp(m) && r.status < 300 {
                Role::Answer
            } else if r.status >= 300 && r.cseq().is_some_and(|c| c.method == Method::Invite) {
                Role::Ends
            } else {
                Role::Nothing
            }
        }
    }
}

fn set_body(m: &mut Message, sdp: String) {
    let (headers, body) = match m {
        Message::Request(r) => (&mut r.headers, &mut r.body),
        Message::Response(r) => (&mut r.headers, &mut r.body),
    };
    *body = sdp.into_bytes();
    headers.set(HeaderName::ContentType, "application/sdp");
}

fn body_text(m: &Message) -> String {
    let b = match m {
        Message::Request(r) => &r.body,
        Message::Response(r) => &r.body,
    };
    String::from_utf8_lossy(b).into_owned()
}

/// A message from the browser on connection `conn`, on its way to the engine. `Err` when
/// its offer cannot be used (the caller answers 488).
pub async fn from_browser(edge: &WebRtcEdge, conn: u64, m: &mut Message) -> Result<(), super::EdgeError> {
    let k = key(conn, m);
    match role(m) {
        Role::Offer => {
            let plain = edge.browser_offer(k, body_text(m)).await?;
            set_body(m, plain);
        }
        Role::Answer => match edge.browser_answer(k, body_text(m)).await {
            Ok(plain) => set_body(m, plain),
            Err(e) => tracing::debug!(conn, error = %e, "browser answer not translated"),
        },
        Role::Ends => edge.close(k),
        Role::Nothing => {}
    }
    Ok(())
}

/// Where a message of the engine for a browser goes.
#[derive(Debug)]
pub enum Outgoing {
    /// On to the browser (translated when it carries a description).
    Browser(Vec<u8>),
    /// Back to the engine, as if from the browser: the edge's answer to an offer that
    /// changes nothing of the browser's media.
    Engine(Vec<u8>),
}

/// Bytes from the engine to the browser on connection `conn`: translated when they carry
/// a description (unchanged when they do not, or cannot be read).
pub async fn to_browser(edge: &WebRtcEdge, conn: u64, bytes: Vec<u8>) -> Outgoing {
    let Ok(parsed) = pbx_sip::parse_message(&bytes, pbx_sip::parse::Framing::Datagram) else { return Outgoing::Browser(bytes) };
    let mut m = parsed.message;
    let k = key(conn, &m);
    let translated = match role(&m) {
        Role::Offer => match edge.engine_offer(k, body_text(&m)).await {
            Ok(super::EngineOffer::Browser(sdp)) => Ok(sdp),
            Ok(super::EngineOffer::Unchanged(plain)) => match &m {
                Message::Request(r) => {
                    let mut resp = Message::Response(r.response(200, "OK", None));
                    set_body(&mut resp, plain);
                    return Outgoing::Engine(resp.to_bytes());
                }
                Message::Response(_) => Err(super::EdgeError::NoLeg),
            },
            Err(e) => Err(e),
        },
        Role::Answer => edge.engine_answer(k, body_text(&m)).await,
        Role::Ends => {
            edge.close(k);
            return Outgoing::Browser(bytes);
        }
        Role::Nothing => return Outgoing::Browser(bytes),
    };
    match translated {
        Ok(sdp) => {
            set_body(&mut m, sdp);
            Outgoing::Browser(m.to_bytes())
        }
        Err(e) => {
            tracing::debug!(conn, error = %e, "engine description not translated for the browser");
            Outgoing::Browser(bytes)
        }
    }
}
