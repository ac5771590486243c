//! Namespaced roles through the cache: lookups are cached per (tenant, env, name), and
//! an invalidation by role name must reach every namespace's entry of that name, the
//! loads of it in flight, and the cached keys holding it. Dropping too much is fine;
//! keeping a stale role is a security bug (a role edit or delete must apply at once).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::CountingStore;
use keygate::hash::KeyHasher;
use keygate::role::{Role, RoleNamespace};
use keygate::{Actor, KeyGate, KeyRecord, KeyStore, NewKey, ScopeSet, VerifyRequest};
use keygate_moka::{CachedStore, Invalidation};
use tokio::sync::Semaphore;

fn role(scopes: &[&str], ns: Option<(&str, &str)>) -> Role {
    let role = Role::new(
        "viewer",
        ScopeSet::parse(scopes).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    match ns {
        Some((tenant, env)) => role
            .in_namespace(tenant, env)
            .unwrap_or_else(|e| panic!("{e}")),
        None => role,
    }
}

fn key_of(tenant: &str) -> (String, KeyRecord) {
    let (secret, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k", tenant)
        .unwrap_or_else(|e| panic!("{e}"));
    (secret.expose().to_owned(), record.with_role("viewer"))
}

fn long_lived(store: &Arc<CountingStore>) -> CachedStore<Arc<CountingStore>> {
    CachedStore::builder(Arc::clone(store))
        .ttl(Duration::from_secs(3600))
        .negative_ttl(Duration::from_secs(3600))
        .build()
}

async fn lookup(cache: &impl KeyStore, tenant: &str) -> Option<Vec<String>> {
    cache
        .get_role(tenant, "live", "viewer")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|r| r.scopes.to_strings())
}

#[tokio::test]
async fn lookups_are_cached_per_namespace_and_resolve_to_the_tenants_role_first() {
    let store = CountingStore::new();
    let cache = long_lived(&store);
    for r in [
        role(&["read"], None),
        role(&["read:scans"], Some(("acme", "live"))),
    ] {
        cache.put_role(&r).await.unwrap_or_else(|e| panic!("{e}"));
    }
    for _ in 0..2 {
        assert_eq!(
            lookup(&cache, "acme").await,
            Some(vec!["read:scans".into()])
        );
        assert_eq!(lookup(&cache, "globex").await, Some(vec!["read".into()]));
    }
    assert_eq!(store.role_gets(), 2, "one load per namespace asked");
}

#[tokio::test]
async fn a_role_invalidation_by_name_reaches_every_namespace() {
    // Another process changes globex's `viewer` and deletes the global one, and
    // announces `role:viewer`: the entries of acme, globex and initech must all go,
    // whichever namespace was written.
    let store = CountingStore::new();
    let cache = long_lived(&store);
    cache
        .put_role(&role(&["read"], None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for tenant in ["acme", "globex", "initech"] {
        assert_eq!(lookup(&cache, tenant).await, Some(vec!["read".into()]));
    }
    store
        .memory
        .put_role(&role(&["read:billing"], Some(("globex", "live"))))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .memory
        .delete_role(None, "viewer")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cache.apply(&Invalidation::Role("viewer".into())).await;
    assert_eq!(
        lookup(&cache, "acme").await,
        None,
        "the global role is gone"
    );
    assert_eq!(lookup(&cache, "initech").await, None);
    assert_eq!(
        lookup(&cache, "globex").await,
        Some(vec!["read:billing".into()]),
        "globex's own role"
    );
    // Negative answers too: acme's "no such role" must not outlive acme getting one.
    store
        .memory
        .put_role(&role(&["write"], Some(("acme", "live"))))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cache.apply(&Invalidation::Role("viewer".into())).await;
    assert_eq!(lookup(&cache, "acme").await, Some(vec!["write".into()]));
    assert_eq!(lookup(&cache, "initech").await, None);
}

#[tokio::test]
async fn a_role_invalidation_drops_the_cached_keys_of_every_tenant_holding_it() {
    let store = CountingStore::new();
    let cache = long_lived(&store);
    let gate = KeyGate::builder(cache.clone()).build();
    cache
        .put_role(&role(&["read"], None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (acme_key, acme) = key_of("acme");
    let (globex_key, globex) = key_of("globex");
    for r in [&acme, &globex] {
        cache.insert(r).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let scopes_of = |key: String| {
        let gate = gate.clone();
        async move {
            gate.verify(VerifyRequest::key(&key))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .principal
                .scopes()
                .to_strings()
        }
    };
    assert_eq!(scopes_of(globex_key.clone()).await, vec!["read"]);
    assert_eq!(scopes_of(acme_key.clone()).await, vec!["read"]);
    // Elsewhere: globex gets its own, wider `viewer`.
    store
        .memory
        .put_role(&role(&["read", "write"], Some(("globex", "live"))))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cache.apply(&Invalidation::Role("viewer".into())).await;
    assert_eq!(scopes_of(globex_key).await, vec!["read", "write"]);
    assert_eq!(
        scopes_of(acme_key).await,
        vec!["read"],
        "acme keeps the global role"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_load_in_flight_during_a_delete_is_not_kept() {
    let permits = Arc::new(Semaphore::new(0));
    let store = CountingStore::held(Arc::clone(&permits));
    let cache = long_lived(&store);
    store
        .memory
        .put_role(&role(&["*"], Some(("acme", "live"))))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A lookup reads the role ...
    let pending = tokio::spawn({
        let cache = cache.clone();
        async move { lookup(&cache, "acme").await }
    });
    while store.role_gets() == 0 {
        tokio::task::yield_now().await;
    }
    // ... the role is deleted through the cache while the answer is on its way ...
    let ns = RoleNamespace::new("acme", "live").unwrap_or_else(|e| panic!("{e}"));
    assert!(cache
        .delete_role(Some(&ns), "viewer")
        .await
        .unwrap_or_else(|e| panic!("{e}")));
    permits.add_permits(1);
    let first = pending.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        first,
        Some(vec!["*".into()]),
        "the in-flight read predates the delete"
    );
    // ... so it is not trusted: the next lookup reads the store again.
    permits.add_permits(1);
    assert_eq!(lookup(&cache, "acme").await, None);
    assert_eq!(store.role_gets(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_and_deletes_of_one_name_never_leave_a_stale_role_cached() {
    let ns = RoleNamespace::new("acme", "live").unwrap_or_else(|e| panic!("{e}"));
    for round in 0..20 {
        let store = CountingStore::slow(Duration::from_millis(1));
        let cache = long_lived(&store);
        let writer = {
            let cache = cache.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    let scopes = if i % 2 == 0 { "read" } else { "write" };
                    let _ = cache
                        .put_role(&role(&[scopes], Some(("acme", "live"))))
                        .await;
                    tokio::task::yield_now().await;
                }
            })
        };
        let deleter = {
            let (cache, ns) = (cache.clone(), ns.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    let _ = cache.delete_role(Some(&ns), "viewer").await;
                    tokio::task::yield_now().await;
                }
            })
        };
        let reader = {
            let cache = cache.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    let _ = lookup(&cache, "acme").await;
                }
            })
        };
        for task in [writer, deleter, reader] {
            task.await.unwrap_or_else(|e| panic!("{e}"));
        }
        let stored = lookup(&store.memory, "acme").await;
        assert_eq!(
            lookup(&cache, "acme").await,
            stored,
            "round {round}: the cache answers what the store holds"
        );
    }
}

#[tokio::test]
async fn a_forced_delete_of_a_role_in_use_leaves_its_keys_their_own_scopes_at_once() {
    let store = CountingStore::new();
    let cache = long_lived(&store);
    let gate = KeyGate::builder(cache.clone()).build();
    let manager = gate.manager();
    let sys = Actor::system();
    let acme = role(&["admin"], Some(("acme", "live")));
    manager
        .put_role(&sys, acme.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let created = manager
        .create(
            &sys,
            NewKey::named("held")
                .tenant("acme")
                .role("viewer")
                .scopes(ScopeSet::parse(["read"]).unwrap_or_else(|e| panic!("{e}"))),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let scopes = || async {
        gate.verify(VerifyRequest::key(created.key.expose()))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .principal
            .scopes()
            .to_strings()
    };
    assert_eq!(
        scopes().await,
        vec!["read", "admin"],
        "warm: role resolved and cached"
    );
    assert_eq!(scopes().await, vec!["read", "admin"]);
    let refused = manager
        .delete_role(&sys, acme.namespace(), "viewer", false)
        .await;
    assert!(
        matches!(&refused, Err(e) if e.status() == 409 && e.to_string().contains("1 key")),
        "in use: {refused:?}"
    );
    assert_eq!(scopes().await, vec!["read", "admin"], "refused: unchanged");
    manager
        .delete_role(&sys, acme.namespace(), "viewer", true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        scopes().await,
        vec!["read"],
        "the cached principal and role went with the delete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_that_starts_after_a_delete_never_joins_a_load_from_before_it() {
    let permits = Arc::new(Semaphore::new(0));
    let store = CountingStore::held(Arc::clone(&permits));
    let cache = long_lived(&store);
    store
        .memory
        .put_role(&role(&["*"], Some(("acme", "live"))))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A lookup reads the role and its answer is on the wire ...
    let early = tokio::spawn({
        let cache = cache.clone();
        async move { lookup(&cache, "acme").await }
    });
    while store.role_gets() == 0 {
        tokio::task::yield_now().await;
    }
    // ... the role is deleted (and the cache told) ...
    let ns = RoleNamespace::new("acme", "live").unwrap_or_else(|e| panic!("{e}"));
    assert!(cache
        .delete_role(Some(&ns), "viewer")
        .await
        .unwrap_or_else(|e| panic!("{e}")));
    // ... and a lookup starting now must not be handed the early answer.
    let late = tokio::spawn({
        let cache = cache.clone();
        async move { lookup(&cache, "acme").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    permits.add_permits(16);
    let _ = early.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        late.await.unwrap_or_else(|e| panic!("{e}")),
        None,
        "a lookup begun after the delete answers from after it"
    );
}
