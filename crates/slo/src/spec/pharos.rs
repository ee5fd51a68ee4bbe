//! Pharos's own SLO shape, used by `pharos.yml`'s `slos:` and by spec files with a
//! top-level `slos:` list:
//!
//! ```yaml
//! slos:
//!   - service: checkout
//!     name: availability
//!     objective: 99.9            # percent
//!     window: 30d                # 7d, 28d, 30d or calendar-month
//!     sli:
//!       bad_events: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
//!       total_events: sum(rate(http_requests_total[{{.window}}]))
//!       # or good_events + total_events, error_ratio, or
//!       # latency: {histogram: http_request_duration_seconds, matchers: 'job="a"', threshold: 0.3}
//!     labels: {team: payments}
//!     alerting:
//!       name: CheckoutAvailabilityBudgetBurn
//!       page: {runbook: https://runbooks/checkout, labels: {team: payments}}
//!       ticket: {disable: true}
//!     budget_policy: {warning_below: 25, exhausted_below: 10}   # percent remaining
//!     min_events: 100
//!     maintenance:
//!       - {start: "2026-03-01T02:00:00Z", end: "2026-03-01T04:00:00Z"}
//! ```
//!
//! Unknown fields are errors: a typo in a hand-written spec should not silently
//! drop an alert or a policy.

