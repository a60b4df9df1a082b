//! Where a new INVITE goes: a phone's call is authenticated and routed to an extension of its
//! tenant or out through the tenant's trunk; a carrier's call (recognised by its source
//! address) is routed by the city number it was sent to.

use super::auth::{AuthOutcome, Claim};
use super::call::{ForkTarget, Party};
use super::directory::{DidInfo, TenantInfo, TrunkInfo};
use super::{Engine, Now, random_token};
use pbx_sip::header::HeaderName;
use pbx_sip::message::{Request, SipMessage};
use pbx_sip::transaction::{Target, Transport, TxId};
use pbx_sip::uri::Uri;
use pbx_store::Direction as CallDirection;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Smallest session interval accepted (RFC 4028 Min-SE).
const MIN_SE: u32 = 90;

/// The caller's INVITE and where to answer it.
pub(super) struct Invite {
    /// The request.
    pub req: Request,
    /// Its server transaction.
    pub tx: TxId,
    /// Where it came from.
    pub source: Target,
    /// Where responses go.
    pub resp_target: Target,
    /// Max-Forwards received.
    pub max_forwards: u32,
    /// Session interval agreed (RFC 4028).
    pub session_interval: Option<u32>,
}

/// The outcome of routing: who calls whom and which legs to ring.
pub(super) struct Route {
    /// Caller.
    pub caller: Party,
    /// Callee (the extension, the external number or the city number called).
    pub callee: Party,
    /// Direction for the call log.
    pub direction: CallDirection,
    /// City number involved.
    pub did: Option<String>,
    /// Trunk involved.
    pub trunk: Option<String>,
    /// What rings, step by step.
    pub steps: Vec<super::dialplan::Step>,
    /// How long the whole dial rings (none: the server's ring timeout).
    pub total: Option<Duration>,
    /// The ring group or queue dialled: (id, extension).
    pub via: Option<(i64, String)>,
    /// A greeting played to the caller before ringing.
    pub greeting: Option<Arc<pbx_media::prompt::Prompt>>,
    /// The city number's scenario, which decides instead of `targets`.
    pub scenario: Option<Arc<crate::scenario::Scenario>>,
}

/// Why a tenant cannot call an external number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TrunkRefusal {
    /// Balance at or below zero.
    Balance,
    /// No city number to present.
    NoNumber,
    /// The number's trunk is gone.
    NoTrunk,
    /// The carrier's host did not resolve.
    Unresolved,
    /// The number does not make a URI.
    BadNumber,
}

/// What a dialled string means for a tenant.
#[derive(Debug)]
pub(super) enum Dialled {
    /// An extension of the tenant.
    Extension(i64),
    /// A ring group of the tenant.
    Group(Arc<super::directory::GroupInfo>),
    /// A queue of the tenant.
    Queue(Arc<super::directory::GroupInfo>),
    /// An emergency number (allowed out without balance).
    Emergency(String),
    /// An external number in E.164.
    External(String),
    /// Nothing routable.
    Unknown,
}

/// The user part of a Request-URI or To as a dial string (digits, `+`, `*`, `#`, visual
/// separators dropped); anything else is not a number and is refused where it enters.
pub(super) fn dialled_number(uri: &Uri) -> Option<String> {
    pbx_sip::peer::dial_string(&uri.user_or_number()?)
}

fn quote_display(name: &str) -> String {
    if name.is_empty() { String::new() } else { format!("{} ", pbx_sip::text::quote(name)) }
}

impl Engine {
    /// Interprets a dialled string for a tenant (dial rules: extensions first, then
    /// emergency numbers, then national/international forms normalised to E.164).
    pub(super) fn classify(&self, tenant: &TenantInfo, number: &str) -> Dialled {
        if let Some(u) = self.dir.user(tenant.id, number) {
            return Dialled::Extension(u.id);
        }
        if let Some(g) = self.dir.group(tenant.id, number) {
            return match g.kind {
                pbx_store::GroupKind::Ring => Dialled::Group(g.clone()),
                pbx_store::GroupKind::Queue => Dialled::Queue(g.clone()),
            };
        }
        if tenant.emergency_numbers.iter().any(|e| e == number) {
            return Dialled::Emergency(number.to_string());
        }
        match pbx_store::numbers::normalize(number, &tenant.country_code) {
            Some(e164) => Dialled::External(e164),
            None => Dialled::Unknown,
        }
    }

