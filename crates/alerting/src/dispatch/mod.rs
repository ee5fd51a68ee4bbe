//! The dispatcher: receives alerts, keeps them (Alertmanager's alert
//! provider, with its merge rule and garbage collection), routes each one
//! through the tree into aggregation groups, and flushes the groups through
//! the notification pipeline on Alertmanager's timers.
//!
//! ```text
//! put_alerts ─► alert store ─► Route::match_labels ─► aggregation group (route, group labels)
//!                                   group_wait / group_interval timers ─► flush
//!   flush ─► inhibit ─► time mute/active ─► silence ─► per integration: dedup ─► retry ─► nflog
//! ```
//! Views for API v2 (`/api/v2/alerts`, `/api/v2/alerts/groups`) are in
//! [`view`]; Pharos's page budget and flapping controls in [`fatigue`].

pub mod fatigue;
mod group;
mod pipeline;
pub mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::alert::{Alert, AlertErrors, AlertStatus, Fingerprint, PostableAlert};
use crate::clock::{to_ms, Clock};
use crate::config::Config;
use crate::error::ConfigError;
use crate::inhibit::Inhibitor;
use crate::metrics::AlertingMetrics;
use crate::nflog::NotificationLog;
use crate::notify::{Backoff, Receivers};
use crate::persist::{AlertingStore, HistoryEvent, HistoryKind, StoreError};
use crate::route::Route;
use crate::silence::{SilenceState, Silences, DEFAULT_RETENTION};
use crate::timeinterval::Intervener;

use fatigue::{Fatigue, ReceiverFatigue};
use group::AggrGroup;
pub use view::{AlertFilter, AlertGroupView, AlertView, FilterError};

/// Everything the dispatcher takes from the configuration.
#[derive(Debug)]
pub struct DispatcherConfig {
    pub route: Route,
    pub inhibitor: Inhibitor,
    pub intervener: Intervener,
    /// `global.resolve_timeout`: the end time given to alerts sent without
    /// one.
    pub resolve_timeout: Duration,
    pub receivers: Receivers,
    /// Pharos's page budget and flapping settings per receiver name.
    pub fatigue: HashMap<String, ReceiverFatigue>,
}

impl DispatcherConfig {
    /// Builds the dispatcher's view of a validated config; `receivers`
    /// holds the receivers' integrations, built elsewhere.
    pub fn from_config(cfg: &Config, receivers: Receivers) -> Result<Self, ConfigError> {
        Ok(DispatcherConfig {
            route: cfg.routing_tree()?,
            inhibitor: Inhibitor::new(cfg.inhibit_rules()?),
            intervener: cfg.intervener(),
            resolve_timeout: cfg.global.resolve_timeout.as_duration(),
            receivers,
            fatigue: fatigue::from_config(cfg),
        })
    }
}

/// Tunables outside alertmanager.yml.
#[derive(Clone, Debug)]
pub struct DispatcherOptions {
    /// How long expired silences are kept.
    pub silence_retention: Duration,
    /// How often resolved alerts, old silences and expired notification log
    /// entries are dropped.
    pub maintenance_interval: Duration,
    pub retry: Backoff,
    /// Most aggregation groups at once (0: no limit); alerts that would
    /// open one more are kept and shown but not notified, as with
    /// Alertmanager's `--dispatch.max-number-of-aggregation-groups`.
    pub max_aggregation_groups: usize,
    /// The wall time the dispatcher's clock starts at (system time when
    /// `None`); tests fix it.
    pub start_time: Option<DateTime<Utc>>,
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        DispatcherOptions {
            silence_retention: DEFAULT_RETENTION,
            maintenance_interval: Duration::from_secs(15 * 60),
            retry: Backoff::default(),
            max_aggregation_groups: 0,
            start_time: None,
        }
    }
}

/// A stored alert and whether its history last said "firing".
#[derive(Clone, Debug)]
struct Tracked {
    alert: Alert,
    firing: bool,
}

type GroupId = (String, Fingerprint);

/// State shared by the dispatcher handle, its groups and the pipeline.
pub(crate) struct Core {
    clock: Clock,
    store: Arc<dyn AlertingStore>,
    silences: Arc<Silences>,
    nflog: NotificationLog,
    alerts: Mutex<HashMap<Fingerprint, Tracked>>,
    marker: Mutex<HashMap<Fingerprint, AlertStatus>>,
    config: RwLock<Arc<DispatcherConfig>>,
    groups: Mutex<HashMap<GroupId, Arc<AggrGroup>>>,
    fatigue: Fatigue,
    pub(crate) metrics: Arc<AlertingMetrics>,
    options: DispatcherOptions,
    shutdown: watch::Sender<bool>,
}

