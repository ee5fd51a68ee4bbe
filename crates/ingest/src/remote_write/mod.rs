//! Prometheus remote_write v1: protobuf `WriteRequest` in a snappy block.
//!
//! A receiver calls [`decompress_snappy`] on the HTTP body, then [`decode_write_request`]
//! on the result; any error rejects the whole request (HTTP 400) with the error's message.

mod decode;
pub mod proto;

pub use decode::{
    decode_write_request, decompress_snappy, DecodedRequest, RemoteWriteError,
    DEFAULT_MAX_DECOMPRESSED_BYTES,
};
