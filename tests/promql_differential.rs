//! Differential test of the PromQL engine against a real Prometheus.
//!
//! The same generated data is remote-written to Pharos and to Debian's Prometheus 2.42
//! (`prometheus --web.enable-remote-write-receiver`), then every query of
//! `tests/data/promql_differential_queries.txt` runs on both as instant queries at a few
//! times and as one range query, and the answers must match: same result type, same
//! series (labels exact), values within 1e-9 relative (NaN equals NaN), same timestamps;
//! an error on both sides counts as agreement.
//!
//! Prometheus 2.42 predates the 3.x semantics Pharos implements, so a few answers differ
//! for known reasons; those queries are listed in [`KNOWN_AT_GRID_TIME`] and
//! [`KNOWN_ANYWHERE`]. Any other disagreement fails the test.
//!
//! The `prometheus` binary must be on PATH (Debian's `prometheus` package; CI installs it).

mod common;

use common::*;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const QUERY_FILE: &str = include_str!("data/promql_differential_queries.txt");

/// Queries whose answers differ because Prometheus 2.42 predates a later change that
/// Pharos follows, as `(query, reason)`, queries written as in the query file (with
/// `${at_a}`/`${at_b}`). A listed query that agrees is fine; the lists only excuse
/// disagreements.
///
/// These only at the instant evaluation on the 15s sample grid: boundary effects, so the
/// other evaluations of the same query must still agree. (demo_num_cpus has samples
/// exactly on the grid.)
const KNOWN_AT_GRID_TIME: &[(&str, &str)] = &[
    ("count_over_time(demo_num_cpus[15s])", LEFT_OPEN),
    ("count_over_time(demo_num_cpus[1m])", LEFT_OPEN),
    ("count_over_time(demo_num_cpus[5m])", LEFT_OPEN),
    ("sum_over_time(demo_num_cpus[15s])", LEFT_OPEN),
    ("sum_over_time(demo_num_cpus[1m])", LEFT_OPEN),
    ("sum_over_time(demo_num_cpus[5m])", LEFT_OPEN),
    ("sum_over_time(demo_num_cpus[1m:15s])", LEFT_OPEN),
];

/// These at any evaluation.
const KNOWN_ANYWHERE: &[(&str, &str)] = &[
    // The intermittent series starts again after every gap, inside the windows.
    ("rate(demo_intermittent_metric[5m])", RATE_ZERO_POINT),
    ("demo_temperature_celsius atan2 2", ATAN2_NAME),
    ("2 atan2 demo_temperature_celsius", ATAN2_NAME),
    // The NaN samples form one-element groups.
    (
        "stddev by (instance, sensor) (demo_temperature_celsius)",
        STDDEV_NAN,
    ),
    (
        "stdvar by (instance, sensor) (demo_temperature_celsius)",
        STDDEV_NAN,
    ),
    (
        "stddev by (instance, sensor) (demo_temperature_celsius offset 40s)",
        STDDEV_NAN,
    ),
    (
        "stdvar by (instance, sensor) (demo_temperature_celsius offset 40s)",
        STDDEV_NAN,
    ),
    (
        r#"sum(vector(1e16) or label_replace(vector(1), "a", "b", "", "") or label_replace(vector(-1e16), "a", "c", "", ""))"#,
        KAHAN_SUM,
    ),
    (
        r#"avg(vector(1e16) or label_replace(vector(1), "a", "b", "", "") or label_replace(vector(-1e16), "a", "c", "", ""))"#,
        KAHAN_AVG,
    ),
    (
        r#"label_replace(demo_num_cpus, "~invalid", "", "src", "(.*)")"#,
        UTF8_LABEL_REPLACE,
    ),
    (
        r#"label_join(demo_num_cpus, "~invalid", "-", "instance")"#,
        UTF8_LABEL_JOIN,
    ),
];

const LEFT_OPEN: &str = "range and subquery windows are left-open (t-r, t] since 3.0; \
    2.42 includes a sample or subquery step exactly at t-r";
const RATE_ZERO_POINT: &str = "rate/increase of a series that starts inside the window: \
    since 2.51 (commit 7f912db) the counter zero-point limit is applied after the \
    half-interval rule and only shortens extrapolation; 2.42 could extrapolate further";
const ATAN2_NAME: &str = "atan2 drops the metric name since 2.47 (commit 531567d); \
    2.42 keeps it";
