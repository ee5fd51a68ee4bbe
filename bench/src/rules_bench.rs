//! Rule evaluation cost: a TSDB with the ingest benchmark's series (an hour of 15 s
//! samples), a rule file of recording and alerting rules shaped like a production one,
//! and the time one evaluation of every group takes with Pharos's rules library and
//! PromQL engine, in process. See bench/README.md, "Rule evaluation benchmark".

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use pharos_ingest::remote_write::proto::WriteRequest;
use pharos_model::{LabelRef, Queryable, Sample, WriteBatch};
use pharos_promql::{Engine, EngineOptions};
use pharos_rules::group::{load_groups, Group, LoadOptions};
use pharos_rules::rulefmt::ParseOptions;
use pharos_rules::template::GoTemplates;
use pharos_rules::{Appendable, EngineQueryFunc, GroupEnv, Settings};
use pharos_tsdb::Db;
use prost::Message;

use crate::load::{self, Plan, HANDLERS, JOBS};
use crate::util;

/// Rules generated per service; eight services make the default 1000.
pub const RULES_PER_SERVICE: usize = 125;
/// Evaluation interval of every generated group, Prometheus's usual 15 s.
pub const EVAL_INTERVAL_MS: i64 = 15_000;

#[derive(Args)]
pub struct RulesArgs {
    /// Active series in the TSDB (`100k`, `10000`).
    #[arg(long, default_value = "100k")]
    series: String,
    /// Hours of 15 s samples, ending now.
    #[arg(long, default_value_t = 1.0)]
    hours: f64,
    /// Rules in the generated file (125 per service; beyond 1000 the services repeat
    /// with a `copy` label).
    #[arg(long, default_value_t = 1000)]
    rules: usize,
    /// Measured evaluation rounds (after one warm-up round); the report gives the median.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the generated rule file here as well.
    #[arg(long)]
    rules_out: Option<PathBuf>,
    /// Directory for the Markdown results file.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    results_dir: PathBuf,
    /// Where the temp dir goes; defaults to the system temp dir.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the temp dir (TSDB, rule file) for inspection.
    #[arg(long)]
    keep: bool,
}

/// One group of the generated file.
struct GenGroup {
    name: String,
    rules: Vec<GenRule>,
}

struct GenRule {
    /// `record` or `alert`.
    kind: &'static str,
    name: String,
    expr: String,
    for_: Option<&'static str>,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
}

impl GenRule {
    fn with_label(mut self, name: &str, value: String) -> GenRule {
        self.labels.push((name.into(), value));
        self
    }
}

fn rec(name: impl Into<String>, expr: impl Into<String>) -> GenRule {
    GenRule {
        kind: "record",
        name: name.into(),
        expr: expr.into(),
        for_: None,
        labels: Vec::new(),
        annotations: Vec::new(),
    }
}

fn alert(
    name: impl Into<String>,
    expr: impl Into<String>,
    for_: Option<&'static str>,
    severity: &str,
    summary: &str,
) -> GenRule {
    GenRule {
        kind: "alert",
        name: name.into(),
        expr: expr.into(),
        for_,
        labels: vec![("severity".into(), severity.into())],
        annotations: vec![
            ("summary".into(), summary.into()),
            (
                "description".into(),
                "{{ $labels.job }} {{ $labels.instance }}: value {{ $value }}".into(),
            ),
        ],
    }
}

fn handler_slug(h: &str) -> &str {
    h.trim_start_matches("/api/v1/")
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or(h)
}

