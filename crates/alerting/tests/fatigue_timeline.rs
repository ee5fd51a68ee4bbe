//! Timeline tests, on a paused tokio clock, of what the dispatcher tells
//! receivers: Alertmanager's notification reasons and route labels, and
//! Pharos's alert-fatigue controls (page budget with a summary once it
//! refills; flapping alerts announced once, then held until they settle).

mod common;

use std::sync::Arc;

use common::*;
use pharos_alerting::alert::Fingerprint;
use pharos_alerting::dispatch::AlertFilter;
use pharos_alerting::persist::{HistoryKind, MemoryStore};

#[tokio::test(start_paused = true)]
async fn notification_reasons_and_route_labels() {
    let yaml = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 1h\n  labels: {team: db}\nreceivers: [{name: r}]\n";
    let rec = Recorder::new();
    let d = dispatcher(
        yaml,
        receivers(&[("r", true, &rec)]),
        Arc::new(MemoryStore::new()),
        t0(),
    )
    .await;
    let a1 = [("alertname", "A"), ("instance", "1")];
    let a2 = [("alertname", "A"), ("instance", "2")];
    d.put_alerts(vec![firing(&d, &a1)]).await.unwrap();
    wait(60.0).await;
    d.put_alerts(vec![firing(&d, &a2)]).await.unwrap();
    wait(340.0).await;
    d.put_alerts(vec![resolved(&d, &a1, t0())]).await.unwrap();
    // Flushes at 30, 330, 630, then unchanged until the repeat interval
    // (an hour after 630 s) has passed at a flush: 4530 s.
    wait(4200.0).await;
    let calls = rec.calls();
    let reasons: Vec<&str> = calls.iter().map(|c| c.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "first notification",
            "new alerts added",
            "some alerts resolved",
            "repeat interval elapsed"
        ]
    );
    assert_eq!(rec.times(), [30.0, 330.0, 630.0, 4530.0]);
    assert!(calls
        .iter()
        .all(|c| c.route_labels == labels(&[("team", "db")])));
    d.stop();
}

const BUDGET: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\nreceivers:\n- name: r\n  pharos_page_budget: {max_notifications: 2, per: 1h}\n";

