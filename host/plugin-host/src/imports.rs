//! The `host` interface as the PBX implements it: everything scoped to one tenant and one
//! plugin, with the grants checked here.

use crate::State;
use crate::bindings::pbx::plugin::host::Host;
use crate::bindings::pbx::plugin::types::{Contact, HttpRequest, HttpResponse, LocalTime, LogLevel, UserInfo};
use std::time::Instant;

/// Largest key and value in the key-value store.
const MAX_KEY: usize = 256;
const MAX_VALUE: usize = 64 * 1024;

impl crate::bindings::pbx::plugin::types::Host for State {}

impl Host for State {
    fn config(&mut self) -> String {
        self.ctx.config.clone()
    }

    fn log(&mut self, level: LogLevel, message: String) {
        let m: String = message.chars().take(500).collect();
        let (t, p, c) = (&self.ctx.tenant, &self.ctx.plugin, &self.ctx.call_id);
        match level {
            LogLevel::Debug => tracing::debug!(tenant = %t, plugin = %p, call = %c, "{m}"),
            LogLevel::Info => tracing::info!(tenant = %t, plugin = %p, call = %c, "{m}"),
            LogLevel::Warn => tracing::warn!(tenant = %t, plugin = %p, call = %c, "{m}"),
            LogLevel::Error => tracing::error!(tenant = %t, plugin = %p, call = %c, "{m}"),
        }
    }

    fn kv_get(&mut self, key: String) -> Option<String> {
        if !self.ctx.kv_granted || key.len() > MAX_KEY || self.wall_left().is_zero() {
            return None;
        }
        let t = Instant::now();
        let v = self.ctx.services.kv_get(&key);
        self.in_host += t.elapsed();
        v
    }

    fn kv_set(&mut self, key: String, value: String) {
        // Not cut by the wall clock: a plugin that ran out of time between a request and
        // the write that records it would otherwise answer as if the write were done.
        if !self.ctx.kv_granted || key.len() > MAX_KEY || value.len() > MAX_VALUE {
            return;
        }
        let t = Instant::now();
        self.ctx.services.kv_set(&key, &value);
        self.in_host += t.elapsed();
    }

    fn kv_delete(&mut self, key: String) {
        if !self.ctx.kv_granted || key.len() > MAX_KEY {
            return;
        }
        let t = Instant::now();
        self.ctx.services.kv_delete(&key);
        self.in_host += t.elapsed();
    }

    fn now(&mut self) -> LocalTime {
        self.ctx.now.clone()
    }

    fn directory(&mut self) -> Vec<UserInfo> {
        if self.ctx.directory_granted { self.ctx.directory.clone() } else { Vec::new() }
    }

    fn http(&mut self, request: HttpRequest) -> Result<HttpResponse, String> {
        let host = url_host(&request.url).ok_or_else(|| format!("not an http(s) URL: {}", request.url))?;
        if !self.ctx.http_hosts.iter().any(|h| host_matches(h, &host)) {
            return Err(format!("HTTP to {host} is not granted to this plugin"));
        }
        // Host time counts against the decision's wall-clock budget: a slow server cannot
        // keep the plugin (and its HTTP) going after the call has moved on.
        let budget = self.wall_left();
        if budget.is_zero() {
            return Err("the decision's time is up".into());
        }
        let t = Instant::now();
        let r = self.ctx.services.http(&request, budget);
        self.in_host += t.elapsed();
        r
    }

    fn lines(&mut self) -> Vec<String> {
        if !self.ctx.directory_granted || self.wall_left().is_zero() {
            return Vec::new();
        }
        let t = Instant::now();
        let r = self.ctx.services.lines();
        self.in_host += t.elapsed();
        r
    }

    fn contact_lookup(&mut self, number: String) -> Option<Contact> {
        if number.len() > MAX_KEY {
            return None;
        }
        self.phone_book(None, |s| s.contact_lookup(&number))
    }

    fn contact_put(&mut self, entry: Contact) -> Result<(), String> {
        if entry.number.len() > MAX_KEY || entry.name.len() > 1024 || entry.company.len() > 1024 {
            return Err("the contact's number, name or company is too long".into());
        }
        let refused = Err("the phone book is not granted to this plugin".to_string());
        self.phone_book(refused, |s| s.contact_put(&entry))
    }

    fn contact_remove(&mut self, number: String) -> bool {
        if number.len() > MAX_KEY {
            return false;
        }
        self.phone_book(false, |s| s.contact_remove(&number))
    }
}

impl State {
    /// Runs a phone-book call when granted and time is left, counting its time as the host's.
    fn phone_book<R>(&mut self, refused: R, f: impl FnOnce(&dyn crate::Services) -> R) -> R {
        if !self.ctx.contacts_granted || self.wall_left().is_zero() {
            return refused;
        }
        let t = Instant::now();
        let r = f(&*self.ctx.services);
        self.in_host += t.elapsed();
        r
    }
}

/// Whether a granted host covers `host`: the same name, or `*.example.com` for any name
/// under example.com (a CRM whose customers each have a subdomain).
pub fn host_matches(granted: &str, host: &str) -> bool {
    match granted.strip_prefix("*.") {
        // A whole top-level domain (`*.com`) is no grant.
        Some(base) if !base.contains('.') => false,
        Some(base) => {
            host.len() > base.len() + 1
                && host.get(host.len() - base.len()..).is_some_and(|tail| tail.eq_ignore_ascii_case(base))
                && host.as_bytes().get(host.len() - base.len() - 1) == Some(&b'.')
        }
        None => granted.eq_ignore_ascii_case(host),
    }
}

/// The host of an http(s) URL.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let host = if authority.starts_with('[') {
        authority.split(']').next().map(|h| format!("{h}]"))?
    } else {
        authority.split(':').next()?.to_string()
    };
    if host.is_empty() { None } else { Some(host.to_ascii_lowercase()) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_of_urls() {
        assert_eq!(super::url_host("https://acme.bitrix24.ru/rest/1/x/crm.lead.add").as_deref(), Some("acme.bitrix24.ru"));
        assert_eq!(super::url_host("http://user:pw@127.0.0.1:8080/x").as_deref(), Some("127.0.0.1"));
        assert_eq!(super::url_host("ftp://x"), None);
        assert_eq!(super::url_host("https://evil.example@good.example/"), Some("good.example".into()));
    }

    #[test]
    fn wildcard_grants_cover_subdomains_only() {
        use super::host_matches;
        assert!(host_matches("*.bitrix24.ru", "acme.bitrix24.ru") && host_matches("*.bitrix24.ru", "a.b.BITRIX24.ru"));
        assert!(!host_matches("*.bitrix24.ru", "bitrix24.ru") && !host_matches("*.bitrix24.ru", "evilbitrix24.ru"));
        assert!(!host_matches("*.bitrix24.ru", "acme.bitrix24.ru.evil.com") && !host_matches("*.com", "evil.com"));
        assert!(host_matches("crm.example", "CRM.example") && !host_matches("crm.example", "x.crm.example"));
    }
}
