use super::proto::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use super::proto::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile, AggregationTemporality, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use super::proto::resource::v1::Resource;
use super::*;
use pharos_model::{is_stale_nan, Labels};
use prost::Message;

const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
const DELTA: i32 = AggregationTemporality::Delta as i32;
const NO_RECORDED_VALUE: u32 = 1;
/// 2024-01-01T00:00:00Z in nanoseconds, and the same in milliseconds.
const T0: u64 = 1_704_067_200_000_000_000;
const T0_MS: i64 = 1_704_067_200_000;
const SEC: u64 = 1_000_000_000;

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v.to_owned())),
    })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value,
        key_strindex: 0,
    }
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
    pairs.iter().map(|(k, v)| kv(k, s(v))).collect()
}

fn request(resource: &[(&str, &str)], metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: attrs(resource),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "lib".to_owned(),
                    version: "1.2".to_owned(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

const SVC: &[(&str, &str)] = &[("service.name", "api"), ("service.instance.id", "host:1")];

fn metric(name: &str, unit: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

fn point(t: u64, v: f64, a: &[(&str, &str)]) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs(a),
        time_unix_nano: t,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn gauge(points: Vec<NumberDataPoint>) -> metric::Data {
    metric::Data::Gauge(Gauge {
        data_points: points,
    })
}

fn sum(temporality: i32, monotonic: bool, points: Vec<NumberDataPoint>) -> metric::Data {
    metric::Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: temporality,
        is_monotonic: monotonic,
    })
}

/// The labels every series of [`request`] with [`SVC`] carries, plus `extra`.
fn full(name: &str, extra: &[(&str, &str)]) -> Labels {
    let mut pairs = vec![
        ("__name__", name),
        ("job", "api"),
        ("instance", "host:1"),
        ("otel_scope_name", "lib"),
        ("otel_scope_version", "1.2"),
    ];
    pairs.extend_from_slice(extra);
    Labels::from_pairs(pairs)
}

fn samples(tr: &Translation, labels: &Labels) -> Vec<(i64, f64)> {
    let Some(series) = tr.batch.get(labels) else {
        let names: Vec<String> = tr
            .batch
            .series
            .iter()
            .map(|s| s.labels.to_string())
            .collect();
        panic!("no series {labels}; have {names:#?}");
    };
    series.samples.iter().map(|s| (s.t, s.v)).collect()
}

fn translate(req: &ExportMetricsServiceRequest) -> Translation {
    Translator::new().translate(req, 42)
}

/// Every batch must satisfy what storage assumes of a `WriteBatch`.
fn check_batch(batch: &OwnedBatch) {
    let mut seen = std::collections::HashSet::new();
    for s in &batch.series {
        assert!(
            seen.insert(s.labels.clone()),
            "duplicate series {}",
            s.labels
        );
        let ls = s.labels.as_slice();
        assert!(!ls.is_empty());
        assert!(ls.windows(2).all(|w| w[0].name < w[1].name), "{}", s.labels);
        for l in ls {
            assert!(!l.value.is_empty(), "{}", s.labels);
            if l.name == "__name__" {
                assert!(
                    pharos_model::labels::is_valid_metric_name(&l.value),
                    "{}",
                    s.labels
                );
            } else {
                assert!(
                    pharos_model::labels::is_valid_label_name(&l.name),
                    "{}",
                    s.labels
                );
            }
        }
        assert!(s.samples.windows(2).all(|w| w[0].t <= w[1].t));
        for e in &s.exemplars {
            let chars: usize = e
                .labels
                .iter()
                .map(|l| l.name.chars().count() + l.value.chars().count())
                .sum();
            assert!(chars <= 128);
            for l in e.labels.iter() {
                assert!(pharos_model::labels::is_valid_label_name(&l.name));
            }
        }
    }
    let wb = batch.as_write_batch();
    assert_eq!(wb.series.len(), batch.series.len());
    assert_eq!(wb.num_samples(), batch.num_samples());
    for (entry, s) in wb.series.iter().zip(&batch.series) {
        let names: Vec<&str> = wb.series_labels(entry).iter().map(|l| l.name).collect();
        let want: Vec<&str> = s.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, want);
        assert_eq!(wb.series_exemplars(entry).len(), s.exemplars.len());
    }
}

// --- names, resources and attributes ---

#[test]
fn gauge_with_resource_scope_and_units() {
    let req = request(
        SVC,
        vec![metric(
            "http.server.active_requests",
            "{request}",
            gauge(vec![point(T0 + 1_500_000, 3.0, &[("http.method", "GET")])]),
        )],
    );
    let tr = translate(&req);
    assert_eq!(tr.rejected_points, 0);
    assert_eq!(tr.error_message, None);
    assert_eq!(tr.response().partial_success, None);
    let l = full("http_server_active_requests", &[("http_method", "GET")]);
    assert_eq!(samples(&tr, &l), [(T0_MS + 1, 3.0)]);
    // Only job and instance: no target_info.
    assert_eq!(tr.batch.series.len(), 1);
    check_batch(&tr.batch);
}

#[test]
fn units_become_suffixes() {
    let cases = [
        ("memory.usage", "By", "memory_usage_bytes"),
        ("cpu.utilization", "1", "cpu_utilization_ratio"),
        ("network.io", "By/s", "network_io_bytes_per_second"),
        ("latency", "ms", "latency_milliseconds"),
        ("heap", "KiBy", "heap_kibibytes"),
    ];
    for (name, unit, want) in cases {
        let req = request(
            SVC,
            vec![metric(name, unit, gauge(vec![point(T0, 1.0, &[])]))],
        );
        let tr = translate(&req);
        assert_eq!(
            samples(&tr, &full(want, &[])),
            [(T0_MS, 1.0)],
            "{name} {unit}"
        );
    }
}

#[test]
fn job_from_namespace_and_target_info() {
    let resource = [
        ("service.name", "checkout"),
        ("service.namespace", "shop"),
        ("service.instance.id", "pod-7"),
        ("k8s.pod.name", "checkout-7"),
        ("host.name", "node1"),
    ];
    let req = request(
        &resource,
        vec![metric(
            "up",
            "",
            gauge(vec![point(T0, 1.0, &[]), point(T0 + 2 * SEC, 1.0, &[])]),
        )],
    );
    let tr = translate(&req);
    let up = Labels::from_pairs([
        ("__name__", "up"),
        ("job", "shop/checkout"),
        ("instance", "pod-7"),
        ("otel_scope_name", "lib"),
        ("otel_scope_version", "1.2"),
    ]);
    assert_eq!(samples(&tr, &up).len(), 2);
    let info = Labels::from_pairs([
        ("__name__", "target_info"),
        ("job", "shop/checkout"),
        ("instance", "pod-7"),
        ("k8s_pod_name", "checkout-7"),
        ("host_name", "node1"),
    ]);
    // Once per distinct timestamp of the resource's samples, valued 1.
    assert_eq!(samples(&tr, &info), [(T0_MS, 1.0), (T0_MS + 2000, 1.0)]);
    check_batch(&tr.batch);
}

