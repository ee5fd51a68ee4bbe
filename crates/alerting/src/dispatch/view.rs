//! What API v2 shows: `/api/v2/alerts` and `/api/v2/alerts/groups`, with
//! that API's filter semantics (`filter`, `receiver`, `silenced`,
//! `inhibited`, `active`). Statuses are re-checked when viewed, as
//! Alertmanager's handlers do.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use regex::Regex;
use thiserror::Error;

use super::fatigue::FLAPPING_ANNOTATION;
use super::{lock, Dispatcher};
use crate::alert::{
    alert_order, label_set_cmp, Alert, AlertState, AlertStatus, Fingerprint, LabelMap,
};
use crate::error::MatcherError;
use crate::matcher::{parse_matcher, MatchType, Matcher};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FilterError {
    #[error(transparent)]
    Matcher(#[from] MatcherError),
    #[error("failed to parse receiver param: {0}")]
    Receiver(String),
}

/// The query parameters both endpoints share.
#[derive(Clone, Debug)]
pub struct AlertFilter {
    pub matchers: Vec<Matcher>,
    /// Anchored receiver-name regex.
    pub receiver: Option<Regex>,
    pub silenced: bool,
    pub inhibited: bool,
    pub active: bool,
}

impl Default for AlertFilter {
    /// The API's defaults: everything shown.
    fn default() -> Self {
        AlertFilter {
            matchers: Vec::new(),
            receiver: None,
            silenced: true,
            inhibited: true,
            active: true,
        }
    }
}

impl AlertFilter {
    /// Parses `filter` matchers and the `receiver` regex as the API does.
    pub fn parse(filter: &[String], receiver: Option<&str>) -> Result<AlertFilter, FilterError> {
        let matchers = filter
            .iter()
            .map(|f| parse_matcher(f))
            .collect::<Result<Vec<_>, _>>()?;
        let receiver = receiver
            .map(|r| {
                Regex::new(&format!("^(?:{r})$")).map_err(|e| FilterError::Receiver(e.to_string()))
            })
            .transpose()?;
        Ok(AlertFilter {
            matchers,
            receiver,
            ..AlertFilter::default()
        })
    }

    fn receiver_ok(&self, name: &str) -> bool {
        self.receiver.as_ref().is_none_or(|r| r.is_match(name))
    }

    fn status_ok(&self, s: &AlertStatus) -> bool {
        !(!self.active && s.state == AlertState::Active
            || !self.silenced && !s.silenced_by.is_empty()
            || !self.inhibited && !s.inhibited_by.is_empty())
    }

    /// `matchFilterLabels`: an empty-valued matcher is satisfied by a
    /// missing label (`=`, `=~`) or a present one (`!=`, `!~`).
    fn labels_ok(&self, labels: &LabelMap) -> bool {
        self.matchers.iter().all(|m| {
            let v = labels.get(m.name());
            let skip = match m.kind() {
                MatchType::NotEqual | MatchType::NotRegexp => m.value().is_empty() && v.is_some(),
                MatchType::Equal | MatchType::Regexp => m.value().is_empty() && v.is_none(),
            };
            skip || m.matches(v.map(String::as_str).unwrap_or(""))
        })
    }
}

/// An alert as API v2's `gettableAlert`.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertView {
    pub fingerprint: Fingerprint,
    pub labels: LabelMap,
    pub annotations: LabelMap,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub generator_url: String,
    pub receivers: Vec<String>,
    pub status: AlertStatus,
}

impl AlertView {
    /// `flapping`: whether Pharos's flapping control holds the alert back
    /// for some receiver, shown as the annotation `pharos_flapping="true"`
    /// (an annotation, so clients such as amtool parse the alert as usual).
    fn new(a: &Alert, receivers: Vec<String>, status: AlertStatus, flapping: bool) -> AlertView {
        let mut annotations = a.annotations.clone();
        if flapping {
            annotations.insert(FLAPPING_ANNOTATION.to_string(), "true".to_string());
        }
        AlertView {
            fingerprint: a.fingerprint(),
            labels: a.labels.clone(),
            annotations,
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            updated_at: a.updated_at,
            generator_url: a.generator_url.clone(),
            receivers,
            status,
        }
    }
}

/// API v2's `alertGroup`.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertGroupView {
    pub labels: LabelMap,
    pub receiver: String,
    pub alerts: Vec<AlertView>,
    /// Pharos: the group's alerts its receiver's flapping control marks
    /// flapping (shown as `pharosFlapping`).
    pub flapping: Vec<Fingerprint>,
}

