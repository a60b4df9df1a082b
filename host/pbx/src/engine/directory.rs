//! An in-memory snapshot of tenants and users, rebuilt whenever the stored configuration
//! changes, so that authenticating a REGISTER or routing an INVITE never waits for the
//! database.

use pbx_sip::digest::Algorithm;
use pbx_store::{Did, Tenant, TenantStatus, Trunk, User};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// A tenant as the call engine needs it.
#[derive(Debug, Clone)]
pub struct TenantInfo {
    /// Database id.
    pub id: i64,
    /// Slug (for logs).
    pub slug: String,
    /// SIP domain and realm.
    pub domain: String,
    /// Suspended tenants cannot call.
    pub suspended: bool,
    /// Balance in cents.
    pub balance_cents: i64,
    /// Everything charged for calls up to this snapshot (the engine adds its charges since).
    pub charged_cents: i64,
    /// Country calling code for dialled numbers.
    pub country_code: String,
    /// Emergency numbers (allowed out without balance).
    pub emergency_numbers: Vec<String>,
    /// Directions recorded.
    pub recording: Vec<String>,
    /// Built-in prompt language.
    pub language: String,
    /// Music on hold prompt.
    pub moh_prompt: String,
    /// Greeting before ringing on city-number calls (empty: none).
    pub greeting_prompt: String,
    /// IANA time zone (plugins' clock).
    pub timezone: String,
    /// Working hours of the default setup (none: always open).
    pub hours: Vec<pbx_store::hours::Span>,
    /// Played outside working hours to callers of a number without a scenario.
    pub after_hours_prompt: String,
}

impl TenantInfo {
    /// Whether the company is open at `wall_ms` in its time zone.
    pub fn open_at(&self, wall_ms: i64) -> bool {
        if self.hours.is_empty() {
            return true;
        }
        let zone = jiff::tz::TimeZone::get(&self.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        let Ok(ts) = jiff::Timestamp::from_millisecond(wall_ms) else { return true };
        let local = ts.to_zoned(zone);
        let weekday = local.weekday().to_monday_zero_offset() as u8;
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        pbx_store::hours::is_open(&self.hours, weekday, minute)
    }
}

/// A carrier trunk as the call engine needs it.
#[derive(Debug, Clone)]
pub struct TrunkInfo {
    /// Database id.
    pub id: i64,
    /// Name (call log).
    pub name: String,
    /// `host:port` as configured.
    pub host: String,
    /// The carrier's resolved address (None when the name did not resolve).
    pub addr: Option<SocketAddr>,
    /// Networks calls are accepted from.
    pub allow: Vec<(IpAddr, u8)>,
    /// Digest credentials.
    pub credentials: Option<(String, String)>,
    /// Register to the carrier.
    pub register: bool,
    /// Country calling code of the carrier's numbers.
    pub country_code: String,
    /// `e164` or `national` in the Request-URI of outbound calls.
    pub number_format: String,
}

impl TrunkInfo {
    /// True when a request from `ip` comes from this carrier.
    pub fn accepts(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|(net, len)| pbx_store::cidr_contains(*net, *len, ip))
            || (self.register && self.addr.is_some_and(|a| a.ip() == ip))
    }
}

/// A city number.
#[derive(Debug, Clone)]
pub struct DidInfo {
    /// E.164 number.
    pub number: String,
    /// Tenant.
    pub tenant_id: i64,
    /// Trunk it arrives on (and calls go out on).
    pub trunk_id: i64,
    /// The user whose caller ID it is.
    pub user_id: Option<i64>,
    /// The tenant's main number.
    pub is_main: bool,
    /// Its call-handling scenario (none: the default setup rings everyone).
    pub scenario: Option<Arc<crate::scenario::Scenario>>,
}

/// A user as the call engine needs it, with digest HA1 values precomputed.
#[derive(Debug, Clone)]
pub struct UserInfo {
    /// Database id.
    pub id: i64,
    /// Tenant id.
    pub tenant_id: i64,
    /// Extension.
    pub ext: String,
    /// Display name.
    pub name: String,
    /// HA1 for MD5 in the tenant's realm.
    pub ha1_md5: String,
    /// HA1 for SHA-256 in the tenant's realm.
    pub ha1_sha256: String,
    /// Call forwarding.
    pub forwarding: pbx_store::Forwarding,
    /// Do not disturb.
    pub dnd: bool,
}

