//! Execution of a parsed script against an engine and a storage, with upstream's implicit
//! re-checks of every instant eval (`@` variants and range mode).

use super::compare::{check_annotations, check_error_text, check_sorted, compare_result};
use super::parse::{parse_script, Command, Eval, Load, SeqValue};
use super::rewrite::{
    at_variants, selector_matches, selectors, uses_query_context_functions, AtVariants,
};
use crate::{Cancel, InstantSample, QueryError, QueryOptions, QueryResult, Value};
use pharos_model::{Labels, Queryable, Sample, METRIC_NAME};

/// Where a script's `load` commands put their samples. The runner needs nothing else from
/// storage, so the same scripts can exercise any implementation of [`Queryable`].
pub trait TestStorage {
    /// Drops all stored data (`clear`, and before each file).
    fn clear(&mut self);
    /// Adds samples; series may already exist, and samples may be older than stored ones
    /// (a later `load` can go back in time). Returns why samples were refused, if any were.
    fn load(&mut self, series: Vec<(Labels, Vec<Sample>)>) -> Result<(), String>;
    fn queryable(&self) -> &dyn Queryable;
}

/// The two entry points the scripts need, so the runner can be tested with a fake engine.
pub trait QueryEngine {
    fn instant(&self, q: &dyn Queryable, query: &str, t_ms: i64)
        -> Result<QueryResult, QueryError>;
    fn range(
        &self,
        q: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError>;
}

impl QueryEngine for crate::Engine {
    fn instant(
        &self,
        q: &dyn Queryable,
        query: &str,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.instant_query(q, query, t_ms, &QueryOptions::default(), &Cancel::new())
    }

