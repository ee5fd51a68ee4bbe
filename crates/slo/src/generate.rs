//! Recording and alerting rules for SLOs, in Sloth's layout with `slo_*` labels.
//!
//! Per SLO three groups:
//! - `slo-sli-recordings-<id>`: `slo:sli_error:ratio_rate<w>` for 5m, 30m, 1h, 2h,
//!   6h, 1d, 3d, and the SLO window; with a low-traffic minimum also
//!   `slo:sli_total:rate<w>` (events per second) for the alert long windows.
//! - `slo-meta-recordings-<id>`: objective, error budget, period, current and period
//!   burn rate, budget remaining, and `slo_info`.
//! - `slo-alerts-<id>`: one page and one ticket alert, each the `or` of two
//!   multi-window conditions (see [`crate::windows`]).
//!
//! Choices the generated rules document:
//! - **No traffic.** When the total query returns 0 the error ratio is recorded as 0
//!   (SLI = 100%): nothing failed, so nothing of the budget is spent and no alert can
//!   fire; the division never sees a zero denominator. A good/total SLI whose good
//!   query returns nothing while traffic flows records 1 (everything failed). When
//!   the total query returns no series at all nothing is recorded.
//! - **SLO window.** As Sloth does, the SLO-window ratio is the mean of the 5m ratios
//!   over the window (`sum_over_time / count_over_time`), which lets maintenance
//!   gaps drop out and keeps the query cheap; with steady traffic it equals the
//!   event ratio.
//! - **Maintenance.** Fixed `[start, end)` periods are excluded by rule time
//!   conditions: each window's ratio is not recorded while that window overlaps a
//!   maintenance period (`unless on() (vector(time()) > start < end + window)`).
//!   The SLO-window ratio thus averages only 5m windows clear of maintenance, so
//!   errors inside it leave the budget untouched, and no alert fires on windows
//!   that contain it. A time condition needs no extra series and works the same in
//!   Prometheus and Pharos.
//! - **Thresholds.** Burn rates are compared with `>=` and a 1e-9 relative
//!   allowance, so an error rate exactly at the workbook's factor (1.44% for 14.4×
//!   at 99.9%) alerts despite floating-point rounding of the rate division.
//! - **Low traffic.** With `min_events`, each condition also needs at least that
//!   many events in its long window, so three requests with one failure cannot page.

use crate::model::{EventKind, Sli, Slo};
use crate::query::{float, prom_duration, quote};
use crate::windows::{alert_windows, sli_windows, AlertWindow, Severity};
use std::collections::BTreeMap;

/// One generated rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// `record` name, or `None` for an alert.
    pub record: Option<String>,
    /// `alert` name, or `None` for a recording rule.
    pub alert: Option<String>,
    pub expr: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// One generated rule group.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// Relative allowance under the burn-rate factor (see the module notes).
const FACTOR_ALLOWANCE: &str = "0.999999999";

/// The base labels every series of an SLO carries.
fn base_labels(slo: &Slo) -> BTreeMap<String, String> {
    let mut l = slo.labels.clone();
    l.insert("slo_id".into(), slo.id());
    l.insert("slo_service".into(), slo.service.clone());
    l.insert("slo_name".into(), slo.name.clone());
    l
}

/// The selector that picks one SLO's recorded series.
fn selector(slo: &Slo) -> String {
    format!(
        "{{slo_id={}, slo_service={}, slo_name={}}}",
        quote(&slo.id()),
        quote(&slo.service),
        quote(&slo.name)
    )
}

fn record(name: String, expr: String, labels: BTreeMap<String, String>) -> Rule {
    Rule {
        record: Some(name),
        alert: None,
        expr,
        labels,
        annotations: BTreeMap::new(),
    }
}

/// Rules for every SLO, in order.
pub fn generate(slos: &[Slo]) -> Vec<RuleGroup> {
    slos.iter().flat_map(generate_one).collect()
}

/// The three rule groups of one SLO.
pub fn generate_one(slo: &Slo) -> Vec<RuleGroup> {
    let id = slo.id();
    let mut groups = vec![
        RuleGroup {
            name: format!("slo-sli-recordings-{id}"),
            rules: sli_rules(slo),
        },
        RuleGroup {
            name: format!("slo-meta-recordings-{id}"),
            rules: meta_rules(slo),
        },
    ];
    let alerts = alert_rules(slo);
    if !alerts.is_empty() {
        groups.push(RuleGroup {
            name: format!("slo-alerts-{id}"),
            rules: alerts,
        });
    }
    groups
}

