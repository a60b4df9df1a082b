//! The plugin runtime as the PBX uses it: the first-party components embedded in the
//! binary, the components tenants installed (compiled once per content hash, swapped in
//! atomically when a tenant upgrades, so live calls are never stalled), and one decision at
//! a time carried out on a blocking thread with the tenant's clock, directory, key-value
//! store and granted HTTP hosts.

pub mod admin;
pub mod egress;
pub mod gates;
mod services;

pub use egress::EgressPolicy;
pub use services::{HttpClient, StoreServices};

use crate::metrics::Metrics;
use pbx_plugin_host::{Capability, Context, Event, Limits, LoadedPlugin, LocalTime, PluginError, PluginHost, UserInfo, Verb};
use pbx_store::{Grants, Store};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One decision the call engine asks for.
#[derive(Debug, Clone)]
pub struct PluginCall {
    /// Tenant id.
    pub tenant_id: i64,
    /// Tenant slug (logs, metrics).
    pub tenant: String,
    /// The tenant's IANA time zone.
    pub timezone: String,
    /// Plugin name.
    pub plugin: String,
    /// Node configuration (JSON).
    pub config: String,
    /// Call id (logs).
    pub call_id: String,
    /// What happened.
    pub event: Event,
    /// The tenant's users (filled only when the plugin may see them).
    pub directory: Vec<UserInfo>,
    /// The moment of the decision, ms since the epoch.
    pub at_ms: i64,
    /// The version this call used for its earlier decisions: a live call keeps the version
    /// it started with when the tenant upgrades the plugin.
    pub pinned: Option<Pinned>,
}

/// A plugin version held by a live call.
#[derive(Clone)]
pub struct Pinned(pub Arc<LoadedPlugin>);

impl std::fmt::Debug for Pinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0.metadata.name, self.0.metadata.version)
    }
}

/// A decision and the plugin version that made it.
#[derive(Debug)]
pub struct Decision {
    /// The verbs, or why there are none.
    pub result: Result<Vec<Verb>, PluginError>,
    /// The version used (for the call to keep).
    pub version: Option<Pinned>,
}

/// A plugin a tenant installed, as loaded.
#[derive(Clone)]
struct Installed {
    plugin: Arc<LoadedPlugin>,
    grants: Grants,
    enabled: bool,
}

/// The runtime shared by the engine's decisions, the CLI's validation and the simulator.
pub struct PluginRuntime {
    host: PluginHost,
    builtins: HashMap<String, Arc<LoadedPlugin>>,
    installed: RwLock<HashMap<(i64, String), Installed>>,
    compiled: RwLock<HashMap<String, Arc<LoadedPlugin>>>,
    metrics: Arc<Metrics>,
    /// The configuration version the installed plugins were last loaded at (the reloader
    /// sets it), so a request can wait for a change the same company just made.
    synced: tokio::sync::watch::Sender<i64>,
    /// Wakes the reloader at once when a request finds the runtime behind the store.
    reload: tokio::sync::Notify,
}

/// A plugin resolved for a tenant, with what it may use.
pub struct Resolved {
    /// The component.
    pub plugin: Arc<LoadedPlugin>,
    /// What it may use.
    pub grants: Grants,
}

/// What a plugin's metadata asks for, as grants (first-party plugins get what they ask,
/// except HTTP, which only a tenant can grant).
fn declared(meta: &pbx_plugin_host::Metadata) -> Grants {
    let mut g = Grants::default();
    for c in &meta.capabilities {
        match c {
            Capability::Directory => g.directory = true,
            Capability::Kv => g.kv = true,
            Capability::Contacts => g.contacts = true,
            Capability::Http(_) => {}
        }
    }
    g
}

