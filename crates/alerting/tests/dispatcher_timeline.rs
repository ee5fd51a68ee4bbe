//! Timeline tests of the dispatcher on a paused tokio clock: group timers,
//! grouping, `continue`, inhibition, silences, dedup across a restart,
//! send_resolved and retries.

mod common;

use std::sync::Arc;

use common::*;
use pharos_alerting::alert::Fingerprint;
use pharos_alerting::dispatch::AlertFilter;
use pharos_alerting::matcher::{parse_matchers, Matchers};
use pharos_alerting::notify::NotifyError;
use pharos_alerting::persist::{HistoryKind, MemoryStore};
use pharos_alerting::silence::Silence;

const ONE: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 1h\nreceivers: [{name: r}]\n";

#[tokio::test(start_paused = true)]
async fn group_wait_interval_and_repeat() {
    let rec = Recorder::new();
    let d = dispatcher(
        ONE,
        receivers(&[("r", false, &rec)]),
        Arc::new(MemoryStore::new()),
        t0(),
    )
    .await;
    d.put_alerts(vec![firing(&d, &[("alertname", "A"), ("instance", "1")])])
        .await
        .unwrap();
    assert_eq!(
        d.status(Fingerprint::of(&labels(&[
            ("alertname", "A"),
            ("instance", "1")
        ])))
        .state
        .as_str(),
        "unprocessed"
    );
    wait(29.0).await;
    assert!(rec.calls().is_empty(), "nothing before group_wait");
    wait(1.0).await;
    assert_eq!(rec.times(), [30.0]);
    assert_eq!(rec.calls()[0].group_key, "{}:{alertname=\"A\"}");
    assert_eq!(rec.calls()[0].alerts, [("A/1".to_string(), false)]);

    // A new alert in the group waits for the next group_interval.
    wait(30.0).await;
    d.put_alerts(vec![firing(&d, &[("alertname", "A"), ("instance", "2")])])
        .await
        .unwrap();
    wait(269.0).await;
    assert_eq!(rec.times(), [30.0]);
    wait(1.0).await;
    assert_eq!(rec.times(), [30.0, 330.0]);
    assert_eq!(rec.calls()[1].alerts.len(), 2);

    // Unchanged: silent until repeat_interval (1h) has passed since the
    // last send; it is then sent at the next flush.
    wait(3600.0).await;
    assert_eq!(rec.times(), [30.0, 330.0]);
    wait(300.0).await;
    assert_eq!(rec.times(), [30.0, 330.0, 4230.0]);
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn alert_older_than_group_wait_flushes_at_once() {
    let rec = Recorder::new();
    let d = dispatcher(
        ONE,
        receivers(&[("r", false, &rec)]),
        Arc::new(MemoryStore::new()),
        t0(),
    )
    .await;
    let mut a = firing(&d, &[("alertname", "Old")]);
    a.starts_at = Some(d.now() - chrono::Duration::minutes(2));
    d.put_alerts(vec![a]).await.unwrap();
    wait(0.001).await;
    assert_eq!(rec.times(), [0.0]);
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn grouping_by_labels_and_by_all() {
    let yaml = "route:\n  receiver: r\n  group_by: [cluster]\n  group_wait: 10s\n  routes:\n  - matchers: [team=db]\n    group_by: ['...']\n    receiver: all\nreceivers: [{name: r}, {name: all}]\n";
    let (rec, all) = (Recorder::new(), Recorder::new());
    let d = dispatcher(
        yaml,
        receivers(&[("r", false, &rec), ("all", false, &all)]),
        Arc::new(MemoryStore::new()),
        t0(),
    )
    .await;
    d.put_alerts(vec![
        firing(&d, &[("alertname", "A"), ("cluster", "c1")]),
        firing(&d, &[("alertname", "B"), ("cluster", "c1")]),
        firing(&d, &[("alertname", "A"), ("cluster", "c2")]),
        firing(&d, &[("alertname", "X"), ("team", "db"), ("instance", "1")]),
        firing(&d, &[("alertname", "X"), ("team", "db"), ("instance", "2")]),
    ])
    .await
    .unwrap();
    wait(10.0).await;
    let mut keys: Vec<(String, usize)> = rec
        .calls()
        .into_iter()
        .map(|c| (c.group_key, c.alerts.len()))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            ("{}:{cluster=\"c1\"}".to_string(), 2),
            ("{}:{cluster=\"c2\"}".to_string(), 1)
        ]
    );
    let mut by_all: Vec<String> = all.calls().into_iter().map(|c| c.group_key).collect();
    by_all.sort();
    assert_eq!(
        by_all,
        [
            "{}/{team=\"db\"}:{alertname=\"X\", instance=\"1\", team=\"db\"}",
            "{}/{team=\"db\"}:{alertname=\"X\", instance=\"2\", team=\"db\"}"
        ]
    );
    assert_eq!(d.group_count(), 4);
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn continue_fans_out_to_every_matching_route() {
    let yaml = "route:\n  receiver: default\n  group_wait: 5s\n  routes:\n  - matchers: [severity=critical]\n    receiver: pager\n    continue: true\n  - matchers: [team=web]\n    receiver: chat\n  - matchers: [team=web]\n    receiver: never\nreceivers: [{name: default}, {name: pager}, {name: chat}, {name: never}]\n";
    let recs: Vec<_> = (0..4).map(|_| Recorder::new()).collect();
    let d = dispatcher(
        yaml,
        receivers(&[
            ("default", false, &recs[0]),
            ("pager", false, &recs[1]),
            ("chat", false, &recs[2]),
            ("never", false, &recs[3]),
        ]),
        Arc::new(MemoryStore::new()),
        t0(),
    )
    .await;
    d.put_alerts(vec![firing(
        &d,
        &[
            ("alertname", "Down"),
            ("severity", "critical"),
            ("team", "web"),
        ],
    )])
    .await
    .unwrap();
    wait(5.0).await;
    let counts: Vec<usize> = recs.iter().map(|r| r.calls().len()).collect();
    assert_eq!(counts, [0, 1, 1, 0]);
    let view = d.alerts(&AlertFilter::default()).await;
    assert_eq!(view[0].receivers, ["pager", "chat"]);
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn inhibition_holds_back_targets_while_the_source_fires() {
    let yaml = "route:\n  receiver: r\n  group_by: [alertname, severity]\n  group_wait: 10s\n  group_interval: 1m\nreceivers: [{name: r}]\ninhibit_rules:\n- source_matchers: [severity=critical]\n  target_matchers: [severity=warning]\n  equal: [alertname]\n";
    let rec = Recorder::new();
    let store = Arc::new(MemoryStore::new());
    let d = dispatcher(yaml, receivers(&[("r", true, &rec)]), store.clone(), t0()).await;
    let crit = [("alertname", "Disk"), ("severity", "critical")];
    let warn = [("alertname", "Disk"), ("severity", "warning")];
    let started = d.now();
    d.put_alerts(vec![firing(&d, &crit), firing(&d, &warn)])
        .await
        .unwrap();
    wait(10.0).await;
    let sent: Vec<String> = rec.calls().iter().map(|c| c.alerts[0].0.clone()).collect();
    assert_eq!(sent, ["Disk"]);
    assert!(rec.calls()[0].group_key.contains("critical"));
    let warn_fp = Fingerprint::of(&labels(&warn));
    let st = d.status(warn_fp);
    assert_eq!(
        st.inhibited_by,
        [Fingerprint::of(&labels(&crit)).to_string()]
    );
    assert_eq!(st.state.as_str(), "suppressed");

    // The source resolves: the target goes out at its group's next flush.
    d.put_alerts(vec![resolved(&d, &crit, started)])
        .await
        .unwrap();
    wait(60.0).await;
    let calls = rec.calls();
    assert_eq!(calls.len(), 3);
    assert!(calls
        .iter()
        .any(|c| c.group_key.contains("warning") && c.alerts == [("Disk".to_string(), false)]));
    assert!(calls
        .iter()
        .any(|c| c.group_key.contains("critical") && c.alerts == [("Disk".to_string(), true)]));
    assert_eq!(d.status(warn_fp).state.as_str(), "active");
    let kinds: Vec<HistoryKind> = store
        .history()
        .iter()
        .filter(|e| e.fingerprint == warn_fp.to_string())
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            HistoryKind::Firing,
            HistoryKind::Inhibited,
            HistoryKind::Unsuppressed,
            HistoryKind::NotificationSent
        ]
    );
    d.stop();
}

