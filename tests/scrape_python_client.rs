//! Scraping a target written with the official Python client, `prometheus-client`
//! (`tests/python/client_target.py`): a Counter, Gauge, Histogram, Summary, Info and
//! Enum with labels, a custom summary with quantiles, and exemplars with trace_id and
//! span_id on counter increments and histogram observations.
//!
//! Pharos asks for OpenMetrics in its Accept header, so the client answers in that
//! format (the only one in which it writes exemplars). The tests check through the HTTP
//! API the stored series and labels, the values after two rounds of known updates, and
//! the exemplars through `/api/v1/query_exemplars`.
//!
//! Needs `python3` with `prometheus-client` (CI installs both); the tests fail with a
//! message naming the missing piece rather than skipping.

mod common;

use common::{client, get_json, poll, query_value, Server};
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_target.py");
/// Scrapes run every second; a debug build on a busy machine needs a wide margin.
const DEADLINE: Duration = Duration::from_secs(60);

const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_A: &str = "00f067aa0ba902b7";
const TRACE_B: &str = "0af7651916cd43dd8448eb211c80319c";
const SPAN_B: &str = "b7ad6b7169203331";
const TRACE_C: &str = "5b8aa5a2d2c872e8321cf37308d69df2";
const SPAN_C: &str = "051581bf3cb55c13";

/// The Python target; told to quit and then killed on drop.
struct PyTarget {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl PyTarget {
    fn start() -> PyTarget {
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run python3 ({e}); install Python 3 and `pip install prometheus-client`")
            });
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let status = child.wait().expect("wait for python3");
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            if status.code() == Some(3) {
                panic!(
                    "the Python package prometheus-client is not installed for python3 \
                     (`pip install prometheus-client`; .ci/run installs it): {err}"
                );
            }
            panic!("client_target.py did not start ({status}); stdout {line:?}, stderr:\n{err}");
        };
        PyTarget {
            child,
            stdin,
            stdout,
            port,
        }
    }

    /// Applies the script's second round of updates and waits until it has.
    fn step(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "step").expect("write to client_target.py");
        stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("read from client_target.py");
        assert_eq!(line.trim(), "stepped", "client_target.py answered {line:?}");
    }
}

