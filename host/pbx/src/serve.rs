//! `pbx serve`: opens storage, closes call-log rows a crash left open, starts the media
//! workers, the SIP transports, the HTTP server and the call engine, and carries out the
//! engine's actions (sending, call-log writes, binding persistence).

use crate::config::{Common, ServeArgs, default_public_ip, parse_port_range};
use crate::engine::auth::AuthConfig;
use crate::engine::directory::Directory;
use crate::engine::{Action, Engine, EngineConfig, Input, Now};
use crate::metrics::Metrics;
use crate::plugins::gates::{PluginGates, decide_gated};
use crate::plugins::{HttpClient, PluginRuntime, StoreServices};
use crate::transport::{Transports, spawn_stream_listener, spawn_udp, tls_acceptor};
use anyhow::Context;
use pbx_media::{MediaConfig, MediaEngine};
use pbx_sip::digest::Algorithm;
use pbx_store::{CallOp, RegistrationRow, Store, now_ms};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Loads the directory snapshot from storage.
pub async fn load_directory(store: &Store) -> anyhow::Result<Directory> {
    let tenants = store.list_tenants().await?;
    let users = store.all_users().await?;
    let trunks = store.list_trunks().await?;
    let dids = store.list_dids(None).await?;
    let mut resolved = std::collections::HashMap::new();
    for t in &trunks {
        match tokio::net::lookup_host(&t.host).await.map(|mut a| a.find(|x| x.is_ipv4()).or(None)) {
            Ok(Some(addr)) => {
                resolved.insert(t.id, addr);
            }
            _ => tracing::warn!(trunk = %t.name, host = %t.host, "cannot resolve the trunk's host"),
        }
    }
    let prompts = load_prompts(store).await?;
    let groups = store.list_groups(None).await?;
    let agents = store.agent_states(None).await?;
    let contacts = store.contact_names().await?;
    let notify = store.subscribed_kinds().await?;
    Ok(Directory::build(&tenants, &users, &trunks, &dids, &resolved)
        .with_prompts(prompts)
        .with_groups(&groups, &agents)
        .with_contacts(contacts)
        .with_notify_kinds(&notify)
        .with_tariffs(store.list_tariffs().await?)
        .with_blocklists(store.all_blocked().await?, store.all_block_settings().await?))
}

type PromptKey = (i64, String);

/// Decoded uploads by file path, with the file size they were read at.
type PromptFiles = std::collections::HashMap<String, (u64, Arc<pbx_media::prompt::Prompt>)>;

/// Decoded uploads, kept across reloads while their file is unchanged.
static PROMPT_CACHE: std::sync::OnceLock<std::sync::Mutex<PromptFiles>> = std::sync::OnceLock::new();

async fn load_prompts(store: &Store) -> anyhow::Result<std::collections::HashMap<PromptKey, Arc<pbx_media::prompt::Prompt>>> {
    let rows = store.list_prompts(None).await?;
    let cache = PROMPT_CACHE.get_or_init(Default::default);
    let mut out = std::collections::HashMap::new();
    for r in rows {
        let size = tokio::fs::metadata(&r.path).await.map(|m| m.len()).unwrap_or(0);
        let cached = cache.lock().ok().and_then(|c| c.get(&r.path).filter(|(s, _)| *s == size).map(|(_, p)| p.clone()));
        let prompt = match cached {
            Some(p) => p,
            None => match tokio::fs::read(&r.path).await.ok().and_then(|b| pbx_media::prompt::Prompt::from_wav(&r.name, &b)) {
                Some(p) => {
                    let p = Arc::new(p);
                    if let Ok(mut c) = cache.lock() {
                        c.insert(r.path.clone(), (size, p.clone()));
                    }
                    p
                }
                None => {
                    tracing::warn!(path = %r.path, "cannot load a prompt");
                    continue;
                }
            },
        };
        out.insert((r.tenant_id, r.name.clone()), prompt);
    }
    Ok(out)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "local".into())
}

