//! The one internal SLO model every spec format is translated into, and the errors a
//! spec can produce. Everything downstream (rule generation, budget math) reads only
//! these types, so a new spec format needs a translator and nothing else.

use std::collections::BTreeMap;
use std::fmt;

/// Which spec format an SLO came from (recorded in the `slo_info` series).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecFormat {
    /// Sloth's `version: prometheus/v1`.
    Sloth,
    /// OpenSLO `apiVersion: openslo/v1`.
    OpenSlo,
    /// Pharos's own `slos:` shape.
    Pharos,
}

impl SpecFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecFormat::Sloth => "prometheus/v1",
            SpecFormat::OpenSlo => "openslo/v1",
            SpecFormat::Pharos => "pharos/v1",
        }
    }
}

/// The period the objective is measured over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeWindow {
    /// A rolling window of this many days (7, 28 or 30).
    Rolling { days: u32 },
    /// The current calendar month (UTC). Recording rules cannot align to months, so
    /// the generated rules use a rolling 30d window and the budget engine evaluates
    /// the month itself.
    CalendarMonth,
}

impl TimeWindow {
    /// The window length in days the generated rules use.
    pub fn rule_days(self) -> u32 {
        match self {
            TimeWindow::Rolling { days } => days,
            TimeWindow::CalendarMonth => 30,
        }
    }

    /// The window length in seconds the generated rules use.
    pub fn rule_seconds(self) -> i64 {
        i64::from(self.rule_days()) * 86_400
    }
}

/// Which events the numerator of an event SLI counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Good,
    Bad,
}

/// A PromQL query that may contain the `{{.window}}` placeholder (Sloth's syntax),
/// replaced by each rule window's duration at generation time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryTemplate(pub String);

impl QueryTemplate {
    /// The query for one window, e.g. `5m`.
    pub fn render(&self, window: &str) -> String {
        crate::query::render_window(&self.0, window)
    }
}

/// How the indicator is measured.
#[derive(Clone, Debug, PartialEq)]
pub enum Sli {
    /// A ratio of good or bad events over all events; both queries return per-second
    /// rates over the window (`sum(rate(x[{{.window}}]))`).
    Events {
        kind: EventKind,
        events: QueryTemplate,
        total: QueryTemplate,
    },
    /// A query that already returns the error ratio over the window (Sloth's `raw`).
    /// No event counts are known, so the low-traffic guard cannot apply.
    Raw { error_ratio: QueryTemplate },
}

impl Sli {
    /// The total-events query, when the SLI has one.
    pub fn total(&self) -> Option<&QueryTemplate> {
        match self {
            Sli::Events { total, .. } => Some(total),
            Sli::Raw { .. } => None,
        }
    }
}

/// One severity's alert settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertSettings {
    pub disabled: bool,
    pub runbook: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Alerting for one SLO: the alert name and labels shared by both severities, and
/// each severity's own settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alerting {
    /// The alert name; generated from the SLO when absent.
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub page: AlertSettings,
    pub ticket: AlertSettings,
}

/// Budget-policy thresholds, as fractions of the error budget remaining.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetPolicy {
    /// At or below this share remaining the policy is `warning` (default 0.25).
    pub warning_below: f64,
    /// Below this share remaining the policy is `exhausted` and releases freeze
    /// (default 0.10).
    pub exhausted_below: f64,
}

impl Default for BudgetPolicy {
    fn default() -> Self {
        BudgetPolicy {
            warning_below: 0.25,
            exhausted_below: 0.10,
        }
    }
}

/// A period excluded from the SLO, `[start, end)` in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Maintenance {
    pub start: i64,
    pub end: i64,
}

/// One SLO in the internal model.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    pub service: String,
    pub name: String,
    pub description: String,
    /// The objective in percent, e.g. `99.9`.
    pub objective: f64,
    pub window: TimeWindow,
    pub sli: Sli,
    pub labels: BTreeMap<String, String>,
    pub alerting: Alerting,
    pub policy: BudgetPolicy,
    /// Alerts need at least this many events in their long window (0: no guard).
    pub min_events: u64,
    pub maintenance: Vec<Maintenance>,
    pub format: SpecFormat,
    /// The file (or source name) the spec came from, for messages.
    pub source: String,
}

impl Slo {
    /// `service-name`, as Sloth builds its `sloth_id`.
    pub fn id(&self) -> String {
        format!("{}-{}", self.service, self.name)
    }

