//! Comparison of query results with an eval's expectations, following upstream's rules:
//! relative tolerance 1e-6, NaN equals NaN, the stale NaN equals only itself, exact label
//! sets, order only under `ordered`, exact point counts and timestamps for matrices.

use super::parse::{Eval, RangeSpec, SeqValue};
use crate::{Annotations, InstantSample, RangeSeries, Value};
use pharos_model::{is_stale_nan, Labels};
use std::collections::HashMap;
use std::fmt::Write;

/// Relative error allowed between expected and actual values.
pub const EPSILON: f64 = 1e-6;

/// Upstream's `almost.Equal`: relative comparison, with absolute comparison near zero.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let min_normal = f64::MIN_POSITIVE;
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < epsilon * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Formats a float the way the scripts write them, so messages are easy to match up.
pub fn fmt_float(v: f64) -> String {
    if is_stale_nan(v) {
        "stale".into()
    } else if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn fmt_seq(values: &[SeqValue]) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|v| match v {
            SeqValue::Omitted => "_".into(),
            SeqValue::Float(f) => fmt_float(*f),
            SeqValue::Histogram => "{{…}}".into(),
        })
        .collect();
    parts.join(" ")
}

fn fmt_points(s: &RangeSeries) -> String {
    let mut out = String::new();
    for (i, p) in s.points.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{}@{}", fmt_float(p.v), p.t);
        if i >= 11 && s.points.len() > 13 {
            let _ = write!(out, " … ({} points)", s.points.len());
            break;
        }
    }
    out
}

/// The time grid expected matrix points are placed on.
#[derive(Clone, Copy, Debug)]
struct Grid {
    start: i64,
    step: i64,
    /// `None` for an instant eval without `expect range vector`: no point fits.
    end: Option<i64>,
}

fn grid_of(ev: &Eval) -> Grid {
    let spec: Option<RangeSpec> = ev.range.or(ev.range_vector);
    match spec {
        Some(s) => Grid {
            start: s.start_ms,
            step: s.step_ms,
            end: Some(s.end_ms),
        },
        None => Grid {
            start: ev.at_ms,
            step: 0,
            end: None,
        },
    }
}

/// Checks that a matrix is sorted by label set, as upstream requires of range results.
pub fn check_sorted(m: &[RangeSeries]) -> Result<(), String> {
    for (i, w) in m.windows(2).enumerate() {
        if w[0].labels > w[1].labels {
            return Err(format!(
                "matrix is not sorted by labels: {} (index {}) sorts after {} (index {})",
                w[0].labels,
                i,
                w[1].labels,
                i + 1
            ));
        }
    }
    Ok(())
}

fn expected_index(ev: &Eval) -> HashMap<&Labels, usize> {
    ev.expected
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.labels, i))
        .collect()
}

/// Compares a query result with the eval's expected result.
pub fn compare_result(ev: &Eval, value: &Value) -> Result<(), String> {
    match value {
        Value::Matrix(m) => compare_matrix(ev, m),
        Value::Vector(v) => compare_vector(ev, v),
        Value::Scalar { v, .. } => {
            let Some(exp) = ev.expected_scalar else {
                return Err(format!(
                    "expected vector or matrix result, but got scalar {}",
                    fmt_float(*v)
                ));
            };
            if !almost_equal(exp, *v, EPSILON) {
                return Err(format!(
                    "expected scalar {} but got {}",
                    fmt_float(exp),
                    fmt_float(*v)
                ));
            }
            Ok(())
        }
        Value::String { v, .. } => {
            let exp = ev.expected_string.as_deref().unwrap_or("");
            if exp != v {
                return Err(format!("expected string {exp:?} but got {v:?}"));
            }
            Ok(())
        }
    }
}

