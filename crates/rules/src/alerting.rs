//! Alerting rules: the inactive → pending → firing state machine per label set, with
//! `for`, `keep_firing_for`, templated labels and annotations, resolved alerts kept for
//! 15 minutes so their resolution is still sent, and the `ALERTS` / `ALERTS_FOR_STATE`
//! series.

use crate::error::RuleEvalError;
use crate::storage::QueryFunc;
use crate::template::{AlertContext, TemplateSample, Templates};
use pharos_model::{Label, Labels, METRIC_NAME};
use std::collections::{BTreeMap, HashMap};

pub const ALERT_METRIC_NAME: &str = "ALERTS";
pub const ALERT_FOR_STATE_METRIC_NAME: &str = "ALERTS_FOR_STATE";
pub const ALERT_NAME_LABEL: &str = "alertname";
pub const ALERT_STATE_LABEL: &str = "alertstate";

/// How long a resolved alert is still reported (and re-sent) after it resolved.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    /// Not evaluated yet.
    Unknown,
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Unknown => "unknown",
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One instance of an alerting rule: a label set the expression returned. Times are
/// milliseconds since the epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub state: AlertState,
    pub labels: Labels,
    pub annotations: Labels,
    /// The expression's value at the last evaluation.
    pub value: f64,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub valid_until: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        // A resolution not sent yet goes out at once.
        if let Some(r) = self.resolved_at {
            if self.last_sent_at.is_none_or(|s| r > s) {
                return true;
            }
        }
        match self.last_sent_at {
            None => true,
            Some(s) => s + resend_delay_ms < ts,
        }
    }
}

/// Settings an alerting rule needs from its group and the server.
pub struct AlertEnv<'a> {
    pub query: &'a dyn QueryFunc,
    pub templates: &'a dyn Templates,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
}

#[derive(Clone, Debug)]
pub struct AlertingRule {
    pub name: String,
    pub expr: String,
    pub hold_ms: i64,
    pub keep_firing_for_ms: i64,
    /// Rule labels (group labels merged in), still unexpanded.
    pub labels: Labels,
    pub annotations: Labels,
    /// Whether the `for` state was restored (or needs no restoring); until then the
    /// `ALERTS` series are not written.
    pub restored: bool,
    pub(crate) active: HashMap<Labels, Alert>,
    pub(crate) evaluated: bool,
}

impl AlertingRule {
    pub fn new(
        name: String,
        expr: String,
        hold_ms: i64,
        keep_firing_for_ms: i64,
        labels: Labels,
        annotations: Labels,
        restored: bool,
    ) -> Self {
        AlertingRule {
            name,
            expr,
            hold_ms,
            keep_firing_for_ms,
            labels,
            annotations,
            restored,
            active: HashMap::new(),
            evaluated: false,
        }
    }

    /// Evaluates at `ts`, querying at `ts - query_offset`; returns the `ALERTS` and
    /// `ALERTS_FOR_STATE` samples to write.
    pub fn eval(
        &mut self,
        env: &AlertEnv<'_>,
        ts: i64,
        query_offset_ms: i64,
        limit: i64,
    ) -> Result<Vec<(Labels, i64, f64)>, RuleEvalError> {
        self.evaluated = true;
        let res = env.query.query(&self.expr, ts - query_offset_ms)?;
        let template_query = |q: &str, t: i64| -> Result<Vec<TemplateSample>, String> {
            env.query
                .query(q, t)
                .map(|v| {
                    v.into_iter()
                        .map(|s| TemplateSample {
                            labels: to_map(&s.labels),
                            value: s.v,
                        })
                        .collect()
                })
                .map_err(|e| e.to_string())
        };
        let mut fresh: HashMap<Labels, Alert> = HashMap::with_capacity(res.len());
        for smpl in res {
            let map = to_map(&smpl.labels);
            let ctx = AlertContext {
                labels: &map,
                external_labels: env.external_labels,
                external_url: env.external_url,
                value: smpl.v,
            };
            let expand = |text: &str| -> String {
                // Text without actions expands to itself; skip the template engine.
                if !text.contains("{{") {
                    return text.to_string();
                }
                env.templates
                    .expand(&self.name, text, &ctx, ts, &template_query)
                    .unwrap_or_else(|e| {
                        tracing::warn!(alert = %self.name, err = %e, "Expanding alert template failed");
                        format!("<error expanding template: {e}>")
                    })
            };
            let mut lb: BTreeMap<String, String> = map.clone();
            lb.remove(METRIC_NAME);
            for l in self.labels.iter() {
                lb.insert(l.name.clone(), expand(&l.value));
            }
            lb.insert(ALERT_NAME_LABEL.into(), self.name.clone());
            let labels = Labels::from_sorted(
                lb.into_iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(n, v)| Label::new(n, v))
                    .collect(),
            );
            let annotations = Labels::from_sorted(
                self.annotations
                    .iter()
                    .map(|a| Label::new(a.name.clone(), expand(&a.value)))
                    .collect(),
            );
            if fresh.contains_key(&labels) {
                return Err(RuleEvalError::DuplicateAlertLabelSet);
            }
            fresh.insert(
                labels.clone(),
                Alert {
                    state: AlertState::Pending,
                    labels,
                    annotations,
                    value: smpl.v,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: None,
                    keep_firing_since: None,
                },
            );
        }