/// The five groups of one service, [`RULES_PER_SERVICE`] rules: request rates and error
/// ratios, latency quantiles, per-handler SLIs, resource aggregations, and alerts on
/// all of those.
fn service_groups(svc: &str) -> Vec<GenGroup> {
    let sel = format!("job=\"{svc}\"");
    let req = "http_requests_total";
    let bucket = "http_request_duration_seconds_bucket";
    let dsum = "http_request_duration_seconds_sum";
    let dcount = "http_request_duration_seconds_count";
    let windows = ["1m", "5m", "30m", "1h"];

    let mut requests = Vec::new();
    for w in windows {
        requests.push(rec(
            format!("job:http_requests:rate{w}"),
            format!("sum by (job) (rate({req}{{{sel}}}[{w}]))"),
        ));
        requests.push(rec(
            format!("job_handler:http_requests:rate{w}"),
            format!("sum by (job, handler) (rate({req}{{{sel}}}[{w}]))"),
        ));
        requests.push(rec(
            format!("job_method_status:http_requests:rate{w}"),
            format!("sum by (job, method, status) (rate({req}{{{sel}}}[{w}]))"),
        ));
        requests.push(rec(
            format!("instance:http_requests:rate{w}"),
            format!("sum by (job, instance) (rate({req}{{{sel}}}[{w}]))"),
        ));
        requests.push(rec(
            format!("job:http_requests_errors:rate{w}"),
            format!("sum by (job) (rate({req}{{{sel},status=~\"5..\"}}[{w}]))"),
        ));
        requests.push(rec(
            format!("job:http_requests_error_ratio:rate{w}"),
            format!(
                "job:http_requests_errors:rate{w}{{{sel}}} / job:http_requests:rate{w}{{{sel}}}"
            ),
        ));
        requests.push(rec(
            format!("job_handler:http_requests_error_ratio:rate{w}"),
            format!(
                "sum by (job, handler) (rate({req}{{{sel},status=~\"5..\"}}[{w}])) \
                 / sum by (job, handler) (rate({req}{{{sel}}}[{w}]))"
            ),
        ));
    }

    let mut latency = Vec::new();
    for w in windows {
        for (q, p) in [("0.5", "50"), ("0.9", "90"), ("0.99", "99")] {
            latency.push(rec(
                format!("job:http_request_duration_seconds:p{p}_rate{w}"),
                format!("histogram_quantile({q}, sum by (le, job) (rate({bucket}{{{sel}}}[{w}])))"),
            ));
        }
        latency.push(rec(
            format!("job:http_request_duration_seconds:mean_rate{w}"),
            format!(
                "sum by (job) (rate({dsum}{{{sel}}}[{w}])) / sum by (job) (rate({dcount}{{{sel}}}[{w}]))"
            ),
        ));
        latency.push(rec(
            format!("job_handler:http_request_duration_seconds:mean_rate{w}"),
            format!(
                "sum by (job, handler) (rate({dsum}{{{sel}}}[{w}])) \
                 / sum by (job, handler) (rate({dcount}{{{sel}}}[{w}]))"
            ),
        ));
        latency.push(rec(
            format!("job:http_request_duration_seconds:apdex_rate{w}"),
            format!(
                "(sum by (job) (rate({bucket}{{{sel},le=\"0.25\"}}[{w}])) \
                 + sum by (job) (rate({bucket}{{{sel},le=\"1\"}}[{w}]))) / 2 \
                 / sum by (job) (rate({dcount}{{{sel}}}[{w}]))"
            ),
        ));
    }
    for w in ["5m", "30m"] {
        for (q, p) in [("0.5", "50"), ("0.9", "90"), ("0.99", "99")] {
            latency.push(rec(
                format!("job_handler:http_request_duration_seconds:p{p}_rate{w}"),
                format!(
                    "histogram_quantile({q}, sum by (le, job, handler) (rate({bucket}{{{sel}}}[{w}])))"
                ),
            ));
        }
    }

    let mut slo = Vec::new();
    for h in HANDLERS {
        let slug = handler_slug(h);
        let hsel = format!("{sel},handler=\"{h}\"");
        for w in ["5m", "30m", "1h"] {
            let mut r = rec(
                format!("slo:sli_error:ratio_rate{w}"),
                format!(
                    "sum by (job, handler) (rate({req}{{{hsel},status=~\"5..\"}}[{w}])) \
                     / sum by (job, handler) (rate({req}{{{hsel}}}[{w}]))"
                ),
            );
            r.labels = vec![("slo".into(), format!("{slug}-availability"))];
            slo.push(r);
            let mut r = rec(
                format!("slo:sli_error:ratio_rate{w}"),
                format!(
                    "1 - (sum by (job, handler) (rate({bucket}{{{hsel},le=\"0.5\"}}[{w}])) \
                     / sum by (job, handler) (rate({dcount}{{{hsel}}}[{w}])))"
                ),
            );
            r.labels = vec![("slo".into(), format!("{slug}-latency"))];
            slo.push(r);
        }
    }

    let resources = vec![
        rec(
            "instance:process_cpu_seconds:rate1m",
            format!("rate(process_cpu_seconds_total{{{sel}}}[1m])"),
        ),
        rec(
            "instance:process_cpu_seconds:rate5m",
            format!("rate(process_cpu_seconds_total{{{sel}}}[5m])"),
        ),
        rec(
            "job:process_cpu_seconds:sum_rate5m",
            format!("sum by (job) (rate(process_cpu_seconds_total{{{sel}}}[5m]))"),
        ),
        rec(
            "job:process_resident_memory_bytes:max",
            format!("max by (job) (process_resident_memory_bytes{{{sel}}})"),
        ),
        rec(
            "job:process_resident_memory_bytes:avg",
            format!("avg by (job) (process_resident_memory_bytes{{{sel}}})"),
        ),
        rec(
            "instance:process_resident_memory_bytes:max_over_time1h",
            format!("max_over_time(process_resident_memory_bytes{{{sel}}}[1h])"),
        ),
        rec(
            "instance:cpu_utilisation:avg",
            format!("avg by (job, instance) (cpu_utilisation_ratio{{{sel}}})"),
        ),
        rec(
            "instance:cpu_utilisation:avg5m",
            format!("avg by (job, instance) (avg_over_time(cpu_utilisation_ratio{{{sel}}}[5m]))"),
        ),
        rec(
            "job:cpu_utilisation:max_avg5m",
            format!("max by (job) (instance:cpu_utilisation:avg5m{{{sel}}})"),
        ),
        rec(
            "job:go_goroutines:sum",
            format!("sum by (job) (go_goroutines{{{sel}}})"),
        ),
        rec(
            "job_queue:queue_depth:max",
            format!("max by (job, queue) (queue_depth{{{sel}}})"),
        ),
        rec(
            "job_queue:queue_depth:max_over_time5m",
            format!("max by (job, queue) (max_over_time(queue_depth{{{sel}}}[5m]))"),
        ),
        rec(
            "instance_queue:queue_depth:deriv10m",
            format!("deriv(queue_depth{{{sel}}}[10m])"),
        ),
        rec("job:up:avg", format!("avg by (job) (up{{{sel}}})")),
        rec("job:up:count", format!("count by (job) (up{{{sel}}} == 1)")),
    ];

    let mut alerts = vec![
        alert(
            "HighErrorRate",
            format!("job:http_requests_error_ratio:rate5m{{{sel}}} > 0.05"),
            Some("5m"),
            "critical",
            "More than 5% of requests fail",
        ),
        alert(
            "ElevatedErrorRate",
            format!("job:http_requests_error_ratio:rate30m{{{sel}}} > 0.02"),
            Some("15m"),
            "warning",
            "More than 2% of requests fail",
        ),
        alert(
            "HandlerHighErrorRate",
            format!("job_handler:http_requests_error_ratio:rate5m{{{sel}}} > 0.1"),
            Some("10m"),
            "warning",
            "A handler fails more than 10% of requests",
        ),
    ];
    for h in HANDLERS {
        let slug = handler_slug(h);
        let s = format!("{sel},slo=\"{slug}-availability\"");
        alerts.push(
            alert(
                "ErrorBudgetBurnFast",
                format!(
                    "slo:sli_error:ratio_rate5m{{{s}}} > (14.4 * 0.001) \
                 and slo:sli_error:ratio_rate1h{{{s}}} > (14.4 * 0.001)"
                ),
                Some("2m"),
                "critical",
                "Error budget burning fast",
            )
            .with_label("slo", format!("{slug}-availability")),
        );
        alerts.push(
            alert(
                "ErrorBudgetBurnSlow",
                format!(
                    "slo:sli_error:ratio_rate30m{{{s}}} > (6 * 0.001) \
                 and slo:sli_error:ratio_rate1h{{{s}}} > (6 * 0.001)"
                ),
                Some("15m"),
                "warning",
                "Error budget burning",
            )
            .with_label("slo", format!("{slug}-availability")),
        );
    }
    for h in HANDLERS {
        let slug = handler_slug(h);
        let s = format!("{sel},slo=\"{slug}-latency\"");
        alerts.push(
            alert(
                "LatencyBudgetBurn",
                format!(
                    "slo:sli_error:ratio_rate5m{{{s}}} > (14.4 * 0.01) \
                 and slo:sli_error:ratio_rate1h{{{s}}} > (14.4 * 0.01)"
                ),
                Some("2m"),
                "critical",
                "Latency budget burning fast",
            )
            .with_label("slo", format!("{slug}-latency")),
        );
    }
    alerts.extend([
        alert(
            "HighLatencyP99",
            format!("job:http_request_duration_seconds:p99_rate5m{{{sel}}} > 0.5"),
            Some("10m"),
            "warning",
            "p99 latency above 500 ms",
        ),
        alert(
            "HandlerHighLatencyP90",
            format!(
                "histogram_quantile(0.9, sum by (le, job, handler) (rate({bucket}{{{sel}}}[5m]))) > 0.25"
            ),
            Some("10m"),
            "warning",
            "p90 latency of a handler above 250 ms",
        ),
        alert(
            "InstanceDown",
            format!("up{{{sel}}} == 0"),
            Some("2m"),
            "critical",
            "Instance down",
        ),
        alert(
            "TooFewInstances",
            format!("job:up:count{{{sel}}} < 3"),
            Some("5m"),
            "critical",
            "Fewer than 3 instances up",
        ),
        alert(
            "HighCPU",
            format!("instance:cpu_utilisation:avg5m{{{sel}}} > 0.9"),
            Some("15m"),
            "warning",
            "CPU above 90%",
        ),
        alert(
            "HighMemory",
            format!("process_resident_memory_bytes{{{sel}}} > 1.5e9"),
            Some("10m"),
            "warning",
            "Resident memory above 1.5 GB",
        ),
        alert(
            "MemoryWillExceedLimit",
            format!("predict_linear(process_resident_memory_bytes{{{sel}}}[30m], 4 * 3600) > 4e9"),
            Some("10m"),
            "warning",
            "Memory predicted above 4 GB within 4 h",
        ),
        alert(
            "QueueBacklog",
            format!("queue_depth{{{sel}}} > 500"),
            Some("15m"),
            "warning",
            "Queue backlog above 500",
        ),
        alert(
            "QueueGrowing",
            format!("instance_queue:queue_depth:deriv10m{{{sel}}} > 1"),
            Some("10m"),
            "warning",
            "Queue keeps growing",
        ),
        alert(
            "TrafficDrop",
            format!("job:http_requests:rate5m{{{sel}}} < 0.5 * job:http_requests:rate1h{{{sel}}}"),
            Some("10m"),
            "warning",
            "Traffic halved against the last hour",
        ),
        alert(
            "High4xxRate",
            format!(
                "sum by (job) (rate({req}{{{sel},status=~\"4..\"}}[5m])) \
                 / job:http_requests:rate5m{{{sel}}} > 0.2"
            ),
            Some("15m"),
            "warning",
            "More than 20% client errors",
        ),
        alert(
            "ProcessRestarted",
            format!("resets(process_cpu_seconds_total{{{sel}}}[15m]) > 0"),
            None,
            "info",
            "Process restarted",
        ),
        alert(
            "TooManyGoroutines",
            format!("go_goroutines{{{sel}}} > 5000"),
            Some("10m"),
            "warning",
            "More than 5000 goroutines",
        ),
    ]);

    vec![
        GenGroup {
            name: format!("{svc}.requests"),
            rules: requests,
        },
        GenGroup {
            name: format!("{svc}.latency"),
            rules: latency,
        },
        GenGroup {
            name: format!("{svc}.slo"),
            rules: slo,
        },
        GenGroup {
            name: format!("{svc}.resources"),
            rules: resources,
        },
        GenGroup {
            name: format!("{svc}.alerts"),
            rules: alerts,
        },
    ]
}

