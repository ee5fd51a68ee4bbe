//! Synthetic scrape data shaped like a fleet of HTTP services, and its encoding
//! into remote_write requests.
//!
//! The load is generated once per series count into "spool" files (one per
//! sender) holding ready-to-send request bodies. Replaying the same files to
//! every target guarantees byte-identical load, and keeps the generator's own
//! CPU out of the window in which the targets are measured.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pharos_ingest::remote_write::proto::{Label, Sample, TimeSeries, WriteRequest};
use prost::Message;

use crate::rng::{mix, norm_cdf, Rng};

/// Prometheus' default scrape interval; also what the head-block chunking of
/// every target is tuned for.
pub const INTERVAL_MS: i64 = 15_000;

pub const JOBS: [&str; 8] = [
    "api-gateway",
    "checkout",
    "catalog",
    "auth",
    "search",
    "payments",
    "notifications",
    "inventory",
];
const METHODS: [&str; 3] = ["GET", "POST", "DELETE"];
pub const HANDLERS: [&str; 4] = [
    "/api/v1/items",
    "/api/v1/users/:id",
    "/api/v1/search",
    "/healthz",
];
/// client_golang's default buckets.
const LE: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const LE_LABELS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];
const QUEUES: [&str; 9] = [
    "ingest",
    "email",
    "billing",
    "webhooks",
    "search-index",
    "thumbnails",
    "exports",
    "audit",
    "notifications",
];
const CPUS: usize = 4;
const FULL_QUEUES: usize = 3;
/// up, process_resident_memory_bytes, process_cpu_seconds_total, go_goroutines.
const PROCESS_SERIES: usize = 4;
const STATUSES: usize = 4;
/// Per (method, handler): http_requests_total per status, every bucket
/// (including +Inf), _sum and _count.
const ENDPOINT_SERIES: usize = STATUSES + LE_LABELS.len() + 2;
const ENDPOINTS: usize = METHODS.len() * HANDLERS.len();
pub const SERIES_PER_INSTANCE: usize =
    ENDPOINTS * ENDPOINT_SERIES + PROCESS_SERIES + CPUS + FULL_QUEUES;

fn statuses(method: &str) -> [&'static str; STATUSES] {
    match method {
        "GET" => ["200", "304", "404", "500"],
        "POST" => ["201", "400", "409", "500"],
        _ => ["204", "403", "404", "500"],
    }
}

/// Which series one scrape target exposes. All targets are full except
/// possibly the last, which is trimmed so the total hits the requested series
/// count exactly; it drops whole histograms first so that every histogram that
/// is sent stays internally consistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub endpoints: usize,
    pub process: usize,
    pub cpus: usize,
    pub queues: usize,
}

impl Shape {
    const FULL: Shape = Shape {
        endpoints: ENDPOINTS,
        process: PROCESS_SERIES,
        cpus: CPUS,
        queues: FULL_QUEUES,
    };

    pub fn series(&self) -> usize {
        self.endpoints * ENDPOINT_SERIES + self.process + self.cpus + self.queues
    }
}

pub fn shapes_for(series: usize) -> Vec<Shape> {
    let mut shapes = vec![Shape::FULL; series / SERIES_PER_INSTANCE];
    let rest = series % SERIES_PER_INSTANCE;
    if rest > 0 {
        let endpoints = (rest / ENDPOINT_SERIES).min(ENDPOINTS);
        let mut left = rest - endpoints * ENDPOINT_SERIES;
        let process = left.min(PROCESS_SERIES);
        left -= process;
        let cpus = left.min(CPUS);
        left -= cpus;
        // At most ENDPOINT_SERIES - 1 - PROCESS_SERIES - CPUS series remain,
        // which QUEUES is sized to absorb.
        debug_assert!(left <= QUEUES.len());
        shapes.push(Shape {
            endpoints,
            process,
            cpus,
            queues: left,
        });
    }
    shapes
}

/// Everything that determines the bytes on the wire.
#[derive(Clone, Debug)]
pub struct Plan {
    pub series: usize,
    pub ticks: usize,
    pub start_ms: i64,
    pub seed: u64,
    pub batch: usize,
    pub shards: usize,
    pub shapes: Vec<Shape>,
}

