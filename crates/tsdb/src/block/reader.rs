//! Reading a block through mmap.

use super::{BlockMeta, ChunkMeta, FOOTER_LEN, FORMAT_VERSION, INDEX_MAGIC, SERIES_PER_GROUP};

/// Bytes per entry of the series group table: offset u64, compressed and raw length u32.
const GROUP_ENTRY: usize = 16;
use crate::chunk::packed;
use crate::encoding::{Decbuf, DecodeError};
use crate::index::{union_sorted, PostingsSource};
use crate::{Result, TsdbError};
use memmap2::Mmap;
use parking_lot::Mutex;
use pharos_model::{Label, Labels, Matcher, Sample, SampleIter, StorageError};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

struct PageRef {
    offset: u64,
    compressed: u32,
    raw: u32,
    crc: u32,
}

pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: Mmap,
    chunks: Mmap,
    /// (offset, length) of every symbol string in the index.
    symbols: Vec<(u32, u32)>,
    /// Per label name, its values (symbol ids, sorted by string) with postings offsets.
    postings: HashMap<String, Vec<(u32, u64)>>,
    pages: Vec<PageRef>,
    series_table_off: usize,
    postings_off: usize,
    num_series: u32,
    size_bytes: u64,
    /// The most recently decompressed page: series are read in label order, and
    /// neighbours share pages.
    page_cache: Mutex<Option<(u32, Arc<Vec<u8>>)>>,
    /// The most recently decompressed group of series entries, for the same reason.
    group_cache: Mutex<Option<(usize, Arc<Vec<u8>>)>>,
}

fn corrupt(dir: &Path, e: impl std::fmt::Display) -> TsdbError {
    TsdbError::corrupt(format!("block {}", dir.display()), e.to_string())
}

fn map(path: &Path) -> Result<Mmap> {
    let f = File::open(path).map_err(|e| TsdbError::io(path, e))?;
    // SAFETY: block files are immutable once renamed into place; Pharos never writes them
    // again, and deletion only unlinks (the mapping stays valid).
    unsafe { Mmap::map(&f) }.map_err(|e| TsdbError::io(path, e))
}

