//! Configuration reload: `POST|PUT /-/reload` and SIGHUP re-read the `--config` file,
//! validate it exactly as at startup, and hand it to every registered [`Applier`].
//!
//! One task owns the configuration in force and the appliers; requests reach it over a
//! channel, so reloads never overlap and a slow one cannot be raced by the next. A file
//! that does not load is refused whole and the running configuration stays. Sections
//! that only take effect at startup (storage, server, query) keep their running values;
//! a reload that changes them logs which fields need a restart.

use crate::config::{self, Config};
use crate::float_fmt::format_value;
use crate::http::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, oneshot};

/// A boxed future an [`Applier`] returns.
pub type ApplyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// A part of the server that follows the configuration: scraping now; rule files,
/// alerting and SLOs register the same way.
///
/// A reload runs in two phases: every applier first [`check`](Applier::check)s the new
/// configuration against what it needs from outside the file (certificates, rule files
/// it names), and only when all agree does any of them [`apply`](Applier::apply) it. So
/// a configuration that cannot work is refused whole, like one that does not parse.
pub trait Applier: Send + Sync {
    /// Names the part in logs and errors.
    fn name(&self) -> &str;
    /// Whether `config` can be applied, without changing anything.
    fn check<'a>(&'a self, _config: &'a Config) -> ApplyFuture<'a> {
        Box::pin(async { Ok(()) })
    }
    /// Switches to `config`, which has been validated and checked. An error leaves the
    /// part in whatever state it could reach and marks the reload failed.
    fn apply<'a>(&'a self, config: &'a Config) -> ApplyFuture<'a>;
}

/// Why a reload was asked for, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Http,
    Sighup,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Http => "HTTP",
            Trigger::Sighup => "SIGHUP",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("couldn't load configuration (--config={file:?}): {source}")]
    Load {
        file: String,
        #[source]
        source: config::LoadError,
    },
    #[error("the configuration (--config={file:?}) cannot be applied: {}", errors.join("; "))]
    Check { file: String, errors: Vec<String> },
    #[error("one or more errors occurred while applying the new configuration (--config={file:?}): {}", errors.join("; "))]
    Apply { file: String, errors: Vec<String> },
    #[error("the reloader has stopped")]
    Stopped,
}

/// Outcome of the latest reload, for `/metrics` and the runtime info.
#[derive(Debug)]
pub struct ReloadStatus {
    successful: AtomicBool,
    /// Unix milliseconds of the last successful load (startup counts).
    last_success_ms: AtomicI64,
}

impl ReloadStatus {
    pub fn new(loaded_at_ms: i64) -> Self {
        ReloadStatus {
            successful: AtomicBool::new(true),
            last_success_ms: AtomicI64::new(loaded_at_ms),
        }
    }

    pub fn successful(&self) -> bool {
        self.successful.load(Ordering::Acquire)
    }

    pub fn last_success_ms(&self) -> i64 {
        self.last_success_ms.load(Ordering::Acquire)
    }

    fn record(&self, ok: bool, now_ms: i64) {
        if ok {
            self.last_success_ms.store(now_ms, Ordering::Release);
        }
        self.successful.store(ok, Ordering::Release);
    }

    /// The reload families of `/metrics`, in text format 0.0.4.
    pub fn render(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "# HELP pharos_config_last_reload_successful Whether the last configuration reload attempt was successful.\n\
             # TYPE pharos_config_last_reload_successful gauge\n\
             pharos_config_last_reload_successful {}",
            if self.successful() { 1 } else { 0 }
        );
        let _ = writeln!(
            t,
            "# HELP pharos_config_last_reload_success_timestamp_seconds Timestamp of the last successful configuration reload.\n\
             # TYPE pharos_config_last_reload_success_timestamp_seconds gauge\n\
             pharos_config_last_reload_success_timestamp_seconds {}",
            format_value(self.last_success_ms() as f64 / 1000.0)
        );
        t
    }
}

type Request = (Trigger, oneshot::Sender<Result<(), String>>);

/// How the HTTP layer and the signal listener ask for a reload.
#[derive(Clone)]
pub struct ReloadHandle {
    tx: mpsc::Sender<Request>,
    status: Arc<ReloadStatus>,
}

