//! Shared limits under attack: a tenant's key reading or setting another tenant's, or
//! raising its own tenant's without `admin:limits`.

use super::tests::fixture;
use super::*;
use crate::rate_limit::NamedLimits;

fn org(spec: &str) -> NamedLimits {
    NamedLimits::parse([("org", spec)]).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn shared_limits_stay_inside_the_tenant_and_need_admin_limits_to_set() {
    let f = fixture();
    let writer = f.actor("acme", None, &["*:api-keys", "read"]).await;
    let admin = f.actor("acme", None, &["*"]).await;
    let m = &f.manager;
    m.set_shared_limits(
        &Actor::system(),
        Some("acme"),
        Some("live"),
        None,
        org("10/m"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // Without admin:limits: read yes, raise no.
    assert_eq!(
        m.shared_limits(&writer, None, None, None).await.ok(),
        Some(org("10/m"))
    );
    let raised = m
        .set_shared_limits(&writer, None, None, None, org("100000/m"))
        .await;
    assert!(
        matches!(&raised, Err(ManageError::Forbidden(m)) if m.contains("admin:limits")),
        "{raised:?}"
    );
    // Another tenant or environment: not found, for reading and setting.
    for (tenant, env) in [(Some("globex"), None), (None, Some("test"))] {
        assert!(matches!(
            m.shared_limits(&admin, tenant, env, None).await,
            Err(ManageError::NotFound)
        ));
        assert!(matches!(
            m.set_shared_limits(&admin, tenant, env, None, org("1/m"))
                .await,
            Err(ManageError::NotFound)
        ));
    }
    // With admin:limits, in its own tenant: set, and audited.
    m.set_shared_limits(&admin, None, None, Some("u1"), org("5/m"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        m.shared_limits(&Actor::system(), Some("acme"), Some("live"), Some("u1"))
            .await
            .ok(),
        Some(org("5/m"))
    );
    assert_eq!(
        m.shared_limits(&Actor::system(), Some("acme"), Some("live"), None)
            .await
            .ok(),
        Some(org("10/m")),
        "the refused writes changed nothing"
    );
    let log = f
        .store
        .list_audit(
            &crate::audit::AuditFilter::default(),
            &PageRequest::first(50),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sets: Vec<_> = log
        .items
        .iter()
        .filter(|e| e.action == "limits.set")
        .map(|e| (e.outcome, e.reason.clone().unwrap_or_default()))
        .collect();
    assert!(
        sets.iter().any(
            |(o, r)| *o == crate::audit::Outcome::Success && r == "owner u1, env live: org=5/m"
        ),
        "{sets:?}"
    );
    assert!(sets
        .iter()
        .any(|(o, _)| *o == crate::audit::Outcome::Failure));
    // The system actor must name both.
    assert!(matches!(
        m.shared_limits(&Actor::system(), Some("acme"), None, None)
            .await,
        Err(ManageError::Invalid(_))
    ));
}
