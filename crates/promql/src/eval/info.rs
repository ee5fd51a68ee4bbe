//! The experimental `info(v, {data-label selector})` function: adds the data labels of
//! info metrics (`target_info` unless selected otherwise) to the series of `v` that
//! share their identifying labels (`instance`, `job`).

use super::call::nth;
use super::labels::{self, prom_string};
use super::selector::offset_ms;
use super::{Collector, Evaluator, Grid, Result, Series, StepCursor, Val};
use crate::value::Point;
use crate::QueryError;
use pharos_model::{is_stale_nan, Labels, MatchOp, Matcher, METRIC_NAME};
use promql_parser::parser::{Expr, VectorSelector};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// `__name__` matchers that select the info series: as given if any is positive; only
/// negative ones exclude from all `*_info` metrics; none means `target_info`.
fn effective_name_matchers(given: Vec<Matcher>) -> Vec<Matcher> {
    if given
        .iter()
        .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::RegexMatch))
    {
        return given;
    }
    if given.is_empty() {
        return vec![Matcher::equal(METRIC_NAME, "target_info")];
    }
    let mut all = Vec::with_capacity(given.len() + 1);
    if let Ok(m) = Matcher::new(MatchOp::RegexMatch, METRIC_NAME, ".+_info") {
        all.push(m);
    }
    all.extend(given);
    all
}

/// The `@` time and offset that place the info series in time: those of the first
/// selector in `v`, shifted by the subqueries around it up to one with an `@`.
fn time_anchor(
    ev: &Evaluator<'_>,
    e: &Expr,
    outer: &[&promql_parser::parser::SubqueryExpr],
) -> Option<(Option<i64>, i64)> {
    match e {
        Expr::VectorSelector(vs) => Some(anchor_of(ev, vs, outer)),
        Expr::MatrixSelector(ms) => Some(anchor_of(ev, &ms.vs, outer)),
        Expr::Subquery(sq) => {
            let mut path = outer.to_vec();
            path.push(sq);
            time_anchor(ev, &sq.expr, &path)
        }
        other => super::children(other)
            .into_iter()
            .find_map(|c| time_anchor(ev, c, outer)),
    }
}

fn anchor_of(
    ev: &Evaluator<'_>,
    vs: &VectorSelector,
    outer: &[&promql_parser::parser::SubqueryExpr],
) -> (Option<i64>, i64) {
    let mut at = ev.at_ms(&vs.at);
    let mut offset = offset_ms(&vs.offset);
    for sq in outer.iter().rev() {
        if at.is_some() {
            break;
        }
        offset = offset.saturating_add(offset_ms(&sq.offset));
        at = ev.at_ms(&sq.at);
    }
    (at, offset)
}

