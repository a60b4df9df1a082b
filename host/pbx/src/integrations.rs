//! Integration plugins: a plugin a tenant enabled as an integration receives the tenant's
//! call events (`call-lifecycle`, from the same outbox and with the same order, retries and
//! delivery log as webhooks) and requests to its inbound webhook address (`webhook`,
//! answered with `respond`); from both it may place calls (`originate`). It runs outside any
//! call, at gates of its own, so a slow CRM never holds up a call's decisions.

use crate::engine::{OriginateError, OriginateRequest};
use crate::originator::{OriginateFailure, Originator};
use crate::plugins::gates::{PluginGates, decide_gated};
use crate::plugins::{HttpClient, PluginCall, PluginRuntime, StoreServices};
use pbx_plugin_host::{
    CallInfo, Event, HttpRequest, HttpResponse, Lifecycle, OriginateResult, OriginateSpec, PluginError, RecordingLink, TransferInfo,
    UserInfo, Verb,
};
use pbx_store::events::StoredEvent;
use pbx_store::{EventData, IntegrationEvent, Store, now_ms};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest an integration decision may wait at its gates.
const MAX_QUEUE: Duration = Duration::from_secs(10);
/// How long a request to an integration waits for this node to load a change of plugins the
/// company just made.
const CATCH_UP: Duration = Duration::from_secs(3);
/// Largest inbound webhook body.
pub const MAX_HOOK_BODY: usize = 64 << 10;
/// Largest body a plugin's `respond` may send.
const MAX_RESPONSE_BODY: usize = 1 << 20;
/// Inbound webhook requests per second per plugin, sustained (burst: twice that).
const HOOK_RATE: f64 = 10.0;

/// What integration plugins need of the server.
pub struct Integrations {
    store: Store,
    plugins: Arc<PluginRuntime>,
    gates: Arc<PluginGates>,
    http: HttpClient,
    originator: Arc<Originator>,
    buckets: Mutex<HashMap<(String, String), (f64, Instant)>>,
    /// Opens the plugins' secret settings.
    secret_box: crate::plugin_settings::SecretBox,
    /// Tenants' slug and time zone, read at most every few seconds.
    tenants: Mutex<HashMap<i64, (String, String, Instant)>>,
    /// Tenants' directories, read at most every few seconds (every event of a plugin with
    /// the directory grant needs one).
    directories: Mutex<HashMap<i64, (Vec<UserInfo>, Instant)>>,
    /// The parties of recent calls from the call log (a call's events come close together).
    calls: Mutex<HashMap<(i64, String), KnownCall>>,
    /// The cabinet's public address (`PBX_PUBLIC_URL`): a plugin's inbound address as a
    /// portal reaches it is this plus its hook path.
    public_base: String,
}

/// A call as integrations read it from the log: its parties, kind, city number, start, and
/// when it was read.
type KnownCall = (CallInfo, String, Option<String>, i64, Instant);

/// The request header that tells a plugin its inbound address as the world reaches it.
pub const HOOK_URL_HEADER: &str = "x-pbx-hook-url";
/// The request header that marks a request of the company's cabinet (`cabinet`).
pub const CALLER_HEADER: &str = "x-pbx-caller";

/// The call-log kind of calls an integration placed on a call event.
const INTEGRATION_CALL: &str = "integration-call";

/// Why an event did not reach an integration plugin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryFailure {
    /// The plugin cannot run now (disabled, grants missing, removed): the event waits.
    #[error("{0}")]
    Unavailable(String),
    /// The plugin trapped or is not a valid component: the same event would fail again.
    #[error("{0}")]
    Broken(String),
    /// It failed this time (its CRM did not answer, it ran out of time): tried again.
    #[error("{0}")]
    Failed(String),
}

/// Which calls a plugin's answer may place.
enum Originates {
    /// None, and no result event for the ones it asks for (its answer to an originate
    /// result: nothing it says there starts another round).
    Results,
    /// None (a call an integration placed).
    None,
    /// One, once per this key (an event's id).
    One(String),
    /// Up to four (an inbound request).
    Some,
}

/// Why an inbound webhook request got no plugin answer.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// No such tenant, plugin integration or secret (one answer for all: 404).
    #[error("not found")]
    NotFound,
    /// Over the request rate.
    #[error("too many requests")]
    TooMany,
    /// The plugin failed.
    #[error("the plugin failed: {0}")]
    Plugin(#[from] PluginError),
}