/// Capabilities asked for but not granted, in words.
pub fn missing_grants(meta: &pbx_plugin_host::Metadata, g: &Grants) -> Vec<String> {
    let mut out = Vec::new();
    for c in &meta.capabilities {
        match c {
            Capability::Directory if !g.directory => out.push("directory".to_string()),
            Capability::Kv if !g.kv => out.push("kv".to_string()),
            Capability::Contacts if !g.contacts => out.push("contacts".to_string()),
            Capability::Http(hosts) => {
                for h in hosts {
                    if !g.http.iter().any(|x| x.eq_ignore_ascii_case(h)) {
                        out.push(format!("http:{h}"));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The tenant's local time at `at_ms` in `timezone` (UTC when the zone is unknown).
pub fn local_time(at_ms: i64, timezone: &str) -> LocalTime {
    let tz = jiff::tz::TimeZone::get(timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let ts = jiff::Timestamp::from_millisecond(at_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let z = ts.to_zoned(tz);
    LocalTime {
        unix_ms: at_ms,
        year: z.year(),
        month: z.month() as u8,
        day: z.day() as u8,
        hour: z.hour() as u8,
        minute: z.minute() as u8,
        second: z.second() as u8,
        weekday: z.weekday().to_monday_one_offset() as u8,
        timezone: timezone.to_string(),
    }
}

impl PluginRuntime {
    /// A runtime with the first-party plugins loaded; `max_instances` bounds concurrent
    /// decisions.
    pub fn new(limits: Limits, max_instances: u32, metrics: Arc<Metrics>) -> Result<PluginRuntime, PluginError> {
        let host = PluginHost::new(limits, max_instances)?;
        let mut builtins = HashMap::new();
        for b in pbx_bundled_plugins::FIRST_PARTY {
            let p = host.load(b.wasm)?;
            builtins.insert(p.metadata.name.clone(), p);
        }
        Ok(PluginRuntime {
            host,
            builtins,
            installed: RwLock::default(),
            compiled: RwLock::default(),
            metrics,
            synced: tokio::sync::watch::Sender::new(i64::MIN),
            reload: tokio::sync::Notify::new(),
        })
    }

    /// The low-level runtime (loading uploads, benchmarks).
    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    /// The first-party plugins, by name.
    pub fn builtins(&self) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        let mut v: Vec<&Arc<LoadedPlugin>> = self.builtins.values().collect();
        v.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        v.into_iter()
    }

    /// Loads the tenants' installed plugins from storage: new or upgraded components are
    /// compiled (off the async threads) before they replace the old ones.
    pub async fn sync(self: &Arc<Self>, store: &Store) -> anyhow::Result<()> {
        self.sync_tenant(store, None).await
    }

    /// Records that the plugins of configuration `version` are loaded (the reloader).
    pub fn mark_synced(&self, version: i64) {
        self.synced.send_replace(version);
    }

    /// Resolves once the reloader is asked to look at the store now (see [`PluginRuntime::catch_up`]).
    pub async fn reload_requested(&self) {
        self.reload.notified().await;
    }

    /// Waits (at most `limit`) until the plugins of the store's current configuration are
    /// loaded; true if they are. A request right after the company installed, granted or
    /// enabled a plugin then sees that change instead of the state before it.
    pub async fn catch_up(&self, store: &Store, limit: std::time::Duration) -> bool {
        let Ok(current) = store.config_version().await else { return false };
        let mut rx = self.synced.subscribe();
        if *rx.borrow() >= current {
            return true;
        }
        self.reload.notify_one();
        tokio::time::timeout(limit, rx.wait_for(|v| *v >= current)).await.is_ok_and(|r| r.is_ok())
    }

    /// [`PluginRuntime::sync`] for one tenant only (the CLI), or all.
    pub async fn sync_tenant(self: &Arc<Self>, store: &Store, tenant_id: Option<i64>) -> anyhow::Result<()> {
        let rows = store.list_plugins(tenant_id).await?;
        let mut next = HashMap::new();
        let mut live = std::collections::HashSet::new();
        for r in rows {
            live.insert(r.sha256.clone());
            let cached = self.compiled.read().ok().and_then(|c| c.get(&r.sha256).cloned());
            let plugin = match cached {
                Some(p) => p,
                None => {
                    let wasm = store.plugin_wasm(r.id).await?;
                    let me = self.clone();
                    // Compiling takes seconds of CPU: the bounded pool keeps it off the
                    // async threads and leaves the other cores to calls.
                    let loaded = pbx_store::blocking::run(move || me.host.load(&wasm)).await?;
                    match loaded {
                        Ok(p) => {
                            if let Ok(mut c) = self.compiled.write() {
                                c.insert(r.sha256.clone(), p.clone());
                            }
                            p
                        }
                        Err(e) => {
                            tracing::error!(tenant = r.tenant_id, plugin = %r.name, error = %e, "cannot load an installed plugin");
                            continue;
                        }
                    }
                }
            };
            next.insert((r.tenant_id, r.name.clone()), Installed { plugin, grants: r.grants, enabled: r.enabled });
        }
        // Components no tenant uses any more are forgotten.
        if let Ok(mut c) = self.compiled.write() {
            c.retain(|sha, _| live.contains(sha));
        }
        if let Ok(mut m) = self.installed.write() {
            *m = next;
        }
        Ok(())
    }

    /// Adds (or replaces) one tenant's plugin without going through storage (the CLI's
    /// validation of a scenario that uses a plugin being installed).
    pub fn put(&self, tenant_id: i64, plugin: Arc<LoadedPlugin>, grants: Grants) {
        if let Ok(mut m) = self.installed.write() {
            m.insert((tenant_id, plugin.metadata.name.clone()), Installed { plugin, grants, enabled: true });
        }
    }

    /// The plugin a tenant's scenario means by `name`: its own installed one first, then a
    /// first-party one.
    pub fn resolve(&self, tenant_id: i64, name: &str) -> Result<Resolved, String> {
        let installed = self.installed.read().ok().and_then(|m| m.get(&(tenant_id, name.to_string())).cloned());
        if let Some(i) = installed {
            if !i.enabled {
                return Err(format!("the plugin {name} is disabled"));
            }
            let missing = missing_grants(&i.plugin.metadata, &i.grants);
            if !missing.is_empty() {
                return Err(format!("the plugin {name} needs grants first: {}", missing.join(", ")));
            }
            return Ok(Resolved { plugin: i.plugin, grants: i.grants });
        }
        match self.builtins.get(name) {
            Some(p) => Ok(Resolved { plugin: p.clone(), grants: declared(&p.metadata) }),
            None => Err(format!("there is no plugin {name:?}")),
        }
    }

    /// Whether a tenant's plugin may see the directory (the engine fills it only then).
    pub fn wants_directory(&self, tenant_id: i64, name: &str) -> bool {
        self.resolve(tenant_id, name).is_ok_and(|r| r.grants.directory)
    }

    /// Makes one decision (blocking: run it on a blocking thread); failures are counted
    /// per tenant and plugin.
    pub fn decide(&self, call: PluginCall, services: Arc<dyn pbx_plugin_host::Services>) -> Decision {
        let resolved = match self.resolve(call.tenant_id, &call.plugin) {
            Ok(r) => r,
            Err(e) => {
                self.metrics.plugin_outcome(&call.tenant, &call.plugin, Some("unavailable"));
                return Decision { result: Err(PluginError::Unavailable(e)), version: None };
            }
        };
        // Grants are always the current ones; the code is the version the call started with.
        let plugin = call.pinned.map(|p| p.0).unwrap_or(resolved.plugin);
        let ctx = Context {
            tenant: call.tenant.clone(),
            plugin: call.plugin.clone(),
            call_id: call.call_id.clone(),
            config: call.config,
            now: local_time(call.at_ms, &call.timezone),
            directory: if resolved.grants.directory { call.directory } else { Vec::new() },
            http_hosts: resolved.grants.http.clone(),
            directory_granted: resolved.grants.directory,
            kv_granted: resolved.grants.kv,
            contacts_granted: resolved.grants.contacts,
            services,
        };
        let r = self.host.handle(&plugin, ctx, &call.event);
        let kind = r.as_ref().err().map(|e| match e {
            PluginError::Deadline => "deadline",
            PluginError::Trap(_) => "trap",
            PluginError::Refused(_) => "refused",
            PluginError::Invalid(_) | PluginError::Unavailable(_) => "unavailable",
        });
        self.metrics.plugin_outcome(&call.tenant, &call.plugin, kind);
        Decision { result: r, version: Some(Pinned(plugin)) }
    }

    /// The outputs of a node of `name` with `config` for a tenant, after checking the
    /// configuration against the plugin's schema.
    pub fn node_outputs(&self, tenant_id: i64, name: &str, config: &serde_json::Value) -> Result<Vec<String>, String> {
        let r = self.resolve(tenant_id, name)?;
        let schema: serde_json::Value =
            serde_json::from_str(&r.plugin.metadata.config_schema).map_err(|e| format!("the plugin {name} has an invalid schema: {e}"))?;
        pbx_plugin_host::schema::validate(&schema, config)?;
        let ctx = Context::minimal(&config.to_string());
        self.host.outputs(&r.plugin, ctx).map_err(|e| format!("{name} refuses this configuration: {e}"))
    }
}

/// A verb's name, for errors and logs.
pub fn verb_name(v: &Verb) -> &'static str {
    match v {
        Verb::Answer => "answer",
        Verb::Play(_) => "play",
        Verb::Gather(_) => "gather",
        Verb::Dial(_) => "dial",
        Verb::Enqueue(_) => "enqueue",
        Verb::SetCallerName(_) => "set-caller-name",
        Verb::SetVariable(_) => "set-variable",
        Verb::Next(_) => "next",
        Verb::Hangup => "hangup",
        Verb::Originate(_) => "originate",
        Verb::OfferTo(_) => "offer-to",
        Verb::Respond(_) => "respond",
    }
}
