//! `pharos.yml`: the typed configuration, its defaults, loading with every error named by
//! file, line and field path, and the mapping onto the storage options.
//!
//! Loading has two passes. Parsing (serde) catches syntax, unknown fields and malformed
//! values; [`load::parse`] keeps going after an error so one run reports all of them.
//! Validation ([`validate`]) then checks what only makes sense across fields.

mod load;
pub mod units;
mod validate;

/// Where a dotted field is written, for errors found outside the loader (rule files).
pub(crate) use load::locate;
pub use load::{load_file, parse, ConfigError, ConfigErrors, LoadError};
pub use units::{ByteSize, PromDuration};

use pharos_ingest::scrape::ScrapeConfig;
use pharos_promql::EngineOptions;
use pharos_tsdb::{FsyncPolicy, Limits, Options};
use serde::{Deserialize, Deserializer};

/// Lets a section be written with no body (`storage:`), which YAML reads as null.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    #[serde(deserialize_with = "null_as_default")]
    pub storage: StorageConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub server: ServerConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub query: QueryConfig,
    /// Jobs to scrape, with prometheus.yml's `scrape_configs` shape.
    #[serde(deserialize_with = "null_as_default")]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Adds a job `pharos` scraping this server's own `/metrics`, so a fresh server has
    /// data to query without any other configuration.
    pub self_scrape: bool,
    /// prometheus.yml's `global` section: rule evaluation defaults and external labels.
    #[serde(deserialize_with = "null_as_default")]
    pub global: GlobalConfig,
    /// Prometheus rule files to evaluate: paths or globs, relative ones resolved
    /// against the config file's directory, as Prometheus resolves them.
    #[serde(deserialize_with = "null_as_default")]
    pub rule_files: Vec<String>,
    /// Rule evaluation settings, the counterparts of Prometheus's `--rules.*` flags.
    #[serde(deserialize_with = "null_as_default")]
    pub rules: RulesConfig,
    /// An alertmanager.yml, inline: routing, receivers, inhibition and time intervals
    /// for alerts from the rules and from `POST /api/v2/alerts`. Kept as YAML here and
    /// validated by `pharos-alerting`, so it accepts exactly what alertmanager.yml does.
    pub alertmanager: Option<serde_yaml::Value>,
    /// The same, from a standalone alertmanager.yml (relative to this file's directory).
    pub alertmanager_config_file: Option<String>,
    /// Service level objectives in Pharos's SLO shape (see `pharos-slo`), validated
    /// by that crate so the config and spec files accept the same thing.
    pub slos: Option<serde_yaml::Value>,
    /// SLO spec files (Sloth `prometheus/v1`, OpenSLO v1 or Pharos's shape): paths
    /// or globs, relative ones resolved against this file's directory.
    #[serde(deserialize_with = "null_as_default")]
    pub slo_files: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            storage: StorageConfig::default(),
            server: ServerConfig::default(),
            query: QueryConfig::default(),
            scrape_configs: Vec::new(),
            self_scrape: true,
            global: GlobalConfig::default(),
            rule_files: Vec::new(),
            rules: RulesConfig::default(),
            alertmanager: None,
            alertmanager_config_file: None,
            slos: None,
            slo_files: Vec::new(),
        }
    }
}

/// The parts of prometheus.yml's `global` section that Pharos uses. Scrape defaults
/// are not among them: each job sets its own, so `scrape_interval` here is refused
/// rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    /// How often rule groups without an `interval` of their own are evaluated.
    pub evaluation_interval: PromDuration,
    /// How far back rule groups without a `query_offset` of their own query.
    pub rule_query_offset: PromDuration,
    /// Labels alert templates see as `$externalLabels`, and that are attached to alerts
    /// sent on.
    #[serde(deserialize_with = "null_as_default")]
    pub external_labels: std::collections::BTreeMap<String, String>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            evaluation_interval: PromDuration::from_secs(60),
            rule_query_offset: PromDuration::ZERO,
            external_labels: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    #[serde(deserialize_with = "null_as_default")]
    pub alert: AlertRulesConfig,
}

/// Prometheus's `--rules.alert.*` flags, with their defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertRulesConfig {
    /// Longest down time after which alerts' `for` state is still restored.
    pub for_outage_tolerance: PromDuration,
    /// Least time a restored alert waits before firing; alerts whose `for` is shorter
    /// are not restored at all.
    pub for_grace_period: PromDuration,
    /// Least time between two sends of the same firing alert.
    pub resend_delay: PromDuration,
}

impl Default for AlertRulesConfig {
    fn default() -> Self {
        AlertRulesConfig {
            for_outage_tolerance: PromDuration::from_secs(3600),
            for_grace_period: PromDuration::from_secs(600),
            resend_delay: PromDuration::from_secs(60),
        }
    }
}

/// The job name `self_scrape` uses; a configured job may not take it while it is on.
pub const SELF_SCRAPE_JOB: &str = "pharos";