#[tokio::test(start_paused = true)]
async fn page_budget_folds_the_overflow_into_one_summary() {
    let rec = Recorder::new();
    let store = Arc::new(MemoryStore::new());
    let d = dispatcher(
        BUDGET,
        receivers(&[("r", false, &rec)]),
        store.clone(),
        t0(),
    )
    .await;
    // Four groups whose first flushes fall at 30, 40, 50 and 55 s.
    for (name, at) in [("A", 0.0), ("B", 10.0), ("C", 10.0), ("D", 5.0)] {
        wait(at).await;
        d.put_alerts(vec![firing(&d, &[("alertname", name), ("instance", "1")])])
            .await
            .unwrap();
    }
    wait(60.0).await;
    assert_eq!(rec.times(), [30.0, 40.0], "the budget allows two");
    // C changes while held: one more notification held for it. Its later
    // unchanged flushes are the same notification, not new ones.
    d.put_alerts(vec![firing(&d, &[("alertname", "C"), ("instance", "2")])])
        .await
        .unwrap();
    wait(3000.0).await;
    assert_eq!(rec.times(), [30.0, 40.0], "nothing overtakes the summary");
    let held = store
        .history()
        .into_iter()
        .filter(|e| e.kind == HistoryKind::Silenced && e.by == ["pharos_page_budget"])
        .count();
    assert!(held >= 3, "holds are in the history: {held}");

    // The first send leaves the window at 3630 s: the summary goes then.
    wait(600.0).await;
    let calls = rec.calls();
    assert_eq!(rec.times(), [30.0, 40.0, 3630.0]);
    let summary = &calls[2];
    assert_eq!(summary.group_key, "pharos_page_budget:r");
    assert_eq!(
        summary.reason,
        "page budget summary: 3 notifications held for 2 groups"
    );
    let listed: Vec<(String, String, String)> = summary
        .alerts
        .iter()
        .zip(&summary.annotations)
        .map(|((name, _), ann)| {
            (
                name.clone(),
                ann["pharos_held_group"].clone(),
                ann["pharos_held_notifications"].clone(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("C/1".into(), "{}:{alertname=\"C\"}".into(), "2".into()),
            ("C/2".into(), "{}:{alertname=\"C\"}".into(), "2".into()),
            ("D/1".into(), "{}:{alertname=\"D\"}".into(), "1".into()),
        ]
    );
    let sent_by_summary = store
        .history()
        .into_iter()
        .filter(|e| e.kind == HistoryKind::NotificationSent && e.by == ["pharos_page_budget"])
        .count();
    assert_eq!(sent_by_summary, 3);

    // The held groups were logged as notified: their next flushes stay
    // quiet. A new group fits the refilled budget and is sent normally.
    d.put_alerts(vec![firing(&d, &[("alertname", "E")])])
        .await
        .unwrap();
    wait(30.0).await;
    let calls = rec.calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[3].alerts, [("E".to_string(), false)]);
    assert_eq!(calls[3].reason, "first notification");
    wait(1200.0).await;
    assert_eq!(rec.calls().len(), 4);
    d.stop();
}

const FLAPPING: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 1m\n  repeat_interval: 4h\nreceivers:\n- name: r\n  pharos_flapping: {max_changes: 3, window: 30m}\n";

#[tokio::test(start_paused = true)]
async fn flapping_alert_is_notified_once_then_resumes_when_stable() {
    let rec = Recorder::new();
    let store = Arc::new(MemoryStore::new());
    let d = dispatcher(
        FLAPPING,
        receivers(&[("r", true, &rec)]),
        store.clone(),
        t0(),
    )
    .await;
    let x = [("alertname", "X")];
    let fp = Fingerprint::of(&labels(&x));
    let mut started = d.now();
    // Firing at 0, 120, 240, 360; resolved at 60, 180, 300, 420.
    for i in 0..8 {
        if i % 2 == 0 {
            started = d.now();
            d.put_alerts(vec![firing(&d, &x)]).await.unwrap();
        } else {
            d.put_alerts(vec![resolved(&d, &x, started)]).await.unwrap();
        }
        if i == 6 {
            // Firing and flapping: the API shows it.
            wait(10.0).await;
            let alerts = d.alerts(&AlertFilter::default()).await;
            assert_eq!(alerts[0].annotations["pharos_flapping"], "true");
            let groups = d.groups(&AlertFilter::default()).await;
            assert_eq!(groups[0].flapping, [fp]);
            wait(50.0).await;
        } else {
            wait(60.0).await;
        }
    }
    // Normal until the fourth change (240 s); then one notification marked
    // flapping, and silence while it keeps changing.
    let calls = rec.calls();
    let seen: Vec<(f64, bool, bool)> = calls
        .iter()
        .map(|c| {
            (
                c.at,
                c.alerts[0].1,
                c.annotations[0].contains_key("pharos_flapping"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (30.0, false, false),
            (90.0, true, false),
            (150.0, false, false),
            (210.0, true, false),
            (270.0, false, true),
        ]
    );
    assert_eq!(calls[4].reason, "first notification");

    // Stable (resolved) for the 30m window after the last change at 420 s:
    // the next flush sends the resolution as a normal notification.
    wait(1800.0).await;
    let calls = rec.calls();
    assert_eq!(calls.len(), 6, "{calls:?}");
    assert_eq!(calls[5].at, 2250.0);
    assert_eq!(calls[5].alerts, [("X".to_string(), true)]);
    assert!(!calls[5].annotations[0].contains_key("pharos_flapping"));
    assert_eq!(calls[5].reason, "all alerts resolved");
    assert!(d.groups(&AlertFilter::default()).await.is_empty());

    // Normal notifications again.
    d.put_alerts(vec![firing(&d, &x)]).await.unwrap();
    wait(30.0).await;
    let calls = rec.calls();
    assert_eq!(calls.len(), 7);
    assert!(!calls[6].annotations[0].contains_key("pharos_flapping"));

    let marks: Vec<(HistoryKind, Vec<String>)> = store
        .history()
        .into_iter()
        .filter(|e| e.by == ["pharos_flapping"])
        .map(|e| (e.kind, e.by))
        .collect();
    assert_eq!(
        marks.iter().map(|m| m.0).collect::<Vec<_>>(),
        [HistoryKind::Silenced, HistoryKind::Unsuppressed]
    );
    d.stop();
}
