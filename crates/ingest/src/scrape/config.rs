//! `scrape_configs` entries of prometheus.yml: field names, defaults and the checks
//! Prometheus applies when it loads a config.

use crate::relabel::RelabelConfig;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Prometheus's global defaults, used when a job does not set its own.
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_FILE_SD_REFRESH: Duration = Duration::from_secs(300);

/// A duration written in Prometheus's syntax (`1h30m`, `15s`, `500ms`, `0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub Duration);

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl PromDuration {
    /// Parses `[0-9]+(y|w|d|h|m|s|ms)` repeated with units in descending order, each
    /// at most once, or a bare `0`: what Prometheus's `model.ParseDuration` accepts.
    pub fn parse(s: &str) -> Result<PromDuration, String> {
        if s == "0" {
            return Ok(PromDuration(Duration::ZERO));
        }
        if s.is_empty() {
            return Err("empty duration string".into());
        }
        let bad = || format!("not a valid duration string: {s:?}");
        let b = s.as_bytes();
        let (mut pos, mut total, mut next) = (0usize, 0u64, 0usize);
        while pos < b.len() {
            let start = pos;
            while pos < b.len() && b[pos].is_ascii_digit() {
                pos += 1;
            }
            let n: u64 = s[start..pos].parse().map_err(|_| bad())?;
            let ustart = pos;
            while pos < b.len() && !b[pos].is_ascii_digit() {
                pos += 1;
            }
            let unit = &s[ustart..pos];
            let idx = UNITS
                .iter()
                .position(|(u, _)| *u == unit)
                .filter(|&i| i >= next)
                .ok_or_else(bad)?;
            next = idx + 1;
            total = n
                .checked_mul(UNITS[idx].1)
                .and_then(|ms| total.checked_add(ms))
                .ok_or_else(|| format!("duration out of range: {s:?}"))?;
        }
        Ok(PromDuration(Duration::from_millis(total)))
    }
}

impl fmt::Display for PromDuration {
    /// Prometheus's canonical form (`1m30s`, `0s`), which is what target labels such
    /// as `__scrape_interval__` carry.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in UNITS {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PromDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `body_size_limit`: bytes with an optional unit (`B`, `KB`, `MB`, `GB`, `TB`, `PB`,
/// `EB`, powers of 1024 as in Prometheus's `units.Base2Bytes`); 0 means no limit.
fn deserialize_byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => parse_byte_size(&s).map_err(serde::de::Error::custom),
    }
}

pub fn parse_byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid byte size {s:?}"))?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "KB" | "KIB" => 10,
        "MB" | "MIB" => 20,
        "GB" | "GIB" => 30,
        "TB" | "TIB" => 40,
        "PB" | "PIB" => 50,
        "EB" | "EIB" => 60,
        _ => return Err(format!("invalid byte size unit in {s:?}")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("byte size out of range: {s:?}"))
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    pub files: Vec<String>,
    #[serde(default = "default_refresh")]
    pub refresh_interval: PromDuration,
}

fn default_refresh() -> PromDuration {
    PromDuration(DEFAULT_FILE_SD_REFRESH)
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Defaults to `Bearer`, as in Prometheus.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub credentials: Option<String>,
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Lowest TLS version offered; `None` leaves the client's default (TLS 1.2).
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    /// Read only to refuse it with a clear message: the HTTP client cannot set the SNI
    /// name apart from the URL's host, and verifying the certificate against one name
    /// while announcing another would not be what Prometheus does.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// `tls_config.min_version`, spelled as Prometheus spells it. The TLS stack only speaks
/// TLS 1.2 and 1.3, so `TLS10` and `TLS11` allow the same connections as `TLS12`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

/// An exposition format offered in the `Accept` header (`scrape_protocols`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    OpenMetricsText1_0_0,
    OpenMetricsText0_0_1,
    PrometheusText1_0_0,
    PrometheusText0_0_4,
}

