//! `test rules`: runs promtool's rule unit tests. For each test group the input series
//! are loaded into a [`MemStore`] step by step (as upstream's lazy loader does, so a
//! query never sees samples after its evaluation time), every rule group is evaluated
//! at each `evaluation_interval`, firing alerts are compared at their `eval_time`, and
//! the PromQL expectations are checked at the end. Messages and exit codes are
//! promtool's.
//!
//! The in-memory store rather than the TSDB: a test group's data is small and lives
//! for one run, and the store appends with the same out-of-order and duplicate rules
//! without a directory, WAL or background work per test group.

pub mod file;

use crate::alerting::AlertState;
use crate::format::{
    go_duration, go_float_e, go_quote, labels_string, pairs_string, prom_duration,
};
use crate::group::{load_groups, Group, GroupEnv, LoadOptions, Settings};
use crate::rulefmt::{NameValidation, ParseOptions};
use crate::storage::{EngineQueryFunc, MemStore, QueryFunc};
use crate::template::Templates;
use file::{TestGroup, UnitTestFile};
use pharos_model::{Labels, Sample};
use pharos_promql::promqltest::parse::{parse_metric, parse_series_desc, SeqValue};
use pharos_promql::{Engine, EngineOptions};
use regex::Regex;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Options of a `test rules` run.
#[derive(Clone, Copy)]
pub struct UnitTestOptions<'a> {
    /// Only test groups whose name matches (`--run`).
    pub run: Option<&'a Regex>,
    pub ignore_unknown_fields: bool,
    pub templates: &'a dyn Templates,
}

/// Runs every file, printing as promtool does; returns the exit code (0 or 1).
pub fn run_files(
    files: &[PathBuf],
    opts: &UnitTestOptions<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut failed = false;
    for f in files {
        let _ = writeln!(out, "Unit Testing:  {}", f.display());
        let errs = run_file(f, opts, err);
        if errs.is_empty() {
            let _ = writeln!(out, "  SUCCESS");
        } else {
            let _ = writeln!(err, "  FAILED:");
            for e in errs {
                let _ = writeln!(err, "{e}");
                let _ = writeln!(out);
            }
            failed = true;
        }
        let _ = writeln!(out);
    }
    i32::from(failed)
}

/// Runs one unit-test file; returns its failures (empty when everything passed).
/// Warnings (a rule-file pattern matching nothing) go to `warn`.
pub fn run_file(path: &Path, opts: &UnitTestOptions<'_>, warn: &mut dyn Write) -> Vec<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return vec![format!(
                "{}: {}",
                path.display(),
                crate::rulefmt::io_text(&e)
            )]
        }
    };
    let mut utf = match file::parse(&text) {
        Ok(u) => u,
        Err(e) => return vec![e],
    };
    let base = path.parent().unwrap_or(Path::new(""));
    let rule_files = match resolve_rule_files(base, &utf.rule_files, warn) {
        Ok(f) => f,
        Err(e) => return vec![e],
    };
    if utf.evaluation_interval_ms == 0 {
        utf.evaluation_interval_ms = 60_000;
    }
    let mut order: BTreeMap<String, usize> = BTreeMap::new();
    for (i, g) in utf.group_eval_order.iter().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            return vec![format!("group name repeated in evaluation order: {g}")];
        }
    }
    let mut errs = Vec::new();
    let tests = std::mem::take(&mut utf.tests);
    for mut tg in tests {
        if opts.run.is_some_and(|re| !re.is_match(&tg.name)) {
            continue;
        }
        if tg.interval_ms == 0 {
            tg.interval_ms = utf.evaluation_interval_ms;
        }
        errs.extend(run_group(&tg, &utf, &order, &rule_files, opts));
    }
    errs
}

/// Joins relative rule-file paths to the test file's folder and expands globs.
fn resolve_rule_files(
    base: &Path,
    patterns: &[String],
    warn: &mut dyn Write,
) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for rf in patterns {
        let p = if rf.is_empty() || Path::new(rf).is_absolute() {
            PathBuf::from(rf)
        } else {
            base.join(rf)
        };
        let pat = p.display().to_string();
        let matches: Vec<PathBuf> = glob::glob(&pat)
            .map_err(|e| format!("syntax error in pattern: {e}"))?
            .flatten()
            .collect();
        if matches.is_empty() {
            let _ = writeln!(warn, "  WARNING: no file match pattern {pat}");
        }
        out.extend(matches);
    }
    Ok(out)
}

/// Input samples in load order, handed to the store as evaluation time advances.
struct LazyLoader {
    samples: Vec<(i64, Labels, f64)>,
    next: usize,
}

