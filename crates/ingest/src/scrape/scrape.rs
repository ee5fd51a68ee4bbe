//! One scrape of one target: fetch, parse, label, limit, report and staleness.

use super::config::{accept_header, ScrapeConfig, TlsVersion};
use super::metadata::{MetadataLine, TargetMetadata};
use super::targets::Target;
use crate::exposition::{
    decode_body, format_from_content_type, Entry, Format, Parser, ACCEPT_ENCODING_HEADER,
    ACCEPT_HEADER,
};
use crate::relabel::process;
use pharos_model::{LabelRef, Labels, Sample, WriteBatch, METRIC_NAME, STALE_NAN};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Series and samples a scrape produced, owned so it can cross task boundaries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScrapeBatch {
    pub series: Vec<(Labels, Vec<Sample>)>,
}

impl ScrapeBatch {
    /// Borrows the batch as the write-side type storage accepts.
    pub fn as_write_batch(&self) -> WriteBatch<'_> {
        let mut wb = WriteBatch::default();
        let mut refs = Vec::new();
        for (labels, samples) in &self.series {
            refs.clear();
            refs.extend(labels.iter().map(|l| LabelRef {
                name: &l.name,
                value: &l.value,
            }));
            wb.push_series(&refs, samples);
        }
        wb
    }

    /// The single sample of the series named `name`, for report series and tests.
    pub fn value_of(&self, name: &str) -> Option<f64> {
        self.series
            .iter()
            .find(|(l, _)| l.metric_name() == Some(name))
            .and_then(|(_, s)| s.first())
            .map(|s| s.v)
    }
}

/// What a scrape yields: the batch for storage and the health for a targets API.
#[derive(Clone, Debug)]
pub struct ScrapeOutcome {
    pub batch: ScrapeBatch,
    /// `None` when the scrape succeeded.
    pub error: Option<String>,
    /// Milliseconds since the epoch when the scrape started.
    pub start_ms: i64,
    pub duration: Duration,
}

/// The names of the series Prometheus adds for every scrape.
pub const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Scrapes one target repeatedly, remembering the previous scrape's series so that
/// series which disappear get staleness markers.
pub struct TargetScraper {
    client: reqwest::Client,
    config: std::sync::Arc<ScrapeConfig>,
    target: Target,
    accept: String,
    state: ScraperState,
    metadata: Arc<Mutex<TargetMetadata>>,
}

/// What a scraper remembers between scrapes. A reconfigured target hands it to its
/// successor, so series that outlive the change get no staleness markers and series
/// the change removes get theirs on the next scrape.
#[derive(Debug, Default)]
pub struct ScraperState {
    /// Series of the previous successful scrape that had no explicit timestamp (those
    /// with one are left alone unless `track_timestamps_staleness` is set, as in
    /// Prometheus).
    previous: HashSet<Labels>,
    /// Every series of the last successful scrape, for `scrape_series_added`.
    seen: HashSet<Labels>,
}

/// The body as fetched and the format to parse it with, or the error text.
type Fetched = Result<(Vec<u8>, Format), String>;

impl TargetScraper {
    pub fn new(
        client: reqwest::Client,
        config: std::sync::Arc<ScrapeConfig>,
        target: Target,
    ) -> Self {
        Self::with_state(
            client,
            config,
            target,
            ScraperState::default(),
            Arc::default(),
        )
    }

    /// A scraper that continues from a predecessor's state and metadata.
    pub fn with_state(
        client: reqwest::Client,
        config: std::sync::Arc<ScrapeConfig>,
        target: Target,
        state: ScraperState,
        metadata: Arc<Mutex<TargetMetadata>>,
    ) -> Self {
        let accept = if config.scrape_protocols.is_empty() {
            ACCEPT_HEADER.to_owned()
        } else {
            accept_header(&config.scrape_protocols)
        };
        TargetScraper {
            client,
            config,
            target,
            accept,
            state,
            metadata,
        }
    }

    /// Gives up the scraper, keeping what a successor needs.
    pub fn into_state(self) -> ScraperState {
        self.state
    }

    /// The metadata of this target's recent scrapes.
    pub fn metadata(&self) -> Arc<Mutex<TargetMetadata>> {
        self.metadata.clone()
    }

