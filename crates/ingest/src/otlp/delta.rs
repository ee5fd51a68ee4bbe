//! Delta-to-cumulative conversion for sums and histograms.
//!
//! Prometheus counters and histogram buckets are cumulative, so a delta stream is summed
//! into a running total per series, following the data model's delta-to-cumulative
//! algorithm:
//!
//! - The first point of a series starts its total.
//! - A point not newer than the series' last point is refused: it is a duplicate (an
//!   exporter retrying a request that had in fact arrived) or out of order, and adding
//!   it would count its interval twice.
//! - A point whose interval starts before the previous point ended overlaps it: the
//!   sender restarted with an earlier clock, or two writers share the series. Adding it
//!   would double count, so the total restarts from this point, and Prometheus sees a
//!   counter reset.
//! - A point whose interval starts after the previous one ended (a gap) is added. The
//!   data model suggests a reset here too, but SDKs leave gaps whenever a series had no
//!   measurements for an interval, and a reset there would make `increase()` lose
//!   whatever the first point after the gap adds on top of the old total. A real gap (a
//!   lost export) cannot be recovered either way.
//! - An explicit-bucket histogram whose bounds change restarts its total; exponential
//!   histograms merge bucket by bucket, their bounds all lying on one lattice.
//! - A NaN or infinite delta (a sum's value, a histogram's sum) is refused: added in,
//!   it would stay in the running total for good.
//!
//! State is bounded: at most [`TranslatorConfig::max_delta_series`] series are tracked,
//! new series beyond that are refused (and reported to the sender), and series not
//! updated for [`TranslatorConfig::delta_series_ttl_ms`] are forgotten. A series that
//! comes back after that starts from zero again, which reads as a counter reset.
//!
//! [`TranslatorConfig::max_delta_series`]: super::TranslatorConfig::max_delta_series
//! [`TranslatorConfig::delta_series_ttl_ms`]: super::TranslatorConfig::delta_series_ttl_ms

use super::hist::Classic;
use pharos_model::Labels;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Sum,
    Histogram,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    kind: Kind,
    labels: Labels,
}

#[derive(Debug)]
enum Total {
    Sum(f64),
    Histogram {
        hist: Classic,
        /// The explicit bounds' bit patterns; `None` for exponential histograms.
        layout: Option<Vec<u64>>,
    },
}

#[derive(Debug)]
struct Entry {
    /// End of the last interval added, in nanoseconds.
    last_ns: u64,
    /// Wall-clock milliseconds of the last update, for expiry.
    touched_ms: i64,
    total: Total,
}

/// Why a delta point was not converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotNewer,
    NotFinite,
    Full(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotNewer => f.write_str(
                "delta point is not newer than the previous point of its series (duplicate or out of order)",
            ),
            Refusal::NotFinite => f.write_str(
                "delta value is NaN or infinite, which would make its series' running total meaningless",
            ),
            Refusal::Full(limit) => write!(
                f,
                "delta-to-cumulative conversion already tracks its limit of {limit} series; \
                 new delta series are refused until idle ones expire"
            ),
        }
    }
}

#[derive(Debug)]
pub(crate) struct DeltaState {
    series: HashMap<Key, Entry>,
    max_series: usize,
    ttl_ms: i64,
    last_sweep_ms: i64,
}

impl DeltaState {
    pub(crate) fn new(max_series: usize, ttl_ms: i64) -> Self {
        DeltaState {
            series: HashMap::new(),
            max_series,
            ttl_ms: ttl_ms.max(0),
            last_sweep_ms: i64::MIN,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.series.len()
    }

    /// Forgets series idle for longer than the TTL. Runs at most every quarter TTL, so
    /// the scan's cost is spread thin, or whenever the table is full.
    pub(crate) fn expire(&mut self, now_ms: i64, force: bool) {
        if !force && now_ms.saturating_sub(self.last_sweep_ms) < self.ttl_ms / 4 {
            return;
        }
        self.last_sweep_ms = now_ms;
        let ttl = self.ttl_ms;
        self.series
            .retain(|_, e| now_ms.saturating_sub(e.touched_ms) <= ttl);
    }

    /// Adds one interval; returns the new total, or why the point was refused.
    fn add(
        &mut self,
        key: Key,
        start_ns: u64,
        time_ns: u64,
        now_ms: i64,
        fresh: Total,
    ) -> Result<&Total, Refusal> {
        if !self.series.contains_key(&key) && self.series.len() >= self.max_series {
            self.expire(now_ms, true);
            if self.series.len() >= self.max_series {
                return Err(Refusal::Full(self.max_series));
            }
        }
        let entry = match self.series.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => v.insert(Entry {
                last_ns: time_ns,
                touched_ms: now_ms,
                total: fresh,
            }),
            std::collections::hash_map::Entry::Occupied(o) => {
                let e = o.into_mut();
                if time_ns <= e.last_ns {
                    return Err(Refusal::NotNewer);
                }
                // A start time of 0 means unknown; such points are taken as aligned.
                let overlaps = start_ns != 0 && start_ns < e.last_ns;
                if overlaps || !merge(&mut e.total, &fresh) {
                    e.total = fresh;
                }
                e.last_ns = time_ns;
                e.touched_ms = now_ms;
                e
            }
        };
        Ok(&entry.total)
    }

