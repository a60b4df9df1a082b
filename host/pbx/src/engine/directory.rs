//! An in-memory snapshot of tenants and users, rebuilt whenever the stored configuration
//! changes, so that authenticating a REGISTER or routing an INVITE never waits for the
//! database.

use pbx_sip::digest::Algorithm;
use pbx_store::{Tenant, TenantStatus, User};
use std::collections::HashMap;
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
}

impl Directory {
    /// Builds the snapshot from stored rows.
    pub fn build(tenants: &[Tenant], users: &[User]) -> Directory {
        let mut d = Directory::default();
        for t in tenants {
            let info = Arc::new(TenantInfo {
                id: t.id,
                slug: t.slug.clone(),
                domain: t.domain.clone(),
                suspended: t.status == TenantStatus::Suspended,
                balance_cents: t.balance_cents,
            });
            d.tenants_by_domain.insert(t.domain.to_ascii_lowercase(), info.clone());
            d.tenants_by_id.insert(t.id, info);
        }
        for u in users {
            let Some(t) = d.tenants_by_id.get(&u.tenant_id) else { continue };
            let info = Arc::new(UserInfo {
                id: u.id,
                tenant_id: u.tenant_id,
                ext: u.ext.clone(),
                name: u.name.clone(),
                ha1_md5: Algorithm::Md5.ha1(&u.ext, &t.domain, &u.sip_password),
                ha1_sha256: Algorithm::Sha256.ha1(&u.ext, &t.domain, &u.sip_password),
            });
            d.users.insert((u.tenant_id, u.ext.clone()), info.clone());
            d.users_by_id.insert(u.id, info);
        }
        d
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
