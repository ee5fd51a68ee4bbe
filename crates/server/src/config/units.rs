//! Prometheus duration syntax (`1d2h30m`) and byte sizes (`512MB`), with the serde glue
//! that lets config fields hold them directly.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// Duration units in the only order Prometheus accepts them, largest first.
const DURATION_UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("invalid duration {input:?}: {reason}")]
    Duration { input: String, reason: String },
    #[error("invalid size {input:?}: {reason}")]
    Size { input: String, reason: String },
}

fn duration_err(input: &str, reason: impl Into<String>) -> UnitError {
    UnitError::Duration {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

fn size_err(input: &str, reason: impl Into<String>) -> UnitError {
    UnitError::Size {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

/// A non-negative duration with millisecond resolution, written as Prometheus writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PromDuration {
    ms: u64,
}

impl PromDuration {
    pub const ZERO: PromDuration = PromDuration { ms: 0 };

    pub const fn from_millis(ms: u64) -> Self {
        PromDuration { ms }
    }

    pub const fn from_secs(s: u64) -> Self {
        PromDuration { ms: s * 1000 }
    }

    pub fn as_millis(self) -> u64 {
        self.ms
    }

    /// Milliseconds as the signed type the storage options use; saturates rather than
    /// wrapping for absurd inputs such as `100000000y`.
    pub fn as_millis_i64(self) -> i64 {
        i64::try_from(self.ms).unwrap_or(i64::MAX)
    }

    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.ms)
    }

    pub fn is_zero(self) -> bool {
        self.ms == 0
    }
}

impl std::str::FromStr for PromDuration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        parse_duration(s)
    }
}

/// Parses `[0-9]+(y|w|d|h|m|s|ms)` repeated, units descending and each at most once, or a
/// bare `0`, exactly as Prometheus's `model.ParseDuration` accepts.
pub fn parse_duration(input: &str) -> Result<PromDuration, UnitError> {
    if input.is_empty() {
        return Err(duration_err(input, "empty string"));
    }
    if input == "0" {
        return Ok(PromDuration::ZERO);
    }
    let bytes = input.as_bytes();
    let mut pos = 0;
    let mut total: u64 = 0;
    // Index into DURATION_UNITS of the next unit allowed; enforces descending order.
    let mut next_allowed = 0;
    while pos < bytes.len() {
        let start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if start == pos {
            let c = input[pos..].chars().next().unwrap_or(' ');
            return Err(duration_err(
                input,
                if c == '-' || c == '+' {
                    "durations cannot carry a sign".to_owned()
                } else {
                    format!("expected a number at {:?}", &input[pos..])
                },
            ));
        }
        let digits = &input[start..pos];
        let unit_start = pos;
        while pos < bytes.len() && !bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let unit = &input[unit_start..pos];
        if unit.is_empty() {
            return Err(duration_err(
                input,
                format!("missing unit after {digits:?} (one of y, w, d, h, m, s, ms)"),
            ));
        }
        let Some(idx) = DURATION_UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(duration_err(
                input,
                format!("unknown unit {unit:?} (one of y, w, d, h, m, s, ms)"),
            ));
        };
        if idx < next_allowed {
            return Err(duration_err(
                input,
                format!(
                    "unit {unit:?} is repeated or out of order (largest unit first, each once)"
                ),
            ));
        }
        next_allowed = idx + 1;
        let n: u64 = digits
            .parse()
            .map_err(|_| duration_err(input, "number too large"))?;
        total = n
            .checked_mul(DURATION_UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or_else(|| duration_err(input, "duration too large"))?;
    }
    Ok(PromDuration { ms: total })
}

