//! Tests across the module: real-world fixtures, one table row per syntax element and
//! per error, render-and-parse-back properties, robustness against arbitrary bytes,
//! and a throughput measurement.

use super::*;
use pharos_model::{Exemplar, Labels, Sample};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const NODE_EXPORTER: &str = include_str!("testdata/node_exporter.prom");
const CLIENT_PYTHON: &str = include_str!("testdata/client_python.om.txt");

use Format::{OpenMetrics as OM, PrometheusText as TEXT};

// --- an owned mirror of the entries, for comparisons ---

/// A float compared by bits, except that every NaN equals every NaN.
#[derive(Clone, Copy, Debug)]
struct V(f64);

impl PartialEq for V {
    fn eq(&self, o: &Self) -> bool {
        (self.0.is_nan() && o.0.is_nan()) || self.0.to_bits() == o.0.to_bits()
    }
}

type OwnedLabels = Vec<(String, String)>;

#[derive(Clone, Debug, PartialEq)]
enum Own {
    Type(String, MetricKind),
    Help(String, String),
    Unit(String, String),
    Sample {
        name: String,
        labels: OwnedLabels,
        value: V,
        ts: Option<i64>,
        exemplar: Option<(OwnedLabels, V, Option<i64>)>,
        created: bool,
    },
    Eof,
}

fn own_labels(l: &RawLabels<'_>) -> OwnedLabels {
    l.iter()
        .map(|l| (l.name.to_owned(), l.value.unescape().into_owned()))
        .collect()
}

fn own(e: &Entry<'_>) -> Own {
    match e {
        Entry::Type { family, kind } => Own::Type(family.to_string(), *kind),
        Entry::Help { family, text } => Own::Help(family.to_string(), text.unescape().into()),
        Entry::Unit { family, unit } => Own::Unit(family.to_string(), unit.to_string()),
        Entry::Sample(s) => Own::Sample {
            name: s.name.to_owned(),
            labels: own_labels(&s.labels),
            value: V(s.value),
            ts: s.timestamp_ms,
            exemplar: s
                .exemplar
                .map(|e| (own_labels(&e.labels), V(e.value), e.timestamp_ms)),
            created: s.created,
        },
        Entry::Eof => Own::Eof,
    }
}

fn parse(format: Format, body: &str) -> Result<Vec<Own>, ParseError> {
    Parser::new(body.as_bytes(), format)
        .map(|e| e.map(|e| own(&e)))
        .collect()
}

fn err(format: Format, body: &str) -> ParseError {
    match parse(format, body) {
        Ok(v) => panic!("{format:?} {body:?} parsed: {v:?}"),
        Err(e) => e,
    }
}

fn labels(pairs: &[(&str, &str)]) -> OwnedLabels {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn sample(name: &str, l: &[(&str, &str)], value: f64, ts: Option<i64>) -> Own {
    Own::Sample {
        name: name.into(),
        labels: labels(l),
        value: V(value),
        ts,
        exemplar: None,
        created: false,
    }
}

fn with_exemplar(mut s: Own, l: &[(&str, &str)], v: f64, ts: Option<i64>) -> Own {
    if let Own::Sample { exemplar, .. } = &mut s {
        *exemplar = Some((labels(l), V(v), ts));
    }
    s
}

fn created(mut s: Own) -> Own {
    if let Own::Sample { created, .. } = &mut s {
        *created = true;
    }
    s
}

// --- content negotiation ---

#[test]
fn content_type_selects_the_format() {
    let cases = [
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            OM,
        ),
        ("application/openmetrics-text;version=0.0.1", OM),
        ("Application/OpenMetrics-Text", OM),
        ("text/plain; version=0.0.4; charset=utf-8", TEXT),
        ("text/plain", TEXT),
        (" TEXT/PLAIN ;charset=utf-8", TEXT),
    ];
    for (ct, want) in cases {
        assert_eq!(Format::from_content_type(ct), Some(want), "{ct}");
        assert_eq!(format_from_content_type(ct), want, "{ct}");
    }
    for ct in [
        "",
        "application/json",
        "text/html",
        "application/octet-stream",
    ] {
        assert_eq!(Format::from_content_type(ct), None, "{ct}");
        assert_eq!(format_from_content_type(ct), TEXT, "{ct}");
    }
    for f in [TEXT, OM] {
        assert_eq!(Format::from_content_type(f.content_type()), Some(f));
    }
}

#[test]
fn accept_header_prefers_openmetrics_then_text() {
    let ranges: Vec<(&str, f64)> = ACCEPT_HEADER
        .split(',')
        .map(|r| {
            let (media, q) = r.rsplit_once(";q=").unwrap();
            (media, q.parse().unwrap())
        })
        .collect();
    assert_eq!(
        ranges,
        vec![
            ("application/openmetrics-text;version=1.0.0", 0.5),
            ("application/openmetrics-text;version=0.0.1", 0.4),
            ("text/plain;version=0.0.4", 0.3),
            ("*/*", 0.2),
        ]
    );
    for (media, _) in &ranges[..3] {
        assert!(Format::from_content_type(media).is_some(), "{media}");
    }
}

// --- fixtures ---

#[test]
fn node_exporter_fixture() {
    let entries = parse(TEXT, NODE_EXPORTER).unwrap();
    let samples: Vec<&Own> = entries
        .iter()
        .filter(|e| matches!(e, Own::Sample { .. }))
        .collect();
    assert_eq!(samples.len(), 72);
    assert!(!entries.contains(&Own::Eof));
    assert_eq!(
        entries[0],
        Own::Help(
            "go_gc_duration_seconds".into(),
            "A summary of the pause duration of garbage collection cycles.".into()
        )
    );
    assert_eq!(
        entries[1],
        Own::Type("go_gc_duration_seconds".into(), MetricKind::Summary)
    );
    assert_eq!(
        entries[2],
        sample(
            "go_gc_duration_seconds",
            &[("quantile", "0")],
            2.3561e-05,
            None
        )
    );
    let find = |name: &str, pred: &dyn Fn(&OwnedLabels) -> bool| -> Own {
        entries
            .iter()
            .find(|e| matches!(e, Own::Sample { name: n, labels, .. } if n == name && pred(labels)))
            .unwrap_or_else(|| panic!("{name} not found"))
            .clone()
    };
    // Escapes as systemd unit names bring them: a literal backslash.
    assert_eq!(
        find("node_systemd_unit_state", &|l| l[1].1 == "failed"),
        sample(
            "node_systemd_unit_state",
            &[
                ("name", r"dev-disk-by\x2duuid-3f1c2a0e\x2d9b7d.swap"),
                ("state", "failed"),
                ("type", "swap")
            ],
            0.0,
            None
        )
    );
    assert_eq!(
        find("backup_last_success_timestamp_seconds", &|_| true),
        sample(
            "backup_last_success_timestamp_seconds",
            &[("job", "nightly"), ("path", r"C:\Backups\db")],
            1.712541602e9,
            Some(1712570134000)
        )
    );
    assert_eq!(
        find("backup_size_bytes", &|_| true),
        sample(
            "backup_size_bytes",
            &[("job", "nightly"), ("error", "none: \"ok\"\nall good")],
            f64::INFINITY,
            None
        )
    );
    assert_eq!(
        find("backup_duration_seconds", &|_| true),
        sample(
            "backup_duration_seconds",
            &[("job", "nightly")],
            f64::NAN,
            None
        )
    );
    assert!(entries.contains(&Own::Type(
        "backup_last_success_timestamp_seconds".into(),
        MetricKind::Unknown
    )));
    assert!(samples.iter().all(|s| matches!(
        s,
        Own::Sample {
            created: false,
            exemplar: None,
            ..
        }
    )));

    let body = parse_body(NODE_EXPORTER.as_bytes(), TEXT, 1_000).unwrap();
    assert_eq!(body.samples.len(), 72);
    assert!(body.created.is_empty());
    assert_eq!(body.metadata.len(), 29);
    let (l, s, e) = &body.samples[0];
    assert_eq!(
        *l,
        Labels::from_pairs([("__name__", "go_gc_duration_seconds"), ("quantile", "0")])
    );
    assert_eq!(
        *s,
        Sample {
            t: 1_000,
            v: 2.3561e-05
        }
    );
    assert!(e.is_none());
    let backup = body
        .samples
        .iter()
        .find(|(l, ..)| l.metric_name() == Some("backup_last_success_timestamp_seconds"))
        .unwrap();
    assert_eq!(backup.1.t, 1712570134000);
    let cpu = body
        .metadata
        .iter()
        .find(|m| m.family == "node_cpu_seconds_total")
        .unwrap();
    assert_eq!(cpu.kind, MetricKind::Counter);
    assert_eq!(
        cpu.help.as_deref(),
        Some("Seconds the CPUs spent in each mode.")
    );
    assert_eq!(cpu.unit, None);
}