fn silence(m: &str, start: chrono::DateTime<chrono::Utc>, hours: i64) -> Silence {
    Silence {
        id: String::new(),
        matchers: Matchers(parse_matchers(m).unwrap()),
        starts_at: start,
        ends_at: start + chrono::Duration::hours(hours),
        updated_at: start,
        created_by: "ops".into(),
        comment: String::new(),
        schedule: None,
    }
}

#[tokio::test(start_paused = true)]
async fn silences_mute_until_expired() {
    let rec = Recorder::new();
    let store = Arc::new(MemoryStore::new());
    let d = dispatcher(ONE, receivers(&[("r", false, &rec)]), store.clone(), t0()).await;
    let id = d
        .silences()
        .post(silence("alertname=A", d.now(), 2), d.now())
        .await
        .unwrap();
    d.put_alerts(vec![firing(&d, &[("alertname", "A")])])
        .await
        .unwrap();
    wait(30.0).await;
    assert!(rec.calls().is_empty());
    let groups = d.groups(&AlertFilter::default()).await;
    assert_eq!(groups[0].alerts[0].status.silenced_by, vec![id.clone()]);
    let hide = AlertFilter {
        silenced: false,
        ..AlertFilter::default()
    };
    assert!(d.groups(&hide).await.is_empty());

    d.silences().expire(&id, d.now()).await.unwrap();
    wait(300.0).await;
    assert_eq!(rec.times(), [330.0]);
    let kinds: Vec<HistoryKind> = store.history().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            HistoryKind::Firing,
            HistoryKind::Silenced,
            HistoryKind::Unsuppressed,
            HistoryKind::NotificationSent
        ]
    );
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn recurring_silence_mutes_only_inside_its_schedule() {
    // Daily 10:00–10:10 UTC; the test starts at 10:00.
    let rec = Recorder::new();
    let d = dispatcher(
        ONE,
        receivers(&[("r", false, &rec)]),
        Arc::new(MemoryStore::new()),
        t0(),
    )
    .await;
    let mut s = silence("alertname=A", d.now(), 24 * 30);
    s.schedule = Some(
        serde_yaml::from_str("- times: [{start_time: '10:00', end_time: '10:10'}]\n").unwrap(),
    );
    let id = d.silences().post(s, d.now()).await.unwrap();
    d.put_alerts(vec![firing(&d, &[("alertname", "A")])])
        .await
        .unwrap();
    wait(330.0).await;
    assert!(rec.calls().is_empty(), "muted at 10:00:30 and 10:05:30");
    assert_eq!(
        d.silences().get(&id).unwrap().state(d.now()).as_str(),
        "active"
    );
    wait(300.0).await;
    assert_eq!(rec.times(), [630.0]);
    assert_eq!(
        d.silences().get(&id).unwrap().state(d.now()).as_str(),
        "pending"
    );
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn restart_does_not_page_again() {
    let store = Arc::new(MemoryStore::new());
    let rec = Recorder::new();
    let d = dispatcher(ONE, receivers(&[("r", false, &rec)]), store.clone(), t0()).await;
    let a = firing(&d, &[("alertname", "A")]);
    d.put_alerts(vec![a.clone()]).await.unwrap();
    wait(30.0).await;
    assert_eq!(rec.times(), [30.0]);
    d.stop();

    // A new process on the same store; the sender re-sends the alert.
    wait(60.0).await;
    let rec2 = Recorder::new();
    let d2 = dispatcher(
        ONE,
        receivers(&[("r", false, &rec2)]),
        store.clone(),
        t0() + chrono::Duration::seconds(90),
    )
    .await;
    d2.put_alerts(vec![a]).await.unwrap();
    wait(30.0).await;
    assert!(
        rec2.calls().is_empty(),
        "already notified before the restart"
    );
    // It is repeated once repeat_interval has passed since the first send.
    wait(3300.0).await;
    assert!(rec2.calls().is_empty());
    wait(300.0).await;
    assert_eq!(rec2.times(), [3600.0]);
    d2.stop();
}

#[tokio::test(start_paused = true)]
async fn send_resolved_on_and_off() {
    let yaml = "route:\n  receiver: off\n  group_wait: 30s\n  group_interval: 5m\n  routes:\n  - matchers: [alertname=A]\n    receiver: on\n    continue: true\n  - matchers: [alertname=A]\n    receiver: off\nreceivers: [{name: on}, {name: off}]\n";
    let (on, off) = (Recorder::new(), Recorder::new());
    let d = dispatcher(
        yaml,
        receivers(&[("on", true, &on), ("off", false, &off)]),
        Arc::new(MemoryStore::new()),
        t0(),
    )
    .await;
    let started = d.now();
    d.put_alerts(vec![firing(&d, &[("alertname", "A")])])
        .await
        .unwrap();
    wait(30.0).await;
    assert_eq!((on.times(), off.times()), (vec![30.0], vec![30.0]));
    wait(30.0).await;
    d.put_alerts(vec![resolved(&d, &[("alertname", "A")], started)])
        .await
        .unwrap();
    wait(270.0).await;
    assert_eq!(on.times(), [30.0, 330.0]);
    assert_eq!(on.calls()[1].alerts, [("A".to_string(), true)]);
    assert_eq!(
        off.times(),
        [30.0],
        "resolved alerts are not sent without send_resolved"
    );
    // Delivered resolved alerts leave their groups; empty groups end.
    assert_eq!(d.group_count(), 0);
    wait(600.0).await;
    assert_eq!((on.calls().len(), off.calls().len()), (2, 1));
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn resolve_timeout_resolves_alerts_without_end() {
    let rec = Recorder::new();
    let store = Arc::new(MemoryStore::new());
    let d = dispatcher(ONE, receivers(&[("r", true, &rec)]), store.clone(), t0()).await;
    d.put_alerts(vec![pharos_alerting::alert::PostableAlert {
        labels: labels(&[("alertname", "A")]),
        ..Default::default()
    }])
    .await
    .unwrap();
    wait(330.0).await;
    // Sent firing at 30s, resolved (timeout 5m) at the 330s flush.
    let calls = rec.calls();
    assert_eq!(rec.times(), [30.0, 330.0]);
    assert_eq!(calls[1].alerts, [("A".to_string(), true)]);
    let kinds: Vec<HistoryKind> = store.history().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            HistoryKind::Firing,
            HistoryKind::NotificationSent,
            HistoryKind::Resolved,
            HistoryKind::NotificationSent
        ]
    );
    d.maintain().await.unwrap();
    assert!(d
        .alert(Fingerprint::of(&labels(&[("alertname", "A")])))
        .is_none());
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_until_the_next_flush() {
    let rec = Recorder::new();
    let store = Arc::new(MemoryStore::new());
    let d = dispatcher(ONE, receivers(&[("r", false, &rec)]), store.clone(), t0()).await;
    let retry = || Err(NotifyError::Retryable("503 Service Unavailable".into()));
    rec.script(vec![retry(), retry(), retry()]);
    d.put_alerts(vec![firing(&d, &[("alertname", "A")])])
        .await
        .unwrap();
    wait(40.0).await;
    // 500ms, then ×1.5 each time.
    assert_eq!(rec.times(), [30.0, 30.5, 31.25, 32.375]);

    // Failing for good: retried until the next flush is due, then the
    // flush counts as failed and the next one tries again.
    let rec2 = Recorder::new();
    let d2 = dispatcher(
        "route:\n  receiver: r\n  group_wait: 10s\n  group_interval: 20s\nreceivers: [{name: r}]\n",
        receivers(&[("r", false, &rec2)]),
        store.clone(),
        t0(),
    )
    .await;
    rec2.script((0..100).map(|_| retry()).collect());
    d2.put_alerts(vec![firing(&d2, &[("alertname", "B")])])
        .await
        .unwrap();
    wait(29.9).await;
    let times = rec2.times();
    assert!(times.iter().all(|t| *t >= 10.0 && *t < 30.0));
    assert_eq!(
        times.len(),
        8,
        "attempts at 10s + backoff within 20s: {times:?}"
    );
    wait(0.2).await;
    assert_eq!(rec2.times().last(), Some(&30.0));
    assert!(store
        .history()
        .iter()
        .any(|e| e.kind == HistoryKind::NotificationFailed
            && e.error
                .as_deref()
                .is_some_and(|m| m.contains("notify retry canceled after 8 attempts"))));

    // A permanent error is not retried.
    let rec3 = Recorder::new();
    let d3 = dispatcher(ONE, receivers(&[("r", false, &rec3)]), store.clone(), t0()).await;
    rec3.script(vec![Err(NotifyError::Permanent("400 Bad Request".into()))]);
    d3.put_alerts(vec![firing(&d3, &[("alertname", "C")])])
        .await
        .unwrap();
    wait(60.0).await;
    assert_eq!(rec3.times().len(), 1);
    d.stop();
    d2.stop();
    d3.stop();
}

#[tokio::test(start_paused = true)]
async fn route_time_intervals_hold_notifications() {
    let yaml = "route:\n  receiver: r\n  group_wait: 30s\n  group_interval: 5m\n  routes:\n  - matchers: [alertname=M]\n    mute_time_intervals: [first-ten]\n  - matchers: [alertname=N]\n    active_time_intervals: [first-ten]\nreceivers: [{name: r}]\ntime_intervals:\n- name: first-ten\n  time_intervals: [{times: [{start_time: '10:00', end_time: '10:10'}]}]\n";
    let rec = Recorder::new();
    let d = dispatcher(
        yaml,
        receivers(&[("r", false, &rec)]),
        Arc::new(MemoryStore::new()),
        t0(),
    )
    .await;
    d.put_alerts(vec![
        firing(&d, &[("alertname", "M")]),
        firing(&d, &[("alertname", "N")]),
    ])
    .await
    .unwrap();
    wait(630.0).await;
    let sent: Vec<(f64, String)> = rec
        .calls()
        .into_iter()
        .map(|c| (c.at, c.alerts[0].0.clone()))
        .collect();
    // N goes out while its interval is active; M only once its mute ends.
    assert_eq!(sent, [(30.0, "N".to_string()), (630.0, "M".to_string())]);
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn aggregation_group_limit() {
    let rec = Recorder::new();
    let cfg = pharos_alerting::Config::load(ONE).unwrap();
    let d = pharos_alerting::dispatch::Dispatcher::start(
        pharos_alerting::dispatch::DispatcherConfig::from_config(
            &cfg,
            receivers(&[("r", false, &rec)]),
        )
        .unwrap(),
        Arc::new(MemoryStore::new()),
        pharos_alerting::dispatch::DispatcherOptions {
            start_time: Some(t0()),
            max_aggregation_groups: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    d.put_alerts(vec![
        firing(&d, &[("alertname", "A")]),
        firing(&d, &[("alertname", "B")]),
        firing(&d, &[("alertname", "C")]),
    ])
    .await
    .unwrap();
    assert_eq!(d.group_count(), 2);
    wait(30.0).await;
    assert_eq!(rec.calls().len(), 2);
    assert_eq!(d.alerts(&AlertFilter::default()).await.len(), 3);
    d.stop();
}

#[tokio::test(start_paused = true)]
async fn reload_rebuilds_groups_without_resending() {
    let (rec, rec2) = (Recorder::new(), Recorder::new());
    let d = dispatcher(
        ONE,
        receivers(&[("r", false, &rec)]),
        Arc::new(MemoryStore::new()),
        t0(),
    )
    .await;
    d.put_alerts(vec![firing(&d, &[("alertname", "A")])])
        .await
        .unwrap();
    wait(60.0).await;
    assert_eq!(rec.times(), [30.0]);
    let cfg = |y: &str, r| {
        pharos_alerting::dispatch::DispatcherConfig::from_config(
            &pharos_alerting::Config::load(y).unwrap(),
            r,
        )
        .unwrap()
    };
    // Same routes: the regrouped alert is already overdue and flushes at
    // once, and the notification log suppresses the duplicate.
    d.reload(cfg(ONE, receivers(&[("r", false, &rec)]))).await;
    wait(1.0).await;
    assert_eq!(rec.times(), [30.0]);
    assert_eq!(d.group_count(), 1);
    // A new receiver has not been told yet.
    d.reload(cfg(
        &ONE.replace("r}", "r2}")
            .replace("receiver: r\n", "receiver: r2\n"),
        receivers(&[("r2", false, &rec2)]),
    ))
    .await;
    wait(1.0).await;
    assert_eq!(rec2.calls().len(), 1);
    assert_eq!(rec.times(), [30.0]);
    d.stop();
}
