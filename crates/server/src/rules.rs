//! Prometheus rule files inside `pharos serve`: the rule manager of `pharos-rules` wired
//! to this server's storage and PromQL engine, loaded from `rule_files`, re-loaded with
//! the configuration, and stopped before the storage closes.
//!
//! Write path: a group's thread evaluates a rule → [`ServerQuery`] (the API's engine
//! over the `Db`) → samples → [`DbAppender`] → `Db::append`.
//! Alerts due for sending → [`AlertSink`] → the notifier [`Rules::set_notifier`]
//! connected, if any (the alerting stage, which `serve` connects).
//! Read path: `/api/v1/rules`, `/api/v1/alerts` and `/metrics` → [`Rules::groups`] and
//! the views built from it.

use crate::config::{AlertRulesConfig, Config, ConfigError, ConfigErrors, PromDuration};
use crate::http::query_api::QueryEngine;
use crate::reload::{Applier, ApplyFuture};
use pharos_model::{Labels, Queryable, WriteBatch};
use pharos_promql::{Cancel, InstantSample, QueryError, QueryOptions, Value};
use pharos_rules::alerting::Alert;
use pharos_rules::rulefmt::{parse_file, ParseOptions};
use pharos_rules::template::GoTemplates;
use pharos_rules::{
    AlertsView, Appendable, Group, ManagerDeps, Notifier, QueryFunc, RuleManager, RuleSource,
    RulesFilter, RulesView, Settings,
};
use pharos_tsdb::Db;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// How the server parses rule files: Prometheus 3's defaults (unknown fields refused,
/// UTF-8 names) with alert templates checked, so a template that cannot parse is a load
/// error rather than an `<error expanding template>` at evaluation time.
fn parse_options() -> ParseOptions<'static> {
    ParseOptions {
        templates: Some(&GoTemplates),
        ..ParseOptions::default()
    }
}

