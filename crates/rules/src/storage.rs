//! What rules read from and write to: a query function (an engine over a
//! [`Queryable`]), an [`Appendable`] for rule outputs, and [`MemStore`], a small
//! in-memory series store that is both, used by the `test rules` runner.

use pharos_model::{
    LabelRef, Labels, Matcher, Querier, Queryable, Sample, SeriesSet, StorageError, VecSampleIter,
    WriteBatch,
};
use pharos_promql::{Cancel, Engine, InstantSample, QueryError, QueryOptions, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Evaluates an instant query for a rule; scalars come back as one sample without labels.
pub trait QueryFunc: Send + Sync {
    fn query(&self, expr: &str, ts_ms: i64) -> Result<Vec<InstantSample>, QueryError>;
}

/// [`QueryFunc`] over the PromQL engine, as Prometheus's `EngineQueryFunc`.
pub struct EngineQueryFunc {
    pub engine: Arc<Engine>,
    pub storage: Arc<dyn Queryable>,
}

impl QueryFunc for EngineQueryFunc {
    fn query(&self, expr: &str, ts_ms: i64) -> Result<Vec<InstantSample>, QueryError> {
        let res = self.engine.instant_query(
            self.storage.as_ref(),
            expr,
            ts_ms,
            &QueryOptions::default(),
            &Cancel::new(),
        )?;
        match res.value {
            Value::Vector(v) => Ok(v),
            Value::Scalar { t, v } => Ok(vec![InstantSample {
                labels: Labels::empty(),
                t,
                v,
            }]),
            _ => Err(QueryError::Execution(
                "rule result is not a vector or scalar".into(),
            )),
        }
    }
}

/// Where rule outputs go (the TSDB in the server). One call per rule evaluation.
pub trait Appendable: Send + Sync {
    fn append(&self, batch: &WriteBatch<'_>) -> Result<(), String>;
}

/// Builds a batch from owned series, one sample each.
pub(crate) fn append_samples(
    app: &dyn Appendable,
    samples: &[(Labels, i64, f64)],
) -> Result<(), String> {
    if samples.is_empty() {
        return Ok(());
    }
    let mut batch = WriteBatch::default();
    for (labels, t, v) in samples {
        let refs: Vec<LabelRef<'_>> = labels
            .iter()
            .filter(|l| !l.value.is_empty())
            .map(|l| LabelRef {
                name: &l.name,
                value: &l.value,
            })
            .collect();
        batch.push_series(&refs, &[Sample { t: *t, v: *v }]);
    }
    app.append(&batch)
}

/// Series kept in memory, sorted by labels, each with samples in time order. Appends
/// follow the TSDB's rules for one series: an older timestamp is out of order, the
/// same timestamp with another value is a duplicate.
#[derive(Default)]
pub struct MemStore {
    series: RwLock<BTreeMap<Labels, Vec<Sample>>>,
}

impl MemStore {
    pub fn new() -> Self {
        MemStore::default()
    }

    /// Adds one sample; see the type's docs for what is refused.
    pub fn add(&self, labels: Labels, s: Sample) -> Result<(), String> {
        let mut map = self.series.write().unwrap_or_else(|e| e.into_inner());
        let samples = map.entry(labels).or_default();
        match samples.last() {
            Some(last) if last.t > s.t => Err("out of order sample".into()),
            Some(last) if last.t == s.t => {
                if last.v.to_bits() == s.v.to_bits() {
                    Ok(())
                } else {
                    Err("duplicate sample for timestamp".into())
                }
            }
            _ => {
                samples.push(s);
                Ok(())
            }
        }
    }

    /// Number of series held.
    pub fn len(&self) -> usize {
        self.series.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Appendable for MemStore {
    fn append(&self, batch: &WriteBatch<'_>) -> Result<(), String> {
        let mut first_err = None;
        for s in &batch.series {
            let labels = Labels::from_pairs(
                batch
                    .series_labels(s)
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string())),
            );
            for smpl in batch.series_samples(s) {
                if let Err(e) = self.add(labels.clone(), *smpl) {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Queryable for MemStore {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        // A snapshot keeps the querier consistent while rules append.
        let map = self.series.read().unwrap_or_else(|e| e.into_inner());
        let series = map
            .iter()
            .filter_map(|(l, s)| {
                let lo = s.partition_point(|x| x.t < mint);
                let hi = s.partition_point(|x| x.t <= maxt);
                (lo < hi).then(|| (l.clone(), s[lo..hi].to_vec()))
            })
            .collect();
        Ok(Box::new(MemQuerier { series }))
    }
}

struct MemQuerier {
    series: Vec<(Labels, Vec<Sample>)>,
}

impl MemQuerier {
    fn matching<'a>(
        &'a self,
        matchers: &'a [Matcher],
    ) -> impl Iterator<Item = &'a (Labels, Vec<Sample>)> + 'a {
        self.series.iter().filter(move |(l, _)| {
            matchers
                .iter()
                .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
        })
    }
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<SeriesSet, StorageError> {
        let out: Vec<_> = self
            .matching(matchers)
            .map(|(l, s)| {
                Ok(pharos_model::Series {
                    labels: l.clone(),
                    samples: Box::new(VecSampleIter::new(s.clone())),
                })
            })
            .collect();
        Ok(Box::new(out.into_iter()))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = self
            .matching(matchers)
            .flat_map(|(l, _)| l.iter().map(|x| x.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut values: Vec<String> = self
            .matching(matchers)
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }

    fn exemplars(
        &self,
        _matchers: &[Matcher],
    ) -> Result<Vec<(Labels, Vec<pharos_model::Exemplar>)>, StorageError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_selects() {
        let st = MemStore::new();
        let l = Labels::from_pairs([("__name__", "up")]);
        st.add(l.clone(), Sample { t: 1, v: 1.0 }).unwrap();
        st.add(l.clone(), Sample { t: 2, v: 2.0 }).unwrap();
        assert!(st.add(l.clone(), Sample { t: 1, v: 3.0 }).is_err());
        assert!(st.add(l.clone(), Sample { t: 2, v: 3.0 }).is_err());
        let q = st.querier(2, 10).unwrap();
        let mut set = q.select(&[Matcher::equal("__name__", "up")]).unwrap();
        let mut s = set.next().unwrap().unwrap();
        assert_eq!(s.samples.next_sample(), Some(Sample { t: 2, v: 2.0 }));
        assert!(s.samples.next_sample().is_none());
    }
}
