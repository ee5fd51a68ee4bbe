//! Calendar functions (`year()`, `month()`, `day_of_week()`, …) of Unix timestamps,
//! in UTC on the proleptic Gregorian calendar, as Go's `time` package computes them.
//!
//! The civil date is derived arithmetically from the day count since the epoch, which
//! is exact for every timestamp an `i64` of seconds can hold and needs no time-zone
//! database or date library.

const SECONDS_PER_DAY: i64 = 86_400;

/// A broken-down UTC time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    /// 1..=12
    month: u32,
    /// 1..=31
    day: u32,
    /// 0 = Sunday .. 6 = Saturday
    weekday: u32,
    hour: u32,
    minute: u32,
}

/// Evaluates the calendar function `name` for `t_seconds` since the epoch; `None` if
/// `name` is not a calendar function.
///
/// Like Prometheus, the timestamp is truncated towards zero to whole seconds first, so
/// -0.5 is still 1970-01-01 and -1.5 is 1969-12-31 23:59:59. NaN, ±Inf and values beyond
/// the range of an `i64` give NaN: Prometheus converts them to an integer in a
/// platform-specific way and reports a meaningless date.
pub fn date_function(name: &str, t_seconds: f64) -> Option<f64> {
    let field: fn(&Civil) -> f64 = match name {
        "day_of_month" => |c| f64::from(c.day),
        "day_of_week" => |c| f64::from(c.weekday),
        "day_of_year" => |c| f64::from(day_of_year(c.year, c.month, c.day)),
        "days_in_month" => |c| f64::from(days_in_month(c.year, c.month)),
        "hour" => |c| f64::from(c.hour),
        "minute" => |c| f64::from(c.minute),
        "month" => |c| f64::from(c.month),
        "year" => |c| c.year as f64,
        _ => return None,
    };
    // 2^63 is the first value an i64 cannot hold; -2^63 still fits.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&t_seconds) {
        return Some(f64::NAN);
    }
    // `as` truncates towards zero, which is Go's float-to-int conversion.
    let civil = civil_from_unix(t_seconds as i64);
    Some(field(&civil))
}

fn civil_from_unix(secs: i64) -> Civil {
    let days = secs.div_euclid(SECONDS_PER_DAY);
    let second_of_day = secs.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as u32,
        hour: (second_of_day / 3600) as u32,
        minute: (second_of_day % 3600 / 60) as u32,
    }
}

