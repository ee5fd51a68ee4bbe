//! Scrape-path throughput: Pharos and Prometheus each scrape the same large text
//! exposition over HTTP on the same interval, one after the other, and the run reports
//! how many samples each ingests per CPU-second of its process (= samples/s per core).
//! An in-process measure of Pharos's parser and TSDB append on the same body follows.
//! See bench/README.md, "Scrape benchmark".

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::expo::Body;
use crate::procfs;
use crate::targets::Kind;
use crate::util;

#[derive(Args)]
pub struct ScrapeArgs {
    /// Series in the exposed body (`100k`, `250000`).
    #[arg(long, default_value = "100k")]
    series: String,
    /// Scrape interval (and timeout) of both servers, seconds.
    #[arg(long, default_value_t = 3)]
    interval: u64,
    /// Scrapes to let pass before measuring (series creation, first chunks).
    #[arg(long, default_value_t = 5)]
    warmup_scrapes: u64,
    /// Measurement windows per server; the report gives their median.
    #[arg(long, default_value_t = 5)]
    windows: usize,
    /// Scrape intervals per measurement window.
    #[arg(long, default_value_t = 8)]
    window_scrapes: u64,
    /// Servers to measure, in order (Pharos and/or Prometheus).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "pharos,prometheus"
    )]
    targets: Vec<Kind>,
    /// Rounds of the in-process parse and append measure (0 skips it).
    #[arg(long, default_value_t = 10)]
    micro_rounds: u64,
    /// Seed of the body's labels and values.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Pharos binary; defaults to `pharos` next to this binary.
    #[arg(long)]
    pharos_bin: Option<PathBuf>,
    #[arg(long, default_value = "prometheus")]
    prometheus_bin: String,
    /// Directory for the Markdown results file.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    results_dir: PathBuf,
    /// Seconds to wait for a server's `/-/ready`.
    #[arg(long, default_value_t = 120)]
    ready_timeout: u64,
    /// Where the temp dirs go; defaults to the system temp dir.
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// The HTTP side: one body, rendered afresh for every request, and a count of the
/// bodies delivered in full.
struct Exposer {
    body: Body,
    rendered: AtomicU64,
    delivered: AtomicU64,
}

fn start_exposer(body: Body) -> Result<(u16, Arc<Exposer>)> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the exposer")?;
    let port = listener.local_addr()?.port();
    let ex = Arc::new(Exposer {
        body,
        rendered: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
    });
    let shared = ex.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let ex = shared.clone();
            std::thread::spawn(move || {
                let _ = serve_connection(stream, &ex);
            });
        }
    });
    Ok((port, ex))
}

/// HTTP/1.1 with keep-alive, as scrapers reuse connections: one GET after another
/// until the peer closes.
fn serve_connection(mut stream: TcpStream, ex: &Exposer) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut pending = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let end = loop {
            if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut buf)?;
            if n == 0 || pending.len() > 1 << 16 {
                return Ok(());
            }
            pending.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&pending[..end]).into_owned();
        pending.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/");
        if path != "/metrics" {
            stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
            continue;
        }
        let n = ex.rendered.fetch_add(1, Ordering::Relaxed);
        let body = ex.body.render(n);
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )?;
        stream.write_all(body.as_bytes())?;
        stream.flush()?;
        ex.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

