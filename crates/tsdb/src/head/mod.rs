//! The in-memory head: the newest data, per series an open XOR chunk and references to
//! sealed chunks in the spill file, with a label index for selection.
//!
//! Files by direction of data: `append.rs` (samples in), `read.rs` (series out),
//! `truncate.rs` (data handed to blocks leaves), `spill.rs` (sealed chunks on disk).

mod append;
mod packed_labels;
mod read;
pub mod spill;
mod truncate;
pub use truncate::{CutPlan, OooTaken};

pub use append::AppendMode;
pub use read::{HeadSeries, HeadSource};

use crate::chunk::xor::XorAppender;
use crate::symbols::{Sym, SymbolTable};
use crate::Options;
use hashbrown::{HashMap, HashTable};
use pharos_model::{Label, LabelRef, Labels, Sample};
use spill::{SealedChunk, Spill};
use std::collections::VecDeque;

pub type SeriesRef = u32;

pub struct StoredExemplar {
    pub t: i64,
    pub v: f64,
    pub labels: Labels,
}

pub struct MemSeries {
    /// Label symbols sorted by label name.
    pub labels: Box<[(Sym, Sym)]>,
    pub sealed: Vec<SealedChunk>,
    pub open: XorAppender,
    pub last_t: i64,
    pub last_v: u64,
    /// Accepted samples older than the series' newest, sorted by time.
    pub ooo: Option<Box<Vec<Sample>>>,
    pub exemplars: Option<Box<VecDeque<StoredExemplar>>>,
}

impl MemSeries {
    fn has_data(&self) -> bool {
        !self.sealed.is_empty() || !self.open.is_empty() || self.ooo.is_some()
    }

    fn min_time(&self) -> Option<i64> {
        let a = self.sealed.first().map(|c| c.mint);
        let b = self.open.first_time();
        let c = self.ooo.as_ref().and_then(|o| o.first()).map(|s| s.t);
        [a, b, c].into_iter().flatten().min()
    }
}

pub struct Head {
    pub opts: Options,
    pub symbols: SymbolTable,
    series: Vec<Option<Box<MemSeries>>>,
    first_ref: SeriesRef,
    next_ref: SeriesRef,
    by_hash: HashTable<SeriesRef>,
    postings: HashMap<Sym, HashMap<Sym, Vec<SeriesRef>>>,
    per_metric: HashMap<Sym, u32>,
    num_series: usize,
    /// In-order appends must be at or after this (the end of the data already cut to blocks).
    pub min_valid: i64,
    pub max_t: i64,
    /// Oldest sample time appended since the last cut (a lower bound of the head's data).
    pub min_t: i64,
    pub spill: Spill,
    pub counters: HeadCounters,
}

#[derive(Default, Clone, Debug)]
pub struct HeadCounters {
    pub samples_appended: u64,
    pub ooo_appended: u64,
    pub series_created: u64,
    pub series_removed: u64,
    pub exemplars_appended: u64,
    pub rejected: [u64; 8],
}

/// The identity hash of a label set, computed the same way from wire strings and from
/// stored symbols.
fn labels_hash<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    use xxhash_rust::xxh3::xxh3_64_with_seed;
    // Chained one-shot hashes: much cheaper than a streaming hasher for short strings,
    // and each string's boundary is part of the result.
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for (n, v) in pairs {
        h = xxh3_64_with_seed(n.as_bytes(), h);
        h = xxh3_64_with_seed(v.as_bytes(), h.rotate_left(29));
    }
    h
}

impl Head {
    pub fn new(opts: Options, spill: Spill) -> Head {
        Head {
            opts,
            symbols: SymbolTable::default(),
            series: Vec::new(),
            first_ref: 1,
            next_ref: 1,
            by_hash: HashTable::new(),
            postings: HashMap::new(),
            per_metric: HashMap::new(),
            num_series: 0,
            min_valid: i64::MIN,
            max_t: i64::MIN,
            min_t: i64::MAX,
            spill,
            counters: HeadCounters::default(),
        }
    }

    pub fn num_series(&self) -> usize {
        self.num_series
    }

    pub fn series(&self, r: SeriesRef) -> Option<&MemSeries> {
        let i = r.checked_sub(self.first_ref)? as usize;
        self.series.get(i)?.as_deref()
    }

    fn series_mut(&mut self, r: SeriesRef) -> Option<&mut MemSeries> {
        let i = r.checked_sub(self.first_ref)? as usize;
        self.series.get_mut(i)?.as_deref_mut()
    }

    fn stored_hash(&self, s: &MemSeries) -> u64 {
        labels_hash(
            s.labels
                .iter()
                .map(|&(n, v)| (self.symbols.get(n), self.symbols.get(v))),
        )
    }