impl Plan {
    /// `end_ms` is the wall-clock instant the simulated window should end at;
    /// the window covers `hours` of 15 s scrapes before it.
    pub fn new(
        series: usize,
        hours: f64,
        end_ms: i64,
        seed: u64,
        batch: usize,
        shards: usize,
    ) -> Result<Plan> {
        if series == 0 {
            bail!("series count must be positive");
        }
        let ticks = ((hours * 3600.0 * 1000.0) / INTERVAL_MS as f64).round() as usize;
        if ticks < 2 {
            bail!("--hours {hours} gives fewer than two scrapes");
        }
        // Align to the scrape grid and stay one interval in the past so that no
        // sample (with its offset) lands in the future of any target's clock.
        let end = end_ms - end_ms.rem_euclid(INTERVAL_MS) - INTERVAL_MS;
        Ok(Plan {
            series,
            ticks,
            start_ms: end - (ticks as i64 - 1) * INTERVAL_MS,
            seed,
            batch: batch.max(1),
            shards: shards.max(1),
            shapes: shapes_for(series),
        })
    }

    pub fn total_samples(&self) -> u64 {
        self.series as u64 * self.ticks as u64
    }

    /// Timestamp of the last scrape tick, before jitter.
    pub fn end_ms(&self) -> i64 {
        self.start_ms + (self.ticks as i64 - 1) * INTERVAL_MS
    }

    /// Number of `http_requests_total` series, for the read-back check.
    pub fn request_counter_series(&self) -> u64 {
        self.shapes
            .iter()
            .map(|s| (s.endpoints * STATUSES) as u64)
            .sum()
    }

    /// Number of instances that expose `up`.
    pub fn up_series(&self) -> u64 {
        self.shapes.iter().filter(|s| s.process > 0).count() as u64
    }

    /// Scrape timestamps as a real scraper produces them: each target has its
    /// own fixed offset of a few milliseconds from the grid, and now and then
    /// a scrape starts late (GC pause, busy scraper). Every series of one
    /// scrape shares the timestamp. Prometheus itself snaps timestamps within
    /// 2 ms of the grid (`--scrape.timestamp-tolerance`), so unbroken per-scrape
    /// noise would be less realistic, not more.
    fn timestamp(&self, instance: usize, tick: usize) -> i64 {
        let instance = instance as u64;
        let offset = mix(self.seed ^ (instance << 32) ^ 0x005C_4A9E) % 5;
        let h = mix(self.seed ^ (instance << 32) ^ ((tick as u64) << 1) ^ 1);
        let late = if h % 100 < 5 { 3 + (h >> 32) % 18 } else { 0 };
        self.start_ms + tick as i64 * INTERVAL_MS + (offset + late) as i64
    }
}

/// Builds a label set sorted by name, which Prometheus' receiver assumes
/// without checking.
fn label_set(pairs: &[(&str, &str)]) -> Vec<Label> {
    let mut labels: Vec<Label> = pairs
        .iter()
        .map(|(n, v)| Label {
            name: (*n).to_string(),
            value: (*v).to_string(),
        })
        .collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels
}

struct Endpoint {
    /// Requests per second at average load.
    rate: f64,
    /// Probability of each non-success status, in `statuses()` order after
    /// the first.
    error_p: [f64; STATUSES - 1],
    /// Log-normal latency parameters (natural log of seconds).
    mu: f64,
    sigma: f64,
    requests: [u64; STATUSES],
    buckets: [u64; LE.len()],
    count: u64,
    sum: f64,
}

impl Endpoint {
    /// Counts as if `n` requests had been served before the window, spread
    /// over statuses and buckets by their expected shares.
    fn prefill(&mut self, n: u64) {
        let mut rest = n;
        for (i, p) in self.error_p.iter().enumerate() {
            let k = ((n as f64 * p).round() as u64).min(rest);
            self.requests[i + 1] = k;
            rest -= k;
        }
        self.requests[0] = rest;
        for (bucket, le) in self.buckets.iter_mut().zip(LE) {
            *bucket = (n as f64 * norm_cdf((le.ln() - self.mu) / self.sigma)).round() as u64;
        }
        self.count = n;
        self.sum = n as f64 * (self.mu + self.sigma * self.sigma / 2.0).exp();
    }
}

struct Process {
    rss_base: f64,
    rss_drift: f64,
    gc_period: f64,
    gc_phase: f64,
    cores: f64,
    cpu_seconds: f64,
    goroutine_base: f64,
    goroutines: f64,
}

struct Queue {
    depth: f64,
    arrivals: f64,
}

