//! The scrape core, following Prometheus's scrape behaviour.
//!
//! - [`config`]: `scrape_configs` entries with prometheus.yml's names, defaults and checks;
//! - [`targets`]: target groups (static_configs, file_sd files) to targets, with target
//!   relabeling and Prometheus's label rules; dropped targets are kept for a targets API;
//! - [`scrape`]: one scrape of a target, producing its samples, the report series
//!   (`up`, `scrape_duration_seconds`, …) and staleness markers;
//! - `cache`: the per-target series cache that makes repeated series cheap;
//! - [`metadata`]: the TYPE/HELP/UNIT lines of each target's recent scrapes;
//! - [`manager`]: one tokio task per target, with health state and reconfiguration.

mod cache;
pub mod config;
pub mod manager;
pub mod metadata;
#[allow(clippy::module_inception)]
pub mod scrape;
pub mod targets;

#[cfg(test)]
mod field_tests;
#[cfg(test)]
mod tests;

pub use config::{PromDuration, ScrapeConfig, ScrapeConfigError, ScrapeProtocol, TlsVersion};
pub use manager::{
    Health, ScrapeManager, Sink, TargetHealth, TargetKey, TargetShared, TargetStatus,
};
pub use metadata::{MetricMetadata, TargetMetadata};
pub use scrape::{
    build_client, ScrapeBatch, ScrapeOutcome, ScraperState, TargetScraper, REPORT_SERIES,
};
pub use targets::{
    build_targets, read_file_sd, static_groups, DroppedTarget, Target, TargetGroup, TargetSet,
};
