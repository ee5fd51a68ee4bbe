//! The SLO report over a period — the weekly health report an SRE team sends: per
//! service and SLO, the objective against the SLI actually delivered, the share of
//! the period's error budget used, the burn-rate alerts that fired, how long the
//! budget policy spent in each state, and the worst hours (or days) of the period.
//!
//! Sources: the SLI queries (as the budget engine measures them, maintenance
//! excluded), the engine's own `pharos_slo_policy_state` series, and the alert
//! history of the control-plane database.

use super::eval::{self, Measure, SliQuery};
use super::registry::Entry;
use pharos_slo::budget;
use pharos_slo::model::TimeWindow;
use pharos_slo::query::quote;
use pharos_state::{Database, EventKind, HistoryQuery, Matcher};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How many worst windows a report lists per SLO.
const WORST: usize = 3;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub services: Vec<ServiceReport>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ServiceReport {
    pub service: String,
    pub slos: Vec<SloReport>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AlertCounts {
    pub page: u64,
    pub ticket: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PolicyTime {
    pub healthy: f64,
    pub warning: f64,
    pub exhausted: f64,
    /// Time the engine has no record for (not running, or the SLO did not exist).
    pub unknown: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WorstWindow {
    pub start: String,
    pub end: String,
    pub error_ratio: f64,
    pub bad_events: Option<f64>,
    pub total_events: Option<f64>,
    pub burn_rate: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SloReport {
    pub id: String,
    pub name: String,
    /// Percent, e.g. 99.9.
    pub objective: f64,
    pub window: String,
    /// The SLI delivered over the period, as a ratio; `None` without data.
    pub sli: Option<f64>,
    pub met: Option<bool>,
    pub total_events: Option<f64>,
    pub bad_events: Option<f64>,
    /// Share of the period's own error budget spent (1 = all of it).
    pub budget_consumed_ratio: Option<f64>,
    pub alerts: AlertCounts,
    pub policy_time_seconds: PolicyTime,
    pub worst_windows: Vec<WorstWindow>,
    pub error: Option<String>,
}

pub fn window_text(w: TimeWindow) -> String {
    match w {
        TimeWindow::Rolling { days } => format!("{days}d"),
        TimeWindow::CalendarMonth => "calendar-month".into(),
    }
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The worst-window size for a period: hours for a week or so, days beyond.
fn worst_step_ms(span_ms: i64) -> i64 {
    if span_ms <= 8 * 86_400_000 {
        3_600_000
    } else {
        86_400_000
    }
}

/// The part of one SLO's report that comes from queries (blocking).
pub fn measure_slo(
    entry: &Entry,
    q: &dyn SliQuery,
    from_ms: i64,
    to_ms: i64,
    engine_step_ms: i64,
) -> SloReport {
    let slo = &entry.slo;
    let mut r = SloReport {
        id: slo.id(),
        name: slo.name.clone(),
        objective: slo.objective,
        window: window_text(slo.window),
        sli: None,
        met: None,
        total_events: None,
        bad_events: None,
        budget_consumed_ratio: None,
        alerts: AlertCounts::default(),
        policy_time_seconds: PolicyTime::default(),
        worst_windows: Vec::new(),
        error: None,
    };
    let objective = slo.objective_ratio();
    let fail = |mut r: SloReport, e: String| {
        r.error = Some(e);
        r
    };
    match eval::measure(slo, q, from_ms, to_ms) {
        Ok(Some(m)) => {
            let err = m.error_ratio();
            if let Some((t, b)) = m.counts() {
                r.total_events = Some(t);
                r.bad_events = Some(b);
            }
            let has_traffic = m.counts().map(|(t, _)| t > 0.0).unwrap_or(true);
            if has_traffic {
                r.sli = Some(1.0 - err);
                r.met = Some(1.0 - err >= objective - 1e-12);
                r.budget_consumed_ratio = Some(budget::consumed_ratio(err, objective));
            }
        }
        Ok(None) => {}
        Err(e) => return fail(r, e),
    }
    let step = worst_step_ms(to_ms - from_ms);
    match eval::buckets(slo, q, from_ms + step, to_ms, step) {
        Ok(bs) => {
            let mut worst: Vec<(i64, Measure)> = bs
                .into_iter()
                .filter(|(_, m)| m.error_ratio() > 0.0)
                .collect();
            worst.sort_by(|a, b| b.1.error_ratio().total_cmp(&a.1.error_ratio()));
            r.worst_windows = worst
                .into_iter()
                .take(WORST)
                .map(|(end, m)| WorstWindow {
                    start: rfc3339(end - step),
                    end: rfc3339(end),
                    error_ratio: m.error_ratio(),
                    bad_events: m.counts().map(|c| c.1),
                    total_events: m.counts().map(|c| c.0),
                    burn_rate: budget::burn_rate(m.error_ratio(), objective),
                })
                .collect();
        }
        Err(e) => return fail(r, e),
    }
    match policy_time(&r.id, q, from_ms, to_ms, engine_step_ms) {
        Ok(p) => r.policy_time_seconds = p,
        Err(e) => return fail(r, e),
    }
    r
}

/// Time in each policy state, from the engine's `pharos_slo_policy_state` series
/// sampled at (at least) its evaluation interval.
fn policy_time(
    id: &str,
    q: &dyn SliQuery,
    from_ms: i64,
    to_ms: i64,
    engine_step_ms: i64,
) -> Result<PolicyTime, String> {
    let span = (to_ms - from_ms).max(0);
    let step = (engine_step_ms.max(span / eval::MAX_POINTS + 1) + 999) / 1000 * 1000;
    let expr = format!("pharos_slo_policy_state{{slo_id={}}}", quote(id));
    let points = q.values("max", &expr, from_ms + step, to_ms, step)?;
    let mut p = PolicyTime::default();
    let secs = step as f64 / 1000.0;
    for (_, v) in points {
        match v as i64 {
            0 => p.healthy += secs,
            1 => p.warning += secs,
            _ => p.exhausted += secs,
        }
    }
    p.unknown = (span as f64 / 1000.0 - p.healthy - p.warning - p.exhausted).max(0.0);
    Ok(p)
}

/// Burn-rate alerts of one SLO that started firing in the period, by severity.
pub async fn alert_counts(
    db: &Database,
    id: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<AlertCounts, String> {
    let events = db
        .history()
        .query(&HistoryQuery {
            matchers: vec![Matcher {
                name: "slo_id".into(),
                value: id.into(),
                is_regex: false,
                is_equal: true,
            }],
            kinds: vec![EventKind::Firing],
            from: Some(from_ms),
            to: Some(to_ms),
            ..HistoryQuery::default()
        })
        .await
        .map_err(|e| format!("cannot read alert history: {e}"))?;
    let mut c = AlertCounts::default();
    for e in events {
        let l = &e.event.labels;
        let sev = l.get("slo_severity").or_else(|| l.get("severity"));
        match sev.map(String::as_str) {
            Some("page") => c.page += 1,
            Some("ticket") => c.ticket += 1,
            _ => {}
        }
    }
    Ok(c)
}

/// Groups per-SLO reports by service (services and SLOs in name order).
pub fn assemble(from_ms: i64, to_ms: i64, slos: Vec<(String, SloReport)>) -> Report {
    let mut by: BTreeMap<String, Vec<SloReport>> = BTreeMap::new();
    for (service, r) in slos {
        by.entry(service).or_default().push(r);
    }
    Report {
        from: rfc3339(from_ms),
        to: rfc3339(to_ms),
        services: by
            .into_iter()
            .map(|(service, mut slos)| {
                slos.sort_by(|a, b| a.name.cmp(&b.name));
                ServiceReport { service, slos }
            })
            .collect(),
    }
}

fn pct(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{:.*}%", digits, v * 100.0),
        Some(_) => "∞".into(),
        None => "–".into(),
    }
}

fn duration(secs: f64) -> String {
    let s = secs.round() as i64;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, _) => format!("{d}d{h:02}h"),
    }
}

/// Markdown table cells must not contain `|` or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown, ready to paste into a chat or a wiki.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# SLO report {} – {}\n", r.from, r.to);
    if r.services.is_empty() {
        out.push_str("No SLOs are defined.\n");
        return out;
    }
    for s in &r.services {
        let _ = writeln!(out, "## {}\n", cell(&s.service));
        out.push_str(
            "| SLO | Objective | Actual | Met | Budget used | Pages | Tickets | Healthy | Warning | Exhausted |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for slo in &s.slos {
            let met = match slo.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "no data",
            };
            let p = &slo.policy_time_seconds;
            let _ = writeln!(
                out,
                "| {} ({}) | {}% | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&slo.name),
                slo.window,
                slo.objective,
                pct(slo.sli, 3),
                met,
                pct(slo.budget_consumed_ratio, 1),
                slo.alerts.page,
                slo.alerts.ticket,
                duration(p.healthy),
                duration(p.warning),
                duration(p.exhausted),
            );
        }
        for slo in &s.slos {
            if let Some(e) = &slo.error {
                let _ = writeln!(
                    out,
                    "\n*{}*: could not be measured: {}",
                    cell(&slo.name),
                    cell(e)
                );
            }
            if slo.worst_windows.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\nWorst windows of *{}*:\n", cell(&slo.name));
            for w in &slo.worst_windows {
                let events = match (w.bad_events, w.total_events) {
                    (Some(b), Some(t)) => format!(", {b:.0} of {t:.0} events failed"),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "- {} – {}: {} errors, burn rate {:.1}×{}",
                    w.start,
                    w.end,
                    pct(Some(w.error_ratio), 2),
                    w.burn_rate,
                    events
                );
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo_report(name: &str, sli: Option<f64>) -> SloReport {
        SloReport {
            id: format!("api-{name}"),
            name: name.into(),
            objective: 99.9,
            window: "30d".into(),
            sli,
            met: sli.map(|s| s >= 0.999),
            total_events: Some(1000.0),
            bad_events: sli.map(|s| (1.0 - s) * 1000.0),
            budget_consumed_ratio: sli.map(|s| (1.0 - s) / 0.001),
            alerts: AlertCounts { page: 2, ticket: 1 },
            policy_time_seconds: PolicyTime {
                healthy: 3_600.0,
                warning: 90_000.0,
                exhausted: 0.0,
                unknown: 0.0,
            },
            worst_windows: vec![WorstWindow {
                start: "2026-11-20T10:00:00Z".into(),
                end: "2026-11-20T11:00:00Z".into(),
                error_ratio: 0.02,
                bad_events: Some(20.0),
                total_events: Some(1000.0),
                burn_rate: 20.0,
            }],
            error: None,
        }
    }

    #[test]
    fn markdown_has_a_row_per_slo_and_the_worst_windows() {
        let r = assemble(
            0,
            604_800_000,
            vec![
                ("web".into(), slo_report("latency", None)),
                ("api".into(), slo_report("availability", Some(0.998))),
            ],
        );
        assert_eq!(r.services[0].service, "api");
        let md = markdown(&r);
        assert!(md.starts_with("# SLO report 1970-01-01T00:00:00Z – 1970-01-08T00:00:00Z"));
        assert!(
            md.contains("| availability (30d) | 99.9% | 99.800% | **no** | 200.0% | 2 | 1 | 1h00m | 1d01h | 0s |"),
            "{md}"
        );
        assert!(
            md.contains("| latency (30d) | 99.9% | – | no data |"),
            "{md}"
        );
        assert!(md.contains(
            "- 2026-11-20T10:00:00Z – 2026-11-20T11:00:00Z: 2.00% errors, burn rate 20.0×, 20 of 1000 events failed"
        ));
    }
}