struct Instance {
    index: usize,
    rng: Rng,
    /// Phase of the daily traffic cycle, so instances are not in lockstep.
    phase: f64,
    labels: Vec<Vec<Label>>,
    values: Vec<f64>,
    endpoints: Vec<Endpoint>,
    process: Process,
    cpu_base: f64,
    cpus: Vec<f64>,
    queues: Vec<Queue>,
    shape: Shape,
}

impl Instance {
    fn new(seed: u64, index: usize, shape: Shape) -> Instance {
        let mut rng = Rng::derive(seed, index as u64);
        let job = JOBS[index % JOBS.len()];
        // Stable, realistic-looking addresses: node exporters and services in
        // a /16, one port per job.
        let instance = format!(
            "10.{}.{}.{}:{}",
            (index >> 16) & 0xff,
            (index >> 8) & 0xff,
            index & 0xff,
            8080 + index % JOBS.len()
        );
        let base = [("job", job), ("instance", instance.as_str())];
        let mut labels = Vec::with_capacity(shape.series());
        let mut endpoints = Vec::with_capacity(shape.endpoints);
        // Processes have been up for a while when the window starts, so
        // counters begin at realistic magnitudes rather than at zero, which
        // matters for how well their values compress.
        let uptime_s = rng.log_uniform(3600.0, 30.0 * 86_400.0);

        for e in 0..shape.endpoints {
            let method = METHODS[e / HANDLERS.len()];
            let handler = HANDLERS[e % HANDLERS.len()];
            for status in statuses(method) {
                let mut p = base.to_vec();
                p.extend([
                    ("__name__", "http_requests_total"),
                    ("method", method),
                    ("handler", handler),
                    ("status", status),
                ]);
                labels.push(label_set(&p));
            }
            for le in LE_LABELS {
                let mut p = base.to_vec();
                p.extend([
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("method", method),
                    ("handler", handler),
                    ("le", le),
                ]);
                labels.push(label_set(&p));
            }
            for name in [
                "http_request_duration_seconds_sum",
                "http_request_duration_seconds_count",
            ] {
                let mut p = base.to_vec();
                p.extend([("__name__", name), ("method", method), ("handler", handler)]);
                labels.push(label_set(&p));
            }

            let healthz = handler == "/healthz";
            let rate = if healthz {
                // Load-balancer probes: GET only, steady.
                if method == "GET" {
                    0.2
                } else {
                    0.0
                }
            } else {
                let method_share = match method {
                    "GET" => 1.0,
                    "POST" => 0.25,
                    _ => 0.03,
                };
                rng.log_uniform(0.5, 40.0) * method_share
            };
            let median = if healthz {
                rng.range(0.0008, 0.003)
            } else {
                rng.log_uniform(0.008, 0.25) * if method == "POST" { 1.8 } else { 1.0 }
            };
            let mut ep = Endpoint {
                rate,
                error_p: [
                    rng.log_uniform(0.002, 0.04),
                    rng.log_uniform(0.0005, 0.01),
                    rng.log_uniform(0.0001, 0.003),
                ],
                mu: median.ln(),
                sigma: rng.range(0.4, 0.9),
                requests: [0; STATUSES],
                buckets: [0; LE.len()],
                count: 0,
                sum: 0.0,
            };
            ep.prefill((rate * uptime_s * 0.9).round() as u64);
            endpoints.push(ep);
        }

        let process_names = [
            "up",
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "go_goroutines",
        ];
        for name in &process_names[..shape.process] {
            let mut p = base.to_vec();
            p.push(("__name__", *name));
            labels.push(label_set(&p));
        }
        for cpu in 0..shape.cpus {
            let cpu = cpu.to_string();
            let mut p = base.to_vec();
            p.extend([("__name__", "cpu_utilisation_ratio"), ("cpu", cpu.as_str())]);
            labels.push(label_set(&p));
        }
        for queue in &QUEUES[..shape.queues] {
            let mut p = base.to_vec();
            p.extend([("__name__", "queue_depth"), ("queue", *queue)]);
            labels.push(label_set(&p));
        }
        debug_assert_eq!(labels.len(), shape.series());

        let mut process = Process {
            rss_base: rng.log_uniform(48.0 * 1048576.0, 900.0 * 1048576.0),
            rss_drift: 0.0,
            gc_period: rng.range(6.0, 40.0),
            gc_phase: rng.unit(),
            cores: rng.log_uniform(0.02, 1.5),
            cpu_seconds: 0.0,
            goroutine_base: rng.log_uniform(20.0, 600.0),
            goroutines: 0.0,
        };
        process.cpu_seconds = process.cores * uptime_s * rng.range(0.7, 1.0);
        let cpu_base = rng.range(0.05, 0.7);
        let cpus = (0..shape.cpus).map(|_| cpu_base).collect();
        let queues = (0..shape.queues)
            .map(|_| Queue {
                depth: 0.0,
                arrivals: rng.log_uniform(0.2, 6.0),
            })
            .collect();
        let phase = rng.range(0.0, std::f64::consts::TAU);
        Instance {
            index,
            rng,
            phase,
            values: vec![0.0; labels.len()],
            labels,
            endpoints,
            process,
            cpu_base,
            cpus,
            queues,
            shape,
        }
    }