fn compare_matrix(ev: &Eval, m: &[RangeSeries]) -> Result<(), String> {
    if ev.ordered {
        return Err("expected ordered result, but query returned a matrix".into());
    }
    if ev.expected_scalar.is_some() {
        return Err(format!(
            "expected scalar result, but got a matrix of {} series",
            m.len()
        ));
    }
    check_sorted(m)?;
    let grid = grid_of(ev);
    let index = expected_index(ev);
    let mut seen = vec![false; ev.expected.len()];
    for s in m {
        let Some(&i) = index.get(&s.labels) else {
            return Err(format!(
                "unexpected series {} in result, has {}",
                s.labels,
                fmt_points(s)
            ));
        };
        if seen[i] {
            return Err(format!("series {} appears twice in the result", s.labels));
        }
        seen[i] = true;
        let exp = &ev.expected[i];
        let mut expected_points: Vec<(i64, f64)> = Vec::new();
        for (k, v) in exp.values.iter().enumerate() {
            let t = grid.start + k as i64 * grid.step;
            if grid.end.is_none_or(|end| t > end) {
                return Err(format!(
                    "expected {} points for {}, but the query range cannot return this many",
                    exp.values.len(),
                    exp.labels
                ));
            }
            match v {
                SeqValue::Float(f) => expected_points.push((t, *f)),
                SeqValue::Omitted => {}
                SeqValue::Histogram => {
                    return Err(format!(
                        "expected a histogram for {} but got floats",
                        exp.labels
                    ))
                }
            }
        }
        if expected_points.len() != s.points.len() {
            return Err(format!(
                "expected {} points for {} ({}), but got {}: {}",
                expected_points.len(),
                exp.labels,
                fmt_seq(&exp.values),
                s.points.len(),
                fmt_points(s)
            ));
        }
        for (k, ((t, want), got)) in expected_points.iter().zip(&s.points).enumerate() {
            if *t != got.t {
                return Err(format!(
                    "point {k} of {} has timestamp {}, expected {t} (result has {})",
                    exp.labels,
                    got.t,
                    fmt_points(s)
                ));
            }
            if !almost_equal(*want, got.v, EPSILON) {
                return Err(format!(
                    "point {k} (t={t}) of {}: expected {} but got {} (result has {})",
                    exp.labels,
                    fmt_float(*want),
                    fmt_float(got.v),
                    fmt_points(s)
                ));
            }
        }
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(format!(
            "expected series {} not found",
            ev.expected[i].labels
        ));
    }
    Ok(())
}

fn compare_vector(ev: &Eval, v: &[InstantSample]) -> Result<(), String> {
    if ev.expected_scalar.is_some() {
        return Err(format!(
            "expected scalar result, but got a vector of {} samples",
            v.len()
        ));
    }
    let index = expected_index(ev);
    let mut seen = vec![false; ev.expected.len()];
    for (pos, s) in v.iter().enumerate() {
        let Some(&i) = index.get(&s.labels) else {
            return Err(format!(
                "unexpected series {} in result, has value {}",
                s.labels,
                fmt_float(s.v)
            ));
        };
        if seen[i] {
            return Err(format!("series {} appears twice in the result", s.labels));
        }
        seen[i] = true;
        let exp = &ev.expected[i];
        if ev.ordered && exp.pos != pos + 1 {
            return Err(format!(
                "expected {} at position {} but it was at {}",
                exp.labels,
                exp.pos,
                pos + 1
            ));
        }
        // Upstream reads an omitted or missing expected value as 0.
        let want = match exp.values.first() {
            Some(SeqValue::Float(f)) => *f,
            Some(SeqValue::Histogram) => {
                return Err(format!(
                    "expected a histogram for {} but got float {}",
                    exp.labels,
                    fmt_float(s.v)
                ))
            }
            Some(SeqValue::Omitted) | None => 0.0,
        };
        if !almost_equal(want, s.v, EPSILON) {
            return Err(format!(
                "expected {} for {} but got {}",
                fmt_float(want),
                exp.labels,
                fmt_float(s.v)
            ));
        }
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        let e = &ev.expected[i];
        return Err(format!(
            "expected series {} with {} not found",
            e.labels,
            fmt_seq(&e.values)
        ));
    }
    Ok(())
}

