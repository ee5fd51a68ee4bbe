//! SLOs inside `pharos serve`: the specs of the configuration and of the API in one
//! registry, their generated rules handed to the rule manager (so burn-rate alerts
//! are evaluated and routed like any other), the error-budget engine writing
//! `pharos_slo_*` series, and the report.
//!
//! Write path: config / `POST /api/v1/slos` → [`registry::SloRegistry`] (database for
//! API specs) → [`registry::SloSync`] → the rule manager's generated rule source.
//! Every evaluation interval: registry → [`eval::status`] (PromQL over the SLI
//! queries) → latest status + `pharos_slo_*` samples → TSDB.
//! Read path: `/api/v1/slos…` and `/api/v1/reports/slo` → registry, engine, [`eval`],
//! [`report`].

pub mod buckets;
pub mod engine;
pub mod eval;
pub mod registry;
pub mod report;
pub mod specs;

use crate::config::Config;
use crate::http::query_api::QueryEngine;
use crate::reload::{Applier, ApplyFuture};
use engine::{BudgetEngine, EngineQuery};
use pharos_model::Queryable;
use pharos_promql::Cancel;
use pharos_state::Database;
use pharos_tsdb::Db;
use registry::{SloRegistry, SloSync};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The running SLO stage of one server.
pub struct Slos {
    pub registry: Arc<SloRegistry>,
    pub engine: Arc<BudgetEngine>,
    /// The control-plane database, for alert history in reports.
    pub db: Database,
    config_file: Option<PathBuf>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Slos {
    /// Loads the configured and stored SLOs, connects the rule manager and starts the
    /// budget engine.
    pub async fn start(
        config: &Config,
        config_file: Option<&Path>,
        db: Database,
        tsdb: Arc<Db>,
        engine: Arc<dyn QueryEngine>,
        rules: Arc<dyn SloSync>,
    ) -> anyhow::Result<Arc<Slos>> {
        let configured = specs::config_slos(config, config_file).map_err(|errs| {
            anyhow::anyhow!(
                "invalid SLO specs: {}",
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        let registry = SloRegistry::open(db.clone(), configured).await?;
        if let Err(e) = registry.connect(rules).await {
            tracing::error!(error = e, "generated SLO rules could not be loaded");
        }
        let storage: Arc<dyn Queryable> = tsdb.clone();
        let query = Arc::new(EngineQuery {
            engine,
            storage,
            cancel: Cancel::new(),
        });
        let budget = BudgetEngine::new(
            registry.clone(),
            query,
            tsdb,
            config.global.evaluation_interval.to_std(),
        );
        let task = std::sync::Mutex::new(Some(budget.spawn()));
        tracing::info!(slos = registry.all().len(), "SLOs loaded");
        Ok(Arc::new(Slos {
            registry,
            engine: budget,
            db,
            config_file: config_file.map(Path::to_path_buf),
            task,
        }))
    }

    /// Stops the budget engine and waits for an evaluation in flight (its queries are
    /// cancelled), so nothing is written after the storage closes.
    pub async fn stop(&self) {
        self.engine.shutdown();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = task {
            if let Err(e) = t.await {
                tracing::warn!(error = %e, "stopping the SLO budget engine failed");
            }
        }
    }
}

/// The SLOs of the configuration follow a reload; a spec that does not load refuses
/// the whole reload.
pub struct SloApplier(pub Arc<Slos>);

impl Applier for SloApplier {
    fn name(&self) -> &str {
        "slos"
    }

    fn check<'a>(&'a self, config: &'a Config) -> ApplyFuture<'a> {
        let file = self.0.config_file.clone();
        let config = config.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || specs::config_slos(&config, file.as_deref()))
                .await
                .map_err(|e| format!("SLO checking task failed: {e}"))?
                .map(|_| ())
                .map_err(|errs| {
                    errs.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
        })
    }

    fn apply<'a>(&'a self, config: &'a Config) -> ApplyFuture<'a> {
        Box::pin(async move {
            let slos =
                specs::config_slos(config, self.0.config_file.as_deref()).map_err(|errs| {
                    errs.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })?;
            self.0
                .engine
                .set_interval(config.global.evaluation_interval.to_std());
            self.0.registry.set_config(slos).await;
            Ok(())
        })
    }
}
