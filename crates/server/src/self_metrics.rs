//! Pharos's own `/metrics`: process metrics from `/proc/self`, the storage's counters,
//! HTTP request counters and latencies, in Prometheus text format 0.0.4.

use crate::float_fmt::format_value;
use pharos_tsdb::{DbStats, RejectReason};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the request-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Requests and their latency, per handler and status code.
#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, u16), Histogram>>,
}

impl HttpMetrics {
    pub fn observe(&self, handler: &str, code: u16, elapsed: Duration) {
        {
            let mut r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            *r.entry((handler.to_owned(), code)).or_default() += 1;
        }
        let secs = elapsed.as_secs_f64();
        let mut l = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = l.entry((handler.to_owned(), code)).or_default();
        h.count += 1;
        h.sum += secs;
        for (b, le) in h.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if secs <= le {
                *b += 1;
            }
        }
    }
}

/// Counters of the remote_write receiver's own refusals (the storage counts its own).
#[derive(Default)]
pub struct WriteMetrics {
    pub throttled: AtomicU64,
    pub too_large: AtomicU64,
    pub bad_requests: AtomicU64,
    pub histograms_dropped: AtomicU64,
}

/// Counters of the PromQL query API.
#[derive(Default)]
pub struct QueryMetrics {
    /// Evaluations running or waiting for an engine slot.
    pub inflight: AtomicU64,
    pub samples_loaded: AtomicU64,
    pub timeouts: AtomicU64,
    /// Evaluations stopped because the client went away.
    pub canceled: AtomicU64,
}

/// The OTLP receiver a request came through: the `protocol` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    Http,
}

impl OtlpProtocol {
    const ALL: [OtlpProtocol; 2] = [OtlpProtocol::Grpc, OtlpProtocol::Http];

    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::Http => "http",
        }
    }
}

/// How an OTLP export request was answered: the `outcome` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpOutcome {
    Success,
    /// Stored, with some data points rejected and reported in `partial_success`.
    PartialSuccess,
    /// Undecodable or of an unsupported content type or encoding.
    Invalid,
    TooLarge,
    /// All write slots were taken.
    Throttled,
    NotReady,
    /// A storage limit refused samples; the sender was told to retry later.
    Limited,
    Failed,
}

impl OtlpOutcome {
    const ALL: [OtlpOutcome; 8] = [
        OtlpOutcome::Success,
        OtlpOutcome::PartialSuccess,
        OtlpOutcome::Invalid,
        OtlpOutcome::TooLarge,
        OtlpOutcome::Throttled,
        OtlpOutcome::NotReady,
        OtlpOutcome::Limited,
        OtlpOutcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OtlpOutcome::Success => "success",
            OtlpOutcome::PartialSuccess => "partial_success",
            OtlpOutcome::Invalid => "invalid",
            OtlpOutcome::TooLarge => "too_large",
            OtlpOutcome::Throttled => "throttled",
            OtlpOutcome::NotReady => "not_ready",
            OtlpOutcome::Limited => "limited",
            OtlpOutcome::Failed => "error",
        }
    }
}

/// Counters of the OTLP metrics receivers, per protocol.
#[derive(Default)]
pub struct OtlpMetrics {
    requests: [[AtomicU64; OtlpOutcome::ALL.len()]; OtlpProtocol::ALL.len()],
    points_received: [AtomicU64; OtlpProtocol::ALL.len()],
    points_rejected: [AtomicU64; OtlpProtocol::ALL.len()],
}

impl OtlpMetrics {
    pub fn request(&self, protocol: OtlpProtocol, outcome: OtlpOutcome) {
        self.requests[protocol as usize][outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Data points decoded from a request, and what was rejected: points the translator
    /// refused plus samples the storage refused.
    pub fn points(&self, protocol: OtlpProtocol, received: u64, rejected: u64) {
        let p = protocol as usize;
        self.points_received[p].fetch_add(received, Ordering::Relaxed);
        self.points_rejected[p].fetch_add(rejected, Ordering::Relaxed);
    }
}

/// What `/metrics` shows about the remote_write concurrency limit.
pub struct Inflight {
    pub in_use: usize,
    pub max: usize,
}

/// Everything one scrape renders; `db` is `None` while the WAL is replayed.
pub struct Snapshot<'a> {
    pub db: Option<&'a DbStats>,
    pub ready: bool,
    pub http: &'a HttpMetrics,
    pub write: &'a WriteMetrics,
    pub inflight: Inflight,
    pub query: &'a QueryMetrics,
    pub otlp: &'a OtlpMetrics,
}

struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label_value(val));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", format_value(v));
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, v: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], v);
    }
}