const STDDEV_NAN: &str = "stddev/stdvar of a group starting with NaN is NaN since 3.0 \
    (#14941); 2.42 gives 0 for a one-element group";
const KAHAN_SUM: &str = "sum() uses Kahan summation since 2.54 (commit ea82b49); 2.42 adds \
    left to right and loses the 1 between ±1e16";
const KAHAN_AVG: &str = "avg() uses Kahan summation since 2.55 (commit c46074f); 2.42's \
    incremental mean loses the 1 between ±1e16";
const UTF8_LABEL_REPLACE: &str = "label_replace accepts any UTF-8 destination label name \
    since 3.3 (commit e4037b3); 2.42 requires [a-zA-Z_][a-zA-Z0-9_]*";
const UTF8_LABEL_JOIN: &str = "label_join accepts any UTF-8 destination label name since \
    3.0 (UTF-8 name validation); 2.42 requires [a-zA-Z_][a-zA-Z0-9_]*";

const INTERVAL_MS: i64 = 15_000;
/// Two hours of samples at 15s.
const STEPS: i64 = 480;
/// Requests are cut into slices of this many steps, each holding every series, so that
/// Prometheus (which rejects samples older than its newest minus one hour) accepts them.
const STEPS_PER_REQUEST: i64 = 40;
const INSTANCES: [&str; 3] = [
    "demo.promlabs.com:10000",
    "demo.promlabs.com:10001",
    "demo.promlabs.com:10002",
];
const JOB: &str = "demo";
/// Index of the sample at which instance 2 "restarts" and its counters start over.
const RESTART_STEP: i64 = 300;
/// The one evaluation time on the 15s sample grid, from the start of the data.
const GRID_TIME_OFFSET_MS: i64 = 4_515_000;

/// xorshift64*: deterministic data without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The data window: samples from `start` to `end` (ms), every 15s.
#[derive(Clone, Copy)]
struct Window {
    start: i64,
    end: i64,
}

impl Window {
    /// Ends one to two minutes before now, on a whole minute, so that the 15s grid falls on
    /// whole multiples of 15s (the boundary cases rely on it).
    fn recent() -> Window {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as i64;
        let end = now / 60_000 * 60_000 - 60_000;
        Window {
            start: end - STEPS * INTERVAL_MS,
            end,
        }
    }

    /// The timestamp of sample `i`. Jittered samples get 3..993 ms added, always ≡ 3 (mod
    /// 10 ms), while every evaluation time and range is a multiple of 10 ms: a window
    /// boundary never falls exactly on a jittered sample, so Prometheus 2.x's closed and
    /// 3.x's left-open windows see the same samples. Exact samples sit on the 15s grid.
    fn sample_time(&self, i: i64, rng: &mut Rng, exact: bool) -> i64 {
        let jitter = if exact {
            0
        } else {
            3 + 10 * rng.below(100) as i64
        };
        self.start + i * INTERVAL_MS + jitter
    }
}

fn series(
    name: &str,
    instance: &str,
    extra: &[(&str, &str)],
    samples: Vec<(i64, f64)>,
) -> TestSeries {
    let mut labels = vec![("__name__", name), ("instance", instance), ("job", JOB)];
    labels.extend_from_slice(extra);
    TestSeries::new(&labels, samples)
}

