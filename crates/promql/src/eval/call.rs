//! Function calls on instant vectors and scalars; range-vector functions are in
//! `call_range`.

use super::labels;
use super::selector::absent_labels;
use super::{unparen, Evaluator, Grid, Result, Series, Val};
use crate::functions::{date, math};
use crate::value::Point;
use crate::QueryError;
use pharos_model::{Labels, METRIC_NAME};
use promql_parser::parser::{Call, Expr};
use std::cmp::Ordering;

const DATE_FUNCTIONS: &[&str] = &[
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
];

/// Go's `math.Max`: NaN if either is NaN, and +0 over -0.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN if either is NaN, and -0 over +0.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

pub(crate) fn string_arg(e: &Expr) -> Result<&str> {
    match unparen(e) {
        Expr::StringLiteral(s) => Ok(&s.val),
        _ => Err(QueryError::Execution("expected a string argument".into())),
    }
}

impl Evaluator<'_> {
    pub(crate) fn eval_call(&mut self, node: &Expr, c: &Call, grid: Grid) -> Result<Val> {
        let name = c.func.name;
        let args: Vec<&Expr> = c.args.args.iter().map(|a| unparen(a)).collect();
        if super::call_range::is_range_function(name) {
            return self.eval_range_call(name, &args, grid);
        }
        let n = grid.len();
        let secs = |t: i64| t as f64 / 1000.0;
        match name {
            "time" => Ok(Val::Scalar(grid.iter().map(|(_, t)| secs(t)).collect())),
            "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
            "start" => Ok(Val::Scalar(vec![secs(self.settings.query_start); n])),
            "end" => Ok(Val::Scalar(vec![secs(self.settings.query_end); n])),
            "range" => {
                let r = self
                    .settings
                    .query_end
                    .saturating_sub(self.settings.query_start);
                Ok(Val::Scalar(vec![secs(r); n]))
            }
            "step" => Ok(Val::Scalar(vec![secs(self.settings.query_step); n])),
            "vector" => {
                let vals = self.eval_scalar(nth(&args, 0)?, grid)?;
                let points = grid
                    .iter()
                    .zip(vals)
                    .map(|((_, t), v)| Point { t, v })
                    .collect();
                Ok(Val::Vector(vec![Series::new(
                    Labels::empty(),
                    false,
                    points,
                )]))
            }
            "scalar" => {
                let input = self.eval_vector(nth(&args, 0)?, grid)?;
                let mut vals = vec![f64::NAN; n];
                let mut count = vec![0u32; n];
                for s in &input {
                    for p in &s.points {
                        let k = grid.index(p.t);
                        if let (Some(v), Some(c)) = (vals.get_mut(k), count.get_mut(k)) {
                            *c += 1;
                            *v = if *c == 1 { p.v } else { f64::NAN };
                        }
                    }
                }
                Ok(Val::Scalar(vals))
            }
            "max_of" | "min_of" => {
                let a = self.eval_scalar(nth(&args, 0)?, grid)?;
                let b = self.eval_scalar(nth(&args, 1)?, grid)?;
                let f = if name == "max_of" { go_max } else { go_min };
                Ok(Val::Scalar(
                    a.iter().zip(&b).map(|(x, y)| f(*x, *y)).collect(),
                ))
            }
            "timestamp" => {
                let a = nth(&args, 0)?;
                let mut series = match a {
                    // A selector's samples keep their own time for `timestamp()`.
                    Expr::VectorSelector(vs) => self.eval_vector_selector(vs, grid, true)?,
                    other => {
                        let mut v = self.eval_vector(other, grid)?;
                        for s in &mut v {
                            s.points.iter_mut().for_each(|p| p.v = secs(p.t));
                        }
                        v
                    }
                };
                series.iter_mut().for_each(|s| self.mark_drop_name(s));
                Ok(Val::Vector(self.merge_same_labels(series)?))
            }
            "absent" => {
                let a = nth(&args, 0)?;
                let input = self.eval_vector(a, grid)?;
                let mut has = vec![false; n];
                for s in &input {
                    for p in &s.points {
                        if let Some(h) = has.get_mut(grid.index(p.t)) {
                            *h = true;
                        }
                    }
                }
                let points: Vec<Point> = grid
                    .iter()
                    .filter(|(k, _)| !has[*k])
                    .map(|(_, t)| Point { t, v: 1.0 })
                    .collect();
                if points.is_empty() {
                    return Ok(Val::Vector(Vec::new()));
                }
                Ok(Val::Vector(vec![Series::new(
                    absent_labels(a),
                    false,
                    points,
                )]))
            }
            "info" => self.eval_info(&args, grid),
            "label_replace" => self.label_replace(&args, grid),
            "label_join" => self.label_join(&args, grid),
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
                self.sort(node, name, &args, grid)
            }
            "histogram_quantile" | "histogram_quantiles" | "histogram_fraction" => {
                self.classic_histogram(name, &args, grid)
            }
            "histogram_avg" | "histogram_count" | "histogram_sum" | "histogram_stddev"
            | "histogram_stdvar" => {
                // These read native histograms only, which this engine does not store;
                // float samples are ignored as Prometheus ignores them.
                for a in &args {
                    self.eval(a, grid)?;
                }
                Ok(Val::Vector(Vec::new()))
            }
            "round" => {
                let input = self.eval_vector(nth(&args, 0)?, grid)?;
                let to = match args.get(1) {
                    Some(a) => self.eval_scalar(a, grid)?,
                    None => vec![1.0; n],
                };
                self.map_values(input, grid, |k, v| {
                    Some(math::round(v, to.get(k).copied().unwrap_or(f64::NAN)))
                })
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let input = self.eval_vector(nth(&args, 0)?, grid)?;
                let (lo, hi) = match name {
                    "clamp" => (
                        self.eval_scalar(nth(&args, 1)?, grid)?,
                        self.eval_scalar(nth(&args, 2)?, grid)?,
                    ),
                    "clamp_min" => (
                        self.eval_scalar(nth(&args, 1)?, grid)?,
                        vec![f64::INFINITY; n],
                    ),
                    _ => (
                        vec![f64::NEG_INFINITY; n],
                        self.eval_scalar(nth(&args, 1)?, grid)?,
                    ),
                };
                self.map_values(input, grid, |k, v| {
                    let (lo, hi) = (lo.get(k).copied()?, hi.get(k).copied()?);
                    if hi < lo {
                        return None;
                    }
                    Some(go_max(lo, go_min(hi, v)))
                })
            }
            _ if DATE_FUNCTIONS.contains(&name) => match args.first() {
                None => {
                    let points = grid
                        .iter()
                        .filter_map(|(_, t)| {
                            date::date_function(name, (t / 1000) as f64).map(|v| Point { t, v })
                        })
                        .collect();
                    Ok(Val::Vector(vec![Series::new(
                        Labels::empty(),
                        false,
                        points,
                    )]))
                }
                Some(a) => {
                    let input = self.eval_vector(a, grid)?;
                    self.map_values(input, grid, |_, v| date::date_function(name, v))
                }
            },
            _ => match math::instant_math(name) {
                Some(f) => {
                    let input = self.eval_vector(nth(&args, 0)?, grid)?;
                    self.map_values(input, grid, |_, v| Some(f(v)))
                }
                None => Err(QueryError::Execution(format!(
                    "function {} is not supported",
                    labels::go_quote(name)
                ))),
            },
        }
    }

    /// Applies `f(step index, value)` to every point, dropping the metric name; `None`
    /// drops the point.
    fn map_values(
        &mut self,
        input: Vec<Series>,
        grid: Grid,
        f: impl Fn(usize, f64) -> Option<f64>,
    ) -> Result<Val> {
        let mut out = Vec::with_capacity(input.len());
        for mut s in input {
            self.check()?;
            s.points = s
                .points
                .iter()
                .filter_map(|p| f(grid.index(p.t), p.v).map(|v| Point { t: p.t, v }))
                .collect();
            if s.points.is_empty() {
                continue;
            }
            self.mark_drop_name(&mut s);
            out.push(s);
        }
        Ok(Val::Vector(self.merge_same_labels(out)?))
    }

    fn label_replace(&mut self, args: &[&Expr], grid: Grid) -> Result<Val> {
        let dst = string_arg(nth(args, 1)?)?;
        let repl = string_arg(nth(args, 2)?)?;
        let src = string_arg(nth(args, 3)?)?;
        let pattern = string_arg(nth(args, 4)?)?;
        let re = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
            QueryError::Execution(format!(
                "invalid regular expression in label_replace(): {pattern}"
            ))
        })?;
        if !self.valid_label_name(dst) {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut input = self.eval_vector(nth(args, 0)?, grid)?;
        for s in &mut input {
            self.check()?;
            let value = s.labels.get(src).unwrap_or("");
            let Some(caps) = re.captures(value) else {
                continue;
            };
            let mut res = String::new();
            caps.expand(repl, &mut res);
            s.labels = labels::with_label(&s.labels, dst, &res);
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
        Ok(Val::Vector(self.merge_same_labels(input)?))
    }

    fn label_join(&mut self, args: &[&Expr], grid: Grid) -> Result<Val> {
        let dst = string_arg(nth(args, 1)?)?;
        let sep = string_arg(nth(args, 2)?)?;
        let mut srcs = Vec::new();
        for a in args.iter().skip(3) {
            let s = string_arg(a)?;
            if !self.valid_label_name(s) {
                return Err(QueryError::Execution(format!(
                    "invalid source label name in label_join(): {s}"
                )));
            }
            srcs.push(s);
        }
        if !self.valid_label_name(dst) {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let mut input = self.eval_vector(nth(args, 0)?, grid)?;
        for s in &mut input {
            self.check()?;
            let joined = srcs
                .iter()
                .map(|n| s.labels.get(n).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(sep);
            s.labels = labels::with_label(&s.labels, dst, &joined);
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
        Ok(Val::Vector(self.merge_same_labels(input)?))
    }

    fn sort(&mut self, node: &Expr, name: &str, args: &[&Expr], grid: Grid) -> Result<Val> {
        let mut input = self.eval_vector(nth(args, 0)?, grid)?;
        if !grid.is_instant() {
            self.warn(
                "sort is ineffective for range queries since results are always ordered by labels"
                    .into(),
                Some(node),
            );
            return Ok(Val::Vector(input));
        }
        let value = |s: &Series| s.points.first().map(|p| p.v).unwrap_or(f64::NAN);
        match name {
            "sort" | "sort_desc" => {
                let desc = name == "sort_desc";
                input.sort_by(|a, b| {
                    let (x, y) = (value(a), value(b));
                    match (x.is_nan(), y.is_nan()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => Ordering::Greater,
                        (false, true) => Ordering::Less,
                        _ if desc => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
                        _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                    }
                });
            }
            _ => {
                let names: Vec<&str> = args
                    .iter()
                    .skip(1)
                    .map(|a| string_arg(a))
                    .collect::<Result<_>>()?;
                let desc = name == "sort_by_label_desc";
                input.sort_by(|a, b| {
                    let mut ord = Ordering::Equal;
                    for n in &names {
                        ord = labels::natural_cmp(
                            a.labels.get(n).unwrap_or(""),
                            b.labels.get(n).unwrap_or(""),
                        );
                        if ord != Ordering::Equal {
                            break;
                        }
                    }
                    if ord == Ordering::Equal {
                        ord = a.labels.cmp(&b.labels);
                    }
                    if desc {
                        ord.reverse()
                    } else {
                        ord
                    }
                });
            }
        }
        Ok(Val::Vector(input))
    }
}

pub(crate) fn nth<'e>(args: &[&'e Expr], i: usize) -> Result<&'e Expr> {
    args.get(i)
        .copied()
        .ok_or_else(|| QueryError::Execution("missing function argument".into()))
}
