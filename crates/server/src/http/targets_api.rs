//! `GET /api/v1/targets`, shaped as Prometheus answers it.

use super::AppState;
use crate::http::status_api::json_time;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pharos_ingest::scrape::Health;
use pharos_model::Labels;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|x| (x.name.clone(), Value::String(x.value.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// `GET /api/v1/targets?state=active|dropped|any` (default any, as in Prometheus).
pub async fn targets(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = q.get("state").map(String::as_str).unwrap_or("any");
    let (want_active, want_dropped) = match state {
        "" | "any" => (true, true),
        "active" => (true, false),
        "dropped" => (false, true),
        other => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "status": "error",
                    "errorType": "bad_data",
                    "error": format!("invalid state {other:?}: must be active, dropped or any"),
                })),
            )
                .into_response()
        }
    };
    let view = st.scrape.get();
    let mut active = Vec::new();
    if let (true, Some(view)) = (want_active, view) {
        for t in view.active() {
            let (health, last_error, last_scrape, duration) = match &t.health {
                Some(h) if h.last_scrape_ms > 0 => (
                    match h.health {
                        Health::Up => "up",
                        Health::Down => "down",
                        Health::Unknown => "unknown",
                    },
                    h.last_error.clone(),
                    json_time(h.last_scrape_ms),
                    h.last_scrape_duration.as_secs_f64(),
                ),
                // Go's zero time, which Prometheus reports before the first scrape.
                _ => (
                    "unknown",
                    String::new(),
                    "0001-01-01T00:00:00Z".to_owned(),
                    0.0,
                ),
            };
            active.push(json!({
                "discoveredLabels": labels_json(&t.target.discovered),
                "labels": labels_json(&t.target.labels),
                "scrapePool": t.config.job_name,
                "scrapeUrl": t.target.url,
                "globalUrl": t.target.url,
                "lastError": last_error,
                "lastScrape": last_scrape,
                "lastScrapeDuration": duration,
                "health": health,
                "scrapeInterval": pharos_ingest::scrape::PromDuration(t.target.interval).to_string(),
                "scrapeTimeout": pharos_ingest::scrape::PromDuration(t.target.timeout).to_string(),
            }));
        }
    }
    let mut dropped = Vec::new();
    if let (true, Some(view)) = (want_dropped, view) {
        for d in view.dropped() {
            dropped.push(json!({"discoveredLabels": labels_json(&d.discovered)}));
        }
    }
    let mut data = Map::new();
    if want_active {
        data.insert("activeTargets".into(), Value::Array(active));
    }
    if want_dropped {
        data.insert("droppedTargets".into(), Value::Array(dropped));
    }
    Json(json!({"status": "success", "data": data})).into_response()
}
