//! Range-vector functions over the float samples of one series in one window.
//!
//! Every function receives the samples inside `(range_start, range_end]`, sorted by
//! time, with staleness markers already removed. Functions that produce no output
//! element in Prometheus for too few samples return `None`; the ones with a plain `f64`
//! result are only meaningful for a non-empty window and return NaN (or 0 for counts and
//! sums) when called on an empty one.
//!
//! The arithmetic follows Prometheus step by step so that results agree to the last bit
//! where the operations allow it. Timestamp differences use wrapping arithmetic: the
//! timestamps come from user-controlled data and must not be able to abort a query.

use super::aggregate::{avg_of, kahan_inc, quantile_sorting, KahanSum};
use crate::value::Point;

/// A millisecond difference in seconds, computed as Prometheus does (integer difference
/// first, then one division), so that results round identically.
fn ms_to_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The length of the selector's range in seconds, computed the way Go's
/// `time.Duration.Seconds()` computes it (whole seconds plus the nanosecond remainder)
/// so that `rate` divides by exactly the same number as Prometheus.
fn range_seconds(range_ms: i64) -> f64 {
    let whole = range_ms / 1000;
    let rem_ns = (range_ms % 1000) * 1_000_000;
    whole as f64 + rem_ns as f64 / 1e9
}

