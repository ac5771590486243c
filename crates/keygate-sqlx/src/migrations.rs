//! The schema, embedded in the binary: `migrations/sqlite/` and `migrations/postgres/`.
//!
//! The files are read with `include_str!` and handed to sqlx's [`Migrator`] through a
//! [`MigrationSource`], so no database is needed at build time and the `macros`
//! feature of sqlx (which would build every driver a second time for the proc-macro)
//! is not. The checksums are sqlx's own, so `sqlx migrate` sees the same history.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// One embedded migration: version, description, SQL.
pub(crate) type Step = (i64, &'static str, &'static str);

#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: &[Step] = &[
    (
        1,
        "keygate",
        include_str!("../migrations/sqlite/0001_keygate.sql"),
    ),
    (
        2,
        "versions owners audit counts",
        include_str!("../migrations/sqlite/0002_versions_owners_audit_counts.sql"),
    ),
    (
        3,
        "role namespaces",
        include_str!("../migrations/sqlite/0003_role_namespaces.sql"),
    ),
    (
        4,
        "disabled keys",
        include_str!("../migrations/sqlite/0004_disabled_keys.sql"),
    ),
    (
        5,
        "verification counts",
        include_str!("../migrations/sqlite/0005_verification_counts.sql"),
    ),
    (
        6,
        "scope use",
        include_str!("../migrations/sqlite/0006_scope_use.sql"),
    ),
    (
        7,
        "named limits",
        include_str!("../migrations/sqlite/0007_named_limits.sql"),
    ),
    (
        8,
        "credits",
        include_str!("../migrations/sqlite/0008_credits.sql"),
    ),
    (
        9,
        "shared limits",
        include_str!("../migrations/sqlite/0009_shared_limits.sql"),
    ),
];

#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: &[Step] = &[
    (
        1,
        "keygate",
        include_str!("../migrations/postgres/0001_keygate.sql"),
    ),
    (
        2,
        "versions owners audit counts",
        include_str!("../migrations/postgres/0002_versions_owners_audit_counts.sql"),
    ),
    (
        3,
        "role namespaces",
        include_str!("../migrations/postgres/0003_role_namespaces.sql"),
    ),
    (
        4,
        "disabled keys",
        include_str!("../migrations/postgres/0004_disabled_keys.sql"),
    ),
    (
        5,
        "verification counts",
        include_str!("../migrations/postgres/0005_verification_counts.sql"),
    ),
    (
        6,
        "scope use",
        include_str!("../migrations/postgres/0006_scope_use.sql"),
    ),
    (
        7,
        "named limits",
        include_str!("../migrations/postgres/0007_named_limits.sql"),
    ),
    (
        8,
        "credits",
        include_str!("../migrations/postgres/0008_credits.sql"),
    ),
    (
        9,
        "shared limits",
        include_str!("../migrations/postgres/0009_shared_limits.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(&'static [Step]);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        let steps = self.0;
        Box::pin(async move {
            Ok(steps
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// The migrator for one backend's steps.
pub(crate) async fn migrator(
    steps: &'static [Step],
) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(steps)).await
}