    fn range(
        &self,
        q: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.range_query(
            q,
            query,
            start_ms,
            end_ms,
            step_ms,
            &QueryOptions::default(),
            &Cancel::new(),
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

/// Why an eval was not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// It expects native histograms or reads series loaded with them; the engine's value
    /// model has no histograms yet.
    NativeHistogram,
}

#[derive(Clone, Debug)]
pub struct EvalOutcome {
    pub line: usize,
    pub query: String,
    pub status: Status,
    /// For failures: the first failing check, prefixed with which run it was.
    pub reason: Option<String>,
    pub skip: Option<SkipReason>,
    /// The query failed as expected but the error text did not match `msg:`/`regex:`.
    /// The eval still passes (message texts may differ for now); reported separately.
    pub message_differs: Option<String>,
    /// Failed only on warn/info annotations; every value check passed.
    pub annotations_only: bool,
    /// Whether the eval checks an error text (`expect fail msg:`/`regex:`).
    pub checks_error_text: bool,
    /// A re-check that could not be built (e.g. the `@` rewrite); informational.
    pub note: Option<String>,
}

/// Everything one script produced.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    pub file: String,
    pub outcomes: Vec<EvalOutcome>,
    /// Problems outside evals: unparsable load blocks, refused samples.
    pub problems: Vec<String>,
}

impl FileReport {
    pub fn count(&self, status: Status) -> usize {
        self.outcomes.iter().filter(|o| o.status == status).count()
    }
}

/// Runs one script. Storage is cleared first, so a storage can be reused across files.
pub fn run_script(
    file: &str,
    text: &str,
    engine: &dyn QueryEngine,
    storage: &mut dyn TestStorage,
) -> FileReport {
    let script = parse_script(text);
    let mut report = FileReport {
        file: file.to_string(),
        ..FileReport::default()
    };
    storage.clear();
    // Label sets holding native histograms since the last `clear`.
    let mut histogram_series: Vec<Labels> = Vec::new();
    for cmd in &script.commands {
        match cmd {
            Command::Clear { .. } => {
                storage.clear();
                histogram_series.clear();
            }
            Command::Load(load) => {
                let (series, nh) = load_samples(load);
                histogram_series.extend(nh);
                if let Err(e) = storage.load(series) {
                    report
                        .problems
                        .push(format!("{file}:{}: load: {e}", load.line));
                }
            }
            Command::Invalid {
                line,
                is_eval,
                text,
                error,
            } => {
                if *is_eval {
                    report.outcomes.push(EvalOutcome {
                        line: *line,
                        query: text.clone(),
                        status: Status::Failed,
                        reason: Some(format!("script does not parse: {error}")),
                        skip: None,
                        message_differs: None,
                        annotations_only: false,
                        checks_error_text: false,
                        note: None,
                    });
                } else {
                    report
                        .problems
                        .push(format!("{file}:{line}: {error} ({text})"));
                }
            }
            Command::Eval(ev) => {
                let outcome = if depends_on_histograms(ev, &histogram_series) {
                    EvalOutcome {
                        line: ev.line,
                        query: ev.query.clone(),
                        status: Status::Skipped,
                        reason: None,
                        skip: Some(SkipReason::NativeHistogram),
                        message_differs: None,
                        annotations_only: false,
                        checks_error_text: ev.fail_checks.iter().any(|c| c.is_specific()),
                        note: None,
                    }
                } else {
                    run_eval(ev, engine, storage.queryable())
                };
                report.outcomes.push(outcome);
            }
        }
    }
    report
}

/// Float samples of a load block, plus the label sets that carry native histograms: series
/// written with `{{…}}` values, and for `load_with_nhcb` the histograms made from classic
/// `_bucket`/`_count`/`_sum` series. Histogram samples themselves are not stored.
fn load_samples(load: &Load) -> (Vec<(Labels, Vec<Sample>)>, Vec<Labels>) {
    let mut series = Vec::with_capacity(load.series.len());
    let mut nh = Vec::new();
    for s in &load.series {
        let mut samples = Vec::with_capacity(s.values.len());
        let mut has_histograms = false;
        for (i, v) in s.values.iter().enumerate() {
            let t = i as i64 * load.interval_ms;
            match v {
                SeqValue::Float(f) => samples.push(Sample { t, v: *f }),
                SeqValue::Histogram => has_histograms = true,
                SeqValue::Omitted => {}
            }
        }
        if has_histograms {
            nh.push(s.labels.clone());
        }
        if load.with_nhcb {
            if let Some(base) = nhcb_base(&s.labels) {
                if !nh.contains(&base) {
                    nh.push(base);
                }
            }
        }
        if !samples.is_empty() {
            series.push((s.labels.clone(), samples));
        }
    }
    (series, nh)
}

/// The native-histogram series a classic histogram series is folded into by
/// `load_with_nhcb`: the name without its suffix and without `le`.
fn nhcb_base(labels: &Labels) -> Option<Labels> {
    let name = labels.metric_name()?;
    let (base, is_bucket) = if let Some(b) = name.strip_suffix("_bucket") {
        (b, true)
    } else if let Some(b) = name.strip_suffix("_count") {
        (b, false)
    } else {
        (name.strip_suffix("_sum")?, false)
    };
    if is_bucket {
        let le: f64 = labels.get("le")?.parse().ok()?;
        if le.is_nan() {
            return None;
        }
    }
    Some(Labels::from_pairs(
        labels.iter().filter(|l| l.name != "le").map(|l| {
            if l.name == METRIC_NAME {
                (l.name.as_str(), base)
            } else {
                (l.name.as_str(), l.value.as_str())
            }
        }),
    ))
}

/// Whether the eval needs native histograms: it expects them, or one of its selectors can
/// match a series that holds them. A query that does not parse here is judged by whether
/// it names such a series (or `__name__`) at all, which errs towards skipping.
fn depends_on_histograms(ev: &Eval, histogram_series: &[Labels]) -> bool {
    if ev.expects_histograms() {
        return true;
    }
    if histogram_series.is_empty() {
        return false;
    }
    match selectors(&ev.query) {
        Ok(sels) => sels
            .iter()
            .any(|vs| histogram_series.iter().any(|l| selector_matches(vs, l))),
        Err(_) => {
            ev.query.contains(METRIC_NAME)
                || histogram_series
                    .iter()
                    .any(|l| l.metric_name().is_some_and(|n| contains_word(&ev.query, n)))
        }
    }
}

fn contains_word(haystack: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    haystack.match_indices(word).any(|(i, _)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Calls the engine, turning a panic into its message: an engine under construction may
/// panic on some query, and that must fail one eval, not end the whole run.
fn guarded(
    f: impl FnOnce() -> Result<QueryResult, QueryError>,
) -> Result<Result<QueryResult, QueryError>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into())
    })
}

