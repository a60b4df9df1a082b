//! TCP and TLS: one task per connection frames messages by Content-Length; a writer task
//! sends what the engine queues for the connection.

use super::{Transports, to_input};
use crate::engine::Input;
use crate::metrics::Metrics;
use pbx_sip::parse::{Framing, MAX_MESSAGE_SIZE};
use pbx_sip::transaction::{Target, Transport};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// A connection idle this long is closed (phones refresh registrations well within it).
const IDLE: Duration = Duration::from_secs(3900);

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

/// Accepts TCP (or, with `tls`, TLS) connections.
pub fn spawn_stream_listener(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    transports: Transports,
    tx: mpsc::Sender<Input>,
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
            let _ = sock.set_nodelay(true);
            let (transports, tx, metrics, tls) = (transports.clone(), tx.clone(), metrics.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => serve_conn(sock, peer, Transport::Tcp, transports, tx, metrics).await,
                    Some(acc) => match tokio::time::timeout(Duration::from_secs(10), acc.accept(sock)).await {
                        Ok(Ok(s)) => serve_conn(s, peer, Transport::Tls, transports, tx, metrics).await,
                        _ => tracing::debug!(%peer, "TLS handshake failed"),
                    },
                }
            });
        }
    });
}

async fn serve_conn<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    transports: Transports,
    tx: mpsc::Sender<Input>,
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
    'conn: loop {
        let n = match tokio::time::timeout(IDLE, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            if buf.is_empty() {
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
                if tx.send(input).await.is_err() {
                    break 'conn;
                }
            }
            if consumed == 0 {
                if buf.len() > 2 * MAX_MESSAGE_SIZE {
                    break 'conn;
                }
                break;
            }
            buf.drain(..consumed.min(buf.len()));
        }
    }
    transports.unregister(transport, peer, id);
    drop(out_tx);
    let _ = writer.await;
    let _ = tx.send(Input::ConnectionClosed(id)).await;
}
