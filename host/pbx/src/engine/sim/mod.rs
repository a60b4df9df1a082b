//! The engine in memory: phones, carriers and the PBX on a simulated network (latency, loss,
//! duplication, reordering) in virtual time, the way quinn-proto and str0m test their state
//! machines. Minutes of ringing, retransmissions and races run in milliseconds, and a run is
//! reproducible from its seed. The media plane is simulated too: prompts finish after their
//! length, sessions and ports are tracked, so leaks show.

pub mod phone;

use super::directory::Directory;
use super::{Action, Engine, EngineConfig, Input, Now};
use crate::metrics::Metrics;
use pbx_media::{MediaCommand, MediaEvent, SessionId, Side, Source};
use pbx_sip::message::Message;
use pbx_sip::parse::{Framing, ParseError, parse_message};
use pbx_sip::transaction::{Target, Transport};
pub use phone::{Auto, Phone};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The PBX's address on the simulated network.
pub const PBX_ADDR: &str = "10.0.0.1:5060";
/// The carrier's address (its trunk accepts 10.0.2.0/24).
pub const CARRIER_ADDR: &str = "10.0.2.1:5060";
/// The city number of the simulated office.
pub const DID: &str = "+74951234567";

/// What the network does to datagrams.
#[derive(Debug, Clone, Copy)]
pub struct Impairments {
    /// Share of datagrams lost.
    pub loss: f64,
    /// Share delivered twice.
    pub duplicate: f64,
    /// Extra random delay, up to this (reorders datagrams).
    pub jitter: Duration,
    /// Base one-way latency.
    pub latency: Duration,
}

impl Default for Impairments {
    fn default() -> Impairments {
        Impairments { loss: 0.0, duplicate: 0.0, jitter: Duration::ZERO, latency: Duration::from_millis(5) }
    }
}

/// A datagram in flight.
#[derive(Debug, Clone)]
struct Datagram {
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// A media session as the simulated plane keeps it.
#[derive(Debug, Clone, Default)]
pub struct SimSession {
    /// Ports (A, B).
    pub ports: (u16, u16),
    /// What each leg is sent.
    pub sources: [Option<String>; 2],
    /// Remote RTP address of each leg.
    pub remotes: [Option<SocketAddr>; 2],
    /// Recording path, while recording.
    pub recording: Option<std::path::PathBuf>,
}

/// Events the test harness schedules for the engine.
#[derive(Debug)]
enum Pending {
    Deliver(Datagram),
    Engine(Input),
}

/// The whole simulated world.
pub struct Sim {
    /// The engine under test.
    pub engine: Engine,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// Phones and carriers, by address.
    pub phones: BTreeMap<SocketAddr, Phone>,
    /// The network's behaviour.
    pub net: Impairments,
    /// Virtual time since the start.
    pub t: Duration,
    /// Live media sessions.
    pub media: HashMap<SessionId, SimSession>,
    /// Every media command, in order.
    pub media_log: Vec<MediaCommand>,
    /// Call-log changes the engine wrote.
    pub cdr: Vec<pbx_store::CallOp>,
    /// Every datagram the PBX sent (time, destination, bytes).
    pub pbx_sent: Vec<(Duration, SocketAddr, Vec<u8>)>,
    /// Other actions, for assertions.
    pub actions: Vec<Action>,
    /// Answers the harness gives to plugin decisions (none: "unavailable").
    pub plugin_answer: Option<PluginAnswer>,
    /// RTP ports another process holds: a session naming one fails to bind.
    pub busy_ports: std::collections::HashSet<u16>,
    base: Instant,
    queue: BTreeMap<(Duration, u64), Pending>,
    seq: u64,
    pbx: SocketAddr,
}

/// How the harness answers plugin decisions.
pub type PluginAnswer = Box<dyn FnMut(&crate::plugins::PluginCall) -> Vec<pbx_plugin_host::Verb>>;

/// Settings of a simulated PBX: the engine's, with the ring time and a seed.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Engine settings (the address and ports are the simulation's).
    pub engine: EngineConfig,
    /// Seed of every random choice (the engine's and the network's).
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig { engine: EngineConfig::default(), seed: 1 }
    }
}