impl fmt::Display for PromDuration {
    /// Prometheus's canonical form: `1d2h30m`, `0s` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ms == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.ms;
        for (unit, size) in DURATION_UNITS {
            // Weeks and years only when they divide evenly, as Prometheus prints them.
            if (unit == "y" || unit == "w") && !rest.is_multiple_of(size) {
                continue;
            }
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PromDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 15d, 2h or 1m30s")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PromDuration, E> {
                parse_duration(v.trim()).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PromDuration, E> {
                if v == 0 {
                    Ok(PromDuration::ZERO)
                } else {
                    Err(E::custom(format!(
                        "invalid duration {v}: a unit is required (one of y, w, d, h, m, s, ms), e.g. {v}s"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PromDuration, E> {
                if v < 0 {
                    return Err(E::custom(format!(
                        "invalid duration {v}: durations cannot be negative"
                    )));
                }
                self.visit_u64(v as u64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PromDuration, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: use whole numbers with units, e.g. 1m30s"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size in bytes. Units follow Prometheus's `--storage.tsdb.retention.size`: powers of
/// 1024 whether written `MB` or `MiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

const SIZE_UNITS: [(&str, u32); 7] = [
    ("", 0),
    ("b", 0),
    ("k", 1),
    ("m", 2),
    ("g", 3),
    ("t", 4),
    ("p", 5),
];

/// Parses `123`, `512MB`, `1.5GiB`, `10g`; the unit is case-insensitive.
pub fn parse_size(input: &str) -> Result<ByteSize, UnitError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(size_err(input, "empty string"));
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    if num.is_empty() {
        return Err(size_err(input, "expected a number first"));
    }
    let lower = unit.to_ascii_lowercase();
    let base = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b').filter(|p| !p.is_empty()))
        .unwrap_or(&lower);
    let Some(&(_, power)) = SIZE_UNITS.iter().find(|(u, _)| *u == base) else {
        return Err(size_err(
            input,
            format!("unknown unit {unit:?} (one of B, KB, MB, GB, TB, PB; KiB..PiB also accepted)"),
        ));
    };
    let mult = 1024u64.pow(power);
    let bytes = if num.contains('.') {
        let f: f64 = num
            .parse()
            .map_err(|_| size_err(input, format!("bad number {num:?}")))?;
        let v = (f * mult as f64).round();
        if !(0.0..=u64::MAX as f64).contains(&v) {
            return Err(size_err(input, "size too large"));
        }
        v as u64
    } else {
        let n: u64 = num
            .parse()
            .map_err(|_| size_err(input, "number too large"))?;
        n.checked_mul(mult)
            .ok_or_else(|| size_err(input, "size too large"))?
    };
    Ok(ByteSize(bytes))
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let mut power = 0;
        let mut v = self.0;
        while power < NAMES.len() - 1 && v >= 1024 && v.is_multiple_of(1024) {
            v /= 1024;
            power += 1;
        }
        write!(f, "{v}{}", NAMES[power])
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 512MB or 10GB, or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("invalid size {v}: sizes cannot be negative")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
                Err(E::custom(format!(
                    "invalid size {v}: bytes are counted in whole numbers"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u64 {
        parse_duration(s).unwrap().as_millis()
    }

    #[test]
    fn durations_parse() {
        assert_eq!(ms("0"), 0);
        assert_eq!(ms("0s"), 0);
        assert_eq!(ms("15d"), 15 * 86_400_000);
        assert_eq!(ms("1d2h30m"), 86_400_000 + 2 * 3_600_000 + 30 * 60_000);
        assert_eq!(ms("1m30s500ms"), 90_500);
        assert_eq!(ms("2w"), 14 * 86_400_000);
        assert_eq!(ms("1y"), 365 * 86_400_000);
        assert_eq!(ms("1h0m"), 3_600_000);
    }

    #[test]
    fn durations_reject() {
        let cases = [
            ("", "empty"),
            ("15x", "unknown unit \"x\""),
            ("15", "missing unit"),
            ("-5m", "sign"),
            ("1m1h", "out of order"),
            ("1m1m", "out of order"),
            ("1.5h", "unknown unit \".\""),
            ("h", "expected a number"),
            ("99999999999999999999y", "too large"),
            ("300000000y", "too large"),
        ];
        for (input, want) in cases {
            let err = parse_duration(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
            assert!(
                err.starts_with(&format!("invalid duration {input:?}")),
                "{err}"
            );
        }
    }

    #[test]
    fn durations_print_canonically() {
        for s in [
            "15d",
            "2h",
            "1d2h30m",
            "1m30s500ms",
            "0s",
            "2w",
            "1y",
            "10m",
        ] {
            assert_eq!(parse_duration(s).unwrap().to_string(), s);
        }
        assert_eq!(parse_duration("8d").unwrap().to_string(), "8d");
    }

    #[test]
    fn sizes_parse() {
        let cases = [
            ("0", 0),
            ("123", 123),
            ("10B", 10),
            ("1KB", 1024),
            ("1KiB", 1024),
            ("512MB", 512 << 20),
            ("10GB", 10 << 30),
            ("10gb", 10 << 30),
            ("1.5GiB", 3 << 29),
            ("2T", 2 << 40),
            ("1k", 1024),
        ];
        for (s, want) in cases {
            assert_eq!(parse_size(s).unwrap().0, want, "{s}");
        }
    }

    #[test]
    fn sizes_reject() {
        for (s, want) in [
            ("", "empty"),
            ("10XB", "unknown unit \"XB\""),
            ("MB", "number first"),
            ("1.2.3MB", "bad number"),
            ("99999999999PB", "too large"),
            ("-1MB", "number first"),
        ] {
            let err = parse_size(s).unwrap_err().to_string();
            assert!(err.contains(want), "{s:?}: {err}");
        }
    }

    #[test]
    fn sizes_print() {
        assert_eq!(ByteSize(512 << 20).to_string(), "512MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }
}
