//! Ingest benchmark: a Prometheus remote_write load generator and a runner
//! that measures Pharos, Prometheus and VictoriaMetrics under the same load.
//! See bench/README.md.

mod expo;
mod load;
mod procfs;
mod report;
mod rng;
mod rules_bench;
mod scrape_bench;
mod send;
mod slo_bench;
mod targets;
mod util;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use load::{Plan, Spool};
use report::Measurement;
use send::SendOptions;
use targets::{Kind, Server, Timeouts};

#[derive(Parser)]
#[command(
    name = "pharos-bench",
    about = "remote_write ingest benchmark for Pharos and its peers"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start each target in turn, send it the same load, print the comparison.
    Run(RunArgs),
    /// Only generate load and send it to an already running receiver.
    Load(LoadArgs),
    /// Scrape-path throughput: Pharos and Prometheus scrape the same large body.
    Scrape(scrape_bench::ScrapeArgs),
    /// Rule evaluation: 1000 recording and alerting rules over 100k series, in process.
    Rules(rules_bench::RulesArgs),
    /// SLO budget engine: one evaluation with direct queries vs the bucket cache.
    Slo(slo_bench::SloArgs),
}

#[derive(Args, Clone)]
struct LoadShape {
    /// Simulated hours of 15 s scrapes to backfill, ending now.
    #[arg(long, default_value_t = 2.0)]
    hours: f64,
    /// Concurrent senders; each owns a fixed subset of the scrape targets.
    #[arg(long, default_value_t = 4)]
    senders: usize,
    /// Samples per request (Prometheus' max_samples_per_send default).
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Seed for every generated value; same seed, same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 60)]
    request_timeout: u64,
    /// Attempts per request on 429/5xx/connection errors.
    #[arg(long, default_value_t = 8)]
    attempts: u32,
    /// Upper bound on one replay, seconds.
    #[arg(long, default_value_t = 7200)]
    load_timeout: u64,
    /// Where temp dirs (spool, data dirs) go; defaults to the system temp dir.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep temp dirs for inspection instead of deleting them.
    #[arg(long)]
    keep: bool,
}

#[derive(Args)]
struct RunArgs {
    /// Active series counts, comma separated (`10k,100k`), or `auto`:
    /// 10k and 100k, plus 1M on machines with at least 8 CPUs and 48 GiB available.
    #[arg(long, default_value = "auto")]
    series: String,
    /// Targets to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "pharos,prometheus,victoriametrics"
    )]
    targets: Vec<Kind>,
    #[command(flatten)]
    shape: LoadShape,
    /// Pharos binary; defaults to `pharos` next to this binary.
    #[arg(long)]
    pharos_bin: Option<PathBuf>,
    #[arg(long, default_value = "prometheus")]
    prometheus_bin: String,
    #[arg(long, default_value = "victoria-metrics")]
    victoria_metrics_bin: String,
    /// Directory for the Markdown results file.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    results_dir: PathBuf,
    /// Seconds to wait for a target's readiness endpoint.
    #[arg(long, default_value_t = 120)]
    ready_timeout: u64,
    /// Seconds allowed for the flush/snapshot/merge request.
    #[arg(long, default_value_t = 1800)]
    flush_timeout: u64,
    /// Seconds to wait for VictoriaMetrics' merges to settle.
    #[arg(long, default_value_t = 900)]
    settle_timeout: u64,
    /// Seconds between readiness and the idle baseline, so start-up work is
    /// not mistaken for ingest.
    #[arg(long, default_value_t = 2)]
    idle_wait: u64,
}

#[derive(Args)]
struct LoadArgs {
    /// remote_write endpoint, e.g. http://127.0.0.1:9090/api/v1/write
    #[arg(long)]
    url: String,
    /// Active series (`10000`, `10k`, `1M`).
    #[arg(long, default_value = "10k")]
    series: String,
    #[command(flatten)]
    shape: LoadShape,
}

fn main() -> ExitCode {
    util::install_interrupt_handler();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run(a) => run(a),
        Cmd::Load(a) => load_only(a),
        Cmd::Scrape(a) => scrape_bench::run(a),
        Cmd::Rules(a) => rules_bench::run(a),
        Cmd::Slo(a) => slo_bench::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn work_root(shape: &LoadShape) -> Result<tempfile::TempDir> {
    let base = shape.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)?;
    tempfile::Builder::new()
        .prefix("pharos-bench-")
        .tempdir_in(&base)
        .with_context(|| format!("creating a temp dir in {}", base.display()))
}

