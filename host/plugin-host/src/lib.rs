//! The plugin runtime: WebAssembly components (the `pbx:plugin` world) compiled once,
//! pre-linked (`InstancePre`) and instantiated fresh for every event from a pooling
//! allocator, with an execution deadline (epoch interruption that does not count time spent
//! in host calls), a memory limit, and no ambient filesystem, network or environment. What a
//! plugin may reach of the PBX goes through [`Context`], scoped to one tenant and one plugin.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod bindings;
mod imports;
mod legacy;
pub mod schema;

pub use bindings::pbx::plugin::types::{
    Agent, CallInfo, Capability, Contact, DialOutcome, DialSpec, DialTarget, Event, GatherSpec, Gathered, HttpRequest, HttpResponse,
    Lifecycle, LocalTime, LogLevel, Metadata, OriginateResult, OriginateSpec, QueueState, RecordingLink, TransferInfo, UserInfo, Verb,
    WaitingCaller,
};
pub use legacy::V01_KINDS;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Why a plugin did not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The file is not a component of the `pbx:plugin` world.
    #[error("not a pbx:plugin component: {0}")]
    Invalid(String),
    /// It ran past its execution deadline.
    #[error("the plugin ran past its deadline")]
    Deadline,
    /// It trapped (including a memory limit).
    #[error("the plugin failed: {0}")]
    Trap(String),
    /// It returned an error.
    #[error("the plugin refused: {0}")]
    Refused(String),
    /// The tenant cannot run it (no such plugin, disabled, capabilities not granted).
    #[error("{0}")]
    Unavailable(String),
}

/// Limits of one plugin call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Execution time in the guest (host calls excluded).
    pub deadline: Duration,
    /// Linear memory per instance.
    pub memory_bytes: usize,
    /// Wall-clock time of the whole decision, host calls (HTTP, storage) included: past it
    /// the guest is stopped and host calls are refused, so nothing a plugin started goes on
    /// after its call has moved on.
    pub wall: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { deadline: Duration::from_millis(50), memory_bytes: 16 << 20, wall: Duration::from_millis(1500) }
    }
}

/// The tenant-scoped services a plugin reaches through the host interface.
pub trait Services: Send + Sync {
    /// Reads the plugin's key-value store.
    fn kv_get(&self, key: &str) -> Option<String>;
    /// Writes it.
    fn kv_set(&self, key: &str, value: &str);
    /// Deletes from it.
    fn kv_delete(&self, key: &str);
    /// Performs an HTTP request (the host checked the grant already) within `budget`, what
    /// is left of the decision's wall-clock time.
    fn http(&self, req: &HttpRequest, budget: Duration) -> Result<HttpResponse, String>;
    /// The tenant's city numbers (the host checked the directory grant).
    fn lines(&self) -> Vec<String>;
    /// A phone-book entry (the host checked the contacts grant).
    fn contact_lookup(&self, number: &str) -> Option<Contact>;
    /// Adds or replaces a phone-book entry; the error says what is wrong with it.
    fn contact_put(&self, entry: &Contact) -> Result<(), String>;
    /// Removes a phone-book entry; false if there was none.
    fn contact_remove(&self, number: &str) -> bool;
}

/// Services that do nothing (simulation, validation).
pub struct NoServices;

impl Services for NoServices {
    fn kv_get(&self, _: &str) -> Option<String> {
        None
    }
    fn kv_set(&self, _: &str, _: &str) {}
    fn kv_delete(&self, _: &str) {}
    fn http(&self, _: &HttpRequest, _: Duration) -> Result<HttpResponse, String> {
        Err("no network in this context".into())
    }
    fn lines(&self) -> Vec<String> {
        Vec::new()
    }
    fn contact_lookup(&self, _: &str) -> Option<Contact> {
        None
    }
    fn contact_put(&self, _: &Contact) -> Result<(), String> {
        Err("no phone book in this context".into())
    }
    fn contact_remove(&self, _: &str) -> bool {
        false
    }
}

