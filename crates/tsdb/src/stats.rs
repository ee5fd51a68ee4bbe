//! Self-metrics and cardinality reports of the database.

/// A point-in-time copy of the database's counters and gauges, rendered by the server
/// as `pharos_tsdb_*` series.
#[derive(Clone, Debug, Default)]
pub struct DbStats {
    pub head_series: u64,
    pub head_chunks: u64,
    pub head_min_time_ms: i64,
    pub head_max_time_ms: i64,
    pub head_samples_appended_total: u64,
    pub head_out_of_order_samples_appended_total: u64,
    pub head_series_created_total: u64,
    pub head_series_removed_total: u64,
    pub exemplars_appended_total: u64,
    pub exemplars_in_storage: u64,
    /// Refusals per [`crate::RejectReason`], in `RejectReason::ALL` order.
    pub samples_rejected_total: [u64; 8],
    pub head_memory_bytes: u64,
    pub symbols: u64,
    pub blocks_loaded: u64,
    pub blocks_bytes: u64,
    pub lowest_timestamp_ms: i64,
    pub compactions_total: u64,
    pub compactions_failed_total: u64,
    pub head_truncations_total: u64,
    pub retention_deletions_time_total: u64,
    pub retention_deletions_size_total: u64,
    pub wal_segment_current: u64,
    pub wal_bytes_written_total: u64,
    pub wal_fsyncs_total: u64,
    pub wal_corruptions_total: u64,
    pub wal_checkpoints_total: u64,
    pub wal_replay_seconds: f64,
}

/// Series counts by metric and label, as `/api/v1/status/tsdb` and `pharos tsdb analyze`
/// report them. Each list is sorted by count descending and cut to the requested top N.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CardinalityReport {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    pub series_count_by_metric_name: Vec<(String, u64)>,
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}
