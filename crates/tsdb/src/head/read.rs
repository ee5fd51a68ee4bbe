//! Series out of the head: label index lookups and snapshots of chunk references that
//! outlive the head lock, decoded lazily.

use super::packed_labels::PackedLabels;
use super::spill::SpillSegment;
use super::{Head, MemSeries};
use crate::chunk::xor::XorIter;
use crate::index::PostingsSource;
use pharos_model::{Labels, Matcher, Sample, SampleIter, StorageError};
use std::sync::Arc;

/// The head's label index seen through [`PostingsSource`].
pub struct HeadSource<'a>(pub &'a Head);

impl PostingsSource for HeadSource<'_> {
    fn all_postings(&self) -> Vec<u32> {
        self.0.live_refs().map(|(r, _)| r).collect()
    }

    fn postings_eq(&self, name: &str, value: &str) -> Vec<u32> {
        let h = self.0;
        let (Some(n), Some(v)) = (h.symbols.lookup(name), h.symbols.lookup(value)) else {
            return Vec::new();
        };
        h.postings
            .get(&n)
            .and_then(|m| m.get(&v))
            .cloned()
            .unwrap_or_default()
    }

    fn postings_where(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> Vec<u32> {
        let h = self.0;
        let Some(values) = h.symbols.lookup(name).and_then(|n| h.postings.get(&n)) else {
            return Vec::new();
        };
        let lists: Vec<Vec<u32>> = values
            .iter()
            .filter(|(v, _)| pred(h.symbols.get(**v)))
            .map(|(_, l)| l.clone())
            .collect();
        crate::index::union_sorted(lists)
    }
}

/// One head chunk, captured so it can be read after the lock is released.
#[derive(Clone)]
enum ChunkSrc {
    Spilled {
        segment: Arc<SpillSegment>,
        offset: u32,
        len: u32,
        maxt: i64,
    },
    Open(Arc<Vec<u8>>, i64),
}

impl ChunkSrc {
    fn maxt(&self) -> i64 {
        match self {
            ChunkSrc::Spilled { maxt, .. } | ChunkSrc::Open(_, maxt) => *maxt,
        }
    }
}

/// A series of the head as it was when selected.
#[derive(Clone)]
pub struct HeadSeries {
    pub(super) labels: PackedLabels,
    chunks: Vec<ChunkSrc>,
    ooo: Vec<Sample>,
    mint: i64,
    maxt: i64,
}

