//! Aggregation groups: the alerts of one route with equal group labels,
//! flushed on Alertmanager's timers (`dispatch/dispatch.go` `aggrGroup`):
//! the first flush `group_wait` after creation (at once if an alert
//! already waited that long), then every `group_interval`. A flush that the
//! pipeline reports delivered removes the resolved alerts it carried,
//! unless they were updated meanwhile; an empty group ends.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::{lock, pipeline, Core, DispatcherConfig, GroupId};
use crate::alert::{add_dur, alert_order, label_set_string, Alert, Fingerprint, LabelMap};
use crate::route::{Route, RouteOpts};

struct State {
    alerts: HashMap<Fingerprint, Alert>,
    has_flushed: bool,
    next: Instant,
}

pub(crate) struct AggrGroup {
    pub(crate) key: String,
    pub(crate) labels: LabelMap,
    pub(crate) route_id: String,
    pub(crate) opts: RouteOpts,
    pub(crate) config: Arc<DispatcherConfig>,
    state: Mutex<State>,
    wake: Notify,
    stopped: watch::Sender<bool>,
}

impl AggrGroup {
    pub(crate) fn new(
        route: &Route,
        labels: BTreeMap<String, String>,
        config: Arc<DispatcherConfig>,
    ) -> AggrGroup {
        let (stopped, _) = watch::channel(false);
        AggrGroup {
            // Alertmanager's group key: route key, ':', the labels printed
            // as a Prometheus label set.
            key: format!("{}:{}", route.key(), label_set_string(&labels)),
            labels,
            route_id: route.id().to_string(),
            opts: route.opts.clone(),
            config,
            state: Mutex::new(State {
                alerts: HashMap::new(),
                has_flushed: false,
                next: Instant::now() + route.opts.group_wait,
            }),
            wake: Notify::new(),
            stopped,
        }
    }

    /// Adds or replaces an alert. Before the first flush, an alert that
    /// started more than `group_wait` ago makes the group flush at once.
    pub(crate) fn insert(&self, alert: Alert, now: DateTime<Utc>) {
        let mut st = lock(&self.state);
        let overdue = add_dur(alert.starts_at, self.opts.group_wait) < now;
        st.alerts.insert(alert.fingerprint(), alert);
        if !st.has_flushed && overdue {
            st.next = Instant::now();
            self.wake.notify_one();
        }
    }

    /// The group's alerts in Alertmanager's order.
    pub(crate) fn alerts(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = lock(&self.state).alerts.values().cloned().collect();
        v.sort_by(alert_order);
        v
    }

    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.state).alerts.is_empty()
    }

    pub(crate) fn stop(&self) {
        let _ = self.stopped.send(true);
    }

    /// The alerts as a flush sends them: firing ones without an end time,
    /// ordered.
    fn snapshot(&self, now: DateTime<Utc>) -> Vec<Alert> {
        let mut v: Vec<Alert> = lock(&self.state)
            .alerts
            .values()
            .map(|a| {
                let mut a = a.clone();
                if !a.resolved_at(now) {
                    a.ends_at = None;
                }
                a
            })
            .collect();
        v.sort_by(alert_order);
        v
    }

    /// After a delivered flush: drops the resolved alerts it carried unless
    /// a newer version arrived meanwhile or the pipeline asked to `keep`
    /// them.
    fn delete_delivered(&self, sent: &[Alert], keep: &HashSet<Fingerprint>) {
        let mut st = lock(&self.state);
        for a in sent
            .iter()
            .filter(|a| a.ends_at.is_some() && !keep.contains(&a.fingerprint()))
        {
            let fp = a.fingerprint();
            if st
                .alerts
                .get(&fp)
                .is_some_and(|cur| cur.updated_at == a.updated_at)
            {
                st.alerts.remove(&fp);
            }
        }
    }
}

/// Starts the group's timer task.
pub(crate) fn spawn(core: Arc<Core>, id: GroupId, group: Arc<AggrGroup>) {
    let mut stopped = group.stopped.subscribe();
    tokio::spawn(async move {
        loop {
            let next = lock(&group.state).next;
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                // The deadline moved (an overdue alert): wait again.
                _ = group.wake.notified() => continue,
                _ = stopped.changed() => return,
            }
            if *stopped.borrow() {
                return;
            }
            let now = core.now();
            let deadline = {
                let mut st = lock(&group.state);
                st.next = Instant::now() + group.opts.group_interval;
                st.has_flushed = true;
                st.next
            };
            let alerts = group.snapshot(now);
            if !alerts.is_empty() {
                let flush = pipeline::Flush {
                    group: &group,
                    alerts: &alerts,
                    now,
                    deadline,
                };
                let outcome = tokio::select! {
                    out = pipeline::run(&core, flush) => out,
                    _ = stopped.changed() => return,
                };
                if outcome.delivered {
                    group.delete_delivered(&alerts, &outcome.keep);
                }
            }
            // Remove an empty group under the dispatcher's lock, so that an
            // alert arriving now lands in a new group instead of this one.
            let mut groups = lock(&core.groups);
            if group.is_empty() {
                if groups.get(&id).is_some_and(|g| Arc::ptr_eq(g, &group)) {
                    groups.remove(&id);
                }
                return;
            }
        }
    });
}
