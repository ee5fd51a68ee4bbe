//! Serializable views in the JSON shape of Prometheus's `/api/v1/rules` and
//! `/api/v1/alerts` (the `data` part of the response).

use crate::alerting::{to_map, Alert, AlertingRule};
use crate::group::{Group, Rule, RuleKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RulesView {
    pub groups: Vec<RuleGroupView>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuleGroupView {
    pub name: String,
    pub file: String,
    pub rules: Vec<RuleView>,
    /// Seconds.
    pub interval: f64,
    pub limit: i64,
    /// Seconds the last evaluation took.
    pub evaluation_time: f64,
    /// RFC 3339; Go's zero time when never evaluated.
    pub last_evaluation: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum RuleView {
    Alerting(AlertingRuleView),
    Recording(RecordingRuleView),
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AlertingRuleView {
    /// `inactive`, `pending` or `firing` (`unknown` before the first evaluation).
    pub state: String,
    pub name: String,
    pub query: String,
    /// `for`, in seconds.
    pub duration: f64,
    pub keep_firing_for: f64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub alerts: Vec<AlertView>,
    pub health: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    pub evaluation_time: f64,
    pub last_evaluation: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecordingRuleView {
    pub name: String,
    pub query: String,
    pub labels: BTreeMap<String, String>,
    pub health: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    pub evaluation_time: f64,
    pub last_evaluation: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: String,
    pub active_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_firing_since: Option<String>,
    /// The value in Go's `%e` shortest form, as a string (`1e+00`).
    pub value: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AlertsView {
    pub alerts: Vec<AlertView>,
}

/// Which rules `/api/v1/rules` shows (its `type`, `rule_name[]`, `rule_group[]`,
/// `file[]` and `exclude_alerts` parameters).
#[derive(Clone, Debug, Default)]
pub struct RulesFilter {
    /// `Some(true)` alerting only, `Some(false)` recording only.
    pub alerting: Option<bool>,
    pub rule_names: Vec<String>,
    pub group_names: Vec<String>,
    pub files: Vec<String>,
    pub exclude_alerts: bool,
}

/// The `/api/v1/rules` data for `groups`.
pub fn rules_view(groups: &[Group], filter: &RulesFilter) -> RulesView {
    let keep = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
    let groups = groups
        .iter()
        .filter(|g| keep(&filter.group_names, &g.name) && keep(&filter.files, &g.file))
        .filter_map(|g| {
            let rules: Vec<RuleView> = g
                .rules
                .iter()
                .filter(|r| keep(&filter.rule_names, r.name()))
                .filter(|r| match filter.alerting {
                    Some(a) => a == r.as_alerting().is_some(),
                    None => true,
                })
                .map(|r| rule_view(r, filter.exclude_alerts))
                .collect();
            // A group emptied by a rule filter is left out, as upstream does.
            if rules.is_empty() && (filter.alerting.is_some() || !filter.rule_names.is_empty()) {
                return None;
            }
            Some(RuleGroupView {
                name: g.name.clone(),
                file: g.file.clone(),
                rules,
                interval: g.interval_ms as f64 / 1000.0,
                limit: g.limit,
                evaluation_time: g.evaluation_duration.as_secs_f64(),
                last_evaluation: rfc3339(g.last_evaluation),
            })
        })
        .collect();
    RulesView { groups }
}

fn rule_view(r: &Rule, exclude_alerts: bool) -> RuleView {
    let health = r.health.as_str().to_string();
    let last_error = r.last_error.clone().unwrap_or_default();
    let evaluation_time = r.evaluation_duration.as_secs_f64();
    let last_evaluation = rfc3339(r.last_evaluation);
    match &r.kind {
        RuleKind::Alerting(a) => RuleView::Alerting(AlertingRuleView {
            state: a.state().as_str().to_string(),
            name: a.name.clone(),
            query: a.expr.clone(),
            duration: a.hold_ms as f64 / 1000.0,
            keep_firing_for: a.keep_firing_for_ms as f64 / 1000.0,
            labels: to_map(&a.labels),
            annotations: to_map(&a.annotations),
            alerts: if exclude_alerts {
                Vec::new()
            } else {
                alert_views(a)
            },
            health,
            last_error,
            evaluation_time,
            last_evaluation,
            kind: "alerting",
        }),
        RuleKind::Recording(rr) => RuleView::Recording(RecordingRuleView {
            name: rr.name.clone(),
            query: rr.expr.clone(),
            labels: to_map(&rr.labels),
            health,
            last_error,
            evaluation_time,
            last_evaluation,
            kind: "recording",
        }),
    }
}

fn alert_views(r: &AlertingRule) -> Vec<AlertView> {
    r.active_alerts().iter().map(alert_view).collect()
}

/// One alert as the API shows it.
pub fn alert_view(a: &Alert) -> AlertView {
    AlertView {
        labels: to_map(&a.labels),
        annotations: to_map(&a.annotations),
        state: a.state.as_str().to_string(),
        active_at: rfc3339_ms(a.active_at),
        keep_firing_since: a.keep_firing_since.map(rfc3339_ms),
        value: go_float_lower_e(a.value),
    }
}

/// The `/api/v1/alerts` data: every pending or firing alert.
pub fn alerts_view(groups: &[Group]) -> AlertsView {
    AlertsView {
        alerts: groups
            .iter()
            .flat_map(|g| g.alerting_rules())
            .flat_map(alert_views)
            .collect(),
    }
}

fn go_float_lower_e(v: f64) -> String {
    let s = crate::format::go_float_e(v);
    if v.is_finite() {
        s.replace('E', "e")
    } else {
        s
    }
}

/// Go's `time.Time` JSON form (RFC 3339 with nanoseconds trimmed).
fn rfc3339(t: Option<SystemTime>) -> String {
    match t {
        None => "0001-01-01T00:00:00Z".into(),
        Some(t) => {
            let dt: chrono::DateTime<chrono::Utc> = t.into();
            dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        }
    }
}

fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
}
