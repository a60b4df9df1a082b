//! Registration of the PBX to carriers (trunks with `--register`): REGISTER with digest
//! authentication, refreshed before it expires, retried with back-off when it fails, the
//! state written to storage for `pbx trunk list` and the cabinet.

use super::call::TxOwner;
use super::directory::TrunkInfo;
use super::{Action, Engine, EngineTimer, Now, random_token};
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, Response, SipMessage};
use pbx_sip::method::Method;
use pbx_sip::transaction::{Target, Transport};
use pbx_sip::uri::Uri;
use std::sync::Arc;
use std::time::Duration;

/// Seconds of registration asked from carriers.
const TRUNK_EXPIRES: u32 = 300;
/// First retry after a failure; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: u64 = 10;
/// Longest wait between retries.
const MAX_RETRY: u64 = 300;

/// The registration of one trunk.
#[derive(Debug)]
pub(super) struct TrunkReg {
    trunk: Arc<TrunkInfo>,
    call_id: String,
    from_tag: String,
    cseq: u32,
    authed: bool,
    retry: u64,
    timer: Option<super::timers::TimerId>,
    unregistering: bool,
}

impl Engine {
    /// Starts, restarts or stops registrations so that they match the directory.
    pub(super) fn reconcile_trunks(&mut self, now: Now) {
        let wanted: Vec<Arc<TrunkInfo>> = self.dir.trunks().filter(|t| t.register && t.addr.is_some()).cloned().collect();
        let stale: Vec<i64> = self
            .trunk_regs
            .iter()
            .filter(|(id, reg)| {
                !wanted
                    .iter()
                    .any(|w| w.id == **id && w.host == reg.trunk.host && w.credentials == reg.trunk.credentials && w.addr == reg.trunk.addr)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(mut reg) = self.trunk_regs.remove(&id) {
                if let Some(t) = reg.timer.take() {
                    self.timers.cancel(t);
                }
                reg.unregistering = true;
                self.send_register(&mut reg, 0, None, now);
            }
        }
        for t in wanted {
            if self.trunk_regs.contains_key(&t.id) {
                continue;
            }
            let mut reg = TrunkReg {
                trunk: t.clone(),
                call_id: format!("{}@pbx", random_token(20)),
                from_tag: random_token(10),
                cseq: 0,
                authed: false,
                retry: FIRST_RETRY,
                timer: None,
                unregistering: false,
            };
            self.trunk_state(&t, "registering", "");
            self.send_register(&mut reg, TRUNK_EXPIRES, None, now);
            self.trunk_regs.insert(t.id, reg);
        }
    }

    fn trunk_state(&mut self, t: &TrunkInfo, state: &str, detail: &str) {
        tracing::info!(trunk = %t.name, state, detail, "trunk registration");
        self.actions.push_back(Action::TrunkState { id: t.id, state: state.to_string(), detail: detail.to_string() });
    }

    fn send_register(&mut self, reg: &mut TrunkReg, expires: u32, auth: Option<(HeaderName, String)>, now: Now) {
        let Some(addr) = reg.trunk.addr else { return };
        let Some((user, _)) = reg.trunk.credentials.clone() else { return };
        let host = reg.trunk.host.clone();
        let Ok(uri) = Uri::parse(&format!("sip:{host}")) else { return };
        reg.cseq += 1;
        let mut r = Request::new(Method::Register, uri);
        r.headers.push(HeaderName::Via, self.new_via(Transport::Udp));
        r.headers.push(HeaderName::MaxForwards, "70");
        r.headers.push(HeaderName::From, format!("<sip:{user}@{host}>;tag={}", reg.from_tag));
        r.headers.push(HeaderName::To, format!("<sip:{user}@{host}>"));
        r.headers.push(HeaderName::CallId, reg.call_id.clone());
        r.headers.push(HeaderName::CSeq, format!("{} REGISTER", reg.cseq));
        r.headers.push(HeaderName::Contact, format!("<sip:{user}@{}:{}>", self.host(), self.cfg.udp_port));
        r.headers.push(HeaderName::Expires, expires.to_string());
        r.headers.push(HeaderName::UserAgent, self.cfg.user_agent.clone());
        if let Some((name, value)) = auth {
            r.headers.push(name, value);
        }
        let target = Target { transport: Transport::Udp, addr, conn: None };
        let tx = self.txl.send_request(&r, target, now.mono);
        if !reg.unregistering {
            self.client_tx.insert(tx, TxOwner::TrunkReg(reg.trunk.id));
        }
    }

    /// A response to a trunk REGISTER (or its timeout, as a synthetic 408).
    pub(super) fn on_trunk_register_response(&mut self, trunk_id: i64, resp: &Response, now: Now) {
        let Some(mut reg) = self.trunk_regs.remove(&trunk_id) else { return };
        let trunk = reg.trunk.clone();
        match resp.status {
            100..=199 => {}
            200..=299 => {
                let granted = resp
                    .contacts()
                    .iter()
                    .find_map(|c| c.param("expires").and_then(|e| e.parse::<u32>().ok()))
                    .or_else(|| resp.headers.get(&HeaderName::Expires).and_then(|e| e.parse().ok()))
                    .unwrap_or(TRUNK_EXPIRES)
                    .max(10);
                reg.authed = false;
                reg.retry = FIRST_RETRY;
                let refresh = (u64::from(granted) * 4 / 5).max(5);
                reg.timer = Some(self.timers.schedule(now.mono + Duration::from_secs(refresh), EngineTimer::TrunkRefresh(trunk_id)));
                self.trunk_state(&trunk, "registered", &format!("for {granted} s"));
            }
            401 | 407 if !reg.authed => {
                let (challenge, answer) = if resp.status == 401 {
                    (HeaderName::WwwAuthenticate, HeaderName::Authorization)
                } else {
                    (HeaderName::ProxyAuthenticate, HeaderName::ProxyAuthorization)
                };
                let value = resp.headers.get(&challenge).map(str::to_string);
                let (user, pass) = trunk.credentials.clone().unwrap_or_default();
                let auth = value.and_then(|v| pbx_sip::digest::authorize(&v, &user, &pass, "REGISTER", &format!("sip:{}", trunk.host), 1));
                match auth {
                    Some(a) => {
                        reg.authed = true;
                        self.send_register(&mut reg, TRUNK_EXPIRES, Some((answer, a)), now);
                    }
                    None => self.trunk_failed(&mut reg, "the carrier's challenge cannot be answered", now),
                }
            }
            s => {
                let detail = if s == 401 || s == 407 {
                    "credentials rejected".to_string()
                } else {
                    format!("{s} {}", if resp.reason.is_empty() { Response::default_reason(s) } else { &resp.reason })
                };
                self.trunk_failed(&mut reg, &detail, now);
            }
        }
        self.trunk_regs.insert(trunk_id, reg);
    }

    fn trunk_failed(&mut self, reg: &mut TrunkReg, detail: &str, now: Now) {
        reg.authed = false;
        let trunk = reg.trunk.clone();
        self.trunk_state(&trunk, "failed", &format!("{detail}; retry in {} s", reg.retry));
        reg.timer = Some(self.timers.schedule(now.mono + Duration::from_secs(reg.retry), EngineTimer::TrunkRefresh(trunk.id)));
        reg.retry = (reg.retry * 2).min(MAX_RETRY);
    }

    /// Time to refresh (or retry) a trunk's registration.
    pub(super) fn on_trunk_refresh(&mut self, trunk_id: i64, now: Now) {
        let Some(mut reg) = self.trunk_regs.remove(&trunk_id) else { return };
        reg.timer = None;
        reg.authed = false;
        self.send_register(&mut reg, TRUNK_EXPIRES, None, now);
        self.trunk_regs.insert(trunk_id, reg);
    }
}
