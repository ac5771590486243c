//! Turning the error a coalesced load shared among its waiters back into an owned one.

use std::sync::Arc;

use keygate::StoreError;

/// The store error behind a load that failed for several waiters at once.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SharedLoadError(Arc<StoreError>);

/// An owned [`StoreError`] of the same kind as `err`.
pub(crate) fn unshare(err: Arc<StoreError>) -> StoreError {
    let err = match Arc::try_unwrap(err) {
        Ok(owned) => return owned,
        Err(shared) => shared,
    };
    match &*err {
        StoreError::Conflict(msg) => StoreError::Conflict(msg.clone()),
        StoreError::NotFound => StoreError::NotFound,
        StoreError::InvalidCursor => StoreError::InvalidCursor,
        StoreError::Corrupt(msg) => StoreError::Corrupt(msg.clone()),
        _ => StoreError::unavailable(SharedLoadError(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_kind() {
        let shared = Arc::new(StoreError::Corrupt("x".into()));
        let _other = Arc::clone(&shared);
        assert!(matches!(unshare(shared), StoreError::Corrupt(m) if m == "x"));
        let down = Arc::new(StoreError::unavailable("db down"));
        let _other = Arc::clone(&down);
        let err = unshare(down);
        assert!(matches!(err, StoreError::Unavailable(_)));
        assert_eq!(err.to_string(), "key store unavailable");
        assert!(matches!(
            unshare(Arc::new(StoreError::NotFound)),
            StoreError::NotFound
        ));
    }
}