impl Head {
    /// Snapshots the series matching `matchers` with data in `[mint, maxt]`, sorted by labels.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<HeadSeries> {
        let refs = crate::index::postings_for_matchers(&HeadSource(self), matchers);
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            if let Some(s) = self.series(r) {
                if let Some(hs) = self.snapshot(s, mint, maxt) {
                    out.push(hs);
                }
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    pub(super) fn snapshot(&self, s: &MemSeries, mint: i64, maxt: i64) -> Option<HeadSeries> {
        let mut chunks = Vec::new();
        for c in &s.sealed {
            if c.maxt >= mint && c.mint <= maxt {
                if let Some(segment) = self.spill.segment(c.segment) {
                    chunks.push(ChunkSrc::Spilled {
                        segment,
                        offset: c.offset,
                        len: c.len,
                        maxt: c.maxt,
                    });
                }
            }
        }
        if let (Some(first), Some(last)) = (s.open.first_time(), s.open.last_time()) {
            if last >= mint && first <= maxt {
                chunks.push(ChunkSrc::Open(Arc::new(s.open.bytes().to_vec()), last));
            }
        }
        let ooo: Vec<Sample> = s
            .ooo
            .as_ref()
            .map(|o| {
                o.iter()
                    .filter(|x| x.t >= mint && x.t <= maxt)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        if chunks.is_empty() && ooo.is_empty() {
            return None;
        }
        Some(HeadSeries {
            labels: PackedLabels::pack(
                s.labels
                    .iter()
                    .map(|&(n, v)| (self.symbols.get(n), self.symbols.get(v))),
            ),
            chunks,
            ooo,
            mint,
            maxt,
        })
    }

    /// Label names of series matching `matchers`, sorted.
    pub fn label_names(&self, matchers: &[Matcher]) -> Vec<String> {
        let mut names: Vec<String> = if matchers.is_empty() {
            self.postings
                .keys()
                .map(|&n| self.symbols.get(n).to_string())
                .collect()
        } else {
            let refs = crate::index::postings_for_matchers(&HeadSource(self), matchers);
            let mut syms: Vec<u32> = refs
                .iter()
                .filter_map(|&r| self.series(r))
                .flat_map(|s| s.labels.iter().map(|&(n, _)| n))
                .collect();
            syms.sort_unstable();
            syms.dedup();
            syms.into_iter()
                .map(|n| self.symbols.get(n).to_string())
                .collect()
        };
        names.sort();
        names
    }

    /// Values of label `name` among series matching `matchers`, sorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Vec<String> {
        let Some(n) = self.symbols.lookup(name) else {
            return Vec::new();
        };
        let mut values: Vec<String> = if matchers.is_empty() {
            self.postings
                .get(&n)
                .map(|m| m.keys().map(|&v| self.symbols.get(v).to_string()).collect())
                .unwrap_or_default()
        } else {
            let refs = crate::index::postings_for_matchers(&HeadSource(self), matchers);
            let mut syms: Vec<u32> = refs
                .iter()
                .filter_map(|&r| self.series(r))
                .filter_map(|s| s.labels.iter().find(|&&(ln, _)| ln == n).map(|&(_, v)| v))
                .collect();
            syms.sort_unstable();
            syms.dedup();
            syms.into_iter()
                .map(|v| self.symbols.get(v).to_string())
                .collect()
        };
        values.sort();
        values
    }

    /// Exemplars of matching series within `[mint, maxt]`.
    pub fn exemplars(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<(Labels, Vec<pharos_model::Exemplar>)> {
        let refs = crate::index::postings_for_matchers(&HeadSource(self), matchers);
        let mut out = Vec::new();
        for r in refs {
            let Some(s) = self.series(r) else { continue };
            let Some(ring) = &s.exemplars else { continue };
            let ex: Vec<pharos_model::Exemplar> = ring
                .iter()
                .filter(|e| e.t >= mint && e.t <= maxt)
                .map(|e| pharos_model::Exemplar {
                    labels: e.labels.clone(),
                    value: e.v,
                    t: e.t,
                })
                .collect();
            if !ex.is_empty() {
                out.push((self.series_labels(s), ex));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl HeadSeries {
    pub fn into_parts(self) -> (Labels, HeadSampleIter) {
        let mut chunks = self.chunks;
        chunks.reverse();
        (
            self.labels.to_labels(),
            HeadSampleIter {
                chunks,
                current: None,
                ooo: self.ooo.into_iter().peekable(),
                pending: None,
                mint: self.mint,
                maxt: self.maxt,
                err: None,
            },
        )
    }
}

enum ChunkBytes {
    Owned(Vec<u8>),
    Shared(Arc<Vec<u8>>),
}

impl AsRef<[u8]> for ChunkBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            ChunkBytes::Owned(v) => v,
            ChunkBytes::Shared(v) => v,
        }
    }
}

/// Merges the in-order chunks with the out-of-order buffer, keeping the in-order sample
/// when both hold the same timestamp.
pub struct HeadSampleIter {
    chunks: Vec<ChunkSrc>,
    current: Option<XorIter<ChunkBytes>>,
    ooo: std::iter::Peekable<std::vec::IntoIter<Sample>>,
    pending: Option<Sample>,
    mint: i64,
    maxt: i64,
    err: Option<StorageError>,
}

impl HeadSampleIter {
    fn next_in_order(&mut self) -> Option<Sample> {
        loop {
            if let Some(it) = &mut self.current {
                for (t, v) in it.by_ref() {
                    if t < self.mint {
                        continue;
                    }
                    if t > self.maxt {
                        break;
                    }
                    return Some(Sample { t, v });
                }
                if let Some(e) = it.error() {
                    self.err = Some(StorageError::Corrupt {
                        what: "head chunk".into(),
                        detail: e.to_string(),
                    });
                    self.chunks.clear();
                }
                self.current = None;
            }
            let c = self.chunks.pop()?;
            if c.maxt() < self.mint {
                continue;
            }
            let bytes = match c {
                ChunkSrc::Open(b, _) => ChunkBytes::Shared(b),
                ChunkSrc::Spilled {
                    segment,
                    offset,
                    len,
                    ..
                } => match segment.read(offset, len) {
                    Ok(b) => ChunkBytes::Owned(b),
                    Err(e) => {
                        self.err = Some(e.into());
                        self.chunks.clear();
                        return None;
                    }
                },
            };
            self.current = Some(XorIter::new(bytes));
        }
    }
}

impl SampleIter for HeadSampleIter {
    fn next_sample(&mut self) -> Option<Sample> {
        if self.pending.is_none() {
            self.pending = self.next_in_order();
        }
        match (self.pending, self.ooo.peek().copied()) {
            (None, None) => None,
            (Some(a), None) => {
                self.pending = None;
                Some(a)
            }
            (None, Some(b)) => {
                self.ooo.next();
                Some(b)
            }
            (Some(a), Some(b)) => {
                if b.t < a.t {
                    self.ooo.next();
                    Some(b)
                } else {
                    if b.t == a.t {
                        self.ooo.next();
                    }
                    self.pending = None;
                    Some(a)
                }
            }
        }
    }

    fn error(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }
}
