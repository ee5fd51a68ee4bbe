//! Histogram points in Prometheus's classic form: upper bounds with per-bucket counts.
//!
//! Pharos stores float samples only, so both OTLP histogram kinds become classic
//! histograms (`_bucket{le}`, `_sum`, `_count`); the compatibility spec allows this for
//! exponential histograms where native histograms are not supported.
//!
//! # Exponential histograms
//!
//! An exponential histogram at scale `s` has base `b = 2^(2^-s)`; its bucket at index
//! `i` holds values in `(b^i, b^(i+1)]`. The conversion:
//!
//! - **Scale cap.** Scales above [`TranslatorConfig::max_exponential_scale`] (default 2)
//!   are first downscaled to it, merging each run of `2^(s-cap)` adjacent buckets
//!   (index `i` becomes `i >> (s-cap)`), exactly as an OpenTelemetry SDK downscales.
//!   SDKs start at scale 20, where a single doubling spans a million buckets; every
//!   classic bucket is a series, so the cap bounds the series per histogram. At scale
//!   2 a bucket is 19% wide, so `histogram_quantile` stays within about 10%.
//! - **Upper bounds.** Each positive bucket becomes `le = b^(i+1)`, its upper bound
//!   (exponential buckets are inclusive of the upper bound, as `le` is). Every bound
//!   is computed as `2^(E / 2^cap)` for an integer `E`, whatever the point's own scale:
//!   a point below the cap lies on the same lattice, so the same bound always gets the
//!   same `le` string, series stay stable when an SDK changes scale, and delta points
//!   of different scales accumulate bucket by bucket. Bounds beyond `f64` range fold
//!   into `+Inf`.
//! - **Zero and negative buckets.** Values in the zero bucket (`[-t, t]` for zero
//!   threshold `t`) and all negative buckets fold into one bucket `le = t` (`le = "0"`
//!   when the threshold is 0). Its cumulative count is exact: every such value is
//!   `≤ t`. The distribution below zero is lost, which costs little for the latencies
//!   and sizes exponential histograms mostly carry, and saves a series per negative
//!   bucket. `_sum` and `_count` still include the negative values.
//! - All buckets from the lowest to the highest populated index are emitted, empty ones
//!   included, so a histogram's set of `le` series does not flicker.
//!
//! [`TranslatorConfig::max_exponential_scale`]: super::TranslatorConfig::max_exponential_scale

use super::naming::float_label;
use opentelemetry_proto::tonic::metrics::v1::{ExponentialHistogramDataPoint, HistogramDataPoint};
use std::cmp::Ordering;

/// Lowest and highest scales the OTLP data model allows.
pub const MIN_SCALE: i32 = -10;
pub const MAX_SCALE: i32 = 20;

/// A histogram as classic buckets: `bounds` strictly increasing and never `+Inf`,
/// `counts[i]` the observations in `(bounds[i-1], bounds[i]]`; the rest, up to `count`,
/// are in the implicit `+Inf` bucket.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Classic {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum: Option<f64>,
}

