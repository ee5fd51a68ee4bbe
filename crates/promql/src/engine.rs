//! The query engine's entry points: parse, plan limits, evaluate, report.

use crate::{QueryError, QueryResult};
use pharos_model::Queryable;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the latest sample (left-open window).
    pub lookback_delta_ms: i64,
    /// Upper bound on samples held in memory at once by one query.
    pub max_samples: usize,
    pub timeout: Duration,
    /// Queries evaluated at once; further ones wait (up to their timeout).
    pub max_concurrent: usize,
    /// Step of a subquery written without one (`x[5m:]`): the global evaluation interval.
    pub default_subquery_step_ms: i64,
    /// Remove `__name__` only when a result leaves the engine, so functions like
    /// `label_replace` can still see it (Prometheus's `promql-delayed-name-removal`).
    pub delayed_name_removal: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60_000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            max_concurrent: 20,
            default_subquery_step_ms: 60_000,
            delayed_name_removal: false,
        }
    }
}

/// Per-query overrides, as the HTTP API's `lookback_delta` and `timeout` parameters.
#[derive(Clone, Debug, Default)]
pub struct QueryOptions {
    pub lookback_delta_ms: Option<i64>,
    pub timeout: Option<Duration>,
}

/// Lets a caller stop a running query, e.g. when the HTTP client goes away.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_canceled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
