//! Pharos's alert-fatigue controls, configured per receiver (beyond
//! Alertmanager, whose configs never carry these keys):
//!
//! ```yaml
//! receivers:
//! - name: oncall
//!   pharos_page_budget: {max_notifications: 10, per: 1h}
//!   pharos_flapping: {max_changes: 4, window: 30m}
//! ```
//!
//! **Page budget.** At most `max_notifications` notifications (flushes of a
//! group that would send something) per receiver in any sliding `per`
//! window. A flush over budget is held: the group's alerts are kept with a
//! count of the notifications held for it, and once the budget refills one
//! summary notification carries every held alert (annotated with
//! `pharos_held_group` and `pharos_held_notifications`). While a summary is
//! pending, later flushes of that receiver fold into it too, so nothing
//! overtakes it. After the summary the held state is written to the
//! notification log, so the groups' next flushes only send what changed.
//!
//! **Flapping.** An alert whose state changed (firing ↔ resolved) more than
//! `max_changes` times within `window` is marked flapping for the receiver:
//! each integration is sent it once with the annotation
//! `pharos_flapping="true"`, after which it is left out of that receiver's
//! notifications (and kept in its group even when resolved) until it has
//! been stable for `window`; then it is notified normally again.
//!
//! History (existing kinds, `by` naming the control): a held notification
//! is `silenced` by `pharos_page_budget`; the summary is `notification_sent`
//! (or `_failed`) by `pharos_page_budget`; an alert marked flapping is
//! `silenced` by `pharos_flapping`, and `unsilenced` by `pharos_flapping`
//! once it settles. Every event names the receiver.
//!
//! State is in memory: after a restart budgets start full and flapping is
//! re-detected from new changes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{history, lock};
use crate::alert::{sub_dur, Alert, Fingerprint};
use crate::config::{Config, FlappingConfig, PageBudgetConfig};
use crate::nflog::ReceiverKey;
use crate::persist::{HistoryEvent, HistoryKind};

/// The annotation a flapping alert is notified and shown with.
pub const FLAPPING_ANNOTATION: &str = "pharos_flapping";
/// Annotations of alerts in a page-budget summary.
pub const HELD_GROUP_ANNOTATION: &str = "pharos_held_group";
pub const HELD_COUNT_ANNOTATION: &str = "pharos_held_notifications";
/// The `by` of history events these controls write.
pub const BUDGET_BY: &str = "pharos_page_budget";
pub const FLAPPING_BY: &str = "pharos_flapping";

/// A receiver's fatigue settings, durations resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReceiverFatigue {
    pub budget: Option<Budget>,
    pub flapping: Option<Flapping>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    pub max: usize,
    pub per: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flapping {
    pub max_changes: usize,
    pub window: Duration,
}

impl From<&PageBudgetConfig> for Budget {
    fn from(c: &PageBudgetConfig) -> Budget {
        Budget {
            max: usize::try_from(c.max_notifications).unwrap_or(usize::MAX),
            per: c.per.as_duration(),
        }
    }
}

impl From<&FlappingConfig> for Flapping {
    fn from(c: &FlappingConfig) -> Flapping {
        Flapping {
            max_changes: usize::try_from(c.max_changes).unwrap_or(usize::MAX),
            window: c.window.as_duration(),
        }
    }
}

/// The receivers with any fatigue control configured.
pub fn from_config(cfg: &Config) -> HashMap<String, ReceiverFatigue> {
    cfg.receivers
        .iter()
        .filter(|r| r.pharos_page_budget.is_some() || r.pharos_flapping.is_some())
        .map(|r| {
            let f = ReceiverFatigue {
                budget: r.pharos_page_budget.as_ref().map(Budget::from),
                flapping: r.pharos_flapping.as_ref().map(Flapping::from),
            };
            (r.name.clone(), f)
        })
        .collect()
}

/// One group's notifications held back by a receiver's budget.
#[derive(Clone, Debug)]
pub(crate) struct HeldGroup {
    /// The alerts as the last held flush would have sent them.
    pub(crate) alerts: Vec<Alert>,
    /// Notifications held for the group.
    pub(crate) count: u32,
    /// What to write to the notification log per integration once the
    /// summary is delivered: firing and resolved hashes.
    pub(crate) logs: Vec<(ReceiverKey, BTreeSet<u64>, BTreeSet<u64>)>,
    pub(crate) repeat_interval: Duration,
}

#[derive(Default)]
struct BudgetState {
    /// Times of the notifications in the current window.
    sent: VecDeque<DateTime<Utc>>,
    held: BTreeMap<String, HeldGroup>,
    summary_scheduled: bool,
}

impl BudgetState {
    fn prune(&mut self, b: Budget, now: DateTime<Utc>) {
        let from = sub_dur(now, b.per);
        while self.sent.front().is_some_and(|t| *t <= from) {
            self.sent.pop_front();
        }
    }
}