/// Everything one plugin call may see.
#[derive(Clone)]
pub struct Context {
    /// Tenant (for logs).
    pub tenant: String,
    /// Plugin name (for logs).
    pub plugin: String,
    /// Call id (for logs).
    pub call_id: String,
    /// Node configuration JSON.
    pub config: String,
    /// The tenant's local time.
    pub now: LocalTime,
    /// The tenant's users (given only with the directory grant).
    pub directory: Vec<UserInfo>,
    /// Hosts the tenant allowed for HTTP.
    pub http_hosts: Vec<String>,
    /// Whether the directory was granted.
    pub directory_granted: bool,
    /// Whether the key-value store was granted.
    pub kv_granted: bool,
    /// Whether the phone book was granted.
    pub contacts_granted: bool,
    /// Key-value store and HTTP.
    pub services: Arc<dyn Services>,
}

/// The memory limit, recording the most linear memory an instance asked for.
struct Limiter {
    inner: StoreLimits,
    peak: usize,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let ok = self.inner.memory_growing(current, desired, maximum)?;
        if ok {
            self.peak = self.peak.max(desired);
        }
        Ok(ok)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// What one call of a plugin used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// The largest linear memory it had, bytes.
    pub peak_memory: usize,
    /// Time it ran, host calls excluded.
    pub guest_time: Duration,
}

/// Per-store state: the call context, limits and an empty WASI context.
pub(crate) struct State {
    pub(crate) ctx: Context,
    limits: Limiter,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) in_host: Duration,
    pub(crate) started: Instant,
    deadline: Duration,
    pub(crate) wall: Duration,
}

impl State {
    /// Wall-clock time left for the decision.
    pub(crate) fn wall_left(&self) -> Duration {
        self.wall.saturating_sub(self.started.elapsed())
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The contract version a component was built against (see `wit/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `pbx:plugin@0.1.0`.
    V01,
    /// `pbx:plugin@0.2.0`, the current one.
    V02,
}

impl Contract {
    /// Its version as written in the WIT package, e.g. `0.2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::V01 => "0.1",
            Contract::V02 => "0.2",
        }
    }
}

/// A pre-linked component of either contract.
enum Pre {
    V01(bindings::v01::PluginPre<State>),
    V02(bindings::PluginPre<State>),
}

/// An instance of either contract.
enum Instance {
    V01(bindings::v01::Plugin),
    V02(bindings::Plugin),
}

/// A compiled and pre-linked plugin version.
pub struct LoadedPlugin {
    pre: Pre,
    /// The contract it was built against.
    pub contract: Contract,
    /// What it says about itself.
    pub metadata: Metadata,
    /// Size of the component, bytes.
    pub size: usize,
}

impl LoadedPlugin {
    /// Whether the plugin takes this kind of lifecycle event (0.1 names three).
    pub fn takes_kind(&self, kind: &str) -> bool {
        self.contract == Contract::V02 || V01_KINDS.contains(&kind)
    }
}

/// The runtime shared by every tenant.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<State>,
    limits: Limits,
    stop: Arc<AtomicBool>,
}

/// Epoch ticks per second.
const TICK: Duration = Duration::from_millis(1);