/// A scraping server with its temp dir; stopped on drop.
struct Proc {
    child: Child,
    pid: u32,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scrape_config(interval: u64, target_port: u16) -> String {
    format!(
        "scrape_configs:\n  - job_name: bench\n    scrape_interval: {interval}s\n    \
         scrape_timeout: {interval}s\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
    )
}

fn start_server(kind: Kind, bin: &Path, a: &ScrapeArgs, target_port: u16) -> Result<Proc> {
    let base = a.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)?;
    let dir = tempfile::Builder::new()
        .prefix("pharos-bench-scrape-")
        .tempdir_in(&base)?;
    let port = util::free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let log = dir.path().join("server.log");
    let config = dir.path().join("config.yml");
    let scrape = scrape_config(a.interval, target_port);
    let mut cmd = Command::new(bin);
    match kind {
        Kind::Pharos => {
            // Only the benchmark job: the self-scrape would add work of its own.
            std::fs::write(&config, format!("self_scrape: false\n{scrape}"))?;
            cmd.arg("serve")
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .arg("--listen")
                .arg(&listen)
                .arg("--config")
                .arg(&config);
        }
        Kind::Prometheus => {
            std::fs::write(&config, &scrape)?;
            cmd.arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={listen}"))
                .arg("--log.level=warn");
        }
        Kind::VictoriaMetrics => bail!("the scrape benchmark runs Pharos and Prometheus only"),
    }
    let logf = std::fs::File::create(&log)?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(Proc {
        pid: child.id(),
        child,
        url: format!("http://{listen}"),
        log,
        _dir: dir,
    })
}

fn wait_ready(p: &mut Proc, client: &reqwest::blocking::Client, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = p.child.try_wait() {
            bail!(
                "exited before becoming ready ({status}):\n{}",
                util::tail(&p.log, 15)
            );
        }
        if let Ok(r) = client.get(format!("{}/-/ready", p.url)).send() {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("not ready after {limit:?}:\n{}", util::tail(&p.log, 15));
        }
        util::sleep(Duration::from_millis(100))?;
    }
}

/// Waits until `count` has reached `target`, or fails after `limit`.
fn wait_count(count: &AtomicU64, target: u64, limit: Duration, what: &str) -> Result<()> {
    let deadline = Instant::now() + limit;
    while count.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            bail!(
                "{what}: only {} of {target} scrapes after {limit:?}",
                count.load(Ordering::Relaxed)
            );
        }
        util::sleep(Duration::from_millis(20))?;
    }
    Ok(())
}

/// One measurement window.
struct Window {
    scrapes: u64,
    cpu_secs: f64,
}

struct ServerResult {
    kind: Kind,
    windows: Vec<Window>,
    rss_mib: f64,
    check: String,
}

impl ServerResult {
    fn rates(&self, series: usize) -> Vec<f64> {
        self.windows
            .iter()
            .map(|w| w.scrapes as f64 * series as f64 / w.cpu_secs.max(1e-9))
            .collect()
    }
}

fn measure_server(
    kind: Kind,
    bin: &Path,
    a: &ScrapeArgs,
    port: u16,
    ex: &Exposer,
    series: usize,
    client: &reqwest::blocking::Client,
) -> Result<ServerResult> {
    let interval = Duration::from_secs(a.interval);
    let mut p = start_server(kind, bin, a, port)?;
    wait_ready(&mut p, client, Duration::from_secs(a.ready_timeout))?;
    let first = ex.delivered.load(Ordering::Relaxed);
    let slack = interval * 3 + Duration::from_secs(30);
    wait_count(
        &ex.delivered,
        first + a.warmup_scrapes,
        interval * a.warmup_scrapes as u32 + slack,
        "warm-up",
    )?;
    // Start half an interval after a scrape was delivered: the server is between
    // scrapes then, so each window holds the whole work of the scrapes inside it.
    let next = ex.delivered.load(Ordering::Relaxed) + 1;
    wait_count(&ex.delivered, next, interval + slack, "alignment")?;
    util::sleep(interval / 2)?;
    let span = interval * a.window_scrapes as u32;
    let mut windows = Vec::new();
    let mut at = Instant::now();
    let mut cpu0 = procfs::cpu_seconds(p.pid)?;
    let mut done0 = ex.delivered.load(Ordering::Relaxed);
    for i in 0..a.windows {
        at += span;
        util::sleep(at.saturating_duration_since(Instant::now()))?;
        if let Ok(Some(status)) = p.child.try_wait() {
            bail!(
                "exited while measured ({status}):\n{}",
                util::tail(&p.log, 15)
            );
        }
        let cpu1 = procfs::cpu_seconds(p.pid)?;
        let done1 = ex.delivered.load(Ordering::Relaxed);
        let w = Window {
            scrapes: done1 - done0,
            cpu_secs: cpu1 - cpu0,
        };
        eprintln!(
            "  window {}: {} scrapes, {:.2} CPU-s, {:.0} samples/s per core",
            i + 1,
            w.scrapes,
            w.cpu_secs,
            w.scrapes as f64 * series as f64 / w.cpu_secs.max(1e-9)
        );
        windows.push(w);
        cpu0 = cpu1;
        done0 = done1;
    }
    let rss_mib = procfs::memory(p.pid)?.rss as f64 / 1048576.0;
    let check = check_server(&p, client, series);
    Ok(ServerResult {
        kind,
        windows,
        rss_mib,
        check,
    })
}

