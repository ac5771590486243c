use std::sync::Arc;

use chrono::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::rate_limit::{FailureThrottle, RateLimitStatus};
use crate::record::Rotation;
use crate::role::Role;
use crate::{key_format, KeyId, KeyRecord, MemoryStore, RateLimits, ScopeSet};

struct Fixture {
    store: Arc<MemoryStore>,
    clock: ManualClock,
    verifier: Verifier,
}

fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::at_unix(1_700_000_000);
    let verifier = Verifier::builder(store.clone())
        .prefix("sk")
        .envs(["live"])
        .clock(clock.clone())
        .build();
    Fixture {
        store,
        clock,
        verifier,
    }
}

impl Fixture {
    /// Stores a new key (made with `edit`) and returns its plaintext.
    async fn key(&self, env: &str, edit: impl FnOnce(&mut KeyRecord)) -> (String, KeyRecord) {
        let secret = key_format::generate("sk", env).unwrap_or_else(|e| panic!("{e}"));
        let key = secret.expose().to_owned();
        let mut record = KeyRecord::new(
            KeyHasher::Sha256.hash(&key),
            "hint",
            "sk",
            env,
            "test key",
            "acme",
        );
        record.created_at = self.clock.now();
        record.scopes = ScopeSet::parse(["read:scans"]).expect("valid scopes");
        edit(&mut record);
        self.store
            .insert(&record)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (key, record)
    }

    async fn verify(&self, key: &str) -> Result<Verification, AuthError> {
        self.verifier.verify(VerifyRequest::key(key)).await
    }
}

fn invalid(reason: InvalidKeyReason) -> Result<(), AuthError> {
    Err(AuthError::InvalidKey(reason))
}

fn outcome(r: Result<Verification, AuthError>) -> Result<(), AuthError> {
    r.map(|_| ())
}

#[tokio::test]
async fn valid_key_gives_a_principal() {
    let f = fixture();
    let (key, record) = f.key("live", |_| {}).await;
    let ok = f.verify(&key).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.principal.key_id(), &record.id);
    assert_eq!(ok.principal.tenant(), "acme");
    assert!(ok.principal.has_scope("read:scans"));
    assert_eq!(
        f.verifier.usage().pending(),
        1,
        "last use noted without I/O"
    );
}

#[tokio::test]
async fn malformed_and_bad_checksum_never_reach_the_store() {
    let f = fixture();
    let (key, _) = f.key("live", |_| {}).await;
    f.store.set_unavailable(true); // any store call would now give 503
    let mut bad_checksum = key.clone().into_bytes();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] = if bad_checksum[last] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let bad_checksum = String::from_utf8(bad_checksum).expect("UTF-8");
    for bad in [
        String::new(),
        "garbage".into(),
        "x".repeat(10 * 1024),
        "ключ".into(),
        bad_checksum,
    ] {
        assert_eq!(
            outcome(f.verify(&bad).await),
            invalid(InvalidKeyReason::Malformed),
            "{bad:.20}"
        );
    }
}

#[tokio::test]
async fn wrong_prefix_and_env_are_refused_before_io() {
    let f = fixture();
    f.store.set_unavailable(true);
    let other_prefix = key_format::generate("pk", "live")
        .map(|k| k.expose().to_owned())
        .expect("a generated key");
    assert_eq!(
        outcome(f.verify(&other_prefix).await),
        invalid(InvalidKeyReason::WrongPrefix)
    );
    let test_env = key_format::generate("sk", "test")
        .map(|k| k.expose().to_owned())
        .expect("a generated key");
    assert_eq!(
        outcome(f.verify(&test_env).await),
        invalid(InvalidKeyReason::WrongEnvironment)
    );
}

#[tokio::test]
async fn unknown_key() {
    let f = fixture();
    let never_stored = key_format::generate("sk", "live")
        .map(|k| k.expose().to_owned())
        .expect("a generated key");
    assert_eq!(
        outcome(f.verify(&never_stored).await),
        invalid(InvalidKeyReason::Unknown)
    );
}

#[tokio::test]
async fn revoked_key() {
    let f = fixture();
    let now = f.clock.now();
    let (key, _) = f.key("live", |r| r.revoked_at = Some(now)).await;
    assert_eq!(
        outcome(f.verify(&key).await),
        invalid(InvalidKeyReason::Revoked)
    );
}

