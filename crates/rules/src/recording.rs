//! Recording rules: the expression's result, renamed and relabelled, written back.

use crate::error::RuleEvalError;
use crate::storage::QueryFunc;
use pharos_model::{Labels, METRIC_NAME};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct RecordingRule {
    pub name: String,
    pub expr: String,
    /// Labels set on every output series (group labels merged in).
    pub labels: Labels,
}

impl RecordingRule {
    /// Evaluates at `ts`, querying at `ts - query_offset`; returns the series to write.
    pub fn eval(
        &self,
        query: &dyn QueryFunc,
        ts: i64,
        query_offset_ms: i64,
        limit: i64,
    ) -> Result<Vec<(Labels, i64, f64)>, RuleEvalError> {
        let vector = query.query(&self.expr, ts - query_offset_ms)?;
        let mut out: Vec<(Labels, i64, f64)> = Vec::with_capacity(vector.len());
        for s in vector {
            let mut lb: BTreeMap<String, String> = s
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            lb.insert(METRIC_NAME.into(), self.name.clone());
            for l in self.labels.iter() {
                lb.insert(l.name.clone(), l.value.clone());
            }
            lb.retain(|_, v| !v.is_empty());
            out.push((Labels::from_pairs(lb), s.t, s.v));
        }
        let mut sorted: Vec<&Labels> = out.iter().map(|(l, _, _)| l).collect();
        sorted.sort();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(RuleEvalError::DuplicateRecordingLabelSet);
        }
        let n = out.len() as i64;
        if limit > 0 && n > limit {
            return Err(RuleEvalError::Limit {
                limit,
                got: n,
                what: "series",
            });
        }
        Ok(out)
    }
}
