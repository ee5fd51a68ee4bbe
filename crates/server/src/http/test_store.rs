//! An in-memory [`Queryable`] for handler tests: series, samples and exemplars held in
//! vectors, read with the trait's semantics (sorted series, range-filtered samples, a
//! series without samples in range skipped).

use pharos_model::{
    Exemplar, Labels, Matcher, Querier, Queryable, Sample, Series, SeriesSet, StorageError,
    VecSampleIter,
};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default)]
pub struct MemSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub exemplars: Vec<Exemplar>,
}

#[derive(Default)]
pub struct MemQueryable {
    pub series: Mutex<Vec<MemSeries>>,
    /// When set, every read fails with this message.
    pub fail: Option<String>,
}

impl MemQueryable {
    pub fn add(&self, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
        self.add_with_exemplars(labels, samples, vec![]);
    }

    pub fn add_with_exemplars(
        &self,
        labels: &[(&str, &str)],
        samples: &[(i64, f64)],
        exemplars: Vec<Exemplar>,
    ) {
        let mut all = self.series.lock().unwrap();
        all.push(MemSeries {
            labels: Labels::from_pairs(labels.iter().copied()),
            samples: samples.iter().map(|&(t, v)| Sample { t, v }).collect(),
            exemplars,
        });
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
}

fn matches(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

struct MemQuerier {
    series: Vec<MemSeries>,
    mint: i64,
    maxt: i64,
}

impl Queryable for MemQueryable {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        if let Some(msg) = &self.fail {
            return Err(StorageError::Other(msg.clone()));
        }
        Ok(Box::new(MemQuerier {
            series: self.series.lock().unwrap().clone(),
            mint,
            maxt,
        }))
    }
}

impl MemQuerier {
    fn in_range(&self, s: &MemSeries) -> Vec<Sample> {
        s.samples
            .iter()
            .copied()
            .filter(|x| x.t >= self.mint && x.t <= self.maxt)
            .collect()
    }

    fn selected<'a>(&'a self, matchers: &'a [Matcher]) -> impl Iterator<Item = &'a MemSeries> {
        self.series
            .iter()
            .filter(move |s| matches(&s.labels, matchers) && !self.in_range(s).is_empty())
    }
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<SeriesSet, StorageError> {
        let out: Vec<Result<Series, StorageError>> = self
            .selected(matchers)
            .map(|s| {
                Ok(Series {
                    labels: s.labels.clone(),
                    samples: Box::new(VecSampleIter::new(self.in_range(s))),
                })
            })
            .collect();
        Ok(Box::new(out.into_iter()))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let names: BTreeSet<String> = self
            .selected(matchers)
            .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
            .collect();
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let values: BTreeSet<String> = self
            .selected(matchers)
            .filter_map(|s| s.labels.get(name).map(str::to_owned))
            .collect();
        Ok(values.into_iter().collect())
    }

    fn exemplars(
        &self,
        matchers: &[Matcher],
    ) -> Result<Vec<(Labels, Vec<Exemplar>)>, StorageError> {
        Ok(self
            .series
            .iter()
            .filter(|s| matches(&s.labels, matchers))
            .map(|s| {
                let ex: Vec<Exemplar> = s
                    .exemplars
                    .iter()
                    .filter(|e| e.t >= self.mint && e.t <= self.maxt)
                    .cloned()
                    .collect();
                (s.labels.clone(), ex)
            })
            .filter(|(_, ex)| !ex.is_empty())
            .collect())
    }
}

impl MemQueryable {
    /// A cardinality report over the held series, shaped like the database's.
    pub fn cardinality(&self, limit: usize) -> pharos_tsdb::CardinalityReport {
        use std::collections::HashMap;
        let all = self.series.lock().unwrap();
        let mut by_metric: HashMap<String, u64> = HashMap::new();
        let mut by_pair: HashMap<String, u64> = HashMap::new();
        let mut values: HashMap<String, BTreeSet<String>> = HashMap::new();
        for s in all.iter() {
            if let Some(n) = s.labels.metric_name() {
                *by_metric.entry(n.to_owned()).or_default() += 1;
            }
            for l in s.labels.iter() {
                *by_pair
                    .entry(format!("{}={}", l.name, l.value))
                    .or_default() += 1;
                values
                    .entry(l.name.clone())
                    .or_default()
                    .insert(l.value.clone());
            }
        }
        let top = |m: HashMap<String, u64>| {
            let mut v: Vec<(String, u64)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(limit);
            v
        };
        pharos_tsdb::CardinalityReport {
            num_series: all.len() as u64,
            num_label_pairs: by_pair.len() as u64,
            min_time_ms: 0,
            max_time_ms: 0,
            series_count_by_metric_name: top(by_metric),
            label_value_count_by_label_name: top(values
                .iter()
                .map(|(k, v)| (k.clone(), v.len() as u64))
                .collect()),
            memory_in_bytes_by_label_name: top(values
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(|s| s.len() as u64).sum()))
                .collect()),
            series_count_by_label_value_pair: top(by_pair),
        }
    }
}