    /// Advances every series by one scrape interval and stores the new values
    /// in `self.values`, in the same order as `self.labels`.
    fn scrape(&mut self, tick: usize) {
        let secs = INTERVAL_MS as f64 / 1000.0;
        let day = 86_400.0;
        let load =
            1.0 + 0.35 * (std::f64::consts::TAU * tick as f64 * secs / day + self.phase).sin();
        let rng = &mut self.rng;
        let mut out = 0;

        for ep in &mut self.endpoints {
            let expected = ep.rate * secs * load * rng.range(0.85, 1.15);
            let n = rng.poisson(expected);
            let mut rest = n;
            for (i, p) in ep.error_p.iter().enumerate() {
                let k = rng.binomial(rest, *p);
                ep.requests[i + 1] += k;
                rest -= k;
            }
            ep.requests[0] += rest;

            // Latency wobbles from scrape to scrape (GC pauses, noisy
            // neighbours); rounding the cumulative distribution keeps every
            // bucket monotone in `le` and never above the count.
            let mu = ep.mu + 0.1 * rng.gauss();
            for (bucket, le) in ep.buckets.iter_mut().zip(LE) {
                let cdf = norm_cdf((le.ln() - mu) / ep.sigma);
                *bucket += (n as f64 * cdf).round() as u64;
            }
            ep.count += n;
            if n > 0 {
                let mean = (mu + ep.sigma * ep.sigma / 2.0).exp();
                ep.sum += n as f64 * mean * (1.0 + 0.03 * rng.gauss()).max(0.5);
            }

            for r in ep.requests {
                self.values[out] = r as f64;
                out += 1;
            }
            for b in ep.buckets {
                self.values[out] = b as f64;
                out += 1;
            }
            self.values[out] = ep.count as f64; // le="+Inf"
            self.values[out + 1] = ep.sum;
            self.values[out + 2] = ep.count as f64;
            out += 3;
        }

        let pr = &mut self.process;
        pr.rss_drift = 0.98 * pr.rss_drift + 0.004 * rng.gauss();
        pr.gc_phase = (pr.gc_phase + 1.0 / pr.gc_period).fract();
        let rss = pr.rss_base * (1.0 + pr.rss_drift + 0.15 * pr.gc_phase);
        // RSS is a page count.
        let rss = (rss / 4096.0).round().max(1.0) * 4096.0;
        pr.cpu_seconds += pr.cores * load * secs * rng.range(0.8, 1.2);
        let target = pr.goroutine_base * load;
        if pr.goroutines == 0.0 {
            pr.goroutines = target;
        }
        pr.goroutines += 0.3 * (target - pr.goroutines) + target.sqrt() * rng.gauss();
        pr.goroutines = pr.goroutines.max(8.0);
        let process_values = [
            1.0,
            rss,
            // Linux accounts CPU time in 10 ms clock ticks.
            (pr.cpu_seconds * 100.0).round() / 100.0,
            pr.goroutines.round(),
        ];
        for v in &process_values[..self.shape.process] {
            self.values[out] = *v;
            out += 1;
        }

        for c in &mut self.cpus {
            let target = (self.cpu_base * load).min(0.98);
            *c = (*c + 0.3 * (target - *c) + 0.04 * rng.gauss()).clamp(0.0, 1.0);
            self.values[out] = (*c * 1000.0).round() / 1000.0;
            out += 1;
        }

        for q in &mut self.queues {
            if rng.chance(0.01) {
                q.depth += rng.log_uniform(50.0, 2000.0);
            }
            q.depth = q.depth * 0.6 + rng.poisson(q.arrivals) as f64;
            self.values[out] = q.depth.round();
            out += 1;
        }
        debug_assert_eq!(out, self.values.len());
    }
}

