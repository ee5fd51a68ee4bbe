//! Pharos as an Alertmanager: the `alertmanager:` section of `pharos.yml` (or the file
//! `alertmanager_config_file:` names) loaded into `pharos-alerting`'s dispatcher, which
//! keeps silences, the notification log and alert history in the control-plane
//! database (`--database-url`, default SQLite `<data-dir>/pharos.db`).
//!
//! Write path: `POST /api/v2/alerts` and the rule manager ([`RuleNotifier`]) →
//! `Dispatcher::put_alerts` → routing, grouping, inhibition, silences → receivers.
//! Read path: API v2 (`http::alertmanager_api`) → the dispatcher's views; the history
//! endpoint → `pharos_state::AlertHistory`.
//! Reload: [`AlertingApplier`] re-reads the alertmanager part, builds its receivers and
//! only then swaps the dispatcher's configuration, so a bad one is refused whole.

use crate::config::{Config, ConfigError, ConfigErrors};
use crate::reload::{Applier, ApplyFuture};
use anyhow::Context as _;
use pharos_alerting::alert::PostableAlert;
use pharos_alerting::dispatch::{Dispatcher, DispatcherConfig, DispatcherOptions};
use pharos_alerting::persist_sql::SqlStore;
use pharos_alerting::receivers::{build_receivers, OutboundPolicy, ReceiverOptions};
use pharos_state::Database;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

/// What runs when no alertmanager configuration is given: alerts are kept, shown and
/// silenced through the API, and notify nobody.
pub const DEFAULT_ALERTMANAGER_CONFIG: &str =
    "route:\n  receiver: default\nreceivers:\n  - name: default\n";

/// Alert batches from the rule manager waiting for the dispatcher. Rule groups send at
/// most once per evaluation each, so a full queue means the dispatcher is stuck; the
/// batch is then dropped (and counted) rather than blocking rule evaluation.
const RULE_QUEUE_BATCHES: usize = 1024;

/// A loaded alertmanager configuration.
#[derive(Clone, Debug)]
pub struct AmConfig {
    pub config: pharos_alerting::Config,
}

impl AmConfig {
    /// The configuration as YAML with secrets masked, as Alertmanager's status shows it.
    pub fn original(&self) -> String {
        self.config.to_yaml()
    }
}

/// Alertmanager's messages end with serde_yaml's position, which refers to the
/// re-serialized section rather than to `pharos.yml`; the position of the section is
/// reported instead.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i)
            if msg[i..]
                .trim_start_matches(" at line ")
                .chars()
                .all(|c| c.is_ascii_digit() || " column".contains(c)) =>
        {
            &msg[..i]
        }
        _ => msg,
    }
}

/// (field path, message) pairs for an alertmanager config error, paths under `prefix`.
pub fn error_fields(prefix: &str, e: &pharos_alerting::ConfigError) -> Vec<(String, String)> {
    use pharos_alerting::ConfigError as E;
    match e {
        E::Yaml { message, .. } => {
            let msg = strip_position(message);
            // serde_yaml prefixes the path of nested fields: `route.routes[0]: unknown …`.
            match msg.split_once(": ") {
                Some((path, rest))
                    if !path.is_empty()
                        && path
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c)) =>
                {
                    vec![(format!("{prefix}.{path}"), rest.to_owned())]
                }
                _ => vec![(prefix.to_owned(), msg.to_owned())],
            }
        }
        E::Invalid(errs) => errs
            .iter()
            .map(|v| (prefix.to_owned(), v.to_string()))
            .collect(),
        E::Io { .. } => vec![(prefix.to_owned(), e.to_string())],
    }
}

/// Validates an inline `alertmanager:` section (config validation calls this).
pub fn validate_inline(section: &serde_yaml::Value) -> Vec<(String, String)> {
    match inline_config(section) {
        Ok(_) => Vec::new(),
        Err(e) => error_fields("alertmanager", &e),
    }
}

fn inline_config(
    section: &serde_yaml::Value,
) -> Result<pharos_alerting::Config, pharos_alerting::ConfigError> {
    let text = serde_yaml::to_string(section).map_err(|e| pharos_alerting::ConfigError::Yaml {
        message: e.to_string(),
        line: None,
        column: None,
    })?;
    pharos_alerting::Config::load(&text)
}