/// Locks a mutex, recovering the data if a holder panicked: the maps
/// below are updated one insert or remove at a time and stay consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Core {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn config(&self) -> Arc<DispatcherConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Appends history events; a store failure is logged and does not stop
    /// alerting, as history is informational.
    pub(crate) async fn record(&self, events: Vec<HistoryEvent>) {
        for e in &events {
            // Every firing/resolved change passes here: the flapping
            // control counts them.
            let firing = match e.kind {
                HistoryKind::Firing => true,
                HistoryKind::Resolved => false,
                _ => continue,
            };
            if let Ok(fp) = u64::from_str_radix(&e.fingerprint, 16) {
                self.fatigue
                    .note_state(Fingerprint(fp), firing, crate::clock::from_ms(e.at_ms));
            }
        }
        for e in events {
            if let Err(err) = self.store.append_history_event(&e).await {
                tracing::warn!(error = %err, kind = e.kind.as_str(), "alert history event lost");
            }
        }
    }

    /// Silence and inhibition status of `alerts` at `now`, updating the
    /// marker; returns the statuses and the history events of changes.
    pub(crate) fn refresh_statuses(
        &self,
        cfg: &DispatcherConfig,
        alerts: &[&Alert],
        now: DateTime<Utc>,
    ) -> (Vec<AlertStatus>, Vec<HistoryEvent>) {
        // Only firing alerts matching some source can inhibit: collect them
        // once per batch rather than scanning the store per alert.
        let sources: Vec<Alert> = if cfg.inhibitor.rules().is_empty() {
            Vec::new()
        } else {
            lock(&self.alerts)
                .values()
                .filter(|t| {
                    !t.alert.resolved_at(now)
                        && cfg
                            .inhibitor
                            .rules()
                            .iter()
                            .any(|r| r.source.matches(&t.alert.labels))
                })
                .map(|t| t.alert.clone())
                .collect()
        };
        let mut marker = lock(&self.marker);
        let mut events = Vec::new();
        let mut out = Vec::with_capacity(alerts.len());
        for a in alerts {
            let fp = a.fingerprint();
            let silenced = self.silences.mutes(&a.labels, now);
            let inhibited: Vec<String> = cfg
                .inhibitor
                .mutes(&a.labels, sources.iter(), now)
                .map(|f| vec![f.to_string()])
                .unwrap_or_default();
            let status = AlertStatus::checked(silenced, inhibited);
            let prev = marker.insert(fp, status.clone()).unwrap_or_default();
            if !a.resolved_at(now) {
                let mut ev = |kind, by: &Vec<String>| {
                    events.push(history(now, kind, a, by.clone()));
                };
                if !status.silenced_by.is_empty() && status.silenced_by != prev.silenced_by {
                    ev(HistoryKind::Silenced, &status.silenced_by);
                }
                if !status.inhibited_by.is_empty() && status.inhibited_by != prev.inhibited_by {
                    ev(HistoryKind::Inhibited, &status.inhibited_by);
                }
                if status.state == crate::alert::AlertState::Active
                    && prev.state == crate::alert::AlertState::Suppressed
                {
                    ev(HistoryKind::Unsuppressed, &Vec::new());
                }
            }
            out.push(status);
        }
        (out, events)
    }

    /// History events for stored alerts that have resolved by timeout (or
    /// by an end time reached) since their last "firing" event: the given
    /// ones, or every stored alert when `only` is `None`.
    fn note_resolutions(
        &self,
        only: Option<&[Fingerprint]>,
        now: DateTime<Utc>,
    ) -> Vec<HistoryEvent> {
        let mut events = Vec::new();
        let mut alerts = lock(&self.alerts);
        let mut check = |t: &mut Tracked| {
            if t.firing && t.alert.resolved_at(now) {
                t.firing = false;
                events.push(history(now, HistoryKind::Resolved, &t.alert, Vec::new()));
            }
        };
        match only {
            Some(fps) => {
                for fp in fps {
                    if let Some(t) = alerts.get_mut(fp) {
                        check(t);
                    }
                }
            }
            None => alerts.values_mut().for_each(check),
        }
        drop(alerts);
        events
    }

    /// Routes one alert into its aggregation groups, creating them (and
    /// their timer tasks) as needed.
    fn route_alert(self: &Arc<Self>, cfg: &Arc<DispatcherConfig>, alert: &Alert) {
        let now = self.now();
        let mut groups = lock(&self.groups);
        for route in cfg.route.match_labels(&alert.labels) {
            let labels = route.group_labels(&alert.labels);
            let id = (route.id().to_string(), Fingerprint::of(&labels));
            match groups.get(&id) {
                Some(g) => g.insert(alert.clone(), now),
                None => {
                    let limit = self.options.max_aggregation_groups;
                    if limit > 0 && groups.len() >= limit {
                        tracing::error!(
                            groups = groups.len(),
                            limit,
                            alert = alert.name(),
                            "too many aggregation groups, cannot create new group for alert"
                        );
                        continue;
                    }
                    let g = Arc::new(AggrGroup::new(route, labels, cfg.clone()));
                    g.insert(alert.clone(), now);
                    groups.insert(id.clone(), g.clone());
                    group::spawn(self.clone(), id, g);
                }
            }
        }
    }
}