/// A few dozen gauges, counters and a classic histogram, deterministic for a given window
/// (only the timestamps move with the clock).
fn generate(w: Window) -> Vec<TestSeries> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    let steps = 0..=STEPS;

    for (ii, inst) in INSTANCES.iter().enumerate() {
        let fi = ii as f64;

        // Memory: large positive gauges with fractional parts, no two equal (topk ties).
        for (ti, ty) in ["buffers", "cached", "free", "used"].iter().enumerate() {
            let base = [2e8, 5e8, 1.5e9, 3e9][ti] * (1.0 + 0.1 * fi);
            let phase = fi + ti as f64;
            let samples = steps
                .clone()
                .map(|i| {
                    let wave = 1.0 + 0.05 * (i as f64 * 0.05 + phase).sin();
                    (
                        w.sample_time(i, &mut rng, false),
                        base * wave + rng.unit() * 1e6,
                    )
                })
                .collect();
            out.push(series(
                "demo_memory_usage_bytes",
                inst,
                &[("type", ty)],
                samples,
            ));
        }

        // CPU count: constant, on the exact 15s grid (the boundary cases).
        let cpus = [4.0, 8.0, 6.0][ii];
        let samples = steps
            .clone()
            .map(|i| (w.sample_time(i, &mut rng, true), cpus))
            .collect();
        out.push(series("demo_num_cpus", inst, &[], samples));

        // CPU seconds: counters; instance 2 restarts, instance 1's "user" resets alone.
        for (mi, mode) in ["idle", "system", "user"].iter().enumerate() {
            let speed = [10.0, 2.0, 3.5][mi] * (1.0 + fi * 0.3);
            let mut v = 1000.0 * (mi as f64 + 1.0) + rng.unit() * 100.0;
            let samples = steps
                .clone()
                .map(|i| {
                    let restart =
                        (ii == 2 && i == RESTART_STEP) || (ii == 1 && *mode == "user" && i == 150);
                    if restart {
                        v = rng.unit() * speed;
                    } else {
                        v += rng.unit() * speed * 1.5;
                    }
                    (w.sample_time(i, &mut rng, false), v)
                })
                .collect();
            out.push(series(
                "demo_cpu_usage_seconds_total",
                inst,
                &[("mode", mode)],
                samples,
            ));
        }

        // Disk usage: grows roughly linearly (deriv, predict_linear).
        let samples = steps
            .clone()
            .map(|i| {
                let v = 1e10 * (fi + 1.0) + i as f64 * 1e5 * (fi + 1.0) + rng.unit() * 1e4;
                (w.sample_time(i, &mut rng, false), v)
            })
            .collect();
        out.push(series("demo_disk_usage_bytes", inst, &[], samples));

        // Last batch success: Unix seconds, updated every 5 minutes (date functions,
        // changes).
        let mut last = ((w.start - 137_000 * (ii as i64 + 1)) / 1000) as f64;
        let samples = steps
            .clone()
            .map(|i| {
                let t = w.sample_time(i, &mut rng, false);
                if i % 20 == ii as i64 * 3 {
                    last = (t / 1000) as f64;
                }
                (t, last)
            })
            .collect();
        out.push(series(
            "demo_batch_last_success_timestamp_seconds",
            inst,
            &[],
            samples,
        ));

        // Intermittent: 10 minutes present, 10 minutes absent (longer than the lookback).
        let samples = steps
            .clone()
            .filter(|i| ((i + ii as i64 * 13) / 40) % 2 == 0)
            .map(|i| (w.sample_time(i, &mut rng, false), rng.unit() * 100.0 - 20.0))
            .collect();
        out.push(series("demo_intermittent_metric", inst, &[], samples));

        // Temperature: the ambient sensors cross zero; one series holds three NaN
        // samples inside the windows of the second instant evaluation time.
        for sensor in ["ambient", "cpu"] {
            let samples = steps
                .clone()
                .map(|i| {
                    let t = w.sample_time(i, &mut rng, false);
                    let x = i as f64 * 0.03 + fi;
                    let v = if sensor == "cpu" {
                        55.0 + 10.0 * x.sin() + rng.unit() * 2.0
                    } else if ii == 1 && (186..=188).contains(&i) {
                        f64::NAN
                    } else {
                        -5.0 + 8.0 * x.sin() + rng.unit() * 3.0
                    };
                    (t, v)
                })
                .collect();
            out.push(series(
                "demo_temperature_celsius",
                inst,
                &[("sensor", sensor)],
                samples,
            ));
        }

        // Request durations: a classic histogram per (method, code), restarting with
        // instance 2.
        const BOUNDS: [f64; 7] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];
        for (method, code) in [("GET", "200"), ("POST", "200"), ("POST", "500")] {
            let mut buckets = [0.0f64; BOUNDS.len() + 1];
            let (mut sum, mut count) = (0.0f64, 0.0f64);
            let mut bucket_samples = vec![Vec::new(); buckets.len()];
            let (mut sum_samples, mut count_samples) = (Vec::new(), Vec::new());
            let scale = if method == "GET" { 0.3 } else { 1.0 };
            // The process has been running for a while: counters far from zero when the
            // window starts (see RATE_ZERO_POINT).
            for i in -400..=STEPS {
                if ii == 2 && i == RESTART_STEP {
                    buckets = [0.0; BOUNDS.len() + 1];
                    sum = 0.0;
                    count = 0.0;
                }
                let n = rng.below(if code == "500" { 4 } else { 25 });
                for _ in 0..n {
                    // Log-uniform between 1ms and 2s, shorter for GET.
                    let d = (0.001f64.ln() + rng.unit() * (2000f64).ln()).exp() * scale;
                    let b = BOUNDS.iter().position(|&u| d <= u).unwrap_or(BOUNDS.len());
                    for c in &mut buckets[b..] {
                        *c += 1.0;
                    }
                    sum += d;
                    count += 1.0;
                }
                if i < 0 {
                    continue;
                }
                let t = w.sample_time(i, &mut rng, false);
                for (s, &c) in bucket_samples.iter_mut().zip(&buckets) {
                    s.push((t, c));
                }
                sum_samples.push((t, sum));
                count_samples.push((t, count));
            }
            let labels = [("method", method), ("code", code)];
            for (k, samples) in bucket_samples.into_iter().enumerate() {
                let le = BOUNDS.get(k).map_or("+Inf".to_owned(), |b| b.to_string());
                let mut l = labels.to_vec();
                l.push(("le", &le));
                out.push(series(
                    "demo_api_request_duration_seconds_bucket",
                    inst,
                    &l,
                    samples,
                ));
            }
            out.push(series(
                "demo_api_request_duration_seconds_sum",
                inst,
                &labels,
                sum_samples,
            ));
            out.push(series(
                "demo_api_request_duration_seconds_count",
                inst,
                &labels,
                count_samples,
            ));
        }
    }
    out
}