/// Checks warn/info annotations against the eval's `expect` lines and legacy modifiers.
pub fn check_annotations(ev: &Eval, annos: &Annotations) -> Result<(), String> {
    if ev.legacy_warn && annos.warnings.is_empty() {
        return Err("expected warnings but got none".into());
    }
    if ev.legacy_info && annos.infos.is_empty() {
        return Err("expected info annotations but got none".into());
    }
    check_kind("warn", &ev.warn, &annos.warnings)?;
    check_kind("info", &ev.info, &annos.infos)?;
    if ev.no_warn && !annos.warnings.is_empty() {
        return Err(format!("unexpected warnings: {:?}", annos.warnings));
    }
    if ev.no_info && !annos.infos.is_empty() {
        return Err(format!("unexpected info annotations: {:?}", annos.infos));
    }
    Ok(())
}

fn check_kind(
    kind: &str,
    expected: &[super::parse::TextMatch],
    actual: &[String],
) -> Result<(), String> {
    if expected.is_empty() {
        return Ok(());
    }
    if actual.is_empty() {
        return Err(format!("expected {kind} annotations but none were found"));
    }
    for e in expected {
        if !actual.iter().any(|a| e.matches(a)) {
            return Err(format!(
                "expected {kind} annotation matching {e} but found only {actual:?}"
            ));
        }
    }
    for a in actual {
        if !expected.iter().any(|e| e.matches(a)) {
            return Err(format!("unexpected {kind} annotation {a:?}"));
        }
    }
    Ok(())
}