    /// A new INVITE outside any dialog.
    pub(super) fn on_invite(&mut self, req: Request, tx: Option<TxId>, source: Target, resp_target: Target, now: Now) {
        let Some(tx) = tx else { return };
        let trying = req.response(100, "Trying", None);
        self.respond(Some(tx), trying, resp_target, now);
        let max_forwards = req.headers.get(&HeaderName::MaxForwards).and_then(|m| m.parse::<u32>().ok()).unwrap_or(70);
        if max_forwards == 0 {
            return self.simple_response(Some(tx), &req, 483, resp_target, now);
        }
        // Session timers (RFC 4028) asked by the caller.
        let session_interval = match req.headers.get(&HeaderName::SessionExpires) {
            Some(v) => match v.split(';').next().and_then(|n| n.trim().parse::<u32>().ok()) {
                Some(n) if n < MIN_SE => {
                    let mut r = req.response(422, "Session Interval Too Small", Some(&random_token(10)));
                    r.headers.push(HeaderName::MinSe, MIN_SE.to_string());
                    return self.respond(Some(tx), r, resp_target, now);
                }
                Some(n) => Some(n.min(self.cfg.session_expires.max(MIN_SE))),
                None => None,
            },
            None => None,
        };
        let inv = Invite { req, tx, source, resp_target, max_forwards, session_interval };
        if let Some(trunk) = self.dir.trunk_for_source(source.addr.ip()).cloned() {
            return self.on_carrier_invite(inv, &trunk, now);
        }
        self.on_phone_invite(inv, now);
    }

    /// The one refusal for calls the PBX will not take from outside: an unknown source, an
    /// unknown city number or a tenant that cannot receive. It reveals nothing.
    fn refuse(&mut self, inv: &Invite, now: Now) {
        let r = inv.req.response(403, "Forbidden", Some(&random_token(10)));
        self.respond(Some(inv.tx), r, inv.resp_target, now);
    }

