//! How many calls one user, one tenant and one trunk may hold at once, and the media
//! sessions kept for everyone else: a registered user dialling in a loop, a tenant's
//! campaign or a flood of forged carrier INVITEs takes its own share and no more, so the
//! other tenants keep calling.

use super::call::CallKey;
use std::collections::HashMap;

/// The caps (0: no cap).
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    /// Calls one user may place at once.
    pub per_user: u32,
    /// Calls of one tenant at once.
    pub per_tenant: u32,
    /// Calls over one trunk at once.
    pub per_trunk: u32,
    /// Media sessions kept back for tenants holding fewer than this many calls: when only
    /// this many are left, a tenant at or above it gets no more.
    pub reserve: u32,
}

impl Default for CallLimits {
    fn default() -> CallLimits {
        CallLimits { per_user: 8, per_tenant: 200, per_trunk: 300, reserve: 16 }
    }
}

/// What a call is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Tenant.
    pub tenant: i64,
    /// The user who placed it, if a user did.
    pub user: Option<i64>,
    /// The trunk it uses, if any.
    pub trunk: Option<String>,
}

/// Why a new call is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The user's cap.
    User,
    /// The tenant's cap.
    Tenant,
    /// The trunk's cap.
    Trunk,
    /// The media sessions left are kept for tenants with fewer calls.
    Reserve,
}

impl Refusal {
    /// The Warning text of the refusal.
    pub fn text(self) -> &'static str {
        match self {
            Refusal::User => "Too many calls of this user at once",
            Refusal::Tenant => "Too many calls of this company at once",
            Refusal::Trunk => "Too many calls on this line at once",
            Refusal::Reserve => "The PBX is busy: try again shortly",
        }
    }
}

/// Live counts.
#[derive(Debug, Default)]
pub struct CallCounts {
    tenants: HashMap<i64, u32>,
    users: HashMap<i64, u32>,
    trunks: HashMap<String, u32>,
    held: HashMap<CallKey, Counted>,
}

fn over(count: Option<&u32>, cap: u32) -> bool {
    cap > 0 && count.copied().unwrap_or(0) >= cap
}

impl CallCounts {
    /// Whether a call counted as `c` may start when `free_sessions` media sessions are left.
    pub fn admit(&self, limits: &CallLimits, c: &Counted, free_sessions: usize) -> Result<(), Refusal> {
        if c.user.is_some_and(|u| over(self.users.get(&u), limits.per_user)) {
            return Err(Refusal::User);
        }
        if over(self.tenants.get(&c.tenant), limits.per_tenant) {
            return Err(Refusal::Tenant);
        }
        if c.trunk.as_ref().is_some_and(|t| over(self.trunks.get(t), limits.per_trunk)) {
            return Err(Refusal::Trunk);
        }
        if free_sessions <= limits.reserve as usize && over(self.tenants.get(&c.tenant), limits.reserve) {
            return Err(Refusal::Reserve);
        }
        Ok(())
    }

    /// Counts a call that started.
    pub fn add(&mut self, key: CallKey, c: Counted) {
        *self.tenants.entry(c.tenant).or_insert(0) += 1;
        if let Some(u) = c.user {
            *self.users.entry(u).or_insert(0) += 1;
        }
        if let Some(t) = &c.trunk {
            *self.trunks.entry(t.clone()).or_insert(0) += 1;
        }
        self.held.insert(key, c);
    }

    /// Forgets a call that ended (nothing if it was not counted).
    pub fn remove(&mut self, key: CallKey) {
        let Some(c) = self.held.remove(&key) else { return };
        fn dec<K: std::hash::Hash + Eq>(m: &mut HashMap<K, u32>, k: K) {
            if let Some(n) = m.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&k);
                }
            }
        }
        dec(&mut self.tenants, c.tenant);
        if let Some(u) = c.user {
            dec(&mut self.users, u);
        }
        if let Some(t) = c.trunk {
            dec(&mut self.trunks, t);
        }
    }

    /// Calls counted now.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// True when no call is counted.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_user_tenant_trunk_and_the_reserve() {
        let limits = CallLimits { per_user: 2, per_tenant: 3, per_trunk: 2, reserve: 2 };
        let mut c = CallCounts::default();
        let call = |tenant, user, trunk: Option<&str>| Counted { tenant, user, trunk: trunk.map(str::to_string) };
        c.add(1, call(1, Some(10), None));
        c.add(2, call(1, Some(10), None));
        assert_eq!(c.admit(&limits, &call(1, Some(10), None), 100), Err(Refusal::User));
        assert_eq!(c.admit(&limits, &call(1, Some(11), None), 100), Ok(()));
        c.add(3, call(1, None, Some("t")));
        assert_eq!(c.admit(&limits, &call(1, None, None), 100), Err(Refusal::Tenant));
        c.add(4, call(2, None, Some("t")));
        assert_eq!(c.admit(&limits, &call(3, None, Some("t")), 100), Err(Refusal::Trunk));
        // Two sessions left: tenant 1 (3 calls) must leave them to tenant 3 (none).
        let loose = CallLimits { per_tenant: 0, ..limits };
        assert_eq!(c.admit(&loose, &call(1, Some(12), None), 2), Err(Refusal::Reserve));
        assert_eq!(c.admit(&loose, &call(3, None, None), 2), Ok(()));
        for k in 1..=4 {
            c.remove(k);
        }
        assert!(c.is_empty());
        assert_eq!(c.admit(&limits, &call(1, Some(10), Some("t")), 100), Ok(()));
    }
}
