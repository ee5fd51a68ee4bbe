//! JSON encoding of the structured columns. Kept in one place so every repository
//! reports a bad column the same way.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Result, StateError};

pub(crate) fn to_json<T: Serialize + ?Sized>(column: &'static str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|source| StateError::Json { column, source })
}

pub(crate) fn from_json<T: DeserializeOwned>(column: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|source| StateError::Json { column, source })
}

/// SQL stores counts as i64; a negative or out-of-range value means a bad row.
pub(crate) fn to_u32(column: &'static str, value: i64) -> Result<u32> {
    u32::try_from(value).map_err(|_| StateError::InvalidValue {
        column,
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_hashes_survive_json() {
        let hashes = vec![0u64, 1, u64::MAX, 1 << 63];
        let text = to_json("h", &hashes).unwrap();
        let back: Vec<u64> = from_json("h", &text).unwrap();
        assert_eq!(back, hashes);
    }

    #[test]
    fn bad_json_names_the_column() {
        let err = from_json::<Vec<u64>>("nflog.firing_alerts", "[1,").unwrap_err();
        assert!(err.to_string().contains("nflog.firing_alerts"));
    }

    #[test]
    fn u32_range() {
        assert_eq!(to_u32("c", 7).unwrap(), 7);
        assert!(to_u32("c", -1).is_err());
    }
}
