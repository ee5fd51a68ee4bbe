//! OpenSLO v1 (<https://github.com/OpenSLO/OpenSLO>): `SLO` documents with an inline
//! `indicator` or an `indicatorRef` to an `SLI` document in the same file.
//!
//! What maps and what is refused:
//! - `ratioMetric` with `good`/`bad` + `total` from a Prometheus metric source. With
//!   `counter: true` (the default) each query is a counter selector (optionally
//!   aggregated) and is read as `rate(…[window])`; a query holding `{{.window}}` is
//!   used as written. With `counter: false` the query is a per-second gauge averaged
//!   over the window. `raw` with `rawType: failure` is an error-ratio SLI.
//! - `thresholdMetric` is read as latency: `metricSource.spec.query` names a classic
//!   histogram (optionally with matchers, with or without `_bucket`), the objective's
//!   `op: lt|lte` and `value` give the threshold, and `target` the share of requests
//!   that must be under it.
//! - `timeWindow`: rolling 7d/28d/30d (1w and 4w too) or a calendar `1M`; absent
//!   means rolling 30d. `budgetingMethod` must be `Occurrences`: time-slice budgets
//!   need a per-slice evaluation the generated rules do not do.
//! - Other kinds (`Service`, `DataSource`, `AlertPolicy`, …) are skipped: they carry
//!   nothing the generated rules use.

use super::decode;
use crate::model::{
    Alerting, BudgetPolicy, EventKind, QueryTemplate, Sli, Slo, SpecError, SpecFormat, TimeWindow,
};
use crate::query;
use regex::Regex;
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    spec: Value,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SloSpec {
    #[serde(default)]
    description: String,
    service: String,
    indicator: Option<Indicator>,
    indicator_ref: Option<String>,
    #[serde(default)]
    time_window: Vec<TimeWindowSpec>,
    budgeting_method: String,
    objectives: Vec<Objective>,
}