#[test]
fn target_info_merged_across_repeated_resource_and_absent_without_points() {
    let res = [("service.name", "a"), ("region", "eu")];
    let mut req = request(
        &res,
        vec![metric("x", "", gauge(vec![point(T0, 1.0, &[])]))],
    );
    let again = req.resource_metrics[0].clone();
    req.resource_metrics.push(again);
    let tr = translate(&req);
    let info = Labels::from_pairs([("__name__", "target_info"), ("job", "a"), ("region", "eu")]);
    assert_eq!(samples(&tr, &info), [(T0_MS, 1.0)]);

    let empty = request(&res, vec![metric("x", "", gauge(vec![]))]);
    assert!(translate(&empty).batch.series.is_empty());
}

#[test]
fn missing_service_name_means_no_job() {
    let req = request(
        &[("service.namespace", "ns"), ("service.instance.id", "i")],
        vec![metric("x", "", gauge(vec![point(T0, 1.0, &[])]))],
    );
    let tr = translate(&req);
    let l = Labels::from_pairs([
        ("__name__", "x"),
        ("instance", "i"),
        ("otel_scope_name", "lib"),
        ("otel_scope_version", "1.2"),
    ]);
    assert_eq!(samples(&tr, &l), [(T0_MS, 1.0)]);
}

#[test]
fn attributes_sanitized_joined_and_overridden() {
    let int = |i| {
        Some(AnyValue {
            value: Some(any_value::Value::IntValue(i)),
        })
    };
    let dbl = |d| {
        Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(d)),
        })
    };
    let mut p = point(T0, 1.0, &[]);
    p.attributes = vec![
        kv("a.b", s("dot")),
        kv("a-b", s("dash")),
        kv("2xx", int(7)),
        kv("_hidden", s("h")),
        kv("__name__", s("evil")),
        kv("job", s("spoofed")),
        kv(
            "ok",
            Some(AnyValue {
                value: Some(any_value::Value::BoolValue(true)),
            }),
        ),
        kv("ratio", dbl(0.5)),
        kv("empty", s("")),
        kv("", s("no key")),
        kv(
            "list",
            Some(AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![s("x").unwrap(), int(1).unwrap()],
                })),
            }),
        ),
        kv(
            "map",
            Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", s("v"))],
                })),
            }),
        ),
    ];
    let req = request(SVC, vec![metric("m", "", gauge(vec![p]))]);
    let tr = translate(&req);
    // `a-b` sorts before `a.b`, so its value comes first.
    let l = full(
        "m",
        &[
            ("a_b", "dash;dot"),
            ("key_2xx", "7"),
            ("key_hidden", "h"),
            ("key__name__", "evil"),
            ("ok", "true"),
            ("ratio", "0.5"),
            ("list", r#"["x",1]"#),
            ("map", r#"{"k":"v"}"#),
        ],
    );
    assert_eq!(samples(&tr, &l), [(T0_MS, 1.0)]);
    check_batch(&tr.batch);
}

#[test]
fn invalid_metric_name_rejected() {
    let req = request(
        SVC,
        vec![metric("...", "", gauge(vec![point(T0, 1.0, &[])]))],
    );
    let tr = translate(&req);
    assert_eq!(tr.rejected_points, 1);
    assert!(tr.batch.series.is_empty());
    let ps = tr.response().partial_success.unwrap();
    assert_eq!(ps.rejected_data_points, 1);
    assert!(ps.error_message.contains("\"...\""), "{}", ps.error_message);
}

#[test]
fn missing_timestamp_takes_receive_time() {
    let req = request(SVC, vec![metric("x", "", gauge(vec![point(0, 1.0, &[])]))]);
    let tr = Translator::new().translate(&req, 1234);
    assert_eq!(samples(&tr, &full("x", &[])), [(1234, 1.0)]);
}

// --- sums ---

#[test]
fn cumulative_monotonic_sum_is_counter_with_exemplar() {
    let mut p = point(T0, 10.0, &[("route", "/a")]);
    p.start_time_unix_nano = T0 - 60 * SEC;
    p.exemplars = vec![Exemplar {
        filtered_attributes: attrs(&[("user.id", "u1")]),
        time_unix_nano: T0 - SEC,
        span_id: vec![0xab, 0xcd, 0, 0, 0, 0, 0, 0x01],
        trace_id: vec![
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c,
        ],
        value: Some(exemplar::Value::AsInt(3)),
    }];
    let req = request(
        SVC,
        vec![metric(
            "http.requests",
            "{request}",
            sum(CUMULATIVE, true, vec![p]),
        )],
    );
    let tr = translate(&req);
    let l = full("http_requests_total", &[("route", "/a")]);
    assert_eq!(samples(&tr, &l), [(T0_MS, 10.0)]);
    let ex = &tr.batch.get(&l).unwrap().exemplars;
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].value, 3.0);
    assert_eq!(ex[0].t, T0_MS - 1000);
    assert_eq!(
        ex[0].labels,
        Labels::from_pairs([
            ("trace_id", "5b8efff798038103d269b633813fc60c"),
            ("span_id", "abcd000000000001"),
            ("user_id", "u1"),
        ])
    );
}

#[test]
fn exemplar_labels_kept_within_limit() {
    let mut p = point(T0, 1.0, &[]);
    p.exemplars = vec![Exemplar {
        filtered_attributes: attrs(&[("a", &"x".repeat(40)), ("b", &"y".repeat(40)), ("c", "z")]),
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        value: Some(exemplar::Value::AsDouble(1.0)),
        ..Default::default()
    }];
    let req = request(SVC, vec![metric("c", "", sum(CUMULATIVE, true, vec![p]))]);
    let tr = translate(&req);
    let ex = &tr.batch.get(&full("c_total", &[])).unwrap().exemplars[0];
    // Ids take 63 characters; `a` fits (41), `b` would not (41 more), `c` does (2).
    let names: Vec<&str> = ex.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["a", "c", "span_id", "trace_id"]);
    check_batch(&tr.batch);
}

#[test]
fn non_monotonic_sum_is_gauge_and_gauge_exemplars_dropped() {
    let mut p = point(T0, -4.0, &[]);
    p.exemplars = vec![Exemplar {
        value: Some(exemplar::Value::AsDouble(1.0)),
        ..Default::default()
    }];
    let req = request(
        SVC,
        vec![
            metric("queue.size", "1", sum(CUMULATIVE, false, vec![p.clone()])),
            metric("load", "1", gauge(vec![p])),
        ],
    );
    let tr = translate(&req);
    assert_eq!(samples(&tr, &full("queue_size", &[])), [(T0_MS, -4.0)]);
    assert_eq!(samples(&tr, &full("load_ratio", &[])), [(T0_MS, -4.0)]);
    assert!(tr.batch.series.iter().all(|s| s.exemplars.is_empty()));
}

#[test]
fn int_values() {
    let p = NumberDataPoint {
        time_unix_nano: T0,
        value: Some(number_data_point::Value::AsInt(-7)),
        ..Default::default()
    };
    let req = request(SVC, vec![metric("x", "", gauge(vec![p]))]);
    assert_eq!(samples(&translate(&req), &full("x", &[])), [(T0_MS, -7.0)]);
}

fn delta_point(start: u64, end: u64, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        start_time_unix_nano: start,
        ..point(end, v, &[])
    }
}

