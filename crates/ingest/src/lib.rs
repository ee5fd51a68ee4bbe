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
//! | [`remote_write`] | Prometheus remote_write v1: snappy block decompression with a size limit, zero-copy `WriteRequest` decoding and validation |
//! | [`remote_write::proto`] | prost declarations of the remote_write v1 messages, for senders and tests |

pub mod remote_write;