/// The SIP UDP socket, non-blocking; the engine's thread registers it with its own reactor.
fn bind_udp(addr: std::net::SocketAddr) -> anyhow::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into()).with_context(|| format!("cannot bind SIP UDP {addr}"))?;
    Ok(s.into())
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn run(common: Common, args: ServeArgs) -> anyhow::Result<()> {
    init_tracing();
    let url = common.database_url()?;
    let store = Store::open(&url).await.with_context(|| "cannot open the database")?;
    let node = args.node_id.clone().unwrap_or_else(hostname);
    let closed = store.close_interrupted_calls(&node, now_ms()).await?;
    if closed > 0 {
        tracing::warn!(closed, "closed call-log rows of calls interrupted by the last stop");
    }
    store.purge_expired_registrations(now_ms()).await?;
    // The version is read before the snapshot: a change made meanwhile is loaded again.
    let loaded_version = store.config_version().await?;
    let dir = Arc::new(load_directory(&store).await?);
    // Recordings a crash left as WAV: repair their headers and store them compactly.
    tokio::spawn(repair_recordings(store.clone()));
    tokio::spawn(expire_recordings(store.clone()));
    let public_ip = args.public_ip.unwrap_or_else(|| default_public_ip(args.sip_listen.ip()));
    let (rtp_min, rtp_max) = parse_port_range(&args.rtp_ports)?;
    let metrics = Arc::new(Metrics::default());
    metrics.config_version.store(loaded_version, Ordering::Relaxed);

    let udp = bind_udp(args.sip_listen)?;
    // Sends go out on a handle of the same socket (non-blocking: a full buffer drops, as UDP may).
    let udp_send = Arc::new(udp.try_clone().context("cannot share the SIP UDP socket")?);
    let tcp = TcpListener::bind(args.sip_listen).await.with_context(|| format!("cannot bind SIP TCP {}", args.sip_listen))?;
    let tls = match (&args.sip_tls_listen, &args.tls_cert, &args.tls_key) {
        (Some(addr), Some(cert), Some(key)) => {
            let acc = tls_acceptor(cert, key).context("cannot load the TLS certificate or key")?;
            let l = TcpListener::bind(addr).await.with_context(|| format!("cannot bind SIP TLS {addr}"))?;
            Some((l, acc, addr.port()))
        }
        (Some(_), _, _) => anyhow::bail!("PBX_SIP_TLS_LISTEN needs PBX_TLS_CERT and PBX_TLS_KEY"),
        _ => None,
    };
    let http = TcpListener::bind(args.http_listen).await.with_context(|| format!("cannot bind HTTP {}", args.http_listen))?;

    raise_fd_limit();
    // SIP from the network goes through a bounded queue, so that overload drops datagrams
    // (senders retransmit) instead of queueing seconds of stale work and memory. Everything
    // else the engine is told (media events, plugin results, call-log acknowledgements,
    // directory changes) comes through a queue of its own that never drops: a lost "prompt
    // finished" would leave a caller in a greeting forever.
    let (in_tx, in_rx) = mpsc::channel::<Input>(8192);
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel::<Input>();
    let media_tx = ctl_tx.clone();
    let media_workers = args.media_workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let media = MediaEngine::start(
        MediaConfig {
            bind_ip: if args.sip_listen.ip().is_unspecified() { args.sip_listen.ip() } else { public_ip },
            port_min: rtp_min,
            port_max: rtp_max,
            workers: media_workers,
            rtp_timeout_secs: args.rtp_timeout,
            send_policy: pbx_media::latch::SendPolicy::parse(&args.media_send_policy)
                .ok_or_else(|| anyhow::anyhow!("PBX_MEDIA_SEND_POLICY must be latched or signal-source"))?,
        },
        Arc::new(move |e| {
            let _ = media_tx.send(Input::Media(e));
        }),
    )?;
    let algorithms: Vec<Algorithm> = args.digest_algorithms.split(',').filter_map(|a| Algorithm::parse(Some(a.trim()))).collect();
    if algorithms.is_empty() {
        anyhow::bail!("PBX_DIGEST_ALGORITHMS must name MD5 and/or SHA-256");
    }
    let cfg = EngineConfig {
        node: node.clone(),
        public_ip,
        udp_port: args.sip_listen.port(),
        tcp_port: Some(args.sip_listen.port()),
        tls_port: tls.as_ref().map(|t| t.2),
        ws_port: Some(args.http_listen.port()),
        // Rings up to ten minutes (the INVITE transactions are kept that long).
        ring_timeout: Duration::from_secs(args.ring_timeout.clamp(1, 600)),
        data_dir: Some(common.data_dir.clone()),
        auth: AuthConfig {
            slow_after: args.auth_slow_after,
            block_after: args.auth_block_after,
            block_for: Duration::from_secs(args.auth_block_secs),
            algorithms,
            ..AuthConfig::default()
        },
        rtp_ports: (rtp_min, rtp_max),
        limits: crate::engine::limits::CallLimits {
            per_user: args.max_calls_per_user,
            per_tenant: args.max_calls_per_tenant,
            per_trunk: args.max_calls_per_trunk,
            reserve: args.media_reserve,
        },
        ..EngineConfig::default()
    };
    let plugins = Arc::new(
        PluginRuntime::new(
            pbx_plugin_host::Limits {
                deadline: Duration::from_millis(args.plugin_deadline_ms.max(1)),
                wall: Duration::from_millis(args.plugin_wall_ms.clamp(10, 1800)),
                ..Default::default()
            },
            512,
            metrics.clone(),
        )
        .map_err(|e| anyhow::anyhow!("cannot start the plugin runtime: {e}"))?,
    );
    plugins.sync(&store).await.context("cannot load the tenants' plugins")?;
    let mut engine = Engine::new(cfg, dir, metrics.clone()).with_plugins(plugins.clone());
    engine.handle(Input::RestoreBindings(store.live_registrations(now_ms()).await?), Now::real());

    let limits = crate::transport::ConnLimits::from_args(&args);
    let transports = Transports::new(udp_send, limits.clone());
    spawn_stream_listener(tcp, None, transports.clone(), in_tx.clone(), ctl_tx.clone(), metrics.clone());
    if let Some((l, acc, _)) = tls {
        spawn_stream_listener(l, Some(acc), transports.clone(), in_tx.clone(), ctl_tx.clone(), metrics.clone());
    }
    let (cdr_tx, cdr_rx) = mpsc::unbounded_channel();
    let events_stored = Arc::new(tokio::sync::Notify::new());
    supervise(
        "call-log writer",
        metrics.clone(),
        cdr_writer(store.clone(), cdr_rx, ctl_tx.clone(), metrics.clone(), events_stored.clone()),
    );
    let egress = HttpClient::new(crate::plugins::EgressPolicy::from_env(own_addresses(&args, public_ip)));
    let originator = Arc::new(crate::originator::Originator::new(ctl_tx.clone()));
    let secret_box = crate::plugin_settings::SecretBox::open_dir(&common.data_dir).map_err(anyhow::Error::msg)?;
    let public_base = args
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("http://{}", std::net::SocketAddr::new(public_ip, args.http_listen.port())));
    let integrations = Arc::new(
        crate::integrations::Integrations::new(store.clone(), plugins.clone(), egress.clone(), originator.clone(), secret_box)
            .with_public_base(&public_base),
    );
    let mut deliverer = crate::webhooks::Deliverer::new(egress.clone(), Duration::from_millis(args.webhook_retry_ms.max(10)), node.clone());
    deliverer.integrations = Some(integrations.clone());
    supervise("webhook deliveries", metrics.clone(), crate::webhooks::run(store.clone(), deliverer, events_stored));
    let (bind_tx, bind_rx) = mpsc::unbounded_channel();
    supervise("registration writer", metrics.clone(), bindings_writer(store.clone(), bind_rx, metrics.clone()));
    supervise(
        "configuration reloader",
        metrics.clone(),
        directory_reloader(store.clone(), ctl_tx.clone(), plugins.clone(), loaded_version),
    );
    let (alive_tx, alive_rx) = tokio::sync::watch::channel(0u64);
    let probe = crate::http::EngineProbe::new(ctl_tx.clone(), alive_rx);
    let web = crate::web::WebState::new(store.clone(), common.data_dir.clone(), plugins.clone()).map_err(anyhow::Error::msg)?;
    let _ = web.originator.set(originator.clone());
    let _ = web.integrations.set(integrations);
    let ice_servers = match args.webrtc_ice_servers.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(json) => crate::webrtc::parse_ice_servers(json).map_err(|e| anyhow::anyhow!("PBX_WEBRTC_ICE_SERVERS: {e}"))?,
        None => Vec::new(),
    };
    let _ = web.ice_servers.set(ice_servers);
    let webrtc =
        match crate::webrtc::WebRtcEdge::start(args.webrtc_ip.unwrap_or(public_ip), args.webrtc_port, public_ip, media_workers).await {
            Ok(edge) => Some(edge),
            Err(e) => {
                tracing::error!(error = %e, port = args.webrtc_port, "cannot bind the WebRTC media port: browsers get no audio");
                None
            }
        };
    let _ = web.sip.set(crate::transport::SipGate {
        transports: transports.clone(),
        tx: in_tx.clone(),
        ctl: ctl_tx.clone(),
        metrics: metrics.clone(),
        webrtc,
    });
    let app = crate::http::router(crate::http::HttpState {
        metrics: metrics.clone(),
        media: media.stats().clone(),
        engine: probe,
        store: Some(store.clone()),
        last: Default::default(),
    })
    .merge(crate::web::router(web))
    .layer(axum::middleware::from_fn(crate::web::error::contain_panics));
    let http = crate::transport::LimitedListener::new(http, limits.http_max, limits.http_per_source, metrics.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(http, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    tracing::info!(
        sip = %args.sip_listen, http = %args.http_listen, public_ip = %public_ip, node = %node,
        rtp = %args.rtp_ports, data = %common.data_dir.display(), "pbx serving"
    );
    let workers = Workers {
        store: store.clone(),
        transports,
        cdr_tx,
        bind_tx,
        plugins,
        engine_tx: ctl_tx.clone(),
        http: egress,
        originator,
        links: Arc::new(RecordingLinks {
            key: crate::web::recording_links::link_key(&common.data_dir).map_err(anyhow::Error::msg)?,
            base: public_base.clone(),
        }),
        gates: Arc::new(PluginGates::new(args.plugin_tenant_concurrency, 4)),
        rt: tokio::runtime::Handle::current(),
        alive: alive_tx,
        metrics: metrics.clone(),
        media: media.clone(),
    };
    // The engine and the SIP UDP receiver run on a thread of their own: nothing the HTTP
    // side, password hashing, plugin compilation or exports do can delay them.
    let (engine_done_tx, engine_done) = tokio::sync::oneshot::channel::<()>();
    let engine_thread = std::thread::Builder::new().name("engine".into()).spawn(move || {
        let _done = engine_done_tx;
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return tracing::error!(error = %e, "cannot start the engine's runtime"),
        };
        rt.block_on(async move {
            if let Err(e) = spawn_udp(udp, in_tx, metrics.clone()) {
                // Without SIP the server must not look alive to the operator's monitoring.
                tracing::error!(error = %e, "cannot receive on the SIP UDP socket");
                std::process::exit(1);
            }
            engine_loop(engine, in_rx, ctl_rx, workers).await
        });
    })?;
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("stopping"),
        _ = engine_done => {
            // The loop contains panics per input; ending means something beyond that broke.
            // Exit with an error so that the service manager starts a fresh process.
            tracing::error!("the call engine stopped: exiting");
            anyhow::bail!("the call engine stopped");
        }
    }
    drop(engine_thread);
    // Give the writers a moment to flush what is queued.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