/// The simulated office: tenant `acme` (domain `acme.example`) with users 101–105
/// (password `secret` + extension), a carrier trunk from 10.0.2.0/24 and the city number
/// [`DID`] ringing everyone; and a second tenant `beta` (`beta.example`, users 201 and 202).
pub fn office() -> Directory {
    office_with(office_tenant())
}

/// The simulated office's company `acme`, balance 100.00, to change before
/// [`office_with`].
pub fn office_tenant() -> pbx_store::Tenant {
    use pbx_store::{Tenant, TenantStatus};
    Tenant {
        id: 1,
        slug: "acme".into(),
        name: "Acme".into(),
        domain: "acme.example".into(),
        status: TenantStatus::Active,
        balance_cents: 10_000,
        charged_cents: 0,
        low_balance_cents: 0,
        created_at: 0,
        country_code: "7".into(),
        emergency_numbers: vec!["112".into()],
        recording: Vec::new(),
        retention_days: 30,
        language: "en".into(),
        moh_prompt: "music".into(),
        greeting_prompt: String::new(),
        timezone: "Europe/Moscow".into(),
        working_hours: String::new(),
        after_hours_prompt: "closed".into(),
    }
}

/// [`office`] with its company `acme` as given.
pub fn office_with(tenant: pbx_store::Tenant) -> Directory {
    office_with_scenario(tenant, None)
}

/// [`office_with`], its city number following `scenario` (JSON) if given.
pub fn office_with_scenario(tenant: pbx_store::Tenant, scenario: Option<String>) -> Directory {
    use pbx_store::{Did, Role, Tenant, Trunk, User};
    let beta = Tenant { id: 2, slug: "beta".into(), name: "Beta".into(), domain: "beta.example".into(), ..tenant.clone() };
    let users: Vec<User> = (101..=105)
        .chain(201..=202)
        .map(|ext| {
            let (tenant_id, domain) = if ext > 200 { (2, "beta.example") } else { (1, "acme.example") };
            let (sip_ha1_md5, sip_ha1_sha256) = pbx_store::sip_ha1(&ext.to_string(), domain, &format!("secret{ext}"));
            User {
                id: ext,
                tenant_id,
                ext: ext.to_string(),
                name: format!("User {ext}"),
                sip_ha1_md5,
                sip_ha1_sha256,
                role: Role::User,
                has_web_login: false,
                created_at: 0,
                forwarding: Default::default(),
                dnd: false,
            }
        })
        .collect();
    let trunk = Trunk {
        id: 1,
        name: "carrier".into(),
        host: CARRIER_ADDR.into(),
        username: None,
        password: None,
        register: false,
        allow_ips: vec!["10.0.2.0/24".into()],
        country_code: "7".into(),
        number_format: "e164".into(),
        reg_state: String::new(),
        reg_detail: String::new(),
        reg_updated_at: 0,
    };
    let did = Did {
        id: 1,
        tenant_id: 1,
        number: DID.into(),
        trunk_id: 1,
        trunk: "carrier".into(),
        user_id: None,
        user_ext: None,
        is_main: true,
        scenario,
    };
    let resolved = HashMap::from([(1, addr(CARRIER_ADDR))]);
    Directory::build(&[tenant, beta], &users, &[trunk], &[did], &resolved)
}

