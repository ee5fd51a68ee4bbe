//! The live error-budget engine: every evaluation interval it computes each SLO's
//! status (see [`super::eval`]), keeps the latest for `/api/v1/slos`, and writes the
//! `pharos_slo_*` series into the TSDB so dashboards, rules and reports can use them
//! like any other series. An SLO that goes away gets staleness markers.

use super::buckets::{BucketCache, BUCKET_MS};
use super::eval::{self, SliQuery, Status};
use super::registry::SloRegistry;
use crate::http::query_api::QueryEngine;
use pharos_model::{LabelRef, Queryable, Sample, WriteBatch, STALE_NAN};
use pharos_promql::{Cancel, QueryOptions, Value};
use pharos_slo::Slo;
use pharos_tsdb::Db;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// SLI queries on the server's engine and storage.
pub struct EngineQuery {
    pub engine: Arc<dyn QueryEngine>,
    pub storage: Arc<dyn Queryable>,
    pub cancel: Cancel,
}

impl SliQuery for EngineQuery {
    fn value(&self, agg: &str, expr: &str, t_ms: i64) -> Result<Option<f64>, String> {
        let q = format!("{agg}({expr})");
        let res = self
            .engine
            .instant_query(
                self.storage.as_ref(),
                &q,
                t_ms,
                &QueryOptions::default(),
                &self.cancel,
            )
            .map_err(|e| e.to_string())?;
        Ok(match res.value {
            Value::Vector(v) => v.first().map(|s| s.v),
            Value::Scalar { v, .. } => Some(v),
            _ => None,
        })
    }

    fn values(
        &self,
        agg: &str,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<(i64, f64)>, String> {
        let q = format!("{agg}({expr})");
        let res = self
            .engine
            .range_query(
                self.storage.as_ref(),
                &q,
                start_ms,
                end_ms,
                step_ms,
                &QueryOptions::default(),
                &self.cancel,
            )
            .map_err(|e| e.to_string())?;
        Ok(match res.value {
            Value::Matrix(m) => m
                .into_iter()
                .next()
                .map(|s| s.points.into_iter().map(|p| (p.t, p.v)).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        })
    }
}

/// The latest evaluation of one SLO.
#[derive(Clone, Debug)]
pub enum Latest {
    Ok(Status),
    Failed { at_ms: i64, error: String },
}

pub struct BudgetEngine {
    registry: Arc<SloRegistry>,
    query: Arc<EngineQuery>,
    db: Arc<Db>,
    interval: RwLock<Duration>,
    /// By id: the SLO as last evaluated and the result.
    latest: RwLock<HashMap<String, (Arc<Slo>, Latest)>>,
    /// Wakes the loop from its sleep at shutdown.
    wake: tokio::sync::Notify,
    /// Per SLO id: event counts of the window in buckets, so an evaluation reads
    /// only the last minutes of data.
    caches: std::sync::Mutex<HashMap<String, Arc<std::sync::Mutex<BucketCache>>>>,
}

/// The longest span an evaluation measures: the SLO window (a calendar month is at
/// most 31 days) or the 3-day burn window.
fn horizon_ms(slo: &Slo) -> i64 {
    let window = match slo.window {
        pharos_slo::model::TimeWindow::Rolling { days } => i64::from(days) * 86_400_000,
        pharos_slo::model::TimeWindow::CalendarMonth => 31 * 86_400_000,
    };
    window.max(eval::BURN_WINDOWS[eval::BURN_WINDOWS.len() - 1] * 1000)
}

fn now_ms() -> i64 {
    crate::http::params::now_ms()
}

impl BudgetEngine {
    pub fn new(
        registry: Arc<SloRegistry>,
        query: Arc<EngineQuery>,
        db: Arc<Db>,
        interval: Duration,
    ) -> Arc<BudgetEngine> {
        Arc::new(BudgetEngine {
            registry,
            query,
            db,
            interval: RwLock::new(interval.max(Duration::from_secs(1))),
            latest: RwLock::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
            caches: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn query(&self) -> Arc<EngineQuery> {
        self.query.clone()
    }

    pub fn registry(&self) -> &Arc<SloRegistry> {
        &self.registry
    }

    /// The evaluation interval follows `global.evaluation_interval` on reload.
    pub fn set_interval(&self, d: Duration) {
        *self.interval.write().unwrap_or_else(|e| e.into_inner()) = d.max(Duration::from_secs(1));
    }

    fn interval(&self) -> Duration {
        *self.interval.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn interval_ms(&self) -> i64 {
        i64::try_from(self.interval().as_millis()).unwrap_or(i64::MAX)
    }

    fn cache_for(&self, slo: &Slo) -> Arc<std::sync::Mutex<BucketCache>> {
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        let entry = caches
            .entry(slo.id())
            .or_insert_with(|| Arc::new(std::sync::Mutex::new(BucketCache::new(slo.clone()))));
        let stale = !entry.lock().unwrap_or_else(|e| e.into_inner()).is_for(slo);
        if stale {
            *entry = Arc::new(std::sync::Mutex::new(BucketCache::new(slo.clone())));
        }
        entry.clone()
    }

    /// The status of `slo` at `t_ms` (close to now), reading only what the bucket
    /// cache does not hold.
    pub fn status_now(&self, slo: &Slo, t_ms: i64) -> Result<Status, String> {
        let cache = self.cache_for(slo);
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        let q = self.query.as_ref();
        let status = eval::status_with(slo, t_ms, &mut |a, b| cache.measure(q, a, b));
        cache.prune(t_ms - horizon_ms(slo) - BUCKET_MS);
        status
    }

    /// Cancels the queries of an evaluation in flight and ends the loop.
    pub fn shutdown(&self) {
        self.query.cancel.cancel();
        self.wake.notify_one();
    }

    /// The latest evaluation of `id`, if it ran yet.
    pub fn latest(&self, id: &str) -> Option<Latest> {
        self.latest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .map(|(_, l)| l.clone())
    }

    /// Runs until the query cancel flag is set. Evaluations run on the blocking pool:
    /// they are PromQL queries over up to a month of data.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let started = std::time::Instant::now();
                let m = me.clone();
                if tokio::task::spawn_blocking(move || m.evaluate_all(now_ms()))
                    .await
                    .is_err()
                {
                    tracing::error!("SLO budget evaluation task failed");
                }
                if me.query.cancel.is_canceled() {
                    return;
                }
                let wait = me.interval().saturating_sub(started.elapsed());
                tokio::select! {
                    _ = tokio::time::sleep(wait.max(Duration::from_millis(100))) => {}
                    _ = me.wake.notified() => {}
                }
                if me.query.cancel.is_canceled() {
                    return;
                }
            }
        })
    }

    /// Evaluates every SLO at `t_ms`, records the results and writes the series.
    pub fn evaluate_all(&self, t_ms: i64) {
        let mut results = HashMap::new();
        let mut batch_rows: Vec<(Vec<(String, String)>, f64)> = Vec::new();
        let entries = self.registry.all();
        // Caches of SLOs that are gone go with them.
        self.caches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| entries.iter().any(|e| e.slo.id() == *id));
        for e in entries {
            let id = e.slo.id();
            let latest = match self.status_now(&e.slo, t_ms) {
                Ok(s) => {
                    batch_rows.extend(series_of(&e.slo, &s));
                    Latest::Ok(s)
                }
                Err(error) => {
                    tracing::warn!(slo = id, error, "SLO budget evaluation failed");
                    Latest::Failed { at_ms: t_ms, error }
                }
            };
            results.insert(id, (e.slo, latest));
        }
        // Shutting down: the queries above were cancelled, and the storage is about
        // to close; write nothing and keep the last results.
        if self.query.cancel.is_canceled() {
            return;
        }
        let previous = {
            let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *latest, results.clone())
        };
        // Series of SLOs that are gone, or failed this time, end with staleness
        // markers, as a rule's series do.
        for (id, (slo, prev)) in previous {
            let now_ok = matches!(results.get(&id), Some((_, Latest::Ok(_))));
            if let (Latest::Ok(s), false) = (prev, now_ok) {
                batch_rows.extend(series_of(&slo, &s).into_iter().map(|(l, _)| (l, STALE_NAN)));
            }
        }
        self.write(&batch_rows, t_ms);
    }

