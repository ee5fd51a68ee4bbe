//! `pharos serve`: process lifecycle. Binds the port first (so `/-/healthy` answers and
//! `/-/ready` says 503 during WAL replay), opens the storage, serves until SIGTERM or
//! SIGINT, then stops accepting, lets in-flight requests finish and closes the storage.

use crate::config::Config;
use crate::http::query_api::QuerySettings;
use crate::http::status_api::StatusInfo;
use crate::http::{self, ApiContext, AppState, HttpSettings};
use crate::scrape::Scraping;
use anyhow::Context as _;
use pharos_ingest::remote_write::DEFAULT_MAX_DECOMPRESSED_BYTES;
use pharos_tsdb::Db;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// How long in-flight requests get to finish after a shutdown signal before the storage
/// is closed under them (their appends then fail and senders retry elsewhere).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Stack of runtime and blocking-pool threads. Query parsing and evaluation recurse along
/// the expression (bounded by the API's and engine's limits); a main thread's 8 MiB
/// instead of tokio's 2 MiB leaves a margin, and is only address space until used.
const WORKER_STACK_BYTES: usize = 8 << 20;

pub struct ServeOptions {
    pub config: Config,
    /// Where `config` came from; reloads read it again.
    pub config_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// The control-plane database; `None`: SQLite in `data_dir`.
    pub database_url: Option<String>,
    pub listen: String,
    /// The dedicated OTLP/gRPC and OTLP/HTTP listeners.
    pub otlp: crate::otlp::OtlpListen,
    /// The command line as `/api/v1/status/flags` reports it.
    pub flags: BTreeMap<String, String>,
}

/// Retention as Prometheus's runtime info words it: `15d`, `10GiB`, or `15d or 10GiB`.
fn retention_text(config: &Config) -> String {
    let t = &config.storage.tsdb;
    let mut parts = Vec::new();
    if !t.retention.is_zero() {
        parts.push(t.retention.to_string());
    }
    if t.retention_size.0 != 0 {
        parts.push(t.retention_size.to_string());
    }
    parts.join(" or ")
}

fn api_context(opts: &ServeOptions) -> ApiContext {
    let engine_opts = opts.config.engine_options();
    let now = http::params::now_ms();
    ApiContext {
        query: QuerySettings {
            timeout: engine_opts.timeout,
        },
        engine: Arc::new(pharos_promql::Engine::new(engine_opts)),
        status: StatusInfo {
            start_time_ms: now,
            config_time_ms: now,
            flags: opts.flags.clone(),
            storage_retention: retention_text(&opts.config),
        },
    }
}

pub fn run(opts: ServeOptions) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("pharos-worker")
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(opts))
}

