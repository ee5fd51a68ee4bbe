//! Shared vocabulary of every Pharos stage: label sets, label matchers, samples,
//! exemplars, and the storage read traits that query engines program against.
//!
//! This crate owns types and their invariants (sorted, unique label names; Prometheus
//! matcher semantics; the staleness-marker bit pattern). It must not touch I/O, storage
//! layout, wire formats or HTTP: every other crate depends on it, so it stays small.
//!
//! | module | job |
//! |---|---|
//! | [`labels`] | `Label`, `Labels`, name/value validation |
//! | [`matcher`] | `Matcher` with `=`, `!=`, `=~`, `!~` semantics as Prometheus defines them |
//! | [`sample`] | `Sample`, `Exemplar`, staleness markers |
//! | [`storage`] | read traits: `Queryable` → `Querier` → `SeriesSet` → `SampleIter` |
//! | [`write`] | `WriteBatch`: the borrowed batch receivers hand to storage |

pub mod labels;
pub mod matcher;
pub mod sample;
pub mod storage;
pub mod write;

pub use labels::{Label, Labels, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use sample::{is_stale_nan, Exemplar, Sample, STALE_NAN, STALE_NAN_BITS};
pub use storage::{Querier, Queryable, SampleIter, Series, SeriesSet, StorageError, VecSampleIter};
pub use write::{ExemplarRef, LabelRef, SeriesEntry, WriteBatch};