#[test]
fn delta_sums_accumulate_across_requests() {
    let mut tr = Translator::new();
    let req = |points| request(SVC, vec![metric("jobs.done", "", sum(DELTA, true, points))]);
    let l = full("jobs_done_total", &[]);
    let a = tr.translate(
        &req(vec![
            delta_point(T0, T0 + SEC, 2.0),
            delta_point(T0 + SEC, T0 + 2 * SEC, 3.0),
        ]),
        0,
    );
    assert_eq!(samples(&a, &l), [(T0_MS + 1000, 2.0), (T0_MS + 2000, 5.0)]);
    let b = tr.translate(&req(vec![delta_point(T0 + 2 * SEC, T0 + 3 * SEC, 1.0)]), 0);
    assert_eq!(samples(&b, &l), [(T0_MS + 3000, 6.0)]);
    assert_eq!(tr.tracked_delta_series(), 1);

    // A retried request is refused, and says so.
    let retry = tr.translate(&req(vec![delta_point(T0 + 2 * SEC, T0 + 3 * SEC, 1.0)]), 0);
    assert_eq!(retry.rejected_points, 1);
    assert!(retry.batch.series.is_empty());
    let msg = retry.error_message.unwrap();
    assert!(msg.contains("not newer"), "{msg}");
    assert!(msg.starts_with("rejected 1 of 1 data point"), "{msg}");

    // An interval starting before the last one ended: the total restarts.
    let c = tr.translate(&req(vec![delta_point(T0 + SEC, T0 + 4 * SEC, 4.0)]), 0);
    assert_eq!(samples(&c, &l), [(T0_MS + 4000, 4.0)]);
    // A gap (no point for an interval) is summed across.
    let d = tr.translate(&req(vec![delta_point(T0 + 9 * SEC, T0 + 10 * SEC, 1.0)]), 0);
    assert_eq!(samples(&d, &l), [(T0_MS + 10_000, 5.0)]);
}

#[test]
fn delta_series_limit_refuses_new_series() {
    let mut tr = Translator::with_config(TranslatorConfig {
        max_delta_series: 1,
        ..TranslatorConfig::default()
    });
    let req = request(
        SVC,
        vec![metric(
            "c",
            "",
            sum(
                DELTA,
                true,
                vec![point(T0, 1.0, &[("k", "a")]), point(T0, 1.0, &[("k", "b")])],
            ),
        )],
    );
    let out = tr.translate(&req, 0);
    assert_eq!(out.rejected_points, 1);
    assert_eq!(out.batch.series.len(), 1);
    assert!(out.error_message.unwrap().contains("limit of 1 series"));
}

#[test]
fn delta_non_monotonic_and_unspecified_rejected() {
    let req = request(
        SVC,
        vec![
            metric(
                "a",
                "",
                sum(DELTA, false, vec![point(T0, 1.0, &[]), point(T0, 2.0, &[])]),
            ),
            metric("b", "", sum(0, true, vec![point(T0, 1.0, &[])])),
            metric(
                "h",
                "",
                metric::Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint::default()],
                    aggregation_temporality: 7,
                }),
            ),
        ],
    );
    let tr = translate(&req);
    assert_eq!(tr.rejected_points, 4);
    assert!(tr.batch.series.is_empty());
    let msg = tr.error_message.unwrap();
    assert!(msg.contains("metric \"a\": non-monotonic"), "{msg}");
    assert!(
        msg.contains("metric \"b\": aggregation temporality 0"),
        "{msg}"
    );
    assert!(
        msg.contains("metric \"h\": aggregation temporality 7"),
        "{msg}"
    );
}

#[test]
fn point_without_value_rejected() {
    let p = NumberDataPoint {
        time_unix_nano: T0,
        ..Default::default()
    };
    let req = request(
        SVC,
        vec![metric("x", "", gauge(vec![p, point(T0, 1.0, &[])]))],
    );
    let tr = translate(&req);
    assert_eq!(tr.rejected_points, 1);
    assert_eq!(samples(&tr, &full("x", &[])), [(T0_MS, 1.0)]);
    assert!(tr
        .error_message
        .unwrap()
        .contains("rejected 1 of 2 data points"));
}

// --- histograms ---

fn hist_point(t: u64, bounds: &[f64], counts: &[u64], sum: Option<f64>) -> HistogramDataPoint {
    HistogramDataPoint {
        time_unix_nano: t,
        explicit_bounds: bounds.to_vec(),
        bucket_counts: counts.to_vec(),
        count: counts.iter().sum(),
        sum,
        ..Default::default()
    }
}

fn histogram(temporality: i32, points: Vec<HistogramDataPoint>) -> metric::Data {
    metric::Data::Histogram(Histogram {
        data_points: points,
        aggregation_temporality: temporality,
    })
}

#[test]
fn cumulative_histogram_buckets_sum_count_and_exemplars() {
    let mut p = hist_point(T0, &[0.1, 0.5, 1.0], &[2, 3, 0, 1], Some(2.75));
    p.attributes = attrs(&[("route", "/")]);
    p.exemplars = vec![
        Exemplar {
            value: Some(exemplar::Value::AsDouble(0.3)),
            trace_id: vec![1; 16],
            ..Default::default()
        },
        Exemplar {
            value: Some(exemplar::Value::AsDouble(7.0)),
            span_id: vec![2; 8],
            ..Default::default()
        },
        // No value: dropped.
        Exemplar::default(),
    ];
    let req = request(
        SVC,
        vec![metric(
            "http.server.duration",
            "s",
            histogram(CUMULATIVE, vec![p]),
        )],
    );
    let tr = translate(&req);
    let b = |le| {
        full(
            "http_server_duration_seconds_bucket",
            &[("route", "/"), ("le", le)],
        )
    };
    assert_eq!(samples(&tr, &b("0.1")), [(T0_MS, 2.0)]);
    assert_eq!(samples(&tr, &b("0.5")), [(T0_MS, 5.0)]);
    assert_eq!(samples(&tr, &b("1")), [(T0_MS, 5.0)]);
    assert_eq!(samples(&tr, &b("+Inf")), [(T0_MS, 6.0)]);
    let count = full("http_server_duration_seconds_count", &[("route", "/")]);
    let sum = full("http_server_duration_seconds_sum", &[("route", "/")]);
    assert_eq!(samples(&tr, &count), [(T0_MS, 6.0)]);
    assert_eq!(samples(&tr, &sum), [(T0_MS, 2.75)]);
    assert_eq!(tr.batch.series.len(), 6);
    // Exemplars go to the bucket holding their value, and only there.
    let ex = |le| tr.batch.get(&b(le)).unwrap().exemplars.clone();
    assert_eq!(ex("0.5").len(), 1);
    assert_eq!(ex("0.5")[0].value, 0.3);
    assert_eq!(ex("+Inf")[0].value, 7.0);
    assert!(ex("0.1").is_empty() && ex("1").is_empty());
    check_batch(&tr.batch);
}

