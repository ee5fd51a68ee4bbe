//! Reads across the head and the blocks: series merged by label set, samples merged by
//! time with duplicates (same timestamp from two sources) dropped.

use crate::block::Block;
use crate::head::Head;
use parking_lot::RwLock;
use pharos_model::{
    Exemplar, Labels, Matcher, Querier, Sample, SampleIter, Series, SeriesSet, StorageError,
};
use std::sync::Arc;

pub struct DbQuerier {
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    pub(crate) blocks: Vec<Arc<Block>>,
    pub(crate) head: Arc<RwLock<Head>>,
}

type Source = (Labels, Box<dyn SampleIter>);

impl DbQuerier {
    fn sources(&self, matchers: &[Matcher]) -> Result<Vec<Source>, StorageError> {
        let mut all: Vec<Source> = Vec::new();
        for b in &self.blocks {
            for s in b.select(matchers, self.mint, self.maxt)? {
                let (l, it) = s.into_parts();
                all.push((l, Box::new(it)));
            }
        }
        let head_series = self.head.read().select(matchers, self.mint, self.maxt);
        for s in head_series {
            let (l, it) = s.into_parts();
            all.push((l, Box::new(it)));
        }
        // Stable: for equal label sets, blocks in creation order, then the head.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }
}

/// Groups consecutive equal label sets of a sorted source list into merged series.
pub(crate) fn merge_sorted(sources: Vec<Source>) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    let mut group: Vec<Box<dyn SampleIter>> = Vec::new();
    let mut current: Option<Labels> = None;
    for (labels, it) in sources {
        if current.as_ref() != Some(&labels) {
            if let Some(l) = current.take() {
                out.push(make_series(l, std::mem::take(&mut group)));
            }
            current = Some(labels);
        }
        group.push(it);
    }
    if let Some(l) = current {
        out.push(make_series(l, group));
    }
    out
}

fn make_series(labels: Labels, mut iters: Vec<Box<dyn SampleIter>>) -> Series {
    let samples: Box<dyn SampleIter> = if iters.len() == 1 {
        iters
            .pop()
            .unwrap_or_else(|| Box::new(pharos_model::VecSampleIter::new(Vec::new())))
    } else {
        Box::new(MergeIter {
            heads: vec![None; iters.len()],
            started: false,
            iters,
            err: None,
        })
    };
    Series { labels, samples }
}

/// K-way merge by timestamp; on equal timestamps the earliest source wins.
pub struct MergeIter {
    iters: Vec<Box<dyn SampleIter>>,
    heads: Vec<Option<Sample>>,
    started: bool,
    err: Option<StorageError>,
}

impl SampleIter for MergeIter {
    fn next_sample(&mut self) -> Option<Sample> {
        if !self.started {
            self.started = true;
            for (i, it) in self.iters.iter_mut().enumerate() {
                self.heads[i] = it.next_sample();
            }
        }
        let (idx, best) = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.map(|s| (i, s)))
            .min_by_key(|(i, s)| (s.t, *i))?;
        for i in 0..self.iters.len() {
            if self.heads[i].is_some_and(|s| s.t == best.t) {
                self.heads[i] = self.iters[i].next_sample();
                if self.heads[i].is_none() && self.err.is_none() {
                    if let Some(e) = self.iters[i].error() {
                        self.err = Some(StorageError::Other(e.to_string()));
                    }
                }
            }
        }
        let _ = idx;
        Some(best)
    }

    fn error(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }
}

impl Querier for DbQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<SeriesSet, StorageError> {
        let series = merge_sorted(self.sources(matchers)?);
        Ok(Box::new(series.into_iter().map(Ok)))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut names = std::collections::BTreeSet::new();
        for b in &self.blocks {
            names.extend(b.label_names(matchers)?);
        }
        names.extend(self.head.read().label_names(matchers));
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut values = std::collections::BTreeSet::new();
        for b in &self.blocks {
            values.extend(b.label_values(name, matchers)?);
        }
        values.extend(self.head.read().label_values(name, matchers));
        Ok(values.into_iter().collect())
    }

    fn exemplars(
        &self,
        matchers: &[Matcher],
    ) -> Result<Vec<(Labels, Vec<Exemplar>)>, StorageError> {
        Ok(self.head.read().exemplars(matchers, self.mint, self.maxt))
    }
}
