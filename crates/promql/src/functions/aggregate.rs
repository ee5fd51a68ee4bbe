//! Numeric kernels shared by the aggregation operators (`sum`, `avg`, `stddev`,
//! `stdvar`, `quantile`) and the `*_over_time` functions.
//!
//! Every kernel reproduces the exact sequence of floating-point operations Prometheus
//! performs, because users compare results across the two systems and alerting rules
//! sometimes rely on exact equality (e.g. `avg(x) == 52`).

use std::cmp::Ordering;

/// One step of Kahan–Babuška–Neumaier summation: adds `inc` to the running `sum` whose
/// accumulated rounding error is `c`, and returns the new `(sum, c)`.
///
/// Once the sum overflows to ±Inf the compensation is reset to zero, otherwise the
/// compensation term would turn into `Inf - Inf = NaN` and poison a result that
/// Prometheus reports as ±Inf.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        // Neumaier's variant: the error is recovered from whichever operand is larger,
        // which keeps it exact even when the increment dwarfs the running sum.
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// A compensated running sum, as Prometheus computes `sum` and `sum_over_time`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KahanSum {
    sum: f64,
    c: f64,
}

impl KahanSum {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, v: f64) {
        (self.sum, self.c) = kahan_inc(v, self.sum, self.c);
    }

    /// The sum with the accumulated compensation folded in. An infinite sum is returned
    /// as is: adding the compensation could only turn it into NaN.
    pub fn value(&self) -> f64 {
        if self.sum.is_infinite() {
            self.sum
        } else {
            self.sum + self.c
        }
    }
}

/// The arithmetic mean as `avg` and `avg_over_time` compute it; NaN for no values.
pub fn avg(values: &[f64]) -> f64 {
    avg_of(values.iter().copied())
}

