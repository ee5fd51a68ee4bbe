//! Handler behaviour against an in-memory store standing in for the database.

use super::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use pharos_ingest::remote_write::proto;
use pharos_model::Sample;
use pharos_tsdb::{RejectReason, TsdbError};
use prost::Message;
use std::sync::Mutex;
use tower::ServiceExt;

/// Records what was appended; refuses series beyond `max_series` like the real limit.
#[derive(Default)]
struct FakeStore {
    appended: Mutex<Vec<(String, Vec<Sample>)>>,
    max_series: Option<usize>,
    reject_duplicates: bool,
    fail_flush: bool,
    mem: super::test_store::MemQueryable,
}

impl Store for FakeStore {
    fn append(&self, batch: &WriteBatch<'_>) -> pharos_tsdb::Result<AppendOutcome> {
        let mut out = AppendOutcome::default();
        let mut stored = self.appended.lock().unwrap();
        for s in &batch.series {
            let name = batch
                .series_labels(s)
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect::<Vec<_>>()
                .join(",");
            let samples = batch.series_samples(s);
            if self.max_series.is_some_and(|m| stored.len() >= m) {
                out.reject(RejectReason::MaxSeries, samples.len() as u64, || {
                    format!("series {name}: too many series")
                });
                continue;
            }
            if self.reject_duplicates {
                out.reject(RejectReason::DuplicateTimestamp, 1, || {
                    format!("series {name}: duplicate")
                });
            }
            out.samples_appended += samples.len() as u64;
            stored.push((name, samples.to_vec()));
        }
        Ok(out)
    }

    fn flush(&self) -> pharos_tsdb::Result<()> {
        if self.fail_flush {
            Err(TsdbError::corrupt("block", "disk on fire"))
        } else {
            Ok(())
        }
    }

    fn stats(&self) -> DbStats {
        DbStats {
            head_series: self.appended.lock().unwrap().len() as u64,
            ..Default::default()
        }
    }

    fn queryable(&self) -> &dyn pharos_model::Queryable {
        &self.mem
    }

    fn cardinality(&self, limit: usize) -> pharos_tsdb::CardinalityReport {
        self.mem.cardinality(limit)
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

pub(super) fn api_context(engine: Arc<dyn query_api::QueryEngine>) -> ApiContext {
    ApiContext {
        engine,
        query: query_api::QuerySettings {
            timeout: Duration::from_secs(120),
        },
        status: status_api::StatusInfo::default(),
    }
}

fn app_with(store: FakeStore, settings: HttpSettings) -> (Arc<AppState>, Arc<FakeStore>, Router) {
    let engine = Arc::new(super::test_store::FakeEngine::default());
    let state = AppState::new(settings, api_context(engine));
    let store = Arc::new(store);
    state.set_ready(store.clone());
    (state.clone(), store, router(state))
}

fn app(store: FakeStore) -> (Arc<AppState>, Arc<FakeStore>, Router) {
    app_with(store, settings())
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
    proto::TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| proto::Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(t, v)| proto::Sample {
                value: v,
                timestamp: t,
            })
            .collect(),
        exemplars: vec![],
    }
}

