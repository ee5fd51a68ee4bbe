//! `histogram_quantile()` over the buckets of a classic (`le`-labelled) histogram.

use std::cmp::Ordering;

/// One cumulative bucket: the number of observations less than or equal to
/// `upper_bound`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// The estimated quantile and what had to be repaired in the input to compute it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketQuantile {
    pub value: f64,
    /// Some bucket count was lower than a bucket below it and had to be raised; the
    /// evaluator reports this as an info annotation.
    pub forced_monotonic: bool,
    /// Bucket counts differed only by floating-point noise (a relative difference of at
    /// most 1e-12) and were made equal; this is silent in Prometheus.
    pub fixed_precision: bool,
}

/// Relative difference between neighbouring bucket counts that is treated as rounding
/// noise rather than data. Such noise appears when bucket counts went through `rate` and
/// `sum` (or query sharding in systems built on Prometheus); one observation in 10^12
/// is far below anything that matters for monitoring.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// Prometheus's `BucketQuantile`: the `q`-quantile of the observations counted by the
/// classic histogram `buckets`, interpolating linearly inside the bucket the quantile
/// falls into.
///
/// `buckets` need not be sorted; it is sorted by upper bound, buckets with equal bounds
/// (e.g. `le="0.2"` and `le="2e-1"`) are merged, and counts are made monotonic, all in
/// place. The result is:
/// - NaN for a NaN `q`, -Inf for `q < 0`, +Inf for `q > 1` (checked before anything
///   else, so even for empty input);
/// - NaN if there are no buckets, the highest bound is not +Inf, fewer than two distinct
///   bounds remain, or there are no observations;
/// - the upper bound of the second-highest bucket if the quantile falls into the +Inf
///   bucket;
/// - the upper bound of the lowest bucket if the quantile falls into it and that bound
///   is not positive; otherwise the lowest bucket is taken to start at 0.
pub fn histogram_quantile(q: f64, buckets: &mut Vec<Bucket>) -> BucketQuantile {
    let mut result = BucketQuantile {
        value: f64::NAN,
        forced_monotonic: false,
        fixed_precision: false,
    };
    if q.is_nan() {
        return result;
    }
    if q < 0.0 {
        result.value = f64::NEG_INFINITY;
        return result;
    }
    if q > 1.0 {
        result.value = f64::INFINITY;
        return result;
    }
    buckets.sort_by(|a, b| by_upper_bound(a.upper_bound, b.upper_bound));
    match buckets.last() {
        Some(last) if last.upper_bound == f64::INFINITY => {}
        _ => return result,
    }
    coalesce(buckets);
    (result.forced_monotonic, result.fixed_precision) = ensure_monotonic(buckets);

    let n = buckets.len();
    if n < 2 {
        return result;
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return result;
    }
    let mut rank = q * observations;
    // The first bucket, below the +Inf one, whose cumulative count reaches the rank.
    let b = search(n - 1, |i| buckets[i].count >= rank);

    result.value = if b == n - 1 {
        // Nothing is known about observations above the highest finite bound.
        buckets[n - 2].upper_bound
    } else if b == 0 && buckets[0].upper_bound <= 0.0 {
        // Without a natural lower bound the bucket's width is unknown.
        buckets[0].upper_bound
    } else {
        let mut start = 0.0;
        let end = buckets[b].upper_bound;
        let mut count = buckets[b].count;
        if b > 0 {
            start = buckets[b - 1].upper_bound;
            count -= buckets[b - 1].count;
            rank -= buckets[b - 1].count;
        }
        start + (end - start) * (rank / count)
    };
    result
}

