//! `histogram_quantile`, `histogram_quantiles` and `histogram_fraction` over classic
//! histograms: series that differ only in their `le` label are the buckets of one
//! histogram.

use super::call::{nth, string_arg};
use super::labels::{self, go_format_g, go_quote};
use super::{Collector, Evaluator, Grid, Result, Series, StepCursor, Val};
use crate::functions::histogram::{self as kernel, Bucket};
use pharos_model::Labels;
use promql_parser::parser::Expr;
use std::cmp::Ordering;
use std::collections::HashMap;

enum Op<'e> {
    /// One value per quantile expression per step; with a label name, each quantile's
    /// result carries its value in that label (`histogram_quantiles`).
    Quantile {
        qs: Vec<Vec<f64>>,
        nodes: Vec<&'e Expr>,
        label: Option<String>,
    },
    Fraction {
        lower: Vec<f64>,
        upper: Vec<f64>,
    },
}

impl Evaluator<'_> {
    pub(crate) fn classic_histogram(
        &mut self,
        name: &str,
        args: &[&Expr],
        grid: Grid,
    ) -> Result<Val> {
        let (op, input_arg) = match name {
            "histogram_quantile" => {
                let q = nth(args, 0)?;
                let op = Op::Quantile {
                    qs: vec![self.eval_scalar(q, grid)?],
                    nodes: vec![q],
                    label: None,
                };
                (op, nth(args, 1)?)
            }
            "histogram_quantiles" => {
                let label = string_arg(nth(args, 1)?)?.to_string();
                let nodes: Vec<&Expr> = args.iter().skip(2).copied().collect();
                let mut qs = Vec::with_capacity(nodes.len());
                for n in &nodes {
                    qs.push(self.eval_scalar(n, grid)?);
                }
                (
                    Op::Quantile {
                        qs,
                        nodes,
                        label: Some(label),
                    },
                    nth(args, 0)?,
                )
            }
            _ => {
                let lower = self.eval_scalar(nth(args, 0)?, grid)?;
                let upper = self.eval_scalar(nth(args, 1)?, grid)?;
                (Op::Fraction { lower, upper }, nth(args, 2)?)
            }
        };
        let input = self.eval_vector(input_arg, grid)?;
        let (member, groups) = self.bucket_groups(&input, input_arg);

        let mut out = Collector::default();
        let mut slots: HashMap<(usize, usize), usize> = HashMap::new();
        let mut cur = StepCursor::new(input.len());
        let mut present = Vec::new();
        let mut buckets: Vec<Vec<Bucket>> = vec![Vec::new(); groups.len()];
        for (k, t) in grid.iter() {
            self.check()?;
            if let Op::Quantile { qs, nodes, .. } = &op {
                for (q, node) in qs.iter().zip(nodes) {
                    let q = q.get(k).copied().unwrap_or(f64::NAN);
                    if q.is_nan() || !(0.0..=1.0).contains(&q) {
                        self.warn(
                            format!(
                                "quantile value should be between 0 and 1, got {}",
                                go_format_g(q)
                            ),
                            Some(node),
                        );
                    }
                }
            }
            cur.gather(&input, t, &mut present);
            if present.is_empty() {
                continue;
            }
            buckets.iter_mut().for_each(Vec::clear);
            for &(i, v) in &present {
                if let Some(Some((g, ub))) = member.get(i) {
                    buckets[*g].push(Bucket {
                        upper_bound: *ub,
                        count: v,
                    });
                }
            }
            for (g, b) in buckets.iter().enumerate() {
                if b.is_empty() {
                    continue;
                }
                match &op {
                    Op::Quantile { qs, label, .. } => {
                        for (qi, q) in qs.iter().enumerate() {
                            let q = q.get(k).copied().unwrap_or(f64::NAN);
                            let mut b = b.clone();
                            let res = kernel::histogram_quantile(q, &mut b);
                            if res.forced_monotonic {
                                self.monotonicity_info(&groups[g], input_arg);
                            }
                            let slot = self.histogram_slot(
                                &mut out,
                                &mut slots,
                                (g, qi),
                                &groups[g],
                                label.as_deref().map(|l| (l, q)),
                            );
                            out.push(slot, t, res.value)?;
                        }
                    }
                    Op::Fraction { lower, upper } => {
                        let lo = lower.get(k).copied().unwrap_or(f64::NAN);
                        let hi = upper.get(k).copied().unwrap_or(f64::NAN);
                        let v = bucket_fraction(lo, hi, &mut b.clone());
                        let slot =
                            self.histogram_slot(&mut out, &mut slots, (g, 0), &groups[g], None);
                        out.push(slot, t, v)?;
                    }
                }
            }
        }
        Ok(Val::Vector(out.finish()))
    }

    /// Per input series its histogram (index into the returned label sets, which are
    /// the series' labels without `le`) and upper bound; `None` for a missing or
    /// malformed `le`, which is reported.
    #[allow(clippy::type_complexity)]
    fn bucket_groups(
        &mut self,
        input: &[Series],
        node: &Expr,
    ) -> (Vec<Option<(usize, f64)>>, Vec<Labels>) {
        let delayed = self.settings.delayed_name_removal;
        let mut index = labels::KeyIndex::default();
        let mut member = Vec::with_capacity(input.len());
        for s in input {
            let le = s.labels.get("le").unwrap_or("");
            match le.parse::<f64>() {
                Ok(ub) => {
                    let key = s.labels.iter().filter(|l| l.name != "le").collect();
                    member.push(Some((index.id(key), ub)));
                }
                Err(_) => {
                    member.push(None);
                    let name = if delayed {
                        s.labels.metric_name().unwrap_or("")
                    } else {
                        ""
                    };
                    let mut msg = format!(
                        "bucket label \"le\" is missing or has a malformed value of {}",
                        go_quote(le)
                    );
                    if !name.is_empty() {
                        msg.push_str(&format!(" for metric name {}", go_quote(name)));
                    }
                    self.warn(msg, Some(node));
                }
            }
        }
        (member, index.keys)
    }

    fn monotonicity_info(&mut self, group: &Labels, node: &Expr) {
        let name = if self.settings.delayed_name_removal {
            group.metric_name().unwrap_or("")
        } else {
            ""
        };
        let mut msg = "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)".to_string();
        if !name.is_empty() {
            msg.push_str(&format!(" for metric name {}", go_quote(name)));
        }
        self.info(msg, Some(node));
    }

    /// The output series of a histogram (and quantile, for `histogram_quantiles`).
    fn histogram_slot(
        &self,
        out: &mut Collector,
        slots: &mut HashMap<(usize, usize), usize>,
        key: (usize, usize),
        group: &Labels,
        quantile_label: Option<(&str, f64)>,
    ) -> usize {
        if let Some(&s) = slots.get(&key) {
            return s;
        }
        let mut ls = group.clone();
        if let Some((label, q)) = quantile_label {
            ls = labels::with_label(&ls, label, &openmetrics_float(q));
        }
        let mut series = Series::new(ls, false, Vec::new());
        self.mark_drop_name(&mut series);
        let s = out.slot(series.labels, series.drop_name);
        slots.insert(key, s);
        s
    }
}

