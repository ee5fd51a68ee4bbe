//! The whole alert path inside one Pharos: remote-written samples make an alerting rule
//! (with `for` and templated annotations) fire; the rule manager hands the alert to the
//! dispatcher in-process; the `alertmanager:` section routes it to a webhook receiver,
//! which gets Alertmanager's JSON (version 4). A restart while firing does not page again
//! (the notification log is in the control-plane database), and clearing the condition
//! sends the resolved notification.

mod common;

use common::{client, encode_write, post_write, webhook_server, Server, TestSeries};
use serde_json::Value;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const RULES: &str = r#"groups:
  - name: temps
    rules:
      - alert: RoomTooHot
        expr: room_temperature_celsius > 50
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.room }} is at {{ $value }} degrees"
          runbook_url: https://runbooks.example/room-too-hot
"#;

fn config(webhook: &str) -> String {
    format!(
        "self_scrape: false
global:
  evaluation_interval: 1s
rule_files: [rules.yml]
alertmanager:
  route:
    receiver: pager
    group_by: [alertname]
    group_wait: 1s
    group_interval: 1s
    repeat_interval: 1h
  receivers:
    - name: pager
      webhook_configs:
        - url: {webhook}
"
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn write_temp(server: &Server, value: f64) {
    let body = encode_write(&[TestSeries::new(
        &[("__name__", "room_temperature_celsius"), ("room", "r1")],
        vec![(now_ms(), value)],
    )]);
    let r = post_write(&client(), &server.url(""), body).unwrap();
    assert!(r.status().is_success(), "write: {}", r.status());
}

fn next(rx: &mpsc::Receiver<Value>, server: &Server, what: &str) -> Value {
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            panic!(
                "no {what} notification within 60s; server log:\n{}",
                server.logs()
            )
        })
}

#[test]
fn rule_alert_notifies_webhook_once_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let (url, rx) = webhook_server();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let cfg = dir.path().join("pharos.yml");
    std::fs::write(&cfg, config(&url)).unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, Some(&cfg));

    write_temp(&server, 90.0);
    let msg = next(&rx, &server, "firing");
    assert_eq!(msg["version"], "4", "{msg}");
    assert_eq!(msg["status"], "firing", "{msg}");
    assert_eq!(msg["receiver"], "pager");
    assert_eq!(msg["groupLabels"]["alertname"], "RoomTooHot");
    let alert = &msg["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["room"], "r1");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "r1 is at 90 degrees");
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "https://runbooks.example/room-too-hot"
    );
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .contains("g0.expr=room_temperature_celsius"),
        "{alert}"
    );
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);

    // The send is counted on /metrics by integration kind, Alertmanager-style.
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .expect("GET /metrics")
        .text()
        .expect("body");
    let sent: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("pharos_alertmanager_notifications_total{integration=\"webhook\"} ")
        })
        .unwrap_or_else(|| panic!("no webhook notification count in\n{metrics}"))
        .parse()
        .unwrap();
    assert!(sent >= 1.0, "{metrics}");

    // Restart while firing: the rule fires again after the restart, and the
    // notification log (in the database) keeps the page from repeating.
    server.stop();
    let server = Server::start(&data, Some(&cfg));
    write_temp(&server, 91.0);
    let quiet_until = Instant::now() + Duration::from_secs(8);
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        if let Ok(dup) = rx.recv_timeout(left) {
            panic!("duplicate notification after restart: {dup}");
        }
    }
    // The alert did come back after the restart (so the silence above is dedup).
    let alerts = common::get_json(&client(), &server.url("/api/v2/alerts"));
    assert_eq!(alerts[0]["labels"]["alertname"], "RoomTooHot", "{alerts}");

    write_temp(&server, 20.0);
    let msg = next(&rx, &server, "resolved");
    assert_eq!(msg["status"], "resolved", "{msg}");
    assert_eq!(msg["alerts"][0]["status"], "resolved");
    assert_ne!(msg["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");

    let history = common::get_json(
        &client(),
        &server.url("/api/v1/alerts/history?match[]=RoomTooHot"),
    );
    let kinds: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"firing") && kinds.contains(&"resolved"),
        "{history}"
    );
    server.stop();
}
