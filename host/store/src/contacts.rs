//! The tenant's phone book: numbers mapped to names, so that the phones show who is calling
//! before they ring (with or without a scenario) and the call log names the other side.
//!
//! Numbers are stored in E.164 (normalised with the tenant's country code), one name per
//! number per tenant; an import replaces the names of the numbers it lists and keeps the rest.

use crate::{Store, StoreError, now_ms, numbers};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Longest name kept (characters): what fits a desk phone's display and the call log.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest company or note (characters).
pub const MAX_NOTE_CHARS: usize = 500;
/// Most contacts one tenant may keep (the engine holds them all in memory).
pub const MAX_CONTACTS_PER_TENANT: i64 = 100_000;

/// A phone-book entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Contact {
    /// Database id.
    pub id: i64,
    /// Tenant.
    pub tenant_id: i64,
    /// E.164 number.
    pub number: String,
    /// The name the phones show.
    pub name: String,
    /// Company (shown in the cabinet and exported).
    pub company: String,
    /// Free-form note.
    pub note: String,
    /// Who wrote it last: `cabinet`, `import`, `api` or `plugin:<name>`.
    pub source: String,
    /// Last change, ms since the epoch.
    pub updated_at: i64,
}

/// Input for a contact.
#[derive(Debug, Clone, Default)]
pub struct NewContact {
    /// Number as written by the user (normalised with the tenant's country code).
    pub number: String,
    /// Name.
    pub name: String,
    /// Company.
    pub company: String,
    /// Note.
    pub note: String,
}

/// A contact ready to store: number normalised, text checked.
#[derive(Debug, Clone)]
pub struct CheckedContact {
    number: String,
    name: String,
    company: String,
    note: String,
}

/// Strips control characters, bidirectional and zero-width marks and surrounding spaces, so
/// a name can go into a SIP header and a log line unchanged and shows as written.
fn clean(text: &str) -> String {
    let format_mark = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
    text.chars().map(|c| if c.is_control() || format_mark(c) { ' ' } else { c }).collect::<String>().trim().to_string()
}

impl NewContact {
    /// Normalises the number and checks the text; the error names what is wrong.
    pub fn check(&self, country_code: &str) -> Result<CheckedContact, StoreError> {
        let number = numbers::normalize(self.number.trim(), country_code)
            .ok_or_else(|| StoreError::Invalid(format!("{:?} is not a telephone number", self.number.trim())))?;
        let name = clean(&self.name);
        if name.is_empty() {
            return Err(StoreError::Invalid(format!("the contact {number} needs a name")));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(StoreError::Invalid(format!("the name of {number} is longer than {MAX_NAME_CHARS} characters")));
        }
        let (company, note) = (clean(&self.company), clean(&self.note));
        if company.chars().count() > MAX_NOTE_CHARS || note.chars().count() > MAX_NOTE_CHARS {
            return Err(StoreError::Invalid(format!("the company or note of {number} is longer than {MAX_NOTE_CHARS} characters")));
        }
        Ok(CheckedContact { number, name, company, note })
    }
}

impl CheckedContact {
    /// The normalised number.
    pub fn number(&self) -> &str {
        &self.number
    }
    /// The cleaned name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The cleaned company.
    pub fn company(&self) -> &str {
        &self.company
    }
    /// Name and company in lower case, what searches match.
    fn folded(&self) -> String {
        format!("{}\n{}", self.name, self.company).to_lowercase()
    }
}