impl Integrations {
    /// Integrations over the server's store, plugin runtime, egress client and engine.
    pub fn new(
        store: Store,
        plugins: Arc<PluginRuntime>,
        http: HttpClient,
        originator: Arc<Originator>,
        secret_box: crate::plugin_settings::SecretBox,
    ) -> Integrations {
        Integrations {
            store,
            plugins,
            // A few decisions of one tenant at once (calls delivered side by side, the
            // inbound address meanwhile); the pool is the integrations' own.
            gates: Arc::new(PluginGates::new(crate::integration_rounds::PARALLEL_CALLS, 2)),
            http,
            originator,
            buckets: Mutex::new(HashMap::new()),
            secret_box,
            tenants: Mutex::new(HashMap::new()),
            directories: Mutex::new(HashMap::new()),
            calls: Mutex::new(HashMap::new()),
            public_base: String::new(),
        }
    }

    /// Sets the cabinet's public address, which plugins' inbound requests name.
    pub fn with_public_base(mut self, base: &str) -> Integrations {
        self.public_base = base.trim_end_matches('/').to_string();
        self
    }

    /// Runs one event through a tenant's plugin; returns its verbs.
    async fn run(&self, tenant_id: i64, plugin: &str, call_id: &str, event: Event) -> Result<Vec<Verb>, PluginError> {
        let (slug, timezone) = self.tenant(tenant_id).await.map_err(|e| PluginError::Unavailable(e.to_string()))?;
        let directory = if self.plugins.wants_directory(tenant_id, plugin) { self.directory(tenant_id).await } else { Vec::new() };
        let config = crate::plugin_settings::config_for(&self.store, &self.secret_box, tenant_id, plugin)
            .await
            .map_err(|e| PluginError::Unavailable(format!("its settings cannot be read: {e}")))?;
        let call = PluginCall {
            tenant_id,
            tenant: slug,
            timezone,
            plugin: plugin.to_string(),
            config,
            call_id: call_id.to_string(),
            event,
            directory,
            at_ms: now_ms(),
            pinned: None,
        };
        let services = Arc::new(StoreServices {
            store: Some(self.store.clone()),
            handle: tokio::runtime::Handle::current(),
            tenant_id,
            plugin: plugin.to_string(),
            http: self.http.clone(),
            read_only: false,
        });
        decide_gated(self.gates.clone(), self.plugins.clone(), call, services, MAX_QUEUE).await.result
    }

    /// A call's parties, kind in the log, city number and start (cached for ten seconds: a
    /// call's events come close together).
    async fn call_of(&self, tenant_id: i64, call_id: &str) -> Result<(CallInfo, String, Option<String>, i64), String> {
        let key = (tenant_id, call_id.to_string());
        if let Some((c, kind, did, started, at)) = self.calls.lock().ok().and_then(|m| m.get(&key).cloned())
            && at.elapsed() < Duration::from_secs(10)
        {
            return Ok((c, kind, did, started));
        }
        let row = self.store.call_by_id(tenant_id, call_id).await.map_err(|e| format!("the call is not in the log: {e}"))?;
        let call = CallInfo {
            call_id: row.id.clone(),
            caller_number: row.caller_number.clone(),
            caller_name: row.caller_name.clone(),
            called_number: row.callee.clone(),
            direction: row.direction.as_str().to_string(),
            variables: Vec::new(),
        };
        let did = row.did.clone().filter(|d| !d.is_empty());
        if let Ok(mut m) = self.calls.lock() {
            if m.len() > 20_000 {
                m.retain(|_, v| v.4.elapsed() < Duration::from_secs(10));
            }
            m.insert(key, (call.clone(), row.kind.clone(), did.clone(), row.started_at, Instant::now()));
        }
        Ok((call, row.kind, did, row.started_at))
    }

    /// A tenant's slug and time zone (cached for five seconds: every event needs them).
    async fn tenant(&self, tenant_id: i64) -> Result<(String, String), pbx_store::StoreError> {
        if let Some((slug, tz, at)) = self.tenants.lock().ok().and_then(|m| m.get(&tenant_id).cloned())
            && at.elapsed() < Duration::from_secs(5)
        {
            return Ok((slug, tz));
        }
        let t = self.store.tenant_by_id(tenant_id).await?;
        if let Ok(mut m) = self.tenants.lock() {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(tenant_id, (t.slug.clone(), t.timezone.clone(), Instant::now()));
        }
        Ok((t.slug, t.timezone))
    }

