//! Binary operators: scalar/scalar, vector/scalar, and vector/vector with label
//! matching (`on`, `ignoring`, `group_left`, `group_right`, `fill*`) and the set
//! operators `and`, `or`, `unless`.

use super::labels::{self, match_labels, prom_string};
use super::{Collector, Evaluator, Grid, Result, Series, StepCursor, Val};
use crate::value::Point;
use crate::QueryError;
use pharos_model::Labels;
use promql_parser::parser::token::*;
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::collections::{HashMap, HashSet};

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Operators whose result no longer measures the same thing, so the metric name goes.
fn changes_metric(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

/// The value of `l op r` and whether a comparison keeps the element.
fn elem_op(op: TokenId, l: f64, r: f64) -> (f64, bool) {
    match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

fn scalar_op(op: TokenId, l: f64, r: f64) -> f64 {
    let (v, keep) = elem_op(op, l, r);
    if is_comparison(op) {
        if keep {
            1.0
        } else {
            0.0
        }
    } else {
        v
    }
}

/// Which labels decide that two series match.
struct Matching {
    on: bool,
    names: Vec<String>,
    card: VectorMatchCardinality,
    fill_lhs: Option<f64>,
    fill_rhs: Option<f64>,
}

impl Matching {
    fn new(m: Option<&BinModifier>) -> Matching {
        let (on, names) = match m.and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (false, Vec::new()),
        };
        Matching {
            on,
            names,
            card: m
                .map(|m| m.card.clone())
                .unwrap_or(VectorMatchCardinality::OneToOne),
            fill_lhs: m.and_then(|m| m.fill_values.lhs),
            fill_rhs: m.and_then(|m| m.fill_values.rhs),
        }
    }

    fn include(&self) -> &[String] {
        match &self.card {
            VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => {
                &l.labels
            }
            _ => &[],
        }
    }
}

/// Signature ordinals of both sides' series, so matching per step is an array lookup.
fn signatures(m: &Matching, lhs: &[Series], rhs: &[Series]) -> (Vec<usize>, Vec<usize>, usize) {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut ord = |s: &Series| {
        let key = labels::signature(&s.labels, m.on, &m.names);
        let n = ids.len();
        *ids.entry(key).or_insert(n)
    };
    let l: Vec<usize> = lhs.iter().map(&mut ord).collect();
    let r: Vec<usize> = rhs.iter().map(&mut ord).collect();
    let n = ids.len();
    (l, r, n)
}

impl Evaluator<'_> {
    pub(crate) fn eval_binary(&mut self, b: &BinaryExpr, grid: Grid) -> Result<Val> {
        let op = b.op.id();
        let return_bool = b.return_bool();
        let lhs = self.eval(&b.lhs, grid)?;
        let rhs = self.eval(&b.rhs, grid)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
                l.iter().zip(&r).map(|(a, b)| scalar_op(op, *a, *b)).collect(),
            )),
            (Val::Vector(v), Val::Scalar(s)) => self.vector_scalar(op, v, &s, false, return_bool, grid),
            (Val::Scalar(s), Val::Vector(v)) => self.vector_scalar(op, v, &s, true, return_bool, grid),
            (Val::Vector(l), Val::Vector(r)) => {
                let m = Matching::new(b.modifier.as_ref());
                if matches!(op, T_LAND | T_LOR | T_LUNLESS) {
                    self.set_op(op, &m, l, r, grid)
                } else {
                    self.vector_vector(op, return_bool, &m, l, r, grid)
                }
            }
            (l, r) => Err(QueryError::Execution(format!(
                "binary expression must contain only scalar and instant vector types, got {} and {}",
                l.type_name(),
                r.type_name()
            ))),
        }
    }

    fn vector_scalar(
        &mut self,
        op: TokenId,
        series: Vec<Series>,
        scalar: &[f64],
        scalar_left: bool,
        return_bool: bool,
        grid: Grid,
    ) -> Result<Val> {
        if matches!(op, T_LAND | T_LOR | T_LUNLESS) {
            return Err(QueryError::Execution(
                "set operator not allowed in binary scalar expression".into(),
            ));
        }
        let cmp = is_comparison(op);
        let drop = changes_metric(op) || return_bool;
        let mut out = Vec::with_capacity(series.len());
        for mut s in series {
            self.check()?;
            let mut points = Vec::with_capacity(s.points.len());
            for p in &s.points {
                let sv = scalar.get(grid.index(p.t)).copied().unwrap_or(f64::NAN);
                let (l, r) = if scalar_left { (sv, p.v) } else { (p.v, sv) };
                let (mut v, mut keep) = elem_op(op, l, r);
                if cmp && scalar_left {
                    // A comparison filters the vector's elements; they keep their value.
                    v = r;
                }
                if return_bool {
                    v = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                if keep {
                    points.push(Point { t: p.t, v });
                }
            }
            if points.is_empty() {
                continue;
            }
            s.points = points;
            if drop {
                self.mark_drop_name(&mut s);
            }
            out.push(s);
        }
        Ok(Val::Vector(self.merge_same_labels(out)?))
    }

    fn set_op(
        &mut self,
        op: TokenId,
        m: &Matching,
        lhs: Vec<Series>,
        rhs: Vec<Series>,
        grid: Grid,
    ) -> Result<Val> {
        let (lsig, rsig, nsigs) = signatures(m, &lhs, &rhs);
        let mut out = Collector::default();
        let mut lslot: Vec<Option<usize>> = vec![None; lhs.len()];
        let mut rslot: Vec<Option<usize>> = vec![None; rhs.len()];
        let mut lcur = StepCursor::new(lhs.len());
        let mut rcur = StepCursor::new(rhs.len());
        let (mut lv, mut rv) = (Vec::new(), Vec::new());
        let mut present: Vec<u64> = vec![0; nsigs];
        for (k, t) in grid.iter() {
            self.check()?;
            let stamp = k as u64 + 1;
            lcur.gather(&lhs, t, &mut lv);
            rcur.gather(&rhs, t, &mut rv);
            let mut emit_l = |out: &mut Collector, i: usize, v: f64| -> Result<()> {
                let slot = *lslot[i]
                    .get_or_insert_with(|| out.slot(lhs[i].labels.clone(), lhs[i].drop_name));
                out.push(slot, t, v)
            };
            match op {
                T_LAND => {
                    if lv.is_empty() || rv.is_empty() {
                        continue;
                    }
                    for &(i, _) in &rv {
                        present[rsig[i]] = stamp;
                    }
                    for &(i, v) in &lv {
                        if present[lsig[i]] == stamp {
                            emit_l(&mut out, i, v)?;
                        }
                    }
                }
                T_LUNLESS => {
                    for &(i, _) in &rv {
                        present[rsig[i]] = stamp;
                    }
                    for &(i, v) in &lv {
                        if present[lsig[i]] != stamp {
                            emit_l(&mut out, i, v)?;
                        }
                    }
                }
                _ => {
                    for &(i, v) in &lv {
                        present[lsig[i]] = stamp;
                        emit_l(&mut out, i, v)?;
                    }
                    for &(i, v) in &rv {
                        if present[rsig[i]] != stamp {
                            let slot = *rslot[i].get_or_insert_with(|| {
                                out.slot(rhs[i].labels.clone(), rhs[i].drop_name)
                            });
                            out.push(slot, t, v)?;
                        }
                    }
                }
            }
        }
        Ok(Val::Vector(out.finish()))
    }

    /// Arithmetic and comparison between two vectors.
    fn vector_vector(
        &mut self,
        op: TokenId,
        return_bool: bool,
        m: &Matching,
        lhs: Vec<Series>,
        rhs: Vec<Series>,
        grid: Grid,
    ) -> Result<Val> {
        let (lsig, rsig, nsigs) = signatures(m, &lhs, &rhs);
        // The "one" side of a many-to-one match is always handled as the right side;
        // for `group_right` the sides swap, and swap back for computing values.
        let swapped = matches!(m.card, VectorMatchCardinality::OneToMany(_));
        let (many, one, many_sig, one_sig) = if swapped {
            (&rhs, &lhs, &rsig, &lsig)
        } else {
            (&lhs, &rhs, &lsig, &rsig)
        };
        // Prometheus keeps the fill values on their sides of the swapped operands: the
        // right fill stands in for a missing "one" element, the left for a missing
        // "many" element.
        let (fill_many, fill_one) = (m.fill_lhs, m.fill_rhs);
        let mut st = PairState {
            op,
            return_bool,
            swapped,
            one_to_one: matches!(m.card, VectorMatchCardinality::OneToOne),
            delayed: self.settings.delayed_name_removal,
            m,
            many,
            one,
            out: Collector::default(),
            slots: HashMap::new(),
            matched: vec![0; nsigs],
            matched_many: HashMap::new(),
        };
        let mut mcur = StepCursor::new(many.len());
        let mut ocur = StepCursor::new(one.len());
        let (mut mv, mut ov) = (Vec::new(), Vec::new());
        let mut one_at: Vec<(u64, usize, f64)> = vec![(0, 0, 0.0); nsigs];
        for (k, t) in grid.iter() {
            self.check()?;
            let stamp = k as u64 + 1;
            mcur.gather(many, t, &mut mv);
            ocur.gather(one, t, &mut ov);
            let no_fill = m.fill_lhs.is_none() && m.fill_rhs.is_none();
            if (mv.is_empty() && ov.is_empty()) || ((mv.is_empty() || ov.is_empty()) && no_fill) {
                continue;
            }
            for &(i, v) in &ov {
                let sig = one_sig[i];
                if one_at[sig].0 == stamp {
                    let other = &one[one_at[sig].1];
                    return Err(duplicate_error(m, swapped, &one[i].labels, &other.labels));
                }
                one_at[sig] = (stamp, i, v);
            }
            st.matched_many.clear();
            for &(i, v) in &mv {
                let sig = many_sig[i];
                if one_at[sig].0 == stamp {
                    st.emit(
                        t,
                        stamp,
                        Some(i),
                        Some(one_at[sig].1),
                        v,
                        one_at[sig].2,
                        sig,
                    )?;
                } else if let Some(fill) = fill_one {
                    st.emit(t, stamp, Some(i), None, v, fill, sig)?;
                }
            }
            if let Some(fill) = fill_many {
                for &(i, v) in &ov {
                    let sig = one_sig[i];
                    let done = if st.one_to_one {
                        st.matched[sig] == stamp
                    } else {
                        st.matched_many.get(&sig).is_some_and(|s| !s.is_empty())
                    };
                    if !done {
                        st.emit(t, stamp, None, Some(i), fill, v, sig)?;
                    }
                }
            }
        }
        Ok(Val::Vector(st.out.finish()))
    }
}

