//! One scrape of one target: fetch, parse, label, limit, report and staleness.

use super::cache::{Lookup, SeriesCache};
use super::config::{accept_header, ScrapeConfig, TlsVersion};
use super::metadata::{MetadataLine, TargetMetadata};
use super::targets::Target;
use crate::exposition::{
    decode_body, format_from_content_type, Entry, Format, Parser, SampleLine,
    ACCEPT_ENCODING_HEADER, ACCEPT_HEADER,
};
use crate::relabel::process;
use pharos_model::{
    Exemplar, ExemplarRef, LabelRef, Labels, Sample, SeriesEntry, WriteBatch, METRIC_NAME,
    STALE_NAN,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The samples a scrape produced, owned so they can cross task boundaries. Label sets
/// are shared with the target's series cache, so building a batch copies no labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScrapeBatch {
    /// One sample per row, at most one row per series (body order, then staleness
    /// markers, then the report series).
    pub samples: Vec<(Arc<Labels>, Sample)>,
    /// Exemplars with the index in `samples` of the row they belong to, ascending.
    pub exemplars: Vec<(usize, Exemplar)>,
}

impl ScrapeBatch {
    /// Borrows the batch as the write-side type storage accepts.
    pub fn as_write_batch(&self) -> WriteBatch<'_> {
        // Sized from the first series rather than by a pass over every label set, which
        // would touch each one's memory an extra time; a larger batch grows once or twice.
        let per_series = self.samples.first().map_or(0, |(l, _)| l.len() + 2);
        let labels = self.samples.len() * per_series;
        let mut wb = WriteBatch {
            series: Vec::with_capacity(self.samples.len()),
            labels: Vec::with_capacity(labels),
            samples: Vec::with_capacity(self.samples.len()),
            exemplars: Vec::with_capacity(self.exemplars.len()),
        };
        let mut exemplars = self.exemplars.iter().peekable();
        for (i, (labels, sample)) in self.samples.iter().enumerate() {
            let l0 = wb.labels.len() as u32;
            wb.labels.extend(labels.iter().map(|l| LabelRef {
                name: &l.name,
                value: &l.value,
            }));
            let l1 = wb.labels.len() as u32;
            let s0 = wb.samples.len() as u32;
            wb.samples.push(*sample);
            let e0 = wb.exemplars.len() as u32;
            while let Some((_, e)) = exemplars.next_if(|(j, _)| *j == i) {
                let el0 = wb.labels.len() as u32;
                wb.labels.extend(e.labels.iter().map(|l| LabelRef {
                    name: &l.name,
                    value: &l.value,
                }));
                wb.exemplars.push(ExemplarRef {
                    labels: el0..wb.labels.len() as u32,
                    value: e.value,
                    t: e.t,
                });
            }
            wb.series.push(SeriesEntry {
                labels: l0..l1,
                samples: s0..s0 + 1,
                exemplars: e0..wb.exemplars.len() as u32,
            });
        }
        wb
    }

    /// The value of the first sample of the series named `name`, for report series and
    /// tests.
    pub fn value_of(&self, name: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|(l, _)| l.metric_name() == Some(name))
            .map(|(_, s)| s.v)
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
    /// The labels of the report series, built once.
    report: [Arc<Labels>; REPORT_SERIES.len()],
}

/// What a scraper remembers between scrapes. A reconfigured target hands it to its
/// successor, so series that outlive the change get no staleness markers and series
/// the change removes get theirs on the next scrape.
#[derive(Debug, Default)]
pub struct ScraperState {
    /// Series text → final labels, and which series the last scrapes appended (for
    /// staleness markers, `scrape_series_added` and duplicates).
    cache: SeriesCache,
    /// Rows of the last successful scrape, to size the next batch in one allocation.
    last_rows: usize,
}

impl ScraperState {
    /// Number of series texts the cache holds, for tests.
    pub fn cached_texts(&self) -> usize {
        self.cache.texts_len()
    }
}

