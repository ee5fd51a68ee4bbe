//! `GET /api/v1/rules` and `GET /api/v1/alerts`, shaped as Prometheus answers them:
//! the same parameters (`type`, `rule_name[]`, `rule_group[]`, `file[]`, `match[]`,
//! `exclude_alerts`), field names and order, and Go's number and string encoding.

use super::api_json::{self, JsonBuf, Notes};
use super::params::{parse_match_params, ApiError, Form};
use super::{unavailable, AppState};
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use pharos_model::Matcher;
use pharos_rules::api::{AlertView, AlertingRuleView, RecordingRuleView, RuleGroupView, RuleView};
use pharos_rules::{AlertsView, RulesFilter, RulesView};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The parsed parameters of `/api/v1/rules`.
struct RulesQuery {
    filter: RulesFilter,
    /// `match[]`: a rule is listed when its labels match any of these sets.
    matchers: Vec<Vec<Matcher>>,
}

/// Go's `strconv.ParseBool` after lowercasing, as Prometheus reads `exclude_alerts`.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "true" => Ok(true),
        "0" | "f" | "false" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

fn rules_query(form: &Form) -> Result<RulesQuery, ApiError> {
    let owned = |name: &str| -> Vec<String> {
        form.all(name)
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let matchers = parse_match_params(&form.all("match[]")).map_err(ApiError::bad_data)?;
    let typ = form.get("type").to_lowercase();
    let alerting = match typ.as_str() {
        "" => None,
        "alert" => Some(true),
        "record" => Some(false),
        _ => {
            return Err(ApiError::invalid_param(
                "type",
                format!("not supported value {typ:?}"),
            ))
        }
    };
    let exclude = form.get("exclude_alerts").to_lowercase();
    let exclude_alerts = if exclude.is_empty() {
        false
    } else {
        parse_bool(&exclude).map_err(|e| ApiError::invalid_param("exclude_alerts", e))?
    };
    Ok(RulesQuery {
        filter: RulesFilter {
            alerting,
            rule_names: owned("rule_name[]"),
            group_names: owned("rule_group[]"),
            files: owned("file[]"),
            exclude_alerts,
        },
        matchers,
    })
}

/// Keeps the rules whose labels match one of `sets`; groups left empty go, as
/// Prometheus leaves out groups a filter emptied.
fn filter_by_labels(view: &mut RulesView, sets: &[Vec<Matcher>]) {
    if sets.is_empty() {
        return;
    }
    let matches = |labels: &BTreeMap<String, String>| {
        sets.iter().any(|set| {
            set.iter()
                .all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
        })
    };
    for g in &mut view.groups {
        g.rules.retain(|r| match r {
            RuleView::Alerting(a) => matches(&a.labels),
            RuleView::Recording(r) => matches(&r.labels),
        });
    }
    view.groups.retain(|g| !g.rules.is_empty());
}

/// `GET /api/v1/rules`.
pub async fn rules(State(st): State<Arc<AppState>>, uri: Uri) -> Response {
    let Some(rules) = st.rules.get().cloned() else {
        return unavailable();
    };
    let q = match rules_query(&Form::parse(uri.query(), None)) {
        Ok(q) => q,
        Err(e) => return api_json::error(&e),
    };
    // Taking the snapshot waits for groups evaluating right now.
    let filter = q.filter;
    let view = match tokio::task::spawn_blocking(move || rules.rules_view(&filter)).await {
        Ok(v) => v,
        Err(e) => {
            return api_json::error(&ApiError::new(
                super::params::ErrorKind::Internal,
                format!("listing rules failed: {e}"),
            ))
        }
    };
    let mut view = view;
    filter_by_labels(&mut view, &q.matchers);
    api_json::success(&Notes::default(), |j| write_rules(j, &view))
}

/// `GET /api/v1/alerts`.
pub async fn alerts(State(st): State<Arc<AppState>>) -> Response {
    let Some(rules) = st.rules.get().cloned() else {
        return unavailable();
    };
    match tokio::task::spawn_blocking(move || rules.alerts_view()).await {
        Ok(view) => api_json::success(&Notes::default(), |j| write_alerts(j, &view)),
        Err(e) => api_json::error(&ApiError::new(
            super::params::ErrorKind::Internal,
            format!("listing alerts failed: {e}"),
        )),
    }
}

fn write_map(j: &mut JsonBuf, m: &BTreeMap<String, String>) {
    j.begin_object();
    for (k, v) in m {
        j.key_string(k, v);
    }
    j.end_object();
}

pub(crate) fn write_rules(j: &mut JsonBuf, v: &RulesView) {
    j.begin_object();
    j.key("groups");
    j.begin_array();
    for g in &v.groups {
        write_group(j, g);
    }
    j.end_array();
    j.end_object();
}

fn write_group(j: &mut JsonBuf, g: &RuleGroupView) {
    j.begin_object();
    j.key_string("name", &g.name);
    j.key_string("file", &g.file);
    j.key("rules");
    j.begin_array();
    for r in &g.rules {
        match r {
            RuleView::Alerting(a) => write_alerting_rule(j, a),
            RuleView::Recording(r) => write_recording_rule(j, r),
        }
    }
    j.end_array();
    j.key("interval");
    j.float(g.interval);
    j.key("limit");
    j.int(g.limit);
    j.key("evaluationTime");
    j.float(g.evaluation_time);
    j.key_string("lastEvaluation", &g.last_evaluation);
    j.end_object();
}

/// `health`, `lastError` (left out when empty, as Go's `omitempty` does),
/// `evaluationTime`, `lastEvaluation` and `type`: the tail both rule kinds share.
fn write_rule_tail(
    j: &mut JsonBuf,
    health: &str,
    last_error: &str,
    evaluation_time: f64,
    last_evaluation: &str,
    kind: &str,
) {
    j.key_string("health", health);
    if !last_error.is_empty() {
        j.key_string("lastError", last_error);
    }
    j.key("evaluationTime");
    j.float(evaluation_time);
    j.key_string("lastEvaluation", last_evaluation);
    j.key_string("type", kind);
}

fn write_alerting_rule(j: &mut JsonBuf, r: &AlertingRuleView) {
    j.begin_object();
    j.key_string("state", &r.state);
    j.key_string("name", &r.name);
    j.key_string("query", &r.query);
    j.key("duration");
    j.float(r.duration);
    j.key("keepFiringFor");
    j.float(r.keep_firing_for);
    j.key("labels");
    write_map(j, &r.labels);
    j.key("annotations");
    write_map(j, &r.annotations);
    j.key("alerts");
    j.begin_array();
    for a in &r.alerts {
        write_alert(j, a);
    }
    j.end_array();
    write_rule_tail(
        j,
        &r.health,
        &r.last_error,
        r.evaluation_time,
        &r.last_evaluation,
        r.kind,
    );
    j.end_object();
}

fn write_recording_rule(j: &mut JsonBuf, r: &RecordingRuleView) {
    j.begin_object();
    j.key_string("name", &r.name);
    j.key_string("query", &r.query);
    j.key("labels");
    write_map(j, &r.labels);
    write_rule_tail(
        j,
        &r.health,
        &r.last_error,
        r.evaluation_time,
        &r.last_evaluation,
        r.kind,
    );
    j.end_object();
}

fn write_alert(j: &mut JsonBuf, a: &AlertView) {
    j.begin_object();
    j.key("labels");
    write_map(j, &a.labels);
    j.key("annotations");
    write_map(j, &a.annotations);
    j.key_string("state", &a.state);
    j.key_string("activeAt", &a.active_at);
    if let Some(since) = &a.keep_firing_since {
        j.key_string("keepFiringSince", since);
    }
    j.key_string("value", &a.value);
    j.end_object();
}

pub(crate) fn write_alerts(j: &mut JsonBuf, v: &AlertsView) {
    j.begin_object();
    j.key("alerts");
    j.begin_array();
    for a in &v.alerts {
        write_alert(j, a);
    }
    j.end_array();
    j.end_object();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> Result<RulesQuery, ApiError> {
        rules_query(&Form::parse(Some(q), None))
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sample_view() -> RulesView {
        RulesView {
            groups: vec![RuleGroupView {
                name: "g".into(),
                file: "r.yml".into(),
                rules: vec![
                    RuleView::Alerting(AlertingRuleView {
                        state: "firing".into(),
                        name: "High".into(),
                        query: "x > 1".into(),
                        duration: 2.0,
                        keep_firing_for: 0.0,
                        labels: labels(&[("severity", "page")]),
                        annotations: labels(&[("summary", "<b>high</b>")]),
                        alerts: vec![AlertView {
                            labels: labels(&[("alertname", "High")]),
                            annotations: BTreeMap::new(),
                            state: "firing".into(),
                            active_at: "2026-11-21T10:00:00Z".into(),
                            keep_firing_since: None,
                            value: "7e+00".into(),
                        }],
                        health: "ok".into(),
                        last_error: String::new(),
                        evaluation_time: 0.000_25,
                        last_evaluation: "2026-11-21T10:00:01.5Z".into(),
                        kind: "alerting",
                    }),
                    RuleView::Recording(RecordingRuleView {
                        name: "job:x:sum".into(),
                        query: "sum(x)".into(),
                        labels: BTreeMap::new(),
                        health: "err".into(),
                        last_error: "boom".into(),
                        evaluation_time: 1e-7,
                        last_evaluation: "0001-01-01T00:00:00Z".into(),
                        kind: "recording",
                    }),
                ],
                interval: 1.0,
                limit: 0,
                evaluation_time: 0.5,
                last_evaluation: "2026-11-21T10:00:01.5Z".into(),
            }],
        }
    }

    #[test]
    fn rules_json_matches_prometheus_field_order_and_encoding() {
        let mut j = JsonBuf::new();
        write_rules(&mut j, &sample_view());
        assert_eq!(
            j.into_string(),
            concat!(
                r#"{"groups":[{"name":"g","file":"r.yml","rules":["#,
                r#"{"state":"firing","name":"High","query":"x \u003e 1","duration":2,"keepFiringFor":0,"#,
                r#""labels":{"severity":"page"},"annotations":{"summary":"\u003cb\u003ehigh\u003c/b\u003e"},"#,
                r#""alerts":[{"labels":{"alertname":"High"},"annotations":{},"state":"firing","#,
                r#""activeAt":"2026-11-21T10:00:00Z","value":"7e+00"}],"#,
                r#""health":"ok","evaluationTime":0.00025,"lastEvaluation":"2026-11-21T10:00:01.5Z","type":"alerting"},"#,
                r#"{"name":"job:x:sum","query":"sum(x)","labels":{},"health":"err","lastError":"boom","#,
                r#""evaluationTime":1e-07,"lastEvaluation":"0001-01-01T00:00:00Z","type":"recording"}],"#,
                r#""interval":1,"limit":0,"evaluationTime":0.5,"lastEvaluation":"2026-11-21T10:00:01.5Z"}]}"#
            )
        );
    }

    #[test]
    fn parameters_are_read_as_prometheus_reads_them() {
        let q = query(
            "type=ALERT&rule_name[]=a&rule_name[]=b&rule_group[]=g&file[]=f&exclude_alerts=True",
        )
        .unwrap();
        assert_eq!(q.filter.alerting, Some(true));
        assert_eq!(q.filter.rule_names, ["a", "b"]);
        assert_eq!(q.filter.group_names, ["g"]);
        assert_eq!(q.filter.files, ["f"]);
        assert!(q.filter.exclude_alerts);
        assert_eq!(query("type=record").unwrap().filter.alerting, Some(false));
        assert!(!query("exclude_alerts=0").unwrap().filter.exclude_alerts);
        let e = query("type=x").err().unwrap();
        assert_eq!(
            e.msg,
            "invalid parameter \"type\": not supported value \"x\""
        );
        let e = query("exclude_alerts=maybe").err().unwrap();
        assert_eq!(
            e.msg,
            "invalid parameter \"exclude_alerts\": strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert!(query("match[]={").is_err());
    }

    #[test]
    fn match_filters_rules_by_their_labels() {
        let mut v = sample_view();
        let q = query("match[]={severity=\"page\"}").unwrap();
        filter_by_labels(&mut v, &q.matchers);
        assert_eq!(v.groups[0].rules.len(), 1);
        let mut v = sample_view();
        let q = query("match[]={severity=\"none\"}").unwrap();
        filter_by_labels(&mut v, &q.matchers);
        assert!(v.groups.is_empty());
    }

    #[test]
    fn alerts_json() {
        let mut j = JsonBuf::new();
        write_alerts(&mut j, &AlertsView { alerts: Vec::new() });
        assert_eq!(j.into_string(), r#"{"alerts":[]}"#);
    }
}
