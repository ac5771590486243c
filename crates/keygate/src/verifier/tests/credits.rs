//! Credits in the verify pipeline: spent per request, refused at zero, refilled,
//! given back when a limit refuses, settled with the store by the flush.

use super::*;
use crate::credits::{CreditGrant, Credits, Refill};

/// A key of `remaining` credits (refilled by `refill`), set now.
fn with_credits(
    f: &Fixture,
    remaining: u64,
    refill: Option<Refill>,
) -> impl FnOnce(&mut KeyRecord) {
    let now = f.clock.now();
    move |r: &mut KeyRecord| {
        r.credits = Some(
            Credits::new(r.id.clone(), remaining, refill, now).unwrap_or_else(|e| panic!("{e}")),
        );
    }
}

async fn stored_remaining(f: &Fixture, id: &KeyId) -> Option<u64> {
    f.store
        .get(id)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.credits)
        .map(|c| c.remaining)
}

#[tokio::test]
async fn each_request_spends_and_zero_is_429_usage_exceeded() {
    let f = fixture();
    let (key, record) = f.key("live", with_credits(&f, 3, None)).await;
    for _ in 0..3 {
        f.verify(&key).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let refused = outcome(f.verify(&key).await);
    assert_eq!(refused, Err(AuthError::UsageExceeded { retry_after: None }));
    assert_eq!(
        refused.err().map(|e| (e.status(), e.code())),
        Some((429, "usage_exceeded"))
    );
    // The spends reach the store at the flush, once.
    assert_eq!(stored_remaining(&f, &record.id).await, Some(3));
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored_remaining(&f, &record.id).await, Some(0));
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored_remaining(&f, &record.id).await, Some(0));
    // Counted as its own outcome.
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let counts = f
        .store
        .verification_counts(&crate::analytics::VerificationFilter::between(
            f.clock.now() - Duration::hours(1),
            f.clock.now() + Duration::hours(1),
        ))
        .await
        .unwrap_or_default();
    assert!(
        counts
            .iter()
            .any(|c| c.outcome == crate::analytics::VerificationOutcome::UsageExceeded),
        "{counts:?}"
    );
}

#[tokio::test]
async fn a_keys_without_credits_spends_nothing_and_costs_are_per_request() {
    let f = fixture();
    let (plain, plain_record) = f.key("live", |_| {}).await;
    for _ in 0..5 {
        f.verify(&plain).await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(plain_record.credits.is_none());
    let (key, _) = f.key("live", with_credits(&f, 10, None)).await;
    let request = |cost| VerifyRequest::key(&key).with_cost(cost);
    assert!(f.verifier.verify(request(7)).await.is_ok());
    assert!(matches!(
        f.verifier.verify(request(4)).await,
        Err(AuthError::UsageExceeded { .. })
    ));
    assert!(
        f.verifier.verify(request(3)).await.is_ok(),
        "a refused cost spent nothing"
    );
    assert!(
        f.verifier.verify(request(0)).await.is_ok(),
        "cost 0 passes at zero"
    );
    assert!(f.verifier.verify(request(1)).await.is_err());
}

#[tokio::test]
async fn a_refill_restores_the_balance_and_retry_after_points_at_it() {
    let f = fixture(); // 2023-11-14 22:13:20 UTC
    let (key, _) = f
        .key("live", with_credits(&f, 1, Refill::daily(2).ok()))
        .await;
    assert!(f.verify(&key).await.is_ok());
    match outcome(f.verify(&key).await) {
        // Midnight is 1 h 46 min 40 s away.
        Err(AuthError::UsageExceeded { retry_after }) => assert_eq!(retry_after, Some(6400)),
        other => panic!("{other:?}"),
    }
    f.clock.advance(Duration::seconds(6400));
    assert!(f.verify(&key).await.is_ok());
    assert!(f.verify(&key).await.is_ok());
    assert!(f.verify(&key).await.is_err(), "refilled to 2, not by 2");
}

#[tokio::test]
async fn a_request_a_rate_limit_refuses_gets_its_credits_back() {
    let f = limited_fixture(RateLimits::in_memory(), None);
    let (key, record) = f
        .key("live", |r| {
            r.rate_limit = "1/h".parse().ok();
            r.credits = Credits::new(r.id.clone(), 10, None, chrono::Utc::now()).ok();
        })
        .await;
    assert!(f.verify(&key).await.is_ok());
    for _ in 0..5 {
        assert!(matches!(
            f.verify(&key).await,
            Err(AuthError::RateLimited { .. })
        ));
    }
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored_remaining(&f, &record.id).await, Some(9));
}

