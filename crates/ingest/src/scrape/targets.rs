//! Turning discovered target groups into scrape targets, with Prometheus's label rules.

use super::config::{FileSdConfig, PromDuration, ScrapeConfig};
use crate::relabel::{
    drop_meta_and_tmp, drop_meta_labels, process, scrape_params, ADDRESS_LABEL, METRICS_PATH_LABEL,
    PARAM_LABEL_PREFIX, SCHEME_LABEL, SCRAPE_INTERVAL_LABEL, SCRAPE_TIMEOUT_LABEL,
};
use pharos_model::Labels;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The label file_sd sets to the file a group came from.
pub const FILEPATH_META_LABEL: &str = "__meta_filepath";

/// Targets sharing labels, as static_configs and file_sd files write them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A target that will be scraped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Labels before relabeling (including `__meta_*`), for a targets API.
    pub discovered: Labels,
    /// The labels attached to every sample: no `__` labels, `instance` set.
    pub labels: Labels,
    /// The full scrape URL with query parameters.
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
}

/// A discovered target that relabeling (or an invalid result) removed. `reason` is
/// `None` when a rule dropped it and the error otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedTarget {
    pub discovered: Labels,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetSet {
    pub active: Vec<Target>,
    /// At most `keep_dropped_targets` of them when that is set.
    pub dropped: Vec<DroppedTarget>,
    /// Every dropped target, kept in the list or not.
    pub dropped_count: usize,
}

/// Builds the targets of `groups` for `cfg`. Duplicate targets (same final labels and
/// URL) are kept once, as Prometheus deduplicates by target hash. With
/// `keep_dropped_targets` set, only that many dropped targets are kept for the API.
pub fn build_targets(cfg: &ScrapeConfig, groups: &[TargetGroup]) -> TargetSet {
    let mut out = TargetSet::default();
    let keep_dropped = match usize::try_from(cfg.keep_dropped_targets) {
        Ok(0) | Err(_) => usize::MAX,
        Ok(n) => n,
    };
    for g in groups {
        for addr in &g.targets {
            let discovered = discovered_labels(cfg, g, addr);
            let result = populate(cfg, &discovered);
            if !matches!(result, Ok(Some(_))) {
                out.dropped_count += 1;
                if out.dropped.len() >= keep_dropped {
                    continue;
                }
            }
            match result {
                Ok(Some(t)) => {
                    if !out
                        .active
                        .iter()
                        .any(|o| o.labels == t.labels && o.url == t.url)
                    {
                        out.active.push(t);
                    }
                }
                Ok(None) => out.dropped.push(DroppedTarget {
                    discovered,
                    reason: None,
                }),
                Err(e) => out.dropped.push(DroppedTarget {
                    discovered,
                    reason: Some(e),
                }),
            }
        }
    }
    out
}

/// The labels before relabeling: the group's labels, the address, then the config's
/// scrape labels wherever the group does not set them itself.
fn discovered_labels(cfg: &ScrapeConfig, g: &TargetGroup, addr: &str) -> Labels {
    let mut pairs: BTreeMap<String, String> = g.labels.clone();
    pairs.insert(ADDRESS_LABEL.into(), addr.into());
    let defaults = [
        ("job", cfg.job_name.clone()),
        (SCRAPE_INTERVAL_LABEL, cfg.scrape_interval.to_string()),
        (SCRAPE_TIMEOUT_LABEL, cfg.scrape_timeout.to_string()),
        (METRICS_PATH_LABEL, cfg.metrics_path.clone()),
        (SCHEME_LABEL, cfg.scheme.clone()),
    ];
    for (k, v) in defaults {
        pairs.entry(k.into()).or_insert(v);
    }
    for (name, values) in &cfg.params {
        if let Some(first) = values.first() {
            pairs
                .entry(format!("{PARAM_LABEL_PREFIX}{name}"))
                .or_insert_with(|| first.clone());
        }
    }
    Labels::from_pairs(pairs)
}

