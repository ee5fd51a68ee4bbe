//! Rule files inside `pharos serve`, with the real binary: a recording rule's output is
//! queryable; an alerting rule goes pending then firing with templated annotations,
//! shows in `/api/v1/alerts` and `/api/v1/rules` and writes `ALERTS` /
//! `ALERTS_FOR_STATE`; a restart restores the firing alert's `activeAt`; a changed rule
//! file is picked up by `/-/reload`; a broken one is refused (by reload, by
//! `pharos check config` and at startup) while the old rules keep running.

mod common;

use common::{
    client, encode_write, get_json, metric_value, post_write, query_value, run_pharos, send_signal,
    Server, TestSeries, BIN,
};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DEADLINE: Duration = Duration::from_secs(60);

const RULES: &str = r#"groups:
  - name: demo
    rules:
      - record: job:demo_value:sum
        expr: sum by (job) (demo_value)
      - alert: DemoHigh
        expr: demo_value > 5
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} is at {{ $value | humanize }}"
          runbook_url: https://runbooks.example/demo-high
"#;

const CONFIG: &str = "self_scrape: false
global:
  evaluation_interval: 1s
  external_labels:
    cluster: test
rule_files:
  - rules/*.yml
rules:
  alert:
    # Restores `for` state of alerts with a `for` this short, which the default
    # 10m grace period would leave out.
    for_grace_period: 1s
";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Like `common::poll`, at a finer step: an alert is pending for only two evaluations.
fn poll_fast<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alerts(c: &reqwest::blocking::Client, s: &Server) -> Vec<Value> {
    let body = get_json(c, &s.url("/api/v1/alerts"));
    assert_eq!(body["status"], "success", "{body}");
    body["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The alert of `DemoHigh` for instance a:1 once it is in `state`.
fn alert_in_state(c: &reqwest::blocking::Client, s: &Server, state: &str) -> Option<Value> {
    alerts(c, s)
        .into_iter()
        .find(|a| a["labels"]["instance"] == "a:1" && a["state"] == state)
}

fn rules(c: &reqwest::blocking::Client, s: &Server, params: &str) -> Value {
    let body = get_json(c, &s.url(&format!("/api/v1/rules{params}")));
    assert_eq!(body["status"], "success", "{body}");
    body["data"].clone()
}

fn rule_names(data: &Value) -> Vec<String> {
    data["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect()
}

fn reload(c: &reqwest::blocking::Client, s: &Server) -> (u16, String) {
    let r = c.post(s.url("/-/reload")).send().expect("POST /-/reload");
    let status = r.status().as_u16();
    (status, r.text().unwrap_or_default())
}

fn write_demo(c: &reqwest::blocking::Client, s: &Server) {
    let t = now_ms();
    let body = encode_write(&[
        TestSeries::new(
            &[
                ("__name__", "demo_value"),
                ("job", "demo"),
                ("instance", "a:1"),
            ],
            vec![(t, 7.0)],
        ),
        TestSeries::new(
            &[
                ("__name__", "demo_value"),
                ("job", "demo"),
                ("instance", "b:1"),
            ],
            vec![(t, 1.0)],
        ),
    ]);
    let r = post_write(c, &s.url(""), body).expect("remote write");
    assert_eq!(r.status().as_u16(), 204);
}

/// Checks the `/api/v1/rules` answer field by field, as Prometheus names them.
fn check_rules_shape(data: &Value, rule_file: &str) {
    let groups = data["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{data}");
    let g = &groups[0];
    let keys: Vec<&str> = g.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "name",
        "file",
        "rules",
        "interval",
        "limit",
        "evaluationTime",
        "lastEvaluation",
    ] {
        assert!(keys.contains(&k), "group lacks {k}: {g}");
    }
    assert_eq!(g["name"], "demo");
    assert_eq!(g["file"], rule_file);
    assert_eq!(g["interval"], 1);
    assert_eq!(g["limit"], 0);
    let rec = &g["rules"][0];
    assert_eq!(rec["type"], "recording", "{rec}");
    assert_eq!(rec["name"], "job:demo_value:sum");
    assert_eq!(rec["query"], "sum by (job) (demo_value)");
    assert_eq!(rec["health"], "ok");
    assert!(rec["evaluationTime"].is_number());
    assert!(rec["lastEvaluation"].as_str().unwrap().ends_with('Z'));
    let al = &g["rules"][1];
    assert_eq!(al["type"], "alerting", "{al}");
    assert_eq!(al["name"], "DemoHigh");
    assert_eq!(al["query"], "demo_value > 5");
    assert_eq!(al["state"], "firing");
    assert_eq!(al["duration"], 2);
    assert_eq!(al["keepFiringFor"], 0);
    assert_eq!(al["labels"]["severity"], "page");
    assert_eq!(
        al["annotations"]["summary"],
        "{{ $labels.instance }} is at {{ $value | humanize }}"
    );
    assert_eq!(al["health"], "ok");
    assert!(al.get("lastError").is_none(), "{al}");
    let a = &al["alerts"][0];
    for k in ["labels", "annotations", "state", "activeAt", "value"] {
        assert!(a.get(k).is_some(), "alert lacks {k}: {a}");
    }
    assert!(a["value"].is_string());
}

fn write_rules(dir: &Path, name: &str, text: &str) {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join(name), text).unwrap();
}

#[test]
fn rules_evaluate_alert_restore_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pharos.yml");
    let data = dir.path().join("data");
    std::fs::write(&config, CONFIG).unwrap();
    write_rules(dir.path(), "demo.yml", RULES);
    let rule_file = dir.path().join("rules/demo.yml").display().to_string();
    let c = client();
    let server = Server::start(&data, Some(&config));
    write_demo(&c, &server);

    // Pending first, then firing once `for` has passed.
    let pending = poll_fast(DEADLINE, || alert_in_state(&c, &server, "pending"));
    assert!(pending.is_some(), "never pending; log:\n{}", server.logs());
    let firing = poll_fast(DEADLINE, || alert_in_state(&c, &server, "firing"))
        .unwrap_or_else(|| panic!("never firing; log:\n{}", server.logs()));
    assert_eq!(firing["labels"]["alertname"], "DemoHigh");
    assert_eq!(firing["labels"]["severity"], "page");
    assert_eq!(firing["labels"]["job"], "demo");
    assert!(firing["labels"].get("__name__").is_none());
    assert_eq!(firing["annotations"]["summary"], "a:1 is at 7");
    assert_eq!(
        firing["annotations"]["runbook_url"],
        "https://runbooks.example/demo-high"
    );
    assert_eq!(firing["value"], "7e+00");
    let active_at = firing["activeAt"].as_str().unwrap().to_owned();
    assert_eq!(alerts(&c, &server).len(), 1, "only a:1 is above 5");

    // The series rules write, through the query API.
    let firing_series = poll_fast(DEADLINE, || {
        query_value(
            &c,
            &server,
            r#"ALERTS{alertname="DemoHigh",alertstate="firing",instance="a:1"}"#,
        )
    });
    assert_eq!(firing_series, Some(1.0), "log:\n{}", server.logs());
    let for_state = query_value(
        &c,
        &server,
        r#"ALERTS_FOR_STATE{alertname="DemoHigh",instance="a:1",severity="page"}"#,
    )
    .expect("ALERTS_FOR_STATE");
    assert_eq!(
        for_state as i64,
        active_at_secs(&c, &server, &active_at),
        "ALERTS_FOR_STATE holds activeAt in seconds"
    );
    let sum = poll_fast(DEADLINE, || {
        query_value(&c, &server, r#"job:demo_value:sum{job="demo"}"#)
    });
    assert_eq!(sum, Some(8.0));

    // `/api/v1/rules`: shape and filters.
    check_rules_shape(&rules(&c, &server, ""), &rule_file);
    assert_eq!(
        rule_names(&rules(&c, &server, "?type=record")),
        ["job:demo_value:sum"]
    );
    assert_eq!(
        rule_names(&rules(&c, &server, "?rule_name[]=DemoHigh")),
        ["DemoHigh"]
    );
    assert!(rule_names(&rules(&c, &server, "?rule_group[]=other")).is_empty());
    let excluded = rules(&c, &server, "?type=alert&exclude_alerts=true");
    assert_eq!(
        excluded["groups"][0]["rules"][0]["alerts"],
        serde_json::json!([])
    );
    let bad = get_json(&c, &server.url("/api/v1/rules?type=both"));
    assert_eq!(bad["errorType"], "bad_data", "{bad}");

    // Self-metrics per group.
    let group = format!("{rule_file};demo");
    let evals = metric_value(
        &c,
        &server,
        &format!("pharos_rule_evaluations_total{{rule_group=\"{group}\"}}"),
    );
    assert!(evals.is_some_and(|v| v >= 2.0), "{evals:?}");
    assert_eq!(
        metric_value(
            &c,
            &server,
            &format!("pharos_rule_group_rules{{rule_group=\"{group}\"}}")
        ),
        Some(2.0)
    );

    // A restart restores the firing alert's activeAt (to the second, as stored).
    server.stop();
    let server = Server::start(&data, Some(&config));
    let restored = poll_fast(DEADLINE, || alert_in_state(&c, &server, "firing"))
        .unwrap_or_else(|| panic!("not firing after restart; log:\n{}", server.logs()));
    let restored_at = restored["activeAt"].as_str().unwrap();
    assert_eq!(
        &restored_at[..19],
        &active_at[..19],
        "activeAt {restored_at} not restored from {active_at}"
    );

    // A new rule through `/-/reload`.
    write_rules(
        dir.path(),
        "demo.yml",
        &format!(
            "{RULES}      - record: job:demo_value:max\n        expr: max by (job) (demo_value)\n"
        ),
    );
    assert_eq!(reload(&c, &server), (200, String::new()));
    assert!(rule_names(&rules(&c, &server, "")).contains(&"job:demo_value:max".to_owned()));
    let max = poll_fast(DEADLINE, || {
        query_value(&c, &server, r#"job:demo_value:max{job="demo"}"#)
    });
    assert_eq!(max, Some(7.0));
    // The alert carried over the reload: still firing, same activeAt.
    let kept = alert_in_state(&c, &server, "firing").expect("still firing after reload");
    assert_eq!(kept["activeAt"], restored["activeAt"]);

    // A broken rule file refuses the reload; the old rules keep being evaluated.
    write_rules(
        dir.path(),
        "broken.yml",
        "groups:\n  - name: broken\n    rules:\n      - record: x\n        expr: sum(\n",
    );
    let (status, body) = reload(&c, &server);
    assert_eq!(status, 500, "{body}");
    assert!(body.starts_with("failed to reload config: "), "{body}");
    assert!(body.contains("broken.yml"), "{body}");
    assert!(body.contains("group \"broken\", rule 1"), "{body}");
    assert_eq!(
        metric_value(&c, &server, "pharos_config_last_reload_successful"),
        Some(0.0)
    );
    let before = rules(&c, &server, "")["groups"][0]["lastEvaluation"].clone();
    let advanced = poll_fast(DEADLINE, || {
        let now = rules(&c, &server, "");
        (now["groups"].as_array().map(Vec::len) == Some(1)
            && now["groups"][0]["lastEvaluation"] != before)
            .then_some(now)
    })
    .expect("old rules still evaluated");
    assert_eq!(
        rule_names(&advanced),
        ["job:demo_value:sum", "DemoHigh", "job:demo_value:max"]
    );

    // `pharos check config` names the broken rule file; so does a refused start.
    let out = run_pharos(&["check", "config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rule_files: "), "{err}");
    assert!(err.contains("broken.yml"), "{err}");
    let err = refused_start(&config, &dir.path().join("data2"));
    assert!(err.contains("cannot load rule files"), "{err}");
    assert!(err.contains("broken.yml"), "{err}");

    // Fixed again, SIGHUP reloads successfully.
    std::fs::remove_file(dir.path().join("rules/broken.yml")).unwrap();
    send_signal(server.pid(), libc::SIGHUP);
    let ok = poll_fast(DEADLINE, || {
        metric_value(&c, &server, "pharos_config_last_reload_successful").filter(|v| *v == 1.0)
    });
    assert_eq!(ok, Some(1.0), "log:\n{}", server.logs());
    server.stop();
}

/// The activeAt text in whole seconds, through the server's own time parser.
fn active_at_secs(c: &reqwest::blocking::Client, s: &Server, rfc3339: &str) -> i64 {
    let body = c
        .get(s.url("/api/v1/query"))
        .query(&[("query", "time()"), ("time", rfc3339)])
        .send()
        .expect("query")
        .text()
        .expect("body");
    let v: Value = serde_json::from_str(&body).expect("json");
    v["data"]["result"][1]
        .as_str()
        .and_then(|t| t.parse::<f64>().ok())
        .map(|t| t.floor() as i64)
        .unwrap_or_else(|| panic!("time() at {rfc3339}: {body}"))
}

/// Runs `pharos serve` expecting it to refuse to start; returns its stderr.
fn refused_start(config: &Path, data: &Path) -> String {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--otlp-grpc-listen", ""])
        .args(["--otlp-http-listen", ""])
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pharos serve");
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(!status.success(), "serve started with a broken rule file");
            let mut err = String::new();
            use std::io::Read;
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve did not refuse a broken rule file");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
