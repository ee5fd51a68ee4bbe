//! Counters of the alerting stage, named and shaped as Alertmanager's own
//! (`alertmanager_alerts_received_total`, `alertmanager_notifications_total`,
//! …) so dashboards written for Alertmanager carry over. This crate only
//! counts; the server renders a [`MetricsSnapshot`] on `/metrics`.
//!
//! Plain counters are atomics. Per-integration counters live in one small
//! mutexed map keyed by the integration kind (`webhook`, `slack`, …), which
//! the configuration bounds; the kinds configured are registered up front
//! so their series start at 0, as Alertmanager's do.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::notify::NotifyError;

/// Alertmanager's `alertmanager_notification_latency_seconds` buckets.
pub const NOTIFICATION_LATENCY_BUCKETS: [f64; 5] = [1.0, 5.0, 10.0, 15.0, 20.0];

/// Why a notification failed for good, the `reason` label of
/// `notifications_failed_total`: the error that ended the retries was
/// permanent (4xx, bad configuration) or a retryable one whose retries ran
/// out at the next flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureReason {
    Retryable,
    Permanent,
}

impl FailureReason {
    pub const ALL: [FailureReason; 2] = [FailureReason::Retryable, FailureReason::Permanent];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Retryable => "retryable",
            FailureReason::Permanent => "permanent",
        }
    }

    pub fn of(e: &NotifyError) -> FailureReason {
        if e.is_retryable() {
            FailureReason::Retryable
        } else {
            FailureReason::Permanent
        }
    }
}

/// A cumulative histogram over [`NOTIFICATION_LATENCY_BUCKETS`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencyHistogram {
    /// Cumulative counts, one per bucket bound (`+Inf` is `count`).
    pub buckets: [u64; NOTIFICATION_LATENCY_BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

impl LatencyHistogram {
    fn observe(&mut self, secs: f64) {
        self.count += 1;
        self.sum += secs;
        for (b, le) in self.buckets.iter_mut().zip(NOTIFICATION_LATENCY_BUCKETS) {
            if secs <= le {
                *b += 1;
            }
        }
    }
}

/// The counters of one integration kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntegrationCounters {
    /// Notifications attempted (one per send, however many retries).
    pub notifications: u64,
    /// Notifications that failed after their retries, by reason.
    pub failed: BTreeMap<FailureReason, u64>,
    /// Requests made, retries included.
    pub requests: u64,
    pub requests_failed: u64,
    pub latency: LatencyHistogram,
}

/// The alerting stage's counters, shared by the dispatcher and its tasks.
#[derive(Debug, Default)]
pub struct AlertingMetrics {
    received_firing: AtomicU64,
    received_resolved: AtomicU64,
    invalid: AtomicU64,
    nflog_queries: AtomicU64,
    budget_held: AtomicU64,
    budget_summaries: AtomicU64,
    flapping_marks: AtomicU64,
    integrations: Mutex<BTreeMap<String, IntegrationCounters>>,
}

/// A copy of every counter at one moment, for rendering.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSnapshot {
    pub received_firing: u64,
    pub received_resolved: u64,
    pub invalid: u64,
    pub nflog_queries: u64,
    pub budget_held: u64,
    pub budget_summaries: u64,
    pub flapping_marks: u64,
    pub integrations: BTreeMap<String, IntegrationCounters>,
}