/// PromQL evaluation limits, the counterparts of Prometheus's `--query.*` flags.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// How far back an instant selector looks for a sample.
    pub lookback_delta: PromDuration,
    /// Samples one query may hold in memory at once.
    pub max_samples: usize,
    /// Longest evaluation; a request's `timeout` parameter can only shorten it.
    pub timeout: PromDuration,
    /// Queries evaluated at once; more wait for a slot within their timeout.
    pub max_concurrency: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        let o = EngineOptions::default();
        QueryConfig {
            lookback_delta: ms_duration(o.lookback_delta_ms),
            max_samples: o.max_samples,
            timeout: PromDuration::from_millis(o.timeout.as_millis() as u64),
            max_concurrency: o.max_concurrent,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    #[serde(deserialize_with = "null_as_default")]
    pub tsdb: TsdbConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TsdbConfig {
    pub retention: PromDuration,
    /// 0 disables size-based retention.
    pub retention_size: ByteSize,
    pub block_span: PromDuration,
    pub out_of_order_window: PromDuration,
    pub max_exemplars_per_series: usize,
    #[serde(deserialize_with = "null_as_default")]
    pub wal: WalConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub limits: LimitsConfig,
}

impl Default for TsdbConfig {
    fn default() -> Self {
        let o = Options::default();
        TsdbConfig {
            retention: ms_duration(o.retention_ms),
            retention_size: ByteSize(o.retention_bytes),
            block_span: ms_duration(o.block_span_ms),
            out_of_order_window: ms_duration(o.ooo_window_ms),
            max_exemplars_per_series: o.max_exemplars_per_series,
            wal: WalConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

fn ms_duration(ms: i64) -> PromDuration {
    PromDuration::from_millis(ms.max(0) as u64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    Always,
    Interval,
    Never,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    pub segment_size: ByteSize,
    pub fsync: FsyncMode,
    /// Only used with `fsync: interval`.
    pub fsync_interval: PromDuration,
}

impl Default for WalConfig {
    fn default() -> Self {
        let o = Options::default();
        let (fsync, interval) = match o.fsync {
            FsyncPolicy::Always => (FsyncMode::Always, PromDuration::from_secs(1)),
            FsyncPolicy::Interval(d) => (
                FsyncMode::Interval,
                PromDuration::from_millis(d.as_millis() as u64),
            ),
            FsyncPolicy::Never => (FsyncMode::Never, PromDuration::from_secs(1)),
        };
        WalConfig {
            segment_size: ByteSize(o.wal_segment_bytes),
            fsync,
            fsync_interval: interval,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// 0 means unlimited.
    pub max_series: usize,
    /// 0 means unlimited.
    pub max_series_per_metric: usize,
    pub max_labels_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        LimitsConfig {
            max_series: l.max_series,
            max_series_per_metric: l.max_series_per_metric,
            max_labels_per_series: l.max_labels_per_series,
            max_label_name_length: l.max_label_name_length,
            max_label_value_length: l.max_label_value_length,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Largest remote_write body accepted, as sent (compressed).
    pub max_request_bytes: ByteSize,
    /// Write requests processed at once; more are answered 429. Unset: twice the CPUs.
    pub max_inflight_writes: Option<usize>,
    /// Time a client gets to send a write request's body.
    pub write_timeout: PromDuration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_request_bytes: ByteSize(32 << 20),
            max_inflight_writes: None,
            write_timeout: PromDuration::from_secs(30),
        }
    }
}

impl ServerConfig {
    pub fn inflight_writes(&self) -> usize {
        self.max_inflight_writes.unwrap_or_else(|| {
            // Appends are CPU-bound on the blocking pool; a couple per core keeps the cores
            // busy while one request waits on the WAL, without queueing unbounded memory.
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            (2 * cpus).max(2)
        })
    }
}

impl Config {
    /// The query engine options this configuration asks for.
    pub fn engine_options(&self) -> EngineOptions {
        let q = &self.query;
        EngineOptions {
            lookback_delta_ms: q.lookback_delta.as_millis_i64(),
            max_samples: q.max_samples,
            timeout: q.timeout.to_std(),
            max_concurrent: q.max_concurrency,
            ..EngineOptions::default()
        }
    }

    /// The storage options this configuration asks for.
    pub fn tsdb_options(&self) -> Options {
        let t = &self.storage.tsdb;
        let fsync = match t.wal.fsync {
            FsyncMode::Always => FsyncPolicy::Always,
            FsyncMode::Interval => FsyncPolicy::Interval(t.wal.fsync_interval.to_std()),
            FsyncMode::Never => FsyncPolicy::Never,
        };
        Options {
            retention_ms: t.retention.as_millis_i64(),
            retention_bytes: t.retention_size.0,
            block_span_ms: t.block_span.as_millis_i64(),
            ooo_window_ms: t.out_of_order_window.as_millis_i64(),
            wal_segment_bytes: t.wal.segment_size.0,
            fsync,
            limits: Limits {
                max_series: t.limits.max_series,
                max_series_per_metric: t.limits.max_series_per_metric,
                max_labels_per_series: t.limits.max_labels_per_series,
                max_label_name_length: t.limits.max_label_name_length,
                max_label_value_length: t.limits.max_label_value_length,
            },
            max_exemplars_per_series: t.max_exemplars_per_series,
            background_maintenance: true,
            ..Options::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_map_to_storage_defaults() {
        let o = Config::default().tsdb_options();
        let d = Options::default();
        assert_eq!(o.retention_ms, d.retention_ms);
        assert_eq!(o.retention_bytes, d.retention_bytes);
        assert_eq!(o.block_span_ms, d.block_span_ms);
        assert_eq!(o.ooo_window_ms, d.ooo_window_ms);
        assert_eq!(o.wal_segment_bytes, d.wal_segment_bytes);
        assert_eq!(o.fsync, d.fsync);
        assert_eq!(o.limits, d.limits);
        let e = Config::default().engine_options();
        let de = EngineOptions::default();
        assert_eq!(e.lookback_delta_ms, de.lookback_delta_ms);
        assert_eq!(e.max_samples, de.max_samples);
        assert_eq!(e.timeout, de.timeout);
        assert_eq!(e.max_concurrent, de.max_concurrent);
    }

    #[test]
    fn query_section_maps_to_engine_options() {
        let c = parse(
            "p.yml",
            "query:\n  lookback_delta: 1m\n  max_samples: 1000\n  timeout: 30s\n  max_concurrency: 4\n",
        )
        .unwrap();
        let e = c.engine_options();
        assert_eq!(e.lookback_delta_ms, 60_000);
        assert_eq!(e.max_samples, 1000);
        assert_eq!(e.timeout, std::time::Duration::from_secs(30));
        assert_eq!(e.max_concurrent, 4);
        assert_eq!(QueryConfig::default().timeout.to_string(), "2m");
        assert_eq!(QueryConfig::default().lookback_delta.to_string(), "5m");
    }

    #[test]
    fn full_config_maps() {
        let text = "\
storage:
  tsdb:
    retention: 30d
    retention_size: 10GB
    block_span: 1h
    out_of_order_window: 5m
    max_exemplars_per_series: 3
    wal:
      segment_size: 64MB
      fsync: always
    limits:
      max_series: 5
      max_series_per_metric: 2
server:
  max_request_bytes: 1MB
  max_inflight_writes: 3
  write_timeout: 10s
";
        let c = parse("pharos.yml", text).unwrap();
        let o = c.tsdb_options();
        assert_eq!(o.retention_ms, 30 * pharos_tsdb::DAY_MS);
        assert_eq!(o.retention_bytes, 10 << 30);
        assert_eq!(o.block_span_ms, pharos_tsdb::HOUR_MS);
        assert_eq!(o.ooo_window_ms, 5 * pharos_tsdb::MINUTE_MS);
        assert_eq!(o.max_exemplars_per_series, 3);
        assert_eq!(o.wal_segment_bytes, 64 << 20);
        assert_eq!(o.fsync, FsyncPolicy::Always);
        assert_eq!(o.limits.max_series, 5);
        assert_eq!(o.limits.max_series_per_metric, 2);
        assert_eq!(
            o.limits.max_labels_per_series,
            Limits::default().max_labels_per_series
        );
        assert_eq!(c.server.max_request_bytes, ByteSize(1 << 20));
        assert_eq!(c.server.inflight_writes(), 3);
        assert_eq!(c.server.write_timeout, PromDuration::from_secs(10));
    }

    #[test]
    fn empty_and_null_sections_are_defaults() {
        assert_eq!(parse("p.yml", "").unwrap(), Config::default());
        assert_eq!(parse("p.yml", "# nothing\n").unwrap(), Config::default());
        assert_eq!(
            parse("p.yml", "storage:\n  tsdb:\nserver:\nquery:\n").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn scrape_configs_parse_and_self_scrape_defaults_on() {
        let c = parse(
            "p.yml",
            "scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['a:9100']\n",
        )
        .unwrap();
        assert!(c.self_scrape);
        assert_eq!(c.scrape_configs.len(), 1);
        assert_eq!(c.scrape_configs[0].job_name, "node");
        let c = parse("p.yml", "self_scrape: false\nscrape_configs:\n").unwrap();
        assert!(!c.self_scrape);
        assert!(c.scrape_configs.is_empty());
    }

    #[test]
    fn scrape_config_errors_name_file_line_and_field() {
        let text = "scrape_configs:\n  - job_name: a\n  - job_name: a\n";
        let err = parse("p.yml", text).unwrap_err().to_string();
        assert!(err.starts_with("p.yml:1:1: scrape_configs: "), "{err}");
        assert!(
            err.contains("multiple scrape configs with job name \"a\""),
            "{err}"
        );
        let err = parse("p.yml", "scrape_configs:\n  - job_name: pharos\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("self_scrape"), "{err}");
        assert!(parse(
            "p.yml",
            "self_scrape: false\nscrape_configs:\n  - job_name: pharos\n"
        )
        .is_ok());
        let err = parse(
            "p.yml",
            "scrape_configs:\n  - job_name: x\n    scrape_interval: 1s\n    scrape_timeout: 5s\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("p.yml:2:"), "{err}");
        assert!(err.contains("scrape_configs"), "{err}");
    }
}
