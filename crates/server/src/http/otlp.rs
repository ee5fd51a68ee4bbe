//! `POST /v1/metrics`: the OTLP/HTTP metrics receiver, on the main port and on the
//! dedicated OTLP/HTTP listener ([`router`]).
//!
//! Answers follow the OTLP/HTTP specification: 200 with an `ExportMetricsServiceResponse`
//! (its `partial_success` set when data points were rejected) in the request's encoding;
//! 400 for a body that cannot be decoded and must not be resent; 413 too big; 415 for
//! a content type or encoding other than protobuf/JSON and gzip; 429 and 503 with
//! `Retry-After` when the sender should come back later. Error bodies are
//! `google.rpc.Status` messages, encoded like the request, as the specification asks.

use super::write::{BUSY_RETRY_AFTER_SECS, LIMIT_RETRY_AFTER_SECS};
use super::{plain, AppState};
use crate::otlp::{export as export_request, Exported};
use crate::self_metrics::{OtlpOutcome, OtlpProtocol};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use pharos_ingest::exposition::{decode_body, BodyError};
use pharos_ingest::otlp::{
    decode_request_json, decode_request_protobuf, encode_response_json, encode_response_protobuf,
};
use pharos_tsdb::TsdbError;
use prost::Message as _;
use std::sync::Arc;
use tonic::Code;

const NOT_READY: &str =
    "Pharos is not ready: the write-ahead log is being replayed or the server is shutting down";

/// The dedicated OTLP/HTTP listener: `/v1/metrics` only.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/metrics", post(export))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> Response {
    plain(
        StatusCode::NOT_FOUND,
        "not found: this port serves OTLP/HTTP metrics at POST /v1/metrics",
    )
}

/// The two encodings OTLP/HTTP defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// From the media type of `Content-Type`, parameters such as `charset` ignored.
    fn of(headers: &HeaderMap) -> Option<Format> {
        let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let media = ct.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Format::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        })
    }
}