/// The PBX's own addresses, which plugins may not reach unless the operator allows them.
fn own_addresses(args: &ServeArgs, public_ip: std::net::IpAddr) -> Vec<std::net::IpAddr> {
    let mut v = vec![public_ip, args.sip_listen.ip(), args.http_listen.ip()];
    v.retain(|ip| !ip.is_unspecified());
    v.dedup();
    v
}

/// Raises the soft limit on open files to the hard limit: every call holds four RTP sockets
/// and every phone on TCP a connection; the connection caps are sized from the result.
fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
    }
}

/// Runs a background task; if it ever panics the panic is counted and logged (the writers
/// also contain a panic per batch, see [`contained`], so they go on with the next one).
fn supervise<F>(name: &'static str, metrics: Arc<Metrics>, fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        use futures_util::FutureExt;
        if let Err(p) = std::panic::AssertUnwindSafe(fut).catch_unwind().await {
            metrics.worker_panics.fetch_add(1, Ordering::Relaxed);
            let text = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
            tracing::error!(worker = name, panic = %text, "a background worker failed");
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Runs one batch of a writer; a panic in it is counted and logged, and the writer goes on.
async fn contained<F: std::future::Future<Output = ()>>(what: &'static str, metrics: &Metrics, fut: F) {
    use futures_util::FutureExt;
    if let Err(p) = std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        metrics.worker_panics.fetch_add(1, Ordering::Relaxed);
        let text = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
        tracing::error!(worker = what, panic = %text, "a background batch failed; going on with the next");
    }
}

type CdrMsg = (CallOp, Option<u64>);
type BindMsg = (Vec<RegistrationRow>, Vec<(i64, String)>);

/// Where the engine's actions go.
struct Workers {
    store: Store,
    transports: Transports,
    cdr_tx: mpsc::UnboundedSender<CdrMsg>,
    bind_tx: mpsc::UnboundedSender<BindMsg>,
    plugins: Arc<PluginRuntime>,
    engine_tx: mpsc::UnboundedSender<Input>,
    http: HttpClient,
    gates: Arc<PluginGates>,
    /// The main runtime: work the engine hands off runs there, never on the engine's thread.
    rt: tokio::runtime::Handle,
    /// The last heartbeat the engine answered (read by `/healthz`).
    alive: tokio::sync::watch::Sender<u64>,
    metrics: Arc<Metrics>,
    media: MediaEngine,
    links: Arc<RecordingLinks>,
    originator: Arc<crate::originator::Originator>,
}

/// What `recording.ready` events need to carry a signed link.
struct RecordingLinks {
    /// The key that signs shared links.
    key: [u8; 32],
    /// The cabinet's address as integrations reach it.
    base: String,
}

/// How long the link in a `recording.ready` event works.
const EVENT_LINK_TTL_S: u64 = 7 * 24 * 3600;

async fn engine_loop(mut engine: Engine, mut rx: mpsc::Receiver<Input>, mut ctl: mpsc::UnboundedReceiver<Input>, w: Workers) {
    loop {
        let deadline = engine.poll_timeout();
        let sleep = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        let input = tokio::select! {
            biased;
            i = ctl.recv() => i,
            i = rx.recv() => i,
            _ = sleep => {
                engine.handle_timeout(Now::real());
                flush(&mut engine, &w);
                continue;
            }
        };
        let Some(input) = input else { break };
        engine.handle(input, Now::real());
        // Control inputs first, then a bounded batch of SIP.
        while let Ok(i) = ctl.try_recv() {
            engine.handle(i, Now::real());
        }
        for _ in 0..256 {
            match rx.try_recv() {
                Ok(i) => engine.handle(i, Now::real()),
                Err(_) => break,
            }
        }
        engine.handle_timeout(Now::real());
        flush(&mut engine, &w);
    }
}

/// Carries out the engine's actions; one that panics is counted and skipped.
fn flush(engine: &mut Engine, w: &Workers) {
    while let Some(a) = engine.poll_action() {
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| carry_out(a, w))) {
            w.metrics.worker_panics.fetch_add(1, Ordering::Relaxed);
            let text = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
            tracing::error!(panic = %text, "an engine action failed");
        }
    }
}