/// The largest body buffer reserved up front from a response's Content-Length.
const MAX_PREALLOCATED_BODY: usize = 64 << 20;

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
        let mut state = state;
        // Cached labels depend on the configuration and target labels, which a handover
        // may change; the series' staleness state stays valid.
        state.cache.forget_texts();
        let report = REPORT_SERIES.map(|name| Arc::new(with_name(&target.labels, name)));
        TargetScraper {
            client,
            config,
            target,
            accept,
            state,
            metadata,
            report,
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
        let marker = Sample {
            t: t_ms,
            v: STALE_NAN,
        };
        let mut batch = ScrapeBatch::default();
        self.state
            .cache
            .drain_last(|labels| batch.samples.push((labels, marker)));
        for labels in &self.report {
            batch.samples.push((labels.clone(), marker));
        }
        batch
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
        // Sized from Content-Length when given (capped, since the header is the
        // target's claim), so a large body is not copied through repeated regrowth.
        let hint = resp
            .content_length()
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
            .min(limit)
            .min(MAX_PREALLOCATED_BODY);
        let mut raw = Vec::with_capacity(hint);
        while let Some(chunk) = resp.chunk().await.map_err(describe_reqwest)? {
            if raw.len().saturating_add(chunk.len()) > limit {
                return Err("body size limit exceeded".into());
            }
            raw.extend_from_slice(&chunk);
        }
        let decoded = decode_body(&raw, encoding.as_deref(), limit).map_err(|e| match e {
            crate::exposition::BodyError::TooLarge { .. }
            | crate::exposition::BodyError::DecompressedTooLarge { .. } => {
                "body size limit exceeded".to_string()
            }
            other => other.to_string(),
        })?;
        // An uncompressed body is the bytes as read; keep them rather than copy.
        let inflated = match decoded {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(b) => Some(b),
        };
        let body = inflated.unwrap_or(raw);
        Ok((body, format_from_content_type(&content_type)))
    }

    /// Turns a fetch result into the batch. Separate from the HTTP side so the label,
    /// limit and staleness rules can be tested on plain bytes.
    pub fn process(
        &mut self,
        fetched: Fetched,
        start_ms: i64,
        duration: Duration,
    ) -> ScrapeOutcome {
        self.state.cache.begin();
        let mut batch = ScrapeBatch {
            samples: Vec::with_capacity(self.state.last_rows + REPORT_SERIES.len()),
            exemplars: Vec::new(),
        };
        let result =
            fetched.and_then(|(body, format)| self.samples(&body, format, start_ms, &mut batch));
        let (up, counts, error) = match result {
            Ok(c) => {
                self.state.last_rows = batch.samples.len();
                (1.0, c, None)
            }
            Err(e) => {
                // A failed scrape stores nothing of the body, as in Prometheus.
                batch.samples.clear();
                batch.exemplars.clear();
                (0.0, Counts::default(), Some(e))
            }
        };
        // Every series of the last scrape that this one lacks gets a staleness marker,
        // so queries stop returning it at once instead of after the lookback window.
        let marker = Sample {
            t: start_ms,
            v: STALE_NAN,
        };
        self.state.cache.finish(error.is_none(), |labels| {
            batch.samples.push((labels.clone(), marker));
        });
        let report = [
            up,
            duration.as_secs_f64(),
            counts.scraped as f64,
            counts.post as f64,
            counts.added as f64,
        ];
        for (labels, v) in self.report.iter().zip(report) {
            batch
                .samples
                .push((labels.clone(), Sample { t: start_ms, v }));
        }
        ScrapeOutcome {
            batch,
            error,
            start_ms,
            duration,
        }
    }

    /// Parses the body into `batch`, going through the series cache: a series text seen
    /// before costs a hash and a lookup; a new one is labelled, relabeled and checked
    /// against the label limits once, then cached.
    fn samples(
        &mut self,
        body: &[u8],
        format: Format,
        start_ms: i64,
        batch: &mut ScrapeBatch,
    ) -> Result<Counts, String> {
        let cfg = &*self.config;
        let cache = &mut self.state.cache;
        let mut counts = Counts::default();
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
            // OpenMetrics `_created` samples are stored like any other, as Prometheus
            // 2.x does (later versions skip them only behind a feature flag).
            counts.scraped += 1;
            let explicit_ts = cfg.honor_timestamps && s.timestamp_ms.is_some();
            let t = match s.timestamp_ms {
                Some(ts) if cfg.honor_timestamps => ts,
                _ => start_ms,
            };
            let slot = match cache.lookup(s.series) {
                Lookup::Slot(slot) => slot,
                Lookup::Dropped => continue,
                Lookup::Miss => {
                    let labels = final_labels(cfg, &s, &self.target.labels)?;
                    match cache.insert(s.series, labels) {
                        Some(slot) => slot,
                        None => continue,
                    }
                }
            };
            // Counted before the duplicate check, as Prometheus counts what it hands
            // to storage; the sample limit counts the same samples.
            counts.post += 1;
            if cfg.sample_limit > 0 && counts.post as u64 > cfg.sample_limit {
                return Err("sample limit exceeded".into());
            }
            // A series with an explicit timestamp gets no staleness marker when it
            // disappears unless `track_timestamps_staleness` is set, as in Prometheus.
            let tracked = !explicit_ts || cfg.track_timestamps_staleness;
            let appended = cache.append(slot, tracked);
            // A repeated series in one body keeps its first sample, as Prometheus
            // rejects the duplicate rather than failing the scrape.
            if appended.duplicate {
                continue;
            }
            counts.added += usize::from(appended.added);
            let Some(labels) = cache.labels(slot) else {
                continue;
            };
            let row = batch.samples.len();
            batch
                .samples
                .push((labels.clone(), Sample { t, v: s.value }));
            if let Some(e) = s.exemplar {
                batch.exemplars.push((row, e.to_exemplar(t)));
            }
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
        Ok(counts)
    }
}

