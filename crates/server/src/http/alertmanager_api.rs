//! Alertmanager API v2 on the main port, so Prometheus can send alerts to Pharos and
//! `amtool` works against it: `/api/v2/alerts` (GET, POST), `/api/v2/alerts/groups`,
//! `/api/v2/silences` (GET, POST), `/api/v2/silence/{id}` (GET, DELETE),
//! `/api/v2/status`, `/api/v2/receivers`. JSON shapes, defaults and error texts follow
//! Alertmanager's (its OpenAPI spec and go-swagger handlers): handler errors are a JSON
//! string, body and parameter binding errors `{"code": …, "message": …}`.
//!
//! Also Pharos's `GET /api/v1/alerts/history`: alert events from the control-plane
//! database, newest first, in the Prometheus API envelope.

use super::params::{self, ApiError, Form};
use super::{api_json, AppState};
use crate::alerting::Alerting;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use pharos_alerting::alert::{AlertState, AlertStatus, PostableAlert};
use pharos_alerting::dispatch::{AlertFilter, AlertGroupView, AlertView};
use pharos_alerting::matcher::{parse_matcher, MatchType, Matcher, Matchers};
use pharos_alerting::silence::{Silence, SilenceError, SilenceState};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(get_silence).delete(delete_silence),
        )
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v1/alerts/history", get(history).post(history))
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        v.to_string(),
    )
        .into_response()
}

/// A handler's error: Alertmanager's payload is the message as a JSON string.
fn message(status: StatusCode, msg: impl Into<String>) -> Response {
    json_response(status, &Value::String(msg.into()))
}

/// A binding error (bad body or parameter), go-swagger's shape.
fn binding(msg: impl Into<String>) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"code": 400, "message": msg.into()}),
    )
}

/// An error answer of a helper, turned into a response at the handler's edge (a
/// `Response` itself is too large to return in every `Err`).
enum Reject {
    /// A handler error: the message as a JSON string.
    Message(StatusCode, String),
    /// A binding error, go-swagger's `{"code", "message"}`.
    Binding(String),
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        match self {
            Reject::Message(status, msg) => message(status, msg),
            Reject::Binding(msg) => binding(msg),
        }
    }
}

/// The alerting stage, or the 503 answer while it is not running.
fn alerting(st: &AppState) -> Result<Arc<Alerting>, Reject> {
    st.alerting.get().cloned().ok_or_else(|| {
        Reject::Message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Pharos is not ready: alerting is starting or the server is shutting down".into(),
        )
    })
}

/// Alertmanager's time format: RFC 3339 with milliseconds, in UTC.
fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Go's zero time, which Alertmanager shows for an unset end.
const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{field} in body must be of type date-time: {s:?}"))
}

/// Go's `strconv.ParseBool`, as go-swagger binds boolean parameters.
/// Alertmanager's API reads booleans with go-openapi's lenient rule: a handful of words
/// mean true, anything else means false, and no value is ever refused. An absent
/// parameter keeps the spec's default (true for these filters).
fn bool_param(form: &Form, name: &str) -> Result<bool, Reject> {
    let v = form.get(name);
    if v.is_empty() {
        return Ok(true);
    }
    const TRUE_WORDS: [&str; 10] = [
        "true", "1", "yes", "ok", "y", "on", "selected", "checked", "t", "enabled",
    ];
    Ok(TRUE_WORDS.iter().any(|w| w.eq_ignore_ascii_case(v)))
}

fn status_json(s: &AlertStatus) -> Value {
    json!({
        "state": s.state.as_str(),
        "silencedBy": s.silenced_by,
        "inhibitedBy": s.inhibited_by,
        // Time-interval muting is applied per route when notifying, not per alert.
        "mutedBy": [],
    })
}

fn alert_json(a: &AlertView) -> Value {
    json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": time(a.starts_at),
        "endsAt": a.ends_at.map(time).unwrap_or_else(|| ZERO_TIME.to_owned()),
        "updatedAt": time(a.updated_at),
        "generatorURL": a.generator_url,
        "fingerprint": a.fingerprint.to_string(),
        "receivers": a.receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "status": status_json(&a.status),
    })
}

fn group_json(g: &AlertGroupView) -> Value {
    json!({
        "labels": g.labels,
        "receiver": {"name": g.receiver},
        "alerts": g.alerts.iter().map(alert_json).collect::<Vec<_>>(),
    })
}

