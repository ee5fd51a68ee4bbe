//! OTLP metrics: decoding `ExportMetricsServiceRequest` bodies (binary protobuf and
//! OTLP/JSON) and translating them into Prometheus series.
//!
//! A receiver decodes the body with [`decode_request_protobuf`] or
//! [`decode_request_json`] (a decode error rejects the whole request), hands the request
//! to its [`Translator`], stores `translation.batch.as_write_batch()`, and answers with
//! [`Translation::response`], whose partial-success part reports the data points that
//! were rejected and why, as the OTLP specification asks.
//!
//! The mapping follows the OpenTelemetry ↔ Prometheus compatibility specification and,
//! where that leaves room, what Prometheus's own OTLP receiver does under its default
//! `UnderscoreEscapingWithSuffixes` strategy:
//!
//! | OTLP | Prometheus |
//! |---|---|
//! | gauge | gauge |
//! | sum, monotonic, cumulative | counter, `_total` |
//! | sum, monotonic, delta | counter, summed per series ([`delta`] module) |
//! | sum, non-monotonic, cumulative | gauge |
//! | sum, non-monotonic, delta | rejected (the spec drops it) |
//! | histogram, cumulative or delta | `_bucket{le}` (cumulative, with `+Inf`), `_sum` when set, `_count` |
//! | exponential histogram | classic buckets, see the [`hist`] module |
//! | summary | `{quantile}` series, `_sum`, `_count` |
//!
//! Names follow [`naming::metric_name`] (unit and type suffixes) and [`naming::label_name`].
//! Every series carries `job` (`service.namespace/service.name`, or `service.name`),
//! `instance` (`service.instance.id`) and `otel_scope_name`/`otel_scope_version`; these
//! override point attributes of the same name. Other resource attributes go to a
//! `target_info` series with `job` and `instance`, valued 1, written at each distinct
//! timestamp of that resource's samples so that joins find it wherever its metrics are.
//! Points flagged `NoRecordedValue` become staleness markers for every series they would
//! have written. Timestamps are truncated from nanoseconds to milliseconds; a point
//! without one takes the receive time. Exemplars of monotonic sums and histograms keep
//! their trace and span ids as `trace_id`/`span_id` labels and are attached to the
//! counter, or to the `_bucket` series whose bucket holds their value.

mod batch;
pub mod delta;
pub mod hist;
mod json;
pub mod naming;
mod translate;

pub use batch::{OwnedBatch, OwnedSeries};
pub use json::JsonError;
pub use translate::{Translation, Translator, TranslatorConfig};

/// Every generated OTLP type (`common::v1`, `metrics::v1`, `resource::v1`, …).
pub use opentelemetry_proto::tonic as proto;
/// The OTLP message types, for receivers and for senders in tests.
pub use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};

use prost::Message;

/// Why a request body could not be decoded; receivers answer 400 with its message.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("malformed OTLP protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),

    #[error("malformed OTLP/JSON{}: {}", at(&.0.path), .0.message)]
    Json(JsonError),
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at {path}")
    }
}

/// Decodes a binary protobuf `ExportMetricsServiceRequest`. prost bounds nesting and
/// checks every length against the bytes left, so no body panics or over-allocates.
pub fn decode_request_protobuf(bytes: &[u8]) -> Result<ExportMetricsServiceRequest, OtlpError> {
    Ok(ExportMetricsServiceRequest::decode(bytes)?)
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest`: hex trace and span ids, 64-bit
/// integers as strings or numbers, enums as integers or names, camelCase keys (and the
/// snake_case ones the Collector also reads), unknown keys ignored.
pub fn decode_request_json(bytes: &[u8]) -> Result<ExportMetricsServiceRequest, OtlpError> {
    json::decode(bytes).map_err(OtlpError::Json)
}

/// A response as binary protobuf.
pub fn encode_response_protobuf(resp: &ExportMetricsServiceResponse) -> Vec<u8> {
    resp.encode_to_vec()
}

/// A response as OTLP/JSON: `{}` on full success, otherwise
/// `{"partialSuccess":{"rejectedDataPoints":"3","errorMessage":"…"}}` (int64 as a
/// string, as the JSON mapping writes it).
pub fn encode_response_json(resp: &ExportMetricsServiceResponse) -> Vec<u8> {
    let value = match &resp.partial_success {
        None => serde_json::json!({}),
        Some(p) => serde_json::json!({
            "partialSuccess": {
                "rejectedDataPoints": p.rejected_data_points.to_string(),
                "errorMessage": p.error_message,
            }
        }),
    };
    value.to_string().into_bytes()
}

#[cfg(test)]
mod tests;
