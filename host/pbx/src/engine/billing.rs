//! Prepaid billing in the call engine: an answered outbound call is priced by the operator's
//! tariff for its number; its company's live priced calls share what is left of the balance,
//! and when together they have spent it, they are ended; each call is charged as it ends,
//! in whole billing steps, with its call-log row.
//!
//! The balance seen here is the directory snapshot's, less what this engine charged since
//! (the snapshot carries the running total charged it was read at), so a call charged a
//! moment ago counts before the store's write is back in a snapshot.

use super::call::{CallKey, HangupBy};
use super::directory::TenantInfo;
use super::timers::TimerId;
use super::{Action, Engine, EngineTimer, Now};
use pbx_store::{CallOp, Charge};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What the cabinet and the call log show as the cause when the money ran out.
pub(super) const BALANCE_CAUSE: &str = "balance exhausted";

/// The longest a priced call is allowed without a look at the balance again (a snapshot
/// brings one; this bounds the timer).
const MAX_HORIZON: Duration = Duration::from_secs(24 * 3600);

/// The price an answered call runs at.
#[derive(Debug, Clone)]
pub(super) struct Priced {
    tenant_id: i64,
    per_minute_cents: i64,
    step_seconds: i64,
    destination: String,
    /// The number called, as it was when the call was answered (a transfer may change the
    /// call's other party later).
    number: String,
    answered: Instant,
}

/// A company's live priced calls and what this engine has charged it.
#[derive(Debug, Default)]
struct Account {
    /// The running total charged as this engine counts it (the store's, plus charges not
    /// yet in a snapshot).
    charged: i64,
    /// Live priced calls.
    live: Vec<CallKey>,
    /// When they will have spent the balance.
    timer: Option<TimerId>,
}

/// The billing state of the engine.
#[derive(Debug, Default)]
pub(super) struct Billing {
    priced: HashMap<CallKey, Priced>,
    accounts: HashMap<i64, Account>,
}

impl Engine {
    /// A company's balance now: the snapshot's, less what this engine charged since.
    pub(super) fn balance_now(&self, tenant: &TenantInfo) -> i64 {
        let latest = self.dir.tenant(tenant.id).map(|t| (t.balance_cents, t.charged_cents));
        let (balance, charged) = latest.unwrap_or((tenant.balance_cents, tenant.charged_cents));
        let in_flight = self.billing.accounts.get(&tenant.id).map(|a| (a.charged - charged).max(0)).unwrap_or(0);
        balance.saturating_sub(in_flight)
    }

    /// An outbound call was answered: price it, and end the company's priced calls when
    /// together they have spent the balance.
    pub(super) fn billing_answered(&mut self, key: CallKey, now: Now) {
        let Some(call) = self.calls.get(&key) else { return };
        if call.direction != pbx_store::Direction::Outbound || self.billing.priced.contains_key(&key) {
            return;
        }
        let tenant = call.tenant.clone();
        let number = call.callee.number.clone();
        // Emergency numbers are free and never cut.
        if tenant.emergency_numbers.contains(&number) {
            return;
        }
        let Some(t) = self.dir.tariff(tenant.id, &number) else { return };
        if t.per_minute_cents <= 0 {
            return;
        }
        let priced = Priced {
            tenant_id: tenant.id,
            per_minute_cents: t.per_minute_cents,
            step_seconds: t.step_seconds,
            destination: t.name.clone(),
            number: number.clone(),
            answered: now.mono,
        };
        tracing::info!(per_minute_cents = t.per_minute_cents, step = t.step_seconds, destination = %t.name, "priced");
        self.billing.priced.insert(key, priced);
        self.billing.accounts.entry(tenant.id).or_default().live.push(key);
        self.rebill(tenant.id, now);
    }

