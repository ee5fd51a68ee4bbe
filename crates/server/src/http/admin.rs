//! Administrative storage endpoints, answering in Prometheus's JSON envelope.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

fn api_error(status: StatusCode, error_type: &str, msg: String) -> Response {
    (
        status,
        Json(json!({"status": "error", "errorType": error_type, "error": msg})),
    )
        .into_response()
}

/// `POST /api/v1/admin/tsdb/flush`: writes the whole head to blocks and truncates the WAL.
pub async fn flush(State(st): State<Arc<AppState>>) -> Response {
    let Some(store) = st.store() else {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Pharos is not ready".to_owned(),
        );
    };
    match tokio::task::spawn_blocking(move || store.flush()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({"status": "success"}))).into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "flush failed");
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("flush failed: {e}"),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "flush task failed");
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("flush failed: {e}"),
            )
        }
    }
}