impl ScrapeProtocol {
    fn parse(s: &str) -> Result<ScrapeProtocol, String> {
        Ok(match s {
            "OpenMetricsText1.0.0" => ScrapeProtocol::OpenMetricsText1_0_0,
            "OpenMetricsText0.0.1" => ScrapeProtocol::OpenMetricsText0_0_1,
            "PrometheusText1.0.0" => ScrapeProtocol::PrometheusText1_0_0,
            "PrometheusText0.0.4" => ScrapeProtocol::PrometheusText0_0_4,
            "PrometheusProto" => {
                return Err(
                    "PrometheusProto is not supported by Pharos (it parses the text formats only)"
                        .into(),
                )
            }
            other => {
                return Err(format!(
                    "unknown scrape protocol {other:?}, supported: [OpenMetricsText0.0.1 \
                     OpenMetricsText1.0.0 PrometheusText0.0.4 PrometheusText1.0.0]"
                ))
            }
        })
    }

    /// The media type with its parameters; the 1.0.0 formats ask for underscore
    /// escaping because the parser does not read quoted UTF-8 names.
    pub fn media_type(self) -> &'static str {
        match self {
            ScrapeProtocol::OpenMetricsText1_0_0 => {
                "application/openmetrics-text;version=1.0.0;escaping=underscores"
            }
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::PrometheusText1_0_0 => "text/plain;version=1.0.0;escaping=underscores",
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
        }
    }
}

/// The `Accept` header for `protocols` in order of preference, weighted as Prometheus
/// weighs them, with `*/*` last (answered bodies of other types are read as text).
pub fn accept_header(protocols: &[ScrapeProtocol]) -> String {
    // Prometheus starts from one more than the number of protocols it knows (five).
    let mut weight = 6usize.max(protocols.len() + 1);
    let mut parts = Vec::with_capacity(protocols.len() + 1);
    for p in protocols {
        parts.push(format!("{};q=0.{weight}", p.media_type()));
        weight = weight.saturating_sub(1);
    }
    parts.push(format!("*/*;q=0.{weight}"));
    parts.join(",")
}

/// One `scrape_configs` entry, validated. Deserializing applies Prometheus's defaults
/// and checks, so a value of this type is always usable; errors name the job and the
/// field. `bearer_token(_file)` is folded into [`ScrapeConfig::authorization`] as
/// Prometheus does.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawScrapeConfig")]
pub struct ScrapeConfig {
    pub job_name: String,
    pub scrape_interval: PromDuration,
    pub scrape_timeout: PromDuration,
    pub metrics_path: String,
    pub scheme: String,
    pub params: BTreeMap<String, Vec<String>>,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// 0 means no limit.
    pub sample_limit: u64,
    /// 0 means no limit.
    pub label_limit: u64,
    /// Bytes of (decompressed) body; 0 means no limit.
    pub body_size_limit: u64,
    pub enable_compression: bool,
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub tls_config: TlsConfig,
    /// `None`: no proxy. Checked to be an absolute URL.
    pub proxy_url: Option<String>,
    /// Comma-separated hosts, domains and CIDRs that bypass `proxy_url`.
    pub no_proxy: Option<String>,
    /// Use `HTTP(S)_PROXY`/`NO_PROXY` from the environment.
    pub proxy_from_environment: bool,
    pub follow_redirects: bool,
    /// Offer HTTP/2 over TLS (ALPN); plain-HTTP scrapes are always HTTP/1.1, as in Go.
    pub enable_http2: bool,
    /// A job whose relabeling yields more targets fails every scrape; 0 means no limit.
    pub target_limit: u64,
    /// Bytes; 0 means no limit.
    pub label_name_length_limit: u64,
    /// Bytes; 0 means no limit.
    pub label_value_length_limit: u64,
    /// Dropped targets kept for the targets API; 0 means all.
    pub keep_dropped_targets: u64,
    /// Formats offered, most preferred first; empty means the default `Accept` header.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// Staleness markers also for series exposed with explicit timestamps.
    pub track_timestamps_staleness: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScrapeConfig {
    job_name: String,
    #[serde(default)]
    scrape_interval: Option<PromDuration>,
    #[serde(default)]
    scrape_timeout: Option<PromDuration>,
    #[serde(default)]
    metrics_path: Option<String>,
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    honor_labels: bool,
    #[serde(default)]
    honor_timestamps: Option<bool>,
    #[serde(default)]
    static_configs: Vec<StaticConfig>,
    #[serde(default)]
    file_sd_configs: Vec<FileSdConfig>,
    #[serde(default)]
    relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    metric_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    sample_limit: u64,
    #[serde(default)]
    label_limit: u64,
    #[serde(default, deserialize_with = "deserialize_byte_size")]
    body_size_limit: u64,
    #[serde(default)]
    enable_compression: Option<bool>,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    authorization: Option<Authorization>,
    #[serde(default)]
    bearer_token: Option<String>,
    #[serde(default)]
    bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    tls_config: TlsConfig,
    #[serde(default)]
    proxy_url: Option<String>,
    #[serde(default)]
    no_proxy: Option<String>,
    #[serde(default)]
    proxy_from_environment: bool,
    #[serde(default)]
    follow_redirects: Option<bool>,
    #[serde(default)]
    enable_http2: Option<bool>,
    #[serde(default)]
    target_limit: u64,
    #[serde(default)]
    label_name_length_limit: u64,
    #[serde(default)]
    label_value_length_limit: u64,
    #[serde(default)]
    keep_dropped_targets: u64,
    #[serde(default)]
    scrape_protocols: Option<Vec<String>>,
    #[serde(default)]
    track_timestamps_staleness: bool,
}

/// A rejected scrape config; the message names the job and the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("scrape config for job {job:?}: {message}")]
pub struct ScrapeConfigError {
    pub job: String,
    pub message: String,
}

impl TryFrom<RawScrapeConfig> for ScrapeConfig {
    type Error = ScrapeConfigError;