fn carry_out(a: Action, w: &Workers) {
    let store = &w.store;
    let _rt = w.rt.enter();
    {
        match a {
            Action::Send { target, bytes } => w.transports.send(target, bytes),
            Action::Media(cmd) => {
                let id = cmd.session();
                if let Err(e) = w.media.apply(cmd) {
                    tracing::error!(error = %e, session = id, "media command failed");
                    let _ = w.engine_tx.send(Input::Media(pbx_media::MediaEvent::SessionFailed { id }));
                }
            }
            Action::Cdr { op, ack } => {
                let _ = w.cdr_tx.send((op, ack));
            }
            Action::Bindings { upserts, removals } => {
                let _ = w.bind_tx.send((upserts, removals));
            }
            Action::QueueDecide { group_id, token, waiter, call } => {
                let (plugins, tx, gates) = (w.plugins.clone(), w.engine_tx.clone(), w.gates.clone());
                let services = Arc::new(StoreServices {
                    store: Some(store.clone()),
                    handle: tokio::runtime::Handle::current(),
                    tenant_id: call.tenant_id,
                    plugin: call.plugin.clone(),
                    http: w.http.clone(),
                    read_only: false,
                });
                tokio::spawn(async move {
                    let result = decide_gated(gates, plugins, *call, services, EngineConfig::default().plugin_watchdog).await.result;
                    let _ = tx.send(Input::QueueDecided { group_id, token, waiter, result });
                });
            }
            Action::QueueStatus { group_id, status, at } => {
                let store = store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.put_queue_status(group_id, &status, at).await {
                        tracing::warn!(error = %e, "cannot publish a queue's state");
                    }
                });
            }
            Action::Presence { tenant_id, users, at } => {
                let store = store.clone();
                let status = serde_json::Value::Array(
                    users.into_iter().map(|(ext, state)| serde_json::json!({"ext": ext, "state": state})).collect(),
                );
                tokio::spawn(async move {
                    if let Err(e) = store.put_presence(tenant_id, &status.to_string(), at).await {
                        tracing::warn!(error = %e, "cannot publish presence");
                    }
                });
            }
            Action::Dnd { tenant_id, ext, on } => {
                let store = store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.set_dnd(tenant_id, &ext, on).await {
                        tracing::warn!(error = %e, %ext, "cannot change do not disturb");
                    }
                });
            }
            Action::AgentState { tenant_id, ext, paused, logged_in } => {
                let store = store.clone();
                tokio::spawn(async move {
                    let groups = store.list_groups(Some(tenant_id)).await.unwrap_or_default();
                    for g in groups.iter().filter(|g| g.kind == pbx_store::GroupKind::Queue && g.members.contains(&ext)) {
                        if let Err(e) = store.set_agent_state(tenant_id, &g.ext, &ext, paused, logged_in).await {
                            tracing::warn!(error = %e, queue = %g.ext, "cannot change an agent's state");
                        }
                    }
                });
            }
            Action::Plugin { key, token, call } => {
                let (plugins, tx, gates) = (w.plugins.clone(), w.engine_tx.clone(), w.gates.clone());
                let services = Arc::new(StoreServices {
                    store: Some(store.clone()),
                    handle: tokio::runtime::Handle::current(),
                    tenant_id: call.tenant_id,
                    plugin: call.plugin.clone(),
                    http: w.http.clone(),
                    read_only: false,
                });
                tokio::spawn(async move {
                    let d = decide_gated(gates, plugins, *call, services, EngineConfig::default().plugin_watchdog).await;
                    let _ = tx.send(Input::PluginDone { key, token, result: d.result, version: d.version });
                });
            }
            Action::RecordingDone { call_id, path, duration_ms, event } => {
                let (store, links, cdr) = (store.clone(), w.links.clone(), w.cdr_tx.clone());
                tokio::spawn(async move {
                    let stored = finish_recording(store.clone(), call_id.clone(), path, duration_ms).await;
                    if let (true, Some(ev)) = (stored, event) {
                        // Through the call-log writer, after the call's other events.
                        let _ = cdr.send((recording_ready(&links, &call_id, ev, duration_ms), None));
                    }
                });
            }
            Action::TrunkState { id, state, detail } => {
                let store = store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.set_trunk_state(id, &state, &detail).await {
                        tracing::warn!(error = %e, "cannot record the trunk state");
                    }
                });
            }
            Action::Alive(n) => {
                w.alive.send_replace(n);
            }
            Action::Originated { token, result } => w.originator.answered(token, result),
            Action::ConnectionBound { conn, user, until_ms } => w.transports.bound(conn, user, until_ms),
        }
    }
}

