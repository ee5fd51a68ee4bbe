use super::config::ScrapeConfig;
use super::scrape::{merge_target_labels, TargetScraper};
use super::targets::{build_targets, read_group_file, static_groups};
use super::*;
use crate::exposition::Format;
use pharos_model::{is_stale_nan, Labels};
use std::io::Write;
use std::sync::Arc;
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

#[test]
fn config_defaults() {
    let c = cfg("job_name: node\n");
    assert_eq!(c.scrape_interval.0, Duration::from_secs(60));
    assert_eq!(c.scrape_timeout.0, Duration::from_secs(10));
    assert_eq!(c.metrics_path, "/metrics");
    assert_eq!(c.scheme, "http");
    assert!(c.honor_timestamps && !c.honor_labels && c.enable_compression);
    assert_eq!(
        (c.sample_limit, c.label_limit, c.body_size_limit),
        (0, 0, 0)
    );
    // An unset timeout never exceeds the job's interval.
    let c = cfg("job_name: a\nscrape_interval: 5s\n");
    assert_eq!(c.scrape_timeout.0, Duration::from_secs(5));
    let c = cfg("job_name: a\nbody_size_limit: 10MB\nbearer_token: abc\n");
    assert_eq!(c.body_size_limit, 10 << 20);
    assert_eq!(c.authorization.unwrap().credentials.as_deref(), Some("abc"));
}

#[test]
fn config_validation() {
    let e = cfg_err("job_name: j\nscrape_interval: 10s\nscrape_timeout: 20s\n");
    assert!(
        e.contains("\"j\"") && e.contains("scrape_timeout (20s)"),
        "{e}"
    );
    assert!(cfg_err("job_name: j\nbogus: 1\n").contains("bogus"));
    assert!(cfg_err("job_name: j\nscrape_interval: 10\n").contains("not a valid duration"));
    assert!(cfg_err("job_name: j\nscheme: ftp\n").contains("scheme"));
    let e = cfg_err("job_name: j\nbearer_token: a\nbasic_auth: {username: u}\n");
    assert!(e.contains("at most one"), "{e}");
    let e = cfg_err("job_name: j\nstatic_configs: [{targets: ['a:1'], labels: {'1x': v}}]\n");
    assert!(e.contains("static_configs[0].labels"), "{e}");
    assert!(cfg_err("job_name: j\nbody_size_limit: 3XB\n").contains("byte size"));
    assert_eq!(PromDuration::parse("1h30m").unwrap().to_string(), "1h30m");
    assert!(PromDuration::parse("30m1h").is_err());
    assert!(PromDuration::parse("99999999999999999999y").is_err());
}

