//! Selectors: reading series from storage once per node and sliding lookback or range
//! windows over them step by step; subqueries, which feed range functions the same way.

use super::extended::{extend_points, smoothed_value};
use super::syntax::Extension;
use super::{Evaluator, Grid, Result, Series, Val};
use crate::value::Point;
use crate::QueryError;
use pharos_model::{is_stale_nan, Labels, MatchOp, Matcher, METRIC_NAME};
use promql_parser::label::MatchOp as ParserOp;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

pub(crate) fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => duration_ms(d).saturating_neg(),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => duration_ms(&d),
        Err(e) => duration_ms(&e.duration()).saturating_neg(),
    }
}

/// The windows of a range function: per series the (non-stale) points of the source,
/// and how a step's time maps to the window `(ref - range, ref]`.
pub(crate) struct RangeSource {
    pub series: Vec<Series>,
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
    pub ext: Option<Extension>,
    pub lookback: i64,
}

impl RangeSource {
    /// The right edge of the window evaluated at step time `t`.
    pub fn window_end(&self, t: i64) -> i64 {
        self.at.unwrap_or(t).saturating_sub(self.offset)
    }

    /// The window `(start, end]` evaluated at `t`, and the wider `(lo, hi]` of points
    /// it sees (which differs with `anchored` or `smoothed`).
    pub fn bounds(&self, t: i64) -> (i64, i64, i64, i64) {
        let end = self.window_end(t);
        let start = end.saturating_sub(self.range);
        match self.ext {
            None => (start, end, start, end),
            Some(Extension::Anchored) => (start, end, start.saturating_sub(self.lookback), end),
            Some(Extension::Smoothed) => (
                start,
                end,
                start.saturating_sub(self.lookback),
                end.saturating_add(self.lookback),
            ),
        }
    }

    /// Every series' points in the window evaluated at `t`, for a range vector returned
    /// as the result of an instant query.
    pub fn window_at(self, t: i64) -> Vec<Series> {
        let (start, end, lo, hi) = self.bounds(t);
        let ext = self.ext;
        self.series
            .into_iter()
            .filter_map(|mut s| {
                s.points.retain(|p| p.t > lo && p.t <= hi);
                if let Some(ext) = ext {
                    s.points = extend_points(&s.points, start, end, ext);
                }
                (!s.points.is_empty()).then_some(s)
            })
            .collect()
    }
}

/// Slides a window over sorted points; window ends must not decrease between calls.
pub(crate) struct Window<'p> {
    points: &'p [Point],
    lo: usize,
    hi: usize,
}

impl<'p> Window<'p> {
    pub fn new(points: &'p [Point]) -> Window<'p> {
        Window {
            points,
            lo: 0,
            hi: 0,
        }
    }

    /// The points in `(start, end]`.
    pub fn at(&mut self, start: i64, end: i64) -> &'p [Point] {
        while self.hi < self.points.len() && self.points[self.hi].t <= end {
            self.hi += 1;
        }
        while self.lo < self.hi && self.points[self.lo].t <= start {
            self.lo += 1;
        }
        self.points.get(self.lo..self.hi).unwrap_or(&[])
    }
}