impl Evaluator<'_> {
    pub(crate) fn eval_info(&mut self, args: &[&Expr], grid: Grid) -> Result<Val> {
        let base_arg = nth(args, 0)?;
        let (at, offset) = time_anchor(self, base_arg, &[]).unwrap_or((None, 0));
        let base = self.eval_vector(base_arg, grid)?;

        // Data-label matchers by label name; `__name__` ones choose the info metrics.
        let mut data: BTreeMap<String, Vec<Matcher>> = BTreeMap::new();
        let mut name_matchers = Vec::new();
        match args.get(1) {
            Some(Expr::VectorSelector(sel)) => {
                for m in super::selector::selector_matchers(sel)? {
                    if m.name == super::syntax::INFO_PLACEHOLDER {
                        continue;
                    }
                    if m.name == METRIC_NAME {
                        name_matchers.push(m.clone());
                    }
                    data.entry(m.name.clone()).or_default().push(m);
                }
            }
            Some(_) => {
                return Err(QueryError::Execution(
                    "info() expects a label selector as second argument".into(),
                ))
            }
            None => name_matchers.push(Matcher::equal(METRIC_NAME, "target_info")),
        }
        let effective = effective_name_matchers(name_matchers.clone());
        let ignored: Vec<bool> = base
            .iter()
            .map(|s| {
                let name = s.labels.metric_name().unwrap_or("");
                effective.iter().all(|m| m.matches(name))
            })
            .collect();

        let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (s, _) in base.iter().zip(&ignored).filter(|(_, ign)| !**ign) {
            for l in IDENTIFYING {
                if let Some(v) = s.labels.get(l).filter(|v| !v.is_empty()) {
                    values.entry(l).or_default().insert(v);
                }
            }
        }
        data.remove(METRIC_NAME);
        let info = if values.is_empty() {
            Vec::new()
        } else {
            let mut matchers = Vec::new();
            for (name, vals) in &values {
                let alt = vals
                    .iter()
                    .map(|v| regex::escape(v))
                    .collect::<Vec<_>>()
                    .join("|");
                matchers.push(
                    Matcher::new(MatchOp::RegexMatch, *name, alt)
                        .map_err(|e| QueryError::Execution(e.to_string()))?,
                );
            }
            matchers.extend(data.values().flatten().cloned());
            matchers.extend(effective_name_matchers(name_matchers));
            self.info_series(&matchers, grid, at, offset)?
        };
        self.combine_info(base, &ignored, info, &data, grid)
    }

    /// The info series at every step as an instant selector with the base's `@` and
    /// offset would see them; the value is the sample's own time, to prefer the newest.
    fn info_series(
        &mut self,
        matchers: &[Matcher],
        grid: Grid,
        at: Option<i64>,
        offset: i64,
    ) -> Result<Vec<Series>> {
        let lookback = self.settings.lookback_ms;
        let (lo, hi) = match at {
            Some(t) => (t, t),
            None => (grid.start, grid.end),
        };
        let mint = lo
            .saturating_sub(offset)
            .saturating_sub(lookback)
            .saturating_add(1);
        let maxt = hi.saturating_sub(offset);
        let raw = self.select_matchers(vec![matchers.to_vec()], mint, maxt)?;
        let mut out = Vec::with_capacity(raw.len());
        for s in raw {
            let mut points = Vec::new();
            let mut next = 0;
            for (_, t) in grid.iter() {
                let r = at.unwrap_or(t).saturating_sub(offset);
                while next < s.points.len() && s.points[next].t <= r {
                    next += 1;
                }
                if let Some(p) = next.checked_sub(1).and_then(|i| s.points.get(i)) {
                    if p.t > r.saturating_sub(lookback) && !is_stale_nan(p.v) {
                        points.push(Point { t, v: p.t as f64 });
                    }
                }
            }
            if !points.is_empty() {
                out.push(Series::new(s.labels, false, points));
            }
        }
        Ok(out)
    }

    fn combine_info(
        &mut self,
        base: Vec<Series>,
        ignored: &[bool],
        info: Vec<Series>,
        data: &BTreeMap<String, Vec<Matcher>>,
        grid: Grid,
    ) -> Result<Val> {
        let signature = |name: &str, ls: &Labels| -> String {
            let mut key = name.to_string();
            for l in IDENTIFYING {
                key.push('\u{0}');
                key.push_str(ls.get(l).unwrap_or(""));
            }
            key
        };
        let info_names: BTreeSet<&str> =
            info.iter().filter_map(|s| s.labels.metric_name()).collect();
        let info_sig: Vec<String> = info
            .iter()
            .map(|s| signature(s.labels.metric_name().unwrap_or(""), &s.labels))
            .collect();
        let all_match_empty = data.values().flatten().all(|m| m.matches(""));
        let mut out = Collector::default();
        let mut bcur = StepCursor::new(base.len());
        let mut icur = StepCursor::new(info.len());
        let (mut bv, mut iv) = (Vec::new(), Vec::new());
        for (_, t) in grid.iter() {
            self.check()?;
            bcur.gather(&base, t, &mut bv);
            if bv.is_empty() {
                continue;
            }
            icur.gather(&info, t, &mut iv);
            let mut by_sig: HashMap<&str, (usize, f64)> = HashMap::new();
            for &(i, sample_t) in &iv {
                match by_sig.get(info_sig[i].as_str()) {
                    Some(&(j, other_t)) if other_t == sample_t => {
                        return Err(QueryError::Execution(format!(
                            "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                            prom_string(&info[j].labels),
                            other_t as i64,
                            prom_string(&info[i].labels),
                            sample_t as i64
                        )));
                    }
                    Some(&(_, other_t)) if other_t > sample_t => {}
                    _ => {
                        by_sig.insert(info_sig[i].as_str(), (i, sample_t));
                    }
                }
            }
            for &(b, v) in &bv {
                let s = &base[b];
                if ignored.get(b).copied().unwrap_or(false) {
                    let slot = out.slot(s.labels.clone(), s.drop_name);
                    out.push(slot, t, v)?;
                    continue;
                }
                let mut added: BTreeMap<String, String> = BTreeMap::new();
                let mut matched_any = false;
                for name in &info_names {
                    let Some(&(i, _)) = by_sig.get(signature(name, &s.labels).as_str()) else {
                        continue;
                    };
                    matched_any = true;
                    for l in info[i].labels.iter() {
                        if l.name == METRIC_NAME
                            || (!data.is_empty() && !data.contains_key(&l.name))
                        {
                            continue;
                        }
                        if added.get(&l.name).is_some_and(|v| *v != l.value) {
                            return Err(QueryError::Execution(format!(
                                "conflicting label: {}",
                                l.name
                            )));
                        }
                        if s.labels.get(&l.name).is_some() {
                            continue;
                        }
                        added.insert(l.name.clone(), l.value.clone());
                    }
                }
                if !matched_any && !all_match_empty {
                    continue;
                }
                let mut ls = s.labels.clone();
                for (n, v) in &added {
                    ls = labels::with_label(&ls, n, v);
                }
                let slot = out.slot(ls, s.drop_name);
                out.push(slot, t, v)?;
            }
        }
        Ok(Val::Vector(out.finish()))
    }
}