        let result_keys: std::collections::HashSet<Labels> = fresh.keys().cloned().collect();
        for (k, a) in fresh {
            match self.active.get_mut(&k) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations;
                }
                _ => {
                    self.active.insert(k, a);
                }
            }
        }

        let mut out = Vec::new();
        let mut num_active = 0i64;
        let mut keys: Vec<Labels> = self.active.keys().cloned().collect();
        keys.sort();
        for k in keys {
            let in_result = result_keys.contains(&k);
            let Some(a) = self.active.get_mut(&k) else {
                continue;
            };
            if !in_result {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < self.keep_firing_for_ms;
                }
                let expired = a.state == AlertState::Pending
                    || a.resolved_at
                        .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS);
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if expired {
                    self.active.remove(&k);
                    continue;
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            num_active += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= self.hold_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            // A shorter `for` after a reload can only delay, never undo, firing; a
            // longer one sends a firing alert back to pending.
            if a.state == AlertState::Firing && ts - a.active_at < self.hold_ms {
                a.state = AlertState::Pending;
                a.fired_at = None;
                a.last_sent_at = None;
                a.keep_firing_since = None;
            }
            if self.restored {
                let t = ts - query_offset_ms;
                let a = a.clone();
                out.push((self.alert_series(&a, true), t, 1.0));
                out.push((
                    self.alert_series(&a, false),
                    t,
                    a.active_at.div_euclid(1000) as f64,
                ));
            }
        }
        if limit > 0 && num_active > limit {
            self.active.clear();
            return Err(RuleEvalError::Limit {
                limit,
                got: num_active,
                what: "alerts",
            });
        }
        Ok(out)
    }

    /// `ALERTS{…, alertstate}` (with `state`) or `ALERTS_FOR_STATE{…}` for an alert.
    fn alert_series(&self, a: &Alert, with_state: bool) -> Labels {
        let mut lb: BTreeMap<String, String> = to_map(&self.labels);
        lb.extend(a.labels.iter().map(|l| (l.name.clone(), l.value.clone())));
        let name = if with_state {
            lb.insert(ALERT_STATE_LABEL.into(), a.state.as_str().into());
            ALERT_METRIC_NAME
        } else {
            ALERT_FOR_STATE_METRIC_NAME
        };
        lb.insert(METRIC_NAME.into(), name.into());
        lb.insert(ALERT_NAME_LABEL.into(), self.name.clone());
        Labels::from_pairs(lb)
    }

    /// The highest state among the rule's alerts; `Unknown` before the first evaluation.
    pub fn state(&self) -> AlertState {
        if !self.evaluated {
            return AlertState::Unknown;
        }
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
            .max(AlertState::Inactive)
    }

    /// Alerts that are pending or firing (resolved ones left out), sorted by labels.
    pub fn active_alerts(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self
            .active
            .values()
            .filter(|a| a.resolved_at.is_none())
            .cloned()
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// Every alert held, resolved ones included.
    pub fn all_alerts(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self.active.values().cloned().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// The alerts due for sending at `ts`, marked as sent.
    pub fn alerts_to_send(
        &mut self,
        ts: i64,
        resend_delay_ms: i64,
        interval_ms: i64,
    ) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.needs_sending(ts, resend_delay_ms) {
                a.last_sent_at = Some(ts);
                // Valid across two missed evaluations or sends.
                a.valid_until = Some(ts + 4 * interval_ms.max(resend_delay_ms));
                out.push(a.clone());
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Matchers-worth of labels identifying this rule's `ALERTS_FOR_STATE` series:
    /// templated rule labels are left out since their stored values differ.
    pub fn for_state_selector(&self) -> Vec<(String, String)> {
        let mut lb: BTreeMap<String, String> = to_map(&self.labels);
        lb.insert(METRIC_NAME.into(), ALERT_FOR_STATE_METRIC_NAME.into());
        lb.insert(ALERT_NAME_LABEL.into(), self.name.clone());
        lb.into_iter().filter(|(_, v)| !v.contains("{{")).collect()
    }

    /// Sets the active time of the alert with these labels (for-state restoration).
    pub(crate) fn active_alerts_mut(&mut self) -> impl Iterator<Item = &mut Alert> {
        self.active.values_mut()
    }
}

pub(crate) fn to_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect()
}