/// The error-ratio expression for one window, guarded against zero traffic.
fn error_ratio_expr(sli: &Sli, w: &str) -> String {
    match sli {
        Sli::Events {
            kind: EventKind::Bad,
            events,
            total,
        } => {
            let (b, t) = (events.render(w), total.render(w));
            format!("(\n  ({b})\n  /\n  (({t}) > 0)\n)\nor\n(\n  ({t}) * 0\n)")
        }
        Sli::Events {
            kind: EventKind::Good,
            events,
            total,
        } => {
            let (g, t) = (events.render(w), total.render(w));
            // Rate extrapolation can put good a hair above total; never below 0.
            format!(
                "clamp_min(\n  (({t}) - ({g}))\n  /\n  (({t}) > 0),\n  0\n)\nor\n(\n  ({t}) > bool 0\n)"
            )
        }
        Sli::Raw { error_ratio } => format!("({})", error_ratio.render(w)),
    }
}

/// `unless` clause dropping samples whose window of `secs` overlaps maintenance.
fn maintenance_clause(slo: &Slo, secs: i64) -> String {
    if slo.maintenance.is_empty() {
        return String::new();
    }
    let conds: Vec<String> = slo
        .maintenance
        .iter()
        .map(|m| format!("vector(time()) > {} < {}", m.start, m.end + secs))
        .collect();
    format!("\nunless on()\n(\n  {}\n)", conds.join("\n  or\n  "))
}

fn sli_rules(slo: &Slo) -> Vec<Rule> {
    let base = base_labels(slo);
    let sel = selector(slo);
    let period = slo.window.rule_seconds();
    let mut rules = Vec::new();
    for secs in sli_windows(slo.window) {
        let w = prom_duration(secs);
        let mut labels = base.clone();
        labels.insert("slo_window".into(), w.clone());
        let expr = if secs == period {
            format!(
                "sum_over_time(slo:sli_error:ratio_rate5m{sel}[{w}])\n/ ignoring (slo_window)\ncount_over_time(slo:sli_error:ratio_rate5m{sel}[{w}])"
            )
        } else {
            let e = error_ratio_expr(&slo.sli, &w);
            let m = maintenance_clause(slo, secs);
            if m.is_empty() {
                e
            } else {
                let inner: Vec<String> = e.lines().map(|l| format!("  {l}")).collect();
                format!("(\n{}\n){m}", inner.join("\n"))
            }
        };
        rules.push(record(format!("slo:sli_error:ratio_rate{w}"), expr, labels));
    }
    if slo.min_events > 0 {
        if let Some(total) = slo.sli.total() {
            let mut longs: Vec<i64> = alert_windows(slo.window)
                .iter()
                .map(|a| a.long_secs)
                .collect();
            longs.dedup();
            for secs in longs {
                let w = prom_duration(secs);
                let mut labels = base.clone();
                labels.insert("slo_window".into(), w.clone());
                rules.push(record(
                    format!("slo:sli_total:rate{w}"),
                    total.render(&w),
                    labels,
                ));
            }
        }
    }
    rules
}

fn meta_rules(slo: &Slo) -> Vec<Rule> {
    let base = base_labels(slo);
    let sel = selector(slo);
    let on = "on (slo_id, slo_service, slo_name) group_left";
    let period = prom_duration(slo.window.rule_seconds());
    let mut info = base.clone();
    info.insert("slo_objective".into(), float(slo.objective));
    info.insert("slo_spec".into(), slo.format.as_str().into());
    info.insert("slo_period".into(), period.clone());
    info.insert(
        "slo_calendar".into(),
        matches!(slo.window, crate::model::TimeWindow::CalendarMonth).to_string(),
    );
    vec![
        record(
            "slo:objective:ratio".into(),
            format!("vector({})", float(slo.objective_ratio())),
            base.clone(),
        ),
        record(
            "slo:error_budget:ratio".into(),
            format!("vector({})", float(slo.error_budget_ratio())),
            base.clone(),
        ),
        record(
            "slo:time_period:days".into(),
            format!("vector({})", slo.window.rule_days()),
            base.clone(),
        ),
        record(
            "slo:current_burn_rate:ratio".into(),
            format!("slo:sli_error:ratio_rate5m{sel}\n/ {on}\nslo:error_budget:ratio{sel}"),
            base.clone(),
        ),
        record(
            "slo:period_burn_rate:ratio".into(),
            format!("slo:sli_error:ratio_rate{period}{sel}\n/ {on}\nslo:error_budget:ratio{sel}"),
            base.clone(),
        ),
        record(
            "slo:period_error_budget_remaining:ratio".into(),
            format!("1 - slo:period_burn_rate:ratio{sel}"),
            base,
        ),
        record("slo_info".into(), "vector(1)".into(), info),
    ]
}