#[test]
fn histogram_without_sum_or_buckets() {
    let p = HistogramDataPoint {
        time_unix_nano: T0,
        count: 4,
        ..Default::default()
    };
    let req = request(SVC, vec![metric("h", "", histogram(CUMULATIVE, vec![p]))]);
    let tr = translate(&req);
    assert_eq!(
        samples(&tr, &full("h_bucket", &[("le", "+Inf")])),
        [(T0_MS, 4.0)]
    );
    assert_eq!(samples(&tr, &full("h_count", &[])), [(T0_MS, 4.0)]);
    assert_eq!(tr.batch.series.len(), 2);
}

#[test]
fn invalid_histograms_rejected_with_reason() {
    let mut bad_count = hist_point(T0, &[1.0], &[1, 1], None);
    bad_count.count = 5;
    let req = request(
        SVC,
        vec![metric(
            "h",
            "",
            histogram(
                CUMULATIVE,
                vec![
                    hist_point(T0, &[1.0, 2.0], &[1, 1], None),
                    bad_count,
                    hist_point(T0, &[1.0], &[1, 1], None),
                ],
            ),
        )],
    );
    let tr = translate(&req);
    assert_eq!(tr.rejected_points, 2);
    let msg = tr.error_message.clone().unwrap();
    assert!(
        msg.contains("2 bucket counts for 2 explicit bounds"),
        "{msg}"
    );
    assert!(msg.contains("do not add up"), "{msg}");
    assert_eq!(samples(&tr, &full("h_count", &[])), [(T0_MS, 2.0)]);
}

#[test]
fn delta_histograms_accumulate() {
    let mut tr = Translator::new();
    let req = |start, end, counts: &[u64], sum| {
        let mut p = hist_point(end, &[1.0, 2.0], counts, Some(sum));
        p.start_time_unix_nano = start;
        request(SVC, vec![metric("h", "", histogram(DELTA, vec![p]))])
    };
    tr.translate(&req(T0, T0 + SEC, &[1, 0, 0], 0.5), 0);
    let out = tr.translate(&req(T0 + SEC, T0 + 2 * SEC, &[1, 2, 1], 7.0), 0);
    let t = T0_MS + 2000;
    assert_eq!(samples(&out, &full("h_bucket", &[("le", "1")])), [(t, 2.0)]);
    assert_eq!(samples(&out, &full("h_bucket", &[("le", "2")])), [(t, 4.0)]);
    assert_eq!(
        samples(&out, &full("h_bucket", &[("le", "+Inf")])),
        [(t, 5.0)]
    );
    assert_eq!(samples(&out, &full("h_count", &[])), [(t, 5.0)]);
    assert_eq!(samples(&out, &full("h_sum", &[])), [(t, 7.5)]);
}

fn expo_point(
    t: u64,
    scale: i32,
    offset: i32,
    pos: &[u64],
    zero: u64,
    neg: &[u64],
) -> ExponentialHistogramDataPoint {
    ExponentialHistogramDataPoint {
        time_unix_nano: t,
        scale,
        zero_count: zero,
        count: zero + pos.iter().sum::<u64>() + neg.iter().sum::<u64>(),
        sum: Some(10.0),
        positive: Some(Buckets {
            offset,
            bucket_counts: pos.to_vec(),
        }),
        negative: Some(Buckets {
            offset: 0,
            bucket_counts: neg.to_vec(),
        }),
        ..Default::default()
    }
}

fn expo(temporality: i32, points: Vec<ExponentialHistogramDataPoint>) -> metric::Data {
    metric::Data::ExponentialHistogram(ExponentialHistogram {
        data_points: points,
        aggregation_temporality: temporality,
    })
}

#[test]
fn exponential_histogram_as_classic_buckets() {
    // The OTLP example: scale 0, one zero, offset 1 so the counts are for (2, 4] (none)
    // and (4, 8] (two; its max is 5).
    let mut p = expo_point(T0, 0, 1, &[0, 2], 1, &[]);
    p.exemplars = vec![Exemplar {
        value: Some(exemplar::Value::AsDouble(3.0)),
        ..Default::default()
    }];
    let req = request(
        SVC,
        vec![metric(
            "my.exponential.histogram",
            "1",
            expo(CUMULATIVE, vec![p]),
        )],
    );
    let tr = translate(&req);
    let b = |le| full("my_exponential_histogram_bucket", &[("le", le)]);
    assert_eq!(samples(&tr, &b("0")), [(T0_MS, 1.0)]);
    assert_eq!(samples(&tr, &b("4")), [(T0_MS, 1.0)]);
    assert_eq!(samples(&tr, &b("8")), [(T0_MS, 3.0)]);
    assert_eq!(samples(&tr, &b("+Inf")), [(T0_MS, 3.0)]);
    assert_eq!(
        samples(&tr, &full("my_exponential_histogram_count", &[])),
        [(T0_MS, 3.0)]
    );
    assert_eq!(
        samples(&tr, &full("my_exponential_histogram_sum", &[])),
        [(T0_MS, 10.0)]
    );
    assert_eq!(tr.batch.get(&b("4")).unwrap().exemplars.len(), 1);
    check_batch(&tr.batch);
}

#[test]
fn exponential_high_scale_capped() {
    // Scale 8, 64 buckets from index 0: (1, 2^(64/256)] = (1, 1.19]; at the default cap
    // of 2 that is the single bucket (1, 2^(1/4)].
    let p = expo_point(T0, 8, 0, &[1; 64], 0, &[]);
    let req = request(SVC, vec![metric("h", "", expo(CUMULATIVE, vec![p]))]);
    let tr = translate(&req);
    let le = naming::float_label(2f64.powf(0.25));
    assert_eq!(
        samples(&tr, &full("h_bucket", &[("le", &le)])),
        [(T0_MS, 64.0)]
    );
    assert_eq!(tr.batch.series.len(), 4);
}

#[test]
fn delta_exponential_histograms_merge_across_scales() {
    let mut tr = Translator::new();
    let send = |tr: &mut Translator, start, end, p: ExponentialHistogramDataPoint| {
        let p = ExponentialHistogramDataPoint {
            start_time_unix_nano: start,
            time_unix_nano: end,
            ..p
        };
        tr.translate(
            &request(SVC, vec![metric("h", "", expo(DELTA, vec![p]))]),
            0,
        )
    };
    // (1, 2] at scale 0, then (1.68, 2] at scale 2: both bound 2 at the lattice.
    send(&mut tr, T0, T0 + SEC, expo_point(0, 0, 0, &[3], 0, &[]));
    let out = send(
        &mut tr,
        T0 + SEC,
        T0 + 2 * SEC,
        expo_point(0, 2, 3, &[2], 1, &[]),
    );
    let t = T0_MS + 2000;
    assert_eq!(samples(&out, &full("h_bucket", &[("le", "0")])), [(t, 1.0)]);
    assert_eq!(samples(&out, &full("h_bucket", &[("le", "2")])), [(t, 6.0)]);
    assert_eq!(samples(&out, &full("h_count", &[])), [(t, 6.0)]);
    assert_eq!(samples(&out, &full("h_sum", &[])), [(t, 20.0)]);
}

// --- summaries ---

