//! Digest authentication of phones (RFC 3261 §22, RFC 7616, RFC 8760) with brute-force
//! protection that an attacker cannot turn against others.
//!
//! - A nonce is stateless until first used; from then on its nonce-count must grow
//!   (RFC 7616 §3.4.5): a replayed credential, from anywhere, is refused with a fresh
//!   challenge (`stale=true`), and only an exact retransmission (same source, Call-ID, CSeq
//!   and nonce-count) is processed again. Credentials without `qop` are good once.
//! - The digest `uri` must name the request's own Request-URI: a credential made for one
//!   call cannot place another.
//! - An unknown user and a wrong password get the same answer after the same work.
//! - A source that keeps failing is slowed and then blocked for a while; while it is blocked,
//!   the users whose phones hold live registrations from that very address (an office behind
//!   one NAT address) are still let in, so forged failures in its name cannot cut the office
//!   off, and an attacker who registered one account of their own gains nothing for others.
//! - The state kept is bounded: the oldest entries go first, and a nonce whose state was
//!   dropped is answered `stale=true` rather than trusted.

use super::directory::{Directory, UserInfo};
use pbx_sip::digest::{self, Algorithm, Credentials, NonceIssuer, NonceState};
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, SipMessage};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most source addresses whose failures are remembered at once.
const MAX_TRACKED_SOURCES: usize = 65_536;
/// Most nonces whose use is remembered at once.
const MAX_TRACKED_NONCES: usize = 262_144;

/// Brute-force and nonce settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Nonce lifetime (after it, `stale=true`).
    pub nonce_lifetime: Duration,
    /// Failures within `window` after which answers are delayed.
    pub slow_after: u32,
    /// Failures within `window` after which the source is blocked (unless it holds live
    /// registrations).
    pub block_after: u32,
    /// How long a block lasts.
    pub block_for: Duration,
    /// Window over which failures are counted.
    pub window: Duration,
    /// Algorithms offered in challenges, preferred first.
    pub algorithms: Vec<Algorithm>,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            nonce_lifetime: Duration::from_secs(300),
            slow_after: 5,
            block_after: 20,
            block_for: Duration::from_secs(600),
            window: Duration::from_secs(300),
            algorithms: vec![Algorithm::Md5],
        }
    }
}

/// The outcome of checking a request's credentials.
#[derive(Debug, Clone)]
pub enum AuthOutcome {
    /// Authenticated as this user.
    Ok(Arc<UserInfo>),
    /// No usable credentials: challenge (the `bool` is `stale`).
    Challenge(bool),
    /// Wrong credentials or unknown user (indistinguishable); delay the answer by this much.
    Forbidden(Duration),
    /// The credentials name another Request-URI: 400.
    WrongUri,
    /// The source is blocked.
    Blocked,
}

/// The PBX's own SIP address: credentials whose `uri` names the server itself (as SIPp and
/// some phones write it) are accepted besides the Request-URI.
#[derive(Debug, Clone)]
pub struct ServerAddr {
    /// Address written into Via and Contact.
    pub ip: IpAddr,
    /// SIP ports (UDP/TCP, TLS).
    pub ports: Vec<u16>,
}

impl ServerAddr {
    /// True when `u` is a user-less URI of this server.
    pub fn names(&self, u: &pbx_sip::SipUri) -> bool {
        let host = u.host.trim_start_matches('[').trim_end_matches(']');
        u.user.is_none() && host.parse::<IpAddr>().is_ok_and(|ip| ip == self.ip) && self.ports.contains(&u.port.unwrap_or(5060))
    }
}

/// Who a request claims to come from.
#[derive(Clone, Copy)]
pub struct Claim<'a> {
    /// Realm (the tenant's domain as the request names it).
    pub realm: &'a str,
    /// The tenant of that realm, if it exists.
    pub tenant_id: Option<i64>,
    /// The request's source address.
    pub source: SocketAddr,
    /// Whether a user name has a live registration from that same address (such users are
    /// let in while the address is blocked).
    pub bound_here: &'a dyn Fn(&str) -> bool,
    /// This server's address.
    pub server: &'a ServerAddr,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    blocked_until: Option<Instant>,
}

/// What the last accepted use of a nonce was.
#[derive(Debug, Clone)]
struct NonceUse {
    nc: u32,
    source: SocketAddr,
    call_id: String,
    cseq: u32,
    method: String,
}

/// Nonce-counts of the nonces in use, bounded, oldest forgotten first.
#[derive(Debug, Default)]
struct NonceBook {
    uses: HashMap<String, NonceUse>,
    order: VecDeque<(Instant, String)>,
    /// True once an entry was dropped early: unknown nonces with nc > 1 are then not trusted.
    evicted: bool,
}