/// YAML double-quoted string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A rule file of exactly `rules` rules: the services' groups in turn, the last one
/// cut short. Past the eight services the same groups repeat with a `copy` label on
/// every rule, so outputs stay distinct.
pub fn rule_file(rules: usize) -> String {
    let mut out = String::from("groups:\n");
    let mut left = rules;
    let mut block = 0usize;
    while left > 0 {
        let svc = JOBS[block % JOBS.len()];
        let copy = block / JOBS.len();
        let groups = service_groups(svc);
        debug_assert_eq!(
            groups.iter().map(|g| g.rules.len()).sum::<usize>(),
            RULES_PER_SERVICE
        );
        for mut g in groups {
            if left == 0 {
                break;
            }
            g.rules.truncate(left);
            left -= g.rules.len();
            let name = if copy == 0 {
                g.name
            } else {
                format!("{}.copy{copy}", g.name)
            };
            let _ = writeln!(out, "  - name: {}", quote(&name));
            let _ = writeln!(out, "    interval: {}s", EVAL_INTERVAL_MS / 1000);
            out.push_str("    rules:\n");
            for mut r in g.rules {
                if copy > 0 {
                    r.labels.push(("copy".into(), copy.to_string()));
                }
                let _ = writeln!(out, "      - {}: {}", r.kind, quote(&r.name));
                let _ = writeln!(out, "        expr: {}", quote(&r.expr));
                if let Some(f) = r.for_ {
                    let _ = writeln!(out, "        for: {f}");
                }
                for (key, map) in [("labels", &r.labels), ("annotations", &r.annotations)] {
                    if map.is_empty() {
                        continue;
                    }
                    let _ = writeln!(out, "        {key}:");
                    for (k, v) in map {
                        let _ = writeln!(out, "          {k}: {}", quote(v));
                    }
                }
            }
        }
        block += 1;
    }
    out
}

