//! PromQL evaluation over the model's read traits.
//!
//! This crate owns the meaning of PromQL: selectors with lookback and staleness, range
//! and instant functions, aggregations, binary operators and vector matching,
//! subqueries, `offset` and `@`, and the limits a query runs under. Parsing is the
//! `promql-parser` crate's job. It must not touch storage internals or HTTP: data comes
//! in through [`pharos_model::Queryable`], results leave as [`Value`]s.
//!
//! | module | job |
//! |---|---|
//! | `engine` | entry points (`Engine::instant_query`, `range_query`), options, limits, cancellation |
//! | `error`, `value` | results and errors as the Prometheus API reports them |

pub mod engine;
pub mod error;
pub mod value;

pub use engine::{Cancel, EngineOptions, QueryOptions};
pub use error::QueryError;
pub use value::{Annotations, InstantSample, Point, QueryResult, QueryStats, RangeSeries, Value};
