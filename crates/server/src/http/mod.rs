//! The HTTP API on the one Pharos port: routes, shared state, request accounting, and the
//! seam ([`Store`]) through which handlers reach the storage.
//!
//! | module | routes |
//! |---|---|
//! | [`health`] | `/-/healthy`, `/-/ready`, `/metrics` |
//! | [`write`] | `POST /api/v1/write` (remote_write v1) |
//! | [`otlp`] | `POST /v1/metrics` (OTLP/HTTP), here and on the OTLP/HTTP port |
//! | [`admin`] | `POST /api/v1/admin/tsdb/flush` |
//! | [`query_api`] | `/api/v1/query`, `query_range`, `format_query`, `query_exemplars` |
//! | [`series_api`] | `/api/v1/series`, `labels`, `label/<name>/values`, `metadata` |
//! | [`targets_api`] | `/api/v1/targets`, `/api/v1/targets/metadata` |
//! | [`rules_api`] | `/api/v1/rules`, `/api/v1/alerts` |
//! | [`alertmanager_api`] | Alertmanager API v2 `/api/v2/…`; `/api/v1/alerts/history` |
//! | [`slo_api`] | `/api/v1/slos`, `/api/v1/slos/{id}`, `…/{id}/freeze`, `/api/v1/reports/slo` |
//! | [`status_api`] | `/api/v1/status/buildinfo`, `runtimeinfo`, `flags`, `tsdb` |
//! | [`params`], [`api_json`] | Prometheus API parameters and JSON answers |
//!
//! Read path: request → [`params`] (form, times, durations, selectors) → blocking thread:
//! the engine ([`query_api::QueryEngine`]) or the querier of [`Store::queryable`] →
//! [`api_json`] renders the envelope.

pub mod admin;
pub mod alertmanager_api;
pub mod api_json;
pub mod health;
pub mod otlp;
pub mod params;
pub mod query_api;
pub mod rules_api;
pub mod series_api;
pub mod slo_api;
pub mod status_api;
pub mod targets_api;
pub mod write;

use crate::self_metrics::{HttpMetrics, QueryMetrics, WriteMetrics};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use pharos_model::{Queryable, WriteBatch};
use pharos_tsdb::{AppendOutcome, CardinalityReport, Db, DbStats};
use query_api::{QueryEngine, QuerySettings};
use status_api::StatusInfo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// What the HTTP handlers need from the storage. [`Db`] is the implementation; tests
/// substitute their own to exercise the handlers' answers.
pub trait Store: Send + Sync + 'static {
    fn append(&self, batch: &WriteBatch<'_>) -> pharos_tsdb::Result<AppendOutcome>;
    fn flush(&self) -> pharos_tsdb::Result<()>;
    fn stats(&self) -> DbStats;
    /// The read side, for the query and index APIs.
    fn queryable(&self) -> &dyn Queryable;
    /// Series counts by metric and label, the top `limit` of each list.
    fn cardinality(&self, limit: usize) -> CardinalityReport;
}

impl Store for Db {
    fn append(&self, batch: &WriteBatch<'_>) -> pharos_tsdb::Result<AppendOutcome> {
        Db::append(self, batch)
    }

    fn flush(&self) -> pharos_tsdb::Result<()> {
        Db::flush(self)
    }

    fn stats(&self) -> DbStats {
        Db::stats(self)
    }

    fn queryable(&self) -> &dyn Queryable {
        self
    }

    fn cardinality(&self, limit: usize) -> CardinalityReport {
        Db::cardinality(self, limit)
    }
}

/// Tunables of the HTTP layer, from the `server` config section.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_request_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub max_inflight_writes: usize,
    pub write_timeout: Duration,
}

/// What the Prometheus query API needs besides the storage.
pub struct ApiContext {
    pub engine: Arc<dyn QueryEngine>,
    pub query: QuerySettings,
    pub status: StatusInfo,
}

/// State shared by all handlers.
pub struct AppState {
    store: OnceLock<Arc<dyn Store>>,
    ready: AtomicBool,
    pub(crate) settings: HttpSettings,
    pub(crate) write_permits: Arc<Semaphore>,
    pub(crate) http_metrics: HttpMetrics,
    pub(crate) write_metrics: WriteMetrics,
    pub(crate) query_metrics: QueryMetrics,
    /// The OTLP receivers' translator and counters, shared by the HTTP and gRPC ports.
    pub(crate) otlp: crate::otlp::OtlpState,
    pub(crate) api: ApiContext,
    /// Set once scraping runs; until then the targets API lists nothing.
    pub(crate) scrape: OnceLock<Arc<crate::scrape::ScrapeView>>,
    /// Set once the server is ready; until then `/-/reload` answers 503.
    pub(crate) reload: OnceLock<crate::reload::ReloadHandle>,
    /// Set once rule evaluation runs; until then the rules and alerts APIs answer 503.
    pub(crate) rules: OnceLock<Arc<crate::rules::Rules>>,
    /// Set once the alerting stage runs; until then the Alertmanager API answers 503.
    pub(crate) alerting: OnceLock<Arc<crate::alerting::Alerting>>,
    /// Set once the SLO stage runs; until then the SLO API answers 503.
    pub(crate) slos: OnceLock<Arc<crate::slo::Slos>>,
}

