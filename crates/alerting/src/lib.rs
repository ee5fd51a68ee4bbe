//! Alertmanager-compatible alerting for Pharos: this crate owns the
//! alertmanager.yml model and its validation (with Alertmanager's error
//! texts), label matchers, the routing tree, and time intervals; later
//! stages (dispatcher, inhibition, silences, notification pipeline,
//! receivers, API v2) build on these types. It depends only on
//! `pharos-model` and must not touch storage, HTTP serving or rule
//! evaluation, which belong to other crates.
//!
//! | module | role |
//! |---|---|
//! | [`config`] | alertmanager.yml sections, defaults, global inheritance, validation |
//! | [`matcher`] | `name="v"` / `!=` / `=~` / `!~` matchers, the 0.25 parser, the [`LabelSet`] trait |
//! | [`route`] | compiled routing tree: inheritance, matching, keys and IDs, group labels |
//! | [`timeinterval`] | time intervals and their evaluation in a time zone |
//! | [`duration`] | Prometheus duration syntax (`1h30m`) |
//! | [`secret`] | [`Secret`], printed and serialized as `<secret>` |
//! | [`error`] | error types |
//! | [`alert`] | alerts, fingerprints, ingestion defaults, merge, order, status |
//! | [`silence`] | silences (validation, update/expire rules, recurring schedules) |
//! | [`inhibit`] | inhibition rules evaluated against firing alerts |
//! | [`dispatch`] | alert store, aggregation groups and timers, notify pipeline, API v2 views |
//! | [`notify`] | the [`notify::Notifier`] trait receivers implement, retry backoff |
//! | [`nflog`] | notification log and the dedup rule |
//! | [`persist`] | the [`persist::AlertingStore`] seam (silences, nflog, history) and its in-memory form |
//! | [`persist_sql`] | that seam over the control-plane database (`pharos-state`: SQLite or PostgreSQL) |
//! | [`clock`] | wall time driven by tokio's clock |
//!
//! Write path: alertmanager.yml text → [`Config::load`] / [`Config::load_file`]
//! (decode, per-item checks, whole-file checks and `global:` inheritance) →
//! a validated [`Config`] or a [`ConfigError`] listing every problem.
//!
//! Read path for a dispatcher: [`Config::routing_tree`] →
//! [`Route::match_labels`] with an alert's labels (any [`LabelSet`]:
//! `BTreeMap<String, String>`, `HashMap` or `pharos_model::Labels`) → each
//! matched route's [`RouteOpts`], [`Route::key`] and [`Route::group_labels`];
//! [`Route::muted_at`] with [`Config::intervener`] applies the route's time
//! intervals; [`Config::inhibit_rules`] gives compiled inhibition rules.
//!
//! Alert path: [`dispatch::Dispatcher::put_alerts`] (API v2 or the rule
//! manager) → alert store → aggregation groups → on `group_wait` /
//! `group_interval`: inhibit → time mute → silence → per integration dedup
//! ([`nflog`]) → retry → [`notify::Notifier::notify`]; silences, the
//! notification log and alert history are written through
//! [`persist::AlertingStore`].

pub mod alert;
pub mod clock;
pub mod config;
pub mod dispatch;
pub mod duration;
pub mod error;
pub mod inhibit;
pub mod matcher;
pub mod metrics;
pub mod nflog;
pub mod notify;
pub mod notify_template;
pub mod persist;
pub mod persist_sql;
pub mod receivers;
pub mod route;
pub mod secret;
pub mod silence;
pub mod timeinterval;

pub use config::{Config, InhibitRule, Receiver, RouteConfig};
pub use duration::PromDuration;
pub use error::{ConfigError, DurationError, MatcherError, TimeIntervalError, ValidationError};
pub use matcher::{parse_matcher, parse_matchers, LabelSet, MatchType, Matcher, Matchers};
pub use route::{Route, RouteOpts};
pub use secret::Secret;
pub use timeinterval::{Intervener, TimeInterval};