/// The labels storage gets for a sample line: the target's labels merged in, metric
/// relabeling applied, empty values removed; `None` when the sample is dropped. Fails
/// the scrape when a label limit is exceeded.
fn final_labels(
    cfg: &ScrapeConfig,
    s: &SampleLine<'_>,
    target: &Labels,
) -> Result<Option<Labels>, String> {
    let labels = merge_target_labels(&s.to_labels(), target, cfg.honor_labels);
    let Some(labels) = process(&labels, &cfg.metric_relabel_configs) else {
        return Ok(None);
    };
    let labels = drop_empty(labels);
    if labels.metric_name().is_none_or(str::is_empty) {
        return Ok(None);
    }
    check_label_limits(cfg, &labels)?;
    Ok(Some(labels))
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

/// What a scrape reports about its samples.
#[derive(Default)]
struct Counts {
    scraped: usize,
    /// After metric relabeling, duplicates included (`scrape_samples_post_metric_relabeling`).
    post: usize,
    /// Series that the last successful scrape did not have (`scrape_series_added`).
    added: usize,
}

/// Adds the target's labels to a scraped series, as Prometheus does.
///
/// With `honor_labels` a target label is added only when the scraped set lacks the
/// name; a scraped label wins even with an empty value (which then removes it).
/// Otherwise the target's labels win, and each clashing scraped label with a value is
/// kept under a new name: shortest names first, each takes the first of
/// `exported_<name>`, `exported_exported_<name>`, … that no scraped label, no target
/// label and no earlier renamed label uses.
pub fn merge_target_labels(scraped: &Labels, target: &Labels, honor_labels: bool) -> Labels {
    let scraped_pairs = scraped.iter().map(|l| (l.name.as_str(), l.value.as_str()));
    if honor_labels {
        let missing = target
            .iter()
            .filter(|l| scraped.get(&l.name).is_none())
            .map(|l| (l.name.as_str(), l.value.as_str()));
        return drop_empty(Labels::from_pairs(scraped_pairs.chain(missing)));
    }
    let mut clashes: Vec<(String, &str)> = target
        .iter()
        .filter_map(|l| {
            let value = scraped.get(&l.name).filter(|v| !v.is_empty())?;
            Some((l.name.clone(), value))
        })
        .collect();
    // Stable, so names of equal length keep the target labels' (name) order.
    clashes.sort_by_key(|(name, _)| name.len());
    for i in 0..clashes.len() {
        let mut name = std::mem::take(&mut clashes[i].0);
        loop {
            name.insert_str(0, "exported_");
            let taken = scraped.get(&name).is_some()
                || target.get(&name).is_some()
                || clashes[..i].iter().any(|(n, _)| *n == name);
            if !taken {
                break;
            }
        }
        clashes[i].0 = name;
    }
    // Later pairs replace earlier ones of the same name: target labels override the
    // scraped ones, and the renamed labels take names nothing else uses.
    let pairs = scraped_pairs
        .chain(target.iter().map(|l| (l.name.as_str(), l.value.as_str())))
        .chain(clashes.iter().map(|(n, v)| (n.as_str(), *v)));
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
