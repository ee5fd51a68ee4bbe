//! The `promtool test rules` file format (upstream's `unit_testing_rules.md`),
//! decoded strictly as promtool does, with its type names in unknown-field errors.

use crate::yaml::{self, Decoder, Node};
use pharos_promql::promqltest::parse::parse_duration;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct UnitTestFile {
    pub rule_files: Vec<String>,
    /// 0 when not set (then one minute).
    pub evaluation_interval_ms: i64,
    pub group_eval_order: Vec<String>,
    pub tests: Vec<TestGroup>,
    pub fuzzy_compare: bool,
}

#[derive(Clone, Debug, Default)]
pub struct TestGroup {
    pub interval_ms: i64,
    pub input_series: Vec<InputSeries>,
    pub alert_rule_tests: Vec<AlertTestCase>,
    pub promql_expr_tests: Vec<PromqlTestCase>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub name: String,
    /// Milliseconds since the epoch; `None` means the epoch itself.
    pub start_timestamp_ms: Option<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct InputSeries {
    pub series: String,
    pub values: String,
}

#[derive(Clone, Debug, Default)]
pub struct AlertTestCase {
    pub eval_time_ms: i64,
    pub alertname: String,
    pub exp_alerts: Vec<ExpAlert>,
}

#[derive(Clone, Debug, Default)]
pub struct ExpAlert {
    pub exp_labels: BTreeMap<String, String>,
    pub exp_annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default)]
pub struct PromqlTestCase {
    pub expr: String,
    pub eval_time_ms: i64,
    pub exp_samples: Vec<ExpSample>,
}

#[derive(Clone, Debug, Default)]
pub struct ExpSample {
    pub labels: String,
    pub value: f64,
    /// A native histogram in the series notation; when set, `value` is ignored.
    pub histogram: String,
}

/// Decodes a unit-test file; the error is Go's text for the first problem found.
pub fn parse(text: &str) -> Result<UnitTestFile, String> {
    let docs = yaml::load(text).map_err(|e| e.to_string())?;
    let Some(doc) = docs.first() else {
        return Ok(UnitTestFile::default());
    };
    let mut d = Decoder::default();
    let mut f = UnitTestFile::default();
    const FIELDS: &[&str] = &[
        "rule_files",
        "evaluation_interval",
        "group_eval_order",
        "tests",
        "fuzzy_compare",
    ];
    for (name, v) in d.fields(doc, "main.unitTestFile", FIELDS) {
        match name {
            "rule_files" => f.rule_files = strings(&mut d, v),
            "evaluation_interval" => f.evaluation_interval_ms = duration(&mut d, v),
            "group_eval_order" => f.group_eval_order = strings(&mut d, v),
            "fuzzy_compare" => f.fuzzy_compare = d.bool(v),
            "tests" => {
                for t in d.seq(v, "[]main.testGroup") {
                    let tg = test_group(&mut d, t);
                    f.tests.push(tg);
                }
            }
            _ => {}
        }
    }
    match d.finish() {
        Some(e) => Err(e),
        None => Ok(f),
    }
}

fn strings(d: &mut Decoder, v: &Node) -> Vec<String> {
    d.seq(v, "[]string")
        .iter()
        .map(|n| d.string(n))
        .collect::<Vec<_>>()
}

fn duration(d: &mut Decoder, v: &Node) -> i64 {
    let s = d.string(v);
    if s.is_empty() {
        return 0;
    }
    parse_duration(&s).unwrap_or_else(|_| {
        d.errors.push(format!(
            "line {}: not a valid duration string: {s:?}",
            v.line
        ));
        0
    })
}