impl Evaluator<'_> {
    pub(crate) fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.settings.query_start),
            Some(AtModifier::End) => Some(self.settings.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    /// The range of reference times (step time, or the `@` time, minus the offset) a
    /// selector is evaluated at over `grid`.
    fn ref_range(&self, at: &Option<AtModifier>, offset: i64, grid: Grid) -> (i64, i64) {
        match self.at_ms(at) {
            Some(t) => {
                let r = t.saturating_sub(offset);
                (r, r)
            }
            None => (
                grid.start.saturating_sub(offset),
                grid.end.saturating_sub(offset),
            ),
        }
    }

    /// Reads every series matching the selector with its samples in `[mint, maxt]`.
    pub(crate) fn select(
        &mut self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>> {
        self.select_matchers(matcher_groups(vs)?, mint, maxt)
    }

    /// Reads every series matching any of the matcher lists with its samples in
    /// `[mint, maxt]`.
    pub(crate) fn select_matchers(
        &mut self,
        groups: Vec<Vec<Matcher>>,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>> {
        if mint > maxt {
            return Ok(Vec::new());
        }
        let querier = self.storage.querier(mint, maxt)?;
        let mut found: BTreeMap<Labels, Vec<Point>> = BTreeMap::new();
        let single = groups.len() == 1;
        let mut ordered: Vec<Series> = Vec::new();
        // Series of one selection tend to have as many samples as each other; sizing
        // each buffer like the previous one saves the growth reallocations.
        let mut expected = 0;
        for matchers in &groups {
            for series in querier.select(matchers)? {
                self.check()?;
                let mut series = series?;
                let mut points = Vec::with_capacity(expected);
                while let Some(s) = series.samples.next_sample() {
                    if s.t >= mint && s.t <= maxt {
                        points.push(Point { t: s.t, v: s.v });
                    }
                }
                if let Some(e) = series.samples.error() {
                    return Err(QueryError::Storage(e.to_string()));
                }
                expected = points.len();
                self.stats.samples_loaded = self
                    .stats
                    .samples_loaded
                    .saturating_add(points.len() as u64);
                self.acquire(points.len())?;
                if single {
                    ordered.push(Series::new(series.labels, false, points));
                } else {
                    found.entry(series.labels).or_insert(points);
                }
            }
        }
        if single {
            return Ok(ordered);
        }
        Ok(found
            .into_iter()
            .map(|(labels, points)| Series::new(labels, false, points))
            .collect())
    }

    /// An instant vector selector: per step the latest sample in the lookback window
    /// `(ref - lookback, ref]`, unless that sample is a staleness marker. With
    /// `sample_time` the value is the sample's own time in seconds (for `timestamp()`).
    pub(crate) fn eval_vector_selector(
        &mut self,
        vs: &VectorSelector,
        grid: Grid,
        sample_time: bool,
    ) -> Result<Vec<Series>> {
        let offset = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let lookback = self.settings.lookback_ms;
        let (lo, hi) = self.ref_range(&vs.at, offset, grid);
        let mint = lo.saturating_sub(lookback).saturating_add(1);
        if self.extension_of(vs) == Some(Extension::Smoothed) {
            return self.eval_smoothed_selector(
                vs,
                grid,
                mint,
                hi.saturating_add(lookback),
                at,
                offset,
            );
        }
        let raw = self.select(vs, mint, hi)?;
        let mut out = Vec::with_capacity(raw.len());
        for s in raw {
            self.check()?;
            let mut points = Vec::new();
            let mut next = 0usize;
            for (_, t) in grid.iter() {
                let r = at.unwrap_or(t).saturating_sub(offset);
                while next < s.points.len() && s.points[next].t <= r {
                    next += 1;
                }
                let Some(p) = next.checked_sub(1).and_then(|i| s.points.get(i)) else {
                    continue;
                };
                if p.t <= r.saturating_sub(lookback) || is_stale_nan(p.v) {
                    continue;
                }
                let v = if sample_time {
                    p.t as f64 / 1000.0
                } else {
                    p.v
                };
                points.push(Point { t, v });
            }
            if !points.is_empty() {
                out.push(Series::new(s.labels, false, points));
            }
        }
        Ok(out)
    }

    /// A smoothed instant selector: per step the value interpolated between the samples
    /// around the reference time (up to the lookback delta on either side).
    fn eval_smoothed_selector(
        &mut self,
        vs: &VectorSelector,
        grid: Grid,
        mint: i64,
        maxt: i64,
        at: Option<i64>,
        offset: i64,
    ) -> Result<Vec<Series>> {
        let lookback = self.settings.lookback_ms;
        let mut raw = self.select(vs, mint, maxt)?;
        let mut out = Vec::with_capacity(raw.len());
        for s in &mut raw {
            self.check()?;
            s.points.retain(|p| !is_stale_nan(p.v));
            let mut window = Window::new(&s.points);
            let mut points = Vec::new();
            for (_, t) in grid.iter() {
                let r = at.unwrap_or(t).saturating_sub(offset);
                let w = window.at(r.saturating_sub(lookback), r.saturating_add(lookback));
                if let Some(v) = smoothed_value(w, r) {
                    points.push(Point { t, v });
                }
            }
            if !points.is_empty() {
                out.push(Series::new(s.labels.clone(), false, points));
            }
        }
        Ok(out)
    }

    /// The source of a range function's argument: a matrix selector or a subquery.
    pub(crate) fn range_source(&mut self, expr: &Expr, grid: Grid) -> Result<RangeSource> {
        match super::unparen(expr) {
            Expr::MatrixSelector(ms) => {
                let vs = &ms.vs;
                let range = duration_ms(&ms.range);
                let offset = offset_ms(&vs.offset);
                let (lo, hi) = self.ref_range(&vs.at, offset, grid);
                let ext = self.extension_of(vs);
                let lookback = self.settings.lookback_ms;
                let extra = if ext.is_some() { lookback } else { 0 };
                let mint = lo
                    .saturating_sub(range)
                    .saturating_sub(extra)
                    .saturating_add(1);
                let maxt = if ext == Some(Extension::Smoothed) {
                    hi.saturating_add(lookback)
                } else {
                    hi
                };
                let mut series = self.select(vs, mint, maxt)?;
                for s in &mut series {
                    s.points.retain(|p| !is_stale_nan(p.v));
                }
                series.retain(|s| !s.points.is_empty());
                Ok(RangeSource {
                    series,
                    range,
                    offset,
                    at: self.at_ms(&vs.at),
                    ext,
                    lookback,
                })
            }
            Expr::Subquery(sq) => self.eval_subquery(sq, grid),
            other => Err(QueryError::Execution(format!(
                "expected a range vector, got {}",
                other.value_type()
            ))),
        }
    }

    /// Evaluates a subquery's inner expression at the steps of its own resolution that
    /// fall into any window the outer steps need; steps are aligned to multiples of
    /// the resolution, counted from the epoch.
    fn eval_subquery(&mut self, sq: &SubqueryExpr, grid: Grid) -> Result<RangeSource> {
        let range = duration_ms(&sq.range);
        let offset = offset_ms(&sq.offset);
        let step = match &sq.step {
            Some(d) => duration_ms(d),
            None => self.settings.default_subquery_step_ms,
        }
        .max(1);
        let (lo, hi) = self.ref_range(&sq.at, offset, grid);
        let first = lo.saturating_sub(range);
        let mut start = first.div_euclid(step).saturating_mul(step);
        if start <= first {
            start = start.saturating_add(step);
        }
        let at = self.at_ms(&sq.at);
        if start > hi {
            return Ok(RangeSource {
                series: Vec::new(),
                range,
                offset,
                at,
                ext: None,
                lookback: 0,
            });
        }
        let inner = Grid::new(start, hi, step);
        // Every step of a scalar inner expression is a sample, and a vector one must be
        // walked step by step: refuse grids the sample limit could never accommodate.
        if inner.len() > self.settings.max_samples {
            return Err(QueryError::Execution(super::TOO_MANY_SAMPLES.into()));
        }
        let series = match self.eval(&sq.expr, inner)? {
            Val::Vector(v) => v,
            Val::Scalar(vals) => vec![Series::new(
                Labels::empty(),
                false,
                inner
                    .iter()
                    .zip(vals)
                    .map(|((_, t), v)| Point { t, v })
                    .collect(),
            )],
            other => {
                return Err(QueryError::Execution(format!(
                    "subquery is only allowed on instant vector, got {}",
                    other.type_name()
                )))
            }
        };
        Ok(RangeSource {
            series,
            range,
            offset,
            at,
            ext: None,
            lookback: 0,
        })
    }
}

/// All matchers of a selector, its metric name included, in one list.
pub(crate) fn selector_matchers(vs: &VectorSelector) -> Result<Vec<Matcher>> {
    Ok(matcher_groups(vs)?.into_iter().flatten().collect())
}

/// The storage matchers of a selector: one list per `or` alternative.
fn matcher_groups(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>> {
    let mut base = Vec::new();
    if let Some(name) = &vs.name {
        base.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        base.push(convert_matcher(m)?);
    }
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![base]);
    }
    let mut groups = Vec::with_capacity(vs.matchers.or_matchers.len());
    for alt in &vs.matchers.or_matchers {
        let mut g = base.clone();
        for m in alt {
            g.push(convert_matcher(m)?);
        }
        groups.push(g);
    }
    Ok(groups)
}

fn convert_matcher(m: &promql_parser::label::Matcher) -> Result<Matcher> {
    let op = match m.op {
        ParserOp::Equal => MatchOp::Equal,
        ParserOp::NotEqual => MatchOp::NotEqual,
        ParserOp::Re(_) => MatchOp::RegexMatch,
        ParserOp::NotRe(_) => MatchOp::RegexNoMatch,
    };
    Matcher::new(op, m.name.clone(), m.value.clone())
        .map_err(|e| QueryError::Parse(format!("parse error: {e}")))
}

/// The labels `absent()` and `absent_over_time()` give their result: those set by an
/// equality matcher, unless the same label is matched more than once.
pub(crate) fn absent_labels(expr: &Expr) -> Labels {
    let vs = match super::unparen(expr) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::empty(),
    };
    let all: Vec<&promql_parser::label::Matcher> = vs
        .matchers
        .matchers
        .iter()
        .chain(vs.matchers.or_matchers.iter().flatten())
        .collect();
    let mut set: BTreeMap<&str, &str> = BTreeMap::new();
    let mut has: Vec<&str> = Vec::new();
    for m in all {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == ParserOp::Equal && !has.contains(&m.name.as_str()) {
            set.insert(&m.name, &m.value);
            has.push(&m.name);
        } else {
            set.remove(m.name.as_str());
        }
    }
    Labels::from_pairs(set.into_iter().filter(|(_, v)| !v.is_empty()))
}
