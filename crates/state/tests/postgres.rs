//! The repository suite against PostgreSQL servers the tests start themselves (see
//! `common/pg.rs`). Fails, rather than skips, when the server binaries are missing.

#[macro_use]
#[path = "common/suite.rs"]
mod suite;
#[path = "common/pg.rs"]
mod pg;

use pharos_state::{Backend, Database};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPool;

struct Fixture {
    db: Database,
}

async fn open() -> Fixture {
    let url = pg::fresh_database().await;
    let db = Database::connect(&url).await.unwrap();
    assert_eq!(db.backend(), Backend::Postgres);
    Fixture { db }
}

backend_tests!(open =>
    schema_is_migrated,
    silences_crud,
    nflog_roundtrip,
    alerts_roundtrip,
    history_queries,
    history_paging,
    rule_state_groups,
    slo_specs_crud,
    concurrent_writers,
);

/// Closes the pool, restarts the server process itself, reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data() {
    let mut server = pg::PgServer::start();
    server.wait_ready().await;
    let url = pg::create_database(&server.url("postgres"), "restart").await;
    let db = Database::connect(&url).await.unwrap();
    suite::restart_write(&db).await;
    db.close().await;
    server.restart().await;
    let db = Database::connect(&url).await.unwrap();
    suite::restart_check(&db).await;
    db.close().await;
}

/// Two instances migrating one fresh database at once: sqlx's advisory lock must
/// serialize them so both start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_open_migrates_once() {
    let url = pg::fresh_database().await;
    let (a, b) = tokio::join!(Database::connect(&url), Database::connect(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    suite::schema_is_migrated(&a).await;
    suite::schema_is_migrated(&b).await;
    a.close().await;
    b.close().await;
}

/// A database migrated by the release before SLO specs (schema version 1) is
/// migrated to the current version on connect, keeping its rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_version_1() {
    let url = pg::fresh_database().await;
    let v1 = suite::migrations_up_to("postgres", 1);
    let pool = PgPool::connect(&url).await.unwrap();
    Migrator::new(v1.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, 1);
    sqlx::query(suite::V1_SEED).execute(&pool).await.unwrap();
    pool.close().await;

    let db = Database::connect(&url).await.unwrap();
    suite::upgraded_from_v1(&db).await;
    db.close().await;
}