/// Writes call-log changes in batches (group commit) and tells the engine when a call's
/// start row is durable.
async fn cdr_writer(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<CdrMsg>,
    engine: mpsc::UnboundedSender<Input>,
    metrics: Arc<Metrics>,
    events_stored: Arc<tokio::sync::Notify>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 2000 {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        let ops: Vec<CallOp> = batch.iter().map(|(o, _)| o.clone()).collect();
        contained("call-log writer", &metrics, async {
            let mut ok = false;
            for attempt in 1..=3u64 {
                match store.apply_call_ops(&ops).await {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(e) => {
                        metrics.cdr_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, attempt, "call-log write failed");
                        tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                    }
                }
            }
            if !ok {
                // Isolate the failing change so the others are kept.
                for op in &ops {
                    if let Err(e) = store.apply_call_ops(std::slice::from_ref(op)).await {
                        tracing::error!(error = %e, ?op, "call-log change lost");
                    }
                }
            }
        })
        .await;
        if ops.iter().any(|o| matches!(o, CallOp::Notify { .. })) {
            events_stored.notify_one();
        }
        // Acknowledged whatever happened: a call never waits forever for its row.
        for (_, ack) in batch {
            if let Some(k) = ack {
                let _ = engine.send(Input::CdrCommitted(k));
            }
        }
    }
}

