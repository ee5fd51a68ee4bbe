//! The read side every query engine programs against. Everything streams: a querier
//! yields one series at a time and each series decodes its samples lazily.

use crate::{Exemplar, Labels, Matcher, Sample};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt data in {what}: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("{0}")]
    Other(String),
}

/// Something that can be queried over a time range (the database).
pub trait Queryable: Send + Sync {
    /// A consistent view of the data in `[mint, maxt]` (milliseconds, both inclusive).
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError>;
}

pub trait Querier: Send {
    /// Series matching all `matchers`, sorted by label set, each with its samples in
    /// `[mint, maxt]` in time order. Series with no samples in the range are skipped.
    fn select(&self, matchers: &[Matcher]) -> Result<SeriesSet, StorageError>;

    /// Sorted label names of series matching `matchers` (all series when empty).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// Sorted values of label `name` among series matching `matchers`.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// Exemplars of series matching `matchers` within the querier's range.
    fn exemplars(&self, matchers: &[Matcher])
        -> Result<Vec<(Labels, Vec<Exemplar>)>, StorageError>;
}

/// A sorted stream of series.
pub type SeriesSet = Box<dyn Iterator<Item = Result<Series, StorageError>> + Send>;

pub struct Series {
    pub labels: Labels,
    pub samples: Box<dyn SampleIter>,
}

/// A forward-only cursor over one series' samples.
pub trait SampleIter: Send {
    fn next_sample(&mut self) -> Option<Sample>;

    /// Advances to the first sample at or after `t` and returns it.
    fn seek(&mut self, t: i64) -> Option<Sample> {
        loop {
            let s = self.next_sample()?;
            if s.t >= t {
                return Some(s);
            }
        }
    }

    /// Any decoding error met while iterating; iteration stops at the first one.
    fn error(&self) -> Option<&StorageError> {
        None
    }
}

impl Iterator for dyn SampleIter {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.next_sample()
    }
}

/// A sample iterator over an owned vector; used for in-memory buffers.
pub struct VecSampleIter {
    samples: std::vec::IntoIter<Sample>,
}

impl VecSampleIter {
    pub fn new(samples: Vec<Sample>) -> Self {
        VecSampleIter {
            samples: samples.into_iter(),
        }
    }
}

impl SampleIter for VecSampleIter {
    fn next_sample(&mut self) -> Option<Sample> {
        self.samples.next()
    }
}
