//! The registrar (RFC 3261 §10.3): digest-authenticated REGISTER, contact bindings with
//! expiry, several contacts per user, unregistration, and the location lookups the call
//! engine uses to reach a user's phones.

use super::auth::{AuthOutcome, Claim};
use super::{Action, Engine, EngineTimer, Now, random_token};
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, Response, SipMessage};
use pbx_sip::transaction::{Target, Transport, TxId};
use pbx_sip::uri::Uri;
use pbx_store::RegistrationRow;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Most bindings kept per user; the oldest goes when a new one arrives.
const MAX_BINDINGS_PER_USER: usize = 10;

/// One registered contact of a user.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The contact URI as registered.
    pub contact: String,
    /// Parsed contact URI (the Request-URI of calls to this phone).
    pub uri: Uri,
    /// The flow the REGISTER came over (where calls are sent, for NAT).
    pub target: Target,
    /// Expiry.
    pub expires_at: Instant,
    /// Expiry, wall clock ms.
    pub expires_ms: i64,
    /// Registration Call-ID.
    pub call_id: String,
    /// Registration CSeq.
    pub cseq: u32,
    /// Expiry last written to storage (refreshes within half an interval are not written).
    pub persisted_ms: i64,
}

/// Bindings of every user.
#[derive(Debug, Default)]
pub struct Location {
    by_user: HashMap<i64, Vec<Binding>>,
    total: usize,
    /// Live bindings per source address (brute-force protection slows, never blocks, these).
    by_ip: HashMap<std::net::IpAddr, u32>,
}

impl Location {
    /// Live bindings of a user.
    pub fn bindings(&self, user_id: i64, now: Instant) -> Vec<Binding> {
        self.by_user.get(&user_id).map(|v| v.iter().filter(|b| b.expires_at > now).cloned().collect()).unwrap_or_default()
    }

    /// Whether a user has a live binding (without copying them).
    pub fn has_binding(&self, user_id: i64, now: Instant) -> bool {
        self.by_user.get(&user_id).is_some_and(|v| v.iter().any(|b| b.expires_at > now))
    }

    /// Total bindings (kept up to date, not counted on each call).
    pub fn count(&self) -> usize {
        self.total
    }

    fn recount(&mut self) {
        self.by_user.retain(|_, v| !v.is_empty());
        self.total = self.by_user.values().map(Vec::len).sum();
        self.by_ip.clear();
        for b in self.by_user.values().flatten() {
            *self.by_ip.entry(b.target.addr.ip()).or_insert(0) += 1;
        }
    }

    /// Whether phones hold registrations from `ip`.
    pub fn has_source(&self, ip: std::net::IpAddr) -> bool {
        self.by_ip.contains_key(&ip)
    }

    /// Whether `user` of a tenant has a live registration from `ip`.
    pub fn bound_from(&self, dir: &super::directory::Directory, tenant_id: Option<i64>, user: &str, ip: std::net::IpAddr) -> bool {
        if !self.has_source(ip) {
            return false;
        }
        let Some(u) = tenant_id.and_then(|t| dir.user(t, user)) else { return false };
        self.by_user.get(&u.id).is_some_and(|list| list.iter().any(|b| b.target.addr.ip() == ip))
    }

    /// Adds (`add`) or removes a user's bindings from the per-address index.
    fn index_user(&mut self, user: i64, add: bool) {
        let Some(list) = self.by_user.get(&user) else { return };
        for b in list {
            let ip = b.target.addr.ip();
            if add {
                *self.by_ip.entry(ip).or_insert(0) += 1;
            } else if let Some(n) = self.by_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.by_ip.remove(&ip);
                }
            }
        }
    }
}

