//! The scheduler on a short interval: groups run on their own, reloads keep state,
//! removed groups stop.

use pharos_model::{Labels, Sample};
use pharos_promql::{Engine, EngineOptions};
use pharos_rules::group::RuleHealth;
use pharos_rules::rulefmt::ParseOptions;
use pharos_rules::template::Verbatim;
use pharos_rules::{EngineQueryFunc, ManagerDeps, MemStore, RuleManager, RulesFilter, Settings};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn groups_run_on_schedule_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yml");
    std::fs::write(
        &file,
        "groups:\n- name: fast\n  interval: 100ms\n  rules:\n  - record: one\n    expr: vector(1)\n  - alert: Always\n    expr: vector(1)\n",
    )
    .unwrap();
    let store = Arc::new(MemStore::new());
    store
        .add(
            Labels::from_pairs([("__name__", "up")]),
            Sample {
                t: now_ms(),
                v: 1.0,
            },
        )
        .unwrap();
    let query = Arc::new(EngineQueryFunc {
        engine: Arc::new(Engine::new(EngineOptions::default())),
        storage: store.clone(),
    });
    let mgr = RuleManager::new(ManagerDeps {
        query,
        appender: store.clone(),
        queryable: store.clone(),
        templates: Arc::new(Verbatim),
        notifier: None,
        settings: Settings::default(),
    });
    mgr.update(std::slice::from_ref(&file), 60_000, ParseOptions::default())
        .unwrap();
    std::thread::sleep(Duration::from_millis(450));
    let groups = mgr.groups();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert!(g.counters.iterations_scheduled >= 2, "{:?}", g.counters);
    assert!(g.rules.iter().all(|r| r.health == RuleHealth::Good));
    assert_eq!(mgr.alerts_view().alerts.len(), 1);

    // Reloading the same file keeps the alert that is already active.
    mgr.update(std::slice::from_ref(&file), 60_000, ParseOptions::default())
        .unwrap();
    assert_eq!(mgr.alerts_view().alerts.len(), 1);
    let view = mgr.rules_view(&RulesFilter {
        alerting: Some(false),
        ..RulesFilter::default()
    });
    assert_eq!(view.groups[0].rules.len(), 1);

    // A bad file leaves the running groups alone.
    std::fs::write(&file, "groups:\n- name: fast\n  bogus: 1\n").unwrap();
    assert!(mgr
        .update(std::slice::from_ref(&file), 60_000, ParseOptions::default())
        .is_err());
    assert_eq!(mgr.groups().len(), 1);
    mgr.stop();
    assert!(mgr.groups().is_empty());
}

#[test]
fn a_load_right_after_startup_keeps_the_pending_restore() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yml");
    // An hour-long interval: the group evaluates once at most during the test, so
    // the restore (after the second evaluation) is still pending.
    std::fs::write(
        &file,
        "groups:\n- name: slow\n  interval: 1h\n  rules:\n  - alert: Always\n    expr: vector(1)\n    for: 5m\n",
    )
    .unwrap();
    let store = Arc::new(MemStore::new());
    let mgr = RuleManager::new(ManagerDeps {
        query: Arc::new(EngineQueryFunc {
            engine: Arc::new(Engine::new(EngineOptions::default())),
            storage: store.clone(),
        }),
        appender: store.clone(),
        queryable: store.clone(),
        templates: Arc::new(Verbatim),
        notifier: None,
        settings: Settings::default(),
    });
    let generated = pharos_rules::RuleSource::Text {
        name: "generated.yml".into(),
        text: "groups:\n- name: gen\n  rules:\n  - record: two\n    expr: vector(2)\n".into(),
    };
    let files = pharos_rules::RuleSource::File(file.clone());
    mgr.update_sources(
        std::slice::from_ref(&files),
        60_000,
        ParseOptions::default(),
    )
    .unwrap();
    mgr.update_sources(&[files, generated], 60_000, ParseOptions::default())
        .unwrap();
    let groups = mgr.groups();
    let slow = groups.iter().find(|g| g.name == "slow").unwrap();
    assert!(
        slow.should_restore,
        "the restore pending at startup was dropped"
    );
    assert!(slow.alerting_rules().all(|r| !r.restored));
    let generated = groups.iter().find(|g| g.name == "gen").unwrap();
    assert_eq!(generated.file, "generated.yml");
    assert!(!generated.should_restore);
    mgr.stop();
}
