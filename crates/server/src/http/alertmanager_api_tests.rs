//! API v2 handlers against a real dispatcher over an in-memory SQLite database.

use super::*;
use crate::http::{router, HttpSettings};
use axum::body::Body;
use axum::http::Request;
use std::time::Duration;
use tower::ServiceExt;

async fn app(am: &str) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(crate::http::test_store::FakeEngine::default());
    let state = AppState::new(
        HttpSettings {
            max_request_bytes: 1 << 20,
            max_decompressed_bytes: 4 << 20,
            max_inflight_writes: 2,
            write_timeout: Duration::from_secs(5),
        },
        crate::http::tests::api_context(engine),
    );
    let config = crate::config::parse("p.yml", am).unwrap();
    let alerting = crate::alerting::Alerting::start(
        &config,
        None,
        dir.path(),
        Some("sqlite::memory:"),
        "127.0.0.1:9700".parse().unwrap(),
    )
    .await
    .unwrap();
    state.set_alerting(alerting);
    (router(state), dir)
}

async fn send(r: &Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = r.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

const ROUTED: &str = "alertmanager:\n  route:\n    receiver: team\n    group_by: [alertname]\n  receivers:\n    - name: team\n";

#[tokio::test]
async fn alerts_round_trip_in_alertmanager_shape() {
    let (r, _d) = app(ROUTED).await;
    let (s, body) = send(
        &r,
        post(
            "/api/v2/alerts",
            r#"[{"labels":{"alertname":"Disk","team":"infrastructure"},"annotations":{"summary":"full"},"generatorURL":"http://g"}]"#,
        ),
    )
    .await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, ""));
    let (s, body) = send(&r, get("/api/v2/alerts")).await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    let a = &v[0];
    assert_eq!(a["fingerprint"], "7cc1f8d0e35209c1");
    assert_eq!(a["labels"]["team"], "infrastructure");
    assert_eq!(a["annotations"]["summary"], "full");
    assert_eq!(a["generatorURL"], "http://g");
    assert_eq!(a["receivers"], json!([{"name": "team"}]));
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(a["status"]["silencedBy"], json!([]));
    let starts = a["startsAt"].as_str().unwrap();
    assert!(starts.ends_with('Z') && starts.len() == 24, "{starts}");
    let (_, body) = send(&r, get("/api/v2/alerts?filter=team%3D%22other%22")).await;
    assert_eq!(body, "[]");
    let (_, body) = send(&r, get("/api/v2/alerts?receiver=nobody")).await;
    assert_eq!(body, "[]");
    // Go clients (amtool) send the zero time for "unset": it means now / timeout.
    let (s, _) = send(
        &r,
        post(
            "/api/v2/alerts",
            r#"[{"labels":{"alertname":"Zero"},"startsAt":"0001-01-01T00:00:00.000Z","endsAt":"0001-01-01T00:00:00.000Z"}]"#,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, body) = send(&r, get("/api/v2/alerts?filter=alertname%3DZero")).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["status"]["state"], "active", "{body}");
    let (_, body) = send(&r, get("/api/v2/alerts/groups?filter=alertname%3DDisk")).await;
    let g: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(g[0]["labels"], json!({"alertname": "Disk"}));
    assert_eq!(g[0]["receiver"], json!({"name": "team"}));
    assert_eq!(g[0]["alerts"][0]["fingerprint"], "7cc1f8d0e35209c1");
}

#[tokio::test]
async fn bad_input_is_400_with_alertmanager_texts() {
    let (r, _d) = app("").await;
    let (s, body) = send(
        &r,
        post(
            "/api/v2/alerts",
            r#"[{"labels":{"a":"1"},"startsAt":"2030-01-01T00:00:10Z","endsAt":"2030-01-01T00:00:00Z"}]"#,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body, "\"start time must be before end time\"");
    let (s, body) = send(&r, post("/api/v2/alerts", "{")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("\"code\":400"), "{body}");
    let (s, body) = send(&r, get("/api/v2/alerts?filter=%7Ba%3D")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // Booleans are read leniently, as Alertmanager does: unknown words mean false.
    let (s, body) = send(&r, get("/api/v2/alerts?active=maybe")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = send(&r, get("/api/v2/silence/nope")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        r#"{"code":601,"message":"silenceID in path must be of type uuid: \"nope\""}"#
    );
    let unknown = "/api/v2/silence/9b3c2d4e-0000-4000-8000-000000000000";
    let (s, _) = send(&r, get(unknown)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = send(&r, Request::delete(unknown).body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, "\"silence not found\"");
}

#[tokio::test]
async fn silences_create_list_expire() {
    let (r, _d) = app("").await;
    let body = json!({
        "matchers": [{"name": "alertname", "value": "X", "isRegex": false}],
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": "2999-01-01T00:00:00Z",
        "createdBy": "me",
        "comment": "maintenance",
    });
    let (s, out) = send(&r, post("/api/v2/silences", &body.to_string())).await;
    assert_eq!(s, StatusCode::OK, "{out}");
    let id = serde_json::from_str::<Value>(&out).unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, out) = send(&r, get("/api/v2/silences")).await;
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"]["state"], "active");
    assert_eq!(
        list[0]["matchers"],
        json!([{"name": "alertname", "value": "X", "isRegex": false, "isEqual": true}])
    );
    let (_, out) = send(&r, get("/api/v2/silences?active=false")).await;
    assert_eq!(out, "[]");
    send(
        &r,
        post("/api/v2/alerts", r#"[{"labels":{"alertname":"X"}}]"#),
    )
    .await;
    let (_, out) = send(&r, get("/api/v2/alerts?silenced=false")).await;
    assert_eq!(out, "[]");
    let (_, out) = send(&r, get("/api/v2/alerts")).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["status"]["state"], "suppressed");
    assert_eq!(v[0]["status"]["silencedBy"], json!([id.as_str()]));
    let del = Request::delete(format!("/api/v2/silence/{id}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&r, del).await.0, StatusCode::OK);
    let (_, out) = send(&r, get(&format!("/api/v2/silence/{id}"))).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"]["state"], "expired");
    let bad = json!({
        "matchers": [{"name": "a", "value": "b", "isRegex": false}],
        "startsAt": "2030-01-01T00:00:00Z",
        "endsAt": "2020-01-01T00:00:00Z",
        "createdBy": "me",
        "comment": "",
    });
    let (s, out) = send(&r, post("/api/v2/silences", &bad.to_string())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        out,
        "\"Failed to create silence: start time must be before end time\""
    );
    let (_, out) = send(
        &r,
        get("/api/v1/alerts/history?match%5B%5D=%7Balertname%3D%22X%22%7D"),
    )
    .await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "success");
    let kinds: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["silenced", "firing"], "{out}");
}

#[tokio::test]
async fn status_and_receivers() {
    let (r, _d) = app(ROUTED).await;
    let (_, out) = send(&r, get("/api/v2/status")).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cluster"], json!({"status": "disabled", "peers": []}));
    assert!(v["config"]["original"]
        .as_str()
        .unwrap()
        .contains("receiver: team"));
    assert!(v["uptime"].as_str().unwrap().ends_with('Z'));
    let (_, out) = send(&r, get("/api/v2/receivers")).await;
    assert_eq!(out, r#"[{"labels":{"name":"team"},"name":"team"}]"#);
}

#[tokio::test]
async fn status_masks_secrets() {
    let (r, _d) = app(
        "alertmanager:\n  route:\n    receiver: chat\n  receivers:\n    - name: chat\n      slack_configs:\n        - api_url: https://hooks.example/secret-token\n          channel: '#ops'\n",
    )
    .await;
    let (_, out) = send(&r, get("/api/v2/status")).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    let original = v["config"]["original"].as_str().unwrap();
    assert!(!original.contains("secret-token"), "{original}");
    assert!(original.contains("<secret>"), "{original}");
}