    fn try_from(r: RawScrapeConfig) -> Result<Self, Self::Error> {
        let job = r.job_name.clone();
        let err = |message: String| ScrapeConfigError {
            job: job.clone(),
            message,
        };
        if r.job_name.is_empty() {
            return Err(err("job_name is empty".into()));
        }
        let interval = r
            .scrape_interval
            .unwrap_or(PromDuration(DEFAULT_SCRAPE_INTERVAL));
        if interval.0.is_zero() {
            return Err(err("scrape_interval must be greater than 0".into()));
        }
        // As in Prometheus: an unset timeout takes the global one, but never more than
        // the job's interval; an explicit one larger than the interval is an error.
        let timeout = match r.scrape_timeout {
            Some(t) => t,
            None => PromDuration(DEFAULT_SCRAPE_TIMEOUT.min(interval.0)),
        };
        if timeout.0.is_zero() {
            return Err(err("scrape_timeout must be greater than 0".into()));
        }
        if timeout > interval {
            return Err(err(format!(
                "scrape_timeout ({timeout}) is greater than scrape_interval ({interval})"
            )));
        }
        let scheme = r.scheme.unwrap_or_else(|| "http".into());
        if scheme != "http" && scheme != "https" {
            return Err(err(format!(
                "scheme {scheme:?} is not supported (http or https)"
            )));
        }
        let metrics_path = r.metrics_path.unwrap_or_else(|| "/metrics".into());
        if !metrics_path.starts_with('/') {
            return Err(err(format!(
                "metrics_path {metrics_path:?} must start with '/'"
            )));
        }
        for (i, sc) in r.static_configs.iter().enumerate() {
            for name in sc.labels.keys() {
                if !pharos_model::labels::is_valid_label_name(name) {
                    return Err(err(format!(
                        "static_configs[{i}].labels: {name:?} is not a valid label name"
                    )));
                }
            }
            for t in &sc.targets {
                if t.is_empty() || t.contains('/') {
                    return Err(err(format!(
                        "static_configs[{i}].targets: {t:?} is not a valid host:port"
                    )));
                }
            }
        }
        for (i, fc) in r.file_sd_configs.iter().enumerate() {
            for f in &fc.files {
                if !(f.ends_with(".json") || f.ends_with(".yml") || f.ends_with(".yaml")) {
                    return Err(err(format!(
                        "file_sd_configs[{i}].files: {f:?} must end in .json, .yml or .yaml"
                    )));
                }
            }
        }
        let bearer_set = r.bearer_token.is_some() || r.bearer_token_file.is_some();
        if r.bearer_token.is_some() && r.bearer_token_file.is_some() {
            return Err(err(
                "at most one of bearer_token & bearer_token_file must be configured".into(),
            ));
        }
        let auth_count = usize::from(r.basic_auth.is_some())
            + usize::from(r.authorization.is_some())
            + usize::from(bearer_set);
        if auth_count > 1 {
            return Err(err(
                "at most one of basic_auth, authorization and bearer_token(_file) must be configured"
                    .into(),
            ));
        }
        if let Some(b) = &r.basic_auth {
            if b.password.is_some() && b.password_file.is_some() {
                return Err(err(
                    "basic_auth: at most one of password & password_file must be configured".into(),
                ));
            }
        }
        let mut authorization = r.authorization;
        if let Some(a) = &authorization {
            if a.credentials.is_some() && a.credentials_file.is_some() {
                return Err(err(
                    "authorization: at most one of credentials & credentials_file must be configured"
                        .into(),
                ));
            }
            if a.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("basic"))
            {
                return Err(err(
                    "authorization: type Basic is not allowed, use basic_auth instead".into(),
                ));
            }
        }
        if bearer_set {
            authorization = Some(Authorization {
                kind: Some("Bearer".into()),
                credentials: r.bearer_token,
                credentials_file: r.bearer_token_file,
            });
        }
        if r.tls_config.cert_file.is_some() != r.tls_config.key_file.is_some() {
            return Err(err(
                "tls_config: cert_file and key_file must be configured together".into(),
            ));
        }
        if r.tls_config.server_name.is_some() {
            return Err(err(
                "tls_config: server_name is not supported by Pharos; scrape the target by \
                 the name its certificate carries (relabel __address__ or use a hosts entry)"
                    .into(),
            ));
        }
        let proxy_url = r.proxy_url.filter(|u| !u.is_empty());
        if let Some(u) = &proxy_url {
            reqwest::Url::parse(u).map_err(|e| err(format!("proxy_url {u:?}: {e}")))?;
        }
        let no_proxy = r.no_proxy.filter(|n| !n.is_empty());
        if r.proxy_from_environment && proxy_url.is_some() {
            return Err(err(
                "if proxy_from_environment is configured, proxy_url must not be configured".into(),
            ));
        }
        if r.proxy_from_environment && no_proxy.is_some() {
            return Err(err(
                "if proxy_from_environment is configured, no_proxy must not be configured".into(),
            ));
        }
        if proxy_url.is_none() && no_proxy.is_some() {
            return Err(err(
                "if no_proxy is configured, proxy_url must also be configured".into(),
            ));
        }
        let mut scrape_protocols = Vec::new();
        if let Some(names) = &r.scrape_protocols {
            if names.is_empty() {
                return Err(err("scrape_protocols cannot be empty".into()));
            }
            for name in names {
                let p = ScrapeProtocol::parse(name)
                    .map_err(|e| err(format!("scrape_protocols: {e}")))?;
                if scrape_protocols.contains(&p) {
                    return Err(err(format!(
                        "duplicated protocol in scrape_protocols, got {names:?}"
                    )));
                }
                scrape_protocols.push(p);
            }
        }
        Ok(ScrapeConfig {
            job_name: r.job_name,
            scrape_interval: interval,
            scrape_timeout: timeout,
            metrics_path,
            scheme,
            params: r.params,
            honor_labels: r.honor_labels,
            honor_timestamps: r.honor_timestamps.unwrap_or(true),
            static_configs: r.static_configs,
            file_sd_configs: r.file_sd_configs,
            relabel_configs: r.relabel_configs,
            metric_relabel_configs: r.metric_relabel_configs,
            sample_limit: r.sample_limit,
            label_limit: r.label_limit,
            body_size_limit: r.body_size_limit,
            enable_compression: r.enable_compression.unwrap_or(true),
            basic_auth: r.basic_auth,
            authorization,
            tls_config: r.tls_config,
            proxy_url,
            no_proxy,
            proxy_from_environment: r.proxy_from_environment,
            follow_redirects: r.follow_redirects.unwrap_or(true),
            enable_http2: r.enable_http2.unwrap_or(true),
            target_limit: r.target_limit,
            label_name_length_limit: r.label_name_length_limit,
            label_value_length_limit: r.label_value_length_limit,
            keep_dropped_targets: r.keep_dropped_targets,
            scrape_protocols,
            track_timestamps_staleness: r.track_timestamps_staleness,
        })
    }
}