/// The mean of `values`, summed directly with Kahan compensation for accuracy (the direct
/// sum turned out to be more accurate than an incremental mean in practice), switching
/// to an incremental mean only once the direct sum would overflow, so that averaging
/// huge but finite values still gives a finite answer.
pub(crate) fn avg_of(mut values: impl Iterator<Item = f64>) -> f64 {
    let Some(first) = values.next() else {
        return f64::NAN;
    };
    let mut sum = first;
    let mut count = 1.0_f64;
    let mut c = 0.0_f64;
    let mut mean = 0.0_f64;
    let mut incremental = false;
    for v in values {
        count += 1.0;
        if !incremental {
            let (new_sum, new_c) = kahan_inc(v, sum, c);
            if !new_sum.is_infinite() {
                sum = new_sum;
                c = new_c;
                continue;
            }
            // The sum would overflow: continue with the mean of what was summed so far.
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

/// Orders NaN before every number and numbers ascending, which is where Prometheus's
/// quantile sort puts them: a NaN then acts as the smallest value, so it only influences
/// the low quantiles.
fn nan_first(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// The `q`-quantile of `values` with linear interpolation between the closest ranks, as
/// the `quantile` aggregation and `quantile_over_time` compute it. `values` is sorted in
/// place. NaN for no values or a NaN `q`; -Inf for `q < 0`; +Inf for `q > 1`.
// A `&mut Vec` rather than a slice because that is the calling convention the evaluator
// was written against.
#[allow(clippy::ptr_arg)]
pub fn quantile(q: f64, values: &mut Vec<f64>) -> f64 {
    quantile_sorting(q, values)
}

pub(crate) fn quantile_sorting(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_unstable_by(nan_first);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (n - 1.0).min(lower + 1.0);
    let weight = rank - rank.floor();
    // `lower` and `upper` are within `0..=n-1` because `0 <= q <= 1`.
    let lo = values[lower as usize];
    let hi = values[upper as usize];
    // Both terms are always evaluated, so an infinite neighbour with weight 0 yields
    // Inf·0 = NaN; Prometheus behaves the same and so must this.
    lo * (1.0 - weight) + hi * weight
}

/// The population variance as the `stdvar` aggregation computes it (Welford's online
/// algorithm without compensation); NaN for no values. A NaN or infinite value makes
/// the result NaN, which the seeding of the first value ensures even when it is the
/// only one.
pub fn stdvar(values: &[f64]) -> f64 {
    let Some((&first, rest)) = values.split_first() else {
        return f64::NAN;
    };
    let mut mean = first;
    let mut m2 = if first.is_finite() { 0.0 } else { f64::NAN };
    let mut count = 1.0_f64;
    for &v in rest {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
    }
    m2 / count
}

/// The population standard deviation as the `stddev` aggregation computes it.
pub fn stddev(values: &[f64]) -> f64 {
    stdvar(values).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        if a == b {
            return true;
        }
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    fn sum(values: &[f64]) -> f64 {
        let mut k = KahanSum::new();
        for &v in values {
            k.add(v);
        }
        k.value()
    }

    #[test]
    fn kahan_recovers_small_terms_next_to_huge_ones() {
        // aggregators.test: sum(data{test="ten"}) over 2, 8, 1e100, -1e100.
        assert_eq!(sum(&[2.0, 8.0, 1e100, -1e100]), 10.0);
        // functions.test: sum_over_time over 1, 1e100, 1, -1e100.
        assert_eq!(sum(&[1.0, 1e100, 1.0, -1e100]), 2.0);
        // Plain summation loses both small terms here.
        assert_eq!(((2.0 + 8.0) + 1e100) + -1e100, 0.0);
    }

    #[test]
    fn kahan_infinities_and_nan() {
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[f64::INFINITY, 2.0]), f64::INFINITY);
        assert_eq!(sum(&[2.0, f64::NEG_INFINITY]), f64::NEG_INFINITY);
        assert!(sum(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert!(sum(&[f64::NAN, 2.0]).is_nan());
        assert!(sum(&[2.0, f64::NAN]).is_nan());
        // Overflow of finite values gives +Inf rather than NaN.
        assert_eq!(sum(&[f64::MAX, f64::MAX, 1.0]), f64::INFINITY);
        assert_eq!(sum(&[f64::MAX, f64::MAX, -f64::MAX]), f64::INFINITY);
    }

    #[test]
    fn kahan_inc_matches_reference_steps() {
        assert_eq!(kahan_inc(1.0, 0.0, 0.0), (1.0, 0.0));
        let (s, c) = kahan_inc(1.0, 1e100, 0.0);
        assert_eq!((s, c), (1e100, 1.0));
        let (s, c) = kahan_inc(f64::MAX, f64::MAX, 5.0);
        assert_eq!((s, c), (f64::INFINITY, 0.0));
    }

    #[test]
    fn avg_cases_from_aggregators_test() {
        let big = 9.988_465_674_311_58e307;
        assert_eq!(avg(&[8.0, 10.0, 12.0]), 10.0);
        assert_eq!(
            avg(&[0.0, f64::INFINITY, f64::INFINITY, 0.0]),
            f64::INFINITY
        );
        assert_eq!(avg(&[f64::INFINITY, 0.0, f64::INFINITY]), f64::INFINITY);
        assert!(avg(&[f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert_eq!(
            avg(&[f64::NEG_INFINITY, f64::NEG_INFINITY, 0.0]),
            f64::NEG_INFINITY
        );
        assert!(avg(&[f64::NEG_INFINITY, 0.0, f64::INFINITY]).is_nan());
        assert_eq!(avg(&[big, big, big, big]), big);
        assert_eq!(avg(&[-big, -big, -big, -big]), -big);
        assert_eq!(avg(&[-big, -big, big, big]), 0.0);
        assert_eq!(avg(&[2.0, 8.0, 1e100, -1e100]), 2.5);
        assert!(avg(&[1.0, f64::NAN]).is_nan());
        assert!(avg(&[]).is_nan());
        assert_eq!(avg(&[7.5]), 7.5);
        // Exact equality holds for identical values (aggregators.test relies on it).
        for n in 1..=12 {
            assert_eq!(avg(&vec![52.0; n]), 52.0, "n={n}");
        }
    }

    #[test]
    fn avg_switches_to_incremental_mean_on_overflow() {
        // Sum of the first two overflows; the incremental mean stays finite.
        let v = [f64::MAX, f64::MAX, f64::MAX];
        assert!(close(avg(&v), f64::MAX));
        let v = [f64::MAX, f64::MAX, 0.0, 0.0];
        assert!(close(avg(&v), f64::MAX / 2.0));
    }

    #[test]
    fn quantile_cases_from_aggregators_test() {
        let q = |q: f64, v: &[f64]| quantile(q, &mut v.to_vec());
        assert!(close(q(0.8, &[0.0, 1.0]), 0.8));
        assert!(close(q(0.8, &[0.0, 1.0, 2.0]), 1.6));
        assert!(close(q(0.8, &[0.0, 1.0, 4.0]), 2.8));
        // NaN sorts first and so is the smallest value.
        assert!(close(q(0.8, &[0.0, 1.0, f64::NAN]), 0.6));
        assert!(q(0.2, &[0.0, 1.0, f64::NAN]).is_nan());
        assert!(close(q(0.2, &[0.0, 1.0]), 0.2));
        assert!(close(q(0.2, &[0.0, 1.0, 2.0]), 0.4));
        assert!(close(q(0.2, &[1.0, 0.0, 4.0]), 0.4));
        assert!(q(f64::NAN, &[0.0, 1.0]).is_nan());
    }

    #[test]
    fn quantile_bounds_and_edges() {
        let q = |q: f64, v: &[f64]| quantile(q, &mut v.to_vec());
        assert!(q(0.5, &[]).is_nan());
        assert!(q(-1.0, &[]).is_nan());
        assert_eq!(q(-0.1, &[1.0, 2.0]), f64::NEG_INFINITY);
        assert_eq!(q(1.1, &[1.0, 2.0]), f64::INFINITY);
        assert_eq!(q(f64::NEG_INFINITY, &[1.0]), f64::NEG_INFINITY);
        assert_eq!(q(f64::INFINITY, &[1.0]), f64::INFINITY);
        assert_eq!(q(0.0, &[3.0, 1.0, 2.0]), 1.0);
        assert_eq!(q(1.0, &[3.0, 1.0, 2.0]), 3.0);
        assert_eq!(q(0.5, &[5.0]), 5.0);
        // Interpolating towards an infinite neighbour.
        assert_eq!(q(0.75, &[1.0, f64::INFINITY]), f64::INFINITY);
        assert_eq!(q(0.25, &[f64::NEG_INFINITY, 1.0]), f64::NEG_INFINITY);
        // An infinite neighbour with weight zero still contributes Inf·0 = NaN, exactly
        // as in Prometheus, even when the rank hits a finite value precisely.
        assert!(q(0.5, &[f64::INFINITY, 1.0, 2.0]).is_nan());
        assert!(q(1.0, &[f64::INFINITY, 1.0]).is_nan());
        assert_eq!(q(0.0, &[f64::INFINITY, 1.0, 2.0]), 1.0);
        let mut v = vec![3.0, f64::NAN, 1.0];
        quantile(0.5, &mut v);
        assert!(v[0].is_nan());
        assert_eq!(&v[1..], &[1.0, 3.0]);
    }

    #[test]
    fn stdvar_cases_from_aggregators_test() {
        let series: Vec<f64> = (1..=8).map(|i| 100.0 * i as f64).collect();
        assert!(close(stdvar(&series), 52500.0));
        assert!((stddev(&series) - 229.12878474779).abs() < 1e-9);
        assert!(close(stdvar(&[100.0, 300.0, 500.0, 700.0]), 50000.0));
        assert!((stddev(&[100.0, 300.0, 500.0, 700.0]) - 223.60679774998).abs() < 1e-9);
        assert_eq!(stddev(&[1.0, 2.0]), 0.5);
        assert_eq!(stdvar(&[1.0, 2.0]), 0.25);
        assert_eq!(stdvar(&[1.0]), 0.0);
        let v = 1.33 * 10.0;
        assert_eq!(stddev(&[v, v, v]), 0.0);
        assert_eq!(stdvar(&[v, v, v]), 0.0);
    }

    #[test]
    fn stdvar_nan_and_inf() {
        assert!(stdvar(&[1.0, 2.0, f64::NAN]).is_nan());
        assert!(stdvar(&[f64::NAN, 1.0, 2.0]).is_nan());
        assert!(stdvar(&[f64::NAN]).is_nan());
        assert!(stddev(&[f64::NAN]).is_nan());
        assert!(stdvar(&[1.0, 2.0, f64::INFINITY]).is_nan());
        assert!(stdvar(&[f64::INFINITY]).is_nan());
        assert!(stdvar(&[f64::NEG_INFINITY, 1.0]).is_nan());
        assert!(stdvar(&[]).is_nan());
        assert!(stddev(&[]).is_nan());
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn any_f64() -> impl Strategy<Value = f64> {
            prop_oneof![
                any::<f64>(),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                -1e6..1e6f64,
            ]
        }

        proptest! {
            #[test]
            fn kernels_never_panic(values in prop::collection::vec(any_f64(), 0..40), q in any_f64()) {
                let mut k = KahanSum::new();
                for &v in &values {
                    k.add(v);
                }
                let _ = k.value();
                let _ = avg(&values);
                let _ = stdvar(&values);
                let _ = stddev(&values);
                let mut copy = values.clone();
                let _ = quantile(q, &mut copy);
            }

            #[test]
            fn quantile_stays_within_finite_range(values in prop::collection::vec(-1e9..1e9f64, 1..30), q in 0.0..=1.0f64) {
                let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let r = quantile(q, &mut values.clone());
                prop_assert!(r >= min - 1e-6 && r <= max + 1e-6);
            }
        }
    }
}
