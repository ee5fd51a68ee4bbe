//! Time intervals (`time_intervals:` / legacy `mute_time_intervals:`) and
//! their evaluation at an instant, with Alertmanager's semantics: every
//! listed field must match (an absent field matches everything), start times
//! inclusive and end times exclusive, `24:00` allowed as an end, negative
//! days of month counted from the month's end, all evaluated in the
//! interval's `location` (IANA name, default UTC).

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use regex::Regex;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::TimeIntervalError;

/// One `time_intervals` entry of a named interval.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeInterval {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<Vec<TimeRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<WeekdayRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_month: Option<Vec<DayOfMonthRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<Vec<MonthRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<Vec<YearRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// Minutes since midnight, `start` inclusive, `end` exclusive (max 1440).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub start_minute: u32,
    pub end_minute: u32,
}

/// Inclusive range of weekdays, 0 = Sunday … 6 = Saturday.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeekdayRange {
    pub begin: i32,
    pub end: i32,
}

/// Inclusive range of days of the month; negatives count from the end
/// (-1 = last day).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayOfMonthRange {
    pub begin: i32,
    pub end: i32,
}

/// Inclusive range of months, 1 = January.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonthRange {
    pub begin: i32,
    pub end: i32,
}

/// Inclusive range of years.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YearRange {
    pub begin: i32,
    pub end: i32,
}

/// Where an interval's clock runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Utc,
    /// The host's local zone (Go's `Local`).
    Local,
    Tz(chrono_tz::Tz),
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month_name(n: i32) -> &'static str {
    if (1..=12).contains(&n) {
        MONTHS[(n - 1) as usize]
    } else {
        ""
    }
}

/// Go's `strconv.Atoi`, including its error text.
fn atoi(s: &str) -> Result<i32, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i32>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

/// Splits `a:b` (or `a`) and converts both ends with `member`.
fn parse_range(
    input: &str,
    member: impl Fn(&str) -> Result<i32, String>,
) -> Result<(i32, i32), String> {
    let lower = input.to_lowercase();
    if lower.contains(':') {
        let parts: Vec<&str> = lower.split(':').collect();
        if parts.len() != 2 {
            return Err(format!("couldn't parse range {lower}, invalid format"));
        }
        Ok((member(parts[0])?, member(parts[1])?))
    } else {
        let v = member(&lower)?;
        Ok((v, v))
    }
}

impl WeekdayRange {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (begin, end) = parse_range(s, |p| {
            WEEKDAYS
                .iter()
                .position(|d| *d == p)
                .map(|i| i as i32)
                .ok_or_else(|| format!("{p} is not a valid weekday"))
        })?;
        if begin > end {
            return Err("start day cannot be before end day".to_string());
        }
        Ok(WeekdayRange { begin, end })
    }
}

impl DayOfMonthRange {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (begin, end) = parse_range(s, atoi)?;
        for v in [begin, end] {
            if v == 0 || !(-31..=31).contains(&v) {
                return Err(format!("{v} is not a valid day of the month: out of range"));
            }
        }
        if begin < 0 && end > 0 {
            return Err("end day must be negative if start day is negative".to_string());
        }
        // Compare as if in a 28-day month, the only month length where
        // every combination is meaningful.
        let cb = if begin < 0 { 28 + begin } else { begin };
        let ce = if end < 0 { 28 + end } else { end };
        if cb > ce {
            return Err(format!("end day {end} is always before start day {begin}"));
        }
        Ok(DayOfMonthRange { begin, end })
    }
}

impl MonthRange {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (begin, end) = parse_range(s, |p| match MONTHS.iter().position(|m| *m == p) {
            Some(i) => Ok(i as i32 + 1),
            None => atoi(p).map_err(|_| format!("{p} is not a valid month")),
        })?;
        if begin > end {
            return Err(format!(
                "end month {} is before start month {}",
                month_name(end),
                month_name(begin)
            ));
        }
        Ok(MonthRange { begin, end })
    }
}

impl YearRange {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (begin, end) = parse_range(s, atoi)?;
        if begin > end {
            return Err(format!("end year {end} is before start year {begin}"));
        }
        Ok(YearRange { begin, end })
    }
}

fn valid_time_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)").expect("static regex")
    })
}

fn parse_clock(s: &str) -> Result<u32, String> {
    if !valid_time_re().is_match(s) {
        return Err(format!("couldn't parse timestamp {s}, invalid format"));
    }
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("invalid timestamp format: {s}"))?;
    let h: u32 = h
        .parse()
        .map_err(|_| format!("invalid timestamp format: {s}"))?;
    let m: u32 = m
        .parse()
        .map_err(|_| format!("invalid timestamp format: {s}"))?;
    Ok(h * 60 + m)
}

impl TimeRange {
    pub fn parse(start: &str, end: &str) -> Result<Self, String> {
        if start.is_empty() || end.is_empty() {
            return Err("both start and end times must be provided".to_string());
        }
        let s = parse_clock(start)?;
        let e = parse_clock(end)?;
        if s >= e {
            return Err("start time cannot be equal or greater than end time".to_string());
        }
        Ok(TimeRange {
            start_minute: s,
            end_minute: e,
        })
    }
}

