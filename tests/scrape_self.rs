//! A fresh `pharos serve` scrapes its own `/metrics` (self_scrape defaults to true), so
//! `up{job="pharos"}` becomes queryable and the target shows in `/api/v1/targets`.

mod common;

use common::{client, get_json, poll, query_value, targets, Server};
use std::time::Duration;

/// The self job scrapes every 15 s and its first scrape is spread within that interval;
/// a debug build on a busy machine gets a wide margin on top.
const SCRAPE_DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn self_scrape_makes_up_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pharos.yml");
    std::fs::write(&config, "self_scrape: true\n").unwrap();
    let server = Server::start(&dir.path().join("data"), Some(&config));
    let c = client();

    let up = poll(SCRAPE_DEADLINE, || {
        query_value(&c, &server, r#"up{job="pharos"}"#).filter(|v| *v == 1.0)
    });
    assert_eq!(up, Some(1.0), "server log:\n{}", server.logs());
    // The scraped metrics themselves are stored too, with the target's labels.
    let instance = server.addr.clone();
    let q = format!(r#"count({{job="pharos",instance="{instance}"}})"#);
    // More than the five report series (up, scrape_duration_seconds, …).
    assert!(query_value(&c, &server, &q).is_some_and(|v| v > 5.0));

    let t = targets(&c, &server);
    assert_eq!(t["status"], "success");
    let active = t["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 1, "{t}");
    let a = &active[0];
    assert_eq!(a["scrapePool"], "pharos");
    assert_eq!(a["health"], "up", "{t}");
    assert_eq!(a["lastError"], "");
    assert_eq!(a["labels"]["job"], "pharos");
    assert_eq!(a["labels"]["instance"], instance.as_str());
    assert_eq!(a["scrapeUrl"], format!("http://{instance}/metrics"));
    assert_eq!(a["scrapeInterval"], "15s");
    assert_eq!(a["scrapeTimeout"], "10s");
    assert!(a["lastScrapeDuration"].as_f64().is_some_and(|d| d > 0.0));
    assert!(a["lastScrape"].as_str().unwrap().ends_with('Z'));
    assert_eq!(a["discoveredLabels"]["__address__"], instance.as_str());
    assert_eq!(t["data"]["droppedTargets"], serde_json::json!([]));

    assert_eq!(
        t["data"]["droppedTargetCounts"],
        serde_json::json!({"pharos": 0})
    );

    // As in Prometheus: a filtered-out list is empty, and an unknown state lists nothing.
    let only_dropped = get_json(&c, &server.url("/api/v1/targets?state=dropped"));
    assert_eq!(only_dropped["data"]["activeTargets"], serde_json::json!([]));
    let bogus = get_json(&c, &server.url("/api/v1/targets?state=bogus"));
    assert_eq!(bogus["status"], "success");
    assert_eq!(bogus["data"]["activeTargets"], serde_json::json!([]));
    assert_eq!(
        bogus["data"]["droppedTargetCounts"],
        serde_json::Value::Null
    );
    let other_pool = get_json(&c, &server.url("/api/v1/targets?scrapePool=other"));
    assert_eq!(other_pool["data"]["activeTargets"], serde_json::json!([]));

    server.stop();
}
