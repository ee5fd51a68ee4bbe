//! Rule groups: one evaluation cycle over the group's rules in order, writing outputs,
//! marking series stale when a rule stops producing them, sending alerts, restoring
//! `for` state after a restart, and carrying state over a reload.

use crate::alerting::{Alert, AlertEnv, AlertState, AlertingRule};
use crate::error::RuleEvalError;
use crate::recording::RecordingRule;
use crate::rulefmt::{self, ParseOptions, RuleFileError};
use crate::storage::{append_samples, Appendable, QueryFunc};
use crate::template::Templates;
use pharos_model::{is_stale_nan, Labels, Matcher, Queryable, STALE_NAN};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleHealth {
    Unknown,
    Good,
    Bad,
}

impl RuleHealth {
    /// As the `/api/v1/rules` `health` field spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleHealth::Unknown => "unknown",
            RuleHealth::Good => "ok",
            RuleHealth::Bad => "err",
        }
    }
}

#[derive(Clone, Debug)]
pub enum RuleKind {
    Recording(RecordingRule),
    Alerting(AlertingRule),
}

/// A rule with what its last evaluation left behind.
#[derive(Clone, Debug)]
pub struct Rule {
    pub kind: RuleKind,
    pub health: RuleHealth,
    pub last_error: Option<String>,
    /// Wall-clock start of the last evaluation.
    pub last_evaluation: Option<SystemTime>,
    pub evaluation_duration: Duration,
}

impl Rule {
    pub fn new(kind: RuleKind) -> Rule {
        Rule {
            kind,
            health: RuleHealth::Unknown,
            last_error: None,
            last_evaluation: None,
            evaluation_duration: Duration::ZERO,
        }
    }

    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording(r) => &r.name,
            RuleKind::Alerting(r) => &r.name,
        }
    }

    pub fn labels(&self) -> &Labels {
        match &self.kind {
            RuleKind::Recording(r) => &r.labels,
            RuleKind::Alerting(r) => &r.labels,
        }
    }

    pub fn expr(&self) -> &str {
        match &self.kind {
            RuleKind::Recording(r) => &r.expr,
            RuleKind::Alerting(r) => &r.expr,
        }
    }

    pub fn as_alerting(&self) -> Option<&AlertingRule> {
        match &self.kind {
            RuleKind::Alerting(r) => Some(r),
            RuleKind::Recording(_) => None,
        }
    }

    fn identity(&self) -> (String, Labels) {
        (self.name().to_string(), self.labels().clone())
    }
}

/// Receives alerts due for sending (the alert pipeline in the server).
pub trait Notifier: Send + Sync {
    fn send(&self, expr: &str, alerts: &[Alert]);
}

/// Server-wide settings of rule evaluation, with Prometheus's defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    /// Query offset of groups that set none.
    pub default_query_offset_ms: i64,
    /// `--rules.alert.for-outage-tolerance`: how long down time still allows restoring.
    pub outage_tolerance_ms: i64,
    /// `--rules.alert.for-grace-period`: least time left before a restored alert fires.
    pub for_grace_period_ms: i64,
    /// `--rules.alert.resend-delay`.
    pub resend_delay_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            default_query_offset_ms: 0,
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
            resend_delay_ms: 60_000,
        }
    }
}

/// What a group evaluates against.
pub struct GroupEnv<'a> {
    pub query: &'a dyn QueryFunc,
    pub appender: &'a dyn Appendable,
    /// Read access for `for`-state restoration.
    pub queryable: &'a dyn Queryable,
    pub templates: &'a dyn Templates,
    pub notifier: Option<&'a dyn Notifier>,
    pub settings: &'a Settings,
}

/// Counters a group keeps (Prometheus's `prometheus_rule_group_*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupCounters {
    pub iterations_scheduled: u64,
    pub iterations_missed: u64,
    pub evaluations: u64,
    pub evaluation_failures: u64,
    /// Samples written by the last evaluation.
    pub last_samples: u64,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub file: String,
    pub interval_ms: i64,
    pub limit: i64,
    pub query_offset_ms: Option<i64>,
    pub rules: Vec<Rule>,
    /// Whether `for` state must be restored after the next evaluations.
    pub should_restore: bool,
    pub last_evaluation: Option<SystemTime>,
    pub evaluation_duration: Duration,
    /// Evaluation time (ms) of the last cycle.
    pub last_eval_timestamp: Option<i64>,
    pub counters: GroupCounters,
    series_in_previous_eval: Vec<HashSet<Labels>>,
    stale_series: Vec<Labels>,
}

