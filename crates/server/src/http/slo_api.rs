//! Pharos's SLO API: `GET|POST /api/v1/slos`, `GET|PUT|DELETE /api/v1/slos/{id}`,
//! `GET /api/v1/slos/{id}/freeze` (for release pipelines to poll) and
//! `GET /api/v1/reports/slo`. Answers use the Prometheus API envelope
//! (`{"status":"success","data":…}` or `{"status":"error","errorType",…}`).

use super::params::{parse_duration_ns, parse_time, Form};
use super::AppState;
use crate::slo::eval::{self, HistoryPoint, Status};
use crate::slo::registry::{Entry, RegistryError};
use crate::slo::report::{self, rfc3339, window_text};
use crate::slo::{engine::Latest, Slos};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/slos", get(list).post(create))
        .route("/api/v1/slos/{id}", get(one).put(replace).delete(remove))
        .route("/api/v1/slos/{id}/freeze", get(freeze))
        .route("/api/v1/reports/slo", get(slo_report))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

fn success(status: StatusCode, data: Value) -> Result<Response, Fail> {
    Ok(answer(status, json!({"status": "success", "data": data})))
}

/// A refused request, in the API's error shape.
struct Fail {
    status: StatusCode,
    kind: &'static str,
    msg: String,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        answer(
            self.status,
            json!({"status": "error", "errorType": self.kind, "error": self.msg}),
        )
    }
}

fn error(status: StatusCode, kind: &'static str, msg: impl Into<String>) -> Fail {
    Fail {
        status,
        kind,
        msg: msg.into(),
    }
}

fn bad_data(msg: impl Into<String>) -> Fail {
    error(StatusCode::BAD_REQUEST, "bad_data", msg)
}

fn not_found(id: &str) -> Fail {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("SLO {id:?} not found"),
    )
}

fn registry_error(e: RegistryError) -> Fail {
    let (status, kind) = match &e {
        RegistryError::Invalid(_) | RegistryError::BadRequest(_) => {
            (StatusCode::BAD_REQUEST, "bad_data")
        }
        RegistryError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        RegistryError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        RegistryError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    error(status, kind, e.to_string())
}

/// The SLO stage, or the answer that it is not running (yet).
fn slos(st: &AppState) -> Result<Arc<Slos>, Fail> {
    st.slos.get().cloned().ok_or_else(|| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Pharos is not ready: the SLO engine is starting or the server is shutting down",
        )
    })
}

fn now_ms() -> i64 {
    super::params::now_ms()
}

