//! Debian's Prometheus 2.42 sending alerts to Pharos as to an Alertmanager: a rule that
//! fires at once shows up in Pharos's `GET /api/v2/alerts` with Prometheus's labels,
//! annotations, generator URL and the receiver Pharos routes it to.

mod common;

use common::prometheus::Prometheus;
use common::{client, get_json, poll, Server};
use std::time::Duration;

#[test]
fn prometheus_alerts_reach_pharos_api_v2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pharos.yml");
    std::fs::write(
        &cfg,
        "alertmanager:\n  route:\n    receiver: oncall\n    group_by: [alertname]\n  receivers:\n    - name: oncall\n",
    )
    .unwrap();
    let server = Server::start(&dir.path().join("data"), Some(&cfg));

    let prom_dir = dir.path().join("prom");
    std::fs::create_dir_all(&prom_dir).unwrap();
    std::fs::write(
        prom_dir.join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: AlwaysOn\n        expr: vector(1)\n        labels:\n          severity: page\n        annotations:\n          summary: \"value is {{ $value }}\"\n",
    )
    .unwrap();
    let prom_cfg = format!(
        "global:\n  evaluation_interval: 1s\n  external_labels:\n    cluster: c1\n\
         alerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs:\n        - targets: ['{}']\n\
         rule_files: ['rules.yml']\n",
        server.addr
    );
    // The first send can come before the Alertmanager list is discovered (Prometheus
    // then drops it); a short resend delay makes the next attempt come soon.
    let prom = Prometheus::start(&prom_dir, &prom_cfg, &["--rules.alert.resend-delay=1s"]);

    let http = client();
    let alert = poll(Duration::from_secs(60), || {
        let v = get_json(&http, &server.url("/api/v2/alerts"));
        v.as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "AlwaysOn")
            .cloned()
    })
    .unwrap_or_else(|| {
        panic!(
            "alert from Prometheus never arrived\nprometheus log:\n{}\npharos log:\n{}",
            prom.log(),
            server.logs()
        )
    });
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["cluster"], "c1", "external labels: {alert}");
    assert_eq!(alert["annotations"]["summary"], "value is 1");
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr=vector%281%29"),
        "{alert}"
    );
    assert_eq!(alert["receivers"][0]["name"], "oncall");
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
    // Prometheus sends an end time (three resend intervals ahead) while firing.
    assert_ne!(alert["endsAt"], "0001-01-01T00:00:00.000Z");

    let groups = get_json(&http, &server.url("/api/v2/alerts/groups"));
    assert_eq!(groups[0]["labels"]["alertname"], "AlwaysOn", "{groups}");
    drop(prom);
    server.stop();
}
