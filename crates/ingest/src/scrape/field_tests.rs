//! Tests of the scrape config fields beyond the basics (proxies, redirects, protocols,
//! label and target limits), of metadata tracking, and of reconfiguring running targets.

use super::config::{accept_header, ScrapeConfig, ScrapeProtocol, TlsVersion};
use super::scrape::{build_client, TargetScraper};
use super::targets::{build_targets, static_groups, Target, TargetGroup};
use super::*;
use crate::exposition::Format;
use pharos_model::{is_stale_nan, Labels};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn cfg(yaml: &str) -> ScrapeConfig {
    serde_yaml::from_str(yaml).unwrap()
}

fn cfg_err(yaml: &str) -> String {
    serde_yaml::from_str::<ScrapeConfig>(yaml)
        .unwrap_err()
        .to_string()
}

fn target(c: &ScrapeConfig, url: &str) -> Target {
    Target {
        discovered: Labels::empty(),
        labels: Labels::from_pairs([("job", c.job_name.as_str()), ("instance", "t:1")]),
        url: url.to_string(),
        interval: c.scrape_interval.0,
        timeout: c.scrape_timeout.0,
    }
}

fn scraper(extra: &str, url: &str) -> TargetScraper {
    let c = Arc::new(cfg(&format!("job_name: j\nscrape_interval: 10s\n{extra}")));
    let t = target(&c, url);
    TargetScraper::new(build_client(&c).unwrap(), c, t)
}

fn body(s: &str) -> Result<(Vec<u8>, Format), String> {
    Ok((s.as_bytes().to_vec(), Format::PrometheusText))
}

/// Request heads the test server saw, newest last.
type Seen = Arc<Mutex<Vec<String>>>;

