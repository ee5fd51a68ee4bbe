//! Evaluation of a parsed expression over a grid of evaluation steps.
//!
//! As in Prometheus's engine, every node is evaluated once for all steps of the query:
//! an instant-vector node yields, per series, one point per step at which it has a
//! value (the point's time is the step's time), a scalar node yields one value per
//! step. Selectors read each series from storage once for the whole window the query
//! needs and then slide over it step by step. An instant query is a grid of one step.

pub(crate) mod aggregate;
pub(crate) mod binary;
pub(crate) mod call;
pub(crate) mod call_range;
pub(crate) mod extended;
pub(crate) mod histogram;
pub(crate) mod info;
pub(crate) mod labels;
pub(crate) mod position;
pub(crate) mod selector;
pub(crate) mod syntax;

#[cfg(test)]
mod tests;

use crate::value::{Annotations, Point, QueryStats};
use crate::{Cancel, QueryError};
use pharos_model::{Labels, Queryable};
use promql_parser::parser::Expr;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

pub(crate) type Result<T> = std::result::Result<T, QueryError>;

/// The evaluation steps of a node: `start`, `start + step`, … up to `end` inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Grid {
    /// One step at `t`. The step width of an instant evaluation is never used to move
    /// in time, only to tell steps apart, so any positive value does.
    pub fn instant(t: i64) -> Grid {
        Grid {
            start: t,
            end: t,
            step: 1,
        }
    }

    /// A grid whose `end` is the last step at or before the requested end.
    pub fn new(start: i64, end: i64, step: i64) -> Grid {
        let step = step.max(1);
        if end <= start {
            return Grid {
                start,
                end: start,
                step,
            };
        }
        let span = (end as i128 - start as i128) / step as i128 * step as i128;
        Grid {
            start,
            end: (start as i128 + span) as i64,
            step,
        }
    }

    pub fn len(&self) -> usize {
        if self.end < self.start {
            return 0;
        }
        let n = (self.end as i128 - self.start as i128) / self.step as i128 + 1;
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    pub fn ts(&self, i: usize) -> i64 {
        self.start
            .saturating_add((i as i64).saturating_mul(self.step))
    }

    /// The step index of a point time produced on this grid.
    pub fn index(&self, t: i64) -> usize {
        ((t as i128 - self.start as i128) / self.step as i128).max(0) as usize
    }

    pub fn is_instant(&self) -> bool {
        self.start == self.end
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, i64)> + '_ {
        (0..self.len()).map(move |i| (i, self.ts(i)))
    }
}

/// One series of a vector-valued node (points at step times) or of a range source
/// (points at sample times).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    pub labels: Labels,
    /// `__name__` is to be removed when the result leaves the engine (delayed name
    /// removal); without that option the label is removed right away instead.
    pub drop_name: bool,
    pub points: Vec<Point>,
}

impl Series {
    pub fn new(labels: Labels, drop_name: bool, points: Vec<Point>) -> Series {
        Series {
            labels,
            drop_name,
            points,
        }
    }
}

/// The value of a node over all steps of its grid.
#[derive(Debug)]
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    String(String),
    Vector(Vec<Series>),
    /// Only produced by a range-vector expression at the top of an instant query.
    Matrix(Vec<Series>),
}

impl Val {
    fn sample_count(&self) -> usize {
        match self {
            Val::Scalar(v) => v.len(),
            Val::String(_) => 0,
            Val::Vector(s) | Val::Matrix(s) => s.iter().map(|s| s.points.len()).sum(),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::String(_) => "string",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
        }
    }
}

/// What one query evaluates under.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub lookback_ms: i64,
    pub max_samples: usize,
    pub default_subquery_step_ms: i64,
    pub delayed_name_removal: bool,
    pub deadline: Option<Instant>,
    /// Query start, end and step (0 for instant queries), for `@ start()`, `@ end()`,
    /// `start()`, `end()`, `range()` and `step()`.
    pub query_start: i64,
    pub query_end: i64,
    pub query_step: i64,
}