/// The directory relative `rule_files` are resolved against: the config file's.
pub fn config_dir(config_file: Option<&Path>) -> PathBuf {
    config_file
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The rule files `config` names, in the order given, each once; and the patterns
/// that matched no file. Patterns that match nothing are not errors, as in Prometheus
/// (a rule directory may legitimately be empty), but are worth a warning.
pub fn rule_file_paths(config: &Config, dir: &Path) -> (Vec<PathBuf>, Vec<String>) {
    glob_paths(&config.rule_files, dir)
}

/// Files matching `patterns` (relative ones against `dir`), in the order given, each
/// once; and the patterns that matched no file.
pub fn glob_paths(patterns: &[String], dir: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    let mut unmatched = Vec::new();
    // The directory is taken literally: a `[` in it must not turn into a glob class.
    let base = PathBuf::from(glob::Pattern::escape(&dir.to_string_lossy()));
    for pattern in patterns {
        let full = base.join(pattern);
        let mut matched = false;
        // Invalid patterns are refused by config validation; nothing to add here.
        if let Ok(paths) = glob::glob(&full.to_string_lossy()) {
            for p in paths.flatten() {
                matched = true;
                if seen.insert(p.clone()) {
                    files.push(p);
                }
            }
        }
        if !matched {
            unmatched.push(pattern.clone());
        }
    }
    (files, unmatched)
}

/// Parses every rule file `config` names; each error carries the rule file's name.
pub fn check_rule_files(config: &Config, dir: &Path) -> Result<Vec<PathBuf>, Vec<String>> {
    let (files, _) = rule_file_paths(config, dir);
    let errors: Vec<String> = files
        .iter()
        .filter_map(|f| parse_file(f, parse_options()).err())
        .flatten()
        .map(|e| e.to_string())
        .collect();
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// `pharos check config`'s rule-file step: every rule-file error as a config error on
/// `rule_files`; on success, warnings for patterns matching no file.
pub fn check_config_rule_files(file: &Path, config: &Config) -> Result<Vec<String>, ConfigErrors> {
    let dir = config_dir(Some(file));
    let (_, unmatched) = rule_file_paths(config, &dir);
    match check_rule_files(config, &dir) {
        Ok(_) => Ok(unmatched
            .into_iter()
            .map(|p| format!("rule_files pattern {p:?} matches no file"))
            .collect()),
        Err(errs) => {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let position = crate::config::locate(&text, "rule_files");
            Err(ConfigErrors(
                errs.into_iter()
                    .map(|message| ConfigError {
                        file: file.display().to_string(),
                        position,
                        path: "rule_files".into(),
                        message,
                    })
                    .collect(),
            ))
        }
    }
}

/// Refuses to start with rule files that do not load, as Prometheus does.
pub fn check_startup(config: &Config, config_file: Option<&Path>) -> anyhow::Result<()> {
    // Patterns matching nothing are warned about when the files are loaded.
    check_rule_files(config, &config_dir(config_file))
        .map(|_| ())
        .map_err(|errs| anyhow::anyhow!("cannot load rule files:\n  {}", errs.join("\n  ")))
}

/// Rule queries on the server's engine, sharing its concurrency limit and timeout with
/// the query API. One [`Cancel`] covers all of them, so shutdown does not wait for a
/// long evaluation to finish.
struct ServerQuery {
    engine: Arc<dyn QueryEngine>,
    storage: Arc<dyn Queryable>,
    cancel: Cancel,
}

impl QueryFunc for ServerQuery {
    fn query(&self, expr: &str, ts_ms: i64) -> Result<Vec<InstantSample>, QueryError> {
        let res = self.engine.instant_query(
            self.storage.as_ref(),
            expr,
            ts_ms,
            &QueryOptions::default(),
            &self.cancel,
        )?;
        match res.value {
            Value::Vector(v) => Ok(v),
            Value::Scalar { t, v } => Ok(vec![InstantSample {
                labels: Labels::empty(),
                t,
                v,
            }]),
            _ => Err(QueryError::Execution(
                "rule result is not a vector or scalar".into(),
            )),
        }
    }
}

/// Rule outputs into the storage. As in Prometheus, samples refused for being out of
/// order or duplicate (a restart re-evaluating a slot) are not rule failures; storage
/// errors and limits (the series would never be stored) are.
struct DbAppender(Arc<Db>);

impl Appendable for DbAppender {
    fn append(&self, batch: &WriteBatch<'_>) -> Result<(), String> {
        let outcome = self.0.append(batch).map_err(|e| e.to_string())?;
        let refused = outcome.rejected_total();
        if refused == 0 {
            return Ok(());
        }
        let limited = outcome.any_limit_hit();
        let detail = outcome.first_rejection.unwrap_or_default();
        if limited {
            return Err(format!(
                "{refused} samples refused by storage limits: {detail}"
            ));
        }
        tracing::debug!(refused, detail, "rule evaluation result discarded");
        Ok(())
    }
}

/// Where alerts due for sending go. Always handed to the manager, so an alert
/// pipeline can be connected later without restarting rule groups; until then alerts
/// are dropped here (rules still evaluate and `ALERTS` is still written).
#[derive(Default)]
struct AlertSink {
    target: RwLock<Option<Arc<dyn Notifier>>>,
}

impl Notifier for AlertSink {
    fn send(&self, expr: &str, alerts: &[Alert]) {
        let target = self
            .target
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(t) = target {
            t.send(expr, alerts);
        }
    }
}

/// The link Prometheus puts in an alert's `generatorURL`: the expression in the graph
/// page of `external_url`.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let q: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
    format!(
        "{}/graph?g0.expr={q}&g0.tab=1",
        external_url.trim_end_matches('/')
    )
}

/// Prometheus's default `--web.external-url`: this host's name and the listening port.
fn default_external_url(addr: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| addr.ip().to_string());
    format!("http://{host}:{}", addr.port())
}