impl LazyLoader {
    fn new(tg: &TestGroup, start: i64) -> Result<LazyLoader, String> {
        let mut samples = Vec::new();
        for is in &tg.input_series {
            let line = format!("{} {}", is.series, is.values);
            let desc = parse_series_desc(&line).map_err(|e| format!("parse error: {e}"))?;
            for (i, v) in desc.values.iter().enumerate() {
                let t = start + i as i64 * tg.interval_ms;
                match v {
                    SeqValue::Omitted => {}
                    SeqValue::Float(f) => samples.push((t, desc.labels.clone(), *f)),
                    SeqValue::Histogram => {
                        return Err(format!(
                            "series {}: native histogram samples are not supported",
                            is.series
                        ))
                    }
                }
            }
        }
        samples.sort_by_key(|s| s.0);
        Ok(LazyLoader { samples, next: 0 })
    }

    fn load_till(&mut self, store: &MemStore, ts: i64) -> Result<(), String> {
        while let Some((t, l, v)) = self.samples.get(self.next) {
            if *t > ts {
                break;
            }
            // A series listed twice: the later value for a slot is refused like a
            // duplicate sample, as storage would.
            let _ = store.add(l.clone(), Sample { t: *t, v: *v });
            self.next += 1;
        }
        Ok(())
    }
}

type AlertSet = Vec<(Labels, Labels)>;