/// prost (like Go's protobuf) omits a double equal to 0.0, which drops the sign of -0.0;
/// this writes the value field explicitly, as a sender that keeps the bits does.
fn negative_zero_series() -> Vec<u8> {
    use prost::encoding::{double, encode_key, encode_varint, int64, message, WireType};
    let mut sample = Vec::new();
    double::encode(1, &-0.0, &mut sample);
    int64::encode(2, &1000, &mut sample);
    let mut ts = Vec::new();
    for (n, v) in [("__name__", "up"), ("job", "b")] {
        message::encode(
            1,
            &proto::Label {
                name: n.into(),
                value: v.into(),
            },
            &mut ts,
        );
    }
    encode_key(2, WireType::LengthDelimited, &mut ts);
    encode_varint(sample.len() as u64, &mut ts);
    ts.extend_from_slice(&sample);
    let mut out = Vec::new();
    encode_key(1, WireType::LengthDelimited, &mut out);
    encode_varint(ts.len() as u64, &mut out);
    out.extend_from_slice(&ts);
    out
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

fn encode(ts: Vec<proto::TimeSeries>) -> Vec<u8> {
    snappy(
        &proto::WriteRequest {
            timeseries: ts,
            metadata: vec![],
        }
        .encode_to_vec(),
    )
}

fn write_req(body: Vec<u8>) -> Request<Body> {
    Request::post("/api/v1/write")
        .header("content-encoding", "snappy")
        .header("content-type", "application/x-protobuf")
        .body(Body::from(body))
        .unwrap()
}

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn health_and_readiness() {
    let state = AppState::new(
        settings(),
        api_context(Arc::new(super::test_store::FakeEngine::default())),
    );
    let router = router(state.clone());
    let (s, _, b) = send(&router, get("/-/healthy")).await;
    assert_eq!((s, b.as_str()), (StatusCode::OK, "Pharos is Healthy.\n"));
    let (s, _, _) = send(&router, get("/-/ready")).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let (s, h, _) = send(&router, write_req(encode(vec![]))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.contains_key("retry-after"));
    let (s, _, b) = send(&router, get("/metrics")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.contains("pharos_ready 0"));
    state.set_ready(Arc::new(FakeStore::default()));
    let (s, _, b) = send(&router, get("/-/ready")).await;
    assert_eq!((s, b.as_str()), (StatusCode::OK, "Pharos is Ready.\n"));
    state.set_not_ready();
    let (s, _, _) = send(&router, get("/-/ready")).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn write_stores_and_answers_204() {
    let (_, store, router) = app(FakeStore::default());
    let mut raw = proto::WriteRequest {
        timeseries: vec![series(
            &[("__name__", "up"), ("job", "a")],
            &[(1000, 1.0), (2000, f64::NAN)],
        )],
        metadata: vec![],
    }
    .encode_to_vec();
    raw.extend_from_slice(&negative_zero_series());
    let body = snappy(&raw);
    let (s, _, b) = send(&router, write_req(body)).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let got = store.appended.lock().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, "__name__=up,job=a");
    assert_eq!(got[0].1.len(), 2);
    assert!(got[0].1[1].v.is_nan());
    assert_eq!(got[1].1[0].v.to_bits(), (-0.0f64).to_bits());
}

#[tokio::test]
async fn bad_input_is_400_with_reason() {
    let (_, store, router) = app(FakeStore::default());
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not snappy at all".to_vec(), "snappy"),
        (
            snappy(b"\xff\xff\xff garbage protobuf"),
            "malformed protobuf",
        ),
        (
            encode(vec![series(&[("b", "1"), ("a", "2")], &[(1, 1.0)])]),
            "not sorted",
        ),
        (
            encode(vec![series(&[("a", "1"), ("a", "2")], &[(1, 1.0)])]),
            "duplicate label name",
        ),
        (
            encode(vec![series(&[("1bad", "1")], &[(1, 1.0)])]),
            "invalid label name",
        ),
    ];
    for (body, want) in cases {
        let (s, _, b) = send(&router, write_req(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{want}: {b}");
        assert!(b.contains(want), "want {want:?} in {b:?}");
    }
    assert!(store.appended.lock().unwrap().is_empty());
    let (s, _, b) = send(&router, get("/metrics")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        b.contains("pharos_remote_write_requests_invalid_total 5"),
        "{b}"
    );
    assert!(
        b.contains("pharos_http_requests_total{handler=\"/api/v1/write\",code=\"400\"} 5"),
        "{b}"
    );
}

#[tokio::test]
async fn unsupported_encodings_are_415() {
    let (_, _, router) = app(FakeStore::default());
    let req = Request::post("/api/v1/write")
        .header("content-encoding", "gzip")
        .body(Body::from(encode(vec![])))
        .unwrap();
    let (s, _, b) = send(&router, req).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(b.contains("gzip"));
    let req = Request::post("/api/v1/write")
        .header(
            "content-type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )
        .body(Body::from(encode(vec![])))
        .unwrap();
    let (s, _, b) = send(&router, req).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(b.contains("remote write 2.0"));
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let (_, _, router) = app_with(
        FakeStore::default(),
        HttpSettings {
            max_request_bytes: 100,
            ..settings()
        },
    );
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let name: String = (0..500)
        .map(|_| {
            // Incompressible enough that snappy cannot shrink it under the limit.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let big = encode(vec![series(&[("__name__", &name)], &[(1, 1.0)])]);
    assert!(big.len() > 100);
    let (s, _, b) = send(&router, write_req(big.clone())).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(b.contains("server.max_request_bytes"), "{b}");
    // A declared Content-Length over the limit is refused before reading.
    let req = Request::post("/api/v1/write")
        .header("content-length", big.len().to_string())
        .body(Body::from(big))
        .unwrap();
    let (s, _, _) = send(&router, req).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, _, b) = send(&router, get("/metrics")).await;
    assert!(
        b.contains("pharos_remote_write_requests_too_large_total 2"),
        "{b}"
    );
}

#[tokio::test]
async fn busy_writes_are_429_with_retry_after() {
    let (state, store, router) = app(FakeStore::default());
    let _held = state
        .write_permits
        .clone()
        .try_acquire_many_owned(2)
        .unwrap();
    let body = encode(vec![series(&[("__name__", "up")], &[(1, 1.0)])]);
    let (s, h, b) = send(&router, write_req(body.clone())).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h.get("retry-after").unwrap(), "1");
    assert!(b.contains("max_inflight_writes"), "{b}");
    assert!(store.appended.lock().unwrap().is_empty());
    drop(_held);
    let (s, _, _) = send(&router, write_req(body)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, m) = send(&router, get("/metrics")).await;
    assert!(
        m.contains("pharos_remote_write_requests_throttled_total 1"),
        "{m}"
    );
}

#[tokio::test]
async fn limit_refusals_are_429_others_400() {
    let (_, store, router) = app(FakeStore {
        max_series: Some(2),
        ..Default::default()
    });
    let ts = (0..4)
        .map(|i| series(&[("__name__", "m"), ("i", &i.to_string())], &[(1, 1.0)]))
        .collect();
    let (s, h, b) = send(&router, write_req(encode(ts))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
    assert!(h.contains_key("retry-after"));
    assert!(
        b.contains("2 sample(s) refused, 2 stored: max_series=2; first: series __name__=m,i=2"),
        "{b}"
    );
    assert_eq!(store.appended.lock().unwrap().len(), 2);

    let (_, _, router) = app(FakeStore {
        reject_duplicates: true,
        ..Default::default()
    });
    let (s, h, b) = send(
        &router,
        write_req(encode(vec![series(&[("__name__", "m")], &[(1, 1.0)])])),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(!h.contains_key("retry-after"));
    assert!(b.contains("duplicate_timestamp=1"), "{b}");
}

/// A `TimeSeries` carrying one (empty) native histogram, field 4, beside a float sample.
fn with_histogram() -> Vec<u8> {
    let mut ts = series(&[("__name__", "h")], &[(5, 2.5)]).encode_to_vec();
    ts.extend_from_slice(&[0x22, 0x00]);
    let mut req = vec![0x0a];
    prost::encoding::encode_varint(ts.len() as u64, &mut req);
    req.extend_from_slice(&ts);
    snappy(&req)
}

#[tokio::test]
async fn histograms_are_400_after_storing_floats() {
    let (_, store, router) = app(FakeStore::default());
    let (s, _, b) = send(&router, write_req(with_histogram())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.contains("native histograms are not supported"), "{b}");
    assert!(
        b.contains("float samples of this request were stored"),
        "{b}"
    );
    let got = store.appended.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, vec![Sample { t: 5, v: 2.5 }]);
}

#[tokio::test]
async fn flush_answers_prometheus_json() {
    let (_, _, router) = app(FakeStore::default());
    let req = Request::post("/api/v1/admin/tsdb/flush")
        .body(Body::empty())
        .unwrap();
    let (s, _, b) = send(&router, req).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&b).unwrap(),
        serde_json::json!({"status": "success"})
    );

    let (_, _, router) = app(FakeStore {
        fail_flush: true,
        ..Default::default()
    });
    let req = Request::post("/api/v1/admin/tsdb/flush")
        .body(Body::empty())
        .unwrap();
    let (s, _, b) = send(&router, req).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "internal");
    assert!(v["error"].as_str().unwrap().contains("disk on fire"));
}

#[tokio::test]
async fn metrics_include_storage_and_http() {
    let (_, _, router) = app(FakeStore::default());
    send(
        &router,
        write_req(encode(vec![series(&[("__name__", "up")], &[(1, 1.0)])])),
    )
    .await;
    send(&router, get("/nope")).await;
    let (s, h, b) = send(&router, get("/metrics")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        h.get("content-type").unwrap(),
        crate::self_metrics::CONTENT_TYPE
    );
    assert!(b.contains("pharos_tsdb_head_series 1\n"), "{b}");
    assert!(
        b.contains("pharos_http_requests_total{handler=\"/api/v1/write\",code=\"204\"} 1"),
        "{b}"
    );
    assert!(
        b.contains("pharos_http_requests_total{handler=\"other\",code=\"404\"} 1"),
        "{b}"
    );
}
