//! Writing a block from a sorted stream of series.

use super::{
    BlockMeta, BlockStats, ChunkMeta, Compaction, FOOTER_LEN, FORMAT_VERSION, INDEX_MAGIC,
    PAGE_BYTES, SAMPLES_PER_CHUNK, SERIES_PER_GROUP,
};
use crate::chunk::packed;
use crate::encoding::{put_str, put_uvarint, put_varint};
use crate::wal::sync_dir;
use crate::{Result, TsdbError};
use pharos_model::{Labels, SampleIter};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A sorted (by labels), duplicate-free stream of series with their samples.
pub type SeriesSource<'a> = Box<dyn Iterator<Item = (Labels, Box<dyn SampleIter>)> + 'a>;

struct ChunksFile {
    out: BufWriter<File>,
    path: PathBuf,
    written: u64,
    page: Vec<u8>,
    /// (file offset, compressed length, raw length, crc32 of compressed bytes)
    pages: Vec<(u64, u32, u32, u32)>,
}

impl ChunksFile {
    fn flush_page(&mut self) -> Result<()> {
        if self.page.is_empty() {
            return Ok(());
        }
        let compressed =
            zstd::bulk::compress(&self.page, 3).map_err(|e| TsdbError::io(&self.path, e))?;
        self.out
            .write_all(&compressed)
            .map_err(|e| TsdbError::io(&self.path, e))?;
        self.pages.push((
            self.written,
            compressed.len() as u32,
            self.page.len() as u32,
            crc32fast::hash(&compressed),
        ));
        self.written += compressed.len() as u64;
        self.page.clear();
        Ok(())
    }

    fn add_chunk(&mut self, ts: &[i64], vs: &[f64]) -> Result<ChunkMeta> {
        if self.page.len() >= PAGE_BYTES {
            self.flush_page()?;
        }
        let offset = self.page.len() as u32;
        packed::encode(ts, vs, &mut self.page);
        Ok(ChunkMeta {
            mint: ts[0],
            maxt: ts[ts.len() - 1],
            page: self.pages.len() as u32,
            offset,
            samples: ts.len() as u32,
        })
    }
}

/// Writes the samples of `series` within `[min_time, max_time)` as a new block under
/// `blocks_dir`. Returns `None` (and leaves nothing behind) when there were no samples.
pub fn write_block(
    blocks_dir: &Path,
    min_time: i64,
    max_time: i64,
    compaction: Compaction,
    series: SeriesSource<'_>,
) -> Result<Option<BlockMeta>> {
    let ulid = super::new_ulid();
    let tmp = blocks_dir.join(format!("{ulid}.tmp"));
    std::fs::create_dir_all(&tmp).map_err(|e| TsdbError::io(&tmp, e))?;
    let result = write_into(&tmp, &ulid, min_time, max_time, compaction, series);
    match result {
        Ok(Some(meta)) => {
            let dst = blocks_dir.join(&ulid);
            std::fs::rename(&tmp, &dst).map_err(|e| TsdbError::io(&dst, e))?;
            sync_dir(blocks_dir)?;
            Ok(Some(meta))
        }
        other => {
            let _ = std::fs::remove_dir_all(&tmp);
            other
        }
    }
}

fn write_into(
    dir: &Path,
    ulid: &str,
    min_time: i64,
    max_time: i64,
    compaction: Compaction,
    series: SeriesSource<'_>,
) -> Result<Option<BlockMeta>> {
    let chunks_path = dir.join("chunks");
    let file = File::create(&chunks_path).map_err(|e| TsdbError::io(&chunks_path, e))?;
    let mut chunks = ChunksFile {
        out: BufWriter::with_capacity(1 << 20, file),
        path: chunks_path.clone(),
        written: 0,
        page: Vec::with_capacity(PAGE_BYTES + 16 * 1024),
        pages: Vec::new(),
    };
    // Labels are interned while streaming: the index needs every series' labels at the
    // end, and strings repeat across series.
    let mut interner = Interner::default();
    let mut all: Vec<IndexSeries> = Vec::new();
    let mut stats = BlockStats::default();
    let (mut ts, mut vs) = (
        Vec::with_capacity(SAMPLES_PER_CHUNK),
        Vec::with_capacity(SAMPLES_PER_CHUNK),
    );
    for (labels, mut it) in series {
        let mut metas = Vec::new();
        ts.clear();
        vs.clear();
        let mut last = i64::MIN;
        while let Some(s) = it.next_sample() {
            if s.t < min_time || s.t >= max_time || s.t <= last {
                continue;
            }
            last = s.t;
            ts.push(s.t);
            vs.push(s.v);
            if ts.len() == SAMPLES_PER_CHUNK {
                metas.push(chunks.add_chunk(&ts, &vs)?);
                stats.num_samples += ts.len() as u64;
                ts.clear();
                vs.clear();
            }
        }
        if let Some(e) = it.error() {
            return Err(TsdbError::corrupt(
                "source series while writing a block",
                e.to_string(),
            ));
        }
        if !ts.is_empty() {
            metas.push(chunks.add_chunk(&ts, &vs)?);
            stats.num_samples += ts.len() as u64;
        }
        if !metas.is_empty() {
            stats.num_chunks += metas.len() as u64;
            let ids = labels
                .iter()
                .map(|l| (interner.id(&l.name), interner.id(&l.value)))
                .collect();
            all.push((ids, metas));
        }
    }
    if all.is_empty() {
        return Ok(None);
    }
    stats.num_series = all.len() as u64;
    chunks.flush_page()?;
    chunks
        .out
        .flush()
        .map_err(|e| TsdbError::io(&chunks_path, e))?;
    chunks
        .out
        .get_ref()
        .sync_all()
        .map_err(|e| TsdbError::io(&chunks_path, e))?;
    let index = encode_index(interner, &all, &chunks.pages, min_time)?;
    let index_path = dir.join("index");
    write_synced(&index_path, &index)?;
    let meta = BlockMeta {
        ulid: ulid.to_string(),
        min_time,
        max_time,
        stats,
        compaction,
        version: 1,
    };
    let json = serde_json::to_vec_pretty(&meta)
        .map_err(|e| TsdbError::corrupt("block meta", e.to_string()))?;
    write_synced(&dir.join("meta.json"), &json)?;
    sync_dir(dir)?;
    Ok(Some(meta))
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| TsdbError::io(path, e))?;
    f.write_all(data).map_err(|e| TsdbError::io(path, e))?;
    f.sync_all().map_err(|e| TsdbError::io(path, e))
}

