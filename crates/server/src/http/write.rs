//! `POST /api/v1/write`: the Prometheus remote_write v1 receiver.
//!
//! Status codes follow what Prometheus senders act on: 204 stored; 400 the data is wrong
//! and must not be retried; 429 back off and retry (concurrency or series limits); 413
//! too big; 5xx retry later.

use super::{not_ready, plain, retry_after, AppState, Store};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pharos_ingest::remote_write::{decode_write_request, decompress_snappy, RemoteWriteError};
use pharos_tsdb::{AppendOutcome, RejectReason, TsdbError};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Seconds a sender is told to wait after hitting a series limit. Limits clear only as
/// series go inactive, so an immediate retry would just be refused again.
pub(crate) const LIMIT_RETRY_AFTER_SECS: u64 = 30;

/// Seconds a sender is told to wait when all write slots are busy.
pub(crate) const BUSY_RETRY_AFTER_SECS: u64 = 1;

pub async fn remote_write(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(store) = st.store() else {
        return not_ready();
    };
    // Refuse before reading the body, so a flood of writes costs no memory.
    let Ok(permit) = st.write_permits.clone().try_acquire_owned() else {
        st.write_metrics.throttled.fetch_add(1, Ordering::Relaxed);
        return retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            BUSY_RETRY_AFTER_SECS,
            format!(
                "too many concurrent write requests (server.max_inflight_writes = {}); retry later",
                st.settings.max_inflight_writes
            ),
        );
    };
    if let Some(resp) = check_headers(&headers) {
        st.write_metrics
            .bad_requests
            .fetch_add(1, Ordering::Relaxed);
        return resp;
    }
    let max = st.settings.max_request_bytes;
    let too_large = || {
        st.write_metrics.too_large.fetch_add(1, Ordering::Relaxed);
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds the limit of {max} bytes (server.max_request_bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large();
    }
    let body = match tokio::time::timeout(
        st.settings.write_timeout,
        axum::body::to_bytes(body, max),
    )
    .await
    {
        Err(_) => {
            return plain(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not received within {:?} (server.write_timeout)",
                    st.settings.write_timeout
                ),
            )
        }
        Ok(Err(e)) => {
            let inner = e.into_inner();
            if inner.is::<http_body_util::LengthLimitError>() {
                return too_large();
            }
            return plain(
                StatusCode::BAD_REQUEST,
                format!("reading request body: {inner}"),
            );
        }
        Ok(Ok(b)) => b,
    };

    let max_decompressed = st.settings.max_decompressed_bytes;
    // Decompression, decoding and the WAL write are CPU and disk work: keep them off the
    // async workers. The permit travels along so the slot stays taken until it is done.
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        ingest(store.as_ref(), &body, max_decompressed)
    })
    .await;
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "remote_write task failed");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while storing the request",
            );
        }
    };
    match result {
        Ingested::Stored {
            outcome,
            histograms,
        } => {
            if histograms > 0 {
                st.write_metrics
                    .histograms_dropped
                    .fetch_add(histograms as u64, Ordering::Relaxed);
            }
            respond(&outcome, histograms)
        }
        Ingested::Invalid(e) => {
            tracing::debug!(error = %e, "remote_write request refused");
            if matches!(e, RemoteWriteError::DecompressedTooLarge { .. }) {
                st.write_metrics.too_large.fetch_add(1, Ordering::Relaxed);
                return plain(StatusCode::PAYLOAD_TOO_LARGE, e.to_string());
            }
            st.write_metrics
                .bad_requests
                .fetch_add(1, Ordering::Relaxed);
            plain(StatusCode::BAD_REQUEST, e.to_string())
        }
        Ingested::Failed(TsdbError::Closed) => not_ready(),
        Ingested::Failed(e) => {
            tracing::error!(error = %e, "storing remote_write samples failed");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("storage error: {e}"),
            )
        }
    }
}

/// Refuses encodings and protocol versions this receiver cannot read, before the body.
fn check_headers(headers: &HeaderMap) -> Option<Response> {
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        let ok = enc
            .to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("snappy"));
        if !ok {
            return Some(plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported Content-Encoding {:?}: remote_write bodies must be snappy-compressed",
                    String::from_utf8_lossy(enc.as_bytes())
                ),
            ));
        }
    }
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        // Remote write 2.0 shares the path; decoding its messages as v1 would misread them.
        if ct
            .to_ascii_lowercase()
            .contains("io.prometheus.write.v2.request")
        {
            return Some(plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "remote write 2.0 (io.prometheus.write.v2.Request) is not supported; send remote write 1.0 (prometheus.WriteRequest)",
            ));
        }
    }
    None
}

enum Ingested {
    Stored {
        outcome: AppendOutcome,
        histograms: usize,
    },
    Invalid(RemoteWriteError),
    Failed(TsdbError),
}

fn ingest(store: &dyn Store, body: &[u8], max_decompressed: usize) -> Ingested {
    let buf = match decompress_snappy(body, max_decompressed) {
        Ok(b) => b,
        Err(e) => return Ingested::Invalid(e),
    };
    let req = match decode_write_request(&buf) {
        Ok(r) => r,
        Err(e) => return Ingested::Invalid(e),
    };
    let outcome = if req.batch.series.is_empty() {
        AppendOutcome::default()
    } else {
        match store.append(&req.batch) {
            Ok(o) => o,
            Err(e) => return Ingested::Failed(e),
        }
    };
    Ingested::Stored {
        outcome,
        histograms: req.histograms,
    }
}

/// Exemplars the storage drops do not fail the request, as in Prometheus: the samples
/// they ride on were stored, and a retry could not place them either.
fn is_sample_refusal(r: RejectReason) -> bool {
    r != RejectReason::ExemplarOutOfOrder
}

/// Samples the storage refused (dropped exemplars aside), and the refusals in words:
/// counts by reason and the first one. The OTLP receivers report them the same way.
pub(crate) fn refusals(outcome: &AppendOutcome) -> (u64, String) {
    let refused: u64 = RejectReason::ALL
        .iter()
        .filter(|r| is_sample_refusal(**r))
        .map(|r| outcome.rejected[r.index()])
        .sum();
    let mut msg = format!(
        "{refused} sample(s) refused, {} stored:",
        outcome.samples_appended
    );
    for r in RejectReason::ALL.iter().filter(|r| is_sample_refusal(**r)) {
        let n = outcome.rejected[r.index()];
        if n > 0 {
            let _ = write!(msg, " {}={n}", r.as_str());
        }
    }
    if let Some(first) = &outcome.first_rejection {
        let _ = write!(msg, "; first: {first}");
    }
    (refused, msg)
}

fn respond(outcome: &AppendOutcome, histograms: usize) -> Response {
    let (refused, mut msg) = refusals(outcome);
    let histogram_note = (histograms > 0).then(|| {
        format!(
            "native histograms are not supported: {histograms} histogram sample(s) dropped; the float samples of this request were stored"
        )
    });
    if refused == 0 {
        return match histogram_note {
            Some(note) => plain(StatusCode::BAD_REQUEST, note),
            None => StatusCode::NO_CONTENT.into_response(),
        };
    }
    if let Some(note) = histogram_note {
        let _ = write!(msg, "; {note}");
    }
    if outcome.any_limit_hit() {
        retry_after(StatusCode::TOO_MANY_REQUESTS, LIMIT_RETRY_AFTER_SECS, msg)
    } else {
        plain(StatusCode::BAD_REQUEST, msg)
    }
}