    /// A call ended: charge it (if priced) with its call-log row, and give the company's
    /// other calls the rest.
    pub(super) fn billing_ended(&mut self, key: CallKey, uid: &str, talk_seconds: i64, now: Now) {
        let Some(p) = self.billing.priced.remove(&key) else { return };
        let amount = pbx_store::billing::call_cost(p.per_minute_cents, p.step_seconds, talk_seconds);
        let snapshot_charged = self.dir.tenant(p.tenant_id).map(|t| t.charged_cents).unwrap_or(0);
        let account = self.billing.accounts.entry(p.tenant_id).or_default();
        account.live.retain(|k| *k != key);
        if amount > 0 {
            account.charged = account.charged.max(snapshot_charged).saturating_add(amount);
            let detail = format!("{} {}, {talk_seconds} s", p.destination, p.number);
            let charge = Charge { tenant_id: p.tenant_id, call_id: uid.to_string(), amount_cents: amount, at: now.wall_ms, detail };
            tracing::info!(amount_cents = amount, talk_seconds, "charged");
            self.actions.push_back(Action::Cdr { op: CallOp::Charge(charge), ack: None });
        }
        self.rebill(p.tenant_id, now);
    }

    /// A new snapshot (a top-up, a new price): every company with priced calls gets its
    /// deadline again.
    pub(super) fn billing_reload(&mut self, now: Now) {
        let tenants: Vec<i64> = self.billing.accounts.iter().filter(|(_, a)| !a.live.is_empty()).map(|(t, _)| *t).collect();
        for t in tenants {
            self.rebill(t, now);
        }
    }

    /// Sets the moment the company's live priced calls will have spent its balance: spending
    /// is counted per second at each call's price (the charge at the end rounds up to whole
    /// steps, so the balance may end a step below zero).
    fn rebill(&mut self, tenant_id: i64, now: Now) {
        let balance = match self.dir.tenant(tenant_id).cloned() {
            Some(t) => self.balance_now(&t),
            None => 0,
        };
        let Some(account) = self.billing.accounts.get_mut(&tenant_id) else { return };
        if let Some(t) = account.timer.take() {
            self.timers.cancel(t);
        }
        if account.live.is_empty() {
            if account.charged == 0 {
                self.billing.accounts.remove(&tenant_id);
            }
            return;
        }
        let (rate, left) = money_left(&self.billing.priced, &account.live, balance, now);
        if rate == 0 {
            return;
        }
        // Rounded up, so the timer finds the money spent (and never fires again at once).
        let ms = if left <= 0 { 0 } else { ((left + rate - 1) / rate).min(MAX_HORIZON.as_millis() as i128) as u64 };
        account.timer = Some(self.timers.schedule(now.mono + Duration::from_millis(ms), EngineTimer::BalanceOut(tenant_id)));
    }

    /// The company's priced calls have spent its balance: end them (a top-up since has moved
    /// the deadline, which [`Engine::rebill`] checks first).
    pub(super) fn on_balance_out(&mut self, tenant_id: i64, now: Now) {
        if let Some(a) = self.billing.accounts.get_mut(&tenant_id) {
            a.timer = None;
        }
        let balance = self.dir.tenant(tenant_id).cloned().map(|t| self.balance_now(&t)).unwrap_or(0);
        let Some(account) = self.billing.accounts.get(&tenant_id) else { return };
        let live = account.live.clone();
        if money_left(&self.billing.priced, &live, balance, now).1 > 0 {
            // Money came in since the timer was set.
            return self.rebill(tenant_id, now);
        }
        for key in live {
            let _span = self.call_span(key).entered();
            tracing::info!("the balance is spent: ending the call");
            self.timeline(key, "balance", "the balance ran out".to_string(), now);
            self.hangup(key, HangupBy::System, BALANCE_CAUSE, now);
        }
    }
}

/// The calls' summed price per minute and what is left of `balance` now, both in
/// hundredths × milliseconds / 60,000 (exact in i128).
fn money_left(priced: &HashMap<CallKey, Priced>, live: &[CallKey], balance: i64, now: Now) -> (i128, i128) {
    let mut rate: i128 = 0;
    let mut spent: i128 = 0;
    for p in live.iter().filter_map(|k| priced.get(k)) {
        rate += i128::from(p.per_minute_cents);
        spent += i128::from(p.per_minute_cents) * now.mono.saturating_duration_since(p.answered).as_millis() as i128;
    }
    (rate, i128::from(balance) * 60_000 - spent)
}
