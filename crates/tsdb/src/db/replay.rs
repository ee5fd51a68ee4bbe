//! Rebuilding the head from the WAL at start.

use crate::head::{AppendMode, Head};
use crate::outcome::RejectReason;
use crate::wal::{self, Record};
use crate::{AppendOutcome, Result, TsdbError};
use pharos_model::{LabelRef, Labels};
use std::collections::HashMap;
use std::path::Path;

/// Rebuilds the head from the WAL.
pub(super) fn replay_into(
    head: &mut Head,
    wal_dir: &Path,
    read_only: bool,
) -> Result<wal::ReplayStats> {
    let mut remap: HashMap<u32, u32> = HashMap::new();
    let mut outcome = AppendOutcome::default();
    let mut failure: Option<TsdbError> = None;
    let stats = wal::replay(wal_dir, read_only, |rec| {
        if failure.is_some() {
            return;
        }
        match rec {
            Record::Series(series) => {
                for (r, labels) in series {
                    let refs: Vec<LabelRef<'_>> = labels
                        .iter()
                        .map(|&(name, value)| LabelRef { name, value })
                        .collect();
                    let actual = match head.lookup(&refs) {
                        Some(existing) => existing,
                        None if head.series(r).is_some() => head.create_series(&refs, None),
                        None => head.create_series(&refs, Some(r)),
                    };
                    remap.insert(r, actual);
                }
            }
            Record::Samples(samples) => {
                for (r, t, v) in samples {
                    let Some(&actual) = remap.get(&r) else {
                        continue;
                    };
                    if let Err(e) = head.append_sample(
                        actual,
                        t,
                        v,
                        AppendMode::Replay,
                        &mut outcome,
                        &String::new,
                    ) {
                        failure = Some(e);
                        return;
                    }
                }
            }
            Record::Exemplars(exemplars) => {
                for (r, t, v, labels) in exemplars {
                    let Some(&actual) = remap.get(&r) else {
                        continue;
                    };
                    head.append_exemplar(actual, t, v, Labels::from_pairs(labels), &mut outcome);
                }
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    // Replay refusals (e.g. a duplicate timestamp with another value) are not new input.
    head.counters.rejected = [0; RejectReason::ALL.len()];
    head.counters.samples_appended = 0;
    head.counters.ooo_appended = 0;
    Ok(stats)
}
