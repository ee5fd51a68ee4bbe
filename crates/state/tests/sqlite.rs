//! The repository suite against SQLite files in temp directories.

#[macro_use]
#[path = "common/suite.rs"]
mod suite;

use pharos_state::{Backend, Database, DEFAULT_FILE_NAME};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

struct Fixture {
    db: Database,
    _dir: tempfile::TempDir,
}

async fn open() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_data_dir(dir.path()).await.unwrap();
    assert_eq!(db.backend(), Backend::Sqlite);
    Fixture { db, _dir: dir }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_data_dir(dir.path()).await.unwrap();
    suite::restart_write(&db).await;
    db.close().await;
    assert!(
        db.silences().list().await.is_err(),
        "closed handle refuses work"
    );

    // Reopening runs the migrator again, which must find everything applied.
    let url = format!("sqlite://{}", dir.path().join(DEFAULT_FILE_NAME).display());
    let db = Database::connect(&url).await.unwrap();
    suite::restart_check(&db).await;
    db.close().await;
}

#[tokio::test]
async fn file_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_data_dir(dir.path().join("nested"))
        .await
        .unwrap();
    suite::restart_write(&db).await;
    assert!(dir.path().join("nested").join("pharos.db-wal").exists());
    db.close().await;
}

/// A database file written by the release before SLO specs (schema version 1) is
/// migrated to the current version when opened, keeping its rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_version_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DEFAULT_FILE_NAME);
    let v1 = suite::migrations_up_to("sqlite", 1);
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
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

    let db = Database::open_data_dir(dir.path()).await.unwrap();
    suite::upgraded_from_v1(&db).await;
    db.close().await;
    // Opening again finds every migration applied.
    let db = Database::open_sqlite(&path).await.unwrap();
    suite::schema_is_migrated(&db).await;
    assert_eq!(db.slo_specs().list().await.unwrap().len(), 1);
    db.close().await;
}