fn finite(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

fn status_json(s: &Status) -> Value {
    let b = &s.budget;
    let events = s.counts.is_some();
    let ev = |v: f64| if events { finite(v) } else { Value::Null };
    let at_traffic = |v: f64| {
        s.secs_at_current_traffic(v)
            .map(finite)
            .unwrap_or(Value::Null)
    };
    let burn: serde_json::Map<String, Value> = s
        .burn_rates
        .iter()
        .map(|(w, r)| (Status::window_name(*w), finite(*r)))
        .collect();
    json!({
        "evaluated_at": rfc3339(s.at_ms),
        "window_start": rfc3339(s.window_start_ms),
        "window_end": rfc3339(s.at_ms),
        "sli": finite(b.sli),
        "events_known": events,
        "total_events": s.counts.map(|c| finite(c.0)).unwrap_or(Value::Null),
        "bad_events": s.counts.map(|c| finite(c.1)).unwrap_or(Value::Null),
        "error_budget": {
            "ratio": finite(b.budget_ratio),
            "events": ev(b.budget_events),
            "seconds": finite(b.budget_secs),
            "seconds_at_current_traffic": at_traffic(b.budget_events),
        },
        "consumed": {
            "ratio": finite(b.consumed_ratio),
            "events": ev(b.consumed_events),
            "seconds": finite(b.consumed_secs),
            "seconds_at_current_traffic": at_traffic(b.consumed_events),
        },
        "remaining": {
            "ratio": finite(b.remaining_ratio),
            "events": ev(b.remaining_events),
            "seconds_at_current_traffic": b.remaining_secs_at_current_traffic.map(finite).unwrap_or(Value::Null),
        },
        "burn_rates": burn,
        "current_burn_rate": finite(b.current_burn_rate),
        "exhaustion_seconds": b.exhaustion_secs.map(finite).unwrap_or(Value::Null),
        "exhaustion_at": b.exhaustion_secs
            .filter(|s| s.is_finite())
            .map(|secs| json!(rfc3339(s.at_ms.saturating_add((secs * 1000.0) as i64))))
            .unwrap_or(Value::Null),
        "policy_state": b.state.as_str(),
        "freeze": b.freeze,
        "error": Value::Null,
    })
}

fn latest_json(l: Option<Latest>) -> Value {
    match l {
        Some(Latest::Ok(s)) => status_json(&s),
        Some(Latest::Failed { at_ms, error }) => json!({
            "evaluated_at": rfc3339(at_ms),
            "error": error,
        }),
        None => Value::Null,
    }
}

fn view(e: &Entry, status: Value) -> Value {
    let s = &e.slo;
    json!({
        "id": s.id(),
        "service": s.service,
        "name": s.name,
        "description": s.description,
        "objective": s.objective,
        "window": window_text(s.window),
        "source": e.origin.as_str(),
        "spec_format": s.format.as_str(),
        "labels": s.labels,
        "policy": {"warning_below": s.policy.warning_below, "exhausted_below": s.policy.exhausted_below},
        "min_events": s.min_events,
        "status": status,
    })
}

fn history_json(h: &[HistoryPoint]) -> Value {
    Value::Array(
        h.iter()
            .map(|p| {
                json!({
                    "t": p.t_ms as f64 / 1000.0,
                    "sli": finite(p.sli),
                    "consumed_ratio": finite(p.consumed_ratio),
                    "remaining_ratio": finite(p.remaining_ratio),
                    "policy_state": p.state.as_str(),
                })
            })
            .collect(),
    )
}

async fn list(State(st): State<Arc<AppState>>) -> Result<Response, Fail> {
    let slos = slos(&st)?;
    let data: Vec<Value> = slos
        .registry
        .all()
        .iter()
        .map(|e| view(e, latest_json(slos.engine.latest(&e.slo.id()))))
        .collect();
    success(StatusCode::OK, Value::Array(data))
}

fn time_param(form: &Form, name: &str, default: i64) -> Result<i64, Fail> {
    match form.get(name) {
        "" => Ok(default),
        v => parse_time(v).map_err(|e| bad_data(format!("invalid parameter {name:?}: {e}"))),
    }
}

fn duration_param(form: &Form, name: &str) -> Result<Option<i64>, Fail> {
    match form.get(name) {
        "" => Ok(None),
        v => match parse_duration_ns(v) {
            Ok(ns) if ns >= 1_000_000_000 => Ok(Some(ns / 1_000_000)),
            Ok(_) => Err(bad_data(format!(
                "invalid parameter {name:?}: must be at least 1s"
            ))),
            Err(e) => Err(bad_data(format!("invalid parameter {name:?}: {e}"))),
        },
    }
}

/// `GET /api/v1/slos/{id}[?time=…][&resolution=…]`: the status at `time` (default
/// now), computed on request, and the budget history over the window.
async fn one(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, Fail> {
    let slos = slos(&st)?;
    let Some(entry) = slos.registry.get(&id) else {
        return Err(not_found(&id));
    };
    let form = Form::parse(uri.query(), None);
    let at = time_param(&form, "time", now_ms())?;
    let resolution = duration_param(&form, "resolution")?
        .unwrap_or_else(|| eval::default_resolution_ms(entry.slo.window));
    let q = slos.engine.query();
    let slo = entry.slo.clone();
    let computed = tokio::task::spawn_blocking(move || {
        let status = eval::status(&slo, q.as_ref(), at)?;
        let history = eval::history(&slo, q.as_ref(), at, resolution)?;
        Ok::<_, String>((status, history))
    })
    .await;
    match computed {
        Ok(Ok((status, history))) => {
            let mut v = view(&entry, status_json(&status));
            v["history"] = history_json(&history);
            v["resolution"] = json!(pharos_slo::query::prom_duration(resolution / 1000));
            success(StatusCode::OK, v)
        }
        Ok(Err(e)) if e.starts_with("resolution") => {
            Err(bad_data(format!("invalid parameter \"resolution\": {e}")))
        }
        Ok(Err(e)) => Err(error(StatusCode::UNPROCESSABLE_ENTITY, "execution", e)),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )),
    }
}

