//! OTLP/gRPC: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export` over
//! tonic's HTTP/2 server, gzip-compressed requests accepted.
//!
//! The service and its codec are written here rather than generated: the request
//! arrives as raw bytes and is decoded by the same decoder as OTLP/HTTP, so that an
//! undecodable message is INVALID_ARGUMENT (tonic's prost codec would say INTERNAL),
//! and readiness and the write slot are checked before the message is even decoded.
//!
//! Status codes follow what OTLP exporters act on: INVALID_ARGUMENT for data that must
//! not be resent; UNAVAILABLE (retried) while not ready, with every write slot taken,
//! or on a storage failure; RESOURCE_EXHAUSTED when a series limit refused samples or
//! the message exceeds the size limit. Rejected points of a stored request are reported
//! in the response's `partial_success`.

use crate::http::AppState;
use crate::otlp::{export, Exported};
use crate::self_metrics::{OtlpOutcome, OtlpProtocol};
use bytes::Buf as _;
use pharos_ingest::otlp::{decode_request_protobuf, ExportMetricsServiceResponse};
use pharos_tsdb::TsdbError;
use prost::Message as _;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, BoxFuture, Bytes, Service};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

const SERVICE: &str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

const NOT_READY: &str =
    "Pharos is not ready: the write-ahead log is being replayed or the server is shutting down";

/// Serves the metrics service on `listener` until `stop` turns true, then lets the
/// calls in flight finish.
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(MetricsService::new(state))
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}

/// The `MetricsService` gRPC service.
#[derive(Clone)]
pub(crate) struct MetricsService {
    state: Arc<AppState>,
}

impl MetricsService {
    pub(crate) fn new(state: Arc<AppState>) -> Self {
        MetricsService { state }
    }

    /// Readiness and a write slot: checked before the body is read, so that a flood of
    /// calls costs no memory.
    fn admit(&self) -> Result<OwnedSemaphorePermit, Status> {
        let metrics = &self.state.otlp.metrics;
        if !self.state.is_ready() {
            metrics.request(OtlpProtocol::Grpc, OtlpOutcome::NotReady);
            return Err(Status::unavailable(NOT_READY));
        }
        self.state
            .write_permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                metrics.request(OtlpProtocol::Grpc, OtlpOutcome::Throttled);
                Status::unavailable(format!(
                    "too many concurrent write requests (server.max_inflight_writes = {}); retry later",
                    self.state.settings.max_inflight_writes
                ))
            })
    }

    /// Decodes, translates and stores one `ExportMetricsServiceRequest` message.
    pub(crate) async fn export(
        &self,
        message: Bytes,
        permit: OwnedSemaphorePermit,
    ) -> Result<ExportMetricsServiceResponse, Status> {
        let state = self.state.clone();
        let Some(store) = state.store() else {
            state
                .otlp
                .metrics
                .request(OtlpProtocol::Grpc, OtlpOutcome::NotReady);
            return Err(Status::unavailable(NOT_READY));
        };
        let task_state = state.clone();
        let handled = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let req = decode_request_protobuf(&message).map_err(|e| e.to_string())?;
            Ok::<_, String>(export(
                &task_state.otlp,
                store.as_ref(),
                &req,
                OtlpProtocol::Grpc,
            ))
        })
        .await;
        let metrics = &state.otlp.metrics;
        let exported = match handled {
            Ok(Ok(e)) => e,
            Ok(Err(msg)) => {
                metrics.request(OtlpProtocol::Grpc, OtlpOutcome::Invalid);
                return Err(Status::invalid_argument(msg));
            }
            Err(e) => {
                tracing::error!(error = %e, "OTLP/gRPC task failed");
                metrics.request(OtlpProtocol::Grpc, OtlpOutcome::Failed);
                return Err(Status::internal("internal error while storing the request"));
            }
        };
        match exported {
            Exported::Stored(resp) => Ok(resp),
            Exported::Limited(msg) => Err(Status::resource_exhausted(msg)),
            Exported::Failed(TsdbError::Closed) => Err(Status::unavailable(NOT_READY)),
            Exported::Failed(e) => {
                tracing::error!(error = %e, "storing OTLP samples failed");
                Err(Status::unavailable(format!("storage error: {e}")))
            }
        }
    }
}

impl NamedService for MetricsService {
    const NAME: &'static str = SERVICE;
}

impl Service<http::Request<tonic::body::Body>> for MetricsService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        if req.uri().path() != EXPORT_PATH {
            let status = Status::unimplemented(format!(
                "{} is not served here; this port serves {EXPORT_PATH}",
                req.uri().path()
            ));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let permit = match self.admit() {
            Ok(p) => p,
            Err(status) => return Box::pin(async move { Ok(status.into_http()) }),
        };
        let limit = self.state.settings.max_decompressed_bytes;
        let call = ExportCall {
            service: self.clone(),
            permit: Some(permit),
        };
        Box::pin(async move {
            // The size limit bounds the message both as sent and once decompressed.
            let mut grpc = Grpc::new(ExportCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(limit);
            Ok(grpc.unary(call, req).await)
        })
    }
}

/// One `Export` call, holding the write slot taken for it.
struct ExportCall {
    service: MetricsService,
    permit: Option<OwnedSemaphorePermit>,
}

impl UnaryService<Bytes> for ExportCall {
    type Response = ExportMetricsServiceResponse;
    type Future = BoxFuture<Response<Self::Response>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let service = self.service.clone();
        let permit = self.permit.take();
        Box::pin(async move {
            // tonic calls a unary service once; a second call has no slot to use.
            let permit = permit.ok_or_else(|| Status::internal("export call repeated"))?;
            service
                .export(request.into_inner(), permit)
                .await
                .map(Response::new)
        })
    }
}

/// Passes the request message through as bytes and encodes the response with prost.
struct ExportCodec;

impl Codec for ExportCodec {
    type Encode = ExportMetricsServiceResponse;
    type Decode = Bytes;
    type Encoder = ResponseEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = ExportMetricsServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the response: {e}")))
    }
}

struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}
