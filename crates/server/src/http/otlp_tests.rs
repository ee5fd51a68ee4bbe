//! The OTLP receivers against an in-memory store: OTLP/HTTP through the routers, and the
//! gRPC service's export step called directly.

use super::RpcStatus;
use crate::http::tests::api_context;
use crate::http::{router, AppState, HttpSettings, Store};
use crate::otlp_grpc::MetricsService;
use crate::self_metrics::{self, Inflight, Snapshot};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use pharos_ingest::otlp::proto::common::v1::{any_value, AnyValue, KeyValue};
use pharos_ingest::otlp::proto::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use pharos_ingest::otlp::proto::resource::v1::Resource;
use pharos_ingest::otlp::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use pharos_model::{Queryable, Sample, WriteBatch};
use pharos_tsdb::{AppendOutcome, CardinalityReport, DbStats, RejectReason, TsdbError};
use prost::Message;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

/// Records appended series as `name{labels}` strings; refuses as configured.
#[derive(Default)]
struct FakeStore {
    appended: Mutex<Vec<(String, Vec<Sample>)>>,
    /// Every sample is refused for this reason.
    refuse: Option<RejectReason>,
    fail: bool,
    mem: super::super::test_store::MemQueryable,
}

impl FakeStore {
    fn series(&self) -> Vec<(String, Vec<Sample>)> {
        self.appended.lock().unwrap().clone()
    }
}

impl Store for FakeStore {
    fn append(&self, batch: &WriteBatch<'_>) -> pharos_tsdb::Result<AppendOutcome> {
        if self.fail {
            return Err(TsdbError::corrupt("wal", "disk on fire"));
        }
        let mut out = AppendOutcome::default();
        for s in &batch.series {
            let labels = batch
                .series_labels(s)
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect::<Vec<_>>()
                .join(",");
            let samples = batch.series_samples(s);
            if let Some(r) = self.refuse {
                out.reject(r, samples.len() as u64, || {
                    format!("series {labels}: refused")
                });
                continue;
            }
            out.samples_appended += samples.len() as u64;
            self.appended
                .lock()
                .unwrap()
                .push((labels, samples.to_vec()));
        }
        Ok(out)
    }

    fn flush(&self) -> pharos_tsdb::Result<()> {
        Ok(())
    }

    fn stats(&self) -> DbStats {
        DbStats::default()
    }

    fn queryable(&self) -> &dyn Queryable {
        &self.mem
    }

    fn cardinality(&self, limit: usize) -> CardinalityReport {
        self.mem.cardinality(limit)
    }
}

fn settings() -> HttpSettings {
    HttpSettings {
        max_request_bytes: 64 << 10,
        max_decompressed_bytes: 256 << 10,
        max_inflight_writes: 2,
        write_timeout: Duration::from_secs(5),
    }
}

fn state_with(store: FakeStore, settings: HttpSettings) -> (Arc<AppState>, Arc<FakeStore>) {
    let engine = Arc::new(super::super::test_store::FakeEngine::default());
    let state = AppState::new(settings, api_context(engine));
    let store = Arc::new(store);
    state.set_ready(store.clone());
    (state, store)
}

fn make_app(store: FakeStore) -> (Arc<AppState>, Arc<FakeStore>, Router) {
    let (state, store) = state_with(store, settings());
    (state.clone(), store, router(state))
}

/// 2024-01-01T00:00:00Z in nanoseconds.
const T0: u64 = 1_704_067_200_000_000_000;
const T0_MS: i64 = 1_704_067_200_000;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        key_strindex: 0,
    }
}

