//! Semantic checks that need a whole parsed config: each returns every problem at once,
//! as (field path, message).

use super::{ByteSize, Config, FsyncMode, PromDuration, SELF_SCRAPE_JOB};

/// Prometheus refuses WAL segments outside this range too; smaller ones churn files,
/// larger ones make a checkpoint rewrite a lot of data at once.
const MIN_WAL_SEGMENT: ByteSize = ByteSize(64 << 10);
const MAX_WAL_SEGMENT: ByteSize = ByteSize(1 << 30);
/// Finer block alignment than this only multiplies blocks.
const MIN_BLOCK_SPAN: PromDuration = PromDuration::from_secs(60);
/// Below this an out-of-order window only adds bookkeeping: senders' jitter is larger.
const MIN_OOO_WINDOW: PromDuration = PromDuration::from_secs(1);

pub(crate) fn validate(c: &Config) -> Vec<(String, String)> {
    let mut errs: Vec<(String, String)> = Vec::new();
    let mut err = |path: &str, msg: String| errs.push((path.to_owned(), msg));
    let t = &c.storage.tsdb;

    // Prometheus refuses duplicate job names too: series and targets are keyed by job,
    // so two jobs with one name would overwrite each other's staleness and health.
    let mut seen = std::collections::HashSet::new();
    for job in &c.scrape_configs {
        let name = job.job_name.as_str();
        if !seen.insert(name) {
            err(
                "scrape_configs",
                format!("found multiple scrape configs with job name {name:?}"),
            );
        } else if c.self_scrape && name == SELF_SCRAPE_JOB {
            err(
                "scrape_configs",
                format!(
                    "job name {name:?} is taken by self_scrape; rename the job or set self_scrape: false"
                ),
            );
        }
    }

    if t.retention.is_zero() {
        err("storage.tsdb.retention", "must be greater than 0".into());
    }
    if t.block_span < MIN_BLOCK_SPAN {
        err(
            "storage.tsdb.block_span",
            format!("must be at least {MIN_BLOCK_SPAN}, got {}", t.block_span),
        );
    } else if !t.retention.is_zero() && t.retention < t.block_span {
        err(
            "storage.tsdb.retention",
            format!(
                "retention ({}) is shorter than block_span ({}): blocks would be deleted as soon as they are written",
                t.retention, t.block_span
            ),
        );
    }
    if !t.out_of_order_window.is_zero() && t.out_of_order_window < MIN_OOO_WINDOW {
        err(
            "storage.tsdb.out_of_order_window",
            format!(
                "must be 0 (disabled) or at least {MIN_OOO_WINDOW}, got {}",
                t.out_of_order_window
            ),
        );
    }
    if !t.retention.is_zero() && t.out_of_order_window > t.retention {
        err(
            "storage.tsdb.out_of_order_window",
            format!(
                "({}) exceeds retention ({}): samples that old would be deleted on arrival",
                t.out_of_order_window, t.retention
            ),
        );
    }
    let seg = t.wal.segment_size;
    if seg < MIN_WAL_SEGMENT || seg > MAX_WAL_SEGMENT {
        err(
            "storage.tsdb.wal.segment_size",
            format!("must be between {MIN_WAL_SEGMENT} and {MAX_WAL_SEGMENT}, got {seg}"),
        );
    }
    if t.wal.fsync == FsyncMode::Interval && t.wal.fsync_interval.is_zero() {
        err(
            "storage.tsdb.wal.fsync_interval",
            "must be greater than 0 with fsync: interval (use fsync: always to sync every write)"
                .into(),
        );
    }
    let l = &t.limits;
    for (name, v) in [
        ("max_labels_per_series", l.max_labels_per_series),
        ("max_label_name_length", l.max_label_name_length),
        ("max_label_value_length", l.max_label_value_length),
    ] {
        if v == 0 {
            err(
                &format!("storage.tsdb.limits.{name}"),
                "must be at least 1".into(),
            );
        }
    }
    if l.max_series != 0 && l.max_series_per_metric > l.max_series {
        err(
            "storage.tsdb.limits.max_series_per_metric",
            format!(
                "({}) exceeds max_series ({}); it could never be reached",
                l.max_series_per_metric, l.max_series
            ),
        );
    }

    let s = &c.server;
    if s.max_request_bytes.0 == 0 {
        err("server.max_request_bytes", "must be greater than 0".into());
    }
    if s.max_inflight_writes == Some(0) {
        err("server.max_inflight_writes", "must be at least 1".into());
    }
    if s.write_timeout.is_zero() {
        err("server.write_timeout", "must be greater than 0".into());
    }

    if c.global.evaluation_interval.is_zero() {
        err(
            "global.evaluation_interval",
            "must be greater than 0".into(),
        );
    }
    for name in c.global.external_labels.keys() {
        // Prometheus 3 accepts any UTF-8 label name but an empty one.
        if name.is_empty() {
            err(
                "global.external_labels",
                "\"\" is not a valid label name".into(),
            );
        }
    }
    for pattern in &c.rule_files {
        if let Err(e) = check_rule_file_pattern(pattern) {
            err("rule_files", e);
        }
    }
    for pattern in &c.slo_files {
        if let Err(e) = check_rule_file_pattern(pattern) {
            err("slo_files", e.replace("rule file", "SLO file"));
        }
    }

    let q = &c.query;
    for (name, d) in [("lookback_delta", q.lookback_delta), ("timeout", q.timeout)] {
        if d.is_zero() {
            err(&format!("query.{name}"), "must be greater than 0".into());
        }
    }
    for (name, v) in [
        ("max_samples", q.max_samples),
        ("max_concurrency", q.max_concurrency),
    ] {
        if v == 0 {
            err(&format!("query.{name}"), "must be at least 1".into());
        }
    }

    // The inline section is checked here, where its errors get positions in this file;
    // a standalone file is opened by `pharos check config` and at startup.
    match (&c.alertmanager, &c.alertmanager_config_file) {
        (Some(_), Some(_)) => err(
            "alertmanager_config_file",
            "cannot be set together with alertmanager; give the configuration inline or in a file, not both".into(),
        ),
        (Some(section), None) => {
            for (path, msg) in crate::alerting::validate_inline(section) {
                err(&path, msg);
            }
        }
        (None, Some(file)) if file.is_empty() => {
            err("alertmanager_config_file", "must not be empty".into())
        }
        _ => {}
    }
    errs
}

