//! `meta.json` of a block and block identifiers.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    pub ulid: String,
    /// First millisecond covered (inclusive).
    pub min_time: i64,
    /// End of the covered range (exclusive), as Prometheus's meta.json has it.
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: Compaction,
    pub version: u32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    pub num_samples: u64,
    pub num_series: u64,
    pub num_chunks: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Compaction {
    pub level: u32,
    pub sources: Vec<String>,
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A ULID: 48 bits of milliseconds then 80 random bits, so names sort by creation time.
pub fn new_ulid() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ms = now.as_millis() as u64 & ((1 << 48) - 1);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.as_nanos());
    let r1 = h.finish();
    h.write_u64(r1);
    let r2 = h.finish();
    let value: u128 = (u128::from(ms) << 80) | (u128::from(r1) << 16) | u128::from(r2 & 0xffff);
    (0..26)
        .rev()
        .map(|i| CROCKFORD[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ulids_are_unique_and_sortable() {
        let a = super::new_ulid();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::new_ulid();
        assert_eq!(a.len(), 26);
        assert!(a < b);
    }
}
