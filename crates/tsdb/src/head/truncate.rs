//! Handing data to blocks: snapshot everything before a boundary, then drop it from the
//! head and garbage-collect series left without data.

use super::{Head, HeadSeries, SeriesRef};
use hashbrown::HashSet;

/// The series a cut will write, sorted by labels. Each is snapshotted only when the
/// block writer reaches it, so a cut never holds a copy of the whole head.
pub struct CutPlan {
    pub boundary: i64,
    pub refs: Vec<SeriesRef>,
}

/// Out-of-order samples a cut wrote, so truncation removes exactly those and nothing
/// that arrived while the block was being written.
#[derive(Default)]
pub struct OooTaken(hashbrown::HashMap<SeriesRef, Vec<i64>>);

impl OooTaken {
    fn into_sorted(self) -> Vec<(SeriesRef, Vec<i64>)> {
        let mut v: Vec<(SeriesRef, Vec<i64>)> = self
            .0
            .into_iter()
            .map(|(r, mut ts)| {
                ts.sort_unstable();
                (r, ts)
            })
            .collect();
        v.sort_unstable_by_key(|(r, _)| *r);
        v
    }
}

impl Head {
    /// Freezes everything before `boundary`: from now on in-order appends must be at or
    /// after it. Returns the series holding data before it, sorted by labels.
    pub fn begin_cut(&mut self, boundary: i64) -> crate::Result<CutPlan> {
        self.min_valid = self.min_valid.max(boundary);
        // Open chunks that start before the boundary go to the spill file first, so
        // snapshots hold references instead of copies of open chunks.
        let Head { series, spill, .. } = self;
        for s in series.iter_mut().flatten() {
            if s.open.first_time().is_some_and(|t| t < boundary) {
                super::append::seal(s, spill)?;
            }
        }
        spill.write_pending()?;
        let mut refs: Vec<SeriesRef> = self
            .live_refs()
            .filter(|(_, s)| s.min_time().is_some_and(|t| t < boundary))
            .map(|(r, _)| r)
            .collect();
        let sym = |id| self.symbols.get(id);
        refs.sort_by(|&a, &b| match (self.series(a), self.series(b)) {
            (Some(a), Some(b)) => {
                for (x, y) in a.labels.iter().zip(b.labels.iter()) {
                    let c = sym(x.0).cmp(sym(y.0)).then_with(|| sym(x.1).cmp(sym(y.1)));
                    if c != std::cmp::Ordering::Equal {
                        return c;
                    }
                }
                a.labels.len().cmp(&b.labels.len())
            }
            _ => std::cmp::Ordering::Equal,
        });
        Ok(CutPlan { boundary, refs })
    }

    /// The part of series `r` in `[mint, maxt]` (below a cut boundary), recording the
    /// out-of-order samples it hands over.
    pub fn cut_series(
        &self,
        r: SeriesRef,
        mint: i64,
        maxt: i64,
        taken: &mut OooTaken,
    ) -> Option<HeadSeries> {
        let s = self.series(r)?;
        if let Some(o) = &s.ooo {
            let ts = o.iter().filter(|x| x.t >= mint && x.t <= maxt).map(|x| x.t);
            let list = taken.0.entry(r).or_default();
            list.extend(ts);
        }
        self.snapshot(s, mint, maxt)
    }

    /// Drops the data a finished cut wrote to a block. Returns the number of series removed.
    pub fn finish_cut(&mut self, boundary: i64, ooo_taken: OooTaken) -> usize {
        let mut taken = ooo_taken.into_sorted().into_iter().peekable();
        let refs: Vec<SeriesRef> = self.live_refs().map(|(r, _)| r).collect();
        let mut removed = Vec::new();
        for r in refs {
            let Some(s) = self.series_mut(r) else {
                continue;
            };
            s.sealed.retain(|c| c.maxt >= boundary);
            if s.open.last_time().is_some_and(|t| t < boundary) {
                s.open = Default::default();
            }
            while taken.peek().is_some_and(|(tr, _)| *tr < r) {
                taken.next();
            }
            if taken.peek().is_some_and(|(tr, _)| *tr == r) {
                if let (Some((_, ts)), Some(o)) = (taken.next(), s.ooo.as_mut()) {
                    o.retain(|x| x.t >= boundary || ts.binary_search(&x.t).is_err());
                }
            }
            if s.ooo.as_ref().is_some_and(|o| o.is_empty()) {
                s.ooo = None;
            }
            if let Some(e) = s.exemplars.as_mut() {
                e.retain(|x| x.t >= boundary);
            }
            if !s.has_data() && s.last_t < boundary {
                removed.push(r);
            }
        }
        self.remove_series(&removed);
        self.spill.truncate_before(boundary);
        self.min_t = self.min_time().unwrap_or(i64::MAX);
        removed.len()
    }

    fn remove_series(&mut self, removed: &[SeriesRef]) {
        if removed.is_empty() {
            return;
        }
        let removed_set: HashSet<SeriesRef> = removed.iter().copied().collect();
        let mut touched = HashSet::new();
        for &r in removed {
            let Some(s) = self.series(r) else { continue };
            let h = self.stored_hash(s);
            let labels = s.labels.clone();
            if let Ok(e) = self.by_hash.find_entry(h, |&x| x == r) {
                e.remove();
            }
            for &(n, v) in labels.iter() {
                touched.insert((n, v));
                if self.symbols.get(n) == pharos_model::METRIC_NAME {
                    if let Some(c) = self.per_metric.get_mut(&v) {
                        *c = c.saturating_sub(1);
                        if *c == 0 {
                            self.per_metric.remove(&v);
                        }
                    }
                }
            }
            let idx = (r - self.first_ref) as usize;
            self.series[idx] = None;
            self.num_series -= 1;
            self.counters.series_removed += 1;
            for (n, v) in labels.iter() {
                self.symbols.release(*n);
                self.symbols.release(*v);
            }
        }
        for (n, v) in touched {
            if let Some(values) = self.postings.get_mut(&n) {
                if let Some(list) = values.get_mut(&v) {
                    list.retain(|r| !removed_set.contains(r));
                    if list.is_empty() {
                        values.remove(&v);
                    } else {
                        list.shrink_to_fit();
                    }
                }
                if values.is_empty() {
                    self.postings.remove(&n);
                }
            }
        }
        let lead = self.series.iter().take_while(|s| s.is_none()).count();
        if lead > 0 && lead >= self.series.len() / 4 {
            self.series.drain(..lead);
            self.first_ref += lead as u32;
        }
    }
}