#[test]
fn summary_quantiles_sum_count() {
    let p = SummaryDataPoint {
        time_unix_nano: T0,
        count: 10,
        sum: 4.5,
        quantile_values: vec![
            ValueAtQuantile {
                quantile: 0.5,
                value: 0.4,
            },
            ValueAtQuantile {
                quantile: 0.99,
                value: 1.2,
            },
        ],
        ..Default::default()
    };
    let req = request(
        SVC,
        vec![metric(
            "rpc.duration",
            "ms",
            metric::Data::Summary(Summary {
                data_points: vec![p],
            }),
        )],
    );
    let tr = translate(&req);
    let name = "rpc_duration_milliseconds";
    assert_eq!(
        samples(&tr, &full(name, &[("quantile", "0.5")])),
        [(T0_MS, 0.4)]
    );
    assert_eq!(
        samples(&tr, &full(name, &[("quantile", "0.99")])),
        [(T0_MS, 1.2)]
    );
    assert_eq!(
        samples(&tr, &full("rpc_duration_milliseconds_sum", &[])),
        [(T0_MS, 4.5)]
    );
    assert_eq!(
        samples(&tr, &full("rpc_duration_milliseconds_count", &[])),
        [(T0_MS, 10.0)]
    );
}

#[test]
fn summary_bad_quantile_rejected() {
    let p = SummaryDataPoint {
        time_unix_nano: T0,
        quantile_values: vec![ValueAtQuantile {
            quantile: 1.5,
            value: 1.0,
        }],
        ..Default::default()
    };
    let req = request(
        SVC,
        vec![metric(
            "s",
            "",
            metric::Data::Summary(Summary {
                data_points: vec![p],
            }),
        )],
    );
    let tr = translate(&req);
    assert_eq!(tr.rejected_points, 1);
    assert!(tr.batch.series.is_empty());
}

// --- staleness ---

#[test]
fn no_recorded_value_becomes_staleness_markers() {
    let mut g = point(T0, 5.0, &[]);
    g.flags = NO_RECORDED_VALUE;
    let mut h = hist_point(T0, &[1.0], &[], Some(0.0));
    h.flags = NO_RECORDED_VALUE;
    let mut d = delta_point(T0 - SEC, T0, 0.0);
    d.flags = NO_RECORDED_VALUE;
    let summary = SummaryDataPoint {
        time_unix_nano: T0,
        flags: NO_RECORDED_VALUE,
        quantile_values: vec![ValueAtQuantile {
            quantile: 0.5,
            value: 0.0,
        }],
        ..Default::default()
    };
    let mut e = expo_point(T0, 0, 0, &[], 0, &[]);
    e.flags = NO_RECORDED_VALUE;
    e.sum = None;
    let req = request(
        SVC,
        vec![
            metric("g", "", gauge(vec![g])),
            metric("h", "", histogram(CUMULATIVE, vec![h])),
            metric("d", "", sum(DELTA, true, vec![d])),
            metric(
                "s",
                "",
                metric::Data::Summary(Summary {
                    data_points: vec![summary],
                }),
            ),
            metric("e", "", expo(CUMULATIVE, vec![e])),
        ],
    );
    let mut tr = Translator::new();
    let out = tr.translate(&req, 0);
    assert_eq!(out.rejected_points, 0);
    for s in &out.batch.series {
        assert_eq!(s.samples.len(), 1);
        assert!(is_stale_nan(s.samples[0].v), "{}", s.labels);
    }
    let expected = [
        full("g", &[]),
        full("h_bucket", &[("le", "1")]),
        full("h_bucket", &[("le", "+Inf")]),
        full("h_count", &[]),
        full("h_sum", &[]),
        full("d_total", &[]),
        full("s", &[("quantile", "0.5")]),
        full("s_sum", &[]),
        full("s_count", &[]),
        full("e_bucket", &[("le", "+Inf")]),
        full("e_count", &[]),
    ];
    for want in &expected {
        assert!(out.batch.get(want).is_some(), "missing {want}");
    }
    assert_eq!(out.batch.series.len(), expected.len());
    // Staleness does not start delta state.
    assert_eq!(tr.tracked_delta_series(), 0);
}

// --- decoding ---

#[test]
fn protobuf_round_trip() {
    let req = request(
        SVC,
        vec![metric("x", "", gauge(vec![point(T0, 1.5, &[("a", "b")])]))],
    );
    let bytes = req.encode_to_vec();
    assert_eq!(decode_request_protobuf(&bytes).unwrap(), req);
    let err = decode_request_protobuf(&[0x0a, 0xff]).unwrap_err();
    assert!(err.to_string().starts_with("malformed OTLP protobuf"));
}

const JSON_EXAMPLE: &str = r#"{
  "resourceMetrics": [{
    "resource": {"attributes": [
      {"key": "service.name", "value": {"stringValue": "my.service"}},
      {"key": "pid", "value": {"intValue": "4242"}},
      {"key": "blob", "value": {"bytesValue": "aGkhPw=="}},
      {"key": "nested", "value": {"arrayValue": {"values": [{"doubleValue": "NaN"}, {"boolValue": true}]}}}
    ]},
    "scopeMetrics": [{
      "scope": {"name": "my.library", "version": "1.0.0"},
      "metrics": [
        {"name": "my.counter", "unit": "1", "sum": {
          "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE",
          "isMonotonic": true,
          "dataPoints": [{
            "asDouble": 5, "startTimeUnixNano": "1544712660300000000",
            "timeUnixNano": "1544712660300000000",
            "attributes": [{"key": "my.counter.attr", "value": {"stringValue": "some value"}}],
            "exemplars": [{"asInt": "3", "timeUnixNano": 1544712660300000000,
              "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "eee19b7ec3c1b174",
              "filteredAttributes": [{"key": "k", "value": {"stringValue": "v"}}]}]
          }]
        }},
        {"name": "my.gauge", "unit": "1", "gauge": {"dataPoints": [
          {"asInt": "-10", "time_unix_nano": "1544712660300000000", "flags": 0, "unknownField": [1, 2]}
        ]}},
        {"name": "my.histogram", "unit": "1", "histogram": {
          "aggregationTemporality": 2,
          "dataPoints": [{"timeUnixNano": "1544712660300000000", "count": "2", "sum": 2,
            "bucketCounts": ["1", 1], "explicitBounds": [1], "min": 0, "max": 2}]
        }},
        {"name": "my.exponential.histogram", "unit": "1", "exponentialHistogram": {
          "aggregationTemporality": 2,
          "dataPoints": [{"timeUnixNano": "1544712660300000000", "count": "3", "sum": 10,
            "scale": 0, "zeroCount": "1", "positive": {"offset": 1, "bucketCounts": ["0", "2"]},
            "negative": null, "zeroThreshold": 0}]
        }},
        {"name": "my.summary", "summary": {"dataPoints": [{"timeUnixNano": "1544712660300000000",
          "count": "1", "sum": "Infinity", "quantileValues": [{"quantile": 0.5, "value": 1.0e0}]}]}},
        {"name": "no.data"}
      ]
    }]
  }]
}"#;

