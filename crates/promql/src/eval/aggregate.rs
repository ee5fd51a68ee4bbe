//! Aggregation operators: `sum`, `avg`, `min`, `max`, `group`, `count`, `stddev`,
//! `stdvar`, `quantile`, `count_values`, `topk`, `bottomk`, `limitk`, `limit_ratio`.

use super::labels::{self, go_format_f, go_format_g};
use super::{Collector, Evaluator, Grid, Result, Series, StepCursor, Val};
use crate::functions::aggregate as kernels;
use crate::QueryError;
use pharos_model::Labels;
use promql_parser::parser::token::*;
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// How input series fall into groups.
struct Grouping {
    without: bool,
    names: Vec<String>,
}

impl Grouping {
    fn new(a: &AggregateExpr) -> Grouping {
        match &a.modifier {
            Some(LabelModifier::Include(l)) => Grouping {
                without: false,
                names: l.labels.clone(),
            },
            Some(LabelModifier::Exclude(l)) => Grouping {
                without: true,
                names: l.labels.clone(),
            },
            None => Grouping {
                without: false,
                names: Vec::new(),
            },
        }
    }

    /// The labels of the group a series belongs to (which also identify the group).
    /// What [`Grouping::labels`] keeps, borrowed.
    fn label_refs<'a>(&self, ls: &'a Labels) -> Vec<&'a pharos_model::Label> {
        ls.iter()
            .filter(|l| {
                if self.without {
                    !(self.names.contains(&l.name) || l.name == pharos_model::METRIC_NAME)
                } else {
                    self.names.contains(&l.name)
                }
            })
            .collect()
    }

    fn labels(&self, ls: &Labels) -> Labels {
        if self.without {
            labels::without(ls, &self.names, true)
        } else if self.names.is_empty() {
            Labels::empty()
        } else {
            labels::keep(ls, &self.names)
        }
    }
}

/// Group index per input series, groups numbered in order of first appearance.
fn assign_groups(g: &Grouping, input: &[Series]) -> (Vec<usize>, Vec<Labels>) {
    let mut index = labels::KeyIndex::default();
    let of = input
        .iter()
        .map(|s| index.id(g.label_refs(&s.labels)))
        .collect();
    (of, index.keys)
}

/// Go's `math.Max`/`math.Min` over a parameter's values: NaN wins.
fn param_bounds(vals: &[f64]) -> (f64, f64, bool) {
    let mut lo = f64::MAX;
    let mut hi = -f64::MAX;
    let mut nan = false;
    for &v in vals {
        if v.is_nan() {
            nan = true;
        }
        lo = if v.is_nan() || lo.is_nan() {
            f64::NAN
        } else {
            lo.min(v)
        };
        hi = if v.is_nan() || hi.is_nan() {
            f64::NAN
        } else {
            hi.max(v)
        };
    }
    (lo, hi, nan)
}

