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
//! | `engine` | entry points (`Engine::instant_query`, `range_query`, `format_query`), options, limits, cancellation |
//! | `eval` | evaluation of the AST over all steps at once: selectors, subqueries, operators, aggregations, function dispatch |
//! | `functions` | the numeric kernels of functions and aggregations (rate, quantiles, calendar, math) |
//! | `error`, `value` | results and errors as the Prometheus API reports them |
//! | `promqltest` | runner for upstream's PromQL test scripts (conformance) |

pub mod engine;
pub mod error;
mod eval;
pub mod functions;
pub mod promqltest;
pub mod value;

pub use engine::{format_query, Cancel, Engine, EngineOptions, QueryOptions};
pub use error::QueryError;
pub use value::{Annotations, InstantSample, Point, QueryResult, QueryStats, RangeSeries, Value};