impl ReloadHandle {
    /// Reloads and waits for the outcome; the error is the text `/-/reload` answers.
    pub async fn reload(&self, trigger: Trigger) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((trigger, reply))
            .await
            .map_err(|_| ReloadError::Stopped.to_string())?;
        rx.await.map_err(|_| ReloadError::Stopped.to_string())?
    }

    pub fn status(&self) -> &Arc<ReloadStatus> {
        &self.status
    }
}

/// Installs the SIGHUP handler. Called early in startup: until a handler exists, a
/// SIGHUP would terminate the process.
pub fn install_sighup() -> std::io::Result<Signal> {
    signal(SignalKind::hangup())
}

/// The reloader's state: the file, the configuration in force and the appliers.
pub struct Reloader {
    file: Option<PathBuf>,
    current: Config,
    appliers: Vec<Box<dyn Applier>>,
    status: Arc<ReloadStatus>,
}

impl Reloader {
    /// `current` is the configuration the server started with, loaded from `file`.
    pub fn new(file: Option<PathBuf>, current: Config, loaded_at_ms: i64) -> Self {
        Reloader {
            file,
            current,
            appliers: Vec::new(),
            status: Arc::new(ReloadStatus::new(loaded_at_ms)),
        }
    }

    pub fn register(&mut self, applier: Box<dyn Applier>) {
        self.appliers.push(applier);
    }

    pub fn status(&self) -> Arc<ReloadStatus> {
        self.status.clone()
    }

    pub fn current(&self) -> &Config {
        &self.current
    }

    fn file_text(&self) -> String {
        self.file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default()
    }

    /// Loads the file (the defaults when the server runs without one) and applies it.
    pub async fn reload(&mut self) -> Result<(), ReloadError> {
        let loaded = match &self.file {
            Some(f) => config::load_file(f),
            None => Ok(Config::default()),
        };
        let now = crate::http::params::now_ms();
        let mut next = match loaded {
            Ok(c) => c,
            Err(source) => {
                self.status.record(false, now);
                return Err(ReloadError::Load {
                    file: self.file_text(),
                    source,
                });
            }
        };
        for field in restart_only_changes(&self.current, &next) {
            tracing::warn!(
                field,
                "configuration field changed; it takes effect only after a restart, the running value is kept"
            );
        }
        next.storage = self.current.storage.clone();
        next.server = self.current.server.clone();
        next.query = self.current.query.clone();
        let mut errors = Vec::new();
        for a in &self.appliers {
            if let Err(e) = a.check(&next).await {
                errors.push(format!("{}: {e}", a.name()));
            }
        }
        if !errors.is_empty() {
            self.status.record(false, now);
            return Err(ReloadError::Check {
                file: self.file_text(),
                errors,
            });
        }
        for a in &self.appliers {
            if let Err(e) = a.apply(&next).await {
                errors.push(format!("{}: {e}", a.name()));
            }
        }
        self.current = next;
        let ok = errors.is_empty();
        self.status.record(ok, now);
        if ok {
            Ok(())
        } else {
            Err(ReloadError::Apply {
                file: self.file_text(),
                errors,
            })
        }
    }

    /// Runs the reloader until every handle is gone, listening to SIGHUP as well.
    pub fn spawn(self, sighup: Option<Signal>) -> ReloadHandle {
        let (tx, rx) = mpsc::channel::<Request>(8);
        let handle = ReloadHandle {
            tx: tx.clone(),
            status: self.status.clone(),
        };
        if let Some(sig) = sighup {
            tokio::spawn(listen_sighup(sig, tx));
        }
        tokio::spawn(run(self, rx));
        handle
    }
}

async fn run(mut reloader: Reloader, mut rx: mpsc::Receiver<Request>) {
    while let Some((trigger, reply)) = rx.recv().await {
        tracing::info!(trigger = trigger.as_str(), "reloading configuration");
        let result = reloader.reload().await.map_err(|e| e.to_string());
        match &result {
            Ok(()) => tracing::info!(
                trigger = trigger.as_str(),
                "completed loading of configuration file"
            ),
            Err(e) => {
                tracing::error!(trigger = trigger.as_str(), error = %e, "configuration reload failed")
            }
        }
        let _ = reply.send(result);
    }
}

async fn listen_sighup(mut sig: Signal, tx: mpsc::Sender<Request>) {
    while sig.recv().await.is_some() {
        let (reply, rx) = oneshot::channel();
        if tx.send((Trigger::Sighup, reply)).await.is_err() {
            return;
        }
        // The outcome is logged by the reloader; waiting keeps signals from queueing up.
        let _ = rx.await;
    }
}

