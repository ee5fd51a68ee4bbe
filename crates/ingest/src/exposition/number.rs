//! Sample values and timestamps as the two formats spell them.
//!
//! Values follow Go's `strconv.ParseFloat`, which is what Prometheus uses for both
//! formats, minus the hexadecimal and underscore forms Prometheus rejects: decimal and
//! exponent notation, `NaN` and signed or unsigned `Inf`/`Infinity` in any case. Rust's
//! float parser accepts the same language except that it also takes a signed `NaN` and
//! turns overflowing literals into infinities; both are rejected here.
//!
//! Timestamps differ per format: integer milliseconds in the text format, (possibly
//! fractional) seconds in OpenMetrics. Seconds written as plain decimals are converted
//! digit by digit so that `1520879607.789` is exactly 1520879607789 ms, which going
//! through `f64` (as Prometheus does) gets wrong for some inputs.

/// Why a number could not be read; the caller words the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberError {
    /// Not a number in the format's syntax.
    Syntax,
    /// Well-formed, but outside what an `f64` or an `i64` of milliseconds holds.
    OutOfRange,
    /// A timestamp spelled as `NaN` or an infinity.
    NotFinite,
}

/// Integers of up to this many digits convert to `f64` exactly (10^15 < 2^53).
const EXACT_INT_DIGITS: usize = 15;

/// Parses a sample or exemplar value. NaN always comes back as the one canonical
/// `f64::NAN`, so no input can produce the staleness marker's bit pattern.
#[inline]
pub(crate) fn parse_value(s: &str) -> Result<f64, NumberError> {
    let b = s.as_bytes();
    // Most values on the wire are small integers (counters, bucket counts, gauges of
    // whole units); converting those directly skips the general algorithm.
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if !digits.is_empty() && digits.len() <= EXACT_INT_DIGITS {
        let mut n: u64 = 0;
        let mut all_digits = true;
        for &d in digits {
            let v = d.wrapping_sub(b'0');
            if v > 9 {
                all_digits = false;
                break;
            }
            n = n * 10 + u64::from(v);
        }
        if all_digits {
            let f = n as f64;
            return Ok(if neg { -f } else { f });
        }
    }
    parse_value_slow(s)
}

fn parse_value_slow(s: &str) -> Result<f64, NumberError> {
    let b = s.as_bytes();
    // Rust's parser takes "+nan" and "-nan"; Go (and the OpenMetrics grammar, whose
    // NaN has no sign) does not.
    let unsigned = match b.first() {
        Some(b'+') | Some(b'-') => &s[1..],
        _ => s,
    };
    if unsigned.len() != s.len() && unsigned.eq_ignore_ascii_case("nan") {
        return Err(NumberError::Syntax);
    }
    let v: f64 = s.parse().map_err(|_| NumberError::Syntax)?;
    if v.is_nan() {
        return Ok(f64::NAN);
    }
    // A digit means a numeric literal rather than `Inf`; one that overflowed to
    // infinity is out of range, as Go reports it.
    if v.is_infinite() && b.iter().any(u8::is_ascii_digit) {
        return Err(NumberError::OutOfRange);
    }
    Ok(v)
}

/// Parses a text-format timestamp: an `int64` of milliseconds, optionally signed, as
/// Go's `strconv.ParseInt(s, 10, 64)` reads it.
#[inline]
pub(crate) fn parse_timestamp_ms(s: &str) -> Result<i64, NumberError> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(NumberError::Syntax);
    }
    // Accumulate negatively so that i64::MIN, whose magnitude i64 cannot hold, parses.
    let mut n: i64 = 0;
    for &d in digits {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_sub(i64::from(d - b'0')))
            .ok_or(NumberError::OutOfRange)?;
    }
    if neg {
        Ok(n)
    } else {
        n.checked_neg().ok_or(NumberError::OutOfRange)
    }
}

/// Parses an OpenMetrics timestamp (seconds, `realnumber` in the grammar) into whole
/// milliseconds, truncating toward zero as Prometheus's `int64(ts * 1000)` does.
pub(crate) fn parse_timestamp_seconds(s: &str) -> Result<i64, NumberError> {
    let b = s.as_bytes();
    let (neg, rest) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let int_len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let (int_part, after_int) = rest.split_at(int_len);
    let (frac, after_frac) = match after_int.split_first() {
        Some((b'.', tail)) => {
            let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            tail.split_at(n)
        }
        _ => (&after_int[..0], after_int),
    };
    if int_part.is_empty() && frac.is_empty() {
        // Not a realnumber; say why if it is one of the non-finite spellings.
        let word = &s[usize::from(b.len() != rest.len())..];
        if ["nan", "inf", "infinity"]
            .iter()
            .any(|w| word.eq_ignore_ascii_case(w))
        {
            return Err(NumberError::NotFinite);
        }
        return Err(NumberError::Syntax);
    }
    match after_frac.first() {
        None => {}
        Some(b'e') | Some(b'E') => return exponent_seconds(s, &after_frac[1..]),
        Some(_) => return Err(NumberError::Syntax),
    }
    // Plain decimal: whole seconds and the first three fractional digits, exactly.
    // i128 holds any i64 of milliseconds with room to detect overflow; more than 20
    // integer digits (ignoring leading zeros) cannot fit anyway.
    let zeros = int_part.iter().take_while(|&&c| c == b'0').count();
    let significant = &int_part[zeros..];
    if significant.len() > 20 {
        return Err(NumberError::OutOfRange);
    }
    let mut ms: i128 = 0;
    for &d in significant {
        ms = ms * 10 + i128::from(d - b'0');
    }
    ms *= 1000;
    let mut scale = 100;
    for &d in frac.iter().take(3) {
        ms += i128::from(d - b'0') * scale;
        scale /= 10;
    }
    if neg {
        ms = -ms;
    }
    i64::try_from(ms).map_err(|_| NumberError::OutOfRange)
}