/// Where calls to a binding are sent. Over TCP/TLS: the connection the REGISTER came on.
/// Over UDP: the Contact's address when it names the host the REGISTER came from (no NAT in
/// between, the phone said where it listens); otherwise the REGISTER's source address, which
/// is the NAT binding that reaches a phone behind NAT.
fn binding_target(contact: &Uri, source: Target) -> Target {
    if source.transport.is_reliable() {
        return source;
    }
    let Some(sip) = contact.as_sip() else { return source };
    let host = sip.host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip == source.addr.ip() => {
            let port = sip.port.unwrap_or(5060);
            Target { addr: std::net::SocketAddr::new(ip, port), ..source }
        }
        _ => source,
    }
}

fn source_text(t: &Target) -> String {
    format!("{}:{}", t.transport.as_str().to_ascii_lowercase(), t.addr)
}

fn parse_source(s: &str) -> Option<Target> {
    let (t, addr) = s.split_once(':')?;
    let transport = match t {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        "ws" => Transport::Ws,
        "wss" => Transport::Wss,
        _ => return None,
    };
    Some(Target { transport, addr: addr.parse().ok()?, conn: None })
}

impl Engine {
    pub(super) fn on_register(&mut self, req: Request, tx: Option<TxId>, source: Target, resp_target: Target, now: Now) {
        let Some(domain) = req.uri.as_sip().map(|u| u.host.to_ascii_lowercase()) else {
            let r = req.response(400, "REGISTER Request-URI must be a SIP URI", Some(&random_token(10)));
            return self.respond(tx, r, resp_target, now);
        };
        let tenant = self.dir.tenant_by_domain(&domain).cloned();
        let (location, dir, ip, tenant_id) = (&self.location, &self.dir, source.addr.ip(), tenant.as_ref().map(|t| t.id));
        let bound_here = |user: &str| location.bound_from(dir, tenant_id, user, ip);
        let claim = Claim { realm: &domain, tenant_id, source: source.addr, bound_here: &bound_here, server: &self.server_addr };
        let outcome = match self.flow_user(source, &domain, req.parsed_to().as_ref()) {
            Some(u) => AuthOutcome::Ok(u),
            None => self.auth.check(&req, &HeaderName::Authorization, &claim, &self.dir, now.mono, now.unix_secs()),
        };
        let user = match outcome {
            AuthOutcome::Ok(u) => u,
            AuthOutcome::Challenge(stale) => {
                let mut r = req.response(401, "Unauthorized", Some(&random_token(10)));
                for c in self.auth.challenges(&domain, stale, now.unix_secs()) {
                    r.headers.push(HeaderName::WwwAuthenticate, c);
                }
                return self.respond(tx, r, resp_target, now);
            }
            AuthOutcome::Forbidden(delay) => return self.forbid(tx, &req, resp_target, delay, now),
            AuthOutcome::Blocked => return self.forbid(tx, &req, resp_target, Duration::ZERO, now),
            AuthOutcome::WrongUri => {
                let r = req.response(400, "Bad Request: the credentials name another Request-URI", Some(&random_token(10)));
                return self.respond(tx, r, resp_target, now);
            }
        };
        // The authenticated user may only bind their own address of record.
        let to_user = req.parsed_to().and_then(|t| t.uri.as_sip().and_then(|u| u.user_unescaped()));
        if to_user.as_deref() != Some(user.ext.as_str()) {
            let r = req.response(403, "Forbidden: To does not match the authenticated user", Some(&random_token(10)));
            return self.respond(tx, r, resp_target, now);
        }
        let header_expires = req.headers.get(&HeaderName::Expires).and_then(|e| e.parse::<u64>().ok());
        let contact_values: Vec<&str> = req.headers.get_all(&HeaderName::Contact).collect();
        let call_id = req.call_id().to_string();
        let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
        let user_agent = req.headers.get(&HeaderName::UserAgent).unwrap_or("").chars().take(120).collect::<String>();
        let mut upserts = Vec::new();
        let mut removals = Vec::new();

        if contact_values.iter().any(|v| v.trim() == "*") {
            if contact_values.len() != 1 || header_expires != Some(0) {
                let r = req.response(400, "Contact: * requires Expires: 0 and no other contact", Some(&random_token(10)));
                return self.respond(tx, r, resp_target, now);
            }
            self.location.index_user(user.id, false);
            if let Some(list) = self.location.by_user.remove(&user.id) {
                self.location.total -= list.len();
                for b in list {
                    removals.push((user.id, b.contact));
                }
            }
        } else {
            let contacts = req.contacts();
            // First pass: check every contact before changing anything.
            let mut plan = Vec::new();
            for c in &contacts {
                let expires = c.param("expires").and_then(|e| e.parse::<u64>().ok()).or(header_expires).unwrap_or(3600);
                if expires != 0 && expires < u64::from(self.cfg.min_expires) {
                    let mut r = req.response(423, "Interval Too Brief", Some(&random_token(10)));
                    r.headers.push(HeaderName::MinExpires, self.cfg.min_expires.to_string());
                    return self.respond(tx, r, resp_target, now);
                }
                let expires = expires.min(u64::from(self.cfg.max_expires)) as u32;
                plan.push((c.uri.clone(), expires));
            }
            self.location.index_user(user.id, false);
            let list = self.location.by_user.entry(user.id).or_default();
            let before = list.len();
            for (uri, _) in &plan {
                let key = uri.to_string();
                if let Some(existing) = list.iter().find(|b| b.contact == key)
                    && existing.call_id == call_id
                    && existing.cseq > cseq
                // equal CSeq: a retransmission (REGISTER is stateless)
                {
                    self.location.index_user(user.id, true);
                    let r = req.response(500, "Out-of-order REGISTER (CSeq not increasing)", Some(&random_token(10)));
                    return self.respond(tx, r, resp_target, now);
                }
            }
            for (uri, expires) in plan {
                let key = uri.to_string();
                let target = binding_target(&uri, source);
                let previous = list.iter().position(|b| b.contact == key).map(|i| list.remove(i));
                if expires == 0 {
                    removals.push((user.id, key));
                    continue;
                }
                let expires_ms = now.wall_ms + i64::from(expires) * 1000;
                // A plain refresh (same flow and Call-ID) is written only when the stored
                // expiry would lapse within half of the new interval.
                let persisted_ms = match &previous {
                    Some(p) if p.call_id == call_id && p.target == target && p.persisted_ms - now.wall_ms >= i64::from(expires) * 500 => {
                        p.persisted_ms
                    }
                    _ => expires_ms,
                };
                let b = Binding {
                    contact: key,
                    uri,
                    target,
                    expires_at: now.mono + Duration::from_secs(u64::from(expires)),
                    expires_ms,
                    call_id: call_id.clone(),
                    cseq,
                    persisted_ms,
                };
                if persisted_ms == expires_ms {
                    upserts.push(RegistrationRow {
                        user_id: user.id,
                        tenant_id: user.tenant_id,
                        contact: b.contact.clone(),
                        source: source_text(&b.target),
                        call_id: call_id.clone(),
                        cseq: i64::from(cseq),
                        expires_at: b.expires_ms,
                        user_agent: user_agent.clone(),
                        node: self.cfg.node.clone(),
                    });
                }
                list.push(b);
                if list.len() > MAX_BINDINGS_PER_USER {
                    let old = list.remove(0);
                    removals.push((user.id, old.contact));
                }
            }
            let after = list.len();
            self.location.total = self.location.total + after - before;
            self.location.index_user(user.id, true);
        }
        if let Some(conn) = source.conn {
            let until_ms =
                self.location.bindings(user.id, now.mono).iter().filter(|b| b.target.conn == Some(conn)).map(|b| b.expires_ms).max();
            self.actions.push_back(Action::ConnectionBound { conn, user: user.id, until_ms: until_ms.unwrap_or(0) });
        }
        let mut r: Response = req.response(200, "OK", Some(&random_token(10)));
        for b in self.location.bindings(user.id, now.mono) {
            let left = b.expires_at.saturating_duration_since(now.mono).as_secs();
            r.headers.push(HeaderName::Contact, format!("<{}>;expires={left}", b.contact));
        }
        self.respond(tx, r, resp_target, now);
        self.metrics.registers_ok.fetch_add(1, Ordering::Relaxed);
        self.metrics.registrations.store(self.location.count() as i64, Ordering::Relaxed);
        if !upserts.is_empty() || !removals.is_empty() {
            self.actions.push_back(Action::Bindings { upserts, removals });
        }
    }

