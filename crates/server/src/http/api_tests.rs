//! The Prometheus query API's handlers end to end through the router, against an
//! in-memory store and a scripted engine.

use super::test_store::{FakeEngine, MemQueryable};
use super::tests::api_context;
use super::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use pharos_model::{Exemplar, Labels};
use pharos_promql::{Annotations, InstantSample, QueryError, QueryResult, QueryStats, Value};
use serde_json::{json, Value as Json};
use std::sync::atomic::Ordering;
use tower::ServiceExt;

struct MemStore(MemQueryable);

impl Store for MemStore {
    fn append(&self, _: &WriteBatch<'_>) -> pharos_tsdb::Result<AppendOutcome> {
        Ok(AppendOutcome::default())
    }
    fn flush(&self) -> pharos_tsdb::Result<()> {
        Ok(())
    }
    fn stats(&self) -> DbStats {
        DbStats {
            head_series: self.0.series.lock().unwrap().len() as u64,
            head_chunks: 7,
            head_min_time_ms: 1000,
            head_max_time_ms: 9000,
            ..Default::default()
        }
    }
    fn queryable(&self) -> &dyn Queryable {
        &self.0
    }
    fn cardinality(&self, limit: usize) -> CardinalityReport {
        self.0.cardinality(limit)
    }
}

fn settings() -> HttpSettings {
    HttpSettings {
        max_request_bytes: 1 << 20,
        max_decompressed_bytes: 4 << 20,
        max_inflight_writes: 2,
        write_timeout: Duration::from_secs(5),
    }
}

fn sample_store() -> MemQueryable {
    let m = MemQueryable::default();
    m.add(
        &[("__name__", "up"), ("job", "api"), ("instance", "a")],
        &[(1000, 1.0), (2000, 1.0)],
    );
    m.add(
        &[("__name__", "up"), ("job", "db"), ("instance", "b")],
        &[(1000, 0.0)],
    );
    m.add_with_exemplars(
        &[("__name__", "http_requests_total"), ("job", "api")],
        &[(5000, 10.0)],
        vec![
            Exemplar {
                labels: Labels::from_pairs([("trace_id", "abc")]),
                value: 1.5,
                t: 1_689_956_451_781,
            },
            Exemplar {
                labels: Labels::from_pairs([("trace_id", "old")]),
                value: 2.0,
                t: 1000,
            },
        ],
    );
    m
}

fn app(engine: Arc<FakeEngine>) -> Router {
    let state = AppState::new(settings(), api_context(engine));
    state.set_ready(Arc::new(MemStore(sample_store())));
    router(state)
}

async fn call(router: &Router, req: Request<Body>) -> (StatusCode, Json) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    if body.is_empty() {
        return (status, Json::Null);
    }
    assert_eq!(ct.as_deref(), Some("application/json"));
    (status, serde_json::from_slice(&body).unwrap())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post(uri: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

fn vector_reply() -> Result<QueryResult, QueryError> {
    Ok(QueryResult {
        value: Value::Vector(vec![
            InstantSample {
                labels: Labels::from_pairs([("__name__", "up"), ("job", "api")]),
                t: 1_435_781_451_781,
                v: 1.0,
            },
            InstantSample {
                labels: Labels::from_pairs([("__name__", "up"), ("job", "db")]),
                t: 1_435_781_451_781,
                v: 0.0,
            },
        ]),
        annotations: Annotations {
            warnings: vec![],
            infos: vec!["PromQL info: something (1:1)".into()],
        },
        stats: QueryStats {
            samples_loaded: 3,
            peak_samples: 2,
        },
    })
}

#[tokio::test]
async fn instant_query_get_and_post() {
    let engine = FakeEngine::replying(vector_reply());
    let router = app(engine.clone());
    let (s, body) = call(&router, get("/api/v1/query?query=up&time=1435781451.781")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "api"}, "value": [1435781451.781, "1"]},
            {"metric": {"__name__": "up", "job": "db"}, "value": [1435781451.781, "0"]},
        ]}, "infos": ["PromQL info: something (1:1)"]})
    );
    // Body parameters win over the query string, as in Go's ParseForm.
    let (s, body) = call(
        &router,
        post(
            "/api/v1/query?query=ignored&time=5",
            "query=sum(up)&time=2015-07-01T20:10:51.781Z&lookback_delta=1m&timeout=10s&limit=1&stats=all",
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["data"]["result"].as_array().unwrap().len(), 1);
    assert_eq!(body["warnings"], json!(["results truncated due to limit"]));
    assert_eq!(
        body["data"]["stats"]["samples"],
        json!({"totalQueryableSamples": 3, "peakSamples": 2})
    );
    assert!(body["data"]["stats"]["timings"]["evalTotalTime"].is_number());
    let calls = engine.calls.lock().unwrap().clone();
    assert_eq!(calls[0].query, "up");
    assert_eq!(calls[0].range.0, 1_435_781_451_781);
    assert_eq!(calls[0].timeout, Some(Duration::from_secs(120)));
    assert_eq!(calls[0].lookback_delta_ms, None);
    assert_eq!(calls[1].query, "sum(up)");
    assert_eq!(calls[1].range.0, 1_435_781_451_781);
    assert_eq!(calls[1].lookback_delta_ms, Some(60_000));
    assert_eq!(calls[1].timeout, Some(Duration::from_secs(10)));
}