/// Collects the result of every check of one eval.
struct Checker<'a> {
    ev: &'a Eval,
    engine: &'a dyn QueryEngine,
    q: &'a dyn Queryable,
    failure: Option<String>,
    annotation_failure: Option<String>,
    message_differs: Option<String>,
}

impl Checker<'_> {
    /// Checks one instant query (the eval itself or an `@` variant) and its range-mode
    /// re-run. Returns false once a value check failed, so the caller can stop.
    fn instant(&mut self, expr: &str, t: i64, label: &str) -> bool {
        let ev = self.ev;
        let res = match guarded(|| self.engine.instant(self.q, expr, t)) {
            Err(p) => {
                self.failure = Some(format!("{label}engine panicked: {p}"));
                return false;
            }
            Ok(Err(e)) => {
                if ev.fail {
                    if let Err(m) = check_error_text(ev, &e.to_string()) {
                        self.message_differs.get_or_insert(format!("{label}{m}"));
                    }
                    return true;
                }
                self.failure = Some(format!("{label}query failed: {e}"));
                return false;
            }
            Ok(Ok(r)) => r,
        };
        if ev.fail {
            self.failure = Some(format!(
                "{label}expected an error, got a {} result",
                res.value.type_name()
            ));
            return false;
        }
        if let Err(m) = check_annotations(ev, &res.annotations) {
            self.annotation_failure.get_or_insert(format!("{label}{m}"));
        }
        if let Err(m) = compare_result(ev, &res.value) {
            self.failure = Some(format!("{label}{m}"));
            return false;
        }
        if ev.excluded_from_range_mode() || uses_query_context_functions(expr) {
            return true;
        }
        match self.range_mode(expr, t, &res.value) {
            Ok(()) => true,
            Err(m) => {
                self.failure = Some(format!(
                    "{label}[range mode {}..{} step 1m] {m}",
                    t - 60_000,
                    t + 60_000
                ));
                false
            }
        }
    }

    /// Runs `expr` from t−1m to t+1m with a 1m step; the middle step must give the same
    /// result as the instant query.
    fn range_mode(&self, expr: &str, t: i64, instant: &Value) -> Result<(), String> {
        let res = guarded(|| {
            self.engine
                .range(self.q, expr, t - 60_000, t + 60_000, 60_000)
        })
        .map_err(|p| format!("engine panicked: {p}"))?
        .map_err(|e| format!("query failed: {e}"))?;
        // Range results are always sorted by labels; the order cannot be compared.
        if self.ev.ordered {
            return Ok(());
        }
        let Value::Matrix(m) = &res.value else {
            return Err(format!(
                "expected a matrix, got a {}",
                res.value.type_name()
            ));
        };
        check_sorted(m)?;
        let middle: Vec<InstantSample> = m
            .iter()
            .filter_map(|s| {
                s.points.iter().find(|p| p.t == t).map(|p| InstantSample {
                    labels: s.labels.clone(),
                    t,
                    v: p.v,
                })
            })
            .collect();
        let value = if matches!(instant, Value::Scalar { .. }) {
            let Some(first) = middle.first() else {
                return Err(format!("no point at t={t} for the scalar result"));
            };
            Value::Scalar { t, v: first.v }
        } else {
            Value::Vector(middle)
        };
        compare_result(self.ev, &value)
    }

    fn range(&mut self) {
        let ev = self.ev;
        let spec = ev.range.expect("range eval");
        match guarded(|| {
            self.engine
                .range(self.q, &ev.query, spec.start_ms, spec.end_ms, spec.step_ms)
        }) {
            Err(p) => self.failure = Some(format!("engine panicked: {p}")),
            Ok(Err(e)) => {
                if ev.fail {
                    if let Err(m) = check_error_text(ev, &e.to_string()) {
                        self.message_differs = Some(m);
                    }
                } else {
                    self.failure = Some(format!("query failed: {e}"));
                }
            }
            Ok(Ok(res)) => {
                if ev.fail {
                    self.failure = Some("expected an error, got a result".into());
                    return;
                }
                if let Err(m) = check_annotations(ev, &res.annotations) {
                    self.annotation_failure = Some(m);
                }
                if let Err(m) = compare_result(ev, &res.value) {
                    self.failure = Some(m);
                }
            }
        }
    }
}

