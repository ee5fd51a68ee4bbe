//! Wiring of the database: open and replay, append, reads, statistics. Cutting, flushing,
//! compaction and retention live in `db/maintenance.rs`.

mod maintenance;
mod replay;

use maintenance::background_loop;
use replay::replay_into;

use crate::block::Block;
use crate::head::spill::Spill;
use crate::head::{AppendMode, Head};
use crate::querier::DbQuerier;
use crate::wal::{RecordBuf, Wal};
use crate::{AppendOutcome, CardinalityReport, DbStats, Options, Result, TsdbError};
use parking_lot::{Condvar, Mutex, RwLock};
use pharos_model::{LabelRef, Labels, Querier, Queryable, StorageError, WriteBatch};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

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
    // leaves blocks whose level-1 sources another block covers entirely.
    let sources = |b: &Block| -> HashSet<String> {
        let c = &b.meta().compaction;
        if c.sources.is_empty() {
            std::iter::once(b.meta().ulid.clone()).collect()
        } else {
            c.sources.iter().cloned().collect()
        }
    };
    let all_sources: Vec<HashSet<String>> = blocks.iter().map(|b| sources(b)).collect();
    let is_stale = |i: usize| {
        all_sources.iter().enumerate().any(|(j, other)| {
            j != i
                && all_sources[i].is_subset(other)
                && (all_sources[i].len() < other.len()
                    || blocks[j].meta().ulid > blocks[i].meta().ulid)
        })
    };
    let stale_flags: Vec<bool> = (0..blocks.len()).map(is_stale).collect();
    let (stale, live): (Vec<_>, Vec<_>) = blocks
        .into_iter()
        .zip(stale_flags)
        .partition(|(_, stale)| *stale);
    let stale: Vec<Arc<Block>> = stale.into_iter().map(|(b, _)| b).collect();
    let live: Vec<Arc<Block>> = live.into_iter().map(|(b, _)| b).collect();
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
            // A WAL that could not take the previous batch must take it before this one
            // touches the head; otherwise refuse, and the sender retries later.
            if let Some(wal) = self.wal.lock().as_mut() {
                wal.ensure_healthy()?;
            }
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

    pub(crate) fn querier_inner(&self, mint: i64, maxt: i64) -> DbQuerier {
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
