//! Focused tests of the evaluator over an in-memory store.

use crate::{Cancel, Engine, EngineOptions, QueryError, QueryOptions, Value};
use pharos_model::{
    Exemplar, Labels, Matcher, Querier, Queryable, Sample, Series, SeriesSet, StorageError,
    VecSampleIter, STALE_NAN,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Series by label set, samples in time order.
#[derive(Clone, Default)]
pub(crate) struct MemStore {
    series: Arc<BTreeMap<Labels, Vec<Sample>>>,
}

impl MemStore {
    /// `metric{a="b"} v0 v1 …` at `step_ms` intervals from 0, `_` for no sample,
    /// `stale` for a staleness marker.
    pub fn load(lines: &[&str], step_ms: i64) -> MemStore {
        let mut map: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        for line in lines {
            let (metric, values) = match line.find('}') {
                Some(i) => (&line[..=i], &line[i + 1..]),
                None => line.split_once(' ').unwrap_or((line, "")),
            };
            let labels = parse_metric(metric.trim());
            let samples = values
                .split_whitespace()
                .enumerate()
                .filter(|(_, v)| *v != "_")
                .map(|(i, v)| Sample {
                    t: i as i64 * step_ms,
                    v: if v == "stale" {
                        STALE_NAN
                    } else {
                        v.parse().unwrap()
                    },
                })
                .collect();
            map.insert(labels, samples);
        }
        MemStore {
            series: Arc::new(map),
        }
    }
}

fn parse_metric(s: &str) -> Labels {
    let (name, rest) = match s.find('{') {
        Some(i) => (&s[..i], &s[i + 1..s.len() - 1]),
        None => (s, ""),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.into()));
    }
    for kv in rest.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = kv.split_once('=').unwrap();
        pairs.push((k.trim().into(), v.trim().trim_matches('"').into()));
    }
    Labels::from_pairs(pairs)
}

struct MemQuerier {
    series: Arc<BTreeMap<Labels, Vec<Sample>>>,
    mint: i64,
    maxt: i64,
}

impl Queryable for MemStore {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(MemQuerier {
            series: self.series.clone(),
            mint,
            maxt,
        }))
    }
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<SeriesSet, StorageError> {
        let mut out = Vec::new();
        for (labels, samples) in self.series.iter() {
            if !matchers
                .iter()
                .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
            {
                continue;
            }
            let s: Vec<Sample> = samples
                .iter()
                .filter(|s| s.t >= self.mint && s.t <= self.maxt)
                .copied()
                .collect();
            if s.is_empty() {
                continue;
            }
            out.push(Ok(Series {
                labels: labels.clone(),
                samples: Box::new(VecSampleIter::new(s)),
            }));
        }
        Ok(Box::new(out.into_iter()))
    }

    fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }

    fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }

    fn exemplars(&self, _: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>, StorageError> {
        Ok(Vec::new())
    }
}

fn engine() -> Engine {
    Engine::new(EngineOptions {
        delayed_name_removal: true,
        max_samples: 10_000,
        ..EngineOptions::default()
    })
}

/// `labels → value` of an instant query, in result order.
fn instant(store: &MemStore, q: &str, t_ms: i64) -> Result<Vec<(String, f64)>, QueryError> {
    let r = engine().instant_query(store, q, t_ms, &QueryOptions::default(), &Cancel::new())?;
    Ok(match r.value {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        Value::Scalar { v, .. } => vec![("scalar".into(), v)],
        other => panic!("unexpected {other:?}"),
    })
}

fn one(store: &MemStore, q: &str, t_ms: i64) -> f64 {
    let r = instant(store, q, t_ms).unwrap();
    assert_eq!(r.len(), 1, "{q}: {r:?}");
    r[0].1
}

fn counters() -> MemStore {
    MemStore::load(
        &[
            r#"http_requests_total{job="api",instance="0"} 0 10 20 30 40 50 60 70 80 90 100"#,
            r#"http_requests_total{job="api",instance="1"} 0 20 40 60 80 100 120 140 160 180 200"#,
            r#"http_requests_total{job="db",instance="0"} 0 30 60 90 120 150 180 210 240 270 300"#,
        ],
        60_000,
    )
}

