//! Go's `time.Time` and `time.Duration` as templates see them: layout-based `Format`,
//! `String`, and the methods Prometheus and Alertmanager templates call.

use crate::func::Ty;
use crate::value::{GoTime, Value};

const NANOS: i128 = 1_000_000_000;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Civil date from days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Broken-down local time of a `GoTime`.
pub(crate) struct Parts {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub nanos: u32,
    pub weekday: usize,
    pub yday: u32,
}

pub(crate) fn parts(t: &GoTime) -> Parts {
    let local = t.unix_nanos + t.offset_secs as i128 * NANOS;
    let secs = local.div_euclid(NANOS) as i64;
    let nanos = local.rem_euclid(NANOS) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let cum = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let mut yday = cum[(month - 1) as usize] + day;
    if month > 2 && is_leap(year) {
        yday += 1;
    }
    Parts {
        year,
        month,
        day,
        hour: (sod / 3600) as u32,
        min: ((sod / 60) % 60) as u32,
        sec: (sod % 60) as u32,
        nanos,
        weekday: (days + 4).rem_euclid(7) as usize,
        yday,
    }
}

fn starts_lower(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}

fn zone_offset(out: &mut String, off: i32, colon: bool, secs: bool, hours_only: bool, z: bool) {
    if z && off == 0 {
        out.push('Z');
        return;
    }
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.unsigned_abs();
    out.push(sign);
    out.push_str(&format!("{:02}", a / 3600));
    if hours_only {
        return;
    }
    if colon {
        out.push(':');
    }
    out.push_str(&format!("{:02}", (a / 60) % 60));
    if secs {
        if colon {
            out.push(':');
        }
        out.push_str(&format!("{:02}", a % 60));
    }
}

/// Go's `Time.Format(layout)`.
pub(crate) fn format(t: &GoTime, layout: &str) -> String {
    let p = parts(t);
    let mut out = String::new();
    let mut s = layout;
    while !s.is_empty() {
        let (len, piece): (usize, Option<String>) = if s.starts_with("January") {
            (7, Some(MONTHS[(p.month - 1) as usize].to_string()))
        } else if s.starts_with("Jan") && !starts_lower(&s[3..]) {
            (3, Some(MONTHS[(p.month - 1) as usize][..3].to_string()))
        } else if s.starts_with("Monday") {
            (6, Some(DAYS[p.weekday].to_string()))
        } else if s.starts_with("Mon") && !starts_lower(&s[3..]) {
            (3, Some(DAYS[p.weekday][..3].to_string()))
        } else if s.starts_with("MST") {
            let z = if t.zone.is_empty() {
                let mut z = String::new();
                zone_offset(&mut z, t.offset_secs, false, false, false, false);
                z
            } else {
                t.zone.to_string()
            };
            (3, Some(z))
        } else if s.starts_with("2006") {
            (
                4,
                Some(if p.year < 0 {
                    format!("-{:04}", -p.year)
                } else {
                    format!("{:04}", p.year)
                }),
            )
        } else if s.starts_with("002") {
            (3, Some(format!("{:03}", p.yday)))
        } else if s.starts_with("01") {
            (2, Some(format!("{:02}", p.month)))
        } else if s.starts_with("02") {
            (2, Some(format!("{:02}", p.day)))
        } else if s.starts_with("03") {
            (
                2,
                Some(format!(
                    "{:02}",
                    if p.hour.is_multiple_of(12) {
                        12
                    } else {
                        p.hour % 12
                    }
                )),
            )
        } else if s.starts_with("04") {
            (2, Some(format!("{:02}", p.min)))
        } else if s.starts_with("05") {
            (2, Some(format!("{:02}", p.sec)))
        } else if s.starts_with("06") {
            (2, Some(format!("{:02}", p.year.rem_euclid(100))))
        } else if s.starts_with("15") {
            (2, Some(format!("{:02}", p.hour)))
        } else if s.starts_with("__2") {
            (3, Some(format!("{:>3}", p.yday)))
        } else if s.starts_with("_2") && !s.starts_with("_2006") {
            (2, Some(format!("{:>2}", p.day)))
        } else if s.starts_with('1') {
            (1, Some(p.month.to_string()))
        } else if s.starts_with('2') {
            (1, Some(p.day.to_string()))
        } else if s.starts_with('3') {
            (
                1,
                Some(
                    (if p.hour.is_multiple_of(12) {
                        12
                    } else {
                        p.hour % 12
                    })
                    .to_string(),
                ),
            )
        } else if s.starts_with('4') {
            (1, Some(p.min.to_string()))
        } else if s.starts_with('5') {
            (1, Some(p.sec.to_string()))
        } else if s.starts_with("PM") {
            (2, Some(if p.hour >= 12 { "PM" } else { "AM" }.to_string()))
        } else if s.starts_with("pm") {
            (2, Some(if p.hour >= 12 { "pm" } else { "am" }.to_string()))
        } else if let Some((n, colon, secs, hours, z)) = zone_token(s) {
            let mut zs = String::new();
            zone_offset(&mut zs, t.offset_secs, colon, secs, hours, z);
            (n, Some(zs))
        } else if let Some((n, digits, nines)) = frac_token(s) {
            let sep = &s[..1];
            let frac = format!("{:09}", p.nanos);
            let mut f = frac[..digits].to_string();
            if nines {
                f = f.trim_end_matches('0').to_string();
                if f.is_empty() {
                    (n, Some(String::new()))
                } else {
                    (n, Some(format!("{sep}{f}")))
                }
            } else {
                (n, Some(format!("{sep}{f}")))
            }
        } else {
            (s.chars().next().map_or(1, char::len_utf8), None)
        };
        match piece {
            Some(x) => out.push_str(&x),
            None => out.push_str(&s[..len]),
        }
        s = &s[len..];
    }
    out
}