/// Prometheus's `FormatOpenMetricsFloat`: `%g`, with `.0` added to integral values.
fn openmetrics_float(v: f64) -> String {
    let s = go_format_g(v);
    if !v.is_finite() || s.contains(['e', '.']) {
        s
    } else {
        s + ".0"
    }
}

/// The fraction of the observations of a classic histogram that lie between `lower`
/// and `upper`, interpolating linearly inside buckets as Prometheus's `BucketFraction`
/// does. No observation is attributed within a bucket of infinite width.
fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [Bucket]) -> f64 {
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(Ordering::Equal)
    });
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Buckets with the same bound (e.g. `le="1"` and `le="1.0"`) are one bucket.
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => merged.push(*b),
        }
    }
    let count = merged.last().map_or(0.0, |b| b.count);
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let mut rank = 0.0;
    let (mut lower_rank, mut upper_rank) = (0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if merged[0].upper_bound <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, b) in merged.iter().enumerate() {
        if i > 0 {
            lower_bound = merged[i - 1].upper_bound;
        }
        let upper_bound = b.upper_bound;
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                b.count
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ub: f64, c: f64) -> Bucket {
        Bucket {
            upper_bound: ub,
            count: c,
        }
    }

    #[test]
    fn fraction_interpolates() {
        let mut buckets = vec![b(1.0, 1.0), b(2.0, 3.0), b(f64::INFINITY, 4.0)];
        assert_eq!(bucket_fraction(0.0, 1.0, &mut buckets.clone()), 0.25);
        assert_eq!(bucket_fraction(1.0, 1.5, &mut buckets.clone()), 0.25);
        assert_eq!(bucket_fraction(2.0, f64::INFINITY, &mut buckets), 0.25);
        assert!(bucket_fraction(0.0, 1.0, &mut [b(1.0, 1.0)]).is_nan());
    }
}