/// What [`Fatigue::take_budget`] decided.
#[derive(Debug, PartialEq)]
pub(crate) enum BudgetDecision {
    Send,
    /// Held; `true` when the caller must start the summary task.
    Held {
        schedule: bool,
    },
}

/// What [`Fatigue::take_held`] found.
pub(crate) enum Taken {
    /// Nothing held: the summary task ends.
    Nothing,
    /// The budget is still spent.
    Spent,
    Held(BTreeMap<String, HeldGroup>),
}

/// An alert's state changes and where it is marked flapping.
#[derive(Default)]
struct FlapTrack {
    last_firing: Option<bool>,
    changes: VecDeque<DateTime<Utc>>,
    /// Receiver → integrations already told.
    marked: HashMap<String, HashSet<ReceiverKey>>,
}

/// How an alert stands with a receiver's flapping control at a flush.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FlapStatus {
    Normal,
    /// Flapping; the integrations already told.
    Flapping(HashSet<ReceiverKey>),
}

#[derive(Default)]
pub(crate) struct Fatigue {
    budgets: Mutex<HashMap<String, BudgetState>>,
    flaps: Mutex<HashMap<Fingerprint, FlapTrack>>,
}

impl Fatigue {
    /// Counts a flush that would notify `receiver`, or holds it. `alerts`
    /// and `logs` describe the flush for the summary.
    pub(crate) fn take_budget(
        &self,
        receiver: &str,
        b: Budget,
        group_key: &str,
        held: HeldGroup,
        now: DateTime<Utc>,
    ) -> BudgetDecision {
        let mut all = lock(&self.budgets);
        let st = all.entry(receiver.to_string()).or_default();
        st.prune(b, now);
        if st.held.is_empty() && st.sent.len() < b.max {
            st.sent.push_back(now);
            return BudgetDecision::Send;
        }
        let same = |old: &HeldGroup| {
            let key = |v: &[Alert]| -> BTreeSet<(Fingerprint, bool)> {
                v.iter()
                    .map(|a| (a.fingerprint(), a.ends_at.is_some()))
                    .collect()
            };
            key(&old.alerts) == key(&held.alerts)
        };
        // The same content held again at the next group interval is one
        // notification held, not another.
        let count = match st.held.get(group_key) {
            Some(old) if same(old) => old.count,
            Some(old) => old.count.saturating_add(1),
            None => 1,
        };
        st.held
            .insert(group_key.to_string(), HeldGroup { count, ..held });
        let schedule = !st.summary_scheduled;
        st.summary_scheduled = true;
        BudgetDecision::Held { schedule }
    }

    /// When the receiver's budget has room again.
    pub(crate) fn refill_at(&self, receiver: &str, b: Budget, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut all = lock(&self.budgets);
        let Some(st) = all.get_mut(receiver) else {
            return now;
        };
        st.prune(b, now);
        if st.sent.len() < b.max {
            return now;
        }
        // The window holds `max` sends or more: room comes when the one
        // that would make it `max - 1` leaves.
        let idx = st.sent.len() - b.max;
        st.sent
            .get(idx)
            .map_or(now, |t| crate::alert::add_dur(*t, b.per))
    }

    /// Takes the held groups for a summary, counting it against the
    /// budget.
    pub(crate) fn take_held(&self, receiver: &str, b: Option<Budget>, now: DateTime<Utc>) -> Taken {
        let mut all = lock(&self.budgets);
        let Some(st) = all.get_mut(receiver) else {
            return Taken::Nothing;
        };
        if st.held.is_empty() {
            st.summary_scheduled = false;
            return Taken::Nothing;
        }
        if let Some(b) = b {
            st.prune(b, now);
            if st.sent.len() >= b.max {
                return Taken::Spent;
            }
            st.sent.push_back(now);
        }
        st.summary_scheduled = false;
        Taken::Held(std::mem::take(&mut st.held))
    }

    /// Puts back a summary that could not be delivered, merged with what
    /// was held meanwhile; true when a summary task must be started.
    pub(crate) fn restore_held(&self, receiver: &str, held: BTreeMap<String, HeldGroup>) -> bool {
        let mut all = lock(&self.budgets);
        let st = all.entry(receiver.to_string()).or_default();
        for (k, mut g) in held {
            if let Some(newer) = st.held.remove(&k) {
                g = HeldGroup {
                    count: g.count.saturating_add(newer.count),
                    ..newer
                };
            }
            st.held.insert(k, g);
        }
        let schedule = !st.summary_scheduled && !st.held.is_empty();
        st.summary_scheduled |= schedule;
        schedule
    }

    /// Records a firing/resolved history event's state for flap counting.
    pub(crate) fn note_state(&self, fp: Fingerprint, firing: bool, at: DateTime<Utc>) {
        let mut flaps = lock(&self.flaps);
        let t = flaps.entry(fp).or_default();
        if t.last_firing.is_some_and(|was| was != firing) {
            t.changes.push_back(at);
        }
        t.last_firing = Some(firing);
    }