/// Dotted names of the fields that differ between `old` and `new` but are only read at
/// startup.
pub fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let (a, b) = (&old.storage.tsdb, &new.storage.tsdb);
    let mut check = |changed: bool, name: &'static str| {
        if changed {
            out.push(name);
        }
    };
    check(a.retention != b.retention, "storage.tsdb.retention");
    check(
        a.retention_size != b.retention_size,
        "storage.tsdb.retention_size",
    );
    check(a.block_span != b.block_span, "storage.tsdb.block_span");
    check(
        a.out_of_order_window != b.out_of_order_window,
        "storage.tsdb.out_of_order_window",
    );
    check(
        a.max_exemplars_per_series != b.max_exemplars_per_series,
        "storage.tsdb.max_exemplars_per_series",
    );
    check(a.wal != b.wal, "storage.tsdb.wal");
    check(a.limits != b.limits, "storage.tsdb.limits");
    let (a, b) = (&old.server, &new.server);
    check(
        a.max_request_bytes != b.max_request_bytes,
        "server.max_request_bytes",
    );
    check(
        a.max_inflight_writes != b.max_inflight_writes,
        "server.max_inflight_writes",
    );
    check(a.write_timeout != b.write_timeout, "server.write_timeout");
    let (a, b) = (&old.query, &new.query);
    check(a.lookback_delta != b.lookback_delta, "query.lookback_delta");
    check(a.max_samples != b.max_samples, "query.max_samples");
    check(a.timeout != b.timeout, "query.timeout");
    check(
        a.max_concurrency != b.max_concurrency,
        "query.max_concurrency",
    );
    out
}

/// `POST|PUT /-/reload`: 200 with an empty body once applied, 500 with
/// `failed to reload config: …` otherwise, as Prometheus answers.
pub async fn reload_endpoint(State(st): State<Arc<AppState>>) -> Response {
    let Some(handle) = st.reload.get() else {
        return crate::http::not_ready();
    };
    match handle.reload(Trigger::Http).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => crate::http::plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}"),
        ),
    }
}