fn escape_label_value(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Renders a full scrape.
pub fn render(s: &Snapshot<'_>) -> String {
    let mut t = Text(String::with_capacity(8 << 10));
    render_process(&mut t);
    t.family(
        "pharos_build_info",
        "gauge",
        "Build information of the running Pharos binary.",
    );
    t.sample(
        "pharos_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    t.single(
        "pharos_ready",
        "gauge",
        "1 once the write-ahead log is replayed and Pharos serves reads and writes.",
        if s.ready { 1.0 } else { 0.0 },
    );
    if let Some(db) = s.db {
        render_db(&mut t, db);
    }
    render_write(&mut t, s);
    render_query(&mut t, s.query);
    render_otlp(&mut t, s.otlp);
    render_http(&mut t, s.http);
    t.0
}

/// The alerting stage at one scrape, gathered by `Alerting::metrics_view`.
#[derive(Clone, Debug, Default)]
pub struct AlertingView {
    /// Unresolved alerts: (active, suppressed, unprocessed).
    pub alerts: (usize, usize, usize),
    /// Silences: (active, pending, expired).
    pub silences: (usize, usize, usize),
    pub aggregation_groups: usize,
    pub counters: pharos_alerting::metrics::MetricsSnapshot,
    /// Rule-alert batches waiting for the dispatcher, and the queue's size.
    pub rule_queue_length: usize,
    pub rule_queue_capacity: usize,
    pub rule_dropped: u64,
}

/// The alerting families: Alertmanager's `alertmanager_*` as `pharos_alertmanager_*`,
/// and the rule manager's queue to the dispatcher as Prometheus's
/// `prometheus_notifications_*` are for its queue to Alertmanager.
pub fn render_alerting(v: &AlertingView) -> String {
    use pharos_alerting::metrics::{FailureReason, NOTIFICATION_LATENCY_BUCKETS};
    let mut t = Text(String::with_capacity(4 << 10));
    let c = &v.counters;
    t.family(
        "pharos_alertmanager_alerts",
        "gauge",
        "How many unresolved alerts there are, by state.",
    );
    for (state, n) in [
        ("active", v.alerts.0),
        ("suppressed", v.alerts.1),
        ("unprocessed", v.alerts.2),
    ] {
        t.sample("pharos_alertmanager_alerts", &[("state", state)], n as f64);
    }
    t.family(
        "pharos_alertmanager_alerts_received_total",
        "counter",
        "The total number of received alerts, by status when received.",
    );
    for (status, n) in [
        ("firing", c.received_firing),
        ("resolved", c.received_resolved),
    ] {
        t.sample(
            "pharos_alertmanager_alerts_received_total",
            &[("status", status)],
            n as f64,
        );
    }
    t.single(
        "pharos_alertmanager_alerts_invalid_total",
        "counter",
        "The total number of received alerts that were invalid.",
        c.invalid as f64,
    );
    let per_integration = |t: &mut Text, name: &str, help: &str, f: &dyn Fn(&_) -> u64| {
        t.family(name, "counter", help);
        for (integration, ic) in &c.integrations {
            t.sample(name, &[("integration", integration)], f(ic) as f64);
        }
    };
    per_integration(
        &mut t,
        "pharos_alertmanager_notifications_total",
        "The total number of attempted notifications.",
        &|ic: &pharos_alerting::metrics::IntegrationCounters| ic.notifications,
    );
    t.family(
        "pharos_alertmanager_notifications_failed_total",
        "counter",
        "The total number of failed notifications, by whether the last error was retryable.",
    );
    for (integration, ic) in &c.integrations {
        for reason in FailureReason::ALL {
            let n = ic.failed.get(&reason).copied().unwrap_or(0);
            t.sample(
                "pharos_alertmanager_notifications_failed_total",
                &[("integration", integration), ("reason", reason.as_str())],
                n as f64,
            );
        }
    }
    per_integration(
        &mut t,
        "pharos_alertmanager_notification_requests_total",
        "The total number of attempted notification requests, retries included.",
        &|ic| ic.requests,
    );
    per_integration(
        &mut t,
        "pharos_alertmanager_notification_requests_failed_total",
        "The total number of failed notification requests.",
        &|ic| ic.requests_failed,
    );
    let name = "pharos_alertmanager_notification_latency_seconds";
    t.family(
        name,
        "histogram",
        "The latency of notification requests in seconds.",
    );
    for (integration, ic) in &c.integrations {
        let h = &ic.latency;
        let label = ("integration", integration.as_str());
        for (le, n) in NOTIFICATION_LATENCY_BUCKETS.iter().zip(h.buckets) {
            let le = format_value(*le);
            t.sample(&format!("{name}_bucket"), &[label, ("le", &le)], n as f64);
        }
        t.sample(
            &format!("{name}_bucket"),
            &[label, ("le", "+Inf")],
            h.count as f64,
        );
        t.sample(&format!("{name}_sum"), &[label], h.sum);
        t.sample(&format!("{name}_count"), &[label], h.count as f64);
    }
    t.family(
        "pharos_alertmanager_silences",
        "gauge",
        "How many silences there are, by state.",
    );
    for (state, n) in [
        ("active", v.silences.0),
        ("pending", v.silences.1),
        ("expired", v.silences.2),
    ] {
        t.sample(
            "pharos_alertmanager_silences",
            &[("state", state)],
            n as f64,
        );
    }
    t.single(
        "pharos_alertmanager_aggregation_groups",
        "gauge",
        "Number of active aggregation groups.",
        v.aggregation_groups as f64,
    );
    t.single(
        "pharos_alertmanager_nflog_queries_total",
        "counter",
        "Number of notification log queries made.",
        c.nflog_queries as f64,
    );
    t.single(
        "pharos_alertmanager_page_budget_held_total",
        "counter",
        "Flushes held back because their receiver's page budget was spent.",
        c.budget_held as f64,
    );
    t.single(
        "pharos_alertmanager_page_budget_summaries_total",
        "counter",
        "Summaries of held notifications delivered once a page budget refilled.",
        c.budget_summaries as f64,
    );
    t.single(
        "pharos_alertmanager_flapping_marks_total",
        "counter",
        "Times an alert was marked as flapping for a receiver.",
        c.flapping_marks as f64,
    );
    t.single(
        "pharos_rule_notifications_dropped_total",
        "counter",
        "Alert batches from rule evaluation dropped because the queue to the dispatcher was full.",
        v.rule_dropped as f64,
    );
    t.single(
        "pharos_rule_notifications_queue_length",
        "gauge",
        "Alert batches from rule evaluation waiting for the dispatcher.",
        v.rule_queue_length as f64,
    );
    t.single(
        "pharos_rule_notifications_queue_capacity",
        "gauge",
        "Size of the queue of alert batches from rule evaluation.",
        v.rule_queue_capacity as f64,
    );
    t.0
}

/// The rule families, Prometheus's `prometheus_rule_*` renamed, one series per group
/// labelled `rule_group="<file>;<group>"` as upstream labels them.
pub fn render_rules(groups: &[pharos_rules::Group]) -> String {
    let mut t = Text(String::with_capacity(256 + groups.len() * 1024));
    let keys: Vec<String> = groups.iter().map(|g| g.key()).collect();
    type Get = fn(&pharos_rules::Group) -> f64;
    let families: [(&str, &str, &str, Get); 10] = [
        (
            "pharos_rule_evaluations_total",
            "counter",
            "The total number of rule evaluations.",
            |g| g.counters.evaluations as f64,
        ),
        (
            "pharos_rule_evaluation_failures_total",
            "counter",
            "The total number of rule evaluation failures.",
            |g| g.counters.evaluation_failures as f64,
        ),
        (
            "pharos_rule_group_iterations_total",
            "counter",
            "The total number of scheduled rule group evaluations, whether executed or missed.",
            |g| g.counters.iterations_scheduled as f64,
        ),
        (
            "pharos_rule_group_iterations_missed_total",
            "counter",
            "The total number of rule group evaluations missed due to slow rule group evaluation.",
            |g| g.counters.iterations_missed as f64,
        ),
        (
            "pharos_rule_group_interval_seconds",
            "gauge",
            "The interval of a rule group.",
            |g| g.interval_ms as f64 / 1000.0,
        ),
        (
            "pharos_rule_group_last_duration_seconds",
            "gauge",
            "The duration of the last rule group evaluation.",
            |g| g.evaluation_duration.as_secs_f64(),
        ),
        (
            "pharos_rule_group_last_rule_duration_sum_seconds",
            "gauge",
            "The sum of time in seconds it took to evaluate each rule in the group regardless of concurrency.",
            |g| g.rules.iter().map(|r| r.evaluation_duration.as_secs_f64()).sum(),
        ),
        (
            "pharos_rule_group_last_evaluation_timestamp_seconds",
            "gauge",
            "The timestamp of the last rule group evaluation in seconds.",
            |g| g.last_eval_timestamp.map_or(0.0, |ms| ms as f64 / 1000.0),
        ),
        (
            "pharos_rule_group_last_evaluation_samples",
            "gauge",
            "The number of samples returned during the last rule group evaluation.",
            |g| g.counters.last_samples as f64,
        ),
        (
            "pharos_rule_group_rules",
            "gauge",
            "The number of rules.",
            |g| g.rules.len() as f64,
        ),
    ];
    for (name, kind, help, get) in families {
        t.family(name, kind, help);
        for (g, key) in groups.iter().zip(&keys) {
            t.sample(name, &[("rule_group", key)], get(g));
        }
    }
    t.0
}

fn render_write(t: &mut Text, s: &Snapshot<'_>) {
    let w = s.write;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
    t.single(
        "pharos_remote_write_inflight_requests",
        "gauge",
        "remote_write requests being processed now.",
        s.inflight.in_use as f64,
    );
    t.single(
        "pharos_remote_write_max_inflight_requests",
        "gauge",
        "remote_write requests processed at once before more are answered 429 (server.max_inflight_writes).",
        s.inflight.max as f64,
    );
    t.single(
        "pharos_remote_write_requests_throttled_total",
        "counter",
        "remote_write requests answered 429 because max_inflight_writes were already running.",
        load(&w.throttled),
    );
    t.single(
        "pharos_remote_write_requests_too_large_total",
        "counter",
        "remote_write requests answered 413 because the body exceeded server.max_request_bytes.",
        load(&w.too_large),
    );
    t.single(
        "pharos_remote_write_requests_invalid_total",
        "counter",
        "remote_write requests refused as malformed before reaching storage.",
        load(&w.bad_requests),
    );
    t.single(
        "pharos_remote_write_histograms_dropped_total",
        "counter",
        "Native histogram series received over remote_write and dropped (not supported yet).",
        load(&w.histograms_dropped),
    );
}

fn render_query(t: &mut Text, q: &QueryMetrics) {
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
    t.single(
        "pharos_query_inflight",
        "gauge",
        "PromQL evaluations of the HTTP API running or waiting for a slot (query.max_concurrency).",
        load(&q.inflight),
    );
    t.single(
        "pharos_query_samples_loaded_total",
        "counter",
        "Samples loaded from storage by PromQL evaluations of the HTTP API.",
        load(&q.samples_loaded),
    );
    t.single(
        "pharos_query_timeouts_total",
        "counter",
        "PromQL evaluations stopped by their timeout (query.timeout or the request's timeout).",
        load(&q.timeouts),
    );
    t.single(
        "pharos_query_canceled_total",
        "counter",
        "PromQL evaluations stopped because the client went away.",
        load(&q.canceled),
    );
}

fn render_otlp(t: &mut Text, m: &OtlpMetrics) {
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
    t.family(
        "pharos_otlp_requests_total",
        "counter",
        "OTLP metrics export requests answered, by protocol and outcome.",
    );
    for p in OtlpProtocol::ALL {
        for o in OtlpOutcome::ALL {
            t.sample(
                "pharos_otlp_requests_total",
                &[("protocol", p.as_str()), ("outcome", o.as_str())],
                load(&m.requests[p as usize][o as usize]),
            );
        }
    }
    for (name, help, counters) in [
        (
            "pharos_otlp_datapoints_received_total",
            "OTLP metric data points decoded from export requests, by protocol.",
            &m.points_received,
        ),
        (
            "pharos_otlp_datapoints_rejected_total",
            "OTLP data points rejected in translation, plus samples refused by the storage, by protocol.",
            &m.points_rejected,
        ),
    ] {
        t.family(name, "counter", help);
        for p in OtlpProtocol::ALL {
            t.sample(
                name,
                &[("protocol", p.as_str())],
                load(&counters[p as usize]),
            );
        }
    }
}

fn render_http(t: &mut Text, http: &HttpMetrics) {
    t.family(
        "pharos_http_requests_total",
        "counter",
        "HTTP requests answered, by handler and status code.",
    );
    {
        let r = http.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((handler, code), n) in r.iter() {
            t.sample(
                "pharos_http_requests_total",
                &[("handler", handler), ("code", &code.to_string())],
                *n as f64,
            );
        }
    }
    t.family(
        "pharos_http_request_duration_seconds",
        "histogram",
        "Time from receiving an HTTP request to its response, by handler and status code.",
    );
    let l = http.latency.lock().unwrap_or_else(|p| p.into_inner());
    for ((handler, code), h) in l.iter() {
        let code = code.to_string();
        let labels = [("handler", handler.as_str()), ("code", code.as_str())];
        for (le, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
            let le = format_value(*le);
            t.sample(
                "pharos_http_request_duration_seconds_bucket",
                &[labels[0], labels[1], ("le", &le)],
                n as f64,
            );
        }
        t.sample(
            "pharos_http_request_duration_seconds_bucket",
            &[labels[0], labels[1], ("le", "+Inf")],
            h.count as f64,
        );
        t.sample("pharos_http_request_duration_seconds_sum", &labels, h.sum);
        t.sample(
            "pharos_http_request_duration_seconds_count",
            &labels,
            h.count as f64,
        );
    }
}

fn ms_to_secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn render_db(t: &mut Text, s: &DbStats) {
    // Destructured without `..` so a field added to DbStats fails to compile here until
    // it is exported too.
    let DbStats {
        head_series,
        head_chunks,
        head_min_time_ms,
        head_max_time_ms,
        head_samples_appended_total,
        head_out_of_order_samples_appended_total,
        head_series_created_total,
        head_series_removed_total,
        exemplars_appended_total,
        exemplars_in_storage,
        samples_rejected_total,
        head_memory_bytes,
        symbols,
        blocks_loaded,
        blocks_bytes,
        lowest_timestamp_ms,
        compactions_total,
        compactions_failed_total,
        head_truncations_total,
        retention_deletions_time_total,
        retention_deletions_size_total,
        wal_segment_current,
        wal_bytes_written_total,
        wal_fsyncs_total,
        wal_corruptions_total,
        wal_checkpoints_total,
        wal_replay_seconds,
    } = s;
    let g = "gauge";
    let c = "counter";
    let rows: [(&str, &str, &str, f64); 26] = [
        (
            "pharos_tsdb_head_series",
            g,
            "Active series in the head.",
            *head_series as f64,
        ),
        (
            "pharos_tsdb_head_chunks",
            g,
            "Chunks held by the head's series.",
            *head_chunks as f64,
        ),
        (
            "pharos_tsdb_head_min_time_seconds",
            g,
            "Oldest sample time in the head, Unix seconds.",
            ms_to_secs(*head_min_time_ms),
        ),
        (
            "pharos_tsdb_head_max_time_seconds",
            g,
            "Newest sample time in the head, Unix seconds.",
            ms_to_secs(*head_max_time_ms),
        ),
        (
            "pharos_tsdb_head_samples_appended_total",
            c,
            "Samples stored in the head.",
            *head_samples_appended_total as f64,
        ),
        (
            "pharos_tsdb_head_out_of_order_samples_appended_total",
            c,
            "Samples stored in the head that arrived behind the newest sample of their series.",
            *head_out_of_order_samples_appended_total as f64,
        ),
        (
            "pharos_tsdb_head_series_created_total",
            c,
            "Series created in the head.",
            *head_series_created_total as f64,
        ),
        (
            "pharos_tsdb_head_series_removed_total",
            c,
            "Series removed from the head after going inactive.",
            *head_series_removed_total as f64,
        ),
        (
            "pharos_tsdb_exemplars_appended_total",
            c,
            "Exemplars stored.",
            *exemplars_appended_total as f64,
        ),
        (
            "pharos_tsdb_exemplars_in_storage",
            g,
            "Exemplars currently held.",
            *exemplars_in_storage as f64,
        ),
        (
            "pharos_tsdb_head_memory_bytes",
            g,
            "Estimated memory used by the head.",
            *head_memory_bytes as f64,
        ),
        (
            "pharos_tsdb_symbols",
            g,
            "Interned label strings in the head.",
            *symbols as f64,
        ),
        (
            "pharos_tsdb_blocks_loaded",
            g,
            "Persistent blocks loaded.",
            *blocks_loaded as f64,
        ),
        (
            "pharos_tsdb_blocks_bytes",
            g,
            "Bytes used by persistent blocks on disk.",
            *blocks_bytes as f64,
        ),
        (
            "pharos_tsdb_lowest_timestamp_seconds",
            g,
            "Oldest sample time in the database, Unix seconds.",
            ms_to_secs(*lowest_timestamp_ms),
        ),
        (
            "pharos_tsdb_compactions_total",
            c,
            "Compactions run.",
            *compactions_total as f64,
        ),
        (
            "pharos_tsdb_compactions_failed_total",
            c,
            "Compactions that failed.",
            *compactions_failed_total as f64,
        ),
        (
            "pharos_tsdb_head_truncations_total",
            c,
            "Times the head was truncated after its data was written to a block.",
            *head_truncations_total as f64,
        ),
        (
            "pharos_tsdb_retention_deletions_time_total",
            c,
            "Blocks deleted for being older than the retention time.",
            *retention_deletions_time_total as f64,
        ),
        (
            "pharos_tsdb_retention_deletions_size_total",
            c,
            "Blocks deleted to stay under the retention size.",
            *retention_deletions_size_total as f64,
        ),
        (
            "pharos_tsdb_wal_segment_current",
            g,
            "Index of the WAL segment being written.",
            *wal_segment_current as f64,
        ),
        (
            "pharos_tsdb_wal_bytes_written_total",
            c,
            "Bytes written to the WAL.",
            *wal_bytes_written_total as f64,
        ),
        (
            "pharos_tsdb_wal_fsyncs_total",
            c,
            "WAL fsyncs.",
            *wal_fsyncs_total as f64,
        ),
        (
            "pharos_tsdb_wal_corruptions_total",
            c,
            "Corrupt or torn WAL records found (and truncated) on replay.",
            *wal_corruptions_total as f64,
        ),
        (
            "pharos_tsdb_wal_checkpoints_total",
            c,
            "WAL checkpoints written.",
            *wal_checkpoints_total as f64,
        ),
        (
            "pharos_tsdb_wal_replay_seconds",
            g,
            "Time the last start spent replaying the WAL.",
            *wal_replay_seconds,
        ),
    ];
    for (name, kind, help, v) in rows {
        t.single(name, kind, help, v);
    }
    t.family(
        "pharos_tsdb_samples_rejected_total",
        c,
        "Samples (or exemplars) refused by the storage, by reason.",
    );
    for r in RejectReason::ALL {
        let n = samples_rejected_total.get(r.index()).copied().unwrap_or(0);
        t.sample(
            "pharos_tsdb_samples_rejected_total",
            &[("reason", r.as_str())],
            n as f64,
        );
    }
}

struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time_seconds: f64,
}

