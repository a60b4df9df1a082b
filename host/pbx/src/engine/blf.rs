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
/// Most subscriptions one company may hold.
const MAX_PER_TENANT: usize = 5_000;
/// Most subscriptions the server keeps.
const MAX_TOTAL: usize = 50_000;
/// SUBSCRIBEs one user may send in [`RATE_WINDOW`] (new ones, refreshes and fetches).
const RATE_LIMIT: u32 = 30;
/// The window of [`RATE_LIMIT`].
const RATE_WINDOW: Duration = Duration::from_secs(10);

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
    tenant_id: i64,
    subscriber: i64,
    watched: i64,
    /// A NOTIFY awaits its answer: the next one waits (one at a time, the newest state).
    pending: bool,
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
            Some(tag) => self.refresh_subscription(req, tx, source, resp_target, &tag, expires, now),
            None => self.new_subscription(req, tx, source, resp_target, expires, now),
        }
    }

    /// Counts a SUBSCRIBE of `user`; false when they sent too many lately.
    fn subscribe_allowed(&mut self, user: i64, now: Now) -> bool {
        let e = self.sub_rate.entry(user).or_insert((now.mono, 0));
        if now.mono.saturating_duration_since(e.0) >= RATE_WINDOW {
            *e = (now.mono, 0);
        }
        e.1 += 1;
        e.1 <= RATE_LIMIT
    }

    fn too_many(&mut self, req: &Request, tx: Option<TxId>, resp_target: Target, now: Now) {
        let mut r = req.response(503, "Service Unavailable", Some(&random_token(10)));
        r.headers.push(HeaderName::RetryAfter, "60");
        self.respond(tx, r, resp_target, now);
    }

    #[allow(clippy::too_many_arguments)]
    fn refresh_subscription(
        &mut self,
        req: Request,
        tx: Option<TxId>,
        source: Target,
        resp_target: Target,
        tag: &str,
        expires: u32,
        now: Now,
    ) {
        let key = (req.call_id().to_string(), tag.to_string());
        let Some(subscriber) = self.subs.get(&key).map(|s| s.subscriber) else {
            return self.simple_response(tx, &req, 481, resp_target, now);
        };
        if !self.subscribe_allowed(subscriber, now) {
            return self.too_many(&req, tx, resp_target, now);
        }
        let Some(sub) = self.subs.get_mut(&key) else { return };
        let seq = req.cseq().map(|c| c.seq).unwrap_or(0);
        if sub.dialog.remote_seq.is_some_and(|r| seq <= r) {
            return self.simple_response(tx, &req, 500, resp_target, now);
        }
        sub.dialog.remote_seq = Some(seq);
        sub.expires_at = now.mono + Duration::from_secs(u64::from(expires));
        // The phone may have moved (a NAT rebinding): NOTIFYs follow its refresh.
        if let Some(c) = req.contacts().into_iter().next() {
            sub.dialog.remote_target = c.uri;
        }
        sub.dialog.flow = source;
        let mut r = req.response(200, "OK", None);
        r.headers.push(HeaderName::Expires, expires.to_string());
        r.headers.push(HeaderName::Contact, self.contact(source.transport));
        self.respond(tx, r, resp_target, now);
        // A refresh is answered with the full state (RFC 6665 §4.2.2); an end with a last one.
        if let Some(s) = self.subs.get_mut(&key) {
            s.last = None;
        }
        let lamp = self.lamp_of(&key);
        self.blf_notify(&key, lamp, (expires == 0).then_some("timeout"), now);
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
        // As for calls: an address in place of a domain is no company's.
        if tenant.is_none() && realm.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok() {
            return self.forbid(Some(tx), &req, resp_target, Duration::ZERO, now);
        }
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
        if from.uri.as_sip().and_then(|u| u.user_unescaped()).as_deref() != Some(user.ext.as_str()) {
            let r = req.response(403, "Forbidden: From does not match the authenticated user", Some(&random_token(10)));
            return self.respond(Some(tx), r, resp_target, now);
        }
        if !self.subscribe_allowed(user.id, now) {
            return self.too_many(&req, Some(tx), resp_target, now);
        }
        // The watched colleague: the Request-URI's user, an extension of the same company.
        let watched = super::routing::dialled_number(&req.uri).and_then(|n| self.dir.user(tenant.id, &n).cloned());
        let Some(watched) = watched else {
            return self.simple_response(Some(tx), &req, 404, resp_target, now);
        };
        let (mine, company) = self
            .subs
            .values()
            .fold((0, 0), |(m, c), s| (m + usize::from(s.subscriber == user.id), c + usize::from(s.tenant_id == tenant.id)));
        if self.subs.len() >= MAX_TOTAL || mine >= MAX_PER_USER || company >= MAX_PER_TENANT {
            return self.too_many(&req, Some(tx), resp_target, now);
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
                tenant_id: tenant.id,
                subscriber: user.id,
                watched: watched.id,
                pending: false,
                entity: format!("sip:{}@{}", watched.ext, tenant.domain),
                expires_at: now.mono + Duration::from_secs(u64::from(expires)),
                version: 0,
                last: None,
            },
        );
        let lamp = self.lamp_of(&key);
        self.blf_notify(&key, lamp, (expires == 0).then_some("timeout"), now);
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

    /// The lamps of `watched`, from one pass over the calls.
    fn lamps(&self, watched: &std::collections::HashSet<i64>) -> HashMap<i64, Lamp> {
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

    /// The tick: expired subscriptions end, and those whose subscriber or colleague is gone
    /// or whose company is suspended; changed lamps are told.
    pub(super) fn on_blf_tick(&mut self, now: Now) {
        self.blf_tick_scheduled = false;
        let gone = |e: &Engine, s: &Subscription| {
            e.dir.user_by_id(s.subscriber).is_none_or(|u| u.tenant_id != s.tenant_id)
                || e.dir.user_by_id(s.watched).is_none_or(|u| u.tenant_id != s.tenant_id)
                || e.dir.tenant(s.tenant_id).is_none_or(|t| t.suspended)
        };
        let ended: Vec<((String, String), &'static str)> = self
            .subs
            .iter()
            .filter_map(|(k, s)| {
                if gone(self, s) { Some((k.clone(), "deactivated")) } else { (s.expires_at <= now.mono).then(|| (k.clone(), "timeout")) }
            })
            .collect();
        let watched: std::collections::HashSet<i64> = self.subs.values().map(|s| s.watched).collect();
        let lamps = self.lamps(&watched);
        for (k, reason) in ended {
            let lamp = if reason == "deactivated" {
                Lamp::Idle
            } else {
                self.subs.get(&k).and_then(|s| lamps.get(&s.watched).cloned()).unwrap_or(Lamp::Idle)
            };
            self.blf_notify(&k, lamp, Some(reason), now);
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
            self.blf_notify(&k, lamp, None, now);
        }
        if !self.subs.is_empty() {
            self.ensure_blf_tick(now);
        }
    }

    /// A subscription's watched user's lamp now.
    fn lamp_of(&self, key: &(String, String)) -> Lamp {
        let Some(u) = self.subs.get(key).map(|s| s.watched) else { return Lamp::Idle };
        self.lamps(&std::collections::HashSet::from([u])).remove(&u).unwrap_or(Lamp::Idle)
    }

    /// The answer to a NOTIFY: a failure ends the subscription (RFC 6665 §4.2.2: the phone
    /// forgot it, or is gone); a success lets the next NOTIFY go.
    pub(super) fn on_notify_answered(&mut self, key: &(String, String), status: u16, now: Now) {
        let key = key.clone();
        if !self.subs.contains_key(&key) {
            return;
        }
        if status >= 300 {
            tracing::info!(status, "busy lamp subscription ended by the phone's answer");
            self.subs.remove(&key);
            return;
        }
        if let Some(s) = self.subs.get_mut(&key) {
            s.pending = false;
        }
        // Whatever changed meanwhile goes now.
        let lamp = self.lamp_of(&key);
        if self.subs.get(&key).is_some_and(|s| s.last.as_ref() != Some(&lamp)) {
            self.blf_notify(&key, lamp, None, now);
        }
    }

    /// Sends a subscription a lamp (`end`: the final NOTIFY, with its reason). While an
    /// earlier NOTIFY awaits its answer, a change waits for it.
    fn blf_notify(&mut self, key: &(String, String), lamp: Lamp, end: Option<&str>, now: Now) {
        let Some(sub) = self.subs.get(key) else { return };
        if sub.pending && end.is_none() {
            return;
        }
        let flow = sub.dialog.flow;
        let via = self.new_via(flow.transport);
        let contact = self.contact(flow.transport);
        let Some(sub) = self.subs.get_mut(key) else { return };
        let left = sub.expires_at.saturating_duration_since(now.mono).as_secs();
        let state = match end {
            Some(reason) => format!("terminated;reason={reason}"),
            None => format!("active;expires={left}"),
        };
        let body = dialog_info(&sub.entity, sub.version, &lamp);
        sub.version += 1;
        sub.last = Some(lamp);
        sub.pending = true;
        let mut n = sub.dialog.request(Method::Notify, &via, &contact);
        n.headers.push(HeaderName::Event, "dialog");
        n.headers.push(HeaderName::SubscriptionState, state);
        n.headers.push(HeaderName::ContentType, "application/dialog-info+xml");
        n.body = body.into_bytes();
        let t = self.txl.send_request(&n, flow, now.mono);
        self.client_tx.insert(t, TxOwner::Notify(Box::new(key.clone())));
    }
}