    fn on_phone_invite(&mut self, inv: Invite, now: Now) {
        let Some(from) = inv.req.parsed_from() else {
            return self.simple_response(Some(inv.tx), &inv.req, 400, inv.resp_target, now);
        };
        let realm = from.uri.as_sip().map(|u| u.host.to_ascii_lowercase()).unwrap_or_default();
        // A domain the PBX does not host is challenged like one it does (and then refused
        // like a wrong password), so that an INVITE does not tell which tenants exist. An
        // address in place of a domain is no tenant's: such a caller is refused the way a
        // carrier's call to an unknown number is, so it cannot tell carriers from strangers.
        let tenant = self.dir.tenant_by_domain(&realm).cloned();
        if tenant.is_none() && realm.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok() {
            return self.refuse(&inv, now);
        }
        let (location, dir, ip, tenant_id) = (&self.location, &self.dir, inv.source.addr.ip(), tenant.as_ref().map(|t| t.id));
        let bound_here = |user: &str| location.bound_from(dir, tenant_id, user, ip);
        let claim = Claim { realm: &realm, tenant_id, source: inv.source.addr, bound_here: &bound_here, server: &self.server_addr };
        let outcome = match self.flow_user(inv.source, &realm, Some(&from)) {
            Some(u) => AuthOutcome::Ok(u),
            None => self.auth.check(&inv.req, &HeaderName::ProxyAuthorization, &claim, &self.dir, now.mono, now.unix_secs()),
        };
        let user = match outcome {
            AuthOutcome::Ok(u) => u,
            AuthOutcome::Challenge(stale) => {
                let mut r = inv.req.response(407, "Proxy Authentication Required", Some(&random_token(10)));
                for c in self.auth.challenges(&realm, stale, now.unix_secs()) {
                    r.headers.push(HeaderName::ProxyAuthenticate, c);
                }
                return self.respond(Some(inv.tx), r, inv.resp_target, now);
            }
            AuthOutcome::Forbidden(delay) => return self.forbid(Some(inv.tx), &inv.req, inv.resp_target, delay, now),
            AuthOutcome::Blocked => return self.forbid(Some(inv.tx), &inv.req, inv.resp_target, Duration::ZERO, now),
            AuthOutcome::WrongUri => {
                let r = inv.req.response(400, "Bad Request: the credentials name another Request-URI", Some(&random_token(10)));
                return self.respond(Some(inv.tx), r, inv.resp_target, now);
            }
        };
        let Some(tenant) = tenant else {
            return self.forbid(Some(inv.tx), &inv.req, inv.resp_target, Duration::ZERO, now);
        };
        let from_user = from.uri.as_sip().and_then(|u| u.user_unescaped());
        if from_user.as_deref() != Some(user.ext.as_str()) {
            let r = inv.req.response(403, "Forbidden: From does not match the authenticated user", Some(&random_token(10)));
            return self.respond(Some(inv.tx), r, inv.resp_target, now);
        }
        if tenant.suspended {
            return self.refuse_with_warning(&inv, "Account suspended", now);
        }
        let Some(number) = dialled_number(&inv.req.uri) else {
            return self.simple_response(Some(inv.tx), &inv.req, 404, inv.resp_target, now);
        };
        let caller = Party {
            number: user.ext.clone(),
            name: if user.name.is_empty() {
                from.display.as_deref().map(pbx_sip::peer::display_name).unwrap_or_default()
            } else {
                user.name.clone()
            },
            user_id: Some(user.id),
        };
        if let Some(code) = number.strip_prefix('*') {
            return self.feature_code(inv, &tenant, caller, code, now);
        }
        match self.classify(&tenant, &number) {
            Dialled::Extension(callee_id) => {
                let Some(callee) = self.dir.user_by_id(callee_id).cloned() else { return };
                let who = super::dialplan::Presented { number: caller.number.clone(), name: caller.name.clone() };
                let steps = self.user_steps(&tenant, callee.id, &who, &mut Vec::new(), now);
                if callee.dnd && steps.iter().all(|s| s.targets.is_empty()) {
                    // Nothing rings and the user asked not to be disturbed: busy, not "not registered".
                    let start = pbx_store::CallStart {
                        callee_user_id: Some(callee.id),
                        ..self.refused_start(tenant.id, CallDirection::Internal, &caller, number, now)
                    };
                    self.log_failed_call(start, "486 do not disturb", now);
                    return self.simple_response(Some(inv.tx), &inv.req, 486, inv.resp_target, now);
                }
                let route = Route {
                    callee: Party { number: number.clone(), name: callee.name.clone(), user_id: Some(callee.id) },
                    caller,
                    direction: CallDirection::Internal,
                    did: None,
                    trunk: None,
                    steps,
                    total: None,
                    via: None,
                    greeting: None,
                    scenario: None,
                };
                self.start_call(inv, &tenant, route, now);
            }
            Dialled::Group(g) => {
                let who = super::dialplan::Presented { number: caller.number.clone(), name: caller.name.clone() };
                let (steps, total) = self.group_steps(&tenant, &g, &who, now);
                let route = Route {
                    callee: Party { number: number.clone(), name: g.name.clone(), user_id: None },
                    caller,
                    direction: CallDirection::Internal,
                    did: None,
                    trunk: None,
                    steps,
                    total: Some(total),
                    via: Some((g.id, g.ext.clone())),
                    greeting: None,
                    scenario: None,
                };
                self.start_call(inv, &tenant, route, now);
            }
            Dialled::Queue(q) => {
                let route = Route {
                    callee: Party { number: number.clone(), name: q.name.clone(), user_id: None },
                    caller,
                    direction: CallDirection::Internal,
                    did: None,
                    trunk: None,
                    steps: Vec::new(),
                    total: None,
                    via: Some((q.id, q.ext.clone())),
                    greeting: None,
                    scenario: Some(super::queue_scenario(&q.ext)),
                };
                self.start_call(inv, &tenant, route, now);
            }
            Dialled::Emergency(n) => self.route_out(inv, &tenant, caller, n, true, now),
            // The company's own number stays inside: its scenario runs as for a caller from
            // the carrier (an IVR tried from a desk phone), with no trip through the trunk.
            Dialled::External(e164) => match self.dir.did(&e164).filter(|d| d.tenant_id == tenant.id).cloned() {
                Some(did) => {
                    let route = self.number_route(&tenant, &did, caller, CallDirection::Internal, None, now);
                    self.start_call(inv, &tenant, route, now);
                }
                None => self.route_out(inv, &tenant, caller, e164, false, now),
            },
            Dialled::Unknown => {
                let start = self.refused_start(tenant.id, CallDirection::Internal, &caller, number, now);
                self.log_failed_call(start, "404 not found", now);
                self.simple_response(Some(inv.tx), &inv.req, 404, inv.resp_target, now)
            }
        }
    }

