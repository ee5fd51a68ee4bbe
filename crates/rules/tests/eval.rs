//! The evaluator over an in-memory store: alert state machine, `keep_firing_for`,
//! limits, staleness of vanished recording outputs, `for`-state restore, reload
//! hand-over and the API views.

use pharos_model::{is_stale_nan, Labels, Matcher, Queryable, Sample};
use pharos_promql::{Engine, EngineOptions};
use pharos_rules::alerting::AlertState;
use pharos_rules::alerting::AlertingRule;
use pharos_rules::api::{alerts_view, rules_view, RulesFilter};
use pharos_rules::group::{Group, GroupEnv, Rule, RuleHealth, RuleKind, Settings};
use pharos_rules::recording::RecordingRule;
use pharos_rules::storage::{EngineQueryFunc, MemStore};
use pharos_rules::template::Verbatim;
use std::sync::Arc;

const MIN: i64 = 60_000;

struct Fixture {
    store: Arc<MemStore>,
    query: EngineQueryFunc,
    settings: Settings,
}

impl Fixture {
    fn new() -> Fixture {
        let store = Arc::new(MemStore::new());
        let query = EngineQueryFunc {
            engine: Arc::new(Engine::new(EngineOptions::default())),
            storage: store.clone(),
        };
        Fixture {
            store,
            query,
            settings: Settings::default(),
        }
    }

    fn env(&self) -> GroupEnv<'_> {
        GroupEnv {
            query: &self.query,
            appender: self.store.as_ref(),
            queryable: self.store.as_ref(),
            templates: &Verbatim,
            notifier: None,
            settings: &self.settings,
        }
    }

    fn put(&self, name: &str, extra: &[(&str, &str)], t: i64, v: f64) {
        let mut pairs = vec![("__name__", name)];
        pairs.extend_from_slice(extra);
        self.store
            .add(Labels::from_pairs(pairs), Sample { t, v })
            .unwrap();
    }

    /// Samples of series named `name` at time `t`.
    fn at(&self, name: &str, t: i64) -> Vec<(Labels, f64)> {
        let q = self.store.querier(t, t).unwrap();
        q.select(&[Matcher::equal("__name__", name)])
            .unwrap()
            .flatten()
            .filter_map(|mut s| s.samples.next_sample().map(|x| (s.labels, x.v)))
            .collect()
    }
}

fn alert_rule(name: &str, expr: &str, hold: i64, keep: i64) -> Rule {
    Rule::new(RuleKind::Alerting(AlertingRule::new(
        name.into(),
        expr.into(),
        hold,
        keep,
        Labels::from_pairs([("severity", "page")]),
        Labels::from_pairs([("summary", "s")]),
        true,
    )))
}

fn group(rules: Vec<Rule>, limit: i64) -> Group {
    Group::new("g".into(), "f.yml".into(), MIN, limit, None, rules, false)
}

fn alert_state(g: &Group) -> AlertState {
    g.alerting_rules().next().unwrap().state()
}

#[test]
fn pending_then_firing_then_resolved() {
    let f = Fixture::new();
    let mut g = group(vec![alert_rule("Up", "up == 0", 2 * MIN, 0)], 0);
    assert_eq!(alert_state(&g), AlertState::Unknown);
    for i in 0..3 {
        f.put("up", &[("job", "a")], i * MIN, 0.0);
    }
    g.eval(&f.env(), 0);
    assert_eq!(alert_state(&g), AlertState::Pending);
    g.eval(&f.env(), MIN);
    assert_eq!(alert_state(&g), AlertState::Pending);
    g.eval(&f.env(), 2 * MIN);
    assert_eq!(alert_state(&g), AlertState::Firing);
    // The pending series went stale as the firing one started.
    let alerts: Vec<_> = f
        .at("ALERTS", 2 * MIN)
        .into_iter()
        .filter(|(_, v)| !is_stale_nan(*v))
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].0.get("alertstate"), Some("firing"));
    assert_eq!(alerts[0].0.get("severity"), Some("page"));
    let for_state = f.at("ALERTS_FOR_STATE", 2 * MIN);
    assert_eq!(for_state[0].1, 0.0);

    f.put("up", &[("job", "a")], 3 * MIN, 1.0);
    g.eval(&f.env(), 3 * MIN);
    assert_eq!(alert_state(&g), AlertState::Inactive);
    // Resolved alerts are kept (for sending) but not listed as active.
    let all = g.alerting_rules().next().unwrap().all_alerts();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].resolved_at, Some(3 * MIN));
    assert!(alerts_view(&[g.clone()]).alerts.is_empty());
    // The firing ALERTS series went stale.
    assert!(f
        .at("ALERTS", 3 * MIN)
        .iter()
        .all(|(_, v)| is_stale_nan(*v)));
    // After the retention it is forgotten.
    g.eval(&f.env(), 3 * MIN + 16 * MIN);
    assert!(g.alerting_rules().next().unwrap().all_alerts().is_empty());
}