#[derive(Clone, Deserialize)]
struct Indicator {
    metadata: Metadata,
    spec: SliSpec,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SliSpec {
    threshold_metric: Option<Metric>,
    ratio_metric: Option<RatioMetric>,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RatioMetric {
    #[serde(default = "yes")]
    counter: bool,
    good: Option<Metric>,
    bad: Option<Metric>,
    total: Option<Metric>,
    raw: Option<Metric>,
    raw_type: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    metric_source: MetricSource,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricSource {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    spec: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeWindowSpec {
    duration: String,
    is_rolling: Option<bool>,
    calendar: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Objective {
    display_name: Option<String>,
    target: Option<f64>,
    target_percent: Option<f64>,
    op: Option<String>,
    value: Option<f64>,
    indicator: Option<Value>,
    indicator_ref: Option<String>,
}

/// Translates the OpenSLO documents of one file.
pub fn translate(docs: Vec<Value>, source: &str) -> Result<Vec<Slo>, Vec<SpecError>> {
    let mut slis: BTreeMap<String, Indicator> = BTreeMap::new();
    let mut slos = Vec::new();
    let mut errs = Vec::new();
    for v in docs {
        let hint = v
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let d: Doc = match decode(v, source, hint.as_deref(), "") {
            Ok(d) => d,
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        match d.kind.as_str() {
            "SLI" => match decode::<SliSpec>(d.spec, source, hint.as_deref(), "spec") {
                Ok(spec) => {
                    let name = d.metadata.name.clone();
                    slis.insert(
                        name,
                        Indicator {
                            metadata: d.metadata,
                            spec,
                        },
                    );
                }
                Err(e) => errs.push(e),
            },
            "SLO" => match decode::<SloSpec>(d.spec, source, hint.as_deref(), "spec") {
                Ok(spec) => slos.push((d.metadata, spec)),
                Err(e) => errs.push(e),
            },
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (meta, spec) in slos {
        match convert(&meta, spec, &slis, source) {
            Ok(s) => out.extend(s),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

fn convert(
    meta: &Metadata,
    spec: SloSpec,
    slis: &BTreeMap<String, Indicator>,
    source: &str,
) -> Result<Vec<Slo>, SpecError> {
    let name = meta.name.as_str();
    let err = |field: &str, msg: String| SpecError::new(source, Some(name), field, msg);
    if spec.budgeting_method != "Occurrences" {
        return Err(err(
            "spec.budgetingMethod",
            format!(
                "{:?} is not supported; only Occurrences (time-slice budgets are not \
                 generated)",
                spec.budgeting_method
            ),
        ));
    }
    let window = match spec.time_window.as_slice() {
        [] => TimeWindow::Rolling { days: 30 },
        [w] => time_window(w).map_err(|m| err("spec.timeWindow[0]", m))?,
        _ => {
            return Err(err(
                "spec.timeWindow",
                "must hold exactly one window".into(),
            ))
        }
    };
    let indicator = match (&spec.indicator, &spec.indicator_ref) {
        (Some(i), None) => i.clone(),
        (None, Some(r)) => slis.get(r).cloned().ok_or_else(|| {
            err(
                "spec.indicatorRef",
                format!("no SLI named {r:?} in this file"),
            )
        })?,
        _ => {
            return Err(err(
                "spec",
                "exactly one of `indicator` and `indicatorRef` must be set".into(),
            ))
        }
    };
    if spec.objectives.is_empty() {
        return Err(err(
            "spec.objectives",
            "at least one objective is needed".into(),
        ));
    }
    let mut labels = BTreeMap::new();
    for (k, v) in meta.labels.iter().chain(indicator.metadata.labels.iter()) {
        match v {
            Value::String(s) => labels.insert(k.clone(), s.clone()),
            Value::Number(n) => labels.insert(k.clone(), n.to_string()),
            Value::Bool(b) => labels.insert(k.clone(), b.to_string()),
            // OpenSLO allows label lists; a Prometheus label holds one value.
            _ => {
                return Err(err(
                    "metadata.labels",
                    format!("label {k:?}: value must be a string"),
                ))
            }
        };
    }
    let mut out = Vec::new();
    let many = spec.objectives.len() > 1;
    for (i, o) in spec.objectives.iter().enumerate() {
        let field = |f: &str| format!("spec.objectives[{i}].{f}");
        if o.indicator.is_some() || o.indicator_ref.is_some() {
            return Err(err(
                &field("indicator"),
                "composite SLOs are not supported".into(),
            ));
        }
        let objective = match (o.target, o.target_percent) {
            (Some(t), None) => t * 100.0,
            (None, Some(p)) => p,
            _ => {
                return Err(err(
                    &field("target"),
                    "exactly one of `target` and `targetPercent` must be set".into(),
                ))
            }
        };
        let sli = sli(&indicator.spec, o).map_err(|(f, m)| {
            let f = if f.starts_with("op") || f.starts_with("value") {
                field(&f)
            } else {
                format!("indicator.spec.{f}")
            };
            err(&f, m)
        })?;
        let slo_name = if many {
            let suffix = o
                .display_name
                .clone()
                .unwrap_or_else(|| format!("{}", i + 1));
            format!("{name}-{}", sanitize(&suffix))
        } else {
            name.to_string()
        };
        out.push(Slo {
            service: spec.service.clone(),
            name: slo_name,
            description: spec.description.clone(),
            objective,
            window,
            sli,
            labels: labels.clone(),
            alerting: Alerting::default(),
            policy: BudgetPolicy::default(),
            min_events: 0,
            maintenance: Vec::new(),
            format: SpecFormat::OpenSlo,
            source: source.to_string(),
        });
    }
    Ok(out)
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn time_window(w: &TimeWindowSpec) -> Result<TimeWindow, String> {
    let rolling = w.is_rolling.unwrap_or(w.calendar.is_none());
    if !rolling {
        if w.duration == "1M" {
            return Ok(TimeWindow::CalendarMonth);
        }
        return Err(format!(
            "calendar window {:?} is not supported; only 1M",
            w.duration
        ));
    }
    match query::parse_duration(&w.duration).map(|s| (s % 86_400, s / 86_400)) {
        Some((0, d @ (7 | 28 | 30))) => Ok(TimeWindow::Rolling { days: d as u32 }),
        _ => Err(format!(
            "rolling window {:?} is not supported; use 7d, 28d or 30d",
            w.duration
        )),
    }
}

/// The PromQL query of a metric source, refusing non-Prometheus sources.
fn prom_query(m: &Metric, field: &str) -> Result<String, (String, String)> {
    let src = &m.metric_source;
    if let Some(k) = &src.kind {
        if !k.eq_ignore_ascii_case("prometheus") {
            return Err((
                format!("{field}.metricSource.type"),
                format!("metric source {k:?} is not supported; only Prometheus"),
            ));
        }
    }
    src.spec
        .get("query")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            (
                format!("{field}.metricSource.spec.query"),
                "a PromQL query is required".to_string(),
            )
        })
}

fn sli(spec: &SliSpec, o: &Objective) -> Result<Sli, (String, String)> {
    match (&spec.ratio_metric, &spec.threshold_metric) {
        (Some(r), None) => ratio(r),
        (None, Some(t)) => threshold(t, o),
        _ => Err((
            "ratioMetric".into(),
            "exactly one of `ratioMetric` and `thresholdMetric` must be set".into(),
        )),
    }
}

fn ratio(r: &RatioMetric) -> Result<Sli, (String, String)> {
    let windowed = |m: &Metric, f: &str| -> Result<QueryTemplate, (String, String)> {
        let q = prom_query(m, &format!("ratioMetric.{f}"))?;
        let q = if r.counter {
            query::counter_to_rate(&q)
                .map_err(|e| (format!("ratioMetric.{f}.metricSource.spec.query"), e))?
        } else {
            query::gauge_to_rate(&q)
        };
        Ok(QueryTemplate(q))
    };
    match (&r.good, &r.bad, &r.total, &r.raw) {
        (Some(g), None, Some(t), None) => Ok(Sli::Events {
            kind: EventKind::Good,
            events: windowed(g, "good")?,
            total: windowed(t, "total")?,
        }),
        (None, Some(b), Some(t), None) => Ok(Sli::Events {
            kind: EventKind::Bad,
            events: windowed(b, "bad")?,
            total: windowed(t, "total")?,
        }),
        (None, None, None, Some(raw)) => {
            let q = prom_query(raw, "ratioMetric.raw")?;
            match r.raw_type.as_deref() {
                Some("failure") => Ok(Sli::Raw {
                    error_ratio: QueryTemplate(q),
                }),
                Some("success") => Ok(Sli::Raw {
                    error_ratio: QueryTemplate(format!("1 - ({q})")),
                }),
                _ => Err((
                    "ratioMetric.rawType".into(),
                    "must be `success` or `failure` with `raw`".into(),
                )),
            }
        }
        _ => Err((
            "ratioMetric".into(),
            "use good + total, bad + total, or raw".into(),
        )),
    }
}

fn threshold(t: &Metric, o: &Objective) -> Result<Sli, (String, String)> {
    let q = prom_query(t, "thresholdMetric")?;
    let re = Regex::new(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*?)(?:_bucket)?\s*(?:\{([^{}]*)\})?\s*$")
        .expect("static regex");
    let c = re.captures(&q).ok_or_else(|| {
        (
            "thresholdMetric.metricSource.spec.query".to_string(),
            "must name a classic histogram, e.g. http_request_duration_seconds{job=\"api\"}"
                .to_string(),
        )
    })?;
    match o.op.as_deref() {
        Some("lt" | "lte") => {}
        other => {
            return Err((
                "op".into(),
                format!("{other:?}: a latency threshold needs `lt` or `lte`"),
            ))
        }
    }
    let value = o
        .value
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| {
            (
                "value".to_string(),
                "a positive threshold is required".to_string(),
            )
        })?;
    let matchers = c.get(2).map(|m| m.as_str()).unwrap_or("");
    let (good, total) = query::latency_queries(&c[1], matchers, value);
    Ok(Sli::Events {
        kind: EventKind::Good,
        events: QueryTemplate(good),
        total: QueryTemplate(total),
    })
}