fn row(r: &AnyRow) -> Result<Contact, sqlx::Error> {
    Ok(Contact {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        number: r.try_get("number")?,
        name: r.try_get("name")?,
        company: r.try_get("company")?,
        note: r.try_get("note")?,
        source: r.try_get("source")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "id, tenant_id, number, name, company, note, source, updated_at";

impl Store {
    /// A page of the tenant's contacts in number order after `after`; `search` matches digits
    /// of the number or text of the name or company (case-insensitive in any script: both
    /// sides are folded here, as SQLite's LOWER folds only ASCII).
    pub async fn list_contacts(
        &self,
        tenant_id: i64,
        country_code: &str,
        search: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Contact>, StoreError> {
        let pattern = format!("%{}%", search.trim().to_lowercase().replace(['%', '_', '\\'], ""));
        // A search without letters is (part of) a number: its digits match, and a whole number
        // in national form (8 916 ...) matches its E.164 form.
        let numeric = !search.chars().any(char::is_alphabetic);
        let digits: String = search.chars().filter(|c| c.is_ascii_digit()).collect();
        let digits = match numbers::normalize(search.trim(), country_code) {
            Some(e164) if numeric => e164.trim_start_matches('+').to_string(),
            _ => digits,
        };
        // Otherwise a pattern no stored number matches.
        let digit_pattern = if digits.is_empty() || !numeric { String::new() } else { format!("%{digits}%") };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM contacts WHERE tenant_id = $1 AND number > $2 \
             AND ($3 = '%%' OR folded LIKE $3 OR number LIKE $4) \
             ORDER BY number LIMIT $5"
        ))
        .bind(tenant_id)
        .bind(after.unwrap_or(""))
        .bind(pattern)
        .bind(digit_pattern)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
    }

    /// Number and name of every tenant's contacts, what the engine's snapshot holds (not the
    /// companies and notes: a reload reads the least it can).
    pub async fn contact_names(&self) -> Result<Vec<(i64, String, String)>, StoreError> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as("SELECT tenant_id, number, name FROM contacts").fetch_all(&self.pool).await?;
        Ok(rows)
    }

    /// Every contact of every tenant, or of one tenant.
    pub async fn all_contacts(&self, tenant_id: Option<i64>) -> Result<Vec<Contact>, StoreError> {
        let rows = match tenant_id {
            Some(t) => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM contacts WHERE tenant_id = $1 ORDER BY number"))
                    .bind(t)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => sqlx::query(&format!("SELECT {COLUMNS} FROM contacts ORDER BY tenant_id, number")).fetch_all(&self.pool).await?,
        };
        Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
    }

    /// One contact by number (normalised already), or NotFound.
    pub async fn contact(&self, tenant_id: i64, number: &str) -> Result<Contact, StoreError> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM contacts WHERE tenant_id = $1 AND number = $2"))
            .bind(tenant_id)
            .bind(number)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("contact {number}")))?;
        Ok(row(&r)?)
    }

    /// Adds or replaces contacts in one transaction (a failed import changes nothing);
    /// returns how many were new and how many replaced. Rows go in batches of multi-row
    /// `INSERT ... ON CONFLICT DO UPDATE` (both engines), so 100,000 lines take seconds.
    pub async fn upsert_contacts(&self, tenant_id: i64, contacts: &[CheckedContact], source: &str) -> Result<(usize, usize), StoreError> {
        const BATCH: usize = 200;
        // One statement may not name a number twice (PostgreSQL refuses): the last one wins.
        let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, c) in contacts.iter().enumerate() {
            last.insert(&c.number, i);
        }
        let mut contacts: Vec<&CheckedContact> =
            contacts.iter().enumerate().filter(|(i, c)| last.get(c.number.as_str()) == Some(i)).map(|(_, c)| c).collect();
        let too_many = || StoreError::Invalid(format!("a company keeps at most {MAX_CONTACTS_PER_TENANT} contacts"));
        // A file over the cap is refused before it takes the database's write lock.
        if i64::try_from(contacts.len()).unwrap_or(i64::MAX) > MAX_CONTACTS_PER_TENANT {
            return Err(too_many());
        }
        // Number order: two imports touching the same numbers lock rows in the same order.
        contacts.sort_by(|a, b| a.number.cmp(&b.number));
        let count_sql = "SELECT COUNT(*) FROM contacts WHERE tenant_id = $1";
        let mut tx = self.begin_write().await?;
        if self.backend == crate::Backend::Postgres {
            // Imports of one tenant take turns, so the cap holds for parallel ones too (SQLite
            // has one writer at a time anyway).
            sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE").bind(tenant_id).execute(&mut *tx).await?;
        }
        let (before,): (i64,) = sqlx::query_as(count_sql).bind(tenant_id).fetch_one(&mut *tx).await?;
        let now = now_ms();
        for chunk in contacts.chunks(BATCH) {
            let mut sql = String::from("INSERT INTO contacts (tenant_id, number, name, company, note, source, folded, updated_at) VALUES ");
            for k in 0..chunk.len() {
                if k > 0 {
                    sql.push_str(", ");
                }
                let cells: Vec<String> = (1..=8).map(|n| self.placeholder(k * 8 + n)).collect();
                sql.push('(');
                sql.push_str(&cells.join(", "));
                sql.push(')');
            }
            sql.push_str(
                " ON CONFLICT (tenant_id, number) DO UPDATE SET name = excluded.name, company = excluded.company, \
                 note = excluded.note, source = excluded.source, folded = excluded.folded, updated_at = excluded.updated_at",
            );
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = q.bind(tenant_id).bind(&c.number).bind(&c.name).bind(&c.company).bind(&c.note).bind(source).bind(c.folded()).bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        let (after,): (i64,) = sqlx::query_as(count_sql).bind(tenant_id).fetch_one(&mut *tx).await?;
        if after > MAX_CONTACTS_PER_TENANT {
            return Err(too_many());
        }
        sqlx::query("UPDATE config_version SET version = version + 1 WHERE id = 1").execute(&mut *tx).await?;
        tx.commit().await?;
        let added = usize::try_from(after - before).unwrap_or(0);
        Ok((added, contacts.len().saturating_sub(added)))
    }

    /// Deletes a contact by its normalised number.
    pub async fn delete_contact(&self, tenant_id: i64, number: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM contacts WHERE tenant_id = $1 AND number = $2")
            .bind(tenant_id)
            .bind(number)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("contact {number}")));
        }
        self.bump_config_version().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_and_names_cleaned() {
        let c =
            NewContact { number: "8 (495) 123-45-67".into(), name: " Ivan\r\nPetrov ".into(), ..Default::default() }.check("7").unwrap();
        assert_eq!(c.number, "+74951234567");
        assert_eq!(c.name, "Ivan  Petrov");
        assert!(NewContact { number: "abc".into(), name: "x".into(), ..Default::default() }.check("7").is_err());
        assert!(NewContact { number: "+74951234567".into(), name: " \t".into(), ..Default::default() }.check("7").is_err());
        let long = "я".repeat(MAX_NAME_CHARS + 1);
        assert!(NewContact { number: "+74951234567".into(), name: long, ..Default::default() }.check("7").is_err());
    }
}