/// A server that records each request head and answers by path: `/redirect` sends a
/// 302 to `/metrics`, everything else a one-line exposition naming the server.
async fn recording_server(name: &'static str) -> (String, Seen) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&req).to_string();
                let redirect = head
                    .split(' ')
                    .nth(1)
                    .is_some_and(|p| p.ends_with("/redirect"));
                log.lock().unwrap().push(head);
                let answer = if redirect {
                    "HTTP/1.1 302 Found\r\nLocation: /metrics\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_string()
                } else {
                    let body =
                        format!("# TYPE served_by gauge\nserved_by{{server=\"{name}\"}} 1\n");
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

fn served_by(o: &ScrapeOutcome) -> Option<String> {
    o.batch
        .samples
        .iter()
        .find(|(l, _)| l.metric_name() == Some("served_by"))
        .and_then(|(l, _)| l.get("server").map(str::to_owned))
}

#[test]
fn new_fields_default_as_in_prometheus() {
    let c = cfg("job_name: j\n");
    assert!(c.follow_redirects && c.enable_http2);
    assert!(!c.proxy_from_environment && !c.track_timestamps_staleness);
    assert_eq!(
        (c.proxy_url.as_deref(), c.no_proxy.as_deref()),
        (None, None)
    );
    assert_eq!(
        (
            c.target_limit,
            c.label_name_length_limit,
            c.label_value_length_limit,
            c.keep_dropped_targets
        ),
        (0, 0, 0, 0)
    );
    assert!(c.scrape_protocols.is_empty());
    assert_eq!(c.tls_config.min_version, None);
    let c = cfg("job_name: j\nenable_http2: false\nfollow_redirects: false\ntls_config: {min_version: TLS13}\n");
    assert!(!c.enable_http2 && !c.follow_redirects);
    assert_eq!(c.tls_config.min_version, Some(TlsVersion::TLS13));
    build_client(&c).unwrap();
    for v in ["TLS10", "TLS11", "TLS12"] {
        build_client(&cfg(&format!(
            "job_name: j\ntls_config: {{min_version: {v}}}\n"
        )))
        .unwrap();
    }
    assert!(cfg_err("job_name: j\ntls_config: {min_version: TLS14}\n").contains("TLS14"));
}

#[test]
fn unknown_and_unsupported_fields_are_rejected() {
    assert!(cfg_err("job_name: j\nproxy_connect_headers: {}\n").contains("unknown field"));
    assert!(cfg_err("job_name: j\ntls_config: {max_versions: TLS13}\n").contains("unknown field"));
    let e = cfg_err("job_name: j\ntls_config: {server_name: example.com}\n");
    assert!(e.contains("server_name is not supported"), "{e}");
}

#[test]
fn proxy_settings_are_checked_as_prometheus_checks_them() {
    let e = cfg_err("job_name: j\nproxy_url: http://p:3128\nproxy_from_environment: true\n");
    assert!(
        e.contains("if proxy_from_environment is configured, proxy_url must not be configured"),
        "{e}"
    );
    let e = cfg_err("job_name: j\nno_proxy: example.com\n");
    assert!(
        e.contains("if no_proxy is configured, proxy_url must also be configured"),
        "{e}"
    );
    let e = cfg_err("job_name: j\nno_proxy: a\nproxy_from_environment: true\n");
    assert!(e.contains("no_proxy must not be configured"), "{e}");
    assert!(cfg_err("job_name: j\nproxy_url: 'not a url'\n").contains("proxy_url"));
    let c = cfg("job_name: j\nproxy_url: http://p:3128\nno_proxy: localhost,10.0.0.0/8\n");
    assert_eq!(c.proxy_url.as_deref(), Some("http://p:3128"));
    build_client(&c).unwrap();
}

#[test]
fn scrape_protocols_make_the_accept_header() {
    let c = cfg("job_name: j\nscrape_protocols: [PrometheusText0.0.4, OpenMetricsText1.0.0]\n");
    assert_eq!(
        c.scrape_protocols,
        vec![
            ScrapeProtocol::PrometheusText0_0_4,
            ScrapeProtocol::OpenMetricsText1_0_0
        ]
    );
    assert_eq!(
        accept_header(&c.scrape_protocols),
        "text/plain;version=0.0.4;q=0.6,application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,*/*;q=0.4"
    );
    assert!(cfg_err("job_name: j\nscrape_protocols: []\n").contains("cannot be empty"));
    let e = cfg_err("job_name: j\nscrape_protocols: [PrometheusText0.0.4, PrometheusText0.0.4]\n");
    assert!(e.contains("duplicated protocol"), "{e}");
    let e = cfg_err("job_name: j\nscrape_protocols: [PrometheusProto]\n");
    assert!(e.contains("PrometheusProto is not supported"), "{e}");
    assert!(cfg_err("job_name: j\nscrape_protocols: [Text]\n").contains("unknown scrape protocol"));
}

#[tokio::test]
async fn accept_header_is_sent() {
    let (base, seen) = recording_server("a").await;
    let o = scraper(
        "scrape_protocols: [PrometheusText0.0.4]\n",
        &format!("{base}/metrics"),
    )
    .scrape()
    .await;
    assert_eq!(o.error, None);
    let head = seen.lock().unwrap().last().unwrap().to_ascii_lowercase();
    assert!(
        head.contains("accept: text/plain;version=0.0.4;q=0.6,*/*;q=0.5\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn redirects_are_followed_unless_disabled() {
    let (base, _) = recording_server("a").await;
    let url = format!("{base}/redirect");
    let o = scraper("", &url).scrape().await;
    assert_eq!(o.error, None);
    assert_eq!(served_by(&o).as_deref(), Some("a"));
    let o = scraper("follow_redirects: false\n", &url).scrape().await;
    let e = o.error.unwrap();
    assert!(e.ends_with("server returned HTTP status 302 Found"), "{e}");
}

#[tokio::test]
async fn proxy_url_and_no_proxy() {
    let (proxy, proxy_seen) = recording_server("proxy").await;
    let (direct, _) = recording_server("direct").await;
    // The proxy gets the request in absolute form, for a host that need not resolve.
    let o = scraper(
        &format!("proxy_url: {proxy}\n"),
        "http://target.invalid:9100/metrics",
    )
    .scrape()
    .await;
    assert_eq!(o.error, None);
    assert_eq!(served_by(&o).as_deref(), Some("proxy"));
    assert!(proxy_seen
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .starts_with("GET http://target.invalid:9100/metrics HTTP/1.1"));
    // Hosts in no_proxy are reached directly.
    let o = scraper(
        &format!("proxy_url: {proxy}\nno_proxy: 127.0.0.1\n"),
        &format!("{direct}/metrics"),
    )
    .scrape()
    .await;
    assert_eq!(served_by(&o).as_deref(), Some("direct"));
}

#[tokio::test]
async fn proxy_from_environment_is_opt_in() {
    let (proxy, _) = recording_server("env-proxy").await;
    // Only this test reads the variables: every other client is built with
    // proxy_from_environment off, which ignores them.
    std::env::set_var("http_proxy", &proxy);
    std::env::set_var("HTTP_PROXY", &proxy);
    let url = "http://env-target.invalid:9100/metrics";
    let via_env = scraper("proxy_from_environment: true\n", url)
        .scrape()
        .await;
    let ignored = scraper("", url).scrape().await;
    std::env::remove_var("http_proxy");
    std::env::remove_var("HTTP_PROXY");
    assert_eq!(served_by(&via_env).as_deref(), Some("env-proxy"));
    assert!(ignored.error.is_some());
}

#[tokio::test]
async fn label_length_limits() {
    // `__name__` is a label name too, so the limit cannot be below its eight bytes.
    let mut s = scraper("label_name_length_limit: 8\n", "http://x/");
    let o = s.process(body("m{abcdefgh=\"1\"} 1\n"), 1, Duration::ZERO);
    assert_eq!(o.error, None);
    let o = s.process(body("m{abcdefghi=\"1\"} 1\n"), 2, Duration::ZERO);
    assert_eq!(
        o.error.as_deref(),
        Some(
            "label_name_length_limit exceeded (metric: m, label name: abcdefghi, length: 9, limit: 8)"
        )
    );
    assert_eq!(o.batch.value_of("up"), Some(0.0));
    let mut s = scraper("label_value_length_limit: 3\n", "http://x/");
    let o = s.process(body("m{a=\"abcd\"} 1\n"), 1, Duration::ZERO);
    assert_eq!(
        o.error.as_deref(),
        Some("label_value_length_limit exceeded (metric: m, label name: a, value: \"abcd\", length: 4, limit: 3)")
    );
    // Target labels count too: `instance` is "t:1", three bytes.
    let o = s.process(body("m 1\n"), 2, Duration::ZERO);
    assert_eq!(o.error, None);
}

#[tokio::test]
async fn timestamped_series_go_stale_only_when_tracked() {
    for (extra, markers) in [("", 0), ("track_timestamps_staleness: true\n", 1)] {
        let mut s = scraper(extra, "http://x/");
        s.process(body("c 3 123\n"), 1000, Duration::ZERO);
        let o = s.process(body(""), 2000, Duration::ZERO);
        let stale = o
            .batch
            .samples
            .iter()
            .filter(|(l, s)| l.metric_name() == Some("c") && is_stale_nan(s.v))
            .count();
        assert_eq!(stale, markers, "{extra}");
    }
}

#[test]
fn keep_dropped_targets_bounds_the_dropped_list() {
    let yaml = "job_name: j\nrelabel_configs: [{source_labels: [__address__], regex: 'd.*', action: drop}]\n";
    let groups = [TargetGroup {
        targets: vec!["d1:1".into(), "d2:1".into(), "d3:1".into(), "k:1".into()],
        labels: Default::default(),
    }];
    let all = build_targets(&cfg(yaml), &groups);
    assert_eq!(
        (all.active.len(), all.dropped.len(), all.dropped_count),
        (1, 3, 3)
    );
    let some = build_targets(&cfg(&format!("{yaml}keep_dropped_targets: 2\n")), &groups);
    assert_eq!(
        (some.active.len(), some.dropped.len(), some.dropped_count),
        (1, 2, 3)
    );
}

#[tokio::test]
async fn metadata_of_the_last_scrapes_is_kept() {
    let mut s = scraper("", "http://x/");
    s.process(
        body("# HELP a_total A \\\\ things.\n# TYPE a_total counter\na_total 1\n# TYPE g gauge\ng 2\nplain 3\n"),
        1,
        Duration::ZERO,
    );
    let md = s.metadata();
    let list = md.lock().unwrap().list();
    let names: Vec<(&str, &str, &str)> = list
        .iter()
        .map(|m| (m.family.as_str(), m.kind, m.help.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![("a_total", "counter", "A \\ things."), ("g", "gauge", "")]
    );
    // A failed scrape keeps what is known.
    s.process(body("broken{\n"), 2, Duration::ZERO);
    assert_eq!(md.lock().unwrap().len(), 2);
}

fn channel_sink() -> (Sink, tokio::sync::mpsc::UnboundedReceiver<ScrapeBatch>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (
        Arc::new(move |b| {
            let _ = tx.send(b);
        }),
        rx,
    )
}

async fn next_batch(rx: &mut tokio::sync::mpsc::UnboundedReceiver<ScrapeBatch>) -> ScrapeBatch {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a batch in time")
        .expect("sink open")
}

#[tokio::test]
async fn target_limit_fails_every_target_of_the_job() {
    let (a, _) = recording_server("a").await;
    let (b, _) = recording_server("b").await;
    let addrs = [
        a.trim_start_matches("http://"),
        b.trim_start_matches("http://"),
    ];
    let c = Arc::new(cfg(&format!(
        "job_name: j\nscrape_interval: 1s\ntarget_limit: 1\nstatic_configs: [{{targets: ['{}', '{}']}}]\n",
        addrs[0], addrs[1]
    )));
    let targets = build_targets(&c, &static_groups(&c)).active;
    let (sink, mut rx) = channel_sink();
    let mut m = ScrapeManager::new(sink);
    assert!(m.apply(vec![(c.clone(), targets.clone())]).await.is_empty());
    for _ in 0..2 {
        assert_eq!(next_batch(&mut rx).await.value_of("up"), Some(0.0));
    }
    let health = m.health();
    assert_eq!(health.len(), 2);
    for (_, h) in &health {
        assert_eq!(
            h.last_error,
            "target_limit exceeded (number of targets: 2, limit: 1)"
        );
    }
    // Back under the limit, the remaining target scrapes normally.
    m.apply(vec![(c.clone(), targets[..1].to_vec())]).await;
    let up = loop {
        let b = next_batch(&mut rx).await;
        if b.value_of("served_by").is_some() {
            break b.value_of("up");
        }
    };
    assert_eq!(up, Some(1.0));
    m.shutdown().await;
}

#[tokio::test]
async fn changed_job_config_hands_targets_over_without_staleness() {
    let (a, _) = recording_server("a").await;
    let addr = a.trim_start_matches("http://");
    let yaml =
        format!("job_name: j\nscrape_interval: 1s\nstatic_configs: [{{targets: ['{addr}']}}]\n");
    let c1 = Arc::new(cfg(&yaml));
    let c2 = Arc::new(cfg(&format!("{yaml}sample_limit: 100\n")));
    let targets = build_targets(&c1, &static_groups(&c1)).active;
    let (sink, mut rx) = channel_sink();
    let mut m = ScrapeManager::new(sink);
    m.apply(vec![(c1.clone(), targets.clone())]).await;
    assert_eq!(next_batch(&mut rx).await.value_of("up"), Some(1.0));
    let status = m.status();
    let key = m.health()[0].0.clone();
    m.apply(vec![(c2.clone(), targets.clone())]).await;
    // Nothing went stale: the next batch is an ordinary scrape by the new task.
    let b = next_batch(&mut rx).await;
    assert!(b.samples.iter().all(|(_, s)| !is_stale_nan(s.v)), "{b:?}");
    assert_eq!(b.value_of("up"), Some(1.0));
    // The series were already known, so none counts as added.
    assert_eq!(b.value_of("scrape_series_added"), Some(0.0));
    let shared = status.get(&key).expect("still registered");
    assert_eq!(shared.with_metadata(|m| m.len()), 1);
    // Removing the job leaves staleness markers and unregisters the target.
    m.apply(vec![]).await;
    let mut last = None;
    while let Ok(b) = rx.try_recv() {
        last = Some(b);
    }
    assert!(last.unwrap().samples.iter().all(|(_, s)| is_stale_nan(s.v)));
    assert!(status.get(&key).is_none());
}

#[test]
fn first_scrape_keeps_the_targets_phase() {
    let key = TargetKey {
        job: "j".into(),
        url: "http://a/".into(),
        labels: Labels::empty(),
    };
    let interval = Duration::from_secs(15);
    let t0 = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let w0 = manager::first_scrape_wait(&key, interval, t0);
    assert!(w0 < interval);
    // Asked again a moment later, the wait shrinks by that moment: same wall-clock phase.
    let w1 = manager::first_scrape_wait(&key, interval, t0 + Duration::from_millis(100));
    let expected = if w0 >= Duration::from_millis(100) {
        w0 - Duration::from_millis(100)
    } else {
        w0 + interval - Duration::from_millis(100)
    };
    assert_eq!(w1, expected);
}