    /// Feature codes dialled by a phone: `*45` logs the agent in to their queues, `*46` logs
    /// them out, `*47` pauses, `*48` unpauses; `*78` turns "do not disturb" on, `*79` off
    /// (the phone hears a short confirmation); `*8` and `**ext` pick up a ringing call.
    fn feature_code(&mut self, inv: Invite, tenant: &Arc<TenantInfo>, caller: Party, code: &str, now: Now) {
        if code == "8" {
            return self.pickup(inv, tenant, caller, None, now);
        }
        if let Some(ext) = code.strip_prefix('*') {
            return self.pickup(inv, tenant, caller, Some(ext), now);
        }
        let what = match code {
            "78" | "79" => {
                let on = code == "78";
                self.actions.push_back(super::Action::Dnd { tenant_id: tenant.id, ext: caller.number.clone(), on });
                if on { "do not disturb" } else { "available" }
            }
            _ => {
                let (paused, logged_in, what) = match code {
                    "45" => (None, Some(true), "logged in"),
                    "46" => (None, Some(false), "logged out"),
                    "47" => (Some(true), None, "paused"),
                    "48" => (Some(false), None, "unpaused"),
                    _ => return self.simple_response(Some(inv.tx), &inv.req, 404, inv.resp_target, now),
                };
                self.actions.push_back(super::Action::AgentState { tenant_id: tenant.id, ext: caller.number.clone(), paused, logged_in });
                what
            }
        };
        tracing::info!(ext = %caller.number, what, "feature code");
        let json = r#"{"start":"ok","nodes":{"ok":{"type":"play","prompts":["goodbye"],"extension_dialing":false,"next":{"done":"bye"}},"bye":{"type":"hangup"}}}"#;
        let scenario = crate::scenario::Scenario::parse(json).ok().map(Arc::new);
        let route = Route {
            callee: Party { number: format!("*{code}"), name: what.to_string(), user_id: None },
            caller,
            direction: CallDirection::Internal,
            did: None,
            trunk: None,
            steps: Vec::new(),
            total: None,
            via: None,
            greeting: None,
            scenario,
        };
        self.start_call(inv, tenant, route, now);
    }

    /// The call-log start of a call refused before anything rang (kept with its cause).
    fn refused_start(&self, tenant_id: i64, direction: CallDirection, caller: &Party, callee: String, now: Now) -> pbx_store::CallStart {
        pbx_store::CallStart {
            id: super::new_call_uid(now.wall_ms),
            tenant_id,
            direction,
            caller_number: caller.number.clone(),
            caller_name: caller.name.clone(),
            callee,
            did: None,
            trunk: None,
            caller_user_id: caller.user_id,
            callee_user_id: None,
            started_at: now.wall_ms,
            node: self.cfg.node.clone(),
        }
    }

