//! Replays the live Alertmanager 0.25 scenario in
//! `shared/conformance/oracles/alertmanager-live-0.25/`: the seed routing
//! config with an inhibition rule, three alerts posted without times, and
//! the `/api/v2/alerts/groups` answer a real Alertmanager gave. Groups,
//! their labels and receivers, alert fingerprints, labels, receivers and
//! statuses must be equal, in the same order.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use pharos_alerting::alert::PostableAlert;
use pharos_alerting::dispatch::{
    AlertFilter, AlertGroupView, Dispatcher, DispatcherConfig, DispatcherOptions,
};
use pharos_alerting::persist::MemoryStore;
use pharos_alerting::Config;
use serde_json::{json, Value};

fn oracle_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/oracles/alertmanager-live-0.25"
    ))
}

fn labels(p: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The compared part of a group, in the API's JSON shape.
fn shape(groups: &[AlertGroupView]) -> Value {
    Value::Array(
        groups
            .iter()
            .map(|g| {
                json!({
                    "labels": g.labels,
                    "receiver": {"name": g.receiver},
                    "alerts": g.alerts.iter().map(|a| json!({
                        "fingerprint": a.fingerprint.to_string(),
                        "labels": a.labels,
                        "annotations": a.annotations,
                        "receivers": a.receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
                        "status": {
                            "state": a.status.state.as_str(),
                            "silencedBy": a.status.silenced_by,
                            "inhibitedBy": a.status.inhibited_by,
                        },
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

fn strip_times(v: &Value) -> Value {
    let mut v = v.clone();
    for g in v.as_array_mut().into_iter().flatten() {
        for a in g["alerts"].as_array_mut().into_iter().flatten() {
            if let Some(o) = a.as_object_mut() {
                for k in ["startsAt", "endsAt", "updatedAt"] {
                    o.remove(k);
                }
            }
        }
    }
    v
}

#[tokio::test(start_paused = true)]
async fn groups_equal_alertmanager_0_25() {
    let dir = oracle_dir();
    let cfg = Config::load_file(dir.join("seed-with-inhibition.yml")).expect("oracle config loads");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("seed-groups.alertmanager-0.25.json"))
            .expect("oracle output exists"),
    )
    .expect("oracle output is JSON");

    let d = Dispatcher::start(
        DispatcherConfig::from_config(&cfg, HashMap::new()).expect("config compiles"),
        Arc::new(MemoryStore::new()),
        DispatcherOptions::default(),
    )
    .await
    .expect("start");
    let post = |p: &[(&str, &str)]| PostableAlert {
        labels: labels(p),
        ..Default::default()
    };
    d.put_alerts(vec![
        post(&[("alertname", "Disk"), ("team", "infrastructure")]),
        post(&[
            ("alertname", "HighCPU"),
            ("cluster", "c1"),
            ("service", "api"),
            ("severity", "critical"),
        ]),
        post(&[
            ("alertname", "HighCPU"),
            ("cluster", "c1"),
            ("service", "api"),
            ("severity", "warning"),
        ]),
    ])
    .await
    .expect("alerts accepted");

    let got = d.groups(&AlertFilter::default()).await;
    assert_eq!(shape(&got), strip_times(&expected));

    // Times: posted without them, so start = update = receipt and the end is
    // resolve_timeout (5m) later, as the oracle shows.
    for g in &got {
        for a in &g.alerts {
            assert_eq!(a.starts_at, a.updated_at);
            assert_eq!(a.ends_at, Some(a.starts_at + chrono::Duration::minutes(5)));
        }
    }
    for g in expected.as_array().into_iter().flatten() {
        for a in g["alerts"].as_array().into_iter().flatten() {
            let t = |k: &str| {
                chrono::DateTime::parse_from_rfc3339(a[k].as_str().unwrap_or_default())
                    .expect("oracle time parses")
            };
            assert_eq!(t("endsAt") - t("startsAt"), chrono::Duration::minutes(5));
            assert_eq!(t("updatedAt"), t("startsAt"));
        }
    }

    // The endpoint's filters: hiding inhibited alerts drops the warning's
    // group; a receiver regex keeps only matching routes' groups.
    let no_inhibited = AlertFilter {
        inhibited: false,
        ..AlertFilter::default()
    };
    assert_eq!(d.groups(&no_inhibited).await.len(), 2);
    let slack = AlertFilter::parse(&[], Some("slack-.*")).expect("filter parses");
    let receivers: Vec<String> = d
        .groups(&slack)
        .await
        .into_iter()
        .map(|g| g.receiver)
        .collect();
    assert_eq!(receivers, ["slack-infrastructure", "slack-warnings"]);
    let by_label = AlertFilter::parse(&["severity=critical".to_string()], None).expect("parses");
    let only = d.groups(&by_label).await;
    assert_eq!(only.len(), 1);
    assert_eq!(
        only[0].alerts[0].fingerprint.to_string(),
        "89b35983972b395f"
    );
    d.stop();
}