fn zone_token(s: &str) -> Option<(usize, bool, bool, bool, bool)> {
    for (pat, colon, secs, hours) in [
        ("070000", false, true, false),
        ("07:00:00", true, true, false),
        ("0700", false, false, false),
        ("07:00", true, false, false),
        ("07", false, false, true),
    ] {
        if let Some(rest) = s.strip_prefix('-') {
            if rest.starts_with(pat) {
                return Some((pat.len() + 1, colon, secs, hours, false));
            }
        }
        if let Some(rest) = s.strip_prefix('Z') {
            if rest.starts_with(pat) {
                return Some((pat.len() + 1, colon, secs, hours, true));
            }
        }
    }
    None
}

fn frac_token(s: &str) -> Option<(usize, usize, bool)> {
    let b = s.as_bytes();
    if b.len() < 2 || !(b[0] == b'.' || b[0] == b',') || !(b[1] == b'0' || b[1] == b'9') {
        return None;
    }
    let d = b[1];
    let mut j = 1;
    while j < b.len() && b[j] == d {
        j += 1;
    }
    if j < b.len() && b[j].is_ascii_digit() {
        return None;
    }
    Some((j, (j - 1).min(9), d == b'9'))
}

/// Go's `Time.String()` (without the monotonic clock reading).
pub(crate) fn time_string(t: &GoTime) -> String {
    format(t, "2006-01-02 15:04:05.999999999 -0700 MST")
}

fn frac(v: u64, prec: u32) -> (String, u64) {
    let mut digits = String::new();
    let mut v = v;
    let mut printed = false;
    for _ in 0..prec {
        let d = v % 10;
        printed = printed || d != 0;
        if printed {
            digits.insert(0, char::from(b'0' + d as u8));
        }
        v /= 10;
    }
    if printed {
        digits.insert(0, '.');
    }
    (digits, v)
}

/// Go's `Duration.String()`, e.g. `1h2m0.5s`, `100ms`, `0s`.
pub(crate) fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let u = d.unsigned_abs();
    let body = if u == 0 {
        return "0s".into();
    } else if u < 1_000_000_000 {
        let (unit, prec) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        let (f, int) = frac(u, prec);
        format!("{int}{f}{unit}")
    } else {
        let (f, secs) = frac(u, 9);
        let mut s = format!("{}{f}s", secs % 60);
        let mins = secs / 60;
        if mins > 0 {
            s = format!("{}m{s}", mins % 60);
            let hours = mins / 60;
            if hours > 0 {
                s = format!("{hours}h{s}");
            }
        }
        s
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// A method callable on a time or duration value from a template (`.Format "…"`).
pub(crate) struct Method {
    pub params: &'static [Ty],
    pub call: fn(&Value, &[Value]) -> Result<Value, String>,
}

fn t_of(v: &Value) -> GoTime {
    match v {
        Value::Time(t) => t.clone(),
        _ => GoTime::utc(0),
    }
}

fn d_of(v: &Value) -> i64 {
    match v {
        Value::Duration(d) => *d,
        Value::Int(i) => *i,
        _ => 0,
    }
}

fn time_method(name: &str) -> Option<Method> {
    let m = |params: &'static [Ty], call: fn(&Value, &[Value]) -> Result<Value, String>| {
        Some(Method { params, call })
    };
    match name {
        "Format" => m(&[Ty::Str], |r, a| {
            Ok(Value::str(format(&t_of(r), a[0].as_str().unwrap_or(""))))
        }),
        "String" => m(&[], |r, _| Ok(Value::str(time_string(&t_of(r))))),
        "Add" => m(&[Ty::Duration], |r, a| {
            let t = t_of(r);
            Ok(Value::Time(GoTime {
                unix_nanos: t.unix_nanos + d_of(&a[0]) as i128,
                ..t
            }))
        }),
        "Sub" => m(&[Ty::Time], |r, a| {
            let d = t_of(r).unix_nanos - t_of(&a[0]).unix_nanos;
            Ok(Value::Duration(
                d.clamp(i64::MIN as i128, i64::MAX as i128) as i64
            ))
        }),
        "Unix" => m(&[], |r, _| {
            Ok(Value::Int(t_of(r).unix_nanos.div_euclid(NANOS) as i64))
        }),
        "UnixMilli" => m(&[], |r, _| {
            Ok(Value::Int(t_of(r).unix_nanos.div_euclid(1_000_000) as i64))
        }),
        "UnixMicro" => m(&[], |r, _| {
            Ok(Value::Int(t_of(r).unix_nanos.div_euclid(1_000) as i64))
        }),
        "UnixNano" => m(&[], |r, _| Ok(Value::Int(t_of(r).unix_nanos as i64))),
        "UTC" | "Local" => m(&[], |r, _| Ok(Value::Time(GoTime::utc(t_of(r).unix_nanos)))),
        "Year" => m(&[], |r, _| Ok(Value::Int(parts(&t_of(r)).year))),
        "Month" => m(&[], |r, _| {
            Ok(Value::str(MONTHS[(parts(&t_of(r)).month - 1) as usize]))
        }),
        "Day" => m(&[], |r, _| Ok(Value::Int(parts(&t_of(r)).day as i64))),
        "Hour" => m(&[], |r, _| Ok(Value::Int(parts(&t_of(r)).hour as i64))),
        "Minute" => m(&[], |r, _| Ok(Value::Int(parts(&t_of(r)).min as i64))),
        "Second" => m(&[], |r, _| Ok(Value::Int(parts(&t_of(r)).sec as i64))),
        "Nanosecond" => m(&[], |r, _| Ok(Value::Int(parts(&t_of(r)).nanos as i64))),
        "YearDay" => m(&[], |r, _| Ok(Value::Int(parts(&t_of(r)).yday as i64))),
        "Weekday" => m(&[], |r, _| Ok(Value::str(DAYS[parts(&t_of(r)).weekday]))),
        "IsZero" => m(&[], |r, _| {
            Ok(Value::Bool(t_of(r).unix_nanos == -62_135_596_800 * NANOS))
        }),
        "Before" => m(&[Ty::Time], |r, a| {
            Ok(Value::Bool(t_of(r).unix_nanos < t_of(&a[0]).unix_nanos))
        }),
        "After" => m(&[Ty::Time], |r, a| {
            Ok(Value::Bool(t_of(r).unix_nanos > t_of(&a[0]).unix_nanos))
        }),
        "Equal" => m(&[Ty::Time], |r, a| {
            Ok(Value::Bool(t_of(r).unix_nanos == t_of(&a[0]).unix_nanos))
        }),
        _ => None,
    }
}

