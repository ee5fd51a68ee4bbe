//! Prometheus-style durations (`1h30m`, `5m`, `0`), as Alertmanager's config
//! uses for `group_wait`, `resolve_timeout` and friends.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::DurationError;

/// A duration written in Prometheus syntax. Kept as milliseconds because that
/// is the finest unit the syntax allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration(Duration);

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

impl PromDuration {
    pub const fn from_secs(s: u64) -> Self {
        PromDuration(Duration::from_secs(s))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses the syntax of Prometheus's `model.ParseDuration`: units must
    /// appear at most once each and in descending order.
    pub fn parse(s: &str) -> Result<Self, DurationError> {
        let invalid = || DurationError::Invalid(s.to_string());
        if s == "0" {
            return Ok(PromDuration(Duration::ZERO));
        }
        if s.is_empty() {
            return Err(invalid());
        }
        let bytes = s.as_bytes();
        let mut pos = 0;
        let mut next_unit = 0;
        let mut total: u64 = 0;
        while pos < bytes.len() {
            let start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            if start == pos {
                return Err(invalid());
            }
            let n: u64 = s[start..pos]
                .parse()
                .map_err(|_| DurationError::OutOfRange)?;
            let ustart = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
                pos += 1;
            }
            let unit = &s[ustart..pos];
            let idx = UNITS[next_unit..]
                .iter()
                .position(|(u, _)| *u == unit)
                .map(|i| i + next_unit)
                .ok_or_else(invalid)?;
            next_unit = idx + 1;
            let ms = n
                .checked_mul(UNITS[idx].1)
                .and_then(|v| total.checked_add(v))
                .ok_or(DurationError::OutOfRange)?;
            // Go keeps durations in an i64 of nanoseconds.
            if ms > (i64::MAX as u64) / 1_000_000 {
                return Err(DurationError::OutOfRange);
            }
            total = ms;
        }
        Ok(PromDuration(Duration::from_millis(total)))
    }
}

impl From<Duration> for PromDuration {
    fn from(d: Duration) -> Self {
        PromDuration(d)
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in UNITS {
            if ms >= size {
                write!(f, "{}{}", ms / size, unit)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PromDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        for (s, secs) in [
            ("0", 0),
            ("30s", 30),
            ("5m", 300),
            ("4h", 14400),
            ("1h30m", 5400),
            ("1d", 86400),
            ("2w", 1_209_600),
        ] {
            let d = PromDuration::parse(s).unwrap();
            assert_eq!(d.as_duration(), Duration::from_secs(secs), "{s}");
        }
        assert_eq!(PromDuration::parse("1h30m").unwrap().to_string(), "1h30m");
        assert_eq!(PromDuration::parse("90m").unwrap().to_string(), "1h30m");
        assert_eq!(PromDuration::parse("0").unwrap().to_string(), "0s");
        assert_eq!(
            PromDuration::parse("1500ms").unwrap().to_string(),
            "1s500ms"
        );
    }

    #[test]
    fn rejects_bad_syntax() {
        for s in ["", "1", "m", "5m1h", "1.5h", "-1s", "1hh", " 1s", "1x"] {
            let e = PromDuration::parse(s).unwrap_err();
            assert_eq!(e.to_string(), format!("not a valid duration string: {s:?}"));
        }
        assert!(matches!(
            PromDuration::parse("99999999999y"),
            Err(DurationError::OutOfRange)
        ));
    }
}
