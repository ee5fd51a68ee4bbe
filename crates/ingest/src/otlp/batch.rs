//! The owned batch a translation produces, and its borrowed [`WriteBatch`] view.
//!
//! Unlike remote_write, OTLP labels are not in the request as Prometheus labels: names
//! are sanitized, values stringified and suffixes added, so the translation owns its
//! strings and lends them to storage through [`OwnedBatch::as_write_batch`].

use pharos_model::{Exemplar, ExemplarRef, LabelRef, Labels, Sample, SeriesEntry, WriteBatch};
use std::collections::HashMap;

/// One series of a translation: labels sorted, unique, with non-empty values; samples
/// in timestamp order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnedSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub exemplars: Vec<Exemplar>,
}

/// Series produced by one translation; each label set appears once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnedBatch {
    pub series: Vec<OwnedSeries>,
}

impl OwnedBatch {
    /// The batch as storage takes it, borrowing every string from `self`. Exemplar
    /// labels follow all series labels, as the remote_write decoder lays them out.
    pub fn as_write_batch(&self) -> WriteBatch<'_> {
        let mut b = WriteBatch::default();
        b.series.reserve(self.series.len());
        b.samples.reserve(self.num_samples());
        let mut exemplar_labels: Vec<LabelRef<'_>> = Vec::new();
        for s in &self.series {
            let l0 = b.labels.len() as u32;
            b.labels.extend(s.labels.iter().map(|l| LabelRef {
                name: &l.name,
                value: &l.value,
            }));
            let s0 = b.samples.len() as u32;
            b.samples.extend_from_slice(&s.samples);
            let e0 = b.exemplars.len() as u32;
            for e in &s.exemplars {
                let el0 = exemplar_labels.len() as u32;
                exemplar_labels.extend(e.labels.iter().map(|l| LabelRef {
                    name: &l.name,
                    value: &l.value,
                }));
                b.exemplars.push(ExemplarRef {
                    labels: el0..exemplar_labels.len() as u32,
                    value: e.value,
                    t: e.t,
                });
            }
            b.series.push(SeriesEntry {
                labels: l0..b.labels.len() as u32,
                samples: s0..b.samples.len() as u32,
                exemplars: e0..b.exemplars.len() as u32,
            });
        }
        let shift = b.labels.len() as u32;
        for e in &mut b.exemplars {
            e.labels = e.labels.start + shift..e.labels.end + shift;
        }
        b.labels.extend(exemplar_labels);
        b
    }

    pub fn num_samples(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    pub fn num_exemplars(&self) -> usize {
        self.series.iter().map(|s| s.exemplars.len()).sum()
    }

    /// The series with exactly these labels, if the batch has it.
    pub fn get(&self, labels: &Labels) -> Option<&OwnedSeries> {
        self.series.iter().find(|s| &s.labels == labels)
    }
}

/// Collects samples by label set, so that points of one series spread over a request
/// (several collection intervals, or a resource sent twice) become one series.
#[derive(Default)]
pub(crate) struct BatchBuilder {
    index: HashMap<Labels, usize>,
    series: Vec<OwnedSeries>,
}

impl BatchBuilder {
    fn entry(&mut self, labels: Labels) -> &mut OwnedSeries {
        let i = match self.index.get(&labels) {
            Some(&i) => i,
            None => {
                let i = self.series.len();
                self.index.insert(labels.clone(), i);
                self.series.push(OwnedSeries {
                    labels,
                    ..OwnedSeries::default()
                });
                i
            }
        };
        &mut self.series[i]
    }

    pub(crate) fn push(&mut self, labels: Labels, t: i64, v: f64, exemplars: Vec<Exemplar>) {
        let s = self.entry(labels);
        s.samples.push(Sample { t, v });
        s.exemplars.extend(exemplars);
    }

    pub(crate) fn finish(self) -> OwnedBatch {
        let mut series = self.series;
        for s in &mut series {
            // Stable, so points with equal timestamps keep request order and storage
            // judges duplicates as it would for any sender.
            s.samples.sort_by_key(|s| s.t);
            s.exemplars.sort_by_key(|e| e.t);
        }
        OwnedBatch { series }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_batch_view_matches() {
        let mut b = BatchBuilder::default();
        let a = Labels::from_pairs([("__name__", "a"), ("x", "1")]);
        let c = Labels::from_pairs([("__name__", "c")]);
        let ex = Exemplar {
            labels: Labels::from_pairs([("trace_id", "ab")]),
            value: 2.0,
            t: 5,
        };
        b.push(a.clone(), 20, 1.0, vec![]);
        b.push(c.clone(), 10, 3.0, vec![ex.clone()]);
        b.push(a.clone(), 10, 0.5, vec![]);
        let owned = b.finish();
        assert_eq!(owned.series.len(), 2);
        assert_eq!(owned.num_samples(), 3);
        let wb = owned.as_write_batch();
        assert_eq!(wb.series.len(), 2);
        let s0 = &wb.series[0];
        let names: Vec<_> = wb.series_labels(s0).iter().map(|l| l.name).collect();
        assert_eq!(names, ["__name__", "x"]);
        assert_eq!(
            wb.series_samples(s0),
            [Sample { t: 10, v: 0.5 }, Sample { t: 20, v: 1.0 }]
        );
        let s1 = &wb.series[1];
        let e = &wb.series_exemplars(s1)[0];
        assert_eq!(e.value, 2.0);
        assert_eq!(
            wb.exemplar_labels(e),
            [LabelRef {
                name: "trace_id",
                value: "ab"
            }]
        );
        // Exemplar labels come after every series label.
        assert!(e.labels.start >= s1.labels.end);
        assert_eq!(owned.get(&c).unwrap().exemplars, vec![ex]);
    }
}
