use pharos_model::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("data directory {0} is locked by another process")]
    Locked(String),
    #[error("database is closed")]
    Closed,
}

impl TsdbError {
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        TsdbError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    pub fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> Self {
        TsdbError::Corrupt {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

impl From<TsdbError> for StorageError {
    fn from(e: TsdbError) -> Self {
        match e {
            TsdbError::Io { source, .. } => StorageError::Io(source),
            TsdbError::Corrupt { what, detail } => StorageError::Corrupt { what, detail },
            other => StorageError::Other(other.to_string()),
        }
    }
}

pub type Result<T, E = TsdbError> = std::result::Result<T, E>;
