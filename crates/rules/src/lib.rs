//! Prometheus rule files end to end: parsing and checking them (`rulefmt`, `check`),
//! evaluating recording and alerting rules in groups on a schedule (`group`,
//! `manager`), the views `/api/v1/rules` and `/api/v1/alerts` serve (`api`), and
//! promtool's rule unit tests (`unittest`). Queries go through a [`storage::QueryFunc`]
//! (the PromQL engine over a `Queryable`), outputs through a [`storage::Appendable`],
//! and templates through the [`template::Templates`] trait. This crate must not touch
//! storage internals, HTTP or notification delivery: the server wires those in.
//!
//! | module | job |
//! |---|---|
//! | [`yaml`] | YAML tree with line/column per node; strict decoding helpers with Go's error texts |
//! | [`rulefmt`] | rule-file model, decoding, validation, duplicate-rule lint |
//! | [`check`] | `check rules`: promtool's output and exit codes |
//! | [`recording`], [`alerting`] | one rule's evaluation; the alert state machine and `ALERTS` series |
//! | [`group`] | a group's evaluation cycle, staleness, `for`-state restore, reload hand-over |
//! | [`manager`] | scheduling groups on aligned slots, reloads, snapshots for the API |
//! | [`api`] | serializable `/api/v1/rules` and `/api/v1/alerts` data |
//! | [`storage`] | query function over the engine, the output appender, an in-memory store |
//! | [`template`] | the template trait, its data, and the engine-backed implementation |
//! | [`unittest`] | `test rules`: promtool's unit-test format, runner and messages |
//! | [`format`] | Prometheus/Go text forms of durations, floats and label sets |
//! | [`error`] | evaluation errors as `lastError` shows them |

pub mod alerting;
pub mod api;
pub mod check;
pub mod error;
pub mod format;
pub mod group;
pub mod manager;
pub mod recording;
pub mod rulefmt;
pub mod storage;
pub mod template;
pub mod unittest;
pub mod yaml;

pub use api::{AlertsView, RulesFilter, RulesView};
pub use group::{Group, GroupEnv, Notifier, RuleSource, Settings};
pub use manager::{ManagerDeps, RuleManager};
pub use storage::{Appendable, EngineQueryFunc, MemStore, QueryFunc};
pub use template::Templates;
