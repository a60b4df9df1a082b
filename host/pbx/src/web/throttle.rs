//! Slows down password guessing in the cabinet without letting anyone lock another person
//! out. Three counters, each with a few free failures and then a delay that doubles with
//! every further failure (capped):
//! - per account *from one address*: the guesser is slowed, the account's owner elsewhere is not;
//! - per address, over all accounts: one host trying many accounts is slowed;
//! - per account, over all addresses (a distributed guess): a short cap, and a browser that
//!   signed in to that account before (its device cookie) skips this one.
//!
//! An attempt is counted as a failure *before* the password is checked, so a parallel burst
//! cannot have more guesses evaluated than the free ones; a success gives it back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Free failures per account from one address before delays start.
pub const FREE_PER_ACCOUNT_AND_ADDRESS: u32 = 3;
/// Free failures per address before delays start.
const FREE_PER_ADDRESS: u32 = 10;
/// Free failures per account (all addresses) before delays start.
const FREE_PER_ACCOUNT: u32 = 10;
/// Longest delay for one address.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Longest delay an account's distributed guessing can impose (on unknown browsers only).
const MAX_ACCOUNT_DELAY: Duration = Duration::from_secs(60);
/// Counters idle this long start over.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Most counters kept.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    AccountFrom(String, IpAddr),
    Address(IpAddr),
    Account(String),
}

