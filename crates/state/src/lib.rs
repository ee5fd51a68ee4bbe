//! The Pharos control-plane database: this crate owns the SQL schema, its
//! migrations, and typed repositories for the state that must survive a restart and
//! be shared by instances on one PostgreSQL database — silences, the notification
//! log, current alerts, alert history, rule `for` state and SLO specs created
//! through the API (later incidents and schedules). It speaks to a SQLite file in
//! the data dir by default (`<data-dir>/pharos.db`, WAL, busy timeout, foreign
//! keys) or to PostgreSQL given a `postgres://` URL, with the same SQL where the
//! dialects agree and one migration file per backend where they do not. It holds
//! plain records (string ids, unix-millisecond `i64` times, JSON label sets) and
//! knows nothing of alerting logic, HTTP, configuration or the TSDB: callers decide
//! what to store and when; this crate only stores it transactionally.
//!
//! | module | role |
//! |---|---|
//! | [`db`] | [`Database`]: open/connect, pool settings, backend dispatch, close |
//! | [`migrate`] | embedded per-backend migrations run through sqlx's migrator at open |
//! | [`silences`] | [`Silences`]: silence upsert/get/list by state/purge |
//! | [`nflog`] | [`Nflog`]: notification log keyed by group, receiver, integration |
//! | [`alerts`] | [`Alerts`]: current alerts, load at start, purge resolved |
//! | [`history`] | [`AlertHistory`]: append-only alert events, query by range and matchers |
//! | [`rule_state`] | [`RuleStates`]: `for` state of alerting rules per group |
//! | [`slo_specs`] | [`SloSpecs`]: SLO spec documents created through the API, by id |
//! | [`matcher`] | [`Matcher`]: Alertmanager-shaped label matchers and their evaluation |
//! | [`error`] | [`StateError`] |
//!
//! Write path: caller → repository method (records encoded to JSON first) → one
//! transaction per call (`BEGIN IMMEDIATE` on SQLite) → commit. Read path:
//! repository method → SQL filter on indexed columns → rows decoded into records
//! (history matchers applied in Rust).

pub mod alerts;
mod codec;
pub mod db;
pub mod error;
pub mod history;
pub mod matcher;
pub mod migrate;
pub mod nflog;
pub mod rule_state;
pub mod silences;
pub mod slo_specs;

use std::collections::BTreeMap;

pub use alerts::{AlertRecord, Alerts};
pub use db::{Backend, Database, DEFAULT_FILE_NAME};
pub use error::{Result, StateError};
pub use history::{AlertHistory, EventKind, HistoryEvent, HistoryQuery, Order, StoredEvent};
pub use matcher::{CompiledMatcher, Matcher};
pub use nflog::{Nflog, NflogEntry};
pub use rule_state::{RuleForState, RuleStates};
pub use silences::{Silence, SilenceState, Silences};
pub use slo_specs::{SloSpec, SloSpecs};

/// A label set (or annotations), sorted by name; stored as a JSON object.
pub type Labels = BTreeMap<String, String>;