impl Classic {
    /// `(le, cumulative count)` for every bucket, `+Inf` last.
    pub fn cumulative(&self) -> impl Iterator<Item = (String, f64)> + '_ {
        let mut cum = 0u64;
        self.bounds
            .iter()
            .zip(&self.counts)
            .map(move |(b, c)| {
                cum = cum.saturating_add(*c);
                (float_label(*b), cum as f64)
            })
            .chain(std::iter::once(("+Inf".to_owned(), self.count as f64)))
    }

    /// The `le` values, `+Inf` last, for staleness markers.
    pub fn les(&self) -> impl Iterator<Item = String> + '_ {
        self.bounds
            .iter()
            .map(|b| float_label(*b))
            .chain(std::iter::once("+Inf".to_owned()))
    }

    /// Index of the bucket an exemplar of value `v` falls into (`bounds.len()` for
    /// `+Inf`): the first whose upper bound is `>= v`.
    pub fn bucket_of(&self, v: f64) -> usize {
        if v.is_nan() {
            return self.bounds.len();
        }
        self.bounds.partition_point(|b| *b < v)
    }

    /// Adds another histogram's counts, merging buckets with equal bounds.
    pub fn add(&mut self, other: &Classic) {
        let mut bounds = Vec::with_capacity(self.bounds.len().max(other.bounds.len()));
        let mut counts = Vec::with_capacity(bounds.capacity());
        let (mut i, mut j) = (0, 0);
        while i < self.bounds.len() || j < other.bounds.len() {
            let ord = match (self.bounds.get(i), other.bounds.get(j)) {
                (Some(a), Some(b)) => a.total_cmp(b),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match ord {
                Ordering::Less => {
                    bounds.push(self.bounds[i]);
                    counts.push(self.counts[i]);
                    i += 1;
                }
                Ordering::Greater => {
                    bounds.push(other.bounds[j]);
                    counts.push(other.counts[j]);
                    j += 1;
                }
                Ordering::Equal => {
                    bounds.push(self.bounds[i]);
                    counts.push(self.counts[i].saturating_add(other.counts[j]));
                    i += 1;
                    j += 1;
                }
            }
        }
        self.bounds = bounds;
        self.counts = counts;
        self.count = self.count.saturating_add(other.count);
        self.sum = match (self.sum, other.sum) {
            (Some(a), Some(b)) => Some(a + b),
            // One interval without a sum leaves the running total unknown.
            _ => None,
        };
    }
}

/// Converts an explicit-bucket point. `Err` says why the point is invalid.
pub(crate) fn from_explicit(p: &HistogramDataPoint, max_buckets: usize) -> Result<Classic, String> {
    let sum = p.sum;
    if p.bucket_counts.is_empty() {
        // Count and sum only, which the data model allows: just the +Inf bucket.
        return Ok(Classic {
            bounds: Vec::new(),
            counts: Vec::new(),
            count: p.count,
            sum,
        });
    }
    if p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
        return Err(format!(
            "histogram point has {} bucket counts for {} explicit bounds (needs one more count than bounds)",
            p.bucket_counts.len(),
            p.explicit_bounds.len()
        ));
    }
    if p.explicit_bounds.len() > max_buckets {
        return Err(format!(
            "histogram point has {} buckets, more than the limit of {max_buckets}",
            p.explicit_bounds.len()
        ));
    }
    if p.explicit_bounds.iter().any(|b| b.is_nan()) {
        return Err("histogram point has a NaN bucket bound".to_owned());
    }
    if p.explicit_bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err("histogram point's explicit bounds are not strictly increasing".to_owned());
    }
    let total = p
        .bucket_counts
        .iter()
        .try_fold(0u64, |acc, c| acc.checked_add(*c));
    if total != Some(p.count) {
        return Err(format!(
            "histogram point's bucket counts do not add up to its count {}",
            p.count
        ));
    }
    let mut bounds = Vec::with_capacity(p.explicit_bounds.len());
    let mut counts = Vec::with_capacity(p.explicit_bounds.len());
    for (b, c) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
        // A +Inf bound would duplicate the +Inf bucket, which `count` already covers.
        if *b == f64::INFINITY {
            break;
        }
        bounds.push(*b);
        counts.push(*c);
    }
    Ok(Classic {
        bounds,
        counts,
        count: p.count,
        sum,
    })
}

/// `2^q` for any `q`, exact while the result is a normal number.
fn pow2(q: i64) -> f64 {
    if q > 1023 {
        f64::INFINITY
    } else if q >= -1022 {
        f64::from_bits(((q + 1023) as u64) << 52)
    } else if q >= -1074 {
        // Subnormal: two exact steps.
        pow2(-1022) * pow2(q + 1022)
    } else {
        0.0
    }
}

/// `2^(e / 2^lattice)`. Splitting off the integer part makes the result exact at powers
/// of two and identical for equal `e`, whatever scale the bucket came from.
fn lattice_bound(e: i64, lattice: i32) -> f64 {
    let per = 1i64 << lattice;
    let q = e.div_euclid(per);
    let r = e.rem_euclid(per);
    let frac = if r == 0 {
        1.0
    } else {
        (r as f64 / per as f64).exp2()
    };
    if q > 1024 {
        return f64::INFINITY;
    }
    if q < -1022 {
        return frac * pow2(-1022) * pow2((q + 1022).max(-1100));
    }
    frac * pow2(q)
}