/// Settings the manager is built with; a reload cannot change them.
#[derive(Clone, PartialEq)]
struct StartupSettings {
    external_labels: BTreeMap<String, String>,
    rule_query_offset: PromDuration,
    alert: AlertRulesConfig,
}

impl StartupSettings {
    fn of(c: &Config) -> Self {
        StartupSettings {
            external_labels: c.global.external_labels.clone(),
            rule_query_offset: c.global.rule_query_offset,
            alert: c.rules.alert.clone(),
        }
    }

    /// Fields of `next` that differ from these, by their config path.
    fn changed(&self, next: &StartupSettings) -> Vec<&'static str> {
        let a = (&self.alert, &next.alert);
        [
            (
                self.external_labels != next.external_labels,
                "global.external_labels",
            ),
            (
                self.rule_query_offset != next.rule_query_offset,
                "global.rule_query_offset",
            ),
            (
                a.0.for_outage_tolerance != a.1.for_outage_tolerance,
                "rules.alert.for_outage_tolerance",
            ),
            (
                a.0.for_grace_period != a.1.for_grace_period,
                "rules.alert.for_grace_period",
            ),
            (
                a.0.resend_delay != a.1.resend_delay,
                "rules.alert.resend_delay",
            ),
        ]
        .into_iter()
        .filter_map(|(changed, name)| changed.then_some(name))
        .collect()
    }
}

/// The name the generated SLO rules go by in `/api/v1/rules` and in errors.
pub const SLO_RULES_NAME: &str = "generated/slos.rules.yml";

/// The running rule evaluation of one server.
pub struct Rules {
    manager: RuleManager,
    sink: Arc<AlertSink>,
    cancel: Cancel,
    config_dir: PathBuf,
    startup: StartupSettings,
    /// The rules generated for the SLOs, evaluated after the rule files.
    slo_rules: RwLock<Option<RuleSource>>,
    /// The configuration last loaded, for reloads the SLOs trigger.
    config: RwLock<Config>,
    /// One load at a time: a reload and an SLO change must not interleave.
    loading: tokio::sync::Mutex<()>,
}

impl Rules {
    /// Builds the manager over `db` and the API's engine and loads `config`'s rule
    /// files. Startup has checked them already; if they changed since and no longer
    /// load, the server runs without rules until a reload succeeds.
    pub async fn start(
        config: &Config,
        config_file: Option<&Path>,
        db: Arc<Db>,
        engine: Arc<dyn QueryEngine>,
        addr: SocketAddr,
    ) -> Arc<Rules> {
        let cancel = Cancel::new();
        let sink = Arc::new(AlertSink::default());
        let a = &config.rules.alert;
        let settings = Settings {
            external_labels: config.global.external_labels.clone(),
            external_url: default_external_url(addr),
            default_query_offset_ms: config.global.rule_query_offset.as_millis_i64(),
            outage_tolerance_ms: a.for_outage_tolerance.as_millis_i64(),
            for_grace_period_ms: a.for_grace_period.as_millis_i64(),
            resend_delay_ms: a.resend_delay.as_millis_i64(),
        };
        let storage: Arc<dyn Queryable> = db.clone();
        let manager = RuleManager::new(ManagerDeps {
            query: Arc::new(ServerQuery {
                engine,
                storage: storage.clone(),
                cancel: cancel.clone(),
            }),
            appender: Arc::new(DbAppender(db)),
            queryable: storage,
            templates: Arc::new(GoTemplates),
            notifier: Some(sink.clone()),
            settings,
        });
        let rules = Arc::new(Rules {
            manager,
            sink,
            cancel,
            config_dir: config_dir(config_file),
            startup: StartupSettings::of(config),
            slo_rules: RwLock::new(None),
            config: RwLock::new(config.clone()),
            loading: tokio::sync::Mutex::new(()),
        });
        if let Err(e) = rules.load(config).await {
            tracing::error!(error = %e, "rule files could not be loaded; no rules run until a reload succeeds");
        }
        rules
    }