impl PluginHost {
    /// A runtime with a pooling allocator for `max_instances` concurrent calls.
    pub fn new(limits: Limits, max_instances: u32) -> Result<PluginHost, PluginError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(max_instances)
            .total_core_instances(max_instances * 4)
            .total_memories(max_instances * 2)
            .total_tables(max_instances * 4)
            .max_memory_size(limits.memory_bytes)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16)
            // Reset the pages an instance touched with memset instead of madvise (which
            // faults them in again and flushes TLBs on every core): PAGEMAP_SCAN finds the
            // dirty ones (Linux 6.7+).
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10)
            .pagemap_scan(wasmtime::Enabled::Auto)
            .decommit_batch_size(32);
        let mut cfg = Config::new();
        cfg.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_reservation(limits.memory_bytes as u64)
            .memory_guard_size(64 << 10);
        let engine = Engine::new(&cfg).map_err(|e| PluginError::Invalid(format!("engine: {e}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| PluginError::Invalid(format!("wasi: {e}")))?;
        bindings::Plugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Invalid(format!("linker: {e}")))?;
        bindings::v01::Plugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Invalid(format!("linker: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    e.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Invalid(format!("epoch thread: {e}")))?;
        Ok(PluginHost { engine, linker, limits, stop })
    }

    /// Compiles a component, checks it is a `pbx:plugin` world of a contract this host
    /// serves (0.1 or 0.2, told by the versions of the interfaces it imports) and reads its
    /// metadata.
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<LoadedPlugin>, PluginError> {
        check_header(wasm)?;
        let component = Component::new(&self.engine, wasm).map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        let contract = contract_of(&self.engine, &component)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        let pre = match contract {
            Contract::V01 => Pre::V01(bindings::v01::PluginPre::new(instance_pre).map_err(|e| PluginError::Invalid(format!("{e:#}")))?),
            Contract::V02 => Pre::V02(bindings::PluginPre::new(instance_pre).map_err(|e| PluginError::Invalid(format!("{e:#}")))?),
        };
        let mut loaded = LoadedPlugin { pre, contract, metadata: empty_metadata(), size: wasm.len() };
        let ctx = Context::minimal("");
        loaded.metadata = self.run(&loaded, ctx, |p, store| match p {
            Instance::V02(p) => p.call_describe(store),
            Instance::V01(p) => p.call_describe(store).map(legacy::metadata),
        })?;
        if loaded.metadata.name.is_empty() {
            return Err(PluginError::Invalid("the plugin has no name".into()));
        }
        Ok(Arc::new(loaded))
    }

    /// The outputs of a node with `ctx.config`; an error rejects the configuration.
    pub fn outputs(&self, plugin: &LoadedPlugin, ctx: Context) -> Result<Vec<String>, PluginError> {
        let config = ctx.config.clone();
        self.run(plugin, ctx, move |p, store| match p {
            Instance::V02(p) => p.call_outputs(store, &config),
            Instance::V01(p) => p.call_outputs(store, &config),
        })?
        .map_err(PluginError::Refused)
    }

    /// Asks the plugin to decide on an event.
    pub fn handle(&self, plugin: &LoadedPlugin, ctx: Context, event: &Event) -> Result<Vec<Verb>, PluginError> {
        self.handle_measured(plugin, ctx, event).0
    }

    /// [`PluginHost::handle`], also saying what the call used. A 0.1 plugin gets the 0.1
    /// form of the event; one 0.1 has no form for is not sent and answers no verbs.
    pub fn handle_measured(&self, plugin: &LoadedPlugin, ctx: Context, event: &Event) -> (Result<Vec<Verb>, PluginError>, Usage) {
        let mut usage = Usage::default();
        let old = match plugin.contract {
            Contract::V01 => match legacy::event(event) {
                Some(e) => Some(e),
                None => return (Ok(Vec::new()), usage),
            },
            Contract::V02 => None,
        };
        let r = self.run_measured(plugin, ctx, &mut usage, |p, store| match (p, &old) {
            (Instance::V02(p), _) => p.call_handle(store, event),
            (Instance::V01(p), Some(old)) => {
                p.call_handle(store, old).map(|r| r.map(|verbs| verbs.into_iter().map(legacy::verb).collect()))
            }
            (Instance::V01(_), None) => Ok(Ok(Vec::new())),
        });
        (r.and_then(|r| r.map_err(PluginError::Refused)), usage)
    }

    fn run<R>(
        &self,
        plugin: &LoadedPlugin,
        ctx: Context,
        f: impl FnOnce(&Instance, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        self.run_measured(plugin, ctx, &mut Usage::default(), f)
    }

    fn run_measured<R>(
        &self,
        plugin: &LoadedPlugin,
        ctx: Context,
        usage: &mut Usage,
        f: impl FnOnce(&Instance, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .instances(32)
            .tables(32)
            .memories(8)
            .trap_on_grow_failure(true)
            .build();
        let state = State {
            ctx,
            limits: Limiter { inner: limits, peak: 0 },
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            in_host: Duration::ZERO,
            started: Instant::now(),
            deadline: self.limits.deadline,
            wall: self.limits.wall,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(self.limits.deadline.as_millis().max(1) as u64);
        // Time spent in host calls (HTTP, key-value store) does not count against the guest.
        store.epoch_deadline_callback(|ctx| {
            let s = ctx.data();
            let guest = s.started.elapsed().saturating_sub(s.in_host);
            if guest < s.deadline && !s.wall_left().is_zero() {
                let left = (s.deadline - guest).as_millis().max(1) as u64;
                Ok(UpdateDeadline::Continue(left))
            } else {
                Err(wasmtime::Error::msg("deadline"))
            }
        });
        let instance = match &plugin.pre {
            Pre::V02(pre) => pre.instantiate(&mut store).map(Instance::V02),
            Pre::V01(pre) => pre.instantiate(&mut store).map(Instance::V01),
        };
        let result = instance.map_err(|e| classify(&e)).and_then(|instance| f(&instance, &mut store).map_err(|e| classify(&e)));
        let s = store.data();
        *usage = Usage { peak_memory: s.limits.peak, guest_time: s.started.elapsed().saturating_sub(s.in_host) };
        result
    }
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The contract of a component, from the version of the `pbx:plugin` interfaces it imports
/// (a plugin that imports none of them is taken as the current contract).
fn contract_of(engine: &Engine, component: &Component) -> Result<Contract, PluginError> {
    let mut found = None;
    for (name, _) in component.component_type().imports(engine) {
        let Some(rest) = name.strip_prefix("pbx:plugin/") else { continue };
        let version = rest.split_once('@').map(|(_, v)| v).unwrap_or("");
        let c = if version.starts_with("0.1.") {
            Contract::V01
        } else if version.starts_with("0.2.") {
            Contract::V02
        } else {
            return Err(PluginError::Invalid(format!(
                "it was built for pbx:plugin@{version}; this PBX serves contracts 0.1 and 0.2 (rebuild it with a current SDK)"
            )));
        };
        if found.is_some_and(|f| f != c) {
            return Err(PluginError::Invalid("it imports two versions of the pbx:plugin contract".into()));
        }
        found = Some(c);
    }
    Ok(found.unwrap_or(Contract::V02))
}

fn classify(e: &wasmtime::Error) -> PluginError {
    let text = format!("{e:#}");
    if text.contains("deadline") || e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        PluginError::Deadline
    } else {
        PluginError::Trap(text.chars().take(300).collect())
    }
}

fn empty_metadata() -> Metadata {
    Metadata {
        name: String::new(),
        version: String::new(),
        description: String::new(),
        outputs: Vec::new(),
        config_schema: "{}".into(),
        capabilities: Vec::new(),
    }
}

impl Context {
    /// A context with no grants, no directory and a clock at the epoch.
    pub fn minimal(config: &str) -> Context {
        Context {
            tenant: String::new(),
            plugin: String::new(),
            call_id: String::new(),
            config: config.to_string(),
            now: LocalTime { unix_ms: 0, year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, weekday: 4, timezone: "UTC".into() },
            directory: Vec::new(),
            http_hosts: Vec::new(),
            directory_granted: false,
            kv_granted: false,
            contacts_granted: false,
            services: Arc::new(NoServices),
        }
    }
}

/// Says in words what a file that is not a component is, before the parser would answer
/// with its bytes ("bad magic number - expected=[0x0, 0x61, ...]").
pub fn check_header(wasm: &[u8]) -> Result<(), PluginError> {
    match wasm {
        // `\0asm`, version 0x0d, layer 1: a component.
        [0, b'a', b's', b'm', _, _, 1, 0, ..] => Ok(()),
        [0, b'a', b's', b'm', 1, 0, 0, 0, ..] => Err(PluginError::Invalid(
            "it is a WebAssembly module, not a component: build the plugin for wasm32-wasip2 with the SDK (see examples/plugin-template)"
                .into(),
        )),
        _ => Err(PluginError::Invalid("it is not a WebAssembly component (a plugin is the .wasm file the SDK builds)".into())),
    }
}

#[cfg(test)]
mod header_tests {
    #[test]
    fn files_that_are_not_components_are_named_in_words() {
        let module = [0, b'a', b's', b'm', 1, 0, 0, 0];
        let e = super::check_header(&module).unwrap_err().to_string();
        assert!(e.contains("module, not a component"), "{e}");
        let e = super::check_header(b"this is not wasm").unwrap_err().to_string();
        assert!(e.contains("not a WebAssembly component") && !e.contains("0x"), "{e}");
        assert!(super::check_header(&[0, b'a', b's', b'm', 0x0d, 0, 1, 0]).is_ok());
    }
}
