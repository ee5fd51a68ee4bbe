//! SLOs in the configuration with the real binary: `pharos check config` reports a bad
//! spec with its file and field and exits 1, `pharos serve` refuses to start with one,
//! and `/-/reload` adds, changes and removes configured SLOs together with their
//! generated rule groups, while a bad spec refuses the reload and the running SLOs
//! carry on.

mod common;

use common::{client, get_json, poll, run_pharos, Server};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

fn slo(service: &str, name: &str, objective: &str) -> String {
    format!(
        "  - service: {service}\n    name: {name}\n    objective: {objective}\n    sli:\n      bad_events: sum(rate(req{{code=~\"5..\"}}[{{{{.window}}}}]))\n      total_events: sum(rate(req[{{{{.window}}}}]))\n"
    )
}

fn write_config(path: &Path, slos: &[String], files: &[&str]) {
    let mut text = "self_scrape: false\nglobal:\n  evaluation_interval: 1s\n".to_string();
    if !files.is_empty() {
        text.push_str(&format!("slo_files: {files:?}\n"));
    }
    if !slos.is_empty() {
        text.push_str("slos:\n");
        text.push_str(&slos.concat());
    }
    std::fs::write(path, text).unwrap();
}

fn slo_ids(c: &reqwest::blocking::Client, server: &Server) -> BTreeSet<String> {
    get_json(c, &server.url("/api/v1/slos"))["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn slo_groups(c: &reqwest::blocking::Client, server: &Server) -> BTreeSet<String> {
    get_json(c, &server.url("/api/v1/rules"))["data"]["groups"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|g| g["name"].as_str().map(str::to_owned))
                .filter(|n| n.starts_with("slo-"))
                .collect()
        })
        .unwrap_or_default()
}

fn groups_of(ids: &[&str]) -> BTreeSet<String> {
    ids.iter()
        .flat_map(|id| {
            [
                format!("slo-sli-recordings-{id}"),
                format!("slo-meta-recordings-{id}"),
                format!("slo-alerts-{id}"),
            ]
        })
        .collect()
}

fn reload(c: &reqwest::blocking::Client, server: &Server) -> (u16, String) {
    let r = c.post(server.url("/-/reload")).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn check_config_and_startup_refuse_bad_slos() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pharos.yml");
    write_config(&config, &[slo("api", "availability", "100.5")], &[]);
    let out = run_pharos(&["check", "config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("slos: ") && stderr.contains("objective: must be above 0 and below 100"),
        "{stderr}"
    );

    // A spec file with an unknown field, next to a good inline SLO.
    std::fs::write(
        dir.path().join("bad.yml"),
        format!("slos:\n{}", slo("web", "latency", "99"))
            .replace("    sli:", "    sly: 1\n    sli:"),
    )
    .unwrap();
    write_config(&config, &[slo("api", "availability", "99.9")], &["bad.yml"]);
    let out = run_pharos(&["check", "config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("slo_files: ") && stderr.contains("bad.yml"),
        "{stderr}"
    );
    assert!(stderr.contains("sly"), "{stderr}");

    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(["serve", "--config", config.to_str().unwrap(), "--data-dir"])
        .arg(&data)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--otlp-grpc-listen=",
            "--otlp-http-listen=",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("invalid SLO specs"), "{stderr}");

    std::fs::remove_file(dir.path().join("bad.yml")).unwrap();
    let out = run_pharos(&["check", "config", config.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn reload_follows_configured_slos() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pharos.yml");
    write_config(&config, &[slo("api", "availability", "99.9")], &[]);
    let server = Server::start(&dir.path().join("data"), Some(&config));
    let c = client();
    let want = groups_of(&["api-availability"]);
    poll(DEADLINE, || (slo_groups(&c, &server) == want).then_some(()))
        .unwrap_or_else(|| panic!("groups: {:?}\n{}", slo_groups(&c, &server), server.logs()));
    assert_eq!(
        slo_ids(&c, &server),
        BTreeSet::from(["api-availability".to_string()])
    );

    // A second SLO from a spec file, the first one's objective changed.
    std::fs::write(
        dir.path().join("web.yml"),
        format!("slos:\n{}", slo("web", "latency", "99")),
    )
    .unwrap();
    write_config(&config, &[slo("api", "availability", "99.5")], &["web.yml"]);
    let (status, body) = reload(&c, &server);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        slo_ids(&c, &server),
        BTreeSet::from(["api-availability".to_string(), "web-latency".to_string()])
    );
    assert_eq!(
        slo_groups(&c, &server),
        groups_of(&["api-availability", "web-latency"])
    );
    let one = get_json(&c, &server.url("/api/v1/slos/api-availability"));
    assert_eq!(one["data"]["objective"], 99.5);
    assert_eq!(one["data"]["source"], "config");
    // The generated alert's threshold follows the new budget (0.5%).
    let rules = get_json(&c, &server.url("/api/v1/rules?type=alert"));
    let exprs: Vec<String> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .filter(|r| {
            r["labels"]["slo_id"] == "api-availability"
                || r["query"]
                    .as_str()
                    .unwrap_or("")
                    .contains("api-availability")
        })
        .filter_map(|r| r["query"].as_str().map(str::to_owned))
        .collect();
    assert!(!exprs.is_empty());
    assert!(exprs.iter().all(|e| e.contains("/ 0.005 >=")), "{exprs:?}");

    // A bad spec refuses the reload; the running SLOs stay.
    write_config(&config, &[slo("api", "availability", "abc")], &["web.yml"]);
    let (status, body) = reload(&c, &server);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("objective"), "{body}");
    assert_eq!(slo_ids(&c, &server).len(), 2);

    // Removing them removes their groups.
    write_config(&config, &[], &[]);
    let (status, body) = reload(&c, &server);
    assert_eq!(status, 200, "{body}");
    assert!(slo_ids(&c, &server).is_empty());
    assert!(slo_groups(&c, &server).is_empty());
    server.stop();
}