/// A carrier's INVITE to the office's city number from `from` (the From user part as the
/// carrier writes it), with an offer of PCMA and telephone-event.
pub fn carrier_invite(from: &str, call_id: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.2.1\r\ns=-\r\nc=IN IP4 10.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    format!(
        "INVITE sip:{did}@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.2.1:5060;branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\n\
         From: <sip:{from}@10.0.2.1>;tag=c-{call_id}\r\nTo: <sip:{did}@10.0.0.1>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:c@10.0.2.1>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
        did = DID.trim_start_matches('+'),
        len = sdp.len(),
    )
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5060)))
}

impl Sim {
    /// A simulated PBX over `dir`.
    pub fn new(dir: Directory, cfg: SimConfig) -> Sim {
        super::rng::seed(cfg.seed);
        let pbx = addr(PBX_ADDR);
        let metrics = Arc::new(Metrics::default());
        let engine_cfg = EngineConfig { public_ip: pbx.ip(), udp_port: pbx.port(), data_dir: None, ..cfg.engine };
        let engine = Engine::new(engine_cfg, Arc::new(dir), metrics.clone());
        Sim {
            engine,
            metrics,
            phones: BTreeMap::new(),
            net: Impairments::default(),
            t: Duration::ZERO,
            media: HashMap::new(),
            media_log: Vec::new(),
            cdr: Vec::new(),
            pbx_sent: Vec::new(),
            actions: Vec::new(),
            plugin_answer: None,
            busy_ports: Default::default(),
            base: Instant::now(),
            queue: BTreeMap::new(),
            seq: 0,
            pbx,
        }
    }

    /// The simulated office with default settings.
    pub fn office() -> Sim {
        Sim::new(office(), SimConfig::default())
    }

    /// The engine's view of now.
    pub fn now(&self) -> Now {
        Now { mono: self.base + self.t, wall_ms: 1_767_225_600_000 + self.t.as_millis() as i64 }
    }

    /// Adds a phone of extension `ext` at 10.0.1.`ext % 250`.
    pub fn add_phone(&mut self, ext: &str) -> SocketAddr {
        let n: u8 = ext.parse::<u32>().map(|e| (e % 250) as u8).unwrap_or(1);
        let a = SocketAddr::new(IpAddr::from([10, 0, 1, n]), 5060);
        self.add_phone_at(a, ext)
    }

    /// Adds a phone of extension `ext` at `a` (extensions above 200 are beta's).
    pub fn add_phone_at(&mut self, a: SocketAddr, ext: &str) -> SocketAddr {
        let domain = if ext.parse::<u32>().is_ok_and(|e| e > 200 && e < 300) { "beta.example" } else { "acme.example" };
        self.phones.insert(a, Phone::new(a, ext, &format!("secret{ext}"), domain));
        a
    }

    /// Adds the carrier (a phone at [`CARRIER_ADDR`] that calls city numbers).
    pub fn add_carrier(&mut self) -> SocketAddr {
        let a = addr(CARRIER_ADDR);
        let mut p = Phone::new(a, "carrier", "", "10.0.0.1");
        p.auto = Auto { ring: true, answer_after: Some(Duration::from_millis(100)), reject: None };
        self.phones.insert(a, p);
        a
    }

    /// A phone by address.
    pub fn phone(&mut self, a: SocketAddr) -> &mut Phone {
        self.phones.entry(a).or_insert_with(|| Phone::new(a, "x", "x", "acme.example"))
    }

    /// Registers a phone and runs until the registration is done.
    pub fn register(&mut self, a: SocketAddr) {
        let t = self.t;
        self.phone(a).register(t, 3600);
        self.run_for(Duration::from_secs(1));
    }

    /// The phone at `a` calls `number`; returns the Call-ID.
    pub fn call(&mut self, a: SocketAddr, number: &str) -> String {
        let t = self.t;
        let id = self.phone(a).invite(t, number);
        self.flush_phones();
        id
    }

    /// Sends raw bytes from `from` to the PBX.
    pub fn inject(&mut self, from: SocketAddr, bytes: &[u8]) {
        self.deliver_later(Datagram { from, to: self.pbx, bytes: bytes.to_vec() }, Duration::ZERO);
    }