/// Year, month and day of the day `days` after 1970-01-01.
///
/// Works on 400-year eras (146 097 days) of years that start on 1 March, so the leap
/// day is the last day of its year and every month length except February's is fixed:
/// the day of the year then maps to the month by a linear formula.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the origin to 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // 0..=399
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..=365
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March .. 11 = February
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// 1-based day of the year.
fn day_of_year(year: i64, month: u32, day: u32) -> u32 {
    (1..month).map(|m| days_in_month(year, m)).sum::<u32>() + day
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 8] = [
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "hour",
        "minute",
        "month",
        "year",
    ];

    fn f(name: &str, t: f64) -> f64 {
        date_function(name, t).expect(name)
    }

    /// All eight fields in the order of `NAMES`.
    fn all(t: f64) -> [f64; 8] {
        NAMES.map(|n| f(n, t))
    }

    #[test]
    fn cases_from_functions_test() {
        assert_eq!(f("year", 0.0), 1970.0);
        assert_eq!(f("month", 0.0), 1.0);
        assert_eq!(f("day_of_month", 0.0), 1.0);
        assert_eq!(f("day_of_year", 0.0), 1.0);
        assert_eq!(f("day_of_week", 0.0), 4.0);
        assert_eq!(f("hour", 0.0), 0.0);
        assert_eq!(f("minute", 0.0), 0.0);

        let t = 1136239445.0; // 2006-01-02 22:04:05, a Monday
        assert_eq!(f("year", t), 2006.0);
        assert_eq!(f("month", t), 1.0);
        assert_eq!(f("day_of_month", t), 2.0);
        assert_eq!(f("day_of_year", t), 2.0);
        assert_eq!(f("day_of_week", t), 1.0);
        assert_eq!(f("hour", t), 22.0);
        assert_eq!(f("minute", t), 4.0);

        assert_eq!(f("year", 1230767999.0), 2008.0);
        assert_eq!(f("year", 1230768000.0), 2009.0);
        let t = 1456790399.0;
        assert_eq!(f("month", t) + f("day_of_month", t) / 100.0, 2.29);
        let t = 1456790400.0;
        assert_eq!(f("month", t) + f("day_of_month", t) / 100.0, 3.01);
        assert_eq!(f("day_of_year", 1483191420.0), 366.0);
        assert_eq!(f("day_of_year", 1672493820.0), 365.0);
        assert_eq!(f("days_in_month", 1454284800.0), 29.0);
        assert_eq!(f("days_in_month", 1485907200.0), 28.0);
    }

    #[test]
    fn boundaries_and_leap_years() {
        // [day_of_month, day_of_week, day_of_year, days_in_month, hour, minute, month, year]
        let cases: [(f64, [f64; 8]); 14] = [
            (0.0, [1.0, 4.0, 1.0, 31.0, 0.0, 0.0, 1.0, 1970.0]),
            // 2024-02-29 00:00:00 and 23:59:59, Thursday
            (1709164800.0, [29.0, 4.0, 60.0, 29.0, 0.0, 0.0, 2.0, 2024.0]),
            (
                1709251199.0,
                [29.0, 4.0, 60.0, 29.0, 23.0, 59.0, 2.0, 2024.0],
            ),
            // 2024-03-01 00:00:00, Friday
            (1709251200.0, [1.0, 5.0, 61.0, 31.0, 0.0, 0.0, 3.0, 2024.0]),
            // 2000-12-31 23:59:59, Sunday, day 366 of a leap year divisible by 400
            (
                978307199.0,
                [31.0, 0.0, 366.0, 31.0, 23.0, 59.0, 12.0, 2000.0],
            ),
            (978307200.0, [1.0, 1.0, 1.0, 31.0, 0.0, 0.0, 1.0, 2001.0]),
            // 2000-02-29, Tuesday
            (951782400.0, [29.0, 2.0, 60.0, 29.0, 0.0, 0.0, 2.0, 2000.0]),
            // 1900-02-28, Wednesday: 1900 is not a leap year
            (
                -2203977600.0,
                [28.0, 3.0, 59.0, 28.0, 0.0, 0.0, 2.0, 1900.0],
            ),
            // 2100-03-01, Monday: neither is 2100
            (4107542400.0, [1.0, 1.0, 60.0, 31.0, 0.0, 0.0, 3.0, 2100.0]),
            // 1969-12-31 23:59:59, Wednesday
            (-1.0, [31.0, 3.0, 365.0, 31.0, 23.0, 59.0, 12.0, 1969.0]),
            // 1969-01-01, Wednesday
            (-31536000.0, [1.0, 3.0, 1.0, 31.0, 0.0, 0.0, 1.0, 1969.0]),
            // 9999-12-31 23:59:59, Friday
            (
                253402300799.0,
                [31.0, 5.0, 365.0, 31.0, 23.0, 59.0, 12.0, 9999.0],
            ),
            // 0001-01-01, Monday
            (-62135596800.0, [1.0, 1.0, 1.0, 31.0, 0.0, 0.0, 1.0, 1.0]),
            // 0000-01-01, Saturday: year 0 (1 BC) is a leap year
            (-62167219200.0, [1.0, 6.0, 1.0, 31.0, 0.0, 0.0, 1.0, 0.0]),
        ];
        for (t, want) in cases {
            assert_eq!(all(t), want, "t={t}");
        }
        assert_eq!(f("days_in_month", -62167219200.0 + 31.0 * 86400.0), 29.0);
        assert_eq!(f("year", -62167219201.0), -1.0);
    }

    #[test]
    fn fractional_seconds_truncate_towards_zero() {
        assert_eq!(all(-0.5), all(0.0));
        assert_eq!(all(-1.5), all(-1.0));
        assert_eq!(all(59.999), all(59.0));
        assert_eq!(f("minute", 3599.9), 59.0);
        assert_eq!(f("hour", 3599.9), 0.0);
    }

    #[test]
    fn non_finite_and_out_of_range_give_nan() {
        for name in NAMES {
            for t in [
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                1e19,
                -1e19,
                9.3e18,
            ] {
                assert!(f(name, t).is_nan(), "{name}({t})");
            }
            // The extremes that still fit in an i64 are computed.
            assert!(!f(name, 9.2e18).is_nan(), "{name}");
            assert!(!f(name, -9_223_372_036_854_775_808.0).is_nan(), "{name}");
        }
        // About 292 billion years either side.
        assert!(f("year", 9.2e18) > 2.9e11);
        assert!(f("year", -9.2e18) < -2.9e11);
    }

    #[test]
    fn unknown_names() {
        for name in ["", "time", "Year", "weekday", "day_of_weeks", "timestamp"] {
            assert_eq!(date_function(name, 0.0), None, "{name}");
            assert_eq!(date_function(name, f64::NAN), None, "{name}");
        }
    }

    /// Inverse of `civil_from_days`, by counting days directly, to cross-check it.
    fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
        let y = year - i64::from(month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    #[test]
    fn consecutive_days_advance_by_one() {
        // Walk 1600-01-01 .. 2401-01-01 day by day and check the calendar's rules.
        let start = days_from_civil(1600, 1, 1);
        let mut prev = civil_from_days(start - 1);
        assert_eq!(prev, (1599, 12, 31));
        for d in start..days_from_civil(2401, 1, 1) {
            let cur = civil_from_days(d);
            let (py, pm, pd) = prev;
            let expected = if pd < days_in_month(py, pm) {
                (py, pm, pd + 1)
            } else if pm < 12 {
                (py, pm + 1, 1)
            } else {
                (py + 1, 1, 1)
            };
            assert_eq!(cur, expected, "day {d}");
            assert_eq!(days_from_civil(cur.0, cur.1, cur.2), d);
            prev = cur;
        }
    }

    mod props {
        use super::super::*;
        use super::{days_from_civil, NAMES};
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics(t in any::<f64>()) {
                for name in NAMES {
                    let _ = date_function(name, t);
                }
            }

            #[test]
            fn fields_are_in_range(secs in any::<i64>()) {
                let c = civil_from_unix(secs);
                prop_assert!((1..=12).contains(&c.month));
                prop_assert!(c.day >= 1 && c.day <= days_in_month(c.year, c.month));
                prop_assert!(c.weekday <= 6 && c.hour <= 23 && c.minute <= 59);
                let days = secs.div_euclid(SECONDS_PER_DAY);
                prop_assert_eq!(days_from_civil(c.year, c.month, c.day), days);
            }
        }
    }
}
