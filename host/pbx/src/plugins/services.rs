//! What a plugin reaches through the host: its key-value store in the database (scoped to
//! its tenant and its name) and outbound HTTP to the hosts its tenant granted.

use super::egress::EgressPolicy;
use pbx_plugin_host::{Contact, HttpRequest, HttpResponse, Services};
use pbx_store::Store;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use ureq::RequestExt;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Largest HTTP response body a plugin receives.
const MAX_BODY: u64 = 1 << 20;

/// Longest a plugin's HTTP request may take (the decision's own budget may be shorter).
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves a plugin's host names itself and keeps only the addresses the egress policy
/// allows; ureq then connects to exactly those.
#[derive(Debug)]
struct PolicyResolver {
    policy: Arc<EgressPolicy>,
}

impl Resolver for PolicyResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let found = DefaultResolver::default().resolve(uri, config, timeout)?;
        let allowed = self.policy.filter(found.iter().copied()).map_err(|why| {
            ureq::Error::Io(std::io::Error::new(std::io::ErrorKind::PermissionDenied, format!("plugins may not connect there: {why}")))
        })?;
        let mut out = self.empty();
        for a in allowed.into_iter().take(16) {
            out.push(a);
        }
        Ok(out)
    }
}

/// Outbound HTTP for plugins: only to addresses the egress policy allows, through no proxy,
/// no redirects (a redirect could lead to a host that was not granted), a deadline that the
/// decision's own budget shortens, bounded bodies.
#[derive(Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
}

impl Default for HttpClient {
    fn default() -> HttpClient {
        HttpClient::new(EgressPolicy::default())
    }
}

impl HttpClient {
    /// A client that enforces `policy`.
    pub fn new(policy: EgressPolicy) -> HttpClient {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(HTTP_TIMEOUT))
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .build();
        let resolver = PolicyResolver { policy: Arc::new(policy) };
        HttpClient { agent: ureq::Agent::with_parts(config, DefaultConnector::default(), resolver) }
    }

    /// Performs a request within `budget` (at most the client's own timeout).
    pub fn send(&self, req: &HttpRequest, budget: Duration) -> Result<HttpResponse, String> {
        if budget.is_zero() {
            return Err("the decision's time is up".into());
        }
        let method = req.method.to_ascii_uppercase();
        let mut b = ureq::http::Request::builder().method(method.as_str()).uri(&req.url);
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        let request = b.body(req.body.clone()).map_err(|e| format!("bad request: {e}"))?;
        let resp = request
            .with_agent(&self.agent)
            .configure()
            .timeout_global(Some(budget.min(HTTP_TIMEOUT)))
            .build()
            .run()
            .map_err(|e| format!("HTTP error: {e}"))?;
        let status = resp.status().as_u16();
        let headers =
            resp.headers().iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
        let mut body = Vec::new();
        resp.into_body().into_reader().take(MAX_BODY).read_to_end(&mut body).map_err(|e| format!("HTTP read error: {e}"))?;
        Ok(HttpResponse { status, headers, body })
    }
}

/// A plugin's services for one decision.
pub struct StoreServices {
    /// Storage (none: a store that keeps nothing).
    pub store: Option<Store>,
    /// The runtime to run storage queries on from the blocking thread.
    pub handle: tokio::runtime::Handle,
    /// Tenant.
    pub tenant_id: i64,
    /// Plugin name.
    pub plugin: String,
    /// HTTP client.
    pub http: HttpClient,
    /// Simulation: reads work, writes and HTTP do not happen.
    pub read_only: bool,
}

impl Services for StoreServices {
    fn kv_get(&self, key: &str) -> Option<String> {
        let store = self.store.as_ref()?;
        match self.handle.block_on(store.kv_get(self.tenant_id, &self.plugin, key)) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, error = %e, "plugin store read failed");
                None
            }
        }
    }

    fn kv_set(&self, key: &str, value: &str) {
        let Some(store) = self.store.as_ref().filter(|_| !self.read_only) else { return };
        if let Err(e) = self.handle.block_on(store.kv_set(self.tenant_id, &self.plugin, key, value)) {
            tracing::warn!(plugin = %self.plugin, error = %e, "plugin store write failed");
        }
    }

    fn kv_delete(&self, key: &str) {
        let Some(store) = self.store.as_ref().filter(|_| !self.read_only) else { return };
        if let Err(e) = self.handle.block_on(store.kv_delete(self.tenant_id, &self.plugin, key)) {
            tracing::warn!(plugin = %self.plugin, error = %e, "plugin store delete failed");
        }
    }

    fn http(&self, req: &HttpRequest, budget: Duration) -> Result<HttpResponse, String> {
        if self.read_only {
            return Err("no HTTP in a simulation".into());
        }
        self.http.send(req, budget)
    }

    fn lines(&self) -> Vec<String> {
        let Some(store) = self.store.as_ref() else { return Vec::new() };
        match self.handle.block_on(store.list_dids(Some(self.tenant_id))) {
            Ok(dids) => dids.into_iter().map(|d| d.number).collect(),
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, error = %e, "city numbers unreadable for a plugin");
                Vec::new()
            }
        }
    }

    fn contact_lookup(&self, number: &str) -> Option<Contact> {
        let store = self.store.as_ref()?;
        let found = self.handle.block_on(async {
            let cc = store.tenant_by_id(self.tenant_id).await?.country_code;
            let Some(n) = pbx_store::numbers::normalize(number.trim(), &cc) else { return Ok(None) };
            match store.contact(self.tenant_id, &n).await {
                Ok(c) => Ok(Some(c)),
                Err(pbx_store::StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        });
        match found {
            Ok(c) => c.map(|c| Contact { number: c.number, name: c.name, company: c.company }),
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, error = %e, "phone book unreadable for a plugin");
                None
            }
        }
    }

    fn contact_put(&self, entry: &Contact) -> Result<(), String> {
        let Some(store) = self.store.as_ref().filter(|_| !self.read_only) else { return Err("no phone book in a simulation".into()) };
        let source = format!("plugin:{}", self.plugin);
        self.handle.block_on(async {
            let cc = store.tenant_by_id(self.tenant_id).await.map_err(|e| e.to_string())?.country_code;
            let checked = pbx_store::NewContact {
                number: entry.number.clone(),
                name: entry.name.clone(),
                company: entry.company.clone(),
                note: String::new(),
            }
            .check(&cc)
            .map_err(|e| e.to_string())?;
            // A plugin keeps its own entries: one the company entered (or another plugin
            // wrote) it leaves alone; the same name again changes nothing (and reloads no
            // directory).
            if let Ok(old) = store.contact(self.tenant_id, checked.number()).await {
                if old.source != source {
                    return Err(format!("the company's phone book names {} already; a plugin does not change that entry", old.number));
                }
                if old.name == checked.name() && old.company == checked.company() {
                    return Ok(());
                }
            }
            store.upsert_contacts(self.tenant_id, std::slice::from_ref(&checked), &source).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }

    fn contact_remove(&self, number: &str) -> bool {
        let Some(store) = self.store.as_ref().filter(|_| !self.read_only) else { return false };
        self.handle.block_on(async {
            let Ok(t) = store.tenant_by_id(self.tenant_id).await else { return false };
            let Some(n) = pbx_store::numbers::normalize(number.trim(), &t.country_code) else { return false };
            // Only its own entries.
            match store.contact(self.tenant_id, &n).await {
                Ok(c) if c.source == format!("plugin:{}", self.plugin) => store.delete_contact(self.tenant_id, &n).await.is_ok(),
                _ => false,
            }
        })
    }
}
