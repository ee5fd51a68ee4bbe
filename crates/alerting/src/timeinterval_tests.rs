//! Known answers for interval evaluation, worked out by hand from
//! Alertmanager's documented semantics and its unit-test tables.

use super::*;
use chrono::TimeZone;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn ti(yaml: &str) -> TimeInterval {
    serde_yaml::from_str(yaml).unwrap()
}

#[test]
fn times_end_exclusive_and_midnight() {
    let t = ti("times: [{start_time: '09:00', end_time: '17:00'}]");
    assert!(t.contains(at("2024-03-04T09:00:00Z")));
    assert!(t.contains(at("2024-03-04T16:59:59Z")));
    assert!(!t.contains(at("2024-03-04T17:00:00Z")));
    assert!(!t.contains(at("2024-03-04T08:59:59Z")));
    let late = ti("times: [{start_time: '22:00', end_time: '24:00'}]");
    assert!(late.contains(at("2024-03-04T23:59:00Z")));
    assert!(!late.contains(at("2024-03-05T00:00:00Z")));
}

#[test]
fn weekdays_months_years() {
    let t = ti(
        "weekdays: ['monday:friday']\nmonths: ['january:march', 'december']\nyears: ['2023:2024']",
    );
    // 2024-03-04 is a Monday.
    assert!(t.contains(at("2024-03-04T12:00:00Z")));
    // Saturday.
    assert!(!t.contains(at("2024-03-09T12:00:00Z")));
    // April.
    assert!(!t.contains(at("2024-04-01T12:00:00Z")));
    // December 2023, a Friday.
    assert!(t.contains(at("2023-12-01T12:00:00Z")));
    // Out of years.
    assert!(!t.contains(at("2025-01-06T12:00:00Z")));
    let sun = ti("weekdays: [Sunday]");
    assert!(sun.contains(at("2024-03-10T00:00:00Z")));
}

#[test]
fn negative_days_of_month() {
    let last = ti("days_of_month: ['-1']");
    assert!(last.contains(at("2024-02-29T10:00:00Z")));
    assert!(!last.contains(at("2024-02-28T10:00:00Z")));
    assert!(last.contains(at("2023-02-28T10:00:00Z")));
    assert!(last.contains(at("2024-04-30T10:00:00Z")));
    let last_week = ti("days_of_month: ['-7:-1']");
    assert!(last_week.contains(at("2024-01-25T00:00:00Z")));
    assert!(!last_week.contains(at("2024-01-24T23:59:00Z")));
    let mixed = ti("days_of_month: ['1:5', '-3:-1']");
    assert!(mixed.contains(at("2024-06-03T00:00:00Z")));
    assert!(mixed.contains(at("2024-06-28T00:00:00Z")));
    assert!(!mixed.contains(at("2024-06-27T00:00:00Z")));
    // Day 31 in a 30-day month never matches; 30:31 still matches the 30th.
    let d31 = ti("days_of_month: ['31']");
    assert!(!d31.contains(at("2024-06-30T00:00:00Z")));
    let d3031 = ti("days_of_month: ['30:31']");
    assert!(d3031.contains(at("2024-06-30T00:00:00Z")));
}

#[test]
fn location_shifts_the_clock() {
    let t = ti("times: [{start_time: '09:00', end_time: '17:00'}]\nlocation: Australia/Sydney");
    // 23:00 UTC on 3 March is 10:00 on 4 March in Sydney (AEDT, +11).
    assert!(t.contains(at("2024-03-03T23:00:00Z")));
    assert!(!t.contains(at("2024-03-04T09:00:00Z")));
    let wd = ti("weekdays: [monday]\nlocation: America/New_York");
    // 02:00 UTC Tuesday is still Monday evening in New York.
    assert!(wd.contains(Utc.with_ymd_and_hms(2024, 3, 5, 2, 0, 0).unwrap()));
}

#[test]
fn empty_list_matches_nothing() {
    let t = ti("times: []");
    assert!(!t.contains(at("2024-03-04T10:00:00Z")));
    assert!(ti("{}").contains(at("2024-03-04T10:00:00Z")));
}

#[test]
fn parse_errors_match_alertmanager() {
    let err = |y: &str| {
        serde_yaml::from_str::<TimeInterval>(y)
            .unwrap_err()
            .to_string()
    };
    assert!(err("times: [{start_time: '17:00', end_time: '09:00'}]")
        .contains("start time cannot be equal or greater than end time"));
    assert!(
        err("times: [{start_time: '09:00'}]").contains("both start and end times must be provided")
    );
    assert!(err("times: [{start_time: '9:00', end_time: '10:00'}]")
        .contains("couldn't parse timestamp 9:00, invalid format"));
    assert!(err("times: [{start_time: '00:00', end_time: '24:01'}]")
        .contains("couldn't parse timestamp 24:01, invalid format"));
    assert!(err("weekdays: ['friday:monday']").contains("start day cannot be before end day"));
    assert!(err("weekdays: ['funday']").contains("funday is not a valid weekday"));
    assert!(err("days_of_month: ['0']").contains("0 is not a valid day of the month: out of range"));
    assert!(err("days_of_month: ['-3:5']")
        .contains("end day must be negative if start day is negative"));
    assert!(err("days_of_month: ['10:-25']").contains("end day -25 is always before start day 10"));
    assert!(
        err("months: ['march:january']").contains("end month january is before start month march")
    );
    assert!(err("months: ['smarch']").contains("smarch is not a valid month"));
    assert!(err("years: ['2024:2020']").contains("end year 2020 is before start year 2024"));
    assert!(err("location: Mars/Olympus").contains("unknown time zone Mars/Olympus"));
    assert!(err("weekdays: ['monday:tuesday:friday']")
        .contains("couldn't parse range monday:tuesday:friday, invalid format"));
    assert!(err("hours: ['1']").contains("unknown field"));
}

#[test]
fn intervener_reports_matching_names() {
    let mut map = HashMap::new();
    map.insert(
        "weekend".to_string(),
        vec![ti("weekdays: [saturday, sunday]")],
    );
    map.insert(
        "nights".to_string(),
        vec![ti("times: [{start_time: '00:00', end_time: '06:00'}]")],
    );
    let iv = Intervener::new(map);
    let names = vec!["weekend".to_string(), "nights".to_string()];
    let (hit, which) = iv.contains_any(&names, at("2024-03-09T03:00:00Z")).unwrap();
    assert!(hit);
    assert_eq!(which, names);
    let (hit, _) = iv.contains_any(&names, at("2024-03-06T12:00:00Z")).unwrap();
    assert!(!hit);
    assert_eq!(
        iv.contains_any(&["x".to_string()], at("2024-03-06T12:00:00Z"))
            .unwrap_err()
            .to_string(),
        "time interval x doesn't exist in config"
    );
}

#[test]
fn serializes_back() {
    let t = ti("times: [{start_time: '09:00', end_time: '24:00'}]\nweekdays: ['monday:friday']\ndays_of_month: ['-1']\nlocation: Europe/Berlin");
    let out = serde_yaml::to_string(&t).unwrap();
    assert!(
        out.contains("end_time: 24:00")
            && out.contains("monday:friday")
            && out.contains("Europe/Berlin"),
        "{out}"
    );
}