    /// The tenant's users; "available" means registered (a call in progress is not known
    /// here). Read at most every two seconds per tenant.
    async fn directory(&self, tenant_id: i64) -> Vec<UserInfo> {
        if let Some((users, at)) = self.directories.lock().ok().and_then(|m| m.get(&tenant_id).cloned())
            && at.elapsed() < Duration::from_secs(2)
        {
            return users;
        }
        let users = self.store.list_users(tenant_id).await.unwrap_or_default();
        let live: std::collections::HashSet<i64> =
            self.store.live_registrations(now_ms()).await.unwrap_or_default().into_iter().map(|r| r.user_id).collect();
        let dir: Vec<UserInfo> =
            users.into_iter().map(|u| UserInfo { available: live.contains(&u.id), ext: u.ext, name: u.name }).collect();
        if let Ok(mut m) = self.directories.lock() {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(tenant_id, (dir.clone(), Instant::now()));
        }
        dir
    }

    /// Delivers an outbox event to an integration plugin: `Ok` once the plugin took it (an
    /// event its contract has no form for is taken without running it), else why not.
    pub async fn deliver(&self, tenant_id: i64, plugin: &str, ev: &StoredEvent) -> Result<(), DeliveryFailure> {
        let parsed: IntegrationEvent =
            serde_json::from_str(&ev.body).map_err(|e| DeliveryFailure::Broken(format!("unreadable event: {e}")))?;
        // A 0.1 plugin has no form for most kinds: taken without reading the call.
        if let Ok(r) = self.plugins.resolve(tenant_id, plugin)
            && !r.plugin.takes_kind(lifecycle_kind(&parsed.data))
        {
            return Ok(());
        }
        let (lifecycle, kind) = self.lifecycle(tenant_id, &parsed).await.map_err(DeliveryFailure::Failed)?;
        let verbs = match self.run(tenant_id, plugin, &parsed.call_id, Event::CallLifecycle(lifecycle)).await {
            Ok(v) => v,
            Err(e @ PluginError::Unavailable(_)) => return Err(DeliveryFailure::Unavailable(e.to_string())),
            Err(e @ (PluginError::Trap(_) | PluginError::Invalid(_))) => return Err(DeliveryFailure::Broken(e.to_string())),
            Err(e) => return Err(DeliveryFailure::Failed(e.to_string())),
        };
        // A call an integration placed on an event places no more (no loops), and one event
        // places at most one call; the event's id makes a repeat delivery place none.
        let originate = if kind == INTEGRATION_CALL { Originates::None } else { Originates::One(parsed.id.clone()) };
        self.carry_out(tenant_id, plugin, verbs, originate).await;
        Ok(())
    }

    /// The `lifecycle` record of an event, with the call's parties from the call log, and
    /// the call's kind in the log.
    async fn lifecycle(&self, tenant_id: i64, ev: &IntegrationEvent) -> Result<(Lifecycle, String), String> {
        let (call, kind, did, started_ms) = self.call_of(tenant_id, &ev.call_id).await?;
        let mut l = Lifecycle {
            kind: lifecycle_kind(&ev.data).into(),
            event_id: ev.id.clone(),
            seq: u32::try_from(ev.seq).unwrap_or(u32::MAX),
            at_ms: ev.at,
            call,
            started_ms,
            line: did,
            caller_ext: None,
            extensions: Vec::new(),
            reason: String::new(),
            answered_by: None,
            by_pbx: false,
            transfer: None,
            disposition: String::new(),
            sip_code: 0,
            hung_up_by: String::new(),
            talk_seconds: 0,
            via: None,
            recording: None,
            correlation_id: None,
        };
        match &ev.data {
            EventData::Started { line, caller_ext, correlation_id, .. } => {
                l.line = line.clone().or(l.line);
                l.caller_ext = caller_ext.clone();
                l.correlation_id = correlation_id.clone();
            }
            EventData::Ringing { extensions } => l.extensions = extensions.clone(),
            EventData::RingStopped { extensions, reason } => {
                l.extensions = extensions.clone();
                l.reason = reason.replace('_', "-");
            }
            EventData::Answered { extension, by_pbx } => {
                l.answered_by = extension.clone();
                l.by_pbx = *by_pbx;
            }
            EventData::Transferred { from, to, attended } => {
                l.transfer = Some(TransferInfo { from: from.clone(), to: to.clone(), attended: *attended });
            }
            EventData::Ended {
                disposition,
                sip_code,
                hangup_side,
                talk_seconds,
                started_at,
                line,
                via,
                answered_by,
                correlation_id,
                ..
            } => {
                l.disposition = disposition.as_str().to_string();
                l.sip_code = *sip_code;
                l.hung_up_by = hangup_side.clone();
                l.talk_seconds = u32::try_from((*talk_seconds).max(0)).unwrap_or(u32::MAX);
                l.started_ms = *started_at;
                l.line = line.clone().or(l.line);
                l.via = via.clone();
                l.answered_by = answered_by.clone();
                l.correlation_id = correlation_id.clone();
            }
            EventData::RecordingReady { url, duration_seconds, expires_at } => {
                l.recording = Some(RecordingLink {
                    url: url.clone(),
                    duration_seconds: u32::try_from((*duration_seconds).max(0)).unwrap_or(u32::MAX),
                    expires_ms: *expires_at,
                });
            }
            // Webhooks only: no plugin contract subscribes to it.
            EventData::Missed { .. } => {}
        }
        Ok((l, kind))
    }

