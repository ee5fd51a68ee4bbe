//! The write-side batch every receiver produces and the storage consumes. It borrows label
//! strings from the request buffer, so decoding a request allocates a few flat vectors
//! instead of two strings per label.

use crate::Sample;
use std::ops::Range;

/// A label borrowed from a request buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelRef<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// One series of a batch: ranges into the batch's flat vectors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeriesEntry {
    pub labels: Range<u32>,
    pub samples: Range<u32>,
    pub exemplars: Range<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExemplarRef {
    pub labels: Range<u32>,
    pub value: f64,
    pub t: i64,
}

/// Series with samples and exemplars. Each series' labels are sorted by name, unique,
/// and have non-empty values (receivers validate before building a batch).
#[derive(Clone, Debug, Default)]
pub struct WriteBatch<'a> {
    pub series: Vec<SeriesEntry>,
    /// Labels of every series, then of every exemplar, referenced by range.
    pub labels: Vec<LabelRef<'a>>,
    pub samples: Vec<Sample>,
    pub exemplars: Vec<ExemplarRef>,
}

impl<'a> WriteBatch<'a> {
    pub fn series_labels(&self, s: &SeriesEntry) -> &[LabelRef<'a>] {
        &self.labels[s.labels.start as usize..s.labels.end as usize]
    }

    pub fn series_samples(&self, s: &SeriesEntry) -> &[Sample] {
        &self.samples[s.samples.start as usize..s.samples.end as usize]
    }

    pub fn series_exemplars(&self, s: &SeriesEntry) -> &[ExemplarRef] {
        &self.exemplars[s.exemplars.start as usize..s.exemplars.end as usize]
    }

    pub fn exemplar_labels(&self, e: &ExemplarRef) -> &[LabelRef<'a>] {
        &self.labels[e.labels.start as usize..e.labels.end as usize]
    }

    /// Appends one series; a convenience for callers that hold owned labels.
    pub fn push_series(&mut self, labels: &[LabelRef<'a>], samples: &[Sample]) {
        let l0 = self.labels.len() as u32;
        self.labels.extend_from_slice(labels);
        let s0 = self.samples.len() as u32;
        self.samples.extend_from_slice(samples);
        let e0 = self.exemplars.len() as u32;
        self.series.push(SeriesEntry {
            labels: l0..self.labels.len() as u32,
            samples: s0..self.samples.len() as u32,
            exemplars: e0..e0,
        });
    }

    pub fn num_samples(&self) -> usize {
        self.samples.len()
    }
}