/// Resolves on the first SIGTERM or SIGINT.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    // Installed before anything slow, so a signal during WAL replay still shuts down cleanly.
    let mut signals = Signals::install()?;
    let sighup = crate::reload::install_sighup().context("installing the SIGHUP handler")?;
    let server_cfg = &opts.config.server;
    let settings = HttpSettings {
        max_request_bytes: usize::try_from(server_cfg.max_request_bytes.0).unwrap_or(usize::MAX),
        max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        max_inflight_writes: server_cfg.inflight_writes(),
        write_timeout: server_cfg.write_timeout.to_std(),
    };
    let state = AppState::new(settings, api_context(&opts));
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%addr, data_dir = %opts.data_dir.display(), "listening");

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let otlp = crate::otlp::Listeners::start(&opts.otlp, state.clone(), stop_rx.clone()).await?;
    let app = http::router(state.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .await
    });

    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("cannot create data directory {}", opts.data_dir.display()))?;
    let tsdb_opts = opts.config.tsdb_options();
    let dir = opts.data_dir.clone();
    tracing::info!("opening storage and replaying the write-ahead log");
    let mut open = tokio::task::spawn_blocking(move || Db::open(&dir, tsdb_opts));

    let (db, signalled) = tokio::select! {
        opened = &mut open => (opened, None),
        sig = signals.recv() => {
            tracing::info!(signal = sig, "shutdown requested during WAL replay; stopping once it completes");
            (open.await, Some(sig))
        }
    };
    let db = match db {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => {
            let _ = stop_tx.send(true);
            let _ = server.await;
            return Err(e)
                .with_context(|| format!("cannot open storage in {}", opts.data_dir.display()));
        }
        Err(e) => {
            let _ = stop_tx.send(true);
            return Err(e).context("storage open task failed");
        }
    };

    // The control plane opens after the TSDB, so `/-/ready` covers both; a database
    // that cannot be opened stops startup like a storage that cannot.
    let alerting = if signalled.is_none() {
        let started = crate::alerting::Alerting::start(
            &opts.config,
            opts.config_file.as_deref(),
            &opts.data_dir,
            opts.database_url.as_deref(),
            addr,
        )
        .await;
        match started {
            Ok(a) => Some(a),
            Err(e) => {
                let _ = stop_tx.send(true);
                let _ = server.await;
                close(db).await?;
                return Err(e);
            }
        }
    } else {
        None
    };

    let mut scraping = None;
    let mut rules = None;
    let mut slos: Option<Arc<crate::slo::Slos>> = None;
    if let (None, Some(alerting)) = (signalled, &alerting) {
        state.set_alerting(alerting.clone());
        let jobs = crate::scrape::configured_jobs(&opts.config, addr);
        // Started even without jobs, so a reload can add some.
        let s = Arc::new(Scraping::start(jobs, db.clone()).await);
        state.set_scrape_view(s.view());
        let mut reloader = crate::reload::Reloader::new(
            opts.config_file.clone(),
            opts.config.clone(),
            state.api.status.config_time_ms,
        );
        reloader.register(Box::new(crate::reload::ScrapeApplier {
            scraping: s.clone(),
            addr,
        }));
        let r = crate::rules::Rules::start(
            &opts.config,
            opts.config_file.as_deref(),
            db.clone(),
            state.api.engine.clone(),
            addr,
        )
        .await;
        state.set_rules(r.clone());
        r.set_notifier(alerting.rule_notifier(&opts.config.global.external_labels));
        reloader.register(Box::new(crate::rules::RulesApplier(r.clone())));
        reloader.register(Box::new(crate::alerting::AlertingApplier(alerting.clone())));
        let started = crate::slo::Slos::start(
            &opts.config,
            opts.config_file.as_deref(),
            alerting.db.clone(),
            db.clone(),
            state.api.engine.clone(),
            Arc::new(crate::rules::SloRules(r.clone())),
        )
        .await;
        match started {
            Ok(s) => {
                state.set_slos(s.clone());
                reloader.register(Box::new(crate::slo::SloApplier(s.clone())));
                slos = Some(s);
            }
            // Startup checked the specs; only the database can fail here.
            Err(e) => tracing::error!(error = %e, "SLOs are not available"),
        }
        rules = Some(r);
        state.set_reload(reloader.spawn(Some(sighup)));
        scraping = Some(s);
        // Ready once every API has what it serves, so a client that waited for
        // `/-/ready` never meets a 503 from the rules or SLO APIs.
        state.set_ready(db.clone());
        tracing::info!("Pharos is ready");
        let sig = signals.recv().await;
        tracing::info!(signal = sig, "shutting down: finishing in-flight requests");
    }
    // The budget engine and the rules first: their queries read what scraping
    // writes, and they write themselves.
    if let Some(s) = &slos {
        s.stop().await;
    }
    if let Some(r) = rules {
        r.stop().await;
    }
    // After the rules, which send to it; its notification log is already stored.
    if let Some(a) = &alerting {
        a.stop().await;
    }
    // Before the storage closes, so the targets' staleness markers are stored.
    if let Some(s) = scraping {
        s.shutdown().await;
    }
    state.set_not_ready();
    let _ = stop_tx.send(true);
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server stopped with an error"),
        Ok(Err(e)) => tracing::warn!(error = %e, "HTTP server task failed"),
        Err(_) => tracing::warn!(
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "in-flight requests did not finish in time; closing storage anyway"
        ),
    }
    otlp.stopped(SHUTDOWN_GRACE).await;
    close(db).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn close(db: Arc<Db>) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || db.close())
        .await
        .context("storage close task failed")?
        .context("closing storage")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_worded_as_prometheus_does() {
        let mut c = Config::default();
        assert_eq!(retention_text(&c), "15d");
        c.storage.tsdb.retention_size = crate::config::ByteSize(10 << 30);
        assert_eq!(retention_text(&c), "15d or 10GiB");
        c.storage.tsdb.retention = crate::config::PromDuration::ZERO;
        assert_eq!(retention_text(&c), "10GiB");
    }
}
