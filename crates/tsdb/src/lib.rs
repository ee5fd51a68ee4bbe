//! The metrics time-series database.
//!
//! It owns everything between "a batch of samples was accepted" and "these samples are on
//! disk and can be read back": the write-ahead log, the in-memory head, chunk encodings,
//! immutable blocks, compaction and retention. It must not know about wire formats, HTTP
//! or PromQL: input arrives as a [`pharos_model::WriteBatch`], output leaves through the
//! [`pharos_model::Queryable`] read traits.
//!
//! | module | job |
//! |---|---|
//! | `chunk` | sample encodings: Gorilla XOR for the head, packed columns for blocks |
//! | `index` | postings lists and matcher evaluation shared by head and blocks |
//! | `symbols` | interned, reference-counted label strings of the head |
//! | `head*` | in-memory series: append, sealed-chunk spill file, read, GC |
//! | `wal` | segmented, checksummed write-ahead log, checkpoints, replay |
//! | `block*` | immutable on-disk blocks: writer, mmap reader |
//! | `compact` | block cutting, merging and retention |
//! | `querier` | merged streaming reads across head and blocks |
//! | `db` | wiring: open/replay, append, flush, background maintenance |
//!
//! Write path: `Db::append` → WAL record (written before the call returns) → head series
//! (open XOR chunk; sealed chunks spill to the head chunk file) → block cut once the head
//! spans more than a block → compaction merges blocks → retention deletes old blocks.
//!
//! Read path: `Db::querier(mint, maxt)` → per source (blocks overlapping the range, head)
//! postings for the matchers → series sorted by labels → samples decoded lazily per chunk
//! and merged across sources.

pub mod chunk;
pub mod error;
pub mod options;
pub mod outcome;
pub mod stats;

pub use error::{Result, TsdbError};
pub use options::{FsyncPolicy, Limits, Options, DAY_MS, HOUR_MS, MINUTE_MS};
pub use outcome::{AppendOutcome, RejectReason};
pub use stats::{CardinalityReport, DbStats};
pub mod db;
pub use db::Db;
pub mod block;
pub mod compact;
#[cfg(test)]
mod db_tests;
pub mod encoding;
pub mod head;
pub mod index;
pub mod querier;
pub mod symbols;
pub mod wal;
