//! PromQL over HTTP: `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query` and
//! `/api/v1/query_exemplars`, with Prometheus's parameters, checks and answers.
//!
//! Evaluation is CPU-bound and synchronous, so it runs on the blocking pool. Each request
//! carries a [`Cancel`] that is triggered when the handler future is dropped (the client
//! went away), so the engine stops working for nobody.

use super::api_json::{self, JsonBuf, Notes, Timings};
use super::params::{
    self, check_expr_len, limit_param, parse_duration_ns, time_param, with_parse_stack, ApiError,
    ErrorKind, Form, MAX_TIME_MS, MIN_TIME_MS,
};
use super::{unavailable, AppState, Store};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pharos_model::{Exemplar, Labels, Matcher, Queryable};
use pharos_promql::{Cancel, QueryError, QueryOptions, QueryResult, Value};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS: i128 = 11_000;

/// The evaluation side the query API needs; [`pharos_promql::Engine`] is the
/// implementation, tests substitute their own.
pub trait QueryEngine: Send + Sync + 'static {
    fn instant_query(
        &self,
        db: &dyn Queryable,
        query: &str,
        time_ms: i64,
        opts: &QueryOptions,
        cancel: &Cancel,
    ) -> Result<QueryResult, QueryError>;

    #[allow(clippy::too_many_arguments)]
    fn range_query(
        &self,
        db: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &QueryOptions,
        cancel: &Cancel,
    ) -> Result<QueryResult, QueryError>;

    /// The expression pretty-printed, as `/api/v1/format_query` returns it.
    fn format_query(&self, query: &str) -> Result<String, QueryError>;
}

impl QueryEngine for pharos_promql::Engine {
    fn instant_query(
        &self,
        db: &dyn Queryable,
        query: &str,
        time_ms: i64,
        opts: &QueryOptions,
        cancel: &Cancel,
    ) -> Result<QueryResult, QueryError> {
        pharos_promql::Engine::instant_query(self, db, query, time_ms, opts, cancel)
    }

    fn range_query(
        &self,
        db: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &QueryOptions,
        cancel: &Cancel,
    ) -> Result<QueryResult, QueryError> {
        pharos_promql::Engine::range_query(self, db, query, start_ms, end_ms, step_ms, opts, cancel)
    }

    fn format_query(&self, query: &str) -> Result<String, QueryError> {
        pharos_promql::format_query(query)
    }
}

/// Settings of the query API from the `query` config section.
#[derive(Debug, Clone)]
pub struct QuerySettings {
    /// The configured evaluation timeout; a request's `timeout` can only shorten it.
    pub timeout: Duration,
}

/// Lives as long as the handler future: counts the evaluation in flight and, when dropped
/// before the answer is ready (the client disconnected, so the server dropped the
/// future), cancels it so the engine stops working for nobody.
struct InFlight {
    cancel: Cancel,
    state: Arc<AppState>,
    finished: bool,
}