/// A ring group or queue as the call engine needs it.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    /// Database id.
    pub id: i64,
    /// Tenant.
    pub tenant_id: i64,
    /// Extension.
    pub ext: String,
    /// Name.
    pub name: String,
    /// Ring group or queue.
    pub kind: pbx_store::GroupKind,
    /// Strategy.
    pub strategy: String,
    /// Member user ids, in order.
    pub members: Vec<i64>,
    /// Per-member ring time.
    pub ring_seconds: u32,
    /// Total ring time.
    pub timeout_seconds: u32,
    /// Queue: longest wait.
    pub max_wait_seconds: u32,
    /// Queue: most callers.
    pub max_length: u32,
    /// Queue: wrap-up.
    pub wrap_up_seconds: u32,
    /// Queue: announcement period.
    pub announce_seconds: u32,
    /// Queue: callback offered.
    pub callback: bool,
    /// Queue: its own music while waiting (empty: the company's).
    pub music_prompt: String,
    /// Queue: the announcement on entering (empty: none).
    pub entry_prompt: String,
    /// Queue: agents paused (user ids).
    pub paused: Vec<i64>,
    /// Queue: agents logged out (user ids).
    pub logged_out: Vec<i64>,
}

impl UserInfo {
    /// HA1 for an algorithm.
    pub fn ha1(&self, alg: Algorithm) -> &str {
        match alg {
            Algorithm::Md5 => &self.ha1_md5,
            Algorithm::Sha256 => &self.ha1_sha256,
        }
    }
}

/// The directory snapshot.
#[derive(Debug, Default)]
pub struct Directory {
    tenants_by_domain: HashMap<String, Arc<TenantInfo>>,
    tenants_by_id: HashMap<i64, Arc<TenantInfo>>,
    users: HashMap<(i64, String), Arc<UserInfo>>,
    users_by_id: HashMap<i64, Arc<UserInfo>>,
    users_by_tenant: HashMap<i64, Vec<Arc<UserInfo>>>,
    trunks: HashMap<i64, Arc<TrunkInfo>>,
    dids: HashMap<String, Arc<DidInfo>>,
    main_did: HashMap<i64, Arc<DidInfo>>,
    user_did: HashMap<i64, Arc<DidInfo>>,
    prompts: HashMap<(i64, String), Arc<pbx_media::prompt::Prompt>>,
    groups: HashMap<(i64, String), Arc<GroupInfo>>,
    groups_by_id: HashMap<i64, Arc<GroupInfo>>,
    contacts: HashMap<(i64, String), Arc<str>>,
    notify: HashMap<i64, u8>,
    tariffs: Vec<pbx_store::Tariff>,
    blocked: HashMap<i64, BlockList>,
    block_settings: HashMap<i64, pbx_store::BlockSettings>,
}

/// Numbers refused by a company (owner 0) or by one user.
#[derive(Debug, Default)]
struct BlockList {
    /// Exact E.164 numbers.
    numbers: std::collections::HashSet<String>,
    /// Prefixes, `+` and digits.
    prefixes: Vec<String>,
}

impl BlockList {
    fn matches(&self, number: &str) -> bool {
        self.numbers.contains(number) || self.prefixes.iter().any(|p| number.starts_with(p.as_str()))
    }
}

/// Whether a caller's number is hidden (the carrier sent no digits).
pub fn is_anonymous(number: &str) -> bool {
    !number.bytes().any(|b| b.is_ascii_digit())
}