/// One evaluation of a query.
#[derive(Clone, Copy, Debug)]
enum Eval {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

/// Milliseconds as the API's decimal seconds.
fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

impl Eval {
    fn describe(&self, w: Window) -> String {
        // Relative to the data window, which is easier to read than epoch times.
        let rel = |t: i64| format!("start{:+}s", (t - w.start) as f64 / 1000.0);
        match *self {
            Eval::Instant(t) => format!("instant at {} ({})", secs(t), rel(t)),
            Eval::Range { start, end, step } => format!(
                "range {}..{} step {}s ({}..{})",
                secs(start),
                secs(end),
                step / 1000,
                rel(start),
                rel(end)
            ),
        }
    }
}

/// Evaluation times. All but one are ≡ 7.5s (mod 15s), half-way between grid points, so
/// no window of a whole number of seconds starts or ends on a sample; the exception sits
/// on the grid on purpose (boundary cases, see the end of the query file).
fn evaluations(w: Window) -> Vec<Eval> {
    vec![
        // Early: windows reaching before the first sample.
        Eval::Instant(w.start + 262_500),
        // Around the NaN samples of demo_temperature_celsius.
        Eval::Instant(w.start + 2_857_500),
        // Exactly on the 15s grid (boundary cases), but ≡ 15s (mod 60s), so not on the
        // grid of any subquery step used except 15s: the answers of other subqueries do
        // not depend on which end of their window is open.
        Eval::Instant(w.start + GRID_TIME_OFFSET_MS),
        // After the last sample, still within the lookback.
        Eval::Instant(w.end + 112_500),
        Eval::Range {
            start: w.start - 52_500,
            end: w.end + 187_500,
            step: 60_000,
        },
    ]
}

/// Expands `{{a|b}}` groups (every combination) and the `${at_a}`/`${at_b}` placeholders.
fn expand(line: &str, out: &mut Vec<String>) {
    if let Some(open) = line.find("{{") {
        let close = open + line[open..].find("}}").expect("unclosed {{ in query file");
        for alt in line[open + 2..close].split('|') {
            expand(
                &format!("{}{alt}{}", &line[..open], &line[close + 2..]),
                out,
            );
        }
    } else {
        out.push(line.to_owned());
    }
}

/// The values of `${at_a}` and `${at_b}`: inside the data, ≡ 7.5s (mod 15s) like the
/// evaluation times.
fn placeholders(w: Window) -> [(&'static str, String); 2] {
    [
        ("${at_a}", secs(w.start + 1_807_500)),
        ("${at_b}", secs(w.end - 577_500)),
    ]
}

fn load_queries(w: Window) -> Vec<String> {
    let values = placeholders(w);
    let mut out = Vec::new();
    for line in QUERY_FILE.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = values
            .iter()
            .fold(line.to_owned(), |l, (name, value)| l.replace(name, value));
        expand(&line, &mut out);
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|q| seen.insert(q.clone()));
    out
}

/// The known-difference key of a query: the line as written, before `${…}` placeholders
/// are filled in, so the list does not depend on the clock.
fn unexpand(q: &str, w: Window) -> String {
    placeholders(w)
        .iter()
        .fold(q.to_owned(), |q, (name, value)| q.replace(value, name))
}

type Metric = BTreeMap<String, String>;

/// A query answer, reduced to what is compared.
#[derive(Clone, Debug)]
enum Outcome {
    /// The API answered with `"status": "error"`.
    Error(String),
    /// No usable answer (transport failure, unparseable body): never agrees.
    Broken(String),
    Scalar(i64, f64),
    Str(i64, String),
    Vector(Vec<(Metric, i64, f64)>),
    Matrix(Vec<(Metric, Vec<(i64, f64)>)>),
}

fn parse_value(v: &Json) -> Result<f64, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("value {v} is not a string"))?;
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|e| format!("value {s:?}: {e}")),
    }
}

