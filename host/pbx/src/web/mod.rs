//! The cabinet: the REST API under `/api/v1` (described by its own OpenAPI document), the
//! live WebSocket and the single-page app embedded in the binary, all on the HTTP listener
//! beside `/metrics`.

pub mod assets;
mod audit_api;
pub mod auth;
mod billing_api;
mod blocklist_api;
mod calls_api;
mod company_api;
mod contacts_api;
pub mod error;
pub mod error_codes;
mod groups_api;
mod hooks;
mod live;
mod missed_api;
pub mod openapi;
mod operator_api;
mod originate_api;
mod paging;
mod phone_api;
mod plugin_settings_api;
mod presence_api;
mod queue_reports_api;
pub mod recording_links;
mod recording_mp3;
pub mod routes;
pub mod sip_ws;
mod tenant_api;
mod tenant_setup_api;
pub mod throttle;
pub mod timeline_codes;
pub mod webhooks_api;

use crate::plugins::PluginRuntime;
use axum::Router;
use pbx_store::Store;
use std::path::PathBuf;
use std::sync::Arc;

/// What every cabinet handler reads.
pub struct WebState {
    /// Storage (the same service layer as the CLI).
    pub store: Store,
    /// The data directory (prompts and recordings).
    pub data_dir: PathBuf,
    /// Failed logins are answered after this delay (slows guessing), ms.
    pub login_delay_ms: u64,
    /// The server's plugin runtime (first-party components compiled once), for validating
    /// and simulating scenarios and drawing plugin nodes.
    pub plugins: Arc<PluginRuntime>,
    /// Slows password guessing per address and account.
    pub throttle: throttle::LoginThrottle,
    /// Key of the device cookies (a browser that signed in to an account before).
    device_key: [u8; 32],
    /// Key that signs shared recording links (kept in the data dir or `PBX_LINK_KEY`).
    link_key: [u8; 32],
    /// The way into the call engine for click-to-call (set by the server that runs one).
    pub originator: std::sync::OnceLock<Arc<crate::originator::Originator>>,
    /// Seals and opens plugin secrets (the operator's key).
    pub secret_box: crate::plugin_settings::SecretBox,
    /// Integration plugins (their inbound webhook addresses), set by the server.
    pub integrations: std::sync::OnceLock<Arc<crate::integrations::Integrations>>,
    /// The way into the call engine for SIP over WebSocket (set by the server that runs one).
    pub sip: std::sync::OnceLock<crate::transport::SipGate>,
    /// STUN/TURN servers the web phone is given (`PBX_WEBRTC_ICE_SERVERS`).
    pub ice_servers: std::sync::OnceLock<Vec<crate::webrtc::IceServer>>,
}

impl WebState {
    /// State over a store, data dir and plugin runtime, with the production login delay; fails
    /// when the key that signs shared links cannot be had.
    pub fn new(store: Store, data_dir: PathBuf, plugins: Arc<PluginRuntime>) -> Result<Arc<WebState>, String> {
        let link_key = recording_links::link_key(&data_dir)?;
        let secret_box = crate::plugin_settings::SecretBox::open_dir(&data_dir)?;
        Ok(Arc::new(WebState {
            store,
            data_dir,
            login_delay_ms: 800,
            plugins,
            throttle: Default::default(),
            device_key: rand::random(),
            link_key,
            originator: std::sync::OnceLock::new(),
            secret_box,
            integrations: std::sync::OnceLock::new(),
            sip: std::sync::OnceLock::new(),
            ice_servers: std::sync::OnceLock::new(),
        }))
    }

    /// The device cookie's value for `account` in this server's key.
    pub fn device_mark(&self, account: &str) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.device_key);
        h.update(account.trim().to_lowercase().as_bytes());
        h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The plugin runtime with every tenant's installed plugins as stored now (components
    /// are compiled once per version; a sync only re-reads the list).
    pub async fn runtime(&self) -> Result<Arc<PluginRuntime>, error::ApiError> {
        self.plugins.sync(&self.store).await?;
        Ok(self.plugins.clone())
    }
}

/// The address a request comes from: the connection's peer, or, when the peer is a proxy the
/// operator trusts (`PBX_TRUSTED_PROXIES`, CIDRs), the last address its `X-Forwarded-For`
/// names that is not itself a trusted proxy. Login throttling and `/metrics` go by it.
pub fn client_ip(extensions: &axum::http::Extensions, headers: &axum::http::HeaderMap) -> Option<std::net::IpAddr> {
    let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())?;
    static TRUSTED: std::sync::OnceLock<Vec<(std::net::IpAddr, u8)>> = std::sync::OnceLock::new();
    let trusted = TRUSTED.get_or_init(|| {
        std::env::var("PBX_TRUSTED_PROXIES").unwrap_or_default().split(',').filter_map(|s| pbx_store::parse_cidr(s.trim())).collect()
    });
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|(net, len)| pbx_store::cidr_contains(*net, *len, ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    let chain: Vec<std::net::IpAddr> = forwarded.filter_map(|s| s.trim().parse().ok()).collect();
    Some(chain.into_iter().rev().find(|ip| !is_trusted(*ip)).unwrap_or(peer))
}

/// The cabinet's router: API, live socket and assets.
pub fn router(state: Arc<WebState>) -> Router {
    routes::api_router(state.clone()).merge(hooks::router(state.clone())).merge(sip_ws::router(state.clone())).merge(assets::router())
}