#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    strings: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
}

type IndexSeries = (Box<[(u32, u32)]>, Vec<ChunkMeta>);

fn encode_index(
    interner: Interner,
    series: &[IndexSeries],
    pages: &[(u64, u32, u32, u32)],
    min_time: i64,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    out.extend_from_slice(INDEX_MAGIC);
    out.push(FORMAT_VERSION);

    // Symbols are written sorted; remap the interner's ids to sorted positions.
    let Interner { ids, strings } = interner;
    drop(ids);
    let mut order: Vec<u32> = (0..strings.len() as u32).collect();
    order.sort_by(|&a, &b| strings[a as usize].cmp(&strings[b as usize]));
    let mut sorted_id = vec![0u64; strings.len()];
    for (pos, &id) in order.iter().enumerate() {
        sorted_id[id as usize] = pos as u64;
    }
    let symbols_off = out.len() as u64;
    put_uvarint(&mut out, strings.len() as u64);
    for &id in &order {
        put_str(&mut out, &strings[id as usize]);
    }

    // Series entries go in zstd-compressed groups: neighbours in label order share most
    // labels, so a group compresses to a fraction of its size, and reading one series
    // decompresses only its group.
    let series_off = out.len() as u64;
    let mut groups: Vec<(u64, u32, u32)> = Vec::with_capacity(series.len() / SERIES_PER_GROUP + 1);
    let mut group = Vec::new();
    // Keyed by sorted symbol ids, whose order is the strings' order.
    let mut postings: BTreeMap<(u64, u64), Vec<u32>> = BTreeMap::new();
    for (i, (labels, chunks)) in series.iter().enumerate() {
        put_uvarint(&mut group, labels.len() as u64);
        for &(n, v) in labels.iter() {
            let (n, v) = (sorted_id[n as usize], sorted_id[v as usize]);
            put_uvarint(&mut group, n);
            put_uvarint(&mut group, v);
            postings.entry((n, v)).or_default().push(i as u32);
        }
        put_uvarint(&mut group, chunks.len() as u64);
        let mut prev = min_time;
        for c in chunks {
            put_varint(&mut group, c.mint.wrapping_sub(prev));
            put_uvarint(&mut group, c.maxt.wrapping_sub(c.mint) as u64);
            put_uvarint(&mut group, u64::from(c.page));
            put_uvarint(&mut group, u64::from(c.offset));
            put_uvarint(&mut group, u64::from(c.samples));
            prev = c.maxt;
        }
        if (i + 1) % SERIES_PER_GROUP == 0 || i + 1 == series.len() {
            let compressed =
                zstd::bulk::compress(&group, 3).map_err(|e| TsdbError::io("block index", e))?;
            groups.push((
                out.len() as u64,
                compressed.len() as u32,
                group.len() as u32,
            ));
            out.extend_from_slice(&compressed);
            group.clear();
        }
    }
    let series_table_off = out.len() as u64;
    for &(off, clen, rlen) in &groups {
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&clen.to_le_bytes());
        out.extend_from_slice(&rlen.to_le_bytes());
    }

    let postings_off = out.len() as u64;
    let mut table: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for (&(name, value), list) in &postings {
        table
            .entry(name)
            .or_default()
            .push((value, out.len() as u64 - postings_off));
        put_uvarint(&mut out, list.len() as u64);
        let mut prev = 0u32;
        for &s in list {
            put_uvarint(&mut out, u64::from(s - prev));
            prev = s;
        }
    }
    let postings_table_off = out.len() as u64;
    put_uvarint(&mut out, table.len() as u64);
    for (name, values) in &table {
        put_uvarint(&mut out, *name);
        put_uvarint(&mut out, values.len() as u64);
        for (value, off) in values {
            put_uvarint(&mut out, *value);
            put_uvarint(&mut out, *off);
        }
    }
    let pages_off = out.len() as u64;
    put_uvarint(&mut out, pages.len() as u64);
    for &(off, clen, rlen, crc) in pages {
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&clen.to_le_bytes());
        out.extend_from_slice(&rlen.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
    }
    for v in [
        symbols_off,
        series_off,
        series_table_off,
        postings_off,
        postings_table_off,
        pages_off,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(series.len() as u32).to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    debug_assert!(out.len() >= FOOTER_LEN);
    Ok(out)
}