/// Loads the alertmanager part of `config`; `dir` is `pharos.yml`'s directory, which
/// relative paths (the standalone file, `templates:` of an inline section) follow.
pub fn load(config: &Config, dir: &Path) -> Result<AmConfig, Vec<(String, String)>> {
    let cfg = match (&config.alertmanager, &config.alertmanager_config_file) {
        (Some(section), _) => {
            let mut cfg = inline_config(section).map_err(|e| error_fields("alertmanager", &e))?;
            for t in &mut cfg.templates {
                if !t.is_empty() && Path::new(t.as_str()).is_relative() {
                    *t = dir.join(t.as_str()).display().to_string();
                }
            }
            cfg
        }
        (None, Some(file)) => {
            let path = dir.join(file);
            pharos_alerting::Config::load_file(&path).map_err(|e| {
                error_fields("alertmanager_config_file", &e)
                    .into_iter()
                    .map(|(p, m)| (p, format!("{}: {m}", path.display())))
                    .collect::<Vec<_>>()
            })?
        }
        (None, None) => pharos_alerting::Config::load(DEFAULT_ALERTMANAGER_CONFIG)
            .map_err(|e| error_fields("alertmanager", &e))?,
    };
    Ok(AmConfig { config: cfg })
}

/// Builds the dispatcher's configuration, receivers (and their templates) included.
fn dispatcher_config(am: &AmConfig, external_url: &str) -> Result<DispatcherConfig, String> {
    let opts = ReceiverOptions::from_config(&am.config, external_url, OutboundPolicy::default())
        .map_err(|e| e.to_string())?;
    let receivers = build_receivers(&am.config, &opts).map_err(|e| e.to_string())?;
    DispatcherConfig::from_config(&am.config, receivers).map_err(|e| e.to_string())
}

fn joined(errs: &[(String, String)]) -> String {
    errs.iter()
        .map(|(p, m)| format!("{p}: {m}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `pharos check config`'s alertmanager step: the standalone file and the receivers'
/// templates, which config validation alone does not open.
pub fn check_config(file: &Path, config: &Config) -> Result<(), ConfigErrors> {
    let dir = crate::rules::config_dir(Some(file));
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let errs = match load(config, &dir) {
        Ok(am) => match dispatcher_config(&am, "http://localhost") {
            Ok(_) => Vec::new(),
            Err(e) => vec![(section_name(config).to_owned(), e)],
        },
        Err(errs) => errs,
    };
    if errs.is_empty() {
        return Ok(());
    }
    Err(ConfigErrors(
        errs.into_iter()
            .map(|(path, message)| ConfigError {
                file: file.display().to_string(),
                position: crate::config::locate(&text, &path)
                    .or_else(|| crate::config::locate(&text, section_name(config))),
                path,
                message,
            })
            .collect(),
    ))
}

fn section_name(config: &Config) -> &'static str {
    if config.alertmanager_config_file.is_some() && config.alertmanager.is_none() {
        "alertmanager_config_file"
    } else {
        "alertmanager"
    }
}

/// Refuses to start with an alertmanager configuration that does not load.
pub fn check_startup(config: &Config, config_file: Option<&Path>) -> anyhow::Result<()> {
    let dir = crate::rules::config_dir(config_file);
    let am = load(config, &dir)
        .map_err(|e| anyhow::anyhow!("invalid alertmanager configuration: {}", joined(&e)))?;
    dispatcher_config(&am, "http://localhost")
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("invalid alertmanager configuration: {e}"))
}

/// The URL notifications link back to. Prometheus's default `--web.external-url` (host
/// name and port), the same the rule manager puts in generator URLs.
fn external_url(addr: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| addr.ip().to_string());
    format!("http://{host}:{}", addr.port())
}

