//! The crate's one error type.

use thiserror::Error;

/// Everything that can go wrong opening or using the control-plane database.
#[derive(Debug, Error)]
pub enum StateError {
    /// The URL names a backend other than SQLite or PostgreSQL.
    #[error("unsupported database URL scheme in {0:?}: expected sqlite: or postgres://")]
    UnsupportedUrl(String),
    /// Connecting (or creating the SQLite file) failed.
    #[error("cannot open the control-plane database: {0}")]
    Connect(#[source] sqlx::Error),
    /// The data directory for the SQLite file could not be created.
    #[error("cannot create database directory {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Applying the schema migrations failed; the database is left at the last
    /// migration that committed.
    #[error("control-plane database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A statement failed (constraint, connection loss, timeout, ...).
    #[error("control-plane database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A JSON column could not be encoded or decoded.
    #[error("invalid JSON in {column}: {source}")]
    Json {
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A stored value is outside what this version understands, e.g. an unknown
    /// history event kind written by a newer release.
    #[error("invalid value {value:?} in {column}")]
    InvalidValue { column: &'static str, value: String },
    /// A record given by the caller breaks an invariant the tables rely on.
    #[error("invalid {what}: {reason}")]
    InvalidRecord { what: &'static str, reason: String },
    /// A regex label matcher does not compile.
    #[error("invalid regex {value:?} in matcher on label {name:?}: {source}")]
    Regex {
        name: String,
        value: String,
        #[source]
        source: regex::Error,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = StateError> = std::result::Result<T, E>;
