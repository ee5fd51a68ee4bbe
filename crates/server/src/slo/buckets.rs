//! What the budget engine remembers between evaluations: an SLO's event counts in
//! aligned 5-minute buckets. Without it every evaluation would read the whole SLO
//! window of raw samples (30 days of every request counter, once a minute); with it
//! an evaluation reads the last few minutes, and the window is the sum of the cached
//! buckets. The first evaluation after start fills the window with one range query
//! per SLI query.
//!
//! A span `[a, t)` is measured as: the cached buckets inside it, the share of the
//! bucket cut by `a` in proportion to the time inside, and the part since the last
//! settled bucket by a direct query. Buckets younger than [`SETTLE_MS`] are never
//! cached, because late samples (remote_write retries, out-of-order writes) may
//! still land in them. Buckets touching maintenance are measured with the
//! maintenance cut out, as direct measurements are.

use super::eval::{self, Accumulator, Measure, SliQuery};
use pharos_slo::Slo;
use std::collections::BTreeMap;

pub const BUCKET_MS: i64 = 300_000;
/// Buckets ending less than this before the evaluation time are read directly.
pub const SETTLE_MS: i64 = 600_000;
/// Spans shorter than this are always read directly: they are cheap, and the short
/// burn windows stay exact.
const DIRECT_BELOW_MS: i64 = 3_600_000;

fn floor(t: i64) -> i64 {
    t.div_euclid(BUCKET_MS) * BUCKET_MS
}

/// The cached buckets of one SLO, keyed by bucket end: `(end − 5m, end]`. `None`
/// marks a bucket that had no data.
pub struct BucketCache {
    slo: Slo,
    buckets: BTreeMap<i64, Option<Measure>>,
}

impl BucketCache {
    pub fn new(slo: Slo) -> Self {
        BucketCache {
            slo,
            buckets: BTreeMap::new(),
        }
    }

    /// Whether the cache was built for this definition (a changed spec starts over).
    pub fn is_for(&self, slo: &Slo) -> bool {
        self.slo == *slo
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Forgets buckets ending before `t_ms`.
    pub fn prune(&mut self, t_ms: i64) {
        self.buckets = self.buckets.split_off(&t_ms);
    }

    /// Caches every bucket ending in `(from, to]` not cached yet.
    fn fill(&mut self, q: &dyn SliQuery, from: i64, to: i64) -> Result<(), String> {
        let mut missing: Vec<i64> = Vec::new();
        let mut end = floor(from) + BUCKET_MS;
        while end <= to {
            if !self.buckets.contains_key(&end) {
                missing.push(end);
            }
            end += BUCKET_MS;
        }
        // One range query per run of consecutive missing buckets, bounded in points.
        let mut runs: Vec<(i64, i64)> = Vec::new();
        for e in missing {
            match runs.last_mut() {
                Some((first, last))
                    if *last + BUCKET_MS == e && (e - *first) / BUCKET_MS < eval::MAX_POINTS =>
                {
                    *last = e
                }
                _ => runs.push((e, e)),
            }
        }
        for (first, last) in runs {
            let got: std::collections::HashMap<i64, Measure> =
                eval::raw_buckets(&self.slo, q, first, last, BUCKET_MS)?
                    .into_iter()
                    .collect();
            let mut end = first;
            while end <= last {
                let m = if eval::clear_of_maintenance(&self.slo, end, BUCKET_MS) {
                    got.get(&end).copied()
                } else {
                    eval::measure(&self.slo, q, end - BUCKET_MS, end)?
                };
                self.buckets.insert(end, m);
                end += BUCKET_MS;
            }
        }
        Ok(())
    }

    /// The SLI over `[a, t)`, maintenance excluded.
    pub fn measure(&mut self, q: &dyn SliQuery, a: i64, t: i64) -> Result<Option<Measure>, String> {
        let settled = floor(t - SETTLE_MS);
        if t - a < DIRECT_BELOW_MS || settled <= a {
            return eval::measure(&self.slo, q, a, t);
        }
        self.fill(q, a, settled)?;
        let mut acc = Accumulator::default();
        for (&end, m) in self.buckets.range(a + 1..=settled) {
            let start = end - BUCKET_MS;
            let inside = end - start.max(a);
            acc.add(*m, inside as f64 / BUCKET_MS as f64, BUCKET_MS);
        }
        acc.add(eval::measure(&self.slo, q, settled, t)?, 1.0, t - settled);
        Ok(acc.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo::eval::tests_support::{slo, Counting, NOW};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn cached_windows_equal_direct_ones_and_later_evaluations_read_little() {
        let q = Counting::new(
            10.0,
            0.0,
            (NOW - 3 * 86_400_000, NOW - 2 * 86_400_000),
            0.05,
        );
        let s = slo(7);
        let mut cache = BucketCache::new(s.clone());
        for (a, t) in [
            (NOW - 7 * 86_400_000, NOW),
            (NOW - 3 * 86_400_000 + 123_000, NOW),
            (NOW - 3_600_000, NOW),
        ] {
            let direct = eval::measure(&s, &q, a, t).unwrap().unwrap();
            let cached = cache.measure(&q, a, t).unwrap().unwrap();
            let (dt, db) = direct.counts().unwrap();
            let (ct, cb) = cached.counts().unwrap();
            assert!(
                close(ct, dt) && close(cb, db),
                "{a}: {cached:?} vs {direct:?}"
            );
        }
        assert_eq!(cache.len(), 7 * 288 - 2);
        // A minute later: the window moved, only new buckets and the recent part are read.
        q.reset_points();
        let t = NOW + 60_000;
        let direct = eval::measure(&s, &q, t - 7 * 86_400_000, t)
            .unwrap()
            .unwrap();
        q.reset_points();
        let cached = cache.measure(&q, t - 7 * 86_400_000, t).unwrap().unwrap();
        assert!(q.points() < 100, "{} sample-minutes read", q.points());
        assert!(close(
            cached.counts().unwrap().1,
            direct.counts().unwrap().1
        ));
        cache.prune(t - 7 * 86_400_000);
        assert!(cache.len() <= 7 * 288);
    }

    #[test]
    fn maintenance_inside_a_bucket_is_cut_out() {
        let mut s = slo(7);
        // Errors only inside a maintenance period that starts mid-bucket.
        let m_start = NOW - 2 * 86_400_000 + 60_000;
        s.maintenance.push(pharos_slo::model::Maintenance {
            start: m_start / 1000,
            end: (m_start + 3_600_000) / 1000,
        });
        let q = Counting::new(10.0, 0.0, (m_start, m_start + 3_600_000), 10.0);
        let mut cache = BucketCache::new(s.clone());
        let m = cache
            .measure(&q, NOW - 7 * 86_400_000, NOW)
            .unwrap()
            .unwrap();
        let (total, bad) = m.counts().unwrap();
        assert_eq!(bad, 0.0);
        assert!(close(total, 10.0 * (7.0 * 86_400.0 - 3_600.0)), "{total}");
    }
}