impl Directory {
    /// Builds the snapshot from stored rows; `resolved` maps trunk ids to their carrier's
    /// address.
    pub fn build(tenants: &[Tenant], users: &[User], trunks: &[Trunk], dids: &[Did], resolved: &HashMap<i64, SocketAddr>) -> Directory {
        let mut d = Directory::default();
        for t in tenants {
            let info = Arc::new(TenantInfo {
                id: t.id,
                slug: t.slug.clone(),
                domain: t.domain.clone(),
                suspended: t.status == TenantStatus::Suspended,
                balance_cents: t.balance_cents,
                charged_cents: t.charged_cents,
                country_code: t.country_code.clone(),
                emergency_numbers: t.emergency_numbers.clone(),
                recording: t.recording.clone(),
                language: t.language.clone(),
                moh_prompt: t.moh_prompt.clone(),
                greeting_prompt: t.greeting_prompt.clone(),
                timezone: t.timezone.clone(),
                // Stored hours were checked when written; unreadable ones count as none.
                hours: pbx_store::hours::parse_hours(&t.working_hours).unwrap_or_default(),
                after_hours_prompt: t.after_hours_prompt.clone(),
            });
            d.tenants_by_domain.insert(t.domain.to_ascii_lowercase(), info.clone());
            d.tenants_by_id.insert(t.id, info);
        }
        for u in users {
            if !d.tenants_by_id.contains_key(&u.tenant_id) {
                continue;
            }
            let info = Arc::new(UserInfo {
                id: u.id,
                tenant_id: u.tenant_id,
                ext: u.ext.clone(),
                name: u.name.clone(),
                ha1_md5: u.sip_ha1_md5.clone(),
                ha1_sha256: u.sip_ha1_sha256.clone(),
                forwarding: u.forwarding.clone(),
                dnd: u.dnd,
            });
            d.users.insert((u.tenant_id, u.ext.clone()), info.clone());
            d.users_by_tenant.entry(u.tenant_id).or_default().push(info.clone());
            d.users_by_id.insert(u.id, info);
        }
        for t in trunks {
            let info = TrunkInfo {
                id: t.id,
                name: t.name.clone(),
                host: t.host.clone(),
                addr: resolved.get(&t.id).copied(),
                allow: t.allow_ips.iter().filter_map(|c| pbx_store::parse_cidr(c)).collect(),
                credentials: t.username.clone().zip(t.password.clone()),
                register: t.register,
                country_code: t.country_code.clone(),
                number_format: t.number_format.clone(),
            };
            d.trunks.insert(t.id, Arc::new(info));
        }
        for x in dids {
            let info = Arc::new(DidInfo {
                number: x.number.clone(),
                tenant_id: x.tenant_id,
                trunk_id: x.trunk_id,
                user_id: x.user_id,
                is_main: x.is_main,
                scenario: x.scenario.as_deref().and_then(|json| match crate::scenario::Scenario::parse(json) {
                    Ok(s) => Some(Arc::new(s)),
                    Err(e) => {
                        tracing::error!(number = %x.number, error = %e, "stored scenario unreadable: the number rings everyone");
                        None
                    }
                }),
            });
            if x.is_main {
                d.main_did.insert(x.tenant_id, info.clone());
            }
            if let Some(u) = x.user_id {
                d.user_did.insert(u, info.clone());
            }
            d.dids.insert(x.number.clone(), info);
        }
        d
    }

    /// Adds the tenants' ring groups and queues with their agents' states.
    pub fn with_groups(mut self, groups: &[pbx_store::Group], agents: &[pbx_store::AgentState]) -> Directory {
        for g in groups {
            let members: Vec<i64> = g.members.iter().filter_map(|m| self.users.get(&(g.tenant_id, m.clone())).map(|u| u.id)).collect();
            let ids = |pred: &dyn Fn(&pbx_store::AgentState) -> bool| -> Vec<i64> {
                agents
                    .iter()
                    .filter(|a| a.group_id == g.id && pred(a))
                    .filter_map(|a| self.users.get(&(g.tenant_id, a.ext.clone())).map(|u| u.id))
                    .collect()
            };
            let info = Arc::new(GroupInfo {
                id: g.id,
                tenant_id: g.tenant_id,
                ext: g.ext.clone(),
                name: g.name.clone(),
                kind: g.kind,
                strategy: g.strategy.clone(),
                members,
                ring_seconds: g.ring_seconds.clamp(1, 3600) as u32,
                timeout_seconds: g.timeout_seconds.clamp(1, 86_400) as u32,
                max_wait_seconds: g.max_wait_seconds.clamp(1, 86_400) as u32,
                max_length: g.max_length.clamp(1, 100_000) as u32,
                wrap_up_seconds: g.wrap_up_seconds.clamp(0, 86_400) as u32,
                announce_seconds: g.announce_seconds.clamp(1, 86_400) as u32,
                callback: g.callback,
                music_prompt: g.music_prompt.clone(),
                entry_prompt: g.entry_prompt.clone(),
                paused: ids(&|a| a.paused),
                logged_out: ids(&|a| !a.logged_in),
            });
            self.groups.insert((g.tenant_id, g.ext.clone()), info.clone());
            self.groups_by_id.insert(g.id, info);
        }
        self
    }

    /// A ring group or queue by tenant and extension.
    pub fn group(&self, tenant_id: i64, ext: &str) -> Option<&Arc<GroupInfo>> {
        self.groups.get(&(tenant_id, ext.to_string()))
    }

