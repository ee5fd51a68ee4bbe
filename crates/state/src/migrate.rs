//! Schema migrations, embedded in the binary and applied with sqlx's migrator at
//! open.
//!
//! The SQL lives in `migrations/sqlite/` and `migrations/postgres/`: the two
//! dialects differ in column types and identity columns, so each backend has its own
//! file per version, and both lists must keep the same versions. sqlx records
//! applied versions with checksums in `_sqlx_migrations`, refuses to start on an
//! edited or unknown migration, and on PostgreSQL holds an advisory lock so two
//! instances starting together do not race.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use crate::error::Result;

/// One migration: version, description, SQL.
type Step = (i64, &'static str, &'static str);

const SQLITE: &[Step] = &[
    (
        1,
        "control plane",
        include_str!("../migrations/sqlite/0001_control_plane.sql"),
    ),
    (
        2,
        "slo specs",
        include_str!("../migrations/sqlite/0002_slo_specs.sql"),
    ),
];

const POSTGRES: &[Step] = &[
    (
        1,
        "control plane",
        include_str!("../migrations/postgres/0001_control_plane.sql"),
    ),
    (
        2,
        "slo specs",
        include_str!("../migrations/postgres/0002_slo_specs.sql"),
    ),
];

/// A migration source backed by SQL compiled into the binary, so the server needs
/// no migrations directory at run time and the build needs no sqlx macros.
#[derive(Debug)]
struct Embedded(&'static [Step]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

pub(crate) async fn run_sqlite(pool: &SqlitePool) -> Result<()> {
    Migrator::new(Embedded(SQLITE)).await?.run(pool).await?;
    Ok(())
}

pub(crate) async fn run_postgres(pool: &PgPool) -> Result<()> {
    Migrator::new(Embedded(POSTGRES)).await?.run(pool).await?;
    Ok(())
}

/// The versions both backends carry; the tests compare them with `_sqlx_migrations`.
pub fn versions() -> Vec<i64> {
    SQLITE.iter().map(|s| s.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_have_the_same_versions_in_order() {
        let sqlite: Vec<_> = SQLITE.iter().map(|s| (s.0, s.1)).collect();
        let postgres: Vec<_> = POSTGRES.iter().map(|s| (s.0, s.1)).collect();
        assert_eq!(sqlite, postgres);
        assert!(sqlite.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