impl Location {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "" | "UTC" => Ok(Location::Utc),
            "Local" => Ok(Location::Local),
            _ => s
                .parse::<chrono_tz::Tz>()
                .map(Location::Tz)
                .map_err(|_| format!("unknown time zone {s}")),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Utc => f.write_str("UTC"),
            Location::Local => f.write_str("Local"),
            Location::Tz(tz) => f.write_str(tz.name()),
        }
    }
}

/// The calendar fields of an instant in some zone.
struct Civil {
    minute_of_day: u32,
    day: i32,
    days_in_month: i32,
    month: i32,
    weekday: i32,
    year: i32,
}

fn civil<T: Datelike + Timelike>(t: &T) -> Civil {
    let (y, m) = (t.year(), t.month());
    let first_next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    let days_in_month = first_next
        .and_then(|d| d.pred_opt())
        .map(|d| d.day() as i32)
        .unwrap_or(31);
    Civil {
        minute_of_day: t.hour() * 60 + t.minute(),
        day: t.day() as i32,
        days_in_month,
        month: m as i32,
        weekday: t.weekday().num_days_from_sunday() as i32,
        year: y,
    }
}

impl TimeInterval {
    /// Whether `t` falls inside this interval.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let c = match self.location.unwrap_or(Location::Utc) {
            Location::Utc => civil(&t),
            Location::Local => civil(&t.with_timezone(&chrono::Local)),
            Location::Tz(tz) => civil(&t.with_timezone(&tz)),
        };
        if let Some(times) = &self.times {
            if !times
                .iter()
                .any(|r| c.minute_of_day >= r.start_minute && c.minute_of_day < r.end_minute)
            {
                return false;
            }
        }
        if let Some(days) = &self.days_of_month {
            let dim = c.days_in_month;
            let hit = days.iter().any(|r| {
                let mut begin = if r.begin < 0 {
                    dim + r.begin + 1
                } else {
                    r.begin
                };
                let mut end = if r.end < 0 { dim + r.end + 1 } else { r.end };
                // A range starting after the month's last day cannot match.
                if begin > dim {
                    return false;
                }
                begin = begin.clamp(-dim, dim);
                end = end.clamp(-dim, dim);
                c.day >= begin && c.day <= end
            });
            if !hit {
                return false;
            }
        }
        if let Some(months) = &self.months {
            if !months
                .iter()
                .any(|r| c.month >= r.begin && c.month <= r.end)
            {
                return false;
            }
        }
        if let Some(wd) = &self.weekdays {
            if !wd
                .iter()
                .any(|r| c.weekday >= r.begin && c.weekday <= r.end)
            {
                return false;
            }
        }
        if let Some(years) = &self.years {
            if !years.iter().any(|r| c.year >= r.begin && c.year <= r.end) {
                return false;
            }
        }
        true
    }
}

/// Named intervals, as declared by `time_intervals` and
/// `mute_time_intervals`, answering "is this route muted / active now".
#[derive(Clone, Debug, Default)]
pub struct Intervener {
    intervals: HashMap<String, Vec<TimeInterval>>,
}

impl Intervener {
    pub fn new(intervals: HashMap<String, Vec<TimeInterval>>) -> Self {
        Intervener { intervals }
    }

    /// Returns whether any named interval contains `now`, and which ones do.
    pub fn contains_any(
        &self,
        names: &[String],
        now: DateTime<Utc>,
    ) -> Result<(bool, Vec<String>), TimeIntervalError> {
        let mut hit = Vec::new();
        for name in names {
            let set = self
                .intervals
                .get(name)
                .ok_or_else(|| TimeIntervalError::Unknown(name.clone()))?;
            if set.iter().any(|ti| ti.contains(now)) {
                hit.push(name.clone());
            }
        }
        Ok((!hit.is_empty(), hit))
    }
}

/// A scalar's source text: serde_yaml hands it to a string visitor for
/// numbers too, as Go's decoder does (`days_of_month: [1, '5:10']`).
pub(crate) fn scalar_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d)
}

macro_rules! range_serde {
    ($t:ty, $show:expr) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = scalar_text(d)?;
                <$t>::parse(&s).map_err(de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let show: fn(i32) -> String = $show;
                if self.begin == self.end {
                    s.serialize_str(&show(self.begin))
                } else {
                    s.serialize_str(&format!("{}:{}", show(self.begin), show(self.end)))
                }
            }
        }
    };
}

range_serde!(WeekdayRange, |n| WEEKDAYS
    .get(n as usize)
    .map(|s| s.to_string())
    .unwrap_or_else(|| n.to_string()));
range_serde!(DayOfMonthRange, |n| n.to_string());
range_serde!(MonthRange, |n| n.to_string());
range_serde!(YearRange, |n| n.to_string());

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawTimeRange {
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    end_time: Option<String>,
}

impl<'de> Deserialize<'de> for TimeRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawTimeRange::deserialize(d)?;
        TimeRange::parse(
            raw.start_time.as_deref().unwrap_or(""),
            raw.end_time.as_deref().unwrap_or(""),
        )
        .map_err(de::Error::custom)
    }
}

impl Serialize for TimeRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        RawTimeRange {
            start_time: Some(f(self.start_minute)),
            end_time: Some(f(self.end_minute)),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Location::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for Location {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
#[path = "timeinterval_tests.rs"]
mod tests;