#[test]
fn client_python_fixture() {
    let entries = parse(OM, CLIENT_PYTHON).unwrap();
    assert_eq!(entries.last(), Some(&Own::Eof));
    assert!(entries.contains(&Own::Help(
        "app_requests".into(),
        "Requests handled, by \"path\" and status".into()
    )));
    assert!(entries.contains(&Own::Unit(
        "app_request_latency_seconds".into(),
        "seconds".into()
    )));
    assert!(entries.contains(&Own::Type(
        "app_queue_wait_seconds".into(),
        MetricKind::GaugeHistogram
    )));
    assert!(entries.contains(&Own::Type("app_build".into(), MetricKind::Info)));
    assert!(entries.contains(&Own::Type("app_worker_state".into(), MetricKind::StateSet)));
    let o = "/api/orders";
    assert!(entries.contains(&with_exemplar(
        sample(
            "app_requests_total",
            &[("path", o), ("status", "200")],
            1027.0,
            None
        ),
        &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")],
        1.0,
        Some(1712570134445)
    )));
    assert!(entries.contains(&created(sample(
        "app_requests_created",
        &[("path", o), ("status", "200")],
        1.7125701337428e9,
        None
    ))));
    assert!(entries.contains(&with_exemplar(
        sample(
            "app_request_latency_seconds_bucket",
            &[("le", "0.025"), ("path", o)],
            802.0,
            None
        ),
        &[
            ("trace_id", "00f067aa0ba902b7"),
            ("span_id", "b7ad6b7169203331")
        ],
        0.0172,
        Some(1712570133912)
    )));
    assert!(entries.contains(&with_exemplar(
        sample(
            "app_request_latency_seconds_bucket",
            &[("le", "+Inf"), ("path", o)],
            1030.0,
            None
        ),
        &[],
        3.25,
        None
    )));
    assert!(entries.contains(&sample(
        "app_in_progress",
        &[
            ("path", r"C:\temp\new"),
            ("note", "line1\nline2 \"quoted\"")
        ],
        2.0,
        None
    )));
    assert!(entries.contains(&sample(
        "app_in_progress",
        &[("path", o), ("note", "")],
        0.0,
        None
    )));
    assert!(entries.contains(&sample(
        "app_last_batch_size",
        &[],
        250.0,
        Some(1712570100500)
    )));

    let body = parse_body(CLIENT_PYTHON.as_bytes(), OM, 5_000).unwrap();
    assert_eq!(body.samples.len(), 38);
    assert_eq!(body.created.len(), 4);
    assert!(body
        .created
        .iter()
        .all(|(l, _)| l.metric_name().unwrap().ends_with("_created")));
    let exemplars: Vec<&Exemplar> = body
        .samples
        .iter()
        .filter_map(|(_, _, e)| e.as_ref())
        .collect();
    assert_eq!(exemplars.len(), 4);
    assert_eq!(
        *exemplars[0],
        Exemplar {
            labels: Labels::from_pairs([("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]),
            value: 1.0,
            t: 1712570134445,
        }
    );
    // Without its own timestamp an exemplar takes the sample's.
    assert_eq!(exemplars[2].t, 5_000);
    let latency = body
        .metadata
        .iter()
        .find(|m| m.family == "app_request_latency_seconds")
        .unwrap();
    assert_eq!(
        *latency,
        FamilyMetadata {
            family: "app_request_latency_seconds".into(),
            kind: MetricKind::Histogram,
            help: Some("Time spent handling a request".into()),
            unit: Some("seconds".into()),
        }
    );
    assert_eq!(body.metadata.len(), 16);
}

#[test]
fn gzip_then_parse() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(CLIENT_PYTHON.as_bytes()).unwrap();
    let gz = e.finish().unwrap();
    let raw = decode_body(&gz, Some("gzip"), 1 << 20).unwrap();
    let ct = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    let body = parse_body(&raw, format_from_content_type(ct), 0).unwrap();
    assert_eq!(body.samples.len(), 38);
}

// --- syntax, one element per row ---

#[test]
fn text_format_syntax() {
    let s = |n: &str, l: &[(&str, &str)], v: f64, t: Option<i64>| vec![sample(n, l, v, t)];
    let rows: Vec<(&str, Vec<Own>)> = vec![
        ("up 1\n", s("up", &[], 1.0, None)),
        ("up 1", s("up", &[], 1.0, None)),
        ("up{} 1\n", s("up", &[], 1.0, None)),
        ("a:b_c 2\n", s("a:b_c", &[], 2.0, None)),
        ("_x 2\n", s("_x", &[], 2.0, None)),
        (
            "up{job=\"api\",instance=\"h:9\"} 1\n",
            s("up", &[("job", "api"), ("instance", "h:9")], 1.0, None),
        ),
        // Document order is kept, not sorted.
        (
            "up{b=\"1\",a=\"2\"} 1\n",
            s("up", &[("b", "1"), ("a", "2")], 1.0, None),
        ),
        ("up{a=\"1\",} 1\n", s("up", &[("a", "1")], 1.0, None)),
        (
            "  up \t{ a = \"1\" ,\tb=\"2\" , } \t 1 \t 123 \t\n",
            s("up", &[("a", "1"), ("b", "2")], 1.0, Some(123)),
        ),
        ("up\t1\n", s("up", &[], 1.0, None)),
        (
            "up 1 1395066363000\n",
            s("up", &[], 1.0, Some(1395066363000)),
        ),
        (
            "up +Inf -3982045\n",
            s("up", &[], f64::INFINITY, Some(-3982045)),
        ),
        ("up -Inf\n", s("up", &[], f64::NEG_INFINITY, None)),
        ("up NaN\n", s("up", &[], f64::NAN, None)),
        ("up 1.458255915e9\n", s("up", &[], 1.458255915e9, None)),
        ("up -0\n", s("up", &[], -0.0, None)),
        ("up{a=\"\"} 1\n", s("up", &[("a", "")], 1.0, None)),
        (
            r#"up{p="C:\\DIR\\FILE.TXT",e="Cannot find file:\n\"FILE.TXT\""} 1"#,
            s(
                "up",
                &[
                    ("p", r"C:\DIR\FILE.TXT"),
                    ("e", "Cannot find file:\n\"FILE.TXT\""),
                ],
                1.0,
                None,
            ),
        ),
        // An unknown escape keeps its backslash.
        (
            r#"up{a="x\ty\q"} 1"#,
            s("up", &[("a", r"x\ty\q")], 1.0, None),
        ),
        (
            "up{a=\"ünï\u{1F600}\u{0}\"} 1\n",
            s("up", &[("a", "ünï\u{1F600}\u{0}")], 1.0, None),
        ),
        ("up{a=\"}{,=\"} 1\n", s("up", &[("a", "}{,=")], 1.0, None)),
        ("\n\n  \t\nup 1\n\n", s("up", &[], 1.0, None)),
        (
            "# a comment\n#\n#HELP x y\n# HELP\n# HELPER x\n# TYPE\nup 1\n",
            s("up", &[], 1.0, None),
        ),
        (
            "# HELP up The \\\\ and \\n and \\\" escapes.\n",
            vec![Own::Help(
                "up".into(),
                "The \\ and \n and \\\" escapes.".into(),
            )],
        ),
        (
            "#\tHELP\tup\t  spaced  \n",
            vec![Own::Help("up".into(), "  spaced  ".into())],
        ),
        ("# HELP up\n", vec![Own::Help("up".into(), "".into())]),
        ("# HELP up \n", vec![Own::Help("up".into(), "".into())]),
        (
            "# TYPE a counter\n",
            vec![Own::Type("a".into(), MetricKind::Counter)],
        ),
        (
            "# TYPE a gauge\n",
            vec![Own::Type("a".into(), MetricKind::Gauge)],
        ),
        (
            "# TYPE a histogram\n",
            vec![Own::Type("a".into(), MetricKind::Histogram)],
        ),
        (
            "# TYPE a summary\n",
            vec![Own::Type("a".into(), MetricKind::Summary)],
        ),
        (
            "# TYPE a untyped \t\n",
            vec![Own::Type("a".into(), MetricKind::Unknown)],
        ),
        (
            "# TYPE foo counter\nfoo_created 1.7e9\n",
            vec![
                Own::Type("foo".into(), MetricKind::Counter),
                sample("foo_created", &[], 1.7e9, None),
            ],
        ),
        ("", vec![]),
    ];
    for (body, want) in rows {
        assert_eq!(parse(TEXT, body), Ok(want), "{body:?}");
    }
}

#[test]
fn openmetrics_syntax() {
    let eof = |mut v: Vec<Own>| {
        v.push(Own::Eof);
        v
    };
    let rows: Vec<(&str, Vec<Own>)> = vec![
        ("# EOF\n", eof(vec![])),
        ("# EOF", eof(vec![])),
        ("up 1\n# EOF\n", eof(vec![sample("up", &[], 1.0, None)])),
        ("up{} 1\n# EOF\n", eof(vec![sample("up", &[], 1.0, None)])),
        (
            "up{a=\"1\",b=\"\\\"\\\\\\n\"} 1.5\n# EOF\n",
            eof(vec![sample("up", &[("a", "1"), ("b", "\"\\\n")], 1.5, None)]),
        ),
        ("up{a=\"1\",} 1\n# EOF\n", eof(vec![sample("up", &[("a", "1")], 1.0, None)])),
        (
            "up 1 1520879607.789\n# EOF\n",
            eof(vec![sample("up", &[], 1.0, Some(1520879607789))]),
        ),
        ("up 1 -1.5\n# EOF\n", eof(vec![sample("up", &[], 1.0, Some(-1500))])),
        ("up 1 15e2\n# EOF\n", eof(vec![sample("up", &[], 1.0, Some(1500000))])),
        ("up NaN\n# EOF\n", eof(vec![sample("up", &[], f64::NAN, None)])),
        ("up +inf\n# EOF\n", eof(vec![sample("up", &[], f64::INFINITY, None)])),
        ("up -Infinity\n# EOF\n", eof(vec![sample("up", &[], f64::NEG_INFINITY, None)])),
        (
            "# TYPE foo counter\n# UNIT foo_seconds seconds\n# EOF\n",
            eof(vec![
                Own::Type("foo".into(), MetricKind::Counter),
                Own::Unit("foo_seconds".into(), "seconds".into()),
            ]),
        ),
        (
            "# TYPE foo_seconds counter\n# UNIT foo_seconds seconds\n# HELP foo_seconds Some text and \\n some \\\" escaping\nfoo_seconds_total 17.0\nfoo_seconds_created 1520430000.123\n# EOF\n",
            eof(vec![
                Own::Type("foo_seconds".into(), MetricKind::Counter),
                Own::Unit("foo_seconds".into(), "seconds".into()),
                Own::Help("foo_seconds".into(), "Some text and \n some \" escaping".into()),
                sample("foo_seconds_total", &[], 17.0, None),
                created(sample("foo_seconds_created", &[], 1520430000.123, None)),
            ]),
        ),
        (
            "# UNIT foo \n# HELP foo \nfoo 1\n# EOF\n",
            eof(vec![
                Own::Unit("foo".into(), "".into()),
                Own::Help("foo".into(), "".into()),
                sample("foo", &[], 1.0, None),
            ]),
        ),
        (
            "# TYPE foo histogram\nfoo_bucket{le=\"0.1\"} 8 # {} 0.054\nfoo_bucket{le=\"1\"} 11 # {trace_id=\"KOO5S4vxi0o\"} 0.67\nfoo_bucket{le=\"10\"} 17 # {trace_id=\"oHg5SJYRHA0\"} 9.8 1520879607.789\nfoo_bucket{le=\"+Inf\"} 17 123 # {a=\"b\"} 1 2\nfoo_count 17\nfoo_sum 324789.3\nfoo_created 1520430000.123\n# EOF\n",
            eof(vec![
                Own::Type("foo".into(), MetricKind::Histogram),
                with_exemplar(sample("foo_bucket", &[("le", "0.1")], 8.0, None), &[], 0.054, None),
                with_exemplar(
                    sample("foo_bucket", &[("le", "1")], 11.0, None),
                    &[("trace_id", "KOO5S4vxi0o")],
                    0.67,
                    None,
                ),
                with_exemplar(
                    sample("foo_bucket", &[("le", "10")], 17.0, None),
                    &[("trace_id", "oHg5SJYRHA0")],
                    9.8,
                    Some(1520879607789),
                ),
                with_exemplar(
                    sample("foo_bucket", &[("le", "+Inf")], 17.0, Some(123000)),
                    &[("a", "b")],
                    1.0,
                    Some(2000),
                ),
                sample("foo_count", &[], 17.0, None),
                sample("foo_sum", &[], 324789.3, None),
                created(sample("foo_created", &[], 1520430000.123, None)),
            ]),
        ),
        (
            "# TYPE q gaugehistogram\nq_bucket{le=\"+Inf\"} 42 # {x=\"y\"} 3\nq_gcount 42\nq_gsum 3289.3\n# EOF\n",
            eof(vec![
                Own::Type("q".into(), MetricKind::GaugeHistogram),
                with_exemplar(sample("q_bucket", &[("le", "+Inf")], 42.0, None), &[("x", "y")], 3.0, None),
                sample("q_gcount", &[], 42.0, None),
                sample("q_gsum", &[], 3289.3, None),
            ]),
        ),
        (
            "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_count 2\ns_sum 3\ns_created 4\n# EOF\n",
            eof(vec![
                Own::Type("s".into(), MetricKind::Summary),
                sample("s", &[("quantile", "0.5")], 1.0, None),
                sample("s_count", &[], 2.0, None),
                sample("s_sum", &[], 3.0, None),
                created(sample("s_created", &[], 4.0, None)),
            ]),
        ),
        (
            "# TYPE i info\ni_info{v=\"1\"} 1\n# TYPE st stateset\nst{st=\"a\"} 1\n# EOF\n",
            eof(vec![
                Own::Type("i".into(), MetricKind::Info),
                sample("i_info", &[("v", "1")], 1.0, None),
                Own::Type("st".into(), MetricKind::StateSet),
                sample("st", &[("st", "a")], 1.0, None),
            ]),
        ),
        // Without TYPE every distinct name is its own family of unknown type, and
        // `_created` there is an ordinary sample.
        (
            "a 1\na 2 5\nb_created 3\n# EOF\n",
            eof(vec![
                sample("a", &[], 1.0, None),
                sample("a", &[], 2.0, Some(5000)),
                sample("b_created", &[], 3.0, None),
            ]),
        ),
        // A family with no samples, and a gauge histogram has no _created.
        (
            "# TYPE e gauge\n# TYPE g gaugehistogram\ng_created 1\n# EOF\n",
            eof(vec![
                Own::Type("e".into(), MetricKind::Gauge),
                Own::Type("g".into(), MetricKind::GaugeHistogram),
                sample("g_created", &[], 1.0, None),
            ]),
        ),
    ];
    for (body, want) in rows {
        assert_eq!(parse(OM, body), Ok(want), "{body:?}");
    }
}

#[test]
fn exemplar_label_limit_is_inclusive_and_counts_characters() {
    // 8 characters of name plus 120 of value, 2 bytes each: exactly the limit.
    let ok = format!(
        "# TYPE c counter\nc_total 1 # {{trace_id=\"{}\"}} 1\n# EOF\n",
        "é".repeat(120)
    );
    assert!(parse(OM, &ok).is_ok());
    // An escape counts once, as the character it stands for.
    let ok = format!(
        "# TYPE c counter\nc_total 1 # {{trace_id=\"{}\"}} 1\n# EOF\n",
        "\\n".repeat(120)
    );
    assert!(parse(OM, &ok).is_ok());
    let over = format!(
        "# TYPE c counter\nc_total 1 # {{trace_id=\"{}\",a=\"\"}} 1\n# EOF\n",
        "é".repeat(120)
    );
    let e = err(OM, &over);
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (
            2,
            Some(13),
            "exemplar labels are 129 characters long, more than the 128 OpenMetrics allows (names and values counted)"
        )
    );
}

#[test]
fn raw_labels_accessors() {
    let body = "m{a=\"x\\\\y\", b = \"2\"} 1\n";
    let Some(Ok(Entry::Sample(s))) = Parser::new(body.as_bytes(), TEXT).next() else {
        panic!()
    };
    assert_eq!(s.name, "m");
    assert_eq!(s.series, "m{a=\"x\\\\y\", b = \"2\"}");
    assert_eq!(s.labels.as_str(), "a=\"x\\\\y\", b = \"2\"");
    assert_eq!(s.labels.len(), 2);
    let a = s.labels.get("a").unwrap();
    assert_eq!(a.raw(), "x\\\\y");
    assert!(a.has_escapes());
    assert_eq!(a.unescape(), "x\\y");
    let b = s.labels.get("b").unwrap();
    assert!(!b.has_escapes());
    assert!(matches!(b.unescape(), std::borrow::Cow::Borrowed("2")));
    assert!(s.labels.get("c").is_none());
    assert_eq!(
        s.to_labels(),
        Labels::from_pairs([("__name__", "m"), ("a", "x\\y"), ("b", "2")])
    );
    assert_eq!((&s.labels).into_iter().count(), 2);
}

// --- errors, one per row ---

#[test]
fn errors() {
    // (format, body, line, column, message)
    let rows: &[(Format, &str, usize, Option<usize>, &str)] = &[
        // Shared sample syntax.
        (TEXT, "1up 1\n", 1, Some(1), r#"expected metric name, got "1up 1""#),
        (
            TEXT,
            "{\"my.metric\"} 1\n",
            1,
            Some(1),
            r#"expected metric name, got "{\"my.metric\"} 1" (quoted UTF-8 metric names are not supported)"#,
        ),
        (TEXT, "up{1a=\"b\"} 1\n", 1, Some(4), r#"expected label name, got "1a=\"b\"} 1""#),
        (
            TEXT,
            "up{\"a.b\"=\"c\"} 1\n",
            1,
            Some(4),
            r#"expected label name, got "\"a.b\"=\"c\"} 1" (quoted UTF-8 names are not supported)"#,
        ),
        (TEXT, "up{,} 1\n", 1, Some(4), r#"expected label name, got ",} 1""#),
        (TEXT, "up{a=\"1\",,} 1\n", 1, Some(10), r#"expected label name, got ",} 1""#),
        (TEXT, "up{a-b=\"1\"} 1\n", 1, Some(5), r#"expected "=" after label name "a", got "-b=\"1\"} 1""#),
        (TEXT, "up{a} 1\n", 1, Some(5), r#"expected "=" after label name "a", got "} 1""#),
        (TEXT, "up{a=b} 1\n", 1, Some(6), r#"expected label value in double quotes after a=, got "b} 1""#),
        (
            TEXT,
            "up{a=\"b} 1\n",
            1,
            Some(6),
            r#"unterminated value of label "a" (a line feed in a value must be written as \n)"#,
        ),
        (
            TEXT,
            "up{a=\"b\nc\"} 1\n",
            1,
            Some(6),
            r#"unterminated value of label "a" (a line feed in a value must be written as \n)"#,
        ),
        (
            TEXT,
            "up{a=\"b\\\"} 1\n",
            1,
            Some(6),
            r#"unterminated value of label "a" (a line feed in a value must be written as \n)"#,
        ),
        (TEXT, "up{a=\"1\" b=\"2\"} 1\n", 1, Some(10), r#"expected "," or "}" after the value of label "a", got "b=\"2\"} 1""#),
        (TEXT, "up{a=\"1\"\n", 1, Some(9), r#"expected "," or "}" after the value of label "a", got end of line"#),
        (TEXT, "up{a=\"1\",a=\"2\"} 1\n", 1, Some(10), r#"duplicate label name "a""#),
        (
            TEXT,
            "up{b=\"1\",c=\"\",d=\"\",e=\"\",f=\"\",g=\"\",h=\"\",i=\"\",j=\"\",k=\"\",l=\"\",m=\"\",n=\"\",o=\"\",p=\"\",q=\"\",r=\"\",b=\"2\"} 1\n",
            1,
            Some(90),
            r#"duplicate label name "b""#,
        ),
        (
            TEXT,
            "up{__name__=\"up\"} 1\n",
            1,
            Some(4),
            r#"duplicate label name "__name__" (the metric name already sets it)"#,
        ),
        (TEXT, "up\n", 1, Some(3), "expected whitespace and the value after the metric, got end of line"),
        (TEXT, "up   \n", 1, Some(3), r#"expected whitespace and the value after the metric, got "   ""#),
        (TEXT, "up{}\n", 1, Some(5), "expected whitespace and the value after the metric, got end of line"),
        (TEXT, "up{}1\n", 1, Some(5), r#"expected whitespace and the value after the metric, got "1""#),
        (TEXT, "up-1 2\n", 1, Some(3), r#"expected whitespace and the value after the metric, got "-1 2""#),
        (TEXT, "up abc\n", 1, Some(4), r#"invalid value "abc" (expected a float, NaN, +Inf or -Inf)"#),
        (TEXT, "up 0x10\n", 1, Some(4), r#"invalid value "0x10" (expected a float, NaN, +Inf or -Inf)"#),
        (TEXT, "up 1_000\n", 1, Some(4), r#"invalid value "1_000" (expected a float, NaN, +Inf or -Inf)"#),
        (TEXT, "up -NaN\n", 1, Some(4), r#"invalid value "-NaN" (expected a float, NaN, +Inf or -Inf)"#),
        (TEXT, "up 1e999\n", 1, Some(4), r#"value "1e999" is out of range for a 64-bit float"#),
        (TEXT, "up 1 1.5\n", 1, Some(6), r#"invalid timestamp "1.5" (expected integer milliseconds)"#),
        (TEXT, "up 1 99999999999999999999\n", 1, Some(6), r#"timestamp "99999999999999999999" is out of range for 64-bit milliseconds"#),
        (TEXT, "up 1 2 3\n", 1, Some(8), r#"expected end of line after the timestamp, got "3""#),
        (
            TEXT,
            "up 1 # {a=\"b\"} 1\n",
            1,
            Some(6),
            r##"expected timestamp or end of line, got "# {a=\"b\"} 1" (exemplars need the OpenMetrics format)"##,
        ),
        (TEXT, "up 1\r\n", 1, Some(5), "carriage return at end of line; lines must end with a bare line feed"),
        (TEXT, "ok 1\n\nup{a=\"\\xff\"} 1\nup{a=\"b\"} \u{1}\n", 4, Some(11), "invalid value \"\\u{1}\" (expected a float, NaN, +Inf or -Inf)"),
        // Text-format metadata.
        (TEXT, "# HELP 1a x\n", 1, Some(8), r##"expected metric name after HELP, got "1a x""##),
        (TEXT, "# TYPE a-b counter\n", 1, Some(9), r##"expected whitespace after metric name "a" in TYPE line, got "-b counter""##),
        (TEXT, "# TYPE a\n", 1, Some(9), r##"expected metric type after "a" in TYPE line, got end of line"##),
        (
            TEXT,
            "# TYPE a gaugehistogram\n",
            1,
            Some(10),
            r#"invalid metric type "gaugehistogram" (expected counter, gauge, histogram, summary or untyped)"#,
        ),
        (
            TEXT,
            "# TYPE a counter gauge\n",
            1,
            Some(10),
            r#"invalid metric type "counter gauge" (expected counter, gauge, histogram, summary or untyped)"#,
        ),
        // OpenMetrics line structure.
        (OM, "", 1, None, r##"data does not end with "# EOF""##),
        (OM, "up 1\n", 2, None, r##"data does not end with "# EOF""##),
        (OM, "up 1\n# EOF\n\n", 3, Some(1), r##"unexpected data after "# EOF""##),
        (OM, "# EOF\nup 1\n", 2, Some(1), r##"unexpected data after "# EOF""##),
        (OM, "up 1\n\n# EOF\n", 2, None, "empty line; OpenMetrics does not allow blank lines"),
        (OM, " up 1\n# EOF\n", 1, Some(1), r#"expected metric name, got " up 1""#),
        (
            OM,
            "# a comment\n# EOF\n",
            1,
            Some(1),
            r##"unexpected comment "# a comment"; OpenMetrics allows only "# HELP", "# TYPE", "# UNIT" and "# EOF" lines to start with #"##,
        ),
        (
            OM,
            "# EOF \n",
            1,
            Some(1),
            r##"unexpected comment "# EOF "; OpenMetrics allows only "# HELP", "# TYPE", "# UNIT" and "# EOF" lines to start with #"##,
        ),
        (OM, "# EOF\r\n", 1, Some(6), "carriage return at end of line; lines must end with a bare line feed"),
        (OM, "up{a=\"1\", b=\"2\"} 1\n# EOF\n", 1, Some(10), r#"expected label name, got " b=\"2\"} 1""#),
        (OM, "up {a=\"1\"} 1\n# EOF\n", 1, Some(4), r#"invalid value "{a=\"1\"}" (expected a float, NaN, +Inf or -Inf)"#),
        (OM, "up  1\n# EOF\n", 1, Some(3), r#"expected a single space and the value after the metric, got "  1""#),
        (OM, "up\t1\n# EOF\n", 1, Some(3), r#"expected a single space and the value after the metric, got "\t1""#),
        (OM, "up 1 \n# EOF\n", 1, Some(5), r#"expected a single space and a timestamp or exemplar after the value, got " ""#),
        (OM, "up 1  2\n# EOF\n", 1, Some(5), r#"expected a single space and a timestamp or exemplar after the value, got "  2""#),
        (OM, "up 1 2 3\n# EOF\n", 1, Some(7), r#"expected end of line or an exemplar after the timestamp, got " 3""#),
        (OM, "up 1 NaN\n# EOF\n", 1, Some(6), r#"timestamp "NaN" is not a finite number"#),
        (OM, "up 1 +Inf\n# EOF\n", 1, Some(6), r#"timestamp "+Inf" is not a finite number"#),
        (OM, "up 1 1.2.3\n# EOF\n", 1, Some(6), r#"invalid timestamp "1.2.3" (expected seconds since the epoch)"#),
        (OM, "up 1 1e300\n# EOF\n", 1, Some(6), r#"timestamp "1e300" is out of range for 64-bit milliseconds"#),
        // OpenMetrics metadata.
        (OM, "# HELP 1a x\n# EOF\n", 1, Some(8), r##"expected metric name after HELP, got "1a x""##),
        (OM, "# HELP a\n# EOF\n", 1, Some(9), r##"expected a space and the help text after metric name "a", got end of line"##),
        (OM, "# TYPE a\n# EOF\n", 1, Some(9), r##"expected a space and the metric type after metric name "a", got end of line"##),
        (OM, "# UNIT a\n# EOF\n", 1, Some(9), r##"expected a space and the unit after metric name "a", got end of line"##),
        (
            OM,
            "# TYPE a untyped\n# EOF\n",
            1,
            Some(10),
            r#"invalid metric type "untyped" (expected counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown)"#,
        ),
        (
            OM,
            "# TYPE a counter \n# EOF\n",
            1,
            Some(10),
            r#"invalid metric type "counter " (expected counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown)"#,
        ),
        (
            OM,
            "# UNIT foo seconds\n# EOF\n",
            1,
            Some(12),
            r#"unit "seconds" is not a suffix of metric family "foo" (its name must end in "_seconds")"#,
        ),
        (
            OM,
            "# UNIT fooseconds seconds\n# EOF\n",
            1,
            Some(19),
            r#"unit "seconds" is not a suffix of metric family "fooseconds" (its name must end in "_seconds")"#,
        ),
        (OM, "# UNIT foo_s s-x\n# EOF\n", 1, Some(15), r##"invalid unit "s-x" (units use the characters of metric names)"##),
        (OM, "# TYPE a gauge\n# TYPE a counter\n# EOF\n", 2, Some(8), r##"second TYPE line for metric family "a""##),
        (OM, "# HELP a x\n# HELP a y\n# EOF\n", 2, Some(8), r##"second HELP line for metric family "a""##),
        (OM, "# UNIT a_s s\n# UNIT a_s s\n# EOF\n", 2, Some(8), r##"second UNIT line for metric family "a_s""##),
        (
            OM,
            "# TYPE a gauge\na 1\n# HELP a x\n# EOF\n",
            3,
            Some(8),
            r#"HELP line for metric family "a" after its samples; a family's metadata must come first"#,
        ),
        // OpenMetrics families.
        (
            OM,
            "# TYPE a gauge\n# TYPE b gauge\n# TYPE a gauge\n# EOF\n",
            3,
            Some(8),
            r#"metric family "a" appears a second time; OpenMetrics requires a family's lines to be contiguous"#,
        ),
        (
            OM,
            "a 1\nb 1\na 2\n# EOF\n",
            3,
            Some(1),
            r#"sample "a" belongs to metric family "a", which ended earlier; OpenMetrics requires a family's lines to be contiguous"#,
        ),
        (
            OM,
            "# TYPE c counter\nc_total 1\nb 1\nc_created 2\n# EOF\n",
            4,
            Some(1),
            r#"sample "c_created" belongs to metric family "c", which ended earlier; OpenMetrics requires a family's lines to be contiguous"#,
        ),
        (
            OM,
            "# TYPE c counter\nc 1\n# EOF\n",
            2,
            Some(1),
            r#"sample "c" does not fit counter family "c", whose samples are named c_total, c_created"#,
        ),
        (
            OM,
            "# TYPE h histogram\nh 1\n# EOF\n",
            2,
            Some(1),
            r#"sample "h" does not fit histogram family "h", whose samples are named h_bucket, h_count, h_sum, h_created"#,
        ),
        // OpenMetrics exemplars.
        (
            OM,
            "# TYPE g gauge\ng 1 # {a=\"b\"} 1\n# EOF\n",
            2,
            Some(4),
            r#"exemplar on sample "g" of gauge family "g"; OpenMetrics allows exemplars only on counter _total and histogram _bucket samples"#,
        ),
        (
            OM,
            "# TYPE c counter\nc_created 1 # {a=\"b\"} 1\n# EOF\n",
            2,
            Some(12),
            r#"exemplar on sample "c_created" of counter family "c"; OpenMetrics allows exemplars only on counter _total and histogram _bucket samples"#,
        ),
        (
            OM,
            "# TYPE h histogram\nh_count 1 # {a=\"b\"} 1\n# EOF\n",
            2,
            Some(10),
            r#"exemplar on sample "h_count" of histogram family "h"; OpenMetrics allows exemplars only on counter _total and histogram _bucket samples"#,
        ),
        (
            OM,
            "c_total 1 # {a=\"b\"} 1\n# EOF\n",
            1,
            Some(10),
            r#"exemplar on sample "c_total" of unknown family "c_total"; OpenMetrics allows exemplars only on counter _total and histogram _bucket samples"#,
        ),
        (OM, "c_total 1 #{a=\"b\"} 1\n# EOF\n", 1, Some(11), r##"expected "# {" to start an exemplar, got "#{a=\"b\"} 1""##),
        (OM, "c_total 1 # a 1\n# EOF\n", 1, Some(11), r##"expected "# {" to start an exemplar, got "# a 1""##),
        (OM, "c_total 1 # {a=\"b\"}\n# EOF\n", 1, Some(20), "expected a single space and the exemplar value after its labels, got end of line"),
        (OM, "c_total 1 # {a=\"b\"}  1\n# EOF\n", 1, Some(20), r#"expected a single space and the exemplar value after its labels, got "  1""#),
        (OM, "c_total 1 # {a=\"b\"} x\n# EOF\n", 1, Some(21), r#"invalid exemplar value "x" (expected a float, NaN, +Inf or -Inf)"#),
        (OM, "c_total 1 # {a=\"b\"} 1 \n# EOF\n", 1, Some(22), r#"expected a single space and the exemplar timestamp after its value, got " ""#),
        (OM, "c_total 1 # {a=\"b\"} 1 x\n# EOF\n", 1, Some(23), r#"invalid timestamp "x" (expected seconds since the epoch)"#),
        (OM, "c_total 1 # {a=\"b\"} 1 2 3\n# EOF\n", 1, Some(24), r#"expected end of line after the exemplar timestamp, got " 3""#),
        (OM, "c_total 1 # {a=\"b\",a=\"c\"} 1\n# EOF\n", 1, Some(20), r#"duplicate label name "a""#),
        (OM, "c_total 1 # {\"a\"=\"b\"} 1\n# EOF\n", 1, Some(14), r#"expected label name, got "\"a\"=\"b\"} 1""#),
    ];
    for (format, body, line, column, message) in rows {
        let e = err(*format, body);
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (*line, *column, *message),
            "{format:?} {body:?}"
        );
    }
    // The rendered error carries the position.
    assert_eq!(
        err(TEXT, "ok 1\nup{1a=\"b\"} 1\n").to_string(),
        r#"line 2, column 4: expected label name, got "1a=\"b\"} 1""#
    );
    assert_eq!(
        err(OM, "up 1\n").to_string(),
        r##"line 2: data does not end with "# EOF""##
    );
}

#[test]
fn invalid_utf8() {
    let bytes = |format: Format, body: &[u8]| -> ParseError {
        Parser::new(body, format)
            .find_map(Result::err)
            .expect("an error")
    };
    let e = bytes(TEXT, b"up{a=\"\xc3\xa9\"} 1\nup{a=\"x\xff\"} 1\n");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, Some(8), "invalid UTF-8: byte 0xff does not belong here")
    );
    // The column counts characters, not bytes.
    let e = bytes(TEXT, b"up{a=\"\xc3\xa9\xff\"} 1\n");
    assert_eq!((e.line, e.column), (1, Some(8)));
    let e = bytes(TEXT, b"up{a=\"\xc3");
    assert_eq!(
        (e.column, e.message.as_str()),
        (
            Some(7),
            "invalid UTF-8: the line ends inside a multi-byte character"
        )
    );
    let e = bytes(TEXT, b"# HELP a \xfe\n");
    assert_eq!((e.line, e.column), (1, Some(10)));
    let e = bytes(OM, b"# HELP a \xfe\n# EOF\n");
    assert_eq!((e.line, e.column), (1, Some(10)));
    let e = bytes(OM, b"# \xfe\n# EOF\n");
    assert_eq!(
        e.message,
        "unexpected comment \"# \u{fffd}\"; OpenMetrics allows only \"# HELP\", \"# TYPE\", \"# UNIT\" and \"# EOF\" lines to start with #"
    );
    // Text-format comments are not validated, as Prometheus does not validate them.
    let entries: Vec<_> = Parser::new(b"# \xff\xfe\nup 1\n", TEXT).collect();
    assert_eq!(entries.len(), 1);
    assert!(matches!(entries[0], Ok(Entry::Sample(_))));
}

#[test]
fn errors_show_a_bounded_excerpt() {
    let long = format!("up{{{}=\"x\"}} 1\n", "-".repeat(1000));
    let e = err(TEXT, &long);
    assert_eq!(
        e.message,
        format!("expected label name, got {:?}…", "-".repeat(24))
    );
}

#[test]
fn iteration_stops_after_an_error() {
    let mut p = Parser::new(b"a 1\nb x\nc 1\n", TEXT);
    assert!(matches!(p.next(), Some(Ok(Entry::Sample(_)))));
    assert!(matches!(p.next(), Some(Err(ParseError { line: 2, .. }))));
    assert!(p.next().is_none());
    assert!(p.next().is_none());

    let mut p = Parser::new(b"a 1\n# EOF\n", OM);
    assert!(matches!(p.next(), Some(Ok(Entry::Sample(_)))));
    assert_eq!(p.next(), Some(Ok(Entry::Eof)));
    assert!(p.next().is_none());
}

#[test]
fn parse_body_reports_the_first_error() {
    let e = parse_body(b"a 1\nb{ 1\n", TEXT, 0).unwrap_err();
    assert_eq!(e.line, 2);
    let e = parse_body(b"a 1\n", OM, 0).unwrap_err();
    assert_eq!(e.message, "data does not end with \"# EOF\"");
}

#[test]
fn metadata_merges_per_family_and_empty_openmetrics_values_are_absent() {
    let body = parse_body(
        b"# TYPE a counter\n# HELP b bee\n# HELP a first\n# HELP a \n",
        TEXT,
        0,
    )
    .unwrap();
    assert_eq!(
        body.metadata,
        vec![
            FamilyMetadata {
                family: "a".into(),
                kind: MetricKind::Counter,
                help: Some("".into()),
                unit: None
            },
            FamilyMetadata {
                family: "b".into(),
                kind: MetricKind::Unknown,
                help: Some("bee".into()),
                unit: None
            },
        ]
    );
    let body = parse_body(b"# HELP a \n# UNIT a \n# EOF\n", OM, 0).unwrap();
    assert_eq!(
        body.metadata,
        vec![FamilyMetadata {
            family: "a".into(),
            kind: MetricKind::Unknown,
            help: None,
            unit: None
        }]
    );
}

#[test]
fn nan_is_never_the_staleness_marker() {
    for (format, body) in [
        (TEXT, "a NaN\nb nan\nc NAN\n"),
        (OM, "a NaN\nb nan\n# EOF\n"),
    ] {
        let parsed = parse_body(body.as_bytes(), format, 0).unwrap();
        for (_, s, _) in &parsed.samples {
            assert!(s.v.is_nan() && !pharos_model::is_stale_nan(s.v));
            assert_eq!(s.v.to_bits(), f64::NAN.to_bits());
        }
    }
}

// --- properties: render random families, parse them back ---

#[derive(Clone, Debug)]
struct Point {
    suffix: &'static str,
    labels: OwnedLabels,
    /// Text-format style: whether an empty label set is written as `{}`.
    braces: bool,
    value: f64,
    ts: Option<i64>,
    exemplar: Option<(OwnedLabels, f64, Option<i64>)>,
}

#[derive(Clone, Debug)]
struct Fam {
    name: String,
    kind: MetricKind,
    typed: bool,
    help: Option<String>,
    unit: Option<String>,
    points: Vec<Point>,
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>().prop_filter("NaN is its own case", |v| !v.is_nan()),
        2 => (-1000i64..1000).prop_map(|v| v as f64),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
    ]
}

fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => Just('"'),
        1 => Just('\\'),
        1 => Just('\n'),
        1 => Just('\0'),
        1 => Just('\r'),
        1 => Just('{'),
        1 => Just('}'),
        1 => Just(' '),
        1 => Just('#'),
        2 => any::<char>(),
    ]
}

fn string_of(chars: impl Strategy<Value = char>, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(chars, 0..max).prop_map(|v| v.into_iter().collect())
}

fn label_set(max: usize, value_len: usize) -> impl Strategy<Value = OwnedLabels> {
    prop::collection::vec(
        (
            "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
            string_of(tricky_char(), value_len),
        ),
        0..max,
    )
    .prop_map(|pairs| {
        let mut seen = HashSet::new();
        pairs
            .into_iter()
            .filter(|(n, _)| n != "__name__" && seen.insert(n.clone()))
            .collect()
    })
}

fn point(suffixes: Vec<&'static str>, exemplars: bool) -> impl Strategy<Value = Point> {
    (
        prop::sample::select(suffixes),
        label_set(5, 10),
        any::<bool>(),
        value(),
        prop::option::of(any::<i64>()),
        prop::option::of((label_set(3, 10), value(), prop::option::of(any::<i64>()))),
    )
        .prop_map(move |(suffix, labels, braces, value, ts, exemplar)| {
            let exemplar_ok = matches!(suffix, "_total" | "_bucket");
            Point {
                suffix,
                labels,
                braces,
                value,
                ts,
                exemplar: exemplar.filter(|_| exemplars && exemplar_ok),
            }
        })
}

fn text_family() -> impl Strategy<Value = Fam> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        prop::sample::select(vec![
            MetricKind::Counter,
            MetricKind::Gauge,
            MetricKind::Histogram,
            MetricKind::Summary,
            MetricKind::Unknown,
        ]),
        any::<bool>(),
        prop::option::of(string_of(
            tricky_char().prop_filter("a CR before the line feed ends no line", |c| *c != '\r'),
            20,
        )),
        prop::collection::vec(
            point(
                vec!["", "_total", "_bucket", "_count", "_sum", "_created"],
                false,
            ),
            0..5,
        ),
    )
        .prop_map(|(name, kind, typed, help, points)| Fam {
            name,
            kind,
            typed,
            help,
            unit: None,
            points,
        })
}

fn om_family() -> impl Strategy<Value = Fam> {
    (
        "[a-z_:][a-z0-9_:]{0,6}",
        prop::sample::select(vec![
            MetricKind::Counter,
            MetricKind::Gauge,
            MetricKind::Histogram,
            MetricKind::GaugeHistogram,
            MetricKind::Summary,
            MetricKind::Info,
            MetricKind::StateSet,
            MetricKind::Unknown,
        ]),
        any::<bool>(),
        prop::option::of(string_of(
            tricky_char().prop_filter("a CR before the line feed ends no line", |c| *c != '\r'),
            20,
        )),
        prop::option::of("[a-z]{1,6}"),
    )
        .prop_flat_map(|(base, kind, typed, help, unit)| {
            // An untyped family without metadata is one sample name of unknown type.
            let kind = if typed { kind } else { MetricKind::Unknown };
            let suffixes = kind_suffixes(kind);
            prop::collection::vec(point(suffixes, true), 0..5).prop_map(move |points| Fam {
                name: match &unit {
                    Some(u) => format!("{base}_{u}"),
                    None => base.clone(),
                },
                kind,
                typed,
                help: help.clone(),
                unit: unit.clone(),
                points,
            })
        })
}

fn kind_suffixes(kind: MetricKind) -> Vec<&'static str> {
    match kind {
        MetricKind::Counter => vec!["_total", "_created"],
        MetricKind::Summary => vec!["", "_count", "_sum", "_created"],
        MetricKind::Histogram => vec!["_bucket", "_count", "_sum", "_created"],
        MetricKind::GaugeHistogram => vec!["_bucket", "_gcount", "_gsum"],
        MetricKind::Info => vec!["_info"],
        _ => vec![""],
    }
}

/// Layout choices for the text format, which allows variation the model does not see.
#[derive(Clone, Debug)]
struct TextStyle {
    blanks: Vec<&'static str>,
    trailing_comma: bool,
    comments: bool,
}

fn text_style() -> impl Strategy<Value = TextStyle> {
    (
        prop::collection::vec(prop::sample::select(vec![" ", "\t", "  ", " \t "]), 1..8),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(blanks, trailing_comma, comments)| TextStyle {
            blanks,
            trailing_comma,
            comments,
        })
}

fn escape_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}

fn render_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    // Whole seconds are written both with and without a fraction; an arbitrary rule
    // picks which, so that both spellings occur.
    if abs.is_multiple_of(1000) && abs.is_multiple_of(7) {
        format!("{sign}{}", abs / 1000)
    } else {
        format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
    }
}

fn render_labels(out: &mut String, labels: &OwnedLabels, sep: &str, trailing_comma: bool) {
    out.push('{');
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
            out.push_str(sep);
        }
        out.push_str(&format!("{n}{sep}={sep}\"{}\"", escape_value(v)));
    }
    if trailing_comma && !labels.is_empty() {
        out.push(',');
    }
    out.push('}');
}

fn render_text(fams: &[Fam], style: &TextStyle) -> (String, Vec<Own>) {
    let mut out = String::new();
    let mut want = Vec::new();
    let mut k = 0;
    let mut blank = || {
        k += 1;
        style.blanks[k % style.blanks.len()]
    };
    for f in fams {
        if let Some(h) = &f.help {
            out.push_str(&format!(
                "# HELP {} {}\n",
                f.name,
                h.replace('\\', "\\\\").replace('\n', "\\n")
            ));
            want.push(Own::Help(f.name.clone(), h.clone()));
        }
        if f.typed {
            let word = match f.kind {
                MetricKind::Unknown => "untyped",
                k => k.as_str(),
            };
            out.push_str(&format!(
                "#{}TYPE{}{}{}{word}\n",
                blank(),
                blank(),
                f.name,
                blank()
            ));
            want.push(Own::Type(f.name.clone(), f.kind));
        }
        if style.comments {
            out.push_str("# a comment \u{2603}\n\n");
        }
        for p in &f.points {
            let name = format!("{}{}", f.name, p.suffix);
            out.push_str(&name);
            if p.braces || !p.labels.is_empty() {
                out.push_str(blank());
                let sep = blank();
                render_labels(&mut out, &p.labels, sep, style.trailing_comma);
            }
            out.push_str(blank());
            out.push_str(&render_value(p.value));
            if let Some(ts) = p.ts {
                out.push_str(blank());
                out.push_str(&ts.to_string());
            }
            out.push('\n');
            want.push(Own::Sample {
                name,
                labels: p.labels.clone(),
                value: V(p.value),
                ts: p.ts,
                exemplar: None,
                created: false,
            });
        }
    }
    (out, want)
}

fn render_om(fams: &[Fam]) -> (String, Vec<Own>) {
    let mut out = String::new();
    let mut want = Vec::new();
    for f in fams {
        if f.typed {
            out.push_str(&format!("# TYPE {} {}\n", f.name, f.kind));
            want.push(Own::Type(f.name.clone(), f.kind));
        }
        if let Some(u) = &f.unit {
            out.push_str(&format!("# UNIT {} {u}\n", f.name));
            want.push(Own::Unit(f.name.clone(), u.clone()));
        }
        if let Some(h) = &f.help {
            out.push_str(&format!("# HELP {} {}\n", f.name, escape_value(h)));
            want.push(Own::Help(f.name.clone(), h.clone()));
        }
        for p in &f.points {
            let name = format!("{}{}", f.name, p.suffix);
            out.push_str(&name);
            if p.braces || !p.labels.is_empty() {
                render_labels(&mut out, &p.labels, "", false);
            }
            out.push(' ');
            out.push_str(&render_value(p.value));
            if let Some(ts) = p.ts {
                out.push(' ');
                out.push_str(&render_seconds(ts));
            }
            if let Some((l, v, ts)) = &p.exemplar {
                out.push_str(" # ");
                render_labels(&mut out, l, "", false);
                out.push(' ');
                out.push_str(&render_value(*v));
                if let Some(ts) = ts {
                    out.push(' ');
                    out.push_str(&render_seconds(*ts));
                }
            }
            out.push('\n');
            let created = p.suffix == "_created"
                && matches!(
                    f.kind,
                    MetricKind::Counter | MetricKind::Histogram | MetricKind::Summary
                );
            want.push(Own::Sample {
                name,
                labels: p.labels.clone(),
                value: V(p.value),
                ts: p.ts,
                exemplar: p.exemplar.clone().map(|(l, v, ts)| (l, V(v), ts)),
                created,
            });
        }
    }
    out.push_str("# EOF\n");
    want.push(Own::Eof);
    (out, want)
}

/// OpenMetrics family names must be unique and must not be confusable with another
/// family's sample names; a distinct numbered prefix per family guarantees both.
fn om_families() -> impl Strategy<Value = Vec<Fam>> {
    prop::collection::vec(om_family(), 0..6).prop_map(|mut fams| {
        for (i, f) in fams.iter_mut().enumerate() {
            f.name = format!("f{i}_{}", f.name);
        }
        fams
    })
}

/// Everything the parser promises about what it accepted, checked on any input.
fn check_invariants(body: &[u8], format: Format) {
    let mut parser = Parser::new(body, format);
    let mut last = None;
    for entry in parser.by_ref() {
        let Ok(entry) = entry else {
            last = None;
            break;
        };
        if let Entry::Sample(s) = &entry {
            assert!(pharos_model::labels::is_valid_metric_name(s.name));
            assert!(s.series.starts_with(s.name));
            let names: Vec<&str> = s.labels.iter().map(|l| l.name).collect();
            assert_eq!(names.len(), s.labels.len());
            let unique: HashSet<&str> = names.iter().copied().collect();
            assert_eq!(unique.len(), names.len());
            assert!(!unique.contains("__name__"));
            assert!(names
                .iter()
                .all(|n| pharos_model::labels::is_valid_label_name(n)));
            assert!(!pharos_model::is_stale_nan(s.value));
            if let Some(e) = &s.exemplar {
                assert_eq!(format, OM);
                let chars: usize = e
                    .labels
                    .iter()
                    .map(|l| l.name.len() + l.value.unescape().chars().count())
                    .sum();
                assert!(chars <= MAX_EXEMPLAR_LABEL_CHARS);
                assert_eq!(e.labels.iter().count(), e.labels.len());
            }
            let _ = s.to_labels();
        }
        last = Some(own(&entry));
    }
    assert!(parser.next().is_none());
    if format == OM {
        // A successful OpenMetrics parse always ends with # EOF.
        assert!(last.is_none() || last == Some(Own::Eof));
    }
    let _ = parse_body(body, format, 0);
}

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::with_cases(256)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_format_round_trips(
        fams in prop::collection::vec(text_family(), 0..6),
        style in text_style(),
    ) {
        let (body, want) = render_text(&fams, &style);
        prop_assert_eq!(parse(TEXT, &body), Ok(want), "{}", body);
    }

    #[test]
    fn openmetrics_round_trips(fams in om_families()) {
        let (body, want) = render_om(&fams);
        prop_assert_eq!(parse(OM, &body), Ok(want), "{}", body);
    }

    #[test]
    fn owned_conversion_matches_the_entries(fams in om_families(), now in any::<i64>()) {
        let (body, want) = render_om(&fams);
        let parsed = parse_body(body.as_bytes(), OM, now).unwrap();
        let mut samples = parsed.samples.iter();
        let mut created = parsed.created.iter();
        for w in &want {
            let Own::Sample { name, labels, value, ts, exemplar, created: is_created } = w else {
                continue;
            };
            let l = Labels::from_pairs(
                labels.iter().cloned().chain([("__name__".to_string(), name.clone())]),
            );
            let t = ts.unwrap_or(now);
            if *is_created {
                let (gl, gs) = created.next().unwrap();
                prop_assert_eq!(gl, &l);
                prop_assert_eq!((gs.t, V(gs.v)), (t, *value));
            } else {
                let (gl, gs, ge) = samples.next().unwrap();
                prop_assert_eq!(gl, &l);
                prop_assert_eq!((gs.t, V(gs.v)), (t, *value));
                let ge = ge.as_ref().map(|e| (e.labels.clone(), V(e.value), e.t));
                let we = exemplar.as_ref().map(|(l, v, et)| {
                    (Labels::from_pairs(l.iter().cloned()), *v, et.unwrap_or(t))
                });
                prop_assert_eq!(ge, we);
            }
        }
        prop_assert!(samples.next().is_none() && created.next().is_none());
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_invariants(&body, TEXT);
        check_invariants(&body, OM);
    }

    #[test]
    fn mutated_bodies_never_panic(
        fams in om_families(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let (body, _) = render_om(&fams);
        let mut body = body.into_bytes();
        for (at, byte, op) in edits {
            let i = at.index(body.len() + 1);
            match op {
                0 if i < body.len() => body[i] = byte,
                1 if i < body.len() => { body.remove(i); }
                _ => body.insert(i, byte),
            }
        }
        check_invariants(&body, TEXT);
        check_invariants(&body, OM);
    }
}

#[test]
fn fixtures_with_every_byte_mutated_never_panic() {
    for (fixture, format) in [(NODE_EXPORTER, TEXT), (CLIENT_PYTHON, OM)] {
        let base = fixture.as_bytes();
        // Every position once, with the bytes most likely to matter there.
        for (i, b) in b"\"\\{}=, #\n\t\x00\xff\xc3e."
            .iter()
            .cycle()
            .enumerate()
            .take(base.len())
        {
            let mut body = base.to_vec();
            body[i] = *b;
            check_invariants(&body, format);
            if i % 5 == 0 {
                check_invariants(&body[..i], format);
            }
        }
    }
}

// --- throughput ---

/// A body like a large node_exporter or application target: mostly labelled
/// counters and gauges, HELP/TYPE every 50 series, some escapes, some exponents.
fn generated_body(lines: usize, format: Format) -> (String, usize) {
    let mut out = String::with_capacity(lines * 110);
    let mut samples = 0;
    let modes = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    let mut fam = 0;
    let mut i = 0;
    while i < lines {
        fam += 1;
        let name = format!("app_component{fam}_operations");
        out.push_str(&format!(
            "# HELP {name} Operations handled by the component.\n"
        ));
        out.push_str(&format!("# TYPE {name} counter\n"));
        i += 2;
        for j in 0..50 {
            if i >= lines {
                break;
            }
            let suffix = if format == Format::OpenMetrics {
                "_total"
            } else {
                ""
            };
            let value = match j % 4 {
                0 => format!("{}", j * 1000 + fam),
                1 => format!("{}.{}", j * 17, fam % 100),
                2 => format!("{}e+{:02}", 1.0 + j as f64 / 64.0, fam % 12),
                _ => "0".to_owned(),
            };
            let path = if j % 10 == 0 {
                "C:\\\\data\\\\x"
            } else {
                "/api/v1/query"
            };
            out.push_str(&format!(
                "{name}{suffix}{{instance=\"10.0.{}.{}:9100\",job=\"node\",mode=\"{}\",path=\"{path}\",cpu=\"{}\"}} {value}\n",
                fam % 256,
                j,
                modes[j % modes.len()],
                j % 16
            ));
            samples += 1;
            i += 1;
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    (out, samples)
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Prints samples per second for both formats, through the borrowing parser (the
/// scrape path) and the owned conversion. Meaningful only in release builds:
/// `cargo test --release -p pharos-ingest exposition -- --nocapture`.
#[test]
fn exposition_throughput() {
    const LINES: usize = 100_000;
    let runs = if cfg!(debug_assertions) { 1 } else { 5 };
    for format in [TEXT, OM] {
        let (body, samples) = generated_body(LINES, format);
        let borrowing = best_of(runs, || {
            let mut n = 0usize;
            let mut sum = 0.0;
            for e in Parser::new(body.as_bytes(), format) {
                if let Entry::Sample(s) = e.unwrap() {
                    n += s.labels.iter().count();
                    sum += s.value;
                }
            }
            (n, sum)
        });
        let owned = best_of(runs, || parse_body(body.as_bytes(), format, 0).unwrap());
        let rate = |d: Duration| samples as f64 / d.as_secs_f64();
        println!(
            "{format:?}: {samples} samples, {:.1} MB: borrowing parser {:.2?} = {:.1}M samples/s ({:.0} MB/s); owned parse_body {:.2?} = {:.1}M samples/s",
            body.len() as f64 / 1e6,
            borrowing,
            rate(borrowing) / 1e6,
            body.len() as f64 / 1e6 / borrowing.as_secs_f64(),
            owned,
            rate(owned) / 1e6,
        );
        if !cfg!(debug_assertions) {
            // The budget is a million samples per second for the whole scrape path, so
            // the parser must be well below it. The margin is kept loose because the
            // machines running this are shared; it catches regressions, not noise.
            assert!(
                rate(borrowing) > 2e6,
                "{format:?}: {:.0} samples/s",
                rate(borrowing)
            );
        }
    }
}