/// Rule outputs into the TSDB, as the server's appender: samples refused as out of
/// order or duplicate are not failures, limits are.
struct DbAppender(Arc<Db>);

impl Appendable for DbAppender {
    fn append(&self, batch: &WriteBatch<'_>) -> Result<(), String> {
        let outcome = self.0.append(batch).map_err(|e| e.to_string())?;
        if outcome.any_limit_hit() {
            return Err(format!(
                "samples refused by storage limits: {}",
                outcome.first_rejection.unwrap_or_default()
            ));
        }
        Ok(())
    }
}

/// CPU time of this process (all threads), seconds.
fn process_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe {
        libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts);
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Replays the spool into `db`, one frame of each sender in turn so that all series
/// advance together (the head accepts samples only within its out-of-order window
/// behind its newest one).
fn fill_db(db: &Db, spool: &load::Spool) -> Result<u64> {
    let mut readers = Vec::new();
    for s in &spool.shards {
        let f = std::fs::File::open(&s.path)
            .with_context(|| format!("opening {}", s.path.display()))?;
        readers.push(Some(std::io::BufReader::with_capacity(1 << 20, f)));
    }
    let mut decoder = snap::raw::Decoder::new();
    let mut packed = Vec::new();
    let mut appended = 0u64;
    let mut live = readers.len();
    while live > 0 {
        for slot in readers.iter_mut() {
            let Some(r) = slot else { continue };
            let mut head = [0u8; 8];
            match r.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    *slot = None;
                    live -= 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let len = u32::from_le_bytes(head[0..4].try_into().unwrap()) as usize;
            packed.resize(len, 0);
            r.read_exact(&mut packed)?;
            let raw = decoder.decompress_vec(&packed)?;
            let req = WriteRequest::decode(raw.as_slice())?;
            let mut wb = WriteBatch::default();
            let mut refs = Vec::new();
            let mut samples = Vec::new();
            for ts in &req.timeseries {
                refs.clear();
                refs.extend(ts.labels.iter().map(|l| LabelRef {
                    name: &l.name,
                    value: &l.value,
                }));
                samples.clear();
                samples.extend(ts.samples.iter().map(|s| Sample {
                    t: s.timestamp,
                    v: s.value,
                }));
                wb.push_series(&refs, &samples);
            }
            let out = db
                .append(&wb)
                .map_err(|e| anyhow::anyhow!("append failed: {e}"))?;
            if out.rejected_total() > 0 {
                bail!(
                    "the TSDB refused {} samples: {}",
                    out.rejected_total(),
                    out.first_rejection.unwrap_or_default()
                );
            }
            appended += out.samples_appended;
        }
        if util::interrupted() {
            bail!("interrupted");
        }
    }
    Ok(appended)
}