#[test]
fn target_labels() {
    let c = cfg(r#"
job_name: node
scrape_interval: 15s
params: {module: [a, b]}
static_configs:
  - targets: ['h1:9100', 'h2:9100', 'drop:1']
    labels: {env: prod, __meta_x: m}
relabel_configs:
  - source_labels: [__address__]
    regex: drop:.*
    action: drop
  - source_labels: [__meta_x]
    target_label: from_meta
  - source_labels: [__address__]
    regex: h2:.*
    target_label: __param_module
    replacement: z
"#);
    let set = build_targets(&c, &static_groups(&c));
    assert_eq!(set.active.len(), 2);
    assert_eq!(set.dropped.len(), 1);
    assert_eq!(set.dropped[0].discovered.get("__address__"), Some("drop:1"));
    let t1 = &set.active[0];
    assert_eq!(
        t1.labels,
        Labels::from_pairs([
            ("env", "prod"),
            ("from_meta", "m"),
            ("instance", "h1:9100"),
            ("job", "node"),
        ])
    );
    assert_eq!(t1.url, "http://h1:9100/metrics?module=a&module=b");
    assert_eq!(t1.discovered.get("__scrape_interval__"), Some("15s"));
    assert_eq!(
        set.active[1].url,
        "http://h2:9100/metrics?module=z&module=b"
    );

    let bad = cfg("job_name: j\nstatic_configs: [{targets: ['a:1']}]\nrelabel_configs: [{target_label: __address__, replacement: ''}]\n");
    let set = build_targets(&bad, &static_groups(&bad));
    assert_eq!(set.dropped[0].reason.as_deref(), Some("no address"));
}

#[test]
fn file_sd_reads_json_and_yaml() {
    let dir = std::env::temp_dir().join(format!("pharos-filesd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let j = dir.join("a.json");
    std::fs::File::create(&j)
        .unwrap()
        .write_all(br#"[{"targets":["x:1"],"labels":{"team":"a"}}]"#)
        .unwrap();
    let y = dir.join("b.yml");
    std::fs::write(&y, "- targets: ['y:2']\n").unwrap();
    std::fs::write(dir.join("c.json"), "{not json").unwrap();
    let g = read_group_file(&j).unwrap();
    assert_eq!(g[0].labels["__meta_filepath"], j.to_string_lossy());
    let fc = config::FileSdConfig {
        files: vec![
            format!("{}/*.json", dir.display()),
            format!("{}/*.yml", dir.display()),
        ],
        refresh_interval: PromDuration(Duration::from_secs(60)),
    };
    let (groups, errors) = read_file_sd(&fc);
    assert_eq!(groups.len(), 2);
    assert_eq!(errors.len(), 1, "{errors:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn honor_labels_and_exported() {
    let target = Labels::from_pairs([("job", "j"), ("instance", "i")]);
    let scraped = Labels::from_pairs([("__name__", "m"), ("job", "other"), ("exported_job", "x")]);
    let out = merge_target_labels(&scraped, &target, false);
    assert_eq!(out.get("job"), Some("j"));
    assert_eq!(out.get("exported_exported_job"), Some("other"));
    assert_eq!(out.get("exported_job"), Some("x"));
    let out = merge_target_labels(&scraped, &target, true);
    assert_eq!(out.get("job"), Some("other"));
    assert_eq!(out.get("instance"), Some("i"));

    // A target label named exported_job: shortest clashing names are renamed first,
    // each to the first exported_* name nothing else (nor an earlier rename) uses.
    let target = Labels::from_pairs([("job", "j"), ("instance", "i"), ("exported_job", "t")]);
    let scraped = Labels::from_pairs([
        ("__name__", "m"),
        ("job", "body_job"),
        ("instance", "body_instance"),
        ("exported_job", "body_exported"),
    ]);
    let out = merge_target_labels(&scraped, &target, false);
    assert_eq!(
        out,
        Labels::from_pairs([
            ("__name__", "m"),
            ("exported_exported_exported_job", "body_exported"),
            ("exported_exported_job", "body_job"),
            ("exported_instance", "body_instance"),
            ("exported_job", "t"),
            ("instance", "i"),
            ("job", "j"),
        ])
    );

    // With honor_labels a scraped label wins even when empty: no instance at all.
    let scraped = Labels::from_pairs([("__name__", "m"), ("instance", ""), ("zone", "z")]);
    let out = merge_target_labels(&scraped, &target, true);
    assert_eq!(out.get("instance"), None);
    assert_eq!(out.get("job"), Some("j"));
    assert_eq!(out.get("zone"), Some("z"));
}

fn scraper(extra: &str, url: &str) -> TargetScraper {
    let c = Arc::new(cfg(&format!("job_name: j\nscrape_interval: 10s\n{extra}")));
    let target = Target {
        discovered: Labels::empty(),
        labels: Labels::from_pairs([("job", "j"), ("instance", "t:1")]),
        url: url.to_string(),
        interval: c.scrape_interval.0,
        timeout: c.scrape_timeout.0,
    };
    TargetScraper::new(build_client(&c).unwrap(), c, target)
}

fn body(s: &str) -> Result<(Vec<u8>, Format), String> {
    Ok((s.as_bytes().to_vec(), Format::PrometheusText))
}

fn stale_names(b: &ScrapeBatch) -> Vec<String> {
    let mut v: Vec<String> = b
        .samples
        .iter()
        .filter(|(_, s)| is_stale_nan(s.v))
        .map(|(l, _)| l.to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn staleness_and_report_series() {
    let mut s = scraper("", "http://127.0.0.1:1/metrics");
    let d = Duration::from_millis(5);
    let o = s.process(body("a 1\nb 2\nc 3 123\n"), 1000, d);
    assert_eq!(o.batch.value_of("up"), Some(1.0));
    assert_eq!(o.batch.value_of("scrape_samples_scraped"), Some(3.0));
    assert_eq!(o.batch.value_of("scrape_series_added"), Some(3.0));
    let a = o
        .batch
        .samples
        .iter()
        .find(|(l, _)| l.metric_name() == Some("a"))
        .unwrap();
    assert_eq!(a.0.get("instance"), Some("t:1"));
    assert_eq!(a.1.t, 1000);
    let c = o
        .batch
        .samples
        .iter()
        .find(|(l, _)| l.metric_name() == Some("c"))
        .unwrap();
    assert_eq!(c.1.t, 123);
    assert_eq!(o.batch.as_write_batch().series.len(), 8);

    // `b` disappears: one marker. `c` had an explicit timestamp: never tracked.
    let o = s.process(body("a 1\nc 3 124\n"), 2000, d);
    assert_eq!(stale_names(&o.batch), vec![r#"b{instance="t:1", job="j"}"#]);
    assert_eq!(o.batch.value_of("scrape_series_added"), Some(0.0));

    // A failed scrape marks everything stale and reports the error.
    let o = s.process(Err("boom".into()), 3000, d);
    assert_eq!(o.error.as_deref(), Some("boom"));
    assert_eq!(o.batch.value_of("up"), Some(0.0));
    assert_eq!(stale_names(&o.batch).len(), 1);
    assert_eq!(o.batch.value_of("scrape_samples_scraped"), Some(0.0));

    s.process(body("a 1\n"), 4000, d);
    let stop = s.stop(5000);
    assert_eq!(stale_names(&stop).len(), 1 + REPORT_SERIES.len());
}

#[tokio::test]
async fn metric_relabel_and_limits() {
    let mut s = scraper(
        "metric_relabel_configs: [{source_labels: [__name__], regex: drop_.*, action: drop}]\nsample_limit: 2\n",
        "http://x/",
    );
    let o = s.process(body("drop_me 1\nkeep 2\nkeep2 3\n"), 1, Duration::ZERO);
    assert_eq!(o.error, None);
    assert_eq!(o.batch.value_of("scrape_samples_scraped"), Some(3.0));
    assert_eq!(
        o.batch.value_of("scrape_samples_post_metric_relabeling"),
        Some(2.0)
    );
    let o = s.process(body("a 1\nb 1\nc 1\n"), 2, Duration::ZERO);
    assert_eq!(o.error.as_deref(), Some("sample limit exceeded"));
    assert_eq!(o.batch.value_of("up"), Some(0.0));
    // The previous scrape's two series become stale; nothing of this one is kept.
    assert_eq!(stale_names(&o.batch).len(), 2);
    assert_eq!(o.batch.samples.len(), 2 + REPORT_SERIES.len());

    let mut s = scraper("label_limit: 3\n", "http://x/");
    let o = s.process(body("m{a=\"1\",b=\"2\"} 1\n"), 1, Duration::ZERO);
    let e = o.error.unwrap();
    assert!(
        e.starts_with("label_limit exceeded (metric: m, number of labels: 5"),
        "{e}"
    );
    let o = s.process(body("m{a=\"1\" 1\n"), 1, Duration::ZERO);
    assert!(o.error.unwrap().starts_with("parse error: line 1"));
}

#[tokio::test]
async fn series_cache_reuses_labels_and_counts_like_prometheus() {
    let mut s = scraper(
        "metric_relabel_configs: [{regex: junk, action: labeldrop}]\n",
        "http://x/",
    );
    let d = Duration::ZERO;
    // Two spellings of one series and one that relabeling folds into it: one row, but
    // all three count after relabeling, as Prometheus counts duplicates.
    let text = "m{a=\"1\",b=\"2\"} 1\nm{b=\"2\",a=\"1\"} 2\nm{a=\"1\",b=\"2\",junk=\"x\"} 3\nn 4\n";
    let o = s.process(body(text), 1000, d);
    assert_eq!(o.batch.value_of("scrape_samples_scraped"), Some(4.0));
    assert_eq!(
        o.batch.value_of("scrape_samples_post_metric_relabeling"),
        Some(4.0)
    );
    assert_eq!(o.batch.value_of("scrape_series_added"), Some(2.0));
    assert_eq!(o.batch.value_of("m"), Some(1.0));
    assert_eq!(o.batch.samples.len(), 2 + REPORT_SERIES.len());
    let first = o.batch.samples[0].0.clone();

    // The same texts again: the cached label set is shared, not rebuilt.
    let o = s.process(body(text), 2000, d);
    assert!(Arc::ptr_eq(&o.batch.samples[0].0, &first));
    assert_eq!(o.batch.value_of("scrape_series_added"), Some(0.0));
    assert!(stale_names(&o.batch).is_empty());

    // A scrape that fails after some samples undoes them: the earlier series go stale
    // once, and the next good scrape counts them as added again only if they were
    // missing from the last successful one (they were not).
    let o = s.process(body("m{a=\"1\",b=\"2\"} 1\nbad{ 1\n"), 3000, d);
    assert_eq!(o.batch.value_of("up"), Some(0.0));
    assert_eq!(stale_names(&o.batch).len(), 2);
    let o = s.process(body(text), 4000, d);
    assert!(stale_names(&o.batch).is_empty());
    assert_eq!(o.batch.value_of("scrape_series_added"), Some(0.0));
    assert_eq!(o.batch.value_of("m"), Some(1.0));

    // Texts unseen for a few scrapes are evicted; their series went stale once.
    let o = s.process(body("n 4\n"), 5000, d);
    assert_eq!(
        stale_names(&o.batch),
        vec![r#"m{a="1", b="2", instance="t:1", job="j"}"#]
    );
    for t in 6..10 {
        let o = s.process(body("n 4\n"), t * 1000, d);
        assert!(stale_names(&o.batch).is_empty());
    }
    // Evicted: the series comes back through the slow path, with a new label set, and
    // counts as added again.
    let o = s.process(body(text), 10_000, d);
    let m = o
        .batch
        .samples
        .iter()
        .find(|(l, _)| l.metric_name() == Some("m"));
    let m = m.expect("m is stored again");
    assert_eq!(m.0, first);
    assert!(!Arc::ptr_eq(&m.0, &first));
    assert_eq!(o.batch.value_of("scrape_series_added"), Some(1.0));
    // Three spellings of m and n.
    assert_eq!(s.into_state().cached_texts(), 4);
}

#[tokio::test]
async fn exemplars_and_created_samples_are_kept() {
    let mut s = scraper("", "http://x/");
    let om = "# TYPE c counter\nc_total{a=\"x\"} 5 # {trace_id=\"t1\"} 2.0 1.5\nc_created{a=\"x\"} 1.7e9\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {trace_id=\"t2\"} 0.5\nh_count 1\nh_sum 0.5\n# EOF\n";
    let fetched = || Ok((om.as_bytes().to_vec(), Format::OpenMetrics));
    let o = s.process(fetched(), 7000, Duration::ZERO);
    assert_eq!(o.error, None);
    assert_eq!(o.batch.value_of("c_created"), Some(1.7e9));
    assert_eq!(o.batch.value_of("scrape_samples_scraped"), Some(5.0));
    assert_eq!(o.batch.exemplars.len(), 2);
    let wb = o.batch.as_write_batch();
    let with: Vec<(String, f64, i64)> = wb
        .series
        .iter()
        .flat_map(|e| {
            let name = wb
                .series_labels(e)
                .iter()
                .find(|l| l.name == "__name__")
                .map(|l| l.value.to_string())
                .unwrap_or_default();
            wb.series_exemplars(e)
                .iter()
                .map(move |x| (name.clone(), x.value, x.t))
                .collect::<Vec<_>>()
        })
        .collect();
    // An exemplar without a timestamp takes its sample's.
    assert_eq!(
        with,
        vec![
            ("c_total".into(), 2.0, 1500),
            ("h_bucket".into(), 0.5, 7000)
        ]
    );
    let e = &wb.exemplars[0];
    let labels: Vec<(&str, &str)> = wb
        .exemplar_labels(e)
        .iter()
        .map(|l| (l.name, l.value))
        .collect();
    assert_eq!(labels, vec![("trace_id", "t1")]);
}

/// Serves canned responses by path; `/slow` never answers.
async fn serve() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req).to_string();
                let path = text.split(' ').nth(1).unwrap_or("").to_string();
                let (status, ctype, enc, body): (&str, &str, Option<&str>, Vec<u8>) =
                    match path.as_str() {
                        "/text" => (
                            "200 OK",
                            "text/plain; version=0.0.4",
                            None,
                            b"a 1\nb{x=\"y\"} 2\n".to_vec(),
                        ),
                        "/om" => (
                            "200 OK",
                            "application/openmetrics-text; version=1.0.0",
                            None,
                            b"# TYPE c counter\nc_total 5\nc_created 1\n# EOF\n".to_vec(),
                        ),
                        "/gzip" => {
                            let mut e = flate2::write::GzEncoder::new(
                                Vec::new(),
                                flate2::Compression::default(),
                            );
                            e.write_all(b"g 7\n").unwrap();
                            ("200 OK", "text/plain", Some("gzip"), e.finish().unwrap())
                        }
                        "/auth" => {
                            let ok = text
                                .to_ascii_lowercase()
                                .contains("authorization: bearer sekrit");
                            (
                                "200 OK",
                                "text/plain",
                                None,
                                format!("authed {}\n", u8::from(ok)).into_bytes(),
                            )
                        }
                        "/big" => ("200 OK", "text/plain", None, vec![b'#'; 10_000]),
                        "/bad" => ("200 OK", "text/plain", None, b"ok 1\nbroken{\n".to_vec()),
                        "/slow" => {
                            std::future::pending::<()>().await;
                            unreachable!()
                        }
                        _ => (
                            "500 Internal Server Error",
                            "text/plain",
                            None,
                            b"no".to_vec(),
                        ),
                    };
                let mut head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                if let Some(e) = enc {
                    head.push_str(&format!("Content-Encoding: {e}\r\n"));
                }
                head.push_str("\r\n");
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn scrapes_over_http() {
    let base = serve().await;
    let o = scraper("", &format!("{base}/text")).scrape().await;
    assert_eq!(o.error, None);
    assert_eq!(o.batch.value_of("b"), Some(2.0));
    assert_eq!(o.batch.value_of("scrape_samples_scraped"), Some(2.0));
    assert!(o.batch.value_of("scrape_duration_seconds").unwrap() >= 0.0);

    let o = scraper("", &format!("{base}/om")).scrape().await;
    assert_eq!(o.error, None);
    assert_eq!(o.batch.value_of("c_total"), Some(5.0));
    // Stored as Prometheus 2.x stores them.
    assert_eq!(o.batch.value_of("c_created"), Some(1.0));

    let o = scraper("", &format!("{base}/gzip")).scrape().await;
    assert_eq!(o.batch.value_of("g"), Some(7.0));

    let o = scraper("bearer_token: sekrit\n", &format!("{base}/auth"))
        .scrape()
        .await;
    assert_eq!(o.batch.value_of("authed"), Some(1.0));

    let o = scraper("", &format!("{base}/missing")).scrape().await;
    assert!(o
        .error
        .unwrap()
        .ends_with("server returned HTTP status 500 Internal Server Error"));
    assert_eq!(o.batch.value_of("up"), Some(0.0));

    let o = scraper("body_size_limit: 1KB\n", &format!("{base}/big"))
        .scrape()
        .await;
    assert!(o.error.unwrap().ends_with("body size limit exceeded"));

    let o = scraper("", &format!("{base}/bad")).scrape().await;
    let e = o.error.unwrap();
    assert!(e.starts_with("parse error: line 2"), "{e}");
}

#[tokio::test]
async fn scrape_errors_name_the_cause() {
    let base = serve().await;
    let mut s = scraper("scrape_timeout: 200ms\n", &format!("{base}/slow"));
    let o = s.scrape().await;
    assert!(o.error.unwrap().contains("context deadline exceeded"));

    // A port that was just bound and released refuses connections.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let o = scraper("", &format!("http://{addr}/metrics"))
        .scrape()
        .await;
    let e = o.error.unwrap();
    assert!(e.ends_with("connection refused"), "{e}");
}

#[tokio::test]
async fn manager_runs_and_stops_targets() {
    let base = serve().await;
    let addr = base.trim_start_matches("http://");
    let c = Arc::new(cfg(&format!(
        "job_name: j\nscrape_interval: 5s\nmetrics_path: /text\nstatic_configs: [{{targets: ['{addr}']}}]\n"
    )));
    let targets = build_targets(&c, &static_groups(&c)).active;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut m = ScrapeManager::new(Arc::new(move |b| {
        let _ = tx.send(b);
    }));
    assert!(m.apply(vec![(c.clone(), targets)]).await.is_empty());
    let first = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.value_of("up"), Some(1.0));
    assert!(m
        .health()
        .iter()
        .all(|(_, h)| h.health == Health::Up || h.health == Health::Unknown));
    m.apply(vec![]).await;
    // After the stop, the last batch holds staleness markers for everything.
    let mut last = None;
    while let Ok(b) = rx.try_recv() {
        last = Some(b);
    }
    let last = last.unwrap();
    assert!(last.samples.iter().all(|(_, s)| is_stale_nan(s.v)));
    assert!(m.health().is_empty());
}