fn parse_time(v: &Json) -> Result<i64, String> {
    v.as_f64()
        .map(|s| (s * 1000.0).round() as i64)
        .ok_or_else(|| format!("timestamp {v} is not a number"))
}

fn parse_point(p: &Json) -> Result<(i64, f64), String> {
    match p.as_array().map(Vec::as_slice) {
        Some([t, v]) => Ok((parse_time(t)?, parse_value(v)?)),
        _ => Err(format!("bad point {p}")),
    }
}

fn parse_metric(m: &Json) -> Result<Metric, String> {
    m.as_object()
        .ok_or_else(|| format!("bad metric {m}"))?
        .iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|v| (k.clone(), v.to_owned()))
                .ok_or_else(|| format!("bad label value {v}"))
        })
        .collect()
}

fn parse_answer(body: &str) -> Result<Outcome, String> {
    let j: Json = serde_json::from_str(body).map_err(|e| format!("not JSON ({e}): {body}"))?;
    if j["status"] == "error" {
        return Ok(Outcome::Error(format!(
            "{}: {}",
            j["errorType"].as_str().unwrap_or("?"),
            j["error"].as_str().unwrap_or("?")
        )));
    }
    if j["status"] != "success" {
        return Err(format!("unexpected answer: {body}"));
    }
    let data = &j["data"];
    let result = &data["result"];
    let items = || {
        result
            .as_array()
            .ok_or_else(|| format!("result is not an array: {body}"))
    };
    Ok(match data["resultType"].as_str() {
        Some("scalar") => {
            let (t, v) = parse_point(result)?;
            Outcome::Scalar(t, v)
        }
        Some("string") => match result.as_array().map(Vec::as_slice) {
            Some([t, Json::String(s)]) => Outcome::Str(parse_time(t)?, s.clone()),
            _ => return Err(format!("bad string result: {body}")),
        },
        Some("vector") => Outcome::Vector(
            items()?
                .iter()
                .map(|s| {
                    let (t, v) = parse_point(&s["value"])?;
                    Ok((parse_metric(&s["metric"])?, t, v))
                })
                .collect::<Result<_, String>>()?,
        ),
        Some("matrix") => Outcome::Matrix(
            items()?
                .iter()
                .map(|s| {
                    let points = s["values"]
                        .as_array()
                        .ok_or_else(|| format!("series without values: {s}"))?
                        .iter()
                        .map(parse_point)
                        .collect::<Result<_, String>>()?;
                    Ok((parse_metric(&s["metric"])?, points))
                })
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("unknown result type {other:?}: {body}")),
    })
}

fn run_query(client: &reqwest::blocking::Client, base: &str, query: &str, eval: Eval) -> Outcome {
    let (path, params) = match eval {
        Eval::Instant(t) => (
            "/api/v1/query",
            vec![("query", query.to_owned()), ("time", secs(t))],
        ),
        Eval::Range { start, end, step } => (
            "/api/v1/query_range",
            vec![
                ("query", query.to_owned()),
                ("start", secs(start)),
                ("end", secs(end)),
                ("step", secs(step)),
            ],
        ),
    };
    let resp = match client.post(format!("{base}{path}")).form(&params).send() {
        Ok(r) => r,
        Err(e) => return Outcome::Broken(format!("request failed: {e}")),
    };
    let status = resp.status();
    match resp.text() {
        Ok(body) => match parse_answer(&body) {
            Ok(Outcome::Error(e)) if status.is_success() => {
                Outcome::Broken(format!("error with HTTP {status}: {e}"))
            }
            Ok(o) => o,
            Err(e) => Outcome::Broken(format!("HTTP {status}: {e}")),
        },
        Err(e) => Outcome::Broken(format!("HTTP {status}, unreadable body: {e}")),
    }
}