/// Reads `/proc/self/stat`; `None` where there is no procfs.
fn read_process_stat() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Indices count from field 3 (state) of proc(5).
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    let page = if page > 0 { page as f64 } else { 4096.0 };
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    Some(ProcessStats {
        cpu_seconds: (num(11)? + num(12)?) / ticks,
        virtual_bytes: num(20)?,
        resident_bytes: num(21)? * page,
        start_time_seconds: boot? + num(19)? / ticks,
    })
}

fn max_fds() -> Option<f64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and pass by valid pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0).then_some(lim.rlim_cur as f64)
}

fn render_process(t: &mut Text) {
    if let Some(p) = read_process_stat() {
        t.single(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            p.cpu_seconds,
        );
        t.single(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes,
        );
        t.single(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            p.virtual_bytes,
        );
        t.single(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds,
        );
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        t.single(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            dir.count() as f64,
        );
    }
    if let Some(m) = max_fds() {
        t.single(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            m,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot_text(db: Option<&DbStats>) -> String {
        let http = HttpMetrics::default();
        http.observe("/api/v1/write", 204, Duration::from_millis(3));
        http.observe("/api/v1/write", 400, Duration::from_millis(70));
        let write = WriteMetrics::default();
        write.throttled.fetch_add(2, Ordering::Relaxed);
        let query = QueryMetrics::default();
        query.timeouts.fetch_add(3, Ordering::Relaxed);
        let otlp = OtlpMetrics::default();
        otlp.request(OtlpProtocol::Grpc, OtlpOutcome::PartialSuccess);
        otlp.points(OtlpProtocol::Http, 5, 2);
        render(&Snapshot {
            db,
            ready: db.is_some(),
            http: &http,
            write: &write,
            inflight: Inflight { in_use: 1, max: 4 },
            query: &query,
            otlp: &otlp,
        })
    }

    #[test]
    fn renders_every_family_with_help_and_type() {
        let mut stats = DbStats {
            head_series: 42,
            ..Default::default()
        };
        stats.samples_rejected_total[RejectReason::MaxSeries.index()] = 7;
        let text = snapshot_text(Some(&stats));
        for want in [
            "# TYPE process_cpu_seconds_total counter",
            "process_resident_memory_bytes ",
            "process_virtual_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
            "pharos_build_info{version=\"",
            "# HELP pharos_tsdb_head_series Active series in the head.\n# TYPE pharos_tsdb_head_series gauge\npharos_tsdb_head_series 42\n",
            "pharos_tsdb_samples_rejected_total{reason=\"max_series\"} 7\n",
            "pharos_tsdb_samples_rejected_total{reason=\"too_old\"} 0\n",
            "pharos_tsdb_wal_replay_seconds 0\n",
            "pharos_http_requests_total{handler=\"/api/v1/write\",code=\"204\"} 1\n",
            "pharos_http_request_duration_seconds_bucket{handler=\"/api/v1/write\",code=\"204\",le=\"0.005\"} 1\n",
            "pharos_http_request_duration_seconds_bucket{handler=\"/api/v1/write\",code=\"400\",le=\"0.05\"} 0\n",
            "pharos_http_request_duration_seconds_bucket{handler=\"/api/v1/write\",code=\"400\",le=\"0.1\"} 1\n",
            "pharos_http_request_duration_seconds_bucket{handler=\"/api/v1/write\",code=\"400\",le=\"+Inf\"} 1\n",
            "pharos_http_request_duration_seconds_count{handler=\"/api/v1/write\",code=\"204\"} 1\n",
            "pharos_remote_write_requests_throttled_total 2\n",
            "pharos_query_timeouts_total 3\n",
            "pharos_query_inflight 0\n",
            "pharos_ready 1\n",
            "pharos_otlp_requests_total{protocol=\"grpc\",outcome=\"partial_success\"} 1\n",
            "pharos_otlp_requests_total{protocol=\"http\",outcome=\"success\"} 0\n",
            "pharos_otlp_datapoints_received_total{protocol=\"http\"} 5\n",
            "pharos_otlp_datapoints_rejected_total{protocol=\"http\"} 2\n",
            "pharos_otlp_datapoints_rejected_total{protocol=\"grpc\"} 0\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // Every sample line belongs to a family declared with HELP and TYPE.
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|f| declared.contains(*f)))
                    .unwrap_or(name);
                assert!(declared.contains(family), "undeclared {name}");
            }
        }
    }

    #[test]
    fn no_storage_metrics_before_ready() {
        let text = snapshot_text(None);
        assert!(!text.contains("pharos_tsdb_"));
        assert!(text.contains("pharos_ready 0\n"));
    }

    #[test]
    fn rule_families_are_labelled_by_group() {
        let rules = vec![pharos_rules::group::Rule::new(
            pharos_rules::group::RuleKind::Recording(pharos_rules::recording::RecordingRule {
                name: "r".into(),
                expr: "1".into(),
                labels: pharos_model::Labels::empty(),
            }),
        )];
        let mut g =
            pharos_rules::Group::new("g".into(), "f.yml".into(), 1500, 0, None, rules, false);
        g.counters.evaluations = 4;
        g.counters.iterations_missed = 1;
        g.last_eval_timestamp = Some(1_700_000_000_500);
        let text = render_rules(&[g]);
        for want in [
            "# TYPE pharos_rule_evaluations_total counter\npharos_rule_evaluations_total{rule_group=\"f.yml;g\"} 4\n",
            "pharos_rule_evaluation_failures_total{rule_group=\"f.yml;g\"} 0\n",
            "pharos_rule_group_iterations_missed_total{rule_group=\"f.yml;g\"} 1\n",
            "pharos_rule_group_interval_seconds{rule_group=\"f.yml;g\"} 1.5\n",
            "pharos_rule_group_last_evaluation_timestamp_seconds{rule_group=\"f.yml;g\"} 1700000000.5\n",
            "pharos_rule_group_rules{rule_group=\"f.yml;g\"} 1\n",
            "# HELP pharos_rule_group_last_duration_seconds ",
            "# HELP pharos_rule_group_last_rule_duration_sum_seconds ",
            "pharos_rule_group_last_evaluation_samples{rule_group=\"f.yml;g\"} 0\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(render_rules(&[]).contains("# TYPE pharos_rule_group_rules gauge\n"));
    }

    #[test]
    fn alerting_families_render() {
        let m = pharos_alerting::metrics::AlertingMetrics::default();
        m.register_integrations(["email"]);
        m.alert_received(false);
        m.notification("webhook");
        m.request("webhook", true, Duration::from_millis(200));
        let text = render_alerting(&AlertingView {
            alerts: (2, 1, 0),
            silences: (1, 0, 3),
            aggregation_groups: 2,
            counters: m.snapshot(),
            rule_queue_length: 5,
            rule_queue_capacity: 1024,
            rule_dropped: 7,
        });
        for want in [
            "# TYPE pharos_alertmanager_alerts gauge\n",
            "pharos_alertmanager_alerts{state=\"suppressed\"} 1\n",
            "pharos_alertmanager_alerts_received_total{status=\"firing\"} 1\n",
            "pharos_alertmanager_alerts_invalid_total 0\n",
            "pharos_alertmanager_notifications_total{integration=\"email\"} 0\n",
            "pharos_alertmanager_notifications_total{integration=\"webhook\"} 1\n",
            "pharos_alertmanager_notifications_failed_total{integration=\"webhook\",reason=\"permanent\"} 0\n",
            "pharos_alertmanager_notification_requests_total{integration=\"webhook\"} 1\n",
            "pharos_alertmanager_notification_requests_failed_total{integration=\"webhook\"} 0\n",
            "# TYPE pharos_alertmanager_notification_latency_seconds histogram\n",
            "pharos_alertmanager_notification_latency_seconds_bucket{integration=\"webhook\",le=\"1\"} 1\n",
            "pharos_alertmanager_notification_latency_seconds_bucket{integration=\"webhook\",le=\"+Inf\"} 1\n",
            "pharos_alertmanager_notification_latency_seconds_sum{integration=\"webhook\"} 0.2\n",
            "pharos_alertmanager_silences{state=\"expired\"} 3\n",
            "pharos_alertmanager_aggregation_groups 2\n",
            "pharos_alertmanager_page_budget_held_total 0\n",
            "pharos_rule_notifications_dropped_total 7\n",
            "pharos_rule_notifications_queue_length 5\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
