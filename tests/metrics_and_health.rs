//! Health, readiness and self-metrics of a running server.

mod common;

use common::*;

#[test]
fn metrics_and_health() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), None);
    let client = client();

    let resp = client.get(server.url("/-/healthy")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().unwrap().trim(), "Pharos is Healthy.");
    let resp = client.get(server.url("/-/ready")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().unwrap().trim(), "Pharos is Ready.");

    let resp = client.get(server.url("/metrics")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.text().unwrap();
    for want in [
        "# TYPE process_cpu_seconds_total counter",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_virtual_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
        "# TYPE pharos_tsdb_head_series gauge",
        "pharos_tsdb_head_series 0",
        "pharos_tsdb_samples_rejected_total{reason=\"too_old\"} 0",
        "pharos_build_info{version=\"",
        "pharos_ready 1",
        "pharos_http_requests_total{handler=\"/-/ready\",code=\"200\"}",
    ] {
        assert!(text.contains(want), "/metrics lacks {want:?}:\n{text}");
    }
    let rss = metric_value(&client, &server, "process_resident_memory_bytes").unwrap();
    assert!(rss > 1e6, "resident memory {rss}");
    let start = metric_value(&client, &server, "process_start_time_seconds").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - start).abs() < 3600.0,
        "start time {start}, now {now}"
    );

    let resp = client.get(server.url("/no/such/path")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    server.stop();
}
