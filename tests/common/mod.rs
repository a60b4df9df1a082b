//! Shared harness of the end-to-end tests: the real `pbx` binary with its own data dir and
//! ports, SIPp runs, an RTP sink, a pcap reader, PostgreSQL databases and a raw SIP client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod audio;
pub mod phone;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The directory of SIPp scenarios.
pub fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sipp")
}

/// Test data directory.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// Fails loudly when a tool the test needs is missing.
pub fn require_tool(name: &str, package: &str) {
    let ok = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "{name} is required by this test: install the Debian package {package} (.ci/run does)");
}

/// A free port on 127.0.0.1 for both UDP and TCP, with the next three free for UDP too
/// (SIPp's `-mp` port takes RTP and RTCP for audio, then the next two for video).
///
/// The ports lie above the kernel's ephemeral range (32768-60999): a port from that range is
/// free when picked but any outgoing connection (a database client, the browser) may take it
/// before the server binds it. Each pick owns a block of four, so two picks never overlap.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    const LOW: u32 = 61_000;
    const SLOTS: u32 = (65_532 - LOW) / 4;
    // One random start per test process, then consecutive blocks: a fresh random start on
    // every call let two parallel tests of one binary land on the same block.
    static START: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| rand_u32() % SLOTS);
    for _ in 0..SLOTS {
        let slot = (start + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) % SLOTS;
        let port = (LOW + slot * 4) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() && (0..4).all(|k| UdpSocket::bind(("127.0.0.1", port + k)).is_ok()) {
            return port;
        }
    }
    panic!("no free port");
}

/// A random block of RTP ports.
/// The blocks lie below the kernel's ephemeral range (32768+) and `free_port`'s ports lie
/// above it, so SIPp's and sinks' ports never fall inside a server's RTP range.
pub fn rtp_range() -> String {
    // Servers started by one test binary (in parallel) get ranges of their own.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    static START: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| rand_u32() % 55);
    let slot = (start + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) % 55;
    let base = 10_000 + slot * 400;
    format!("{base}-{}", base + 399)
}

/// A random number from the OS clock and pid (no extra dependency).
pub fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    t.wrapping_mul(2_654_435_761) ^ std::process::id().wrapping_mul(40503)
}

/// Which database the server uses.
pub enum Db {
    /// SQLite in the data dir.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres(PgDb),
}

/// A PostgreSQL database created for one test and dropped after it.
pub struct PgDb {
    /// Its URL.
    pub url: String,
    name: String,
}

fn admin_url() -> String {
    std::env::var("PBX_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .arg(admin_url())
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg("-qc")
        .arg(sql)
        .output()
        .expect("psql is required (postgresql-client)");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
}

impl PgDb {
    /// Creates the database.
    pub fn create() -> PgDb {
        let name = format!("pbx_e2e_{}_{}", std::process::id(), rand_u32());
        psql(&format!("CREATE DATABASE {name}"));
        let base = admin_url().rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        PgDb { url: format!("{base}/{name}"), name }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ =
            Command::new("psql").arg(admin_url()).arg("-qc").arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).output();
    }
}

/// A running `pbx serve`.
pub struct Pbx {
    child: Option<Child>,
    /// Data dir (kept for the whole test).
    pub dir: tempfile::TempDir,
    /// SIP address.
    pub sip: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
    env: Vec<(String, String)>,
    /// Keeps the PostgreSQL database alive.
    pub db: Option<PgDb>,
}