impl AlertingMetrics {
    fn integrations(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, IntegrationCounters>> {
        self.integrations.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_integration(&self, name: &str, f: impl FnOnce(&mut IntegrationCounters)) {
        let mut m = self.integrations();
        match m.get_mut(name) {
            Some(c) => f(c),
            None => f(m.entry(name.to_owned()).or_default()),
        }
    }

    /// Makes the integration kinds' series exist (at 0) before any send.
    /// Kinds dropped by a reload keep their counts: counters only grow.
    pub fn register_integrations<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut m = self.integrations();
        for n in names {
            if !m.contains_key(n) {
                m.insert(n.to_owned(), IntegrationCounters::default());
            }
        }
    }

    /// One alert accepted by `put_alerts`, resolved or firing as received.
    pub fn alert_received(&self, resolved: bool) {
        let c = if resolved {
            &self.received_resolved
        } else {
            &self.received_firing
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn alerts_invalid(&self, n: u64) {
        self.invalid.fetch_add(n, Ordering::Relaxed);
    }

    pub fn nflog_query(&self) {
        self.nflog_queries.fetch_add(1, Ordering::Relaxed);
    }

    /// A flush held back by a receiver's page budget.
    pub fn budget_held(&self) {
        self.budget_held.fetch_add(1, Ordering::Relaxed);
    }

    /// A page-budget summary delivered.
    pub fn budget_summary_sent(&self) {
        self.budget_summaries.fetch_add(1, Ordering::Relaxed);
    }

    /// An alert newly marked as flapping for a receiver.
    pub fn flapping_marked(&self, n: u64) {
        self.flapping_marks.fetch_add(n, Ordering::Relaxed);
    }

    /// A notification starts (before its first request).
    pub fn notification(&self, integration: &str) {
        self.with_integration(integration, |c| c.notifications += 1);
    }

    /// A notification gave up.
    pub fn notification_failed(&self, integration: &str, reason: FailureReason) {
        self.with_integration(integration, |c| *c.failed.entry(reason).or_default() += 1);
    }

    /// One request to the integration and how long it took.
    pub fn request(&self, integration: &str, ok: bool, elapsed: Duration) {
        self.with_integration(integration, |c| {
            c.requests += 1;
            if !ok {
                c.requests_failed += 1;
            }
            c.latency.observe(elapsed.as_secs_f64());
        });
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetricsSnapshot {
            received_firing: load(&self.received_firing),
            received_resolved: load(&self.received_resolved),
            invalid: load(&self.invalid),
            nflog_queries: load(&self.nflog_queries),
            budget_held: load(&self.budget_held),
            budget_summaries: load(&self.budget_summaries),
            flapping_marks: load(&self.flapping_marks),
            integrations: self.integrations().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up() {
        let m = AlertingMetrics::default();
        m.alert_received(false);
        m.alert_received(false);
        m.alert_received(true);
        m.alerts_invalid(3);
        m.nflog_query();
        m.budget_held();
        m.budget_summary_sent();
        m.flapping_marked(2);
        let s = m.snapshot();
        assert_eq!((s.received_firing, s.received_resolved), (2, 1));
        assert_eq!(s.invalid, 3);
        assert_eq!(s.nflog_queries, 1);
        assert_eq!((s.budget_held, s.budget_summaries), (1, 1));
        assert_eq!(s.flapping_marks, 2);
    }

    #[test]
    fn integrations_are_registered_at_zero_and_counted() {
        let m = AlertingMetrics::default();
        m.register_integrations(["webhook", "slack"]);
        assert_eq!(m.snapshot().integrations["slack"], Default::default());
        m.notification("webhook");
        m.request("webhook", false, Duration::from_millis(1500));
        m.request("webhook", true, Duration::from_secs(30));
        m.notification_failed("webhook", FailureReason::Retryable);
        m.notification("email");
        m.notification_failed(
            "email",
            FailureReason::of(&NotifyError::Permanent("no".into())),
        );
        let s = m.snapshot();
        let w = &s.integrations["webhook"];
        assert_eq!((w.notifications, w.requests, w.requests_failed), (1, 2, 1));
        assert_eq!(w.failed[&FailureReason::Retryable], 1);
        // 1.5s falls in le=5 and above; 30s only in +Inf.
        assert_eq!(w.latency.buckets, [0, 1, 1, 1, 1]);
        assert_eq!(w.latency.count, 2);
        assert!((w.latency.sum - 31.5).abs() < 1e-9);
        assert_eq!(s.integrations["email"].failed[&FailureReason::Permanent], 1);
        // Registering again keeps the counts.
        m.register_integrations(["webhook"]);
        assert_eq!(m.snapshot().integrations["webhook"].notifications, 1);
    }
}