/// Equal within 1e-9 relative; NaN equals NaN; infinities need the same sign.
fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    if a.is_infinite() || b.is_infinite() {
        return false;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn show_metric(m: &Metric) -> String {
    let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// The first difference between two answers, or `None` when they agree. Series sets are
/// compared regardless of order, except the order of values when `ordered`.
fn difference(prom: &Outcome, ours: &Outcome, ordered: bool) -> Option<String> {
    use Outcome::*;
    match (prom, ours) {
        (Broken(e), _) => Some(format!("prometheus gave no usable answer: {e}")),
        (_, Broken(e)) => Some(format!("pharos gave no usable answer: {e}")),
        (Error(_), Error(_)) => None,
        (Error(e), _) => Some(format!("only prometheus failed: {e}")),
        (_, Error(e)) => Some(format!("only pharos failed: {e}")),
        (Scalar(t1, v1), Scalar(t2, v2)) => {
            (t1 != t2 || !same_value(*v1, *v2)).then(|| format!("scalar {v1}@{t1} vs {v2}@{t2}"))
        }
        (Str(t1, s1), Str(t2, s2)) => {
            (t1 != t2 || s1 != s2).then(|| format!("string {s1:?}@{t1} vs {s2:?}@{t2}"))
        }
        (Vector(a), Vector(b)) => {
            if ordered {
                let va: Vec<f64> = a.iter().map(|s| s.2).collect();
                let vb: Vec<f64> = b.iter().map(|s| s.2).collect();
                if va.len() == vb.len() && !va.iter().zip(&vb).all(|(x, y)| same_value(*x, *y)) {
                    return Some(format!("order of values: {va:?} vs {vb:?}"));
                }
            }
            let as_map = |v: &[(Metric, i64, f64)]| -> BTreeMap<Metric, Vec<(i64, f64)>> {
                let mut m: BTreeMap<Metric, Vec<(i64, f64)>> = BTreeMap::new();
                for (metric, t, val) in v {
                    m.entry(metric.clone()).or_default().push((*t, *val));
                }
                m
            };
            series_difference(&as_map(a), &as_map(b))
        }
        (Matrix(a), Matrix(b)) => {
            let as_map = |v: &[(Metric, Vec<(i64, f64)>)]| -> BTreeMap<Metric, Vec<(i64, f64)>> {
                let mut m: BTreeMap<Metric, Vec<(i64, f64)>> = BTreeMap::new();
                for (metric, points) in v {
                    m.entry(metric.clone()).or_default().extend(points);
                }
                m
            };
            series_difference(&as_map(a), &as_map(b))
        }
        _ => Some(format!(
            "result type {} vs {}",
            type_name(prom),
            type_name(ours)
        )),
    }
}

fn type_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Error(_) => "error",
        Outcome::Broken(_) => "broken",
        Outcome::Scalar(..) => "scalar",
        Outcome::Str(..) => "string",
        Outcome::Vector(_) => "vector",
        Outcome::Matrix(_) => "matrix",
    }
}

fn series_difference(
    a: &BTreeMap<Metric, Vec<(i64, f64)>>,
    b: &BTreeMap<Metric, Vec<(i64, f64)>>,
) -> Option<String> {
    if let Some(m) = a.keys().find(|m| !b.contains_key(*m)) {
        return Some(format!(
            "series {} only in prometheus ({} vs {} series)",
            show_metric(m),
            a.len(),
            b.len()
        ));
    }
    if let Some(m) = b.keys().find(|m| !a.contains_key(*m)) {
        return Some(format!(
            "series {} only in pharos ({} vs {} series)",
            show_metric(m),
            a.len(),
            b.len()
        ));
    }
    for (m, pa) in a {
        let pb = &b[m];
        for i in 0..pa.len().max(pb.len()) {
            match (pa.get(i), pb.get(i)) {
                (Some(&(t1, v1)), Some(&(t2, v2))) if t1 == t2 && same_value(v1, v2) => {}
                (x, y) => {
                    return Some(format!(
                        "series {}: point {i} {} vs {} ({} vs {} points)",
                        show_metric(m),
                        show_point(x),
                        show_point(y),
                        pa.len(),
                        pb.len()
                    ))
                }
            }
        }
    }
    None
}

fn show_point(p: Option<&(i64, f64)>) -> String {
    p.map_or("none".to_owned(), |(t, v)| format!("{v}@{}", secs(*t)))
}