/// Ascending order of upper bounds. A NaN bound (an `le` label reading "NaN") has no
/// meaningful place; it is put above +Inf so that the histogram is recognised as not
/// ending in +Inf and yields NaN, and so that the order stays a total one.
fn by_upper_bound(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Merges adjacent buckets with equal upper bounds (the same bound spelled differently
/// in the `le` label) by adding their counts. `buckets` must be sorted.
fn coalesce(buckets: &mut Vec<Bucket>) {
    buckets.dedup_by(|later, kept| {
        if later.upper_bound == kept.upper_bound {
            kept.count += later.count;
            true
        } else {
            false
        }
    });
}

/// Makes the cumulative counts non-decreasing, which the binary search for the rank
/// relies on. Counts that differ from the last accepted count only by rounding noise
/// are set equal to it (in either direction); real decreases are raised to it. Returns
/// `(forced_monotonic, fixed_precision)`.
fn ensure_monotonic(buckets: &mut [Bucket]) -> (bool, bool) {
    let mut forced = false;
    let mut fixed = false;
    let Some(first) = buckets.first() else {
        return (forced, fixed);
    };
    let mut prev = first.count;
    for bucket in buckets.iter_mut().skip(1) {
        let curr = bucket.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            // Not accepting `curr` as the new reference keeps noise from accumulating.
            bucket.count = prev;
            fixed = true;
            continue;
        }
        if curr < prev {
            bucket.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    (forced, fixed)
}

/// Whether `a` and `b` differ by less than `epsilon` relative to their magnitude, with
/// NaN equal to NaN (Prometheus's `almost.Equal`). Values near zero are compared
/// against the smallest normal number instead, since a relative difference is
/// meaningless there.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// The smallest `i` in `0..n` for which `pred(i)` holds, or `n`, by the same bisection
/// as Go's `sort.Search`. With monotonic counts any bisection agrees, but NaN counts
/// break monotonicity, and then the exact probing sequence decides the answer; using
/// Go's keeps the result identical to Prometheus's.
fn search(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect()
    }

    fn hq(q: f64, pairs: &[(f64, f64)]) -> f64 {
        histogram_quantile(q, &mut buckets(pairs)).value
    }

    fn close(a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    /// testhistogram_bucket at 50m (load 0+Nx10 → 10·N), in label order rather than
    /// bound order.
    fn positive() -> Vec<(f64, f64)> {
        vec![(0.1, 50.0), (1.0, 110.0), (0.2, 70.0), (INF, 120.0)]
    }

    fn negative() -> Vec<(f64, f64)> {
        vec![(-0.2, 10.0), (-0.1, 20.0), (0.3, 20.0), (INF, 30.0)]
    }

    #[test]
    fn testhistogram_from_histograms_test() {
        for (q, want_pos, want_neg) in [
            (0.0, 0.0, -0.2),
            (1.0, 1.0, 0.3),
            (0.2, 0.048, -0.2),
            (0.5, 0.15, -0.15),
            (0.8, 0.72, 0.3),
        ] {
            let p = hq(q, &positive());
            let n = hq(q, &negative());
            assert!(close(p, want_pos), "q={q} positive: {p}");
            assert!(close(n, want_neg), "q={q} negative: {n}");
        }
        // The same quantiles on rates: every count divided by 600s.
        let per_second = |v: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
            v.into_iter().map(|(b, c)| (b, c / 600.0)).collect()
        };
        assert!(close(hq(0.2, &per_second(positive())), 0.048));
        assert!(close(hq(0.5, &per_second(negative())), -0.15));
        assert!(close(hq(0.8, &per_second(positive())), 0.72));
    }

    #[test]
    fn testhistogram3_from_histograms_test() {
        let positive = [
            (0.0, 0.0),
            (0.1, 50.0),
            (0.2, 70.0),
            (1.0, 110.0),
            (INF, 110.0),
        ];
        let negative = [
            (-0.25, 0.0),
            (-0.2, 10.0),
            (-0.1, 20.0),
            (0.3, 20.0),
            (INF, 20.0),
        ];
        for (q, want_pos, want_neg) in [
            (0.0, 0.0, -0.25),
            (0.25, 0.055, -0.225),
            (0.5, 0.125, -0.2),
            (0.75, 0.45, -0.15),
            (1.0, 1.0, -0.1),
        ] {
            let p = hq(q, &positive);
            let n = hq(q, &negative);
            assert!(close(p, want_pos), "q={q} positive: {p}");
            assert!(close(n, want_neg), "q={q} negative: {n}");
        }
    }

    #[test]
    fn testhistogram2_middle_of_bucket() {
        // At 7m: 0+0, 0+1, 0+2, 0+3, 0+3 per 5m → one step in.
        let h = [(0.0, 0.0), (2.0, 1.0), (4.0, 2.0), (6.0, 3.0), (INF, 3.0)];
        assert!(close(hq(1.0 / 6.0, &h), 1.0));
        assert!(close(hq(0.5, &h), 3.0));
        assert!(close(hq(5.0 / 6.0, &h), 5.0));
    }

    #[test]
    fn aggregated_request_durations() {
        // sum(rate(request_duration_seconds_bucket[10m])) by (le) at 50m: the sums of
        // 1+2+3+4, 3+5+4+7, 4+6+6+9 per 5m step, as rates.
        let h = [
            (0.1, 10.0 / 300.0),
            (0.2, 19.0 / 300.0),
            (INF, 25.0 / 300.0),
        ];
        assert!(close(hq(0.3, &h), 0.075));
        assert!(close(hq(0.5, &h), 0.1 + 0.1 * (2.5 / 9.0)));
    }

    #[test]
    fn nonmonotonic_from_histograms_test() {
        let h = [
            (0.1, 20.0),
            (1.0, 10.0),
            (10.0, 50.0),
            (100.0, 40.0),
            (1000.0, 90.0),
            (INF, 80.0),
        ];
        for (q, want) in [(0.01, 0.0045), (0.5, 8.5), (0.99, 979.75)] {
            let r = histogram_quantile(q, &mut buckets(&h));
            assert!(close(r.value, want), "q={q}: {}", r.value);
            assert!(r.forced_monotonic);
            assert!(!r.fixed_precision);
        }
    }

    #[test]
    fn duplicate_bounds_are_merged() {
        // mixed_bucket at 50m after rate: le 0.1, 0.2 (three spellings), +Inf.
        let r = 1.0 / 300.0;
        let ins1 = [(0.1, r), (0.2, r), (0.2, r), (0.2, r), (INF, 4.0 * r)];
        assert!(close(hq(0.5, &ins1), 0.15));
        assert!(close(hq(0.75, &ins1), 0.2));
        assert!(close(hq(1.0, &ins1), 0.2));
        // Only +Inf buckets: a single bucket after merging.
        assert!(hq(0.5, &[(INF, 0.0), (INF, 0.0)]).is_nan());
        assert!(hq(0.5, &[(INF, 3.0), (INF, 4.0)]).is_nan());

        let mut v = buckets(&[(1.0, 1.0), (INF, 5.0), (1.0, 2.0)]);
        histogram_quantile(0.5, &mut v);
        assert_eq!(v, buckets(&[(1.0, 3.0), (INF, 5.0)]));
    }

    #[test]
    fn no_observations_or_bad_shapes_give_nan() {
        assert!(hq(0.2, &[(0.1, 0.0), (0.2, 0.0), (INF, 0.0)]).is_nan());
        assert!(hq(1.0, &[(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (INF, 0.0)]).is_nan());
        // No +Inf bucket.
        assert!(hq(0.5, &[(1.0, 1.0), (2.0, 2.0)]).is_nan());
        // A single bucket.
        assert!(hq(0.5, &[(INF, 100.0)]).is_nan());
        assert!(hq(0.5, &[]).is_nan());
        // A NaN bound sorts above +Inf.
        assert!(hq(0.5, &[(1.0, 1.0), (f64::NAN, 2.0), (INF, 3.0)]).is_nan());
        // -Inf as the only finite bound.
        assert_eq!(
            hq(0.5, &[(f64::NEG_INFINITY, 1.0), (INF, 2.0)]),
            f64::NEG_INFINITY
        );
    }

    #[test]
    fn quantile_bounds() {
        let h = positive();
        assert_eq!(hq(-0.1, &h), f64::NEG_INFINITY);
        assert_eq!(hq(1.01, &h), INF);
        assert!(hq(f64::NAN, &h).is_nan());
        // The q checks come first, even for unusable input.
        assert_eq!(hq(-1.0, &[]), f64::NEG_INFINITY);
        assert_eq!(hq(2.0, &[]), INF);
        assert!(hq(f64::NAN, &[]).is_nan());
        assert_eq!(hq(f64::NEG_INFINITY, &h), f64::NEG_INFINITY);
        let mut untouched = buckets(&h);
        histogram_quantile(2.0, &mut untouched);
        assert_eq!(untouched, buckets(&h));
    }

    #[test]
    fn rank_in_inf_bucket_returns_second_highest_bound() {
        let h = [(1.0, 1.0), (2.0, 3.0), (3.0, 6.0), (INF, 100.0)];
        assert_eq!(hq(0.5, &h), 3.0);
        assert_eq!(hq(1.0, &h), 3.0);
        assert!(close(hq(0.06, &h), 3.0));
        assert!(close(hq(0.05, &h), 2.0 + 2.0 / 3.0));
    }

    #[test]
    fn lowest_bucket_lower_bound() {
        // Positive first bound: interpolate from 0.
        assert!(close(hq(0.25, &[(4.0, 10.0), (INF, 10.0)]), 1.0));
        // Non-positive first bound: its upper bound is the answer.
        assert_eq!(hq(0.05, &[(-3.0, 10.0), (-2.0, 12.0), (INF, 100.0)]), -3.0);
        assert_eq!(hq(0.0, &[(0.0, 10.0), (1.0, 12.0), (INF, 100.0)]), 0.0);
        // q = 0 with an empty first bucket lands in it and interpolates 0/0, which
        // Prometheus reports as NaN too.
        assert!(hq(0.0, &[(2.0, 0.0), (4.0, 1.0), (INF, 1.0)]).is_nan());
    }

    #[test]
    fn precision_noise_is_smoothed_silently() {
        let c = 1e13;
        let h = [
            (1.0, c),
            (2.0, c * (1.0 - 1e-15)),
            (3.0, c * (1.0 + 1e-15)),
            (INF, 2.0 * c),
        ];
        let r = histogram_quantile(0.4, &mut buckets(&h));
        assert!(r.fixed_precision);
        assert!(!r.forced_monotonic);
        assert!(close(r.value, 0.8));

        // A real decrease is forced, and also reported.
        let h = [(1.0, 10.0), (2.0, 9.0), (INF, 20.0)];
        let r = histogram_quantile(0.5, &mut buckets(&h));
        assert!(r.forced_monotonic);
        assert!(!r.fixed_precision);
        assert_eq!(r.value, 1.0);

        // Monotonic input needs neither.
        let r = histogram_quantile(0.5, &mut buckets(&positive()));
        assert!(!r.forced_monotonic && !r.fixed_precision);

        // Noise is judged against the last accepted count, not the smoothed one.
        let mut v = buckets(&[(1.0, c), (2.0, c + 0.001), (3.0, c + 0.002), (INF, c + 1.0)]);
        let r = histogram_quantile(0.5, &mut v);
        assert!(r.fixed_precision && !r.forced_monotonic);
        assert_eq!(v[1].count, c);
        assert_eq!(v[2].count, c);
    }

    #[test]
    fn almost_equal_matches_reference_semantics() {
        assert!(almost_equal(f64::NAN, f64::NAN, 1e-12));
        assert!(!almost_equal(f64::NAN, 1.0, 1e-12));
        assert!(!almost_equal(0.0, 1e-300, 1e-12));
        assert!(almost_equal(0.0, 1e-320, 1e-12) == (1e-320 < 1e-12 * f64::MIN_POSITIVE));
        assert!(almost_equal(INF, INF, 1e-12));
        assert!(!almost_equal(INF, f64::MAX, 1e-12));
        assert!(almost_equal(1.0, 1.0 + 1e-13, 1e-12));
        assert!(!almost_equal(1.0, 1.0 + 1e-11, 1e-12));
    }

    #[test]
    fn nan_counts_do_not_panic_and_follow_bisection() {
        let h = [(1.0, f64::NAN), (2.0, 5.0), (INF, 10.0)];
        // NaN never satisfies `count >= rank`; bisection probes index 1 first, which
        // does, then index 0, which does not: the quantile is in bucket 1.
        let r = hq(0.3, &h);
        assert!(r.is_nan());
        assert_eq!(hq(0.5, &[(1.0, 1.0), (2.0, 2.0), (INF, f64::NAN)]), 2.0);
    }

    #[test]
    fn search_matches_bisection() {
        let v = [1, 3, 3, 5, 8];
        for target in 0..10 {
            let got = search(v.len(), |i| v[i] >= target);
            let want = v.iter().position(|&x| x >= target).unwrap_or(v.len());
            assert_eq!(got, want);
        }
        assert_eq!(search(0, |_| true), 0);
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
                -10.0..100.0f64,
            ]
        }

        proptest! {
            #[test]
            fn never_panics(
                q in value(),
                raw in prop::collection::vec((value(), value()), 0..20),
                with_inf in any::<bool>(),
            ) {
                let mut b: Vec<Bucket> = raw
                    .into_iter()
                    .map(|(upper_bound, count)| Bucket { upper_bound, count })
                    .collect();
                if with_inf {
                    b.push(Bucket { upper_bound: f64::INFINITY, count: 1.0 });
                }
                let _ = histogram_quantile(q, &mut b);
            }

            #[test]
            fn result_lies_within_the_finite_bounds(
                bounds in prop::collection::btree_set(-1000i32..1000, 1..10),
                increments in prop::collection::vec(0.0..100.0f64, 11),
                q in 0.0..=1.0f64,
            ) {
                let mut total = 0.0;
                let mut b: Vec<Bucket> = bounds
                    .iter()
                    .zip(&increments)
                    .map(|(&ub, &inc)| {
                        total += inc;
                        Bucket { upper_bound: f64::from(ub), count: total }
                    })
                    .collect();
                b.push(Bucket { upper_bound: f64::INFINITY, count: total + increments[10] });
                let lowest = f64::from(*bounds.iter().next().unwrap()).min(0.0);
                let highest = f64::from(*bounds.iter().last().unwrap());
                let r = histogram_quantile(q, &mut b);
                prop_assert!(!r.forced_monotonic);
                if !r.value.is_nan() {
                    prop_assert!(r.value >= lowest - 1e-9 && r.value <= highest + 1e-9);
                }
            }
        }
    }
}