impl Key {
    fn rule(&self) -> (u32, Duration) {
        match self {
            Key::AccountFrom(..) => (FREE_PER_ACCOUNT_AND_ADDRESS, MAX_DELAY),
            Key::Address(_) => (FREE_PER_ADDRESS, MAX_DELAY),
            Key::Account(_) => (FREE_PER_ACCOUNT, MAX_ACCOUNT_DELAY),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    next_allowed: Instant,
}

/// A login attempt that passed the throttle; report how it went.
#[derive(Debug)]
pub struct Attempt {
    keys: Vec<Key>,
}

/// The cabinet's login throttle.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<Key, Entry>>,
}

/// The unit an address is counted by: itself for IPv4, its /64 for IPv6 (one host has a
/// whole /64 to pick addresses from).
fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

fn delay(failures: u32, free: u32, cap: Duration) -> Duration {
    if failures <= free {
        return Duration::ZERO;
    }
    let exp = (failures - free - 1).min(20);
    Duration::from_secs(2u64 << exp).min(cap)
}

impl LoginThrottle {
    /// Lets an attempt at `account` from `ip` through, or says how long to wait. A known
    /// browser (`known_device`) is not held back by other addresses' failures.
    pub fn admit(&self, account: &str, ip: IpAddr, known_device: bool, now: Instant) -> Result<Attempt, Duration> {
        let account = account.trim().to_lowercase();
        let ip = network_of(ip);
        let mut keys = vec![Key::AccountFrom(account.clone(), ip), Key::Address(ip)];
        if !known_device {
            keys.push(Key::Account(account));
        }
        let Ok(mut map) = self.entries.lock() else { return Err(Duration::from_secs(1)) };
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| now.duration_since(e.last) < FORGET_AFTER);
            if map.len() >= MAX_ENTRIES {
                // Forget the counters idle longest (never all at once: clearing would hand a
                // flood of new addresses a fresh start for everyone).
                let mut lasts: Vec<Instant> = map.values().map(|e| e.last).collect();
                lasts.sort_unstable();
                let cut = lasts.get(lasts.len() / 2).copied().unwrap_or(now);
                map.retain(|_, e| e.last > cut);
            }
        }
        let mut wait = Duration::ZERO;
        for k in &keys {
            if let Some(e) = map.get_mut(k) {
                if now.duration_since(e.last) >= FORGET_AFTER {
                    *e = Entry { failures: 0, last: now, next_allowed: now };
                }
                wait = wait.max(e.next_allowed.saturating_duration_since(now));
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for k in &keys {
            let (free, cap) = k.rule();
            let e = map.entry(k.clone()).or_insert(Entry { failures: 0, last: now, next_allowed: now });
            e.failures += 1;
            e.last = now;
            e.next_allowed = now + delay(e.failures, free, cap);
        }
        Ok(Attempt { keys })
    }

    /// The attempt succeeded: the account's counters start over and the address gets its
    /// failure back.
    pub fn succeeded(&self, a: Attempt, now: Instant) {
        let Ok(mut map) = self.entries.lock() else { return };
        for k in a.keys {
            match k {
                Key::Address(_) => {
                    if let Some(e) = map.get_mut(&k) {
                        e.failures = e.failures.saturating_sub(1);
                        let (free, cap) = k.rule();
                        e.next_allowed = e.last + delay(e.failures, free, cap);
                        e.next_allowed = e.next_allowed.max(now.min(e.next_allowed));
                    }
                }
                _ => {
                    map.remove(&k);
                }
            }
        }
    }

    /// The attempt failed: its delays count from now, when the failing answer goes out (a
    /// slow password check must not use up the wait before the guesser even hears back).
    pub fn failed(&self, a: Attempt, now: Instant) {
        let Ok(mut map) = self.entries.lock() else { return };
        for k in a.keys {
            let (free, cap) = k.rule();
            if let Some(e) = map.get_mut(&k) {
                e.next_allowed = e.next_allowed.max(now + delay(e.failures, free, cap));
            }
        }
    }

    /// Free attempts left for `account` from `ip` before answers are delayed.
    pub fn remaining(&self, account: &str, ip: IpAddr) -> u32 {
        let key = Key::AccountFrom(account.trim().to_lowercase(), network_of(ip));
        let used = self.entries.lock().ok().and_then(|m| m.get(&key).map(|e| e.failures)).unwrap_or(0);
        FREE_PER_ACCOUNT_AND_ADDRESS.saturating_sub(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_guesser_is_slowed_and_the_owner_elsewhere_is_not() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let attacker = ip("192.0.2.66");
        for _ in 0..FREE_PER_ACCOUNT_AND_ADDRESS {
            assert!(t.admit("admin", attacker, false, now).is_ok());
        }
        // The first attempt beyond the free ones is already spaced out.
        assert!(t.admit("admin", attacker, false, now).is_ok());
        let wait = t.admit("admin", attacker, false, now).unwrap_err();
        assert!(wait >= Duration::from_secs(1));
        // The owner, from their own address, signs in at once.
        let a = t.admit("admin", ip("198.51.100.7"), false, now).expect("not locked out");
        t.succeeded(a, now);
    }

    #[test]
    fn a_parallel_burst_gets_only_the_free_guesses() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let passed = (0..30).filter(|_| t.admit("101@acme", ip("192.0.2.1"), false, now).is_ok()).count();
        assert_eq!(passed as u32, FREE_PER_ACCOUNT_AND_ADDRESS + 1);
    }

    #[test]
    fn the_wait_counts_from_the_failing_answer() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let attacker = ip("192.0.2.66");
        for _ in 0..FREE_PER_ACCOUNT_AND_ADDRESS {
            let a = t.admit("admin", attacker, false, now).unwrap();
            t.failed(a, now);
        }
        let a = t.admit("admin", attacker, false, now).unwrap();
        // The password check took 5 s; the 2 s wait starts when the answer goes out.
        let answered = now + Duration::from_secs(5);
        t.failed(a, answered);
        let wait = t.admit("admin", attacker, false, answered + Duration::from_secs(1)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
    }

    #[test]
    fn delays_grow_and_are_capped() {
        assert_eq!(delay(3, 3, MAX_DELAY), Duration::ZERO);
        assert_eq!(delay(4, 3, MAX_DELAY), Duration::from_secs(2));
        assert_eq!(delay(6, 3, MAX_DELAY), Duration::from_secs(8));
        assert_eq!(delay(40, 3, MAX_DELAY), MAX_DELAY);
        assert_eq!(delay(40, 10, MAX_ACCOUNT_DELAY), MAX_ACCOUNT_DELAY);
    }

    #[test]
    fn a_distributed_guess_cannot_keep_a_known_browser_out() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..50u8 {
            let _ = t.admit("boss@acme", ip(&format!("203.0.113.{i}")), false, now);
        }
        assert!(t.admit("boss@acme", ip("198.51.100.7"), false, now).is_err(), "unknown browsers wait");
        assert!(t.admit("boss@acme", ip("198.51.100.7"), true, now).is_ok(), "the owner's browser does not");
        let later = now + MAX_ACCOUNT_DELAY + Duration::from_secs(1);
        assert!(t.admit("boss@acme", ip("198.51.100.8"), false, later).is_ok(), "and the account wait is short");
    }
}