/// `GET /api/v1/slos/{id}/freeze`: whether releases should stop, computed on request
/// so a pipeline never acts on a figure one evaluation old.
async fn freeze(State(st): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, Fail> {
    let slos = slos(&st)?;
    let Some(entry) = slos.registry.get(&id) else {
        return Err(not_found(&id));
    };
    let engine = slos.engine.clone();
    let slo = entry.slo.clone();
    let status = tokio::task::spawn_blocking(move || engine.status_now(&slo, now_ms()))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    match status {
        Ok(s) => success(
            StatusCode::OK,
            json!({
                "id": id,
                "freeze": s.budget.freeze,
                "policy_state": s.budget.state.as_str(),
                "remaining_ratio": finite(s.budget.remaining_ratio),
                "evaluated_at": rfc3339(s.at_ms),
            }),
        ),
        Err(e) => Err(error(StatusCode::UNPROCESSABLE_ENTITY, "execution", e)),
    }
}

fn body_text(body: &Bytes) -> Result<&str, Fail> {
    let text = std::str::from_utf8(body).map_err(|_| bad_data("the body is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(bad_data(
            "empty body: send an SLO spec (Sloth prometheus/v1, OpenSLO v1 or Pharos's slos: list) as YAML or JSON",
        ));
    }
    Ok(text)
}

async fn create(State(st): State<Arc<AppState>>, body: Bytes) -> Result<Response, Fail> {
    let slos = slos(&st)?;
    let text = body_text(&body)?;
    match slos.registry.create(text, now_ms()).await {
        Ok(ids) => success(StatusCode::CREATED, json!({ "ids": ids })),
        Err(e) => Err(registry_error(e)),
    }
}

async fn replace(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Fail> {
    let slos = slos(&st)?;
    let text = body_text(&body)?;
    match slos.registry.replace(&id, text, now_ms()).await {
        Ok(created) => success(
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            json!({ "ids": [id] }),
        ),
        Err(e) => Err(registry_error(e)),
    }
}

async fn remove(State(st): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, Fail> {
    let slos = slos(&st)?;
    match slos.registry.delete(&id).await {
        Ok(()) => success(StatusCode::OK, json!({ "ids": [id] })),
        Err(e) => Err(registry_error(e)),
    }
}

/// Whether the client asked for Markdown (`format=markdown` or `Accept: text/markdown`).
fn wants_markdown(form: &Form, headers: &HeaderMap) -> Result<bool, Fail> {
    match form.get("format") {
        "markdown" | "md" => Ok(true),
        "json" => Ok(false),
        "" => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/markdown"))),
        other => Err(bad_data(format!(
            "invalid parameter \"format\": {other:?}; use json or markdown"
        ))),
    }
}

/// `GET /api/v1/reports/slo?from=…&to=…[&format=markdown]`; the period defaults to
/// the last 7 days.
async fn slo_report(
    State(st): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let slos = slos(&st)?;
    let form = Form::parse(uri.query(), None);
    let markdown = wants_markdown(&form, &headers)?;
    let to = time_param(&form, "to", now_ms())?;
    let from = time_param(&form, "from", to - 7 * 86_400_000)?;
    if from >= to {
        return Err(bad_data("\"from\" must be before \"to\""));
    }
    let entries = slos.registry.all();
    let q = slos.engine.query();
    let step = slos.engine.interval_ms();
    let measured = {
        let entries = entries.clone();
        tokio::task::spawn_blocking(move || {
            entries
                .iter()
                .map(|e| report::measure_slo(e, q.as_ref(), from, to, step))
                .collect::<Vec<_>>()
        })
        .await
    };
    let mut measured = measured
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let mut rows = Vec::new();
    for (e, r) in entries.iter().zip(measured.iter_mut()) {
        match report::alert_counts(&slos.db, &r.id, from, to).await {
            Ok(c) => r.alerts = c,
            Err(err) => r.error = Some(err),
        }
        rows.push((e.slo.service.clone(), r.clone()));
    }
    let rep = report::assemble(from, to, rows);
    if markdown {
        return Ok((
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/markdown; charset=utf-8"),
            )],
            report::markdown(&rep),
        )
            .into_response());
    }
    match serde_json::to_value(&rep) {
        Ok(v) => success(StatusCode::OK, v),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )),
    }
}
