//! Immutable on-disk blocks: one directory per time range holding `meta.json`, `index`
//! (symbols, series with chunk references, postings) and `chunks` (zstd pages of packed
//! chunks). Byte layout: `docs/formats/block.md`.

pub mod meta;
mod reader;
mod writer;

pub use meta::{new_ulid, BlockMeta, BlockStats, Compaction};
pub use reader::{Block, BlockSampleIter, BlockSeries};
pub use writer::{write_block, SeriesSource};

pub(crate) const INDEX_MAGIC: &[u8; 4] = b"PHXI";
pub(crate) const FORMAT_VERSION: u8 = 1;
pub(crate) const FOOTER_LEN: usize = 6 * 8 + 4 + 4;
/// Uncompressed bytes gathered before a page is compressed.
pub(crate) const PAGE_BYTES: usize = 64 << 10;
/// Series entries per compressed group of the index's series section.
pub(crate) const SERIES_PER_GROUP: usize = 128;
/// Samples per chunk in a block; long chunks compress better and blocks are read-mostly.
pub(crate) const SAMPLES_PER_CHUNK: usize = 1024;

/// Where one chunk of a series lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    pub mint: i64,
    pub maxt: i64,
    pub page: u32,
    pub offset: u32,
    pub samples: u32,
}