    /// A ring group or queue by id.
    pub fn group_by_id(&self, id: i64) -> Option<&Arc<GroupInfo>> {
        self.groups_by_id.get(&id)
    }

    /// Every queue.
    pub fn queues(&self) -> impl Iterator<Item = &Arc<GroupInfo>> {
        self.groups_by_id.values().filter(|g| g.kind == pbx_store::GroupKind::Queue)
    }

    /// Adds the tenants' uploaded prompts.
    pub fn with_prompts(mut self, prompts: HashMap<(i64, String), Arc<pbx_media::prompt::Prompt>>) -> Directory {
        self.prompts = prompts;
        self
    }

    /// Marks the tenants whose calls produce integration events (they have a subscriber).
    pub fn with_notify(mut self, tenants: impl IntoIterator<Item = i64>) -> Directory {
        self.notify = tenants.into_iter().map(|t| (t, u8::MAX)).collect();
        self
    }

    /// Marks the tenants whose calls produce integration events, with the kinds their
    /// subscribers take (an empty list: every kind); other kinds are not written.
    pub fn with_notify_kinds(mut self, subscribers: &[(i64, Vec<String>)]) -> Directory {
        for (tenant, kinds) in subscribers {
            let mask = if kinds.is_empty() {
                u8::MAX
            } else {
                kinds.iter().filter_map(|k| pbx_store::events::EVENT_KINDS.iter().position(|x| x == k)).fold(0u8, |m, i| m | (1 << i))
            };
            *self.notify.entry(*tenant).or_insert(0) |= mask;
        }
        self
    }

    /// Adds the operator's prices for outbound calls.
    pub fn with_tariffs(mut self, tariffs: Vec<pbx_store::Tariff>) -> Directory {
        self.tariffs = tariffs;
        self
    }

    /// The price of a call from `tenant` to an E.164 number (none: the call is not charged).
    pub fn tariff(&self, tenant: i64, number: &str) -> Option<&pbx_store::Tariff> {
        pbx_store::billing::best_tariff(&self.tariffs, tenant, number)
    }

    /// Whether some subscriber of `tenant` takes events of `kind`.
    pub fn wants(&self, tenant: i64, kind: &str) -> bool {
        let Some(mask) = self.notify.get(&tenant) else { return false };
        pbx_store::events::EVENT_KINDS.iter().position(|x| *x == kind).is_some_and(|i| mask & (1 << i) != 0)
    }

    /// Whether calls of `tenant` produce integration events (it has a subscriber).
    pub fn notifies(&self, tenant: i64) -> bool {
        self.notify.get(&tenant).is_some_and(|m| *m != 0)
    }

    /// Adds the tenants' phone books: (tenant, E.164 number, name); names are kept as the
    /// phones will show them (cleaned and cut to a display name's length).
    pub fn with_contacts(mut self, contacts: Vec<(i64, String, String)>) -> Directory {
        self.contacts =
            contacts.into_iter().map(|(t, number, name)| ((t, number), Arc::from(pbx_sip::peer::display_name(&name).as_str()))).collect();
        self
    }

    /// Adds the blacklists: rows of (tenant, owner: 0 for the company else a user id,
    /// pattern, prefix) and each company's settings.
    pub fn with_blocklists(
        mut self,
        rows: Vec<pbx_store::blocklist::BlockRow>,
        settings: Vec<(i64, pbx_store::BlockSettings)>,
    ) -> Directory {
        for (tenant, owner, pattern, prefix) in rows {
            let list = self.blocked.entry(owner_key(tenant, owner)).or_default();
            if prefix {
                list.prefixes.push(pattern);
            } else {
                list.numbers.insert(pattern);
            }
        }
        self.block_settings = settings.into_iter().collect();
        self
    }

    /// How the company refuses a caller, if it does: its blacklist, or a hidden number when
    /// it refuses anonymous callers.
    pub fn company_blocks(&self, tenant_id: i64, caller: &str) -> Option<pbx_store::BlockAction> {
        let settings = self.block_settings.get(&tenant_id).copied().unwrap_or_default();
        let listed = self.blocked.get(&owner_key(tenant_id, 0)).is_some_and(|l| l.matches(caller));
        (listed || (settings.anonymous && is_anonymous(caller))).then_some(settings.action)
    }