/// Runs one eval with all its checks.
pub fn run_eval(ev: &Eval, engine: &dyn QueryEngine, q: &dyn Queryable) -> EvalOutcome {
    let mut c = Checker {
        ev,
        engine,
        q,
        failure: None,
        annotation_failure: None,
        message_differs: None,
    };
    let mut note = None;
    if ev.is_instant() {
        if c.instant(&ev.query, ev.at_ms, "") {
            match at_variants(&ev.query, ev.at_ms) {
                AtVariants::Run { query, times } => {
                    for t in times {
                        let label = format!("[@ variant at t={t}: {query}] ");
                        if !c.instant(&query, t, &label) {
                            break;
                        }
                    }
                }
                AtVariants::Unsafe(_) => {}
                AtVariants::NotRewritable(why) => {
                    note = Some(format!("@ variants not run: {why}"));
                }
            }
        }
    } else {
        c.range();
    }
    let (status, reason, annotations_only) = match (c.failure, c.annotation_failure) {
        (Some(f), _) => (Status::Failed, Some(f), false),
        (None, Some(a)) => (Status::Failed, Some(a), true),
        (None, None) => (Status::Passed, None, false),
    };
    EvalOutcome {
        line: ev.line,
        query: ev.query.clone(),
        status,
        reason,
        skip: None,
        message_differs: c.message_differs,
        annotations_only,
        checks_error_text: ev.fail_checks.iter().any(|c| c.is_specific()),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Annotations, Point, QueryStats, RangeSeries};
    use pharos_model::{Querier, StorageError};
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Stands in for storage: the fake engine below does not read it.
    struct NoData;
    impl Queryable for NoData {
        fn querier(&self, _: i64, _: i64) -> Result<Box<dyn Querier>, StorageError> {
            Err(StorageError::Other("unused".into()))
        }
    }

    #[derive(Default)]
    struct MemStorage {
        loaded: Vec<(Labels, Vec<Sample>)>,
        clears: usize,
    }
    impl TestStorage for MemStorage {
        fn clear(&mut self) {
            self.loaded.clear();
            self.clears += 1;
        }
        fn load(&mut self, series: Vec<(Labels, Vec<Sample>)>) -> Result<(), String> {
            self.loaded.extend(series);
            Ok(())
        }
        fn queryable(&self) -> &dyn Queryable {
            &NoData
        }
    }

    type Answer = Box<dyn Fn(&str, i64) -> Result<Value, QueryError>>;

    /// An engine whose answer is a function of the query text and time, recording calls.
    struct FakeEngine {
        answer: Answer,
        warnings: Vec<String>,
        calls: RefCell<Vec<String>>,
    }

    fn ok(value: Value, warnings: &[String]) -> QueryResult {
        QueryResult {
            value,
            annotations: Annotations {
                warnings: warnings.to_vec(),
                infos: vec![],
            },
            stats: QueryStats::default(),
        }
    }

    impl QueryEngine for FakeEngine {
        fn instant(
            &self,
            _: &dyn Queryable,
            query: &str,
            t: i64,
        ) -> Result<QueryResult, QueryError> {
            self.calls.borrow_mut().push(format!("instant {t} {query}"));
            (self.answer)(query, t).map(|v| ok(v, &self.warnings))
        }
        fn range(
            &self,
            _: &dyn Queryable,
            query: &str,
            start: i64,
            end: i64,
            step: i64,
        ) -> Result<QueryResult, QueryError> {
            self.calls
                .borrow_mut()
                .push(format!("range {start} {end} {step} {query}"));
            // Builds the matrix from instant answers, as a consistent engine would.
            let mut by_labels: HashMap<Labels, Vec<Point>> = HashMap::new();
            let mut t = start;
            while t <= end {
                match (self.answer)(query, t)? {
                    Value::Vector(v) => {
                        for s in v {
                            by_labels
                                .entry(s.labels)
                                .or_default()
                                .push(Point { t, v: s.v });
                        }
                    }
                    Value::Scalar { v, .. } => by_labels
                        .entry(Labels::empty())
                        .or_default()
                        .push(Point { t, v }),
                    other => {
                        return Err(QueryError::BadData(format!(
                            "invalid expression type {}",
                            other.type_name()
                        )))
                    }
                }
                t += step;
            }
            let mut m: Vec<RangeSeries> = by_labels
                .into_iter()
                .map(|(labels, points)| RangeSeries { labels, points })
                .collect();
            m.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(ok(Value::Matrix(m), &self.warnings))
        }
    }

    fn engine(f: impl Fn(&str, i64) -> Result<Value, QueryError> + 'static) -> FakeEngine {
        FakeEngine {
            answer: Box::new(f),
            warnings: vec![],
            calls: RefCell::new(vec![]),
        }
    }

    fn vector(pairs: &[(&str, f64)]) -> Value {
        Value::Vector(
            pairs
                .iter()
                .map(|(g, v)| InstantSample {
                    labels: Labels::from_pairs([("g", *g)]),
                    t: 0,
                    v: *v,
                })
                .collect(),
        )
    }

    fn run(text: &str, e: &FakeEngine) -> FileReport {
        let mut st = MemStorage::default();
        run_script("t.test", text, e, &mut st)
    }

    #[test]
    fn instant_eval_runs_at_variants_and_range_mode() {
        let e = engine(|_, _| Ok(vector(&[("a", 1.0)])));
        let r = run("eval instant at 50m foo\n  {g=\"a\"} 1\n", &e);
        assert_eq!(r.outcomes[0].status, Status::Passed, "{:?}", r.outcomes[0]);
        let calls = e.calls.borrow();
        // Main + 5 @ variants, each with its range-mode re-run.
        assert_eq!(calls.len(), 12, "{calls:?}");
        assert_eq!(calls[0], "instant 3000000 foo");
        assert_eq!(calls[1], "range 2940000 3060000 60000 foo");
        assert!(calls
            .iter()
            .any(|c| c == "instant -30000000 foo @ 3000.000"));
    }

    #[test]
    fn at_variant_failure_fails_the_eval() {
        // An engine that ignores @ and answers by evaluation time fails the variants.
        let e = engine(|_, t| Ok(vector(&[("a", if t == 3_000_000 { 1.0 } else { 2.0 })])));
        let r = run("eval instant at 50m foo\n  {g=\"a\"} 1\n", &e);
        let o = &r.outcomes[0];
        assert_eq!(o.status, Status::Failed);
        assert!(
            o.reason
                .as_ref()
                .unwrap()
                .contains("@ variant at t=-30000000"),
            "{o:?}"
        );
    }

    #[test]
    fn unsafe_functions_skip_at_variants_only() {
        let e = engine(|_, _| Ok(vector(&[("a", 1.0)])));
        let r = run("eval instant at 1m time() + foo\n  {g=\"a\"} 1\n", &e);
        assert_eq!(r.outcomes[0].status, Status::Passed);
        assert_eq!(e.calls.borrow().len(), 2);
    }

    #[test]
    fn expected_failure_and_message_text() {
        let e = engine(|_, _| Err(QueryError::Execution("boom".into())));
        let r = run("eval instant at 0 foo\n  expect fail msg: bang\n", &e);
        let o = &r.outcomes[0];
        assert_eq!(o.status, Status::Passed);
        assert!(o.message_differs.is_some());
        assert!(o.checks_error_text);
        let r = run("eval instant at 0 foo\n  expect fail msg: boom\n", &e);
        assert!(r.outcomes[0].message_differs.is_none());
        let r = run("eval range from 0 to 1m step 1m foo\n  expect fail\n", &e);
        assert_eq!(r.outcomes[0].status, Status::Passed);
        let r = run("eval instant at 0 foo\n  {g=\"a\"} 1\n", &e);
        assert_eq!(r.outcomes[0].status, Status::Failed);

        let e = engine(|_, _| Ok(vector(&[])));
        let r = run("eval instant at 0 foo\n  expect fail\n", &e);
        assert_eq!(r.outcomes[0].status, Status::Failed);
    }

    #[test]
    fn annotations_only_failures_are_flagged() {
        let mut e = engine(|_, _| Ok(vector(&[("a", 1.0)])));
        e.warnings = vec!["PromQL warning: x (1:1)".into()];
        let r = run(
            "eval instant at 1m foo\n  expect no_warn\n  {g=\"a\"} 1\n",
            &e,
        );
        assert_eq!(r.outcomes[0].status, Status::Failed);
        assert!(r.outcomes[0].annotations_only);
        let r = run("eval instant at 1m foo\n  expect warn\n  {g=\"a\"} 1\n", &e);
        assert_eq!(r.outcomes[0].status, Status::Passed);
    }

    #[test]
    fn range_eval() {
        let e = engine(|_, t| Ok(vector(&[("a", t as f64 / 60_000.0)])));
        let r = run(
            "eval range from 0 to 2m step 1m foo\n  {g=\"a\"} 0 1 2\n",
            &e,
        );
        assert_eq!(r.outcomes[0].status, Status::Passed, "{:?}", r.outcomes[0]);
        let r = run(
            "eval range from 0 to 2m step 1m foo\n  {g=\"a\"} 0 1 3\n",
            &e,
        );
        assert_eq!(r.outcomes[0].status, Status::Failed);
    }

    #[test]
    fn scalar_in_range_mode() {
        let e = engine(|_, t| Ok(Value::Scalar { t, v: 2.0 }));
        let r = run("eval instant at 1m 1 + 1\n  2\n", &e);
        assert_eq!(r.outcomes[0].status, Status::Passed, "{:?}", r.outcomes[0]);
    }

    #[test]
    fn ordered_skips_range_mode_comparison() {
        let e = engine(|_, _| Ok(vector(&[("b", 2.0), ("a", 1.0)])));
        let r = run(
            "eval instant at 1m sort_desc(foo)\n  expect ordered\n  {g=\"b\"} 2\n  {g=\"a\"} 1\n",
            &e,
        );
        assert_eq!(r.outcomes[0].status, Status::Passed, "{:?}", r.outcomes[0]);
    }

    #[test]
    fn histogram_dependencies_are_skipped() {
        let e = engine(|_, _| Ok(vector(&[])));
        let text = "load 1m\n  h{job=\"a\"} {{schema:0 sum:1 count:1}} 1\n  f 1 2\n\n\
                    eval instant at 1m h\n\n\
                    eval instant at 1m f\n\n\
                    eval instant at 1m {__name__=~\".+\"}\n\n\
                    eval instant at 1m f\n  {} {{schema:0 sum:1 count:1}}\n\n\
                    clear\n\n\
                    eval instant at 1m h\n";
        let r = run(text, &e);
        let st: Vec<Status> = r.outcomes.iter().map(|o| o.status).collect();
        assert_eq!(
            st,
            vec![
                Status::Skipped,
                Status::Passed,
                Status::Skipped,
                Status::Skipped,
                Status::Passed
            ]
        );
    }

    #[test]
    fn loads_floats_with_timestamps_and_nhcb_bases() {
        let load = match parse_script(
            "load_with_nhcb 5m\n  x_bucket{le=\"1\", j=\"a\"} 1 _ 3 {{schema:0 sum:1 count:1}}\n  x_count{j=\"a\"} 4\n",
        )
        .commands
        .remove(0)
        {
            Command::Load(l) => l,
            other => panic!("{other:?}"),
        };
        let (series, nh) = load_samples(&load);
        let bucket = &series
            .iter()
            .find(|(l, _)| l.metric_name() == Some("x_bucket"))
            .unwrap()
            .1;
        assert_eq!(
            bucket,
            &vec![Sample { t: 0, v: 1.0 }, Sample { t: 600_000, v: 3.0 }]
        );
        assert!(nh.contains(&Labels::from_pairs([("__name__", "x"), ("j", "a")])));
        assert_eq!(nh.len(), 2, "{nh:?}");
    }

    #[test]
    fn engine_panics_fail_only_that_eval() {
        let e = engine(|q, _| {
            if q == "boom" {
                panic!("kaboom");
            }
            Ok(vector(&[]))
        });
        let r = run(
            "eval instant at 1m boom\n  expect fail\n\neval instant at 1m fine\n",
            &e,
        );
        assert_eq!(r.outcomes[0].status, Status::Failed);
        assert!(r.outcomes[0].reason.as_ref().unwrap().contains("kaboom"));
        assert_eq!(r.outcomes[1].status, Status::Passed);
    }

    #[test]
    fn invalid_eval_counts_as_failed() {
        let e = engine(|_, _| Ok(vector(&[])));
        let r = run(
            "eval instant at 1m foo\n  {} 1 2\n\nload bogus\n  a 1\n",
            &e,
        );
        assert_eq!(r.outcomes.len(), 1);
        assert_eq!(r.outcomes[0].status, Status::Failed);
        assert_eq!(r.problems.len(), 1);
    }
}