impl AppState {
    pub fn new(settings: HttpSettings, api: ApiContext) -> Arc<Self> {
        Arc::new(AppState {
            api,
            store: OnceLock::new(),
            ready: AtomicBool::new(false),
            write_permits: Arc::new(Semaphore::new(settings.max_inflight_writes)),
            settings,
            http_metrics: HttpMetrics::default(),
            write_metrics: WriteMetrics::default(),
            query_metrics: QueryMetrics::default(),
            otlp: crate::otlp::OtlpState::default(),
            scrape: OnceLock::new(),
            reload: OnceLock::new(),
            rules: OnceLock::new(),
            alerting: OnceLock::new(),
            slos: OnceLock::new(),
        })
    }

    /// Called once the storage has replayed its WAL; from then on requests reach it.
    pub fn set_ready(&self, store: Arc<dyn Store>) {
        if self.store.set(store).is_ok() {
            self.ready.store(true, Ordering::Release);
        }
    }

    /// Called when shutting down, so `/-/ready` tells load balancers to go elsewhere
    /// while in-flight requests finish.
    pub fn set_not_ready(&self) {
        self.ready.store(false, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The storage, once ready.
    pub(crate) fn store(&self) -> Option<Arc<dyn Store>> {
        if self.is_ready() {
            self.store.get().cloned()
        } else {
            None
        }
    }

    /// Hands the targets API its view of the running scrape targets.
    pub fn set_scrape_view(&self, view: Arc<crate::scrape::ScrapeView>) {
        let _ = self.scrape.set(view);
    }

    /// Connects `/-/reload`, `/metrics` and the runtime info to the reloader.
    pub fn set_reload(&self, handle: crate::reload::ReloadHandle) {
        let _ = self.reload.set(handle);
    }

    /// Connects the rules and alerts APIs and the rule self-metrics.
    pub fn set_rules(&self, rules: Arc<crate::rules::Rules>) {
        let _ = self.rules.set(rules);
    }

    /// Connects the Alertmanager API.
    pub fn set_alerting(&self, alerting: Arc<crate::alerting::Alerting>) {
        let _ = self.alerting.set(alerting);
    }

    /// Connects the SLO API.
    pub fn set_slos(&self, slos: Arc<crate::slo::Slos>) {
        let _ = self.slos.set(slos);
    }

    /// The storage even while shutting down, for self-metrics.
    pub(crate) fn store_any(&self) -> Option<Arc<dyn Store>> {
        self.store.get().cloned()
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/-/healthy", get(health::healthy))
        .route("/-/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/api/v1/write", post(write::remote_write))
        .route("/v1/metrics", post(otlp::export))
        .route(
            "/api/v1/admin/tsdb/flush",
            post(admin::flush).put(admin::flush),
        )
        .route(
            "/api/v1/query",
            get(query_api::query).post(query_api::query),
        )
        .route(
            "/api/v1/query_range",
            get(query_api::query_range).post(query_api::query_range),
        )
        .route(
            "/api/v1/query_exemplars",
            get(query_api::query_exemplars).post(query_api::query_exemplars),
        )
        .route(
            "/api/v1/format_query",
            get(query_api::format_query).post(query_api::format_query),
        )
        .route(
            "/api/v1/series",
            get(series_api::series).post(series_api::series),
        )
        .route(
            "/api/v1/labels",
            get(series_api::label_names).post(series_api::label_names),
        )
        .route("/api/v1/label/{name}/values", get(series_api::label_values))
        .route(
            "/api/v1/metadata",
            get(series_api::metadata).post(series_api::metadata),
        )
        .route("/api/v1/status/buildinfo", get(status_api::buildinfo))
        .route("/api/v1/status/runtimeinfo", get(status_api::runtimeinfo))
        .route("/api/v1/status/flags", get(status_api::flags))
        .route("/api/v1/status/tsdb", get(status_api::tsdb))
        .route("/api/v1/targets", get(targets_api::targets))
        .route("/api/v1/rules", get(rules_api::rules))
        .route("/api/v1/alerts", get(rules_api::alerts))
        .route(
            "/api/v1/targets/metadata",
            get(targets_api::target_metadata).post(targets_api::target_metadata),
        )
        .route(
            "/-/reload",
            post(crate::reload::reload_endpoint).put(crate::reload::reload_endpoint),
        )
        .merge(alertmanager_api::routes())
        .merge(slo_api::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found")
}

/// Counts every request by route template (not raw path, which would grow unbounded).
async fn track(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    let elapsed = start.elapsed();
    st.http_metrics
        .observe(&handler, resp.status().as_u16(), elapsed);
    tracing::debug!(%method, handler, status = resp.status().as_u16(), elapsed_ms = elapsed.as_millis() as u64, "request");
    resp
}

/// A plain-text answer, newline-terminated as Prometheus writes its error bodies.
pub(crate) fn plain(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut body = msg.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// A plain-text answer telling the client when to come back.
pub(crate) fn retry_after(status: StatusCode, secs: u64, msg: impl Into<String>) -> Response {
    let mut resp = plain(status, msg);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// Until the WAL is replayed, storage-backed routes answer this.
pub(crate) fn not_ready() -> Response {
    retry_after(
        StatusCode::SERVICE_UNAVAILABLE,
        1,
        "Pharos is not ready: the write-ahead log is being replayed or the server is shutting down",
    )
}

/// Until the WAL is replayed, the JSON API routes answer this, in the API's error shape.
pub(crate) fn unavailable() -> Response {
    api_json::error(&params::ApiError::new(
        params::ErrorKind::Unavailable,
        "Pharos is not ready: the write-ahead log is being replayed or the server is shutting down",
    ))
}

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod test_store;
#[cfg(test)]
mod tests;
