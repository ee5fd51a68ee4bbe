//! Samples written over remote_write come back bit-exact from `pharos tsdb dump` after a
//! flush to blocks and a clean stop.

mod common;

use common::*;
use pharos_model::STALE_NAN;
use std::collections::BTreeMap;

const T0: i64 = 1_700_000_000_000;

fn test_series() -> Vec<TestSeries> {
    let special = vec![
        (T0, 1.0),
        (T0 + 1_000, 0.0),
        (T0 + 2_000, -0.0),
        (T0 + 3_000, f64::NAN),
        (T0 + 4_000, f64::INFINITY),
        (T0 + 5_000, f64::NEG_INFINITY),
        (T0 + 6_000, STALE_NAN),
        (T0 + 7_000, 1e300),
        (T0 + 8_000, 5e-324),
        (T0 + 9_000, 0.1),
        (T0 + 10_000, -123_456_789.125),
        (T0 + 11_000, f64::MAX),
        (T0 + 12_000, 2.5e-8),
    ];
    // Three hours at 15s: several chunks and more than one block span.
    let long: Vec<(i64, f64)> = (0..720)
        .map(|i| (T0 + i * 15_000, (i as f64 * 0.37).sin() * 1e3))
        .collect();
    let counter: Vec<(i64, f64)> = (0..720)
        .map(|i| (T0 + i * 15_000 + 7, (i * i) as f64))
        .collect();
    vec![
        TestSeries::new(
            &[("__name__", "up"), ("instance", "a"), ("job", "b")],
            special,
        ),
        TestSeries::new(
            &[("__name__", "up"), ("instance", "b"), ("job", "b")],
            long.clone(),
        ),
        TestSeries::new(&[("__name__", "requests_total"), ("code", "200")], counter),
        TestSeries::new(
            &[
                ("__name__", "weird"),
                ("path", "/a \"quoted\" \\ back\nslash"),
                ("unicode", "é😀"),
            ],
            long[..10].to_vec(),
        ),
    ]
}

#[test]
fn remote_write_roundtrip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, None);
    let client = client();
    let series = test_series();

    // Several requests, each a slice of every series, in time order per series.
    for chunk in 0..4 {
        let part: Vec<TestSeries> = series
            .iter()
            .map(|s| {
                let n = s.samples.len();
                let (a, b) = (n * chunk / 4, n * (chunk + 1) / 4);
                TestSeries {
                    labels: s.labels.clone(),
                    samples: s.samples[a..b].to_vec(),
                }
            })
            .filter(|s| !s.samples.is_empty())
            .collect();
        let resp = post_write(&client, &server.url(""), encode_write(&part)).unwrap();
        let status = resp.status().as_u16();
        assert_eq!(
            status,
            204,
            "write {chunk}: {}",
            resp.text().unwrap_or_default()
        );
    }

    let resp = client
        .post(server.url("/api/v1/admin/tsdb/flush"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = serde_json::from_str(&resp.text().unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"status": "success"}));
    server.stop();

    let dumped = dump(&data, &[]);
    let total: usize = series.iter().map(|s| s.samples.len()).sum();
    assert_eq!(dumped.len(), total, "sample count");
    let mut by_series: BTreeMap<String, Vec<&DumpedSample>> = BTreeMap::new();
    for d in &dumped {
        by_series.entry(d.series.clone()).or_default().push(d);
    }
    for s in &series {
        let got = by_series.get(&s.key()).unwrap_or_else(|| {
            panic!("series {} missing; dumped: {:?}", s.key(), by_series.keys())
        });
        assert_eq!(got.len(), s.samples.len(), "{}", s.key());
        for (g, &(t, v)) in got.iter().zip(&s.samples) {
            assert_eq!(g.t, t, "{}", s.key());
            assert!(
                value_matches(&g.value, v),
                "{} at {t}: dumped {} want {v:?}",
                s.key(),
                g.value
            );
        }
    }
    // Series come out in label order.
    let order: Vec<&String> = dumped.iter().map(|d| &d.series).collect();
    let mut first_seen: Vec<&String> = Vec::new();
    for s in order {
        if first_seen.last() != Some(&s) {
            first_seen.push(s);
        }
    }
    assert_eq!(
        first_seen.len(),
        series.len(),
        "each series printed in one run"
    );

    // --match and a time window select a subset.
    let from = T0 + 2_000;
    let to = T0 + 5_000;
    let sub = dump(
        &data,
        &[
            "--match",
            "up{instance=~\"a|z\"}",
            "--min-time",
            &from.to_string(),
            "--max-time",
            &format!("{}.0", to / 1000),
        ],
    );
    let want: Vec<(i64, f64)> = series[0]
        .samples
        .iter()
        .copied()
        .filter(|&(t, _)| (from..=to).contains(&t))
        .collect();
    assert_eq!(sub.len(), want.len(), "{sub:?}");
    for (g, (t, v)) in sub.iter().zip(want) {
        assert_eq!(g.series, series[0].key());
        assert_eq!(g.t, t);
        assert!(value_matches(&g.value, v));
    }
    // Two selectors matching the same series print it once.
    let both = dump(&data, &["--match", "up", "--match", "{job=\"b\"}"]);
    let up_total = series[0].samples.len() + series[1].samples.len();
    assert_eq!(both.len(), up_total);

    let out = run_pharos(&[
        "tsdb",
        "analyze",
        "--data-dir",
        data.to_str().unwrap(),
        "--limit",
        "5",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Total series: 4"), "{text}");
    assert!(
        text.contains("Highest cardinality metric names:\n2 up\n"),
        "{text}"
    );
}