    /// Records a scrape that failed without fetching (a job over its `target_limit`):
    /// `up` is 0 and the previous scrape's series get staleness markers.
    pub fn fail(&mut self, error: String) -> ScrapeOutcome {
        self.process(Err(error), now_ms(), Duration::ZERO)
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Scrapes once now.
    pub async fn scrape(&mut self) -> ScrapeOutcome {
        let start_ms = now_ms();
        let started = Instant::now();
        let fetched = self.fetch().await;
        let duration = started.elapsed();
        self.process(fetched, start_ms, duration)
    }

    /// Staleness markers for every series of the last scrape and the report series:
    /// what a target that goes away leaves behind.
    pub fn stop(&mut self, t_ms: i64) -> ScrapeBatch {
        let mut series: Vec<(Labels, Vec<Sample>)> = self
            .state
            .previous
            .drain()
            .map(|l| {
                (
                    l,
                    vec![Sample {
                        t: t_ms,
                        v: STALE_NAN,
                    }],
                )
            })
            .collect();
        for name in REPORT_SERIES {
            series.push((
                with_name(&self.target.labels, name),
                vec![Sample {
                    t: t_ms,
                    v: STALE_NAN,
                }],
            ));
        }
        ScrapeBatch { series }
    }

    async fn fetch(&self) -> Fetched {
        let timeout = self.target.timeout;
        let url = &self.target.url;
        match tokio::time::timeout(timeout, self.fetch_inner()).await {
            Ok(r) => r.map_err(|e| format!("Get {url:?}: {e}")),
            Err(_) => Err(format!(
                "Get {url:?}: context deadline exceeded (timeout {})",
                super::config::PromDuration(timeout)
            )),
        }
    }

    async fn fetch_inner(&self) -> Result<(Vec<u8>, Format), String> {
        let cfg = &*self.config;
        let mut req = self
            .client
            .get(&self.target.url)
            .header("Accept", self.accept.as_str())
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", self.target.timeout.as_secs_f64()),
            );
        req = req.header(
            "Accept-Encoding",
            if cfg.enable_compression {
                ACCEPT_ENCODING_HEADER
            } else {
                "identity"
            },
        );
        if let Some(b) = &cfg.basic_auth {
            let password = match (&b.password, &b.password_file) {
                (_, Some(f)) => Some(read_secret(f)?),
                (p, None) => p.clone(),
            };
            req = req.basic_auth(&b.username, password);
        }
        if let Some(a) = &cfg.authorization {
            let creds = match (&a.credentials, &a.credentials_file) {
                (_, Some(f)) => read_secret(f)?,
                (c, None) => c.clone().unwrap_or_default(),
            };
            let kind = a.kind.as_deref().unwrap_or("Bearer");
            req = req.header("Authorization", format!("{kind} {creds}"));
        }
        let mut resp = req.send().await.map_err(describe_reqwest)?;
        let status = resp.status();
        if status != reqwest::StatusCode::OK {
            return Err(format!(
                "server returned HTTP status {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string());
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let encoding = header("content-encoding");
        let limit = match usize::try_from(cfg.body_size_limit) {
            Ok(0) | Err(_) => usize::MAX,
            Ok(n) => n,
        };
        // The limit is applied while reading, so an endless body cannot exhaust memory;
        // for gzip it applies to the compressed bytes here and to the inflated ones below.
        let mut raw = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(describe_reqwest)? {
            if raw.len().saturating_add(chunk.len()) > limit {
                return Err("body size limit exceeded".into());
            }
            raw.extend_from_slice(&chunk);
        }
        let body = decode_body(&raw, encoding.as_deref(), limit).map_err(|e| match e {
            crate::exposition::BodyError::TooLarge { .. }
            | crate::exposition::BodyError::DecompressedTooLarge { .. } => {
                "body size limit exceeded".to_string()
            }
            other => other.to_string(),
        })?;
        Ok((body.into_owned(), format_from_content_type(&content_type)))
    }

    /// Turns a fetch result into the batch. Separate from the HTTP side so the label,
    /// limit and staleness rules can be tested on plain bytes.
    pub fn process(
        &mut self,
        fetched: Fetched,
        start_ms: i64,
        duration: Duration,
    ) -> ScrapeOutcome {
        let result = fetched.and_then(|(body, format)| self.samples(&body, format, start_ms));
        let mut batch = ScrapeBatch::default();
        let (up, scraped, post, added, error, current) = match result {
            Ok(s) => {
                let added = s
                    .series
                    .iter()
                    .filter(|(l, _)| !self.state.seen.contains(l))
                    .count();
                self.state.seen = s.series.iter().map(|(l, _)| l.clone()).collect();
                batch.series = s.series;
                (1.0, s.scraped, batch.series.len(), added, None, s.tracked)
            }
            Err(e) => (0.0, 0, 0, 0, Some(e), HashSet::new()),
        };
        // Every series of the last scrape that this one lacks gets a staleness marker,
        // so queries stop returning it at once instead of after the lookback window.
        for gone in self.state.previous.difference(&current) {
            batch.series.push((
                gone.clone(),
                vec![Sample {
                    t: start_ms,
                    v: STALE_NAN,
                }],
            ));
        }
        self.state.previous = current;
        let report = [
            ("up", up),
            ("scrape_duration_seconds", duration.as_secs_f64()),
            ("scrape_samples_scraped", scraped as f64),
            ("scrape_samples_post_metric_relabeling", post as f64),
            ("scrape_series_added", added as f64),
        ];
        for (name, v) in report {
            batch.series.push((
                with_name(&self.target.labels, name),
                vec![Sample { t: start_ms, v }],
            ));
        }
        ScrapeOutcome {
            batch,
            error,
            start_ms,
            duration,
        }
    }

    fn samples(&self, body: &[u8], format: Format, start_ms: i64) -> Result<Samples, String> {
        let cfg = &*self.config;
        let mut out = Samples::default();
        let mut seen: HashSet<Labels> = HashSet::new();
        let mut meta: Vec<(&str, MetadataLine<'_>)> = Vec::new();
        let mut helps: Vec<(&str, crate::exposition::Escaped<'_>)> = Vec::new();
        for entry in Parser::new(body, format) {
            let entry = entry.map_err(|e| format!("parse error: {e}"))?;
            let s = match entry {
                Entry::Sample(s) => s,
                Entry::Type { family, kind } => {
                    meta.push((family, MetadataLine::Type(kind)));
                    continue;
                }
                Entry::Unit { family, unit } => {
                    meta.push((family, MetadataLine::Unit(unit)));
                    continue;
                }
                Entry::Help { family, text } => {
                    helps.push((family, text));
                    continue;
                }
                Entry::Eof => continue,
            };
            // `_created` samples are not stored by default in Prometheus either.
            if s.created {
                continue;
            }
            out.scraped += 1;
            let explicit_ts = cfg.honor_timestamps && s.timestamp_ms.is_some();
            let t = if cfg.honor_timestamps {
                s.timestamp_ms.unwrap_or(start_ms)
            } else {
                start_ms
            };
            let labels = merge_target_labels(&s.to_labels(), &self.target.labels, cfg.honor_labels);
            let Some(labels) = process(&labels, &cfg.metric_relabel_configs) else {
                continue;
            };
            let labels = drop_empty(labels);
            if labels.metric_name().is_none_or(str::is_empty) {
                continue;
            }
            check_label_limits(cfg, &labels)?;
            // A repeated series in one body keeps its first sample, as Prometheus
            // rejects the duplicate rather than failing the scrape.
            if !seen.insert(labels.clone()) {
                continue;
            }
            if cfg.sample_limit > 0 && out.series.len() as u64 >= cfg.sample_limit {
                return Err("sample limit exceeded".into());
            }
            if !explicit_ts || cfg.track_timestamps_staleness {
                out.tracked.insert(labels.clone());
            }
            out.series.push((labels, vec![Sample { t, v: s.value }]));
        }
        let help_texts: Vec<std::borrow::Cow<'_, str>> =
            helps.iter().map(|(_, text)| text.unescape()).collect();
        meta.extend(
            helps
                .iter()
                .zip(&help_texts)
                .map(|((family, _), text)| (*family, MetadataLine::Help(text))),
        );
        self.metadata
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(meta);
        Ok(out)
    }
}

/// `label_limit`, `label_name_length_limit` and `label_value_length_limit`, worded as
/// Prometheus words them (names and values cut at 50 characters).
fn check_label_limits(cfg: &ScrapeConfig, labels: &Labels) -> Result<(), String> {
    let metric = labels.metric_name().unwrap_or("");
    let cut = |s: &str| -> String { s.chars().take(50).collect() };
    if cfg.label_limit > 0 && labels.len() as u64 > cfg.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
            cut(metric),
            labels.len(),
            cfg.label_limit
        ));
    }
    let (names, values) = (cfg.label_name_length_limit, cfg.label_value_length_limit);
    if names == 0 && values == 0 {
        return Ok(());
    }
    for l in labels.iter() {
        if names > 0 && l.name.len() as u64 > names {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {names})",
                cut(metric),
                cut(&l.name),
                l.name.len()
            ));
        }
        if values > 0 && l.value.len() as u64 > values {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {}, label name: {}, value: {:?}, length: {}, limit: {values})",
                cut(metric),
                cut(&l.name),
                cut(&l.value),
                l.value.len()
            ));
        }
    }
    Ok(())
}