/// `CheckoutAvailabilityBudgetBurn` from service `checkout`, SLO `availability`.
pub fn default_alert_name(slo: &Slo) -> String {
    let camel = |s: &str| -> String {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    };
    let n = format!("{}{}BudgetBurn", camel(&slo.service), camel(&slo.name));
    if n.starts_with(|c: char| c.is_ascii_alphabetic()) {
        n
    } else {
        format!("Slo{n}")
    }
}

/// One multi-window condition: both windows burning at least `factor`, and (with a
/// minimum) enough events in the long window.
fn condition(slo: &Slo, a: &AlertWindow) -> String {
    let sel = selector(slo);
    let budget = float(slo.error_budget_ratio());
    let factor = float((a.factor * 1e6).round() / 1e6);
    let burn = |secs: i64| {
        format!(
            "max without (slo_window) (slo:sli_error:ratio_rate{}{sel} / {budget} >= {factor} * {FACTOR_ALLOWANCE})",
            prom_duration(secs)
        )
    };
    // The long window first: `and` keeps the left side's value, so the alert's
    // value is the long-window burn rate.
    let mut parts = vec![burn(a.long_secs), burn(a.short_secs)];
    if slo.min_events > 0 && slo.sli.total().is_some() {
        let w = prom_duration(a.long_secs);
        parts.push(format!(
            "max without (slo_window) (slo:sli_total:rate{w}{sel} * {} >= {})",
            a.long_secs, slo.min_events
        ));
    }
    format!("(\n    {}\n)", parts.join("\n  and\n    "))
}

fn alert_rules(slo: &Slo) -> Vec<Rule> {
    let windows = alert_windows(slo.window);
    let name = slo
        .alerting
        .name
        .clone()
        .unwrap_or_else(|| default_alert_name(slo));
    let mut rules = Vec::new();
    for sev in [Severity::Page, Severity::Ticket] {
        let settings = match sev {
            Severity::Page => &slo.alerting.page,
            Severity::Ticket => &slo.alerting.ticket,
        };
        if settings.disabled {
            continue;
        }
        let pair: Vec<&AlertWindow> = windows.iter().filter(|w| w.severity == sev).collect();
        let expr = pair
            .iter()
            .map(|a| condition(slo, a))
            .collect::<Vec<_>>()
            .join("\nor\n");
        let mut labels = slo.alerting.labels.clone();
        labels.insert("slo".into(), slo.name.clone());
        labels.insert("severity".into(), sev.as_str().into());
        // User labels may re-route `severity` (Sloth's examples do); `slo_severity`
        // always says which alert this is.
        labels.extend(settings.labels.clone());
        labels.insert("slo_severity".into(), sev.as_str().into());
        let windows_text = pair
            .iter()
            .map(|a| {
                format!(
                    "{}x over {} and {}",
                    float((a.factor * 1e6).round() / 1e6),
                    prom_duration(a.long_secs),
                    prom_duration(a.short_secs)
                )
            })
            .collect::<Vec<_>>()
            .join(", or ");
        // Pharos's budget engine counts events over the window; Prometheus has only
        // the recorded approximation, so the engine's figure comes first when present.
        let remaining = format!(
            "{{{{ with query `pharos_slo_error_budget_remaining_ratio{{slo_id={id}}} or slo:period_error_budget_remaining:ratio{{slo_id={id}}}` }}}}{{{{ . | first | value | humanizePercentage }}}}{{{{ else }}}}unknown{{{{ end }}}}",
            id = quote(&slo.id())
        );
        let mut ann = BTreeMap::new();
        ann.insert(
            "summary".into(),
            format!(
                "{} {} SLO ({}%): error budget burn rate is too fast",
                slo.service,
                slo.name,
                float(slo.objective)
            ),
        );
        ann.insert(
            "title".into(),
            format!(
                "({}) {{{{$labels.slo_service}}}} {{{{$labels.slo_name}}}} SLO error budget burn rate is too fast.",
                sev.as_str()
            ),
        );
        ann.insert("burn_rate".into(), "{{ $value | humanize }}".into());
        ann.insert("error_budget_remaining".into(), remaining.clone());
        ann.insert(
            "description".into(),
            format!(
                "Burn rate {{{{ $value | humanize }}}}x over the long window ({} fires at {windows_text}); error budget remaining over {}: {remaining}.",
                sev.as_str(),
                prom_duration(slo.window.rule_seconds())
            ),
        );
        if let Some(r) = &settings.runbook {
            ann.insert("runbook_url".into(), r.clone());
        }
        ann.extend(slo.alerting.annotations.clone());
        ann.extend(settings.annotations.clone());
        rules.push(Rule {
            record: None,
            alert: Some(name.clone()),
            expr,
            labels,
            annotations: ann,
        });
    }
    rules
}