/// `google.rpc.Status` without `details`, which nothing here fills.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// An error answer: the HTTP status, and a `google.rpc.Status` body in `format`.
fn status(format: Format, http: StatusCode, code: Code, message: impl Into<String>) -> Response {
    let message = message.into();
    let body = match format {
        Format::Protobuf => RpcStatus {
            code: code as i32,
            message,
        }
        .encode_to_vec(),
        Format::Json => serde_json::json!({ "code": code as i32, "message": message })
            .to_string()
            .into_bytes(),
    };
    (http, [(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

fn with_retry_after(mut resp: Response, secs: u64) -> Response {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// A request refused before it reached the translator.
struct Refusal {
    outcome: OtlpOutcome,
    http: StatusCode,
    code: Code,
    message: String,
}

impl Refusal {
    fn new(outcome: OtlpOutcome, http: StatusCode, code: Code, message: String) -> Self {
        Refusal {
            outcome,
            http,
            code,
            message,
        }
    }

    fn invalid(message: String) -> Self {
        Refusal::new(
            OtlpOutcome::Invalid,
            StatusCode::BAD_REQUEST,
            Code::InvalidArgument,
            message,
        )
    }
}

pub async fn export(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let metrics = &st.otlp.metrics;
    let Some(format) = Format::of(&headers) else {
        metrics.request(OtlpProtocol::Http, OtlpOutcome::Invalid);
        let ct = headers.get(header::CONTENT_TYPE).map_or_else(
            || "none".to_owned(),
            |v| format!("{:?}", String::from_utf8_lossy(v.as_bytes())),
        );
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Type {ct}: OTLP/HTTP bodies are application/x-protobuf or application/json"
            ),
        );
    };
    let refuse = |r: Refusal| {
        metrics.request(OtlpProtocol::Http, r.outcome);
        status(format, r.http, r.code, r.message)
    };
    let Some(store) = st.store() else {
        let r = Refusal::new(
            OtlpOutcome::NotReady,
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Unavailable,
            NOT_READY.to_owned(),
        );
        return with_retry_after(refuse(r), 1);
    };
    // Refuse before reading the body, so a flood of writes costs no memory.
    let Ok(permit) = st.write_permits.clone().try_acquire_owned() else {
        let r = Refusal::new(
            OtlpOutcome::Throttled,
            StatusCode::TOO_MANY_REQUESTS,
            Code::ResourceExhausted,
            format!(
                "too many concurrent write requests (server.max_inflight_writes = {}); retry later",
                st.settings.max_inflight_writes
            ),
        );
        return with_retry_after(refuse(r), BUSY_RETRY_AFTER_SECS);
    };
    let encoding = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => Some(v.to_owned()),
        Some(Err(_)) => {
            return refuse(Refusal::new(
                OtlpOutcome::Invalid,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::InvalidArgument,
                "Content-Encoding is not valid text; send gzip or identity".to_owned(),
            ))
        }
    };
    let body = match read_body(&st, &headers, body).await {
        Ok(b) => b,
        Err(r) => return refuse(r),
    };

    let max_decompressed = st.settings.max_decompressed_bytes;
    let state = st.clone();
    // Decompression, decoding, translation and the WAL write are CPU and disk work: keep
    // them off the async workers. The permit keeps the write slot taken until done.
    let handled = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let raw =
            decode_body(&body, encoding.as_deref(), max_decompressed).map_err(body_refusal)?;
        let decoded = match format {
            Format::Protobuf => decode_request_protobuf(&raw),
            Format::Json => decode_request_json(&raw),
        };
        let req = decoded.map_err(|e| Refusal::invalid(e.to_string()))?;
        Ok(export_request(
            &state.otlp,
            store.as_ref(),
            &req,
            OtlpProtocol::Http,
        ))
    })
    .await;
    let exported = match handled {
        Ok(Ok(e)) => e,
        Ok(Err(r)) => return refuse(r),
        Err(e) => {
            tracing::error!(error = %e, "OTLP/HTTP task failed");
            return refuse(Refusal::new(
                OtlpOutcome::Failed,
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Internal,
                "internal error while storing the request".to_owned(),
            ));
        }
    };
    // From here on `export_request` has counted the request.
    match exported {
        Exported::Stored(resp) => {
            let body = match format {
                Format::Protobuf => encode_response_protobuf(&resp),
                Format::Json => encode_response_json(&resp),
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, format.content_type())],
                body,
            )
                .into_response()
        }
        Exported::Limited(msg) => with_retry_after(
            status(
                format,
                StatusCode::TOO_MANY_REQUESTS,
                Code::ResourceExhausted,
                msg,
            ),
            LIMIT_RETRY_AFTER_SECS,
        ),
        Exported::Failed(TsdbError::Closed) => with_retry_after(
            status(
                format,
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Unavailable,
                NOT_READY,
            ),
            1,
        ),
        Exported::Failed(e) => {
            tracing::error!(error = %e, "storing OTLP samples failed");
            // A storage failure (a full disk, say) may clear; 503 is one OTLP senders retry.
            with_retry_after(
                status(
                    format,
                    StatusCode::SERVICE_UNAVAILABLE,
                    Code::Unavailable,
                    format!("storage error: {e}"),
                ),
                BUSY_RETRY_AFTER_SECS,
            )
        }
    }
}

/// Reads the whole body within `server.write_timeout` and `server.max_request_bytes`.
async fn read_body(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, Refusal> {
    let max = st.settings.max_request_bytes;
    let too_large = || {
        Refusal::new(
            OtlpOutcome::TooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::ResourceExhausted,
            format!("request body exceeds the limit of {max} bytes (server.max_request_bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(st.settings.write_timeout, axum::body::to_bytes(body, max)).await {
        Err(_) => Err(Refusal::new(
            OtlpOutcome::Invalid,
            StatusCode::REQUEST_TIMEOUT,
            Code::DeadlineExceeded,
            format!(
                "request body not received within {:?} (server.write_timeout)",
                st.settings.write_timeout
            ),
        )),
        Ok(Err(e)) => {
            let inner = e.into_inner();
            if inner.is::<http_body_util::LengthLimitError>() {
                Err(too_large())
            } else {
                Err(Refusal::invalid(format!("reading request body: {inner}")))
            }
        }
        Ok(Ok(b)) => Ok(b),
    }
}

fn body_refusal(e: BodyError) -> Refusal {
    match e {
        BodyError::UnsupportedEncoding(_) => Refusal::new(
            OtlpOutcome::Invalid,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::InvalidArgument,
            e.to_string(),
        ),
        BodyError::TooLarge { .. } | BodyError::DecompressedTooLarge { .. } => Refusal::new(
            OtlpOutcome::TooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::ResourceExhausted,
            e.to_string(),
        ),
        BodyError::Gzip(_) => Refusal::invalid(e.to_string()),
    }
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
