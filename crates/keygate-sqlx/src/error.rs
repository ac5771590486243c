//! Errors: connecting and migrating ([`Error`]), and sqlx errors as [`StoreError`]s.

use keygate::StoreError;

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL names no backend this build supports.
    #[error("unsupported database URL scheme {0:?}: expected sqlite: or postgres:// (with the matching keygate-sqlx feature)")]
    UnsupportedUrl(String),
    /// A schema name other than `[a-z_][a-z0-9_]{0,62}`.
    #[error("invalid schema name {0:?}: use 1 to 63 of [a-z0-9_], not starting with a digit")]
    InvalidSchema(String),
    /// The database could not be reached or refused a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Error {
    /// The scheme of `url` (never the rest: it may hold a password).
    pub(crate) fn unsupported(url: &str) -> Self {
        let scheme = url.split(':').next().unwrap_or_default();
        Self::UnsupportedUrl(scheme.chars().take(20).collect())
    }
}

/// A store call that took longer than the store's query timeout.
#[derive(Debug, thiserror::Error)]
#[error("the database did not answer within the query timeout ({0:?})")]
pub(crate) struct QueryTimedOut(pub(crate) std::time::Duration);

/// Maps a sqlx error to the store's error: unique violations are conflicts, bad
/// column data is corruption, and everything else (I/O, pool timeouts, a closed pool,
/// server errors) is unavailability, which the verifier answers with 503.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict("a key with this id or hash exists".into())
        }
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(err.to_string()),
        _ => StoreError::unavailable(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert!(matches!(
            store_error(sqlx::Error::PoolClosed),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            store_error(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            store_error(sqlx::Error::RowNotFound),
            StoreError::NotFound
        ));
        assert!(matches!(
            store_error(sqlx::Error::ColumnNotFound("x".into())),
            StoreError::Corrupt(_)
        ));
        let err = Error::unsupported("mysql://root:secret@db/keys");
        assert!(!err.to_string().contains("secret"));
    }
}
