//! Planning and running block compaction, and choosing blocks for retention.
//!
//! Blocks are merged when they overlap (late samples written after their range was cut)
//! and when several blocks fill one aligned window of a larger level (span × 3, × 9, …),
//! the way Prometheus's leveled compactor does, so long retention means few, large blocks.

use crate::block::{write_block, Block, BlockMeta, Compaction};
use crate::querier::merge_sorted;
use crate::Result;
use pharos_model::SampleIter;
use std::path::Path;
use std::sync::Arc;

/// Level ranges: span, span×3, span×9, … up to `max_range`.
pub fn level_ranges(span: i64, max_range: i64) -> Vec<i64> {
    let mut out = vec![span];
    let mut r = span;
    while r.saturating_mul(3) <= max_range {
        r *= 3;
        out.push(r);
    }
    out
}

/// Picks one group of blocks to merge, or none. `complete_before` is the time before
/// which no more in-order data can arrive (the head's lower bound).
pub fn plan(metas: &[&BlockMeta], ranges: &[i64], complete_before: i64) -> Option<Vec<String>> {
    let mut sorted: Vec<&BlockMeta> = metas.to_vec();
    sorted.sort_by_key(|m| (m.min_time, m.max_time));
    // Overlaps first: they cost every query a merge.
    let mut group: Vec<&BlockMeta> = Vec::new();
    let mut group_max = i64::MIN;
    for m in &sorted {
        if !group.is_empty() && m.min_time < group_max {
            group.push(m);
            group_max = group_max.max(m.max_time);
            continue;
        }
        if group.len() > 1 {
            break;
        }
        group = vec![m];
        group_max = m.max_time;
    }
    if group.len() > 1 {
        return Some(group.iter().map(|m| m.ulid.clone()).collect());
    }
    for &r in ranges {
        let mut windows: std::collections::BTreeMap<i64, Vec<&BlockMeta>> = Default::default();
        for m in &sorted {
            let w = m.min_time.div_euclid(r);
            let end = (w + 1).saturating_mul(r);
            if m.max_time <= end {
                windows.entry(w).or_default().push(m);
            }
        }
        for (w, ms) in windows {
            let end = (w + 1).saturating_mul(r);
            if ms.len() > 1 && end <= complete_before {
                return Some(ms.iter().map(|m| m.ulid.clone()).collect());
            }
        }
    }
    None
}

/// Merges `blocks` into one new block under `blocks_dir`.
pub fn merge_blocks(blocks_dir: &Path, blocks: &[Arc<Block>]) -> Result<Option<BlockMeta>> {
    let min_time = blocks.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
    let max_time = blocks.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
    let level = blocks
        .iter()
        .map(|b| b.meta().compaction.level)
        .max()
        .unwrap_or(0)
        + 1;
    let mut sources: Vec<String> = blocks
        .iter()
        .flat_map(|b| {
            let c = &b.meta().compaction;
            if c.sources.is_empty() {
                vec![b.meta().ulid.clone()]
            } else {
                c.sources.clone()
            }
        })
        .collect();
    sources.sort();
    sources.dedup();
    let mut ordered: Vec<&Arc<Block>> = blocks.iter().collect();
    // Creation order, so the sample written first wins a timestamp tie, as in queries.
    ordered.sort_by(|a, b| a.meta().ulid.cmp(&b.meta().ulid));
    let mut all = Vec::new();
    for b in ordered {
        for s in b.select(&[], i64::MIN, i64::MAX)? {
            let (l, it) = s.into_parts();
            all.push((l, Box::new(it) as Box<dyn SampleIter>));
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let merged = merge_sorted(all);
    write_block(
        blocks_dir,
        min_time,
        max_time,
        Compaction { level, sources },
        Box::new(merged.into_iter().map(|s| (s.labels, s.samples))),
    )
}

/// Blocks to delete: those entirely older than `retention_ms` before `newest`, then the
/// oldest while the total exceeds `retention_bytes` (0 = no size limit).
/// Returns (by time, by size).
pub fn retention(
    blocks: &[Arc<Block>],
    newest: i64,
    retention_ms: i64,
    retention_bytes: u64,
) -> (Vec<String>, Vec<String>) {
    let mut by_time = Vec::new();
    let mut kept: Vec<&Arc<Block>> = Vec::new();
    for b in blocks {
        if retention_ms > 0 && b.meta().max_time <= newest.saturating_sub(retention_ms) {
            by_time.push(b.meta().ulid.clone());
        } else {
            kept.push(b);
        }
    }
    let mut by_size = Vec::new();
    if retention_bytes > 0 {
        kept.sort_by_key(|b| b.meta().min_time);
        let mut total: u64 = kept.iter().map(|b| b.size_bytes()).sum();
        for b in kept {
            if total <= retention_bytes {
                break;
            }
            total -= b.size_bytes();
            by_size.push(b.meta().ulid.clone());
        }
    }
    (by_time, by_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockStats;

    fn meta(id: &str, min: i64, max: i64) -> BlockMeta {
        BlockMeta {
            ulid: id.into(),
            min_time: min,
            max_time: max,
            stats: BlockStats::default(),
            compaction: Compaction::default(),
            version: 1,
        }
    }

    #[test]
    fn plans_overlaps_first() {
        let a = meta("a", 0, 100);
        let b = meta("b", 50, 150);
        let c = meta("c", 200, 300);
        let got = plan(&[&c, &a, &b], &[100, 300], 1000).unwrap();
        assert_eq!(got, vec!["a", "b"]);
    }

    #[test]
    fn plans_full_windows_only() {
        let ranges = level_ranges(100, 10_000);
        assert_eq!(ranges, vec![100, 300, 900, 2700, 8100]);
        let ms = [
            meta("a", 0, 100),
            meta("b", 100, 200),
            meta("c", 200, 300),
            meta("d", 300, 400),
        ];
        let refs: Vec<&BlockMeta> = ms.iter().collect();
        // The window [0, 300) is complete only once the head starts at or after 300.
        assert_eq!(plan(&refs, &ranges[1..], 250), None);
        assert_eq!(plan(&refs, &ranges[1..], 300).unwrap(), vec!["a", "b", "c"]);
    }
}
