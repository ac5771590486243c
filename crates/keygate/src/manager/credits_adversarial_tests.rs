//! Credits under attack: a metered key trying to raise its balance, mint unmetered
//! keys, double its balance by rotating, or reach another tenant's balance.

use super::tests::{fixture, scopes, Fixture};
use super::*;
use crate::credits::CreditGrant;
use crate::AuthError;

/// A key of tenant acme (live) with `list` scopes and `credits`, made by the system;
/// the actor, its id and its plaintext. Verifying it for the actor spent one credit.
async fn metered(f: &Fixture, list: &[&str], credits: Option<u64>) -> (Actor, KeyId, String) {
    let mut new = NewKey::named("metered").tenant("acme").scopes(scopes(list));
    new.credits = credits.map(CreditGrant::new);
    let created = f.create(&Actor::system(), new).await;
    let principal = f.principal(created.key.expose()).await;
    (
        Actor::key(principal),
        created.record.id,
        created.key.expose().to_owned(),
    )
}

fn forbidden_because<T: std::fmt::Debug>(r: &Result<T, ManageError>, why: &str) -> bool {
    matches!(r, Err(ManageError::Forbidden(m)) if m.contains(why))
}

fn set(remaining: u64) -> KeyUpdate {
    KeyUpdate {
        credits: Some(Some(CreditGrant::new(remaining))),
        ..KeyUpdate::default()
    }
}

/// How many of `n` verifications of `key` pass.
async fn passes(f: &Fixture, key: &str, n: usize) -> usize {
    let mut passed = 0;
    for _ in 0..n {
        passed += usize::from(f.verify(key).await.is_ok());
    }
    passed
}

#[tokio::test]
async fn a_key_without_admin_credits_can_neither_give_nor_change_credits() {
    let f = fixture();
    let (writer, _, _) = metered(&f, &["*:api-keys", "read", "write"], None).await;
    let made = f
        .manager
        .create(
            &writer,
            NewKey::named("free")
                .scopes(scopes(&["read"]))
                .credits(CreditGrant::new(1_000_000)),
        )
        .await;
    assert!(forbidden_because(&made, "admin:credits"), "{made:?}");
    let victim = f
        .create(
            &Actor::system(),
            NewKey::named("victim")
                .tenant("acme")
                .scopes(scopes(&["read"]))
                .credits(CreditGrant::new(5)),
        )
        .await;
    let raised = f
        .manager
        .update(&writer, &victim.record.id, set(1_000_000))
        .await;
    assert!(forbidden_because(&raised, "admin:credits"), "{raised:?}");
    let unmetered = KeyUpdate {
        credits: Some(None),
        ..KeyUpdate::default()
    };
    let removed = f
        .manager
        .update(&writer, &victim.record.id, unmetered)
        .await;
    assert!(forbidden_because(&removed, "admin:credits"), "{removed:?}");
    // Nothing was written.
    assert_eq!(passes(&f, victim.key.expose(), 10).await, 5);
}

#[tokio::test]
async fn a_key_may_not_change_its_own_credits_even_with_admin_credits() {
    let f = fixture();
    let (own, id, key) = metered(&f, &["*"], Some(3)).await;
    for change in [set(1_000), set(1)] {
        let res = f.manager.update(&own, &id, change).await;
        assert!(forbidden_because(&res, "its own credits"), "{res:?}");
    }
    // Another key of the tenant it may meter.
    let other = f
        .create(
            &Actor::system(),
            NewKey::named("o").tenant("acme").scopes(scopes(&["read"])),
        )
        .await;
    assert!(f
        .manager
        .update(&own, &other.record.id, set(2))
        .await
        .is_ok());
    assert_eq!(passes(&f, other.key.expose(), 5).await, 2);
    assert_eq!(
        passes(&f, &key, 5).await,
        2,
        "3 less the actor's own verification"
    );
}