    /// Converts one delta sum point; `labels` identify the output series.
    pub(crate) fn add_sum(
        &mut self,
        labels: &Labels,
        start_ns: u64,
        time_ns: u64,
        now_ms: i64,
        v: f64,
    ) -> Result<f64, Refusal> {
        if !v.is_finite() {
            return Err(Refusal::NotFinite);
        }
        let key = Key {
            kind: Kind::Sum,
            labels: labels.clone(),
        };
        match self.add(key, start_ns, time_ns, now_ms, Total::Sum(v))? {
            Total::Sum(total) => Ok(*total),
            // Keys carry their kind, so a sum key always holds a sum.
            Total::Histogram { .. } => Ok(v),
        }
    }

    /// Converts one delta histogram point; `labels` are the histogram's base labels.
    /// `layout` is the explicit bounds (as bits) or `None` for exponential histograms.
    pub(crate) fn add_histogram(
        &mut self,
        labels: &Labels,
        start_ns: u64,
        time_ns: u64,
        now_ms: i64,
        hist: Classic,
        layout: Option<Vec<u64>>,
    ) -> Result<Classic, Refusal> {
        if hist.sum.is_some_and(|s| !s.is_finite()) {
            return Err(Refusal::NotFinite);
        }
        let key = Key {
            kind: Kind::Histogram,
            labels: labels.clone(),
        };
        match self.add(
            key,
            start_ns,
            time_ns,
            now_ms,
            Total::Histogram { hist, layout },
        )? {
            Total::Histogram { hist, .. } => Ok(hist.clone()),
            Total::Sum(_) => Err(Refusal::NotNewer),
        }
    }
}

/// Adds `fresh` into `total`; `false` when they cannot be added (the caller restarts).
fn merge(total: &mut Total, fresh: &Total) -> bool {
    match (total, fresh) {
        (Total::Sum(t), Total::Sum(f)) => {
            *t += f;
            true
        }
        (
            Total::Histogram { hist, layout },
            Total::Histogram {
                hist: f,
                layout: fl,
            },
        ) if layout == fl => {
            hist.add(f);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels::from_pairs([("__name__", "x_total")])
    }

    #[test]
    fn sums_accumulate() {
        let mut d = DeltaState::new(10, 1000);
        let l = labels();
        assert_eq!(d.add_sum(&l, 0, 10, 0, 1.0), Ok(1.0));
        assert_eq!(d.add_sum(&l, 10, 20, 0, 2.0), Ok(3.0));
        // A gap is added across.
        assert_eq!(d.add_sum(&l, 30, 40, 0, 4.0), Ok(7.0));
        // Unknown start.
        assert_eq!(d.add_sum(&l, 0, 50, 0, 1.0), Ok(8.0));
        // NaN would stick to the total forever.
        assert_eq!(d.add_sum(&l, 50, 60, 0, f64::NAN), Err(Refusal::NotFinite));
        assert_eq!(d.add_sum(&l, 50, 60, 0, 1.0), Ok(9.0));
    }

    #[test]
    fn duplicates_refused_and_overlap_resets() {
        let mut d = DeltaState::new(10, 1000);
        let l = labels();
        assert_eq!(d.add_sum(&l, 0, 10, 0, 5.0), Ok(5.0));
        assert_eq!(d.add_sum(&l, 0, 10, 0, 5.0), Err(Refusal::NotNewer));
        assert_eq!(d.add_sum(&l, 0, 9, 0, 5.0), Err(Refusal::NotNewer));
        assert_eq!(d.add_sum(&l, 5, 20, 0, 2.0), Ok(2.0));
        assert_eq!(d.add_sum(&l, 20, 30, 0, 2.0), Ok(4.0));
    }

    #[test]
    fn bounded_and_expiring() {
        let mut d = DeltaState::new(2, 1000);
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let c = Labels::from_pairs([("__name__", "c")]);
        d.add_sum(&a, 0, 1, 0, 1.0).unwrap();
        d.add_sum(&b, 0, 1, 500, 1.0).unwrap();
        assert_eq!(d.add_sum(&c, 0, 1, 900, 1.0), Err(Refusal::Full(2)));
        // Existing series still update.
        assert_eq!(d.add_sum(&a, 1, 2, 900, 1.0), Ok(2.0));
        // After `b` idles past the TTL it is forgotten and `c` fits.
        assert_eq!(d.add_sum(&c, 0, 1, 1600, 1.0), Ok(1.0));
        assert_eq!(d.len(), 2);
        // `b` starts over.
        d.expire(3000, true);
        assert_eq!(d.len(), 0);
        assert_eq!(d.add_sum(&b, 1, 2, 3000, 1.0), Ok(1.0));
    }

    #[test]
    fn histograms_reset_on_layout_change() {
        let mut d = DeltaState::new(10, 1000);
        let l = labels();
        let h = |bounds: Vec<f64>, counts: Vec<u64>| Classic {
            count: counts.iter().sum(),
            bounds,
            counts,
            sum: Some(1.0),
        };
        let bits = |b: &[f64]| Some(b.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        let r = d
            .add_histogram(&l, 0, 1, 0, h(vec![1.0], vec![1]), bits(&[1.0]))
            .unwrap();
        assert_eq!(r.count, 1);
        let r = d
            .add_histogram(&l, 1, 2, 0, h(vec![1.0], vec![2]), bits(&[1.0]))
            .unwrap();
        assert_eq!((r.counts.clone(), r.count, r.sum), (vec![3], 3, Some(2.0)));
        let r = d
            .add_histogram(&l, 2, 3, 0, h(vec![2.0], vec![1]), bits(&[2.0]))
            .unwrap();
        assert_eq!((r.bounds, r.count), (vec![2.0], 1));
        // A sum and a histogram with the same labels are separate series.
        assert_eq!(d.add_sum(&l, 0, 1, 0, 7.0), Ok(7.0));
    }
}