    /// Wrong credentials and unknown users get the same 403, possibly delayed (tarpit).
    pub(super) fn forbid(&mut self, tx: Option<TxId>, req: &Request, target: Target, delay: Duration, now: Now) {
        self.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
        let mut r = req.response(403, "Forbidden", Some(&random_token(10)));
        self.decorate(&mut r);
        if delay.is_zero() {
            match tx {
                Some(id) => self.txl.send_response(id, &r, now.mono),
                None => self.actions.push_back(Action::Send { target, bytes: r.to_bytes() }),
            }
        } else {
            // Retransmissions meanwhile are absorbed; the answer completes the transaction.
            self.timers.schedule(now.mono + delay, EngineTimer::Delayed(Box::new((tx, target, r))));
        }
    }

    pub(super) fn restore_bindings(&mut self, rows: Vec<RegistrationRow>, now: Now) {
        for row in rows {
            if row.node != self.cfg.node || row.expires_at <= now.wall_ms {
                continue;
            }
            let (Some(target), Ok(uri)) = (parse_source(&row.source), Uri::parse(&row.contact)) else { continue };
            if target.transport.is_reliable() {
                continue; // The connection did not survive the restart.
            }
            let left = Duration::from_millis((row.expires_at - now.wall_ms) as u64);
            self.location.by_user.entry(row.user_id).or_default().push(Binding {
                contact: row.contact,
                uri,
                target,
                expires_at: now.mono + left,
                expires_ms: row.expires_at,
                call_id: row.call_id,
                cseq: row.cseq as u32,
                persisted_ms: row.expires_at,
            });
        }
        self.location.recount();
        self.metrics.registrations.store(self.location.count() as i64, Ordering::Relaxed);
    }