impl InFlight {
    fn new(state: Arc<AppState>) -> Self {
        state.query_metrics.inflight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            cancel: Cancel::new(),
            state,
            finished: false,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let m = &self.state.query_metrics;
        m.inflight.fetch_sub(1, Ordering::Relaxed);
        if !self.finished {
            self.cancel.cancel();
            m.canceled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Maps an engine error onto the API's error types as Prometheus's `returnAPIError` and
/// `invalidParamError` do: expression errors (syntax, or a type a range query cannot
/// take) are about the `query` parameter, since the API checks its other parameters
/// before the engine sees them; storage failures are internal.
pub fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::Parse(msg) | QueryError::BadData(msg) => ApiError::invalid_param("query", msg),
        QueryError::Storage(msg) => ApiError::new(ErrorKind::Internal, msg),
        other => {
            let kind = match other.error_type() {
                "bad_data" => ErrorKind::BadData,
                "timeout" => ErrorKind::Timeout,
                "canceled" => ErrorKind::Canceled,
                _ => ErrorKind::Execution,
            };
            ApiError::new(kind, other.to_string())
        }
    }
}

/// What `/query` and `/query_range` share after their own parameters are read.
#[derive(Debug)]
struct Common {
    query: String,
    limit: usize,
    opts: QueryOptions,
    stats: String,
}

/// `timeout`, `lookback_delta`, `stats`: read after each handler's own parameters, in
/// Prometheus's order, so the first bad parameter reported is the same one.
fn common_params(form: &Form, limit: usize, settings: &QuerySettings) -> Result<Common, ApiError> {
    let timeout = match form.get("timeout") {
        "" => settings.timeout,
        t => {
            let ns = parse_duration_ns(t).map_err(|e| ApiError::invalid_param("timeout", e))?;
            // A negative timeout is an already-passed deadline, as in Go.
            Duration::from_nanos(u64::try_from(ns).unwrap_or(0)).min(settings.timeout)
        }
    };
    let lookback = match form.get("lookback_delta") {
        "" => None,
        d => {
            let ns = parse_duration_ns(d).map_err(|e| {
                ApiError::bad_data(format!("error parsing lookback delta duration: {e}"))
            })?;
            // The engine's default applies to zero and negative values, as in Prometheus.
            Some(ns / 1_000_000).filter(|ms| *ms > 0)
        }
    };
    let query = form.get("query");
    // The engine's parser recurses per nesting level and slows down with the square of
    // it: a hostile expression could exhaust a thread's stack, aborting the server.
    check_expr_len(query).map_err(|e| ApiError::invalid_param("query", e))?;
    Ok(Common {
        query: query.to_owned(),
        limit,
        opts: QueryOptions {
            lookback_delta_ms: lookback,
            timeout: Some(timeout),
        },
        stats: form.get("stats").to_owned(),
    })
}

/// `GET|POST /api/v1/query`
pub async fn query(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let form = match params::read_form(req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let parsed = (|| {
        let limit = limit_param(&form)?;
        let time = time_param(&form, "time", params::now_ms())?;
        Ok::<_, ApiError>((time, common_params(&form, limit, &st.api.query)?))
    })();
    let (time, common) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(store) = st.store() else {
        return unavailable();
    };
    let engine = st.api.engine.clone();
    let query = common.query.clone();
    let opts = common.opts.clone();
    evaluate(st, store, common, move |db, cancel| {
        engine.instant_query(db, &query, time, &opts, cancel)
    })
    .await
}

/// `GET|POST /api/v1/query_range`
pub async fn query_range(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let form = match params::read_form(req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let parsed = range_params(&form, &st.api.query);
    let (start, end, step_ms, common) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(store) = st.store() else {
        return unavailable();
    };
    let engine = st.api.engine.clone();
    let query = common.query.clone();
    let opts = common.opts.clone();
    evaluate(st, store, common, move |db, cancel| {
        engine.range_query(db, &query, start, end, step_ms, &opts, cancel)
    })
    .await
}

fn range_params(
    form: &Form,
    settings: &QuerySettings,
) -> Result<(i64, i64, i64, Common), ApiError> {
    let limit = limit_param(form)?;
    let start =
        params::parse_time(form.get("start")).map_err(|e| ApiError::invalid_param("start", e))?;
    let end = params::parse_time(form.get("end")).map_err(|e| ApiError::invalid_param("end", e))?;
    if end < start {
        return Err(ApiError::invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_ns =
        parse_duration_ns(form.get("step")).map_err(|e| ApiError::invalid_param("step", e))?;
    // The engine steps in milliseconds; a positive step below 1ms would never advance.
    let step_ms = step_ns / 1_000_000;
    if step_ns <= 0 || step_ms == 0 {
        return Err(ApiError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Go divides the (saturating) nanosecond span by the step.
    let span_ns = (i128::from(end) - i128::from(start)) * 1_000_000;
    if span_ns.min(i128::from(i64::MAX)) / i128::from(step_ns) > MAX_POINTS {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let common = common_params(form, limit, settings)?;
    Ok((start, end, step_ms, common))
}

/// Runs one evaluation on the blocking pool and renders its answer.
async fn evaluate<F>(st: Arc<AppState>, store: Arc<dyn Store>, common: Common, run: F) -> Response
where
    F: FnOnce(&dyn Queryable, &Cancel) -> Result<QueryResult, QueryError> + Send + 'static,
{
    let mut in_flight = InFlight::new(st.clone());
    let cancel = in_flight.cancel.clone();
    let submitted = Instant::now();
    let task = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let result = run(store.queryable(), &cancel);
        (result, started.duration_since(submitted), started.elapsed())
    });
    let joined = task.await;
    in_flight.finished = true;
    let (result, queue, eval) = match joined {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, query = %common.query, "query evaluation task failed");
            return ApiError::new(ErrorKind::Internal, "query evaluation failed unexpectedly")
                .into_response();
        }
    };
    let timings = Timings {
        queue,
        eval,
        total: submitted.elapsed(),
    };
    let metrics = &st.query_metrics;
    match result {
        Ok(res) => {
            metrics
                .samples_loaded
                .fetch_add(res.stats.samples_loaded, Ordering::Relaxed);
            render_query(res, &common, &timings)
        }
        Err(e) => {
            if matches!(e, QueryError::Timeout(_)) {
                metrics.timeouts.fetch_add(1, Ordering::Relaxed);
            }
            query_error(e).into_response()
        }
    }
}

/// Prometheus's `truncateResults`: only vectors and matrices are cut.
fn truncate(value: &mut Value, limit: usize) -> bool {
    match value {
        Value::Vector(v) if limit > 0 && v.len() > limit => {
            v.truncate(limit);
            true
        }
        Value::Matrix(m) if limit > 0 && m.len() > limit => {
            m.truncate(limit);
            true
        }
        _ => false,
    }
}

/// Prometheus accepts any non-empty `stats` but warns about values other than these.
fn stats_warning(stats: &str) -> Option<String> {
    match stats {
        "" | "true" | "all" => None,
        other => Some(format!(
            "value {other:?} for parameter \"stats\" is deprecated and will be rejected in the next major release, use \"true\" or \"all\""
        )),
    }
}

fn render_query(mut res: QueryResult, common: &Common, timings: &Timings) -> Response {
    let mut notes = Notes {
        warnings: std::mem::take(&mut res.annotations.warnings),
        infos: std::mem::take(&mut res.annotations.infos),
    };
    if truncate(&mut res.value, common.limit) {
        notes
            .warnings
            .push("results truncated due to limit".to_owned());
    }
    notes.warnings.extend(stats_warning(&common.stats));
    api_json::success(&notes, |j| {
        j.begin_object();
        j.key_string("resultType", res.value.type_name());
        j.key("result");
        api_json::write_result(j, &res.value);
        if !common.stats.is_empty() {
            j.key("stats");
            api_json::write_stats(j, &res.stats, timings);
        }
        j.end_object();
    })
}

/// `GET|POST /api/v1/format_query`
pub async fn format_query(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let form = match params::read_form(req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let query = form.get("query").to_owned();
    if let Err(e) = check_expr_len(&query) {
        return ApiError::invalid_param("query", e).into_response();
    }
    let engine = st.api.engine.clone();
    // Parsing is CPU work proportional to the input; keep it off the async workers.
    match tokio::task::spawn_blocking(move || engine.format_query(&query)).await {
        Ok(Ok(s)) => api_json::success(&Notes::default(), |j| j.string(&s)),
        Ok(Err(e)) => query_error(e).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "format_query task failed");
            ApiError::new(
                ErrorKind::Internal,
                "formatting the query failed unexpectedly",
            )
            .into_response()
        }
    }
}

/// The matcher sets of every vector selector in an expression, one set per selector (or
/// per `or` branch of one). An empty list means the expression selects nothing.
pub fn expression_selectors(query: &str) -> Result<Vec<Vec<Matcher>>, String> {
    check_expr_len(query)?;
    let owned = query.to_owned();
    with_parse_stack(move || {
        let expr = promql_parser::parser::parse(&owned).map_err(|e| format!("parse error: {e}"))?;
        collect_selectors(&expr)
    })
    .ok_or_else(|| "cannot parse query: the parser thread failed".to_owned())?
}

/// Walks the syntax tree with an explicit stack: nesting depth comes from the client.
fn collect_selectors(root: &promql_parser::parser::Expr) -> Result<Vec<Vec<Matcher>>, String> {
    use promql_parser::parser::Expr;
    let mut sets = Vec::new();
    let mut todo: Vec<&Expr> = vec![root];
    while let Some(e) = todo.pop() {
        match e {
            Expr::VectorSelector(vs) => sets.extend(params::selector_matchers(vs)?),
            Expr::MatrixSelector(ms) => sets.extend(params::selector_matchers(&ms.vs)?),
            Expr::Aggregate(a) => {
                todo.push(&a.expr);
                if let Some(p) = &a.param {
                    todo.push(p);
                }
            }
            Expr::Unary(u) => todo.push(&u.expr),
            Expr::Binary(b) => {
                todo.push(&b.lhs);
                todo.push(&b.rhs);
            }
            Expr::Paren(p) => todo.push(&p.expr),
            Expr::Subquery(s) => todo.push(&s.expr),
            Expr::Call(c) => todo.extend(c.args.args.iter().map(|a| a.as_ref())),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    Ok(sets)
}

/// `GET|POST /api/v1/query_exemplars`: exemplars of the series the query's selectors
/// select, within `[start, end]`.
pub async fn query_exemplars(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let form = match params::read_form(req).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let range = (|| {
        let start = time_param(&form, "start", MIN_TIME_MS)?;
        let end = time_param(&form, "end", MAX_TIME_MS)?;
        if end < start {
            return Err(ApiError::bad_data(
                "end timestamp must not be before start timestamp",
            ));
        }
        Ok((start, end))
    })();
    let (start, end) = match range {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some(store) = st.store() else {
        return unavailable();
    };
    let query = form.get("query").to_owned();
    let task = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let sets = expression_selectors(&query).map_err(ApiError::bad_data)?;
        if sets.is_empty() {
            return Ok(None);
        }
        let querier = store
            .queryable()
            .querier(start, end)
            .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
        let mut by_series: BTreeMap<Labels, Vec<Exemplar>> = BTreeMap::new();
        for set in &sets {
            let found = querier
                .exemplars(set)
                .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
            for (labels, exemplars) in found {
                // A series several selectors match is listed once.
                by_series.entry(labels).or_insert(exemplars);
            }
        }
        Ok(Some(by_series))
    });
    match task.await {
        // Prometheus answers 204 with no body for a query without selectors.
        Ok(Ok(None)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(Some(by_series))) => api_json::success(&Notes::default(), |j| {
            write_exemplars(j, &by_series, start, end)
        }),
        Ok(Err(e)) => e.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "query_exemplars task failed");
            ApiError::new(ErrorKind::Internal, "exemplar lookup failed unexpectedly")
                .into_response()
        }
    }
}

fn write_exemplars(
    j: &mut JsonBuf,
    by_series: &BTreeMap<Labels, Vec<Exemplar>>,
    start: i64,
    end: i64,
) {
    j.begin_array();
    for (labels, exemplars) in by_series {
        let in_range: Vec<&Exemplar> = exemplars
            .iter()
            .filter(|e| e.t >= start && e.t <= end)
            .collect();
        if in_range.is_empty() {
            continue;
        }
        j.begin_object();
        j.key("seriesLabels");
        j.labels(labels);
        j.key("exemplars");
        j.begin_array();
        for e in in_range {
            j.begin_object();
            j.key("labels");
            j.labels(&e.labels);
            j.key("value");
            j.string(&api_json::format_sample_value(e.value));
            j.key("timestamp");
            j.timestamp(e.t);
            j.end_object();
        }
        j.end_array();
        j.end_object();
    }
    j.end_array();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_api_errors() {
        let cases = [
            (
                QueryError::Parse("1:5: parse error: unexpected end of input".into()),
                ErrorKind::BadData,
                r#"invalid parameter "query": 1:5: parse error: unexpected end of input"#,
            ),
            (
                QueryError::BadData("invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into()),
                ErrorKind::BadData,
                r#"invalid parameter "query": invalid expression type "range vector" for range query, must be Scalar or instant Vector"#,
            ),
            (
                QueryError::Execution("found duplicate series".into()),
                ErrorKind::Execution,
                "found duplicate series",
            ),
            (
                QueryError::Timeout("query execution".into()),
                ErrorKind::Timeout,
                "query timed out in query execution",
            ),
            (
                QueryError::Canceled("query execution".into()),
                ErrorKind::Canceled,
                "query was canceled in query execution",
            ),
            (
                QueryError::Storage("disk gone".into()),
                ErrorKind::Internal,
                "disk gone",
            ),
        ];
        for (e, kind, msg) in cases {
            let api = query_error(e);
            assert_eq!(api.kind, kind);
            assert_eq!(api.msg, msg);
        }
    }

    fn settings() -> QuerySettings {
        QuerySettings {
            timeout: Duration::from_secs(120),
        }
    }

    fn range(q: &str) -> Result<(i64, i64, i64, Common), ApiError> {
        range_params(&Form::parse(Some(q), None), &settings())
    }

    #[test]
    fn range_parameters() {
        let (start, end, step, c) = range(
            "query=up&start=100&end=1970-01-01T00:16:40.781Z&step=15s&timeout=1m&lookback_delta=30",
        )
        .unwrap();
        assert_eq!((start, end, step), (100_000, 1_000_781, 15_000));
        assert_eq!(c.query, "up");
        assert_eq!(c.opts.timeout, Some(Duration::from_secs(60)));
        assert_eq!(c.opts.lookback_delta_ms, Some(30_000));

        let (_, _, step, c) =
            range("start=0&end=60&step=0.5&timeout=1h&lookback_delta=-1").unwrap();
        assert_eq!(step, 500);
        // A request cannot extend the configured timeout.
        assert_eq!(c.opts.timeout, Some(Duration::from_secs(120)));
        assert_eq!(c.opts.lookback_delta_ms, None);

        let err = |q: &str| range(q).unwrap_err();
        assert_eq!(
            err("start=x&end=1&step=1").msg,
            r#"invalid parameter "start": cannot parse "x" to a valid timestamp"#
        );
        assert_eq!(
            err("end=1&step=1").msg,
            r#"invalid parameter "start": cannot parse "" to a valid timestamp"#
        );
        assert_eq!(
            err("start=2&end=1&step=1").msg,
            r#"invalid parameter "end": end timestamp must not be before start time"#
        );
        assert_eq!(
            err("start=1&end=2&step=abc").msg,
            r#"invalid parameter "step": cannot parse "abc" to a valid duration"#
        );
        for step in ["0", "-1", "0.0001"] {
            assert_eq!(
                err(&format!("start=1&end=2&step={step}")).msg,
                r#"invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer"#
            );
        }
        assert_eq!(
            err("start=0&end=11001&step=1").msg,
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
        );
        assert!(range("start=0&end=11000&step=1").is_ok());
        assert!(err(&format!("start={}&end={}&step=0.001", -9e15, 9e15))
            .msg
            .starts_with("exceeded maximum resolution"));
        assert_eq!(
            err("start=1&end=2&step=1&timeout=soon").msg,
            r#"invalid parameter "timeout": cannot parse "soon" to a valid duration"#
        );
        assert_eq!(
            err("start=1&end=2&step=1&lookback_delta=x").msg,
            r#"error parsing lookback delta duration: cannot parse "x" to a valid duration"#
        );
        let deep = format!("{}up{}", "(".repeat(1_500), ")".repeat(1_500));
        assert_eq!(
            err(&format!("start=1&end=2&step=1&query={deep}")).msg,
            r#"invalid parameter "query": expression has 3000 operators and brackets, more than the limit of 2000"#
        );
        assert_eq!(
            err("limit=-3&start=x").msg,
            r#"invalid parameter "limit": limit must be non-negative"#
        );
    }

    #[test]
    fn truncation_and_stats_warnings() {
        let mut v = Value::Vector(vec![]);
        assert!(!truncate(&mut v, 1));
        let mut s = Value::Scalar { t: 0, v: 1.0 };
        assert!(!truncate(&mut s, 1));
        assert_eq!(stats_warning("all"), None);
        assert_eq!(stats_warning("true"), None);
        assert!(stats_warning("1").unwrap().contains("deprecated"));
    }

    #[test]
    fn selectors_of_expressions() {
        let sets = expression_selectors(
            r#"sum by (job) (rate(a{x="1"}[5m])) / on() group_left b offset 1m + -max_over_time(c[5m:1m]) or count_values("v", d)"#,
        )
        .unwrap();
        let mut names: Vec<String> = sets.iter().map(|s| s[0].value.clone()).collect();
        names.sort();
        assert_eq!(names, vec!["a", "b", "c", "d"]);
        assert!(expression_selectors("1 + 2").unwrap().is_empty());
        assert!(expression_selectors("sum(").is_err());
        // Deep but within the operator limit: parsed on the large stack.
        let deep = format!("{}up{}", "sum(".repeat(900), ")".repeat(900));
        assert_eq!(expression_selectors(&deep).unwrap().len(), 1);
        let chain = format!("{}1", "1+".repeat(60_000));
        assert!(expression_selectors(&chain)
            .unwrap_err()
            .contains("more than the limit"));
    }
}