    /// Loads `config`'s rule files and swaps the running groups for them; on error the
    /// running groups stay.
    async fn load(self: &Arc<Self>, config: &Config) -> Result<(), String> {
        let _one_at_a_time = self.loading.lock().await;
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config.clone();
        let (files, unmatched) = rule_file_paths(config, &self.config_dir);
        for pattern in unmatched {
            tracing::warn!(pattern, "rule_files pattern matches no file");
        }
        let mut sources: Vec<RuleSource> = files.into_iter().map(RuleSource::File).collect();
        sources.extend(
            self.slo_rules
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        );
        let interval = config.global.evaluation_interval.as_millis_i64();
        let me = self.clone();
        // Swapping joins the replaced groups' threads, which may be mid-evaluation, and
        // the snapshot for the log line waits for groups evaluating right now.
        let loaded = tokio::task::spawn_blocking(move || {
            me.manager
                .update_sources(&sources, interval, parse_options())?;
            let groups = me.manager.groups();
            Ok((
                groups.len(),
                groups.iter().map(|g| g.rules.len()).sum::<usize>(),
            ))
        })
        .await
        .map_err(|e| format!("rule loading task failed: {e}"))?;
        let (groups, rules) =
            loaded.map_err(|errs: Vec<pharos_rules::rulefmt::RuleFileError>| {
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        tracing::info!(groups, rules, "rule files loaded");
        Ok(())
    }

    /// Connects the alert pipeline: from now on every alert due for sending (firing,
    /// re-sent after the resend delay, or resolved) is handed to `notifier`, with the
    /// rule's expression for its generator URL (see [`generator_url`]). External
    /// labels are the receiver's to add, as Prometheus's notifier adds them.
    pub fn set_notifier(&self, notifier: Arc<dyn Notifier>) {
        *self.sink.target.write().unwrap_or_else(|e| e.into_inner()) = Some(notifier);
    }

    /// Stops every group, cancelling evaluations in flight, and waits for them. Called
    /// before the storage closes so no rule writes into a closed storage.
    pub async fn stop(self: &Arc<Self>) {
        self.cancel.cancel();
        let me = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || me.manager.stop()).await {
            tracing::warn!(error = %e, "stopping rule evaluation failed");
        }
    }

    /// A snapshot of every group. Waits for groups that are evaluating right now, so
    /// callers run it off the async runtime.
    pub fn groups(&self) -> Vec<Group> {
        self.manager.groups()
    }

    pub fn rules_view(&self, filter: &RulesFilter) -> RulesView {
        self.manager.rules_view(filter)
    }

    pub fn alerts_view(&self) -> AlertsView {
        self.manager.alerts_view()
    }
}

/// The SLOs' generated rules follow the SLO registry: each change replaces them and
/// reloads the rules with the configuration last loaded.
pub struct SloRules(pub Arc<Rules>);

impl crate::slo::registry::SloSync for SloRules {
    fn sync<'a>(
        &'a self,
        slos: Vec<pharos_slo::Slo>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let source = (!slos.is_empty()).then(|| RuleSource::Text {
                name: SLO_RULES_NAME.into(),
                text: pharos_slo::rule_file(&slos),
            });
            *self.0.slo_rules.write().unwrap_or_else(|e| e.into_inner()) = source;
            let config = self
                .0
                .config
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            self.0.load(&config).await
        })
    }
}

/// Rule files follow the configuration: a reload re-reads them, and a rule file that
/// does not load refuses the whole reload while the running rules carry on.
pub struct RulesApplier(pub Arc<Rules>);

impl Applier for RulesApplier {
    fn name(&self) -> &str {
        "rules"
    }