    fn refuse_with_warning(&mut self, inv: &Invite, text: &str, now: Now) {
        let mut r = inv.req.response(403, "Forbidden", Some(&random_token(10)));
        r.headers.push(HeaderName::Warning, format!("399 {} \"{text}\"", self.host()));
        self.respond(Some(inv.tx), r, inv.resp_target, now);
    }

    /// Legs to every registered phone of the tenant (the default group), showing the caller.
    pub(super) fn ring_all_targets(&self, tenant: &TenantInfo, number: &str, name: &str, now: Now) -> Vec<ForkTarget> {
        let presented = format!("{}<sip:{}@{}>", quote_display(name), number, tenant.domain);
        let mut targets = Vec::new();
        for u in self.dir.users_of(tenant.id).iter().filter(|u| self.rings_for(u, number)) {
            targets.extend(self.phone_targets(u.id, &presented, &format!("<sip:{}@{}>", u.ext, tenant.domain), now));
        }
        targets
    }

    /// Whether a user's phones may ring for a caller: not in "do not disturb", and the
    /// caller not on the user's own blacklist.
    pub(super) fn rings_for(&self, user: &super::directory::UserInfo, caller: &str) -> bool {
        !user.dnd && !self.dir.user_blocks(user.id, caller)
    }

    /// Legs to one user's phones, showing the caller (scenario dials).
    pub(super) fn user_targets(&self, tenant: &TenantInfo, user_id: i64, number: &str, name: &str, now: Now) -> Vec<ForkTarget> {
        let Some(u) = self.dir.user_by_id(user_id) else { return Vec::new() };
        let presented = format!("{}<sip:{}@{}>", quote_display(name), number, tenant.domain);
        self.phone_targets(u.id, &presented, &format!("<sip:{}@{}>", u.ext, tenant.domain), now)
    }

    /// Legs to every registered phone of a user.
    pub(super) fn phone_targets(&self, user_id: i64, from: &str, to: &str, now: Now) -> Vec<ForkTarget> {
        self.location
            .bindings(user_id, now.mono)
            .into_iter()
            .map(|b| ForkTarget {
                uri: b.uri,
                target: b.target,
                user_id: Some(user_id),
                from: from.to_string(),
                to: to.to_string(),
                pai: Some(from.to_string()),
                credentials: None,
            })
            .collect()
    }

    /// The leg to an external number through the tenant's trunk, presenting the caller's
    /// city number; the error says why the tenant cannot call it. Returns the leg, the city
    /// number presented and the trunk's name.
    pub(super) fn trunk_target(
        &self,
        tenant: &TenantInfo,
        caller_user: Option<i64>,
        number: &str,
        emergency: bool,
    ) -> Result<(ForkTarget, String, String), TrunkRefusal> {
        let did = self.dir.caller_id_for(tenant.id, caller_user).ok_or(TrunkRefusal::NoNumber)?;
        self.trunk_target_via(tenant, did, number, emergency)
    }

    /// [`Engine::trunk_target`] presenting a given city number of the tenant.
    pub(super) fn trunk_target_via(
        &self,
        tenant: &TenantInfo,
        did: &DidInfo,
        number: &str,
        emergency: bool,
    ) -> Result<(ForkTarget, String, String), TrunkRefusal> {
        if self.balance_now(tenant) <= 0 && !emergency {
            return Err(TrunkRefusal::Balance);
        }
        let trunk = self.dir.trunk(did.trunk_id).ok_or(TrunkRefusal::NoTrunk)?;
        let addr = trunk.addr.ok_or(TrunkRefusal::Unresolved)?;
        let host = &trunk.host;
        let dialled = if trunk.number_format == "national" && !emergency {
            pbx_store::numbers::national(number, &trunk.country_code)
        } else {
            number.to_string()
        };
        let uri = Uri::parse(&format!("sip:{dialled}@{host}")).map_err(|_| TrunkRefusal::BadNumber)?;
        let presented = format!("<sip:{}@{host}>", did.number);
        let target = ForkTarget {
            uri,
            target: Target { transport: Transport::Udp, addr, conn: None },
            user_id: None,
            from: presented.clone(),
            to: format!("<sip:{dialled}@{host}>"),
            pai: Some(presented),
            credentials: trunk.credentials.clone(),
        };
        Ok((target, did.number.clone(), trunk.name.clone()))
    }

