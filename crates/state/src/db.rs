//! Opening the database: backend choice, connection settings, pool sizes and the
//! migrations run before anything else touches the tables.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::ConnectOptions;

use crate::error::{Result, StateError};
use crate::migrate;
use crate::{AlertHistory, Alerts, Nflog, RuleStates, Silences, SloSpecs};

/// File name of the SQLite database inside the data directory.
pub const DEFAULT_FILE_NAME: &str = "pharos.db";

/// How long a SQLite statement waits for another connection's write lock before
/// failing with "database is locked". Writes here are small, so a few seconds only
/// runs out when something is badly stuck.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite allows one writer at a time; WAL lets readers run beside it, so a few
/// connections serve concurrent API reads while the notifier writes.
const SQLITE_MAX_CONNECTIONS: u32 = 4;

/// One process with a handful of concurrent writers (notifier, API, rule manager);
/// more connections would only sit idle on the server.
const POSTGRES_MAX_CONNECTIONS: u32 = 8;

/// How long a caller waits for a free pooled connection before an error.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which SQL engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The pool of the chosen backend. Repositories match on it and run the same SQL
/// (written to be valid on both) against either arm.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the backend's pool. The body is expanded once per
/// arm, so it is type-checked against both drivers.
macro_rules! on_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match &$db.pool {
            $crate::db::Pool::Sqlite($p) => $body,
            $crate::db::Pool::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` inside a write transaction bound to `$tx` and commits it; an early
/// return through `?` drops the transaction, which rolls it back.
///
/// SQLite transactions start with `BEGIN IMMEDIATE`: taking the write lock up front
/// makes a busy writer wait (busy timeout) instead of failing when a deferred
/// transaction would later upgrade its read lock.
macro_rules! in_write_tx {
    ($db:expr, $tx:ident => $body:expr) => {
        match &$db.pool {
            $crate::db::Pool::Sqlite(p) => {
                #[allow(unused_mut)]
                let mut $tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::db::Pool::Postgres(p) => {
                #[allow(unused_mut)]
                let mut $tx = p.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

pub(crate) use in_write_tx;
pub(crate) use on_pool;

/// Handle to the control-plane database. Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) pool: Pool,
}

impl Database {
    /// Opens (creating if missing) the SQLite file at `path` and migrates it.
    pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path.as_ref())
            .create_if_missing(true);
        Self::open_sqlite_with(options, false).await
    }

    /// Opens `<dir>/pharos.db`, creating the directory first, as `pharos serve` does
    /// when no database URL is given.
    pub async fn open_data_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
        Self::open_sqlite(dir.join(DEFAULT_FILE_NAME)).await
    }

    /// Connects to `sqlite:<path>` / `sqlite::memory:` or `postgres://…` /
    /// `postgresql://…` and migrates the schema.
    pub async fn connect(url: &str) -> Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(StateError::Connect)?
                    .create_if_missing(true);
                // Every connection to `:memory:` is its own empty database, so such a
                // pool must keep exactly one connection for its whole life.
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                Self::open_sqlite_with(options, in_memory).await
            }
            "postgres" | "postgresql" => {
                let options = PgConnectOptions::from_str(url).map_err(StateError::Connect)?;
                Self::open_postgres(options).await
            }
            _ => Err(StateError::UnsupportedUrl(redact(url))),
        }
    }

    async fn open_sqlite_with(options: SqliteConnectOptions, in_memory: bool) -> Result<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL still survives a killed process (the WAL is written
            // before commit returns); only an OS crash can lose the last commits,
            // and it saves an fsync on every notification-log write.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true)
            // Statement text at INFO would flood the server's log on every
            // notification; slow statements are still reported.
            .disable_statement_logging();
        let mut pool = SqlitePoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        pool = if in_memory {
            pool.max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool.max_connections(SQLITE_MAX_CONNECTIONS)
        };
        let pool = pool
            .connect_with(options)
            .await
            .map_err(StateError::Connect)?;
        migrate::run_sqlite(&pool).await?;
        tracing::info!(backend = "sqlite", "control-plane database ready");
        Ok(Self {
            pool: Pool::Sqlite(pool),
        })
    }

    async fn open_postgres(options: PgConnectOptions) -> Result<Self> {
        let options = options.disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(POSTGRES_MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(StateError::Connect)?;
        migrate::run_postgres(&pool).await?;
        tracing::info!(backend = "postgres", "control-plane database ready");
        Ok(Self {
            pool: Pool::Postgres(pool),
        })
    }

    /// The engine behind this handle.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Waits for in-flight statements, then closes every connection. For SQLite
    /// this also checkpoints the WAL into the main file. Clones of this handle fail
    /// with a closed-pool error afterwards.
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// The newest migration applied, 0 on an empty database; for status pages and
    /// for checking that a database is not ahead of this binary.
    pub async fn schema_version(&self) -> Result<i64> {
        let sql = "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations";
        let version: i64 = on_pool!(self, p => sqlx::query_scalar(sql).fetch_one(p).await)?;
        Ok(version)
    }

    /// Silences (Alertmanager's silence store).
    pub fn silences(&self) -> Silences<'_> {
        Silences { db: self }
    }

    /// The notification log that deduplicates notifications across restarts.
    pub fn nflog(&self) -> Nflog<'_> {
        Nflog { db: self }
    }

    /// The current alerts known to the alert store.
    pub fn alerts(&self) -> Alerts<'_> {
        Alerts { db: self }
    }

    /// The append-only alert history.
    pub fn history(&self) -> AlertHistory<'_> {
        AlertHistory { db: self }
    }

    /// The `for` state of alerting rules.
    pub fn rule_states(&self) -> RuleStates<'_> {
        RuleStates { db: self }
    }

    /// SLO specs created through the API.
    pub fn slo_specs(&self) -> SloSpecs<'_> {
        SloSpecs { db: self }
    }
}

/// Drops the password from a URL before it goes into an error message, which may
/// reach logs and API responses.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_password_only() {
        assert_eq!(
            redact("mysql://bob:secret@db:3306/x"),
            "mysql://bob:***@db:3306/x"
        );
        assert_eq!(redact("mysql://db/x"), "mysql://db/x");
        assert_eq!(redact("nonsense"), "nonsense");
    }

    #[tokio::test]
    async fn unknown_scheme_is_refused() {
        let err = Database::connect("mysql://u:pw@h/db").await.unwrap_err();
        assert!(matches!(err, StateError::UnsupportedUrl(ref u) if !u.contains("pw")));
    }

    #[tokio::test]
    async fn in_memory_url_keeps_one_database() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        assert_eq!(db.backend(), Backend::Sqlite);
        db.rule_states()
            .save_group("g", &[crate::RuleForState::new("r", "fp", 5)])
            .await
            .unwrap();
        assert_eq!(db.rule_states().load_group("g").await.unwrap().len(), 1);
        db.close().await;
    }
}
