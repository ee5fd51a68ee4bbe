//! Decoders and receivers that turn wire formats into model types.
//!
//! This crate owns the ingest wire formats: it parses and validates what senders push
//! and hands the result on as `pharos_model` types (a borrowed
//! [`WriteBatch`](pharos_model::WriteBatch) for writes). It must not touch storage
//! internals (it never sees heads, WALs or blocks, only the model types storage accepts)
//! nor HTTP routing (the server crate maps endpoints and status codes onto these
//! decoders), so each decoder can be tested and fuzzed from plain bytes.
//!
//! | module | job |
//! |---|---|
//! | [`exposition`] | Scrape bodies in the Prometheus text format 0.0.4 and OpenMetrics 1.0: `Accept`/`Content-Type` negotiation, gzip with a size limit, a borrowing streaming parser, and an owned conversion to labels, samples, exemplars and family metadata |
//! | [`otlp`] | OTLP metrics: protobuf and OTLP/JSON `ExportMetricsServiceRequest` decoding, translation to Prometheus series (names, units, resources, every data type, delta-to-cumulative), partial-success responses |
//! | [`remote_write`] | Prometheus remote_write v1: snappy block decompression with a size limit, zero-copy `WriteRequest` decoding and validation |
//! | [`remote_write::proto`] | prost declarations of the remote_write v1 messages, for senders and tests |
//! | [`scrape`] | The scrape core: `scrape_configs` with Prometheus's defaults and validation, target labels and file_sd, one scrape of a target (HTTP, limits, labels, report series, staleness markers), and per-target scrape tasks |
//! | [`relabel`] | Prometheus `relabel_configs` / `metric_relabel_configs`: YAML config with Prometheus's defaults and validation, every action, reserved-label helpers |

pub mod exposition;
pub mod otlp;
pub mod relabel;
pub mod remote_write;
pub mod scrape;