    /// Whether a user's own blacklist holds the caller's number.
    pub fn user_blocks(&self, user_id: i64, caller: &str) -> bool {
        let Some(u) = self.users_by_id.get(&user_id) else { return false };
        self.blocked.get(&owner_key(u.tenant_id, user_id)).is_some_and(|l| l.matches(caller))
    }

    /// The same snapshot with one user changed by `f` (simulations).
    #[cfg(test)]
    pub fn with_user(mut self, id: i64, f: impl Fn(&mut UserInfo)) -> Directory {
        let swap = |u: &mut Arc<UserInfo>| {
            if u.id == id {
                let mut changed = (**u).clone();
                f(&mut changed);
                *u = Arc::new(changed);
            }
        };
        self.users.values_mut().for_each(swap);
        self.users_by_id.values_mut().for_each(swap);
        self.users_by_tenant.values_mut().flat_map(|v| v.iter_mut()).for_each(swap);
        self
    }

    /// The name a tenant's phone book gives an E.164 number.
    pub fn contact_name(&self, tenant_id: i64, number: &str) -> Option<&str> {
        self.contacts.get(&(tenant_id, number.to_string())).map(|n| &**n)
    }

    /// A prompt by name for a tenant: its own upload, else the built-in one in its language.
    pub fn prompt(&self, tenant: &TenantInfo, name: &str) -> Option<Arc<pbx_media::prompt::Prompt>> {
        self.prompts.get(&(tenant.id, name.to_string())).cloned().or_else(|| pbx_media::prompt::builtin(&tenant.language, name))
    }

    /// A company's ring groups and queues.
    pub fn groups_of(&self, tenant_id: i64) -> impl Iterator<Item = &Arc<GroupInfo>> {
        self.groups.iter().filter(move |((t, _), _)| *t == tenant_id).map(|(_, g)| g)
    }

    /// Every company's id (presence is published per company).
    pub fn tenant_ids(&self) -> Vec<i64> {
        self.tenants_by_id.keys().copied().collect()
    }

    /// The users of a tenant.
    pub fn users_of(&self, tenant_id: i64) -> &[Arc<UserInfo>] {
        self.users_by_tenant.get(&tenant_id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The trunk a request from `ip` comes from, if any.
    pub fn trunk_for_source(&self, ip: IpAddr) -> Option<&Arc<TrunkInfo>> {
        self.trunks.values().find(|t| t.accepts(ip))
    }

    /// A trunk by id.
    pub fn trunk(&self, id: i64) -> Option<&Arc<TrunkInfo>> {
        self.trunks.get(&id)
    }

    /// Every trunk.
    pub fn trunks(&self) -> impl Iterator<Item = &Arc<TrunkInfo>> {
        self.trunks.values()
    }

    /// A city number by its E.164 form.
    pub fn did(&self, number: &str) -> Option<&Arc<DidInfo>> {
        self.dids.get(number)
    }

    /// The number a user presents when calling out: their own, else the tenant's main one.
    pub fn caller_id_for(&self, tenant_id: i64, user_id: Option<i64>) -> Option<&Arc<DidInfo>> {
        user_id.and_then(|u| self.user_did.get(&u)).or_else(|| self.main_did.get(&tenant_id))
    }

    /// The tenant serving a SIP domain.
    pub fn tenant_by_domain(&self, domain: &str) -> Option<&Arc<TenantInfo>> {
        if let Some(t) = self.tenants_by_domain.get(domain) {
            return Some(t);
        }
        self.tenants_by_domain.get(&domain.to_ascii_lowercase())
    }

    /// A tenant by id.
    pub fn tenant(&self, id: i64) -> Option<&Arc<TenantInfo>> {
        self.tenants_by_id.get(&id)
    }

    /// A user by tenant and extension.
    pub fn user(&self, tenant_id: i64, ext: &str) -> Option<&Arc<UserInfo>> {
        self.users.get(&(tenant_id, ext.to_string()))
    }

    /// A user by id.
    pub fn user_by_id(&self, id: i64) -> Option<&Arc<UserInfo>> {
        self.users_by_id.get(&id)
    }

    /// Number of users.
    pub fn user_count(&self) -> usize {
        self.users_by_id.len()
    }
}

/// The key of a list in the map: a company's own under its tenant id, a user's under the
/// negated user id (ids are positive, so the two never meet).
fn owner_key(tenant_id: i64, owner: i64) -> i64 {
    if owner == 0 { tenant_id } else { -owner }
}