    /// Carries out what a plugin answered outside a call: `originate` places calls (and
    /// the plugin hears what became of each, in an `originate-result` event), `respond` is
    /// returned (the first one), anything else is logged and ignored.
    async fn carry_out(&self, tenant_id: i64, plugin: &str, verbs: Vec<Verb>, originates: Originates) -> Option<HttpResponse> {
        let mut response = None;
        let mut placed = 0;
        let mut results = Vec::new();
        let cap = match originates {
            Originates::Results | Originates::None => 0,
            Originates::One(_) => 1,
            Originates::Some => 4,
        };
        for verb in verbs.into_iter().take(32) {
            match verb {
                Verb::Originate(spec) if placed >= cap => {
                    tracing::warn!(plugin, from = %spec.from_ext, "an integration's call not placed: no more calls from this event");
                    if !matches!(originates, Originates::Results) {
                        results.push(result_of(&spec, Err(("limit", "this event may place no more calls".to_string()))));
                    }
                }
                Verb::Originate(spec) => {
                    placed += 1;
                    let (kind, dedup_key) = match &originates {
                        Originates::One(key) => (INTEGRATION_CALL, Some(format!("{plugin}:{key}"))),
                        _ => ("click-to-call", None),
                    };
                    let req = OriginateRequest {
                        tenant_id,
                        ext: spec.from_ext.clone(),
                        number: spec.to_number.clone(),
                        line: spec.line.clone().filter(|l| !l.is_empty()),
                        correlation_id: spec.correlation_id.clone().filter(|c| !c.is_empty()),
                        ring: None,
                        kind,
                        dedup_key,
                    };
                    let outcome = match self.originator.originate(req).await {
                        Ok(id) => {
                            tracing::info!(plugin, call = %id, from = %spec.from_ext, "integration placed a call");
                            Ok(id)
                        }
                        Err(OriginateFailure::Refused(e)) => {
                            tracing::info!(plugin, error = %e, from = %spec.from_ext, "integration's call not placed");
                            Err((refusal_code(&e), e.to_string()))
                        }
                        Err(e) => {
                            tracing::warn!(plugin, error = %e, "integration's call not placed");
                            Err(("unavailable", e.to_string()))
                        }
                    };
                    results.push(result_of(&spec, outcome));
                }
                Verb::Respond(r) if response.is_none() => response = Some(r),
                other => {
                    tracing::warn!(plugin, verb = crate::plugins::verb_name(&other), "a verb that means nothing outside a call: ignored")
                }
            }
        }
        // The results go to the plugin once each; what it answers places nothing more and
        // hears of no more results (no rounds).
        for r in results.into_iter().take(4) {
            let call_id = r.call_id.clone().unwrap_or_default();
            match self.run(tenant_id, plugin, &call_id, Event::OriginateResult(r)).await {
                Ok(verbs) if !verbs.is_empty() => {
                    Box::pin(self.carry_out(tenant_id, plugin, verbs, Originates::Results)).await;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(plugin, error = %e, "an integration failed on an originate result"),
            }
        }
        response
    }

    /// Whether one more inbound request of this plugin fits its rate.
    fn admit(&self, tenant: &str, plugin: &str) -> bool {
        let Ok(mut b) = self.buckets.lock() else { return false };
        if b.len() > 10_000 {
            b.clear();
        }
        let now = Instant::now();
        let (tokens, at) = b.entry((tenant.to_string(), plugin.to_string())).or_insert((HOOK_RATE * 2.0, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * HOOK_RATE).min(HOOK_RATE * 2.0);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// An inbound request to `/hooks/{tenant}/{plugin}/{secret}/...`: rate-limited (before
    /// any lookup), checked, handed to the plugin as a `webhook` event; its `respond` is the
    /// answer (204 without). A suspended company's integrations do not answer.
    pub async fn hook(&self, tenant_slug: &str, plugin: &str, secret: &str, req: HttpRequest) -> Result<HttpResponse, HookError> {
        if tenant_slug.len() > 64 || plugin.len() > 64 || secret.len() > 128 {
            return Err(HookError::NotFound);
        }
        if !self.admit(tenant_slug, plugin) {
            return Err(HookError::TooMany);
        }
        let tenant = self.store.tenant_by_slug(tenant_slug).await.map_err(|_| HookError::NotFound)?;
        let (row, stored) = self.store.integration(tenant.id, plugin).await.ok().flatten().ok_or(HookError::NotFound)?;
        if !row.enabled || tenant.status == pbx_store::TenantStatus::Suspended || !constant_time_eq(stored.as_bytes(), secret.as_bytes()) {
            return Err(HookError::NotFound);
        }
        self.answer(tenant.id, tenant_slug, plugin, secret, req, false).await
    }

    /// A request of the company's cabinet to its integration (a connector's state, set-up
    /// and disconnect pages), at `/api/v1/plugins/{name}/integration/admin/{rest}`: the
    /// plugin sees it at its inbound address with the header `x-pbx-caller: cabinet`,
    /// which no request from outside can carry.
    pub async fn admin(&self, tenant_id: i64, plugin: &str, rest: &str, mut req: HttpRequest) -> Result<HttpResponse, HookError> {
        let tenant = self.store.tenant_by_id(tenant_id).await.map_err(|_| HookError::NotFound)?;
        let (row, secret) = self.store.integration(tenant.id, plugin).await.ok().flatten().ok_or(HookError::NotFound)?;
        if !row.enabled || rest.len() > 256 {
            return Err(HookError::NotFound);
        }
        req.url = format!("/hooks/{}/{plugin}/{secret}/{}", tenant.slug, rest.trim_start_matches('/'));
        self.answer(tenant.id, &tenant.slug, plugin, &secret, req, true).await
    }

    /// Runs a request to a plugin's inbound address and carries out its answer.
    async fn answer(
        &self,
        tenant_id: i64,
        tenant_slug: &str,
        plugin: &str,
        secret: &str,
        mut req: HttpRequest,
        from_cabinet: bool,
    ) -> Result<HttpResponse, HookError> {
        // The plugin's own public address, so it can give it to a portal (event handlers),
        // and who asks; headers of those names from outside are dropped.
        req.headers.retain(|(k, _)| !k.to_ascii_lowercase().starts_with("x-pbx-"));
        req.headers.push((HOOK_URL_HEADER.into(), format!("{}/hooks/{tenant_slug}/{plugin}/{secret}", self.public_base)));
        if from_cabinet {
            req.headers.push((CALLER_HEADER.into(), "cabinet".into()));
        }
        let verbs = match self.run(tenant_id, plugin, "", Event::Webhook(req.clone())).await {
            // The company may have just installed, granted or enabled the plugin: once this
            // node has loaded that change, the request is tried again.
            Err(PluginError::Unavailable(_)) if self.plugins.catch_up(&self.store, CATCH_UP).await => {
                self.run(tenant_id, plugin, "", Event::Webhook(req)).await?
            }
            r => r?,
        };
        let mut resp = self.carry_out(tenant_id, plugin, verbs, Originates::Some).await.unwrap_or(HttpResponse {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        });
        if !(200..=599).contains(&resp.status) {
            resp.status = 502;
        }
        resp.body.truncate(MAX_RESPONSE_BODY);
        Ok(resp)
    }
}

/// The contract's name of an event kind (`call.ring_stopped` is `ring-stopped`).
fn lifecycle_kind(data: &EventData) -> &'static str {
    match data {
        EventData::Started { .. } => "started",
        EventData::Ringing { .. } => "ringing",
        EventData::RingStopped { .. } => "ring-stopped",
        EventData::Answered { .. } => "answered",
        EventData::Transferred { .. } => "transferred",
        EventData::Ended { .. } => "ended",
        EventData::RecordingReady { .. } => "recording-ready",
        // Not among the kinds a plugin subscribes to (see `kinds_for`).
        EventData::Missed { .. } => "missed",
    }
}

/// The contract's code for why a call was not placed.
fn refusal_code(e: &OriginateError) -> &'static str {
    match e {
        OriginateError::Tenant => "suspended",
        OriginateError::NoUser => "no-user",
        OriginateError::NotRegistered => "not-registered",
        OriginateError::TargetNotRegistered => "target-not-registered",
        OriginateError::BadNumber => "bad-number",
        OriginateError::BadLine => "bad-line",
        OriginateError::BadCorrelation => "bad-correlation",
        OriginateError::Balance => "no-balance",
        OriginateError::NoTrunk => "no-trunk",
        OriginateError::NoMedia | OriginateError::Busy => "busy",
    }
}

/// The `originate-result` event of an attempt.
fn result_of(spec: &OriginateSpec, outcome: Result<String, (&'static str, String)>) -> OriginateResult {
    let (call_id, error, message) = match outcome {
        Ok(id) => (Some(id), None, "placed".to_string()),
        Err((code, message)) => (None, Some(code.to_string()), message),
    };
    OriginateResult {
        correlation_id: spec.correlation_id.clone(),
        from_ext: spec.from_ext.clone(),
        to_number: spec.to_number.clone(),
        call_id,
        error,
        message,
    }
}

/// The event kinds an integration plugin of a contract receives.
pub fn kinds_for(contract: &str) -> &'static [&'static str] {
    if contract == "0.1" { pbx_store::webhooks::PLUGIN_KINDS } else { pbx_store::webhooks::PLUGIN_KINDS_0_2 }
}

/// The contract of an installed plugin, from its stored self-description (0.1 for those
/// installed before the host recorded it).
pub fn stored_contract(row: &pbx_store::PluginRow) -> String {
    let meta: serde_json::Value = serde_json::from_str(&row.metadata).unwrap_or_default();
    meta["contract"].as_str().unwrap_or("0.1").to_string()
}

/// An integration as the cabinet, the API and the CLI show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IntegrationStatus {
    /// Plugin name.
    pub plugin: String,
    /// Whether it receives the tenant's call events and its inbound address works.
    pub enabled: bool,
    /// Its inbound webhook address (path under the cabinet's address; keep it secret).
    pub hook_path: String,
    /// Failed attempts at the event it is stuck on.
    pub attempts: i64,
    /// The last failure.
    pub last_error: String,
    /// The event kinds it receives.
    pub events: Vec<String>,
}