    pub(super) fn sweep_bindings(&mut self, now: Now) {
        let mut removals = Vec::new();
        for (user, list) in self.location.by_user.iter_mut() {
            list.retain(|b| {
                let live = b.expires_at > now.mono;
                if !live {
                    removals.push((*user, b.contact.clone()));
                }
                live
            });
        }
        self.location.recount();
        self.metrics.registrations.store(self.location.count() as i64, Ordering::Relaxed);
        if !removals.is_empty() {
            self.actions.push_back(Action::Bindings { upserts: Vec::new(), removals });
        }
    }

    /// Forgets the bindings of users who are gone and of users whose SIP password changed
    /// (a phone that had the old one must register again).
    pub(super) fn prune_bindings_of_removed_users(&mut self, old: &super::directory::Directory, _now: Now) {
        let dir = self.dir.clone();
        self.location.by_user.retain(|user, _| match (dir.user_by_id(*user), old.user_by_id(*user)) {
            (Some(now), Some(before)) => now.ha1_md5 == before.ha1_md5,
            (Some(_), None) => true,
            (None, _) => false,
        });
        self.location.recount();
        self.metrics.registrations.store(self.location.count() as i64, Ordering::Relaxed);
    }

    pub(super) fn drop_bindings_on_conn(&mut self, conn: u64, _now: Now) {
        let mut removals = Vec::new();
        for (user, list) in self.location.by_user.iter_mut() {
            list.retain(|b| {
                let gone = b.target.conn == Some(conn);
                if gone {
                    removals.push((*user, b.contact.clone()));
                }
                !gone
            });
        }
        self.location.recount();
        self.metrics.registrations.store(self.location.count() as i64, Ordering::Relaxed);
        if !removals.is_empty() {
            self.actions.push_back(Action::Bindings { upserts: Vec::new(), removals });
        }
    }
}
