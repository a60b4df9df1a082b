//! Prepaid billing: the operator's prices for outbound calls by number prefix, every change
//! of a company's balance with the balance after it (top-ups, corrections, call charges), and
//! the low-balance threshold. The call engine charges a call as it ends, in the same
//! transaction as its call-log row ([`crate::CallOp::Charge`]).

use crate::{Store, StoreError, Tenant, now_ms};
use serde::Serialize;
use sqlx::Row;

/// Longest prefix (E.164 digits without `+`).
const MAX_PREFIX: usize = 15;
/// Longest destination name.
const MAX_NAME: usize = 100;
/// Highest price per minute (10,000.00), so a typo cannot empty a balance in one call.
const MAX_PER_MINUTE: i64 = 1_000_000;
/// Largest single top-up or correction (100,000,000.00).
const MAX_AMOUNT: i64 = 10_000_000_000;

/// A price for calls to numbers starting with a prefix.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Tariff {
    /// Database id.
    pub id: i64,
    /// The company it is for (none: every company without a price of its own).
    pub tenant_id: Option<i64>,
    /// Leading digits of the E.164 number without `+` (`7495`); empty: every other number.
    pub prefix: String,
    /// Destination, as shown in prices and charges (`Moscow`).
    pub name: String,
    /// Price of a minute, in hundredths.
    pub per_minute_cents: i64,
    /// Billing step in seconds: a call is charged in whole steps (60: per started minute).
    pub step_seconds: i64,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
}

/// A price to add.
#[derive(Debug, Clone)]
pub struct NewTariff<'a> {
    /// See [`Tariff::tenant_id`].
    pub tenant_id: Option<i64>,
    /// See [`Tariff::prefix`].
    pub prefix: &'a str,
    /// See [`Tariff::name`].
    pub name: &'a str,
    /// See [`Tariff::per_minute_cents`].
    pub per_minute_cents: i64,
    /// See [`Tariff::step_seconds`].
    pub step_seconds: i64,
}

/// One change of a balance.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BalanceEntry {
    /// Database id (newer entries have larger ones).
    pub id: i64,
    /// When, ms since the epoch.
    pub at: i64,
    /// `call` (a charge), `top-up`, `correction` (a negative top-up) or `set` (the operator
    /// set the balance outright).
    pub kind: String,
    /// The change, in hundredths (negative: money taken).
    pub amount_cents: i64,
    /// The balance after it.
    pub balance_cents: i64,
    /// The call charged, for `call`.
    pub call_id: Option<String>,
    /// What for: the destination and length of a call, or the operator's note.
    pub detail: String,
    /// Who: the operator's login, `cli`, or `system` for calls.
    pub actor: String,
}

/// A call's charge, written with its call-log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// Company charged.
    pub tenant_id: i64,
    /// Call.
    pub call_id: String,
    /// Amount, in hundredths (positive).
    pub amount_cents: i64,
    /// When, ms.
    pub at: i64,
    /// Destination, number and billed length.
    pub detail: String,
}

/// Checks a price before it is stored.
pub fn check_tariff(t: &NewTariff<'_>) -> Result<(), StoreError> {
    if t.prefix.len() > MAX_PREFIX || !t.prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::Invalid(format!("prefix must be up to {MAX_PREFIX} digits of the international number, without +")));
    }
    if t.name.trim().is_empty() || t.name.chars().count() > MAX_NAME || t.name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!("destination name must be 1 to {MAX_NAME} printable characters")));
    }
    if !(0..=MAX_PER_MINUTE).contains(&t.per_minute_cents) {
        return Err(StoreError::Invalid("price per minute must be between 0 and 10000.00".into()));
    }
    if !(1..=60).contains(&t.step_seconds) {
        return Err(StoreError::Invalid("billing step must be 1 to 60 seconds".into()));
    }
    Ok(())
}

/// What a call of `talk_seconds` costs at a price: whole steps, rounded up to a hundredth.
pub fn call_cost(per_minute_cents: i64, step_seconds: i64, talk_seconds: i64) -> i64 {
    if talk_seconds <= 0 || per_minute_cents <= 0 {
        return 0;
    }
    let step = step_seconds.max(1);
    let billed = (talk_seconds + step - 1) / step * step;
    (billed.saturating_mul(per_minute_cents) + 59) / 60
}

/// The price of a call from a company to an E.164 number: the longest matching prefix, the
/// company's own price before the one for everyone at the same length.
pub fn best_tariff<'a>(tariffs: &'a [Tariff], tenant_id: i64, number: &str) -> Option<&'a Tariff> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    tariffs
        .iter()
        .filter(|t| t.tenant_id.is_none_or(|id| id == tenant_id) && digits.starts_with(t.prefix.as_str()))
        .max_by_key(|t| (t.prefix.len(), t.tenant_id.is_some()))
}

