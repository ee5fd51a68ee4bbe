//! The repository suite against SQLite files in temp directories.

#[macro_use]
#[path = "common/suite.rs"]
mod suite;

use pharos_state::{Backend, Database, DEFAULT_FILE_NAME};

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