struct Round {
    wall: f64,
    cpu: f64,
    samples: u64,
    failures: u64,
}

fn eval_round(groups: &mut [Group], env: &GroupEnv<'_>, ts: i64) -> Round {
    let failures0: u64 = groups.iter().map(|g| g.counters.evaluation_failures).sum();
    let cpu0 = process_cpu();
    let t = Instant::now();
    for g in groups.iter_mut() {
        g.eval(env, ts);
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = process_cpu() - cpu0;
    Round {
        wall,
        cpu,
        samples: groups.iter().map(|g| g.counters.last_samples).sum(),
        failures: groups
            .iter()
            .map(|g| g.counters.evaluation_failures)
            .sum::<u64>()
            - failures0,
    }
}

pub fn run(a: RulesArgs) -> Result<ExitCode> {
    let series = util::parse_count(&a.series)?;
    if a.rules == 0 || a.rounds == 0 {
        bail!("--rules and --rounds must be positive");
    }
    let started_ms = util::now_ms();
    let base = a.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)?;
    let root = tempfile::Builder::new()
        .prefix("pharos-bench-rules-")
        .tempdir_in(&base)?;

    let plan = Plan::new(series, a.hours, started_ms, a.seed, 2000, 4)?;
    eprintln!(
        "generating {} series x {} samples at 15 s ({} samples)",
        plan.series,
        plan.ticks,
        plan.total_samples()
    );
    let spool = load::generate(&plan, &root.path().join("spool"), a.keep)?;
    let db = Db::open(&root.path().join("pharos"), pharos_tsdb::Options::default())
        .map_err(|e| anyhow::anyhow!("opening the TSDB: {e}"))?;
    let t = Instant::now();
    let appended = fill_db(&db, &spool)?;
    drop(spool);
    let fill_secs = t.elapsed().as_secs_f64();
    eprintln!("  appended {appended} samples in {fill_secs:.1} s");
    if appended != plan.total_samples() {
        bail!(
            "the TSDB took {appended} of {} samples",
            plan.total_samples()
        );
    }

    let text = rule_file(a.rules);
    let rules_path = root.path().join("rules.yml");
    std::fs::write(&rules_path, &text)?;
    if let Some(p) = &a.rules_out {
        std::fs::write(p, &text).with_context(|| format!("writing {}", p.display()))?;
    }
    let mut groups = load_groups(
        &[&rules_path],
        &LoadOptions {
            default_interval_ms: EVAL_INTERVAL_MS,
            parse: ParseOptions {
                templates: Some(&GoTemplates),
                ..ParseOptions::default()
            },
            restore: false,
        },
    )
    .map_err(|errs| {
        anyhow::anyhow!(
            "the generated rule file does not load: {}",
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let n_rules: usize = groups.iter().map(|g| g.rules.len()).sum();
    let n_alerting = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| r.as_alerting().is_some())
        .count();

    let storage: Arc<dyn Queryable> = db.clone();
    let query = EngineQueryFunc {
        engine: Arc::new(Engine::new(EngineOptions {
            default_subquery_step_ms: EVAL_INTERVAL_MS,
            ..EngineOptions::default()
        })),
        storage: storage.clone(),
    };
    let appender = DbAppender(db.clone());
    let settings = Settings::default();
    let env = GroupEnv {
        query: &query,
        appender: &appender,
        queryable: storage.as_ref(),
        templates: &GoTemplates,
        notifier: None,
        settings: &settings,
    };

    // The last `rounds` slots of a live server ending at the newest data, after one
    // warm-up slot that creates the output series.
    let end = plan.end_ms() + 1000;
    let mut rounds = Vec::new();
    for k in (0..=a.rounds).rev() {
        let ts = end - k as i64 * EVAL_INTERVAL_MS;
        let r = eval_round(&mut groups, &env, ts);
        eprintln!(
            "  {} at end-{}s: wall {:.3} s, CPU {:.3} s, {} samples written, {} failures",
            if k == a.rounds { "warm-up" } else { "round" },
            k as i64 * EVAL_INTERVAL_MS / 1000,
            r.wall,
            r.cpu,
            r.samples,
            r.failures
        );
        if k != a.rounds {
            rounds.push(r);
        }
        if util::interrupted() {
            bail!("interrupted");
        }
    }

    let mut errors: Vec<String> = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter_map(|r| r.last_error.as_ref().map(|e| format!("{}: {e}", r.name())))
        .collect();
    errors.dedup();
    let mut slowest: Vec<(f64, String, String)> = groups
        .iter()
        .flat_map(|g| g.rules.iter().map(move |r| (g, r)))
        .map(|(g, r)| {
            (
                r.evaluation_duration.as_secs_f64(),
                g.name.clone(),
                r.expr().to_string(),
            )
        })
        .collect();
    slowest.sort_by(|x, y| y.0.total_cmp(&x.0));
    let firing: usize = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter_map(|r| r.as_alerting())
        .map(|r| r.active_alerts().len())
        .sum();

    let wall = util::median(rounds.iter().map(|r| r.wall).collect());
    let cpu = util::median(rounds.iter().map(|r| r.cpu).collect());
    let range = |f: fn(&Round) -> f64| {
        let v: Vec<f64> = rounds.iter().map(f).collect();
        (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(0.0, f64::max),
        )
    };
    let (wmin, wmax) = range(|r| r.wall);
    let (cmin, cmax) = range(|r| r.cpu);
    let samples = rounds.last().map_or(0, |r| r.samples);
    let failures: u64 = rounds.iter().map(|r| r.failures).sum();

    let mut d = String::new();
    let _ = writeln!(
        d,
        "## Rule evaluation benchmark, {}\n",
        util::iso_utc(started_ms)
    );
    let _ = writeln!(d, "- Machine: {}", crate::machine_summary());
    let _ = writeln!(d, "- Load average at start: {}", util::load_average());
    let _ = writeln!(
        d,
        "- Data: {} series, {} samples per series at 15 s ({} h), {} samples, appended in {:.1} s",
        plan.series, plan.ticks, a.hours, appended, fill_secs
    );
    let _ = writeln!(
        d,
        "- Rules: {} in {} groups ({} recording, {} alerting), {} measured rounds after one warm-up, \
         at the last {} slots of 15 s ending at the newest sample",
        n_rules,
        groups.len(),
        n_rules - n_alerting,
        n_alerting,
        rounds.len(),
        rounds.len()
    );
    d.push_str("- Prometheus: not measured (Pharos only)\n\n");
    d.push_str(
        "| Engine | Rules | Series | Wall s per evaluation (median) | min – max | CPU s per evaluation (median) | min – max | Samples written per evaluation | Failed rule evaluations |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let _ = writeln!(
        d,
        "| Pharos (in process, one thread) | {n_rules} | {} | {wall:.3} | {wmin:.3} – {wmax:.3} | {cpu:.3} | {cmin:.3} – {cmax:.3} | {samples} | {failures} |",
        plan.series
    );
    let _ = writeln!(
        d,
        "\nActive alerts after the last round: {firing}. Slowest rules of the last round:\n"
    );
    for (secs, group, expr) in slowest.iter().take(5) {
        let _ = writeln!(d, "- {:.1} ms, `{group}`: `{expr}`", secs * 1000.0);
    }
    if !errors.is_empty() {
        let _ = writeln!(d, "\nErrors ({}):\n", errors.len());
        for e in errors.iter().take(5) {
            let _ = writeln!(d, "- {e}");
        }
    }
    println!("{d}");
    std::fs::create_dir_all(&a.results_dir)
        .with_context(|| format!("creating {}", a.results_dir.display()))?;
    let path = a
        .results_dir
        .join(format!("{}-rules.md", util::file_stamp(started_ms)));
    std::fs::write(&path, &d).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("results written to {}", path.display());

    let _ = db.close();
    if a.keep {
        eprintln!("kept {}", root.keep().display());
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_rules::rulefmt;

    #[test]
    fn generated_rule_file_parses_with_1000_rules() {
        let text = rule_file(1000);
        let opts = ParseOptions {
            templates: Some(&GoTemplates),
            ..ParseOptions::default()
        };
        let groups = rulefmt::parse(&text, opts).unwrap_or_else(|e| {
            panic!(
                "{}",
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        let rules: usize = groups.groups.iter().map(|g| g.rules.len()).sum();
        assert_eq!(rules, 1000);
        assert_eq!(groups.groups.len(), 40);
        let alerting = groups
            .groups
            .iter()
            .flat_map(|g| &g.rules)
            .filter(|r| !r.alert.is_empty())
            .count();
        assert_eq!(alerting, 8 * 28);
        // Services share record names (their outputs differ by `job`), as they would
        // across per-service rule files, so promtool's duplicate lint does not apply.
        for g in &groups.groups {
            for r in &g.rules {
                rulefmt::check_expr(&r.expr).unwrap();
            }
        }
    }

    #[test]
    fn rule_counts_are_met_exactly() {
        for n in [1, 28, 29, 124, 125, 126, 999, 1001, 1250] {
            let groups = rulefmt::parse(&rule_file(n), ParseOptions::default()).unwrap();
            let rules: usize = groups.groups.iter().map(|g| g.rules.len()).sum();
            assert_eq!(rules, n);
        }
        let per_service: usize = service_groups("x").iter().map(|g| g.rules.len()).sum();
        assert_eq!(per_service, RULES_PER_SERVICE);
    }
}