/// Per-node state of a vector/vector operation while stepping through the grid.
struct PairState<'s> {
    op: TokenId,
    return_bool: bool,
    swapped: bool,
    one_to_one: bool,
    delayed: bool,
    m: &'s Matching,
    many: &'s [Series],
    one: &'s [Series],
    out: Collector,
    /// Output series per matched pair (a missing side is a fill value).
    slots: HashMap<(Option<usize>, Option<usize>), usize>,
    matched: Vec<u64>,
    matched_many: HashMap<usize, HashSet<usize>>,
}

impl PairState<'_> {
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        t: i64,
        stamp: u64,
        mi: Option<usize>,
        oi: Option<usize>,
        mval: f64,
        oval: f64,
        sig: usize,
    ) -> Result<()> {
        let (l, r) = if self.swapped {
            (oval, mval)
        } else {
            (mval, oval)
        };
        let (mut v, keep) = elem_op(self.op, l, r);
        if self.return_bool {
            v = if keep { 1.0 } else { 0.0 };
        }
        let slot = match self.slots.get(&(mi, oi)) {
            Some(&s) => s,
            None => {
                let m = self.m;
                let many_labels = match (mi, oi) {
                    (Some(i), _) => self.many[i].labels.clone(),
                    (None, Some(o)) => match_labels(&self.one[o].labels, m.on, &m.names),
                    (None, None) => Labels::empty(),
                };
                let one_labels = match oi {
                    Some(o) => self.one[o].labels.clone(),
                    None => match_labels(&many_labels, m.on, &m.names),
                };
                let labels = result_labels(
                    self.op,
                    m,
                    &many_labels,
                    &one_labels,
                    self.return_bool,
                    self.delayed,
                );
                let s = self.out.slot(labels, self.return_bool);
                self.slots.insert((mi, oi), s);
                s
            }
        };
        if self.one_to_one {
            if self.matched[sig] == stamp {
                return Err(QueryError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
            self.matched[sig] = stamp;
        } else if !self.matched_many.entry(sig).or_default().insert(slot) {
            return Err(QueryError::Execution(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        if !keep && !self.return_bool {
            return Ok(());
        }
        self.out.push(slot, t, v)
    }
}

/// The labels of a vector/vector result element: the "many" side's labels, without
/// the metric name for arithmetic, reduced to the match labels for one-to-one
/// matching, plus the `group_*` labels taken from the "one" side.
fn result_labels(
    op: TokenId,
    m: &Matching,
    many: &Labels,
    one: &Labels,
    return_bool: bool,
    delayed: bool,
) -> Labels {
    let mut ls = if changes_metric(op) || (return_bool && !delayed) {
        labels::without_name(many)
    } else {
        many.clone()
    };
    if matches!(m.card, VectorMatchCardinality::OneToOne) {
        ls = if m.on {
            labels::keep(&ls, &m.names)
        } else {
            labels::without(&ls, &m.names, false)
        };
    }
    for name in m.include() {
        let v = one.get(name).unwrap_or("");
        ls = labels::with_label(&ls, name, v);
    }
    ls
}

fn duplicate_error(m: &Matching, swapped: bool, a: &Labels, b: &Labels) -> QueryError {
    let side = if swapped { "left" } else { "right" };
    let group = match_labels(a, m.on, &m.names);
    let (mut d1, mut d2) = (prom_string(a), prom_string(b));
    if d1 > d2 {
        std::mem::swap(&mut d1, &mut d2);
    }
    QueryError::Execution(format!(
        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{d1}, {d2}];many-to-many matching not allowed: matching labels must be unique on one side",
        prom_string(&group)
    ))
}