/// Enables or disables a tenant's installed plugin as an integration (the service the API
/// and the CLI share); the first enabling makes the secret of its inbound address.
pub async fn set_integration(
    store: &Store,
    tenant_id: i64,
    plugin: &str,
    enabled: bool,
    rotate: bool,
) -> Result<IntegrationStatus, pbx_store::StoreError> {
    // The plugin must exist to be switched on (or to be given an address).
    let row = match store.plugin(tenant_id, plugin).await {
        Ok(r) => Some(r),
        Err(e) if enabled || store.integration(tenant_id, plugin).await?.is_none() => return Err(e),
        Err(_) => None,
    };
    let kinds = kinds_for(&row.as_ref().map(stored_contract).unwrap_or_else(|| "0.1".into()));
    let secret = {
        use rand::Rng;
        let bytes: [u8; 24] = rand::rng().random();
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    store.set_integration(tenant_id, plugin, enabled, &secret, rotate, kinds).await?;
    integration_status(store, tenant_id, plugin).await
}

/// A tenant's integration of a plugin (disabled and without an address if never enabled).
pub async fn integration_status(store: &Store, tenant_id: i64, plugin: &str) -> Result<IntegrationStatus, pbx_store::StoreError> {
    let tenant = store.tenant_by_id(tenant_id).await?;
    let row = store.integration(tenant_id, plugin).await?;
    Ok(match row {
        Some((row, secret)) => IntegrationStatus {
            plugin: plugin.to_string(),
            enabled: row.enabled,
            hook_path: format!("/hooks/{}/{plugin}/{secret}", tenant.slug),
            attempts: row.attempts,
            last_error: row.last_error,
            events: row.events,
        },
        None => IntegrationStatus {
            plugin: plugin.to_string(),
            enabled: false,
            hook_path: String::new(),
            attempts: 0,
            last_error: String::new(),
            events: kinds_for(&stored_contract(&store.plugin(tenant_id, plugin).await?)).iter().map(|k| k.to_string()).collect(),
        },
    })
}

/// Compares secrets without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