    fn write(&self, rows: &[(Vec<(String, String)>, f64)], t_ms: i64) {
        if rows.is_empty() {
            return;
        }
        let mut batch = WriteBatch::default();
        for (labels, v) in rows {
            let refs: Vec<LabelRef<'_>> = labels
                .iter()
                .map(|(n, v)| LabelRef { name: n, value: v })
                .collect();
            batch.push_series(&refs, &[Sample { t: t_ms, v: *v }]);
        }
        match self.db.append(&batch) {
            Ok(o) if o.rejected_total() > 0 => tracing::debug!(
                refused = o.rejected_total(),
                "some SLO budget samples were not stored"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot store SLO budget series"),
        }
    }
}

/// The identity labels of an SLO's series, sorted by name with `__name__` first.
fn labels(
    name: &str,
    id: &str,
    service: &str,
    slo_name: &str,
    extra: Option<(&str, String)>,
) -> Vec<(String, String)> {
    let mut l = vec![
        ("__name__".to_owned(), name.to_owned()),
        ("slo_id".to_owned(), id.to_owned()),
        ("slo_name".to_owned(), slo_name.to_owned()),
        ("slo_service".to_owned(), service.to_owned()),
    ];
    if let Some((k, v)) = extra {
        l.push((k.to_owned(), v));
    }
    l.sort();
    l
}

/// The `pharos_slo_*` series of one status.
pub fn series_of(slo: &Slo, s: &Status) -> Vec<(Vec<(String, String)>, f64)> {
    let (id, service, name) = (slo.id(), &slo.service, &slo.name);
    let objective = slo.objective_ratio();
    let b = &s.budget;
    let l = |n: &str| labels(n, &id, service, name, None);
    let mut out = vec![
        (l("pharos_slo_objective_ratio"), objective),
        (l("pharos_slo_sli_ratio"), b.sli),
        (
            l("pharos_slo_error_budget_remaining_ratio"),
            b.remaining_ratio,
        ),
        (
            l("pharos_slo_error_budget_consumed_ratio"),
            b.consumed_ratio,
        ),
        (l("pharos_slo_policy_state"), b.state.as_f64()),
        (l("pharos_slo_freeze"), if b.freeze { 1.0 } else { 0.0 }),
    ];
    if let Some(secs) = b.exhaustion_secs {
        out.push((l("pharos_slo_error_budget_exhaustion_seconds"), secs));
    }
    for (w, burn) in &s.burn_rates {
        out.push((
            labels(
                "pharos_slo_burn_rate",
                &id,
                service,
                name,
                Some(("window", Status::window_name(*w))),
            ),
            *burn,
        ));
    }
    out
}