/// The parameters `/alerts` and `/alerts/groups` share.
fn alert_filter(form: &Form) -> Result<AlertFilter, Reject> {
    let filter: Vec<String> = form.all("filter").into_iter().map(str::to_owned).collect();
    // go-swagger treats an empty parameter as absent.
    let receiver = Some(form.get("receiver")).filter(|r| !r.is_empty());
    let mut f = AlertFilter::parse(&filter, receiver)
        .map_err(|e| Reject::Message(StatusCode::BAD_REQUEST, e.to_string()))?;
    f.active = bool_param(form, "active")?;
    f.silenced = bool_param(form, "silenced")?;
    f.inhibited = bool_param(form, "inhibited")?;
    Ok(f)
}

async fn get_alerts(State(st): State<Arc<AppState>>, uri: Uri) -> Response {
    let a = match alerting(&st) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let form = Form::parse(uri.query(), None);
    let (filter, unprocessed) =
        match alert_filter(&form).and_then(|f| Ok((f, bool_param(&form, "unprocessed")?))) {
            Ok(v) => v,
            Err(r) => return r.into_response(),
        };
    let alerts: Vec<Value> = a
        .dispatcher
        .alerts(&filter)
        .await
        .iter()
        .filter(|v| unprocessed || v.status.state != AlertState::Unprocessed)
        .map(alert_json)
        .collect();
    json_response(StatusCode::OK, &Value::Array(alerts))
}

async fn get_groups(State(st): State<Arc<AppState>>, uri: Uri) -> Response {
    let a = match alerting(&st) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let filter = match alert_filter(&Form::parse(uri.query(), None)) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let groups: Vec<Value> = a
        .dispatcher
        .groups(&filter)
        .await
        .iter()
        .map(group_json)
        .collect();
    json_response(StatusCode::OK, &Value::Array(groups))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostedAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
}

/// Go's zero time in Unix seconds: clients written in Go (amtool) send it for "unset".
const GO_ZERO_UNIX: i64 = -62_135_596_800;

fn optional_time(field: &str, s: &Option<String>) -> Result<Option<DateTime<Utc>>, String> {
    match s.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => parse_time(field, s).map(|t| (t.timestamp() != GO_ZERO_UNIX).then_some(t)),
    }
}