/// What the fake engine was asked.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineCall {
    pub query: String,
    /// `(time, time, 0)` for instant queries, `(start, end, step)` for range queries.
    pub range: (i64, i64, i64),
    pub lookback_delta_ms: Option<i64>,
    pub timeout: Option<std::time::Duration>,
}

/// An engine that records its calls and answers with a preset result; with `hang`, it
/// waits for cancellation instead and reports when it saw it.
#[derive(Default)]
pub struct FakeEngine {
    pub calls: Mutex<Vec<EngineCall>>,
    pub reply: Mutex<Option<Result<pharos_promql::QueryResult, pharos_promql::QueryError>>>,
    pub hang: bool,
    pub saw_cancel: std::sync::atomic::AtomicBool,
}

impl FakeEngine {
    pub fn replying(
        reply: Result<pharos_promql::QueryResult, pharos_promql::QueryError>,
    ) -> Arc<Self> {
        Arc::new(FakeEngine {
            reply: Mutex::new(Some(reply)),
            ..Default::default()
        })
    }

    fn answer(
        &self,
        call: EngineCall,
        cancel: &pharos_promql::Cancel,
    ) -> Result<pharos_promql::QueryResult, pharos_promql::QueryError> {
        self.calls.lock().unwrap().push(call);
        if self.hang {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !cancel.is_canceled() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            self.saw_cancel
                .store(cancel.is_canceled(), std::sync::atomic::Ordering::SeqCst);
            return Err(pharos_promql::QueryError::Canceled(
                "query execution".into(),
            ));
        }
        self.reply
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| Err(pharos_promql::QueryError::Execution("no reply set".into())))
    }
}

impl super::query_api::QueryEngine for FakeEngine {
    fn instant_query(
        &self,
        _db: &dyn Queryable,
        query: &str,
        time_ms: i64,
        opts: &pharos_promql::QueryOptions,
        cancel: &pharos_promql::Cancel,
    ) -> Result<pharos_promql::QueryResult, pharos_promql::QueryError> {
        self.answer(
            EngineCall {
                query: query.to_owned(),
                range: (time_ms, time_ms, 0),
                lookback_delta_ms: opts.lookback_delta_ms,
                timeout: opts.timeout,
            },
            cancel,
        )
    }

    fn range_query(
        &self,
        _db: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &pharos_promql::QueryOptions,
        cancel: &pharos_promql::Cancel,
    ) -> Result<pharos_promql::QueryResult, pharos_promql::QueryError> {
        self.answer(
            EngineCall {
                query: query.to_owned(),
                range: (start_ms, end_ms, step_ms),
                lookback_delta_ms: opts.lookback_delta_ms,
                timeout: opts.timeout,
            },
            cancel,
        )
    }

    fn format_query(&self, query: &str) -> Result<String, pharos_promql::QueryError> {
        if query.trim().is_empty() {
            return Err(pharos_promql::QueryError::Parse(
                "1:1: parse error: no expression found in input".into(),
            ));
        }
        Ok(query.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}
