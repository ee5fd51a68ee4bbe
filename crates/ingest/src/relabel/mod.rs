//! Prometheus relabeling: `relabel_configs` (targets) and `metric_relabel_configs`
//! (scraped samples) share one rule language, implemented here as a library for the
//! scrape manager.
//!
//! A rule is a [`RelabelConfig`], deserialized from prometheus.yml's YAML with the same
//! field names, defaults and validation errors; [`process`] applies a list of rules to
//! a label set and returns the new set, or `None` when a rule dropped it.
//!
//! ```
//! use pharos_ingest::relabel::{process, RelabelConfig};
//! use pharos_model::Labels;
//!
//! let rules: Vec<RelabelConfig> = serde_yaml::from_str(
//!     r#"
//! - source_labels: [__meta_kubernetes_pod_label_app]
//!   target_label: app
//! - source_labels: [app]
//!   regex: canary-.*
//!   action: drop
//! "#,
//! )
//! .unwrap();
//! let target = Labels::from_pairs([("__meta_kubernetes_pod_label_app", "web")]);
//! let out = process(&target, &rules).unwrap();
//! assert_eq!(out.get("app"), Some("web"));
//! ```
//!
//! # Defaults
//! `action: replace`, `separator: ";"`, `regex: (.*)`, `replacement: $1`, no source
//! labels, no target label, `modulus: 0`. Every regex is anchored at both ends, as
//! `^(?s:REGEX)$`, so `.` also matches newlines and `foo` means exactly `foo`.
//!
//! # Templates
//! `replacement` (and, for `replace`, `target_label`) may refer to the regex's groups
//! with Go's `regexp.Expand` rules: `$1`, `${1}`, `$name`, `${name}`, `$$` for a literal
//! dollar. A name runs as long as letters, digits and `_` continue, so `$1x` refers to
//! the (absent) group `1x` and expands to nothing: write `${1}x`.
//!
//! # Reserved label names
//! Names starting with `__` are internal ([`RESERVED_LABEL_PREFIX`]):
//! - [`ADDRESS_LABEL`] (`__address__`, `host:port` to scrape), [`SCHEME_LABEL`]
//!   (`__scheme__`), [`METRICS_PATH_LABEL`] (`__metrics_path__`),
//!   [`SCRAPE_INTERVAL_LABEL`] and [`SCRAPE_TIMEOUT_LABEL`] are set from the scrape
//!   config before target relabeling, so rules can read and override them;
//! - `__param_<name>` ([`PARAM_LABEL_PREFIX`]) sets the first value of URL parameter
//!   `<name>` (see [`scrape_params`]);
//! - `__meta_*` ([`META_LABEL_PREFIX`]) come from service discovery and are removed
//!   right after target relabeling ([`drop_meta_labels`]);
//! - `__tmp_*` ([`TMP_LABEL_PREFIX`]) is never set by Prometheus, so rules can use it
//!   for scratch values;
//! - every `__` label is left out of the labels the target's samples get
//!   ([`drop_meta_and_tmp`]).

mod config;
mod expand;
mod process;

#[cfg(test)]
mod tests;

pub use config::{
    Action, ConfigError, RelabelConfig, RelabelRegex, DEFAULT_REGEX, DEFAULT_REPLACEMENT,
    DEFAULT_SEPARATOR,
};
pub use process::process;

use pharos_model::{Label, Labels};

/// Prefix of every internal label name.
pub const RESERVED_LABEL_PREFIX: &str = "__";
/// The `host:port` to scrape.
pub const ADDRESS_LABEL: &str = "__address__";
/// `http` or `https`.
pub const SCHEME_LABEL: &str = "__scheme__";
/// The HTTP path to scrape.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// The scrape interval, as a Prometheus duration (`15s`).
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// The scrape timeout, as a Prometheus duration (`10s`).
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// `__param_<name>` carries URL query parameter `<name>`.
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// Service-discovery metadata.
pub const META_LABEL_PREFIX: &str = "__meta_";
/// Scratch labels for multi-step rules; Prometheus never sets them.
pub const TMP_LABEL_PREFIX: &str = "__tmp_";

/// Removes the `__meta_*` labels, as Prometheus does right after target relabeling.
///
/// The other `__` labels (`__address__`, `__scheme__`, `__metrics_path__`,
/// `__param_*`, `__tmp_*`, `__scrape_interval__`, …) stay: the target still needs them
/// to build its scrape URL. [`drop_meta_and_tmp`] removes those too.
pub fn drop_meta_labels(labels: &Labels) -> Labels {
    retain(labels, |l| !l.name.starts_with(META_LABEL_PREFIX))
}

/// The labels a target attaches to its samples: every label whose name starts with
/// `__` is removed — `__meta_*`, `__tmp_*`, `__address__`, `__scheme__`,
/// `__metrics_path__`, `__param_*`, `__scrape_interval__`, `__scrape_timeout__` and
/// any other, `__name__` included, since a target has no metric name.
///
/// Prometheus applies this when it hands out a target's public labels, after the scrape
/// URL has been built; so read [`scrape_params`] and the address, scheme and path
/// labels from the relabeled set first, then call this.
pub fn drop_meta_and_tmp(labels: &Labels) -> Labels {
    retain(labels, |l| !l.name.starts_with(RESERVED_LABEL_PREFIX))
}

/// The URL query parameters that `__param_<name>` labels set, as `(name, value)` in
/// label-name order. Each replaces the first value the scrape config's `params` gives
/// `<name>` (other values stay), or adds the parameter if the config has none.
/// A bare `__param_` label yields a parameter with an empty name, as in Prometheus.
pub fn scrape_params(labels: &Labels) -> Vec<(String, String)> {
    labels
        .iter()
        .filter_map(|l| {
            l.name
                .strip_prefix(PARAM_LABEL_PREFIX)
                .map(|name| (name.to_string(), l.value.clone()))
        })
        .collect()
}

fn retain(labels: &Labels, keep: impl Fn(&Label) -> bool) -> Labels {
    Labels::from_sorted(labels.iter().filter(|l| keep(l)).cloned().collect())
}