#[test]
fn json_decoding() {
    let req = decode_request_json(JSON_EXAMPLE.as_bytes()).unwrap();
    let rm = &req.resource_metrics[0];
    let res = &rm.resource.as_ref().unwrap().attributes;
    assert_eq!(
        res[1].value.as_ref().unwrap().value,
        Some(any_value::Value::IntValue(4242))
    );
    assert_eq!(
        res[2].value.as_ref().unwrap().value,
        Some(any_value::Value::BytesValue(b"hi!?".to_vec()))
    );
    let metrics = &rm.scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 6);
    let Some(metric::Data::Sum(sm)) = &metrics[0].data else {
        panic!("not a sum")
    };
    assert_eq!(sm.aggregation_temporality, CUMULATIVE);
    assert!(sm.is_monotonic);
    let p = &sm.data_points[0];
    assert_eq!(p.value, Some(number_data_point::Value::AsDouble(5.0)));
    assert_eq!(p.time_unix_nano, 1_544_712_660_300_000_000);
    let ex = &p.exemplars[0];
    assert_eq!(ex.value, Some(exemplar::Value::AsInt(3)));
    assert_eq!(ex.trace_id[..2], [0x5b, 0x8e]);
    assert_eq!(ex.span_id, [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]);
    let Some(metric::Data::Gauge(g)) = &metrics[1].data else {
        panic!("not a gauge")
    };
    assert_eq!(
        g.data_points[0].value,
        Some(number_data_point::Value::AsInt(-10))
    );
    assert_eq!(g.data_points[0].time_unix_nano, 1_544_712_660_300_000_000);
    let Some(metric::Data::Histogram(h)) = &metrics[2].data else {
        panic!("not a histogram")
    };
    assert_eq!(h.data_points[0].bucket_counts, [1, 1]);
    assert_eq!(h.data_points[0].sum, Some(2.0));
    let Some(metric::Data::ExponentialHistogram(e)) = &metrics[3].data else {
        panic!("not an exponential histogram")
    };
    assert_eq!(e.data_points[0].positive.as_ref().unwrap().offset, 1);
    assert_eq!(e.data_points[0].negative, None);
    let Some(metric::Data::Summary(su)) = &metrics[4].data else {
        panic!("not a summary")
    };
    assert_eq!(su.data_points[0].sum, f64::INFINITY);
    assert_eq!(metrics[5].data, None);

    // And it translates.
    let tr = translate(&req);
    assert_eq!(tr.rejected_points, 0, "{:?}", tr.error_message);
    let t = 1_544_712_660_300;
    let base = |name: &str| {
        Labels::from_pairs([
            ("__name__", name),
            ("job", "my.service"),
            ("otel_scope_name", "my.library"),
            ("otel_scope_version", "1.0.0"),
        ])
    };
    let mut counter = base("my_counter_total").into_vec();
    counter.push(pharos_model::Label::new("my_counter_attr", "some value"));
    let counter = Labels::from_pairs(counter.into_iter().map(|l| (l.name, l.value)));
    assert_eq!(samples(&tr, &counter), [(t, 5.0)]);
    assert_eq!(tr.batch.get(&counter).unwrap().exemplars[0].labels.len(), 3);
    assert_eq!(samples(&tr, &base("my_gauge_ratio")), [(t, -10.0)]);
    let info = Labels::from_pairs([
        ("__name__", "target_info"),
        ("job", "my.service"),
        ("pid", "4242"),
        ("blob", "aGkhPw=="),
        ("nested", r#"["NaN",true]"#),
    ]);
    assert_eq!(samples(&tr, &info), [(t, 1.0)]);
    check_batch(&tr.batch);
}

#[test]
fn json_errors_name_the_path() {
    let cases = [
        ("[]", "", "expected an object"),
        ("{", "", "not valid JSON"),
        (r#"{"resourceMetrics": 5}"#, "resourceMetrics", "expected an array"),
        (
            r#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"gauge": {"dataPoints": [{"timeUnixNano": "abc"}]}}]}]}]}"#,
            "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].timeUnixNano",
            "expected an unsigned 64-bit integer",
        ),
        (
            r#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"gauge": {}, "sum": {}}]}]}]}"#,
            "resourceMetrics[0].scopeMetrics[0].metrics[0]",
            "only one may be",
        ),
        (
            r#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"sum": {"aggregationTemporality": "SIDEWAYS"}}]}]}]}"#,
            "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.aggregationTemporality",
            "unknown aggregation temporality",
        ),
        (
            r#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"sum": {"dataPoints": [{"exemplars": [{"traceId": "xyz0"}]}]}}]}]}]}"#,
            "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0].exemplars[0].traceId",
            "not a hex string",
        ),
        (
            r#"{"resourceMetrics": [{"resource": {"attributes": [{"key": "k", "value": {"intValue": "99999999999999999999"}}]}}]}"#,
            "resourceMetrics[0].resource.attributes[0].value.intValue",
            "out of range",
        ),
        (
            r#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"exponentialHistogram": {"dataPoints": [{"scale": 1.5}]}}]}]}]}"#,
            "resourceMetrics[0].scopeMetrics[0].metrics[0].exponentialHistogram.dataPoints[0].scale",
            "expected a 32-bit integer",
        ),
    ];
    for (body, path, what) in cases {
        let err = decode_request_json(body.as_bytes()).unwrap_err();
        let OtlpError::Json(e) = &err else {
            panic!("{err}")
        };
        assert_eq!(e.path, path, "{body}");
        assert!(e.message.contains(what), "{body}: {}", e.message);
        if !path.is_empty() {
            assert!(err.to_string().contains(&format!(" at {path}: ")), "{err}");
        }
    }
}

#[test]
fn json_lenient_forms() {
    let body = r#"{"resource_metrics": [{"scope_metrics": [{"metrics": [
        {"name": "x", "sum": {"aggregation_temporality": 1, "is_monotonic": true,
          "data_points": [{"as_double": "1.5", "time_unix_nano": 1e18, "start_time_unix_nano": null,
            "flags": "0", "exemplars": [{"trace_id": "", "span_id": "ABCDEF0123456789", "as_double": "-Infinity"}]}]}}
    ]}]}], "extra": {"ignored": true}}"#;
    let req = decode_request_json(body.as_bytes()).unwrap();
    let Some(metric::Data::Sum(sm)) = &req.resource_metrics[0].scope_metrics[0].metrics[0].data
    else {
        panic!()
    };
    assert_eq!(sm.aggregation_temporality, DELTA);
    let p = &sm.data_points[0];
    assert_eq!(p.value, Some(number_data_point::Value::AsDouble(1.5)));
    assert_eq!(p.time_unix_nano, 1_000_000_000_000_000_000);
    assert_eq!(
        p.exemplars[0].value,
        Some(exemplar::Value::AsDouble(f64::NEG_INFINITY))
    );
    assert!(p.exemplars[0].trace_id.is_empty());
    assert_eq!(
        decode_request_json(b"{}").unwrap(),
        ExportMetricsServiceRequest::default()
    );
}