#[tokio::test]
async fn a_disabled_key_is_refused_until_enabled_even_when_warm() {
    let f = fixture();
    let (key, stored) = f.key("live", |_| {}).await;
    assert!(f.verify(&key).await.is_ok(), "warm");
    let mut record = f
        .store
        .get(&stored.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("stored"));
    record.disabled_at = Some(f.clock.now());
    f.store
        .update(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome(f.verify(&key).await), Err(AuthError::DisabledKey));
    record.version += 1;
    record.disabled_at = None;
    f.store
        .update(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(f.verify(&key).await.is_ok(), "enabled again");
}

#[tokio::test]
async fn expiry_boundary() {
    let f = fixture();
    let expires = f.clock.now() + Duration::days(30);
    let (key, _) = f.key("live", |r| r.expires_at = Some(expires)).await;
    f.clock.set(expires - Duration::seconds(1));
    assert!(
        f.verify(&key).await.is_ok(),
        "valid one second before expiry"
    );
    f.clock.set(expires);
    assert_eq!(outcome(f.verify(&key).await), Err(AuthError::ExpiredKey));
}

#[tokio::test]
async fn rotation_grace_boundary() {
    let f = fixture();
    let grace_until = f.clock.now() + Duration::hours(24);
    let (key, _) = f
        .key("live", |r| {
            r.rotation = Some(Rotation {
                replaced_by: KeyId::generate(),
                grace_until,
            })
        })
        .await;
    f.clock.advance(Duration::hours(24) - Duration::seconds(1));
    assert!(
        f.verify(&key).await.is_ok(),
        "old key works during the grace period"
    );
    f.clock.advance(Duration::seconds(1));
    assert_eq!(
        outcome(f.verify(&key).await),
        invalid(InvalidKeyReason::Rotated)
    );
}

#[tokio::test]
async fn stored_env_not_accepted() {
    // A record whose stored env differs from what this server accepts (e.g. an
    // imported legacy key labelled `test`).
    let store = Arc::new(MemoryStore::new());
    let verifier = Verifier::builder(store.clone())
        .envs(["live"])
        .accept_legacy_keys(true)
        .build();
    let legacy = "legacy-key-0123456789";
    let mut record = KeyRecord::new(
        KeyHasher::Sha256.hash(legacy),
        "hint",
        "",
        "test",
        "old",
        "acme",
    );
    record.env = "test".into();
    store
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        outcome(verifier.verify(VerifyRequest::key(legacy)).await),
        invalid(InvalidKeyReason::WrongEnvironment)
    );
}

#[tokio::test]
async fn legacy_keys_only_when_enabled() {
    let store = Arc::new(MemoryStore::new());
    let legacy = "imported_0123456789abcdef";
    let mut record = KeyRecord::new(
        KeyHasher::Sha256.hash(legacy),
        "…cdef",
        "",
        "",
        "old",
        "acme",
    );
    record.env = String::new();
    store
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let strict = Verifier::builder(store.clone()).build();
    assert_eq!(
        outcome(strict.verify(VerifyRequest::key(legacy)).await),
        invalid(InvalidKeyReason::Malformed)
    );
    let lenient = Verifier::builder(store.clone())
        .accept_legacy_keys(true)
        .build();
    assert!(lenient.verify(VerifyRequest::key(legacy)).await.is_ok());
    assert_eq!(
        outcome(lenient.verify(VerifyRequest::key("short")).await),
        invalid(InvalidKeyReason::Malformed)
    );
}

#[tokio::test]
async fn ip_and_referrer_restrictions_are_403() {
    let f = fixture();
    let (key, _) = f
        .key("live", |r| {
            r.allowed_ips = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())];
            r.allowed_referrers = vec!["app.example.com".into()];
        })
        .await;
    let req = |ip: &str, referrer| VerifyRequest {
        key: &key,
        client_ip: ip.parse().ok(),
        referrer,
        cost: 1,
    };
    let good_ref = Some("https://app.example.com/x");
    assert!(f.verifier.verify(req("10.1.1.1", good_ref)).await.is_ok());
    assert_eq!(
        outcome(f.verifier.verify(req("192.0.2.1", good_ref)).await),
        Err(AuthError::IpNotAllowed)
    );
    assert_eq!(
        outcome(f.verifier.verify(req("", good_ref)).await),
        Err(AuthError::IpNotAllowed)
    );
    assert_eq!(
        outcome(
            f.verifier
                .verify(req("10.1.1.1", Some("https://evil.example.net/")))
                .await
        ),
        Err(AuthError::ReferrerNotAllowed)
    );
    assert_eq!(
        outcome(f.verifier.verify(req("10.1.1.1", None)).await),
        Err(AuthError::ReferrerNotAllowed)
    );
}