fn tariff_from(r: &sqlx::any::AnyRow) -> Result<Tariff, sqlx::Error> {
    let tenant: i64 = r.try_get("tenant_id")?;
    Ok(Tariff {
        id: r.try_get("id")?,
        tenant_id: (tenant != 0).then_some(tenant),
        prefix: r.try_get("prefix")?,
        name: r.try_get("name")?,
        per_minute_cents: r.try_get("per_minute_cents")?,
        step_seconds: r.try_get("step_seconds")?,
        created_at: r.try_get("created_at")?,
    })
}

const TARIFF_COLS: &str = "id, tenant_id, prefix, name, per_minute_cents, step_seconds, created_at";

impl Store {
    /// Every price (the operator's list; the call engine's snapshot).
    pub async fn list_tariffs(&self) -> Result<Vec<Tariff>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {TARIFF_COLS} FROM tariffs ORDER BY tenant_id, prefix")).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(tariff_from).collect::<Result<_, _>>()?)
    }

    /// The prices that apply to one company: its own and those for everyone.
    pub async fn tariffs_for(&self, tenant_id: i64) -> Result<Vec<Tariff>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {TARIFF_COLS} FROM tariffs WHERE tenant_id = 0 OR tenant_id = $1 ORDER BY prefix, tenant_id"))
                .bind(tenant_id)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.iter().map(tariff_from).collect::<Result<_, _>>()?)
    }

    /// Adds a price; a second price for the same prefix and company is a conflict.
    pub async fn add_tariff(&self, t: &NewTariff<'_>) -> Result<Tariff, StoreError> {
        check_tariff(t)?;
        let scope = t.tenant_id.unwrap_or(0);
        let row = sqlx::query(&format!(
            "INSERT INTO tariffs (tenant_id, prefix, name, per_minute_cents, step_seconds, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TARIFF_COLS}"
        ))
        .bind(scope)
        .bind(t.prefix)
        .bind(t.name.trim())
        .bind(t.per_minute_cents)
        .bind(t.step_seconds)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await
        .map_err(|e| StoreError::conflict_or(e, &format!("a price for prefix {:?} there", t.prefix)))?;
        self.bump_config_version().await?;
        Ok(tariff_from(&row)?)
    }

    /// Removes a price.
    pub async fn delete_tariff(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM tariffs WHERE id = $1").bind(id).execute(self.pool()).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("price #{id}")));
        }
        self.bump_config_version().await
    }

    /// Adds money to a company's balance (a negative amount is a correction), with a note.
    pub async fn top_up(&self, slug: &str, amount_cents: i64, detail: &str, actor: &str) -> Result<Tenant, StoreError> {
        if amount_cents == 0 || amount_cents.abs() > MAX_AMOUNT {
            return Err(StoreError::Invalid("amount must be non-zero and at most 100000000.00".into()));
        }
        let detail = check_note(detail)?;
        let t = self.tenant_by_slug(slug).await?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("UPDATE tenants SET balance_cents = balance_cents + $1 WHERE id = $2 RETURNING balance_cents")
            .bind(amount_cents)
            .bind(t.id)
            .fetch_one(&mut *tx)
            .await?;
        let after: i64 = row.try_get("balance_cents")?;
        let kind = if amount_cents > 0 { "top-up" } else { "correction" };
        insert_entry(&mut tx, t.id, kind, amount_cents, after, None, &detail, actor).await?;
        tx.commit().await?;
        self.bump_config_version().await?;
        self.tenant_by_slug(slug).await
    }

    /// Sets a company's balance outright (the history keeps the difference).
    pub async fn set_tenant_balance(&self, slug: &str, cents: i64, actor: &str) -> Result<Tenant, StoreError> {
        let t = self.tenant_by_slug(slug).await?;
        let mut tx = self.begin_write().await?;
        let before: i64 =
            sqlx::query("SELECT balance_cents FROM tenants WHERE id = $1").bind(t.id).fetch_one(&mut *tx).await?.try_get(0)?;
        sqlx::query("UPDATE tenants SET balance_cents = $1 WHERE id = $2").bind(cents).bind(t.id).execute(&mut *tx).await?;
        insert_entry(&mut tx, t.id, "set", cents.saturating_sub(before), cents, None, "", actor).await?;
        tx.commit().await?;
        self.bump_config_version().await?;
        self.tenant_by_slug(slug).await
    }

    /// Sets the balance below which a company is warned (0: never).
    pub async fn set_low_balance(&self, slug: &str, cents: i64) -> Result<Tenant, StoreError> {
        if !(0..=MAX_AMOUNT).contains(&cents) {
            return Err(StoreError::Invalid("warning threshold must be between 0 and 100000000.00".into()));
        }
        let t = self.tenant_by_slug(slug).await?;
        sqlx::query("UPDATE tenants SET low_balance_cents = $1 WHERE id = $2").bind(cents).bind(t.id).execute(self.pool()).await?;
        self.bump_config_version().await?;
        self.tenant_by_slug(slug).await
    }

    /// A company's balance changes, newest first, before id `before`.
    pub async fn balance_history(&self, tenant_id: i64, before: Option<i64>, limit: i64) -> Result<Vec<BalanceEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, kind, amount_cents, balance_cents, call_id, detail, actor FROM balance_history \
             WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(BalanceEntry {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                kind: r.try_get("kind")?,
                amount_cents: r.try_get("amount_cents")?,
                balance_cents: r.try_get("balance_cents")?,
                call_id: r.try_get("call_id")?,
                detail: r.try_get("detail")?,
                actor: r.try_get("actor")?,
            });
        }
        Ok(out)
    }
}

