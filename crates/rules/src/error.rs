//! Errors of rule evaluation, worded as Prometheus reports them in `lastError`.

use pharos_promql::QueryError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleEvalError {
    #[error("{0}")]
    Query(#[from] QueryError),
    #[error("vector contains metrics with the same labelset after applying rule labels")]
    DuplicateRecordingLabelSet,
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    DuplicateAlertLabelSet,
    #[error("exceeded limit of {limit} with {got} {what}")]
    Limit {
        limit: i64,
        got: i64,
        what: &'static str,
    },
    /// Storage refused the rule's output.
    #[error("{0}")]
    Append(String),
}