#[test]
fn responses() {
    let ok = Translation::default();
    assert_eq!(encode_response_json(&ok.response()), b"{}");
    assert!(encode_response_protobuf(&ok.response()).is_empty());
    let partial = Translation {
        rejected_points: 3,
        error_message: Some("why \"x\"".to_owned()),
        ..Default::default()
    };
    let json: serde_json::Value =
        serde_json::from_slice(&encode_response_json(&partial.response())).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"partialSuccess": {"rejectedDataPoints": "3", "errorMessage": "why \"x\""}})
    );
    let pb = ExportMetricsServiceResponse::decode(&*encode_response_protobuf(&partial.response()))
        .unwrap();
    assert_eq!(pb.partial_success.unwrap().rejected_data_points, 3);
}

#[test]
fn rejection_message_bounded() {
    let metrics = (0..20)
        .map(|i| {
            metric(
                &format!("m{i}"),
                "",
                sum(0, true, vec![point(T0, 1.0, &[])]),
            )
        })
        .collect();
    let tr = translate(&request(SVC, metrics));
    assert_eq!(tr.rejected_points, 20);
    let msg = tr.error_message.unwrap();
    assert!(msg.ends_with("15 more points for other reasons"), "{msg}");
    assert!(msg.len() < 1000);
}

// --- properties ---

mod props {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::select;

