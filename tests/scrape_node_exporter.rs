//! Scraping a real exporter (Debian's `prometheus-node-exporter`) and a target that
//! refuses connections, side by side: the exporter's samples are queryable, the refused
//! target reports `up == 0` with its error, and neither affects the other.

mod common;

use common::{client, free_port, poll, query_value, targets, Server};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NODE_EXPORTER: &str = "prometheus-node-exporter";
/// Scrapes run every second, but a debug build on a busy machine needs a wide margin.
const DEADLINE: Duration = Duration::from_secs(60);

/// Kills the exporter when the test ends, however it ends.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_exporter(port: u16) -> Exporter {
    let child = Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {NODE_EXPORTER} ({e}); install it with \
                 `apt-get install prometheus-node-exporter` (CI does so in .ci/run)"
            )
        });
    Exporter(child)
}

#[test]
fn scrapes_node_exporter_and_reports_a_refused_target() {
    let node_port = free_port();
    let _exporter = start_exporter(node_port);
    // Nothing listens here: the port was free a moment ago and is not handed to anyone.
    let refused_port = free_port();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pharos.yml");
    std::fs::write(
        &config,
        format!(
            "self_scrape: false
scrape_configs:
  - job_name: node
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['127.0.0.1:{node_port}']
  - job_name: refused
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['127.0.0.1:{refused_port}']
"
        ),
    )
    .unwrap();
    let server = Server::start(&dir.path().join("data"), Some(&config));
    let c = client();

    let up = poll(DEADLINE, || {
        query_value(&c, &server, r#"up{job="node"}"#).filter(|v| *v == 1.0)
    });
    assert_eq!(up, Some(1.0), "server log:\n{}", server.logs());
    let cpu = query_value(&c, &server, r#"count(node_cpu_seconds_total{job="node"})"#);
    assert!(
        cpu.is_some_and(|n| n >= 1.0),
        "node_cpu_seconds_total: {cpu:?}"
    );

    let down = poll(DEADLINE, || {
        query_value(&c, &server, r#"up{job="refused"}"#).filter(|v| *v == 0.0)
    });
    assert_eq!(down, Some(0.0), "server log:\n{}", server.logs());

    let t = poll(DEADLINE, || {
        let t = targets(&c, &server);
        let ready = t["data"]["activeTargets"]
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|x| x["health"] != "unknown"));
        ready.then_some(t)
    })
    .expect("both targets scraped");
    let active = t["data"]["activeTargets"].as_array().unwrap();
    let by_job = |job: &str| {
        active
            .iter()
            .find(|a| a["scrapePool"] == job)
            .unwrap_or_else(|| panic!("no {job} target in {t}"))
    };
    let node = by_job("node");
    assert_eq!(node["health"], "up", "{t}");
    assert_eq!(node["lastError"], "");
    assert_eq!(node["scrapeInterval"], "1s");
    let refused = by_job("refused");
    assert_eq!(refused["health"], "down", "{t}");
    let err = refused["lastError"].as_str().unwrap().to_lowercase();
    assert!(err.contains("connection refused"), "{err}");

    // The healthy target keeps being scraped while the other fails.
    let still_up = query_value(&c, &server, r#"up{job="node"}"#);
    assert_eq!(still_up, Some(1.0));

    server.stop();
}