/// A timestamp in exponent notation: rare enough to go through `f64`.
fn exponent_seconds(s: &str, exp: &[u8]) -> Result<i64, NumberError> {
    let digits = match exp.first() {
        Some(b'+') | Some(b'-') => &exp[1..],
        _ => exp,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(NumberError::Syntax);
    }
    let secs: f64 = s.parse().map_err(|_| NumberError::Syntax)?;
    let ms = secs * 1000.0;
    // 2^63 as f64; `as` would saturate silently, so out-of-range (and NaN, which no
    // range contains) is caught here.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&ms) {
        return Err(NumberError::OutOfRange);
    }
    Ok(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let ok: &[(&str, f64)] = &[
            ("0", 0.0),
            ("17", 17.0),
            ("-3", -3.0),
            ("0042", 42.0),
            ("123456789012345", 123456789012345.0),
            ("1234567890123456789", 1234567890123456789.0),
            ("1.5", 1.5),
            ("-0.25", -0.25),
            ("+7", 7.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("4.20072246e+06", 4200722.46),
            ("1.7560473e+07", 17560473.0),
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("Inf", f64::INFINITY),
            ("inf", f64::INFINITY),
            ("+infinity", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("1e-400", 0.0),
        ];
        for (s, want) in ok {
            assert_eq!(parse_value(s), Ok(*want), "{s}");
        }
        assert_eq!(parse_value("-0").unwrap().to_bits(), (-0.0f64).to_bits());
        for s in ["NaN", "nan", "NAN"] {
            assert_eq!(parse_value(s).unwrap().to_bits(), f64::NAN.to_bits(), "{s}");
        }
        for s in [
            "", "-", "+", ".", "e5", "1e", "1e+", "0x10", "0x1p-2", "1_000", "1,5", "+NaN", "-nan",
            "abc", "1.2.3", "Infx", "--1", " 1", "1 ",
        ] {
            assert_eq!(parse_value(s), Err(NumberError::Syntax), "{s:?}");
        }
        assert_eq!(parse_value("1e400"), Err(NumberError::OutOfRange));
        assert_eq!(parse_value("-1e400"), Err(NumberError::OutOfRange));
    }

    #[test]
    fn text_timestamps() {
        assert_eq!(parse_timestamp_ms("1395066363000"), Ok(1395066363000));
        assert_eq!(parse_timestamp_ms("-3982045"), Ok(-3982045));
        assert_eq!(parse_timestamp_ms("+5"), Ok(5));
        assert_eq!(parse_timestamp_ms("0"), Ok(0));
        assert_eq!(parse_timestamp_ms("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_timestamp_ms("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(
            parse_timestamp_ms("9223372036854775808"),
            Err(NumberError::OutOfRange)
        );
        for s in ["", "-", "1.5", "1e3", "12a", "0x1", "NaN"] {
            assert_eq!(parse_timestamp_ms(s), Err(NumberError::Syntax), "{s:?}");
        }
    }

    #[test]
    fn openmetrics_timestamps() {
        let ok: &[(&str, i64)] = &[
            ("1520879607.789", 1520879607789),
            ("1520879607", 1520879607000),
            ("1520430000.123", 1520430000123),
            ("1604676851.123456789", 1604676851123),
            ("0.0015", 1),
            ("-1.5", -1500),
            ("-0.0009", 0),
            (".5", 500),
            ("5.", 5000),
            ("+2", 2000),
            ("000123", 123000),
            ("1.5e3", 1500000),
            ("1E-3", 1),
            ("9223372036854775.807", i64::MAX),
            ("-9223372036854775.808", i64::MIN),
        ];
        for (s, want) in ok {
            assert_eq!(parse_timestamp_seconds(s), Ok(*want), "{s}");
        }
        for s in ["NaN", "+Inf", "-inf", "Infinity"] {
            assert_eq!(
                parse_timestamp_seconds(s),
                Err(NumberError::NotFinite),
                "{s}"
            );
        }
        for s in [
            "", ".", "-", "1.2.3", "1e", "1e+", "abc", "0x10", "1_0", "1 ",
        ] {
            assert_eq!(
                parse_timestamp_seconds(s),
                Err(NumberError::Syntax),
                "{s:?}"
            );
        }
        for s in [
            "9223372036854775.808",
            "99999999999999999999999",
            "1e300",
            "-1e17",
        ] {
            assert_eq!(
                parse_timestamp_seconds(s),
                Err(NumberError::OutOfRange),
                "{s}"
            );
        }
    }
}