pub(crate) fn history(
    now: DateTime<Utc>,
    kind: HistoryKind,
    a: &Alert,
    by: Vec<String>,
) -> HistoryEvent {
    HistoryEvent {
        at_ms: to_ms(now),
        kind,
        fingerprint: a.fingerprint().to_string(),
        labels: a.labels.clone(),
        by,
        receiver: None,
        integration: None,
        error: None,
    }
}

/// The handle an API layer and the rule manager hold. Cloning shares the
/// dispatcher.
#[derive(Clone)]
pub struct Dispatcher {
    core: Arc<Core>,
}

impl Dispatcher {
    /// Loads silences and the notification log from `store` and starts the
    /// maintenance task. Must run inside a tokio runtime.
    pub async fn start(
        config: DispatcherConfig,
        store: Arc<dyn AlertingStore>,
        options: DispatcherOptions,
    ) -> Result<Dispatcher, StoreError> {
        let clock = match options.start_time {
            Some(t) => Clock::starting_at(t),
            None => Clock::system(),
        };
        let silences = Arc::new(Silences::load(store.clone(), options.silence_retention).await?);
        let nflog = NotificationLog::load(store.clone()).await?;
        let (shutdown, _) = watch::channel(false);
        let metrics = Arc::new(AlertingMetrics::default());
        register_integrations(&metrics, &config);
        let core = Arc::new(Core {
            clock,
            store,
            silences,
            nflog,
            alerts: Mutex::new(HashMap::new()),
            marker: Mutex::new(HashMap::new()),
            config: RwLock::new(Arc::new(config)),
            groups: Mutex::new(HashMap::new()),
            fatigue: Fatigue::default(),
            metrics,
            options,
            shutdown,
        });
        spawn_maintenance(&core);
        Ok(Dispatcher { core })
    }

    /// The dispatcher's current time (follows tokio's clock).
    pub fn now(&self) -> DateTime<Utc> {
        self.core.now()
    }

    /// The silence store (API v2 `/silences`).
    pub fn silences(&self) -> &Arc<Silences> {
        &self.core.silences
    }