#[derive(Default)]
struct Samples {
    series: Vec<(Labels, Vec<Sample>)>,
    scraped: usize,
    tracked: HashSet<Labels>,
}

/// Adds the target's labels to a scraped series. With `honor_labels` the scraped
/// values win; otherwise the target's win and a clashing scraped label is kept as
/// `exported_<name>` (prefixed again until the name is free), as in Prometheus.
pub fn merge_target_labels(scraped: &Labels, target: &Labels, honor_labels: bool) -> Labels {
    let mut pairs: Vec<(String, String)> = scraped
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    for tl in target.iter() {
        let existing = pairs.iter().position(|(n, _)| *n == tl.name);
        match existing {
            Some(i) if !pairs[i].1.is_empty() => {
                if honor_labels {
                    continue;
                }
                let value = pairs[i].1.clone();
                let mut name = format!("exported_{}", tl.name);
                while pairs.iter().any(|(n, v)| *n == name && !v.is_empty()) {
                    name = format!("exported_{name}");
                }
                pairs.retain(|(n, _)| *n != name);
                pairs.push((name, value));
                if let Some(p) = pairs.iter_mut().find(|(n, _)| *n == tl.name) {
                    p.1 = tl.value.clone();
                }
            }
            Some(i) => pairs[i].1 = tl.value.clone(),
            None => pairs.push((tl.name.clone(), tl.value.clone())),
        }
    }
    drop_empty(Labels::from_pairs(pairs))
}

