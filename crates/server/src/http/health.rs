//! Liveness, readiness and self-metrics.

use super::{plain, AppState};
use crate::self_metrics::{self, Inflight, Snapshot};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub async fn healthy() -> Response {
    plain(StatusCode::OK, "Pharos is Healthy.")
}

pub async fn ready(State(st): State<Arc<AppState>>) -> Response {
    if st.is_ready() {
        plain(StatusCode::OK, "Pharos is Ready.")
    } else {
        plain(StatusCode::SERVICE_UNAVAILABLE, "Pharos is not ready.")
    }
}

pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    // Gathering storage stats may take the storage's locks; keep that off the runtime.
    let db = match st.store_any() {
        Some(store) => tokio::task::spawn_blocking(move || store.stats())
            .await
            .ok(),
        None => None,
    };
    let max = st.settings.max_inflight_writes;
    let mut text = self_metrics::render(&Snapshot {
        db: db.as_ref(),
        ready: st.is_ready(),
        http: &st.http_metrics,
        write: &st.write_metrics,
        inflight: Inflight {
            in_use: max.saturating_sub(st.write_permits.available_permits()),
            max,
        },
        query: &st.query_metrics,
        otlp: &st.otlp.metrics,
    });
    if let Some(r) = st.reload.get() {
        text.push_str(&r.status().render());
    }
    if let Some(alerting) = st.alerting.get() {
        text.push_str(&self_metrics::render_alerting(&alerting.metrics_view()));
    }
    if let Some(rules) = st.rules.get().cloned() {
        // The snapshot waits for groups evaluating right now; keep that off the runtime.
        if let Ok(groups) = tokio::task::spawn_blocking(move || rules.groups()).await {
            text.push_str(&self_metrics::render_rules(&groups));
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self_metrics::CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}
