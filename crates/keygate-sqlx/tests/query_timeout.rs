//! A statement that blocks once it runs (the keys table locked by another session, as a
//! long migration would) must not hold a lookup: the store's query timeout turns it
//! into `StoreError::Unavailable`, which the verifier answers with 503. The pool's
//! acquire timeout alone does not bound it (the connection is fine, its ping passes).

mod common;

#[cfg(feature = "postgres")]
mod postgres {
    use std::time::{Duration, Instant};

    use keygate::{AuthError, KeyGate, KeyStore, StoreError, VerifyRequest};
    use keygate_sqlx::{PostgresStore, DEFAULT_QUERY_TIMEOUT};
    use sqlx::postgres::PgPoolOptions;

    use super::common::{self, key};

    #[tokio::test]
    async fn a_lookup_blocked_by_a_table_lock_fails_within_the_query_timeout() {
        common::pg::with_postgres("query timeout", |pg| async move {
            let schema = pg.schema();
            let configured = PostgresStore::builder(&pg.url)
                .schema(schema.clone())
                .query_timeout(Some(Duration::from_millis(300)))
                .connect()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let by_default = PostgresStore::builder(&pg.url)
                .schema(schema.clone())
                .connect()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let (plain, record) = key("locked out");
            configured
                .insert(&record)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            // Both pools hold a working connection before the lock.
            for store in [&configured, &by_default] {
                let found = store.find_by_hash(&record.hash).await;
                assert!(found.is_ok_and(|r| r.is_some()));
            }

            let locker = PgPoolOptions::new()
                .max_connections(1)
                .connect(&pg.url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut tx = locker.begin().await.unwrap_or_else(|e| panic!("{e}"));
            sqlx::query(&format!(
                "LOCK TABLE {schema}.keygate_keys IN ACCESS EXCLUSIVE MODE"
            ))
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

            let started = Instant::now();
            let found = configured.find_by_hash(&record.hash).await;
            assert!(
                matches!(found, Err(StoreError::Unavailable(_))),
                "{found:?}"
            );
            let took = started.elapsed();
            assert!(
                took >= Duration::from_millis(300) && took < Duration::from_secs(3),
                "{took:?}"
            );

            // The default bounds it too, and the verifier answers 503.
            let gate = KeyGate::builder(by_default.clone()).build();
            let started = Instant::now();
            let verified = gate.verify(VerifyRequest::key(&plain)).await;
            assert_eq!(verified.err(), Some(AuthError::StoreUnavailable));
            let took = started.elapsed();
            assert!(
                took >= DEFAULT_QUERY_TIMEOUT && took < DEFAULT_QUERY_TIMEOUT * 2,
                "{took:?}"
            );

            tx.rollback().await.unwrap_or_else(|e| panic!("{e}"));
            locker.close().await;
            // The lock gone, the same stores answer (no restart).
            for store in [&configured, &by_default] {
                let found = store.find_by_hash(&record.hash).await;
                assert!(found.is_ok_and(|r| r.is_some()));
            }
        })
        .await;
    }
}
