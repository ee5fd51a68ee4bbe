//! Samples and exemplars into the head.

use super::{Head, MemSeries, SeriesRef, StoredExemplar};
use crate::outcome::{AppendOutcome, RejectReason};
use pharos_model::{LabelRef, Labels, Sample};
use std::collections::VecDeque;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AppendMode {
    /// Network input: limits and the out-of-order window apply.
    Live,
    /// WAL replay: the data was acknowledged once, so it is taken whatever its age.
    Replay,
}

enum SampleResult {
    Appended,
    AppendedOutOfOrder,
    Duplicate,
    Rejected(RejectReason),
}

fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

impl Head {
    /// Checks the limits a new series must pass.
    pub fn check_new_series(&self, labels: &[LabelRef<'_>]) -> Result<(), (RejectReason, String)> {
        let lim = &self.opts.limits;
        if lim.max_series > 0 && self.num_series >= lim.max_series {
            return Err((
                RejectReason::MaxSeries,
                format!(
                    "the head holds the maximum of {} active series",
                    lim.max_series
                ),
            ));
        }
        if labels.len() > lim.max_labels_per_series {
            return Err((
                RejectReason::MaxLabelsPerSeries,
                format!(
                    "{} labels exceed the limit of {}",
                    labels.len(),
                    lim.max_labels_per_series
                ),
            ));
        }
        for l in labels {
            if l.name.len() > lim.max_label_name_length {
                return Err((
                    RejectReason::LabelNameTooLong,
                    format!(
                        "label name of {} bytes exceeds the limit of {}",
                        l.name.len(),
                        lim.max_label_name_length
                    ),
                ));
            }
            if l.value.len() > lim.max_label_value_length {
                return Err((
                    RejectReason::LabelValueTooLong,
                    format!(
                        "value of label {:?} has {} bytes, over the limit of {}",
                        l.name,
                        l.value.len(),
                        lim.max_label_value_length
                    ),
                ));
            }
        }
        if lim.max_series_per_metric > 0 {
            if let Some(name) = labels.iter().find(|l| l.name == pharos_model::METRIC_NAME) {
                if self.series_per_metric(name.value) as usize >= lim.max_series_per_metric {
                    return Err((
                        RejectReason::MaxSeriesPerMetric,
                        format!(
                            "metric {:?} has the maximum of {} active series",
                            name.value, lim.max_series_per_metric
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Appends one sample; the caller logs accepted samples to the WAL.
    /// Returns whether the sample was stored (duplicates of a stored sample are not).
    pub fn append_sample(
        &mut self,
        r: SeriesRef,
        t: i64,
        v: f64,
        mode: AppendMode,
        outcome: &mut AppendOutcome,
        describe: &dyn Fn() -> String,
    ) -> crate::Result<bool> {
        let min_valid = self.min_valid;
        let ooo_floor = self.max_t.saturating_sub(self.opts.ooo_window_ms);
        let span = self.opts.block_span_ms.max(1);
        let per_chunk = self.opts.samples_per_head_chunk.max(1);
        let Head {
            series,
            first_ref,
            spill,
            ..
        } = self;
        let Some(s) = r
            .checked_sub(*first_ref)
            .and_then(|i| series.get_mut(i as usize))
            .and_then(|s| s.as_deref_mut())
        else {
            return Ok(false);
        };
        let bits = v.to_bits();
        let result = if t > s.last_t && t >= min_valid {
            if let Some(first) = s.open.first_time() {
                let boundary = floor_div(first, span)
                    .saturating_mul(span)
                    .saturating_add(span);
                if s.open.len() >= per_chunk || t >= boundary {
                    seal(s, spill)?;
                }
            }
            s.open.append(t, v);
            s.last_t = t;
            s.last_v = bits;
            SampleResult::Appended
        } else if t == s.last_t {
            if s.last_v == bits {
                SampleResult::Duplicate
            } else {
                SampleResult::Rejected(RejectReason::DuplicateTimestamp)
            }
        } else if t >= ooo_floor || mode == AppendMode::Replay {
            let ooo = s.ooo.get_or_insert_with(Default::default);
            match ooo.binary_search_by_key(&t, |x| x.t) {
                Ok(i) if ooo[i].v.to_bits() == bits => SampleResult::Duplicate,
                Ok(_) => SampleResult::Rejected(RejectReason::DuplicateTimestamp),
                Err(i) => {
                    ooo.insert(i, Sample { t, v });
                    SampleResult::AppendedOutOfOrder
                }
            }
        } else {
            SampleResult::Rejected(RejectReason::TooOld)
        };
        match result {
            SampleResult::Appended | SampleResult::AppendedOutOfOrder => {
                if matches!(result, SampleResult::AppendedOutOfOrder) {
                    self.counters.ooo_appended += 1;
                }
                self.counters.samples_appended += 1;
                outcome.samples_appended += 1;
                self.max_t = self.max_t.max(t);
                self.min_t = self.min_t.min(t);
                Ok(true)
            }
            SampleResult::Duplicate => Ok(false),
            SampleResult::Rejected(reason) => {
                self.counters.rejected[reason.index()] += 1;
                outcome.reject(reason, 1, || match reason {
                    RejectReason::TooOld => format!(
                        "sample at {t} for {} is older than the out-of-order window allows (newest is {})",
                        describe(),
                        self.max_t
                    ),
                    _ => format!(
                        "sample at {t} for {} has the timestamp of a stored sample with a different value",
                        describe()
                    ),
                });
                Ok(false)
            }
        }
    }

    /// Stores an exemplar in the series' ring. Returns whether it was stored.
    pub fn append_exemplar(
        &mut self,
        r: SeriesRef,
        t: i64,
        v: f64,
        labels: Labels,
        outcome: &mut AppendOutcome,
    ) -> bool {
        let cap = self.opts.max_exemplars_per_series;
        if cap == 0 {
            return false;
        }
        let Some(s) = self.series_mut(r) else {
            return false;
        };
        let ring = s
            .exemplars
            .get_or_insert_with(|| Box::new(VecDeque::with_capacity(1)));
        if let Some(last) = ring.back() {
            if last.t == t && last.labels == labels && last.v.to_bits() == v.to_bits() {
                return false;
            }
            if t < last.t {
                self.counters.rejected[RejectReason::ExemplarOutOfOrder.index()] += 1;
                outcome.reject(RejectReason::ExemplarOutOfOrder, 1, || {
                    format!("exemplar at {t} is older than the newest exemplar of its series")
                });
                return false;
            }
        }
        if ring.len() >= cap {
            ring.pop_front();
        }
        ring.push_back(StoredExemplar { t, v, labels });
        self.counters.exemplars_appended += 1;
        outcome.exemplars_appended += 1;
        true
    }
}

/// Moves the open chunk to the spill file.
pub(super) fn seal(s: &mut MemSeries, spill: &mut super::Spill) -> crate::Result<()> {
    let (Some(mint), Some(maxt)) = (s.open.first_time(), s.open.last_time()) else {
        return Ok(());
    };
    let open = std::mem::take(&mut s.open);
    let chunk = spill.push(open.bytes(), mint, maxt)?;
    s.sealed.push(chunk);
    Ok(())
}