async fn bindings_writer(store: Store, mut rx: mpsc::UnboundedReceiver<BindMsg>, metrics: Arc<Metrics>) {
    while let Some((mut up, mut rm)) = rx.recv().await {
        tokio::time::sleep(Duration::from_millis(50)).await;
        while let Ok((u, r)) = rx.try_recv() {
            up.extend(u);
            rm.extend(r);
        }
        contained("registration writer", &metrics, async {
            if let Err(e) = store.apply_registrations(&up, &rm).await {
                tracing::error!(error = %e, "cannot persist registrations");
            }
        })
        .await;
    }
}

async fn directory_reloader(store: Store, engine: mpsc::UnboundedSender<Input>, plugins: Arc<PluginRuntime>, loaded: i64) {
    let mut version = loaded;
    plugins.mark_synced(loaded);
    loop {
        // Every half second, or at once when a request waits for a change just made.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = plugins.reload_requested() => {}
        }
        let v = match store.config_version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read configuration version");
                continue;
            }
        };
        if v == version {
            continue;
        }
        // Installed or upgraded plugins are compiled before the directory that may use them
        // is swapped in.
        if let Err(e) = plugins.sync(&store).await {
            tracing::warn!(error = %e, "cannot reload the tenants' plugins");
        }
        match load_directory(&store).await {
            Ok(d) => {
                version = v;
                plugins.mark_synced(v);
                tracing::info!(version = v, users = d.user_count(), "configuration reloaded");
                if engine.send(Input::Directory { dir: Arc::new(d), version: v }).is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot reload the directory"),
        }
    }
}