    /// An external call: balance, caller ID and trunk of the tenant.
    fn route_out(&mut self, inv: Invite, tenant: &Arc<TenantInfo>, caller: Party, number: String, emergency: bool, now: Now) {
        let (target, did, trunk) = match self.trunk_target(tenant, caller.user_id, &number, emergency) {
            Ok(t) => t,
            Err(TrunkRefusal::Balance) => return self.refuse_with_warning(&inv, "Insufficient balance: outgoing calls are blocked", now),
            Err(TrunkRefusal::NoNumber) => return self.refuse_with_warning(&inv, "No city number to call out with", now),
            Err(TrunkRefusal::NoTrunk) => return self.refuse_with_warning(&inv, "No trunk for outgoing calls", now),
            Err(TrunkRefusal::Unresolved) => return self.simple_response(Some(inv.tx), &inv.req, 503, inv.resp_target, now),
            Err(TrunkRefusal::BadNumber) => return self.simple_response(Some(inv.tx), &inv.req, 404, inv.resp_target, now),
        };
        let route = Route {
            caller,
            callee: Party { number: number.clone(), name: String::new(), user_id: None },
            direction: CallDirection::Outbound,
            did: Some(did),
            trunk: Some(trunk),
            steps: vec![super::dialplan::Step::all(vec![target], &number)],
            total: None,
            via: None,
            greeting: None,
            scenario: None,
        };
        self.start_call(inv, tenant, route, now);
    }

    /// A call from a carrier: to one of its city numbers, else refused.
    fn on_carrier_invite(&mut self, inv: Invite, trunk: &TrunkInfo, now: Now) {
        let cc = &trunk.country_code;
        let candidates = [dialled_number(&inv.req.uri), inv.req.parsed_to().and_then(|t| dialled_number(&t.uri))];
        let did = candidates
            .iter()
            .flatten()
            .filter_map(|n| pbx_store::numbers::normalize(n, cc))
            .find_map(|n| self.dir.did(&n).filter(|d| d.trunk_id == trunk.id).cloned());
        let Some(did) = did else { return self.refuse(&inv, now) };
        let Some(tenant) = self.dir.tenant(did.tenant_id).cloned() else { return self.refuse(&inv, now) };
        if tenant.suspended {
            return self.refuse(&inv, now);
        }
        let from = inv.req.parsed_from();
        // The caller's number and name come from the carrier: only digits (else the caller is
        // anonymous) and printable text go on into the phones' INVITEs and the call log.
        let raw_caller = from
            .as_ref()
            .and_then(|f| f.uri.user_or_number())
            .and_then(|n| pbx_sip::peer::caller_number(&n))
            .unwrap_or_else(|| "anonymous".into());
        let caller_number = pbx_store::numbers::normalize(&raw_caller, cc).unwrap_or(raw_caller);
        // The tenant's phone book names the caller before anything rings; the carrier's
        // display name is the fallback.
        let caller_name = match self.dir.contact_name(tenant.id, &caller_number) {
            Some(name) => name.to_string(),
            None => from.as_ref().and_then(|f| f.display.as_deref()).map(pbx_sip::peer::display_name).unwrap_or_default(),
        };
        let caller = Party { number: caller_number, name: caller_name, user_id: None };
        if let Some(action) = self.dir.company_blocks(tenant.id, &caller.number) {
            return self.refuse_blocked(inv, &tenant, &did, caller, trunk, action, now);
        }
        let route = self.number_route(&tenant, &did, caller, CallDirection::Inbound, Some(trunk.name.clone()), now);
        self.start_call(inv, &tenant, route, now);
    }