fn populate(cfg: &ScrapeConfig, discovered: &Labels) -> Result<Option<Target>, String> {
    let Some(relabeled) = process(discovered, &cfg.relabel_configs) else {
        return Ok(None);
    };
    let lset = drop_meta_labels(&relabeled);
    let address = lset.get(ADDRESS_LABEL).unwrap_or("");
    if address.is_empty() {
        return Err("no address".into());
    }
    if address.contains('/') || address.chars().any(char::is_whitespace) {
        return Err(format!("invalid address {address:?}"));
    }
    let get_dur = |name: &str, fallback: PromDuration| -> Result<Duration, String> {
        match lset.get(name) {
            Some(v) => PromDuration::parse(v)
                .map(|d| d.0)
                .map_err(|e| format!("error parsing {name} label: {e}")),
            None => Ok(fallback.0),
        }
    };
    let interval = get_dur(SCRAPE_INTERVAL_LABEL, cfg.scrape_interval)?;
    let timeout = get_dur(SCRAPE_TIMEOUT_LABEL, cfg.scrape_timeout)?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".into());
    }
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".into());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout {} greater than scrape interval {} for target {address:?}",
            PromDuration(timeout),
            PromDuration(interval)
        ));
    }
    let scheme = lset.get(SCHEME_LABEL).unwrap_or("http");
    let path = lset.get(METRICS_PATH_LABEL).unwrap_or("/metrics");
    let mut url = reqwest::Url::parse(&format!("{scheme}://{address}"))
        .map_err(|e| format!("invalid target URL {scheme}://{address}: {e}"))?;
    url.set_path(path);
    // Config params with `__param_*` overriding each name's first value, as Prometheus.
    let mut params = cfg.params.clone();
    for (name, value) in scrape_params(&lset) {
        let values = params.entry(name).or_default();
        match values.first_mut() {
            Some(first) => *first = value,
            None => values.push(value),
        }
    }
    if params.values().any(|v| !v.is_empty()) {
        let mut q = url.query_pairs_mut();
        for (name, values) in &params {
            for v in values {
                q.append_pair(name, v);
            }
        }
    }
    let mut public: Vec<(String, String)> = drop_meta_and_tmp(&lset)
        .iter()
        .filter(|l| !l.value.is_empty())
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    if !public.iter().any(|(n, _)| n == "instance") {
        public.push(("instance".into(), address.to_string()));
    }
    for (name, _) in &public {
        if !pharos_model::labels::is_valid_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
    }
    Ok(Some(Target {
        discovered: discovered.clone(),
        labels: Labels::from_pairs(public),
        url: url.to_string(),
        interval,
        timeout,
    }))
}

/// The target groups of a job's static_configs.
pub fn static_groups(cfg: &ScrapeConfig) -> Vec<TargetGroup> {
    cfg.static_configs
        .iter()
        .map(|s| TargetGroup {
            targets: s.targets.clone(),
            labels: s.labels.clone(),
        })
        .collect()
}

/// Reads every file matching a file_sd config's patterns. Each group gets
/// `__meta_filepath`. A file that cannot be read or parsed is reported in the error
/// list and contributes nothing, so one broken file does not hide the others.
pub fn read_file_sd(cfg: &FileSdConfig) -> (Vec<TargetGroup>, Vec<String>) {
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for pattern in &cfg.files {
        let paths = match glob::glob(pattern) {
            Ok(p) => p,
            Err(e) => {
                errors.push(format!("invalid file pattern {pattern:?}: {e}"));
                continue;
            }
        };
        for entry in paths {
            match entry {
                Ok(path) => match read_group_file(&path) {
                    Ok(gs) => groups.extend(gs),
                    Err(e) => errors.push(e),
                },
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    (groups, errors)
}

/// Parses one file_sd file (`.json`, or YAML for `.yml`/`.yaml`).
pub fn read_group_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("error reading {shown}: {e}"))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let mut groups: Vec<TargetGroup> = match ext {
        "json" => serde_json::from_str(&text).map_err(|e| format!("error parsing {shown}: {e}"))?,
        "yml" | "yaml" => {
            // An empty YAML file is an empty list, not an error.
            if text.trim().is_empty() {
                Vec::new()
            } else {
                serde_yaml::from_str(&text).map_err(|e| format!("error parsing {shown}: {e}"))?
            }
        }
        _ => return Err(format!("{shown}: unsupported file extension")),
    };
    for g in &mut groups {
        for name in g.labels.keys() {
            if !pharos_model::labels::is_valid_label_name(name) {
                return Err(format!("{shown}: invalid label name {name:?}"));
            }
        }
        g.labels.insert(
            FILEPATH_META_LABEL.into(),
            path.to_string_lossy().into_owned(),
        );
    }
    Ok(groups)
}
