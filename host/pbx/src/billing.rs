//! Prepaid billing as the CLI and the API manage it: the operator's prices, top-ups and
//! corrections, a company's balance with its history and low-balance warning. The call
//! engine charges calls (`engine::billing`); this layer only reads and changes the store.

use pbx_store::{BalanceEntry, NewTariff, Store, StoreError, Tariff, Tenant};
use serde::Serialize;

/// Entries of the balance history shown at a time.
pub const HISTORY_PAGE: i64 = 50;

/// A company's money as its cabinet shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BalanceView {
    /// The balance, in hundredths.
    pub balance_cents: i64,
    /// Below this the company is warned (0: never).
    pub low_balance_cents: i64,
    /// Whether the balance is below the threshold (or spent): outbound calls stop at zero.
    pub low: bool,
    /// Changes, newest first (a page of [`HISTORY_PAGE`]).
    pub history: Vec<BalanceEntry>,
    /// The prices that apply to the company, by prefix.
    pub tariffs: Vec<Tariff>,
}

/// Reads an amount typed by a person (`100`, `99.50`, `-5`).
pub fn parse_money(s: &str) -> Result<i64, StoreError> {
    pbx_store::parse_amount(s).ok_or_else(|| StoreError::Invalid(format!("invalid amount {s:?}: use a number such as 100 or 99.50")))
}

/// Whether a company's balance calls for the warning.
pub fn is_low(t: &Tenant) -> bool {
    t.balance_cents <= 0 || (t.low_balance_cents > 0 && t.balance_cents < t.low_balance_cents)
}

/// A company's balance, the threshold, a page of history before `before` and its prices.
pub async fn balance_view(store: &Store, t: &Tenant, before: Option<i64>) -> Result<BalanceView, StoreError> {
    Ok(BalanceView {
        balance_cents: t.balance_cents,
        low_balance_cents: t.low_balance_cents,
        low: is_low(t),
        history: store.balance_history(t.id, before, HISTORY_PAGE).await?,
        tariffs: store.tariffs_for(t.id).await?,
    })
}

/// Adds a price: for every company, or for one (`company`: its slug); the price per minute
/// as typed (`1.50`).
pub async fn add_tariff(
    store: &Store,
    company: Option<&str>,
    prefix: &str,
    name: &str,
    per_minute: &str,
    step_seconds: i64,
) -> Result<Tariff, StoreError> {
    let per_minute_cents = parse_money(per_minute)?;
    let tenant_id = match company.filter(|c| !c.is_empty()) {
        Some(slug) => Some(store.tenant_by_slug(slug).await?.id),
        None => None,
    };
    let prefix = prefix.trim().trim_start_matches('+');
    store.add_tariff(&NewTariff { tenant_id, prefix, name, per_minute_cents, step_seconds }).await
}

/// Adds money to a company's balance (negative: a correction).
pub async fn top_up(store: &Store, slug: &str, amount: &str, note: &str, actor: &str) -> Result<Tenant, StoreError> {
    store.top_up(slug, parse_money(amount)?, note, actor).await
}

/// Sets a company's balance outright.
pub async fn set_balance(store: &Store, slug: &str, amount: &str, actor: &str) -> Result<Tenant, StoreError> {
    store.set_tenant_balance(slug, parse_money(amount)?, actor).await
}

/// Sets the low-balance threshold (`0`: no warning).
pub async fn set_low_balance(store: &Store, slug: &str, amount: &str) -> Result<Tenant, StoreError> {
    store.set_low_balance(slug, parse_money(amount)?).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn low_means_below_the_threshold_or_spent() {
        let mut t = crate::engine::sim::office_tenant();
        t.low_balance_cents = 1000;
        t.balance_cents = 999;
        assert!(super::is_low(&t));
        t.balance_cents = 1000;
        assert!(!super::is_low(&t));
        t.low_balance_cents = 0;
        t.balance_cents = 0;
        assert!(super::is_low(&t));
        t.balance_cents = 1;
        assert!(!super::is_low(&t));
    }
}