fn run_group(
    tg: &TestGroup,
    utf: &UnitTestFile,
    order: &BTreeMap<String, usize>,
    rule_files: &[PathBuf],
    opts: &UnitTestOptions<'_>,
) -> Vec<String> {
    let mint = tg.start_timestamp_ms.unwrap_or(0);
    let mut loader = match LazyLoader::new(tg, mint) {
        Ok(l) => l,
        Err(e) => return vec![e],
    };
    let store = Arc::new(MemStore::new());
    let engine = Arc::new(Engine::new(EngineOptions {
        default_subquery_step_ms: utf.evaluation_interval_ms,
        ..EngineOptions::default()
    }));
    let query = EngineQueryFunc {
        engine,
        storage: store.clone(),
    };
    let load = LoadOptions {
        default_interval_ms: tg.interval_ms,
        parse: ParseOptions {
            ignore_unknown_fields: opts.ignore_unknown_fields,
            validation: NameValidation::Utf8,
            templates: Some(opts.templates),
        },
        restore: false,
    };
    let mut groups: Vec<Group> = match load_groups(rule_files, &load) {
        Ok(g) => g,
        Err(errs) => return errs.iter().map(|e| e.to_string()).collect(),
    };
    // Groups missing from `group_eval_order` sort as if listed first, as upstream's.
    groups.sort_by_key(|g| order.get(&g.name).copied().unwrap_or(0));
    let settings = Settings {
        external_labels: tg.external_labels.clone(),
        external_url: tg.external_url.clone(),
        ..Settings::default()
    };
    let env = GroupEnv {
        query: &query,
        appender: store.as_ref(),
        queryable: store.as_ref(),
        templates: opts.templates,
        notifier: None,
        settings: &settings,
    };

    let max_eval = tg
        .alert_rule_tests
        .iter()
        .map(|a| a.eval_time_ms)
        .chain(tg.promql_expr_tests.iter().map(|p| p.eval_time_ms))
        .max()
        .unwrap_or(0);
    let maxt = mint + max_eval;

    for a in &tg.alert_rule_tests {
        if a.alertname.is_empty() {
            let in_group = if tg.name.is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {})", tg.name)
            };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                prom_duration(a.eval_time_ms)
            )];
        }
    }
    let mut alert_times: Vec<i64> = tg.alert_rule_tests.iter().map(|a| a.eval_time_ms).collect();
    alert_times.sort_unstable();
    alert_times.dedup();
    let mut curr = 0;
    let interval = utf.evaluation_interval_ms.max(1);
    let mut errs = Vec::new();

    let mut ts = mint;
    while ts <= maxt {
        if let Err(e) = loader.load_till(&store, ts) {
            errs.push(e);
        }
        let mut eval_errs = Vec::new();
        for g in groups.iter_mut() {
            g.eval(&env, ts);
            for r in &g.rules {
                if let Some(e) = &r.last_error {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.name(),
                        go_duration(ts)
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return errs;
        }
        while curr < alert_times.len()
            && ts - mint <= alert_times[curr]
            && alert_times[curr] < ts + interval - mint
        {
            let t = alert_times[curr];
            for case in tg.alert_rule_tests.iter().filter(|a| a.eval_time_ms == t) {
                let mut got: AlertSet = groups
                    .iter()
                    .flat_map(|g| g.alerting_rules())
                    .filter(|r| r.name == case.alertname)
                    .flat_map(|r| r.active_alerts())
                    .filter(|a| a.state == AlertState::Firing)
                    .map(|a| (a.labels, a.annotations))
                    .collect();
                let mut exp: AlertSet = case
                    .exp_alerts
                    .iter()
                    .map(|a| {
                        let mut l = a.exp_labels.clone();
                        l.insert("alertname".into(), case.alertname.clone());
                        (
                            Labels::from_pairs(l),
                            Labels::from_pairs(a.exp_annotations.clone()),
                        )
                    })
                    .collect();
                got.sort();
                exp.sort();
                if got != exp {
                    let name = if tg.name.is_empty() {
                        String::new()
                    } else {
                        format!("    name: {},\n", tg.name)
                    };
                    errs.push(format!(
                        "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        case.alertname,
                        prom_duration(t),
                        indent_lines(&alerts_string(&exp), "            "),
                        indent_lines(&alerts_string(&got), "            ")
                    ));
                }
            }
            curr += 1;
        }
        ts += interval;
    }

    for case in &tg.promql_expr_tests {
        if let Some(e) = check_expr_case(&query, case, mint, utf.fuzzy_compare) {
            errs.push(e);
        }
    }
    errs
}

fn check_expr_case(
    query: &dyn QueryFunc,
    case: &file::PromqlTestCase,
    mint: i64,
    fuzzy: bool,
) -> Option<String> {
    let head = format!(
        "    expr: {}, time: {}",
        go_quote(&case.expr),
        prom_duration(case.eval_time_ms)
    );
    let got = match query.query(&case.expr, mint + case.eval_time_ms) {
        Ok(v) => v,
        Err(e) => return Some(format!("{head}, err: {e}")),
    };
    let mut got: Vec<(Labels, f64)> = got.into_iter().map(|s| (s.labels, s.v)).collect();
    let mut exp: Vec<(Labels, f64)> = Vec::with_capacity(case.exp_samples.len());
    for s in &case.exp_samples {
        let labels = if s.labels.trim().is_empty() {
            Ok(Labels::empty())
        } else {
            parse_metric(s.labels.trim()).and_then(|(l, rest)| {
                if rest.trim().is_empty() {
                    Ok(l)
                } else {
                    Err(format!("unexpected {:?} after the labels", rest.trim()))
                }
            })
        };
        let labels = match labels {
            Ok(l) => l,
            Err(e) => {
                return Some(format!("{head}, err: labels {}: {e}", go_quote(&s.labels)));
            }
        };
        if !s.histogram.is_empty() {
            return Some(format!(
                "{head}, err: labels {}: native histogram samples are not supported",
                go_quote(&s.labels)
            ));
        }
        exp.push((labels, s.value));
    }
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let same = exp.len() == got.len()
        && exp
            .iter()
            .zip(&got)
            .all(|(e, g)| e.0 == g.0 && floats_equal(e.1, g.1, fuzzy));
    if same {
        return None;
    }
    Some(format!(
        "{head},\n        exp: {}\n        got: {}",
        samples_string(&exp),
        samples_string(&got)
    ))
}

/// Exact equality (so NaN never matches, as upstream), or within one ulp when fuzzy.
fn floats_equal(a: f64, b: f64, fuzzy: bool) -> bool {
    if a == b {
        return true;
    }
    fuzzy && (next_after(a, f64::NEG_INFINITY) == b || next_after(a, f64::INFINITY) == b)
}

fn next_after(x: f64, toward: f64) -> f64 {
    if x.is_nan() || toward.is_nan() {
        return f64::NAN;
    }
    if x == toward {
        return x;
    }
    if x == 0.0 {
        let tiny = f64::from_bits(1);
        return if toward > 0.0 { tiny } else { -tiny };
    }
    let bits = x.to_bits();
    let up = (toward > x) == (x > 0.0);
    f64::from_bits(if up { bits + 1 } else { bits - 1 })
}

fn samples_string(s: &[(Labels, f64)]) -> String {
    if s.is_empty() {
        return "nil".into();
    }
    s.iter()
        .map(|(l, v)| format!("{} {}", labels_string(l), go_float_e(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn alerts_string(la: &AlertSet) -> String {
    if la.is_empty() {
        return "[]".into();
    }
    let one = |(l, a): &(Labels, Labels)| {
        format!(
            "\nLabels:{}\nAnnotations:{}",
            labels_string(l),
            pairs_string(a.iter().map(|x| (x.name.as_str(), x.value.as_str())))
        )
    };
    let mut s = format!("[\n0:{}", indent_lines(&one(&la[0]), "  "));
    for (i, x) in la.iter().enumerate().skip(1) {
        s.push_str(&format!(",\n{i}:{}", indent_lines(&one(x), "  ")));
    }
    s.push_str("\n]");
    s
}

/// Prefixes every line but the first with `indent`.
fn indent_lines(lines: &str, indent: &str) -> String {
    let mut out = String::new();
    for (i, l) in lines.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        out.push_str(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulp_steps() {
        assert!(floats_equal(3.0, 3.0000000000000004, true));
        assert!(floats_equal(3.0, 2.9999999999999996, true));
        assert!(!floats_equal(3.0, 3.0000000000000013, true));
        assert!(!floats_equal(3.0, 3.0000000000000004, false));
        assert!(!floats_equal(f64::NAN, f64::NAN, true));
    }

    #[test]
    fn alert_listing() {
        let l = Labels::from_pairs([("alertname", "Test")]);
        let s = alerts_string(&vec![(l, Labels::empty())]);
        assert_eq!(
            indent_lines(&s, "            "),
            "[\n            0:\n              Labels:{alertname=\"Test\"}\n              Annotations:{}\n            ]"
        );
    }
}