#[tokio::test]
async fn instances_over_one_store_add_their_spends_up() {
    let f = fixture();
    let other = Verifier::builder(f.store.clone())
        .prefix("sk")
        .clock(f.clock.clone())
        .build();
    let (key, record) = f.key("live", with_credits(&f, 10, None)).await;
    for _ in 0..3 {
        assert!(f.verify(&key).await.is_ok());
        assert!(other.verify(VerifyRequest::key(&key)).await.is_ok());
    }
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    other.flush_usage().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored_remaining(&f, &record.id).await, Some(4));
    // The second instance caught up at its flush (4 left); the first at its next.
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut passed = 0;
    for _ in 0..10 {
        passed += usize::from(other.verify(VerifyRequest::key(&key)).await.is_ok());
    }
    assert_eq!(passed, 4);
}

#[tokio::test]
async fn a_new_balance_wins_over_spends_of_the_old_one() {
    let f = fixture();
    let (key, record) = f.key("live", with_credits(&f, 5, None)).await;
    for _ in 0..5 {
        assert!(f.verify(&key).await.is_ok());
    }
    assert!(f.verify(&key).await.is_err());
    // The operator sets 2 before the flush: the 5 unsettled spends do not come off it.
    let manager = crate::KeyManager::builder(f.store.clone()).build();
    manager
        .update(
            &crate::Actor::system(),
            &record.id,
            crate::KeyUpdate {
                credits: Some(Some(CreditGrant::new(2))),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored_remaining(&f, &record.id).await, Some(2));
    // A settings write from a record read before spends were settled keeps them.
    let mut stale = f
        .store
        .get(&record.id)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("gone"));
    assert!(f.verify(&key).await.is_ok());
    assert!(f.verify(&key).await.is_ok());
    assert!(f.verify(&key).await.is_err());
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored_remaining(&f, &record.id).await, Some(0));
    stale.name = "renamed".into();
    f.store
        .update(&stale)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored_remaining(&f, &record.id).await, Some(0));
}

#[tokio::test]
async fn the_store_down_keeps_the_spends_for_the_next_flush() {
    let f = fixture();
    let (key, record) = f.key("live", with_credits(&f, 5, None)).await;
    assert!(f.verify(&key).await.is_ok());
    assert!(f.verify(&key).await.is_ok());
    f.store.set_unavailable(true);
    assert!(f.verifier.flush_usage().await.is_err());
    f.store.set_unavailable(false);
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored_remaining(&f, &record.id).await, Some(3));
}

#[tokio::test]
async fn stored_shared_limits_count_every_key_of_the_tenant_and_owner_together() {
    use crate::rate_limit::NamedLimits;
    let f = limited_fixture(RateLimits::in_memory(), None);
    let (a, _) = f.key("live", |r| r.owner = Some("u1".into())).await;
    let (b, _) = f.key("live", |r| r.owner = Some("u1".into())).await;
    let (c, _) = f.key("live", |r| r.owner = Some("u2".into())).await;
    let (other_env, _) = f.key("test", |r| r.owner = Some("u1".into())).await;
    let put = |owner: Option<&'static str>, pairs: &'static [(&'static str, &'static str)]| {
        let store = f.store.clone();
        async move {
            let limits =
                NamedLimits::parse(pairs.iter().copied()).unwrap_or_else(|e| panic!("{e}"));
            store
                .put_shared_limits("acme", "live", owner, &limits)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
    };
    put(Some("u1"), &[("user", "3/h")]).await;
    put(None, &[("org", "5/h")]).await;
    let mut passed = 0;
    for key in [&a, &b, &a, &b, &a] {
        passed += usize::from(f.verify(key).await.is_ok());
    }
    assert_eq!(passed, 3, "u1's keys share 3");
    match f.verify(&c).await {
        Ok(v) => {
            let names: Vec<String> = v
                .rate_limit
                .map(|r| r.policies().map(|p| p.name.to_string()).collect())
                .unwrap_or_default();
            assert_eq!(names, ["org"], "u2 only under the tenant's limit");
        }
        Err(e) => panic!("{e}"),
    }
    assert!(f.verify(&c).await.is_ok(), "the tenant's fifth");
    assert!(
        matches!(f.verify(&c).await, Err(AuthError::RateLimited { .. })),
        "5 for the tenant"
    );
    assert!(
        f.verify(&other_env).await.is_ok(),
        "another environment spends nothing"
    );
    // Raised by the operator: applies at the keys' next verification.
    put(None, &[("org", "100/h")]).await;
    put(Some("u1"), &[]).await;
    assert!(f.verify(&a).await.is_ok());
}
