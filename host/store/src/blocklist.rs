//! Blacklists: numbers and prefixes a company refuses (and whether it refuses anonymous
//! callers, and how: busy or a message), and each employee's own list of numbers whose calls
//! do not ring them.
//!
//! Exact numbers are stored in E.164 (normalised with the tenant's country code); prefixes
//! are written in international form (`+7495`), since a national prefix is ambiguous.

use crate::{Store, StoreError, now_ms, numbers};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// Most entries one list may hold (the engine keeps every list in memory).
pub const MAX_ENTRIES: i64 = 10_000;

/// One refused number or prefix.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BlockedNumber {
    /// The E.164 number, or the prefix (`+` and digits).
    pub pattern: String,
    /// A prefix: every number that starts with it.
    pub prefix: bool,
    /// Why it is there.
    pub note: String,
    /// When it was added, ms since the epoch.
    pub created_at: i64,
}

/// How a company refuses blocked callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BlockAction {
    /// `486 Busy Here`: the caller hears a busy tone.
    #[default]
    Busy,
    /// The caller hears the "not available" message, then the call ends.
    Prompt,
}

impl BlockAction {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockAction::Busy => "busy",
            BlockAction::Prompt => "prompt",
        }
    }

    fn parse(s: &str) -> BlockAction {
        if s == "prompt" { BlockAction::Prompt } else { BlockAction::Busy }
    }
}

/// A company's settings for blocked callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockSettings {
    /// Refuse callers who hide their number.
    pub anonymous: bool,
    /// How blocked callers are refused.
    pub action: BlockAction,
}

/// Every list of every tenant, for the call engine: (tenant, user id or 0 for the company,
/// pattern, prefix).
pub type BlockRow = (i64, i64, String, bool);

/// Checks an entry as a person wrote it: an exact number is normalised to E.164, a prefix
/// must be `+` and 1 to 15 digits.
pub fn check_pattern(raw: &str, prefix: bool, country_code: &str) -> Result<String, StoreError> {
    let cleaned: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
    if prefix {
        let digits = cleaned.strip_prefix('+').unwrap_or_default();
        if !(1..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::Invalid(format!("invalid prefix {raw:?}: + and the country code, e.g. +7495")));
        }
        return Ok(cleaned);
    }
    numbers::normalize(&cleaned, country_code).ok_or_else(|| StoreError::Invalid(format!("{raw:?} is not a telephone number")))
}

impl Store {
    /// A list: the company's (`user_id` none) or one user's, numbers first then prefixes.
    pub async fn blocked_numbers(&self, tenant_id: i64, user_id: Option<i64>) -> Result<Vec<BlockedNumber>, StoreError> {
        let rows = sqlx::query(
            "SELECT pattern, prefix, note, created_at FROM blocked_numbers WHERE tenant_id = $1 AND user_id = $2 ORDER BY prefix, pattern",
        )
        .bind(tenant_id)
        .bind(user_id.unwrap_or(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BlockedNumber {
                    pattern: r.try_get("pattern")?,
                    prefix: r.try_get::<i64, _>("prefix")? != 0,
                    note: r.try_get("note")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Adds (or re-notes) an entry of a list; the pattern was checked by [`check_pattern`].
    pub async fn block_number(
        &self,
        tenant_id: i64,
        user_id: Option<i64>,
        pattern: &str,
        prefix: bool,
        note: &str,
    ) -> Result<BlockedNumber, StoreError> {
        crate::check_text("note", note, 200)?;
        let owner = user_id.unwrap_or(0);
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM blocked_numbers WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant_id)
            .bind(owner)
            .fetch_one(self.pool())
            .await?;
        if count >= MAX_ENTRIES {
            return Err(StoreError::Invalid(format!("a blacklist holds at most {MAX_ENTRIES} entries")));
        }
        let created_at = now_ms();
        sqlx::query(
            "INSERT INTO blocked_numbers (tenant_id, user_id, pattern, prefix, note, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, user_id, pattern) DO UPDATE SET prefix = excluded.prefix, note = excluded.note",
        )
        .bind(tenant_id)
        .bind(owner)
        .bind(pattern)
        .bind(i64::from(prefix))
        .bind(note)
        .bind(created_at)
        .execute(self.pool())
        .await?;
        self.bump_config_version().await?;
        Ok(BlockedNumber { pattern: pattern.to_string(), prefix, note: note.to_string(), created_at })
    }

    /// Removes an entry of a list.
    pub async fn unblock_number(&self, tenant_id: i64, user_id: Option<i64>, pattern: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM blocked_numbers WHERE tenant_id = $1 AND user_id = $2 AND pattern = $3")
            .bind(tenant_id)
            .bind(user_id.unwrap_or(0))
            .bind(pattern)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("blacklist entry {pattern}")));
        }
        self.bump_config_version().await
    }

    /// A company's settings for blocked callers (defaults until set).
    pub async fn block_settings(&self, tenant_id: i64) -> Result<BlockSettings, StoreError> {
        let r = sqlx::query("SELECT anonymous, action FROM block_settings WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match r {
            Some(r) => BlockSettings {
                anonymous: r.try_get::<i64, _>("anonymous")? != 0,
                action: BlockAction::parse(&r.try_get::<String, _>("action")?),
            },
            None => BlockSettings::default(),
        })
    }

    /// Sets a company's settings for blocked callers.
    pub async fn set_block_settings(&self, tenant_id: i64, s: &BlockSettings) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO block_settings (tenant_id, anonymous, action) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET anonymous = excluded.anonymous, action = excluded.action",
        )
        .bind(tenant_id)
        .bind(i64::from(s.anonymous))
        .bind(s.action.as_str())
        .execute(self.pool())
        .await?;
        self.bump_config_version().await
    }

    /// Every entry of every list, for the call engine.
    pub async fn all_blocked(&self) -> Result<Vec<BlockRow>, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, user_id, pattern, prefix FROM blocked_numbers").fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("tenant_id")?, r.try_get("user_id")?, r.try_get("pattern")?, r.try_get::<i64, _>("prefix")? != 0)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Every company's settings that differ from the defaults, for the call engine.
    pub async fn all_block_settings(&self) -> Result<Vec<(i64, BlockSettings)>, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, anonymous, action FROM block_settings").fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("tenant_id")?,
                    BlockSettings {
                        anonymous: r.try_get::<i64, _>("anonymous")? != 0,
                        action: BlockAction::parse(&r.try_get::<String, _>("action")?),
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Turns a user's "do not disturb" on or off: their phones stop ringing (busy
    /// forwarding applies), groups and queues skip them.
    pub async fn set_dnd(&self, tenant_id: i64, ext: &str, on: bool) -> Result<(), StoreError> {
        let user = self.user_by_ext(tenant_id, ext).await?;
        sqlx::query("UPDATE users SET dnd = $1 WHERE id = $2").bind(i64::from(on)).bind(user.id).execute(self.pool()).await?;
        self.bump_config_version().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_normalised_or_refused() {
        assert_eq!(check_pattern("8 (495) 123-45-67", false, "7").unwrap(), "+74951234567");
        assert_eq!(check_pattern("+7 495", true, "7").unwrap(), "+7495");
        assert!(check_pattern("8495", true, "7").is_err(), "a national prefix is ambiguous");
        assert!(check_pattern("+", true, "7").is_err());
        assert!(check_pattern("+74x", true, "7").is_err());
        assert!(check_pattern("hello", false, "7").is_err());
    }
}