/// A short rendering of an answer for the report.
fn abbreviate(o: &Outcome) -> String {
    const MAX: usize = 300;
    let mut s = match o {
        Outcome::Error(e) => format!("error {e}"),
        Outcome::Broken(e) => format!("broken {e}"),
        Outcome::Scalar(t, v) => format!("scalar {v}@{}", secs(*t)),
        Outcome::Str(t, v) => format!("string {v:?}@{}", secs(*t)),
        Outcome::Vector(v) => {
            let mut s = format!("vector of {}:", v.len());
            for (m, _, val) in v {
                let _ = write!(s, " {}={val}", show_metric(m));
            }
            s
        }
        Outcome::Matrix(v) => {
            let mut s = format!("matrix of {}:", v.len());
            for (m, points) in v {
                let shown: Vec<String> =
                    points.iter().take(3).map(|(_, v)| v.to_string()).collect();
                let _ = write!(
                    s,
                    " {} ({} points: {}…)",
                    show_metric(m),
                    points.len(),
                    shown.join(", ")
                );
            }
            s
        }
    };
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn is_empty(o: &Outcome) -> bool {
    match o {
        Outcome::Vector(v) => v.is_empty(),
        Outcome::Matrix(v) => v.is_empty(),
        Outcome::Error(_) | Outcome::Broken(_) => true,
        Outcome::Scalar(..) | Outcome::Str(..) => false,
    }
}

/// Only the outermost sort function makes the order of an instant vector meaningful.
fn is_ordered(query: &str) -> bool {
    query.starts_with("sort(") || query.starts_with("sort_desc(")
}

struct Job {
    query: usize,
    eval: Eval,
}

struct Answer {
    prom: Outcome,
    ours: Outcome,
}

#[test]
fn promql_differential() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let prom_dir = tmp.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    // No scrape jobs: the only data is what the test writes.
    let prometheus = prometheus::Prometheus::start(
        &prom_dir,
        "global:\n  evaluation_interval: 1m\n",
        &["--web.enable-remote-write-receiver"],
    );
    let pharos = Server::start(&tmp.path().join("pharos"), None);
    let client = client();

    let window = Window::recent();
    let data = generate(window);
    write_in_time_slices(
        &client,
        "prometheus",
        &prometheus.url,
        &data,
        (window.start, window.end),
        STEPS_PER_REQUEST * INTERVAL_MS,
    );
    write_in_time_slices(
        &client,
        "pharos",
        &pharos.url(""),
        &data,
        (window.start, window.end),
        STEPS_PER_REQUEST * INTERVAL_MS,
    );

    // Both must hold every sample before their answers mean anything. Counted per metric
    // name: a range function drops the name, and series of different names would clash.
    let mut per_name: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &data {
        let name = s.labels.iter().find(|l| l.0 == "__name__").expect("named");
        *per_name.entry(name.1.as_str()).or_default() += s.samples.len();
    }
    let count_at = Eval::Instant(window.end + 1_000);
    for (name, url) in [
        ("prometheus", prometheus.url.clone()),
        ("pharos", pharos.url("")),
    ] {
        for (metric, &want) in &per_name {
            let q = format!("sum(count_over_time({metric}[3h]))");
            match run_query(&client, &url, &q, count_at) {
                Outcome::Vector(v) if v.len() == 1 && v[0].2 == want as f64 => {}
                other => panic!(
                    "{name} does not hold the {want} samples of {metric} written: {}",
                    abbreviate(&other)
                ),
            }
        }
    }

    let queries = load_queries(window);
    let evals = evaluations(window);
    let jobs: Vec<Job> = (0..queries.len())
        .flat_map(|query| evals.iter().map(move |&eval| Job { query, eval }))
        .collect();
    let answers: Mutex<Vec<Option<Answer>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    // Two workers: the machine has two cores, shared by both servers.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let client = common::client();
                let ours_url = pharos.url("");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let q = &queries[job.query];
                    let prom = run_query(&client, &prometheus.url, q, job.eval);
                    let ours = run_query(&client, &ours_url, q, job.eval);
                    answers.lock().unwrap()[i] = Some(Answer { prom, ours });
                }
            });
        }
    });
    let answers: Vec<Answer> = answers
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|a| a.expect("every job answered"))
        .collect();

    // Query → (excused only at the grid time?, reason).
    let known: HashMap<&str, (bool, &str)> = KNOWN_AT_GRID_TIME
        .iter()
        .map(|&(q, why)| (q, (true, why)))
        .chain(KNOWN_ANYWHERE.iter().map(|&(q, why)| (q, (false, why))))
        .collect();
    let grid_time = window.start + GRID_TIME_OFFSET_MS;
    let (mut agreed, mut known_hit, mut failed) = (0usize, 0usize, 0usize);
    let (mut non_empty, mut errors_only) = (0usize, 0usize);
    let mut report = String::new();
    let mut known_report = String::new();
    let mut unused_known: Vec<&str> = known.keys().copied().collect();
    // Jobs (and answers) are grouped by query, in query order.
    let per_query = jobs.chunks(evals.len()).zip(answers.chunks(evals.len()));
    for (query, (jobs, answers)) in queries.iter().zip(per_query) {
        let key = unexpand(query, window);
        let entry = known.get(key.as_str()).copied();
        let (mut excused, mut unexpected) = (Vec::new(), Vec::new());
        let mut any_data = false;
        let mut all_errors = true;
        for (job, answer) in jobs.iter().zip(answers) {
            any_data |= !is_empty(&answer.prom);
            all_errors &= matches!(answer.prom, Outcome::Error(_));
            let Some(d) = difference(&answer.prom, &answer.ours, is_ordered(query)) else {
                continue;
            };
            let covered = match entry {
                Some((false, _)) => true,
                Some((true, _)) => matches!(job.eval, Eval::Instant(t) if t == grid_time),
                None => false,
            };
            if covered {
                excused.push((job.eval, d));
            } else {
                unexpected.push((job.eval, d, answer));
            }
        }
        non_empty += usize::from(any_data);
        errors_only += usize::from(all_errors);
        if let (Some((_, why)), Some((eval, d))) = (entry, excused.first()) {
            unused_known.retain(|k| *k != key);
            let _ = writeln!(
                known_report,
                "known: {query}\n  {} of {} evaluations differ ({why}); first: {}: {d}",
                excused.len(),
                evals.len(),
                eval.describe(window),
            );
        }
        if !unexpected.is_empty() {
            failed += 1;
            let _ = writeln!(report, "DISAGREE: {query}");
            for (eval, d, answer) in &unexpected {
                let _ = writeln!(report, "  {}: {d}", eval.describe(window));
                let _ = writeln!(report, "    prometheus: {}", abbreviate(&answer.prom));
                let _ = writeln!(report, "    pharos:     {}", abbreviate(&answer.ours));
            }
        } else if excused.is_empty() {
            agreed += 1;
        } else {
            known_hit += 1;
        }
    }

    print!("{known_report}");
    print!("{report}");
    let keys: std::collections::HashSet<String> =
        queries.iter().map(|q| unexpand(q, window)).collect();
    let (mut agreeing_now, mut stale): (Vec<&str>, Vec<&str>) =
        unused_known.iter().partition(|k| keys.contains(**k));
    agreeing_now.sort_unstable();
    stale.sort_unstable();
    for k in &agreeing_now {
        println!("listed as a known difference but agreeing now: {k}");
    }
    for k in &stale {
        println!("listed as a known difference but not in the query file: {k}");
    }
    let total = queries.len();
    let summary = format!(
        "{} queries, each as {} instant queries and one range query; on prometheus \
         {non_empty} returned data and {errors_only} only errors; {:.1}s\n\
         differential: {agreed} agreed, {known_hit} known 2.x/3.x differences, \
         {failed} disagreed of {total}\n\
         promql differential: {} passed, {failed} failed\n",
        total,
        evals.len() - 1,
        started.elapsed().as_secs_f64(),
        agreed + known_hit,
    );
    // Past the test harness's output capture, so that the log of a passing run shows the
    // counts too.
    let _ = std::io::stdout().write_all(summary.as_bytes());
    // Guards against a vacuous pass: data that never arrived, or a query file that no
    // longer parses, would make both sides agree on nothing.
    assert!(
        non_empty * 10 >= total * 8,
        "only {non_empty} of {total} queries returned data on prometheus"
    );
    assert!(
        errors_only * 20 <= total,
        "{errors_only} of {total} queries failed on prometheus at every evaluation"
    );
    assert_eq!(
        failed, 0,
        "unexpected disagreements with prometheus (see above)"
    );
    assert!(stale.is_empty(), "stale known differences: {stale:?}");
    drop(prometheus);
    pharos.stop();
}