    /// The alert's flapping status for `receiver` at `now`, marking or
    /// clearing it; history events for a change of mark go to `events`.
    pub(crate) fn flap_status(
        &self,
        receiver: &str,
        f: Flapping,
        a: &Alert,
        now: DateTime<Utc>,
        events: &mut Vec<HistoryEvent>,
    ) -> FlapStatus {
        let mut flaps = lock(&self.flaps);
        let Some(t) = flaps.get_mut(&a.fingerprint()) else {
            return FlapStatus::Normal;
        };
        let from = sub_dur(now, f.window);
        let recent = t.changes.iter().filter(|c| **c > from).count();
        let event = |kind| HistoryEvent {
            receiver: Some(receiver.to_string()),
            ..history(now, kind, a, vec![FLAPPING_BY.to_string()])
        };
        if let Some(told) = t.marked.get(receiver) {
            // Stable for the window: the mark ends.
            if recent == 0 {
                t.marked.remove(receiver);
                events.push(event(HistoryKind::Unsuppressed));
                return FlapStatus::Normal;
            }
            return FlapStatus::Flapping(told.clone());
        }
        if recent > f.max_changes {
            t.marked.insert(receiver.to_string(), HashSet::new());
            events.push(event(HistoryKind::Silenced));
            return FlapStatus::Flapping(HashSet::new());
        }
        FlapStatus::Normal
    }

    /// Notes that `integration` was told the alert is flapping.
    pub(crate) fn mark_told(&self, fp: Fingerprint, integration: &ReceiverKey) {
        let mut flaps = lock(&self.flaps);
        if let Some(told) = flaps
            .get_mut(&fp)
            .and_then(|t| t.marked.get_mut(&integration.receiver))
        {
            told.insert(integration.clone());
        }
    }

    /// Receivers the alert is currently marked flapping for.
    pub(crate) fn flapping_receivers(&self, fp: Fingerprint) -> Vec<String> {
        let flaps = lock(&self.flaps);
        let mut v: Vec<String> = flaps
            .get(&fp)
            .map(|t| t.marked.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Forgets changes older than `keep` and alerts with nothing left to
    /// track (no recent change and no mark).
    pub(crate) fn gc(&self, keep: Duration, now: DateTime<Utc>) {
        let from = sub_dur(now, keep);
        let mut flaps = lock(&self.flaps);
        flaps.retain(|_, t| {
            while t.changes.front().is_some_and(|c| *c <= from) {
                t.changes.pop_front();
            }
            !t.changes.is_empty() || !t.marked.is_empty()
        });
    }
}

/// An alert as notified while flapping.
pub(crate) fn annotate_flapping(a: &Alert) -> Alert {
    let mut a = a.clone();
    a.annotations
        .insert(FLAPPING_ANNOTATION.to_string(), "true".to_string());
    a
}

/// An alert as listed in a page-budget summary.
pub(crate) fn annotate_held(a: &Alert, group_key: &str, count: u32) -> Alert {
    let mut a = a.clone();
    a.annotations
        .insert(HELD_GROUP_ANNOTATION.to_string(), group_key.to_string());
    a.annotations
        .insert(HELD_COUNT_ANNOTATION.to_string(), count.to_string());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    fn held(alerts: Vec<Alert>) -> HeldGroup {
        HeldGroup {
            alerts,
            count: 0,
            logs: Vec::new(),
            repeat_interval: Duration::from_secs(3600),
        }
    }

    #[test]
    fn budget_is_a_sliding_window_and_holds_fold() {
        let f = Fatigue::default();
        let b = Budget {
            max: 2,
            per: Duration::from_secs(3600),
        };
        assert_eq!(
            f.take_budget("r", b, "g1", held(vec![]), t(0)),
            BudgetDecision::Send
        );
        assert_eq!(
            f.take_budget("r", b, "g2", held(vec![]), t(600)),
            BudgetDecision::Send
        );
        assert_eq!(
            f.take_budget("r", b, "g3", held(vec![]), t(700)),
            BudgetDecision::Held { schedule: true }
        );
        assert_eq!(
            f.take_budget("r", b, "g3", held(vec![]), t(1000)),
            BudgetDecision::Held { schedule: false }
        );
        assert_eq!(f.refill_at("r", b, t(1000)), t(3600));
        assert!(matches!(f.take_held("r", Some(b), t(3599)), Taken::Spent));
        let Taken::Held(got) = f.take_held("r", Some(b), t(3600)) else {
            panic!("held notifications expected");
        };
        assert_eq!(got.len(), 1);
        assert_eq!(
            got["g3"].count, 1,
            "the same content held twice counts once"
        );
    }
}
