//! Settings shared by every command (`PBX_*` environment variables or flags).

use clap::Args;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Where the PBX keeps its data.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Data directory (SQLite database, recordings, prompts).
    #[arg(long, env = "PBX_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,
    /// Database URL: sqlite://PATH (default: DATA_DIR/pbx.db) or postgres://...
    #[arg(long, env = "PBX_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

impl Common {
    /// The database URL, defaulting to SQLite in the data dir (created if missing).
    pub fn database_url(&self) -> anyhow::Result<String> {
        if let Some(u) = &self.database_url
            && !u.is_empty()
        {
            return Ok(u.clone());
        }
        std::fs::create_dir_all(&self.data_dir).map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", self.data_dir.display()))?;
        Ok(format!("sqlite://{}/pbx.db", self.data_dir.display()))
    }
}

/// Settings of `pbx serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// SIP listen address (UDP and TCP).
    #[arg(long, env = "PBX_SIP_LISTEN", default_value = "0.0.0.0:5060")]
    pub sip_listen: SocketAddr,
    /// SIP over TLS listen address.
    #[arg(long, env = "PBX_SIP_TLS_LISTEN")]
    pub sip_tls_listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM).
    #[arg(long, env = "PBX_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "PBX_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// HTTP listen address (metrics, health, cabinet).
    #[arg(long, env = "PBX_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    pub http_listen: SocketAddr,
    /// RTP port range, e.g. 20000-29999.
    #[arg(long, env = "PBX_RTP_PORTS", default_value = "20000-29999")]
    pub rtp_ports: String,
    /// First UDP port of browsers' WebRTC media (ICE, DTLS-SRTP): one port per media worker
    /// from it (`PBX_MEDIA_WORKERS`, default: the cores), browser calls spread over them; 0
    /// takes any free ports (set one when a firewall sits in front).
    #[arg(long, env = "PBX_WEBRTC_PORT", default_value_t = 0)]
    pub webrtc_port: u16,
    /// Address browsers send their media to (the WebRTC host candidate), when it is not
    /// `PBX_PUBLIC_IP`: browsers on another network than the SIP trunks and desk phones.
    #[arg(long, env = "PBX_WEBRTC_IP")]
    pub webrtc_ip: Option<IpAddr>,
    /// STUN/TURN servers handed to browsers' phones (for users behind strict NAT), as the
    /// JSON of RTCPeerConnection's `iceServers`, e.g.
    /// `[{"urls":"turn:turn.example.org:3478","username":"u","credential":"p"}]`.
    #[arg(long, env = "PBX_WEBRTC_ICE_SERVERS")]
    pub webrtc_ice_servers: Option<String>,
    /// Address written into SDP, Via and Contact (default: the SIP listen address, or the
    /// primary interface's address when listening on all).
    #[arg(long, env = "PBX_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,
    /// This node's name in the call log (default: the host name).
    #[arg(long, env = "PBX_NODE_ID")]
    pub node_id: Option<String>,
    /// Seconds a callee rings before the caller hears 480 (at most 600).
    #[arg(long, env = "PBX_RING_TIMEOUT", default_value_t = 60)]
    pub ring_timeout: u64,
    /// Seconds without RTP after which an answered call is ended.
    #[arg(long, env = "PBX_RTP_TIMEOUT", default_value_t = 60)]
    pub rtp_timeout: u64,
    /// Where media goes before a leg's own RTP confirmed its address: `signal-source` (the
    /// SDP's address only when the signalling came from it) or `latched` (nowhere until RTP
    /// from the leg arrived). Either way a forged SDP cannot aim media at a third party.
    #[arg(long, env = "PBX_MEDIA_SEND_POLICY", default_value = "signal-source")]
    pub media_send_policy: String,
    /// Media worker threads (default: one per core).
    #[arg(long, env = "PBX_MEDIA_WORKERS")]
    pub media_workers: Option<usize>,
    /// Digest algorithms offered in challenges, preferred first (RFC 8760), e.g.
    /// `SHA-256,MD5`. Answers in either algorithm are always accepted; the default offers
    /// MD5 only because some deployed phones (baresip 1.0, older firmware) fail outright
    /// when a SHA-256 challenge is present.
    #[arg(long, env = "PBX_DIGEST_ALGORITHMS", default_value = "MD5")]
    pub digest_algorithms: String,
    /// Authentication failures from one address before answers are slowed.
    #[arg(long, env = "PBX_AUTH_SLOW_AFTER", default_value_t = 5)]
    pub auth_slow_after: u32,
    /// Authentication failures from one address before it is blocked.
    #[arg(long, env = "PBX_AUTH_BLOCK_AFTER", default_value_t = 20)]
    pub auth_block_after: u32,
    /// Seconds a blocked address stays blocked.
    #[arg(long, env = "PBX_AUTH_BLOCK_SECS", default_value_t = 600)]
    pub auth_block_secs: u64,
    /// Calls one user may place at once (0: no cap).
    #[arg(long, env = "PBX_MAX_CALLS_PER_USER", default_value_t = 8)]
    pub max_calls_per_user: u32,
    /// Calls of one company at once (0: no cap).
    #[arg(long, env = "PBX_MAX_CALLS_PER_TENANT", default_value_t = 200)]
    pub max_calls_per_tenant: u32,
    /// Calls over one trunk at once (0: no cap).
    #[arg(long, env = "PBX_MAX_CALLS_PER_TRUNK", default_value_t = 300)]
    pub max_calls_per_trunk: u32,
    /// Media sessions kept for companies with fewer calls than this: when only this many
    /// are left, a company holding this many or more gets no more.
    #[arg(long, env = "PBX_MEDIA_RESERVE", default_value_t = 16)]
    pub media_reserve: u32,
    /// SIP TCP/TLS connections held at once (lowered to a quarter of the open-files limit).
    #[arg(long, env = "PBX_SIP_MAX_CONNECTIONS", default_value_t = 4096)]
    pub sip_max_connections: usize,
    /// SIP TCP/TLS connections held at once from one address.
    #[arg(long, env = "PBX_SIP_MAX_CONNECTIONS_PER_SOURCE", default_value_t = 256)]
    pub sip_max_connections_per_source: usize,
    /// Seconds a SIP connection without a registration may stay silent before it is closed
    /// (a connection carrying a registration stays until the registration expires).
    #[arg(long, env = "PBX_SIP_IDLE_SECS", default_value_t = 120)]
    pub sip_idle_secs: u64,
    /// HTTP connections held at once (lowered to an eighth of the open-files limit).
    #[arg(long, env = "PBX_HTTP_MAX_CONNECTIONS", default_value_t = 1024)]
    pub http_max_connections: usize,
    /// HTTP connections held at once from one address.
    #[arg(long, env = "PBX_HTTP_MAX_CONNECTIONS_PER_SOURCE", default_value_t = 64)]
    pub http_max_connections_per_source: usize,
    /// Execution time a plugin gets for one decision, in milliseconds of its own running
    /// (time in host calls such as HTTP does not count); past it the call takes the error
    /// route.
    #[arg(long, env = "PBX_PLUGIN_DEADLINE_MS", default_value_t = 50)]
    pub plugin_deadline_ms: u64,
    /// Wall-clock time of one plugin decision including its HTTP and storage calls, in
    /// milliseconds; past it the call takes the error route and the plugin's requests stop.
    #[arg(long, env = "PBX_PLUGIN_WALL_MS", default_value_t = 1500)]
    pub plugin_wall_ms: u64,
    /// Plugin decisions running at once for one tenant (the others wait), so that one
    /// tenant's plugins cannot take the pool every tenant shares.
    #[arg(long, env = "PBX_PLUGIN_TENANT_CONCURRENCY", default_value_t = 2)]
    pub plugin_tenant_concurrency: usize,
    /// The cabinet's address as integrations reach it, e.g. `https://pbx.example.com`, for the
    /// links events carry (default: `http://<public IP>:<HTTP port>`).
    #[arg(long, env = "PBX_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// First wait before a failed webhook delivery is tried again, ms (doubles per failure).
    #[arg(long, env = "PBX_WEBHOOK_RETRY_MS", default_value_t = 2000)]
    pub webhook_retry_ms: u64,
}

/// Parses `MIN-MAX`.
pub fn parse_port_range(s: &str) -> anyhow::Result<(u16, u16)> {
    let (a, b) = s.split_once('-').ok_or_else(|| anyhow::anyhow!("PBX_RTP_PORTS must look like 20000-29999, got {s:?}"))?;
    let (a, b): (u16, u16) = (a.trim().parse()?, b.trim().parse()?);
    if a >= b || b - a < 3 {
        anyhow::bail!("PBX_RTP_PORTS range {s:?} is empty or too small");
    }
    Ok((a, b))
}

/// The address to advertise when listening on a wildcard: the one the kernel would use to
/// reach the outside, else loopback.
pub fn default_public_ip(listen: IpAddr) -> IpAddr {
    if !listen.is_unspecified() {
        return listen;
    }
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| {
        s.connect("192.0.2.1:9")?;
        s.local_addr()
    });
    match probe {
        Ok(a) if !a.ip().is_unspecified() => a.ip(),
        _ => IpAddr::from([127, 0, 0, 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("20000-29999").unwrap(), (20000, 29999));
        assert!(parse_port_range("3000").is_err());
        assert!(parse_port_range("5-4").is_err());
    }
}
