//! The head's spill file: sealed head chunks move out of memory into append-only segment
//! files and are read back with positioned reads. The files are a memory offload, not
//! durable state: the WAL rebuilds everything, so they are emptied at every start.

use crate::{Result, TsdbError};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAX_SEGMENT_BYTES: u64 = 512 << 20;

/// Where a sealed chunk lives.
#[derive(Clone, Copy, Debug)]
pub struct SealedChunk {
    pub mint: i64,
    pub maxt: i64,
    pub segment: u32,
    pub offset: u32,
    pub len: u32,
}

pub struct SpillSegment {
    file: File,
    path: PathBuf,
}

impl SpillSegment {
    pub fn read(&self, offset: u32, len: u32) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut buf, u64::from(offset))
            .map_err(|e| TsdbError::io(&self.path, e))?;
        Ok(buf)
    }
}

pub struct Spill {
    dir: PathBuf,
    segments: BTreeMap<u32, (Arc<SpillSegment>, i64)>,
    current: u32,
    current_len: u64,
    pending: Vec<u8>,
    pending_base: u64,
}

impl Spill {
    pub fn open(dir: &Path) -> Result<Spill> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| TsdbError::io(dir, e))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| TsdbError::io(dir, e))?;
        let mut s = Spill {
            dir: dir.to_path_buf(),
            segments: BTreeMap::new(),
            current: 0,
            current_len: 0,
            pending: Vec::new(),
            pending_base: 0,
        };
        s.new_segment()?;
        Ok(s)
    }

    fn new_segment(&mut self) -> Result<()> {
        self.current += 1;
        let path = self.dir.join(format!("{:08}", self.current));
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| TsdbError::io(&path, e))?;
        self.segments.insert(
            self.current,
            (Arc::new(SpillSegment { file, path }), i64::MIN),
        );
        self.current_len = 0;
        self.pending_base = 0;
        Ok(())
    }

    /// Queues a sealed chunk; it becomes readable after [`Spill::write_pending`].
    pub fn push(&mut self, bytes: &[u8], mint: i64, maxt: i64) -> Result<SealedChunk> {
        // Bounded: a cut seals every open chunk at once.
        if self.pending.len() >= 1 << 20 {
            self.write_pending()?;
        }
        if self.current_len + (self.pending.len() + bytes.len()) as u64 > MAX_SEGMENT_BYTES {
            self.write_pending()?;
            self.new_segment()?;
        }
        let offset = self.pending_base + self.pending.len() as u64;
        self.pending.extend_from_slice(bytes);
        if let Some((_, seg_max)) = self.segments.get_mut(&self.current) {
            *seg_max = (*seg_max).max(maxt);
        }
        Ok(SealedChunk {
            mint,
            maxt,
            segment: self.current,
            offset: offset as u32,
            len: bytes.len() as u32,
        })
    }

    /// Writes queued chunks with one call; done before the head lock is released.
    pub fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (seg, _) = &self.segments[&self.current];
        (&seg.file)
            .write_all(&self.pending)
            .map_err(|e| TsdbError::io(&seg.path, e))?;
        self.current_len += self.pending.len() as u64;
        self.pending_base = self.current_len;
        self.pending.clear();
        Ok(())
    }

    pub fn segment(&self, id: u32) -> Option<Arc<SpillSegment>> {
        self.segments.get(&id).map(|(s, _)| Arc::clone(s))
    }

    /// Deletes segments whose chunks all end before `t` (readers holding one keep it open).
    pub fn truncate_before(&mut self, t: i64) {
        let old: Vec<u32> = self
            .segments
            .iter()
            .filter(|(id, (_, maxt))| **id != self.current && *maxt < t)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            if let Some((seg, _)) = self.segments.remove(&id) {
                if let Err(e) = std::fs::remove_file(&seg.path) {
                    tracing::warn!(path = %seg.path.display(), error = %e, "cannot remove head spill segment");
                }
            }
        }
    }
}
