//! The dispatcher's Alertmanager-style counters on a paused clock: alerts
//! received and refused, notifications and requests per integration with
//! their failures, and the alert and silence gauges.

mod common;

use std::sync::Arc;

use common::*;
use pharos_alerting::alert::PostableAlert;
use pharos_alerting::metrics::FailureReason;
use pharos_alerting::notify::NotifyError;
use pharos_alerting::persist::MemoryStore;

const ONE: &str = "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 10s\n  group_interval: 20s\n  repeat_interval: 1h\nreceivers: [{name: r}]\n";

#[tokio::test(start_paused = true)]
async fn counts_alerts_notifications_and_failures() {
    let rec = Recorder::new();
    let store = Arc::new(MemoryStore::new());
    let d = dispatcher(ONE, receivers(&[("r", false, &rec)]), store, t0()).await;
    // Configured kinds are there before anything is sent.
    assert_eq!(
        d.metrics().snapshot().integrations["webhook"],
        Default::default()
    );

    let invalid = PostableAlert::default();
    let started = d.now() - chrono::Duration::minutes(5);
    let err = d
        .put_alerts(vec![
            firing(&d, &[("alertname", "A")]),
            resolved(&d, &[("alertname", "Old")], started),
            invalid,
        ])
        .await;
    assert!(err.is_err());
    let s = d.metrics().snapshot();
    assert_eq!(
        (s.received_firing, s.received_resolved, s.invalid),
        (1, 1, 1)
    );
    // Not yet flushed: unprocessed.
    assert_eq!(d.alert_state_counts(), (0, 0, 1));
    assert_eq!(d.group_count(), 2);

    // First attempt fails (retryable), the retry succeeds.
    rec.script(vec![Err(NotifyError::Retryable("503".into()))]);
    wait(12.0).await;
    let w = &d.metrics().snapshot().integrations["webhook"];
    assert_eq!((w.notifications, w.requests, w.requests_failed), (1, 2, 1));
    assert!(w.failed.is_empty(), "{w:?}");
    assert_eq!(w.latency.count, 2);
    assert_eq!(d.alert_state_counts(), (1, 0, 0));

    // A permanent error ends the notification at once.
    rec.script(vec![Err(NotifyError::Permanent("400".into()))]);
    d.put_alerts(vec![firing(&d, &[("alertname", "A"), ("x", "y")])])
        .await
        .unwrap();
    wait(20.0).await;
    let s = d.metrics().snapshot();
    let w = &s.integrations["webhook"];
    assert_eq!((w.notifications, w.requests, w.requests_failed), (2, 3, 2));
    assert_eq!(w.failed.get(&FailureReason::Permanent), Some(&1));
    assert!(s.nflog_queries >= 2, "{s:?}");

    assert_eq!(d.silence_state_counts(), (0, 0, 0));
    d.stop();
}