/// Prometheus allows a `*` only in a path's last element (`rules/*.yml`), so a rule
/// file set is one directory's matching files; the rest must be a valid glob.
fn check_rule_file_pattern(pattern: &str) -> Result<(), String> {
    let invalid = || format!("invalid rule file path {pattern:?}");
    if let Some(star) = pattern.find('*') {
        if pattern[star..].contains('/') {
            return Err(invalid());
        }
    }
    glob::Pattern::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("{}: {}", invalid(), e.msg))
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    #[test]
    fn rule_settings_are_checked() {
        let text = "\
global:
  evaluation_interval: 0s
  external_labels:
    \"\": x
rule_files:
  - 'rules/*.yml'
  - 'rules/*/a.yml'
  - 'rules/[a.yml'
";
        let errs: Vec<String> = parse("p.yml", text)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "p.yml:2:3: global.evaluation_interval: must be greater than 0",
                "p.yml:3:3: global.external_labels: \"\" is not a valid label name",
                "p.yml:5:1: rule_files: invalid rule file path \"rules/*/a.yml\"",
                "p.yml:5:1: rule_files: invalid rule file path \"rules/[a.yml\": invalid range pattern",
            ]
        );
        let c = parse(
            "p.yml",
            "global:\n  evaluation_interval: 15s\n  rule_query_offset: 1m\n  external_labels:\n    env: prod\nrule_files: ['a.yml', 'r/*.yml']\nrules:\n  alert:\n    for_grace_period: 1s\n",
        )
        .unwrap();
        assert_eq!(c.global.evaluation_interval.as_millis(), 15_000);
        assert_eq!(c.global.rule_query_offset.as_millis(), 60_000);
        assert_eq!(c.global.external_labels["env"], "prod");
        assert_eq!(c.rule_files, ["a.yml", "r/*.yml"]);
        assert_eq!(c.rules.alert.for_grace_period.as_millis(), 1_000);
        assert_eq!(c.rules.alert.resend_delay.as_millis(), 60_000);
        let e = parse("p.yml", "global:\n  scrape_interval: 15s\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.yml:2:3: global.scrape_interval: unknown field `scrape_interval`"),
            "{e}"
        );
    }

    #[test]
    fn defaults_are_valid() {
        assert!(super::validate(&Default::default()).is_empty());
    }

    #[test]
    fn all_semantic_errors_reported_together() {
        let text = "\
storage:
  tsdb:
    retention: 0s
    block_span: 0s
    out_of_order_window: 500ms
    wal:
      segment_size: 1KB
      fsync: interval
      fsync_interval: 0s
    limits:
      max_labels_per_series: 0
      max_series: 10
      max_series_per_metric: 11
server:
  max_inflight_writes: 0
  write_timeout: 0s
  max_request_bytes: 0
";
        let errs: Vec<String> = parse("pharos.yml", text)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        let want = [
            "pharos.yml:3:5: storage.tsdb.retention: must be greater than 0",
            "pharos.yml:4:5: storage.tsdb.block_span: must be at least 1m, got 0s",
            "pharos.yml:5:5: storage.tsdb.out_of_order_window: must be 0 (disabled) or at least 1s, got 500ms",
            "pharos.yml:7:7: storage.tsdb.wal.segment_size: must be between 64KiB and 1GiB, got 1KiB",
            "pharos.yml:9:7: storage.tsdb.wal.fsync_interval: must be greater than 0",
            "pharos.yml:11:7: storage.tsdb.limits.max_labels_per_series: must be at least 1",
            "pharos.yml:13:7: storage.tsdb.limits.max_series_per_metric: (11) exceeds max_series (10)",
            "pharos.yml:17:3: server.max_request_bytes: must be greater than 0",
            "pharos.yml:15:3: server.max_inflight_writes: must be at least 1",
            "pharos.yml:16:3: server.write_timeout: must be greater than 0",
        ];
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
        for (got, want) in errs.iter().zip(want) {
            assert!(got.starts_with(want), "got {got:?}, want prefix {want:?}");
        }
    }

    #[test]
    fn query_section_is_checked() {
        let text = "\
query:
  lookback_delta: 0s
  max_samples: 0
  timeout: 0s
  max_concurrency: 0
";
        let errs: Vec<String> = parse("pharos.yml", text)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "pharos.yml:2:3: query.lookback_delta: must be greater than 0",
                "pharos.yml:4:3: query.timeout: must be greater than 0",
                "pharos.yml:3:3: query.max_samples: must be at least 1",
                "pharos.yml:5:3: query.max_concurrency: must be at least 1",
            ]
        );
        let errs = parse("p.yml", "query:\n  timeout: 2x\n  bogus: 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            errs.contains("p.yml:2:12: query.timeout: invalid duration \"2x\""),
            "{errs}"
        );
        assert!(
            errs.contains("p.yml:3:3: query.bogus: unknown field `bogus`"),
            "{errs}"
        );
    }

    #[test]
    fn cross_field_checks() {
        let errs = parse(
            "p.yml",
            "storage:\n  tsdb:\n    retention: 1h\n    out_of_order_window: 2h\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            errs.contains(
                "p.yml:3:5: storage.tsdb.retention: retention (1h) is shorter than block_span (2h)"
            ),
            "{errs}"
        );
        assert!(
            errs.contains(
                "p.yml:4:5: storage.tsdb.out_of_order_window: (2h) exceeds retention (1h)"
            ),
            "{errs}"
        );
    }
}