/// Checks an operator's note: up to 200 printable characters.
fn check_note(detail: &str) -> Result<String, StoreError> {
    let d = detail.trim();
    if d.chars().count() > 200 || d.chars().any(char::is_control) {
        return Err(StoreError::Invalid("note must be up to 200 printable characters".into()));
    }
    Ok(d.to_string())
}

#[allow(clippy::too_many_arguments)]
async fn insert_entry(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant_id: i64,
    kind: &str,
    amount: i64,
    after: i64,
    call_id: Option<&str>,
    detail: &str,
    actor: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO balance_history (tenant_id, at, kind, amount_cents, balance_cents, call_id, detail, actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tenant_id)
    .bind(now_ms())
    .bind(kind)
    .bind(amount)
    .bind(after)
    .bind(call_id)
    .bind(detail)
    .bind(actor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Takes a call's charge from its company's balance and adds it to the running total the
/// call engine counts from, in the call log's transaction.
pub(crate) async fn apply_charge(tx: &mut sqlx::Transaction<'static, sqlx::Any>, c: &Charge) -> Result<(), StoreError> {
    let row = sqlx::query(
        "UPDATE tenants SET balance_cents = balance_cents - $1, charged_cents = charged_cents + $1 WHERE id = $2 RETURNING balance_cents",
    )
    .bind(c.amount_cents)
    .bind(c.tenant_id)
    .fetch_optional(&mut **tx)
    .await?;
    // A company deleted while the call was live has nothing left to charge.
    let Some(row) = row else { return Ok(()) };
    let after: i64 = row.try_get("balance_cents")?;
    insert_entry(tx, c.tenant_id, "call", -c.amount_cents, after, Some(&c.call_id), &c.detail, "system").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tariff(tenant_id: Option<i64>, prefix: &str, per_minute_cents: i64) -> Tariff {
        Tariff { id: 0, tenant_id, prefix: prefix.into(), name: prefix.into(), per_minute_cents, step_seconds: 60, created_at: 0 }
    }

    #[test]
    fn cost_counts_whole_steps_and_rounds_up() {
        assert_eq!(call_cost(150, 60, 0), 0);
        assert_eq!(call_cost(150, 60, 1), 150);
        assert_eq!(call_cost(150, 60, 61), 300);
        assert_eq!(call_cost(150, 1, 61), 153);
        // 7 s at 1.00 a minute per second: 11.67 hundredths, rounded up.
        assert_eq!(call_cost(100, 1, 7), 12);
        assert_eq!(call_cost(0, 60, 600), 0);
    }

    #[test]
    fn the_longest_prefix_wins_and_a_company_price_beats_the_common_one() {
        let list = vec![tariff(None, "", 500), tariff(None, "7", 200), tariff(None, "7495", 100), tariff(Some(2), "7495", 50)];
        assert_eq!(best_tariff(&list, 1, "+74951234567").map(|t| t.per_minute_cents), Some(100));
        assert_eq!(best_tariff(&list, 2, "+74951234567").map(|t| t.per_minute_cents), Some(50));
        assert_eq!(best_tariff(&list, 1, "+78121234567").map(|t| t.per_minute_cents), Some(200));
        assert_eq!(best_tariff(&list, 1, "+4930123").map(|t| t.per_minute_cents), Some(500));
        assert_eq!(best_tariff(&list[1..], 1, "+4930123"), None);
    }

    #[test]
    fn bad_prices_are_refused_with_the_field_named() {
        let ok = NewTariff { tenant_id: None, prefix: "7", name: "Russia", per_minute_cents: 100, step_seconds: 60 };
        assert!(check_tariff(&ok).is_ok());
        for (bad, word) in [
            (NewTariff { prefix: "+7", ..ok.clone() }, "prefix"),
            (NewTariff { name: " ", ..ok.clone() }, "name"),
            (NewTariff { per_minute_cents: -1, ..ok.clone() }, "price"),
            (NewTariff { step_seconds: 0, ..ok.clone() }, "step"),
        ] {
            let e = check_tariff(&bad).unwrap_err().to_string();
            assert!(e.contains(word), "{e}");
        }
    }
}