    /// `POST /api/v2/alerts` and the rule manager's sends: every valid
    /// alert is stored (merged with the stored one when their activity
    /// overlaps) and routed; the invalid ones are reported together.
    pub async fn put_alerts(&self, alerts: Vec<PostableAlert>) -> Result<(), AlertErrors> {
        let now = self.now();
        let cfg = self.core.config();
        let mut errors = Vec::new();
        let mut events = Vec::new();
        for p in alerts {
            let alert = match p.into_alert(now, cfg.resolve_timeout) {
                Ok(a) => a,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            self.core.metrics.alert_received(alert.resolved_at(now));
            let fp = alert.fingerprint();
            let mut store = lock(&self.core.alerts);
            let (merged, mut was_firing) = match store.get(&fp) {
                Some(old) if alert.overlaps(&old.alert) => {
                    (old.alert.merge(&alert, now), old.firing)
                }
                Some(old) => (alert, old.firing),
                None => (alert, false),
            };
            // The stored alert timed out unnoticed before this re-send:
            // its resolution belongs in the history first.
            if let Some(old) = store.get(&fp) {
                if old.firing && old.alert.resolved_at(now) {
                    events.push(history(now, HistoryKind::Resolved, &old.alert, Vec::new()));
                    was_firing = false;
                }
            }
            let firing = !merged.resolved_at(now);
            if firing != was_firing {
                let kind = if firing {
                    HistoryKind::Firing
                } else {
                    HistoryKind::Resolved
                };
                // An alert first seen already resolved has no history yet.
                if firing || store.contains_key(&fp) {
                    events.push(history(now, kind, &merged, Vec::new()));
                }
            }
            store.insert(
                fp,
                Tracked {
                    alert: merged.clone(),
                    firing,
                },
            );
            // Routing under the store lock keeps groups seeing updates of
            // one alert in the order the store took them.
            self.core.route_alert(&cfg, &merged);
        }
        self.core.record(events).await;
        self.core.metrics.alerts_invalid(errors.len() as u64);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AlertErrors(errors))
        }
    }

    /// The stored alert with this fingerprint.
    pub fn alert(&self, fp: Fingerprint) -> Option<Alert> {
        lock(&self.core.alerts).get(&fp).map(|t| t.alert.clone())
    }

    /// The marker's status: `unprocessed` until the alert's first flush or
    /// API view checked it.
    pub fn status(&self, fp: Fingerprint) -> AlertStatus {
        lock(&self.core.marker)
            .get(&fp)
            .cloned()
            .unwrap_or_default()
    }

    /// Number of aggregation groups.
    pub fn group_count(&self) -> usize {
        lock(&self.core.groups).len()
    }

    /// The stage's counters (`pharos_alertmanager_*` on `/metrics`).
    pub fn metrics(&self) -> &Arc<AlertingMetrics> {
        &self.core.metrics
    }

    /// Stored alerts not yet resolved, by marker state: (active,
    /// suppressed, unprocessed), Alertmanager's `alertmanager_alerts`.
    pub fn alert_state_counts(&self) -> (usize, usize, usize) {
        use crate::alert::AlertState;
        let now = self.now();
        let fps: Vec<Fingerprint> = lock(&self.core.alerts)
            .iter()
            .filter(|(_, t)| !t.alert.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        let marker = lock(&self.core.marker);
        let mut counts = (0, 0, 0);
        for fp in fps {
            match marker.get(&fp).map(|s| s.state).unwrap_or_default() {
                AlertState::Active => counts.0 += 1,
                AlertState::Suppressed => counts.1 += 1,
                AlertState::Unprocessed => counts.2 += 1,
            }
        }
        counts
    }

    /// Silences by state now: (active, pending, expired), Alertmanager's
    /// `alertmanager_silences`.
    pub fn silence_state_counts(&self) -> (usize, usize, usize) {
        let now = self.now();
        let mut counts = (0, 0, 0);
        for s in self.core.silences.query(&[], now) {
            match s.state(now) {
                SilenceState::Active => counts.0 += 1,
                SilenceState::Pending => counts.1 += 1,
                SilenceState::Expired => counts.2 += 1,
            }
        }
        counts
    }

    /// Replaces the configuration (reload): groups are rebuilt from the
    /// stored alerts, as Alertmanager does by restarting its dispatcher;
    /// the notification log keeps duplicates from being sent again.
    pub async fn reload(&self, config: DispatcherConfig) {
        let old: Vec<Arc<AggrGroup>> = lock(&self.core.groups).drain().map(|(_, g)| g).collect();
        for g in old {
            g.stop();
        }
        register_integrations(&self.core.metrics, &config);
        let cfg = Arc::new(config);
        *self.core.config.write().unwrap_or_else(|e| e.into_inner()) = cfg.clone();
        let alerts: Vec<Alert> = lock(&self.core.alerts)
            .values()
            .map(|t| t.alert.clone())
            .collect();
        for a in &alerts {
            self.core.route_alert(&cfg, a);
        }
    }

    /// Runs maintenance now: records timeout resolutions, drops resolved
    /// alerts, silences past retention and expired log entries.
    pub async fn maintain(&self) -> Result<(), StoreError> {
        maintain(&self.core).await
    }

    /// Stops every group and the maintenance task.
    pub fn stop(&self) {
        let _ = self.core.shutdown.send(true);
        for (_, g) in lock(&self.core.groups).drain() {
            g.stop();
        }
    }
}

/// Gives every configured integration kind its series before the first send.
fn register_integrations(metrics: &AlertingMetrics, config: &DispatcherConfig) {
    metrics.register_integrations(config.receivers.values().flatten().map(|i| i.name.as_str()));
}

async fn maintain(core: &Core) -> Result<(), StoreError> {
    let now = core.now();
    let events = core.note_resolutions(None, now);
    core.record(events).await;
    let gone: Vec<Fingerprint> = {
        let mut alerts = lock(&core.alerts);
        let gone: Vec<Fingerprint> = alerts
            .iter()
            .filter(|(_, t)| t.alert.resolved_at(now))
            .map(|(fp, _)| *fp)
            .collect();
        for fp in &gone {
            alerts.remove(fp);
        }
        gone
    };
    {
        let mut marker = lock(&core.marker);
        for fp in &gone {
            marker.remove(fp);
        }
    }
    core.silences
        .gc(now)
        .await
        .map_err(|e| StoreError(e.to_string()))?;
    core.nflog.gc(now).await?;
    // Flap counting needs changes as old as the longest window.
    let keep = core
        .config()
        .fatigue
        .values()
        .filter_map(|f| f.flapping.map(|fl| fl.window))
        .max()
        .unwrap_or_default();
    core.fatigue.gc(keep, now);
    Ok(())
}

fn spawn_maintenance(core: &Arc<Core>) {
    let weak = Arc::downgrade(core);
    let mut stop = core.shutdown.subscribe();
    let every = core.options.maintenance_interval;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let Some(core) = weak.upgrade() else { return };
            if let Err(e) = maintain(&core).await {
                tracing::warn!(error = %e, "alerting maintenance failed");
            }
        }
    });
}
