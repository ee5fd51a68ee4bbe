//! Numeric kernels of PromQL's functions and aggregations, free of any evaluation
//! state: the evaluator (`crate::eval`) slides windows and groups series, and hands
//! plain values here.

pub mod aggregate;
pub mod date;
pub mod histogram;
pub mod math;
pub mod range;