fn build_spool(plan: &Plan, dir: &Path, keep: bool) -> Result<Spool> {
    eprintln!(
        "generating load: {} series x {} scrapes = {} samples in requests of {} over {} senders",
        plan.series,
        plan.ticks,
        plan.total_samples(),
        plan.batch,
        plan.shards
    );
    let t = Instant::now();
    let spool = load::generate(plan, dir, keep)?;
    eprintln!(
        "  {} requests, {:.1} MiB compressed, {:.1} s",
        spool.frames(),
        spool.bytes() as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    Ok(spool)
}

fn send_options(shape: &LoadShape, url: String) -> SendOptions {
    SendOptions {
        url,
        request_timeout: Duration::from_secs(shape.request_timeout),
        max_attempts: shape.attempts.max(1),
        deadline: Duration::from_secs(shape.load_timeout),
        progress_every: Duration::from_secs(10),
    }
}

fn load_only(a: LoadArgs) -> Result<ExitCode> {
    let series = util::parse_count(&a.series)?;
    let root = work_root(&a.shape)?;
    let plan = Plan::new(
        series,
        a.shape.hours,
        util::now_ms(),
        a.shape.seed,
        a.shape.batch,
        a.shape.senders,
    )?;
    let spool = build_spool(&plan, &root.path().join("spool"), a.shape.keep)?;
    let stats = send::replay(&spool, &send_options(&a.shape, a.url.clone()), &mut || true)?;
    println!(
        "sent {} requests in {:.1} s: {} samples accepted, {} rejected, {} failed, {} retries ({:.0} samples/s)",
        stats.requests,
        stats.elapsed.as_secs_f64(),
        stats.accepted,
        stats.rejected,
        stats.failed,
        stats.retries,
        stats.accepted as f64 / stats.elapsed.as_secs_f64().max(1e-9)
    );
    for e in &stats.errors {
        println!("  {e}");
    }
    if let Some(r) = &stats.aborted {
        println!("  stopped early: {r}");
    }
    drop(spool);
    if a.shape.keep {
        eprintln!("kept {}", root.keep().display());
    }
    Ok(if stats.rejected + stats.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A million series needs tens of GiB across the three systems and hours of
/// CPU on a small box, so `auto` only adds it where that is plausible.
fn series_list(spec: &str) -> Result<Vec<usize>> {
    if spec == "auto" {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let avail_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemAvailable:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .map_or(0.0, |kb| kb as f64 / 1048576.0);
        let mut v = vec![10_000, 100_000];
        if cpus >= 8 && avail_gib >= 48.0 {
            v.push(1_000_000);
        } else {
            eprintln!(
                "series=auto: skipping 1M series ({cpus} CPUs, {avail_gib:.0} GiB available; needs 8 and 48)"
            );
        }
        return Ok(v);
    }
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(util::parse_count)
        .collect()
}

fn binary_for(kind: Kind, a: &RunArgs) -> Result<PathBuf> {
    let (name, found) = match kind {
        Kind::Pharos => {
            let p = match &a.pharos_bin {
                Some(p) => p.clone(),
                None => std::env::current_exe()?
                    .parent()
                    .map(|d| d.join("pharos"))
                    .unwrap_or_else(|| PathBuf::from("pharos")),
            };
            (p.display().to_string(), p.is_file().then_some(p))
        }
        Kind::Prometheus => (a.prometheus_bin.clone(), util::which(&a.prometheus_bin)),
        Kind::VictoriaMetrics => (
            a.victoria_metrics_bin.clone(),
            util::which(&a.victoria_metrics_bin),
        ),
    };
    found.with_context(|| {
        format!(
            "{} binary not found ({name}); bench/run builds/installs it",
            kind.name()
        )
    })
}

fn version_of(kind: Kind, bin: &Path) -> String {
    let probe = |args: &[&str]| {
        util::capture(bin, args, Duration::from_secs(5))
            .and_then(|o| o.lines().find(|l| !l.trim().is_empty()).map(str::to_string))
    };
    let dpkg = |pkg: &str| {
        util::which("dpkg-query")
            .and_then(|q| {
                util::capture(&q, &["-W", "-f", "${Version}", pkg], Duration::from_secs(5))
            })
            .filter(|v| !v.trim().is_empty() && !v.contains("no packages"))
            .map(|v| format!("{pkg} {} (Debian package)", v.trim()))
    };
    let found = match kind {
        Kind::Pharos => probe(&["--version"]),
        Kind::Prometheus => probe(&["--version"]),
        // Debian's build leaves the embedded version empty.
        Kind::VictoriaMetrics => probe(&["-version"]).or_else(|| dpkg("victoria-metrics")),
    };
    found.unwrap_or_else(|| "unknown version".into())
}

fn run(a: RunArgs) -> Result<ExitCode> {
    let series_counts = series_list(&a.series)?;
    if series_counts.is_empty() || a.targets.is_empty() {
        bail!("nothing to run");
    }
    let mut kinds = a.targets.clone();
    kinds.dedup();
    let started_ms = util::now_ms();
    let root = work_root(&a.shape)?;
    let timeouts = Timeouts {
        ready: Duration::from_secs(a.ready_timeout),
        flush: Duration::from_secs(a.flush_timeout),
        settle: Duration::from_secs(a.settle_timeout),
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;

    let bins: Vec<(Kind, Result<PathBuf>)> =
        kinds.iter().map(|&k| (k, binary_for(k, &a))).collect();
    let mut versions = String::new();
    for (k, b) in &bins {
        let v = match b {
            Ok(p) => format!("{} ({})", version_of(*k, p), p.display()),
            Err(e) => format!("unavailable: {e}"),
        };
        let _ = writeln!(versions, "- {}: {v}", k.name());
    }
    eprint!("{versions}");

    let competing = util::competing_servers();
    if !competing.is_empty() {
        eprintln!(
            "warning: other server processes are running and will skew CPU figures: {}",
            competing.join(", ")
        );
    }
    let load_at_start = util::load_average();

    let total: u64 = series_counts
        .iter()
        .map(|&s| Plan::new(s, a.shape.hours, started_ms, 0, 1, 1).map_or(0, |p| p.total_samples()))
        .sum();
    eprintln!(
        "plan: series {:?}, {} h simulated, {} samples per target in total, targets run one after another",
        series_counts, a.shape.hours, total
    );

    // Deliberately one end time for the whole run: every target receives the
    // same bytes even though later ones start later.
    let retention_days = (a.shape.hours / 24.0).ceil() as u64 + 31;
    let mut rows: Vec<Measurement> = Vec::new();
    for &series in &series_counts {
        if util::interrupted() {
            break;
        }
        let plan = Plan::new(
            series,
            a.shape.hours,
            started_ms,
            a.shape.seed,
            a.shape.batch,
            a.shape.senders,
        )?;
        let spool = build_spool(
            &plan,
            &root.path().join(format!("spool-{series}")),
            a.shape.keep,
        )?;
        for (kind, bin) in &bins {
            if util::interrupted() {
                break;
            }
            let mut m = Measurement::new(*kind, series);
            match bin {
                Ok(bin) => {
                    eprintln!("== {} @ {series} series", kind.name());
                    let dir = root.path().join(format!("{}-{series}", kind.slug()));
                    if let Err(e) = measure(
                        &mut m,
                        *kind,
                        bin,
                        dir,
                        &plan,
                        &spool,
                        &a,
                        &timeouts,
                        &client,
                        retention_days,
                    ) {
                        eprintln!("  {} failed: {e:#}", kind.name());
                        m.error = Some(format!("{e:#}"));
                    }
                }
                Err(e) => m.error = Some(format!("{e:#}")),
            }
            let row = report::table(std::slice::from_ref(&m));
            eprintln!("  {}", row.lines().last().unwrap_or_default());
            rows.push(m);
        }
    }
    if a.shape.keep {
        eprintln!("kept {}", root.keep().display());
    } else {
        drop(root);
    }

    let mut context = versions.clone();
    let _ = writeln!(context, "- Load average at start: {load_at_start}");
    if !competing.is_empty() {
        let _ = writeln!(
            context,
            "- Warning: other server processes were running: {}",
            competing.join(", ")
        );
    }
    let doc = render(&a, &series_counts, started_ms, &context, &rows);
    println!("{doc}");
    std::fs::create_dir_all(&a.results_dir)
        .with_context(|| format!("creating {}", a.results_dir.display()))?;
    let path = a
        .results_dir
        .join(format!("{}.md", util::file_stamp(started_ms)));
    std::fs::write(&path, &doc).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("results written to {}", path.display());

    if util::interrupted() {
        eprintln!("interrupted: the table is partial");
        return Ok(ExitCode::from(130));
    }
    Ok(if rows.iter().any(|m| m.error.is_some()) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

#[allow(clippy::too_many_arguments)]
fn measure(
    m: &mut Measurement,
    kind: Kind,
    bin: &Path,
    dir: PathBuf,
    plan: &Plan,
    spool: &Spool,
    a: &RunArgs,
    timeouts: &Timeouts,
    client: &reqwest::blocking::Client,
    retention_days: u64,
) -> Result<()> {
    let mut server = Server::start(kind, bin, dir, retention_days, a.shape.keep)?;
    server.wait_ready(client, timeouts.ready)?;
    util::sleep(Duration::from_secs(a.idle_wait))?;
    let pid = server.pid;
    let cpu0 = procfs::cpu_seconds(pid)?;
    let own0 = procfs::cpu_seconds(std::process::id())?;
    let busy0 = procfs::machine_busy_seconds()?;
    m.idle_rss = Some(procfs::memory(pid)?.rss);

    eprintln!("  sending to {}", server.write_url());
    let opts = send_options(&a.shape, server.write_url());
    let t_load = Instant::now();
    let stats = send::replay(spool, &opts, &mut || server.alive())?;
    let aborted = stats.aborted.clone();
    let accepted = stats.accepted;
    m.stats = Some(stats);
    if let Some(reason) = aborted {
        bail!("load did not complete: {reason}");
    }
    if accepted == 0 {
        bail!("the target accepted no samples");
    }

    let t = Instant::now();
    let (disk, note) = server.persist(client, timeouts)?;
    m.flush_secs = Some(t.elapsed().as_secs_f64());
    // Read CPU and peak memory before the read-back queries so that query
    // work is not attributed to ingest.
    let server_cpu = procfs::cpu_seconds(pid)? - cpu0;
    m.cpu_secs = Some(server_cpu);
    // The machine may be shared: record how much CPU went to neither the
    // server nor the load generator while the figures were being taken.
    let own = procfs::cpu_seconds(std::process::id())? - own0;
    let busy = procfs::machine_busy_seconds()? - busy0;
    let window = t_load.elapsed().as_secs_f64();
    m.notes.push(format!(
        "CPU over the {window:.0} s window: server {server_cpu:.1} s, load generator {own:.1} s, \
         everything else ≈{:.1} s",
        (busy - server_cpu - own).max(0.0)
    ));
    m.peak_rss = Some(procfs::memory(pid)?.hwm);
    m.disk_bytes = Some(disk);
    m.notes.extend(note);

    m.check = read_back(&server, client, plan, accepted);
    Ok(())
}

/// Confirms the data is queryable: the number of `http_requests_total`
/// series, and the number of `up` samples over the whole window. Without a
/// query API, falls back to the sample counts the blocks declare.
fn read_back(
    server: &Server,
    client: &reqwest::blocking::Client,
    plan: &Plan,
    accepted: u64,
) -> String {
    let without_queries = || match server.block_samples() {
        Some(n) if n == accepted => format!("no query API; blocks hold all {n} samples"),
        Some(n) => format!("no query API; blocks hold {n} of {accepted} samples"),
        None => "skipped (no query API)".into(),
    };
    let at = plan.end_ms() + 1000;
    let window_s = plan.ticks as i64 * load::INTERVAL_MS / 1000 + 60;
    let checks = [
        (
            "count(http_requests_total)".to_string(),
            plan.request_counter_series(),
        ),
        (
            format!("sum(count_over_time(up[{window_s}s]))"),
            plan.up_series() * plan.ticks as u64,
        ),
    ];
    let mut problems = Vec::new();
    for (q, want) in &checks {
        match server.query_scalar(client, q, at) {
            Ok(None) => return without_queries(),
            Ok(Some(got)) if got == *want as f64 => {}
            Ok(Some(got)) => problems.push(format!("`{q}` = {got}, expected {want}")),
            Err(e) => problems.push(format!("`{q}` failed: {e:#}")),
        }
    }
    if problems.is_empty() {
        "ok".into()
    } else {
        problems.join("; ")
    }
}

fn machine_summary() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or_else(|| "?".into(), |kb| format!("{:.1}", kb as f64 / 1048576.0));
    format!("{cpus} x {cpu}, {mem} GiB RAM")
}

fn render(
    a: &RunArgs,
    series: &[usize],
    started_ms: i64,
    context: &str,
    rows: &[Measurement],
) -> String {
    let mut d = String::new();
    let _ = writeln!(d, "## Ingest benchmark, {}\n", util::iso_utc(started_ms));
    let _ = writeln!(d, "- Machine: {}", machine_summary());
    let _ = writeln!(
        d,
        "- Load: series {:?}, {} h of 15 s scrapes backfilled, {} samples/request, {} senders, seed {}",
        series, a.shape.hours, a.shape.batch, a.shape.senders, a.shape.seed
    );
    d.push_str(context);
    d.push('\n');
    d.push_str(&report::table(rows));
    d.push('\n');
    let r = report::ratios(rows);
    if !r.is_empty() {
        d.push_str("Ratios (Pharos ÷ peer; below 1.00× means Pharos uses less):\n\n");
        d.push_str(&r);
        d.push('\n');
    }
    d.push_str("Disk figures count:\n\n");
    let mut kinds: Vec<Kind> = rows.iter().map(|m| m.kind).collect();
    kinds.dedup();
    for k in [Kind::Pharos, Kind::Prometheus, Kind::VictoriaMetrics] {
        if kinds.contains(&k) {
            let _ = writeln!(d, "- {}: {}", k.name(), k.disk_scope());
        }
    }
    let n = report::notes(rows);
    if !n.is_empty() {
        d.push_str("\nNotes:\n\n");
        d.push_str(&n);
    }
    d
}