impl Pbx {
    /// Starts a server with its own data dir and ports; `extra` env overrides settings.
    pub fn start(db: Db, extra: &[(&str, &str)]) -> Pbx {
        let dir = tempfile::tempdir().unwrap();
        let sip: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut env = vec![
            ("PBX_DATA_DIR".to_string(), dir.path().display().to_string()),
            ("PBX_SIP_LISTEN".into(), sip.to_string()),
            ("PBX_HTTP_LISTEN".into(), http.to_string()),
            ("PBX_RTP_PORTS".into(), rtp_range()),
            ("PBX_NODE_ID".into(), "test-node".into()),
            ("RUST_LOG".into(), "info,pbx=debug".into()),
        ];
        let db = match db {
            Db::Sqlite => None,
            Db::Postgres(p) => {
                env.push(("PBX_DATABASE_URL".into(), p.url.clone()));
                Some(p)
            }
        };
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push((k.to_string(), v.to_string()));
        }
        let mut pbx = Pbx { child: None, dir, sip, http, env, db };
        pbx.spawn();
        pbx
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("serve.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pbx"))
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.http_get("/healthz").is_some_and(|b| b.contains("\"ok\"")) {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("pbx serve exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("pbx serve did not become healthy:\n{}", self.log());
    }

    /// A setting the server was started with.
    pub fn env(&self, key: &str) -> Option<String> {
        self.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// What the SIPp runs of this test complained about (their `-trace_err` files and
    /// stderr), so a failed call shows the phone's side as well as the server's.
    pub fn sipp_errors(&self) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else { return out };
        let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if !(name.ends_with("_errors.log") || name.ends_with(".sipp-stderr")) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if !text.trim().is_empty() {
                let tail: String = text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                out.push_str(&format!("---- {name} ----\n{tail}\n"));
            }
        }
        out
    }

    /// `GET path` on the HTTP port; the body.
    pub fn http_get(&self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect_timeout(&self.http, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
    }

    /// A Prometheus metric's value.
    pub fn metric(&self, name: &str) -> f64 {
        let body = self.http_get("/metrics").unwrap_or_default();
        body.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// Runs a CLI command with the server's settings.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pbx")).args(args).envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).output().unwrap()
    }

    /// Runs a CLI command that must succeed; its stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "pbx {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Kills the server with SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same data and ports.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Creates tenant `acme` (domain acme.example) with users 101..=103.
    pub fn seed_acme(&self) {
        self.cli_ok(&["tenant", "create", "acme", "--domain", "acme.example", "--name", "Acme", "--no-supervisor"]);
        self.cli_ok(&["user", "create", "acme", "101", "--password", "secret101", "--name", "Иван Петров"]);
        self.cli_ok(&["user", "create", "acme", "102", "--password", "secret102", "--name", "Maria Ivanova"]);
        self.cli_ok(&["user", "create", "acme", "103", "--password", "secret103", "--name", "Baresip Phone"]);
    }

    /// Waits until every configuration change made so far is in force: the server's
    /// `/healthz` reports the version the engine runs with and the latest stored one.
    pub fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Some(body) = self.http_get("/healthz") {
                if let Ok(h) = serde_json::from_str::<serde_json::Value>(&body)
                    && h["config_stored"].is_i64()
                    && h["config_version"] == h["config_stored"]
                {
                    return;
                }
                last = body;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not load the configuration: {last}");
    }
}

impl Drop for Pbx {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("---- pbx serve log ----\n{}", self.log());
            eprintln!("{}", self.sipp_errors());
        }
    }
}

/// Where a SIPp run's stderr goes: a file in the test's directory, shown on failure.
fn sipp_stderr(pbx: &Pbx, scenario: &str, port: u16) -> Stdio {
    let name = format!("{}-{port}.sipp-stderr", scenario.trim_end_matches(".xml"));
    match std::fs::OpenOptions::new().create(true).append(true).open(pbx.dir.path().join(name)) {
        Ok(f) => Stdio::from(f),
        Err(_) => Stdio::null(),
    }
}

