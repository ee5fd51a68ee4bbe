//! Tunables of the database, with Prometheus-like defaults.

use std::time::Duration;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// When the write-ahead log is fsynced. Every policy writes each batch to the OS before
/// the append is acknowledged, so a killed process loses nothing; the policy only decides
/// how much a power loss may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync before acknowledging every append.
    Always,
    /// fsync in the background at this interval.
    Interval(Duration),
    /// Leave flushing to the OS.
    Never,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Active series in the head; 0 means unlimited.
    pub max_series: usize,
    /// Active series sharing one metric name; 0 means unlimited.
    pub max_series_per_metric: usize,
    pub max_labels_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_series: 5_000_000,
            max_series_per_metric: 0,
            max_labels_per_series: 64,
            max_label_name_length: 1024,
            max_label_value_length: 4096,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Blocks older than this (by their newest sample, relative to the newest data) are deleted.
    pub retention_ms: i64,
    /// Oldest blocks are deleted while all blocks together exceed this; 0 means unlimited.
    pub retention_bytes: u64,
    /// Span of the blocks cut from the head; blocks are aligned to multiples of it.
    pub block_span_ms: i64,
    /// How far behind the newest sample of the head a sample may arrive and still be stored.
    pub ooo_window_ms: i64,
    pub wal_segment_bytes: u64,
    pub fsync: FsyncPolicy,
    pub limits: Limits,
    /// Exemplars kept per series (a ring; the oldest is dropped first).
    pub max_exemplars_per_series: usize,
    /// Samples per head chunk before it is sealed and moved out of memory.
    pub samples_per_head_chunk: usize,
    /// Run compaction and retention on a background thread.
    pub background_maintenance: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention_ms: 15 * DAY_MS,
            retention_bytes: 0,
            block_span_ms: 2 * HOUR_MS,
            ooo_window_ms: 10 * MINUTE_MS,
            wal_segment_bytes: 128 << 20,
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            limits: Limits::default(),
            max_exemplars_per_series: 10,
            samples_per_head_chunk: 120,
            background_maintenance: true,
        }
    }
}
