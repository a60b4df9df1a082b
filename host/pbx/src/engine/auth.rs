//! Digest authentication of phones (RFC 3261 §22, RFC 8760) with brute-force protection:
//! an unknown user and a wrong password get the same answer, and a source that keeps
//! failing is first slowed down and then blocked for a while.

use super::directory::{Directory, UserInfo};
use pbx_sip::digest::{self, Algorithm, Credentials, NonceIssuer, NonceState};
use pbx_sip::header::HeaderName;
use pbx_sip::message::Request;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Brute-force and nonce settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Nonce lifetime (after it, `stale=true`).
    pub nonce_lifetime: Duration,
    /// Failures within `window` after which answers are delayed.
    pub slow_after: u32,
    /// Failures within `window` after which the source is blocked.
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
    /// The source is blocked.
    Blocked,
}

/// Who a request claims to come from.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// Realm (the tenant's domain as the request names it).
    pub realm: &'a str,
    /// The tenant of that realm, if it exists.
    pub tenant_id: Option<i64>,
    /// The request's source address.
    pub source: IpAddr,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    blocked_until: Option<Instant>,
}

/// Authenticator state (nonce secret and failure counters).
pub struct Authenticator {
    cfg: AuthConfig,
    issuer: NonceIssuer,
    failures: HashMap<IpAddr, Failures>,
    last_prune: Option<Instant>,
}

impl Authenticator {
    /// A new authenticator with a random nonce secret.
    pub fn new(cfg: AuthConfig) -> Authenticator {
        let issuer = NonceIssuer::new(cfg.nonce_lifetime.as_secs());
        Authenticator { cfg, issuer, failures: HashMap::new(), last_prune: None }
    }

    /// True while `ip` is blocked.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.failures.get(&ip).and_then(|f| f.blocked_until).is_some_and(|u| u > now)
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
        if self.is_blocked(source, now) {
            return AuthOutcome::Blocked;
        }
        let creds = req.headers.get_all(header).filter_map(Credentials::parse).find(|c| c.realm.eq_ignore_ascii_case(realm));
        let Some(creds) = creds else { return AuthOutcome::Challenge(false) };
        match self.issuer.check(&creds.nonce, realm, unix_secs) {
            NonceState::Fresh => {}
            NonceState::Stale => return AuthOutcome::Challenge(true),
            NonceState::Invalid => return AuthOutcome::Challenge(false),
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
            (true, Some(u)) => {
                self.failures.remove(&source);
                AuthOutcome::Ok(u.clone())
            }
            _ => AuthOutcome::Forbidden(self.fail(source, now)),
        }
    }

    fn fail(&mut self, ip: IpAddr, now: Instant) -> Duration {
        let cfg = &self.cfg;
        let f = self.failures.entry(ip).or_insert(Failures { count: 0, first: now, blocked_until: None });
        if now.duration_since(f.first) > cfg.window {
            *f = Failures { count: 0, first: now, blocked_until: None };
        }
        f.count += 1;
        if f.count >= cfg.block_after {
            f.blocked_until = Some(now + cfg.block_for);
            tracing::warn!(%ip, failures = f.count, "blocking source after repeated authentication failures");
        }
        if f.count > cfg.slow_after { Duration::from_millis(u64::from(f.count - cfg.slow_after).min(10) * 500) } else { Duration::ZERO }
    }

    fn prune(&mut self, now: Instant) {
        if self.last_prune.is_some_and(|p| now.duration_since(p) < Duration::from_secs(30)) {
            return;
        }
        self.last_prune = Some(now);
        let window = self.cfg.window;
        self.failures.retain(|_, f| f.blocked_until.is_some_and(|u| u > now) || now.duration_since(f.first) <= window);
    }
}
