//! The OTLP metrics receivers: OTLP/HTTP (`POST /v1/metrics`, on the main port and on a
//! listener of its own, 4318 by default) and OTLP/gRPC (`MetricsService/Export`, 4317).
//!
//! | module | job |
//! |---|---|
//! | this one | listener addresses and startup; [`export`], the step both protocols share |
//! | [`crate::http::otlp`] | OTLP/HTTP: content types, gzip, size limits, `google.rpc.Status` bodies |
//! | [`crate::otlp_grpc`] | OTLP/gRPC: the service, its codec, gRPC status codes |
//!
//! Write path: request → readiness and a write slot (`AppState::write_permits`, shared
//! with remote_write) → body decoded by `pharos_ingest::otlp` → blocking thread:
//! [`export`] translates with the one shared [`Translator`] and appends through
//! [`Store::append`] → the translator's rejections and the storage's refusals become
//! the response's `partial_success`, or a retry-later answer when a series limit was hit.

use crate::http::params::now_ms;
use crate::http::write::refusals;
use crate::http::{AppState, Store};
use crate::self_metrics::{OtlpMetrics, OtlpOutcome, OtlpProtocol};
use anyhow::Context as _;
use pharos_ingest::otlp::proto::metrics::v1::metric::Data;
use pharos_ingest::otlp::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    Translator,
};
use pharos_tsdb::{AppendOutcome, TsdbError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The OTLP/gRPC port the OpenTelemetry SDKs and Collector send to by default.
pub const DEFAULT_GRPC_LISTEN: &str = "127.0.0.1:4317";
/// The OTLP/HTTP port the OpenTelemetry SDKs and Collector send to by default.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:4318";

/// Where the dedicated OTLP listeners bind; an empty address turns that listener off
/// (OTLP/HTTP stays reachable on the main port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpListen {
    pub grpc: String,
    pub http: String,
}

impl Default for OtlpListen {
    fn default() -> Self {
        OtlpListen {
            grpc: DEFAULT_GRPC_LISTEN.to_owned(),
            http: DEFAULT_HTTP_LISTEN.to_owned(),
        }
    }
}

/// What the OTLP receivers share across requests and protocols.
#[derive(Default)]
pub struct OtlpState {
    /// One translator for every request: it keeps the running totals of delta series,
    /// which must see all of a sender's points whichever port they arrive on.
    translator: Mutex<Translator>,
    pub(crate) metrics: OtlpMetrics,
}

/// The result of [`export`].
pub(crate) enum Exported {
    /// Stored; the response carries `partial_success` when anything was not.
    Stored(ExportMetricsServiceResponse),
    /// A series limit refused samples (the others were stored); a later retry may pass.
    Limited(String),
    Failed(TsdbError),
}

/// Translates and stores one decoded request, counting it under `protocol`. Runs on a
/// blocking thread: translation and the WAL write are CPU and disk work.
pub(crate) fn export(
    otlp: &OtlpState,
    store: &dyn Store,
    req: &ExportMetricsServiceRequest,
    protocol: OtlpProtocol,
) -> Exported {
    let received = count_points(req);
    // Held for the translation only, so appends of concurrent requests overlap.
    let translation = otlp
        .translator
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .translate(req, now_ms());
    let outcome = if translation.batch.series.is_empty() {
        AppendOutcome::default()
    } else {
        match store.append(&translation.batch.as_write_batch()) {
            Ok(o) => o,
            Err(e) => {
                let o = match e {
                    TsdbError::Closed => OtlpOutcome::NotReady,
                    _ => OtlpOutcome::Failed,
                };
                otlp.metrics.request(protocol, o);
                otlp.metrics.points(protocol, received, 0);
                return Exported::Failed(e);
            }
        }
    };
    let (refused, storage_msg) = refusals(&outcome);
    let rejected = translation.rejected_points.saturating_add(refused);
    otlp.metrics.points(protocol, received, rejected);
    let mut messages = Vec::new();
    if let Some(m) = &translation.error_message {
        messages.push(m.clone());
    }
    if refused > 0 {
        messages.push(format!("storage: {storage_msg}"));
    }
    if outcome.any_limit_hit() {
        otlp.metrics.request(protocol, OtlpOutcome::Limited);
        return Exported::Limited(messages.join("; "));
    }
    let partial_success =
        (rejected > 0 || !messages.is_empty()).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(rejected).unwrap_or(i64::MAX),
            error_message: messages.join("; "),
        });
    otlp.metrics.request(
        protocol,
        if partial_success.is_some() {
            OtlpOutcome::PartialSuccess
        } else {
            OtlpOutcome::Success
        },
    );
    Exported::Stored(ExportMetricsServiceResponse { partial_success })
}

/// Data points in a request, of every metric type.
fn count_points(req: &ExportMetricsServiceRequest) -> u64 {
    let metrics = req
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics);
    let mut n = 0u64;
    for m in metrics {
        let points = match &m.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        };
        n = n.saturating_add(points as u64);
    }
    n
}

/// The running dedicated OTLP listeners.
pub struct Listeners {
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Listeners {
    /// Binds every enabled listener before returning, so a taken port fails the start
    /// with its address, and serves them until `stop` turns true. Until the storage is
    /// ready they answer "unavailable, retry", as the main port does.
    pub async fn start(
        listen: &OtlpListen,
        state: Arc<AppState>,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Listeners> {
        let mut tasks = Vec::new();
        if !listen.http.is_empty() {
            let listener = bind(&listen.http, "--otlp-http-listen", "OTLP/HTTP").await?;
            let app = crate::http::otlp::router(state.clone());
            let mut stop = stop.clone();
            let task = tokio::spawn(async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
                if let Err(e) = served {
                    tracing::warn!(error = %e, "OTLP/HTTP server stopped with an error");
                }
            });
            tasks.push(("OTLP/HTTP", task));
        }
        if !listen.grpc.is_empty() {
            let listener = bind(&listen.grpc, "--otlp-grpc-listen", "OTLP/gRPC").await?;
            let task = tokio::spawn(async move {
                if let Err(e) = crate::otlp_grpc::serve(listener, state, stop).await {
                    tracing::warn!(error = %e, "OTLP/gRPC server stopped with an error");
                }
            });
            tasks.push(("OTLP/gRPC", task));
        }
        Ok(Listeners { tasks })
    }

    /// Once `stop` has turned true: waits up to `grace` for in-flight requests to end.
    pub async fn stopped(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        for (name, task) in self.tasks {
            match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(listener = name, error = %e, "server task failed"),
                Err(_) => tracing::warn!(
                    listener = name,
                    "in-flight requests did not finish in time; closing storage anyway"
                ),
            }
        }
    }
}

async fn bind(addr: &str, flag: &str, what: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({flag})"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    tracing::info!(addr = %bound, "{what} listening");
    Ok(listener)
}
