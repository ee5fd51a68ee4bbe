//! Background maintenance: cutting the head into blocks, WAL checkpoints, flush,
//! compaction, retention and the periodic WAL fsync.

use super::Db;
use crate::block::{write_block, Block, Compaction};
use crate::compact;
use crate::wal;
use crate::{FsyncPolicy, Result};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Db {
    pub(super) fn wake_background(&self) {
        let (m, cv) = &self.wake;
        *m.lock() = true;
        cv.notify_one();
    }

    /// Cuts every full aligned block span that is far enough behind the newest data.
    pub fn cut_head(&self) -> Result<()> {
        let _g = self.maintenance.lock();
        let span = self.opts.block_span_ms.max(1);
        loop {
            let (min_t, max_t) = {
                let h = self.head.read();
                (h.min_t, h.max_t)
            };
            if min_t == i64::MAX {
                return Ok(());
            }
            let start = min_t.div_euclid(span).saturating_mul(span);
            if max_t.saturating_sub(start) < span + span / 2 {
                return Ok(());
            }
            self.cut(start.saturating_add(span))?;
        }
    }

    /// Writes all head data before `boundary` into blocks (one per aligned span), then
    /// drops it from the head and checkpoints the WAL.
    pub(super) fn cut(&self, boundary: i64) -> Result<()> {
        let span = self.opts.block_span_ms.max(1);
        let (plan, head_min) = {
            let mut h = self.head.write();
            let min = h.min_t;
            (h.begin_cut(boundary)?, min)
        };
        let blocks_dir = self.dir.join("blocks");
        let mut new_blocks = Vec::new();
        let mut windows = Vec::new();
        if head_min != i64::MAX && head_min < boundary {
            let mut w = head_min.div_euclid(span).saturating_mul(span);
            while w < boundary {
                let end = w.saturating_add(span).min(boundary);
                windows.push((w, end));
                w = end;
            }
        }
        let taken = parking_lot::Mutex::new(crate::head::OooTaken::default());
        for (w, end) in windows {
            // One series at a time under a short read lock: appends go on meanwhile, and
            // memory holds one series' snapshot rather than the whole head's.
            let source = plan.refs.iter().filter_map(|&r| {
                let snapshot = self
                    .head
                    .read()
                    .cut_series(r, w, end - 1, &mut taken.lock());
                snapshot.map(|s| {
                    let (l, it) = s.into_parts();
                    (l, Box::new(it) as Box<dyn pharos_model::SampleIter>)
                })
            });
            let level1 = Compaction {
                level: 1,
                sources: Vec::new(),
            };
            if let Some(meta) = write_block(&blocks_dir, w, end, level1, Box::new(source))? {
                new_blocks.push(Arc::new(Block::open(&blocks_dir.join(&meta.ulid))?));
            }
        }
        {
            let mut blocks = self.blocks.write();
            blocks.extend(new_blocks);
            blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        }
        let removed = self.head.write().finish_cut(boundary, taken.into_inner());
        self.counters
            .head_truncations
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(boundary, removed_series = removed, "head cut into blocks");
        self.checkpoint(boundary)
    }

    pub(super) fn checkpoint(&self, boundary: i64) -> Result<()> {
        let (upto, wal_dir) = {
            let mut guard = self.wal.lock();
            let Some(wal) = guard.as_mut() else {
                return Ok(());
            };
            (wal.rotate()?, wal.dir().to_path_buf())
        };
        let (live, late) = {
            let h = self.head.read();
            let live: Vec<(u32, Vec<(String, String)>)> = h
                .live_refs()
                .map(|(r, s)| {
                    let ls = h.series_labels(s);
                    (
                        r,
                        ls.iter()
                            .map(|l| (l.name.clone(), l.value.clone()))
                            .collect(),
                    )
                })
                .collect();
            // Late samples before the boundary still in the head must survive the checkpoint.
            let late: HashSet<(u32, i64)> = h
                .live_refs()
                .flat_map(|(r, s)| {
                    s.ooo
                        .iter()
                        .flat_map(|o| o.iter())
                        .filter(|x| x.t < boundary)
                        .map(move |x| (r, x.t))
                })
                .collect();
            (live, late)
        };
        wal::write_checkpoint(&wal_dir, upto, &live, |r, t| {
            t >= boundary || late.contains(&(r, t))
        })?;
        self.counters
            .wal_checkpoints
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Persists the whole head into on-disk blocks and truncates the WAL; returns when done.
    pub fn flush(&self) -> Result<()> {
        if self.wal.lock().is_none() {
            return Ok(());
        }
        let _g = self.maintenance.lock();
        let max_t = self.head.read().max_t;
        if max_t == i64::MIN {
            return Ok(());
        }
        self.cut(max_t.saturating_add(1))
    }

    /// Runs one round of head cutting, compaction and retention now.
    pub fn compact(&self) -> Result<()> {
        if self.wal.lock().is_none() {
            return Ok(());
        }
        self.cut_head()?;
        let _g = self.maintenance.lock();
        let span = self.opts.block_span_ms.max(1);
        let max_range = (self.opts.retention_ms / 10).clamp(span, 31 * crate::DAY_MS);
        let ranges = compact::level_ranges(span, max_range);
        loop {
            let complete_before = self.head.read().min_valid;
            let blocks = self.blocks.read().clone();
            let metas: Vec<&crate::block::BlockMeta> = blocks.iter().map(|b| b.meta()).collect();
            let Some(ids) = compact::plan(&metas, &ranges[1..], complete_before) else {
                break;
            };
            let group: Vec<Arc<Block>> = blocks
                .iter()
                .filter(|b| ids.contains(&b.meta().ulid))
                .cloned()
                .collect();
            let blocks_dir = self.dir.join("blocks");
            match compact::merge_blocks(&blocks_dir, &group) {
                Ok(meta) => {
                    let merged = match meta {
                        Some(m) => Some(Arc::new(Block::open(&blocks_dir.join(&m.ulid))?)),
                        None => None,
                    };
                    self.replace_blocks(&ids, merged);
                    self.counters.compactions.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.counters
                        .compactions_failed
                        .fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        self.apply_retention();
        Ok(())
    }

    pub(super) fn replace_blocks(&self, remove: &[String], add: Option<Arc<Block>>) {
        let removed: Vec<Arc<Block>> = {
            let mut blocks = self.blocks.write();
            let (gone, keep): (Vec<_>, Vec<_>) = blocks
                .drain(..)
                .partition(|b| remove.contains(&b.meta().ulid));
            *blocks = keep;
            blocks.extend(add);
            blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
            gone
        };
        for b in removed {
            if let Err(e) = std::fs::remove_dir_all(b.dir()) {
                tracing::warn!(block = %b.dir().display(), error = %e, "cannot delete block");
            }
        }
    }

    pub(super) fn apply_retention(&self) {
        let blocks = self.blocks.read().clone();
        let newest = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .chain(std::iter::once(self.head.read().max_t))
            .max()
            .unwrap_or(i64::MIN);
        let (by_time, by_size) = compact::retention(
            &blocks,
            newest,
            self.opts.retention_ms,
            self.opts.retention_bytes,
        );
        if by_time.is_empty() && by_size.is_empty() {
            return;
        }
        self.counters
            .retention_time
            .fetch_add(by_time.len() as u64, Ordering::Relaxed);
        self.counters
            .retention_size
            .fetch_add(by_size.len() as u64, Ordering::Relaxed);
        tracing::info!(
            by_time = by_time.len(),
            by_size = by_size.len(),
            "retention deletes blocks"
        );
        let all: Vec<String> = by_time.into_iter().chain(by_size).collect();
        self.replace_blocks(&all, None);
    }

    /// Under `FsyncPolicy::Interval`, syncs the open WAL segment when the interval has
    /// passed, without holding the head lock.
    pub(super) fn sync_wal_if_due(&self, last_sync: &mut Instant) {
        let FsyncPolicy::Interval(every) = self.opts.fsync else {
            return;
        };
        if last_sync.elapsed() < every {
            return;
        }
        *last_sync = Instant::now();
        let file = self.wal.lock().as_ref().map(|w| w.current_file());
        if let Some(f) = file {
            match f.sync_data() {
                Ok(()) => {
                    self.counters
                        .background_fsyncs
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => tracing::error!(error = %e, "WAL fsync failed"),
            }
        }
    }
}

pub(super) fn background_loop(db: std::sync::Weak<Db>) {
    const COMPACT_EVERY: Duration = Duration::from_secs(30);
    let mut last_sync = Instant::now();
    let mut last_compact = Instant::now();
    loop {
        let Some(db) = db.upgrade() else { return };
        if db.closed.load(Ordering::Acquire) {
            return;
        }
        let woken = {
            let (m, cv) = &db.wake;
            let mut flag = m.lock();
            if !*flag {
                cv.wait_for(&mut flag, Duration::from_millis(200));
            }
            std::mem::take(&mut *flag)
        };
        if db.closed.load(Ordering::Acquire) {
            return;
        }
        db.sync_wal_if_due(&mut last_sync);
        if woken || last_compact.elapsed() >= COMPACT_EVERY {
            last_compact = Instant::now();
            if let Err(e) = db.compact() {
                tracing::error!(error = %e, "compaction failed; will retry");
            }
        }
    }
}