pub(crate) struct Evaluator<'a> {
    storage: &'a dyn Queryable,
    cancel: &'a Cancel,
    query: &'a str,
    root: &'a Expr,
    pub(crate) settings: Settings,
    /// Samples held in memory right now, the quantity `max_samples` limits.
    cur_samples: usize,
    pub(crate) stats: QueryStats,
    annotations: Annotations,
    seen_annotations: HashSet<String>,
    positions: Option<HashMap<usize, usize>>,
    non_utf8: Option<Vec<(String, String)>>,
    /// `anchored`/`smoothed` per selector (by the address of its `VectorSelector`).
    extensions: HashMap<usize, syntax::Extension>,
    ticks: u32,
}

pub(crate) const TOO_MANY_SAMPLES: &str =
    "query processing would load too many samples into memory in query execution";
pub(crate) const DUPLICATE_LABELSET: &str = "vector cannot contain metrics with the same labelset";

impl<'a> Evaluator<'a> {
    pub fn new(
        storage: &'a dyn Queryable,
        cancel: &'a Cancel,
        query: &'a str,
        root: &'a Expr,
        settings: Settings,
    ) -> Evaluator<'a> {
        Evaluator {
            storage,
            cancel,
            query,
            root,
            settings,
            cur_samples: 0,
            stats: QueryStats::default(),
            annotations: Annotations::default(),
            seen_annotations: HashSet::new(),
            positions: None,
            non_utf8: None,
            extensions: HashMap::new(),
            ticks: 0,
        }
    }

    pub fn set_extensions(&mut self, found: &[(usize, syntax::Extension)]) {
        self.extensions = position::selector_extensions(self.query, self.root, found);
    }

    pub fn extension_of(
        &self,
        vs: &promql_parser::parser::VectorSelector,
    ) -> Option<syntax::Extension> {
        self.extensions.get(&(vs as *const _ as usize)).copied()
    }

    pub fn take_annotations(&mut self) -> Annotations {
        std::mem::take(&mut self.annotations)
    }

    /// Fails once the query is canceled or past its deadline. Called per series and
    /// per step; the clock is read only every few calls.
    pub fn check(&mut self) -> Result<()> {
        if self.cancel.is_canceled() {
            return Err(QueryError::Canceled("expression evaluation".into()));
        }
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(64) {
            self.check_deadline()?;
        }
        Ok(())
    }

    pub fn check_deadline(&self) -> Result<()> {
        if let Some(d) = self.settings.deadline {
            if Instant::now() >= d {
                return Err(QueryError::Timeout("expression evaluation".into()));
            }
        }
        Ok(())
    }

    /// Accounts for `n` more samples in memory, failing beyond the limit.
    pub fn acquire(&mut self, n: usize) -> Result<()> {
        self.cur_samples = self.cur_samples.saturating_add(n);
        let peak = self.cur_samples as u64;
        if peak > self.stats.peak_samples {
            self.stats.peak_samples = peak;
        }
        if self.cur_samples > self.settings.max_samples {
            return Err(QueryError::Execution(TOO_MANY_SAMPLES.into()));
        }
        Ok(())
    }

    pub fn warn(&mut self, msg: String, node: Option<&Expr>) {
        self.annotate(false, msg, node);
    }

    pub fn info(&mut self, msg: String, node: Option<&Expr>) {
        self.annotate(true, msg, node);
    }

    fn annotate(&mut self, info: bool, msg: String, node: Option<&Expr>) {
        let kind = if info {
            "PromQL info"
        } else {
            "PromQL warning"
        };
        let text = match node {
            Some(n) => format!("{kind}: {msg} ({})", self.position(n)),
            None => format!("{kind}: {msg}"),
        };
        if !self.seen_annotations.insert(text.clone()) {
            return;
        }
        if info {
            self.annotations.infos.push(text);
        } else {
            self.annotations.warnings.push(text);
        }
    }

    /// `line:col` of a node in the query text, as Prometheus prints it after an
    /// annotation.
    fn position(&mut self, node: &Expr) -> String {
        let root = self.root;
        let query = self.query;
        let map = self
            .positions
            .get_or_insert_with(|| position::node_offsets(query, root));
        let offset = map
            .get(&(node as *const Expr as usize))
            .copied()
            .unwrap_or(0);
        position::line_col(query, offset)
    }

    /// Whether `name` is a valid label name: non-empty, and not a string the query
    /// spelled with escapes that are not UTF-8 (which the parser cannot represent).
    pub fn valid_label_name(&mut self, name: &str) -> bool {
        let query = self.query;
        let bad = self
            .non_utf8
            .get_or_insert_with(|| labels::non_utf8_literals(query));
        labels::is_valid_label_name(name) && !bad.iter().any(|(s, _)| s == name)
    }

    /// A string as Prometheus quotes it in messages, with its original bytes.
    pub fn quote_name(&mut self, name: &str) -> String {
        let query = self.query;
        let bad = self
            .non_utf8
            .get_or_insert_with(|| labels::non_utf8_literals(query));
        match bad.iter().find(|(s, _)| s == name) {
            Some((_, quoted)) => quoted.clone(),
            None => labels::go_quote(name),
        }
    }

    /// Evaluates `expr` at every step of `grid`.
    pub fn eval(&mut self, expr: &Expr, grid: Grid) -> Result<Val> {
        self.check()?;
        let before = self.cur_samples;
        let val = self.eval_node(expr, grid)?;
        // Whatever the children held is released with them; the node's own result is
        // what stays in memory until its parent is done.
        self.cur_samples = before;
        self.acquire(val.sample_count())?;
        Ok(val)
    }

    fn eval_node(&mut self, expr: &Expr, grid: Grid) -> Result<Val> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; grid.len()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, grid),
            Expr::Unary(u) => {
                let v = self.eval(&u.expr, grid)?;
                self.negate(v)
            }
            Expr::Binary(b) => self.eval_binary(b, grid),
            Expr::Aggregate(a) => self.eval_aggregate(a, grid),
            Expr::Call(c) => self.eval_call(expr, c, grid),
            Expr::VectorSelector(vs) => {
                Ok(Val::Vector(self.eval_vector_selector(vs, grid, false)?))
            }
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                // A range vector is only a value of its own at the top of an instant
                // query; as a function argument it is consumed window by window.
                let src = self.range_source(expr, grid)?;
                Ok(Val::Matrix(src.window_at(grid.start)))
            }
            Expr::Extension(_) => Err(QueryError::Execution(
                "unsupported expression extension".into(),
            )),
        }
    }

    fn negate(&mut self, v: Val) -> Result<Val> {
        match v {
            Val::Scalar(mut s) => {
                s.iter_mut().for_each(|x| *x = -*x);
                Ok(Val::Scalar(s))
            }
            Val::Vector(mut series) => {
                for s in &mut series {
                    self.mark_drop_name(s);
                    s.points.iter_mut().for_each(|p| p.v = -p.v);
                }
                Ok(Val::Vector(self.merge_same_labels(series)?))
            }
            other => Err(QueryError::Execution(format!(
                "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    /// Marks a series as having lost its metric name: with delayed name removal the
    /// label stays until the end of evaluation, otherwise it goes now.
    pub fn mark_drop_name(&self, s: &mut Series) {
        if self.settings.delayed_name_removal {
            s.drop_name = true;
        } else if labels::has_metadata(&s.labels) {
            s.labels = labels::into_without_name(std::mem::take(&mut s.labels));
        }
    }

    /// Merges series that ended up with the same label set (after a label was removed
    /// or rewritten), as long as they never have a point at the same step.
    pub fn merge_same_labels(&mut self, series: Vec<Series>) -> Result<Vec<Series>> {
        if series.len() < 2 {
            return Ok(series);
        }
        let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
        let mut out: Vec<Series> = Vec::with_capacity(series.len());
        let mut merged_any = false;
        for s in series {
            match index.get(&s.labels) {
                Some(&i) => {
                    merged_any = true;
                    let target = &mut out[i];
                    target.drop_name |= s.drop_name;
                    target.points.extend(s.points);
                }
                None => {
                    index.insert(s.labels.clone(), out.len());
                    out.push(s);
                }
            }
        }
        if merged_any {
            for s in &mut out {
                s.points.sort_by_key(|p| p.t);
                if s.points.windows(2).any(|w| w[0].t == w[1].t) {
                    return Err(QueryError::Execution(DUPLICATE_LABELSET.into()));
                }
            }
        }
        Ok(out)
    }

    /// Removes `__name__` from the series marked for it, as the last step of a query
    /// with delayed name removal.
    pub fn finish_names(&mut self, series: Vec<Series>) -> Result<Vec<Series>> {
        if !self.settings.delayed_name_removal {
            return Ok(series);
        }
        let mut series = series;
        for s in &mut series {
            if s.drop_name {
                s.labels = labels::into_without_name(std::mem::take(&mut s.labels));
                s.drop_name = false;
            }
        }
        self.merge_same_labels(series)
    }

    /// Evaluates an expression the parser typed as scalar, one value per step.
    pub fn eval_scalar(&mut self, expr: &Expr, grid: Grid) -> Result<Vec<f64>> {
        match self.eval(expr, grid)? {
            Val::Scalar(v) => Ok(v),
            other => Err(QueryError::Execution(format!(
                "expected scalar, got {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates an expression the parser typed as instant vector.
    pub fn eval_vector(&mut self, expr: &Expr, grid: Grid) -> Result<Vec<Series>> {
        match self.eval(expr, grid)? {
            Val::Vector(v) => Ok(v),
            other => Err(QueryError::Execution(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }
}

/// The direct subexpressions of a node.
pub(crate) fn children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Aggregate(a) => a
            .param
            .iter()
            .map(|p| p.as_ref())
            .chain([a.expr.as_ref()])
            .collect(),
        Expr::Unary(u) => vec![&u.expr],
        Expr::Binary(b) => vec![&b.lhs, &b.rhs],
        Expr::Paren(p) => vec![&p.expr],
        Expr::Subquery(s) => vec![&s.expr],
        Expr::Call(c) => c.args.args.iter().map(|a| a.as_ref()).collect(),
        _ => Vec::new(),
    }
}

/// Removes any parentheses around an expression.
pub(crate) fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// Per-step access to the points of vector series: each call to [`StepCursor::gather`]
/// must be for a later step than the previous one.
pub(crate) struct StepCursor {
    pos: Vec<usize>,
}

impl StepCursor {
    pub fn new(n: usize) -> StepCursor {
        StepCursor { pos: vec![0; n] }
    }

    /// The `(series index, value)` of every series with a point at `t`.
    pub fn gather(&mut self, series: &[Series], t: i64, out: &mut Vec<(usize, f64)>) {
        out.clear();
        for (i, s) in series.iter().enumerate() {
            let Some(pos) = self.pos.get_mut(i) else {
                continue;
            };
            while *pos < s.points.len() && s.points[*pos].t < t {
                *pos += 1;
            }
            if let Some(p) = s.points.get(*pos) {
                if p.t == t {
                    out.push((i, p.v));
                    *pos += 1;
                }
            }
        }
    }
}

/// Collects per-step results into series keyed by label set, in order of first
/// appearance (which is the order of an instant query's result).
#[derive(Default)]
pub(crate) struct Collector {
    index: HashMap<Labels, usize>,
    pub series: Vec<Series>,
}

impl Collector {
    pub fn slot(&mut self, labels: Labels, drop_name: bool) -> usize {
        if let Some(&i) = self.index.get(&labels) {
            return i;
        }
        let i = self.series.len();
        self.index.insert(labels.clone(), i);
        self.series.push(Series::new(labels, drop_name, Vec::new()));
        i
    }

    /// Adds a point; a second point for the same series at the same step means the
    /// node produced two elements with one label set.
    pub fn push(&mut self, slot: usize, t: i64, v: f64) -> Result<()> {
        let Some(s) = self.series.get_mut(slot) else {
            return Ok(());
        };
        if s.points.last().is_some_and(|p| p.t == t) {
            return Err(QueryError::Execution(DUPLICATE_LABELSET.into()));
        }
        s.points.push(Point { t, v });
        Ok(())
    }

    pub fn finish(self) -> Vec<Series> {
        self.series
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .collect()
    }
}