fn point(v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![kv("path", "/a")],
        time_unix_nano: T0,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn metric(name: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

fn counter(name: &str, v: f64) -> Metric {
    metric(
        name,
        metric::Data::Sum(Sum {
            data_points: vec![point(v)],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        }),
    )
}

fn gauge(name: &str, v: f64) -> Metric {
    metric(
        name,
        metric::Data::Gauge(Gauge {
            data_points: vec![point(v)],
        }),
    )
}

/// A non-monotonic delta sum, which the translator rejects.
fn delta_updown(name: &str) -> Metric {
    metric(
        name,
        metric::Data::Sum(Sum {
            data_points: vec![point(1.0)],
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: false,
        }),
    )
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "api"), kv("service.instance.id", "h1")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

const REQUESTS_TOTAL: &str = "__name__=requests_total,instance=h1,job=api,path=/a";

fn post(path: &str, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut b = Request::post(path).header(header::CONTENT_TYPE, content_type);
    if let Some(e) = encoding {
        b = b.header(header::CONTENT_ENCODING, e);
    }
    b.body(Body::from(body)).unwrap()
}

fn protobuf(req: &ExportMetricsServiceRequest) -> Request<Body> {
    post(
        "/v1/metrics",
        "application/x-protobuf",
        None,
        req.encode_to_vec(),
    )
}

struct Answer {
    status: StatusCode,
    content_type: String,
    retry_after: Option<String>,
    body: Vec<u8>,
}

async fn send(app: &Router, req: Request<Body>) -> Answer {
    let resp = app.clone().oneshot(req).await.unwrap();
    let header = |name| {
        resp.headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let content_type = header(header::CONTENT_TYPE).unwrap_or_default();
    let retry_after = header(header::RETRY_AFTER);
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        content_type,
        retry_after,
        body,
    }
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(raw).unwrap();
    enc.finish().unwrap()
}

fn metrics_text(st: &AppState) -> String {
    self_metrics::render(&Snapshot {
        db: None,
        ready: true,
        http: &st.http_metrics,
        write: &st.write_metrics,
        inflight: Inflight { in_use: 0, max: 2 },
        query: &st.query_metrics,
        otlp: &st.otlp.metrics,
    })
}

#[tokio::test]
async fn protobuf_is_stored_and_answered_in_protobuf() {
    let (st, store, app) = make_app(FakeStore::default());
    let a = send(&app, protobuf(&request(vec![counter("requests", 7.0)]))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.content_type, "application/x-protobuf");
    let resp = ExportMetricsServiceResponse::decode(a.body.as_slice()).unwrap();
    assert_eq!(resp.partial_success, None);
    assert_eq!(
        store.series(),
        [(REQUESTS_TOTAL.to_owned(), vec![Sample { t: T0_MS, v: 7.0 }])]
    );
    let text = metrics_text(&st);
    for want in [
        "pharos_otlp_requests_total{protocol=\"http\",outcome=\"success\"} 1\n",
        "pharos_otlp_datapoints_received_total{protocol=\"http\"} 1\n",
        "pharos_otlp_datapoints_rejected_total{protocol=\"http\"} 0\n",
    ] {
        assert!(text.contains(want), "missing {want:?}");
    }
}

#[tokio::test]
async fn json_is_stored_and_answered_in_json() {
    let (_, store, app) = make_app(FakeStore::default());
    let body = serde_json::json!({
        "resourceMetrics": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "api"}},
                {"key": "service.instance.id", "value": {"stringValue": "h1"}}
            ]},
            "scopeMetrics": [{"metrics": [{
                "name": "requests",
                "sum": {
                    "aggregationTemporality": 2,
                    "isMonotonic": true,
                    "dataPoints": [{
                        "attributes": [{"key": "path", "value": {"stringValue": "/a"}}],
                        "timeUnixNano": T0.to_string(),
                        "asInt": "3"
                    }]
                }
            }]}]
        }]
    });
    let a = send(
        &app,
        post(
            "/v1/metrics",
            "application/json; charset=utf-8",
            None,
            body.to_string().into_bytes(),
        ),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(a.content_type, "application/json");
    assert_eq!(json(&a.body), serde_json::json!({}));
    assert_eq!(
        store.series(),
        [(REQUESTS_TOTAL.to_owned(), vec![Sample { t: T0_MS, v: 3.0 }])]
    );
}

