//! Sloth's `prometheus/v1` spec (<https://sloth.dev>): one service, its labels and
//! a list of SLOs with an `events` or `raw` SLI. Sloth's SLI plugins run Go code
//! Pharos does not have, so a `plugin` SLI is refused. Sloth specs are always 30d
//! (Sloth's default period); the windows catalog handles the rest.

use super::{decode, labels};
use crate::model::{
    AlertSettings, Alerting, BudgetPolicy, EventKind, QueryTemplate, Sli, Slo, SpecError,
    SpecFormat, TimeWindow,
};
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Spec {
    #[allow(dead_code)]
    version: String,
    service: String,
    #[serde(default, deserialize_with = "labels")]
    labels: BTreeMap<String, String>,
    slos: Vec<Value>,
}

#[derive(Deserialize)]
struct SloSpec {
    name: String,
    objective: f64,
    #[serde(default)]
    description: String,
    #[serde(default, deserialize_with = "labels")]
    labels: BTreeMap<String, String>,
    sli: SliSpec,
    #[serde(default)]
    alerting: AlertingSpec,
}

#[derive(Deserialize)]
struct SliSpec {
    events: Option<Events>,
    raw: Option<Raw>,
    plugin: Option<Value>,
}

#[derive(Deserialize)]
struct Events {
    error_query: String,
    total_query: String,
}

#[derive(Deserialize)]
struct Raw {
    error_ratio_query: String,
}

#[derive(Default, Deserialize)]
struct AlertingSpec {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "labels")]
    labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "labels")]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    page_alert: AlertSpec,
    #[serde(default)]
    ticket_alert: AlertSpec,
}

#[derive(Default, Deserialize)]
struct AlertSpec {
    #[serde(default)]
    disable: bool,
    #[serde(default, deserialize_with = "labels")]
    labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "labels")]
    annotations: BTreeMap<String, String>,
}

impl From<AlertSpec> for AlertSettings {
    fn from(a: AlertSpec) -> Self {
        AlertSettings {
            disabled: a.disable,
            // Sloth has no runbook field; a `runbook` annotation is used as written.
            runbook: None,
            labels: a.labels,
            annotations: a.annotations,
        }
    }
}

/// Translates one Sloth document.
pub fn translate(doc: Value, source: &str) -> Result<Vec<Slo>, Vec<SpecError>> {
    let spec: Spec = decode(doc, source, None, "").map_err(|e| vec![e])?;
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for (i, v) in spec.slos.into_iter().enumerate() {
        let hint = v
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("#{}", i + 1));
        let prefix = format!("slos[{i}]");
        let s: SloSpec = match decode(v, source, Some(&hint), &prefix) {
            Ok(s) => s,
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        let sli = match (s.sli.events, s.sli.raw, s.sli.plugin) {
            (_, _, Some(_)) => {
                errs.push(SpecError::new(
                    source,
                    Some(&s.name),
                    &format!("{prefix}.sli.plugin"),
                    "Sloth SLI plugins are not supported; use `events` or `raw`",
                ));
                continue;
            }
            (Some(e), None, None) => Sli::Events {
                kind: EventKind::Bad,
                events: QueryTemplate(e.error_query),
                total: QueryTemplate(e.total_query),
            },
            (None, Some(r), None) => Sli::Raw {
                error_ratio: QueryTemplate(r.error_ratio_query),
            },
            _ => {
                errs.push(SpecError::new(
                    source,
                    Some(&s.name),
                    &format!("{prefix}.sli"),
                    "exactly one of `events` and `raw` must be set",
                ));
                continue;
            }
        };
        let mut labels = spec.labels.clone();
        labels.extend(s.labels);
        out.push(Slo {
            service: spec.service.clone(),
            name: s.name,
            description: s.description,
            objective: s.objective,
            window: TimeWindow::Rolling { days: 30 },
            sli,
            labels,
            alerting: Alerting {
                name: s.alerting.name.filter(|n| !n.is_empty()),
                labels: s.alerting.labels,
                annotations: s.alerting.annotations,
                page: s.alerting.page_alert.into(),
                ticket: s.alerting.ticket_alert.into(),
            },
            policy: BudgetPolicy::default(),
            min_events: 0,
            maintenance: Vec::new(),
            format: SpecFormat::Sloth,
            source: source.to_string(),
        });
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}