    pub fn lookup(&self, labels: &[LabelRef<'_>]) -> Option<SeriesRef> {
        let h = labels_hash(labels.iter().map(|l| (l.name, l.value)));
        self.by_hash
            .find(h, |&r| {
                self.series(r).is_some_and(|s| {
                    s.labels.len() == labels.len()
                        && s.labels.iter().zip(labels).all(|(&(n, v), l)| {
                            self.symbols.get(n) == l.name && self.symbols.get(v) == l.value
                        })
                })
            })
            .copied()
    }

    /// Creates a series with a given reference (WAL replay) or the next free one.
    pub fn create_series(
        &mut self,
        labels: &[LabelRef<'_>],
        with_ref: Option<SeriesRef>,
    ) -> SeriesRef {
        let r = with_ref.unwrap_or(self.next_ref);
        if r < self.first_ref {
            // Only reachable from a replayed WAL whose references predate the head's
            // current window; rebase so the slot exists.
            let shift = (self.first_ref - r) as usize;
            self.series
                .splice(0..0, std::iter::repeat_with(|| None).take(shift));
            self.first_ref = r;
        }
        let idx = (r - self.first_ref) as usize;
        if idx >= self.series.len() {
            self.series.resize_with(idx + 1, || None);
        }
        self.next_ref = self.next_ref.max(r.saturating_add(1));
        let syms: Box<[(Sym, Sym)]> = labels
            .iter()
            .map(|l| (self.symbols.intern(l.name), self.symbols.intern(l.value)))
            .collect();
        for &(n, v) in syms.iter() {
            let list = self.postings.entry(n).or_default().entry(v).or_default();
            list.push(r);
            // Replayed references can arrive out of order; postings must stay sorted.
            if list.len() > 1 && list[list.len() - 2] > r {
                list.sort_unstable();
            }
            if self.symbols.get(n) == pharos_model::METRIC_NAME {
                *self.per_metric.entry(v).or_default() += 1;
            }
        }
        let series = MemSeries {
            labels: syms,
            sealed: Vec::new(),
            open: XorAppender::new(),
            last_t: i64::MIN,
            last_v: 0,
            ooo: None,
            exemplars: None,
        };
        let h = self.stored_hash(&series);
        self.series[idx] = Some(Box::new(series));
        let Head {
            by_hash,
            series,
            first_ref,
            symbols,
            ..
        } = self;
        let first = *first_ref;
        by_hash.insert_unique(h, r, |&x| {
            series
                .get((x - first) as usize)
                .and_then(|s| s.as_deref())
                .map_or(0, |s| {
                    labels_hash(
                        s.labels
                            .iter()
                            .map(|&(n, v)| (symbols.get(n), symbols.get(v))),
                    )
                })
        });
        self.num_series += 1;
        self.counters.series_created += 1;
        r
    }

    pub fn series_labels(&self, s: &MemSeries) -> Labels {
        Labels::from_sorted(
            s.labels
                .iter()
                .map(|&(n, v)| Label::new(self.symbols.get(n), self.symbols.get(v)))
                .collect(),
        )
    }

    pub fn series_per_metric(&self, name: &str) -> u32 {
        self.symbols
            .lookup(name)
            .and_then(|s| self.per_metric.get(&s))
            .copied()
            .unwrap_or(0)
    }

    /// Smallest sample time held in the head, if any.
    pub fn min_time(&self) -> Option<i64> {
        self.series
            .iter()
            .flatten()
            .filter_map(|s| s.min_time())
            .min()
    }

    pub fn live_refs(&self) -> impl Iterator<Item = (SeriesRef, &MemSeries)> {
        let first = self.first_ref;
        self.series
            .iter()
            .enumerate()
            .filter_map(move |(i, s)| s.as_deref().map(|s| (first + i as u32, s)))
    }

    pub fn memory_bytes(&self) -> u64 {
        let mut total = self.symbols.memory_bytes();
        total += self.series.capacity() * std::mem::size_of::<Option<Box<MemSeries>>>();
        total += self.by_hash.capacity() * 5;
        for s in self.series.iter().flatten() {
            total += std::mem::size_of::<MemSeries>()
                + s.labels.len() * 8
                + s.sealed.capacity() * std::mem::size_of::<SealedChunk>()
                + s.open.memory_bytes()
                + s.ooo.as_ref().map_or(0, |o| o.capacity() * 16);
        }
        for m in self.postings.values() {
            total += m.capacity() * 40;
            total += m.values().map(|l| l.capacity() * 4).sum::<usize>();
        }
        total as u64
    }

    pub fn num_chunks(&self) -> u64 {
        self.series
            .iter()
            .flatten()
            .map(|s| s.sealed.len() as u64 + u64::from(!s.open.is_empty()))
            .sum()
    }

    pub fn num_exemplars(&self) -> u64 {
        self.series
            .iter()
            .flatten()
            .map(|s| s.exemplars.as_ref().map_or(0, |e| e.len() as u64))
            .sum()
    }

    pub fn postings_map(&self) -> &HashMap<Sym, HashMap<Sym, Vec<SeriesRef>>> {
        &self.postings
    }
}