#[tokio::test]
async fn gzip_bodies_are_decompressed() {
    let (_, store, app) = make_app(FakeStore::default());
    let raw = request(vec![counter("requests", 1.0)]).encode_to_vec();
    let a = send(
        &app,
        post(
            "/v1/metrics",
            "application/x-protobuf",
            Some("gzip"),
            gzip(&raw),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(store.series().len(), 1);

    // A body that inflates past the decompressed limit is refused as too large.
    let huge = gzip(&vec![0u8; 1 << 20]);
    let a = send(
        &app,
        post("/v1/metrics", "application/x-protobuf", Some("gzip"), huge),
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

    let a = send(
        &app,
        post(
            "/v1/metrics",
            "application/json",
            Some("gzip"),
            b"not gzip".to_vec(),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&a.body)["code"], 3);
}

#[tokio::test]
async fn unsupported_media_is_415() {
    let (st, store, app) = make_app(FakeStore::default());
    let raw = request(vec![counter("requests", 1.0)]).encode_to_vec();
    for (ct, enc) in [
        ("text/plain", None),
        ("application/protobuf+x", None),
        ("application/x-protobuf", Some("br")),
        ("application/x-protobuf", Some("snappy")),
    ] {
        let a = send(&app, post("/v1/metrics", ct, enc, raw.clone())).await;
        assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct} {enc:?}");
    }
    let no_type = Request::post("/v1/metrics").body(Body::from(raw)).unwrap();
    assert_eq!(
        send(&app, no_type).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert!(store.series().is_empty());
    assert!(metrics_text(&st)
        .contains("pharos_otlp_requests_total{protocol=\"http\",outcome=\"invalid\"} 5\n"));
}

#[tokio::test]
async fn undecodable_bodies_are_400_with_a_status_body() {
    let (_, store, app) = make_app(FakeStore::default());
    // Field 1 as a length-delimited message running past the end of the body.
    let a = send(
        &app,
        post(
            "/v1/metrics",
            "application/x-protobuf",
            None,
            vec![0x0a, 0x20, 0x01],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.content_type, "application/x-protobuf");
    let status = RpcStatus::decode(a.body.as_slice()).unwrap();
    assert_eq!(status.code, tonic::Code::InvalidArgument as i32);
    assert!(status.message.contains("protobuf"), "{}", status.message);

    let a = send(
        &app,
        post(
            "/v1/metrics",
            "application/json",
            None,
            br#"{"resourceMetrics": 5}"#.to_vec(),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.content_type, "application/json");
    let body = json(&a.body);
    assert_eq!(body["code"], 3);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("resourceMetrics"),
        "{body}"
    );
    assert!(store.series().is_empty());
}

#[tokio::test]
async fn rejected_points_are_a_partial_success() {
    let (st, store, app) = make_app(FakeStore::default());
    let req = request(vec![gauge("temp", 20.5), delta_updown("queue")]);
    let a = send(&app, protobuf(&req)).await;
    assert_eq!(a.status, StatusCode::OK);
    let partial = ExportMetricsServiceResponse::decode(a.body.as_slice())
        .unwrap()
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_data_points, 1);
    assert!(
        partial.error_message.contains("queue"),
        "{}",
        partial.error_message
    );
    assert_eq!(store.series().len(), 1, "the gauge is stored");

    let body = serde_json::to_vec(&serde_json::json!({
        "resourceMetrics": [{"scopeMetrics": [{"metrics": [{
            "name": "queue",
            "sum": {"aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA", "dataPoints": [{"asDouble": 1}]}
        }]}]}]
    }))
    .unwrap();
    let a = send(&app, post("/v1/metrics", "application/json", None, body)).await;
    assert_eq!(a.status, StatusCode::OK);
    let body = json(&a.body);
    assert_eq!(body["partialSuccess"]["rejectedDataPoints"], "1", "{body}");
    let text = metrics_text(&st);
    for want in [
        "pharos_otlp_requests_total{protocol=\"http\",outcome=\"partial_success\"} 2\n",
        "pharos_otlp_datapoints_received_total{protocol=\"http\"} 3\n",
        "pharos_otlp_datapoints_rejected_total{protocol=\"http\"} 2\n",
    ] {
        assert!(text.contains(want), "missing {want:?}");
    }
}

#[tokio::test]
async fn storage_refusals_are_reported() {
    let store = FakeStore {
        refuse: Some(RejectReason::TooOld),
        ..Default::default()
    };
    let (_, _, app) = make_app(store);
    let a = send(&app, protobuf(&request(vec![counter("requests", 1.0)]))).await;
    assert_eq!(a.status, StatusCode::OK);
    let partial = ExportMetricsServiceResponse::decode(a.body.as_slice())
        .unwrap()
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_data_points, 1);
    assert!(
        partial.error_message.contains("too_old=1"),
        "{}",
        partial.error_message
    );

    // A series limit asks the sender to come back later instead.
    let store = FakeStore {
        refuse: Some(RejectReason::MaxSeries),
        ..Default::default()
    };
    let (_, _, app) = make_app(store);
    let a = send(&app, protobuf(&request(vec![counter("requests", 1.0)]))).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.retry_after.as_deref(), Some("30"));
    let status = RpcStatus::decode(a.body.as_slice()).unwrap();
    assert_eq!(status.code, tonic::Code::ResourceExhausted as i32);
    assert!(
        status.message.contains("max_series=1"),
        "{}",
        status.message
    );

    let store = FakeStore {
        fail: true,
        ..Default::default()
    };
    let (_, _, app) = make_app(store);
    let a = send(&app, protobuf(&request(vec![counter("requests", 1.0)]))).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.retry_after.is_some());
}

#[tokio::test]
async fn not_ready_throttled_and_too_large() {
    let engine = Arc::new(super::super::test_store::FakeEngine::default());
    let st = AppState::new(settings(), api_context(engine));
    let unready = router(st.clone());
    let req = request(vec![counter("requests", 1.0)]);
    let a = send(&unready, protobuf(&req)).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.retry_after.as_deref(), Some("1"));
    assert_eq!(
        RpcStatus::decode(a.body.as_slice()).unwrap().code,
        tonic::Code::Unavailable as i32
    );

    let (st, store, app) = make_app(FakeStore::default());
    let held = st.write_permits.clone().try_acquire_many_owned(2).unwrap();
    let a = send(&app, protobuf(&req)).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.retry_after.as_deref(), Some("1"));
    drop(held);

    let big = request(vec![counter(&"x".repeat(100 << 10), 1.0)]);
    let a = send(&app, protobuf(&big)).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(store.series().is_empty());
    let text = metrics_text(&st);
    for want in [
        "pharos_otlp_requests_total{protocol=\"http\",outcome=\"throttled\"} 1\n",
        "pharos_otlp_requests_total{protocol=\"http\",outcome=\"too_large\"} 1\n",
    ] {
        assert!(text.contains(want), "missing {want:?}");
    }
}

