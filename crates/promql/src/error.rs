//! Query errors, each mapped to the `errorType` of the Prometheus HTTP API.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The expression does not parse, or is not valid (e.g. a selector matching the empty string).
    #[error("{0}")]
    Parse(String),
    /// A request parameter is wrong (e.g. end before start, too many points).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed, e.g. many-to-many matching or too many samples loaded.
    #[error("{0}")]
    Execution(String),
    #[error("query timed out in {0}")]
    Timeout(String),
    #[error("query was canceled in {0}")]
    Canceled(String),
    #[error("{0}")]
    Storage(String),
}

impl QueryError {
    /// `errorType` as Prometheus's API returns it.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::Parse(_) | QueryError::BadData(_) => "bad_data",
            QueryError::Execution(_) | QueryError::Storage(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Canceled(_) => "canceled",
        }
    }
}

impl From<pharos_model::StorageError> for QueryError {
    fn from(e: pharos_model::StorageError) -> Self {
        QueryError::Storage(e.to_string())
    }
}
