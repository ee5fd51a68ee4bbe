//! Functions of range vectors (`rate`, `*_over_time`, …): each series' window slides
//! over its samples step by step and the window's points go to the kernels in
//! `crate::functions::range`.

use super::call::nth;
use super::extended::{anchored_points, extended_rate};
use super::labels::{go_format_g, go_quote};
use super::selector::{absent_labels, Window};
use super::syntax::Extension;
use super::{Evaluator, Grid, Result, Series, Val, DUPLICATE_LABELSET};
use crate::functions::range as k;
use crate::value::Point;
use crate::QueryError;
use promql_parser::parser::Expr;
use std::collections::HashSet;

const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
    "double_exponential_smoothing",
    "holt_winters",
    "resets",
    "changes",
    "avg_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "count_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "mad_over_time",
    "quantile_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "absent_over_time",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
    "ts_of_last_over_time",
    "ts_of_first_over_time",
];

pub(crate) fn is_range_function(name: &str) -> bool {
    RANGE_FUNCTIONS.contains(&name)
}

impl Evaluator<'_> {
    pub(crate) fn eval_range_call(
        &mut self,
        name: &str,
        args: &[&Expr],
        grid: Grid,
    ) -> Result<Val> {
        let matrix_arg = if name == "quantile_over_time" { 1 } else { 0 };
        let range_expr = nth(args, matrix_arg)?;
        let mut src = self.range_source(range_expr, grid)?;
        let mut params: Vec<Vec<f64>> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i != matrix_arg {
                params.push(self.eval_scalar(a, grid)?);
            }
        }
        let param = |p: usize, k: usize| -> f64 {
            params
                .get(p)
                .and_then(|v| v.get(k))
                .copied()
                .unwrap_or(f64::NAN)
        };

        if let Some(ext) = src.ext {
            let allowed: &[&str] = match ext {
                Extension::Anchored => &["changes", "delta", "increase", "rate", "resets"],
                Extension::Smoothed => &["delta", "increase", "rate"],
            };
            if !allowed.contains(&name) {
                return Err(QueryError::Execution(format!(
                    "{} modifier can only be used with: {} - not with {name}",
                    ext.name(),
                    allowed.join(", ")
                )));
            }
        }
        if name == "absent_over_time" {
            return self.absent_over_time(&src, range_expr, grid);
        }

        let keeps_name = name == "last_over_time" || name == "first_over_time";
        let counter_check = name == "rate" || name == "increase";
        let mut out: Vec<Series> = Vec::with_capacity(src.series.len());
        let mut non_counters: Vec<String> = Vec::new();
        // Taken out so each series' labels move into the result instead of being copied.
        let series = std::mem::take(&mut src.series);
        for s in series {
            self.check()?;
            let mut window = Window::new(&s.points);
            let mut points = Vec::new();
            for (k, t) in grid.iter() {
                let (start, end, lo, hi) = src.bounds(t);
                let w = window.at(lo, hi);
                if w.is_empty() {
                    continue;
                }
                let v = match (name, src.ext) {
                    ("rate", Some(ext)) => extended_rate(w, start, end, ext, true, true),
                    ("increase", Some(ext)) => extended_rate(w, start, end, ext, true, false),
                    ("delta", Some(ext)) => extended_rate(w, start, end, ext, false, false),
                    ("changes", Some(_)) => anchored_points(w, start).map(k::changes),
                    ("resets", Some(_)) => anchored_points(w, start).map(k::resets),
                    _ => None,
                };
                let v = match name {
                    _ if src.ext.is_some() => v,
                    "rate" => k::rate(w, start, end),
                    "increase" => k::increase(w, start, end),
                    "delta" => k::delta(w, start, end),
                    "irate" => k::irate(w),
                    "idelta" => k::idelta(w),
                    "deriv" => k::deriv(w),
                    "predict_linear" => k::predict_linear(w, t, param(0, k)),
                    "double_exponential_smoothing" | "holt_winters" => {
                        let (sf, tf) = (param(0, k), param(1, k));
                        if sf <= 0.0 || sf >= 1.0 || sf.is_nan() {
                            return Err(QueryError::Execution(format!(
                                "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                            )));
                        }
                        if tf <= 0.0 || tf >= 1.0 || tf.is_nan() {
                            return Err(QueryError::Execution(format!(
                                "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                            )));
                        }
                        k::double_exponential_smoothing(w, sf, tf)
                    }
                    "resets" => Some(k::resets(w)),
                    "changes" => Some(k::changes(w)),
                    "avg_over_time" => Some(k::avg_over_time(w)),
                    "sum_over_time" => Some(k::sum_over_time(w)),
                    "min_over_time" => Some(k::min_over_time(w)),
                    "max_over_time" => Some(k::max_over_time(w)),
                    "count_over_time" => Some(k::count_over_time(w)),
                    "stddev_over_time" => Some(k::stddev_over_time(w)),
                    "stdvar_over_time" => Some(k::stdvar_over_time(w)),
                    "mad_over_time" => Some(k::mad_over_time(w)),
                    "quantile_over_time" => {
                        let q = param(0, k);
                        if q.is_nan() || !(0.0..=1.0).contains(&q) {
                            self.warn(
                                format!(
                                    "quantile value should be between 0 and 1, got {}",
                                    go_format_g(q)
                                ),
                                args.first().copied(),
                            );
                        }
                        Some(k::quantile_over_time(q, w))
                    }
                    "last_over_time" => k::last_over_time(w).map(|p| p.v),
                    "first_over_time" => k::first_over_time(w).map(|p| p.v),
                    "present_over_time" => Some(1.0),
                    "ts_of_min_over_time" => Some(k::ts_of_min_over_time(w)),
                    "ts_of_max_over_time" => Some(k::ts_of_max_over_time(w)),
                    "ts_of_last_over_time" => Some(k::ts_of_last_over_time(w)),
                    "ts_of_first_over_time" => Some(k::ts_of_first_over_time(w)),
                    _ => None,
                };
                if let Some(v) = v {
                    points.push(Point { t, v });
                }
            }
            if points.is_empty() {
                continue;
            }
            if counter_check {
                if let Some(metric) = s.labels.metric_name() {
                    if !["_total", "_sum", "_count", "_bucket"]
                        .iter()
                        .any(|suffix| metric.ends_with(suffix))
                    {
                        non_counters.push(metric.to_string());
                    }
                }
            }
            let mut series = Series::new(s.labels, s.drop_name, points);
            if !keeps_name {
                self.mark_drop_name(&mut series);
            }
            out.push(series);
        }
        for metric in non_counters {
            self.info(
                format!(
                    "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
                    go_quote(&metric)
                ),
                Some(range_expr),
            );
        }
        if !self.settings.delayed_name_removal {
            let mut seen = HashSet::with_capacity(out.len());
            if !out.iter().all(|s| seen.insert(&s.labels)) {
                return Err(QueryError::Execution(DUPLICATE_LABELSET.into()));
            }
        }
        Ok(Val::Vector(out))
    }

    /// 1 at the steps where no series has a sample in its window.
    fn absent_over_time(
        &mut self,
        src: &super::selector::RangeSource,
        arg: &Expr,
        grid: Grid,
    ) -> Result<Val> {
        let mut present = vec![false; grid.len()];
        for s in &src.series {
            self.check()?;
            let mut window = Window::new(&s.points);
            for (k, t) in grid.iter() {
                let (_, _, lo, hi) = src.bounds(t);
                if !window.at(lo, hi).is_empty() {
                    present[k] = true;
                }
            }
        }
        let points: Vec<Point> = grid
            .iter()
            .filter(|(k, _)| !present[*k])
            .map(|(_, t)| Point { t, v: 1.0 })
            .collect();
        if points.is_empty() {
            return Ok(Val::Vector(Vec::new()));
        }
        let mut s = Series::new(absent_labels(arg), false, points);
        self.mark_drop_name(&mut s);
        Ok(Val::Vector(vec![s]))
    }
}