impl Block {
    pub fn open(dir: &Path) -> Result<Block> {
        let meta_path = dir.join("meta.json");
        let meta_bytes = std::fs::read(&meta_path).map_err(|e| TsdbError::io(&meta_path, e))?;
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes).map_err(|e| corrupt(dir, e))?;
        let index = map(&dir.join("index"))?;
        let chunks = map(&dir.join("chunks"))?;
        let n = index.len();
        if n < INDEX_MAGIC.len() + 1 + FOOTER_LEN || &index[..4] != INDEX_MAGIC {
            return Err(corrupt(dir, "index is too short or has a bad magic number"));
        }
        if index[4] != FORMAT_VERSION {
            return Err(corrupt(
                dir,
                format!("unsupported index version {}", index[4]),
            ));
        }
        let stored_crc =
            u32::from_le_bytes([index[n - 4], index[n - 3], index[n - 2], index[n - 1]]);
        if crc32fast::hash(&index[..n - 4]) != stored_crc {
            return Err(corrupt(dir, "index checksum mismatch"));
        }
        let mut f = Decbuf::at(&index, n - FOOTER_LEN).map_err(|e| corrupt(dir, e))?;
        let mut offs = [0usize; 6];
        for o in offs.iter_mut() {
            *o = f.u64().map_err(|e| corrupt(dir, e))? as usize;
        }
        let num_series = f.u32().map_err(|e| corrupt(dir, e))?;
        let [symbols_off, _series_off, series_table_off, postings_off, postings_table_off, pages_off] =
            offs;
        if offs.iter().any(|&o| o > n - FOOTER_LEN)
            || series_table_off + (num_series as usize).div_ceil(SERIES_PER_GROUP) * GROUP_ENTRY
                > n - FOOTER_LEN
        {
            return Err(corrupt(dir, "index section offsets out of range"));
        }
        let parse = || -> std::result::Result<_, DecodeError> {
            let mut d = Decbuf::at(&index, symbols_off)?;
            let count = d.len_prefix(1)?;
            let mut symbols = Vec::with_capacity(count);
            for _ in 0..count {
                let len = d.len_prefix(1)?;
                let off = d.pos();
                let b = d.bytes(len)?;
                std::str::from_utf8(b).map_err(|_| DecodeError("symbol is not UTF-8"))?;
                symbols.push((off as u32, len as u32));
            }
            let sym = |id: u64| -> std::result::Result<&str, DecodeError> {
                let &(off, len) = symbols
                    .get(id as usize)
                    .ok_or(DecodeError("symbol id out of range"))?;
                std::str::from_utf8(&index[off as usize..(off + len) as usize])
                    .map_err(|_| DecodeError("symbol"))
            };
            let mut d = Decbuf::at(&index, postings_table_off)?;
            let names = d.len_prefix(2)?;
            let mut postings = HashMap::with_capacity(names);
            for _ in 0..names {
                let name = sym(d.uvarint()?)?.to_string();
                let nv = d.len_prefix(2)?;
                let mut values = Vec::with_capacity(nv);
                for _ in 0..nv {
                    let v = d.uvarint()?;
                    sym(v)?;
                    values.push((v as u32, d.uvarint()?));
                }
                postings.insert(name, values);
            }
            let mut d = Decbuf::at(&index, pages_off)?;
            let np = d.len_prefix(20)?;
            let mut pages = Vec::with_capacity(np);
            for _ in 0..np {
                pages.push(PageRef {
                    offset: d.u64()?,
                    compressed: d.u32()?,
                    raw: d.u32()?,
                    crc: d.u32()?,
                });
            }
            Ok((symbols, postings, pages))
        };
        let (symbols, postings, pages) = parse().map_err(|e| corrupt(dir, e))?;
        let size_bytes = (index.len() + chunks.len() + meta_bytes.len()) as u64;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            symbols,
            postings,
            pages,
            series_table_off,
            postings_off,
            num_series,
            size_bytes,
            page_cache: Mutex::new(None),
            group_cache: Mutex::new(None),
        })
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    pub fn num_series(&self) -> u32 {
        self.num_series
    }

    fn symbol(&self, id: u64) -> std::result::Result<&str, DecodeError> {
        let &(off, len) = self
            .symbols
            .get(id as usize)
            .ok_or(DecodeError("symbol id out of range"))?;
        // Validated as UTF-8 when the block was opened.
        std::str::from_utf8(&self.index[off as usize..(off + len) as usize])
            .map_err(|_| DecodeError("symbol"))
    }

    fn series_group(&self, g: usize) -> Result<Arc<Vec<u8>>> {
        if let Some((cached, data)) = &*self.group_cache.lock() {
            if *cached == g {
                return Ok(Arc::clone(data));
            }
        }
        let err = |e: DecodeError| corrupt(&self.dir, e);
        let mut t =
            Decbuf::at(&self.index, self.series_table_off + g * GROUP_ENTRY).map_err(err)?;
        let off = t.u64().map_err(err)? as usize;
        let clen = t.u32().map_err(err)? as usize;
        let rlen = t.u32().map_err(err)? as usize;
        let bytes = self
            .index
            .get(off..off.saturating_add(clen))
            .ok_or_else(|| corrupt(&self.dir, "series group beyond the index"))?;
        let raw = Arc::new(zstd::bulk::decompress(bytes, rlen).map_err(|e| corrupt(&self.dir, e))?);
        *self.group_cache.lock() = Some((g, Arc::clone(&raw)));
        Ok(raw)
    }

    /// Labels and chunk references of series number `i`.
    pub fn series(&self, i: u32) -> Result<(Labels, Vec<ChunkMeta>)> {
        let err = |e: DecodeError| corrupt(&self.dir, e);
        if i >= self.num_series {
            return Err(corrupt(&self.dir, "series number beyond the series table"));
        }
        let group = self.series_group(i as usize / SERIES_PER_GROUP)?;
        let mut d = Decbuf::new(&group);
        // Entries within a group are found by walking from its start.
        for _ in 0..i as usize % SERIES_PER_GROUP {
            self.decode_series(&mut d, false).map_err(err)?;
        }
        let (labels, chunks) = self.decode_series(&mut d, true).map_err(err)?;
        Ok((Labels::from_sorted(labels), chunks))
    }

    fn decode_series(
        &self,
        d: &mut Decbuf<'_>,
        keep: bool,
    ) -> std::result::Result<(Vec<Label>, Vec<ChunkMeta>), DecodeError> {
        let nl = d.len_prefix(2)?;
        let mut labels = Vec::with_capacity(if keep { nl } else { 0 });
        for _ in 0..nl {
            let (n, v) = (d.uvarint()?, d.uvarint()?);
            if keep {
                labels.push(Label::new(self.symbol(n)?, self.symbol(v)?));
            }
        }
        let nc = d.len_prefix(5)?;
        let mut chunks = Vec::with_capacity(if keep { nc } else { 0 });
        let mut prev = self.meta.min_time;
        for _ in 0..nc {
            let mint = prev.wrapping_add(d.varint()?);
            let maxt = mint.wrapping_add(d.uvarint()? as i64);
            let page = d.uvarint()? as u32;
            let offset = d.uvarint()? as u32;
            let samples = d.uvarint()? as u32;
            if keep {
                chunks.push(ChunkMeta {
                    mint,
                    maxt,
                    page,
                    offset,
                    samples,
                });
            }
            prev = maxt;
        }
        Ok((labels, chunks))
    }

    fn postings_at(&self, off: u64) -> std::result::Result<Vec<u32>, DecodeError> {
        let mut d = Decbuf::at(&self.index, self.postings_off + off as usize)?;
        let n = d.len_prefix(1)?;
        let mut out = Vec::with_capacity(n);
        let mut prev = 0u32;
        for _ in 0..n {
            prev = prev
                .checked_add(d.uvarint()? as u32)
                .ok_or(DecodeError("postings overflow"))?;
            if prev >= self.num_series {
                return Err(DecodeError("postings entry beyond the series table"));
            }
            out.push(prev);
        }
        Ok(out)
    }

    fn page(&self, id: u32) -> Result<Arc<Vec<u8>>> {
        if let Some((cached, data)) = &*self.page_cache.lock() {
            if *cached == id {
                return Ok(Arc::clone(data));
            }
        }
        let p = self
            .pages
            .get(id as usize)
            .ok_or_else(|| corrupt(&self.dir, "chunk page id out of range"))?;
        let start = p.offset as usize;
        let bytes = self
            .chunks
            .get(start..start + p.compressed as usize)
            .ok_or_else(|| corrupt(&self.dir, "chunk page beyond the chunks file"))?;
        if crc32fast::hash(bytes) != p.crc {
            return Err(corrupt(
                &self.dir,
                format!("chunk page {id} checksum mismatch"),
            ));
        }
        let raw =
            zstd::bulk::decompress(bytes, p.raw as usize).map_err(|e| corrupt(&self.dir, e))?;
        let raw = Arc::new(raw);
        *self.page_cache.lock() = Some((id, Arc::clone(&raw)));
        Ok(raw)
    }

    /// Decodes one chunk, appending its samples.
    pub fn read_chunk(&self, c: &ChunkMeta, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        let page = self.page(c.page)?;
        let data = page
            .get(c.offset as usize..)
            .ok_or_else(|| corrupt(&self.dir, "chunk offset beyond its page"))?;
        packed::decode(data, ts, vs).map_err(|e| corrupt(&self.dir, e))?;
        Ok(())
    }

    /// Series matching `matchers` with chunks overlapping `[mint, maxt]`, in label order.
    pub fn select(
        self: &Arc<Self>,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<BlockSeries>> {
        let ids = crate::index::postings_for_matchers(self.as_ref(), matchers);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let (labels, chunks) = self.series(id)?;
            let chunks: Vec<ChunkMeta> = chunks
                .into_iter()
                .filter(|c| c.maxt >= mint && c.mint <= maxt)
                .collect();
            if !chunks.is_empty() {
                out.push(BlockSeries {
                    labels,
                    block: Arc::clone(self),
                    chunks,
                    mint,
                    maxt,
                });
            }
        }
        Ok(out)
    }

    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        if matchers.is_empty() {
            let mut names: Vec<String> = self.postings.keys().cloned().collect();
            names.sort();
            return Ok(names);
        }
        let mut names = std::collections::BTreeSet::new();
        for id in crate::index::postings_for_matchers(self, matchers) {
            for l in self.series(id)?.0.iter() {
                names.insert(l.name.clone());
            }
        }
        Ok(names.into_iter().collect())
    }

    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        if matchers.is_empty() {
            let Some(values) = self.postings.get(name) else {
                return Ok(Vec::new());
            };
            let mut out = Vec::with_capacity(values.len());
            for &(v, _) in values {
                out.push(
                    self.symbol(u64::from(v))
                        .map_err(|e| corrupt(&self.dir, e))?
                        .to_string(),
                );
            }
            out.sort();
            return Ok(out);
        }
        let mut values = std::collections::BTreeSet::new();
        for id in crate::index::postings_for_matchers(self, matchers) {
            if let Some(v) = self.series(id)?.0.get(name) {
                values.insert(v.to_string());
            }
        }
        Ok(values.into_iter().collect())
    }

    /// Label pair statistics for cardinality reports: (name, value, series count).
    pub fn label_pairs(&self) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        for (name, values) in &self.postings {
            for &(v, off) in values {
                let (Ok(value), Ok(list)) = (self.symbol(u64::from(v)), self.postings_at(off))
                else {
                    continue;
                };
                out.push((name.clone(), value.to_string(), list.len() as u64));
            }
        }
        out
    }
}