/// Waits until a started process listens on UDP `ip:port` (the port can no longer be bound)
/// or has exited; at most 10 s.
pub fn wait_listening(child: &mut std::process::Child, ip: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() || UdpSocket::bind((ip, port)).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A SIPp run.
pub struct Sipp;

impl Sipp {
    fn command(pbx: &Pbx, scenario: &str, port: u16, args: &[&str]) -> Command {
        Self::command_from(pbx, "127.0.0.1", scenario, port, args)
    }

    fn command_from(pbx: &Pbx, ip: &str, scenario: &str, port: u16, args: &[&str]) -> Command {
        let mut c = Command::new("sipp");
        c.arg(pbx.sip.to_string())
            .arg("-sf")
            .arg(sipp_dir().join(scenario))
            .arg("-i")
            .arg(ip)
            .arg("-p")
            .arg(port.to_string())
            .arg("-nostdin")
            .arg("-trace_err")
            .arg("-trace_msg")
            .arg("-trace_logs")
            .args(args)
            .current_dir(pbx.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(sipp_stderr(pbx, scenario, port));
        c
    }

    /// Runs a scenario to completion (bounded by `timeout`); true when every call succeeded.
    pub fn run(pbx: &Pbx, scenario: &str, port: u16, args: &[&str], timeout: Duration) -> bool {
        Self::run_from(pbx, "127.0.0.1", scenario, port, args, timeout)
    }

    /// Runs a scenario from another local address (a carrier), to completion.
    /// SIPp exits with 254 when it cannot bind its port: `free_port` only probes, so another
    /// process may take the port before SIPp binds it. That is the harness's race, not the
    /// server's, so the run is repeated on a fresh port (the server never saw the first one).
    pub fn run_from(pbx: &Pbx, ip: &str, scenario: &str, port: u16, args: &[&str], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut port = port;
        for _ in 0..3 {
            let mut child = Self::command_from(pbx, ip, scenario, port, args).spawn().expect("sipp");
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            if status.code() != Some(254) {
                return status.success();
            }
            port = free_port();
        }
        false
    }

    /// Starts a scenario in the background from another local address; returns once SIPp
    /// listens on its port (or has exited).
    pub fn spawn_from(pbx: &Pbx, ip: &str, scenario: &str, port: u16, args: &[&str]) -> SippChild {
        let mut child = Self::command_from(pbx, ip, scenario, port, args).spawn().expect("sipp");
        wait_listening(&mut child, ip, port);
        SippChild(child)
    }

    /// Starts a scenario in the background (a phone waiting for calls); returns once SIPp
    /// listens on its port (or has exited).
    pub fn spawn(pbx: &Pbx, scenario: &str, port: u16, args: &[&str]) -> SippChild {
        Self::spawn_from(pbx, "127.0.0.1", scenario, port, args)
    }

    /// Registers `user` with password `pass`, Contact on `contact_port`, from `port`.
    pub fn register(pbx: &Pbx, user: &str, pass: &str, port: u16, contact_port: u16, expires: u32) -> bool {
        Self::register_in(pbx, "acme.example", user, pass, port, contact_port, expires)
    }

    /// [`Sipp::register`] in another tenant's domain.
    pub fn register_in(pbx: &Pbx, domain: &str, user: &str, pass: &str, port: u16, contact_port: u16, expires: u32) -> bool {
        Self::run(
            pbx,
            "register.xml",
            port,
            &[
                "-m",
                "1",
                "-au",
                user,
                "-ap",
                pass,
                "-key",
                "domain",
                domain,
                "-key",
                "user",
                user,
                "-key",
                "contact_port",
                &contact_port.to_string(),
                "-key",
                "expires",
                &expires.to_string(),
            ],
            Duration::from_secs(15),
        )
    }

    /// Concatenated SIPp logs whose names start with `prefix` in the data dir.
    pub fn logs(pbx: &Pbx, prefix: &str) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(pbx.dir.path()).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(prefix) && n.ends_with(".log") {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        out
    }
}

/// A background SIPp, killed on drop.
pub struct SippChild(pub Child);

impl SippChild {
    /// Waits for it to exit by itself; true on success.
    pub fn wait(mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s.success();
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SippChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Packets a sink received: (source, RTP payload).
type Received = Arc<Mutex<Vec<(SocketAddr, Vec<u8>)>>>;

/// RTP packets received by a socket of the test: (source, payload).
pub struct RtpSink {
    /// The port it listens on.
    pub port: u16,
    packets: Received,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl RtpSink {
    /// Listens on a free even port of 127.0.0.1.
    pub fn new() -> RtpSink {
        RtpSink::on("127.0.0.1")
    }

    /// Listens on a free port of `ip`: a carrier's media on its signalling address (the PBX
    /// sends media before any arrives only to the address the signalling came from).
    pub fn on(ip: &str) -> RtpSink {
        let port = free_port();
        let sock = UdpSocket::bind((ip, port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let packets = Arc::new(Mutex::new(Vec::new()));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s, a) = (packets.clone(), stop.clone(), arrivals.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf)
                    && n >= 12
                {
                    let cc = (buf[0] & 0x0f) as usize;
                    let start = (12 + cc * 4).min(n);
                    p.lock().unwrap().push((from, buf[start..n].to_vec()));
                    a.lock().unwrap().push(Instant::now());
                }
            }
        });
        RtpSink { port, packets, arrivals, stop }
    }

    /// What arrived so far.
    pub fn packets(&self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.packets.lock().unwrap().clone()
    }

    /// When each packet arrived.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }
}

impl Drop for RtpSink {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// RTP payloads of the UDP packets in a pcap file (Ethernet or Linux cooked capture).
pub fn pcap_rtp_payloads(path: &Path) -> Vec<Vec<u8>> {
    let d = std::fs::read(path).unwrap();
    let le = d[0..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let u32_at = |i: usize| {
        let b = [d[i], d[i + 1], d[i + 2], d[i + 3]];
        if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) }
    };
    let link = u32_at(20);
    let l2 = match link {
        1 => 14,
        113 => 16,
        _ => panic!("unsupported pcap link type {link}"),
    };
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= d.len() {
        let incl = u32_at(i + 8) as usize;
        let pkt = &d[i + 16..(i + 16 + incl).min(d.len())];
        i += 16 + incl;
        if pkt.len() < l2 + 20 {
            continue;
        }
        let ip = &pkt[l2..];
        let ihl = ((ip[0] & 0x0f) as usize) * 4;
        if ip[9] != 17 || ip.len() < ihl + 8 + 12 {
            continue;
        }
        let rtp = &ip[ihl + 8..];
        let cc = (rtp[0] & 0x0f) as usize;
        if rtp.len() > 12 + cc * 4 {
            out.push(rtp[12 + cc * 4..].to_vec());
        }
    }
    out
}

/// The pcap SIPp plays as a caller's voice.
pub fn voice_pcap() -> PathBuf {
    PathBuf::from("/usr/share/sip-tester/g711a.pcap")
}

/// Waits for `cond` up to `timeout`.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// The call log as JSON rows.
pub fn call_log(pbx: &Pbx) -> Vec<serde_json::Value> {
    let out = pbx.cli_ok(&["calls", "list", "acme", "--json"]);
    serde_json::from_str(&out).unwrap()
}

/// A phone that answers calls (SIPp UAS) whose RTP goes to a sink of the test.
pub struct AnsweringPhone {
    _uas: SippChild,
    /// Where the phone's RTP ends up.
    pub sink: RtpSink,
    /// The phone's SIP port.
    pub port: u16,
}

/// Registers `user` from a SIPp UAS that answers one call.
pub fn answering_phone(pbx: &Pbx, user: &str, pass: &str) -> AnsweringPhone {
    let sink = RtpSink::new();
    let sink_port = sink.port.to_string();
    let (mut port, mut uas) = (0, None);
    // A UAS that could not bind its port (exit 254) is started again on another one.
    for _ in 0..3 {
        port = free_port();
        let mut child = Sipp::spawn(pbx, "uas.xml", port, &["-m", "1", "-d", "300", "-key", "sink_port", &sink_port]);
        if !matches!(child.0.try_wait(), Ok(Some(s)) if s.code() == Some(254)) {
            uas = Some(child);
            break;
        }
    }
    let uas = uas.expect("SIPp could not bind a port three times");
    assert!(Sipp::register(pbx, user, pass, free_port(), port, 300), "SIPp could not register {user}");
    AnsweringPhone { _uas: uas, sink, port }
}

/// SIPp's arguments for a call of acme.example from `from` to `to` that sends voice (the
/// pcap) and hangs up after `talk_ms`.
fn caller_args(from: &str, pass: &str, to: &str, talk_ms: u32) -> Vec<String> {
    let mut a: Vec<String> = ["-m", "1", "-au", from, "-ap", pass, "-s", to, "-d"].map(String::from).to_vec();
    a.extend([talk_ms.to_string(), "-mp".into(), free_port().to_string()]);
    a.extend(["-key", "domain", "acme.example", "-key", "user", from, "-key", "pcap"].map(String::from));
    a.push(voice_pcap().display().to_string());
    a
}

/// A SIPp call of acme.example from `from` to `to` that sends voice for `talk_ms`.
pub fn sipp_call(pbx: &Pbx, from: &str, pass: &str, to: &str, talk_ms: u32) -> bool {
    let args = caller_args(from, pass, to, talk_ms);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    Sipp::run(pbx, "uac.xml", free_port(), &a, Duration::from_secs(30))
}

/// [`sipp_call`] in the background.
pub fn sipp_caller(pbx: &Pbx, from: &str, pass: &str, to: &str, talk_ms: u32) -> SippChild {
    let args = caller_args(from, pass, to, talk_ms);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    Sipp::spawn(pbx, "uac.xml", free_port(), &a)
}

/// Installs the browser tests' Node packages (`tests/web`, pinned by its lockfile) when
/// they are missing.
pub fn node_packages(dir: &Path) {
    let have = |p: &str| dir.join("node_modules").join(p).exists();
    if have("playwright-core") && have("@apidevtools/swagger-parser") && have("puppeteer-core") {
        return;
    }
    let out = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "npm ci in {} failed: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
}