/// Compresses a finished recording to Ogg/Opus (off the async threads) and points its row at
/// the compact file; the WAV stays if anything fails, so nothing is lost.
pub async fn finish_recording(store: Store, call_id: String, wav: std::path::PathBuf, duration_ms: u64) -> bool {
    let ogg = wav.with_extension("ogg");
    let (src, dst) = (wav.clone(), ogg.clone());
    let res = pbx_store::blocking::run(move || compress_recording(&src, &dst)).await;
    match res {
        Ok(Ok(size)) => {
            if let Err(e) = store.finish_recording(&call_id, &ogg.display().to_string(), "ogg", duration_ms as i64, size as i64).await {
                tracing::error!(call = %call_id, error = %e, "cannot record the stored recording");
                return false;
            }
            let _ = std::fs::remove_file(&wav);
            true
        }
        other => {
            tracing::error!(call = %call_id, path = %wav.display(), result = ?other.map(|r| r.map(|_| ())), "cannot compress a recording; keeping the WAV");
            let size = std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0);
            store.finish_recording(&call_id, &wav.display().to_string(), "wav-final", duration_ms as i64, size as i64).await.is_ok()
        }
    }
}

/// A stored recording's `recording.ready` event with a signed link to it.
fn recording_ready(links: &RecordingLinks, call_id: &str, ev: crate::engine::RecordingEvent, duration_ms: u64) -> CallOp {
    let expires_s = (now_ms() / 1000).max(0) as u64 + EVENT_LINK_TTL_S;
    let grant = crate::web::recording_links::LinkGrant { tenant_id: ev.tenant_id, call_id: call_id.to_string(), expires_s };
    let token = crate::web::recording_links::sign(&links.key, &grant);
    let event = pbx_store::IntegrationEvent {
        id: format!("{call_id}:{}", ev.seq),
        call_id: call_id.to_string(),
        seq: ev.seq,
        at: now_ms(),
        data: pbx_store::EventData::RecordingReady {
            url: format!("{}/api/v1/shared/recordings/{token}", links.base),
            duration_seconds: (duration_ms / 1000) as i64,
            expires_at: expires_s as i64 * 1000,
        },
    };
    CallOp::Notify { tenant_id: ev.tenant_id, event: Box::new(event) }
}