/// Why a nonce use is refused.
enum NonceVerdict {
    Fresh,
    Retransmission,
    Replay,
}

impl NonceBook {
    fn check(&mut self, creds: &Credentials, req: &Request, source: SocketAddr, now: Instant, lifetime: Duration) -> NonceVerdict {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) <= lifetime + Duration::from_secs(60) {
                break;
            }
            if let Some((_, n)) = self.order.pop_front() {
                self.uses.remove(&n);
            }
        }
        let nc = match &creds.qop {
            Some((nc, _)) => match u32::from_str_radix(nc, 16) {
                Ok(n) if n > 0 => n,
                _ => return NonceVerdict::Replay,
            },
            None => 0,
        };
        let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
        let method = req.method.as_str().to_string();
        match self.uses.get_mut(&creds.nonce) {
            Some(last) => {
                // REGISTER is answered statelessly, so its retransmissions reach this point;
                // an INVITE's are absorbed by its transaction, so anything else is a replay.
                if req.method == pbx_sip::Method::Register
                    && nc == last.nc
                    && last.source == source
                    && last.call_id == req.call_id()
                    && last.cseq == cseq
                    && last.method == method
                {
                    return NonceVerdict::Retransmission;
                }
                if nc == 0 || nc <= last.nc {
                    return NonceVerdict::Replay;
                }
                *last = NonceUse { nc, source, call_id: req.call_id().to_string(), cseq, method };
                NonceVerdict::Fresh
            }
            None => {
                if self.evicted && nc > 1 {
                    // Its earlier uses may have been forgotten: ask for a fresh nonce.
                    return NonceVerdict::Replay;
                }
                if self.uses.len() >= MAX_TRACKED_NONCES
                    && let Some((_, n)) = self.order.pop_front()
                {
                    self.uses.remove(&n);
                    self.evicted = true;
                }
                self.uses.insert(creds.nonce.clone(), NonceUse { nc, source, call_id: req.call_id().to_string(), cseq, method });
                self.order.push_back((now, creds.nonce.clone()));
                NonceVerdict::Fresh
            }
        }
    }
}

/// True when the credentials' `uri` names the request's Request-URI (RFC 7616 §3.4.6): the
/// same scheme, user, host and port (parameters may differ); or names this server itself.
fn uri_matches(creds_uri: &str, req: &Request, server: &ServerAddr) -> bool {
    let Ok(given) = pbx_sip::Uri::parse(creds_uri.trim()) else { return false };
    match (given.as_sip(), req.uri.as_sip()) {
        (Some(g), Some(r)) => {
            server.names(g)
                || (g.secure == r.secure
                    && g.user_unescaped() == r.user_unescaped()
                    && g.host.eq_ignore_ascii_case(&r.host)
                    && g.port.unwrap_or(5060) == r.port.unwrap_or(5060))
        }
        _ => given == req.uri,
    }
}

/// Authenticator state (nonce secret, nonce-counts and failure counters).
pub struct Authenticator {
    cfg: AuthConfig,
    issuer: NonceIssuer,
    failures: HashMap<IpAddr, Failures>,
    nonces: NonceBook,
    last_prune: Option<Instant>,
}

impl Authenticator {
    /// A new authenticator with a random nonce secret.
    pub fn new(cfg: AuthConfig) -> Authenticator {
        let issuer = NonceIssuer::new(cfg.nonce_lifetime.as_secs());
        Authenticator { cfg, issuer, failures: HashMap::new(), nonces: NonceBook::default(), last_prune: None }
    }