/// Converts an exponential point; see the module documentation for the mapping.
pub(crate) fn from_exponential(
    p: &ExponentialHistogramDataPoint,
    max_scale: i32,
    max_buckets: usize,
) -> Result<Classic, String> {
    if !(MIN_SCALE..=MAX_SCALE).contains(&p.scale) {
        return Err(format!(
            "exponential histogram scale {} is outside [{MIN_SCALE}, {MAX_SCALE}]",
            p.scale
        ));
    }
    let zt = p.zero_threshold;
    if !(zt.is_finite() && zt >= 0.0) {
        return Err(format!(
            "exponential histogram zero threshold {} is not a finite non-negative number",
            super::naming::json_number(zt)
        ));
    }
    let empty = Vec::new();
    let positive = p.positive.as_ref().map_or(&empty, |b| &b.bucket_counts);
    let negative = p.negative.as_ref().map_or(&empty, |b| &b.bucket_counts);
    let add_all = |acc: Option<u64>, counts: &[u64]| {
        counts.iter().try_fold(acc?, |acc, c| acc.checked_add(*c))
    };
    let folded = add_all(Some(p.zero_count), negative);
    let total = add_all(folded, positive);
    let (Some(folded), Some(total)) = (folded, total) else {
        return Err("exponential histogram bucket counts overflow 64 bits".to_owned());
    };
    if total != p.count {
        return Err(format!(
            "exponential histogram's zero and bucket counts do not add up to its count {}",
            p.count
        ));
    }

    let lattice = max_scale.clamp(0, MAX_SCALE);
    let scale = p.scale.min(lattice);
    let down = (p.scale - scale) as u32;
    let up = (lattice - scale) as u32;

    let mut buckets: Vec<(f64, u64)> = Vec::new();
    if !positive.is_empty() {
        let offset = p.positive.as_ref().map_or(0, |b| i64::from(b.offset));
        let first = offset >> down;
        let last = (offset + positive.len() as i64 - 1) >> down;
        if last - first >= max_buckets as i64 {
            return Err(format!(
                "exponential histogram has {} buckets at scale {scale}, more than the limit of {max_buckets}",
                last - first + 1
            ));
        }
        buckets.reserve((last - first + 1) as usize);
        let mut current: Option<(i64, u64)> = None;
        let flush = |idx: i64, c: u64, buckets: &mut Vec<(f64, u64)>| {
            // `idx + 1` fits easily: |idx| < 2^32, shifted by at most 30.
            let bound = lattice_bound((idx + 1) << up, lattice);
            buckets.push((bound, c));
        };
        for (j, c) in positive.iter().enumerate() {
            let idx = (offset + j as i64) >> down;
            current = match current {
                Some((i, acc)) if i == idx => Some((i, acc + c)),
                Some((i, acc)) => {
                    flush(i, acc, &mut buckets);
                    Some((idx, *c))
                }
                None => Some((idx, *c)),
            };
        }
        if let Some((i, acc)) = current {
            flush(i, acc, &mut buckets);
        }
    }
    if folded > 0 {
        buckets.push((zt, folded));
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut bounds = Vec::with_capacity(buckets.len());
    let mut counts: Vec<u64> = Vec::with_capacity(buckets.len());
    for (b, c) in buckets {
        if b == f64::INFINITY {
            // Beyond f64 range: these observations are only in +Inf.
            continue;
        }
        match bounds.last() {
            Some(last) if *last == b => {
                if let Some(lc) = counts.last_mut() {
                    *lc += c;
                }
            }
            _ => {
                bounds.push(b);
                counts.push(c);
            }
        }
    }
    Ok(Classic {
        bounds,
        counts,
        count: p.count,
        sum: p.sum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;

    fn explicit(bounds: &[f64], counts: &[u64], count: u64) -> HistogramDataPoint {
        HistogramDataPoint {
            explicit_bounds: bounds.to_vec(),
            bucket_counts: counts.to_vec(),
            count,
            sum: Some(1.0),
            ..Default::default()
        }
    }

    fn expo(
        scale: i32,
        offset: i32,
        pos: &[u64],
        zero: u64,
        neg: &[u64],
    ) -> ExponentialHistogramDataPoint {
        let count = zero + pos.iter().sum::<u64>() + neg.iter().sum::<u64>();
        ExponentialHistogramDataPoint {
            scale,
            zero_count: zero,
            count,
            sum: Some(3.0),
            positive: Some(Buckets {
                offset,
                bucket_counts: pos.to_vec(),
            }),
            negative: Some(Buckets {
                offset: 0,
                bucket_counts: neg.to_vec(),
            }),
            ..Default::default()
        }
    }

    fn les(c: &Classic) -> Vec<(String, f64)> {
        c.cumulative().collect()
    }

    fn pairs(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(a, b)| (a.to_string(), *b)).collect()
    }

    #[test]
    fn explicit_cumulative() {
        let c = from_explicit(&explicit(&[0.1, 1.0, 10.0], &[1, 2, 3, 4], 10), 100).unwrap();
        assert_eq!(
            les(&c),
            pairs(&[("0.1", 1.0), ("1", 3.0), ("10", 6.0), ("+Inf", 10.0)])
        );
        assert_eq!(c.bucket_of(0.05), 0);
        assert_eq!(c.bucket_of(1.0), 1);
        assert_eq!(c.bucket_of(11.0), 3);
    }

    #[test]
    fn explicit_without_buckets() {
        let c = from_explicit(&explicit(&[], &[], 7), 100).unwrap();
        assert_eq!(les(&c), pairs(&[("+Inf", 7.0)]));
    }

    #[test]
    fn explicit_invalid() {
        assert!(from_explicit(&explicit(&[1.0], &[1], 1), 100).is_err());
        assert!(from_explicit(&explicit(&[2.0, 1.0], &[1, 1, 1], 3), 100).is_err());
        assert!(from_explicit(&explicit(&[1.0, 1.0], &[1, 1, 1], 3), 100).is_err());
        assert!(from_explicit(&explicit(&[f64::NAN], &[1, 1], 2), 100).is_err());
        assert!(from_explicit(&explicit(&[1.0], &[1, 1], 3), 100).is_err());
        assert!(from_explicit(&explicit(&[1.0], &[u64::MAX, 1], 0), 100).is_err());
        assert!(from_explicit(&explicit(&[1.0, 2.0], &[1, 1, 1], 3), 1).is_err());
    }

    #[test]
    fn explicit_inf_bound_folds() {
        let c = from_explicit(&explicit(&[1.0, f64::INFINITY], &[1, 2, 0], 3), 100).unwrap();
        assert_eq!(les(&c), pairs(&[("1", 1.0), ("+Inf", 3.0)]));
    }

    #[test]
    fn exponential_scale_zero() {
        // Scale 0, base 2: index 1 is (2, 4], index 2 is (4, 8].
        let c = from_exponential(&expo(0, 1, &[0, 2], 1, &[]), 2, 100).unwrap();
        assert_eq!(
            les(&c),
            pairs(&[("0", 1.0), ("4", 1.0), ("8", 3.0), ("+Inf", 3.0)])
        );
    }

    #[test]
    fn exponential_downscaled_to_cap() {
        // Scale 3 indexes 0..8 cover (1, 2]; capped at 1 they become indexes 0 and 1 of
        // base sqrt(2): (1, 1.414], (1.414, 2].
        let c = from_exponential(&expo(3, 0, &[1, 1, 1, 1, 1, 1, 1, 1], 0, &[]), 1, 100).unwrap();
        assert_eq!(
            les(&c),
            pairs(&[("1.4142135623730951", 4.0), ("2", 8.0), ("+Inf", 8.0)])
        );
        // Negative offsets shift with floor division: scale 2 index -1 is (0.84, 1]
        // and -2 is (0.71, 0.84]; at scale 0 both are (0.5, 1].
        let c = from_exponential(&expo(2, -2, &[1, 1], 0, &[]), 0, 100).unwrap();
        assert_eq!(les(&c), pairs(&[("1", 2.0), ("+Inf", 2.0)]));
    }

    #[test]
    fn exponential_bounds_stable_across_scales() {
        // (1, 2] at scale 0 and the top quarter of it at scale 2 share the bound 2.
        let a = from_exponential(&expo(0, 0, &[1], 0, &[]), 2, 100).unwrap();
        let b = from_exponential(&expo(2, 3, &[1], 0, &[]), 2, 100).unwrap();
        assert_eq!(a.bounds, b.bounds);
        let c = from_exponential(&expo(-1, 0, &[1], 0, &[]), 2, 100).unwrap();
        assert_eq!(c.bounds, [4.0]);
    }

    #[test]
    fn exponential_negative_folded_into_zero_bucket() {
        let mut p = expo(0, 0, &[1], 2, &[3, 4]);
        p.zero_threshold = 0.001;
        let c = from_exponential(&p, 2, 100).unwrap();
        assert_eq!(
            les(&c),
            pairs(&[("0.001", 9.0), ("2", 10.0), ("+Inf", 10.0)])
        );
    }

    #[test]
    fn exponential_extremes() {
        // Bounds past f64 range fold into +Inf; tiny ones stay positive.
        let c = from_exponential(&expo(-10, 1_000_000, &[5], 0, &[]), 2, 100).unwrap();
        assert_eq!(les(&c), pairs(&[("+Inf", 5.0)]));
        let c = from_exponential(&expo(-10, i32::MIN, &[5], 0, &[]), 2, 100).unwrap();
        assert!(c.bounds.iter().all(|b| *b >= 0.0));
        let c = from_exponential(&expo(20, i32::MAX, &[1, 1], 0, &[]), 2, 100).unwrap();
        assert_eq!(c.count, 2);
        assert!(from_exponential(&expo(21, 0, &[1], 0, &[]), 2, 100).is_err());
        assert!(from_exponential(&expo(-11, 0, &[1], 0, &[]), 2, 100).is_err());
        let mut p = expo(0, 0, &[1], 0, &[]);
        p.zero_threshold = f64::NAN;
        assert!(from_exponential(&p, 2, 100).is_err());
        p.zero_threshold = 0.0;
        p.count = 5;
        assert!(from_exponential(&p, 2, 100).is_err());
        // Too many buckets even after downscaling.
        assert!(from_exponential(&expo(0, 0, &[1; 200], 0, &[]), 2, 100).is_err());
        assert!(from_exponential(&expo(10, 0, &[1; 200], 0, &[]), 2, 100).is_ok());
    }

    #[test]
    fn lattice_bounds() {
        assert_eq!(lattice_bound(4, 2), 2.0);
        assert_eq!(lattice_bound(-4, 2), 0.5);
        assert_eq!(lattice_bound(0, 2), 1.0);
        assert_eq!(lattice_bound(1 << 20, 2), f64::INFINITY);
        assert_eq!(lattice_bound(4 * 1023, 2), pow2(1023));
        assert_eq!(lattice_bound(-4 * 1074, 2), 5e-324);
        assert_eq!(lattice_bound(-4 * 2000, 2), 0.0);
        assert!((lattice_bound(1, 2) - 2f64.powf(0.25)).abs() < 1e-15);
    }

    #[test]
    fn add_merges_bounds() {
        let mut a = Classic {
            bounds: vec![1.0, 4.0],
            counts: vec![1, 2],
            count: 4,
            sum: Some(1.0),
        };
        let b = Classic {
            bounds: vec![2.0, 4.0],
            counts: vec![5, 1],
            count: 6,
            sum: Some(2.0),
        };
        a.add(&b);
        assert_eq!(a.bounds, [1.0, 2.0, 4.0]);
        assert_eq!(a.counts, [1, 5, 3]);
        assert_eq!(a.count, 10);
        assert_eq!(a.sum, Some(3.0));
        a.add(&Classic {
            bounds: vec![],
            counts: vec![],
            count: 0,
            sum: None,
        });
        assert_eq!(a.sum, None);
    }
}
