//! What an append did: how much was stored, and every refusal counted by reason.

/// Why a sample, exemplar or series was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Older than the out-of-order window allows.
    TooOld,
    /// Same timestamp as a stored sample, different value.
    DuplicateTimestamp,
    /// The head holds the maximum number of active series.
    MaxSeries,
    /// The metric name holds the maximum number of active series.
    MaxSeriesPerMetric,
    /// More labels than allowed on one series.
    MaxLabelsPerSeries,
    /// A label name longer than allowed.
    LabelNameTooLong,
    /// A label value longer than allowed.
    LabelValueTooLong,
    /// An exemplar older than the newest one of its series.
    ExemplarOutOfOrder,
}

impl RejectReason {
    pub const ALL: [RejectReason; 8] = [
        RejectReason::TooOld,
        RejectReason::DuplicateTimestamp,
        RejectReason::MaxSeries,
        RejectReason::MaxSeriesPerMetric,
        RejectReason::MaxLabelsPerSeries,
        RejectReason::LabelNameTooLong,
        RejectReason::LabelValueTooLong,
        RejectReason::ExemplarOutOfOrder,
    ];

    /// The `reason` label value of `pharos_tsdb_samples_rejected_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::TooOld => "too_old",
            RejectReason::DuplicateTimestamp => "duplicate_timestamp",
            RejectReason::MaxSeries => "max_series",
            RejectReason::MaxSeriesPerMetric => "max_series_per_metric",
            RejectReason::MaxLabelsPerSeries => "max_labels_per_series",
            RejectReason::LabelNameTooLong => "label_name_too_long",
            RejectReason::LabelValueTooLong => "label_value_too_long",
            RejectReason::ExemplarOutOfOrder => "exemplar_out_of_order",
        }
    }

    /// Limits are the server saying "not now / not this much": the sender may back off.
    /// The others are the data's fault and must not be retried.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            RejectReason::MaxSeries
                | RejectReason::MaxSeriesPerMetric
                | RejectReason::MaxLabelsPerSeries
                | RejectReason::LabelNameTooLong
                | RejectReason::LabelValueTooLong
        )
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Debug, Default)]
pub struct AppendOutcome {
    pub samples_appended: u64,
    pub exemplars_appended: u64,
    pub series_created: u64,
    /// Samples (or exemplars, for exemplar reasons) refused, per reason.
    pub rejected: [u64; RejectReason::ALL.len()],
    /// The first refusal, in words, with the series it concerned.
    pub first_rejection: Option<String>,
}

impl AppendOutcome {
    pub fn reject(&mut self, reason: RejectReason, count: u64, detail: impl FnOnce() -> String) {
        self.rejected[reason.index()] += count;
        if self.first_rejection.is_none() {
            self.first_rejection = Some(detail());
        }
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    pub fn any_limit_hit(&self) -> bool {
        RejectReason::ALL
            .iter()
            .any(|r| r.is_limit() && self.rejected[r.index()] > 0)
    }
}
