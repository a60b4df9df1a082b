//! Connection limits: how many TCP/TLS connections the PBX holds at once, in all and per
//! source address, and how long an idle one may stay. One peer opening connections and never
//! speaking cannot exhaust the process's file descriptors (which the RTP sockets of every
//! call and the HTTP side need too).

use crate::config::ServeArgs;
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The limits in force, sized from the settings and the open-files limit.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// SIP TCP/TLS connections in all.
    pub sip_max: usize,
    /// SIP TCP/TLS connections from one address.
    pub sip_per_source: usize,
    /// A SIP connection must send its first message within this.
    pub sip_first_message: Duration,
    /// A SIP connection with no registration on it is closed after this long without a message.
    pub sip_idle: Duration,
    /// HTTP connections in all.
    pub http_max: usize,
    /// HTTP connections from one address.
    pub http_per_source: usize,
    /// An HTTP connection with no traffic either way is closed after this long.
    pub http_idle: Duration,
}

impl Default for ConnLimits {
    fn default() -> ConnLimits {
        ConnLimits {
            sip_max: 4096,
            sip_per_source: 256,
            sip_first_message: Duration::from_secs(10),
            sip_idle: Duration::from_secs(120),
            http_max: 1024,
            http_per_source: 64,
            http_idle: Duration::from_secs(300),
        }
    }
}

impl ConnLimits {
    /// The limits of `pbx serve`: the configured caps, lowered so that SIP connections take at
    /// most a quarter and HTTP an eighth of the open-files limit.
    pub fn from_args(args: &ServeArgs) -> ConnLimits {
        let files = rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft).unwrap_or(1024);
        let files = usize::try_from(files).unwrap_or(usize::MAX);
        let sip_max = args.sip_max_connections.min(files / 4).max(16);
        let http_max = args.http_max_connections.min(files / 8).max(16);
        ConnLimits {
            sip_max,
            sip_per_source: args.sip_max_connections_per_source.clamp(1, sip_max),
            sip_idle: Duration::from_secs(args.sip_idle_secs.max(10)),
            http_max,
            http_per_source: args.http_max_connections_per_source.clamp(1, http_max),
            ..ConnLimits::default()
        }
    }
}

/// Counts open connections in all and per source; a slot is held by a [`Slot`] and given
/// back when it drops.
#[derive(Debug)]
pub struct ConnGate {
    max: usize,
    per_source: usize,
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// One open connection's place in its [`ConnGate`].
#[derive(Debug)]
pub struct Slot {
    gate: Arc<ConnGate>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut s) = self.gate.state.lock() {
            s.total = s.total.saturating_sub(1);
            if let Some(n) = s.by_ip.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    s.by_ip.remove(&self.ip);
                }
            }
        }
    }
}

impl ConnGate {
    /// A gate with these caps.
    pub fn new(max: usize, per_source: usize) -> Arc<ConnGate> {
        Arc::new(ConnGate { max, per_source, state: Mutex::default() })
    }

    /// A slot for a connection from `ip`, or `None` when either cap is reached.
    pub fn admit(self: &Arc<ConnGate>, ip: IpAddr) -> Option<Slot> {
        let mut s = self.state.lock().ok()?;
        let from_ip = s.by_ip.get(&ip).copied().unwrap_or(0);
        if s.total >= self.max || from_ip >= self.per_source {
            return None;
        }
        s.total += 1;
        *s.by_ip.entry(ip).or_insert(0) += 1;
        Some(Slot { gate: self.clone(), ip })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.state.lock().map(|s| s.total).unwrap_or(0)
    }
}

/// The HTTP listener with connection caps and an idle timeout: a connection over a cap is
/// closed at once, one without traffic for the idle time is closed.
pub struct LimitedListener {
    inner: TcpListener,
    gate: Arc<ConnGate>,
    idle: Duration,
    metrics: Arc<Metrics>,
}

impl LimitedListener {
    /// Wraps a bound listener.
    pub fn new(
        inner: TcpListener,
        max: usize,
        per_source: usize,
        metrics: Arc<Metrics>,
    ) -> axum::serve::TapIo<LimitedListener, fn(&mut IdleStream)> {
        use axum::serve::ListenerExt;
        let l = LimitedListener { inner, gate: ConnGate::new(max, per_source), idle: ConnLimits::default().http_idle, metrics };
        // `tap_io` makes axum hand the peer address to handlers (ConnectInfo) for this type.
        l.tap_io(|_| {})
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = IdleStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (IdleStream, SocketAddr) {
        loop {
            let (sock, peer) = match self.inner.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            match self.gate.admit(peer.ip()) {
                Some(slot) => return (IdleStream::new(sock, self.idle, Some(slot)), peer),
                None => {
                    self.metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "HTTP connection refused: too many open");
                    drop(sock);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A TCP stream that fails with `TimedOut` once nothing was read or written for `idle`,
/// holding its connection slot while open.
pub struct IdleStream {
    inner: TcpStream,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    _slot: Option<Slot>,
}

impl IdleStream {
    fn new(inner: TcpStream, idle: Duration, slot: Option<Slot>) -> IdleStream {
        IdleStream { inner, idle, timer: Box::pin(tokio::time::sleep(idle)), _slot: slot }
    }

    fn touch(&mut self) {
        let at = tokio::time::Instant::now() + self.idle;
        self.timer.as_mut().reset(at);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.timer.as_mut().poll(cx).is_ready()
    }
}

impl AsyncRead for IdleStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                self.touch();
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(std::io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for IdleStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                self.touch();
                Poll::Ready(r)
            }
            // A client that stops reading is timed out like one that stops sending.
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(std::io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                self.touch();
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(std::io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_caps_total_and_per_source_and_gives_back() {
        let g = ConnGate::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let s1 = g.admit(a).unwrap();
        let _s2 = g.admit(a).unwrap();
        assert!(g.admit(a).is_none(), "per-source cap");
        let _s3 = g.admit(b).unwrap();
        assert!(g.admit(b).is_none(), "total cap");
        drop(s1);
        assert_eq!(g.open(), 2);
        assert!(g.admit(b).is_some());
    }
}
