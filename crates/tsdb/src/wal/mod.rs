//! The write-ahead log: numbered segment files of checksummed records, plus an optional
//! checkpoint that replaces the oldest segments after the head is truncated.
//!
//! Layout under `wal/`: `00000001`, `00000002`, … (segments) and `checkpoint.NNNNNNNN/`
//! (records that survive from segments up to NNNNNNNN). See `docs/formats/wal.md`.
//! Every append is written with one `write` call before it is acknowledged, so a killed
//! process loses nothing the OS has; the fsync policy only matters for power loss.

pub mod record;
mod replay;

pub use record::{Frame, FrameReader, FrameStream, Record, RecordBuf, StreamFrame};
pub use replay::{replay, write_checkpoint, ReplayStats};

use crate::{FsyncPolicy, Result, TsdbError};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn segment_name(index: u64) -> String {
    format!("{index:08}")
}

/// Segment files in `dir`, sorted by index.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| TsdbError::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| TsdbError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(i) = name.parse::<u64>() {
                out.push((i, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The newest complete checkpoint directory and the last segment index it covers.
pub fn latest_checkpoint(dir: &Path) -> Result<Option<(u64, PathBuf)>> {
    let mut best: Option<(u64, PathBuf)> = None;
    let rd = std::fs::read_dir(dir).map_err(|e| TsdbError::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| TsdbError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name.strip_prefix("checkpoint.") else {
            continue;
        };
        if let Ok(i) = num.parse::<u64>() {
            if best.as_ref().is_none_or(|(b, _)| i > *b) {
                best = Some((i, entry.path()));
            }
        }
    }
    Ok(best)
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TsdbError::io(dir, e))
}

pub struct Wal {
    dir: PathBuf,
    index: u64,
    file: Arc<File>,
    size: u64,
    max_segment_bytes: u64,
    fsync: FsyncPolicy,
    pub bytes_written: u64,
    pub fsyncs: u64,
    /// Records whose write failed (disk full, I/O error), written first once the disk
    /// takes writes again. Their samples are already in the head.
    unwritten: Vec<u8>,
}

impl Wal {
    /// Starts a fresh segment after the newest existing one (segments are never appended
    /// to after a restart, so a repaired tail stays as it was repaired).
    pub fn open(dir: &Path, max_segment_bytes: u64, fsync: FsyncPolicy) -> Result<Wal> {
        std::fs::create_dir_all(dir).map_err(|e| TsdbError::io(dir, e))?;
        let last = list_segments(dir)?.last().map(|(i, _)| *i);
        let cp = latest_checkpoint(dir)?.map(|(i, _)| i);
        let index = last.max(cp).map_or(1, |i| i + 1);
        let file = create_segment(dir, index)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            index,
            file: Arc::new(file),
            size: 0,
            max_segment_bytes,
            fsync,
            bytes_written: 0,
            fsyncs: 0,
            unwritten: Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn current_segment(&self) -> u64 {
        self.index
    }

    /// The open segment's file, for a background syncer that must not hold the head lock.
    pub fn current_file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// After a failed write, writes the records it left behind. Until this succeeds the
    /// database refuses new appends, so at most one batch is ever held this way.
    pub fn ensure_healthy(&mut self) -> Result<()> {
        if self.unwritten.is_empty() {
            return Ok(());
        }
        // The failed write may have left a torn frame: continue in a fresh segment so
        // that replay cuts only that segment's tail, never frames written after it.
        self.index += 1;
        self.file = Arc::new(create_segment(&self.dir, self.index)?);
        self.size = 0;
        let pending = std::mem::take(&mut self.unwritten);
        let path = self.dir.join(segment_name(self.index));
        if let Err(e) = (&*self.file).write_all(&pending) {
            self.unwritten = pending;
            return Err(TsdbError::io(&path, e));
        }
        self.size += pending.len() as u64;
        self.bytes_written += pending.len() as u64;
        tracing::info!(
            segment = self.index,
            bytes = pending.len(),
            "WAL writable again; held records written"
        );
        Ok(())
    }

    /// Writes framed records. Returns after the OS has them (and after fsync under `Always`).
    pub fn write(&mut self, framed: &[u8]) -> Result<()> {
        if framed.is_empty() {
            return Ok(());
        }
        self.ensure_healthy()?;
        if self.size > 0 && self.size + framed.len() as u64 > self.max_segment_bytes {
            self.rotate()?;
        }
        let path = self.dir.join(segment_name(self.index));
        if let Err(e) = (&*self.file).write_all(framed) {
            self.unwritten = framed.to_vec();
            return Err(TsdbError::io(&path, e));
        }
        self.size += framed.len() as u64;
        self.bytes_written += framed.len() as u64;
        if self.fsync == FsyncPolicy::Always {
            self.file.sync_data().map_err(|e| TsdbError::io(&path, e))?;
            self.fsyncs += 1;
        }
        Ok(())
    }

    /// Closes the current segment (synced) and opens the next; returns the closed index.
    pub fn rotate(&mut self) -> Result<u64> {
        let closed = self.index;
        let path = self.dir.join(segment_name(closed));
        self.file.sync_data().map_err(|e| TsdbError::io(&path, e))?;
        self.fsyncs += 1;
        self.index += 1;
        self.file = Arc::new(create_segment(&self.dir, self.index)?);
        self.size = 0;
        Ok(closed)
    }

    pub fn sync(&mut self) -> Result<()> {
        let path = self.dir.join(segment_name(self.index));
        self.file.sync_data().map_err(|e| TsdbError::io(&path, e))?;
        self.fsyncs += 1;
        Ok(())
    }
}

fn create_segment(dir: &Path, index: u64) -> Result<File> {
    let path = dir.join(segment_name(index));
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| TsdbError::io(&path, e))?;
    sync_dir(dir)?;
    Ok(f)
}