use super::{decode, labels};
use crate::model::{
    AlertSettings, Alerting, BudgetPolicy, EventKind, Maintenance, QueryTemplate, Sli, Slo,
    SpecError, SpecFormat, TimeWindow,
};
use crate::query;
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SloSpec {
    service: String,
    name: String,
    #[serde(default)]
    description: String,
    objective: f64,
    #[serde(default)]
    window: Option<String>,
    sli: SliSpec,
    #[serde(default, deserialize_with = "labels")]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    alerting: AlertingSpec,
    #[serde(default)]
    budget_policy: PolicySpec,
    #[serde(default)]
    min_events: u64,
    #[serde(default)]
    maintenance: Vec<MaintenanceSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SliSpec {
    good_events: Option<String>,
    bad_events: Option<String>,
    total_events: Option<String>,
    error_ratio: Option<String>,
    latency: Option<LatencySpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencySpec {
    histogram: String,
    #[serde(default)]
    matchers: String,
    /// Seconds (or the histogram's unit): requests at or under it are good.
    threshold: f64,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertingSpec {
    name: Option<String>,
    #[serde(default, deserialize_with = "labels")]
    labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "labels")]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    page: AlertSpec,
    #[serde(default)]
    ticket: AlertSpec,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertSpec {
    #[serde(default)]
    disable: bool,
    runbook: Option<String>,
    #[serde(default, deserialize_with = "labels")]
    labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "labels")]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySpec {
    #[serde(default = "default_warning")]
    warning_below: f64,
    #[serde(default = "default_exhausted")]
    exhausted_below: f64,
}

fn default_warning() -> f64 {
    25.0
}

fn default_exhausted() -> f64 {
    10.0
}

impl Default for PolicySpec {
    fn default() -> Self {
        PolicySpec {
            warning_below: default_warning(),
            exhausted_below: default_exhausted(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceSpec {
    start: String,
    end: String,
}

impl From<AlertSpec> for AlertSettings {
    fn from(a: AlertSpec) -> Self {
        AlertSettings {
            disabled: a.disable,
            runbook: a.runbook.filter(|r| !r.is_empty()),
            labels: a.labels,
            annotations: a.annotations,
        }
    }
}

/// Translates a `slos:` list (from a spec file or `pharos.yml`).
pub fn translate(list: &Value, source: &str) -> Result<Vec<Slo>, Vec<SpecError>> {
    let Some(items) = list.as_sequence() else {
        return Err(vec![SpecError::new(source, None, "slos", "must be a list")]);
    };
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for (i, v) in items.iter().enumerate() {
        let hint = v
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("#{}", i + 1));
        let prefix = format!("slos[{i}]");
        match decode::<SloSpec>(v.clone(), source, Some(&hint), &prefix)
            .and_then(|s| convert(s, source, &prefix))
        {
            Ok(s) => out.push(s),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

fn convert(s: SloSpec, source: &str, prefix: &str) -> Result<Slo, SpecError> {
    let err = |field: &str, msg: String| {
        SpecError::new(source, Some(&s.name), &format!("{prefix}.{field}"), msg)
    };
    let window = match s.window.as_deref().unwrap_or("30d") {
        "calendar-month" | "calendar_month" | "month" => TimeWindow::CalendarMonth,
        w => match query::parse_duration(w).map(|secs| secs / 86_400) {
            Some(d @ (7 | 28 | 30)) if query::parse_duration(w) == Some(d * 86_400) => {
                TimeWindow::Rolling { days: d as u32 }
            }
            _ => {
                return Err(err(
                    "window",
                    format!("unsupported window {w:?}: use 7d, 28d, 30d or calendar-month"),
                ))
            }
        },
    };
    let windowed = |field: &str, q: String| -> Result<QueryTemplate, SpecError> {
        if query::has_window(&q) {
            Ok(QueryTemplate(q))
        } else {
            Err(err(
                field,
                "must contain the {{.window}} placeholder (e.g. rate(x[{{.window}}]))".into(),
            ))
        }
    };
    let sli = &s.sli;
    let sli = match (
        &sli.good_events,
        &sli.bad_events,
        &sli.total_events,
        &sli.error_ratio,
        &sli.latency,
    ) {
        (Some(g), None, Some(t), None, None) => Sli::Events {
            kind: EventKind::Good,
            events: windowed("sli.good_events", g.clone())?,
            total: windowed("sli.total_events", t.clone())?,
        },
        (None, Some(b), Some(t), None, None) => Sli::Events {
            kind: EventKind::Bad,
            events: windowed("sli.bad_events", b.clone())?,
            total: windowed("sli.total_events", t.clone())?,
        },
        (None, None, None, Some(r), None) => Sli::Raw {
            error_ratio: windowed("sli.error_ratio", r.clone())?,
        },
        (None, None, None, None, Some(l)) => {
            if !(l.threshold.is_finite() && l.threshold > 0.0) {
                return Err(err(
                    "sli.latency.threshold",
                    "must be a positive number".into(),
                ));
            }
            let (good, total) = query::latency_queries(&l.histogram, &l.matchers, l.threshold);
            Sli::Events {
                kind: EventKind::Good,
                events: QueryTemplate(good),
                total: QueryTemplate(total),
            }
        }
        _ => {
            return Err(err(
                "sli",
                "set exactly one of: good_events + total_events, bad_events + total_events, \
                 error_ratio, latency"
                    .into(),
            ))
        }
    };
    let mut maintenance = Vec::new();
    for (i, m) in s.maintenance.iter().enumerate() {
        let parse = |field: &str, t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.timestamp())
                .map_err(|e| {
                    err(
                        &format!("maintenance[{i}].{field}"),
                        format!("not an RFC 3339 time {t:?}: {e}"),
                    )
                })
        };
        maintenance.push(Maintenance {
            start: parse("start", &m.start)?,
            end: parse("end", &m.end)?,
        });
    }
    Ok(Slo {
        service: s.service.clone(),
        name: s.name.clone(),
        description: s.description,
        objective: s.objective,
        window,
        sli,
        labels: s.labels,
        alerting: Alerting {
            name: s.alerting.name.filter(|n| !n.is_empty()),
            labels: s.alerting.labels,
            annotations: s.alerting.annotations,
            page: s.alerting.page.into(),
            ticket: s.alerting.ticket.into(),
        },
        policy: BudgetPolicy {
            warning_below: s.budget_policy.warning_below / 100.0,
            exhausted_below: s.budget_policy.exhausted_below / 100.0,
        },
        min_events: s.min_events,
        maintenance,
        format: SpecFormat::Pharos,
        source: source.to_string(),
    })
}
