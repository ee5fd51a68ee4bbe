//! Wiring of the database: open and replay, append, cut/flush, background maintenance.

use crate::block::{write_block, Block, Compaction};
use crate::compact;
use crate::head::spill::Spill;
use crate::head::{AppendMode, Head};
use crate::outcome::RejectReason;
use crate::querier::DbQuerier;
use crate::wal::{self, Record, RecordBuf, Wal};
use crate::{AppendOutcome, CardinalityReport, DbStats, FsyncPolicy, Options, Result, TsdbError};
use parking_lot::{Condvar, Mutex, RwLock};
use pharos_model::{LabelRef, Labels, Querier, Queryable, StorageError, WriteBatch};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Counters {
    compactions: AtomicU64,
    compactions_failed: AtomicU64,
    head_truncations: AtomicU64,
    retention_time: AtomicU64,
    retention_size: AtomicU64,
    wal_checkpoints: AtomicU64,
    wal_corruptions: AtomicU64,
    background_fsyncs: AtomicU64,
}

pub struct Db {
    dir: PathBuf,
    opts: Options,
    head: Arc<RwLock<Head>>,
    wal: Mutex<Option<Wal>>,
    blocks: RwLock<Vec<Arc<Block>>>,
    /// Serialises cuts, flushes and compactions with each other.
    maintenance: Mutex<()>,
    counters: Counters,
    closed: AtomicBool,
    wake: (Mutex<bool>, Condvar),
    background: Mutex<Option<std::thread::JoinHandle<()>>>,
    replay_seconds: f64,
    _lock: Option<File>,
    /// For read-only opens: the private spill directory to delete on drop.
    scratch: Option<PathBuf>,
}

fn format_labels(labels: &[LabelRef<'_>]) -> String {
    let mut s = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("{}={:?}", l.name, l.value));
    }
    s.push('}');
    s
}

fn load_blocks(blocks_dir: &Path, read_only: bool) -> Result<Vec<Arc<Block>>> {
    let mut blocks = Vec::new();
    let rd = std::fs::read_dir(blocks_dir).map_err(|e| TsdbError::io(blocks_dir, e))?;
    for entry in rd.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".tmp") {
            if !read_only {
                let _ = std::fs::remove_dir_all(&path);
            }
            continue;
        }
        if !path.is_dir() {
            continue;
        }
        match Block::open(&path) {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(e) => {
                tracing::error!(block = %path.display(), error = %e, "skipping unreadable block")
            }
        }
    }
    // A compaction that crashed after writing its output but before deleting its inputs
    // leaves blocks that a newer block lists as sources.
    let replaced: HashSet<String> = blocks
        .iter()
        .filter(|b| b.meta().compaction.level > 0)
        .flat_map(|b| b.meta().compaction.sources.iter().cloned())
        .collect();
    let (stale, live): (Vec<_>, Vec<_>) = blocks
        .into_iter()
        .partition(|b| replaced.contains(&b.meta().ulid) && b.meta().compaction.sources.len() <= 1);
    for b in stale {
        if !read_only {
            tracing::info!(block = %b.dir().display(), "removing block already merged into a newer one");
            let _ = std::fs::remove_dir_all(b.dir());
        }
    }
    let mut live = live;
    live.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    Ok(live)
}

impl Db {
    /// Opens (creating if needed) the database in `dir`, takes its lock, loads blocks and
    /// replays the WAL. Starts background maintenance when the options ask for it.
    pub fn open(dir: &Path, opts: Options) -> Result<Arc<Db>> {
        std::fs::create_dir_all(dir).map_err(|e| TsdbError::io(dir, e))?;
        let lock_path = dir.join("lock");
        let lock = File::create(&lock_path).map_err(|e| TsdbError::io(&lock_path, e))?;
        if lock.try_lock().is_err() {
            return Err(TsdbError::Locked(dir.display().to_string()));
        }
        let db = Self::open_inner(dir, opts, false, Some(lock), dir.join("chunks_head"))?;
        if db.opts.background_maintenance {
            let weak = Arc::downgrade(&db);
            let handle = std::thread::Builder::new()
                .name("tsdb-maintenance".into())
                .spawn(move || background_loop(weak))
                .map_err(|e| TsdbError::io(dir, e))?;
            *db.background.lock() = Some(handle);
        }
        Ok(db)
    }

