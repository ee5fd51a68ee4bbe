//! OTLP end to end: the OpenTelemetry Python SDK (`tests/python/otlp_export.py`) exports
//! a counter, an up-down counter, an observable gauge, an explicit-bucket and an
//! exponential histogram three times — OTLP/HTTP with gzip to the dedicated listener,
//! uncompressed OTLP/HTTP to the main port's `/v1/metrics`, and OTLP/gRPC with gzip —
//! and the series API and PromQL must show exactly the Prometheus names, labels and
//! values the OpenTelemetry ↔ Prometheus compatibility rules give.
//!
//! Needs `python3` with `opentelemetry-sdk`, `opentelemetry-exporter-otlp-proto-http`
//! and `opentelemetry-exporter-otlp-proto-grpc` (`.ci/run` installs them); the test
//! fails, saying what to install, when they are missing.

mod common;

use common::{client, get_json, metric_value, poll, query_value, Server};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/otlp_export.py");
const PACKAGES: &str = "opentelemetry-sdk opentelemetry-exporter-otlp-proto-http \
                        opentelemetry-exporter-otlp-proto-grpc";

const JOB: &str = "shop/checkout";
/// `service.instance.id` of each export, naming the path it took.
const INSTANCES: [&str; 3] = ["otlp-http-port", "main-port", "otlp-grpc-port"];

/// The address a listener bound, from its log line (`OTLP/HTTP listening addr=…`); the
/// test asks for port 0 so that parallel tests never compete for a port.
fn bound_addr(server: &Server, what: &str) -> String {
    let needle = format!("{what} listening");
    poll(Duration::from_secs(10), || {
        server.logs().lines().find_map(|l| {
            let rest = l.split(&needle).nth(1)?;
            let addr = rest.split("addr=").nth(1)?;
            Some(addr.split_whitespace().next()?.to_owned())
        })
    })
    .unwrap_or_else(|| panic!("no {what:?} line in the log:\n{}", server.logs()))
}

fn export(targets: &[(String, &str)]) {
    let mut cmd = Command::new("python3");
    cmd.arg(SCRIPT);
    for (target, instance) in targets {
        cmd.arg(target).arg(instance);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run python3 ({e}); install Python 3 and `pip install {PACKAGES}`")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(3) => panic!(
            "the OpenTelemetry Python packages are not installed for python3 \
             (`pip install {PACKAGES}`; .ci/run installs them):\n{stderr}"
        ),
        _ => panic!(
            "otlp_export.py failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        ),
    }
}