#[tokio::test]
async fn role_scopes_are_resolved_at_verify_time() {
    let f = fixture();
    let role = Role::new(
        "radiologist",
        ScopeSet::parse(["read:reports"]).expect("valid scopes"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    f.store
        .put_role(&role)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (key, _) = f.key("live", |r| r.role = Some("radiologist".into())).await;
    let p = f
        .verify(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .principal;
    assert!(p.has_scope("read:scans") && p.has_scope("read:reports"));
    assert!(!p.has_scope("write:exports"));
    // Editing the role changes the key's scopes.
    let edited = Role::new(
        "radiologist",
        ScopeSet::parse(["write:exports"]).expect("valid scopes"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    f.store
        .put_role(&edited)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let p = f
        .verify(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .principal;
    assert!(p.has_scope("write:exports") && !p.has_scope("read:reports"));
}

#[tokio::test]
async fn a_key_holds_its_namespaces_role_else_the_global_one_else_only_its_own_scopes() {
    let f = fixture();
    let role = |scopes: &[&str]| {
        Role::new(
            "radiologist",
            ScopeSet::parse(scopes).expect("valid scopes"),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let acme_live = role(&["write:exports"])
        .in_namespace("acme", "live")
        .unwrap_or_else(|e| panic!("{e}"));
    let globex_live = role(&["admin"])
        .in_namespace("globex", "live")
        .unwrap_or_else(|e| panic!("{e}"));
    for r in [&role(&["read:reports"]), &acme_live, &globex_live] {
        f.store.put_role(r).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let (live, _) = f.key("live", |r| r.role = Some("radiologist".into())).await;
    let (initech, _) = f
        .key("live", |r| {
            r.role = Some("radiologist".into());
            r.tenant = "initech".into();
        })
        .await;
    let f = &f;
    let scopes = |key: String| async move {
        let p = f
            .verify(&key)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .principal;
        p.scopes().to_strings()
    };
    assert_eq!(
        scopes(live.clone()).await,
        vec!["read:scans", "write:exports"]
    );
    assert_eq!(
        scopes(initech).await,
        vec!["read:scans", "read:reports"],
        "no initech/live role: the global one"
    );
    // Deleting acme's role: back to the global one; deleting that: only its own.
    assert!(f
        .store
        .delete_role(acme_live.namespace(), "radiologist")
        .await
        .unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(
        scopes(live.clone()).await,
        vec!["read:scans", "read:reports"]
    );
    assert!(f
        .store
        .delete_role(None, "radiologist")
        .await
        .unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(
        scopes(live).await,
        vec!["read:scans"],
        "a missing role adds nothing (globex's role is not acme's)"
    );
}

#[tokio::test]
async fn store_down_is_503_never_open() {
    let f = fixture();
    let (key, _) = f.key("live", |_| {}).await;
    f.store.set_unavailable(true);
    assert_eq!(
        outcome(f.verify(&key).await),
        Err(AuthError::StoreUnavailable)
    );
    f.store.set_unavailable(false);
    assert!(f.verify(&key).await.is_ok());
}

#[tokio::test]
async fn usage_flushes_to_the_store() {
    let f = fixture();
    let (key, record) = f.key("live", |_| {}).await;
    let _ = f.verify(&key).await;
    assert_eq!(f.verifier.flush_usage().await.ok(), Some(1));
    let stored = f.store.get(&record.id).await.ok().flatten();
    assert_eq!(stored.and_then(|r| r.last_used_at), Some(f.clock.now()));
}

// Step 6: rate limits, and failed-authentication throttling.

fn limited_fixture(limits: RateLimits, throttle: Option<FailureThrottle>) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::at_unix(1_800_000_000);
    let mut builder = Verifier::builder(store.clone())
        .prefix("sk")
        .envs(["live", "test"])
        .clock(clock.clone())
        .rate_limits(limits);
    if let Some(throttle) = throttle {
        builder = builder.failure_throttle(throttle);
    }
    Fixture {
        store,
        clock,
        verifier: builder.build(),
    }
}

fn status(r: Result<Verification, AuthError>) -> Option<(u32, u32, i64)> {
    r.ok()
        .and_then(|v| v.rate_limit)
        .map(|r| r.summary())
        .map(|s| (s.limit, s.remaining, s.reset))
}

#[tokio::test]
async fn no_limiter_no_rate_limit_state() {
    let f = fixture();
    let (key, _) = f
        .key("live", |r| {
            r.rate_limit = Some(crate::RateLimitSpec::per_hour(1))
        })
        .await;
    for _ in 0..3 {
        let ok = f.verify(&key).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.rate_limit, None, "off by default");
    }
}

#[tokio::test]
async fn per_key_limit_then_429_with_retry_after() {
    let f = limited_fixture(RateLimits::in_memory(), None);
    let (key, _) = f.key("live", |r| r.rate_limit = "2/h".parse().ok()).await;
    let t = 1_800_000_000;
    assert_eq!(status(f.verify(&key).await), Some((2, 1, t + 1800)));
    assert_eq!(status(f.verify(&key).await), Some((2, 0, t + 3600)));
    match outcome(f.verify(&key).await) {
        Err(AuthError::RateLimited {
            retry_after,
            status,
            report,
        }) => {
            assert_eq!(
                (retry_after, status),
                (
                    1800,
                    RateLimitStatus {
                        limit: 2,
                        remaining: 0,
                        reset: t + 3600
                    }
                )
            );
            assert_eq!(
                report.map(|r| r.violated()),
                Some(vec!["default".to_owned()])
            );
        }
        other => panic!("{other:?}"),
    }
    f.clock.advance(Duration::minutes(30));
    assert_eq!(status(f.verify(&key).await), Some((2, 0, t + 5400)));
}

#[tokio::test]
async fn env_defaults_and_per_key_override() {
    use crate::RateLimitSpec;
    let limits = RateLimits::in_memory()
        .env_default("test", RateLimitSpec::per_hour(100))
        .env_default("live", RateLimitSpec::per_hour(1000));
    let f = limited_fixture(limits, None);
    let (test_key, _) = f.key("test", |_| {}).await;
    let (live_key, _) = f.key("live", |_| {}).await;
    let (own_key, _) = f.key("live", |r| r.rate_limit = "50/s".parse().ok()).await;
    let limit = |r| status(r).map(|(limit, remaining, _)| (limit, remaining));
    assert_eq!(limit(f.verify(&test_key).await), Some((100, 99)));
    assert_eq!(limit(f.verify(&live_key).await), Some((1000, 999)));
    assert_eq!(limit(f.verify(&own_key).await), Some((50, 49)));
}

#[tokio::test]
async fn a_changed_limit_applies_to_the_next_request() {
    let f = limited_fixture(RateLimits::in_memory(), None);
    let (key, mut record) = f.key("live", |r| r.rate_limit = "1/h".parse().ok()).await;
    assert!(f.verify(&key).await.is_ok());
    assert!(matches!(
        f.verify(&key).await,
        Err(AuthError::RateLimited { .. })
    ));
    record.rate_limit = "100/h".parse().ok();
    f.store
        .update(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = status(f.verify(&key).await).map(|(l, r, _)| (l, r));
    assert_eq!(
        after,
        Some((100, 98)),
        "the request already made still counts"
    );
}

#[tokio::test]
async fn refused_before_the_limiter_counts_nothing() {
    let f = limited_fixture(RateLimits::in_memory(), None);
    let (key, _) = f
        .key("live", |r| {
            r.rate_limit = "1/h".parse().ok();
            r.allowed_referrers = vec!["app.example.com".into()];
        })
        .await;
    let bad = VerifyRequest {
        referrer: Some("https://evil.example.net/"),
        cost: 1,
        ..VerifyRequest::key(&key)
    };
    for _ in 0..3 {
        assert_eq!(
            outcome(f.verifier.verify(bad).await),
            Err(AuthError::ReferrerNotAllowed)
        );
    }
    let good = VerifyRequest {
        referrer: Some("https://app.example.com/"),
        cost: 1,
        ..VerifyRequest::key(&key)
    };
    assert!(f.verifier.verify(good).await.is_ok());
}

#[derive(Debug)]
struct DownLimiter;

#[async_trait::async_trait]
impl crate::rate_limit::RateLimiter for DownLimiter {
    async fn check_all(
        &self,
        _: &[crate::rate_limit::LimitCheck<'_>],
        _: i64,
    ) -> Result<crate::rate_limit::Counted, RateLimitError> {
        Err(RateLimitError::unavailable("backend down"))
    }
}

#[tokio::test]
async fn limiter_down_fails_closed() {
    let limits = RateLimits::new(DownLimiter).fallback(crate::RateLimitSpec::per_hour(10));
    let f = limited_fixture(limits, None);
    let (key, _) = f.key("live", |_| {}).await;
    assert_eq!(
        outcome(f.verify(&key).await),
        Err(AuthError::StoreUnavailable)
    );
}

fn from_ip<'a>(key: &'a str, ip: &str) -> VerifyRequest<'a> {
    VerifyRequest {
        client_ip: ip.parse().ok(),
        ..VerifyRequest::key(key)
    }
}

async fn throttled_events(store: &MemoryStore) -> Vec<crate::audit::AuditEvent> {
    let filter = crate::audit::AuditFilter {
        action: Some("key.verify".into()),
        ..Default::default()
    };
    store
        .list_audit(&filter, &crate::store::PageRequest::first(100))
        .await
        .map(|page| page.items)
        .expect("the audit log reads")
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("throttled"))
        .collect()
}

#[tokio::test]
async fn failed_verifications_throttle_the_client_ip_before_any_lookup() {
    let throttle = FailureThrottle::new(crate::RateLimitSpec::per_minute(3));
    let f = limited_fixture(RateLimits::in_memory(), Some(throttle));
    let (valid, _) = f.key("live", |_| {}).await;
    let unknown = key_format::generate("sk", "live")
        .map(|k| k.expose().to_owned())
        .expect("a generated key");
    let attacker = "203.0.113.5";
    for bad in [unknown.as_str(), "garbage", &unknown] {
        assert!(matches!(
            f.verifier.verify(from_ip(bad, attacker)).await,
            Err(AuthError::InvalidKey(_))
        ));
    }
    // Now refused, even with a valid key.
    let throttled = Err(AuthError::RateLimited {
        retry_after: 20,
        status: RateLimitStatus {
            limit: 3,
            remaining: 0,
            reset: 1_800_000_060,
        },
        report: None,
    });
    assert_eq!(
        outcome(f.verifier.verify(from_ip(&valid, attacker)).await),
        throttled
    );
    // Before parsing or lookup: a store outage would otherwise be a 503.
    f.store.set_unavailable(true);
    assert_eq!(
        outcome(f.verifier.verify(from_ip(&valid, attacker)).await),
        throttled
    );
    f.store.set_unavailable(false);
    // Another client is unaffected; the attacker's episode is audited once.
    assert!(f
        .verifier
        .verify(from_ip(&valid, "198.51.100.1"))
        .await
        .is_ok());
    for _ in 0..5 {
        assert!(f.verifier.verify(from_ip(&valid, attacker)).await.is_err());
    }
    let events = throttled_events(&f.store).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].client_ip, attacker.parse().ok());
    assert_eq!(events[0].outcome, crate::audit::Outcome::Failure);
    assert_eq!(events[0].at, f.clock.now());
    // After the retry time, one more attempt is allowed.
    f.clock.advance(Duration::seconds(20));
    assert!(f.verifier.verify(from_ip(&valid, attacker)).await.is_ok());
}

#[tokio::test]
async fn forbidden_and_valid_requests_do_not_count_as_failures() {
    let throttle = FailureThrottle::new(crate::RateLimitSpec::per_hour(1));
    let f = limited_fixture(RateLimits::in_memory(), Some(throttle));
    let (restricted, _) = f
        .key("live", |r| {
            r.allowed_ips = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())]
        })
        .await;
    let (valid, _) = f.key("live", |_| {}).await;
    let ip = "192.0.2.10";
    for _ in 0..5 {
        assert_eq!(
            outcome(f.verifier.verify(from_ip(&restricted, ip)).await),
            Err(AuthError::IpNotAllowed)
        );
        assert!(f.verifier.verify(from_ip(&valid, ip)).await.is_ok());
    }
    // Without a client IP nothing is throttled.
    for _ in 0..5 {
        assert!(f.verify("garbage").await.is_err());
    }
    assert!(f.verify(&valid).await.is_ok());
    assert!(throttled_events(&f.store).await.is_empty());
}

#[tokio::test]
async fn failed_verifications_of_well_formed_keys_are_audited() {
    use crate::audit::{AuditFilter, Outcome};
    use crate::store::PageRequest;
    let f = fixture();
    let now = f.clock.now();
    let (revoked, record) = f.key("live", |r| r.revoked_at = Some(now)).await;
    let ip = "203.0.113.5".parse().ok();
    let unknown = key_format::generate("sk", "live")
        .map(|k| k.expose().to_owned())
        .expect("a generated key");
    // The malformed one costs no I/O and is not audited.
    for key in [revoked.as_str(), unknown.as_str(), "garbage"] {
        let _ = f
            .verifier
            .verify(VerifyRequest {
                key,
                client_ip: ip,
                referrer: None,
                cost: 1,
            })
            .await;
    }
    let events = f
        .store
        .list_audit(&AuditFilter::default(), &PageRequest::first(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items;
    let reasons: Vec<_> = events
        .iter()
        .map(|e| e.reason.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.contains(&"revoked") && reasons.contains(&"unknown"));
    let on_record = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("revoked"));
    assert_eq!(
        on_record.and_then(|e| e.target.clone()),
        Some(record.id.clone())
    );
    assert!(events
        .iter()
        .all(|e| e.outcome == Outcome::Failure && e.client_ip == ip && e.action == "key.verify"));

    let quiet = Verifier::builder(f.store.clone())
        .audit_failures(false)
        .build();
    let _ = quiet.verify(VerifyRequest::key(&revoked)).await;
    let after = f
        .store
        .list_audit(&AuditFilter::default(), &PageRequest::first(10))
        .await
        .map(|p| p.items.len());
    assert_eq!(after.ok(), Some(2), "audit_failures(false) writes nothing");
}

#[tokio::test]
async fn the_principal_is_built_once_per_record_and_rebuilt_when_it_changes() {
    let f = fixture();
    let (key, _) = f.key("live", |_| {}).await;
    let first = f
        .verify(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .principal;
    let again = f
        .verify(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .principal;
    assert!(
        std::ptr::eq(first.scopes(), again.scopes()),
        "a second verification reuses the principal"
    );
    // A change written in place is seen by the next verification.
    let hash = f.verifier.hasher().hash(&key);
    let mut record = f
        .store
        .find_by_hash(&hash)
        .await
        .ok()
        .flatten()
        .map(|r| KeyRecord::clone(&r))
        .unwrap_or_else(|| panic!("stored"));
    drop((first, again));
    record.scopes = ScopeSet::parse(["write:exports"]).expect("valid scopes");
    f.store
        .update(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let changed = f
        .verify(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .principal;
    assert!(changed.has_scope("write:exports"));
    assert!(!changed.has_scope("read:scans"));
}

#[tokio::test]
async fn the_verifier_flushes_last_use_on_its_own() {
    let store = Arc::new(MemoryStore::new());
    let verifier = Verifier::builder(store.clone())
        .flush_interval(Some(std::time::Duration::from_millis(20)))
        .build();
    let key = crate::key_format::generate("sk", "live").unwrap_or_else(|e| panic!("{e}"));
    let record = KeyRecord::new(
        verifier.hasher().hash(key.expose()),
        "h",
        "sk",
        "live",
        "n",
        "t",
    );
    store
        .insert(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    verifier
        .verify(VerifyRequest::key(key.expose()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // No flush call here: the verifier's task writes it (polled, bounded to 5 s).
    let mut written = None;
    for _ in 0..250 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        written = store
            .get(&record.id)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.last_used_at);
        if written.is_some() {
            break;
        }
    }
    assert!(written.is_some(), "last use was never written");
}

/// The hot path (`verify_now`) either declines or gives exactly the full path's answer,
/// and it declines every refusal of a stored key (those are audited by the full path).
#[tokio::test]
async fn the_hot_path_answers_only_as_the_full_path_would() {
    let f = fixture();
    let now = f.clock.now();
    let (valid, _) = f.key("live", |_| {}).await;
    let (revoked, _) = f.key("live", |r| r.revoked_at = Some(now)).await;
    let (disabled, _) = f.key("live", |r| r.disabled_at = Some(now)).await;
    let (expired, _) = f
        .key("live", |r| r.expires_at = Some(now + Duration::seconds(1)))
        .await;
    let (in_grace, _) = f
        .key("live", |r| {
            r.rotation = Some(Rotation {
                replaced_by: KeyId::generate(),
                grace_until: now + Duration::hours(1),
            })
        })
        .await;
    let (restricted, _) = f
        .key("live", |r| {
            r.allowed_ips = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())];
            r.allowed_referrers = vec!["app.example.com".into()];
        })
        .await;
    let unknown = key_format::generate("sk", "live").unwrap_or_else(|e| panic!("{e}"));
    let wrong_env = key_format::generate("sk", "test").unwrap_or_else(|e| panic!("{e}"));
    let wrong_prefix = key_format::generate("pk", "live").unwrap_or_else(|e| panic!("{e}"));
    let mut bad_checksum = valid.clone().into_bytes();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] = if bad_checksum[last] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let bad_checksum = String::from_utf8(bad_checksum).expect("UTF-8");

    // Warm every stored key once (the full path builds and keeps its principal).
    for key in [&valid, &in_grace, &restricted, &expired] {
        let warm = VerifyRequest {
            key,
            client_ip: "10.0.0.1".parse().ok(),
            referrer: Some("https://app.example.com/"),
            cost: 1,
        };
        let _ = f.verifier.verify_full(warm).await;
    }
    f.clock.advance(Duration::seconds(2)); // `expired` is now past its expiry

    let cases: Vec<(&str, Option<&str>, Option<&str>, bool)> = vec![
        // key, client IP, referrer, whether the hot path must decline
        (&valid, None, None, false),
        (&in_grace, None, None, false),
        (
            &restricted,
            Some("10.9.9.9"),
            Some("https://app.example.com/a"),
            false,
        ),
        (
            &restricted,
            Some("192.0.2.1"),
            Some("https://app.example.com/a"),
            true,
        ),
        (
            &restricted,
            Some("10.9.9.9"),
            Some("https://evil.example.net/"),
            true,
        ),
        (&restricted, None, None, true),
        (&revoked, None, None, true),
        (&disabled, None, None, true),
        (&expired, None, None, true),
        (unknown.expose(), None, None, true),
        (wrong_env.expose(), None, None, false),
        (wrong_prefix.expose(), None, None, false),
        (&bad_checksum, None, None, false),
        ("not a key at all", None, None, false),
    ];
    for (key, ip, referrer, must_decline) in cases {
        let client_ip = ip.and_then(|ip| ip.parse().ok());
        let hot = f
            .verifier
            .verify_now(key.as_bytes(), client_ip, || referrer, || 1);
        let full = f
            .verifier
            .verify_full(VerifyRequest {
                key,
                client_ip,
                referrer,
                cost: 1,
            })
            .await;
        match hot {
            None => assert!(
                must_decline || full.is_ok(),
                "{key:?}: the hot path declined a request it can answer"
            ),
            Some(hot) => {
                assert!(
                    !must_decline,
                    "{key:?}: the hot path must leave this to the full path"
                );
                assert_eq!(outcome(hot), outcome(full), "{key:?}");
            }
        }
    }
}

/// A key verified on the hot path is counted by the in-process limiter exactly once per
/// request, also when its first request took the full path.
#[tokio::test]
async fn each_request_is_counted_once_whichever_path_answers_it() {
    let f = limited_fixture(
        RateLimits::in_memory()
            .env_default("live", "5/h".parse().unwrap_or_else(|_| unreachable!())),
        None,
    );
    let (key, _) = f.key("live", |_| {}).await;
    let remaining: Vec<Option<u32>> = {
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(status(f.verify(&key).await).map(|(_, remaining, _)| remaining));
        }
        seen
    };
    assert_eq!(
        remaining,
        vec![Some(4), Some(3), Some(2), Some(1), Some(0), None]
    );
}

/// The flush deletes verification counts past their retention (and keeps the rest);
/// with no retention it keeps everything.
#[tokio::test]
async fn the_flush_prunes_verification_counts_past_their_retention() {
    use crate::analytics::{VerificationCount, VerificationFilter, VerificationOutcome};
    for (retention, kept) in [(Some(Duration::days(1)), 1), (None, 2)] {
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::at_unix(1_800_000_000);
        let verifier = Verifier::builder(store.clone())
            .clock(clock.clone())
            .flush_interval(None)
            .analytics_retention(retention)
            .build();
        let now = clock.now();
        let row = |at| VerificationCount {
            key_id: None,
            tenant: None,
            env: None,
            at,
            outcome: VerificationOutcome::Unknown,
            count: 1,
        };
        store
            .record_verifications(&[row(now - Duration::days(2)), row(now - Duration::hours(1))])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        verifier
            .flush_usage()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let left = store
            .verification_counts(&VerificationFilter::between(now - Duration::days(3), now))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(left.len(), kept, "retention {retention:?}: {left:?}");
    }
}

fn violated(r: Result<Verification, AuthError>) -> Option<Vec<String>> {
    match r {
        Err(AuthError::RateLimited {
            report: Some(report),
            ..
        }) => Some(report.violated()),
        _ => None,
    }
}

#[tokio::test]
async fn named_limits_refuse_by_name_and_spend_nothing_else() {
    let f = limited_fixture(RateLimits::in_memory(), None);
    let (key, _) = f
        .key("live", |r| {
            r.rate_limit = "100/h".parse().ok();
            r.limits = crate::rate_limit::NamedLimits::parse([("tiny", "2/h")])
                .unwrap_or_else(|e| panic!("{e}"));
        })
        .await;
    let first = f.verify(&key).await.unwrap_or_else(|e| panic!("{e}"));
    let report = first.rate_limit.unwrap_or_else(|| panic!("limits apply"));
    let names: Vec<_> = report.policies().map(|p| p.name.to_string()).collect();
    assert_eq!(names, ["default", "tiny"]);
    assert_eq!(report.summary().remaining, 1, "tiny binds");
    assert!(f.verify(&key).await.is_ok());
    for _ in 0..5 {
        assert_eq!(
            violated(f.verify(&key).await),
            Some(vec!["tiny".to_owned()])
        );
    }
    // Raising `tiny` shows the own limit spent only by the two allowed requests.
    let mut record = f
        .store
        .find_by_hash(&KeyHasher::Sha256.hash(&key))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("stored"))
        .as_ref()
        .clone();
    record.limits = crate::rate_limit::NamedLimits::parse([("tiny", "1000/h")])
        .unwrap_or_else(|e| panic!("{e}"));
    record.clear_resolved();
    f.store
        .update(&record)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = f.verify(&key).await.unwrap_or_else(|e| panic!("{e}"));
    let own = after
        .rate_limit
        .and_then(|r| r.policies().next().map(|p| p.rate.remaining));
    assert_eq!(own, Some(97), "3 counted: 2 before, this one");
}

#[tokio::test]
async fn a_tenant_limit_is_shared_by_its_keys_per_environment_only() {
    let limits = RateLimits::in_memory()
        .per_tenant(
            "org".parse().unwrap_or_else(|e| panic!("{e}")),
            crate::RateLimitSpec::per_hour(3),
        )
        .per_owner(
            "user".parse().unwrap_or_else(|e| panic!("{e}")),
            crate::RateLimitSpec::per_hour(2),
        );
    let f = limited_fixture(limits, None);
    let (a, _) = f.key("live", |_| {}).await;
    let (b, _) = f.key("live", |_| {}).await;
    let (test_key, _) = f.key("test", |_| {}).await;
    let (other, _) = f.key("live", |r| r.tenant = "globex".to_owned()).await;
    assert!(f.verify(&a).await.is_ok());
    assert!(f.verify(&b).await.is_ok());
    assert!(f.verify(&a).await.is_ok());
    assert_eq!(violated(f.verify(&b).await), Some(vec!["org".to_owned()]));
    assert!(
        f.verify(&test_key).await.is_ok(),
        "a test key spends no live budget"
    );
    assert!(f.verify(&other).await.is_ok(), "another tenant has its own");
    // An owner's keys share `user` (keys without an owner are not limited by it).
    let ann = |r: &mut KeyRecord| {
        r.tenant = "initech".to_owned();
        r.owner = Some("ann".to_owned());
    };
    let (c, _) = f.key("live", ann).await;
    let (d, _) = f.key("live", ann).await;
    assert!(f.verify(&c).await.is_ok());
    assert!(f.verify(&d).await.is_ok());
    assert_eq!(violated(f.verify(&c).await), Some(vec!["user".to_owned()]));
}

#[tokio::test]
async fn a_shadow_limit_never_refuses_and_what_it_would_refuse_is_counted_and_audited() {
    let f = limited_fixture(RateLimits::in_memory(), None);
    let (key, record) = f
        .key("live", |r| {
            r.rate_limit = "100/h".parse().ok();
            r.limits = crate::rate_limit::NamedLimits::parse([("probe", "1/h,shadow")])
                .unwrap_or_else(|e| panic!("{e}"));
        })
        .await;
    for _ in 0..4 {
        let ok = f.verify(&key).await.unwrap_or_else(|e| panic!("{e}"));
        let report = ok
            .rate_limit
            .unwrap_or_else(|| panic!("the own limit applies"));
        let names: Vec<_> = report.policies().map(|p| p.name.to_string()).collect();
        assert_eq!(names, ["default"], "a shadow limit is not advertised");
    }
    // Counted in the own limit, four times.
    let own = f
        .verify(&key)
        .await
        .ok()
        .and_then(|v| v.rate_limit)
        .map(|r| r.summary().remaining);
    assert_eq!(own, Some(95));
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let filter = crate::audit::AuditFilter {
        action: Some("key.shadow_limit".into()),
        ..Default::default()
    };
    let events = f
        .store
        .list_audit(&filter, &crate::store::PageRequest::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .items;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].target.as_ref(), Some(&record.id));
    assert_eq!(
        events[0].count, 4,
        "the first request fit, the next four would not"
    );
    assert_eq!(events[0].reason.as_deref(), Some("would exceed probe"));
    let counts = f
        .store
        .verification_counts(&crate::analytics::VerificationFilter::between(
            f.clock.now() - Duration::hours(1),
            f.clock.now() + Duration::hours(1),
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let shadowed: u64 = counts
        .iter()
        .filter(|c| c.outcome == crate::analytics::VerificationOutcome::ShadowLimited)
        .map(|c| c.count)
        .sum();
    assert_eq!(shadowed, 4);
    // A request the enforced limit refuses is not counted in the shadow one either.
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = f
        .store
        .list_audit(&filter, &crate::store::PageRequest::default())
        .await
        .map(|p| p.items.len());
    assert_eq!(
        again.ok(),
        Some(1),
        "a flush with nothing new writes nothing"
    );
}

#[tokio::test]
async fn with_only_shadow_limits_nothing_is_advertised_or_refused() {
    let limits = RateLimits::in_memory().per_tenant(
        "org".parse().unwrap_or_else(|e| panic!("{e}")),
        crate::RateLimitSpec::per_hour(1).in_shadow(),
    );
    let f = limited_fixture(limits, None);
    let (key, _) = f.key("live", |_| {}).await;
    for _ in 0..3 {
        let ok = f.verify(&key).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(ok.rate_limit.is_none(), "no enforced limit, no headers");
    }
}

#[cfg(test)]
mod credits;