    /// Opens without the lock and without writing anything: blocks plus the WAL replayed
    /// into memory. For `pharos tsdb dump|analyze` on a stopped server's directory.
    pub fn open_read_only(dir: &Path, mut opts: Options) -> Result<Arc<Db>> {
        if !dir.exists() {
            return Err(TsdbError::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            ));
        }
        opts.background_maintenance = false;
        opts.limits = crate::Limits {
            max_series: 0,
            max_series_per_metric: 0,
            ..opts.limits
        };
        let scratch =
            std::env::temp_dir().join(format!("pharos-readonly-{}", crate::block::new_ulid()));
        let mut db = Self::open_inner(dir, opts, true, None, scratch.clone())?;
        if let Some(d) = Arc::get_mut(&mut db) {
            d.scratch = Some(scratch);
        }
        Ok(db)
    }

    fn open_inner(
        dir: &Path,
        opts: Options,
        read_only: bool,
        lock: Option<File>,
        spill_dir: PathBuf,
    ) -> Result<Arc<Db>> {
        let blocks_dir = dir.join("blocks");
        let wal_dir = dir.join("wal");
        if !read_only {
            std::fs::create_dir_all(&blocks_dir).map_err(|e| TsdbError::io(&blocks_dir, e))?;
            std::fs::create_dir_all(&wal_dir).map_err(|e| TsdbError::io(&wal_dir, e))?;
        }
        let blocks = if blocks_dir.exists() {
            load_blocks(&blocks_dir, read_only)?
        } else {
            Vec::new()
        };
        let mut head = Head::new(opts.clone(), Spill::open(&spill_dir)?);
        head.min_valid = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        let started = Instant::now();
        let replay_stats = replay_into(&mut head, &wal_dir, read_only)?;
        head.spill.write_pending()?;
        let replay_seconds = started.elapsed().as_secs_f64();
        if replay_stats.records > 0 {
            tracing::info!(
                records = replay_stats.records,
                series = head.num_series(),
                seconds = replay_seconds,
                "WAL replayed"
            );
        }
        let wal = if read_only {
            None
        } else {
            Some(Wal::open(&wal_dir, opts.wal_segment_bytes, opts.fsync)?)
        };
        let counters = Counters::default();
        counters.wal_corruptions.store(
            replay_stats.corruptions + replay_stats.undecodable_records,
            Ordering::Relaxed,
        );
        Ok(Arc::new(Db {
            dir: dir.to_path_buf(),
            opts,
            head: Arc::new(RwLock::new(head)),
            wal: Mutex::new(wal),
            blocks: RwLock::new(blocks),
            maintenance: Mutex::new(()),
            counters,
            closed: AtomicBool::new(false),
            wake: (Mutex::new(false), Condvar::new()),
            background: Mutex::new(None),
            replay_seconds,
            _lock: lock,
            scratch: None,
        }))
    }

    /// Stores a batch. Returns once the batch is in the WAL (written to the OS; fsynced
    /// too under `FsyncPolicy::Always`). Refused samples are counted in the outcome.
    pub fn append(&self, batch: &WriteBatch<'_>) -> Result<AppendOutcome> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TsdbError::Closed);
        }
        let mut outcome = AppendOutcome::default();
        let mut new_series: Vec<(u32, &[LabelRef<'_>])> = Vec::new();
        let mut samples: Vec<(u32, i64, f64)> = Vec::with_capacity(batch.samples.len());
        let mut exemplars = Vec::new();
        let mut rec = RecordBuf::default();
        let needs_cut;
        {
            let mut head = self.head.write();
            for entry in &batch.series {
                let labels = batch.series_labels(entry);
                let describe = || format_labels(labels);
                let r = match head.lookup(labels) {
                    Some(r) => r,
                    None => {
                        if let Err((reason, why)) = head.check_new_series(labels) {
                            let n = entry.samples.len() as u64;
                            head.counters.rejected[reason.index()] += n;
                            outcome.reject(reason, n, || {
                                format!("series {} refused: {why}", describe())
                            });
                            continue;
                        }
                        let r = head.create_series(labels, None);
                        outcome.series_created += 1;
                        new_series.push((r, labels));
                        r
                    }
                };
                for s in batch.series_samples(entry) {
                    if head.append_sample(r, s.t, s.v, AppendMode::Live, &mut outcome, &describe)? {
                        samples.push((r, s.t, s.v));
                    }
                }
                for e in batch.series_exemplars(entry) {
                    let el = batch.exemplar_labels(e);
                    let labels = Labels::from_pairs(el.iter().map(|l| (l.name, l.value)));
                    if head.append_exemplar(r, e.t, e.value, labels, &mut outcome) {
                        exemplars.push((
                            r,
                            e.t,
                            e.value,
                            el.iter().map(|l| (l.name, l.value)).collect(),
                        ));
                    }
                }
            }
            for chunk in new_series.chunks(1000) {
                rec.series(
                    chunk
                        .iter()
                        .map(|(r, ls)| (*r, ls.iter().map(|l| (l.name, l.value)))),
                );
            }
            rec.samples(&samples);
            rec.exemplars(&exemplars);
            head.spill.write_pending()?;
            if let Some(wal) = self.wal.lock().as_mut() {
                wal.write(&rec.buf)?;
            }
            let span = self.opts.block_span_ms.max(1);
            needs_cut = head.min_t != i64::MAX
                && head
                    .max_t
                    .saturating_sub(head.min_t.div_euclid(span).saturating_mul(span))
                    >= span + span / 2;
        }
        if needs_cut {
            self.wake_background();
        }
        Ok(outcome)
    }

    fn wake_background(&self) {
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
    fn cut(&self, boundary: i64) -> Result<()> {
        let span = self.opts.block_span_ms.max(1);
        let (snap, head_min) = {
            let mut h = self.head.write();
            let min = h.min_t;
            (h.begin_cut(boundary), min)
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
        let crate::head::CutSnapshot {
            series, ooo_taken, ..
        } = snap;
        let single = windows.len() == 1;
        let mut series = Some(series);
        for (w, end) in windows {
            // The common case is one window: hand the snapshot over instead of copying it.
            let part: Vec<crate::head::HeadSeries> = if single {
                series.take().unwrap_or_default()
            } else {
                series
                    .iter()
                    .flatten()
                    .map(|s| s.restricted(w, end - 1))
                    .collect()
            };
            let source = part.into_iter().map(|s| {
                let (l, it) = s.into_parts();
                (l, Box::new(it) as Box<dyn pharos_model::SampleIter>)
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
        let removed = self.head.write().finish_cut(boundary, ooo_taken);
        self.counters
            .head_truncations
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(boundary, removed_series = removed, "head cut into blocks");
        self.checkpoint(boundary)
    }

    fn checkpoint(&self, boundary: i64) -> Result<()> {
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

    fn replace_blocks(&self, remove: &[String], add: Option<Arc<Block>>) {
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

    fn apply_retention(&self) {
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

    /// Stops background work and syncs the WAL. Later appends fail with `Closed`.
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.wake_background();
        if let Some(h) = self.background.lock().take() {
            let _ = h.join();
        }
        if let Some(wal) = self.wal.lock().as_mut() {
            wal.sync()?;
        }
        Ok(())
    }

    pub fn stats(&self) -> DbStats {
        let h = self.head.read();
        let blocks = self.blocks.read();
        let (wal_segment, wal_bytes, wal_fsyncs) = match self.wal.lock().as_ref() {
            Some(w) => (w.current_segment(), w.bytes_written, w.fsyncs),
            None => (0, 0, 0),
        };
        let lowest = blocks
            .iter()
            .map(|b| b.meta().min_time)
            .chain((h.min_t != i64::MAX).then_some(h.min_t))
            .min()
            .unwrap_or(0);
        DbStats {
            head_series: h.num_series() as u64,
            head_chunks: h.num_chunks(),
            head_min_time_ms: if h.min_t == i64::MAX { 0 } else { h.min_t },
            head_max_time_ms: if h.max_t == i64::MIN { 0 } else { h.max_t },
            head_samples_appended_total: h.counters.samples_appended,
            head_out_of_order_samples_appended_total: h.counters.ooo_appended,
            head_series_created_total: h.counters.series_created,
            head_series_removed_total: h.counters.series_removed,
            exemplars_appended_total: h.counters.exemplars_appended,
            exemplars_in_storage: h.num_exemplars(),
            samples_rejected_total: h.counters.rejected,
            head_memory_bytes: h.memory_bytes(),
            symbols: h.symbols.len() as u64,
            blocks_loaded: blocks.len() as u64,
            blocks_bytes: blocks.iter().map(|b| b.size_bytes()).sum(),
            lowest_timestamp_ms: lowest,
            compactions_total: self.counters.compactions.load(Ordering::Relaxed),
            compactions_failed_total: self.counters.compactions_failed.load(Ordering::Relaxed),
            head_truncations_total: self.counters.head_truncations.load(Ordering::Relaxed),
            retention_deletions_time_total: self.counters.retention_time.load(Ordering::Relaxed),
            retention_deletions_size_total: self.counters.retention_size.load(Ordering::Relaxed),
            wal_segment_current: wal_segment,
            wal_bytes_written_total: wal_bytes,
            wal_fsyncs_total: wal_fsyncs + self.counters.background_fsyncs.load(Ordering::Relaxed),
            wal_corruptions_total: self.counters.wal_corruptions.load(Ordering::Relaxed),
            wal_checkpoints_total: self.counters.wal_checkpoints.load(Ordering::Relaxed),
            wal_replay_seconds: self.replay_seconds,
        }
    }

    /// Cardinality of the head and all blocks, top `top` entries per list.
    pub fn cardinality(&self, top: usize) -> CardinalityReport {
        let q = self.querier_inner(i64::MIN, i64::MAX);
        let mut report = CardinalityReport::default();
        let mut by_metric: HashMap<String, u64> = HashMap::new();
        let mut values_by_name: HashMap<String, HashSet<String>> = HashMap::new();
        let mut by_pair: HashMap<String, u64> = HashMap::new();
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        if let Ok(set) = q.select(&[]) {
            for series in set.flatten() {
                report.num_series += 1;
                for l in series.labels.iter() {
                    values_by_name
                        .entry(l.name.clone())
                        .or_default()
                        .insert(l.value.clone());
                    *by_pair
                        .entry(format!("{}={}", l.name, l.value))
                        .or_default() += 1;
                }
                if let Some(n) = series.labels.metric_name() {
                    *by_metric.entry(n.to_string()).or_default() += 1;
                }
                let mut it = series.samples;
                if let Some(first) = it.next_sample() {
                    mint = mint.min(first.t);
                    let mut last = first.t;
                    while let Some(s) = it.next_sample() {
                        last = s.t;
                    }
                    maxt = maxt.max(last);
                }
            }
        }
        report.num_label_pairs = by_pair.len() as u64;
        report.min_time_ms = if mint == i64::MAX { 0 } else { mint };
        report.max_time_ms = if maxt == i64::MIN { 0 } else { maxt };
        let top_n = |m: HashMap<String, u64>| {
            let mut v: Vec<(String, u64)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(top);
            v
        };
        report.label_value_count_by_label_name = top_n(
            values_by_name
                .iter()
                .map(|(k, v)| (k.clone(), v.len() as u64))
                .collect(),
        );
        report.memory_in_bytes_by_label_name = top_n(
            values_by_name
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(|s| s.len() as u64).sum()))
                .collect(),
        );
        report.series_count_by_metric_name = top_n(by_metric);
        report.series_count_by_label_value_pair = top_n(by_pair);
        report
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The loaded blocks' metadata, oldest first.
    pub fn block_metas(&self) -> Vec<crate::block::BlockMeta> {
        self.blocks
            .read()
            .iter()
            .map(|b| b.meta().clone())
            .collect()
    }

    fn querier_inner(&self, mint: i64, maxt: i64) -> DbQuerier {
        let mut blocks: Vec<Arc<Block>> = self
            .blocks
            .read()
            .iter()
            .filter(|b| b.meta().min_time <= maxt && b.meta().max_time > mint)
            .cloned()
            .collect();
        // Creation order (ULIDs sort by time): on equal timestamps the first written wins.
        blocks.sort_by(|a, b| a.meta().ulid.cmp(&b.meta().ulid));
        DbQuerier {
            mint,
            maxt,
            blocks,
            head: Arc::clone(&self.head),
        }
    }

    fn background_tick(&self, last_sync: &mut Instant) {
        if let FsyncPolicy::Interval(every) = self.opts.fsync {
            if last_sync.elapsed() >= every {
                *last_sync = Instant::now();
                let file = self.wal.lock().as_ref().map(|w| w.current_file());
                if let Some(f) = file {
                    if let Err(e) = f.sync_data() {
                        tracing::error!(error = %e, "WAL fsync failed");
                    } else {
                        self.counters
                            .background_fsyncs
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        if let Err(e) = self.compact() {
            tracing::error!(error = %e, "compaction failed; will retry");
        }
    }
}

fn background_loop(db: std::sync::Weak<Db>) {
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
                cv.wait_for(&mut flag, Duration::from_millis(500));
            }
            std::mem::take(&mut *flag)
        };
        if db.closed.load(Ordering::Acquire) {
            return;
        }
        if woken || last_compact.elapsed() >= Duration::from_secs(30) {
            last_compact = Instant::now();
            db.background_tick(&mut last_sync);
        } else if let FsyncPolicy::Interval(_) = db.opts.fsync {
            let mut ls = last_sync;
            if ls.elapsed() >= Duration::from_secs(1) {
                let file = db.wal.lock().as_ref().map(|w| w.current_file());
                if let Some(f) = file {
                    if f.sync_data().is_ok() {
                        db.counters
                            .background_fsyncs
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                ls = Instant::now();
            }
            last_sync = ls;
        }
    }
}

/// Rebuilds the head from the WAL.
fn replay_into(head: &mut Head, wal_dir: &Path, read_only: bool) -> Result<wal::ReplayStats> {
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

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(s) = &self.scratch {
            let _ = std::fs::remove_dir_all(s);
        }
    }
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(self.querier_inner(mint, maxt)))
    }
}