/// Builds every configured job's HTTP client, which reads its CA, certificate and key.
fn check_scrape_clients(config: &Config) -> Result<(), String> {
    let errors: Vec<String> = config
        .scrape_configs
        .iter()
        .filter_map(|j| {
            pharos_ingest::scrape::build_client(j)
                .err()
                .map(|e| format!("job {:?}: {e}", j.job_name))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The scrape side as an [`Applier`]: jobs and targets follow `scrape_configs` and
/// `self_scrape`.
pub struct ScrapeApplier {
    pub scraping: Arc<crate::scrape::Scraping>,
    /// The HTTP listener's address, which the self-scrape job targets.
    pub addr: std::net::SocketAddr,
}

impl Applier for ScrapeApplier {
    fn name(&self) -> &str {
        "scrape"
    }

    /// Every job's HTTP client must build: a CA, certificate or key file that cannot be
    /// read or parsed refuses the reload instead of silently dropping the job.
    fn check<'a>(&'a self, config: &'a Config) -> ApplyFuture<'a> {
        Box::pin(async move { check_scrape_clients(config) })
    }

    fn apply<'a>(&'a self, config: &'a Config) -> ApplyFuture<'a> {
        Box::pin(async move {
            let jobs = crate::scrape::configured_jobs(config, self.addr);
            let errors = self.scraping.reload(jobs).await;
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors.join("; "))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Recorder(Arc<Mutex<Vec<bool>>>, bool);

    impl Applier for Recorder {
        fn name(&self) -> &str {
            "recorder"
        }

        fn apply<'a>(&'a self, config: &'a Config) -> ApplyFuture<'a> {
            self.0.lock().unwrap().push(config.self_scrape);
            let fail = self.1;
            Box::pin(async move {
                if fail {
                    Err("refused".to_owned())
                } else {
                    Ok(())
                }
            })
        }
    }

    #[tokio::test]
    async fn bad_file_is_refused_and_the_old_config_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yml");
        std::fs::write(&path, "self_scrape: false\n").unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let start = config::load_file(&path).unwrap();
        let mut r = Reloader::new(Some(path.clone()), start, 1_000);
        r.register(Box::new(Recorder(seen.clone(), false)));
        std::fs::write(&path, "self_scrape: maybe\n").unwrap();
        let e = r.reload().await.unwrap_err().to_string();
        assert!(
            e.starts_with("couldn't load configuration (--config="),
            "{e}"
        );
        assert!(e.contains("self_scrape"), "{e}");
        assert!(!r.status().successful());
        assert_eq!(r.status().last_success_ms(), 1_000);
        assert!(seen.lock().unwrap().is_empty());
        assert!(!r.current().self_scrape);
        assert!(r
            .status()
            .render()
            .contains("pharos_config_last_reload_successful 0\n"));

        std::fs::write(&path, "self_scrape: true\n").unwrap();
        r.reload().await.unwrap();
        assert!(r.status().successful());
        assert!(r.status().last_success_ms() > 1_000);
        assert_eq!(*seen.lock().unwrap(), vec![true]);
        assert!(r.current().self_scrape);
    }

    #[tokio::test]
    async fn failing_applier_marks_the_reload_failed() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut r = Reloader::new(None, Config::default(), 0);
        r.register(Box::new(Recorder(seen.clone(), true)));
        r.register(Box::new(Recorder(seen.clone(), false)));
        let e = r.reload().await.unwrap_err().to_string();
        assert!(e.contains("recorder: refused"), "{e}");
        // Every applier still gets the new configuration.
        assert_eq!(seen.lock().unwrap().len(), 2);
        assert!(!r.status().successful());
    }

    struct Picky;

    impl Applier for Picky {
        fn name(&self) -> &str {
            "picky"
        }

        fn check<'a>(&'a self, config: &'a Config) -> ApplyFuture<'a> {
            let ok = !config.self_scrape;
            Box::pin(async move {
                if ok {
                    Ok(())
                } else {
                    Err("self_scrape must stay off".to_owned())
                }
            })
        }

        fn apply<'a>(&'a self, _config: &'a Config) -> ApplyFuture<'a> {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn a_failed_check_refuses_the_config_before_anything_applies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yml");
        std::fs::write(
            &path,
            "self_scrape: false
",
        )
        .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut r = Reloader::new(Some(path.clone()), config::load_file(&path).unwrap(), 0);
        r.register(Box::new(Recorder(seen.clone(), false)));
        r.register(Box::new(Picky));
        std::fs::write(
            &path,
            "self_scrape: true
",
        )
        .unwrap();
        let e = r.reload().await.unwrap_err().to_string();
        assert!(
            e.contains("cannot be applied: picky: self_scrape must stay off"),
            "{e}"
        );
        assert!(seen.lock().unwrap().is_empty());
        assert!(!r.current().self_scrape);
        assert!(!r.status().successful());
    }

    #[test]
    fn scrape_check_refuses_unreadable_certificates() {
        let ok = config::parse("p.yml", "scrape_configs:\n  - job_name: x\n").unwrap();
        assert_eq!(check_scrape_clients(&ok), Ok(()));
        let text = "scrape_configs:\n  - job_name: x\n    tls_config:\n      ca_file: /nonexistent/ca.pem\n";
        let bad = config::parse("p.yml", text).unwrap();
        let e = check_scrape_clients(&bad).unwrap_err();
        assert!(
            e.starts_with("job \"x\": unable to read CA file /nonexistent/ca.pem"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn startup_only_fields_keep_their_running_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yml");
        std::fs::write(&path, "").unwrap();
        let mut r = Reloader::new(Some(path.clone()), Config::default(), 0);
        std::fs::write(
            &path,
            "storage:\n  tsdb:\n    retention: 1d\nquery:\n  timeout: 5s\nself_scrape: false\n",
        )
        .unwrap();
        let next = config::load_file(&path).unwrap();
        assert_eq!(
            restart_only_changes(&Config::default(), &next),
            vec!["storage.tsdb.retention", "query.timeout"]
        );
        r.reload().await.unwrap();
        assert_eq!(r.current().storage, Config::default().storage);
        assert_eq!(r.current().query, Config::default().query);
        assert!(!r.current().self_scrape);
    }

    #[tokio::test]
    async fn handle_serializes_requests_through_the_task() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut r = Reloader::new(None, Config::default(), 0);
        r.register(Box::new(Recorder(seen.clone(), false)));
        let h = r.spawn(None);
        h.reload(Trigger::Http).await.unwrap();
        h.reload(Trigger::Sighup).await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 2);
        assert!(h.status().successful());
    }
}