impl PostingsSource for Block {
    fn all_postings(&self) -> Vec<u32> {
        (0..self.num_series).collect()
    }

    fn postings_eq(&self, name: &str, value: &str) -> Vec<u32> {
        self.postings_where(name, &mut |v| v == value)
    }

    fn postings_where(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> Vec<u32> {
        let Some(values) = self.postings.get(name) else {
            return Vec::new();
        };
        let mut lists = Vec::new();
        for &(v, off) in values {
            let Ok(value) = self.symbol(u64::from(v)) else {
                continue;
            };
            if pred(value) {
                match self.postings_at(off) {
                    Ok(l) => lists.push(l),
                    Err(e) => {
                        tracing::error!(block = %self.dir.display(), error = %e, "corrupt postings list skipped")
                    }
                }
            }
        }
        union_sorted(lists)
    }
}

/// A series of a block, its chunks decoded on demand.
pub struct BlockSeries {
    pub labels: Labels,
    block: Arc<Block>,
    chunks: Vec<ChunkMeta>,
    mint: i64,
    maxt: i64,
}

impl BlockSeries {
    pub fn into_parts(self) -> (Labels, BlockSampleIter) {
        let mut chunks = self.chunks;
        chunks.reverse();
        (
            self.labels,
            BlockSampleIter {
                block: self.block,
                chunks,
                ts: Vec::new(),
                vs: Vec::new(),
                pos: 0,
                mint: self.mint,
                maxt: self.maxt,
                err: None,
            },
        )
    }
}

pub struct BlockSampleIter {
    block: Arc<Block>,
    chunks: Vec<ChunkMeta>,
    ts: Vec<i64>,
    vs: Vec<f64>,
    pos: usize,
    mint: i64,
    maxt: i64,
    err: Option<StorageError>,
}

impl SampleIter for BlockSampleIter {
    fn next_sample(&mut self) -> Option<Sample> {
        loop {
            while self.pos < self.ts.len() {
                let (t, v) = (self.ts[self.pos], self.vs[self.pos]);
                self.pos += 1;
                if t < self.mint {
                    continue;
                }
                if t > self.maxt {
                    self.chunks.clear();
                    self.ts.clear();
                    return None;
                }
                return Some(Sample { t, v });
            }
            let c = self.chunks.pop()?;
            self.ts.clear();
            self.vs.clear();
            self.pos = 0;
            if let Err(e) = self.block.read_chunk(&c, &mut self.ts, &mut self.vs) {
                self.err = Some(e.into());
                self.chunks.clear();
                return None;
            }
            if self.ts.len() != self.vs.len() {
                self.ts.clear();
            }
        }
    }

    fn seek(&mut self, t: i64) -> Option<Sample> {
        // Skip whole chunks that end before t without decoding them.
        if self.pos >= self.ts.len() {
            while self.chunks.last().is_some_and(|c| c.maxt < t) {
                self.chunks.pop();
            }
        }
        loop {
            let s = self.next_sample()?;
            if s.t >= t {
                return Some(s);
            }
        }
    }

    fn error(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }
}