impl Drop for PyTarget {
    fn drop(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            let _ = writeln!(s, "quit");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Starts the Python target and a Pharos scraping it every second, and waits for the
/// first successful scrape.
fn setup(dir: &std::path::Path) -> (PyTarget, Server) {
    let target = PyTarget::start();
    let config = dir.join("pharos.yml");
    std::fs::write(
        &config,
        format!(
            "self_scrape: false
scrape_configs:
  - job_name: python
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['127.0.0.1:{}']
",
            target.port
        ),
    )
    .unwrap();
    let server = Server::start(&dir.join("data"), Some(&config));
    let c = client();
    let up = poll(DEADLINE, || {
        query_value(&c, &server, r#"up{job="python"}"#).filter(|v| *v == 1.0)
    });
    assert_eq!(
        up,
        Some(1.0),
        "the Python target was not scraped successfully; targets:\n{}\nlog:\n{}",
        get_json(&c, &server.url("/api/v1/targets")),
        server.logs()
    );
    (target, server)
}

/// `{a="b", ...}` without `job` and `instance`, in name order.
fn show(labels: &Json) -> String {
    let mut pairs: Vec<(String, String)> = labels
        .as_object()
        .expect("label set")
        .iter()
        .filter(|(k, _)| *k != "job" && *k != "instance")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect();
    pairs.sort();
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// The expected series, written as [`show`] prints them.
fn expected_series() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |s: &str| {
        out.insert(s.to_string());
    };
    add(r#"{__name__="demo_requests_total", method="GET", path="/api"}"#);
    add(r#"{__name__="demo_requests_total", method="POST", path="/api"}"#);
    add(r#"{__name__="demo_temperature_celsius", room="lab"}"#);
    add(r#"{__name__="demo_temperature_celsius", room="server \"room\""}"#);
    for le in ["0.1", "0.5", "1.0", "+Inf"] {
        add(&format!(
            r#"{{__name__="demo_latency_seconds_bucket", le="{le}", route="/api"}}"#
        ));
    }
    add(r#"{__name__="demo_latency_seconds_count", route="/api"}"#);
    add(r#"{__name__="demo_latency_seconds_sum", route="/api"}"#);
    add(r#"{__name__="demo_payload_bytes_count", route="/api"}"#);
    add(r#"{__name__="demo_payload_bytes_sum", route="/api"}"#);
    add(r#"{__name__="demo_build_info", commit="deadbeef", version="1.4.2"}"#);
    for state in ["starting", "running", "stopped"] {
        add(&format!(
            r#"{{__name__="demo_state", component="worker", demo_state="{state}"}}"#
        ));
    }
    for q in ["0.5", "0.9", "0.99"] {
        add(&format!(
            r#"{{__name__="demo_rpc_seconds", quantile="{q}", service="api"}}"#
        ));
    }
    add(r#"{__name__="demo_rpc_seconds_count", service="api"}"#);
    add(r#"{__name__="demo_rpc_seconds_sum", service="api"}"#);
    // OpenMetrics `_created` samples of the client's counter, histogram and summary
    // (the custom summary has none), stored as Prometheus 2.x stores them.
    add(r#"{__name__="demo_requests_created", method="GET", path="/api"}"#);
    add(r#"{__name__="demo_requests_created", method="POST", path="/api"}"#);
    add(r#"{__name__="demo_latency_seconds_created", route="/api"}"#);
    add(r#"{__name__="demo_payload_bytes_created", route="/api"}"#);
    out
}

fn assert_value(c: &reqwest::blocking::Client, server: &Server, expr: &str, want: f64) {
    let got = query_value(c, server, expr);
    assert!(
        got.is_some_and(|v| (v - want).abs() < 1e-9),
        "{expr}: got {got:?}, want {want}"
    );
}

#[test]
fn python_client_series_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let (mut target, server) = setup(dir.path());
    let c = client();
    let t0 = now_secs() - 120.0;

    // The names and labels: `_total`, `_bucket{le}`, `_sum`, `_count`, quantiles,
    // `_info`, the enum's stateset and the OpenMetrics `_created` samples (stored as
    // Prometheus 2.x stores them); no other series but `up` and the scrape_* report
    // series.
    let url = server.url("/api/v1/series");
    let body = c
        .get(&url)
        .query(&[
            ("match[]", r#"{job="python"}"#.to_string()),
            ("start", format!("{t0:.3}")),
            ("end", format!("{:.3}", now_secs() + 60.0)),
        ])
        .send()
        .expect("GET series")
        .text()
        .expect("series body");
    let body: Json = serde_json::from_str(&body).expect("series JSON");
    let stored: BTreeSet<String> = body["data"]
        .as_array()
        .expect("series data")
        .iter()
        .filter(|s| {
            let name = s["__name__"].as_str().unwrap_or("");
            name != "up" && !name.starts_with("scrape_")
        })
        .map(show)
        .collect();
    let expected = expected_series();
    let missing: Vec<_> = expected.difference(&stored).collect();
    let extra: Vec<_> = stored.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "stored series differ from the client's exposition\nmissing: {missing:#?}\nextra: {extra:#?}"
    );
    for s in body["data"].as_array().unwrap() {
        assert_eq!(s["job"], "python", "{s}");
        assert_eq!(
            s["instance"].as_str(),
            Some(format!("127.0.0.1:{}", target.port).as_str()),
            "{s}"
        );
    }

    // Round one's values.
    let checks_one: &[(&str, f64)] = &[
        (r#"demo_requests_total{method="GET"}"#, 3.0),
        (r#"demo_requests_total{method="POST"}"#, 2.0),
        (r#"demo_temperature_celsius{room="lab"}"#, 21.5),
        (r#"demo_temperature_celsius{room="server \"room\""}"#, -3.25),
        (r#"demo_latency_seconds_bucket{le="0.1"}"#, 1.0),
        (r#"demo_latency_seconds_bucket{le="0.5"}"#, 2.0),
        (r#"demo_latency_seconds_bucket{le="1.0"}"#, 2.0),
        (r#"demo_latency_seconds_bucket{le="+Inf"}"#, 3.0),
        ("demo_latency_seconds_count", 3.0),
        ("demo_latency_seconds_sum", 2.35),
        ("demo_payload_bytes_count", 2.0),
        ("demo_payload_bytes_sum", 1536.0),
        ("demo_build_info", 1.0),
        (r#"demo_state{demo_state="starting"}"#, 1.0),
        (r#"demo_state{demo_state="running"}"#, 0.0),
        (r#"demo_rpc_seconds{quantile="0.99"}"#, 1.5),
        ("demo_rpc_seconds_count", 40.0),
        ("demo_rpc_seconds_sum", 13.5),
    ];
    for (expr, want) in checks_one {
        assert_value(&c, &server, expr, *want);
    }

    // Round two: known increments; wait until a scrape has picked them up.
    target.step();
    let seen = poll(DEADLINE, || {
        query_value(&c, &server, r#"demo_requests_total{method="GET"}"#).filter(|v| *v == 7.0)
    });
    assert_eq!(seen, Some(7.0), "log:\n{}", server.logs());
    let checks_two: &[(&str, f64)] = &[
        (r#"demo_requests_total{method="POST"}"#, 2.0),
        (r#"demo_temperature_celsius{room="lab"}"#, 22.75),
        (r#"demo_latency_seconds_bucket{le="0.5"}"#, 2.0),
        (r#"demo_latency_seconds_bucket{le="1.0"}"#, 3.0),
        (r#"demo_latency_seconds_bucket{le="+Inf"}"#, 4.0),
        ("demo_latency_seconds_count", 4.0),
        ("demo_latency_seconds_sum", 3.05),
        ("demo_payload_bytes_count", 3.0),
        ("demo_payload_bytes_sum", 1792.0),
        (r#"demo_state{demo_state="starting"}"#, 0.0),
        (r#"demo_state{demo_state="running"}"#, 1.0),
        ("demo_rpc_seconds_count", 50.0),
        ("demo_rpc_seconds_sum", 16.0),
        // The counter rose by exactly the increment between the rounds.
        (
            r#"max_over_time(demo_requests_total{method="GET"}[5m]) - min_over_time(demo_requests_total{method="GET"}[5m])"#,
            4.0,
        ),
    ];
    for (expr, want) in checks_two {
        assert_value(&c, &server, expr, *want);
    }
    server.stop();
}

/// One exemplar as `/api/v1/query_exemplars` reports it.
#[derive(Debug)]
struct FoundExemplar {
    series: String,
    labels: String,
    value: f64,
    t: f64,
}

fn exemplars(
    c: &reqwest::blocking::Client,
    server: &Server,
    query: &str,
    start: f64,
) -> Vec<FoundExemplar> {
    let text = c
        .get(server.url("/api/v1/query_exemplars"))
        .query(&[
            ("query", query.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{:.3}", now_secs() + 60.0)),
        ])
        .send()
        .expect("GET query_exemplars")
        .text()
        .expect("body");
    let body: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(body["status"], "success", "{text}");
    let mut out = Vec::new();
    for s in body["data"].as_array().expect("data array") {
        for e in s["exemplars"].as_array().expect("exemplars array") {
            out.push(FoundExemplar {
                series: show(&s["seriesLabels"]),
                labels: show(&e["labels"]),
                value: e["value"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN),
                t: e["timestamp"].as_f64().unwrap_or(f64::NAN),
            });
        }
    }
    out
}

#[test]
fn python_client_exemplars() {
    let dir = tempfile::tempdir().unwrap();
    let started = now_secs();
    let (mut target, server) = setup(dir.path());
    let c = client();
    let start = started - 120.0;

    let want_a = format!(r#"{{span_id="{SPAN_A}", trace_id="{TRACE_A}"}}"#);
    let get_series = r#"{__name__="demo_requests_total", method="GET", path="/api"}"#;
    let found = poll(DEADLINE, || {
        let ex = exemplars(&c, &server, "demo_requests_total", start);
        ex.iter().any(|e| e.labels == want_a).then_some(ex)
    })
    .unwrap_or_else(|| {
        panic!(
            "the counter's exemplar {want_a} was not stored; query_exemplars has {:#?}",
            exemplars(&c, &server, "demo_requests_total", start)
        )
    });
    let a = found.iter().find(|e| e.labels == want_a).unwrap();
    assert_eq!(a.series, get_series, "{found:#?}");
    assert_eq!(a.value, 3.0, "{found:#?}");
    // The client stamps exemplars with the time of the increment, which came after
    // the test started.
    assert!(
        a.t >= started - 1.0 && a.t <= now_secs() + 1.0,
        "timestamp {} outside the test's run: {found:#?}",
        a.t
    );
    // Only the GET series was incremented with an exemplar.
    assert!(found.iter().all(|e| e.series == get_series), "{found:#?}");

    let want_b = format!(r#"{{span_id="{SPAN_B}", trace_id="{TRACE_B}"}}"#);
    let hist = exemplars(&c, &server, "demo_latency_seconds_bucket", start);
    let b = hist
        .iter()
        .find(|e| e.labels == want_b)
        .unwrap_or_else(|| panic!("histogram exemplar {want_b} missing: {hist:#?}"));
    assert_eq!(
        b.series,
        r#"{__name__="demo_latency_seconds_bucket", le="0.5", route="/api"}"#
    );
    assert_eq!(b.value, 0.3);

    // A later increment carries a new exemplar, found by its trace id.
    target.step();
    let want_c = format!(r#"{{span_id="{SPAN_C}", trace_id="{TRACE_C}"}}"#);
    let found = poll(DEADLINE, || {
        let ex = exemplars(&c, &server, "demo_requests_total", start);
        ex.iter().any(|e| e.labels == want_c).then_some(ex)
    })
    .unwrap_or_else(|| {
        panic!(
            "the second exemplar {want_c} was not stored: {:#?}",
            exemplars(&c, &server, "demo_requests_total", start)
        )
    });
    let cex = found.iter().find(|e| e.labels == want_c).unwrap();
    assert_eq!(cex.value, 4.0, "{found:#?}");
    assert_eq!(cex.series, get_series);
    // The earlier exemplar is kept beside the new one.
    assert!(found.iter().any(|e| e.labels == want_a), "{found:#?}");
    server.stop();
}
