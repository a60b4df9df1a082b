//! Busy lamps: desk phones subscribe to colleagues' `dialog` events (RFC 6665 subscriptions,
//! RFC 4235 bodies) and light a key while a colleague's phone rings (`early`) or talks
//! (`confirmed`). A subscription is authenticated like a call, watches one extension of the
//! subscriber's own company, and lives until it expires or is ended with `Expires: 0`.
//!
//! The lamps are looked at on a half-second tick while anyone subscribes: one pass over the
//! calls gives every watched user's state, and a NOTIFY goes out only where it changed.

use super::auth::{AuthOutcome, Claim};
use super::call::{CallState, ForkState, TxOwner};
use super::dialog::Dialog;
use super::{Engine, EngineTimer, Now, random_token};
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, SipMessage};
use pbx_sip::method::Method;
use pbx_sip::transaction::{Target, TxId};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often lamps are looked at.
pub(super) const BLF_TICK: Duration = Duration::from_millis(500);
/// Subscription length when the phone names none, and the longest granted.
const DEFAULT_EXPIRES: u32 = 3600;
/// Shortest subscription granted (RFC 6665 §4.2.1.1: 423 below it).
const MIN_EXPIRES: u32 = 60;
/// Most subscriptions one user may hold (a phone with many keys, a few phones).
const MAX_PER_USER: usize = 200;
/// Most subscriptions the server keeps.
const MAX_TOTAL: usize = 20_000;

/// What a lamp shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lamp {
    /// No call.
    Idle,
    /// A call rings the watched user's phone (or the call they placed rings).
    Early { call: String, recipient: bool, remote: String },
    /// The watched user talks.
    Confirmed { call: String, recipient: bool, remote: String },
}

