//! A series limit answers 429 with Retry-After, counts the refusal in `/metrics`, and
//! keeps the series that fit.

mod common;

use common::*;

#[test]
fn limits_return_429() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("pharos.yml");
    std::fs::write(
        &config,
        "storage:\n  tsdb:\n    limits:\n      max_series: 5\n",
    )
    .unwrap();
    let server = Server::start(&data, Some(&config));
    let client = client();

    let series: Vec<TestSeries> = (0..10)
        .map(|i| {
            TestSeries::new(
                &[("__name__", "limited"), ("i", &format!("{i:02}"))],
                vec![(1_700_000_000_000, i as f64)],
            )
        })
        .collect();
    let resp = post_write(&client, &server.url(""), encode_write(&series)).unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().unwrap();
    assert_eq!(status, 429, "{text}");
    let secs: u64 = retry_after
        .expect("Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!(secs > 0);
    assert!(text.contains("max_series=5"), "{text}");

    let rejected = metric_value(
        &client,
        &server,
        "pharos_tsdb_samples_rejected_total{reason=\"max_series\"}",
    );
    assert_eq!(rejected, Some(5.0));
    assert_eq!(
        metric_value(&client, &server, "pharos_tsdb_head_series"),
        Some(5.0)
    );
    server.stop();

    let dumped = dump(&data, &[]);
    let stored: Vec<&str> = dumped.iter().map(|d| d.series.as_str()).collect();
    let want: Vec<String> = series[..5].iter().map(TestSeries::key).collect();
    assert_eq!(stored, want);
}