#[test]
fn instant_selector_and_lookback() {
    let s = counters();
    assert_eq!(
        instant(&s, "http_requests_total", 600_000).unwrap().len(),
        3
    );
    // The lookback window is left-open: a sample exactly 5m old is out.
    assert_eq!(
        instant(&s, "http_requests_total", 900_000).unwrap().len(),
        0
    );
    assert_eq!(one(&s, r#"http_requests_total{job="db"}"#, 899_999), 300.0);
    assert_eq!(
        one(&s, r#"http_requests_total{job="db"} offset 1m"#, 600_000),
        270.0
    );
    assert_eq!(
        one(&s, r#"http_requests_total{job="db"} @ 120"#, 600_000),
        60.0
    );
}

#[test]
fn rate_sum_and_binary() {
    let s = counters();
    let v = one(
        &s,
        r#"sum(rate(http_requests_total{job="api"}[5m]))"#,
        600_000,
    );
    assert!((v - 0.5).abs() < 1e-9, "{v}");
    let by_job = instant(&s, "sum by (job) (http_requests_total)", 600_000).unwrap();
    assert_eq!(by_job.len(), 2);
    let ratio = one(
        &s,
        r#"sum(http_requests_total{job="db"}) / on() sum(http_requests_total{job="api"})"#,
        600_000,
    );
    assert_eq!(ratio, 1.0);
    assert_eq!(one(&s, "1 + 2 * 3", 0), 7.0);
    assert_eq!(one(&s, "2 ^ 3 ^ 2", 0), 512.0);
}

#[test]
fn staleness_ends_a_series() {
    let s = MemStore::load(&["m 1 2 stale 4"], 60_000);
    assert_eq!(one(&s, "m", 60_000), 2.0);
    assert!(instant(&s, "m", 150_000).unwrap().is_empty());
    assert_eq!(one(&s, "count_over_time(m[10m])", 180_000), 3.0);
}

#[test]
fn many_to_many_is_an_error() {
    let s = MemStore::load(
        &[
            r#"a{x="1",y="1"} 1"#,
            r#"b{x="1",y="1"} 1"#,
            r#"b{x="1",y="2"} 1"#,
        ],
        60_000,
    );
    let err = instant(&s, "a + on(x) b", 0).unwrap_err();
    assert!(err.to_string().starts_with(
        r#"found duplicate series for the match group {x="1"} on the right hand-side of the operation: [{__name__="b", x="1", y="1"}, {__name__="b", x="1", y="2"}];many-to-many"#
    ), "{err}");
}

#[test]
fn range_query_shapes() {
    let s = counters();
    let e = engine();
    let r = e
        .range_query(
            &s,
            "sum(http_requests_total)",
            0,
            600_000,
            60_000,
            &QueryOptions::default(),
            &Cancel::new(),
        )
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].points.len(), 11);
    let r = e
        .range_query(
            &s,
            "time()",
            0,
            120_000,
            60_000,
            &QueryOptions::default(),
            &Cancel::new(),
        )
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(
        m[0].points.iter().map(|p| p.v).collect::<Vec<_>>(),
        vec![0.0, 60.0, 120.0]
    );
    assert!(matches!(
        e.range_query(&s, "x", 10, 0, 1, &QueryOptions::default(), &Cancel::new()),
        Err(QueryError::BadData(_))
    ));
    assert!(matches!(
        e.range_query(
            &s,
            "x",
            0,
            12_000_000,
            1000,
            &QueryOptions::default(),
            &Cancel::new()
        ),
        Err(QueryError::BadData(_))
    ));
}

#[test]
fn subquery_windows() {
    let s = counters();
    let v = one(
        &s,
        r#"max_over_time(rate(http_requests_total{job="db"}[2m])[5m:1m])"#,
        600_000,
    );
    assert!((v - 0.5).abs() < 1e-9, "{v}");
}

#[test]
fn delayed_name_removal_keeps_name_for_label_replace() {
    let s = counters();
    let r = instant(
        &s,
        r#"label_replace(rate(http_requests_total{job="db"}[5m]), "__name__", "r_$1", "__name__", "(.+)")"#,
        600_000,
    )
    .unwrap();
    assert_eq!(r[0].0, r#"r_http_requests_total{instance="0", job="db"}"#);
}

#[test]
fn sample_limit_and_cancel() {
    let s = counters();
    let e = Engine::new(EngineOptions {
        max_samples: 5,
        ..EngineOptions::default()
    });
    let err = e
        .instant_query(
            &s,
            "http_requests_total[10m]",
            600_000,
            &QueryOptions::default(),
            &Cancel::new(),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), super::TOO_MANY_SAMPLES);
    let c = Cancel::new();
    c.cancel();
    assert!(matches!(
        engine().instant_query(&s, "http_requests_total", 0, &QueryOptions::default(), &c),
        Err(QueryError::Canceled(_))
    ));
}

#[test]
fn annotations_carry_positions() {
    let s = MemStore::load(&["gauge 1 2 3"], 60_000);
    let r = engine()
        .instant_query(
            &s,
            "rate(gauge[5m])",
            120_000,
            &QueryOptions::default(),
            &Cancel::new(),
        )
        .unwrap();
    assert_eq!(
        r.annotations.infos,
        vec![
            r#"PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "gauge" (1:6)"#
        ]
    );
}

#[test]
fn format_query_pretty_prints() {
    assert_eq!(
        crate::format_query("sum(foo)by(job)").unwrap(),
        "sum by (job) (foo)"
    );
    assert!(crate::format_query("sum(").is_err());
}

#[test]
fn hostile_queries_fail_cleanly() {
    let s = counters();
    let deep = format!("{}1{}", "(".repeat(3000), ")".repeat(3000));
    assert!(instant(&s, &deep, 0).is_err());
    let err = instant(&s, "count_over_time(vector(1)[1000d:1ms])", 0).unwrap_err();
    assert_eq!(err.to_string(), super::TOO_MANY_SAMPLES);
    for q in [
        "http_requests_total @ 1e300",
        "http_requests_total @ -9223372036854775",
        "rate(http_requests_total[1ms])",
        "http_requests_total[100y]",
        "http_requests_total offset 10000y",
        "http_requests_total offset -10000y",
        r#"label_replace(http_requests_total, "a", "$9999", "job", "(.*)")"#,
        "topk(1e30, http_requests_total)",
        "topk(-1e30, http_requests_total)",
        "quantile(NaN, http_requests_total)",
        "round(http_requests_total, 0)",
        "http_requests_total ^ 1e308",
        r#"histogram_quantile(0.5, http_requests_total)"#,
        r#"count_values("", http_requests_total)"#,
        "sum_over_time(http_requests_total[1s:1ms] @ -1e15)",
        "x[1e400]",
        "x[5m:1e400]",
        "x offset (1e400)",
        "x[(1/0)]",
        "step()",
        "http_requests_total[5m:1m] offset 1w",
        "-(-(-http_requests_total))",
        "absent_over_time(nonexistent[5m] anchored)",
        "rate(http_requests_total[5m] smoothed)",
        "http_requests_total smoothed",
        "info(http_requests_total, {x=~\".*\"})",
        "sort_by_label(http_requests_total, \"job\", \"instance\")",
        "limit_ratio(0.5, http_requests_total)",
        "limitk(1, http_requests_total)",
        "day_of_week(vector(1e300))",
    ] {
        let _ = engine().instant_query(&s, q, 600_000, &QueryOptions::default(), &Cancel::new());
        let _ = engine().range_query(
            &s,
            q,
            0,
            600_000,
            60_000,
            &QueryOptions::default(),
            &Cancel::new(),
        );
    }
}

/// A store whose reads take a while, to keep queries running.
struct SlowStore(MemStore, std::time::Duration);

impl Queryable for SlowStore {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        std::thread::sleep(self.1);
        self.0.querier(mint, maxt)
    }
}

#[test]
fn concurrency_limit_and_timeout() {
    let e = Arc::new(Engine::new(EngineOptions {
        max_concurrent: 1,
        ..EngineOptions::default()
    }));
    let slow = Arc::new(SlowStore(counters(), std::time::Duration::from_millis(400)));
    let (e2, slow2) = (e.clone(), slow.clone());
    let running = std::thread::spawn(move || {
        e2.instant_query(
            slow2.as_ref(),
            "http_requests_total",
            0,
            &QueryOptions::default(),
            &Cancel::new(),
        )
    });
    std::thread::sleep(std::time::Duration::from_millis(100));
    let quick = QueryOptions {
        timeout: Some(std::time::Duration::from_millis(50)),
        ..QueryOptions::default()
    };
    let err = e
        .instant_query(
            &counters(),
            "http_requests_total",
            0,
            &quick,
            &Cancel::new(),
        )
        .unwrap_err();
    assert_eq!(err, QueryError::Timeout("query queue".into()));
    assert!(running.join().unwrap().is_ok());
    // A query slower than its timeout fails once it notices.
    let err = e
        .instant_query(
            slow.as_ref(),
            "http_requests_total",
            0,
            &quick,
            &Cancel::new(),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "query timed out in expression evaluation");
}

#[test]
fn engine_is_shareable() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Engine>();
}