fn duration_method(name: &str) -> Option<Method> {
    let m =
        |call: fn(&Value, &[Value]) -> Result<Value, String>| Some(Method { params: &[], call });
    match name {
        "String" => m(|r, _| Ok(Value::str(duration_string(d_of(r))))),
        "Seconds" => m(|r, _| Ok(Value::Float(d_of(r) as f64 / 1e9))),
        "Minutes" => m(|r, _| Ok(Value::Float(d_of(r) as f64 / 6e10))),
        "Hours" => m(|r, _| Ok(Value::Float(d_of(r) as f64 / 3.6e12))),
        "Milliseconds" => m(|r, _| Ok(Value::Int(d_of(r) / 1_000_000))),
        "Microseconds" => m(|r, _| Ok(Value::Int(d_of(r) / 1_000))),
        "Nanoseconds" => m(|r, _| Ok(Value::Int(d_of(r)))),
        "Abs" => m(|r, _| Ok(Value::Duration(d_of(r).checked_abs().unwrap_or(i64::MAX)))),
        _ => None,
    }
}

/// Looks up a method on a value, as Go's reflection would find it.
pub(crate) fn method(recv: &Value, name: &str) -> Option<Method> {
    match recv {
        Value::Time(_) => time_method(name),
        Value::Duration(_) => duration_method(name),
        Value::Histogram(_) if name == "String" => Some(Method {
            params: &[],
            call: |r, _| match r {
                Value::Histogram(h) => Ok(Value::str(h.to_string())),
                _ => Ok(Value::Nil),
            },
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_reference_layouts() {
        let t = GoTime::utc(1_353_755_652 * NANOS);
        assert_eq!(
            format(&t, "Mon Jan 2 15:04:05 2006"),
            "Sat Nov 24 11:14:12 2012"
        );
        assert_eq!(time_string(&t), "2012-11-24 11:14:12 +0000 UTC");
        assert_eq!(
            format(&t, "2006-01-02T15:04:05Z07:00"),
            "2012-11-24T11:14:12Z"
        );
        assert_eq!(format(&t, "3:04PM _2 002 .000"), "11:14AM 24 329 .000");
        let t2 = GoTime::utc(1_435_065_584_128_000_000);
        assert_eq!(time_string(&t2), "2015-06-23 13:19:44.128 +0000 UTC");
        assert_eq!(
            time_string(&GoTime::utc(-NANOS)),
            "1969-12-31 23:59:59 +0000 UTC"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration_string(1_800 * 1_000_000_000), "30m0s");
        assert_eq!(duration_string(3_720_010_000_000), "1h2m0.01s");
        assert_eq!(duration_string(100_000_000), "100ms");
        assert_eq!(duration_string(1_500), "1.5µs");
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(-1_000_000_000), "-1s");
    }
}