    fn check<'a>(&'a self, config: &'a Config) -> ApplyFuture<'a> {
        let config = config.clone();
        let dir = self.0.config_dir.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || check_rule_files(&config, &dir))
                .await
                .map_err(|e| format!("rule checking task failed: {e}"))?
                .map(|_| ())
                .map_err(|errs| errs.join("; "))
        })
    }

    fn apply<'a>(&'a self, config: &'a Config) -> ApplyFuture<'a> {
        Box::pin(async move {
            for field in self.0.startup.changed(&StartupSettings::of(config)) {
                tracing::warn!(
                    field,
                    "configuration field changed; it takes effect only after a restart, the running value is kept"
                );
            }
            self.0.load(config).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_files_resolve_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("we[ird");
        std::fs::create_dir_all(sub.join("rules")).unwrap();
        for f in ["b.yml", "a.yml", "c.txt"] {
            std::fs::write(sub.join("rules").join(f), "groups: []\n").unwrap();
        }
        std::fs::write(sub.join("one.yml"), "groups: []\n").unwrap();
        let config = crate::config::parse(
            "p.yml",
            "rule_files: ['rules/*.yml', 'one.yml', 'rules/a.yml', 'missing/*.yml']\n",
        )
        .unwrap();
        let (files, unmatched) = rule_file_paths(&config, &sub);
        let names: Vec<String> = files
            .iter()
            .map(|f| f.strip_prefix(&sub).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["rules/a.yml", "rules/b.yml", "one.yml"]);
        assert_eq!(unmatched, ["missing/*.yml"]);
        assert_eq!(config_dir(Some(Path::new("pharos.yml"))), PathBuf::from(""));
        assert_eq!(
            config_dir(Some(Path::new("/etc/p/x.yml"))),
            Path::new("/etc/p")
        );
    }

    #[test]
    fn rule_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("bad.yml"),
            "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: sum(\n",
        )
        .unwrap();
        let config = crate::config::parse("p.yml", "rule_files: ['bad.yml']\n").unwrap();
        let errs = check_rule_files(&config, dir.path()).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        let want = format!("{}: ", dir.path().join("bad.yml").display());
        assert!(errs[0].starts_with(&want), "{}", errs[0]);
        assert!(errs[0].contains("group \"g\", rule 1"), "{}", errs[0]);
    }

    #[test]
    fn restart_only_settings_are_named() {
        let a = StartupSettings::of(&Config::default());
        let next = crate::config::parse(
            "p.yml",
            "global:\n  external_labels: {env: x}\n  evaluation_interval: 5s\nrules:\n  alert:\n    resend_delay: 5s\n",
        )
        .unwrap();
        assert_eq!(
            a.changed(&StartupSettings::of(&next)),
            ["global.external_labels", "rules.alert.resend_delay"]
        );
    }

    struct Count(std::sync::atomic::AtomicUsize);

    impl Notifier for Count {
        fn send(&self, _expr: &str, alerts: &[Alert]) {
            self.0
                .fetch_add(alerts.len(), std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn alert_sink_forwards_once_connected() {
        let sink = AlertSink::default();
        let alert = Alert {
            state: pharos_rules::alerting::AlertState::Firing,
            labels: Labels::empty(),
            annotations: Labels::empty(),
            value: 1.0,
            active_at: 0,
            fired_at: Some(0),
            resolved_at: None,
            last_sent_at: None,
            valid_until: None,
            keep_firing_since: None,
        };
        // Nothing connected: dropped without a fuss.
        sink.send("up", std::slice::from_ref(&alert));
        let target = Arc::new(Count(Default::default()));
        *sink.target.write().unwrap() = Some(target.clone());
        sink.send("up", &[alert.clone(), alert]);
        assert_eq!(target.0.load(std::sync::atomic::Ordering::Relaxed), 2);
    }

    #[test]
    fn generator_urls_link_the_graph_page() {
        assert_eq!(
            generator_url("http://h:9700/", "up == 0"),
            "http://h:9700/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
    }
}
