//! SIP over WebSocket (RFC 7118): browsers' phones (the cabinet's web phone, JsSIP, SIP.js)
//! connect to the HTTP port with the `sip` subprotocol; every frame carries one whole
//! message, and the connection is a flow like a TCP one (responses and calls to a browser
//! registered on it go back over it).

use super::{Transports, to_input};
use crate::engine::Input;
use crate::metrics::Metrics;
use axum::extract::ws::{Message, WebSocket};
use pbx_sip::parse::{Framing, MAX_MESSAGE_SIZE};
use pbx_sip::transaction::{Target, Transport};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the PBX pings a quiet browser (keeps NAT bindings and proxies open, and finds
/// dead ones).
const PING_EVERY: Duration = Duration::from_secs(25);

/// The way from a WebSocket into the call engine, set by the server that runs one.
#[derive(Clone)]
pub struct SipGate {
    /// Open connections (for sending).
    pub transports: Transports,
    /// Messages to the engine.
    pub tx: mpsc::Sender<Input>,
    /// Connection events to the engine.
    pub ctl: mpsc::UnboundedSender<Input>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The WebRTC media edge that translates browsers' descriptions (none: signalling only).
    pub webrtc: Option<crate::webrtc::WebRtcEdge>,
}

/// Serves one SIP WebSocket until either side closes it; `user` is the cabinet user whose
/// session opened it (their phone, authenticated by the session), if any.
pub async fn serve_ws(mut socket: WebSocket, peer: SocketAddr, secure: bool, gate: SipGate, user: Option<i64>) {
    let transport = if secure { Transport::Wss } else { Transport::Ws };
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(256);
    let id = gate.transports.register(transport, peer, out_tx);
    if let Some(user_id) = user {
        let _ = gate.ctl.send(Input::FlowUser { conn: id, user_id });
    }
    let source = Target { transport, addr: peer, conn: Some(id) };
    let mut spoke = false;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        let allowed = super::stream::silence_allowed(&gate.transports, id, spoke);
        tokio::select! {
            out = out_rx.recv() => {
                let Some(mut bytes) = out else { break };
                if let Some(edge) = &gate.webrtc {
                    match crate::webrtc::sip::to_browser(edge, id, bytes).await {
                        crate::webrtc::sip::Outgoing::Browser(b) => bytes = b,
                        crate::webrtc::sip::Outgoing::Engine(reply) => {
                            // The edge answered for the browser: the engine gets it as the browser's.
                            let (input, _) = to_input(&reply, Framing::Datagram, source, &gate.metrics);
                            if let Some(input) = input && gate.tx.send(input).await.is_err() {
                                break;
                            }
                            continue;
                        }
                    }
                }
                // SIP is text; a message that is not UTF-8 (a binary body) goes as a binary frame.
                let msg = match String::from_utf8(bytes) {
                    Ok(text) => Message::Text(text.into()),
                    Err(e) => Message::Binary(e.into_bytes().into()),
                };
                if socket.send(msg).await.is_err() {
                    break;
                }
            }
            _ = ping.tick() => {
                if quiet_since.elapsed() > allowed {
                    gate.metrics.connections_idle_closed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "closing an idle SIP WebSocket");
                    break;
                }
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => {
                let bytes: Vec<u8> = match incoming {
                    Some(Ok(Message::Text(t))) => t.as_str().as_bytes().to_vec(),
                    Some(Ok(Message::Binary(b))) => b.to_vec(),
                    Some(Ok(Message::Ping(_))) | Some(Ok(Message::Pong(_))) => {
                        quiet_since = tokio::time::Instant::now();
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                quiet_since = tokio::time::Instant::now();
                if bytes.len() > MAX_MESSAGE_SIZE {
                    gate.metrics.sip_rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, len = bytes.len(), "SIP WebSocket frame too large: closing");
                    break;
                }
                // A frame of CRLFs is a keep-alive (RFC 7118 leaves them to the client).
                if bytes.iter().all(|b| *b == b'\r' || *b == b'\n') {
                    continue;
                }
                let (mut input, _) = to_input(&bytes, Framing::Datagram, source, &gate.metrics);
                if let (Some(Input::Sip { msg, .. }), Some(edge)) = (input.as_mut(), &gate.webrtc)
                    && let Err(e) = crate::webrtc::sip::from_browser(edge, id, msg).await
                {
                    // An offer the edge cannot take: 488, and the engine never sees it.
                    tracing::debug!(%peer, error = %e, "browser offer refused");
                    if let pbx_sip::Message::Request(r) = msg {
                        let mut resp = r.response(488, "Not Acceptable Here", Some("ws488"));
                        let why = e.to_string().replace(['"', '\\'], "'");
                        resp.headers.push(pbx_sip::HeaderName::Warning, format!("399 pbx \"{why}\""));
                        if socket.send(Message::Text(String::from_utf8_lossy(&resp.to_bytes()).into_owned().into())).await.is_err() {
                            break;
                        }
                    }
                    continue;
                }
                if let Some(input) = input {
                    spoke = true;
                    if gate.tx.send(input).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    gate.transports.unregister(transport, peer, id);
    if let Some(edge) = &gate.webrtc {
        edge.close_conn(id);
    }
    let _ = socket.send(Message::Close(None)).await;
    let _ = gate.ctl.send(Input::ConnectionClosed(id));
}