/// Checks an error text against the eval's `expect fail` checks; returns a description of
/// the first mismatch.
pub fn check_error_text(ev: &Eval, err: &str) -> Result<(), String> {
    for c in &ev.fail_checks {
        if !c.matches(err) {
            return Err(format!("expected error {c}, got {err:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse::{parse_script, Command};
    use super::*;
    use crate::Point;
    use pharos_model::STALE_NAN;

    fn eval(text: &str) -> Eval {
        match parse_script(text).commands.into_iter().next().unwrap() {
            Command::Eval(e) => *e,
            other => panic!("not an eval: {other:?}"),
        }
    }

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn sample(labels: Labels, v: f64) -> InstantSample {
        InstantSample { labels, t: 0, v }
    }

    fn series(labels: Labels, pts: &[(i64, f64)]) -> RangeSeries {
        RangeSeries {
            labels,
            points: pts.iter().map(|&(t, v)| Point { t, v }).collect(),
        }
    }

    #[test]
    fn tolerance() {
        assert!(almost_equal(1.0, 1.0 + 1e-9, EPSILON));
        assert!(!almost_equal(1.0, 1.001, EPSILON));
        assert!(almost_equal(f64::NAN, -f64::NAN, EPSILON));
        assert!(!almost_equal(f64::NAN, 1.0, EPSILON));
        assert!(almost_equal(STALE_NAN, STALE_NAN, EPSILON));
        assert!(!almost_equal(STALE_NAN, f64::NAN, EPSILON));
        assert!(!almost_equal(f64::NAN, STALE_NAN, EPSILON));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY, EPSILON));
        assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY, EPSILON));
        assert!(!almost_equal(f64::INFINITY, 1e308, EPSILON));
        // Near zero the comparison is absolute and very tight.
        assert!(!almost_equal(0.0, 1e-12, EPSILON));
        assert!(almost_equal(0.0, -0.0, EPSILON));
        assert!(almost_equal(1e300, 1e300 * (1.0 + 1e-8), EPSILON));
    }

    #[test]
    fn vector_unordered_and_exact_labels() {
        let ev =
            eval("eval instant at 50m x\n  {group=\"canary\"} 700\n  {group=\"production\"} 300\n");
        let ok = Value::Vector(vec![
            sample(l(&[("group", "production")]), 300.0000001),
            sample(l(&[("group", "canary")]), 700.0),
        ]);
        compare_result(&ev, &ok).unwrap();
        let extra_label = Value::Vector(vec![
            sample(l(&[("group", "production"), ("job", "a")]), 300.0),
            sample(l(&[("group", "canary")]), 700.0),
        ]);
        assert!(compare_result(&ev, &extra_label)
            .unwrap_err()
            .contains("unexpected series"));
        let missing = Value::Vector(vec![sample(l(&[("group", "canary")]), 700.0)]);
        assert!(compare_result(&ev, &missing)
            .unwrap_err()
            .contains("not found"));
        let wrong = Value::Vector(vec![
            sample(l(&[("group", "production")]), 301.0),
            sample(l(&[("group", "canary")]), 700.0),
        ]);
        assert!(compare_result(&ev, &wrong)
            .unwrap_err()
            .contains("expected 300"));
        let dup = Value::Vector(vec![
            sample(l(&[("group", "canary")]), 700.0),
            sample(l(&[("group", "canary")]), 700.0),
        ]);
        assert!(compare_result(&ev, &dup).unwrap_err().contains("twice"));
    }

    #[test]
    fn vector_ordered() {
        let ev =
            eval("eval instant at 50m sort(x)\n  expect ordered\n  {a=\"1\"} 1\n  {a=\"2\"} 2\n");
        let ok = Value::Vector(vec![
            sample(l(&[("a", "1")]), 1.0),
            sample(l(&[("a", "2")]), 2.0),
        ]);
        compare_result(&ev, &ok).unwrap();
        let swapped = Value::Vector(vec![
            sample(l(&[("a", "2")]), 2.0),
            sample(l(&[("a", "1")]), 1.0),
        ]);
        assert!(compare_result(&ev, &swapped)
            .unwrap_err()
            .contains("position"));
        assert!(compare_result(&ev, &Value::Matrix(vec![]))
            .unwrap_err()
            .contains("ordered"));
    }

    #[test]
    fn empty_and_nan_values() {
        let ev = eval("eval instant at 0 x\n");
        compare_result(&ev, &Value::Vector(vec![])).unwrap();
        assert!(compare_result(&ev, &Value::Vector(vec![sample(l(&[]), 1.0)])).is_err());
        assert!(compare_result(&ev, &Value::Scalar { t: 0, v: 1.0 }).is_err());
        let ev = eval("eval instant at 0 x\n  {} NaN\n");
        compare_result(&ev, &Value::Vector(vec![sample(l(&[]), f64::NAN)])).unwrap();
        assert!(compare_result(&ev, &Value::Vector(vec![sample(l(&[]), STALE_NAN)])).is_err());
    }

    #[test]
    fn scalar_and_string() {
        let ev = eval("eval instant at 0 1 / 0\n  +Inf\n");
        compare_result(
            &ev,
            &Value::Scalar {
                t: 0,
                v: f64::INFINITY,
            },
        )
        .unwrap();
        assert!(compare_result(&ev, &Value::Scalar { t: 0, v: 1.0 }).is_err());
        assert!(compare_result(&ev, &Value::Vector(vec![])).is_err());
        let ev = eval("eval instant at 0 \"a\"\n  expect string \"a\"\n");
        compare_result(
            &ev,
            &Value::String {
                t: 0,
                v: "a".into(),
            },
        )
        .unwrap();
        assert!(compare_result(
            &ev,
            &Value::String {
                t: 0,
                v: "b".into()
            }
        )
        .is_err());
    }

    #[test]
    fn matrix_points() {
        let ev = eval("eval range from 0 to 3m step 1m x\n  {a=\"1\"} 1 _ 3 4\n  {a=\"2\"} 1x3\n");
        let ok = Value::Matrix(vec![
            series(
                l(&[("a", "1")]),
                &[(0, 1.0), (120_000, 3.0), (180_000, 4.0)],
            ),
            series(
                l(&[("a", "2")]),
                &[(0, 1.0), (60_000, 1.0), (120_000, 1.0), (180_000, 1.0)],
            ),
        ]);
        compare_result(&ev, &ok).unwrap();
        let unsorted = Value::Matrix(vec![
            series(
                l(&[("a", "2")]),
                &[(0, 1.0), (60_000, 1.0), (120_000, 1.0), (180_000, 1.0)],
            ),
            series(
                l(&[("a", "1")]),
                &[(0, 1.0), (120_000, 3.0), (180_000, 4.0)],
            ),
        ]);
        assert!(compare_result(&ev, &unsorted)
            .unwrap_err()
            .contains("sorted"));
        let extra_point = Value::Matrix(vec![
            series(
                l(&[("a", "1")]),
                &[(0, 1.0), (60_000, 2.0), (120_000, 3.0), (180_000, 4.0)],
            ),
            series(
                l(&[("a", "2")]),
                &[(0, 1.0), (60_000, 1.0), (120_000, 1.0), (180_000, 1.0)],
            ),
        ]);
        assert!(compare_result(&ev, &extra_point)
            .unwrap_err()
            .contains("expected 3 points"));
        let shifted = Value::Matrix(vec![
            series(l(&[("a", "1")]), &[(0, 1.0), (60_000, 3.0), (180_000, 4.0)]),
            series(
                l(&[("a", "2")]),
                &[(0, 1.0), (60_000, 1.0), (120_000, 1.0), (180_000, 1.0)],
            ),
        ]);
        assert!(compare_result(&ev, &shifted)
            .unwrap_err()
            .contains("timestamp"));
    }

    #[test]
    fn matrix_from_instant_query() {
        let ev = eval(
            "eval instant at 1m m[1m]\n  expect range vector from 10s to 1m step 10s\n  m 2 3\n",
        );
        compare_result(
            &ev,
            &Value::Matrix(vec![series(
                l(&[("__name__", "m")]),
                &[(10_000, 2.0), (20_000, 3.0)],
            )]),
        )
        .unwrap();
        // Without the directive no expected point fits an instant query's grid.
        let mut plain = eval("eval instant at 1m m[1m]\n  m 2\n");
        assert!(compare_result(
            &plain,
            &Value::Matrix(vec![series(l(&[("__name__", "m")]), &[(60_000, 2.0)])]),
        )
        .is_err());
        plain.expected.clear();
        compare_result(&plain, &Value::Matrix(vec![])).unwrap();
    }

    #[test]
    fn annotations() {
        let ev = eval(
            "eval instant at 0 x\n  expect warn msg: PromQL warning: a (1:1)\n  expect no_info\n",
        );
        let mut a = Annotations {
            warnings: vec!["PromQL warning: a (1:1)".into()],
            infos: vec![],
        };
        check_annotations(&ev, &a).unwrap();
        a.warnings.push("PromQL warning: b (1:1)".into());
        assert!(check_annotations(&ev, &a)
            .unwrap_err()
            .contains("unexpected warn"));
        a.warnings.truncate(1);
        a.infos.push("PromQL info: c".into());
        assert!(check_annotations(&ev, &a).is_err());
        assert!(check_annotations(&ev, &Annotations::default()).is_err());

        let ev = eval("eval instant at 0 x\n  expect info\n");
        assert!(check_annotations(&ev, &Annotations::default()).is_err());
        // Without expect lines annotations are not checked.
        let ev = eval("eval instant at 0 x\n");
        check_annotations(
            &ev,
            &Annotations {
                warnings: vec!["w".into()],
                infos: vec!["i".into()],
            },
        )
        .unwrap();
        let ev = eval("eval_warn instant at 0 x\n");
        assert!(check_annotations(&ev, &Annotations::default()).is_err());
    }

    #[test]
    fn error_text() {
        let ev = eval("eval instant at 0 x\n  expect fail msg: boom\n");
        check_error_text(&ev, "boom").unwrap();
        assert!(check_error_text(&ev, "boom!").is_err());
        let ev = eval("eval instant at 0 x\n  expect fail regex: bo+m\n");
        check_error_text(&ev, "a boooom b").unwrap();
        let ev = eval("eval instant at 0 x\n  expect fail\n");
        check_error_text(&ev, "anything").unwrap();
    }
}