#[tokio::test]
async fn dedicated_listener_serves_only_v1_metrics() {
    let (st, store) = state_with(FakeStore::default(), settings());
    let app = super::router(st);
    let a = send(&app, protobuf(&request(vec![counter("requests", 1.0)]))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(store.series().len(), 1);
    let a = send(
        &app,
        post("/api/v1/write", "application/x-protobuf", None, vec![]),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let get = Request::get("/v1/metrics").body(Body::empty()).unwrap();
    assert_eq!(send(&app, get).await.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn deltas_accumulate_across_requests() {
    let (_, store, app) = make_app(FakeStore::default());
    let delta = |t: u64, v: f64| {
        let mut p = point(v);
        p.start_time_unix_nano = t - 1_000_000_000;
        p.time_unix_nano = t;
        request(vec![metric(
            "requests",
            metric::Data::Sum(Sum {
                data_points: vec![p],
                aggregation_temporality: AggregationTemporality::Delta as i32,
                is_monotonic: true,
            }),
        )])
    };
    for (i, v) in [2.0, 3.0].into_iter().enumerate() {
        let a = send(&app, protobuf(&delta(T0 + i as u64 * 1_000_000_000, v))).await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let values: Vec<f64> = store
        .series()
        .iter()
        .flat_map(|(_, s)| s.iter().map(|s| s.v))
        .collect();
    assert_eq!(values, [2.0, 5.0]);
}

#[tokio::test]
async fn grpc_export_maps_outcomes_to_status_codes() {
    let (st, store) = state_with(FakeStore::default(), settings());
    let svc = MetricsService::new(st.clone());
    let permit = || st.write_permits.clone().try_acquire_owned().unwrap();
    let ok = request(vec![counter("requests", 1.0)]).encode_to_vec();
    let resp = svc.export(ok.into(), permit()).await.unwrap();
    assert_eq!(resp.partial_success, None);
    assert_eq!(store.series().len(), 1);

    let partial = request(vec![delta_updown("queue")]).encode_to_vec();
    let resp = svc.export(partial.into(), permit()).await.unwrap();
    assert_eq!(resp.partial_success.unwrap().rejected_data_points, 1);

    let err = svc
        .export(vec![0x0a, 0x20, 0x01].into(), permit())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    let (st, _) = state_with(
        FakeStore {
            refuse: Some(RejectReason::MaxSeries),
            ..Default::default()
        },
        settings(),
    );
    let svc = MetricsService::new(st.clone());
    let p = st.write_permits.clone().try_acquire_owned().unwrap();
    let limited = request(vec![counter("requests", 1.0)]).encode_to_vec();
    let err = svc.export(limited.into(), p).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    let text = metrics_text(&st);
    assert!(text.contains("pharos_otlp_requests_total{protocol=\"grpc\",outcome=\"limited\"} 1\n"));
    assert!(text.contains("pharos_otlp_datapoints_received_total{protocol=\"grpc\"} 1\n"));
}

#[tokio::test]
async fn grpc_refuses_before_decoding_when_not_ready_or_busy() {
    use tonic::codegen::Service as _;
    let engine = Arc::new(super::super::test_store::FakeEngine::default());
    let st = AppState::new(settings(), api_context(engine));
    let call = |svc: &mut MetricsService| {
        let req = axum::http::Request::post(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        )
        .header(header::CONTENT_TYPE, "application/grpc")
        .body(tonic::body::Body::empty())
        .unwrap();
        svc.call(req)
    };
    let grpc_status = |resp: &axum::http::Response<tonic::body::Body>| {
        resp.headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let mut svc = MetricsService::new(st.clone());
    let resp = call(&mut svc).await.unwrap();
    assert_eq!(grpc_status(&resp).as_deref(), Some("14"), "UNAVAILABLE");

    st.set_ready(Arc::new(FakeStore::default()));
    let held = st.write_permits.clone().try_acquire_many_owned(2).unwrap();
    let resp = call(&mut svc).await.unwrap();
    assert_eq!(grpc_status(&resp).as_deref(), Some("14"), "UNAVAILABLE");
    drop(held);

    let other =
        axum::http::Request::post("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            .body(tonic::body::Body::empty())
            .unwrap();
    let resp = svc.call(other).await.unwrap();
    assert_eq!(grpc_status(&resp).as_deref(), Some("12"), "UNIMPLEMENTED");
    let text = metrics_text(&st);
    for want in [
        "pharos_otlp_requests_total{protocol=\"grpc\",outcome=\"not_ready\"} 1\n",
        "pharos_otlp_requests_total{protocol=\"grpc\",outcome=\"throttled\"} 1\n",
    ] {
        assert!(text.contains(want), "missing {want:?}");
    }
}