/// Prometheus's extrapolated rate: the difference between the last and first sample
/// (corrected for counter resets), extrapolated towards the window boundaries.
fn extrapolated_rate(
    points: &[Point],
    range_start_ms: i64,
    range_end_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let (first, last) = match points {
        [first, .., last] => (*first, *last),
        _ => return None,
    };
    let mut result = last.v - first.v;
    if is_counter {
        // After a reset the counter restarted from zero, so everything counted before
        // the reset has to be added back.
        for pair in points.windows(2) {
            if pair[1].v < pair[0].v {
                result += pair[0].v;
            }
        }
    }

    let mut duration_to_start = ms_to_seconds(first.t.wrapping_sub(range_start_ms));
    let mut duration_to_end = ms_to_seconds(range_end_ms.wrapping_sub(last.t));
    let sampled_interval = ms_to_seconds(last.t.wrapping_sub(first.t));
    let average_interval = sampled_interval / (points.len() - 1) as f64;

    // Extrapolate all the way to a boundary only if a sample could be expected there
    // (within 110% of the average spacing); otherwise assume the series starts or ends
    // inside the window and extrapolate by half an average interval only.
    let threshold = average_interval * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_interval / 2.0;
    }
    if is_counter {
        // A counter cannot go below zero: stop the left extrapolation where the trend
        // line reaches zero if that comes first.
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.v >= 0.0 {
            duration_to_zero = sampled_interval * (first.v / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_interval / 2.0;
    }

    // Samples that all share one timestamp span no time; report the plain difference
    // rather than dividing by zero.
    let mut factor = 1.0;
    if sampled_interval != 0.0 {
        factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    }
    if is_rate {
        factor /= range_seconds(range_end_ms.wrapping_sub(range_start_ms));
    }
    Some(result * factor)
}

/// `rate()`: per-second increase of a counter over the window.
pub fn rate(points: &[Point], range_start_ms: i64, range_end_ms: i64) -> Option<f64> {
    extrapolated_rate(points, range_start_ms, range_end_ms, true, true)
}

/// `increase()`: increase of a counter over the window.
pub fn increase(points: &[Point], range_start_ms: i64, range_end_ms: i64) -> Option<f64> {
    extrapolated_rate(points, range_start_ms, range_end_ms, true, false)
}

/// `delta()`: change of a gauge over the window.
pub fn delta(points: &[Point], range_start_ms: i64, range_end_ms: i64) -> Option<f64> {
    extrapolated_rate(points, range_start_ms, range_end_ms, false, false)
}

/// The last two samples' difference, per second for `irate`; a counter reset between
/// them makes the last value itself the increase.
fn instant_value(points: &[Point], is_rate: bool) -> Option<f64> {
    let (prev, last) = match points {
        [.., prev, last] => (*prev, *last),
        _ => return None,
    };
    let interval = last.t.wrapping_sub(prev.t);
    if interval == 0 {
        return None;
    }
    // Only a strict decrease is a reset; with a NaN on either side the comparison fails
    // and the result is the NaN difference.
    let reset = is_rate && last.v < prev.v;
    let mut result = if reset { last.v } else { last.v - prev.v };
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// `irate()`: per-second rate between the last two samples.
pub fn irate(points: &[Point]) -> Option<f64> {
    instant_value(points, true)
}

/// `idelta()`: difference between the last two samples.
pub fn idelta(points: &[Point]) -> Option<f64> {
    instant_value(points, false)
}

/// Least-squares fit of the samples, with times in seconds relative to
/// `intercept_time_ms` (which keeps the sums small and therefore precise). Returns the
/// slope and the fitted value at `intercept_time_ms`.
fn linear_regression(points: &[Point], intercept_time_ms: i64) -> (f64, f64) {
    let Some(first) = points.first() else {
        return (f64::NAN, f64::NAN);
    };
    let init_y = first.v;
    let mut const_y = true;
    let mut n = 0.0_f64;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, p) in points.iter().enumerate() {
        if const_y && i > 0 && p.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = p.t.wrapping_sub(intercept_time_ms) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(p.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * p.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    // A constant series has slope zero exactly; computing it would give rounding noise,
    // or NaN for a constant infinite series, which has no meaningful trend at all.
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;

    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `deriv()`: per-second slope of the least-squares line through the samples.
pub fn deriv(points: &[Point]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    // Times relative to the first sample keep x small; the slope does not depend on the
    // origin.
    Some(linear_regression(points, points[0].t).0)
}

/// `predict_linear()`: the least-squares line's value `duration_seconds` after the
/// evaluation time.
pub fn predict_linear(points: &[Point], eval_time_ms: i64, duration_seconds: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(points, eval_time_ms);
    Some(slope * duration_seconds + intercept)
}

/// `double_exponential_smoothing()` (formerly `holt_winters`): Holt's linear smoothing
/// with smoothing factor `sf` and trend factor `tf`, both validated by the caller to be
/// in `(0, 1)`.
pub fn double_exponential_smoothing(points: &[Point], sf: f64, tf: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    // The initial trend is the first difference; it is used unchanged for the first
    // smoothing step, as in Prometheus.
    let mut s0 = 0.0;
    let mut s1 = points[0].v;
    let mut trend = points[1].v - points[0].v;
    for (i, p) in points.iter().enumerate().skip(1) {
        let x = sf * p.v;
        if i > 1 {
            trend = tf * (s1 - s0) + (1.0 - tf) * trend;
        }
        let y = (1.0 - sf) * (s1 + trend);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

/// `resets()`: number of decreases between consecutive samples. NaN never compares
/// lower, so it neither causes nor hides a reset by itself.
pub fn resets(points: &[Point]) -> f64 {
    points.windows(2).filter(|w| w[1].v < w[0].v).count() as f64
}

/// `changes()`: number of times the value differs from the previous one. Two NaNs in a
/// row are not a change, even though NaN never equals NaN.
pub fn changes(points: &[Point]) -> f64 {
    points
        .windows(2)
        .filter(|w| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan()))
        .count() as f64
}

/// `avg_over_time()`.
pub fn avg_over_time(points: &[Point]) -> f64 {
    avg_of(points.iter().map(|p| p.v))
}

/// `sum_over_time()`, with Kahan compensation.
pub fn sum_over_time(points: &[Point]) -> f64 {
    let mut sum = KahanSum::new();
    for p in points {
        sum.add(p.v);
    }
    sum.value()
}

/// The value and timestamp of the sample that `better(candidate, current)` selects,
/// scanning from the first sample. A NaN current value is always replaced, so a NaN
/// only survives if every sample is NaN.
fn select_over_time(points: &[Point], better: impl Fn(f64, f64) -> bool) -> Option<Point> {
    let mut best = *points.first()?;
    for p in points {
        if better(p.v, best.v) || best.v.is_nan() {
            best = *p;
        }
    }
    Some(best)
}

/// `min_over_time()`; NaN for an empty window.
pub fn min_over_time(points: &[Point]) -> f64 {
    select_over_time(points, |cur, best| cur < best).map_or(f64::NAN, |p| p.v)
}

/// `max_over_time()`; NaN for an empty window.
pub fn max_over_time(points: &[Point]) -> f64 {
    select_over_time(points, |cur, best| cur > best).map_or(f64::NAN, |p| p.v)
}

/// `count_over_time()`.
pub fn count_over_time(points: &[Point]) -> f64 {
    points.len() as f64
}

/// Population variance by Welford's algorithm, with Kahan compensation of both running
/// quantities, as Prometheus computes `stdvar_over_time`. NaN for an empty window.
fn variance_over_time(points: &[Point]) -> f64 {
    let mut count = 0.0_f64;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for p in points {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// `stddev_over_time()`.
pub fn stddev_over_time(points: &[Point]) -> f64 {
    variance_over_time(points).sqrt()
}

/// `stdvar_over_time()`.
pub fn stdvar_over_time(points: &[Point]) -> f64 {
    variance_over_time(points)
}

/// `mad_over_time()`: median absolute deviation from the median. A NaN sample makes the
/// median undefined, so the result is NaN rather than silently ignoring it.
pub fn mad_over_time(points: &[Point]) -> f64 {
    if points.iter().any(|p| p.v.is_nan()) {
        return f64::NAN;
    }
    let mut values: Vec<f64> = points.iter().map(|p| p.v).collect();
    let median = quantile_sorting(0.5, &mut values);
    for v in &mut values {
        *v = (*v - median).abs();
    }
    quantile_sorting(0.5, &mut values)
}

/// `quantile_over_time()`: linear-interpolated quantile of the sample values.
pub fn quantile_over_time(q: f64, points: &[Point]) -> f64 {
    let mut values: Vec<f64> = points.iter().map(|p| p.v).collect();
    quantile_sorting(q, &mut values)
}

/// `last_over_time()`.
pub fn last_over_time(points: &[Point]) -> Option<Point> {
    points.last().copied()
}

/// `first_over_time()`.
pub fn first_over_time(points: &[Point]) -> Option<Point> {
    points.first().copied()
}

/// `ts_of_min_over_time()`: timestamp in seconds of the minimum; among equal minima the
/// latest wins, as in Prometheus. NaN for an empty window.
pub fn ts_of_min_over_time(points: &[Point]) -> f64 {
    select_over_time(points, |cur, best| cur <= best).map_or(f64::NAN, |p| ms_to_seconds(p.t))
}

/// `ts_of_max_over_time()`: timestamp in seconds of the maximum; among equal maxima the
/// latest wins, as in Prometheus. NaN for an empty window.
pub fn ts_of_max_over_time(points: &[Point]) -> f64 {
    select_over_time(points, |cur, best| cur >= best).map_or(f64::NAN, |p| ms_to_seconds(p.t))
}

/// `ts_of_last_over_time()`: timestamp in seconds of the last sample; NaN for an empty
/// window.
pub fn ts_of_last_over_time(points: &[Point]) -> f64 {
    points.last().map_or(f64::NAN, |p| ms_to_seconds(p.t))
}

/// `ts_of_first_over_time()`: timestamp in seconds of the first sample; NaN for an
/// empty window.
pub fn ts_of_first_over_time(points: &[Point]) -> f64 {
    points.first().map_or(f64::NAN, |p| ms_to_seconds(p.t))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// Samples as a promqltest `load` writes them: `values[i]` at `i * step_ms`.
    fn series(step_ms: i64, values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| Point {
                t: i as i64 * step_ms,
                v,
            })
            .collect()
    }

    /// promqltest's `a+bxn` expansion: n+1 values a, a+b, …, a+n·b.
    fn ramp(start: f64, inc: f64, n: usize) -> Vec<f64> {
        (0..=n).map(|i| start + inc * i as f64).collect()
    }

    /// The samples a range selector `[range]` evaluated at `at` sees: `(at-range, at]`.
    fn window(points: &[Point], at: i64, range: i64) -> Vec<Point> {
        points
            .iter()
            .copied()
            .filter(|p| p.t > at - range && p.t <= at)
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        if a == b {
            return true;
        }
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    /// The tolerance promqltest compares with.
    fn roughly(a: f64, b: f64) -> bool {
        if a == b {
            return true;
        }
        (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
    }

    fn p(t: i64, v: f64) -> Point {
        Point { t, v }
    }

    /// Evaluates a rate-like function the way the evaluator calls it: on the window of
    /// `[range]` at `at`.
    fn at(
        f: fn(&[Point], i64, i64) -> Option<f64>,
        s: &[Point],
        at: i64,
        range: i64,
    ) -> Option<f64> {
        f(&window(s, at, range), at - range, at)
    }

    #[test]
    fn increase_cases_from_functions_test() {
        let foo = series(5 * MIN, &ramp(0.0, 10.0, 10));
        let mut bar_values = ramp(0.0, 18.0, 5);
        bar_values.extend(ramp(0.0, 18.0, 5));
        let bar = series(5 * MIN, &bar_values);
        let dings = series(5 * MIN, &ramp(10.0, 10.0, 10));
        let bumms = series(5 * MIN, &ramp(1.0, 10.0, 10));
        let r = |s: &[Point], range| at(increase, s, 50 * MIN, range).unwrap();

        assert!(close(r(&foo, 50 * MIN), 100.0));
        assert!(close(r(&bar, 50 * MIN), 160.0));
        assert!(close(r(&dings, 50 * MIN), 100.0));
        assert!(close(r(&bumms, 50 * MIN), 100.0));

        // The zero-point clamp: extrapolation to the left stops where the counter would
        // reach zero, and "foo"/"bar" start at zero so they are not extrapolated at all.
        assert!(close(r(&foo, 100 * MIN), 100.0));
        assert!(close(r(&bar, 100 * MIN), 162.0));
        assert!(close(r(&dings, 100 * MIN), 105.0));
        assert!(close(r(&bumms, 100 * MIN), 101.0));
    }

    #[test]
    fn increase_counter_reset() {
        let s = series(5 * MIN, &[0.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0]);
        assert!(close(at(increase, &s, 30 * MIN, 30 * MIN).unwrap(), 7.0));
    }

    #[test]
    fn rate_cases_from_functions_test() {
        let mut middle = ramp(0.0, 27.0, 4);
        middle.extend(ramp(0.0, 27.0, 5));
        let middle = series(5 * MIN, &middle);
        assert!(close(at(rate, &middle, 50 * MIN, 50 * MIN).unwrap(), 0.08));

        let mut end = ramp(0.0, 10.0, 9);
        end.extend([0.0, 10.0]);
        let end = series(5 * MIN, &end);
        // A single sample in the window gives no result.
        assert_eq!(at(rate, &end, 50 * MIN, 5 * MIN), None);
        assert_eq!(at(rate, &end, 50 * MIN, 6 * MIN), Some(0.0));

        let window_total = series(5 * MIN, &ramp(0.0, 80.0, 10));
        let got = at(rate, &window_total, 50 * MIN, 50 * MIN).unwrap();
        assert!(close(got, 0.266_666_666_666_666_66));

        // `rate(x[10m] offset 5m)` at 50m: the window is (35m, 45m].
        let a = series(5 * MIN, &ramp(0.0, 10.0, 10));
        let b = series(5 * MIN, &ramp(0.0, 20.0, 10));
        let w = |s: &[Point]| rate(&window(s, 45 * MIN, 10 * MIN), 35 * MIN, 45 * MIN).unwrap();
        assert!(close(w(&a), 0.033_333_333_333_333_33));
        assert!(close(w(&b), 0.066_666_666_666_666_67));
    }

    #[test]
    fn rate_zero_cutoff_from_functions_test() {
        let expected_at_10m = [0.5, 0.55, 0.6, 0.6, 0.6, 0.6];
        for (i, want) in expected_at_10m.into_iter().enumerate() {
            let s = series(4 * MIN, &ramp(60.0 * i as f64, 240.0, 10));
            let got = at(rate, &s, 10 * MIN, 20 * MIN).unwrap();
            assert!(close(got, want), "start={i}m got {got}");
            let got = at(rate, &s, 50 * MIN, 20 * MIN).unwrap();
            assert!(close(got, 0.6), "start={i}m got {got}");
        }
    }

    #[test]
    fn rate_extrapolation_limits() {
        // Samples every 10s from 30s to 60s in a (0, 60s] window: the gap of 30s to the
        // start exceeds 1.1 × 10s, so only 5s (half an interval) are extrapolated.
        let s: Vec<Point> = (3..=6).map(|i| p(i * 10_000, 100.0 + i as f64)).collect();
        let inc = increase(&s, 0, 60_000).unwrap();
        assert!(close(inc, 3.0 * 35.0 / 30.0));
        // Within 1.1 × the interval the extrapolation goes all the way to the boundary.
        let s: Vec<Point> = (1..=6)
            .map(|i| p(i * 10_000 - 900, 100.0 + i as f64))
            .collect();
        let inc = increase(&s, 0, 60_000).unwrap();
        assert!(close(inc, 5.0 * (50.0 + 9.1 + 0.9) / 50.0));
        // delta is not clamped at zero and may extrapolate below it.
        let s = [p(10_000, 1.0), p(20_000, 11.0)];
        assert!(close(delta(&s, 0, 20_000).unwrap(), 20.0));
        assert!(close(increase(&s, 0, 20_000).unwrap(), 11.0));
        // A decreasing gauge.
        let s = [p(10_000, 11.0), p(20_000, 1.0)];
        assert!(close(delta(&s, 0, 20_000).unwrap(), -20.0));
        // For a counter the same data is a reset.
        assert!(close(increase(&s, 0, 20_000).unwrap(), 2.0));
        // A fractional range in seconds is divided by exactly.
        let s = [p(500, 0.0), p(1_500, 1.0)];
        assert!(close(rate(&s, 0, 1_500).unwrap(), 1.0 / 1.5));
    }

    #[test]
    fn rate_degenerate_inputs() {
        assert_eq!(rate(&[], 0, 1000), None);
        assert_eq!(rate(&[p(1, 1.0)], 0, 1000), None);
        assert_eq!(increase(&[p(1, 1.0)], 0, 1000), None);
        assert_eq!(delta(&[p(1, 1.0)], 0, 1000), None);
        // Equal timestamps: no extrapolation, no division by zero.
        assert_eq!(delta(&[p(5, 1.0), p(5, 3.0)], 0, 10), Some(2.0));
        assert!(rate(&[p(0, f64::NAN), p(1000, 1.0)], -1000, 1000)
            .unwrap()
            .is_nan());
        assert_eq!(
            rate(&[p(0, 0.0), p(1000, f64::INFINITY)], 0, 1000),
            Some(f64::INFINITY)
        );
        // Extreme timestamps must not overflow.
        let _ = rate(&[p(i64::MIN, 0.0), p(i64::MAX, 1.0)], i64::MIN, i64::MAX);
        let _ = rate(&[p(i64::MAX, 0.0), p(i64::MIN, 1.0)], i64::MAX, i64::MIN);
    }

    #[test]
    fn irate_and_idelta_from_functions_test() {
        let foo = series(5 * MIN, &ramp(0.0, 10.0, 10));
        let mut bar = ramp(0.0, 10.0, 5);
        bar.extend(ramp(0.0, 10.0, 5));
        let bar = series(5 * MIN, &bar);
        let w = |s: &[Point], t| irate(&window(s, t, 50 * MIN));
        assert!(close(w(&foo, 50 * MIN).unwrap(), 0.033_333_333_333_333_33));
        assert!(close(w(&bar, 50 * MIN).unwrap(), 0.033_333_333_333_333_33));
        assert!(close(w(&foo, 30 * MIN).unwrap(), 0.033_333_333_333_333_33));
        // Counter reset between the last two samples.
        assert_eq!(w(&bar, 30 * MIN), Some(0.0));

        // `irate(http_requests_nan[15m1s])` over 0..20m: _ NaN NaN NaN 0.02.
        let nan = series(5 * MIN, &[1.0, f64::NAN, f64::NAN, 5.0, 11.0]);
        let r = 15 * MIN + 1000;
        assert_eq!(irate(&window(&nan, 0, r)), None);
        for t in [5, 10, 15] {
            assert!(irate(&window(&nan, t * MIN, r)).unwrap().is_nan());
            assert!(idelta(&window(&nan, t * MIN, r)).unwrap().is_nan());
        }
        assert!(close(irate(&window(&nan, 20 * MIN, r)).unwrap(), 0.02));
        assert_eq!(idelta(&window(&nan, 20 * MIN, r)), Some(6.0));

        let foo = series(5 * MIN, &[0.0, 50.0, 100.0, 150.0]);
        let bar = series(5 * MIN, &[0.0, 50.0, 100.0, 50.0]);
        assert_eq!(idelta(&window(&foo, 20 * MIN, 20 * MIN)), Some(50.0));
        assert_eq!(idelta(&window(&bar, 20 * MIN, 20 * MIN)), Some(-50.0));
        // irate treats the decrease as a reset: the increase is the last value.
        assert!(close(irate(&bar).unwrap(), 50.0 / 300.0));
    }

    #[test]
    fn irate_degenerate_inputs() {
        assert_eq!(irate(&[]), None);
        assert_eq!(idelta(&[p(0, 1.0)]), None);
        assert_eq!(irate(&[p(5, 1.0), p(5, 2.0)]), None);
        assert_eq!(irate(&[p(0, 1.0), p(500, 2.0)]), Some(2.0));
        let _ = irate(&[p(i64::MIN, 1.0), p(i64::MAX, 2.0)]);
    }

    #[test]
    fn delta_from_functions_test() {
        let foo = series(5 * MIN, &[0.0, 50.0, 100.0, 150.0, 200.0]);
        let bar = series(5 * MIN, &[200.0, 150.0, 100.0, 50.0, 0.0]);
        assert!(close(at(delta, &foo, 20 * MIN, 20 * MIN).unwrap(), 200.0));
        assert!(close(at(delta, &bar, 20 * MIN, 20 * MIN).unwrap(), -200.0));
    }

    fn reset_middle() -> Vec<Point> {
        let mut v = ramp(0.0, 10.0, 4);
        v.extend(ramp(0.0, 10.0, 5));
        series(5 * MIN, &v)
    }

    #[test]
    fn deriv_from_functions_test() {
        let total = series(5 * MIN, &ramp(0.0, 80.0, 10));
        let d = deriv(&window(&total, 50 * MIN, 50 * MIN)).unwrap();
        assert!(close(d, 0.266_666_666_666_666_66));
        let d = deriv(&window(&reset_middle(), 50 * MIN, 100 * MIN)).unwrap();
        assert!(close(d, 0.010_606_060_606_060_607));

        let mut inf = vec![f64::NEG_INFINITY];
        inf.extend(ramp(0.0, 80.0, 10));
        inf.push(f64::INFINITY);
        let inf = series(5 * MIN, &inf);
        assert!(deriv(&window(&inf, 100 * MIN, 100 * MIN)).unwrap().is_nan());
        assert!(
            predict_linear(&window(&inf, 100 * MIN, 100 * MIN), 100 * MIN, 6000.0)
                .unwrap()
                .is_nan()
        );
    }

    #[test]
    fn predict_linear_from_functions_test() {
        let s = reset_middle();
        let got = predict_linear(&window(&s, 50 * MIN, 50 * MIN), 50 * MIN, 3600.0).unwrap();
        assert!(close(got, 70.0), "{got}");
        // `[55m] @ 3000` sees every sample; the prediction is relative to the evaluation
        // time, not the `@` time.
        let all = window(&s, 50 * MIN, 55 * MIN);
        assert_eq!(all.len(), 11);
        for (eval_ms, want) in [
            (50 * MIN, 76.818_181_818_181_81),
            (10 * MIN, 51.363_636_363_636_37),
            (70 * MIN, 89.545_454_545_454_55),
        ] {
            let got = predict_linear(&all, eval_ms, 3600.0).unwrap();
            assert!(close(got, want), "eval={eval_ms} got {got}");
        }
        // With a sample exactly on the line at the evaluation time, predict_linear is
        // that value plus deriv × duration.
        let total = window(&series(5 * MIN, &ramp(0.0, 80.0, 10)), 50 * MIN, 50 * MIN);
        let got = predict_linear(&total, 50 * MIN, 3600.0).unwrap();
        let want = 800.0 + deriv(&total).unwrap() * 3600.0;
        assert!(close(got, want));
    }

    #[test]
    fn regression_edge_cases() {
        assert_eq!(deriv(&[]), None);
        assert_eq!(deriv(&[p(0, 1.0)]), None);
        assert_eq!(predict_linear(&[p(0, 1.0)], 0, 10.0), None);
        // Constant series: exact zero slope and the constant as the prediction.
        let c = [p(0, 1.5990505637277868), p(1000, 1.5990505637277868)];
        assert_eq!(deriv(&c), Some(0.0));
        assert_eq!(predict_linear(&c, 5000, 100.0), Some(1.5990505637277868));
        let inf = [p(0, f64::INFINITY), p(1000, f64::INFINITY)];
        assert!(deriv(&inf).unwrap().is_nan());
        // Equal timestamps have no defined slope.
        assert!(deriv(&[p(7, 1.0), p(7, 2.0)]).unwrap().is_nan());
        assert!(deriv(&[p(0, f64::NAN), p(1000, 1.0)]).unwrap().is_nan());
        let _ = deriv(&[p(i64::MIN, 0.0), p(i64::MAX, 1.0)]);
        let _ = predict_linear(&[p(i64::MIN, 0.0), p(i64::MAX, 1.0)], i64::MIN, f64::NAN);
    }

    #[test]
    fn double_exponential_smoothing_from_functions_test() {
        let ten_s = 10_000;
        let check = |values: Vec<f64>, want: f64| {
            let s = series(ten_s, &values);
            let got = double_exponential_smoothing(&window(&s, 8_000_000, MIN), 0.01, 0.1).unwrap();
            assert!(roughly(got, want), "got {got} want {want}");
        };
        // Only the first 801 samples of each loaded series precede 8000s.
        check(ramp(0.0, 10.0, 1000), 8000.0);
        check(ramp(0.0, 20.0, 1000), 16000.0);
        check(ramp(0.0, 30.0, 1000), 24000.0);
        check(ramp(0.0, 40.0, 2000), 32000.0);
        check(ramp(8000.0, -10.0, 1000), 0.0);
        check(ramp(0.0, -20.0, 1000), -16000.0);
        check(ramp(0.0, -40.0, 1000), -32000.0);
    }

    #[test]
    fn double_exponential_smoothing_small_inputs() {
        assert_eq!(double_exponential_smoothing(&[], 0.5, 0.5), None);
        assert_eq!(double_exponential_smoothing(&[p(0, 1.0)], 0.5, 0.5), None);
        // Two samples: s = sf·x1 + (1−sf)·(x0 + (x1 − x0)) = x1.
        assert_eq!(
            double_exponential_smoothing(&[p(0, 1.0), p(1, 3.0)], 0.5, 0.5),
            Some(3.0)
        );
        // Three samples, worked by hand: s1=3, trend=0.5·(3−1)+0.5·2=2,
        // s2=0.5·4+0.5·(3+2)=4.5.
        assert_eq!(
            double_exponential_smoothing(&[p(0, 1.0), p(1, 3.0), p(2, 4.0)], 0.5, 0.5),
            Some(4.5)
        );
        assert!(
            double_exponential_smoothing(&[p(0, f64::NAN), p(1, 3.0)], 0.5, 0.5)
                .unwrap()
                .is_nan()
        );
    }

    #[test]
    fn resets_and_changes_from_functions_test() {
        let foo = series(5 * MIN, &[1.0, 2.0, 3.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0]);
        let bar = series(5 * MIN, &[1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let biz = series(5 * MIN, &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let rs = |s: &[Point], r| resets(&window(s, 50 * MIN, r));
        let ch = |s: &[Point], r| changes(&window(s, 50 * MIN, r));
        for (range, want) in [
            (10 * MIN, [0.0, 0.0, 0.0]),
            (20 * MIN, [1.0, 0.0, 0.0]),
            (30 * MIN, [1.0, 0.0, 0.0]),
            (32 * MIN, [2.0, 1.0, 0.0]),
            (50 * MIN, [3.0, 1.0, 0.0]),
        ] {
            assert_eq!([rs(&foo, range), rs(&bar, range), rs(&biz, range)], want);
        }
        for (range, want) in [
            (6 * MIN, [0.0, 0.0, 0.0]),
            (20 * MIN, [2.0, 2.0, 0.0]),
            (30 * MIN, [3.0, 4.0, 0.0]),
            (50 * MIN, [7.0, 8.0, 1.0]),
        ] {
            assert_eq!([ch(&foo, range), ch(&bar, range), ch(&biz, range)], want);
        }

        let nan = f64::NAN;
        assert_eq!(changes(&series(5 * MIN, &[nan, nan, nan])), 0.0);
        assert_eq!(changes(&series(5 * MIN, &[0.0, nan, 0.0])), 2.0);
        assert_eq!(resets(&series(5 * MIN, &[3.0, nan, 1.0])), 0.0);
        assert_eq!(changes(&[]), 0.0);
        assert_eq!(resets(&[]), 0.0);
        assert_eq!(changes(&[p(0, 1.0)]), 0.0);
        assert_eq!(changes(&series(1, &[0.0, -0.0])), 0.0);
    }

    #[test]
    fn avg_and_sum_over_time_from_functions_test() {
        let inf = f64::INFINITY;
        let ninf = f64::NEG_INFINITY;
        let big = 9.988_465_674_311_58e307;
        let cases: &[(&[f64], f64, f64)] = &[
            // values, avg_over_time, sum_over_time / count_over_time
            (&[1.0, 2.0, 3.0, 4.0, 5.0], 3.0, 3.0),
            (&[1.0, 2.0, 3.0, 4.0, inf], inf, inf),
            (&[1.0, 2.0, 3.0, 4.0, ninf], ninf, ninf),
            (&[1.0, 2.0, 3.0, inf, ninf], f64::NAN, f64::NAN),
            (&[inf, 0.0, inf], inf, inf),
            (&[inf, inf, inf, ninf], f64::NAN, f64::NAN),
            (&[1.0, 2.0, 3.0, ninf, ninf], ninf, ninf),
            (&[ninf, 0.0, ninf], ninf, ninf),
            (&[ninf, ninf, ninf, inf], f64::NAN, f64::NAN),
            (&[1.0, 2.0, ninf, ninf, inf], f64::NAN, f64::NAN),
            (&[big, big], big, inf),
            (&[-big, -big, -big], -big, ninf),
            (&[-big, big], 0.0, 0.0),
            (&[1.0, 2.0, 3.0, f64::NAN, f64::NAN], f64::NAN, f64::NAN),
            (&[1.0, 2.0, 3.0], 2.0, 2.0),
            (&[5.0], 5.0, 5.0),
        ];
        for &(values, want_avg, want_ratio) in cases {
            let s = series(10_000, values);
            let a = avg_over_time(&s);
            let r = sum_over_time(&s) / count_over_time(&s);
            assert!(close(a, want_avg), "{values:?}: avg {a}");
            assert!(close(r, want_ratio), "{values:?}: sum/count {r}");
        }
        let s = series(10_000, &[1.0, 1e100, 1.0, -1e100]);
        assert_eq!(sum_over_time(&s), 2.0);
        assert_eq!(avg_over_time(&s), 0.5);
        assert!(avg_over_time(&[]).is_nan());
        assert_eq!(sum_over_time(&[]), 0.0);
        assert_eq!(count_over_time(&[]), 0.0);
    }

    #[test]
    fn avg_over_time_extreme_values_from_functions_test() {
        let check = |values: &[f64], want: f64, exact: bool| {
            let got = avg_over_time(&series(5_000, values));
            if exact {
                assert_eq!(got, want, "{values:?}");
            } else {
                assert!(roughly(got, want), "{values:?}: got {got} want {want}");
            }
        };
        check(
            &[1e10, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6],
            1.6666666666666675e9,
            true,
        );
        check(
            &[
                5.30921651659898,
                0.961118537914768,
                1.62091361305318,
                0.865089463758091,
                0.323055185914577,
                0.951811357687154,
            ],
            1.67186744582113,
            false,
        );
        check(
            &[1.78264e50, 0.76342771, 1.9592258, 7.69805412, 458.90154],
            3.56528e49,
            false,
        );
        check(
            &[0.76342771, 1.9592258, 7.69805412, 1.78264e50, 458.90154],
            3.56528e49,
            false,
        );
        let m5 = [
            1.78264E+50,
            0.76342771,
            1.9592258,
            2.258E+220,
            7.69805412,
            458.90154,
        ];
        check(&m5, 3.76333333333333E+219, false);
        let m6 = [
            -1.78264E+50,
            0.76342771,
            1.9592258,
            2.258E+220,
            7.69805412,
            -458.90154,
        ];
        check(&m6, 3.76333333333333E+219, false);
        let m7 = [
            -1.78264E+50,
            0.76342771,
            1.9592258,
            -2.258E+220,
            7.69805412,
            -458.90154,
        ];
        check(&m7, -3.76333333333333E+219, false);
        let m8 = [
            -1.78264E+215,
            0.76342771,
            1.9592258,
            2.258E+220,
            7.69805412,
            -458.90154,
        ];
        check(&m8, 3.76330362266667E+219, false);
        let m9 = [
            -1.78264E+215,
            0.76342771,
            1.9592258,
            2.258E+220,
            7.69805412,
            1.78264E+215,
            -458.90154,
        ];
        check(&m9, 3.225714285714286e219, false);
        let m10 = [
            -1.78264E+219,
            0.76342771,
            1.9592258,
            2.3757689E+217,
            -2.3757689E+217,
            2.258E+220,
            7.69805412,
            1.78264E+219,
            -458.90154,
        ];
        check(&m10, 2.5088888888888888e219, false);
        // Kahan summation cannot save this one; Prometheus documents the result as 0.
        let m11 = [
            -2.258E+220,
            -1.78264E+219,
            0.76342771,
            1.9592258,
            2.3757689E+217,
            -2.3757689E+217,
            2.258E+220,
            7.69805412,
            1.78264E+219,
            -458.90154,
        ];
        check(&m11, 0.0, true);
        // `avg_over_time(foo[100s..130s]) == 52` must hold exactly.
        for n in 10..=13 {
            check(&vec![52.0; n], 52.0, true);
        }
    }

    #[test]
    fn sum_over_time_dense_samples() {
        let s = series(1, &vec![1.0; 4001]);
        for range in [
            1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003, 3000, 3001, 3002, 3003,
        ] {
            assert_eq!(sum_over_time(&window(&s, 4000, range)), range as f64);
        }
    }

    #[test]
    fn variance_over_time_from_functions_test() {
        let s = series(10_000, &[0.0, 8.0, 8.0, 2.0, 3.0]);
        assert!(close(stdvar_over_time(&s), 10.56));
        assert!(roughly(stddev_over_time(&s), 3.249615));
        let c = series(10_000, &[1.5990505637277868; 3]);
        assert_eq!(stdvar_over_time(&c), 0.0);
        assert_eq!(stddev_over_time(&c), 0.0);
        assert_eq!(stddev_over_time(&series(10_000, &[1.0, 1.0, 1.0])), 0.0);
        assert_eq!(stdvar_over_time(&[p(0, 4.0)]), 0.0);
        assert!(stdvar_over_time(&[]).is_nan());
        assert!(stddev_over_time(&series(1, &[1.0, f64::NAN])).is_nan());
        assert!(stdvar_over_time(&series(1, &[1.0, f64::INFINITY])).is_nan());
    }

    #[test]
    fn mad_over_time_from_functions_test() {
        let m = series(10_000, &[4.0, 6.0, 2.0, 1.0, 999.0, 1.0, 2.0]);
        assert_eq!(mad_over_time(&window(&m, 70_000, 70_000)), 1.0);
        let odd = series(10_000, &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(mad_over_time(&window(&odd, 40_000, 50_000)), 1.0);
        assert_eq!(mad_over_time(&series(10_000, &[7.0; 5])), 0.0);
        assert_eq!(mad_over_time(&[p(0, 5.0)]), 0.0);
        let nan = series(10_000, &[1.0, 2.0, f64::NAN, 4.0]);
        assert!(mad_over_time(&nan).is_nan());
        assert!(mad_over_time(&[]).is_nan());
    }

    #[test]
    fn min_max_first_last_from_functions_test() {
        let nan = f64::NAN;
        // values, min, max, first, last
        let cases: &[([f64; 3], f64, f64, f64, f64)] = &[
            ([2.0, 0.0, 3.0], 0.0, 3.0, 2.0, 3.0),
            ([2.0, 0.0, nan], 0.0, 2.0, 2.0, nan),
            ([2.0, nan, 1.0], 1.0, 2.0, 2.0, 1.0),
            ([nan, 0.0, 1.0], 0.0, 1.0, nan, 1.0),
            ([nan, nan, nan], nan, nan, nan, nan),
        ];
        for (values, min, max, first, last) in cases {
            let s = series(10_000, values);
            assert!(close(min_over_time(&s), *min), "{values:?}");
            assert!(close(max_over_time(&s), *max), "{values:?}");
            assert!(close(first_over_time(&s).unwrap().v, *first), "{values:?}");
            assert!(close(last_over_time(&s).unwrap().v, *last), "{values:?}");
            assert_eq!(count_over_time(&s), 3.0);
        }
        assert!(min_over_time(&[]).is_nan());
        assert!(max_over_time(&[]).is_nan());
        assert_eq!(first_over_time(&[]), None);
        assert_eq!(last_over_time(&[]), None);
        assert_eq!(last_over_time(&[p(1, 1.0), p(2, 2.0)]), Some(p(2, 2.0)));
        assert_eq!(first_over_time(&[p(1, 1.0), p(2, 2.0)]), Some(p(1, 1.0)));
        let s = series(1, &[f64::NEG_INFINITY, f64::INFINITY]);
        assert_eq!(min_over_time(&s), f64::NEG_INFINITY);
        assert_eq!(max_over_time(&s), f64::INFINITY);
    }

    #[test]
    fn ts_of_functions_from_functions_test() {
        let step = 10_053;
        let m = series(step, &[1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 2.0, 1.0, 4.0]);
        let w = window(&m, 90_000, 90_000);
        assert_eq!(ts_of_min_over_time(&w), 30.159);
        assert_eq!(ts_of_max_over_time(&w), 50.265);

        let m = series(step, &[1.0, 2.0, 3.0]);
        assert_eq!(ts_of_last_over_time(&window(&m, 90_000, 90_000)), 20.106);
        assert_eq!(ts_of_last_over_time(&window(&m, 95_000, 90_000)), 20.106);
        assert_eq!(ts_of_first_over_time(&window(&m, 95_000, 90_000)), 10.053);

        // Ties: the latest extreme wins; NaN is replaced by any number.
        let s = [p(1000, 1.0), p(2000, 1.0), p(3000, f64::NAN)];
        assert_eq!(ts_of_min_over_time(&s), 2.0);
        assert_eq!(ts_of_max_over_time(&s), 2.0);
        let s = [p(1000, f64::NAN), p(2000, 1.0), p(3000, 0.5)];
        assert_eq!(ts_of_max_over_time(&s), 2.0);
        assert_eq!(ts_of_min_over_time(&s), 3.0);
        // All NaN: every sample replaces the NaN before it, so the last one wins.
        let s = [p(-1500, f64::NAN), p(-500, f64::NAN)];
        assert_eq!(ts_of_max_over_time(&s), -0.5);
        assert_eq!(ts_of_min_over_time(&s), -0.5);
        assert!(ts_of_min_over_time(&[]).is_nan());
        assert!(ts_of_max_over_time(&[]).is_nan());
        assert!(ts_of_last_over_time(&[]).is_nan());
        assert!(ts_of_first_over_time(&[]).is_nan());
    }

    #[test]
    fn quantile_over_time_from_functions_test() {
        let two = series(10_000, &[0.0, 1.0]);
        let three = series(10_000, &[0.0, 1.0, 2.0]);
        let uneven = series(10_000, &[0.0, 1.0, 4.0]);
        for (q, want) in [
            (0.0, [0.0, 0.0, 0.0]),
            (0.5, [0.5, 1.0, 1.0]),
            (0.75, [0.75, 1.5, 2.5]),
            (0.8, [0.8, 1.6, 2.8]),
            (1.0, [1.0, 2.0, 4.0]),
            (-1.0, [f64::NEG_INFINITY; 3]),
            (2.0, [f64::INFINITY; 3]),
        ] {
            let got = [
                quantile_over_time(q, &two),
                quantile_over_time(q, &three),
                quantile_over_time(q, &uneven),
            ];
            for (g, w) in got.iter().zip(want) {
                assert!(close(*g, w), "q={q}: got {got:?} want {want:?}");
            }
        }
        assert!(quantile_over_time(f64::NAN, &two).is_nan());
        assert!(quantile_over_time(0.5, &[]).is_nan());
        // The input order in time must not matter, and the input is left untouched.
        let s = series(1, &[3.0, 1.0, 2.0]);
        assert_eq!(quantile_over_time(0.5, &s), 2.0);
        assert_eq!(s[0].v, 3.0);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn value() -> impl Strategy<Value = f64> {
            prop_oneof![
                any::<f64>(),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                Just(0.0),
                -1e3..1e3f64,
            ]
        }

        fn points() -> impl Strategy<Value = Vec<Point>> {
            (
                prop_oneof![any::<i64>(), -1_000_000i64..1_000_000],
                prop::collection::vec((0i64..100_000, value()), 0..30),
            )
                .prop_map(|(start, steps)| {
                    let mut t = start;
                    steps
                        .into_iter()
                        .map(|(dt, v)| {
                            t = t.wrapping_add(dt);
                            Point { t, v }
                        })
                        .collect()
                })
        }

        proptest! {
            #[test]
            fn range_functions_never_panic(
                pts in points(),
                start in any::<i64>(),
                end in any::<i64>(),
                q in value(),
                sf in value(),
                tf in value(),
                dur in value(),
            ) {
                let _ = rate(&pts, start, end);
                let _ = increase(&pts, start, end);
                let _ = delta(&pts, start, end);
                let _ = irate(&pts);
                let _ = idelta(&pts);
                let _ = deriv(&pts);
                let _ = predict_linear(&pts, end, dur);
                let _ = double_exponential_smoothing(&pts, sf, tf);
                let _ = resets(&pts);
                let _ = changes(&pts);
                let _ = avg_over_time(&pts);
                let _ = sum_over_time(&pts);
                let _ = min_over_time(&pts);
                let _ = max_over_time(&pts);
                let _ = count_over_time(&pts);
                let _ = stddev_over_time(&pts);
                let _ = stdvar_over_time(&pts);
                let _ = mad_over_time(&pts);
                let _ = quantile_over_time(q, &pts);
                let _ = last_over_time(&pts);
                let _ = first_over_time(&pts);
                let _ = ts_of_min_over_time(&pts);
                let _ = ts_of_max_over_time(&pts);
                let _ = ts_of_last_over_time(&pts);
                let _ = ts_of_first_over_time(&pts);
            }

            #[test]
            fn counter_increase_is_never_negative(
                raw in prop::collection::vec((1i64..60_000, 0.0..1e6f64), 2..30),
                lead in 0i64..120_000,
                tail in 0i64..120_000,
            ) {
                let mut t = 0;
                let pts: Vec<Point> = raw
                    .into_iter()
                    .map(|(dt, v)| {
                        t += dt;
                        Point { t, v }
                    })
                    .collect();
                let first = pts[0].t;
                let last = pts[pts.len() - 1].t;
                let inc = increase(&pts, first - 1 - lead, last + tail).unwrap();
                prop_assert!(inc >= 0.0);
                let r = rate(&pts, first - 1 - lead, last + tail).unwrap();
                prop_assert!(r >= 0.0);
            }
        }
    }
}