async fn post_alerts(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let a = match alerting(&st) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let posted: Vec<PostedAlert> = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return binding(format!("parsing alerts body from \"\" failed, because {e}")),
    };
    let mut alerts = Vec::with_capacity(posted.len());
    for p in posted {
        let times = optional_time("startsAt", &p.starts_at)
            .and_then(|s| Ok((s, optional_time("endsAt", &p.ends_at)?)));
        let (starts_at, ends_at) = match times {
            Ok(t) => t,
            Err(e) => return binding(e),
        };
        alerts.push(PostableAlert {
            labels: p.labels,
            annotations: p.annotations.unwrap_or_default(),
            starts_at,
            ends_at,
            generator_url: p.generator_url.unwrap_or_default(),
        });
    }
    match a.dispatcher.put_alerts(alerts).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => message(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

fn matcher_json(m: &Matcher) -> Value {
    let (is_regex, is_equal) = match m.kind() {
        MatchType::Equal => (false, true),
        MatchType::NotEqual => (false, false),
        MatchType::Regexp => (true, true),
        MatchType::NotRegexp => (true, false),
    };
    json!({"name": m.name(), "value": m.value(), "isRegex": is_regex, "isEqual": is_equal})
}

fn silence_json(s: &Silence, now: DateTime<Utc>) -> Value {
    json!({
        "id": s.id,
        "status": {"state": s.state(now).as_str()},
        "updatedAt": time(s.updated_at),
        "matchers": s.matchers.iter().map(matcher_json).collect::<Vec<_>>(),
        "startsAt": time(s.starts_at),
        "endsAt": time(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
        "annotations": {},
    })
}

async fn get_silences(State(st): State<Arc<AppState>>, uri: Uri) -> Response {
    let a = match alerting(&st) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let form = Form::parse(uri.query(), None);
    let mut filter = Vec::new();
    for f in form.all("filter") {
        match parse_matcher(f) {
            Ok(m) => filter.push(m),
            Err(e) => return message(StatusCode::BAD_REQUEST, e.to_string()),
        }
    }
    let mut wanted = Vec::new();
    for (name, state) in [
        ("active", SilenceState::Active),
        ("pending", SilenceState::Pending),
        ("expired", SilenceState::Expired),
    ] {
        match bool_param(&form, name) {
            Ok(true) => wanted.push(state),
            Ok(false) => {}
            Err(r) => return r.into_response(),
        }
    }
    let now = a.dispatcher.now();
    let list: Vec<Value> = a
        .dispatcher
        .silences()
        .query(&filter, now)
        .iter()
        .filter(|s| wanted.contains(&s.state(now)))
        .map(|s| silence_json(s, now))
        .collect();
    json_response(StatusCode::OK, &Value::Array(list))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostedMatcher {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default = "default_true")]
    is_equal: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostedSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<PostedMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: String,
    comment: String,
}

/// The body as Alertmanager's `PostableSilenceToProto` converts it.
fn to_silence(p: PostedSilence) -> Result<Silence, Reject> {
    if p.matchers.is_empty() {
        return Err(Reject::Binding(
            "matchers in body should have at least 1 items".into(),
        ));
    }
    let starts_at = parse_time("startsAt", &p.starts_at).map_err(Reject::Binding)?;
    let ends_at = parse_time("endsAt", &p.ends_at).map_err(Reject::Binding)?;
    let mut matchers = Vec::with_capacity(p.matchers.len());
    for m in p.matchers {
        let kind = match (m.is_regex, m.is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (true, false) => MatchType::NotRegexp,
        };
        let m = Matcher::new(kind, m.name, m.value).map_err(|e| {
            Reject::Message(
                StatusCode::BAD_REQUEST,
                format!("failed to convert API silence to internal silence: {e}"),
            )
        })?;
        matchers.push(m);
    }
    Ok(Silence {
        id: p.id.unwrap_or_default(),
        matchers: Matchers(matchers),
        starts_at,
        ends_at,
        updated_at: starts_at,
        created_by: p.created_by,
        comment: p.comment,
        schedule: None,
    })
}

async fn post_silence(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let a = match alerting(&st) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let posted: PostedSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return binding(format!(
                "parsing silence body from \"\" failed, because {e}"
            ))
        }
    };
    let silence = match to_silence(posted) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let now = a.dispatcher.now();
    match a.dispatcher.silences().post(silence, now).await {
        Ok(id) => json_response(StatusCode::OK, &json!({ "silenceID": id })),
        Err(SilenceError::NotFound) => message(StatusCode::NOT_FOUND, "silence not found"),
        Err(e @ SilenceError::Store(_)) | Err(e @ SilenceError::Id(_)) => {
            tracing::error!(error = %e, "storing a silence failed");
            message(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Err(e) => message(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// go-openapi's `uuid` format: hyphenated or 32 bare hex digits, any case.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    let hex = |r: &[u8]| r.iter().all(u8::is_ascii_hexdigit);
    match b.len() {
        32 => hex(b),
        36 => {
            [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
                && hex(&b[..8])
                && hex(&b[9..13])
                && hex(&b[14..18])
                && hex(&b[19..23])
                && hex(&b[24..])
        }
        _ => false,
    }
}

/// The 422 go-swagger gives a path parameter that is not a UUID.
fn bad_silence_id(id: &str) -> Response {
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({"code": 601, "message": format!("silenceID in path must be of type uuid: {id:?}")}),
    )
}

async fn get_silence(State(st): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    if !is_uuid(&id) {
        return bad_silence_id(&id);
    }
    let a = match alerting(&st) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    match a.dispatcher.silences().get(&id) {
        Some(s) => json_response(StatusCode::OK, &silence_json(&s, a.dispatcher.now())),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete_silence(State(st): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    if !is_uuid(&id) {
        return bad_silence_id(&id);
    }
    let a = match alerting(&st) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let now = a.dispatcher.now();
    match a.dispatcher.silences().expire(&id, now).await {
        Ok(()) => StatusCode::OK.into_response(),
        // Alertmanager 0.25 answers an unknown id here with a 500 carrying this text
        // (its handler has no not-found branch for DELETE); amtool prints it as is.
        Err(SilenceError::NotFound) => {
            message(StatusCode::INTERNAL_SERVER_ERROR, "silence not found")
        }
        Err(e) => {
            tracing::error!(error = %e, "expiring a silence failed");
            message(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

async fn status(State(st): State<Arc<AppState>>) -> Response {
    let a = match alerting(&st) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let uptime = DateTime::from_timestamp_millis(a.started_ms).unwrap_or_default();
    json_response(
        StatusCode::OK,
        &json!({
            // One process, no gossip: Alertmanager reports a disabled cluster so.
            "cluster": {"status": "disabled", "peers": []},
            "versionInfo": {
                "version": env!("CARGO_PKG_VERSION"),
                "revision": "",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            },
            "config": {"original": a.config().original()},
            "uptime": time(uptime),
        }),
    )
}

async fn receivers(State(st): State<Arc<AppState>>) -> Response {
    let a = match alerting(&st) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let list: Vec<Value> = a
        .config()
        .config
        .receivers
        .iter()
        .map(|r| match &r.labels {
            Some(l) => json!({"name": r.name, "labels": l}),
            None => json!({"name": r.name}),
        })
        .collect();
    json_response(StatusCode::OK, &Value::Array(list))
}

/// Events returned when `limit` is not given, and the most one request may ask for.
const HISTORY_DEFAULT_LIMIT: usize = 1000;
const HISTORY_MAX_LIMIT: usize = 10_000;

fn state_matcher(m: &pharos_model::Matcher) -> pharos_state::Matcher {
    use pharos_model::MatchOp;
    let name = m.name.clone();
    let value = m.value.clone();
    match m.op {
        MatchOp::Equal => pharos_state::Matcher::equal(name, value),
        MatchOp::NotEqual => pharos_state::Matcher::not_equal(name, value),
        MatchOp::RegexMatch => pharos_state::Matcher::regex(name, value),
        MatchOp::RegexNoMatch => pharos_state::Matcher::not_regex(name, value),
    }
}

/// `GET|POST /api/v1/alerts/history?match[]=…&from=…&to=…&limit=…`: alert events,
/// newest first. Each `match[]` is a series selector over the alert's labels (several
/// are OR-ed); `from` is inclusive, `to` exclusive; times as in the query API.
async fn history(State(st): State<Arc<AppState>>, uri: Uri, body: Bytes) -> Response {
    let a = match alerting(&st) {
        Ok(a) => a,
        Err(_) => return super::unavailable(),
    };
    let form = Form::parse(uri.query(), Some(&body));
    let bound = |name: &str| -> Result<Option<i64>, ApiError> {
        match form.get(name) {
            "" => Ok(None),
            s => params::parse_time(s)
                .map(Some)
                .map_err(|e| ApiError::invalid_param(name, e)),
        }
    };
    let (from, to, limit) = match (bound("from"), bound("to"), params::limit_param(&form)) {
        (Ok(f), Ok(t), Ok(l)) => (f, t, l),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return api_json::error(&e),
    };
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            return api_json::error(&ApiError::bad_data(
                "invalid parameter \"to\": end timestamp must not be before start time",
            ));
        }
    }
    let limit = match limit {
        0 => HISTORY_DEFAULT_LIMIT,
        n => n.min(HISTORY_MAX_LIMIT),
    };
    let selectors = form.all("match[]");
    let sets: Vec<Vec<pharos_state::Matcher>> = if selectors.is_empty() {
        vec![Vec::new()]
    } else {
        match params::parse_match_params(&selectors) {
            Ok(sets) => sets
                .iter()
                .map(|s| {
                    s.iter()
                        // A selector's metric name is the alert name here.
                        .map(|m| {
                            let mut m = state_matcher(m);
                            if m.name == pharos_model::METRIC_NAME {
                                m.name = "alertname".to_owned();
                            }
                            m
                        })
                        .collect()
                })
                .collect(),
            Err(e) => return api_json::error(&ApiError::bad_data(e)),
        }
    };
    let mut events: Vec<pharos_state::StoredEvent> = Vec::new();
    for matchers in sets {
        let q = pharos_state::HistoryQuery {
            matchers,
            from,
            to,
            limit: Some(limit),
            order: pharos_state::Order::Descending,
            ..Default::default()
        };
        match a.db.history().query(&q).await {
            Ok(found) => events.extend(found),
            Err(e) => {
                return api_json::error(&ApiError::new(
                    params::ErrorKind::Internal,
                    format!("reading alert history failed: {e}"),
                ))
            }
        }
    }
    events.sort_by_key(|e| std::cmp::Reverse((e.event.at, e.id)));
    events.dedup_by_key(|e| e.id);
    events.truncate(limit);
    let list: Vec<Value> = events
        .iter()
        .map(|e| {
            let at = DateTime::from_timestamp_millis(e.event.at).unwrap_or_default();
            json!({
                "id": e.id,
                "at": time(at),
                "kind": e.event.kind.as_str(),
                "fingerprint": e.event.fingerprint,
                "labels": e.event.labels,
                "receiver": e.event.receiver,
                "integration": e.event.integration,
                "detail": e.event.detail,
            })
        })
        .collect();
    let data = Value::Array(list).to_string();
    api_json::success(&api_json::Notes::default(), |j| j.raw(&data))
}

#[cfg(test)]
#[path = "alertmanager_api_tests.rs"]
mod tests;