/// The running alerting stage of one server.
pub struct Alerting {
    pub dispatcher: Dispatcher,
    pub db: Database,
    config: RwLock<Arc<AmConfig>>,
    config_dir: PathBuf,
    external_url: String,
    /// Unix milliseconds of startup, for the status endpoint's uptime.
    pub started_ms: i64,
    rule_tx: mpsc::Sender<Vec<PostableAlert>>,
    /// Rule-alert batches dropped because the queue was full (or closed at shutdown).
    rule_dropped: AtomicU64,
    /// The rule-alert forwarder and the history pruner, stopped with the stage.
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Alerting {
    /// Opens the database (`database_url`, or SQLite in `data_dir`), loads the
    /// configuration and starts the dispatcher.
    pub async fn start(
        config: &Config,
        config_file: Option<&Path>,
        data_dir: &Path,
        database_url: Option<&str>,
        addr: SocketAddr,
    ) -> anyhow::Result<Arc<Alerting>> {
        let db = match database_url {
            Some(url) => Database::connect(url)
                .await
                .context("cannot open the control-plane database")?,
            None => Database::open_data_dir(data_dir).await.with_context(|| {
                format!(
                    "cannot open the control-plane database in {}",
                    data_dir.display()
                )
            })?,
        };
        let config_dir = crate::rules::config_dir(config_file);
        let external_url = external_url(addr);
        let am = load(config, &config_dir)
            .map_err(|e| anyhow::anyhow!("invalid alertmanager configuration: {}", joined(&e)))?;
        let dcfg = dispatcher_config(&am, &external_url)
            .map_err(|e| anyhow::anyhow!("invalid alertmanager configuration: {e}"))?;
        let store = Arc::new(SqlStore::new(db.clone()));
        let dispatcher = Dispatcher::start(dcfg, store, DispatcherOptions::default())
            .await
            .context("cannot load silences and the notification log")?;
        let (rule_tx, rule_rx) = mpsc::channel(RULE_QUEUE_BATCHES);
        let tasks = vec![
            tokio::spawn(forward_rule_alerts(dispatcher.clone(), rule_rx)).abort_handle(),
            tokio::spawn(prune_history(
                db.clone(),
                config.storage.tsdb.retention.as_millis_i64(),
            ))
            .abort_handle(),
        ];
        let alerting = Arc::new(Alerting {
            dispatcher,
            db,
            config: RwLock::new(Arc::new(am)),
            config_dir,
            external_url,
            started_ms: crate::http::params::now_ms(),
            rule_tx,
            rule_dropped: AtomicU64::new(0),
            tasks,
        });
        tracing::info!(
            backend = ?alerting.db.backend(),
            "alerting started"
        );
        Ok(alerting)
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<AmConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The rule manager's way in: alerts go to the same `put_alerts` as the API's.
    pub fn rule_notifier(
        self: &Arc<Self>,
        external_labels: &std::collections::BTreeMap<String, String>,
    ) -> Arc<RuleNotifier> {
        Arc::new(RuleNotifier {
            alerting: Arc::downgrade(self),
            external_url: self.external_url.clone(),
            external_labels: external_labels.clone(),
        })
    }

    /// What `/metrics` shows of the alerting stage.
    pub fn metrics_view(&self) -> crate::self_metrics::AlertingView {
        let d = &self.dispatcher;
        crate::self_metrics::AlertingView {
            alerts: d.alert_state_counts(),
            silences: d.silence_state_counts(),
            aggregation_groups: d.group_count(),
            counters: d.metrics().snapshot(),
            // Sender::capacity is the free slots, so the rest are queued batches.
            rule_queue_length: RULE_QUEUE_BATCHES.saturating_sub(self.rule_tx.capacity()),
            rule_queue_capacity: RULE_QUEUE_BATCHES,
            rule_dropped: self.rule_dropped.load(Ordering::Relaxed),
        }
    }

    /// Stops the dispatcher's groups and timers and closes the database.
    pub async fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.dispatcher.stop();
        self.db.close().await;
    }
}

/// How often alert history older than the retention is deleted.
const HISTORY_PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Keeps alert history as long as metrics (`storage.tsdb.retention`), so the table
/// does not grow without bound; 0 keeps everything.
async fn prune_history(db: Database, retention_ms: i64) {
    if retention_ms <= 0 {
        return;
    }
    let mut tick = tokio::time::interval(HISTORY_PRUNE_EVERY);
    loop {
        tick.tick().await;
        let cutoff = crate::http::params::now_ms().saturating_sub(retention_ms);
        match db.history().delete_before(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "old alert history deleted"),
            Err(e) => tracing::warn!(error = %e, "deleting old alert history failed"),
        }
    }
}

async fn forward_rule_alerts(dispatcher: Dispatcher, mut rx: mpsc::Receiver<Vec<PostableAlert>>) {
    while let Some(batch) = rx.recv().await {
        if let Err(e) = dispatcher.put_alerts(batch).await {
            tracing::warn!(error = %e, "alerts from rules refused");
        }
    }
}

