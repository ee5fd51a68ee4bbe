//! The query engine's entry points: parse, plan limits, evaluate, report.

use crate::eval::syntax::{self, Prepared, QueryTimes};
use crate::eval::{Evaluator, Grid, Settings, Val};
use crate::value::{InstantSample, RangeSeries};
use crate::{QueryError, QueryResult, Value};
use pharos_model::{Labels, Queryable};
use promql_parser::parser::{value::ValueType, Expr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

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

/// The most points a range query may return per series, as Prometheus's API allows.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Counts the queries running now, so that at most `max_concurrent` run at once.
#[derive(Default)]
struct Gate {
    running: Mutex<usize>,
    freed: Condvar,
}

/// A slot among the concurrently running queries, given back on drop.
struct Permit<'g>(&'g Gate);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut n = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        drop(n);
        self.0.freed.notify_one();
    }
}

/// Evaluates PromQL queries against any [`Queryable`].
pub struct Engine {
    opts: EngineOptions,
    gate: Gate,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        register_holt_winters();
        Engine {
            opts,
            gate: Gate::default(),
        }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at `time_ms`.
    pub fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        time_ms: i64,
        opts: &QueryOptions,
        cancel: &Cancel,
    ) -> Result<QueryResult, QueryError> {
        let times = QueryTimes {
            start: time_ms,
            end: time_ms,
            step: 0,
        };
        let (prepared, expr) = parse(query, times)?;
        let deadline = self.deadline(opts);
        let _permit = self.enter(deadline, cancel)?;
        let settings = self.settings(opts, deadline, time_ms, time_ms, 0);
        let mut ev = Evaluator::new(storage, cancel, &prepared.text, &expr, settings);
        ev.set_extensions(&prepared.extensions);
        let val = ev.eval(&expr, Grid::instant(time_ms))?;
        let value = match val {
            Val::Scalar(v) => Value::Scalar {
                t: time_ms,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            Val::String(s) => Value::String { t: time_ms, v: s },
            Val::Vector(series) => {
                let series = ev.finish_names(series)?;
                Value::Vector(
                    series
                        .into_iter()
                        .filter_map(|s| {
                            let v = s.points.first()?.v;
                            Some(InstantSample {
                                labels: s.labels,
                                t: time_ms,
                                v,
                            })
                        })
                        .collect(),
                )
            }
            Val::Matrix(series) => Value::Matrix(to_matrix(ev.finish_names(series)?)),
        };
        ev.check_deadline()?;
        Ok(QueryResult {
            value,
            annotations: ev.take_annotations(),
            stats: ev.stats.clone(),
        })
    }

    /// Evaluates `query` at `start_ms`, `start_ms + step_ms`, … up to `end_ms`.
    #[allow(clippy::too_many_arguments)]
    pub fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &QueryOptions,
        cancel: &Cancel,
    ) -> Result<QueryResult, QueryError> {
        if end_ms < start_ms {
            return Err(QueryError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        if step_ms <= 0 {
            return Err(QueryError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if (end_ms as i128 - start_ms as i128) / step_ms as i128 > MAX_POINTS_PER_SERIES as i128 {
            return Err(QueryError::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        let times = QueryTimes {
            start: start_ms,
            end: end_ms,
            step: step_ms,
        };
        let (prepared, expr) = parse(query, times)?;
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => {
                return Err(QueryError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                documented_type(other)
            )))
            }
        }
        let deadline = self.deadline(opts);
        let _permit = self.enter(deadline, cancel)?;
        let grid = Grid::new(start_ms, end_ms, step_ms);
        let settings = self.settings(opts, deadline, start_ms, end_ms, step_ms);
        let mut ev = Evaluator::new(storage, cancel, &prepared.text, &expr, settings);
        ev.set_extensions(&prepared.extensions);
        let val = ev.eval(&expr, grid)?;
        let series = match val {
            Val::Scalar(v) => vec![RangeSeries {
                labels: Labels::empty(),
                points: grid
                    .iter()
                    .zip(v)
                    .map(|((_, t), v)| crate::Point { t, v })
                    .collect(),
            }],
            Val::Vector(series) => to_matrix(ev.finish_names(series)?),
            other => {
                return Err(QueryError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                other.type_name()
            )))
            }
        };
        ev.check_deadline()?;
        Ok(QueryResult {
            value: Value::Matrix(series),
            annotations: ev.take_annotations(),
            stats: ev.stats.clone(),
        })
    }

    fn deadline(&self, opts: &QueryOptions) -> Instant {
        let timeout = opts.timeout.unwrap_or(self.opts.timeout);
        let now = Instant::now();
        now.checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
    }

    fn settings(
        &self,
        opts: &QueryOptions,
        deadline: Instant,
        start: i64,
        end: i64,
        step: i64,
    ) -> Settings {
        Settings {
            lookback_ms: opts
                .lookback_delta_ms
                .filter(|l| *l > 0)
                .unwrap_or(self.opts.lookback_delta_ms)
                .max(1),
            max_samples: self.opts.max_samples,
            default_subquery_step_ms: self.opts.default_subquery_step_ms.max(1),
            delayed_name_removal: self.opts.delayed_name_removal,
            deadline: Some(deadline),
            query_start: start,
            query_end: end,
            query_step: step,
        }
    }

    /// Waits for a free slot among the concurrently running queries, until the
    /// query's deadline.
    fn enter(&self, deadline: Instant, cancel: &Cancel) -> Result<Permit<'_>, QueryError> {
        let max = self.opts.max_concurrent.max(1);
        let mut n = self.gate.running.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= max {
            if cancel.is_canceled() {
                return Err(QueryError::Canceled("query queue".into()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(QueryError::Timeout("query queue".into()));
            }
            // Wake up now and then to notice a cancellation.
            let wait = (deadline - now).min(Duration::from_millis(50));
            n = self
                .gate
                .freed
                .wait_timeout(n, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        *n += 1;
        Ok(Permit(&self.gate))
    }
}

/// Accepts `holt_winters`, Prometheus 2.x's name of `double_exponential_smoothing`,
/// which existing dashboards and rules still use.
fn register_holt_winters() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use promql_parser::parser::Function;
        let f = Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        );
        // An error means the parser already knows the name, which is just as good.
        let _ = promql_parser::parser::register_extra_functions(vec![f]);
    });
}

