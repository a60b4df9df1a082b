//! The UDP receive loop.

use super::to_input;
use crate::engine::Input;
use crate::metrics::Metrics;
use pbx_sip::parse::Framing;
use pbx_sip::transaction::{Target, Transport};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Receives datagrams, parses them and hands them to the engine; a full engine queue drops
/// the datagram (the sender retransmits).
///
/// Call it on the engine's runtime: the socket joins the reactor of the runtime it is
/// registered on, and a socket polled by another runtime's reactor costs two thread wake-ups
/// per datagram.
pub fn spawn_udp(sock: std::net::UdpSocket, tx: mpsc::Sender<Input>, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let sock = UdpSocket::from_std(sock)?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, src) = match sock.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    // ICMP errors surface here on some systems; keep serving.
                    tracing::debug!(error = %e, "UDP receive error");
                    continue;
                }
            };
            let source = Target { transport: Transport::Udp, addr: src, conn: None };
            if let (Some(input), _) = to_input(&buf[..n], Framing::Datagram, source, &metrics)
                && tx.try_send(input).is_err()
            {
                metrics.sip_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Ok(())
}