fn test_group(d: &mut Decoder, node: &Node) -> TestGroup {
    let mut tg = TestGroup::default();
    const FIELDS: &[&str] = &[
        "interval",
        "input_series",
        "alert_rule_test",
        "promql_expr_test",
        "external_labels",
        "external_url",
        "name",
        "start_timestamp",
    ];
    for (name, v) in d.fields(node, "main.testGroup", FIELDS) {
        match name {
            "interval" => tg.interval_ms = duration(d, v),
            "input_series" => {
                for s in d.seq(v, "[]main.series") {
                    let mut is = InputSeries::default();
                    for (n, v) in d.fields(s, "main.series", &["series", "values"]) {
                        match n {
                            "series" => is.series = d.string(v),
                            _ => is.values = d.string(v),
                        }
                    }
                    tg.input_series.push(is);
                }
            }
            "alert_rule_test" => {
                for a in d.seq(v, "[]main.alertTestCase") {
                    tg.alert_rule_tests.push(alert_test(d, a));
                }
            }
            "promql_expr_test" => {
                for p in d.seq(v, "[]main.promqlTestCase") {
                    tg.promql_expr_tests.push(promql_test(d, p));
                }
            }
            "external_labels" => tg.external_labels = d.string_map(v).into_iter().collect(),
            "external_url" => tg.external_url = d.string(v),
            "name" => tg.name = d.string(v),
            "start_timestamp" => {
                let s = d.string(v);
                if !s.is_empty() {
                    match parse_time(&s) {
                        Ok(t) => tg.start_timestamp_ms = Some(t),
                        Err(e) => d.errors.push(format!("line {}: {e}", v.line)),
                    }
                }
            }
            _ => {}
        }
    }
    tg
}

fn alert_test(d: &mut Decoder, node: &Node) -> AlertTestCase {
    let mut a = AlertTestCase::default();
    for (n, v) in d.fields(
        node,
        "main.alertTestCase",
        &["eval_time", "alertname", "exp_alerts"],
    ) {
        match n {
            "eval_time" => a.eval_time_ms = duration(d, v),
            "alertname" => a.alertname = d.string(v),
            _ => {
                for e in d.seq(v, "[]main.alert") {
                    let mut ea = ExpAlert::default();
                    for (n, v) in d.fields(e, "main.alert", &["exp_labels", "exp_annotations"]) {
                        let m = d.string_map(v).into_iter().collect();
                        if n == "exp_labels" {
                            ea.exp_labels = m;
                        } else {
                            ea.exp_annotations = m;
                        }
                    }
                    a.exp_alerts.push(ea);
                }
            }
        }
    }
    a
}

fn promql_test(d: &mut Decoder, node: &Node) -> PromqlTestCase {
    let mut p = PromqlTestCase::default();
    for (n, v) in d.fields(
        node,
        "main.promqlTestCase",
        &["expr", "eval_time", "exp_samples"],
    ) {
        match n {
            "expr" => p.expr = d.string(v),
            "eval_time" => p.eval_time_ms = duration(d, v),
            _ => {
                for s in d.seq(v, "[]main.sample") {
                    let mut es = ExpSample::default();
                    for (n, v) in d.fields(s, "main.sample", &["labels", "value", "histogram"]) {
                        match n {
                            "labels" => es.labels = d.string(v),
                            "value" => es.value = d.float(v),
                            _ => es.histogram = d.string(v),
                        }
                    }
                    p.exp_samples.push(es);
                }
            }
        }
    }
    p
}

/// A start time as promtool reads it: Unix seconds (fractions allowed) or RFC 3339.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 9.2e15 {
            return Ok((secs * 1000.0).round() as i64);
        }
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_fields() {
        let e = parse("tests:\n- interval: 1m\n  bogus: 1\n").unwrap_err();
        assert_eq!(
            e,
            "yaml: unmarshal errors:\n  line 3: field bogus not found in type main.testGroup"
        );
    }

    #[test]
    fn start_times() {
        assert_eq!(parse_time("1609459200").unwrap(), 1_609_459_200_000);
        assert_eq!(
            parse_time("2024-01-01T00:00:00Z").unwrap(),
            1_704_067_200_000
        );
        assert!(parse_time("yesterday").is_err());
    }
}
