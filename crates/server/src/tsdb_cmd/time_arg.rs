//! Timestamps on the command line and in reports: RFC 3339, Unix seconds, or milliseconds.

/// Help text shared by every flag that takes a time.
pub const TIME_HELP: &str = "RFC 3339 (2023-11-14T22:13:20Z, 2023-11-14T23:13:20.5+01:00), \
Unix seconds with a decimal point (1700000000.0, 1700000000.5), \
or integer Unix milliseconds (1700000000000)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time {input:?}: {reason}; expected {TIME_HELP}")]
pub struct TimeError {
    input: String,
    reason: &'static str,
}

/// Parses a time into Unix milliseconds. A bare integer is milliseconds and a number with
/// a decimal point is seconds: the decimal point is what tells the two apart.
pub fn parse_time(input: &str) -> Result<i64, TimeError> {
    let s = input.trim();
    let fail = |reason| TimeError {
        input: input.to_owned(),
        reason,
    };
    if s.is_empty() {
        return Err(fail("empty"));
    }
    let numeric = s
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_digit() || b == b'.' || (i == 0 && b == b'-'));
    if numeric {
        if s.contains('.') {
            let secs: f64 = s.parse().map_err(|_| fail("not a number"))?;
            let ms = (secs * 1000.0).round();
            if !(i64::MIN as f64..=i64::MAX as f64).contains(&ms) {
                return Err(fail("out of range"));
            }
            return Ok(ms as i64);
        }
        return s.parse().map_err(|_| fail("out of range"));
    }
    parse_rfc3339(s).ok_or_else(|| fail("not a valid RFC 3339 time"))
}

fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = s.get(at..at + n)?;
    part.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; `t` or a space may stand for `T`.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let min = digits(b, 14, 2)?;
    let sec = digits(b, 17, 2)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        // Milliseconds are the storage resolution; finer digits are truncated.
        let mut scale = 100;
        for &d in &b[start..i.min(start + 3)] {
            frac_ms += i64::from(d - b'0') * scale;
            scale /= 10;
        }
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (digits(b, i + 1, 2)?, digits(b, i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_min * 60;
    Some(secs * 1000 + frac_ms)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Unix milliseconds as RFC 3339 in UTC, with milliseconds only when non-zero.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let base = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{frac:03}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_time("1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("-5").unwrap(), -5);
        assert_eq!(parse_time("1700000000.0").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1700000000.5").unwrap(), 1_700_000_000_500);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00").unwrap(),
            1_700_000_000_500
        );
        assert_eq!(
            parse_time("2023-11-14 22:13:20.123456z").unwrap(),
            1_700_000_000_123
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_time("1969-12-31T23:59:59Z").unwrap(), -1000);
        assert_eq!(
            parse_time("2024-02-29T00:00:00-00:30").unwrap(),
            1_709_166_600_000
        );
    }

    #[test]
    fn rejects() {
        for s in [
            "",
            "yesterday",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-02-30T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0100",
            "1.2.3",
            "99999999999999999999",
            "1e30",
        ] {
            let e = parse_time(s).unwrap_err().to_string();
            assert!(e.contains("expected RFC 3339"), "{s}: {e}");
        }
    }

    #[test]
    fn format_roundtrips() {
        for ms in [
            0,
            1_700_000_000_000,
            1_700_000_000_123,
            -1,
            -86_400_000,
            951_782_400_000,
        ] {
            assert_eq!(
                parse_time(&format_time(ms)).unwrap(),
                ms,
                "{}",
                format_time(ms)
            );
        }
        assert_eq!(format_time(1_700_000_000_000), "2023-11-14T22:13:20Z");
    }
}