    /// A caller the company refuses (its blacklist, or a hidden number): busy, or the "not
    /// available" message then the end of the call. The call log keeps the attempt.
    #[allow(clippy::too_many_arguments)]
    fn refuse_blocked(
        &mut self,
        inv: Invite,
        tenant: &Arc<TenantInfo>,
        did: &DidInfo,
        caller: Party,
        trunk: &TrunkInfo,
        action: pbx_store::BlockAction,
        now: Now,
    ) {
        tracing::info!(from = %caller.number, action = action.as_str(), "caller refused by the blacklist");
        if action == pbx_store::BlockAction::Busy {
            let start = pbx_store::CallStart {
                did: Some(did.number.clone()),
                trunk: Some(trunk.name.clone()),
                ..self.refused_start(tenant.id, CallDirection::Inbound, &caller, did.number.clone(), now)
            };
            self.log_failed_call(start, "486 blacklisted", now);
            return self.simple_response(Some(inv.tx), &inv.req, 486, inv.resp_target, now);
        }
        let json = r#"{"start":"msg","nodes":{"msg":{"type":"play","prompts":["not-available"],"extension_dialing":false,"next":{"done":"bye"}},"bye":{"type":"hangup"}}}"#;
        let route = Route {
            callee: Party { number: did.number.clone(), name: String::new(), user_id: None },
            caller,
            direction: CallDirection::Inbound,
            did: Some(did.number.clone()),
            trunk: Some(trunk.name.clone()),
            steps: Vec::new(),
            total: None,
            via: None,
            greeting: None,
            scenario: crate::scenario::Scenario::parse(json).ok().map(Arc::new),
        };
        let tx = inv.tx;
        self.start_call(inv, tenant, route, now);
        // Marked, so that it counts as refused, not as a missed caller.
        if let Some(&key) = self.invite_tx.get(&tx)
            && let Some(c) = self.calls.get_mut(&key)
        {
            c.refused = true;
            let op = pbx_store::CallOp::Mark { id: c.uid.clone(), forwarded_from: None, via: None, kind: Some("blacklisted".into()) };
            self.actions.push_back(super::Action::Cdr { op, ack: None });
        }
    }

    /// How a call to one of the company's numbers goes: its scenario, or without one the
    /// default setup (every phone of the tenant rings at once after its greeting, within
    /// working hours; outside them the caller hears the after-hours message and nothing
    /// rings: no steps, see `on_cdr_committed`).
    fn number_route(
        &self,
        tenant: &TenantInfo,
        did: &DidInfo,
        caller: Party,
        direction: CallDirection,
        trunk: Option<String>,
        now: Now,
    ) -> Route {
        let scenario = did.scenario.clone();
        let closed =
            if scenario.is_none() && !tenant.open_at(now.wall_ms) { self.dir.prompt(tenant, &tenant.after_hours_prompt) } else { None };
        let (steps, greeting) = if scenario.is_some() {
            (Vec::new(), None)
        } else if closed.is_some() {
            (Vec::new(), closed)
        } else {
            // A colleague calling the number does not ring their own phones.
            let mut targets = self.ring_all_targets(tenant, &caller.number, &caller.name, now);
            targets.retain(|t| caller.user_id.is_none() || t.user_id != caller.user_id);
            let everyone = super::dialplan::Step::all(targets, "everyone");
            let greeting = if tenant.greeting_prompt.is_empty() { None } else { self.dir.prompt(tenant, &tenant.greeting_prompt) };
            (vec![everyone], greeting)
        };
        Route {
            callee: Party { number: did.number.clone(), name: String::new(), user_id: None },
            caller,
            direction,
            did: Some(did.number.clone()),
            trunk,
            steps,
            total: None,
            via: None,
            greeting,
            scenario,
        }
    }
}