/// Accumulates samples into fixed-size requests and writes them as frames.
///
/// Frame layout: u32 LE body length, u32 LE sample count, snappy body.
struct Batcher {
    limit: usize,
    req: WriteRequest,
    len: usize,
    raw: Vec<u8>,
    packed: Vec<u8>,
    encoder: snap::raw::Encoder,
    out: BufWriter<File>,
    frames: u64,
    samples: u64,
    bytes: u64,
}

impl Batcher {
    fn push(&mut self, labels: &[Label], value: f64, timestamp: i64) -> io::Result<()> {
        if self.len == self.req.timeseries.len() {
            self.req.timeseries.push(TimeSeries {
                labels: Vec::new(),
                samples: vec![Sample::default()],
                exemplars: Vec::new(),
            });
        }
        // The slots are reused across requests; copying into existing Strings
        // avoids a dozen allocations per sample.
        let ts = &mut self.req.timeseries[self.len];
        ts.labels.truncate(labels.len());
        for (dst, src) in ts.labels.iter_mut().zip(labels) {
            dst.name.clone_from(&src.name);
            dst.value.clone_from(&src.value);
        }
        let have = ts.labels.len();
        ts.labels.extend_from_slice(&labels[have..]);
        ts.samples[0] = Sample { value, timestamp };
        self.len += 1;
        if self.len == self.limit {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        self.req.timeseries.truncate(self.len);
        self.raw.clear();
        self.req
            .encode(&mut self.raw)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.packed
            .resize(snap::raw::max_compress_len(self.raw.len()), 0);
        let n = self
            .encoder
            .compress(&self.raw, &mut self.packed)
            .map_err(io::Error::other)?;
        self.out.write_all(&(n as u32).to_le_bytes())?;
        self.out.write_all(&(self.len as u32).to_le_bytes())?;
        self.out.write_all(&self.packed[..n])?;
        self.frames += 1;
        self.samples += self.len as u64;
        self.bytes += 8 + n as u64;
        self.len = 0;
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct ShardFile {
    pub path: PathBuf,
    pub frames: u64,
    pub samples: u64,
    pub bytes: u64,
}

/// Pre-encoded load for one plan. Files are deleted on drop.
#[derive(Debug)]
pub struct Spool {
    pub shards: Vec<ShardFile>,
    keep: bool,
}

impl Spool {
    pub fn samples(&self) -> u64 {
        self.shards.iter().map(|s| s.samples).sum()
    }

    pub fn frames(&self) -> u64 {
        self.shards.iter().map(|s| s.frames).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.bytes).sum()
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if !self.keep {
            for s in &self.shards {
                let _ = std::fs::remove_file(&s.path);
            }
        }
    }
}

/// Instances are sharded whole, so each sender carries complete scrapes and
/// per-series time order holds within every sender's stream.
fn generate_shard(plan: &Plan, shard: usize, path: &Path) -> Result<ShardFile> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut instances: Vec<Instance> = plan
        .shapes
        .iter()
        .enumerate()
        .filter(|(i, _)| i % plan.shards == shard)
        .map(|(i, s)| Instance::new(plan.seed, i, *s))
        .collect();
    let mut b = Batcher {
        limit: plan.batch,
        req: WriteRequest::default(),
        len: 0,
        raw: Vec::new(),
        packed: Vec::new(),
        encoder: snap::raw::Encoder::new(),
        out: BufWriter::with_capacity(1 << 20, file),
        frames: 0,
        samples: 0,
        bytes: 0,
    };
    for tick in 0..plan.ticks {
        if crate::util::interrupted() {
            bail!("interrupted");
        }
        for inst in &mut instances {
            inst.scrape(tick);
            let ts = plan.timestamp(inst.index, tick);
            for (labels, value) in inst.labels.iter().zip(&inst.values) {
                b.push(labels, *value, ts)?;
            }
        }
    }
    b.flush()?;
    b.out.flush()?;
    Ok(ShardFile {
        path: path.to_path_buf(),
        frames: b.frames,
        samples: b.samples,
        bytes: b.bytes,
    })
}

/// Writes the spool for `plan` into `dir`, one file per sender, using one
/// thread per sender.
pub fn generate(plan: &Plan, dir: &Path, keep: bool) -> Result<Spool> {
    std::fs::create_dir_all(dir)?;
    let results: Vec<Result<ShardFile>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..plan.shards)
            .map(|k| {
                let path = dir.join(format!("shard-{k}.spool"));
                scope.spawn(move || generate_shard(plan, k, &path))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("generator thread panicked")))
            })
            .collect()
    });
    let mut shards = Vec::new();
    let mut first_err = None;
    for r in results {
        match r {
            Ok(s) => shards.push(s),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let spool = Spool { shards, keep };
    if let Some(e) = first_err {
        return Err(e);
    }
    if spool.samples() != plan.total_samples() {
        bail!(
            "generator produced {} samples, expected {}",
            spool.samples(),
            plan.total_samples()
        );
    }
    Ok(spool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_hit_the_requested_series_count() {
        for n in [1, 5, 17, 18, 100, 226, 227, 228, 10_000, 100_000, 1_000_000] {
            let total: usize = shapes_for(n).iter().map(Shape::series).sum();
            assert_eq!(total, n, "series {n}");
        }
        // Every remainder must be representable.
        for r in 1..SERIES_PER_INSTANCE {
            let s = shapes_for(r);
            assert_eq!(s.len(), 1);
            assert!(s[0].queues <= QUEUES.len(), "remainder {r}");
        }
    }

    fn collect(plan: &Plan, instances: &mut [Instance]) -> Vec<Vec<f64>> {
        (0..plan.ticks)
            .flat_map(|t| {
                instances
                    .iter_mut()
                    .map(|i| {
                        i.scrape(t);
                        i.values.clone()
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn histograms_and_counters_are_consistent() {
        let plan = Plan::new(2 * SERIES_PER_INSTANCE, 1.0, 1_700_000_000_000, 9, 2000, 2).unwrap();
        let mut instances: Vec<Instance> = plan
            .shapes
            .iter()
            .enumerate()
            .map(|(i, s)| Instance::new(plan.seed, i, *s))
            .collect();
        let labels = instances[0].labels.clone();
        let rows = collect(&plan, &mut instances);
        let mut prev: Option<&Vec<f64>> = None;
        for row in rows.iter().step_by(2) {
            for e in 0..ENDPOINTS {
                let base = e * ENDPOINT_SERIES;
                let requests: f64 = row[base..base + STATUSES].iter().sum();
                let buckets = &row[base + STATUSES..base + STATUSES + LE_LABELS.len()];
                let count = row[base + ENDPOINT_SERIES - 1];
                assert_eq!(requests, count);
                assert_eq!(*buckets.last().unwrap(), count);
                assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
                assert!(row[base + ENDPOINT_SERIES - 2] >= 0.0);
            }
            if let Some(p) = prev {
                for (i, l) in labels.iter().enumerate() {
                    let name = &l[0].value;
                    if name.ends_with("_total")
                        || name.ends_with("_bucket")
                        || name.ends_with("_count")
                        || name.ends_with("_sum")
                    {
                        assert!(row[i] >= p[i], "{name} went down");
                    }
                }
            }
            prev = Some(row);
        }
        for l in &labels {
            assert_eq!(l[0].name, "__name__");
            assert!(l.windows(2).all(|w| w[0].name < w[1].name));
        }
    }

    #[test]
    fn spool_is_deterministic_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan::new(1000, 0.25, 1_700_000_000_000, 42, 300, 3).unwrap();
        let a = generate(&plan, &dir.path().join("a"), false).unwrap();
        let b = generate(&plan, &dir.path().join("b"), false).unwrap();
        assert_eq!(a.samples(), 1000 * 60);
        for (x, y) in a.shards.iter().zip(&b.shards) {
            assert_eq!(
                std::fs::read(&x.path).unwrap(),
                std::fs::read(&y.path).unwrap()
            );
        }

        // Decode the first frame back and check its shape.
        let bytes = std::fs::read(&a.shards[0].path).unwrap();
        let len = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
        let samples = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&bytes[8..8 + len])
            .unwrap();
        let req = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(samples, 300);
        assert_eq!(req.timeseries.len(), 300);
        let t0 = req.timeseries[0].samples[0].timestamp;
        assert!(t0 >= plan.start_ms && t0 < plan.start_ms + 25);
    }
}