/// The server's own view: its last scrape was up and took in every series.
fn check_server(p: &Proc, client: &reqwest::blocking::Client, series: usize) -> String {
    let q = |expr: &str| -> Option<f64> {
        let v: serde_json::Value = client
            .get(format!("{}/api/v1/query", p.url))
            .query(&[("query", expr)])
            .send()
            .ok()?
            .text()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    let up = q(r#"up{job="bench"}"#);
    let scraped = q(r#"scrape_samples_scraped{job="bench"}"#);
    let stored = q(r#"count({job="bench",__name__!~"up|scrape_.*"})"#);
    let want = series as f64;
    if up == Some(1.0) && scraped == Some(want) && stored == Some(want) {
        "ok".into()
    } else {
        format!(
            "up {up:?}, scrape_samples_scraped {scraped:?}, stored series {stored:?} (want {want})"
        )
    }
}

/// In-process: Pharos's streaming parser alone, then parse plus labels (borrowed, with
/// `job` and `instance` added, no relabeling) plus append into a TSDB, one scrape's
/// body per round with fresh values and a timestamp 15 s after the previous one. The
/// first round creates the series, as a target's first scrape does.
fn micro(body: &Body, rounds: u64, dir: &Path) -> Result<(f64, f64)> {
    use pharos_ingest::exposition::{Entry, Format, Parser};
    use pharos_model::{LabelRef, Sample, WriteBatch};

    let db = pharos_tsdb::Db::open(dir, pharos_tsdb::Options::default())
        .map_err(|e| anyhow::anyhow!("opening a TSDB in {}: {e}", dir.display()))?;
    let series = body.series() as f64;
    let bodies: Vec<String> = (0..rounds).map(|n| body.render(n)).collect();

    let t = Instant::now();
    let mut count = 0u64;
    for text in &bodies {
        for e in Parser::new(text.as_bytes(), Format::PrometheusText) {
            if let Entry::Sample(s) = e? {
                count += u64::from(s.value.is_finite());
            }
        }
    }
    let parse_rate = rounds as f64 * series / t.elapsed().as_secs_f64();
    if count == 0 {
        bail!("the body parsed to no samples");
    }

    let mut ts = util::now_ms() - rounds as i64 * 15_000;
    let cpu0 = procfs::cpu_seconds(std::process::id())?;
    for text in &bodies {
        // Labels borrow from the body (unescaped copies only where a value has an
        // escape), sorted by name with `job` and `instance` added, as a scrape without
        // relabel rules would hand them to storage.
        let mut lines: Vec<(BorrowedLabels<'_>, f64)> = Vec::with_capacity(body.series());
        for e in Parser::new(text.as_bytes(), Format::PrometheusText) {
            if let Entry::Sample(s) = e? {
                let mut pairs: BorrowedLabels<'_> = Vec::with_capacity(s.labels.len() + 3);
                pairs.push(("__name__", Cow::Borrowed(s.name)));
                pairs.push(("job", Cow::Borrowed("bench")));
                pairs.push(("instance", Cow::Borrowed("127.0.0.1:9100")));
                pairs.extend(s.labels.iter().map(|l| (l.name, l.value.unescape())));
                pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
                lines.push((pairs, s.value));
            }
        }
        let mut wb = WriteBatch::default();
        let mut refs = Vec::new();
        for (pairs, v) in &lines {
            refs.clear();
            refs.extend(pairs.iter().map(|(name, value)| LabelRef {
                name,
                value: value.as_ref(),
            }));
            wb.push_series(&refs, &[Sample { t: ts, v: *v }]);
        }
        db.append(&wb)
            .map_err(|e| anyhow::anyhow!("append failed: {e}"))?;
        ts += 15_000;
    }
    // Process CPU, so the TSDB's background threads are counted too.
    let cpu = procfs::cpu_seconds(std::process::id())? - cpu0;
    let append_rate = rounds as f64 * series / cpu.max(1e-9);
    Ok((parse_rate, append_rate))
}

/// Label name and value borrowed from a body, unescaped only where needed.
type BorrowedLabels<'a> = Vec<(&'a str, Cow<'a, str>)>;

fn pharos_binary(a: &ScrapeArgs) -> Result<PathBuf> {
    let p = match &a.pharos_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("pharos"))
            .unwrap_or_else(|| PathBuf::from("pharos")),
    };
    if !p.is_file() {
        bail!(
            "Pharos binary not found ({}); bench/run builds it",
            p.display()
        );
    }
    Ok(p)
}

pub fn run(a: ScrapeArgs) -> Result<std::process::ExitCode> {
    let series = util::parse_count(&a.series)?;
    if a.windows == 0 || a.window_scrapes == 0 || a.interval == 0 {
        bail!("--windows, --window-scrapes and --interval must be positive");
    }
    let started_ms = util::now_ms();
    eprintln!("building a {series}-series body");
    let body = Body::new(series, a.seed);
    let sample_bytes = body.render(0).len();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;

    let micro_result = if a.micro_rounds > 0 {
        eprintln!("in-process parse and append, {} rounds", a.micro_rounds);
        let dir = tempfile::tempdir()?;
        Some(micro(&body, a.micro_rounds, dir.path())?)
    } else {
        None
    };

    let (port, ex) = start_exposer(body)?;
    let load_at_start = util::load_average();
    let mut results = Vec::new();
    let mut versions = String::new();
    for &kind in &a.targets {
        if util::interrupted() {
            break;
        }
        let bin = match kind {
            Kind::Pharos => pharos_binary(&a)?,
            Kind::Prometheus => util::which(&a.prometheus_bin).with_context(|| {
                format!("{} not found; bench/run installs it", a.prometheus_bin)
            })?,
            Kind::VictoriaMetrics => bail!("the scrape benchmark runs Pharos and Prometheus only"),
        };
        let version = util::capture(&bin, &["--version"], Duration::from_secs(5))
            .and_then(|o| o.lines().next().map(str::to_string))
            .unwrap_or_else(|| "unknown version".into());
        let _ = writeln!(versions, "- {}: {version} ({})", kind.name(), bin.display());
        eprintln!(
            "== {} scraping {series} series every {}s",
            kind.name(),
            a.interval
        );
        let r = measure_server(kind, &bin, &a, port, &ex, series, &client)
            .with_context(|| format!("{} run", kind.name()))?;
        results.push(r);
    }

    let doc = render(
        &a,
        series,
        sample_bytes,
        started_ms,
        &load_at_start,
        &versions,
        &results,
        micro_result,
    );
    println!("{doc}");
    std::fs::create_dir_all(&a.results_dir)?;
    let path = a
        .results_dir
        .join(format!("{}-scrape.md", util::file_stamp(started_ms)));
    std::fs::write(&path, &doc).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("results written to {}", path.display());
    Ok(if results.iter().all(|r| r.check == "ok") {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(2)
    })
}

#[allow(clippy::too_many_arguments)]
fn render(
    a: &ScrapeArgs,
    series: usize,
    body_bytes: usize,
    started_ms: i64,
    load: &str,
    versions: &str,
    results: &[ServerResult],
    micro: Option<(f64, f64)>,
) -> String {
    let mut d = String::new();
    let _ = writeln!(d, "## Scrape benchmark, {}\n", util::iso_utc(started_ms));
    let _ = writeln!(
        d,
        "- Body: {series} series, text format 0.0.4, {:.1} MiB uncompressed, values change every scrape",
        body_bytes as f64 / 1048576.0
    );
    let _ = writeln!(
        d,
        "- Scrape interval {}s; {} warm-up scrapes, then {} windows of {} intervals each; servers run one after another",
        a.interval, a.warmup_scrapes, a.windows, a.window_scrapes
    );
    d.push_str(versions);
    let _ = writeln!(d, "- Load average at start: {load}\n");
    d.push_str(
        "| Server | Samples/s per core (median) | min – max | µs CPU per sample | Scrapes measured | CPU-s measured | RSS MiB at end | Check |\n\
         |---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut medians = Vec::new();
    for r in results {
        let rates = r.rates(series);
        let med = util::median(rates.clone());
        medians.push((r.kind, med));
        let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rates.iter().copied().fold(0.0, f64::max);
        let scrapes: u64 = r.windows.iter().map(|w| w.scrapes).sum();
        let cpu: f64 = r.windows.iter().map(|w| w.cpu_secs).sum();
        let _ = writeln!(
            d,
            "| {} | {:.0} | {:.0} – {:.0} | {:.3} | {} | {:.2} | {:.1} | {} |",
            r.kind.name(),
            med,
            min,
            max,
            1e6 / med,
            scrapes,
            cpu,
            r.rss_mib,
            r.check
        );
    }
    let get = |k: Kind| medians.iter().find(|(x, _)| *x == k).map(|(_, m)| *m);
    if let (Some(p), Some(q)) = (get(Kind::Pharos), get(Kind::Prometheus)) {
        let _ = writeln!(
            d,
            "\nPharos ÷ Prometheus, samples/s per core: {:.2}× (above 1.00× means Pharos ingests more per CPU-second)",
            p / q
        );
    }
    if let Some((parse, append)) = micro {
        let _ = writeln!(
            d,
            "\nIn-process (Pharos libraries, one thread, {} rounds of the same body): parse only {:.2} M samples/s; \
             parse + labels + TSDB append {:.2} M samples/s per core (process CPU; the first round creates the series).",
            a.micro_rounds,
            parse / 1e6,
            append / 1e6
        );
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(util::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(util::median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(util::median(Vec::new()).is_nan());
    }

    #[test]
    fn exposer_serves_fresh_bodies_over_keep_alive() {
        let (port, ex) = start_exposer(Body::new(300, 3)).unwrap();
        let client = reqwest::blocking::Client::new();
        let url = format!("http://127.0.0.1:{port}/metrics");
        let a = client.get(&url).send().unwrap().text().unwrap();
        let b = client.get(&url).send().unwrap().text().unwrap();
        assert_eq!(a.lines().filter(|l| !l.starts_with('#')).count(), 300);
        assert_ne!(a, b, "values change between scrapes");
        // Counted after the body is flushed, so the client may read it first.
        wait_count(&ex.delivered, 2, Duration::from_secs(5), "delivered").unwrap();
        assert_eq!(ex.delivered.load(Ordering::Relaxed), 2);
        let missing = client
            .get(format!("http://127.0.0.1:{port}/other"))
            .send()
            .unwrap();
        assert_eq!(missing.status().as_u16(), 404);
    }
}