#[tokio::test]
async fn missing_time_means_now() {
    let engine = FakeEngine::replying(vector_reply());
    let router = app(engine.clone());
    let before = params::now_ms();
    let (s, _) = call(&router, get("/api/v1/query?query=up")).await;
    assert_eq!(s, StatusCode::OK);
    let t = engine.calls.lock().unwrap()[0].range.0;
    assert!(t >= before && t <= params::now_ms());
}

#[tokio::test]
async fn range_query_and_parameter_errors() {
    let engine = FakeEngine::replying(Ok(QueryResult {
        value: Value::Matrix(vec![pharos_promql::RangeSeries {
            labels: Labels::from_pairs([("job", "api")]),
            points: vec![
                pharos_promql::Point { t: 0, v: 1.0 },
                pharos_promql::Point { t: 15_000, v: 2.0 },
            ],
        }]),
        annotations: Annotations::default(),
        stats: QueryStats::default(),
    }));
    let router = app(engine.clone());
    let (s, body) = call(
        &router,
        get("/api/v1/query_range?query=up&start=0&end=15&step=15s"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body["data"],
        json!({"resultType": "matrix", "result": [
            {"metric": {"job": "api"}, "values": [[0, "1"], [15, "2"]]}
        ]})
    );
    assert_eq!(engine.calls.lock().unwrap()[0].range, (0, 15_000, 15_000));

    for (uri, msg) in [
        (
            "/api/v1/query_range?query=up&start=x&end=1&step=1",
            r#"invalid parameter "start": cannot parse "x" to a valid timestamp"#,
        ),
        (
            "/api/v1/query_range?query=up&start=1&end=2&step=0",
            r#"invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer"#,
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=100000&step=1",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
        (
            "/api/v1/query?query=up&time=yesterday",
            r#"invalid parameter "time": invalid time value for 'time': cannot parse "yesterday" to a valid timestamp"#,
        ),
    ] {
        let (s, body) = call(&router, get(uri)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(
            body,
            json!({"status": "error", "errorType": "bad_data", "error": msg}),
            "{uri}"
        );
    }
    // Rejected requests never reach the engine.
    assert_eq!(engine.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn engine_errors_keep_prometheus_status_codes() {
    for (err, code, kind) in [
        (
            QueryError::Parse("1:4: parse error: unexpected end of input".into()),
            400,
            "bad_data",
        ),
        (
            QueryError::Execution("many-to-many".into()),
            422,
            "execution",
        ),
        (
            QueryError::Timeout("query execution".into()),
            503,
            "timeout",
        ),
        (QueryError::Storage("disk".into()), 500, "internal"),
    ] {
        let timeout = matches!(err, QueryError::Timeout(_));
        let state = AppState::new(settings(), api_context(FakeEngine::replying(Err(err))));
        state.set_ready(Arc::new(MemStore(sample_store())));
        let router = router(state.clone());
        let (s, body) = call(&router, get("/api/v1/query?query=up")).await;
        assert_eq!(s.as_u16(), code);
        assert_eq!(body["errorType"], kind);
        let m = &state.query_metrics;
        assert_eq!(m.timeouts.load(Ordering::Relaxed), u64::from(timeout));
        assert_eq!(m.canceled.load(Ordering::Relaxed), 0);
        assert_eq!(m.inflight.load(Ordering::Relaxed), 0);
    }
    let router = app(FakeEngine::replying(Err(QueryError::Parse(
        "1:4: parse error: unexpected end of input".into(),
    ))));
    let (_, body) = call(&router, get("/api/v1/query?query=up%7B")).await;
    assert_eq!(
        body["error"],
        r#"invalid parameter "query": 1:4: parse error: unexpected end of input"#
    );
}

#[tokio::test]
async fn scalar_results_and_stats_warning() {
    let router = app(FakeEngine::replying(Ok(QueryResult {
        value: Value::Scalar {
            t: 1_435_781_451_780,
            v: 1e21,
        },
        annotations: Annotations::default(),
        stats: QueryStats::default(),
    })));
    let resp = router
        .clone()
        .oneshot(get("/api/v1/query?query=1e21&stats=yes"))
        .await
        .unwrap();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.starts_with(
            r#"{"status":"success","data":{"resultType":"scalar","result":[1435781451.78,"1000000000000000000000"],"stats":{"#
        ),
        "{text}"
    );
    assert!(text.contains(r#""warnings":["value \"yes\" for parameter \"stats\" is deprecated"#));
}

#[tokio::test]
async fn client_disconnect_cancels_the_query() {
    let engine = Arc::new(FakeEngine {
        hang: true,
        ..Default::default()
    });
    let state = AppState::new(settings(), api_context(engine.clone()));
    state.set_ready(Arc::new(MemStore(sample_store())));
    let router = router(state.clone());
    let fut = router.clone().oneshot(get("/api/v1/query?query=up"));
    // The client gives up: the request future is dropped mid-evaluation.
    let _ = tokio::time::timeout(Duration::from_millis(100), fut).await;
    for _ in 0..400 {
        if engine.saw_cancel.load(Ordering::SeqCst) {
            let m = &state.query_metrics;
            assert_eq!(m.canceled.load(Ordering::Relaxed), 1);
            assert_eq!(m.inflight.load(Ordering::Relaxed), 0);
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the engine never saw the cancellation");
}

#[tokio::test]
async fn not_ready_is_an_api_error() {
    let state = AppState::new(settings(), api_context(Arc::new(FakeEngine::default())));
    let router = router(state);
    for uri in [
        "/api/v1/query?query=up",
        "/api/v1/series?match[]=up",
        "/api/v1/labels",
        "/api/v1/status/tsdb",
    ] {
        let (s, body) = call(&router, get(uri)).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(body["errorType"], "unavailable");
    }
    // These need no storage.
    let (s, _) = call(&router, get("/api/v1/status/buildinfo")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&router, get("/api/v1/format_query?query=up")).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn series_endpoint() {
    let router = app(Arc::new(FakeEngine::default()));
    let (s, body) = call(&router, get("/api/v1/series?match[]=up")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "success", "data": [
            {"__name__": "up", "instance": "a", "job": "api"},
            {"__name__": "up", "instance": "b", "job": "db"},
        ]})
    );
    // Overlapping selectors list each series once; POST form and query string combine.
    let (_, body) = call(
        &router,
        post(
            "/api/v1/series?match[]=up",
            "match%5B%5D=%7Bjob%3D%22api%22%7D",
        ),
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 3);
    let (_, body) = call(&router, get("/api/v1/series?match[]=up&limit=1")).await;
    assert_eq!(
        body["data"],
        json!([{"__name__": "up", "instance": "a", "job": "api"}])
    );
    assert_eq!(body["warnings"], json!(["results truncated due to limit"]));
    // The time range applies: `up{job="db"}` has no sample after 1s.
    let (_, body) = call(&router, get("/api/v1/series?match[]=up&start=1.5")).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);

    for (uri, msg) in [
        ("/api/v1/series", "no match[] parameter provided"),
        (
            "/api/v1/series?match[]=%7Bjob%3D~%22.*%22%7D",
            r#"invalid parameter "match[]": match[] must contain at least one non-empty matcher"#,
        ),
        (
            "/api/v1/series?match[]=up&end=x",
            r#"invalid parameter "end": invalid time value for 'end': cannot parse "x" to a valid timestamp"#,
        ),
    ] {
        let (s, body) = call(&router, get(uri)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body["error"], msg, "{uri}");
    }
    let (s, body) = call(&router, get("/api/v1/series?match[]=up%7B")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with(r#"invalid parameter "match[]": "#));
}

#[tokio::test]
async fn label_endpoints() {
    let router = app(Arc::new(FakeEngine::default()));
    let (_, body) = call(&router, get("/api/v1/labels")).await;
    assert_eq!(body["data"], json!(["__name__", "instance", "job"]));
    let (_, body) = call(
        &router,
        get("/api/v1/labels?match[]=http_requests_total&match[]=%7Bjob%3D%22db%22%7D"),
    )
    .await;
    assert_eq!(body["data"], json!(["__name__", "instance", "job"]));
    let (_, body) = call(
        &router,
        post("/api/v1/labels", "match[]=http_requests_total"),
    )
    .await;
    assert_eq!(body["data"], json!(["__name__", "job"]));
    let (_, body) = call(&router, get("/api/v1/labels?limit=2")).await;
    assert_eq!(body["data"], json!(["__name__", "instance"]));
    assert_eq!(body["warnings"], json!(["results truncated due to limit"]));

    let (_, body) = call(&router, get("/api/v1/label/job/values")).await;
    assert_eq!(body, json!({"status": "success", "data": ["api", "db"]}));
    let (_, body) = call(
        &router,
        get("/api/v1/label/__name__/values?match[]=%7Bjob%3D%22api%22%7D"),
    )
    .await;
    assert_eq!(body["data"], json!(["http_requests_total", "up"]));
    let (_, body) = call(&router, get("/api/v1/label/nope/values")).await;
    assert_eq!(body["data"], json!([]));
    let (_, body) = call(&router, get("/api/v1/label/U__jo_62_/values")).await;
    assert_eq!(body["data"], json!(["api", "db"]));
    let (s, body) = call(&router, get("/api/v1/labels?match[]=%7Ba%3D%22%22%7D")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "match[] must contain at least one non-empty matcher"
    );
}

#[tokio::test]
async fn metadata_is_empty_not_invented() {
    let router = app(Arc::new(FakeEngine::default()));
    let (s, body) = call(&router, get("/api/v1/metadata")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, json!({"status": "success", "data": {}}));
    let (s, body) = call(&router, get("/api/v1/metadata?limit=x")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "limit must be a number");
}

#[tokio::test]
async fn exemplars() {
    let router = app(Arc::new(FakeEngine::default()));
    let (s, body) = call(
        &router,
        get("/api/v1/query_exemplars?query=rate(http_requests_total%5B5m%5D)%20%2B%20up&start=1000000&end=2000000000"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "success", "data": [{
            "seriesLabels": {"__name__": "http_requests_total", "job": "api"},
            "exemplars": [{"labels": {"trace_id": "abc"}, "value": "1.5", "timestamp": 1689956451.781}],
        }]})
    );
    let (_, body) = call(
        &router,
        get("/api/v1/query_exemplars?query=http_requests_total"),
    )
    .await;
    assert_eq!(body["data"][0]["exemplars"].as_array().unwrap().len(), 2);
    let (s, body) = call(&router, get("/api/v1/query_exemplars?query=1%2B1")).await;
    assert_eq!((s, body), (StatusCode::NO_CONTENT, Json::Null));
    let (s, body) = call(&router, get("/api/v1/query_exemplars?query=sum(")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorType"], "bad_data");
    let (s, body) = call(
        &router,
        get("/api/v1/query_exemplars?query=up&start=2&end=1"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "end timestamp must not be before start timestamp"
    );
}

#[tokio::test]
async fn format_query() {
    let router = app(Arc::new(FakeEngine::default()));
    let (s, body) = call(&router, post("/api/v1/format_query", "query=sum(%20up%20)")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, json!({"status": "success", "data": "sum( up )"}));
    let (s, body) = call(&router, get("/api/v1/format_query")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        r#"invalid parameter "query": 1:1: parse error: no expression found in input"#
    );
}

#[tokio::test]
async fn status_endpoints() {
    let state = AppState::new(
        settings(),
        ApiContext {
            status: StatusInfo {
                start_time_ms: 1_700_000_000_000,
                config_time_ms: 1_700_000_000_000,
                flags: [("listen".to_owned(), "127.0.0.1:9700".to_owned())].into(),
                storage_retention: "15d".into(),
            },
            ..api_context(Arc::new(FakeEngine::default()))
        },
    );
    state.set_ready(Arc::new(MemStore(sample_store())));
    let router = router(state);

    let (_, body) = call(&router, get("/api/v1/status/buildinfo")).await;
    let data = body["data"].as_object().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    for k in [
        "version",
        "revision",
        "branch",
        "buildUser",
        "buildDate",
        "goVersion",
    ] {
        assert!(keys.contains(&k), "{k}");
    }
    assert_eq!(data["version"], env!("CARGO_PKG_VERSION"));

    let (_, body) = call(&router, get("/api/v1/status/runtimeinfo")).await;
    let d = &body["data"];
    assert_eq!(d["startTime"], "2023-11-14T22:13:20Z");
    assert_eq!(d["storageRetention"], "15d");
    assert_eq!(d["reloadConfigSuccess"], true);
    assert!(d["GOMAXPROCS"].as_u64().unwrap() >= 1);
    assert!(d["goroutineCount"].as_u64().unwrap() >= 1);
    assert_eq!(d["GOGC"], "");

    let (_, body) = call(&router, get("/api/v1/status/flags")).await;
    assert_eq!(body["data"], json!({"listen": "127.0.0.1:9700"}));

    let (_, body) = call(&router, get("/api/v1/status/tsdb?limit=1")).await;
    assert_eq!(
        body["data"],
        json!({
            "headStats": {"numSeries": 3, "numLabelPairs": 6, "chunkCount": 7, "minTime": 1000, "maxTime": 9000},
            "seriesCountByMetricName": [{"name": "up", "value": 2}],
            "labelValueCountByLabelName": [{"name": "__name__", "value": 2}],
            "memoryInBytesByLabelName": [{"name": "__name__", "value": 21}],
            "seriesCountByLabelValuePair": [{"name": "__name__=up", "value": 2}],
        })
    );
    let (s, body) = call(&router, get("/api/v1/status/tsdb?limit=0")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "limit must be a positive number");
}