fn drop_empty(labels: Labels) -> Labels {
    if labels.iter().all(|l| !l.value.is_empty()) {
        return labels;
    }
    Labels::from_sorted(
        labels
            .into_vec()
            .into_iter()
            .filter(|l| !l.value.is_empty())
            .collect(),
    )
}

fn with_name(target: &Labels, name: &str) -> Labels {
    let mut pairs: Vec<(String, String)> = target
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    pairs.push((METRIC_NAME.into(), name.into()));
    Labels::from_pairs(pairs)
}

fn read_secret(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("unable to read {}: {e}", path.display()))
}

/// Names the root cause (connection refused, reset, DNS) rather than reqwest's
/// generic "error sending request".
fn describe_reqwest(e: reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
                _ => io.to_string(),
            };
        }
        source = s.source();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The HTTP client for a job: TLS settings from `tls_config`, no automatic
/// decompression (bodies are inflated under the size limit by `decode_body`).
pub fn build_client(cfg: &ScrapeConfig) -> Result<reqwest::Client, String> {
    let tls = &cfg.tls_config;
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("Pharos/", env!("CARGO_PKG_VERSION")))
        .danger_accept_invalid_certs(tls.insecure_skip_verify)
        // Go's client follows at most 10 redirects; without following, a 3xx answer
        // fails the scrape with its status.
        .redirect(if cfg.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        });
    if !cfg.enable_http2 {
        b = b.http1_only();
    }
    if let Some(v) = tls.min_version {
        b = b.min_tls_version(match v {
            TlsVersion::TLS10 => reqwest::tls::Version::TLS_1_0,
            TlsVersion::TLS11 => reqwest::tls::Version::TLS_1_1,
            TlsVersion::TLS12 => reqwest::tls::Version::TLS_1_2,
            TlsVersion::TLS13 => reqwest::tls::Version::TLS_1_3,
        });
    }
    match (&cfg.proxy_url, cfg.proxy_from_environment) {
        (Some(url), _) => {
            let proxy = reqwest::Proxy::all(url)
                .map_err(|e| format!("invalid proxy_url {url:?}: {e}"))?
                .no_proxy(
                    cfg.no_proxy
                        .as_deref()
                        .and_then(reqwest::NoProxy::from_string),
                );
            b = b.proxy(proxy);
        }
        // The client reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY unless told not to.
        (None, true) => {}
        (None, false) => b = b.no_proxy(),
    }
    if let Some(ca) = &tls.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| format!("unable to read CA file {}: {e}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("invalid CA file {}: {e}", ca.display()))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let mut pem = std::fs::read(cert)
            .map_err(|e| format!("unable to read cert file {}: {e}", cert.display()))?;
        pem.extend(
            std::fs::read(key)
                .map_err(|e| format!("unable to read key file {}: {e}", key.display()))?,
        );
        let id = reqwest::Identity::from_pem(&pem)
            .map_err(|e| format!("invalid client certificate: {e}"))?;
        b = b.identity(id);
    }
    b.build()
        .map_err(|e| format!("unable to build HTTP client: {e}"))
}