    fn any_value() -> impl Strategy<Value = AnyValue> {
        let leaf = prop_oneof![
            Just(None),
            ".{0,6}".prop_map(|s| Some(any_value::Value::StringValue(s))),
            any::<bool>().prop_map(|b| Some(any_value::Value::BoolValue(b))),
            any::<i64>().prop_map(|i| Some(any_value::Value::IntValue(i))),
            any::<f64>().prop_map(|d| Some(any_value::Value::DoubleValue(d))),
            vec(any::<u8>(), 0..5).prop_map(|b| Some(any_value::Value::BytesValue(b))),
            any::<i32>().prop_map(|i| Some(any_value::Value::StringValueStrindex(i))),
        ]
        .prop_map(|value| AnyValue { value });
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
                }),
                vec((key(), inner), 0..4).prop_map(|kvs| AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList {
                        values: kvs.into_iter().map(|(k, v)| kv(&k, Some(v))).collect(),
                    })),
                }),
            ]
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            select(vec![
                "service.name",
                "service.namespace",
                "service.instance.id",
                "job",
                "instance",
                "__name__",
                "le",
                "quantile",
                "trace_id",
                "otel_scope_name",
                "",
                "a.b",
                "a_b",
            ])
            .prop_map(str::to_owned),
            "[a-zA-Z0-9._ é-]{0,8}",
        ]
    }

    fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
        vec(
            (key(), proptest::option::of(any_value())).prop_map(|(k, v)| kv(&k, v)),
            0..4,
        )
    }

    fn time() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(u64::MAX),
            (0u64..5).prop_map(|i| T0 + i * SEC),
            any::<u64>(),
        ]
    }

    fn flags() -> impl Strategy<Value = u32> {
        prop_oneof![3 => Just(0u32), 1 => Just(1u32), 1 => any::<u32>()]
    }

    fn exemplars() -> impl Strategy<Value = Vec<Exemplar>> {
        vec(
            (
                attributes(),
                time(),
                vec(any::<u8>(), 0..20),
                vec(any::<u8>(), 0..10),
                proptest::option::of(prop_oneof![
                    any::<f64>().prop_map(exemplar::Value::AsDouble),
                    any::<i64>().prop_map(exemplar::Value::AsInt),
                ]),
            )
                .prop_map(
                    |(filtered_attributes, time_unix_nano, trace_id, span_id, value)| Exemplar {
                        filtered_attributes,
                        time_unix_nano,
                        span_id,
                        trace_id,
                        value,
                    },
                ),
            0..3,
        )
    }

    fn number_points() -> impl Strategy<Value = Vec<NumberDataPoint>> {
        vec(
            (
                attributes(),
                time(),
                time(),
                exemplars(),
                flags(),
                prop_oneof![
                    1 => Just(None),
                    4 => prop_oneof![
                        any::<f64>().prop_map(number_data_point::Value::AsDouble),
                        any::<i64>().prop_map(number_data_point::Value::AsInt),
                    ]
                    .prop_map(Some),
                ],
            )
                .prop_map(|(attributes, start, time, exemplars, flags, value)| {
                    NumberDataPoint {
                        attributes,
                        start_time_unix_nano: start,
                        time_unix_nano: time,
                        exemplars,
                        flags,
                        value,
                    }
                }),
            1..5,
        )
    }

    fn histogram_points() -> impl Strategy<Value = Vec<HistogramDataPoint>> {
        let consistent =
            (vec(0u64..5, 1..6), -2.0f64..2.0, 0.1f64..3.0).prop_map(|(counts, first, step)| {
                let bounds: Vec<f64> = (0..counts.len() - 1)
                    .map(|i| first + step * i as f64)
                    .collect();
                (bounds, counts.iter().sum(), counts)
            });
        let arbitrary = (
            vec(any::<f64>(), 0..5),
            vec(any::<u64>(), 0..6),
            any::<u64>(),
        )
            .prop_map(|(b, c, n)| (b, n, c));
        vec(
            (
                prop_oneof![3 => consistent, 1 => arbitrary],
                attributes(),
                time(),
                time(),
                proptest::option::of(any::<f64>()),
                exemplars(),
                flags(),
            )
                .prop_map(
                    |((bounds, count, counts), attributes, start, time, sum, exemplars, flags)| {
                        HistogramDataPoint {
                            attributes,
                            start_time_unix_nano: start,
                            time_unix_nano: time,
                            count,
                            sum,
                            bucket_counts: counts,
                            explicit_bounds: bounds,
                            exemplars,
                            flags,
                            min: None,
                            max: None,
                        }
                    },
                ),
            1..4,
        )
    }

    fn buckets() -> impl Strategy<Value = Option<Buckets>> {
        proptest::option::of(
            (
                prop_oneof![-40i32..40, any::<i32>()],
                vec(prop_oneof![9 => 0u64..4, 1 => any::<u64>()], 0..40),
            )
                .prop_map(|(offset, bucket_counts)| Buckets {
                    offset,
                    bucket_counts,
                }),
        )
    }

    fn exponential_points() -> impl Strategy<Value = Vec<ExponentialHistogramDataPoint>> {
        vec(
            (
                -12i32..24,
                0u64..3,
                buckets(),
                buckets(),
                prop_oneof![3 => Just(0.0), 3 => Just(1e-3), 1 => any::<f64>()],
                prop_oneof![3 => Just(true), 1 => Just(false)],
                attributes(),
                (time(), time(), flags(), exemplars()),
            )
                .prop_map(
                    |(
                        scale,
                        zero_count,
                        positive,
                        negative,
                        zero_threshold,
                        consistent,
                        attributes,
                        (start, time, flags, exemplars),
                    )| {
                        let total = |b: &Option<Buckets>| {
                            b.as_ref().map_or(0u64, |b| {
                                b.bucket_counts.iter().fold(0u64, |a, c| a.wrapping_add(*c))
                            })
                        };
                        let count = if consistent {
                            zero_count
                                .wrapping_add(total(&positive))
                                .wrapping_add(total(&negative))
                        } else {
                            7
                        };
                        ExponentialHistogramDataPoint {
                            attributes,
                            start_time_unix_nano: start,
                            time_unix_nano: time,
                            count,
                            sum: Some(1.0),
                            scale,
                            zero_count,
                            positive,
                            negative,
                            flags,
                            exemplars,
                            min: None,
                            max: None,
                            zero_threshold,
                        }
                    },
                ),
            1..4,
        )
    }

    fn summary_points() -> impl Strategy<Value = Vec<SummaryDataPoint>> {
        vec(
            (
                attributes(),
                time(),
                any::<u64>(),
                any::<f64>(),
                vec(
                    (prop_oneof![0.0f64..=1.0, any::<f64>()], any::<f64>()),
                    0..3,
                ),
                flags(),
            )
                .prop_map(|(attributes, time, count, sum, qs, flags)| {
                    SummaryDataPoint {
                        attributes,
                        start_time_unix_nano: 0,
                        time_unix_nano: time,
                        count,
                        sum,
                        quantile_values: qs
                            .into_iter()
                            .map(|(quantile, value)| ValueAtQuantile { quantile, value })
                            .collect(),
                        flags,
                    }
                }),
            1..3,
        )
    }

    fn temporality() -> impl Strategy<Value = i32> {
        prop_oneof![3 => Just(DELTA), 3 => Just(CUMULATIVE), 1 => any::<i32>()]
    }

    fn data() -> impl Strategy<Value = Option<metric::Data>> {
        prop_oneof![
            1 => Just(None),
            2 => number_points().prop_map(|p| Some(gauge(p))),
            3 => (temporality(), any::<bool>(), number_points())
                .prop_map(|(t, m, p)| Some(sum(t, m, p))),
            3 => (temporality(), histogram_points()).prop_map(|(t, p)| Some(histogram(t, p))),
            3 => (temporality(), exponential_points()).prop_map(|(t, p)| Some(expo(t, p))),
            1 => summary_points().prop_map(|p| Some(metric::Data::Summary(Summary { data_points: p }))),
        ]
    }

    fn metrics() -> impl Strategy<Value = Vec<Metric>> {
        vec(
            (
                prop_oneof!["[a-z.]{1,6}", ".{0,8}"],
                prop_oneof![
                    select(vec![
                        "", "s", "ms", "By", "1", "{req}", "By/s", "%", "1/s", "/"
                    ])
                    .prop_map(str::to_owned),
                    ".{0,5}",
                ],
                data(),
            )
                .prop_map(|(name, unit, data)| Metric {
                    name,
                    unit,
                    data,
                    ..Default::default()
                }),
            1..5,
        )
    }

    fn requests() -> impl Strategy<Value = ExportMetricsServiceRequest> {
        vec(
            (
                proptest::option::of(attributes()),
                vec(
                    (
                        proptest::option::of(("[a-z.]{0,4}", "[0-9.]{0,3}")),
                        metrics(),
                    ),
                    1..3,
                ),
            )
                .prop_map(|(resource, scopes)| ResourceMetrics {
                    resource: resource.map(|attributes| Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_metrics: scopes
                        .into_iter()
                        .map(|(scope, metrics)| ScopeMetrics {
                            scope: scope.map(|(name, version)| InstrumentationScope {
                                name,
                                version,
                                ..Default::default()
                            }),
                            metrics,
                            schema_url: String::new(),
                        })
                        .collect(),
                    schema_url: String::new(),
                }),
            1..3,
        )
        .prop_map(|resource_metrics| ExportMetricsServiceRequest { resource_metrics })
    }

    fn count_points(req: &ExportMetricsServiceRequest) -> u64 {
        req.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| match &m.data {
                None => 0,
                Some(metric::Data::Gauge(g)) => g.data_points.len(),
                Some(metric::Data::Sum(s)) => s.data_points.len(),
                Some(metric::Data::Histogram(h)) => h.data_points.len(),
                Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
                Some(metric::Data::Summary(s)) => s.data_points.len(),
            } as u64)
            .sum()
    }

    /// A JSON document shaped like OTLP, with values of any type in any place.
    fn json_doc() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value as J;
        let keys = select(vec![
            "resourceMetrics",
            "resource_metrics",
            "scopeMetrics",
            "resource",
            "attributes",
            "key",
            "value",
            "stringValue",
            "intValue",
            "doubleValue",
            "boolValue",
            "arrayValue",
            "kvlistValue",
            "bytesValue",
            "values",
            "metrics",
            "name",
            "unit",
            "gauge",
            "sum",
            "histogram",
            "exponentialHistogram",
            "summary",
            "dataPoints",
            "asDouble",
            "asInt",
            "timeUnixNano",
            "startTimeUnixNano",
            "aggregationTemporality",
            "isMonotonic",
            "bucketCounts",
            "explicitBounds",
            "count",
            "scale",
            "zeroCount",
            "positive",
            "negative",
            "offset",
            "quantileValues",
            "quantile",
            "exemplars",
            "traceId",
            "spanId",
            "filteredAttributes",
            "flags",
            "zeroThreshold",
            "scope",
            "version",
        ]);
        let leaf = prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::Bool),
            any::<i64>().prop_map(J::from),
            any::<u64>().prop_map(J::from),
            any::<f64>().prop_map(J::from),
            select(vec![
                "NaN",
                "Infinity",
                "-1",
                "18446744073709551616",
                "1e3",
                "AbCd",
                "x",
                "",
                "=",
                "AGGREGATION_TEMPORALITY_DELTA"
            ])
            .prop_map(J::from),
            ".{0,6}".prop_map(J::from),
        ];
        leaf.prop_recursive(6, 64, 5, move |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(J::Array),
                vec((keys.clone(), inner), 0..5).prop_map(|kvs| {
                    J::Object(kvs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn decoders_never_panic(bytes in vec(any::<u8>(), 0..512)) {
            if let Ok(req) = decode_request_protobuf(&bytes) {
                let tr = Translator::new().translate(&req, 0);
                check_batch(&tr.batch);
            }
            let _ = decode_request_json(&bytes);
        }

        #[test]
        fn json_shaped_documents_never_panic(doc in json_doc()) {
            let wrapped = serde_json::json!({"resourceMetrics": [doc.clone()]});
            for d in [doc, wrapped] {
                if let Ok(req) = decode_request_json(d.to_string().as_bytes()) {
                    let tr = Translator::new().translate(&req, 0);
                    check_batch(&tr.batch);
                }
            }
        }

        #[test]
        fn translation_never_panics(req in requests(), now in any::<i64>()) {
            let mut tr = Translator::with_config(TranslatorConfig {
                max_delta_series: 4,
                ..TranslatorConfig::default()
            });
            let points = count_points(&req);
            // Twice, so delta state meets its own output.
            for _ in 0..2 {
                let out = tr.translate(&req, now);
                prop_assert!(out.rejected_points <= points);
                prop_assert_eq!(out.error_message.is_some(), out.rejected_points > 0);
                check_batch(&out.batch);
                prop_assert!(tr.tracked_delta_series() <= 4);
            }
            // And the request survives the binary encoding (compared as bytes: NaN
            // values are not equal to themselves).
            let bytes = req.encode_to_vec();
            prop_assert_eq!(decode_request_protobuf(&bytes).unwrap().encode_to_vec(), bytes);
        }
    }
}