/// One phone's subscription to one colleague.
pub(super) struct Subscription {
    dialog: Dialog,
    subscriber: i64,
    watched: i64,
    entity: String,
    expires_at: Instant,
    version: u32,
    last: Option<Lamp>,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The `application/dialog-info+xml` body of a lamp (a full state).
pub(super) fn dialog_info(entity: &str, version: u32, lamp: &Lamp) -> String {
    let dialog = match lamp {
        Lamp::Idle => String::new(),
        Lamp::Early { call, recipient, remote } | Lamp::Confirmed { call, recipient, remote } => {
            let state = if matches!(lamp, Lamp::Early { .. }) { "early" } else { "confirmed" };
            let direction = if *recipient { "recipient" } else { "initiator" };
            format!(
                "<dialog id=\"{}\" direction=\"{direction}\"><state>{state}</state><remote><identity>{}</identity></remote></dialog>\n",
                xml_escape(call),
                xml_escape(remote)
            )
        }
    };
    format!(
        "<?xml version=\"1.0\"?>\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"{version}\" state=\"full\" entity=\"{}\">\n{dialog}</dialog-info>\n",
        xml_escape(entity)
    )
}

impl Engine {
    /// A SUBSCRIBE: a new subscription (out of dialog), or a refresh or end of one.
    pub(super) fn on_subscribe(&mut self, req: Request, tx: Option<TxId>, source: Target, resp_target: Target, now: Now) {
        let event = req.headers.get(&HeaderName::Event).map(|e| e.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        if event.as_deref() != Some("dialog") {
            let mut r = req.response(489, "Bad Event", Some(&random_token(10)));
            r.headers.push(HeaderName::AllowEvents, "dialog");
            return self.respond(tx, r, resp_target, now);
        }
        let expires = match req.headers.get(&HeaderName::Expires).map(|e| e.trim().parse::<u32>()) {
            None => DEFAULT_EXPIRES,
            Some(Ok(e)) => e.min(DEFAULT_EXPIRES),
            Some(Err(_)) => return self.simple_response(tx, &req, 400, resp_target, now),
        };
        if expires != 0 && expires < MIN_EXPIRES {
            let mut r = req.response(423, "Interval Too Brief", Some(&random_token(10)));
            r.headers.push(HeaderName::MinExpires, MIN_EXPIRES.to_string());
            return self.respond(tx, r, resp_target, now);
        }
        let to_tag = req.parsed_to().and_then(|t| t.tag().map(str::to_string));
        match to_tag {
            Some(tag) => self.refresh_subscription(req, tx, resp_target, &tag, expires, now),
            None => self.new_subscription(req, tx, source, resp_target, expires, now),
        }
    }

    fn refresh_subscription(&mut self, req: Request, tx: Option<TxId>, resp_target: Target, tag: &str, expires: u32, now: Now) {
        let key = (req.call_id().to_string(), tag.to_string());
        let Some(sub) = self.subs.get_mut(&key) else {
            return self.simple_response(tx, &req, 481, resp_target, now);
        };
        let seq = req.cseq().map(|c| c.seq).unwrap_or(0);
        if sub.dialog.remote_seq.is_some_and(|r| seq <= r) {
            return self.simple_response(tx, &req, 500, resp_target, now);
        }
        sub.dialog.remote_seq = Some(seq);
        sub.expires_at = now.mono + Duration::from_secs(u64::from(expires));
        let mut r = req.response(200, "OK", None);
        r.headers.push(HeaderName::Expires, expires.to_string());
        self.respond(tx, r, resp_target, now);
        // A refresh is answered with the full state (RFC 6665 §4.2.2); an end with a last one.
        if let Some(s) = self.subs.get_mut(&key) {
            s.last = None;
        }
        let lamp = self.lamp_of(&key);
        self.blf_notify(&key, lamp, expires == 0, now);
        if expires == 0 {
            self.subs.remove(&key);
        }
    }

    fn new_subscription(&mut self, req: Request, tx: Option<TxId>, source: Target, resp_target: Target, expires: u32, now: Now) {
        let Some(tx) = tx else { return };
        let Some(from) = req.parsed_from() else {
            return self.simple_response(Some(tx), &req, 400, resp_target, now);
        };
        let realm = from.uri.as_sip().map(|u| u.host.to_ascii_lowercase()).unwrap_or_default();
        let tenant = self.dir.tenant_by_domain(&realm).cloned();
        let (location, dir, ip, tenant_id) = (&self.location, &self.dir, source.addr.ip(), tenant.as_ref().map(|t| t.id));
        let bound_here = |user: &str| location.bound_from(dir, tenant_id, user, ip);
        let claim = Claim { realm: &realm, tenant_id, source: source.addr, bound_here: &bound_here, server: &self.server_addr };
        let outcome = match self.flow_user(source, &realm, Some(&from)) {
            Some(u) => AuthOutcome::Ok(u),
            None => self.auth.check(&req, &HeaderName::ProxyAuthorization, &claim, &self.dir, now.mono, now.unix_secs()),
        };
        let user = match outcome {
            AuthOutcome::Ok(u) => u,
            AuthOutcome::Challenge(stale) => {
                let mut r = req.response(407, "Proxy Authentication Required", Some(&random_token(10)));
                for c in self.auth.challenges(&realm, stale, now.unix_secs()) {
                    r.headers.push(HeaderName::ProxyAuthenticate, c);
                }
                return self.respond(Some(tx), r, resp_target, now);
            }
            AuthOutcome::Forbidden(delay) => return self.forbid(Some(tx), &req, resp_target, delay, now),
            AuthOutcome::Blocked | AuthOutcome::WrongUri => {
                return self.forbid(Some(tx), &req, resp_target, Duration::ZERO, now);
            }
        };
        let Some(tenant) = tenant.filter(|t| t.id == user.tenant_id && !t.suspended) else {
            return self.forbid(Some(tx), &req, resp_target, Duration::ZERO, now);
        };
        // The watched colleague: the Request-URI's user, an extension of the same company.
        let watched = super::routing::dialled_number(&req.uri).and_then(|n| self.dir.user(tenant.id, &n).cloned());
        let Some(watched) = watched else {
            return self.simple_response(Some(tx), &req, 404, resp_target, now);
        };
        if self.subs.len() >= MAX_TOTAL || self.subs.values().filter(|s| s.subscriber == user.id).count() >= MAX_PER_USER {
            let mut r = req.response(503, "Service Unavailable", Some(&random_token(10)));
            r.headers.push(HeaderName::RetryAfter, "60");
            return self.respond(Some(tx), r, resp_target, now);
        }
        let tag = random_token(12);
        let Some(mut dialog) = Dialog::from_request(&req, &tag, source) else {
            return self.simple_response(Some(tx), &req, 400, resp_target, now);
        };
        dialog.remote_seq = req.cseq().map(|c| c.seq);
        let mut r = req.response(200, "OK", Some(&tag));
        r.headers.push(HeaderName::Expires, expires.to_string());
        r.headers.push(HeaderName::Contact, self.contact(source.transport));
        self.respond(Some(tx), r, resp_target, now);
        let key = (req.call_id().to_string(), tag);
        tracing::info!(subscriber = %user.ext, watched = %watched.ext, expires, "busy lamp subscription");
        self.subs.insert(
            key.clone(),
            Subscription {
                dialog,
                subscriber: user.id,
                watched: watched.id,
                entity: format!("sip:{}@{}", watched.ext, tenant.domain),
                expires_at: now.mono + Duration::from_secs(u64::from(expires)),
                version: 0,
                last: None,
            },
        );
        let lamp = self.lamp_of(&key);
        self.blf_notify(&key, lamp, expires == 0, now);
        if expires == 0 {
            self.subs.remove(&key);
        } else {
            self.ensure_blf_tick(now);
        }
    }

    /// Keeps the lamps' tick running while anyone subscribes.
    fn ensure_blf_tick(&mut self, now: Now) {
        if !self.blf_tick_scheduled {
            self.blf_tick_scheduled = true;
            self.timers.schedule(now.mono + BLF_TICK, EngineTimer::BlfTick);
        }
    }

    /// Every watched user's lamp, from one pass over the calls.
    fn lamps(&self) -> HashMap<i64, Lamp> {
        let watched: std::collections::HashSet<i64> = self.subs.values().map(|s| s.watched).collect();
        let mut out: HashMap<i64, Lamp> = HashMap::new();
        let mut set = |user: i64, lamp: Lamp| {
            if !watched.contains(&user) {
                return;
            }
            // Talking outranks ringing.
            let keep = matches!(out.get(&user), Some(Lamp::Confirmed { .. })) && matches!(lamp, Lamp::Early { .. });
            if !keep {
                out.insert(user, lamp);
            }
        };
        for c in self.calls.values() {
            let remote_of_callee = format!("sip:{}@{}", c.caller.number, c.tenant.domain);
            let remote_of_caller = format!("sip:{}@{}", c.callee.number, c.tenant.domain);
            match c.state {
                CallState::Answered => {
                    if let Some(u) = c.callee.user_id {
                        set(u, Lamp::Confirmed { call: c.uid.clone(), recipient: true, remote: remote_of_callee.clone() });
                    }
                    if let Some(u) = c.caller.user_id {
                        set(u, Lamp::Confirmed { call: c.uid.clone(), recipient: false, remote: remote_of_caller.clone() });
                    }
                }
                _ => {
                    for f in c.forks.iter().filter(|f| matches!(f.state, ForkState::Calling | ForkState::Early)) {
                        if let Some(u) = f.user_id {
                            set(u, Lamp::Early { call: c.uid.clone(), recipient: true, remote: remote_of_callee.clone() });
                        }
                    }
                    if let Some(u) = c.caller.user_id {
                        set(u, Lamp::Early { call: c.uid.clone(), recipient: false, remote: remote_of_caller.clone() });
                    }
                }
            }
        }
        out
    }

    /// The tick: expired subscriptions end, changed lamps are told.
    pub(super) fn on_blf_tick(&mut self, now: Now) {
        self.blf_tick_scheduled = false;
        let expired: Vec<(String, String)> = self.subs.iter().filter(|(_, s)| s.expires_at <= now.mono).map(|(k, _)| k.clone()).collect();
        let lamps = self.lamps();
        for k in expired {
            let lamp = self.subs.get(&k).and_then(|s| lamps.get(&s.watched).cloned()).unwrap_or(Lamp::Idle);
            self.blf_notify(&k, lamp, true, now);
            self.subs.remove(&k);
        }
        let changed: Vec<(String, String)> = self
            .subs
            .iter()
            .filter(|(_, s)| s.last.as_ref() != Some(lamps.get(&s.watched).unwrap_or(&Lamp::Idle)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in changed {
            let lamp = self.subs.get(&k).and_then(|s| lamps.get(&s.watched).cloned()).unwrap_or(Lamp::Idle);
            self.blf_notify(&k, lamp, false, now);
        }
        if !self.subs.is_empty() {
            self.ensure_blf_tick(now);
        }
    }

    /// A subscription's watched user's lamp now.
    fn lamp_of(&self, key: &(String, String)) -> Lamp {
        self.subs.get(key).map(|s| s.watched).and_then(|u| self.lamps().remove(&u)).unwrap_or(Lamp::Idle)
    }

    /// Sends a subscription a lamp (`last`: the final NOTIFY).
    fn blf_notify(&mut self, key: &(String, String), lamp: Lamp, last: bool, now: Now) {
        let Some(sub) = self.subs.get(key) else { return };
        let flow = sub.dialog.flow;
        let via = self.new_via(flow.transport);
        let contact = self.contact(flow.transport);
        let Some(sub) = self.subs.get_mut(key) else { return };
        let left = sub.expires_at.saturating_duration_since(now.mono).as_secs();
        let state = if last { "terminated;reason=timeout".to_string() } else { format!("active;expires={left}") };
        let body = dialog_info(&sub.entity, sub.version, &lamp);
        sub.version += 1;
        sub.last = Some(lamp);
        let mut n = sub.dialog.request(Method::Notify, &via, &contact);
        n.headers.push(HeaderName::Event, "dialog");
        n.headers.push(HeaderName::SubscriptionState, state);
        n.headers.push(HeaderName::ContentType, "application/dialog-info+xml");
        n.body = body.into_bytes();
        let t = self.txl.send_request(&n, flow, now.mono);
        self.client_tx.insert(t, TxOwner::Fire);
    }
}