    /// The objective as a ratio, e.g. `0.999`.
    pub fn objective_ratio(&self) -> f64 {
        tidy(self.objective / 100.0)
    }

    /// The error budget as a ratio of events, e.g. `0.001`.
    pub fn error_budget_ratio(&self) -> f64 {
        tidy((100.0 - self.objective) / 100.0)
    }
}

/// Rounds to 12 significant digits: `100 - 99.9` is 0.09999999999999432 in binary,
/// and rule files should read `0.001`, not `0.0009999999999999432`. Objectives are
/// never written with that many digits, so nothing meaningful is lost.
pub(crate) fn tidy(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    format!("{v:.11e}").parse().unwrap_or(v)
}

/// A spec problem, naming the file, the SLO (when known) and the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    pub file: String,
    pub slo: Option<String>,
    pub field: String,
    pub message: String,
}

impl SpecError {
    pub fn new(file: &str, slo: Option<&str>, field: &str, message: impl Into<String>) -> Self {
        SpecError {
            file: file.to_string(),
            slo: slo.map(str::to_string),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl std::error::Error for SpecError {}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(s) = &self.slo {
            write!(f, "slo {s:?}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Label and metric-name syntax Prometheus 2 accepts (promtool checks it).
fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch == '_' || ch.is_ascii_alphabetic())
        && c.all(|ch| ch == '_' || ch.is_ascii_alphanumeric())
}

fn is_alert_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch == '_' || ch == ':' || ch.is_ascii_alphabetic())
        && c.all(|ch| ch == '_' || ch == ':' || ch.is_ascii_alphanumeric())
}

/// Checks the parts every translator relies on; returns every problem found.
pub fn validate(slo: &Slo) -> Vec<SpecError> {
    let mut errs = Vec::new();
    let name = slo.name.as_str();
    let mut err = |field: &str, msg: String| {
        errs.push(SpecError::new(&slo.source, Some(name), field, msg));
    };
    if slo.service.is_empty() {
        err("service", "must not be empty".into());
    }
    if slo.name.is_empty() {
        err("name", "must not be empty".into());
    }
    if !(slo.objective > 0.0 && slo.objective < 100.0) {
        err(
            "objective",
            format!(
                "must be above 0 and below 100 (percent), got {}",
                slo.objective
            ),
        );
    }
    let p = slo.policy;
    if !(0.0..=1.0).contains(&p.exhausted_below)
        || !(0.0..=1.0).contains(&p.warning_below)
        || p.exhausted_below > p.warning_below
    {
        err(
            "budget_policy",
            format!(
                "thresholds must satisfy 0 <= exhausted ({}) <= warning ({}) <= 100%",
                p.exhausted_below * 100.0,
                p.warning_below * 100.0
            ),
        );
    }
    if slo.min_events > 0 && slo.sli.total().is_none() {
        err(
            "min_events",
            "needs an SLI with a total-events query; a raw error-ratio SLI has no event count"
                .into(),
        );
    }
    for (i, m) in slo.maintenance.iter().enumerate() {
        if m.end <= m.start {
            err(
                &format!("maintenance[{i}]"),
                "end must be after start".into(),
            );
        }
    }
    for (field, labels) in [
        ("labels", &slo.labels),
        ("alerting.labels", &slo.alerting.labels),
        ("alerting.page.labels", &slo.alerting.page.labels),
        ("alerting.ticket.labels", &slo.alerting.ticket.labels),
    ] {
        for k in labels.keys() {
            if !is_label_name(k) {
                err(field, format!("invalid label name {k:?}"));
            } else if k.starts_with("__") {
                err(field, format!("label name {k:?} is reserved"));
            }
        }
    }
    if let Some(n) = &slo.alerting.name {
        if !is_alert_name(n) {
            err("alerting.name", format!("invalid alert name {n:?}"));
        }
    }
    // Every query must parse once a window is put in.
    let queries: Vec<(&str, &QueryTemplate)> = match &slo.sli {
        Sli::Events { events, total, .. } => vec![("sli.events", events), ("sli.total", total)],
        Sli::Raw { error_ratio } => vec![("sli.error_ratio", error_ratio)],
    };
    for (field, q) in queries {
        if let Err(e) = pharos_promql::format_query(&q.render("5m")) {
            err(field, format!("invalid PromQL: {e}"));
        }
    }
    errs
}