/// Options of [`load_groups`].
#[derive(Clone, Copy)]
pub struct LoadOptions<'a> {
    /// Interval of groups that set none.
    pub default_interval_ms: i64,
    pub parse: ParseOptions<'a>,
    /// Whether alerting rules must restore `for` state before writing `ALERTS`
    /// (true at server start; false in unit tests and for groups added later).
    pub restore: bool,
}

/// Where a rule file comes from: a file on disk, or text the server generated (SLO
/// rules), named like a file in `/api/v1/rules` and in errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleSource {
    File(std::path::PathBuf),
    Text { name: String, text: String },
}

impl RuleSource {
    /// The name groups of this source report as their file.
    pub fn name(&self) -> String {
        match self {
            RuleSource::File(p) => p.display().to_string(),
            RuleSource::Text { name, .. } => name.clone(),
        }
    }

    fn parse(
        &self,
        opts: rulefmt::ParseOptions<'_>,
    ) -> Result<rulefmt::RuleGroups, Vec<RuleFileError>> {
        match self {
            RuleSource::File(p) => rulefmt::parse_file(p, opts),
            RuleSource::Text { name, text } => rulefmt::parse(text, opts).map_err(|errs| {
                errs.into_iter()
                    .map(|e| RuleFileError::InFile {
                        file: name.clone(),
                        source: Box::new(e),
                    })
                    .collect()
            }),
        }
    }
}

/// Loads rule files into groups, in file order.
pub fn load_groups(
    files: &[impl AsRef<Path>],
    opts: &LoadOptions<'_>,
) -> Result<Vec<Group>, Vec<RuleFileError>> {
    let sources: Vec<RuleSource> = files
        .iter()
        .map(|f| RuleSource::File(f.as_ref().to_path_buf()))
        .collect();
    load_sources(&sources, opts)
}

