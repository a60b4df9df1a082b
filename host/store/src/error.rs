//! Storage errors.

/// What can go wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// No such object.
    #[error("{0} not found")]
    NotFound(String),
    /// The object exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// Input that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The object cannot change while something else uses it (the message says what).
    #[error("{0}")]
    InUse(String),
}

impl StoreError {
    /// Maps a unique-constraint violation to `Conflict(what)`.
    pub(crate) fn conflict_or(e: sqlx::Error, what: &str) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            let msg = db.message().to_ascii_lowercase();
            if msg.contains("unique") || msg.contains("duplicate") {
                return StoreError::Conflict(what.to_string());
            }
        }
        StoreError::Db(e)
    }
}