#[tokio::test]
async fn keys_a_metered_key_makes_spend_its_balance() {
    let f = fixture();
    let (maker, maker_id, maker_key) = metered(&f, &["*:api-keys", "read"], Some(7)).await;
    let child = f
        .manager
        .create(&maker, NewKey::named("child").scopes(scopes(&["read"])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        child.record.credits.as_ref().map(|c| &c.account),
        Some(&maker_id),
        "the child spends its maker's balance"
    );
    // One balance of 6 for both.
    assert_eq!(passes(&f, child.key.expose(), 4).await, 4);
    assert_eq!(passes(&f, &maker_key, 4).await, 2);
    assert_eq!(passes(&f, child.key.expose(), 1).await, 0);
    // Settled, both rows say 0.
    f.verifier
        .flush_usage()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for id in [&maker_id, &child.record.id] {
        let stored = f.manager.get(&Actor::system(), id).await.ok();
        assert_eq!(stored.and_then(|r| r.credits).map(|c| c.remaining), Some(0));
    }
    // A key with admin:credits may make unmetered keys.
    let (admin, _, _) = metered(&f, &["*"], Some(1)).await;
    let free = f
        .manager
        .create(&admin, NewKey::named("free").scopes(scopes(&["read"])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(free.record.credits.is_none());
}

#[tokio::test]
async fn rotating_passes_the_balance_on_and_never_doubles_it() {
    let f = fixture();
    let (own, id, old_key) = metered(&f, &["*:api-keys", "read"], Some(5)).await;
    assert_eq!(passes(&f, &old_key, 1).await, 1);
    let rotated = f
        .manager
        .rotate(&own, &id, Some(chrono::Duration::hours(1)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // In the grace period both keys work, from one balance of 3.
    assert_eq!(passes(&f, rotated.key.expose(), 2).await, 2);
    assert_eq!(passes(&f, &old_key, 5).await, 1);
    assert_eq!(passes(&f, rotated.key.expose(), 5).await, 0);
    assert!(matches!(
        f.verify(rotated.key.expose()).await,
        Err(AuthError::UsageExceeded { .. })
    ));
}

#[tokio::test]
async fn credits_are_set_inside_the_tenant_boundary_only() {
    let f = fixture();
    let (admin, _, _) = metered(&f, &["*"], None).await;
    let foreign = f
        .create(
            &Actor::system(),
            NewKey::named("globex")
                .tenant("globex")
                .scopes(scopes(&["read"]))
                .credits(CreditGrant::new(1)),
        )
        .await;
    let res = f
        .manager
        .update(&admin, &foreign.record.id, set(1_000))
        .await;
    assert!(matches!(res, Err(ManageError::NotFound)), "{res:?}");
    assert_eq!(passes(&f, foreign.key.expose(), 3).await, 1);
}

#[tokio::test]
async fn bad_credits_are_refused_and_nothing_is_written() {
    let f = fixture();
    let too_many = NewKey::named("x")
        .tenant("acme")
        .credits(CreditGrant::new(crate::credits::MAX_CREDITS + 1));
    let res = f.manager.create(&Actor::system(), too_many).await;
    assert!(matches!(res, Err(ManageError::Invalid(_))), "{res:?}");
    let bad_day = NewKey::named("x").tenant("acme").credits(CreditGrant {
        remaining: 1,
        refill: Some(crate::credits::Refill {
            interval: crate::credits::RefillInterval::Monthly { day: 40 },
            amount: 1,
        }),
    });
    let res = f.manager.create(&Actor::system(), bad_day).await;
    assert!(matches!(res, Err(ManageError::Invalid(_))), "{res:?}");
    let listed = f
        .manager
        .list_matching(
            &Actor::system(),
            crate::store::KeyFilter::all(),
            &crate::store::PageRequest::default(),
        )
        .await
        .map(|p| p.items.len());
    assert_eq!(listed.ok(), Some(0));
}
