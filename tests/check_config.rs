//! `pharos check config` names file, line and field path for every problem, and
//! `pharos serve` refuses a missing or invalid config before touching the data.

mod common;

use common::*;

#[test]
fn check_config() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("pharos.yml");
    std::fs::write(
        &bad,
        "\
storage:
  tsdb:
    retention: 15x
    block_span: 2h
    colour: blue
server:
  write_timeout: 10s
",
    )
    .unwrap();
    let bad_s = bad.to_str().unwrap();
    let out = run_pharos(&["check", "config", bad_s]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{bad_s}:3:16: storage.tsdb.retention: invalid duration \"15x\": unknown unit \"x\""
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{bad_s}:5:5: storage.tsdb.colour: unknown field `colour`"
        )),
        "{stderr}"
    );

    // Semantic errors are all reported together too.
    let semantic = tmp.path().join("semantic.yml");
    std::fs::write(
        &semantic,
        "storage:\n  tsdb:\n    block_span: 0s\n    wal:\n      segment_size: 1KB\n",
    )
    .unwrap();
    let out = run_pharos(&["check", "config", semantic.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(":3:5: storage.tsdb.block_span: must be at least 1m"),
        "{stderr}"
    );
    assert!(
        stderr.contains(":5:7: storage.tsdb.wal.segment_size: must be between"),
        "{stderr}"
    );

    let good = tmp.path().join("good.yml");
    std::fs::write(
        &good,
        "\
# every section, explicitly
storage:
  tsdb:
    retention: 30d
    retention_size: 10GB
    block_span: 2h
    out_of_order_window: 10m
    max_exemplars_per_series: 10
    wal:
      segment_size: 128MB
      fsync: interval
      fsync_interval: 1s
    limits:
      max_series: 1000000
      max_series_per_metric: 100000
      max_labels_per_series: 64
      max_label_name_length: 1024
      max_label_value_length: 4096
server:
  max_request_bytes: 32MB
  max_inflight_writes: 8
  write_timeout: 30s
",
    )
    .unwrap();
    let good_s = good.to_str().unwrap();
    let out = run_pharos(&["check", "config", good_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("SUCCESS: {good_s} is valid")
    );

    // serve refuses a missing or invalid config with the same messages.
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    let missing = tmp.path().join("missing.yml");
    let out = run_pharos(&[
        "serve",
        "--data-dir",
        data_s,
        "--listen",
        "127.0.0.1:0",
        "--config",
        missing.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot read config file") && stderr.contains("missing.yml"),
        "{stderr}"
    );
    let out = run_pharos(&[
        "serve",
        "--data-dir",
        data_s,
        "--listen",
        "127.0.0.1:0",
        "--config",
        bad_s,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("storage.tsdb.retention"), "{stderr}");
    assert!(
        !data.exists(),
        "an invalid config must not create the data directory"
    );
}
