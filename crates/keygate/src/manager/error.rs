use crate::store::StoreError;

/// Why the [`KeyManager`](super::KeyManager) refused or failed a change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManageError {
    /// No such key (or role) visible to the actor. Keys of other tenants are "not found".
    #[error("not found")]
    NotFound,
    /// The actor may not do this, e.g. grant scopes it does not hold itself.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request is invalid: bad name, past expiry, unknown role, revoked key…
    #[error("invalid: {0}")]
    Invalid(String),
    /// The request conflicts with what is stored: a role that already exists (create),
    /// a role still held by keys (delete without `force`), a change to a revoked key, a
    /// rotation of a key that is not active or was rotated already.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ManageError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }

    /// A stable code: `not_found`, `forbidden`, `invalid_request`, `store_unavailable`,
    /// `conflict` or `store_error`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Forbidden(_) => "forbidden",
            Self::Invalid(_) => "invalid_request",
            Self::Conflict(_) => "conflict",
            Self::Store(StoreError::Unavailable(_)) => "store_unavailable",
            Self::Store(
                StoreError::Conflict(_) | StoreError::VersionConflict | StoreError::Revoked,
            ) => "conflict",
            Self::Store(StoreError::NotFound) => "not_found",
            Self::Store(StoreError::InvalidCursor) => "invalid_request",
            Self::Store(_) => "store_error",
        }
    }

    /// The HTTP status an API would answer with.
    pub fn status(&self) -> u16 {
        match self.code() {
            "not_found" => 404,
            "forbidden" => 403,
            "invalid_request" => 422,
            "conflict" => 409,
            "store_unavailable" => 503,
            _ => 500,
        }
    }
}