    /// True while `ip` is blocked.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.failures.get(&ip).and_then(|f| f.blocked_until).is_some_and(|u| u > now)
    }

    /// Source addresses with failures remembered (bounded).
    pub fn tracked_sources(&self) -> usize {
        self.failures.len()
    }

    /// The challenge header values for `realm` (one per algorithm, preferred first).
    pub fn challenges(&self, realm: &str, stale: bool, unix_secs: u64) -> Vec<String> {
        let nonce = self.issuer.issue(realm, unix_secs);
        self.cfg.algorithms.iter().map(|a| digest::challenge(realm, &nonce, *a, stale)).collect()
    }

    /// Checks the credentials in `header` (Authorization or Proxy-Authorization) for the
    /// realm of `who`.
    pub fn check(
        &mut self,
        req: &Request,
        header: &HeaderName,
        who: &Claim<'_>,
        dir: &Directory,
        now: Instant,
        unix_secs: u64,
    ) -> AuthOutcome {
        let (realm, tenant_id, source) = (who.realm, who.tenant_id, who.source);
        self.prune(now);
        let blocked = self.is_blocked(source.ip(), now);
        let creds = req.headers.get_all(header).filter_map(Credentials::parse).find(|c| c.realm.eq_ignore_ascii_case(realm));
        // A challenge costs nothing and tells nothing: even a blocked address gets one (its
        // phones must be able to answer it); the credentials decide.
        let Some(creds) = creds else { return AuthOutcome::Challenge(false) };
        if blocked && !(who.bound_here)(&creds.username) {
            return AuthOutcome::Blocked;
        }
        match self.issuer.check(&creds.nonce, realm, unix_secs) {
            NonceState::Fresh => {}
            NonceState::Stale => return AuthOutcome::Challenge(true),
            NonceState::Invalid => return AuthOutcome::Challenge(false),
        }
        if !uri_matches(&creds.uri, req, who.server) {
            return AuthOutcome::WrongUri;
        }
        let user = tenant_id.and_then(|t| dir.user(t, &creds.username));
        let ok = match user {
            Some(u) => creds.verify(u.ha1(creds.algorithm), req.method.as_str()),
            None => {
                // Same work as a real check so timing does not reveal unknown users.
                let _ = creds.verify(&Algorithm::Md5.ha1(&creds.username, realm, "x"), req.method.as_str());
                false
            }
        };
        match (ok, user) {
            (true, Some(u)) => match self.nonces.check(&creds, req, source, now, self.cfg.nonce_lifetime) {
                NonceVerdict::Fresh | NonceVerdict::Retransmission => {
                    // A success clears the address's record, unless it is blocked: a phone
                    // let in while blocked must not lift the block for everyone else there.
                    if !blocked {
                        self.failures.remove(&source.ip());
                    }
                    AuthOutcome::Ok(u.clone())
                }
                NonceVerdict::Replay => {
                    tracing::info!(%source, user = %creds.username, "a digest credential was used again: challenging");
                    AuthOutcome::Challenge(true)
                }
            },
            _ => AuthOutcome::Forbidden(self.fail(source.ip(), now)),
        }
    }

    fn fail(&mut self, ip: IpAddr, now: Instant) -> Duration {
        if self.failures.len() >= MAX_TRACKED_SOURCES && !self.failures.contains_key(&ip) {
            self.prune_now(now);
            if self.failures.len() >= MAX_TRACKED_SOURCES {
                // Forget the older half, blocked or not: a flood of forged sources cannot grow
                // this (or the work of keeping it) any further.
                let mut firsts: Vec<Instant> = self.failures.values().map(|f| f.first).collect();
                firsts.sort_unstable();
                let cut = firsts.get(firsts.len() / 2).copied().unwrap_or(now);
                self.failures.retain(|_, f| f.first > cut);
            }
        }
        let cfg = &self.cfg;
        let f = self.failures.entry(ip).or_insert(Failures { count: 0, first: now, blocked_until: None });
        if now.duration_since(f.first) > cfg.window {
            *f = Failures { count: 0, first: now, blocked_until: None };
        }
        f.count += 1;
        if f.count >= cfg.block_after && f.blocked_until.is_none_or(|u| u <= now) {
            f.blocked_until = Some(now + cfg.block_for);
            tracing::warn!(%ip, failures = f.count, "blocking source after repeated authentication failures");
        }
        if f.count > cfg.slow_after { Duration::from_millis(u64::from(f.count - cfg.slow_after).min(10) * 500) } else { Duration::ZERO }
    }

    fn prune(&mut self, now: Instant) {
        if self.last_prune.is_some_and(|p| now.duration_since(p) < Duration::from_secs(30)) {
            return;
        }
        self.prune_now(now);
    }

    fn prune_now(&mut self, now: Instant) {
        self.last_prune = Some(now);
        let window = self.cfg.window;
        self.failures.retain(|_, f| f.blocked_until.is_some_and(|u| u > now) || now.duration_since(f.first) <= window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Request {
        match pbx_sip::parse_message(text.as_bytes(), pbx_sip::parse::Framing::Datagram).unwrap().message {
            pbx_sip::Message::Request(r) => r,
            _ => panic!(),
        }
    }

    #[test]
    fn digest_uri_must_name_the_request() {
        let r = req(
            "INVITE sip:103@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:101@acme.example>;tag=1\r\nTo: <sip:103@acme.example>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n",
        );
        let server = ServerAddr { ip: "10.0.0.1".parse().unwrap(), ports: vec![5060] };
        assert!(uri_matches("sip:103@acme.example", &r, &server));
        assert!(uri_matches("sip:103@ACME.example:5060;transport=udp", &r, &server));
        assert!(uri_matches("sip:10.0.0.1:5060", &r, &server), "the server itself (SIPp writes this)");
        assert!(!uri_matches("sip:102@10.0.0.1", &r, &server));
        assert!(!uri_matches("sip:102@acme.example", &r, &server));
        assert!(!uri_matches("sip:acme.example", &r, &server));
        assert!(!uri_matches("garbage", &r, &server));
    }
}
