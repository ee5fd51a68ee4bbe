//! Configuration reload with the real binary: a job added by rewriting the file and
//! `POST /-/reload` is scraped and listed; a bad file answers 500 and changes nothing;
//! SIGHUP applies a change that removes a job (its series go stale at once) and turns on
//! the self-scrape job; the target present throughout is never marked stale. Also the
//! scrape metadata APIs, which only have something to say once targets are scraped.

mod common;

use common::{client, dump, get_json, poll, query_value, send_signal, targets, Server};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

/// Serves `body` as a text exposition on every request, from a background thread.
fn serve_metrics(body: String) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { continue };
            let body = body.clone();
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

fn exposition(name: &str, help: &str) -> String {
    format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} 1\n")
}

fn job(name: &str, port: u16) -> String {
    format!(
        "  - job_name: {name}\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
}

fn write_config(path: &Path, head: &str, jobs: &[String]) {
    std::fs::write(path, format!("{head}scrape_configs:\n{}", jobs.concat())).unwrap();
}

fn jobs_listed(c: &reqwest::blocking::Client, server: &Server) -> BTreeSet<String> {
    targets(c, server)["data"]["activeTargets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["scrapePool"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn result_count(c: &reqwest::blocking::Client, server: &Server, expr: &str) -> Option<usize> {
    let body = c
        .get(server.url("/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .ok()?
        .text()
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"].as_array().map(Vec::len)
}

fn reload(c: &reqwest::blocking::Client, server: &Server) -> (u16, String) {
    let r = c
        .post(server.url("/-/reload"))
        .send()
        .expect("POST /-/reload");
    let status = r.status().as_u16();
    (status, r.text().unwrap_or_default())
}

#[test]
fn reload_adds_refuses_and_removes_without_losing_data() {
    let a_port = serve_metrics(exposition("reload_test_a", "Things of A."));
    let b_port = serve_metrics(exposition("reload_test_b", "Things of B."));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pharos.yml");
    let data = dir.path().join("data");
    write_config(&config, "self_scrape: false\n", &[job("a", a_port)]);
    let server = Server::start(&data, Some(&config));
    let c = client();

    let up = poll(DEADLINE, || {
        query_value(&c, &server, r#"up{job="a"}"#).filter(|v| *v == 1.0)
    });
    assert_eq!(up, Some(1.0), "server log:\n{}", server.logs());

    // The metadata APIs report what the target exposed, and nothing for `up`.
    let md = get_json(
        &c,
        &server.url("/api/v1/targets/metadata?match_target=%7Bjob%3D%22a%22%7D"),
    );
    assert_eq!(md["status"], "success", "{md}");
    let entries = md["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{md}");
    assert_eq!(entries[0]["metric"], "reload_test_a");
    assert_eq!(entries[0]["type"], "gauge");
    assert_eq!(entries[0]["help"], "Things of A.");
    assert_eq!(entries[0]["unit"], "");
    assert_eq!(entries[0]["target"]["job"], "a");
    assert_eq!(
        entries[0]["target"]["instance"],
        format!("127.0.0.1:{a_port}")
    );
    let md = get_json(
        &c,
        &server.url("/api/v1/targets/metadata?metric=reload_test_a"),
    );
    assert!(md["data"][0].get("metric").is_none(), "{md}");
    assert_eq!(md["data"][0]["help"], "Things of A.");
    let md = get_json(&c, &server.url("/api/v1/metadata"));
    assert_eq!(
        md["data"],
        serde_json::json!({"reload_test_a": [{"type": "gauge", "help": "Things of A.", "unit": ""}]})
    );
    let md = get_json(&c, &server.url("/api/v1/metadata?metric=up"));
    assert_eq!(md["data"], serde_json::json!({}));

    // Add a job: listed, scraped and stored after a reload over HTTP.
    write_config(
        &config,
        "self_scrape: false\n",
        &[job("a", a_port), job("b", b_port)],
    );
    assert_eq!(reload(&c, &server), (200, String::new()));
    assert_eq!(
        jobs_listed(&c, &server),
        BTreeSet::from(["a".to_owned(), "b".to_owned()])
    );
    let b = poll(DEADLINE, || query_value(&c, &server, "reload_test_b"));
    assert_eq!(b, Some(1.0), "server log:\n{}", server.logs());
    assert_eq!(
        common::metric_value(&c, &server, "pharos_config_last_reload_successful"),
        Some(1.0)
    );

    // A bad file is refused whole; the old configuration keeps scraping.
    std::fs::write(
        &config,
        "self_scrape: false\nscrape_configs:\n  - job_name: a\n    scrape_interval: often\n",
    )
    .unwrap();
    let (status, body) = reload(&c, &server);
    assert_eq!(status, 500, "{body}");
    assert!(
        body.starts_with("failed to reload config: couldn't load configuration"),
        "{body}"
    );
    assert!(body.contains("scrape_interval"), "{body}");
    assert_eq!(
        common::metric_value(&c, &server, "pharos_config_last_reload_successful"),
        Some(0.0)
    );
    let info = get_json(&c, &server.url("/api/v1/status/runtimeinfo"));
    assert_eq!(info["data"]["reloadConfigSuccess"], false, "{info}");
    assert_eq!(
        jobs_listed(&c, &server),
        BTreeSet::from(["a".to_owned(), "b".to_owned()])
    );
    // So is one that parses but names a CA file that cannot be read.
    write_config(
        &config,
        "self_scrape: false\n",
        &[
            job("a", a_port),
            format!(
                "{}    tls_config:\n      ca_file: /nonexistent/ca.pem\n",
                job("c", b_port)
            ),
        ],
    );
    let (status, body) = reload(&c, &server);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("/nonexistent/ca.pem"), "{body}");
    assert_eq!(
        jobs_listed(&c, &server),
        BTreeSet::from(["a".to_owned(), "b".to_owned()])
    );
    let ts = |c: &reqwest::blocking::Client| query_value(c, &server, r#"timestamp(up{job="b"})"#);
    let before = ts(&c).expect("b scraped");
    let later = poll(DEADLINE, || ts(&c).filter(|t| *t > before));
    assert!(later.is_some(), "b keeps being scraped after the refusal");

    // SIGHUP: b removed (its series go stale at once, well inside the 5m lookback),
    // self-scrape on, and a storage change that waits for a restart.
    write_config(
        &config,
        "self_scrape: true\nstorage:\n  tsdb:\n    retention: 20d\n",
        &[job("a", a_port)],
    );
    send_signal(server.pid(), libc::SIGHUP);
    let listed = poll(DEADLINE, || {
        let j = jobs_listed(&c, &server);
        (j == BTreeSet::from(["a".to_owned(), "pharos".to_owned()])).then_some(j)
    });
    assert!(listed.is_some(), "server log:\n{}", server.logs());
    let gone = poll(DEADLINE, || {
        result_count(&c, &server, "reload_test_b").filter(|n| *n == 0)
    });
    assert_eq!(gone, Some(0), "reload_test_b should be stale");
    assert_eq!(result_count(&c, &server, r#"up{job="b"}"#), Some(0));
    let info = get_json(&c, &server.url("/api/v1/status/runtimeinfo"));
    assert_eq!(info["data"]["reloadConfigSuccess"], true, "{info}");
    assert!(
        server.logs().contains("storage.tsdb.retention"),
        "the restart-only change is named in the log"
    );
    assert_eq!(
        query_value(&c, &server, r#"up{job="a"}"#),
        Some(1.0),
        "a still up"
    );

    // A file_sd job added by a reload is refreshed on its own interval, although no
    // job read files before: the file's later targets are picked up.
    let c_port = serve_metrics(exposition("reload_test_c", "Things of C."));
    let sd = dir.path().join("targets.json");
    std::fs::write(&sd, "[]").unwrap();
    write_config(
        &config,
        "self_scrape: true\nstorage:\n  tsdb:\n    retention: 20d\n",
        &[
            job("a", a_port),
            format!(
                "  - job_name: files\n    scrape_interval: 1s\n    file_sd_configs:\n      - files: ['{}']\n        refresh_interval: 1s\n",
                sd.display()
            ),
        ],
    );
    assert_eq!(reload(&c, &server), (200, String::new()));
    std::fs::write(&sd, format!(r#"[{{"targets": ["127.0.0.1:{c_port}"]}}]"#)).unwrap();
    let from_file = poll(DEADLINE, || {
        query_value(&c, &server, r#"reload_test_c{job="files"}"#)
    });
    assert_eq!(from_file, Some(1.0), "server log:\n{}", server.logs());
    server.stop();

    // Job a ran through every reload: its only staleness marker is the one shutdown
    // wrote, after its last sample.
    let a_up: Vec<_> = dump(&data, &[])
        .into_iter()
        .filter(|s| s.series.starts_with("up{") && s.series.contains(r#"job="a""#))
        .collect();
    let markers: Vec<usize> = a_up
        .iter()
        .enumerate()
        .filter(|(_, s)| s.value == "NaN")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        markers,
        vec![a_up.len() - 1],
        "staleness markers of up{{job=\"a\"}}: {a_up:?}"
    );
}