/// Reads the recorder's A-law WAV and writes the Ogg/Opus file; returns its size.
pub fn compress_recording(wav: &std::path::Path, ogg: &std::path::Path) -> anyhow::Result<u64> {
    let bytes = std::fs::read(wav)?;
    let w = pbx_media::wav::parse(&bytes).ok_or_else(|| anyhow::anyhow!("not a WAV"))?;
    let samples = pbx_media::wav::samples(&w).ok_or_else(|| anyhow::anyhow!("unexpected WAV encoding"))?;
    let tmp = ogg.with_extension("ogg.part");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        pbx_media::opusfile::encode_stereo(&samples, &mut f)?;
        std::io::Write::flush(&mut f)?;
        f.get_ref().sync_data()?;
    }
    std::fs::rename(&tmp, ogg)?;
    Ok(std::fs::metadata(ogg)?.len())
}

/// Recordings left in their interim WAV form by a crash or kill: fix the header from the file
/// size (so it plays), then compress as usual.
async fn repair_recordings(store: Store) {
    let rows = match store.unfinished_recordings().await {
        Ok(r) => r,
        Err(e) => return tracing::warn!(error = %e, "cannot list unfinished recordings"),
    };
    for r in rows {
        let path = std::path::PathBuf::from(&r.path);
        let repaired = pbx_store::blocking::run({
            let path = path.clone();
            move || -> std::io::Result<u32> {
                let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
                pbx_media::wav::repair(&mut f)
            }
        })
        .await;
        match repaired {
            Ok(Ok(data)) => {
                tracing::info!(call = %r.call_id, "repaired an interrupted recording");
                finish_recording(store.clone(), r.call_id.clone(), path, u64::from(data) / 16).await;
            }
            other => tracing::warn!(call = %r.call_id, path = %r.path, result = ?other.map(|r| r.map(|_| ())), "cannot repair a recording"),
        }
    }
}

/// Deletes recordings older than their tenant's retention, hourly.
async fn expire_recordings(store: Store) {
    loop {
        match store.expire_recordings(now_ms()).await {
            Ok(paths) => {
                for p in &paths {
                    let _ = tokio::fs::remove_file(p).await;
                }
                if !paths.is_empty() {
                    tracing::info!(count = paths.len(), "deleted recordings past their retention");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot expire recordings"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