/// Loads rule sources into groups, in order.
pub fn load_sources(
    sources: &[RuleSource],
    opts: &LoadOptions<'_>,
) -> Result<Vec<Group>, Vec<RuleFileError>> {
    let mut out = Vec::new();
    for source in sources {
        let rgs = source.parse(opts.parse)?;
        for rg in rgs.groups {
            let rules = rg
                .rules
                .iter()
                .map(|r| {
                    let mut labels = rg.labels.clone();
                    labels.extend(r.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                    let labels = Labels::from_pairs(labels);
                    Rule::new(if r.alert.is_empty() {
                        RuleKind::Recording(RecordingRule {
                            name: r.record.clone(),
                            expr: r.expr.clone(),
                            labels,
                        })
                    } else {
                        RuleKind::Alerting(AlertingRule::new(
                            r.alert.clone(),
                            r.expr.clone(),
                            r.for_ms,
                            r.keep_firing_for_ms,
                            labels,
                            Labels::from_pairs(r.annotations.clone()),
                            !opts.restore,
                        ))
                    })
                })
                .collect();
            let interval_ms = if rg.interval_ms > 0 {
                rg.interval_ms
            } else {
                opts.default_interval_ms
            };
            out.push(Group::new(
                rg.name,
                source.name(),
                interval_ms,
                rg.limit,
                rg.query_offset_ms,
                rules,
                opts.restore,
            ));
        }
    }
    Ok(out)
}

impl Group {
    pub fn new(
        name: String,
        file: String,
        interval_ms: i64,
        limit: i64,
        query_offset_ms: Option<i64>,
        rules: Vec<Rule>,
        should_restore: bool,
    ) -> Group {
        let n = rules.len();
        Group {
            name,
            file,
            interval_ms: interval_ms.max(1),
            limit,
            query_offset_ms,
            rules,
            should_restore,
            last_evaluation: None,
            evaluation_duration: Duration::ZERO,
            last_eval_timestamp: None,
            counters: GroupCounters::default(),
            series_in_previous_eval: vec![HashSet::new(); n],
            stale_series: Vec::new(),
        }
    }

    /// `file;name`, the key groups are told apart by.
    pub fn key(&self) -> String {
        format!("{};{}", self.file, self.name)
    }

    pub fn query_offset(&self, settings: &Settings) -> i64 {
        self.query_offset_ms
            .unwrap_or(settings.default_query_offset_ms)
    }

    /// The latest slot at or before `now_ms` on this group's grid: multiples of the
    /// interval shifted by a per-group offset, so groups spread over the interval.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let offset = (fnv1a(self.key().as_bytes()) % self.interval_ms as u64) as i64;
        let adj = now_ms - offset;
        adj - adj.rem_euclid(self.interval_ms) + offset
    }

    /// One evaluation cycle at `ts` (ms).
    pub fn eval(&mut self, env: &GroupEnv<'_>, ts: i64) {
        let started = Instant::now();
        self.last_evaluation = Some(SystemTime::now());
        let offset = self.query_offset(env.settings);
        let mut samples_total = 0u64;
        for i in 0..self.rules.len() {
            let rule_start = Instant::now();
            self.rules[i].last_evaluation = Some(SystemTime::now());
            self.counters.evaluations += 1;
            let res = match &mut self.rules[i].kind {
                RuleKind::Recording(r) => r.eval(env.query, ts, offset, self.limit),
                RuleKind::Alerting(r) => {
                    let aenv = AlertEnv {
                        query: env.query,
                        templates: env.templates,
                        external_labels: &env.settings.external_labels,
                        external_url: &env.settings.external_url,
                    };
                    r.eval(&aenv, ts, offset, self.limit)
                }
            };
            let vector = match res {
                Ok(v) => v,
                Err(e) => {
                    self.fail(i, &e);
                    self.rules[i].evaluation_duration = rule_start.elapsed();
                    continue;
                }
            };
            self.rules[i].health = RuleHealth::Good;
            self.rules[i].last_error = None;
            samples_total += vector.len() as u64;
            if let RuleKind::Alerting(r) = &mut self.rules[i].kind {
                let due = r.alerts_to_send(ts, env.settings.resend_delay_ms, self.interval_ms);
                if let (Some(n), false) = (env.notifier, due.is_empty()) {
                    n.send(&r.expr, &due);
                }
            }
            match append_samples(env.appender, &vector) {
                Ok(()) => {
                    let returned: HashSet<Labels> = vector.into_iter().map(|(l, _, _)| l).collect();
                    let gone: Vec<(Labels, i64, f64)> = self.series_in_previous_eval[i]
                        .iter()
                        .filter(|l| !returned.contains(*l))
                        .map(|l| (l.clone(), ts - offset, STALE_NAN))
                        .collect();
                    // A vanished series may now come from another rule; a refused
                    // marker is expected then and not an error.
                    let _ = append_samples(env.appender, &gone);
                    self.series_in_previous_eval[i] = returned;
                }
                Err(e) => self.fail(i, &RuleEvalError::Append(e)),
            }
            self.rules[i].evaluation_duration = rule_start.elapsed();
        }
        self.counters.last_samples = samples_total;
        self.cleanup_stale_series(env, ts);
        self.evaluation_duration = started.elapsed();
        self.last_eval_timestamp = Some(ts);
    }

    fn fail(&mut self, i: usize, e: &RuleEvalError) {
        let r = &mut self.rules[i];
        r.health = RuleHealth::Bad;
        r.last_error = Some(e.to_string());
        self.counters.evaluation_failures += 1;
        if !matches!(
            e,
            RuleEvalError::Query(pharos_promql::QueryError::Canceled(_))
        ) {
            tracing::warn!(group = %self.name, rule = %r.name(), err = %e, "Evaluating rule failed");
        }
    }

    /// Marks stale the series of rules removed by a reload.
    fn cleanup_stale_series(&mut self, env: &GroupEnv<'_>, ts: i64) {
        if self.stale_series.is_empty() {
            return;
        }
        let t = ts - self.query_offset(env.settings);
        let marks: Vec<(Labels, i64, f64)> = self
            .stale_series
            .iter()
            .map(|l| (l.clone(), t, STALE_NAN))
            .collect();
        let _ = append_samples(env.appender, &marks);
        self.stale_series.clear();
    }

    /// Marks every series this group wrote as stale, when the group goes away.
    pub fn mark_all_stale(&mut self, env: &GroupEnv<'_>, ts: i64) {
        for set in &mut self.series_in_previous_eval {
            self.stale_series.extend(set.drain());
        }
        self.cleanup_stale_series(env, ts);
    }

    /// Takes over alert state and written series from the group this one replaces.
    /// Rules are matched by name and labels; duplicates pair up in order.
    pub fn copy_state(&mut self, from: &Group) {
        self.evaluation_duration = from.evaluation_duration;
        self.last_evaluation = from.last_evaluation;
        self.last_eval_timestamp = from.last_eval_timestamp;
        self.counters = from.counters.clone();
        let mut unmatched: Vec<Option<(String, Labels)>> =
            from.rules.iter().map(|r| Some(r.identity())).collect();
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let id = rule.identity();
            let Some(fi) = unmatched.iter().position(|u| u.as_ref() == Some(&id)) else {
                continue;
            };
            unmatched[fi] = None;
            self.series_in_previous_eval[i] = from.series_in_previous_eval[fi].clone();
            if let (RuleKind::Alerting(ar), RuleKind::Alerting(far)) =
                (&mut rule.kind, &from.rules[fi].kind)
            {
                ar.active
                    .extend(far.active.iter().map(|(k, v)| (k.clone(), v.clone())));
                ar.evaluated = far.evaluated;
                ar.restored = far.restored;
            }
        }
        // A group replaced before it restored its `for` state (a second load right
        // after startup) still has to restore it.
        self.should_restore |= from.should_restore;
        self.stale_series = from.stale_series.clone();
        for (fi, u) in unmatched.iter().enumerate() {
            if u.is_some() {
                self.stale_series
                    .extend(from.series_in_previous_eval[fi].iter().cloned());
            }
        }
    }

    /// Restores the `for` state of pending alerts from `ALERTS_FOR_STATE` after a
    /// restart, following Prometheus: alerts down for longer than the outage tolerance
    /// start over, and none fires sooner than the grace period after restoring.
    pub fn restore_for_state(&mut self, env: &GroupEnv<'_>, ts: i64) {
        self.should_restore = false;
        let s = env.settings;
        let querier = match env.queryable.querier(ts - s.outage_tolerance_ms, ts) {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(group = %self.name, err = %e, "Failed to get Querier");
                return;
            }
        };
        for rule in &mut self.rules {
            let RuleKind::Alerting(ar) = &mut rule.kind else {
                continue;
            };
            let hold = ar.hold_ms;
            if hold < s.for_grace_period_ms {
                ar.restored = true;
                continue;
            }
            let matchers: Vec<Matcher> = ar
                .for_state_selector()
                .into_iter()
                .map(|(n, v)| Matcher::equal(n, v))
                .collect();
            let mut last: BTreeMap<Labels, (i64, f64)> = BTreeMap::new();
            match querier.select(&matchers) {
                Ok(set) => {
                    for series in set.flatten() {
                        let mut it = series.samples;
                        let mut lv = None;
                        while let Some(smpl) = it.next_sample() {
                            lv = Some((smpl.t, smpl.v));
                        }
                        if let Some(lv) = lv {
                            let key = Labels::from_sorted(
                                series
                                    .labels
                                    .iter()
                                    .filter(|l| l.name != pharos_model::METRIC_NAME)
                                    .cloned()
                                    .collect(),
                            );
                            last.insert(key, lv);
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(alert = %ar.name, err = %e, "Failed to restore 'for' state");
                    ar.restored = true;
                    continue;
                }
            }
            for a in ar.active_alerts_mut() {
                let Some(&(t, v)) = last.get(&a.labels) else {
                    continue;
                };
                if is_stale_nan(v) {
                    continue;
                }
                let down_at = t.div_euclid(1000) * 1000;
                let restored_active_at = (v as i64) * 1000;
                let remaining = hold - (down_at - restored_active_at);
                a.active_at = if remaining <= 0 {
                    // It was firing when we went down; the next evaluation decides.
                    restored_active_at
                } else if remaining < s.for_grace_period_ms {
                    ts + s.for_grace_period_ms - hold
                } else {
                    // Pending time spent down does not count towards `for`.
                    restored_active_at + (ts - down_at)
                };
            }
            ar.restored = true;
        }
    }

    /// Alerting rules of the group.
    pub fn alerting_rules(&self) -> impl Iterator<Item = &AlertingRule> {
        self.rules.iter().filter_map(Rule::as_alerting)
    }

    /// Whether any alert of the group is firing or pending.
    pub fn has_active_alerts(&self) -> bool {
        self.alerting_rules()
            .any(|r| matches!(r.state(), AlertState::Pending | AlertState::Firing))
    }
}

/// FNV-1a: a stable hash, so a group keeps its slot across restarts.
fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= *x as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