fn documented_type(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
    }
}

fn to_matrix(series: Vec<crate::eval::Series>) -> Vec<RangeSeries> {
    let mut out: Vec<RangeSeries> = series
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .map(|s| RangeSeries {
            labels: s.labels,
            points: s.points,
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// Parses a query, after resolving the syntax the parser does not know. The parser is
/// third-party code fed with user input, so a panic in it is turned into a parse error
/// rather than taking the process down.
fn parse(query: &str, times: QueryTimes) -> Result<(Prepared, Expr), QueryError> {
    let prepared = syntax::prepare(query, times)
        .map_err(|e| QueryError::Parse(format!("parse error: {e}")))?;
    let text = prepared.text.as_str();
    let result = std::panic::catch_unwind(|| promql_parser::parser::parse(text));
    match result {
        Ok(Ok(expr)) if too_deep(&expr) => Err(QueryError::Parse(format!(
            "parse error: expression nested more than {MAX_DEPTH} levels deep"
        ))),
        Ok(Ok(expr)) => Ok((prepared, expr)),
        Ok(Err(msg)) => Err(QueryError::Parse(format!("parse error: {msg}"))),
        Err(_) => Err(QueryError::Parse("parse error: invalid query".into())),
    }
}

/// Evaluation recurses along the expression tree; bounding its depth keeps a hostile
/// query from exhausting the stack.
const MAX_DEPTH: usize = 1000;

fn too_deep(root: &Expr) -> bool {
    let mut stack = vec![(root, 1usize)];
    while let Some((e, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return true;
        }
        stack.extend(crate::eval::children(e).into_iter().map(|c| (c, depth + 1)));
    }
    false
}

/// Pretty-printed canonical form for /api/v1/format_query.
pub fn format_query(query: &str) -> Result<String, QueryError> {
    let times = QueryTimes {
        start: 0,
        end: 0,
        step: 0,
    };
    register_holt_winters();
    // Prefer the query as written; only syntax the parser lacks needs resolving first.
    let raw = std::panic::catch_unwind(|| promql_parser::parser::parse(query));
    let expr = match raw {
        Ok(Ok(expr)) if !too_deep(&expr) => expr,
        _ => parse(query, times)?.1,
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| expr.prettify()))
        .map_err(|_| QueryError::Parse("parse error: cannot format query".into()))
}