/// Every series of the job, as sorted label maps, grouped by instance.
fn series_by_instance(
    c: &reqwest::blocking::Client,
    server: &Server,
) -> BTreeMap<String, BTreeSet<BTreeMap<String, String>>> {
    let matcher = format!(r#"{{job="{JOB}"}}"#);
    let url = format!(
        "{}?match[]={}",
        server.url("/api/v1/series"),
        urlencode(&matcher)
    );
    let body = get_json(c, &url);
    assert_eq!(body["status"], "success", "{body}");
    let mut out: BTreeMap<String, BTreeSet<BTreeMap<String, String>>> = BTreeMap::new();
    for s in body["data"].as_array().expect("series list") {
        let labels: BTreeMap<String, String> =
            serde_json::from_value(s.clone()).expect("label map");
        out.entry(labels["instance"].clone())
            .or_default()
            .insert(labels);
    }
    out
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The series one export must produce, exponential-histogram buckets aside.
fn expected_series(instance: &str) -> BTreeSet<BTreeMap<String, String>> {
    let labels = |name: &str, extra: &[(&str, &str)], scoped: bool| {
        let mut m: BTreeMap<String, String> =
            [("__name__", name), ("job", JOB), ("instance", instance)]
                .iter()
                .chain(extra)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        if scoped {
            m.insert("otel_scope_name".into(), "pharos.e2e".into());
            m.insert("otel_scope_version".into(), "1.0".into());
        }
        m
    };
    let mut want = BTreeSet::from([
        labels("app_requests_total", &[("route", "/a")], true),
        labels("app_queue_depth", &[("queue", "q1")], true),
        labels("app_temperature", &[("room", "lab")], true),
        labels("app_latency_seconds_sum", &[], true),
        labels("app_latency_seconds_count", &[], true),
        labels("app_payload_size_bytes_sum", &[], true),
        labels("app_payload_size_bytes_count", &[], true),
        labels("target_info", &[("deployment_environment", "e2e")], false),
    ]);
    for le in ["0.1", "0.5", "1", "+Inf"] {
        want.insert(labels("app_latency_seconds_bucket", &[("le", le)], true));
    }
    want
}

#[test]
fn python_sdk_exports_over_otlp_http_and_grpc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with_args(
        &dir.path().join("data"),
        None,
        &[
            "--otlp-http-listen",
            "127.0.0.1:0",
            "--otlp-grpc-listen",
            "127.0.0.1:0",
        ],
    );
    let http = bound_addr(&server, "OTLP/HTTP");
    let grpc = bound_addr(&server, "OTLP/gRPC");
    export(&[
        (format!("http=http://{http}/v1/metrics"), INSTANCES[0]),
        (
            format!("http-plain={}", server.url("/v1/metrics")),
            INSTANCES[1],
        ),
        (format!("grpc={grpc}"), INSTANCES[2]),
    ]);

    let c = client();
    let by_instance = series_by_instance(&c, &server);
    assert_eq!(
        by_instance
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(INSTANCES),
        "{by_instance:#?}"
    );
    for instance in INSTANCES {
        let got = &by_instance[instance];
        let (exp_buckets, others): (BTreeSet<_>, BTreeSet<_>) = got
            .iter()
            .cloned()
            .partition(|l| l["__name__"] == "app_payload_size_bytes_bucket");
        assert_eq!(others, expected_series(instance), "instance {instance}");

        // Values 1, 2 and 4 land in buckets whose upper bounds are consecutive powers
        // of 2^(1/4) (the receiver's scale cap is 2) from 1 up, then +Inf; the SDK may
        // send empty buckets past the highest value, so only the start is fixed.
        let mut les: Vec<f64> = exp_buckets
            .iter()
            .map(|l| match l["le"].as_str() {
                "+Inf" => f64::INFINITY,
                v => v.parse().expect("numeric le"),
            })
            .collect();
        les.sort_by(f64::total_cmp);
        assert!(les.len() >= 10, "{exp_buckets:#?}");
        assert_eq!(les.pop(), Some(f64::INFINITY));
        for (i, le) in les.iter().enumerate() {
            let want = 2f64.powf(i as f64 / 4.0);
            assert!((le - want).abs() < 1e-9, "le {le} != {want}");
        }

        let sel = |name: &str, extra: &str| {
            format!(r#"{name}{{job="{JOB}",instance="{instance}"{extra}}}"#)
        };
        let value = |expr: String| {
            query_value(&c, &server, &expr).unwrap_or_else(|| panic!("no result for {expr}"))
        };
        let checks = [
            (sel("app_requests_total", r#",route="/a""#), 7.0),
            (sel("app_queue_depth", r#",queue="q1""#), 2.0),
            (sel("app_temperature", r#",room="lab""#), 21.5),
            (sel("app_latency_seconds_bucket", r#",le="0.1""#), 0.0),
            (sel("app_latency_seconds_bucket", r#",le="0.5""#), 3.0),
            (sel("app_latency_seconds_bucket", r#",le="1""#), 3.0),
            (sel("app_latency_seconds_bucket", r#",le="+Inf""#), 4.0),
            (sel("app_latency_seconds_sum", ""), 3.25),
            (sel("app_latency_seconds_count", ""), 4.0),
            (sel("app_payload_size_bytes_bucket", r#",le="1""#), 1.0),
            (sel("app_payload_size_bytes_bucket", r#",le="2""#), 2.0),
            (sel("app_payload_size_bytes_bucket", r#",le="4""#), 3.0),
            (sel("app_payload_size_bytes_bucket", r#",le="+Inf""#), 3.0),
            (sel("app_payload_size_bytes_sum", ""), 7.0),
            (sel("app_payload_size_bytes_count", ""), 3.0),
            (sel("target_info", r#",deployment_environment="e2e""#), 1.0),
        ];
        for (expr, want) in checks {
            assert_eq!(value(expr.clone()), want, "{expr}");
        }
        // Joins on target_info find the resource attributes, as in Prometheus.
        let joined = format!(
            r#"app_temperature{{instance="{instance}"}} * on (job, instance) group_left (deployment_environment) target_info"#
        );
        assert_eq!(value(joined), 21.5);
    }

    // Five data points per export: one per instrument.
    for (series, want) in [
        (
            r#"pharos_otlp_requests_total{protocol="http",outcome="success"}"#,
            2.0,
        ),
        (
            r#"pharos_otlp_requests_total{protocol="grpc",outcome="success"}"#,
            1.0,
        ),
        (
            r#"pharos_otlp_datapoints_received_total{protocol="http"}"#,
            10.0,
        ),
        (
            r#"pharos_otlp_datapoints_received_total{protocol="grpc"}"#,
            5.0,
        ),
        (
            r#"pharos_otlp_datapoints_rejected_total{protocol="http"}"#,
            0.0,
        ),
        (
            r#"pharos_otlp_datapoints_rejected_total{protocol="grpc"}"#,
            0.0,
        ),
    ] {
        assert_eq!(metric_value(&c, &server, series), Some(want), "{series}");
    }
    server.stop();
}

/// A taken OTLP port stops the start with an error naming the address.
#[test]
fn taken_otlp_port_is_a_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = common::run_pharos(&[
        "serve",
        "--data-dir",
        data.to_str().expect("utf-8 path"),
        "--listen",
        "127.0.0.1:0",
        "--otlp-http-listen",
        "",
        "--otlp-grpc-listen",
        &addr,
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr} (--otlp-grpc-listen)")),
        "{stderr}"
    );
}
