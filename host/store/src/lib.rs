//! Storage of the PBX: one repository layer over SQLite (the default, a file under the data
//! dir) and PostgreSQL (several nodes), chosen by the database URL.
//!
//! The CLI, the call engine and the cabinet all go through this crate, so a change made by
//! one is seen by the others; the server notices configuration changes through
//! [`Store::config_version`], which every change bumps.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod accounts;
pub mod audit;
pub mod billing;
pub mod blocking;
pub mod blocklist;
mod calls;
pub mod contacts;
mod directory;
mod error;
pub mod events;
mod features;
pub mod hours;
mod media;
mod migrate;
pub mod missed;
pub mod numbers;
mod plugins;
pub mod queue_reports;
mod registrations;
mod reports;
mod trunks;
pub mod webhooks;

pub use accounts::{LoginError, Principal, Session, TokenRow};
pub use billing::{BalanceEntry, Charge, NewTariff, Tariff};
pub use blocklist::{BlockAction, BlockSettings, BlockedNumber};
pub use calls::{CallEnd, CallOp, CallRow, CallStart, Direction, Disposition};
pub use contacts::{CheckedContact, Contact, NewContact};
pub use directory::{
    NewUser, Role, Tenant, TenantSettings, TenantStatus, User, check_sip_password, check_text, hash_password, hash_password_blocking,
    parse_amount, sip_ha1, valid_ext,
};
pub use error::StoreError;
pub use events::{EventData, IntegrationEvent};
pub use features::{AgentState, Forwarding, Group, GroupKind, NewGroup, QUEUE_STRATEGIES, RING_STRATEGIES};
pub use media::{CallEvent, PromptRow, Recording};
pub use missed::MissedNumber;
pub use plugins::{Grants, PluginRow};
pub use registrations::RegistrationRow;
pub use reports::{CallFilter, UserStats};
pub use trunks::{Did, NewTrunk, Trunk, cidr_contains, parse_cidr};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

/// Which database engine is behind the pool (SQL differs in a few places).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The storage handle; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Store {
    /// Opens (creating an SQLite file if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Invalid(format!("unsupported database URL {url:?}: use sqlite://PATH or postgres://...")));
        };
        let url = if backend == Backend::Sqlite && !url.contains("mode=") {
            if url.contains('?') { format!("{url}&mode=rwc") } else { format!("{url}?mode=rwc") }
        } else {
            url.to_string()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let store = Store { pool, backend };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction that writes. On SQLite it takes the write lock at its start (`BEGIN
    /// IMMEDIATE`, waiting out other writers): a deferred one that reads first and writes
    /// after another connection committed fails at once with `SQLITE_BUSY_SNAPSHOT`
    /// ("database is locked"), whatever the busy timeout.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// The underlying pool, for the few queries that live at the edges.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A counter every configuration change increases, so running servers reload.
    pub async fn config_version(&self) -> Result<i64, StoreError> {
        let v: (i64,) = sqlx::query_as("SELECT version FROM config_version WHERE id = 1").fetch_one(&self.pool).await?;
        Ok(v.0)
    }

    /// Marks the configuration as changed.
    pub async fn bump_config_version(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE config_version SET version = version + 1 WHERE id = 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The n-th bind placeholder for generated multi-row statements: `$n` for PostgreSQL,
    /// `?` for SQLite (whose named-parameter lookup is linear per parameter, so `$n` makes a
    /// statement with thousands of parameters quadratic).
    pub(crate) fn placeholder(&self, n: usize) -> String {
        match self.backend {
            Backend::Postgres => format!("${n}"),
            Backend::Sqlite => "?".to_string(),
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