impl Evaluator<'_> {
    pub(crate) fn eval_aggregate(&mut self, a: &AggregateExpr, grid: Grid) -> Result<Val> {
        let op = a.op.id();
        let grouping = Grouping::new(a);
        if op == T_COUNT_VALUES {
            return self.count_values(a, grouping, grid);
        }
        let param = match (&a.param, op) {
            (Some(p), T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO | T_QUANTILE) => {
                Some(self.eval_scalar(super::unparen(p), grid)?)
            }
            _ => None,
        };
        let input = self.eval_vector(&a.expr, grid)?;
        let (group_of, group_labels) = assign_groups(&grouping, &input);
        match op {
            T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO => {
                let param = param.unwrap_or_default();
                if !self.check_k_param(op, &param, a.param.as_deref())? {
                    return Ok(Val::Vector(Vec::new()));
                }
                self.aggregate_k(op, &param, &input, &group_of, group_labels.len(), grid)
            }
            _ => {
                if op == T_QUANTILE {
                    let (lo, hi, nan) = param_bounds(param.as_deref().unwrap_or(&[]));
                    let node = a.param.as_deref();
                    for bad in [
                        nan.then_some(f64::NAN),
                        (hi > 1.0).then_some(hi),
                        (lo < 0.0).then_some(lo),
                    ]
                    .into_iter()
                    .flatten()
                    {
                        self.warn(
                            format!(
                                "quantile value should be between 0 and 1, got {}",
                                go_format_g(bad)
                            ),
                            node,
                        );
                    }
                }
                self.aggregate_values(op, param.as_deref(), &input, &group_of, group_labels, grid)
            }
        }
    }

    /// Validates the parameter of `topk`-like aggregations over all steps, as
    /// Prometheus does before evaluating; false means the result is empty.
    fn check_k_param(&mut self, op: TokenId, param: &[f64], node: Option<&Expr>) -> Result<bool> {
        let (lo, hi, nan) = param_bounds(param);
        if op == T_LIMIT_RATIO {
            if hi == 0.0 && lo == 0.0 {
                return Ok(false);
            }
            if nan {
                return Err(QueryError::Execution("Ratio value is NaN".into()));
            }
            if hi > 1.0 {
                self.warn(
                    format!(
                        "ratio value should be between -1 and 1, got {}, capping to 1",
                        go_format_g(hi)
                    ),
                    node,
                );
            }
            if lo < -1.0 {
                self.warn(
                    format!(
                        "ratio value should be between -1 and 1, got {}, capping to -1",
                        go_format_g(lo)
                    ),
                    node,
                );
            }
            return Ok(true);
        }
        if hi < 1.0 {
            return Ok(false);
        }
        if nan {
            return Err(QueryError::Execution("Parameter value is NaN".into()));
        }
        if lo <= i64::MIN as f64 {
            return Err(QueryError::Execution(format!(
                "Scalar value {} underflows int64",
                go_format_g(lo)
            )));
        }
        if hi >= i64::MAX as f64 {
            return Err(QueryError::Execution(format!(
                "Scalar value {} overflows int64",
                go_format_g(hi)
            )));
        }
        Ok(true)
    }

    fn aggregate_values(
        &mut self,
        op: TokenId,
        param: Option<&[f64]>,
        input: &[Series],
        group_of: &[usize],
        group_labels: Vec<Labels>,
        grid: Grid,
    ) -> Result<Val> {
        let n_groups = group_labels.len();
        let mut slots: Vec<Option<usize>> = vec![None; n_groups];
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); n_groups];
        let mut drop: Vec<bool> = vec![false; n_groups];
        let mut out = Collector::default();
        let mut cur = StepCursor::new(input.len());
        let mut present = Vec::new();
        for (k, t) in grid.iter() {
            self.check()?;
            cur.gather(input, t, &mut present);
            if present.is_empty() {
                continue;
            }
            values.iter_mut().for_each(Vec::clear);
            for &(i, v) in &present {
                let g = group_of[i];
                values[g].push(v);
                drop[g] |= input[i].drop_name;
            }
            for (g, vals) in values.iter_mut().enumerate() {
                if vals.is_empty() {
                    continue;
                }
                let v = match op {
                    T_SUM => {
                        let mut s = kernels::KahanSum::new();
                        vals.iter().for_each(|&v| s.add(v));
                        s.value()
                    }
                    T_AVG => kernels::avg(vals),
                    T_COUNT => vals.len() as f64,
                    T_GROUP => 1.0,
                    T_MIN => fold_extreme(vals, |cur, v| cur > v),
                    T_MAX => fold_extreme(vals, |cur, v| cur < v),
                    T_STDDEV => kernels::stddev(vals),
                    T_STDVAR => kernels::stdvar(vals),
                    T_QUANTILE => {
                        let q = param.and_then(|p| p.get(k)).copied().unwrap_or(f64::NAN);
                        kernels::quantile(q, vals)
                    }
                    _ => {
                        return Err(QueryError::Execution(format!(
                            "unsupported aggregation operator {}",
                            token_name(op)
                        )))
                    }
                };
                let slot =
                    *slots[g].get_or_insert_with(|| out.slot(group_labels[g].clone(), drop[g]));
                if drop[g] {
                    if let Some(s) = out.series.get_mut(slot) {
                        s.drop_name = true;
                    }
                }
                out.push(slot, t, v)?;
            }
        }
        Ok(Val::Vector(out.finish()))
    }

    /// `topk`, `bottomk`, `limitk` and `limit_ratio`: the output keeps the selected
    /// input series as they are.
    fn aggregate_k(
        &mut self,
        op: TokenId,
        param: &[f64],
        input: &[Series],
        group_of: &[usize],
        n_groups: usize,
        grid: Grid,
    ) -> Result<Val> {
        let mut slots: Vec<Option<usize>> = vec![None; input.len()];
        let mut members: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n_groups];
        let mut out = Collector::default();
        let mut cur = StepCursor::new(input.len());
        let mut present = Vec::new();
        for (k, t) in grid.iter() {
            self.check()?;
            cur.gather(input, t, &mut present);
            let p = param.get(k).copied().unwrap_or(f64::NAN);
            let limit = match op {
                T_LIMIT_RATIO => {
                    if p == 0.0 {
                        continue;
                    }
                    0
                }
                _ => {
                    // Go's int64 conversion truncates toward zero.
                    let k = (p.trunc() as i64).min(input.len() as i64);
                    if k < 1 {
                        continue;
                    }
                    k as usize
                }
            };
            members.iter_mut().for_each(Vec::clear);
            for &(i, v) in &present {
                members[group_of[i]].push((i, v));
            }
            for m in members.iter_mut() {
                if m.is_empty() {
                    continue;
                }
                match op {
                    T_TOPK => {
                        m.sort_by(|a, b| desc_nan_last(a.1, b.1));
                        m.truncate(limit);
                    }
                    T_BOTTOMK => {
                        m.sort_by(|a, b| asc_nan_last(a.1, b.1));
                        m.truncate(limit);
                    }
                    T_LIMITK => m.truncate(limit),
                    _ => {
                        let r = p.clamp(-1.0, 1.0);
                        m.retain(|&(i, _)| ratio_sample(&input[i].labels, r));
                    }
                }
                for &(i, v) in m.iter() {
                    let slot = *slots[i].get_or_insert_with(|| {
                        out.slot(input[i].labels.clone(), input[i].drop_name)
                    });
                    out.push(slot, t, v)?;
                }
            }
        }
        Ok(Val::Vector(out.finish()))
    }

    fn count_values(&mut self, a: &AggregateExpr, grouping: Grouping, grid: Grid) -> Result<Val> {
        let label = match a.param.as_deref().map(super::unparen) {
            Some(Expr::StringLiteral(s)) => s.val.clone(),
            _ => {
                return Err(QueryError::Execution(
                    "count_values requires a string parameter".into(),
                ))
            }
        };
        if !self.valid_label_name(&label) {
            return Err(QueryError::Execution(format!(
                "invalid label name {}",
                self.quote_name(&label)
            )));
        }
        let mut names = grouping.names.clone();
        if !grouping.without {
            names.push(label.clone());
        }
        let grouping = Grouping {
            without: grouping.without,
            names,
        };
        let input = self.eval_vector(&a.expr, grid)?;
        let mut out = Collector::default();
        let mut cur = StepCursor::new(input.len());
        let mut present = Vec::new();
        for (_, t) in grid.iter() {
            self.check()?;
            cur.gather(&input, t, &mut present);
            let mut counts: Vec<(Labels, f64)> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            for &(i, v) in &present {
                let with_value = labels::with_label(&input[i].labels, &label, &go_format_f(v));
                let key = grouping.labels(&with_value);
                match index.get(&key) {
                    Some(&g) => counts[g].1 += 1.0,
                    None => {
                        index.insert(key.clone(), counts.len());
                        counts.push((key, 1.0));
                    }
                }
            }
            for (labels, n) in counts {
                let slot = out.slot(labels, false);
                out.push(slot, t, n)?;
            }
        }
        Ok(Val::Vector(out.finish()))
    }
}

/// `min`/`max`: a NaN is replaced by any later value, so the result is NaN only if
/// every value is.
fn fold_extreme(vals: &[f64], replace: impl Fn(f64, f64) -> bool) -> f64 {
    let mut it = vals.iter().copied();
    let mut cur = it.next().unwrap_or(f64::NAN);
    for v in it {
        if replace(cur, v) || cur.is_nan() {
            cur = v;
        }
    }
    cur
}

fn desc_nan_last(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

fn asc_nan_last(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Whether `limit_ratio` keeps a series: a stable pseudo-random position of the label
/// set in `[0, 1)` is compared with the ratio (from the start for positive ratios,
/// from the end for negative ones), so the same series are kept at every step.
fn ratio_sample(ls: &Labels, r: f64) -> bool {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ls.hash(&mut h);
    let offset = h.finish() as f64 / u64::MAX as f64;
    if r >= 0.0 {
        offset < r
    } else {
        offset >= 1.0 + r
    }
}

fn token_name(op: TokenId) -> String {
    promql_parser::parser::token::TokenType::new(op).to_string()
}