    /// Feeds the engine an input now (after the current step).
    pub fn feed(&mut self, input: Input) {
        self.schedule(Duration::ZERO, Pending::Engine(input));
    }

    fn schedule(&mut self, after: Duration, p: Pending) {
        self.seq += 1;
        self.queue.insert((self.t + after, self.seq), p);
    }

    fn deliver_later(&mut self, d: Datagram, after: Duration) {
        self.schedule(after, Pending::Deliver(d));
    }

    /// Puts a datagram on the wire with the network's impairments.
    fn transmit(&mut self, d: Datagram) {
        let rng = super::rng::unit;
        if rng() < self.net.loss {
            return;
        }
        let jitter = |net: &Impairments| net.jitter.mul_f64(rng());
        let copies = if rng() < self.net.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let delay = self.net.latency + jitter(&self.net);
            self.deliver_later(d.clone(), delay);
        }
    }

    fn flush_phones(&mut self) {
        let mut out = Vec::new();
        for p in self.phones.values_mut() {
            for bytes in p.take_out() {
                out.push(Datagram { from: p.addr, to: self.pbx, bytes });
            }
        }
        for d in out {
            self.transmit(d);
        }
    }

    fn drain_engine(&mut self) {
        while let Some(a) = self.engine.poll_action() {
            match a {
                Action::Send { target, bytes } => {
                    self.pbx_sent.push((self.t, target.addr, bytes.clone()));
                    self.transmit(Datagram { from: self.pbx, to: target.addr, bytes });
                }
                Action::Media(cmd) => self.apply_media(cmd),
                Action::Cdr { op, ack } => {
                    self.cdr.push(op);
                    if let Some(k) = ack {
                        self.schedule(Duration::from_millis(1), Pending::Engine(Input::CdrCommitted(k)));
                    }
                }
                Action::Plugin { key, token, call } => {
                    let result = match self.plugin_answer.as_mut() {
                        Some(f) => Ok(f(&call)),
                        None => Err(pbx_plugin_host::PluginError::Unavailable("no plugins in the simulation".into())),
                    };
                    self.schedule(Duration::from_millis(1), Pending::Engine(Input::PluginDone { key, token, result, version: None }));
                }
                other => self.actions.push(other),
            }
        }
    }

    fn apply_media(&mut self, cmd: MediaCommand) {
        self.media_log.push(cmd.clone());
        match cmd {
            MediaCommand::Create { id, a_port, b_port } => {
                if [a_port, a_port + 1, b_port, b_port + 1].iter().any(|p| self.busy_ports.contains(p)) {
                    self.schedule(Duration::ZERO, Pending::Engine(Input::Media(MediaEvent::SessionFailed { id })));
                    return;
                }
                self.media.insert(id, SimSession { ports: (a_port, b_port), ..Default::default() });
            }
            MediaCommand::SetRemote { id, side, remote } => {
                if let Some(s) = self.media.get_mut(&id) {
                    s.remotes[side as usize] = remote.rtp;
                }
            }
            MediaCommand::SetSource { id, side, source } => {
                let label = match &source {
                    Source::Peer => "peer".to_string(),
                    Source::Play { items, .. } => format!("play:{}", items.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(",")),
                    Source::Loop(p) => format!("loop:{}", p.name),
                    Source::Silence => "silence".to_string(),
                };
                if let Some(s) = self.media.get_mut(&id) {
                    s.sources[side as usize] = Some(label);
                }
                if let Source::Play { items, token } = source {
                    let ms: u64 = items.iter().map(|p| p.duration_ms()).sum();
                    let ev = MediaEvent::PlayDone { id, side, token };
                    self.schedule(Duration::from_millis(ms.max(20)), Pending::Engine(Input::Media(ev)));
                }
            }
            MediaCommand::Record { id, path } => {
                if let Some(s) = self.media.get_mut(&id) {
                    s.recording = path;
                }
            }
            MediaCommand::Inband { .. } => {}
            MediaCommand::Destroy { id } => {
                self.media.remove(&id);
            }
        }
    }

    /// A key pressed on leg `side` of media session `id` (as RFC 4733 would report it).
    pub fn dtmf(&mut self, id: SessionId, side: Side, digit: char) {
        self.feed(Input::Media(MediaEvent::Dtmf { id, side, digit, source: pbx_media::dtmf::DtmfSource::Rfc4733 }));
    }

    /// Runs the world for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.t + d;
        self.flush_phones();
        self.drain_engine();
        loop {
            let engine_at = self.engine.poll_timeout().map(|i| i.saturating_duration_since(self.base));
            let queue_at = self.queue.keys().next().map(|(t, _)| *t);
            let phone_at = self.phones.values().filter_map(Phone::next_timer).min();
            let Some(next) = [engine_at, queue_at, phone_at].into_iter().flatten().min() else {
                self.t = end;
                break;
            };
            if next > end {
                self.t = end;
                break;
            }
            self.t = self.t.max(next);
            self.step();
        }
    }

    fn step(&mut self) {
        let now = self.now();
        if self.engine.poll_timeout().is_some_and(|d| d <= now.mono) {
            self.engine.handle_timeout(now);
            self.drain_engine();
        }
        let t = self.t;
        for p in self.phones.values_mut() {
            if p.next_timer().is_some_and(|at| at <= t) {
                p.on_timer(t);
            }
        }
        self.flush_phones();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.t {
                break;
            }
            let p = entry.remove();
            match p {
                Pending::Engine(input) => {
                    self.engine.handle(input, self.now());
                }
                Pending::Deliver(d) if d.to == self.pbx => {
                    let source = Target { transport: Transport::Udp, addr: d.from, conn: None };
                    let input = match parse_message(&d.bytes, Framing::Datagram) {
                        Ok(p) => Some(Input::Sip { msg: p.message, source }),
                        Err(ParseError::BadRequest(r)) => Some(Input::Rejected { rejection: r, source }),
                        Err(_) => None,
                    };
                    if let Some(i) = input {
                        self.engine.handle(i, self.now());
                    }
                }
                Pending::Deliver(d) => {
                    let t = self.t;
                    if let (Some(p), Ok(parsed)) = (self.phones.get_mut(&d.to), parse_message(&d.bytes, Framing::Datagram)) {
                        p.receive(t, parsed.message);
                    }
                }
            }
            self.drain_engine();
            self.flush_phones();
        }
    }

    /// Messages the PBX sent to `to`, parsed.
    pub fn sent_to(&self, to: SocketAddr) -> Vec<Message> {
        self.pbx_sent
            .iter()
            .filter(|(_, a, _)| *a == to)
            .filter_map(|(_, _, b)| parse_message(b, Framing::Datagram).ok().map(|p| p.message))
            .collect()
    }

    /// Live calls in the engine.
    pub fn calls(&self) -> usize {
        self.engine.call_count()
    }

    /// The call-log rows ended so far (call id, disposition, cause).
    pub fn ended(&self) -> Vec<(String, String, String)> {
        self.cdr
            .iter()
            .filter_map(|op| match op {
                pbx_store::CallOp::End(e) => Some((e.id.clone(), e.disposition.as_str().to_string(), e.hangup_cause.clone())),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod after_hours_tests;
#[cfg(test)]
mod attack_tests;
#[cfg(test)]
mod billing_tests;
#[cfg(test)]
mod blf_tests;
#[cfg(test)]
mod blocking_tests;
#[cfg(test)]
mod click_tests;
#[cfg(test)]
mod contact_tests;
#[cfg(test)]
mod event_tests;
#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod pickup_tests;
#[cfg(test)]
mod queue_tests;
#[cfg(test)]
mod tests;