/// Sends the rule manager's alerts to the dispatcher as Prometheus's notifier sends
/// them to an Alertmanager: start at the firing time, end at the resolution (or at the
/// validity limit while firing), the expression's graph link, external labels added
/// where the alert does not set them.
pub struct RuleNotifier {
    /// Weak, so a notifier kept by the rule manager does not keep alerting alive.
    alerting: std::sync::Weak<Alerting>,
    external_url: String,
    external_labels: std::collections::BTreeMap<String, String>,
}

fn ms_time(ms: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_millis(ms)
}

impl RuleNotifier {
    fn postable(&self, expr: &str, a: &pharos_rules::alerting::Alert) -> PostableAlert {
        let mut labels: std::collections::BTreeMap<String, String> = a
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        for (k, v) in &self.external_labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        PostableAlert {
            labels,
            annotations: a
                .annotations
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            starts_at: a.fired_at.and_then(ms_time),
            ends_at: a.resolved_at.or(a.valid_until).and_then(ms_time),
            generator_url: crate::rules::generator_url(&self.external_url, expr),
        }
    }
}

impl pharos_rules::Notifier for RuleNotifier {
    fn send(&self, expr: &str, alerts: &[pharos_rules::alerting::Alert]) {
        let Some(alerting) = self.alerting.upgrade() else {
            return;
        };
        let batch: Vec<PostableAlert> = alerts.iter().map(|a| self.postable(expr, a)).collect();
        if batch.is_empty() {
            return;
        }
        if let Err(e) = alerting.rule_tx.try_send(batch) {
            alerting.rule_dropped.fetch_add(1, Ordering::Relaxed);
            let alerts = match &e {
                mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b) => {
                    b.len()
                }
            };
            tracing::warn!(
                alerts,
                "alert queue full or closed; dropping alerts from rule evaluation"
            );
        }
    }
}

/// The alertmanager part follows the configuration: a reload re-reads it (and the
/// standalone file), and one that does not load, or whose receivers cannot be built,
/// refuses the whole reload while the running configuration carries on.
pub struct AlertingApplier(pub Arc<Alerting>);

impl Applier for AlertingApplier {
    fn name(&self) -> &str {
        "alerting"
    }

    fn check<'a>(&'a self, config: &'a Config) -> ApplyFuture<'a> {
        Box::pin(async move {
            let am = load(config, &self.0.config_dir).map_err(|e| joined(&e))?;
            dispatcher_config(&am, &self.0.external_url).map(|_| ())
        })
    }

    fn apply<'a>(&'a self, config: &'a Config) -> ApplyFuture<'a> {
        Box::pin(async move {
            let am = load(config, &self.0.config_dir).map_err(|e| joined(&e))?;
            let dcfg = dispatcher_config(&am, &self.0.external_url)?;
            self.0.dispatcher.reload(dcfg).await;
            *self.0.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(am);
            tracing::info!("alertmanager configuration reloaded");
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_errors_keep_their_field_path() {
        let v: serde_yaml::Value =
            serde_yaml::from_str("route:\n  receiver: a\n  bogus: 1\nreceivers:\n  - name: a\n")
                .unwrap();
        let errs = validate_inline(&v);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, "alertmanager.route");
        assert!(errs[0].1.contains("unknown field `bogus`"), "{errs:?}");
        assert!(!errs[0].1.contains(" at line "), "{errs:?}");
        let v: serde_yaml::Value =
            serde_yaml::from_str("route:\n  receiver: missing\nreceivers:\n  - name: a\n").unwrap();
        assert_eq!(
            validate_inline(&v),
            vec![(
                "alertmanager".to_owned(),
                "undefined receiver \"missing\" used in route".to_owned()
            )]
        );
    }

    #[test]
    fn default_config_loads() {
        let am = load(&Config::default(), Path::new("")).unwrap();
        assert_eq!(am.config.route.receiver, "default");
        assert!(dispatcher_config(&am, "http://x").is_ok());
    }

    #[test]
    fn standalone_file_is_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("am.yml"),
            "route:\n  receiver: r\nreceivers:\n  - name: r\n",
        )
        .unwrap();
        let c = crate::config::parse("p.yml", "alertmanager_config_file: am.yml\n").unwrap();
        assert!(load(&c, dir.path()).is_ok());
        let c = crate::config::parse("p.yml", "alertmanager_config_file: nope.yml\n").unwrap();
        let errs = load(&c, dir.path()).unwrap_err();
        assert_eq!(errs[0].0, "alertmanager_config_file");
    }
}