/// Alertmanager's view filter drops alerts whose end lies in the past.
fn ended(a: &Alert, now: DateTime<Utc>) -> bool {
    a.ends_at.is_some_and(|e| e < now)
}

impl Dispatcher {
    /// `GET /api/v2/alerts`: stored alerts with their receivers and status,
    /// ordered by fingerprint.
    pub async fn alerts(&self, filter: &AlertFilter) -> Vec<AlertView> {
        let core = &self.core;
        let now = core.now();
        let cfg = core.config();
        let alerts: Vec<Alert> = lock(&core.alerts)
            .values()
            .map(|t| t.alert.clone())
            .filter(|a| !ended(a, now))
            .collect();
        let refs: Vec<&Alert> = alerts.iter().collect();
        let (statuses, events) = core.refresh_statuses(&cfg, &refs, now);
        core.record(events).await;
        let mut out: Vec<AlertView> = alerts
            .iter()
            .zip(statuses)
            .filter_map(|(a, status)| {
                let receivers: Vec<String> = cfg
                    .route
                    .receivers(&a.labels)
                    .into_iter()
                    .map(String::from)
                    .collect();
                let ok = (filter.receiver.is_none()
                    || receivers.iter().any(|r| filter.receiver_ok(r)))
                    && filter.status_ok(&status)
                    && filter.labels_ok(&a.labels);
                let flapping = !core.fatigue.flapping_receivers(a.fingerprint()).is_empty();
                ok.then(|| AlertView::new(a, receivers, status, flapping))
            })
            .collect();
        out.sort_by_key(|v| v.fingerprint.to_string());
        out
    }

    /// `GET /api/v2/alerts/groups`: aggregation groups whose route's
    /// receiver passes the filter, with the alerts that pass it; groups
    /// left empty are omitted. Each alert lists the receivers of every
    /// group it is shown in.
    pub async fn groups(&self, filter: &AlertFilter) -> Vec<AlertGroupView> {
        let core = &self.core;
        let now = core.now();
        let cfg = core.config();
        let groups: Vec<_> = lock(&core.groups).values().cloned().collect();
        let mut picked: Vec<(LabelMap, String, Vec<Alert>)> = Vec::new();
        for g in groups {
            if !filter.receiver_ok(&g.opts.receiver) {
                continue;
            }
            let alerts: Vec<Alert> = g.alerts().into_iter().filter(|a| !ended(a, now)).collect();
            picked.push((g.labels.clone(), g.opts.receiver.clone(), alerts));
        }
        let all: Vec<&Alert> = picked.iter().flat_map(|(_, _, a)| a.iter()).collect();
        let (statuses, events) = core.refresh_statuses(&cfg, &all, now);
        core.record(events).await;
        let status_of: HashMap<Fingerprint, AlertStatus> = all
            .iter()
            .zip(statuses)
            .map(|(a, s)| (a.fingerprint(), s))
            .collect();
        let mut receivers: BTreeMap<Fingerprint, Vec<String>> = BTreeMap::new();
        let mut out = Vec::new();
        for (labels, receiver, alerts) in picked {
            let kept: Vec<Alert> = alerts
                .into_iter()
                .filter(|a| {
                    let s = status_of.get(&a.fingerprint()).cloned().unwrap_or_default();
                    filter.status_ok(&s) && filter.labels_ok(&a.labels)
                })
                .collect();
            if kept.is_empty() {
                continue;
            }
            for a in &kept {
                receivers
                    .entry(a.fingerprint())
                    .or_default()
                    .push(receiver.clone());
            }
            out.push((labels, receiver, kept));
        }
        for r in receivers.values_mut() {
            r.sort();
        }
        out.sort_by(|a, b| label_set_cmp(&a.0, &b.0).then_with(|| a.1.cmp(&b.1)));
        out.into_iter()
            .map(|(labels, receiver, mut alerts)| {
                alerts.sort_by(alert_order);
                let mut flapping = Vec::new();
                let alerts = alerts
                    .iter()
                    .map(|a| {
                        let fp = a.fingerprint();
                        let marked = core.fatigue.flapping_receivers(fp);
                        if marked.contains(&receiver) {
                            flapping.push(fp);
                        }
                        AlertView::new(
                            a,
                            receivers.get(&fp).cloned().unwrap_or_default(),
                            status_of.get(&fp).cloned().unwrap_or_default(),
                            !marked.is_empty(),
                        )
                    })
                    .collect();
                AlertGroupView {
                    labels,
                    receiver,
                    alerts,
                    flapping,
                }
            })
            .collect()
    }
}