#[test]
fn keep_firing_for_holds_the_alert() {
    let f = Fixture::new();
    let mut g = group(vec![alert_rule("Up", "up == 0", 0, 2 * MIN)], 0);
    f.put("up", &[], 0, 0.0);
    g.eval(&f.env(), 0);
    assert_eq!(alert_state(&g), AlertState::Firing);
    f.put("up", &[], MIN, 1.0);
    g.eval(&f.env(), MIN);
    assert_eq!(alert_state(&g), AlertState::Firing);
    let a = &g.alerting_rules().next().unwrap().active_alerts()[0];
    assert_eq!(a.keep_firing_since, Some(MIN));
    f.put("up", &[], 3 * MIN, 1.0);
    g.eval(&f.env(), 3 * MIN);
    assert_eq!(alert_state(&g), AlertState::Inactive);
}

#[test]
fn limits_and_duplicates_are_errors() {
    let f = Fixture::new();
    f.put("up", &[("job", "a")], 0, 0.0);
    f.put("up", &[("job", "b")], 0, 0.0);
    let mut g = group(vec![alert_rule("Up", "up == 0", 0, 0)], 1);
    g.eval(&f.env(), 0);
    assert_eq!(g.rules[0].health, RuleHealth::Bad);
    assert_eq!(
        g.rules[0].last_error.as_deref(),
        Some("exceeded limit of 1 with 2 alerts")
    );
    let rec = Rule::new(RuleKind::Recording(RecordingRule {
        name: "x".into(),
        expr: "sum without(job) (up) or sum without(job) (up) + 1 or up".into(),
        labels: Labels::from_pairs([("job", "same")]),
    }));
    let mut g = group(vec![rec], 0);
    g.eval(&f.env(), 0);
    assert_eq!(
        g.rules[0].last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying rule labels")
    );
}

#[test]
fn vanished_recording_series_go_stale() {
    let f = Fixture::new();
    f.put("up", &[("job", "a")], 0, 1.0);
    f.put("up", &[("job", "b")], 0, 2.0);
    let rec = Rule::new(RuleKind::Recording(RecordingRule {
        name: "job:up".into(),
        expr: "up".into(),
        labels: Labels::from_pairs([("team", "x")]),
    }));
    let mut g = group(vec![rec], 0);
    g.eval(&f.env(), 0);
    let out = f.at("job:up", 0);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0.get("team"), Some("x"));
    f.put("up", &[("job", "a")], 10 * MIN, 1.0);
    g.eval(&f.env(), 10 * MIN);
    let out = f.at("job:up", 10 * MIN);
    let b = out.iter().find(|(l, _)| l.get("job") == Some("b")).unwrap();
    assert!(is_stale_nan(b.1));
    assert_eq!(g.rules[0].health, RuleHealth::Good);
}

#[test]
fn for_state_is_restored_after_restart() {
    let f = Fixture::new();
    let hold = 30 * MIN;
    for i in 0..=40 {
        f.put("up", &[], i * MIN, 0.0);
    }
    let mut g = group(vec![alert_rule("Up", "up == 0", hold, 0)], 0);
    for i in 0..=10 {
        g.eval(&f.env(), i * MIN);
    }
    // Restart at 15m: a new group, not restored, evaluates twice, then restores.
    let mut rule = alert_rule("Up", "up == 0", hold, 0);
    if let RuleKind::Alerting(a) = &mut rule.kind {
        a.restored = false;
    }
    let mut g2 = Group::new("g".into(), "f.yml".into(), MIN, 0, None, vec![rule], true);
    g2.eval(&f.env(), 15 * MIN);
    g2.eval(&f.env(), 16 * MIN);
    g2.restore_for_state(&f.env(), 16 * MIN);
    let a = &g2.alerting_rules().next().unwrap().active_alerts()[0];
    // Active since 0, down from 10m to 16m: the down time is added.
    assert_eq!(a.active_at, 6 * MIN);
    assert!(g2.alerting_rules().next().unwrap().restored);
}

#[test]
fn reload_carries_alert_state() {
    let f = Fixture::new();
    f.put("up", &[], 0, 0.0);
    let mut old = group(vec![alert_rule("Up", "up == 0", 5 * MIN, 0)], 0);
    old.eval(&f.env(), 0);
    let mut new = group(vec![alert_rule("Up", "up == 0", 5 * MIN, 0)], 0);
    new.copy_state(&old);
    assert_eq!(alert_state(&new), AlertState::Pending);
    let view = serde_json::to_value(rules_view(&[new], &RulesFilter::default())).unwrap();
    let rule = &view["groups"][0]["rules"][0];
    assert_eq!(rule["type"], "alerting");
    assert_eq!(rule["state"], "pending");
    assert_eq!(rule["duration"], 300.0);
    assert_eq!(rule["alerts"][0]["value"], "0e+00");
    assert_eq!(rule["alerts"][0]["activeAt"], "1970-01-01T00:00:00Z");
    assert_eq!(view["groups"][0]["interval"], 60.0);
}

#[test]
fn group_slots_are_stable_and_aligned() {
    let g = group(Vec::new(), 0);
    let a = g.eval_timestamp(1_000_000);
    let b = g.eval_timestamp(1_000_000 + MIN);
    assert_eq!(b - a, MIN);
    assert!(a <= 1_000_000 && 1_000_000 - a < MIN);
}
