//! TCP and TLS: one task per connection frames messages by Content-Length; a writer task
//! sends what the engine queues for the connection.

use super::{Transports, to_input};
use crate::engine::Input;
use crate::metrics::Metrics;
use pbx_sip::parse::{Framing, MAX_MESSAGE_SIZE, StreamFrame, stream_frame};
use pbx_sip::transaction::{Target, Transport};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// The longest a message may take to arrive once its first byte did.
const MESSAGE_TIME: Duration = Duration::from_secs(30);

/// Loads a TLS acceptor from PEM files.
pub fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(std::fs::File::open(cert)?)).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(std::fs::File::open(key)?))?
        .ok_or_else(|| anyhow::anyhow!("no private key in {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Accepts TCP (or, with `tls`, TLS) connections, within the connection caps.
pub fn spawn_stream_listener(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    transports: Transports,
    tx: mpsc::Sender<Input>,
    ctl: mpsc::UnboundedSender<Input>,
    metrics: Arc<Metrics>,
) {
    tokio::spawn(async move {
        loop {
            let (sock, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(slot) = transports.gate.admit(peer.ip()) else {
                metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "SIP connection refused: too many open");
                continue;
            };
            let _ = sock.set_nodelay(true);
            let (transports, tx, ctl, metrics, tls) = (transports.clone(), tx.clone(), ctl.clone(), metrics.clone(), tls.clone());
            tokio::spawn(async move {
                let _slot = slot;
                let first = transports.limits.sip_first_message;
                match tls {
                    None => serve_conn(sock, peer, Transport::Tcp, transports, tx, ctl, metrics).await,
                    Some(acc) => match tokio::time::timeout(first, acc.accept(sock)).await {
                        Ok(Ok(s)) => serve_conn(s, peer, Transport::Tls, transports, tx, ctl, metrics).await,
                        _ => tracing::debug!(%peer, "TLS handshake failed"),
                    },
                }
            });
        }
    });
}

/// How long the connection may stay silent now: briefly before its first message, while a
/// registration lasts when it carries one, else the configured idle time.
pub(super) fn silence_allowed(transports: &Transports, id: u64, spoke: bool) -> Duration {
    if !spoke {
        return transports.limits.sip_first_message;
    }
    let idle = transports.limits.sip_idle;
    match transports.bound_until(id) {
        Some(until) => Duration::from_millis(u64::try_from(until - pbx_store::now_ms()).unwrap_or(0)).max(idle) + Duration::from_secs(60),
        None => idle,
    }
}

async fn serve_conn<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    transports: Transports,
    tx: mpsc::Sender<Input>,
    ctl: mpsc::UnboundedSender<Input>,
    metrics: Arc<Metrics>,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(256);
    let id = transports.register(transport, peer, out_tx.clone());
    let writer = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let source = Target { transport, addr: peer, conn: Some(id) };
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16_384];
    let mut frame = StreamFrame::Ready;
    let mut spoke = false;
    // A message must arrive whole within this of its first byte (the first one within the
    // first-message time of the connection): trickling a byte now and then holds nothing.
    let mut message_deadline = Some(tokio::time::Instant::now() + transports.limits.sip_first_message);
    'conn: loop {
        let mut wait = silence_allowed(&transports, id, spoke);
        if let Some(d) = message_deadline {
            wait = wait.min(d.saturating_duration_since(tokio::time::Instant::now()));
        }
        let n = match tokio::time::timeout(wait, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Err(_) => {
                metrics.connections_idle_closed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "closing an idle SIP connection");
                break;
            }
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if message_deadline.is_none() && !buf.is_empty() {
            message_deadline = Some(tokio::time::Instant::now() + MESSAGE_TIME);
        }
        loop {
            if buf.is_empty() {
                break;
            }
            frame = stream_frame(&buf, frame);
            if frame != StreamFrame::Ready {
                if buf.len() > 2 * MAX_MESSAGE_SIZE {
                    break 'conn;
                }
                break;
            }
            // A double CRLF ping gets a single CRLF pong (RFC 5626 §3.5.1).
            if buf.starts_with(b"\r\n\r\n") {
                let _ = out_tx.try_send(b"\r\n".to_vec());
            }
            let (input, consumed) = to_input(&buf, Framing::Stream, source, &metrics);
            if consumed == usize::MAX {
                break 'conn; // cannot resynchronise on garbage
            }
            if let Some(input) = input {
                if consumed == 0 {
                    break 'conn;
                }
                spoke = true;
                if tx.send(input).await.is_err() {
                    break 'conn;
                }
            }
            if consumed == 0 {
                // The framer saw a whole message that the parser still wants more of: the
                // two disagree, which only garbage can cause.
                break 'conn;
            }
            buf.drain(..consumed.min(buf.len()));
            frame = StreamFrame::Ready;
            message_deadline = (!buf.is_empty()).then(|| tokio::time::Instant::now() + MESSAGE_TIME);
        }
    }
    transports.unregister(transport, peer, id);
    drop(out_tx);
    let _ = writer.await;
    let _ = ctl.send(Input::ConnectionClosed(id));
}
